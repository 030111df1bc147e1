//! Scoring: the truth scores perfectly against itself, an empty prediction scores 0, and perturbations with
//! known answers give exactly those answers.
#![allow(clippy::unwrap_used)]

use walkout_datasets::eval::{PredictedEvent, Prediction, ProcessingStats, ScoringConfig, score};
use walkout_datasets::mot::MotRecord;
use walkout_datasets::scenario::Scenario;
use walkout_datasets::truth::{GroundTruth, ReceiptLine};

const EXAMPLE: &str = include_str!("../scenarios/example.toml");

/// The example's truth, with shopper boxes projected into each camera (no occlusion) standing in for the
/// renderer's.
fn example_truth() -> GroundTruth {
    let scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
    let mut truth = GroundTruth::from_scenario(&scenario).unwrap();
    for camera in &scenario.cameras {
        let boxes = &mut truth.cameras.get_mut(&camera.id).unwrap().shoppers;
        for (trajectory, shopper) in truth.trajectories.iter().zip(&scenario.shoppers) {
            for sample in &trajectory.samples {
                let frame = (sample.time_secs * camera.fps).round() as u32 + 1;
                if let Some(b) = camera.body_box(sample.position_m, shopper.body.height_m, 0.25) {
                    boxes.push(MotRecord {
                        frame,
                        id: trajectory.track_id,
                        left: b.x1,
                        top: b.y1,
                        width: b.width(),
                        height: b.height(),
                        confidence: 1.0,
                        class: 1,
                        visibility: 1.0,
                    });
                }
            }
        }
        boxes.sort_by_key(|r| (r.frame, r.id));
    }
    truth
}

fn config() -> ScoringConfig {
    ScoringConfig::default()
}

#[test]
fn the_truth_scores_perfectly() {
    let truth = example_truth();
    assert!(truth.cameras.values().all(|c| c.shoppers.len() > 100));
    let mut prediction = Prediction::from_truth(&truth);
    prediction.stats = ProcessingStats {
        frames_processed: 1200,
        processing_secs: 10.0,
        exit_to_charge_ms: vec![300.0, 100.0, 200.0],
    };
    let m = score(&truth, &prediction, &config());
    assert_eq!(m.receipt_exact_rate, 1.0);
    assert_eq!(m.item_precision, 1.0);
    assert_eq!(m.item_recall, 1.0);
    assert_eq!(m.event_precision, 1.0);
    assert_eq!(m.event_recall, 1.0);
    assert_eq!(m.attribution_accuracy, 1.0);
    assert_eq!(m.review_rate, 0.0);
    assert_eq!(m.wrong_unreviewed_rate, 0.0);
    assert_eq!(m.mota, 1.0);
    assert_eq!(m.idf1, 1.0);
    assert!((m.hota - 1.0).abs() < 1e-12, "{}", m.hota);
    assert_eq!(m.id_switches, 0);
    assert_eq!(m.tracking_per_camera.len(), 2);
    assert!(
        m.tracking_per_camera
            .values()
            .all(|t| t.mota == 1.0 && t.idf1 == 1.0)
    );
    assert_eq!(m.frames_per_second, 120.0);
    assert_eq!(m.exit_to_charge_ms_p50, 200.0);
    assert_eq!(m.exit_to_charge_ms_p99, 300.0);
}

#[test]
fn an_empty_prediction_scores_zero_not_nan() {
    let truth = example_truth();
    let m = score(&truth, &Prediction::default(), &config());
    let json = serde_json::to_value(&m).unwrap();
    for name in [
        "receipt_exact_rate",
        "item_precision",
        "item_recall",
        "event_precision",
        "event_recall",
        "attribution_accuracy",
        "review_rate",
        "wrong_unreviewed_rate",
        "mota",
        "idf1",
        "hota",
        "id_switches",
        "frames_per_second",
        "exit_to_charge_ms_p50",
        "exit_to_charge_ms_p99",
    ] {
        assert_eq!(json[name].as_f64(), Some(0.0), "{name}");
    }
    assert!(json["tracking_per_camera"].is_object());
}

