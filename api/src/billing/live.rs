//! The app's view of a session's cart: live while the shopper is in the store, final once closed, with
//! the receipt once charged.

use serde::Serialize;

use super::{BillingError, ChargeLine, CloseRequest, LineRequest, Receipt, validate_id};
use crate::Database;
use crate::db::on_pool;

/// What the app shows for a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AppCart {
    pub session_id: String,
    pub account_id: String,
    /// `open` while in the store; then the billing status (`review`, `pending`, `charged`, ...).
    pub status: String,
    pub currency: String,
    pub lines: Vec<ChargeLine>,
    pub total_minor: i64,
    /// Present once charged.
    pub receipt: Option<Receipt>,
}

#[derive(Debug, sqlx::FromRow)]
struct LiveRow {
    account_id: String,
    lines: String,
}

#[derive(Debug, sqlx::FromRow)]
struct FinalLineRow {
    sku: String,
    quantity: i64,
    unit_price_minor: i64,
    line_total_minor: i64,
}

impl Database {
    /// Replaces an open session's live cart (the pipeline calls this as events arrive).
    pub async fn update_live_cart(
        &self,
        session_id: &str,
        account_id: &str,
        lines: &[LineRequest],
        now_ms: i64,
    ) -> Result<(), BillingError> {
        validate_id("session_id", session_id)?;
        let request = CloseRequest {
            account_id: account_id.to_string(),
            lines: lines.to_vec(),
            review: false,
        };
        request.validate()?;
        let lines = serde_json::to_string(lines)
            .map_err(|e| BillingError::Corrupt(format!("live cart: {e}")))?;
        let sql = "INSERT INTO live_carts (session_id, account_id, lines, updated_at_ms) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (session_id) DO UPDATE SET account_id = excluded.account_id, \
                   lines = excluded.lines, updated_at_ms = excluded.updated_at_ms";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(session_id)
            .bind(account_id)
            .bind(&lines)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The session's cart for the app: the final one once closed, else the live one priced from the
    /// catalog now. `None` for a session Walkout has never seen.
    pub async fn app_cart(
        &self,
        session_id: &str,
        store_currency: &str,
    ) -> Result<Option<AppCart>, BillingError> {
        if let Some(status) = self.billing_status(session_id).await? {
            let sql = "SELECT sku, quantity, unit_price_minor, line_total_minor FROM cart_lines \
                       WHERE session_id = $1 ORDER BY sku";
            let rows: Vec<FinalLineRow> = on_pool!(self, pool => sqlx::query_as::<_, FinalLineRow>(sql)
                .bind(session_id)
                .fetch_all(pool)
                .await)?;
            let receipt = self.receipt(session_id).await?;
            return Ok(Some(AppCart {
                session_id: status.session_id,
                account_id: status.account_id,
                status: status.status,
                currency: status.currency,
                lines: rows
                    .into_iter()
                    .map(|r| ChargeLine {
                        sku: r.sku,
                        quantity: r.quantity,
                        unit_price_minor: r.unit_price_minor,
                        line_total_minor: r.line_total_minor,
                    })
                    .collect(),
                total_minor: status.total_minor,
                receipt,
            }));
        }
        let sql = "SELECT account_id, lines FROM live_carts WHERE session_id = $1";
        let Some(row) = on_pool!(self, pool => sqlx::query_as::<_, LiveRow>(sql)
            .bind(session_id)
            .fetch_optional(pool)
            .await)?
        else {
            return Ok(None);
        };
        let lines: Vec<LineRequest> = serde_json::from_str(&row.lines)
            .map_err(|e| BillingError::Corrupt(format!("live cart: {e}")))?;
        let request = CloseRequest {
            account_id: row.account_id,
            lines,
            review: false,
        };
        let priced = self.price(session_id, &request, store_currency).await?;
        Ok(Some(AppCart {
            session_id: session_id.to_string(),
            account_id: priced.account_id,
            status: "open".into(),
            currency: priced.currency,
            total_minor: priced.amount_minor,
            lines: priced.lines,
            receipt: None,
        }))
    }
}
