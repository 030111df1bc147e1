//! `walkout eval`: runs the whole pipeline offline on a rendered dataset (cameras, then the detector,
//! then tracking, fusion, shelf events and sessions) and scores what it produced against the ground truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use crossbeam_channel::{Receiver, bounded};
use std::sync::Arc;
use walkout_cameras::{CameraStream, Source, StreamConfig};

use walkout_core::{Appearance, BBox, CameraId, CaptureTime, Detection, Frame, ObjectKind};
use walkout_datasets::eval::{PredictedEvent, PredictedReceipt, ProcessingStats};
use walkout_datasets::mot::MotRecord;
use walkout_datasets::truth::{EventKind as TruthKind, Holder, Receipt};
use walkout_datasets::{GroundTruth, Metrics, Prediction, Scenario, ScoringConfig, score};
use walkout_models::{DetectedFrame, DetectionConfig, DetectionStage, Scheduling};
use walkout_pipeline::TrackerConfig;
use walkout_pipeline::cart::EventKind;
use walkout_pipeline::sessions::CheckIn;
use walkout_pipeline::shelf::{ShelfConfig, WeightReading};
use walkout_pipeline::store::{
    FrameDetections, StoreInput, StoreLogic, StoreOutput, TrackedPerson,
};

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
    /// Where to write what the pipeline produced (receipts, events, review flags, tracks) as JSON.
    #[arg(long)]
    prediction: Option<PathBuf>,
    /// Where to write an HTML report: receipts against the truth, the floor map, camera frames with boxes.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The detector's manifest.
    #[arg(long, default_value = super::SHIPPED_MODEL)]
    model: PathBuf,
    /// Skip the videos and the detector: feed the ground truth's own boxes to the rest of the pipeline.
    /// Separates what the detector gets wrong from what tracking, events and sessions get wrong.
    #[arg(long, conflicts_with = "model")]
    oracle: bool,
    /// Write every frame's detections, as the store got them, to this file (JSON lines), for
    /// `--detections` to replay: the detector's work is then done once per dataset.
    #[arg(long, conflicts_with_all = ["oracle", "detections"])]
    record_detections: Option<PathBuf>,
    /// Replay detections `--record-detections` wrote instead of running the detector: tracking,
    /// fusion, shelf events and sessions run as they did on the detector's output, in seconds, for
    /// trying the store logic's settings and changes. The speed figures then cover the store logic only.
    #[arg(long, conflicts_with_all = ["model", "oracle"])]
    detections: Option<PathBuf>,
    /// Camera tracker settings as TOML, as `walkout track --config` takes them (every field optional;
    /// the store's defaults otherwise): for trying tracker settings on a dataset.
    #[arg(long)]
    tracker: Option<PathBuf>,
    /// Shelf event settings as TOML (the fields of the pipeline's `ShelfConfig`, every one optional;
    /// the store's defaults otherwise): for trying shelf settings on a dataset.
    #[arg(long)]
    shelf: Option<PathBuf>,
    #[command(flatten)]
    runtime: super::RuntimeArgs,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let detector = if args.oracle {
        Detector::Oracle
    } else if let Some(path) = &args.detections {
        Detector::Recorded(path.clone())
    } else {
        Detector::Model(DetectionConfig {
            manifest: args.model.clone(),
            runtime: args.runtime.config(),
            scheduling: Scheduling::Auto,
        })
    };
    let tracker = args
        .tracker
        .as_deref()
        .map(|path| super::track::tracker_config(Some(path)))
        .transpose()?;
    let shelf = args.shelf.as_deref().map(shelf_config).transpose()?;
    let outcome = evaluate(
        &args.dataset,
        &detector,
        Overrides { tracker, shelf },
        args.record_detections.as_deref(),
    )?;
    if let Some(path) = &args.report {
        crate::report::write(path, &args.dataset, &outcome)?;
    }
    let (metrics, prediction) = (outcome.metrics, outcome.prediction);
    if let Some(path) = &args.prediction {
        let text = serde_json::to_string_pretty(&prediction)?;
        std::fs::write(path, text).with_context(|| format!("writing `{}`", path.display()))?;
    }
    let json = serde_json::to_string_pretty(&metrics)?;
    match &args.json {
        Some(path) => std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing `{}`", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}

/// Shelf event settings from a TOML file.
fn shelf_config(path: &Path) -> anyhow::Result<ShelfConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading `{}`", path.display()))?;
    toml::from_str(&text).with_context(|| format!("shelf config `{}`", path.display()))
}

