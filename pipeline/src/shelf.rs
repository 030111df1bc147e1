//! Shelf events from what a camera sees at a slot: pick-ups and put-backs are changes in the number of
//! products the detector counts in the slot, bracketed by a hand in the slot, and attributed to the
//! shopper whose hand it was.
//!
//! A hand in front of the shelf hides products, so counts during an interaction mean nothing: the event
//! compares the settled count before the first hand arrived with the settled count after the last hand
//! left. Attribution accumulates, over the interaction, how close each shopper's body was to each hand in
//! the slot; the confidence is the margin between the best shopper and the next. A moment of clear,
//! unanimous counts inside an interaction (one shopper's hand left, the next one's came) splits it: each
//! stretch is its own event, attributed to the hands seen in it. A weight sensor on the
//! slot, when there is one, overrides the quantity vision counted.
//!
//! An event can also be unsure of its slot or its quantity, and then its confidence drops too, so that
//! the session goes to review rather than into a charge:
//! - seen at a glancing angle, neighbouring slots' regions overlap, and a product in the overlap cannot
//!   be placed in one slot by the image alone: a count change that happened there is ambiguous;
//! - a count that does not settle (the frames before or after the hand disagree) is a guess.
//! - a camera that saw nothing for a while (an outage) cannot say whose hand moved what: a count that
//!   changed across the gap is an event for review, for the shopper nearest the slot afterwards.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use nalgebra::{Matrix3, Point2};
use serde::{Deserialize, Serialize};
use walkout_core::{BBox, CameraId, CaptureTime};

use crate::calibration::apply_homography;
use crate::cart::{EventKind, Evidence, ShelfEvent, SlotId};

/// A slot as one camera sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotView {
    pub slot: SlotId,
    pub sku: String,
    /// The slot's opening in this camera's pixels.
    pub region: BBox,
    /// Grams per item, when the slot stands on a lane scale. Such a slot's events come from the
    /// scale's readings (how many moved, and when); the camera only tells whose hand it was. Without a
    /// scale, the camera's product count decides both.
    pub unit_weight_g: Option<f64>,
    /// Where the slot's products stand in the world, when the camera is calibrated: it tells which slot
    /// a product belongs to where two slots' image regions overlap.
    #[serde(default)]
    pub volume: Option<SlotVolume>,
    /// Another camera watches this slot (it gets the scale's readings and makes the events); this one
    /// only lends what it sees of the hands there, to a reading whose watching camera saw no hand. Only
    /// for slots on a scale: with vision's counts, two cameras would count one pick twice.
    #[serde(default)]
    pub lends_only: bool,
}

/// The floor-parallel rectangle a slot's products stand on, at their mid-height, and this camera's
/// mapping onto that plane. Seen in perspective, neighbouring slots' image regions overlap, but the
/// line of sight through a product's centre meets the plane of its own slot inside that slot's
/// rectangle and the plane of a neighbour above or below outside the neighbour's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotVolume {
    /// Image pixels to the plane at the products' mid-height (metres, floor coordinates).
    pub plane_from_image: Matrix3<f64>,
    /// The centre of the slot's front edge on that plane.
    pub front_center_m: [f64; 2],
    /// Unit vector along the shelf face.
    pub along: [f64; 2],
    /// Unit vector from the face into the shelf.
    pub inward: [f64; 2],
    /// Half the slot's width along the face, metres.
    pub half_width_m: f64,
    /// How deep the products stand from the face, metres.
    pub depth_m: f64,
    /// The height of the plane, metres: of two slots on a line of sight, the higher one's board hides
    /// the lower one (ceiling cameras look down).
    pub mid_height_m: f64,
}

impl SlotVolume {
    /// How far outside the slot's rectangle the line of sight through `pixel` meets the products'
    /// plane, in units of the rectangle's size (0 inside; 1 a whole width or depth away).
    pub fn outside(&self, pixel: (f32, f32)) -> f64 {
        let Some(p) = apply_homography(
            &self.plane_from_image,
            &Point2::new(f64::from(pixel.0), f64::from(pixel.1)),
        ) else {
            return f64::INFINITY;
        };
        let (dx, dy) = (p.x - self.front_center_m[0], p.y - self.front_center_m[1]);
        let u = dx * self.along[0] + dy * self.along[1];
        let v = dx * self.inward[0] + dy * self.inward[1];
        let across = (u.abs() - self.half_width_m).max(0.0) / (2.0 * self.half_width_m).max(1e-6);
        let deep = ((-v).max(v - self.depth_m)).max(0.0) / self.depth_m.max(1e-6);
        across.max(deep)
    }
}

/// Detector settings for shelf events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShelfConfig {
    /// Frames of settled counts taken before and after an interaction.
    pub settle_frames: usize,
    /// An interaction ends after this many frames without a hand in the slot.
    pub hand_gap_frames: u32,
    /// A hand counts as in the slot when its box overlaps the slot region by this share of its own area.
    pub hand_overlap: f32,
    /// Distance (in person-box heights) at which a hand's support for a shopper halves.
    pub attribution_scale: f32,
    /// A body covering this share of the slot's region hides its products: counts wait until it moves.
    pub occlusion_share: f32,
    /// An event whose count change happened (partly) where another slot's region reaches too is only
    /// as sure of its slot as the larger of: the share of the change in the slot's own part, and how
    /// much more centrally the hands lay in this slot's region than in that one's (`(own - other) /
    /// own`). The
    /// event's confidence is multiplied by that certainty raised to this power: 0 ignores overlaps
    /// between slot regions, 1 makes a change in an overlap the hands reached equally worth nothing.
    pub overlap_penalty: f32,
    /// An event's confidence is multiplied by the share of the settle frames (before and after, the
    /// lower of the two) that agree with the settled count, raised to this power: 0 trusts any median.
    pub unsettled_penalty: f32,
    /// A hand box counts only within this many person-box heights of some person box in the frame: a
    /// hand belongs to an arm, and a "hand" on a shelf nobody stands at is a false detection.
    pub hand_reach: f32,
    /// The most confidence an event gets when no hand was ever seen in the slot (only a body in front
    /// of it): the count changed while the slot was hidden, which a passing body does as well as a
    /// reaching hand. Below the sessions' `min_event_confidence`, such an event goes to review. Off by
    /// default (1): with true boxes, the watching camera often sees the body but not the hand it hides
    /// (solo seed 9100's one pick was held so), and with the detector's boxes the cap changed little.
    pub handless_confidence: f32,
    /// A shopper whose support for an event reaches this share of the chosen one's is a rival: their
    /// session is reviewed for it, whatever the event's confidence (a confident event can still have
    /// gone to the wrong one of two shoppers reaching side by side, and the one left out would be
    /// charged too little without review).
    pub rival_share: f32,
    /// A shopper whose own hand was in the slot for this many frames of the stretch (of those within
    /// twice `scale_moment_secs` of the moment a scale says the items moved) is a rival too, however
    /// small their share of the support: in a stretch the slot stayed hidden for seconds, the count
    /// cannot say whose reach moved it. 0: off.
    pub rival_hand_frames: u32,
    /// Frames of a clear, unanimous count (no hand nor body over the slot) that split an interaction
    /// in two without ending it: a second shopper reaching in soon after the first does not
    /// merge their events, and each stretch is attributed to the hands seen in it only. 0: never split.
    pub checkpoint_frames: usize,
    /// A gap longer than this between a camera's frames (an outage, a stall) is a blind stretch: the
    /// count after it is compared with the count before, as if a hand had been in every slot.
    pub blind_after_secs: f64,
    /// The most confidence an event from a blind stretch gets: nobody saw whose hand it was, so below
    /// the sessions' `min_event_confidence` the session of the shopper nearest the slot afterwards goes
    /// to review rather than being charged for a guess (or, worse, not charged for a pick it missed).
    pub blind_confidence: f32,
    /// An event no shopper's hand was seen at (the camera was out, or the hand was hidden) sends to
    /// review the session of every shopper whose floor track came this close to the slot's front
    /// during it, in metres: one of them may have taken the item.
    pub suspect_radius_m: f64,
    /// A hand reaching into a slot belongs to someone standing at the slot: where both the person's
    /// place on the floor and the slot's front are known, a hand's support for a person halves for
    /// every `floor_reach_m` metres they stand beyond `arm_reach_m` from the slot's front (in a crowd at
    /// one shelf, everyone's box is near every hand, but only one of them stands at that slot). 0: off.
    pub floor_reach_m: f64,
    pub arm_reach_m: f64,
    /// How long a lane scale takes to settle and report after items moved, seconds: a reading is matched
    /// with the camera's stretch of hands at the slot nearest this long before it.
    pub scale_settle_secs: f64,
    /// A reading waits this long for the camera to see the slot clear before it is matched (the
    /// camera's frames may lag the scale), and at most `scale_wait_secs` for an interaction still
    /// going on at the slot to end.
    pub scale_match_secs: f64,
    pub scale_wait_secs: f64,
    /// A hand reaching into several slots' regions (seen in perspective, neighbouring regions overlap)
    /// supports its person at each in proportion to how centrally it lies in that one's region, raised
    /// to this power: 0 counts it fully at every slot it overlaps.
    pub hand_share_power: f32,
    /// A scale knows when the items moved: the hands at the slot then weigh most in whose they were,
    /// by a Gaussian of this many seconds around that moment (a stretch of hands can last seconds with
    /// several shoppers reaching in turn). 0: every hand of the stretch weighs the same.
    pub scale_moment_secs: f64,
    /// How high a shopper's head top is, in metres: a person whose feet a camera's image cuts off
    /// (close under the camera) is placed on the floor, for their reach to a slot, by the top of their
    /// box on this plane rather than by the image's edge, which falls short of their feet by up to a
    /// metre. A child or a tall adult is placed a few tens of centimetres off.
    pub head_top_m: f64,
    /// A put-back a lane scale weighs as a whole number of an item in the shopper's cart (its fit, see
    /// [`whole_units`], at least this), closer than of the slot's own items, is that item put back in
    /// the wrong slot: it leaves the cart. 0.5 is a quarter of an item either side of a whole number.
    /// Above 1: never.
    pub misplaced_fit: f32,
    /// A lane scale's noise, grams (one standard deviation). A put-back that a whole number of the
    /// slot's own item and one of another item in the cart both explain within three of it weighs as
    /// either. 0: a reading is the item it fits best.
    pub scale_noise_g: f64,
}

impl Default for ShelfConfig {
    fn default() -> Self {
        Self {
            settle_frames: 5,
            hand_gap_frames: 4,
            hand_overlap: 0.2,
            attribution_scale: 0.25,
            occlusion_share: 0.15,
            overlap_penalty: 1.0,
            unsettled_penalty: 1.0,
            hand_reach: 0.5,
            handless_confidence: 1.0,
            rival_share: 0.1,
            rival_hand_frames: 2,
            checkpoint_frames: 4,
            blind_after_secs: 1.0,
            blind_confidence: 0.0,
            suspect_radius_m: 1.5,
            floor_reach_m: 0.3,
            arm_reach_m: 0.6,
            scale_settle_secs: 0.5,
            scale_match_secs: 1.0,
            scale_wait_secs: 10.0,
            hand_share_power: 1.0,
            scale_moment_secs: 0.5,
            head_top_m: 1.72,
            misplaced_fit: 0.5,
            scale_noise_g: 2.0,
        }
    }
}

/// A person in this camera's frame, with the global shopper id fusion gave its track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonView {
    pub shopper: u64,
    pub bbox: BBox,
    /// Where the person stands on the floor (their box's foot point through the calibration), metres.
    pub floor_m: Option<[f64; 2]>,
}

