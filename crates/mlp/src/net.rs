//! The network itself: linear layers with ReLU between them, PyTorch's
//! initialisation, forward passes for one row and for batches, and the
//! weight copies laid out for the kernels.

use ndarray::{Array2, ArrayView2};

use ndarray_rand::RandomExt;
use ndarray_rand::rand_distr::Uniform;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::inputs::{Inputs, RowSource};
use crate::kernel::{Job, PANEL, Start, Transpose, gemm_panels, run_balanced, vectorized};
use crate::noise::{NoisyRefresh, NoisyWeights};
use crate::params::{LayerParams, check_sizes};
use crate::train::Chunk;
use crate::{Architecture, Layout, MlpError, Noise, NoiseScales, Params, Scalar, Shape, Workspace};

/// A multilayer perceptron: linear layers with ReLU between them and none
/// after the last, or a trunk with dueling heads ([`Layout`]); any layer
/// may be noisy.
///
/// The parameters live in PyTorch's layout ([`Params`]); the network also
/// keeps copies of each weight laid out for the kernels (`KernelWeights`).
/// Every method that changes the parameters refreshes those copies, so they
/// can never disagree.
///
/// Noisy layers compute with the current [`Noise`] sample
/// ([`resample_noise`](Self::resample_noise),
/// [`set_noise`](Self::set_noise)), or with their mean weights μ when there
/// is none ([`clear_noise`](Self::clear_noise), and a network just built or
/// read back). Serializes as its [`Params`] (without the noise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Params<T>", into = "Params<T>", bound = "T: Scalar")]
pub struct Mlp<T: Scalar> {
    params: Params<T>,
    kernel_weights: Vec<KernelWeights<T>>,
    noise: Option<Noise<T>>,
    /// With a noise sample, each noisy layer's noise and effective tensors.
    noisy_weights: Vec<Option<NoisyWeights<T>>>,
}

/// One layer's weight as the kernels read it: for the forward pass, `Wᵀ`
/// (`[in, out]`) cut into panels of [`PANEL`] columns, each stored
/// contiguously (`[in, width]`); for the input gradient, `W` (`[out, in]`)
/// with a padded row stride.
///
/// Why panels: a forward tile reads a 64-byte piece of every row of `Wᵀ`;
/// in a 16-column panel those pieces are contiguous, exactly what the
/// kernel's packing would make of them, so the forward pass reads the
/// panels in place (`gemm_panels`) and copies nothing. (Rows 512 bytes
/// apart, as in a plain `128 × 128` matrix, fall into an eighth of the L1
/// sets and evict each other.) Panel `q` holds exactly the rows
/// `q·PANEL..` of `W`, so it can be rewritten from those rows alone: the
/// optimizer refreshes it piece by piece, in parallel, as it updates them.
/// Why the padding of the backward copy: the same cache sets, for `W`.
#[derive(Debug, PartialEq)]
pub(crate) struct KernelWeights<T> {
    pub(crate) forward: Vec<T>,
    pub(crate) backward: Vec<T>,
    pub(crate) backward_ld: usize,
    inp: usize,
    out: usize,
}

impl<T: Clone> Clone for KernelWeights<T> {
    fn clone(&self) -> Self {
        Self {
            forward: self.forward.clone(),
            backward: self.backward.clone(),
            backward_ld: self.backward_ld,
            inp: self.inp,
            out: self.out,
        }
    }

    /// Reuses the buffers (the derived `clone_from` would allocate new
    /// ones): the target network's hard copy every C steps allocates nothing.
    fn clone_from(&mut self, source: &Self) {
        self.forward.clone_from(&source.forward);
        self.backward.clone_from(&source.backward);
        (self.backward_ld, self.inp, self.out) = (source.backward_ld, source.inp, source.out);
    }
}

/// A network's parameters, kernel copies and noise, borrowed together
/// (see [`Mlp::parts_mut`]).
pub(crate) type NetParts<'a, T> = (&'a mut Params<T>, &'a mut [KernelWeights<T>], &'a [Option<NoisyWeights<T>>]);

/// The row stride for a row of `n` values (see [`KernelWeights`]).
fn padded_ld(n: usize) -> usize {
    if n >= 64 { n.next_multiple_of(16) + 16 } else { n }
}

