use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{Extensions, HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use axum_extra_json::ApiJson;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower_http::timeout::TimeoutLayer;

use crate::auth::middleware::{cookie, enforce};
use crate::auth::{Access, ApiKeys, LoginLimiter, Principal, Role, SESSION_COOKIE, Scope, User};
use crate::billing::{
    AppCart, BillingStatus, CloseOutcome, CloseRequest, Receipt, RelayStats, unix_now_ms,
    validate_id,
};
use crate::checkin::{CheckInError, CheckInRecord, CheckInTokens, IssuedToken};
use crate::live::{CameraStatus, FrameInfo, LiveShoppers, LiveStore, StoreLayout};
use crate::metrics::{Metrics, track};
use crate::review::{ActionOutcome, CorrectRequest, DisputeOutcome, DisputeRequest};
use crate::sessions::{InventoryRow, SessionDetail, SessionFilter, SessionSummary};
use crate::signing::unix_now_secs;
use crate::{ApiError, Database, Sku};

/// Largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest any request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Called after a successful check-in with the account and the gate, so the binary can tell the live
/// pipeline who just entered.
pub type CheckInListener = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Takes a lane scale's reading `(slot, delta_g)` into the live pipeline; `Err` says why it could not
/// (no scale on that slot: 404; the pipeline not taking input: 503).
pub type ScaleListener = Arc<dyn Fn(&str, f64) -> Result<(), ScaleRefusal> + Send + Sync>;

/// Why a scale reading was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleRefusal {
    /// The store has no scale under this slot.
    UnknownSlot,
    /// The pipeline is not running or its queue is full.
    Busy,
}

/// How long an operator's sign-in lasts by default.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    /// The store's one currency (ISO 4217); every cart is charged in it.
    pub currency: String,
    /// Wakes the billing relay after a close or an approval, so a charge need not wait for its poll.
    pub relay_wake: Arc<Notify>,
    /// Issues and checks the app's check-in tokens; without it the check-in routes answer 503.
    pub check_in: Option<Arc<CheckInTokens>>,
    /// The store right now (floor plan, cameras, frames, shoppers), fed by the pipeline.
    pub live: Arc<LiveStore>,
    /// The machines' API keys (digests only).
    pub api_keys: Arc<ApiKeys>,
    /// The login rate limit.
    pub login_limiter: Arc<LoginLimiter>,
    /// Whether the session cookie is marked `Secure`: true unless the server is plain HTTP on loopback.
    pub secure_cookies: bool,
    /// How long an operator's sign-in lasts.
    pub session_ttl: Duration,
    /// The Prometheus metrics served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The billing relay's counters, when the relay runs in this process.
    pub relay_stats: Option<Arc<RelayStats>>,
    /// Told of every successful check-in.
    pub check_in_listener: Option<CheckInListener>,
    /// Takes the lane scales' readings, when a pipeline runs in this process.
    pub scale_listener: Option<ScaleListener>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("currency", &self.currency)
            .field("api_keys", &self.api_keys)
            .field("secure_cookies", &self.secure_cookies)
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state with no API keys (machine routes refuse everyone), secure cookies, 12-hour sign-ins and
    /// the default login rate limit.
    pub fn new(db: Database, currency: impl Into<String>) -> AppState {
        AppState {
            db,
            currency: currency.into(),
            relay_wake: Arc::new(Notify::new()),
            check_in: None,
            live: Arc::new(LiveStore::new()),
            api_keys: Arc::new(ApiKeys::new()),
            login_limiter: Arc::new(LoginLimiter::default()),
            secure_cookies: true,
            session_ttl: DEFAULT_SESSION_TTL,
            metrics: Arc::new(Metrics::new()),
            relay_stats: None,
            check_in_listener: None,
            scale_listener: None,
        }
    }

    /// Enables the check-in routes with these tokens.
    pub fn with_check_in_tokens(mut self, tokens: CheckInTokens) -> AppState {
        self.check_in = Some(Arc::new(tokens));
        self
    }

    /// The API keys machines authenticate with.
    pub fn with_api_keys(mut self, keys: ApiKeys) -> AppState {
        self.api_keys = Arc::new(keys);
        self
    }

    /// Marks the session cookie `Secure` (the default) or not. Pass false only when the server listens
    /// on plain HTTP on a loopback address, where browsers would otherwise drop the cookie.
    pub fn with_secure_cookies(mut self, secure: bool) -> AppState {
        self.secure_cookies = secure;
        self
    }

    /// How long a sign-in lasts.
    pub fn with_session_ttl(mut self, ttl: Duration) -> AppState {
        self.session_ttl = ttl;
        self
    }

    /// Replaces the login rate limit.
    pub fn with_login_limiter(mut self, limiter: LoginLimiter) -> AppState {
        self.login_limiter = Arc::new(limiter);
        self
    }

    /// Shares a live view the binary already holds (by default the state makes its own, at `state.live`).
    pub fn with_live(mut self, live: Arc<LiveStore>) -> AppState {
        self.live = live;
        self
    }

    /// The relay's counters, for `/metrics` (`Relay::stats()`).
    pub fn with_relay_stats(mut self, stats: Arc<RelayStats>) -> AppState {
        self.relay_stats = Some(stats);
        self
    }

    /// Hands the lane scales' readings to `listener`.
    pub fn with_scale_listener(mut self, listener: ScaleListener) -> AppState {
        self.scale_listener = Some(listener);
        self
    }

    /// Calls `listener(account, gate)` after every successful check-in.
    pub fn with_check_in_listener(mut self, listener: CheckInListener) -> AppState {
        self.check_in_listener = Some(listener);
        self
    }
}

