//! PyTorch's RMSprop (momentum 0, no weight decay), centered or not, with
//! ε outside the square root — the optimizer of Young & Tian's MinAtar DQN
//! (centered, lr 2.5e-4, α 0.95, ε 0.01) — applied block by block as
//! [`Adam`](crate::Adam) is, with a serializable, checked state.

use serde::{Deserialize, Serialize};

use crate::adam::{Rule, flush_subnormal, update_net};
use crate::{FiniteGradients, Gradients, Mlp, MlpError, OptimizerProblem, Params, Scalar, StoredParams};

/// RMSprop's hyperparameters; [`RmsPropConfig::new`] takes PyTorch's
/// defaults (α 0.99, ε 1e-8, not centered).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RmsPropConfig {
    /// The learning rate.
    pub lr: f64,
    /// The decay of the averages (α).
    pub alpha: f64,
    /// Added after the square root (ε).
    pub eps: f64,
    /// Divide by the gradient's standard deviation, `√(E(g²) − E(g)²)`,
    /// rather than its root mean square.
    pub centered: bool,
}

impl RmsPropConfig {
    /// Learning rate `lr` with α = 0.99, ε = 1e-8, not centered.
    #[must_use]
    pub fn new(lr: f64) -> Self {
        Self { lr, alpha: 0.99, eps: 1e-8, centered: false }
    }

    fn validate(self) -> Result<Self, MlpError> {
        for (name, value) in [("lr", self.lr), ("eps", self.eps)] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(MlpError::InvalidHyperparameter { name, value, requirement: "positive and finite" });
            }
        }
        if !(0.0..1.0).contains(&self.alpha) {
            return Err(MlpError::InvalidHyperparameter { name: "alpha", value: self.alpha, requirement: "in [0, 1)" });
        }
        Ok(self)
    }
}

/// The RMSprop optimizer with PyTorch's update rule, and its state.
///
/// Per step, for each parameter p with gradient g: `v ← α·v + (1−α)·g²`;
/// centered: `ḡ ← ḡ + (1−α)(g − ḡ)` and `d = √(v − ḡ²) + ε`, else
/// `d = √v + ε`; `p ← p − lr · g / d`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredRmsProp<T>", bound = "T: Scalar")]
pub struct RmsProp<T: Scalar> {
    config: RmsPropConfig,
    step: u64,
    /// ḡ (zeros, unused, when not centered).
    grad_avg: Params<T>,
    /// v.
    square_avg: Params<T>,
}

/// An [`RmsProp`] as stored, before it is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: Scalar")]
pub struct StoredRmsProp<T: Scalar> {
    /// The hyperparameters.
    pub config: RmsPropConfig,
    /// Steps taken.
    pub step: u64,
    /// The gradients' running average.
    pub grad_avg: StoredParams<T>,
    /// The squared gradients' running average.
    pub square_avg: StoredParams<T>,
}

impl<T: Scalar> TryFrom<StoredRmsProp<T>> for RmsProp<T> {
    type Error = MlpError;

    /// # Errors
    /// An invalid hyperparameter, averages of different shapes, a
    /// non-finite value or a negative square average.
    fn try_from(s: StoredRmsProp<T>) -> Result<Self, MlpError> {
        let config = s.config.validate()?;
        if s.step > 1 << 62 {
            return Err(MlpError::OptimizerState { what: OptimizerProblem::StepCount { steps: s.step } });
        }
        let grad_avg = Params::from_stored(s.grad_avg)?;
        let square_avg = Params::from_stored(s.square_avg)?;
        grad_avg.check_same_shape(&square_avg)?;
        grad_avg.check_finite()?;
        square_avg.check_finite()?;
        for (name, values) in square_avg.named_tensors() {
            if let Some(index) = values.iter().position(|v| *v < T::ZERO) {
                return Err(MlpError::OptimizerState { what: OptimizerProblem::NegativeSecondMoment { name, index } });
            }
        }
        Ok(Self { config, step: s.step, grad_avg, square_avg })
    }
}

impl<T: Scalar> RmsProp<T> {
    /// An optimizer for `net` with zero averages.
    ///
    /// # Errors
    /// [`MlpError::InvalidHyperparameter`] for a non-positive learning rate
    /// or ε, or an α outside `[0, 1)`.
    pub fn new(net: &Mlp<T>, config: RmsPropConfig) -> Result<Self, MlpError> {
        let zeros = net.params().zeros_like();
        Ok(Self { config: config.validate()?, step: 0, grad_avg: zeros.clone(), square_avg: zeros })
    }

    /// The hyperparameters.
    #[must_use]
    pub fn config(&self) -> RmsPropConfig {
        self.config
    }

    /// Steps taken.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The squared gradients' running average (PyTorch's `square_avg`).
    #[must_use]
    pub fn square_avg(&self) -> &Params<T> {
        &self.square_avg
    }

    /// The gradients' running average (PyTorch's `grad_avg`; zeros when not
    /// centered).
    #[must_use]
    pub fn grad_avg(&self) -> &Params<T> {
        &self.grad_avg
    }

    /// One update of `net` with `grads`.
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`] or [`MlpError::NonFinite`]; nothing
    /// changes then.
    pub fn step(&mut self, net: &mut Mlp<T>, grads: &Gradients<T>) -> Result<(), MlpError> {
        self.square_avg.check_same_shape(net.params())?;
        self.square_avg.check_same_shape(grads)?;
        self.step_finite(net, FiniteGradients::check(grads)?)
    }

    /// [`step`](Self::step) with gradients known to be finite.
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`]; nothing changes then.
    pub fn step_finite(&mut self, net: &mut Mlp<T>, grads: FiniteGradients<'_, T>) -> Result<(), MlpError> {
        let grads = grads.get();
        self.square_avg.check_same_shape(net.params())?;
        self.square_avg.check_same_shape(grads)?;
        self.step += 1;
        let RmsPropConfig { lr, alpha, eps, centered } = self.config;
        let rule = RmsPropRule {
            lr: T::from_f64(lr),
            alpha: T::from_f64(alpha),
            one_minus_alpha: T::from_f64(1.0 - alpha),
            eps: T::from_f64(eps),
            centered,
        };
        update_net(net, &mut self.grad_avg, &mut self.square_avg, grads, rule);
        Ok(())
    }
}

/// The per-step constants, converted to `T`.
#[derive(Clone, Copy)]
struct RmsPropRule<T> {
    lr: T,
    alpha: T,
    one_minus_alpha: T,
    eps: T,
    centered: bool,
}

impl<T: Scalar> Rule<T> for RmsPropRule<T> {
    #[inline(always)]
    fn apply(self, p: &mut T, grad_avg: &mut T, square_avg: &mut T, g: T) {
        // torch: square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        *square_avg = flush_subnormal(*square_avg * self.alpha + self.one_minus_alpha * g * g);
        let avg = if self.centered {
            // torch: grad_avg.lerp_(grad, 1 - alpha);
            // avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
            *grad_avg = flush_subnormal(*grad_avg + self.one_minus_alpha * (g - *grad_avg));
            (*square_avg - *grad_avg * *grad_avg).sqrt()
        } else {
            square_avg.sqrt()
        };
        // torch: avg = avg.add_(eps); param.addcdiv_(grad, avg, value=-lr)
        *p = *p - self.lr * (g / (avg + self.eps));
    }
}
