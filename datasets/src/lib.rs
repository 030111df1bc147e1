//! The synthetic store and the evaluator.
//!
//! In: a scenario (store, cameras, shoppers, noise, seed), and what a Walkout run produced.
//! Out: rendered multi-camera footage with exact ground truth (MOTChallenge boxes, floor trajectories,
//! events, receipts), and the scores of a run against that truth.
//! Threads and state: file formats and scoring are plain functions over in-memory data.
//! Today it holds the MOTChallenge text format that the tracker and the evaluator exchange.

pub mod mot;
