//! PyTorch's Adam: the update rule computed in PyTorch's operation order,
//! block by block with the kernel copies refreshed in the same pass, and a
//! serializable, checked state.

use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use crate::kernel::{Job, PIECE, vectorized};
use crate::net::{PANEL, refresh_block};
use crate::noise::NoisyRefresh;
use crate::{FiniteGradients, Gradients, Mlp, MlpError, OptimizerProblem, Params, Scalar, StoredParams};

/// Adam's hyperparameters; [`AdamConfig::new`] takes PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// The learning rate.
    pub lr: f64,
    /// The decay of the first moment (β1).
    pub beta1: f64,
    /// The decay of the second moment (β2).
    pub beta2: f64,
    /// Added to the denominator after the square root (ε).
    pub eps: f64,
}

impl AdamConfig {
    /// Learning rate `lr` with β1 = 0.9, β2 = 0.999, ε = 1e-8.
    #[must_use]
    pub fn new(lr: f64) -> Self {
        Self { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    fn validate(self) -> Result<Self, MlpError> {
        let positive = |name, value: f64| {
            if value > 0.0 && value.is_finite() {
                Ok(())
            } else {
                Err(MlpError::InvalidHyperparameter { name, value, requirement: "positive and finite" })
            }
        };
        positive("lr", self.lr)?;
        positive("eps", self.eps)?;
        for (name, value) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&value) {
                return Err(MlpError::InvalidHyperparameter { name, value, requirement: "in [0, 1)" });
            }
        }
        Ok(self)
    }
}

/// The Adam optimizer with PyTorch's update rule, and its state.
///
/// Per step t (from 1), for each parameter p with gradient g:
/// `m ← m + (1−β1)(g − m)`; `v ← β2·v + (1−β2)·g²`;
/// `p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)`, the two bias
/// corrections computed in f64 as PyTorch does. The whole state (step count
/// and both moments) serializes, so a resumed run continues exactly.
///
/// Read back (serde), it goes through [`StoredAdam`]'s checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredAdam<T>", bound = "T: Scalar")]
pub struct Adam<T: Scalar> {
    config: AdamConfig,
    step: u64,
    exp_avg: Params<T>,
    exp_avg_sq: Params<T>,
}

/// An [`Adam`] as stored, before it is checked: the same fields, in the same
/// serialized form. Decode this, then convert with `Adam::try_from`, to keep
/// the typed error of a damaged state (some formats, postcard among them,
/// drop the message of an error raised inside deserialization).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: Scalar")]
pub struct StoredAdam<T: Scalar> {
    /// The hyperparameters.
    pub config: AdamConfig,
    /// Steps taken.
    pub step: u64,
    /// The first moments.
    pub exp_avg: StoredParams<T>,
    /// The second moments.
    pub exp_avg_sq: StoredParams<T>,
}

impl<T: Scalar> TryFrom<StoredAdam<T>> for Adam<T> {
    type Error = MlpError;

    /// # Errors
    /// An invalid hyperparameter, moments that are not a network's shape or
    /// differ from each other, or a non-finite moment.
    fn try_from(s: StoredAdam<T>) -> Result<Self, MlpError> {
        let config = s.config.validate()?;
        // No run counts this far (at a million steps a second, 146 000
        // years), so counting on from here cannot overflow.
        if s.step > 1 << 62 {
            return Err(MlpError::OptimizerState { what: OptimizerProblem::StepCount { steps: s.step } });
        }
        let exp_avg = Params::from_stored(s.exp_avg)?;
        let exp_avg_sq = Params::from_stored(s.exp_avg_sq)?;
        exp_avg.check_same_shape(&exp_avg_sq)?;
        exp_avg.check_finite()?;
        exp_avg_sq.check_finite()?;
        for (name, values) in exp_avg_sq.named_tensors() {
            if let Some(index) = values.iter().position(|v| *v < T::ZERO) {
                let what = OptimizerProblem::NegativeSecondMoment { name, index };
                return Err(MlpError::OptimizerState { what });
            }
        }
        Ok(Self { config, step: s.step, exp_avg, exp_avg_sq })
    }
}

