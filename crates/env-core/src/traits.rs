//! The traits of the seam: one environment, a batch of them, and the family
//! that makes both; where a batch draws its resets from; and the check of
//! what a batch hands back.

use rand::RngCore;

use crate::{EnvError, Obs, ObsMut, ObsSpace, OutputProblem};

/// What an environment is: its spaces and its episode rules.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSpec {
    /// Its name, Gymnasium's where it has one (`"CartPole-v1"`).
    pub id: String,
    /// Its observations: shape and element type.
    pub obs: ObsSpace,
    /// The number of discrete actions, `0..n_actions`.
    pub n_actions: usize,
    /// The step on which an episode is truncated; `None` for no limit.
    pub max_episode_steps: Option<u32>,
    /// The mean return over 100 episodes that counts as solved
    /// (Gymnasium's `reward_threshold`), if there is one.
    pub reward_threshold: Option<f64>,
    /// For `f32` vectors, per entry, the range it mostly lies in: the
    /// bounds of the observation space where it has finite ones, a chosen
    /// range where not (for discretising it, say). Empty for other
    /// observations.
    pub obs_ranges: Vec<(f32, f32)>,
}

impl EnvSpec {
    /// The number of values in one observation.
    #[must_use]
    pub fn obs_len(&self) -> usize {
        self.obs.len()
    }
}

/// What one step returns besides the observation (written into the
/// caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutcome {
    /// The reward of the step.
    pub reward: f64,
    /// The episode truly ended: no future reward to bootstrap from.
    pub terminated: bool,
    /// The step limit cut the episode: the future still counts. Both flags
    /// can be set on the same step.
    pub truncated: bool,
}

