use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::CaptureTime;

/// A camera's id as the store configuration names it (`"entrance"`, `"aisle-3"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CameraId(Arc<str>);

impl CameraId {
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame {width}x{height} RGB needs {expected} bytes, got {actual}")]
    SizeMismatch {
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
    #[error("frame has a zero dimension ({width}x{height})")]
    Empty { width: u32, height: u32 },
}

/// One decoded video frame: packed RGB8, rows without padding.
///
/// The pixels sit behind an `Arc` so that fanning a frame out (to the detector, the dashboard's camera
/// tile, the evidence store) never copies the image.
#[derive(Clone)]
pub struct Frame {
    pub camera: CameraId,
    /// Counts frames delivered by this camera since it was added, gap-free: a dropped frame takes no number.
    pub seq: u64,
    /// The stream's presentation time, re-based so that it never goes backwards.
    pub pts: Option<Duration>,
    /// When the frame was captured, on the store's shared [`crate::CaptureClock`].
    pub captured_at: CaptureTime,
    width: u32,
    height: u32,
    rgb: Arc<[u8]>,
}

impl Frame {
    pub fn new(
        camera: CameraId,
        seq: u64,
        pts: Option<Duration>,
        captured_at: CaptureTime,
        width: u32,
        height: u32,
        rgb: impl Into<Arc<[u8]>>,
    ) -> Result<Self, FrameError> {
        if width == 0 || height == 0 {
            return Err(FrameError::Empty { width, height });
        }
        let rgb = rgb.into();
        let expected = width as usize * height as usize * 3;
        if rgb.len() != expected {
            return Err(FrameError::SizeMismatch {
                width,
                height,
                expected,
                actual: rgb.len(),
            });
        }
        Ok(Self {
            camera,
            seq,
            pts,
            captured_at,
            width,
            height,
            rgb,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Packed RGB8 pixels, `width * height * 3` bytes, row-major.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("camera", &self.camera)
            .field("seq", &self.seq)
            .field("pts", &self.pts)
            .field("captured_at", &self.captured_at)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_checks_its_buffer_size() {
        let camera = CameraId::new("cam-1");
        let at = CaptureTime::from_unix_millis(0);
        let ok = Frame::new(camera.clone(), 0, None, at, 2, 2, vec![0u8; 12]);
        assert_eq!(ok.map(|f| f.rgb().len()), Ok(12));
        let short = Frame::new(camera.clone(), 0, None, at, 2, 2, vec![0u8; 11]);
        assert_eq!(
            short.err(),
            Some(FrameError::SizeMismatch {
                width: 2,
                height: 2,
                expected: 12,
                actual: 11
            })
        );
        let empty = Frame::new(camera, 0, None, at, 0, 2, Vec::<u8>::new());
        assert_eq!(
            empty.err(),
            Some(FrameError::Empty {
                width: 0,
                height: 2
            })
        );
    }
}
