//! The motion and item timeline the renderer draws from, and datasets written to and read from a folder.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use walkout_datasets::scenario::Scenario;
use walkout_datasets::truth::{Holder, read_dataset, write_dataset};

const EXAMPLE: &str = include_str!("../scenarios/example.toml");

#[test]
fn shoppers_walk_reach_and_carry() {
    let scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
    let timeline = scenario.timeline().unwrap();
    let s1 = &timeline.shoppers[0];
    assert!(s1.state_at(0.5).is_none(), "not in the store yet");
    assert_eq!(s1.state_at(1.0).unwrap().position_m, [0.5, 0.5]);

    // s1 walks from the entry gate to waypoint 0 and on to waypoint 1, then picks cola for 1.6 s.
    let to_first = ((1.5f64 - 0.5).powi(2) + (2.75f64 - 0.5).powi(2)).sqrt();
    let to_second = ((2.5f64 - 1.5).powi(2) + (2.45f64 - 2.75).powi(2)).sqrt();
    let arrive = 1.0 + (to_first + to_second) / 1.2;
    let reaching = s1.state_at(arrive + 0.8).unwrap();
    assert_eq!(reaching.position_m, [2.5, 2.45]);
    assert_eq!(reaching.action, Some(0));
    let reach = reaching.reach.unwrap();
    assert_eq!(reach.slot, "A2-1");
    assert!(
        (reach.extension - 1.0).abs() < 1e-9,
        "hand in the slot halfway"
    );
    // Facing the shelf, which opens to the north: the shopper looks south.
    assert!((reaching.heading_rad + std::f64::consts::FRAC_PI_2).abs() < 1e-9);

    // The cola leaves the slot in s1's hand at the middle of the pick (0.8 s in); one goes back in the middle
    // of the next action (2.4 s in). Checked a hundredth of a second either side of those instants.
    let cola = |n: u32| BTreeMap::from([("COLA-330".to_string(), n)]);
    let slot = Holder::Slot("A2-1".into());
    assert_eq!(timeline.contents_at(&slot, arrive + 0.79), cola(10));
    assert_eq!(timeline.contents_at(&slot, arrive + 0.81), cola(8));
    assert_eq!(
        timeline.contents_at(&Holder::Shopper(0), arrive + 0.81),
        cola(2)
    );
    assert_eq!(
        timeline.contents_at(&Holder::Shopper(0), arrive + 2.41),
        cola(1)
    );
    assert_eq!(timeline.contents_at(&slot, arrive + 2.41), cola(9));
    // At the end the misplaced cola sits in the chips slot.
    let chips_slot = timeline.contents_at(&Holder::Slot("A1-3".into()), 39.0);
    assert_eq!(chips_slot["COLA-330"], 1);
    assert_eq!(chips_slot["CHIPS-SALT"], 5);
    // The child's chocolate ends with the parent.
    assert_eq!(
        timeline
            .contents_at(&Holder::Shopper(1), 39.0)
            .get("CHOC-BAR"),
        Some(&1)
    );
    assert!(timeline.contents_at(&Holder::Shopper(2), 39.0).is_empty());
    assert_eq!(
        timeline.item_changes().len(),
        2 * 6 + 2,
        "two sides per event and per hand-over"
    );
}

#[test]
fn a_dataset_folder_round_trips() {
    let scenario = walkout_datasets::preset("groups", 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let truth = write_dataset(dir.path(), &scenario).unwrap();
    let (read_scenario, read_truth) = read_dataset(dir.path()).unwrap();
    assert_eq!(read_scenario, scenario);
    assert_eq!(read_truth.sessions.len(), truth.sessions.len());
    assert_eq!(read_truth.events.len(), truth.events.len());
    assert!(dir.path().join("mot/entrance/gt.txt").exists());
}

#[test]
fn dropped_frames_never_include_a_recordings_first_frame() {
    let mut scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
    scenario.noise.dropped_frame_probability = 1.0;
    let truth = walkout_datasets::GroundTruth::from_scenario(&scenario).unwrap();
    for camera in truth.cameras.values() {
        // Everything else goes; the first frame stays, since an MP4 file starts at its first frame.
        let expected: Vec<u32> = (2..=camera.frame_count).collect();
        assert_eq!(camera.dropped_frames, expected);
    }
}
