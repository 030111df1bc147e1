//! Cross-camera fusion: every camera's tracks, put on the floor plan, become one global shopper id that
//! lasts from entry to exit.
//!
//! Each camera tracker numbers its own tracks. A camera track is bound to a global track the first time
//! it is seen (by distance on the floor, within a gate that widens with the time the global track has
//! been unseen), and the binding holds for as long as the camera track lives, so a hand-over between
//! cameras or a short occlusion keeps the shopper's id. New global tracks are born only in birth zones
//! (the entry gates): a shopper who reappears in the middle of the store is re-associated with the lost
//! track nearest in space and time, not born again.
//!
//! A binding made where another shopper was nearly as close may have swapped two shoppers: both global
//! tracks then carry an identity doubt from that time, so that what they do afterwards is reviewed,
//! unless the camera's clear views after it show each to be who they were ([`crate::verify`]).
//! Where the camera track's look (its colour histogram, [`Appearance`]) is known, it weighs in the
//! binding; a rival nearly as close but clearly unlike it can be let off the doubt (`appearance_margin`).
//! A camera's tracker can swap two shoppers without any new binding: when one goes unseen behind the
//! other (or into one box with them) and comes out again, either may come out as either. The store
//! reports such moments ([`Fusion::doubt`], `hidden_cover`), and both shoppers carry a doubt from then.

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{Point2, Vector2};
use serde::{Deserialize, Serialize};
use walkout_core::{Appearance, CameraId, CaptureTime};

use crate::assignment::assign;

/// A rectangle on the floor, in metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub min_m: [f64; 2],
    pub max_m: [f64; 2],
}

impl Zone {
    pub fn around(center_m: [f64; 2], half_size_m: [f64; 2]) -> Self {
        Self {
            min_m: [center_m[0] - half_size_m[0], center_m[1] - half_size_m[1]],
            max_m: [center_m[0] + half_size_m[0], center_m[1] + half_size_m[1]],
        }
    }

    pub fn center(&self) -> Point2<f64> {
        Point2::new(
            (self.min_m[0] + self.max_m[0]) / 2.0,
            (self.min_m[1] + self.max_m[1]) / 2.0,
        )
    }

    pub fn contains(&self, p: &Point2<f64>) -> bool {
        p.x >= self.min_m[0] && p.x <= self.max_m[0] && p.y >= self.min_m[1] && p.y <= self.max_m[1]
    }
}

/// Fusion settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FusionConfig {
    /// Largest distance between a new camera track and a live global track to bind them, in metres.
    pub gate_m: f64,
    /// How fast a shopper can walk, in metres per second: the gate for a lost track grows with this.
    pub max_speed_m_per_s: f64,
    /// The gate stops growing here, in metres.
    pub max_gate_m: f64,
    /// A global track with no observation for this long is lost.
    pub lost_after_secs: f64,
    /// A lost global track can be re-associated for this long; after it, it is gone (and flagged if it
    /// vanished inside the store).
    pub forget_after_secs: f64,
    /// A shopper who exited or vanished is dropped this long after they were last seen, seconds, path
    /// and all: a store open for days would otherwise keep every visitor's path (ten points a second
    /// while they shop) and look through all of them for every shelf event. 0: kept for good.
    #[serde(default = "default_drop_gone_after_secs")]
    pub drop_gone_after_secs: f64,
    /// Where shoppers may appear: the entry gates.
    pub birth_zones: Vec<Zone>,
    /// Where shoppers leave: a track lost here has exited.
    pub exit_zones: Vec<Zone>,
    /// Steps an unexplained camera track must persist outside every birth zone before it is born anyway
    /// (and flagged): someone the entry cameras missed.
    pub orphan_birth_steps: u32,
    /// A camera track joins a global track surely only when every other shopper is at least this much
    /// further away, in metres, one the camera already sees on another track included (its tracker
    /// may have jumped from them onto the one beside them); otherwise the two shoppers may have been
    /// swapped and both carry an identity doubt from then on.
    #[serde(default = "default_identity_margin_m")]
    pub identity_margin_m: f64,
    /// A rival nearly as close raises no doubt when the camera track looks this much more like the
    /// chosen shopper than like the rival (difference of the histograms' similarities, 0..1; above 1
    /// never, the default: see `default_appearance_margin`).
    #[serde(default = "default_appearance_margin")]
    pub appearance_margin: f32,
    /// How far each bound observation moves a shopper's look towards its own (0..1 per observation).
    #[serde(default = "default_appearance_weight")]
    pub appearance_weight: f32,
    /// A camera track bound to a shopper whom other cameras see further than this from it, in metres,
    /// has swapped onto someone else (its tracker mixed up two people whose boxes overlapped): it lets
    /// go and is associated afresh. 0: never.
    #[serde(default = "default_stray_m")]
    pub stray_m: f64,
    /// Two active shoppers within `gate_m` of each other for this long, seconds, whom no camera ever
    /// sees as two (each camera that sees one does not see the other; judged in the steps that saw
    /// both, so a missed detection does not restart the wait) are one person the cameras placed
    /// apart (a far camera's foot points are off by more than the gate where the person was first
    /// seen): the younger is merged into the older ([`Fusion::merge_twins`]). 0: never.
    #[serde(default = "default_twin_secs")]
    pub twin_secs: f64,
    /// A shopper lost outside every exit zone while walking into one, who would have reached it
    /// within this many seconds at their last velocity, went out when the cameras lost them at the
    /// door: once `forget_after_secs` passes without them coming back, they have exited, not vanished
    /// ([`Fusion::heads_out`]). 0: never.
    #[serde(default = "default_exit_eta_secs")]
    pub exit_eta_secs: f64,
    /// A camera track that stops being seen while another shopper's box in that camera covers this
    /// share of where its tracker expects it now went behind them, or into one box with them: the
    /// camera's tracker may bring either out as either, so both shoppers carry an identity doubt from
    /// then on ([`Fusion::doubt`]). 0: never.
    #[serde(default = "default_hidden_cover")]
    pub hidden_cover: f32,
    /// A doubt is dismissed when the camera tracks it is about show, in this many clear views (their
    /// box overlapping no other) after it, each the shopper they are bound to: their look is more like
    /// that shopper's, as fusion knew it at the doubt, than the other's by `verify_margin` (difference
    /// of the histograms' similarities, 0..1), and no view is as much the other way. 0: never.
    #[serde(default = "default_verify_views")]
    pub verify_views: u32,
    /// See `verify_views`.
    #[serde(default = "default_verify_margin")]
    pub verify_margin: f32,
    /// A doubted camera track that shows the other shopper of its doubt in this many clear views (by
    /// `verify_margin`, and no view its own) is taken to show them ([`crate::verify::ShowsOther`]): bound
    /// to them where the camera follows them on another track (its tracker swapped the two), and seen
    /// as them at the shelves otherwise. 0: never.
    #[serde(default = "default_shows_other_views")]
    pub shows_other_views: u32,
    /// A doubt not dismissed this many seconds after it stays for good.
    #[serde(default = "default_verify_within_secs")]
    pub verify_within_secs: f64,
}

fn default_verify_views() -> u32 {
    3
}

fn default_verify_margin() -> f32 {
    0.15
}

fn default_shows_other_views() -> u32 {
    // one view like the other was the other in 26 of 39 (see `ShowsOther`); the second in 27 of 34
    2
}

fn default_verify_within_secs() -> f64 {
    10.0
}

fn default_hidden_cover() -> f32 {
    0.5
}

fn default_drop_gone_after_secs() -> f64 {
    // long past anything that still asks after them: a lost shopper found again (`forget_after_secs`),
    // a shelf settling after its shopper left, a session waiting for its check-in
    300.0
}

fn default_twin_secs() -> f64 {
    2.0
}

fn default_exit_eta_secs() -> f64 {
    // a couple of strides: the exit camera losing someone in the last metres before the gate
    2.0
}

fn default_stray_m() -> f64 {
    // the association gate: a camera track this far from its shopper would not have joined them
    1.0
}

fn default_identity_margin_m() -> f64 {
    0.5
}

fn default_appearance_margin() -> f32 {
    // off: similarities differ by at most 1. At 0.25 it cut busy's reviews but kept a swap made at the
    // entry (two shoppers entering together, the entrance camera's boxes smeared across both) as
    // confidently as the truth: a wrong charge without review on pairs seed 8201.
    1.5
}