/// A route's method, path template, and what it asks of its caller. [`route_table`] lists every route
/// the server answers; the router, the access checks and the OpenAPI document are all built from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSpec {
    #[serde(serialize_with = "method_name")]
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
}

fn method_name<S: serde::Serializer>(method: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(method.as_str())
}

/// A request or response body, for the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    None,
    /// JSON of the named schema.
    Json(&'static str),
    /// A JSON array of the named schema.
    JsonArray(&'static str),
    /// Free-form JSON.
    AnyJson,
    Jpeg,
    Text,
    Html,
}

/// A route with its handler and its documentation.
pub(crate) struct RouteDef {
    pub spec: RouteSpec,
    pub handler: MethodRouter<AppState>,
    /// Success status.
    pub status: u16,
    pub request: Body,
    pub response: Body,
    /// Query parameters: name and description.
    pub query: &'static [(&'static str, &'static str)],
}

use Access::{Key, Operator, OperatorOrKey, Public};
use Role::{Admin, Reviewer, Viewer};

#[allow(clippy::too_many_arguments)]
fn def(
    method: Method,
    path: &'static str,
    access: Access,
    summary: &'static str,
    handler: MethodRouter<AppState>,
    status: u16,
    request: Body,
    response: Body,
) -> RouteDef {
    RouteDef {
        spec: RouteSpec {
            method,
            path,
            access,
            summary,
        },
        handler,
        status,
        request,
        response,
        query: &[],
    }
}

/// Every route the API answers (the dashboard's pages are added by [`route_table`]).
pub(crate) fn definitions() -> Vec<RouteDef> {
    use Body::{AnyJson, Jpeg, Json as J, JsonArray as A, None as NoBody, Text};
    let (g, p) = (Method::GET, Method::POST);
    vec![
        // Public: probes and scrapers need no credentials. `/metrics` holds only aggregate counts and
        // camera ids (no shopper, account or session data), and is meant for a scraper on the store's
        // network; put it behind the reverse proxy's allow-list where the server faces the internet.
        def(
            g.clone(),
            "/healthz",
            Public,
            "Liveness: the process answers",
            get(healthz),
            200,
            NoBody,
            AnyJson,
        ),
        def(
            g.clone(),
            "/readyz",
            Public,
            "Readiness: the database answers",
            get(readyz),
            200,
            NoBody,
            AnyJson,
        ),
        def(
            g.clone(),
            "/metrics",
            Public,
            "Prometheus metrics (aggregates only)",
            get(metrics),
            200,
            NoBody,
            Text,
        ),
        def(
            g.clone(),
            "/openapi.json",
            Public,
            "This document",
            get(openapi_json),
            200,
            NoBody,
            AnyJson,
        ),
        def(
            p.clone(),
            "/api/login",
            Public,
            "Sign in: sets the `walkout_session` cookie; rate-limited per address and username (429 with Retry-After)",
            post(login),
            200,
            J("LoginRequest"),
            J("Me"),
        ),
        // Operators.
        def(
            p.clone(),
            "/api/logout",
            Operator(Viewer),
            "Sign out",
            post(logout),
            204,
            NoBody,
            NoBody,
        ),
        def(
            g.clone(),
            "/api/me",
            Operator(Viewer),
            "The signed-in operator and the session's CSRF token",
            get(me),
            200,
            NoBody,
            J("Me"),
        ),
        def(
            g.clone(),
            "/api/store",
            Operator(Viewer),
            "The floor plan for the live map",
            get(store_layout),
            200,
            NoBody,
            J("StoreLayout"),
        ),
        def(
            g.clone(),
            "/api/cameras",
            Operator(Viewer),
            "Every camera's health",
            get(cameras),
            200,
            NoBody,
            A("CameraStatus"),
        ),
        def(
            g.clone(),
            "/api/cameras/{id}/frame.jpg",
            Operator(Viewer),
            "A camera's latest frame (404 before the first)",
            get(camera_frame),
            200,
            NoBody,
            Jpeg,
        ),
        def(
            g.clone(),
            "/api/cameras/{id}/latest",
            Operator(Viewer),
            "A camera's latest frame's time, size and boxes",
            get(camera_latest),
            200,
            NoBody,
            J("FrameInfo"),
        ),
        def(
            g.clone(),
            "/api/live",
            Operator(Viewer),
            "The shoppers' positions on the floor",
            get(live_shoppers),
            200,
            NoBody,
            J("LiveShoppers"),
        ),
        RouteDef {
            query: &[(
                "status",
                "`live`, `review` or `closed`; all sessions when absent",
            )],
            ..def(
                g.clone(),
                "/api/sessions",
                Operator(Viewer),
                "Sessions, newest first",
                get(list_sessions),
                200,
                NoBody,
                A("SessionSummary"),
            )
        },
        def(
            g.clone(),
            "/api/sessions/{id}",
            Operator(Viewer),
            "A session with its events, cart and audit trail",
            get(session_detail),
            200,
            NoBody,
            J("SessionDetail"),
        ),
        def(
            g.clone(),
            "/api/sessions/{id}/events/{event_id}/evidence.jpg",
            Operator(Viewer),
            "An event's evidence picture",
            get(evidence),
            200,
            NoBody,
            Jpeg,
        ),
        def(
            g.clone(),
            "/api/review",
            Operator(Viewer),
            "The review queue: sessions in review and disputed receipts",
            get(review_queue),
            200,
            NoBody,
            A("SessionSummary"),
        ),
        def(
            p.clone(),
            "/api/review/{id}/approve",
            Operator(Reviewer),
            "Approve a session in review (its charge is sent) or uphold a disputed receipt",
            post(approve_review),
            200,
            J("ApproveBody"),
            J("ActionOutcome"),
        ),
        def(
            p.clone(),
            "/api/review/{id}/correct",
            Operator(Reviewer),
            "Correct the cart (reason required): in review it is charged as corrected; a disputed receipt records the refund",
            post(correct_review),
            200,
            J("CorrectRequest"),
            J("ActionOutcome"),
        ),
        def(
            p.clone(),
            "/api/sessions/{id}/approve",
            OperatorOrKey(Reviewer, Scope::Ingest),
            "Same as /api/review/{id}/approve, for machines too: an `operator` in the body is recorded beside the key",
            post(approve_session),
            200,
            J("MachineApproval"),
            J("ActionOutcome"),
        ),
        def(
            p.clone(),
            "/api/sessions/{id}/retry-charge",
            Operator(Admin),
            "Send a declined charge again, with the same idempotency key",
            post(retry_charge),
            200,
            NoBody,
            J("ActionOutcome"),
        ),
        def(
            g.clone(),
            "/api/inventory",
            Operator(Viewer),
            "Every slot's stock",
            get(inventory),
            200,
            NoBody,
            A("InventoryRow"),
        ),
        def(
            g.clone(),
            "/api/billing",
            OperatorOrKey(Viewer, Scope::Ingest),
            "Every closed session's billing",
            get(billing_statuses),
            200,
            NoBody,
            A("BillingStatus"),
        ),
        def(
            g.clone(),
            "/api/sessions/{id}/billing",
            OperatorOrKey(Viewer, Scope::Ingest),
            "A session's billing and receipt",
            get(billing_status),
            200,
            NoBody,
            J("BillingView"),
        ),
        def(
            g.clone(),
            "/api/users",
            Operator(Admin),
            "Every operator",
            get(list_users),
            200,
            NoBody,
            A("User"),
        ),
        def(
            p.clone(),
            "/api/users",
            Operator(Admin),
            "Create an operator or set one's password and role",
            post(upsert_user),
            200,
            J("UserRequest"),
            J("User"),
        ),
        // Operators or the app.
        def(
            g.clone(),
            "/api/skus",
            OperatorOrKey(Viewer, Scope::App),
            "The catalog",
            get(list_skus),
            200,
            NoBody,
            A("Sku"),
        ),
        def(
            g.clone(),
            "/api/skus/{sku}",
            OperatorOrKey(Viewer, Scope::App),
            "One product",
            get(get_sku),
            200,
            NoBody,
            J("Sku"),
        ),
        def(
            g.clone(),
            "/api/sessions/{id}/receipt",
            OperatorOrKey(Viewer, Scope::App),
            "A charged session's receipt",
            get(receipt),
            200,
            NoBody,
            J("Receipt"),
        ),
        // The mobile app.
        def(
            p.clone(),
            "/api/app/check-in-tokens",
            Key(Scope::App),
            "A signed, short-lived check-in token (the QR payload)",
            post(issue_check_in_token),
            201,
            J("TokenRequest"),
            J("IssuedToken"),
        ),
        def(
            g.clone(),
            "/api/app/sessions/{id}/cart",
            Key(Scope::App),
            "The live cart, then the final cart and receipt",
            get(app_cart),
            200,
            NoBody,
            J("AppCart"),
        ),
        def(
            p.clone(),
            "/api/app/sessions/{id}/disputes",
            Key(Scope::App),
            "Dispute a line of a charged receipt; it joins the review queue",
            post(dispute),
            201,
            J("DisputeRequest"),
            J("DisputeOutcome"),
        ),
        // Gates, sensors and the pipeline.
        def(
            p.clone(),
            "/api/gates/{gate}/check-ins",
            Key(Scope::Ingest),
            "A scanned check-in token (401 bad or expired, 409 used)",
            post(check_in),
            201,
            J("CheckInRequest"),
            J("CheckInRecord"),
        ),
        def(
            p.clone(),
            "/api/slots/{slot}/scale-readings",
            Key(Scope::Ingest),
            "A lane scale's settled weight change (202; 404 no scale under the slot, 503 no pipeline)",
            post(scale_reading),
            202,
            J("ScaleReadingRequest"),
            J("ScaleReadingRequest"),
        ),
        def(
            p,
            "/api/sessions/{id}/close",
            Key(Scope::Ingest),
            "Close a session with its final cart (201; 200 for the same cart again, 409 for another)",
            post(close_session),
            201,
            J("CloseRequest"),
            J("CloseOutcome"),
        ),
    ]
}

/// Every route the server answers, with its access: the API's and the dashboard's public pages.
pub fn route_table() -> Vec<RouteSpec> {
    definitions()
        .into_iter()
        .map(|d| d.spec)
        .chain(dashboard_routes())
        .collect()
}

fn dashboard_routes() -> impl Iterator<Item = RouteSpec> {
    crate::dashboard::PUBLIC_ROUTES.iter().map(|path| RouteSpec {
        method: Method::GET,
        path,
        access: Public,
        summary: "The operator dashboard's pages and assets (data comes from the authenticated API)",
    })
}

/// The service's router; tests drive it without a socket, the binary serves it (with
/// `into_make_service_with_connect_info::<SocketAddr>()`, so that login is rate-limited per address).
///
/// Every route is in [`route_table`], which says what it needs: public, an operator's role, or an API
/// key's scope. Every route has the body limit ([`MAX_BODY_BYTES`]) and the timeout ([`REQUEST_TIMEOUT`]);
/// errors are `{"error": "..."}`.
pub fn app(state: AppState) -> Router {
    let mut api = Router::new();
    for route in definitions() {
        let access = route.spec.access;
        let guarded = route.handler.route_layer(middleware::from_fn_with_state(
            state.clone(),
            move |s: State<AppState>, r: Request, n: Next| enforce(access, s, r, n),
        ));
        api = api.route(route.spec.path, guarded);
    }
    api.merge(crate::dashboard::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .db
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database: {e}")))?;
    Ok(Json(
        json!({ "status": "ready", "database": state.db.backend() }),
    ))
}

async fn list_skus(State(state): State<AppState>) -> Result<Json<Vec<Sku>>, ApiError> {
    Ok(Json(state.db.skus().await?))
}

async fn get_sku(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<Sku>, ApiError> {
    state
        .db
        .sku(&sku)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("sku `{sku}`")))
}

async fn close_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CloseRequest>,
) -> Result<(StatusCode, Json<CloseOutcome>), ApiError> {
    let outcome = state
        .db
        .close_session(&id, &request, &state.currency, unix_now_ms())
        .await?;
    state.relay_wake.notify_one();
    let status = if outcome.already_closed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome)))
}

