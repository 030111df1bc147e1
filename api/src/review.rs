//! Operator actions on closed sessions: approve or correct a session in review, resolve a shopper's
//! dispute, retry a declined charge. Each one is a single transaction that also writes its audit entry
//! (who, when, why, before and after), so an action is never applied without its record or recorded
//! without being applied.
//!
//! A correction of a session in review rewrites the final cart and the held outbox body (re-priced, the
//! totals checked) and releases it to the relay under the session's idempotency key, which the payments
//! service has never seen for another body because a held charge is never sent. A correction of a charged,
//! disputed receipt records the refund it implies; sending that refund to the payments service is not
//! wired yet (the sandbox has no refund endpoint), so it is recorded for the payments team to act on.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::Database;
use crate::billing::{BillingError, CloseRequest, LineRequest, invalid, validate_id};
use crate::db::on_pool;

/// Longest reason an operator or shopper may give.
pub const MAX_REASON_LEN: usize = 1_000;

/// An operator's correction of a session's cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectRequest {
    /// The whole corrected cart, one line per SKU (quantity at least 1); an empty list means nothing
    /// was bought.
    pub lines: Vec<LineRequest>,
    /// Why, for the audit trail. Required.
    pub reason: String,
}

/// A shopper's dispute of a receipt line, from the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeRequest {
    /// The disputed line's SKU.
    pub sku: String,
    /// The shopper's words.
    pub reason: String,
}

/// What an operator action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActionOutcome {
    pub session_id: String,
    /// The session's billing status after the action.
    pub status: String,
    pub total_minor: i64,
    /// For a corrected dispute: what the correction takes off the charge.
    pub refund_minor: Option<i64>,
}

/// A dispute as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DisputeOutcome {
    pub session_id: String,
    pub sku: String,
    /// `open` until an operator resolves it.
    pub status: String,
}

#[derive(Debug, sqlx::FromRow)]
struct CartRow {
    account_id: String,
    status: String,
    total_minor: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    sku: String,
    quantity: i64,
}

fn validate_reason(field: &str, reason: &str) -> Result<(), BillingError> {
    if reason.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    if reason.chars().count() > MAX_REASON_LEN {
        return Err(invalid(
            field,
            format!("must be at most {MAX_REASON_LEN} characters"),
        ));
    }
    Ok(())
}

