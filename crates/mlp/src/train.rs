//! The gradient pass: a batch split into fixed-size chunks of rows, run on
//! the rayon pool, each chunk forward and backward (with the targets formed
//! inside the pass from a bootstrap network when asked), the partial
//! gradients summed in chunk order, clamped and checked in one pass. The
//! chunking, never the thread count, decides the order of every sum.

use ndarray::{ArrayView2, CowArray};
use rayon::prelude::*;

use crate::kernel::{ALayout, Arithmetic, Job, PIECE, gemm_acc, vectorized, vectorized_fused};
use crate::net::relu_inplace;
use crate::{Gradients, Mlp, MlpError, Operand, Params, Scalar};

/// Rows per parallel chunk unless chosen otherwise. Fixed, never derived
/// from the thread count: the chunking decides the order in which partial
/// gradients are summed, so it must not change with the pool.
pub const DEFAULT_CHUNK_ROWS: usize = 32;

/// Which loss compares the gathered outputs with their targets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LossKind {
    /// Mean squared error, `mean((q − y)²)`, as PyTorch's `MSELoss`.
    Mse,
    /// Huber loss, as PyTorch's `HuberLoss(delta)`: `½d²` where `|d| ≤ δ`,
    /// `δ(|d| − ½δ)` beyond, averaged.
    Huber {
        /// The threshold δ between the quadratic and linear parts.
        delta: f64,
    },
}

/// The DQN loss on a batch: output `actions[r]` of row `r` is compared with
/// `targets[r]`; the other outputs get no gradient.
#[derive(Debug, Clone, Copy)]
pub struct GatheredLoss<'a, T> {
    /// The loss function.
    pub kind: LossKind,
    /// For each row, which output is compared (the action taken).
    pub actions: &'a [usize],
    /// For each row, the value it is compared with (the Bellman target).
    pub targets: &'a [T],
    /// For each row, the weight of its loss term (prioritized replay's
    /// importance-sampling weights): the loss is `mean(wᵣ·ℓᵣ)`. `None` is
    /// every weight 1, and the same bits as weights of 1.
    pub weights: Option<&'a [T]>,
}

fn check_actions(actions: &[usize], rows: usize, n_outputs: usize) -> Result<(), MlpError> {
    if actions.len() != rows {
        return Err(MlpError::RowCount { what: Operand::Actions, expected: rows, got: actions.len() });
    }
    if let Some(row) = actions.iter().position(|&a| a >= n_outputs) {
        return Err(MlpError::ActionOutOfRange { row, action: actions[row], n_outputs });
    }
    Ok(())
}

fn check_weights<T: Scalar>(weights: Option<&[T]>, rows: usize) -> Result<(), MlpError> {
    let Some(weights) = weights else { return Ok(()) };
    if weights.len() != rows {
        return Err(MlpError::RowCount { what: Operand::Weights, expected: rows, got: weights.len() });
    }
    if let Some(index) = weights.iter().position(|w| !(w.is_finite() && *w >= T::ZERO)) {
        return Err(MlpError::NonFinite { what: Operand::Weights, index });
    }
    Ok(())
}

fn check_kind(kind: LossKind) -> Result<(), MlpError> {
    if let LossKind::Huber { delta } = kind
        && !(delta > 0.0 && delta.is_finite())
    {
        return Err(MlpError::InvalidHyperparameter {
            name: "huber delta",
            value: delta,
            requirement: "positive and finite",
        });
    }
    Ok(())
}

impl<'a, T: Scalar> GatheredLoss<'a, T> {
    /// Checks the loss against a batch and returns it as the chunks see it.
    fn spec(&self, rows: usize, n_outputs: usize) -> Result<LossSpec<'a, T>, MlpError> {
        check_actions(self.actions, rows, n_outputs)?;
        if self.targets.len() != rows {
            return Err(MlpError::RowCount { what: Operand::Targets, expected: rows, got: self.targets.len() });
        }
        if let Some(index) = self.targets.iter().position(|t| !t.is_finite()) {
            return Err(MlpError::NonFinite { what: Operand::Targets, index });
        }
        check_kind(self.kind)?;
        check_weights(self.weights, rows)?;
        Ok(LossSpec {
            kind: self.kind,
            actions: self.actions,
            targets: Targets::Given(self.targets),
            weights: self.weights,
        })
    }
}

