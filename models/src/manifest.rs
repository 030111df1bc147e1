use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use walkout_core::ObjectKind;

use crate::ModelError;
use crate::decode::Suppression;

/// A model manifest: everything needed to feed a model and read its output, so that a store can bring its
/// own detector without code.
///
/// ```toml
/// name = "yolox_nano"
/// model = "../../../shared/models/yolox_nano.onnx"   # relative to this file
///
/// [input]
/// name = "images"
/// width = 416
/// height = 416
/// layout = "nchw"
/// channel_order = "bgr"
/// letterbox = "top_left"
/// pad_value = 114
///
/// [output]
/// decoder = "yolox"
/// strides = [8, 16, 32]
///
/// [classes]
/// names_file = "../../../shared/models/coco_classes.txt"
/// person = ["person"]
///
/// [thresholds]
/// score = 0.3
/// nms_iou = 0.45
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// A short name used in logs and metrics.
    pub name: String,
    /// The `.onnx` file, relative to the manifest's folder.
    pub model: PathBuf,
    pub input: InputSpec,
    pub output: DecoderSpec,
    pub classes: ClassSpec,
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Where the manifest was read from; relative paths inside it resolve against its folder.
    #[serde(skip)]
    pub source_path: PathBuf,
    /// The class names, resolved from `classes.names` or `classes.names_file`.
    #[serde(skip)]
    pub class_names: Vec<String>,
    /// The store's kind of each class, by class index.
    #[serde(skip)]
    pub class_kinds: Vec<ObjectKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterboxMode {
    /// Keep the aspect ratio, image in the top-left corner, padding right and bottom (YOLOX's export).
    TopLeft,
    /// Keep the aspect ratio, image centred, padding split on both sides (Ultralytics, MediaPipe).
    Centered,
    /// Scale each axis independently to fill the input: no padding, distorted aspect ratio.
    Stretch,
}

fn default_scale() -> f32 {
    1.0
}
fn default_mean() -> [f32; 3] {
    [0.0; 3]
}
fn default_std() -> [f32; 3] {
    [1.0; 3]
}
fn default_pad_value() -> u8 {
    114
}

/// What the model's input tensor wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The input's name in the graph; the model's first input when unset.
    #[serde(default)]
    pub name: Option<String>,
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// Tensor layout.
    pub layout: Layout,
    /// Channel order the model was trained on.
    pub channel_order: ChannelOrder,
    /// Each 0..255 pixel is multiplied by `scale`, then `(v - mean) / std` per channel (in `channel_order`).
    #[serde(default = "default_scale")]
    pub scale: f32,
    #[serde(default = "default_mean")]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
    pub letterbox: LetterboxMode,
    /// Pixel value (0..255, before normalisation) of the letterbox padding.
    #[serde(default = "default_pad_value")]
    pub pad_value: u8,
}

fn default_strides() -> Vec<u32> {
    vec![8, 16, 32]
}
fn default_reg_max() -> u32 {
    7
}

/// How the model's output is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decoder", rename_all = "snake_case", deny_unknown_fields)]
pub enum DecoderSpec {
    /// YOLOX raw grid `[1, N, 5 + C]`: `(x, y)` offsets in grid cells, `log(w, h)`, objectness, class
    /// probabilities, anchors laid out stride by stride, row-major.
    Yolox {
        #[serde(default = "default_strides")]
        strides: Vec<u32>,
    },
    /// Ultralytics YOLOv8 / YOLO11 `[1, 4 + C, N]`: centre, size in input pixels, class scores.
    Yolov8,
    /// NanoDet GFL: per stride a `cls_pred_stride_S [1, N, C]` (sigmoid applied) and a
    /// `dis_pred_stride_S [1, N, 4 * (reg_max + 1)]` distance distribution.
    Nanodet {
        #[serde(default = "default_strides")]
        strides: Vec<u32>,
        #[serde(default = "default_reg_max")]
        reg_max: u32,
    },
    /// MediaPipe palm detector: SSD anchors, `[1, A, 18]` regressors (box and 7 keypoints, in input
    /// pixels relative to the anchor) and `[1, A, 1]` score logits.
    MediapipePalm {
        /// Anchor strides per layer; consecutive equal strides share one grid.
        strides: Vec<u32>,
        /// Anchors per grid cell per layer (before sharing).
        #[serde(default)]
        anchors_per_layer: Option<Vec<u32>>,
    },
}

