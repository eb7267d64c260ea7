//! The distributional (C51) loss and its gradients against PyTorch: every
//! case in `tests/golden_c51_update/` (written by
//! `tests/generate_c51_golden.py`, format in its docstring), at the MLP
//! update tolerances of `shared/golden-format.md`.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use agent::BatchRows;
use agent::c51::{C51Loss, Support};
use mlp::{Adam, AdamConfig, LayerParams, Mlp, Params, SideNets, Workspace};
use ndarray::{Array1, Array2};
use serde::Deserialize;
use std::collections::BTreeMap;

mod common;
use common::{F32s, json_files};

#[derive(Deserialize)]
struct Case {
    name: String,
    n_actions: usize,
    n_atoms: usize,
    v_min: f64,
    v_max: f64,
    double_dqn: bool,
    policy_init: BTreeMap<String, F32s>,
    target: BTreeMap<String, F32s>,
    batch: Batch,
    forward: BTreeMap<String, F32s>,
    grads: BTreeMap<String, F32s>,
    after_adam_step: AdamStep,
}

#[derive(Deserialize)]
struct AdamStep {
    lr: f64,
    params: BTreeMap<String, F32s>,
}

#[derive(Deserialize)]
struct Batch {
    states: F32s,
    actions: Vec<usize>,
    rewards: F32s,
    next_states: F32s,
    dones: F32s,
    discounts: F32s,
    weights: Option<F32s>,
}

fn net(dict: &BTreeMap<String, F32s>) -> Mlp<f32> {
    let layers = (1..=3)
        .map(|k| {
            let w = &dict[&format!("fc{k}.weight")];
            let shape = w.shape.as_ref().unwrap();
            LayerParams::plain(
                Array2::from_shape_vec((shape[0], shape[1]), w.values()).unwrap(),
                Array1::from(dict[&format!("fc{k}.bias")].values()),
            )
        })
        .collect();
    Mlp::from_params(Params::from_layers(layers).unwrap()).unwrap()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], (rtol, atol): (f32, f32)) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rtol * w.abs() + atol, "{what}[{i}]: {g} vs PyTorch {w}");
    }
}

#[test]
fn every_c51_update_case_matches_pytorch() {
    let files = json_files("golden_c51_update");
    assert!(files.len() >= 3, "{} cases", files.len());
    for path in files {
        let case: Case = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let what = case.name.as_str();
        let (policy, target) = (net(&case.policy_init), net(&case.target));
        let b = &case.batch;
        let rows = b.actions.len();
        let states = Array2::from_shape_vec((rows, 4), b.states.values()).unwrap();
        let next = Array2::from_shape_vec((rows, 4), b.next_states.values()).unwrap();
        // Row r's discount as table entry r.
        let steps: Vec<u8> = (0..rows).map(|r| u8::try_from(r).unwrap()).collect();
        let (rewards, discounts, weights) =
            (b.rewards.values(), b.discounts.values(), b.weights.as_ref().map(F32s::values));
        let terminated: Vec<bool> = b.dones.values().iter().map(|&d| d == 1.0).collect();
        let rows = BatchRows {
            actions: &b.actions,
            rewards: &rewards,
            terminated: &terminated,
            steps: &steps,
            discounts: &discounts,
            weights: weights.as_deref(),
        };
        let support = Support::new(case.v_min, case.v_max, case.n_atoms).unwrap();
        let loss = C51Loss { support, n_actions: case.n_actions, rows };
        let both = [&target, &policy];
        let side = SideNets { nets: &both[..if case.double_dqn { 2 } else { 1 }], next_inputs: next.view().into() };
        let mut grads = Params::zeros(&policy.sizes()).unwrap();
        let mut ws = Workspace::new(16).unwrap();
        let (value, _) = policy.gradients(states.view(), &loss, Some(side), &mut ws, &mut grads, None).unwrap();
        assert_close(&format!("{what} loss"), &[value], &case.forward["loss"].values(), (1e-5, 1e-6));
        assert_close(&format!("{what} row_loss"), ws.row_values(), &case.forward["row_loss"].values(), (1e-5, 1e-6));
        for (name, tensor) in grads.named_tensors() {
            let got: Vec<f32> = tensor.iter().copied().collect();
            assert_close(&format!("{what} grad {name}"), &got, &case.grads[&name].values(), (1e-4, 1e-6));
        }
        // One Adam step on our gradients. Where PyTorch's gradient is below
        // the gradient tolerance's atol, the first step `lr·g/(|g| + ε)` is
        // not determined by the reference (any sign, up to lr): only its size
        // is checked there.
        let mut stepped = policy.clone();
        let mut adam = Adam::new(&stepped, AdamConfig::new(case.after_adam_step.lr)).unwrap();
        adam.step(&mut stepped, &grads).unwrap();
        let lr = case.after_adam_step.lr as f32;
        let mut determined = 0;
        for ((name, after), (_, start)) in stepped.params().named_tensors().zip(policy.params().named_tensors()) {
            let want = case.after_adam_step.params[&name].values();
            let torch_grad = case.grads[&name].values();
            for (i, ((&a, &s0), (&w, &g))) in
                after.iter().zip(start.iter()).zip(want.iter().zip(&torch_grad)).enumerate()
            {
                if g.abs() > 1e-6 {
                    assert!(
                        (a - w).abs() <= 1e-5 * w.abs() + 1e-6,
                        "{what} {name}[{i}] after Adam: {a} vs PyTorch {w}"
                    );
                    determined += 1;
                } else {
                    assert!((a - s0).abs() <= 1.01 * lr, "{what} {name}[{i}]: a step larger than lr");
                }
            }
        }
        assert!(determined * 2 > policy.params().len(), "{what}: {determined} parameters determined");
    }
}
