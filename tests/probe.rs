//! `walkout probe` on real media.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

#[test]
fn probe_reports_vtest() {
    let output = walkout()
        .arg("probe")
        .arg(shared("media/vtest.avi"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["frames"], 795);
    assert_eq!(report["width"], 768);
    assert_eq!(report["height"], 576);
    assert!(
        (report["fps"].as_f64().unwrap() - 10.0).abs() < 0.01,
        "{report}"
    );
    assert_eq!(report["first_pts_ms"].as_f64(), Some(0.0));
    assert!((report["last_pts_ms"].as_f64().unwrap() - 79_400.0).abs() < 1.0);
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
}

#[test]
fn probe_of_a_bad_source_names_it() {
    let output = walkout()
        .args(["probe", "gopher://camera/1"])
        .output()
        .unwrap();
    assert_clean_failure(&output, "gopher");
    let output = walkout()
        .args(["probe", "/no/such/file.mp4"])
        .output()
        .unwrap();
    assert_clean_failure(&output, "/no/such/file.mp4");
}
