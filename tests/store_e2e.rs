//! The store end to end on a freshly rendered scenario: `walkout simulate` renders a solo shopper through
//! GStreamer, and `walkout eval --oracle` runs tracking, fusion, shelf events and sessions on the ground
//! truth's boxes. The receipt must be exact. (The detector's own accuracy is the model's issue; the oracle
//! keeps this test about the store logic.) The seed was never used to tune anything.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn a_rendered_solo_shopper_gets_the_exact_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("solo");
    simulate(&dataset, "solo", 2024, "320x240", false);
    assert!(dataset.join("videos").read_dir().unwrap().count() > 0);
    let metrics_path = dir.path().join("metrics.json");
    let report = dir.path().join("report.html");
    let output = walkout()
        .args(["eval", "--oracle", "--dataset"])
        .arg(&dataset)
        .arg("--json")
        .arg(&metrics_path)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("<h2>Receipts</h2>") && html.contains("acct-1") && html.contains("<svg"),
        "{html}"
    );
    let cameras = dataset.join("videos").read_dir().unwrap().count();
    assert_eq!(html.matches("<img ").count(), cameras);
    assert_eq!(
        dir.path().join("report_frames").read_dir().unwrap().count(),
        cameras
    );
    assert!(
        !html.contains("class=bad"),
        "the receipt differs from the truth: {html}"
    );
    let metrics = read_json(&metrics_path);
    assert_eq!(metrics["receipt_exact_rate"], 1.0, "{metrics:#}");
    assert_eq!(metrics["wrong_unreviewed_rate"], 0.0, "{metrics:#}");
    assert_eq!(metrics["attribution_accuracy"], 1.0, "{metrics:#}");
    assert!(metrics["idf1"].as_f64().unwrap() > 0.9, "{metrics:#}");
}

/// `walkout eval` runs the store's own detector unless told otherwise: on the end-to-end test's two-camera
/// store with lane scales (`tests/live_rtsp.rs` runs the same scene live), every receipt is exact and no
/// wrong one goes out unreviewed, as the model card says. The detections it records replay to the very
/// same receipts, events, review flags and tracks without the detector; a file from another dataset is
/// refused by line.
#[test]
fn eval_runs_the_shipped_detector_by_default_and_replays_what_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("tiny");
    simulate(&dataset, "tiny", 11, "640x480", true);
    let recorded = dir.path().join("detections.jsonl");
    let eval = |extra: &[&std::ffi::OsStr], name: &str| {
        let (metrics, prediction) = (
            dir.path().join(format!("{name}-metrics.json")),
            dir.path().join(format!("{name}-prediction.json")),
        );
        let output = walkout()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("ORT_DYLIB_PATH", ort_library())
            .args(["eval", "--dataset"])
            .arg(&dataset)
            .args(extra)
            .arg("--json")
            .arg(&metrics)
            .arg("--prediction")
            .arg(&prediction)
            .output()
            .unwrap();
        (output, metrics, prediction)
    };
    let (output, metrics_path, detected) = eval(
        &["--record-detections".as_ref(), recorded.as_os_str()],
        "detected",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let metrics = read_json(&metrics_path);
    assert_eq!(metrics["receipt_exact_rate"], 1.0, "{metrics:#}");
    assert_eq!(metrics["wrong_unreviewed_rate"], 0.0, "{metrics:#}");
    assert!(metrics["idf1"].as_f64().unwrap() > 0.8, "{metrics:#}");

    let (output, _, replayed) = eval(&["--detections".as_ref(), recorded.as_os_str()], "replayed");
    assert!(output.status.success(), "{}", stderr(&output));
    let (mut detected, mut replayed) = (read_json(&detected), read_json(&replayed));
    assert!(
        detected["events"].as_array().is_some_and(|e| !e.is_empty()),
        "{detected:#}"
    );
    // only the speed figures may differ
    for prediction in [&mut detected, &mut replayed] {
        prediction.as_object_mut().unwrap().remove("stats");
    }
    assert_eq!(detected, replayed);

    let text = std::fs::read_to_string(&recorded).unwrap();
    let stray = text
        .lines()
        .nth(2)
        .unwrap()
        .replacen(r#""camera":""#, r#""camera":"aisle-9-"#, 1);
    let foreign = dir.path().join("foreign.jsonl");
    std::fs::write(
        &foreign,
        format!(
            "{}\n{}\n{stray}\n",
            text.lines().next().unwrap(),
            text.lines().nth(1).unwrap()
        ),
    )
    .unwrap();
    let (output, _, _) = eval(&["--detections".as_ref(), foreign.as_os_str()], "foreign");
    assert_clean_failure(&output, "foreign.jsonl` line 3: camera `aisle-9-");
}

/// `walkout eval --tracker` runs every camera's tracker with the file's settings: a tracker that may start
/// no track sees nobody, so the solo shopper's receipt goes unmatched; `--shelf` does the same for the
/// shelf events: with no hand or body ever taken to be over a slot, nothing is picked. A misspelt setting
/// is named.
#[test]
fn eval_takes_tracker_and_shelf_settings_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("solo");
    simulate(&dataset, "solo", 2025, "320x240", false);
    let eval = |flag: &str, settings: &str| {
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, settings).unwrap();
        let metrics_path = dir.path().join("metrics.json");
        let output = walkout()
            .args(["eval", "--oracle", "--dataset"])
            .arg(&dataset)
            .arg(flag)
            .arg(&path)
            .arg("--json")
            .arg(&metrics_path)
            .output()
            .unwrap();
        let metrics = output.status.success().then(|| read_json(&metrics_path));
        (output, metrics)
    };
    let (output, metrics) = eval("--tracker", "max_lost_frames = 30\n");
    let metrics = metrics.unwrap_or_else(|| panic!("{}", stderr(&output)));
    assert_eq!(metrics["receipt_exact_rate"], 1.0, "{metrics:#}");
    let (output, metrics) = eval("--tracker", "new_track_score = 1.5\n");
    let metrics = metrics.unwrap_or_else(|| panic!("{}", stderr(&output)));
    assert_eq!(metrics["receipt_exact_rate"], 0.0, "{metrics:#}");
    assert_eq!(metrics["idf1"], 0.0, "{metrics:#}");
    let (output, _) = eval("--tracker", "max_lost_frame = 30\n");
    assert_clean_failure(&output, "max_lost_frame");

    let (output, metrics) = eval("--shelf", "settle_frames = 5\n");
    let metrics = metrics.unwrap_or_else(|| panic!("{}", stderr(&output)));
    assert_eq!(metrics["receipt_exact_rate"], 1.0, "{metrics:#}");
    let (output, metrics) = eval("--shelf", "hand_overlap = 2.0\noccluson_share = 2.0\n");
    assert_clean_failure(&output, "occluson_share");
    assert!(metrics.is_none());
    let (output, metrics) = eval("--shelf", "hand_overlap = 2.0\nocclusion_share = 2.0\n");
    let metrics = metrics.unwrap_or_else(|| panic!("{}", stderr(&output)));
    assert_eq!(metrics["event_recall"], 0.0, "{metrics:#}");
    assert_eq!(metrics["receipt_exact_rate"], 0.0, "{metrics:#}");
    // tracking does not depend on the shelf
    assert!(metrics["idf1"].as_f64().unwrap() > 0.9, "{metrics:#}");
}

