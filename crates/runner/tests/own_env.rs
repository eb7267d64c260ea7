//! The README's "Bring your own environment" example, run with a small
//! budget: a user's `Dynamics` trains through `Session::with_family`.

#[path = "../examples/own_env.rs"]
mod own_env;

use env_core::{Dynamics, Env, EnvError, EpisodicFamily};
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
    env.reset_to(&[4.0, 5.0], &mut obs).unwrap();
    assert_eq!(obs, [0.4, 0.5]);
    let outcome = env.step(1, &mut obs).unwrap();
    assert!(outcome.terminated && !outcome.truncated && outcome.reward == 0.0, "{outcome:?}");
    assert!(matches!(env.step(1, &mut obs), Err(EnvError::EpisodeOver { .. })));
    env.reset(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1), &mut obs);
    assert!(matches!(env.step(2, &mut obs), Err(EnvError::InvalidAction { .. })));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for _ in 0..1000 {
        let [runner, goal] = own_env::Chase.draw_start(&mut rng);
        assert!(runner != goal && (0.0..=10.0).contains(&runner) && (0.0..=10.0).contains(&goal));
    }
}
