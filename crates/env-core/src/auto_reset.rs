//! [`AutoReset`]: any single environment in the batched form, N of them
//! stepped together with same-step auto-reset, each resetting from its own
//! RNG.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{EnvError, EnvSpec, Inconsistency, SavedEnv, VecEnv};

/// N environments of one kind stepped together. When environment `i` ends
/// on a step (terminated, truncated or both), the same call resets it from
/// its RNG: [`final_observations`](VecEnv::final_observations) row `i` holds
/// the observation the episode ended in, [`observations`](VecEnv::observations)
/// row `i` the new episode's first. No step is ever lost to a reset.
///
/// Saves its environments and RNGs; the outputs of the last step are not
/// saved, so a restored batch reports its current observations as the
/// final ones, as a new batch does.
#[derive(Debug, Clone)]
pub struct AutoReset<E> {
    envs: Vec<E>,
    rngs: Vec<ChaCha8Rng>,
    obs_dim: usize,
    n_actions: usize,
    observations: Vec<f32>,
    final_observations: Vec<f32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    elapsed_steps: Vec<u32>,
}

/// What an [`AutoReset`] saves.
#[derive(Serialize)]
struct SavedAutoReset<'a, E> {
    envs: &'a [E],
    rngs: &'a [ChaCha8Rng],
}

/// An [`AutoReset`] as saved, before it is checked: each environment in its
/// stored form.
#[derive(Debug, Deserialize)]
pub struct StoredAutoReset<S> {
    envs: Vec<S>,
    rngs: Vec<ChaCha8Rng>,
}

impl<E: SavedEnv> AutoReset<E> {
    /// One environment per RNG (all of one kind: `envs[i]` resets from
    /// `rngs[i]`), each reset once now.
    ///
    /// # Errors
    /// [`EnvError::EmptyBatch`] for none, [`Inconsistency::BatchLengths`]
    /// if the lengths differ.
    pub fn new(mut envs: Vec<E>, mut rngs: Vec<ChaCha8Rng>) -> Result<Self, EnvError> {
        if envs.is_empty() {
            return Err(EnvError::EmptyBatch);
        }
        if envs.len() != rngs.len() {
            let (states, rngs) = (envs.len(), rngs.len());
            return Err(EnvError::Inconsistent(Inconsistency::BatchLengths { states, step_counts: states, rngs }));
        }
        let obs_dim = envs[0].spec().obs_dim;
        let mut observations = vec![0.0; envs.len() * obs_dim];
        for ((env, rng), obs) in envs.iter_mut().zip(&mut rngs).zip(observations.chunks_exact_mut(obs_dim.max(1))) {
            env.reset(rng, obs);
        }
        Ok(Self::assemble(envs, rngs, obs_dim, observations))
    }

    fn assemble(envs: Vec<E>, rngs: Vec<ChaCha8Rng>, obs_dim: usize, observations: Vec<f32>) -> Self {
        let n = envs.len();
        let elapsed_steps = envs.iter().map(|e| e.elapsed_steps()).collect();
        let n_actions = envs[0].spec().n_actions;
        Self {
            envs,
            rngs,
            obs_dim,
            n_actions,
            final_observations: observations.clone(),
            observations,
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            elapsed_steps,
        }
    }

    /// The environments.
    #[must_use]
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    /// The batch [`VecEnv::save`] saved, checked: each environment through
    /// its stored form, and each must be in an episode (a batch never holds
    /// one that ended: it resets on that step).
    ///
    /// # Errors
    /// [`EnvError::Decode`], the environments' own errors, or an
    /// [`Inconsistency`].
    pub fn restore(saved: &[u8]) -> Result<Self, EnvError> {
        let stored: StoredAutoReset<E::Stored> = crate::decode(saved)?;
        Self::try_from(stored)
    }
}

impl<E: SavedEnv> TryFrom<StoredAutoReset<E::Stored>> for AutoReset<E> {
    type Error = EnvError;

    fn try_from(s: StoredAutoReset<E::Stored>) -> Result<Self, EnvError> {
        if s.envs.is_empty() {
            return Err(EnvError::EmptyBatch);
        }
        if s.envs.len() != s.rngs.len() {
            let (states, rngs) = (s.envs.len(), s.rngs.len());
            return Err(EnvError::Inconsistent(Inconsistency::BatchLengths { states, step_counts: states, rngs }));
        }
        let envs = s.envs.into_iter().map(E::from_stored).collect::<Result<Vec<E>, EnvError>>()?;
        let obs_dim = envs[0].spec().obs_dim;
        let mut observations = vec![0.0; envs.len() * obs_dim];
        for (i, (env, obs)) in envs.iter().zip(observations.chunks_exact_mut(obs_dim.max(1))).enumerate() {
            if !env.is_running() {
                return Err(EnvError::Inconsistent(Inconsistency::NotRunning { env: i }));
            }
            env.observe(obs);
        }
        Ok(Self::assemble(envs, s.rngs, obs_dim, observations))
    }
}

impl<E: SavedEnv> VecEnv for AutoReset<E> {
    fn spec(&self) -> EnvSpec {
        self.envs[0].spec()
    }

    fn len(&self) -> usize {
        self.envs.len()
    }

    fn observations(&self) -> &[f32] {
        &self.observations
    }

    fn final_observations(&self) -> &[f32] {
        &self.final_observations
    }

    fn rewards(&self) -> &[f64] {
        &self.rewards
    }

    fn terminated(&self) -> &[bool] {
        &self.terminated
    }

    fn truncated(&self) -> &[bool] {
        &self.truncated
    }

    fn elapsed_steps(&self) -> &[u32] {
        &self.elapsed_steps
    }

    fn rngs(&self) -> &[ChaCha8Rng] {
        &self.rngs
    }

    fn step(&mut self, actions: &[usize]) -> Result<(), EnvError> {
        if actions.len() != self.envs.len() {
            return Err(EnvError::ActionCount { expected: self.envs.len(), got: actions.len() });
        }
        let n_actions = self.n_actions;
        if let Some(&action) = actions.iter().find(|&&a| a >= n_actions) {
            return Err(EnvError::InvalidAction { action, n_actions });
        }
        let d = self.obs_dim;
        for (i, (env, &action)) in self.envs.iter_mut().zip(actions).enumerate() {
            let row = i * d..(i + 1) * d;
            let out = env.step(action, &mut self.final_observations[row.clone()])?;
            self.rewards[i] = out.reward;
            self.terminated[i] = out.terminated;
            self.truncated[i] = out.truncated;
            if out.is_done() {
                env.reset(&mut self.rngs[i], &mut self.observations[row]);
            } else {
                self.observations[row.clone()].copy_from_slice(&self.final_observations[row]);
            }
            self.elapsed_steps[i] = env.elapsed_steps();
        }
        Ok(())
    }

    fn save(&self) -> Vec<u8> {
        crate::encode(&SavedAutoReset { envs: &self.envs, rngs: &self.rngs })
    }
}
