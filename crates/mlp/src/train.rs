//! The gradient pass: a batch split into fixed-size chunks of rows, run on
//! the rayon pool, each chunk forward (with its side networks on the rows'
//! next inputs), then its rows' losses ([`RowLoss`], the one seam to the
//! learning rule) and backward, the partial gradients summed in chunk
//! order, clamped and checked in one pass. The chunking, never the thread
//! count, decides the order of every sum.

use ndarray::ArrayView2;

use crate::architecture::Source;
use crate::conv::{fold, unfold, unfold_bytes};
use crate::inputs::{CheckedInputs, Inputs, RowSource};
use crate::kernel::{
    ALayout, Arithmetic, Job, PIECE, Start, Transpose, gemm_acc, gemm_acc_packed, run_balanced, vectorized,
    vectorized_fused,
};
use crate::net::{KernelWeights, relu_inplace};
use crate::{Conv2dShape, Gradients, LayerKind, Mlp, MlpError, NoiseScales, Operand, Params, Scalar};

/// Rows per parallel chunk unless chosen otherwise. Fixed, never derived
/// from the thread count: the chunking decides the order in which partial
/// gradients are summed, so it must not change with the pool.
pub const DEFAULT_CHUNK_ROWS: usize = 32;

/// Which loss compares a gathered output with its target.
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

impl LossKind {
    /// One row's loss term (before averaging) and its derivative with
    /// respect to the output `q` (before the 1/B of the mean), for target
    /// `y`.
    #[inline(always)]
    #[must_use]
    pub fn term<T: Scalar>(self, q: T, y: T) -> (T, T) {
        let d = q - y;
        match self {
            Self::Mse => (d * d, T::from_f64(2.0) * d),
            Self::Huber { delta } => {
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

    /// Checks δ.
    ///
    /// # Errors
    /// [`MlpError::InvalidHyperparameter`] for a Huber δ that is not
    /// positive and finite.
    pub fn check(self) -> Result<(), MlpError> {
        if let Self::Huber { delta } = self
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
}

/// One row's part of a loss: its term (summed over the batch, then divided
/// by the batch size) and a value of the loss's choosing, kept per row in
/// [`Workspace::row_values`] (the TD error, for prioritized replay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowTerm<T> {
    /// The row's loss term.
    pub loss: T,
    /// The value kept for the row.
    pub value: T,
}

/// A loss computed row by row inside the gradient pass: the one seam
/// between a learning rule and the network. The pass gives each row its
/// outputs, and the outputs of the [`SideNets`] on the row's next input;
/// the loss writes ∂ℓ/∂outputs (the pass applies the 1/B of the mean) and
/// returns the row's [`RowTerm`]. Rows are called from the pass's parallel
/// chunks, in any order, so a loss must be a pure function of its row.
pub trait RowLoss<T: Scalar>: Sync {
    /// Row `row` of the batch: `outputs` are the trained network's,
    /// `side[i]` side network `i`'s on the row's next input. `grad` is all
    /// zeros on entry. `None` when no loss can be formed for the row (a
    /// NaN in what it depends on): the pass then fails with
    /// [`MlpError::NonFinite`] naming the row as [`Operand::Targets`].
    fn row(&self, row: usize, outputs: &[T], side: &[&[T]], grad: &mut [T]) -> Option<RowTerm<T>>;

    /// Checks the loss against a batch of `rows` rows of `n_outputs`
    /// outputs before the pass; by default there is nothing to check.
    ///
    /// # Errors
    /// The loss's own.
    fn check(&self, rows: usize, n_outputs: usize) -> Result<(), MlpError> {
        let _ = (rows, n_outputs);
        Ok(())
    }
}

/// Networks run inside the pass on the rows of `next_inputs` (one per
/// input row), whose outputs each row's loss sees: a DQN's target network,
/// and for Double DQN the trained network itself. At most
/// [`MAX_SIDE_NETS`].
#[derive(Clone, Copy)]
pub struct SideNets<'a, T: Scalar> {
    /// The networks, in the order the loss sees their outputs.
    pub nets: &'a [&'a Mlp<T>],
    /// One row per input row (the next states).
    pub next_inputs: Inputs<'a, T>,
}

/// The most side networks a pass runs.
pub const MAX_SIDE_NETS: usize = 2;

/// Regression of one output per row on a given target: output
/// `actions[r]` of row `r` is compared with `targets[r]`, the other outputs
/// get no gradient; row `r`'s kept value is `q − y`.
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

/// Checks a batch's gathered actions: one per row, each an output.
///
/// # Errors
/// [`MlpError::RowCount`] or [`MlpError::ActionOutOfRange`].
pub fn check_actions(actions: &[usize], rows: usize, n_outputs: usize) -> Result<(), MlpError> {
    if actions.len() != rows {
        return Err(MlpError::RowCount { what: Operand::Actions, expected: rows, got: actions.len() });
    }
    if let Some(row) = actions.iter().position(|&a| a >= n_outputs) {
        return Err(MlpError::ActionOutOfRange { row, action: actions[row], n_outputs });
    }
    Ok(())
}

/// Checks per-row loss weights: one per row, finite and not negative.
///
/// # Errors
/// [`MlpError::RowCount`] or [`MlpError::NonFinite`] (as
/// [`Operand::Weights`]).
pub fn check_weights<T: Scalar>(weights: Option<&[T]>, rows: usize) -> Result<(), MlpError> {
    let Some(weights) = weights else { return Ok(()) };
    if weights.len() != rows {
        return Err(MlpError::RowCount { what: Operand::Weights, expected: rows, got: weights.len() });
    }
    if let Some(index) = weights.iter().position(|w| !(w.is_finite() && *w >= T::ZERO)) {
        return Err(MlpError::NonFinite { what: Operand::Weights, index });
    }
    Ok(())
}

/// The gathered, optionally weighted, regression term of one row, with
/// `q − y` as its value; the shared core of [`GatheredLoss`] and any loss
/// that forms its target inside the pass.
#[inline(always)]
#[must_use]
pub fn gathered_term<T: Scalar>(
    kind: LossKind,
    outputs: &[T],
    action: usize,
    y: T,
    weight: Option<T>,
    grad: &mut [T],
) -> RowTerm<T> {
    let q = outputs[action];
    let (mut loss, mut d_q) = kind.term(q, y);
    if let Some(w) = weight {
        (loss, d_q) = (w * loss, w * d_q);
    }
    grad[action] = d_q;
    RowTerm { loss, value: q - y }
}

impl<T: Scalar> RowLoss<T> for GatheredLoss<'_, T> {
    #[inline(always)]
    fn row(&self, row: usize, outputs: &[T], _side: &[&[T]], grad: &mut [T]) -> Option<RowTerm<T>> {
        let weight = self.weights.map(|w| w[row]);
        Some(gathered_term(self.kind, outputs, self.actions[row], self.targets[row], weight, grad))
    }

