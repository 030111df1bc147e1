use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use serde::{Deserialize, Serialize};
use walkout_core::{CameraId, CaptureClock, CaptureTime, Frame};

use crate::{CameraError, PtsRebaser, Source, SourceOptions};

/// How frames are paced against the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// Real time: a slow consumer loses the oldest frames (counted), never sees stale video.
    #[default]
    Live,
    /// As fast as the consumer reads and never a frame lost: evaluation is reproducible.
    Offline,
}

/// The frames the detector wants. Scaling and rate conversion run inside GStreamer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputFormat {
    /// Output width in pixels; the source's width when unset.
    pub width: Option<u32>,
    /// Output height in pixels; the source's height when unset.
    pub height: Option<u32>,
    /// Output frame rate; the source's rate when unset.
    pub fps: Option<u32>,
}

/// Everything needed to open one camera's stream.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Names the camera in frames, logs and errors.
    pub camera: CameraId,
    /// Where the video comes from.
    pub source: Source,
    /// RTSP transport and latency, file looping.
    pub options: SourceOptions,
    /// Size and rate of the frames.
    pub output: OutputFormat,
    /// Real time with drops, or lossless as fast as consumed.
    pub pacing: Pacing,
}

impl StreamConfig {
    pub fn new(camera: CameraId, source: Source) -> Self {
        Self {
            camera,
            source,
            options: SourceOptions::default(),
            output: OutputFormat::default(),
            pacing: Pacing::Offline,
        }
    }

    fn launch_line(&self) -> String {
        let mut size = String::new();
        if let Some(width) = self.output.width {
            size.push_str(&format!(",width={width}"));
        }
        if let Some(height) = self.output.height {
            size.push_str(&format!(",height={height}"));
        }
        let mut caps = format!("video/x-raw,format=RGB{size}");
        let rate = match self.output.fps {
            Some(fps) => {
                caps.push_str(&format!(",framerate={fps}/1"));
                " ! videorate"
            }
            None => "",
        };
        // Scaling runs first, on the decoder's own format (mostly planar YUV, half the bytes of RGB), so that
        // a smaller output also converts fewer pixels: on vtest.avi, 768x576 to 416x312 RGB costs 0.30 ms a
        // frame this way and 0.69 ms converting first. The element that meets the decoder is named
        // `convert` either way (`watch_for_video` looks at its input).
        let convert = if size.is_empty() {
            "videoconvert name=convert ! videoscale".to_string()
        } else {
            format!("videoscale name=convert ! video/x-raw{size} ! videoconvert")
        };
        format!(
            "{} ! {convert}{rate} ! {caps} ! appsink name=sink",
            self.source.launch_head(&self.options)
        )
    }
}

/// One open camera stream: a running GStreamer pipeline ending in an appsink.
///
/// The appsink's `new-sample` callback hands every decoded sample to a bounded channel: in offline pacing
/// the callback blocks while the channel is full (the decoder waits, nothing is lost); in live pacing the
/// channel holds one sample and a newer one evicts it, so the consumer only ever sees the newest frame and
/// every eviction is counted exactly.
pub struct CameraStream {
    config: StreamConfig,
    pipeline: gst::Pipeline,
    bus: gst::Bus,
    samples: Receiver<gst::Sample>,
    sink: Arc<SinkShared>,
    next_seq: u64,
    rebaser: PtsRebaser,
    offline_anchor: Option<(CaptureTime, Duration)>,
    frames_delivered: u64,
    timestamps_flagged: u64,
    loops: u64,
    /// Added to the file's own PTS after each loop so that a looping file keeps counting forward.
    loop_base: Duration,
    last_raw_pts: Option<Duration>,
    last_raw_interval: Duration,
    finished: bool,
}

impl std::fmt::Debug for CameraStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraStream")
            .field("camera", &self.config.camera)
            .field("source", &self.config.source)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// The outcome of one bounded wait for a frame.
#[derive(Debug)]
pub enum Pull {
    Frame(Frame),
    /// Nothing arrived within the wait; the stream is still open.
    Timeout,
    /// The stream ended (a file reached its end).
    EndOfStream,
}

const BUS_POLL: Duration = Duration::from_millis(50);
/// How long [`CameraStream::next_frame`] waits for a frame before it calls the source stalled.
pub const NEXT_FRAME_STALL: Duration = Duration::from_secs(20);
/// Samples that may wait between the decoder and the consumer in offline pacing: enough to overlap
/// decoding with the consumer, few enough to keep memory flat.
const OFFLINE_QUEUE: usize = 4;

