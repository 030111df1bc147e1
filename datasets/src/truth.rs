//! Ground truth that follows from a scenario without rendering: where every shopper is at every moment,
//! check-ins and exits, shelf events, hand-overs, and the receipt every session must get. The per-camera
//! boxes (shoppers in MOTChallenge form, hands, products) are left empty here for the renderer to fill in.
//!
//! The motion model: a shopper appears at the entry gate at `entry_time_secs`, walks in straight lines at
//! `speed_m_per_s` through the path's waypoints to the exit gate, and at each waypoint stands still for the
//! actions that name it, one after the other, each taking its `duration_secs`. A reach's item event happens
//! halfway through the action, when the hand is in the slot.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use walkout_core::BBox;

use crate::mot::{self, MotRecord};
use crate::scenario::{Action, Scenario, ValidationError};

/// A shelf event's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Items leave a slot in a hand.
    Pick,
    /// Items go into a slot (their own, or another one).
    Put,
}

/// One pick-up or put-back at a slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShelfEvent {
    /// When the hand is in the slot, seconds.
    pub time_secs: f64,
    /// The shopper whose hand it is.
    pub shopper: String,
    /// The shopper's account (the session the event belongs to).
    pub account: String,
    /// The slot.
    pub slot: String,
    /// The product moved (for a put into a different slot, not the slot's own).
    pub sku: String,
    /// Pick or put.
    pub kind: EventKind,
    /// Units moved.
    pub quantity: u32,
}

/// Items passed from one group member to another (no shelf event; the account is the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandOver {
    /// When the items change hands, seconds.
    pub time_secs: f64,
    /// The giver.
    pub from_shopper: String,
    /// The receiver.
    pub to_shopper: String,
    /// The product.
    pub sku: String,
    /// Units.
    pub quantity: u32,
}

/// A shopper scanning the app at an entry gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    /// The app account scanned.
    pub account: String,
    /// The shopper who walks in.
    pub shopper: String,
    /// The entry gate.
    pub gate: String,
    /// When, seconds.
    pub time_secs: f64,
}

/// A shopper walking out through an exit gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exit {
    /// The shopper's account.
    pub account: String,
    /// The shopper.
    pub shopper: String,
    /// The exit gate.
    pub gate: String,
    /// When, seconds.
    pub time_secs: f64,
}

/// One line of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLine {
    /// The product.
    pub sku: String,
    /// Units charged, at least 1.
    pub quantity: u32,
    /// Price of one unit, minor units.
    pub unit_price_minor: i64,
    /// `quantity * unit_price_minor`, minor units.
    pub total_minor: i64,
}

/// What a session is charged: one line per SKU, sorted by SKU.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The lines, sorted by SKU, one per SKU, none with quantity 0.
    pub lines: Vec<ReceiptLine>,
    /// Sum of the lines' totals, minor units.
    pub total_minor: i64,
}

impl Receipt {
    /// A receipt from `(sku, quantity, unit price)` items: merges lines of one SKU, drops zero quantities,
    /// sorts by SKU and computes the totals. Lines of one SKU at different prices stay apart.
    pub fn from_items<'a>(items: impl IntoIterator<Item = (&'a str, u32, i64)>) -> Self {
        let mut merged: BTreeMap<(&str, i64), u32> = BTreeMap::new();
        for (sku, quantity, price) in items {
            *merged.entry((sku, price)).or_default() += quantity;
        }
        let lines: Vec<ReceiptLine> = merged
            .into_iter()
            .filter(|&(_, quantity)| quantity > 0)
            .map(|((sku, price), quantity)| ReceiptLine {
                sku: sku.to_string(),
                quantity,
                unit_price_minor: price,
                total_minor: i64::from(quantity) * price,
            })
            .collect();
        let total_minor = lines.iter().map(|l| l.total_minor).sum();
        Self { lines, total_minor }
    }
}

/// One visit that is charged as a whole: a lone shopper, or a group paying with one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The account charged; unique per session within a scenario.
    pub account: String,
    /// The group id, for a group.
    pub group: Option<String>,
    /// The shoppers of the session, in scenario order.
    pub shoppers: Vec<String>,
    /// First check-in, seconds.
    pub entry_time_secs: f64,
    /// Last member out, seconds; the session closes and is charged after this.
    pub exit_time_secs: f64,
    /// What the session must be charged.
    pub receipt: Receipt,
}

