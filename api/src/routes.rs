use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::{ApiError, Database, Sku};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Database,
}

/// The service's router; tests drive it without a socket, the binary serves it.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/skus", get(list_skus))
        .route("/api/skus/{sku}", get(get_sku))
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
