//! The dashboard's and the app's resources over HTTP, on both databases: sessions with their events,
//! evidence, carts and audit trails; stock; the review queue with approve and correct; disputes; retrying
//! a declined charge; the live view; metrics; and bad input answered 4xx naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use walkout_api::billing::{ChargeRequest, ChargeResult, unix_now_ms};
use walkout_api::live::{CameraStatus, LiveBox, LiveFrame, ShopperPosition, StoreLayout};
use walkout_api::{AppState, Database, EventRecord, Role, app};

use common::{APP_KEY, Backend, CURRENCY, INGEST_KEY, database, keyed, seed_catalog};

const PASSWORD: &str = "a long enough password";

#[derive(Clone)]
enum As {
    Operator { cookie: String, csrf: String },
    Key(&'static str),
}

struct Reply {
    status: StatusCode,
    content_type: String,
    bytes: Vec<u8>,
    json: Value,
}

async fn call(
    state: &AppState,
    who: &As,
    method: Method,
    uri: &str,
    body: Option<String>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    match who {
        As::Operator { cookie, csrf } => {
            request = request
                .header(header::COOKIE, cookie.as_str())
                .header("x-csrf-token", csrf.as_str());
        }
        As::Key(key) => request = request.header(header::AUTHORIZATION, format!("Bearer {key}")),
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body)),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        bytes,
        json,
    }
}

async fn get(state: &AppState, who: &As, uri: &str) -> Reply {
    call(state, who, Method::GET, uri, None).await
}

async fn post(state: &AppState, who: &As, uri: &str, body: Value) -> Reply {
    call(state, who, Method::POST, uri, Some(body.to_string())).await
}

async fn sign_in(state: &AppState, username: &str, role: Role) -> As {
    state
        .db
        .upsert_user(username, PASSWORD, role)
        .await
        .unwrap();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "username": username, "password": PASSWORD }).to_string(),
        ))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let me: Value = serde_json::from_slice(&bytes).unwrap();
    As::Operator {
        cookie,
        csrf: me["csrf_token"].as_str().unwrap().to_string(),
    }
}

fn event(
    id: &str,
    session: Option<&str>,
    kind: &str,
    sku: &str,
    slot: &str,
    quantity: i64,
) -> EventRecord {
    EventRecord {
        session_id: session.map(str::to_string),
        event_id: id.into(),
        kind: kind.into(),
        sku: sku.into(),
        slot: slot.into(),
        quantity,
        confidence: 0.875,
        at_ms: 1_000 + quantity,
        camera: Some("cam-1".into()),
        evidence_jpeg: None,
    }
}

/// Sends every due charge as if the payments service had accepted it.
async fn settle_due(db: &Database) -> Vec<String> {
    let claimed = db
        .claim_due_charges(unix_now_ms() + 1_000, 100, 10_000)
        .await
        .unwrap();
    let mut settled = Vec::new();
    for row in claimed {
        let charge: ChargeRequest = serde_json::from_str(&row.body).unwrap();
        let result = ChargeResult {
            charge_id: format!("ch-{}", row.session_id),
            status: "succeeded".into(),
            amount_minor: charge.amount_minor,
            currency: charge.currency.clone(),
        };
        assert!(
            db.settle_charge(&charge, &result, unix_now_ms())
                .await
                .unwrap()
        );
        settled.push(format!("{}={}", row.session_id, charge.amount_minor));
    }
    settled.sort();
    settled
}

fn inventory_of(reply: &Reply, slot: &str) -> i64 {
    reply
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["slot"] == slot)
        .unwrap()["quantity"]
        .as_i64()
        .unwrap()
}

