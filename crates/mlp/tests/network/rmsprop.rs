//! `RmsProp` equal to PyTorch's `torch.optim.RMSprop` (momentum 0), centered
//! and not, on every case in `tests/golden_rmsprop/` (written by
//! `tests/generate_rmsprop_golden.py`, Young & Tian's settings among them):
//! the parameters and both averages after steps 1 and 5 of given gradients.
//! And its state read back through its checks.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use mlp::{LayerParams, Mlp, Params, RmsProp, RmsPropConfig};
use ndarray::Array1;
use serde::Deserialize;

use crate::common::{Tensor, json_files};

type StateDict = BTreeMap<String, Tensor>;

#[derive(Deserialize)]
struct Optimizer {
    lr: f64,
    alpha: f64,
    eps: f64,
    centered: bool,
}

#[derive(Deserialize)]
struct After {
    params: StateDict,
    square_avg: StateDict,
    grad_avg: Option<StateDict>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    sizes: Vec<usize>,
    optimizer: Optimizer,
    params_init: StateDict,
    grads: Vec<StateDict>,
    after_step: BTreeMap<String, After>,
}

fn params(sizes: &[usize], d: &StateDict) -> Params<f32> {
    let layers = (1..sizes.len())
        .map(|k| {
            LayerParams::plain(d[&format!("fc{k}.weight")].matrix(), Array1::from(d[&format!("fc{k}.bias")].values()))
        })
        .collect();
    Params::from_layers(layers).unwrap()
}

fn close(what: &str, ours: &Params<f32>, theirs: &Params<f32>) {
    for ((name, a), b) in ours.tensor_names().zip(ours.tensors()).zip(theirs.tensors()) {
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * y.abs() + 1e-6, "{what} {name}[{i}]: {x} vs torch {y}");
        }
    }
}

#[test]
fn equals_pytorchs_rmsprop_on_every_golden_case() {
    for file in json_files("golden_rmsprop") {
        let case: Case = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let o = &case.optimizer;
        let config = RmsPropConfig { lr: o.lr, alpha: o.alpha, eps: o.eps, centered: o.centered };
        let mut net = Mlp::from_params(params(&case.sizes, &case.params_init)).unwrap();
        let mut opt = RmsProp::new(&net, config).unwrap();
        for (k, grads) in case.grads.iter().enumerate() {
            opt.step(&mut net, &params(&case.sizes, grads)).unwrap();
            let Some(after) = case.after_step.get(&(k + 1).to_string()) else { continue };
            let at = format!("{} step {}", case.name, k + 1);
            close(&format!("{at} params"), net.params(), &params(&case.sizes, &after.params));
            close(&format!("{at} square_avg"), opt.square_avg(), &params(&case.sizes, &after.square_avg));
            if let Some(g) = &after.grad_avg {
                close(&format!("{at} grad_avg"), opt.grad_avg(), &params(&case.sizes, g));
            }
        }
        assert_eq!(opt.steps(), 5);
    }
}

#[test]
fn its_state_round_trips_and_a_bad_one_is_refused() {
    let mut net = Mlp::from_params(params(&[2, 3, 1], &{
        let t = |shape: Vec<usize>, v: f32| Tensor::filled(shape, v);
        BTreeMap::from([
            ("fc1.weight".into(), t(vec![3, 2], 0.5)),
            ("fc1.bias".into(), t(vec![3], 0.1)),
            ("fc2.weight".into(), t(vec![1, 3], -0.2)),
            ("fc2.bias".into(), t(vec![1], 0.0)),
        ])
    }))
    .unwrap();
    let mut opt = RmsProp::new(&net, RmsPropConfig { centered: true, ..RmsPropConfig::new(0.01) }).unwrap();
    let mut grads = net.params().zeros_like();
    grads.tensors_mut().for_each(|t| t.fill(0.3));
    opt.step(&mut net, &grads).unwrap();
    let text = serde_json::to_string(&opt).unwrap();
    let back: RmsProp<f32> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, opt);
    // A negative square average cannot come from any run.
    // The first 0.0009 of the text is a square average's.
    let bad = text.replacen("0.00090000004", "-0.00090000004", 1);
    assert_ne!(bad, text, "the edit applies");
    assert!(serde_json::from_str::<RmsProp<f32>>(&bad).is_err());
    assert!(RmsProp::new(&net, RmsPropConfig { alpha: 1.0, ..RmsPropConfig::new(0.01) }).is_err());
}
