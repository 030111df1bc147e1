//! Scoring a Walkout run against ground truth.
//!
//! [`score`] takes the [`GroundTruth`] and a [`Prediction`] (what the pipeline produced: receipts per
//! account, shelf events, review flags, per-camera tracks in MOTChallenge form, processing stats) and
//! returns [`Metrics`], whose JSON field names are the report's contract.
//!
//! Sessions are identified by account: within a scenario every session has its own account (a group shares
//! one), so a predicted receipt or review flag names the session by its account.
//!
//! The 0/0 convention, used by every rate below: a rate whose denominator is 0 is 1 when the truth and the
//! prediction are both empty for that rate (nothing to find, nothing claimed), and 0 otherwise. So an empty
//! prediction scores 0 on every rate wherever the truth has something, and never NaN.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::assignment::min_cost_max_matching;
use crate::mot::MotRecord;
use crate::tracking::{self, TrackingCounts};
use crate::truth::{EventKind, GroundTruth, Receipt, ReceiptLine};

/// A receipt the pipeline charged (or would charge) to an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictedReceipt {
    /// The account charged.
    pub account: String,
    /// The lines charged. Lines of one SKU and price are merged before comparing; order does not matter.
    pub lines: Vec<ReceiptLine>,
}

/// A shelf event the pipeline detected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictedEvent {
    /// When, seconds on the recording's clock.
    pub time_secs: f64,
    /// The account (session) the event was attributed to; `None` when unattributed.
    pub account: Option<String>,
    /// The slot.
    pub slot: String,
    /// Pick or put.
    pub kind: EventKind,
    /// Units.
    pub quantity: u32,
}

/// How fast the pipeline ran.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingStats {
    /// Frames processed, all cameras together.
    pub frames_processed: u64,
    /// Wall time the processing took, seconds.
    pub processing_secs: f64,
    /// For each charged session: milliseconds from the last member's exit to the charge.
    pub exit_to_charge_ms: Vec<f64>,
}

/// Everything a run produced that the evaluator scores.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    /// Receipts, one per account charged.
    pub receipts: Vec<PredictedReceipt>,
    /// Shelf events.
    pub events: Vec<PredictedEvent>,
    /// Accounts whose session was sent to an operator for review before charging.
    pub review: BTreeSet<String>,
    /// Per camera id: the shopper tracks as MOTChallenge records. Frame numbers are on the recording's clock,
    /// `frame = round(pts_secs * fps) + 1` as in the ground truth, not the decoder's gap-free sequence
    /// number (a dropped frame must leave a gap, or every later box is compared with the wrong frame).
    pub tracks: BTreeMap<String, Vec<MotRecord>>,
    /// Processing speed and latency.
    pub stats: ProcessingStats,
}

impl Prediction {
    /// The prediction a perfect pipeline would make: every receipt, event and box as the truth has them,
    /// events attributed to the right account, nothing sent to review, no processing stats.
    pub fn from_truth(truth: &GroundTruth) -> Self {
        Self {
            receipts: truth
                .sessions
                .iter()
                .map(|s| PredictedReceipt {
                    account: s.account.clone(),
                    lines: s.receipt.lines.clone(),
                })
                .collect(),
            events: truth
                .events
                .iter()
                .map(|e| PredictedEvent {
                    time_secs: e.time_secs,
                    account: Some(e.account.clone()),
                    slot: e.slot.clone(),
                    kind: e.kind,
                    quantity: e.quantity,
                })
                .collect(),
            review: BTreeSet::new(),
            tracks: truth
                .cameras
                .iter()
                .map(|(id, camera)| (id.clone(), camera.shoppers.clone()))
                .collect(),
            stats: ProcessingStats::default(),
        }
    }
}

/// Scoring parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringConfig {
    /// A predicted event matches a true one only within this many seconds.
    pub event_tolerance_secs: f64,
    /// Boxes match when their IoU is at least this (MOTChallenge: 0.5).
    pub min_iou: f64,
    /// A camera's tracking scores leave out the people it sees less of than this share (a head above a
    /// shelf), and what was matched to them: see [`tracking::without_unseen`]. 0 scores every box.
    pub min_visibility: f32,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            event_tolerance_secs: 2.0,
            min_iou: 0.5,
            min_visibility: tracking::MIN_PERSON_VISIBILITY,
        }
    }
}

