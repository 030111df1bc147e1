//! The operator dashboard in a real browser: headless Chromium driven through chromedriver, against the
//! real router on a loopback socket with a temporary SQLite database.
//!
//! Chromium and chromedriver come from `scripts/setup.sh` (Debian's `chromium chromium-driver`). Without
//! them this test fails and says so: CI must run it. `CHROMEDRIVER` and `CHROME` point at other builds.
//! `WALKOUT_SCREENSHOT=1` also writes the README's screenshot to `docs/dashboard.png`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::task::Poll;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use walkout_api::auth::LoginLimiter;
use walkout_api::auth::rate_limit::Bucket;
use walkout_api::billing::{CloseRequest, LineRequest, unix_now_ms};
use walkout_api::live::{
    CameraStatus, LayoutCamera, LayoutFloor, LayoutGate, LayoutShelf, LayoutSlot, LiveBox,
    LiveFrame, ShopperPosition, StoreLayout,
};
use walkout_api::{AppState, Database, EventRecord, LiveStore, Role, Sku, app};

const CURRENCY: &str = "EUR";
const REVIEWER: (&str, &str) = ("rita", "correct horse battery staple");
const VIEWER: (&str, &str) = ("victor", "tr0ub4dor and three");
const ADMIN: (&str, &str) = ("ada", "analytical engine 1843");
const SESSION: &str = "s-review-1";
const CORRECTED_SESSION: &str = "s-review-2";
const WAITING_SESSION: &str = "s-review-3";
const DECLINED_SESSION: &str = "s-declined-1";
/// SKU code, name, unit price in cents.
const CATALOG: [(&str, &str, i64); 5] = [
    ("apple", "Apple", 45),
    ("cola-330", "Cola 330 ml", 129),
    ("crisps", "Sea salt crisps", 199),
    ("sandwich", "Ham sandwich", 450),
    ("water-500", "Still water 500 ml", 89),
];
/// How long to wait for the page to show something: the pages poll every second, and a loaded CI
/// machine may be slow to start Chromium and run its first scripts.
const PATIENCE: Duration = Duration::from_secs(30);

/// The path of a required program: `$env_var`, else the first of `candidates` that exists.
fn required_program(env_var: &str, candidates: &[&str], what: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "{env_var}={} does not exist; {what} is required for the dashboard's browser test",
            path.display()
        );
        return path;
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{what} is not installed (looked for {}; set {env_var} to use another). The dashboard's \
                 browser test needs it: run scripts/setup.sh, which installs Debian's `chromium \
                 chromium-driver`",
                candidates.join(", ")
            )
        })
}

/// A chromedriver on a free loopback port, killed on drop.
struct Chromedriver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Chromedriver {
    fn start(program: &Path, log_dir: &Path) -> Chromedriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = log_dir.join("chromedriver.log");
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Chromedriver { child, port, log }
    }

    /// A browser session: headless, a fresh profile, 1280x800.
    async fn browser(&self, chrome: &Path, profile: &Path) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chrome,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,800",
                    // Money and times are formatted for the browser's locale: pin it for the assertions.
                    "--lang=en-US",
                ],
            }),
        );
        // chromedriver takes a moment to listen; then one session request starts the browser.
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver is not listening on port {} after 20 s\n--- chromedriver log ---\n{}",
                self.port,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver did not start Chromium: {e}\n--- chromedriver log ---\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                )
            })
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real router on a loopback socket.
async fn serve(state: AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    addr
}

