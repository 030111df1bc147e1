//! `walkout track` reads MOTChallenge detections and writes MOTChallenge tracks.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use walkout_datasets::mot;

#[test]
fn tracks_two_crossing_walkers_from_a_det_file() {
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    let mut lines = String::new();
    for frame in 1..=60u32 {
        let f = frame as f32;
        // two people walking towards each other on separate lanes, one briefly missed by the detector
        lines.push_str(&format!(
            "{frame},-1,{},100,30,80,0.9,-1,-1,-1\n",
            10.0 + 4.0 * f
        ));
        if !(30..=32).contains(&frame) {
            lines.push_str(&format!(
                "{frame},-1,{},220,30,80,0.85,-1,-1,-1\n",
                300.0 - 4.0 * f
            ));
        }
        // a weak false positive that must not become a track
        lines.push_str(&format!("{frame},-1,600,400,30,80,0.2,-1,-1,-1\n"));
    }
    std::fs::write(&det, lines).unwrap();
    let out = dir.path().join("tracks.txt");
    let output = walkout()
        .arg("track")
        .arg("--mot-det")
        .arg(&det)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let tracks = mot::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let mut ids: Vec<i64> = tracks.iter().map(|t| t.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, vec![1, 2], "one id per walker, none for the weak box");
    // the walker the detector missed for three frames keeps its id afterwards
    assert!(
        tracks
            .iter()
            .any(|t| t.frame == 40 && t.id == 2 && (t.top - 220.0).abs() < 5.0)
    );
    assert_eq!(tracks.iter().filter(|t| t.id == 1).count(), 60);
}

#[test]
fn bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    std::fs::write(&det, "1,-1,0,0,10,10,0.9\n2,-1,x,0,10,10,0.9\n").unwrap();
    let out = dir.path().join("tracks.txt");
    let output = walkout()
        .arg("track")
        .arg("--mot-det")
        .arg(&det)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_clean_failure(&output, "line 2");
    let config = dir.path().join("tracker.toml");
    std::fs::write(&config, "high_scor = 0.5\n").unwrap();
    std::fs::write(&det, "1,-1,0,0,10,10,0.9\n").unwrap();
    let output = walkout()
        .arg("track")
        .arg("--mot-det")
        .arg(&det)
        .arg("--out")
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_clean_failure(&output, "high_scor");
}