    fn check(&self, rows: usize, n_outputs: usize) -> Result<(), MlpError> {
        check_actions(self.actions, rows, n_outputs)?;
        if self.targets.len() != rows {
            return Err(MlpError::RowCount { what: Operand::Targets, expected: rows, got: self.targets.len() });
        }
        if let Some(index) = self.targets.iter().position(|t| !t.is_finite()) {
            return Err(MlpError::NonFinite { what: Operand::Targets, index });
        }
        self.kind.check()?;
        check_weights(self.weights, rows)
    }
}

/// A loss as the chunks see it: the row loss and the side networks' rows.
/// (`pub` only to appear in [`Scalar`]'s hidden methods; not exported.)
#[derive(Clone, Copy)]
pub struct LossSpec<'a, T: Scalar> {
    rows: &'a dyn RowLoss<T>,
    side: &'a [&'a Mlp<T>],
    /// The side networks' inputs, row-major (empty without side networks).
    next: RowSource<'a, T>,
}

/// Reusable buffers for batched forward and backward passes, and the chunk
/// size that splits a batch across threads.
#[derive(Debug, Clone)]
pub struct Workspace<T: Scalar> {
    chunk_rows: usize,
    arithmetic: Arithmetic,
    chunks: Vec<Chunk<T>>,
    outputs: Vec<T>,
    row_values: Vec<T>,
    /// Whether the last pass formed a loss (and so row values).
    has_row_values: bool,
    rows: usize,
    n_outputs: usize,
}

/// Filters up to which a convolution's weight gradient is formed transposed
/// (see `Chunk::layer_backward`): two wide tiles' columns.
const TRANSPOSED_GRAD_MAX_OUT: usize = 64;

