//! Policies in other tools' formats: safetensors written and read back
//! exactly, PyTorch-named files read by their names, and every damaged file
//! a named error.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use agent::{Architecture, DuelingStreams, Mlp, NoisyInit, NoisyLayers};
use rand::SeedableRng;
use runner::{PolicyError, parse_safetensors_policy, policy_safetensors};

fn net(architecture: &Architecture) -> Mlp<f32> {
    Mlp::build(architecture, &mut rand_chacha::ChaCha8Rng::seed_from_u64(7)).unwrap()
}

/// Rainbow's network in small: a trunk, dueling streams for 3 actions × 5
/// atoms, noisy heads.
fn rainbow_like() -> Architecture {
    Architecture {
        inputs: 6,
        hidden: vec![16],
        outputs: 15,
        dueling: Some(DuelingStreams { value_hidden: vec![8], advantage_hidden: vec![8], value_outputs: 5 }),
        noisy: Some(NoisyInit { layers: NoisyLayers::Heads, sigma0: 0.5 }),
        conv: None,
    }
}

/// Tensors by name: shape and values.
type Named = Vec<(&'static str, Vec<usize>, Vec<f32>)>;

/// A safetensors file of the given tensors (F32 unless said otherwise).
fn file(tensors: &Named, f64_name: Option<&str>) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>, safetensors::Dtype)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            if f64_name == Some(name) {
                let b = data.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
                (name.to_string(), shape.clone(), b, safetensors::Dtype::F64)
            } else {
                let b = data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name.to_string(), shape.clone(), b, safetensors::Dtype::F32)
            }
        })
        .collect();
    let views = bytes.iter().map(|(name, shape, b, dtype)| {
        (name.as_str(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), b).unwrap())
    });
    safetensors::serialize(views, None).unwrap()
}

/// The tensors of the seed's chain 4→3→2 (what PyTorch's `state_dict` of
/// `fc1`, `fc2` holds), with distinct values.
fn chain_tensors() -> Named {
    let values = |n: usize, at: f32| (0..n).map(|i| at + i as f32 * 0.125).collect::<Vec<f32>>();
    vec![
        ("fc1.weight", vec![3, 4], values(12, -0.5)),
        ("fc1.bias", vec![3], values(3, 0.25)),
        ("fc2.weight", vec![2, 3], values(6, 1.0)),
        ("fc2.bias", vec![2], values(2, -1.0)),
    ]
}

#[test]
fn safetensors_round_trip_is_exact_and_deterministic() {
    for architecture in [Architecture::sequential(&[4, 32, 32, 2]), rainbow_like()] {
        let original = net(&architecture);
        let bytes = policy_safetensors(&original);
        assert!(bytes == policy_safetensors(&original), "the same network gives the same bytes");
        let back = parse_safetensors_policy(&bytes).unwrap();
        assert_eq!(back, original, "every tensor back to the same bits, noisy σ included");
        // The header names every tensor by its PyTorch name, as F32.
        let read = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> = read.names().into_iter().map(str::to_string).collect();
        names.sort();
        let mut expected: Vec<String> = original.params().tensor_names().collect();
        expected.sort();
        assert_eq!(names, expected);
        assert!(read.iter().all(|(_, t)| t.dtype() == safetensors::Dtype::F32));
    }
}

#[test]
fn a_pytorch_state_dict_reads_by_its_names() {
    let net = parse_safetensors_policy(&file(&chain_tensors(), None)).unwrap();
    assert_eq!(net.sizes(), vec![4, 3, 2]);
    // fc1.weight is [out, in]: row 1 of it weighs input 0 by -0.5 + 4·0.125.
    let weight = &net.params().layers()[0].weight;
    assert_eq!((weight[[1, 0]], weight[[0, 3]]), (0.0, -0.125));
    assert_eq!(net.params().layers()[1].bias.to_vec(), vec![-1.0, -0.875]);
}

