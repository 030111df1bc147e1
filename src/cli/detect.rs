use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::thread;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use walkout_cameras::{CameraStream, Source, StreamConfig};
use walkout_core::{CameraId, Detection, Frame, ObjectKind};
use walkout_models::{Detector, load_rgb_image};

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The model manifest (TOML), e.g. models/manifests/yolox_nano.toml.
    #[arg(long)]
    model: PathBuf,
    /// A video file or any camera source `walkout probe` accepts.
    #[arg(long, conflicts_with = "image", required_unless_present = "image")]
    video: Option<String>,
    /// One still image (JPEG or PNG).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long)]
    max_frames: Option<u64>,
    #[command(flatten)]
    runtime: super::RuntimeArgs,
    /// Print a summary (frames, people found, speed) to stderr at the end.
    #[arg(long)]
    summary: bool,
}

#[derive(Debug, Serialize)]
struct FrameLine<'a> {
    frame: u64,
    pts_ms: f64,
    detections: Vec<DetectionLine<'a>>,
}

#[derive(Debug, Serialize)]
struct DetectionLine<'a> {
    class: &'a str,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
}

fn frame_line(frame: u64, pts_ms: f64, detections: &[Detection]) -> FrameLine<'_> {
    let round = |v: f32| (v * 10.0).round() / 10.0;
    FrameLine {
        frame,
        pts_ms,
        detections: detections
            .iter()
            .map(|d| DetectionLine {
                class: &d.label,
                score: (d.score * 1000.0).round() / 1000.0,
                bbox: [
                    round(d.bbox.x1),
                    round(d.bbox.y1),
                    round(d.bbox.x2),
                    round(d.bbox.y2),
                ],
            })
            .collect(),
    }
}

pub fn run(args: DetectArgs) -> anyhow::Result<()> {
    let runtime = args.runtime.config();
    let mut detector = Detector::load(&args.model, &runtime)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    if let Some(image) = &args.image {
        let (rgb, width, height) = load_rgb_image(image)?;
        let detections = detector.detect_rgb(&rgb, width, height)?;
        super::write_json_line(&mut out, &frame_line(0, 0.0, &detections))?;
        out.flush().context("writing to stdout")?;
        return Ok(());
    }
    let video = args.video.as_deref().context("give --video or --image")?;
    let source = Source::parse(video)?;
    let config = StreamConfig::new(CameraId::new("detect"), source);
    let stream = CameraStream::open(config)?;
    // Decoding runs on its own thread so that it overlaps inference; the bounded channel blocks the
    // decoder when inference falls behind (offline: no frame is lost).
    let (frames_tx, frames_rx) = crossbeam_channel::bounded::<Frame>(4);
    let max_frames = args.max_frames;
    let decoder = thread::Builder::new()
        .name("decode".into())
        .spawn(move || decode_loop(stream, frames_tx, max_frames))
        .context("starting the decode thread")?;
    let mut open = true;
    let started = std::time::Instant::now();
    let (mut frames, mut with_people, mut people) = (0u64, 0u64, 0usize);
    for frame in frames_rx.iter() {
        let detections = detector.detect(&frame)?;
        let persons = detections
            .iter()
            .filter(|d| d.kind == ObjectKind::Person)
            .count();
        frames += 1;
        people += persons;
        with_people += u64::from(persons > 0);
        let pts_ms = frame
            .pts
            .map_or(0.0, |p| (p.as_secs_f64() * 1_000_000.0).round() / 1000.0);
        if !super::write_json_line(&mut out, &frame_line(frame.seq, pts_ms, &detections))? {
            open = false;
            break;
        }
    }
    drop(frames_rx);
    let decoded = decoder
        .join()
        .map_err(|_| anyhow::anyhow!("the decode thread panicked"))?;
    if open {
        out.flush().context("writing to stdout")?;
    }
    if args.summary {
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        writeln!(
            std::io::stderr(),
            "{frames} frames from {video}: people in {with_people} of them, {:.1} per frame on average; \
             {:.1} frames/s end to end on {} ({})",
            people as f64 / frames.max(1) as f64,
            frames as f64 / seconds,
            detector.provider(),
            detector.manifest().name,
        )?;
    }
    decoded.with_context(|| format!("decoding `{video}`"))
}

fn decode_loop(
    mut stream: CameraStream,
    frames: crossbeam_channel::Sender<Frame>,
    max_frames: Option<u64>,
) -> Result<(), walkout_cameras::CameraError> {
    let mut sent = 0u64;
    while max_frames.is_none_or(|max| sent < max) {
        match stream.next_frame()? {
            Some(frame) => {
                if frames.send(frame).is_err() {
                    break;
                }
                sent += 1;
            }
            None => break,
        }
    }
    Ok(())
}
