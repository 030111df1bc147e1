//! The annotated example scenario parses, and invalid scenarios are rejected with every problem named by
//! the path of its field.
#![allow(clippy::unwrap_used)]

use walkout_datasets::scenario::{Action, Scenario, ScenarioError};
use walkout_datasets::truth::{EventKind, GroundTruth, Receipt};

const EXAMPLE: &str = include_str!("../scenarios/example.toml");

#[test]
fn example_parses_and_yields_the_expected_truth() {
    let scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
    assert_eq!(scenario.shoppers.len(), 3);
    assert_eq!(scenario.cameras.len(), 2);
    let truth = GroundTruth::from_scenario(&scenario).unwrap();

    // s1 picks 2 cola, puts 1 back, takes chips, leaves the other cola in the chips slot.
    let ann = truth.session("acct-ann").unwrap();
    assert_eq!(ann.receipt, Receipt::from_items([("CHIPS-SALT", 1, 249)]));
    // The family pays for both members, including the chocolate the child handed to the parent.
    let lee = truth.session("acct-lee").unwrap();
    assert_eq!(lee.shoppers, ["s2", "s3"]);
    assert_eq!(lee.receipt.total_minor, 2 * 89 + 179);
    assert_eq!(truth.hand_overs.len(), 1);

    let kinds: Vec<(&str, &str, EventKind, u32)> = truth
        .events
        .iter()
        .filter(|e| e.shopper == "s1")
        .map(|e| (e.slot.as_str(), e.sku.as_str(), e.kind, e.quantity))
        .collect();
    assert_eq!(
        kinds,
        [
            ("A2-1", "COLA-330", EventKind::Pick, 2),
            ("A2-1", "COLA-330", EventKind::Put, 1),
            ("A1-3", "CHIPS-SALT", EventKind::Pick, 1),
            ("A1-3", "COLA-330", EventKind::Put, 1),
        ]
    );
    assert_eq!(truth.events.len(), 6, "browse and touch make no events");
    assert!(
        truth
            .events
            .windows(2)
            .all(|w| w[0].time_secs <= w[1].time_secs)
    );
    assert_eq!(truth.check_ins.len(), 3);

    // Trajectories start at the entry gate and end at the exit gate, sampled at the cameras' 15 fps.
    let s1 = &truth.trajectories[0];
    assert_eq!(truth.trajectory_fps, 15.0);
    let first = s1.samples.first().unwrap();
    assert_eq!((first.time_secs, first.position_m), (1.0, [0.5, 0.5]));
    let last = s1.samples.last().unwrap();
    assert!((last.position_m[0] - 7.5).abs() < 0.1 && (last.position_m[1] - 0.5).abs() < 0.1);

    // The outage darkens frames from 12 s (frame 181) to just before 15 s (frame 225) of south-east.
    let dark = &truth.cameras["south-east"].dark_frames;
    assert_eq!((dark[0], *dark.last().unwrap(), dark.len()), (181, 225, 45));
    assert!(truth.cameras["north-west"].dark_frames.is_empty());
    assert_eq!(truth.cameras["north-west"].frame_count, 600);
}

#[test]
fn example_round_trips_through_toml() {
    let scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
    let again = Scenario::from_toml_str(&scenario.to_toml_string().unwrap()).unwrap();
    assert_eq!(again, scenario);
}

/// The example with a few things broken at once.
fn broken() -> String {
    EXAMPLE
        // An unknown slot in s3's (shoppers[2]) touch, its actions[2].
        .replace("slot = \"B3-3\"\n\n# ----", "slot = \"B3-4\"\n\n# ----")
        // A negative price on shelf B's first slot.
        .replace("price_minor = 179", "price_minor = -179")
        // s2 (shoppers[1]) walks from the aisle straight through shelf B to the storeroom corner.
        .replace(
            "path = [[1.5, 2.75], [3.5, 2.45], [6.5, 2.75]]",
            "path = [[1.5, 2.75], [3.5, 2.45], [4.0, 5.5], [6.5, 2.75]]",
        )
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let Err(ScenarioError::Invalid(errors)) = Scenario::from_toml_str(&broken()) else {
        panic!("the broken example must not validate");
    };
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        shown.contains(&r#"shoppers[2].actions[2].slot: unknown slot "B3-4""#.to_string()),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&"store.shelves[1].slots[0].price_minor: negative price -179".to_string()),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|e| e.starts_with(
            "shoppers[1].path[2]: the walk from [3.5, 2.45] to [4.0, 5.5] goes through shelf \"B\""
        )),
        "{shown:#?}"
    );
    // The error's text lists them all.
    let text = ScenarioError::Invalid(errors).to_string();
    assert!(
        text.contains("B3-4") && text.contains("-179") && text.contains("shelf \"B\""),
        "{text}"
    );
}

#[test]
fn walls_stock_holdings_and_groups_are_checked() {
    let mut scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
    // Into the storeroom through its wall (and out again on the way to the exit gate).
    scenario.shoppers[1].path.push([7.0, 5.5]);
    let errors = scenario.validate().unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.path == "shoppers[1].path[3]"
                && e.message.contains("wall store.floor.walls[0]")),
        "{errors:#?}"
    );

    let mut scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
    // Pick more than the slot holds; put back more than held; hand to someone outside the group.
    if let Action::Pick { quantity, .. } = &mut scenario.shoppers[1].actions[0] {
        *quantity = 13;
    }
    if let Action::PutBack { quantity, .. } = &mut scenario.shoppers[0].actions[1] {
        *quantity = 3;
    }
    if let Action::HandOver { to_shopper, .. } = &mut scenario.shoppers[2].actions[1] {
        *to_shopper = "s1".into();
    }
    let errors = scenario.validate().unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"shoppers[2].actions[1].to_shopper"),
        "{errors:#?}"
    );

    // Play-through errors show once the structure is right.
    if let Action::HandOver { to_shopper, .. } = &mut scenario.shoppers[2].actions[1] {
        *to_shopper = "s2".into();
    }
    let errors = scenario.validate().unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|e| e
            .starts_with(r#"shoppers[1].actions[0].quantity: picks 13 but slot "A2-2" holds 12"#)),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|e| e.starts_with(
            r#"shoppers[0].actions[1].quantity: puts 3 of "COLA-330" into "A2-1" but holds 2"#
        )),
        "{shown:#?}"
    );
}

#[test]
fn unknown_fields_and_bad_types_are_parse_errors() {
    let typo = EXAMPLE.replace("entry_time_secs = 1.0", "entry_time_sec = 1.0");
    let err = Scenario::from_toml_str(&typo).unwrap_err().to_string();
    assert!(err.contains("entry_time_sec"), "{err}");
    let bad_kind = EXAMPLE.replace("kind = \"browse\"", "kind = \"steal\"");
    assert!(matches!(
        Scenario::from_toml_str(&bad_kind),
        Err(ScenarioError::Parse(_))
    ));
}

#[test]
fn overlapping_shelves_and_gates_inside_shelves_are_rejected() {
    let mut scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
    scenario.store.shelves[1].min_corner_m = [2.0, 1.8];
    scenario.store.gates[0].position_m = [3.0, 1.7];
    let shown: Vec<String> = scenario
        .validate()
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        shown.contains(&r#"store.shelves[1].min_corner_m: overlaps shelf "A""#.to_string()),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&r#"store.gates[0].position_m: the gate is inside shelf "A""#.to_string()),
        "{shown:#?}"
    );
}
