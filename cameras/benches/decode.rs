//! Decode throughput of `../shared/media/vtest.avi` through the camera layer (offline pacing, RGB frames
//! copied out as `walkout_core::Frame`s) against a bare `filesrc ! decodebin ! videoconvert ! appsink`
//! pipeline, timed alternately in the same run; also through a `CameraSupervisor` (one more thread and
//! channel). Prints frames/s of each and the ratios (goal: >= 0.95).
//!
//! `cargo bench -p walkout-cameras --bench decode [-- ROUNDS]`
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use walkout_cameras::{CameraConfig, CameraStream, CameraSupervisor, Pacing, Source, StreamConfig};
use walkout_core::CameraId;

const VTEST_FRAMES: u64 = 795;

fn vtest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/media/vtest.avi")
}

/// Frames per second of the bare pipeline.
fn bare(path: &Path) -> f64 {
    let started = Instant::now();
    let pipeline = gst::parse::launch(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline
        .by_name("src")
        .unwrap()
        .set_property("location", path.to_str().unwrap());
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0u64;
    while let Ok(sample) = sink.pull_sample() {
        assert!(sample.buffer().unwrap().size() > 0);
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(frames, VTEST_FRAMES);
    frames as f64 / started.elapsed().as_secs_f64()
}

/// Frames per second through `CameraStream`, as every consumer of the crate reads them.
fn camera_layer(path: &Path) -> f64 {
    let started = Instant::now();
    let source = Source::parse(path.to_str().unwrap()).unwrap();
    let mut stream = CameraStream::open(StreamConfig::new(CameraId::new("bench"), source)).unwrap();
    let mut frames = 0u64;
    while let Some(frame) = stream.next_frame().unwrap() {
        assert_eq!(frame.rgb().len(), 768 * 576 * 3);
        frames += 1;
    }
    drop(stream);
    assert_eq!(frames, VTEST_FRAMES);
    frames as f64 / started.elapsed().as_secs_f64()
}

/// Frames per second through a `CameraSupervisor` with one offline camera: the stream plus a supervision
/// thread and the bounded output channel, as the store runs it.
fn supervised(path: &Path) -> f64 {
    let started = Instant::now();
    let (supervisor, frames) = CameraSupervisor::with_capacity(4);
    let mut config = CameraConfig::new("bench", path.to_str().unwrap());
    config.pacing = Pacing::Offline;
    supervisor.add(config).unwrap();
    let mut count = 0u64;
    while count < VTEST_FRAMES {
        let frame = frames.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(frame.rgb().len(), 768 * 576 * 3);
        count += 1;
    }
    let fps = count as f64 / started.elapsed().as_secs_f64();
    supervisor.shutdown();
    fps
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    walkout_cameras::init().unwrap();
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(5);
    let path = vtest();
    // one untimed pass each so that both start with the file in the page cache and plugins loaded
    bare(&path);
    camera_layer(&path);
    supervised(&path);
    let (mut bare_fps, mut camera_fps, mut supervised_fps) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // rotate the order so that none always runs on a warmer machine
        for turn in 0..3 {
            match (round + turn) % 3 {
                0 => bare_fps.push(bare(&path)),
                1 => camera_fps.push(camera_layer(&path)),
                _ => supervised_fps.push(supervised(&path)),
            }
        }
    }
    let bare_fps = median(&mut bare_fps);
    let camera_fps = median(&mut camera_fps);
    let supervised_fps = median(&mut supervised_fps);
    eprintln!(
        "vtest.avi decode, median of {rounds} rounds: bare pipeline {bare_fps:.1} frames/s; \
         camera layer (CameraStream) {camera_fps:.1} frames/s, ratio {:.3}; \
         supervised camera {supervised_fps:.1} frames/s, ratio {:.3} (goal >= 0.95)",
        camera_fps / bare_fps,
        supervised_fps / bare_fps
    );
}
