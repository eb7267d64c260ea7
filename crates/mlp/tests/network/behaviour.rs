//! Determinism across thread counts, invariants (proptest), serialization
//! and the errors of the public boundary.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use mlp::{
    Adam, AdamConfig, Architecture, DuelingStreams, GatheredLoss, LayerParams, LossKind, Mlp, MlpError, NoisyInit,
    NoisyLayers, Operand, Params, RowLoss, RowTerm, SideNets, SingleScratch, Workspace, gathered_term,
};
use ndarray::{Array1, Array2, arr2};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIZES: [usize; 4] = [4, 128, 128, 2];

/// A batched forward pass must give each row the same bits as the
/// single-input pass: action selection batches rows across environments,
/// and a run with one environment must not depend on which path it took.
#[test]
fn batched_rows_equal_single_forward_bit_for_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for sizes in [&SIZES[..], &[4, 64, 64, 2][..], &[3, 5, 7, 2][..]] {
        let net: Mlp<f32> = Mlp::new(sizes, &mut rng).unwrap();
        let mut ws = Workspace::new(8).unwrap();
        let mut scratch = SingleScratch::default();
        for rows in [1, 2, 3, 5, 8, 17, 64, 100] {
            let inputs = Array2::from_shape_fn((rows, sizes[0]), |_| rng.random_range(-2.0f32..2.0));
            let batched = net.forward_batch(inputs.view(), &mut ws).unwrap().to_owned();
            for (r, row) in inputs.rows().into_iter().enumerate() {
                let single = net.forward_single(row.as_slice().unwrap(), &mut scratch).unwrap();
                let want: Vec<u32> = single.iter().map(|v| v.to_bits()).collect();
                let got: Vec<u32> = batched.row(r).iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "sizes {sizes:?}, {rows} rows, row {r}");
            }
        }
    }
}

/// 30 updates of the seed's net on changing batches; returns the final
/// parameters, every loss, and the last batch's outputs, all as bits.
fn train_bits(threads: usize) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    train_bits_of(&Architecture::sequential(&SIZES), threads)
}

/// The same for the network `arch` describes, its noise (if any) drawn
/// afresh before every update.
fn train_bits_of(arch: &Architecture, threads: usize) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut net: Mlp<f32> = Mlp::build(arch, &mut rng).unwrap();
        let mut adam = Adam::new(&net, AdamConfig::new(1e-3)).unwrap();
        let mut grads = net.params().zeros_like();
        let mut ws = Workspace::default();
        let mut losses = Vec::new();
        for _ in 0..30 {
            net.resample_noise(&mut rng);
            let inputs = Array2::from_shape_fn((64, arch.inputs), |_| rng.random_range(-1.0f32..1.0));
            let actions: Vec<usize> = (0..64).map(|_| rng.random_range(0..arch.outputs)).collect();
            let targets: Vec<f32> = (0..64).map(|_| rng.random_range(0.0f32..2.0)).collect();
            let loss = GatheredLoss { kind: LossKind::Mse, actions: &actions, targets: &targets, weights: None };
            losses.push(
                net.gradients(inputs.view(), &loss, None, &mut ws, &mut grads, None)
                    .map(|(value, _)| value)
                    .unwrap()
                    .to_bits(),
            );
            grads.clamp_inplace(1.0);
            adam.step(&mut net, &grads).unwrap();
        }
        let params =
            net.params().named_tensors().flat_map(|(_, t)| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect();
        let outputs = ws.outputs().iter().map(|v| v.to_bits()).collect();
        (params, losses, outputs)
    })
}

#[test]
fn training_is_bit_identical_at_1_2_and_4_threads() {
    let one = train_bits(1);
    assert_eq!(train_bits(2), one, "2 threads differ from 1");
    assert_eq!(train_bits(4), one, "4 threads differ from 1");
}

