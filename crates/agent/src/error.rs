//! What can go wrong in a learner: bad settings, bad input from the loop,
//! divergence, and a damaged frozen state; each variant carries the values
//! that were wrong, and wraps the replay buffer's or network's own error
//! where one of them refused.

use std::fmt;

/// What can go wrong in the learner.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AgentError {
    /// A setting is invalid.
    InvalidConfig(InvalidSetting),
    /// An observation (or a batch of them) the learner cannot use.
    BadObservation(ObservationProblem),
    /// A NaN or infinite reward.
    NonFiniteReward {
        /// The value.
        value: f32,
    },
    /// An action index outside the action space.
    InvalidAction {
        /// The index given.
        action: usize,
        /// The number of actions.
        n_actions: usize,
    },
    /// The network produced a NaN: training has diverged.
    NonFiniteQ {
        /// Training actions taken so far.
        sample_count: u64,
    },
    /// The loss became NaN or infinite: training has diverged.
    NonFiniteLoss {
        /// The update (1-based) whose loss it was.
        update: u64,
        /// The value.
        value: f32,
    },
    /// A gradient became NaN or infinite: training has diverged.
    NonFiniteGradient {
        /// The update (1-based) whose gradient it was.
        update: u64,
        /// The parameter, by its PyTorch name.
        tensor: String,
        /// The flat index of the first bad value.
        index: usize,
    },
    /// An environment index beyond the most whose n-step returns can be
    /// pending at once.
    InvalidEnvironment {
        /// The index given.
        env: usize,
        /// The limit ([`crate::MAX_ENVIRONMENTS`]).
        max: usize,
    },
    /// With n-step returns, a step whose state is not the next state of its
    /// environment's previous step, though that episode did not end: the
    /// pending steps could not be completed. Nothing was stored.
    Discontinuity {
        /// The environment.
        env: usize,
    },
    /// An n-step return that overflowed to infinity: the rewards are too
    /// large to sum. Nothing was stored or kept of that step.
    NonFiniteReturn {
        /// The environment.
        env: usize,
        /// Which of its pending steps (0 the oldest) the return started at.
        pending: usize,
    },
    /// A frozen learner (a checkpoint's) that contradicts itself or its
    /// settings.
    DamagedState(StateProblem),
    /// The replay buffer refused something.
    Replay(replay::ReplayError),
    /// The network or optimizer refused something.
    Network(mlp::MlpError),
}

/// What is wrong with an observation handed to the learner.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ObservationProblem {
    /// An observation of the wrong length.
    Length {
        /// The learner's observation length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A batch that is not whole rows of the learner's observation length
    /// (or that names another row length).
    Rows {
        /// Values given.
        values: usize,
        /// The row length given.
        row_len: usize,
        /// The learner's observation length.
        expected: usize,
    },
    /// A batch with no rows.
    Empty,
    /// A binary cell that is neither 0 nor 1.
    NotBinary {
        /// The row (the environment).
        row: usize,
        /// The cell within the row.
        index: usize,
        /// The value.
        value: u8,
    },
    /// An observation of another kind than the learner takes.
    Kind {
        /// The kind the learner takes.
        expected: replay::FrameKind,
        /// The kind given.
        got: replay::FrameKind,
    },
    /// A NaN or infinite entry.
    NonFinite {
        /// The row (0 for a single observation).
        row: usize,
        /// The entry within the row.
        index: usize,
        /// The value.
        value: f32,
    },
}

