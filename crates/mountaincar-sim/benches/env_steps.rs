//! Environment steps per second, random actions, resets included, single
//! and batched.
//!
//! `cargo bench -p mountaincar-sim`; compare with Gymnasium measured in the
//! same session by `xtask/peers/bench_classic_control.py` (or
//! `cargo xtask bench`, which runs both).

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use env_core::{Env, EnvFamily};
use mountaincar_sim::{MountainCarDynamics, MountainCarFamily};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Env steps per timed sample: enough to span dozens of episodes.
const STEPS: usize = 10_000;

fn main() {
    divan::main();
}

fn random_actions(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..3)).collect()
}

fn family() -> MountainCarFamily {
    MountainCarFamily::new(MountainCarDynamics::default(), mountaincar_sim::MAX_EPISODE_STEPS).expect("v0's rules")
}

#[divan::bench]
fn single_env(bencher: Bencher) {
    let actions = random_actions(STEPS, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut env = mountaincar_sim::v0();
    let mut obs = [0.0f32; 2];
    env.reset(&mut rng, &mut obs);
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        for &action in &actions {
            let step = env.step(black_box(action), &mut obs).expect("the env is reset after every end");
            if step.is_done() {
                env.reset(&mut rng, &mut obs);
            }
        }
        black_box(obs[0])
    });
}

#[divan::bench(args = [8, 64])]
fn batched(bencher: Bencher, n_envs: usize) {
    let actions = random_actions(STEPS, 2);
    let rngs = (0..n_envs as u64).map(ChaCha8Rng::seed_from_u64).collect();
    let mut batch = family().batch(rngs).expect("valid batch");
    bencher.counter(ItemsCount::new(STEPS / n_envs * n_envs)).bench_local(|| {
        for chunk in actions.chunks_exact(n_envs) {
            batch.step(black_box(chunk)).expect("one action per env");
        }
        black_box(batch.observations()[0])
    });
}