async fn sessions_review_and_disputes(backend: Backend) {
    let (db, _url, _dir) = database(backend, "dash").await;
    seed_catalog(&db).await;
    let state = keyed(AppState::new(db.clone(), CURRENCY));
    let viewer = sign_in(&state, "vera", Role::Viewer).await;
    let reviewer = sign_in(&state, "rita", Role::Reviewer).await;
    let admin = sign_in(&state, "adam", Role::Admin).await;
    let app_key = As::Key(APP_KEY);

    // Stock, a session and its events; a repeated event moves nothing.
    db.set_inventory("A1-1", "apple", 10).await.unwrap();
    db.set_inventory("A1-2", "cola-330", 5).await.unwrap();
    db.open_session("s-1", "acct-1", "entry-1", 1_000)
        .await
        .unwrap();
    db.open_session("s-1", "acct-1", "entry-1", 1_000)
        .await
        .unwrap();
    let jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3];
    let mut pick = event("e-1", Some("s-1"), "pick", "apple", "A1-1", 2);
    pick.evidence_jpeg = Some(jpeg.clone());
    assert!(db.record_event(&pick).await.unwrap());
    assert!(!db.record_event(&pick).await.unwrap());
    assert!(
        db.record_event(&event("e-2", Some("s-1"), "put", "apple", "A1-1", 1))
            .await
            .unwrap()
    );
    assert!(
        db.record_event(&event("e-3", None, "pick", "cola-330", "A1-2", 9))
            .await
            .unwrap()
    );
    let stock = get(&state, &viewer, "/api/inventory").await;
    assert_eq!(stock.status, StatusCode::OK);
    assert_eq!(inventory_of(&stock, "A1-1"), 9);
    assert_eq!(
        inventory_of(&stock, "A1-2"),
        0,
        "stock never goes below zero"
    );
    assert_eq!(stock.json[0]["name"], "Product apple");

    let live = get(&state, &viewer, "/api/sessions?status=live").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json.as_array().unwrap().len(), 1);
    let s1 = &live.json[0];
    assert_eq!(s1["session_id"], "s-1");
    assert_eq!(s1["status"], "live");
    assert_eq!(s1["gate"], "entry-1");
    assert_eq!(s1["items"], 1);
    assert_eq!(s1["total_minor"], 45);
    assert_eq!(s1["currency"], CURRENCY);
    assert!(s1["closed_at_ms"].is_null());

    let detail = get(&state, &viewer, "/api/sessions/s-1").await;
    assert_eq!(detail.status, StatusCode::OK);
    let events = detail.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let with_evidence = events.iter().find(|e| e["event_id"] == "e-1").unwrap();
    assert_eq!(with_evidence["confidence"], 0.875);
    let url = with_evidence["evidence_url"].as_str().unwrap().to_string();
    assert!(events.iter().find(|e| e["event_id"] == "e-2").unwrap()["evidence_url"].is_null());
    assert_eq!(detail.json["cart"][0]["sku"], "apple");
    assert_eq!(detail.json["cart"][0]["quantity"], 1);
    assert_eq!(detail.json["cart"][0]["name"], "Product apple");
    let picture = get(&state, &viewer, &url).await;
    assert_eq!(picture.status, StatusCode::OK);
    assert_eq!(picture.content_type, "image/jpeg");
    assert_eq!(picture.bytes, jpeg);
    let none = get(&state, &viewer, "/api/sessions/s-1/events/e-2/evidence.jpg").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    // Close into review with the pipeline's reasons; correct it; it is charged as corrected.
    let close = |lines: Value, review: bool| {
        serde_json::from_value::<walkout_api::billing::CloseRequest>(
            json!({ "account_id": "acct-1", "lines": lines, "review": review }),
        )
        .unwrap()
    };
    db.close_session_with_reasons(
        "s-1",
        &close(json!([{ "sku": "apple", "quantity": 1 }]), true),
        &["event 1 has low confidence (0.40)".into()],
        CURRENCY,
        2_000,
    )
    .await
    .unwrap();
    db.close_session(
        "s-2",
        &close(json!([{ "sku": "crisps", "quantity": 1 }]), true),
        CURRENCY,
        2_100,
    )
    .await
    .unwrap();
    let queue = get(&state, &viewer, "/api/review").await;
    let ids: Vec<&str> = queue
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["s-2", "s-1"], "newest first");
    assert_eq!(
        queue.json[1]["review_reasons"],
        json!(["event 1 has low confidence (0.40)"])
    );
    assert_eq!(
        queue.json[0]["review_reasons"],
        json!(["flagged by the pipeline"])
    );
    assert_eq!(queue.json[1]["status"], "review");

    // A viewer may look but not act.
    let refused = post(&state, &viewer, "/api/review/s-1/approve", json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let corrected = post(
        &state,
        &reviewer,
        "/api/review/s-1/correct",
        json!({ "lines": [{ "sku": "apple", "quantity": 3 }, { "sku": "water-500", "quantity": 1 }], "reason": "the camera saw three apples" }),
    )
    .await;
    assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.json);
    assert_eq!(corrected.json["status"], "pending");
    assert_eq!(corrected.json["total_minor"], 3 * 45 + 89);
    let again = post(
        &state,
        &reviewer,
        "/api/review/s-1/correct",
        json!({ "lines": [], "reason": "again" }),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let approved = post(&state, &reviewer, "/api/review/s-2/approve", json!({})).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.json);
    assert_eq!(approved.json["status"], "pending");
    assert_eq!(
        settle_due(&db).await,
        vec![format!("s-1={}", 3 * 45 + 89), "s-2=199".to_string()],
        "the corrected cart is what is charged"
    );
    let detail = get(&state, &viewer, "/api/sessions/s-1").await;
    assert_eq!(detail.json["status"], "charged");
    assert_eq!(detail.json["items"], 4);
    let audit = &detail.json["audit"][0];
    assert_eq!(audit["actor"], "rita");
    assert_eq!(audit["action"], "correct");
    assert_eq!(audit["reason"], "the camera saw three apples");
    assert_eq!(audit["detail"]["before"]["total_minor"], 45);
    assert_eq!(audit["detail"]["after"]["total_minor"], 3 * 45 + 89);
    let s2 = get(&state, &viewer, "/api/sessions/s-2").await;
    assert_eq!(s2.json["audit"][0]["action"], "approve");
    assert_eq!(s2.json["audit"][0]["actor"], "rita");
    assert_eq!(get(&state, &viewer, "/api/review").await.json, json!([]));

    // The shopper disputes a line of the receipt; a reviewer corrects it and the refund is recorded.
    let bad = post(
        &state,
        &app_key,
        "/api/app/sessions/s-1/disputes",
        json!({ "sku": "crisps", "reason": "never took it" }),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json["error"].as_str().unwrap().starts_with("sku:"),
        "{}",
        bad.json
    );
    let disputed = post(
        &state,
        &app_key,
        "/api/app/sessions/s-1/disputes",
        json!({ "sku": "apple", "reason": "I took two apples" }),
    )
    .await;
    assert_eq!(disputed.status, StatusCode::CREATED, "{}", disputed.json);
    let queue = get(&state, &viewer, "/api/review").await;
    assert_eq!(queue.json[0]["session_id"], "s-1");
    assert_eq!(queue.json[0]["status"], "charged");
    assert_eq!(
        queue.json[0]["review_reasons"],
        json!(["disputed apple: I took two apples"])
    );
    let too_much = post(
        &state,
        &reviewer,
        "/api/review/s-1/correct",
        json!({ "lines": [{ "sku": "sandwich", "quantity": 9 }], "reason": "more" }),
    )
    .await;
    assert_eq!(
        too_much.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_much.json
    );
    let resolved = post(
        &state,
        &reviewer,
        "/api/review/s-1/correct",
        json!({ "lines": [{ "sku": "apple", "quantity": 2 }, { "sku": "water-500", "quantity": 1 }], "reason": "two apples on the evidence" }),
    )
    .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.json);
    assert_eq!(resolved.json["refund_minor"], 45);
    assert_eq!(get(&state, &viewer, "/api/review").await.json, json!([]));
    let detail = get(&state, &viewer, "/api/sessions/s-1").await;
    let actions: Vec<&str> = detail.json["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["correct", "dispute", "resolve-dispute"]);
    assert_eq!(detail.json["audit"][1]["actor"], "key:app");
    assert_eq!(detail.json["audit"][2]["detail"]["refund_minor"], 45);

    // A declined charge is retried by an admin under the same idempotency key.
    db.close_session(
        "s-3",
        &close(json!([{ "sku": "sandwich", "quantity": 1 }]), false),
        CURRENCY,
        3_000,
    )
    .await
    .unwrap();
    let claimed = db
        .claim_due_charges(unix_now_ms() + 1_000, 100, 10_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    db.fail_charge(&claimed[0], "card declined").await.unwrap();
    let not_admin = post(
        &state,
        &reviewer,
        "/api/sessions/s-3/retry-charge",
        json!({}),
    )
    .await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
    let retried = post(&state, &admin, "/api/sessions/s-3/retry-charge", json!({})).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.json);
    assert_eq!(retried.json["status"], "pending");
    let twice = post(&state, &admin, "/api/sessions/s-3/retry-charge", json!({})).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let again = db
        .claim_due_charges(unix_now_ms() + 1_000, 100, 10_000)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].idempotency_key, claimed[0].idempotency_key);
    assert_eq!(again[0].body, claimed[0].body);
    let s3 = get(&state, &viewer, "/api/sessions/s-3").await;
    assert_eq!(s3.json["audit"][0]["action"], "retry-charge");
    assert_eq!(s3.json["audit"][0]["actor"], "adam");

    let closed = get(&state, &viewer, "/api/sessions?status=closed").await;
    assert_eq!(closed.json.as_array().unwrap().len(), 3);
    assert_eq!(
        get(&state, &viewer, "/api/sessions?status=live").await.json,
        json!([])
    );
    assert_eq!(
        get(&state, &viewer, "/api/sessions")
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn sessions_review_and_disputes_on_sqlite() {
    sessions_review_and_disputes(Backend::Sqlite).await;
}

#[tokio::test]
async fn sessions_review_and_disputes_on_postgres() {
    sessions_review_and_disputes(Backend::Postgres).await;
}

#[tokio::test]
async fn the_live_view_and_metrics() {
    let (db, _url, _dir) = database(Backend::Sqlite, "live").await;
    let state = keyed(AppState::new(db.clone(), CURRENCY));
    let viewer = sign_in(&state, "vera", Role::Viewer).await;
    assert_eq!(
        get(&state, &viewer, "/api/store").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let layout: StoreLayout = serde_json::from_value(json!({
        "floor": { "width_m": 10.0, "depth_m": 8.0 },
        "shelves": [{ "id": "A1", "x": 1.0, "y": 2.0, "w": 3.0, "d": 0.5 }],
        "slots": [{ "id": "A1-1", "shelf": "A1", "sku": "apple", "name": "Apple", "price_minor": 45, "x": 1.5, "y": 2.0 }],
        "gates": [{ "id": "entry-1", "kind": "entry", "x": 0.0, "y": 0.0, "w": 1.0, "d": 0.5 }],
        "cameras": [{ "id": "cam-1", "x": 5.0, "y": 4.0 }],
        "currency": "EUR"
    }))
    .unwrap();
    state.live.set_store(layout.clone());
    let store = get(&state, &viewer, "/api/store").await;
    assert_eq!(
        serde_json::from_value::<StoreLayout>(store.json).unwrap(),
        layout
    );

    let pipeline = {
        let live = state.live.clone();
        std::thread::spawn(move || {
            live.set_cameras(vec![CameraStatus {
                camera: "cam-1".into(),
                state: "live".into(),
                fps: 14.5,
                frames: 300,
                dropped: 7,
                reconnects: 1,
                last_frame_ms: Some(123),
                last_error: None,
            }]);
            live.set_frame(
                "cam-1",
                LiveFrame {
                    jpeg: vec![0xff, 0xd8, 9],
                    width: 640,
                    height: 480,
                    pts_ms: 4_000,
                    boxes: vec![LiveBox {
                        x: 1.0,
                        y: 2.0,
                        w: 30.0,
                        h: 60.0,
                        label: "person".into(),
                        track_id: Some(3),
                    }],
                },
            );
            live.set_shoppers(
                5_000,
                vec![ShopperPosition {
                    track_id: 3,
                    session_id: Some("s-1".into()),
                    x: 2.0,
                    y: 3.0,
                }],
            );
        })
    };
    pipeline.join().unwrap();
    let cameras = get(&state, &viewer, "/api/cameras").await;
    assert_eq!(cameras.json[0]["camera"], "cam-1");
    assert_eq!(cameras.json[0]["dropped"], 7);
    let latest = get(&state, &viewer, "/api/cameras/cam-1/latest").await;
    assert_eq!(
        latest.json,
        json!({ "pts_ms": 4000, "width": 640, "height": 480, "boxes": [{ "x": 1.0, "y": 2.0, "w": 30.0, "h": 60.0, "label": "person", "track_id": 3 }] })
    );
    let frame = get(&state, &viewer, "/api/cameras/cam-1/frame.jpg").await;
    assert_eq!(
        (frame.status, frame.content_type.as_str(), frame.bytes),
        (StatusCode::OK, "image/jpeg", vec![0xff, 0xd8, 9])
    );
    assert_eq!(
        get(&state, &viewer, "/api/cameras/cam-9/frame.jpg")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&state, &viewer, "/api/cameras/cam-9/latest")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let live = get(&state, &viewer, "/api/live").await;
    assert_eq!(
        live.json,
        json!({ "at_ms": 5000, "shoppers": [{ "track_id": 3, "session_id": "s-1", "x": 2.0, "y": 3.0 }] })
    );

    db.open_session("s-1", "acct-1", "entry-1", 1)
        .await
        .unwrap();
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for line in [
        "walkout_sessions_open 1",
        "walkout_review_queue_depth 0",
        "walkout_camera_fps{camera=\"cam-1\"} 14.5",
        "walkout_camera_dropped_frames_total{camera=\"cam-1\"} 7",
        "walkout_http_requests_total{method=\"GET\",route=\"/api/cameras/{id}/latest\",status=\"200\"} 1",
        "walkout_http_requests_total{method=\"GET\",route=\"/api/cameras/{id}/latest\",status=\"404\"} 1",
    ] {
        assert!(text.contains(line), "/metrics lacks `{line}`:\n{text}");
    }
    assert!(text.contains("walkout_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn bad_input_on_the_new_routes_gets_a_4xx_naming_the_field() {
    let (db, _url, _dir) = database(Backend::Sqlite, "badinput").await;
    seed_catalog(&db).await;
    let state = keyed(AppState::new(db.clone(), CURRENCY));
    let reviewer = sign_in(&state, "rita", Role::Reviewer).await;
    let admin = sign_in(&state, "adam", Role::Admin).await;
    let app_key = As::Key(APP_KEY);
    let review = serde_json::from_value::<walkout_api::billing::CloseRequest>(
        json!({ "account_id": "acct-1", "lines": [{ "sku": "apple", "quantity": 1 }], "review": true }),
    )
    .unwrap();
    db.close_session("s-1", &review, CURRENCY, 1).await.unwrap();
    let huge = format!(
        "{{\"lines\": [], \"reason\": \"{}\"}}",
        "x".repeat(walkout_api::MAX_BODY_BYTES)
    );

    // (caller, method, uri, body, expected status, what the error message must mention)
    type Case<'a> = (&'a As, Method, &'a str, Option<String>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            &reviewer,
            Method::POST,
            "/api/review/s-1/correct",
            Some("{\"lines\": [".into()),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/s-1/correct",
            Some(
                json!({ "lines": [{ "sku": "apple", "quantity": -2 }], "reason": "r" }).to_string(),
            ),
            StatusCode::BAD_REQUEST,
            "lines[0].quantity",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/s-1/correct",
            Some(json!({ "lines": [{ "sku": "apple", "quantity": 1 }] }).to_string()),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/s-1/correct",
            Some(
                json!({ "lines": [{ "sku": "apple", "quantity": 1 }], "reason": "  " }).to_string(),
            ),
            StatusCode::BAD_REQUEST,
            "reason: is required",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/s-1/correct",
            Some(
                json!({ "lines": [{ "sku": "caviar", "quantity": 1 }], "reason": "r" }).to_string(),
            ),
            StatusCode::BAD_REQUEST,
            "lines[0].sku: unknown SKU `caviar`",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/s-1/correct",
            Some(json!({ "lines": "apple", "reason": "r" }).to_string()),
            StatusCode::BAD_REQUEST,
            "lines",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/s-1/correct",
            Some(huge.clone()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "length limit",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/ghost/correct",
            Some(json!({ "lines": [], "reason": "r" }).to_string()),
            StatusCode::NOT_FOUND,
            "session `ghost`",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/ghost/approve",
            Some("{}".into()),
            StatusCode::NOT_FOUND,
            "session `ghost`",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/s-1/approve",
            Some(json!({ "operator": "someone" }).to_string()),
            StatusCode::BAD_REQUEST,
            "operator",
        ),
        (
            &reviewer,
            Method::POST,
            "/api/review/bad%20id/approve",
            Some("{}".into()),
            StatusCode::BAD_REQUEST,
            "session_id",
        ),
        (
            &reviewer,
            Method::GET,
            "/api/sessions?status=lost",
            None,
            StatusCode::BAD_REQUEST,
            "status: must be",
        ),
        (
            &reviewer,
            Method::GET,
            "/api/sessions/ghost",
            None,
            StatusCode::NOT_FOUND,
            "session `ghost`",
        ),
        (
            &reviewer,
            Method::GET,
            "/api/sessions/s-1/events/e-9/evidence.jpg",
            None,
            StatusCode::NOT_FOUND,
            "evidence",
        ),
        (
            &admin,
            Method::POST,
            "/api/sessions/ghost/retry-charge",
            None,
            StatusCode::NOT_FOUND,
            "session `ghost`",
        ),
        (
            &admin,
            Method::POST,
            "/api/sessions/s-1/retry-charge",
            None,
            StatusCode::CONFLICT,
            "only a failed charge",
        ),
        (
            &admin,
            Method::POST,
            "/api/users",
            Some(json!({ "username": "x", "password": "short", "role": "admin" }).to_string()),
            StatusCode::BAD_REQUEST,
            "password",
        ),
        (
            &admin,
            Method::POST,
            "/api/users",
            Some(json!({ "username": "x", "password": PASSWORD, "role": "root" }).to_string()),
            StatusCode::BAD_REQUEST,
            "role",
        ),
        (
            &admin,
            Method::POST,
            "/api/users",
            Some(json!({ "username": "a b", "password": PASSWORD, "role": "viewer" }).to_string()),
            StatusCode::BAD_REQUEST,
            "username",
        ),
        (
            &app_key,
            Method::POST,
            "/api/app/sessions/ghost/disputes",
            Some(json!({ "sku": "apple", "reason": "r" }).to_string()),
            StatusCode::NOT_FOUND,
            "session `ghost`",
        ),
        (
            &app_key,
            Method::POST,
            "/api/app/sessions/s-1/disputes",
            Some(json!({ "sku": "apple", "reason": "r" }).to_string()),
            StatusCode::CONFLICT,
            "only a charged receipt",
        ),
        (
            &app_key,
            Method::POST,
            "/api/app/sessions/s-1/disputes",
            Some(json!({ "sku": "apple" }).to_string()),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (
            &app_key,
            Method::POST,
            "/api/app/sessions/s-1/disputes",
            Some(json!({ "sku": "apple", "reason": "x".repeat(1_001) }).to_string()),
            StatusCode::BAD_REQUEST,
            "reason: must be at most",
        ),
    ];
    for (who, method, uri, body, status, needle) in cases {
        let reply = call(&state, who, method.clone(), uri, body).await;
        let error = reply.json["error"].as_str().unwrap_or_default().to_string();
        assert_eq!(reply.status, status, "{method} {uri}: {error}");
        assert!(
            error.contains(needle),
            "{method} {uri}: `{error}` does not mention `{needle}`"
        );
    }
    // A machine approving through the older route is recorded with its operator.
    let machine = As::Key(INGEST_KEY);
    let approved = post(
        &state,
        &machine,
        "/api/sessions/s-1/approve",
        json!({ "operator": "op-7" }),
    )
    .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.json);
    assert_eq!(db.audit("s-1").await.unwrap()[0].actor, "key:ingest/op-7");
    // Stock and events refuse nonsense from the pipeline, naming the field.
    let mut bad = event("e-1", Some("s-1"), "grab", "apple", "A1-1", 1);
    assert!(
        db.record_event(&bad)
            .await
            .unwrap_err()
            .to_string()
            .starts_with("kind:")
    );
    bad.kind = "pick".into();
    bad.quantity = -1;
    assert!(
        db.record_event(&bad)
            .await
            .unwrap_err()
            .to_string()
            .starts_with("quantity:")
    );
    bad.quantity = 1;
    bad.confidence = 1.5;
    assert!(
        db.record_event(&bad)
            .await
            .unwrap_err()
            .to_string()
            .starts_with("confidence:")
    );
    assert!(
        db.set_inventory("A1-1", "apple", -3)
            .await
            .unwrap_err()
            .to_string()
            .starts_with("quantity:")
    );
}