/// What one camera frame shows near the shelves.
#[derive(Debug, Clone, Copy)]
pub struct ShelfFrame<'a> {
    pub camera: &'a CameraId,
    pub frame_seq: u64,
    pub time: CaptureTime,
    pub products: &'a [BBox],
    pub hands: &'a [BBox],
    /// Every tracked person, for attribution: with the global shopper id fusion gave its track, or a
    /// camera-local id (from [`crate::store::LOCAL_ID_BASE`] on) while it is bound to no shopper, who
    /// is a rival all the same.
    pub people: &'a [PersonView],
    /// Every person box in the frame, bound or not: a body in front of a slot hides its products.
    pub bodies: &'a [BBox],
}

/// A weight change on a slot's sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightReading {
    pub slot: SlotId,
    /// Negative when weight left the shelf.
    pub delta_g: f64,
    pub time: CaptureTime,
}

/// A detected event with the shopper it is attributed to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributedEvent {
    pub event: ShelfEvent,
    /// The global shopper id, when any shopper's hand was near.
    pub shopper: Option<u64>,
    /// Others whose support reached `ShelfConfig::rival_share` of the chosen shopper's: the item may
    /// be theirs, so their sessions are reviewed too.
    pub rivals: Vec<u64>,
    /// From the first frame of the interaction (or the last one before a blind stretch) to its last.
    pub span: (CaptureTime, CaptureTime),
    /// The camera saw nothing for a while during the event (see `ShelfConfig::blind_after_secs`).
    pub blind: bool,
    /// The scale reading the event was weighed from, for a camera lending its view of the slot to make
    /// it again from the hands it saw (see [`ShelfWatcher::weigh_lent`]).
    pub weighed: Option<Weighed>,
}

/// A scale reading an event was made from, and how much of a hand the camera saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Weighed {
    pub reading: WeightReading,
    /// When the items moved: the reading's time less the scale's settling time.
    pub moved: CaptureTime,
    /// Frames of the matched stretch with a hand in the slot (0: only a body was seen, or nothing),
    /// and with only a body over it.
    pub hand_frames: u32,
    pub body_frames: u32,
    /// The event's confidence before the reading's fit to the slot's items counted: the shopper's
    /// margin, capped for a stretch with no hand or a blind camera. The store uses it when the reading
    /// turns out to be another product, put back in the wrong slot.
    pub attribution_confidence: f32,
    /// Everyone the camera showed (bound or not) at the slot when the items moved: in the frames of
    /// the matched stretch within twice `ShelfConfig::scale_moment_secs` of it.
    pub shown: Vec<u64>,
    /// Each shopper's hand support around the moment the items moved, as the camera weighed it (what
    /// its choice and margin come from): the store pools it with other cameras' views of the slot.
    pub support: BTreeMap<u64, f32>,
}

/// How many of an item of `unit_g` grams a scale's change of `delta_g` is (at least one), and how
/// sure that is: 1 for a whole number, falling to 0 half-way between two.
pub fn whole_units(delta_g: f64, unit_g: f64) -> (u32, f32) {
    let units = delta_g.abs() / unit_g.max(1e-6);
    let quantity = units.round().max(1.0);
    let fit = (1.0 - 2.0 * (units - quantity).abs()).clamp(0.0, 1.0) as f32;
    (quantity as u32, fit)
}

/// A scale reading is matched only with a stretch of hands that ended (or began) within this many
/// seconds of the moment the items moved.
const SCALE_MATCH_WINDOW_SECS: f64 = 3.0;
/// Inside a slot's rectangle in the world, give or take this share of its size (boxes are not exact).
const INSIDE: f64 = 0.15;
/// A slot whose rectangle the line of sight misses by less than this more than the chosen slot's
/// could be the product's too.
const RIVAL_MARGIN: f64 = 0.05;
/// A product whose line of sight lands further than this outside the only slot whose region holds
/// it belongs to another slot.
const FAR_OUTSIDE: f64 = 0.5;

/// A hand is a shopper's when it supports them at least this much (on their box or near it, and they
/// stand within reach of the slot; see `hand_support`) and more than anyone else...
const OWNER_SUPPORT: f32 = 0.5;
/// ...and lies in this slot's region at least this centrally compared with the other slots' regions it
/// overlaps (`hand_share`): a hand at the edge of a neighbour's region is in that neighbour's slot.
const OWNER_SHARE: f32 = 0.5;

/// Added to every slot's centrality when a hand's share of a slot is taken, so that a hand whose
/// centre lies outside every region it overlaps shares itself evenly between them.
const SHARE_FLOOR: f32 = 0.05;

/// How much each person's hands (and body) at a slot pointed to them: in all, and moment by moment,
/// so that a scale, which knows when the items moved, can ask who reached in then.
#[derive(Debug, Clone, Default)]
struct Support {
    total: BTreeMap<u64, f32>,
    moments: Vec<(CaptureTime, u64, f32)>,
    /// The frames in which a shopper was the one a hand in the slot belonged to (the person it
    /// supported most, and by at least [`OWNER_SUPPORT`]).
    owned: Vec<(CaptureTime, u64)>,
}

impl Support {
    fn add(&mut self, time: CaptureTime, shopper: u64, support: f32) {
        if support <= 0.0 {
            return;
        }
        *self.total.entry(shopper).or_insert(0.0) += support;
        self.moments.push((time, shopper, support));
    }

    /// Records that a hand in the slot was `shopper`'s in the frame of `time`.
    fn own(&mut self, time: CaptureTime, shopper: u64) {
        self.owned.push((time, shopper));
    }

    fn relabel(&mut self, from: u64, to: u64) {
        if let Some(support) = self.total.remove(&from) {
            *self.total.entry(to).or_insert(0.0) += support;
        }
        for moment in &mut self.moments {
            if moment.1 == from {
                moment.1 = to;
            }
        }
        for owned in &mut self.owned {
            if owned.1 == from {
                owned.1 = to;
            }
        }
    }

    /// Gives each shopper's support from `since` on to whom `map` names for them (a camera track that
    /// showed another shopper than the one it was bound to, see [`ShelfWatcher::relabel_since`]).
    fn relabel_since(&mut self, since: CaptureTime, map: &BTreeMap<u64, u64>) {
        for (time, shopper, support) in &mut self.moments {
            let Some(&to) = map.get(shopper).filter(|_| *time >= since) else {
                continue;
            };
            if let Some(total) = self.total.get_mut(shopper) {
                *total = (*total - *support).max(0.0);
            }
            *self.total.entry(to).or_insert(0.0) += *support;
            *shopper = to;
        }
        self.total.retain(|_, total| *total > 0.0);
        for (time, shopper) in &mut self.owned {
            if let Some(&to) = map.get(shopper).filter(|_| *time >= since) {
                *shopper = to;
            }
        }
    }

    /// How many frames each shopper's hand was in the slot: all of them, or, given `(moment,
    /// window_secs)`, only those within `window_secs` of `moment`.
    fn hand_frames(&self, near: Option<(CaptureTime, f64)>) -> BTreeMap<u64, u32> {
        let mut frames = BTreeMap::new();
        for &(time, shopper) in &self.owned {
            if near.is_some_and(|(moment, window)| secs_apart(time, moment) > window) {
                continue;
            }
            *frames.entry(shopper).or_insert(0) += 1;
        }
        frames
    }

    /// Everyone the camera showed in the frames within `window_secs` of `moment` (every frame's
    /// when it showed nobody then).
    fn shown_near(&self, moment: CaptureTime, window_secs: f64) -> Vec<u64> {
        let near: BTreeSet<u64> = self
            .moments
            .iter()
            .filter(|(time, _, _)| secs_apart(*time, moment) <= window_secs)
            .map(|(_, shopper, _)| *shopper)
            .collect();
        if near.is_empty() {
            self.total.keys().copied().collect()
        } else {
            near.into_iter().collect()
        }
    }

    /// The support weighted by closeness in time to `moment` (a Gaussian of `sigma_secs`); the total
    /// when `sigma_secs` is 0, or when nothing was seen near the moment (nothing above a thousandth of
    /// the total's weight): the hands then tell who, not when.
    fn around(&self, moment: CaptureTime, sigma_secs: f64) -> BTreeMap<u64, f32> {
        if sigma_secs <= 0.0 {
            return self.total.clone();
        }
        let mut near: BTreeMap<u64, f32> = BTreeMap::new();
        for &(time, shopper, support) in &self.moments {
            let dt = secs_apart(time, moment) / sigma_secs;
            *near.entry(shopper).or_insert(0.0) += support * (-0.5 * dt * dt).exp() as f32;
        }
        let seen: f32 = near.values().sum();
        let all: f32 = self.total.values().sum();
        if seen <= 1e-3 * all {
            self.total.clone()
        } else {
            near
        }
    }
}

/// Seconds between two capture times, whichever is earlier.
fn secs_apart(a: CaptureTime, b: CaptureTime) -> f64 {
    if a >= b {
        a.saturating_since(b)
    } else {
        b.saturating_since(a)
    }
    .as_secs_f64()
}

/// A slot whose image region holds a product's centre.
struct Claim {
    slot: usize,
    /// Squared pixels from the region's centre.
    centre_distance: f32,
    /// With the slot's volume: how far outside its rectangle the product's line of sight lands, and
    /// the height of the plane.
    world: Option<(f64, f64)>,
}

/// Products counted for a slot in one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct SlotCount {
    /// Every product the slot claims (each product counts for one slot only).
    total: u32,
    /// Those whose centre no other slot's region reaches.
    exclusive: u32,
}

/// A settled count: the median of a window of frames, and how many of them agreed with it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settled {
    count: SlotCount,
    /// 0..1: the share of the window's frames whose total equals the median's.
    agreement: f32,
}

#[derive(Debug, Clone, Default)]
struct SlotState {
    recent_counts: VecDeque<SlotCount>,
    before: Option<Settled>,
    interaction: Option<Interaction>,
    /// On a slot with a scale: the stretches of hands seen lately, for the readings to come.
    recent: VecDeque<Segment>,
}

/// A stretch of an interaction between two settled counts: what moved in it is attributed to the hands
/// seen in it only.
#[derive(Debug, Clone)]
struct Segment {
    started: CaptureTime,
    /// The last frame with a hand or body over the slot (or the first after a blind stretch).
    ended: CaptureTime,
    /// The last frame with a hand in the slot (a body in front of it is not a hand): when the item
    /// moved. A body can hide the slot for seconds after the hand left.
    last_hand: Option<CaptureTime>,
    /// Frames with a hand in the slot, and frames with only a body over it.
    hand_frames: u32,
    body_frames: u32,
    support: Support,
    evidence: Vec<Evidence>,
    /// How centrally the hands lay in the slot's region, summed over hands and frames.
    reach: f32,
    /// The same for every other slot whose region overlaps this one and the hands were in too: the
    /// products in the overlap could have gone to or come from either.
    rival_reach: BTreeMap<usize, f32>,
    /// The camera saw nothing for a while in this stretch (see `ShelfConfig::blind_after_secs`).
    blind: bool,
}

