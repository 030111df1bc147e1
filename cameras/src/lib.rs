//! Camera ingestion: the only crate in Walkout that touches GStreamer.
//!
//! In: a camera's source (`rtsp://`, `rtsps://`, a file path or `file://` URI, `v4l2://`, `test://`, or a
//! custom `pipeline:` launch line) and the output format the detector wants; for a store, a
//! [`CameraConfig`] per camera, added to and removed from a [`CameraSupervisor`] at any time.
//! Out: [`walkout_core::Frame`]s, packed RGB at the configured size and rate (scaled and rate-converted
//! inside GStreamer), numbered per camera, with the stream PTS re-based so that it never goes backwards (also
//! across reconnects), and a capture time on the store's shared clock; [`CameraHealth`] per camera (state,
//! rates, counters, last error, credentials redacted). Beside the flow: [`VideoWriter`] encodes RGB frames to
//! a file (explicit timestamps, so that a dropped frame is a gap; an H.264 bitrate), [`RtspServer`] serves
//! test patterns and files on loopback for tests and demos, [`probe`] reports what a source holds.
//! Threads and back-pressure: GStreamer runs its own streaming threads; each [`CameraStream`]'s appsink
//! callback hands samples to a bounded channel, where offline pacing blocks the decoder (lossless,
//! reproducible) and live pacing keeps only the newest frame and counts every one it evicts. The supervisor
//! runs one plain thread per camera that pulls from its stream and sends into the caller's bounded output
//! channel: live cameras drop the oldest frame when it is full (counted), offline cameras block.
//! State: one GStreamer pipeline per open stream, set to `Null` whenever the stream is dropped; per camera
//! the supervisor keeps its state machine (connecting, streaming, stalled, reconnecting, ended, failed),
//! back-off, timestamp re-baser and counters, all dropped when the camera is removed.

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
pub use stream::{
    CameraStream, NEXT_FRAME_STALL, OutputFormat, Pacing, ProbeReport, Pull, StreamConfig, probe,
};
pub use supervisor::{
    CameraConfig, CameraFault, CameraHealth, CameraState, CameraSupervisor, ConfigProblem,
    SupervisorError,
};
pub use timestamps::{PtsRebaser, PtsVerdict};
pub use writer::{Container, VideoCodec, VideoFormat, VideoWriter, WriterSettings};

use std::sync::OnceLock;

/// Initialises GStreamer once per process; every entry point of this crate calls it.
pub fn init() -> Result<(), CameraError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gstreamer::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(CameraError::GstreamerInit)
}