/// A machine's approval: who at the machine's end approved, recorded beside the key's scope.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MachineApproval {
    operator: Option<String>,
}

async fn approve_session(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Option<ApiJson<MachineApproval>>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let mut actor = principal.actor();
    if let (
        Principal::Key(_),
        Some(ApiJson(MachineApproval {
            operator: Some(operator),
        })),
    ) = (&principal, body)
    {
        validate_id("operator", &operator)?;
        actor = format!("{actor}/{operator}");
    }
    let outcome = state.db.approve_review(&id, &actor, unix_now_ms()).await?;
    state.relay_wake.notify_one();
    Ok(Json(outcome))
}

/// A session's billing and, once charged, its receipt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BillingView {
    #[serde(flatten)]
    status: BillingStatus,
    receipt: Option<Receipt>,
}

async fn billing_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BillingView>, ApiError> {
    validate_id("session_id", &id)?;
    let status = state
        .db
        .billing_status(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("session `{id}`")))?;
    let receipt = state.db.receipt(&id).await?;
    Ok(Json(BillingView { status, receipt }))
}

async fn receipt(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Receipt>, ApiError> {
    validate_id("session_id", &id)?;
    if let Some(receipt) = state.db.receipt(&id).await? {
        return Ok(Json(receipt));
    }
    match state.db.billing_status(&id).await? {
        None => Err(ApiError::NotFound(format!("session `{id}`"))),
        Some(status) => Err(ApiError::NotFound(format!(
            "a receipt for session `{id}` (it is {})",
            status.status
        ))),
    }
}

async fn app_cart(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AppCart>, ApiError> {
    validate_id("session_id", &id)?;
    state
        .db
        .app_cart(&id, &state.currency)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("session `{id}`")))
}

