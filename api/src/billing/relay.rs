//! The relay: drains the charge outbox into the payments service.
//!
//! Each turn leases the due rows (up to the free concurrency), sends each one on its own task and records
//! what came back. An unknown outcome (timeout, dropped connection, 5xx, a reply it cannot read) is sent
//! again after a jittered exponential back-off, with the same idempotency key and body, until it settles;
//! the payments service answers a repeat with the original charge. A relay killed at any point leaves at
//! worst a leased row, which is sent again when its lease runs out.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{BillingError, ChargeRequest, ChargeResult, ClaimedCharge, unix_now_ms};
use crate::Database;
use crate::signing::{self, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, Secret, TIMESTAMP_HEADER};

/// How the relay reaches the payments service and paces its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// The payments service's charge endpoint, e.g. `https://pay.example/charges`.
    pub payments_url: String,
    /// Longest wait for one charge call, connect to last byte.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Charges in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Delay before the first retry; doubles with each attempt, with jitter.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// Longest delay between two attempts.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// How long a claimed charge is reserved for the relay that claimed it. A relay that dies leaves its
    /// charges to be sent again after this; it must exceed `timeout_ms`.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// How often the outbox is checked when nothing wakes the relay sooner.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5_000
}
fn default_concurrency() -> usize {
    8
}
fn default_backoff_base_ms() -> u64 {
    500
}
fn default_backoff_max_ms() -> u64 {
    60_000
}
fn default_lease_ms() -> u64 {
    30_000
}
fn default_poll_interval_ms() -> u64 {
    250
}

impl RelayConfig {
    /// The defaults, for a payments service at `payments_url`.
    pub fn new(payments_url: impl Into<String>) -> RelayConfig {
        RelayConfig {
            payments_url: payments_url.into(),
            timeout_ms: default_timeout_ms(),
            concurrency: default_concurrency(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            lease_ms: default_lease_ms(),
            poll_interval_ms: default_poll_interval_ms(),
        }
    }

    /// Every problem at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !(self.payments_url.starts_with("http://") || self.payments_url.starts_with("https://"))
        {
            problems.push(format!(
                "payments_url: `{}` is not an http(s) URL",
                self.payments_url
            ));
        }
        if self.timeout_ms == 0 {
            problems.push("timeout_ms: must be positive".into());
        }
        if self.concurrency == 0 {
            problems.push("concurrency: must be at least 1".into());
        }
        if self.backoff_base_ms == 0 || self.backoff_max_ms < self.backoff_base_ms {
            problems.push("backoff_base_ms, backoff_max_ms: need 0 < base <= max".into());
        }
        if self.lease_ms <= self.timeout_ms {
            problems.push(format!(
                "lease_ms: {} must exceed timeout_ms ({}), or a slow call could be sent twice at once",
                self.lease_ms, self.timeout_ms
            ));
        }
        if self.poll_interval_ms == 0 {
            problems.push("poll_interval_ms: must be positive".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The back-off before attempt `attempts + 1`: exponential, capped, half of it random.
    fn backoff_ms(&self, attempts: i64, random: u64) -> u64 {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let full = self
            .backoff_base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.backoff_max_ms);
        let half = full / 2;
        half + random % (full - half + 1)
    }
}

/// What the relay has done, by outcome; each counter also has a log line.
#[derive(Debug, Default)]
pub struct RelayStats {
    attempts: AtomicU64,
    settled: AtomicU64,
    refused: AtomicU64,
    retried_timeout: AtomicU64,
    retried_connection: AtomicU64,
    retried_server_error: AtomicU64,
    retried_other: AtomicU64,
}

/// A copy of [`RelayStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RelayStatsSnapshot {
    /// Calls made to the payments service.
    pub attempts: u64,
    /// Charges recorded as settled by this relay.
    pub settled: u64,
    /// Charges the payments service refused for good.
    pub refused: u64,
    /// Calls that timed out, to be sent again.
    pub retried_timeout: u64,
    /// Calls whose connection failed or dropped, to be sent again.
    pub retried_connection: u64,
    /// Calls answered 5xx, to be sent again.
    pub retried_server_error: u64,
    /// Calls answered with a 4xx other than 402 and 422, or with an unreadable reply, to be sent again.
    pub retried_other: u64,
}

impl RelayStats {
    pub fn snapshot(&self) -> RelayStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RelayStatsSnapshot {
            attempts: get(&self.attempts),
            settled: get(&self.settled),
            refused: get(&self.refused),
            retried_timeout: get(&self.retried_timeout),
            retried_connection: get(&self.retried_connection),
            retried_server_error: get(&self.retried_server_error),
            retried_other: get(&self.retried_other),
        }
    }
}

/// The outcome of one call.
#[derive(Debug)]
enum Outcome {
    Settled(ChargeResult),
    Unknown(RetryKind, String),
    Refused(String),
}

