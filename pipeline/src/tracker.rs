//! A per-camera multi-object tracker in image space: Kalman prediction and ByteTrack's two-stage
//! association (confident detections first, then the weak ones that only continue existing tracks),
//! where a track's look (a colour histogram, learned where its person stood clear of others) tips the
//! balance between detections that overlap it about as much.

use serde::{Deserialize, Serialize};
use walkout_core::{Appearance, BBox};

use crate::assignment::assign;
use crate::kalman::{KalmanBox, KalmanConfig};

/// Every tracker parameter, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score take part in the first association and may start tracks.
    pub high_score: f32,
    /// Detections between this and `high_score` only continue tracks (second association).
    pub low_score: f32,
    /// A new track needs a detection at least this confident.
    pub new_track_score: f32,
    /// Minimum IoU to match a track with a confident detection.
    pub first_match_iou: f32,
    /// Minimum IoU to match a track with a weak detection.
    pub second_match_iou: f32,
    /// Minimum IoU to confirm a new (tentative) track on its second frame.
    pub tentative_match_iou: f32,
    /// Frames a lost track is kept for re-identification before it dies.
    pub max_lost_frames: u32,
    /// Kalman noise: position standard deviation as a fraction of box height.
    pub std_weight_position: f32,
    /// Kalman noise: velocity standard deviation as a fraction of box height.
    pub std_weight_velocity: f32,
    /// A track's fit to a detection is their IoU plus this much times their looks' similarity
    /// (Bhattacharyya coefficient, 0..1; one half where either look is unknown). Two people crossing in
    /// a camera's view come apart with boxes either could own, and overlap alone swaps them; 0: motion
    /// only. A match still needs the stage's IoU.
    pub look_bonus: f32,
    /// A track's look moves this far towards each clear detection's histogram.
    pub look_weight: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            first_match_iou: 0.2,
            second_match_iou: 0.5,
            tentative_match_iou: 0.3,
            max_lost_frames: 30,
            std_weight_position: 1.0 / 20.0,
            std_weight_velocity: 1.0 / 160.0,
            look_bonus: 0.3,
            look_weight: 0.3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackState {
    /// Born this frame; confirmed if matched on the next.
    Tentative,
    Tracked,
    /// Not seen lately; kept for `max_lost_frames` in case it comes back.
    Lost,
}

/// One tracked target.
#[derive(Debug, Clone)]
pub struct Track {
    pub id: u64,
    pub state: TrackState,
    pub score: f32,
    pub start_frame: u64,
    pub last_seen_frame: u64,
    pub hits: u32,
    filter: KalmanBox,
    /// Index of the detection that updated this track in the latest frame.
    pub detection: Option<usize>,
    look: Option<Appearance>,
    /// The look of that detection, when its box stood clear of every other.
    clear_look: Option<Appearance>,
}

impl Track {
    /// The current estimate of the box.
    pub fn bbox(&self) -> BBox {
        self.filter.bbox()
    }

    /// The track's look: a running mean of its detections' histograms over the frames where its box
    /// stood clear of every other detection's (where they overlap, their pixels mix).
    pub fn look(&self) -> Option<&Appearance> {
        self.look.as_ref()
    }

    /// The look of the detection that updated this track in the latest frame, if its box stood clear
    /// of every other detection's: one view of the person, where [`Track::look`] is the mean of them.
    pub fn clear_look(&self) -> Option<&Appearance> {
        self.clear_look.as_ref()
    }
}

/// A detection as the tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackInput {
    pub bbox: BBox,
    pub score: f32,
    /// What the detected person looks like, if known.
    pub appearance: Option<Appearance>,
}

/// What a pair's similarity counts as when a look is unknown: neither for the match nor against it.
const UNKNOWN_SIMILARITY: f32 = 0.5;

/// Boxes overlapping by more than this mix each other's pixels: their looks are not their own.
const CLEAR_IOU: f32 = 0.05;

/// The look of each detection that stands clear of every other.
fn clear_looks(detections: &[TrackInput]) -> Vec<Option<Appearance>> {
    detections
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let crowded = detections
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && o.bbox.intersection_over_union(&d.bbox) > CLEAR_IOU);
            d.appearance.filter(|_| !crowded)
        })
        .collect()
}

