#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! A Q-network on `ndarray` (linear layers, optionally behind 2-D
//! convolutions), trained with handwritten backprop and Adam or RMSprop,
//! numerically matching PyTorch.
//!
//! The job: the Q-network of DQN and nothing about RL. [`Mlp`] is a stack of
//! linear layers with ReLU between them (none after the last), or a trunk
//! with dueling value and advantage streams ([`Layout`]), initialised like
//! PyTorch's `nn.Linear`; any layer may be a factorised-Gaussian noisy
//! layer whose noise ([`Noise`]) is drawn from an RNG the caller owns. [`Mlp::forward_single`] evaluates one input
//! without allocating (action selection); [`Mlp::forward_batch`] and
//! [`Mlp::gradients`] run a batch in fixed-size chunks of rows on as many
//! threads as the current rayon pool has (the calling thread and helpers
//! that spin between regions; see `team.rs`) and sum the chunks' partial
//! gradients in a fixed order, so results are bit-identical at any thread
//! count. A loss is a [`RowLoss`]: each row
//! sees its outputs and those of up to two side networks on its next input
//! (a learner's target network), and writes its gradient; [`GatheredLoss`]
//! is regression of one output per row on a given target (MSE or Huber,
//! optionally weighted). [`Params`] holds
//! tensors in PyTorch's state-dict layout and names (`fc1.weight` `[out,
//! in]`, …) and clamps gradients; [`Adam`] is PyTorch's Adam with a
//! serializable state.
//!
//! What it deliberately does not do: know about actions, rewards or target
//! networks (a learner's rule is its own `RowLoss`); own an RNG; do I/O.
//!
//! Numerics: every matrix product sums in a fixed order with one rounding
//! per operation (no fused multiply-add), vectorized across outputs, so
//! results are the same bits on any x86-64 vector width.

mod adam;
mod architecture;
mod conv;
mod error;
mod inputs;
mod kernel;
mod net;
mod noise;
mod optimizer;
mod params;
mod rmsprop;
mod scalar;
mod team;
mod train;

pub use adam::{Adam, AdamConfig, StoredAdam};
pub use architecture::{
    Architecture, ConvLayer, ConvTrunk, DuelingStreams, LayerKind, LayerShape, Layout, NoisyInit, NoisyLayers, Shape,
    TensorKind, tensor_name,
};
pub use conv::{Conv2dShape, conv2d_backward, conv2d_forward, im2col};
pub use error::{MlpError, Operand, OptimizerProblem};
pub use inputs::Inputs;
pub use kernel::Arithmetic;
pub use net::{Mlp, SingleScratch};
pub use noise::{LayerNoise, Noise};
pub use optimizer::{Optimizer, OptimizerConfig, StoredOptimizer};
pub use params::{Gradients, LayerParams, NoiseScales, Params, StoredLayer, StoredParams, TensorView};
pub use rmsprop::{RmsProp, RmsPropConfig, StoredRmsProp};
pub use scalar::Scalar;
pub use team::warm_up_threads;
pub use train::{
    DEFAULT_CHUNK_ROWS, FiniteGradients, GatheredLoss, LossKind, MAX_SIDE_NETS, RowLoss, RowTerm, SideNets, Workspace,
    check_actions, check_weights, gathered_term,
};

/// For benchmarks only: `iters` rounds of 12 multiplies and adds in the
/// widest vector registers the kernels use on this CPU (AVX-512, else AVX2),
/// each sum adding a product that does not depend on it, as a kernel tile's
/// do. Its FLOP rate is the ceiling of the kernels' instruction mix on this
/// machine. Returns a value (so the work is not optimized away) and the
/// FLOP done.
///
/// (An earlier probe chained each multiply to its add, `s = s·x + y`: a
/// round then waits for both latencies, and with 12 sums that measured
/// the latency, 10–25 % below what the machine does.)
#[doc(hidden)]
#[must_use]
pub fn mul_add_ceiling_probe(iters: usize) -> (f32, u64) {
    kernel::ceiling_probe::<false>(iters)
}

/// For benchmarks only: the same with each multiply and add fused (FMA where
/// the CPU has it): the ceiling of [`Arithmetic::Fused`].
#[doc(hidden)]
#[must_use]
pub fn fused_mul_add_ceiling_probe(iters: usize) -> (f32, u64) {
    kernel::ceiling_probe::<true>(iters)
}