/// A loss term (before averaging) and its derivative with respect to the
/// gathered output `q` (before the 1/B of the mean), for target `y`.
#[inline(always)]
fn loss_term<T: Scalar>(kind: LossKind, q: T, y: T) -> (T, T) {
    let d = q - y;
    match kind {
        LossKind::Mse => (d * d, T::from_f64(2.0) * d),
        LossKind::Huber { delta } => {
            let delta = T::from_f64(delta);
            let half = T::from_f64(0.5);
            if d.abs() <= delta {
                (half * d * d, d)
            } else {
                (delta * (d.abs() - half * delta), if d > T::ZERO { delta } else { -delta })
            }
        }
    }
}

/// Computes row `r`'s target from a bootstrap network's outputs on that row
/// (`q_next`) and, when asked for, the trained network's outputs on the
/// same row (`q_own_next`); `None` when no target can be formed (a NaN).
pub type TargetFn<'a, T> = dyn Fn(usize, &[T], Option<&[T]>) -> Option<T> + Sync + 'a;

/// The DQN loss with its targets computed inside the pass: each chunk
/// evaluates `bootstrap` (the target network) on its rows of `next_inputs`,
/// and, with `own_on_next`, the trained network too (Double DQN), then
/// forms the targets with `target` and backpropagates. One parallel region
/// instead of two, and the same bits as computing the targets first and
/// using [`GatheredLoss`].
pub struct BootstrapLoss<'a, T: Scalar> {
    /// The loss function.
    pub kind: LossKind,
    /// For each row, which output is compared (the action taken).
    pub actions: &'a [usize],
    /// The network evaluated on `next_inputs`.
    pub bootstrap: &'a Mlp<T>,
    /// One row per input row (the next states).
    pub next_inputs: ArrayView2<'a, T>,
    /// Whether `target` also gets the trained network's outputs on
    /// `next_inputs`.
    pub own_on_next: bool,
    /// Row `r`'s target.
    pub target: &'a TargetFn<'a, T>,
    /// For each row, the weight of its loss term (see
    /// [`GatheredLoss::weights`]).
    pub weights: Option<&'a [T]>,
}

/// Where a pass's targets come from.
#[derive(Clone, Copy)]
enum Targets<'a, T: Scalar> {
    Given(&'a [T]),
    Bootstrap { net: &'a Mlp<T>, next: &'a [T], own_on_next: bool, f: &'a TargetFn<'a, T> },
}

/// A loss as the chunks see it.
#[derive(Clone, Copy)]
pub(crate) struct LossSpec<'a, T: Scalar> {
    kind: LossKind,
    actions: &'a [usize],
    targets: Targets<'a, T>,
    weights: Option<&'a [T]>,
}

/// Reusable buffers for batched forward and backward passes, and the chunk
/// size that splits a batch across threads.
#[derive(Debug, Clone)]
pub struct Workspace<T: Scalar> {
    chunk_rows: usize,
    arithmetic: Arithmetic,
    chunks: Vec<Chunk<T>>,
    outputs: Vec<T>,
    td_errors: Vec<T>,
    rows: usize,
    n_outputs: usize,
}

/// One chunk's activations and partial gradients.
#[derive(Debug, Clone, Default)]
struct Chunk<T: Scalar> {
    input: Vec<T>,
    /// Per layer, the outputs (after ReLU for hidden layers), `rows × width`.
    acts: Vec<Vec<T>>,
    delta: Vec<T>,
    delta_prev: Vec<T>,
    grads: Option<Params<T>>,
    loss_sum: T,
    /// This chunk's targets, one per row.
    targets: Vec<T>,
    /// Its rows' gathered output minus target (after a backward pass).
    td_errors: Vec<T>,
    /// Forward passes on the next inputs (bootstrap net, then the trained
    /// net for Double DQN).
    side: Vec<Chunk<T>>,
    /// The first row (global index) whose target could not be formed.
    target_error: Option<usize>,
}