impl DecoderSpec {
    pub fn name(&self) -> &'static str {
        match self {
            DecoderSpec::Yolox { .. } => "yolox",
            DecoderSpec::Yolov8 => "yolov8",
            DecoderSpec::Nanodet { .. } => "nanodet",
            DecoderSpec::MediapipePalm { .. } => "mediapipe_palm",
        }
    }
}

/// The model's classes and what they mean to the store.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    /// Class names, index = class id.
    #[serde(default)]
    pub names: Vec<String>,
    /// A file with one class name per line, relative to the manifest (instead of `names`).
    #[serde(default)]
    pub names_file: Option<PathBuf>,
    /// Classes that are shoppers.
    #[serde(default)]
    pub person: Vec<String>,
    /// Classes that are hands.
    #[serde(default)]
    pub hand: Vec<String>,
    /// Classes that are products.
    #[serde(default)]
    pub product: Vec<String>,
    /// Report only the classes mapped to person, hand or product (drop buses and dogs).
    #[serde(default = "default_true")]
    pub store_classes_only: bool,
}

fn default_true() -> bool {
    true
}

fn default_score() -> f32 {
    0.3
}
fn default_nms_iou() -> f32 {
    0.45
}
fn default_max_detections() -> usize {
    300
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Minimum score (after objectness times class probability, or sigmoid) to keep a detection.
    #[serde(default = "default_score")]
    pub score: f32,
    /// Boxes of the same class overlapping more than this are suppressed.
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    /// At most this many detections per frame, best first.
    #[serde(default = "default_max_detections")]
    pub max_detections: usize,
    /// Overrides of `score` and `nms_iou`, and the suppression rules `vote_iou` and `centre_within`, for
    /// single classes, by class name (`[thresholds.class.hand]`): small hands found as a cluster of boxes
    /// want other suppression than products that stand close on a shelf.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub class: BTreeMap<String, ClassThresholds>,
}

/// One class's own thresholds; a field left out takes the manifest-wide value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassThresholds {
    pub score: Option<f32>,
    pub nms_iou: Option<f32>,
    /// Box voting for this class: a kept box becomes the score-weighted mean of the boxes it suppressed
    /// that overlap it by more than this IoU (see [`crate::decode::Suppression`]). Off when left out.
    pub vote_iou: Option<f32>,
    /// A box whose centre lies within this many of a kept box's sizes of the kept box's centre is
    /// suppressed too, for small objects found as a cluster of barely overlapping boxes. Off when left out.
    pub centre_within: Option<f32>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            score: default_score(),
            nms_iou: default_nms_iou(),
            max_detections: default_max_detections(),
            class: BTreeMap::new(),
        }
    }
}

impl Thresholds {
    /// The score threshold of each class, by class index.
    pub fn scores_by_class(&self, names: &[String]) -> Vec<f32> {
        names
            .iter()
            .map(|n| {
                self.class
                    .get(n)
                    .and_then(|c| c.score)
                    .unwrap_or(self.score)
            })
            .collect()
    }

    /// How each class's overlapping boxes are reduced, by class index.
    pub fn suppression_by_class(&self, names: &[String]) -> Vec<Suppression> {
        names
            .iter()
            .map(|n| {
                let own = self.class.get(n).copied().unwrap_or_default();
                Suppression {
                    nms_iou: own.nms_iou.unwrap_or(self.nms_iou),
                    vote_iou: own.vote_iou,
                    centre_within: own.centre_within,
                }
            })
            .collect()
    }
}

impl Manifest {
    /// Reads and validates a manifest, reporting every problem at once.
    pub fn load(path: &Path) -> Result<Manifest, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::ManifestRead {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Manifest::parse(&text, path)
    }

