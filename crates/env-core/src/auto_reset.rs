//! [`AutoReset`]: any single environment in the batched form, N of them
//! stepped together with same-step auto-reset, each resetting from its own
//! RNG (which the caller holds).

use serde::{Deserialize, Serialize};

use crate::{Env, EnvError, EnvSpec, Inconsistency, Obs, ObsBuf, ObsMut, Resets, SavedEnv, VecEnv, check_resets};

/// N environments of one kind stepped together. When environment `i` ends
/// on a step (terminated, truncated or both), the same call resets it from
/// `resets.rng(i)`: [`final_observations`](VecEnv::final_observations) row
/// `i` holds the observation the episode ended in,
/// [`observations`](VecEnv::observations) row `i` the new episode's first.
/// No step is ever lost to a reset.
///
/// Saves its environments; the outputs of the last step are not saved, so
/// a restored batch reports its current observations as the final ones, as
/// a new batch does.
#[derive(Debug, Clone)]
pub struct AutoReset<E> {
    envs: Vec<E>,
    spec: EnvSpec,
    observations: ObsBuf,
    final_observations: ObsBuf,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    elapsed_steps: Vec<u32>,
}

/// What an [`AutoReset`] saves.
#[derive(Serialize)]
struct SavedAutoReset<'a, E> {
    envs: &'a [E],
}

/// An [`AutoReset`] as saved, before it is checked: each environment in its
/// stored form.
#[derive(Debug, Deserialize)]
pub struct StoredAutoReset<S> {
    envs: Vec<S>,
}

impl<E: SavedEnv> AutoReset<E> {
    /// The environments `envs` (all of one kind), environment `i` reset once
    /// now from `resets.rng(i)`.
    ///
    /// # Errors
    /// [`EnvError::EmptyBatch`] for none, [`EnvError::ResetCount`] for too
    /// few RNGs, or an environment's failure to reset.
    pub fn new(mut envs: Vec<E>, resets: &mut dyn Resets) -> Result<Self, EnvError> {
        if envs.is_empty() {
            return Err(EnvError::EmptyBatch);
        }
        check_resets(resets, envs.len())?;
        let spec = envs[0].spec();
        let len = spec.obs.len();
        let mut observations = ObsBuf::zeros(&spec.obs, envs.len())?;
        for (i, env) in envs.iter_mut().enumerate() {
            env.reset(resets.rng(i), observations.row_mut(i, len))?;
        }
        Ok(Self::assemble(envs, spec, observations))
    }

    fn assemble(envs: Vec<E>, spec: EnvSpec, observations: ObsBuf) -> Self {
        let n = envs.len();
        let elapsed_steps = envs.iter().map(|e| e.elapsed_steps()).collect();
        Self {
            envs,
            spec,
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
        let envs = s.envs.into_iter().map(E::from_stored).collect::<Result<Vec<E>, EnvError>>()?;
        let spec = envs[0].spec();
        if envs.iter().any(|e| e.spec() != spec) {
            return Err(EnvError::Inconsistent(Inconsistency::Rules));
        }
        let len = spec.obs.len();
        let mut observations = ObsBuf::zeros(&spec.obs, envs.len())?;
        for (i, env) in envs.iter().enumerate() {
            if !env.is_running() {
                return Err(EnvError::Inconsistent(Inconsistency::NotRunning { env: i }));
            }
            env.observe(observations.row_mut(i, len))?;
        }
        Ok(Self::assemble(envs, spec, observations))
    }
}

/// The per-environment outputs of a step, written by [`step_rows`].
struct Outputs<'a> {
    rewards: &'a mut [f64],
    terminated: &'a mut [bool],
    truncated: &'a mut [bool],
    elapsed_steps: &'a mut [u32],
}

/// Steps every environment of a batch whose observations are rows of `T`,
/// resetting those that end.
fn step_rows<E: Env, T: Copy>(
    envs: &mut [E],
    actions: &[usize],
    finals: &mut [T],
    observations: &mut [T],
    len: usize,
    out: Outputs<'_>,
    resets: &mut dyn Resets,
) -> Result<(), EnvError>
where
    for<'a> &'a mut [T]: Into<ObsMut<'a>>,
{
    let rows = finals.chunks_exact_mut(len).zip(observations.chunks_exact_mut(len));
    let outputs = out.rewards.iter_mut().zip(out.terminated.iter_mut()).zip(out.truncated.iter_mut());
    let each = envs.iter_mut().zip(actions).zip(rows).zip(outputs).zip(out.elapsed_steps.iter_mut());
    for (i, ((((env, &action), (last, next)), ((reward, terminated), truncated)), elapsed)) in each.enumerate() {
        let step = env.step(action, last.into())?;
        (*reward, *terminated, *truncated) = (step.reward, step.terminated, step.truncated);
        if step.is_done() {
            env.reset(resets.rng(i), next.into())?;
        } else {
            next.copy_from_slice(last);
        }
        *elapsed = env.elapsed_steps();
    }
    Ok(())
}

impl<E: SavedEnv> VecEnv for AutoReset<E> {
    fn spec(&self) -> EnvSpec {
        self.spec.clone()
    }

    fn len(&self) -> usize {
        self.envs.len()
    }

    fn observations(&self) -> Obs<'_> {
        self.observations.as_obs()
    }

    fn final_observations(&self) -> Obs<'_> {
        self.final_observations.as_obs()
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

    fn step(&mut self, actions: &[usize], resets: &mut dyn Resets) -> Result<(), EnvError> {
        if actions.len() != self.envs.len() {
            return Err(EnvError::ActionCount { expected: self.envs.len(), got: actions.len() });
        }
        let n_actions = self.spec.n_actions;
        if let Some(&action) = actions.iter().find(|&&a| a >= n_actions) {
            return Err(EnvError::InvalidAction { action, n_actions });
        }
        check_resets(resets, self.envs.len())?;
        let len = self.spec.obs.len();
        let outputs = Outputs {
            rewards: &mut self.rewards,
            terminated: &mut self.terminated,
            truncated: &mut self.truncated,
            elapsed_steps: &mut self.elapsed_steps,
        };
        // The buffers' type is matched once per vector step, not per
        // environment: the loop then walks plain slices.
        match (&mut self.final_observations, &mut self.observations) {
            (ObsBuf::F32(finals), ObsBuf::F32(obs)) => {
                step_rows(&mut self.envs, actions, finals, obs, len, outputs, resets)
            }
            (ObsBuf::U8(finals), ObsBuf::U8(obs)) => {
                step_rows(&mut self.envs, actions, finals, obs, len, outputs, resets)
            }
            _ => unreachable!("both buffers are made from the one spec"),
        }
    }

    fn save(&self) -> Result<Vec<u8>, EnvError> {
        Ok(crate::encode(&SavedAutoReset { envs: &self.envs }))
    }
}