impl<T: Scalar> Default for Workspace<T> {
    fn default() -> Self {
        Self::new(DEFAULT_CHUNK_ROWS).expect("the default chunk size is positive")
    }
}

impl<T: Scalar> Workspace<T> {
    /// A workspace splitting batches into chunks of `chunk_rows` rows.
    /// Gradients depend (in their last bits) on the chunk size, never on the
    /// number of threads.
    ///
    /// # Errors
    /// [`MlpError::InvalidHyperparameter`] if `chunk_rows` is 0.
    pub fn new(chunk_rows: usize) -> Result<Self, MlpError> {
        if chunk_rows == 0 {
            return Err(MlpError::InvalidHyperparameter { name: "chunk_rows", value: 0.0, requirement: "at least 1" });
        }
        Ok(Self {
            chunk_rows,
            arithmetic: Arithmetic::Separate,
            chunks: Vec::new(),
            outputs: Vec::new(),
            td_errors: Vec::new(),
            rows: 0,
            n_outputs: 0,
        })
    }

    /// This workspace with its passes computed in `arithmetic`
    /// ([`Arithmetic::Separate`] by default).
    #[must_use]
    pub fn with_arithmetic(mut self, arithmetic: Arithmetic) -> Self {
        self.arithmetic = arithmetic;
        self
    }

    /// How its passes round (see [`Arithmetic`]).
    #[must_use]
    pub fn arithmetic(&self) -> Arithmetic {
        self.arithmetic
    }

    /// Each row's gathered output minus its target, `q − y`, from the last
    /// pass with a loss (prioritized replay's TD errors; empty after a
    /// forward pass alone).
    #[must_use]
    pub fn td_errors(&self) -> &[T] {
        &self.td_errors
    }