/// A store with a reviewer, a catalog, a session closed in review with its events, and the live view: the
/// floor plan, two shoppers, a camera's health and its latest frame with boxes.
async fn seed(db: &Database, live: &LiveStore) {
    db.upsert_user(REVIEWER.0, REVIEWER.1, Role::Reviewer)
        .await
        .unwrap();
    db.upsert_user(VIEWER.0, VIEWER.1, Role::Viewer)
        .await
        .unwrap();
    db.upsert_user(ADMIN.0, ADMIN.1, Role::Admin).await.unwrap();
    for (sku, name, price_minor) in CATALOG {
        db.upsert_sku(&Sku {
            sku: sku.into(),
            name: name.into(),
            price_minor,
            currency: CURRENCY.into(),
        })
        .await
        .unwrap();
    }
    for (slot, sku, quantity) in [
        ("A1", "cola-330", 24),
        ("A2", "crisps", 3),
        ("A3", "water-500", 0),
        ("B1", "apple", 40),
        ("B2", "sandwich", 6),
    ] {
        db.set_inventory(slot, sku, quantity).await.unwrap();
    }
    let opened_at_ms = unix_now_ms() - 6 * 60_000;
    db.open_session(SESSION, "acct-42", "gate-in", opened_at_ms)
        .await
        .unwrap();
    let reaching = LiveBox {
        x: 260.0,
        y: 120.0,
        w: 120.0,
        h: 330.0,
        label: "person".into(),
        track_id: Some(3),
    };
    let evidence = Some(aisle_jpeg(320, 240, Some(&reaching)));
    let events = [
        ("ev-1", "pick", "cola-330", "A1", 2, 0.97),
        ("ev-2", "pick", "crisps", "A2", 1, 0.91),
        ("ev-3", "pick", "apple", "B1", 1, 0.58),
        ("ev-4", "put", "apple", "B1", 1, 0.52),
    ];
    for (i, (event_id, kind, sku, slot, quantity, confidence)) in events.into_iter().enumerate() {
        let recorded = db
            .record_event(&EventRecord {
                session_id: Some(SESSION.into()),
                event_id: event_id.into(),
                kind: kind.into(),
                sku: sku.into(),
                slot: slot.into(),
                quantity,
                confidence,
                at_ms: opened_at_ms + 40_000 * (i as i64 + 1),
                camera: Some("cam-aisle".into()),
                evidence_jpeg: evidence.clone(),
            })
            .await
            .unwrap();
        assert!(recorded, "event {event_id} is new");
    }
    let close = CloseRequest {
        account_id: "acct-42".into(),
        lines: vec![
            LineRequest {
                sku: "cola-330".into(),
                quantity: 2,
            },
            LineRequest {
                sku: "crisps".into(),
                quantity: 1,
            },
        ],
        review: true,
    };
    let reasons = [
        "low confidence: apple picked at 58%".to_string(),
        "put-back seen by one camera".to_string(),
    ];
    let outcome = db
        .close_session_with_reasons(
            SESSION,
            &close,
            &reasons,
            CURRENCY,
            opened_at_ms + 5 * 60_000,
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, "review");
    // Two more in review: one the reviewer corrects, one still waiting when the viewer looks.
    for (i, session_id) in [CORRECTED_SESSION, WAITING_SESSION].into_iter().enumerate() {
        let account_id = format!("acct-{}", 70 + i);
        let at_ms = opened_at_ms + 60_000 * (i as i64 + 1);
        db.open_session(session_id, &account_id, "gate-in", at_ms)
            .await
            .unwrap();
        let request = CloseRequest {
            account_id,
            lines: vec![LineRequest {
                sku: "water-500".into(),
                quantity: 1,
            }],
            review: true,
        };
        db.close_session(session_id, &request, CURRENCY, at_ms + 3 * 60_000)
            .await
            .unwrap();
    }

    // One whose charge the payments service declined for good (the relay's path: claim, then fail).
    db.open_session(DECLINED_SESSION, "acct-90", "gate-in", opened_at_ms)
        .await
        .unwrap();
    let declined = CloseRequest {
        account_id: "acct-90".into(),
        lines: vec![LineRequest {
            sku: "sandwich".into(),
            quantity: 1,
        }],
        review: false,
    };
    db.close_session(DECLINED_SESSION, &declined, CURRENCY, opened_at_ms + 60_000)
        .await
        .unwrap();
    let claimed = db
        .claim_due_charges(unix_now_ms(), 10, 60_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "only the declined session is due");
    db.fail_charge(&claimed[0], "HTTP 402: card declined")
        .await
        .unwrap();

    let slot = |id: &str, shelf: &str, sku: &str, x: f64, y: f64| {
        let (_, name, price_minor) = CATALOG.iter().find(|c| c.0 == sku).unwrap();
        LayoutSlot {
            id: id.into(),
            shelf: shelf.into(),
            sku: sku.into(),
            name: (*name).into(),
            price_minor: *price_minor,
            x,
            y,
        }
    };
    live.set_store(StoreLayout {
        floor: LayoutFloor {
            width_m: 12.0,
            depth_m: 8.0,
        },
        shelves: vec![
            LayoutShelf {
                id: "A".into(),
                x: 2.0,
                y: 5.0,
                w: 6.0,
                d: 0.8,
            },
            LayoutShelf {
                id: "B".into(),
                x: 2.0,
                y: 2.0,
                w: 6.0,
                d: 0.8,
            },
        ],
        slots: vec![
            slot("A1", "A", "cola-330", 3.0, 5.0),
            slot("A2", "A", "crisps", 5.0, 5.0),
            slot("A3", "A", "water-500", 7.0, 5.0),
            slot("B1", "B", "apple", 3.0, 2.8),
            slot("B2", "B", "sandwich", 6.0, 2.8),
        ],
        gates: vec![
            LayoutGate {
                id: "gate-in".into(),
                kind: "entry".into(),
                x: 9.5,
                y: 0.0,
                w: 1.6,
                d: 0.4,
            },
            LayoutGate {
                id: "gate-out".into(),
                kind: "exit".into(),
                x: 0.5,
                y: 0.0,
                w: 1.6,
                d: 0.4,
            },
        ],
        cameras: vec![
            LayoutCamera {
                id: "cam-aisle".into(),
                x: 0.3,
                y: 7.7,
            },
            LayoutCamera {
                id: "cam-gate".into(),
                x: 11.7,
                y: 7.7,
            },
        ],
        currency: CURRENCY.into(),
    });
    live.set_shoppers(
        unix_now_ms(),
        vec![
            ShopperPosition {
                track_id: 3,
                session_id: Some("s-live-7".into()),
                x: 4.2,
                y: 4.1,
            },
            ShopperPosition {
                track_id: 5,
                session_id: None,
                x: 9.8,
                y: 1.2,
            },
        ],
    );
    live.set_cameras(vec![
        CameraStatus {
            camera: "cam-aisle".into(),
            state: "live".into(),
            fps: 15.0,
            frames: 5400,
            dropped: 12,
            reconnects: 0,
            last_frame_ms: Some(unix_now_ms()),
            last_error: None,
        },
        CameraStatus {
            camera: "cam-gate".into(),
            state: "reconnecting".into(),
            fps: 0.0,
            frames: 820,
            dropped: 0,
            reconnects: 3,
            last_frame_ms: Some(unix_now_ms() - 20_000),
            last_error: Some("cam-gate: the stream stopped (no frame for 5 s)".into()),
        },
    ]);
    let shopper = LiveBox {
        x: 250.0,
        y: 150.0,
        w: 110.0,
        h: 300.0,
        label: "person".into(),
        track_id: Some(3),
    };
    live.set_frame(
        "cam-aisle",
        LiveFrame {
            jpeg: aisle_jpeg(640, 480, Some(&shopper)),
            width: 640,
            height: 480,
            pts_ms: 90_000,
            boxes: vec![shopper],
        },
    );
}

