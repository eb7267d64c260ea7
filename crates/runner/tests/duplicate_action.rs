//! `duplicate_action`: copies of one action appended to an environment's
//! action space behave exactly as that action, wrong actions are named
//! errors, and a run with them trains, resumes and keys as any other.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use env_core::ObsMut;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runner::{
    Collection, ConfigError, DuplicateActionSetting, EnvError, ErrorChain, RunConfig, RunError, Silent, TrainOptions,
    files, resume, train_with,
};

fn acrobot_with(copies: usize) -> RunConfig {
    let mut c = RunConfig::for_env("acrobot").unwrap();
    c.duplicate_action = Some(DuplicateActionSetting { action: 1, copies });
    c
}

/// Acrobot with 15 copies of action 1 steps exactly as Acrobot does with
/// each copy replaced by 1, single and batched, through a save and restore.
#[test]
fn copies_step_as_the_action_they_copy() {
    let wide = acrobot_with(15).env_family().unwrap();
    let own = RunConfig::for_env("acrobot").unwrap().env_family().unwrap();
    assert_eq!(wide.spec().n_actions, 18);
    assert_eq!(wide.spec().obs, own.spec().obs);
    assert_eq!(wide.spec().id, own.spec().id);

    let (mut a, mut b) = (wide.single().unwrap(), own.single().unwrap());
    let (mut oa, mut ob) = (vec![0.0; 6], vec![0.0; 6]);
    a.reset(&mut ChaCha8Rng::seed_from_u64(7), ObsMut::F32(&mut oa)).unwrap();
    b.reset(&mut ChaCha8Rng::seed_from_u64(7), ObsMut::F32(&mut ob)).unwrap();
    let mut pick = ChaCha8Rng::seed_from_u64(8);
    for _ in 0..300 {
        let action = rand::Rng::random_range(&mut pick, 0..18usize);
        let ra = a.step(action, ObsMut::F32(&mut oa)).unwrap();
        let rb = b.step(if action >= 3 { 1 } else { action }, ObsMut::F32(&mut ob)).unwrap();
        assert_eq!((ra, &oa, a.state()), (rb, &ob, b.state()));
        if ra.is_done() {
            break;
        }
    }
    // One past the last copy: named, and nothing moves.
    let before = a.state().to_vec();
    match a.step(18, ObsMut::F32(&mut oa)) {
        Err(EnvError::InvalidAction { action: 18, n_actions: 18 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(a.state(), &before[..]);

    let rngs = || (0..3).map(ChaCha8Rng::seed_from_u64).collect::<Vec<_>>();
    let (mut ra, mut rb) = (rngs(), rngs());
    let (mut va, mut vb) = (wide.batch(3, &mut ra).unwrap(), own.batch(3, &mut rb).unwrap());
    for t in 0..50 {
        let actions = [t % 18, 17 - t % 18, 4];
        va.step(&actions, &mut ra).unwrap();
        vb.step(&actions.map(|x| if x >= 3 { 1 } else { x }), &mut rb).unwrap();
        assert_eq!(va.observations(), vb.observations());
        assert_eq!(va.rewards(), vb.rewards());
    }
    assert!(matches!(va.step(&[0, 18, 0], &mut ra), Err(EnvError::InvalidAction { action: 18, .. })));
    assert!(matches!(va.step(&[0, 1], &mut ra), Err(EnvError::ActionCount { expected: 3, got: 2 })));
    let mut restored = wide.restore(&va.save().unwrap()).unwrap();
    assert_eq!(restored.spec().n_actions, 18);
    let mut restored_rngs = ra.clone();
    restored.step(&[5, 6, 7], &mut restored_rngs).unwrap();
    va.step(&[5, 6, 7], &mut ra).unwrap();
    assert_eq!(restored.observations(), va.observations());
}

#[test]
fn bad_settings_name_the_field() {
    for (action, copies, says) in [(3, 1, "action 3"), (1, 0, "copies"), (1, 5_000, "copies")] {
        let mut c = RunConfig::for_env("acrobot").unwrap();
        c.duplicate_action = Some(DuplicateActionSetting { action, copies });
        let err = c.validate().unwrap_err();
        let text = ErrorChain(&err).to_string();
        assert!(matches!(&err, ConfigError::Env { field: "duplicate_action", .. }), "{text}");
        assert!(text.contains(says), "{text}");
    }
    // Written in a file, and a field of its own that is wrong.
    let c = RunConfig::from_ron("(duplicate_action: Some((action: 1, copies: 15)))", "t.ron").unwrap();
    assert_eq!(c.duplicate_action, Some(DuplicateActionSetting { action: 1, copies: 15 }));
    assert_eq!(c.spaces().unwrap().n_actions, 17, "CartPole's 2 and 15 copies");
    let err = RunConfig::from_ron("(duplicate_action: Some((action: 1, copy: 15)))", "t.ron").unwrap_err();
    let text = ErrorChain(&err).to_string();
    assert!(text.contains("t.ron") && text.contains("copy"), "{text}");
    // Off, it is no part of the configuration's text (so no run's key moves).
    assert!(!RunConfig::default().to_ron().contains("duplicate_action"));
    assert!(acrobot_with(2).to_ron().contains("duplicate_action"));
}

/// A run with copies: its network has 18 outputs, and stopping and resuming
/// gives the bytes of never stopping.
#[test]
fn a_run_with_copies_resumes_exactly() {
    let mut config = acrobot_with(15);
    config.apply_override("env.max_episode_steps=60").unwrap();
    config.train_episodes = 30;
    config.test_episodes = 2;
    config.max_train_steps = Some(1_500);
    config.collection = Collection { envs: 2, update_every: 2 };
    config.agent.hidden = vec![16];
    config.agent.batch_size = 16;
    config.agent.learning_starts = 100;
    let dir = |name: &str| {
        let d = std::env::temp_dir().join(format!("dqn-duplicate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    };
    let options = TrainOptions { checkpoint_every: 5, keep_checkpoints: 2, ..TrainOptions::default() };
    let outputs = |d: &std::path::Path| {
        [files::TRAIN_CSV, files::TEST_CSV, files::POLICY].map(|f| std::fs::read(d.join(f)).unwrap())
    };
    let whole = dir("whole");
    train_with(&config, &whole, &options, &mut Silent).unwrap();
    let policy = runner::load_policy(&whole.join(files::POLICY)).unwrap();
    assert_eq!(policy.output_dim(), 18);
    let mid = dir("mid");
    let stop = TrainOptions { stop_after_steps: Some(701), ..options.clone() };
    assert!(matches!(train_with(&config, &mid, &stop, &mut Silent), Err(RunError::Interrupted { .. })));
    resume(&mid, &options, &mut Silent).unwrap();
    assert_eq!(outputs(&mid), outputs(&whole));
    for d in [whole, mid] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
