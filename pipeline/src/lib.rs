//! The store's logic from detections to carts: tracking, calibration, cross-camera fusion, shelf events,
//! sessions and carts.
//!
//! In: per-frame [`walkout_core::Detection`]s from every camera, app check-ins, and weight-sensor
//! readings. Out: tracks, one global shopper id per person from entry to exit, pick-up and put-back events
//! attributed to sessions with a confidence, and each session's cart.
//! Threads and state: pure logic with no I/O (no GStreamer, ONNX Runtime, HTTP or SQL); stages run on
//! plain threads joined by bounded crossbeam channels, and everything downstream of detection is lossless.
//! Built so far: camera calibration ([`calibration`]) and the per-camera tracker ([`tracker`], Kalman
//! filter plus ByteTrack association), and shelf events with the carts and inventory that fold
//! them ([`cart`]), and cross-camera fusion into one shopper id on the floor plan ([`fusion`]);
//! sessions binding app check-ins to shoppers ([`sessions`]), and pick-up and put-back detection
//! with attribution ([`shelf`]); identity doubts checked against the clear views that follow them
//! ([`verify`]); [`store`] runs them together as one stage, and [`stage`] is the
//! plumbing: threads, bounded edges with declared back-pressure, per-stage counters.

mod assignment;
pub mod calibration;
pub mod cart;
pub mod fusion;
pub mod kalman;
pub mod sessions;
pub mod shelf;
pub mod stage;
pub mod store;
pub mod tracker;
pub mod verify;

pub use assignment::assign;
pub use tracker::{Track, TrackInput, TrackState, Tracker, TrackerConfig};