/// Tracking scores of one camera, or of all cameras pooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingMetrics {
    /// CLEAR MOTA, see [`TrackingCounts::mota`].
    pub mota: f64,
    /// IDF1, see [`TrackingCounts::idf1`].
    pub idf1: f64,
    /// HOTA, see [`TrackingCounts::hota`].
    pub hota: f64,
    /// ID switches (CLEAR MOT, py-motmetrics' definition).
    pub id_switches: u64,
}

impl From<&TrackingCounts> for TrackingMetrics {
    fn from(counts: &TrackingCounts) -> Self {
        Self {
            mota: counts.mota(),
            idf1: counts.idf1(),
            hota: counts.hota(),
            id_switches: counts.clear.switches,
        }
    }
}

/// The scores of a run. Rates are in `[0, 1]` and follow the module's 0/0 convention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Sessions whose predicted receipt equals the true one exactly / all sessions. "Exactly": after merging
    /// lines of the same SKU and price and dropping zero quantities, the same SKUs with the same quantities,
    /// unit prices and line totals. A session with no predicted receipt is not exact, even if its true
    /// receipt is empty. All sessions = true sessions plus accounts charged that had no session.
    pub receipt_exact_rate: f64,
    /// Correctly charged units / charged units, summed over accounts: per account and SKU,
    /// `min(predicted quantity, true quantity)` units are correct (price not considered).
    pub item_precision: f64,
    /// Correctly charged units / units that should have been charged.
    pub item_recall: f64,
    /// Matched events / predicted events. A predicted event matches a true one with the same slot, kind and
    /// quantity at most `event_tolerance_secs` apart; the matching is one-to-one, with as many pairs as
    /// possible and, among those, the least total time difference (Hungarian method).
    pub event_precision: f64,
    /// Matched events / true events.
    pub event_recall: f64,
    /// Matched events whose predicted account is the true event's account / matched events. Any member of
    /// a group counts as right for the group's events, since they share the account.
    pub attribution_accuracy: f64,
    /// Sessions sent to review / all sessions (as in `receipt_exact_rate`).
    pub review_rate: f64,
    /// Sessions charged a wrong receipt without review / all sessions. Charged means a receipt was
    /// predicted for the account; wrong means not exact, and every receipt for an account with no true
    /// session is wrong. A session with no receipt was not charged, so it is not counted here (it already
    /// fails `receipt_exact_rate`); lower is better.
    pub wrong_unreviewed_rate: f64,
    /// MOTA over all cameras pooled (sums of FN, FP, IDSW and ground-truth boxes, like py-motmetrics'
    /// OVERALL row). Every tracking score counts, in each camera, the people it sees at least
    /// [`ScoringConfig::min_visibility`] of.
    pub mota: f64,
    /// IDF1 over all cameras pooled (sums of IDTP, IDFP, IDFN; ids are matched per camera).
    pub idf1: f64,
    /// HOTA over all cameras combined as TrackEval combines sequences.
    pub hota: f64,
    /// ID switches, all cameras.
    pub id_switches: u64,
    /// Per camera id; cameras in the truth or the prediction.
    pub tracking_per_camera: BTreeMap<String, TrackingMetrics>,
    /// Frames processed per second of processing wall time (0 when no time was reported).
    pub frames_per_second: f64,
    /// Median exit-to-charge latency, milliseconds (nearest rank; 0 when nothing was charged).
    pub exit_to_charge_ms_p50: f64,
    /// 99th percentile exit-to-charge latency, milliseconds (nearest rank; 0 when nothing was charged).
    pub exit_to_charge_ms_p99: f64,
}

/// `numerator / denominator` with the module's 0/0 convention: `both_empty` says whether truth and
/// prediction are both empty for this rate.
fn rate(numerator: u64, denominator: u64, both_empty: bool) -> f64 {
    if denominator == 0 {
        if both_empty { 1.0 } else { 0.0 }
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Receipt lines as `(sku, unit price) -> quantity`, zero quantities dropped.
fn normalise(lines: &[ReceiptLine]) -> Receipt {
    Receipt::from_items(
        lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity, l.unit_price_minor)),
    )
}

