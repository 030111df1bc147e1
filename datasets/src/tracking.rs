//! Multi-object tracking metrics over MOTChallenge boxes: CLEAR MOT (MOTA, ID switches), the identity
//! metrics (IDF1) and HOTA.
//!
//! The numbers are meant to be the ones the reference tools give, not approximations of them:
//! - CLEAR MOT follows py-motmetrics 1.4 (`MOTAccumulator.update` as driven by
//!   `utils.compare_to_groundtruth(gt, pred, "iou", distth=0.5)`): per frame, pairs already matched keep
//!   their match while their IoU distance stays within the threshold; the rest are matched one-to-one with
//!   as many pairs as possible and then the least total distance (`1 - IoU`); a match whose ground-truth
//!   object was last matched to another track id is an ID switch. Frames are every frame number that
//!   appears in either file.
//! - IDF1 follows py-motmetrics' `id_global_assignment`: one global one-to-one matching of ground-truth ids to
//!   predicted ids that maximises the number of frames in which the pair overlaps within the threshold
//!   (IDTP); IDFN = ground-truth boxes - IDTP, IDFP = predicted boxes - IDTP.
//! - HOTA follows TrackEval's `metrics/hota.py` (Luiten et al., IJCV 2020), with IoU as similarity:
//!   localisation thresholds alpha = 0.05, 0.10, ..., 0.95; per frame a Hungarian matching maximising
//!   global-alignment-weighted similarity; DetA, AssA per alpha; HOTA = mean over alpha of sqrt(DetA * AssA).
//!
//! Boxes are compared as given by [`evaluate`]: the ground truth's confidence, class and visibility
//! columns are not used to ignore boxes (py-motmetrics' `compare_to_groundtruth` does not either).
//! [`without_unseen`] leaves out, beforehand, the people a camera barely sees (a head above a shelf) and
//! whatever was matched to them, as TrackEval's MOTChallenge preprocessing does with distractors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assignment::{max_weight_matching, min_cost_max_matching};
use crate::mot::MotRecord;

/// Number of HOTA localisation thresholds.
pub const HOTA_ALPHAS: usize = 19;

/// The HOTA threshold `alpha` of index `i`, computed as numpy's `arange(0.05, 0.99, 0.05)` does.
pub fn hota_alpha(i: usize) -> f64 {
    0.05 + i as f64 * 0.05
}

/// IoU of two MOT boxes `(left, top, width, height)`, in f64, as py-motmetrics' `boxiou` computes it.
pub fn iou(a: &MotRecord, b: &MotRecord) -> f64 {
    let (ax0, ay0) = (f64::from(a.left), f64::from(a.top));
    let (ax1, ay1) = (ax0 + f64::from(a.width), ay0 + f64::from(a.height));
    let (bx0, by0) = (f64::from(b.left), f64::from(b.top));
    let (bx1, by1) = (bx0 + f64::from(b.width), by0 + f64::from(b.height));
    let iw = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let ih = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let inter = iw * ih;
    let area_a = (ax1 - ax0).max(0.0) * (ay1 - ay0).max(0.0);
    let area_b = (bx1 - bx0).max(0.0) * (by1 - by0).max(0.0);
    let union = area_a + area_b - inter;
    if union <= f64::EPSILON {
        0.0
    } else {
        inter / union
    }
}

/// Counts from CLEAR MOT, additive across cameras.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearCounts {
    /// Ground-truth boxes.
    pub num_gt: u64,
    /// Predicted boxes.
    pub num_pred: u64,
    /// Ground-truth boxes matched to a prediction, ID switches included.
    pub matches: u64,
    /// Ground-truth boxes left unmatched (FN).
    pub misses: u64,
    /// Predicted boxes left unmatched (FP).
    pub false_positives: u64,
    /// Matches whose ground-truth object was last matched to a different predicted id (IDSW).
    pub switches: u64,
    /// Sum of `1 - IoU` over matches (for MOTP).
    pub total_distance: f64,
}

/// Counts from the identity metrics, additive across cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityCounts {
    /// Boxes matched under the global id matching.
    pub idtp: u64,
    /// Predicted boxes not matched under it.
    pub idfp: u64,
    /// Ground-truth boxes not matched under it.
    pub idfn: u64,
}