impl StepOutcome {
    /// Whether the episode is over, for either reason.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// One environment with discrete actions, as a training loop drives it.
///
/// Implement it for an environment of your own (and [`SavedEnv`] to
/// checkpoint it); [`AutoReset`](crate::AutoReset) then steps N of them
/// together. Observations are written into the caller's buffer, of the
/// spec's type and length.
pub trait Env: Send + std::fmt::Debug {
    /// The spaces and rules.
    fn spec(&self) -> EnvSpec;
    /// Starts a new episode from a start drawn with `rng`, writing its
    /// observation into `obs`.
    ///
    /// # Errors
    /// [`EnvError::StateLength`] or [`EnvError::ObsType`] for a buffer that
    /// does not fit, or the environment's own failure
    /// ([`EnvError::Custom`]).
    fn reset(&mut self, rng: &mut dyn RngCore, obs: ObsMut<'_>) -> Result<(), EnvError>;
    /// Advances the episode by one step under `action`, writing the new
    /// observation into `obs`.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`], [`EnvError::NotReset`],
    /// [`EnvError::EpisodeOver`] after the end until the next reset, a
    /// buffer that does not fit; nothing changes then. Or the environment's
    /// own failure.
    fn step(&mut self, action: usize, obs: ObsMut<'_>) -> Result<StepOutcome, EnvError>;
    /// Steps taken since the last reset.
    fn elapsed_steps(&self) -> u32;
    /// Whether an episode is in progress (reset, and not ended since).
    fn is_running(&self) -> bool;
    /// The physical state, for drawing the environment (empty, the
    /// default, for one without a physical state).
    fn state(&self) -> &[f64] {
        &[]
    }
    /// Starts a new episode from exactly `state` (the environment's physical
    /// state, as [`state`](Self::state) returns it).
    ///
    /// # Errors
    /// [`EnvError::StateLength`], [`EnvError::NonFiniteState`], or
    /// [`EnvError::Unsupported`] (the default) for an environment without a
    /// physical state; the environment is left as it was.
    fn reset_to(&mut self, state: &[f64], obs: ObsMut<'_>) -> Result<(), EnvError> {
        let _ = (state, obs);
        Err(EnvError::Unsupported { what: "starting from an explicit state" })
    }
}

/// An environment whose whole state can be saved and read back (for
/// checkpoints): it serializes, and it is read back through a checked
/// stored form.
pub trait SavedEnv: Env + serde::Serialize + Sized {
    /// The form it is read back in, before it is checked (the same
    /// serialized layout).
    type Stored: serde::de::DeserializeOwned;
    /// The environment a stored form describes.
    ///
    /// # Errors
    /// The [`EnvError`] naming what is inconsistent.
    fn from_stored(stored: Self::Stored) -> Result<Self, EnvError>;
    /// Writes the observation of the current state into `obs` (for a
    /// batch read back, which does not store its observations).
    ///
    /// # Errors
    /// As [`Env::reset`] for a buffer that does not fit.
    fn observe(&self, obs: ObsMut<'_>) -> Result<(), EnvError>;
}

/// Where the environments of a batch draw their resets from: environment
/// `i` from its own RNG. The caller owns the RNGs (and saves them with its
/// checkpoints), so no environment needs an RNG of a particular type, and
/// a batch never decides, or collides with, anyone else's stream.
pub trait Resets {
    /// The number of RNGs (at least the batch's size).
    fn count(&self) -> usize;
    /// Environment `env`'s RNG.
    ///
    /// # Panics
    /// For `env ≥ count()`: batches check the count first
    /// ([`check_resets`]).
    fn rng(&mut self, env: usize) -> &mut dyn RngCore;
}

impl<R: RngCore> Resets for Vec<R> {
    fn count(&self) -> usize {
        self.len()
    }

    fn rng(&mut self, env: usize) -> &mut dyn RngCore {
        &mut self[env]
    }
}

/// Refuses fewer reset RNGs than the `n` environments of a batch.
///
/// # Errors
/// [`EnvError::ResetCount`].
pub fn check_resets(resets: &dyn Resets, n: usize) -> Result<(), EnvError> {
    if resets.count() < n {
        return Err(EnvError::ResetCount { expected: n, got: resets.count() });
    }
    Ok(())
}

/// N environments stepped together, each resetting on the same step its
/// episode ends (so the transition to store for every environment is
/// always `(previous obs, action, reward, final obs, terminated,
/// truncated)`, and the next action is chosen from `observations`).
pub trait VecEnv: Send + std::fmt::Debug {
    /// The spaces and rules (of each environment).
    fn spec(&self) -> EnvSpec;
    /// The number of environments.
    fn len(&self) -> usize;
    /// Always false: a batch holds at least one environment.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The observations to act on, one row of the spec's length per
    /// environment: after an end, the first observation of the new episode.
    fn observations(&self) -> Obs<'_>;
    /// The observations the last step led to: for an environment that
    /// ended, the observation it ended in.
    fn final_observations(&self) -> Obs<'_>;
    /// The rewards of the last step.
    fn rewards(&self) -> &[f64];
    /// Which environments terminated on the last step.
    fn terminated(&self) -> &[bool];
    /// Which environments were truncated on the last step.
    fn truncated(&self) -> &[bool];
    /// Steps each environment has taken in its current episode.
    fn elapsed_steps(&self) -> &[u32];
    /// Steps environment `i` under `actions[i]`, resetting those that end
    /// from `resets.rng(i)`.
    ///
    /// # Errors
    /// [`EnvError::ActionCount`], [`EnvError::InvalidAction`] or
    /// [`EnvError::ResetCount`]; nothing is stepped then. Or an
    /// environment's own failure.
    fn step(&mut self, actions: &[usize], resets: &mut dyn Resets) -> Result<(), EnvError>;
    /// The batch's whole state as bytes, for [`EnvFamily::restore`].
    ///
    /// # Errors
    /// [`EnvError::NotSaveable`] for a batch whose family cannot save
    /// ([`EnvFamily::can_save`]).
    fn save(&self) -> Result<Vec<u8>, EnvError>;
}

/// Makes the environments of a run: single ones (greedy episodes, probe
/// states) and batches (training), and restores a saved batch.
pub trait EnvFamily: Send + Sync + std::fmt::Debug {
    /// The spaces and rules.
    fn spec(&self) -> EnvSpec;
    /// A fresh environment, to be reset before its first step.
    ///
    /// # Errors
    /// The environment's own failure to be made.
    fn single(&self) -> Result<Box<dyn Env>, EnvError>;
    /// `n` environments, environment `i` reset once now from
    /// `resets.rng(i)` (and from it at every later auto-reset, which the
    /// caller hands to [`VecEnv::step`]).
    ///
    /// # Errors
    /// [`EnvError::EmptyBatch`] for none, [`EnvError::ResetCount`], or the
    /// environments' own failure.
    fn batch(&self, n: usize, resets: &mut dyn Resets) -> Result<Box<dyn VecEnv>, EnvError>;
    /// Whether its batches can be saved (and so a run on it checkpointed
    /// and resumed). True for every environment of this workspace; an
    /// environment that lives elsewhere may say no, and a run on it then
    /// states up front that it cannot resume.
    fn can_save(&self) -> bool {
        true
    }
    /// The batch that [`VecEnv::save`] saved, checked.
    ///
    /// # Errors
    /// [`EnvError::Decode`] or the inconsistency found;
    /// [`EnvError::NotSaveable`] for a family that cannot save.
    fn restore(&self, saved: &[u8]) -> Result<Box<dyn VecEnv>, EnvError>;
}

/// Checks what `batch` hands back against `spec`: every slice one entry per
/// environment (observations one row of `spec.obs` each, of its type),
/// `f32` observations and rewards finite, binary cells 0 or 1. A batch
/// written elsewhere (Python, say) that returns a short slice or a NaN is
/// then a named error, never a panic or a silent mistake.
///
/// # Errors
/// [`EnvError::Output`] naming the field, the environment and the problem.
pub fn check_outputs(batch: &dyn VecEnv, spec: &EnvSpec) -> Result<(), EnvError> {
    let n = batch.len();
    let bad = |field, env, problem| Err(EnvError::Output { field, env, problem });
    let lengths: [(&'static str, usize); 4] = [
        ("rewards", batch.rewards().len()),
        ("terminated", batch.terminated().len()),
        ("truncated", batch.truncated().len()),
        ("elapsed_steps", batch.elapsed_steps().len()),
    ];
    for (field, got) in lengths {
        if got != n {
            return bad(field, None, OutputProblem::Length { expected: n, got });
        }
    }
    if let Some(i) = batch.rewards().iter().position(|r| !r.is_finite()) {
        return bad("rewards", Some(i), OutputProblem::NonFinite { index: 0, value: batch.rewards()[i] });
    }
    let len = spec.obs.len();
    for (field, obs) in [("observations", batch.observations()), ("final_observations", batch.final_observations())] {
        let expected = n.saturating_mul(len);
        if obs.len() != expected {
            return bad(field, None, OutputProblem::Length { expected, got: obs.len() });
        }
        for i in 0..n {
            let row = obs.row(i, len).expect("the length was checked");
            if let Err(problem) = spec.obs.check_values(row) {
                return bad(field, Some(i), problem);
            }
        }
    }
    Ok(())
}

/// A shared family is a family: runs side by side (a pool) each take a
/// handle to the same one.
impl<F: EnvFamily + ?Sized> EnvFamily for std::sync::Arc<F> {
    fn spec(&self) -> EnvSpec {
        (**self).spec()
    }

    fn single(&self) -> Result<Box<dyn Env>, EnvError> {
        (**self).single()
    }

    fn batch(&self, n: usize, resets: &mut dyn Resets) -> Result<Box<dyn VecEnv>, EnvError> {
        (**self).batch(n, resets)
    }

    fn can_save(&self) -> bool {
        (**self).can_save()
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn VecEnv>, EnvError> {
        (**self).restore(saved)
    }
}