    /// The outputs of the last pass, `[rows, n_outputs]`.
    #[must_use]
    pub fn outputs(&self) -> ArrayView2<'_, T> {
        ArrayView2::from_shape((self.rows, self.n_outputs), &self.outputs)
            .expect("outputs hold rows × n_outputs values")
    }

    /// Forward (and, with a loss, backward) over `inputs` in parallel chunks.
    pub(crate) fn run(
        &mut self,
        net: &Mlp<T>,
        inputs: ArrayView2<'_, T>,
        loss: Option<LossSpec<'_, T>>,
    ) -> Result<(), MlpError> {
        let (rows, width) = inputs.dim();
        net.check_input_width(width)?;
        if rows == 0 {
            return Err(MlpError::EmptyBatch);
        }
        let n_out = net.output_dim();
        let inputs: CowArray<'_, T, _> = inputs.as_standard_layout();
        let flat = inputs.as_slice().expect("standard layout is contiguous");
        if let Some(index) = flat.iter().position(|v| !v.is_finite()) {
            return Err(MlpError::NonFinite { what: Operand::Inputs, index });
        }
        let n_chunks = rows.div_ceil(self.chunk_rows);
        if self.chunks.len() < n_chunks {
            self.chunks.resize_with(n_chunks, Chunk::default);
        }
        let chunk_rows = self.chunk_rows;
        let scale = T::ONE / T::from_f64(rows as f64);
        let fused = self.arithmetic == Arithmetic::Fused;
        let job = |(c, chunk): (usize, &mut Chunk<T>)| {
            let r0 = c * chunk_rows;
            let r1 = (r0 + chunk_rows).min(rows);
            let input = &flat[r0 * width..r1 * width];
            let rows = r1 - r0;
            if fused {
                vectorized_fused(ChunkJob::<T, true> { chunk, net, input, r0, rows, loss, scale });
            } else {
                vectorized(ChunkJob::<T, false> { chunk, net, input, r0, rows, loss, scale });
            }
        };
        // Each chunk writes only its own buffers, and the reduction below
        // runs in chunk order afterwards, so running the chunks in parallel
        // or in turn gives the same bits. In turn saves the hand-off to a
        // one-thread pool, which costs more than a chunk.
        if rayon::current_num_threads() > 1 && n_chunks > 1 {
            self.chunks[..n_chunks].par_iter_mut().enumerate().for_each(job);
        } else {
            self.chunks[..n_chunks].iter_mut().enumerate().for_each(job);
        }
        self.rows = rows;
        self.n_outputs = n_out;
        if let Some(index) = self.chunks[..n_chunks].iter().find_map(|c| c.target_error) {
            return Err(MlpError::NonFinite { what: Operand::Targets, index });
        }
        self.outputs.clear();
        self.td_errors.clear();
        for chunk in &self.chunks[..n_chunks] {
            self.outputs.extend_from_slice(chunk.acts.last().expect("a network has a layer"));
            if loss.is_some() {
                self.td_errors.extend_from_slice(&chunk.td_errors);
            }
        }
        Ok(())
    }

    /// Sums the chunks' partial gradients into `grads`, in chunk order,
    /// clamping each sum to `[-clip, clip]` when asked, and returns the mean
    /// loss and whether every summed (and clamped) value is finite. One pass
    /// over the gradients, split across threads in fixed pieces.
    fn reduce(&self, grads: &mut Gradients<T>, clip: Option<T>) -> (T, bool) {
        use rayon::prelude::*;
        let chunks = &self.chunks[..self.rows.div_ceil(self.chunk_rows)];
        let mut all_finite = true;
        for (t, out) in grads.slices_mut().enumerate() {
            // Each element sums its chunks in chunk order whatever the
            // split, so splitting the tensor changes no bit.
            let piece = |(k, piece): (usize, &mut [T])| {
                vectorized(SumPartials { out: piece, from: k * PIECE, tensor: t, chunks, clip })
            };
            let finite = if rayon::current_num_threads() > 1 && out.len() > PIECE {
                out.par_chunks_mut(PIECE).enumerate().map(piece).reduce(|| true, |a, b| a & b)
            } else {
                out.chunks_mut(PIECE).enumerate().map(piece).fold(true, |a, b| a & b)
            };
            all_finite &= finite;
        }
        let loss_sum = chunks.iter().fold(T::ZERO, |acc, c| acc + c.loss_sum);
        (loss_sum / T::from_f64(self.rows as f64), all_finite)
    }
}

/// `out` = the sum, in chunk order, of every chunk's partial gradient of
/// tensor `tensor` at elements `from..from + out.len()`, clamped to
/// `[-clip, clip]` if given; returns whether every result is finite.
struct SumPartials<'a, T: Scalar> {
    out: &'a mut [T],
    from: usize,
    tensor: usize,
    chunks: &'a [Chunk<T>],
    clip: Option<T>,
}

impl<T: Scalar> Job for SumPartials<'_, T> {
    type Output = bool;

    #[inline(always)]
    fn run(self) -> bool {
        let range = self.from..self.from + self.out.len();
        for (c, chunk) in self.chunks.iter().enumerate() {
            let partial = chunk.grads.as_ref().expect("backward filled every chunk's gradients");
            let src = &partial.slices().nth(self.tensor).expect("same shape as the output")[range.clone()];
            if c == 0 {
                self.out.copy_from_slice(src);
            } else {
                for (o, &s) in self.out.iter_mut().zip(src) {
                    *o = *o + s;
                }
            }
        }
        if let Some(c) = self.clip {
            crate::params::clamp_slice(self.out, c);
        }
        self.out.iter().fold(true, |all, v| all & v.is_finite())
    }
}

/// One chunk's forward, and backward when there is a loss (after forming
/// its targets, if they come from a bootstrap network).
struct ChunkJob<'a, T: Scalar, const FUSED: bool> {
    chunk: &'a mut Chunk<T>,
    net: &'a Mlp<T>,
    input: &'a [T],
    r0: usize,
    rows: usize,
    loss: Option<LossSpec<'a, T>>,
    scale: T,
}