impl<T: Scalar> KernelWeights<T> {
    fn new(layer: &LayerParams<T>) -> Self {
        let (out, inp) = layer.weight.dim();
        let backward_ld = padded_ld(inp);
        let mut weights = Self {
            forward: vec![T::ZERO; inp * out],
            backward: vec![T::ZERO; out * backward_ld],
            backward_ld,
            inp,
            out,
        };
        weights.refresh(layer);
        weights
    }

    /// Rewrites both copies from the layer's weight.
    fn refresh(&mut self, layer: &LayerParams<T>) {
        self.refresh_from(layer.weight.as_slice().expect("parameters are owned in standard layout"));
    }

    /// Rewrites both copies from `src`, a weight `[out, in]` row-major.
    fn refresh_from(&mut self, src: &[T]) {
        let (inp, ld) = (self.inp, self.backward_ld);
        let blocks =
            src.chunks(PANEL * inp).zip(self.forward.chunks_mut(PANEL * inp)).zip(self.backward.chunks_mut(PANEL * ld));
        for ((rows, panel), back) in blocks {
            refresh_block(inp, ld, rows, panel, back);
        }
    }

    /// `C[rows × out] = 1·biasᵀ + A[rows × in] · Wᵀ`, from the panels.
    #[inline(always)]
    pub(crate) fn forward_gemm<const FUSED: bool>(&self, rows: usize, a: &[T], bias: &[T], c: &mut [T]) {
        let (inp, out) = (self.inp, self.out);
        gemm_panels::<T, FUSED>((rows, out, inp), (a, inp), &self.forward, (c, out, Start::Row(bias)));
    }
}

/// Rewrites the kernel copies of one block of `W`'s rows (`rows`, row-major
/// with `inp` columns): the forward panel (their transpose) and the
/// backward rows (with stride `backward_ld`).
#[inline(always)]
pub(crate) fn refresh_block<T: Scalar>(inp: usize, backward_ld: usize, rows: &[T], panel: &mut [T], back: &mut [T]) {
    let n_rows = rows.len() / inp;
    vectorized(Transpose { src: rows, src_ld: inp, rows: n_rows, cols: inp, dst: panel });
    for (dst, src) in back.chunks_mut(backward_ld).zip(rows.chunks(inp)) {
        dst[..inp].copy_from_slice(src);
    }
}

/// Buffers for [`Mlp::forward_single`]: two rows (and a one-row pass for
/// dueling heads), reused from call to call.
#[derive(Debug, Clone, Default)]
pub struct SingleScratch<T: Scalar> {
    current: Vec<T>,
    next: Vec<T>,
    chunk: Chunk<T>,
}

impl<T: Scalar> TryFrom<Params<T>> for Mlp<T> {
    type Error = MlpError;

    fn try_from(params: Params<T>) -> Result<Self, MlpError> {
        Self::from_params(params)
    }
}

impl<T: Scalar> From<Mlp<T>> for Params<T> {
    fn from(net: Mlp<T>) -> Self {
        net.params
    }
}

impl<T: Scalar> Mlp<T> {
    /// A chain of layer widths `sizes` (input first, output last),
    /// initialised as PyTorch's `nn.Linear` does by default: every weight and
    /// bias of a layer with `fan_in` inputs uniform in `±1/√fan_in`, drawn
    /// from `rng` (layer by layer, weight then bias).
    ///
    /// # Errors
    /// [`MlpError::TooFewSizes`] or [`MlpError::ZeroSize`].
    pub fn new<R: Rng + ?Sized>(sizes: &[usize], rng: &mut R) -> Result<Self, MlpError> {
        check_sizes(sizes)?;
        Self::build(&Architecture::sequential(sizes), rng)
    }