#[derive(Debug, Clone, Copy)]
enum RetryKind {
    Timeout,
    Connection,
    ServerError,
    Other,
}

/// The running relay's parts, shared by its send tasks.
#[derive(Debug)]
struct Inner {
    db: Database,
    config: RelayConfig,
    secret: Secret,
    client: reqwest::Client,
    stats: Arc<RelayStats>,
    jitter: AtomicU64,
}

/// The billing relay. Build it, keep [`Relay::stats`] and [`Relay::waker`] if wanted, then [`Relay::run`].
#[derive(Debug)]
pub struct Relay {
    inner: Arc<Inner>,
    wake: Arc<Notify>,
}

impl Relay {
    pub fn new(db: Database, config: RelayConfig, secret: Secret) -> Result<Relay, BillingError> {
        config
            .validate()
            .map_err(|problems| BillingError::Config(problems.join("; ")))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| BillingError::Config(format!("HTTP client: {e}")))?;
        let seed = u64::try_from(unix_now_ms()).unwrap_or(0) ^ u64::from(std::process::id());
        Ok(Relay {
            inner: Arc::new(Inner {
                db,
                config,
                secret,
                client,
                stats: Arc::new(RelayStats::default()),
                jitter: AtomicU64::new(seed),
            }),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Counters of what the relay did.
    pub fn stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.inner.stats)
    }

    /// Notify this to make the relay look at the outbox now (after a close or an approval).
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Uses `wake` as this relay's waker, so that an [`crate::AppState`] built earlier wakes it.
    pub fn with_waker(mut self, wake: Arc<Notify>) -> Relay {
        self.wake = wake;
        self
    }

    /// Runs until `shutdown` completes, then gives the calls in flight up to `timeout_ms` to finish and be
    /// recorded. Any still unfinished are abandoned: their rows stay leased and are sent again, safely,
    /// after the lease.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let poll = Duration::from_millis(self.inner.config.poll_interval_ms);
        let mut in_flight: JoinSet<()> = JoinSet::new();
        loop {
            let free = self
                .inner
                .config
                .concurrency
                .saturating_sub(in_flight.len());
            if free > 0 {
                match self.claim(free).await {
                    Ok(claimed) => {
                        for charge in claimed {
                            let inner = Arc::clone(&self.inner);
                            in_flight.spawn(async move { inner.send_and_record(charge).await });
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "billing relay: reading the outbox failed")
                    }
                }
            }
            let at_capacity = in_flight.len() >= self.inner.config.concurrency;
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = self.wake.notified(), if !at_capacity => {}
                _ = tokio::time::sleep(poll), if !at_capacity => {}
            }
        }
        let grace = Duration::from_millis(self.inner.config.timeout_ms.saturating_add(1_000));
        let drained = tokio::time::timeout(grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = in_flight.len(),
                "billing relay: calls still in flight at shutdown are left to their lease"
            );
        }
        in_flight.abort_all();
    }

    async fn claim(&self, free: usize) -> Result<Vec<ClaimedCharge>, BillingError> {
        let config = &self.inner.config;
        self.inner
            .db
            .claim_due_charges(
                unix_now_ms(),
                i64::try_from(free).unwrap_or(i64::MAX),
                i64::try_from(config.lease_ms).unwrap_or(i64::MAX),
            )
            .await
    }
}

impl Inner {
    async fn send_and_record(&self, claimed: ClaimedCharge) {
        let session_id = claimed.session_id.clone();
        if let Err(err) = self.try_send_and_record(&claimed).await {
            // The row keeps its lease and is sent again when the lease runs out.
            tracing::warn!(session = %session_id, error = %err, "billing relay: recording a charge failed");
        }
    }

    async fn try_send_and_record(&self, claimed: &ClaimedCharge) -> Result<(), BillingError> {
        let charge: ChargeRequest = serde_json::from_str(&claimed.body)
            .map_err(|e| BillingError::Corrupt(format!("outbox body: {e}")))?;
        if let Err(reason) = charge.check_totals() {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::error!(session = %claimed.session_id, %reason, "billing relay: the frozen charge does not add up; not sending it");
            return self
                .db
                .fail_charge(claimed, &format!("totals: {reason}"))
                .await;
        }
        self.stats.attempts.fetch_add(1, Ordering::Relaxed);
        match self.send(claimed, &charge).await {
            Outcome::Settled(result) => {
                if self
                    .db
                    .settle_charge(&charge, &result, unix_now_ms())
                    .await?
                {
                    self.stats.settled.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(session = %claimed.session_id, charge = %result.charge_id,
                        amount_minor = result.amount_minor, attempts = claimed.attempts, "charge settled");
                }
                Ok(())
            }
            Outcome::Unknown(kind, detail) => {
                let counter = match kind {
                    RetryKind::Timeout => &self.stats.retried_timeout,
                    RetryKind::Connection => &self.stats.retried_connection,
                    RetryKind::ServerError => &self.stats.retried_server_error,
                    RetryKind::Other => &self.stats.retried_other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let delay_ms = self.config.backoff_ms(claimed.attempts, self.next_random());
                if matches!(kind, RetryKind::Other) {
                    // Not a passing failure: something needs fixing (a secret, a clock, a URL).
                    tracing::warn!(session = %claimed.session_id, attempt = claimed.attempts, %detail,
                        delay_ms, "the payments service did not take the charge; retrying with the same key");
                } else {
                    tracing::info!(session = %claimed.session_id, attempt = claimed.attempts, ?kind, %detail,
                        delay_ms, "charge outcome unknown; retrying with the same key");
                }
                let next =
                    unix_now_ms().saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
                self.db.reschedule_charge(claimed, next, &detail).await
            }
            Outcome::Refused(detail) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::error!(session = %claimed.session_id, %detail, "the payments service refused the charge");
                self.db.fail_charge(claimed, &detail).await
            }
        }
    }

