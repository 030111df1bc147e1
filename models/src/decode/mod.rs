//! Output decoders: raw tensors in, scored boxes in model-input pixels out, then class-aware NMS.

mod nanodet;
mod palm;
mod yolo;

use walkout_core::BBox;

use crate::manifest::{DecoderSpec, Manifest};

/// One output tensor as ONNX Runtime hands it over.
#[derive(Debug, Clone, Copy)]
pub struct OutputView<'a> {
    pub name: &'a str,
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

/// A scored box before NMS, in model-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub class_id: u32,
    pub score: f32,
    pub bbox: BBox,
}

/// A decoder for one of the supported output formats, with anything that can be precomputed (grids,
/// anchors) computed once at load.
#[derive(Debug, Clone)]
pub enum Decoder {
    Yolox(yolo::YoloxDecoder),
    Yolov8(yolo::Yolov8Decoder),
    Nanodet(nanodet::NanodetDecoder),
    Palm(palm::PalmDecoder),
}

impl Decoder {
    pub fn new(manifest: &Manifest) -> Decoder {
        let (width, height) = (manifest.input.width, manifest.input.height);
        let classes = manifest.class_names.len();
        match &manifest.output {
            DecoderSpec::Yolox { strides } => {
                Decoder::Yolox(yolo::YoloxDecoder::new(width, height, strides, classes))
            }
            DecoderSpec::Yolov8 => Decoder::Yolov8(yolo::Yolov8Decoder::new(classes)),
            DecoderSpec::Nanodet { strides, reg_max } => Decoder::Nanodet(
                nanodet::NanodetDecoder::new(width, height, strides, *reg_max, classes),
            ),
            DecoderSpec::MediapipePalm {
                strides,
                anchors_per_layer,
            } => Decoder::Palm(palm::PalmDecoder::new(
                width,
                height,
                strides,
                anchors_per_layer.as_deref(),
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Decoder::Yolox(_) => "yolox",
            Decoder::Yolov8(_) => "yolov8",
            Decoder::Nanodet(_) => "nanodet",
            Decoder::Palm(_) => "mediapipe_palm",
        }
    }

    /// What the decoder expects of the model's outputs, as problems; empty when the model fits.
    pub fn check_outputs(&self, outputs: &[(String, Vec<i64>)]) -> Vec<String> {
        match self {
            Decoder::Yolox(d) => d.check_outputs(outputs),
            Decoder::Yolov8(d) => d.check_outputs(outputs),
            Decoder::Nanodet(d) => d.check_outputs(outputs),
            Decoder::Palm(d) => d.check_outputs(outputs),
        }
    }

    /// Decodes the outputs of image `batch_index` of a batch into candidates above `score_threshold`.
    pub fn decode(
        &self,
        outputs: &[OutputView<'_>],
        batch_index: usize,
        score_threshold: f32,
    ) -> Result<Vec<Candidate>, String> {
        match self {
            Decoder::Yolox(d) => d.decode(outputs, batch_index, score_threshold),
            Decoder::Yolov8(d) => d.decode(outputs, batch_index, score_threshold),
            Decoder::Nanodet(d) => d.decode(outputs, batch_index, score_threshold),
            Decoder::Palm(d) => d.decode(outputs, batch_index, score_threshold),
        }
    }
}

/// Greedy non-maximum suppression per class: boxes of different classes never suppress each other (a hand
/// over a product must keep both). Returns at most `max_detections`, best first.
pub fn nms_class_aware(
    candidates: Vec<Candidate>,
    iou_threshold: f32,
    max_detections: usize,
) -> Vec<Candidate> {
    nms_per_class(candidates, |_| iou_threshold, max_detections)
}

/// [`nms_class_aware`] with each class's own overlap threshold, `iou_of(class_id)`.
pub fn nms_per_class(
    candidates: Vec<Candidate>,
    iou_of: impl Fn(u32) -> f32,
    max_detections: usize,
) -> Vec<Candidate> {
    suppress_per_class(
        candidates,
        |class| Suppression::overlap(iou_of(class)),
        max_detections,
    )
}

/// How one class's boxes of one object are reduced to one (see [`suppress_per_class`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Suppression {
    /// A box overlapping a kept box by more than this IoU is suppressed.
    pub nms_iou: f32,
    /// Box voting: a kept box becomes the score-weighted mean of itself and the boxes it suppressed that
    /// overlap it by more than this IoU. The top-scored box of a cluster is not always the best placed.
    pub vote_iou: Option<f32>,
    /// A box whose centre lies within this many of a kept box's sizes (the square root of its area) of
    /// the kept box's centre is suppressed too: a small object's boxes, a pixel or two apart, overlap too
    /// little for any IoU threshold that keeps two neighbours apart.
    pub centre_within: Option<f32>,
}

impl Suppression {
    /// Plain NMS at `nms_iou`.
    pub fn overlap(nms_iou: f32) -> Self {
        Self {
            nms_iou,
            vote_iou: None,
            centre_within: None,
        }
    }
}

/// Greedy suppression per class, by each class's own [`Suppression`] (`rule_of(class_id)`): boxes of
/// different classes never suppress each other. A box is tested against the kept boxes as they were
/// found, before any voting moved them. Returns at most `max_detections`, best first.
pub fn suppress_per_class(
    mut candidates: Vec<Candidate>,
    rule_of: impl Fn(u32) -> Suppression,
    max_detections: usize,
) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    // each kept box, and its vote: the score-weighted sums of its members' corners (its own included) and
    // the weights' sum; a box nothing voted for keeps its corners as they are
    let mut kept: Vec<(Candidate, [f32; 4], f32)> = Vec::new();
    for candidate in candidates {
        let rule = rule_of(candidate.class_id);
        let room = kept.len() < max_detections;
        let by = kept.iter_mut().find_map(|(k, sums, weights)| {
            if k.class_id != candidate.class_id {
                return None;
            }
            let iou = k.bbox.intersection_over_union(&candidate.bbox);
            let near = rule.centre_within.is_some_and(|within| {
                let (kx, ky) = centre(&k.bbox);
                let (cx, cy) = centre(&candidate.bbox);
                (kx - cx).hypot(ky - cy) < within * k.bbox.area().max(0.0).sqrt()
            });
            (iou > rule.nms_iou || near).then_some((iou, sums, weights))
        });
        match by {
            Some((iou, sums, weights)) if rule.vote_iou.is_some_and(|v| iou > v) => {
                add_vote(sums, weights, &candidate);
            }
            Some(_) => {}
            None if room => kept.push((candidate, [0.0; 4], 0.0)),
            None => {}
        }
    }
    kept.into_iter()
        .map(|(mut k, mut sums, mut weights)| {
            if weights > 0.0 {
                add_vote(&mut sums, &mut weights, &k);
                let [x1, y1, x2, y2] = sums.map(|s| s / weights);
                k.bbox = BBox::new(x1, y1, x2, y2);
            }
            k
        })
        .collect()
}

fn centre(b: &BBox) -> (f32, f32) {
    ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0)
}

