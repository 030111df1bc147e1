//! The store logic end to end on synthetic detections: two calibrated ceiling cameras watch a shopper
//! check in, walk down the aisle, take one item from a shelf and leave. Boxes come from projecting the
//! shopper's body through the same calibration the store uses, so the floor mapping is exercised for real.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use nalgebra::Point3;
use walkout_core::{Appearance, BBox, CameraId, CaptureTime, Detection, ObjectKind};
use walkout_pipeline::TrackerConfig;
use walkout_pipeline::calibration::{Calibration, Intrinsics};
use walkout_pipeline::cart::{EventKind, ShelfEvent};
use walkout_pipeline::fusion::{FusionConfig, Zone};
use walkout_pipeline::sessions::{CheckIn, ReviewReason, SessionConfig};
use walkout_pipeline::shelf::{ShelfConfig, SlotView, SlotVolume};
use walkout_pipeline::stage::{Backpressure, edge, spawn_stage};
use walkout_pipeline::store::{
    CameraSetup, FrameDetections, StoreConfig, StoreInput, StoreLogic, StoreOutput,
};

const SLOT_M: [f64; 3] = [5.0, 3.6, 1.0];

fn camera(id: &str, x: f64) -> (CameraId, Calibration) {
    let calibration = Calibration::looking_at(
        Intrinsics::from_fov(640, 480, 90.0),
        Point3::new(x, -1.0, 3.2),
        Point3::new(x, 2.2, 0.0),
    );
    (CameraId::new(id), calibration)
}

/// The projected bounding box of a world-space box, if its centre is in view.
fn project_box(cal: &Calibration, min: [f64; 3], max: [f64; 3]) -> Option<BBox> {
    let b = image_box(cal, min, max)?;
    let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    ((0.0..640.0).contains(&cx) && (0.0..480.0).contains(&cy)).then(|| b.clamped(640.0, 480.0))
}

/// The bounding box of a world-space box's projection, unclipped (`None` if a corner is behind the
/// camera).
fn image_box(cal: &Calibration, min: [f64; 3], max: [f64; 3]) -> Option<BBox> {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &x in &[min[0], max[0]] {
        for &y in &[min[1], max[1]] {
            for &z in &[min[2], max[2]] {
                let p = cal.image_from_world(&Point3::new(x, y, z))?;
                xs.push(p.x as f32);
                ys.push(p.y as f32);
            }
        }
    }
    Some(BBox::new(
        xs.iter().copied().fold(f32::MAX, f32::min),
        ys.iter().copied().fold(f32::MAX, f32::min),
        xs.iter().copied().fold(f32::MIN, f32::max),
        ys.iter().copied().fold(f32::MIN, f32::max),
    ))
}

fn detection(kind: ObjectKind, bbox: BBox) -> Detection {
    Detection {
        class_id: 0,
        label: Arc::from(format!("{kind:?}")),
        kind,
        score: 0.9,
        bbox,
        appearance: None,
    }
}

/// Where the shopper is at `t` seconds: walks +x at 1 m/s from (0.5, 2.2), stops at x = 5 for 3 s.
fn shopper_x(t: f64) -> f64 {
    let x = 0.5 + t;
    if x < 5.0 {
        x
    } else if t < 4.5 + 3.0 {
        5.0
    } else {
        5.0 + (t - 7.5)
    }
}

fn config(cameras: &[(CameraId, Calibration)]) -> StoreConfig {
    let entry = Zone::around([0.5, 2.2], [0.8, 0.8]);
    let slot_region = project_box(
        &cameras[1].1,
        [SLOT_M[0] - 0.25, SLOT_M[1], SLOT_M[2] - 0.15],
        [SLOT_M[0] + 0.25, SLOT_M[1] + 0.3, SLOT_M[2] + 0.15],
    )
    .unwrap();
    StoreConfig {
        cameras: cameras
            .iter()
            .enumerate()
            .map(|(i, (id, calibration))| CameraSetup {
                id: id.clone(),
                calibration: calibration.clone(),
                slots: if i == 1 {
                    vec![SlotView {
                        slot: "A1".into(),
                        sku: "cola".into(),
                        region: slot_region,
                        unit_weight_g: None,
                        volume: None,
                        lends_only: false,
                    }]
                } else {
                    vec![]
                },
            })
            .collect(),
        tracker: TrackerConfig::default(),
        // the exit zone is the doorway and everything past it: a shopper last seen there has left
        fusion: FusionConfig {
            birth_zones: vec![entry],
            exit_zones: vec![Zone {
                min_m: [8.8, 1.0],
                max_m: [12.0, 3.4],
            }],
            ..FusionConfig::default()
        },
        sessions: SessionConfig {
            entry_gates: [("gate-1".to_string(), entry)].into_iter().collect(),
            ..SessionConfig::default()
        },
        shelf: ShelfConfig::default(),
        step: Duration::from_millis(100),
    }
}

/// What the slot's camera detects in the slot: `cans` cans standing in a row, and a hand in the middle
/// when `reaching`.
fn at_the_slot(slot_region: BBox, cans: usize, reaching: bool) -> Vec<Detection> {
    let w = slot_region.width() / 4.0;
    let mut detections: Vec<Detection> = (0..cans)
        .map(|c| {
            let x1 = slot_region.x1 + w * (c as f32 + 0.5);
            detection(
                ObjectKind::Product,
                BBox::new(x1, slot_region.y1 + 2.0, x1 + w * 0.6, slot_region.y2 - 2.0),
            )
        })
        .collect();
    if reaching {
        let (cx, cy) = (
            (slot_region.x1 + slot_region.x2) / 2.0,
            (slot_region.y1 + slot_region.y2) / 2.0,
        );
        detections.push(detection(
            ObjectKind::Hand,
            BBox::new(cx - 6.0, cy - 6.0, cx + 6.0, cy + 6.0),
        ));
    }
    detections
}

fn inputs(cameras: &[(CameraId, Calibration)], slot_region: BBox) -> Vec<StoreInput> {
    let mut out = Vec::new();
    for frame in 0..=140u64 {
        let t = frame as f64 / 10.0;
        let time = CaptureTime::from_unix_millis(1_000_000 + frame * 100);
        if frame == 3 {
            out.push(StoreInput::CheckIn(CheckIn {
                account: "acct-1".into(),
                gate: "gate-1".into(),
                time,
            }));
        }
        let x = shopper_x(t);
        for (i, (id, cal)) in cameras.iter().enumerate() {
            let mut detections = Vec::new();
            if x <= 9.9
                && let Some(body) =
                    project_box(cal, [x - 0.25, 2.2 - 0.2, 0.0], [x + 0.25, 2.2 + 0.2, 1.75])
            {
                detections.push(detection(ObjectKind::Person, body));
            }
            if i == 1 {
                // three cans on the shelf until the hand takes one at 5.5 .. 6.5 s
                let reaching = (5.5..6.5).contains(&t);
                let cans = if t < 5.5 {
                    3
                } else if reaching {
                    1
                } else {
                    2
                };
                detections.extend(at_the_slot(slot_region, cans, reaching));
            }
            out.push(StoreInput::Frame(FrameDetections {
                camera: id.clone(),
                seq: frame,
                time,
                detections,
            }));
        }
    }
    out
}

