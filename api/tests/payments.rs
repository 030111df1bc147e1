//! The payments sandbox over real loopback sockets: idempotency keys and signatures, and a thousand
//! sessions charged through a sandbox that fails 30% of the calls.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use walkout_api::billing::{Relay, unix_now_ms};
use walkout_api::sandbox::{FailurePlan, SandboxCharge};
use walkout_api::signing::{
    IDEMPOTENCY_HEADER, SIGNATURE_HEADER, Secret, TIMESTAMP_HEADER, sign, unix_now_secs,
};

use common::{
    Backend, CURRENCY, assert_each_charged_once, cart, database, fast_relay, percentile,
    seed_catalog, start_sandbox, wait_until,
};

/// A charge for `quantity` colas at 1.29, whose amount is `amount_minor` (the right one is 129 each).
fn charge_body(session: &str, quantity: i64, amount_minor: i64) -> String {
    json!({
        "account_id": "acct-1",
        "session_id": session,
        "amount_minor": amount_minor,
        "currency": "EUR",
        "lines": [{
            "sku": "cola-330",
            "quantity": quantity,
            "unit_price_minor": 129,
            "line_total_minor": quantity * 129,
        }],
    })
    .to_string()
}

struct Call<'a> {
    key: Option<&'a str>,
    body: String,
    secret: Secret,
    timestamp_secs: i64,
    signed: bool,
}

impl Call<'_> {
    fn new(key: &str, body: String) -> Call<'_> {
        Call {
            key: Some(key),
            body,
            secret: common::secret(),
            timestamp_secs: unix_now_secs(),
            signed: true,
        }
    }
}

async fn post(client: &reqwest::Client, url: &str, call: Call<'_>) -> (u16, Value, bool) {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(call.body.clone());
    if let Some(key) = call.key {
        request = request.header(IDEMPOTENCY_HEADER, key);
    }
    if call.signed {
        request = request
            .header(TIMESTAMP_HEADER, call.timestamp_secs.to_string())
            .header(
                SIGNATURE_HEADER,
                sign(&call.secret, call.timestamp_secs, call.body.as_bytes()),
            );
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let bytes = response.bytes().await.unwrap();
    let value = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    (status, value, replayed)
}

#[tokio::test]
async fn sandbox_honours_idempotency_keys_and_checks_signatures() {
    let (sandbox, addr) = start_sandbox(FailurePlan::default()).await;
    let url = format!("http://{addr}/charges");
    let client = reqwest::Client::new();
    let body = charge_body("s-1", 2, 258);

    let (status, first, replayed) = post(&client, &url, Call::new("key-1", body.clone())).await;
    assert_eq!(status, 200, "{first}");
    assert!(!replayed);
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["amount_minor"], 258);

    // Same key, same body, signed again at another time: the original result, no new charge.
    let mut again = Call::new("key-1", body.clone());
    again.timestamp_secs -= 30;
    let (status, second, replayed) = post(&client, &url, again).await;
    assert_eq!((status, replayed), (200, true), "{second}");
    assert_eq!(second, first);

    // Same key, another body: refused.
    let (status, refused, _) = post(
        &client,
        &url,
        Call::new("key-1", charge_body("s-1", 3, 387)),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("different body"),
        "{refused}"
    );
    let (status, refused, _) = post(
        &client,
        &url,
        Call::new("key-1", charge_body("s-2", 2, 258)),
    )
    .await;
    assert_eq!(status, 422, "{refused}");

    // Signatures: another secret, a stale or future timestamp, no signature at all.
    let mut wrong_secret = Call::new("key-2", charge_body("s-2", 2, 258));
    wrong_secret.secret = Secret::new(b"not-the-shared-secret".to_vec()).unwrap();
    let mut stale = Call::new("key-2", charge_body("s-2", 2, 258));
    stale.timestamp_secs -= 301;
    let mut future = Call::new("key-2", charge_body("s-2", 2, 258));
    future.timestamp_secs += 301;
    let mut unsigned = Call::new("key-2", charge_body("s-2", 2, 258));
    unsigned.signed = false;
    for (what, call, needle) in [
        ("wrong secret", wrong_secret, "does not match"),
        ("stale", stale, "outside the 300 s window"),
        ("future", future, "outside the 300 s window"),
        ("unsigned", unsigned, "walkout-timestamp"),
    ] {
        let (status, value, _) = post(&client, &url, call).await;
        assert_eq!(status, 401, "{what}: {value}");
        assert!(
            value["error"].as_str().unwrap().contains(needle),
            "{what}: {value}"
        );
    }
    // A body changed after signing.
    let signed_at = unix_now_secs();
    let response = client
        .post(&url)
        .header(IDEMPOTENCY_HEADER, "key-3")
        .header(TIMESTAMP_HEADER, signed_at.to_string())
        .header(
            SIGNATURE_HEADER,
            sign(
                &common::secret(),
                signed_at,
                charge_body("s-3", 2, 258).as_bytes(),
            ),
        )
        .body(charge_body("s-3", 20, 2580))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    // Well signed but wrong in other ways.
    let mut no_key = Call::new("", charge_body("s-4", 2, 258));
    no_key.key = None;
    let (status, value, _) = post(&client, &url, no_key).await;
    assert_eq!(status, 400, "{value}");
    let (status, value, _) = post(&client, &url, Call::new("key-4", "{not json".into())).await;
    assert_eq!(status, 400, "{value}");
    let (status, value, _) = post(
        &client,
        &url,
        Call::new("key-5", charge_body("s-5", 2, 300)),
    )
    .await;
    assert_eq!(status, 422, "{value}");
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .contains("sum of the lines"),
        "{value}"
    );

    let listed = client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let listed: Vec<SandboxCharge> = serde_json::from_slice(&listed).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].charge_id, first["charge_id"].as_str().unwrap());
    assert_eq!(listed[0].idempotency_key, "key-1");
    let stats = sandbox.stats();
    assert_eq!((stats.charged, stats.replayed, stats.key_reuse), (1, 1, 2));
    assert_eq!(stats.bad_signatures, 5);
}

