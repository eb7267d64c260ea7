//! Convolutional Q-networks equal to PyTorch: every case in
//! `tests/golden_conv_net/` (written by `tests/generate_conv_net_golden.py`,
//! the golden format's "Convolutional Q-network / DQN update": Young &
//! Tian's and Dopamine's MinAtar networks on real MinAtar states, the
//! Nature geometry on 84×84 frames, an odd geometry), its u8 batch scaled
//! on the way in: the outputs, the targets, the loss, its gradients, and
//! five Adam or RMSprop steps. Then the same weights bit for bit at 1, 2
//! and 4 threads, one row alone equal to that row in a batch, and a batch
//! of bytes read through a table equal to the batch of its values.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use mlp::{
    Adam, AdamConfig, Architecture, ConvLayer, ConvTrunk, DuelingStreams, GatheredLoss, Inputs, LossKind, Mlp,
    MlpError, Operand, Params, RmsProp, RmsPropConfig, SideNets, SingleScratch, Workspace,
};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::common::{ByteTensor, Tensor, json_files};

type StateDict = BTreeMap<String, Tensor>;

/// One optimizer step on a network from its gradients.
type Step = dyn FnMut(&mut Mlp<f32>, &Params<f32>);

/// The golden format's tolerances: (rtol, atol).
const FORWARD: (f32, f32) = (1e-5, 1e-6);
const GRADS: (f32, f32) = (1e-4, 1e-6);
const PARAMS: (f32, f32) = (1e-5, 1e-6);
const LOSS_BEFORE: (f32, f32) = (1e-4, 1e-6);

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum LayerSpec {
    Conv { out_channels: usize, kernel: usize, stride: usize, padding: usize },
    Flatten,
    Linear { out: usize },
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Loss {
    Huber { delta: f64 },
    Mse,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Optimizer {
    Adam { lr: f64, betas: [f64; 2], eps: f64 },
    Rmsprop { centered: bool, lr: f64, alpha: f64, eps: f64 },
}

#[derive(Deserialize)]
struct Batch {
    states: ByteTensor,
    next_states: ByteTensor,
    actions: Vec<usize>,
    rewards: Tensor,
    dones: Tensor,
}

#[derive(Deserialize)]
struct After {
    params: StateDict,
}

#[derive(Deserialize)]
struct Steps {
    optimizer: Optimizer,
    loss_before_each_step: Vec<Tensor>,
    after_step: BTreeMap<String, After>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    input_shape: [usize; 3],
    input_scale: f64,
    layers: Vec<LayerSpec>,
    n_actions: usize,
    gamma: f64,
    loss: Loss,
    policy_init: StateDict,
    target: StateDict,
    batch: Batch,
    forward: StateDict,
    grads: StateDict,
    steps: BTreeMap<String, Steps>,
}

impl Case {
    fn architecture(&self) -> Architecture {
        let mut conv = Vec::new();
        let mut hidden = Vec::new();
        for layer in &self.layers {
            match *layer {
                LayerSpec::Conv { out_channels, kernel, stride, padding } => {
                    conv.push(ConvLayer { out_channels, kernel, stride, padding });
                }
                LayerSpec::Flatten => {}
                LayerSpec::Linear { out } => hidden.push(out),
            }
        }
        Architecture {
            inputs: self.input_shape.iter().product(),
            hidden,
            outputs: self.n_actions,
            dueling: None,
            noisy: None,
            conv: Some(ConvTrunk { input: self.input_shape, layers: conv }),
        }
    }

    /// A network of this case's architecture with the parameters of `dict`,
    /// each tensor's name and PyTorch shape checked against ours.
    fn net(&self, dict: &StateDict) -> Mlp<f32> {
        let template = Mlp::<f32>::build(&self.architecture(), &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
        let shapes: Vec<(String, Vec<usize>)> =
            template.params().named_tensors().map(|(name, view)| (name, view.shape())).collect();
        assert_eq!(shapes.len(), dict.len(), "{}: tensor count", self.name);
        let mut params = template.params().clone();
        for ((name, shape), values) in shapes.iter().zip(params.tensors_mut()) {
            let tensor = dict.get(name).unwrap_or_else(|| panic!("{}: no {name} in the state dict", self.name));
            assert_eq!(&tensor.shape, shape, "{}: shape of {name}", self.name);
            values.copy_from_slice(&tensor.values());
        }
        Mlp::from_params(params).unwrap()
    }

    /// The u8 batch as the network's input: each value times the scale,
    /// in f32.
    fn inputs(&self, bytes: &ByteTensor) -> Array2<f32> {
        let scale = self.input_scale as f32;
        let rows = bytes.shape[0];
        Array2::from_shape_vec(
            (rows, bytes.values().len() / rows),
            bytes.values().iter().map(|&b| f32::from(b) * scale).collect(),
        )
        .unwrap()
    }

    fn loss_kind(&self) -> LossKind {
        match self.loss {
            Loss::Huber { delta } => LossKind::Huber { delta },
            Loss::Mse => LossKind::Mse,
        }
    }
}

fn close(what: &str, ours: impl IntoIterator<Item = f32>, theirs: &[f32], (rtol, atol): (f32, f32)) {
    let ours: Vec<f32> = ours.into_iter().collect();
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    for (i, (&x, &y)) in ours.iter().zip(theirs).enumerate() {
        assert!((x - y).abs() <= rtol * y.abs() + atol, "{what}[{i}]: {x} vs torch {y}");
    }
}

fn params_close(what: &str, ours: &Params<f32>, theirs: &StateDict, tolerance: (f32, f32)) {
    for (name, values) in ours.tensor_names().zip(ours.tensors()) {
        close(&format!("{what} {name}"), values.iter().copied(), &theirs[&name].values(), tolerance);
    }
}

/// y = r + (γ·max_a Q_target(s′, a))·(1 − done), as the script forms it.
fn targets(case: &Case, target: &Mlp<f32>, ws: &mut Workspace<f32>) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let next = case.inputs(&case.batch.next_states);
    let q_next = target.forward_batch(next.view(), ws).unwrap();
    let all: Vec<f32> = q_next.iter().copied().collect();
    let max: Vec<f32> =
        q_next.rows().into_iter().map(|r| r.iter().copied().fold(f32::NEG_INFINITY, f32::max)).collect();
    let gamma = case.gamma as f32;
    let y = max
        .iter()
        .zip(case.batch.rewards.values())
        .zip(case.batch.dones.values())
        .map(|((&m, r), d)| r + (gamma * m) * (1.0 - d))
        .collect();
    (all, max, y)
}

fn check_case(case: &Case) {
    let name = &case.name;
    let policy = case.net(&case.policy_init);
    let target = case.net(&case.target);
    let states = case.inputs(&case.batch.states);
    let mut ws = Workspace::default();
    let (q_next, max, y) = targets(case, &target, &mut ws);
    let f = &case.forward;
    close(&format!("{name} target_q_next_all"), q_next, &f["target_q_next_all"].values(), FORWARD);
    close(&format!("{name} target_q_next_max"), max, &f["target_q_next_max"].values(), FORWARD);
    close(&format!("{name} y"), y, &f["y"].values(), FORWARD);

    // y from PyTorch itself, so the gradients do not inherit our y's rounding.
    let y_torch = f["y"].values();
    let loss = GatheredLoss { kind: case.loss_kind(), actions: &case.batch.actions, targets: &y_torch, weights: None };
    let mut grads = policy.params().zeros_like();
    let (value, _) = policy.gradients(states.view(), &loss, None, &mut ws, &mut grads, None).unwrap();
    let q = ws.outputs().to_owned();
    close(&format!("{name} policy_q"), q.iter().copied(), &f["policy_q"].values(), FORWARD);
    let q_sa: Vec<f32> = case.batch.actions.iter().enumerate().map(|(r, &a)| q[[r, a]]).collect();
    close(&format!("{name} q_sa"), q_sa, &f["q_sa"].values(), FORWARD);
    close(&format!("{name} loss"), [value], &f["loss"].values(), FORWARD);
    params_close(&format!("{name} grads"), &grads, &case.grads, GRADS);

    for (label, run) in &case.steps {
        let what = format!("{name} {label}");
        let mut net = case.net(&case.policy_init);
        let mut step: Box<Step> = match run.optimizer {
            Optimizer::Adam { lr, betas, eps } => {
                let mut adam = Adam::new(&net, AdamConfig { lr, beta1: betas[0], beta2: betas[1], eps }).unwrap();
                Box::new(move |net, grads| adam.step(net, grads).unwrap())
            }
            Optimizer::Rmsprop { centered, lr, alpha, eps } => {
                let mut rmsprop = RmsProp::new(&net, RmsPropConfig { lr, alpha, eps, centered }).unwrap();
                Box::new(move |net, grads| rmsprop.step(net, grads).unwrap())
            }
        };
        for k in 1..=run.loss_before_each_step.len() {
            let (value, _) = net.gradients(states.view(), &loss, None, &mut ws, &mut grads, None).unwrap();
            close(
                &format!("{what} loss before step {k}"),
                [value],
                &run.loss_before_each_step[k - 1].values(),
                LOSS_BEFORE,
            );
            step(&mut net, &grads);
            if let Some(after) = run.after_step.get(&k.to_string()) {
                params_close(&format!("{what} params after step {k}"), net.params(), &after.params, PARAMS);
            }
        }
    }
}

fn cases() -> Vec<Case> {
    json_files("golden_conv_net")
        .iter()
        .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        .collect()
}

#[test]
fn every_case_equals_pytorch() {
    let cases = cases();
    for case in &cases {
        check_case(case);
    }
    // The cases the format asks for are among them.
    for name in ["minatar_young_tian_breakout", "minatar_dopamine_seaquest", "nature_geometry_narrow", "odd_geometry"] {
        assert!(cases.iter().any(|c| c.name == name), "no case {name}");
    }
}

#[test]
fn a_corrupted_golden_value_fails_the_check() {
    let mut case = cases().into_iter().find(|c| c.name == "odd_geometry").unwrap();
    let bias = case.grads.get_mut("conv1.bias").unwrap();
    let mut values = bias.values();
    values[2] *= 1.01;
    *bias = Tensor {
        u32: Some(values.iter().map(|v| format!("{:08x}", v.to_bits())).collect()),
        f32le_b64: None,
        shape: bias.shape.clone(),
    };
    let result = std::panic::catch_unwind(|| check_case(&case));
    assert!(result.is_err(), "a 1% change in conv1.bias's gradient went unnoticed");
}

/// Ten updates of `case`'s network on its own batch at `threads` threads
/// in chunks of 4 rows: the parameters' bits.
fn trained_bits(case: &Case, threads: usize) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut net = case.net(&case.policy_init);
        let mut adam = Adam::new(&net, AdamConfig::new(1e-3)).unwrap();
        let states = case.inputs(&case.batch.states);
        let y = case.forward["y"].values();
        let loss = GatheredLoss { kind: case.loss_kind(), actions: &case.batch.actions, targets: &y, weights: None };
        let mut ws = Workspace::new(4).unwrap();
        let mut grads = net.params().zeros_like();
        for _ in 0..10 {
            net.gradients(states.view(), &loss, None, &mut ws, &mut grads, Some(1.0)).unwrap();
            adam.step(&mut net, &grads).unwrap();
        }
        net.params().tensors().flat_map(|t| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect()
    })
}

