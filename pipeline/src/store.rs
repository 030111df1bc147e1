//! The store's logic as one stage: per-camera detections in; tracks, floor positions, shelf events and
//! sessions out.
//!
//! Per camera it runs a tracker in image space, puts each shopper's foot point on the floor through the
//! camera's calibration, and watches the camera's shelf slots. Across cameras it groups frames into short
//! time steps and runs fusion and sessions once per step, so that cameras running at different rates (or
//! one camera missing a beat) see the same store.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nalgebra::{Matrix3, Point2};
use serde::Serialize;
use walkout_core::{BBox, CameraId, CaptureTime, Detection, ObjectKind};

use crate::fusion::GlobalState;

use crate::calibration::{Calibration, CalibrationError, apply_homography};
use crate::cart::{Cart, EventKind, ShelfEvent, Sku};
use crate::fusion::{FloorObservation, Fusion, FusionConfig};
use crate::sessions::{CheckIn, Session, SessionConfig, Sessions};
use crate::shelf::{
    AttributedEvent, PersonView, ShelfConfig, ShelfFrame, ShelfWatcher, SlotView, WeightReading,
    whole_units,
};
use crate::stage::Stage;
use crate::tracker::{TrackInput, Tracker, TrackerConfig};
use crate::verify::{DoubtChecks, ShowsOther, Subject};

/// One camera as the store logic needs it.
#[derive(Debug, Clone)]
pub struct CameraSetup {
    pub id: CameraId,
    pub calibration: Calibration,
    /// The slots this camera watches for pick-ups and put-backs.
    pub slots: Vec<SlotView>,
}

/// Everything the store logic is configured with.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub cameras: Vec<CameraSetup>,
    pub tracker: TrackerConfig,
    pub fusion: FusionConfig,
    pub sessions: SessionConfig,
    pub shelf: ShelfConfig,
    /// Fusion runs once per step of this length.
    pub step: Duration,
}

/// One camera frame's detections.
#[derive(Debug, Clone)]
pub struct FrameDetections {
    pub camera: CameraId,
    pub seq: u64,
    pub time: CaptureTime,
    pub detections: Vec<Detection>,
}

/// What reaches the store logic.
#[derive(Debug, Clone)]
pub enum StoreInput {
    Frame(FrameDetections),
    CheckIn(CheckIn),
    Weight(WeightReading),
}

/// A shopper's position, for the live map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShopperPosition {
    pub shopper: u64,
    pub position_m: [f64; 2],
    pub session: Option<u64>,
}

/// What the store logic tells the rest of the system.
#[derive(Debug, Clone)]
pub enum StoreOutput {
    SessionOpened {
        session: u64,
        account: String,
    },
    /// An event, attributed to a session or not (then it needs an operator).
    Event {
        event: ShelfEvent,
        session: Option<u64>,
    },
    /// The final state of a session that closed: its cart is what gets charged (or reviewed).
    SessionClosed(Box<Session>),
    /// Every shopper's position at the end of a fusion step.
    Positions {
        time: CaptureTime,
        shoppers: Vec<ShopperPosition>,
    },
    /// One camera frame's confirmed tracks, for the dashboard and MOT scoring.
    CameraTracks {
        camera: CameraId,
        seq: u64,
        time: CaptureTime,
        tracks: Vec<TrackedPerson>,
    },
}

/// A person a camera's tracker follows in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackedPerson {
    /// The camera tracker's own id: the same for as long as that camera keeps following the person.
    pub track: u64,
    /// The global shopper id fusion has bound the track to, if it has yet.
    pub shopper: Option<u64>,
    pub bbox: BBox,
}

impl TrackedPerson {
    /// The shopper id where fusion has bound the track, otherwise [`LOCAL_ID_BASE`] plus the camera
    /// tracker's own id (the id a person's evidence carries until they are bound).
    pub fn id(&self) -> u64 {
        self.shopper.unwrap_or(LOCAL_ID_BASE + self.track)
    }
}

/// Within this many pixels of the image's edge, a box is cut off by it.
const EDGE_PX: f32 = 2.0;

/// A camera must be at least this far above the head-top plane to place a person by their head.
const HEAD_CLEARANCE_M: f64 = 0.3;

/// How sure a put-back is whose item is one of two that both weigh about right: a coin, for an operator
/// to settle (under any review threshold worth having).
const AMBIGUOUS_ITEM: f32 = 0.5;

/// Where a person stands on the floor, for fusion and for their reach to a slot: `foot`, their box's
/// foot point on the floor, but for a box the image's bottom edge cuts (a shopper close under the
/// camera: the foot point is the edge, short of the feet by up to a couple of metres), the top of the
/// box through the head-top plane, when the camera is above it. `None` at the horizon.
fn stands_at(
    foot: Option<Point2<f64>>,
    head_from_image: Option<&Matrix3<f64>>,
    image_height: f32,
    b: &BBox,
) -> Option<Point2<f64>> {
    match head_from_image.filter(|_| cut_off(image_height, b)) {
        Some(head_from_image) => apply_homography(
            head_from_image,
            &Point2::new(f64::from((b.x1 + b.x2) / 2.0), f64::from(b.y1)),
        ),
        None => foot,
    }
}

/// Whether the image's bottom edge cuts the box (and its top is inside): its foot point is the edge.
fn cut_off(image_height: f32, b: &BBox) -> bool {
    b.y2 >= image_height - EDGE_PX && b.y1 > EDGE_PX
}

/// Adds `more` to the `rivals` of an event that went to `chosen`, each once, never `chosen` itself.
fn add_rivals(chosen: Option<u64>, rivals: &mut Vec<u64>, more: impl IntoIterator<Item = u64>) {
    for other in more {
        if chosen != Some(other) && !rivals.contains(&other) {
            rivals.push(other);
        }
    }
}

/// The pairs `(hidden, cover)` of a camera's tracks where `hidden` was shown in the previous frame and
/// is not now, while `cover`'s box now covers at least `cover` of `hidden`'s box in `before` (0: none).
fn hidden_behind(
    before: &BTreeMap<u64, BBox>,
    now: &BTreeMap<u64, BBox>,
    cover: f32,
) -> Vec<(u64, u64)> {
    if cover <= 0.0 {
        return Vec::new();
    }
    let mut pairs = Vec::new();
    for (&hidden, last) in before.iter().filter(|(id, _)| !now.contains_key(id)) {
        let area = last.area();
        if area <= 0.0 {
            continue;
        }
        pairs.extend(
            now.iter()
                .filter(|(_, b)| last.intersection(b) / area >= cover)
                .map(|(&over, _)| (hidden, over)),
        );
    }
    pairs
}

/// Track ids at or above this are camera-local (not yet bound to a shopper).
pub const LOCAL_ID_BASE: u64 = 1 << 32;

struct CameraState {
    tracker: Tracker,
    floor_from_image: Matrix3<f64>,
    /// Pixels to the plane of a shopper's head top (`ShelfConfig::head_top_m`), for a person whose
    /// feet the image's bottom edge cuts off; `None` for a camera not above that plane.
    head_from_image: Option<Matrix3<f64>>,
    /// The image's height in pixels.
    image_height: f32,
    /// Where the camera stands on the floor plan.
    floor_position: Point2<f64>,
    shelf: ShelfWatcher,
    /// The latest frame's tracks on the floor, waiting for the fusion step.
    observations: Vec<FloorObservation>,
    /// Camera tracks the shelf has seen under their camera-local id (fusion had not bound them yet).
    seen_unbound: BTreeSet<u64>,
    /// The tracks the latest frame showed, with their boxes: one that goes unseen behind another
    /// raises an identity doubt.
    shown: BTreeMap<u64, BBox>,
    /// Tracks that showed the other shopper of an identity doubt (see [`crate::verify::ShowsOther`]),
    /// with (whom fusion binds them to, whom they showed): the shelves see them as whom they showed
    /// for as long as fusion keeps them bound so.
    shows_other: BTreeMap<u64, (u64, u64)>,
}

