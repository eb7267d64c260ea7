//! MinAtar end to end (with the `minatar` feature): `--env minatar-<game>`
//! is Young & Tian's DQN on that game, a configuration file names a game
//! and its settings, and a vectorized run stopped mid-episode resumes to
//! the same bytes at another thread count.
#![cfg(feature = "minatar")]
// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use runner::{
    Collection, ConfigError, EnvSetting, ErrorChain, Network, OptimizerChoice, RunConfig, RunError, Silent,
    TrainOptions, resume, train_with,
};

#[path = "support/run_outputs.rs"]
mod run_outputs;
use run_outputs::{in_pool, outputs};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-minatar-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn each_game_name_is_young_and_tians_dqn_on_that_game() {
    let names = [
        ("minatar-asterix", "MinAtar/Asterix-v0"),
        ("minatar-breakout", "MinAtar/Breakout-v0"),
        ("minatar-freeway", "MinAtar/Freeway-v0"),
        ("minatar-seaquest", "MinAtar/Seaquest-v0"),
        ("minatar-space-invaders", "MinAtar/SpaceInvaders-v0"),
        ("MinAtar-Space_Invaders-v1", "MinAtar/SpaceInvaders-v1"),
        ("minatar-breakout-v1", "MinAtar/Breakout-v1"),
    ];
    for (name, id) in names {
        let config = RunConfig::for_env(name).unwrap();
        assert_eq!(config.env.id(), id, "{name}");
        assert_eq!(config.env.max_episode_steps(), None);
        assert_eq!(config.agent.network, Some(Network::MinAtar));
        assert_eq!(config.agent.optimizer, OptimizerChoice::RmsProp { alpha: 0.95, eps: 0.01, centered: true });
        assert_eq!((config.agent.lr, config.agent.gamma, config.agent.batch_size), (0.00025, 0.99, 32));
        // examples/dqn.py learns from frame 5 001, with 5 002 transitions
        // stored; ε is 1 for 5 000 frames; the copy follows every 1 000th update.
        assert_eq!((config.max_train_steps, config.agent.learning_starts), (Some(5_000_000), 5_002));
        assert_eq!(config.agent.epsilon.shape, runner::EpsilonShape::HeldLinear { hold: 5001 });
        assert_eq!(config.agent.target_update, runner::TargetUpdate::HardUpdates { every: 1000 });
        let spec = config.env_family().unwrap().spec();
        assert_eq!(spec.id, id);
        assert_eq!(spec.obs.shape()[1..], [10, 10]);
    }
    for listed in runner::ENV_NAMES.iter().filter(|n| n.starts_with("minatar-")) {
        assert!(EnvSetting::named(listed).is_some(), "{listed}");
    }
    let unknown = RunConfig::for_env("minatar-pong").unwrap_err();
    assert!(
        matches!(&unknown, ConfigError::Invalid { field, reason } if field == "--env" && reason.contains("minatar-pong"))
    );
}

#[test]
fn a_configuration_file_names_a_game_and_its_settings() {
    let text = "(env: MinAtar(game: Freeway, sticky_action_prob: 0.0, difficulty_ramping: false, actions: Minimal))";
    let config = RunConfig::from_ron(text, "test").unwrap();
    assert_eq!(config.env.id(), "MinAtar/Freeway-v1");
    assert_eq!(config.env_family().unwrap().spec().n_actions, 3);
    let bad = RunConfig::from_ron("(env: MinAtar(game: Breakout, sticky_action_prob: 2.0))", "test").unwrap();
    let error = ErrorChain(&bad.env_family().unwrap_err()).to_string();
    assert!(error.contains("sticky_action_prob"), "{error}");
    assert!(RunConfig::from_ron("(env: MinAtar(game: Pong))", "test").is_err());
    // The setting goes through a run folder's config.ron and back.
    assert_eq!(RunConfig::from_ron(&config.to_ron(), "saved").unwrap(), config);
}

/// Three Seaquest games, stopped mid-episode on 4 threads and resumed on 2:
/// the bytes of a run never stopped, on 1.
#[test]
fn a_vectorized_minatar_run_resumes_byte_for_byte_mid_episode() {
    let mut config = RunConfig::for_env("minatar-seaquest").unwrap();
    config.seed = 4;
    config.max_train_steps = Some(1_500);
    config.test_episodes = 3;
    config.collection = Collection { envs: 3, update_every: 1 };
    config.agent.learning_starts = 200;
    config.agent.buffer_capacity = 1_000;
    config.agent.chunk_rows = 16;
    let options = TrainOptions { checkpoint_every: 20, keep_checkpoints: 2, ..TrainOptions::default() };
    let whole = scratch("whole");
    in_pool(1, || train_with(&config, &whole, &options, &mut Silent)).unwrap();
    let expected = outputs(&whole);
    let mid = scratch("mid");
    let stop = TrainOptions { stop_after_steps: Some(601), ..options.clone() };
    let stopped = in_pool(4, || train_with(&config, &mid, &stop, &mut Silent));
    assert!(matches!(stopped, Err(RunError::Interrupted { checkpoint: Some(_), .. })), "{stopped:?}");
    in_pool(2, || resume(&mid, &options, &mut Silent)).unwrap();
    assert_eq!(outputs(&mid), expected, "resumed at another thread count");
    let train = std::fs::read_to_string(whole.join("train.csv")).unwrap();
    assert!(train.lines().nth(1).unwrap().ends_with("MinAtar/Seaquest-v0"), "{train:.200}");
    for d in [whole, mid] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// `presets/minatar/<game>-dqn.ron` are the settings `--env minatar-<game>`
/// runs, written out: a test keeps them from drifting apart.
#[test]
fn the_written_out_presets_equal_the_embedded_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../presets/minatar");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let game = file.strip_suffix("-dqn.ron").unwrap();
        let written = RunConfig::from_file(&path).unwrap();
        assert_eq!(written, RunConfig::for_env(&format!("minatar-{game}")).unwrap(), "{file}");
        seen += 1;
    }
    assert_eq!(seen, 5);
}
