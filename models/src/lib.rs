//! Object detection through ONNX Runtime: the only crate in Walkout that touches `ort`.
//!
//! In: a model manifest (TOML, beside the `.onnx` or naming it by a relative path) and decoded RGB
//! [`walkout_core::Frame`]s, at the camera's own size or already scaled by the camera layer to the
//! letterbox size ([`Detector::frame_size_for`]; then only normalising and padding remain here).
//! Out: [`walkout_core::Detection`]s per frame, in the pixels of the original frame, classified into the
//! store's kinds (person, hand, product) as the manifest maps the model's classes.
//! Threads: a [`Detector`] is used from one thread at a time (`&mut self`); ONNX Runtime runs its own
//! intra-op thread pool inside each call, sized by [`RuntimeConfig`]. A [`DetectionStage`] runs detectors
//! on their own threads between bounded, blocking channels: one batching session, a pool routed by
//! camera, or sessions interleaved frame by frame with the input order restored. Nothing here blocks on
//! I/O.
//! State: the process-wide ONNX Runtime environment (loaded once from a shared library path), and per
//! detector its session, its pre-allocated input tensor (with each slot's padding, written again only
//! when the picture's place changes) and resize scratch, reused every frame.

mod decode;
mod detector;
mod error;
mod manifest;
mod preprocess;
mod runtime;
mod stage;

pub use decode::{Decoder, Suppression, nms_class_aware, suppress_per_class};
pub use detector::{Detector, StageTimings};
pub use error::ModelError;
pub use manifest::{
    ChannelOrder, ClassSpec, DecoderSpec, InputSpec, Layout, LetterboxMode, Manifest, Thresholds,
};
pub use preprocess::Letterbox;
pub use runtime::{ExecutionProvider, RuntimeConfig, init_runtime, runtime_library_from_env};
pub use stage::{DetectedFrame, DetectionConfig, DetectionStage, Scheduling, StageStats};

/// Reads a JPEG or PNG file as packed RGB8: `(pixels, width, height)`.
pub fn load_rgb_image(path: &std::path::Path) -> Result<(Vec<u8>, u32, u32), ModelError> {
    let image = image::open(path).map_err(|e| ModelError::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let rgb = image.into_rgb8();
    let (width, height) = rgb.dimensions();
    Ok((rgb.into_raw(), width, height))
}