/// How a frozen learner contradicts itself or its settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StateProblem {
    /// The policy network does not decode to a consistent network.
    Policy(mlp::MlpError),
    /// The target network does not decode to a consistent network.
    Target(mlp::MlpError),
    /// The optimizer's state is inconsistent, or does not fit the policy.
    Optimizer(mlp::MlpError),
    /// The replay buffer's contents are inconsistent.
    Replay(replay::ReplayError),
    /// A network whose shape (layout, layer sizes, noisy layers) differs
    /// from the settings'.
    NetworkShape {
        /// `"policy"` or `"target"`.
        network: &'static str,
        /// Its shape.
        shape: Box<mlp::Shape>,
        /// The settings' shape.
        expected: Box<mlp::Shape>,
    },
    /// The replay buffer's settings (capacity, frames, stack, n, number of
    /// environments) differ from the learner's.
    BufferSettings,
    /// The stored settings do not parse.
    Settings(Box<ron::error::SpannedError>),
    /// A stored transition whose action is outside the action space.
    StoredAction {
        /// The action.
        action: usize,
        /// The number of actions.
        n_actions: usize,
    },
    /// The last update is recorded after the last action.
    Counters {
        /// Training actions taken.
        sample_count: u64,
        /// The action count at the last update.
        at_last_update: u64,
    },
    /// A counter beyond any run's reach ([`crate::MAX_COUNT`]), which
    /// counting further could overflow.
    CounterTooLarge {
        /// Which counter.
        counter: &'static str,
        /// Its value.
        value: u64,
    },
    /// A tabular learner's table of the wrong size, or with a non-finite
    /// value.
    Table {
        /// Values stored.
        len: usize,
        /// Values the grid needs.
        expected: usize,
        /// The first non-finite value's position, if any.
        non_finite_at: Option<usize>,
    },
    /// A tabular learner's pending transition outside its grid or action
    /// space, or with a non-finite reward.
    PendingTransition,
    /// An interrupted update whose progress is impossible: no step or every
    /// step taken, a non-finite loss, or its previous update after the last.
    PartialUpdate {
        /// Gradient steps recorded as taken.
        steps_done: u32,
        /// Gradient steps per update.
        gradient_steps: u32,
        /// The losses summed so far.
        loss_sum: f32,
        /// The action count it records for the update before.
        previous_count: u64,
        /// The action count at the update it continues.
        at_last_update: u64,
    },
    /// An environment's pending n-step window is impossible.
    NStepWindows {
        /// The environment (or, for too many, their number).
        env: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// Prioritized replay's stored priorities are impossible.
    Priorities {
        /// What is wrong.
        problem: &'static str,
    },
    /// The optimizer's settings differ from the learner's.
    OptimizerSettings {
        /// The stored optimizer's.
        stored: Box<mlp::OptimizerConfig>,
        /// The settings'.
        expected: Box<mlp::OptimizerConfig>,
    },
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(_) => write!(f, "invalid settings"),
            Self::BadObservation(problem) => write!(f, "bad observation: {problem}"),
            Self::NonFiniteReward { value } => write!(f, "the reward is {value}: rewards must be finite"),
            Self::InvalidAction { action, n_actions } => {
                write!(f, "action {action} is outside the action space 0..{n_actions}")
            }
            Self::NonFiniteQ { sample_count } => {
                write!(f, "the policy network produced a NaN Q-value after {sample_count} actions: training diverged")
            }
            Self::NonFiniteLoss { update, value } => {
                write!(f, "the loss of update {update} is {value}: training diverged")
            }
            Self::NonFiniteGradient { update, tensor, index } => {
                write!(f, "the gradient of {tensor}[{index}] in update {update} is not finite: training diverged")
            }
            Self::InvalidEnvironment { env, max } => {
                write!(f, "environment index {env} is out of range: at most {max} environments")
            }
            Self::Discontinuity { env } => write!(
                f,
                "environment {env}'s state is not the next state of its previous step, though that episode did not \
                 end: n-step transitions need each environment's steps in order"
            ),
            Self::NonFiniteReturn { env, pending } => write!(
                f,
                "the n-step return of environment {env} from its pending step {pending} is not finite: the rewards \
                 are too large to sum"
            ),
            // The wrapped error is the source: the chain printer shows it.
            Self::DamagedState(_) => write!(f, "damaged learner state"),
            Self::Replay(_) => write!(f, "replay buffer"),
            Self::Network(_) => write!(f, "network"),
        }
    }
}

impl std::error::Error for AgentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidConfig(e) => Some(e),
            Self::DamagedState(e) => Some(e),
            Self::Replay(e) => Some(e),
            Self::Network(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for ObservationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { expected, got } => write!(f, "length {got}, expected {expected}"),
            Self::Rows { values, row_len, expected } => {
                write!(f, "{values} values in rows of {row_len}, expected whole rows of {expected}")
            }
            Self::Empty => write!(f, "a batch of no observations"),
            Self::Kind { expected, got } => write!(f, "{} values, expected {}", got.name(), expected.name()),
            Self::NotBinary { row, index, value } => write!(f, "row {row}, cell {index} is {value}, not 0 or 1"),
            Self::NonFinite { row, index, value } => write!(f, "row {row}, entry {index} is {value}"),
        }
    }
}