/// HOTA's sums per alpha, additive across cameras (AssA is kept weighted by TP so that sums combine the way
/// TrackEval's `combine_sequences` does).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotaCounts {
    /// True positives per alpha.
    pub tp: [f64; HOTA_ALPHAS],
    /// False negatives per alpha.
    pub fn_: [f64; HOTA_ALPHAS],
    /// False positives per alpha.
    pub fp: [f64; HOTA_ALPHAS],
    /// AssA times TP per alpha.
    pub ass_a_times_tp: [f64; HOTA_ALPHAS],
}

impl Default for HotaCounts {
    fn default() -> Self {
        Self {
            tp: [0.0; HOTA_ALPHAS],
            fn_: [0.0; HOTA_ALPHAS],
            fp: [0.0; HOTA_ALPHAS],
            ass_a_times_tp: [0.0; HOTA_ALPHAS],
        }
    }
}

/// Everything the tracking metrics are computed from, for one camera or summed over several.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingCounts {
    /// CLEAR MOT.
    pub clear: ClearCounts,
    /// Identity.
    pub identity: IdentityCounts,
    /// HOTA.
    pub hota: HotaCounts,
}

impl TrackingCounts {
    /// Adds another camera's counts.
    pub fn add(&mut self, other: &TrackingCounts) {
        let c = &mut self.clear;
        c.num_gt += other.clear.num_gt;
        c.num_pred += other.clear.num_pred;
        c.matches += other.clear.matches;
        c.misses += other.clear.misses;
        c.false_positives += other.clear.false_positives;
        c.switches += other.clear.switches;
        c.total_distance += other.clear.total_distance;
        self.identity.idtp += other.identity.idtp;
        self.identity.idfp += other.identity.idfp;
        self.identity.idfn += other.identity.idfn;
        for a in 0..HOTA_ALPHAS {
            self.hota.tp[a] += other.hota.tp[a];
            self.hota.fn_[a] += other.hota.fn_[a];
            self.hota.fp[a] += other.hota.fp[a];
            self.hota.ass_a_times_tp[a] += other.hota.ass_a_times_tp[a];
        }
    }

    /// Whether neither side had a box.
    fn both_empty(&self) -> bool {
        self.clear.num_gt == 0 && self.clear.num_pred == 0
    }

    /// MOTA = 1 - (FN + FP + IDSW) / ground-truth boxes. With no ground-truth boxes: 1 when nothing was
    /// predicted either, else 0 (py-motmetrics would give -inf or NaN).
    pub fn mota(&self) -> f64 {
        let c = &self.clear;
        if c.num_gt == 0 {
            return if c.num_pred == 0 { 1.0 } else { 0.0 };
        }
        1.0 - (c.misses + c.false_positives + c.switches) as f64 / c.num_gt as f64
    }

    /// MOTP as py-motmetrics reports it: mean `1 - IoU` over matches (lower is better); 0 without matches.
    pub fn motp(&self) -> f64 {
        if self.clear.matches == 0 {
            0.0
        } else {
            self.clear.total_distance / self.clear.matches as f64
        }
    }

    /// IDF1 = 2 IDTP / (ground-truth boxes + predicted boxes); 1 when both are empty.
    pub fn idf1(&self) -> f64 {
        if self.both_empty() {
            return 1.0;
        }
        let i = &self.identity;
        2.0 * i.idtp as f64 / (2 * i.idtp + i.idfp + i.idfn) as f64
    }

    /// HOTA at one threshold index: sqrt(DetA * AssA), with TrackEval's `max(1, ·)` denominators.
    pub fn hota_at(&self, a: usize) -> f64 {
        let h = &self.hota;
        let det_a = h.tp[a] / (h.tp[a] + h.fn_[a] + h.fp[a]).max(1.0);
        let ass_a = h.ass_a_times_tp[a] / h.tp[a].max(1.0);
        (det_a * ass_a).sqrt()
    }

