//! The episode rules and the batched form, on a tiny environment of the
//! tests' own: a walker on a line that terminates past ±3 and is truncated
//! at the step limit.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use env_core::{
    AutoReset, Dynamics, Env, EnvError, EnvFamily, EnvSpec, Episodic, EpisodicFamily, Inconsistency, SavedEnv,
};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Position and velocity on a line; actions push −1, 0, +1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Walker {
    push: f64,
}

impl Dynamics for Walker {
    type State = [f64; 2];
    const OBS_DIM: usize = 2;
    const N_ACTIONS: usize = 3;

    fn spec(&self, max_episode_steps: u32) -> EnvSpec {
        EnvSpec {
            id: "Walker",
            obs_dim: 2,
            n_actions: 3,
            max_episode_steps,
            reward_threshold: None,
            obs_ranges: vec![(-3.0, 3.0), (-1.0, 1.0)],
        }
    }
    fn draw_start(&self, rng: &mut dyn RngCore) -> [f64; 2] {
        [(rng.next_u64() % 3) as f64 - 1.0, 0.0]
    }
    fn advance(&self, s: &[f64; 2], action: usize) -> [f64; 2] {
        let v = s[1] + (action as f64 - 1.0) * self.push;
        [s[0] + v, v]
    }
    fn is_terminal(&self, s: &[f64; 2]) -> bool {
        s[0].abs() > 3.0
    }
    fn reward(&self, _s: &[f64; 2], terminated: bool) -> f64 {
        if terminated { 10.0 } else { -1.0 }
    }
    fn observe(&self, s: &[f64; 2], obs: &mut [f32]) {
        obs[0] = s[0] as f32;
        obs[1] = s[1] as f32;
    }
    fn initial_state(&self) -> [f64; 2] {
        [0.0, 0.0]
    }
    fn validate(&self) -> Result<(), EnvError> {
        if self.push.is_finite() { Ok(()) } else { Err(EnvError::InvalidSetting { name: "push", value: self.push }) }
    }
}

fn walker(limit: u32) -> Episodic<Walker> {
    Episodic::new(Walker { push: 0.5 }, limit).unwrap()
}

#[test]
fn episodes_follow_the_time_limit_and_refuse_what_gymnasium_would_not_allow() {
    let mut env = walker(4);
    let mut obs = [0.0f32; 2];
    assert!(matches!(env.step(1, &mut obs), Err(EnvError::NotReset)));
    env.reset_to(&[0.0, 0.0], &mut obs).unwrap();
    assert!(matches!(env.step(3, &mut obs), Err(EnvError::InvalidAction { action: 3, n_actions: 3 })));
    assert!(matches!(env.step(1, &mut [0.0; 3]), Err(EnvError::StateLength { what: "observation", .. })));
    // No push: never terminal, truncated on the 4th step exactly.
    for t in 1..=4 {
        let out = env.step(1, &mut obs).unwrap();
        assert_eq!((out.terminated, out.truncated, out.reward), (false, t == 4, -1.0), "t={t}");
    }
    let err = env.step(1, &mut obs).unwrap_err();
    assert!(matches!(err, EnvError::EpisodeOver { steps: 4, terminated: false, truncated: true }), "{err}");
    // Terminated and truncated on the same step: from 2.0 pushing right, x =
    // 2.5, 3.5 after two steps; with a limit of 2 both flags are set.
    let mut env = walker(2);
    env.reset_to(&[2.0, 0.0], &mut obs).unwrap();
    assert!(!env.step(2, &mut obs).unwrap().is_done());
    let out = env.step(2, &mut obs).unwrap();
    assert_eq!((out.terminated, out.truncated, out.reward), (true, true, 10.0));
    assert_eq!(obs, [3.5, 1.0]);
    // Explicit states are checked and change nothing when refused.
    let mut env = walker(4);
    env.reset_to(&[1.0, 0.0], &mut obs).unwrap();
    assert!(matches!(env.reset_to(&[f64::NAN, 0.0], &mut obs), Err(EnvError::NonFiniteState { index: 0, .. })));
    assert!(matches!(env.reset_to(&[1e300, 0.0], &mut obs), Err(EnvError::StateBeyondObservation { index: 0, .. })));
    assert!(matches!(
        env.reset_to(&[1.0], &mut obs),
        Err(EnvError::StateLength { what: "state", expected: 2, got: 1 })
    ));
    assert_eq!(env.state(), &[1.0, 0.0]);
    assert!(matches!(Episodic::new(Walker { push: 0.5 }, 0), Err(EnvError::ZeroStepLimit)));
    assert!(matches!(Episodic::new(Walker { push: f64::NAN }, 5), Err(EnvError::InvalidSetting { name: "push", .. })));
}