fn add_vote(sums: &mut [f32; 4], weights: &mut f32, c: &Candidate) {
    let w = c.score.max(0.0);
    for (s, v) in sums
        .iter_mut()
        .zip([c.bbox.x1, c.bbox.y1, c.bbox.x2, c.bbox.y2])
    {
        *s += w * v;
    }
    *weights += w;
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Finds a named output, or the only one when the model has one.
pub(crate) fn find_output<'a>(
    outputs: &'a [OutputView<'a>],
    name: Option<&str>,
) -> Result<&'a OutputView<'a>, String> {
    match name {
        Some(name) => outputs
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| format!("no output named `{name}`")),
        None => outputs
            .first()
            .ok_or_else(|| "the model has no outputs".to_string()),
    }
}

/// The slice of one batch item of a `[B, ...]` tensor.
pub(crate) fn batch_item<'a>(
    output: &OutputView<'a>,
    batch_index: usize,
) -> Result<&'a [f32], String> {
    let batch = output.shape.first().copied().unwrap_or(1).max(1) as usize;
    if batch_index >= batch {
        return Err(format!(
            "`{}` has batch {batch}, asked for item {batch_index}",
            output.name
        ));
    }
    let per_item = output.data.len() / batch;
    Ok(&output.data[batch_index * per_item..(batch_index + 1) * per_item])
}

