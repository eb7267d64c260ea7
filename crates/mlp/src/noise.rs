//! Noise for noisy linear layers (factorised Gaussian, Fortunato et al.
//! 2018): a sample is, per noisy layer, one standard normal draw per input
//! and per output; the layer computes with `W = μ + σ ⊙ f(ε_out) f(ε_in)ᵀ`
//! and `b = μ_b + σ_b ⊙ f(ε_out)`, `f(x) = sgn(x)·√|x|`.

use ndarray_rand::rand_distr::StandardNormal;
use rand::Rng;
use serde::{Deserialize, Serialize};

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

/// What a noisy layer computes with under a sample: the weight's noise
/// `f(ε_out) f(ε_in)ᵀ` (`[out, in]`, row-major), the bias's `f(ε_out)`,
/// and the effective weight and bias.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NoisyWeights<T> {
    pub(crate) weight_noise: Vec<T>,
    pub(crate) bias_noise: Vec<T>,
    pub(crate) weight: Vec<T>,
    pub(crate) bias: Vec<T>,
}

impl<T: Scalar> NoisyWeights<T> {
    pub(crate) fn new(noise: &LayerNoise<T>) -> Self {
        let f_in: Vec<T> = noise.input.iter().map(|&x| signed_sqrt(x)).collect();
        let bias_noise: Vec<T> = noise.output.iter().map(|&x| signed_sqrt(x)).collect();
        let weight_noise = bias_noise.iter().flat_map(|&o| f_in.iter().map(move |&i| o * i)).collect();
        Self { weight_noise, bias_noise, weight: Vec::new(), bias: Vec::new() }
    }

    /// Recomputes the effective weight and bias from the layer's μ and σ.
    pub(crate) fn update(&mut self, layer: &LayerParams<T>) {
        let sigma = layer.sigma.as_ref().expect("a noisy layer has noise scales");
        let combine = |out: &mut Vec<T>, mu: &[T], sigma: &[T], eps: &[T]| {
            out.clear();
            out.extend(mu.iter().zip(sigma).zip(eps).map(|((&m, &s), &e)| m + s * e));
        };
        combine(
            &mut self.weight,
            layer.weight.as_slice().expect("standard layout"),
            sigma.weight.as_slice().expect("standard layout"),
            &self.weight_noise,
        );
        combine(
            &mut self.bias,
            layer.bias.as_slice().expect("standard layout"),
            sigma.bias.as_slice().expect("standard layout"),
            &self.bias_noise,
        );
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