impl<T: Scalar, const FUSED: bool> Job for ChunkJob<'_, T, FUSED> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Self { chunk, net, input, r0, rows, loss, scale } = self;
        chunk.target_error = None;
        chunk.targets.clear();
        match loss.map(|l| l.targets) {
            None => {}
            Some(Targets::Given(targets)) => chunk.targets.extend_from_slice(&targets[r0..r0 + rows]),
            Some(Targets::Bootstrap { net: bootstrap, next, own_on_next, f }) => {
                let width = net.input_dim();
                let next = &next[r0 * width..(r0 + rows) * width];
                chunk.side.resize_with(2, Chunk::default);
                let (boot, own) = chunk.side.split_at_mut(1);
                boot[0].forward::<FUSED>(bootstrap, next, rows);
                if own_on_next {
                    own[0].forward::<FUSED>(net, next, rows);
                }
                let q_next = boot[0].acts.last().expect("a network has a layer");
                let n_boot = bootstrap.output_dim();
                let n_own = net.output_dim();
                for r in 0..rows {
                    let own_row = own_on_next
                        .then(|| &own[0].acts.last().expect("a network has a layer")[r * n_own..(r + 1) * n_own]);
                    match f(r0 + r, &q_next[r * n_boot..(r + 1) * n_boot], own_row) {
                        Some(y) if y.is_finite() => chunk.targets.push(y),
                        _ => {
                            chunk.target_error.get_or_insert(r0 + r);
                            chunk.targets.push(T::ZERO);
                        }
                    }
                }
            }
        }
        chunk.forward::<FUSED>(net, input, rows);
        if let Some(loss) = loss
            && chunk.target_error.is_none()
        {
            let weights = loss.weights.map(|w| &w[r0..r0 + rows]);
            chunk.backward::<FUSED>(net, loss.kind, &loss.actions[r0..r0 + rows], weights, rows, scale);
        }
    }
}

impl<T: Scalar> Chunk<T> {
    #[inline(always)]
    fn forward<const FUSED: bool>(&mut self, net: &Mlp<T>, input: &[T], rows: usize) {
        let layers = net.params().layers();
        self.input.clear();
        self.input.extend_from_slice(input);
        self.acts.resize_with(layers.len(), Vec::new);
        for (l, layer) in layers.iter().enumerate() {
            let (before, rest) = self.acts.split_at_mut(l);
            let prev: &[T] = if l == 0 { &self.input } else { &before[l - 1] };
            let z = &mut rest[0];
            // Every row starts from the bias (a copy per row: pushing value
            // by value cost a fifth of the forward pass).
            let bias = layer.bias.as_slice().expect("parameters are owned in standard layout");
            z.resize(rows * bias.len(), T::ZERO);
            for row in z.chunks_exact_mut(bias.len()) {
                row.copy_from_slice(bias);
            }
            net.kernel_weights(l).forward_gemm::<FUSED>(rows, prev, z);
            if l + 1 < layers.len() {
                relu_inplace(z);
            }
        }
    }

