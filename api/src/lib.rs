//! The HTTP service, the store's database and billing.
//!
//! In: HTTP requests (operators, the mobile app, the entry gates, sensors); from the binary's wiring, the
//! pipeline's sessions and shelf events ([`Database::open_session`], [`Database::record_event`],
//! [`Database::close_session_with_reasons`]) and the live view ([`LiveStore`]: floor plan, camera
//! health, latest frames, shopper positions).
//! Out: JSON responses; durable state in SQLite (the embedded default, a file in WAL mode, synchronous=FULL)
//! or PostgreSQL (when `DATABASE_URL` is `postgres://…`); signed charge requests to the payments service;
//! Prometheus metrics at `/metrics`; the OpenAPI 3 document at `/openapi.json`.
//! Access: [`route_table`] lists every route with its [`auth::Access`] (public, an operator's [`Role`], or an
//! API key's [`Scope`]); the router, the per-route access layer and the OpenAPI document are all built from
//! it. Operators sign in with argon2-hashed passwords into server-side sessions (an HttpOnly,
//! SameSite=Strict cookie, and a CSRF token on every state-changing request); login is rate-limited per
//! address and per username. Every route has the body limit and the request timeout.
//! Threads: everything here is async on tokio and does only I/O; no inference or tracking runs on it. The
//! [`LiveStore`] is written with plain synchronous calls from the pipeline's threads. The billing
//! [`Relay`](billing::Relay) is one task that keeps at most `concurrency` charge calls in flight; the
//! outbox table is its queue, so closing a session never waits for the payments service.
//! State: a [`Database`] pool (migrations run at connect) shared by the router through [`AppState`]; the
//! billing tables (carts, charge outbox, receipts) are the only state the relay keeps, so it survives a
//! restart at any point. Operator actions (approve, correct, dispute, retry) write their audit entry in the
//! same transaction as the change. Check-ins spend a signed, short-lived token's nonce, so a QR code works
//! once. [`sandbox`] is an in-memory stand-in for the payments service.

pub mod auth;
pub mod billing;
pub mod checkin;
pub mod dashboard;
mod db;
mod error;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod review;
mod routes;
pub mod sandbox;
pub mod sessions;
pub mod signing;

pub use auth::{ApiKeys, Role, Scope};
pub use db::{Database, DbError, Sku};
pub use error::ApiError;
pub use live::LiveStore;
pub use routes::{
    AppState, CheckInListener, MAX_BODY_BYTES, REQUEST_TIMEOUT, RouteSpec, ScaleListener,
    ScaleRefusal, app, route_table,
};
pub use sessions::EventRecord;

/// Completes at Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
