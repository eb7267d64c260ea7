//! Catch end to end: an image environment (binary planes) trained by an
//! MLP on the flattened board, from the `--env catch` preset, and by a
//! convolutional network; exact resume of image runs with stacked frames
//! (and convolutions, RMSprop, dueling heads), at any thread count.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use runner::{
    Collection, ConvLayer, Network, OptimizerChoice, Padding, RunConfig, RunError, Silent, Stacking, TrainOptions,
    files, resume, train_with,
};

#[path = "support/run_outputs.rs"]
mod run_outputs;
use run_outputs::{in_pool, outputs};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-catch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn column(dir: &Path, file: &str, name: &str) -> Vec<f64> {
    let csv = std::fs::read_to_string(dir.join(file)).unwrap();
    let mut lines = csv.lines();
    let at = lines.next().unwrap().split(',').position(|c| c == name).unwrap();
    lines.map(|l| l.split(',').nth(at).unwrap().parse().unwrap()).collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The preset with a quarter of its budget and a faster epsilon: still
/// catches at least 90 of 100 balls, where its first episodes (nearly
/// random actions) miss most.
#[test]
fn catch_is_learnt_from_the_board() {
    let mut config = RunConfig::for_env("catch").unwrap();
    config.seed = 21;
    config.max_train_steps = Some(5_000);
    config.agent.epsilon.decay = 2_000.0;
    assert_eq!(config.test_episodes, 100);
    let dir = scratch("learn");
    let summary = train_with(&config, &dir, &TrainOptions::default(), &mut Silent).unwrap();
    assert_eq!((summary.env.as_str(), summary.train_steps), (catch_sim::ID, 5_000));
    let train = column(&dir, files::TRAIN_CSV, "return");
    assert!(train.iter().all(|&r| r == 1.0 || r == -1.0), "every episode catches or misses");
    let first = mean(&train[..50]);
    let test = column(&dir, files::TEST_CSV, "return");
    assert_eq!(test.len(), 100);
    assert!(mean(&test) >= 0.9, "greedy test mean {} (first 50 training episodes {first})", mean(&test));
    assert!(first < 0.0, "the first episodes act at random: {first}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Three boards stacked (zero-padded at an episode's start), three
/// environments, 2-step returns, a buffer that wraps, evaluations: stopped
/// mid-way at one thread count and resumed at another, the same bytes.
#[test]
fn stacked_image_runs_resume_byte_for_byte_at_any_thread_count() {
    let mut config = RunConfig::for_env("catch").unwrap();
    config.seed = 8;
    config.max_train_steps = Some(1_800);
    config.test_episodes = 10;
    config.collection = Collection { envs: 3, update_every: 2 };
    config.early_stop = Some(runner::EarlyStop { every_steps: 400, episodes: 5, solved_at: 2.0 });
    config.agent.stack = Stacking::of(3, Padding::Zeros);
    config.agent.n_step = 2;
    config.agent.buffer_capacity = 500;
    config.agent.hidden = vec![32];
    let options = TrainOptions { checkpoint_every: 20, keep_checkpoints: 2, ..TrainOptions::default() };
    let whole = scratch("stack-whole");
    in_pool(1, || train_with(&config, &whole, &options, &mut Silent)).unwrap();
    let expected = outputs(&whole);
    let evaluations = expected[2].1.iter().filter(|&&b| b == b'\n').count() - 1;
    assert_eq!(evaluations, 4, "an evaluation every 400 of 1 800 steps");

    let mid = scratch("stack-mid");
    let stop = TrainOptions { stop_after_steps: Some(901), ..options.clone() };
    let stopped = in_pool(2, || train_with(&config, &mid, &stop, &mut Silent));
    assert!(matches!(stopped, Err(RunError::Interrupted { checkpoint: Some(_), .. })), "{stopped:?}");
    in_pool(3, || resume(&mid, &options, &mut Silent)).unwrap();
    assert_eq!(outputs(&mid), expected, "resumed at another thread count");

    // The stack is part of what is learnt: one frame is another run.
    let mut single = config.clone();
    single.agent.stack = Stacking::default();
    let other = scratch("stack-single");
    in_pool(1, || train_with(&single, &other, &options, &mut Silent)).unwrap();
    assert_ne!(outputs(&other)[0], expected[0]);
    for d in [whole, mid, other] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// The same budget with Young & Tian's MinAtar network reading the board as
/// an image (`presets/catch-cnn.ron` with a quarter of its steps).
#[test]
fn a_convolutional_network_learns_catch() {
    let mut config = RunConfig::for_env("catch").unwrap();
    config.seed = 21;
    config.max_train_steps = Some(5_000);
    config.agent.epsilon.decay = 2_000.0;
    config.agent.hidden = RunConfig::default().agent.hidden;
    config.agent.network = Some(Network::MinAtar);
    let dir = scratch("conv-learn");
    train_with(&config, &dir, &TrainOptions::default(), &mut Silent).unwrap();
    let test = column(&dir, files::TEST_CSV, "return");
    let first = mean(&column(&dir, files::TRAIN_CSV, "return")[..50]);
    assert!(mean(&test) >= 0.9, "greedy test mean {} (first 50 training episodes {first})", mean(&test));
    assert!(first < 0.0, "the first episodes act at random: {first}");
    // Its policy file names the convolution as PyTorch would.
    let policy = std::fs::read_to_string(dir.join(files::POLICY)).unwrap();
    assert!(policy.contains("\"conv1.weight\":{\"shape\":[16,1,3,3]"), "{}", &policy[..200]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two stacked boards through a padded, strided convolution and a valid
/// one, dueling heads, centered RMSprop, two environments: stopped and
/// resumed at other thread counts, the same bytes.
#[test]
fn convolutional_runs_resume_byte_for_byte_at_any_thread_count() {
    let mut config = RunConfig::for_env("catch").unwrap();
    config.seed = 9;
    config.max_train_steps = Some(1_200);
    config.test_episodes = 10;
    config.collection = Collection { envs: 2, update_every: 1 };
    config.agent.stack = Stacking::of(2, Padding::Repeat);
    config.agent.network = Some(Network::Conv(vec![
        ConvLayer { out_channels: 4, kernel: 3, stride: 2, padding: 1 },
        ConvLayer { out_channels: 6, kernel: 2, stride: 1, padding: 0 },
    ]));
    config.agent.hidden = vec![16];
    config.agent.dueling = Some(runner::Dueling { value_hidden: vec![8], advantage_hidden: vec![] });
    config.agent.optimizer = OptimizerChoice::RmsProp { alpha: 0.95, eps: 0.01, centered: true };
    config.agent.chunk_rows = 8;
    config.agent.buffer_capacity = 400;
    let options = TrainOptions { checkpoint_every: 20, keep_checkpoints: 2, ..TrainOptions::default() };
    let whole = scratch("conv-whole");
    in_pool(1, || train_with(&config, &whole, &options, &mut Silent)).unwrap();
    let expected = outputs(&whole);
    let mid = scratch("conv-mid");
    let stop = TrainOptions { stop_after_steps: Some(601), ..options.clone() };
    let stopped = in_pool(4, || train_with(&config, &mid, &stop, &mut Silent));
    assert!(matches!(stopped, Err(RunError::Interrupted { checkpoint: Some(_), .. })), "{stopped:?}");
    in_pool(2, || resume(&mid, &options, &mut Silent)).unwrap();
    assert_eq!(outputs(&mid), expected, "resumed at another thread count");
    // The optimizer is part of the run: Adam is another.
    let mut adam = config.clone();
    adam.agent.optimizer = OptimizerChoice::Adam;
    let other = scratch("conv-adam");
    in_pool(1, || train_with(&adam, &other, &options, &mut Silent)).unwrap();
    assert_ne!(outputs(&other)[0], expected[0]);
    for d in [whole, mid, other] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