/// A shopper's floor position at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloorSample {
    /// Time, seconds.
    pub time_secs: f64,
    /// Floor position of the body's centre, metres `[x, y]`.
    pub position_m: [f64; 2],
    /// Which way the shopper faces, radians counter-clockwise from +x.
    pub heading_rad: f64,
}

/// A shopper's path through the store, sampled at [`GroundTruth::trajectory_fps`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trajectory {
    /// The shopper.
    pub shopper: String,
    /// The shopper's account.
    pub account: String,
    /// The shopper's id in MOTChallenge files (1-based index in the scenario).
    pub track_id: i64,
    /// Samples at `k / trajectory_fps` for every `k` from entry to exit.
    pub samples: Vec<FloorSample>,
}

/// Which hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandSide {
    /// The shopper's left hand.
    Left,
    /// The shopper's right hand.
    Right,
}

/// A hand's box in one frame (filled in by the renderer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandBox {
    /// 1-based frame number.
    pub frame: u32,
    /// The owner's MOT track id.
    pub track_id: i64,
    /// Left or right.
    pub side: HandSide,
    /// The box, pixels.
    pub bbox: BBox,
    /// Visible share of the hand, 0 to 1.
    pub visibility: f32,
}

/// A product's box in one frame (filled in by the renderer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductBox {
    /// 1-based frame number.
    pub frame: u32,
    /// The product.
    pub sku: String,
    /// The MOT track id of the shopper holding it, if it is in a hand.
    pub held_by: Option<i64>,
    /// The slot it sits in, if it is on a shelf.
    pub slot: Option<String>,
    /// The box, pixels.
    pub bbox: BBox,
    /// Visible share of the product, 0 to 1.
    pub visibility: f32,
}

/// Everything known about one camera's footage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraTruth {
    /// Frames per second.
    pub fps: f64,
    /// Image size `[width, height]`, pixels.
    pub resolution_px: [u32; 2],
    /// Frames in the recording; frame `k` (from 1) is at `(k - 1) / fps` seconds.
    pub frame_count: u32,
    /// Frames missing from the video (noise), ascending; never frame 1. The video leaves a gap in its
    /// timestamps for each, so the frames that are there keep their numbers.
    pub dropped_frames: Vec<u32>,
    /// Frames that are black because the camera is out (noise), ascending.
    pub dark_frames: Vec<u32>,
    /// Shopper boxes with identities (MOT track id = [`Trajectory::track_id`], frame numbers on this
    /// camera's clock); filled in by the renderer, which leaves out dropped and dark frames (nothing can be
    /// seen there), so that tracking scores measure the tracker rather than the noise.
    #[serde(default)]
    pub shoppers: Vec<MotRecord>,
    /// Hand boxes; filled in by the renderer.
    #[serde(default)]
    pub hands: Vec<HandBox>,
    /// Product boxes; filled in by the renderer.
    #[serde(default)]
    pub products: Vec<ProductBox>,
}

/// The ground truth of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroundTruth {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's seed.
    pub seed: u64,
    /// Length of the recording, seconds.
    pub duration_secs: f64,
    /// Sampling rate of the trajectories: the fastest camera's fps (10 without cameras).
    pub trajectory_fps: f64,
    /// One per shopper, in scenario order.
    pub trajectories: Vec<Trajectory>,
    /// Check-ins, by time.
    pub check_ins: Vec<CheckIn>,
    /// Exits, by time.
    pub exits: Vec<Exit>,
    /// Shelf events, by time.
    pub events: Vec<ShelfEvent>,
    /// Hand-overs within groups, by time.
    pub hand_overs: Vec<HandOver>,
    /// Sessions, by account.
    pub sessions: Vec<Session>,
    /// Per camera, by id.
    pub cameras: BTreeMap<String, CameraTruth>,
    /// What the lane scales reported, by time (none when the store has no scales): sensor input for
    /// the pipeline, like the videos, not something it is scored against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scale_readings: Vec<ScaleReading>,
}

/// A lane scale's report: the slot's weight changed by `delta_g` and has settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleReading {
    /// When the scale reported, seconds (after the items moved, once it settled).
    pub time_secs: f64,
    /// The slot on the scale.
    pub slot: String,
    /// The change of weight, grams (negative: items left).
    pub delta_g: f64,
}

