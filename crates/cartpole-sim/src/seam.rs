//! CartPole behind the environment seam of `env-core`: [`CartPole`] is an
//! [`Env`], [`CartPoleBatch`] a [`VecEnv`] (the fast special case of the
//! batched form, stored as a struct of arrays), and [`CartPoleFamily`] makes
//! both for a training loop. The inherent API stays as it is; these impls
//! only translate (actions as indices, errors as [`EnvError`]).

use env_core::{
    Env, EnvError, EnvFamily, EnvSpec, Inconsistency, Obs, ObsMut, ObsSpace, ObsType, Resets, StepOutcome, VecEnv,
};
use rand::RngCore;

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
        id: ID.to_string(),
        obs: ObsSpace::vector(OBS_DIM),
        n_actions: N_ACTIONS,
        max_episode_steps: Some(config.max_episode_steps),
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
            SimError::ResetCount { expected, got } => EnvError::ResetCount { expected, got },
            SimError::Inconsistent(problem) => EnvError::Inconsistent(problem),
        }
    }
}

/// The buffer an observation goes into, checked: `f32` values, four of them.
fn obs_buffer(obs: ObsMut<'_>) -> Result<&mut [f32; OBS_DIM], EnvError> {
    let got = obs.carrier();
    let ObsMut::F32(values) = obs else { return Err(EnvError::ObsType { expected: ObsType::F32, got }) };
    let len = values.len();
    values.try_into().map_err(|_| EnvError::StateLength { what: "observation", expected: OBS_DIM, got: len })
}

impl Env for CartPole {
    fn spec(&self) -> EnvSpec {
        spec(self.config())
    }

    fn reset(&mut self, rng: &mut dyn RngCore, obs: ObsMut<'_>) -> Result<(), EnvError> {
        let obs = obs_buffer(obs)?;
        *obs = CartPole::reset(self, rng);
        Ok(())
    }

    fn reset_to(&mut self, state: &[f64], obs: ObsMut<'_>) -> Result<(), EnvError> {
        let state: [f64; 4] =
            state.try_into().map_err(|_| EnvError::StateLength { what: "state", expected: 4, got: state.len() })?;
        let obs = obs_buffer(obs)?;
        *obs = CartPole::reset_to(self, state)?;
        Ok(())
    }

    fn step(&mut self, action: usize, obs: ObsMut<'_>) -> Result<StepOutcome, EnvError> {
        let obs = obs_buffer(obs)?;
        let out = CartPole::step(self, Action::from_index(action)?)?;
        *obs = out.obs;
        Ok(StepOutcome { reward: out.reward, terminated: out.terminated, truncated: out.truncated })
    }

    fn state(&self) -> &[f64] {
        self.state_ref()
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

    fn observations(&self) -> Obs<'_> {
        Obs::F32(CartPoleBatch::observations(self))
    }

    fn final_observations(&self) -> Obs<'_> {
        Obs::F32(CartPoleBatch::final_observations(self))
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

    fn step(&mut self, actions: &[usize], resets: &mut dyn Resets) -> Result<(), EnvError> {
        if actions.len() != CartPoleBatch::len(self) {
            return Err(EnvError::ActionCount { expected: CartPoleBatch::len(self), got: actions.len() });
        }
        if let Some(&action) = actions.iter().find(|&&a| a >= N_ACTIONS) {
            return Err(EnvError::InvalidAction { action, n_actions: N_ACTIONS });
        }
        env_core::check_resets(resets, actions.len())?;
        self.step_each(|i| if actions[i] == 0 { Action::Left } else { Action::Right }, resets);
        Ok(())
    }

    fn save(&self) -> Result<Vec<u8>, EnvError> {
        Ok(env_core::encode(&StoredBatch::from(self.clone())))
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

    fn single(&self) -> Result<Box<dyn Env>, EnvError> {
        Ok(Box::new(CartPole::new(self.config)?))
    }

    fn batch(&self, n: usize, resets: &mut dyn Resets) -> Result<Box<dyn VecEnv>, EnvError> {
        Ok(Box::new(CartPoleBatch::new(self.config, n, resets)?))
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
