//! What a caller can get wrong driving an environment, and how a stored one
//! can contradict itself: one enum for every environment of the workspace
//! (and room for a user's own).

use std::fmt;

use crate::ObsType;

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
    /// An explicit state with an entry the environment cannot be in (a
    /// board position off the board, say).
    StateOutOfRange {
        /// Which entry.
        index: usize,
        /// The offending value.
        value: f64,
        /// What the entry may be, in words (`"an integer from 0 to 9"`).
        allowed: &'static str,
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
    Decode(postcard::Error),
    /// Saved bytes with more after their content.
    DecodeTrailing {
        /// The bytes left over.
        extra: usize,
    },
    /// An observation shape with no dimension, a dimension of 0, or more
    /// values than [`MAX_OBS_LEN`](crate::MAX_OBS_LEN).
    ObsShape {
        /// The shape given.
        shape: Vec<usize>,
    },
    /// An observation buffer of another element type than the
    /// environment's.
    ObsType {
        /// The environment's type.
        expected: ObsType,
        /// The buffer's.
        got: ObsType,
    },
    /// What a batch handed back is not what its spec promises: a slice of
    /// the wrong length or type, a value that is not finite, a binary cell
    /// that is not 0 or 1. Checked after every step, so an environment
    /// written elsewhere (Python, say) cannot make the loop panic or learn
    /// from garbage.
    Output {
        /// Which output: `"observations"`, `"final_observations"`,
        /// `"rewards"`, `"terminated"`, `"truncated"`, `"elapsed_steps"`.
        field: &'static str,
        /// The environment of the batch, where one is to blame.
        env: Option<usize>,
        /// What is wrong.
        problem: OutputProblem,
    },
    /// Fewer reset RNGs than environments in the batch.
    ResetCount {
        /// Environments in the batch.
        expected: usize,
        /// RNGs given.
        got: usize,
    },
    /// The environment cannot be saved (one that lives outside Rust, say):
    /// its family says so up front ([`EnvFamily::can_save`](crate::EnvFamily::can_save)).
    NotSaveable {
        /// The environment's id.
        id: String,
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

/// What is wrong with an output of a batch (see [`EnvError::Output`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum OutputProblem {
    /// A slice of the wrong length.
    Length {
        /// The length the batch's size and spec ask for.
        expected: usize,
        /// The length handed back.
        got: usize,
    },
    /// Values of another type than the spec's.
    Type {
        /// The spec's type.
        expected: ObsType,
        /// The type handed back.
        got: ObsType,
    },
    /// A value that is not finite.
    NonFinite {
        /// Its index in the environment's row.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A binary cell that is neither 0 nor 1.
    NotBinary {
        /// Its index in the environment's row.
        index: usize,
        /// The value.
        value: u8,
    },
}

impl fmt::Display for OutputProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { expected, got } => write!(f, "{got} values, expected {expected}"),
            Self::Type { expected, got } => {
                write!(f, "{} values, expected {}", got.name(), expected.name())
            }
            Self::NonFinite { index, value } => write!(f, "value {index} is {value}, which is not finite"),
            Self::NotBinary { index, value } => write!(f, "cell {index} is {value}, but binary cells are 0 or 1"),
        }
    }
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
    /// An environment stored as the start of its episode and the actions
    /// since (one that owns a random stream) that does not play out as
    /// stored.
    Replay {
        /// The step of the episode (0 for its start) where it goes wrong.
        step: usize,
        /// What is wrong there.
        problem: &'static str,
    },
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
            Self::StateOutOfRange { index, value, allowed } => {
                write!(f, "the {} state entry (index {index}) is {value}, but it must be {allowed}", ordinal(*index))
            }
            Self::StateLength { what, expected, got } => write!(f, "{what} of length {got}, expected {expected}"),
            Self::ZeroStepLimit => write!(f, "max_episode_steps is 0: it must be at least 1"),
            Self::EmptyBatch => write!(f, "a batch needs at least one environment"),
            Self::ActionCount { expected, got } => {
                write!(f, "got {got} actions for a batch of {expected} environments")
            }
            Self::InvalidSetting { name, value } => write!(f, "environment setting {name} = {value} is not allowed"),
            Self::Inconsistent(problem) => write!(f, "inconsistent stored environment: {problem}"),
            Self::Decode(_) => write!(f, "saved environments do not decode"),
            Self::DecodeTrailing { extra } => {
                write!(f, "saved environments do not decode: {extra} bytes left after the content")
            }
            Self::ObsShape { shape } => write!(
                f,
                "observation shape {shape:?}: every dimension must be at least 1, with at most {} values in all",
                crate::MAX_OBS_LEN
            ),
            Self::ObsType { expected, got } => {
                write!(f, "an observation buffer of {} values for an environment of {}", got.name(), expected.name())
            }
            Self::Output { field, env, problem } => {
                write!(f, "the environments handed back bad {field}")?;
                if let Some(env) = env {
                    write!(f, " (environment {env} of the batch)")?;
                }
                write!(f, ": {problem}")
            }
            Self::ResetCount { expected, got } => {
                write!(f, "{got} reset RNGs for a batch of {expected} environments")
            }
            Self::NotSaveable { id } => write!(f, "environment {id} cannot be saved"),
            Self::Unsupported { what } => write!(f, "the environment does not support {what}"),
            Self::Custom(_) => write!(f, "environment"),
        }
    }
}

impl std::error::Error for EnvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Custom(e) => Some(e.as_ref()),
            Self::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BatchLengths { states, step_counts } => write!(f, "{states} states, {step_counts} step counts"),
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
            Self::Replay { step, problem } => write!(f, "the stored episode does not replay at step {step}: {problem}"),
        }
    }
}
