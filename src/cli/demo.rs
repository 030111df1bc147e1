//! `walkout demo`: the whole store, live, on a rendered shop. The camera videos are served over RTSP from
//! loopback (one camera drops for a few seconds and comes back), the shoppers check in through the app
//! API at the times the scenario says, the payments sandbox charges them, and at the end every receipt is
//! printed beside the ground truth with the accuracy.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use walkout_api::sandbox::{Sandbox, SandboxConfig};
use walkout_api::signing::Secret;
use walkout_cameras::{RtspMedia, RtspServer, VideoFormat, VideoWriter};
use walkout_datasets::eval::{PredictedEvent, PredictedReceipt};
use walkout_datasets::truth::{EventKind as TruthKind, ReceiptLine};
use walkout_datasets::{GroundTruth, Prediction, Scenario, ScoringConfig, score};
use walkout_render::{RenderOptions, Renderer, render_dataset};

use crate::config::{
    AuthSection, CameraSection, DatabaseSection, HttpSection, ModelSection, PaymentsSection,
    Secrets, ServeConfig, StoreSection,
};
use crate::serve::{RunningStore, StoreSetup};

/// The seed of the demo store that `make demo` shows.
pub const DEMO_SEED: u64 = 1;
/// The demo's frame size: the store detector's input size.
const DEMO_RESOLUTION: [u32; 2] = [640, 480];
/// How long the dropped camera stays away.
const OUTAGE: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run without waiting for a person: exit 0 after printing the summary.
    #[arg(long)]
    headless: bool,
    /// The scenario preset to play (see `walkout simulate`).
    #[arg(long, default_value = "demo")]
    preset: String,
    /// The preset's seed.
    #[arg(long, default_value_t = DEMO_SEED)]
    seed: u64,
    /// Where rendered demo stores are kept and reused.
    #[arg(long, default_value = ".cache/demo")]
    data: PathBuf,
    /// Where the dashboard listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The detector's manifest.
    #[arg(long, default_value = super::SHIPPED_MODEL)]
    model: PathBuf,
    /// Keep every camera up (by default one camera drops for a few seconds and comes back).
    #[arg(long)]
    no_drop: bool,
    /// Run the store without lane scales: its events then come from the cameras' product counts
    /// alone (by default every slot stands on a scale that posts its weight changes).
    #[arg(long)]
    no_scales: bool,
    /// The first RTSP port: camera N is served on this port plus N (0: any free ports).
    #[arg(long, default_value_t = 8554)]
    rtsp_port: u16,
    /// Print the demo store's configuration (what config/demo-store.toml holds) and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    runtime: super::RuntimeArgs,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let scenario = demo_scenario(&args.preset, args.seed, !args.no_scales)?;
    if args.print_config {
        let sources = rtsp_urls(&scenario, args.rtsp_port);
        // the file lives in config/, and its paths are relative to it
        let model = if args.model.is_relative() {
            Path::new("..").join(&args.model)
        } else {
            args.model.clone()
        };
        let config = demo_config(
            &scenario,
            &sources,
            &model,
            "sqlite://.cache/demo/demo.db",
            "http://127.0.0.1:9090/charges",
            args.listen,
        );
        print!("{CONFIG_HEADER}{}", toml::to_string(&config)?);
        return Ok(());
    }
    let dataset = args.data.join(format!(
        "{}-{}x{}{}",
        scenario.name,
        DEMO_RESOLUTION[0],
        DEMO_RESOLUTION[1],
        if scenario.store.scales.is_some() {
            "-scales"
        } else {
            ""
        }
    ));
    prepare_dataset(&scenario, &dataset)?;
    let truth = GroundTruth::read_from_dir(&dataset)
        .with_context(|| format!("ground truth in `{}`", dataset.display()))?;
    let drop = (!args.no_drop)
        .then(|| plan_drop(&scenario, &truth, &dataset))
        .flatten();
    if let Some(drop) = &drop {
        prepare_tail(&scenario, drop)?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let secrets = Secrets {
        payments: random_secret(),
        admin_password: random_secret()[..12].to_string(),
        ingest_key: random_secret(),
        app_key: random_secret(),
        check_in: random_secret(),
    };
    // The RTSP cameras: one server per camera, so that one can go away alone.
    let mut servers = BTreeMap::new();
    for (index, camera) in scenario.cameras.iter().enumerate() {
        let video = crate::cli::eval::camera_video(&dataset, &camera.id);
        let port = rtsp_port(args.rtsp_port, index);
        let server = RtspServer::start(port, vec![(camera.id.clone(), passthrough(&video))])
            .with_context(|| format!("serving camera `{}` over RTSP on port {port}", camera.id))?;
        servers.insert(camera.id.clone(), server);
    }
    let sources: BTreeMap<String, String> = servers
        .iter()
        .map(|(id, server)| (id.clone(), server.url(id)))
        .collect();

    runtime.block_on(async {
        let sandbox = Sandbox::new(SandboxConfig::new(Secret::new(
            secrets.payments.clone().into_bytes(),
        )?))?;
        let sandbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let payments_url = format!("http://{}/charges", sandbox_listener.local_addr()?);
        let (sandbox_stop, mut sandbox_stopped) = tokio::sync::watch::channel(false);
        let sandbox_task = tokio::spawn(walkout_api::sandbox::serve(
            sandbox_listener,
            sandbox.clone(),
            async move {
                let _ = sandbox_stopped.wait_for(|s| *s).await;
            },
        ));
        let database = args.data.join("demo.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
        }
        let config = demo_config(
            &scenario,
            &sources,
            &args.model,
            &format!("sqlite://{}", database.display()),
            &payments_url,
            args.listen,
        );
        let store = RunningStore::start(StoreSetup {
            config: config.clone(),
            secrets: secrets.clone(),
            database_url: config.database.url.clone(),
            runtime: args.runtime.config(),
            keep_closed_sessions: true,
        })
        .await?;
        let base = format!("http://{}", store.addr);
        println!(
            "Walkout demo: {} ({} cameras, {} shoppers, {:.0} s)",
            scenario.name,
            scenario.cameras.len(),
            scenario.shoppers.len(),
            scenario.duration_secs
        );
        println!(
            "  dashboard  {base}/   login: {} / {}",
            config.auth.admin_user, secrets.admin_password
        );
        println!("  payments   {payments_url} (sandbox)");
        let result = play(
            &scenario,
            &truth,
            &store,
            &base,
            &secrets,
            &mut servers,
            drop.as_ref(),
        )
        .await;
        // the scene is over: the pipeline drains (closing the sessions of shoppers it lost on the way
        // out, for review) before the receipts are read
        let mut store = store;
        store.stop_pipeline().await;
        let summary = match result {
            Ok(started) => summarize(&scenario, &truth, &store, &sandbox, started).await,
            Err(e) => Err(e),
        };
        if summary.is_ok() && !args.headless {
            println!("\nThe dashboard stays up at {base}/ ; Ctrl-C to stop.");
            walkout_api::shutdown_signal().await;
        }
        store.stop().await;
        let _ = sandbox_stop.send(true);
        let _ = sandbox_task.await;
        summary
    })?;
    for server in servers.values_mut() {
        server.stop();
    }
    Ok(())
}

