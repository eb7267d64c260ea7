//! Dueling heads and noisy layers against PyTorch, on every case in
//! `tests/golden_heads/*.json` (written by `tests/generate_heads_golden.py`,
//! which documents the format; numbers and tolerances as in
//! `shared/golden-format.md`'s MLP section): the outputs under a given
//! noise sample and on the mean weights, the loss, every gradient (σ's
//! included), and the parameters after 1 and 2 clamped Adam steps.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use mlp::{
    Adam, AdamConfig, Architecture, GatheredLoss, LayerNoise, LayerParams, LossKind, Mlp, Noise, NoiseScales, Params,
    TensorKind, Workspace,
};
use ndarray::{Array1, Array2, ArrayView2};
use serde::Deserialize;

use crate::common::{Tensor, json_files};

type StateDict = BTreeMap<String, Tensor>;

#[derive(Deserialize)]
struct Case {
    name: String,
    architecture: Architecture,
    params_init: StateDict,
    noise: Vec<Option<NoiseCase>>,
    batch: Batch,
    forward: BTreeMap<String, Tensor>,
    grads: StateDict,
    adam: AdamCase,
}

#[derive(Deserialize)]
struct NoiseCase {
    input: Tensor,
    output: Tensor,
}

#[derive(Deserialize)]
struct Batch {
    inputs: Tensor,
    actions: Vec<usize>,
    targets: Tensor,
}

#[derive(Deserialize)]
struct AdamCase {
    lr: f64,
    betas: [f64; 2],
    eps: f64,
    after_step: BTreeMap<String, AfterStep>,
}

#[derive(Deserialize)]
struct AfterStep {
    params: StateDict,
}

/// The format's tolerance pairs (rtol, atol).
const FORWARD: (f32, f32) = (1e-5, 1e-6);
const GRADS: (f32, f32) = (1e-4, 1e-6);
const PARAMS: (f32, f32) = (1e-5, 1e-6);

fn assert_close(what: &str, got: &[f32], expected: &[f32], (rtol, atol): (f32, f32)) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= rtol * e.abs() + atol, "{what}[{i}]: got {g:e}, PyTorch {e:e}");
    }
}

/// The network's parameters from a state dict, by the names its layout gives.
fn params_from(arch: &Architecture, sd: &StateDict) -> Params<f32> {
    let shape = arch.shape().unwrap();
    let layout = shape.layout;
    let layers = shape
        .layers
        .iter()
        .enumerate()
        .map(|(l, s)| {
            let get = |kind| sd[&layout.tensor_name(l, kind, s.noisy)].values();
            let matrix = |v| Array2::from_shape_vec((s.outputs, s.inputs), v).unwrap();
            let sigma = s.noisy.then(|| NoiseScales {
                weight: matrix(get(TensorKind::WeightSigma)),
                bias: Array1::from(get(TensorKind::BiasSigma)),
            });
            LayerParams {
                weight: matrix(get(TensorKind::Weight)),
                bias: Array1::from(get(TensorKind::Bias)),
                sigma,
                kind: mlp::LayerKind::Linear,
            }
        })
        .collect();
    Params::from_layers_with(layout, layers).unwrap()
}

fn assert_params_close(what: &str, got: &Params<f32>, expected: &StateDict, tol: (f32, f32)) {
    assert_eq!(got.tensor_names().count(), expected.len(), "{what}: tensor count");
    for (name, values) in got.tensor_names().zip(got.tensors()) {
        let e = expected.get(&name).unwrap_or_else(|| panic!("{what}: PyTorch has no {name}"));
        assert_close(&format!("{what} {name}"), values, &e.values(), tol);
    }
}

fn check(case: &Case) {
    let name = &case.name;
    let arch = &case.architecture;
    let mut net = Mlp::from_params(params_from(arch, &case.params_init)).unwrap();
    let noise = Noise {
        layers: case
            .noise
            .iter()
            .map(|n| n.as_ref().map(|n| LayerNoise { input: n.input.values(), output: n.output.values() }))
            .collect(),
    };
    let b = case.batch.actions.len();
    let inputs = case.batch.inputs.values();
    assert_eq!(case.batch.inputs.shape, [b, arch.inputs]);
    let inputs = ArrayView2::from_shape((b, arch.inputs), &inputs).unwrap();
    let targets = case.batch.targets.values();
    let loss = GatheredLoss { kind: LossKind::Mse, actions: &case.batch.actions, targets: &targets, weights: None };
    let mut ws = Workspace::default();

    // On the mean weights (before any noise is set), then under the noise.
    let mean = net.forward_batch(inputs, &mut ws).unwrap().iter().copied().collect::<Vec<_>>();
    assert_close(&format!("{name} mean outputs"), &mean, &case.forward["mean_outputs"].values(), FORWARD);
    if net.is_noisy() {
        net.set_noise(noise.clone()).unwrap();
    }
    let outputs = net.forward_batch(inputs, &mut ws).unwrap().iter().copied().collect::<Vec<_>>();
    assert_close(&format!("{name} outputs"), &outputs, &case.forward["outputs"].values(), FORWARD);

    let mut grads = net.params().zeros_like();
    let (value, _) = net.gradients(inputs, &loss, None, &mut ws, &mut grads, None).unwrap();
    assert_close(&format!("{name} loss"), &[value], &case.forward["loss"].values(), FORWARD);
    assert_params_close(&format!("{name} gradient"), &grads, &case.grads, GRADS);

    let config =
        AdamConfig { lr: case.adam.lr, beta1: case.adam.betas[0], beta2: case.adam.betas[1], eps: case.adam.eps };
    let mut adam = Adam::new(&net, config).unwrap();
    for step in 1..=2 {
        let (_, finite) = net.gradients(inputs, &loss, None, &mut ws, &mut grads, Some(1.0)).unwrap();
        adam.step_finite(&mut net, finite).unwrap();
        let expected = &case.adam.after_step[&step.to_string()].params;
        assert_params_close(&format!("{name} after Adam step {step}"), net.params(), expected, PARAMS);
    }
}

#[test]
fn every_heads_case_matches_pytorch() {
    let files = json_files("golden_heads");
    assert!(files.len() >= 5, "the committed cases are there: {files:?}");
    let (mut dueling, mut noisy) = (0, 0);
    for file in &files {
        let case: Case = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        check(&case);
        dueling += usize::from(case.architecture.dueling.is_some());
        noisy += usize::from(case.architecture.noisy.is_some());
    }
    assert!(dueling >= 2 && noisy >= 2, "{dueling} dueling and {noisy} noisy cases");
}
