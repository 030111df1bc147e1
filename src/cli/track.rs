//! `walkout track`: the per-camera tracker on MOTChallenge detections, writing MOTChallenge results, so
//! that any MOT toolkit can score the tracker on its own.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use walkout_core::BBox;
use walkout_datasets::mot::{self, MotRecord};
use walkout_pipeline::{TrackInput, Tracker, TrackerConfig};

#[derive(Debug, Args)]
pub struct TrackArgs {
    /// Detections in MOTChallenge format (`frame, -1, left, top, width, height, score, …`).
    #[arg(long)]
    mot_det: PathBuf,
    /// Where to write the tracks (MOTChallenge format).
    #[arg(long)]
    out: PathBuf,
    /// Tracker settings as TOML (every field of the tracker config is optional).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Tracker settings from a TOML file (every field optional), or the defaults without one.
pub fn tracker_config(path: Option<&std::path::Path>) -> anyhow::Result<TrackerConfig> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading `{}`", path.display()))?;
            toml::from_str(&text).with_context(|| format!("tracker config `{}`", path.display()))
        }
        None => Ok(TrackerConfig::default()),
    }
}

pub fn run(args: TrackArgs) -> anyhow::Result<()> {
    let config = tracker_config(args.config.as_deref())?;
    let text = std::fs::read_to_string(&args.mot_det)
        .with_context(|| format!("reading `{}`", args.mot_det.display()))?;
    let detections = mot::parse(&text).with_context(|| format!("`{}`", args.mot_det.display()))?;
    let records = track(&detections, config);
    std::fs::write(&args.out, mot::format(&records))
        .with_context(|| format!("writing `{}`", args.out.display()))?;
    tracing::info!(
        frames = records.last().map_or(0, |r| r.frame),
        tracks = records.len(),
        "tracking done"
    );
    Ok(())
}

/// Runs the tracker over every frame from 1 to the last one with a detection (gaps get empty updates,
/// so the motion model keeps time).
fn track(detections: &[MotRecord], config: TrackerConfig) -> Vec<MotRecord> {
    let mut by_frame: BTreeMap<u32, Vec<TrackInput>> = BTreeMap::new();
    for d in detections {
        by_frame.entry(d.frame).or_default().push(TrackInput {
            bbox: BBox::new(d.left, d.top, d.left + d.width, d.top + d.height),
            score: d.confidence,
            appearance: None,
        });
    }
    let last = by_frame.keys().next_back().copied().unwrap_or(0);
    let mut tracker = Tracker::new(config);
    let mut out = Vec::new();
    for frame in 1..=last {
        tracker.update(by_frame.get(&frame).map_or(&[][..], Vec::as_slice));
        let mut active: Vec<_> = tracker.active().collect();
        active.sort_by_key(|t| t.id);
        for t in active {
            let b = t.bbox();
            out.push(MotRecord {
                frame,
                id: t.id as i64,
                left: b.x1,
                top: b.y1,
                width: b.width(),
                height: b.height(),
                confidence: t.score,
                class: -1,
                visibility: -1.0,
            });
        }
    }
    out
}
