//! Billing: a closed session's cart becomes a charge at the payments service, exactly once.
//!
//! Closing a session writes the priced cart and an outbox row in one transaction
//! ([`Database::close_session`](crate::Database::close_session)). The [`relay`] drains the outbox: it sends each charge with an idempotency key that never changes for the
//! session and a fresh signature, retries every unknown outcome (timeout, dropped connection, 5xx) with
//! back-off and jitter, and records the receipt when the charge settles. Sessions in review wait in the
//! outbox, held, until an operator approves them.
//!
//! Walkout never sees card data: the payments service holds the payment methods, and a charge names only
//! the payments service's account id.
//!
//! Wiring, in the server: build the [`crate::AppState`], then
//! `Relay::new(db, config, secret)?.with_waker(state.relay_wake.clone())` and spawn its
//! [`Relay::run`] with the server's shutdown future; close the pipeline's sessions with
//! [`CloseRequest::from_session`] and [`Database::close_session`](crate::Database::close_session). The
//! relay can also run as its own process (`walkout billing-relay`) on the same database.

mod live;
pub mod relay;
mod store;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::DbError;

pub use live::AppCart;
pub use relay::{Relay, RelayConfig, RelayStats, RelayStatsSnapshot};
pub use store::{BillingStatus, ClaimedCharge, CloseOutcome};

/// Longest session, account or SKU id accepted.
pub const MAX_ID_LEN: usize = 128;
/// Most lines one cart may have.
pub const MAX_LINES: usize = 500;
/// Most items of one SKU on one line.
pub const MAX_QUANTITY: i64 = 10_000;

/// A session's final cart, as the pipeline (or an operator) hands it over at exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The shopper's account at the payments service: the only thing Walkout knows about how they pay.
    pub account_id: String,
    /// The final cart, one line per SKU; prices come from the catalog.
    pub lines: Vec<LineRequest>,
    /// The pipeline is unsure of this session: charge it only after an operator approves it.
    #[serde(default)]
    pub review: bool,
}

/// One line of a cart being closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// The catalog's SKU code.
    pub sku: String,
    /// Number of items, at least 1. Signed so that a negative count is reported, not misparsed.
    pub quantity: i64,
}

/// An operator's approval of a session in review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Who approved, for the audit trail.
    pub operator: String,
}

/// The body of a charge request to the payments service. Frozen at close: every attempt sends these
/// exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// The payments service's account to charge.
    pub account_id: String,
    /// The Walkout session this charge pays for.
    pub session_id: String,
    /// The total, in the currency's minor unit; always the sum of the lines.
    pub amount_minor: i64,
    /// ISO 4217 code: the store's one currency.
    pub currency: String,
    /// What was bought.
    pub lines: Vec<ChargeLine>,
}

/// One priced line of a charge and of its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeLine {
    /// The catalog's SKU code.
    pub sku: String,
    /// Number of items, at least 1.
    pub quantity: i64,
    /// Price of one item, in minor units.
    pub unit_price_minor: i64,
    /// `quantity × unit_price_minor`.
    pub line_total_minor: i64,
}

impl ChargeRequest {
    /// Checks that every line adds up and that the amount is the sum of the lines.
    pub fn check_totals(&self) -> Result<(), String> {
        let mut sum: i64 = 0;
        for (i, line) in self.lines.iter().enumerate() {
            if line.quantity < 1 || line.unit_price_minor < 0 {
                return Err(format!(
                    "lines[{i}]: quantity must be positive and price not negative"
                ));
            }
            let expected = line.quantity.checked_mul(line.unit_price_minor);
            if expected != Some(line.line_total_minor) {
                return Err(format!(
                    "lines[{i}].line_total_minor: {} is not {} × {}",
                    line.line_total_minor, line.quantity, line.unit_price_minor
                ));
            }
            sum = sum
                .checked_add(line.line_total_minor)
                .ok_or_else(|| "the total overflows".to_string())?;
        }
        if sum != self.amount_minor {
            return Err(format!(
                "amount_minor {} is not the sum of the lines ({sum})",
                self.amount_minor
            ));
        }
        Ok(())
    }
}

