//! PyTorch's Adam: the update rule computed in PyTorch's operation order,
//! block by block with the kernel copies refreshed in the same pass, and a
//! serializable, checked state.

use serde::{Deserialize, Serialize};

use crate::kernel::PANEL;
use crate::kernel::{Job, run_balanced, vectorized};
use crate::net::refresh_block;
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
        update_net(net, &mut self.exp_avg, &mut self.exp_avg_sq, grads, coefficients);
        Ok(())
    }
}

/// An element-wise optimizer rule: the new parameter and state of one
/// element from its gradient (`a` and `b` are the rule's two state values:
/// Adam's moments, RMSprop's gradient and square averages).
pub(crate) trait Rule<T>: Copy + Send + Sync {
    fn apply(self, p: &mut T, a: &mut T, b: &mut T, g: T);
}

/// Updates every parameter of `net` by `rule` from `grads` and the state
/// tensors `a` and `b` (of the network's shape, checked by the caller),
/// refreshing the kernels' copies of each block in the same pass.
pub(crate) fn update_net<T: Scalar, R: Rule<T>>(
    net: &mut Mlp<T>,
    a: &mut Params<T>,
    b: &mut Params<T>,
    grads: &Gradients<T>,
    rule: R,
) {
    // Element-wise, so any split gives the same bits. A weight goes in
    // blocks of PANEL rows: each block's update also rewrites that
    // block's kernel copies (`refresh_block`, or for a noisy layer under
    // noise `NoisyRefresh` from the block's μ and σ, whose σ rows the
    // block updates first), so updating and refreshing are one pass.
    // Every block and bias of every layer is one work item, and the
    // items run in one parallel region when the pool has threads to
    // spare (a region per tensor cost more in hand-offs than it saved).
    let layout = "owned, standard layout";
    let (params, kernel_weights, noisy_weights) = net.parts_mut();
    let layers = params.layers_mut().iter_mut().zip(a.layers_mut()).zip(b.layers_mut());
    let mut work: Vec<AdamWork<'_, T>> = Vec::new();
    for (l, (((p, m), v), (g, kw))) in layers.zip(grads.layers().iter().zip(kernel_weights.iter_mut())).enumerate() {
        let (inp, ld) = (p.weight.ncols(), kw.backward_ld);
        let block = PANEL * inp;
        work.push(AdamWork::Piece {
            p: values_mut(&mut p.bias),
            m: values_mut(&mut m.bias),
            v: values_mut(&mut v.bias),
            g: g.bias.as_slice().expect(layout),
        });
        let noise = noisy_weights.get(l).and_then(Option::as_ref);
        // A noisy layer's σ rows, block by block (none for a plain one).
        let mut sigma_blocks: Vec<Option<SigmaRows<'_, T>>> = Vec::new();
        if let (Some(ps), Some(ms), Some(vs), Some(gs)) = (&mut p.sigma, &mut m.sigma, &mut v.sigma, &g.sigma) {
            work.push(AdamWork::Piece {
                p: values_mut(&mut ps.bias),
                m: values_mut(&mut ms.bias),
                v: values_mut(&mut vs.bias),
                g: gs.bias.as_slice().expect(layout),
            });
            let rows = values_mut(&mut ps.weight)
                .chunks_mut(block)
                .zip(values_mut(&mut ms.weight).chunks_mut(block))
                .zip(values_mut(&mut vs.weight).chunks_mut(block))
                .zip(gs.weight.as_slice().expect(layout).chunks(block));
            sigma_blocks.extend(rows.map(|(((p, m), v), g)| Some(SigmaRows { p, m, v, g })));
        }
        let n_blocks = p.weight.len().div_ceil(block);
        sigma_blocks.resize_with(n_blocks, || None);
        let (f_in, f_out): (&[T], &[T]) = match noise {
            Some(n) => (&n.f_in, &n.f_out),
            None => (&[], &[]),
        };
        let blocks = values_mut(&mut p.weight)
            .chunks_mut(block)
            .zip(values_mut(&mut m.weight).chunks_mut(block))
            .zip(values_mut(&mut v.weight).chunks_mut(block))
            .zip(g.weight.as_slice().expect(layout).chunks(block))
            .zip(kw.forward.chunks_mut(block).zip(kw.backward.chunks_mut(PANEL * ld)))
            .zip(sigma_blocks);
        for (q, (((((p, m), v), g), (panel, back)), sigma)) in blocks.enumerate() {
            let f_out = if f_out.is_empty() { f_out } else { &f_out[q * PANEL..(q * PANEL + p.len() / inp)] };
            work.push(AdamWork::Block { p, m, v, g, sigma, f_in, f_out, inp, ld, panel, back });
        }
    }
    run_balanced(work, AdamWork::size, |item| item.run(rule), (), |(), ()| ());
    net.refresh_noisy_biases();
}

