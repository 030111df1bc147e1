//! Shopper sessions as the dashboard sees them: opened at the entry gate, filled by shelf events, closed
//! into a cart (see [`crate::billing`]). Also the live stock per slot, which every event adjusts in the
//! same transaction that records it, and the audit trail of operator actions.
//!
//! A session's status is `live` until it is closed, then its cart's billing status (`review`, `pending`,
//! `charged`, `failed`, `empty`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Database;
use crate::billing::{BillingError, MAX_QUANTITY, invalid, validate_id};
use crate::db::on_pool;

/// Largest evidence picture stored with an event.
pub const MAX_EVIDENCE_BYTES: usize = 2 * 1024 * 1024;
/// Most sessions one list returns.
pub const MAX_LIST: i64 = 1_000;

/// A shelf event, as the pipeline hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// The session the event is attributed to; `None` when no shopper was (it still moves the stock).
    pub session_id: Option<String>,
    /// Unique per store (prefix the pipeline's ids with the run's id): a repeated id is not recorded
    /// again and does not move the stock twice.
    pub event_id: String,
    /// `pick` or `put`.
    pub kind: String,
    pub sku: String,
    pub slot: String,
    /// Items, at least 1.
    pub quantity: i64,
    /// The attribution's confidence, 0 to 1.
    pub confidence: f64,
    /// When it happened, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The camera whose frame is the evidence.
    pub camera: Option<String>,
    /// That frame (or a crop of it), JPEG.
    pub evidence_jpeg: Option<Vec<u8>>,
}