impl<T: Scalar> Adam<T> {
    /// An optimizer for `net` with zero moments and no steps taken.
    ///
    /// # Errors
    /// [`MlpError::InvalidHyperparameter`] for a non-positive learning rate
    /// or ε, or a β outside `[0, 1)`.
    pub fn new(net: &Mlp<T>, config: AdamConfig) -> Result<Self, MlpError> {
        let zeros = net.params().zeros_like();
        Ok(Self { config: config.validate()?, step: 0, exp_avg: zeros.clone(), exp_avg_sq: zeros })
    }

    /// The hyperparameters.
    #[must_use]
    pub fn config(&self) -> AdamConfig {
        self.config
    }

    /// Steps taken.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The first moments (PyTorch's `exp_avg`).
    #[must_use]
    pub fn exp_avg(&self) -> &Params<T> {
        &self.exp_avg
    }

    /// The second moments (PyTorch's `exp_avg_sq`).
    #[must_use]
    pub fn exp_avg_sq(&self) -> &Params<T> {
        &self.exp_avg_sq
    }

    /// Checks that this optimizer's moments have `net`'s shape (e.g. after
    /// loading both from a checkpoint; the moments themselves were checked
    /// when the optimizer was made or read back).
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`].
    pub fn check_fits(&self, net: &Mlp<T>) -> Result<(), MlpError> {
        self.exp_avg.check_same_shape(net.params())
    }

    /// One update of `net` with `grads`.
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`] if `net` or `grads` differ in shape from
    /// the optimizer's state, and [`MlpError::NonFinite`] for a NaN or
    /// infinite gradient; nothing changes then.
    pub fn step(&mut self, net: &mut Mlp<T>, grads: &Gradients<T>) -> Result<(), MlpError> {
        self.exp_avg.check_same_shape(net.params())?;
        self.exp_avg.check_same_shape(grads)?;
        self.step_finite(net, FiniteGradients::check(grads)?)
    }

    /// [`step`](Self::step) with gradients already known to be finite (from
    /// [`Mlp::gradients`] or [`FiniteGradients::check`]),
    /// so they are not scanned again.
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`] if `net` or the gradients differ in shape
    /// from the optimizer's state; nothing changes then.
    pub fn step_finite(&mut self, net: &mut Mlp<T>, grads: FiniteGradients<'_, T>) -> Result<(), MlpError> {
        let grads = grads.get();
        self.exp_avg.check_same_shape(net.params())?;
        self.exp_avg.check_same_shape(grads)?;
        self.step += 1;
        let t = i32::try_from(self.step).unwrap_or(i32::MAX);
        let AdamConfig { lr, beta1, beta2, eps } = self.config;
        let step_size = T::from_f64(lr / (1.0 - beta1.powi(t)));
        let bias_correction2_sqrt = T::from_f64((1.0 - beta2.powi(t)).sqrt());
        let one_minus_b1 = T::from_f64(1.0 - beta1);
        let (b2, one_minus_b2) = (T::from_f64(beta2), T::from_f64(1.0 - beta2));
        let eps = T::from_f64(eps);
        let coefficients = AdamCoefficients { step_size, bias_correction2_sqrt, one_minus_b1, b2, one_minus_b2, eps };
        // Element-wise, so any split gives the same bits. A weight goes in
        // blocks of PANEL rows: each block's update also rewrites that
        // block's kernel copies (`refresh_block`), so updating and
        // refreshing are one pass, in parallel when the pool has threads to
        // spare.
        let parallel = rayon::current_num_threads() > 1;
        let (params, kernel_weights, noisy_weights) = net.parts_mut();
        let layers = params.layers_mut().iter_mut().zip(self.exp_avg.layers_mut()).zip(self.exp_avg_sq.layers_mut());
        for (l, (((p, m), v), (g, kw))) in layers.zip(grads.layers().iter().zip(kernel_weights.iter_mut())).enumerate()
        {
            // A noisy layer's σ first: its kernel copies are formed from
            // μ and σ together, as μ's blocks are updated.
            if let (Some(ps), Some(ms), Some(vs), Some(gs)) = (&mut p.sigma, &mut m.sigma, &mut v.sigma, &g.sigma) {
                adam_tensor([&mut ps.weight, &mut ms.weight, &mut vs.weight], &gs.weight, coefficients, parallel);
                adam_tensor([&mut ps.bias, &mut ms.bias, &mut vs.bias], &gs.bias, coefficients, false);
            }
            adam_tensor([&mut p.bias, &mut m.bias, &mut v.bias], &g.bias, coefficients, false);
            let inp = p.weight.ncols();
            let (pw, mw, vw) = (
                p.weight.as_slice_mut().expect("owned, standard layout"),
                m.weight.as_slice_mut().expect("owned, standard layout"),
                v.weight.as_slice_mut().expect("owned, standard layout"),
            );
            let gw = g.weight.as_slice().expect("owned, standard layout");
            let block = PANEL * inp;
            let ld = kw.backward_ld;
            // Under noise the copies hold μ + σ ⊙ ε; otherwise μ itself.
            let sigma = p.sigma.as_ref().map(|s| s.weight.as_slice().expect("owned, standard layout"));
            let noise = noisy_weights.get(l).and_then(Option::as_ref);
            let empty: &[T] = &[];
            let (sigma, f_in, f_out) = match (sigma, noise) {
                (Some(s), Some(n)) => (s, &n.f_in[..], &n.f_out[..]),
                _ => (empty, empty, empty),
            };
            let weight_block = |(((((p, m), v), g), (sigma, f_out)), (panel, back)): WeightBlock<'_, T>| {
                vectorized(AdamJob { p: &mut *p, m, v, g, c: coefficients });
                if sigma.is_empty() {
                    refresh_block(inp, ld, p, panel, back);
                } else {
                    vectorized(NoisyRefresh { mu: p, sigma, f_out, f_in, ld, panel, back });
                }
            };
            // Plain layers have no σ and noise: empty pieces for every block.
            let noisy_blocks = |n: usize| -> Vec<(&[T], &[T])> {
                if sigma.is_empty() {
                    vec![(empty, empty); n]
                } else {
                    sigma.chunks(block).zip(f_out.chunks(PANEL)).collect()
                }
            };
            let n_blocks = pw.len().div_ceil(block);
            if parallel && pw.len() > PIECE {
                let noisy = noisy_blocks(n_blocks);
                let blocks = pw
                    .par_chunks_mut(block)
                    .zip(mw.par_chunks_mut(block))
                    .zip(vw.par_chunks_mut(block))
                    .zip(gw.par_chunks(block))
                    .zip(noisy.into_par_iter());
                let copies = kw.forward.par_chunks_mut(block).zip(kw.backward.par_chunks_mut(PANEL * ld));
                blocks.zip(copies).for_each(weight_block);
            } else {
                let blocks = pw
                    .chunks_mut(block)
                    .zip(mw.chunks_mut(block))
                    .zip(vw.chunks_mut(block))
                    .zip(gw.chunks(block))
                    .zip(noisy_blocks(n_blocks));
                let copies = kw.forward.chunks_mut(block).zip(kw.backward.chunks_mut(PANEL * ld));
                blocks.zip(copies).for_each(weight_block);
            }
        }
        net.refresh_noisy_biases();
        Ok(())
    }
}

/// `x`, or 0 where `x` is subnormal.
///
/// Why: a parameter whose gradient is zero (a dead ReLU unit) has its first
/// moment shrink by 0.9 a step until it is subnormal, where it stops: `0.1·m`
/// rounds to 0, so `m` sits at a subnormal fixed point for the rest of
/// training (about 3 550 of the seed's 17 410 moments within 2 000 updates,
/// `DENORMALS=1 cargo bench -p mlp`). Many x86 cores run arithmetic on
/// subnormals through slow microcode; on the AMD cores this project is
/// measured on it cost nothing measurable (136 µs per update with the flush,
/// 134–147 µs without, over 20 000 updates), so the flush is insurance for
/// other CPUs, not a measured speed-up here. It changes no parameter: such a
/// moment contributes an update near 1e-41, far below half an ulp of any
/// normal parameter, so `p − update` rounds back to `p` with or without it.
/// Written as a select, it is deterministic and independent of the CPU's
/// flush-to-zero mode.
#[inline(always)]
fn flush_subnormal<T: Scalar>(x: T) -> T {
    if x.abs() < T::MIN_POSITIVE { T::ZERO } else { x }
}

/// The per-step constants of the update, converted to `T`.
#[derive(Clone, Copy)]
struct AdamCoefficients<T> {
    step_size: T,
    bias_correction2_sqrt: T,
    one_minus_b1: T,
    b2: T,
    one_minus_b2: T,
    eps: T,
}

/// A block of a weight's rows, its two moments and its gradient (and a
/// noisy layer's σ rows and their f(ε_out), empty for a plain one), with the block's
/// two kernel copies, as zipped iterators hand them out.
type WeightBlock<'a, T> =
    (((((&'a mut [T], &'a mut [T]), &'a mut [T]), &'a [T]), (&'a [T], &'a [T])), (&'a mut [T], &'a mut [T]));

/// Adam on one whole tensor (`[parameter, first moment, second moment]`
/// and the gradient), element-wise, in parallel pieces when asked and worth
/// it: any split gives the same bits.
fn adam_tensor<T: Scalar, D: ndarray::Dimension>(
    [p, m, v]: [&mut ndarray::Array<T, D>; 3],
    g: &ndarray::Array<T, D>,
    c: AdamCoefficients<T>,
    parallel: bool,
) {
    let layout = "owned, standard layout";
    let (p, m, v) = (p.as_slice_mut().expect(layout), m.as_slice_mut().expect(layout), v.as_slice_mut().expect(layout));
    let g = g.as_slice().expect(layout);
    if parallel && p.len() > PIECE {
        let pieces = p.par_chunks_mut(PIECE).zip(m.par_chunks_mut(PIECE)).zip(v.par_chunks_mut(PIECE));
        pieces.zip(g.par_chunks(PIECE)).for_each(|(((p, m), v), g)| vectorized(AdamJob { p, m, v, g, c }));
    } else {
        vectorized(AdamJob { p, m, v, g, c });
    }
}

/// The element-wise update of a piece of a tensor and its moments.
struct AdamJob<'a, T: Scalar> {
    p: &'a mut [T],
    m: &'a mut [T],
    v: &'a mut [T],
    g: &'a [T],
    c: AdamCoefficients<T>,
}

impl<T: Scalar> Job for AdamJob<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let AdamCoefficients { step_size, bias_correction2_sqrt, one_minus_b1, b2, one_minus_b2, eps } = self.c;
        for (((p, m), v), &g) in self.p.iter_mut().zip(self.m.iter_mut()).zip(self.v.iter_mut()).zip(self.g) {
            // torch: exp_avg.lerp_(grad, 1 - beta1)
            *m = flush_subnormal(*m + one_minus_b1 * (g - *m));
            // torch: exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            *v = flush_subnormal(*v * b2 + one_minus_b2 * g * g);
            // torch: denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            let denom = v.sqrt() / bias_correction2_sqrt + eps;
            // torch: param.addcdiv_(exp_avg, denom, value=-step_size)
            *p = *p - step_size * (*m / denom);
        }
    }
}