async fn billing_statuses(
    State(state): State<AppState>,
) -> Result<Json<Vec<BillingStatus>>, ApiError> {
    Ok(Json(state.db.billing_statuses().await?))
}

/// The app asks for a check-in token to show as a QR code.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// The shopper's account at the payments service.
    account_id: String,
}

/// The gate posts the token it scanned.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckInRequest {
    /// The token from the QR code.
    token: String,
}

fn check_in_tokens(state: &AppState) -> Result<&CheckInTokens, ApiError> {
    state
        .check_in
        .as_deref()
        .ok_or_else(|| ApiError::Unavailable("check-in tokens are not configured".into()))
}

async fn issue_check_in_token(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let issued = check_in_tokens(&state)?.issue(&request.account_id, unix_now_secs())?;
    Ok((StatusCode::CREATED, Json(issued)))
}

async fn check_in(
    State(state): State<AppState>,
    Path(gate): Path<String>,
    ApiJson(request): ApiJson<CheckInRequest>,
) -> Result<(StatusCode, Json<CheckInRecord>), ApiError> {
    let token = check_in_tokens(&state)?
        .verify(&request.token, unix_now_secs())
        .map_err(CheckInError::from)?;
    let record = state
        .db
        .record_check_in(&token, &gate, unix_now_ms())
        .await?;
    if let Some(listener) = &state.check_in_listener {
        listener(&record.account_id, &record.gate);
    }
    Ok((StatusCode::CREATED, Json(record)))
}

