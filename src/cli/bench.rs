//! `walkout bench detect`: where detection time goes, against the floor the model itself sets, measured in
//! the same run so that machine noise hits both sides alike.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use walkout_cameras::{CameraStream, Source, StreamConfig};
use walkout_core::{CameraId, Frame};
use walkout_models::{Detector, StageTimings};

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
    #[command(flatten)]
    runtime: super::RuntimeArgs,
}

#[derive(Debug, Serialize)]
struct DetectReport {
    model: String,
    provider: String,
    frames: usize,
    rounds: usize,
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
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        BenchCommand::Detect(args) => bench_detect(args),
    }
}

fn bench_detect(args: DetectBenchArgs) -> anyhow::Result<()> {
    let runtime = args.runtime.config();
    let mut detector = Detector::load(&args.model, &runtime)?;
    let frames = decode_frames(&args.video, args.frames)?;
    anyhow::ensure!(!frames.is_empty(), "`{}` decoded to no frames", args.video);
    // Warm-up: first runs allocate arenas and tune kernels.
    for frame in frames.iter().take(5) {
        detector.detect(frame)?;
    }
    let rounds = args.rounds.max(1);
    let (mut bare, mut path, mut file) = (Vec::new(), Vec::new(), Vec::new());
    let mut stages = StageTimings::default();
    for _ in 0..rounds {
        // Bare runs and detect-path runs alternate in chunks of a few frames, so that whatever else the
        // machine is doing slows both sides alike.
        let (mut bare_time, mut path_time) = (Duration::ZERO, Duration::ZERO);
        for chunk in frames.chunks(10) {
            let started = Instant::now();
            for _ in chunk {
                detector.run_bare(1)?;
            }
            bare_time += started.elapsed();
            let started = Instant::now();
            for frame in chunk {
                detector.detect(frame)?;
                stages.add(&detector.last_timings());
            }
            path_time += started.elapsed();
        }
        bare.push(frames.len() as f64 / bare_time.as_secs_f64());
        path.push(frames.len() as f64 / path_time.as_secs_f64());
        file.push(file_to_detections(
            &mut detector,
            &args.video,
            frames.len(),
        )?);
    }
    let per_frame_ms = |d: Duration| d.as_secs_f64() * 1000.0 / stages.frames.max(1) as f64;
    let (bare_fps, path_fps, file_fps) = (median(&mut bare), median(&mut path), median(&mut file));
    let report = DetectReport {
        model: detector.manifest().name.clone(),
        provider: detector.provider().to_string(),
        frames: frames.len(),
        rounds,
        bare_inference_fps: round2(bare_fps),
        detect_path_fps: round2(path_fps),
        detect_path_ratio: round3(path_fps / bare_fps),
        file_to_detections_fps: round2(file_fps),
        file_to_detections_ratio: round3(file_fps / bare_fps),
        preprocess_ms_per_frame: round3(per_frame_ms(stages.preprocess)),
        inference_ms_per_frame: round3(per_frame_ms(stages.inference)),
        decode_nms_ms_per_frame: round3(per_frame_ms(stages.decode)),
    };
    let mut out = std::io::stdout().lock();
    super::write_json_line(&mut out, &report)?;
    Ok(())
}

fn decode_frames(video: &str, max: usize) -> anyhow::Result<Vec<Frame>> {
    let source = Source::parse(video)?;
    let mut stream = CameraStream::open(StreamConfig::new(CameraId::new("bench"), source))?;
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

/// Decodes on one thread and detects on this one, as `walkout detect` does.
fn file_to_detections(detector: &mut Detector, video: &str, frames: usize) -> anyhow::Result<f64> {
    let source = Source::parse(video)?;
    let mut stream = CameraStream::open(StreamConfig::new(CameraId::new("bench"), source))?;
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
        detector.detect(&frame)?;
        count += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    decoder
        .join()
        .map_err(|_| anyhow::anyhow!("the decode thread panicked"))?;
    Ok(count as f64 / elapsed)
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
