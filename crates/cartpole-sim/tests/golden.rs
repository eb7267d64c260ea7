//! Bit-for-bit agreement with Gymnasium's CartPole, on every trajectory in
//! `tests/golden/*.json` (written by `tests/generate_golden.py`; format in
//! `shared/golden-format.md`). New files dropped into that folder are picked
//! up without code changes.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use cartpole_sim::{Action, CartPole, EnvConfig, GymnasiumRng, Integrator, SimError};
use env_core::golden::{F32Vec, F64Vec, Step as GoldenStep};
use serde::Deserialize;

#[derive(Deserialize)]
struct Group {
    group: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    max_episode_steps: u32,
    integrator: String,
    initial_state: F64Vec,
    initial_obs: F32Vec,
    episode_length: u32,
    steps_after_end: u32,
    reset_seed: Option<u64>,
    reset_state: Option<F64Vec>,
    reset_obs: Option<F32Vec>,
    next_reset_states: Option<Vec<F64Vec>>,
    steps: Vec<GoldenStep>,
}

fn state_of(v: &F64Vec) -> [f64; 4] {
    v.values().try_into().expect("a CartPole state has 4 entries")
}

fn golden_files() -> Vec<PathBuf> {
    env_core::golden::json_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"))
}

fn bits(v: [f64; 4]) -> [u64; 4] {
    v.map(f64::to_bits)
}

/// Replays one case; returns how many steps were compared.
fn check_case(case: &Case, origin: &str) -> u32 {
    let integrator = match case.integrator.as_str() {
        "euler" => Integrator::Euler,
        "semi-implicit euler" => Integrator::SemiImplicitEuler,
        other => panic!("{origin}: unknown integrator {other:?}"),
    };
    let mut env = CartPole::new(EnvConfig { integrator, max_episode_steps: case.max_episode_steps }).unwrap();
    // Gymnasium's own reset(seed) draw, where the file records it.
    if let (Some(seed), Some(state), Some(obs)) = (case.reset_seed, &case.reset_state, &case.reset_obs) {
        let got = env.reset(&mut GymnasiumRng::from_seed(seed));
        assert_eq!(bits(env.state()), bits(state_of(state)), "{origin}: reset(seed={seed}) state");
        assert_eq!(got.map(f32::to_bits).to_vec(), obs.bits(), "{origin}: reset(seed={seed}) obs");
        // Later resets without a seed continue the same stream.
        let mut rng = GymnasiumRng::from_seed(seed);
        env.reset(&mut rng);
        for (k, next) in case.next_reset_states.iter().flatten().enumerate() {
            env.reset(&mut rng);
            assert_eq!(bits(env.state()), bits(state_of(next)), "{origin}: reset {} after the seeded one", k + 1);
        }
    }
    let initial = state_of(&case.initial_state);
    let obs = env.reset_to(initial).unwrap();
    assert_eq!(obs.map(f32::to_bits).to_vec(), case.initial_obs.bits(), "{origin}: initial obs");
    assert_eq!(bits(env.state()), bits(initial), "{origin}: initial state");

    let mut compared = 0;
    for step in case.steps.iter().take_while(|s| s.t <= case.episode_length) {
        let at = format!("{origin}, t={}", step.t);
        let got = env.step(Action::from_index(step.action).unwrap()).unwrap();
        assert_eq!(bits(env.state()), bits(state_of(&step.state)), "{at}: state bits");
        assert_eq!(got.obs.map(f32::to_bits).to_vec(), step.obs.bits(), "{at}: obs bits");
        assert_eq!(got.reward, step.reward, "{at}: reward");
        assert_eq!(got.terminated, step.terminated, "{at}: terminated");
        assert_eq!(got.truncated, step.truncated, "{at}: truncated");
        assert_eq!(got.is_done(), step.t == case.episode_length, "{at}: episode end");
        compared += 1;
    }
    assert_eq!(compared, case.episode_length, "{origin}: the file holds every step up to the end");
    if case.steps_after_end > 0 {
        let next = case.steps.iter().find(|s| s.t == case.episode_length + 1).unwrap();
        let err = env.step(Action::from_index(next.action).unwrap()).unwrap_err();
        assert!(matches!(err, SimError::EpisodeOver { steps, .. } if steps == case.episode_length), "{origin}: {err}");
    }
    compared
}

#[test]
fn every_golden_trajectory_matches_gymnasium_bit_for_bit() {
    let files = golden_files();
    assert!(!files.is_empty(), "no golden files found");
    let (mut cases, mut steps) = (0, 0);
    let mut truncations = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let group: Group = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in &group.cases {
            let origin = format!("{}: {}/{}", path.file_name().unwrap().to_string_lossy(), group.group, case.name);
            steps += check_case(case, &origin);
            cases += 1;
            truncations += u32::from(case.steps.iter().any(|s| s.truncated));
        }
    }
    // The committed vectors cover both integrators and truncation; guard
    // against a regeneration that silently drops them.
    assert!(cases >= 20 && truncations >= 4, "only {cases} cases, {truncations} truncations");
    eprintln!("{cases} cases, {steps} steps equal bit for bit");
}
