//! The README's "Bring your own environment" example, run with a small
//! budget: a user's `Dynamics` trains through `Session::with_family`.

#[path = "../examples/own_env.rs"]
mod own_env;

use env_core::{Dynamics, Env, EnvError, EpisodicFamily, ObsMut};
use rand::SeedableRng;

#[test]
fn the_example_environment_is_learned() {
    let (returns, tests) = own_env::train(300, 0).unwrap();
    assert_eq!(returns.len(), 300, "one return per training episode");
    assert_eq!(tests.len(), 10);
    // From a start d cells from the goal the best return is -(d - 1) (at
    // most -0, at least -9); a policy that never arrives gets -30.
    assert!(returns.iter().all(|&r| (-30.0..=0.0).contains(&r)), "{returns:?}");
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    assert!(tests.iter().all(|&r| r > -10.0), "every greedy episode reaches the goal: {tests:?}");
    assert!(mean(&returns[250..]) > mean(&returns[..50]) + 5.0, "training improves the return: {returns:?}");
}

#[test]
fn the_example_environment_gets_the_episode_rules() {
    let family = EpisodicFamily::new(own_env::Chase, 30).unwrap();
    let mut env = family.make();
    let mut obs = [0.0f32; 2];
    // A start one cell left of the goal: one step right ends it, with reward 0.
    env.reset_to(&[4.0, 5.0], ObsMut::F32(&mut obs)).unwrap();
    assert_eq!(obs, [0.4, 0.5]);
    let outcome = env.step(1, ObsMut::F32(&mut obs)).unwrap();
    assert!(outcome.terminated && !outcome.truncated && outcome.reward == 0.0, "{outcome:?}");
    assert!(matches!(env.step(1, ObsMut::F32(&mut obs)), Err(EnvError::EpisodeOver { .. })));
    env.reset(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1), ObsMut::F32(&mut obs)).unwrap();
    assert!(matches!(env.step(2, ObsMut::F32(&mut obs)), Err(EnvError::InvalidAction { .. })));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for _ in 0..1000 {
        let [runner, goal] = own_env::Chase.draw_start(&mut rng);
        assert!(runner != goal && (0.0..=10.0).contains(&runner) && (0.0..=10.0).contains(&goal));
    }
}

/// A user's environment gets run folders and exact resume too: a run
/// stopped mid-way and resumed with the same family writes the bytes of one
/// never stopped; another family is refused.
#[test]
fn the_example_environment_checkpoints_and_resumes_exactly() {
    let mut config = runner::RunConfig { seed: 2, train_episodes: 60, test_episodes: 4, ..Default::default() };
    config.agent.hidden = vec![16];
    config.collection = runner::Collection { envs: 3, update_every: 1 };
    let family = || Box::new(EpisodicFamily::new(own_env::Chase, 30).unwrap());
    let opts = || runner::TrainOptions { checkpoint_every: 7, ..Default::default() };
    let scratch = |name: &str| {
        let dir = std::env::temp_dir().join(format!("dqn-own-env-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    };
    let read = |dir: &std::path::Path| -> Vec<Vec<u8>> {
        ["train.csv", "test.csv", "policy.json"].iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect()
    };
    let whole = scratch("whole");
    let summary = runner::train_family(&config, family(), &whole, &opts(), &mut runner::Silent).unwrap();
    assert_eq!(summary.env, "Chase1D");
    let train_csv = String::from_utf8(read(&whole)[0].clone()).unwrap();
    assert!(train_csv.lines().nth(1).unwrap().ends_with(",Chase1D"), "{train_csv}");

    let stopped = scratch("stopped");
    let stop = runner::TrainOptions { stop_after_steps: Some(summary.train_steps / 2 + 1), ..opts() };
    let err = runner::train_family(&config, family(), &stopped, &stop, &mut runner::Silent).unwrap_err();
    assert!(matches!(err, runner::RunError::Interrupted { .. }), "{err:?}");
    let wrong = cartpole_sim::CartPoleFamily::new(cartpole_sim::EnvConfig::v1()).unwrap();
    assert!(runner::resume_family(&stopped, Box::new(wrong), &opts(), &mut runner::Silent).is_err());
    runner::resume_family(&stopped, family(), &opts(), &mut runner::Silent).unwrap();
    assert_eq!(read(&stopped), read(&whole));
    for dir in [whole, stopped] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}