impl EventRecord {
    pub fn validate(&self) -> Result<(), BillingError> {
        if let Some(session_id) = &self.session_id {
            validate_id("session_id", session_id)?;
        }
        validate_id("event_id", &self.event_id)?;
        validate_id("sku", &self.sku)?;
        validate_id("slot", &self.slot)?;
        if let Some(camera) = &self.camera {
            validate_id("camera", camera)?;
        }
        if !matches!(self.kind.as_str(), "pick" | "put") {
            return Err(invalid(
                "kind",
                format!("must be `pick` or `put` (got `{}`)", self.kind),
            ));
        }
        if !(1..=MAX_QUANTITY).contains(&self.quantity) {
            return Err(invalid(
                "quantity",
                format!(
                    "must be between 1 and {MAX_QUANTITY} (got {})",
                    self.quantity
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.confidence) {
            return Err(invalid(
                "confidence",
                format!("must be between 0 and 1 (got {})", self.confidence),
            ));
        }
        if self
            .evidence_jpeg
            .as_ref()
            .is_some_and(|j| j.len() > MAX_EVIDENCE_BYTES)
        {
            return Err(invalid(
                "evidence_jpeg",
                format!("must be at most {MAX_EVIDENCE_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

/// One session in a list: `GET /api/sessions`, `GET /api/review`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionSummary {
    pub session_id: String,
    pub account_id: String,
    /// The entry gate; `null` for a session closed without a recorded entry.
    pub gate: Option<String>,
    pub opened_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// `live`, `review`, `pending`, `charged`, `failed` or `empty`.
    pub status: String,
    /// The cart's total in minor units: the final cart once closed, the live cart priced now before.
    pub total_minor: i64,
    pub currency: String,
    /// Items in the cart.
    pub items: i64,
    /// Why the session needs an operator: the pipeline's reasons and any open dispute.
    pub review_reasons: Vec<String>,
}

/// A shelf event in a session's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub event_id: String,
    pub kind: String,
    pub sku: String,
    pub slot: String,
    pub quantity: i64,
    pub confidence: f64,
    pub at_ms: i64,
    pub camera: Option<String>,
    /// Where the evidence picture is, when there is one.
    pub evidence_url: Option<String>,
}

/// A priced cart line with the product's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CartLineView {
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

/// One entry of a session's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub at_ms: i64,
    /// The operator's username, or `key:<scope>` for a machine.
    pub actor: String,
    /// `approve`, `correct`, `dispute`, `resolve-dispute`, `retry-charge`.
    pub action: String,
    pub reason: Option<String>,
    /// What changed: before and after.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A session with its timeline, cart and audit trail: `GET /api/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub summary: SessionSummary,
    pub events: Vec<EventView>,
    pub cart: Vec<CartLineView>,
    pub audit: Vec<AuditEntry>,
}

/// A slot's stock: `GET /api/inventory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct InventoryRow {
    pub slot: String,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub updated_at_ms: i64,
}

/// Which sessions a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionFilter {
    /// Still in the store.
    Live,
    /// Waiting for an operator: flagged by the pipeline, or disputed by the shopper.
    Review,
    /// Closed, whatever their billing.
    Closed,
}

#[derive(Debug, sqlx::FromRow)]
struct SummaryRow {
    session_id: String,
    account_id: String,
    gate: Option<String>,
    opened_at_ms: i64,
    review_reasons: String,
    status: Option<String>,
    closed_at_ms: Option<i64>,
    total_minor: Option<i64>,
    currency: Option<String>,
    items: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct DisputeRow {
    session_id: String,
    sku: String,
    reason: String,
}

#[derive(Debug, sqlx::FromRow)]
struct NetRow {
    session_id: String,
    sku: String,
    net: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct PriceRow {
    sku: String,
    name: String,
    price_minor: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    event_id: String,
    kind: String,
    sku: String,
    slot: String,
    quantity: i64,
    confidence: f64,
    at_ms: i64,
    camera: Option<String>,
    has_evidence: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    at_ms: i64,
    actor: String,
    action: String,
    reason: Option<String>,
    detail: String,
}

#[derive(Debug, sqlx::FromRow)]
struct EvidenceRow {
    evidence_jpeg: Option<Vec<u8>>,
}

const SUMMARY_SELECT: &str = "SELECT s.session_id, s.account_id, s.gate, s.opened_at_ms, s.review_reasons, \
     c.status, c.closed_at_ms, c.total_minor, c.currency, \
     CAST(COALESCE((SELECT SUM(l.quantity) FROM cart_lines l WHERE l.session_id = s.session_id), 0) AS BIGINT) AS items \
     FROM shop_sessions s LEFT JOIN carts c ON c.session_id = s.session_id";

impl Database {
    /// Records a shopper's entry. Opening the same session again changes nothing.
    pub async fn open_session(
        &self,
        session_id: &str,
        account_id: &str,
        gate: &str,
        at_ms: i64,
    ) -> Result<(), BillingError> {
        validate_id("session_id", session_id)?;
        validate_id("account_id", account_id)?;
        validate_id("gate", gate)?;
        let sql = "INSERT INTO shop_sessions (session_id, account_id, gate, opened_at_ms) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO NOTHING";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(session_id)
            .bind(account_id)
            .bind(gate)
            .bind(at_ms)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Records a shelf event and moves its slot's stock (down for a pick, up for a put-back, never below
    /// zero) in one transaction. Returns false when the event had been recorded before: nothing changes.
    pub async fn record_event(&self, event: &EventRecord) -> Result<bool, BillingError> {
        event.validate()?;
        let delta = if event.kind == "pick" {
            -event.quantity
        } else {
            event.quantity
        };
        let inserted = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO session_events (event_id, session_id, kind, sku, slot, quantity, confidence, \
                 at_ms, camera, evidence_jpeg) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&event.event_id)
            .bind(&event.session_id)
            .bind(&event.kind)
            .bind(&event.sku)
            .bind(&event.slot)
            .bind(event.quantity)
            .bind(event.confidence)
            .bind(event.at_ms)
            .bind(&event.camera)
            .bind(&event.evidence_jpeg)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                sqlx::query(
                    "UPDATE inventory SET quantity = CASE WHEN quantity + $2 < 0 THEN 0 ELSE quantity + $2 END, \
                     updated_at_ms = $3 WHERE slot = $1",
                )
                .bind(&event.slot)
                .bind(delta)
                .bind(event.at_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<bool, sqlx::Error>(inserted)
        }.await)?;
        Ok(inserted)
    }

    /// Sets a slot's stock (the initial count, or a recount).
    pub async fn set_inventory(
        &self,
        slot: &str,
        sku: &str,
        quantity: i64,
    ) -> Result<(), BillingError> {
        validate_id("slot", slot)?;
        validate_id("sku", sku)?;
        if quantity < 0 {
            return Err(invalid(
                "quantity",
                format!("must not be negative (got {quantity})"),
            ));
        }
        let sql = "INSERT INTO inventory (slot, sku, quantity, updated_at_ms) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (slot) DO UPDATE SET sku = excluded.sku, quantity = excluded.quantity, \
                   updated_at_ms = excluded.updated_at_ms";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(slot)
            .bind(sku)
            .bind(quantity)
            .bind(crate::billing::unix_now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Every slot's stock, by slot.
    pub async fn inventory(&self) -> Result<Vec<InventoryRow>, BillingError> {
        let sql = "SELECT i.slot, i.sku, COALESCE(k.name, i.sku) AS name, i.quantity, i.updated_at_ms \
                   FROM inventory i LEFT JOIN skus k ON k.sku = i.sku ORDER BY i.slot";
        let rows =
            on_pool!(self, pool => sqlx::query_as::<_, InventoryRow>(sql).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Sessions, newest first, up to [`MAX_LIST`].
    pub async fn sessions(
        &self,
        filter: Option<SessionFilter>,
        store_currency: &str,
    ) -> Result<Vec<SessionSummary>, BillingError> {
        let condition = match filter {
            None => "",
            Some(SessionFilter::Live) => " WHERE c.session_id IS NULL",
            Some(SessionFilter::Closed) => " WHERE c.session_id IS NOT NULL",
            Some(SessionFilter::Review) => {
                " WHERE c.status = 'review' OR EXISTS (SELECT 1 FROM disputes d \
                 WHERE d.session_id = s.session_id AND d.status = 'open')"
            }
        };
        let sql = format!(
            "{SUMMARY_SELECT}{condition} ORDER BY s.opened_at_ms DESC, s.session_id LIMIT {MAX_LIST}"
        );
        let rows = on_pool!(self, pool => sqlx::query_as::<_, SummaryRow>(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(pool)
            .await)?;
        self.summaries(rows, store_currency).await
    }

    /// One session, `None` when Walkout has never seen it.
    pub async fn session(
        &self,
        session_id: &str,
        store_currency: &str,
    ) -> Result<Option<SessionSummary>, BillingError> {
        let sql = format!("{SUMMARY_SELECT} WHERE s.session_id = $1");
        let row = on_pool!(self, pool => sqlx::query_as::<_, SummaryRow>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(session_id)
            .fetch_optional(pool)
            .await)?;
        Ok(self
            .summaries(row.into_iter().collect(), store_currency)
            .await?
            .pop())
    }

    /// A session with its events, cart and audit trail.
    pub async fn session_detail(
        &self,
        session_id: &str,
        store_currency: &str,
    ) -> Result<Option<SessionDetail>, BillingError> {
        let Some(summary) = self.session(session_id, store_currency).await? else {
            return Ok(None);
        };
        let events_sql = "SELECT event_id, kind, sku, slot, quantity, confidence, at_ms, camera, \
                          CAST(CASE WHEN evidence_jpeg IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_evidence \
                          FROM session_events WHERE session_id = $1 ORDER BY at_ms, event_id";
        let events: Vec<EventRow> = on_pool!(self, pool => sqlx::query_as::<_, EventRow>(events_sql)
            .bind(session_id)
            .fetch_all(pool)
            .await)?;
        let events = events
            .into_iter()
            .map(|e| EventView {
                evidence_url: (e.has_evidence != 0).then(|| {
                    format!(
                        "/api/sessions/{session_id}/events/{}/evidence.jpg",
                        e.event_id
                    )
                }),
                event_id: e.event_id,
                kind: e.kind,
                sku: e.sku,
                slot: e.slot,
                quantity: e.quantity,
                confidence: e.confidence,
                at_ms: e.at_ms,
                camera: e.camera,
            })
            .collect();
        let cart = if summary.status == "live" {
            let nets = self.live_nets(Some(session_id)).await?;
            let prices = self.prices().await?;
            live_cart(nets.get(session_id), &prices)
        } else {
            self.final_cart(session_id).await?
        };
        let audit = self.audit(session_id).await?;
        Ok(Some(SessionDetail {
            summary,
            events,
            cart,
            audit,
        }))
    }

    /// An event's evidence picture, if the event is the session's and has one.
    pub async fn evidence(
        &self,
        session_id: &str,
        event_id: &str,
    ) -> Result<Option<Vec<u8>>, BillingError> {
        let sql =
            "SELECT evidence_jpeg FROM session_events WHERE session_id = $1 AND event_id = $2";
        let row = on_pool!(self, pool => sqlx::query_as::<_, EvidenceRow>(sql)
            .bind(session_id)
            .bind(event_id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.and_then(|r| r.evidence_jpeg))
    }

    /// The final cart's lines with product names.
    pub async fn final_cart(&self, session_id: &str) -> Result<Vec<CartLineView>, BillingError> {
        let sql = "SELECT l.sku, COALESCE(k.name, l.sku) AS name, l.quantity, l.unit_price_minor, l.line_total_minor \
                   FROM cart_lines l LEFT JOIN skus k ON k.sku = l.sku WHERE l.session_id = $1 ORDER BY l.sku";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, CartLineRow>(sql)
            .bind(session_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| CartLineView {
                sku: r.sku,
                name: r.name,
                quantity: r.quantity,
                unit_price_minor: r.unit_price_minor,
                line_total_minor: r.line_total_minor,
            })
            .collect())
    }

    /// A session's audit trail, oldest first.
    pub async fn audit(&self, session_id: &str) -> Result<Vec<AuditEntry>, BillingError> {
        let sql = "SELECT at_ms, actor, action, reason, detail FROM audit_log WHERE session_id = $1 ORDER BY id";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, AuditRow>(sql)
            .bind(session_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                at_ms: r.at_ms,
                actor: r.actor,
                action: r.action,
                reason: r.reason,
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    /// How many sessions are open and how many wait for review, for the metrics.
    pub async fn session_counts(&self) -> Result<(i64, i64), BillingError> {
        let open = "SELECT CAST(COUNT(*) AS BIGINT) FROM shop_sessions s \
                    WHERE NOT EXISTS (SELECT 1 FROM carts c WHERE c.session_id = s.session_id)";
        let review = "SELECT CAST(COUNT(*) AS BIGINT) FROM carts c WHERE c.status = 'review' \
                      OR EXISTS (SELECT 1 FROM disputes d WHERE d.session_id = c.session_id AND d.status = 'open')";
        let open: i64 = on_pool!(self, pool => sqlx::query_scalar(open).fetch_one(pool).await)?;
        let review: i64 = on_pool!(self, pool => sqlx::query_scalar(review).fetch_one(pool).await)?;
        Ok((open, review))
    }

    async fn summaries(
        &self,
        rows: Vec<SummaryRow>,
        store_currency: &str,
    ) -> Result<Vec<SessionSummary>, BillingError> {
        let disputes_sql =
            "SELECT session_id, sku, reason FROM disputes WHERE status = 'open' ORDER BY id";
        let disputes: Vec<DisputeRow> = on_pool!(self, pool => sqlx::query_as::<_, DisputeRow>(disputes_sql)
            .fetch_all(pool)
            .await)?;
        let mut disputed: HashMap<String, Vec<String>> = HashMap::new();
        for d in disputes {
            disputed
                .entry(d.session_id)
                .or_default()
                .push(format!("disputed {}: {}", d.sku, d.reason));
        }
        let any_live = rows.iter().any(|r| r.status.is_none());
        let (nets, prices) = if any_live {
            (self.live_nets(None).await?, self.prices().await?)
        } else {
            (HashMap::new(), HashMap::new())
        };
        Ok(rows
            .into_iter()
            .map(|r| {
                // The pipeline's reasons matter while the session waits in review; afterwards its
                // audit trail tells what became of them.
                let mut reasons: Vec<String> = if r.status.as_deref() == Some("review") {
                    serde_json::from_str(&r.review_reasons).unwrap_or_default()
                } else {
                    Vec::new()
                };
                if let Some(more) = disputed.remove(&r.session_id) {
                    reasons.extend(more);
                }
                let (total_minor, items) = match r.status {
                    Some(_) => (r.total_minor.unwrap_or(0), r.items),
                    None => {
                        let cart = live_cart(nets.get(&r.session_id), &prices);
                        (
                            cart.iter().map(|l| l.line_total_minor).sum(),
                            cart.iter().map(|l| l.quantity).sum(),
                        )
                    }
                };
                SessionSummary {
                    session_id: r.session_id,
                    account_id: r.account_id,
                    gate: r.gate,
                    opened_at_ms: r.opened_at_ms,
                    closed_at_ms: r.closed_at_ms,
                    status: r.status.unwrap_or_else(|| "live".into()),
                    total_minor,
                    currency: r.currency.unwrap_or_else(|| store_currency.to_string()),
                    items,
                    review_reasons: reasons,
                }
            })
            .collect())
    }

    /// Net items per SKU of each live session (or of one), from its events.
    async fn live_nets(
        &self,
        session_id: Option<&str>,
    ) -> Result<HashMap<String, BTreeMap<String, i64>>, BillingError> {
        let sql = "SELECT e.session_id, e.sku, \
                   CAST(SUM(CASE WHEN e.kind = 'pick' THEN e.quantity ELSE -e.quantity END) AS BIGINT) AS net \
                   FROM session_events e JOIN shop_sessions s ON s.session_id = e.session_id \
                   WHERE NOT EXISTS (SELECT 1 FROM carts c WHERE c.session_id = e.session_id) \
                   AND ($1 IS NULL OR e.session_id = $1) GROUP BY e.session_id, e.sku";
        let rows: Vec<NetRow> = on_pool!(self, pool => sqlx::query_as::<_, NetRow>(sql)
            .bind(session_id)
            .fetch_all(pool)
            .await)?;
        let mut nets: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
        for r in rows {
            nets.entry(r.session_id).or_default().insert(r.sku, r.net);
        }
        Ok(nets)
    }

    async fn prices(&self) -> Result<HashMap<String, (String, i64)>, BillingError> {
        let sql = "SELECT sku, name, price_minor FROM skus";
        let rows: Vec<PriceRow> =
            on_pool!(self, pool => sqlx::query_as::<_, PriceRow>(sql).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|r| (r.sku, (r.name, r.price_minor)))
            .collect())
    }
}

#[derive(Debug, sqlx::FromRow)]
struct CartLineRow {
    sku: String,
    name: String,
    quantity: i64,
    unit_price_minor: i64,
    line_total_minor: i64,
}

/// The live cart from a session's net counts: lines that hold items, priced from the catalog (a SKU not
/// in the catalog shows at price 0 rather than hiding the line).
fn live_cart(
    nets: Option<&BTreeMap<String, i64>>,
    prices: &HashMap<String, (String, i64)>,
) -> Vec<CartLineView> {
    nets.into_iter()
        .flatten()
        .filter(|(_, net)| **net > 0)
        .map(|(sku, net)| {
            let (name, price) = prices.get(sku).cloned().unwrap_or_else(|| (sku.clone(), 0));
            CartLineView {
                sku: sku.clone(),
                name,
                quantity: *net,
                unit_price_minor: price,
                line_total_minor: net.saturating_mul(price),
            }
        })
        .collect()
}