const CONFIG_HEADER: &str = "\
# The demo store that `make demo` (`walkout demo`) runs: the `demo` preset's shop (seed 1), its four
# cameras read over RTSP from the demo's own loopback servers, SQLite, and the local payments sandbox.
# Written by `walkout demo --print-config`; a test checks it still matches. Secrets come from the
# environment variables named in [payments] and [auth] (the demo makes fresh ones each run).

";

/// The preset at the demo's resolution, its slots on lane scales when `scales`.
pub fn demo_scenario(preset: &str, seed: u64, scales: bool) -> anyhow::Result<Scenario> {
    let scenario =
        walkout_datasets::preset(preset, seed).with_context(|| format!("preset `{preset}`"))?;
    let mut scenario = walkout_render::with_resolution(&scenario, DEMO_RESOLUTION);
    if scales {
        scenario.store.scales = Some(walkout_datasets::scenario::Scales::default());
    }
    Ok(scenario)
}

fn rtsp_port(first: u16, index: usize) -> u16 {
    if first == 0 {
        0
    } else {
        first.saturating_add(u16::try_from(index).unwrap_or(u16::MAX))
    }
}

/// Where the demo serves each camera.
pub fn rtsp_urls(scenario: &Scenario, first_port: u16) -> BTreeMap<String, String> {
    scenario
        .cameras
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.id.clone(),
                format!("rtsp://127.0.0.1:{}/{}", rtsp_port(first_port, i), c.id),
            )
        })
        .collect()
}