fn default_appearance_weight() -> f32 {
    0.03
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            gate_m: 1.0,
            max_speed_m_per_s: 1.8,
            max_gate_m: 4.0,
            lost_after_secs: 0.5,
            forget_after_secs: 10.0,
            drop_gone_after_secs: default_drop_gone_after_secs(),
            birth_zones: Vec::new(),
            exit_zones: Vec::new(),
            orphan_birth_steps: 15,
            identity_margin_m: default_identity_margin_m(),
            appearance_margin: default_appearance_margin(),
            appearance_weight: default_appearance_weight(),
            stray_m: default_stray_m(),
            twin_secs: default_twin_secs(),
            exit_eta_secs: default_exit_eta_secs(),
            hidden_cover: default_hidden_cover(),
            verify_views: default_verify_views(),
            verify_margin: default_verify_margin(),
            shows_other_views: default_shows_other_views(),
            verify_within_secs: default_verify_within_secs(),
        }
    }
}

/// A camera track's foot point on the floor at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct FloorObservation {
    pub camera: CameraId,
    pub local_id: u64,
    pub position_m: Point2<f64>,
    /// The camera track's look, when the frames were at hand.
    pub appearance: Option<Appearance>,
    /// How far the camera stands from the point, on the floor, in metres: a foot point is off by more
    /// the further it is from the camera. Infinite where the image cuts the feet off and the camera
    /// cannot place the person by their head (the point is the image's edge, not the feet), or the
    /// camera's place is not known.
    pub range_m: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalState {
    Active,
    Lost,
    /// Lost inside an exit zone: the shopper left.
    Exited,
    /// Lost too long elsewhere: the shopper vanished inside the store.
    Vanished,
}

/// One shopper across the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalTrack {
    pub id: u64,
    pub state: GlobalState,
    pub position_m: Point2<f64>,
    pub velocity_m_per_s: Vector2<f64>,
    pub born_at: CaptureTime,
    pub last_seen: CaptureTime,
    /// Born outside every birth zone (an orphan camera track that persisted): worth a look.
    pub born_outside_entry: bool,
    /// Every position, in time order, for the floor map and the evaluator.
    pub path: Vec<(CaptureTime, Point2<f64>)>,
    /// Times this track may have swapped identity with another, in time order.
    #[serde(default)]
    pub identity_doubts: Vec<IdentityDoubt>,
    /// The shopper's look: a running mean of its bound camera tracks' histograms.
    #[serde(default)]
    pub appearance: Option<Appearance>,
}

/// A camera track was bound to one of two global tracks that were nearly as close as each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityDoubt {
    pub time: CaptureTime,
    /// The other global track the binding could have gone to.
    pub other: u64,
}

impl GlobalTrack {
    /// The other shoppers this one may have been swapped with at or before `time`.
    pub fn doubted_with(&self, time: CaptureTime) -> impl Iterator<Item = u64> + '_ {
        self.identity_doubts
            .iter()
            .take_while(move |d| d.time <= time)
            .map(|d| d.other)
    }
}

/// What changed in one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FusionEvents {
    pub born: Vec<u64>,
    pub exited: Vec<u64>,
    pub vanished: Vec<u64>,
    /// Identity doubts raised by bindings in this step (one per pair of shoppers).
    pub doubts: Vec<BindingDoubt>,
}

/// A camera track joined `shopper` while `other` was nearly as close: the two may have been swapped
/// from this step on.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingDoubt {
    pub camera: CameraId,
    pub local_id: u64,
    pub shopper: u64,
    pub other: u64,
    /// The camera's own track bound to `other`, where it has one: the new track may be the shopper
    /// that track was following, its tracker having jumped onto the one beside them.
    pub other_local: Option<u64>,
}

type LocalKey = (CameraId, u64);

/// The fusion state over the whole store.
#[derive(Debug, Clone)]
pub struct Fusion {
    config: FusionConfig,
    tracks: BTreeMap<u64, GlobalTrack>,
    bindings: BTreeMap<LocalKey, u64>,
    orphans: BTreeMap<LocalKey, u32>,
    next_id: u64,
    /// Pairs of shoppers (lower id first) that have looked like one person seen twice since when.
    twins: BTreeMap<(u64, u64), CaptureTime>,
}

impl Fusion {
    pub fn new(config: FusionConfig) -> Self {
        Self {
            config,
            tracks: BTreeMap::new(),
            bindings: BTreeMap::new(),
            orphans: BTreeMap::new(),
            next_id: 1,
            twins: BTreeMap::new(),
        }
    }

    pub fn tracks(&self) -> impl Iterator<Item = &GlobalTrack> {
        self.tracks.values()
    }

    pub fn track(&self, id: u64) -> Option<&GlobalTrack> {
        self.tracks.get(&id)
    }

    /// Whether one camera follows `a` and `b` as two tracks of its own: two people, not one person
    /// seen twice (what [`Fusion::merge_twins`] looks for).
    pub fn shown_apart(&self, a: u64, b: u64) -> bool {
        let cameras = |id: u64| -> BTreeSet<&CameraId> {
            self.bindings
                .iter()
                .filter(|(_, bound)| **bound == id)
                .map(|((camera, _), _)| camera)
                .collect()
        };
        !cameras(a).is_disjoint(&cameras(b))
    }

    /// Merges the shoppers that have been one person seen twice for `twin_secs` (see
    /// [`FusionConfig::twin_secs`]) and returns each merge as `(gone, kept)`: the younger track's
    /// camera tracks now follow the older, and the younger is no more. `keep_apart(a, b)` vetoes a
    /// merge (two shoppers with sessions of their own are two people). Call after each `update`.
    pub fn merge_twins(
        &mut self,
        time: CaptureTime,
        keep_apart: impl Fn(u64, u64) -> bool,
    ) -> Vec<(u64, u64)> {
        if self.config.twin_secs <= 0.0 {
            return Vec::new();
        }
        let mut cameras: BTreeMap<u64, BTreeSet<&CameraId>> = BTreeMap::new();
        for ((camera, _), id) in &self.bindings {
            cameras.entry(*id).or_default().insert(camera);
        }
        let active = |id: &u64| {
            self.tracks
                .get(id)
                .is_some_and(|t| t.state == GlobalState::Active)
        };
        let seen: Vec<&GlobalTrack> = self
            .tracks
            .values()
            .filter(|t| t.state == GlobalState::Active && t.last_seen == time)
            .collect();
        let mut now_twins = BTreeSet::new();
        let mut apart = BTreeSet::new();
        for (i, a) in seen.iter().enumerate() {
            for b in &seen[i + 1..] {
                let pair = (a.id.min(b.id), a.id.max(b.id));
                let (Some(seen_a), Some(seen_b)) = (cameras.get(&a.id), cameras.get(&b.id)) else {
                    apart.insert(pair);
                    continue;
                };
                if seen_a.is_disjoint(seen_b)
                    && (a.position_m - b.position_m).norm() <= self.config.gate_m
                {
                    now_twins.insert(pair);
                } else {
                    apart.insert(pair);
                }
            }
        }
        // a pair is judged only in the steps that saw both: cameras run unsynchronised, and one that
        // missed a shopper's detection for a frame says nothing about whether the two are one
        self.twins
            .retain(|pair, _| !apart.contains(pair) && active(&pair.0) && active(&pair.1));
        let mut merges = Vec::new();
        let mut merged = BTreeSet::new();
        for pair in now_twins {
            let since = *self.twins.entry(pair).or_insert(time);
            let (kept, gone) = pair;
            if secs_between(since, time) < self.config.twin_secs
                || merged.contains(&kept)
                || merged.contains(&gone)
                || keep_apart(kept, gone)
            {
                continue;
            }
            for id in self.bindings.values_mut() {
                if *id == gone {
                    *id = kept;
                }
            }
            self.tracks.remove(&gone);
            merged.insert(kept);
            merged.insert(gone);
            merges.push((gone, kept));
        }
        self.twins
            .retain(|(a, b), _| !merged.contains(a) && !merged.contains(b));
        merges
    }

    /// Records that shoppers `a` and `b` may have been swapped at `time` (one camera lost sight of one
    /// behind the other: see [`FusionConfig::hidden_cover`]). Every doubt is kept on its own, so that
    /// one dismissed later ([`Fusion::dismiss_doubt`]) leaves the others standing. Returns whether it
    /// is new.
    pub fn doubt(&mut self, time: CaptureTime, a: u64, b: u64) -> bool {
        if a == b || !self.tracks.contains_key(&a) || !self.tracks.contains_key(&b) {
            return false;
        }
        let mut new = false;
        for (track, other) in [(a, b), (b, a)] {
            let Some(t) = self.tracks.get_mut(&track) else {
                continue;
            };
            let doubt = IdentityDoubt { time, other };
            if t.identity_doubts.contains(&doubt) {
                continue;
            }
            // cameras' frames reach the store a little out of order: keep the doubts in time order
            let at = t.identity_doubts.partition_point(|d| d.time <= time);
            t.identity_doubts.insert(at, doubt);
            new = true;
        }
        new
    }

