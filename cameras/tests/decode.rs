//! Decoding real media through the camera layer: the shared sample video, and files in several containers
//! that the tests encode themselves with [`walkout_cameras::VideoWriter`].
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use walkout_cameras::{
    CameraError, CameraStream, OutputFormat, Pacing, Pull, Source, StreamConfig, VideoFormat,
    VideoWriter,
};
use walkout_core::{CameraId, Frame};

fn shared(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(path)
}

fn offline(source: &str) -> StreamConfig {
    StreamConfig::new(CameraId::new("test"), Source::parse(source).unwrap())
}

fn read_all(config: StreamConfig) -> Vec<Frame> {
    let mut stream = CameraStream::open(config).unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = stream.next_frame().unwrap() {
        frames.push(frame);
    }
    frames
}

fn assert_strictly_increasing_pts(frames: &[Frame]) {
    for pair in frames.windows(2) {
        assert!(
            pair[1].pts.unwrap() > pair[0].pts.unwrap(),
            "frame {} at {:?} after frame {} at {:?}",
            pair[1].seq,
            pair[1].pts,
            pair[0].seq,
            pair[0].pts
        );
    }
}

/// A frame whose colour encodes its index: red ramps with the index, green and blue stay fixed.
fn coloured_frame(index: usize, width: u32, height: u32) -> Vec<u8> {
    // kept away from 0 and 255, which YUV's limited range cannot return exactly
    let red = red_level(index) as u8;
    [red, 60, 200].repeat((width * height) as usize)
}

fn red_level(index: usize) -> usize {
    40 + index * 12 % 168
}

fn mean_rgb(frame: &Frame) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for px in frame.rgb().chunks(3) {
        for c in 0..3 {
            sum[c] += f64::from(px[c]);
        }
    }
    let n = (frame.rgb().len() / 3) as f64;
    sum.map(|s| s / n)
}

fn write_video(path: &Path, format: VideoFormat, frames: usize, width: u32, height: u32, fps: u32) {
    let mut writer = VideoWriter::create(path, format, width, height, fps).unwrap();
    for i in 0..frames {
        writer.push_rgb(&coloured_frame(i, width, height)).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), frames as u64);
}

#[test]
fn vtest_decodes_to_795_frames_with_strictly_increasing_pts() {
    let frames = read_all(offline(shared("media/vtest.avi").to_str().unwrap()));
    assert_eq!(frames.len(), 795);
    assert!(frames.iter().all(|f| f.width() == 768 && f.height() == 576));
    assert_eq!(frames[0].pts, Some(Duration::ZERO));
    assert_strictly_increasing_pts(&frames);
    assert_eq!(
        frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
        (0..795).collect::<Vec<_>>()
    );
}

#[test]
fn generated_files_in_three_containers_decode_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (width, height, fps, count) = (96u32, 64u32, 10u32, 24usize);
    for (name, format) in [
        ("h264.mp4", VideoFormat::H264_MP4),
        ("mjpeg.avi", VideoFormat::MJPEG_AVI),
        ("h264.mkv", VideoFormat::H264_MATROSKA),
    ] {
        let path = dir.path().join(name);
        write_video(&path, format, count, width, height, fps);
        let frames = read_all(offline(path.to_str().unwrap()));
        assert_eq!(frames.len(), count, "{name}");
        assert!(
            frames
                .iter()
                .all(|f| f.width() == width && f.height() == height),
            "{name}"
        );
        assert_strictly_increasing_pts(&frames);
        let last = frames[count - 1].pts.unwrap();
        assert_eq!(
            last.as_millis(),
            (count as u128 - 1) * 1000 / u128::from(fps),
            "{name}"
        );
        // Lossy codecs and colour-space round trips shift colours a little, the same way in every frame;
        // each frame must still carry its own index's red level relative to the first.
        let [r0, ..] = mean_rgb(&frames[0]);
        for (i, frame) in frames.iter().enumerate() {
            let [r, g, b] = mean_rgb(frame);
            let expected = red_level(i) as f64;
            assert!(
                (r - expected).abs() < 20.0 && (g - 60.0).abs() < 20.0 && (b - 200.0).abs() < 20.0,
                "{name} frame {i}: mean {r:.0},{g:.0},{b:.0}, expected red {expected}"
            );
            let step = (r - r0) - (expected - red_level(0) as f64);
            assert!(
                step.abs() < 5.0,
                "{name} frame {i}: red {r:.1}, first {r0:.1}"
            );
        }
    }
}

#[test]
fn output_size_and_rate_are_converted_inside_gstreamer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mkv");
    write_video(&path, VideoFormat::H264_MATROSKA, 20, 96, 64, 20);
    let mut config = offline(path.to_str().unwrap());
    config.output = OutputFormat {
        width: Some(48),
        height: Some(32),
        fps: Some(5),
    };
    let frames = read_all(config);
    // one second of video at 5 fps
    assert!((5..=6).contains(&frames.len()), "{} frames", frames.len());
    assert!(frames.iter().all(|f| f.width() == 48 && f.height() == 32));
    assert_eq!(
        frames[1].pts.unwrap() - frames[0].pts.unwrap(),
        Duration::from_millis(200)
    );
}

