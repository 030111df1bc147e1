use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use serde::{Deserialize, Serialize};
use walkout_core::Frame;

use crate::CameraError;

/// How the pictures are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 (x264, or OpenH264 where x264 is missing), no B-frames so that streams start anywhere.
    H264,
    /// Motion JPEG: every frame a JPEG; large files, trivially seekable.
    Mjpeg,
}

/// The file the pictures go into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Mp4,
    Avi,
    Matroska,
}

/// A codec in a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoFormat {
    /// How the pictures are compressed.
    pub codec: VideoCodec,
    /// The file format around them.
    pub container: Container,
}

impl VideoFormat {
    pub const H264_MP4: VideoFormat = VideoFormat {
        codec: VideoCodec::H264,
        container: Container::Mp4,
    };
    pub const MJPEG_AVI: VideoFormat = VideoFormat {
        codec: VideoCodec::Mjpeg,
        container: Container::Avi,
    };
    pub const H264_MATROSKA: VideoFormat = VideoFormat {
        codec: VideoCodec::H264,
        container: Container::Matroska,
    };

    /// The usual format for a file name: `.mp4`/`.mov` H.264 in MP4, `.avi` MJPEG in AVI, `.mkv` H.264 in
    /// Matroska.
    pub fn from_extension(path: &Path) -> Option<VideoFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "mp4" | "mov" | "m4v" => Some(Self::H264_MP4),
            "avi" => Some(Self::MJPEG_AVI),
            "mkv" => Some(Self::H264_MATROSKA),
            _ => None,
        }
    }

    fn encoder(self, fps: u32, bitrate_kbps: Option<u32>) -> Result<String, String> {
        match self.codec {
            VideoCodec::H264 => {
                let key_interval = fps.max(1) * 2;
                if element_exists("x264enc") {
                    // x264enc's default is constant bitrate at 2048 kbit/s.
                    let bitrate = bitrate_kbps.map_or(String::new(), |k| format!(" bitrate={k}"));
                    Ok(format!(
                        "x264enc speed-preset=veryfast bframes=0 key-int-max={key_interval}{bitrate} ! h264parse"
                    ))
                } else if element_exists("openh264enc") {
                    // openh264enc counts bits, not kilobits, and ignores the target in its default
                    // quality mode.
                    let bitrate = bitrate_kbps.map_or(String::new(), |k| {
                        format!(" rate-control=bitrate bitrate={}", u64::from(k) * 1000)
                    });
                    Ok(format!(
                        "openh264enc gop-size={key_interval}{bitrate} ! h264parse"
                    ))
                } else {
                    Err("x264enc or openh264enc (gstreamer1.0-plugins-ugly or -bad)".into())
                }
            }
            // JPEG samples are full range (JFIF): convert to that, or decoders wash the colours out.
            // JPEG has no bitrate target; `bitrate_kbps` is refused for it when the writer is created.
            VideoCodec::Mjpeg => Ok("jpegenc quality=90".into()),
        }
    }

    /// What the encoder is fed: I420, which every encoder here accepts (and 4:2:0 MJPEG keeps RTP/JPEG
    /// payloaders happy); full range for JPEG, whose samples are full range by definition, or decoders
    /// would wash the colours out.
    fn raw_caps(self) -> &'static str {
        match self.codec {
            VideoCodec::H264 => "video/x-raw,format=I420",
            VideoCodec::Mjpeg => "video/x-raw,format=I420,colorimetry=(string)1:4:0:0",
        }
    }

    fn muxer(self) -> &'static str {
        match self.container {
            Container::Mp4 => "mp4mux",
            Container::Avi => "avimux",
            Container::Matroska => "matroskamux",
        }
    }
}

fn element_exists(name: &str) -> bool {
    gst::ElementFactory::find(name).is_some()
}

