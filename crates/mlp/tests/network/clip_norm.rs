//! `Params::clip_norm`, PyTorch's `clip_grad_norm_`: hand-worked cases (the
//! norm of all the values together, a scale of `max / (norm + 1e-6)` only
//! when that is below 1, a NaN left in place) and every case PyTorch wrote
//! in `tests/golden_clip_norm/` (`tests/generate_clip_norm_golden.py`).

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use mlp::{LayerParams, Params};
use ndarray::{Array1, array};
use serde::Deserialize;

use crate::common::{Tensor, json_files};

#[derive(Deserialize)]
struct Case {
    name: String,
    sizes: Vec<usize>,
    max_norm: f32,
    total_norm: Tensor,
    grads: BTreeMap<String, Tensor>,
    clipped: BTreeMap<String, Tensor>,
}

/// The gradients of `case` as the chain of linear layers they belong to.
fn params(case: &Case, tensors: &BTreeMap<String, Tensor>) -> Params<f32> {
    let layers = (1..case.sizes.len())
        .map(|k| {
            let weight = tensors[&format!("fc{k}.weight")].matrix();
            let bias = Array1::from(tensors[&format!("fc{k}.bias")].values());
            LayerParams::plain(weight, bias)
        })
        .collect();
    Params::from_layers(layers).unwrap()
}

#[test]
fn equals_pytorchs_clip_grad_norm_on_every_golden_case() {
    for file in json_files("golden_clip_norm") {
        let case: Case = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let mut grads = params(&case, &case.grads);
        let norm = grads.clip_norm(case.max_norm);
        let torch_norm = f64::from(case.total_norm.values()[0]);
        assert!((norm - torch_norm).abs() <= 1e-6 * torch_norm, "{}: norm {norm} vs torch {torch_norm}", case.name);
        let expected = params(&case, &case.clipped);
        let names = expected.tensor_names().collect::<Vec<_>>();
        for ((name, ours), theirs) in names.iter().zip(grads.tensors()).zip(expected.tensors()) {
            for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
                let tolerance = 1e-6 * b.abs() + 1e-9;
                assert!((a - b).abs() <= tolerance, "{}: {name}[{i}] = {a}, torch {b}", case.name);
            }
        }
        // Either side of the limit occurs among the cases.
        let scaled = torch_norm > f64::from(case.max_norm);
        assert_eq!(grads == params(&case, &case.grads), !scaled, "{}", case.name);
    }
}

/// One layer: weight [[3, 0], [0, 0]], bias [4, 0] — all values together
/// have norm 5 (a 3-4-5 triangle split across two tensors).
fn grads() -> Params<f64> {
    Params::from_layers(vec![LayerParams::plain(array![[3.0, 0.0], [0.0, 0.0]], Array1::from(vec![4.0, 0.0]))]).unwrap()
}

fn values(p: &Params<f64>) -> Vec<f64> {
    p.tensors().flatten().copied().collect()
}

#[test]
fn a_norm_above_the_limit_is_scaled_to_it() {
    let mut g = grads();
    let norm = g.clip_norm(1.0);
    assert_eq!(norm, 5.0);
    let c = 1.0 / (5.0 + 1e-6);
    assert_eq!(values(&g), vec![3.0 * c, 0.0, 0.0, 0.0, 4.0 * c, 0.0]);
    // The new norm is the limit, less PyTorch's 1e-6 margin.
    let after: f64 = values(&g).iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((after - 1.0).abs() < 1e-6 && after < 1.0);
}

#[test]
fn a_norm_within_the_limit_is_left_alone() {
    let mut g = grads();
    assert_eq!(g.clip_norm(5.0), 5.0); // 5 / (5 + 1e-6) < 1: scaled, barely
    let mut g2 = grads();
    assert_eq!(g2.clip_norm(10.0), 5.0);
    assert_eq!(values(&g2), values(&grads()));
    assert!(values(&g)[0] < 3.0);
}

#[test]
fn a_nan_is_kept_for_the_finite_check() {
    let mut g = grads();
    g.tensors_mut().next().unwrap()[1] = f64::NAN;
    assert!(g.clip_norm(1.0).is_nan());
    assert!(values(&g)[1].is_nan());
    assert_eq!(values(&g)[0], 3.0);
}