/// ByteTrack over one camera.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    kalman: KalmanConfig,
    tracks: Vec<Track>,
    frame: u64,
    next_id: u64,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        let kalman = KalmanConfig {
            std_weight_position: config.std_weight_position,
            std_weight_velocity: config.std_weight_velocity,
        };
        Self {
            config,
            kalman,
            tracks: Vec::new(),
            frame: 0,
            next_id: 1,
        }
    }

    /// Every live track (tentative, tracked and lost), in id order.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Confirmed tracks updated in the latest frame: the tracker's output.
    pub fn active(&self) -> impl Iterator<Item = &Track> {
        self.tracks
            .iter()
            .filter(|t| t.state == TrackState::Tracked && t.last_seen_frame == self.frame)
    }

    /// Advances one frame with that frame's detections.
    pub fn update(&mut self, detections: &[TrackInput]) {
        self.frame += 1;
        let frame = self.frame;
        for track in &mut self.tracks {
            track.filter.predict(&self.kalman);
            track.detection = None;
            track.clear_look = None;
        }
        let looks = clear_looks(detections);
        let (high, low): (Vec<usize>, Vec<usize>) = (0..detections.len())
            .filter(|&i| detections[i].score >= self.config.low_score)
            .partition(|&i| detections[i].score >= self.config.high_score);

        // 1. confirmed and lost tracks against confident detections
        let pool: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].state != TrackState::Tentative)
            .collect();
        let predicted: Vec<BBox> = self.tracks.iter().map(Track::bbox).collect();
        // how well track t fits detection d: their overlap, and how alike they look
        let track_looks: Vec<Option<Appearance>> = self.tracks.iter().map(|t| t.look).collect();
        let bonus = self.config.look_bonus;
        let fit = |t: usize, d: usize, min_iou: f32| {
            let iou = predicted[t].intersection_over_union(&detections[d].bbox);
            if iou < min_iou {
                return 0.0;
            }
            // a detection overlapping others still counts its look here (its box shows mostly the
            // person it is on); only clear ones teach the track its look (`apply`)
            let alike = track_looks[t]
                .as_ref()
                .zip(detections[d].appearance.as_ref())
                .map_or(UNKNOWN_SIMILARITY, |(a, b)| a.similarity(b));
            iou + bonus * alike
        };
        let matches = assign(
            pool.len(),
            high.len(),
            self.config.first_match_iou,
            |r, c| fit(pool[r], high[c], self.config.first_match_iou),
        );
        let mut det_used = vec![false; detections.len()];
        let mut track_matched = vec![false; self.tracks.len()];
        for (r, c) in matches {
            self.apply(pool[r], high[c], detections, &looks, frame);
            det_used[high[c]] = true;
            track_matched[pool[r]] = true;
        }

        // 2. still-unmatched tracked (not lost) tracks against weak detections
        let remaining: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&t| !track_matched[t] && self.tracks[t].state == TrackState::Tracked)
            .collect();
        let matches = assign(
            remaining.len(),
            low.len(),
            self.config.second_match_iou,
            |r, c| fit(remaining[r], low[c], self.config.second_match_iou),
        );
        for (r, c) in matches {
            self.apply(remaining[r], low[c], detections, &looks, frame);
            det_used[low[c]] = true;
            track_matched[remaining[r]] = true;
        }

        // 3. tentative tracks against the confident detections left
        let tentative: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].state == TrackState::Tentative)
            .collect();
        let left: Vec<usize> = high.iter().copied().filter(|&d| !det_used[d]).collect();
        let matches = assign(
            tentative.len(),
            left.len(),
            self.config.tentative_match_iou,
            |r, c| fit(tentative[r], left[c], self.config.tentative_match_iou),
        );
        for (r, c) in matches {
            self.apply(tentative[r], left[c], detections, &looks, frame);
            det_used[left[c]] = true;
            track_matched[tentative[r]] = true;
        }

        // 4. unmatched: tentative tracks die, tracked ones are lost, long-lost ones die
        let max_lost = u64::from(self.config.max_lost_frames);
        for (track, matched) in self.tracks.iter_mut().zip(&track_matched) {
            if !matched && track.state == TrackState::Tracked {
                track.state = TrackState::Lost;
            }
        }
        let mut keep = track_matched.iter();
        self.tracks.retain(|t| {
            let matched = *keep.next().unwrap_or(&false);
            matched || (t.state == TrackState::Lost && frame - t.last_seen_frame <= max_lost)
        });

        // 5. births from confident detections nobody took
        for (index, detection) in detections.iter().enumerate() {
            if det_used[index] || detection.score < self.config.new_track_score {
                continue;
            }
            let state = if frame == 1 {
                TrackState::Tracked
            } else {
                TrackState::Tentative
            };
            self.tracks.push(Track {
                id: self.next_id,
                state,
                score: detection.score,
                start_frame: frame,
                last_seen_frame: frame,
                hits: 1,
                filter: KalmanBox::initiate(&self.kalman, &detection.bbox),
                detection: Some(index),
                look: looks[index],
                clear_look: looks[index],
            });
            self.next_id += 1;
        }
    }

    /// Updates `track` with detection `d` of `detections` (and its clear look, if any).
    fn apply(
        &mut self,
        track: usize,
        d: usize,
        detections: &[TrackInput],
        looks: &[Option<Appearance>],
        frame: u64,
    ) {
        let (detection, look) = (&detections[d], looks[d]);
        let t = &mut self.tracks[track];
        match (&mut t.look, look) {
            (Some(known), Some(look)) => known.blend(&look, self.config.look_weight),
            (known @ None, Some(look)) => *known = Some(look),
            (_, None) => {}
        }
        t.filter.update(&self.kalman, &detection.bbox);
        t.state = TrackState::Tracked;
        t.score = detection.score;
        t.last_seen_frame = frame;
        t.hits += 1;
        t.detection = Some(d);
        t.clear_look = look;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(x: f32, y: f32, score: f32) -> TrackInput {
        TrackInput {
            bbox: BBox::new(x, y, x + 30.0, y + 80.0),
            score,
            appearance: None,
        }
    }

    fn ids(tracker: &Tracker) -> Vec<(u64, f32)> {
        let mut v: Vec<(u64, f32)> = tracker
            .active()
            .map(|t| (t.id, t.bbox().x1.round()))
            .collect();
        v.sort_by_key(|p| p.0);
        v
    }

    #[test]
    fn two_walkers_keep_their_ids() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for step in 0..40 {
            let s = step as f32;
            tracker.update(&[
                input(10.0 + 4.0 * s, 100.0, 0.9),
                input(400.0 - 4.0 * s, 300.0, 0.9),
            ]);
        }
        let active = ids(&tracker);
        assert_eq!(active.iter().map(|a| a.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(active[0].1, 166.0);
    }

    #[test]
    fn weak_detections_continue_a_track_but_never_start_one() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(&[input(0.0, 0.0, 0.9)]);
        // occluded: the detector is unsure, and a stray weak box appears elsewhere
        for step in 1..5 {
            tracker.update(&[input(step as f32 * 2.0, 0.0, 0.3), input(500.0, 500.0, 0.3)]);
        }
        assert_eq!(
            ids(&tracker).iter().map(|a| a.0).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(tracker.tracks().len(), 1);
    }

    #[test]
    fn a_lost_track_is_recovered_with_its_id_and_dies_after_the_buffer() {
        let config = TrackerConfig {
            max_lost_frames: 10,
            ..TrackerConfig::default()
        };
        let mut tracker = Tracker::new(config);
        for step in 0..10 {
            tracker.update(&[input(step as f32 * 3.0, 0.0, 0.9)]);
        }
        for _ in 0..5 {
            tracker.update(&[]);
        }
        assert_eq!(tracker.tracks()[0].state, TrackState::Lost);
        // comes back where the motion model expects it
        tracker.update(&[input(45.0, 0.0, 0.9)]);
        assert_eq!(
            ids(&tracker).iter().map(|a| a.0).collect::<Vec<_>>(),
            vec![1]
        );
        for _ in 0..11 {
            tracker.update(&[]);
        }
        assert!(tracker.tracks().is_empty());
    }

    #[test]
    fn a_one_frame_false_positive_never_becomes_a_track() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(&[input(0.0, 0.0, 0.9)]);
        tracker.update(&[input(0.0, 0.0, 0.9), input(300.0, 300.0, 0.95)]);
        assert_eq!(
            tracker.active().count(),
            1,
            "tentative tracks are not reported"
        );
        tracker.update(&[input(0.0, 0.0, 0.9)]);
        assert_eq!(tracker.tracks().len(), 1);
        // a real newcomer is confirmed on its second frame
        tracker.update(&[input(0.0, 0.0, 0.9), input(300.0, 300.0, 0.95)]);
        tracker.update(&[input(0.0, 0.0, 0.9), input(302.0, 300.0, 0.95)]);
        assert_eq!(
            ids(&tracker).iter().map(|a| a.0).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }

    fn look(rgb: [u8; 3]) -> Appearance {
        Appearance::of_colour(rgb)
    }

    /// Red starts on the left and blue on the right; they walk past each other, stand side by side
    /// with red now a little right of blue, then turn back: each walks out the way they came, through
    /// the other once more. Returns the id of the track on the left at the end, and red's first id.
    fn red_and_blue_turn_back(config: TrackerConfig) -> (u64, u64) {
        let (red, blue) = (look([220, 30, 30]), look([30, 30, 220]));
        let person = |x: f32, appearance| TrackInput {
            appearance: Some(appearance),
            ..input(x, 100.0, 0.9)
        };
        let mut tracker = Tracker::new(config);
        let mut frames: Vec<(f32, f32)> = Vec::new();
        frames.extend((0..10).map(|_| (150.0, 450.0)));
        frames.extend((1..=16).map(|i| (150.0 + 9.5 * i as f32, 450.0 - 9.5 * i as f32)));
        frames.extend((0..20).map(|_| (302.0, 298.0)));
        frames.extend((1..=30).map(|i| (302.0 - 4.0 * i as f32, 298.0 + 4.0 * i as f32)));
        let mut red_id = None;
        for (x_red, x_blue) in frames {
            tracker.update(&[person(x_red, red), person(x_blue, blue)]);
            red_id =
                red_id.or_else(|| tracker.active().find(|t| t.bbox().x1 < 300.0).map(|t| t.id));
        }
        let left = tracker
            .active()
            .min_by(|a, b| a.bbox().x1.total_cmp(&b.bbox().x1))
            .map(|t| t.id)
            .unwrap();
        (left, red_id.unwrap())
    }

    #[test]
    fn two_people_who_turn_back_through_each_other_keep_their_ids_by_their_looks() {
        let (left, red) = red_and_blue_turn_back(TrackerConfig::default());
        assert_eq!(left, red, "red walked out to the left");
        // by overlap alone, the track that stood on the right follows whoever is on the right
        let (left, red) = red_and_blue_turn_back(TrackerConfig {
            look_bonus: 0.0,
            ..TrackerConfig::default()
        });
        assert_ne!(left, red);
    }

    #[test]
    fn a_track_learns_its_look_only_where_it_stands_clear_of_others() {
        let (red, blue) = (look([220, 30, 30]), look([30, 30, 220]));
        let mut tracker = Tracker::new(TrackerConfig::default());
        let person = |x: f32, appearance| TrackInput {
            appearance: Some(appearance),
            ..input(x, 100.0, 0.9)
        };
        tracker.update(&[person(0.0, red)]);
        assert!(tracker.tracks()[0].look().unwrap().similarity(&red) > 0.99);
        // a blue box over red's: red's box holds blue pixels now, and its look is kept
        for _ in 0..5 {
            tracker.update(&[person(0.0, blue), person(5.0, blue)]);
        }
        assert!(tracker.tracks()[0].look().unwrap().similarity(&red) > 0.99);
        // clear again, looking otherwise (a coat taken off): the look moves towards what it sees
        tracker.update(&[person(0.0, blue)]);
        let look = tracker.tracks()[0].look().unwrap();
        assert!(look.similarity(&red) < 0.99 && look.similarity(&blue) > 0.0);
    }
}
