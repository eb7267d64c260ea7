#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! The environment seam: what a training loop needs of an environment, and
//! the pieces every classic-control environment shares.
//!
//! - [`ObsSpace`]: what an observation is — a shape and an element type
//!   ([`ObsType`]: `f32` vectors, `u8` pixels, binary planes) — and
//!   [`Obs`], [`ObsMut`], [`ObsBuf`] the observations themselves.
//! - [`Env`]: one environment with discrete actions — its [`EnvSpec`]
//!   (id, observation space, actions, step limit, reward threshold),
//!   `reset` from a caller-supplied RNG, `step` returning a [`StepOutcome`]
//!   with `terminated` and `truncated` kept apart; both fallible, so an
//!   environment written elsewhere reports its own failures.
//! - [`VecEnv`]: N environments stepped together with same-step auto-reset
//!   (the final observation of an episode that ended is kept apart), their
//!   observations in one buffer, their resets drawn from RNGs the caller
//!   holds ([`Resets`]); [`AutoReset`] gives any single environment that
//!   form, and [`check_outputs`] checks what a batch hands back.
//! - [`DuplicateAction`]: any family with copies of one action appended
//!   (many actions of the same value, for dueling networks' claim).
//! - [`EnvFamily`]: makes a run's environments (single ones for greedy
//!   episodes, a batch for training), says whether they can be saved, and
//!   restores a saved batch.
//! - [`Dynamics`] and [`Episodic`]: an environment written as its pure
//!   physics, wrapped in Gymnasium's episode rules (the step limit, the end
//!   of an episode, the checked stored form) once for all of them.
//! - [`EnvError`]: what can go wrong, for every environment.
//!
//! What it deliberately does not do: know any particular environment,
//! agents, replay buffers or networks; own or require an RNG of any type;
//! do I/O (saving is to bytes). With the `golden` feature, the `golden` module checks an environment
//! against Gymnasium's recorded trajectories (for the environment crates'
//! tests).

mod auto_reset;
mod duplicate;
mod episodic;
mod error;
#[cfg(feature = "golden")]
pub mod golden;
mod space;
mod traits;
#[cfg(feature = "bench")]
pub mod workload;

pub use auto_reset::{AutoReset, StoredAutoReset};
pub use duplicate::{DuplicateAction, MAX_COPIES};
pub use episodic::{Dynamics, Episodic, EpisodicFamily, Phase, StoredEpisodic};
pub use error::{EnvError, Inconsistency, OutputProblem};
pub use space::{MAX_OBS_LEN, Obs, ObsBuf, ObsElement, ObsMut, ObsSpace, ObsType};
pub use traits::{Env, EnvFamily, EnvSpec, Resets, SavedEnv, StepOutcome, VecEnv, check_outputs, check_resets};

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
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(EnvError::Decode)?;
    if !rest.is_empty() {
        return Err(EnvError::DecodeTrailing { extra: rest.len() });
    }
    Ok(value)
}