/// A tensor's values (the parameters' are owned, in standard layout).
fn values_mut<T, D: ndarray::Dimension>(t: &mut ndarray::Array<T, D>) -> &mut [T] {
    t.as_slice_mut().expect("owned, standard layout")
}

/// A block of a noisy weight's σ rows with their moments and gradient.
struct SigmaRows<'a, T> {
    p: &'a mut [T],
    m: &'a mut [T],
    v: &'a mut [T],
    g: &'a [T],
}

/// One item of an Adam step's work.
enum AdamWork<'a, T> {
    /// A whole small tensor (a bias), element-wise.
    Piece { p: &'a mut [T], m: &'a mut [T], v: &'a mut [T], g: &'a [T] },
    /// A block of a weight's rows (and of a noisy layer's σ rows), then the
    /// block's kernel copies: from μ + σ ⊙ (f_out ⊗ f_in) under noise, from
    /// the weight itself otherwise.
    Block {
        p: &'a mut [T],
        m: &'a mut [T],
        v: &'a mut [T],
        g: &'a [T],
        sigma: Option<SigmaRows<'a, T>>,
        /// Empty without noise.
        f_in: &'a [T],
        /// The block's rows' f(ε_out); empty without noise.
        f_out: &'a [T],
        inp: usize,
        ld: usize,
        panel: &'a mut [T],
        back: &'a mut [T],
    },
}

impl<T: Scalar> AdamWork<'_, T> {
    /// Its work, in elements.
    fn size(&self) -> usize {
        match self {
            Self::Piece { p, .. } => p.len(),
            Self::Block { p, sigma, .. } => p.len() * if sigma.is_some() { 3 } else { 1 },
        }
    }

    fn run<R: Rule<T>>(self, c: R) {
        match self {
            Self::Piece { p, m, v, g } => vectorized(AdamJob { p, m, v, g, c }),
            Self::Block { p, m, v, g, sigma, f_in, f_out, inp, ld, panel, back } => {
                let noisy_sigma = sigma.map(|s| {
                    vectorized(AdamJob { p: &mut *s.p, m: s.m, v: s.v, g: s.g, c });
                    s.p
                });
                vectorized(AdamJob { p: &mut *p, m, v, g, c });
                match noisy_sigma {
                    Some(sigma) if !f_in.is_empty() => {
                        vectorized(NoisyRefresh { mu: p, sigma, f_out, f_in, ld, panel, back });
                    }
                    _ => refresh_block(inp, ld, p, panel, back),
                }
            }
        }
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
pub(crate) fn flush_subnormal<T: Scalar>(x: T) -> T {
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

/// The element-wise update of a piece of a tensor and its state by a rule.
struct AdamJob<'a, T: Scalar, R> {
    p: &'a mut [T],
    m: &'a mut [T],
    v: &'a mut [T],
    g: &'a [T],
    c: R,
}

impl<T: Scalar, R: Rule<T>> Job for AdamJob<'_, T, R> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        for (((p, m), v), &g) in self.p.iter_mut().zip(self.m.iter_mut()).zip(self.v.iter_mut()).zip(self.g) {
            self.c.apply(p, m, v, g);
        }
    }
}

impl<T: Scalar> Rule<T> for AdamCoefficients<T> {
    #[inline(always)]
    fn apply(self, p: &mut T, m: &mut T, v: &mut T, g: T) {
        let AdamCoefficients { step_size, bias_correction2_sqrt, one_minus_b1, b2, one_minus_b2, eps } = self;
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
