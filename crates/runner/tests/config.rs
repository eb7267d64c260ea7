//! The configuration: the embedded default, partial files, overrides, and
//! errors that name the field.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use agent::TargetUpdate;
use proptest::prelude::*;
use runner::{
    ConfigError, DEFAULT_RON, EnvSetting, ErrorChain, IntegratorSetting, LearnerSetting, LossKind, RunConfig,
    SETTABLE_KEYS,
};

#[test]
fn the_embedded_default_is_the_seed_chapter() {
    let config = RunConfig::from_ron(DEFAULT_RON, "default.ron").unwrap();
    assert_eq!(config, RunConfig::default());
    let a = &config.agent;
    assert_eq!((config.train_episodes, config.test_episodes, config.env.max_episode_steps()), (200, 20, Some(500)));
    assert_eq!(
        (a.hidden.as_slice(), a.gamma, a.lr, a.batch_size, a.buffer_capacity),
        ([128, 128].as_slice(), 0.95, 1e-4, 64, 100_000)
    );
    assert_eq!((a.epsilon.start, a.epsilon.end, a.epsilon.decay), (0.95, 0.01, 500.0));
    assert_eq!((a.target_update, a.grad_clip), (TargetUpdate::Hard { every: 4 }, Some(1.0)));
    config.validate().unwrap();
    // What a run folder saves reads back to the same configuration.
    assert_eq!(RunConfig::from_ron(&config.to_ron(), "saved").unwrap(), config);
}

#[test]
fn n_step_and_prioritized_replay_are_settings() {
    let config = RunConfig::from_ron("(agent: (n_step: 3, sampling: Prioritized((alpha: 0.5))))", "f.ron").unwrap();
    let expected = runner::Prioritized { alpha: 0.5, ..runner::Prioritized::default() };
    assert_eq!((config.agent.n_step, config.agent.sampling), (3, runner::Sampling::Prioritized(expected)));
    assert_eq!(RunConfig::from_ron(&config.to_ron(), "saved").unwrap(), config);
    let mut set = RunConfig::default();
    set.apply_override("agent.n_step=5").unwrap();
    set.apply_override("agent.sampling=Prioritized(())").unwrap();
    let paper = runner::Prioritized { alpha: 0.6, beta_start: 0.4, beta_steps: 100_000, eps: 1e-6 };
    assert_eq!((set.agent.n_step, set.agent.sampling), (5, runner::Sampling::Prioritized(paper)));
    set.apply_override("agent.n_step=0").unwrap();
    let err = set.validate().unwrap_err();
    assert!(err.to_string().contains("n_step"), "{err}");
}

#[test]
fn a_partial_file_keeps_the_defaults_for_the_rest() {
    let config = RunConfig::from_ron(
        "(seed: 7, agent: (lr: 3e-4, loss: Huber(delta: 1.0)), env: (integrator: SemiImplicitEuler))",
        "f.ron",
    )
    .unwrap();
    assert_eq!((config.seed, config.agent.lr, config.agent.loss), (7, 3e-4, LossKind::Huber { delta: 1.0 }));
    // The older form of `env` (before there were several) is CartPole's.
    let cartpole = EnvSetting::CartPole { max_episode_steps: 500, integrator: IntegratorSetting::SemiImplicitEuler };
    assert_eq!(config.env, cartpole);
    assert_eq!(config.agent.batch_size, 64);
}

