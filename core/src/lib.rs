//! Shared domain types of Walkout: the values that flow between the crates.
//!
//! In: nothing; this crate sits at the bottom of the workspace and depends on no other Walkout crate.
//! Out: [`Frame`] (a decoded RGB image from one camera, with its sequence number, stream PTS and a capture
//! time on the store's shared clock), [`Detection`] (a classified box in a frame's pixels), [`Appearance`]
//! (a person's colour histogram, to tell shoppers apart), and
//! [`CaptureClock`], the one monotonic clock anchored to wall time that every camera stamps frames with.
//! Threads and state: none. Every type here is plain data, `Send + Sync`, cheap to move between the
//! pipeline's threads.

mod appearance;
mod clock;
mod detection;
mod frame;

pub use appearance::{APPEARANCE_BINS, Appearance, describe_people};
pub use clock::{CaptureClock, CaptureTime};
pub use detection::{BBox, Detection, ObjectKind};
pub use frame::{CameraId, Frame, FrameError};