/// The sessions the store reported closed, in order.
fn closed_sessions(outputs: &[StoreOutput]) -> Vec<&walkout_pipeline::sessions::Session> {
    outputs
        .iter()
        .filter_map(|o| match o {
            StoreOutput::SessionClosed(s) => Some(s.as_ref()),
            _ => None,
        })
        .collect()
}

/// The shelf events the store reported, each with the session it went to.
fn shelf_events(outputs: &[StoreOutput]) -> Vec<(&ShelfEvent, Option<u64>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            StoreOutput::Event { event, session } => Some((event, *session)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_shopper_checks_in_takes_a_can_and_leaves_with_exactly_that_in_the_cart() {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let config = config(&cameras);
    let slot_region = config.cameras[1].slots[0].region;
    let store = StoreLogic::new(config).unwrap();

    // through real stage plumbing: bounded, lossless edges and a clean drain at the end
    let (in_tx, in_rx, _) = edge::<StoreInput>("detections->store", 8, Backpressure::Block);
    let (out_tx, out_rx, _) = edge::<StoreOutput>("store->api", 8, Backpressure::Block);
    let stage = spawn_stage("store", store, in_rx, out_tx).unwrap();
    let feeder = std::thread::spawn(move || {
        for input in inputs(&cameras, slot_region) {
            in_tx.send(input).unwrap();
        }
    });
    let outputs: Vec<StoreOutput> = out_rx.iter().collect();
    feeder.join().unwrap();
    let stats = stage.join();
    assert_eq!(stats.processed, 1 + 141 * 2);

    let opened: Vec<u64> = outputs
        .iter()
        .filter_map(|o| match o {
            StoreOutput::SessionOpened { session, .. } => Some(*session),
            _ => None,
        })
        .collect();
    assert_eq!(opened, vec![1]);
    let events = shelf_events(&outputs);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.kind, events[0].0.quantity, events[0].1),
        (EventKind::Pick, 1, Some(1))
    );
    assert!(events[0].0.confidence >= 0.99);
    let closed = closed_sessions(&outputs);
    assert_eq!(closed.len(), 1);
    let session = closed[0];
    assert_eq!(session.account, "acct-1");
    assert_eq!(session.cart().quantity("cola"), 1);
    assert_eq!(
        session.tracks.len(),
        1,
        "one shopper id from entry to exit, across the camera hand-over"
    );
    assert!(!session.needs_review(), "{:?}", session.review);
    for camera in ["aisle-west", "aisle-east"] {
        let bound = outputs.iter().any(|o| {
            matches!(o, StoreOutput::CameraTracks { camera: c, tracks, .. } if c.as_str() == camera && tracks.iter().any(|t| t.id() == 1))
        });
        assert!(
            bound,
            "{camera}'s track is reported under the shopper's global id"
        );
    }
    let positions = outputs
        .iter()
        .filter(|o| matches!(o, StoreOutput::Positions { .. }))
        .count();
    assert!(positions > 100);
}

#[test]
fn a_pick_while_the_slot_camera_was_out_reviews_the_shopper_who_was_there() {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let mut config = config(&cameras);
    let slot_region = config.cameras[1].slots[0].region;
    with_slot_volume(&mut config, &cameras);
    // the camera that watches the slot is out from 4 s, before the shopper comes, until they have
    // walked out of its view
    let inputs: Vec<StoreInput> = inputs(&cameras, slot_region)
        .into_iter()
        .filter(|input| match input {
            StoreInput::Frame(f) => {
                let t = (f.time.unix_millis() - 1_000_000) as f64 / 1000.0;
                !(f.camera.as_str() == "aisle-east" && (4.0..12.45).contains(&t))
            }
            _ => true,
        })
        .collect();
    let (store, outputs) = run_store(config, inputs);
    let events = shelf_events(&outputs);
    // the pick is not lost: it waits for an operator, with no session (nobody was seen taking it)
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.kind, events[0].0.quantity, events[0].1),
        (EventKind::Pick, 1, None)
    );
    // and the shopper who stood at the slot meanwhile is not charged without a look
    let session = store.sessions().get(1).unwrap();
    assert!(
        session.review.iter().any(|r| matches!(
            r,
            ReviewReason::UnseenEventNearby { event, slot } if *event == events[0].0.id && slot == "A1"
        )),
        "{:?}",
        session.review
    );
    assert!(session.needs_review());
    assert_eq!(session.cart().quantity("cola"), 0);
}

/// The slot's place on the floor and its volume as `cal`'s camera sees it.
fn slot_volume(cal: &Calibration) -> SlotVolume {
    SlotVolume {
        plane_from_image: cal.plane_from_image(SLOT_M[2]).unwrap(),
        front_center_m: [SLOT_M[0], SLOT_M[1]],
        along: [1.0, 0.0],
        inward: [0.0, 1.0],
        half_width_m: 0.25,
        depth_m: 0.3,
        mid_height_m: SLOT_M[2],
    }
}

/// Gives the watched slot its place on the floor, so the store knows who came near it. This scene's
/// shopper walks the aisle's middle, 1.4 m from the slot's front, and a camera that lost them may last
/// see them 1.6 m from it: shoppers within 2 m are near.
fn with_slot_volume(config: &mut StoreConfig, cameras: &[(CameraId, Calibration)]) {
    config.cameras[1].slots[0].volume = Some(slot_volume(&cameras[1].1));
    config.shelf = ShelfConfig {
        suspect_radius_m: 2.0,
        ..ShelfConfig::default()
    };
}

/// The scene of `inputs`, but someone steps in front of the slot as the shopper takes the can and
/// stands there, hiding it, until after the shopper has left: the slot cannot settle before they are
/// out of the door.
fn hidden_after_the_pick(
    cameras: &[(CameraId, Calibration)],
    slot_region: BBox,
) -> Vec<StoreInput> {
    inputs(cameras, slot_region)
        .into_iter()
        .map(|mut input| {
            if let StoreInput::Frame(f) = &mut input {
                let t = (f.time.unix_millis() - 1_000_000) as f64 / 1000.0;
                if f.camera.as_str() == "aisle-east" && (6.4..12.8).contains(&t) {
                    let body = BBox::new(
                        slot_region.x1 - 10.0,
                        slot_region.y1 - 40.0,
                        slot_region.x2 + 10.0,
                        slot_region.y2 + 60.0,
                    );
                    f.detections.push(detection(ObjectKind::Person, body));
                }
            }
            input
        })
        .collect()
}

fn run_store(config: StoreConfig, inputs: Vec<StoreInput>) -> (StoreLogic, Vec<StoreOutput>) {
    let mut store = StoreLogic::new(config).unwrap();
    let mut outputs = Vec::new();
    for input in inputs {
        store.handle(input, &mut |o| outputs.push(o));
    }
    store.flush(&mut |o| outputs.push(o));
    (store, outputs)
}