/// `walkout simulate --add-camera` renders the preset's scene through one more camera (here for
/// training frames), and names what is wrong with a camera it cannot add.
#[test]
fn simulate_adds_a_camera_to_a_preset() {
    let dir = tempfile::tempdir().unwrap();
    let export = |name: &str, camera: &str| {
        walkout()
            .args(["simulate", "--preset", "solo", "--seed", "7"])
            .args(["--resolution", "320x240", "--every", "30", "--threads", "1"])
            .args(["--add-camera", camera, "--export-training"])
            .arg(dir.path().join(name))
            .output()
            .unwrap()
    };
    let output = export("side", "side=3.5,0.2,2.9@1.3,1.8,0.5");
    assert!(output.status.success(), "{}", stderr(&output));
    let images: Vec<String> = std::fs::read_dir(dir.path().join("side/images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let side: Vec<&String> = images.iter().filter(|n| n.starts_with("side_")).collect();
    assert!(
        !side.is_empty(),
        "no frame of the added camera among {images:?}"
    );
    assert!(
        images.iter().any(|n| n.starts_with("entrance_")),
        "the preset's own cameras are still there: {images:?}"
    );
    // the shopper walks in through the gate the camera looks across: some frame of it shows them
    let labelled = side.iter().any(|name| {
        let label = dir.path().join("side/labels").join(
            std::path::Path::new(name.as_str())
                .with_extension("txt")
                .file_name()
                .unwrap(),
        );
        std::fs::read_to_string(label).is_ok_and(|text| text.lines().any(|l| l.starts_with("0 ")))
    });
    assert!(labelled, "the added camera never saw the shopper");

    assert_clean_failure(&export("twice", "entrance=1,1,3@2,2,0"), "entrance");
    assert_clean_failure(&export("bad", "side=3.5,0.2@1.3,1.8,0.5"), "three numbers");
    assert_clean_failure(&export("worse", "side:3.5,0.2,2.9"), "ID=X,Y,Z@TX,TY,TZ");
}

#[test]
fn simulate_refuses_unknown_presets_and_bad_resolutions() {
    let dir = tempfile::tempdir().unwrap();
    let output = walkout()
        .args(["simulate", "--preset", "crowded", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_clean_failure(&output, "crowded");
    let output = walkout()
        .args([
            "simulate",
            "--preset",
            "solo",
            "--resolution",
            "wide",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_clean_failure(&output, "WIDTHxHEIGHT");
}