/// Dueling heads with noisy streams, at the seed's widths.
fn dueling_noisy() -> Architecture {
    Architecture {
        inputs: 4,
        hidden: vec![128],
        outputs: 2 * 3,
        dueling: Some(DuelingStreams { value_hidden: vec![64], advantage_hidden: vec![64], value_outputs: 3 }),
        noisy: Some(NoisyInit { layers: NoisyLayers::Heads, sigma0: 0.5 }),
        conv: None,
    }
}

#[test]
fn dueling_and_noisy_training_is_bit_identical_at_1_2_and_4_threads() {
    let arch = dueling_noisy();
    let one = train_bits_of(&arch, 1);
    assert_eq!(train_bits_of(&arch, 2), one, "2 threads differ from 1");
    assert_eq!(train_bits_of(&arch, 4), one, "4 threads differ from 1");
    // And the noise matters: the same run without it differs.
    let mut plain = arch.clone();
    plain.noisy = None;
    assert_ne!(train_bits_of(&plain, 1).1, one.1);
}

#[test]
fn dueling_single_rows_equal_batched_rows_and_noise_round_trips() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut net: Mlp<f32> = Mlp::build(&dueling_noisy(), &mut rng).unwrap();
    net.resample_noise(&mut rng);
    let inputs = Array2::from_shape_fn((9, 4), |_| rng.random_range(-1.0f32..1.0));
    let mut ws = Workspace::default();
    let batch = net.forward_batch(inputs.view(), &mut ws).unwrap().to_owned();
    let mut scratch = SingleScratch::default();
    for (row, expected) in inputs.rows().into_iter().zip(batch.rows()) {
        let single = net.forward_single(row.as_slice().unwrap(), &mut scratch).unwrap();
        assert_eq!(single, expected.as_slice().unwrap());
    }
    // The layout and σ survive serde; the noise is set apart.
    let mut back: Mlp<f32> = serde_json::from_str(&serde_json::to_string(&net).unwrap()).unwrap();
    assert_eq!(back.shape(), net.shape());
    assert!(back.noise().is_none());
    back.set_noise(net.noise().unwrap().clone()).unwrap();
    assert_eq!(back, net);
    // A sample for other layers is refused, naming the layer.
    let mut wrong = net.noise().unwrap().clone();
    wrong.layers[1].as_mut().unwrap().input.pop();
    let err = back.set_noise(wrong).unwrap_err();
    assert!(matches!(err, MlpError::InvalidNoise { .. }) && err.to_string().contains("value.0"), "{err}");
    let mut nan = net.noise().unwrap().clone();
    nan.layers[3].as_mut().unwrap().output[0] = f32::NAN;
    assert!(matches!(back.set_noise(nan), Err(MlpError::InvalidNoise { .. })));
    // Clearing the noise computes with the means: the same as the network read back.
    back.clear_noise();
    let mean = net.forward_batch(inputs.view(), &mut ws).unwrap().to_owned();
    let plain: Mlp<f32> = serde_json::from_str(&serde_json::to_string(&net).unwrap()).unwrap();
    assert_eq!(
        back.forward_batch(inputs.view(), &mut ws).unwrap(),
        plain.forward_batch(inputs.view(), &mut Workspace::default()).unwrap()
    );
    assert_ne!(back.forward_batch(inputs.view(), &mut ws).unwrap(), mean.view());
}

#[test]
fn single_and_batched_forward_agree_bit_for_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let net: Mlp<f32> = Mlp::new(&SIZES, &mut rng).unwrap();
    let inputs = Array2::from_shape_fn((37, 4), |_| rng.random_range(-1.0f32..1.0));
    let mut ws = Workspace::new(5).unwrap();
    let batch = net.forward_batch(inputs.view(), &mut ws).unwrap().to_owned();
    let mut scratch = SingleScratch::default();
    for (row, expected) in inputs.rows().into_iter().zip(batch.rows()) {
        let single = net.forward_single(row.as_slice().unwrap(), &mut scratch).unwrap();
        assert_eq!(single, expected.as_slice().unwrap());
    }
}