/// A camera video served as it is (H.264 from the MP4, no re-encoding), in real time.
fn passthrough(video: &Path) -> RtspMedia {
    let location = video
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    RtspMedia::Launch(format!(
        "filesrc location=\"{location}\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1"
    ))
}

/// Renders the dataset unless a complete one is already there.
fn prepare_dataset(scenario: &Scenario, dir: &Path) -> anyhow::Result<()> {
    if crate::cli::eval::rendered_already(dir, scenario) {
        return Ok(());
    }
    println!("Rendering the demo store into {} (once) ...", dir.display());
    let report = render_dataset(scenario, dir, &RenderOptions::default())
        .with_context(|| format!("rendering `{}`", dir.display()))?;
    println!(
        "  {} frames in {:.0} s",
        report.cameras.iter().map(|c| c.frames_written).sum::<u64>(),
        report.elapsed_secs
    );
    Ok(())
}

/// Which camera drops, when, and from which second of its video it comes back.
#[derive(Debug, Clone)]
struct DropPlan {
    camera: String,
    at_secs: f64,
    back_secs: f64,
    /// The camera's video from here on is served after the outage (a camera that comes back shows what
    /// happens now, not what it missed).
    resume_secs: f64,
    /// That part of the video.
    tail: PathBuf,
}

/// The drop: after the last check-in, the camera that sees the fewest shoppers from then on (so that the
/// outage costs the least), for [`OUTAGE`].
fn plan_drop(scenario: &Scenario, truth: &GroundTruth, dataset: &Path) -> Option<DropPlan> {
    let last_check_in = truth
        .check_ins
        .iter()
        .map(|c| c.time_secs)
        .fold(0.0, f64::max);
    let at_secs = last_check_in + 3.0;
    let back_secs = at_secs + OUTAGE.as_secs_f64();
    if back_secs + 5.0 > scenario.duration_secs {
        return None;
    }
    let camera = scenario
        .cameras
        .iter()
        .min_by_key(|c| {
            let first = (at_secs * c.fps) as u32;
            truth.cameras.get(&c.id).map_or(0, |t| {
                t.shoppers.iter().filter(|r| r.frame >= first).count()
            })
        })?
        .id
        .clone();
    // the camera reconnects with back-off, about a second or two after it is back
    let resume_secs = back_secs + 1.5;
    Some(DropPlan {
        tail: dataset
            .join("videos")
            .join(format!("{camera}-from-{resume_secs:.1}s.mp4")),
        camera,
        at_secs,
        back_secs,
        resume_secs,
    })
}

/// Renders the dropped camera's video from the resume time on.
fn prepare_tail(scenario: &Scenario, drop: &DropPlan) -> anyhow::Result<()> {
    let path = drop.tail.clone();
    if path.is_file() {
        return Ok(());
    }
    let camera = scenario
        .cameras
        .iter()
        .find(|c| c.id == drop.camera)
        .context("the dropped camera")?;
    let renderer = Renderer::new(scenario)?;
    let mut frames = renderer.camera(&camera.id)?;
    let first = (drop.resume_secs * camera.fps).round() as u32 + 1;
    let format = VideoFormat::from_extension(&path).context("an .mp4 format")?;
    let partial = path.with_extension("partial.mp4");
    let mut writer = VideoWriter::create(
        &partial,
        format,
        camera.resolution_px[0],
        camera.resolution_px[1],
        camera.fps.round() as u32,
    )?;
    for frame in first..=frames.frame_count() {
        let rendered = frames.render(frame)?;
        writer.push_rgb(&rendered.rgb)?;
    }
    writer.finish()?;
    std::fs::rename(&partial, &path)?;
    Ok(())
}

