//! The HTTP service and the store's database.
//!
//! In: HTTP requests (operators, the mobile app, the payments service, sensors) and, from the binary's
//! wiring, the pipeline's sessions and events.
//! Out: JSON responses, and durable state in SQLite (the embedded default, a file in WAL mode) or
//! PostgreSQL (when `DATABASE_URL` is `postgres://…`).
//! Threads: everything here is async on tokio and does only I/O; no inference or tracking runs on it.
//! State: a [`Database`] pool (migrations run at connect), shared by the router through [`AppState`].

mod db;
mod error;
mod routes;

pub use db::{Database, DbError, Sku};
pub use error::ApiError;
pub use routes::{AppState, app};