    /// Backpropagates the loss of this chunk's rows (their `actions` and the
    /// chunk's `targets`) into its partial gradients. `scale` is 1/B of the
    /// mean.
    #[inline(always)]
    fn backward<const FUSED: bool>(
        &mut self,
        net: &Mlp<T>,
        kind: LossKind,
        actions: &[usize],
        weights: Option<&[T]>,
        rows: usize,
        scale: T,
    ) {
        let layers = net.params().layers();
        if !self.grads.as_ref().is_some_and(|g| g.same_shape(net.params())) {
            self.grads = Some(net.params().clone());
        }
        let grads = self.grads.as_mut().expect("set just above");
        let n_out = net.output_dim();
        // ∂L/∂output: only each row's taken action gets a gradient.
        self.delta.clear();
        self.delta.resize(rows * n_out, T::ZERO);
        let q = self.acts.last().expect("a network has a layer");
        self.loss_sum = T::ZERO;
        self.td_errors.clear();
        for r in 0..rows {
            let a = actions[r];
            let (q_ra, y) = (q[r * n_out + a], self.targets[r]);
            let (mut term, mut d_q) = loss_term(kind, q_ra, y);
            if let Some(w) = weights {
                (term, d_q) = (w[r] * term, w[r] * d_q);
            }
            self.loss_sum = self.loss_sum + term;
            self.delta[r * n_out + a] = d_q * scale;
            self.td_errors.push(q_ra - y);
        }
        for l in (0..layers.len()).rev() {
            let layer = &layers[l];
            let (out, inp) = layer.weight.dim();
            let prev: &[T] = if l == 0 { &self.input } else { &self.acts[l - 1] };
            let g = &mut grads.layers_mut()[l];
            // ∂L/∂W = δᵀ · h_prev, [out, in]; δ read column-major as δᵀ.
            let gw = g.weight.as_slice_mut().expect("gradients are owned in standard layout");
            gw.fill(T::ZERO);
            gemm_acc::<T, FUSED>(out, inp, rows, &self.delta, ALayout::ColMajor { ld: out }, prev, inp, gw, inp);
            // ∂L/∂b = Σ_rows δ, in row order.
            let gb = g.bias.as_slice_mut().expect("gradients are owned in standard layout");
            gb.fill(T::ZERO);
            for r in 0..rows {
                for (b, &d) in gb.iter_mut().zip(&self.delta[r * out..(r + 1) * out]) {
                    *b = *b + d;
                }
            }
            if l > 0 {
                // ∂L/∂h_prev = δ · W, then through the ReLU: zero where the
                // unit was not active (h_prev = 0 ⇔ pre-activation ≤ 0).
                self.delta_prev.clear();
                self.delta_prev.resize(rows * inp, T::ZERO);
                let w = net.kernel_weights(l);
                gemm_acc::<T, FUSED>(
                    rows,
                    inp,
                    out,
                    &self.delta,
                    ALayout::RowMajor { ld: out },
                    &w.backward,
                    w.backward_ld,
                    &mut self.delta_prev,
                    inp,
                );
                for (d, &h) in self.delta_prev.iter_mut().zip(prev) {
                    *d = if h > T::ZERO { *d } else { T::ZERO };
                }
                std::mem::swap(&mut self.delta, &mut self.delta_prev);
            }
        }
    }
}

impl<T: Scalar> Mlp<T> {
    /// The loss on a batch and its gradient with respect to every parameter,
    /// written into `grads` (which must have this network's shape, e.g. made
    /// by [`Params::zeros`]). The batch is split into the workspace's chunks,
    /// computed in parallel on the current rayon pool, and the partial
    /// gradients are summed in chunk order: the result is the same bits with
    /// 1 thread or 64. The outputs stay readable in
    /// [`Workspace::outputs`].
    ///
    /// # Errors
    /// [`MlpError::InputWidth`], [`MlpError::EmptyBatch`],
    /// [`MlpError::RowCount`], [`MlpError::ActionOutOfRange`],
    /// [`MlpError::NonFinite`] (inputs or targets),
    /// [`MlpError::ShapeMismatch`] (grads).
    pub fn loss_and_gradients(
        &self,
        inputs: ArrayView2<'_, T>,
        loss: &GatheredLoss<'_, T>,
        ws: &mut Workspace<T>,
        grads: &mut Gradients<T>,
    ) -> Result<T, MlpError> {
        self.params().check_same_shape(grads)?;
        ws.run(self, inputs, Some(loss.spec(inputs.nrows(), self.output_dim())?))?;
        Ok(ws.reduce(grads, None).0)
    }