/// Everything a [`VideoWriter`] needs besides the file's path; fixed once the writer is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriterSettings {
    /// Codec and container.
    pub format: VideoFormat,
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Nominal frame rate: frame `k` (from 0) of an unbroken recording is at `k / fps` seconds.
    pub fps: u32,
    /// Target bitrate of the H.264 encoder, kilobits per second (x264enc `bitrate`, openh264enc `bitrate`
    /// in bits with bitrate rate control); `None` keeps the encoder's default (x264enc: 2048 kbit/s
    /// constant bitrate). MJPEG has no bitrate target, so a bitrate with MJPEG is refused.
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
}

impl WriterSettings {
    /// Settings with the encoder's default bitrate.
    pub fn new(format: VideoFormat, width: u32, height: u32, fps: u32) -> Self {
        Self {
            format,
            width,
            height,
            fps,
            bitrate_kbps: None,
        }
    }

    /// The same settings with a target bitrate (`None`: the encoder's default).
    pub fn with_bitrate_kbps(self, bitrate_kbps: Option<u32>) -> Self {
        Self {
            bitrate_kbps,
            ..self
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.width == 0 || self.height == 0 || self.fps == 0 {
            problems.push(format!(
                "width, height and fps must be positive ({}x{} at {})",
                self.width, self.height, self.fps
            ));
        }
        match (self.bitrate_kbps, self.format.codec) {
            (Some(0), _) => problems.push("bitrate_kbps must be positive".into()),
            (Some(kbps), VideoCodec::Mjpeg) => problems.push(format!(
                "bitrate_kbps ({kbps}) needs H.264: MJPEG has no bitrate target"
            )),
            _ => {}
        }
        problems
    }
}

/// Encodes RGB frames into a video file through GStreamer: `appsrc ! videoconvert ! encoder ! muxer !
/// filesink`.
///
/// Every frame carries a presentation timestamp: [`VideoWriter::push_rgb`] times frames one interval
/// (`1 / fps`) after the previous one, from zero; [`VideoWriter::push_rgb_at`] takes an explicit PTS, so
/// that a frame a camera dropped is a real gap in the file's timestamps (the previous sample lasts longer)
/// rather than a repeated picture. `push` blocks while the encoder is busy (the appsrc queue is bounded),
/// so memory stays flat however fast frames come. Call [`VideoWriter::finish`] to write the file's index;
/// a writer dropped without it leaves a file that may not play.
pub struct VideoWriter {
    path: PathBuf,
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    bus: gst::Bus,
    info: gst_video::VideoInfo,
    format: VideoFormat,
    fps: u32,
    frames: u64,
    last_pts: Option<Duration>,
    /// The frame slot (`pts * fps`, to the nearest) after the last frame pushed: where `push_rgb` goes.
    next_slot: u64,
}

impl std::fmt::Debug for VideoWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoWriter")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .field("last_pts", &self.last_pts)
            .finish_non_exhaustive()
    }
}

/// How long `finish` waits for the encoder and muxer to drain.
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);

const NANOS_PER_SEC: u128 = 1_000_000_000;

