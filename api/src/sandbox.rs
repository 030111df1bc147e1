//! The payments sandbox: a stand-in for the payments service, for the demo and the tests.
//!
//! `POST /charges` verifies the signature and the timestamp window, then honours the idempotency key: the
//! same key with the same body returns the original charge, the same key with another body gets 422.
//! Accounts named `declined-…` are declined (402). It can be told to fail, deterministically from a seed:
//! answer 503 without charging, charge and answer late, or charge and drop the connection without
//! answering. `GET /charges` lists what it charged.
//!
//! It serves each connection itself (hyper, HTTP/1.1) so that a handler can drop its own connection.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::billing::relay::splitmix64;
use crate::billing::{ChargeLine, ChargeRequest, ChargeResult};
use crate::signing::{self, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, Secret, TIMESTAMP_HEADER};

/// Accounts whose id starts with this are declined (402), so tests can see a charge refused for good.
pub const DECLINED_ACCOUNT_PREFIX: &str = "declined-";

/// Largest charge request accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The HMAC key shared with Walkout.
    pub secret: Secret,
    /// Largest accepted distance between a request's timestamp and the sandbox's clock.
    pub tolerance_secs: i64,
    /// Which calls fail, and how.
    pub failures: FailurePlan,
}

impl SandboxConfig {
    /// A sandbox that never fails, with a five-minute timestamp window.
    pub fn new(secret: Secret) -> SandboxConfig {
        SandboxConfig {
            secret,
            tolerance_secs: 300,
            failures: FailurePlan::default(),
        }
    }
}

/// Injected failures. Call number `n` (counting every signed, well-formed charge call) draws a number in
/// 0..100 from `seed` and `n`; the bands below, in this order, pick its fate. The same seed gives the
/// same sequence of fates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailurePlan {
    /// Share of calls answered 503 without charging, in percent.
    #[serde(default)]
    pub server_error_percent: u32,
    /// Share of calls that charge, then answer after `slow_ms`, in percent.
    #[serde(default)]
    pub slow_percent: u32,
    /// How late a slow call answers, in milliseconds.
    #[serde(default)]
    pub slow_ms: u64,
    /// Share of calls that charge, then close the connection without answering, in percent.
    #[serde(default)]
    pub drop_after_commit_percent: u32,
    /// Seed of the draw.
    #[serde(default)]
    pub seed: u64,
}

impl FailurePlan {
    pub fn validate(&self) -> Result<(), String> {
        let total = u64::from(self.server_error_percent)
            + u64::from(self.slow_percent)
            + u64::from(self.drop_after_commit_percent);
        if total > 100 {
            return Err(format!("the failure shares add up to {total}%, above 100%"));
        }
        Ok(())
    }

    fn fate(&self, call: u64) -> Fate {
        let draw = u32::try_from(splitmix64(self.seed ^ splitmix64(call)) % 100).unwrap_or(0);
        let server_error = self.server_error_percent;
        let slow = server_error + self.slow_percent;
        let dropped = slow + self.drop_after_commit_percent;
        if draw < server_error {
            Fate::ServerError
        } else if draw < slow {
            Fate::Slow
        } else if draw < dropped {
            Fate::DropAfterCommit
        } else {
            Fate::Normal
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Normal,
    ServerError,
    Slow,
    DropAfterCommit,
}

/// One charge the sandbox made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxCharge {
    pub charge_id: String,
    pub idempotency_key: String,
    pub account_id: String,
    pub session_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub lines: Vec<ChargeLine>,
}

/// Calls by what happened to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SandboxStats {
    /// Charge calls that passed the signature and body checks.
    pub calls: u64,
    /// Calls that made a new charge.
    pub charged: u64,
    /// Calls answered with an earlier charge under the same key.
    pub replayed: u64,
    /// Injected 503s.
    pub server_errors: u64,
    /// Injected late answers.
    pub slow: u64,
    /// Injected dropped connections.
    pub dropped: u64,
    /// Calls refused for their signature or timestamp.
    pub bad_signatures: u64,
    /// Calls refused because their key was used with another body.
    pub key_reuse: u64,
}

#[derive(Debug, Default)]
struct Ledger {
    charges: Vec<SandboxCharge>,
    /// Idempotency key to (body digest, index into `charges`).
    by_key: HashMap<String, ([u8; 32], usize)>,
    stats: SandboxStats,
}

/// A running sandbox's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    config: Arc<SandboxConfig>,
    ledger: Arc<Mutex<Ledger>>,
    calls: Arc<AtomicU64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        config.failures.validate().map_err(SandboxError::Config)?;
        Ok(Sandbox {
            config: Arc::new(config),
            ledger: Arc::new(Mutex::new(Ledger::default())),
            calls: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Every charge made, in the order made.
    pub fn charges(&self) -> Vec<SandboxCharge> {
        self.ledger().charges.clone()
    }

    pub fn stats(&self) -> SandboxStats {
        self.ledger().stats
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock cannot leave the ledger half-written: every update is one push
        // and one insert; keep serving.
        self.ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The sandbox's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/charges", get(list_charges).post(create_charge))
            .route("/stats", get(stats))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }
}

/// Serves the sandbox on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    sandbox: Sandbox,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SandboxError> {
    let router = sandbox.router();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %err, "sandbox: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let killer = ConnectionKiller(Arc::new(Notify::new()));
        let service = TowerToHyperService::new(router.clone().layer(Extension(killer.clone())));
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            // Returning drops the connection and closes the socket, mid-request if need be.
            tokio::select! {
                _ = connection => {}
                _ = killer.0.notified() => {}
            }
        });
    }
}