#[test]
fn convolutional_training_is_bit_identical_at_1_2_and_4_threads() {
    for case in cases() {
        let one = trained_bits(&case, 1);
        assert_eq!(trained_bits(&case, 2), one, "{}: 2 threads differ from 1", case.name);
        assert_eq!(trained_bits(&case, 4), one, "{}: 4 threads differ from 1", case.name);
    }
}

#[test]
fn one_observation_alone_equals_its_row_in_a_batch() {
    for case in cases() {
        let net = case.net(&case.policy_init);
        let states = case.inputs(&case.batch.states);
        let mut ws = Workspace::default();
        let batch = net.forward_batch(states.view(), &mut ws).unwrap().to_owned();
        let mut scratch = SingleScratch::default();
        for (r, row) in states.rows().into_iter().enumerate() {
            let single = net.forward_single(row.as_slice().unwrap(), &mut scratch).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(single), bits(batch.row(r).as_slice().unwrap()), "{} row {r}", case.name);
        }
    }
}

/// The table a byte batch is read through: byte `b` is `b · scale`, as
/// [`Case::inputs`] converts it.
fn byte_table(scale: f64) -> [f32; 256] {
    std::array::from_fn(|b| f32::from(b as u8) * scale as f32)
}

/// The gradients' bits and the outputs' bits of one pass of `net` on
/// `inputs`, with `side` (the target network) on `next`.
fn pass_bits<'a>(
    net: &Mlp<f32>,
    side: &'a [&'a Mlp<f32>],
    inputs: Inputs<'a, f32>,
    next: Inputs<'a, f32>,
    actions: &[usize],
) -> Vec<u32> {
    let y = vec![0.5; actions.len()];
    let loss = GatheredLoss { kind: LossKind::Mse, actions, targets: &y, weights: None };
    let mut ws = Workspace::new(3).unwrap();
    let mut grads = net.params().zeros_like();
    let side = SideNets { nets: side, next_inputs: next };
    net.gradients(inputs, &loss, Some(side), &mut ws, &mut grads, None).unwrap();
    let outputs = ws.outputs().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    grads.tensors().flat_map(|t| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).chain(outputs).collect()
}

