//! Every environment a configuration can name gets what CartPole has:
//! exact resume from a checkpoint taken mid-episode (several environments,
//! the replay buffer wrapped, evaluations on), the same bits at any thread
//! count, its own Gymnasium rules and its id in the logs.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use runner::{Collection, EarlyStop, EnvSetting, RunConfig, RunError, Silent, TrainOptions, files, resume, train_with};

#[path = "support/run_outputs.rs"]
mod run_outputs;
use run_outputs::{in_pool, outputs};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-envs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A small run of the environment: 4 environments, updates every other
/// vector step, evaluations, a buffer smaller than the run, and short
/// episodes (the step limit lowered) so that many end within the budget.
fn small_config(env: &str, seed: u64) -> RunConfig {
    let mut c = RunConfig::for_env(env).unwrap();
    c.seed = seed;
    c.apply_override("env.max_episode_steps=60").unwrap();
    c.train_episodes = 40;
    c.test_episodes = 3;
    c.max_train_steps = Some(2_400);
    c.collection = Collection { envs: 4, update_every: 2 };
    c.early_stop = Some(EarlyStop { every_steps: 500, episodes: 2, solved_at: 1e9 });
    c.agent.hidden = vec![32, 32];
    c.agent.batch_size = 32;
    c.agent.buffer_capacity = 1_000;
    c.agent.learning_starts = 100;
    c.agent.gradient_steps = 2;
    c.agent.target_update = runner::TargetUpdate::Hard { every: 100 };
    c
}

fn options() -> TrainOptions {
    TrainOptions { checkpoint_every: 5, keep_checkpoints: 2, ..TrainOptions::default() }
}

fn check_environment(name: &str, id: &str) {
    let config = small_config(name, 3);
    assert_eq!(config.env.id(), id);
    let whole = scratch(&format!("{name}-whole"));
    let summary = in_pool(1, || train_with(&config, &whole, &options(), &mut Silent)).unwrap();
    assert_eq!((summary.env.as_str(), summary.train_steps), (id, 2_400));
    let expected = outputs(&whole);
    let train_csv = String::from_utf8(expected[0].1.clone()).unwrap();
    assert!(train_csv.lines().skip(1).all(|l| l.ends_with(&format!(",{id}"))), "{train_csv}");
    // -1 per step and a 60-step limit: every episode returns within [-60, 0].
    let returns: Vec<f64> = train_csv.lines().skip(1).map(|l| l.split(',').nth(3).unwrap().parse().unwrap()).collect();
    assert!(returns.len() >= 30 && returns.iter().all(|r| (-60.0..=0.0).contains(r)), "{returns:?}");

    // Stopped mid-step-sequence (2 401 is no multiple of anything here),
    // resumed at another thread count: the same bytes.
    let mid = scratch(&format!("{name}-mid"));
    let stop = TrainOptions { stop_after_steps: Some(1_203), ..options() };
    let stopped = in_pool(2, || train_with(&config, &mid, &stop, &mut Silent));
    assert!(matches!(stopped, Err(RunError::Interrupted { .. })), "{stopped:?}");
    in_pool(4, || resume(&mid, &options(), &mut Silent)).unwrap();
    assert_eq!(outputs(&mid), expected, "{id}: resumed at 4 threads");

    // The whole run at 2 threads: the same bytes.
    let two = scratch(&format!("{name}-two"));
    in_pool(2, || train_with(&config, &two, &options(), &mut Silent)).unwrap();
    assert_eq!(outputs(&two), expected, "{id}: 2 threads");

    // Another seed, another run.
    let other = scratch(&format!("{name}-other"));
    in_pool(1, || train_with(&small_config(name, 4), &other, &options(), &mut Silent)).unwrap();
    assert_ne!(outputs(&other)[0], expected[0]);
    for d in [whole, mid, two, other] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn mountaincar_resumes_exactly_and_ignores_the_thread_count() {
    check_environment("mountaincar", "MountainCar-v0");
}

#[test]
fn acrobot_resumes_exactly_and_ignores_the_thread_count() {
    check_environment("acrobot", "Acrobot-v1");
}

/// A checkpoint of one environment cannot be resumed as another: the
/// configuration saved beside it decides, and a swapped one is refused.
#[test]
fn a_checkpoint_belongs_to_its_environment() {
    let config = small_config("acrobot", 5);
    let dir = scratch("swap");
    let stop = TrainOptions { stop_after_steps: Some(700), ..options() };
    assert!(matches!(train_with(&config, &dir, &stop, &mut Silent), Err(RunError::Interrupted { .. })));
    let mut swapped = config.clone();
    swapped.env = EnvSetting::named("mountaincar").unwrap();
    swapped.apply_override("env.max_episode_steps=60").unwrap();
    std::fs::write(dir.join(files::CONFIG), swapped.to_ron()).unwrap();
    let err = resume(&dir, &options(), &mut Silent).unwrap_err();
    let text = runner::ErrorChain(&err).to_string();
    assert!(text.contains("configuration"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