/// Settings that replace the store's own for one evaluation, for trying them on a dataset.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub tracker: Option<TrackerConfig>,
    pub shelf: Option<ShelfConfig>,
}

/// Each global shopper's floor positions, one per fusion step.
pub type TrackedPaths = BTreeMap<u64, Vec<[f64; 2]>>;

/// Everything an evaluation produced.
#[derive(Debug)]
pub struct EvalOutcome {
    pub metrics: Metrics,
    pub prediction: Prediction,
    pub tracked_paths: TrackedPaths,
    pub scenario: Scenario,
    pub truth: GroundTruth,
}

/// Where detections come from.
#[derive(Debug, Clone)]
pub enum Detector {
    /// The model, on the decoded videos.
    Model(DetectionConfig),
    /// The ground truth's boxes.
    Oracle,
    /// Detections an earlier run recorded (see [`DetectionRecord`]).
    Recorded(PathBuf),
}

/// One frame's detections as the store got them: a line of a `--record-detections` file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DetectionRecord {
    pub camera: String,
    pub seq: u64,
    /// The frame's presentation time in its video, seconds.
    pub pts_secs: f64,
    pub detections: Vec<Detection>,
}

/// Runs the pipeline on a dataset and scores it; `overrides` replace the store's own settings;
/// `record`, when given, is where every frame's detections are written as
/// the store got them (see [`DetectionRecord`]).
pub fn evaluate(
    dataset: &Path,
    detector: &Detector,
    overrides: Overrides,
    record: Option<&Path>,
) -> anyhow::Result<EvalOutcome> {
    let scenario_path = dataset.join(SCENARIO_FILE);
    let text = std::fs::read_to_string(&scenario_path)
        .with_context(|| format!("reading `{}`", scenario_path.display()))?;
    let scenario =
        Scenario::from_toml_str(&text).with_context(|| format!("`{}`", scenario_path.display()))?;
    let truth = GroundTruth::read_from_dir(dataset)
        .with_context(|| format!("ground truth in `{}`", dataset.display()))?;
    let started = Instant::now();
    let mut run = StoreRun::new(&scenario, &truth, overrides)?;
    if let Some(path) = record {
        run.record_to(path)?;
    }
    match detector {
        Detector::Model(detection) => detect_videos(dataset, &scenario, detection, &mut run)?,
        Detector::Oracle => oracle_frames(dataset, &scenario, &truth, &mut run)?,
        Detector::Recorded(path) => replay(path, &scenario, &mut run)?,
    }
    run.finish_recording()?;
    let (prediction, tracked_paths) = run.finish(started)?;
    let metrics = score(&truth, &prediction, &ScoringConfig::default());
    Ok(EvalOutcome {
        metrics,
        prediction,
        tracked_paths,
        scenario,
        truth,
    })
}

/// Whether `dir` holds a complete rendering of exactly `scenario` (its ground truth, every camera's
/// video, and the same scenario file), so it can be reused. A scene rendered by an older generator, or
/// from another scenario, is not.
pub fn rendered_already(dir: &Path, scenario: &Scenario) -> bool {
    dir.join("ground_truth.json").is_file()
        && scenario
            .cameras
            .iter()
            .all(|c| camera_video(dir, &c.id).is_file())
        && Scenario::read(&dir.join(SCENARIO_FILE)).is_ok_and(|stored| stored == *scenario)
}

/// The video of one camera in a dataset.
pub fn camera_video(dataset: &Path, camera: &str) -> PathBuf {
    dataset.join("videos").join(format!("{camera}.mp4"))
}

/// Decodes every camera's video on its own thread, merges the frames by presentation time into the
/// detection stage, and feeds its output to the store.
fn detect_videos(
    dataset: &Path,
    scenario: &Scenario,
    detection: &DetectionConfig,
    run: &mut StoreRun,
) -> anyhow::Result<()> {
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
    for detected in out_rx {
        let pts = detected.frame.pts.unwrap_or_default().as_secs_f64();
        run.frame(
            detected.frame.camera.clone(),
            detected.frame.seq,
            pts,
            detected.detections,
        )?;
    }
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
    Ok(())
}