    /// HOTA averaged over the 19 thresholds, as TrackEval reports it; 1 when both sides are empty.
    pub fn hota(&self) -> f64 {
        if self.both_empty() {
            return 1.0;
        }
        (0..HOTA_ALPHAS).map(|a| self.hota_at(a)).sum::<f64>() / HOTA_ALPHAS as f64
    }

    /// DetA averaged over the thresholds.
    pub fn det_a(&self) -> f64 {
        let h = &self.hota;
        (0..HOTA_ALPHAS)
            .map(|a| h.tp[a] / (h.tp[a] + h.fn_[a] + h.fp[a]).max(1.0))
            .sum::<f64>()
            / HOTA_ALPHAS as f64
    }

    /// AssA averaged over the thresholds.
    pub fn ass_a(&self) -> f64 {
        let h = &self.hota;
        (0..HOTA_ALPHAS)
            .map(|a| h.ass_a_times_tp[a] / h.tp[a].max(1.0))
            .sum::<f64>()
            / HOTA_ALPHAS as f64
    }
}

/// A person less visible than this in a camera (the share of their in-image pixels it sees) is not one
/// it can be asked to find: the detector's training labels leave them out too (`walkout simulate
/// --export-training`), and the tracking scores ignore them ([`without_unseen`]).
pub const MIN_PERSON_VISIBILITY: f32 = 0.2;

/// Leaves out the ground-truth boxes less visible than `min_visibility`, and the predictions matched to
/// them, as TrackEval's MOTChallenge preprocessing leaves out distractors: per frame, predictions are
/// matched one-to-one to every ground-truth box, by the largest total IoU among pairs with IoU at least
/// `min_iou`; a prediction matched to a box left out is left out with it, and one matched to nothing stays
/// (a false positive). A person behind a shelf is then neither a miss when nobody finds them nor a
/// false positive when somebody does.
pub fn without_unseen(
    gt: &[MotRecord],
    pred: &[MotRecord],
    min_visibility: f32,
    min_iou: f64,
) -> (Vec<MotRecord>, Vec<MotRecord>) {
    let mut kept_gt = Vec::with_capacity(gt.len());
    let mut kept_pred = Vec::with_capacity(pred.len());
    for frame in frames(gt, pred).values() {
        let unseen = |i: usize| frame.gt[i].visibility < min_visibility;
        let mut dropped = vec![false; frame.pred.len()];
        if (0..frame.gt.len()).any(unseen) {
            let weight = |i: usize, j: usize| {
                let overlap = iou(frame.gt[i], frame.pred[j]);
                if overlap >= min_iou {
                    (overlap * SCALE) as i64
                } else {
                    0
                }
            };
            for (i, j) in max_weight_matching(frame.gt.len(), frame.pred.len(), weight) {
                dropped[j] = unseen(i);
            }
        }
        kept_gt.extend(
            frame
                .gt
                .iter()
                .filter(|r| r.visibility >= min_visibility)
                .map(|r| **r),
        );
        kept_pred.extend(
            frame
                .pred
                .iter()
                .zip(&dropped)
                .filter(|(_, dropped)| !**dropped)
                .map(|(r, _)| **r),
        );
    }
    (kept_gt, kept_pred)
}

/// One frame's boxes on each side.
struct FramePair<'a> {
    gt: Vec<&'a MotRecord>,
    pred: Vec<&'a MotRecord>,
}

fn frames<'a>(gt: &'a [MotRecord], pred: &'a [MotRecord]) -> BTreeMap<u32, FramePair<'a>> {
    let mut frames: BTreeMap<u32, FramePair<'a>> = BTreeMap::new();
    for r in gt {
        frames
            .entry(r.frame)
            .or_insert_with(|| FramePair {
                gt: Vec::new(),
                pred: Vec::new(),
            })
            .gt
            .push(r);
    }
    for r in pred {
        frames
            .entry(r.frame)
            .or_insert_with(|| FramePair {
                gt: Vec::new(),
                pred: Vec::new(),
            })
            .pred
            .push(r);
    }
    frames
}

/// Scales distances and similarities to integers for the assignment solver; far finer than any tie that
/// matters.
const SCALE: f64 = 1e9;

