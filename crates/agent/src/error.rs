use std::fmt;

/// What can go wrong in the learner.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AgentError {
    /// A setting is invalid.
    InvalidConfig {
        /// The setting's name, as in the configuration file.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// An observation of the wrong length, or with a NaN or infinity.
    BadObservation {
        /// What is wrong with it.
        reason: String,
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
    /// The replay buffer refused something.
    Replay(replay::ReplayError),
    /// The network or optimizer refused something.
    Network(mlp::MlpError),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig { field, reason } => write!(f, "invalid setting {field}: {reason}"),
            Self::BadObservation { reason } => write!(f, "bad observation: {reason}"),
            Self::InvalidAction { action, n_actions } => {
                write!(f, "action {action} is outside the action space 0..{n_actions}")
            }
            Self::NonFiniteQ { sample_count } => {
                write!(f, "the policy network produced a NaN Q-value after {sample_count} actions: training diverged")
            }
            Self::NonFiniteLoss { update, value } => {
                write!(f, "the loss of update {update} is {value}: training diverged")
            }
            Self::Replay(e) => write!(f, "replay buffer: {e}"),
            Self::Network(e) => write!(f, "network: {e}"),
        }
    }
}

impl std::error::Error for AgentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Replay(e) => Some(e),
            Self::Network(e) => Some(e),
            _ => None,
        }
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
