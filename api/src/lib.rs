//! The HTTP service, the store's database and billing.
//!
//! In: HTTP requests (operators, the mobile app, the entry gates, sensors) and, from the binary's wiring,
//! the pipeline's sessions, closed with their final carts.
//! Out: JSON responses; durable state in SQLite (the embedded default, a file in WAL mode, synchronous=FULL)
//! or PostgreSQL (when `DATABASE_URL` is `postgres://…`); signed charge requests to the payments service.
//! Threads: everything here is async on tokio and does only I/O; no inference or tracking runs on it. The
//! billing [`Relay`](billing::Relay) is one task that keeps at most `concurrency` charge calls in flight;
//! the outbox table is its queue, so closing a session never waits for the payments service.
//! State: a [`Database`] pool (migrations run at connect) shared by the router through [`AppState`]; the
//! billing tables (carts, charge outbox, receipts) are the only state the relay keeps, so it survives a
//! restart at any point. Check-ins spend a signed, short-lived token's nonce, so a QR code works once.
//! [`sandbox`] is an in-memory stand-in for the payments service.

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
    AppState, CheckInListener, MAX_BODY_BYTES, REQUEST_TIMEOUT, RouteSpec, app, route_table,
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