/// A lane scale posts each settled change of its slot's weight.
#[derive(Debug, Clone, Copy, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScaleReadingRequest {
    /// The change, grams: negative when items left the slot.
    delta_g: f64,
}

async fn scale_reading(
    State(state): State<AppState>,
    Path(slot): Path<String>,
    ApiJson(request): ApiJson<ScaleReadingRequest>,
) -> Result<(StatusCode, Json<ScaleReadingRequest>), ApiError> {
    if !request.delta_g.is_finite() || request.delta_g.abs() > 1.0e6 {
        return Err(ApiError::BadRequest(format!(
            "delta_g: {} is not a weight change in grams",
            request.delta_g
        )));
    }
    let listener = state.scale_listener.as_ref().ok_or_else(|| {
        ApiError::Unavailable("no pipeline runs here to take scale readings".into())
    })?;
    match listener(&slot, request.delta_g) {
        Ok(()) => Ok((StatusCode::ACCEPTED, Json(request))),
        Err(ScaleRefusal::UnknownSlot) => {
            Err(ApiError::NotFound(format!("a scale under slot `{slot}`")))
        }
        Err(ScaleRefusal::Busy) => Err(ApiError::Unavailable(
            "the pipeline did not take the reading; post it again".into(),
        )),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// Sign-in credentials.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
}

/// The signed-in operator.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    username: String,
    role: Role,
    /// Send it as `X-CSRF-Token` on every request that changes something.
    csrf_token: String,
}

