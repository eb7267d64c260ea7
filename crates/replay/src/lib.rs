#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! The experience-replay buffer of DQN.
//!
//! A ring buffer of fixed capacity holding transitions `(s, a, r, s′,
//! terminated, truncated)` as a struct of arrays; once full, each push
//! overwrites the oldest transition. Mini-batches of distinct transitions are
//! drawn uniformly at random from a caller-supplied RNG into a reusable
//! [`Batch`], which allocates nothing once it has reached its size.
//!
//! Main types: [`ReplayBuffer`], [`Transition`] (what is pushed and read
//! back), [`Batch`] (what is sampled), [`PriorityTree`] (the sum and minimum
//! of per-slot priorities, for prioritized replay), [`ReplayError`].
//!
//! What it deliberately does not do: know what an observation means (they
//! are `f32` slices of a fixed length), compute targets, own an RNG, or
//! depend on the simulator or the network.

mod batch;
mod buffer;
mod error;
mod priority_tree;

pub use batch::Batch;
pub use buffer::{ReplayBuffer, StoredReplay, Transition};
pub use error::{Inconsistency, ReplayError};
pub use priority_tree::PriorityTree;
