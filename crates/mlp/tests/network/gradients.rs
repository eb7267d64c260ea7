//! The handwritten backward pass against central finite differences, in f64.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use mlp::{
    Architecture, ConvLayer, ConvTrunk, DuelingStreams, GatheredLoss, LayerParams, LossKind, Mlp, NoisyInit,
    NoisyLayers, Params, Workspace,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Step of the central difference. With f64 the truncation error (∝ h²)
/// and the rounding error (∝ ε/h) are both near 1e-10 relative.
const H: f64 = 1e-6;
/// |analytic − numeric| ≤ RTOL·|numeric| + ATOL for every parameter: far
/// below any real error (a missing ReLU mask or a transposed product is off
/// by O(1) relative) and far above the difference's own error.
const RTOL: f64 = 1e-6;
const ATOL: f64 = 1e-9;

struct Problem {
    net: Mlp<f64>,
    inputs: Array2<f64>,
    actions: Vec<usize>,
    targets: Vec<f64>,
    kind: LossKind,
    weights: Option<Vec<f64>>,
}

impl Problem {
    fn new(sizes: &[usize], rows: usize, kind: LossKind, seed: u64) -> Self {
        Self::of(&Architecture::sequential(sizes), rows, kind, seed)
    }

    /// A problem on the network `arch` describes; a noisy one gets a noise
    /// sample.
    fn of(arch: &Architecture, rows: usize, kind: LossKind, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut net = Mlp::build(arch, &mut rng).unwrap();
        net.resample_noise(&mut rng);
        let n_out = arch.outputs;
        Self {
            inputs: Array2::from_shape_fn((rows, arch.inputs), |_| rng.random_range(-2.0..2.0)),
            actions: (0..rows).map(|_| rng.random_range(0..n_out)).collect(),
            targets: (0..rows).map(|_| rng.random_range(-3.0..3.0)).collect(),
            net,
            kind,
            weights: None,
        }
    }

    /// The same problem with random per-row loss weights in (0, 1].
    fn weighted(mut self, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.weights = Some((0..self.actions.len()).map(|_| rng.random_range(0.05..=1.0)).collect());
        self
    }

    fn loss(&self, net: &Mlp<f64>, chunk_rows: usize) -> (f64, Params<f64>) {
        let loss = GatheredLoss {
            kind: self.kind,
            actions: &self.actions,
            targets: &self.targets,
            weights: self.weights.as_deref(),
        };
        let mut grads = net.params().zeros_like();
        let mut ws = Workspace::new(chunk_rows).unwrap();
        let value =
            net.gradients(self.inputs.view(), &loss, None, &mut ws, &mut grads, None).map(|(value, _)| value).unwrap();
        (value, grads)
    }

    /// The loss with one parameter (tensor `t` in state-dict order, flat
    /// index `i`) moved by `delta`.
    fn loss_moved(&self, t: usize, i: usize, delta: f64) -> f64 {
        let mut params: Params<f64> = self.net.params().clone();
        params.tensors_mut().nth(t).unwrap()[i] += delta;
        let mut net = Mlp::from_params(params).unwrap();
        if let Some(noise) = self.net.noise() {
            net.set_noise(noise.clone()).unwrap();
        }
        self.loss(&net, 3).0
    }
}