const SESSIONS: usize = 1_000;

async fn thousand_sessions_against_a_faulty_sandbox(backend: Backend) {
    let (db, _url, _dir) = database(backend, "faulty").await;
    seed_catalog(&db).await;
    let (sandbox, addr) = start_sandbox(FailurePlan {
        server_error_percent: 10,
        slow_percent: 10,
        slow_ms: 400,
        drop_after_commit_percent: 10,
        seed: 42,
    })
    .await;
    let relay = Relay::new(db.clone(), fast_relay(addr), common::secret()).unwrap();
    let stats = relay.stats();
    let wake = relay.waker();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    let mut totals = BTreeMap::new();
    for n in 0..SESSIONS {
        let (request, total) = cart(n);
        let id = format!("s-{n:04}");
        db.close_session(&id, &request, CURRENCY, unix_now_ms())
            .await
            .unwrap();
        wake.notify_one();
        totals.insert(id, total);
    }
    let closed_after = started.elapsed();
    wait_until(
        "every session charged",
        Duration::from_secs(120),
        || async {
            db.billing_statuses()
                .await
                .unwrap()
                .iter()
                .all(|s| s.status == "charged")
        },
    )
    .await;
    let charged_after = started.elapsed();
    stop.send(()).unwrap();
    running.await.unwrap();

    // Exactly once, and for the cart.
    assert_each_charged_once(&db, &sandbox, &totals).await;

    // Every failure mode happened and was retried.
    let sandbox_stats = sandbox.stats();
    let relay_stats = stats.snapshot();
    assert!(sandbox_stats.server_errors > 0 && sandbox_stats.slow > 0 && sandbox_stats.dropped > 0);
    assert!(sandbox_stats.replayed > 0, "{sandbox_stats:?}");
    assert!(relay_stats.retried_server_error > 0, "{relay_stats:?}");
    assert!(relay_stats.retried_timeout > 0, "{relay_stats:?}");
    assert!(relay_stats.retried_connection > 0, "{relay_stats:?}");
    assert_eq!(relay_stats.refused, 0, "{relay_stats:?}");
    assert_eq!(relay_stats.settled, SESSIONS as u64);

    let statuses = db.billing_statuses().await.unwrap();
    let mut exit_to_charge_ms: Vec<i64> = statuses
        .iter()
        .map(|s| s.charged_at_ms.unwrap() - s.closed_at_ms)
        .collect();
    exit_to_charge_ms.sort_unstable();
    let attempts: i64 = statuses.iter().map(|s| s.attempts.unwrap()).sum();
    println!(
        "faulty payments ({backend:?}): {SESSIONS} sessions closed in {:.2} s, all charged in {:.2} s; \
         {attempts} calls; sandbox {sandbox_stats:?}; relay {relay_stats:?}; \
         exit-to-charge p50 {} ms, p99 {} ms, max {} ms",
        closed_after.as_secs_f64(),
        charged_after.as_secs_f64(),
        percentile(&exit_to_charge_ms, 50),
        percentile(&exit_to_charge_ms, 99),
        exit_to_charge_ms.last().unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_through_a_faulty_sandbox_are_each_charged_once_on_sqlite() {
    thousand_sessions_against_a_faulty_sandbox(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_through_a_faulty_sandbox_are_each_charged_once_on_postgres() {
    thousand_sessions_against_a_faulty_sandbox(Backend::Postgres).await;
}

/// The relay's side of signatures and refusals: sent to a wrong URL or signed with the wrong secret,
/// nothing is charged and the charge stays queued (fixing it lets the charge through); a declined account
/// fails for good, uncharged.
#[tokio::test]
async fn wrong_urls_and_secrets_charge_nothing_and_declines_fail_the_session() {
    let (db, _url, _dir) = database(Backend::Sqlite, "refused").await;
    seed_catalog(&db).await;
    let (sandbox, addr) = start_sandbox(FailurePlan::default()).await;
    let (request, _) = cart(3);
    db.close_session("s-1", &request, CURRENCY, unix_now_ms())
        .await
        .unwrap();
    let (mut declined, _) = cart(4);
    declined.account_id = format!("{}4", walkout_api::sandbox::DECLINED_ACCOUNT_PREFIX);
    db.close_session("s-2", &declined, CURRENCY, unix_now_ms())
        .await
        .unwrap();

    // A wrong URL (404) is not the shopper's fault either: the charges stay queued.
    let mut misconfigured = fast_relay(addr);
    misconfigured.payments_url = format!("http://{addr}/no-such-path");
    let relay = Relay::new(db.clone(), misconfigured, common::secret()).unwrap();
    let stats = relay.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    wait_until("several 404s", Duration::from_secs(30), || async {
        stats.snapshot().retried_other >= 6
    })
    .await;
    stop.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(stats.snapshot().refused, 0);
    for session in ["s-1", "s-2"] {
        let status = db.billing_status(session).await.unwrap().unwrap();
        assert_eq!(status.status, "pending", "{session}");
        assert!(status.last_error.unwrap().contains("404"), "{session}");
    }

    let wrong = Secret::new(b"not-the-payments-secret".to_vec()).unwrap();
    let relay = Relay::new(db.clone(), fast_relay(addr), wrong).unwrap();
    let stats = relay.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    wait_until(
        "several refused signatures",
        Duration::from_secs(30),
        || async { sandbox.stats().bad_signatures >= 6 },
    )
    .await;
    stop.send(()).unwrap();
    running.await.unwrap();
    assert!(sandbox.charges().is_empty());
    let status = db.billing_status("s-1").await.unwrap().unwrap();
    assert_eq!(status.status, "pending");
    assert!(status.last_error.unwrap().contains("401"));
    assert_eq!(
        stats.snapshot().refused,
        0,
        "a bad signature is not the shopper's fault"
    );

    let relay = Relay::new(db.clone(), fast_relay(addr), common::secret()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    wait_until(
        "both sessions settled or failed",
        Duration::from_secs(30),
        || async {
            let all = db.billing_statuses().await.unwrap();
            all.iter()
                .all(|s| s.status == "charged" || s.status == "failed")
        },
    )
    .await;
    stop.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(
        db.billing_status("s-1").await.unwrap().unwrap().status,
        "charged"
    );
    let failed = db.billing_status("s-2").await.unwrap().unwrap();
    assert_eq!(failed.status, "failed");
    assert!(failed.last_error.unwrap().contains("declined"));
    assert_eq!(db.receipt("s-2").await.unwrap(), None);
    let charges = sandbox.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].session_id, "s-1");
}