#[test]
fn a_pick_whose_slot_settles_after_the_shopper_left_is_on_the_charged_cart() {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let config = config(&cameras);
    let slot_region = config.cameras[1].slots[0].region;
    let (_, outputs) = run_store(config, hidden_after_the_pick(&cameras, slot_region));

    let pick = outputs
        .iter()
        .position(
            |o| matches!(o, StoreOutput::Event { event, .. } if event.kind == EventKind::Pick),
        )
        .expect("the pick is reported");
    let (closed_at, session) = outputs
        .iter()
        .enumerate()
        .find_map(|(i, o)| match o {
            StoreOutput::SessionClosed(s) => Some((i, s)),
            _ => None,
        })
        .expect("the session closes");
    let StoreOutput::Event { event, session: to } = &outputs[pick] else {
        unreachable!()
    };
    assert_eq!(*to, Some(session.id), "the pick is the shopper's");
    assert!(
        pick < closed_at,
        "the cart is final only after the pick settled"
    );
    assert!(
        session.final_at.unwrap() > session.closed_at.unwrap(),
        "the shopper left before the slot settled: {:?} .. {:?}",
        session.closed_at,
        session.final_at
    );
    assert!(event.time < session.closed_at.unwrap());
    assert_eq!(session.cart().quantity("cola"), 1);
}

#[test]
fn a_slot_still_unsettled_after_the_wait_reviews_the_session_and_the_late_pick_goes_to_an_operator()
{
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let mut config = config(&cameras);
    config.sessions.settle_wait_secs = 0.2;
    let slot_region = config.cameras[1].slots[0].region;
    let (_, outputs) = run_store(config, hidden_after_the_pick(&cameras, slot_region));

    let closed = outputs
        .iter()
        .position(|o| matches!(o, StoreOutput::SessionClosed(_)))
        .expect("the session closes");
    let StoreOutput::SessionClosed(session) = &outputs[closed] else {
        unreachable!()
    };
    assert_eq!(
        session.review,
        vec![ReviewReason::ShelfUnsettled {
            slots: vec!["A1".into()]
        }]
    );
    assert_eq!(session.cart().quantity("cola"), 0);
    // the pick settles after the cart was final: not lost, not silently on a charged cart
    let events = shelf_events(&outputs[closed..]);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.kind, events[0].0.quantity, events[0].1),
        (EventKind::Pick, 1, None)
    );
}

#[test]
fn on_a_lane_scale_the_cart_holds_what_the_scale_weighed_and_the_hand_told_whose() {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let mut config = config(&cameras);
    config.cameras[1].slots[0].unit_weight_g = Some(330.0);
    let slot_region = config.cameras[1].slots[0].region;
    let mut inputs = inputs(&cameras, slot_region);
    // the camera counts one can gone; the scale, half a second after the hand left, two
    let at = |secs: f64| CaptureTime::from_unix_millis(1_000_000 + (secs * 1000.0) as u64);
    let reading = |slot: &str, delta_g: f64, secs: f64| {
        StoreInput::Weight(walkout_pipeline::shelf::WeightReading {
            slot: slot.into(),
            delta_g,
            time: at(secs),
        })
    };
    let after = |secs: f64| {
        inputs
            .iter()
            .position(|i| matches!(i, StoreInput::Frame(f) if f.time >= at(secs)))
            .unwrap()
    };
    let (i, j) = (after(7.0), after(3.0));
    inputs.insert(i, reading("A1", -661.5, 7.0));
    // a slot no camera watches: counted and logged, nobody's cart
    inputs.insert(j, reading("Z9", -100.0, 3.0));
    let (store, outputs) = run_store(config, inputs);
    assert_eq!(store.unwatched_readings(), 1);
    let events = shelf_events(&outputs);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.kind, events[0].0.quantity, events[0].1),
        (EventKind::Pick, 2, Some(1))
    );
    assert_eq!(events[0].0.time, at(6.5));
    let closed = closed_sessions(&outputs);
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].cart().quantity("cola"), 2);
    assert!(!closed[0].needs_review(), "{:?}", closed[0].review);
}

/// Two lane-scale slots side by side in one camera's view (cola at 330 g, chips at `chips_g`): the
/// shopper takes two colas from one and, in the same reach, puts one into the chips slot. Reports the
/// events and the closed session.
fn misplaced_run(
    misplaced_fit: f32,
    chips_g: f64,
) -> (Vec<ShelfEvent>, walkout_pipeline::sessions::Session) {
    misplaced_readings(
        misplaced_fit,
        chips_g,
        &[("A1", -659.0, 6.2), ("A2", 331.5, 6.9)],
    )
}

/// The shopper of `inputs` with a can of cola (330 g) in slot A1 and a bag of chips (`chips_g`) in A2,
/// the hand in both slots from 5.5 to 6.5 s, and the scales reporting `readings` (slot, grams, time).
fn misplaced_readings(
    misplaced_fit: f32,
    chips_g: f64,
    readings: &[(&str, f64, f64)],
) -> (Vec<ShelfEvent>, walkout_pipeline::sessions::Session) {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let mut config = config(&cameras);
    config.shelf.misplaced_fit = misplaced_fit;
    let cola = config.cameras[1].slots[0].clone();
    config.cameras[1].slots = vec![
        SlotView {
            unit_weight_g: Some(330.0),
            ..cola.clone()
        },
        SlotView {
            slot: "A2".into(),
            sku: "chips".into(),
            unit_weight_g: Some(chips_g),
            ..cola.clone()
        },
    ];
    let mut inputs = inputs(&cameras, cola.region);
    let at = |secs: f64| CaptureTime::from_unix_millis(1_000_000 + (secs * 1000.0) as u64);
    let after = |inputs: &[StoreInput], secs: f64| {
        inputs
            .iter()
            .position(|i| matches!(i, StoreInput::Frame(f) if f.time >= at(secs)))
            .unwrap()
    };
    // each scale reports half a second after its change
    for &(slot, delta_g, secs) in readings {
        let i = after(&inputs, secs);
        inputs.insert(
            i,
            StoreInput::Weight(walkout_pipeline::shelf::WeightReading {
                slot: slot.into(),
                delta_g,
                time: at(secs),
            }),
        );
    }
    let (_, outputs) = run_store(config, inputs);
    let events = shelf_events(&outputs)
        .into_iter()
        .map(|(e, _)| e.clone())
        .collect();
    let closed = closed_sessions(&outputs);
    assert_eq!(closed.len(), 1);
    (events, closed[0].clone())
}