fn check_gradients(problem: &Problem) {
    let (_, grads) = problem.loss(&problem.net, 3);
    let mut checked = 0;
    for (t, (name, tensor)) in grads.named_tensors().enumerate() {
        let analytic: Vec<f64> = tensor.iter().copied().collect();
        for (i, &a) in analytic.iter().enumerate() {
            let numeric = (problem.loss_moved(t, i, H) - problem.loss_moved(t, i, -H)) / (2.0 * H);
            assert!(
                (a - numeric).abs() <= RTOL * numeric.abs() + ATOL,
                "{name}[{i}]: backprop {a:e}, finite difference {numeric:e}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, problem.net.params().len());
}

#[test]
fn mse_gradients_match_finite_differences() {
    // 7 rows in chunks of 3: the partial gradients of 3 chunks are summed.
    check_gradients(&Problem::new(&[4, 5, 3, 2], 7, LossKind::Mse, 1));
    check_gradients(&Problem::new(&[3, 6, 4], 5, LossKind::Mse, 2));
}

#[test]
fn huber_gradients_match_finite_differences() {
    // δ = 0.5 with targets spread over ±3: rows on both sides of δ.
    check_gradients(&Problem::new(&[4, 5, 3, 2], 7, LossKind::Huber { delta: 0.5 }, 3));
}

#[test]
fn weighted_losses_match_finite_differences() {
    check_gradients(&Problem::new(&[4, 5, 3, 2], 7, LossKind::Mse, 5).weighted(6));
    check_gradients(&Problem::new(&[4, 5, 3, 2], 7, LossKind::Huber { delta: 0.5 }, 7).weighted(8));
}

#[test]
fn weights_of_one_are_no_weights_bit_for_bit() {
    let problem = Problem::new(&[4, 5, 3, 2], 7, LossKind::Mse, 9);
    let ones = Problem { weights: Some(vec![1.0; 7]), ..Problem::new(&[4, 5, 3, 2], 7, LossKind::Mse, 9) };
    assert_eq!(problem.loss(&problem.net, 3), ones.loss(&ones.net, 3));
}

#[test]
fn a_single_layer_net_works_too() {
    check_gradients(&Problem::new(&[4, 2], 4, LossKind::Mse, 4));
}

#[test]
fn loss_values_are_the_means_by_hand() {
    // One layer, identity-like: q = W·x + b with W = [[1, 0], [0, 2]], b = [0.5, -1].
    // Row 0: x = (1, 1), action 0: q = 1.5, target 1 → d = 0.5.
    // Row 1: x = (2, -1), action 1: q = -3, target 0 → d = -3.
    // MSE = (0.25 + 9) / 2 = 4.625. Huber(δ=1) = (0.5·0.25 + 1·(3 − 0.5)) / 2 = 1.3125.
    let layer = LayerParams::plain(ndarray::arr2(&[[1.0, 0.0], [0.0, 2.0]]), ndarray::arr1(&[0.5, -1.0]));
    let net = Mlp::from_params(Params::from_layers(vec![layer]).unwrap()).unwrap();
    let inputs = ndarray::arr2(&[[1.0, 1.0], [2.0, -1.0]]);
    let mut grads = Params::zeros(&[2, 2]).unwrap();
    let mut ws = Workspace::default();
    for (kind, expected, bias_grad) in [
        // ∂/∂b: MSE: (2·0.5/2 at output 0, 2·(−3)/2 at output 1); Huber: (0.5/2, −1/2).
        (LossKind::Mse, 4.625, [0.5, -3.0]),
        (LossKind::Huber { delta: 1.0 }, 1.3125, [0.25, -0.5]),
    ] {
        let loss = GatheredLoss { kind, actions: &[0, 1], targets: &[1.0, 0.0], weights: None };
        let value: f64 =
            net.gradients(inputs.view(), &loss, None, &mut ws, &mut grads, None).map(|(value, _)| value).unwrap();
        assert_eq!(value, expected, "{kind:?}");
        assert_eq!(grads.layers()[0].bias.to_vec(), bias_grad, "{kind:?}");
        assert_eq!(ws.row_values(), [0.5, -3.0], "q − y per row");
    }
    // Weights 0.5 and 0.25: MSE = (0.5·0.25 + 0.25·9) / 2 = 1.1875, and the
    // bias gradients scale with their rows' weights.
    let loss =
        GatheredLoss { kind: LossKind::Mse, actions: &[0, 1], targets: &[1.0, 0.0], weights: Some(&[0.5, 0.25]) };
    let value: f64 =
        net.gradients(inputs.view(), &loss, None, &mut ws, &mut grads, None).map(|(value, _)| value).unwrap();
    assert_eq!(value, 1.1875);
    assert_eq!(grads.layers()[0].bias.to_vec(), [0.25, -0.75]);
    let short = GatheredLoss { weights: Some(&[1.0]), ..loss };
    assert!(net.gradients(inputs.view(), &short, None, &mut ws, &mut grads, None).map(|(value, _)| value).is_err());
    let negative = GatheredLoss { weights: Some(&[1.0, -1.0]), ..loss };
    assert!(net.gradients(inputs.view(), &negative, None, &mut ws, &mut grads, None).map(|(value, _)| value).is_err());
}

fn dueling(value_outputs: usize, outputs: usize, noisy: Option<NoisyLayers>) -> Architecture {
    Architecture {
        inputs: 4,
        hidden: vec![6, 5],
        outputs,
        dueling: Some(DuelingStreams { value_hidden: vec![4], advantage_hidden: vec![3], value_outputs }),
        noisy: noisy.map(|layers| NoisyInit { layers, sigma0: 0.5 }),
        conv: None,
    }
}

#[test]
fn dueling_gradients_match_finite_differences() {
    // Scalar heads (one value output, 3 actions) and grouped ones (2 value
    // outputs, 3 actions × 2): the mean is taken per group.
    check_gradients(&Problem::of(&dueling(1, 3, None), 7, LossKind::Mse, 11));
    check_gradients(&Problem::of(&dueling(2, 6, None), 7, LossKind::Huber { delta: 0.5 }, 12).weighted(13));
}

#[test]
fn noisy_gradients_match_finite_differences() {
    // Every σ gradient too, under a noise sample; on a chain and on heads.
    let mut chain = Architecture::sequential(&[4, 5, 3, 2]);
    chain.noisy = Some(NoisyInit { layers: NoisyLayers::All, sigma0: 0.5 });
    check_gradients(&Problem::of(&chain, 7, LossKind::Mse, 14));
    check_gradients(&Problem::of(&dueling(1, 3, Some(NoisyLayers::Heads)), 7, LossKind::Mse, 15));
}

#[test]
fn without_noise_a_noisy_net_is_its_mean_and_sigma_learns_nothing() {
    let mut arch = Architecture::sequential(&[4, 5, 2]);
    arch.noisy = Some(NoisyInit { layers: NoisyLayers::Heads, sigma0: 0.5 });
    let mut problem = Problem::of(&arch, 5, LossKind::Mse, 16);
    problem.net.clear_noise();
    let (value, grads) = problem.loss(&problem.net, 3);
    // The same network with plain layers of the means gives the same bits.
    let mut plain_params = problem.net.params().clone();
    let plain_layers: Vec<_> =
        plain_params.layers().iter().map(|l| LayerParams::plain(l.weight.clone(), l.bias.clone())).collect();
    plain_params = Params::from_layers(plain_layers).unwrap();
    let plain = Mlp::from_params(plain_params).unwrap();
    let (plain_value, plain_grads) = problem.loss(&plain, 3);
    assert_eq!(value.to_bits(), plain_value.to_bits());
    let last = grads.layers().last().unwrap();
    assert_eq!(last.weight, plain_grads.layers().last().unwrap().weight);
    let sigma = last.sigma.as_ref().unwrap();
    assert!(sigma.weight.iter().chain(&sigma.bias).all(|&g| g == 0.0));
    // Under noise the outputs move, and σ learns.
    problem.net.resample_noise(&mut ChaCha8Rng::seed_from_u64(17));
    let (noisy_value, noisy_grads) = problem.loss(&problem.net, 3);
    assert_ne!(noisy_value, value);
    assert!(noisy_grads.layers().last().unwrap().sigma.as_ref().unwrap().weight.iter().any(|&g| g != 0.0));
}

fn conv(out_channels: usize, kernel: usize, stride: usize, padding: usize) -> ConvLayer {
    ConvLayer { out_channels, kernel, stride, padding }
}

/// Convolutions on a `[c, h, w]` input, then `hidden` and `outputs`.
fn convnet(input: [usize; 3], layers: Vec<ConvLayer>, hidden: Vec<usize>, outputs: usize) -> Architecture {
    Architecture {
        inputs: input.iter().product(),
        hidden,
        outputs,
        dueling: None,
        noisy: None,
        conv: Some(ConvTrunk { input, layers }),
    }
}

#[test]
fn convolution_gradients_match_finite_differences() {
    // A non-square input, a strided padded layer that leaves remainders
    // ((9 + 2 − 3) mod 2 = 0 but (7 + 2 − 4) mod 3 = 2 on the second), then
    // a valid one and two linear layers: every weight, bias and the input
    // gradient that carries conv2's δ back to conv1.
    let odd = convnet([2, 9, 7], vec![conv(3, 3, 2, 1), conv(4, 2, 1, 0)], vec![5], 3);
    check_gradients(&Problem::of(&odd, 7, LossKind::Mse, 31));
    // Strided with a remainder and padding on the first layer.
    let strided = convnet([1, 8, 6], vec![conv(2, 4, 3, 1)], vec![], 2);
    check_gradients(&Problem::of(&strided, 5, LossKind::Huber { delta: 0.5 }, 32).weighted(33));
    // Dopamine's MinAtar form: 'same' padding straight into the output layer.
    let same = convnet([3, 5, 5], vec![conv(4, 3, 1, 1)], vec![], 3);
    check_gradients(&Problem::of(&same, 4, LossKind::Mse, 34));
}

#[test]
fn convolutions_under_dueling_and_noisy_heads_match_finite_differences() {
    let mut arch = convnet([2, 6, 5], vec![conv(3, 3, 1, 0), conv(2, 2, 2, 1)], vec![6], 6);
    arch.dueling = Some(DuelingStreams { value_hidden: vec![4], advantage_hidden: vec![], value_outputs: 2 });
    arch.noisy = Some(NoisyInit { layers: NoisyLayers::All, sigma0: 0.5 });
    check_gradients(&Problem::of(&arch, 7, LossKind::Huber { delta: 0.5 }, 35));
    // Streams reading the convolutions directly: two readers of conv2's δ.
    arch.hidden.clear();
    check_gradients(&Problem::of(&arch, 5, LossKind::Mse, 36));
}