/// What the appsink's streaming thread shares with the consumer.
#[derive(Debug)]
struct SinkShared {
    samples: Sender<gst::Sample>,
    /// Live pacing only: the sink's own handle on the queue, to evict the stale sample.
    evict: Option<Receiver<gst::Sample>>,
    decoded: AtomicU64,
    dropped: AtomicU64,
    eos: AtomicBool,
    /// The demuxer exposed all its streams and none of them was video.
    no_video: AtomicBool,
    closing: AtomicBool,
}

impl SinkShared {
    fn deliver(&self, sample: gst::Sample) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.decoded.fetch_add(1, Ordering::Relaxed);
        let mut sample = sample;
        match &self.evict {
            Some(evict) => loop {
                match self.samples.try_send(sample) {
                    Ok(()) => return Ok(gst::FlowSuccess::Ok),
                    Err(TrySendError::Full(back)) => {
                        // The consumer may take the old sample first; then nothing was dropped.
                        if evict.try_recv().is_ok() {
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        sample = back;
                    }
                    Err(TrySendError::Disconnected(_)) => return Err(gst::FlowError::Flushing),
                }
            },
            None => loop {
                if self.closing.load(Ordering::Acquire) {
                    return Err(gst::FlowError::Flushing);
                }
                match self.samples.send_timeout(sample, BUS_POLL) {
                    Ok(()) => return Ok(gst::FlowSuccess::Ok),
                    Err(SendTimeoutError::Timeout(back)) => sample = back,
                    Err(SendTimeoutError::Disconnected(_)) => {
                        return Err(gst::FlowError::Flushing);
                    }
                }
            },
        }
    }
}

/// Makes a stream without video fail at once as [`CameraError::NoVideo`] rather than wait for a frame that
/// never comes (the audio stream's "not linked" error is not posted reliably), and keeps an RTSP camera's
/// audio track out of the decoder.
fn watch_for_video(pipeline: &gst::Pipeline, sink: &Arc<SinkShared>) {
    if let (Some(decode), Some(convert)) = (pipeline.by_name("decode"), pipeline.by_name("convert"))
    {
        let sink = Arc::clone(sink);
        let convert = convert.downgrade();
        decode.connect_no_more_pads(move |_| {
            let linked = convert
                .upgrade()
                .and_then(|convert| convert.static_pad("sink"))
                .is_some_and(|pad| pad.is_linked());
            if !linked {
                sink.no_video.store(true, Ordering::Release);
            }
        });
    }
    if let Some(src) = pipeline.by_name("src")
        && src.factory().is_some_and(|f| f.name() == "rtspsrc")
    {
        // rtspsrc links the first stream it sets up; choose the video one.
        src.connect("select-stream", false, |values| {
            let is_video = values
                .get(2)
                .and_then(|caps| caps.get::<gst::Caps>().ok())
                .and_then(|caps| {
                    caps.structure(0)
                        .and_then(|s| s.get::<&str>("media").ok().map(|m| m == "video"))
                })
                .unwrap_or(true);
            Some(is_video.to_value())
        });
    }
}