    /// Parses manifest text as if read from `path` (which anchors its relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ModelError> {
        let mut manifest: Manifest =
            toml::from_str(text).map_err(|e| ModelError::ManifestInvalid {
                path: path.to_path_buf(),
                problems: vec![e.to_string().trim().replace('\n', " ")],
            })?;
        manifest.source_path = path.to_path_buf();
        let mut problems = Vec::new();
        manifest.resolve_classes(&mut problems);
        manifest.check_fields(&mut problems);
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(ModelError::ManifestInvalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// The `.onnx` path, resolved against the manifest's folder.
    pub fn model_path(&self) -> PathBuf {
        self.resolve(&self.model)
    }

    fn resolve(&self, relative: &Path) -> PathBuf {
        match self.source_path.parent() {
            Some(dir) if relative.is_relative() => dir.join(relative),
            _ => relative.to_path_buf(),
        }
    }

    fn resolve_classes(&mut self, problems: &mut Vec<String>) {
        let mut names = self.classes.names.clone();
        if let Some(file) = &self.classes.names_file {
            if !names.is_empty() {
                problems.push("classes: give `names` or `names_file`, not both".into());
            }
            let path = self.resolve(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    names = text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect()
                }
                Err(e) => problems.push(format!(
                    "classes.names_file: cannot read `{}`: {e}",
                    path.display()
                )),
            }
        }
        if names.is_empty() && self.classes.names_file.is_none() {
            problems.push("classes: `names` or `names_file` must list the model's classes".into());
        }
        let mut kinds = vec![ObjectKind::Other; names.len()];
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        for (field, list, kind) in [
            ("person", &self.classes.person, ObjectKind::Person),
            ("hand", &self.classes.hand, ObjectKind::Hand),
            ("product", &self.classes.product, ObjectKind::Product),
        ] {
            for name in list {
                match index.get(name.as_str()) {
                    Some(&i) if kinds[i] != ObjectKind::Other => problems.push(format!(
                        "classes.{field}: `{name}` is already mapped to {:?}",
                        kinds[i]
                    )),
                    Some(&i) => kinds[i] = kind,
                    None if !names.is_empty() => problems.push(format!(
                        "classes.{field}: `{name}` is not one of the model's classes"
                    )),
                    None => {}
                }
            }
        }
        self.class_names = names;
        self.class_kinds = kinds;
    }