    /// Takes back the doubt raised at `time` between `a` and `b`: the camera showed each to be who it
    /// was bound to ([`FusionConfig::verify_views`]). Returns whether there was one.
    pub fn dismiss_doubt(&mut self, time: CaptureTime, a: u64, b: u64) -> bool {
        let mut found = false;
        for (track, other) in [(a, b), (b, a)] {
            if let Some(t) = self.tracks.get_mut(&track) {
                let before = t.identity_doubts.len();
                t.identity_doubts
                    .retain(|d| !(d.time == time && d.other == other));
                found |= t.identity_doubts.len() < before;
            }
        }
        found
    }

    /// Swaps the shoppers two of `camera`'s tracks are bound to (its tracker swapped the two people).
    /// Returns whether both were bound.
    pub fn swap_bindings(&mut self, camera: &CameraId, a: u64, b: u64) -> bool {
        let (ka, kb) = ((camera.clone(), a), (camera.clone(), b));
        let (Some(&ga), Some(&gb)) = (self.bindings.get(&ka), self.bindings.get(&kb)) else {
            return false;
        };
        self.bindings.insert(ka, gb);
        self.bindings.insert(kb, ga);
        true
    }

    /// The settings fusion runs with.
    pub fn config(&self) -> &FusionConfig {
        &self.config
    }

    /// The share of a camera track's expected box another's must cover for its disappearance to raise
    /// a doubt ([`FusionConfig::hidden_cover`]).
    pub fn hidden_cover(&self) -> f32 {
        self.config.hidden_cover
    }

    /// The global id a camera track is bound to.
    pub fn global_id(&self, camera: &CameraId, local_id: u64) -> Option<u64> {
        self.bindings.get(&(camera.clone(), local_id)).copied()
    }

    /// Advances to `time` with every camera's observations at (about) that time.
    pub fn update(&mut self, time: CaptureTime, observations: &[FloorObservation]) -> FusionEvents {
        let mut events = FusionEvents::default();
        let present: BTreeSet<LocalKey> = observations
            .iter()
            .map(|o| (o.camera.clone(), o.local_id))
            .collect();
        // camera tracks that ended release their bindings
        self.bindings.retain(|key, _| present.contains(key));
        self.orphans.retain(|key, _| present.contains(key));

        // 1. bound observations update their global track (several cameras average)
        let mut sums: BTreeMap<u64, (Vector2<f64>, f64)> = BTreeMap::new();
        let mut unbound: Vec<&FloorObservation> = Vec::new();
        // camera tracks that strayed from where the other cameras see their shopper let go of them
        let strayed = self.strayed(time, observations);
        for key in strayed.keys() {
            self.bindings.remove(key);
        }
        for o in observations {
            match self.bindings.get(&(o.camera.clone(), o.local_id)) {
                Some(&id) => {
                    let entry = sums.entry(id).or_insert((Vector2::zeros(), 0.0));
                    entry.0 += o.position_m.coords;
                    entry.1 += 1.0;
                    if let (Some(look), Some(track)) = (&o.appearance, self.tracks.get_mut(&id)) {
                        learn_look(track, look, self.config.appearance_weight);
                    }
                }
                None => unbound.push(o),
            }
        }
        for (id, (sum, n)) in &sums {
            if let Some(track) = self.tracks.get_mut(id) {
                observe(track, time, Point2::from(sum / *n));
            }
        }

        // 2. unbound observations join a global track nearby that this camera does not already see
        let candidates: Vec<u64> = self
            .tracks
            .values()
            .filter(|t| matches!(t.state, GlobalState::Active | GlobalState::Lost))
            .map(|t| t.id)
            .collect();
        let seen_by: BTreeSet<(CameraId, u64)> = self
            .bindings
            .iter()
            .map(|((camera, _), id)| (camera.clone(), *id))
            .collect();
        let gate = |track: &GlobalTrack| {
            let unseen = secs_between(track.last_seen, time);
            (self.config.gate_m + self.config.max_speed_m_per_s * unseen)
                .min(self.config.max_gate_m)
        };
        let fit = |r: usize, c: usize| {
            let track = &self.tracks[&candidates[c]];
            if seen_by.contains(&(unbound[r].camera.clone(), track.id)) {
                return 0.0;
            }
            let predicted = predict(track, time);
            let distance = (predicted - unbound[r].position_m).norm();
            let limit = gate(track);
            if distance > limit {
                0.0
            } else {
                // a look that matches counts for as much as being a little nearer
                let look = similarity(track, unbound[r]).unwrap_or(0.5);
                ((1.0 - distance / (limit + 1e-9)) as f32 * (0.5 + look)).max(1e-6)
            }
        };
        // shoppers seen a moment ago first, the lost ones only for what is left (DeepSORT's matching
        // cascade): a lost shopper's gate has grown with the time unseen, and against it a camera track
        // metres away scores as well as one beside a shopper the other cameras still see. One lost in
        // the crowd at the exit took the next four shoppers walking by, one after another. Nor does a
        // lost shopper take a camera track standing nearer (by `identity_margin_m`) a shopper in view
        // whom this camera does not see yet, even one too far off to join at once: that is most
        // likely them, placed off by a far camera (busy 11157: a shopper lost 3 m away took an aisle
        // camera's new track of a shopper the others saw right there, and with it their picks)
        let nearest_in_view = |r: usize| {
            candidates
                .iter()
                .map(|id| &self.tracks[id])
                .filter(|t| t.state == GlobalState::Active)
                .filter(|t| !seen_by.contains(&(unbound[r].camera.clone(), t.id)))
                .map(|t| (predict(t, time) - unbound[r].position_m).norm())
                .fold(f64::INFINITY, f64::min)
        };
        let mut pairs = Vec::new();
        let mut taken = vec![false; unbound.len()];
        // each camera's new tracks are matched on their own: one camera sees a shopper once, but
        // several cameras may find the same shopper in one step (busy 11199: two cameras found a
        // shopper at the door in one step, one of the two tracks was born a second shopper there,
        // and the next shopper through the door was taken for them)
        let cameras: BTreeSet<&CameraId> = unbound.iter().map(|o| &o.camera).collect();
        for stage in [GlobalState::Active, GlobalState::Lost] {
            for &camera in &cameras {
                let rows: Vec<usize> = (0..unbound.len())
                    .filter(|&r| !taken[r] && unbound[r].camera == *camera)
                    .collect();
                let columns: Vec<usize> = (0..candidates.len())
                    .filter(|&c| self.tracks[&candidates[c]].state == stage)
                    .collect();
                let in_view: Vec<f64> = if stage == GlobalState::Lost {
                    rows.iter().map(|&r| nearest_in_view(r)).collect()
                } else {
                    Vec::new()
                };
                for (r, c) in assign(rows.len(), columns.len(), f32::MIN_POSITIVE, |r, c| {
                    if let Some(&near) = in_view.get(r) {
                        let lost = &self.tracks[&candidates[columns[c]]];
                        let at = unbound[rows[r]].position_m;
                        // where they were last seen counts as much as where they were heading
                        let lost_m = (predict(lost, time) - at)
                            .norm()
                            .min((lost.position_m - at).norm());
                        if lost_m > near + self.config.identity_margin_m {
                            return 0.0;
                        }
                    }
                    fit(rows[r], columns[c])
                }) {
                    taken[rows[r]] = true;
                    pairs.push((rows[r], columns[c]));
                }
            }
        }
        let mut joined = vec![false; unbound.len()];
        let mut doubts: BTreeMap<(u64, u64), BindingDoubt> = BTreeMap::new();
        for &(r, c) in &pairs {
            let o = unbound[r];
            let chosen = candidates[c];
            let distance = |id: u64| {
                let track = &self.tracks[&id];
                let distance = (predict(track, time) - o.position_m).norm();
                (distance <= gate(track)).then_some(distance)
            };
            let Some(best) = distance(chosen) else {
                continue;
            };
            let chosen_look = similarity(&self.tracks[&chosen], o);
            // a rival this camera already sees on another track counts too: its tracker may have
            // jumped from that shopper onto the one beside them, and this new track be the shopper
            // it followed (busy 11191: a camera's track jumped onto a shopper walking into its view
            // beside the one it followed, who got a new track bound to the newcomer's shopper)
            for &other in candidates.iter().filter(|&&id| id != chosen) {
                if !distance(other).is_some_and(|d| d - best < self.config.identity_margin_m) {
                    continue;
                }
                let told_apart = chosen_look
                    .zip(similarity(&self.tracks[&other], o))
                    .is_some_and(|(mine, theirs)| mine - theirs >= self.config.appearance_margin);
                if !told_apart {
                    doubts
                        .entry((chosen.min(other), chosen.max(other)))
                        .or_insert_with(|| BindingDoubt {
                            camera: o.camera.clone(),
                            local_id: o.local_id,
                            shopper: chosen,
                            other,
                            other_local: seen_by
                                .contains(&(o.camera.clone(), other))
                                .then(|| {
                                    self.bindings.iter().find_map(|((camera, local), id)| {
                                        (*camera == o.camera && *id == other).then_some(*local)
                                    })
                                })
                                .flatten(),
                        });
                }
            }
        }
        for ((a, b), doubt) in doubts {
            tracing::debug!(
                shoppers = ?(a, b),
                camera = %doubt.camera,
                "a camera track joined one of two shoppers nearly as close"
            );
            if self.doubt(time, a, b) {
                events.doubts.push(doubt);
            }
        }
        let mut joins: BTreeMap<u64, (Vector2<f64>, f64)> = BTreeMap::new();
        for (r, c) in pairs {
            let o = unbound[r];
            let id = candidates[c];
            self.bindings.insert((o.camera.clone(), o.local_id), id);
            self.orphans.remove(&(o.camera.clone(), o.local_id));
            joined[r] = true;
            if let Some(track) = self.tracks.get_mut(&id)
                && !sums.contains_key(&id)
            {
                if let Some(look) = &o.appearance {
                    learn_look(track, look, self.config.appearance_weight);
                }
                let entry = joins.entry(id).or_insert((Vector2::zeros(), 0.0));
                entry.0 += o.position_m.coords;
                entry.1 += 1.0;
            }
        }
        for (id, (sum, n)) in joins {
            if let Some(track) = self.tracks.get_mut(&id) {
                observe(track, time, Point2::from(sum / n));
            }
        }

        // a strayed camera track no other shopper took stays with its own (it was not used this step)
        for (key, id) in &strayed {
            self.bindings.entry(key.clone()).or_insert(*id);
        }

        // 3. the rest are grouped (one observation per camera, within the gate: several cameras seeing
        //    the same newcomer) and each group is born in a birth zone, or waits as an orphan
        let rest: Vec<&FloorObservation> = unbound
            .iter()
            .zip(&joined)
            .filter(|(_, j)| !**j)
            .map(|(o, _)| *o)
            .collect();
        let mut groups: Vec<Vec<&FloorObservation>> = Vec::new();
        for o in rest {
            let nearest = groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.iter().all(|m| m.camera != o.camera))
                .map(|(i, g)| (i, (g[0].position_m - o.position_m).norm()))
                .filter(|(_, d)| *d <= self.config.gate_m)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match nearest {
                Some((i, _)) => groups[i].push(o),
                None => groups.push(vec![o]),
            }
        }
        for group in groups {
            // a camera track that just let go of a shopper is someone already here: never a newcomer
            if group
                .iter()
                .any(|o| strayed.contains_key(&(o.camera.clone(), o.local_id)))
            {
                continue;
            }
            let mut steps = 0;
            for o in &group {
                let entry = self
                    .orphans
                    .entry((o.camera.clone(), o.local_id))
                    .or_insert(0);
                *entry += 1;
                steps = steps.max(*entry);
            }
            let n = group.len() as f64;
            let position = Point2::from(
                group
                    .iter()
                    .map(|o| o.position_m.coords)
                    .sum::<Vector2<f64>>()
                    / n,
            );
            let in_birth_zone = self
                .config
                .birth_zones
                .iter()
                .any(|z| z.contains(&position));
            if !in_birth_zone && steps < self.config.orphan_birth_steps {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.tracks.insert(
                id,
                GlobalTrack {
                    id,
                    state: GlobalState::Active,
                    position_m: position,
                    velocity_m_per_s: Vector2::zeros(),
                    born_at: time,
                    last_seen: time,
                    born_outside_entry: !in_birth_zone,
                    path: vec![(time, position)],
                    identity_doubts: Vec::new(),
                    appearance: group.iter().find_map(|o| o.appearance),
                },
            );
            for o in &group {
                let key = (o.camera.clone(), o.local_id);
                self.orphans.remove(&key);
                self.bindings.insert(key, id);
            }
            events.born.push(id);
        }

        // 4. unseen tracks are lost, then exited or vanished
        for track in self.tracks.values_mut() {
            let unseen = secs_between(track.last_seen, time);
            match track.state {
                GlobalState::Active if unseen > self.config.lost_after_secs => {
                    if self
                        .config
                        .exit_zones
                        .iter()
                        .any(|z| z.contains(&track.position_m))
                    {
                        track.state = GlobalState::Exited;
                        events.exited.push(track.id);
                    } else {
                        track.state = GlobalState::Lost;
                    }
                    tracing::debug!(
                        shopper = track.id,
                        state = ?track.state,
                        x = track.position_m.x,
                        y = track.position_m.y,
                        vx = track.velocity_m_per_s.x,
                        vy = track.velocity_m_per_s.y,
                        "a shopper is no longer seen"
                    );
                }
                GlobalState::Lost if unseen > self.config.forget_after_secs => {
                    if heads_out(&self.config, track) {
                        track.state = GlobalState::Exited;
                        events.exited.push(track.id);
                    } else {
                        track.state = GlobalState::Vanished;
                        events.vanished.push(track.id);
                    }
                    tracing::debug!(
                        shopper = track.id,
                        state = ?track.state,
                        x = track.position_m.x,
                        y = track.position_m.y,
                        "a lost shopper is gone"
                    );
                }
                _ => {}
            }
        }
        // 5. long gone: forgotten
        let keep_for = self.config.drop_gone_after_secs;
        if keep_for > 0.0 {
            self.tracks.retain(|_, t| {
                !matches!(t.state, GlobalState::Exited | GlobalState::Vanished)
                    || secs_between(t.last_seen, time) <= keep_for
            });
            let tracks = &self.tracks;
            self.bindings.retain(|_, id| tracks.contains_key(id));
            self.twins
                .retain(|(a, b), _| tracks.contains_key(a) && tracks.contains_key(b));
        }
        events
    }