/// The configuration names its environment, each with its own settings and
/// Gymnasium's step limit by default; the older CartPole form still reads;
/// a wrong setting is refused with a message saying what is expected.
#[test]
fn environments_are_named_with_their_own_settings() {
    let env = |text: &str| RunConfig::from_ron(&format!("(env: {text})"), "f.ron").map(|c| c.env);
    assert_eq!(env("MountainCar()").unwrap(), EnvSetting::MountainCar { max_episode_steps: 200, goal_velocity: 0.0 });
    assert_eq!(env("Acrobot(max_episode_steps: 300)").unwrap(), EnvSetting::Acrobot { max_episode_steps: 300 });
    assert_eq!(env("CartPole(integrator: Euler)").unwrap(), EnvSetting::default());
    assert_eq!(env("(max_episode_steps: 200)").unwrap().max_episode_steps(), Some(200));
    for wrong in ["MountainCar(integrator: Euler)", "Pendulum()", "(name: 3)", "Acrobot(max_episode_steps: -1)"] {
        let err = ErrorChain(&env(wrong).unwrap_err()).to_string();
        assert!(err.contains("expected CartPole(") && err.contains("Acrobot("), "{wrong}: {err}");
    }
    for name in runner::ENV_NAMES {
        let mut config = RunConfig { env: EnvSetting::named(name).unwrap(), ..RunConfig::default() };
        assert_eq!(RunConfig::from_ron(&config.to_ron(), "saved").unwrap(), config, "{name}");
        if name.starts_with("minatar-") {
            // MinAtar has no step limit (Freeway ends itself).
            let err = config.apply_override("env.max_episode_steps=17").unwrap_err();
            assert!(err.to_string().contains("no step limit"), "{err}");
            continue;
        }
        if *name == "catch" {
            // Every episode of Catch ends on step 9: there is no limit to set.
            let err = config.apply_override("env.max_episode_steps=17").unwrap_err();
            assert!(err.to_string().contains("no step limit"), "{err}");
            let spec = config.env_spec().unwrap();
            assert_eq!((spec.max_episode_steps, spec.obs.shape()), (None, &[1, 10, 5][..]));
            assert_eq!(config.agent.layer_sizes(&config.spaces().unwrap()), vec![50, 128, 128, 3]);
            continue;
        }
        config.apply_override("env.max_episode_steps=17").unwrap();
        assert_eq!(config.env.max_episode_steps(), Some(17));
        config.validate().unwrap();
        let spec = config.env_spec().unwrap();
        assert_eq!(spec.max_episode_steps, Some(17));
        assert_eq!(config.agent.layer_sizes(&config.spaces().unwrap()), vec![spec.obs_len(), 128, 128, spec.n_actions]);
    }
    let mut acrobot = RunConfig { env: EnvSetting::named("Acrobot").unwrap(), ..RunConfig::default() };
    let err = acrobot.apply_override("env.integrator=Euler").unwrap_err();
    assert!(matches!(&err, ConfigError::Invalid { field, .. } if field == "env.integrator"), "{err}");
    // The tabular grid takes its size from the environment.
    acrobot.learner = LearnerSetting::TabularQ { bins: vec![3, 3, 6, 6], alpha: 0.1, ranges: None };
    let err = acrobot.validate().unwrap_err().to_string();
    assert!(err.contains("6 bin counts for Acrobot-v1"), "{err}");
    acrobot.learner = LearnerSetting::TabularQ { bins: vec![2; 6], alpha: 0.1, ranges: None };
    acrobot.validate().unwrap();
}

#[test]
fn unknown_keys_and_bad_syntax_report_file_and_position() {
    let err = RunConfig::from_ron("(\n  seed: 1,\n  agent: (lrr: 0.1),\n)", "my.ron").unwrap_err();
    assert!(matches!(&err, ConfigError::Parse { location, .. } if location == "my.ron"), "{err:?}");
    let text = ErrorChain(&err).to_string();
    assert!(text.starts_with("my.ron: 3:"), "{text}");
    assert!(text.contains("lrr"), "{text}");
    let err = RunConfig::from_ron("(seed: \"zero\")", "my.ron").unwrap_err();
    let text = ErrorChain(&err).to_string();
    assert!(text.starts_with("my.ron: 1:"), "{text}");
}

