//! The billing tables: carts and their lines, the charge outbox, receipts. The same SQL runs on SQLite
//! and PostgreSQL. Every multi-row change is one transaction whose first statement writes, so SQLite
//! takes the write lock up front instead of failing to upgrade a read.

use serde::Serialize;

use super::{
    BillingError, ChargeLine, ChargeRequest, ChargeResult, CloseRequest, Receipt, invalid,
    validate_id,
};
use crate::Database;
use crate::db::on_pool;

/// The columns of [`BillingStatus`], for queries to add their condition to.
macro_rules! status_select {
    () => {
        "SELECT c.session_id, c.account_id, c.status, c.total_minor, c.currency, \
         c.closed_at_ms, c.charged_at_ms, o.attempts, o.last_error \
         FROM carts c LEFT JOIN charge_outbox o ON o.session_id = c.session_id"
    };
}

/// What closing a session did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CloseOutcome {
    pub session_id: String,
    /// `review`, `pending` or `empty` for a new close; the current status when it was already closed.
    pub status: String,
    pub total_minor: i64,
    pub currency: String,
    /// The same cart had been closed before: nothing was written.
    pub already_closed: bool,
}

/// A session's billing, for operators and the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BillingStatus {
    pub session_id: String,
    pub account_id: String,
    /// `review`, `pending`, `charged`, `failed` or `empty`.
    pub status: String,
    pub total_minor: i64,
    pub currency: String,
    pub closed_at_ms: i64,
    pub charged_at_ms: Option<i64>,
    /// Calls made to the payments service so far.
    pub attempts: Option<i64>,
    /// Why the last attempt did not settle, if it did not.
    pub last_error: Option<String>,
}

/// An outbox row the relay has leased and is about to send.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedCharge {
    pub session_id: String,
    pub idempotency_key: String,
    /// The frozen request body.
    pub body: String,
    /// This attempt's number (1 for the first); also the fence that keeps a late, superseded attempt
    /// from rescheduling a row another attempt now holds.
    pub attempts: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct ReceiptRow {
    session_id: String,
    charge_id: String,
    amount_minor: i64,
    currency: String,
    lines: String,
    charged_at_ms: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    sku: String,
    quantity: i64,
}

impl Database {
    /// Prices the final cart from the catalog and writes it, with its outbox row, in one transaction.
    /// Closing the same session again with the same cart changes nothing; with another cart it is a
    /// conflict.
    pub async fn close_session(
        &self,
        session_id: &str,
        request: &CloseRequest,
        store_currency: &str,
        now_ms: i64,
    ) -> Result<CloseOutcome, BillingError> {
        self.close_session_with_reasons(session_id, request, &[], store_currency, now_ms)
            .await
    }

