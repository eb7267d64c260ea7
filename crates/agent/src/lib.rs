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
//! frames of values or bytes, actions indices), run episodes, or do I/O. The
//! loop lives in `runner`.

mod agent;
pub mod c51;
mod config;
mod dqn_loss;
mod error;
mod n_step;
mod priorities;
pub mod tabular;

pub use agent::{Agent, AgentSeeds, AgentState, Experience, StoredAgent, UpdateOutcome, UpdateStats};
pub use config::{
    Distributional, DqnConfig, Dueling, EpsilonSchedule, EpsilonShape, Network, Noisy, OptimizerChoice, Prioritized,
    Sampling, Spaces, TargetUpdate,
};
pub use dqn_loss::BatchRows;
pub use error::{AgentError, InvalidSetting, ObservationProblem, SettingSource, StateProblem};
pub use n_step::MAX_ENVIRONMENTS;
pub use priorities::{Priorities, PrioritiesError};
// What this crate's API exposes of its neighbours, re-exported so that a
// caller (runner) needs no edge of its own to `mlp` or `replay`.
pub use mlp::{
    Architecture, Arithmetic, Conv2dShape, ConvLayer, ConvTrunk, DuelingStreams, LayerKind, LayerParams, LayerShape,
    Layout, LossKind, Mlp, MlpError, Noise, NoiseScales, NoisyInit, NoisyLayers, Operand, Params, Shape, SingleScratch,
    TensorKind, tensor_name, warm_up_threads,
};
pub use replay::{
    Batch, Frame, FrameKind, FrameSpec, FrameWindow, InputFormat, Padding, Record, ReplayBuffer, ReplayConfig,
    ReplayError, Stacking, StreamError, Transition,
};

/// What a training loop needs of a learner: act, remember, learn, and show
/// its values. [`Agent`] (DQN) and [`tabular::TabularQ`] implement it.
///
/// Observations arrive as frames ([`Frame`]: `f32` values or bytes);
/// values are read from input rows, the `f32` rows the learner's
/// [`input_format`](Self::input_format) makes of frames (stacked and
/// scaled), which a caller builds with [`FrameWindow`].
pub trait Learner: Send + std::fmt::Debug {
    /// How frames become the learner's input rows.
    fn input_format(&self) -> InputFormat;
    /// Training actions for the environments stepped together:
    /// `observations` holds one frame per environment, in environment order,
    /// into `actions`. Exactly what acting on each row in turn would choose,
    /// random draws included, so a batch of one is a single step. An
    /// environment's stack of frames continues its episode until
    /// [`observe_from`](Self::observe_from) reports the episode's end.
    ///
    /// # Errors
    /// A bad observation, or a non-finite value; `actions` then holds the
    /// rows before the bad one.
    fn act_batch(&mut self, observations: Frame<'_>, actions: &mut Vec<usize>) -> Result<(), AgentError>;
    /// The greedy action of an input row.
    ///
    /// # Errors
    /// A row of the wrong length or with a non-finite value.
    fn predict(&mut self, input: &[f32]) -> Result<usize, AgentError>;
    /// The action values of an input row.
    ///
    /// # Errors
    /// As [`predict`](Self::predict).
    fn q_values(&mut self, input: &[f32]) -> Result<&[f32], AgentError>;
    /// The action values of each input row of `inputs` (`rows × row_len`),
    /// appended to `out` row after row: the same values as
    /// [`q_values`](Self::q_values) on each row. Learners with a network do
    /// it in one batched forward pass.
    ///
    /// # Errors
    /// As [`predict`](Self::predict).
    fn q_values_batch(&mut self, inputs: &[f32], row_len: usize, out: &mut Vec<f32>) -> Result<(), AgentError>;
    /// Remembers a transition of environment `env` (of several stepped
    /// together): learners that combine consecutive steps of one
    /// environment (n-step returns, stacks of frames) keep each
    /// environment's apart.
    ///
    /// # Errors
    /// An invalid action, a bad observation or reward, an environment
    /// index out of range.
    fn observe_from(&mut self, env: usize, transition: Transition<'_>) -> Result<(), AgentError>;
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