#[test]
fn invalid_values_name_their_field() {
    let cases = [
        ("agent.gamma=1.5", "agent.gamma"),
        ("agent.lr=0.0", "agent.lr"),
        ("agent.lr=-1e-3", "agent.lr"),
        ("agent.batch_size=200000", "agent.batch_size"),
        ("agent.hidden=[128, 0]", "agent.hidden"),
        ("agent.buffer_capacity=0", "agent.buffer_capacity"),
        ("train_episodes=0", "train_episodes"),
        ("env.max_episode_steps=0", "env.max_episode_steps"),
        ("agent.epsilon.start=2.0", "agent.epsilon.start"),
        ("agent.target_update=Soft(tau: 0.0)", "agent.target_update"),
        ("agent.gradient_steps=0", "agent.gradient_steps"),
        ("collection.envs=0", "collection.envs"),
        ("collection.update_every=0", "collection.update_every"),
        ("early_stop=Some((every_steps: 0, episodes: 10, solved_at: 475.0))", "early_stop.every_steps"),
        ("early_stop=Some((every_steps: 10, episodes: 0, solved_at: 475.0))", "early_stop.episodes"),
        ("early_stop=Some((every_steps: 10, episodes: 1, solved_at: inf))", "early_stop.solved_at"),
    ];
    for (set, field) in cases {
        let mut config = RunConfig::default();
        config.apply_override(set).unwrap();
        let err = config.validate().expect_err(set);
        assert_eq!(err.field().as_deref(), Some(field), "{set}: {}", ErrorChain(&err));
    }
}

#[test]
fn overrides_set_values_and_refuse_unknown_keys() {
    let mut config = RunConfig::default();
    config.apply_override("agent.target_update=Soft(tau: 0.01)").unwrap();
    config.apply_override(" seed = 42 ").unwrap();
    config.apply_override("agent.epsilon.decay=50.0").unwrap();
    assert_eq!(
        (config.seed, config.agent.target_update, config.agent.epsilon.decay),
        (42, TargetUpdate::Soft { tau: 0.01 }, 50.0)
    );
    assert!(matches!(config.apply_override("agent.lrr=1"), Err(ConfigError::UnknownKey { .. })));
    assert!(matches!(config.apply_override("seed"), Err(ConfigError::MalformedOverride { .. })));
    let err = config.apply_override("agent.lr=fast").unwrap_err();
    let text = ErrorChain(&err).to_string();
    assert!(text.starts_with("--set agent.lr=fast: 1:"), "{text}");
    // Every key the help lists is accepted with a value of its type.
    let mut probe = RunConfig::default();
    let sample = |key: &str| match key {
        "env.integrator" => "Euler",
        "env" => "CartPole()",
        "agent.hidden" => "[8]",
        "agent.epsilon" => "(start: 0.5, end: 0.1, decay: 10.0)",
        "agent.target_update" => "Hard(every: 2)",
        "agent.double_dqn" => "true",
        "agent.loss" => "Mse",
        "agent.sampling" => "Recent",
        "agent.arithmetic" => "Fused",
        "agent.epsilon.shape" => "Linear",
        "agent.distributional" => "Some((n_atoms: 21))",
        "agent.dueling" => "Some((value_hidden: [4]))",
        "agent.noisy" => "Some((sigma0: 0.4, layers: All))",
        "learner" => "TabularQ(bins: [2, 2, 2, 2], alpha: 0.5)",
        "max_train_steps" => "Some(100)",
        "init_policy" => r#"Some("runs/pytorch.safetensors")"#,
        "tensorboard" => r#"Some("runs/tb")"#,
        "duplicate_action" => "Some((action: 1, copies: 15))",
        "agent.grad_clip" => "None",
        "agent.max_grad_norm" => "Some(10.0)",
        "agent.stack" => "(frames: 4, padding: Zeros)",
        "agent.obs_scale" => "Some(0.5)",
        "agent.network" => "Some(Conv([(out_channels: 4, kernel: 2, stride: 1)]))",
        "agent.optimizer" => "RmsProp(alpha: 0.95, eps: 0.01, centered: true)",
        "early_stop" => "Some((every_steps: 1000, episodes: 10, solved_at: 475.0))",
        k if k.contains("gamma") || k.contains("lr") || k.contains("epsilon.") => "0.5",
        _ => "3",
    };
    for key in SETTABLE_KEYS {
        probe.apply_override(&format!("{key}={}", sample(key))).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}

proptest! {
    /// Random text, and random edits of the default, never panic the parser.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = RunConfig::from_ron(&text, "fuzz");
    }

    #[test]
    fn mangled_defaults_never_panic(cut in 0usize..1500, insert in "[(),:a-z0-9. ]{0,8}") {
        let mut text: String = DEFAULT_RON.chars().take(cut).collect();
        text.push_str(&insert);
        text.extend(DEFAULT_RON.chars().skip(cut + 3));
        if let Ok(config) = RunConfig::from_ron(&text, "fuzz") {
            let _ = config.validate();
        }
    }
}