/// Why ground truth could not be produced, read or written.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// The scenario does not validate.
    #[error("{}", crate::scenario::ScenarioError::Invalid(.0.clone()))]
    Invalid(Vec<ValidationError>),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A ground-truth file is not the expected JSON.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: serde_json::Error,
    },
}

/// Name of the JSON file [`GroundTruth::write_to_dir`] writes.
pub const GROUND_TRUTH_FILE: &str = "ground_truth.json";

/// Name of the scenario file [`write_dataset`] writes.
pub const SCENARIO_FILE: &str = "scenario.toml";

/// Writes a dataset without footage: `scenario.toml` and the ground truth ([`GroundTruth::write_to_dir`])
/// into `dir`, and returns the ground truth. The renderer adds the videos and fills in the boxes.
pub fn write_dataset(dir: &Path, scenario: &Scenario) -> Result<GroundTruth, TruthError> {
    let truth = GroundTruth::from_scenario(scenario)?;
    truth.write_to_dir(dir)?;
    let path = dir.join(SCENARIO_FILE);
    let text = scenario.to_toml_string().map_err(|e| TruthError::Io {
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    fs::write(&path, text).map_err(|source| TruthError::Io { path, source })?;
    Ok(truth)
}

/// Reads what [`write_dataset`] wrote: the scenario (validated) and its ground truth.
pub fn read_dataset(dir: &Path) -> Result<(Scenario, GroundTruth), TruthError> {
    let path = dir.join(SCENARIO_FILE);
    let scenario = Scenario::read(&path).map_err(|e| match e {
        crate::scenario::ScenarioError::Invalid(errors) => TruthError::Invalid(errors),
        other => TruthError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        },
    })?;
    Ok((scenario, GroundTruth::read_from_dir(dir)?))
}

impl GroundTruth {
    /// Plays the scenario through. Fails with every validation problem when the scenario is invalid.
    pub fn from_scenario(scenario: &Scenario) -> Result<Self, TruthError> {
        scenario.validate().map_err(TruthError::Invalid)?;
        let timeline = Timeline::build(scenario).map_err(TruthError::Invalid)?;
        Ok(timeline.ground_truth(scenario))
    }

    /// The session charged to an account.
    pub fn session(&self, account: &str) -> Option<&Session> {
        self.sessions.iter().find(|s| s.account == account)
    }

    /// Writes `ground_truth.json` and, per camera, `mot/<camera>/gt.txt` (MOTChallenge) into `dir`.
    pub fn write_to_dir(&self, dir: &Path) -> Result<(), TruthError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TruthError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let json_path = dir.join(GROUND_TRUTH_FILE);
        let json = serde_json::to_string_pretty(self).map_err(|source| TruthError::Json {
            path: json_path.clone(),
            source,
        })?;
        fs::write(&json_path, json).map_err(io(&json_path))?;
        for (camera, truth) in &self.cameras {
            let camera_dir = dir.join("mot").join(camera);
            fs::create_dir_all(&camera_dir).map_err(io(&camera_dir))?;
            let gt_path = camera_dir.join("gt.txt");
            fs::write(&gt_path, mot::format(&truth.shoppers)).map_err(io(&gt_path))?;
        }
        Ok(())
    }

    /// Reads what [`GroundTruth::write_to_dir`] wrote (`ground_truth.json` is complete on its own).
    pub fn read_from_dir(dir: &Path) -> Result<Self, TruthError> {
        let path = dir.join(GROUND_TRUTH_FILE);
        let text = fs::read_to_string(&path).map_err(|source| TruthError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| TruthError::Json { path, source })
    }
}

/// A shopper's state at one instant, for the renderer.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopperState {
    /// Floor position of the body's centre, metres.
    pub position_m: [f64; 2],
    /// Which way the shopper faces, radians counter-clockwise from +x.
    pub heading_rad: f64,
    /// The action under way, as an index into the shopper's `actions`.
    pub action: Option<usize>,
    /// The reaching arm, while one is reaching into a slot.
    pub reach: Option<Reach>,
}

/// An arm reaching into a slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    /// The slot.
    pub slot: String,
    /// Centre of the slot's opening, world metres.
    pub target_m: [f64; 3],
    /// How far the arm is out: 0 at the start and end of the action, 1 halfway, when the hand is in the slot.
    pub extension: f64,
}

