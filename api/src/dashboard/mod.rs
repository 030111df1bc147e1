//! The operator dashboard: HTML pages and their scripts, served by the same server as the API.
//!
//! The pages are static (embedded in the binary) and public; every piece of data they show comes from the
//! authenticated JSON API, with the operator's session cookie.

use axum::Router;

use crate::AppState;

/// The dashboard's pages and assets.
pub fn routes() -> Router<AppState> {
    Router::new()
}