    /// The network `architecture` describes, initialised layer by layer
    /// in its layout's order: each weight, then bias, uniform in
    /// `±1/√fan_in` from `rng` (PyTorch's `nn.Linear` default, and the
    /// means μ of a noisy layer, as Fortunato et al. initialise them); a
    /// noisy layer's σ are all `σ₀/√fan_in` and draw nothing. It starts
    /// without noise (mean weights).
    ///
    /// # Errors
    /// As [`Architecture::shape`].
    pub fn build<R: Rng + ?Sized>(architecture: &Architecture, rng: &mut R) -> Result<Self, MlpError> {
        let shape = architecture.shape()?;
        let sigma0 = architecture.noisy.map_or(0.0, |n| n.sigma0);
        let layers = shape
            .layers
            .iter()
            .map(|l| {
                // PyTorch's default for `nn.Linear` and `nn.Conv2d` alike:
                // fan_in is a convolution's `in_channels·k·k`.
                let scale = 1.0 / (l.fan_in() as f64).sqrt();
                let bound = T::from_f64(scale);
                let dist = || Uniform::new(-bound, bound).expect("bound is finite and positive");
                let weight = Array2::random_using(l.weight_dims(), dist(), rng);
                let bias = ndarray::Array1::random_using(l.bias_len(), dist(), rng);
                let sigma = l.noisy.then(|| {
                    let s = T::from_f64(sigma0 * scale);
                    NoiseScales {
                        weight: Array2::from_elem(l.weight_dims(), s),
                        bias: ndarray::Array1::from_elem(l.bias_len(), s),
                    }
                });
                LayerParams { weight, bias, sigma, kind: l.kind }
            })
            .collect();
        Self::from_params(Params::from_layers_with(shape.layout, layers)?)
    }

    /// A network with the given parameters, without noise.
    ///
    /// # Errors
    /// [`MlpError::NonFinite`] if a parameter is NaN or infinite.
    pub fn from_params(params: Params<T>) -> Result<Self, MlpError> {
        params.check_finite()?;
        let kernel_weights = params.layers().iter().map(KernelWeights::new).collect();
        Ok(Self { params, kernel_weights, noise: None, noisy_weights: Vec::new() })
    }

    /// The current noise sample (`None`: the noisy layers use their means).
    #[must_use]
    pub fn noise(&self) -> Option<&Noise<T>> {
        self.noise.as_ref()
    }

    /// Whether any layer is noisy.
    #[must_use]
    pub fn is_noisy(&self) -> bool {
        self.params.is_noisy()
    }