    /// Whether `track`, lost, was walking into an exit zone: at its last velocity it would have been in
    /// one within `exit_eta_secs` (see [`FusionConfig::exit_eta_secs`]).
    pub fn heads_out(&self, track: &GlobalTrack) -> bool {
        heads_out(&self.config, track)
    }

    /// The bound camera tracks that have strayed from their shopper: where several cameras see one
    /// shopper, the observation most of the others agree with (within `stray_m`; of equals, the one
    /// from the nearest camera, then the one nearest where the shopper was heading) is where the
    /// shopper is, and a camera track further than `stray_m` from it follows someone else now. A
    /// camera's tracker swaps two people whose boxes overlap; the other cameras, which saw them apart,
    /// still know who is who. Each comes with the shopper it was bound to.
    fn strayed(
        &self,
        time: CaptureTime,
        observations: &[FloorObservation],
    ) -> BTreeMap<LocalKey, u64> {
        let mut strayed = BTreeMap::new();
        let limit = self.config.stray_m;
        if limit <= 0.0 {
            return strayed;
        }
        let mut by_track: BTreeMap<u64, Vec<&FloorObservation>> = BTreeMap::new();
        for o in observations {
            if let Some(&id) = self.bindings.get(&(o.camera.clone(), o.local_id)) {
                by_track.entry(id).or_default().push(o);
            }
        }
        for (id, seen) in by_track {
            let Some(track) = self.tracks.get(&id) else {
                continue;
            };
            if seen.len() < 2 {
                continue;
            }
            let predicted = predict(track, time);
            let agreeing = |o: &FloorObservation| {
                seen.iter()
                    .filter(|other| (other.position_m - o.position_m).norm() <= limit)
                    .count()
            };
            let anchor = seen.iter().max_by(|a, b| {
                agreeing(a)
                    .cmp(&agreeing(b))
                    .then(b.range_m.total_cmp(&a.range_m))
                    .then(
                        (b.position_m - predicted)
                            .norm()
                            .total_cmp(&(a.position_m - predicted).norm()),
                    )
            });
            let Some(anchor) = anchor.map(|o| o.position_m) else {
                continue;
            };
            strayed.extend(
                seen.iter()
                    .filter(|o| (o.position_m - anchor).norm() > limit)
                    .map(|o| ((o.camera.clone(), o.local_id), id)),
            );
        }
        strayed
    }
}