impl CameraStream {
    pub fn open(config: StreamConfig) -> Result<Self, CameraError> {
        crate::init()?;
        config.source.check_local()?;
        let camera = config.camera.to_string();
        let launch = config.launch_line();
        let element =
            gst::parse::launch(&launch).map_err(|err| match err.kind::<gst::ParseError>() {
                Some(gst::ParseError::NoSuchElement) => CameraError::MissingElement {
                    camera: camera.clone(),
                    element: err.message().to_string(),
                },
                _ => CameraError::Pipeline {
                    camera: camera.clone(),
                    message: err.message().to_string(),
                },
            })?;
        let pipeline = element
            .downcast::<gst::Pipeline>()
            .map_err(|_| CameraError::Pipeline {
                camera: camera.clone(),
                message: "the launch line is not a pipeline".into(),
            })?;
        if let Some(src) = pipeline.by_name("src") {
            for (name, value) in config.source.source_properties() {
                src.set_property_from_str(name, &value);
            }
        }
        let appsink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| CameraError::Pipeline {
                camera: camera.clone(),
                message: "no appsink named `sink`".into(),
            })?;
        let (samples_tx, samples_rx) = match config.pacing {
            Pacing::Offline => crossbeam_channel::bounded(OFFLINE_QUEUE),
            Pacing::Live => crossbeam_channel::bounded(1),
        };
        let sink = Arc::new(SinkShared {
            samples: samples_tx,
            evict: (config.pacing == Pacing::Live).then(|| samples_rx.clone()),
            decoded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            eos: AtomicBool::new(false),
            no_video: AtomicBool::new(false),
            closing: AtomicBool::new(false),
        });
        watch_for_video(&pipeline, &sink);
        // A file played live runs at its own frame rate; a real camera is live already and syncing it would
        // only add latency; offline runs as fast as the consumer reads.
        appsink.set_sync(config.pacing == Pacing::Live && !config.source.is_live());
        appsink.set_property("enable-last-sample", false);
        let on_sample = Arc::clone(&sink);
        let on_eos = Arc::clone(&sink);
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink
                        .pull_sample()
                        .map_err(|_| gst::FlowError::Flushing)?;
                    on_sample.deliver(sample)
                })
                .eos(move |_| on_eos.eos.store(true, Ordering::Release))
                .build(),
        );
        let bus = pipeline.bus().ok_or_else(|| CameraError::Pipeline {
            camera: camera.clone(),
            message: "pipeline has no bus".into(),
        })?;
        let nominal_interval =
            Duration::from_millis(1000 / u64::from(config.output.fps.unwrap_or(25).max(1)));
        let stream = Self {
            pipeline,
            bus,
            samples: samples_rx,
            sink,
            next_seq: 0,
            rebaser: PtsRebaser::new(Duration::from_secs(1), nominal_interval),
            offline_anchor: None,
            frames_delivered: 0,
            timestamps_flagged: 0,
            loops: 0,
            loop_base: Duration::ZERO,
            last_raw_pts: None,
            last_raw_interval: nominal_interval,
            finished: false,
            config,
        };
        stream
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| {
                stream
                    .first_bus_error()
                    .unwrap_or_else(|| CameraError::Pipeline {
                        camera: camera.clone(),
                        message: "the pipeline refused to start".into(),
                    })
            })?;
        Ok(stream)
    }

    pub fn camera(&self) -> &CameraId {
        &self.config.camera
    }

    /// Buffers that reached the appsink, delivered or not.
    pub fn frames_decoded(&self) -> u64 {
        self.sink.decoded.load(Ordering::Relaxed)
    }

    pub fn frames_delivered(&self) -> u64 {
        self.frames_delivered
    }

    /// Frames decoded but never delivered because the consumer was slower than live video (exact: each
    /// eviction of a stale frame is counted). Always zero in offline pacing.
    pub fn frames_dropped(&self) -> u64 {
        self.sink.dropped.load(Ordering::Relaxed)
    }

    /// Timestamps that went backwards, jumped or were missing, and were re-based.
    pub fn timestamps_flagged(&self) -> u64 {
        self.timestamps_flagged
    }

    /// How many times a looping file started again from the beginning.
    pub fn loops(&self) -> u64 {
        self.loops
    }

    /// Blocks until the next frame, the end of the stream (`Ok(None)`) or an error. A source that sends
    /// nothing for [`NEXT_FRAME_STALL`] (a truncated file whose demuxer waits for data that never comes, a
    /// camera that went quiet) is an error, [`CameraError::Stalled`]: a caller is never blocked forever.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        match self.pull(NEXT_FRAME_STALL)? {
            Pull::Frame(frame) => Ok(Some(frame)),
            Pull::EndOfStream => Ok(None),
            Pull::Timeout => {
                self.finished = true;
                Err(CameraError::Stalled {
                    camera: self.config.camera.to_string(),
                    waited_secs: NEXT_FRAME_STALL.as_secs_f64(),
                })
            }
        }
    }

    /// Waits at most `timeout` for a frame, checking the bus for errors while it waits.
    pub fn pull(&mut self, timeout: Duration) -> Result<Pull, CameraError> {
        if self.finished {
            return Ok(Pull::EndOfStream);
        }
        if let Ok(sample) = self.samples.try_recv() {
            return self.frame_from_sample(&sample).map(Pull::Frame);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(error) = self.first_bus_error() {
                self.finished = true;
                return Err(error);
            }
            if self.sink.no_video.load(Ordering::Acquire) && self.samples.is_empty() {
                self.finished = true;
                return Err(CameraError::NoVideo {
                    camera: self.config.camera.to_string(),
                });
            }
            // The EOS callback runs on the streaming thread after the last sample was queued, so an empty
            // queue after EOS means the stream is done.
            if self.sink.eos.load(Ordering::Acquire) && self.samples.is_empty() {
                if self.config.options.loop_file
                    && self.frames_delivered > 0
                    && matches!(self.config.source, Source::File { .. })
                {
                    self.restart_file()?;
                } else {
                    self.finished = true;
                    if self.frames_delivered == 0 {
                        return Err(CameraError::NoVideo {
                            camera: self.config.camera.to_string(),
                        });
                    }
                    return Ok(Pull::EndOfStream);
                }
            }
            let wait = BUS_POLL.min(deadline.saturating_duration_since(Instant::now()));
            match self.samples.recv_timeout(wait) {
                Ok(sample) => return self.frame_from_sample(&sample).map(Pull::Frame),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.finished = true;
                    return Ok(Pull::EndOfStream);
                }
            }
            if Instant::now() >= deadline {
                return Ok(Pull::Timeout);
            }
        }
    }

    /// Seeks a file that reached its end back to the start; its timestamps go on from where they were.
    fn restart_file(&mut self) -> Result<(), CameraError> {
        self.sink.eos.store(false, Ordering::Release);
        if let Some(last) = self.last_raw_pts.take() {
            // The file's PTS start from zero again: continue one frame after its last frame.
            self.loop_base += last + self.last_raw_interval;
        }
        self.loops += 1;
        tracing::debug!(camera = %self.config.camera, loops = self.loops, "file looped");
        self.pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                gst::ClockTime::ZERO,
            )
            .map_err(|err| CameraError::Pipeline {
                camera: self.config.camera.to_string(),
                message: format!("could not seek back to the start to loop: {err}"),
            })
    }

    fn first_bus_error(&self) -> Option<CameraError> {
        while let Some(message) = self.bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = message.view() {
                let element = message
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_else(|| "pipeline".into());
                let camera = self.config.camera.to_string();
                let text = err.error().to_string();
                let debug = err.debug().map(|d| d.to_string());
                let not_linked = debug.as_deref().is_some_and(|d| d.contains("not-linked"));
                if not_linked && self.frames_delivered == 0 {
                    return Some(CameraError::NoVideo { camera });
                }
                return Some(CameraError::from_bus_error(
                    camera,
                    element,
                    &err.error(),
                    redact_urls(&text),
                    debug.map(|d| redact_urls(&d)),
                ));
            }
        }
        None
    }

    fn frame_from_sample(&mut self, sample: &gst::Sample) -> Result<Frame, CameraError> {
        let camera = self.config.camera.clone();
        let bad = |message: String| CameraError::BadFrame {
            camera: camera.to_string(),
            message,
        };
        let caps = sample
            .caps()
            .ok_or_else(|| bad("sample without caps".into()))?;
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| bad(e.to_string()))?;
        let buffer = sample
            .buffer()
            .ok_or_else(|| bad("sample without a buffer".into()))?;
        let video = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
            .map_err(|e| bad(e.to_string()))?;
        let (width, height) = (info.width(), info.height());
        let row_bytes = width as usize * 3;
        let stride = video.plane_stride()[0] as usize;
        let data = video.plane_data(0).map_err(|e| bad(e.to_string()))?;
        // One copy, straight into the frame's shared buffer: frames are large and there are many.
        let rgb: Arc<[u8]> = if stride == row_bytes {
            Arc::from(
                data.get(..row_bytes * height as usize)
                    .ok_or_else(|| bad("plane shorter than the frame".into()))?,
            )
        } else {
            // GStreamer pads RGB rows to 4 bytes; the rest of Walkout expects packed rows.
            let mut packed = Vec::with_capacity(row_bytes * height as usize);
            for row in data.chunks(stride).take(height as usize) {
                packed.extend_from_slice(&row[..row_bytes.min(row.len())]);
            }
            Arc::from(packed)
        };
        let raw_pts = buffer.pts().map(|t| Duration::from_nanos(t.nseconds()));
        if let (Some(raw), Some(last)) = (raw_pts, self.last_raw_pts)
            && raw > last
        {
            self.last_raw_interval = raw - last;
        }
        if raw_pts.is_some() {
            self.last_raw_pts = raw_pts;
        }
        let (pts, verdict) = self.rebaser.rebase(raw_pts.map(|raw| raw + self.loop_base));
        if verdict.is_flagged() {
            self.timestamps_flagged += 1;
            tracing::warn!(camera = %camera, ?raw_pts, rebased = ?pts, ?verdict, "timestamp re-based");
        }
        let clock = CaptureClock::global();
        let captured_at = match self.config.pacing {
            Pacing::Live => clock.now(),
            Pacing::Offline => {
                // Offline frames are stamped from the stream's own clock so that replaying the same files
                // gives the same relative times, and synchronised files stay synchronised.
                let (anchor_time, anchor_pts) =
                    *self.offline_anchor.get_or_insert((clock.now(), pts));
                anchor_time
                    .checked_add(pts.saturating_sub(anchor_pts))
                    .unwrap_or(anchor_time)
            }
        };
        let frame = Frame::new(
            camera.clone(),
            self.next_seq,
            Some(pts),
            captured_at,
            width,
            height,
            rgb,
        )
        .map_err(|e| bad(e.to_string()))?;
        self.next_seq += 1;
        self.frames_delivered += 1;
        Ok(frame)
    }
}

