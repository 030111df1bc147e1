//! `walkout bench detect`: where detection time goes, against the floor the model itself sets, measured in
//! the same run so that machine noise hits both sides alike.
//!
//! Frames come as the detection path gets them: the camera layer scales each picture to the model's
//! letterbox size before the RGB conversion ([`Detector::frame_size_for`]), and the detector only
//! normalises and pads ([`Detector::detect_scaled`], boxes back in the video's pixels). The same
//! measurements on full-size frames (resized in the preprocessor) are reported beside them.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use walkout_cameras::{CameraStream, OutputFormat, Source, StreamConfig, probe};
use walkout_core::{CameraId, Frame};
use walkout_models::{
    DetectedFrame, DetectionConfig, DetectionStage, Detector, Manifest, RuntimeConfig, Scheduling,
    StageTimings,
};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Detection throughput: bare Session::run, the detect path, and decode overlapped with detection.
    Detect(DetectBenchArgs),
}

#[derive(Debug, Args)]
struct DetectBenchArgs {
    /// The model manifest.
    #[arg(long)]
    model: PathBuf,
    /// The video to decode.
    #[arg(long)]
    video: String,
    /// Frames decoded into memory and detected per round.
    #[arg(long, default_value_t = 200)]
    frames: usize,
    /// Alternating rounds of each measurement; the median round is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A Python interpreter with onnxruntime, opencv-python-headless and numpy: runs
    /// models/bench/python_baseline.py once per round, between the rounds here, for a ratio measured in
    /// the same run.
    #[arg(long)]
    python: Option<PathBuf>,
    #[command(flatten)]
    runtime: super::RuntimeArgs,
}

#[derive(Debug, Serialize)]
struct DetectReport {
    model: String,
    provider: String,
    frames: usize,
    rounds: usize,
    /// The video's own picture size.
    source_size: [u32; 2],
    /// The size the camera layer scales frames to for this model (the letterbox's inner size).
    frame_size: [u32; 2],
    /// Bare `Session::run` on an already prepared input tensor: the model's own floor.
    bare_inference_fps: f64,
    /// From a decoded frame to its detections (preprocess, inference, decode and NMS), one thread.
    detect_path_fps: f64,
    /// `detect_path_fps / bare_inference_fps`.
    detect_path_ratio: f64,
    /// From the file to detections, decoding on its own thread overlapping inference.
    file_to_detections_fps: f64,
    file_to_detections_ratio: f64,
    preprocess_ms_per_frame: f64,
    inference_ms_per_frame: f64,
    decode_nms_ms_per_frame: f64,
    /// The detect path on full-size frames (the preprocessor resizes).
    full_frames_detect_path_fps: f64,
    full_frames_detect_path_ratio: f64,
    full_frames_preprocess_ms_per_frame: f64,
    /// From the file to detections with full-size frames.
    full_frames_file_to_detections_fps: f64,
    /// The detection stage with `Scheduling::Interleave` (one single-threaded session per core taking
    /// frames in turn, results in order), fed scaled frames from the file.
    interleaved_sessions: usize,
    interleaved_file_to_detections_fps: f64,
    /// Bare `Session::run` on that many single-threaded sessions side by side: the floor of that layout.
    interleaved_bare_inference_fps: f64,
    /// `interleaved_file_to_detections_fps / interleaved_bare_inference_fps`.
    interleaved_file_to_detections_ratio: f64,
    /// The plain Python loop (OpenCV decode, NumPy letterbox, onnxruntime, NumPy decode and NMS), when
    /// `--python` is given: its file to detections, bare `session.run`, and ours over theirs.
    #[serde(skip_serializing_if = "Option::is_none")]
    python_file_to_detections_fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    python_bare_inference_fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_to_detections_vs_python: Option<f64>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        BenchCommand::Detect(args) => bench_detect(args),
    }
}