/// How much the observation looks like the shopper, when both looks are known.
fn similarity(track: &GlobalTrack, o: &FloorObservation) -> Option<f32> {
    Some(
        track
            .appearance
            .as_ref()?
            .similarity(o.appearance.as_ref()?),
    )
}

fn learn_look(track: &mut GlobalTrack, look: &Appearance, weight: f32) {
    match &mut track.appearance {
        Some(known) => known.blend(look, weight),
        None => track.appearance = Some(*look),
    }
}

fn secs_between(earlier: CaptureTime, later: CaptureTime) -> f64 {
    later.saturating_since(earlier).as_secs_f64()
}

fn predict(track: &GlobalTrack, time: CaptureTime) -> Point2<f64> {
    // a lost shopper may have stopped: trust the velocity for a second at most
    let dt = secs_between(track.last_seen, time).min(1.0);
    track.position_m + track.velocity_m_per_s * dt
}

fn observe(track: &mut GlobalTrack, time: CaptureTime, position: Point2<f64>) {
    let dt = secs_between(track.last_seen, time);
    if dt > 1e-6 {
        let measured = (position - track.position_m) / dt;
        // smoothed: foot points jitter by a few centimetres every frame
        track.velocity_m_per_s = track.velocity_m_per_s * 0.7 + measured * 0.3;
    }
    track.position_m = position;
    track.last_seen = time;
    track.state = GlobalState::Active;
    track.path.push((time, position));
}

/// See [`Fusion::heads_out`]. The walk is the least-squares line through the track's last
/// `HEADING_FIT_SECS` of positions (one noisy last step, or a camera track that jumped before letting
/// go, would mislead the running velocity), or its running velocity if it has too few.
fn heads_out(config: &FusionConfig, track: &GlobalTrack) -> bool {
    const STEP_SECS: f64 = 0.1;
    const HEADING_FIT_SECS: f64 = 1.0;
    if track.state != GlobalState::Lost || config.exit_eta_secs <= 0.0 {
        return false;
    }
    let last = track.last_seen.unix_nanos as f64 / 1e9;
    let recent: Vec<(f64, Point2<f64>)> = track
        .path
        .iter()
        .map(|(at, p)| (at.unix_nanos as f64 / 1e9, *p))
        .filter(|(at, _)| *at >= last - HEADING_FIT_SECS)
        .collect();
    let (from, velocity) = match fit_line(&recent) {
        Some((mean_t, mean_p, velocity)) => (mean_p + velocity * (last - mean_t), velocity),
        None => (track.position_m, track.velocity_m_per_s),
    };
    let steps = (config.exit_eta_secs / STEP_SECS).ceil() as u32;
    (1..=steps).any(|k| {
        let ahead = from + velocity * (f64::from(k) * STEP_SECS);
        config.exit_zones.iter().any(|z| z.contains(&ahead))
    })
}

