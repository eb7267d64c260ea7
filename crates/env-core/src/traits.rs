//! The traits of the seam: one environment, a batch of them, and the family
//! that makes both.

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::EnvError;

/// What an environment is: its spaces and its episode rules.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSpec {
    /// Its name, Gymnasium's where it has one (`"CartPole-v1"`).
    pub id: &'static str,
    /// The length of an observation.
    pub obs_dim: usize,
    /// The number of discrete actions, `0..n_actions`.
    pub n_actions: usize,
    /// The step on which an episode is truncated.
    pub max_episode_steps: u32,
    /// The mean return over 100 episodes that counts as solved
    /// (Gymnasium's `reward_threshold`), if there is one.
    pub reward_threshold: Option<f64>,
    /// Per observation entry, the range it mostly lies in: the bounds of
    /// the observation space where it has finite ones, a chosen range where
    /// not (for discretising it, say).
    pub obs_ranges: Vec<(f32, f32)>,
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
/// together.
pub trait Env: Send + std::fmt::Debug {
    /// The spaces and rules.
    fn spec(&self) -> EnvSpec;
    /// Starts a new episode from a start drawn with `rng`, writing its
    /// observation into `obs` (of length `spec().obs_dim`).
    fn reset(&mut self, rng: &mut dyn RngCore, obs: &mut [f32]);
    /// Starts a new episode from exactly `state` (the environment's physical
    /// state, as [`state`](Self::state) returns it).
    ///
    /// # Errors
    /// [`EnvError::StateLength`], [`EnvError::NonFiniteState`], or
    /// [`EnvError::Unsupported`] for an environment without a physical
    /// state; the environment is left as it was.
    fn reset_to(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError>;
    /// Advances the episode by one step under `action`, writing the new
    /// observation into `obs`.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`], [`EnvError::NotReset`],
    /// [`EnvError::EpisodeOver`] after the end until the next reset;
    /// nothing changes then.
    fn step(&mut self, action: usize, obs: &mut [f32]) -> Result<StepOutcome, EnvError>;
    /// The physical state (empty for an environment without one).
    fn state(&self) -> &[f64];
    /// Writes the observation of the current state into `obs`.
    fn observe(&self, obs: &mut [f32]);
    /// Steps taken since the last reset.
    fn elapsed_steps(&self) -> u32;
    /// Whether an episode is in progress (reset, and not ended since).
    fn is_running(&self) -> bool;
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
    /// The observations to act on, `len() × obs_dim` row-major: after an
    /// end, the first observation of the new episode.
    fn observations(&self) -> &[f32];
    /// The observations the last step led to: for an environment that
    /// ended, the observation it ended in.
    fn final_observations(&self) -> &[f32];
    /// The rewards of the last step.
    fn rewards(&self) -> &[f64];
    /// Which environments terminated on the last step.
    fn terminated(&self) -> &[bool];
    /// Which environments were truncated on the last step.
    fn truncated(&self) -> &[bool];
    /// Steps each environment has taken in its current episode.
    fn elapsed_steps(&self) -> &[u32];
    /// Each environment's reset RNG.
    fn rngs(&self) -> &[ChaCha8Rng];
    /// Steps environment `i` under `actions[i]`, resetting those that end.
    ///
    /// # Errors
    /// [`EnvError::ActionCount`] or [`EnvError::InvalidAction`]; nothing is
    /// stepped then.
    fn step(&mut self, actions: &[usize]) -> Result<(), EnvError>;
    /// The batch's whole state as bytes, for [`EnvFamily::restore`].
    fn save(&self) -> Vec<u8>;
}

/// Makes the environments of a run: single ones (greedy episodes, probe
/// states) and batches (training), and restores a saved batch.
pub trait EnvFamily: Send + Sync + std::fmt::Debug {
    /// The spaces and rules.
    fn spec(&self) -> EnvSpec;
    /// A fresh environment, to be reset before its first step.
    fn single(&self) -> Box<dyn Env>;
    /// One environment per RNG, each reset once from it (and from it at
    /// every later auto-reset).
    ///
    /// # Errors
    /// [`EnvError::EmptyBatch`] for no RNGs.
    fn batch(&self, rngs: Vec<ChaCha8Rng>) -> Result<Box<dyn VecEnv>, EnvError>;
    /// The batch that [`VecEnv::save`] saved, checked.
    ///
    /// # Errors
    /// [`EnvError::Decode`] or the inconsistency found.
    fn restore(&self, saved: &[u8]) -> Result<Box<dyn VecEnv>, EnvError>;
}
