//! Noise for noisy linear layers (factorised Gaussian, Fortunato et al.
//! 2018): a sample is, per noisy layer, one standard normal draw per input
//! and per output; the layer computes with `W = μ + σ ⊙ f(ε_out) f(ε_in)ᵀ`
//! and `b = μ_b + σ_b ⊙ f(ε_out)`, `f(x) = sgn(x)·√|x|`.

use ndarray_rand::rand_distr::StandardNormal;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::kernel::{Job, Transpose};
use crate::{LayerParams, MlpError, Scalar};

/// One sample of a network's noise: for each layer, `None` for a plain
/// layer, the raw draws for a noisy one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noise<T> {
    /// Per layer, in the network's layer order.
    pub layers: Vec<Option<LayerNoise<T>>>,
}

/// A noisy layer's draws, before `f` is applied: `ε_in` (one per input)
/// and `ε_out` (one per output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerNoise<T> {
    /// `ε_in`, one per input.
    pub input: Vec<T>,
    /// `ε_out`, one per output.
    pub output: Vec<T>,
}

/// `f(x) = sgn(x)·√|x|`, with `f(0) = 0` (PyTorch's `x.sign() * x.abs().sqrt()`).
#[inline]
fn signed_sqrt<T: Scalar>(x: T) -> T {
    let root = x.abs().sqrt();
    if x > T::ZERO {
        root
    } else if x < T::ZERO {
        -root
    } else {
        T::ZERO
    }
}

/// What a noisy layer computes with under a sample: `f(ε_in)`, `f(ε_out)`
/// (the bias's noise) and the effective bias. The weight's noise
/// `f(ε_out)ᵢ·f(ε_in)ⱼ` is formed where it is used (one rounding, the same
/// bits as a stored outer product), and the effective weight goes block by
/// block straight into the kernels' copies ([`NoisyRefresh`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct NoisyWeights<T> {
    pub(crate) f_in: Vec<T>,
    pub(crate) f_out: Vec<T>,
    pub(crate) bias: Vec<T>,
}

impl<T: Scalar> NoisyWeights<T> {
    /// The noise of `noise`, in this value's buffers (reused: a fresh sample
    /// before every action allocates nothing).
    pub(crate) fn set(&mut self, noise: &LayerNoise<T>) {
        self.f_in.clear();
        self.f_in.extend(noise.input.iter().map(|&x| signed_sqrt(x)));
        self.f_out.clear();
        self.f_out.extend(noise.output.iter().map(|&x| signed_sqrt(x)));
    }

    /// Recomputes the effective bias `μ_b + σ_b ⊙ f(ε_out)` from the layer.
    pub(crate) fn update_bias(&mut self, layer: &LayerParams<T>) {
        let sigma = layer.sigma.as_ref().expect("a noisy layer has noise scales");
        let (mu, sigma) =
            (layer.bias.as_slice().expect("standard layout"), sigma.bias.as_slice().expect("standard layout"));
        self.bias.clear();
        self.bias.extend(mu.iter().zip(sigma).zip(&self.f_out).map(|((&m, &s), &e)| m + s * e));
    }
}

/// One block of a noisy layer's kernel copies from its μ and σ rows under
/// noise: the effective rows `μ + σ ⊙ (f_out ⊗ f_in)` written straight into
/// the backward copy (rows `ld` apart), then transposed from there into the
/// forward panel.
pub(crate) struct NoisyRefresh<'a, T> {
    pub(crate) mu: &'a [T],
    pub(crate) sigma: &'a [T],
    /// `f(ε_out)` of this block's rows.
    pub(crate) f_out: &'a [T],
    pub(crate) f_in: &'a [T],
    pub(crate) ld: usize,
    pub(crate) panel: &'a mut [T],
    pub(crate) back: &'a mut [T],
}

impl<T: Scalar> Job for NoisyRefresh<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Self { mu, sigma, f_out, f_in, ld, panel, back } = self;
        let inp = f_in.len();
        for (((dst, mu), sigma), &o) in back.chunks_mut(ld).zip(mu.chunks(inp)).zip(sigma.chunks(inp)).zip(f_out) {
            for (((d, &m), &s), &i) in dst[..inp].iter_mut().zip(mu).zip(sigma).zip(f_in) {
                *d = m + s * (o * i);
            }
        }
        let rows = f_out.len();
        Transpose { src: back, src_ld: ld, rows, cols: inp, dst: panel }.run();
    }
}

impl<T: Scalar> Noise<T> {
    /// A fresh sample for `layers` (the noisy ones): for each noisy layer in
    /// turn, its `ε_in` then its `ε_out`, standard normal draws from `rng`.
    pub(crate) fn sample<R: Rng + ?Sized>(layers: &[LayerParams<T>], rng: &mut R) -> Self {
        let mut draw = |n: usize| (0..n).map(|_| T::from_f64(rng.sample::<f64, _>(StandardNormal))).collect();
        let layers = layers
            .iter()
            .map(|l| {
                l.sigma.as_ref().map(|_| {
                    let (out, inp) = l.weight.dim();
                    let input = draw(inp);
                    LayerNoise { input, output: draw(out) }
                })
            })
            .collect();
        Self { layers }
    }

    /// Checks that this sample fits `layers`: one entry per layer, draws
    /// exactly for the noisy ones, of their widths, every draw finite.
    pub(crate) fn check(&self, layers: &[LayerParams<T>], name: impl Fn(usize) -> String) -> Result<(), MlpError> {
        let bad = |problem: String| Err(MlpError::InvalidNoise { problem });
        if self.layers.len() != layers.len() {
            return bad(format!("{} layers of noise for a network of {}", self.layers.len(), layers.len()));
        }
        for (l, (noise, layer)) in self.layers.iter().zip(layers).enumerate() {
            let (out, inp) = layer.weight.dim();
            match (noise, &layer.sigma) {
                (None, None) => {}
                (Some(_), None) => return bad(format!("{} is not a noisy layer but has noise", name(l))),
                (None, Some(_)) => return bad(format!("{} is a noisy layer without noise", name(l))),
                (Some(n), Some(_)) => {
                    if n.input.len() != inp || n.output.len() != out {
                        return bad(format!(
                            "{} takes {inp} inputs and {out} outputs, the noise has {} and {}",
                            name(l),
                            n.input.len(),
                            n.output.len()
                        ));
                    }
                    if let Some(i) = n.input.iter().chain(&n.output).position(|v| !v.is_finite()) {
                        return bad(format!("{}'s draw {i} is not finite", name(l)));
                    }
                }
            }
        }
        Ok(())
    }
}