/// A camera's picture of an aisle: floor, two shelves of coloured products, and a shopper where `person`
/// is (in a 640x480 frame's pixels, scaled to this size).
fn aisle_jpeg(width: u32, height: u32, person: Option<&LiveBox>) -> Vec<u8> {
    let scale = f64::from(width) / 640.0;
    let mut image = image::RgbImage::from_fn(width, height, |_, y| {
        let shade = 150 + u8::try_from(y * 60 / height).unwrap();
        image::Rgb([shade, shade, shade - 10])
    });
    let mut paint = |x: f64, y: f64, w: f64, h: f64, colour: [u8; 3]| {
        let (x0, y0) = ((x * scale) as u32, (y * scale) as u32);
        let (x1, y1) = (((x + w) * scale) as u32, ((y + h) * scale) as u32);
        for py in y0..y1.min(height) {
            for px in x0..x1.min(width) {
                image.put_pixel(px, py, image::Rgb(colour));
            }
        }
    };
    let products = [[200, 40, 40], [240, 180, 30], [40, 120, 200], [60, 160, 80]];
    for (shelf_x, shelf_w) in [(0.0, 210.0), (430.0, 210.0)] {
        paint(shelf_x, 60.0, shelf_w, 360.0, [110, 90, 70]);
        for row in 0..4 {
            let y = 80.0 + 85.0 * f64::from(row);
            paint(shelf_x, y + 60.0, shelf_w, 8.0, [80, 60, 45]);
            for col in 0..6 {
                let colour = products[(row + col) as usize % products.len()];
                paint(
                    shelf_x + 8.0 + 33.0 * f64::from(col),
                    y + 12.0,
                    24.0,
                    48.0,
                    colour,
                );
            }
        }
    }
    if let Some(p) = person {
        paint(p.x + p.w * 0.3, p.y, p.w * 0.4, p.h * 0.18, [225, 185, 150]);
        paint(p.x, p.y + p.h * 0.18, p.w, p.h * 0.45, [50, 70, 140]);
        paint(
            p.x + p.w * 0.1,
            p.y + p.h * 0.63,
            p.w * 0.8,
            p.h * 0.37,
            [40, 40, 50],
        );
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&image)
        .unwrap();
    jpeg
}

