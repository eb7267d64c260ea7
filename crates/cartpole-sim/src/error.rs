//! What a caller can get wrong driving the simulator, and how a stored
//! environment can contradict itself.

use std::fmt;

pub use env_core::Inconsistency;

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
    /// Fewer reset RNGs than environments in the batch.
    ResetCount {
        /// The number of environments in the batch.
        expected: usize,
        /// The number of RNGs given.
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
            Self::ResetCount { expected, got } => write!(f, "{got} reset RNGs for a batch of {expected} environments"),
            Self::Inconsistent(problem) => write!(f, "inconsistent stored environment: {problem}"),
        }
    }
}

impl std::error::Error for SimError {}
