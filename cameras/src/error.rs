use std::path::PathBuf;

/// Everything that can go wrong with a camera. Every variant names the camera (by its redacted source) and
/// the cause; credentials never appear in the message.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("GStreamer failed to initialise: {0}")]
    GstreamerInit(String),
    #[error(
        "camera source `{source_uri}`: unknown scheme `{scheme}` (expected rtsp, rtsps, file, v4l2, test or pipeline)"
    )]
    UnknownScheme { source_uri: String, scheme: String },
    #[error("camera source `{source_uri}`: {reason}")]
    InvalidSource { source_uri: String, reason: String },
    #[error("camera source `{source_uri}`: file `{path}` does not exist")]
    MissingFile { source_uri: String, path: PathBuf },
    #[error(
        "camera `{camera}`: GStreamer is missing the element `{element}` (install the plugin that provides it)"
    )]
    MissingElement { camera: String, element: String },
    #[error("camera `{camera}`: could not build the pipeline: {message}")]
    Pipeline { camera: String, message: String },
    #[error("camera `{camera}`: {element}: {message}{}", debug.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Stream {
        camera: String,
        element: String,
        message: String,
        debug: Option<String>,
    },
    #[error("camera `{camera}`: the stream carries no video")]
    NoVideo { camera: String },
    #[error("camera `{camera}`: bad frame: {message}")]
    BadFrame { camera: String, message: String },
}

impl CameraError {
    /// Whether retrying can never help (a typo in the configuration), as opposed to a camera that is down.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            CameraError::UnknownScheme { .. }
                | CameraError::InvalidSource { .. }
                | CameraError::MissingElement { .. }
                | CameraError::GstreamerInit(_)
        )
    }
}
