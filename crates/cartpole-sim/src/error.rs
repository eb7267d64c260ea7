//! What a caller can get wrong driving the simulator, and how a stored
//! environment can contradict itself.

use std::fmt;

/// Everything a caller can get wrong when driving the simulator.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SimError {
    /// An action index outside the action space `{0, 1}`.
    InvalidAction {
        /// The index that was given.
        action: usize,
    },
    /// `step` was called before the first `reset`.
    NotReset,
    /// `step` was called after the episode ended, without a `reset` since.
    EpisodeOver {
        /// How many steps the ended episode lasted.
        steps: u32,
        /// Whether it ended by termination (pole or cart out of bounds).
        terminated: bool,
        /// Whether it ended by reaching the step limit.
        truncated: bool,
    },
    /// An explicit state with a NaN or infinite entry.
    NonFiniteState {
        /// Which entry: 0 = x, 1 = ẋ, 2 = θ, 3 = θ̇.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// An explicit state with an entry too large for the `f32` observation
    /// (it would be infinite).
    StateBeyondObservation {
        /// Which entry: 0 = x, 1 = ẋ, 2 = θ, 3 = θ̇.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A step limit of zero: no episode could ever take a step.
    ZeroStepLimit,
    /// A batch of environments with no environment in it.
    EmptyBatch,
    /// A slice of actions whose length differs from the number of environments.
    ActionCount {
        /// The number of environments in the batch.
        expected: usize,
        /// The number of actions given.
        got: usize,
    },
    /// A stored environment or batch whose parts do not fit together (a
    /// damaged checkpoint).
    Inconsistent(Inconsistency),
}

const STATE_NAMES: [&str; 4] = ["x", "x_dot", "theta", "theta_dot"];

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidAction { action } => {
                write!(f, "invalid action {action}: CartPole accepts 0 (left) or 1 (right)")
            }
            Self::NotReset => write!(f, "step called before reset: call reset first"),
            Self::EpisodeOver { steps, terminated, truncated } => {
                let why = match (terminated, truncated) {
                    (true, true) => "terminated and truncated",
                    (true, false) => "terminated",
                    _ => "truncated",
                };
                write!(f, "episode over ({why} after {steps} steps): call reset before step")
            }
            Self::NonFiniteState { index, value } => {
                let name = STATE_NAMES.get(*index).copied().unwrap_or("?");
                write!(f, "state entry {index} ({name}) is {value}, which is not finite")
            }
            Self::StateBeyondObservation { index, value } => {
                let name = STATE_NAMES.get(*index).copied().unwrap_or("?");
                write!(f, "state entry {index} ({name}) is {value}, too large for an f32 observation")
            }
            Self::ZeroStepLimit => write!(f, "max_episode_steps is 0: it must be at least 1"),
            Self::EmptyBatch => write!(f, "a batch needs at least one environment"),
            Self::ActionCount { expected, got } => {
                write!(f, "got {got} actions for a batch of {expected} environments")
            }
            Self::Inconsistent(problem) => write!(f, "inconsistent stored environment: {problem}"),
        }
    }
}

impl std::error::Error for SimError {}

/// How a stored environment (or batch of them) contradicts itself or its
/// rules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inconsistency {
    /// A batch's per-environment columns differ in length.
    BatchLengths {
        /// Stored states.
        states: usize,
        /// Stored step counts.
        step_counts: usize,
        /// Stored RNGs.
        rngs: usize,
    },
    /// An episode in progress at or past the step limit (its next step
    /// would count past the limit).
    PastStepLimit {
        /// The environment's index in its batch (0 for a single one).
        env: usize,
        /// Its stored step count.
        elapsed_steps: u32,
        /// The step limit.
        limit: u32,
    },
    /// An environment never reset, with steps counted.
    StepsBeforeReset {
        /// The stored step count.
        elapsed_steps: u32,
    },
    /// An ended episode whose end flags contradict its state or step count.
    EndFlags {
        /// The stored `terminated` flag.
        terminated: bool,
        /// The stored `truncated` flag.
        truncated: bool,
        /// Whether the stored state is out of bounds (which is what
        /// terminates).
        out_of_bounds: bool,
        /// The stored step count.
        elapsed_steps: u32,
        /// The step limit (what truncates).
        limit: u32,
    },
}

impl fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BatchLengths { states, step_counts, rngs } => {
                write!(f, "{states} states, {step_counts} step counts, {rngs} RNGs")
            }
            Self::PastStepLimit { env, elapsed_steps, limit } => {
                write!(f, "environment {env} is at step {elapsed_steps} of an episode limited to {limit}")
            }
            Self::StepsBeforeReset { elapsed_steps } => {
                write!(f, "{elapsed_steps} steps counted before the first reset")
            }
            Self::EndFlags { terminated, truncated, out_of_bounds, elapsed_steps, limit } => write!(
                f,
                "an ended episode with terminated = {terminated}, truncated = {truncated}, but its state is {} \
                 and it ended at step {elapsed_steps} of {limit}",
                if *out_of_bounds { "out of bounds" } else { "in bounds" }
            ),
        }
    }
}