/// Checks a model output's static shape against what a decoder expects; `None` in `expected` accepts any
/// size, and a dynamic dimension in the model (-1) accepts any expectation.
pub(crate) fn shape_problem(
    name: &str,
    actual: &[i64],
    expected: &[Option<i64>],
) -> Option<String> {
    let fits = actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| *a < 0 || e.is_none_or(|e| e == *a));
    if fits {
        None
    } else {
        let shown: Vec<String> = expected
            .iter()
            .map(|e| e.map_or("?".to_string(), |v| v.to_string()))
            .collect();
        Some(format!(
            "output `{name}` has shape {actual:?}, the decoder expects [{}]",
            shown.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(class_id: u32, score: f32, x: f32) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
        }
    }

    #[test]
    fn nms_suppresses_within_a_class_only() {
        let kept = nms_class_aware(
            vec![
                cand(0, 0.5, 1.0),
                cand(0, 0.9, 0.0),
                cand(1, 0.8, 0.0),
                cand(0, 0.7, 50.0),
            ],
            0.45,
            10,
        );
        let summary: Vec<(u32, f32)> = kept.iter().map(|c| (c.class_id, c.score)).collect();
        assert_eq!(summary, vec![(0, 0.9), (1, 0.8), (0, 0.7)]);
    }

    #[test]
    fn nms_per_class_uses_each_class_threshold() {
        // the two boxes of each class overlap by IoU 1/3: class 0 suppresses at 0.3, class 1 keeps both
        let boxes = |class| vec![cand(class, 0.9, 0.0), cand(class, 0.8, 5.0)];
        let kept = nms_per_class(
            [boxes(0), boxes(1)].concat(),
            |class| if class == 0 { 0.3 } else { 0.6 },
            10,
        );
        let summary: Vec<(u32, f32)> = kept.iter().map(|c| (c.class_id, c.score)).collect();
        assert_eq!(summary, vec![(0, 0.9), (1, 0.9), (1, 0.8)]);
    }

    fn boxed(class_id: u32, score: f32, b: [f32; 4]) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox: BBox::new(b[0], b[1], b[2], b[3]),
        }
    }

    #[test]
    fn a_kept_box_becomes_the_score_weighted_mean_of_the_boxes_it_suppressed() {
        let rule = Suppression {
            nms_iou: 0.5,
            vote_iou: Some(0.5),
            centre_within: None,
        };
        let kept = suppress_per_class(
            vec![
                boxed(0, 0.6, [0.0, 0.0, 10.0, 10.0]),
                boxed(0, 0.3, [1.0, 1.0, 11.0, 11.0]), // IoU 0.68: suppressed, votes
                boxed(0, 0.2, [20.0, 0.0, 30.0, 10.0]), // apart: kept as it is
                boxed(1, 0.9, [3.0, 3.0, 13.0, 13.0]), // another class: neither votes nor suppresses
            ],
            |_| rule,
            10,
        );
        let summary: Vec<(u32, f32)> = kept.iter().map(|c| (c.class_id, c.score)).collect();
        assert_eq!(summary, vec![(1, 0.9), (0, 0.6), (0, 0.2)]);
        let corners = |c: &Candidate| [c.bbox.x1, c.bbox.y1, c.bbox.x2, c.bbox.y2];
        assert_eq!(corners(&kept[0]), [3.0, 3.0, 13.0, 13.0]);
        assert_eq!(corners(&kept[2]), [20.0, 0.0, 30.0, 10.0]);
        // (0.6 * 0 + 0.3 * 1) / 0.9 and (0.6 * 10 + 0.3 * 11) / 0.9
        let voted = [1.0 / 3.0, 1.0 / 3.0, 31.0 / 3.0, 31.0 / 3.0];
        for (got, want) in corners(&kept[1]).iter().zip(voted) {
            assert!((got - want).abs() < 1e-4, "{:?}", corners(&kept[1]));
        }
    }

    #[test]
    fn a_small_box_centred_on_a_kept_one_is_suppressed_though_they_barely_overlap() {
        // 4-pixel boxes 2 pixels apart overlap by IoU 1/3: NMS at 0.6 keeps both, the centre rule one
        let pair = vec![
            boxed(1, 0.9, [10.0, 10.0, 14.0, 14.0]),
            boxed(1, 0.8, [12.0, 10.0, 16.0, 14.0]),
            boxed(1, 0.7, [18.0, 10.0, 22.0, 14.0]), // a neighbour 8 pixels (two sizes) away
        ];
        let plain = suppress_per_class(pair.clone(), |_| Suppression::overlap(0.6), 10);
        assert_eq!(plain.len(), 3);
        let rule = Suppression {
            centre_within: Some(1.0),
            ..Suppression::overlap(0.6)
        };
        let kept = suppress_per_class(pair, |_| rule, 10);
        let scores: Vec<f32> = kept.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![0.9, 0.7]);
    }

    #[test]
    fn nms_caps_the_count() {
        let kept = nms_class_aware(
            (0..10)
                .map(|i| cand(0, i as f32 / 10.0, i as f32 * 100.0))
                .collect(),
            0.45,
            3,
        );
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0].score, 0.9);
    }

    #[test]
    fn shape_checks_accept_dynamic_dimensions() {
        assert_eq!(
            shape_problem("o", &[-1, 3549, 85], &[Some(1), Some(3549), Some(85)]),
            None
        );
        let problem = shape_problem("o", &[1, 3549, 6], &[Some(1), Some(3549), Some(85)]).unwrap();
        assert!(problem.contains("[1, 3549, 85]"), "{problem}");
    }
}