    /// [`Database::close_session`], with the pipeline's reasons for review, which the review queue
    /// shows (see [`CloseRequest::review_reasons`](super::CloseRequest::review_reasons)).
    pub async fn close_session_with_reasons(
        &self,
        session_id: &str,
        request: &CloseRequest,
        review_reasons: &[String],
        store_currency: &str,
        now_ms: i64,
    ) -> Result<CloseOutcome, BillingError> {
        validate_id("session_id", session_id)?;
        let mut review_reasons = review_reasons.to_vec();
        if request.review && review_reasons.is_empty() {
            review_reasons.push("flagged by the pipeline".into());
        }
        let review_reasons = serde_json::to_string(&review_reasons)
            .map_err(|e| BillingError::Corrupt(format!("review reasons: {e}")))?;
        request.validate()?;
        let charge = self.price(session_id, request, store_currency).await?;
        let status = match (request.review, charge.amount_minor) {
            (true, _) => "review",
            (false, 0) => "empty",
            (false, _) => "pending",
        };
        let outbox_state = if request.review { "held" } else { "pending" };
        let body = serde_json::to_string(&charge)
            .map_err(|e| BillingError::Corrupt(format!("cart: {e}")))?;
        // Unique per close, the same for every attempt at this charge.
        let idempotency_key = format!("walkout:{session_id}:{now_ms}");

        let inserted = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO carts (session_id, account_id, currency, total_minor, status, closed_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(session_id)
            .bind(&request.account_id)
            .bind(&charge.currency)
            .bind(charge.amount_minor)
            .bind(status)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                return Ok::<bool, sqlx::Error>(false);
            }
            for line in &charge.lines {
                sqlx::query(
                    "INSERT INTO cart_lines (session_id, sku, quantity, unit_price_minor, line_total_minor) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(session_id)
                .bind(&line.sku)
                .bind(line.quantity)
                .bind(line.unit_price_minor)
                .bind(line.line_total_minor)
                .execute(&mut *tx)
                .await?;
            }
            // A session closed without a recorded entry (over the billing API only) still gets a row, so
            // that every closed session is listed; the reasons for review are written at close.
            sqlx::query(
                "INSERT INTO shop_sessions (session_id, account_id, gate, opened_at_ms, review_reasons) \
                 VALUES ($1, $2, NULL, $3, $4) ON CONFLICT (session_id) DO UPDATE SET review_reasons = excluded.review_reasons",
            )
            .bind(session_id)
            .bind(&request.account_id)
            .bind(now_ms)
            .bind(&review_reasons)
            .execute(&mut *tx)
            .await?;
            // The live cart has served its purpose; the final cart replaces it.
            sqlx::query("DELETE FROM live_carts WHERE session_id = $1")
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
            if charge.amount_minor > 0 {
                sqlx::query(
                    "INSERT INTO charge_outbox (session_id, idempotency_key, body, state, next_attempt_at_ms, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(session_id)
                .bind(&idempotency_key)
                .bind(&body)
                .bind(outbox_state)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        }.await)?;

        if inserted {
            return Ok(CloseOutcome {
                session_id: session_id.to_string(),
                status: status.to_string(),
                total_minor: charge.amount_minor,
                currency: charge.currency,
                already_closed: false,
            });
        }
        self.compare_with_closed(session_id, request).await
    }

    async fn compare_with_closed(
        &self,
        session_id: &str,
        request: &CloseRequest,
    ) -> Result<CloseOutcome, BillingError> {
        let existing = self
            .billing_status(session_id)
            .await?
            .ok_or_else(|| BillingError::UnknownSession(session_id.to_string()))?;
        let sql = "SELECT sku, quantity FROM cart_lines WHERE session_id = $1 ORDER BY sku";
        let lines: Vec<LineRow> = on_pool!(self, pool => sqlx::query_as::<_, LineRow>(sql)
            .bind(session_id)
            .fetch_all(pool)
            .await)?;
        let mut asked: Vec<(&str, i64)> = request
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        asked.sort_unstable();
        let stored: Vec<(&str, i64)> = lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect();
        if existing.account_id != request.account_id || asked != stored {
            return Err(BillingError::Conflict(format!(
                "session `{session_id}` is already closed with a different cart"
            )));
        }
        Ok(CloseOutcome {
            session_id: existing.session_id,
            status: existing.status,
            total_minor: existing.total_minor,
            currency: existing.currency,
            already_closed: true,
        })
    }

    /// The charge for a cart: catalog prices, line totals and the sum, all checked.
    pub(crate) async fn price(
        &self,
        session_id: &str,
        request: &CloseRequest,
        store_currency: &str,
    ) -> Result<ChargeRequest, BillingError> {
        let mut lines = Vec::with_capacity(request.lines.len());
        let mut total: i64 = 0;
        for (i, line) in request.lines.iter().enumerate() {
            let field = format!("lines[{i}].sku");
            let sku = self
                .sku(&line.sku)
                .await?
                .ok_or_else(|| invalid(&field, format!("unknown SKU `{}`", line.sku)))?;
            if sku.currency != store_currency {
                return Err(invalid(
                    &field,
                    format!(
                        "`{}` is priced in {}, but the store charges in {store_currency}",
                        line.sku, sku.currency
                    ),
                ));
            }
            let line_total_minor = line
                .quantity
                .checked_mul(sku.price_minor)
                .ok_or_else(|| invalid(&field, "the line total overflows"))?;
            total = total
                .checked_add(line_total_minor)
                .ok_or_else(|| invalid("lines", "the cart total overflows"))?;
            lines.push(ChargeLine {
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_price_minor: sku.price_minor,
                line_total_minor,
            });
        }
        lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        let charge = ChargeRequest {
            account_id: request.account_id.clone(),
            session_id: session_id.to_string(),
            amount_minor: total,
            currency: store_currency.to_string(),
            lines,
        };
        charge
            .check_totals()
            .map_err(|reason| invalid("lines", reason))?;
        Ok(charge)
    }

    /// Releases a session in review to the relay.
    pub async fn approve_session(
        &self,
        session_id: &str,
        operator: &str,
        now_ms: i64,
    ) -> Result<BillingStatus, BillingError> {
        validate_id("session_id", session_id)?;
        validate_id("operator", operator)?;
        let approved = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let approved = sqlx::query(
                "UPDATE carts SET approved_by = $2, \
                 status = CASE WHEN total_minor = 0 THEN 'empty' ELSE 'pending' END \
                 WHERE session_id = $1 AND status = 'review'",
            )
            .bind(session_id)
            .bind(operator)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if approved == 1 {
                sqlx::query(
                    "UPDATE charge_outbox SET state = 'pending', next_attempt_at_ms = $2 \
                     WHERE session_id = $1 AND state = 'held'",
                )
                .bind(session_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<bool, sqlx::Error>(approved == 1)
        }.await)?;
        let status = self
            .billing_status(session_id)
            .await?
            .ok_or_else(|| BillingError::UnknownSession(session_id.to_string()))?;
        if !approved {
            return Err(BillingError::Conflict(format!(
                "session `{session_id}` is not in review (it is {})",
                status.status
            )));
        }
        Ok(status)
    }

    /// Leases up to `limit` due charges for `lease_ms` and counts the attempt.
    pub async fn claim_due_charges(
        &self,
        now_ms: i64,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedCharge>, BillingError> {
        // The outer conditions repeat the inner ones: on PostgreSQL a row another relay claimed meanwhile
        // is re-checked after its lock is released and drops out.
        let sql = "UPDATE charge_outbox SET attempts = attempts + 1, lease_until_ms = $1 \
                   WHERE session_id IN (SELECT session_id FROM charge_outbox \
                       WHERE state = 'pending' AND next_attempt_at_ms <= $2 \
                       AND (lease_until_ms IS NULL OR lease_until_ms <= $2) \
                       ORDER BY next_attempt_at_ms LIMIT $3) \
                   AND state = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms <= $2) \
                   RETURNING session_id, idempotency_key, body, attempts";
        let lease_until_ms = now_ms.saturating_add(lease_ms);
        let claimed = on_pool!(self, pool => sqlx::query_as::<_, ClaimedCharge>(sql)
            .bind(lease_until_ms)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(claimed)
    }

    /// Records a settled charge: the outbox row, the receipt and the cart's status, together. Returns false
    /// when the charge had already been recorded (by an earlier attempt that got there first).
    pub async fn settle_charge(
        &self,
        charge: &ChargeRequest,
        result: &ChargeResult,
        now_ms: i64,
    ) -> Result<bool, BillingError> {
        let lines = serde_json::to_string(&charge.lines)
            .map_err(|e| BillingError::Corrupt(format!("lines: {e}")))?;
        let settled = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE charge_outbox SET state = 'settled', lease_until_ms = NULL, last_error = NULL \
                 WHERE session_id = $1 AND state = 'pending'",
            )
            .bind(&charge.session_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                tx.rollback().await?;
                return Ok::<bool, sqlx::Error>(false);
            }
            sqlx::query(
                "INSERT INTO receipts (session_id, charge_id, amount_minor, currency, lines, charged_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(&charge.session_id)
            .bind(&result.charge_id)
            .bind(result.amount_minor)
            .bind(&result.currency)
            .bind(&lines)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE carts SET status = 'charged', charged_at_ms = $2 WHERE session_id = $1")
                .bind(&charge.session_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        }.await)?;
        Ok(settled)
    }

    /// Puts an attempt whose outcome is unknown back in the queue, due at `next_attempt_at_ms`.
    pub async fn reschedule_charge(
        &self,
        claimed: &ClaimedCharge,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<(), BillingError> {
        let sql = "UPDATE charge_outbox SET lease_until_ms = NULL, next_attempt_at_ms = $3, last_error = $4 \
                   WHERE session_id = $1 AND attempts = $2 AND state = 'pending'";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(&claimed.session_id)
            .bind(claimed.attempts)
            .bind(next_attempt_at_ms)
            .bind(error)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Gives up on a charge the payments service refused for good; an operator takes it from here.
    pub async fn fail_charge(
        &self,
        claimed: &ClaimedCharge,
        error: &str,
    ) -> Result<(), BillingError> {
        on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE charge_outbox SET state = 'failed', lease_until_ms = NULL, last_error = $3 \
                 WHERE session_id = $1 AND attempts = $2 AND state = 'pending'",
            )
            .bind(&claimed.session_id)
            .bind(claimed.attempts)
            .bind(error)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1 {
                sqlx::query("UPDATE carts SET status = 'failed' WHERE session_id = $1")
                    .bind(&claimed.session_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }.await)?;
        Ok(())
    }

    pub async fn billing_status(
        &self,
        session_id: &str,
    ) -> Result<Option<BillingStatus>, BillingError> {
        let sql = concat!(status_select!(), " WHERE c.session_id = $1");
        let found = on_pool!(self, pool => sqlx::query_as::<_, BillingStatus>(sql)
            .bind(session_id)
            .fetch_optional(pool)
            .await)?;
        Ok(found)
    }

    /// Every closed session's billing, in session order.
    pub async fn billing_statuses(&self) -> Result<Vec<BillingStatus>, BillingError> {
        let sql = concat!(status_select!(), " ORDER BY c.session_id");
        let all = on_pool!(self, pool => sqlx::query_as::<_, BillingStatus>(sql)
            .fetch_all(pool)
            .await)?;
        Ok(all)
    }

    pub async fn receipt(&self, session_id: &str) -> Result<Option<Receipt>, BillingError> {
        let sql = "SELECT session_id, charge_id, amount_minor, currency, lines, charged_at_ms \
                   FROM receipts WHERE session_id = $1";
        let row = on_pool!(self, pool => sqlx::query_as::<_, ReceiptRow>(sql)
            .bind(session_id)
            .fetch_optional(pool)
            .await)?;
        row.map(|row| {
            let lines = serde_json::from_str(&row.lines)
                .map_err(|e| BillingError::Corrupt(format!("receipts.lines: {e}")))?;
            Ok(Receipt {
                session_id: row.session_id,
                charge_id: row.charge_id,
                amount_minor: row.amount_minor,
                currency: row.currency,
                lines,
                charged_at_ms: row.charged_at_ms,
            })
        })
        .transpose()
    }
}
