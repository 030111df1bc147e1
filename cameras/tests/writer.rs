//! The video writer through real GStreamer: explicit timestamps that leave gaps where frames were dropped,
//! and the encoder's bitrate, read back through the camera layer's own decoding.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use walkout_cameras::{
    CameraError, CameraStream, Source, StreamConfig, VideoFormat, VideoWriter, WriterSettings,
    probe,
};
use walkout_core::{CameraId, Frame};

fn offline(path: &Path) -> StreamConfig {
    StreamConfig::new(
        CameraId::new("test"),
        Source::parse(path.to_str().unwrap()).unwrap(),
    )
}

fn read_all(path: &Path) -> Vec<Frame> {
    let mut stream = CameraStream::open(offline(path)).unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = stream.next_frame().unwrap() {
        frames.push(frame);
    }
    frames
}

/// A flat picture whose red level names its frame slot (kept inside YUV's limited range).
fn slot_picture(slot: u64, width: u32, height: u32) -> Vec<u8> {
    [red_level(slot), 60, 200].repeat((width * height) as usize)
}

/// Neighbouring slots differ by at least 53 levels, so a repeated picture cannot pass for the next one.
fn red_level(slot: u64) -> u8 {
    (20 + slot * 53 % 200) as u8
}

fn mean_red(frame: &Frame) -> f64 {
    let sum: u64 = frame.rgb().chunks(3).map(|px| u64::from(px[0])).sum();
    sum as f64 / (frame.rgb().len() / 3) as f64
}

/// Writes `slots` frame slots at 15 fps leaving out `dropped`, and returns the slots written.
fn write_with_drops(path: &Path, format: VideoFormat, slots: u64, dropped: &[u64]) -> Vec<u64> {
    let (width, height, fps) = (64u32, 48u32, 15u32);
    let mut writer =
        VideoWriter::open(path, &WriterSettings::new(format, width, height, fps)).unwrap();
    let kept: Vec<u64> = (0..slots).filter(|s| !dropped.contains(s)).collect();
    for &slot in &kept {
        let pts = writer.frame_pts(slot);
        writer
            .push_rgb_at(&slot_picture(slot, width, height), pts)
            .unwrap();
    }
    assert_eq!(writer.finish().unwrap(), kept.len() as u64);
    kept
}

/// Decodes `path` through the camera layer and checks that exactly the `kept` slots are there, each at its
/// own time with its own picture, and that `probe` agrees.
fn assert_frames_at_their_slots(path: &Path, kept: &[u64]) {
    let name = path.file_name().unwrap().to_string_lossy();
    let frames = read_all(path);
    assert_eq!(frames.len(), kept.len(), "{name}: frame count");
    for (frame, &slot) in frames.iter().zip(kept) {
        let pts = frame.pts.unwrap().as_secs_f64();
        let expected = slot as f64 / 15.0;
        assert!(
            (pts - expected).abs() < 0.002,
            "{name}: frame of slot {slot} at {pts:.4} s, expected {expected:.4} s"
        );
        // Each picture is its own slot's, not a copy of its neighbour's (whose red differs by 53 levels
        // or more); colour conversion shifts every frame alike, so compare with the first frame.
        let step = (mean_red(frame) - mean_red(&frames[0]))
            - (f64::from(red_level(slot)) - f64::from(red_level(kept[0])));
        assert!(
            step.abs() < 12.0,
            "{name}: slot {slot} is {step:+.1} red levels off its own picture"
        );
    }
    let report = probe(offline(path), None);
    assert!(report.errors.is_empty(), "{name}: {:?}", report.errors);
    assert_eq!(report.frames, kept.len() as u64, "{name}");
    let first_ms = report.first_pts_ms.unwrap();
    let last_ms = report.last_pts_ms.unwrap();
    let slot_ms = |slot: u64| slot as f64 * 1000.0 / 15.0;
    assert!(
        (first_ms - slot_ms(kept[0])).abs() < 2.0,
        "{name}: first at {first_ms} ms"
    );
    assert!(
        (last_ms - slot_ms(kept[kept.len() - 1])).abs() < 2.0,
        "{name}: last at {last_ms} ms"
    );
}

#[test]
fn dropped_frames_are_gaps_in_pts_not_repeated_pictures() {
    let dir = tempfile::tempdir().unwrap();
    // One dropped frame, two in a row, and the recording's last frame.
    let mp4 = dir.path().join("gaps.mp4");
    let kept = write_with_drops(&mp4, VideoFormat::H264_MP4, 30, &[7, 12, 13, 29]);
    assert_eq!(kept.len(), 26);
    assert_frames_at_their_slots(&mp4, &kept);
    let gaps: Vec<u64> = read_all(&mp4)
        .windows(2)
        .map(|w| ((w[1].pts.unwrap() - w[0].pts.unwrap()).as_secs_f64() * 15.0).round() as u64)
        .collect();
    let mut expected = vec![1u64; 25];
    expected[6] = 2; // 6 -> 8
    expected[10] = 3; // 11 -> 14
    assert_eq!(gaps, expected);

    // Matroska also keeps a late start: a recording whose first frame was dropped begins at 1/15 s.
    let mkv = dir.path().join("gaps.mkv");
    let kept = write_with_drops(&mkv, VideoFormat::H264_MATROSKA, 30, &[0, 7, 12, 13]);
    assert_frames_at_their_slots(&mkv, &kept);
}