impl Segment {
    fn new(started: CaptureTime) -> Self {
        Self {
            started,
            ended: started,
            last_hand: None,
            hand_frames: 0,
            body_frames: 0,
            support: Support::default(),
            evidence: Vec::new(),
            reach: 0.0,
            rival_reach: BTreeMap::new(),
            blind: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Interaction {
    /// The stretch going on now.
    current: Segment,
    /// Earlier stretches, each with the count the slot settled at after it (a short clear view of the
    /// slot between two shoppers' reaches, too short to end the interaction).
    closed: Vec<(Segment, Settled)>,
    frames_without_hand: u32,
    /// Counts of the frames since the last hand or body over the slot.
    clear_counts: Vec<SlotCount>,
    /// The same, less the first `hand_gap_frames`: the count the interaction ends at.
    after_counts: VecDeque<SlotCount>,
}

impl Interaction {
    /// When its first stretch began.
    fn started(&self) -> CaptureTime {
        self.closed
            .first()
            .map_or(self.current.started, |(segment, _)| segment.started)
    }

    fn new(started: CaptureTime) -> Self {
        Self {
            current: Segment::new(started),
            closed: Vec::new(),
            frames_without_hand: 0,
            clear_counts: Vec::new(),
            after_counts: VecDeque::new(),
        }
    }
}

/// Watches the slots one camera sees.
#[derive(Debug, Clone)]
pub struct ShelfWatcher {
    config: ShelfConfig,
    slots: Vec<SlotView>,
    states: Vec<SlotState>,
    next_event_id: u64,
    weights: Vec<WeightReading>,
    /// When the camera's previous frame was taken.
    last_frame: Option<CaptureTime>,
}

impl ShelfWatcher {
    /// `first_event_id` keeps ids unique across watchers (e.g. camera index << 32).
    pub fn new(config: ShelfConfig, slots: Vec<SlotView>, first_event_id: u64) -> Self {
        let states = vec![SlotState::default(); slots.len()];
        Self {
            config,
            slots,
            states,
            next_event_id: first_event_id,
            weights: Vec::new(),
            last_frame: None,
        }
    }

    /// Each slot with an interaction going on (a hand or body over it, or a count not settled yet),
    /// and when that interaction started.
    pub fn open_interactions(&self) -> impl Iterator<Item = (&str, CaptureTime)> + '_ {
        self.slots
            .iter()
            .zip(&self.states)
            // a slot this camera only lends its view of settles with the camera that watches it
            .filter(|(slot, _)| !slot.lends_only)
            .filter_map(|(slot, state)| {
                let interaction = state.interaction.as_ref()?;
                Some((slot.slot.as_str(), interaction.started()))
            })
            // a scale's reading not yet matched with the hands that made it
            .chain(self.weights.iter().map(|w| {
                let moved = w.time.saturating_sub(Duration::from_secs_f64(
                    self.config.scale_settle_secs.max(0.0),
                ));
                (w.slot.as_str(), moved)
            }))
    }

    /// Whether this watcher watches the slot (makes its events; a slot it only lends its view of is
    /// not watched).
    pub fn watches(&self, slot: &str) -> bool {
        self.slots.iter().any(|s| s.slot == slot && !s.lends_only)
    }

    /// A scale event another camera made without seeing a hand at the slot, made again from this
    /// camera's view of the slot, when it lends that view and saw a hand there when the items moved
    /// (or, unless `hand_only`, at least a body over the slot: for an event the other camera saw
    /// nothing of): the same id, reading and quantity; the shopper, rivals, confidence and evidence from
    /// here.
    pub fn weigh_lent(
        &self,
        attributed: &AttributedEvent,
        hand_only: bool,
    ) -> Option<AttributedEvent> {
        let weighed = attributed.weighed.as_ref()?;
        let index = self
            .slots
            .iter()
            .position(|s| s.slot == weighed.reading.slot && s.lends_only)?;
        let stretch = self.stretch_at(index, weighed.moved);
        tracing::debug!(
            slot = %weighed.reading.slot,
            event = attributed.event.id,
            hand_frames = stretch.map(|s| s.hand_frames),
            body_frames = stretch.map(|s| s.body_frames),
            "a lending camera's view of a reading"
        );
        let segment = stretch.filter(|s| !s.blind && (s.last_hand.is_some() || !hand_only))?;
        weigh(
            &self.config,
            &self.slots[index],
            segment,
            &weighed.reading,
            weighed.moved,
            attributed.event.id,
        )
    }

    /// The stretch of hands at the slot whose span lies nearest `moved` (within the matching window),
    /// an open one included; a stretch with a hand before one with only a body.
    fn stretch_at(&self, index: usize, moved: CaptureTime) -> Option<&Segment> {
        let window = self.config.scale_wait_secs.min(SCALE_MATCH_WINDOW_SECS);
        let state = &self.states[index];
        let open_segments = state.interaction.iter().flat_map(|i| {
            i.closed
                .iter()
                .map(|(segment, _)| segment)
                .chain(std::iter::once(&i.current))
        });
        let gap = |segment: &Segment| {
            let until = segment.last_hand.unwrap_or(segment.ended);
            if moved < segment.started {
                segment.started.saturating_since(moved).as_secs_f64()
            } else {
                moved.saturating_since(until).as_secs_f64()
            }
        };
        state
            .recent
            .iter()
            .chain(open_segments)
            .filter(|segment| gap(segment) <= window)
            .min_by(|a, b| {
                (a.last_hand.is_none().cmp(&b.last_hand.is_none())).then(gap(a).total_cmp(&gap(b)))
            })
    }

    /// Records a lane scale's reading for one of this camera's slots. It becomes an event once the
    /// camera has seen the slot clear after it (see `ShelfConfig::scale_match_secs`), attributed to the
    /// hands seen at the slot when the items moved.
    pub fn weight(&mut self, reading: WeightReading) {
        self.weights.push(reading);
    }

    /// The hand support of every interaction still going on and of those kept for a scale reading.
    fn supports(&mut self) -> impl Iterator<Item = &mut Support> {
        self.states.iter_mut().flat_map(|state| {
            let interaction = state.interaction.iter_mut().flat_map(|i| {
                std::iter::once(&mut i.current).chain(i.closed.iter_mut().map(|(s, _)| s))
            });
            interaction
                .chain(state.recent.iter_mut())
                .map(|segment| &mut segment.support)
        })
    }

    /// The person seen at the slots as `from` is `to` now: a camera track fusion had not bound yet
    /// when it was seen (`from` a camera-local id) and has bound since, or a shopper fusion merged
    /// into another. Whatever support `from` gave events not yet made counts for `to`, so that one
    /// person is not their own rival, and an event goes to the shopper rather than to nobody.
    pub fn relabel(&mut self, from: u64, to: u64) {
        if from == to {
            return;
        }
        for support in self.supports() {
            support.relabel(from, to);
        }
    }

    /// What this camera saw of the shoppers in `map` from `since` on was someone else's: each one's
    /// hand support since then goes to whom `map` names for them (a camera track bound to one shopper
    /// turned out to show another, see [`crate::verify`]). Interactions still going on and those kept
    /// for a scale reading are relabelled; events already made stand.
    pub fn relabel_since(&mut self, since: CaptureTime, map: &BTreeMap<u64, u64>) {
        if map.is_empty() {
            return;
        }
        for support in self.supports() {
            support.relabel_since(since, map);
        }
    }

    /// Turns every reading still waiting into an event now (the input ended).
    pub fn flush(&mut self, people: &[PersonView]) -> Vec<AttributedEvent> {
        let now = self
            .weights
            .iter()
            .map(|w| w.time)
            .chain(self.last_frame)
            .max();
        let Some(now) = now else {
            return Vec::new();
        };
        self.resolve_readings(now, people, true)
    }

    pub fn observe(&mut self, frame: &ShelfFrame<'_>) -> Vec<AttributedEvent> {
        let counts = self.count_products(frame.products);
        let blind_since = self.last_frame.filter(|previous| {
            frame.time.saturating_since(*previous).as_secs_f64() > self.config.blind_after_secs
        });
        self.last_frame = Some(frame.time);
        let mut out = Vec::new();
        for (index, count) in counts.into_iter().enumerate() {
            if let Some(since) = blind_since {
                self.went_blind(index, since, frame.time, frame.people);
            }
            out.extend(self.observe_slot(index, count, frame));
        }
        if !self.weights.is_empty() {
            out.extend(self.resolve_readings(frame.time, frame.people, false));
        }
        self.forget_old_stretches(frame.time);
        out
    }

    /// Matches the scale readings that have waited long enough with the stretch of hands at their slot
    /// nearest the moment the items moved (`scale_settle_secs` before the reading), and makes each an
    /// event: the quantity from the weight, the shopper from the hands. A reading waits while an
    /// interaction that began before it is still going on at the slot (up to `scale_wait_secs`, or the
    /// end of the input, `force`). With no stretch to match, nobody's hand was seen: the event goes to
    /// the shoppers standing near the slot, blind, so that it is reviewed.
    fn resolve_readings(
        &mut self,
        now: CaptureTime,
        people: &[PersonView],
        force: bool,
    ) -> Vec<AttributedEvent> {
        let config = self.config;
        let settle = Duration::from_secs_f64(config.scale_settle_secs.max(0.0));
        let mut out = Vec::new();
        let mut waiting = Vec::new();
        for reading in std::mem::take(&mut self.weights) {
            let Some(index) = self.slots.iter().position(|s| s.slot == reading.slot) else {
                tracing::warn!(slot = %reading.slot, "a scale reading for a slot this camera does not watch");
                continue;
            };
            let waited = now.saturating_since(reading.time).as_secs_f64();
            let moved = reading.time.saturating_sub(settle);
            let open = self.states[index]
                .interaction
                .as_ref()
                .filter(|i| i.started() <= reading.time);
            let ready = force
                || (open.is_none() && waited >= config.scale_match_secs)
                || waited >= config.scale_wait_secs;
            if !ready {
                waiting.push(reading);
                continue;
            }
            // the stretch whose span lies nearest the moment the items moved, an open one included
            let segment = self.stretch_at(index, moved).cloned().unwrap_or_else(|| {
                // nobody's hand was seen: whoever stands near the slot, and the event is blind
                let mut unseen = Segment::new(moved);
                unseen.ended = reading.time;
                unseen.blind = true;
                let front = self.slots[index].volume.as_ref().map(|v| v.front_center_m);
                for (shopper, support) in
                    hand_support(&self.slots[index].region, people, front, &config)
                {
                    unseen.support.add(moved, shopper, support);
                }
                unseen
            });
            out.extend(self.weighed_event(index, &segment, &reading, moved));
        }
        self.weights = waiting;
        out
    }

    /// Forgets the stretches older than any reading (this camera's or one it lends its view to) can
    /// still be matched with.
    fn forget_old_stretches(&mut self, now: CaptureTime) {
        let horizon = now.saturating_sub(Duration::from_secs_f64(
            self.config.scale_wait_secs.max(0.0) + SCALE_MATCH_WINDOW_SECS,
        ));
        for state in &mut self.states {
            state.recent.retain(|segment| segment.ended >= horizon);
        }
    }

    /// The event of a scale reading matched with a stretch of hands at the slot, with the next id.
    fn weighed_event(
        &mut self,
        index: usize,
        segment: &Segment,
        reading: &WeightReading,
        moved: CaptureTime,
    ) -> Option<AttributedEvent> {
        let event = weigh(
            &self.config,
            &self.slots[index],
            segment,
            reading,
            moved,
            self.next_event_id,
        )?;
        self.next_event_id += 1;
        Some(event)
    }

    /// Products per slot, each product counted once. Seen in perspective, the regions of neighbouring
    /// slots overlap. Where the slots carry their [`SlotVolume`], a product belongs to the slot whose
    /// rectangle in the world its line of sight lands nearest (inside, give or take [`INSIDE`]); when
    /// it lands inside several (from above, the line passes over the shelf's levels one above the
    /// other), to the highest, since that level's board hides the ones below. Otherwise the slot whose
    /// region centre is nearest takes it. A product is exclusive to its slot when nothing else could
    /// claim it: no other region holds it, or every other slot's rectangle is clearly further (by
    /// [`RIVAL_MARGIN`]) or hidden under the chosen one.
    fn count_products(&self, products: &[BBox]) -> Vec<SlotCount> {
        let mut counts = vec![SlotCount::default(); self.slots.len()];
        let mut containing: Vec<Claim> = Vec::new();
        for product in products {
            let (px, py) = (
                (product.x1 + product.x2) / 2.0,
                (product.y1 + product.y2) / 2.0,
            );
            containing.clear();
            containing.extend(
                self.slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| contains_center(&s.region, product))
                    .map(|(i, s)| {
                        let (cx, cy) = (
                            (s.region.x1 + s.region.x2) / 2.0,
                            (s.region.y1 + s.region.y2) / 2.0,
                        );
                        Claim {
                            slot: i,
                            centre_distance: (cx - px).powi(2) + (cy - py).powi(2),
                            world: s
                                .volume
                                .as_ref()
                                .map(|v| (v.outside((px, py)), v.mid_height_m)),
                        }
                    }),
            );
            let claim = if containing.len() > 1 && containing.iter().all(|c| c.world.is_some()) {
                let world = |c: &Claim| c.world.unwrap_or((f64::INFINITY, 0.0));
                containing.retain(|c| world(c).0 <= INSIDE);
                // nearest its rectangle first; of two it lies in, the higher (its board hides the other)
                containing.sort_by(|a, b| {
                    world(a)
                        .0
                        .total_cmp(&world(b).0)
                        .then(world(b).1.total_cmp(&world(a).1))
                        .then(a.centre_distance.total_cmp(&b.centre_distance))
                });
                containing.first().map(|best| {
                    let (outside, height) = world(best);
                    let rivals = containing[1..].iter().filter(|c| {
                        let (other_outside, other_height) = world(c);
                        let hidden = outside == 0.0 && other_height < height - 0.02;
                        !hidden && other_outside <= outside + RIVAL_MARGIN
                    });
                    (best.slot, rivals.count() == 0)
                })
            } else if let [only] = containing.as_slice()
                && only.world.is_some_and(|(outside, _)| outside > FAR_OUTSIDE)
            {
                // the world places it on some other slot, one this camera does not watch
                None
            } else {
                let only = containing.len() == 1;
                containing
                    .iter()
                    .min_by(|a, b| a.centre_distance.total_cmp(&b.centre_distance))
                    .map(|c| (c.slot, only))
            };
            let Some((slot, exclusive)) = claim else {
                continue;
            };
            counts[slot].total += 1;
            if exclusive {
                counts[slot].exclusive += 1;
            }
        }
        counts
    }

    /// The camera saw nothing since `since`: whatever moved in the slot meanwhile is compared across the
    /// gap, and the shoppers near the slot now are its candidates.
    fn went_blind(
        &mut self,
        index: usize,
        since: CaptureTime,
        now: CaptureTime,
        people: &[PersonView],
    ) {
        let region = self.slots[index].region;
        let front = self.slots[index].volume.as_ref().map(|v| v.front_center_m);
        let interaction = self.states[index]
            .interaction
            .get_or_insert_with(|| Interaction::new(since));
        interaction.frames_without_hand = 0;
        interaction.clear_counts.clear();
        interaction.after_counts.clear();
        let segment = &mut interaction.current;
        segment.blind = true;
        segment.ended = now;
        for (shopper, support) in hand_support(&region, people, front, &self.config) {
            segment.support.add(now, shopper, support);
        }
    }

    /// How much `hand` is in slot `index` rather than in the other slots whose regions it reaches into:
    /// its centrality in this one's region over the sum of its centralities in all of them (0..1).
    fn hand_share(&self, hand: &BBox, index: usize) -> f32 {
        let reached: f32 = self
            .slots
            .iter()
            .filter(|view| overlap_share(hand, &view.region) >= self.config.hand_overlap)
            .map(|view| centrality(hand, &view.region) + SHARE_FLOOR)
            .sum();
        let own = centrality(hand, &self.slots[index].region) + SHARE_FLOOR;
        (own / reached.max(own)).min(1.0)
    }

    fn observe_slot(
        &mut self,
        index: usize,
        count: SlotCount,
        frame: &ShelfFrame<'_>,
    ) -> Vec<AttributedEvent> {
        let config = self.config;
        let region = self.slots[index].region;
        let front = self.slots[index].volume.as_ref().map(|v| v.front_center_m);
        let hands: Vec<&BBox> = frame
            .hands
            .iter()
            .filter(|h| overlap_share(h, &region) >= config.hand_overlap)
            .filter(|h| attached(h, frame.bodies, config.hand_reach))
            .collect();
        let occluded = frame
            .bodies
            .iter()
            .any(|b| overlap_share(&region, b) >= config.occlusion_share);
        let reach: f32 = hands.iter().map(|h| centrality(h, &region)).sum();
        let hand_shares: Vec<f32> = hands.iter().map(|h| self.hand_share(h, index)).collect();
        let rival_reach: Vec<(usize, f32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(other, view)| *other != index && intersects(&view.region, &region))
            .map(|(other, view)| {
                let share: f32 = hands
                    .iter()
                    .filter(|h| overlap_share(h, &view.region) >= config.hand_overlap)
                    .map(|h| centrality(h, &view.region))
                    .sum();
                (other, share)
            })
            .filter(|(_, share)| *share > 0.0)
            .collect();
        tracing::trace!(
            camera = %frame.camera,
            slot = %self.slots[index].slot,
            seq = frame.frame_seq,
            total = count.total,
            exclusive = count.exclusive,
            hands = hands.len(),
            occluded,
            "slot count"
        );
        let state = &mut self.states[index];
        if !hands.is_empty() || occluded {
            let interaction = state
                .interaction
                .get_or_insert_with(|| Interaction::new(frame.time));
            // The slot was seen clear and settled for a moment since the last hand: what moved before
            // that moment moved before these hands came.
            if config.checkpoint_frames > 0
                && interaction.clear_counts.len() >= config.checkpoint_frames
                && let Some(checkpoint) = settle(&interaction.clear_counts)
                && checkpoint.agreement >= 1.0
            {
                let done = std::mem::replace(&mut interaction.current, Segment::new(frame.time));
                interaction.closed.push((done, checkpoint));
            }
            interaction.frames_without_hand = 0;
            interaction.clear_counts.clear();
            interaction.after_counts.clear();
            let segment = &mut interaction.current;
            segment.ended = frame.time;
            if hands.is_empty() {
                segment.body_frames += 1;
            } else {
                segment.last_hand = Some(frame.time);
                segment.hand_frames += 1;
            }
            if segment.evidence.len() < 8 {
                segment.evidence.push(Evidence {
                    camera: frame.camera.clone(),
                    frame_seq: frame.frame_seq,
                });
            }
            segment.reach += reach;
            for (other, share) in rival_reach {
                *segment.rival_reach.entry(other).or_insert(0.0) += share;
            }
            for (hand, share) in hands.into_iter().zip(hand_shares) {
                let weight = share.powf(config.hand_share_power);
                let supports = hand_support(hand, frame.people, front, &config);
                let owner = supports
                    .iter()
                    .filter(|(_, support)| *support >= OWNER_SUPPORT)
                    .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
                if let Some(&(shopper, _)) = owner.filter(|_| share >= OWNER_SHARE) {
                    segment.support.own(frame.time, shopper);
                }
                for (shopper, support) in supports {
                    segment.support.add(frame.time, shopper, weight * support);
                }
            }
            // A shopper standing in front of the slot is weak evidence (a hand can hide behind a body);
            // a hand near a shopper is strong evidence. A body over the slot's region in the image that
            // stands beyond arm's reach of the slot on the floor is only passing between it and the
            // camera, and weighs as little as a hand that far would.
            for person in frame.people {
                let share = overlap_share(&region, &person.bbox);
                if share > 0.0 {
                    let at_slot = 0.5f32.powf(beyond_reach(person, front, &config));
                    segment
                        .support
                        .add(frame.time, person.shopper, 0.1 * share * at_slot);
                }
            }
            return Vec::new();
        }
        let Some(interaction) = state.interaction.as_mut() else {
            // settled: remember the count a future interaction starts from
            state.recent_counts.push_back(count);
            if state.recent_counts.len() > config.settle_frames {
                state.recent_counts.pop_front();
            }
            if state.recent_counts.len() == config.settle_frames {
                state.before = settle(&state.recent_counts);
            }
            return Vec::new();
        };
        interaction.frames_without_hand += 1;
        interaction.clear_counts.push(count);
        if interaction.frames_without_hand <= config.hand_gap_frames {
            return Vec::new();
        }
        interaction.after_counts.push_back(count);
        if interaction.after_counts.len() < config.settle_frames {
            return Vec::new();
        }
        let after = settle(&interaction.after_counts).unwrap_or(Settled {
            count,
            agreement: 1.0,
        });
        let Some(finished) = state.interaction.take() else {
            return Vec::new();
        };
        let before = state.before.unwrap_or(after);
        state.recent_counts = finished.after_counts.clone();
        state.before = Some(after);
        let mut out = Vec::new();
        let mut from = before;
        let segments = finished
            .closed
            .into_iter()
            .chain(std::iter::once((finished.current, after)));
        for (segment, to) in segments {
            if let Some(event) = self.segment_event(index, segment, from, to, frame.camera) {
                out.push(event);
            }
            from = to;
        }
        out
    }

    /// The event (if any) of one stretch of an interaction: the change from the settled count `before`
    /// it to the one `after`.
    fn segment_event(
        &mut self,
        index: usize,
        segment: Segment,
        before: Settled,
        after: Settled,
        camera: &CameraId,
    ) -> Option<AttributedEvent> {
        let config = self.config;
        let slot = &self.slots[index];
        if slot.unit_weight_g.is_some() || slot.lends_only {
            // the scale tells whether and how much moved; the stretch waits for its reading (or for
            // the watching camera's, when this one only lends its view)
            self.states[index].recent.push_back(segment);
            return None;
        }
        let moved_at = segment.last_hand.unwrap_or(segment.started);
        let delta = i64::from(after.count.total) - i64::from(before.count.total);
        let exclusive_delta = i64::from(after.count.exclusive) - i64::from(before.count.exclusive);
        if delta == 0 {
            return None;
        }
        let (shopper, margin) = attribute(&segment.support.total);
        // a change in the slot's own part is sure; one in an overlap is as sure as the hands were in
        // this slot rather than the other
        let certainty = if exclusive_delta == delta {
            1.0
        } else {
            let rival = segment.rival_reach.values().copied().fold(0.0, f32::max);
            reach_margin(segment.reach, rival).max(slot_certainty(delta, exclusive_delta))
        };
        let mut confidence = margin
            * certainty.powf(config.overlap_penalty)
            * before
                .agreement
                .min(after.agreement)
                .powf(config.unsettled_penalty);
        if segment.last_hand.is_none() {
            confidence = confidence.min(config.handless_confidence);
        }
        if segment.blind {
            confidence = confidence.min(config.blind_confidence);
        }
        let hand_frames = segment.support.hand_frames(None);
        let rivals = rivals(&segment.support.total, &hand_frames, shopper, &config);
        let id = self.next_event_id;
        self.next_event_id += 1;
        tracing::debug!(
            camera = %camera,
            slot = %slot.slot,
            id,
            at = moved_at.unix_nanos,
            delta,
            before = before.count.total,
            before_agreement = before.agreement,
            after = after.count.total,
            after_agreement = after.agreement,
            hand_frames = segment.hand_frames,
            body_frames = segment.body_frames,
            blind = segment.blind,
            certainty,
            confidence,
            shopper = ?shopper,
            support = ?segment.support.total,
            hands = ?hand_frames,
            "shelf event"
        );
        Some(AttributedEvent {
            event: ShelfEvent {
                id,
                time: moved_at,
                slot: slot.slot.clone(),
                sku: slot.sku.clone(),
                kind: if delta < 0 {
                    EventKind::Pick
                } else {
                    EventKind::Put
                },
                quantity: delta.unsigned_abs() as u32,
                session: None,
                confidence,
                evidence: segment.evidence,
            },
            shopper,
            rivals,
            span: (segment.started, segment.ended),
            blind: segment.blind,
            weighed: None,
        })
    }
}

/// The event of a scale reading matched with a stretch of hands at the slot; it happened at `moved`
/// (the scale knows when better than the camera: one stretch of hands can hold a pick and a put-back).
fn weigh(
    config: &ShelfConfig,
    slot: &SlotView,
    segment: &Segment,
    reading: &WeightReading,
    moved: CaptureTime,
    id: u64,
) -> Option<AttributedEvent> {
    let Some(unit) = slot.unit_weight_g else {
        tracing::warn!(slot = %slot.slot, delta_g = reading.delta_g, "a scale reading for a slot with no unit weight: set the slot's unit_weight_g");
        return None;
    };
    let units = reading.delta_g / unit.max(1e-6);
    // a whole number of this slot's units is sure; half-way between two (another product put here, a
    // reading gone wrong) is worth nothing
    let (quantity, whole) = whole_units(reading.delta_g, unit);
    let support = segment.support.around(moved, config.scale_moment_secs);
    let (shopper, margin) = attribute(&support);
    let capped = |mut confidence: f32| {
        if segment.last_hand.is_none() {
            confidence = confidence.min(config.handless_confidence);
        }
        if segment.blind {
            confidence = confidence.min(config.blind_confidence);
        }
        confidence
    };
    let confidence = capped(margin * whole);
    let attribution_confidence = capped(margin);
    let near = (config.scale_moment_secs > 0.0).then_some((moved, 2.0 * config.scale_moment_secs));
    let hand_frames = segment.support.hand_frames(near);
    let rivals = rivals(&support, &hand_frames, shopper, config);
    tracing::debug!(
        slot = %slot.slot,
        id,
        lent = slot.lends_only,
        moved = moved.unix_nanos,
        delta_g = reading.delta_g,
        units,
        hand_frames = segment.hand_frames,
        body_frames = segment.body_frames,
        blind = segment.blind,
        confidence,
        shopper = ?shopper,
        support = ?support,
        hands = ?hand_frames,
        "scale event"
    );
    Some(AttributedEvent {
        event: ShelfEvent {
            id,
            time: moved,
            slot: slot.slot.clone(),
            sku: slot.sku.clone(),
            kind: if reading.delta_g < 0.0 {
                EventKind::Pick
            } else {
                EventKind::Put
            },
            quantity,
            session: None,
            confidence,
            evidence: segment.evidence.clone(),
        },
        shopper,
        rivals,
        span: (segment.started, segment.ended.max(reading.time)),
        blind: segment.blind,
        weighed: Some(Weighed {
            reading: reading.clone(),
            moved,
            hand_frames: segment.hand_frames,
            body_frames: segment.body_frames,
            attribution_confidence,
            shown: segment
                .support
                .shown_near(moved, 2.0 * config.scale_moment_secs),
            support,
        }),
    })
}

/// The others whose support reaches `rival_share` of the chosen shopper's, and those whose own hand was
/// in the slot for `rival_hand_frames` frames or more (`hand_frames`), however little that weighs
/// against the chosen one's: a quick reach during a long stretch others spent at the slot can be the
/// one that took the item.
fn rivals(
    support: &BTreeMap<u64, f32>,
    hand_frames: &BTreeMap<u64, u32>,
    chosen: Option<u64>,
    config: &ShelfConfig,
) -> Vec<u64> {
    let best = chosen.and_then(|s| support.get(&s)).copied().unwrap_or(0.0);
    let by_support = support
        .iter()
        .filter(|(_, v)| best > 0.0 && **v >= config.rival_share * best)
        .map(|(s, _)| *s);
    let by_hand = hand_frames
        .iter()
        .filter(|(_, n)| config.rival_hand_frames > 0 && **n >= config.rival_hand_frames)
        .map(|(s, _)| *s);
    by_support
        .chain(by_hand)
        .filter(|s| Some(*s) != chosen)
        .collect::<BTreeSet<u64>>()
        .into_iter()
        .collect()
}

/// The best-supported shopper and the margin to the next, `(best - second) / best`.
pub(crate) fn attribute(support: &BTreeMap<u64, f32>) -> (Option<u64>, f32) {
    let mut ranked: Vec<(u64, f32)> = support.iter().map(|(k, v)| (*k, *v)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    match ranked.as_slice() {
        [] => (None, 0.0),
        [(best, s)] if *s > 0.0 => (Some(*best), 1.0),
        [(best, s1), (_, s2), ..] if *s1 > 0.0 => (Some(*best), (s1 - s2) / s1),
        _ => (None, 0.0),
    }
}

/// How much a hand supports each person: 1 when the hand is on the person's box, halving every
/// `scale` person-heights further away.
/// Each person's support for a hand at the slot whose front is `front`: halving with the hand's distance
/// from their box (in box heights, per `attribution_scale`) and with how far beyond arm's reach of the
/// slot they stand on the floor (`floor_reach_m`).
fn hand_support(
    hand: &BBox,
    people: &[PersonView],
    front: Option<[f64; 2]>,
    config: &ShelfConfig,
) -> Vec<(u64, f32)> {
    let (hx, hy) = ((hand.x1 + hand.x2) / 2.0, (hand.y1 + hand.y2) / 2.0);
    let scale = config.attribution_scale.max(1e-3);
    people
        .iter()
        .map(|p| {
            let dx = (p.bbox.x1 - hx).max(hx - p.bbox.x2).max(0.0);
            let dy = (p.bbox.y1 - hy).max(hy - p.bbox.y2).max(0.0);
            let distance = (dx * dx + dy * dy).sqrt() / p.bbox.height().max(1.0);
            (
                p.shopper,
                0.5f32.powf(distance / scale + beyond_reach(p, front, config)),
            )
        })
        .collect()
}

/// How many `floor_reach_m` the person stands beyond arm's reach (`arm_reach_m`) of the slot's front,
/// where both are known on the floor (0 otherwise, or with `floor_reach_m` 0).
fn beyond_reach(person: &PersonView, front: Option<[f64; 2]>, config: &ShelfConfig) -> f32 {
    match (front, person.floor_m) {
        (Some(f), Some(at)) if config.floor_reach_m > 0.0 => {
            let d = ((at[0] - f[0]).powi(2) + (at[1] - f[1]).powi(2)).sqrt();
            ((d - config.arm_reach_m).max(0.0) / config.floor_reach_m) as f32
        }
        _ => 0.0,
    }
}

/// Whether the hand lies within `reach` person-heights of some person box (its centre's distance to the
/// box, 0 inside it).
fn attached(hand: &BBox, bodies: &[BBox], reach: f32) -> bool {
    let (hx, hy) = ((hand.x1 + hand.x2) / 2.0, (hand.y1 + hand.y2) / 2.0);
    bodies.iter().any(|b| {
        let dx = (b.x1 - hx).max(hx - b.x2).max(0.0);
        let dy = (b.y1 - hy).max(hy - b.y2).max(0.0);
        (dx * dx + dy * dy).sqrt() <= reach * b.height().max(1.0)
    })
}

/// 1 when the box's centre is the region's centre, falling to 0 at the region's edge (the larger of the
/// horizontal and vertical offsets, each relative to the region's half size): a hand reaching into a
/// slot lies deep in its region, and at most at the edge of a neighbour's that overlaps it.
fn centrality(b: &BBox, region: &BBox) -> f32 {
    let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    let (rx, ry) = ((region.x1 + region.x2) / 2.0, (region.y1 + region.y2) / 2.0);
    let dx = (cx - rx).abs() / (region.width() / 2.0).max(1e-3);
    let dy = (cy - ry).abs() / (region.height() / 2.0).max(1e-3);
    (1.0 - dx.max(dy)).max(0.0)
}

fn intersects(a: &BBox, b: &BBox) -> bool {
    a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2
}

fn contains_center(region: &BBox, b: &BBox) -> bool {
    let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    cx >= region.x1 && cx <= region.x2 && cy >= region.y1 && cy <= region.y2
}

fn overlap_share(hand: &BBox, region: &BBox) -> f32 {
    if hand.area() <= 0.0 {
        0.0
    } else {
        hand.intersection(region) / hand.area()
    }
}

/// The median count of a window of frames (by total, ties broken by the exclusive share) and how
/// many frames agree with it.
fn settle<'a>(values: impl IntoIterator<Item = &'a SlotCount>) -> Option<Settled> {
    let mut sorted: Vec<SlotCount> = values.into_iter().copied().collect();
    sorted.sort_unstable();
    let count = sorted.get(sorted.len() / 2).copied()?;
    let agreeing = sorted.iter().filter(|c| c.total == count.total).count();
    Some(Settled {
        count,
        agreement: agreeing as f32 / sorted.len() as f32,
    })
}

/// 0..1: how much more the hands reached into this slot than into the strongest rival, `(own - rival)
/// / own`.
fn reach_margin(own: f32, rival: f32) -> f32 {
    if own <= 0.0 {
        return 0.0;
    }
    ((own - rival) / own).clamp(0.0, 1.0)
}

/// 0..1: how much of a slot's count change happened where no other slot's region reaches. A change
/// the exclusive part does not show, or shows the other way, may belong to a neighbour; one the
/// exclusive part shows larger means products also appeared in the overlap.
fn slot_certainty(delta: i64, exclusive_delta: i64) -> f32 {
    if delta == 0 || exclusive_delta.signum() != delta.signum() {
        return 0.0;
    }
    let (d, e) = (delta.unsigned_abs(), exclusive_delta.unsigned_abs());
    d.min(e) as f32 / d.max(e) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: BBox = BBox {
        x1: 100.0,
        y1: 100.0,
        x2: 200.0,
        y2: 150.0,
    };

    fn products(n: usize) -> Vec<BBox> {
        (0..n)
            .map(|i| {
                BBox::new(
                    105.0 + i as f32 * 15.0,
                    110.0,
                    115.0 + i as f32 * 15.0,
                    140.0,
                )
            })
            .collect()
    }

    struct Script {
        watcher: ShelfWatcher,
        camera: CameraId,
        seq: u64,
    }

    impl Script {
        fn new(unit_weight_g: Option<f64>) -> Self {
            Self::with_slot(SlotView {
                slot: "A1".into(),
                sku: "cola".into(),
                region: SLOT,
                unit_weight_g,
                volume: None,
                lends_only: false,
            })
        }

        fn with_slot(slot: SlotView) -> Self {
            Self {
                watcher: ShelfWatcher::new(ShelfConfig::default(), vec![slot], 1),
                camera: CameraId::new("cam"),
                seq: 0,
            }
        }

        fn frames(
            &mut self,
            n: usize,
            products_seen: usize,
            hands: &[BBox],
            people: &[PersonView],
        ) -> Vec<AttributedEvent> {
            let boxes = products(products_seen);
            let mut events = Vec::new();
            for _ in 0..n {
                self.seq += 1;
                let bodies: Vec<BBox> = people.iter().map(|p| p.bbox).collect();
                let frame = ShelfFrame {
                    camera: &self.camera,
                    frame_seq: self.seq,
                    time: CaptureTime::from_unix_millis(self.seq * 100),
                    products: &boxes,
                    hands,
                    people,
                    bodies: &bodies,
                };
                events.extend(self.watcher.observe(&frame));
            }
            events
        }
    }

    fn person(shopper: u64, x: f32) -> PersonView {
        PersonView {
            shopper,
            bbox: BBox::new(x, 120.0, x + 60.0, 400.0),
            floor_m: None,
        }
    }

    /// [`person`], standing at `floor_m` on the floor.
    fn person_at(shopper: u64, x: f32, floor_m: [f64; 2]) -> PersonView {
        PersonView {
            floor_m: Some(floor_m),
            ..person(shopper, x)
        }
    }

    #[test]
    fn a_pick_is_the_settled_count_drop_around_a_hand() {
        let mut s = Script::new(None);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let near = person(7, 150.0);
        let far = person(8, 500.0);
        // the shopper walks up, reaches in, and walks away: counts settle only when the slot is clear
        assert!(s.frames(10, 4, &[], &[far]).is_empty());
        // the hand hides products while it reaches: counts during the interaction are ignored
        assert!(s.frames(6, 1, &hand, &[near, far]).is_empty());
        let events = s.frames(12, 2, &[], &[far]);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(
            (e.event.kind, e.event.quantity, e.shopper),
            (EventKind::Pick, 2, Some(7))
        );
        assert!(e.event.confidence > 0.9, "{}", e.event.confidence);
        assert!(e.rivals.is_empty(), "{:?}", e.rivals);
        assert_eq!(e.event.evidence.len(), 6);
        assert_eq!(e.event.sku, "cola");
    }

    #[test]
    fn a_put_back_raises_the_count() {
        let mut s = Script::new(None);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let p = [person(3, 150.0)];
        s.frames(10, 2, &[], &[]);
        s.frames(3, 0, &hand, &p);
        let events = s.frames(12, 3, &[], &[]);
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].event.kind, events[0].event.quantity),
            (EventKind::Put, 1)
        );
    }

    #[test]
    fn the_event_is_when_the_hand_was_last_in_the_slot_not_when_the_body_left() {
        let mut s = Script::new(None);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let p = [person(3, 150.0)];
        s.frames(10, 4, &[], &[]);
        // the hand is in the slot in frames 11..=13, then the shopper lingers in front of it for 3 s
        s.frames(3, 0, &hand, &p);
        assert!(s.frames(30, 0, &[], &p).is_empty());
        let events = s.frames(12, 3, &[], &[]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.time, CaptureTime::from_unix_millis(1_300));
    }

    /// Shopper 7 takes one, the slot is seen clear for half a second, then shopper 8 reaches in.
    fn two_reaches_in_a_row(checkpoint_frames: usize, second_count: usize) -> Vec<AttributedEvent> {
        let mut s = Script::new(None);
        s.watcher.config.checkpoint_frames = checkpoint_frames;
        let first = [BBox::new(160.0, 120.0, 180.0, 140.0)];
        let second = [BBox::new(100.0, 120.0, 120.0, 140.0)];
        let mut events = s.frames(10, 4, &[], &[]);
        events.extend(s.frames(6, 1, &first, &[person(7, 150.0)]));
        events.extend(s.frames(5, 3, &[], &[]));
        events.extend(s.frames(6, 1, &second, &[person(8, 40.0)]));
        events.extend(s.frames(12, second_count, &[], &[]));
        events
    }

    #[test]
    fn a_short_clear_view_between_two_reaches_splits_their_events() {
        let events = two_reaches_in_a_row(4, 3);
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!(
            (e.event.kind, e.event.quantity, e.shopper),
            (EventKind::Pick, 1, Some(7))
        );
        assert!(e.event.confidence > 0.9, "{}", e.event.confidence);
        assert!(e.rivals.is_empty(), "{:?}", e.rivals);
        assert_eq!(e.event.time, CaptureTime::from_unix_millis(1_600));
        // the second shopper's stretch is theirs: they put one back
        let events = two_reaches_in_a_row(4, 4);
        let kinds: Vec<_> = events
            .iter()
            .map(|e| (e.event.kind, e.event.quantity, e.shopper))
            .collect();
        assert_eq!(
            kinds,
            vec![(EventKind::Pick, 1, Some(7)), (EventKind::Put, 1, Some(8))]
        );
        // unsplit, the two reaches are one interaction: the pick is contested between them
        let events = two_reaches_in_a_row(0, 3);
        assert_eq!(events.len(), 1);
        assert!(events[0].rivals.contains(&8) || events[0].shopper == Some(8));
        assert!(events[0].event.confidence < 0.9);
    }

    #[test]
    fn a_pick_while_the_camera_was_out_is_an_event_for_review() {
        let mut s = Script::new(None);
        assert!(s.frames(10, 4, &[], &[]).is_empty());
        // three seconds without frames; afterwards one is gone and a shopper stands beside the slot
        s.seq += 30;
        let events = s.frames(12, 3, &[], &[person(5, 210.0)]);
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!(
            (e.event.kind, e.event.quantity, e.shopper),
            (EventKind::Pick, 1, Some(5))
        );
        assert_eq!(e.event.confidence, 0.0);
        // nobody near afterwards: still an event, for nobody
        let mut s = Script::new(None);
        s.frames(10, 4, &[], &[]);
        s.seq += 30;
        let events = s.frames(12, 3, &[], &[]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].shopper, None);
        // a gap with nothing moved is no event
        let mut s = Script::new(None);
        s.frames(10, 4, &[], &[]);
        s.seq += 30;
        assert!(s.frames(12, 4, &[], &[person(5, 210.0)]).is_empty());
    }

    #[test]
    fn touching_without_taking_is_no_event() {
        let mut s = Script::new(None);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        s.frames(10, 3, &[], &[]);
        s.frames(5, 1, &hand, &[person(3, 150.0)]);
        assert!(s.frames(12, 3, &[], &[]).is_empty());
    }

    #[test]
    fn a_hand_nobody_stands_near_is_no_hand() {
        let mut s = Script::new(None);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        // the nearest person box ends 300 px (about one of its heights) to the right of the hand
        let far = person(8, 460.0);
        s.frames(10, 4, &[], &[far]);
        assert!(s.frames(6, 1, &hand, &[far]).is_empty());
        // the products it "took" were only missed by the detector for a moment
        assert!(s.frames(12, 4, &[], &[far]).is_empty());
        // the same change with a shopper at the slot is a pick
        s.frames(6, 1, &hand, &[person(3, 150.0), far]);
        let events = s.frames(12, 2, &[], &[far]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].shopper, Some(3));
    }

    #[test]
    fn a_change_only_a_body_hid_goes_to_review_when_so_configured() {
        let mut s = Script::new(None);
        s.watcher.config.handless_confidence = 0.5;
        let body = [person(3, 120.0)];
        s.frames(10, 4, &[], &[]);
        // a shopper stands in front of the slot, no hand is ever seen in it, and then one unit is gone
        assert!(s.frames(8, 0, &[], &body).is_empty());
        let events = s.frames(12, 3, &[], &[]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].shopper, Some(3));
        assert!(
            reviewed(events[0].event.confidence),
            "{}",
            events[0].event.confidence
        );
    }

    #[test]
    fn two_shoppers_equally_close_give_low_confidence() {
        let mut s = Script::new(None);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let both = [person(1, 90.0), person(2, 150.0)];
        s.frames(10, 3, &[], &[]);
        s.frames(4, 0, &hand, &both);
        let events = s.frames(12, 2, &[], &[]);
        assert_eq!(events.len(), 1);
        assert!(
            events[0].event.confidence < 0.1,
            "{}",
            events[0].event.confidence
        );
        let chosen = events[0].shopper.unwrap();
        assert_eq!(events[0].rivals, vec![3 - chosen]);
    }

    /// Shopper 1 reaches in for `quick` frames while another shopper's body already hides the slot;
    /// shopper 2 then reaches in for 30 frames; one item is gone when the slot is seen again.
    fn a_quick_reach_in_a_long_hidden_stretch(
        rival_hand_frames: u32,
        quick: usize,
    ) -> AttributedEvent {
        let mut s = Script::new(None);
        s.watcher.config.rival_hand_frames = rival_hand_frames;
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let (quick_one, long_one) = (person(1, 100.0), person(2, 145.0));
        s.frames(10, 4, &[], &[]);
        s.frames(quick, 0, &hand, &[quick_one]);
        s.frames(10, 0, &[], &[long_one]);
        s.frames(30, 0, &hand, &[long_one]);
        let events = s.frames(12, 3, &[], &[]);
        assert_eq!(events.len(), 1);
        events.into_iter().next().unwrap()
    }

    #[test]
    fn a_shopper_whose_hand_was_in_the_slot_for_a_moment_is_a_rival_however_little_it_weighs() {
        let event = a_quick_reach_in_a_long_hidden_stretch(2, 2);
        assert_eq!(event.shopper, Some(2));
        // two frames of hand against thirty: under the share that makes a rival by support alone
        assert!(event.event.confidence > 0.9, "{}", event.event.confidence);
        assert_eq!(event.rivals, vec![1]);
        // without the rule, shopper 1 would not be reviewed for the item they may have taken
        assert!(
            a_quick_reach_in_a_long_hidden_stretch(0, 2)
                .rivals
                .is_empty()
        );
        // one frame of a hand is not yet a sighting
        assert!(
            a_quick_reach_in_a_long_hidden_stretch(2, 1)
                .rivals
                .is_empty()
        );
    }

    #[test]
    fn of_two_shoppers_near_the_hand_the_one_standing_at_the_slot_took_it() {
        // the same two boxes around the hand as above, but on the floor one of them stands at the slot's
        // front (x 1.0..2.0 m) and the other two metres along the shelf
        let mut slot = slot_in_world("A1", SLOT, [1.0, 2.0], 1.0, 0.0);
        if let Some(volume) = &mut slot.volume {
            // the slot's pixels on its board, 1.0..2.0 m along and 0.4..0.6 m deep
            volume.plane_from_image = Matrix3::new(0.01, 0.0, 0.0, 0.0, 0.004, 0.0, 0.0, 0.0, 1.0);
        }
        let mut s = Script::with_slot(slot);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let both = [
            person_at(1, 90.0, [3.3, -0.5]),
            person_at(2, 150.0, [1.5, -0.4]),
        ];
        s.frames(10, 3, &[], &[]);
        s.frames(4, 0, &hand, &both);
        let events = s.frames(12, 2, &[], &[]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].shopper, Some(2));
        assert!(events[0].rivals.is_empty(), "{:?}", events[0].rivals);
        let confidence = events[0].event.confidence;
        assert!(
            confidence >= crate::sessions::SessionConfig::default().min_event_confidence,
            "{confidence}"
        );
    }

    /// A slot on a scale, no hand ever seen at it: shopper 1 stands at its front and covers a little of
    /// its region in the image; shopper 2, two metres along the shelf, passes between it and the camera
    /// and covers twice as much. The scale says an item went.
    fn bodies_only_at_a_scale(config: ShelfConfig) -> AttributedEvent {
        let slot = SlotView {
            unit_weight_g: Some(350.0),
            ..slot_in_world("A1", SLOT, [1.0, 2.0], 1.0, 0.0)
        };
        let mut s = Script::with_slot(slot);
        s.watcher = ShelfWatcher::new(config, s.watcher.slots.clone(), 1);
        let both = [
            person_at(1, 170.0, [1.5, -0.4]),
            person_at(2, 100.0, [3.5, -0.5]),
        ];
        s.frames(10, 3, &[], &[]);
        s.frames(10, 3, &[], &both);
        s.watcher.weight(reading(-350.0, 2_000));
        let events = s.frames(20, 3, &[], &[]);
        assert_eq!(events.len(), 1, "{events:?}");
        events[0].clone()
    }

    #[test]
    fn a_body_passing_between_the_camera_and_the_slot_weighs_less_than_one_standing_at_it() {
        let e = bodies_only_at_a_scale(ShelfConfig::default());
        assert_eq!(e.shopper, Some(1), "{e:?}");
        // without the floor, the larger body in the image takes it
        let e = bodies_only_at_a_scale(ShelfConfig {
            floor_reach_m: 0.0,
            ..ShelfConfig::default()
        });
        assert_eq!(e.shopper, Some(2), "{e:?}");
    }

    fn reading(delta_g: f64, at_millis: u64) -> WeightReading {
        WeightReading {
            slot: "A1".into(),
            delta_g,
            time: CaptureTime::from_unix_millis(at_millis),
        }
    }

    #[test]
    fn on_a_scale_the_reading_says_how_many_and_the_hands_say_whose() {
        let mut s = Script::new(Some(350.0));
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let p = [person(3, 150.0)];
        s.frames(10, 4, &[], &[]);
        // hands in the slot at 1.1-1.4 s; the scale settles half a second after the items moved
        s.frames(4, 0, &hand, &p);
        // vision sees one item gone (two stacked cans look like one); the scale says two
        s.watcher.weight(reading(-702.0, 1_900));
        let events = s.frames(20, 3, &[], &[]);
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!((e.event.kind, e.event.quantity), (EventKind::Pick, 2));
        assert_eq!(e.shopper, Some(3));
        assert!(!e.blind);
        assert!(e.event.confidence > 0.9, "{}", e.event.confidence);
        // when the items moved, from the scale: its reading less its settle time
        assert_eq!(e.event.time, CaptureTime::from_unix_millis(1_400));
    }

    /// One stretch of hands at the slot: shopper 3's hand for two seconds, then shopper 4's for half a
    /// second, both standing as close. The scale says when the item moved: at the end of the stretch.
    fn two_shoppers_reaching_in_turn(config: ShelfConfig) -> AttributedEvent {
        let mut s = Script::new(Some(350.0));
        s.watcher = ShelfWatcher::new(config, s.watcher.slots.clone(), 1);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let (first, second) = ([person(3, 110.0)], [person(4, 130.0)]);
        s.frames(10, 4, &[], &[]);
        // the frames run at 100 ms: shopper 3's hand in the slot from 1.1 s to 3.0 s, shopper 4's
        // from 3.1 s to 3.5 s; the item moved at 3.4 s, and the scale reported it settled half a
        // second later
        s.frames(20, 0, &hand, &first);
        s.frames(5, 0, &hand, &second);
        s.watcher.weight(reading(-350.0, 3_900));
        let events = s.frames(20, 3, &[], &[]);
        assert_eq!(events.len(), 1, "{events:?}");
        events[0].clone()
    }

    #[test]
    fn on_a_scale_the_hand_in_the_slot_when_the_item_moved_decides() {
        let e = two_shoppers_reaching_in_turn(ShelfConfig::default());
        assert_eq!(e.shopper, Some(4), "{e:?}");
        // shopper 3's hand was there until 0.4 s before: still a rival, and the event is reviewed
        assert_eq!(e.rivals, vec![3]);
        assert!(e.event.confidence < 0.6, "{}", e.event.confidence);
        // without the moment, the longer stretch of hands wins
        let e = two_shoppers_reaching_in_turn(ShelfConfig {
            scale_moment_secs: 0.0,
            ..ShelfConfig::default()
        });
        assert_eq!(e.shopper, Some(3), "{e:?}");
    }

    #[test]
    fn a_hand_is_shared_between_overlapping_slots_by_how_centrally_it_lies_in_each() {
        // "left" spans x 0..100, "right" 80..200: a hand at x 90..110 lies at the very edge of "left"
        // and a third of the way into "right"
        let watcher = overlapping_pair();
        let at_the_edge = BBox::new(90.0, 115.0, 110.0, 135.0);
        let (left, right) = (
            watcher.hand_share(&at_the_edge, 0),
            watcher.hand_share(&at_the_edge, 1),
        );
        assert!(left < 0.15, "{left}");
        assert!((left + right - 1.0).abs() < 1e-6, "{left} + {right}");
        // a hand inside one region only is wholly that slot's
        let inside = BBox::new(40.0, 115.0, 60.0, 135.0);
        assert_eq!(watcher.hand_share(&inside, 0), 1.0);
    }

    #[test]
    fn a_hand_reaching_into_a_neighbours_slot_hardly_supports_its_person_at_this_one() {
        // shopper 1's hand lies at the edge of "left" and in "right"; shopper 2's in the middle of
        // "left", from which a unit goes
        let run = |config: ShelfConfig| {
            let mut watcher = overlapping_pair();
            watcher.config = config;
            let mut seq = 0;
            let on_left: Vec<BBox> = [20.0, 40.0, 60.0].map(product_at).to_vec();
            let on_right: Vec<BBox> = [150.0, 170.0].map(product_at).to_vec();
            let all: Vec<BBox> = on_left.iter().chain(&on_right).copied().collect();
            let hands = [
                BBox::new(95.0, 115.0, 115.0, 135.0),
                BBox::new(10.0, 115.0, 30.0, 135.0),
            ];
            let people = [
                PersonView {
                    shopper: 1,
                    bbox: BBox::new(100.0, 110.0, 200.0, 170.0),
                    floor_m: None,
                },
                PersonView {
                    shopper: 2,
                    bbox: BBox::new(-80.0, 110.0, 25.0, 170.0),
                    floor_m: None,
                },
            ];
            run_frames(&mut watcher, &mut seq, 10, &all, &[], &[]);
            run_frames(&mut watcher, &mut seq, 6, &[], &hands, &people);
            let after: Vec<BBox> = on_left[..2].iter().chain(&on_right).copied().collect();
            let events = run_frames(&mut watcher, &mut seq, 20, &after, &[], &[]);
            let left: Vec<AttributedEvent> = events
                .into_iter()
                .filter(|e| e.event.slot == "left")
                .collect();
            assert_eq!(left.len(), 1, "{left:?}");
            left[0].clone()
        };
        let shared = run(ShelfConfig::default());
        let whole = run(ShelfConfig {
            hand_share_power: 0.0,
            ..ShelfConfig::default()
        });
        assert_eq!(shared.shopper, Some(2), "{shared:?}");
        assert!(shared.event.confidence > 0.8, "{shared:?}");
        // counted fully at every slot it overlaps, shopper 1's hand in the neighbour's slot weighs as
        // much as shopper 2's own: a tie
        assert_eq!(whole.rivals.len(), 1, "{whole:?}");
        assert!(whole.event.confidence < 0.1, "{whole:?}");
    }

    #[test]
    fn a_person_bound_after_reaching_in_is_one_shopper_not_their_own_rival() {
        let local = crate::store::LOCAL_ID_BASE + 5;
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        for relabelled in [false, true] {
            let mut s = Script::new(Some(350.0));
            s.frames(10, 4, &[], &[]);
            // the camera's new track reaches in before fusion binds it to shopper 3, then as 3
            s.frames(3, 0, &hand, &[person(local, 150.0)]);
            s.frames(3, 0, &hand, &[person(3, 150.0)]);
            if relabelled {
                s.watcher.relabel(local, 3);
            }
            s.watcher.weight(reading(-350.0, 1_600));
            let events = s.frames(20, 3, &[], &[]);
            assert_eq!(events.len(), 1, "{events:?}");
            let e = &events[0];
            if relabelled {
                assert_eq!(e.shopper, Some(3));
                assert!(e.rivals.is_empty(), "{:?}", e.rivals);
                assert!(e.event.confidence > 0.9, "{}", e.event.confidence);
            } else {
                // half its frames under another id: a rival of itself, and the event unsure
                assert!(
                    e.rivals.contains(&local) || e.shopper == Some(local),
                    "{e:?}"
                );
                assert!(e.event.confidence < 0.5, "{}", e.event.confidence);
            }
        }
    }

    #[test]
    fn relabelling_since_a_moment_moves_only_what_was_seen_from_then_on() {
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let mut s = Script::new(None);
        s.frames(10, 4, &[], &[]);
        // a hand in the slot on the box bound to shopper 3 for ten frames (1.1 .. 2.0 s), the last
        // six of which turn out to have shown shopper 7
        s.frames(10, 0, &hand, &[person(3, 150.0)]);
        let since = CaptureTime::from_unix_millis(1_500);
        s.watcher.relabel_since(since, &BTreeMap::from([(3, 7)]));
        let events = s.frames(12, 3, &[], &[]);
        assert_eq!(events.len(), 1, "{events:?}");
        // six frames against four: 7's, with 3 a rival
        assert_eq!(events[0].shopper, Some(7));
        assert_eq!(events[0].rivals, vec![3]);
        assert!(events[0].event.confidence < 0.5, "{:?}", events[0].event);

        // from before the hand came: all of it is 7's
        let mut s = Script::new(None);
        s.frames(10, 4, &[], &[]);
        s.frames(10, 0, &hand, &[person(3, 150.0)]);
        s.watcher
            .relabel_since(CaptureTime::from_unix_millis(0), &BTreeMap::from([(3, 7)]));
        let events = s.frames(12, 3, &[], &[]);
        assert_eq!(events[0].shopper, Some(7));
        assert!(events[0].rivals.is_empty(), "{:?}", events[0].rivals);
    }

    #[test]
    fn relabelling_reaches_an_interaction_still_going_on() {
        let local = crate::store::LOCAL_ID_BASE + 5;
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let mut s = Script::new(None);
        s.frames(10, 4, &[], &[]);
        s.frames(4, 0, &hand, &[person(local, 150.0)]);
        s.watcher.relabel(local, 3);
        s.frames(2, 0, &hand, &[person(3, 150.0)]);
        let events = s.frames(12, 3, &[], &[]);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].shopper, Some(3));
        assert!(events[0].rivals.is_empty(), "{:?}", events[0].rivals);
    }

    #[test]
    fn on_a_scale_a_count_that_moves_without_a_reading_is_no_event() {
        let mut s = Script::new(Some(350.0));
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let p = [person(3, 150.0)];
        s.frames(10, 4, &[], &[]);
        s.frames(4, 0, &hand, &p);
        // the detector's count drops by two, the scale reports nothing: a hand touched, nothing moved
        let mut events = s.frames(20, 2, &[], &[]);
        events.extend(s.watcher.flush(&p));
        assert!(events.is_empty(), "{events:?}");
        // the same without a scale is a pick of two
        let mut camera_only = Script::new(None);
        camera_only.frames(10, 4, &[], &[]);
        camera_only.frames(4, 0, &hand, &p);
        let events = camera_only.frames(20, 2, &[], &[]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.quantity, 2);
    }

    #[test]
    fn a_reading_no_hand_was_seen_at_is_blind_and_goes_to_whoever_stood_there() {
        let mut s = Script::new(Some(350.0));
        let p = [person(3, 150.0)];
        s.frames(10, 4, &[], &[]);
        s.watcher.weight(reading(-350.0, 1_200));
        // the person stands beside the slot, no hand or body over it: the camera saw nothing move
        let beside = [PersonView {
            bbox: BBox::new(210.0, 60.0, 260.0, 200.0),
            ..p[0]
        }];
        let waiting = s.frames(5, 4, &[], &beside);
        assert!(
            waiting.is_empty(),
            "a reading waits for the camera to catch up"
        );
        let events = s.frames(10, 4, &[], &beside);
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert!(e.blind);
        assert_eq!((e.event.kind, e.event.quantity), (EventKind::Pick, 1));
        assert_eq!(e.shopper, Some(3));
        assert!(e.event.confidence <= ShelfConfig::default().blind_confidence);
    }

    #[test]
    fn a_camera_lending_its_view_weighs_a_reading_from_what_it_saw_at_the_slot() {
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let p = [person(3, 150.0)];
        let beside = [PersonView {
            bbox: BBox::new(210.0, 60.0, 260.0, 200.0),
            ..p[0]
        }];
        // the watching camera sees nobody at the slot: its event is blind
        let mut watching = Script::new(Some(350.0));
        watching.frames(10, 4, &[], &[]);
        watching.watcher.weight(reading(-350.0, 1_900));
        watching.frames(5, 4, &[], &beside);
        let blind = watching.frames(20, 4, &[], &beside);
        assert_eq!(blind.len(), 1, "{blind:?}");
        assert!(blind[0].blind);
        let lender = |hands: &[BBox]| {
            let mut s = Script::with_slot(SlotView {
                slot: "A1".into(),
                sku: "cola".into(),
                region: SLOT,
                unit_weight_g: Some(350.0),
                volume: None,
                lends_only: true,
            });
            s.frames(10, 4, &[], &[]);
            s.frames(4, 0, hands, &p);
            s.frames(3, 4, &[], &[]);
            s
        };
        let seeing = lender(&hand);
        // a lender neither takes readings nor holds a session's settling up
        assert!(!seeing.watcher.watches("A1"));
        let mut reaching = lender(&hand);
        reaching.frames(1, 0, &hand, &p);
        assert_eq!(reaching.watcher.open_interactions().count(), 0);
        // it saw the hand: the same event, the hand's shopper, sure
        let lent = seeing
            .watcher
            .weigh_lent(&blind[0], true)
            .expect("a hand was seen");
        assert_eq!(lent.event.id, blind[0].event.id);
        assert_eq!((lent.event.kind, lent.event.quantity), (EventKind::Pick, 1));
        assert_eq!(lent.shopper, Some(3));
        assert!(!lent.blind);
        assert!(lent.event.confidence > 0.9, "{}", lent.event.confidence);
        // only a body over the slot is no hand: nothing to lend where the watching camera saw a body
        // too; for an event it saw nothing of, the body's shopper
        let body_only = lender(&[]);
        assert!(body_only.watcher.weigh_lent(&blind[0], true).is_none());
        let body = body_only
            .watcher
            .weigh_lent(&blind[0], false)
            .expect("a body");
        assert_eq!((body.shopper, body.blind), (Some(3), false));
        // nor is an event vision counted (no reading)
        let counted = AttributedEvent {
            weighed: None,
            ..blind[0].clone()
        };
        assert!(seeing.watcher.weigh_lent(&counted, false).is_none());
    }

    #[test]
    fn a_reading_of_no_whole_number_of_units_is_unsure() {
        let mut sure = Script::new(Some(350.0));
        let mut unsure = Script::new(Some(350.0));
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let p = [person(3, 150.0)];
        let mut confidence = Vec::new();
        // another product (210 g) put into the slot: 0.6 of this slot's unit
        for (script, grams) in [(&mut sure, 345.0), (&mut unsure, 210.0)] {
            script.frames(10, 4, &[], &[]);
            script.frames(4, 4, &hand, &p);
            script.watcher.weight(reading(grams, 1_900));
            let events = script.frames(20, 4, &[], &[]);
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(events[0].event.kind, EventKind::Put);
            confidence.push(events[0].event.confidence);
        }
        assert!(confidence[0] > 0.9, "{confidence:?}");
        assert!(confidence[1] < 0.25, "{confidence:?}");
    }

    #[test]
    fn a_reading_waits_for_an_interaction_still_going_on() {
        let mut s = Script::new(Some(350.0));
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let p = [person(3, 150.0)];
        s.frames(10, 4, &[], &[]);
        s.frames(3, 4, &hand, &p);
        s.watcher.weight(reading(-350.0, 1_300));
        // the hand stays 2 s more: the reading waits for it to leave rather than go out blind
        let during = s.frames(20, 4, &hand, &p);
        assert!(during.is_empty(), "{during:?}");
        let open: Vec<_> = s.watcher.open_interactions().collect();
        assert!(!open.is_empty());
        let events = s.frames(20, 3, &[], &[]);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].shopper, Some(3));
        assert!(!events[0].blind);
    }

    /// A slot whose products stand on the plane at `height_m`, where the camera maps pixel (x, y) to
    /// metres (x / 100 + shift_m, y / 100): a line of sight further down lands further along y.
    fn slot_in_world(
        id: &str,
        region: BBox,
        x_m: [f64; 2],
        height_m: f64,
        shift_m: f64,
    ) -> SlotView {
        SlotView {
            slot: id.into(),
            sku: id.into(),
            region,
            unit_weight_g: None,
            volume: Some(SlotVolume {
                plane_from_image: Matrix3::new(0.01, 0.0, shift_m, 0.0, 0.01, 0.0, 0.0, 0.0, 1.0),
                front_center_m: [(x_m[0] + x_m[1]) / 2.0, 0.0],
                along: [1.0, 0.0],
                inward: [0.0, 1.0],
                half_width_m: (x_m[1] - x_m[0]) / 2.0,
                depth_m: 0.6,
                mid_height_m: height_m,
            }),
            lends_only: false,
        }
    }

    #[test]
    fn the_world_tells_which_slot_a_product_in_an_overlap_stands_on() {
        let watcher = ShelfWatcher::new(
            ShelfConfig::default(),
            vec![
                // one above the other: the upper plane is nearer the camera, so the same pixel lands
                // elsewhere on it (shifted 0.5 m along x)
                slot_in_world(
                    "upper",
                    BBox::new(0.0, 0.0, 100.0, 80.0),
                    [0.0, 1.0],
                    1.2,
                    0.5,
                ),
                slot_in_world(
                    "lower",
                    BBox::new(0.0, 0.0, 100.0, 80.0),
                    [0.0, 1.0],
                    0.4,
                    0.0,
                ),
                // beside the lower one, on the same level
                slot_in_world(
                    "beside",
                    BBox::new(90.0, 0.0, 200.0, 80.0),
                    [1.0, 2.0],
                    0.4,
                    0.0,
                ),
            ],
            1,
        );
        let at = |x: f32, y: f32| BBox::new(x - 1.0, y - 1.0, x + 1.0, y + 1.0);
        let counts = watcher.count_products(&[
            // lands inside both "upper" (x 0.6 m) and "lower" (0.1 m): the upper board hides the lower
            at(10.0, 30.0),
            // lands outside "upper" (1.46 m) and inside "lower" (0.96 m), 4 cm from "beside": lower's, but
            // too near its neighbour's rectangle to be sure
            at(96.0, 30.0),
        ]);
        let count = |total, exclusive| SlotCount { total, exclusive };
        assert_eq!(counts, vec![count(1, 1), count(1, 0), count(0, 0)]);
        // a product whose line of sight lands far from the only slot whose region holds it is not its
        let lone = ShelfWatcher::new(
            ShelfConfig::default(),
            vec![slot_in_world(
                "lower",
                BBox::new(0.0, 0.0, 300.0, 80.0),
                [0.0, 1.0],
                0.4,
                0.0,
            )],
            1,
        );
        assert_eq!(lone.count_products(&[at(250.0, 30.0)]), vec![count(0, 0)]);
    }

    #[test]
    fn a_product_in_overlapping_regions_counts_for_the_nearest_slot_only() {
        let slot = |id: &str, region: BBox| SlotView {
            slot: id.into(),
            sku: id.into(),
            region,
            unit_weight_g: None,
            volume: None,
            lends_only: false,
        };
        // seen in perspective, the lower slot's region reaches up into the upper one's
        let watcher = ShelfWatcher::new(
            ShelfConfig::default(),
            vec![
                slot("upper", BBox::new(0.0, 0.0, 100.0, 50.0)),
                slot("lower", BBox::new(0.0, 30.0, 100.0, 90.0)),
            ],
            1,
        );
        let in_overlap_near_upper = BBox::new(10.0, 32.0, 20.0, 38.0);
        let clearly_lower = BBox::new(10.0, 70.0, 20.0, 80.0);
        assert_eq!(
            watcher.count_products(&[in_overlap_near_upper, clearly_lower]),
            vec![
                SlotCount {
                    total: 1,
                    exclusive: 0
                },
                SlotCount {
                    total: 1,
                    exclusive: 1
                }
            ]
        );
    }

    /// Two slots side by side whose regions overlap in x 80..100, as a camera down the aisle sees them.
    fn overlapping_pair() -> ShelfWatcher {
        let slot = |id: &str, region: BBox| SlotView {
            slot: id.into(),
            sku: id.into(),
            region,
            unit_weight_g: None,
            volume: None,
            lends_only: false,
        };
        ShelfWatcher::new(
            ShelfConfig::default(),
            vec![
                slot("left", BBox::new(0.0, 100.0, 100.0, 150.0)),
                slot("right", BBox::new(80.0, 100.0, 200.0, 150.0)),
            ],
            1,
        )
    }

    fn run_frames(
        watcher: &mut ShelfWatcher,
        seq: &mut u64,
        n: usize,
        products: &[BBox],
        hands: &[BBox],
        people: &[PersonView],
    ) -> Vec<AttributedEvent> {
        let camera = CameraId::new("cam");
        let bodies: Vec<BBox> = people.iter().map(|p| p.bbox).collect();
        let mut events = Vec::new();
        for _ in 0..n {
            *seq += 1;
            events.extend(watcher.observe(&ShelfFrame {
                camera: &camera,
                frame_seq: *seq,
                time: CaptureTime::from_unix_millis(*seq * 100),
                products,
                hands,
                people,
                bodies: &bodies,
            }));
        }
        events
    }

    fn product_at(x: f32) -> BBox {
        BBox::new(x - 2.0, 123.0, x + 2.0, 127.0)
    }

    #[test]
    fn a_count_change_where_slot_regions_overlap_is_low_confidence() {
        let mut watcher = overlapping_pair();
        let mut seq = 0;
        // the shopper stands below the shelf, not over the regions, so only the hand marks the interaction
        let shopper = [PersonView {
            shopper: 5,
            bbox: BBox::new(60.0, 160.0, 120.0, 400.0),
            floor_m: None,
        }];
        let hand = [BBox::new(85.0, 120.0, 95.0, 130.0)];
        // 30 and 50 are the left slot's own; 97 lies where both regions reach and is nearer the right's
        // centre; 150 is the right slot's own
        let before = [
            product_at(30.0),
            product_at(50.0),
            product_at(97.0),
            product_at(150.0),
        ];
        let after = [product_at(30.0), product_at(50.0), product_at(150.0)];
        assert!(run_frames(&mut watcher, &mut seq, 10, &before, &[], &[]).is_empty());
        assert!(run_frames(&mut watcher, &mut seq, 5, &[], &hand, &shopper).is_empty());
        let events = run_frames(&mut watcher, &mut seq, 12, &after, &[], &[]);
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        // the image cannot tell which slot the item came from: the shopper is sure, the slot is not
        assert_eq!((e.event.slot.as_str(), e.shopper), ("right", Some(5)));
        assert!(reviewed(e.event.confidence), "{}", e.event.confidence);
    }

    #[test]
    fn a_count_change_in_a_slots_own_part_stays_confident_beside_an_overlap() {
        let mut watcher = overlapping_pair();
        let mut seq = 0;
        let shopper = [PersonView {
            shopper: 5,
            bbox: BBox::new(120.0, 160.0, 180.0, 400.0),
            floor_m: None,
        }];
        let hand = [BBox::new(145.0, 120.0, 155.0, 130.0)];
        let before = [product_at(97.0), product_at(140.0), product_at(160.0)];
        let after = [product_at(97.0), product_at(140.0)];
        run_frames(&mut watcher, &mut seq, 10, &before, &[], &[]);
        run_frames(&mut watcher, &mut seq, 5, &[], &hand, &shopper);
        let events = run_frames(&mut watcher, &mut seq, 12, &after, &[], &[]);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].event.slot, "right");
        assert!(
            events[0].event.confidence > 0.9,
            "{}",
            events[0].event.confidence
        );
    }

    #[test]
    fn a_count_that_does_not_settle_is_low_confidence() {
        let mut s = Script::new(None);
        let hand = [BBox::new(140.0, 120.0, 160.0, 140.0)];
        let p = [person(3, 150.0)];
        s.frames(10, 4, &[], &[]);
        s.frames(4, 0, &hand, &p);
        // after the hand the detector flickers between 3 and 2 products
        let mut events = s.frames(5, 0, &[], &[]);
        for _ in 0..3 {
            events.extend(s.frames(1, 3, &[], &[]));
            events.extend(s.frames(1, 2, &[], &[]));
        }
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            reviewed(events[0].event.confidence),
            "{}",
            events[0].event.confidence
        );
    }

    #[test]
    fn slot_certainty_is_the_exclusive_share_of_the_change() {
        assert_eq!(slot_certainty(-1, -1), 1.0);
        assert_eq!(slot_certainty(-2, -1), 0.5);
        assert_eq!(slot_certainty(-1, 0), 0.0);
        assert_eq!(slot_certainty(-1, 1), 0.0);
        // products appearing in the overlap while the slot's own part lost two
        assert_eq!(slot_certainty(-1, -2), 0.5);
    }

    /// Below the sessions' default threshold: the event sends its session to review.
    fn reviewed(confidence: f32) -> bool {
        confidence < crate::sessions::SessionConfig::default().min_event_confidence
    }

    #[test]
    fn attribution_margin() {
        let support: BTreeMap<u64, f32> = [(1, 4.0), (2, 1.0)].into_iter().collect();
        assert_eq!(attribute(&support), (Some(1), 0.75));
        assert_eq!(attribute(&BTreeMap::new()), (None, 0.0));
    }
}