#[test]
fn a_byte_batch_gives_the_bits_of_its_values() {
    for case in cases() {
        let net = case.net(&case.policy_init);
        let (states, next) = (&case.batch.states, &case.batch.next_states);
        let table = byte_table(case.input_scale);
        let as_bytes = |t: &ByteTensor| Array2::from_shape_vec((t.shape[0], t.values().len() / t.shape[0]), t.values());
        let (state_bytes, next_bytes) = (as_bytes(states).unwrap(), as_bytes(next).unwrap());
        let (state_values, next_values) = (case.inputs(states), case.inputs(next));
        let from_values =
            pass_bits(&net, &[&net], state_values.view().into(), next_values.view().into(), &case.batch.actions);
        let from_bytes = pass_bits(
            &net,
            &[&net],
            Inputs::Bytes { rows: state_bytes.view(), table: &table },
            Inputs::Bytes { rows: next_bytes.view(), table: &table },
            &case.batch.actions,
        );
        assert_eq!(from_bytes, from_values, "{}", case.name);
        let mut ws = Workspace::default();
        let forward = net.forward_batch(Inputs::Bytes { rows: state_bytes.view(), table: &table }, &mut ws).unwrap();
        assert_eq!(forward.as_slice().unwrap().len(), state_bytes.nrows() * net.output_dim(), "{}", case.name);
    }
}

