//! `walkout eval`: runs the whole pipeline offline on a rendered dataset (cameras, then the detector,
//! then tracking, fusion, shelf events and sessions) and scores what it produced against the ground truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use crossbeam_channel::{Receiver, bounded};
use walkout_cameras::{CameraStream, Source, StreamConfig};
use walkout_core::{CameraId, CaptureTime, Frame};
use walkout_datasets::eval::{PredictedEvent, PredictedReceipt, ProcessingStats};
use walkout_datasets::mot::MotRecord;
use walkout_datasets::truth::{EventKind as TruthKind, Receipt};
use walkout_datasets::{GroundTruth, Metrics, Prediction, Scenario, ScoringConfig, score};
use walkout_models::{
    DetectedFrame, DetectionConfig, DetectionStage, ExecutionProvider, RuntimeConfig, Scheduling,
};
use walkout_pipeline::cart::EventKind;
use walkout_pipeline::sessions::CheckIn;
use walkout_pipeline::store::{FrameDetections, StoreInput, StoreLogic, StoreOutput};

/// The scenario file inside a dataset directory.
pub const SCENARIO_FILE: &str = "scenario.toml";

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A dataset directory written by `walkout simulate`.
    #[arg(long)]
    dataset: PathBuf,
    /// Where to write the metrics as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The detector's manifest.
    #[arg(long)]
    model: PathBuf,
    /// The ONNX Runtime library (default: $ORT_DYLIB_PATH).
    #[arg(long, env = "ORT_DYLIB_PATH")]
    ort_library: Option<PathBuf>,
    /// Execution providers in order of preference.
    #[arg(long = "provider", value_parser = ExecutionProvider::parse, default_value = "cpu")]
    providers: Vec<ExecutionProvider>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let detection = DetectionConfig {
        manifest: args.model.clone(),
        runtime: RuntimeConfig {
            library: args.ort_library.clone(),
            providers: args.providers.clone(),
            ..RuntimeConfig::default()
        },
        scheduling: Scheduling::Auto,
    };
    let (metrics, _) = evaluate(&args.dataset, &detection)?;
    let json = serde_json::to_string_pretty(&metrics)?;
    match &args.json {
        Some(path) => std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing `{}`", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}

/// Runs the pipeline on a dataset and scores it.
pub fn evaluate(
    dataset: &Path,
    detection: &DetectionConfig,
) -> anyhow::Result<(Metrics, Prediction)> {
    let scenario_path = dataset.join(SCENARIO_FILE);
    let text = std::fs::read_to_string(&scenario_path)
        .with_context(|| format!("reading `{}`", scenario_path.display()))?;
    let scenario =
        Scenario::from_toml_str(&text).with_context(|| format!("`{}`", scenario_path.display()))?;
    let truth = GroundTruth::read_from_dir(dataset)
        .with_context(|| format!("ground truth in `{}`", dataset.display()))?;
    let prediction = predict(dataset, &scenario, &truth, detection)?;
    let metrics = score(&truth, &prediction, &ScoringConfig::default());
    Ok((metrics, prediction))
}

/// The video of one camera in a dataset.
pub fn camera_video(dataset: &Path, camera: &str) -> PathBuf {
    dataset.join("videos").join(format!("{camera}.mp4"))
}

fn predict(
    dataset: &Path,
    scenario: &Scenario,
    truth: &GroundTruth,
    detection: &DetectionConfig,
) -> anyhow::Result<Prediction> {
    let started = Instant::now();
    let mut logic = StoreLogic::new(crate::wiring::store_config(scenario)?)
        .context("calibrating the store's cameras")?;
    let fps: BTreeMap<String, f64> = scenario
        .cameras
        .iter()
        .map(|c| (c.id.clone(), c.fps))
        .collect();
    // decode every camera on its own thread; merge by presentation time into the detector
    let mut heads = Vec::new();
    let mut decoders = Vec::new();
    for camera in &scenario.cameras {
        let video = camera_video(dataset, &camera.id);
        let source = Source::parse(&video.display().to_string())?;
        let stream = CameraStream::open(StreamConfig::new(CameraId::new(&camera.id), source))
            .with_context(|| format!("camera `{}`", camera.id))?;
        let (tx, rx) = bounded::<Frame>(8);
        decoders.push(
            thread::Builder::new()
                .name(format!("decode-{}", camera.id))
                .spawn(move || decode(stream, tx))?,
        );
        heads.push(rx);
    }
    let (detect_tx, detect_rx) = bounded::<Frame>(8);
    let merger = thread::Builder::new()
        .name("merge".into())
        .spawn(move || merge_by_time(heads, detect_tx))?;
    let (out_tx, out_rx) = bounded::<DetectedFrame>(8);
    let stage = DetectionStage::spawn(detection, detect_rx, out_tx)?;

    // scenario time 0 is this instant on the store's clock
    let base = CaptureTime::from_unix_millis(1_700_000_000_000);
    let at = |secs: f64| {
        base.checked_add(Duration::from_secs_f64(secs.max(0.0)))
            .unwrap_or(base)
    };
    let mut check_ins: Vec<&walkout_datasets::truth::CheckIn> = truth.check_ins.iter().collect();
    check_ins.sort_by(|a, b| a.time_secs.total_cmp(&b.time_secs));
    let mut check_ins = check_ins.into_iter().peekable();
    let mut outputs = Vec::new();
    let mut frames = 0u64;
    for detected in out_rx {
        let pts = detected.frame.pts.unwrap_or_default();
        while let Some(c) = check_ins.next_if(|c| c.time_secs <= pts.as_secs_f64()) {
            let input = StoreInput::CheckIn(CheckIn {
                account: c.account.clone(),
                gate: c.gate.clone(),
                time: at(c.time_secs),
            });
            logic.handle(input, &mut |o| outputs.push(o));
        }
        frames += 1;
        let frame = FrameDetections {
            camera: detected.frame.camera.clone(),
            seq: detected.frame.seq,
            time: at(pts.as_secs_f64()),
            detections: detected.detections,
        };
        logic.handle(StoreInput::Frame(frame), &mut |o| outputs.push(o));
    }
    for c in check_ins {
        let input = StoreInput::CheckIn(CheckIn {
            account: c.account.clone(),
            gate: c.gate.clone(),
            time: at(c.time_secs),
        });
        logic.handle(input, &mut |o| outputs.push(o));
    }
    logic.flush(&mut |o| outputs.push(o));
    let stats = stage.join();
    merger
        .join()
        .map_err(|_| anyhow::anyhow!("the merge thread panicked"))?;
    for decoder in decoders {
        decoder
            .join()
            .map_err(|_| anyhow::anyhow!("a decode thread panicked"))??;
    }
    if stats.failed_frames > 0 {
        tracing::warn!(
            frames = stats.failed_frames,
            "detection failed on some frames"
        );
    }

    let prices = scenario.store.prices_minor();
    let secs = |t: CaptureTime| t.saturating_since(base).as_secs_f64();
    let mut prediction = Prediction::default();
    let mut accounts: BTreeMap<u64, String> = BTreeMap::new();
    let mut closed = BTreeSet::new();
    for output in &outputs {
        match output {
            StoreOutput::SessionOpened { session, account } => {
                accounts.insert(*session, account.clone());
            }
            StoreOutput::SessionClosed(session) => {
                closed.insert(session.id);
                if session.needs_review() {
                    prediction.review.insert(session.account.clone());
                }
                let cart = session.cart();
                let receipt = Receipt::from_items(cart.lines.iter().map(|(sku, line)| {
                    (
                        sku.as_str(),
                        line.quantity,
                        prices.get(sku).copied().unwrap_or(0),
                    )
                }));
                prediction.receipts.push(PredictedReceipt {
                    account: session.account.clone(),
                    lines: receipt.lines,
                });
                if let (Some(closed_at), Some(true_session)) =
                    (session.closed_at, truth.session(&session.account))
                {
                    let latency_ms = (secs(closed_at) - true_session.exit_time_secs) * 1000.0;
                    prediction.stats.exit_to_charge_ms.push(latency_ms.max(0.0));
                }
            }
            StoreOutput::CameraTracks {
                camera,
                time,
                tracks,
                ..
            } => {
                let fps = fps.get(camera.as_str()).copied().unwrap_or(15.0);
                let frame = (secs(*time) * fps).round() as u32 + 1;
                let records = prediction.tracks.entry(camera.to_string()).or_default();
                for (id, b) in tracks {
                    records.push(MotRecord {
                        frame,
                        id: *id as i64,
                        left: b.x1,
                        top: b.y1,
                        width: b.width(),
                        height: b.height(),
                        confidence: 1.0,
                        class: -1,
                        visibility: -1.0,
                    });
                }
            }
            StoreOutput::Event { .. } | StoreOutput::Positions { .. } => {}
        }
    }
    for output in &outputs {
        if let StoreOutput::Event { event, session } = output {
            prediction.events.push(PredictedEvent {
                time_secs: secs(event.time),
                account: session.and_then(|s| accounts.get(&s).cloned()),
                slot: event.slot.clone(),
                kind: match event.kind {
                    EventKind::Pick => TruthKind::Pick,
                    EventKind::Put => TruthKind::Put,
                },
                quantity: event.quantity,
            });
        }
    }
    // a session that never closed was never charged; if it also needed review, say so
    for session in logic
        .sessions()
        .all()
        .filter(|s| !closed.contains(&s.id) && s.needs_review())
    {
        prediction.review.insert(session.account.clone());
    }
    prediction.stats = ProcessingStats {
        frames_processed: frames,
        processing_secs: started.elapsed().as_secs_f64(),
        ..prediction.stats
    };
    Ok(prediction)
}

fn decode(
    mut stream: CameraStream,
    frames: crossbeam_channel::Sender<Frame>,
) -> Result<(), walkout_cameras::CameraError> {
    while let Some(frame) = stream.next_frame()? {
        if frames.send(frame).is_err() {
            break;
        }
    }
    Ok(())
}

/// Forwards frames from every camera in presentation-time order (each camera is already in order).
fn merge_by_time(cameras: Vec<Receiver<Frame>>, out: crossbeam_channel::Sender<Frame>) {
    let mut heads: Vec<Option<Frame>> = cameras.iter().map(|rx| rx.recv().ok()).collect();
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, head)| head.as_ref().map(|f| (i, f.pts.unwrap_or_default())))
            .min_by_key(|(_, pts)| *pts)
            .map(|(i, _)| i);
        let Some(index) = next else { return };
        let Some(frame) = heads[index].take() else {
            return;
        };
        heads[index] = cameras[index].recv().ok();
        if out.send(frame).is_err() {
            return;
        }
    }
}
