#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! DQN, as the seed chapter defines it, with the usual improvements as options.
//!
//! The job: choose actions ε-greedily from a policy network, store
//! transitions in a replay buffer, and learn from uniform mini-batches
//! against Bellman targets computed with a separate target network that is
//! copied from the policy every C steps. [`Agent`] is the learner;
//! [`DqnConfig`] its settings (checked once by [`Agent::new`]);
//! [`EpsilonSchedule`] the exploration schedule; [`bellman_target`] the pure
//! target formula; [`AgentError`] what can go wrong.
//!
//! Options beside the seed's defaults, each off by default: Double DQN
//! targets, the Huber loss, soft (Polyak) target updates, several gradient
//! steps per environment step, a learning-starts threshold, n-step
//! returns, prioritized replay, and distributional C51.
//!
//! What it deliberately does not do: know the environment (observations are
//! `f32` slices, actions indices), run episodes, or do I/O. The loop lives in
//! `runner`.

mod agent;
pub mod c51;
mod config;
mod dqn_loss;
mod error;
mod n_step;
pub mod tabular;

pub use agent::{Agent, AgentSeeds, AgentState, StoredAgent, UpdateOutcome, UpdateStats};
pub use config::{
    Distributional, DqnConfig, Dueling, EpsilonSchedule, EpsilonShape, Noisy, Prioritized, Sampling, TargetUpdate,
};
pub use dqn_loss::BatchRows;
pub use error::{AgentError, InvalidSetting, ObservationProblem, StateProblem};
pub use n_step::MAX_ENVIRONMENTS;
// What this crate's API exposes of its neighbours, re-exported so that a
// caller (runner) needs no edge of its own to `mlp` or `replay`.
pub use mlp::{
    Architecture, Arithmetic, DuelingStreams, LayerParams, LayerShape, Layout, LossKind, Mlp, MlpError, Noise,
    NoiseScales, NoisyInit, NoisyLayers, Operand, Params, Shape, SingleScratch, TensorKind, tensor_name,
};
pub use replay::{ReplayError, Transition};

