//! The one place access is enforced: a per-route layer built from the route's [`Access`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::{Access, Role, Scope};
use crate::billing::unix_now_ms;
use crate::{ApiError, AppState};

/// The operator's session cookie.
pub const SESSION_COOKIE: &str = "walkout_session";
/// The header that must carry the session's CSRF token on every state-changing request by cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in operator, as the request's credentials showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorPrincipal {
    pub username: String,
    pub role: Role,
    #[serde(skip)]
    pub csrf_token: String,
}

/// Who made the request. Handlers of non-public routes take it as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator(OperatorPrincipal),
    Key(Scope),
}

impl Principal {
    /// The name the audit trail records: the operator's username, or `key:<scope>`.
    pub fn actor(&self) -> String {
        match self {
            Principal::Operator(op) => op.username.clone(),
            Principal::Key(scope) => format!("key:{scope}"),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("sign in or send an API key".into()))
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Finds the caller: a bearer key when an `Authorization` header is sent, else the session cookie.
/// `Ok(None)` when the request carries no credentials at all.
pub(crate) async fn identify(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let key = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization: expected `Bearer <API key>`".into())
            })?;
        return match state.api_keys.scope_of(key) {
            Some(scope) => Ok(Some(Principal::Key(scope))),
            None => Err(ApiError::Unauthorized(
                "Authorization: the API key is not valid".into(),
            )),
        };
    }
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    match state.db.operator_session(token, unix_now_ms()).await? {
        Some(session) => Ok(Some(Principal::Operator(OperatorPrincipal {
            username: session.username,
            role: session.role,
            csrf_token: session.csrf_token,
        }))),
        None => Err(ApiError::Unauthorized(
            "the session has expired or ended; sign in again".into(),
        )),
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses the request unless its caller may use a route with this access: 401 without valid
/// credentials, 403 with credentials of too low a role or the wrong scope, or (for an operator changing
/// something) without the session's CSRF token.
pub(crate) async fn enforce(
    access: Access,
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if access == Access::Public {
        return Ok(next.run(request).await);
    }
    let principal = identify(&state, request.headers()).await?.ok_or_else(|| {
        ApiError::Unauthorized(format!(
            "this route needs credentials ({}): sign in or send an API key",
            access.describe()
        ))
    })?;
    if !access.allows(&principal) {
        return Err(ApiError::Forbidden(format!(
            "this route needs {}",
            access.describe()
        )));
    }
    if let Principal::Operator(op) = &principal
        && changes_state(request.method())
    {
        let sent = request
            .headers()
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if sent.is_empty() || !bool::from(sent.ct_eq(op.csrf_token.as_bytes())) {
            return Err(ApiError::Forbidden(
                "X-CSRF-Token: missing or not this session's token (see /api/me)".into(),
            ));
        }
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}