#[test]
fn one_item_dropped_from_one_receipt() {
    let truth = example_truth();
    let mut prediction = Prediction::from_truth(&truth);
    // acct-lee should pay for CHOC-BAR x1 and WATER-500 x2; charge one water only.
    let lee = prediction
        .receipts
        .iter_mut()
        .find(|r| r.account == "acct-lee")
        .unwrap();
    let water = lee.lines.iter_mut().find(|l| l.sku == "WATER-500").unwrap();
    *water = ReceiptLine {
        quantity: 1,
        total_minor: 89,
        ..water.clone()
    };
    let m = score(&truth, &prediction, &config());
    // 2 sessions, 1 exact. 4 units should be charged (1 chips; 2 water, 1 chocolate), 3 are, all right.
    assert_eq!(m.receipt_exact_rate, 0.5);
    assert_eq!(m.item_precision, 1.0);
    assert_eq!(m.item_recall, 0.75);
    assert_eq!(m.wrong_unreviewed_rate, 0.5);
    assert_eq!(m.review_rate, 0.0);
    // Sent to review, the wrong receipt no longer counts as charged unreviewed.
    prediction.review.insert("acct-lee".into());
    let m = score(&truth, &prediction, &config());
    assert_eq!((m.wrong_unreviewed_rate, m.review_rate), (0.0, 0.5));
    // Events and tracks were untouched.
    assert_eq!((m.event_precision, m.event_recall, m.mota), (1.0, 1.0, 1.0));
}

#[test]
fn a_wrong_line_total_or_price_makes_the_receipt_wrong() {
    let truth = example_truth();
    let mut prediction = Prediction::from_truth(&truth);
    let ann = prediction
        .receipts
        .iter_mut()
        .find(|r| r.account == "acct-ann")
        .unwrap();
    ann.lines[0].total_minor += 1;
    let m = score(&truth, &prediction, &config());
    assert_eq!(m.receipt_exact_rate, 0.5);
    // Same units, so item precision and recall stay perfect.
    assert_eq!((m.item_precision, m.item_recall), (1.0, 1.0));
}

#[test]
fn charging_an_account_without_a_session_is_a_wrong_unreviewed_charge() {
    let truth = example_truth();
    let mut prediction = Prediction::from_truth(&truth);
    let mut phantom = prediction.receipts[0].clone();
    phantom.account = "acct-nobody".into();
    prediction.receipts.push(phantom);
    let m = score(&truth, &prediction, &config());
    // Sessions: the 2 true ones and the phantom; the 2 true ones are exact.
    assert_eq!(m.receipt_exact_rate, 2.0 / 3.0);
    assert_eq!(m.wrong_unreviewed_rate, 1.0 / 3.0);
    // 4 true units all charged, plus 1 charged to nobody.
    assert_eq!((m.item_precision, m.item_recall), (4.0 / 5.0, 1.0));
}

#[test]
fn one_event_given_to_the_wrong_shopper() {
    let truth = example_truth();
    assert_eq!(truth.events.len(), 6);
    let mut prediction = Prediction::from_truth(&truth);
    let ann_event = prediction
        .events
        .iter_mut()
        .find(|e| e.account.as_deref() == Some("acct-ann"))
        .unwrap();
    ann_event.account = Some("acct-lee".into());
    let m = score(&truth, &prediction, &config());
    assert_eq!(m.attribution_accuracy, 5.0 / 6.0);
    assert_eq!((m.event_precision, m.event_recall), (1.0, 1.0));
}