impl VideoWriter {
    /// A writer with the encoder's default bitrate; see [`VideoWriter::open`].
    pub fn create(
        path: impl AsRef<Path>,
        format: VideoFormat,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<VideoWriter, CameraError> {
        Self::open(path, &WriterSettings::new(format, width, height, fps))
    }

    /// Starts the encoding pipeline writing to `path`.
    pub fn open(
        path: impl AsRef<Path>,
        settings: &WriterSettings,
    ) -> Result<VideoWriter, CameraError> {
        crate::init()?;
        let path = path.as_ref().to_path_buf();
        let fail = |message: String| CameraError::Writer {
            path: path.clone(),
            message,
        };
        let problems = settings.problems();
        if !problems.is_empty() {
            return Err(fail(problems.join("; ")));
        }
        let WriterSettings {
            format,
            width,
            height,
            fps,
            bitrate_kbps,
        } = *settings;
        let encoder =
            format
                .encoder(fps, bitrate_kbps)
                .map_err(|element| CameraError::MissingElement {
                    camera: path.display().to_string(),
                    element,
                })?;
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width, height)
            .fps(gst::Fraction::new(fps as i32, 1))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let launch = format!(
            "appsrc name=src format=time block=true max-bytes={} ! videoconvert ! {} ! {encoder} ! {} ! \
             filesink name=sink",
            info.size() * 4,
            format.raw_caps(),
            format.muxer()
        );
        let pipeline = gst::parse::launch(&launch)
            .map_err(|e| fail(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| fail("not a pipeline".into()))?;
        let appsrc = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| fail("no appsrc".into()))?;
        let sink = pipeline
            .by_name("sink")
            .ok_or_else(|| fail("no filesink".into()))?;
        sink.set_property("location", path.display().to_string());
        let caps = info.to_caps().map_err(|e| fail(e.to_string()))?;
        appsrc.set_caps(Some(&caps));
        let bus = pipeline
            .bus()
            .ok_or_else(|| fail("pipeline has no bus".into()))?;
        let writer = VideoWriter {
            path: path.clone(),
            pipeline,
            appsrc,
            bus,
            info,
            format,
            fps,
            frames: 0,
            last_pts: None,
            next_slot: 0,
        };
        if writer.pipeline.set_state(gst::State::Playing).is_err() {
            return Err(writer
                .bus_error()
                .unwrap_or_else(|| fail("the pipeline refused to start".into())));
        }
        Ok(writer)
    }

