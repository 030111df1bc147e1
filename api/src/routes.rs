use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra_json::ApiJson;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower_http::timeout::TimeoutLayer;

use crate::billing::{
    AppCart, ApproveRequest, BillingStatus, CloseOutcome, CloseRequest, Receipt, unix_now_ms,
    validate_id,
};
use crate::auth::{ApiKeys, LoginLimiter};
use crate::billing::RelayStats;
use crate::checkin::{CheckInError, CheckInRecord, CheckInTokens, IssuedToken};
use crate::live::LiveStore;
use crate::metrics::Metrics;
use crate::signing::unix_now_secs;
use crate::{ApiError, Database, Sku};

/// Largest request body the billing routes accept.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a billing request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Called after a successful check-in with the account and the gate, so the binary can tell the live
/// pipeline who just entered.
pub type CheckInListener = Arc<dyn Fn(&str, &str) + Send + Sync>;

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

    /// Calls `listener(account, gate)` after every successful check-in.
    pub fn with_check_in_listener(mut self, listener: CheckInListener) -> AppState {
        self.check_in_listener = Some(listener);
        self
    }
}

/// The service's router; tests drive it without a socket, the binary serves it.
///
/// Billing and app routes (64 KiB body limit, 10 s timeout; errors are `{"error": "..."}`):
/// - `POST /api/sessions/{id}/close` `{account_id, lines: [{sku, quantity}], review}`: 201, or 200 when the
///   same cart was already closed, 409 for another cart
/// - `POST /api/sessions/{id}/approve` `{operator}`: releases a session in review to the relay
/// - `GET /api/sessions/{id}/billing`, `GET /api/sessions/{id}/receipt`, `GET /api/billing`
/// - `POST /api/app/check-in-tokens` `{account_id}`: a QR token; `POST /api/gates/{gate}/check-ins`
///   `{token}`: 201, 401 for a bad or expired token, 409 for a used one
/// - `GET /api/app/sessions/{id}/cart`: live cart, then final cart and receipt
pub fn app(state: AppState) -> Router {
    let billing = Router::new()
        .route("/api/sessions/{id}/close", post(close_session))
        .route("/api/sessions/{id}/approve", post(approve_session))
        .route("/api/sessions/{id}/billing", get(billing_status))
        .route("/api/sessions/{id}/receipt", get(receipt))
        .route("/api/billing", get(billing_statuses))
        .route("/api/app/check-in-tokens", post(issue_check_in_token))
        .route("/api/app/sessions/{id}/cart", get(app_cart))
        .route("/api/gates/{gate}/check-ins", post(check_in))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/skus", get(list_skus))
        .route("/api/skus/{sku}", get(get_sku))
        .merge(billing)
        .merge(crate::dashboard::routes())
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

async fn approve_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ApproveRequest>,
) -> Result<Json<BillingStatus>, ApiError> {
    let status = state
        .db
        .approve_session(&id, &request.operator, unix_now_ms())
        .await?;
    state.relay_wake.notify_one();
    Ok(Json(status))
}

/// A session's billing and, once charged, its receipt.
#[derive(Debug, Serialize)]
struct BillingView {
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
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// The shopper's account at the payments service.
    account_id: String,
}

/// The gate posts the token it scanned.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInRequest {
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
    Ok((StatusCode::CREATED, Json(record)))
}

/// A JSON body whose rejections are [`ApiError`]s, so a bad body gets the same JSON error shape as
/// everything else.
mod axum_extra_json {
    use axum::extract::{FromRequest, Request};
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
            let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
            Ok(ApiJson(value))
        }
    }
}