#[test]
fn a_put_back_that_weighs_as_an_item_in_the_cart_is_that_item_in_the_wrong_slot() {
    let (events, session) = misplaced_run(ShelfConfig::default().misplaced_fit, 200.0);
    let put = events.iter().find(|e| e.kind == EventKind::Put).unwrap();
    // 331.5 g is no whole number of 200 g bags (1.66), but one 330 g can from the cart
    assert_eq!(
        (put.slot.as_str(), put.sku.as_str(), put.quantity),
        ("A2", "cola", 1),
        "{events:?}"
    );
    assert!(put.confidence > 0.9, "{put:?}");
    assert_eq!(session.cart().quantity("cola"), 1);
    assert_eq!(session.cart().quantity("chips"), 0);
    assert!(!session.needs_review(), "{:?}", session.review);
    // the stock moved: one can less in A1 for good, one more item (a can) standing in A2
    let mut inventory =
        walkout_pipeline::cart::Inventory::new([("A1".into(), 10), ("A2".into(), 10)]);
    events.iter().for_each(|e| inventory.apply(e));
    assert_eq!((inventory.stock["A1"], inventory.stock["A2"]), (8, 11));

    // without it, the reading is 2 bags of chips put back that the cart never had: an operator looks
    let (events, session) = misplaced_run(1.1, 200.0);
    let put = events.iter().find(|e| e.kind == EventKind::Put).unwrap();
    assert_eq!((put.sku.as_str(), put.quantity), ("chips", 2));
    assert_eq!(session.cart().quantity("cola"), 2);
    assert!(session.needs_review());

    // with 119 g bags, 331.5 g is 2.78 of them, a poorer fit than one can (1.005) but not far off:
    // the can is chosen, not surely, and an operator confirms
    let (events, session) = misplaced_run(ShelfConfig::default().misplaced_fit, 119.2);
    let put = events.iter().find(|e| e.kind == EventKind::Put).unwrap();
    assert_eq!((put.sku.as_str(), put.quantity), ("cola", 1));
    assert!(put.confidence < 0.5, "{put:?}");
    assert_eq!(session.cart().quantity("cola"), 1);
    assert!(session.needs_review());

    // with 331 g bags, one fits 331.5 g better than a can, but the cart holds no chips and nobody
    // puts back what they never took: the can, reviewed
    let (events, session) = misplaced_run(ShelfConfig::default().misplaced_fit, 331.0);
    let put = events.iter().find(|e| e.kind == EventKind::Put).unwrap();
    assert_eq!((put.sku.as_str(), put.quantity), ("cola", 1), "{events:?}");
    assert!(put.confidence <= 0.5, "{put:?}");
    assert_eq!(session.cart().quantity("cola"), 1);
    assert!(session.needs_review());
}

#[test]
fn a_put_back_the_scale_cannot_tell_from_the_slot_s_own_item_is_that_item_reviewed() {
    // a bag of chips (334 g) taken from A2, two cans from A1, and 331.5 g put back in A2: a can fits
    // it a little better, but a bag is within the scale's noise too, and was taken from there
    let readings = [("A2", -334.0, 6.0), ("A1", -659.0, 6.2), ("A2", 331.5, 6.9)];
    let (events, session) =
        misplaced_readings(ShelfConfig::default().misplaced_fit, 334.0, &readings);
    let put = events.iter().find(|e| e.kind == EventKind::Put).unwrap();
    assert_eq!((put.sku.as_str(), put.quantity), ("chips", 1), "{events:?}");
    assert!(put.confidence <= 0.5, "{put:?}");
    assert_eq!(
        (
            session.cart().quantity("chips"),
            session.cart().quantity("cola")
        ),
        (0, 2)
    );
    assert!(session.needs_review());
    // 25 g off a bag, the scale tells them apart: a can put back in the wrong slot
    let (events, session) = misplaced_readings(
        ShelfConfig::default().misplaced_fit,
        356.5,
        &[("A2", -356.5, 6.0), ("A1", -659.0, 6.2), ("A2", 330.5, 6.9)],
    );
    let put = events.iter().find(|e| e.kind == EventKind::Put).unwrap();
    assert_eq!((put.sku.as_str(), put.quantity), ("cola", 1), "{events:?}");
    assert_eq!(
        (
            session.cart().quantity("chips"),
            session.cart().quantity("cola")
        ),
        (1, 1)
    );
}

#[test]
fn on_a_lane_scale_a_camera_that_saw_the_hand_decides_where_the_watching_one_saw_none() {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let slot_region = config(&cameras).cameras[1].slots[0].region;
    // the west camera sees the slot too, and watches it (it gets the readings); only the east one
    // sees the hand
    let west_region = project_box(
        &cameras[0].1,
        [SLOT_M[0] - 0.25, SLOT_M[1], SLOT_M[2] - 0.15],
        [SLOT_M[0] + 0.25, SLOT_M[1] + 0.3, SLOT_M[2] + 0.15],
    )
    .unwrap();
    let at = |secs: f64| CaptureTime::from_unix_millis(1_000_000 + (secs * 1000.0) as u64);
    let mut cases = Vec::new();
    for lending in [false, true] {
        let mut config = config(&cameras);
        let east = config.cameras[1].slots.remove(0);
        config.cameras[0].slots.push(SlotView {
            region: west_region,
            unit_weight_g: Some(330.0),
            ..east.clone()
        });
        if lending {
            config.cameras[1].slots.push(SlotView {
                unit_weight_g: Some(330.0),
                lends_only: true,
                ..east
            });
        }
        // the west camera loses the shopper from before they reach the slot until well after: it sees
        // no body and no hand there
        let mut inputs: Vec<StoreInput> = inputs(&cameras, slot_region)
            .into_iter()
            .map(|mut input| {
                if let StoreInput::Frame(f) = &mut input
                    && f.camera.as_str() == "aisle-west"
                    && (at(3.0)..at(10.0)).contains(&f.time)
                {
                    f.detections.clear();
                }
                input
            })
            .collect();
        let i = inputs
            .iter()
            .position(|i| matches!(i, StoreInput::Frame(f) if f.time >= at(7.0)))
            .unwrap();
        inputs.insert(
            i,
            StoreInput::Weight(walkout_pipeline::shelf::WeightReading {
                slot: "A1".into(),
                delta_g: -661.5,
                time: at(7.0),
            }),
        );
        let (_, outputs) = run_store(config, inputs);
        let events: Vec<(ShelfEvent, Option<u64>)> = shelf_events(&outputs)
            .into_iter()
            .map(|(e, s)| (e.clone(), s))
            .collect();
        let closed: Vec<_> = closed_sessions(&outputs).into_iter().cloned().collect();
        cases.push((events, closed));
    }
    // alone, the watching camera saw no hand: the pick is the operators' to place
    let (events, closed) = &cases[0];
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0.quantity, 2);
    assert!(events[0].0.confidence < 0.5, "{:?}", events[0].0);
    assert!(
        closed[0].needs_review() || events[0].1.is_none(),
        "{closed:?}"
    );
    // with the east camera's view of the hand: the shopper's, sure, with the east camera's evidence
    let (events, closed) = &cases[1];
    assert_eq!(events.len(), 1, "{events:?}");
    let (event, session) = &events[0];
    assert_eq!(
        (event.kind, event.quantity, *session),
        (EventKind::Pick, 2, Some(1))
    );
    assert!(event.confidence > 0.9, "{event:?}");
    assert!(
        event
            .evidence
            .iter()
            .all(|e| e.camera.as_str() == "aisle-east")
    );
    assert_eq!(
        event.id >> 40,
        1,
        "the watching camera's event id: {}",
        event.id
    );
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].cart().quantity("cola"), 2);
    assert!(!closed[0].needs_review(), "{:?}", closed[0].review);
}

