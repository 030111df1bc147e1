//! The whole store, live, end to end: `walkout serve` on a tiny rendered scene (2 cameras, 3 shoppers) fed
//! over RTSP from a loopback server, check-ins posted through the app API at the scene's times, charges
//! made by `walkout payments-sandbox` in another process. Every check-in must open a session that the
//! dashboard's API shows; a session the pipeline is unsure of must be in the review queue, where the
//! test's operator sets its cart to what the shopper took (the ground truth) through the correction API;
//! then every shopper who bought must be charged once, exactly the ground truth's receipt (a wrong cart
//! that was not held fails), and SIGTERM stops the service cleanly.
//!
//! The store has lane scales: their readings are posted through the sensor API at their times too, so
//! the scale says how many items moved and the detector only whose hand it was.
//!
//! `EXPECT_ALL_CHARGED` says whether the shipped detector is sure enough that no session needs the
//! operator.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ort_library, walkout};
use serde_json::{Value, json};
use walkout_cameras::{RtspMedia, RtspServer};
use walkout_datasets::{GroundTruth, Scenario};

/// Whether the shipped detector is sure of every session of this scene, so that none needs an operator.
/// Not yet (see models/walkout_store/MODEL_CARD.md): sessions it is unsure of are held for review, and
/// the test's operator corrects them.
const EXPECT_ALL_CHARGED: bool = false;

const SECRETS: [(&str, &str); 5] = [
    ("WALKOUT_PAYMENTS_SECRET", "e2e-payments-secret-0123456789"),
    ("WALKOUT_ADMIN_PASSWORD", "e2e-admin-password"),
    ("WALKOUT_INGEST_KEY", "e2e-ingest-key-0123456789"),
    ("WALKOUT_APP_KEY", "e2e-app-key-0123456789abc"),
    ("WALKOUT_CHECKIN_SECRET", "e2e-check-in-secret-0123456789"),
];

fn secret(name: &str) -> &'static str {
    SECRETS.iter().find(|(n, _)| *n == name).unwrap().1
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(command: &mut Command) -> Reaped {
    for (name, value) in SECRETS {
        command.env(name, value);
    }
    Reaped(
        command
            .env("ORT_DYLIB_PATH", ort_library())
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The store configuration for a rendered scene whose cameras are at these URLs.
fn config(
    scenario: &Scenario,
    urls: &BTreeMap<String, String>,
    dir: &Path,
    http: u16,
    payments: u16,
) -> String {
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/walkout_store/walkout_store.toml");
    let cameras: Vec<Value> = scenario
        .cameras
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "url": urls[&c.id],
                "position_m": c.position_m,
                "look_at_m": c.look_at_m,
                "intrinsics": c.intrinsics,
                "resolution_px": c.resolution_px,
                "fps": c.fps,
            })
        })
        .collect();
    let config = json!({
        "store": { "name": "e2e", "currency": "EUR", "layout": scenario.store },
        "cameras": cameras,
        "model": { "manifest": manifest },
        "database": { "url": format!("sqlite://{}", dir.join("walkout.db").display()) },
        "payments": { "url": format!("http://127.0.0.1:{payments}/charges"), "secret_env": "WALKOUT_PAYMENTS_SECRET" },
        "http": { "listen": format!("127.0.0.1:{http}") },
    });
    toml::to_string(&config).unwrap()
}

