//! What a caller can get wrong building or using a network, naming the
//! operand or tensor concerned.

use std::fmt;

/// What a caller can get wrong when building or using a network.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MlpError {
    /// Fewer than two layer sizes (an input and an output are needed).
    TooFewSizes {
        /// How many sizes were given.
        got: usize,
    },
    /// A layer of width 0.
    ZeroSize {
        /// The position in the list of sizes.
        index: usize,
    },
    /// Input rows of the wrong width.
    InputWidth {
        /// The network's input width.
        expected: usize,
        /// The width given.
        got: usize,
    },
    /// A per-row argument whose length differs from the number of rows.
    RowCount {
        /// Which argument.
        what: Operand,
        /// The number of input rows.
        expected: usize,
        /// Its length.
        got: usize,
    },
    /// An action index at or beyond the number of outputs.
    ActionOutOfRange {
        /// The batch row.
        row: usize,
        /// The action given.
        action: usize,
        /// The number of outputs (actions).
        n_outputs: usize,
    },
    /// Two networks (or a network and a parameter set) of different shapes.
    ShapeMismatch {
        /// The shape expected.
        expected: Box<crate::Shape>,
        /// The shape given.
        got: Box<crate::Shape>,
    },
    /// Layers that do not connect as their layout says.
    InvalidLayout {
        /// What does not fit.
        problem: String,
    },
    /// A noise sample that does not fit the network's noisy layers.
    InvalidNoise {
        /// What does not fit.
        problem: String,
    },
    /// A parameter tensor of the wrong shape in a state dict.
    TensorShape {
        /// The parameter's name, as in PyTorch's state dict (`fc1.weight`).
        name: String,
        /// The shape expected.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// A stored tensor whose values do not fill its shape exactly (or whose
    /// shape has an axis of 0, or is too large to address).
    TensorValues {
        /// The parameter's name.
        name: String,
        /// The stored shape.
        shape: Vec<usize>,
        /// The values stored.
        values: usize,
    },
    /// A stored tensor in an array format other than ndarray's version 1.
    ArrayFormat {
        /// The parameter's name.
        name: String,
        /// The format version found.
        found: u8,
    },
    /// A stored optimizer state that no sequence of steps produces (a
    /// negative second moment, a step count beyond any run's reach).
    OptimizerState {
        /// What is impossible about it.
        what: OptimizerProblem,
    },
    /// A state dict without a parameter the network needs.
    MissingTensor {
        /// The parameter's name.
        name: String,
    },
    /// A NaN or infinite value where finite values are required.
    NonFinite {
        /// What held it.
        what: Operand,
        /// The flat index of the first bad value.
        index: usize,
    },
    /// An invalid hyperparameter.
    InvalidHyperparameter {
        /// Its name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What it must be.
        requirement: &'static str,
    },
    /// A batch of zero rows.
    EmptyBatch,
}

impl fmt::Display for MlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooFewSizes { got } => {
                write!(f, "a network needs at least 2 layer sizes (input and output), got {got}")
            }
            Self::ZeroSize { index } => {
                write!(f, "layer size {index} is 0: every layer needs a width")
            }
            Self::InputWidth { expected, got } => {
                write!(f, "input rows have width {got}, the network takes {expected}")
            }
            Self::RowCount { what, expected, got } => {
                write!(f, "{what} has length {got}, expected one per input row ({expected})")
            }
            Self::ActionOutOfRange { row, action, n_outputs } => {
                write!(f, "action {action} at row {row} is out of range: the network has {n_outputs} outputs")
            }
            Self::ShapeMismatch { expected, got } => {
                write!(f, "network shape mismatch: expected [{expected}], got [{got}]")
            }
            Self::InvalidLayout { problem } => write!(f, "invalid network layout: {problem}"),
            Self::InvalidNoise { problem } => write!(f, "invalid noise sample: {problem}"),
            Self::TensorShape { name, expected, got } => {
                write!(f, "tensor {name} has shape {got:?}, expected {expected:?}")
            }
            Self::TensorValues { name, shape, values } => {
                write!(f, "stored tensor {name} has shape {shape:?} but {values} values")
            }
            Self::ArrayFormat { name, found } => {
                write!(f, "stored tensor {name} is in array format {found}, expected ndarray's format 1")
            }
            Self::OptimizerState { what } => write!(f, "impossible optimizer state: {what}"),
            Self::MissingTensor { name } => write!(f, "state dict has no tensor {name}"),
            Self::NonFinite { what, index } => write!(f, "{what}[{index}] is not finite"),
            Self::InvalidHyperparameter { name, value, requirement } => {
                write!(f, "{name} = {value} is invalid: it must be {requirement}")
            }
            Self::EmptyBatch => write!(f, "a batch needs at least one row"),
        }
    }
}

impl std::error::Error for MlpError {}

/// What makes a stored optimizer state impossible.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptimizerProblem {
    /// A step count beyond any run's reach (2⁶²), which counting further
    /// could overflow.
    StepCount {
        /// The count.
        steps: u64,
    },
    /// A second moment below zero (it averages squares).
    NegativeSecondMoment {
        /// The tensor.
        name: String,
        /// The flat index.
        index: usize,
    },
}

impl fmt::Display for OptimizerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StepCount { steps } => write!(f, "{steps} steps taken, beyond what any run reaches (2^62)"),
            Self::NegativeSecondMoment { name, index } => {
                write!(f, "the second moment of {name}[{index}] is negative")
            }
        }
    }
}

/// What an error is about: an argument of a pass or a tensor of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operand {
    /// The input rows.
    Inputs,
    /// The rows a bootstrap network is evaluated on.
    NextInputs,
    /// The output index gathered from each row.
    Actions,
    /// The value each gathered output is compared with.
    Targets,
    /// The weight of each row's loss.
    Weights,
    /// A parameter tensor, or a gradient or optimizer moment of one, by its
    /// PyTorch name (`fc1.weight`).
    Tensor(String),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inputs => f.write_str("inputs"),
            Self::NextInputs => f.write_str("next inputs"),
            Self::Actions => f.write_str("actions"),
            Self::Targets => f.write_str("targets"),
            Self::Weights => f.write_str("loss weights"),
            Self::Tensor(name) => f.write_str(name),
        }
    }
}