/// The ground truth's visible shopper and hand boxes as detections, every camera's frames in time order,
/// and a perfect product detector: each unit on a watched slot is a small box where the unit stands on
/// the shelf, as the camera sees it (a slot holding `n` units shows its first `n` places, as the
/// renderer draws them). (The renderer's ground truth boxes shelf units only while a hand reaches in,
/// to stay small, so the oracle counts from the timeline instead.) Each shopper box carries its look in
/// the decoded video, as the detection stage gives a detected one.
fn oracle_frames(
    dataset: &Path,
    scenario: &Scenario,
    truth: &GroundTruth,
    run: &mut StoreRun,
) -> anyhow::Result<()> {
    let looks = oracle_looks(dataset, scenario, truth)?;
    let config = crate::wiring::store_config(scenario)?;
    let timeline = scenario
        .timeline()
        .map_err(walkout_datasets::ScenarioError::Invalid)?;
    let places = walkout_render::shelf_places_m(scenario)?;
    // per camera: each watched slot's id and its places in the camera's pixels
    let watched: BTreeMap<&str, Vec<WatchedSlot>> = config
        .cameras
        .iter()
        .map(|c| {
            let slots = c
                .slots
                .iter()
                .map(|slot| {
                    let shelf = scenario.store.slot(&slot.slot).map(|p| p.shelf);
                    let pixels = places
                        .get(slot.slot.as_str())
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            let world = nalgebra::Point3::new(
                                f64::from(p[0]),
                                f64::from(p[1]),
                                f64::from(p[2]),
                            );
                            let camera = c.calibration.world_from_camera.translation.vector;
                            let hidden = shelf.is_some_and(|shelf| {
                                under_a_board(shelf, &world, &nalgebra::Point3::from(camera))
                            });
                            c.calibration
                                .image_from_world(&world)
                                .filter(|_| !hidden)
                                .map(|px| (px.x as f32, px.y as f32))
                        })
                        .collect();
                    (slot.slot.as_str(), pixels)
                })
                .collect();
            (c.id.as_str(), slots)
        })
        .collect();
    let detection = |kind: ObjectKind, label: &str, bbox: BBox| Detection {
        class_id: 0,
        label: Arc::from(label),
        kind,
        score: 1.0,
        bbox,
        appearance: None,
    };
    let mut frames: Vec<(f64, String, u32)> = Vec::new();
    for camera in &scenario.cameras {
        let Some(camera_truth) = truth.cameras.get(&camera.id) else {
            continue;
        };
        let skipped: BTreeSet<u32> = camera_truth
            .dropped_frames
            .iter()
            .chain(&camera_truth.dark_frames)
            .copied()
            .collect();
        for frame in (1..=camera_truth.frame_count).filter(|f| !skipped.contains(f)) {
            frames.push((camera.frame_time_secs(frame), camera.id.clone(), frame));
        }
    }
    frames.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    for (time, camera, frame) in frames {
        let Some(t) = truth.cameras.get(&camera) else {
            continue;
        };
        let frame_looks = looks.get(&(camera.clone(), frame));
        let mut detections: Vec<Detection> = t
            .shoppers
            .iter()
            .filter(|r| r.frame == frame && r.visibility != 0.0)
            .map(|r| Detection {
                appearance: frame_looks
                    .and_then(|l| l.iter().find(|(id, _)| *id == r.id))
                    .map(|(_, look)| *look),
                ..detection(
                    ObjectKind::Person,
                    "person",
                    BBox::new(r.left, r.top, r.left + r.width, r.top + r.height),
                )
            })
            .collect();
        detections.extend(
            t.hands
                .iter()
                .filter(|h| h.frame == frame && h.visibility > 0.0)
                .map(|h| detection(ObjectKind::Hand, "hand", h.bbox)),
        );
        for (slot, pixels) in watched.get(camera.as_str()).into_iter().flatten() {
            let units: u32 = timeline
                .contents_at(&Holder::Slot((*slot).to_string()), time)
                .values()
                .sum();
            for &(cx, cy) in pixels.iter().take(units as usize).flatten() {
                detections.push(detection(
                    ObjectKind::Product,
                    "product",
                    BBox::new(cx - 2.0, cy - 2.0, cx + 2.0, cy + 2.0),
                ));
            }
        }
        run.frame(
            CameraId::new(&camera),
            u64::from(frame - 1),
            time,
            detections,
        )?;
    }
    Ok(())
}