/// One chunk's activations and partial gradients (and the one-row pass of
/// [`Mlp::forward_single`] for dueling heads).
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunk<T: Scalar> {
    /// The input rows as values, for linear layers that read the input
    /// (a convolution unfolds its patches from the rows as they come: for
    /// bytes, one sample's values at a time, in `sample`).
    input: Vec<T>,
    /// Per layer, the outputs (after ReLU for hidden layers), `rows × width`.
    acts: Vec<Vec<T>>,
    /// Dueling heads' combined outputs, `rows × n_outputs`.
    combined: Vec<T>,
    /// Whether the last forward pass ended in `combined` (dueling heads).
    dueling: bool,
    /// ∂L/∂outputs, from the loss.
    output_grad: Vec<T>,
    /// Per layer, ∂L/∂(its output before ReLU), summed over its readers.
    deltas: Vec<Vec<T>>,
    /// Which layers' `deltas` have a first reader's part in this pass.
    delta_started: Vec<bool>,
    /// A second reader's part, before it is added.
    delta_part: Vec<T>,
    grads: Option<Params<T>>,
    loss_sum: T,
    /// Its rows' values from the loss (after a backward pass).
    row_values: Vec<T>,
    /// The side networks' forward passes on the rows' next inputs.
    side: Vec<Chunk<T>>,
    /// The first row (global index) whose loss could not be formed.
    row_error: Option<usize>,
    /// Per convolution, its input unfolded into patches (`rows·P ×
    /// in·k·k`, pixel-major); empty for linear layers.
    cols: Vec<Vec<T>>,
    /// A convolution's output or δ pixel-major (`rows·P × out`).
    pixel_rows: Vec<T>,
    /// ∂L/∂patches of a convolution, before it is folded onto its input.
    cols_grad: Vec<T>,
    /// A convolution's weight gradient transposed, `in × out`.
    grad_t: Vec<T>,
    /// The matrix kernel's packed blocks.
    pack: Vec<T>,
    /// One input converted from bytes, for a convolution to unfold.
    sample: Vec<T>,
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
            row_values: Vec::new(),
            has_row_values: false,
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

    /// Each row's value from the loss of the last pass with one
    /// ([`RowTerm::value`]: `q − y` for [`GatheredLoss`], the TD errors of
    /// prioritized replay); empty after a forward pass alone.
    #[must_use]
    pub fn row_values(&self) -> &[T] {
        match self.lone_chunk() {
            Some(chunk) if self.has_row_values => &chunk.row_values,
            Some(_) => &[],
            None => &self.row_values,
        }
    }

    /// The chunk that held the whole last batch, if one did (its outputs
    /// and row values are then read in place rather than copied: a copy of
    /// a batch of wide outputs cost a quarter of a forward pass when
    /// glibc's `rep movsb` met an unlucky alignment).
    fn lone_chunk(&self) -> Option<&Chunk<T>> {
        (self.rows > 0 && self.rows <= self.chunk_rows).then(|| &self.chunks[0])
    }

    /// The outputs of the last pass, `[rows, n_outputs]`.
    #[must_use]
    pub fn outputs(&self) -> ArrayView2<'_, T> {
        let values = self.lone_chunk().map_or(&self.outputs[..], Chunk::output);
        ArrayView2::from_shape((self.rows, self.n_outputs), values).expect("outputs hold rows × n_outputs values")
    }

    /// Forward (and, with a loss, backward) over `inputs` in parallel chunks:
    /// [`run_here`](Self::run_here), through the copy compiled in this crate.
    pub(crate) fn run(
        &mut self,
        net: &Mlp<T>,
        inputs: Inputs<'_, T>,
        loss: Option<LossSpec<'_, T>>,
    ) -> Result<(), MlpError> {
        T::workspace_run(self, net, inputs, loss)
    }

    /// The body of [`run`](Self::run); only `Scalar`'s impls call it.
    pub(crate) fn run_here(
        &mut self,
        net: &Mlp<T>,
        inputs: Inputs<'_, T>,
        loss: Option<LossSpec<'_, T>>,
    ) -> Result<(), MlpError> {
        let (rows, width) = inputs.dim();
        net.check_input_width(width)?;
        if rows == 0 {
            return Err(MlpError::EmptyBatch);
        }
        let n_out = net.output_dim();
        let inputs = CheckedInputs::new(inputs, Operand::Inputs)?;
        let flat = inputs.rows();
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
            let input = flat.rows(r0, r1, width);
            let rows = r1 - r0;
            if fused {
                vectorized_fused(ChunkJob::<T, true> { chunk, net, input, r0, rows, loss, scale });
            } else {
                vectorized(ChunkJob::<T, false> { chunk, net, input, r0, rows, loss, scale });
            }
        };
        // Each chunk writes only its own buffers, and the reduction below
        // runs in chunk order afterwards, so running the chunks in parallel
        // or in turn gives the same bits.
        crate::team::for_each_mut(&mut self.chunks[..n_chunks], |c, chunk| job((c, chunk)));
        self.rows = rows;
        self.n_outputs = n_out;
        self.has_row_values = loss.is_some();
        if let Some(index) = self.chunks[..n_chunks].iter().find_map(|c| c.row_error) {
            return Err(MlpError::NonFinite { what: Operand::Targets, index });
        }
        self.outputs.clear();
        self.row_values.clear();
        if n_chunks == 1 {
            return Ok(());
        }
        for chunk in &self.chunks[..n_chunks] {
            self.outputs.extend_from_slice(chunk.output());
            if loss.is_some() {
                self.row_values.extend_from_slice(&chunk.row_values);
            }
        }
        Ok(())
    }

    /// Sums the chunks' partial gradients into `grads`, in chunk order,
    /// clamping each sum to `[-clip, clip]` when asked, and returns the mean
    /// loss and whether every summed (and clamped) value is finite. One pass
    /// over the gradients, split across threads in fixed pieces. A lone
    /// chunk's gradients are the sum: they change places with `grads`
    /// (whose buffers the next pass fills) instead of being copied.
    fn reduce(&mut self, grads: &mut Gradients<T>, clip: Option<T>) -> (T, bool) {
        let chunks = &mut self.chunks[..self.rows.div_ceil(self.chunk_rows)];
        let loss_sum = chunks.iter().fold(T::ZERO, |acc, c| acc + c.loss_sum);
        let chunks: &[Chunk<T>] = match chunks {
            [lone] => {
                std::mem::swap(grads, lone.grads.as_mut().expect("backward filled every chunk's gradients"));
                &[]
            }
            all => all,
        };
        // Each element sums its chunks in chunk order whatever the split, so
        // splitting changes no bit: every piece of every tensor is one item,
        // and the items run in one parallel region, a group per thread.
        let pieces: Vec<(usize, usize, &mut [T])> = grads
            .slices_mut()
            .enumerate()
            .flat_map(|(t, out)| out.chunks_mut(PIECE).enumerate().map(move |(k, piece)| (t, k * PIECE, piece)))
            .collect();
        let piece =
            |(tensor, from, out): (usize, usize, &mut [T])| vectorized(SumPartials { out, from, tensor, chunks, clip });
        let all_finite = run_balanced(pieces, |p| p.2.len(), piece, true, |a, b| a & b);
        (loss_sum / T::from_f64(self.rows as f64), all_finite)
    }
}

