//! The episode rules and the batched form, on a tiny environment of the
//! tests' own: a walker on a line that terminates past ±3 and is truncated
//! at the step limit.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use env_core::{
    AutoReset, Dynamics, Env, EnvError, EnvFamily, EnvSpec, Episodic, EpisodicFamily, Inconsistency, ObsMut, ObsSpace,
    SavedEnv,
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
    type Element = f32;
    const OBS_LEN: usize = 2;
    const N_ACTIONS: usize = 3;

    fn spec(&self, max_episode_steps: u32) -> EnvSpec {
        EnvSpec {
            id: "Walker".into(),
            obs: ObsSpace::vector(2),
            n_actions: 3,
            max_episode_steps: Some(max_episode_steps),
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

/// An `f32` observation buffer.
fn o(values: &mut [f32]) -> ObsMut<'_> {
    ObsMut::F32(values)
}

fn walker(limit: u32) -> Episodic<Walker> {
    Episodic::new(Walker { push: 0.5 }, limit).unwrap()
}

#[test]
fn episodes_follow_the_time_limit_and_refuse_what_gymnasium_would_not_allow() {
    let mut env = walker(4);
    let mut obs = [0.0f32; 2];
    assert!(matches!(env.step(1, o(&mut obs)), Err(EnvError::NotReset)));
    env.reset_to(&[0.0, 0.0], o(&mut obs)).unwrap();
    assert!(matches!(env.step(3, o(&mut obs)), Err(EnvError::InvalidAction { action: 3, n_actions: 3 })));
    assert!(matches!(env.step(1, o(&mut [0.0; 3])), Err(EnvError::StateLength { what: "observation", .. })));
    // No push: never terminal, truncated on the 4th step exactly.
    for t in 1..=4 {
        let out = env.step(1, o(&mut obs)).unwrap();
        assert_eq!((out.terminated, out.truncated, out.reward), (false, t == 4, -1.0), "t={t}");
    }
    let err = env.step(1, o(&mut obs)).unwrap_err();
    assert!(matches!(err, EnvError::EpisodeOver { steps: 4, terminated: false, truncated: true }), "{err}");
    // Terminated and truncated on the same step: from 2.0 pushing right, x =
    // 2.5, 3.5 after two steps; with a limit of 2 both flags are set.
    let mut env = walker(2);
    env.reset_to(&[2.0, 0.0], o(&mut obs)).unwrap();
    assert!(!env.step(2, o(&mut obs)).unwrap().is_done());
    let out = env.step(2, o(&mut obs)).unwrap();
    assert_eq!((out.terminated, out.truncated, out.reward), (true, true, 10.0));
    assert_eq!(obs, [3.5, 1.0]);
    // Explicit states are checked and change nothing when refused.
    let mut env = walker(4);
    env.reset_to(&[1.0, 0.0], o(&mut obs)).unwrap();
    assert!(matches!(env.reset_to(&[f64::NAN, 0.0], o(&mut obs)), Err(EnvError::NonFiniteState { index: 0, .. })));
    assert!(matches!(env.reset_to(&[1e300, 0.0], o(&mut obs)), Err(EnvError::StateBeyondObservation { index: 0, .. })));
    assert!(matches!(
        env.reset_to(&[1.0], o(&mut obs)),
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
    let mut batch_rngs = rngs.clone();
    let mut batch = family.batch(4, &mut batch_rngs).unwrap();
    let mut singles: Vec<(Episodic<Walker>, ChaCha8Rng, [f32; 2])> = rngs
        .into_iter()
        .map(|mut rng| {
            let mut env = walker(6);
            let mut obs = [0.0; 2];
            env.reset(&mut rng, o(&mut obs)).unwrap();
            (env, rng, obs)
        })
        .collect();
    let (mut ends, mut terminations) = (0, 0);
    for t in 0..200usize {
        // Right, left, a cycle, nothing: terminations and truncations.
        let actions: Vec<usize> = vec![2, 0, t % 3, 1];
        batch.step(&actions, &mut batch_rngs).unwrap();
        for (i, (env, rng, obs)) in singles.iter_mut().enumerate() {
            let out = env.step(actions[i], o(obs)).unwrap();
            let row = i * 2..(i + 1) * 2;
            assert_eq!(&batch.final_observations().as_f32().unwrap()[row.clone()], obs.as_slice(), "t={t} env {i}");
            assert_eq!((batch.terminated()[i], batch.truncated()[i]), (out.terminated, out.truncated));
            assert_eq!(batch.rewards()[i], out.reward);
            if out.is_done() {
                ends += 1;
                terminations += usize::from(out.terminated);
                env.reset(rng, o(obs)).unwrap();
            }
            assert_eq!(&batch.observations().as_f32().unwrap()[row], obs.as_slice(), "t={t} env {i}: after the reset");
            assert_eq!(batch.elapsed_steps()[i], env.elapsed_steps());
        }
    }
    assert!(ends > 20 && terminations > 5, "{ends} ends, {terminations} terminations");
    assert!(matches!(batch.step(&[0, 1], &mut batch_rngs), Err(EnvError::ActionCount { expected: 4, got: 2 })));
    assert!(matches!(batch.step(&[0, 1, 9, 0], &mut batch_rngs), Err(EnvError::InvalidAction { action: 9, .. })));
    let mut too_few = batch_rngs[..3].to_vec();
    assert!(matches!(batch.step(&[0, 1, 2, 0], &mut too_few), Err(EnvError::ResetCount { expected: 4, got: 3 })));
    assert!(matches!(family.batch(0, &mut batch_rngs), Err(EnvError::EmptyBatch)));
}

/// A batch saved mid-run and restored continues exactly as the original;
/// damaged or foreign saves are named errors.
#[test]
fn a_saved_batch_continues_identically_and_damage_is_named() {
    let family = EpisodicFamily::new(Walker { push: 0.5 }, 6).unwrap();
    let mut rngs: Vec<ChaCha8Rng> = (0..3).map(ChaCha8Rng::seed_from_u64).collect();
    let mut batch = family.batch(3, &mut rngs).unwrap();
    let actions = |t: usize| -> Vec<usize> { (0..3).map(|i| (t + 2 * i) % 3).collect() };
    for t in 0..17 {
        batch.step(&actions(t), &mut rngs).unwrap();
    }
    let saved = batch.save().unwrap();
    let mut restored = family.restore(&saved).unwrap();
    // The RNGs are the caller's: the restored batch resets from a copy.
    let mut restored_rngs = rngs.clone();
    assert_eq!(restored.observations(), batch.observations());
    for t in 17..120 {
        batch.step(&actions(t), &mut rngs).unwrap();
        restored.step(&actions(t), &mut restored_rngs).unwrap();
        assert_eq!(restored.final_observations(), batch.final_observations(), "t={t}");
        assert_eq!(restored.observations(), batch.observations(), "t={t}");
    }
    // Another family's rules, truncated bytes, a trailing byte.
    let other = EpisodicFamily::new(Walker { push: 0.25 }, 6).unwrap();
    assert!(matches!(other.restore(&saved), Err(EnvError::Inconsistent(Inconsistency::Rules))));
    assert!(matches!(family.restore(&saved[..saved.len() / 2]), Err(EnvError::Decode(_))));
    let mut longer = saved.clone();
    longer.push(0);
    assert!(matches!(family.restore(&longer), Err(EnvError::DecodeTrailing { extra: 1 })));
    // A stored environment past its step limit.
    let mut env = walker(6);
    let mut obs = [0.0; 2];
    env.reset_to(&[0.0, 0.0], o(&mut obs)).unwrap();
    env.step(1, o(&mut obs)).unwrap();
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