/// Feeds the store the frames a `--record-detections` file holds, in its order (the order the
/// recording run fed them in). A line that does not parse, or names a camera the scenario does not
/// have (a file recorded on another dataset), is an error that names the file and the line.
fn replay(path: &Path, scenario: &Scenario, run: &mut StoreRun) -> anyhow::Result<()> {
    use std::io::BufRead;
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening recorded detections `{}`", path.display()))?;
    let cameras: BTreeSet<&str> = scenario.cameras.iter().map(|c| c.id.as_str()).collect();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at = || format!("`{}` line {}", path.display(), index + 1);
        let line = line.with_context(at)?;
        if line.trim().is_empty() {
            continue;
        }
        let record: DetectionRecord = serde_json::from_str(&line).with_context(at)?;
        if !cameras.contains(record.camera.as_str()) {
            anyhow::bail!(
                "{}: camera `{}` is not in this dataset's scenario (it has {}): detections recorded on another dataset?",
                at(),
                record.camera,
                cameras.iter().copied().collect::<Vec<_>>().join(", ")
            );
        }
        run.frame(
            CameraId::new(&record.camera),
            record.seq,
            record.pts_secs,
            record.detections,
        )?;
    }
    Ok(())
}

/// Per camera and frame number: each ground-truth shopper box's look in the decoded video (every
/// camera decoded on its own thread).
type OracleLooks = BTreeMap<(String, u32), Vec<(i64, Appearance)>>;

fn oracle_looks(
    dataset: &Path,
    scenario: &Scenario,
    truth: &GroundTruth,
) -> anyhow::Result<OracleLooks> {
    thread::scope(|scope| {
        let workers: Vec<_> = scenario
            .cameras
            .iter()
            .filter_map(|camera| truth.cameras.get(&camera.id).map(|t| (camera, t)))
            .map(|(camera, camera_truth)| {
                scope.spawn(move || -> anyhow::Result<OracleLooks> {
                    let video = camera_video(dataset, &camera.id);
                    let source = Source::parse(&video.display().to_string())?;
                    let mut stream =
                        CameraStream::open(StreamConfig::new(CameraId::new(&camera.id), source))
                            .with_context(|| format!("camera `{}`", camera.id))?;
                    let mut boxes: BTreeMap<u32, Vec<&MotRecord>> = BTreeMap::new();
                    for r in camera_truth.shoppers.iter().filter(|r| r.visibility != 0.0) {
                        boxes.entry(r.frame).or_default().push(r);
                    }
                    let mut looks = OracleLooks::new();
                    while let Some(frame) = stream
                        .next_frame()
                        .with_context(|| format!("decoding camera `{}`", camera.id))?
                    {
                        let pts = frame.pts.unwrap_or_default().as_secs_f64();
                        let number = (pts * camera.fps).round() as u32 + 1;
                        let Some(records) = boxes.get(&number) else {
                            continue;
                        };
                        let found = records
                            .iter()
                            .filter_map(|r| {
                                let b =
                                    BBox::new(r.left, r.top, r.left + r.width, r.top + r.height);
                                Appearance::of_box(&frame, &b).map(|look| (r.id, look))
                            })
                            .collect();
                        looks.insert((camera.id.clone(), number), found);
                    }
                    Ok(looks)
                })
            })
            .collect();
        let mut all = OracleLooks::new();
        for worker in workers {
            let looks = worker
                .join()
                .map_err(|_| anyhow::anyhow!("a decode thread panicked"))??;
            all.extend(looks);
        }
        Ok(all)
    })
}

/// A slot a camera watches, and where each of its unit places shows in the camera's pixels (`None`:
/// hidden or behind the camera).
type WatchedSlot<'a> = (&'a str, Vec<Option<(f32, f32)>>);

