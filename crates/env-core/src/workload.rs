//! The benchmark workloads of the environment crates (feature `bench`):
//! random actions, resets included, one environment or a batch, so every
//! crate's `cargo bench` measures the same loop as
//! `xtask/peers/bench_classic_control.py` does for Gymnasium; and
//! [`Pixels`], an Atari-shaped environment of noise for measuring what
//! image observations cost downstream (replay, checkpoints).

use std::hint::black_box;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Dynamics, Env, EnvSpec, ObsMut, ObsSpace, ObsType, VecEnv};

/// An environment the shape of Atari's preprocessed frames (one 84 × 84
/// plane of bytes, 4 actions) whose pixels are noise: a hash of the
/// episode, the step and the pixel, so no two frames repeat and nothing
/// compresses. Episodes last [`PIXELS_EPISODE`] steps and pay 1 at the
/// end. For measuring the memory and time of image observations in the
/// replay buffer and checkpoints; there is nothing to learn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pixels;

/// The length of a [`Pixels`] episode.
pub const PIXELS_EPISODE: u32 = 100;
/// The side of a [`Pixels`] frame.
pub const PIXELS_SIDE: usize = 84;

/// SplitMix64's finaliser: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Dynamics for Pixels {
    /// `[episode id, step]`.
    type State = [f64; 2];
    type Element = u8;
    const OBS_LEN: usize = PIXELS_SIDE * PIXELS_SIDE;
    const N_ACTIONS: usize = 4;

    fn spec(&self, max_episode_steps: u32) -> EnvSpec {
        EnvSpec {
            id: "Pixels".into(),
            obs: ObsSpace::new(vec![1, PIXELS_SIDE, PIXELS_SIDE], ObsType::U8).expect("an 84 × 84 plane"),
            n_actions: 4,
            max_episode_steps: Some(max_episode_steps),
            reward_threshold: None,
            obs_ranges: Vec::new(),
        }
    }

    fn draw_start(&self, rng: &mut dyn RngCore) -> [f64; 2] {
        [f64::from(rng.next_u32()), 0.0]
    }

    fn advance(&self, state: &[f64; 2], _action: usize) -> [f64; 2] {
        [state[0], state[1] + 1.0]
    }

    fn is_terminal(&self, state: &[f64; 2]) -> bool {
        state[1] >= f64::from(PIXELS_EPISODE)
    }

    fn reward(&self, _state: &[f64; 2], terminated: bool) -> f64 {
        if terminated { 1.0 } else { 0.0 }
    }

    fn observe(&self, state: &[f64; 2], obs: &mut [u8]) {
        let seed = mix((state[0] as u64) << 20 | state[1] as u64);
        for (i, chunk) in obs.chunks_mut(8).enumerate() {
            let word = mix(seed ^ i as u64).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn initial_state(&self) -> [f64; 2] {
        [0.0, 0.0]
    }
}

/// `n` uniformly random actions in `0..n_actions`, from `seed`.
#[must_use]
pub fn random_actions(n: usize, n_actions: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..n_actions)).collect()
}

/// One reset RNG per environment of a batch, seeded 0, 1, 2, ….
#[must_use]
pub fn batch_rngs(n_envs: usize) -> Vec<ChaCha8Rng> {
    (0..n_envs as u64).map(ChaCha8Rng::seed_from_u64).collect()
}

/// Steps `env` (reset before the first call) through `actions`, resetting
/// from `rng` after every end; returns the last observation's first entry.
///
/// # Panics
/// If the environment refuses a step (an action out of range, a wrong
/// observation length): a broken benchmark.
pub fn run_single<E: Env>(env: &mut E, rng: &mut ChaCha8Rng, actions: &[usize], obs: &mut [f32]) -> f32 {
    for &action in actions {
        let step = env.step(black_box(action), ObsMut::F32(obs)).expect("the env is reset after every end");
        if step.is_done() {
            env.reset(rng, ObsMut::F32(obs)).expect("the observation buffer fits");
        }
    }
    black_box(obs[0])
}

/// Steps `batch` through `actions`, `batch.len()` at a time (a remainder
/// is left out), resetting environment `i` from `rngs[i]`; returns the
/// first observation's first entry.
///
/// # Panics
/// If the batch refuses a step: a broken benchmark.
pub fn run_batched(batch: &mut dyn VecEnv, rngs: &mut Vec<ChaCha8Rng>, actions: &[usize]) -> f32 {
    for chunk in actions.chunks_exact(batch.len()) {
        batch.step(black_box(chunk), rngs).expect("one action per env");
    }
    black_box(batch.observations().as_f32().map_or(0.0, |o| o[0]))
}
