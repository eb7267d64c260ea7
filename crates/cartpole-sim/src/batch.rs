//! N CartPole environments stepped together as a struct of arrays, with
//! same-step auto-reset, each resetting from the RNG its caller hands in.

use env_core::Resets;
use serde::{Deserialize, Serialize};

use crate::env::{Action, EnvConfig, check_finite, draw_reset_state};
use crate::error::{Inconsistency, SimError};
use crate::{OBS_DIM, physics};

/// N CartPole environments stepped together, stored as a struct of arrays.
///
/// Environment `i` draws its resets from its own RNG, the `i`-th of those the
/// caller hands to [`new`](Self::new) and [`step`](Self::step). Which RNGs
/// those are is the caller's decision (a training loop derives them from its
/// master seed, on streams no other consumer of that seed uses, and saves
/// them with its checkpoints), so the batch never decides, and can never
/// collide with, anyone else's random stream.
///
/// # Auto-reset (same step)
/// When environment `i` ends on a step (terminated, truncated or both), the
/// same call resets it: [`final_observations`](Self::final_observations) row
/// `i` holds the observation the episode ended in, and
/// [`observations`](Self::observations) row `i` the first observation of the
/// new episode. For an environment that did not end, both rows are equal. So
/// the transition to store for every environment is always
/// `(previous obs, action, reward, final obs, terminated, truncated)`, and the
/// next action is chosen from `observations`. No step is ever lost to a reset
/// (unlike Gymnasium's default next-step auto-reset, which spends one call).
///
/// Serializes with every environment's state (a checkpoint); the
/// outputs of the last step are not stored, so a deserialized batch reports
/// its current observations as the final ones, as a new batch does. It is
/// checked on the way in: equal lengths, finite states, no episode past the
/// step limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "StoredBatch", try_from = "StoredBatch")]
pub struct CartPoleBatch {
    config: EnvConfig,
    // The f64 state, one array per variable.
    x: Vec<f64>,
    x_dot: Vec<f64>,
    theta: Vec<f64>,
    theta_dot: Vec<f64>,
    elapsed_steps: Vec<u32>,
    // Outputs of the last call, rows of OBS_DIM.
    observations: Vec<f32>,
    final_observations: Vec<f32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    episodes_finished: u64,
}

/// A [`CartPoleBatch`] as stored, before it is checked: what determines its
/// future. Decode this and convert it with `CartPoleBatch::try_from` to keep
/// the typed error of a damaged store (some formats, postcard among them,
/// drop the message of an error raised inside deserialization).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredBatch {
    config: EnvConfig,
    states: Vec<[f64; 4]>,
    elapsed_steps: Vec<u32>,
    episodes_finished: u64,
}

impl From<CartPoleBatch> for StoredBatch {
    fn from(b: CartPoleBatch) -> Self {
        Self {
            config: b.config,
            states: (0..b.len()).map(|i| b.state(i)).collect(),
            elapsed_steps: b.elapsed_steps,
            episodes_finished: b.episodes_finished,
        }
    }
}

impl TryFrom<StoredBatch> for CartPoleBatch {
    type Error = SimError;

    fn try_from(s: StoredBatch) -> Result<Self, SimError> {
        let config = s.config.validate()?;
        let n = s.states.len();
        if n == 0 {
            return Err(SimError::EmptyBatch);
        }
        if s.elapsed_steps.len() != n {
            return Err(SimError::Inconsistent(Inconsistency::BatchLengths {
                states: n,
                step_counts: s.elapsed_steps.len(),
            }));
        }
        let limit = config.max_episode_steps;
        if let Some(env) = s.elapsed_steps.iter().position(|&e| e >= limit) {
            let elapsed_steps = s.elapsed_steps[env];
            return Err(SimError::Inconsistent(Inconsistency::PastStepLimit { env, elapsed_steps, limit }));
        }
        s.states.iter().try_for_each(check_finite)?;
        let mut batch = Self {
            config,
            x: s.states.iter().map(|s| s[0]).collect(),
            x_dot: s.states.iter().map(|s| s[1]).collect(),
            theta: s.states.iter().map(|s| s[2]).collect(),
            theta_dot: s.states.iter().map(|s| s[3]).collect(),
            elapsed_steps: s.elapsed_steps,
            observations: s.states.iter().flat_map(physics::observe).collect(),
            final_observations: Vec::new(),
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            episodes_finished: s.episodes_finished,
        };
        batch.final_observations.clone_from(&batch.observations);
        Ok(batch)
    }
}

/// Refuses fewer RNGs than environments.
fn check_resets(resets: &dyn Resets, n: usize) -> Result<(), SimError> {
    if resets.count() < n {
        return Err(SimError::ResetCount { expected: n, got: resets.count() });
    }
    Ok(())
}