/// The store logic; see the module docs.
pub struct StoreLogic {
    config: StoreConfig,
    cameras: BTreeMap<CameraId, CameraState>,
    fusion: Fusion,
    sessions: Sessions,
    step_end: Option<CaptureTime>,
    /// Events whose shopper had no session yet (a check-in still inside its window); retried every step.
    unattributed: Vec<(u64, ShelfEvent)>,
    unknown_camera_frames: u64,
    /// Scale readings for slots no camera watches.
    unwatched_readings: u64,
    /// Where each slot's front is on the floor (from the slots' volumes), for who was near an event.
    slot_fronts: BTreeMap<String, Point2<f64>>,
    /// Sessions whose shoppers have left, waiting for the shelves they may have touched to settle.
    settling: Vec<u64>,
    /// Grams per item of every product on a lane scale, for a put-back that weighs as another product.
    unit_weights: BTreeMap<Sku, f64>,
    /// Identity doubts waiting for the clear views that may dismiss them.
    doubt_checks: DoubtChecks,
}

impl std::fmt::Debug for StoreLogic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLogic")
            .field("cameras", &self.cameras.len())
            .finish_non_exhaustive()
    }
}

impl StoreLogic {
    pub fn new(config: StoreConfig) -> Result<Self, CalibrationError> {
        let mut cameras = BTreeMap::new();
        let mut slot_fronts = BTreeMap::new();
        let mut unit_weights = BTreeMap::new();
        for (index, camera) in config.cameras.iter().enumerate() {
            for slot in &camera.slots {
                if let Some(grams) = slot.unit_weight_g
                    && let Some(other) = unit_weights.insert(slot.sku.clone(), grams)
                    && other != grams
                {
                    tracing::warn!(sku = %slot.sku, slot = %slot.slot, grams, other, "one product with two unit weights on its slots: the last is used to recognise it put back elsewhere");
                }
                if let Some(volume) = &slot.volume {
                    let [x, y] = volume.front_center_m;
                    slot_fronts.insert(slot.slot.clone(), Point2::new(x, y));
                }
            }
            cameras.insert(
                camera.id.clone(),
                CameraState {
                    tracker: Tracker::new(config.tracker),
                    floor_from_image: camera.calibration.plane_from_image(0.0)?,
                    head_from_image: (camera.calibration.world_from_camera.translation.z
                        > config.shelf.head_top_m + HEAD_CLEARANCE_M)
                        .then(|| camera.calibration.plane_from_image(config.shelf.head_top_m))
                        .transpose()?,
                    image_height: camera.calibration.intrinsics.height as f32,
                    floor_position: Point2::new(
                        camera.calibration.world_from_camera.translation.x,
                        camera.calibration.world_from_camera.translation.y,
                    ),
                    shelf: ShelfWatcher::new(
                        config.shelf,
                        camera.slots.clone(),
                        ((index as u64) + 1) << 40,
                    ),
                    observations: Vec::new(),
                    seen_unbound: BTreeSet::new(),
                    shown: BTreeMap::new(),
                    shows_other: BTreeMap::new(),
                },
            );
        }
        Ok(Self {
            fusion: Fusion::new(config.fusion.clone()),
            sessions: Sessions::new(config.sessions.clone()),
            cameras,
            step_end: None,
            unattributed: Vec::new(),
            unknown_camera_frames: 0,
            unwatched_readings: 0,
            slot_fronts,
            settling: Vec::new(),
            unit_weights,
            doubt_checks: DoubtChecks::default(),
            config,
        })
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub fn fusion(&self) -> &Fusion {
        &self.fusion
    }

    /// Frames from cameras the configuration does not name (a wiring error upstream).
    pub fn unknown_camera_frames(&self) -> u64 {
        self.unknown_camera_frames
    }

    /// Scale readings for slots no camera watches (no camera sees the slot whole).
    pub fn unwatched_readings(&self) -> u64 {
        self.unwatched_readings
    }

    pub fn handle(&mut self, input: StoreInput, emit: &mut dyn FnMut(StoreOutput)) {
        match input {
            StoreInput::Frame(frame) => self.frame(frame, emit),
            StoreInput::CheckIn(check_in) => {
                let account = check_in.account.clone();
                for session in self.sessions.check_in(check_in, &self.fusion).opened {
                    emit(StoreOutput::SessionOpened {
                        session,
                        account: account.clone(),
                    });
                }
            }
            StoreInput::Weight(reading) => {
                match self
                    .cameras
                    .values_mut()
                    .find(|c| c.shelf.watches(&reading.slot))
                {
                    Some(camera) => camera.shelf.weight(reading),
                    None => {
                        self.unwatched_readings += 1;
                        tracing::warn!(
                            slot = %reading.slot,
                            delta_g = reading.delta_g,
                            "a scale reading for a slot no camera watches: nobody can tell whose it is"
                        );
                    }
                }
            }
        }
    }

    fn frame(&mut self, frame: FrameDetections, emit: &mut dyn FnMut(StoreOutput)) {
        // a frame past the current step closes it first
        let step = self.config.step;
        match self.step_end {
            None => self.step_end = frame.time.checked_add(step),
            Some(end) if frame.time >= end => {
                self.run_step(end, emit);
                let mut next = end;
                while frame.time >= next {
                    next = next.checked_add(step).unwrap_or(frame.time);
                }
                self.step_end = Some(next);
            }
            Some(_) => {}
        }
        let Some(camera) = self.cameras.get_mut(&frame.camera) else {
            self.unknown_camera_frames += 1;
            return;
        };
        let people: Vec<&Detection> = frame
            .detections
            .iter()
            .filter(|d| d.kind == ObjectKind::Person)
            .collect();
        let inputs: Vec<TrackInput> = people
            .iter()
            .map(|d| TrackInput {
                bbox: d.bbox,
                score: d.score,
                appearance: d.appearance,
            })
            .collect();
        camera.tracker.update(&inputs);
        let shown: BTreeMap<u64, BBox> =
            camera.tracker.active().map(|t| (t.id, t.bbox())).collect();
        // where the tracker expects the tracks it no longer sees to be now (a shopper walking behind
        // another goes on walking), or where they were last shown
        let mut before = std::mem::replace(&mut camera.shown, shown);
        for track in camera.tracker.tracks() {
            if let Some(last) = before.get_mut(&track.id) {
                *last = track.bbox();
            }
        }
        for (hidden, over) in hidden_behind(&before, &camera.shown, self.fusion.hidden_cover()) {
            let global = |local| self.fusion.global_id(&frame.camera, local);
            if let (Some(a), Some(b)) = (global(hidden), global(over)) {
                tracing::debug!(
                    camera = %frame.camera,
                    shoppers = ?(a, b),
                    "one shopper went unseen behind another"
                );
                if self.fusion.doubt(frame.time, a, b) {
                    let subjects = [
                        Subject {
                            local_id: hidden,
                            shopper: a,
                            other: b,
                            hidden: true,
                        },
                        Subject {
                            local_id: over,
                            shopper: b,
                            other: a,
                            hidden: false,
                        },
                    ];
                    self.doubt_checks
                        .watch(&self.fusion, frame.time, &frame.camera, &subjects);
                }
            }
        }
        if !self.doubt_checks.is_empty() {
            let decided =
                self.doubt_checks
                    .frame(&self.fusion, &frame.camera, frame.time, &camera.tracker);
            for shows in &decided.shows_other {
                put_right_swap(camera, &mut self.fusion, &frame.camera, shows);
            }
            let dismissed = decided.dismissed;
            for &(time, a, b) in &dismissed {
                tracing::debug!(
                    camera = %frame.camera,
                    shoppers = ?(a, b),
                    raised_ms = time.unix_millis(),
                    "the camera showed both shoppers to be who they were: doubt dismissed"
                );
                self.fusion.dismiss_doubt(time, a, b);
            }
            if !dismissed.is_empty() {
                self.sessions.reconsider_identity(&self.fusion);
            }
        }
        camera.observations.clear();
        let fusion = &self.fusion;
        camera
            .shows_other
            .retain(|&local, (bound, _)| fusion.global_id(&frame.camera, local) == Some(*bound));
        let mut views = Vec::new();
        let mut tracks = Vec::new();
        for track in camera.tracker.active() {
            let b = track.bbox();
            let person = TrackedPerson {
                track: track.id,
                shopper: self.fusion.global_id(&frame.camera, track.id),
                bbox: b,
            };
            if person.shopper.is_none() {
                camera.seen_unbound.insert(track.id);
            }
            let id = person.id();
            tracks.push(person);
            // a box the image's bottom edge cuts (a shopper walking under the camera) has its foot
            // point on the edge, short of the feet by up to a couple of metres: the exit camera over
            // the door pinned everyone leaving at one spot well inside the store, where fusion lost
            // them (not in the exit zone, so not exited) and bound the next shopper walking out to
            // them. Such a box is placed by its top through the head-top plane, as for the shelves
            // (`stands_at`); a whole box by its foot point (the head-top plane would place a child, a
            // head shorter, tens of centimetres off: identity doubts in a family)
            let foot = apply_homography(
                &camera.floor_from_image,
                &Point2::new(f64::from((b.x1 + b.x2) / 2.0), f64::from(b.y2)),
            );
            let stands = stands_at(
                foot,
                camera.head_from_image.as_ref(),
                camera.image_height,
                &b,
            );
            if let Some(floor) = stands {
                // a cut box placed by the edge (no head-top plane under this camera) is not where
                // the shopper is: it loses to every other camera's place for them
                let by_edge = cut_off(camera.image_height, &b) && camera.head_from_image.is_none();
                let range_m = if by_edge {
                    f64::INFINITY
                } else {
                    (floor - camera.floor_position).norm()
                };
                camera.observations.push(FloorObservation {
                    range_m,
                    camera: frame.camera.clone(),
                    local_id: track.id,
                    appearance: track.look().copied(),
                    position_m: floor,
                });
            }
            // a track that showed the other shopper of its doubt is theirs at the shelves
            let at_shelves = match camera.shows_other.get(&track.id) {
                Some(&(bound, other)) if person.shopper == Some(bound) => other,
                _ => id,
            };
            // a person fusion has not bound (yet) is still a candidate for a hand at a shelf: the
            // event then goes to nobody, or is as unsure as that person is near
            views.push(PersonView {
                shopper: at_shelves,
                bbox: b,
                floor_m: stands.map(|p| [p.x, p.y]),
            });
        }
        emit(StoreOutput::CameraTracks {
            camera: frame.camera.clone(),
            seq: frame.seq,
            time: frame.time,
            tracks,
        });
        let boxes = |kind: ObjectKind| -> Vec<BBox> {
            frame
                .detections
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| d.bbox)
                .collect()
        };
        let (products, hands, bodies) = (
            boxes(ObjectKind::Product),
            boxes(ObjectKind::Hand),
            boxes(ObjectKind::Person),
        );
        let shelf_frame = ShelfFrame {
            camera: &frame.camera,
            frame_seq: frame.seq,
            time: frame.time,
            products: &products,
            hands: &hands,
            people: &views,
            bodies: &bodies,
        };
        for attributed in camera.shelf.observe(&shelf_frame) {
            self.route(attributed, emit);
        }
    }