/// What a training loop needs of a learner: act, remember, learn, and show
/// its values. [`Agent`] (DQN) and [`tabular::TabularQ`] implement it.
pub trait Learner: Send + std::fmt::Debug {
    /// A training action (exploring), counted for the ε schedule.
    ///
    /// # Errors
    /// A bad observation, or a non-finite value.
    fn act(&mut self, obs: &[f32]) -> Result<usize, AgentError>;
    /// Training actions for the rows of `observations` (`rows × obs_dim`,
    /// row-major), into `actions`: exactly what [`act`](Self::act) on each
    /// row in turn would choose, random draws included, so a batch of one is
    /// a single step. Learners with a network override it to evaluate the
    /// greedy rows in one batched forward pass.
    ///
    /// # Errors
    /// As [`act`](Self::act); `actions` then holds the rows before the bad one.
    fn act_batch(&mut self, observations: &[f32], obs_dim: usize, actions: &mut Vec<usize>) -> Result<(), AgentError> {
        actions.clear();
        check_rows(observations, obs_dim, obs_dim)?;
        for row in observations.chunks_exact(obs_dim) {
            actions.push(self.act(row)?);
        }
        Ok(())
    }
    /// The greedy action.
    ///
    /// # Errors
    /// As [`act`](Self::act).
    fn predict(&mut self, obs: &[f32]) -> Result<usize, AgentError>;
    /// The action values of `obs`.
    ///
    /// # Errors
    /// As [`act`](Self::act).
    fn q_values(&mut self, obs: &[f32]) -> Result<&[f32], AgentError>;
    /// The action values of each row of `observations` (`rows × obs_dim`),
    /// appended to `out` row after row: the same values as
    /// [`q_values`](Self::q_values) on each row. Learners with a network
    /// override it with one batched forward pass.
    ///
    /// # Errors
    /// As [`act`](Self::act).
    fn q_values_batch(&mut self, observations: &[f32], obs_dim: usize, out: &mut Vec<f32>) -> Result<(), AgentError> {
        out.clear();
        check_rows(observations, obs_dim, obs_dim)?;
        for row in observations.chunks_exact(obs_dim) {
            let q = self.q_values(row)?;
            out.extend_from_slice(q);
        }
        Ok(())
    }
    /// Remembers a transition.
    ///
    /// # Errors
    /// An invalid action or a non-finite value.
    fn observe(&mut self, transition: Transition<'_>) -> Result<(), AgentError>;
    /// Remembers a transition of environment `env` (of several stepped
    /// together): learners that combine consecutive steps of one
    /// environment (n-step returns) keep each environment's apart. By
    /// default the same as [`observe`](Self::observe).
    ///
    /// # Errors
    /// As [`observe`](Self::observe), and an environment index out of range.
    fn observe_from(&mut self, env: usize, transition: Transition<'_>) -> Result<(), AgentError> {
        let _ = env;
        self.observe(transition)
    }
    /// Learns from what it remembers, asking `interrupt` between pieces of
    /// work that may take long (gradient steps) and stopping, resumably, when
    /// it answers true (see [`UpdateOutcome`]).
    ///
    /// # Errors
    /// Divergence or an internal failure.
    fn update(&mut self, interrupt: &dyn Fn() -> bool) -> Result<UpdateOutcome, AgentError>;
    /// Whether an interrupted update waits to be continued by the next
    /// [`update`](Self::update).
    fn update_in_progress(&self) -> bool {
        false
    }
    /// ε at the current action count.
    fn epsilon(&self) -> f64;
    /// Learning steps taken.
    fn n_updates(&self) -> u64;
}

/// The largest count a frozen learner may hold (actions, updates): 2⁶², which
/// no run reaches (at ten million actions a second it takes 14 000 years),
/// so counting on from a checked state can never overflow.
pub const MAX_COUNT: u64 = 1 << 62;

/// Refuses a counter above [`MAX_COUNT`].
pub(crate) fn check_count(counter: &'static str, value: u64) -> Result<(), AgentError> {
    if value > MAX_COUNT {
        return Err(AgentError::DamagedState(StateProblem::CounterTooLarge { counter, value }));
    }
    Ok(())
}

/// Checks that `observations` is a non-empty batch of whole rows of
/// `row_len` values and that `row_len` is the learner's `expected` length;
/// returns the number of rows. (Row-wise checks of the values are the
/// learner's.)
pub(crate) fn check_rows(observations: &[f32], row_len: usize, expected: usize) -> Result<usize, AgentError> {
    let rows =
        || AgentError::BadObservation(ObservationProblem::Rows { values: observations.len(), row_len, expected });
    if row_len == 0 || row_len != expected || !observations.len().is_multiple_of(row_len) {
        return Err(rows());
    }
    if observations.is_empty() {
        return Err(AgentError::BadObservation(ObservationProblem::Empty));
    }
    Ok(observations.len() / row_len)
}

/// The Bellman target of one transition:
/// `y = r + (γ · max_a′ Q_target(s′, a′)) · (1 − terminated)`.
///
/// `next_value` is the target network's value of the next state (its max
/// over actions, or for Double DQN its value at the policy's best action).
/// Only termination stops bootstrapping: a transition cut by a time limit
/// still looks ahead, since the state it reached has a future. The
/// operations are done in PyTorch's order, each rounded once in `f32`.
#[must_use]
pub fn bellman_target(reward: f32, next_value: f32, terminated: bool, gamma: f32) -> f32 {
    let alive = if terminated { 0.0 } else { 1.0 };
    reward + (gamma * next_value) * alive
}

/// The value of a next state for the Bellman target: the target network's
/// largest Q-value (DQN), or — given the policy network's Q-values too —
/// the target network's Q-value at the policy's best action (Double DQN,
/// which decouples choosing an action from valuing it and so curbs the
/// over-estimation that `max` of noisy estimates causes). `None` if a
/// needed value is NaN or the rows are empty.
#[must_use]
pub fn next_state_value(q_target: &[f32], q_policy: Option<&[f32]>) -> Option<f32> {
    match q_policy {
        Some(q_policy) => q_target.get(argmax(q_policy)?).copied().filter(|v| !v.is_nan()),
        None => q_target.get(argmax(q_target)?).copied(),
    }
}

/// The index of the largest value; ties go to the lowest index (as
/// PyTorch's `argmax` on CPU). `None` for an empty slice or a NaN.
#[must_use]
pub fn argmax(values: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in values.iter().enumerate() {
        if v.is_nan() {
            return None;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}