/// The payments service's answer to a charge that went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeResult {
    /// The payments service's id for the charge.
    pub charge_id: String,
    /// `succeeded` for a charge that went through.
    pub status: String,
    /// What was charged, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// What the shopper sees after the charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    pub session_id: String,
    pub charge_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub lines: Vec<ChargeLine>,
    pub charged_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("session `{0}`")]
    UnknownSession(String),
    #[error("{0}")]
    Conflict(String),
    #[error("relay configuration: {0}")]
    Config(String),
    #[error("stored billing data cannot be read: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for BillingError {
    fn from(err: sqlx::Error) -> Self {
        BillingError::Db(DbError::Query(err))
    }
}

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> BillingError {
    BillingError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks an id from a path or a body: non-empty, short, and plain (letters, digits, `-`, `_`, `.`, `:`).
pub fn validate_id(field: &str, id: &str) -> Result<(), BillingError> {
    if id.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(invalid(
            field,
            format!("must be at most {MAX_ID_LEN} bytes (got {})", id.len()),
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(invalid(
            field,
            "may hold only letters, digits, `-`, `_`, `.` and `:`",
        ));
    }
    Ok(())
}

impl CloseRequest {
    /// The close of a pipeline session: its account, its cart's lines that hold items, and review when the
    /// pipeline is unsure of anything in it.
    pub fn from_session(session: &walkout_pipeline::sessions::Session) -> CloseRequest {
        let cart = session.cart();
        CloseRequest {
            account_id: session.account.clone(),
            lines: cart
                .lines
                .iter()
                .filter(|(_, line)| line.quantity > 0)
                .map(|(sku, line)| LineRequest {
                    sku: sku.clone(),
                    quantity: i64::from(line.quantity),
                })
                .collect(),
            review: session.needs_review(),
        }
    }

    /// Why the pipeline wants an operator to look at a session, in words, for the review queue.
    pub fn review_reasons(session: &walkout_pipeline::sessions::Session) -> Vec<String> {
        use walkout_pipeline::sessions::ReviewReason as R;
        session
            .review
            .iter()
            .map(|reason| match reason {
                R::NoShopperAtCheckIn { gate } => {
                    format!("no shopper seen at gate {gate} at check-in")
                }
                R::AmbiguousCheckIn { candidates } => {
                    format!("check-in matched {} shoppers", candidates.len())
                }
                R::NearAnEmptyCheckIn { account } => format!(
                    "{account} checked in at the same gate moments apart and no shopper was found for them: this shopper may be theirs"
                ),
                R::LooseCheckIn { shopper, fit } => format!(
                    "the check-in went to shopper {shopper}, who passed the scanner {fit:.1} s off the scan: the one who scanned may have gone unseen"
                ),
                R::ShopperVanished { track } => {
                    format!("shopper (track {track}) lost before the exit")
                }
                R::LowConfidenceEvent { event, confidence } => {
                    format!("event {event} has low confidence ({confidence:.2})")
                }
                R::UncertainIdentity { event, tracks } => {
                    format!("event {event}: the shopper may be swapped with tracks {tracks:?}")
                }
                R::ContestedEvent {
                    event,
                    attributed_to,
                } => format!(
                    "event {event} went to shopper {attributed_to}, but this shopper's hand was near too"
                ),
                R::UnseenEventNearby { event, slot } => format!(
                    "event {event} at slot {slot} was seen by no shopper's hand, and this shopper was near"
                ),
                R::HeldItemPutBack {
                    event,
                    sku,
                    seen_with,
                } => format!(
                    "event {event}: a put-back of {sku} was seen with shopper {seen_with}, who held none; this shopper held it and was near"
                ),
                R::ShelfUnsettled { slots } => format!(
                    "the shopper left while slots {} were still being handled",
                    slots.join(", ")
                ),
                R::UnmatchedPut { sku } => format!("put-back of {sku} that was never picked"),
                R::Disputed { line } => format!("disputed: {line}"),
            })
            .collect()
    }

    /// Everything that can be checked without the catalog, reported as the first problem found.
    pub fn validate(&self) -> Result<(), BillingError> {
        validate_id("account_id", &self.account_id)?;
        if self.lines.len() > MAX_LINES {
            return Err(invalid(
                "lines",
                format!("at most {MAX_LINES} lines (got {})", self.lines.len()),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, line) in self.lines.iter().enumerate() {
            validate_id(&format!("lines[{i}].sku"), &line.sku)?;
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(invalid(
                    format!("lines[{i}].quantity"),
                    format!(
                        "must be between 1 and {MAX_QUANTITY} (got {})",
                        line.quantity
                    ),
                ));
            }
            if !seen.insert(line.sku.as_str()) {
                return Err(invalid(
                    format!("lines[{i}].sku"),
                    format!("`{}` appears on more than one line", line.sku),
                ));
            }
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: i64, unit: i64) -> ChargeLine {
        ChargeLine {
            sku: sku.into(),
            quantity,
            unit_price_minor: unit,
            line_total_minor: quantity * unit,
        }
    }

    #[test]
    fn totals_are_checked_against_the_lines() {
        let mut charge = ChargeRequest {
            account_id: "acct-1".into(),
            session_id: "s-1".into(),
            amount_minor: 2 * 129 + 45,
            currency: "EUR".into(),
            lines: vec![line("cola", 2, 129), line("apple", 1, 45)],
        };
        assert_eq!(charge.check_totals(), Ok(()));
        charge.amount_minor += 1;
        assert!(charge.check_totals().is_err());
        charge.amount_minor -= 1;
        charge.lines[0].line_total_minor = 250;
        assert!(charge.check_totals().is_err());
    }

    #[test]
    fn a_pipeline_session_closes_with_its_cart_and_goes_to_review_when_unsure() {
        use walkout_core::CaptureTime;
        use walkout_pipeline::cart::{EventKind, ShelfEvent};
        use walkout_pipeline::sessions::{ReviewReason, Session, SessionState};

        let event = |id: u64, sku: &str, kind: EventKind, quantity: u32| ShelfEvent {
            id,
            time: CaptureTime::from_unix_millis(id * 1_000),
            slot: "A1-1".into(),
            sku: sku.into(),
            kind,
            quantity,
            session: Some(7),
            confidence: 0.9,
            evidence: Vec::new(),
        };
        let mut session = Session {
            id: 7,
            account: "acct-7".into(),
            tracks: [3].into(),
            opened_at: CaptureTime::from_unix_millis(0),
            closed_at: Some(CaptureTime::from_unix_millis(60_000)),
            final_at: Some(CaptureTime::from_unix_millis(61_000)),
            state: SessionState::Closed,
            review: Vec::new(),
            events: vec![
                event(1, "cola", EventKind::Pick, 2),
                event(2, "apple", EventKind::Pick, 1),
                event(3, "apple", EventKind::Put, 1),
            ],
            corrections: Vec::new(),
        };
        let request = CloseRequest::from_session(&session);
        assert_eq!(request.account_id, "acct-7");
        assert_eq!(
            request.lines,
            vec![LineRequest {
                sku: "cola".into(),
                quantity: 2
            }]
        );
        assert!(!request.review);
        session
            .review
            .push(ReviewReason::ShopperVanished { track: 3 });
        assert!(CloseRequest::from_session(&session).review);
    }

    #[test]
    fn close_requests_report_the_field_at_fault() {
        let request = CloseRequest {
            account_id: "acct-1".into(),
            lines: vec![LineRequest {
                sku: "cola".into(),
                quantity: -2,
            }],
            review: false,
        };
        let err = request.validate().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("lines[0].quantity: must be between 1 and 10000 (got -2)")
        );
        assert!(validate_id("session_id", "s 1").is_err());
        assert!(validate_id("session_id", "").is_err());
        assert!(validate_id("session_id", "store-1:s-42").is_ok());
    }
}
