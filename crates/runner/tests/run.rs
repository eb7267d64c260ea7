//! End to end: a short run learns, is reproducible at any thread count,
//! and its folder and policy file are handled safely.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use runner::{ErrorChain, PolicyError, RunConfig, RunError, Silent, files, load_policy, test_saved, train};

/// A fresh, empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-runner-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The seed's algorithm with a smaller, faster-learning network: 80
/// episodes take well under a second optimized.
fn short_config(seed: u64) -> RunConfig {
    let mut config = RunConfig { seed, train_episodes: 80, test_episodes: 10, ..RunConfig::default() };
    config.agent.hidden = vec![64, 64];
    config.agent.lr = 1e-3;
    config
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn a_short_run_learns_to_balance() {
    let dir = scratch("learns");
    let summary = train(&short_config(0), &dir, &mut Silent).unwrap();
    // A uniformly random policy balances for about 22 steps on average.
    assert!(summary.test_mean > 150.0, "greedy test mean {} after {} steps", summary.test_mean, summary.train_steps);
    assert_eq!(summary.test_returns.len(), 10);
    for name in [files::CONFIG, files::TRAIN_CSV, files::TIMING_CSV, files::TEST_CSV, files::POLICY, files::SUMMARY] {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    let train_csv = std::fs::read_to_string(dir.join(files::TRAIN_CSV)).unwrap();
    assert_eq!(train_csv.lines().count(), 81, "a header and one line per episode");
    assert!(train_csv.starts_with("episode,steps,total_steps,return,epsilon,mean_loss,q_probe,env\n1,"));
    // The saved configuration and policy reproduce the run's own test.
    let again: Vec<f64> = test_saved(&dir, 10, &mut Silent).unwrap().iter().map(|t| t.ret).collect();
    assert_eq!(again, summary.test_returns);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn run_files(dir: &Path) -> Vec<Vec<u8>> {
    [files::TRAIN_CSV, files::TEST_CSV, files::POLICY, files::CONFIG]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

#[test]
fn same_seed_same_bits_at_1_2_and_4_threads() {
    let mut config = short_config(5);
    config.train_episodes = 30;
    let (a, b, c, d) = (scratch("det-a"), scratch("det-b"), scratch("det-c"), scratch("det-d"));
    in_pool(1, || train(&config, &a, &mut Silent)).unwrap();
    in_pool(2, || train(&config, &b, &mut Silent)).unwrap();
    in_pool(4, || train(&config, &d, &mut Silent)).unwrap();
    let one = run_files(&a);
    assert_eq!(one, run_files(&b), "train.csv, test.csv and policy bits must not depend on the thread count (2)");
    assert_eq!(one, run_files(&d), "train.csv, test.csv and policy bits must not depend on the thread count (4)");
    std::fs::remove_dir_all(&d).unwrap();
    config.seed = 6;
    in_pool(1, || train(&config, &c, &mut Silent)).unwrap();
    assert_ne!(run_files(&a)[0], run_files(&c)[0], "another seed, another run");
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn runs_never_overwrite_and_bad_configs_start_nothing() {
    let dir = scratch("occupied");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let err = train(&short_config(0), &dir, &mut Silent).unwrap_err();
    assert!(matches!(err, RunError::RunDirNotEmpty { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    std::fs::remove_dir_all(&dir).unwrap();

    let dir = scratch("invalid");
    let mut config = short_config(0);
    config.agent.gamma = 2.0;
    let err = train(&config, &dir, &mut Silent).unwrap_err();
    assert!(matches!(&err, RunError::Config(e) if e.field().as_deref() == Some("agent.gamma")), "{err:?}");
    assert_eq!(ErrorChain(&err).to_string(), "invalid configuration: agent.gamma: 2 is outside [0, 1]");
    assert!(!dir.exists(), "nothing is created for an invalid configuration");

    // A path under a regular file cannot become a folder.
    let file = scratch("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = train(&short_config(0), &file.join("run"), &mut Silent).unwrap_err();
    assert!(matches!(err, RunError::Io { action: "create run folder", .. }), "{err}");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn damaged_policy_files_are_reported_not_panicked_on() {
    let dir = scratch("policy");
    let mut config = short_config(0);
    config.train_episodes = 2;
    train(&config, &dir, &mut Silent).unwrap();
    let path = dir.join(files::POLICY);
    let good = std::fs::read_to_string(&path).unwrap();
    let net = load_policy(&path).unwrap();
    assert_eq!(net.sizes(), vec![4, 64, 64, 2]);

    type Expected = fn(&PolicyError) -> bool;
    let layer = |inputs: u64, outputs: u64| format!(r#"{{"inputs":{inputs},"outputs":{outputs},"noisy":false}}"#);
    let chain_64 = format!("{},{},{}", layer(4, 64), layer(64, 64), layer(64, 2));
    assert!(good.contains(&chain_64), "{}", &good[..200]);
    let cases: [(String, &str, Expected); 7] = [
        (String::new(), "not a policy file", |e| matches!(e, PolicyError::Json(_))),
        (good[..good.len() / 2].to_string(), "not a policy file", |e| matches!(e, PolicyError::Json(_))),
        (good.replace("\"version\":2", "\"version\":9"), "version 9", |e| {
            matches!(e, PolicyError::Format { version: 9, .. })
        }),
        (
            good.replace("fc2.bias", "fc2.biax"),
            "tensor fc2.bias is missing",
            |e| matches!(e, PolicyError::MissingTensor { name } if name == "fc2.bias"),
        ),
        (
            good.replace(&chain_64, &format!("{},{},{}", layer(4, 64), layer(64, 65), layer(65, 2))),
            "tensor fc2.weight has shape [64, 64]",
            |e| matches!(e, PolicyError::TensorShape { name, .. } if name == "fc2.weight"),
        ),
        // Widths whose product overflows a usize: refused before any product is formed.
        (good.replace(&chain_64, &layer(4_294_967_296, 4_294_967_296)), "more than", |e| {
            matches!(e, PolicyError::TooLarge { .. })
        }),
        // Dueling parts whose advantage outputs (2) are no multiple of the value outputs (64).
        (good.replace("\"Sequential\"", r#"{"Dueling":{"trunk":1,"value":1,"advantage":1}}"#), "not a multiple", |e| {
            matches!(e, PolicyError::Layers(_))
        }),
    ];
    // A version-1 file (a chain given by its sizes) still loads.
    let tensors = &good[good.find("\"tensors\"").unwrap()..];
    let v1 = format!(r#"{{"format":"dqn-rs policy","version":1,"sizes":[4,64,64,2],{tensors}"#);
    assert_eq!(runner::parse_policy(&v1).unwrap(), net);
    for (text, expected, kind) in cases {
        std::fs::write(&path, &text).unwrap();
        let err = load_policy(&path).unwrap_err();
        let chain = ErrorChain(&err).to_string();
        assert!(chain.contains(expected) && chain.contains("policy.json"), "expected {expected:?}, got {chain}");
        match &err {
            RunError::Policy { source, .. } => assert!(kind(source), "{chain}"),
            other => panic!("expected a policy error, got {other:?}"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_disk_is_an_error_naming_the_file() {
    // /dev/full accepts an open and fails every write with ENOSPC, as a full
    // disk does.
    let full = Path::new("/dev/full");
    if !full.exists() {
        return; // not a Linux system: nothing to simulate with
    }
    let mut rng_config = short_config(0);
    rng_config.train_episodes = 1;
    let dir = scratch("full-source");
    train(&rng_config, &dir, &mut Silent).unwrap();
    let net = load_policy(&dir.join(files::POLICY)).unwrap();
    let err = ErrorChain(&runner::save_policy(&net, full).unwrap_err()).to_string();
    assert!(err.starts_with("cannot write policy /dev/full:") && err.contains("No space left"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `agent.arithmetic: Fused` is a run of its own: the same bits at 1 and 2
/// threads (and resumed mid-way, at 4), other bits than the default.
#[test]
fn fused_arithmetic_is_deterministic_and_its_own_run() {
    let mut config = short_config(3);
    config.train_episodes = 30;
    config.collection = runner::Collection { envs: 2, update_every: 1 };
    let separate = scratch("fma-separate");
    in_pool(1, || train(&config, &separate, &mut Silent)).unwrap();
    config.agent.arithmetic = runner::Arithmetic::Fused;
    let (one, two, resumed) = (scratch("fma-1"), scratch("fma-2"), scratch("fma-resumed"));
    in_pool(1, || train(&config, &one, &mut Silent)).unwrap();
    in_pool(2, || train(&config, &two, &mut Silent)).unwrap();
    let stop = runner::TrainOptions { stop_after_steps: Some(233), ..runner::TrainOptions::default() };
    let stopped = in_pool(2, || runner::train_with(&config, &resumed, &stop, &mut Silent));
    assert!(matches!(stopped, Err(RunError::Interrupted { .. })), "{stopped:?}");
    in_pool(4, || runner::resume(&resumed, &runner::TrainOptions::default(), &mut Silent)).unwrap();
    let files = |d: &Path| run_files(d)[..3].to_vec();
    assert_eq!(files(&one), files(&two), "fused: 1 and 2 threads");
    assert_eq!(files(&one), files(&resumed), "fused: resumed at 4 threads");
    assert_ne!(files(&one)[0], files(&separate)[0], "fused rounding is another run");
    for d in [separate, one, two, resumed] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// A dueling network with noisy streams saves with its layout and PyTorch's
/// names, and reads back to the same parameters.
#[test]
fn dueling_noisy_policies_round_trip_with_their_layout() {
    use rand::SeedableRng;
    let arch = agent::Architecture {
        inputs: 4,
        hidden: vec![8],
        outputs: 2 * 3,
        dueling: Some(agent::DuelingStreams { value_hidden: vec![5], advantage_hidden: vec![], value_outputs: 3 }),
        noisy: Some(agent::NoisyInit { layers: agent::NoisyLayers::Heads, sigma0: 0.5 }),
        conv: None,
    };
    let net = agent::Mlp::build(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3)).unwrap();
    let dir = scratch("dueling-policy");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.json");
    runner::save_policy(&net, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for name in ["trunk.0.weight", "value.0.weight_mu", "value.1.bias_sigma", "advantage.0.weight_sigma"] {
        assert!(text.contains(&format!("\"{name}\"")), "{name} in {}", &text[..300]);
    }
    assert!(text.contains(r#""layout":{"Dueling":{"trunk":1,"value":2,"advantage":1}}"#));
    assert_eq!(load_policy(&path).unwrap(), net);
    // A σ tensor left out is named.
    std::fs::write(&path, text.replace("value.1.bias_sigma", "value.1.bias_sigmx")).unwrap();
    let err = ErrorChain(&load_policy(&path).unwrap_err()).to_string();
    assert!(err.contains("tensor value.1.bias_sigma is missing"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
