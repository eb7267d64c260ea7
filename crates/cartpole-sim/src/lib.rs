#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! CartPole-v1, computed exactly as Gymnasium 1.x computes it.
//!
//! The job of this crate is the environment and nothing else: the physics of
//! a pole hinged on a cart, Gymnasium's episode rules (`terminated` when the
//! pole falls or the cart leaves the track, `truncated` at the step limit),
//! and seeded resets. From the same `f64` state and the same actions, every
//! state and observation equals Gymnasium's bit for bit; the golden tests in
//! `tests/golden/` prove it against trajectories recorded from the real
//! `gymnasium` package.
//!
//! Main types:
//! - [`CartPole`]: one environment, reset from a caller-supplied RNG or from an
//!   explicit state.
//! - [`CartPoleBatch`]: N environments stepped together, stored as a struct of
//!   arrays, each resetting from its own RNG (handed in by the caller), with
//!   same-step auto-reset.
//! - [`physics`]: the pure state-transition function both of them use.
//! - [`GymnasiumRng`]: numpy's PCG64 seeded as Gymnasium's `reset(seed)`
//!   seeds it, so resets can match Gymnasium's bit for bit too.
//! - [`EnvConfig`], [`Integrator`], [`Action`], [`Step`], [`SimError`].
//! - Behind `env-core`'s seam: `CartPole` is an `Env`, `CartPoleBatch` a
//!   `VecEnv` (the fast special case of the batched form), and
//!   [`CartPoleFamily`] makes both.
//!
//! What it deliberately does not do: rendering, I/O, logging, owning a global
//! RNG, or knowing anything about agents, replay buffers or networks.

mod batch;
mod env;
mod error;
mod gymnasium_rng;
pub mod physics;
mod seam;

pub use batch::{CartPoleBatch, StoredBatch};
pub use env::{Action, CartPole, EnvConfig, Integrator, Step, StoredCartPole};
pub use error::{Inconsistency, SimError};
pub use gymnasium_rng::GymnasiumRng;
pub use seam::{CartPoleFamily, ID, OBS_RANGES};

/// The length of an observation (and of the state): x, ẋ, θ, θ̇.
pub const OBS_DIM: usize = 4;
/// The number of discrete actions: 0 pushes the cart left, 1 pushes it right.
pub const N_ACTIONS: usize = 2;