/// Each environment of a batch follows exactly the trajectory a single one
/// follows from the same RNG, resetting on the step it ends, with the final
/// observation kept apart.
#[test]
fn a_batch_is_single_environments_with_same_step_auto_reset() {
    let family = EpisodicFamily::new(Walker { push: 0.5 }, 6).unwrap();
    let rngs: Vec<ChaCha8Rng> = (0..4).map(ChaCha8Rng::seed_from_u64).collect();
    let mut batch = family.batch(rngs.clone()).unwrap();
    let mut singles: Vec<(Episodic<Walker>, ChaCha8Rng, [f32; 2])> = rngs
        .into_iter()
        .map(|mut rng| {
            let mut env = walker(6);
            let mut obs = [0.0; 2];
            env.reset(&mut rng, &mut obs);
            (env, rng, obs)
        })
        .collect();
    let (mut ends, mut terminations) = (0, 0);
    for t in 0..200usize {
        // Right, left, a cycle, nothing: terminations and truncations.
        let actions: Vec<usize> = vec![2, 0, t % 3, 1];
        batch.step(&actions).unwrap();
        for (i, (env, rng, obs)) in singles.iter_mut().enumerate() {
            let out = env.step(actions[i], obs).unwrap();
            let row = i * 2..(i + 1) * 2;
            assert_eq!(&batch.final_observations()[row.clone()], obs.as_slice(), "t={t} env {i}");
            assert_eq!((batch.terminated()[i], batch.truncated()[i]), (out.terminated, out.truncated));
            assert_eq!(batch.rewards()[i], out.reward);
            if out.is_done() {
                ends += 1;
                terminations += usize::from(out.terminated);
                env.reset(rng, obs);
            }
            assert_eq!(&batch.observations()[row], obs.as_slice(), "t={t} env {i}: after the reset");
            assert_eq!(batch.elapsed_steps()[i], env.elapsed_steps());
        }
    }
    assert!(ends > 20 && terminations > 5, "{ends} ends, {terminations} terminations");
    assert!(matches!(batch.step(&[0, 1]), Err(EnvError::ActionCount { expected: 4, got: 2 })));
    assert!(matches!(batch.step(&[0, 1, 9, 0]), Err(EnvError::InvalidAction { action: 9, .. })));
    assert!(matches!(family.batch(Vec::new()), Err(EnvError::EmptyBatch)));
}

/// A batch saved mid-run and restored continues exactly as the original;
/// damaged or foreign saves are named errors.
#[test]
fn a_saved_batch_continues_identically_and_damage_is_named() {
    let family = EpisodicFamily::new(Walker { push: 0.5 }, 6).unwrap();
    let mut batch = family.batch((0..3).map(ChaCha8Rng::seed_from_u64).collect()).unwrap();
    let actions = |t: usize| -> Vec<usize> { (0..3).map(|i| (t + 2 * i) % 3).collect() };
    for t in 0..17 {
        batch.step(&actions(t)).unwrap();
    }
    let saved = batch.save();
    let mut restored = family.restore(&saved).unwrap();
    assert_eq!(restored.observations(), batch.observations());
    for t in 17..120 {
        batch.step(&actions(t)).unwrap();
        restored.step(&actions(t)).unwrap();
        assert_eq!(restored.final_observations(), batch.final_observations(), "t={t}");
        assert_eq!(restored.observations(), batch.observations(), "t={t}");
    }
    // Another family's rules, truncated bytes, a trailing byte.
    let other = EpisodicFamily::new(Walker { push: 0.25 }, 6).unwrap();
    assert!(matches!(other.restore(&saved), Err(EnvError::Inconsistent(Inconsistency::Rules))));
    assert!(matches!(family.restore(&saved[..saved.len() / 2]), Err(EnvError::Decode { .. })));
    let mut longer = saved.clone();
    longer.push(0);
    assert!(matches!(family.restore(&longer), Err(EnvError::Decode { .. })));
    // A stored environment past its step limit.
    let mut env = walker(6);
    let mut obs = [0.0; 2];
    env.reset_to(&[0.0, 0.0], &mut obs).unwrap();
    env.step(1, &mut obs).unwrap();
    let mut value = serde_json::to_value(&env).unwrap();
    value["elapsed_steps"] = 6.into();
    let stored = serde_json::from_value(value).unwrap();
    let err = Episodic::<Walker>::from_stored(stored).unwrap_err();
    assert!(
        matches!(err, EnvError::Inconsistent(Inconsistency::PastStepLimit { elapsed_steps: 6, limit: 6, .. })),
        "{err}"
    );
    // Serde round trip through the checked form.
    let back: Episodic<Walker> = serde_json::from_str(&serde_json::to_string(&env).unwrap()).unwrap();
    assert_eq!(back, env);
    let _: AutoReset<Episodic<Walker>> = AutoReset::restore(&saved).unwrap();
}