/// Runs the store with the cameras losing the shopper from `lost_from_ms` (of scene time) to the end.
fn lost_from(lost_from_ms: u64) -> Vec<walkout_pipeline::sessions::Session> {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let config = config(&cameras);
    let slot_region = config.cameras[1].slots[0].region;
    let mut inputs = inputs(&cameras, slot_region);
    let lost_from = CaptureTime::from_unix_millis(1_000_000 + lost_from_ms);
    for input in &mut inputs {
        if let StoreInput::Frame(frame) = input
            && frame.time >= lost_from
        {
            frame.detections.retain(|d| d.kind != ObjectKind::Person);
        }
    }
    let (_, outputs) = run_store(config, inputs);
    closed_sessions(&outputs).into_iter().cloned().collect()
}

#[test]
fn a_shopper_lost_on_the_way_out_has_their_session_closed_for_review_when_the_input_ends() {
    // the cameras lose the shopper at x = 6.0, 2.8 m (2.8 s) short of the exit zone
    let closed = lost_from(8_500);
    assert_eq!(closed.len(), 1, "the session is not left open for good");
    assert_eq!(closed[0].cart().quantity("cola"), 1);
    assert!(
        closed[0]
            .review
            .iter()
            .any(|r| matches!(r, ReviewReason::ShopperVanished { .. })),
        "nobody saw them leave: {:?}",
        closed[0].review
    );
}

#[test]
fn a_shopper_lost_in_the_last_metres_to_the_exit_has_left_without_review() {
    // lost at x = 7.5, walking into the exit zone 1.3 s later: within `exit_eta_secs`
    let closed = lost_from(10_000);
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].cart().quantity("cola"), 1);
    assert!(!closed[0].needs_review(), "{:?}", closed[0].review);
}

/// Two shoppers in line at the shelf: the first (`acct-1`) takes two cans and puts one back; the
/// second (`acct-2`) waits a step behind. While the first puts the can back, the slot's camera loses
/// their body, so the hand in the slot is given to the second, who holds no can.
fn put_back_while_the_shelf_camera_lost_its_shopper() -> Vec<StoreInput> {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let slot_region = config(&cameras).cameras[1].slots[0].region;
    let second_x = |t: f64| {
        if t < 9.5 {
            (0.5 + (t - 1.5)).min(4.3)
        } else {
            4.3 + (t - 9.5)
        }
    };
    let mut out = Vec::new();
    for frame in 0..=170u64 {
        let t = frame as f64 / 10.0;
        let time = CaptureTime::from_unix_millis(1_000_000 + frame * 100);
        for (at, account) in [(3, "acct-1"), (18, "acct-2")] {
            if frame == at {
                out.push(StoreInput::CheckIn(CheckIn {
                    account: account.into(),
                    gate: "gate-1".into(),
                    time,
                }));
            }
        }
        let first_lost = (6.3..8.0).contains(&t);
        for (i, (id, cal)) in cameras.iter().enumerate() {
            let mut detections = Vec::new();
            let mut bodies = vec![(shopper_x(t), !(i == 1 && first_lost))];
            if t >= 1.5 {
                bodies.push((second_x(t), true));
            }
            for (x, seen) in bodies {
                if seen
                    && x <= 9.9
                    && let Some(body) =
                        project_box(cal, [x - 0.25, 2.2 - 0.2, 0.0], [x + 0.25, 2.2 + 0.2, 1.75])
                {
                    detections.push(detection(ObjectKind::Person, body));
                }
            }
            if i == 1 {
                // three cans; two go at 5.5 .. 6.0 s, one comes back at 6.8 .. 7.2 s
                let picking = (5.5..6.0).contains(&t);
                let putting = (6.8..7.2).contains(&t);
                let cans = if t < 5.5 {
                    3
                } else if t < 7.2 {
                    1
                } else {
                    2
                };
                detections.extend(at_the_slot(slot_region, cans, picking || putting));
            }
            out.push(StoreInput::Frame(FrameDetections {
                camera: id.clone(),
                seq: frame,
                time,
                detections,
            }));
        }
    }
    out
}

#[test]
fn a_put_back_nobody_near_its_hand_could_make_is_the_near_shopper_s_who_holds_the_item() {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let mut config = config(&cameras);
    with_slot_volume(&mut config, &cameras);
    let (_, outputs) = run_store(config, put_back_while_the_shelf_camera_lost_its_shopper());
    let events = shelf_events(&outputs);
    let kinds: Vec<(EventKind, u32)> = events.iter().map(|(e, _)| (e.kind, e.quantity)).collect();
    assert_eq!(
        kinds,
        [(EventKind::Pick, 2), (EventKind::Put, 1)],
        "{events:?}"
    );
    let closed = closed_sessions(&outputs);
    let session = |account: &str| *closed.iter().find(|s| s.account == account).unwrap();
    let (first, second) = (session("acct-1"), session("acct-2"));
    // both events on the first shopper's cart: two taken, one back
    assert!(
        events.iter().all(|(_, s)| *s == Some(first.id)),
        "{events:?}"
    );
    assert_eq!(first.cart().quantity("cola"), 1);
    assert_eq!(second.cart().quantity("cola"), 0);
    // nobody saw the first shopper's hand put it back, and the second one's was there: both are
    // looked at before they pay
    let put = events[1].0.id;
    assert!(
        first.review.iter().any(
            |r| matches!(r, ReviewReason::HeldItemPutBack { event, sku, .. } if *event == put && sku == "cola")
        ),
        "{:?}",
        first.review
    );
    assert!(
        second
            .review
            .iter()
            .any(|r| matches!(r, ReviewReason::ContestedEvent { event, .. } if *event == put)),
        "{:?}",
        second.review
    );
}

/// The scene of [`inputs`] with a second shopper (`acct-2`) who comes to the gate at 0.9 s, checks in
/// at 1.2 s and walks twice as fast a little further from the cameras (y = 2.6): they overtake the
/// first at 2.4 s in front of the west camera, whose detector sees one box for the two then, and leave
/// before the first reaches the slot. A shelf hides them from the east camera until x = 5.
fn overtaken_inputs(cameras: &[(CameraId, Calibration)], slot_region: BBox) -> Vec<StoreInput> {
    let second_x = |t: f64| 0.5 + 2.0 * (t - 1.2).max(0.0);
    let mut out = Vec::new();
    for input in inputs(cameras, slot_region) {
        let StoreInput::Frame(mut frame) = input else {
            out.push(input);
            continue;
        };
        let t = (frame.time.unix_millis() - 1_000_000) as f64 / 1000.0;
        if frame.seq == 12 {
            out.push(StoreInput::CheckIn(CheckIn {
                account: "acct-2".into(),
                gate: "gate-1".into(),
                time: frame.time,
            }));
        }
        let x = second_x(t);
        let (_, cal) = cameras.iter().find(|(id, _)| *id == frame.camera).unwrap();
        if t >= 0.9
            && x <= 9.9
            && (frame.camera.as_str() == "aisle-west" || x >= 5.0)
            && let Some(body) =
                project_box(cal, [x - 0.25, 2.6 - 0.2, 0.0], [x + 0.25, 2.6 + 0.2, 1.75])
        {
            let hidden = frame.detections.iter().any(|d| {
                d.kind == ObjectKind::Person && d.bbox.intersection(&body) >= 0.6 * body.area()
            });
            if !hidden {
                frame.detections.push(detection(ObjectKind::Person, body));
            }
        }
        out.push(StoreInput::Frame(frame));
    }
    out
}

