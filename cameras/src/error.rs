use std::path::PathBuf;

use gstreamer as gst;

/// Everything that can go wrong with a camera. Every variant names the camera (by its id, or by its redacted
/// source before it has one) and the cause; credentials never appear in the message.
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
    #[error("camera `{camera}`: cannot reach the source: {message}")]
    Unreachable { camera: String, message: String },
    #[error("camera `{camera}`: the source refused the credentials: {message}")]
    Unauthorized { camera: String, message: String },
    #[error("camera `{camera}`: the media is corrupt or cannot be decoded: {message}")]
    Corrupt { camera: String, message: String },
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
    #[error("camera `{camera}`: no frame for {waited_secs:.1} s")]
    Stalled { camera: String, waited_secs: f64 },
    #[error("video writer `{path}`: {message}")]
    Writer { path: PathBuf, message: String },
    #[error("RTSP server: {0}")]
    RtspServer(String),
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

    /// A stable, machine-readable name of the cause, for health output and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            CameraError::GstreamerInit(_) => "gstreamer_init",
            CameraError::UnknownScheme { .. } => "unknown_scheme",
            CameraError::InvalidSource { .. } => "invalid_source",
            CameraError::MissingFile { .. } => "missing_file",
            CameraError::MissingElement { .. } => "missing_element",
            CameraError::Pipeline { .. } => "pipeline",
            CameraError::Unreachable { .. } => "unreachable",
            CameraError::Unauthorized { .. } => "unauthorized",
            CameraError::Corrupt { .. } => "corrupt",
            CameraError::Stream { .. } => "stream",
            CameraError::NoVideo { .. } => "no_video",
            CameraError::BadFrame { .. } => "bad_frame",
            CameraError::Stalled { .. } => "stalled",
            CameraError::Writer { .. } => "writer",
            CameraError::RtspServer(_) => "rtsp_server",
        }
    }

    /// Sorts a GStreamer bus error into the cause an operator can act on. `message` and `debug` must
    /// already be redacted.
    pub(crate) fn from_bus_error(
        camera: String,
        element: String,
        error: &gst::glib::Error,
        message: String,
        debug: Option<String>,
    ) -> CameraError {
        let debug_text = debug.as_deref().unwrap_or_default();
        if let Some(kind) = error.kind::<gst::ResourceError>() {
            match kind {
                gst::ResourceError::NotAuthorized => {
                    return CameraError::Unauthorized { camera, message };
                }
                gst::ResourceError::NotFound
                | gst::ResourceError::OpenRead
                | gst::ResourceError::OpenReadWrite
                | gst::ResourceError::Read
                | gst::ResourceError::Busy => {
                    // rtspsrc reports a 401 as a generic open failure with the status in the debug text.
                    if debug_text.contains("Unauthorized") || debug_text.contains("401") {
                        return CameraError::Unauthorized { camera, message };
                    }
                    return CameraError::Unreachable {
                        camera,
                        message: with_debug(message, debug),
                    };
                }
                _ => {}
            }
        }
        if let Some(
            gst::StreamError::Decode
            | gst::StreamError::Demux
            | gst::StreamError::TypeNotFound
            | gst::StreamError::WrongType
            | gst::StreamError::Format
            | gst::StreamError::CodecNotFound,
        ) = error.kind::<gst::StreamError>()
        {
            return CameraError::Corrupt {
                camera,
                message: with_debug(message, debug),
            };
        }
        CameraError::Stream {
            camera,
            element,
            message,
            debug,
        }
    }
}

fn with_debug(message: String, debug: Option<String>) -> String {
    match debug {
        Some(debug) => format!("{message} ({debug})"),
        None => message,
    }
}
