//! What can be wrong with a buffer's shape, a pushed transition, a sample
//! request, or stored contents.

use std::fmt;

/// What can be wrong with a buffer's shape, a pushed transition or a sample
/// request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReplayError {
    /// A buffer of capacity 0 could hold nothing.
    ZeroCapacity,
    /// Observations of length 0 carry nothing.
    ZeroObsDim,
    /// A sample of more transitions than the buffer holds (sampling is
    /// without replacement).
    BatchTooLarge {
        /// The batch size asked for.
        batch_size: usize,
        /// The transitions held.
        len: usize,
    },
    /// An observation of the wrong length.
    ObsLength {
        /// `"state"` or `"next_state"`.
        field: &'static str,
        /// The buffer's observation length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A NaN or infinite value in a pushed transition.
    NonFinite {
        /// `"state"`, `"next_state"` or `"reward"`.
        field: &'static str,
        /// The position in that field (0 for the reward).
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// A capacity whose storage cannot be allocated.
    TooLarge {
        /// The capacity asked for.
        capacity: usize,
    },
    /// Stored contents that contradict each other (a damaged checkpoint).
    Inconsistent(Inconsistency),
    /// An action index too large to store (actions are kept as `u16`).
    ActionOutOfRange {
        /// The action given.
        action: usize,
    },
    /// A slot beyond the buffer's capacity.
    SlotOutOfRange {
        /// The slot given.
        slot: usize,
        /// The capacity.
        capacity: usize,
    },
    /// A transition said to span 0 environment steps, or several in a
    /// buffer that keeps no step counts.
    Steps {
        /// The steps given.
        steps: u8,
        /// Whether the buffer keeps step counts.
        multi_step: bool,
    },
    /// A priority that is not positive and finite.
    InvalidPriority {
        /// The slot it was for.
        slot: usize,
        /// The value given.
        priority: f64,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => write!(f, "replay capacity is 0: it must be at least 1"),
            Self::ZeroObsDim => write!(f, "observation length is 0: it must be at least 1"),
            Self::BatchTooLarge { batch_size, len } => {
                write!(f, "cannot sample {batch_size} distinct transitions from a buffer holding {len}")
            }
            Self::ObsLength { field, expected, got } => {
                write!(f, "{field} has length {got}, expected {expected}")
            }
            Self::NonFinite { field, index, value } => {
                write!(f, "{field}[{index}] is {value}: transitions must be finite")
            }
            Self::TooLarge { capacity } => write!(f, "replay capacity {capacity} cannot be allocated"),
            Self::Inconsistent(problem) => write!(f, "replay buffer contents are inconsistent: {problem}"),
            Self::ActionOutOfRange { action } => {
                write!(f, "action {action} is out of range: the buffer stores actions up to {}", u16::MAX)
            }
            Self::SlotOutOfRange { slot, capacity } => {
                write!(f, "slot {slot} is out of range: the buffer has {capacity} slots")
            }
            Self::Steps { steps: 0, .. } => write!(f, "a transition spans at least one environment step, not 0"),
            Self::Steps { steps, .. } => write!(
                f,
                "a transition spanning {steps} steps needs a buffer made with new_multi_step: this one keeps no step counts"
            ),
            Self::InvalidPriority { slot, priority } => {
                write!(f, "priority {priority} for slot {slot}: priorities must be positive and finite")
            }
        }
    }
}

impl std::error::Error for ReplayError {}

/// How a stored buffer's contents contradict each other.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Inconsistency {
    /// The per-transition columns differ in length, or hold more than the
    /// capacity.
    Columns {
        /// Stored actions.
        actions: usize,
        /// Stored rewards.
        rewards: usize,
        /// Stored flag bytes.
        flags: usize,
        /// Stored step counts.
        steps: usize,
        /// The buffer's capacity.
        capacity: usize,
    },
    /// The observation columns do not hold one row per transition.
    Observations {
        /// Stored state values.
        states: usize,
        /// Stored next-state values.
        next_states: usize,
        /// Stored transitions.
        transitions: usize,
        /// Values per observation.
        obs_dim: usize,
    },
    /// The write position does not follow from the number of pushes.
    WritePosition {
        /// The stored write position.
        write_pos: usize,
        /// The stored number of pushes.
        pushes: u64,
        /// Stored transitions.
        len: usize,
    },
    /// A stored value is NaN or infinite.
    NonFinite {
        /// `"state"`, `"next_state"` or `"reward"`.
        field: &'static str,
        /// The position in that column.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A flag byte with bits other than terminated and truncated.
    FlagBits {
        /// The slot.
        slot: usize,
        /// The byte.
        flags: u8,
    },
    /// A transition spanning 0 environment steps.
    ZeroSteps {
        /// The slot.
        slot: usize,
    },
}

impl fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Columns { actions, rewards, flags, steps, capacity } => {
                write!(
                    f,
                    "{actions} actions, {rewards} rewards, {flags} flags, {steps} step counts for capacity {capacity}"
                )
            }
            Self::Observations { states, next_states, transitions, obs_dim } => {
                write!(f, "{states} and {next_states} observation values for {transitions} transitions of {obs_dim}")
            }
            Self::WritePosition { write_pos, pushes, len } => {
                write!(f, "write position {write_pos} after {pushes} pushes into {len} slots")
            }
            Self::NonFinite { field, index, value } => write!(f, "stored {field}[{index}] is {value}"),
            Self::FlagBits { slot, flags } => write!(f, "slot {slot} has unknown flag bits {flags:#04x}"),
            Self::ZeroSteps { slot } => write!(f, "slot {slot} spans 0 environment steps"),
        }
    }
}
