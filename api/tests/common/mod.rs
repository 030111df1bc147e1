//! Helpers shared by the billing tests: databases on both backends, a catalog, a sandbox on a loopback
//! socket, and waiting for a condition.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use walkout_api::billing::{CloseRequest, LineRequest, RelayConfig};
use walkout_api::sandbox::{FailurePlan, Sandbox, SandboxConfig};
use walkout_api::signing::Secret;
use walkout_api::{Database, Sku};

pub const SECRET: &[u8] = b"test-secret-0123456789abcdef";
/// The test API keys (a real server reads them from the environment).
pub const INGEST_KEY: &str = "ingest-key-for-tests-0123";
pub const APP_KEY: &str = "app-key-for-tests-0123456";

/// The state with the test API keys and non-`Secure` cookies (tests speak plain HTTP).
pub fn keyed(state: walkout_api::AppState) -> walkout_api::AppState {
    use walkout_api::{ApiKeys, Scope};
    state
        .with_api_keys(
            ApiKeys::new()
                .with_key(Scope::Ingest, INGEST_KEY)
                .with_key(Scope::App, APP_KEY),
        )
        .with_secure_cookies(false)
}

/// The key a machine would send for a billing or app route.
pub fn key_for(uri: &str) -> &'static str {
    if uri.starts_with("/api/app/") || uri.ends_with("/receipt") || uri.starts_with("/api/skus") {
        APP_KEY
    } else {
        INGEST_KEY
    }
}
pub const CURRENCY: &str = "EUR";

pub fn secret() -> Secret {
    Secret::new(SECRET.to_vec()).unwrap()
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database; the SQLite file lives as long as the returned guard.
pub async fn database(
    backend: Backend,
    tag: &str,
) -> (Database, String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("walkout.db").display());
            (Database::connect(&url).await.unwrap(), url, Some(dir))
        }
        Backend::Postgres => {
            let url = postgres_schema_url(tag).await;
            (Database::connect(&url).await.unwrap(), url, None)
        }
    }
}

/// A URL for a schema of its own on the shared test cluster, so that tests running in parallel (here and
/// in other test binaries) never see each other's rows.
pub async fn postgres_schema_url(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = std::env::var("WALKOUT_TEST_POSTGRES_URL").expect(
        "WALKOUT_TEST_POSTGRES_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL",
    );
    let schema = format!(
        "t_{tag}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let pool = sqlx::PgPool::connect(&base)
        .await
        .expect("postgres connects");
    // The schema name is built from a test tag and numbers only.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options[search_path]={schema}")
}

/// The test catalog: SKU code and unit price.
pub const CATALOG: [(&str, i64); 5] = [
    ("apple", 45),
    ("cola-330", 129),
    ("crisps", 199),
    ("sandwich", 450),
    ("water-500", 89),
];

pub async fn seed_catalog(db: &Database) {
    for (sku, price_minor) in CATALOG {
        db.upsert_sku(&Sku {
            sku: sku.into(),
            name: format!("Product {sku}"),
            price_minor,
            currency: CURRENCY.into(),
        })
        .await
        .unwrap();
    }
}

/// A varied cart for session number `n`, and its total.
pub fn cart(n: usize) -> (CloseRequest, i64) {
    let mut lines = Vec::new();
    let mut total = 0;
    for (i, (sku, price)) in CATALOG.iter().enumerate() {
        let quantity = ((n + i * 7) % 4) as i64;
        if quantity > 0 {
            lines.push(LineRequest {
                sku: (*sku).into(),
                quantity,
            });
            total += quantity * price;
        }
    }
    if lines.is_empty() {
        lines.push(LineRequest {
            sku: "apple".into(),
            quantity: 1,
        });
        total = 45;
    }
    (
        CloseRequest {
            account_id: format!("acct-{n}"),
            lines,
            review: false,
        },
        total,
    )
}

/// A sandbox serving on a free loopback port until the runtime ends.
pub async fn start_sandbox(failures: FailurePlan) -> (Sandbox, SocketAddr) {
    let mut config = SandboxConfig::new(secret());
    config.failures = failures;
    let sandbox = Sandbox::new(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = sandbox.clone();
    tokio::spawn(async move {
        walkout_api::sandbox::serve(listener, serving, std::future::pending())
            .await
            .unwrap();
    });
    (sandbox, addr)
}

/// Relay settings for tests: short timeouts and back-off, so failures cost milliseconds.
pub fn fast_relay(addr: SocketAddr) -> RelayConfig {
    RelayConfig {
        payments_url: format!("http://{addr}/charges"),
        timeout_ms: 200,
        concurrency: 16,
        backoff_base_ms: 5,
        backoff_max_ms: 100,
        lease_ms: 1_000,
        poll_interval_ms: 20,
    }
}

/// Polls `condition` until it holds, failing the test with `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `p`-th percentile (0..=100) of sorted values.
pub fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() - 1) * p).div_ceil(100);
    sorted[index.min(sorted.len() - 1)]
}

/// Every session in `totals` (session id to amount) was charged exactly once at the sandbox, for its
/// amount, with lines that add up to it, and its receipt records that very charge.
pub async fn assert_each_charged_once(
    db: &Database,
    sandbox: &Sandbox,
    totals: &std::collections::BTreeMap<String, i64>,
) {
    let charges = sandbox.charges();
    let mut by_session = std::collections::BTreeMap::new();
    for charge in &charges {
        assert!(
            by_session
                .insert(charge.session_id.clone(), charge)
                .is_none(),
            "{} charged twice",
            charge.session_id
        );
    }
    assert_eq!(charges.len(), totals.len());
    for (id, total) in totals {
        let charge = by_session[id];
        assert_eq!(charge.amount_minor, *total, "{id}");
        let lines: i64 = charge.lines.iter().map(|l| l.line_total_minor).sum();
        assert_eq!(lines, *total, "{id}");
        let receipt = db.receipt(id).await.unwrap().unwrap();
        assert_eq!(receipt.charge_id, charge.charge_id, "{id}");
        assert_eq!(receipt.amount_minor, *total, "{id}");
        assert_eq!(receipt.lines, charge.lines, "{id}");
    }
}