fn post(http: &reqwest::blocking::Client, url: &str, key: &str, body: Value) -> Value {
    let response = http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = response.status();
    let text = response.text().unwrap();
    assert!(status.is_success(), "POST {url}: {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_tiny_store_over_rtsp_charges_every_receipt_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("tiny");
    common::simulate(&dataset, "tiny", 11, "640x480", true);
    let scenario =
        Scenario::from_toml_str(&std::fs::read_to_string(dataset.join("scenario.toml")).unwrap())
            .unwrap();
    let truth = GroundTruth::read_from_dir(&dataset).unwrap();
    assert_eq!(scenario.cameras.len(), 2);
    assert_eq!(truth.sessions.len(), 3);

    // the cameras: the rendered H.264 served as it is, in real time
    let mounts = scenario
        .cameras
        .iter()
        .map(|c| {
            let video = dataset.join("videos").join(format!("{}.mp4", c.id));
            (
                c.id.clone(),
                RtspMedia::Launch(format!(
                    "filesrc location=\"{}\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1",
                    video.display()
                )),
            )
        })
        .collect();
    let mut rtsp = RtspServer::start(0, mounts).unwrap();
    let urls: BTreeMap<String, String> = scenario
        .cameras
        .iter()
        .map(|c| (c.id.clone(), rtsp.url(&c.id)))
        .collect();

    let payments = free_port();
    let _sandbox = spawn(walkout().args([
        "payments-sandbox",
        "--listen",
        &format!("127.0.0.1:{payments}"),
    ]));
    let http_port = free_port();
    let config_path = dir.path().join("store.toml");
    std::fs::write(
        &config_path,
        config(&scenario, &urls, dir.path(), http_port, payments),
    )
    .unwrap();
    let mut server = spawn(walkout().arg("serve").arg("--config").arg(&config_path));
    let base = format!("http://127.0.0.1:{http_port}");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    wait_for("the service", Duration::from_secs(60), || {
        http.get(format!("{base}/readyz"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });

    // an operator's session, for the dashboard's API
    let login = http
        .post(format!("{base}/api/login"))
        .header("content-type", "application/json")
        .body(
            json!({"username": "admin", "password": secret("WALKOUT_ADMIN_PASSWORD")}).to_string(),
        )
        .send()
        .unwrap();
    assert!(login.status().is_success(), "login: {}", login.status());
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("walkout_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("a session cookie");
    let csrf = login.json::<Value>().unwrap()["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_string();
    let get = |path: &str| -> Value {
        let response = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().unwrap()
    };

    // scenario time 0 is when the cameras deliver their first frames
    wait_for("the cameras' first frames", Duration::from_secs(30), || {
        get("/api/cameras")
            .as_array()
            .is_some_and(|cameras| cameras.iter().any(|c| c["frames"].as_u64() > Some(0)))
    });
    // the app's check-ins and the lane scales' readings, each at its time
    assert!(!truth.scale_readings.is_empty());
    let started = Instant::now();
    let mut posts: Vec<(f64, String, &str, Value)> = Vec::new();
    for check_in in &truth.check_ins {
        posts.push((
            check_in.time_secs,
            format!("/api/gates/{}/check-ins", check_in.gate),
            "WALKOUT_INGEST_KEY",
            json!({"account_id": check_in.account}),
        ));
    }
    for reading in &truth.scale_readings {
        posts.push((
            reading.time_secs,
            format!("/api/slots/{}/scale-readings", reading.slot),
            "WALKOUT_INGEST_KEY",
            json!({"delta_g": reading.delta_g}),
        ));
    }
    posts.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (time_secs, path, key, body) in posts {
        let at = started + Duration::from_secs_f64(time_secs);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let body = match body.get("account_id") {
            // a check-in: the app issues the QR token, the gate posts what it scanned
            Some(account) => {
                let token = post(
                    &http,
                    &format!("{base}/api/app/check-in-tokens"),
                    secret("WALKOUT_APP_KEY"),
                    json!({"account_id": account}),
                );
                json!({"token": token["token"]})
            }
            None => body,
        };
        post(&http, &format!("{base}{path}"), secret(key), body);
    }

    // every session closes at the exit and reaches billing: charged once, or held for review
    let billing = || -> Vec<Value> {
        http.get(format!("{base}/api/sessions?status=closed"))
            .header("cookie", &cookie)
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    let charges = || -> Vec<Value> {
        http.get(format!("http://127.0.0.1:{payments}/charges"))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| {
                v.as_array()
                    .cloned()
                    .or_else(|| v["charges"].as_array().cloned())
            })
            .unwrap_or_default()
    };
    // every shopper's session shows on the dashboard
    let listed = |sessions: &Value| {
        truth.sessions.iter().all(|t| {
            sessions
                .as_array()
                .is_some_and(|all| all.iter().any(|s| s["account_id"] == t.account.as_str()))
        })
    };
    wait_for(
        "every session on the dashboard",
        Duration::from_secs(30),
        || listed(&get("/api/sessions")),
    );
    // the scene ends, the last shoppers leave, and what closed is billed
    let end = started + Duration::from_secs_f64(scenario.duration_secs + 10.0);
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    wait_for("closed sessions to settle", Duration::from_secs(30), || {
        billing().iter().all(|s| s["status"] != "pending")
    });
    // the operator works the review queue: a cart the pipeline was unsure of is set to what the shopper
    // took and charged as corrected; a wrong cart that was not held is charged wrong and fails below
    let held: Vec<Value> = billing()
        .into_iter()
        .filter(|s| s["status"] == "review")
        .collect();
    for session in &held {
        eprintln!(
            "held for review: {} {}",
            session["account_id"], session["review_reasons"]
        );
    }
    if EXPECT_ALL_CHARGED {
        assert!(held.is_empty(), "held for review: {held:#?}");
    }
    let queue = get("/api/review");
    for session in &held {
        let id = session["session_id"].as_str().unwrap();
        assert!(
            queue
                .as_array()
                .is_some_and(|q| q.iter().any(|s| s["session_id"] == id)),
            "session {id} is held but not in the review queue: {queue:#?}"
        );
        // the operator looks at what the shopper took (here: the ground truth) and sets the cart to it
        let account = session["account_id"].as_str().unwrap();
        let lines: Vec<Value> = truth
            .sessions
            .iter()
            .find(|t| t.account == account)
            .map(|t| {
                t.receipt
                    .lines
                    .iter()
                    .map(|l| json!({"sku": l.sku, "quantity": l.quantity}))
                    .collect()
            })
            .unwrap_or_default();
        let correction = json!({
            "lines": lines,
            "reason": "checked against the camera footage",
        });
        let response = http
            .post(format!("{base}/api/review/{id}/correct"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .header("content-type", "application/json")
            .body(correction.to_string())
            .send()
            .unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "correcting {id}: {status}: {}",
            response.text().unwrap_or_default()
        );
    }
    wait_for(
        "approved sessions to be charged",
        Duration::from_secs(30),
        || {
            billing()
                .iter()
                .all(|s| s["status"] != "pending" && s["status"] != "review")
        },
    );

    // every session is charged once, and exactly its true receipt
    let closed = billing();
    let charges = charges();
    let charged = closed.iter().filter(|s| s["status"] == "charged").count();
    assert_eq!(
        charges.len(),
        charged,
        "one charge per charged session: {charges:#?} {closed:#?}"
    );
    let buying = truth
        .sessions
        .iter()
        .filter(|s| !s.receipt.lines.is_empty())
        .count();
    assert_eq!(
        charged, buying,
        "every shopper who bought is charged: {closed:#?}"
    );
    for session in &truth.sessions {
        let mine: Vec<&Value> = charges
            .iter()
            .filter(|c| c["account_id"] == session.account.as_str())
            .collect();
        if session.receipt.lines.is_empty() {
            assert!(
                mine.is_empty(),
                "{} bought nothing: {mine:#?}",
                session.account
            );
            continue;
        }
        let [charge] = mine[..] else {
            panic!(
                "{} charged {} times: {mine:#?}",
                session.account,
                mine.len()
            );
        };
        let lines: Vec<(String, u64)> = charge["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["sku"].as_str().unwrap().to_string(),
                    l["quantity"].as_u64().unwrap(),
                )
            })
            .collect();
        let expected: Vec<(String, u64)> = session
            .receipt
            .lines
            .iter()
            .map(|l| (l.sku.clone(), u64::from(l.quantity)))
            .collect();
        assert_eq!(lines, expected, "the receipt of {}", session.account);
        assert_eq!(
            charge["amount_minor"].as_i64(),
            Some(session.receipt.total_minor),
            "{}",
            session.account
        );
    }

    // SIGTERM: a clean stop
    Command::new("kill")
        .arg("-TERM")
        .arg(server.0.id().to_string())
        .status()
        .unwrap();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "walkout serve exited with {status}");
    rtsp.stop();
}