#[test]
fn event_matching_respects_slot_kind_quantity_and_time() {
    let truth = example_truth();
    let mut prediction = Prediction::from_truth(&truth);
    // Shift one event beyond the tolerance, another within it; add a phantom.
    prediction.events[0].time_secs += 2.5;
    prediction.events[1].time_secs -= 1.5;
    prediction.events.push(PredictedEvent {
        time_secs: 5.0,
        account: Some("acct-ann".into()),
        slot: "B3-3".into(),
        kind: walkout_datasets::truth::EventKind::Pick,
        quantity: 1,
    });
    let m = score(&truth, &prediction, &config());
    // 5 of 7 predicted match, 5 of 6 true are found.
    assert_eq!(m.event_precision, 5.0 / 7.0);
    assert_eq!(m.event_recall, 5.0 / 6.0);
    assert_eq!(m.attribution_accuracy, 1.0);
}

fn object(frame: u32, id: i64, left: f32) -> MotRecord {
    MotRecord {
        frame,
        id,
        left,
        top: 50.0,
        width: 40.0,
        height: 120.0,
        confidence: 1.0,
        class: 1,
        visibility: 1.0,
    }
}

/// Two shoppers apart in one camera for 10 frames; the tracker swaps their ids from frame 6 on.
///
/// By hand: both objects change predicted id at frame 6, so 2 ID switches and MOTA = 1 - 2/20 = 0.9. The
/// best global id matching pairs each object with the id it had for 5 frames: IDTP = 10, IDF1 =
/// 2 * 10 / (20 + 20) = 0.5. HOTA: every box is detected exactly (DetA = 1); each of the 4 object/id pairs
/// shares 5 frames with association IoU 5 / (10 + 10 - 5) = 1/3, so AssA = 1/3 and HOTA = sqrt(1/3).
#[test]
fn two_track_ids_swapped_halfway() {
    let mut truth = example_truth();
    let gt: Vec<MotRecord> = (1..=10)
        .flat_map(|f| [object(f, 1, 100.0), object(f, 2, 400.0)])
        .collect();
    let swapped: Vec<MotRecord> = (1..=10)
        .flat_map(|f| {
            let (a, b) = if f <= 5 { (1, 2) } else { (2, 1) };
            [object(f, a, 100.0), object(f, b, 400.0)]
        })
        .collect();
    for camera in truth.cameras.values_mut() {
        camera.shoppers.clear();
    }
    truth.cameras.get_mut("north-west").unwrap().shoppers = gt;
    let mut prediction = Prediction::from_truth(&truth);
    prediction.tracks.insert("north-west".into(), swapped);
    let m = score(&truth, &prediction, &config());
    assert_eq!(m.id_switches, 2);
    assert_eq!(m.mota, 0.9);
    assert_eq!(m.idf1, 0.5);
    assert!((m.hota - (1.0f64 / 3.0).sqrt()).abs() < 1e-12, "{}", m.hota);
    let camera = &m.tracking_per_camera["north-west"];
    assert_eq!(
        (camera.id_switches, camera.mota, camera.idf1),
        (2, 0.9, 0.5)
    );
    // A camera with nothing on either side scores 1 (the 0/0 convention) and does not move the pooled numbers.
    assert_eq!(m.tracking_per_camera["south-east"].mota, 1.0);
}

#[test]
fn ground_truth_round_trips_through_a_directory() {
    let truth = example_truth();
    let dir = tempfile::tempdir().unwrap();
    truth.write_to_dir(dir.path()).unwrap();
    let read = GroundTruth::read_from_dir(dir.path()).unwrap();
    // serde_json (without its float_roundtrip feature, which the workspace does not enable) may read an f64
    // back one ulp off; everything else must come back exactly.
    assert_json_close(
        &serde_json::to_value(&read).unwrap(),
        &serde_json::to_value(&truth).unwrap(),
        "",
    );
    let gt_txt = std::fs::read_to_string(dir.path().join("mot/north-west/gt.txt")).unwrap();
    let parsed = walkout_datasets::mot::parse(&gt_txt).unwrap();
    assert_eq!(parsed.len(), truth.cameras["north-west"].shoppers.len());
}

fn assert_json_close(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                "{at}: {x} != {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                assert_json_close(p, q, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, p) in x {
                assert_json_close(p, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}