#[test]
fn a_shopper_the_camera_lost_behind_another_may_have_swapped_with_them() {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let run = |hidden_cover: f32| {
        let mut config = config(&cameras);
        config.fusion.hidden_cover = hidden_cover;
        let slot_region = config.cameras[1].slots[0].region;
        let inputs = overtaken_inputs(&cameras, slot_region);
        let hidden = inputs.iter().any(|i| {
            matches!(i, StoreInput::Frame(f) if f.camera.as_str() == "aisle-west"
                && (2.0..3.0).contains(&((f.time.unix_millis() - 1_000_000) as f64 / 1000.0))
                && f.detections.iter().filter(|d| d.kind == ObjectKind::Person).count() == 1)
        });
        assert!(
            hidden,
            "the west camera sees one box for the two for a while"
        );
        let (store, outputs) = run_store(config, inputs);
        let events: Vec<(ShelfEvent, Option<u64>)> = shelf_events(&outputs)
            .into_iter()
            .map(|(e, s)| (e.clone(), s))
            .collect();
        let first = store.sessions().get(1).unwrap().clone();
        (events, first)
    };
    // the pick is the first shopper's either way: nobody else was near the slot
    let (events, first) = run(FusionConfig::default().hidden_cover);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].0.kind, events[0].1), (EventKind::Pick, Some(1)));
    assert_eq!(first.account, "acct-1");
    assert_eq!(first.cart().quantity("cola"), 1);
    // but the west camera's tracker may have brought them out of that one box swapped: whose pick it
    // was is reviewed
    let doubted = |session: &walkout_pipeline::sessions::Session| {
        session.review.iter().any(|r| {
            matches!(r, ReviewReason::UncertainIdentity { event, tracks }
                if *event == events[0].0.id && tracks.len() == 2)
        })
    };
    assert!(doubted(&first), "{:?}", first.review);

    // without the rule, nothing else raised that doubt
    let (events, first) = run(0.0);
    assert_eq!((events.len(), events[0].1), (1, Some(1)), "{events:?}");
    assert!(
        !first
            .review
            .iter()
            .any(|r| matches!(r, ReviewReason::UncertainIdentity { .. })),
        "{:?}",
        first.review
    );
}

/// [`overtaken_inputs`] with the shoppers' looks: the first in red, the second in blue. At the
/// seconds where `swapped` holds, the west camera's boxes show each with the other's look, as that
/// camera's tracks would show them had its tracker swapped the two where it saw one box for both.
fn overtaken_with_looks(
    cameras: &[(CameraId, Calibration)],
    slot_region: BBox,
    swapped: fn(f64) -> bool,
) -> Vec<StoreInput> {
    let (red, blue) = (
        Appearance::of_colour([200, 30, 30]),
        Appearance::of_colour([30, 30, 200]),
    );
    let mut out = Vec::new();
    for input in overtaken_inputs(cameras, slot_region) {
        let StoreInput::Frame(mut frame) = input else {
            out.push(input);
            continue;
        };
        let t = (frame.time.unix_millis() - 1_000_000) as f64 / 1000.0;
        let (_, cal) = cameras.iter().find(|(id, _)| *id == frame.camera).unwrap();
        let body =
            |x: f64, y: f64| project_box(cal, [x - 0.25, y - 0.2, 0.0], [x + 0.25, y + 0.2, 1.75]);
        let first = body(shopper_x(t), 2.2);
        let second = body(0.5 + 2.0 * (t - 1.2).max(0.0), 2.6);
        let swapped = frame.camera.as_str() == "aisle-west" && swapped(t);
        for d in frame
            .detections
            .iter_mut()
            .filter(|d| d.kind == ObjectKind::Person)
        {
            let overlap = |b: Option<BBox>| b.map_or(0.0, |b| b.intersection_over_union(&d.bbox));
            let is_first = overlap(first) >= overlap(second);
            d.appearance = Some(if is_first != swapped { red } else { blue });
        }
        out.push(StoreInput::Frame(frame));
    }
    out
}

fn as_they_were(_: f64) -> bool {
    false
}

fn swapped_from_3s(t: f64) -> bool {
    t >= 3.0
}

/// Runs the store on [`overtaken_with_looks`] (the slot of `config`'s second camera) and returns it
/// with the one shelf event it reported and the session that got it.
fn run_overtaken_with_looks(
    cameras: &[(CameraId, Calibration)],
    config: StoreConfig,
    swapped: fn(f64) -> bool,
) -> (StoreLogic, Vec<(ShelfEvent, Option<u64>)>) {
    let slot_region = config.cameras[1].slots[0].region;
    let (store, outputs) = run_store(config, overtaken_with_looks(cameras, slot_region, swapped));
    let events: Vec<(ShelfEvent, Option<u64>)> = shelf_events(&outputs)
        .into_iter()
        .map(|(e, s)| (e.clone(), s))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    (store, events)
}

#[test]
fn a_doubt_is_dismissed_once_the_camera_shows_both_shoppers_clear_as_themselves() {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let run = |verify_views: u32, swapped: fn(f64) -> bool| {
        let mut config = config(&cameras);
        config.fusion.verify_views = verify_views;
        let (store, events) = run_overtaken_with_looks(&cameras, config, swapped);
        assert_eq!((events[0].0.kind, events[0].1), (EventKind::Pick, Some(1)));
        let first = store.sessions().get(1).unwrap().clone();
        assert_eq!(first.account, "acct-1");
        assert_eq!(first.cart().quantity("cola"), 1);
        first
            .review
            .iter()
            .any(|r| matches!(r, ReviewReason::UncertainIdentity { event, .. } if *event == events[0].0.id))
    };
    // the west camera lost one shopper in the other's box, so the pick is in doubt when nothing checks
    assert!(run(0, as_they_were), "the scene raises the doubt");
    // the second shopper, walking away fast, stands clear of the first in the west camera for two
    // frames before they leave its view, so the check asks for two views, not the default three
    let views = 2;
    assert!(views <= FusionConfig::default().verify_views);
    // they came out of that box red and blue as they went in: the doubt is dismissed
    assert!(!run(views, as_they_were));
    // ... unless each camera track must show itself more often than it can: it stands
    assert!(run(views + 1, as_they_were));
    // they came out with each other's look: it stands
    assert!(run(views, swapped_from_3s));
}