/// `out` = the sum, in chunk order, of every chunk's partial gradient of
/// tensor `tensor` at elements `from..from + out.len()` (no chunks: `out`
/// as it is), clamped to
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

/// One chunk's forward (and its side networks' on the rows' next inputs),
/// then, when there is a loss, its rows' losses and backward.
struct ChunkJob<'a, T: Scalar, const FUSED: bool> {
    chunk: &'a mut Chunk<T>,
    net: &'a Mlp<T>,
    input: RowSource<'a, T>,
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
        chunk.row_error = None;
        if let Some(LossSpec { side, next, .. }) = loss
            && !side.is_empty()
        {
            let width = net.input_dim();
            let next = next.rows(r0, r0 + rows, width);
            chunk.side.resize_with(side.len(), Chunk::default);
            for (pass, side_net) in chunk.side.iter_mut().zip(side) {
                pass.forward::<FUSED>(side_net, next, rows);
            }
        }
        chunk.forward::<FUSED>(net, input, rows);
        if let Some(loss) = loss {
            chunk.backward::<FUSED>(net, loss, r0, rows, scale);
        }
    }
}

impl<T: Scalar> Chunk<T> {
    /// The network's outputs of the last forward pass, `rows × n_outputs`.
    pub(crate) fn output(&self) -> &[T] {
        if self.dueling { &self.combined } else { self.acts.last().expect("a network has a layer") }
    }

