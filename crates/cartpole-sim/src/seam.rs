//! CartPole behind the environment seam of `env-core`: [`CartPole`] is an
//! [`Env`], [`CartPoleBatch`] a [`VecEnv`] (the fast special case of the
//! batched form, stored as a struct of arrays), and [`CartPoleFamily`] makes
//! both for a training loop. The inherent API stays as it is; these impls
//! only translate (actions as indices, errors as [`EnvError`]).

use env_core::{Env, EnvError, EnvFamily, EnvSpec, Inconsistency, StepOutcome, VecEnv};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::batch::StoredBatch;
use crate::{Action, CartPole, CartPoleBatch, EnvConfig, N_ACTIONS, OBS_DIM, SimError};

/// Gymnasium's id of the environment.
pub const ID: &str = "CartPole-v1";

/// The observation ranges for discretising: the termination bounds for x
/// and θ, and for the velocities (unbounded) a range that holds them in
/// practice.
pub const OBS_RANGES: [(f32, f32); 4] = [(-2.4, 2.4), (-3.0, 3.0), (-0.21, 0.21), (-3.5, 3.5)];

fn spec(config: EnvConfig) -> EnvSpec {
    // Gymnasium's thresholds: 475 for v1 (500 steps), 195 for v0 (200).
    let reward_threshold = match config.max_episode_steps {
        500 => Some(475.0),
        200 => Some(195.0),
        _ => None,
    };
    EnvSpec {
        id: ID,
        obs_dim: OBS_DIM,
        n_actions: N_ACTIONS,
        max_episode_steps: config.max_episode_steps,
        reward_threshold,
        obs_ranges: OBS_RANGES.to_vec(),
    }
}

impl From<SimError> for EnvError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::InvalidAction { action } => EnvError::InvalidAction { action, n_actions: N_ACTIONS },
            SimError::NotReset => EnvError::NotReset,
            SimError::EpisodeOver { steps, terminated, truncated } => {
                EnvError::EpisodeOver { steps, terminated, truncated }
            }
            SimError::NonFiniteState { index, value } => EnvError::NonFiniteState { index, value },
            SimError::StateBeyondObservation { index, value } => EnvError::StateBeyondObservation { index, value },
            SimError::ZeroStepLimit => EnvError::ZeroStepLimit,
            SimError::EmptyBatch => EnvError::EmptyBatch,
            SimError::ActionCount { expected, got } => EnvError::ActionCount { expected, got },
            SimError::Inconsistent(problem) => EnvError::Inconsistent(problem),
        }
    }
}

fn copy_obs(from: [f32; 4], obs: &mut [f32]) -> Result<(), EnvError> {
    if obs.len() != OBS_DIM {
        return Err(EnvError::StateLength { what: "observation", expected: OBS_DIM, got: obs.len() });
    }
    obs.copy_from_slice(&from);
    Ok(())
}

impl Env for CartPole {
    fn spec(&self) -> EnvSpec {
        spec(self.config())
    }

    fn reset(&mut self, rng: &mut dyn RngCore, obs: &mut [f32]) {
        let first = CartPole::reset(self, rng);
        obs[..OBS_DIM].copy_from_slice(&first);
    }

    fn reset_to(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let state: [f64; 4] =
            state.try_into().map_err(|_| EnvError::StateLength { what: "state", expected: 4, got: state.len() })?;
        if obs.len() != OBS_DIM {
            return Err(EnvError::StateLength { what: "observation", expected: OBS_DIM, got: obs.len() });
        }
        copy_obs(CartPole::reset_to(self, state)?, obs)
    }

    fn step(&mut self, action: usize, obs: &mut [f32]) -> Result<StepOutcome, EnvError> {
        if obs.len() != OBS_DIM {
            return Err(EnvError::StateLength { what: "observation", expected: OBS_DIM, got: obs.len() });
        }
        let out = CartPole::step(self, Action::from_index(action)?)?;
        obs.copy_from_slice(&out.obs);
        Ok(StepOutcome { reward: out.reward, terminated: out.terminated, truncated: out.truncated })
    }

    fn state(&self) -> &[f64] {
        self.state_ref()
    }

    fn observe(&self, obs: &mut [f32]) {
        obs[..OBS_DIM].copy_from_slice(&self.observation());
    }

    fn elapsed_steps(&self) -> u32 {
        CartPole::elapsed_steps(self)
    }

    fn is_running(&self) -> bool {
        self.is_in_episode()
    }
}

impl VecEnv for CartPoleBatch {
    fn spec(&self) -> EnvSpec {
        spec(self.config())
    }

    fn len(&self) -> usize {
        CartPoleBatch::len(self)
    }

    fn observations(&self) -> &[f32] {
        CartPoleBatch::observations(self)
    }

    fn final_observations(&self) -> &[f32] {
        CartPoleBatch::final_observations(self)
    }

    fn rewards(&self) -> &[f64] {
        CartPoleBatch::rewards(self)
    }

    fn terminated(&self) -> &[bool] {
        CartPoleBatch::terminated(self)
    }

    fn truncated(&self) -> &[bool] {
        CartPoleBatch::truncated(self)
    }

    fn elapsed_steps(&self) -> &[u32] {
        CartPoleBatch::elapsed_steps(self)
    }

    fn rngs(&self) -> &[ChaCha8Rng] {
        CartPoleBatch::rngs(self)
    }

    fn step(&mut self, actions: &[usize]) -> Result<(), EnvError> {
        if actions.len() != CartPoleBatch::len(self) {
            return Err(EnvError::ActionCount { expected: CartPoleBatch::len(self), got: actions.len() });
        }
        if let Some(&action) = actions.iter().find(|&&a| a >= N_ACTIONS) {
            return Err(EnvError::InvalidAction { action, n_actions: N_ACTIONS });
        }
        self.step_each(|i| if actions[i] == 0 { Action::Left } else { Action::Right });
        Ok(())
    }

    fn save(&self) -> Vec<u8> {
        env_core::encode(&StoredBatch::from(self.clone()))
    }
}

/// Makes CartPole environments for a training loop: single [`CartPole`]s and
/// [`CartPoleBatch`]es, with the rules `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartPoleFamily {
    config: EnvConfig,
}

impl CartPoleFamily {
    /// A family of environments with the rules `config`.
    ///
    /// # Errors
    /// [`EnvError::ZeroStepLimit`].
    pub fn new(config: EnvConfig) -> Result<Self, EnvError> {
        CartPole::new(config)?;
        Ok(Self { config })
    }
}

impl EnvFamily for CartPoleFamily {
    fn spec(&self) -> EnvSpec {
        spec(self.config)
    }

    fn single(&self) -> Box<dyn Env> {
        Box::new(CartPole::new(self.config).expect("checked by new"))
    }

    fn batch(&self, rngs: Vec<ChaCha8Rng>) -> Result<Box<dyn VecEnv>, EnvError> {
        Ok(Box::new(CartPoleBatch::new(self.config, rngs)?))
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn VecEnv>, EnvError> {
        let stored: StoredBatch = env_core::decode(saved)?;
        let batch = CartPoleBatch::try_from(stored)?;
        if batch.config() != self.config {
            return Err(EnvError::Inconsistent(Inconsistency::Rules));
        }
        Ok(Box::new(batch))
    }
}
