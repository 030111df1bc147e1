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
    mut candidates: Vec<Candidate>,
    iou_of: impl Fn(u32) -> f32,
    max_detections: usize,
) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for candidate in candidates {
        if kept.len() >= max_detections {
            break;
        }
        let iou_threshold = iou_of(candidate.class_id);
        let suppressed = kept.iter().any(|k| {
            k.class_id == candidate.class_id
                && k.bbox.intersection_over_union(&candidate.bbox) > iou_threshold
        });
        if !suppressed {
            kept.push(candidate);
        }
    }
    kept
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