#[test]
fn a_looping_file_keeps_counting_forward() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.avi");
    write_video(&path, VideoFormat::MJPEG_AVI, 8, 32, 32, 10);
    let mut config = offline(path.to_str().unwrap());
    config.options.loop_file = true;
    let mut stream = CameraStream::open(config).unwrap();
    let frames: Vec<Frame> = (0..20)
        .map(|_| stream.next_frame().unwrap().unwrap())
        .collect();
    assert!(stream.loops() >= 2, "{} loops", stream.loops());
    assert_eq!(stream.timestamps_flagged(), 0);
    assert_strictly_increasing_pts(&frames);
    // the loop continues the file's own spacing: frame n sits at n * 100 ms
    for (n, frame) in frames.iter().enumerate() {
        assert_eq!(frame.pts.unwrap().as_millis(), n as u128 * 100, "frame {n}");
    }
}

#[test]
fn live_pacing_counts_every_dropped_frame_exactly() {
    // 60 frames played in real time at 200 fps to a consumer that takes 20 ms per frame.
    let config = StreamConfig {
        pacing: Pacing::Live,
        ..offline(
            "pipeline:videotestsrc num-buffers=60 ! video/x-raw,width=32,height=32,framerate=200/1",
        )
    };
    let mut stream = CameraStream::open(config).unwrap();
    let mut delivered = Vec::new();
    while let Some(frame) = stream.next_frame().unwrap() {
        delivered.push(frame.seq);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stream.frames_decoded(), 60);
    assert!(stream.frames_dropped() > 20, "{}", stream.frames_dropped());
    assert_eq!(
        stream.frames_delivered() + stream.frames_dropped(),
        stream.frames_decoded()
    );
    assert_eq!(delivered.len() as u64, stream.frames_delivered());
}

#[test]
fn offline_pacing_loses_nothing_to_a_slow_consumer() {
    let mut stream = CameraStream::open(offline(
        "pipeline:videotestsrc num-buffers=30 ! video/x-raw,width=32,height=32",
    ))
    .unwrap();
    let mut count = 0;
    while stream.next_frame().unwrap().is_some() {
        count += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(count, 30);
    assert_eq!(stream.frames_dropped(), 0);
}

#[test]
fn bad_input_gets_a_typed_error_naming_the_camera() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.mp4");
    std::fs::write(&corrupt, vec![0x5a; 64 * 1024]).unwrap();
    let err = read_err(offline(corrupt.to_str().unwrap()));
    assert!(matches!(err, CameraError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("camera `test`"), "{err}");

    // A truncated real file: the header promises frames that are not there.
    let good = dir.path().join("good.mp4");
    write_video(&good, VideoFormat::H264_MP4, 20, 64, 64, 10);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    // Depending on how far the demuxer got, GStreamer reports an error, ends early, or waits for data
    // that never comes; none of these may pass for the whole file, nor block for ever.
    if let Ok(mut stream) = CameraStream::open(offline(truncated.to_str().unwrap())) {
        loop {
            match stream.pull(Duration::from_secs(3)) {
                Ok(Pull::Frame(_)) => {}
                Ok(Pull::EndOfStream | Pull::Timeout) => break,
                Err(err) => {
                    assert!(err.to_string().contains("camera `test`"), "{err}");
                    break;
                }
            }
        }
        assert!(stream.frames_delivered() < 20);
    }

    let audio = dir.path().join("audio.wav");
    write_audio_only(&audio);
    let err = read_err(offline(audio.to_str().unwrap()));
    assert!(matches!(err, CameraError::NoVideo { .. }), "{err:?}");

    let err = CameraStream::open(offline("/no/such/clip.mp4")).unwrap_err();
    assert!(matches!(err, CameraError::MissingFile { .. }), "{err:?}");
    assert!(matches!(
        Source::parse("gopher://cam/1"),
        Err(CameraError::UnknownScheme { .. })
    ));
}

fn read_err(config: StreamConfig) -> CameraError {
    let mut stream = match CameraStream::open(config) {
        Ok(stream) => stream,
        Err(err) => return err,
    };
    loop {
        match stream.next_frame() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("expected an error, the stream ended cleanly"),
            Err(err) => return err,
        }
    }
}

fn write_audio_only(path: &Path) {
    use gstreamer::prelude::*;
    walkout_cameras::init().unwrap();
    let pipeline = gstreamer::parse::launch(&format!(
        "audiotestsrc num-buffers=20 ! wavenc ! filesink location=\"{}\"",
        path.display()
    ))
    .unwrap();
    pipeline.set_state(gstreamer::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(10),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .unwrap();
    assert!(matches!(message.view(), gstreamer::MessageView::Eos(_)));
    pipeline.set_state(gstreamer::State::Null).unwrap();
}