/// What one shopper does over time.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopperTimeline {
    /// Index of the shopper in the scenario.
    pub shopper: usize,
    /// Check-in time, seconds.
    pub entry_time_secs: f64,
    /// Exit time, seconds.
    pub exit_time_secs: f64,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Walk {
        from_m: [f64; 2],
        to_m: [f64; 2],
        start_secs: f64,
        end_secs: f64,
    },
    Act {
        at_m: [f64; 2],
        heading_rad: f64,
        start_secs: f64,
        end_secs: f64,
        action: usize,
        reach: Option<(String, [f64; 3])>,
    },
}

impl Segment {
    fn end_secs(&self) -> f64 {
        match self {
            Segment::Walk { end_secs, .. } | Segment::Act { end_secs, .. } => *end_secs,
        }
    }
}

impl ShopperTimeline {
    /// Where the shopper is and what they are doing at `time_secs`, or `None` outside the store.
    pub fn state_at(&self, time_secs: f64) -> Option<ShopperState> {
        if time_secs < self.entry_time_secs || time_secs > self.exit_time_secs {
            return None;
        }
        let index = self
            .segments
            .partition_point(|s| s.end_secs() < time_secs)
            .min(self.segments.len().saturating_sub(1));
        match self.segments.get(index)? {
            Segment::Walk {
                from_m,
                to_m,
                start_secs,
                end_secs,
            } => {
                let span = end_secs - start_secs;
                let f = if span > 0.0 {
                    ((time_secs - start_secs) / span).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                Some(ShopperState {
                    position_m: [
                        from_m[0] + f * (to_m[0] - from_m[0]),
                        from_m[1] + f * (to_m[1] - from_m[1]),
                    ],
                    heading_rad: heading(*from_m, *to_m),
                    action: None,
                    reach: None,
                })
            }
            Segment::Act {
                at_m,
                heading_rad,
                start_secs,
                end_secs,
                action,
                reach,
            } => {
                let span = end_secs - start_secs;
                let f = ((time_secs - start_secs) / span).clamp(0.0, 1.0);
                Some(ShopperState {
                    position_m: *at_m,
                    heading_rad: *heading_rad,
                    action: Some(*action),
                    reach: reach.as_ref().map(|(slot, target_m)| Reach {
                        slot: slot.clone(),
                        target_m: *target_m,
                        extension: 1.0 - (2.0 * f - 1.0).abs(),
                    }),
                })
            }
        }
    }
}

fn heading(from: [f64; 2], to: [f64; 2]) -> f64 {
    (to[1] - from[1]).atan2(to[0] - from[0])
}

fn distance(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt()
}

/// Every shopper's timeline, and the item movements they imply, checked against stock and holdings.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// One per shopper, in scenario order.
    pub shoppers: Vec<ShopperTimeline>,
    events: Vec<ShelfEvent>,
    hand_overs: Vec<HandOver>,
    /// What each shopper carries out, by shopper index: SKU -> units.
    carried_out: Vec<BTreeMap<String, u32>>,
    /// Every change of what a shopper holds or a slot contains, in time order.
    changes: Vec<ItemChange>,
    /// Each slot's contents at the start: slot -> SKU -> units.
    initial_stock: BTreeMap<String, BTreeMap<String, u32>>,
}

/// Who has an item: a shopper (by index in the scenario) or a slot (by id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// A shopper, by index in the scenario's `shoppers`.
    Shopper(usize),
    /// A slot, by id.
    Slot(String),
}

/// Units of a SKU arriving at (positive) or leaving (negative) a holder at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemChange {
    /// When, seconds (the middle of the action).
    pub time_secs: f64,
    /// Whose contents change.
    pub holder: Holder,
    /// The product.
    pub sku: String,
    /// Units gained (positive) or lost (negative).
    pub delta: i64,
}

/// An item movement, in the order the simulation applies them.
struct ItemOp {
    time_secs: f64,
    shopper: usize,
    action: usize,
}

