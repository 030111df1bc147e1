//! The OpenAPI 3 document served at `/openapi.json`, generated from the route table (paths, methods,
//! access, bodies) and from the types themselves (schemas, by utoipa), so it cannot drift from the code.

use axum::http::Method;
use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ArrayBuilder, Content, ObjectBuilder, Paths, Ref, Required, ResponseBuilder, Type,
};

use crate::auth::Access;
use crate::routes::{Body, RouteSpec, definitions, route_table};

/// Every error's body.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    /// What was wrong, naming the field at fault; for a server error, only that it was one.
    error: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Walkout API",
        description = "The checkout-free store's service: operators' dashboard API, the mobile app, the entry gates and the billing hand-off."
    ),
    components(schemas(
        ErrorBody,
        crate::routes::LoginRequest,
        crate::routes::Me,
        crate::routes::ApproveBody,
        crate::routes::MachineApproval,
        crate::routes::UserRequest,
        crate::routes::TokenRequest,
        crate::routes::CheckInRequest,
        crate::routes::ScaleReadingRequest,
        crate::routes::BillingView,
        crate::auth::Role,
        crate::auth::User,
        crate::live::StoreLayout,
        crate::live::LayoutFloor,
        crate::live::LayoutShelf,
        crate::live::LayoutSlot,
        crate::live::LayoutGate,
        crate::live::LayoutCamera,
        crate::live::CameraStatus,
        crate::live::FrameInfo,
        crate::live::LiveBox,
        crate::live::LiveShoppers,
        crate::live::ShopperPosition,
        crate::sessions::SessionSummary,
        crate::sessions::SessionDetail,
        crate::sessions::EventView,
        crate::sessions::CartLineView,
        crate::sessions::AuditEntry,
        crate::sessions::InventoryRow,
        crate::review::CorrectRequest,
        crate::review::DisputeRequest,
        crate::review::ActionOutcome,
        crate::review::DisputeOutcome,
        crate::billing::CloseRequest,
        crate::billing::LineRequest,
        crate::billing::CloseOutcome,
        crate::billing::BillingStatus,
        crate::billing::Receipt,
        crate::billing::ChargeLine,
        crate::billing::AppCart,
        crate::checkin::IssuedToken,
        crate::checkin::CheckInRecord,
        crate::Sku,
    ))
)]
struct Schemas;

const COOKIE_SCHEME: &str = "session_cookie";
const KEY_SCHEME: &str = "api_key";

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::DELETE => HttpMethod::Delete,
        Method::PATCH => HttpMethod::Patch,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        _ => HttpMethod::Get,
    }
}

fn content(body: Body) -> Option<(&'static str, Content)> {
    let schema_ref = |name: &str| Ref::from_schema_name(name);
    match body {
        Body::None => None,
        Body::Json(name) => Some(("application/json", Content::new(Some(schema_ref(name))))),
        Body::JsonArray(name) => Some((
            "application/json",
            Content::new(Some(ArrayBuilder::new().items(schema_ref(name)).build())),
        )),
        Body::AnyJson => Some((
            "application/json",
            Content::new(Some(ObjectBuilder::new().build())),
        )),
        Body::Jpeg => Some((
            "image/jpeg",
            Content::new(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::Custom("binary".into())))
                    .build(),
            )),
        )),
        Body::Text => Some((
            "text/plain",
            Content::new(Some(ObjectBuilder::new().schema_type(Type::String).build())),
        )),
        Body::Html => Some((
            "text/html",
            Content::new(Some(ObjectBuilder::new().schema_type(Type::String).build())),
        )),
    }
}

fn security(access: Access) -> Vec<SecurityRequirement> {
    let cookie = || SecurityRequirement::new(COOKIE_SCHEME, Vec::<String>::new());
    let key = || SecurityRequirement::new(KEY_SCHEME, Vec::<String>::new());
    match access {
        Access::Public => Vec::new(),
        Access::Operator(_) => vec![cookie()],
        Access::Key(_) => vec![key()],
        Access::OperatorOrKey(_, _) => vec![cookie(), key()],
    }
}

fn operation(
    spec: &RouteSpec,
    status: u16,
    request: Body,
    response: Body,
    query: &[(&str, &str)],
) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .summary(Some(spec.summary))
        .description(Some(format!("Access: {}.", spec.access.describe())))
        .operation_id(Some(format!(
            "{}{}",
            spec.method.as_str().to_lowercase(),
            spec.path.replace(['/', '{', '}', '.', '-'], "_")
        )));
    for segment in spec.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String).build())),
            );
        }
    }
    for (name, description) in query {
        op = op.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(*description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).build())),
        );
    }
    if let Some((media, body)) = content(request) {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .content(media, body)
                .required(Some(Required::True))
                .build(),
        ));
    }
    let mut ok = ResponseBuilder::new().description("Success");
    if let Some((media, body)) = content(response) {
        ok = ok.content(media, body);
    }
    op = op.response(status.to_string(), ok.build());
    if spec.access != Access::Public || request != Body::None {
        let error = ResponseBuilder::new()
            .description("A client error (400 bad input naming the field, 401 no credentials, 403 wrong role, scope or CSRF token, 404, 409, 413, 429) or a server error")
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build();
        op = op.response("default", error);
    }
    for requirement in security(spec.access) {
        op = op.security(requirement);
    }
    op.build()
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Schemas::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut paths = Paths::new();
    for def in definitions() {
        paths.add_path_operation(
            def.spec.path,
            vec![http_method(&def.spec.method)],
            operation(&def.spec, def.status, def.request, def.response, def.query),
        );
    }
    let api_paths: Vec<&str> = definitions().iter().map(|d| d.spec.path).collect();
    for spec in route_table() {
        if !api_paths.contains(&spec.path) {
            let body = if spec.path.starts_with("/assets/") {
                Body::Text
            } else {
                Body::Html
            };
            paths.add_path_operation(
                spec.path,
                vec![http_method(&spec.method)],
                operation(&spec, 200, Body::None, body, &[]),
            );
        }
    }
    doc.paths = paths;
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            COOKIE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Set by POST /api/login. Requests that change something must also send the session's CSRF token as X-CSRF-Token.",
            ))),
        );
        components.add_security_scheme(
            KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from the configuration: scope `ingest` (gates, sensors) or `app` (the mobile app's backend)."))
                    .build(),
            ),
        );
    }
    doc
}