/// Scores one camera: ground-truth boxes against predicted boxes, matched when IoU >= `min_iou`
/// (py-motmetrics' `distth = 1 - min_iou`; 0.5 in MOTChallenge).
pub fn evaluate(gt: &[MotRecord], pred: &[MotRecord], min_iou: f64) -> TrackingCounts {
    let frames = frames(gt, pred);
    let max_distance = 1.0 - min_iou;
    let mut clear = ClearCounts {
        num_gt: gt.len() as u64,
        num_pred: pred.len() as u64,
        ..ClearCounts::default()
    };
    // py-motmetrics' accumulator state: the last predicted id each object was matched to.
    let mut last_match: BTreeMap<i64, i64> = BTreeMap::new();
    // (gt id, pred id) -> frames where the pair is within the threshold.
    let mut pair_frames: BTreeMap<(i64, i64), u64> = BTreeMap::new();
    let mut gt_counts: BTreeMap<i64, u64> = BTreeMap::new();
    let mut pred_counts: BTreeMap<i64, u64> = BTreeMap::new();

    for frame in frames.values() {
        for o in &frame.gt {
            *gt_counts.entry(o.id).or_default() += 1;
        }
        for h in &frame.pred {
            *pred_counts.entry(h.id).or_default() += 1;
        }
        let distance = |i: usize, j: usize| -> Option<f64> {
            let d = 1.0 - iou(frame.gt[i], frame.pred[j]);
            (d <= max_distance).then_some(d)
        };
        for (i, o) in frame.gt.iter().enumerate() {
            for (j, h) in frame.pred.iter().enumerate() {
                if distance(i, j).is_some() {
                    *pair_frames.entry((o.id, h.id)).or_default() += 1;
                }
            }
        }
        let mut gt_done = vec![false; frame.gt.len()];
        let mut pred_done = vec![false; frame.pred.len()];
        // 1. Keep established matches.
        for (i, o) in frame.gt.iter().enumerate() {
            let Some(&previous) = last_match.get(&o.id) else {
                continue;
            };
            let Some(j) =
                (0..frame.pred.len()).find(|&j| !pred_done[j] && frame.pred[j].id == previous)
            else {
                continue;
            };
            if let Some(d) = distance(i, j) {
                gt_done[i] = true;
                pred_done[j] = true;
                clear.matches += 1;
                clear.total_distance += d;
            }
        }
        // 2. Match the rest: most pairs, then least distance.
        let free_gt: Vec<usize> = (0..frame.gt.len()).filter(|&i| !gt_done[i]).collect();
        let free_pred: Vec<usize> = (0..frame.pred.len()).filter(|&j| !pred_done[j]).collect();
        let pairs = min_cost_max_matching(free_gt.len(), free_pred.len(), SCALE as i64, |r, c| {
            distance(free_gt[r], free_pred[c]).map(|d| (d * SCALE).round() as i64)
        });
        for (r, c) in pairs {
            let (i, j) = (free_gt[r], free_pred[c]);
            let (o, h) = (frame.gt[i].id, frame.pred[j].id);
            if last_match.get(&o).is_some_and(|&previous| previous != h) {
                clear.switches += 1;
            }
            last_match.insert(o, h);
            clear.matches += 1;
            clear.total_distance += distance(i, j).unwrap_or(0.0);
        }
    }
    clear.misses = clear.num_gt - clear.matches;
    clear.false_positives = clear.num_pred - clear.matches;

    TrackingCounts {
        clear,
        identity: identity(&pair_frames, &gt_counts, &pred_counts),
        hota: hota(&frames),
    }
}

fn identity(
    pair_frames: &BTreeMap<(i64, i64), u64>,
    gt_counts: &BTreeMap<i64, u64>,
    pred_counts: &BTreeMap<i64, u64>,
) -> IdentityCounts {
    let gt_ids: Vec<i64> = gt_counts.keys().copied().collect();
    let pred_ids: Vec<i64> = pred_counts.keys().copied().collect();
    // Maximise the frames shared by matched pairs: py-motmetrics' min-cost assignment on IDFP + IDFN comes
    // to the same, since IDFP + IDFN = boxes on both sides - 2 * shared frames.
    let pairs = max_weight_matching(gt_ids.len(), pred_ids.len(), |r, c| {
        pair_frames
            .get(&(gt_ids[r], pred_ids[c]))
            .map_or(0, |&shared| shared as i64)
    });
    let idtp: u64 = pairs
        .iter()
        .filter_map(|&(r, c)| pair_frames.get(&(gt_ids[r], pred_ids[c])))
        .sum();
    let num_gt: u64 = gt_counts.values().sum();
    let num_pred: u64 = pred_counts.values().sum();
    IdentityCounts {
        idtp,
        idfp: num_pred - idtp,
        idfn: num_gt - idtp,
    }
}