/// Binds `listen` and serves until Ctrl-C or SIGTERM: what `walkout payments-sandbox` calls.
pub fn run_blocking(listen: SocketAddr, config: SandboxConfig) -> Result<(), SandboxError> {
    let sandbox = Sandbox::new(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: listen,
                source,
            })?;
        tracing::info!(addr = %listener.local_addr()?, "payments sandbox listening");
        serve(listener, sandbox, crate::shutdown_signal()).await
    })
}

/// Lets a handler close its own connection without answering.
#[derive(Debug, Clone)]
struct ConnectionKiller(Arc<Notify>);

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn list_charges(State(sandbox): State<Sandbox>) -> Json<Vec<SandboxCharge>> {
    Json(sandbox.charges())
}

async fn stats(State(sandbox): State<Sandbox>) -> Json<SandboxStats> {
    Json(sandbox.stats())
}

async fn create_charge(
    State(sandbox): State<Sandbox>,
    Extension(killer): Extension<ConnectionKiller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(err) = signing::verify(
        &sandbox.config.secret,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        signing::unix_now_secs(),
        sandbox.config.tolerance_secs,
    ) {
        sandbox.ledger().stats.bad_signatures += 1;
        return refuse(StatusCode::UNAUTHORIZED, err.to_string());
    }
    let Some(key) = header(IDEMPOTENCY_HEADER).filter(|k| !k.is_empty() && k.len() <= 255) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("the `{IDEMPOTENCY_HEADER}` header is required (1 to 255 characters)"),
        );
    };
    let request: ChargeRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, format!("invalid charge: {err}")),
    };
    if let Err(reason) = request.check_totals() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, reason);
    }
    if request.amount_minor <= 0 {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount_minor must be positive",
        );
    }

    if request.account_id.starts_with(DECLINED_ACCOUNT_PREFIX) {
        return refuse(
            StatusCode::PAYMENT_REQUIRED,
            "the account's payment method was declined",
        );
    }

    let call = sandbox.calls.fetch_add(1, Ordering::Relaxed);
    let fate = sandbox.config.failures.fate(call);
    let digest: [u8; 32] = Sha256::digest(&body).into();
    let result = {
        let mut ledger = sandbox.ledger();
        ledger.stats.calls += 1;
        match fate {
            Fate::ServerError => ledger.stats.server_errors += 1,
            Fate::Slow => ledger.stats.slow += 1,
            Fate::DropAfterCommit => ledger.stats.dropped += 1,
            Fate::Normal => {}
        }
        if fate == Fate::ServerError {
            None
        } else {
            Some(commit(&mut ledger, key, digest, &request))
        }
    };
    let response = match result {
        None => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "injected failure: try again",
            );
        }
        Some(Committed::Refused(response)) => return response,
        Some(Committed::Charge(response)) => response,
    };
    match fate {
        Fate::Slow => {
            tokio::time::sleep(Duration::from_millis(sandbox.config.failures.slow_ms)).await
        }
        Fate::DropAfterCommit => {
            killer.0.notify_one();
            std::future::pending::<()>().await;
        }
        Fate::Normal | Fate::ServerError => {}
    }
    response
}

/// Makes the charge, or finds the one already made under `key`.
fn commit(ledger: &mut Ledger, key: &str, digest: [u8; 32], request: &ChargeRequest) -> Committed {
    if let Some((stored_digest, index)) = ledger.by_key.get(key).copied() {
        if stored_digest != digest {
            ledger.stats.key_reuse += 1;
            return Committed::Refused(refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("idempotency key `{key}` was already used with a different body"),
            ));
        }
        ledger.stats.replayed += 1;
        let charge = &ledger.charges[index];
        let mut response = Json(result_of(charge)).into_response();
        response.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
        return Committed::Charge(response);
    }
    let charge = SandboxCharge {
        charge_id: format!("ch_{:08}", ledger.charges.len() + 1),
        idempotency_key: key.to_string(),
        account_id: request.account_id.clone(),
        session_id: request.session_id.clone(),
        amount_minor: request.amount_minor,
        currency: request.currency.clone(),
        lines: request.lines.clone(),
    };
    let response = Json(result_of(&charge)).into_response();
    ledger
        .by_key
        .insert(key.to_string(), (digest, ledger.charges.len()));
    ledger.charges.push(charge);
    ledger.stats.charged += 1;
    Committed::Charge(response)
}

/// A charge call's answer once the ledger has seen it.
enum Committed {
    /// The charge, new or replayed.
    Charge(Response),
    /// The key was used with another body.
    Refused(Response),
}

fn result_of(charge: &SandboxCharge) -> ChargeResult {
    ChargeResult {
        charge_id: charge.charge_id.clone(),
        status: "succeeded".into(),
        amount_minor: charge.amount_minor,
        currency: charge.currency.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_follow_the_seed_and_the_shares() {
        let plan = FailurePlan {
            server_error_percent: 10,
            slow_percent: 10,
            slow_ms: 1,
            drop_after_commit_percent: 10,
            seed: 7,
        };
        let fates: Vec<Fate> = (0..10_000).map(|n| plan.fate(n)).collect();
        assert_eq!(fates, (0..10_000).map(|n| plan.fate(n)).collect::<Vec<_>>());
        for fate in [Fate::ServerError, Fate::Slow, Fate::DropAfterCommit] {
            let count = fates.iter().filter(|f| **f == fate).count();
            assert!((800..1_200).contains(&count), "{fate:?}: {count}");
        }
        let other_seed = FailurePlan {
            seed: 8,
            ..plan.clone()
        };
        assert_ne!(
            fates[..100],
            (0..100).map(|n| other_seed.fate(n)).collect::<Vec<_>>()[..]
        );
        assert!(
            FailurePlan {
                slow_percent: 95,
                ..plan
            }
            .validate()
            .is_err()
        );
    }
}