    /// Frames pushed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The PTS of frame `index` (from 0) of an unbroken recording at the writer's rate: `index / fps`
    /// seconds, to the nanosecond (rounded down), without drift however long the recording.
    pub fn frame_pts(&self, index: u64) -> Duration {
        let nanos = u128::from(index) * NANOS_PER_SEC / u128::from(self.fps);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Appends one frame one interval after the previous one (at zero when it is the first); it must have
    /// the writer's size.
    pub fn push(&mut self, frame: &Frame) -> Result<(), CameraError> {
        self.check_size(frame)?;
        self.push_rgb(frame.rgb())
    }

    /// Appends one frame at `pts`, which must be later than the previous frame's.
    pub fn push_at(&mut self, frame: &Frame, pts: Duration) -> Result<(), CameraError> {
        self.check_size(frame)?;
        self.push_rgb_at(frame.rgb(), pts)
    }

    /// Appends one frame of packed RGB8 (`width * height * 3` bytes, rows without padding), one interval
    /// after the previous frame (at zero when it is the first).
    pub fn push_rgb(&mut self, rgb: &[u8]) -> Result<(), CameraError> {
        let pts = self.frame_pts(self.next_slot);
        self.push_rgb_at(rgb, pts)
    }

    /// Appends one frame of packed RGB8 at `pts`, which must be later than the previous frame's. Leaving
    /// out a frame slot leaves a gap in the file's timestamps: decoders see the frames around it at their
    /// own times, and nothing in between.
    ///
    /// What the container cannot hold is refused rather than silently shifted: AVI times frames by their
    /// count, so it takes no gap at all; MP4 files start at their first frame (mp4mux re-bases it to zero),
    /// so the first frame must be at zero there. Matroska keeps both.
    pub fn push_rgb_at(&mut self, rgb: &[u8], pts: Duration) -> Result<(), CameraError> {
        self.check_timing(pts)
            .map_err(|message| self.error(message))?;
        let (width, height) = (self.info.width() as usize, self.info.height() as usize);
        let row_bytes = width * 3;
        if rgb.len() != row_bytes * height {
            return Err(self.error(format!(
                "expected {} bytes of RGB for {width}x{height}, got {}",
                row_bytes * height,
                rgb.len()
            )));
        }
        let stride = self.info.stride()[0] as usize;
        let mut buffer =
            gst::Buffer::with_size(self.info.size()).map_err(|e| self.error(e.to_string()))?;
        {
            let buffer = buffer
                .get_mut()
                .ok_or_else(|| self.error("new buffer not writable".into()))?;
            buffer.set_pts(gst::ClockTime::from_nseconds(pts.as_nanos() as u64));
            buffer.set_duration(gst::ClockTime::from_nseconds(
                (NANOS_PER_SEC / u128::from(self.fps)) as u64,
            ));
            let mut map = buffer
                .map_writable()
                .map_err(|e| self.error(e.to_string()))?;
            // GStreamer pads RGB rows to a multiple of 4 bytes.
            for (dst, src) in map
                .as_mut_slice()
                .chunks_mut(stride)
                .zip(rgb.chunks(row_bytes))
            {
                dst[..row_bytes].copy_from_slice(src);
            }
        }
        if self.appsrc.push_buffer(buffer).is_err() {
            return Err(self
                .bus_error()
                .unwrap_or_else(|| self.error("the encoder stopped taking frames".into())));
        }
        self.frames += 1;
        self.last_pts = Some(pts);
        self.next_slot = self.slot_of(pts).saturating_add(1);
        Ok(())
    }

    fn slot_of(&self, pts: Duration) -> u64 {
        // Nearest, not rounded down: `frame_pts` rounds down, so `frame_pts(k) * fps` falls just short of k.
        let slot = (pts.as_nanos() * u128::from(self.fps) + NANOS_PER_SEC / 2) / NANOS_PER_SEC;
        u64::try_from(slot).unwrap_or(u64::MAX)
    }

    fn check_timing(&self, pts: Duration) -> Result<(), String> {
        if let Some(last) = self.last_pts
            && pts <= last
        {
            return Err(format!(
                "frame at {pts:?} does not come after the previous frame at {last:?}"
            ));
        }
        match self.format.container {
            Container::Avi if self.slot_of(pts) != self.next_slot => Err(format!(
                "frame at {pts:?} leaves a gap after frame slot {}: AVI times frames by their count \
                 and cannot hold gaps (write MP4 or Matroska)",
                self.next_slot
            )),
            Container::Mp4 if self.last_pts.is_none() && !pts.is_zero() => Err(format!(
                "the first frame is at {pts:?}: MP4 starts a file at its first frame, so it must be at \
                 zero (Matroska keeps a late start)"
            )),
            _ => Ok(()),
        }
    }

    fn check_size(&self, frame: &Frame) -> Result<(), CameraError> {
        if frame.width() != self.info.width() || frame.height() != self.info.height() {
            return Err(self.error(format!(
                "frame is {}x{}, the video {}x{}",
                frame.width(),
                frame.height(),
                self.info.width(),
                self.info.height()
            )));
        }
        Ok(())
    }

    /// Ends the stream, waits until the file is complete and closes it; returns the frames written.
    pub fn finish(self) -> Result<u64, CameraError> {
        if self.appsrc.end_of_stream().is_err() {
            return Err(self
                .bus_error()
                .unwrap_or_else(|| self.error("could not end the stream".into())));
        }
        let message = self.bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(FINISH_TIMEOUT.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => Ok(self.frames),
            Some(gst::MessageView::Error(err)) => {
                Err(self.error(format!("{} ({:?})", err.error(), err.debug())))
            }
            _ => Err(self.error("timed out waiting for the file to be written".into())),
        }
    }

    fn error(&self, message: String) -> CameraError {
        CameraError::Writer {
            path: self.path.clone(),
            message,
        }
    }

    fn bus_error(&self) -> Option<CameraError> {
        let message = self.bus.pop_filtered(&[gst::MessageType::Error])?;
        match message.view() {
            gst::MessageView::Error(err) => Some(self.error(format!(
                "{} ({})",
                err.error(),
                err.debug().map(|d| d.to_string()).unwrap_or_default()
            ))),
            _ => None,
        }
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
