#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! The experience-replay buffer of DQN.
//!
//! A ring buffer of fixed capacity holding transitions `(s, a, r, s′,
//! terminated, truncated)`; once full, each push overwrites the oldest
//! transition. Observations are frames ([`Frame`]: `f32` vectors, `u8`
//! pixels, or binary planes stored one bit a cell), each environment
//! step's stored once, however many transitions and stacks use it, with
//! several environments' episodes interleaved. Mini-batches of distinct
//! transitions are drawn uniformly at random from a caller-supplied RNG
//! into a reusable [`Batch`] as the network's input rows: each observation
//! rebuilt as the stack of its episode's most recent frames, `f32` frames
//! scaled ([`InputFormat`]), byte and bit frames kept as bytes with the
//! table that converts them ([`Rows`]); [`FrameWindow`] builds the same
//! stacks, converted, for acting. Nothing is allocated once a batch has reached its
//! size.
//!
//! Main types: [`ReplayBuffer`] (with [`ReplayConfig`]), [`Transition`]
//! (what is pushed) and [`Record`] (what is read back besides frames),
//! [`Batch`] (what is sampled), [`PriorityTree`] (the sum and minimum of
//! per-slot priorities, for prioritized replay), [`ReplayError`]. A buffer
//! streams to and from bytes for checkpoints ([`ReplayBuffer::write_to`],
//! [`ReplayBuffer::read_from`]).
//!
//! What it deliberately does not do: know what an observation means,
//! compute targets, own an RNG, or depend on the simulator or the network.

mod batch;
mod buffer;
mod error;
mod frame;
mod persist;
mod priority_tree;

pub use batch::{Batch, Rows};
pub use buffer::{Evicted, MAX_ACTION, MAX_ENVS, Record, ReplayBuffer, ReplayConfig, Transition};
pub use error::{Inconsistency, ReplayError};
pub use frame::{Frame, FrameKind, FrameSpec, FrameWindow, InputFormat, MAX_FRAME_LEN, MAX_STACK, Padding, Stacking};
pub use persist::StreamError;
pub use priority_tree::PriorityTree;