#[test]
fn damaged_safetensors_are_named_errors() {
    type Expected = fn(&PolicyError) -> bool;
    let with = |edit: &dyn Fn(&mut Named)| {
        let mut tensors = chain_tensors();
        edit(&mut tensors);
        file(&tensors, None)
    };
    let good = file(&chain_tensors(), None);
    let cases: Vec<(Vec<u8>, &str, Expected)> = vec![
        (good[..good.len() - 3].to_vec(), "not a readable safetensors file", |e| {
            matches!(e, PolicyError::Safetensors(_))
        }),
        (
            b"\x02\0\0\0\0\0\0\0{}".to_vec(),
            "tensor fc1.weight is missing",
            |e| matches!(e, PolicyError::MissingTensor { name } if name == "fc1.weight"),
        ),
        (
            file(&chain_tensors(), Some("fc2.bias")),
            "tensor fc2.bias is F64",
            |e| matches!(e, PolicyError::Dtype { name, .. } if name == "fc2.bias"),
        ),
        (
            with(&|t| t[0].0 = "conv1.weight"),
            "tensor conv1.weight has shape [3, 4], expected a weight",
            |e| matches!(e, PolicyError::WeightRank { name, .. } if name == "conv1.weight"),
        ),
        // A convolution's weight in a file that does not give its geometry.
        (
            with(&|t| t.push(("conv1.weight", vec![2, 1, 2, 2], vec![0.0; 8]))),
            "tensor conv1.weight [2, 1, 2, 2] is a convolution whose stride",
            |e| matches!(e, PolicyError::ConvGeometry { name, .. } if name == "conv1.weight"),
        ),
        (with(&|t| t[0].0 = "fc+1.weight"), "tensor fc+1.weight is no layer", |e| {
            matches!(e, PolicyError::UnknownName { .. })
        }),
        (with(&|t| t.push(("trunk.0.weight", vec![1, 1], vec![0.0]))), "trunk.0.weight is no layer", |e| {
            matches!(e, PolicyError::UnknownName { .. })
        }),
        (with(&|t| t[0].1 = vec![12]), "tensor fc1.weight has shape [12], expected a weight", |e| {
            matches!(e, PolicyError::WeightRank { .. })
        }),
        (with(&|t| t[3].0 = "fc2.gamma"), "tensor fc2.bias is missing", |e| {
            matches!(e, PolicyError::MissingTensor { .. })
        }),
        (with(&|t| t.push(("fc2.gamma", vec![1], vec![0.0]))), "tensor fc2.gamma is not part", |e| {
            matches!(e, PolicyError::UnexpectedTensor { .. })
        }),
        // fc1 and fc3 without fc2: the layer in between is missing.
        (
            with(&|t| t.iter_mut().skip(2).for_each(|t| t.0 = if t.1.len() == 2 { "fc3.weight" } else { "fc3.bias" })),
            "tensor fc2.weight is missing",
            |e| matches!(e, PolicyError::MissingTensor { name } if name == "fc2.weight"),
        ),
        // Widths that do not connect: fc2 reads 5 inputs from fc1's 3.
        (
            with(&|t| {
                t[2].1 = vec![2, 5];
                t[2].2 = vec![0.0; 10];
            }),
            "do not make a network",
            |e| matches!(e, PolicyError::Layers(_)),
        ),
        (with(&|t| t[1].2[2] = f32::NAN), "refused its tensors", |e| matches!(e, PolicyError::Network(_))),
        // The header names fc1.bias twice (JSON allows it; the crate keeps
        // one silently): refused, as policy.json refuses it.
        (
            {
                let mut twice = good.clone();
                let len = u64::from_le_bytes(twice[..8].try_into().unwrap()) as usize;
                let header = String::from_utf8(twice[8..8 + len].to_vec()).unwrap();
                let entry_at = header.find("\"fc1.bias\"").unwrap();
                let entry_end = entry_at + header[entry_at..].find('}').unwrap() + 1;
                let entry = header[entry_at..entry_end].to_string();
                let doubled = format!("{{{entry},{}", &header[1..]);
                let padded = format!("{doubled:<width$}", width = doubled.len().next_multiple_of(8));
                twice.splice(..8 + len, (padded.len() as u64).to_le_bytes().into_iter().chain(padded.bytes()));
                twice
            },
            "tensor fc1.bias is named twice",
            |e| matches!(e, PolicyError::DuplicateTensor { name } if name == "fc1.bias"),
        ),
    ];
    for (bytes, expected, kind) in cases {
        let err = parse_safetensors_policy(&bytes).unwrap_err();
        let chain = runner::ErrorChain(&err).to_string();
        assert!(chain.contains(expected), "expected {expected:?}, got {chain}");
        assert!(kind(&err), "{chain}");
    }
}

