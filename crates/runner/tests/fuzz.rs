//! Structure-aware fuzzing of everything a user can hand the program: policy
//! files, checkpoints and RON configurations that are well formed (so they
//! get past the parser and the checksum) but carry adversarial numbers — 0,
//! 1, huge, `u32::MAX`, `u64::MAX`, negative, NaN, ±inf — mismatched lengths
//! and shapes, wrong tensor names, extra and missing layers. Each must give
//! a named error or a usable value, never a panic, an overflow or an
//! allocation abort.
//!
//! 10 000 cases per format by default; `PROPTEST_CASES=N` runs N.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use agent::DqnConfig;
use agent::tabular::TabularConfig;
use cartpole_sim::EnvConfig;
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use runner::checkpoint::{self, HEADER, TRAILER, checksum};
use runner::{RunConfig, RunError, Session, Silent, TrainOptions, parse_policy, train_with};
use serde::{Deserialize, Serialize};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Adversarial unsigned numbers (cast, wrapping, to the field's type).
const NUMBERS: [u64; 16] = [
    0,
    1,
    2,
    3,
    4,
    7,
    64,
    255,
    65_535,
    65_536,
    u32::MAX as u64 - 1,
    u32::MAX as u64,
    1 << 32,
    u64::MAX / 2,
    u64::MAX - 1,
    u64::MAX,
];

/// Adversarial floats.
const FLOATS: [f64; 12] =
    [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1e-45, 0.5, 1.0, -1.0, 1e38, 1e300, -1e300];

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![3 => prop::sample::select(NUMBERS.to_vec()), 1 => any::<u64>()]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![3 => prop::sample::select(FLOATS.to_vec()), 1 => any::<f64>()]
}

// ---------------------------------------------------------------- policies

/// One tensor of a policy file as the fuzzer writes it.
#[derive(Debug, Clone)]
struct FuzzTensor {
    name: String,
    shape: Vec<u64>,
    data: Vec<f64>,
}

/// A policy file whose JSON is well formed: a format and version, the
/// layers (version 1: sizes of a chain; version 2: a layout, sequential or
/// dueling, and each layer's shape, some noisy), and tensors near the ones
/// they call for (names, shapes and lengths sometimes wrong, layers
/// sometimes missing or extra, values sometimes overflowing f32).
fn policy_text() -> impl Strategy<Value = String> {
    let sizes = prop::collection::vec(prop_oneof![4 => 1u64..6, 1 => number()], 0..7);
    let right_format = prop::bool::weighted(0.9);
    let version = prop_oneof![4 => Just(1u64), 4 => Just(2u64), 1 => number()];
    let layout = (any::<bool>(), 0u64..4, 0u64..4, any::<u8>());
    (sizes, right_format, version, layout, prop::collection::vec(any::<u8>(), 0..10)).prop_map(
        |(sizes, right_format, version, layout, knobs)| {
            // Version 2's layout: dueling parts that may not add up, and
            // which layers are noisy.
            let (dueling, value, advantage, noisy_mask) = layout;
            let n_layers = sizes.len().saturating_sub(1) as u64;
            let trunk = n_layers.saturating_sub(value + advantage);
            let named = if dueling && version == 2 {
                let (t, v, a) = (trunk as usize, value as usize, advantage as usize);
                agent::Layout::Dueling { trunk: t, value: v, advantage: a }
            } else {
                agent::Layout::Sequential
            };
            let noisy = |l: usize| version == 2 && noisy_mask >> (l % 8) & 1 == 1;
            let mut tensors = Vec::new();
            for (l, w) in sizes.windows(2).enumerate() {
                let mut kinds =
                    vec![(agent::TensorKind::Weight, vec![w[1], w[0]]), (agent::TensorKind::Bias, vec![w[1]])];
                if noisy(l) {
                    kinds.extend([
                        (agent::TensorKind::WeightSigma, vec![w[1], w[0]]),
                        (agent::TensorKind::BiasSigma, vec![w[1]]),
                    ]);
                }
                for (kind, shape) in kinds {
                    let n = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).filter(|&n| n <= 64).unwrap_or(3);
                    let data = (0..n).map(|i| ((i as f64) * 0.37).sin()).collect();
                    tensors.push(FuzzTensor { name: named.tensor_name(l, kind, noisy(l)), shape, data });
                }
            }
            // Each knob byte edits one thing.
            for k in knobs.chunks(3) {
                let (what, a, b) = (k[0], k.get(1).copied().unwrap_or(0), k.get(2).copied().unwrap_or(0));
                let t = if tensors.is_empty() { None } else { Some(a as usize % tensors.len()) };
                match (what % 8, t) {
                    (0, Some(t)) => {
                        tensors.remove(t);
                    }
                    (1, Some(t)) => {
                        let mut copy = tensors[t].clone();
                        copy.name = format!("fc{}.weight", 1 + b % 9);
                        tensors.push(copy);
                    }
                    (2, Some(t)) => {
                        tensors[t].name =
                            ["fc0.weight", "fc1.Weight", "fc1.bias ", "", "fc99.bias"][b as usize % 5].into();
                    }
                    (3, Some(t)) => {
                        let d = b as usize % tensors[t].shape.len().max(1);
                        if let Some(x) = tensors[t].shape.get_mut(d) {
                            *x = NUMBERS[a as usize % NUMBERS.len()];
                        }
                    }
                    (4, Some(t)) => tensors[t].shape.push(u64::from(b)),
                    (5, Some(t)) => {
                        let len = tensors[t].data.len();
                        tensors[t].data.truncate(len.saturating_sub(1 + b as usize % 3));
                    }
                    (6, Some(t)) => tensors[t].data.push(f64::from(b)),
                    (7, Some(t)) if !tensors[t].data.is_empty() => {
                        let i = b as usize % tensors[t].data.len();
                        // JSON has no NaN; 1e39 overflows f32 to infinity.
                        tensors[t].data[i] = [1e39, -1e39, 3.5e38, 1e-50][a as usize % 4];
                    }
                    _ => {}
                }
            }
            let tensors: Vec<String> = tensors
                .iter()
                .map(|t| {
                    let data: Vec<String> = t.data.iter().map(|v| format!("{v:e}")).collect();
                    format!("{:?}:{{\"shape\":{:?},\"data\":[{}]}}", t.name, t.shape, data.join(","))
                })
                .collect();
            let format = if right_format { "dqn-rs policy" } else { "dqn-rs Policy" };
            let layers = if version == 2 {
                let layout = if dueling {
                    format!("{{\"Dueling\":{{\"trunk\":{trunk},\"value\":{value},\"advantage\":{advantage}}}}}")
                } else {
                    "\"Sequential\"".to_string()
                };
                let shapes: Vec<String> = sizes
                    .windows(2)
                    .enumerate()
                    .map(|(l, w)| format!("{{\"inputs\":{},\"outputs\":{},\"noisy\":{}}}", w[0], w[1], noisy(l)))
                    .collect();
                format!("\"layout\":{layout},\"layers\":[{}]", shapes.join(","))
            } else {
                format!("\"sizes\":{sizes:?}")
            };
            format!("{{\"format\":{format:?},\"version\":{version},{layers},\"tensors\":{{{}}}}}", tensors.join(","))
        },
    )
}