    /// A scale event made again from the view of another camera that lends its view of the slot,
    /// where the watching camera's view is not the best: it saw no hand at the slot (then a camera
    /// that saw a hand there when the items moved decides, of several that disagree whose hand it
    /// was one that chose whom their hand support, pooled, points to: see [`pooled_when_split`];
    /// unless it saw one shopper's body alone over the slot: see [`sole_body_over_slot`];
    /// or, when the watching camera saw nothing
    /// at all, nobody at the slot or an outage, one that saw at least a body over it); it saw the
    /// hand but did not show everyone fusion placed within reach of the slot (one hidden behind
    /// another, or one box for two: then a camera that saw the hand and shows everyone within reach
    /// decides); or more of the cameras that saw the hand chose one other shopper than chose the
    /// watching camera's, where their hand support, pooled, backs that majority
    /// ([`backed_majority`]). Of several, the one that saw a hand longest, then a body. Whom the watching
    /// camera chose, and its rivals, become the lent event's rivals (reviewed with it). Where the
    /// cameras that saw the hand disagree without a majority for another (one against one), the hand
    /// support of all of them, pooled, decides where its margin is itself sure
    /// (`SessionConfig::min_event_confidence`); the event is then only as sure as that margin and the
    /// share of the cameras that chose the same (one against one: 0.5, reviewed), and whom the others
    /// chose are its rivals.
    fn with_lent_hands(&self, attributed: AttributedEvent) -> AttributedEvent {
        let Some(weighed) = &attributed.weighed else {
            return attributed;
        };
        let saw_hand = weighed.hand_frames > 0 && !attributed.blind;
        let at_slot = if saw_hand {
            self.within_reach(&attributed.event.slot, weighed.moved)
        } else {
            Vec::new()
        };
        let hides = |shown: &[u64]| at_slot.iter().any(|s| !shown.contains(s));
        let hand_only = !attributed.blind;
        let views: Vec<(&CameraId, AttributedEvent)> = self
            .cameras
            .iter()
            .filter_map(|(id, c)| c.shelf.weigh_lent(&attributed, hand_only).map(|e| (id, e)))
            .collect();
        let frames = |e: &AttributedEvent| {
            e.weighed
                .as_ref()
                .map_or((0, 0), |w| (w.hand_frames, w.body_frames))
        };
        // the lending cameras' choices other than the watching camera's, and how sure the watching
        // camera's choice is where they disagree
        let (mut dissent, mut unsure) = (Vec::new(), 1.0);
        let (why, lent) = if !saw_hand {
            // of the cameras that saw a hand, where they disagree whose it was, their hand support
            // pooled decides (busy 11203)
            let saw: Vec<(Option<u64>, &BTreeMap<u64, f32>)> = views
                .iter()
                .filter(|(_, e)| frames(e).0 > 0)
                .filter_map(|(_, e)| Some((e.shopper, &e.weighed.as_ref()?.support)))
                .collect();
            let pooled_choice = pooled_when_split(&saw);
            let chosen: BTreeSet<u64> = saw.iter().filter_map(|(s, _)| *s).collect();
            let sole_body = sole_body_over_slot(
                weighed,
                &self.within_reach(&attributed.event.slot, weighed.moved),
            );
            // the watching camera's choice stands, unsure, where it saw one body alone over the
            // slot and the cameras that saw a hand gave it someone else
            let stands = sole_body && chosen.iter().any(|&c| Some(c) != attributed.shopper);
            if stands {
                let choices: Vec<Option<u64>> = saw.iter().map(|(s, _)| *s).collect();
                dissent = dissenting(attributed.shopper, &choices);
                unsure = share_choosing(attributed.shopper, attributed.shopper, &choices);
            }
            let pick = |(_, e): &&(&CameraId, AttributedEvent)| {
                pooled_choice.is_none_or(|(best, _)| e.shopper == Some(best))
            };
            // the one that saw the hand longest, of those that chose whom the pooled support
            // points to (of all where they agree, or where none chose them)
            let best = views.iter().filter(pick).max_by_key(|(_, e)| frames(e));
            let lent = match best.map(|(camera, _)| *camera).filter(|_| !stands) {
                Some(camera) => {
                    views
                        .into_iter()
                        .find(|(c, _)| *c == camera)
                        .map(|(camera, mut e)| {
                            if let Some((_, sure)) = pooled_choice {
                                e.event.confidence = e.event.confidence.min(sure);
                                add_rivals(e.shopper, &mut e.rivals, chosen.iter().copied());
                            }
                            (camera, e)
                        })
                }
                None if stands => None,
                None => views.into_iter().max_by_key(|(_, e)| frames(e)),
            };
            ("the watching camera saw no hand", lent)
        } else if hides(&weighed.shown) {
            let lent = views
                .into_iter()
                .filter(|(_, e)| e.weighed.as_ref().is_some_and(|w| !hides(&w.shown)))
                .max_by_key(|(_, e)| frames(e));
            (
                "the watching camera did not show everyone within reach",
                lent,
            )
        } else {
            let choices: Vec<Option<u64>> = views.iter().map(|(_, e)| e.shopper).collect();
            dissent = dissenting(attributed.shopper, &choices);
            let supports: Vec<&BTreeMap<u64, f32>> = std::iter::once(&weighed.support)
                .chain(
                    views
                        .iter()
                        .filter_map(|(_, e)| Some(&e.weighed.as_ref()?.support)),
                )
                .collect();
            match backed_majority(attributed.shopper, &choices, &supports) {
                Some(best) => (
                    "more of the cameras that saw the hand chose another shopper",
                    views
                        .into_iter()
                        .filter(|(_, e)| e.shopper == Some(best))
                        .max_by_key(|(_, e)| frames(e)),
                ),
                None if dissent.is_empty() => ("", None),
                None => {
                    // one against one (or the watching camera's among as many others): the hand
                    // support of every camera that saw the hand, pooled, decides where it is itself
                    // sure (the watching camera's view stands otherwise)
                    let (instead, margin) = pooled(
                        attributed.shopper,
                        &supports,
                        self.config.sessions.min_event_confidence,
                    );
                    // cameras that disagree make the event unsure whichever decides: it is as sure
                    // as the pooled margin and the share of the cameras that chose the same (one
                    // of two: under the review threshold)
                    let share = |s| share_choosing(s, attributed.shopper, &choices);
                    unsure = margin.min(share(attributed.shopper));
                    (
                        "the hand support of the cameras that saw the hand, pooled, points to another shopper",
                        instead.and_then(|best| {
                            views
                                .into_iter()
                                .filter(|(_, e)| e.shopper == Some(best))
                                .max_by_key(|(_, e)| frames(e))
                                .map(|(camera, mut e)| {
                                    e.event.confidence =
                                        e.event.confidence.min(margin).min(share(Some(best)));
                                    (camera, e)
                                })
                        }),
                    )
                }
            }
        };
        match lent {
            Some((camera, mut lent)) => {
                // whom the watching camera saw over the slot, and their rivals, may still have done
                // it: a hand in another camera's view outweighs a body, but not surely
                let watched = attributed
                    .shopper
                    .into_iter()
                    .chain(attributed.rivals.iter().copied());
                add_rivals(lent.shopper, &mut lent.rivals, watched);
                tracing::debug!(
                    event = lent.event.id,
                    slot = %lent.event.slot,
                    %camera,
                    shopper = ?lent.shopper,
                    watcher_chose = ?attributed.shopper,
                    confidence = lent.event.confidence,
                    why,
                    "another camera's view of the slot decides"
                );
                lent
            }
            None if dissent.is_empty() => attributed,
            None => {
                // the watching camera's choice stands, but not surely: another camera saw the hand
                // as someone else's, and whom the others chose is reviewed for it
                let mut attributed = attributed;
                attributed.event.confidence = attributed.event.confidence.min(unsure);
                add_rivals(attributed.shopper, &mut attributed.rivals, dissent);
                tracing::debug!(
                    event = attributed.event.id,
                    slot = %attributed.event.slot,
                    shopper = ?attributed.shopper,
                    rivals = ?attributed.rivals,
                    confidence = attributed.event.confidence,
                    "cameras that saw the hand disagree whose it was"
                );
                attributed
            }
        }
    }