#[test]
fn a_camera_track_that_showed_the_other_shopper_is_theirs_at_the_shelves() {
    // the scene of the test above, but the west camera, which lost one shopper in the other's box,
    // is the one watching the slot (the camera listed second watches it)
    let cameras = vec![camera("aisle-east", 7.0), camera("aisle-west", 2.5)];
    let views = FusionConfig::default().shows_other_views;
    // -> (the session the pick went to, whether each session is reviewed for it, the shoppers the
    // west camera's track on the first shopper was bound to from the pick on)
    let run = |shows_other_views: u32, stray_m: f64, swapped: fn(f64) -> bool| {
        let mut config = config(&cameras);
        config.fusion.shows_other_views = shows_other_views;
        config.fusion.stray_m = stray_m;
        let slot_region = config.cameras[1].slots[0].region;
        let (store, outputs) =
            run_store(config, overtaken_with_looks(&cameras, slot_region, swapped));
        let events = shelf_events(&outputs);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].0.kind, EventKind::Pick);
        let doubted: Vec<bool> = [1, 2]
            .into_iter()
            .map(|id| {
                let session = store.sessions().get(id).unwrap();
                session.review.iter().any(|r| {
                    matches!(r, ReviewReason::UncertainIdentity { event, .. } if *event == events[0].0.id)
                })
            })
            .collect();
        let first_bound_to: BTreeSet<Option<u64>> = outputs
            .iter()
            .filter_map(|o| match o {
                StoreOutput::CameraTracks {
                    camera,
                    time,
                    tracks,
                    ..
                } if camera.as_str() == "aisle-west" && *time >= events[0].0.time => {
                    // the tracker's first track follows the first shopper throughout
                    tracks.iter().find(|t| t.track == 1).map(|t| t.shopper)
                }
                _ => None,
            })
            .collect();
        (events[0].1, doubted, first_bound_to)
    };
    let default_stray = FusionConfig::default().stray_m;
    // they came out of that box as they went in: the hand at the slot is the first shopper's
    let (session, _, bound) = run(views, default_stray, as_they_were);
    assert_eq!((session, bound), (Some(1), BTreeSet::from([Some(1)])));
    // they came out with each other's look, as they would had the west camera's tracker swapped the
    // two (with the scene's places on the floor, which cannot tell them apart there: fusion never
    // lets a track go for standing off from its shopper): each of its two tracks showed the other
    // shopper, twice, so fusion binds each to the other from then on; at the slot the first
    // shopper's box is the second shopper, whose pick it is. The doubt stands: both sessions are
    // reviewed for it
    let (session, doubted, bound) = run(views, 0.0, swapped_from_3s);
    assert_eq!((session, bound), (Some(2), BTreeSet::from([Some(2)])));
    assert_eq!(doubted, vec![true, true]);
    // ... which nothing does with the rule off
    let off = run(0, 0.0, swapped_from_3s);
    assert_eq!((off.0, off.2), (Some(1), BTreeSet::from([Some(1)])));
    assert_eq!(off.1, vec![true, true]);
    // the scene's places on the floor do tell them apart by the time the first reaches the slot
    // (the east camera sees the second 2 m further on): fusion lets the track go for standing off
    // from the shopper it was bound to, and binds it to the first again, where it stands
    let (session, doubted, bound) = run(views, default_stray, swapped_from_3s);
    assert_eq!((session, bound), (Some(1), BTreeSet::from([Some(1)])));
    assert_eq!(doubted, vec![true, true]);
    // every other frame with the other's look: the track showed both, so nobody can say whom it
    // shows; the pick stays with the binding, reviewed in both sessions
    let alternating = |t: f64| t >= 3.0 && (t * 10.0).round() as i64 % 2 == 1;
    let (session, doubted, _) = run(views, 0.0, alternating);
    assert_eq!((session, doubted), (Some(1), vec![true, true]));
}

/// Two shoppers walk the aisle and out of the door under a camera mounted over it, looking back into
/// the store, as a store's exit camera is; the aisle camera sees only the first few metres.
fn out_under_the_exit_camera() -> (StoreConfig, Vec<StoreInput>, [f64; 2]) {
    let aisle = camera("aisle-west", 2.5);
    let exit = (
        CameraId::new("exit"),
        Calibration::looking_at(
            Intrinsics::from_fov(640, 480, 90.0),
            Point3::new(10.5, 2.2, 3.0),
            Point3::new(5.5, 2.2, 0.6),
        ),
    );
    let cameras = vec![aisle, exit];
    let mut config = config(&cameras);
    config.cameras[1].slots.clear();
    // the door is under the camera (x 10.5), its zone reaches a metre into the store (as a gate's
    // does), short of where the image's bottom edge meets the floor (x 8.9)
    config.fusion.exit_zones = vec![Zone {
        min_m: [9.45, 1.0],
        max_m: [12.0, 3.4],
    }];
    // out of the door (x 10.5) at 1 m/s: the first at 10 s, the second at 13 s
    let starts = [0.0, 3.0];
    let mut inputs = Vec::new();
    for frame in 0..=200u64 {
        let t = frame as f64 / 10.0;
        let time = CaptureTime::from_unix_millis(1_000_000 + frame * 100);
        for (i, start) in starts.iter().enumerate() {
            if (t - start - 0.3).abs() < 0.05 {
                inputs.push(StoreInput::CheckIn(CheckIn {
                    account: format!("acct-{}", i + 1),
                    gate: "gate-1".into(),
                    time,
                }));
            }
        }
        for (id, cal) in &cameras {
            let detections = starts
                .iter()
                .map(|start| 0.5 + (t - start))
                .filter(|x| (0.5..=10.5).contains(x))
                .filter_map(|x| seen_in(cal, x))
                .map(|body| detection(ObjectKind::Person, body))
                .collect();
            inputs.push(StoreInput::Frame(FrameDetections {
                camera: id.clone(),
                seq: frame,
                time,
                detections,
            }));
        }
    }
    // a detector finds a person while their head and shoulders are in the picture (40 px of them)
    fn seen_in(cal: &Calibration, x: f64) -> Option<BBox> {
        let b = image_box(cal, [x - 0.25, 2.2 - 0.2, 0.0], [x + 0.25, 2.2 + 0.2, 1.75])?;
        let visible = b.y1 < 440.0 && b.y2 > 40.0 && b.x1 < 600.0 && b.x2 > 40.0;
        visible.then(|| b.clamped(640.0, 480.0))
    }
    // where each shopper was last in the exit camera's picture: under it, their feet long cut off
    let last_seen = starts.map(|start| {
        (0..=200)
            .map(|f| f as f64 / 10.0)
            .filter(|t| {
                let x = 0.5 + (t - start);
                (0.5..=10.5).contains(&x) && seen_in(&cameras[1].1, x).is_some()
            })
            .fold(0.0, f64::max)
    });
    (config, inputs, last_seen)
}