/// Waits until `css` matches an element whose text contains `text`.
async fn wait_for_text(client: &Client, css: &str, text: &str) -> Element {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    loop {
        if let Ok(found) = client.find_all(Locator::Css(css)).await {
            for element in found {
                if let Ok(shown) = element.text().await {
                    if shown.contains(text) {
                        return element;
                    }
                    last = shown;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no `{css}` showed `{text}` within {PATIENCE:?} (last text: `{last}`) at {}",
            client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_out(client: &Client) {
    client
        .find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
}

/// The page shows no error banner (a failed request or a bug in a page's script).
async fn assert_no_error_banner(client: &Client) {
    let banner = client
        .execute(
            "const b = document.getElementById('banner'); return b && !b.hidden ? b.textContent : null;",
            vec![],
        )
        .await
        .unwrap();
    assert!(banner.is_null(), "the page shows an error: {banner}");
}

/// Nothing on the page offers to approve, correct or retry.
async fn assert_no_actions(client: &Client) {
    for action in ["#approve", "#correct", "#retry-charge", "button.approve"] {
        assert!(
            client
                .find_all(Locator::Css(action))
                .await
                .unwrap()
                .is_empty(),
            "a viewer is offered `{action}`"
        );
    }
}

/// How many images matching `css` have loaded a picture.
async fn loaded_images(client: &Client, css: &str) -> usize {
    let count = client
        .execute(
            "return [...document.querySelectorAll(arguments[0])]\
               .filter((img) => img.complete && img.naturalWidth > 0).length;",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(count).unwrap()
}

/// Waits until nothing matches `css`.
async fn wait_gone(client: &Client, css: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !client.find_all(Locator::Css(css)).await.unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "`{css}` still on the page after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn log_in(client: &Client, base: &str, username: &str, password: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    let form = client
        .wait()
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
    let user = form.find(Locator::Id("username")).await.unwrap();
    user.clear().await.unwrap();
    user.send_keys(username).await.unwrap();
    let pass = form.find(Locator::Id("password")).await.unwrap();
    pass.clear().await.unwrap();
    pass.send_keys(password).await.unwrap();
    form.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_reviews_and_approves_a_session_in_chromium() {
    let chromedriver = required_program(
        "CHROMEDRIVER",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        "chromedriver",
    );
    let chrome = required_program(
        "CHROME",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        "Chromium",
    );
    let scratch = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", scratch.path().join("walkout.db").display());
    let db = Database::connect(&db_url).await.unwrap();
    // Three attempts per username, so the test can see the rate limit; plenty per address, since every
    // sign-in here comes from 127.0.0.1.
    let limiter = LoginLimiter::new(
        Bucket {
            capacity: 100.0,
            refill_secs: 1.0,
        },
        Bucket {
            capacity: 3.0,
            refill_secs: 60.0,
        },
    );
    let state = AppState::new(db.clone(), CURRENCY).with_login_limiter(limiter);
    seed(&db, &state.live).await;
    let addr = serve(state).await;
    let base = format!("http://{addr}");
    // A store that has just started: an operator, and nothing else yet.
    let empty_db = Database::connect(&format!(
        "sqlite://{}",
        scratch.path().join("empty.db").display()
    ))
    .await
    .unwrap();
    empty_db
        .upsert_user(VIEWER.0, VIEWER.1, Role::Viewer)
        .await
        .unwrap();
    let empty_base = format!("http://{}", serve(AppState::new(empty_db, CURRENCY)).await);

    let driver = Chromedriver::start(&chromedriver, scratch.path());
    let profile = scratch.path().join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let client = driver.browser(&chrome, &profile).await;
    let outcome = run_scenario(&client, &base, &empty_base, &db, scratch.path()).await;
    if outcome.is_err() {
        let failure = std::env::temp_dir().join("walkout-browser-failure.png");
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::write(&failure, png);
            eprintln!("the page at the failure: {}", failure.display());
        }
    }
    client.close().await.unwrap();
    outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

/// The steps, run so that a failure still closes the browser.
async fn run_scenario(
    client: &Client,
    base: &str,
    empty_base: &str,
    db: &Database,
    scratch: &Path,
) -> Result<(), Box<dyn Any + Send>> {
    catch_unwind(async {
        // Before there is anything to show, every page says so, and none shows an error.
        log_in(client, empty_base, VIEWER.0, VIEWER.1).await;
        wait_for_text(client, "#user-role", "viewer").await;
        for (page, css, says) in [
            ("map", "#page", "No store layout yet"),
            ("map", "#shopper-list", "Nobody in the store"),
            ("cameras", "#camera-grid", "No cameras"),
            ("sessions", "#sessions", "No sessions yet"),
            ("sessions?status=live", "#sessions", "Nobody is shopping"),
            ("review", "#review-queue", "All caught up"),
            ("inventory", "#inventory", "No inventory yet"),
            ("sessions/s-nowhere", "#session", "No such session"),
        ] {
            client
                .goto(&format!("{empty_base}/#/{page}"))
                .await
                .unwrap();
            wait_for_text(client, css, says).await;
            assert_no_error_banner(client).await;
        }

        // A wrong password is refused on the form, and nobody is signed in.
        log_in(client, base, REVIEWER.0, "not the password").await;
        wait_for_text(client, "#login-error", "Wrong username or password").await;
        assert_eq!(client.current_url().await.unwrap().path(), "/login");
        // Guessing at another operator's password runs into the rate limit, and the form says so.
        for _ in 0..3 {
            log_in(client, base, "mallory", "guess").await;
            wait_for_text(client, "#login-error", "Wrong username or password").await;
        }
        log_in(client, base, "mallory", "guess").await;
        wait_for_text(client, "#login-error", "Too many sign-in attempts").await;

        // The right one lands on the dashboard.
        log_in(client, base, REVIEWER.0, REVIEWER.1).await;
        wait_for_text(client, "#user-name", REVIEWER.0).await;

        // The live map draws the floor plan and labels each shopper.
        client.goto(&format!("{base}/#/map")).await.unwrap();
        wait_for_text(client, "#store-map g.shopper", "s-live-7").await;
        wait_for_text(client, "#store-map g.shopper", "track 5").await;
        wait_for_text(client, "#shopper-list", "s-live-7").await;
        assert_no_error_banner(client).await;

        // Camera tiles: the frame with its box, and each camera's health.
        client.goto(&format!("{base}/#/cameras")).await.unwrap();
        wait_for_text(client, "[data-camera=\"cam-aisle\"] svg", "#3 person").await;
        wait_for_text(client, "[data-camera=\"cam-gate\"]", "reconnecting").await;
        wait_for_text(
            client,
            "[data-camera=\"cam-gate\"] .cam-error",
            "stream stopped",
        )
        .await;
        assert!(
            loaded_images(client, "[data-camera=\"cam-aisle\"] img").await >= 1,
            "the camera's frame is shown"
        );
        assert_no_error_banner(client).await;

        // Inventory, with the empty slot marked.
        client.goto(&format!("{base}/#/inventory")).await.unwrap();
        wait_for_text(client, "#inventory", "Still water 500 ml").await;
        wait_for_text(client, "#inventory tr", "empty").await;
        assert_no_error_banner(client).await;

        // The sessions list links to the session; its timeline shows every event with its evidence.
        client
            .goto(&format!("{base}/#/sessions?status=review"))
            .await
            .unwrap();
        wait_for_text(client, "#sessions", SESSION).await;
        client
            .find(Locator::Css(&format!(
                "#sessions a[href=\"#/sessions/{SESSION}\"]"
            )))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_text(client, "#timeline", "Picked up 2 × Cola 330 ml").await;
        wait_for_text(client, "#timeline", "Put back 1 × Apple").await;
        assert_eq!(
            client
                .find_all(Locator::Css("#timeline li.event"))
                .await
                .unwrap()
                .len(),
            4,
            "every event of the session is on its timeline"
        );
        wait_for_text(client, "#cart", "Sea salt crisps").await;
        assert_no_error_banner(client).await;
        let deadline = Instant::now() + PATIENCE;
        while loaded_images(client, "#timeline img.thumb").await == 0 {
            assert!(Instant::now() < deadline, "no evidence thumbnail loaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        screenshot(client, scratch).await;

        // Approve it from the review queue (a second click confirms).
        client.goto(&format!("{base}/#/review")).await.unwrap();
        let row = format!("#review-queue tr[data-session=\"{SESSION}\"]");
        let approve = wait_for_text(client, &format!("{row} button.approve"), "Approve").await;
        approve.click().await.unwrap();
        let confirm = wait_for_text(client, &format!("{row} button.approve"), "Confirm").await;
        confirm.click().await.unwrap();
        wait_gone(client, &row).await;
        wait_for_text(client, ".page-head", "2 waiting").await;
        assert_no_error_banner(client).await;

        // The approval reached the database: released to the relay, and audited as the operator's.
        let status = db.billing_status(SESSION).await.unwrap().unwrap();
        assert!(
            ["pending", "charged"].contains(&status.status.as_str()),
            "after approval the session is {}",
            status.status
        );
        let audit = db.audit(SESSION).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|entry| entry.actor == REVIEWER.0 && entry.action == "approve"),
            "the audit trail names the reviewer: {audit:?}"
        );
        client
            .goto(&format!("{base}/#/sessions/{SESSION}"))
            .await
            .unwrap();
        wait_for_text(client, "#audit", REVIEWER.0).await;

        // Correct a cart: two waters, not one, and a bag of crisps; the reason is required.
        client
            .goto(&format!("{base}/#/sessions/{CORRECTED_SESSION}"))
            .await
            .unwrap();
        wait_for_text(client, "#correct", "Correct cart")
            .await
            .click()
            .await
            .unwrap();
        let dialog = client
            .wait()
            .for_element(Locator::Css("#correct-dialog[open]"))
            .await
            .unwrap();
        let quantity = dialog
            .find(Locator::Css("input[aria-label=\"Quantity of water-500\"]"))
            .await
            .unwrap();
        quantity.clear().await.unwrap();
        quantity.send_keys("2").await.unwrap();
        wait_for_text(client, "#correct-dialog select", "Sea salt crisps").await;
        dialog
            .find(Locator::Css("select"))
            .await
            .unwrap()
            .select_by_value("crisps")
            .await
            .unwrap();
        dialog
            .find(Locator::Css("#correct-add"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_text(client, "#correct-dialog tfoot", "€3.77").await;
        let save = dialog.find(Locator::Id("correct-save")).await.unwrap();
        save.click().await.unwrap();
        wait_for_text(client, "#correct-dialog [role=alert]", "Say why").await;
        dialog
            .find(Locator::Id("correct-reason"))
            .await
            .unwrap()
            .send_keys("the shelf camera missed the second bottle and the crisps")
            .await
            .unwrap();
        save.click().await.unwrap();
        wait_gone(client, "#correct-dialog").await;
        wait_for_text(client, "#cart", "Sea salt crisps").await;
        wait_for_text(client, "#audit", "second bottle").await;
        wait_for_text(client, "#audit", "total €0.89 → €3.77").await;
        let corrected = db.final_cart(CORRECTED_SESSION).await.unwrap();
        let lines: Vec<(&str, i64)> = corrected
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        assert_eq!(lines, [("crisps", 1), ("water-500", 2)]);
        let audit = db.audit(CORRECTED_SESSION).await.unwrap();
        assert!(
            audit.iter().any(|entry| entry.actor == REVIEWER.0
                && entry.action == "correct"
                && entry
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.contains("second bottle"))),
            "the correction is audited with its reason: {audit:?}"
        );

        // A viewer sees the queue and the sessions, but no button that would change them.
        sign_out(client).await;
        log_in(client, base, VIEWER.0, VIEWER.1).await;
        wait_for_text(client, "#user-role", "viewer").await;
        client.goto(&format!("{base}/#/review")).await.unwrap();
        wait_for_text(client, "#review-queue", WAITING_SESSION).await;
        wait_for_text(client, ".page-head", "Read only").await;
        assert_no_actions(client).await;
        client
            .goto(&format!("{base}/#/sessions/{WAITING_SESSION}"))
            .await
            .unwrap();
        wait_for_text(client, "#cart", "Still water 500 ml").await;
        assert_no_actions(client).await;

        // An admin sends a declined charge again.
        sign_out(client).await;
        log_in(client, base, ADMIN.0, ADMIN.1).await;
        wait_for_text(client, "#user-role", "admin").await;
        client
            .goto(&format!("{base}/#/sessions/{DECLINED_SESSION}"))
            .await
            .unwrap();
        wait_for_text(client, "#charge-failure", "card declined").await;
        let retry = wait_for_text(client, "#retry-charge", "Retry charge").await;
        retry.click().await.unwrap();
        wait_for_text(client, "#retry-charge", "Confirm")
            .await
            .click()
            .await
            .unwrap();
        wait_gone(client, "#retry-charge").await;
        wait_for_text(client, "#audit", ADMIN.0).await;
        let status = db.billing_status(DECLINED_SESSION).await.unwrap().unwrap();
        assert_eq!(status.status, "pending", "the charge is queued again");
        assert!(
            db.audit(DECLINED_SESSION)
                .await
                .unwrap()
                .iter()
                .any(|entry| entry.actor == ADMIN.0 && entry.action == "retry-charge"),
            "the retry is audited"
        );
    })
    .await
}

/// Takes the README's screenshot of the page on screen at 1280x800: always into the scratch folder (so
/// the code path runs), and into `docs/dashboard.png` with `WALKOUT_SCREENSHOT=1`.
async fn screenshot(client: &Client, scratch: &Path) {
    // The window's size includes the browser's frame: size it so the page itself is 1280x800.
    let inner = client
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .unwrap();
    let inner: (u32, u32) = serde_json::from_value(inner).unwrap();
    let (outer_w, outer_h) = client.get_window_size().await.unwrap();
    let (outer_w, outer_h) = (
        u32::try_from(outer_w).unwrap(),
        u32::try_from(outer_h).unwrap(),
    );
    client
        .set_window_size(1280 + outer_w - inner.0, 800 + outer_h - inner.1)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    std::fs::write(scratch.join("dashboard.png"), &png).unwrap();
    if std::env::var("WALKOUT_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("dashboard.png"), &png).unwrap();
        eprintln!("wrote {}", docs.join("dashboard.png").display());
    }
}

/// Runs a future and catches its panic, so a failed step still closes the browser (chromedriver leaves
/// Chromium running when it is killed) before the test fails with the step's message.
fn catch_unwind<'a>(
    future: impl Future<Output = ()> + 'a,
) -> impl Future<Output = Result<(), Box<dyn Any + Send>>> + 'a {
    let mut future = Box::pin(future);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
}