/// Whether a shelf's board above `unit` hides it from `camera` (the line of sight crosses a higher
/// level's board inside the shelf's footprint).
fn under_a_board(
    shelf: &walkout_datasets::scenario::Shelf,
    unit: &nalgebra::Point3<f64>,
    camera: &nalgebra::Point3<f64>,
) -> bool {
    let level_h = shelf.level_height_m();
    let [x0, y0, x1, y1] = shelf.footprint_m();
    (1..=shelf.levels).any(|level| {
        let board = f64::from(level) * level_h;
        if board <= unit.z || board >= camera.z {
            return false;
        }
        let t = (board - unit.z) / (camera.z - unit.z);
        let (x, y) = (
            unit.x + t * (camera.x - unit.x),
            unit.y + t * (camera.y - unit.y),
        );
        x > x0 && x < x1 && y > y0 && y < y1
    })
}

/// The store logic fed in time order, with the ground truth's check-ins injected at their times, and
/// what it produced turned into a [`Prediction`].
struct StoreRun<'a> {
    scenario: &'a Scenario,
    truth: &'a GroundTruth,
    logic: StoreLogic,
    check_ins: Vec<&'a walkout_datasets::truth::CheckIn>,
    next_check_in: usize,
    /// The lane scales' readings, when the store has scales: sensor input, like the frames.
    readings: &'a [walkout_datasets::truth::ScaleReading],
    next_reading: usize,
    outputs: Vec<StoreOutput>,
    frames: u64,
    /// Where the frames' detections are being recorded, and its path for errors.
    recording: Option<(std::io::BufWriter<std::fs::File>, PathBuf)>,
}

/// Scenario time 0 on the store's clock.
const BASE: CaptureTime = CaptureTime {
    unix_nanos: 1_700_000_000_000_000_000,
};

fn at(secs: f64) -> CaptureTime {
    BASE.checked_add(Duration::from_secs_f64(secs.max(0.0)))
        .unwrap_or(BASE)
}

fn secs(t: CaptureTime) -> f64 {
    t.saturating_since(BASE).as_secs_f64()
}

impl<'a> StoreRun<'a> {
    fn new(
        scenario: &'a Scenario,
        truth: &'a GroundTruth,
        overrides: Overrides,
    ) -> anyhow::Result<Self> {
        let mut config = crate::wiring::store_config(scenario)?;
        if let Some(tracker) = overrides.tracker {
            config.tracker = tracker;
        }
        if let Some(shelf) = overrides.shelf {
            config.shelf = shelf;
        }
        let logic = StoreLogic::new(config).context("calibrating the store's cameras")?;
        let mut check_ins: Vec<&walkout_datasets::truth::CheckIn> =
            truth.check_ins.iter().collect();
        check_ins.sort_by(|a, b| a.time_secs.total_cmp(&b.time_secs));
        Ok(Self {
            scenario,
            truth,
            logic,
            check_ins,
            next_check_in: 0,
            // a store without scales has no readings, whatever the dataset carries
            readings: if scenario.store.scales.is_some() {
                &truth.scale_readings
            } else {
                &[]
            },
            next_reading: 0,
            outputs: Vec::new(),
            frames: 0,
            recording: None,
        })
    }

    /// Feeds the check-ins and scale readings up to `time_secs`, in time order.
    fn check_ins_until(&mut self, time_secs: f64) {
        loop {
            let check_in = self
                .check_ins
                .get(self.next_check_in)
                .filter(|c| c.time_secs <= time_secs);
            let reading = self
                .readings
                .get(self.next_reading)
                .filter(|r| r.time_secs <= time_secs);
            let input = match (check_in, reading) {
                (Some(c), r) if r.is_none_or(|r| c.time_secs <= r.time_secs) => {
                    self.next_check_in += 1;
                    StoreInput::CheckIn(CheckIn {
                        account: c.account.clone(),
                        gate: c.gate.clone(),
                        time: at(c.time_secs),
                    })
                }
                (_, Some(r)) => {
                    self.next_reading += 1;
                    StoreInput::Weight(WeightReading {
                        slot: r.slot.clone(),
                        delta_g: r.delta_g,
                        time: at(r.time_secs),
                    })
                }
                _ => break,
            };
            let outputs = &mut self.outputs;
            self.logic.handle(input, &mut |o| outputs.push(o));
        }
    }