impl Timeline {
    /// Lays out every shopper's motion and plays the item movements in time order. The scenario must have
    /// passed the structural checks; the errors returned are the ones only a play-through finds (taking
    /// more than a slot holds, putting back what one does not hold, handing to someone not in the store,
    /// leaving after the recording ends).
    pub fn build(scenario: &Scenario) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let mut shoppers = Vec::with_capacity(scenario.shoppers.len());
        let mut ops = Vec::new();
        for (index, shopper) in scenario.shoppers.iter().enumerate() {
            let (timeline, shopper_ops) = lay_out(scenario, index);
            if timeline.exit_time_secs > scenario.duration_secs {
                errors.push(ValidationError {
                    path: "duration_secs".into(),
                    message: format!(
                        "shopper {:?} leaves at {:.2} s, after the recording ends at {:.2} s",
                        shopper.id, timeline.exit_time_secs, scenario.duration_secs
                    ),
                });
            }
            shoppers.push(timeline);
            ops.extend(shopper_ops);
        }
        ops.sort_by(|a, b| {
            a.time_secs
                .total_cmp(&b.time_secs)
                .then(a.shopper.cmp(&b.shopper))
                .then(a.action.cmp(&b.action))
        });

        let mut play = Play::default();
        for slot in scenario.store.slots() {
            play.contents
                .entry(Holder::Slot(slot.id.clone()))
                .or_default()
                .insert(slot.sku.clone(), slot.initial_stock);
        }
        let initial_stock = play
            .contents
            .iter()
            .filter_map(|(holder, skus)| match holder {
                Holder::Slot(slot) => Some((slot.clone(), skus.clone())),
                Holder::Shopper(_) => None,
            })
            .collect();
        let mut events = Vec::new();
        let mut hand_overs = Vec::new();
        for op in ops {
            let shopper = &scenario.shoppers[op.shopper];
            let action = &shopper.actions[op.action];
            let at = format!("shoppers[{}].actions[{}]", op.shopper, op.action);
            let when = op.time_secs;
            let me = Holder::Shopper(op.shopper);
            let slot_sku = |slot: &str| scenario.store.slot(slot).map(|p| p.slot.sku.as_str());
            let (from, to, sku, quantity) = match action {
                Action::Pick { slot, quantity, .. } => match slot_sku(slot) {
                    Some(sku) => (Holder::Slot(slot.clone()), me, sku, *quantity),
                    None => continue,
                },
                Action::PutBack { slot, quantity, .. } => match slot_sku(slot) {
                    Some(sku) => (me, Holder::Slot(slot.clone()), sku, *quantity),
                    None => continue,
                },
                Action::Misplace {
                    slot,
                    sku,
                    quantity,
                    ..
                } => (me, Holder::Slot(slot.clone()), sku.as_str(), *quantity),
                Action::HandOver {
                    to_shopper,
                    sku,
                    quantity,
                    ..
                } => {
                    let Some(to) = scenario.shoppers.iter().position(|s| &s.id == to_shopper)
                    else {
                        continue;
                    };
                    let receiver = &shoppers[to];
                    if when < receiver.entry_time_secs || when > receiver.exit_time_secs {
                        errors.push(ValidationError {
                            path: format!("{at}.to_shopper"),
                            message: format!(
                                "{to_shopper:?} is not in the store at {when:.2} s (there from {:.2} s to {:.2} s)",
                                receiver.entry_time_secs, receiver.exit_time_secs
                            ),
                        });
                        continue;
                    }
                    (me, Holder::Shopper(to), sku.as_str(), *quantity)
                }
                Action::Browse { .. } | Action::Touch { .. } => continue,
            };
            if let Err(available) = play.transfer(when, from, to, sku, quantity) {
                errors.push(ValidationError {
                    path: format!("{at}.quantity"),
                    message: format!("{} (at {when:.2} s)", shortfall(action, sku, available)),
                });
                continue;
            }
            let event = |slot: &str, kind: EventKind| ShelfEvent {
                time_secs: when,
                shopper: shopper.id.clone(),
                account: shopper.account.clone(),
                slot: slot.to_string(),
                sku: sku.to_string(),
                kind,
                quantity,
            };
            match action {
                Action::Pick { slot, .. } => events.push(event(slot, EventKind::Pick)),
                Action::PutBack { slot, .. } | Action::Misplace { slot, .. } => {
                    events.push(event(slot, EventKind::Put))
                }
                Action::HandOver { to_shopper, .. } => hand_overs.push(HandOver {
                    time_secs: when,
                    from_shopper: shopper.id.clone(),
                    to_shopper: to_shopper.clone(),
                    sku: sku.to_string(),
                    quantity,
                }),
                Action::Browse { .. } | Action::Touch { .. } => {}
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let carried_out = (0..scenario.shoppers.len())
            .map(|i| {
                play.contents
                    .remove(&Holder::Shopper(i))
                    .unwrap_or_default()
            })
            .collect();
        Ok(Self {
            shoppers,
            events,
            hand_overs,
            carried_out,
            changes: play.changes,
            initial_stock,
        })
    }

    /// Every change of what a shopper holds or a slot contains, in time order (for the renderer: products
    /// leave the shelf in a hand and come back).
    pub fn item_changes(&self) -> &[ItemChange] {
        &self.changes
    }

    /// What a holder has at `time_secs` (changes at exactly that time included): SKU -> units, none zero.
    pub fn contents_at(&self, holder: &Holder, time_secs: f64) -> BTreeMap<String, u32> {
        let mut contents: BTreeMap<String, i64> = match holder {
            Holder::Slot(slot) => self
                .initial_stock
                .get(slot)
                .map(|skus| {
                    skus.iter()
                        .map(|(sku, &n)| (sku.clone(), i64::from(n)))
                        .collect()
                })
                .unwrap_or_default(),
            Holder::Shopper(_) => BTreeMap::new(),
        };
        for change in self
            .changes
            .iter()
            .take_while(|c| c.time_secs <= time_secs)
            .filter(|c| &c.holder == holder)
        {
            *contents.entry(change.sku.clone()).or_default() += change.delta;
        }
        contents
            .into_iter()
            .filter_map(|(sku, n)| u32::try_from(n).ok().filter(|&n| n > 0).map(|n| (sku, n)))
            .collect()
    }

    fn ground_truth(&self, scenario: &Scenario) -> GroundTruth {
        let trajectory_fps = scenario
            .cameras
            .iter()
            .map(|c| c.fps)
            .fold(None, |best: Option<f64>, fps| {
                Some(best.map_or(fps, |b| b.max(fps)))
            })
            .unwrap_or(10.0);
        let mut trajectories = Vec::new();
        let mut check_ins = Vec::new();
        let mut exits = Vec::new();
        for (timeline, shopper) in self.shoppers.iter().zip(&scenario.shoppers) {
            let first = (timeline.entry_time_secs * trajectory_fps).ceil() as u64;
            let last = (timeline.exit_time_secs * trajectory_fps).floor() as u64;
            let samples = (first..=last)
                .filter_map(|k| {
                    let time_secs = k as f64 / trajectory_fps;
                    timeline.state_at(time_secs).map(|s| FloorSample {
                        time_secs,
                        position_m: s.position_m,
                        heading_rad: s.heading_rad,
                    })
                })
                .collect();
            trajectories.push(Trajectory {
                shopper: shopper.id.clone(),
                account: shopper.account.clone(),
                track_id: timeline.shopper as i64 + 1,
                samples,
            });
            check_ins.push(CheckIn {
                account: shopper.account.clone(),
                shopper: shopper.id.clone(),
                gate: shopper.entry_gate.clone(),
                time_secs: timeline.entry_time_secs,
            });
            exits.push(Exit {
                account: shopper.account.clone(),
                shopper: shopper.id.clone(),
                gate: shopper.exit_gate.clone(),
                time_secs: timeline.exit_time_secs,
            });
        }
        check_ins.sort_by(|a, b| a.time_secs.total_cmp(&b.time_secs));
        exits.sort_by(|a, b| a.time_secs.total_cmp(&b.time_secs));

        let prices = scenario.store.prices_minor();
        let mut by_account: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, shopper) in scenario.shoppers.iter().enumerate() {
            by_account.entry(&shopper.account).or_default().push(index);
        }
        let sessions = by_account
            .into_iter()
            .map(|(account, members)| {
                let items = members.iter().flat_map(|&m| {
                    self.carried_out[m].iter().map(|(sku, &quantity)| {
                        (
                            sku.as_str(),
                            quantity,
                            prices.get(sku).copied().unwrap_or(0),
                        )
                    })
                });
                Session {
                    account: account.to_string(),
                    group: scenario.shoppers[members[0]].group.clone(),
                    shoppers: members
                        .iter()
                        .map(|&m| scenario.shoppers[m].id.clone())
                        .collect(),
                    entry_time_secs: members
                        .iter()
                        .map(|&m| self.shoppers[m].entry_time_secs)
                        .fold(f64::INFINITY, f64::min),
                    exit_time_secs: members
                        .iter()
                        .map(|&m| self.shoppers[m].exit_time_secs)
                        .fold(f64::NEG_INFINITY, f64::max),
                    receipt: Receipt::from_items(items),
                }
            })
            .collect();

        let cameras = scenario
            .cameras
            .iter()
            .enumerate()
            .map(|(index, camera)| {
                let frame_count = camera.frame_count(scenario.duration_secs);
                let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(scenario.seed, index as u64));
                let p = scenario.noise.dropped_frame_probability;
                // A recording starts with its first frame (an MP4 file cannot start late), so frame 1 is
                // never dropped; it still takes its draw, so the other frames' draws do not move.
                let dropped_frames = (1..=frame_count)
                    .filter(|_| p > 0.0 && rng.random_bool(p))
                    .filter(|&frame| frame > 1)
                    .collect();
                let dark_frames =
                    (1..=frame_count)
                        .filter(|&frame| {
                            let t = camera.frame_time_secs(frame);
                            scenario.noise.outages.iter().any(|o| {
                                o.camera == camera.id && t >= o.start_secs && t < o.end_secs
                            })
                        })
                        .collect();
                (
                    camera.id.clone(),
                    CameraTruth {
                        fps: camera.fps,
                        resolution_px: camera.resolution_px,
                        frame_count,
                        dropped_frames,
                        dark_frames,
                        shoppers: Vec::new(),
                        hands: Vec::new(),
                        products: Vec::new(),
                    },
                )
            })
            .collect();