fn small_net(seed: u64) -> Mlp<f32> {
    Mlp::new(&[3, 6, 2], &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

proptest! {
    #[test]
    fn clamping_never_leaves_the_interval(values in prop::collection::vec(-1e6f32..1e6, 8), c in 1e-3f32..10.0) {
        let layer = LayerParams::plain(Array2::from_shape_vec((2, 3), values[..6].to_vec()).unwrap(), Array1::from(values[6..].to_vec()));
        let mut params = Params::from_layers(vec![layer]).unwrap();
        let before = params.clone();
        params.clamp_inplace(c);
        for ((_, after), (_, orig)) in params.named_tensors().zip(before.named_tensors()) {
            for (&a, &o) in after.iter().zip(orig.iter()) {
                prop_assert!((-c..=c).contains(&a));
                // Inside the interval nothing moves; outside, the nearest bound.
                prop_assert_eq!(a, o.clamp(-c, c));
            }
        }
    }

    #[test]
    fn zero_gradients_from_zero_moments_change_nothing(seed in any::<u64>(), lr in 1e-6f64..1.0, steps in 1usize..5) {
        let mut net = small_net(seed);
        let before = net.clone();
        let mut adam = Adam::new(&net, AdamConfig::new(lr)).unwrap();
        let zeros = Params::zeros(&net.sizes()).unwrap();
        for _ in 0..steps {
            adam.step(&mut net, &zeros).unwrap();
        }
        prop_assert_eq!(&net, &before);
        prop_assert_eq!(adam.steps(), steps as u64);
    }

    #[test]
    fn hard_copy_makes_outputs_equal_bit_for_bit(a in any::<u64>(), b in any::<u64>(), x in prop::collection::vec(-5f32..5.0, 3)) {
        let source = small_net(a);
        let mut copy = small_net(b);
        copy.copy_from(&source).unwrap();
        let (mut s1, mut s2) = (SingleScratch::default(), SingleScratch::default());
        let out_source = source.forward_single(&x, &mut s1).unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let out_copy = copy.forward_single(&x, &mut s2).unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(out_source, out_copy);
        prop_assert_eq!(&copy, &source);
    }
}

#[test]
fn soft_update_moves_by_tau() {
    let source = small_net(1);
    let start = small_net(2);
    let mut net = start.clone();
    net.soft_update_from(&source, 0.0).unwrap();
    assert_eq!(net, start, "tau = 0 keeps the target");
    net.soft_update_from(&source, 1.0).unwrap();
    assert_eq!(net, source, "tau = 1 copies");
    let mut half = start.clone();
    half.soft_update_from(&source, 0.25).unwrap();
    let (w0, ws, wh) =
        (&start.params().layers()[0].weight, &source.params().layers()[0].weight, &half.params().layers()[0].weight);
    assert_eq!(wh[[1, 2]], 0.25 * ws[[1, 2]] + 0.75 * w0[[1, 2]]);
    assert!(matches!(net.soft_update_from(&source, 1.5), Err(MlpError::InvalidHyperparameter { name: "tau", .. })));
}

#[test]
fn init_follows_pytorch_bounds() {
    // nn.Linear's default: U(−1/√fan_in, 1/√fan_in) for weights and biases.
    let net: Mlp<f32> = Mlp::new(&SIZES, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
    for (l, layer) in net.params().layers().iter().enumerate() {
        let bound = 1.0 / (SIZES[l] as f32).sqrt();
        let values: Vec<f32> = layer.weight.iter().chain(layer.bias.iter()).copied().collect();
        assert!(values.iter().all(|v| v.abs() <= bound), "layer {l}");
        // Spread over the whole interval, not a corner of it.
        let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.9 * bound, "layer {l}: max {max} of bound {bound}");
    }
    let names: Vec<String> = net.params().named_tensors().map(|(n, t)| format!("{n}{:?}", t.shape())).collect();
    assert_eq!(
        names,
        [
            "fc1.weight[128, 4]",
            "fc1.bias[128]",
            "fc2.weight[128, 128]",
            "fc2.bias[128]",
            "fc3.weight[2, 128]",
            "fc3.bias[2]"
        ]
    );
}

#[test]
fn network_and_optimizer_state_round_trip_through_serde() {
    let mut net = small_net(3);
    let mut adam = Adam::new(&net, AdamConfig::new(1e-2)).unwrap();
    let grads = Params::from_layers(net.params().layers().to_vec()).unwrap();
    adam.step(&mut net, &grads).unwrap();
    let net_back: Mlp<f32> = serde_json::from_str(&serde_json::to_string(&net).unwrap()).unwrap();
    let adam_back: Adam<f32> = serde_json::from_str(&serde_json::to_string(&adam).unwrap()).unwrap();
    assert_eq!(net_back, net);
    assert_eq!(adam_back, adam);
    // A serialized network with inconsistent shapes is refused, not loaded.
    let bad = r#"{"layout":"Sequential","layers":[{"weight":{"v":1,"dim":[2,3],"data":[0,0,0,0,0,0]},"bias":{"v":1,"dim":[3],"data":[0,0,0]},"sigma":null}]}"#;
    let err = serde_json::from_str::<Mlp<f32>>(bad).unwrap_err().to_string();
    assert!(err.contains("fc1.bias has shape [3], expected [2]"), "{err}");
}

#[test]
fn bad_input_is_an_error_naming_it() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(Mlp::<f32>::new(&[4], &mut rng).unwrap_err(), MlpError::TooFewSizes { got: 1 });
    assert_eq!(Mlp::<f32>::new(&[4, 0, 2], &mut rng).unwrap_err(), MlpError::ZeroSize { index: 1 });
    assert!(Workspace::<f32>::new(0).is_err());

    let net = small_net(0);
    let mut ws = Workspace::default();
    let mut grads = Params::zeros(&net.sizes()).unwrap();
    let inputs = arr2(&[[0.1f32, 0.2, 0.3], [0.0, 0.0, 1.0]]);
    let err = net.forward_batch(arr2(&[[1.0f32, 2.0]]).view(), &mut ws).unwrap_err();
    assert_eq!(err.to_string(), "input rows have width 2, the network takes 3");
    assert_eq!(
        net.forward_single(&[1.0], &mut SingleScratch::default()).unwrap_err(),
        MlpError::InputWidth { expected: 3, got: 1 }
    );
    assert_eq!(net.forward_batch(Array2::<f32>::zeros((0, 3)).view(), &mut ws).unwrap_err(), MlpError::EmptyBatch);

    let targets = [1.0f32, 2.0];
    let cases: [(&[usize], &[f32], MlpError); 4] = [
        (&[0], &targets, MlpError::RowCount { what: Operand::Actions, expected: 2, got: 1 }),
        (&[0, 1], &targets[..1], MlpError::RowCount { what: Operand::Targets, expected: 2, got: 1 }),
        (&[0, 2], &targets, MlpError::ActionOutOfRange { row: 1, action: 2, n_outputs: 2 }),
        (&[0, 1], &[1.0, f32::NAN], MlpError::NonFinite { what: Operand::Targets, index: 1 }),
    ];
    for (actions, targets, expected) in cases {
        let loss = GatheredLoss { kind: LossKind::Mse, actions, targets, weights: None };
        assert_eq!(
            net.gradients(inputs.view(), &loss, None, &mut ws, &mut grads, None).map(|(value, _)| value).unwrap_err(),
            expected
        );
    }
    let loss = GatheredLoss { kind: LossKind::Mse, actions: &[0, 1], targets: &targets, weights: None };
    let nan_inputs = arr2(&[[0.1f32, f32::INFINITY, 0.3], [0.0, 0.0, 1.0]]);
    assert_eq!(
        net.gradients(nan_inputs.view(), &loss, None, &mut ws, &mut grads, None).map(|(value, _)| value).unwrap_err(),
        MlpError::NonFinite { what: Operand::Inputs, index: 1 }
    );
    let mut wrong_grads = Params::zeros(&[3, 5, 2]).unwrap();
    assert!(matches!(
        net.gradients(inputs.view(), &loss, None, &mut ws, &mut wrong_grads, None).map(|(value, _)| value),
        Err(MlpError::ShapeMismatch { .. })
    ));
    let huber =
        GatheredLoss { kind: LossKind::Huber { delta: 0.0 }, actions: &[0, 1], targets: &targets, weights: None };
    assert!(matches!(
        net.gradients(inputs.view(), &huber, None, &mut ws, &mut grads, None).map(|(value, _)| value),
        Err(MlpError::InvalidHyperparameter { .. })
    ));

    // Adam: bad hyperparameters, wrong shapes, a NaN gradient (nothing changes).
    assert!(Adam::new(&net, AdamConfig::new(0.0)).is_err());
    assert!(Adam::new(&net, AdamConfig { beta2: 1.0, ..AdamConfig::new(1e-3) }).is_err());
    let mut trained = net.clone();
    let mut adam = Adam::new(&trained, AdamConfig::new(1e-3)).unwrap();
    let mut nan_grads = Params::zeros(&net.sizes()).unwrap();
    nan_grads.clamp_inplace(1.0);
    let mut layers = nan_grads.layers().to_vec();
    layers[1].bias[1] = f32::NAN;
    let nan_grads = Params::from_layers(layers).unwrap();
    assert_eq!(
        adam.step(&mut trained, &nan_grads).unwrap_err(),
        MlpError::NonFinite { what: Operand::Tensor("fc2.bias".into()), index: 1 }
    );
    assert_eq!((trained, adam.steps()), (net.clone(), 0));
    let mut other = small_net(1);
    other.copy_from(&net).unwrap();
    let mut bigger: Mlp<f32> = Mlp::new(&[3, 7, 2], &mut rng).unwrap();
    assert!(matches!(bigger.copy_from(&net), Err(MlpError::ShapeMismatch { .. })));
}

/// Adam rewrites the kernels' copies of the weights block by block as it
/// updates them; they must equal copies made afresh from the parameters
/// (`Mlp`'s equality compares the copies too), at 1 and 2 threads.
#[test]
fn adam_leaves_the_kernel_copies_consistent() {
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(8);
            // Odd sizes: panels and blocks with ragged ends.
            let mut arch = Architecture::sequential(&[5, 70, 130, 3]);
            let mut net: Mlp<f32> = Mlp::new(&[5, 70, 130, 3], &mut rng).unwrap();
            if threads == 2 {
                // Noisy layers refresh their copies apart from the others.
                arch.noisy = Some(NoisyInit { layers: NoisyLayers::All, sigma0: 0.5 });
                net = Mlp::build(&arch, &mut rng).unwrap();
            }
            let mut adam = Adam::new(&net, AdamConfig::new(1e-2)).unwrap();
            let mut grads = net.params().zeros_like();
            let mut ws = Workspace::default();
            for _ in 0..3 {
                net.resample_noise(&mut rng);
                let inputs = Array2::from_shape_fn((40, 5), |_| rng.random_range(-1.0f32..1.0));
                let actions: Vec<usize> = (0..40).map(|_| rng.random_range(0..3)).collect();
                let targets: Vec<f32> = (0..40).map(|_| rng.random_range(0.0f32..2.0)).collect();
                let loss = GatheredLoss { kind: LossKind::Mse, actions: &actions, targets: &targets, weights: None };
                net.gradients(inputs.view(), &loss, None, &mut ws, &mut grads, None).map(|(value, _)| value).unwrap();
                adam.step(&mut net, &grads).unwrap();
                let mut fresh = Mlp::from_params(net.params().clone()).unwrap();
                if let Some(noise) = net.noise() {
                    fresh.set_noise(noise.clone()).unwrap();
                }
                assert_eq!(net, fresh, "{threads} threads");
            }
        });
    }
}

