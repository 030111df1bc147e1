//! Walkout's tracking metrics agree with the reference implementations on MOTChallenge data.
//!
//! The fixtures `tests/fixtures/TUD-Campus/{gt,test}.txt` and `tests/fixtures/TUD-Stadtmitte/{gt,test}.txt`
//! are copied unchanged from the py-motmetrics 1.4.0 wheel (`motmetrics/data/`). The expected numbers were
//! computed once with `tests/fixtures/reference_metrics.py` (its docstring has the exact commands):
//! - MOTA, MOTP, IDF1 and the counts by py-motmetrics 1.4.0 (numpy 1.26.4, pandas 2.1.4, scipy 1.17.1):
//!   `motmetrics.utils.compare_to_groundtruth(gt, test, "iou", distth=0.5)` per sequence, then
//!   `metrics.create().compute_many(..., generate_overall=True)`, as py-motmetrics' own tests do.
//!   Its `num_matches` excludes ID switches; Walkout's `matches` includes them (202 + 7 = 209).
//! - HOTA, DetA, AssA by TrackEval 1.3.0 from PyPI (`trackeval.metrics.hota.HOTA.eval_sequence` on IoU
//!   similarities of the raw boxes, sequences combined with `HOTA.combine_sequences`), averaged over the 19
//!   alpha thresholds as TrackEval reports them. TrackEval's CLEAR and Identity metrics gave the same MOTA,
//!   ID switches and IDF1 as py-motmetrics on both sequences.
#![allow(clippy::unwrap_used)]

use walkout_datasets::mot::{self, MotRecord};
use walkout_datasets::tracking::{TrackingCounts, evaluate};

fn load(sequence: &str, file: &str) -> Vec<MotRecord> {
    let path = format!(
        "{}/tests/fixtures/{sequence}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    mot::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn score(sequence: &str) -> TrackingCounts {
    evaluate(&load(sequence, "gt.txt"), &load(sequence, "test.txt"), 0.5)
}

/// Floating-point sums may be taken in another order than numpy's; 1e-12 is far below any real difference.
fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-12
}

/// MOTP averages raw distances, so it sees that `MotRecord` keeps coordinates as f32 (py-motmetrics reads
/// f64): the two differ by about 1e-8. Every count, MOTA, IDF1 and HOTA agree to 1e-12.
fn close_motp(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-7
}

#[test]
fn tud_campus_matches_py_motmetrics_and_trackeval() {
    let c = score("TUD-Campus");
    assert_eq!(c.clear.num_gt, 359);
    assert_eq!(c.clear.num_pred, 222);
    assert_eq!(c.clear.matches, 202 + 7);
    assert_eq!(c.clear.false_positives, 13);
    assert_eq!(c.clear.misses, 150);
    assert_eq!(c.clear.switches, 7);
    assert!(close(c.mota(), 0.5264623955431755), "{}", c.mota());
    assert!(close_motp(c.motp(), 0.2772010846394618), "{}", c.motp());
    assert_eq!(
        (c.identity.idtp, c.identity.idfp, c.identity.idfn),
        (162, 60, 197)
    );
    assert!(close(c.idf1(), 0.5576592082616179), "{}", c.idf1());
    assert!(close(c.hota(), 0.3913974378451139), "{}", c.hota());
    assert!(close(c.det_a(), 0.418047030142763), "{}", c.det_a());
    assert!(close(c.ass_a(), 0.36912068120832836), "{}", c.ass_a());
}

#[test]
fn tud_stadtmitte_matches_py_motmetrics_and_trackeval() {
    let c = score("TUD-Stadtmitte");
    assert_eq!(c.clear.num_gt, 1156);
    assert_eq!(c.clear.num_pred, 749);
    assert_eq!(c.clear.matches, 697 + 7);
    assert_eq!(c.clear.false_positives, 45);
    assert_eq!(c.clear.misses, 452);
    assert_eq!(c.clear.switches, 7);
    assert!(close(c.mota(), 0.5640138408304498), "{}", c.mota());
    assert!(close_motp(c.motp(), 0.34590429554400914), "{}", c.motp());
    assert_eq!(
        (c.identity.idtp, c.identity.idfp, c.identity.idfn),
        (614, 135, 542)
    );
    assert!(close(c.idf1(), 0.6446194225721785), "{}", c.idf1());
    assert!(close(c.hota(), 0.3978490169927877), "{}", c.hota());
    assert!(close(c.det_a(), 0.3922675723693166), "{}", c.det_a());
    assert!(close(c.ass_a(), 0.4088407518112996), "{}", c.ass_a());
}

#[test]
fn pooled_sequences_match_the_references_overall_rows() {
    let mut overall = score("TUD-Campus");
    overall.add(&score("TUD-Stadtmitte"));
    assert_eq!(overall.clear.switches, 14);
    assert!(
        close(overall.mota(), 0.5551155115511551),
        "{}",
        overall.mota()
    );
    assert!(
        close_motp(overall.motp(), 0.33017705449357054),
        "{}",
        overall.motp()
    );
    assert!(
        close(overall.idf1(), 0.6242960579243765),
        "{}",
        overall.idf1()
    );
    assert!(
        close(overall.hota(), 0.3999570912884786),
        "{}",
        overall.hota()
    );
    assert!(
        close(overall.det_a(), 0.3976832912424188),
        "{}",
        overall.det_a()
    );
    assert!(
        close(overall.ass_a(), 0.4124495298453543),
        "{}",
        overall.ass_a()
    );
}