        GroundTruth {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            duration_secs: scenario.duration_secs,
            trajectory_fps,
            trajectories,
            check_ins,
            exits,
            events: self.events.clone(),
            hand_overs: self.hand_overs.clone(),
            sessions,
            cameras,
            scale_readings: self.scale_readings(scenario),
        }
    }

    /// What the lane scales report, when the store has them: per slot, the items' weight changes,
    /// those closer together than the scale takes to settle summed into one report, a settle time after
    /// the last of them, with Gaussian noise. A burst that leaves the weight as it was (an item lifted and
    /// put straight back) reports nothing.
    fn scale_readings(&self, scenario: &Scenario) -> Vec<ScaleReading> {
        let Some(scales) = scenario.store.scales else {
            return Vec::new();
        };
        let mut unit_g: BTreeMap<&str, f64> = BTreeMap::new();
        for slot in scenario.store.slots() {
            unit_g
                .entry(&slot.sku)
                .or_insert_with(|| slot.unit_weight_g());
        }
        let mut by_slot: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for change in &self.changes {
            if let Holder::Slot(slot) = &change.holder {
                let grams = unit_g.get(change.sku.as_str()).copied().unwrap_or(0.0);
                by_slot
                    .entry(slot)
                    .or_default()
                    .push((change.time_secs, change.delta as f64 * grams));
            }
        }
        // a stream of its own, beside the cameras' (they take 0, 1, ...)
        let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(scenario.seed, u64::MAX - 1));
        let mut readings = Vec::new();
        for (slot, changes) in by_slot {
            let mut k = 0;
            while k < changes.len() {
                let (mut last, mut grams) = changes[k];
                k += 1;
                while k < changes.len() && changes[k].0 - last < scales.settle_secs {
                    last = changes[k].0;
                    grams += changes[k].1;
                    k += 1;
                }
                let noise = gaussian(&mut rng) * scales.noise_g;
                if grams.abs() > 1e-9 {
                    readings.push(ScaleReading {
                        time_secs: last + scales.settle_secs,
                        slot: slot.to_string(),
                        delta_g: grams + noise,
                    });
                }
            }
        }
        readings.sort_by(|a, b| a.time_secs.total_cmp(&b.time_secs));
        readings
    }
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// What every holder has while the scenario plays, and the log of changes.
#[derive(Default)]
struct Play {
    /// Holder -> SKU -> units; zero counts are removed.
    contents: BTreeMap<Holder, BTreeMap<String, u32>>,
    changes: Vec<ItemChange>,
}