    /// A put-back the scale weighs as a whole number of an item in the shopper's cart, closer than of
    /// the slot's own items (`ShelfConfig::misplaced_fit`): that item, put back in the wrong slot. The
    /// event carries that item then, so it leaves the cart, and the slot's stock holds a stranger until
    /// someone moves it back. It is as sure as the item's fit is above the next one's (another item
    /// of the cart's, or the slot's own, that also weigh about right). Where the cart does not hold
    /// the slot's own item, a cart item that weighs right is the one even if the slot's own weighs
    /// closer; where it does and the scale cannot tell the two apart (`ShelfConfig::scale_noise_g`),
    /// the slot's own stands. Either way an operator confirms.
    fn recognise_misplaced(&self, mut attributed: AttributedEvent) -> AttributedEvent {
        let min_fit = self.config.shelf.misplaced_fit;
        let (Some(weighed), Some(shopper)) = (&attributed.weighed, attributed.shopper) else {
            return attributed;
        };
        let event = &attributed.event;
        let Some(own) = self.unit_weights.get(&event.sku) else {
            return attributed;
        };
        if event.kind != EventKind::Put {
            return attributed;
        }
        let Some(cart) = self.cart_of(shopper) else {
            return attributed;
        };
        let Some(found) = cart.item_weighing(
            weighed.reading.delta_g,
            &self.unit_weights,
            &event.sku,
            min_fit,
        ) else {
            return attributed;
        };
        let (_, own_fit) = whole_units(weighed.reading.delta_g, *own);
        // nobody puts back what they never took, and what a shopper took from this slot is what
        // they most likely put back in it: where the cart holds the slot's own item and the scale
        // cannot tell it from the other (both explain the reading within its noise), it stands,
        // reviewed (busy 11210: 183 g put back a second and a half after two were taken, 2.4 g off
        // one of the slot's own item and 1.9 g off one of another in the cart). Where the cart does
        // not hold it, an item the cart holds that weighs right is the one put back, even where the
        // slot's own would weigh closer, reviewed (busy 11210: an item put back among others that
        // weigh the same).
        let noise_g = 3.0 * self.config.shelf.scale_noise_g;
        let explains = |unit_g: f64, quantity: u32| {
            (weighed.reading.delta_g.abs() - unit_g * f64::from(quantity)).abs() <= noise_g
        };
        let alike = explains(*own, event.quantity)
            && self
                .unit_weights
                .get(&found.sku)
                .is_some_and(|&unit_g| explains(unit_g, found.quantity));
        let holds_own = cart.quantity(&event.sku) >= event.quantity;
        if holds_own && (found.fit <= own_fit || alike) {
            if found.fit > own_fit {
                attributed.event.confidence = attributed.event.confidence.min(AMBIGUOUS_ITEM);
            }
            return attributed;
        }
        let next_fit = if own_fit >= min_fit {
            found.next_fit.max(own_fit)
        } else {
            found.next_fit
        };
        tracing::info!(
            event = event.id,
            slot = %event.slot,
            delta_g = weighed.reading.delta_g,
            slot_sku = %event.sku,
            own_fit,
            sku = %found.sku,
            quantity = found.quantity,
            fit = found.fit,
            next_fit,
            "a put-back that weighs as an item from the shopper's cart: put back in the wrong slot"
        );
        attributed.event.confidence = if found.fit > own_fit {
            weighed.attribution_confidence * (found.fit - next_fit)
        } else {
            weighed.attribution_confidence.min(AMBIGUOUS_ITEM)
        };
        attributed.event.sku = found.sku;
        attributed.event.quantity = found.quantity;
        attributed
    }

    /// Whether `shopper`'s cart holds as many of `event`'s item as it puts back.
    fn holds(&self, shopper: u64, event: &ShelfEvent) -> bool {
        self.cart_of(shopper)
            .is_some_and(|cart| cart.quantity(&event.sku) >= event.quantity)
    }

    /// The cart of the session `shopper` pays on, as it stands.
    fn cart_of(&self, shopper: u64) -> Option<Cart> {
        self.sessions
            .session_of_track(shopper)
            .and_then(|s| self.sessions.get(s))
            .map(Session::cart)
    }

    /// A put-back goes to whoever can have put it back: when the chosen shopper's cart does not hold
    /// the item (as many as went back) but exactly one rival's does, it was the rival's, since nobody
    /// puts back what they never took. The chosen shopper becomes a rival, so both are still reviewed.
    fn put_back_by_holder(&self, mut attributed: AttributedEvent) -> AttributedEvent {
        let event = &attributed.event;
        let Some(chosen) = attributed.shopper else {
            return attributed;
        };
        if event.kind != EventKind::Put {
            return attributed;
        }
        let Some(holder) = sole_holder(chosen, &attributed.rivals, |s| self.holds(s, event)) else {
            return attributed;
        };
        give_to(
            &mut attributed,
            holder,
            "a put-back given to the one rival holding the item",
        );
        attributed
    }

    /// Puts a shelf event where it belongs: the shopper's session, or the operators' queue; reviews
    /// the sessions of those who may have done it instead.
    fn route(&mut self, attributed: AttributedEvent, emit: &mut dyn FnMut(StoreOutput)) {
        let attributed = self.with_lent_hands(attributed);
        let attributed = self.recognise_misplaced(self.put_back_by_holder(attributed));
        let attributed = self.put_back_by_near_holder(attributed);
        let bound = attributed.shopper.filter(|&s| s < LOCAL_ID_BASE);
        // a shopper with no session (yet) may be a second track of someone who has one
        let sessionless = bound.is_some_and(|s| self.sessions.session_of_track(s).is_none());
        if bound.is_none() || attributed.blind || sessionless {
            self.flag_suspects(&attributed.event, attributed.span, bound);
        }
        // the rivals are reviewed whoever the event went to, a person not yet bound included
        if let Some(shopper) = attributed.shopper {
            for &rival in attributed.rivals.iter().filter(|&&r| r < LOCAL_ID_BASE) {
                self.sessions
                    .flag_contested(attributed.event.id, shopper, rival);
            }
        }
        self.attribute(attributed.shopper, attributed.event, emit);
    }