impl Drop for CameraStream {
    fn drop(&mut self) {
        // Unblocks an offline sink waiting for room, so that the state change cannot deadlock on it.
        self.sink.closing.store(true, Ordering::Release);
        stop_pipeline(&self.pipeline, &self.config.camera, TEARDOWN_WAIT);
    }
}

/// How long a stream's pipeline may take to reach `Null` before its camera stops waiting for it.
const TEARDOWN_WAIT: Duration = Duration::from_secs(5);

/// Sets `pipeline` to `Null` from a helper thread and waits at most `wait` for it; returns whether it got
/// there in time.
///
/// A network source's state change can block in GStreamer (rtspsrc stopping its task while its connection
/// waits on a peer that went away). Waiting without bound there would hold the camera's thread, and with it
/// the frames channel and the shutdown of everything downstream; so the wait is bounded, the camera moves on,
/// and the helper thread finishes the teardown whenever GStreamer lets it.
pub(crate) fn stop_pipeline(pipeline: &gst::Pipeline, camera: &CameraId, wait: Duration) -> bool {
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let pipeline_ref = pipeline.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("teardown-{camera}"))
        .spawn(move || {
            let _ = pipeline_ref.set_state(gst::State::Null);
            let _ = done_tx.send(());
        });
    if let Err(error) = spawned {
        tracing::warn!(camera = %camera, "no thread for a bounded teardown ({error}); stopping the pipeline unbounded");
        let _ = pipeline.set_state(gst::State::Null);
        return true;
    }
    match done_rx.recv_timeout(wait) {
        Ok(()) => true,
        Err(_) => {
            tracing::error!(
                camera = %camera,
                waited_ms = wait.as_millis() as u64,
                "the camera's pipeline did not stop in time; its teardown goes on in the background"
            );
            false
        }
    }
}

