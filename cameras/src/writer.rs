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

    fn encoder(self, fps: u32) -> Result<String, String> {
        match self.codec {
            VideoCodec::H264 => {
                let key_interval = fps.max(1) * 2;
                if element_exists("x264enc") {
                    Ok(format!(
                        "x264enc speed-preset=veryfast bframes=0 key-int-max={key_interval} ! h264parse"
                    ))
                } else if element_exists("openh264enc") {
                    Ok(format!("openh264enc gop-size={key_interval} ! h264parse"))
                } else {
                    Err("x264enc or openh264enc (gstreamer1.0-plugins-ugly or -bad)".into())
                }
            }
            // JPEG samples are full range (JFIF): convert to that, or decoders wash the colours out.
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

/// Encodes RGB frames into a video file through GStreamer: `appsrc ! videoconvert ! encoder ! muxer !
/// filesink`.
///
/// Frames are timed at exactly `1/fps` apart from zero. `push` blocks while the encoder is busy (the
/// appsrc queue is bounded), so memory stays flat however fast frames come. Call [`VideoWriter::finish`]
/// to write the file's index; a writer dropped without it leaves a file that may not play.
pub struct VideoWriter {
    path: PathBuf,
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    bus: gst::Bus,
    info: gst_video::VideoInfo,
    fps: u32,
    frames: u64,
}

impl std::fmt::Debug for VideoWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoWriter")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

/// How long `finish` waits for the encoder and muxer to drain.
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);

impl VideoWriter {
    pub fn create(
        path: impl AsRef<Path>,
        format: VideoFormat,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<VideoWriter, CameraError> {
        crate::init()?;
        let path = path.as_ref().to_path_buf();
        let fail = |message: String| CameraError::Writer {
            path: path.clone(),
            message,
        };
        if width == 0 || height == 0 || fps == 0 {
            return Err(fail(format!(
                "width, height and fps must be positive ({width}x{height} at {fps})"
            )));
        }
        let encoder = format
            .encoder(fps)
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
            fps,
            frames: 0,
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

    /// Appends one frame; it must have the writer's size.
    pub fn push(&mut self, frame: &Frame) -> Result<(), CameraError> {
        if frame.width() != self.info.width() || frame.height() != self.info.height() {
            return Err(self.error(format!(
                "frame is {}x{}, the video {}x{}",
                frame.width(),
                frame.height(),
                self.info.width(),
                self.info.height()
            )));
        }
        self.push_rgb(frame.rgb())
    }

    /// Appends one frame of packed RGB8 (`width * height * 3` bytes, rows without padding).
    pub fn push_rgb(&mut self, rgb: &[u8]) -> Result<(), CameraError> {
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
            let nanos_per_frame = 1_000_000_000 / u64::from(self.fps);
            buffer.set_pts(gst::ClockTime::from_nseconds(self.frames * nanos_per_frame));
            buffer.set_duration(gst::ClockTime::from_nseconds(nanos_per_frame));
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