    /// Reviews the session of every shopper whose floor track came within `suspect_radius_m` of the
    /// event's slot during `span` (a second either side), but for `owner`'s: nobody's hand was seen
    /// doing it, and one of them may have.
    fn flag_suspects(
        &mut self,
        event: &ShelfEvent,
        span: (CaptureTime, CaptureTime),
        owner: Option<u64>,
    ) {
        for track in self.near_slot(&event.slot, span) {
            self.sessions
                .flag_unseen_nearby(event.id, &event.slot, track, owner);
        }
    }

    /// The shoppers fusion placed within reach of `slot`'s front (`arm_reach_m` plus one
    /// `floor_reach_m`) around `moment` (half a second either side).
    fn within_reach(&self, slot: &str, moment: CaptureTime) -> Vec<u64> {
        let slack = Duration::from_millis(500);
        let radius = self.config.shelf.arm_reach_m + self.config.shelf.floor_reach_m;
        self.came_near(slot, (moment, moment), slack, radius)
    }

    /// The shoppers whose floor track came within `radius` metres of `slot`'s front during `span`,
    /// `slack` either side.
    fn came_near(
        &self,
        slot: &str,
        span: (CaptureTime, CaptureTime),
        slack: Duration,
        radius: f64,
    ) -> Vec<u64> {
        let Some(front) = self.slot_fronts.get(slot) else {
            return Vec::new();
        };
        let (from, to) = (span.0.saturating_sub(slack), span.1.saturating_add(slack));
        self.fusion
            .tracks()
            .filter(|t| {
                // the path is in time order
                let first = t.path.partition_point(|(at, _)| *at < from);
                t.path[first..]
                    .iter()
                    .take_while(|(at, _)| *at <= to)
                    .any(|(_, p)| (p - front).norm() <= radius)
            })
            .map(|t| t.id)
            .collect()
    }

    /// The shoppers whose floor track came within `suspect_radius_m` of `slot`'s front during `span`
    /// (a second either side).
    fn near_slot(&self, slot: &str, span: (CaptureTime, CaptureTime)) -> Vec<u64> {
        let radius = self.config.shelf.suspect_radius_m;
        self.came_near(slot, span, Duration::from_secs(1), radius)
    }

    /// A put-back that neither the chosen shopper nor any rival holds the item for (after
    /// [`Self::put_back_by_holder`] and [`Self::recognise_misplaced`]) was somebody else's: nobody puts
    /// back what they never took, and the camera may have lost the one who did (their hand given to
    /// the body next to it, their track to someone else). The shoppers who hold the item and came near
    /// the slot while it happened are reviewed for it; when there is exactly one, it is theirs, and the
    /// chosen shopper becomes a rival (reviewed too).
    fn put_back_by_near_holder(&mut self, mut attributed: AttributedEvent) -> AttributedEvent {
        let event = &attributed.event;
        let Some(chosen) = attributed.shopper.filter(|&s| s < LOCAL_ID_BASE) else {
            return attributed;
        };
        if event.kind != EventKind::Put
            || self.holds(chosen, event)
            || attributed.rivals.iter().any(|&r| self.holds(r, event))
        {
            return attributed;
        }
        let chosen_session = self.sessions.session_of_track(chosen);
        let holders: Vec<u64> = self
            .near_slot(&event.slot, attributed.span)
            .into_iter()
            .filter(|&t| t != chosen && self.holds(t, event))
            .filter(|&t| {
                chosen_session.is_none() || self.sessions.session_of_track(t) != chosen_session
            })
            .collect();
        for &holder in &holders {
            self.sessions
                .flag_held_put_back(event.id, &event.sku, holder, chosen);
        }
        if let [holder] = holders[..] {
            give_to(
                &mut attributed,
                holder,
                "a put-back nobody near its hand held, given to the one shopper near the slot who did",
            );
        }
        attributed
    }

    fn attribute(
        &mut self,
        shopper: Option<u64>,
        event: ShelfEvent,
        emit: &mut dyn FnMut(StoreOutput),
    ) {
        let Some(shopper) = shopper.filter(|&s| s < LOCAL_ID_BASE) else {
            // no shopper's hand was near: an operator has to decide
            emit(StoreOutput::Event {
                event,
                session: None,
            });
            return;
        };
        if let Err(event) = self.add_to_session(shopper, event, emit) {
            self.unattributed.push((shopper, event));
        }
    }

    /// Puts the event in the shopper's session and reports it; gives it back when the shopper has no
    /// session (yet).
    fn add_to_session(
        &mut self,
        shopper: u64,
        mut event: ShelfEvent,
        emit: &mut dyn FnMut(StoreOutput),
    ) -> Result<(), ShelfEvent> {
        if let Some(session) = self
            .sessions
            .session_of_track(shopper)
            .filter(|&s| self.sessions.get(s).is_some_and(|s| s.final_at.is_some()))
        {
            // its cart is charged or with an operator already: the event is the operator's to place
            tracing::warn!(
                event = event.id,
                session,
                slot = %event.slot,
                "shelf event settled after its session was final"
            );
            emit(StoreOutput::Event {
                event,
                session: None,
            });
            return Ok(());
        }
        let session = self
            .sessions
            .add_event(shopper, event.clone())
            .ok_or_else(|| event.clone())?;
        event.session = Some(session);
        let others: BTreeSet<u64> = self
            .fusion
            .track(shopper)
            .map(|t| t.doubted_with(event.time).collect())
            .unwrap_or_default();
        if !others.is_empty() {
            let others: Vec<u64> = others.into_iter().collect();
            self.sessions
                .flag_uncertain_identity(event.id, shopper, &others);
        }
        emit(StoreOutput::Event {
            event,
            session: Some(session),
        });
        Ok(())
    }

    fn run_step(&mut self, time: CaptureTime, emit: &mut dyn FnMut(StoreOutput)) {
        let observations: Vec<FloorObservation> = self
            .cameras
            .values_mut()
            .flat_map(|c| std::mem::take(&mut c.observations))
            .collect();
        let changes = self.fusion.update(time, &observations);
        for doubt in &changes.doubts {
            let mut subjects = vec![Subject {
                local_id: doubt.local_id,
                shopper: doubt.shopper,
                other: doubt.other,
                hidden: false,
            }];
            subjects.extend(doubt.other_local.map(|local_id| Subject {
                local_id,
                shopper: doubt.other,
                other: doubt.shopper,
                hidden: false,
            }));
            self.doubt_checks
                .watch(&self.fusion, time, &doubt.camera, &subjects);
        }
        // one person the cameras placed apart: merged, unless both have sessions of their own
        let sessions = &self.sessions;
        let merges = self.fusion.merge_twins(time, |a, b| {
            sessions.session_of_track(a).is_some() && sessions.session_of_track(b).is_some()
        });
        for (gone, kept) in merges {
            tracing::debug!(gone, kept, "one shopper seen twice: merged");
            self.sessions.merge_tracks(gone, kept);
            for camera in self.cameras.values_mut() {
                camera.shelf.relabel(gone, kept);
            }
            for (shopper, _) in &mut self.unattributed {
                if *shopper == gone {
                    *shopper = kept;
                }
            }
        }
        // camera tracks the shelves saw before fusion bound them: what they did is their shopper's
        for (id, camera) in &mut self.cameras {
            if camera.seen_unbound.is_empty() {
                continue;
            }
            let (fusion, tracker, shelf) = (&self.fusion, &camera.tracker, &mut camera.shelf);
            camera
                .seen_unbound
                .retain(|&local| match fusion.global_id(id, local) {
                    Some(shopper) => {
                        shelf.relabel(LOCAL_ID_BASE + local, shopper);
                        false
                    }
                    // a track that died unbound is no one's
                    None => tracker.tracks().iter().any(|t| t.id == local),
                });
        }
        let session_changes = self.sessions.on_fusion(time, &changes, &self.fusion);
        // retry events whose shopper had no session yet; after ten seconds an operator decides
        let pending = std::mem::take(&mut self.unattributed);
        for (shopper, event) in pending {
            match self.add_to_session(shopper, event, emit) {
                Ok(()) => {}
                Err(event) if time.saturating_since(event.time) < Duration::from_secs(10) => {
                    self.unattributed.push((shopper, event))
                }
                Err(event) => emit(StoreOutput::Event {
                    event,
                    session: None,
                }),
            }
        }
        self.settling.extend(session_changes.closed);
        self.finalise_settled(time, false, emit);
        let shoppers = self
            .fusion
            .tracks()
            .filter(|t| t.state == GlobalState::Active)
            .map(|t| ShopperPosition {
                shopper: t.id,
                position_m: [t.position_m.x, t.position_m.y],
                session: self.sessions.session_of_track(t.id),
            })
            .collect();
        emit(StoreOutput::Positions { time, shoppers });
    }

