//! A per-camera multi-object tracker in image space: Kalman prediction and ByteTrack's two-stage
//! association (confident detections first, then the weak ones that only continue existing tracks).

use serde::{Deserialize, Serialize};
use walkout_core::BBox;

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
}

impl Track {
    /// The current estimate of the box.
    pub fn bbox(&self) -> BBox {
        self.filter.bbox()
    }
}

/// A detection as the tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackInput {
    pub bbox: BBox,
    pub score: f32,
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
        }
        let (high, low): (Vec<usize>, Vec<usize>) = (0..detections.len())
            .filter(|&i| detections[i].score >= self.config.low_score)
            .partition(|&i| detections[i].score >= self.config.high_score);

        // 1. confirmed and lost tracks against confident detections
        let pool: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].state != TrackState::Tentative)
            .collect();
        let predicted: Vec<BBox> = self.tracks.iter().map(Track::bbox).collect();
        let matches = assign(
            pool.len(),
            high.len(),
            self.config.first_match_iou,
            |r, c| predicted[pool[r]].intersection_over_union(&detections[high[c]].bbox),
        );
        let mut det_used = vec![false; detections.len()];
        let mut track_matched = vec![false; self.tracks.len()];
        for (r, c) in matches {
            self.apply(pool[r], high[c], &detections[high[c]], frame);
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
            |r, c| predicted[remaining[r]].intersection_over_union(&detections[low[c]].bbox),
        );
        for (r, c) in matches {
            self.apply(remaining[r], low[c], &detections[low[c]], frame);
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
            |r, c| predicted[tentative[r]].intersection_over_union(&detections[left[c]].bbox),
        );
        for (r, c) in matches {
            self.apply(tentative[r], left[c], &detections[left[c]], frame);
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
            });
            self.next_id += 1;
        }
    }

    fn apply(&mut self, track: usize, detection_index: usize, detection: &TrackInput, frame: u64) {
        let t = &mut self.tracks[track];
        t.filter.update(&self.kalman, &detection.bbox);
        t.state = TrackState::Tracked;
        t.score = detection.score;
        t.last_seen_frame = frame;
        t.hits += 1;
        t.detection = Some(detection_index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(x: f32, y: f32, score: f32) -> TrackInput {
        TrackInput {
            bbox: BBox::new(x, y, x + 30.0, y + 80.0),
            score,
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
}