/// Parses a policy: a named error, or a network of the file's sizes that
/// evaluates a row.
fn check_policy(text: &str) -> Result<(), TestCaseError> {
    check_parsed(parse_policy(text))
}

/// A parsed policy is a named error, or a network that evaluates a row.
fn check_parsed(parsed: Result<agent::Mlp<f32>, runner::PolicyError>) -> Result<(), TestCaseError> {
    match parsed {
        Ok(net) => {
            let input = vec![0.25f32; net.input_dim()];
            let mut scratch = agent::SingleScratch::default();
            let q = net.forward_single(&input, &mut scratch).unwrap();
            prop_assert_eq!(q.len(), net.output_dim());
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

// ------------------------------------------------------------- checkpoints

/// An exact mirror of a checkpoint's payload, field by field, in the stored
/// forms' serialized layout, with every field open to editing.
/// (`the_mirror_is_exact` proves it: a real checkpoint decodes into it and
/// re-encodes to the same bytes.) A DQN checkpoint's replay buffer follows
/// the payload as its own stream, edited as bytes ([`Parts`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointMirror {
    session: SessionMirror,
    logs: LogsMirror,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogsMirror {
    train_csv_len: u64,
    timing_csv_len: u64,
    eval_csv_len: u64,
    tensorboard_len: u64,
    elapsed_seconds: f64,
}

/// A configuration as a checkpoint stores it: its RON text.
mod config_text {
    use runner::RunConfig;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(config: &RunConfig, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&config.to_ron())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RunConfig, D::Error> {
        let text = String::deserialize(d)?;
        RunConfig::from_ron(&text, "mirror").map_err(serde::de::Error::custom)
    }
}

/// The learner's settings as a frozen agent stores them: their RON text.
mod agent_config_text {
    use agent::DqnConfig;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(config: &DqnConfig, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&config.to_ron())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DqnConfig, D::Error> {
        let text = String::deserialize(d)?;
        DqnConfig::from_ron(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionMirror {
    /// Stored as its RON text.
    #[serde(with = "config_text")]
    config: RunConfig,
    learner: LearnerMirror,
    /// The batch as it saved itself (a CartPole batch here: `BatchMirror`).
    envs: Vec<u8>,
    env_rngs: Vec<ChaCha8Rng>,
    probe_frames: ObsMirror,
    cursor: CursorMirror,
}

/// Observations: `f32` values or bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum ObsMirror {
    F32(Vec<f32>),
    U8(Vec<u8>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum LearnerMirror {
    Dqn(Box<AgentMirror>),
    Tabular(Box<TabularMirror>),
}

/// The kind of a frame's values.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum KindMirror {
    F32,
    U8,
    Bit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentMirror {
    /// Stored as its RON text.
    #[serde(with = "agent_config_text")]
    config: DqnConfig,
    frame_len: usize,
    frame_kind: KindMirror,
    image: Option<[usize; 3]>,
    n_actions: usize,
    envs: usize,
    policy: ParamsMirror,
    target: ParamsMirror,
    optimizer: OptimizerMirror,
    explore_rng: ChaCha8Rng,
    replay_rng: ChaCha8Rng,
    noise_rng: ChaCha8Rng,
    sample_count: u64,
    n_updates: u64,
    n_target_syncs: u64,
    sample_count_at_last_update: u64,
    partial_update: Option<(u32, f32, u64)>,
    n_step_windows: WindowsMirror,
    policy_noise: Option<NoiseMirror>,
    target_noise: Option<NoiseMirror>,
}

/// A noise sample: per layer, a noisy layer's `ε_in` and `ε_out`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NoiseMirror {
    layers: Vec<Option<(Vec<f32>, Vec<f32>)>>,
}

/// A network's layout.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum LayoutMirror {
    Sequential,
    Dueling { trunk: usize, value: usize, advantage: usize },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ParamsMirror {
    layout: LayoutMirror,
    layers: Vec<LayerMirror>,
}

/// Each environment's pending n-step steps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct WindowsMirror {
    envs: Vec<WindowMirror>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct WindowMirror {
    actions: Vec<usize>,
    rewards: Vec<f32>,
}

/// ndarray's serialized matrix: format version, shape, values.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MatrixMirror {
    v: u8,
    dim: [usize; 2],
    data: Vec<f32>,
}

/// ndarray's serialized vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VectorMirror {
    v: u8,
    dim: [usize; 1],
    data: Vec<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerMirror {
    weight: MatrixMirror,
    bias: VectorMirror,
    /// A noisy layer's σ of its weight and bias.
    sigma: Option<(MatrixMirror, VectorMirror)>,
    kind: LayerKindMirror,
}

/// `mlp::LayerKind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum LayerKindMirror {
    Linear,
    /// `Conv2dShape`: in_channels, height, width, out_channels, kernel,
    /// stride, padding.
    Conv2d([usize; 7]),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum OptimizerMirror {
    Adam(AdamMirror),
    RmsProp(RmsPropMirror),
}

impl OptimizerMirror {
    fn adam(&mut self) -> &mut AdamMirror {
        match self {
            Self::Adam(adam) => adam,
            Self::RmsProp(_) => panic!("the sources use Adam"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AdamMirror {
    config: (f64, f64, f64, f64),
    step: u64,
    exp_avg: ParamsMirror,
    exp_avg_sq: ParamsMirror,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RmsPropMirror {
    /// lr, alpha, eps, centered.
    config: (f64, f64, f64, bool),
    step: u64,
    grad_avg: ParamsMirror,
    square_avg: ParamsMirror,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TabularMirror {
    config: TabularConfig,
    table: Vec<f32>,
    rng: ChaCha8Rng,
    sample_count: u64,
    n_updates: u64,
    pending: Option<(usize, usize, f32, usize, bool)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BatchMirror {
    config: EnvConfig,
    states: Vec<[f64; 4]>,
    elapsed_steps: Vec<u32>,
    episodes_finished: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CursorMirror {
    episodes_finished: u32,
    total_steps: u64,
    vector_steps: u64,
    episodes: Vec<(u32, f64, f64, u32)>,
    solved: bool,
    pending: Option<PendingMirror>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum PendingMirror {
    Update { ended: Vec<bool> },
    Evaluation,
}

/// A checkpoint taken apart: the payload's mirror and, for DQN, the replay
/// buffer's stream and, with prioritized replay, the priorities streamed
/// after it (the largest, then one per transition; without the trailer,
/// which [`file_of`] writes anew).
#[derive(Debug, Clone)]
struct Parts {
    mirror: CheckpointMirror,
    replay: Option<Vec<u8>>,
    priorities: Option<(f64, Vec<f64>)>,
}

/// Where the replay stream's counters are, in bytes from its start: after
/// its tag and settings (8 + 3·8 + 3 + 8 + 8), seven u64 words.
mod stream_at {
    pub const FRAME_LEN: usize = 16;
    pub const FRAME_CAPACITY: usize = 51;
    pub const PUSHED: usize = 59;
    pub const HEAD: usize = 67;
    pub const LEN: usize = 75;
    pub const PUSHES: usize = 83;
    pub const DISORDER: usize = 99;
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The kinds of real checkpoint the fuzzer edits.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Dqn,
    Tabular,
    /// Every network and target option on: dueling heads with noisy
    /// streams, C51, Double DQN, prioritized replay, 3-step returns.
    Rainbow,
}

/// A real checkpoint of a small run, stopped mid-run: DQN with 2
/// environments and evaluations, the tabular learner, or Rainbow.
fn source_checkpoint(source: Source) -> Vec<u8> {
    let mut c = RunConfig { seed: 1, train_episodes: 3, test_episodes: 1, ..RunConfig::default() };
    c.agent.hidden = vec![4];
    c.agent.buffer_capacity = 64;
    c.agent.gradient_steps = 2;
    c.collection.envs = 2;
    c.early_stop = Some(runner::EarlyStop { every_steps: 10, episodes: 2, solved_at: 1e9 });
    match source {
        Source::Dqn => {}
        Source::Tabular => {
            c.learner = runner::LearnerSetting::TabularQ { bins: vec![2, 2, 3, 3], alpha: 0.5, ranges: None };
        }
        Source::Rainbow => {
            c.agent.dueling = Some(runner::Dueling { value_hidden: vec![3], advantage_hidden: vec![] });
            c.agent.noisy = Some(runner::Noisy::default());
            c.agent.distributional = Some(runner::Distributional { n_atoms: 5, v_min: 0.0, v_max: 10.0 });
            c.agent.double_dqn = true;
            c.agent.sampling = runner::Sampling::Prioritized(runner::Prioritized::default());
            c.agent.n_step = 3;
            // Its greedy noisy policy falls fast: more episodes, so the
            // stop comes mid-run.
            c.train_episodes = 50;
        }
    }
    let dir = scratch(&format!("source-{source:?}"));
    let opts = TrainOptions { stop_after_steps: Some(40), ..TrainOptions::default() };
    let ckpt = match train_with(&c, &dir, &opts, &mut Silent) {
        Err(RunError::Interrupted { checkpoint: Some(checkpoint), .. }) => checkpoint,
        other => panic!("{other:?}"),
    };
    let bytes = std::fs::read(ckpt).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    bytes
}

thread_local! {
    static SOURCES: [Vec<u8>; 3] =
        [source_checkpoint(Source::Dqn), source_checkpoint(Source::Tabular), source_checkpoint(Source::Rainbow)];
}

fn parts_of(bytes: &[u8]) -> Parts {
    let payload_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    let mirror: CheckpointMirror = postcard::from_bytes(&bytes[HEADER..HEADER + payload_len]).unwrap();
    let rest = &bytes[HEADER + payload_len..];
    let mut replay = (!rest.is_empty()).then(|| rest[..rest.len() - TRAILER].to_vec());
    let prioritized = match &mirror.session.learner {
        LearnerMirror::Dqn(a) => matches!(a.config.sampling, runner::Sampling::Prioritized(_)),
        LearnerMirror::Tabular(_) => false,
    };
    let priorities = match replay.as_mut() {
        Some(stream) if prioritized => {
            let len = u64::from_le_bytes(stream[stream_at::LEN..stream_at::LEN + 8].try_into().unwrap()) as usize;
            let tail = stream.split_off(stream.len() - 8 * (1 + len));
            let words: Vec<f64> = tail.chunks_exact(8).map(|w| f64::from_le_bytes(w.try_into().unwrap())).collect();
            Some((words[0], words[1..].to_vec()))
        }
        _ => None,
    };
    Parts { mirror, replay, priorities }
}

/// The file the parts describe, with a header, a checksum and a replay
/// trailer that are right.
fn file_of(parts: &Parts, version_of: &[u8]) -> Vec<u8> {
    let payload = postcard::to_stdvec(&parts.mirror).unwrap();
    let mut file = version_of[..12].to_vec();
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&checksum(&payload).to_le_bytes());
    file.extend_from_slice(&payload);
    if let Some(stream) = &parts.replay {
        let mut stream = stream.clone();
        if let Some((max, priorities)) = &parts.priorities {
            stream.extend(std::iter::once(max).chain(priorities).flat_map(|v| v.to_le_bytes()));
        }
        let mut sum = checkpoint::StreamSum::default();
        sum.update(&stream);
        file.extend_from_slice(&stream);
        file.extend_from_slice(&sum.len().to_le_bytes());
        file.extend_from_slice(&sum.finish().to_le_bytes());
    }
    file
}

/// Overwrites the u64 at `at` of a replay stream.
fn set_word(stream: &mut [u8], at: usize, value: u64) {
    if let Some(word) = stream.get_mut(at..at + 8) {
        word.copy_from_slice(&value.to_le_bytes());
    }
}

#[test]
fn the_mirror_is_exact() {
    SOURCES.with(|sources| {
        for bytes in sources {
            let parts = parts_of(bytes);
            assert_eq!(&file_of(&parts, bytes), bytes, "the mirror re-encodes a real checkpoint to its bytes");
            let session = checkpoint::decode(bytes).unwrap().session;
            Session::from_state(session).unwrap();
        }
    });
}

/// One edit of a checkpoint: which field, an adversarial number, an
/// adversarial float, and a position.
type Edit = (u8, u64, f64, usize);

fn layer_edit(params: &mut ParamsMirror, which: u8, n: u64, x: f64, at: usize) {
    let layers = &mut params.layers;
    if layers.is_empty() {
        return;
    }
    let l = at % layers.len();
    let layer = &mut layers[l];
    match which % 16 {
        14 => {
            // A convolution of adversarial geometry, or one that fits the
            // weight's row length but not the layer before.
            let n = n as usize;
            let geometry = [n % 5 + 1, at % 9, n >> 3, layer.weight.dim[0], at % 4, n % 3, at >> 2];
            layer.kind = LayerKindMirror::Conv2d(geometry);
        }
        15 => match &mut layer.kind {
            LayerKindMirror::Conv2d(geometry) => geometry[at % 7] = n as usize,
            LayerKindMirror::Linear => {
                let cols = layer.weight.dim[1];
                layer.kind = LayerKindMirror::Conv2d([cols, 1, 1, layer.weight.dim[0], 1, 1, 0]);
            }
        },
        8 => {
            params.layout = match params.layout {
                LayoutMirror::Sequential => {
                    LayoutMirror::Dueling { trunk: n as usize, value: at % 4, advantage: (n >> 2) as usize % 4 }
                }
                LayoutMirror::Dueling { .. } => LayoutMirror::Sequential,
            }
        }
        9 => {
            if let LayoutMirror::Dueling { trunk, value, .. } = &mut params.layout {
                (*trunk, *value) = (*value, *trunk);
            }
        }
        10 => layer.sigma = None,
        11 => {
            let (w, b) = (layer.weight.clone(), layer.bias.clone());
            layer.sigma = Some((w, b));
        }
        12 => {
            if let Some((w, b)) = &mut layer.sigma {
                w.data.truncate(at % (w.data.len() + 1));
                b.dim[0] = n as usize;
            }
        }
        13 => {
            if let Some((w, _)) = &mut layer.sigma
                && !w.data.is_empty()
            {
                let i = at % w.data.len();
                w.data[i] = x as f32;
            }
        }
        0 => layer.weight.dim[at % 2] = n as usize,
        1 => layer.bias.dim[0] = n as usize,
        2 => layer.weight.data.truncate(at % (layer.weight.data.len() + 1)),
        3 if !layer.weight.data.is_empty() => {
            let i = at % layer.weight.data.len();
            layer.weight.data[i] = x as f32;
        }
        4 => layer.bias.data.push(x as f32),
        5 => {
            layers.remove(l);
        }
        6 => {
            let copy = layers[l].clone();
            layers.push(copy);
        }
        _ => layer.weight.v = n as u8,
    }
}

/// Edits the CartPole batch saved inside a session.
fn edit_batch(saved: &mut Vec<u8>, edit: &dyn Fn(&mut BatchMirror)) {
    // An earlier edit may have cut the bytes: then there is nothing to edit.
    if let Ok(mut batch) = postcard::from_bytes::<BatchMirror>(saved) {
        edit(&mut batch);
        *saved = postcard::to_stdvec(&batch).unwrap();
    }
}

fn apply(parts: &mut Parts, (which, n, x, at): Edit) {
    let (m, replay, priorities) = (&mut parts.mirror, &mut parts.replay, &mut parts.priorities);
    let s = &mut m.session;
    match which % 68 {
        0 => m.logs.train_csv_len = n,
        1 => m.logs.elapsed_seconds = x,
        2 => s.cursor.episodes_finished = n as u32,
        3 => s.cursor.total_steps = n,
        4 => s.cursor.vector_steps = n,
        5 => s.cursor.episodes.truncate(at % 3),
        6 => s.cursor.episodes.push((n as u32, x, x, n as u32)),
        7 => {
            if let Some(e) = s.cursor.episodes.get_mut(at % 2) {
                *e = (n as u32, x, x, (n >> 3) as u32);
            }
        }
        8 => s.cursor.solved = n % 2 == 1,
        9 => s.cursor.pending = Some(PendingMirror::Update { ended: vec![n % 2 == 0; at % 4] }),
        10 => s.cursor.pending = Some(PendingMirror::Evaluation),
        11 => match &mut s.probe_frames {
            ObsMirror::F32(v) => v.truncate(at % 300),
            ObsMirror::U8(v) => v.truncate(at % 300),
        },
        12 => match &mut s.probe_frames {
            ObsMirror::F32(v) => {
                let len = v.len().max(1);
                if let Some(p) = v.get_mut(at % len) {
                    *p = x as f32;
                }
            }
            ObsMirror::U8(v) => {
                let len = v.len().max(1);
                if let Some(p) = v.get_mut(at % len) {
                    *p = n as u8;
                }
            }
        },
        13..=17 => edit_batch(&mut s.envs, &|b| match which % 68 {
            13 => b.config.max_episode_steps = n as u32,
            14 => b.states.truncate(at % 3),
            15 => {
                if let Some(st) = b.states.get_mut(at % 2) {
                    st[at % 4] = x;
                }
            }
            16 => {
                if let Some(e) = b.elapsed_steps.get_mut(at % 2) {
                    *e = n as u32;
                }
            }
            17 => b.elapsed_steps.push(n as u32),
            _ => b.episodes_finished = n,
        }),
        // The session's reset RNGs: one fewer, or two swapped.
        18 => {
            s.env_rngs.pop();
        }
        19 if s.env_rngs.len() >= 2 => s.env_rngs.swap(0, 1),
        // The saved batch's own bytes, cut or extended.
        47 => s.envs.truncate(at % (s.envs.len() + 1)),
        20 => s.config.seed = n,
        21 => s.config.train_episodes = n as u32,
        22 => s.config.collection.envs = n as u32,
        23 => {
            s.config.env = runner::EnvSetting::CartPole { max_episode_steps: n as u32, integrator: Default::default() }
        }
        24 => s.config.agent.batch_size = n as usize,
        25 => s.config.agent.gamma = x,
        // The replay stream: counters, a byte anywhere, a cut, a stream
        // where none belongs or none where one does.
        37..=44 | 48 | 49 if replay.is_some() => {
            let stream = replay.as_mut().expect("checked");
            match which % 68 {
                37 => set_word(stream, stream_at::FRAME_LEN, n),
                38 => set_word(stream, stream_at::FRAME_CAPACITY, n),
                39 => set_word(stream, stream_at::HEAD, n),
                40 => set_word(stream, stream_at::PUSHES, n),
                41 => stream.truncate(at % (stream.len() + 1)),
                // An empty stream has no byte to flip.
                42 if !stream.is_empty() => {
                    let i = at % stream.len();
                    stream[i] ^= (n as u8) | 1;
                }
                42 => {}
                43 => set_word(stream, stream_at::LEN, n),
                44 => set_word(stream, stream_at::PUSHED, n),
                48 => set_word(stream, stream_at::DISORDER, n),
                _ => *replay = None,
            }
        }
        _ => match &mut s.learner {
            LearnerMirror::Dqn(a) => match which % 68 {
                26 => a.frame_len = n as usize,
                27 => a.n_actions = n as usize,
                28 => a.config.buffer_capacity = n as usize,
                29 => a.config.chunk_rows = n as usize,
                30 => layer_edit(&mut a.policy, (n % 16) as u8, n, x, at),
                31 => layer_edit(&mut a.target, (at % 16) as u8, n, x, at),
                32..=36 => match &mut a.optimizer {
                    OptimizerMirror::Adam(adam) => match which % 68 {
                        32 => layer_edit(&mut adam.exp_avg, (n % 16) as u8, n, x, at),
                        33 => layer_edit(&mut adam.exp_avg_sq, (at % 16) as u8, n, x, at),
                        34 => adam.config = (x, x, 0.999, 1e-8),
                        35 => adam.config.1 = x,
                        _ => adam.step = n,
                    },
                    OptimizerMirror::RmsProp(rms) => match which % 68 {
                        32 => layer_edit(&mut rms.grad_avg, (n % 16) as u8, n, x, at),
                        33 => layer_edit(&mut rms.square_avg, (at % 16) as u8, n, x, at),
                        34 => rms.config = (x, x, 0.01, n % 2 == 0),
                        35 => rms.config.2 = x,
                        _ => rms.step = n,
                    },
                },
                37 => a.envs = n as usize,
                38 => a.frame_kind = [KindMirror::F32, KindMirror::U8, KindMirror::Bit][at % 3],
                39 => a.config.stack.frames = n as usize,
                45 => a.sample_count_at_last_update = n,
                46 => a.partial_update = Some((n as u32, x as f32, n)),
                50 => a.config.n_step = n as usize,
                51 => a
                    .n_step_windows
                    .envs
                    .push(WindowMirror { actions: vec![n as usize; at % 3], rewards: vec![x as f32; at % 3] }),
                52 => {
                    if let Some(w) = a.n_step_windows.envs.first_mut() {
                        w.actions.push(n as usize);
                    }
                }
                53 => a.n_step_windows.envs = vec![WindowMirror::default(); (n % 70_000) as usize],
                54 => *priorities = Some((x, vec![x; at % 50])),
                55 => *priorities = None,
                56 => a.config.sampling = runner::Sampling::Prioritized(runner::Prioritized::default()),
                57 => {
                    if let Some(v) = priorities.as_mut().and_then(|p| p.1.get_mut(at % 50)) {
                        *v = x;
                    }
                }
                // Noise: cut, poisoned, missing, moved to another layer.
                58 => noise_edit(&mut a.policy_noise, n, x, at),
                59 => noise_edit(&mut a.target_noise, n, x, at),
                60 => a.policy_noise = None,
                61 => a.target_noise = Some(NoiseMirror { layers: vec![Some((vec![x as f32; at % 5], vec![0.5; 2]))] }),
                62 => a.config.noisy = if a.config.noisy.is_some() { None } else { Some(runner::Noisy::default()) },
                63 => {
                    a.config.dueling = if a.config.dueling.is_some() { None } else { Some(runner::Dueling::default()) }
                }
                64 => {
                    if let Some(d) = &mut a.config.dueling {
                        d.value_hidden = vec![n as usize];
                    }
                }
                65 => {
                    if let Some(noisy) = &mut a.config.noisy {
                        noisy.sigma0 = x;
                    }
                }
                66 => {
                    a.config.distributional =
                        Some(runner::Distributional { n_atoms: n as usize, v_min: x, v_max: 10.0 });
                }
                67 => layer_edit(&mut a.policy, 8 + (n % 8) as u8, n, x, at),
                // The optimizer swapped for RMSprop (the settings say Adam),
                // or the image shape made up.
                0..=25 if at % 7 == 0 => {
                    let (grad_avg, square_avg) = (a.policy.clone(), a.target.clone());
                    a.optimizer = OptimizerMirror::RmsProp(RmsPropMirror {
                        config: (a.config.lr, x, 0.01, at % 2 == 0),
                        step: n,
                        grad_avg,
                        square_avg,
                    });
                }
                0..=25 if at % 7 == 1 => a.image = Some([n as usize, at, a.frame_len]),
                _ => a.sample_count = n,
            },
            LearnerMirror::Tabular(t) => match which % 9 {
                0 => t.table.truncate(at % 40),
                1 => {
                    let len = t.table.len().max(1);
                    if let Some(v) = t.table.get_mut(at % len) {
                        *v = x as f32;
                    }
                }
                2 => t.config.discretizer.bins[at % 4] = n as usize,
                3 => t.config.discretizer.ranges[at % 4] = (x as f32, 0.0),
                4 => t.config.n_actions = n as usize,
                5 => t.pending = Some((n as usize, at, x as f32, n as usize, true)),
                6 => t.config.alpha = x,
                7 => *replay = Some(vec![n as u8; at % 100]),
                _ => t.config.discretizer.bins.push(n as usize),
            },
        },
    }
}

fn noise_edit(noise: &mut Option<NoiseMirror>, n: u64, x: f64, at: usize) {
    let Some(noise) = noise else { return };
    let len = noise.layers.len();
    match n % 4 {
        0 => noise.layers.truncate(at % (len + 1)),
        1 => {
            if let Some(Some((input, _))) = noise.layers.get_mut(at % len.max(1)) {
                input.truncate(at % (input.len() + 1));
            }
        }
        2 => {
            if let Some(Some((_, output))) = noise.layers.iter_mut().rev().find(|l| l.is_some()) {
                let i = at % output.len().max(1);
                if let Some(v) = output.get_mut(i) {
                    *v = x as f32;
                }
            }
        }
        _ => noise.layers.rotate_left(at % len.max(1)),
    }
}

/// A checkpoint: a named error, or a session that steps (or fails with a
/// named error).
fn check_checkpoint(bytes: &[u8]) -> Result<(), TestCaseError> {
    match checkpoint::decode(bytes) {
        Ok(c) => {
            let config = c.session.config().clone();
            let mut session = Session::from_state(c.session).unwrap();
            // A few steps where they are cheap (an edited evaluation of a
            // million episodes is valid, and merely slow).
            let cheap = config.collection.envs <= 64
                && config.agent.gradient_steps <= 1000
                && config.early_stop.as_ref().is_none_or(|e| e.episodes <= 100);
            for _ in 0..3 {
                if !cheap || session.is_done() {
                    break;
                }
                if session.step().is_err() {
                    break;
                }
            }
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

// --------------------------------------------------------------- configs

/// A RON configuration, well formed, whose numbers are adversarial: every
/// field the default has, some left out, with values from the adversarial
/// tables (and negative or non-finite where a number is expected).
fn config_text() -> impl Strategy<Value = String> {
    // Mostly sane values, so that validation and the session are reached
    // often, each one adversarial now and then.
    let int = |sane: std::ops::Range<u64>| {
        prop_oneof![
            40 => sane.prop_map(|n| n.to_string()),
            3 => number().prop_map(|n| n.to_string()),
            1 => Just("-1".to_string()),
        ]
    };
    let real = |sane: std::ops::Range<f64>| {
        let adversarial = float().prop_map(|x| {
            if x.is_nan() {
                "NaN".to_string()
            } else if x.is_infinite() {
                if x > 0.0 { "inf".to_string() } else { "-inf".to_string() }
            } else {
                format!("{x:?}")
            }
        });
        prop_oneof![12 => sane.prop_map(|x| format!("{x:?}")), 1 => adversarial]
    };
    let hidden = prop::collection::vec(int(1..24), 0..4).prop_map(|v| format!("[{}]", v.join(", ")));
    let learner = prop_oneof![
        6 => Just("Dqn".to_string()),
        1 => (prop::collection::vec(int(1..5), 3..6), real(0.0..1.0))
            .prop_map(|(bins, alpha)| format!("TabularQ(bins: [{}], alpha: {alpha})", bins.join(", "))),
    ];
    let fields = (
        (int(0..1000), int(1..5), int(0..4), int(1..300), int(1..5), int(1..4)),
        (hidden, real(0.0..1.0), real(0.0..0.1), int(1..40), int(1..400), int(0..100)),
        (real(0.0..1.0), real(0.0..1.0), real(1.0..500.0), int(1..50), real(0.0..1.0), real(0.1..10.0)),
        (int(1..4), int(1..64), int(1..200), int(1..4), real(0.0..600.0), any::<u16>(), learner),
    );
    fields.prop_map(|(a, b, c, d)| {
        let (seed, train, test, max_steps, envs, update_every) = a;
        let (hidden, gamma, lr, batch, capacity, learning_starts) = b;
        let (eps_start, eps_end, eps_decay, target_every, tau, huber) = c;
        let (gradient_steps, chunk_rows, every_steps, eval_episodes, solved_at, mask, learner) = d;
        let lines = [
            format!("seed: {seed}"),
            format!("train_episodes: {train}"),
            format!("test_episodes: {test}"),
            format!("max_train_steps: Some({max_steps})"),
            format!("collection: (envs: {envs}, update_every: {update_every})"),
            format!(
                "early_stop: Some((every_steps: {every_steps}, episodes: {eval_episodes}, solved_at: {solved_at}))"
            ),
            format!("env: (max_episode_steps: {max_steps}, integrator: SemiImplicitEuler)"),
            format!("learner: {learner}"),
        ];
        let target = if mask & 1 == 0 { format!("Soft(tau: {tau})") } else { format!("Hard(every: {target_every})") };
        let agent = [
            format!("hidden: {hidden}"),
            format!("gamma: {gamma}"),
            format!("lr: {lr}"),
            format!("batch_size: {batch}"),
            format!("buffer_capacity: {capacity}"),
            format!("learning_starts: {learning_starts}"),
            format!("epsilon: (start: {eps_start}, end: {eps_end}, decay: {eps_decay})"),
            format!("target_update: {target}"),
            format!("loss: Huber(delta: {huber})"),
            format!("grad_clip: Some({huber})"),
            format!("gradient_steps: {gradient_steps}"),
            format!("chunk_rows: {chunk_rows}"),
        ];
        // The mask leaves fields out: they keep the seed's values.
        let keep = |i: usize| mask >> (i % 15 + 1) & 1 == 1;
        let mut kept: Vec<String> = lines.into_iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, l)| l).collect();
        let agent: Vec<String> = agent.into_iter().enumerate().filter(|(i, _)| keep(i + 3)).map(|(_, l)| l).collect();
        kept.push(format!("agent: ({})", agent.join(", ")));
        format!("({})", kept.join(",\n"))
    })
}

/// A configuration: a named error at parsing or validation, or a session
/// that is built and steps.
fn check_config(text: &str) -> Result<(), TestCaseError> {
    let config = match RunConfig::from_ron(text, "fuzz.ron") {
        Ok(config) => config,
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            return Ok(());
        }
    };
    if config.validate().is_err() {
        return Ok(());
    }
    // A valid network of millions of parameters is only slow to build (the
    // limit that matters, DqnConfig::MAX_PARAMS, is validation's): building
    // one per case would make this test take minutes.
    let sizes = config.agent.layer_sizes(&config.spaces().unwrap());
    let params: usize = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    if params > 1_000_000 {
        return Ok(());
    }
    match Session::new(&config) {
        Ok(mut session) => {
            // Steps where they are cheap: four billion gradient steps per
            // update are valid, and merely slow (the test of stopping inside
            // long steps is elsewhere).
            let cheap = config.collection.envs <= 64
                && config.agent.gradient_steps <= 1000
                && config.early_stop.as_ref().is_none_or(|e| e.episodes <= 100);
            for _ in 0..3 {
                if !cheap || session.is_done() || session.step().is_err() {
                    break;
                }
            }
        }
        // Valid settings whose replay buffer cannot be allocated.
        Err(e) => prop_assert!(matches!(e, RunError::Learner(_)), "{e:?}"),
    }
    Ok(())
}

thread_local! {
    /// A safetensors policy of a convolution (its geometry in the
    /// metadata) under dueling noisy heads (every tensor kind).
    static SAFETENSORS: Vec<u8> = {
        let conv = agent::ConvLayer { out_channels: 3, kernel: 2, stride: 1, padding: 1 };
        let architecture = agent::Architecture {
            inputs: 2 * 3 * 2,
            hidden: vec![4],
            outputs: 6,
            dueling: Some(agent::DuelingStreams { value_hidden: vec![], advantage_hidden: vec![2], value_outputs: 2 }),
            noisy: Some(agent::NoisyInit { layers: agent::NoisyLayers::Heads, sigma0: 0.5 }),
            conv: Some(agent::ConvTrunk { input: [2, 3, 2], layers: vec![conv] }),
        };
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        runner::policy_safetensors(&agent::Mlp::build(&architecture, &mut rng).unwrap())
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn policy_files_with_adversarial_numbers_never_panic(text in policy_text()) {
        check_policy(&text)?;
    }

    /// Bytes overwritten (the header's JSON, its length, the data) and the
    /// file cut short: a named error or a network that evaluates a row.
    #[test]
    fn damaged_safetensors_policies_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
        cut_it in any::<bool>(),
    ) {
        let mut bytes = SAFETENSORS.with(Clone::clone);
        for (at, value) in edits {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        if cut_it {
            bytes.truncate(cut % bytes.len());
        }
        check_parsed(runner::parse_safetensors_policy(&bytes))?;
    }

    #[test]
    fn checkpoints_with_adversarial_numbers_never_panic(
        source in 0..3usize,
        edits in prop::collection::vec((any::<u8>(), number(), float(), any::<usize>()), 1..4),
    ) {
        let source = SOURCES.with(|s| s[source].clone());
        let mut parts = parts_of(&source);
        for edit in edits {
            apply(&mut parts, edit);
        }
        check_checkpoint(&file_of(&parts, &source))?;
    }

    #[test]
    fn configs_with_adversarial_numbers_never_panic(text in config_text()) {
        check_config(&text)?;
    }
}

/// The crafted files the issue names, one by one.
#[test]
fn the_known_crashers_are_named_errors() {
    let text = r#"{"format":"dqn-rs policy","version":1,"sizes":[4294967296,4294967296],"tensors":{}}"#;
    assert!(matches!(parse_policy(text), Err(runner::PolicyError::TooLarge { .. })));
    SOURCES.with(|sources| {
        let mut p = parts_of(&sources[0]);
        set_word(p.replay.as_mut().unwrap(), stream_at::FRAME_LEN, 1 << 63);
        let err = checkpoint::decode(&file_of(&p, &sources[0])).unwrap_err();
        let text = runner::ErrorChain(&err).to_string();
        assert!(text.contains("replay buffer") && text.contains("settings are not the run's"), "{text}");
        let mut p = parts_of(&sources[0]);
        edit_batch(&mut p.mirror.session.envs, &|b| b.elapsed_steps[0] = u32::MAX);
        let err = checkpoint::decode(&file_of(&p, &sources[0])).unwrap_err();
        let text = runner::ErrorChain(&err).to_string();
        assert!(text.contains("environment 0 is at step 4294967295"), "{text}");
    });
    // Found by an independent crafted-file corpus (see the issue's note):
    // each was a panic or a wrong message before.
    SOURCES.with(|sources| {
        let source = &sources[0];
        let chain = |bytes: &[u8]| runner::ErrorChain(&checkpoint::decode(bytes).unwrap_err()).to_string();
        let edit = |f: &dyn Fn(&mut AgentMirror)| {
            let mut p = parts_of(source);
            let LearnerMirror::Dqn(a) = &mut p.mirror.session.learner else { unreachable!("the first source is DQN") };
            f(a);
            file_of(&p, source)
        };
        let edit_stream = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut p = parts_of(source);
            f(p.replay.as_mut().unwrap());
            file_of(&p, source)
        };
        // A header announcing u64::MAX payload bytes.
        let mut header = source.clone();
        header[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(chain(&header).contains("truncated at byte"), "{}", chain(&header));
        // A weight of shape [0, u64::MAX]: its product is 0, ndarray's limit is not.
        let text = chain(&edit(&|a| a.policy.layers[0].weight.dim = [0, usize::MAX]));
        assert!(text.contains("stored tensor fc1.weight has shape [0, 18446744073709551615] but 16 values"), "{text}");
        // Found by this fuzzer: dueling parts whose sum overflows.
        let text = chain(&edit(&|a| {
            a.policy.layout = LayoutMirror::Dueling { trunk: usize::MAX, value: 2, advantage: 1 };
        }));
        assert!(text.contains("dueling with 18446744073709551615 + 2 + 1 layers"), "{text}");
        let text = chain(&edit(&|a| a.policy.layers[1].bias.v = 0));
        assert!(text.contains("array format 0"), "{text}");
        // Counters one step from overflowing.
        let text = chain(&edit_stream(&|r| set_word(r, stream_at::PUSHES, u64::MAX)));
        assert!(text.contains("counters contradict each other"), "{text}");
        let text = chain(&edit(&|a| a.optimizer.adam().step = u64::MAX));
        assert!(text.contains("steps taken, beyond what any run reaches"), "{text}");
        let text = chain(&edit(&|a| a.optimizer.adam().exp_avg_sq.layers[0].bias.data[1] = -1.0));
        assert!(text.contains("second moment of fc1.bias[1] is negative"), "{text}");
        let text = chain(&edit(&|a| a.optimizer.adam().config.0 = 0.5));
        assert!(text.contains("optimizer's settings (Adam(AdamConfig { lr: 0.5"), "{text}");
        // A replay stream cut short, or with a byte flipped.
        let text = chain(&edit_stream(&|r| r.truncate(r.len() / 2)));
        assert!(text.contains("inside the replay buffer's stream"), "{text}");
        let mut flipped = source.clone();
        let at = flipped.len() - TRAILER - 3;
        flipped[at] ^= 0x40;
        assert!(chain(&flipped).contains("checksum does not match"), "{}", chain(&flipped));
        // A payload that stops decoding names the field where it stopped;
        // one with bytes left after its content is refused.
        let payload_len = u64::from_le_bytes(source[12..20].try_into().unwrap()) as usize;
        let rewrap = |payload: &[u8]| {
            let mut bytes = source[..12].to_vec();
            bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            bytes.extend_from_slice(&checksum(payload).to_le_bytes());
            bytes.extend_from_slice(payload);
            bytes
        };
        let payload = &source[HEADER..HEADER + payload_len];
        let text = chain(&rewrap(&payload[..payload.len() / 2]));
        assert!(text.contains("does not decode at [0][1].0") && text.contains("end of buffer"), "{text}");
        let mut padded = payload.to_vec();
        padded.extend_from_slice(&[0, 0, 0, 0]);
        let text = chain(&rewrap(&padded));
        assert!(text.contains("4 bytes after the decoded content"), "{text}");
        // Two environments' RNGs swapped (the multi-environment source).
        let mut p = parts_of(source);
        p.mirror.session.env_rngs.swap(0, 1);
        let text = chain(&file_of(&p, source));
        assert!(text.contains("random stream of TrainEnv"), "{text}");
        // Finite but meaningless: 10^300 seconds of training (printed as a
        // wall time of 300 digits), a TensorBoard file of 2^63 bytes for a
        // run that writes none.
        let mut p = parts_of(source);
        p.mirror.logs.elapsed_seconds = 1e300;
        let text = chain(&file_of(&p, source));
        assert!(text.contains("training time 1e300 s is impossible"), "{text}");
        let mut p = parts_of(source);
        p.mirror.logs.tensorboard_len = 1 << 63;
        let text = chain(&file_of(&p, source));
        assert!(text.contains("TensorBoard event file, but the run writes none"), "{text}");
    });
    // Prioritized replay's priorities, streamed after the buffer: damaged,
    // missing or cut, each is named.
    SOURCES.with(|sources| {
        let source = &sources[2];
        let chain = |bytes: &[u8]| runner::ErrorChain(&checkpoint::decode(bytes).unwrap_err()).to_string();
        let mut p = parts_of(source);
        let (max, priorities) = p.priorities.clone().expect("the Rainbow source samples by priority");
        assert!(!priorities.is_empty() && priorities.iter().all(|&v| v > 0.0 && v <= max));
        p.priorities.as_mut().unwrap().1[0] = max * 2.0;
        let text = chain(&file_of(&p, source));
        assert!(text.contains("replay priorities") && text.contains("above the largest"), "{text}");
        p.priorities = None;
        let text = chain(&file_of(&p, source));
        assert!(text.contains("truncated at byte"), "{text}");
    });
    let mut config = RunConfig { test_episodes: u32::MAX, ..RunConfig::default() };
    assert!(config.validate().is_err());
    config.test_episodes = 20;
    config.agent.hidden = vec![usize::MAX, 2];
    assert!(config.validate().is_err());
}