    /// Draws a fresh noise sample from `rng` (see [`Noise`]) and computes
    /// with it from now on. Does nothing for a network without noisy
    /// layers (and draws nothing).
    pub fn resample_noise<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        if self.is_noisy() {
            let noise = Noise::sample(self.params.layers(), rng);
            self.install_noise(noise);
        }
    }

    /// Computes with `noise` from now on.
    ///
    /// # Errors
    /// [`MlpError::InvalidNoise`] if it does not fit the noisy layers (or
    /// holds a non-finite draw); nothing changes then.
    pub fn set_noise(&mut self, noise: Noise<T>) -> Result<(), MlpError> {
        let layout = self.params.layout();
        noise.check(self.params.layers(), |l| layout.layer_name(l))?;
        self.install_noise(noise);
        Ok(())
    }

    /// Computes with the noisy layers' mean weights μ from now on (greedy
    /// evaluation).
    pub fn clear_noise(&mut self) {
        if self.noise.take().is_some() {
            self.noisy_weights.clear();
            self.refresh_noisy_layers();
        }
    }

    fn install_noise(&mut self, noise: Noise<T>) {
        self.noisy_weights.resize_with(noise.layers.len(), || None);
        for (slot, layer_noise) in self.noisy_weights.iter_mut().zip(&noise.layers) {
            match layer_noise {
                Some(n) => slot.get_or_insert_with(NoisyWeights::default).set(n),
                None => *slot = None,
            }
        }
        self.noise = Some(noise);
        self.refresh_noisy_layers();
    }

    /// Recomputes the noisy layers' effective biases and kernel copies
    /// from their parameters and the current noise (their means without):
    /// every block of every noisy layer is one item, and the items run in
    /// one parallel region when the pool has threads to spare.
    pub(crate) fn refresh_noisy_layers(&mut self) {
        self.refresh_noisy_biases();
        let mut jobs = Vec::new();
        let layers = self.params.layers().iter().zip(self.kernel_weights.iter_mut()).enumerate();
        for (l, (layer, kw)) in layers {
            let Some(sigma) = &layer.sigma else { continue };
            let Some(noisy) = self.noisy_weights.get(l).and_then(Option::as_ref) else {
                kw.refresh(layer);
                continue;
            };
            let (inp, ld) = (kw.inp, kw.backward_ld);
            let block = PANEL * inp;
            let mu = layer.weight.as_slice().expect("parameters are owned in standard layout");
            let sigma = sigma.weight.as_slice().expect("parameters are owned in standard layout");
            let blocks = mu.chunks(block).zip(sigma.chunks(block)).zip(noisy.f_out.chunks(PANEL));
            let copies = kw.forward.chunks_mut(block).zip(kw.backward.chunks_mut(PANEL * ld));
            for (((mu, sigma), f_out), (panel, back)) in blocks.zip(copies) {
                jobs.push(NoisyRefresh { mu, sigma, f_out, f_in: &noisy.f_in, ld, panel, back });
            }
        }
        run_balanced(jobs, |job| job.mu.len(), vectorized, (), |(), ()| ());
    }

    /// The bias layer `l` computes with (the effective one of a noisy layer
    /// under noise).
    #[inline(always)]
    pub(crate) fn forward_bias(&self, l: usize) -> &[T] {
        match self.noisy_weights.get(l).and_then(Option::as_ref) {
            Some(noisy) => &noisy.bias,
            None => self.params.layers()[l].bias.as_slice().expect("parameters are owned in standard layout"),
        }
    }

    /// A noisy layer's `f(ε_in)` and `f(ε_out)` under the current sample
    /// (`None` for a plain layer or without noise).
    #[inline(always)]
    pub(crate) fn layer_noise(&self, l: usize) -> Option<(&[T], &[T])> {
        self.noisy_weights.get(l).and_then(Option::as_ref).map(|n| (&n.f_in[..], &n.f_out[..]))
    }

    /// How the layers connect.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.params.layout()
    }

    /// The layout and every layer's shape.
    #[must_use]
    pub fn shape(&self) -> Shape {
        self.params.shape()
    }

    /// The parameters, in PyTorch's layout.
    #[must_use]
    pub fn params(&self) -> &Params<T> {
        &self.params
    }

    /// The input width, then each layer's output width (for a chain, its
    /// layer widths).
    #[must_use]
    pub fn sizes(&self) -> Vec<usize> {
        self.params.sizes()
    }

    /// The width of an input row.
    #[must_use]
    pub fn input_dim(&self) -> usize {
        self.params.layers()[0].shape().inputs
    }

    /// The number of outputs (for dueling heads, the advantage stream's).
    #[must_use]
    pub fn output_dim(&self) -> usize {
        self.params.layers().last().expect("a network has a layer").weight.nrows()
    }

    /// Changes the parameters with `f`, then refreshes the transposed copies.
    pub(crate) fn update_params(&mut self, f: impl FnOnce(&mut Params<T>)) {
        f(&mut self.params);
        for (weights, layer) in self.kernel_weights.iter_mut().zip(self.params.layers()) {
            if layer.sigma.is_none() {
                weights.refresh(layer);
            }
        }
        self.refresh_noisy_layers();
    }

    /// Makes this network's parameters (and noise) equal to `other`'s, bit
    /// for bit (the hard target-network update).
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`] if the layer sizes differ.
    pub fn copy_from(&mut self, other: &Self) -> Result<(), MlpError> {
        self.params.check_same_shape(&other.params)?;
        self.params.zip_apply(&other.params, |a, b| *a = b);
        self.kernel_weights.clone_from(&other.kernel_weights);
        self.noise.clone_from(&other.noise);
        self.noisy_weights.clone_from(&other.noisy_weights);
        Ok(())
    }

    /// Moves each parameter a fraction `tau` of the way to `other`'s:
    /// `θ ← τ·θ_other + (1 − τ)·θ` (Polyak averaging, the soft target
    /// update).
    ///
    /// # Errors
    /// [`MlpError::ShapeMismatch`], or [`MlpError::InvalidHyperparameter`]
    /// if `tau` is outside `[0, 1]`.
    pub fn soft_update_from(&mut self, other: &Self, tau: f64) -> Result<(), MlpError> {
        self.params.check_same_shape(&other.params)?;
        if !(0.0..=1.0).contains(&tau) {
            return Err(MlpError::InvalidHyperparameter { name: "tau", value: tau, requirement: "in [0, 1]" });
        }
        let (tau, keep) = (T::from_f64(tau), T::from_f64(1.0 - tau));
        self.update_params(|p| p.zip_apply(&other.params, |a, b| *a = tau * b + keep * *a));
        Ok(())
    }

    pub(crate) fn check_input_width(&self, width: usize) -> Result<(), MlpError> {
        if width != self.input_dim() {
            return Err(MlpError::InputWidth { expected: self.input_dim(), got: width });
        }
        Ok(())
    }

    /// The outputs for one input row. Allocates nothing once `scratch` has
    /// seen a call.
    ///
    /// # Errors
    /// [`MlpError::InputWidth`] if `input` is not [`input_dim`](Self::input_dim) long.
    pub fn forward_single<'s>(&self, input: &[T], scratch: &'s mut SingleScratch<T>) -> Result<&'s [T], MlpError> {
        self.check_input_width(input.len())?;
        T::forward_single(self, input, scratch);
        Ok(&scratch.current)
    }

    /// The body of [`forward_single`](Self::forward_single), unchecked; only
    /// `Scalar`'s impls call it.
    pub(crate) fn forward_single_here(&self, input: &[T], scratch: &mut SingleScratch<T>) {
        vectorized(SingleForward { net: self, input, scratch });
    }

    #[inline(always)]
    fn forward_single_unchecked(&self, input: &[T], scratch: &mut SingleScratch<T>) {
        if self.layout() != Layout::Sequential || self.params.convs() > 0 {
            // Dueling or convolutions: the batch pass on one row (the same
            // kernels, so the same bits as that row in a batch).
            scratch.chunk.forward::<false>(self, RowSource::Values(input), 1);
            scratch.current.clear();
            scratch.current.extend_from_slice(scratch.chunk.output());
            return;
        }
        scratch.current.clear();
        scratch.current.extend_from_slice(input);
        for (l, layer) in self.params.layers().iter().enumerate() {
            let (out, inp) = layer.weight.dim();
            scratch.next.resize(out, T::ZERO);
            debug_assert_eq!((out, inp), (self.kernel_weights[l].out, self.kernel_weights[l].inp));
            let bias = self.forward_bias(l);
            self.kernel_weights[l].forward_gemm::<false>(1, &scratch.current, bias, &mut scratch.next);
            if l + 1 < self.params.layers().len() {
                relu_inplace(&mut scratch.next);
            }
            std::mem::swap(&mut scratch.current, &mut scratch.next);
        }
    }

    /// The outputs for a batch of input rows (`[rows, input_dim]`, values or
    /// bytes: [`Inputs`]), computed in parallel chunks of rows on the
    /// current rayon pool; the bits do not depend on the number of threads.
    ///
    /// # Errors
    /// [`MlpError::InputWidth`], [`MlpError::EmptyBatch`] or
    /// [`MlpError::NonFinite`] for an input.
    pub fn forward_batch<'a, 'w>(
        &self,
        inputs: impl Into<Inputs<'a, T>>,
        ws: &'w mut Workspace<T>,
    ) -> Result<ArrayView2<'w, T>, MlpError> {
        ws.run(self, inputs.into(), None)?;
        Ok(ws.outputs())
    }

    pub(crate) fn kernel_weights(&self, layer: usize) -> &KernelWeights<T> {
        &self.kernel_weights[layer]
    }

    /// The parameters, the kernel copies and the noise together, for an
    /// optimizer that updates the first two piece by piece. Whoever calls it
    /// must leave the copies equal to what `refresh` (or, under noise,
    /// `refresh_noisy`) would make of the parameters, and then call
    /// `refresh_noisy_biases`.
    pub(crate) fn parts_mut(&mut self) -> NetParts<'_, T> {
        (&mut self.params, &mut self.kernel_weights, &self.noisy_weights)
    }

    /// Recomputes the noisy layers' effective biases from their parameters.
    pub(crate) fn refresh_noisy_biases(&mut self) {
        for (noisy, layer) in self.noisy_weights.iter_mut().zip(self.params.layers()) {
            if let Some(noisy) = noisy {
                noisy.update_bias(layer);
            }
        }
    }
}

/// One input through the network, into `scratch.current`.
struct SingleForward<'a, T: Scalar> {
    net: &'a Mlp<T>,
    input: &'a [T],
    scratch: &'a mut SingleScratch<T>,
}

impl<T: Scalar> Job for SingleForward<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        self.net.forward_single_unchecked(self.input, self.scratch);
    }
}

#[inline(always)]
pub(crate) fn relu_inplace<T: Scalar>(values: &mut [T]) {
    for v in values {
        // A select, so it vectorizes: every value not above zero becomes 0.
        *v = if *v > T::ZERO { *v } else { T::ZERO };
    }
}