    /// Reports closed every settling session whose shelves have settled: no interaction that was going
    /// on when its shoppers left is still open. One still open after `settle_wait_secs` (or at the end
    /// of the input, with `force`) sends the session to review.
    fn finalise_settled(
        &mut self,
        now: CaptureTime,
        force: bool,
        emit: &mut dyn FnMut(StoreOutput),
    ) {
        let wait = Duration::from_secs_f64(self.config.sessions.settle_wait_secs.max(0.0));
        for id in std::mem::take(&mut self.settling) {
            let Some(session) = self.sessions.get(id) else {
                continue;
            };
            // closed sessions carry the time their shoppers left; never drop one without it
            let left = session.closed_at.unwrap_or(now);
            let paths: Vec<&[(CaptureTime, Point2<f64>)]> = session
                .tracks
                .iter()
                .filter_map(|t| self.fusion.track(*t))
                .map(|t| t.path.as_slice())
                .collect();
            // the interactions going on when they left that one of them came near (all, for a slot
            // whose place on the floor is not known)
            let radius = self.config.shelf.suspect_radius_m;
            let unsettled: BTreeSet<String> = self
                .cameras
                .values()
                .flat_map(|c| c.shelf.open_interactions())
                .filter(|(_, started)| *started <= left)
                .filter(|(slot, started)| {
                    let Some(front) = self.slot_fronts.get(*slot) else {
                        return true;
                    };
                    let from = started.saturating_sub(Duration::from_secs(1));
                    paths.iter().any(|path| {
                        let start = path.partition_point(|(at, _)| *at < from);
                        path[start..]
                            .iter()
                            .any(|(_, p)| (p - front).norm() <= radius)
                    })
                })
                .map(|(slot, _)| slot.to_owned())
                .collect();
            if !unsettled.is_empty() {
                if !force && now.saturating_since(left) < wait {
                    self.settling.push(id);
                    continue;
                }
                self.sessions
                    .flag_unsettled(id, unsettled.into_iter().collect());
            }
            if let Some(session) = self.sessions.finalise(id, now) {
                emit(StoreOutput::SessionClosed(Box::new(session.clone())));
            }
        }
    }

    /// Runs the last step and closes whatever can be closed; called when the input ends.
    pub fn flush(&mut self, emit: &mut dyn FnMut(StoreOutput)) {
        // scale readings still waiting for their camera become events with what was seen
        let mut pending = Vec::new();
        for camera in self.cameras.values_mut() {
            pending.extend(camera.shelf.flush(&[]));
        }
        for attributed in pending {
            self.route(attributed, emit);
        }
        if let Some(end) = self.step_end {
            self.run_step(end, emit);
            // shoppers lost on the way out are not coming back: their sessions close, for review
            let unseen = self.sessions.close_unseen_at_end(end, &self.fusion);
            self.settling.extend(unseen);
            self.finalise_settled(end, true, emit);
        }
        for (_, event) in std::mem::take(&mut self.unattributed) {
            emit(StoreOutput::Event {
                event,
                session: None,
            });
        }
    }
}

impl Stage<StoreInput, StoreOutput> for StoreLogic {
    fn process(&mut self, item: StoreInput, emit: &mut dyn FnMut(StoreOutput)) {
        self.handle(item, emit);
    }

    fn finish(&mut self, emit: &mut dyn FnMut(StoreOutput)) {
        self.flush(emit);
    }
}

/// The shopper more cameras chose than chose the watching camera's `watched` (which counts as one
/// more vote for itself), of the `lent` choices of the cameras lending their view: the most chosen, the
/// lowest id of equals. A choice of nobody never wins.
fn outvoted(watched: Option<u64>, lent: &[Option<u64>]) -> Option<u64> {
    let mut votes: BTreeMap<Option<u64>, usize> = BTreeMap::new();
    for &shopper in lent.iter().chain([&watched]) {
        *votes.entry(shopper).or_insert(0) += 1;
    }
    let for_watched = votes.get(&watched).copied().unwrap_or(0);
    let mut best: Option<(u64, usize)> = None;
    for (shopper, n) in votes {
        if let Some(shopper) = shopper
            && n > for_watched
            && best.is_none_or(|(_, most)| n > most)
        {
            best = Some((shopper, n));
        }
    }
    best.map(|(shopper, _)| shopper)
}

/// Whether the watching camera's view of a reading it saw no hand in (`weighed`) still names whose it
/// was against cameras that saw a hand and gave it someone else: it saw one shopper's body, and only
/// theirs, over the slot, and showed everyone fusion placed within reach of it (`near`). A hand the
/// other cameras gave someone else is then theirs only in those cameras' pictures, seen from further
/// off (busy 11207: two far cameras gave a hand to the shopper beside the one whose body alone the
/// watching camera saw over the slot for 71 frames). The choice stands, reviewed.
fn sole_body_over_slot(weighed: &crate::shelf::Weighed, near: &[u64]) -> bool {
    weighed.body_frames > 0
        && weighed.support.len() == 1
        && near.iter().all(|s| weighed.shown.contains(s))
}

/// Whom more of the cameras that saw the hand chose than chose the watching camera's `watched`
/// ([`outvoted`]), where the hand support of all of them (`supports`, the watching camera's among
/// them), pooled, points to that shopper too: a majority the support does not back is no majority,
/// and the watching camera's choice stands, unsure. Seen on busy 11199: one camera's single frame of
/// a hand and another's whose track was bound to the shopper beside outvoted the watching camera,
/// whose hand support for its choice was three times theirs together.
fn backed_majority(
    watched: Option<u64>,
    lent: &[Option<u64>],
    supports: &[&BTreeMap<u64, f32>],
) -> Option<u64> {
    outvoted(watched, lent).filter(|&best| pooled(watched, supports, 0.0).0 == Some(best))
}

/// Of the cameras lending their view that saw the hand (`lent`, each one's choice), the shoppers
/// chosen other than the watching camera's `watched`.
fn dissenting(watched: Option<u64>, lent: &[Option<u64>]) -> Vec<u64> {
    let others: BTreeSet<u64> = lent
        .iter()
        .flatten()
        .copied()
        .filter(|&s| Some(s) != watched)
        .collect();
    others.into_iter().collect()
}

/// The share of the cameras that saw the hand and chose someone, the watching one (which chose
/// `watched`) included, that chose `shopper`.
fn share_choosing(shopper: Option<u64>, watched: Option<u64>, lent: &[Option<u64>]) -> f32 {
    let choosing = lent
        .iter()
        .chain([&watched])
        .filter(|&&s| s.is_some() && s == shopper)
        .count();
    choosing as f32 / (1 + lent.iter().flatten().count()) as f32
}

/// Whom the hand support of several cameras (`supports`, the watching camera's among them), pooled,
/// points to instead of the watching camera's choice `watched`, where the pooled margin is at least
/// `sure` (`None` where it points to `watched`, or is not sure), and that margin.
fn pooled(watched: Option<u64>, supports: &[&BTreeMap<u64, f32>], sure: f32) -> (Option<u64>, f32) {
    let mut sum: BTreeMap<u64, f32> = BTreeMap::new();
    for support in supports {
        for (&shopper, &s) in *support {
            *sum.entry(shopper).or_insert(0.0) += s;
        }
    }
    let (best, margin) = crate::shelf::attribute(&sum);
    (
        best.filter(|&b| margin >= sure && Some(b) != watched),
        margin,
    )
}