impl CartPoleBatch {
    /// `n_envs` environments, all with the same rules, each reset once from
    /// its own RNG (environment `i` from `resets.rng(i)`, which it resets
    /// from at every later step too).
    ///
    /// # Errors
    /// [`SimError::EmptyBatch`] for none, [`SimError::ResetCount`] for too
    /// few RNGs, and [`SimError::ZeroStepLimit`] if the step limit is 0.
    pub fn new(config: EnvConfig, n_envs: usize, resets: &mut dyn Resets) -> Result<Self, SimError> {
        let config = config.validate()?;
        if n_envs == 0 {
            return Err(SimError::EmptyBatch);
        }
        check_resets(resets, n_envs)?;
        let zeros = vec![0.0; n_envs];
        let mut batch = Self {
            config,
            x: zeros.clone(),
            x_dot: zeros.clone(),
            theta: zeros.clone(),
            theta_dot: zeros.clone(),
            elapsed_steps: vec![0; n_envs],
            observations: vec![0.0; n_envs * OBS_DIM],
            final_observations: vec![0.0; n_envs * OBS_DIM],
            rewards: zeros,
            terminated: vec![false; n_envs],
            truncated: vec![false; n_envs],
            episodes_finished: 0,
        };
        for i in 0..n_envs {
            batch.reset_env(i, resets);
        }
        batch.final_observations.copy_from_slice(&batch.observations);
        Ok(batch)
    }

    /// The rules every environment follows.
    #[must_use]
    pub fn config(&self) -> EnvConfig {
        self.config
    }

    /// The number of environments.
    #[must_use]
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Always false: a batch holds at least one environment.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    fn state(&self, i: usize) -> [f64; 4] {
        [self.x[i], self.x_dot[i], self.theta[i], self.theta_dot[i]]
    }

    fn set_state(&mut self, i: usize, state: [f64; 4]) {
        [self.x[i], self.x_dot[i], self.theta[i], self.theta_dot[i]] = state;
        self.observations[i * OBS_DIM..(i + 1) * OBS_DIM].copy_from_slice(&physics::observe(&state));
    }

    fn reset_env(&mut self, i: usize, resets: &mut dyn Resets) {
        let state = draw_reset_state(resets.rng(i));
        self.set_state(i, state);
        self.elapsed_steps[i] = 0;
    }

    /// Steps every environment once, environment `i` under `actions[i]`,
    /// resetting those that end from `resets.rng(i)` (see the type's
    /// documentation).
    ///
    /// # Errors
    /// [`SimError::ActionCount`] if `actions.len()` differs from the number of
    /// environments, [`SimError::ResetCount`] for too few RNGs; nothing is
    /// stepped then.
    pub fn step(&mut self, actions: &[Action], resets: &mut dyn Resets) -> Result<(), SimError> {
        if actions.len() != self.len() {
            return Err(SimError::ActionCount { expected: self.len(), got: actions.len() });
        }
        check_resets(resets, self.len())?;
        self.step_each(|i| actions[i], resets);
        Ok(())
    }

    /// Steps environment `i` under `action(i)`, for every `i` (the caller
    /// checked the actions and the RNGs' count).
    pub(crate) fn step_each(&mut self, action: impl Fn(usize) -> Action, resets: &mut dyn Resets) {
        for i in 0..self.len() {
            let action = action(i);
            let state = physics::advance(self.state(i), action, self.config.integrator);
            self.set_state(i, state);
            self.elapsed_steps[i] += 1;
            let terminated = physics::is_out_of_bounds(&state);
            let truncated = self.elapsed_steps[i] >= self.config.max_episode_steps;
            self.rewards[i] = 1.0;
            self.terminated[i] = terminated;
            self.truncated[i] = truncated;
            let row = i * OBS_DIM..(i + 1) * OBS_DIM;
            self.final_observations[row.clone()].copy_from_slice(&self.observations[row]);
            if terminated || truncated {
                // A count, not an index: saturating keeps a restored
                // batch's absurd count from overflowing.
                self.episodes_finished = self.episodes_finished.saturating_add(1);
                self.reset_env(i, resets);
            }
        }
    }

    /// The observations to act on, `len() × 4` row-major: after an end, the
    /// first observation of the new episode.
    #[must_use]
    pub fn observations(&self) -> &[f32] {
        &self.observations
    }

    /// The observations the last step led to, `len() × 4` row-major: for an
    /// environment that ended, the observation it ended in.
    #[must_use]
    pub fn final_observations(&self) -> &[f32] {
        &self.final_observations
    }

