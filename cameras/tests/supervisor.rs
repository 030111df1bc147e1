//! Supervised cameras against real sources: a real RTSP server on loopback that is stopped and restarted,
//! a dead address, cameras added and removed at runtime.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use walkout_cameras::{
    CameraConfig, CameraHealth, CameraState, CameraSupervisor, OutputFormat, Pacing, RtspMedia,
    RtspServer, VideoFormat, VideoWriter,
};
use walkout_core::{CameraId, Frame};

/// Polls `condition` on the camera's health until it holds; panics with the last health after `timeout`.
fn wait_for(
    supervisor: &CameraSupervisor,
    id: &str,
    timeout: Duration,
    what: &str,
    condition: impl Fn(&CameraHealth) -> bool,
) -> CameraHealth {
    let id = CameraId::new(id);
    let deadline = Instant::now() + timeout;
    loop {
        let health = supervisor.camera_health(&id).unwrap();
        if condition(&health) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "camera {id}: not {what} after {timeout:?}: {health:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Drains the output on a thread, as the detector would, and hands back what it saw at the end.
fn drain(frames: Receiver<Frame>) -> std::thread::JoinHandle<Vec<Frame>> {
    std::thread::spawn(move || frames.iter().collect())
}

fn small() -> OutputFormat {
    OutputFormat {
        width: Some(64),
        height: Some(48),
        fps: None,
    }
}

#[test]
fn rtsp_camera_stalls_when_the_server_goes_and_resumes_when_it_returns() {
    let mut server = RtspServer::start(
        0,
        vec![(
            "aisle".into(),
            RtspMedia::test_pattern("ball", 160, 120, 15),
        )],
    )
    .unwrap();
    let (supervisor, frames) = CameraSupervisor::with_capacity(8);
    let consumer = drain(frames);
    let mut config = CameraConfig::new("aisle", server.url("aisle"));
    config.output = small();
    config.stall_secs = 2.0;
    supervisor.add(config).unwrap();

    wait_for(
        &supervisor,
        "aisle",
        Duration::from_secs(10),
        "streaming",
        |h| h.state == CameraState::Streaming && h.frames_delivered >= 10,
    );
    server.stop();
    let lost = wait_for(
        &supervisor,
        "aisle",
        Duration::from_secs(8),
        "stalled",
        |h| h.stalls >= 1,
    );
    assert_ne!(lost.state, CameraState::Streaming);
    let retrying = wait_for(
        &supervisor,
        "aisle",
        Duration::from_secs(5),
        "reconnecting",
        |h| h.state == CameraState::Reconnecting,
    );
    assert!(retrying.last_error.is_some(), "{retrying:#?}");
    let delivered_before = retrying.frames_delivered;

    std::thread::sleep(Duration::from_secs(3));
    server.restart().unwrap();
    let restarted = Instant::now();
    let back = wait_for(
        &supervisor,
        "aisle",
        Duration::from_secs(10),
        "streaming again",
        |h| h.state == CameraState::Streaming && h.frames_delivered >= delivered_before + 5,
    );
    assert!(restarted.elapsed() < Duration::from_secs(10));
    assert!(back.reconnects >= 1, "{back:#?}");

    supervisor.shutdown();
    drop(supervisor);
    let frames = consumer.join().unwrap();
    // One camera's frames stay numbered gap-free... unless the output dropped some; their times never
    // go backwards across the reconnect.
    assert!(frames.len() as u64 >= back.frames_delivered - back.frames_dropped);
    for pair in frames.windows(2) {
        assert!(pair[1].seq > pair[0].seq);
        assert!(
            pair[1].pts > pair[0].pts,
            "{:?} then {:?}",
            pair[0],
            pair[1]
        );
        assert!(pair[1].captured_at >= pair[0].captured_at);
    }
}

#[test]
fn three_cameras_stream_while_a_dead_one_keeps_retrying() {
    let server = RtspServer::start(
        0,
        (0..3)
            .map(|i| {
                (
                    format!("cam{i}"),
                    RtspMedia::test_pattern("smpte", 96, 64, 10),
                )
            })
            .collect(),
    )
    .unwrap();
    let (supervisor, frames) = CameraSupervisor::with_capacity(16);
    let consumer = drain(frames);
    for i in 0..3 {
        let mut config = CameraConfig::new(format!("cam{i}"), server.url(&format!("cam{i}")));
        config.output = small();
        supervisor.add(config).unwrap();
    }
    // nothing listens on port 9 of loopback; the credentials must never show
    supervisor
        .add(CameraConfig::new(
            "dead",
            "rtsp://admin:hunter2@127.0.0.1:9/live",
        ))
        .unwrap();

    for i in 0..3 {
        wait_for(
            &supervisor,
            &format!("cam{i}"),
            Duration::from_secs(15),
            "streaming",
            |h| h.state == CameraState::Streaming && h.frames_delivered >= 15,
        );
    }
    let dead = wait_for(
        &supervisor,
        "dead",
        Duration::from_secs(10),
        "retrying twice",
        |h| h.reconnects >= 2,
    );
    assert!(matches!(
        dead.state,
        CameraState::Reconnecting | CameraState::Connecting
    ));
    assert_eq!(dead.frames_delivered, 0);
    let fault = dead.last_error.clone().unwrap();
    assert_eq!(fault.kind, "unreachable", "{fault:?}");
    assert!(fault.message.contains("camera `dead`"), "{fault:?}");

    let health = supervisor.health();
    assert_eq!(
        health.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        vec!["cam0", "cam1", "cam2", "dead"]
    );
    let json = serde_json::to_string(&health).unwrap();
    assert!(
        !json.contains("hunter2") && !json.contains("admin"),
        "{json}"
    );
    assert!(json.contains("rtsp://***:***@127.0.0.1:9/live"), "{json}");
    for camera in &health[..3] {
        assert_eq!(camera.state, CameraState::Streaming, "{camera:#?}");
        assert!(camera.fps_in > 5.0, "{camera:#?}");
        assert!(camera.last_frame_age_ms.unwrap() < 2_000, "{camera:#?}");
    }
    supervisor.shutdown();
    assert!(supervisor.health().is_empty());
    drop(supervisor);
    let frames = consumer.join().unwrap();
    assert!(frames.iter().all(|f| f.camera.as_str() != "dead"));
}

#[test]
fn cameras_are_added_and_removed_while_the_others_run() {
    let (supervisor, frames) = CameraSupervisor::with_capacity(8);
    let consumer = drain(frames);
    let pattern = |id: &str| {
        let mut config = CameraConfig::new(id, "test://ball?live=true");
        config.output = small();
        config
    };
    supervisor.add(pattern("a")).unwrap();
    supervisor.add(pattern("b")).unwrap();
    assert!(supervisor.add(pattern("a")).is_err());
    wait_for(
        &supervisor,
        "a",
        Duration::from_secs(10),
        "streaming",
        |h| h.frames_delivered >= 10,
    );

    supervisor.remove(&CameraId::new("a")).unwrap();
    supervisor.add(pattern("c")).unwrap();
    let b_before = supervisor
        .camera_health(&CameraId::new("b"))
        .unwrap()
        .frames_delivered;
    wait_for(
        &supervisor,
        "c",
        Duration::from_secs(10),
        "streaming",
        |h| h.frames_delivered >= 10,
    );
    wait_for(
        &supervisor,
        "b",
        Duration::from_secs(10),
        "still streaming",
        |h| h.frames_delivered >= b_before + 10,
    );
    assert_eq!(
        supervisor.camera_ids(),
        vec![CameraId::new("b"), CameraId::new("c")]
    );
    assert!(supervisor.remove(&CameraId::new("a")).is_err());
    drop(supervisor);
    let frames = consumer.join().unwrap();
    // each camera's frames arrive in order, numbered from zero
    for id in ["a", "b", "c"] {
        let seqs: Vec<u64> = frames
            .iter()
            .filter(|f| f.camera.as_str() == id)
            .map(|f| f.seq)
            .collect();
        assert_eq!(seqs.first(), Some(&0), "{id}");
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{id}");
    }
}

#[test]
fn the_watchdog_catches_a_camera_that_goes_quiet() {
    let (supervisor, _frames) = CameraSupervisor::with_capacity(4);
    // played in real time: one frame, then nothing for ten seconds, on a pipeline that stays open
    let mut config = CameraConfig::new(
        "quiet",
        "pipeline:videotestsrc ! video/x-raw,width=32,height=32,framerate=1/10",
    );
    config.stall_secs = 1.0;
    supervisor.add(config).unwrap();
    let stalled = wait_for(
        &supervisor,
        "quiet",
        Duration::from_secs(10),
        "stalled",
        |h| h.stalls >= 1,
    );
    let fault = stalled.last_error.unwrap();
    assert_eq!(fault.kind, "stalled", "{fault:?}");
    assert!(fault.message.contains("no frame for"), "{fault:?}");
    // reconnecting brings a fresh first frame
    wait_for(&supervisor, "quiet", Duration::from_secs(10), "back", |h| {
        h.reconnects >= 1 && h.frames_delivered >= 2
    });
}

#[test]
fn offline_camera_delivers_every_frame_then_ends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let mut writer = VideoWriter::create(&path, VideoFormat::H264_MP4, 64, 48, 10).unwrap();
    for i in 0..40u8 {
        writer.push_rgb(&[i * 5, 100, 100].repeat(64 * 48)).unwrap();
    }
    writer.finish().unwrap();

    // a tiny output channel and a slow consumer: offline pacing must block, not drop
    let (supervisor, frames) = CameraSupervisor::with_capacity(1);
    let mut config = CameraConfig::new("file", path.to_str().unwrap());
    config.pacing = Pacing::Offline;
    supervisor.add(config).unwrap();
    let mut seqs = Vec::new();
    while seqs.len() < 40 {
        let frame = frames.recv_timeout(Duration::from_secs(10)).unwrap();
        seqs.push(frame.seq);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(seqs, (0..40).collect::<Vec<_>>());
    let health = wait_for(&supervisor, "file", Duration::from_secs(5), "ended", |h| {
        h.state == CameraState::Ended
    });
    assert_eq!(health.frames_decoded, 40);
    assert_eq!(health.frames_delivered, 40);
    assert_eq!(health.frames_dropped, 0);
}

#[test]
fn bad_configuration_fails_and_a_missing_file_keeps_retrying() {
    let (supervisor, _frames) = CameraSupervisor::with_capacity(4);
    supervisor
        .add(CameraConfig::new("typo", "htps://user:secret@cam/1"))
        .unwrap();
    supervisor
        .add(CameraConfig::new("later", "/no/such/recording.mp4"))
        .unwrap();
    let typo = wait_for(&supervisor, "typo", Duration::from_secs(5), "failed", |h| {
        h.state == CameraState::Failed
    });
    assert_eq!(typo.last_error.as_ref().unwrap().kind, "unknown_scheme");
    assert!(!serde_json::to_string(&typo).unwrap().contains("secret"));
    let later = wait_for(
        &supervisor,
        "later",
        Duration::from_secs(5),
        "retrying",
        |h| h.reconnects >= 1,
    );
    assert_eq!(later.last_error.as_ref().unwrap().kind, "missing_file");
    assert_ne!(later.state, CameraState::Failed);
}

#[test]
fn camera_config_rejects_unknown_fields_and_hides_credentials() {
    let config: CameraConfig = serde_json::from_str(
        r#"{"id": "door", "source": "rtsp://u:pw@10.0.0.2/s", "options": {"rtsp_transport": "udp"}}"#,
    )
    .unwrap();
    assert_eq!(config.stall_secs, 5.0);
    assert_eq!(config.pacing, Pacing::Live);
    assert!(!format!("{config:?}").contains("pw"));
    let err = serde_json::from_str::<CameraConfig>(r#"{"id": "door", "source": "x", "fps": 3}"#)
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `fps`"), "{err}");
}

#[test]
fn the_supervisor_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CameraSupervisor>();
    assert_send_sync::<RtspServer>();
}

#[test]
fn validation_reports_every_problem_with_its_field() {
    let mut bad = CameraConfig::new("", "gopher://admin:pw@cam/1");
    bad.stall_secs = 0.0;
    bad.output.fps = Some(0);
    let problems = bad.validate().unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, vec!["id", "source", "stall_secs", "output.fps"]);
    assert!(
        problems.iter().all(|p| !p.message.contains("pw")),
        "{problems:?}"
    );

    let good = CameraConfig::new("door", "test://ball");
    assert_eq!(good.validate(), Ok(()));
    let problems = CameraConfig::validate_all(&[good.clone(), good]).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "cameras[1].id");
}