impl Play {
    /// Moves units from one holder to another, or returns how many `from` has when that is too few.
    fn transfer(
        &mut self,
        time_secs: f64,
        from: Holder,
        to: Holder,
        sku: &str,
        quantity: u32,
    ) -> Result<(), u32> {
        let source = self.contents.entry(from.clone()).or_default();
        let available = source.get(sku).copied().unwrap_or(0);
        if available < quantity {
            return Err(available);
        }
        if available == quantity {
            source.remove(sku);
        } else {
            source.insert(sku.to_string(), available - quantity);
        }
        *self
            .contents
            .entry(to.clone())
            .or_default()
            .entry(sku.to_string())
            .or_default() += quantity;
        let change = |holder, delta| ItemChange {
            time_secs,
            holder,
            sku: sku.to_string(),
            delta,
        };
        self.changes.push(change(from, -i64::from(quantity)));
        self.changes.push(change(to, i64::from(quantity)));
        Ok(())
    }
}

/// Why an item movement cannot happen, given how many units the giving side has.
fn shortfall(action: &Action, sku: &str, available: u32) -> String {
    match action {
        Action::Pick { slot, quantity, .. } => {
            format!("picks {quantity} but slot {slot:?} holds {available} of {sku:?}")
        }
        Action::PutBack { slot, quantity, .. } | Action::Misplace { slot, quantity, .. } => {
            format!("puts {quantity} of {sku:?} into {slot:?} but holds {available}")
        }
        Action::HandOver { quantity, .. } => {
            format!("hands over {quantity} of {sku:?} but holds {available}")
        }
        Action::Browse { .. } | Action::Touch { .. } => String::new(),
    }
}