#[test]
fn a_shopper_walking_out_under_the_exit_camera_has_left_when_it_loses_them() {
    let (config, inputs, last_seen) = out_under_the_exit_camera();
    let feet_cut = {
        let exit = &config.cameras[1].calibration;
        let p = exit.image_from_world(&Point3::new(9.2, 2.2, 0.0)).unwrap();
        p.y > 480.0
    };
    assert!(feet_cut, "the scene puts the last metre under the camera");
    let (store, outputs) = run_store(config, inputs);
    let closed = closed_sessions(&outputs);
    assert_eq!(
        closed
            .iter()
            .map(|s| s.account.as_str())
            .collect::<Vec<_>>(),
        ["acct-1", "acct-2"],
        "each leaves on their own session"
    );
    for (session, last) in closed.iter().zip(last_seen) {
        let closed_at = (session.closed_at.unwrap().unix_millis() - 1_000_000) as f64 / 1000.0;
        // placed by the image's edge they were lost short of the doorway, kept as lost for the
        // next shopper walking out to take over, and only closed when fusion gave up on them
        assert!(
            closed_at - last < 2.0,
            "{} last seen at {last} s closed at {closed_at} s",
            session.account
        );
        assert_eq!(session.tracks.len(), 1, "{:?}", session.tracks);
        assert!(!session.needs_review(), "{:?}", session.review);
    }
    assert_ne!(closed[0].tracks, closed[1].tracks);
    assert!(store.sessions().get(3).is_none(), "no third session");
}

/// A lane-scale slot the west camera watches and the east one lends its view of. `acct-1` walks in
/// along y = 3.05 and stands half a metre from the slot from 4.5 s to 7.5 s, taking two cans at
/// 5.5 .. 6.5 s; `acct-2` follows along y = 2.2 and, with `in_the_way`, stands at x = 4.48 from 5 s to
/// 8.5 s, right in the west camera's line of sight to `acct-1` (whose box it no longer detects then:
/// one box for the two); without, they stand at x = 3.6, in plain view. The east camera sees both
/// apart.
fn hidden_picker(in_the_way: bool, lending: bool) -> (Vec<(ShelfEvent, Option<u64>)>, StoreLogic) {
    let cameras = vec![camera("aisle-west", 2.5), camera("aisle-east", 7.0)];
    let region = |cal: &Calibration| {
        project_box(
            cal,
            [SLOT_M[0] - 0.25, SLOT_M[1], SLOT_M[2] - 0.15],
            [SLOT_M[0] + 0.25, SLOT_M[1] + 0.3, SLOT_M[2] + 0.15],
        )
        .unwrap()
    };
    let (west_region, east_region) = (region(&cameras[0].1), region(&cameras[1].1));
    let mut config = config(&cameras);
    // the entry reaches both walking lanes
    let entry = Zone::around([0.5, 2.6], [0.8, 0.8]);
    config.fusion.birth_zones = vec![entry];
    config.sessions.entry_gates = [("gate-1".to_string(), entry)].into_iter().collect();
    let east = config.cameras[1].slots.remove(0);
    config.cameras[0].slots.push(SlotView {
        region: west_region,
        unit_weight_g: Some(330.0),
        volume: Some(slot_volume(&cameras[0].1)),
        ..east.clone()
    });
    if lending {
        config.cameras[1].slots.push(SlotView {
            region: east_region,
            unit_weight_g: Some(330.0),
            volume: Some(slot_volume(&cameras[1].1)),
            lends_only: true,
            ..east
        });
    }
    let stand_x = if in_the_way { 4.48 } else { 3.6 };
    let second_x = |t: f64| {
        let x = 0.5 + (t - 1.0).max(0.0);
        if x < stand_x {
            x
        } else if t < 8.5 {
            stand_x
        } else {
            stand_x + (t - 8.5)
        }
    };
    let mut inputs = Vec::new();
    for frame in 0..=160u64 {
        let t = frame as f64 / 10.0;
        let time = CaptureTime::from_unix_millis(1_000_000 + frame * 100);
        for (account, at) in [("acct-1", 3), ("acct-2", 13)] {
            if frame == at {
                inputs.push(StoreInput::CheckIn(CheckIn {
                    account: account.into(),
                    gate: "gate-1".into(),
                    time,
                }));
            }
        }
        if frame == 70 {
            inputs.push(StoreInput::Weight(walkout_pipeline::shelf::WeightReading {
                slot: "A1".into(),
                delta_g: -661.5,
                time,
            }));
        }
        let reaching = (5.5..6.5).contains(&t);
        let cans = if t < 5.5 { 3 } else { 1 };
        for (id, cal) in &cameras {
            let body = |x: f64, y: f64| {
                (x <= 9.9)
                    .then(|| project_box(cal, [x - 0.25, y - 0.2, 0.0], [x + 0.25, y + 0.2, 1.75]))
                    .flatten()
            };
            let first = body(shopper_x(t), 3.05);
            let second = (t >= 1.0).then(|| body(second_x(t), 2.2)).flatten();
            let mut detections = Vec::new();
            if let Some(second) = second {
                detections.push(detection(ObjectKind::Person, second));
            }
            if let Some(first) = first {
                let hidden = second.is_some_and(|s| s.intersection(&first) >= 0.6 * first.area());
                if !hidden {
                    detections.push(detection(ObjectKind::Person, first));
                }
            }
            let slot = if id.as_str() == "aisle-west" {
                west_region
            } else {
                east_region
            };
            detections.extend(at_the_slot(slot, cans, reaching));
            inputs.push(StoreInput::Frame(FrameDetections {
                camera: id.clone(),
                seq: frame,
                time,
                detections,
            }));
        }
    }
    let (store, outputs) = run_store(config, inputs);
    let events = shelf_events(&outputs)
        .into_iter()
        .map(|(e, s)| (e.clone(), s))
        .collect();
    (events, store)
}

#[test]
fn where_the_watching_camera_hid_a_shopper_at_the_slot_a_camera_showing_everyone_decides() {
    // the scene's trap: alone, the west camera gives the pick to the one box it shows
    let (events, _) = hidden_picker(true, false);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1, Some(2), "{events:?}");
    // with the east camera's view, which shows acct-1 at the slot apart from acct-2: theirs, and
    // acct-2, whom the west camera chose, is reviewed for it
    let (events, store) = hidden_picker(true, true);
    assert_eq!(events.len(), 1, "{events:?}");
    let (event, session) = &events[0];
    assert_eq!(
        (event.kind, event.quantity, *session),
        (EventKind::Pick, 2, Some(1))
    );
    assert!(
        event
            .evidence
            .iter()
            .all(|e| e.camera.as_str() == "aisle-east")
    );
    let second = store.sessions().get(2).unwrap();
    assert!(
        second.review.iter().any(|r| matches!(
            r,
            ReviewReason::ContestedEvent { event: e, .. } if *e == event.id
        )),
        "{:?}",
        second.review
    );
    // a watching camera that shows everyone within reach decides itself
    let (events, _) = hidden_picker(false, true);
    assert_eq!(events.len(), 1, "{events:?}");
    let (event, session) = &events[0];
    assert_eq!(*session, Some(1));
    assert!(
        event
            .evidence
            .iter()
            .all(|e| e.camera.as_str() == "aisle-west")
    );
}