    fn check_fields(&self, problems: &mut Vec<String>) {
        let input = &self.input;
        if input.width == 0 || input.height == 0 {
            problems.push(format!(
                "input: width and height must be positive (got {}x{})",
                input.width, input.height
            ));
        }
        if !(input.scale.is_finite() && input.scale > 0.0) {
            problems.push(format!(
                "input.scale: must be positive (got {})",
                input.scale
            ));
        }
        for (i, s) in input.std.iter().enumerate() {
            if !(s.is_finite() && *s != 0.0) {
                problems.push(format!("input.std[{i}]: must be non-zero (got {s})"));
            }
        }
        let t = &self.thresholds;
        if !(0.0..=1.0).contains(&t.score) {
            problems.push(format!(
                "thresholds.score: must be within 0..1 (got {})",
                t.score
            ));
        }
        if !(0.0..=1.0).contains(&t.nms_iou) {
            problems.push(format!(
                "thresholds.nms_iou: must be within 0..1 (got {})",
                t.nms_iou
            ));
        }
        if t.max_detections == 0 {
            problems.push("thresholds.max_detections: must be at least 1".into());
        }
        for (name, c) in &t.class {
            if !self.class_names.iter().any(|n| n == name) {
                problems.push(format!(
                    "thresholds.class.{name}: no class of that name (classes are {:?})",
                    self.class_names
                ));
            }
            if let Some(v) = c.centre_within
                && !(v.is_finite() && v >= 0.0)
            {
                problems.push(format!(
                    "thresholds.class.{name}.centre_within: must be a size of at least 0 (got {v})"
                ));
            }
            for (field, value) in [
                ("score", c.score),
                ("nms_iou", c.nms_iou),
                ("vote_iou", c.vote_iou),
            ] {
                if let Some(v) = value
                    && !(0.0..=1.0).contains(&v)
                {
                    problems.push(format!(
                        "thresholds.class.{name}.{field}: must be within 0..1 (got {v})"
                    ));
                }
            }
        }
        match &self.output {
            DecoderSpec::Yolox { strides } | DecoderSpec::Nanodet { strides, .. } => {
                for s in strides {
                    if *s == 0
                        || !input.width.is_multiple_of(*s)
                        || !input.height.is_multiple_of(*s)
                    {
                        problems.push(format!(
                            "output.strides: {s} does not divide the input size {}x{}",
                            input.width, input.height
                        ));
                    }
                }
                if strides.is_empty() {
                    problems.push("output.strides: must not be empty".into());
                }
            }
            DecoderSpec::MediapipePalm {
                strides,
                anchors_per_layer,
            } => {
                if strides.is_empty() {
                    problems.push("output.strides: must not be empty".into());
                }
                if let Some(per_layer) = anchors_per_layer
                    && per_layer.len() != strides.len()
                {
                    problems.push(format!(
                        "output.anchors_per_layer: {} entries for {} strides",
                        per_layer.len(),
                        strides.len()
                    ));
                }
            }
            DecoderSpec::Yolov8 => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "tiny"
model = "tiny.onnx"
[input]
width = 64
height = 64
layout = "nchw"
channel_order = "rgb"
letterbox = "centered"
[output]
decoder = "yolov8"
[classes]
names = ["person", "hand", "can"]
person = ["person"]
hand = ["hand"]
product = ["can"]
"#;

    #[test]
    fn minimal_manifest_resolves_paths_and_kinds() {
        let m = Manifest::parse(MINIMAL, Path::new("/store/models/tiny.toml")).unwrap();
        assert_eq!(m.model_path(), PathBuf::from("/store/models/tiny.onnx"));
        assert_eq!(
            m.class_kinds,
            vec![ObjectKind::Person, ObjectKind::Hand, ObjectKind::Product]
        );
        assert_eq!(m.thresholds, Thresholds::default());
        assert_eq!(m.input.pad_value, 114);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = MINIMAL
            .replace("width = 64", "width = 0")
            .replace("product = [\"can\"]", "product = [\"bottle\"]")
            .replace("[output]", "[thresholds]\nscore = 1.5\n[output]");
        let err = Manifest::parse(&text, Path::new("m.toml")).unwrap_err();
        let ModelError::ManifestInvalid { problems, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        let message = err.to_string();
        assert!(message.contains("input: width and height"), "{message}");
        assert!(
            message.contains("`bottle` is not one of the model's classes"),
            "{message}"
        );
        assert!(message.contains("thresholds.score"), "{message}");
    }

    #[test]
    fn class_thresholds_override_the_defaults_and_are_checked() {
        let text = format!(
            "{MINIMAL}[thresholds]\nscore = 0.4\nnms_iou = 0.6\n[thresholds.class.hand]\nnms_iou = 0.3\n"
        );
        let m = Manifest::parse(&text, Path::new("m.toml")).unwrap();
        assert_eq!(m.thresholds.scores_by_class(&m.class_names), vec![0.4; 3]);
        assert_eq!(
            m.thresholds
                .suppression_by_class(&m.class_names)
                .iter()
                .map(|s| s.nms_iou)
                .collect::<Vec<_>>(),
            vec![0.6, 0.3, 0.6]
        );
        let bad = format!(
            "{MINIMAL}[thresholds.class.hands]\nscore = 0.5\n[thresholds.class.can]\nnms_iou = 2.0\n"
        );
        let err = Manifest::parse(&bad, Path::new("m.toml")).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("thresholds.class.hands: no class of that name"),
            "{message}"
        );
        assert!(
            message.contains("thresholds.class.can.nms_iou: must be within 0..1"),
            "{message}"
        );
    }

    #[test]
    fn a_class_may_vote_and_suppress_by_centre_and_both_are_checked() {
        let text = format!(
            "{MINIMAL}[thresholds]\nnms_iou = 0.6\n[thresholds.class.hand]\nvote_iou = 0.6\ncentre_within = 1.0\n"
        );
        let m = Manifest::parse(&text, Path::new("m.toml")).unwrap();
        let rules = m.thresholds.suppression_by_class(&m.class_names);
        assert_eq!(rules[0], Suppression::overlap(0.6));
        assert_eq!(
            rules[1],
            Suppression {
                nms_iou: 0.6,
                vote_iou: Some(0.6),
                centre_within: Some(1.0)
            }
        );
        let bad =
            format!("{MINIMAL}[thresholds.class.hand]\nvote_iou = 1.5\ncentre_within = -1.0\n");
        let message = Manifest::parse(&bad, Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("thresholds.class.hand.vote_iou: must be within 0..1 (got 1.5)"),
            "{message}"
        );
        assert!(
            message.contains("thresholds.class.hand.centre_within: must be a size of at least 0"),
            "{message}"
        );
    }

    #[test]
    fn unknown_fields_and_decoders_are_named() {
        let err =
            Manifest::parse(&MINIMAL.replace("layout", "layuot"), Path::new("m.toml")).unwrap_err();
        assert!(err.to_string().contains("layuot"), "{err}");
        let err = Manifest::parse(
            &MINIMAL.replace("\"yolov8\"", "\"yolov99\""),
            Path::new("m.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("yolov99"), "{err}");
    }

    #[test]
    fn strides_must_divide_the_input() {
        let text = MINIMAL.replace(
            "decoder = \"yolov8\"",
            "decoder = \"yolox\"\nstrides = [8, 24]",
        );
        let err = Manifest::parse(&text, Path::new("m.toml")).unwrap_err();
        assert!(err.to_string().contains("24 does not divide"), "{err}");
    }
}
