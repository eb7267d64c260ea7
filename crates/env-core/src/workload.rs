//! The benchmark workloads of the environment crates (feature `bench`):
//! random actions, resets included, one environment or a batch, so every
//! crate's `cargo bench` measures the same loop as
//! `xtask/peers/bench_classic_control.py` does for Gymnasium.

use std::hint::black_box;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Env, ObsMut, VecEnv};

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