/// `presets/cartpole-rainbow.ron`'s agent is the library's `DqnConfig::rainbow`, so
/// that a user of the `agent` crate alone gets the same learner.
#[test]
fn the_rainbow_preset_is_the_librarys_rainbow() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../presets/cartpole-rainbow.ron");
    let config = RunConfig::from_file(&path).unwrap();
    assert_eq!(config.agent, agent::DqnConfig::rainbow());
    // Each component switches off alone, and what is left is valid.
    for key in [
        "agent.double_dqn=false",
        "agent.dueling=None",
        "agent.noisy=None",
        "agent.n_step=1",
        "agent.sampling=Uniform",
        "agent.distributional=None",
    ] {
        let mut ablated = config.clone();
        ablated.apply_override(key).unwrap();
        ablated.validate().unwrap();
        assert_ne!(ablated.agent, agent::DqnConfig::rainbow(), "{key}");
    }
}

/// Every shipped preset parses and is valid (a typo in one would otherwise
/// surface only when a user runs it).
#[test]
fn shipped_presets_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../presets");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ron") {
            let config = RunConfig::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            config.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 1, "no presets in {}", dir.display());
}

/// `env` is written as a name, like `learner` and `sampling`: a quoted
/// string is refused by name, in a file and in `--set`, while the bare
/// and parenthesised forms (and the older CartPole form) still read.
#[test]
fn an_env_written_as_a_quoted_string_is_refused() {
    for (text, expected) in [
        ("(env: MountainCar)", Some("MountainCar-v0")),
        ("(env: MountainCar())", Some("MountainCar-v0")),
        ("(env: Catch)", Some("Catch-bsuite")),
        ("(env: MountainCar(max_episode_steps: 9))", Some("MountainCar-v0")),
        ("(env: (max_episode_steps: 9))", Some("CartPole-v1")),
        ("(env: \"MountainCar\")", None),
        ("(env: \"Catch\")", None),
    ] {
        match (RunConfig::from_ron(text, "test.ron"), expected) {
            (Ok(config), Some(id)) => assert_eq!(config.env.id(), id, "{text}"),
            (Err(ConfigError::Invalid { field, reason }), None) => {
                assert_eq!(field, "env", "{text}");
                assert!(reason.contains("quoted string") && reason.contains("without quotes"), "{reason}");
            }
            (other, _) => panic!("{text}: {other:?}"),
        }
    }
    let mut config = RunConfig::default();
    let err = config.apply_override("env=\"Acrobot\"").unwrap_err();
    assert!(matches!(&err, ConfigError::Invalid { field, .. } if field == "env"), "{err:?}");
    config.apply_override("env=Acrobot").unwrap();
    assert_eq!(config.env.id(), "Acrobot-v1");
    // The learner's and the sampling's names are refused quoted too.
    assert!(RunConfig::from_ron("(learner: \"Dqn\")", "t").is_err());
    assert!(RunConfig::from_ron("(agent: (sampling: \"Uniform\"))", "t").is_err());
}

/// Built without MinAtar (cargo's `minatar` feature), its names say so.
#[cfg(not(feature = "minatar"))]
#[test]
fn minatar_names_say_the_feature_is_missing() {
    let err = RunConfig::for_env("minatar-breakout").unwrap_err().to_string();
    assert!(err.contains("`minatar` feature") && err.contains("GPL-3.0-or-later"), "{err}");
}