#[test]
fn a_gap_the_container_cannot_hold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let picture = slot_picture(0, 32, 32);
    let mut avi = VideoWriter::create(
        dir.path().join("gap.avi"),
        VideoFormat::MJPEG_AVI,
        32,
        32,
        15,
    )
    .unwrap();
    avi.push_rgb(&picture).unwrap();
    let pts = avi.frame_pts(2);
    let err = avi.push_rgb_at(&picture, pts).unwrap_err();
    assert!(
        err.to_string().contains("AVI times frames by their count"),
        "{err}"
    );
    let pts = avi.frame_pts(1);
    avi.push_rgb_at(&picture, pts).unwrap();
    assert_eq!(avi.finish().unwrap(), 2);

    let mut mp4 = VideoWriter::create(
        dir.path().join("late.mp4"),
        VideoFormat::H264_MP4,
        32,
        32,
        15,
    )
    .unwrap();
    let pts = mp4.frame_pts(1);
    let err = mp4.push_rgb_at(&picture, pts).unwrap_err();
    assert!(
        err.to_string()
            .contains("MP4 starts a file at its first frame"),
        "{err}"
    );
    assert_eq!(mp4.frames(), 0);
}

#[test]
fn push_rgb_continues_one_interval_after_an_explicit_pts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.mkv");
    let mut writer = VideoWriter::create(&path, VideoFormat::H264_MATROSKA, 32, 32, 15).unwrap();
    writer.push_rgb(&slot_picture(0, 32, 32)).unwrap();
    let pts = writer.frame_pts(3);
    writer.push_rgb_at(&slot_picture(3, 32, 32), pts).unwrap();
    writer.push_rgb(&slot_picture(4, 32, 32)).unwrap();
    writer.finish().unwrap();
    let slots: Vec<u64> = read_all(&path)
        .iter()
        .map(|f| (f.pts.unwrap().as_secs_f64() * 15.0).round() as u64)
        .collect();
    assert_eq!(slots, [0, 3, 4]);
}

#[test]
fn timestamps_must_increase() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = VideoWriter::create(
        dir.path().join("order.mkv"),
        VideoFormat::H264_MATROSKA,
        32,
        32,
        10,
    )
    .unwrap();
    let picture = slot_picture(0, 32, 32);
    writer
        .push_rgb_at(&picture, Duration::from_millis(200))
        .unwrap();
    for pts in [Duration::from_millis(200), Duration::from_millis(100)] {
        let err = writer.push_rgb_at(&picture, pts).unwrap_err();
        assert!(matches!(err, CameraError::Writer { .. }), "{err:?}");
        assert!(err.to_string().contains("does not come after"), "{err}");
    }
    assert_eq!(writer.frames(), 1);
}

/// Sensor-like noise, different in every frame, so that the encoder needs every bit it is given.
fn noisy_picture(seed: u64, width: u32, height: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..width * height * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect()
}

fn encoded_size(path: &Path, bitrate_kbps: Option<u32>) -> u64 {
    let (width, height, fps) = (160u32, 120u32, 15u32);
    let settings = WriterSettings::new(VideoFormat::H264_MP4, width, height, fps)
        .with_bitrate_kbps(bitrate_kbps);
    let mut writer = VideoWriter::open(path, &settings).unwrap();
    for k in 0..45 {
        writer.push_rgb(&noisy_picture(k, width, height)).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 45);
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn the_bitrate_sets_the_file_size() {
    let dir = tempfile::tempdir().unwrap();
    // 3 seconds of noise: at 100 kbit/s about 37 kB, at 1000 kbit/s about 375 kB.
    let low = encoded_size(&dir.path().join("low.mp4"), Some(100));
    let high = encoded_size(&dir.path().join("high.mp4"), Some(1000));
    assert!(
        high > 4 * low,
        "1000 kbit/s gave {high} bytes, 100 kbit/s {low} bytes"
    );
    let seconds = 3.0;
    let low_kbps = low as f64 * 8.0 / 1000.0 / seconds;
    assert!(
        (50.0..200.0).contains(&low_kbps),
        "100 kbit/s came out at {low_kbps:.0} kbit/s"
    );
    // Both still decode, frame for frame.
    assert_eq!(read_all(&dir.path().join("low.mp4")).len(), 45);
}

#[test]
fn a_bitrate_needs_h264() {
    let dir = tempfile::tempdir().unwrap();
    let settings =
        WriterSettings::new(VideoFormat::MJPEG_AVI, 32, 32, 10).with_bitrate_kbps(Some(500));
    let err = VideoWriter::open(dir.path().join("x.avi"), &settings).unwrap_err();
    assert!(err.to_string().contains("MJPEG has no bitrate"), "{err}");
    let zero = WriterSettings::new(VideoFormat::H264_MP4, 32, 32, 10).with_bitrate_kbps(Some(0));
    let err = VideoWriter::open(dir.path().join("x.mp4"), &zero).unwrap_err();
    assert!(
        err.to_string().contains("bitrate_kbps must be positive"),
        "{err}"
    );
}