fn random_secret() -> String {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new();
    (0..3)
        .map(|i| format!("{:016x}", random.hash_one(i)))
        .collect()
}

/// The store configuration of a rendered store served from loopback.
pub fn demo_config(
    scenario: &Scenario,
    sources: &BTreeMap<String, String>,
    model: &Path,
    database_url: &str,
    payments_url: &str,
    listen: SocketAddr,
) -> ServeConfig {
    ServeConfig {
        store: StoreSection {
            name: format!("Walkout demo shop ({})", scenario.name),
            currency: "EUR".into(),
            layout: scenario.store.clone(),
        },
        cameras: scenario
            .cameras
            .iter()
            .map(|c| CameraSection {
                id: c.id.clone(),
                url: sources.get(&c.id).cloned().unwrap_or_default(),
                position_m: c.position_m,
                look_at_m: c.look_at_m,
                intrinsics: c.intrinsics,
                resolution_px: c.resolution_px,
                fps: c.fps,
            })
            .collect(),
        model: ModelSection {
            manifest: model.to_path_buf(),
            providers: vec!["cpu".into()],
        },
        database: DatabaseSection {
            url: database_url.to_string(),
        },
        payments: PaymentsSection {
            url: payments_url.to_string(),
            secret_env: "WALKOUT_PAYMENTS_SECRET".into(),
        },
        http: HttpSection { listen },
        auth: AuthSection::default(),
    }
}