    /// [`loss_and_gradients`](Self::loss_and_gradients), then every
    /// gradient clamped to `[-clip, clip]` (`None`: not clamped) and checked
    /// finite, all in the pass that sums the chunks: the gradients come back
    /// ready for [`Adam::step_finite`](crate::Adam::step_finite). The same
    /// bits as `loss_and_gradients`, [`Params::clamp_inplace`] and a check.
    ///
    /// # Errors
    /// As `loss_and_gradients`, and [`MlpError::NonFinite`] naming the first
    /// non-finite gradient (after clamping, which turns ±∞ into ±clip but
    /// keeps NaN).
    pub fn loss_and_clamped_gradients<'g>(
        &self,
        inputs: ArrayView2<'_, T>,
        loss: &GatheredLoss<'_, T>,
        ws: &mut Workspace<T>,
        grads: &'g mut Gradients<T>,
        clip: Option<T>,
    ) -> Result<(T, FiniteGradients<'g, T>), MlpError> {
        self.params().check_same_shape(grads)?;
        ws.run(self, inputs, Some(loss.spec(inputs.nrows(), self.output_dim())?))?;
        finish(ws, grads, clip)
    }

    /// [`loss_and_clamped_gradients`](Self::loss_and_clamped_gradients)
    /// with the targets formed inside the pass from a bootstrap network
    /// (see [`BootstrapLoss`]).
    ///
    /// # Errors
    /// As `loss_and_clamped_gradients`; [`MlpError::NonFinite`] naming the
    /// first row (`targets`) whose target is not a finite number; an error
    /// for `next_inputs` of the wrong shape or with non-finite values.
    pub fn bootstrap_loss_and_clamped_gradients<'g>(
        &self,
        inputs: ArrayView2<'_, T>,
        loss: &BootstrapLoss<'_, T>,
        ws: &mut Workspace<T>,
        grads: &'g mut Gradients<T>,
        clip: Option<T>,
    ) -> Result<(T, FiniteGradients<'g, T>), MlpError> {
        self.params().check_same_shape(grads)?;
        let rows = inputs.nrows();
        check_actions(loss.actions, rows, self.output_dim())?;
        check_kind(loss.kind)?;
        let (next_rows, next_width) = loss.next_inputs.dim();
        if next_rows != rows {
            return Err(MlpError::RowCount { what: Operand::NextInputs, expected: rows, got: next_rows });
        }
        self.check_input_width(next_width)?;
        loss.bootstrap.check_input_width(next_width)?;
        let next: CowArray<'_, T, _> = loss.next_inputs.as_standard_layout();
        let next = next.as_slice().expect("standard layout is contiguous");
        if let Some(index) = next.iter().position(|v| !v.is_finite()) {
            return Err(MlpError::NonFinite { what: Operand::NextInputs, index });
        }
        check_weights(loss.weights, rows)?;
        let targets = Targets::Bootstrap { net: loss.bootstrap, next, own_on_next: loss.own_on_next, f: loss.target };
        ws.run(
            self,
            inputs,
            Some(LossSpec { kind: loss.kind, actions: loss.actions, targets, weights: loss.weights }),
        )?;
        finish(ws, grads, clip)
    }
}

/// The reduction, clamping and check that end a gradient pass.
fn finish<'g, T: Scalar>(
    ws: &Workspace<T>,
    grads: &'g mut Gradients<T>,
    clip: Option<T>,
) -> Result<(T, FiniteGradients<'g, T>), MlpError> {
    let (value, finite) = ws.reduce(grads, clip);
    if !finite {
        grads.check_finite()?;
    }
    Ok((value, FiniteGradients { grads }))
}

/// Gradients known to be finite (checked when this was made), which
/// [`Adam::step_finite`](crate::Adam::step_finite) applies without checking
/// them again.
#[derive(Debug, Clone, Copy)]
pub struct FiniteGradients<'a, T: Scalar> {
    grads: &'a Gradients<T>,
}

impl<'a, T: Scalar> FiniteGradients<'a, T> {
    /// Checks `grads`.
    ///
    /// # Errors
    /// [`MlpError::NonFinite`] naming the first NaN or infinite value.
    pub fn check(grads: &'a Gradients<T>) -> Result<Self, MlpError> {
        grads.check_finite()?;
        Ok(Self { grads })
    }

    /// The gradients.
    #[must_use]
    pub fn get(&self) -> &'a Gradients<T> {
        self.grads
    }
}
