//! The synthetic store and the evaluator.
//!
//! In: a scenario (store, cameras, shoppers, noise, seed), and what a Walkout run produced.
//! Out: rendered multi-camera footage with exact ground truth (MOTChallenge boxes, floor trajectories,
//! events, receipts), and the scores of a run against that truth.
//! Threads and state: file formats and scoring are plain functions over in-memory data.
//! Today it holds the scenario format with its presets ([`scenario`], [`presets`]), the ground truth that
//! follows from a scenario without rendering ([`truth`]; per-camera boxes are left for the renderer), the
//! scoring of a run ([`eval`], with MOTA / IDF1 / HOTA in [`tracking`]), and the MOTChallenge text format
//! ([`mot`]) that the tracker and the evaluator exchange. Rendering is not written yet.

mod assignment;
pub mod eval;
pub mod mot;
pub mod presets;
pub mod scenario;
pub mod tracking;
pub mod truth;

pub use eval::{Metrics, Prediction, ScoringConfig, score};
pub use presets::{PRESETS, PresetError, preset};
pub use scenario::{Scenario, ScenarioError, ValidationError};
pub use truth::{GroundTruth, TruthError, read_dataset, write_dataset};