#[test]
fn a_linear_first_layer_reads_bytes_chunk_by_chunk_with_the_same_bits() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let dueling = DuelingStreams { value_hidden: vec![6], advantage_hidden: vec![], value_outputs: 1 };
    for dueling in [None, Some(dueling)] {
        let is_dueling = dueling.is_some();
        let architecture = Architecture { dueling, ..Architecture::sequential(&[12, 16, 3]) };
        let net = Mlp::<f32>::build(&architecture, &mut rng).unwrap();
        let bytes = Array2::from_shape_fn((7, 12), |(r, c)| (r * 37 + c * 11) as u8);
        let next = Array2::from_shape_fn((7, 12), |(r, c)| (r * 5 + c * 101) as u8);
        let table = byte_table(1.0 / 255.0);
        let values = |b: &Array2<u8>| b.mapv(|b| table[usize::from(b)]);
        let actions = [0, 1, 2, 0, 1, 2, 2];
        let from_values = pass_bits(&net, &[&net], values(&bytes).view().into(), values(&next).view().into(), &actions);
        let from_bytes = pass_bits(
            &net,
            &[&net],
            Inputs::Bytes { rows: bytes.view(), table: &table },
            Inputs::Bytes { rows: next.view(), table: &table },
            &actions,
        );
        assert_eq!(from_bytes, from_values, "dueling: {is_dueling}");
    }
}

#[test]
fn a_byte_whose_table_value_is_not_finite_is_named() {
    let net = Mlp::<f32>::new(&[3, 4, 2], &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let mut table = byte_table(1.0);
    table[200] = f32::NAN;
    let bytes = Array2::from_shape_vec((2, 3), vec![1, 2, 3, 4, 200, 6]).unwrap();
    let mut ws = Workspace::default();
    let err = net.forward_batch(Inputs::Bytes { rows: bytes.view(), table: &table }, &mut ws).unwrap_err();
    assert_eq!(err, MlpError::NonFinite { what: Operand::Inputs, index: 4 });
}