/// The fused path (sum the chunks, clamp and check in one pass) gives the
/// same bits as summing, then `clamp_inplace`, then checking; and it refuses
/// exactly the gradients the separate check refuses.
#[test]
fn clamped_gradients_equal_the_separate_steps_and_refuse_the_same_values() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for (scale, clip) in [(1.0f32, Some(0.01f32)), (1.0, None), (3.0e12, Some(1.0)), (3.0e12, None)] {
        let mut net: Mlp<f32> = Mlp::new(&SIZES, &mut rng).unwrap();
        if scale != 1.0 {
            // Enormous weights: activations overflow, gradients go ±∞ or NaN.
            let layers = net
                .params()
                .layers()
                .iter()
                .map(|l| LayerParams::plain(l.weight.mapv(|w| w * scale), l.bias.clone()))
                .collect();
            net = Mlp::from_params(Params::from_layers(layers).unwrap()).unwrap();
        }
        let inputs = Array2::from_shape_fn((70, 4), |_| rng.random_range(-1.0f32..1.0));
        let actions: Vec<usize> = (0..70).map(|_| rng.random_range(0..2)).collect();
        let targets: Vec<f32> = (0..70).map(|_| rng.random_range(0.0f32..2.0)).collect();
        let loss = GatheredLoss { kind: LossKind::Mse, actions: &actions, targets: &targets, weights: None };
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut ws = Workspace::new(16).unwrap();
                let mut separate = Params::zeros(&SIZES).unwrap();
                // Unclamped: an error for the huge net, but the summed
                // gradients are in `separate` either way (the check comes
                // after the sum).
                let value = net.gradients(inputs.view(), &loss, None, &mut ws, &mut separate, None).map(|(v, _)| v);
                if let Some(c) = clip {
                    separate.clamp_inplace(c);
                }
                let expected = mlp::FiniteGradients::check(&separate).map(|_| ());
                if scale != 1.0 && clip.is_none() {
                    assert!(expected.is_err(), "the huge net must give non-finite gradients");
                }
                let mut fused = Params::zeros(&SIZES).unwrap();
                match net.gradients(inputs.view(), &loss, None, &mut ws, &mut fused, clip) {
                    Ok((fused_value, _)) => {
                        assert!(expected.is_ok(), "scale {scale}: fused accepted what the check refuses");
                        if let Ok(value) = value {
                            assert_eq!(fused_value.to_bits(), value.to_bits());
                        }
                    }
                    Err(e) => assert_eq!(Err(e), expected, "scale {scale}, clip {clip:?}"),
                }
                let bits = |p: &Params<f32>| -> Vec<u32> {
                    p.named_tensors().flat_map(|(_, t)| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect()
                };
                assert_eq!(bits(&fused), bits(&separate), "scale {scale}, clip {clip:?}, {threads} threads");
            });
        }
    }
}