    #[inline(always)]
    pub(crate) fn forward<const FUSED: bool>(&mut self, net: &Mlp<T>, input: RowSource<'_, T>, rows: usize) {
        let layers = net.params().layers();
        let layout = net.layout();
        let linear_reads_input =
            (0..layers.len()).any(|l| layout.source(l) == Source::Input && layers[l].kind == LayerKind::Linear);
        if linear_reads_input {
            input.write_values(&mut self.input);
        }
        self.acts.resize_with(layers.len(), Vec::new);
        for l in 0..layers.len() {
            let (before, rest) = self.acts.split_at_mut(l);
            let source = match layout.source(l) {
                Source::Input => input,
                Source::Layer(k) => RowSource::Values(&before[k]),
            };
            let z = &mut rest[0];
            let bias = net.forward_bias(l);
            match layers[l].kind {
                LayerKind::Linear => {
                    let prev: &[T] = match layout.source(l) {
                        Source::Input => &self.input,
                        Source::Layer(k) => &before[k],
                    };
                    // Every row's sums start from the bias, in the kernel.
                    z.resize(rows * bias.len(), T::ZERO);
                    net.kernel_weights(l).forward_gemm::<FUSED>(rows, prev, bias, z);
                }
                LayerKind::Conv2d(c) => {
                    self.cols.resize_with(layers.len(), Vec::new);
                    // A linear layer reading the input keeps its values in
                    // `input`; then this convolution reads them from there.
                    let source = match source {
                        RowSource::Bytes(..) if linear_reads_input => RowSource::Values(&self.input),
                        other => other,
                    };
                    let buffers = (&mut self.cols[l], &mut self.pixel_rows, &mut self.sample);
                    conv_forward::<T, FUSED>(&c, net.kernel_weights(l), bias, source, rows, buffers, z);
                }
            }
            if layout.relu_after(l, layers.len()) {
                relu_inplace(z);
            }
        }
        self.dueling = false;
        if let Some((v, a)) = layout.heads(layers.len()) {
            combine_dueling(&self.acts[v], &self.acts[a], rows, &mut self.combined);
            self.dueling = true;
        }
    }

    /// Forms the losses of this chunk's rows (global indices `r0..r0 +
    /// rows`) and backpropagates them into its partial gradients, or, if a
    /// row's loss cannot be formed, records it and stops. `scale` is 1/B of
    /// the mean.
    #[inline(always)]
    fn backward<const FUSED: bool>(&mut self, net: &Mlp<T>, loss: LossSpec<'_, T>, r0: usize, rows: usize, scale: T) {
        let n_layers = net.params().layers().len();
        if !self.grads.as_ref().is_some_and(|g| g.same_shape(net.params())) {
            self.grads = Some(net.params().clone());
        }
        if !self.output_grads(net, loss, r0, rows, scale) {
            return;
        }
        self.deltas.resize_with(n_layers, Vec::new);
        self.delta_started.clear();
        self.delta_started.resize(n_layers, false);
        match net.layout().heads(n_layers) {
            None => std::mem::swap(&mut self.deltas[n_layers - 1], &mut self.output_grad),
            Some((v, a)) => {
                let (value, advantage) = self.deltas.split_at_mut(a);
                split_dueling_grad(
                    &self.output_grad,
                    rows,
                    self.acts[v].len() / rows,
                    &mut value[v],
                    &mut advantage[0],
                );
            }
        }
        for l in (0..n_layers).rev() {
            self.layer_backward::<FUSED>(net, l, rows);
        }
    }

    /// ∂L/∂output of each row, from the loss, scaled by `scale`, into
    /// `output_grad`, the rows' loss terms summed into `loss_sum` and their
    /// kept values into `row_values`. False (the row recorded in
    /// `row_error`) if a row's loss cannot be formed.
    #[inline(always)]
    fn output_grads(&mut self, net: &Mlp<T>, loss: LossSpec<'_, T>, r0: usize, rows: usize, scale: T) -> bool {
        let n_out = net.output_dim();
        self.output_grad.clear();
        self.output_grad.resize(rows * n_out, T::ZERO);
        self.loss_sum = T::ZERO;
        self.row_values.clear();
        // The outputs, as `output()` gives them (borrowing fields, not self).
        let q: &[T] = if self.dueling { &self.combined } else { self.acts.last().expect("a network has a layer") };
        let n_side = self.side.len().min(loss.side.len());
        for r in 0..rows {
            let side: [&[T]; MAX_SIDE_NETS] = std::array::from_fn(|i| {
                self.side.get(i).filter(|_| i < n_side).map_or(&[][..], |pass| {
                    let out = pass.output();
                    let width = out.len() / rows;
                    &out[r * width..(r + 1) * width]
                })
            });
            let grad = &mut self.output_grad[r * n_out..(r + 1) * n_out];
            match loss.rows.row(r0 + r, &q[r * n_out..(r + 1) * n_out], &side[..n_side], grad) {
                Some(term) => {
                    self.loss_sum = self.loss_sum + term.loss;
                    for g in grad.iter_mut() {
                        *g = *g * scale;
                    }
                    self.row_values.push(term.value);
                }
                _ => {
                    self.row_error = Some(r0 + r);
                    return false;
                }
            }
        }
        true
    }