/// TrackEval's `HOTA.eval_sequence`, with ids mapped to dense indices.
fn hota(frames: &BTreeMap<u32, FramePair<'_>>) -> HotaCounts {
    let mut out = HotaCounts::default();
    let num_gt: usize = frames.values().map(|f| f.gt.len()).sum();
    let num_pred: usize = frames.values().map(|f| f.pred.len()).sum();
    if num_pred == 0 {
        out.fn_ = [num_gt as f64; HOTA_ALPHAS];
        return out;
    }
    if num_gt == 0 {
        out.fp = [num_pred as f64; HOTA_ALPHAS];
        return out;
    }
    let dense = |ids: &mut dyn Iterator<Item = i64>| -> BTreeMap<i64, usize> {
        let mut map = BTreeMap::new();
        for id in ids {
            let next = map.len();
            map.entry(id).or_insert(next);
        }
        map
    };
    let gt_index = dense(&mut frames.values().flat_map(|f| f.gt.iter().map(|r| r.id)));
    let pred_index = dense(&mut frames.values().flat_map(|f| f.pred.iter().map(|r| r.id)));
    let (n_gt, n_pred) = (gt_index.len(), pred_index.len());

    // Per frame: dense ids and the similarity matrix.
    struct Step {
        gt: Vec<usize>,
        pred: Vec<usize>,
        similarity: Vec<Vec<f64>>,
    }
    let steps: Vec<Step> = frames
        .values()
        .map(|f| Step {
            gt: f.gt.iter().map(|r| gt_index[&r.id]).collect(),
            pred: f.pred.iter().map(|r| pred_index[&r.id]).collect(),
            similarity: f
                .gt
                .iter()
                .map(|g| f.pred.iter().map(|p| iou(g, p)).collect())
                .collect(),
        })
        .collect();

    let mut potential = vec![vec![0.0f64; n_pred]; n_gt];
    let mut gt_id_count = vec![0.0f64; n_gt];
    let mut pred_id_count = vec![0.0f64; n_pred];
    for step in &steps {
        let row_sums: Vec<f64> = step.similarity.iter().map(|row| row.iter().sum()).collect();
        let col_sums: Vec<f64> = (0..step.pred.len())
            .map(|j| step.similarity.iter().map(|row| row[j]).sum())
            .collect();
        for (i, &g) in step.gt.iter().enumerate() {
            for (j, &p) in step.pred.iter().enumerate() {
                let s = step.similarity[i][j];
                let denom = col_sums[j] + row_sums[i] - s;
                if denom > f64::EPSILON {
                    potential[g][p] += s / denom;
                }
            }
        }
        for &g in &step.gt {
            gt_id_count[g] += 1.0;
        }
        for &p in &step.pred {
            pred_id_count[p] += 1.0;
        }
    }
    let global_alignment: Vec<Vec<f64>> = (0..n_gt)
        .map(|g| {
            (0..n_pred)
                .map(|p| {
                    let denom = gt_id_count[g] + pred_id_count[p] - potential[g][p];
                    if denom > 0.0 {
                        potential[g][p] / denom
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();

    let mut matches_count = vec![vec![vec![0.0f64; n_pred]; n_gt]; HOTA_ALPHAS];
    for step in &steps {
        if step.gt.is_empty() {
            for a in 0..HOTA_ALPHAS {
                out.fp[a] += step.pred.len() as f64;
            }
            continue;
        }
        if step.pred.is_empty() {
            for a in 0..HOTA_ALPHAS {
                out.fn_[a] += step.gt.len() as f64;
            }
            continue;
        }
        // Maximise sum(alignment * similarity), as TrackEval's linear_sum_assignment(-score) does; pairs of
        // score 0 have similarity 0 and could not count at any alpha anyway.
        let pairs = max_weight_matching(step.gt.len(), step.pred.len(), |i, j| {
            let score = global_alignment[step.gt[i]][step.pred[j]] * step.similarity[i][j];
            (score * SCALE).round() as i64
        });
        for (a, counts) in matches_count.iter_mut().enumerate() {
            let alpha = hota_alpha(a);
            let mut matched = 0usize;
            for &(i, j) in &pairs {
                if step.similarity[i][j] >= alpha - f64::EPSILON {
                    matched += 1;
                    counts[step.gt[i]][step.pred[j]] += 1.0;
                }
            }
            out.tp[a] += matched as f64;
            out.fn_[a] += (step.gt.len() - matched) as f64;
            out.fp[a] += (step.pred.len() - matched) as f64;
        }
    }
    for (a, counts) in matches_count.iter().enumerate() {
        let mut sum = 0.0;
        for g in 0..n_gt {
            for p in 0..n_pred {
                let m = counts[g][p];
                if m > 0.0 {
                    sum += m * m / (gt_id_count[g] + pred_id_count[p] - m).max(1.0);
                }
            }
        }
        // AssA = sum / max(1, TP); kept multiplied by TP so that cameras add up.
        let ass_a = sum / out.tp[a].max(1.0);
        out.ass_a_times_tp[a] = ass_a * out.tp[a];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(frame: u32, id: i64, left: f32) -> MotRecord {
        MotRecord {
            frame,
            id,
            left,
            top: 0.0,
            width: 10.0,
            height: 10.0,
            confidence: 1.0,
            class: 1,
            visibility: 1.0,
        }
    }

    #[test]
    fn perfect_tracking_scores_one() {
        let gt: Vec<MotRecord> = (1..=5)
            .flat_map(|f| [boxed(f, 1, 0.0), boxed(f, 2, 50.0)])
            .collect();
        let counts = evaluate(&gt, &gt, 0.5);
        assert_eq!(counts.mota(), 1.0);
        assert_eq!(counts.idf1(), 1.0);
        assert!((counts.hota() - 1.0).abs() < 1e-12);
        assert_eq!(counts.clear.switches, 0);
    }

    /// Frame 1: a person behind a shelf (visibility 0.05) found by a prediction, a visible one found, and a
    /// prediction on nothing. Frame 2: the hidden person found by nobody, the visible one missed.
    #[test]
    fn people_a_camera_barely_sees_are_left_out_with_what_matched_them() {
        let hidden = |frame| MotRecord {
            visibility: 0.05,
            ..boxed(frame, 1, 0.0)
        };
        let gt = vec![hidden(1), boxed(1, 2, 50.0), hidden(2), boxed(2, 2, 50.0)];
        let pred = vec![boxed(1, 7, 1.0), boxed(1, 8, 50.0), boxed(1, 9, 200.0)];
        let (kept_gt, kept_pred) = without_unseen(&gt, &pred, MIN_PERSON_VISIBILITY, 0.5);
        assert_eq!(kept_gt, vec![boxed(1, 2, 50.0), boxed(2, 2, 50.0)]);
        assert_eq!(kept_pred, vec![boxed(1, 8, 50.0), boxed(1, 9, 200.0)]);
        let counts = evaluate(&kept_gt, &kept_pred, 0.5);
        assert_eq!((counts.clear.misses, counts.clear.false_positives), (1, 1));
        // visibility 0 keeps everything: the hidden person is found once and missed once
        let (all_gt, all_pred) = without_unseen(&gt, &pred, 0.0, 0.5);
        assert_eq!((all_gt.len(), all_pred.len()), (4, 3));
        let counts = evaluate(&all_gt, &all_pred, 0.5);
        assert_eq!((counts.clear.misses, counts.clear.false_positives), (2, 1));
    }

    #[test]
    fn empty_sides() {
        let gt = vec![boxed(1, 1, 0.0)];
        let none = evaluate(&gt, &[], 0.5);
        assert_eq!((none.mota(), none.idf1(), none.hota()), (0.0, 0.0, 0.0));
        let nothing = evaluate(&[], &[], 0.5);
        assert_eq!(
            (nothing.mota(), nothing.idf1(), nothing.hota()),
            (1.0, 1.0, 1.0)
        );
        let phantom = evaluate(&[], &gt, 0.5);
        assert_eq!(
            (phantom.mota(), phantom.idf1(), phantom.hota()),
            (0.0, 0.0, 0.0)
        );
    }

    /// One object for 4 frames, tracked as id 7 for frames 1-2 and id 8 for frames 3-4, boxes exact.
    /// HOTA by hand: every alpha has TP 4, so DetA = 1. Each predicted id covers 2 of the object's 4
    /// frames: per-pair association IoU = 2 / (4 + 2 - 2) = 0.5, so AssA = (2 * 0.5 + 2 * 0.5) / 4 = 0.5
    /// and HOTA = sqrt(0.5).
    #[test]
    fn fragmented_track_by_hand() {
        let gt: Vec<MotRecord> = (1..=4).map(|f| boxed(f, 1, 0.0)).collect();
        let pred: Vec<MotRecord> = (1..=4)
            .map(|f| boxed(f, if f <= 2 { 7 } else { 8 }, 0.0))
            .collect();
        let counts = evaluate(&gt, &pred, 0.5);
        assert_eq!(counts.clear.switches, 1);
        assert_eq!(counts.mota(), 1.0 - 1.0 / 4.0);
        // IDTP 2 (id 7 or id 8), IDF1 = 2*2 / (4 + 4).
        assert_eq!(counts.idf1(), 0.5);
        assert!((counts.det_a() - 1.0).abs() < 1e-12);
        assert!((counts.ass_a() - 0.5).abs() < 1e-12);
        assert!((counts.hota() - 0.5f64.sqrt()).abs() < 1e-12);
    }

    /// Detection quality only: one object, 2 frames, the prediction shifted so that IoU = 0.6 (boxes 10 wide,
    /// overlap 7.5 of width: 75 / (100 + 100 - 75) = 0.6). Alphas 0.05..0.60 match (12 of 19, since
    /// 0.6 >= 0.6 - eps), the rest do not; AssA is 1 where anything matches.
    #[test]
    fn localisation_threshold_by_hand() {
        let gt: Vec<MotRecord> = (1..=2).map(|f| boxed(f, 1, 0.0)).collect();
        let pred: Vec<MotRecord> = (1..=2).map(|f| boxed(f, 3, 2.5)).collect();
        let counts = evaluate(&gt, &pred, 0.5);
        assert!((iou(&gt[0], &pred[0]) - 0.6).abs() < 1e-12);
        let matched = (0..HOTA_ALPHAS)
            .filter(|&a| counts.hota.tp[a] > 0.0)
            .count();
        assert_eq!(matched, 12);
        assert!((counts.hota() - 12.0 / 19.0).abs() < 1e-12);
    }

    /// One object tracked exactly for 2 frames, plus a phantom box far away in frame 1.
    /// CLEAR: FP 1, MOTA = 1 - 1/2. Identity: IDTP 2, IDF1 = 2*2 / (2 + 3) = 0.8. HOTA at every alpha:
    /// DetA = 2 / (2 + 0 + 1), AssA = 1 (the pair shares both frames: 2 / (2 + 2 - 2)), HOTA = sqrt(2/3).
    #[test]
    fn a_false_positive_by_hand() {
        let gt: Vec<MotRecord> = (1..=2).map(|f| boxed(f, 1, 0.0)).collect();
        let mut pred = gt.clone();
        pred.push(boxed(1, 9, 500.0));
        let counts = evaluate(&gt, &pred, 0.5);
        assert_eq!(counts.clear.false_positives, 1);
        assert_eq!(counts.mota(), 0.5);
        assert_eq!(counts.idf1(), 0.8);
        assert!((counts.det_a() - 2.0 / 3.0).abs() < 1e-12);
        assert!((counts.ass_a() - 1.0).abs() < 1e-12);
        assert!((counts.hota() - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}
