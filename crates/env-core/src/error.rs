//! What a caller can get wrong driving an environment, and how a stored one
//! can contradict itself: one enum for every environment of the workspace
//! (and room for a user's own).

use std::fmt;

/// Everything a caller can get wrong when driving an environment.
#[derive(Debug)]
#[non_exhaustive]
pub enum EnvError {
    /// An action index outside the action space.
    InvalidAction {
        /// The index that was given.
        action: usize,
        /// The number of actions.
        n_actions: usize,
    },
    /// `step` was called before the first `reset`.
    NotReset,
    /// `step` was called after the episode ended, without a `reset` since.
    EpisodeOver {
        /// How many steps the ended episode lasted.
        steps: u32,
        /// Whether it ended by termination.
        terminated: bool,
        /// Whether it ended by reaching the step limit.
        truncated: bool,
    },
    /// An explicit state with a NaN or infinite entry.
    NonFiniteState {
        /// Which entry.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// An explicit state with an entry too large for the `f32` observation.
    StateBeyondObservation {
        /// Which entry.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// An explicit state or an observation buffer of the wrong length.
    StateLength {
        /// `"state"` or `"observation"`.
        what: &'static str,
        /// The length needed.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A step limit of zero: no episode could ever take a step.
    ZeroStepLimit,
    /// A batch of environments with no environment in it.
    EmptyBatch,
    /// A slice of actions whose length differs from the number of
    /// environments.
    ActionCount {
        /// The number of environments in the batch.
        expected: usize,
        /// The number of actions given.
        got: usize,
    },
    /// A setting of the environment that is not allowed.
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A stored environment or batch whose parts do not fit together (a
    /// damaged checkpoint).
    Inconsistent(Inconsistency),
    /// Saved bytes that do not decode.
    Decode {
        /// The decoder's message.
        reason: String,
    },
    /// What the environment cannot do (an explicit state for one without a
    /// physical state, say).
    Unsupported {
        /// What was asked.
        what: &'static str,
    },
    /// A user environment's own error.
    Custom(Box<dyn std::error::Error + Send + Sync>),
}

/// How a stored environment (or batch of them) contradicts itself or its
/// rules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inconsistency {
    /// A batch's per-environment columns differ in length.
    BatchLengths {
        /// Stored environments (or states).
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
        /// Whether the stored state is terminal.
        terminal_state: bool,
        /// The stored step count.
        elapsed_steps: u32,
        /// The step limit (what truncates).
        limit: u32,
    },
    /// A batch environment that is not in an episode (each is always
    /// running: it resets on the step it ends).
    NotRunning {
        /// The environment's index.
        env: usize,
    },
    /// Saved environments whose rules (settings, step limit) differ from
    /// the ones they are restored for.
    Rules,
}

const fn ordinal(index: usize) -> &'static str {
    match index {
        0 => "first",
        1 => "second",
        2 => "third",
        3 => "fourth",
        4 => "fifth",
        5 => "sixth",
        _ => "a later",
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidAction { action, n_actions } => {
                write!(f, "invalid action {action}: the environment accepts 0..{n_actions}")
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
                write!(f, "the {} state entry (index {index}) is {value}, which is not finite", ordinal(*index))
            }
            Self::StateBeyondObservation { index, value } => write!(
                f,
                "the {} state entry (index {index}) is {value}, too large for an f32 observation",
                ordinal(*index)
            ),
            Self::StateLength { what, expected, got } => write!(f, "{what} of length {got}, expected {expected}"),
            Self::ZeroStepLimit => write!(f, "max_episode_steps is 0: it must be at least 1"),
            Self::EmptyBatch => write!(f, "a batch needs at least one environment"),
            Self::ActionCount { expected, got } => {
                write!(f, "got {got} actions for a batch of {expected} environments")
            }
            Self::InvalidSetting { name, value } => write!(f, "environment setting {name} = {value} is not allowed"),
            Self::Inconsistent(problem) => write!(f, "inconsistent stored environment: {problem}"),
            Self::Decode { reason } => write!(f, "saved environments do not decode: {reason}"),
            Self::Unsupported { what } => write!(f, "the environment does not support {what}"),
            Self::Custom(_) => write!(f, "environment"),
        }
    }
}

impl std::error::Error for EnvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Custom(e) => Some(e.as_ref()),
            _ => None,
        }
    }
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
            Self::EndFlags { terminated, truncated, terminal_state, elapsed_steps, limit } => write!(
                f,
                "an ended episode with terminated = {terminated}, truncated = {truncated}, but its state is {} \
                 and it ended at step {elapsed_steps} of {limit}",
                if *terminal_state { "terminal" } else { "not terminal" }
            ),
            Self::NotRunning { env } => write!(f, "environment {env} of a batch is not in an episode"),
            Self::Rules => write!(f, "the saved environments follow other rules than the run's"),
        }
    }
}