fn lines_equal(predicted: &[ReceiptLine], truth: &Receipt) -> bool {
    // A predicted line's own total must be right too, not only the one recomputed from it.
    let totals_right = predicted
        .iter()
        .all(|l| l.total_minor == i64::from(l.quantity) * l.unit_price_minor);
    totals_right && normalise(predicted) == normalise(&truth.lines)
}

/// Scores a prediction against the truth.
pub fn score(truth: &GroundTruth, prediction: &Prediction, config: &ScoringConfig) -> Metrics {
    let mut metrics = Metrics {
        receipt_exact_rate: 0.0,
        item_precision: 0.0,
        item_recall: 0.0,
        event_precision: 0.0,
        event_recall: 0.0,
        attribution_accuracy: 0.0,
        review_rate: 0.0,
        wrong_unreviewed_rate: 0.0,
        mota: 0.0,
        idf1: 0.0,
        hota: 0.0,
        id_switches: 0,
        tracking_per_camera: BTreeMap::new(),
        frames_per_second: 0.0,
        exit_to_charge_ms_p50: 0.0,
        exit_to_charge_ms_p99: 0.0,
    };
    score_receipts(truth, prediction, &mut metrics);
    score_events(truth, prediction, config, &mut metrics);
    score_tracking(truth, prediction, config, &mut metrics);
    let stats = &prediction.stats;
    metrics.frames_per_second = if stats.processing_secs > 0.0 && stats.processing_secs.is_finite()
    {
        stats.frames_processed as f64 / stats.processing_secs
    } else {
        0.0
    };
    metrics.exit_to_charge_ms_p50 = percentile(&stats.exit_to_charge_ms, 50.0);
    metrics.exit_to_charge_ms_p99 = percentile(&stats.exit_to_charge_ms, 99.0);
    metrics
}

fn score_receipts(truth: &GroundTruth, prediction: &Prediction, metrics: &mut Metrics) {
    // Several receipts for one account are one charge of everything on them.
    let mut charged: BTreeMap<&str, Vec<ReceiptLine>> = BTreeMap::new();
    for receipt in &prediction.receipts {
        charged
            .entry(&receipt.account)
            .or_default()
            .extend(receipt.lines.iter().cloned());
    }
    let true_sessions: BTreeMap<&str, &Receipt> = truth
        .sessions
        .iter()
        .map(|s| (s.account.as_str(), &s.receipt))
        .collect();
    let accounts: BTreeSet<&str> = true_sessions
        .keys()
        .chain(charged.keys())
        .copied()
        .collect();

    let (mut exact, mut wrong_unreviewed, mut reviewed) = (0u64, 0u64, 0u64);
    let (mut correct_units, mut predicted_units, mut true_units) = (0u64, 0u64, 0u64);
    for &account in &accounts {
        let true_receipt = true_sessions.get(account);
        let predicted = charged.get(account);
        let is_exact = match (predicted, true_receipt) {
            (Some(lines), Some(receipt)) => lines_equal(lines, receipt),
            _ => false,
        };
        let flagged = prediction.review.contains(account);
        exact += u64::from(is_exact);
        reviewed += u64::from(flagged);
        wrong_unreviewed += u64::from(predicted.is_some() && !is_exact && !flagged);

        let mut predicted_qty: BTreeMap<&str, u64> = BTreeMap::new();
        for line in predicted.into_iter().flatten() {
            *predicted_qty.entry(&line.sku).or_default() += u64::from(line.quantity);
        }
        let mut true_qty: BTreeMap<&str, u64> = BTreeMap::new();
        for line in true_receipt.map(|r| r.lines.as_slice()).unwrap_or_default() {
            *true_qty.entry(&line.sku).or_default() += u64::from(line.quantity);
        }
        predicted_units += predicted_qty.values().sum::<u64>();
        true_units += true_qty.values().sum::<u64>();
        correct_units += predicted_qty
            .iter()
            .map(|(sku, &q)| q.min(true_qty.get(sku).copied().unwrap_or(0)))
            .sum::<u64>();
    }
    let n = accounts.len() as u64;
    let nothing_at_all = accounts.is_empty();
    metrics.receipt_exact_rate = rate(exact, n, nothing_at_all);
    metrics.review_rate = rate(reviewed, n, nothing_at_all);
    // Lower is better; with no sessions there is nothing wrong.
    metrics.wrong_unreviewed_rate = rate(wrong_unreviewed, n, false);
    let no_units = predicted_units == 0 && true_units == 0;
    metrics.item_precision = rate(correct_units, predicted_units, no_units);
    metrics.item_recall = rate(correct_units, true_units, no_units);
}