    /// Layer `l`'s step of the backward pass, its delta (∂L/∂ its output)
    /// in `deltas[l]`: through its ReLU, its weight and bias gradients (and
    /// a noisy layer's σ gradients), and the delta of the layer it reads
    /// (written by its first reader, added to by a second). A convolution
    /// is a linear layer over its patches (`rows·P` rows of `in·k·k`
    /// inputs): its δ is turned pixel-major, and its input's delta is the
    /// patches' gradient folded back onto the image.
    #[inline(always)]
    fn layer_backward<const FUSED: bool>(&mut self, net: &Mlp<T>, l: usize, rows: usize) {
        let layers = net.params().layers();
        let layout = net.layout();
        let (out, inp) = layers[l].weight.dim();
        let mut delta = std::mem::take(&mut self.deltas[l]);
        if layout.relu_after(l, layers.len()) {
            // Through the ReLU: zero where the unit was not active
            // (output 0 ⇔ pre-activation ≤ 0).
            for (d, &h) in delta.iter_mut().zip(&self.acts[l]) {
                *d = if h > T::ZERO { *d } else { T::ZERO };
            }
        }
        let source = layout.source(l);
        let conv = match layers[l].kind {
            LayerKind::Linear => None,
            LayerKind::Conv2d(c) => Some(c),
        };
        // The layer as a product: its rows, their δ and their inputs.
        let (dense_rows, dense_delta, dense_input): (usize, &[T], &[T]) = match conv {
            None => (
                rows,
                &delta,
                match source {
                    Source::Input => &self.input,
                    Source::Layer(k) => &self.acts[k],
                },
            ),
            Some(c) => {
                let pixels = c.out_pixels();
                self.pixel_rows.resize(rows * pixels * out, T::ZERO);
                for (src, dst) in delta.chunks_exact(out * pixels).zip(self.pixel_rows.chunks_exact_mut(pixels * out)) {
                    Transpose { src, src_ld: pixels, rows: out, cols: pixels, dst }.run();
                }
                (rows * pixels, &self.pixel_rows, &self.cols[l])
            }
        };
        let g = &mut self.grads.as_mut().expect("made by backward").layers_mut()[l];
        // ∂L/∂W = δᵀ · h_prev, [out, in]; δ read column-major as δᵀ.
        let gw = g.weight.as_slice_mut().expect("gradients are owned in standard layout");
        if conv.is_some() && out <= TRANSPOSED_GRAD_MAX_OUT {
            // A convolution's few filters: (∂L/∂W)ᵀ = patchesᵀ · δ, `in × out`,
            // then turned. As δᵀ · patches the product had `out` rows for
            // thousands of patch rows of depth: each packed value of the
            // patches (megabytes, copied once) was read by only out/8 tiles.
            // This way nothing is packed: δ's rows are the narrow `B`. Each
            // element is the same sum over the patch rows in order, so the
            // bits are the same.
            self.grad_t.resize(inp * out, T::ZERO);
            gemm_acc::<T, FUSED>(
                inp,
                out,
                dense_rows,
                dense_input,
                ALayout::ColMajor { ld: inp },
                dense_delta,
                out,
                (&mut self.grad_t, out, Start::Zero),
            );
            Transpose { src: &self.grad_t, src_ld: out, rows: inp, cols: out, dst: gw }.run();
        } else {
            gemm_acc_packed::<T, FUSED>(
                out,
                inp,
                dense_rows,
                dense_delta,
                ALayout::ColMajor { ld: out },
                dense_input,
                inp,
                (gw, inp, Start::Zero),
                &mut self.pack,
            );
        }
        // ∂L/∂b = Σ_rows δ, in row order.
        let gb = g.bias.as_slice_mut().expect("gradients are owned in standard layout");
        gb.fill(T::ZERO);
        for d_row in dense_delta.chunks_exact(out) {
            for (b, &d) in gb.iter_mut().zip(d_row) {
                *b = *b + d;
            }
        }
        if let Some(sigma) = &mut g.sigma {
            noisy_sigma_grads(net.layer_noise(l), inp, gw, gb, sigma);
        }
        if let Source::Layer(k) = source {
            // ∂L/∂h_prev = δ · W: the first reader of layer k writes its
            // delta, a second (the other dueling stream) adds its part.
            let started = self.delta_started[k];
            let part = if started { &mut self.delta_part } else { &mut self.deltas[k] };
            let w = net.kernel_weights(l);
            let product = if conv.is_some() { &mut self.cols_grad } else { &mut *part };
            // Every value is written (from zero, in the kernel).
            product.resize(dense_rows * inp, T::ZERO);
            gemm_acc_packed::<T, FUSED>(
                dense_rows,
                inp,
                out,
                dense_delta,
                ALayout::RowMajor { ld: out },
                &w.backward,
                w.backward_ld,
                (product, inp, Start::Zero),
                &mut self.pack,
            );
            if let Some(c) = conv {
                fold(&c, &self.cols_grad, rows, part);
            }
            if started {
                for (d, &p) in self.deltas[k].iter_mut().zip(&self.delta_part) {
                    *d = *d + p;
                }
            }
            self.delta_started[k] = true;
        }
        // The buffer goes back for the next pass.
        self.deltas[l] = delta;
    }
}

