//! Billing against both databases: closing writes the cart and its outbox row together, the relay settles
//! each charge once through a sandbox on a loopback socket, review holds a charge until approval, and the
//! HTTP routes answer bad input with a 4xx that says what was wrong.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use walkout_api::billing::{
    BillingError, ChargeRequest, ChargeResult, CloseRequest, LineRequest, Relay,
};
use walkout_api::checkin::CheckInTokens;
use walkout_api::sandbox::FailurePlan;
use walkout_api::signing::Secret;
use walkout_api::{AppState, Database, app};

use common::{
    Backend, CURRENCY, cart, database, fast_relay, key_for, keyed, seed_catalog, start_sandbox,
    wait_until,
};

fn close(account: &str, lines: &[(&str, i64)], review: bool) -> CloseRequest {
    CloseRequest {
        account_id: account.into(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| LineRequest {
                sku: (*sku).into(),
                quantity: *quantity,
            })
            .collect(),
        review,
    }
}

async fn outbox_rows(db: &Database) -> i64 {
    let sql = "SELECT COUNT(*) FROM charge_outbox";
    match db {
        Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

async fn close_claim_settle(backend: Backend) {
    let (db, _url, _dir) = database(backend, "close").await;
    seed_catalog(&db).await;
    let request = close("acct-1", &[("cola-330", 2), ("apple", 3)], false);
    let outcome = db
        .close_session("s-1", &request, CURRENCY, 1_000)
        .await
        .unwrap();
    assert_eq!(outcome.status, "pending");
    assert_eq!(outcome.total_minor, 2 * 129 + 3 * 45);
    assert!(!outcome.already_closed);

    // The same close again changes nothing; another cart for the same session is a conflict.
    let again = db
        .close_session("s-1", &request, CURRENCY, 2_000)
        .await
        .unwrap();
    assert!(again.already_closed);
    assert_eq!(outbox_rows(&db).await, 1);
    let other = close("acct-1", &[("cola-330", 1)], false);
    let err = db
        .close_session("s-1", &other, CURRENCY, 2_000)
        .await
        .unwrap_err();
    assert!(matches!(err, BillingError::Conflict(_)), "{err}");

    // Unknown SKUs and foreign currencies are refused before anything is written.
    let err = db
        .close_session(
            "s-2",
            &close("acct-2", &[("caviar", 1)], false),
            CURRENCY,
            1_000,
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "lines[0].sku: unknown SKU `caviar`");
    let err = db
        .close_session(
            "s-2",
            &close("acct-2", &[("apple", 1)], false),
            "USD",
            1_000,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("priced in EUR"), "{err}");
    assert_eq!(db.billing_status("s-2").await.unwrap(), None);

    // Claiming leases the row and counts the attempt; a leased row is not claimed twice.
    assert!(db.claim_due_charges(999, 10, 500).await.unwrap().is_empty());
    let claimed = db.claim_due_charges(1_000, 10, 500).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        db.claim_due_charges(1_200, 10, 500)
            .await
            .unwrap()
            .is_empty()
    );
    // The lease runs out (the relay died): the row is claimed again with the same key and body.
    let reclaimed = db.claim_due_charges(1_600, 10, 500).await.unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].attempts, 2);
    assert_eq!(reclaimed[0].idempotency_key, claimed[0].idempotency_key);
    assert_eq!(reclaimed[0].body, claimed[0].body);
    // The first, superseded attempt cannot reschedule the row under the second one.
    db.reschedule_charge(&claimed[0], 1_700, "late")
        .await
        .unwrap();
    assert!(
        db.claim_due_charges(1_800, 10, 500)
            .await
            .unwrap()
            .is_empty()
    );

    let charge: ChargeRequest = serde_json::from_str(&reclaimed[0].body).unwrap();
    assert_eq!(charge.amount_minor, outcome.total_minor);
    let result = ChargeResult {
        charge_id: "ch_1".into(),
        status: "succeeded".into(),
        amount_minor: charge.amount_minor,
        currency: charge.currency.clone(),
    };
    assert!(db.settle_charge(&charge, &result, 1_900).await.unwrap());
    assert!(
        !db.settle_charge(&charge, &result, 2_000).await.unwrap(),
        "settles once"
    );
    let status = db.billing_status("s-1").await.unwrap().unwrap();
    assert_eq!(status.status, "charged");
    assert_eq!(status.charged_at_ms, Some(1_900));
    assert_eq!(status.attempts, Some(2));
    let receipt = db.receipt("s-1").await.unwrap().unwrap();
    assert_eq!(receipt.charge_id, "ch_1");
    assert_eq!(receipt.amount_minor, 2 * 129 + 3 * 45);
    assert_eq!(
        receipt
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect::<Vec<_>>(),
        vec![("apple", 3), ("cola-330", 2)]
    );
    assert!(
        db.claim_due_charges(10_000, 10, 500)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn close_claim_and_settle_on_sqlite() {
    close_claim_settle(Backend::Sqlite).await;
}

#[tokio::test]
async fn close_claim_and_settle_on_postgres() {
    close_claim_settle(Backend::Postgres).await;
}

/// A session in review is not charged until an operator approves it; then the relay charges it once.
async fn review_waits_for_approval(backend: Backend) {
    let (db, _url, _dir) = database(backend, "review").await;
    seed_catalog(&db).await;
    let (sandbox, addr) = start_sandbox(FailurePlan::default()).await;
    let relay = Relay::new(db.clone(), fast_relay(addr), common::secret()).unwrap();
    let stats = relay.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));

    let (plain, plain_total) = cart(1);
    db.close_session(
        "plain",
        &plain,
        CURRENCY,
        walkout_api::billing::unix_now_ms(),
    )
    .await
    .unwrap();
    let (mut doubtful, doubtful_total) = cart(2);
    doubtful.review = true;
    let outcome = db
        .close_session(
            "doubtful",
            &doubtful,
            CURRENCY,
            walkout_api::billing::unix_now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, "review");

    wait_until(
        "the plain session to be charged",
        Duration::from_secs(30),
        || async { db.billing_status("plain").await.unwrap().unwrap().status == "charged" },
    )
    .await;
    // Give the relay several more polls (20 ms each) in which it could wrongly send the held charge.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        db.billing_status("doubtful").await.unwrap().unwrap().status,
        "review"
    );
    assert_eq!(sandbox.charges().len(), 1);

    let err = db.approve_session("plain", "op-1", 0).await.unwrap_err();
    assert!(matches!(err, BillingError::Conflict(_)), "{err}");
    let err = db.approve_session("nobody", "op-1", 0).await.unwrap_err();
    assert!(matches!(err, BillingError::UnknownSession(_)), "{err}");
    db.approve_session("doubtful", "op-1", walkout_api::billing::unix_now_ms())
        .await
        .unwrap();
    wait_until(
        "the approved session to be charged",
        Duration::from_secs(30),
        || async { db.billing_status("doubtful").await.unwrap().unwrap().status == "charged" },
    )
    .await;
    let charges = sandbox.charges();
    assert_eq!(charges.len(), 2);
    let amount_of = |session: &str| {
        charges
            .iter()
            .find(|c| c.session_id == session)
            .map(|c| c.amount_minor)
    };
    assert_eq!(amount_of("plain"), Some(plain_total));
    assert_eq!(amount_of("doubtful"), Some(doubtful_total));
    // The relay counts a settlement just after committing it: wait for the count, not only the row.
    wait_until(
        "the relay to count both",
        Duration::from_secs(5),
        || async { stats.snapshot().settled == 2 },
    )
    .await;
    stop.send(()).unwrap();
    running.await.unwrap();
}

