//! What can be wrong with a buffer's shape, a recorded step, a pushed
//! transition, a sample request, or stored contents.

use std::fmt;

use crate::FrameKind;

/// What can be wrong with a buffer's shape, a recorded step, a pushed
/// transition or a sample request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReplayError {
    /// A buffer of capacity 0 could hold nothing.
    ZeroCapacity,
    /// A frame of 0 values, or of more than
    /// [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN) (a stack counted whole).
    FrameLength {
        /// The values asked for.
        len: usize,
    },
    /// A stack of 0 frames or more than [`MAX_STACK`](crate::MAX_STACK).
    Stacking {
        /// The frames asked for.
        frames: usize,
    },
    /// An input scale that is 0, not finite, or makes a frame's values
    /// overflow `f32`.
    Scale {
        /// The scale given.
        scale: f64,
    },
    /// A buffer for no environment, or for more than
    /// [`MAX_ENVS`](crate::MAX_ENVS).
    EnvCount {
        /// The number asked for.
        envs: usize,
    },
    /// An environment index beyond the buffer's environments.
    EnvOutOfRange {
        /// The index given.
        env: usize,
        /// The buffer's number of environments.
        envs: usize,
    },
    /// A sample of more transitions than the buffer holds (sampling is
    /// without replacement).
    BatchTooLarge {
        /// The batch size asked for.
        batch_size: usize,
        /// The transitions held.
        len: usize,
    },
    /// A frame of the wrong length.
    ObsLength {
        /// `"state"` or `"next_state"`.
        field: &'static str,
        /// The buffer's frame length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A frame of another type than the buffer's.
    FrameType {
        /// `"state"` or `"next_state"`.
        field: &'static str,
        /// The buffer's kind.
        expected: FrameKind,
        /// The kind given.
        got: FrameKind,
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
    /// A binary cell that is neither 0 nor 1.
    NotBinary {
        /// `"state"` or `"next_state"`.
        field: &'static str,
        /// The cell's position.
        index: usize,
        /// Its value.
        value: u8,
    },
    /// A capacity whose storage cannot be allocated.
    TooLarge {
        /// The capacity asked for.
        capacity: usize,
    },
    /// Stored contents that contradict each other (a damaged checkpoint).
    Inconsistent(Inconsistency),
    /// An action index too large to store (actions are kept in 14 bits).
    ActionOutOfRange {
        /// The action given.
        action: usize,
    },
    /// A slot that holds no transition.
    SlotOutOfRange {
        /// The slot given.
        slot: usize,
        /// The transitions held.
        capacity: usize,
    },
    /// A transition said to span 0 environment steps, or more than the
    /// buffer keeps.
    Steps {
        /// The steps given.
        steps: u8,
        /// The most the buffer keeps.
        max_steps: u8,
    },
    /// A transition of an environment before any of its steps was
    /// recorded.
    NoStep {
        /// The environment.
        env: usize,
    },
    /// A transition spanning more steps than its environment's episode has
    /// recorded.
    Span {
        /// The environment.
        env: usize,
        /// The steps the transition spans.
        steps: u8,
    },
    /// The frames a transition needs were overwritten before it was pushed
    /// (its environment was idle while the others filled the buffer's
    /// frames).
    FramesOverwritten {
        /// The environment.
        env: usize,
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
            Self::FrameLength { len } => {
                write!(f, "frames of {len} values: from 1 to {} values (a stack counted whole)", crate::MAX_FRAME_LEN)
            }
            Self::Stacking { frames } => write!(f, "stacks of {frames} frames: from 1 to {}", crate::MAX_STACK),
            Self::Scale { scale } => {
                write!(f, "input scale {scale}: it must be finite, not 0, and keep every value finite in f32")
            }
            Self::EnvCount { envs } => write!(f, "a buffer for {envs} environments: from 1 to {}", crate::MAX_ENVS),
            Self::EnvOutOfRange { env, envs } => {
                write!(f, "environment {env}: the buffer records environments 0..{envs}")
            }
            Self::BatchTooLarge { batch_size, len } => {
                write!(f, "cannot sample {batch_size} distinct transitions from a buffer holding {len}")
            }
            Self::ObsLength { field, expected, got } => {
                write!(f, "{field} has length {got}, expected {expected}")
            }
            Self::FrameType { field, expected, got } => {
                write!(f, "{field} holds {} values, the buffer stores {} frames", got.name(), expected.name())
            }
            Self::NonFinite { field, index, value } => {
                write!(f, "{field}[{index}] is {value}: transitions must be finite")
            }
            Self::NotBinary { field, index, value } => {
                write!(f, "{field}[{index}] is {value}: binary cells are 0 or 1")
            }
            Self::TooLarge { capacity } => write!(f, "replay capacity {capacity} cannot be allocated"),
            Self::Inconsistent(problem) => write!(f, "replay buffer contents are inconsistent: {problem}"),
            Self::ActionOutOfRange { action } => {
                write!(f, "action {action} is out of range: the buffer stores actions up to {}", crate::MAX_ACTION)
            }
            Self::SlotOutOfRange { slot, capacity } => {
                write!(f, "slot {slot} holds no transition (the buffer has {capacity} slots)")
            }
            Self::Steps { steps: 0, .. } => write!(f, "a transition spans at least one environment step, not 0"),
            Self::Steps { steps, max_steps } => {
                write!(f, "a transition spanning {steps} steps: this buffer keeps transitions of 1 to {max_steps}")
            }
            Self::NoStep { env } => write!(f, "a transition of environment {env}, which has recorded no step"),
            Self::Span { env, steps } => {
                write!(f, "a transition of {steps} steps, more than environment {env}'s episode has recorded")
            }
            Self::FramesOverwritten { env } => write!(
                f,
                "environment {env}'s recent frames were overwritten before its transition was pushed: record \
                 every environment's steps as they happen"
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
    /// The stored settings are not the ones the buffer is read for.
    Settings,
    /// The counters contradict each other (more transitions than pushes,
    /// a position beyond the capacity, …).
    Counters {
        /// What does not fit.
        problem: &'static str,
    },
    /// A stored value is NaN or infinite.
    NonFinite {
        /// `"frame"` or `"reward"`.
        field: &'static str,
        /// The position in that column.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A stored frame's bits beyond its last cell are set.
    PaddingBits {
        /// The frame's position.
        frame: usize,
    },
    /// A frame's link to the one before it in its episode points at a
    /// frame that is not stored.
    Link {
        /// The frame's position.
        frame: usize,
    },
    /// A transition whose frames are not stored, or that spans more steps
    /// than its episode holds.
    Transition {
        /// The transition's slot.
        slot: usize,
    },
    /// A transition spanning 0 environment steps, or more than the buffer
    /// keeps.
    Steps {
        /// The slot.
        slot: usize,
    },
    /// An environment's latest frame is not stored.
    Chain {
        /// The environment.
        env: usize,
    },
    /// The stream ends early or has bytes after its end.
    Length,
}

impl fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Settings => write!(f, "its settings are not the run's"),
            Self::Counters { problem } => write!(f, "its counters contradict each other: {problem}"),
            Self::NonFinite { field, index, value } => write!(f, "stored {field} value {index} is {value}"),
            Self::PaddingBits { frame } => write!(f, "frame {frame} has bits set beyond its last cell"),
            Self::Link { frame } => write!(f, "frame {frame} links to a frame that is not stored"),
            Self::Transition { slot } => write!(f, "the transition in slot {slot} has frames that are not stored"),
            Self::Steps { slot } => write!(f, "the transition in slot {slot} spans a number of steps out of range"),
            Self::Chain { env } => write!(f, "environment {env}'s latest frame is not stored"),
            Self::Length => write!(f, "its stream ends early or runs on past its end"),
        }
    }
}
