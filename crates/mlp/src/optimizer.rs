//! The optimizer a learner chooses: [`Adam`] or [`RmsProp`], one type with
//! one stored form, so a learner holds either without knowing which.

use serde::{Deserialize, Serialize};

use crate::{
    Adam, AdamConfig, FiniteGradients, Mlp, MlpError, RmsProp, RmsPropConfig, Scalar, StoredAdam, StoredRmsProp,
};

/// Which optimizer, with its hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    /// PyTorch's Adam.
    Adam(AdamConfig),
    /// PyTorch's RMSprop (momentum 0).
    RmsProp(RmsPropConfig),
}

/// An optimizer and its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(bound = "T: Scalar")]
pub enum Optimizer<T: Scalar> {
    /// PyTorch's Adam.
    Adam(Adam<T>),
    /// PyTorch's RMSprop (momentum 0).
    RmsProp(RmsProp<T>),
}

/// An [`Optimizer`] as stored, before it is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: Scalar")]
pub enum StoredOptimizer<T: Scalar> {
    /// Adam's stored form.
    Adam(StoredAdam<T>),
    /// RMSprop's stored form.
    RmsProp(StoredRmsProp<T>),
}

impl<T: Scalar> TryFrom<StoredOptimizer<T>> for Optimizer<T> {
    type Error = MlpError;

    /// # Errors
    /// As the chosen optimizer's stored form.
    fn try_from(stored: StoredOptimizer<T>) -> Result<Self, MlpError> {
        Ok(match stored {
            StoredOptimizer::Adam(s) => Self::Adam(Adam::try_from(s)?),
            StoredOptimizer::RmsProp(s) => Self::RmsProp(RmsProp::try_from(s)?),
        })
    }
}

impl<T: Scalar> Optimizer<T> {
    /// The optimizer `config` names, for `net`, with its state at zero.
    ///
    /// # Errors
    /// [`MlpError::InvalidHyperparameter`].
    pub fn new(net: &Mlp<T>, config: OptimizerConfig) -> Result<Self, MlpError> {
        Ok(match config {
            OptimizerConfig::Adam(c) => Self::Adam(Adam::new(net, c)?),
            OptimizerConfig::RmsProp(c) => Self::RmsProp(RmsProp::new(net, c)?),
        })
    }

    /// Which optimizer, with its hyperparameters.
    #[must_use]
    pub fn config(&self) -> OptimizerConfig {
        match self {
            Self::Adam(a) => OptimizerConfig::Adam(a.config()),
            Self::RmsProp(r) => OptimizerConfig::RmsProp(r.config()),
        }
    }

    /// Steps taken.
    #[must_use]
    pub fn steps(&self) -> u64 {
        match self {
            Self::Adam(a) => a.steps(),
            Self::RmsProp(r) => r.steps(),
        }
    }

    /// Checks that the state has `net`'s shape.
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`].
    pub fn check_fits(&self, net: &Mlp<T>) -> Result<(), MlpError> {
        match self {
            Self::Adam(a) => a.check_fits(net),
            Self::RmsProp(r) => r.square_avg().check_same_shape(net.params()),
        }
    }

    /// One update of `net` with gradients known to be finite.
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`]; nothing changes then.
    pub fn step_finite(&mut self, net: &mut Mlp<T>, grads: FiniteGradients<'_, T>) -> Result<(), MlpError> {
        match self {
            Self::Adam(a) => a.step_finite(net, grads),
            Self::RmsProp(r) => r.step_finite(net, grads),
        }
    }
}