#[tokio::test]
async fn review_waits_for_approval_on_sqlite() {
    review_waits_for_approval(Backend::Sqlite).await;
}

#[tokio::test]
async fn review_waits_for_approval_on_postgres() {
    review_waits_for_approval(Backend::Postgres).await;
}

async fn call(state: &AppState, method: &str, uri: &str, body: Body) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", key_for(uri)))
        .body(body)
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
    (status, value)
}

fn error_text(value: &Value) -> String {
    value["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let (db, _url, _dir) = database(Backend::Sqlite, "http").await;
    seed_catalog(&db).await;
    let state = keyed(AppState::new(db, CURRENCY));

    let good = json!({ "account_id": "acct-1", "lines": [{ "sku": "apple", "quantity": 2 }] });
    let (status, body) = call(
        &state,
        "POST",
        "/api/sessions/s-1/close",
        Body::from(good.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["total_minor"], 90);
    let (status, _) = call(
        &state,
        "POST",
        "/api/sessions/s-1/close",
        Body::from(good.to_string()),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "closing again with the same cart is harmless"
    );

    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "/api/sessions/s-2/close",
            "{\"account_id\": ".into(),
            StatusCode::BAD_REQUEST,
            "EOF",
        ),
        (
            "/api/sessions/s-2/close",
            "[1, 2]".into(),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            "/api/sessions/s-2/close",
            json!({ "account_id": "a", "lines": [{ "sku": "apple", "quantity": -3 }] }).to_string(),
            StatusCode::BAD_REQUEST,
            "lines[0].quantity: must be between 1 and 10000 (got -3)",
        ),
        (
            "/api/sessions/s-2/close",
            json!({ "account_id": "a", "lines": [{ "sku": "apple", "quantity": 0 }] }).to_string(),
            StatusCode::BAD_REQUEST,
            "lines[0].quantity",
        ),
        (
            "/api/sessions/s-2/close",
            json!({ "account_id": "a", "lines": [{ "sku": "nope", "quantity": 1 }] }).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown SKU `nope`",
        ),
        (
            "/api/sessions/s-2/close",
            json!({ "account_id": "a", "lines": [], "card_number": "4242" }).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown field `card_number`",
        ),
        (
            "/api/sessions/s-2/close",
            json!({ "account_id": "a", "lines": [{ "sku": "apple", "quantity": 1e30 }] })
                .to_string(),
            StatusCode::BAD_REQUEST,
            "quantity",
        ),
        (
            "/api/sessions/s-1/close",
            json!({ "account_id": "acct-1", "lines": [{ "sku": "apple", "quantity": 5 }] })
                .to_string(),
            StatusCode::CONFLICT,
            "already closed with a different cart",
        ),
        (
            "/api/sessions/bad%20id/close",
            good.to_string(),
            StatusCode::BAD_REQUEST,
            "session_id",
        ),
        (
            "/api/sessions/ghost/approve",
            json!({ "operator": "op" }).to_string(),
            StatusCode::NOT_FOUND,
            "session `ghost` not found",
        ),
        (
            "/api/sessions/s-1/approve",
            json!({ "operator": "op" }).to_string(),
            StatusCode::CONFLICT,
            "not in review",
        ),
        (
            "/api/sessions/s-2/close",
            format!(
                "{{\"account_id\": \"a\", \"lines\": [], \"pad\": \"{}\"}}",
                "x".repeat(walkout_api::MAX_BODY_BYTES)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
    ];
    for (uri, body, expected, needle) in cases {
        let (status, value) = call(&state, "POST", uri, Body::from(body.clone())).await;
        let shown: String = body.chars().take(80).collect();
        assert_eq!(status, expected, "{uri} {shown}: {value}");
        assert!(
            error_text(&value).contains(needle) && !error_text(&value).is_empty(),
            "{uri} {shown}: `{needle}` not in {value}"
        );
    }
    for (uri, expected) in [
        ("/api/sessions/ghost/billing", StatusCode::NOT_FOUND),
        ("/api/sessions/ghost/receipt", StatusCode::NOT_FOUND),
        ("/api/sessions/s-1/receipt", StatusCode::NOT_FOUND),
        ("/api/sessions/s-1/billing", StatusCode::OK),
    ] {
        let (status, value) = call(&state, "GET", uri, Body::empty()).await;
        assert_eq!(status, expected, "{uri}: {value}");
    }
    // Nothing above was half-written.
    let (status, all) = call(&state, "GET", "/api/billing", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
}

fn check_in_tokens() -> CheckInTokens {
    CheckInTokens::new(
        Secret::new(b"check-in-secret-for-tests".to_vec()).unwrap(),
        120,
    )
}

/// The app's QR token admits its account once, at any gate, until it expires; anything else is refused.
async fn check_in_tokens_work_once(backend: Backend) {
    let (db, _url, _dir) = database(backend, "checkin").await;
    let (status, value) = call(
        &keyed(AppState::new(db.clone(), CURRENCY)),
        "POST",
        "/api/app/check-in-tokens",
        Body::from(json!({ "account_id": "acct-1" }).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{value}");

    let state = keyed(AppState::new(db, CURRENCY)).with_check_in_tokens(check_in_tokens());
    let (status, issued) = call(
        &state,
        "POST",
        "/api/app/check-in-tokens",
        Body::from(json!({ "account_id": "acct-1" }).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap().to_string();
    let scan = |token: &str| Body::from(json!({ "token": token }).to_string());

    let (status, record) = call(&state, "POST", "/api/gates/entry-1/check-ins", scan(&token)).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    assert_eq!(record["account_id"], "acct-1");
    assert_eq!(record["gate"], "entry-1");

    let (status, value) = call(&state, "POST", "/api/gates/entry-2/check-ins", scan(&token)).await;
    assert_eq!(status, StatusCode::CONFLICT, "replayed: {value}");
    assert!(error_text(&value).contains("already used"), "{value}");

    let expired = check_in_tokens()
        .issue("acct-1", walkout_api::signing::unix_now_secs() - 1_000)
        .unwrap()
        .token;
    let forged = state
        .check_in
        .as_ref()
        .unwrap()
        .issue("acct-1", walkout_api::signing::unix_now_secs())
        .unwrap()
        .token
        .replace("acct-1", "acct-2");
    let foreign_key = CheckInTokens::new(
        Secret::new(b"some-other-store-secret".to_vec()).unwrap(),
        120,
    )
    .issue("acct-1", walkout_api::signing::unix_now_secs())
    .unwrap()
    .token;
    for (what, token, needle) in [
        ("expired", expired.as_str(), "expired"),
        ("forged", forged.as_str(), "signature"),
        ("another store's", foreign_key.as_str(), "signature"),
        ("garbage", "not-a-token", "malformed"),
    ] {
        let (status, value) =
            call(&state, "POST", "/api/gates/entry-1/check-ins", scan(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {value}");
        assert!(error_text(&value).contains(needle), "{what}: {value}");
    }
    let (status, value) = call(
        &state,
        "POST",
        "/api/gates/entry-1/check-ins",
        Body::from("{\"token\": 5}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
}

#[tokio::test]
async fn check_in_tokens_work_once_on_sqlite() {
    check_in_tokens_work_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn check_in_tokens_work_once_on_postgres() {
    check_in_tokens_work_once(Backend::Postgres).await;
}

/// What the app shows: the live cart while in the store, the final cart at exit, the receipt once the
/// relay has charged it.
async fn app_follows_a_session_to_its_receipt(backend: Backend) {
    let (db, _url, _dir) = database(backend, "app").await;
    seed_catalog(&db).await;
    let (sandbox, addr) = start_sandbox(FailurePlan::default()).await;
    let state = keyed(AppState::new(db.clone(), CURRENCY));
    let relay = Relay::new(db.clone(), fast_relay(addr), common::secret())
        .unwrap()
        .with_waker(state.relay_wake.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));

    let (status, _) = call(&state, "GET", "/api/app/sessions/s-9/cart", Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let line = |sku: &str, quantity| LineRequest {
        sku: sku.into(),
        quantity,
    };
    db.update_live_cart("s-9", "acct-9", &[line("crisps", 1)], 1)
        .await
        .unwrap();
    db.update_live_cart("s-9", "acct-9", &[line("crisps", 2), line("apple", 1)], 2)
        .await
        .unwrap();
    let (status, live) = call(&state, "GET", "/api/app/sessions/s-9/cart", Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(live["status"], "open");
    assert_eq!(live["total_minor"], 2 * 199 + 45);
    assert_eq!(live["lines"][0]["sku"], "apple");

    let close = json!({ "account_id": "acct-9", "lines": [{ "sku": "crisps", "quantity": 2 }, { "sku": "apple", "quantity": 1 }] });
    let (status, closed) = call(
        &state,
        "POST",
        "/api/sessions/s-9/close",
        Body::from(close.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{closed}");
    let live_rows = {
        let sql = "SELECT COUNT(*) FROM live_carts";
        match &db {
            Database::Sqlite(pool) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .unwrap(),
            Database::Postgres(pool) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    };
    assert_eq!(live_rows, 0, "closing drops the live cart");
    wait_until("the receipt", Duration::from_secs(30), || async {
        let (_, cart) = call(&state, "GET", "/api/app/sessions/s-9/cart", Body::empty()).await;
        cart["status"] == "charged"
    })
    .await;
    let (_, cart) = call(&state, "GET", "/api/app/sessions/s-9/cart", Body::empty()).await;
    assert_eq!(cart["total_minor"], 2 * 199 + 45, "{cart}");
    assert_eq!(cart["receipt"]["amount_minor"], 2 * 199 + 45, "{cart}");
    assert_eq!(
        cart["receipt"]["charge_id"].as_str(),
        Some(sandbox.charges()[0].charge_id.as_str())
    );
    let (status, receipt) = call(&state, "GET", "/api/sessions/s-9/receipt", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receipt, cart["receipt"]);
    stop.send(()).unwrap();
    running.await.unwrap();
}

#[tokio::test]
async fn app_follows_a_session_to_its_receipt_on_sqlite() {
    app_follows_a_session_to_its_receipt(Backend::Sqlite).await;
}

#[tokio::test]
async fn app_follows_a_session_to_its_receipt_on_postgres() {
    app_follows_a_session_to_its_receipt(Backend::Postgres).await;
}

/// Two closes of the same session racing each other write one cart and one outbox row.
async fn racing_closes_write_once(backend: Backend) {
    let (db, _url, _dir) = database(backend, "race").await;
    seed_catalog(&db).await;
    let state = keyed(AppState::new(db.clone(), CURRENCY));
    let body = json!({ "account_id": "acct-1", "lines": [{ "sku": "sandwich", "quantity": 1 }] })
        .to_string();
    let calls = (0..8).map(|_| {
        let state = state.clone();
        let body = body.clone();
        tokio::spawn(async move {
            call(
                &state,
                "POST",
                "/api/sessions/s-race/close",
                Body::from(body),
            )
            .await
            .0
        })
    });
    let mut statuses = Vec::new();
    for handle in calls.collect::<Vec<_>>() {
        statuses.push(handle.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(outbox_rows(&db).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_closes_write_once_on_sqlite() {
    racing_closes_write_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_closes_write_once_on_postgres() {
    racing_closes_write_once(Backend::Postgres).await;
}

/// A lane scale's reading goes to the pipeline's listener; a slot with no scale, a pipeline that is not
/// there or not taking input, and a reading that is no weight are refused, each with its reason.
#[tokio::test]
async fn scale_readings_reach_the_pipeline_or_are_refused_with_a_reason() {
    use std::sync::{Arc, Mutex};
    use walkout_api::ScaleRefusal;
    let (db, _url, _dir) = database(Backend::Sqlite, "scales").await;
    let reading = |grams: &str| Body::from(format!("{{\"delta_g\": {grams}}}"));
    let unwired = keyed(AppState::new(db.clone(), CURRENCY));
    let (status, value) = call(
        &unwired,
        "POST",
        "/api/slots/A1-1/scale-readings",
        reading("-350.5"),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{value}");

    let taken: Arc<Mutex<Vec<(String, f64)>>> = Arc::default();
    let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = {
        let (taken, busy) = (taken.clone(), busy.clone());
        Arc::new(move |slot: &str, grams: f64| {
            if slot != "A1-1" {
                return Err(ScaleRefusal::UnknownSlot);
            }
            if busy.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ScaleRefusal::Busy);
            }
            taken.lock().unwrap().push((slot.to_string(), grams));
            Ok(())
        })
    };
    let state = keyed(AppState::new(db, CURRENCY)).with_scale_listener(listener);
    let (status, value) = call(
        &state,
        "POST",
        "/api/slots/A1-1/scale-readings",
        reading("-350.5"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{value}");
    assert_eq!(value["delta_g"], -350.5);
    assert_eq!(*taken.lock().unwrap(), vec![("A1-1".to_string(), -350.5)]);

    let (status, value) = call(
        &state,
        "POST",
        "/api/slots/Z9-9/scale-readings",
        reading("12"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{value}");
    assert!(error_text(&value).contains("Z9-9"), "{value}");
    for bad in ["1e300", "\"heavy\""] {
        let (status, value) = call(
            &state,
            "POST",
            "/api/slots/A1-1/scale-readings",
            reading(bad),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {value}");
        assert!(error_text(&value).contains("delta_g"), "{bad}: {value}");
    }
    busy.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, value) = call(
        &state,
        "POST",
        "/api/slots/A1-1/scale-readings",
        reading("-1"),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{value}");
    assert_eq!(
        taken.lock().unwrap().len(),
        1,
        "nothing refused reached the pipeline"
    );
}