    async fn send(&self, claimed: &ClaimedCharge, charge: &ChargeRequest) -> Outcome {
        let timestamp_secs = signing::unix_now_secs();
        let signature = signing::sign(&self.secret, timestamp_secs, claimed.body.as_bytes());
        let sent = self
            .client
            .post(&self.config.payments_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, &claimed.idempotency_key)
            .header(TIMESTAMP_HEADER, timestamp_secs.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(claimed.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return Outcome::Unknown(classify(&err), error_chain(&err)),
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(err) => return Outcome::Unknown(classify(&err), error_chain(&err)),
        };
        let text = || {
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        };
        if status.is_success() {
            return match serde_json::from_slice::<ChargeResult>(&body) {
                Ok(result)
                    if result.status == "succeeded"
                        && result.amount_minor == charge.amount_minor
                        && result.currency == charge.currency =>
                {
                    Outcome::Settled(result)
                }
                Ok(result) => Outcome::Refused(format!(
                    "the payments service answered {status} with status `{}`, amount {} {}",
                    result.status, result.amount_minor, result.currency
                )),
                Err(err) => Outcome::Unknown(
                    RetryKind::Other,
                    format!("unreadable reply ({status}): {err}"),
                ),
            };
        }
        let detail = format!("HTTP {status}: {}", text());
        match status.as_u16() {
            500..=599 => Outcome::Unknown(RetryKind::ServerError, detail),
            // Declined, or refused as a charge: the shopper's case, for an operator.
            402 | 422 => Outcome::Refused(detail),
            // Everything else (a bad signature or clock, a wrong URL, throttling, a concurrent call on the
            // same key) is Walkout's or the network's trouble, never a reason to drop a shopper's charge:
            // keep it queued, with the error on the row, until it is fixed.
            _ => Outcome::Unknown(RetryKind::Other, detail),
        }
    }

    fn next_random(&self) -> u64 {
        splitmix64(
            self.jitter
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed),
        )
    }
}

fn classify(err: &reqwest::Error) -> RetryKind {
    if err.is_timeout() {
        RetryKind::Timeout
    } else if err.is_connect() || err.is_request() || err.is_body() || err.is_decode() {
        RetryKind::Connection
    } else {
        RetryKind::Other
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A small, well-mixed hash of a counter: jitter needs spread, not secrecy.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs the relay on its own runtime until Ctrl-C or SIGTERM: what `walkout billing-relay` calls.
pub fn run_blocking(
    database_url: &str,
    config: RelayConfig,
    secret: Secret,
) -> Result<(), BillingError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BillingError::Config(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let db = Database::connect(database_url).await?;
        let relay = Relay::new(db.clone(), config, secret)?;
        tracing::info!("billing relay running");
        relay.run(crate::shutdown_signal()).await;
        db.close().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut config = RelayConfig::new("http://127.0.0.1:1/charges");
        config.backoff_base_ms = 100;
        config.backoff_max_ms = 1_000;
        for random in [0, 1, 77, u64::MAX] {
            let first = config.backoff_ms(1, random);
            assert!((50..=100).contains(&first), "{first}");
            let third = config.backoff_ms(3, random);
            assert!((200..=400).contains(&third), "{third}");
            let late = config.backoff_ms(40, random);
            assert!((500..=1_000).contains(&late), "{late}");
        }
        assert_ne!(config.backoff_ms(5, 1), config.backoff_ms(5, 2));
    }

    #[test]
    fn a_lease_shorter_than_the_timeout_is_refused() {
        let mut config = RelayConfig::new("ftp://pay");
        config.lease_ms = config.timeout_ms;
        let problems = config.validate().err().unwrap_or_default();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("payments_url"));
        assert!(problems[1].starts_with("lease_ms"));
    }
}