fn session_cookie(state: &AppState, value: &str, max_age_secs: u64) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    )
}

async fn login(
    State(state): State<AppState>,
    extensions: Extensions,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    // Behind a reverse proxy every client shares the proxy's address; the username bucket still holds.
    let address = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
    if let Err(wait) = state.login_limiter.check(&address, &request.username) {
        tracing::warn!(%address, username = %request.username, "login rate-limited");
        return Err(ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let Some(role) = state
        .db
        .check_password(&request.username, &request.password)
        .await?
    else {
        tracing::warn!(%address, username = %request.username, "login refused");
        return Err(ApiError::Unauthorized("wrong username or password".into()));
    };
    let ttl_ms = i64::try_from(state.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let (token, csrf_token) = state
        .db
        .create_operator_session(&request.username, ttl_ms, unix_now_ms())
        .await?;
    let cookie = session_cookie(&state, &token, state.session_ttl.as_secs());
    let me = Me {
        username: request.username,
        role,
        csrf_token,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(me)).into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.db.delete_operator_session(token).await?;
    }
    let cleared = session_cookie(&state, "", 0);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}

async fn me(principal: Principal) -> Result<Json<Me>, ApiError> {
    match principal {
        Principal::Operator(op) => Ok(Json(Me {
            username: op.username,
            role: op.role,
            csrf_token: op.csrf_token,
        })),
        Principal::Key(_) => Err(ApiError::Forbidden("only operators have a profile".into())),
    }
}

async fn store_layout(State(state): State<AppState>) -> Result<Json<StoreLayout>, ApiError> {
    state
        .live
        .store()
        .map(|layout| Json((*layout).clone()))
        .ok_or_else(|| ApiError::Unavailable("the store's layout is not loaded yet".into()))
}

async fn cameras(State(state): State<AppState>) -> Json<Vec<CameraStatus>> {
    Json(state.live.cameras().as_ref().clone())
}

async fn camera_frame(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate_id("camera", &id)?;
    let frame = state
        .live
        .frame(&id)
        .ok_or_else(|| ApiError::NotFound(format!("a frame from camera `{id}`")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        frame.jpeg.clone(),
    )
        .into_response())
}

async fn camera_latest(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<FrameInfo>, ApiError> {
    validate_id("camera", &id)?;
    let frame = state
        .live
        .frame(&id)
        .ok_or_else(|| ApiError::NotFound(format!("a frame from camera `{id}`")))?;
    Ok(Json(FrameInfo {
        pts_ms: frame.pts_ms,
        width: frame.width,
        height: frame.height,
        boxes: frame.boxes.clone(),
    }))
}

async fn live_shoppers(State(state): State<AppState>) -> Json<LiveShoppers> {
    Json(state.live.shoppers().as_ref().clone())
}

#[derive(Debug, Deserialize)]
struct SessionsQuery {
    status: Option<String>,
}

async fn list_sessions(
    State(state): State<AppState>,
    query: Result<Query<SessionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SessionSummary>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let filter = match query.status.as_deref() {
        None | Some("") => None,
        Some("live") => Some(SessionFilter::Live),
        Some("review") => Some(SessionFilter::Review),
        Some("closed") => Some(SessionFilter::Closed),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status: must be `live`, `review` or `closed` (got `{other}`)"
            )));
        }
    };
    Ok(Json(state.db.sessions(filter, &state.currency).await?))
}

