//! The loopback RTSP server helper serves files and test patterns that the camera layer decodes.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use walkout_cameras::{
    CameraError, CameraStream, Pacing, Pull, RtspMedia, RtspServer, RtspTransport, Source,
    StreamConfig, VideoFormat, VideoWriter,
};
use walkout_core::{CameraId, Frame};

fn first_frames(url: &str, transport: RtspTransport, count: usize) -> Vec<Frame> {
    let mut config = StreamConfig::new(CameraId::new("rtsp"), Source::parse(url).unwrap());
    config.pacing = Pacing::Live;
    config.options.rtsp_transport = transport;
    let mut stream = CameraStream::open(config).unwrap();
    let mut frames = Vec::new();
    while frames.len() < count {
        match stream.pull(Duration::from_secs(10)).unwrap() {
            Pull::Frame(frame) => frames.push(frame),
            other => panic!("{url}: {other:?} after {} frames", frames.len()),
        }
    }
    frames
}

#[test]
fn serves_a_file_as_h264_and_as_mjpeg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shelf.mkv");
    let mut writer = VideoWriter::create(&path, VideoFormat::H264_MATROSKA, 80, 64, 15).unwrap();
    for _ in 0..60 {
        writer.push_rgb(&[200, 40, 40].repeat(80 * 64)).unwrap();
    }
    writer.finish().unwrap();
    let server = RtspServer::start(
        0,
        vec![
            ("h264".into(), RtspMedia::File { path: path.clone() }),
            ("mjpeg".into(), RtspMedia::FileMjpeg { path }),
        ],
    )
    .unwrap();
    for name in ["h264", "mjpeg"] {
        let frames = first_frames(&server.url(name), RtspTransport::Tcp, 5);
        for frame in &frames {
            assert_eq!((frame.width(), frame.height()), (80, 64), "{name}");
            let centre = (32 * 80 + 40) * 3;
            let px = &frame.rgb()[centre..centre + 3];
            assert!(px[0] > 150 && px[1] < 90 && px[2] < 90, "{name}: {px:?}");
        }
        for pair in frames.windows(2) {
            assert!(pair[1].pts > pair[0].pts, "{name}");
        }
    }
}

#[test]
fn serves_a_test_pattern_over_udp_too() {
    let server = RtspServer::start(
        0,
        vec![(
            "pattern".into(),
            RtspMedia::test_pattern("smpte", 64, 48, 15),
        )],
    )
    .unwrap();
    let frames = first_frames(&server.url("pattern"), RtspTransport::Udp, 5);
    assert!(frames.iter().all(|f| f.width() == 64 && f.height() == 48));
}

#[test]
fn wrong_credentials_are_a_typed_error_that_never_shows_the_password() {
    let server = RtspServer::start_with_credentials(
        0,
        vec![("door".into(), RtspMedia::test_pattern("ball", 64, 48, 15))],
        Some(("operator".into(), "right-pass".into())),
    )
    .unwrap();
    let good = first_frames(
        &server.url_with_credentials("door", "operator", "right-pass"),
        RtspTransport::Tcp,
        2,
    );
    assert_eq!(good.len(), 2);

    let url = server.url_with_credentials("door", "operator", "wrong-pass");
    let config = StreamConfig::new(CameraId::new("door"), Source::parse(&url).unwrap());
    let err = match CameraStream::open(config) {
        Err(err) => err,
        Ok(mut stream) => stream.pull(Duration::from_secs(10)).unwrap_err(),
    };
    assert!(matches!(err, CameraError::Unauthorized { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("camera `door`"), "{shown}");
    assert!(!shown.contains("wrong-pass"), "{shown}");
}

#[test]
fn probe_reports_a_live_rtsp_stream() {
    let server = RtspServer::start(
        0,
        vec![("probe".into(), RtspMedia::test_pattern("smpte", 64, 48, 15))],
    )
    .unwrap();
    let config = StreamConfig::new(
        CameraId::new("probe"),
        Source::parse(&server.url("probe")).unwrap(),
    );
    // a live stream's first timestamps arrive in a burst while the jitter buffer fills: measure the rate
    // over two seconds, and allow for that burst
    let report = walkout_cameras::probe(config, Some(30));
    assert_eq!(report.frames, 30, "{report:?}");
    assert_eq!((report.width, report.height), (64, 48));
    assert!((report.fps - 15.0).abs() < 2.0, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(report.last_pts_ms > report.first_pts_ms);
}

#[test]
fn a_camera_with_an_audio_track_still_gives_video() {
    // the audio stream comes first, as on many IP cameras
    let server = RtspServer::start(
        0,
        vec![(
            "av".into(),
            RtspMedia::Launch(
                "audiotestsrc is-live=true ! audioconvert ! opusenc ! rtpopuspay name=pay0 pt=97 \
                 videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=15/1 \
                 ! x264enc tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay1 pt=96"
                    .into(),
            ),
        )],
    )
    .unwrap();
    let frames = first_frames(&server.url("av"), RtspTransport::Tcp, 3);
    assert!(frames.iter().all(|f| f.width() == 64 && f.height() == 48));
}