/// The least-squares line through `(time, position)` samples: mean time, mean position and velocity;
/// `None` for fewer than three samples or no spread in time.
pub(crate) fn fit_line(samples: &[(f64, Point2<f64>)]) -> Option<(f64, Point2<f64>, Vector2<f64>)> {
    if samples.len() < 3 {
        return None;
    }
    let n = samples.len() as f64;
    let mean_t = samples.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_p = Point2::from(samples.iter().map(|(_, p)| p.coords).sum::<Vector2<f64>>() / n);
    let spread: f64 = samples.iter().map(|(t, _)| (t - mean_t).powi(2)).sum();
    if spread <= f64::EPSILON {
        return None;
    }
    let velocity = samples
        .iter()
        .map(|(t, p)| (p - mean_p) * (t - mean_t))
        .sum::<Vector2<f64>>()
        / spread;
    Some((mean_t, mean_p, velocity))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> CaptureTime {
        CaptureTime::from_unix_millis(ms)
    }

    fn obs(camera: &str, local_id: u64, x: f64, y: f64) -> FloorObservation {
        FloorObservation {
            camera: CameraId::new(camera),
            local_id,
            position_m: Point2::new(x, y),
            appearance: None,
            range_m: f64::INFINITY,
        }
    }

    fn config() -> FusionConfig {
        FusionConfig {
            birth_zones: vec![Zone::around([0.0, 0.0], [1.0, 1.0])],
            exit_zones: vec![Zone::around([10.0, 0.0], [1.0, 1.0])],
            ..FusionConfig::default()
        }
    }

    /// A shopper walks from the entry (0,0) to the exit (10,0) at 1 m/s, seen by camera a for x < 6 and
    /// by camera b for x > 4, each camera with its own track id.
    fn walk(fusion: &mut Fusion, local_a: u64, local_b: u64, y: f64) -> Vec<FusionEvents> {
        let mut all = Vec::new();
        for step in 0..=100u64 {
            let x = step as f64 * 0.1;
            let mut seen = Vec::new();
            if x < 6.0 {
                seen.push(obs("a", local_a, x + 0.03, y));
            }
            if x > 4.0 {
                seen.push(obs("b", local_b, x - 0.03, y));
            }
            all.push(fusion.update(at(step * 100), &seen));
        }
        all.push(fusion.update(at(11_000), &[]));
        all
    }

    /// One shopper enters seen by a near camera `a` and a far camera `b` whose foot point is 1.2 m
    /// off at the door, narrowing to 0.3 m inside; with `second`, camera `a` also sees a second
    /// shopper walking 0.6 m beside them; with `b_misses`, camera `b` misses the shopper every third
    /// step (a detection missed, or a frame that came late).
    fn far_camera_twins(
        config: FusionConfig,
        second: bool,
        b_misses: bool,
    ) -> (Fusion, Vec<Vec<(u64, u64)>>) {
        let mut fusion = Fusion::new(config);
        let mut merges = Vec::new();
        for step in 0..=50u64 {
            // both first seen inside the birth zone, 1.2 m apart: born as two
            let x = step as f64 * 0.1 - 0.5;
            let off = (1.2 - 0.3 * (x + 0.5)).max(0.3);
            let mut seen = vec![obs("a", 1, x, 0.0)];
            if !(b_misses && step % 3 == 1) {
                seen.push(obs("b", 1, x + off, 0.0));
            }
            if second {
                seen.push(obs("a", 2, x, 0.6));
            }
            fusion.update(at(step * 100), &seen);
            merges.push(fusion.merge_twins(at(step * 100), |_, _| false));
        }
        (fusion, merges)
    }

    #[test]
    fn one_shopper_a_far_camera_placed_apart_is_merged_into_one() {
        // a far camera that misses the shopper now and then does not restart the wait: the steps
        // that saw only one of the two say nothing about whether they are one
        for b_misses in [false, true] {
            let (fusion, merges) = far_camera_twins(config(), false, b_misses);
            let merged: Vec<(u64, u64)> = merges.iter().flatten().copied().collect();
            assert_eq!(merged, vec![(2, 1)], "born twice at the door, merged once");
            // after 2 s within the gate (from 0.7 s, when the far camera's offset fell to 1 m)
            let step = merges.iter().position(|m| !m.is_empty()).unwrap();
            assert!((26..=29).contains(&step), "merged at step {step}");
            assert_eq!(fusion.tracks().count(), 1);
            assert_eq!(fusion.global_id(&CameraId::new("a"), 1), Some(1));
            assert_eq!(fusion.global_id(&CameraId::new("b"), 1), Some(1));
        }
        // off: two shoppers to the end
        let (fusion, merges) = far_camera_twins(
            FusionConfig {
                twin_secs: 0.0,
                ..config()
            },
            false,
            false,
        );
        assert!(merges.iter().all(Vec::is_empty));
        assert_eq!(fusion.tracks().count(), 2);
    }

    #[test]
    fn two_shoppers_one_camera_sees_apart_are_never_merged() {
        // camera a sees both the shopper (1) and someone walking beside them (3): those two are never
        // merged, and the far camera's twin (2) goes into the one it follows
        let (fusion, merges) = far_camera_twins(config(), true, false);
        let merged: Vec<(u64, u64)> = merges.iter().flatten().copied().collect();
        assert_eq!(merged, vec![(2, 1)]);
        assert!(
            fusion.tracks().any(|t| t.id == 3),
            "the second shopper stays"
        );
        assert_eq!(fusion.global_id(&CameraId::new("a"), 2), Some(3));
        // and a veto keeps two shoppers with sessions apart
        let mut fusion = Fusion::new(config());
        for step in 0..=50u64 {
            let x = step as f64 * 0.1 - 0.5;
            fusion.update(
                at(step * 100),
                &[obs("a", 1, x, 0.0), obs("b", 1, x + 1.1, 0.0)],
            );
            assert!(fusion.merge_twins(at(step * 100), |_, _| true).is_empty());
        }
        assert_eq!(fusion.tracks().count(), 2);
    }

    #[test]
    fn one_id_from_entry_to_exit_across_a_hand_over() {
        let mut fusion = Fusion::new(config());
        let events = walk(&mut fusion, 7, 3, 0.0);
        let born: Vec<u64> = events.iter().flat_map(|e| e.born.clone()).collect();
        let exited: Vec<u64> = events.iter().flat_map(|e| e.exited.clone()).collect();
        assert_eq!(born, vec![1]);
        assert_eq!(exited, vec![1]);
        let track = fusion.track(1).unwrap();
        assert!(!track.born_outside_entry);
        assert!((track.position_m.x - 10.0).abs() < 0.1);
    }

    /// Walks one shopper from (from_x, 0) at `speed` m/s (negative: west) for 2 s, seen by camera a, then
    /// nobody for 11 s; returns who exited and who vanished.
    fn lost_walking(from_x: f64, speed: f64) -> (Vec<u64>, Vec<u64>, Fusion) {
        let mut fusion = Fusion::new(config());
        let (mut exited, mut vanished) = (Vec::new(), Vec::new());
        for step in 0..=130u64 {
            let seen = if step <= 20 {
                vec![obs("a", 1, from_x + speed * step as f64 * 0.1, 0.0)]
            } else {
                vec![]
            };
            let events = fusion.update(at(step * 100), &seen);
            exited.extend(events.exited);
            vanished.extend(events.vanished);
        }
        (exited, vanished, fusion)
    }

    #[test]
    fn a_shopper_lost_walking_into_the_exit_has_exited_once_fusion_stops_waiting() {
        // lost at x = 7.5 walking east at 1 m/s: in the exit zone (x >= 9) 1.5 s later
        let (exited, vanished, _) = lost_walking(5.5, 1.0);
        assert_eq!((exited, vanished), (vec![1], vec![]));
        // walking away from the exit, or too far from it to reach it in `exit_eta_secs`: vanished
        let (exited, vanished, _) = lost_walking(7.5, -1.0);
        assert_eq!((exited, vanished), (vec![], vec![1]));
        let (exited, vanished, _) = lost_walking(2.0, 1.0);
        assert_eq!((exited, vanished), (vec![], vec![1]));
        // while still lost, the walk is what `heads_out` reports
        let mut fusion = Fusion::new(config());
        for step in 0..=20u64 {
            fusion.update(at(step * 100), &[obs("a", 1, 5.5 + step as f64 * 0.1, 0.0)]);
        }
        fusion.update(at(3_000), &[]);
        let track = fusion.track(1).unwrap();
        assert_eq!(track.state, GlobalState::Lost);
        assert!(fusion.heads_out(track));
    }

    #[test]
    fn a_short_occlusion_re_associates_instead_of_a_new_birth() {
        let mut fusion = Fusion::new(config());
        let mut t = 0;
        for step in 0..20u64 {
            fusion.update(at(t), &[obs("a", 1, step as f64 * 0.1, 0.0)]);
            t += 100;
        }
        // hidden behind a shelf for 1.5 s, then the camera tracker gives a new local id
        for _ in 0..15 {
            fusion.update(at(t), &[]);
            t += 100;
        }
        assert_eq!(fusion.track(1).unwrap().state, GlobalState::Lost);
        let events = fusion.update(at(t), &[obs("a", 2, 3.4, 0.2)]);
        assert!(events.born.is_empty());
        assert_eq!(fusion.global_id(&CameraId::new("a"), 2), Some(1));
        assert_eq!(fusion.track(1).unwrap().state, GlobalState::Active);
    }

    #[test]
    fn cameras_picking_a_shopper_up_in_one_step_all_join_them() {
        // a shopper walks in seen by camera a; cameras b and c find them in the same step, each a
        // little off (far cameras' foot points), still inside the entry's birth zone
        let mut fusion = Fusion::new(config());
        for step in 0..5u64 {
            fusion.update(at(step * 100), &[obs("a", 1, step as f64 * 0.1, 0.0)]);
        }
        let events = fusion.update(
            at(500),
            &[
                obs("a", 1, 0.5, 0.0),
                obs("b", 4, 0.7, 0.2),
                obs("c", 9, 0.3, -0.2),
            ],
        );
        assert!(events.born.is_empty(), "born {:?}", events.born);
        assert_eq!(fusion.global_id(&CameraId::new("b"), 4), Some(1));
        assert_eq!(fusion.global_id(&CameraId::new("c"), 9), Some(1));
        // one camera's two new tracks beside the shopper are two people: one of them is born
        let events = fusion.update(
            at(600),
            &[
                obs("a", 1, 0.6, 0.0),
                obs("b", 4, 0.8, 0.2),
                obs("c", 9, 0.4, -0.2),
                obs("d", 2, 0.5, 0.1),
                obs("d", 3, 0.7, -0.1),
            ],
        );
        assert_eq!(events.born.len(), 1);
        let d = [2, 3].map(|local| fusion.global_id(&CameraId::new("d"), local));
        assert!(
            d.contains(&Some(1)) && d.contains(&Some(events.born[0])),
            "{d:?}"
        );
    }

    #[test]
    fn a_camera_track_beside_a_shopper_in_view_is_theirs_not_a_lost_one_s() {
        let mut fusion = Fusion::new(config());
        let mut t = 0;
        // shopper 1 walks in and is lost at (3, 0); shopper 2 follows and stays in camera a's view
        for step in 0..=30u64 {
            let x = step as f64 * 0.1;
            let mut seen = vec![obs("a", 1, x, 0.0)];
            if step >= 10 {
                seen.push(obs("a", 2, x - 1.0, 0.0));
            }
            fusion.update(at(t), &seen);
            t += 100;
        }
        for step in 31..=50u64 {
            fusion.update(at(t), &[obs("a", 2, step as f64 * 0.1 - 1.0, 0.0)]);
            t += 100;
        }
        assert_eq!(fusion.track(1).unwrap().state, GlobalState::Lost);
        assert_eq!(fusion.global_id(&CameraId::new("a"), 2), Some(2));
        // camera b picks shopper 2 up 0.6 m off where camera a sees them (a far camera's foot point),
        // 1.7 m from where shopper 1 was lost 2 s ago: well inside the lost one's grown gate
        fusion.update(at(t), &[obs("a", 2, 4.0, 0.0), obs("b", 7, 4.1, 0.6)]);
        assert_eq!(fusion.global_id(&CameraId::new("b"), 7), Some(2));
        assert_eq!(fusion.track(1).unwrap().state, GlobalState::Lost);
        // with nobody in view beside it, the same camera track would have been the lost shopper's
        let mut alone = Fusion::new(config());
        let mut t = 0;
        for step in 0..=30u64 {
            alone.update(at(t), &[obs("a", 1, step as f64 * 0.1, 0.0)]);
            t += 100;
        }
        for _ in 31..=50u64 {
            alone.update(at(t), &[]);
            t += 100;
        }
        alone.update(at(t), &[obs("b", 7, 4.1, 0.6)]);
        assert_eq!(alone.global_id(&CameraId::new("b"), 7), Some(1));
    }

    #[test]
    fn a_lost_shopper_does_not_take_a_camera_track_standing_nearer_someone_in_view() {
        // shopper 1 walks in to (3, 1.5) and goes unseen there; shopper 2 walks along y = 0 in camera
        // a's view. Then camera b picks shopper 2 up 1.2 m off where camera a sees them: too far to
        // join them at once, and 2.7 m from where shopper 1 was lost 2 s ago, inside their grown gate
        let run = |with_second: bool| {
            let mut fusion = Fusion::new(config());
            let mut t = 0;
            for step in 0..=60u64 {
                let mut seen = Vec::new();
                if step <= 40 {
                    let f = (step as f64 / 30.0).min(1.0);
                    seen.push(obs("a", 1, 3.0 * f, 1.5 * f));
                }
                if with_second && step >= 20 {
                    seen.push(obs("a", 2, (step - 20) as f64 * 0.1, 0.0));
                }
                fusion.update(at(t), &seen);
                t += 100;
            }
            assert_eq!(fusion.track(1).unwrap().state, GlobalState::Lost);
            let mut seen = vec![obs("b", 7, 5.3, 0.0)];
            if with_second {
                seen.push(obs("a", 2, 4.1, 0.0));
            }
            fusion.update(at(t), &seen);
            fusion
        };
        let fusion = run(true);
        assert_eq!(fusion.global_id(&CameraId::new("a"), 2), Some(2));
        assert_eq!(
            fusion.global_id(&CameraId::new("b"), 7),
            None,
            "nobody's yet: nearer the shopper in view than the lost one"
        );
        assert_eq!(fusion.track(1).unwrap().state, GlobalState::Lost);
        // with nobody in view near it, the same camera track is the lost shopper found again
        let fusion = run(false);
        assert_eq!(fusion.global_id(&CameraId::new("b"), 7), Some(1));
    }

    #[test]
    fn a_shopper_long_gone_is_dropped_path_and_all() {
        let run = |drop_gone_after_secs: f64| {
            let mut fusion = Fusion::new(FusionConfig {
                drop_gone_after_secs,
                ..config()
            });
            let events = walk(&mut fusion, 1, 1, 0.0);
            assert_eq!(events.last().unwrap().exited, vec![1]);
            // the shopper was last seen at 10 s
            fusion.update(at(14_900), &[]);
            let kept = fusion.track(1).is_some();
            fusion.update(at(15_100), &[]);
            (kept, fusion)
        };
        let (kept, fusion) = run(5.0);
        assert!(kept, "kept until five seconds after they were last seen");
        assert!(fusion.track(1).is_none());
        assert_eq!(fusion.tracks().count(), 0);
        // 0: kept for good
        let (_, fusion) = run(0.0);
        assert_eq!(fusion.track(1).unwrap().state, GlobalState::Exited);
        assert!(!fusion.track(1).unwrap().path.is_empty());
    }

    #[test]
    fn two_shoppers_side_by_side_keep_their_ids() {
        let mut fusion = Fusion::new(config());
        for step in 0..=50u64 {
            let x = step as f64 * 0.1;
            fusion.update(
                at(step * 100),
                &[
                    obs("a", 1, x, -0.4),
                    obs("a", 2, x, 0.4),
                    obs("b", 9, x, 0.42),
                    obs("b", 8, x, -0.38),
                ],
            );
        }
        let ids: Vec<u64> = fusion.tracks().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(
            fusion.global_id(&CameraId::new("b"), 9),
            fusion.global_id(&CameraId::new("a"), 2)
        );
        assert_eq!(
            fusion.global_id(&CameraId::new("b"), 8),
            fusion.global_id(&CameraId::new("a"), 1)
        );
    }

    /// Shoppers p (along y = 0) and q (drifting out to y = 2.5) walk side by side, seen by cameras a, b
    /// and c; from x = 4 on camera a's tracker has swapped them (its track 1, bound to p, follows q).
    fn swapped_by_one_camera(config: FusionConfig) -> Fusion {
        let mut fusion = Fusion::new(config);
        for step in 0..=60u64 {
            let x = step as f64 * 0.1;
            let (p, q) = (0.0, (0.9 + 0.1 * step as f64).min(2.5));
            let (a1, a2) = if step >= 40 { (q, p) } else { (p, q) };
            fusion.update(
                at(step * 100),
                &[
                    obs("a", 1, x, a1),
                    obs("a", 2, x, a2),
                    obs("b", 1, x, p + 0.03),
                    obs("b", 2, x, q - 0.03),
                    obs("c", 1, x, p - 0.02),
                    obs("c", 2, x, q + 0.02),
                ],
            );
        }
        fusion
    }

    #[test]
    fn a_camera_that_swaps_two_shoppers_is_overruled_by_the_others() {
        let fusion = swapped_by_one_camera(config());
        let id = |camera: &str, local: u64| fusion.global_id(&CameraId::new(camera), local);
        let (p, q) = (id("b", 1).unwrap(), id("b", 2).unwrap());
        assert_ne!(p, q);
        assert_eq!(fusion.tracks().count(), 2, "no one is born of the swap");
        // camera a's tracks now follow the other shopper, and say so
        assert_eq!(id("a", 1), Some(q));
        assert_eq!(id("a", 2), Some(p));
        let y = |id: u64| fusion.track(id).unwrap().position_m.y;
        assert!(y(p).abs() < 0.1, "p at y = {}", y(p));
        assert!((y(q) - 2.5).abs() < 0.1, "q at y = {}", y(q));

        // without the check, camera a keeps dragging each shopper towards the other
        let fusion = swapped_by_one_camera(FusionConfig {
            stray_m: 0.0,
            ..config()
        });
        let p = fusion.global_id(&CameraId::new("b"), 1).unwrap();
        assert!(fusion.track(p).unwrap().position_m.y > 0.5);
    }

    /// One shopper walks up the y axis at 1 m/s, seen from the start by a far camera `b` (8 m away)
    /// whose foot point is 0.9 m ahead of them, and from step 20 on by a near camera `a` (2 m away)
    /// that places them right; from step 21 the far camera is 1.1 m off. Where the shopper was heading
    /// says the far camera is right. Returns how far ahead of the shopper fusion places them at the
    /// end. `ranges`: the observations carry their cameras' distances.
    fn far_camera_off(ranges: bool) -> f64 {
        let mut fusion = Fusion::new(config());
        let range = |m: f64| if ranges { m } else { f64::INFINITY };
        let mut y = 0.0;
        for step in 0..=40u64 {
            y = step as f64 * 0.1;
            let off = if step > 20 { 1.1 } else { 0.9 };
            let mut seen = vec![FloorObservation {
                range_m: range(8.0),
                ..obs("b", 1, 0.0, y + off)
            }];
            if step >= 20 {
                seen.push(FloorObservation {
                    range_m: range(2.0),
                    ..obs("a", 1, 0.0, y)
                });
            }
            fusion.update(at(step * 100), &seen);
        }
        assert_eq!(fusion.tracks().count(), 1);
        fusion.tracks().next().unwrap().position_m.y - y
    }

    #[test]
    fn of_two_cameras_that_disagree_the_nearer_places_the_shopper() {
        // the far camera's foot point is off by more the further the shopper is from it
        let ahead = far_camera_off(true);
        assert!(ahead.abs() < 0.05, "placed {ahead} m ahead");
        // without the cameras' distances the far camera, which the shopper's past agrees with, wins
        let ahead = far_camera_off(false);
        assert!(ahead > 1.0, "placed {ahead} m ahead");
    }

    #[test]
    fn doubts_are_kept_in_time_order_each_on_its_own_and_dismissed_one_by_one() {
        let mut fusion = Fusion::new(config());
        for step in 0..3u64 {
            fusion.update(
                at(step * 100),
                &[
                    obs("a", 1, 0.0, -0.5),
                    obs("a", 2, 0.0, 0.5),
                    obs("a", 3, 0.5, 0.0),
                ],
            );
        }
        let ids: Vec<u64> = fusion.tracks().map(|t| t.id).collect();
        let [p, q, r] = ids[..] else {
            panic!("three shoppers: {ids:?}");
        };
        assert!(fusion.doubt(at(2_000), p, q));
        // a camera's frame from a little earlier, with another shopper
        assert!(fusion.doubt(at(1_900), p, r));
        // the same pair again later: a doubt of its own, dismissed or not on its own
        assert!(fusion.doubt(at(3_000), q, p));
        // nothing new: the same doubt twice, a shopper with themselves, a shopper fusion never had
        assert!(!fusion.doubt(at(3_000), p, q));
        assert!(!fusion.doubt(at(3_000), p, p));
        assert!(!fusion.doubt(at(3_000), p, 99));
        let doubts = |fusion: &Fusion, id: u64| fusion.track(id).unwrap().identity_doubts.clone();
        let times: Vec<u64> = doubts(&fusion, p)
            .iter()
            .map(|d| d.time.unix_nanos / 1_000_000)
            .collect();
        assert_eq!(times, vec![1_900, 2_000, 3_000]);
        let doubted_with = |fusion: &Fusion, id: u64, ms: u64| -> Vec<u64> {
            fusion.track(id).unwrap().doubted_with(at(ms)).collect()
        };
        assert_eq!(doubted_with(&fusion, p, 1_950), vec![r]);
        assert_eq!(doubted_with(&fusion, q, 2_500), vec![p]);
        assert_eq!(doubted_with(&fusion, r, 5_000), vec![p]);

        // the cameras showed p and q to be who they were at 2 s: the doubt at 3 s still stands
        assert!(fusion.dismiss_doubt(at(2_000), q, p));
        assert!(!fusion.dismiss_doubt(at(2_000), q, p), "dismissed once");
        assert_eq!(doubted_with(&fusion, q, 2_500), Vec::<u64>::new());
        assert_eq!(doubted_with(&fusion, q, 3_000), vec![p]);
        assert_eq!(doubted_with(&fusion, p, 2_500), vec![r]);
        assert_eq!(
            doubts(&fusion, r).len(),
            1,
            "another pair's doubt is left alone"
        );
    }

    /// Two shoppers walk side by side 0.8 m apart, seen by camera a; at x = 3 both are hidden for a
    /// second and reappear where they were heading, with new camera ids, `gap_m` apart.
    fn reappear(gap_m: f64) -> Fusion {
        reappear_with_events(gap_m).0
    }

    /// [`reappear`], and what the step that found them again reported.
    fn reappear_with_events(gap_m: f64) -> (Fusion, FusionEvents) {
        let mut fusion = Fusion::new(config());
        for step in 0..30u64 {
            let x = step as f64 * 0.1;
            fusion.update(at(step * 100), &[obs("a", 1, x, -0.4), obs("a", 2, x, 0.4)]);
        }
        for step in 30..40u64 {
            fusion.update(at(step * 100), &[]);
        }
        let events = fusion.update(
            at(4_000),
            &[
                obs("a", 3, 3.9, -gap_m / 2.0),
                obs("a", 4, 3.9, gap_m / 2.0),
            ],
        );
        (fusion, events)
    }

    #[test]
    fn re_associating_two_shoppers_close_together_doubts_both_identities() {
        let (fusion, events) = reappear_with_events(0.2);
        // reported once for the pair, with the camera track whose views can settle it
        assert_eq!(events.doubts.len(), 1, "{:?}", events.doubts);
        let doubt = &events.doubts[0];
        assert_eq!(doubt.camera.as_str(), "a");
        assert!([3, 4].contains(&doubt.local_id), "{doubt:?}");
        assert_eq!(
            fusion.global_id(&doubt.camera, doubt.local_id),
            Some(doubt.shopper)
        );
        let mut pair = [doubt.shopper, doubt.other];
        pair.sort_unstable();
        assert_eq!(pair, [1, 2]);
        for (id, other) in [(1, 2), (2, 1)] {
            let track = fusion.track(id).unwrap();
            assert_eq!(
                track.doubted_with(at(4_000)).collect::<Vec<_>>(),
                vec![other]
            );
            // not before the moment of the doubt
            assert_eq!(track.doubted_with(at(3_900)).count(), 0);
        }
    }

    #[test]
    fn a_new_track_beside_one_the_camera_follows_doubts_both_shoppers() {
        // two shoppers walk side by side 0.5 m apart, both seen by camera b; camera a follows only
        // the first until its track 1 jumps onto the second as they walk into its view together at
        // x = 2, and the first gets a new track 3 there
        let mut fusion = Fusion::new(config());
        let mut doubts = Vec::new();
        for step in 0..40u64 {
            let x = step as f64 * 0.1;
            let mut seen = vec![obs("b", 11, x, -0.25), obs("b", 12, x, 0.25)];
            if step < 20 {
                seen.push(obs("a", 1, x, -0.25));
            } else {
                seen.extend([obs("a", 1, x, 0.25), obs("a", 3, x, -0.25)]);
            }
            doubts.extend(fusion.update(at(step * 100), &seen).doubts);
        }
        let a = CameraId::new("a");
        let shopper = |camera: &str, local| fusion.global_id(&CameraId::new(camera), local);
        let (first, second) = (shopper("b", 11).unwrap(), shopper("b", 12).unwrap());
        // the new track could only join the shopper camera a did not see yet: the second
        assert_eq!(shopper("a", 3), Some(second));
        assert_eq!(shopper("a", 1), Some(first));
        // but the first, whom camera a's track 1 followed, stood as close: both are in doubt, with
        // the two camera tracks whose views can settle it
        assert_eq!(
            doubts,
            vec![BindingDoubt {
                camera: a,
                local_id: 3,
                shopper: second,
                other: first,
                other_local: Some(1),
            }]
        );
        assert_eq!(
            fusion
                .track(first)
                .unwrap()
                .doubted_with(at(2_000))
                .collect::<Vec<_>>(),
            vec![second]
        );
    }

    #[test]
    fn swapping_two_camera_tracks_bindings_needs_both_bound() {
        let mut fusion = Fusion::new(config());
        fusion.update(at(0), &[obs("a", 1, 0.0, -0.4), obs("a", 2, 0.0, 0.4)]);
        let a = CameraId::new("a");
        let (one, two) = (
            fusion.global_id(&a, 1).unwrap(),
            fusion.global_id(&a, 2).unwrap(),
        );
        assert!(fusion.swap_bindings(&a, 1, 2));
        assert_eq!(
            (fusion.global_id(&a, 1), fusion.global_id(&a, 2)),
            (Some(two), Some(one))
        );
        assert!(!fusion.swap_bindings(&a, 1, 7));
        assert_eq!(
            (fusion.global_id(&a, 1), fusion.global_id(&a, 7)),
            (Some(two), None)
        );
    }

    fn look(rgb: [u8; 3]) -> Appearance {
        Appearance::of_colour(rgb)
    }

    /// Shoppers in red (y = -0.4) and blue (y = 0.4) walk side by side, are hidden for a second, and
    /// reappear with new camera ids 0.2 m apart the other way round: red at y = 0.1, blue at -0.1.
    fn crossed_with_looks(config: FusionConfig) -> Fusion {
        let (red, blue) = (look([200, 30, 40]), look([30, 60, 200]));
        let seen = |local, x, y, appearance| FloorObservation {
            appearance: Some(appearance),
            ..obs("a", local, x, y)
        };
        let mut fusion = Fusion::new(config);
        for step in 0..30u64 {
            let x = step as f64 * 0.1;
            fusion.update(
                at(step * 100),
                &[seen(1, x, -0.4, red), seen(2, x, 0.4, blue)],
            );
        }
        for step in 30..40u64 {
            fusion.update(at(step * 100), &[]);
        }
        fusion.update(
            at(4_000),
            &[seen(3, 3.9, 0.1, red), seen(4, 3.9, -0.1, blue)],
        );
        fusion
    }

    #[test]
    fn a_look_keeps_shoppers_apart_where_positions_would_swap_them() {
        let fusion = crossed_with_looks(config());
        let (red, blue) = (
            fusion.global_id(&CameraId::new("a"), 1),
            fusion.global_id(&CameraId::new("a"), 2),
        );
        assert_eq!((red, blue), (None, None), "the first camera tracks ended");
        let a = CameraId::new("a");
        assert_eq!(fusion.global_id(&a, 3), Some(1));
        assert_eq!(fusion.global_id(&a, 4), Some(2));
        // by default a look does not lift the doubt (see `default_appearance_margin`)
        assert_eq!(
            fusion
                .track(1)
                .unwrap()
                .doubted_with(at(4_000))
                .collect::<Vec<_>>(),
            vec![2]
        );
        let lenient = crossed_with_looks(FusionConfig {
            appearance_margin: 0.25,
            ..config()
        });
        for id in [1, 2] {
            assert!(lenient.track(id).unwrap().identity_doubts.is_empty());
        }
    }

    #[test]
    fn re_associating_shoppers_far_apart_is_sure() {
        let fusion = reappear(2.0);
        for id in [1, 2] {
            assert!(fusion.track(id).unwrap().identity_doubts.is_empty());
        }
    }

    #[test]
    fn an_orphan_outside_the_entry_is_born_late_and_flagged() {
        let mut fusion = Fusion::new(config());
        let mut born = Vec::new();
        for step in 0..20u64 {
            born.extend(fusion.update(at(step * 100), &[obs("a", 5, 5.0, 3.0)]).born);
        }
        assert_eq!(born, vec![1]);
        assert!(fusion.track(1).unwrap().born_outside_entry);
        assert_eq!(fusion.track(1).unwrap().born_at, at(1_400));
    }

    #[test]
    fn a_track_lost_inside_the_store_vanishes() {
        let mut fusion = Fusion::new(config());
        fusion.update(at(0), &[obs("a", 1, 0.0, 0.0)]);
        fusion.update(at(100), &[obs("a", 1, 0.1, 0.0)]);
        let mut vanished = Vec::new();
        for step in 2..120u64 {
            vanished.extend(fusion.update(at(step * 100), &[]).vanished);
        }
        assert_eq!(vanished, vec![1]);
    }
}