async fn session_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionDetail>, ApiError> {
    validate_id("session_id", &id)?;
    state
        .db
        .session_detail(&id, &state.currency)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("session `{id}`")))
}

async fn evidence(
    State(state): State<AppState>,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    validate_id("session_id", &id)?;
    validate_id("event_id", &event_id)?;
    let jpeg = state.db.evidence(&id, &event_id).await?.ok_or_else(|| {
        ApiError::NotFound(format!("evidence for event `{event_id}` of session `{id}`"))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}

async fn review_queue(
    State(state): State<AppState>,
) -> Result<Json<Vec<SessionSummary>>, ApiError> {
    Ok(Json(
        state
            .db
            .sessions(Some(SessionFilter::Review), &state.currency)
            .await?,
    ))
}

/// The body of an approval: empty, because the approver is the signed-in operator.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveBody {}

async fn approve_review(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(ApproveBody {}): ApiJson<ApproveBody>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let outcome = state
        .db
        .approve_review(&id, &principal.actor(), unix_now_ms())
        .await?;
    state.relay_wake.notify_one();
    Ok(Json(outcome))
}

async fn correct_review(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CorrectRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let outcome = state
        .db
        .correct_review(
            &id,
            &request,
            &principal.actor(),
            &state.currency,
            unix_now_ms(),
        )
        .await?;
    state.relay_wake.notify_one();
    Ok(Json(outcome))
}

async fn retry_charge(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let outcome = state
        .db
        .retry_charge(&id, &principal.actor(), unix_now_ms())
        .await?;
    state.relay_wake.notify_one();
    Ok(Json(outcome))
}

async fn dispute(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<DisputeRequest>,
) -> Result<(StatusCode, Json<DisputeOutcome>), ApiError> {
    let outcome = state
        .db
        .open_dispute(&id, &request, &principal.actor(), unix_now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

async fn inventory(State(state): State<AppState>) -> Result<Json<Vec<InventoryRow>>, ApiError> {
    Ok(Json(state.db.inventory().await?))
}

async fn list_users(State(state): State<AppState>) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.db.users().await?))
}

/// An operator to create or update.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserRequest {
    username: String,
    /// 8 to 256 characters.
    password: String,
    role: Role,
}

async fn upsert_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<UserRequest>,
) -> Result<Json<User>, ApiError> {
    state
        .db
        .upsert_user(&request.username, &request.password, request.role)
        .await?;
    tracing::info!(actor = %principal.actor(), user = %request.username, role = %request.role, "operator saved");
    state
        .db
        .users()
        .await?
        .into_iter()
        .find(|u| u.username == request.username)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("user `{}`", request.username)))
}

/// A JSON body whose rejections are [`ApiError`]s, so a bad body gets the same JSON error shape as
/// everything else.
mod axum_extra_json {
    use axum::extract::{FromRequest, OptionalFromRequest, Request};
    use serde::de::DeserializeOwned;

    use crate::ApiError;

    #[derive(Debug)]
    pub struct ApiJson<T>(pub T);

    impl<T, S> FromRequest<S> for ApiJson<T>
    where
        T: DeserializeOwned,
        S: Send + Sync,
    {
        type Rejection = ApiError;

        async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
            let axum::Json(value) =
                <axum::Json<T> as FromRequest<S>>::from_request(req, state).await?;
            Ok(ApiJson(value))
        }
    }

    /// `None` when the request has no JSON content type (no body was sent).
    impl<T, S> OptionalFromRequest<S> for ApiJson<T>
    where
        T: DeserializeOwned,
        S: Send + Sync,
    {
        type Rejection = ApiError;

        async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
            let value = <axum::Json<T> as OptionalFromRequest<S>>::from_request(req, state).await?;
            Ok(value.map(|axum::Json(v)| ApiJson(v)))
        }
    }
}
