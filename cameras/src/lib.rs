//! Camera ingestion: the only crate in Walkout that touches GStreamer.
//!
//! In: a camera's source (`rtsp://`, `rtsps://`, a file path or `file://` URI, `v4l2://`, `test://`, or a
//! custom `pipeline:` launch line) and the output format the detector wants.
//! Out: [`walkout_core::Frame`]s, packed RGB at the configured size and rate, numbered per camera, with the
//! stream PTS re-based so that it never goes backwards, and a capture time on the store's shared clock.
//! Threads: GStreamer runs its own streaming threads; [`CameraStream::next_frame`] blocks the caller's
//! thread on the appsink. Back-pressure is set at the appsink: offline pacing blocks the decoder (lossless,
//! reproducible), live pacing keeps only the newest frame and counts what it drops.
//! State: one GStreamer pipeline per open stream, set to `Null` whenever the stream is dropped.

mod backoff;
mod error;
mod rtsp;
mod source;
mod stream;
mod supervisor;
mod timestamps;
mod writer;

pub use backoff::Backoff;
pub use error::CameraError;
pub use rtsp::{RtspMedia, RtspServer};
pub use source::{RtspTransport, Source, SourceOptions};
pub use stream::{CameraStream, OutputFormat, Pacing, ProbeReport, Pull, StreamConfig, probe};
pub use supervisor::{
    CameraConfig, CameraFault, CameraHealth, CameraState, CameraSupervisor, SupervisorError,
};
pub use timestamps::{PtsRebaser, PtsVerdict};
pub use writer::{Container, VideoCodec, VideoFormat, VideoWriter};

use std::sync::OnceLock;

/// Initialises GStreamer once per process; every entry point of this crate calls it.
pub fn init() -> Result<(), CameraError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gstreamer::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(CameraError::GstreamerInit)
}