fn bench_detect(args: DetectBenchArgs) -> anyhow::Result<()> {
    let runtime = args.runtime.config();
    let mut detector = Detector::load(&args.model, &runtime)?;
    let source = source_size(&args.video)?;
    let size = detector.frame_size_for(source);
    let frames = decode_frames(&args.video, Some(size), args.frames)?;
    let full_frames = decode_frames(&args.video, None, args.frames)?;
    anyhow::ensure!(!frames.is_empty(), "`{}` decoded to no frames", args.video);
    // Warm-up: first runs allocate arenas and tune kernels.
    for frame in frames.iter().take(5) {
        detector.detect_scaled(frame, source)?;
    }
    let rounds = args.rounds.max(1);
    let (mut bare, mut path, mut file) = (Vec::new(), Vec::new(), Vec::new());
    let (mut full_path, mut full_file, mut python) = (Vec::new(), Vec::new(), Vec::new());
    let (mut stage_file, mut stage_bare) = (Vec::new(), Vec::new());
    let sessions = thread::available_parallelism().map_or(1, |n| n.get());
    let mut single_threaded = runtime.clone();
    single_threaded.intra_threads = 1;
    let manifest = Manifest::load(&args.model)?;
    let mut side_by_side = (0..sessions)
        .map(|_| Detector::from_manifest(manifest.clone(), &single_threaded, 1))
        .collect::<Result<Vec<_>, _>>()?;
    let mut stages = StageTimings::default();
    let mut full_stages = StageTimings::default();
    for _ in 0..rounds {
        // Bare runs and detect-path runs alternate in chunks of a few frames, so that whatever else the
        // machine is doing slows both sides alike.
        let (mut bare_time, mut path_time, mut full_time) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for (chunk, full_chunk) in frames.chunks(10).zip(full_frames.chunks(10)) {
            let started = Instant::now();
            for _ in chunk {
                detector.run_bare(1)?;
            }
            bare_time += started.elapsed();
            let started = Instant::now();
            for frame in chunk {
                detector.detect_scaled(frame, source)?;
                stages.add(&detector.last_timings());
            }
            path_time += started.elapsed();
            let started = Instant::now();
            for frame in full_chunk {
                detector.detect(frame)?;
                full_stages.add(&detector.last_timings());
            }
            full_time += started.elapsed();
        }
        bare.push(frames.len() as f64 / bare_time.as_secs_f64());
        path.push(frames.len() as f64 / path_time.as_secs_f64());
        full_path.push(full_frames.len() as f64 / full_time.as_secs_f64());
        file.push(file_to_detections(
            &mut detector,
            &args.video,
            Some((size, source)),
            frames.len(),
        )?);
        full_file.push(file_to_detections(
            &mut detector,
            &args.video,
            None,
            frames.len(),
        )?);
        stage_bare.push(bare_side_by_side(&mut side_by_side, frames.len())?);
        stage_file.push(stage_file_to_detections(
            &args.model,
            &runtime,
            sessions,
            &args.video,
            (size, source),
            frames.len(),
        )?);
        if let Some(interpreter) = &args.python {
            python.push(python_baseline(
                interpreter,
                &detector,
                &args.video,
                frames.len(),
            )?);
        }
    }
    let per_frame_ms =
        |d: Duration, s: &StageTimings| d.as_secs_f64() * 1000.0 / s.frames.max(1) as f64;
    let (bare_fps, path_fps, file_fps) = (median(&mut bare), median(&mut path), median(&mut file));
    let full_path_fps = median(&mut full_path);
    let (stage_file_fps, stage_bare_fps) = (median(&mut stage_file), median(&mut stage_bare));
    let python_file = (!python.is_empty()).then(|| {
        let mut e2e: Vec<f64> = python.iter().map(|p| p.file_to_detections_fps).collect();
        let mut bare: Vec<f64> = python.iter().map(|p| p.bare_inference_fps).collect();
        (median(&mut e2e), median(&mut bare))
    });
    let report = DetectReport {
        model: detector.manifest().name.clone(),
        provider: detector.provider().to_string(),
        frames: frames.len(),
        rounds,
        source_size: [source.0, source.1],
        frame_size: [size.0, size.1],
        bare_inference_fps: round2(bare_fps),
        detect_path_fps: round2(path_fps),
        detect_path_ratio: round3(path_fps / bare_fps),
        file_to_detections_fps: round2(file_fps),
        file_to_detections_ratio: round3(file_fps / bare_fps),
        preprocess_ms_per_frame: round3(per_frame_ms(stages.preprocess, &stages)),
        inference_ms_per_frame: round3(per_frame_ms(stages.inference, &stages)),
        decode_nms_ms_per_frame: round3(per_frame_ms(stages.decode, &stages)),
        full_frames_detect_path_fps: round2(full_path_fps),
        full_frames_detect_path_ratio: round3(full_path_fps / bare_fps),
        full_frames_preprocess_ms_per_frame: round3(per_frame_ms(
            full_stages.preprocess,
            &full_stages,
        )),
        full_frames_file_to_detections_fps: round2(median(&mut full_file)),
        interleaved_sessions: sessions,
        interleaved_file_to_detections_fps: round2(stage_file_fps),
        interleaved_bare_inference_fps: round2(stage_bare_fps),
        interleaved_file_to_detections_ratio: round3(stage_file_fps / stage_bare_fps),
        python_file_to_detections_fps: python_file.map(|(e2e, _)| round2(e2e)),
        python_bare_inference_fps: python_file.map(|(_, bare)| round2(bare)),
        file_to_detections_vs_python: python_file.map(|(e2e, _)| round3(file_fps / e2e)),
    };
    let mut out = std::io::stdout().lock();
    super::write_json_line(&mut out, &report)?;
    Ok(())
}

fn stream_config(video: &str, size: Option<(u32, u32)>) -> anyhow::Result<StreamConfig> {
    let mut config = StreamConfig::new(CameraId::new("bench"), Source::parse(video)?);
    if let Some((width, height)) = size {
        config.output = OutputFormat {
            width: Some(width),
            height: Some(height),
            fps: None,
        };
    }
    Ok(config)
}