    fn record_to(&mut self, path: &Path) -> anyhow::Result<()> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("creating `{}`", path.display()))?;
        self.recording = Some((std::io::BufWriter::new(file), path.to_path_buf()));
        Ok(())
    }

    fn finish_recording(&mut self) -> anyhow::Result<()> {
        use std::io::Write;
        if let Some((mut writer, path)) = self.recording.take() {
            writer
                .flush()
                .with_context(|| format!("writing `{}`", path.display()))?;
        }
        Ok(())
    }

    fn frame(
        &mut self,
        camera: CameraId,
        seq: u64,
        time_secs: f64,
        detections: Vec<Detection>,
    ) -> anyhow::Result<()> {
        let detections = match &mut self.recording {
            Some((writer, path)) => {
                use std::io::Write;
                let record = DetectionRecord {
                    camera: camera.as_str().to_string(),
                    seq,
                    pts_secs: time_secs,
                    detections,
                };
                serde_json::to_writer(&mut *writer, &record)
                    .map_err(anyhow::Error::from)
                    .and_then(|()| writer.write_all(b"\n").map_err(anyhow::Error::from))
                    .with_context(|| format!("writing `{}`", path.display()))?;
                record.detections
            }
            None => detections,
        };
        self.check_ins_until(time_secs);
        self.frames += 1;
        let frame = FrameDetections {
            camera,
            seq,
            time: at(time_secs),
            detections,
        };
        let outputs = &mut self.outputs;
        self.logic
            .handle(StoreInput::Frame(frame), &mut |o| outputs.push(o));
        Ok(())
    }

    fn finish(mut self, started: Instant) -> anyhow::Result<(Prediction, TrackedPaths)> {
        self.check_ins_until(f64::INFINITY);
        let outputs = &mut self.outputs;
        self.logic.flush(&mut |o| outputs.push(o));
        let fps: BTreeMap<&str, f64> = self
            .scenario
            .cameras
            .iter()
            .map(|c| (c.id.as_str(), c.fps))
            .collect();
        let prices = self.scenario.store.prices_minor();
        let mut prediction = Prediction::default();
        let mut accounts: BTreeMap<u64, String> = BTreeMap::new();
        let mut closed = BTreeSet::new();
        let mut paths: BTreeMap<u64, Vec<[f64; 2]>> = BTreeMap::new();
        let mut closed_sessions = Vec::new();
        let mut camera_tracks: BTreeMap<String, Vec<(u32, TrackedPerson)>> = BTreeMap::new();
        for output in &self.outputs {
            match output {
                StoreOutput::SessionOpened { session, account } => {
                    accounts.insert(*session, account.clone());
                }
                StoreOutput::SessionClosed(session) => {
                    closed.insert(session.id);
                    closed_sessions.push(session.as_ref().clone());
                    if session.needs_review() {
                        tracing::info!(
                            account = %session.account,
                            reasons = ?session.review,
                            unmatched_puts = session.cart().has_unmatched_puts(),
                            "session held for review"
                        );
                        prediction.review.insert(session.account.clone());
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
                    let seen = camera_tracks.entry(camera.to_string()).or_default();
                    seen.extend(tracks.iter().map(|person| (frame, *person)));
                }
                StoreOutput::Positions { shoppers, .. } => {
                    for shopper in shoppers {
                        paths
                            .entry(shopper.shopper)
                            .or_default()
                            .push(shopper.position_m);
                    }
                }
                StoreOutput::Event { .. } => {}
            }
        }
        prediction.tracks = camera_tracks
            .into_iter()
            .map(|(camera, seen)| (camera, mot_records(&seen)))
            .collect();
        for output in &self.outputs {
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
        // closed sessions go through the billing path: charged ones take their receipt from the payments
        // sandbox; held ones (review) show what their cart would charge on approval
        let to_charge: Vec<walkout_pipeline::sessions::Session> = closed_sessions
            .iter()
            .filter(|s| !s.needs_review())
            .cloned()
            .collect();
        let billed = bill_through_sandbox(&to_charge, &prices)?;
        for session in &closed_sessions {
            let lines = if session.needs_review() {
                let cart = session.cart();
                Receipt::from_items(cart.lines.iter().map(|(sku, line)| {
                    (
                        sku.as_str(),
                        line.quantity,
                        prices.get(sku).copied().unwrap_or(0),
                    )
                }))
                .lines
            } else {
                billed
                    .charged
                    .get(&session.account)
                    .cloned()
                    .unwrap_or_default()
            };
            prediction.receipts.push(PredictedReceipt {
                account: session.account.clone(),
                lines,
            });
            // detection ends when the cart is final (its shelves settled), not when the shopper left
            if let (Some(closed_at), Some(true_session)) = (
                session.final_at.or(session.closed_at),
                self.truth.session(&session.account),
            ) {
                let detection_ms =
                    ((secs(closed_at) - true_session.exit_time_secs) * 1000.0).max(0.0);
                let billing_ms = billed
                    .close_to_charge_ms
                    .get(&session.account)
                    .copied()
                    .unwrap_or(0.0);
                prediction
                    .stats
                    .exit_to_charge_ms
                    .push(detection_ms + billing_ms);
            }
        }
        // a session that never closed was never charged; if it also needed review, say so
        for session in self
            .logic
            .sessions()
            .all()
            .filter(|s| !closed.contains(&s.id) && s.needs_review())
        {
            prediction.review.insert(session.account.clone());
        }
        prediction.stats = ProcessingStats {
            frames_processed: self.frames,
            processing_secs: started.elapsed().as_secs_f64(),
            ..prediction.stats
        };
        Ok((prediction, paths))
    }
}

/// One camera's tracks as MOTChallenge records, each box under the shopper the store gives it: the one
/// fusion had bound its camera track to at that frame or, for a track seen before fusion bound it, the
/// shopper it was bound to next (what that person did at a shelf meanwhile counts for that shopper too);
/// a track fusion never bound keeps its camera-local id.
fn mot_records(seen: &[(u32, TrackedPerson)]) -> Vec<MotRecord> {
    let mut next_binding: BTreeMap<u64, u64> = BTreeMap::new();
    let mut ids = vec![0; seen.len()];
    for (i, (_, person)) in seen.iter().enumerate().rev() {
        if let Some(shopper) = person.shopper {
            next_binding.insert(person.track, shopper);
        }
        ids[i] = next_binding
            .get(&person.track)
            .copied()
            .unwrap_or_else(|| person.id());
    }
    seen.iter()
        .zip(ids)
        .map(|((frame, person), id)| MotRecord {
            frame: *frame,
            id: id as i64,
            left: person.bbox.x1,
            top: person.bbox.y1,
            width: person.bbox.width(),
            height: person.bbox.height(),
            confidence: 1.0,
            class: -1,
            visibility: -1.0,
        })
        .collect()
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

/// What billing through the sandbox gave: the lines charged per account, and per charged session the
/// wall-clock milliseconds from writing the close to the payments service's confirmation.
struct Billed {
    charged: BTreeMap<String, Vec<walkout_datasets::truth::ReceiptLine>>,
    close_to_charge_ms: BTreeMap<String, f64>,
}

/// Charges every closed session through the billing path a store uses: the close and its outbox row in
/// one transaction (a throwaway SQLite database), the relay, and the payments sandbox on loopback with a
/// fresh random secret. Sessions that need review are held, as in a store, and not charged here.
fn bill_through_sandbox(
    sessions: &[walkout_pipeline::sessions::Session],
    prices: &BTreeMap<String, i64>,
) -> anyhow::Result<Billed> {
    use std::hash::{BuildHasher, RandomState};
    use walkout_api::billing::CloseRequest;
    use walkout_api::billing::relay::{Relay, RelayConfig};
    use walkout_api::sandbox::{Sandbox, SandboxConfig};
    use walkout_api::signing::Secret;
    use walkout_api::{Database, Sku};

    const CURRENCY: &str = "EUR";
    let random = RandomState::new();
    let secret_text: String = (0..4)
        .map(|i| format!("{:016x}", random.hash_one(i)))
        .collect();
    let dir = tempfile::tempdir().context("a folder for the billing database")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = Database::connect(&format!(
            "sqlite://{}",
            dir.path().join("billing.db").display()
        ))
        .await?;
        for (sku, price) in prices {
            db.upsert_sku(&Sku {
                sku: sku.clone(),
                name: sku.clone(),
                price_minor: *price,
                currency: CURRENCY.into(),
            })
            .await?;
        }
        let sandbox = Sandbox::new(SandboxConfig::new(Secret::new(
            secret_text.clone().into_bytes(),
        )?))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/charges", listener.local_addr()?);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut sandbox_stop = stop_rx.clone();
        let server = tokio::spawn(walkout_api::sandbox::serve(
            listener,
            sandbox.clone(),
            async move {
                let _ = sandbox_stop.changed().await;
            },
        ));
        let relay = Relay::new(
            db.clone(),
            RelayConfig::new(url),
            Secret::new(secret_text.into_bytes())?,
        )?;
        let waker = relay.waker();
        let mut relay_stop = stop_rx;
        let relay_task = tokio::spawn(relay.run(async move {
            let _ = relay_stop.changed().await;
        }));
        let mut expected = 0usize;
        for session in sessions {
            let request = CloseRequest::from_session(session);
            let outcome = db
                .close_session(
                    &format!("session-{}", session.id),
                    &request,
                    CURRENCY,
                    walkout_api::billing::unix_now_ms(),
                )
                .await?;
            expected += usize::from(outcome.status == "pending");
        }
        waker.notify_one();
        let deadline = Instant::now() + Duration::from_secs(60);
        let statuses = loop {
            let statuses = db.billing_statuses().await?;
            let settled = statuses
                .iter()
                .filter(|s| s.status == "charged" || s.status == "failed")
                .count();
            if settled >= expected || Instant::now() > deadline {
                break statuses;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let _ = stop_tx.send(true);
        let _ = relay_task.await;
        let _ = server.await;
        let failed: Vec<&str> = statuses
            .iter()
            .filter(|s| s.status == "failed")
            .map(|s| s.session_id.as_str())
            .collect();
        anyhow::ensure!(
            failed.is_empty(),
            "the sandbox refused the charges of {failed:?}"
        );
        let mut billed = Billed {
            charged: BTreeMap::new(),
            close_to_charge_ms: BTreeMap::new(),
        };
        for charge in sandbox.charges() {
            let lines = charge
                .lines
                .iter()
                .map(|l| walkout_datasets::truth::ReceiptLine {
                    sku: l.sku.clone(),
                    quantity: u32::try_from(l.quantity).unwrap_or(0),
                    unit_price_minor: l.unit_price_minor,
                    total_minor: l.line_total_minor,
                })
                .collect();
            billed.charged.insert(charge.account_id.clone(), lines);
        }
        for status in statuses.iter().filter(|s| s.status == "charged") {
            if let Some(charged_at) = status.charged_at_ms {
                billed.close_to_charge_ms.insert(
                    status.account_id.clone(),
                    (charged_at - status.closed_at_ms).max(0) as f64,
                );
            }
        }
        Ok(billed)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Camera track 3 is seen two frames before fusion binds it to shopper 7: those frames are shopper 7's
    /// too. Track 4 is bound to shopper 8, let go, and never bound again: from then on it is camera-local.
    #[test]
    fn a_track_seen_before_fusion_bound_it_is_scored_as_its_shopper() {
        let person = |track, shopper| TrackedPerson {
            track,
            shopper,
            bbox: BBox::new(0.0, 0.0, 10.0, 20.0),
        };
        let seen = [
            (1, person(3, None)),
            (1, person(4, Some(8))),
            (2, person(3, None)),
            (2, person(4, None)),
            (3, person(3, Some(7))),
            (3, person(4, None)),
        ];
        let ids: Vec<(u32, i64)> = mot_records(&seen).iter().map(|r| (r.frame, r.id)).collect();
        let local = (walkout_pipeline::store::LOCAL_ID_BASE + 4) as i64;
        assert_eq!(
            ids,
            [(1, 7), (1, 8), (2, 7), (2, local), (3, 7), (3, local)]
        );
    }

    /// A rendering is reused only for the very scene it was made from: a scene a newer generator makes
    /// differently from the same seed is rendered again.
    #[test]
    fn a_rendering_is_reused_only_for_the_same_scene() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = walkout_datasets::preset("tiny", 1).unwrap();
        walkout_datasets::write_dataset(dir.path(), &scenario).unwrap();
        assert!(!rendered_already(dir.path(), &scenario), "no videos yet");
        std::fs::create_dir_all(dir.path().join("videos")).unwrap();
        for camera in &scenario.cameras {
            std::fs::write(camera_video(dir.path(), &camera.id), b"").unwrap();
        }
        assert!(rendered_already(dir.path(), &scenario));
        let mut other = scenario.clone();
        other.shoppers[0].entry_time_secs += 0.5;
        assert!(!rendered_already(dir.path(), &other));
        let other_seed = walkout_datasets::preset("tiny", 2).unwrap();
        assert!(!rendered_already(dir.path(), &other_seed));
    }
}