/// A seed for one stream of randomness derived from the scenario's seed (SplitMix64's finaliser), so that
/// adding a camera does not change the noise of the others.
pub(crate) fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One shopper's segments and the times of their item movements.
fn lay_out(scenario: &Scenario, index: usize) -> (ShopperTimeline, Vec<ItemOp>) {
    let shopper = &scenario.shoppers[index];
    let gate_position = |id: &str| scenario.store.gate(id).map_or([0.0, 0.0], |g| g.position_m);
    let mut position = gate_position(&shopper.entry_gate);
    let mut facing = 0.0;
    let mut now = shopper.entry_time_secs;
    let mut segments = Vec::new();
    let mut ops = Vec::new();
    let walk = |to: [f64; 2],
                now: &mut f64,
                position: &mut [f64; 2],
                facing: &mut f64,
                segments: &mut Vec<Segment>| {
        let length = distance(*position, to);
        if length > 0.0 {
            let end = *now + length / shopper.speed_m_per_s;
            *facing = heading(*position, to);
            segments.push(Segment::Walk {
                from_m: *position,
                to_m: to,
                start_secs: *now,
                end_secs: end,
            });
            *now = end;
            *position = to;
        }
    };
    let mut actions = shopper.actions.iter().enumerate().peekable();
    for (k, waypoint) in shopper.path.iter().enumerate() {
        walk(
            *waypoint,
            &mut now,
            &mut position,
            &mut facing,
            &mut segments,
        );
        while let Some((a, action)) = actions.next_if(|(_, action)| action.waypoint() == k) {
            let reach = action
                .reached_slot()
                .and_then(|slot| scenario.store.slot(slot))
                .map(|p| (p.slot.id.clone(), p.face_center_m));
            if let Some((_, target)) = &reach {
                facing = heading(position, [target[0], target[1]]);
            } else if let Action::Browse { shelf, .. } = action
                && let Some(shelf) = scenario.store.shelves.iter().find(|s| &s.id == shelf)
            {
                let [x0, y0, x1, y1] = shelf.footprint_m();
                facing = heading(position, [(x0 + x1) / 2.0, (y0 + y1) / 2.0]);
            }
            let end = now + action.duration_secs();
            segments.push(Segment::Act {
                at_m: position,
                heading_rad: facing,
                start_secs: now,
                end_secs: end,
                action: a,
                reach,
            });
            if !matches!(action, Action::Browse { .. } | Action::Touch { .. }) {
                ops.push(ItemOp {
                    time_secs: now + action.duration_secs() / 2.0,
                    shopper: index,
                    action: a,
                });
            }
            now = end;
        }
    }
    walk(
        gate_position(&shopper.exit_gate),
        &mut now,
        &mut position,
        &mut facing,
        &mut segments,
    );
    (
        ShopperTimeline {
            shopper: index,
            entry_time_secs: shopper.entry_time_secs,
            exit_time_secs: now,
            segments,
        },
        ops,
    )
}