/// A DQN-like row loss: its target from the side networks' outputs on the
/// row's next input (a bootstrap net, and the trained net for a Double-DQN
/// like choice), by a made-up rule that uses both outputs, so a mix-up of
/// rows or nets shows; no target for `missing`.
struct RuleLoss<'a> {
    actions: &'a [usize],
    rewards: &'a [f32],
    missing: Option<usize>,
}

impl RuleLoss<'_> {
    fn target(&self, r: usize, q: &[f32], own: Option<&[f32]>) -> Option<f32> {
        let pick = own.map_or(1, |o| usize::from(o[1] > o[0]));
        (Some(r) != self.missing).then(|| self.rewards[r] + 0.9 * q[pick])
    }
}

impl RowLoss<f32> for RuleLoss<'_> {
    fn row(&self, r: usize, outputs: &[f32], side: &[&[f32]], grad: &mut [f32]) -> Option<RowTerm<f32>> {
        let y = self.target(r, side[0], side.get(1).copied())?;
        Some(gathered_term(LossKind::Huber { delta: 1.0 }, outputs, self.actions[r], y, None, grad))
    }
}

/// Targets formed inside the pass from side networks give the same bits as
/// computing them first (a separate forward pass) and using
/// `GatheredLoss`, with and without the trained net's own next-state
/// outputs (Double DQN); a row without a target is an error naming it.
#[test]
fn targets_formed_inside_the_pass_equal_targets_computed_first() {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let net: Mlp<f32> = Mlp::new(&SIZES, &mut rng).unwrap();
    let bootstrap: Mlp<f32> = Mlp::new(&SIZES, &mut rng).unwrap();
    let rows = 50;
    let inputs = Array2::from_shape_fn((rows, 4), |_| rng.random_range(-1.0f32..1.0));
    let next = Array2::from_shape_fn((rows, 4), |_| rng.random_range(-1.0f32..1.0));
    let actions: Vec<usize> = (0..rows).map(|_| rng.random_range(0..2)).collect();
    let rewards: Vec<f32> = (0..rows).map(|r| r as f32 * 0.1).collect();
    let rule = RuleLoss { actions: &actions, rewards: &rewards, missing: None };
    let bits = |p: &Params<f32>| -> Vec<u32> {
        p.named_tensors().flat_map(|(_, t)| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect()
    };
    for own_on_next in [false, true] {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut ws = Workspace::new(16).unwrap();
                let q_next = bootstrap.forward_batch(next.view(), &mut ws).unwrap().to_owned();
                let q_own = net.forward_batch(next.view(), &mut ws).unwrap().to_owned();
                let targets: Vec<f32> = (0..rows)
                    .map(|r| {
                        let own = own_on_next.then(|| q_own.row(r).to_vec());
                        rule.target(r, q_next.row(r).as_slice().unwrap(), own.as_deref()).unwrap()
                    })
                    .collect();
                let gathered = GatheredLoss {
                    kind: LossKind::Huber { delta: 1.0 },
                    actions: &actions,
                    targets: &targets,
                    weights: None,
                };
                let mut first = Params::zeros(&SIZES).unwrap();
                let (v1, _) = net.gradients(inputs.view(), &gathered, None, &mut ws, &mut first, Some(0.5)).unwrap();
                let both = [&bootstrap, &net];
                let side = SideNets { nets: &both[..if own_on_next { 2 } else { 1 }], next_inputs: next.view().into() };
                let mut inside = Params::zeros(&SIZES).unwrap();
                let (v2, _) = net.gradients(inputs.view(), &rule, Some(side), &mut ws, &mut inside, Some(0.5)).unwrap();
                assert_eq!(v2.to_bits(), v1.to_bits());
                assert_eq!(bits(&inside), bits(&first), "own_on_next {own_on_next}, {threads} threads");
                assert_eq!(ws.row_values().len(), rows);
            });
        }
    }
    let no_target_for_row_37 = RuleLoss { missing: Some(37), ..rule };
    let side = SideNets { nets: &[&bootstrap], next_inputs: next.view().into() };
    let mut grads = Params::zeros(&SIZES).unwrap();
    let mut ws = Workspace::new(16).unwrap();
    let err = net.gradients(inputs.view(), &no_target_for_row_37, Some(side), &mut ws, &mut grads, None).unwrap_err();
    assert_eq!(err, MlpError::NonFinite { what: Operand::Targets, index: 37 });
    let short = SideNets { next_inputs: next.slice(ndarray::s![..10, ..]).into(), ..side };
    let err = net.gradients(inputs.view(), &rule, Some(short), &mut ws, &mut grads, None).unwrap_err();
    assert!(matches!(err, MlpError::RowCount { what: Operand::NextInputs, expected: 50, got: 10 }), "{err}");
    let three = SideNets { nets: &[&bootstrap, &net, &bootstrap], ..side };
    assert!(net.gradients(inputs.view(), &rule, Some(three), &mut ws, &mut grads, None).is_err());
}