/// Where the cameras that saw a hand at the slot, the watching camera having seen none, disagree
/// whose it was (`saw`: each one's choice and hand support): whom their support, pooled, points to,
/// and how sure that is (the pooled margin, at most the share of them that chose the same). `None`
/// where they agree. Seen on busy 11203: a far camera's seven frames of a hand it gave the shopper
/// behind outweighed a nearer camera's two of the shopper whose hand it was; pooled, 0.62 to 0.02.
fn pooled_when_split(saw: &[(Option<u64>, &BTreeMap<u64, f32>)]) -> Option<(u64, f32)> {
    let chosen: BTreeSet<Option<u64>> = saw.iter().map(|(s, _)| *s).collect();
    if chosen.len() < 2 {
        return None;
    }
    let supports: Vec<&BTreeMap<u64, f32>> = saw.iter().map(|(_, s)| *s).collect();
    let (best, margin) = pooled(None, &supports, 0.0);
    let best = best?;
    let named = saw.iter().filter(|(s, _)| s.is_some()).count();
    let same = saw.iter().filter(|(s, _)| *s == Some(best)).count();
    Some((best, margin.min(same as f32 / named.max(1) as f32)))
}

/// Gives an event to `holder` instead of its chosen shopper, who becomes a rival (reviewed), and logs
/// `why`.
fn give_to(attributed: &mut AttributedEvent, holder: u64, why: &str) {
    tracing::debug!(
        event = attributed.event.id,
        slot = %attributed.event.slot,
        chosen = ?attributed.shopper,
        holder,
        "{why}"
    );
    attributed.rivals.retain(|&r| r != holder);
    attributed.rivals.extend(attributed.shopper);
    attributed.shopper = Some(holder);
}

/// Who put an item back, of the chosen shopper and their rivals, when the chosen one cannot have (their
/// cart does not hold it) and exactly one rival can; `None` leaves it with the chosen one.
fn sole_holder(chosen: u64, rivals: &[u64], holds: impl Fn(u64) -> bool) -> Option<u64> {
    if holds(chosen) {
        return None;
    }
    let mut holders = rivals.iter().copied().filter(|&r| holds(r));
    match (holders.next(), holders.next()) {
        (Some(holder), None) => Some(holder),
        _ => None,
    }
}

/// A camera track bound to `shows.bound` showed `shows.other` (the two were swapped in this camera).
/// Where the camera also has a track bound to `shows.other`, its tracker swapped the two people (the
/// two tracks crossed, or one jumped onto a newcomer beside it and the person it had followed got a
/// new track): fusion binds each track to the other shopper from now on, so the swap goes no further
/// (left as it was, the other cameras' tracks were bound again to the swapped shoppers within seconds:
/// busy 11191), and the two shoppers' shelf support since the doubt was raised is swapped both ways.
/// Otherwise fusion keeps the binding (its place on the floor still fits: the two stood close), but
/// from now on the shelves see the track as `shows.other`, and what they saw of it since the doubt
/// is relabelled.
fn put_right_swap(
    camera: &mut CameraState,
    fusion: &mut Fusion,
    id: &CameraId,
    shows: &ShowsOther,
) {
    // seen so already, or bound afresh since the views (the other track of a crossing put right in
    // this same frame showed the other shopper too: done with the first)
    if camera.shows_other.contains_key(&shows.local_id)
        || fusion.global_id(id, shows.local_id) != Some(shows.bound)
    {
        return;
    }
    let crossed =
        camera.shown.keys().copied().find(|&local| {
            local != shows.local_id && fusion.global_id(id, local) == Some(shows.other)
        });
    let rebound = crossed.is_some_and(|crossed| fusion.swap_bindings(id, shows.local_id, crossed));
    let mut map = BTreeMap::from([(shows.bound, shows.other)]);
    if rebound {
        map.insert(shows.other, shows.bound);
    } else {
        camera
            .shows_other
            .insert(shows.local_id, (shows.bound, shows.other));
    }
    tracing::debug!(
        camera = %id,
        track = shows.local_id,
        bound = shows.bound,
        other = shows.other,
        ?crossed,
        rebound,
        since_ms = shows.since.unix_millis(),
        "a camera track showed the other shopper of its doubt: the shelves see it as them"
    );
    camera.shelf.relabel_since(shows.since, &map);
}

#[cfg(test)]
mod tests {
    use nalgebra::Point3;

    use super::*;
    use crate::calibration::Intrinsics;

    #[test]
    fn the_cameras_that_saw_the_hand_outvote_the_watching_one_only_by_a_majority() {
        // two lending cameras chose shopper 2 where the watching one chose 1
        assert_eq!(outvoted(Some(1), &[Some(2), Some(2)]), Some(2));
        assert_eq!(outvoted(Some(1), &[Some(2), Some(2), Some(1)]), None);
        // one against one: the watching camera's choice stands
        assert_eq!(outvoted(Some(1), &[Some(2)]), None);
        assert_eq!(outvoted(Some(1), &[Some(2), Some(3)]), None);
        // agreeing with it, or choosing nobody, changes nothing
        assert_eq!(outvoted(Some(1), &[Some(1), None, None]), None);
        // a watching camera that chose nobody is outvoted by two that agree
        assert_eq!(outvoted(None, &[Some(4), Some(4)]), Some(4));
        assert_eq!(outvoted(None, &[Some(4)]), None);
        // the most chosen wins
        assert_eq!(
            outvoted(Some(1), &[Some(3), Some(2), Some(3), Some(2), Some(3)]),
            Some(3)
        );
    }

    #[test]
    fn where_the_cameras_that_saw_the_hand_disagree_their_support_pooled_decides() {
        let near = BTreeMap::from([(1, 0.62f32), (3, 0.02)]);
        let far = BTreeMap::from([(2, 1e-13f32), (3, 0.02)]);
        // one against one: the pooled support points to 1, but only half the cameras chose them
        let (best, sure) = pooled_when_split(&[(Some(3), &far), (Some(1), &near)]).unwrap();
        assert_eq!(best, 1);
        assert!(sure <= 0.5, "{sure}");
        // two of three chose 1 and the pooled margin is wide: as sure as two thirds
        let (best, sure) =
            pooled_when_split(&[(Some(1), &near), (Some(3), &far), (Some(1), &near)]).unwrap();
        assert_eq!((best, sure), (1, 2.0 / 3.0));
        // a close pooled margin makes it less sure than the share
        let even = BTreeMap::from([(1, 0.5f32), (3, 0.45)]);
        let (best, sure) = pooled_when_split(&[(Some(1), &even), (Some(3), &far)]).unwrap();
        assert_eq!(best, 1);
        assert!(sure < 0.2, "{sure}");
        // agreeing cameras, or one alone, leave it to the one that saw the hand longest
        assert_eq!(
            pooled_when_split(&[(Some(3), &far), (Some(3), &near)]),
            None
        );
        assert_eq!(pooled_when_split(&[(Some(1), &near)]), None);
        assert_eq!(pooled_when_split(&[]), None);
    }

    #[test]
    fn a_majority_the_pooled_hand_support_does_not_back_is_no_majority() {
        // busy 11199: the watching camera's support for 9 against two cameras' for 10
        let watching = BTreeMap::from([(9, 2.89f32), (10, 0.41)]);
        let glimpse = BTreeMap::from([(10, 0.03f32)]);
        let bound_beside = BTreeMap::from([(10, 0.43f32)]);
        let supports = [&watching, &glimpse, &bound_beside];
        assert_eq!(outvoted(Some(9), &[Some(10), Some(10)]), Some(10));
        assert_eq!(
            backed_majority(Some(9), &[Some(10), Some(10)], &supports),
            None
        );
        // where the two lending cameras' support outweighs it, their majority stands
        let clear = BTreeMap::from([(10, 2.5f32)]);
        let supports = [&watching, &clear, &bound_beside];
        assert_eq!(
            backed_majority(Some(9), &[Some(10), Some(10)], &supports),
            Some(10)
        );
        // no majority, no override, whatever the support
        assert_eq!(backed_majority(Some(9), &[Some(10)], &supports), None);
    }