    /// The rewards of the last step (1.0 each).
    #[must_use]
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }

    /// Which environments terminated on the last step.
    #[must_use]
    pub fn terminated(&self) -> &[bool] {
        &self.terminated
    }

    /// Which environments were truncated on the last step.
    #[must_use]
    pub fn truncated(&self) -> &[bool] {
        &self.truncated
    }

    /// Steps each environment has taken in its current episode.
    #[must_use]
    pub fn elapsed_steps(&self) -> &[u32] {
        &self.elapsed_steps
    }

    /// Episodes finished (and auto-reset) since the batch was made.
    #[must_use]
    pub fn episodes_finished(&self) -> u64 {
        self.episodes_finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CartPole;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// `n` RNGs: ChaCha8 seeded with `seed`, on streams 0..n.
    fn streams(n: usize, seed: u64) -> Vec<ChaCha8Rng> {
        (0..n)
            .map(|i| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(i as u64);
                rng
            })
            .collect()
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(CartPoleBatch::new(EnvConfig::v1(), 0, &mut streams(0, 1)).unwrap_err(), SimError::EmptyBatch);
        let zero = EnvConfig { max_episode_steps: 0, ..EnvConfig::v1() };
        assert_eq!(CartPoleBatch::new(zero, 2, &mut streams(2, 1)).unwrap_err(), SimError::ZeroStepLimit);
        let err = CartPoleBatch::new(EnvConfig::v1(), 3, &mut streams(2, 1)).unwrap_err();
        assert_eq!(err, SimError::ResetCount { expected: 3, got: 2 });
        let mut rngs = streams(3, 1);
        let mut batch = CartPoleBatch::new(EnvConfig::v1(), 3, &mut rngs).unwrap();
        let before = batch.observations().to_vec();
        let err = batch.step(&[Action::Left], &mut rngs).unwrap_err();
        assert_eq!(err, SimError::ActionCount { expected: 3, got: 1 });
        let err = batch.step(&[Action::Left; 3], &mut streams(1, 1)).unwrap_err();
        assert_eq!(err, SimError::ResetCount { expected: 3, got: 1 });
        assert_eq!(batch.observations(), before.as_slice());
    }

    /// Each environment of a batch must follow exactly the trajectory a single
    /// `CartPole` follows from the same reset states: the batch is the same
    /// physics, and auto-reset draws from environment `i`'s own stream.
    #[test]
    fn matches_single_environments_and_auto_resets() {
        let config = EnvConfig { max_episode_steps: 50, ..EnvConfig::v1() };
        let n = 5;
        let seed = 99;
        let mut rngs = streams(n, seed);
        let mut batch = CartPoleBatch::new(config, n, &mut rngs).unwrap();
        let mut singles: Vec<(CartPole, ChaCha8Rng)> = (0..n)
            .map(|i| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(i as u64);
                let mut env = CartPole::new(config).unwrap();
                env.reset(&mut rng);
                (env, rng)
            })
            .collect();
        let mut ended = 0;
        for t in 0..400usize {
            let actions: Vec<Action> =
                (0..n).map(|i| if (t * 7 + i * 3) % 5 < 2 { Action::Left } else { Action::Right }).collect();
            batch.step(&actions, &mut rngs).unwrap();
            for (i, (env, rng)) in singles.iter_mut().enumerate() {
                let step = env.step(actions[i]).unwrap();
                let row = i * OBS_DIM..(i + 1) * OBS_DIM;
                assert_eq!(batch.final_observations()[row.clone()], step.obs);
                assert_eq!(batch.terminated()[i], step.terminated);
                assert_eq!(batch.truncated()[i], step.truncated);
                if step.is_done() {
                    ended += 1;
                    let obs = env.reset(rng);
                    assert_eq!(batch.observations()[row], obs);
                    assert_eq!(batch.elapsed_steps()[i], 0);
                } else {
                    assert_eq!(batch.observations()[row], step.obs);
                }
            }
        }
        assert_eq!(batch.episodes_finished(), ended);
        assert!(ended > n as u64, "the test must cross several auto-resets");
    }

    /// A batch stored mid-run and read back must continue exactly as the
    /// original (resets included); damaged stores are named errors.
    #[test]
    fn serde_round_trip_continues_identically_and_checks_damage() {
        let config = EnvConfig { max_episode_steps: 30, ..EnvConfig::v1() };
        let mut rngs = streams(3, 5);
        let mut batch = CartPoleBatch::new(config, 3, &mut rngs).unwrap();
        let actions = |t: usize| -> Vec<Action> {
            (0..3).map(|i| if (t + i).is_multiple_of(3) { Action::Left } else { Action::Right }).collect()
        };
        for t in 0..17 {
            batch.step(&actions(t), &mut rngs).unwrap();
        }
        let json = serde_json::to_string(&batch).unwrap();
        let mut restored: CartPoleBatch = serde_json::from_str(&json).unwrap();
        assert_eq!(restored.observations(), batch.observations());
        // The RNGs are the caller's: the restored batch resets from a copy.
        let mut restored_rngs = rngs.clone();
        for t in 17..200 {
            batch.step(&actions(t), &mut rngs).unwrap();
            restored.step(&actions(t), &mut restored_rngs).unwrap();
            assert_eq!(restored.final_observations(), batch.final_observations());
            assert_eq!(restored.observations(), batch.observations());
            assert_eq!(restored.elapsed_steps(), batch.elapsed_steps());
        }
        assert_eq!(restored.episodes_finished(), batch.episodes_finished());

        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["elapsed_steps"][1] = 30.into();
        let err = serde_json::from_value::<CartPoleBatch>(value.clone()).unwrap_err().to_string();
        assert!(err.contains("environment 1 is at step 30 of an episode limited to 30"), "{err}");
        value["elapsed_steps"] = serde_json::json!([1, 2]);
        let err = serde_json::from_value::<CartPoleBatch>(value).unwrap_err().to_string();
        assert!(err.contains("3 states, 2 step counts"), "{err}");
    }
}