/// Plays the scenario in real time: check-ins through the app API at their times, the camera drop, and a
/// progress line every few seconds. Returns when every shopper has left and every closed session has
/// settled (or after a grace period), with the instant scenario time 0 was on screen.
async fn play(
    scenario: &Scenario,
    truth: &GroundTruth,
    store: &RunningStore,
    base: &str,
    secrets: &Secrets,
    servers: &mut BTreeMap<String, RtspServer>,
    drop: Option<&DropPlan>,
) -> anyhow::Result<Instant> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    // scenario time 0 is when the cameras start showing their videos
    let wait_until = Instant::now() + Duration::from_secs(30);
    while !store.cameras().iter().any(|c| c.frames > 0) {
        anyhow::ensure!(
            Instant::now() < wait_until,
            "no camera delivered a frame within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let at = |secs: f64| started + Duration::from_secs_f64(secs.max(0.0));
    let mut check_ins: Vec<_> = truth.check_ins.iter().collect();
    check_ins.sort_by(|a, b| a.time_secs.total_cmp(&b.time_secs));
    let mut next_check_in = 0;
    // the lane scales' readings, posted by the scales at their times (already in time order)
    let readings = &truth.scale_readings;
    let mut next_reading = 0;
    let mut dropped = false;
    let mut restored = false;
    let mut last_progress = Instant::now();
    let end = at(scenario.duration_secs + 3.0);
    loop {
        let now = Instant::now();
        if let Some(c) = check_ins.get(next_check_in)
            && now >= at(c.time_secs)
        {
            check_in(&http, base, secrets, &c.account, &c.gate).await?;
            println!(
                "  {:>5.1} s  {} checks in at {}",
                started.elapsed().as_secs_f64(),
                c.account,
                c.gate
            );
            next_check_in += 1;
            continue;
        }
        if let Some(r) = readings.get(next_reading)
            && now >= at(r.time_secs)
        {
            post_json(
                &http,
                &format!("{base}/api/slots/{}/scale-readings", r.slot),
                &secrets.ingest_key,
                &serde_json::json!({ "delta_g": r.delta_g }),
            )
            .await
            .with_context(|| format!("the scale under slot {}", r.slot))?;
            next_reading += 1;
            continue;
        }
        if let Some(drop) = drop {
            if !dropped && now >= at(drop.at_secs) {
                if let Some(server) = servers.get_mut(&drop.camera) {
                    server.stop();
                }
                println!(
                    "  {:>5.1} s  camera {} goes dark (its RTSP server stops)",
                    started.elapsed().as_secs_f64(),
                    drop.camera
                );
                dropped = true;
            }
            if dropped && !restored && now >= at(drop.back_secs) {
                let port = servers.get(&drop.camera).map_or(0, RtspServer::port);
                let server =
                    RtspServer::start(port, vec![(drop.camera.clone(), passthrough(&drop.tail))])
                        .with_context(|| format!("restarting camera `{}`", drop.camera))?;
                servers.insert(drop.camera.clone(), server);
                println!(
                    "  {:>5.1} s  camera {} is back",
                    started.elapsed().as_secs_f64(),
                    drop.camera
                );
                restored = true;
            }
        }
        if now.duration_since(last_progress) >= Duration::from_secs(3) {
            last_progress = now;
            progress(store, started).await;
        }
        if now >= end && next_check_in >= check_ins.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(started)
}

/// The app asks for a check-in token (the QR code), and the gate posts what it scanned.
async fn check_in(
    http: &reqwest::Client,
    base: &str,
    secrets: &Secrets,
    account: &str,
    gate: &str,
) -> anyhow::Result<()> {
    let token: serde_json::Value = post_json(
        http,
        &format!("{base}/api/app/check-in-tokens"),
        &secrets.app_key,
        &serde_json::json!({ "account_id": account }),
    )
    .await
    .context("the app's check-in token")?;
    let token = token
        .get("token")
        .and_then(serde_json::Value::as_str)
        .context("the token response has no `token`")?;
    post_json(
        http,
        &format!("{base}/api/gates/{gate}/check-ins"),
        &secrets.ingest_key,
        &serde_json::json!({ "token": token }),
    )
    .await
    .context("the gate's check-in")?;
    Ok(())
}

/// POSTs JSON with a bearer key; the JSON answer of a 2xx, else an error with the status and body.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let response = http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "POST {url}: {status}: {text}");
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// One line: the cameras, the sessions, the charges.
async fn progress(store: &RunningStore, started: Instant) {
    let cameras = store.cameras();
    let live = cameras.iter().filter(|c| c.state == "live").count();
    let fps: f64 = cameras.iter().map(|c| c.fps).sum();
    let dropped: u64 = cameras.iter().map(|c| c.dropped).sum();
    let closed = store.closed_sessions();
    let statuses = store.state.db.billing_statuses().await.unwrap_or_default();
    let charged = statuses.iter().filter(|s| s.status == "charged").count();
    let review = statuses.iter().filter(|s| s.status == "review").count();
    println!(
        "  {:>5.1} s  cameras {live}/{} live, {fps:.0} frames/s in, {dropped} dropped | sessions closed {}, charged {charged}, in review {review}",
        started.elapsed().as_secs_f64(),
        cameras.len(),
        closed.len(),
    );
    let _ = std::io::stdout().flush();
}

/// Waits for the charges to settle, then prints each receipt beside the truth, and the accuracy.
async fn summarize(
    scenario: &Scenario,
    truth: &GroundTruth,
    store: &RunningStore,
    sandbox: &Sandbox,
    started: Instant,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let statuses = store.state.db.billing_statuses().await?;
        let unsettled = statuses.iter().filter(|s| s.status == "pending").count();
        if unsettled == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed = store.closed_sessions();
    let charges = sandbox.charges();
    let origin = walkout_core::CaptureClock::global().at(started);
    let mut prediction = Prediction::default();
    for session in &closed {
        let lines: Vec<ReceiptLine> = match charges.iter().find(|c| c.account_id == session.account)
        {
            Some(charge) => charge
                .lines
                .iter()
                .map(|l| ReceiptLine {
                    sku: l.sku.clone(),
                    quantity: u32::try_from(l.quantity).unwrap_or(0),
                    unit_price_minor: l.unit_price_minor,
                    total_minor: l.line_total_minor,
                })
                .collect(),
            None => {
                let prices = scenario.store.prices_minor();
                walkout_datasets::truth::Receipt::from_items(session.cart().lines.iter().map(
                    |(sku, line)| {
                        (
                            sku.as_str(),
                            line.quantity,
                            prices.get(sku).copied().unwrap_or(0),
                        )
                    },
                ))
                .lines
            }
        };
        if session.needs_review() {
            prediction.review.insert(session.account.clone());
        }
        prediction.receipts.push(PredictedReceipt {
            account: session.account.clone(),
            lines,
        });
        for event in &session.events {
            prediction.events.push(PredictedEvent {
                time_secs: event.time.saturating_since(origin).as_secs_f64(),
                account: Some(session.account.clone()),
                slot: event.slot.clone(),
                kind: match event.kind {
                    walkout_pipeline::cart::EventKind::Pick => TruthKind::Pick,
                    walkout_pipeline::cart::EventKind::Put => TruthKind::Put,
                },
                quantity: event.quantity,
            });
        }
    }
    let metrics = score(truth, &prediction, &ScoringConfig::default());
    println!(
        "\nReceipts (charged by the payments sandbox, or held for review) beside the ground truth:"
    );
    for true_session in &truth.sessions {
        let predicted = prediction
            .receipts
            .iter()
            .find(|r| r.account == true_session.account);
        let held = prediction.review.contains(&true_session.account);
        let show = |lines: &[ReceiptLine]| {
            if lines.is_empty() {
                "(nothing)".to_string()
            } else {
                lines
                    .iter()
                    .map(|l| format!("{} x{}", l.sku, l.quantity))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let expected = show(&true_session.receipt.lines);
        let (got, verdict) = match predicted {
            None => ("(no session closed)".to_string(), "MISSING"),
            Some(p) => {
                let same = p.lines == true_session.receipt.lines;
                (
                    show(&p.lines),
                    match (same, held) {
                        (true, false) => "exact",
                        (true, true) => "exact, held for review",
                        (false, true) => "WRONG, held for review",
                        (false, false) => "WRONG",
                    },
                )
            }
        };
        println!("  {:<12} truth: {expected}", true_session.account);
        println!("  {:<12} got:   {got}   [{verdict}]", "");
    }
    println!(
        "\nAccuracy: receipts exact {:.0}%, items precision {:.2} recall {:.2}, events precision {:.2} recall {:.2}, review rate {:.0}%, wrong and unreviewed {:.0}%",
        100.0 * metrics.receipt_exact_rate,
        metrics.item_precision,
        metrics.item_recall,
        metrics.event_precision,
        metrics.event_recall,
        100.0 * metrics.review_rate,
        100.0 * metrics.wrong_unreviewed_rate,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// config/demo-store.toml is what `walkout demo` runs: the same store and cameras.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_checked_in_demo_config_is_what_the_demo_runs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo-store.toml");
        let env = |name: &str| {
            name.starts_with("WALKOUT_")
                .then(|| "0123456789abcdef01".to_string())
        };
        let file = ServeConfig::load(&path, &env).unwrap_or_else(|e| panic!("{e}"));
        let scenario = demo_scenario("demo", DEMO_SEED, true).unwrap();
        let demo = demo_config(
            &scenario,
            &rtsp_urls(&scenario, 8554),
            Path::new("models/walkout_store/walkout_store.toml"),
            "sqlite://.cache/demo/demo.db",
            "http://127.0.0.1:9090/charges",
            "127.0.0.1:8080".parse().unwrap(),
        );
        let json = |value: serde_json::Result<String>| value.unwrap();
        assert_eq!(
            json(serde_json::to_string(&file.store)),
            json(serde_json::to_string(&demo.store)),
            "regenerate it with `walkout demo --print-config > config/demo-store.toml`"
        );
        assert_eq!(
            json(serde_json::to_string(&file.cameras)),
            json(serde_json::to_string(&demo.cameras))
        );
        assert!(
            file.model
                .manifest
                .ends_with("models/walkout_store/walkout_store.toml")
        );
        assert!(file.model.manifest.is_file());
    }
}