impl fmt::Display for StateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Policy(_) => write!(f, "policy network"),
            Self::Target(_) => write!(f, "target network"),
            Self::Optimizer(_) => write!(f, "optimizer"),
            Self::Replay(_) => write!(f, "replay buffer"),
            Self::NetworkShape { network, shape, expected } => {
                write!(f, "the {network} network is [{shape}], the settings make [{expected}]")
            }
            Self::BufferSettings => write!(f, "the replay buffer's settings differ from the learner's"),
            Self::Settings(_) => write!(f, "the stored settings do not parse"),
            Self::StoredAction { action, n_actions } => {
                write!(f, "a stored transition has action {action}, outside 0..{n_actions}")
            }
            Self::Counters { sample_count, at_last_update } => write!(
                f,
                "the last update is recorded at action {at_last_update}, after the last action {sample_count}"
            ),
            Self::CounterTooLarge { counter, value } => {
                write!(f, "{counter} is {value}, beyond what any run reaches (2^62)")
            }
            Self::Table { len, expected, non_finite_at } => match non_finite_at {
                Some(i) => write!(f, "table value {i} is not finite"),
                None => write!(f, "the table has {len} values, the grid needs {expected}"),
            },
            Self::PendingTransition => write!(f, "the pending transition is outside the grid or not finite"),
            Self::PartialUpdate { steps_done, gradient_steps, loss_sum, previous_count, at_last_update } => write!(
                f,
                "an interrupted update records {steps_done} of {gradient_steps} gradient steps (it needs 1 to {}), a \
                 loss sum of {loss_sum} (it needs a finite one), and the update before it at action \
                 {previous_count}, this one at {at_last_update} (it needs the first no later than the second)",
                gradient_steps.saturating_sub(1)
            ),
            Self::NStepWindows { env, problem } => write!(f, "the n-step window of environment {env} {problem}"),
            Self::Priorities { problem } => write!(f, "the replay priorities {problem}"),
            Self::OptimizerSettings { stored, expected } => {
                write!(f, "the optimizer's settings ({stored:?}) differ from the learner's ({expected:?})")
            }
        }
    }
}

impl std::error::Error for StateProblem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Policy(e) | Self::Target(e) | Self::Optimizer(e) => Some(e),
            Self::Replay(e) => Some(e),
            Self::Settings(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// A setting that is invalid: what [`DqnConfig::validate`](crate::DqnConfig::validate)
/// finds (it can find nothing else).
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidSetting {
    /// The setting's name, as in the configuration file.
    pub field: &'static str,
    /// Why it is invalid.
    pub reason: String,
    /// The lower crate's refusal it comes from, kept as the error's
    /// [`source`](std::error::Error::source) (not folded into `reason`).
    pub source: Option<Box<SettingSource>>,
}

/// What refused a setting below the learner.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SettingSource {
    /// The network (its widths make no network, say).
    Network(mlp::MlpError),
    /// The replay buffer (its observations or stacking).
    Replay(replay::ReplayError),
}

impl InvalidSetting {
    /// `field` is invalid because `reason`.
    #[must_use]
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into(), source: None }
    }

    /// The same, with the lower error it comes from.
    #[must_use]
    pub fn because(mut self, source: SettingSource) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for InvalidSetting {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.source.as_deref() {
            Some(SettingSource::Network(e)) => Some(e),
            Some(SettingSource::Replay(e)) => Some(e),
            None => None,
        }
    }
}

impl From<InvalidSetting> for AgentError {
    fn from(e: InvalidSetting) -> Self {
        Self::InvalidConfig(e)
    }
}

impl From<replay::ReplayError> for AgentError {
    fn from(e: replay::ReplayError) -> Self {
        Self::Replay(e)
    }
}

impl From<mlp::MlpError> for AgentError {
    fn from(e: mlp::MlpError) -> Self {
        Self::Network(e)
    }
}