/// Removes `user:pass@` from any URL inside GStreamer's messages, which quote the location they failed on.
pub(crate) fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("***@");
                rest = &tail[at + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// What `walkout probe` prints about a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub first_pts_ms: Option<f64>,
    pub last_pts_ms: Option<f64>,
    pub errors: Vec<String>,
}

/// Decodes up to `max_frames` frames (all of them when `None`) and reports what the stream holds.
pub fn probe(config: StreamConfig, max_frames: Option<u64>) -> ProbeReport {
    let mut report = ProbeReport {
        frames: 0,
        width: 0,
        height: 0,
        fps: 0.0,
        first_pts_ms: None,
        last_pts_ms: None,
        errors: Vec::new(),
    };
    let mut stream = match CameraStream::open(config) {
        Ok(stream) => stream,
        Err(err) => {
            report.errors.push(err.to_string());
            return report;
        }
    };
    while max_frames.is_none_or(|max| report.frames < max) {
        match stream.next_frame() {
            Ok(Some(frame)) => {
                let pts_ms = frame.pts.map(|p| p.as_secs_f64() * 1000.0);
                report.first_pts_ms = report.first_pts_ms.or(pts_ms);
                report.last_pts_ms = pts_ms;
                report.width = frame.width();
                report.height = frame.height();
                report.frames += 1;
            }
            Ok(None) => break,
            Err(err) => {
                report.errors.push(err.to_string());
                break;
            }
        }
    }
    if let (Some(first), Some(last)) = (report.first_pts_ms, report.last_pts_ms)
        && report.frames > 1
        && last > first
    {
        report.fps = (report.frames - 1) as f64 * 1000.0 / (last - first);
    }
    if stream.timestamps_flagged() > 0 {
        report.errors.push(format!(
            "{} timestamps re-based",
            stream.timestamps_flagged()
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_inside_messages() {
        assert_eq!(
            redact_urls("Could not open resource rtsp://admin:pw@10.0.0.1:554/live for reading"),
            "Could not open resource rtsp://***@10.0.0.1:554/live for reading"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("file:///a/b@c"), "file:///a/b@c");
    }

    #[test]
    fn launch_line_scales_and_rates_inside_gstreamer() {
        let mut config = StreamConfig::new(
            CameraId::new("c"),
            Source::parse("test://smpte?num-buffers=3").unwrap(),
        );
        config.output = OutputFormat {
            width: Some(320),
            height: Some(240),
            fps: Some(10),
        };
        let line = config.launch_line();
        assert!(
            line.contains(
                "videoscale name=convert ! video/x-raw,width=320,height=240 ! videoconvert ! videorate ! \
                 video/x-raw,format=RGB,width=320,height=240,framerate=10/1"
            ),
            "{line}"
        );
        config.output = OutputFormat::default();
        let line = config.launch_line();
        assert!(
            line.contains(
                "videoconvert name=convert ! videoscale ! video/x-raw,format=RGB ! appsink"
            ),
            "{line}"
        );
    }

    #[test]
    fn test_pattern_frames_arrive_at_the_requested_size() {
        let mut config = StreamConfig::new(
            CameraId::new("pattern"),
            Source::parse("test://smpte?num-buffers=5").unwrap(),
        );
        // an odd width exercises GStreamer's padded RGB rows
        config.output = OutputFormat {
            width: Some(161),
            height: Some(120),
            fps: None,
        };
        let mut stream = CameraStream::open(config).unwrap();
        let mut frames = Vec::new();
        while let Some(frame) = stream.next_frame().unwrap() {
            frames.push(frame);
        }
        assert_eq!(frames.len(), 5);
        assert!(frames.iter().all(|f| f.width() == 161 && f.height() == 120));
        assert_eq!(
            frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        // SMPTE bars: the top-left pixel is white-ish grey (192,192,192), the second bar yellow
        let px = &frames[0].rgb()[..3];
        assert!(px.iter().all(|&c| c > 150), "{px:?}");
        assert_eq!(stream.frames_dropped(), 0);
    }

    #[test]
    fn a_pipeline_that_will_not_stop_does_not_hold_its_camera() {
        crate::init().unwrap();
        let pipeline = gst::parse::launch("videotestsrc is-live=true ! appsink name=sink")
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let appsink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        // The streaming thread parks in the sink until released, as rtspsrc's task does on a dead peer:
        // going to `Null` has to wait for that thread.
        let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
        let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let _ = sink.pull_sample();
                    let _ = entered_tx.try_send(());
                    let _ = release_rx.recv();
                    Err(gst::FlowError::Flushing)
                })
                .build(),
        );
        pipeline.set_state(gst::State::Playing).unwrap();
        entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let camera = CameraId::new("stuck");
        let started = Instant::now();
        assert!(!stop_pipeline(
            &pipeline,
            &camera,
            Duration::from_millis(200)
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
        // once GStreamer can finish, the background teardown gets the pipeline to `Null`
        drop(release_tx);
        let deadline = Instant::now() + Duration::from_secs(10);
        while pipeline.current_state() != gst::State::Null && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(pipeline.current_state(), gst::State::Null);
        // and a pipeline that stops normally reports so
        let quick = gst::parse::launch("videotestsrc num-buffers=1 ! fakesink")
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        quick.set_state(gst::State::Playing).unwrap();
        assert!(stop_pipeline(&quick, &camera, Duration::from_secs(5)));
        assert_eq!(quick.current_state(), gst::State::Null);
    }
}
