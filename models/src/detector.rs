use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::TensorRef;
use walkout_core::{Detection, Frame, ObjectKind};

use crate::ModelError;
use crate::decode::{Decoder, OutputView, Suppression, suppress_per_class};
use crate::manifest::{Layout, Manifest};
use crate::preprocess::{Letterbox, PaddedArea, Preprocessor};
use crate::runtime::{RuntimeConfig, build_session};

/// Where one call's time went, summed over the frames it handled.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimings {
    pub preprocess: Duration,
    pub inference: Duration,
    pub decode: Duration,
    pub frames: u64,
}

impl StageTimings {
    pub fn add(&mut self, other: &StageTimings) {
        self.preprocess += other.preprocess;
        self.inference += other.inference;
        self.decode += other.decode;
        self.frames += other.frames;
    }
}

/// A loaded detector: manifest, ONNX Runtime session, and the buffers it reuses every frame.
pub struct Detector {
    manifest: Manifest,
    session: Session,
    provider: &'static str,
    input_name: String,
    decoder: Decoder,
    preprocessor: Preprocessor,
    /// Frames per `Session::run`: the model's fixed batch size, or `max_batch` when the batch is dynamic.
    batch_capacity: usize,
    fixed_batch: bool,
    /// The input tensor's memory, `batch_capacity` images long; ONNX Runtime reads it in place.
    input: Vec<f32>,
    /// Per input slot, where its padding already lies.
    padded: Vec<Option<PaddedArea>>,
    labels: Vec<Arc<str>>,
    /// Per class index: the score a detection needs, and how its overlapping boxes are suppressed.
    class_scores: Vec<f32>,
    class_suppression: Vec<Suppression>,
    last_timings: StageTimings,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.manifest.name)
            .field("provider", &self.provider)
            .field("batch_capacity", &self.batch_capacity)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// Loads the manifest at `manifest_path` and its model, and checks one against the other.
    pub fn load(manifest_path: &Path, runtime: &RuntimeConfig) -> Result<Detector, ModelError> {
        let manifest = Manifest::load(manifest_path)?;
        Detector::from_manifest(manifest, runtime, 1)
    }

    /// Builds a detector from a parsed manifest. `max_batch` bounds frames per call when the model's batch
    /// dimension is dynamic.
    pub fn from_manifest(
        manifest: Manifest,
        runtime: &RuntimeConfig,
        max_batch: usize,
    ) -> Result<Detector, ModelError> {
        let model_path = manifest.model_path();
        if !model_path.is_file() {
            return Err(ModelError::ModelMissing {
                path: model_path,
                manifest: manifest.source_path.clone(),
            });
        }
        let (session, provider) = build_session(runtime, &model_path)?;
        let decoder = Decoder::new(&manifest);
        let (input_name, model_batch) = check_model(&manifest, &session, &decoder)?;
        let fixed_batch = model_batch > 0;
        let batch_capacity = if fixed_batch {
            model_batch as usize
        } else {
            max_batch.max(1)
        };
        let preprocessor = Preprocessor::new(&manifest.input);
        let input = vec![0.0; preprocessor.image_len() * batch_capacity];
        let class_scores = manifest.thresholds.scores_by_class(&manifest.class_names);
        let class_suppression = manifest
            .thresholds
            .suppression_by_class(&manifest.class_names);
        let labels = manifest
            .class_names
            .iter()
            .map(|n| Arc::from(n.as_str()))
            .collect();
        Ok(Detector {
            manifest,
            session,
            provider,
            input_name,
            decoder,
            preprocessor,
            batch_capacity,
            fixed_batch,
            input,
            padded: vec![None; batch_capacity],
            class_scores,
            class_suppression,
            labels,
            last_timings: StageTimings::default(),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The execution provider that actually runs the model.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn batch_capacity(&self) -> usize {
        self.batch_capacity
    }

    /// Time spent in each stage by the last call.
    pub fn last_timings(&self) -> StageTimings {
        self.last_timings
    }

    pub fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, ModelError> {
        let mut out = self.detect_batch(&[frame])?;
        Ok(out.pop().unwrap_or_default())
    }

    /// The frame size to ask the camera layer for, for a camera whose pictures are `source` pixels: the
    /// size the letterbox scales them to. Frames of that size need no resize here (the decoder scales on
    /// YUV, before the RGB conversion, which is cheaper), only normalising and padding; pass them to
    /// [`Detector::detect_scaled`] with the source size so that boxes come back in the source's pixels.
    pub fn frame_size_for(&self, source: (u32, u32)) -> (u32, u32) {
        let input = &self.manifest.input;
        let letterbox = Letterbox::fit(input.letterbox, source, (input.width, input.height));
        (letterbox.resized_width, letterbox.resized_height)
    }

    /// Detects objects in a frame that the camera layer scaled from a `source` picture (see
    /// [`Detector::frame_size_for`]); boxes are in the source's pixels. A frame of any other size is
    /// resized here as usual.
    pub fn detect_scaled(
        &mut self,
        frame: &Frame,
        source: (u32, u32),
    ) -> Result<Vec<Detection>, ModelError> {
        let mut timings = StageTimings::default();
        let picture = Picture {
            rgb: frame.rgb(),
            width: frame.width(),
            height: frame.height(),
            source: Some(source),
        };
        let mut out = self.run_chunk(&[picture], &mut timings)?;
        self.last_timings = timings;
        Ok(out.pop().unwrap_or_default())
    }

    /// Detects objects in several frames (from several cameras), as few `Session::run` calls as the
    /// model's batch dimension allows.
    pub fn detect_batch(&mut self, frames: &[&Frame]) -> Result<Vec<Vec<Detection>>, ModelError> {
        self.detect_batch_scaled(frames, |_| None)
    }

    /// [`Detector::detect_batch`] for frames that the camera layer may have scaled: `source_of(frame)` is
    /// the picture size a frame was scaled from (see [`Detector::detect_scaled`]), `None` for a frame at
    /// its camera's own size.
    pub fn detect_batch_scaled(
        &mut self,
        frames: &[&Frame],
        source_of: impl Fn(&Frame) -> Option<(u32, u32)>,
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        let mut results = Vec::with_capacity(frames.len());
        let mut timings = StageTimings::default();
        for chunk in frames.chunks(self.batch_capacity) {
            let images: Vec<Picture<'_>> = chunk
                .iter()
                .map(|f| Picture {
                    rgb: f.rgb(),
                    width: f.width(),
                    height: f.height(),
                    source: source_of(f),
                })
                .collect();
            results.extend(self.run_chunk(&images, &mut timings)?);
        }
        self.last_timings = timings;
        Ok(results)
    }

    /// Detects objects in one packed RGB image (a still, not a camera frame).
    pub fn detect_rgb(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Vec<Detection>, ModelError> {
        let mut timings = StageTimings::default();
        let picture = Picture {
            rgb,
            width,
            height,
            source: None,
        };
        let mut out = self.run_chunk(&[picture], &mut timings)?;
        self.last_timings = timings;
        Ok(out.pop().unwrap_or_default())
    }

    fn run_chunk(
        &mut self,
        images: &[Picture<'_>],
        timings: &mut StageTimings,
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        let model = self.manifest.name.clone();
        let inference_error = |message: String| ModelError::Inference {
            model: model.clone(),
            message,
        };
        let started = Instant::now();
        let image_len = self.preprocessor.image_len();
        // A model with a fixed batch always gets a full batch; unused slots keep old data and are ignored.
        let batch = if self.has_fixed_batch() {
            self.batch_capacity
        } else {
            images.len()
        };
        let mut letterboxes: Vec<Letterbox> = Vec::with_capacity(images.len());
        for ((slot, padded), picture) in self
            .input
            .chunks_exact_mut(image_len)
            .zip(self.padded.iter_mut())
            .zip(images)
        {
            let (width, height) = (picture.width, picture.height);
            let letterbox = self
                .preprocessor
                .fill(picture.rgb, width, height, slot, padded)
                .map_err(|e| {
                    inference_error(format!("preprocessing a {width}x{height} image: {e}"))
                })?;
            letterboxes.push(match picture.source {
                Some(source) => letterbox.from_scaled_source(source),
                None => letterbox,
            });
        }
        let preprocessed = Instant::now();
        let (w, h) = (
            self.manifest.input.width as usize,
            self.manifest.input.height as usize,
        );
        let shape = match self.manifest.input.layout {
            Layout::Nchw => [batch, 3, h, w],
            Layout::Nhwc => [batch, h, w, 3],
        };
        let tensor = TensorRef::from_array_view((shape, &self.input[..batch * image_len]))
            .map_err(|e| inference_error(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| inference_error(e.to_string()))?;
        let inferred = Instant::now();
        let mut views = Vec::with_capacity(outputs.len());
        let names: Vec<&str> = outputs.keys().collect();
        for (index, name) in names.into_iter().enumerate() {
            let (shape, data) = outputs[index]
                .try_extract_tensor::<f32>()
                .map_err(|e| inference_error(format!("output `{name}`: {e}")))?;
            views.push(OutputView { name, shape, data });
        }
        let thresholds = &self.manifest.thresholds;
        let lowest_score = self
            .class_scores
            .iter()
            .copied()
            .fold(thresholds.score, f32::min);
        let mut results = Vec::with_capacity(images.len());
        for (index, letterbox) in letterboxes.iter().enumerate() {
            let mut candidates =
                self.decoder
                    .decode(&views, index, lowest_score)
                    .map_err(|message| ModelError::Decode {
                        model: model.clone(),
                        decoder: self.decoder.name(),
                        message,
                    })?;
            let (scores, default_score) = (&self.class_scores, thresholds.score);
            candidates.retain(|c| {
                c.score
                    >= scores
                        .get(c.class_id as usize)
                        .copied()
                        .unwrap_or(default_score)
            });
            let (rules, default_nms) = (&self.class_suppression, thresholds.nms_iou);
            let kept = suppress_per_class(
                candidates,
                |class| {
                    rules
                        .get(class as usize)
                        .copied()
                        .unwrap_or(Suppression::overlap(default_nms))
                },
                thresholds.max_detections,
            );
            let mut detections = Vec::with_capacity(kept.len());
            for candidate in kept {
                let class = candidate.class_id as usize;
                let kind = self
                    .manifest
                    .class_kinds
                    .get(class)
                    .copied()
                    .unwrap_or(ObjectKind::Other);
                if kind == ObjectKind::Other && self.manifest.classes.store_classes_only {
                    continue;
                }
                let label = self
                    .labels
                    .get(class)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(format!("class_{class}")));
                detections.push(Detection {
                    class_id: candidate.class_id,
                    label,
                    kind,
                    score: candidate.score,
                    bbox: letterbox.to_source(candidate.bbox),
                    appearance: None,
                });
            }
            results.push(detections);
        }
        let decoded = Instant::now();
        timings.preprocess += preprocessed - started;
        timings.inference += inferred - preprocessed;
        timings.decode += decoded - inferred;
        timings.frames += images.len() as u64;
        Ok(results)
    }

    /// Whether the model's batch dimension is fixed (every call runs that many images).
    pub fn has_fixed_batch(&self) -> bool {
        self.fixed_batch
    }

    /// Lets a model with a dynamic batch dimension take up to `max_batch` frames per call; a fixed batch
    /// stays as the model says.
    pub fn set_max_batch(&mut self, max_batch: usize) {
        if !self.fixed_batch {
            self.batch_capacity = max_batch.max(1);
            self.input
                .resize(self.preprocessor.image_len() * self.batch_capacity, 0.0);
            self.padded.resize(self.batch_capacity, None);
        }
    }

    /// Runs the model on the input buffer as it is, without preprocessing or decoding: the floor the
    /// model itself sets, for benchmarks.
    pub fn run_bare(&mut self, batch: usize) -> Result<Duration, ModelError> {
        let batch = batch.clamp(1, self.batch_capacity);
        let image_len = self.preprocessor.image_len();
        let (w, h) = (
            self.manifest.input.width as usize,
            self.manifest.input.height as usize,
        );
        let shape = match self.manifest.input.layout {
            Layout::Nchw => [batch, 3, h, w],
            Layout::Nhwc => [batch, h, w, 3],
        };
        let error = |e: ort::Error| ModelError::Inference {
            model: self.manifest.name.clone(),
            message: e.to_string(),
        };
        let started = Instant::now();
        let tensor =
            TensorRef::from_array_view((shape, &self.input[..batch * image_len])).map_err(error)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| ModelError::Inference {
                model: self.manifest.name.clone(),
                message: e.to_string(),
            })?;
        drop(outputs);
        Ok(started.elapsed())
    }
}

/// One picture for the input tensor; `source` is the size it was scaled from by the camera layer, if it was.
struct Picture<'a> {
    rgb: &'a [u8],
    width: u32,
    height: u32,
    source: Option<(u32, u32)>,
}

/// Checks the manifest against the model's real inputs and outputs; every mismatch is reported at once.
/// Returns the input's name and its batch dimension (-1 when dynamic).
fn check_model(
    manifest: &Manifest,
    session: &Session,
    decoder: &Decoder,
) -> Result<(String, i64), ModelError> {
    let mut problems = Vec::new();
    let inputs = session.inputs();
    let input = match &manifest.input.name {
        Some(name) => inputs.iter().find(|i| i.name() == name),
        None => inputs.first(),
    };
    let mut model_batch = 1;
    let input_name = match input {
        None => {
            let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
            problems.push(format!(
                "input.name: the model has no input `{}` (its inputs: {names:?})",
                manifest.input.name.as_deref().unwrap_or("")
            ));
            String::new()
        }
        Some(input) => {
            match input.dtype().tensor_shape() {
                Some(shape) if shape.len() == 4 => {
                    let (w, h) = (i64::from(manifest.input.width), i64::from(manifest.input.height));
                    let (expected, layout) = match manifest.input.layout {
                        Layout::Nchw => ([3, h, w], "NCHW"),
                        Layout::Nhwc => ([h, w, 3], "NHWC"),
                    };
                    let fits = shape[1..].iter().zip(&expected).all(|(a, e)| *a < 0 || a == e);
                    if !fits {
                        problems.push(format!(
                            "input: the manifest says {}x{} {layout} (expects [N, {}, {}, {}]), the model's input `{}` is {:?}",
                            manifest.input.width,
                            manifest.input.height,
                            expected[0],
                            expected[1],
                            expected[2],
                            input.name(),
                            &shape[..]
                        ));
                    }
                    model_batch = if shape[0] > 0 { shape[0] } else { -1 };
                }
                Some(shape) => problems.push(format!(
                    "input: the model's input `{}` has shape {:?}, a 4-dimensional image tensor is needed",
                    input.name(),
                    &shape[..]
                )),
                None => problems.push(format!("input: the model's input `{}` is not a tensor", input.name())),
            }
            input.name().to_string()
        }
    };
    let outputs: Vec<(String, Vec<i64>)> = session
        .outputs()
        .iter()
        .map(|o| {
            (
                o.name().to_string(),
                o.dtype()
                    .tensor_shape()
                    .map(|s| s.to_vec())
                    .unwrap_or_default(),
            )
        })
        .collect();
    problems.extend(
        decoder
            .check_outputs(&outputs)
            .into_iter()
            .map(|p| format!("output ({}): {p}", decoder.name())),
    );
    if problems.is_empty() {
        Ok((input_name, model_batch))
    } else {
        Err(ModelError::ModelMismatch {
            path: manifest.model_path(),
            manifest: manifest.source_path.clone(),
            problems,
        })
    }
}
