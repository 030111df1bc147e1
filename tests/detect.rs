//! `walkout detect`: real GStreamer decoding, real ONNX Runtime, real models from ../shared.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

fn lines(output: &std::process::Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn detects_people_in_every_frame_of_vtest() {
    let output = walkout()
        .args(["detect", "--model"])
        .arg(manifest("yolox_nano"))
        .arg("--video")
        .arg(shared("media/vtest.avi"))
        .env("ORT_DYLIB_PATH", ort_library())
        .output()
        .expect("walkout runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let frames = lines(&output);
    assert_eq!(frames.len(), 795);
    let mut last_pts = -1.0;
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame["frame"], i as u64);
        let pts = frame["pts_ms"].as_f64().expect("pts_ms");
        assert!(pts > last_pts, "frame {i}: pts {pts} after {last_pts}");
        last_pts = pts;
        let detections = frame["detections"].as_array().expect("detections");
        let people = detections.iter().filter(|d| d["class"] == "person").count();
        assert!(people > 0, "frame {i}: no person found");
        for d in detections {
            let b: Vec<f64> = d["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!(
                b[0] >= 0.0
                    && b[1] >= 0.0
                    && b[2] <= 768.0
                    && b[3] <= 576.0
                    && b[0] < b[2]
                    && b[1] < b[3],
                "frame {i}: box {b:?} outside 768x576"
            );
        }
    }
    // 10 fps: the last frame is 79.4 s in
    assert!((last_pts - 79_400.0).abs() < 1.0, "{last_pts}");
}

#[test]
fn image_detections_match_the_reference_run() {
    let output = walkout()
        .args(["detect", "--model"])
        .arg(manifest("yolox_nano"))
        .arg("--image")
        .arg(shared("media/bus.jpg"))
        .env("ORT_DYLIB_PATH", ort_library())
        .output()
        .expect("walkout runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let frames = lines(&output);
    assert_eq!(frames.len(), 1);
    // ../shared/media/REFERENCE.md: the Python onnxruntime reference run
    let reference = [
        ([50.0, 394.0, 214.0, 898.0], 0.855),
        ([219.0, 403.0, 347.0, 855.0], 0.806),
        ([686.0, 451.0, 810.0, 874.0], 0.687),
    ];
    let people: Vec<&Value> = frames[0]["detections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["class"] == "person")
        .collect();
    assert_eq!(people.len(), reference.len(), "{people:?}");
    for (expected_box, expected_score) in reference {
        let found = people.iter().find(|d| {
            let b = d["box"].as_array().unwrap();
            b.iter()
                .zip(expected_box)
                .all(|(v, e)| (v.as_f64().unwrap() - e).abs() <= 4.0)
        });
        let found =
            found.unwrap_or_else(|| panic!("no box within 4 px of {expected_box:?} in {people:?}"));
        let score = found["score"].as_f64().unwrap();
        assert!(
            (score - expected_score).abs() <= 0.02,
            "score {score} vs {expected_score}"
        );
    }
}

#[test]
fn missing_runtime_library_is_a_clear_error() {
    let output = walkout()
        .args(["detect", "--model"])
        .arg(manifest("yolox_nano"))
        .arg("--image")
        .arg(shared("media/bus.jpg"))
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .expect("walkout runs");
    assert_clean_failure(&output, "/nonexistent/libonnxruntime.so");
}

#[test]
fn missing_model_and_video_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("gone.toml");
    let text = std::fs::read_to_string(manifest("yolox_nano"))
        .unwrap()
        .replace("../../../shared/models/yolox_nano.onnx", "gone.onnx")
        .replace(
            "../../../shared/models/coco_classes.txt",
            &shared("models/coco_classes.txt").display().to_string(),
        );
    std::fs::write(&manifest_path, text).unwrap();
    let output = walkout()
        .args(["detect", "--model"])
        .arg(&manifest_path)
        .arg("--image")
        .arg(shared("media/bus.jpg"))
        .env("ORT_DYLIB_PATH", ort_library())
        .output()
        .unwrap();
    assert_clean_failure(&output, "gone.onnx");

    let output = walkout()
        .args(["detect", "--model"])
        .arg(manifest("yolox_nano"))
        .args(["--video", "/no/such/video.avi"])
        .env("ORT_DYLIB_PATH", ort_library())
        .output()
        .unwrap();
    assert_clean_failure(&output, "/no/such/video.avi");

    let output = walkout()
        .args(["detect", "--model", "/no/such/manifest.toml", "--image"])
        .arg(shared("media/bus.jpg"))
        .env("ORT_DYLIB_PATH", ort_library())
        .output()
        .unwrap();
    assert_clean_failure(&output, "/no/such/manifest.toml");
}

#[test]
fn help_lists_every_subcommand() {
    let output = walkout().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = stdout(&output);
    for command in ["detect", "probe", "track", "eval", "check-config", "bench"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "`{command}` missing from --help:\n{help}"
        );
    }
}

#[test]
fn a_library_that_is_not_onnx_runtime_is_refused_clearly() {
    // The wheel's provider bridge is a real shared library, but not ONNX Runtime's API.
    let not_ort = ort_library().with_file_name("libonnxruntime_providers_shared.so");
    let output = walkout()
        .args(["detect", "--model"])
        .arg(manifest("yolox_nano"))
        .arg("--image")
        .arg(shared("media/bus.jpg"))
        .env("ORT_DYLIB_PATH", &not_ort)
        .output()
        .unwrap();
    assert_clean_failure(&output, "libonnxruntime_providers_shared.so");
}

#[test]
fn detect_runs_with_every_shipped_manifest() {
    for (name, class) in [
        ("yolox_nano", "person"),
        ("light_person_detector", "person"),
        ("nanodet_m_320", "person"),
        ("palm_detection_full", "palm"),
    ] {
        let output = walkout()
            .args(["detect", "--model"])
            .arg(manifest(name))
            .arg("--video")
            .arg(shared("media/vtest.avi"))
            .args(["--max-frames", "5"])
            .env("ORT_DYLIB_PATH", ort_library())
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let frames = lines(&output);
        assert_eq!(frames.len(), 5, "{name}");
        for frame in &frames {
            for d in frame["detections"].as_array().unwrap() {
                assert_eq!(d["class"], class, "{name}: {d}");
            }
        }
        if class == "person" {
            assert!(
                frames
                    .iter()
                    .all(|f| !f["detections"].as_array().unwrap().is_empty()),
                "{name} found nobody in vtest"
            );
        }
    }
}