/// Writes an audit entry inside the transaction `$tx`.
macro_rules! audit {
    ($tx:expr, $session:expr, $at:expr, $actor:expr, $action:expr, $reason:expr, $detail:expr) => {
        sqlx::query(
            "INSERT INTO audit_log (session_id, at_ms, actor, action, reason, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($session)
        .bind($at)
        .bind($actor)
        .bind($action)
        .bind($reason)
        .bind($detail)
        .execute(&mut *$tx)
        .await
    };
}

impl Database {
    async fn cart_row(&self, session_id: &str) -> Result<CartRow, BillingError> {
        validate_id("session_id", session_id)?;
        let sql = "SELECT account_id, status, total_minor FROM carts WHERE session_id = $1";
        on_pool!(self, pool => sqlx::query_as::<_, CartRow>(sql)
            .bind(session_id)
            .fetch_optional(pool)
            .await)?
        .ok_or_else(|| BillingError::UnknownSession(session_id.to_string()))
    }

    async fn cart_lines(&self, session_id: &str) -> Result<Vec<LineRow>, BillingError> {
        let sql = "SELECT sku, quantity FROM cart_lines WHERE session_id = $1 ORDER BY sku";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, LineRow>(sql)
            .bind(session_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    async fn open_disputes(&self, session_id: &str) -> Result<i64, BillingError> {
        let sql = "SELECT CAST(COUNT(*) AS BIGINT) FROM disputes WHERE session_id = $1 AND status = 'open'";
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(session_id)
            .fetch_one(pool)
            .await)?;
        Ok(n)
    }

    /// Approves a session in review (releasing its charge to the relay) or upholds a disputed receipt.
    pub async fn approve_review(
        &self,
        session_id: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<ActionOutcome, BillingError> {
        let cart = self.cart_row(session_id).await?;
        let disputes = self.open_disputes(session_id).await?;
        if cart.status != "review" && disputes == 0 {
            return Err(BillingError::Conflict(format!(
                "session `{session_id}` is not in review (it is {})",
                cart.status
            )));
        }
        let detail =
            json!({ "before": { "status": cart.status }, "open_disputes": disputes }).to_string();
        let changed = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let mut changed = 0;
            if cart.status == "review" {
                changed += sqlx::query(
                    "UPDATE carts SET approved_by = $2, \
                     status = CASE WHEN total_minor = 0 THEN 'empty' ELSE 'pending' END \
                     WHERE session_id = $1 AND status = 'review'",
                )
                .bind(session_id)
                .bind(actor)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "UPDATE charge_outbox SET state = 'pending', next_attempt_at_ms = $2 \
                     WHERE session_id = $1 AND state = 'held'",
                )
                .bind(session_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            changed += sqlx::query(
                "UPDATE disputes SET status = 'resolved', resolved_by = $2, resolved_at_ms = $3, refund_minor = 0 \
                 WHERE session_id = $1 AND status = 'open'",
            )
            .bind(session_id)
            .bind(actor)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                // Another operator got there first.
                tx.rollback().await?;
                return Ok::<u64, sqlx::Error>(0);
            }
            audit!(tx, session_id, now_ms, actor, "approve", None::<String>, &detail)?;
            tx.commit().await?;
            Ok(changed)
        }.await)?;
        if changed == 0 {
            return Err(BillingError::Conflict(format!(
                "session `{session_id}` was approved meanwhile"
            )));
        }
        let after = self.cart_row(session_id).await?;
        Ok(ActionOutcome {
            session_id: session_id.to_string(),
            status: after.status,
            total_minor: after.total_minor,
            refund_minor: (disputes > 0).then_some(0),
        })
    }

    /// Corrects a session in review (the new cart is charged) or a disputed, charged receipt (the
    /// difference is recorded as a refund; a correction may not charge more than was charged).
    pub async fn correct_review(
        &self,
        session_id: &str,
        request: &CorrectRequest,
        actor: &str,
        store_currency: &str,
        now_ms: i64,
    ) -> Result<ActionOutcome, BillingError> {
        validate_reason("reason", &request.reason)?;
        let cart = self.cart_row(session_id).await?;
        let close = CloseRequest {
            account_id: cart.account_id.clone(),
            lines: request.lines.clone(),
            review: false,
        };
        close.validate()?;
        let charge = self.price(session_id, &close, store_currency).await?;
        let before: Vec<_> = self
            .cart_lines(session_id)
            .await?
            .into_iter()
            .map(|l| json!({ "sku": l.sku, "quantity": l.quantity }))
            .collect();
        let after: Vec<_> = charge
            .lines
            .iter()
            .map(|l| json!({ "sku": l.sku, "quantity": l.quantity }))
            .collect();
        match cart.status.as_str() {
            "review" => {
                self.correct_in_review(
                    session_id,
                    &cart,
                    &charge,
                    actor,
                    &request.reason,
                    now_ms,
                    before,
                    after,
                )
                .await
            }
            "charged" if self.open_disputes(session_id).await? > 0 => {
                if charge.amount_minor > cart.total_minor {
                    return Err(invalid(
                        "lines",
                        format!(
                            "the corrected total ({}) exceeds what was charged ({}); a dispute can only refund",
                            charge.amount_minor, cart.total_minor
                        ),
                    ));
                }
                let refund = cart.total_minor - charge.amount_minor;
                let detail = json!({
                    "before": { "lines": before, "total_minor": cart.total_minor },
                    "after": { "lines": after, "total_minor": charge.amount_minor },
                    "refund_minor": refund,
                    "refund_sent": false,
                })
                .to_string();
                let resolved = on_pool!(self, pool => async {
                    let mut tx = pool.begin().await?;
                    let resolved = sqlx::query(
                        "UPDATE disputes SET status = 'resolved', resolved_by = $2, resolved_at_ms = $3, \
                         refund_minor = CASE WHEN id = (SELECT MIN(id) FROM disputes WHERE session_id = $1 AND status = 'open') \
                         THEN $4 ELSE 0 END WHERE session_id = $1 AND status = 'open'",
                    )
                    .bind(session_id)
                    .bind(actor)
                    .bind(now_ms)
                    .bind(refund)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if resolved == 0 {
                        tx.rollback().await?;
                        return Ok::<bool, sqlx::Error>(false);
                    }
                    audit!(tx, session_id, now_ms, actor, "resolve-dispute", Some(&request.reason), &detail)?;
                    tx.commit().await?;
                    Ok(true)
                }.await)?;
                if !resolved {
                    return Err(BillingError::Conflict(format!(
                        "the dispute of session `{session_id}` was resolved meanwhile"
                    )));
                }
                Ok(ActionOutcome {
                    session_id: session_id.to_string(),
                    status: cart.status,
                    total_minor: cart.total_minor,
                    refund_minor: Some(refund),
                })
            }
            other => Err(BillingError::Conflict(format!(
                "session `{session_id}` is not in review and has no open dispute (it is {other})"
            ))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn correct_in_review(
        &self,
        session_id: &str,
        cart: &CartRow,
        charge: &crate::billing::ChargeRequest,
        actor: &str,
        reason: &str,
        now_ms: i64,
        before: Vec<serde_json::Value>,
        after: Vec<serde_json::Value>,
    ) -> Result<ActionOutcome, BillingError> {
        let body = serde_json::to_string(charge)
            .map_err(|e| BillingError::Corrupt(format!("cart: {e}")))?;
        let status = if charge.amount_minor == 0 {
            "empty"
        } else {
            "pending"
        };
        let detail = json!({
            "before": { "lines": before, "total_minor": cart.total_minor },
            "after": { "lines": after, "total_minor": charge.amount_minor },
        })
        .to_string();
        let new_key = format!("walkout:{session_id}:{now_ms}");
        let corrected = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(
                "UPDATE carts SET status = $2, total_minor = $3, approved_by = $4 \
                 WHERE session_id = $1 AND status = 'review'",
            )
            .bind(session_id)
            .bind(status)
            .bind(charge.amount_minor)
            .bind(actor)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                tx.rollback().await?;
                return Ok::<bool, sqlx::Error>(false);
            }
            sqlx::query("DELETE FROM cart_lines WHERE session_id = $1")
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
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
            if charge.amount_minor == 0 {
                // A held charge was never sent: nothing to cancel at the payments service.
                sqlx::query("DELETE FROM charge_outbox WHERE session_id = $1 AND state = 'held'")
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
            } else {
                // The held row keeps its idempotency key (never sent, so never seen with another body);
                // a session that was empty at close gets its first row.
                sqlx::query(
                    "INSERT INTO charge_outbox (session_id, idempotency_key, body, state, next_attempt_at_ms, created_at_ms) \
                     VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT (session_id) DO UPDATE SET \
                     body = excluded.body, state = 'pending', next_attempt_at_ms = excluded.next_attempt_at_ms",
                )
                .bind(session_id)
                .bind(&new_key)
                .bind(&body)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            audit!(tx, session_id, now_ms, actor, "correct", Some(reason), &detail)?;
            tx.commit().await?;
            Ok(true)
        }.await)?;
        if !corrected {
            return Err(BillingError::Conflict(format!(
                "session `{session_id}` left review meanwhile"
            )));
        }
        Ok(ActionOutcome {
            session_id: session_id.to_string(),
            status: status.to_string(),
            total_minor: charge.amount_minor,
            refund_minor: None,
        })
    }

    /// Records a shopper's dispute of a charged receipt's line; the session joins the review queue.
    pub async fn open_dispute(
        &self,
        session_id: &str,
        request: &DisputeRequest,
        actor: &str,
        now_ms: i64,
    ) -> Result<DisputeOutcome, BillingError> {
        validate_id("sku", &request.sku)?;
        validate_reason("reason", &request.reason)?;
        let cart = self.cart_row(session_id).await?;
        if cart.status != "charged" {
            return Err(BillingError::Conflict(format!(
                "only a charged receipt can be disputed (session `{session_id}` is {})",
                cart.status
            )));
        }
        if !self
            .cart_lines(session_id)
            .await?
            .iter()
            .any(|l| l.sku == request.sku)
        {
            return Err(invalid(
                "sku",
                format!("`{}` is not on the receipt", request.sku),
            ));
        }
        let detail = json!({ "sku": request.sku }).to_string();
        on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO disputes (session_id, sku, reason, status, created_at_ms) VALUES ($1, $2, $3, 'open', $4)",
            )
            .bind(session_id)
            .bind(&request.sku)
            .bind(&request.reason)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            audit!(tx, session_id, now_ms, actor, "dispute", Some(&request.reason), &detail)?;
            tx.commit().await
        }.await)?;
        Ok(DisputeOutcome {
            session_id: session_id.to_string(),
            sku: request.sku.clone(),
            status: "open".into(),
        })
    }

    /// Sends a declined charge again, with the same idempotency key and body.
    pub async fn retry_charge(
        &self,
        session_id: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<ActionOutcome, BillingError> {
        let cart = self.cart_row(session_id).await?;
        if cart.status != "failed" {
            return Err(BillingError::Conflict(format!(
                "only a failed charge can be retried (session `{session_id}` is {})",
                cart.status
            )));
        }
        let detail = json!({ "before": { "status": "failed" }, "after": { "status": "pending" } })
            .to_string();
        let retried = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE carts SET status = 'pending' WHERE session_id = $1 AND status = 'failed'",
            )
            .bind(session_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                tx.rollback().await?;
                return Ok::<bool, sqlx::Error>(false);
            }
            sqlx::query(
                "UPDATE charge_outbox SET state = 'pending', next_attempt_at_ms = $2, lease_until_ms = NULL \
                 WHERE session_id = $1 AND state = 'failed'",
            )
            .bind(session_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            audit!(tx, session_id, now_ms, actor, "retry-charge", None::<String>, &detail)?;
            tx.commit().await?;
            Ok(true)
        }.await)?;
        if !retried {
            return Err(BillingError::Conflict(format!(
                "the charge of session `{session_id}` was retried meanwhile"
            )));
        }
        Ok(ActionOutcome {
            session_id: session_id.to_string(),
            status: "pending".into(),
            total_minor: cart.total_minor,
            refund_minor: None,
        })
    }
}