/// The video's own picture size, from its first frame.
fn source_size(video: &str) -> anyhow::Result<(u32, u32)> {
    let report = probe(stream_config(video, None)?, Some(1));
    anyhow::ensure!(
        report.frames > 0,
        "`{video}` gave no frame: {}",
        report.errors.join("; ")
    );
    Ok((report.width, report.height))
}

/// Decodes up to `max` frames, scaled to `size` by the camera layer when given.
fn decode_frames(video: &str, size: Option<(u32, u32)>, max: usize) -> anyhow::Result<Vec<Frame>> {
    let mut stream = CameraStream::open(stream_config(video, size)?)?;
    let mut frames = Vec::with_capacity(max);
    while frames.len() < max {
        match stream
            .next_frame()
            .with_context(|| format!("decoding `{video}`"))?
        {
            Some(frame) => frames.push(frame),
            None => break,
        }
    }
    Ok(frames)
}

/// Decodes on one thread and detects on this one, as `walkout detect` does; `scaled` is the frame size to
/// ask the camera layer for and the video's own size.
fn file_to_detections(
    detector: &mut Detector,
    video: &str,
    scaled: Option<((u32, u32), (u32, u32))>,
    frames: usize,
) -> anyhow::Result<f64> {
    let mut stream = CameraStream::open(stream_config(video, scaled.map(|(size, _)| size))?)?;
    let (tx, rx) = crossbeam_channel::bounded::<Frame>(4);
    let started = Instant::now();
    let decoder = thread::spawn(move || {
        for _ in 0..frames {
            match stream.next_frame() {
                Ok(Some(frame)) => {
                    if tx.send(frame).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
    });
    let mut count = 0usize;
    for frame in rx {
        match scaled {
            Some((_, source)) => detector.detect_scaled(&frame, source)?,
            None => detector.detect(&frame)?,
        };
        count += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    decoder
        .join()
        .map_err(|_| anyhow::anyhow!("the decode thread panicked"))?;
    Ok(count as f64 / elapsed)
}

/// Bare runs on every detector at once, one thread each, `frames` in all.
fn bare_side_by_side(detectors: &mut [Detector], frames: usize) -> anyhow::Result<f64> {
    let per_detector = frames.div_ceil(detectors.len().max(1));
    let started = Instant::now();
    thread::scope(|scope| {
        let runs: Vec<_> = detectors
            .iter_mut()
            .map(|detector| {
                scope.spawn(move || {
                    for _ in 0..per_detector {
                        detector.run_bare(1)?;
                    }
                    Ok::<(), walkout_models::ModelError>(())
                })
            })
            .collect();
        for run in runs {
            run.join()
                .map_err(|_| anyhow::anyhow!("a bare run panicked"))??;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    Ok((per_detector * detectors.len()) as f64 / started.elapsed().as_secs_f64())
}

/// The file decoded on one thread, scaled by the camera layer, into a detection stage of interleaved
/// sessions, as a store's pipeline runs it.
fn stage_file_to_detections(
    model: &std::path::Path,
    runtime: &RuntimeConfig,
    sessions: usize,
    video: &str,
    (size, source): ((u32, u32), (u32, u32)),
    frames: usize,
) -> anyhow::Result<f64> {
    let config = DetectionConfig {
        manifest: model.to_path_buf(),
        runtime: runtime.clone(),
        scheduling: Scheduling::Interleave { sessions },
    };
    let mut stream = CameraStream::open(stream_config(video, Some(size))?)?;
    let (tx, rx) = crossbeam_channel::bounded::<Frame>(4);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<DetectedFrame>(4);
    let sources = [(CameraId::new("bench"), source)].into_iter().collect();
    let stage = DetectionStage::spawn_with_source_sizes(&config, sources, rx, out_tx)?;
    // Sessions are built before the clock starts, as a running store has them.
    let started = Instant::now();
    let decoder = thread::spawn(move || {
        for _ in 0..frames {
            match stream.next_frame() {
                Ok(Some(frame)) => {
                    if tx.send(frame).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
    });
    let mut count = 0usize;
    for detected in out_rx {
        anyhow::ensure!(detected.error.is_none(), "{:?}", detected.error);
        count += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stage.join();
    decoder
        .join()
        .map_err(|_| anyhow::anyhow!("the decode thread panicked"))?;
    Ok(count as f64 / elapsed)
}

#[derive(Debug, serde::Deserialize)]
struct PythonRun {
    #[serde(rename = "python_file_to_detections_fps")]
    file_to_detections_fps: f64,
    #[serde(rename = "python_bare_inference_fps")]
    bare_inference_fps: f64,
}

/// One run of models/bench/python_baseline.py on the same model, video and frame count.
fn python_baseline(
    interpreter: &std::path::Path,
    detector: &Detector,
    video: &str,
    frames: usize,
) -> anyhow::Result<PythonRun> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/bench/python_baseline.py");
    let output = std::process::Command::new(interpreter)
        .arg(&script)
        .arg(detector.manifest().model_path())
        .arg(video)
        .arg(frames.to_string())
        .output()
        .with_context(|| format!("running `{}`", interpreter.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("reading the baseline's output `{line}`"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