/// A convolution's forward pass over `rows` inputs into `z` (`[rows][out][P]`,
/// before its ReLU): the inputs unfolded into `cols`, each patch row times
/// `Wᵀ` from the bias (the linear layers' kernel, over `rows·P` rows) into
/// `pixel_rows`, then each sample turned channel-major.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn conv_forward<T: Scalar, const FUSED: bool>(
    c: &Conv2dShape,
    weights: &KernelWeights<T>,
    bias: &[T],
    input: RowSource<'_, T>,
    rows: usize,
    (cols, pixel_rows, sample): (&mut Vec<T>, &mut Vec<T>, &mut Vec<T>),
    z: &mut Vec<T>,
) {
    match input {
        RowSource::Values(values) => unfold(c, values, rows, cols),
        RowSource::Bytes(bytes, table) => unfold_bytes(c, bytes, rows, table, sample, cols),
    }
    let (pixels, out) = (c.out_pixels(), c.out_channels);
    pixel_rows.resize(rows * pixels * out, T::ZERO);
    weights.forward_gemm::<FUSED>(rows * pixels, cols, bias, pixel_rows);
    z.resize(rows * out * pixels, T::ZERO);
    for (src, dst) in pixel_rows.chunks_exact(pixels * out).zip(z.chunks_exact_mut(out * pixels)) {
        Transpose { src, src_ld: out, rows: pixels, cols: out, dst }.run();
    }
}

/// A noisy layer's σ gradients from its weight and bias gradients `gw`,
/// `gb`: with `W = μ + σ ⊙ ε`, ∂L/∂μ = ∂L/∂W and ∂L/∂σ = ∂L/∂W ⊙ ε, the
/// factorised `ε = f(ε_out) f(ε_in)ᵀ` (0 without noise).
#[inline(always)]
fn noisy_sigma_grads<T: Scalar>(
    noise: Option<(&[T], &[T])>,
    inp: usize,
    gw: &[T],
    gb: &[T],
    sigma: &mut NoiseScales<T>,
) {
    let sw = sigma.weight.as_slice_mut().expect("gradients are owned in standard layout");
    let sb = sigma.bias.as_slice_mut().expect("gradients are owned in standard layout");
    match noise {
        Some((f_in, f_out)) => {
            for ((s_row, g_row), &o) in sw.chunks_exact_mut(inp).zip(gw.chunks_exact(inp)).zip(f_out) {
                for ((s, &g), &i) in s_row.iter_mut().zip(g_row).zip(f_in) {
                    *s = g * (o * i);
                }
            }
            for ((s, &g), &e) in sb.iter_mut().zip(gb).zip(f_out) {
                *s = g * e;
            }
        }
        None => {
            sw.fill(T::ZERO);
            sb.fill(T::ZERO);
        }
    }
}

/// Dueling heads' outputs: for each row, with `g` value outputs and `n·g`
/// advantage outputs, `q[a·g + z] = (V[z] + A[a·g + z]) − mean_a A[a·g + z]`
/// (PyTorch's `v + a - a.mean(1, keepdim=True)`, the mean a sum in action
/// order divided by n).
#[inline(always)]
fn combine_dueling<T: Scalar>(value: &[T], advantage: &[T], rows: usize, out: &mut Vec<T>) {
    let g = value.len() / rows;
    let width = advantage.len() / rows;
    let n = width / g;
    let n_t = T::from_f64(n as f64);
    out.clear();
    out.resize(advantage.len(), T::ZERO);
    for ((v, a), q) in value.chunks_exact(g).zip(advantage.chunks_exact(width)).zip(out.chunks_exact_mut(width)) {
        for z in 0..g {
            let mut sum = a[z];
            for action in 1..n {
                sum = sum + a[action * g + z];
            }
            let mean = sum / n_t;
            for action in 0..n {
                q[action * g + z] = (v[z] + a[action * g + z]) - mean;
            }
        }
    }
}