    #[test]
    fn a_sole_body_over_the_slot_in_the_watching_camera_s_view_names_the_shopper() {
        let weighed = |body_frames, support: &[(u64, f32)], shown: &[u64]| crate::shelf::Weighed {
            reading: WeightReading {
                slot: "B3-6".into(),
                delta_g: -718.0,
                time: CaptureTime::from_unix_millis(31_000),
            },
            moved: CaptureTime::from_unix_millis(30_700),
            hand_frames: 0,
            body_frames,
            attribution_confidence: 0.99,
            shown: shown.to_vec(),
            support: support.iter().copied().collect(),
        };
        // busy 11207: shopper 8's body alone over the slot for 71 frames, both 8 and 10 shown
        assert!(sole_body_over_slot(
            &weighed(71, &[(8, 1.05)], &[8, 10]),
            &[8, 10]
        ));
        // someone fusion placed within reach that the camera did not show may have reached in
        assert!(!sole_body_over_slot(
            &weighed(71, &[(8, 1.05)], &[8]),
            &[8, 10]
        ));
        // two bodies over the slot, or none: nothing to name
        assert!(!sole_body_over_slot(
            &weighed(71, &[(8, 1.05), (10, 0.2)], &[8, 10]),
            &[8, 10]
        ));
        assert!(!sole_body_over_slot(&weighed(0, &[], &[]), &[]));
    }

    #[test]
    fn cameras_that_saw_the_hand_as_another_s_make_the_watching_camera_s_choice_unsure() {
        // whom the lending cameras chose other than the watching camera's choice: its rivals
        assert_eq!(dissenting(Some(1), &[Some(2)]), vec![2]);
        assert_eq!(dissenting(Some(1), &[Some(1), Some(3)]), vec![3]);
        assert_eq!(
            dissenting(Some(1), &[Some(3), Some(2), Some(3)]),
            vec![2, 3]
        );
        // the share that chose the watching camera's shopper, or another: one against one is a coin
        assert_eq!(share_choosing(Some(1), Some(1), &[Some(2)]), 0.5);
        assert_eq!(share_choosing(Some(2), Some(1), &[Some(2)]), 0.5);
        assert_eq!(
            share_choosing(Some(1), Some(1), &[Some(1), Some(3)]),
            2.0 / 3.0
        );
        assert_eq!(share_choosing(Some(1), Some(1), &[Some(2), None]), 0.5);
        assert_eq!(share_choosing(None, None, &[Some(2)]), 0.0);
        // all agree, or the others chose nobody: nobody dissents
        assert!(dissenting(Some(1), &[Some(1), Some(1)]).is_empty());
        assert!(dissenting(Some(1), &[None]).is_empty());
        assert_eq!(dissenting(Some(1), &[Some(2), None]), vec![2]);
        assert!(dissenting(Some(1), &[]).is_empty());
    }

    #[test]
    fn the_pooled_hand_support_of_two_disagreeing_cameras_decides_only_where_it_is_sure() {
        let support = |pairs: &[(u64, f32)]| pairs.iter().copied().collect::<BTreeMap<u64, f32>>();
        // the watching camera saw the hand faintly nearer 1, the lending one clearly on 2's body
        // (busy 11180, F3-4): pooled, 2 by a margin of 0.62
        let watcher = support(&[(1, 0.17), (2, 0.05)]);
        let lender = support(&[(2, 0.87), (1, 0.18)]);
        let (instead, margin) = pooled(Some(1), &[&watcher, &lender], 0.6);
        assert_eq!(instead, Some(2));
        assert!((margin - 0.62).abs() < 0.01, "{margin}");
        // not sure enough: the watching camera's choice stands, as sure as the margin
        assert_eq!(pooled(Some(1), &[&watcher, &lender], 0.7).0, None);
        // as strong on both sides (busy 11179, D2-6): a coin, the watching camera's choice stands
        let watcher = support(&[(4, 2.37), (3, 0.10)]);
        let lender = support(&[(3, 2.41), (4, 0.10)]);
        let (instead, margin) = pooled(Some(4), &[&watcher, &lender], 0.6);
        assert_eq!(instead, None);
        assert!(margin < 0.05, "{margin}");
        // the pooled support points to the watching camera's choice: nothing changes but the margin
        let watcher = support(&[(1, 2.0), (2, 0.1)]);
        let lender = support(&[(2, 0.3), (1, 0.1)]);
        let (instead, margin) = pooled(Some(1), &[&watcher, &lender], 0.6);
        assert_eq!(instead, None);
        assert!((margin - 0.81).abs() < 0.01, "{margin}");
    }

    #[test]
    fn a_put_back_is_the_one_rivals_who_holds_the_item_when_the_chosen_one_does_not() {
        let holding = |who: &'static [u64]| move |s: u64| who.contains(&s);
        // the chosen shopper holds it: theirs, whoever else does
        assert_eq!(sole_holder(1, &[2, 3], holding(&[1, 2])), None);
        // only rival 3 holds it
        assert_eq!(sole_holder(1, &[2, 3], holding(&[3])), Some(3));
        // two rivals hold it, or nobody does: no telling, it stays
        assert_eq!(sole_holder(1, &[2, 3], holding(&[2, 3])), None);
        assert_eq!(sole_holder(1, &[2, 3], holding(&[])), None);
        // a holder who is not a rival was not at the slot
        assert_eq!(sole_holder(1, &[2], holding(&[4])), None);
    }

    #[test]
    fn whom_the_watching_camera_chose_is_a_rival_of_another_camera_s_choice() {
        // the lending camera saw 8's hand, the watching one 9's body: 9 may have done it
        let mut rivals = Vec::new();
        add_rivals(Some(8), &mut rivals, [9]);
        assert_eq!(rivals, vec![9]);
        // both chose 8: no rival; rivals already there stay once
        let mut rivals = vec![3];
        add_rivals(Some(8), &mut rivals, [8, 3, 4]);
        assert_eq!(rivals, vec![3, 4]);
    }

    #[test]
    fn a_track_that_goes_unseen_under_another_s_box_was_hidden_behind_it() {
        let b = |x1: f32, x2: f32| BBox {
            x1,
            y1: 100.0,
            x2,
            y2: 300.0,
        };
        let before = BTreeMap::from([
            (1, b(100.0, 160.0)),
            (2, b(130.0, 190.0)),
            (3, b(400.0, 460.0)),
        ]);
        // track 2 stepped behind track 1 (whose box widened over both); track 3 left the picture
        let now = BTreeMap::from([(1, b(100.0, 185.0))]);
        assert_eq!(hidden_behind(&before, &now, 0.5), vec![(2, 1)]);
        // a box that covers less than the share asked for hid nothing
        assert!(hidden_behind(&before, &now, 0.95).is_empty());
        // off
        assert!(hidden_behind(&before, &now, 0.0).is_empty());
        // tracks still shown hid nothing, however they overlap
        assert!(hidden_behind(&before, &before, 0.5).is_empty());
    }

    #[test]
    fn a_shopper_whose_feet_the_image_cuts_off_is_placed_by_their_head() {
        // a ceiling camera at 3 m looking down the aisle; a shopper of the head-top height stands
        // close under it, so the bottom of their box is the image's edge, not their feet
        let camera = Calibration::looking_at(
            Intrinsics::from_fov(640, 480, 90.0),
            Point3::new(0.0, 0.0, 3.0),
            Point3::new(0.0, 4.0, 0.0),
        );
        let head_top_m = ShelfConfig::default().head_top_m;
        let stands = Point2::new(0.3, 0.7);
        let head = camera
            .image_from_world(&Point3::new(stands.x, stands.y, head_top_m))
            .unwrap();
        let feet = camera
            .image_from_world(&Point3::new(stands.x, stands.y, 0.0))
            .unwrap();
        assert!(feet.y > 480.0, "the feet are below the image: {feet}");
        let cut = BBox::new(
            head.x as f32 - 30.0,
            head.y as f32,
            head.x as f32 + 30.0,
            480.0,
        );
        let floor_from_image = camera.plane_from_image(0.0).unwrap();
        let head_from_image = camera.plane_from_image(head_top_m).unwrap();
        let by_edge = apply_homography(&floor_from_image, &Point2::new(head.x, 480.0));
        let placed = stands_at(by_edge, Some(&head_from_image), 480.0, &cut).unwrap();
        assert!((placed - stands).norm() < 0.05, "{placed} for {stands}");
        // the box's bottom edge would have put them short of where they stand
        let by_edge = by_edge.unwrap();
        assert!((by_edge - stands).norm() > 0.3, "{by_edge} for {stands}");
        // a box whose feet are in view is placed by its feet
        let whole = BBox::new(300.0, 200.0, 340.0, 400.0);
        let foot = apply_homography(&floor_from_image, &Point2::new(320.0, 400.0));
        assert_eq!(stands_at(foot, Some(&head_from_image), 480.0, &whole), foot);
    }
}