fn score_events(
    truth: &GroundTruth,
    prediction: &Prediction,
    config: &ScoringConfig,
    metrics: &mut Metrics,
) {
    let tolerance_ms = (config.event_tolerance_secs * 1000.0).round() as i64;
    // Only events of the same slot, kind and quantity can match, so match within each such group.
    type Key<'a> = (&'a str, EventKind, u32);
    let mut groups: BTreeMap<Key<'_>, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (i, e) in truth.events.iter().enumerate() {
        groups
            .entry((&e.slot, e.kind, e.quantity))
            .or_default()
            .0
            .push(i);
    }
    for (j, e) in prediction.events.iter().enumerate() {
        groups
            .entry((&e.slot, e.kind, e.quantity))
            .or_default()
            .1
            .push(j);
    }
    let (mut matched, mut attributed) = (0u64, 0u64);
    for (true_ids, predicted_ids) in groups.values() {
        let pairs =
            min_cost_max_matching(true_ids.len(), predicted_ids.len(), tolerance_ms, |r, c| {
                let dt_secs = (truth.events[true_ids[r]].time_secs
                    - prediction.events[predicted_ids[c]].time_secs)
                    .abs();
                (dt_secs <= config.event_tolerance_secs).then(|| (dt_secs * 1000.0).round() as i64)
            });
        for (r, c) in pairs {
            matched += 1;
            let right = &truth.events[true_ids[r]].account;
            if prediction.events[predicted_ids[c]].account.as_ref() == Some(right) {
                attributed += 1;
            }
        }
    }
    let n_true = truth.events.len() as u64;
    let n_predicted = prediction.events.len() as u64;
    let no_events = n_true == 0 && n_predicted == 0;
    metrics.event_precision = rate(matched, n_predicted, no_events);
    metrics.event_recall = rate(matched, n_true, no_events);
    metrics.attribution_accuracy = rate(attributed, matched, no_events);
}

fn score_tracking(
    truth: &GroundTruth,
    prediction: &Prediction,
    config: &ScoringConfig,
    metrics: &mut Metrics,
) {
    let cameras: BTreeSet<&str> = truth
        .cameras
        .keys()
        .chain(prediction.tracks.keys())
        .map(String::as_str)
        .collect();
    let mut overall = TrackingCounts::default();
    for camera in cameras {
        let gt = truth
            .cameras
            .get(camera)
            .map(|c| c.shoppers.as_slice())
            .unwrap_or_default();
        let pred = prediction
            .tracks
            .get(camera)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (gt, pred) = tracking::without_unseen(gt, pred, config.min_visibility, config.min_iou);
        let counts = tracking::evaluate(&gt, &pred, config.min_iou);
        overall.add(&counts);
        metrics
            .tracking_per_camera
            .insert(camera.to_string(), TrackingMetrics::from(&counts));
    }
    let pooled = TrackingMetrics::from(&overall);
    metrics.mota = pooled.mota;
    metrics.idf1 = pooled.idf1;
    metrics.hota = pooled.hota;
    metrics.id_switches = pooled.id_switches;
}

/// Nearest-rank percentile: the smallest value with at least `p`% of the values at or below it; 0 for none.
/// Values that are not finite are ignored, so the report never holds NaN or infinity.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), 2.0);
    }

    #[test]
    fn zero_over_zero() {
        assert_eq!(rate(0, 0, true), 1.0);
        assert_eq!(rate(0, 0, false), 0.0);
        assert_eq!(rate(1, 4, false), 0.25);
    }
}