/// The gradients of the dueling combination: from ∂L/∂q, `∂L/∂V[z] =
/// Σ_a ∂L/∂q[a·g + z]` and `∂L/∂A[a·g + z] = ∂L/∂q[a·g + z] − (Σ_a
/// ∂L/∂q[a·g + z]) / n`.
#[inline(always)]
fn split_dueling_grad<T: Scalar>(grad: &[T], rows: usize, g: usize, value: &mut Vec<T>, advantage: &mut Vec<T>) {
    let width = grad.len() / rows;
    let n = width / g;
    let n_t = T::from_f64(n as f64);
    value.clear();
    value.resize(rows * g, T::ZERO);
    advantage.clear();
    advantage.resize(grad.len(), T::ZERO);
    for ((q, v), a) in grad.chunks_exact(width).zip(value.chunks_exact_mut(g)).zip(advantage.chunks_exact_mut(width)) {
        for z in 0..g {
            let mut sum = q[z];
            for action in 1..n {
                sum = sum + q[action * g + z];
            }
            v[z] = sum;
            let share = sum / n_t;
            for action in 0..n {
                a[action * g + z] = q[action * g + z] - share;
            }
        }
    }
}

impl<T: Scalar> Mlp<T> {
    /// The mean of `loss` over the rows of `inputs` and its gradient with
    /// respect to every parameter, written into `grads` (which must have
    /// this network's shape, e.g. made by [`Params::zeros`]), each gradient
    /// clamped to `[-clip, clip]` (`None`: not clamped) and checked finite
    /// while the chunks' partial gradients are summed: they come back ready
    /// for [`Adam::step_finite`](crate::Adam::step_finite).
    ///
    /// With `side`, its networks run on its `next_inputs` inside the same
    /// parallel pass and each row's loss sees their outputs on its row (a
    /// DQN's targets, formed there). The batch is split into the
    /// workspace's chunks, computed in parallel on the current rayon pool,
    /// and the partial gradients are summed in chunk order: the result is
    /// the same bits with 1 thread or 64. The outputs and each row's
    /// [`RowTerm::value`] stay readable in the workspace.
    ///
    /// # Errors
    /// [`MlpError::InputWidth`], [`MlpError::EmptyBatch`],
    /// [`MlpError::RowCount`] (next inputs), what the loss's
    /// [`check`](RowLoss::check) finds, [`MlpError::NonFinite`] for inputs,
    /// next inputs, a row whose loss could not be formed (as
    /// [`Operand::Targets`]) or the first non-finite gradient (after
    /// clamping, which turns ±∞ into ±clip but keeps NaN),
    /// [`MlpError::ShapeMismatch`] (grads), and
    /// [`MlpError::InvalidHyperparameter`] for more than
    /// [`MAX_SIDE_NETS`] side networks.
    pub fn gradients<'a, 'g>(
        &self,
        inputs: impl Into<Inputs<'a, T>>,
        loss: &dyn RowLoss<T>,
        side: Option<SideNets<'_, T>>,
        ws: &mut Workspace<T>,
        grads: &'g mut Gradients<T>,
        clip: Option<T>,
    ) -> Result<(T, FiniteGradients<'g, T>), MlpError> {
        self.params().check_same_shape(grads)?;
        let inputs = inputs.into();
        let rows = inputs.dim().0;
        loss.check(rows, self.output_dim())?;
        let side = side.unwrap_or(SideNets {
            nets: &[],
            next_inputs: Inputs::Values(ArrayView2::from_shape((0, 0), &[]).expect("empty")),
        });
        if side.nets.len() > MAX_SIDE_NETS {
            return Err(MlpError::InvalidHyperparameter {
                name: "side networks",
                value: side.nets.len() as f64,
                requirement: "at most 2",
            });
        }
        if !side.nets.is_empty() {
            let (next_rows, next_width) = side.next_inputs.dim();
            if next_rows != rows {
                return Err(MlpError::RowCount { what: Operand::NextInputs, expected: rows, got: next_rows });
            }
            self.check_input_width(next_width)?;
            for net in side.nets {
                net.check_input_width(next_width)?;
            }
        }
        let next = CheckedInputs::new(side.next_inputs, Operand::NextInputs)?;
        ws.run(self, inputs, Some(LossSpec { rows: loss, side: side.nets, next: next.rows() }))?;
        finish(ws, grads, clip)
    }
}

/// The reduction, clamping and check that end a gradient pass.
fn finish<'g, T: Scalar>(
    ws: &mut Workspace<T>,
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
