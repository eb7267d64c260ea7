#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! The environment seam: what a training loop needs of an environment, and
//! the pieces every classic-control environment shares.
//!
//! - [`Env`]: one environment with discrete actions — its [`EnvSpec`]
//!   (observation size, actions, step limit, reward threshold), `reset`
//!   from a caller-supplied RNG, an explicit-state start, `step` returning a
//!   [`StepOutcome`] with `terminated` and `truncated` kept apart.
//! - [`VecEnv`]: N environments stepped together with same-step auto-reset
//!   (the final observation of an episode that ended is kept apart);
//!   [`AutoReset`] gives any single environment that form.
//! - [`DuplicateAction`]: any family with copies of one action appended
//!   (many actions of the same value, for dueling networks' claim).
//! - [`EnvFamily`]: makes a run's environments (single ones for greedy
//!   episodes, a batch for training) and restores a saved batch.
//! - [`Dynamics`] and [`Episodic`]: an environment written as its pure
//!   physics, wrapped in Gymnasium's episode rules (the step limit, the end
//!   of an episode, the checked stored form) once for all of them.
//! - [`EnvError`]: what can go wrong, for every environment.
//!
//! What it deliberately does not do: know any particular environment,
//! agents, replay buffers or networks; own an RNG; do I/O (saving is to
//! bytes). With the `golden` feature, the `golden` module checks an environment
//! against Gymnasium's recorded trajectories (for the environment crates'
//! tests).

mod auto_reset;
mod duplicate;
mod episodic;
mod error;
#[cfg(feature = "golden")]
pub mod golden;
mod traits;
#[cfg(feature = "bench")]
pub mod workload;

pub use auto_reset::{AutoReset, StoredAutoReset};
pub use duplicate::{DuplicateAction, MAX_COPIES};
pub use episodic::{Dynamics, Episodic, EpisodicFamily, Phase, StoredEpisodic};
pub use error::{EnvError, Inconsistency};
pub use traits::{Env, EnvFamily, EnvSpec, SavedEnv, StepOutcome, VecEnv};

/// The bytes of a saved value (postcard), for [`VecEnv::save`].
#[must_use]
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("an environment's state always encodes")
}

/// A value decoded from [`encode`]'s bytes, all of them.
///
/// # Errors
/// [`EnvError::Decode`] if the bytes do not decode, or some are left over.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, EnvError> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| EnvError::Decode { reason: e.to_string() })?;
    if !rest.is_empty() {
        return Err(EnvError::Decode { reason: format!("{} bytes left after the content", rest.len()) });
    }
    Ok(value)
}