#[test]
fn load_policy_tells_the_formats_apart() {
    let dir = std::env::temp_dir().join(format!("dqn-interop-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let original = net(&rainbow_like());
    let (json, st) = (dir.join("policy.json"), dir.join("policy.safetensors"));
    runner::save_policy(&original, &json).unwrap();
    runner::save_policy_safetensors(&original, &st).unwrap();
    assert_eq!(runner::load_policy(&json).unwrap(), original);
    assert_eq!(runner::load_policy(&st).unwrap(), original);
    // JSON with white space before it is JSON, not a bad safetensors
    // header (its first eight bytes are no length a file can have).
    let spaced = dir.join("spaced.json");
    std::fs::write(&spaced, format!("        \n  {}", std::fs::read_to_string(&json).unwrap())).unwrap();
    assert_eq!(runner::load_policy(&spaced).unwrap(), original);
    // A damaged file of either kind is named with its path.
    std::fs::write(&st, &std::fs::read(&st).unwrap()[..100]).unwrap();
    let err = runner::ErrorChain(&runner::load_policy(&st).unwrap_err()).to_string();
    assert!(err.contains("policy.safetensors") && err.contains("safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ------------------------------------------------------------ golden cases

/// An f32 tensor in the format of `../shared/golden-format.md`.
#[derive(serde::Deserialize)]
struct GoldenTensor {
    u32: Vec<String>,
    shape: Vec<usize>,
}

impl GoldenTensor {
    fn values(&self) -> Vec<f32> {
        self.u32.iter().map(|h| f32::from_bits(u32::from_str_radix(h, 16).unwrap())).collect()
    }
}

#[derive(serde::Deserialize)]
struct GoldenC51 {
    n_atoms: usize,
    v_min: f64,
    v_max: f64,
}

/// The network a configuration makes, for a file that does not give its
/// convolutions' geometry: `agent.network`'s RON, the observation's image
/// shape (binary planes) and the actions.
#[derive(serde::Deserialize)]
struct GoldenNetwork {
    setting: String,
    image: [usize; 3],
    n_actions: usize,
}

impl GoldenNetwork {
    fn shape(&self) -> agent::Shape {
        let config =
            runner::DqnConfig { network: ron::from_str(&self.setting).unwrap(), ..runner::DqnConfig::default() };
        let len = self.image.iter().product();
        let spaces = runner::Spaces {
            frame: runner::FrameSpec { len, kind: runner::FrameKind::Bit },
            image: Some(self.image),
            n_actions: self.n_actions,
            envs: 1,
        };
        config.validate(&spaces).unwrap();
        config.shape(&spaces).unwrap()
    }
}

/// A case of `tests/generate_interop_golden.py` (unknown keys ignored).
#[derive(serde::Deserialize)]
struct GoldenCase {
    name: String,
    network: Option<GoldenNetwork>,
    c51: Option<GoldenC51>,
    obs: GoldenTensor,
    torch_q: GoldenTensor,
    onnxruntime_q: Option<GoldenTensor>,
}

fn golden_cases() -> Vec<(std::path::PathBuf, GoldenCase)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden_interop");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").exists())
        .map(|dir| {
            let case = serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
            (dir, case)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(cases.len() >= 8, "the committed cases are there");
    cases
}

/// `|a − b| ≤ rtol·|b| + atol`, the forward tolerance of the golden format.
fn assert_close(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        let tol = 1e-5 * b.abs() + 1e-6;
        assert!((a - b).abs() <= tol, "{what}: value {i}: ours {a}, theirs {b}");
    }
}

#[test]
fn exported_policies_match_pytorch_and_onnx_runtime() {
    for (dir, case) in golden_cases() {
        let path = dir.join("policy.safetensors");
        let net = match &case.network {
            None => runner::load_policy(&path).unwrap(),
            Some(network) => {
                // PyTorch's file alone does not say the strides: named error;
                // with the configuration's network, it loads.
                let alone = runner::ErrorChain(&runner::load_policy(&path).unwrap_err()).to_string();
                assert!(alone.contains("is a convolution whose stride"), "{alone}");
                runner::load_policy_like(&path, Some(&network.shape())).unwrap()
            }
        };
        let support = case.c51.as_ref().map(|c| agent::c51::Support::new(c.v_min, c.v_max, c.n_atoms).unwrap());
        assert_eq!(case.obs.shape, vec![case.obs.shape[0], net.input_dim()], "{}", case.name);
        let ours = runner::greedy_q_values(&net, support.as_ref(), &case.obs.values()).unwrap();
        assert_eq!(case.torch_q.shape[0] * case.torch_q.shape[1], ours.len(), "{}", case.name);
        assert_close(&ours, &case.torch_q.values(), &format!("{} vs PyTorch", case.name));
        if let Some(support) = &support {
            // The distributions behind those values: each a probability
            // vector whose mean over the atoms is the Q-value PyTorch gave.
            let (probs, q) = runner::greedy_distributions(&net, support, &case.obs.values()).unwrap();
            assert_eq!(q, ours, "{}: the same Q-values from the same pass", case.name);
            let means: Vec<f32> = probs
                .chunks(support.n_atoms())
                .map(|p| {
                    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5 && p.iter().all(|&x| x >= 0.0), "{}", case.name);
                    p.iter().enumerate().map(|(j, &x)| x * support.atom(j)).sum()
                })
                .collect();
            let torch = case.torch_q.values();
            for (i, (&m, &t)) in means.iter().zip(&torch).enumerate() {
                let tol = 1e-4 * t.abs() + 1e-4;
                assert!((m - t).abs() <= tol, "{}: mean of distribution {i}: {m}, PyTorch {t}", case.name);
            }
        }
        let model = dir.join("model.onnx");
        if let Some(ort) = &case.onnxruntime_q {
            assert_close(&ours, &ort.values(), &format!("{} vs ONNX Runtime", case.name));
            // The file ONNX Runtime ran is the one this build writes.
            let head = support.as_ref().map_or(runner::QHead::Values, runner::QHead::Distribution);
            let bytes = runner::onnx_model(&net, head);
            assert!(bytes == std::fs::read(&model).unwrap(), "{}: model.onnx is not what this build writes", case.name);
            // And the policy file is the one this build writes of it.
            assert!(
                policy_safetensors(&net) == std::fs::read(dir.join("policy.safetensors")).unwrap(),
                "{}",
                case.name
            );
        }
    }
}

#[test]
fn a_policy_pytorch_trained_is_tested_and_starts_training() {
    let (dir, case) = golden_cases().into_iter().find(|(_, c)| c.name == "pytorch_seed").unwrap();
    let path = dir.join("policy.safetensors");
    // Greedy actions as PyTorch's network takes them, on every row of the batch.
    let net = runner::load_policy(&path).unwrap();
    let ours = runner::greedy_q_values(&net, None, &case.obs.values()).unwrap();
    let theirs = case.torch_q.values();
    for (a, b) in ours.chunks(2).zip(theirs.chunks(2)) {
        if (b[0] - b[1]).abs() > 1e-4 {
            assert_eq!(a[0] > a[1], b[0] > b[1]);
        }
    }
    // Tested under the seed's configuration (its shape, 4-128-128-2).
    let config = runner::RunConfig { test_episodes: 5, ..runner::RunConfig::default() };
    let logs = runner::test_policy_file(&config, &path, 5, &mut runner::Silent).unwrap();
    assert_eq!(logs.len(), 5);
    assert!(logs.iter().all(|l| l.ret >= 1.0 && l.ret <= 500.0));
    // As init_policy, both networks start from it.
    let init = runner::RunConfig { init_policy: Some(path.clone()), ..config.clone() };
    let session = runner::Session::new(&init).unwrap();
    let runner::RunLearner::Dqn(agent) = session.learner() else { panic!("a DQN learner") };
    assert_eq!(agent.policy(), &net);
    assert_eq!(agent.target().params(), net.params());
    // Its key depends on the file's bytes; the TensorBoard folder changes no key.
    let key = runner::pool::run_key(&init);
    assert_ne!(key, runner::pool::run_key(&config));
    let logged = runner::RunConfig { tensorboard: Some("tb".into()), ..init.clone() };
    assert_eq!(runner::pool::run_key(&logged), key);
    // A policy of another shape is refused, naming both shapes.
    let other = runner::RunConfig { init_policy: Some(dir.join("../c51_cartpole/policy.safetensors")), ..config };
    let err = runner::ErrorChain(&runner::Session::new(&other).err().unwrap()).to_string();
    assert!(err.contains("c51_cartpole") && err.contains("the run's configuration makes"), "{err}");
}

// ------------------------------------------------------------- TensorBoard

use runner::tensorboard::{self, EventFileError};

#[test]
fn crc32c_matches_the_published_check_values() {
    // The check value of the CRC catalogue, and RFC 3720's (iSCSI) B.4 vectors.
    assert_eq!(tensorboard::crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(tensorboard::crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(tensorboard::crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    let ascending: Vec<u8> = (0..32).collect();
    assert_eq!(tensorboard::crc32c(&ascending), 0x46DD_794E);
    // Masking: rotate right by 15, add 0xa282ead8 (by hand for 0xE3069283:
    // the low 15 bits 0x1283 move to the top).
    assert_eq!(0xE306_9283u32.rotate_right(15), 0x2507_C60D);
    assert_eq!(tensorboard::masked_crc32c(b"123456789"), 0x2507_C60Du32.wrapping_add(0xa282_ead8));
}

#[test]
fn event_records_read_back_and_damage_is_named() {
    let mut bytes = tensorboard::file_version_record(1.5);
    let second = bytes.len() as u64;
    bytes.extend(tensorboard::scalars_record(2.5, 42, &[("train/return", 17.0), ("train/loss", 0.25)]));
    let events = tensorboard::read_events(&bytes).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].file_version.as_deref(), Some(tensorboard::FILE_VERSION));
    assert_eq!((events[1].wall_time, events[1].step), (2.5, 42));
    assert_eq!(events[1].scalars, vec![("train/return".to_string(), 17.0), ("train/loss".to_string(), 0.25)]);
    let cut = &bytes[..bytes.len() - 1];
    assert_eq!(tensorboard::read_events(cut), Err(EventFileError::Truncated { offset: second }));
    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(tensorboard::read_events(&flipped), Err(EventFileError::Checksum { offset: second }));
    // A length that claims more than the file holds is a truncation, not an allocation.
    let mut long = bytes[..second as usize].to_vec();
    let len = u64::MAX.to_le_bytes();
    long.extend_from_slice(&len);
    long.extend_from_slice(&tensorboard::masked_crc32c(&len).to_le_bytes());
    assert_eq!(tensorboard::read_events(&long), Err(EventFileError::Truncated { offset: second }));
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A short run with evaluations, so every kind of scalar is written.
fn logged_config() -> runner::RunConfig {
    let mut config =
        runner::RunConfig { seed: 3, train_episodes: 30, test_episodes: 4, ..runner::RunConfig::default() };
    config.agent.hidden = vec![32, 32];
    config.agent.lr = 1e-3;
    config.early_stop = Some(runner::EarlyStop { every_steps: 200, episodes: 2, solved_at: 1e9 });
    config
}

/// An event without its wall time: step, file version, scalars.
type Untimed = (i64, Option<String>, Vec<(String, f32)>);

/// The events of a file without their wall times.
fn events_of(path: &std::path::Path) -> Vec<Untimed> {
    let events = tensorboard::read_events(&std::fs::read(path).unwrap()).unwrap();
    events.into_iter().map(|e| (e.step, e.file_version, e.scalars)).collect()
}

#[test]
fn tensorboard_logs_the_run_and_changes_no_result() {
    let root = scratch("tb");
    let plain = root.join("plain");
    let logged = root.join("logged");
    let config = logged_config();
    runner::train(&config, &plain, &mut runner::Silent).unwrap();
    let with_tb = runner::RunConfig { tensorboard: Some(root.join("tb")), ..config.clone() };
    runner::train(&with_tb, &logged, &mut runner::Silent).unwrap();
    for file in [runner::files::TRAIN_CSV, runner::files::TEST_CSV, runner::files::EVAL_CSV, runner::files::POLICY] {
        assert!(std::fs::read(plain.join(file)).unwrap() == std::fs::read(logged.join(file)).unwrap(), "{file}");
    }
    // The events are train.csv's, eval.csv's and test.csv's numbers.
    let events = events_of(&root.join("tb/logged").join(runner::EVENT_FILE));
    assert_eq!(events[0].1.as_deref(), Some(tensorboard::FILE_VERSION));
    let train = std::fs::read_to_string(logged.join(runner::files::TRAIN_CSV)).unwrap();
    let rows: Vec<Vec<&str>> = train.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let train_events: Vec<_> = events.iter().filter(|e| e.2.iter().any(|(t, _)| t == "train/return")).collect();
    assert_eq!(train_events.len(), rows.len());
    for (row, (step, _, scalars)) in rows.iter().zip(&train_events) {
        let value = |tag: &str| scalars.iter().find(|(t, _)| t == tag).map(|&(_, v)| v);
        assert_eq!(step.to_string(), row[2], "the step is total_steps");
        assert_eq!(value("train/return"), Some(row[3].parse::<f64>().unwrap() as f32));
        assert_eq!(value("train/episode_length"), Some(row[1].parse::<f64>().unwrap() as f32));
        assert_eq!(value("train/epsilon"), Some(row[4].parse::<f64>().unwrap() as f32));
        assert_eq!(value("train/loss"), row[5].parse::<f64>().ok().map(|l| l as f32));
        assert_eq!(value("train/q_probe"), Some(row[6].parse::<f64>().unwrap() as f32));
        assert!(value("train/steps_per_second").is_some_and(|v| v > 0.0));
    }
    let evals = std::fs::read_to_string(logged.join(runner::files::EVAL_CSV)).unwrap().lines().count() - 1;
    let eval_events = events.iter().filter(|e| e.2.iter().any(|(t, _)| t == "eval/mean_return")).count();
    assert!(evals > 0);
    assert_eq!(eval_events, evals);
    let tests = events.iter().filter(|e| e.2.iter().any(|(t, _)| t == "test/return")).count();
    assert_eq!(tests, 4);
    // A second run into the same file is refused, and the first file kept.
    let again = runner::train(&with_tb, &root.join("x").join("logged"), &mut runner::Silent).unwrap_err();
    assert!(runner::ErrorChain(&again).to_string().contains(runner::EVENT_FILE), "{again}");
    assert_eq!(events_of(&root.join("tb/logged").join(runner::EVENT_FILE)), events);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_resumed_run_logs_the_same_events_as_one_never_stopped() {
    let root = scratch("tb-resume");
    let config = runner::RunConfig { tensorboard: Some(root.join("tb")), ..logged_config() };
    runner::train(&config, &root.join("whole"), &mut runner::Silent).unwrap();
    let stopped = root.join("stopped");
    let options = runner::TrainOptions { stop_after_steps: Some(250), checkpoint_every: 5, ..Default::default() };
    let err = runner::train_with(&config, &stopped, &options, &mut runner::Silent).unwrap_err();
    assert!(matches!(err, runner::RunError::Interrupted { .. }), "{err}");
    // Events written after the checkpoint (none here) or a torn last record
    // are cut back: append garbage as a crash mid-write would.
    let file = root.join("tb/stopped").join(runner::EVENT_FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&file, bytes).unwrap();
    runner::resume(&stopped, &runner::TrainOptions::default(), &mut runner::Silent).unwrap();
    // Equal but for the clock: wall times and steps per second.
    let untimed = |path: &std::path::Path| {
        let mut events = events_of(path);
        events.iter_mut().for_each(|e| e.2.retain(|(tag, _)| tag != "train/steps_per_second"));
        events
    };
    assert_eq!(untimed(&file), untimed(&root.join("tb/whole").join(runner::EVENT_FILE)));
    std::fs::remove_dir_all(&root).unwrap();
}
