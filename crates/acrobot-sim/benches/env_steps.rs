//! Environment steps per second, random actions, resets included, single
//! and batched (the loops of `env_core::workload`).
//!
//! `cargo bench -p acrobot-sim`; compare with Gymnasium measured in the
//! same session by `xtask/peers/bench_classic_control.py` (or
//! `cargo xtask bench`, which runs both).

use acrobot_sim::{AcrobotDynamics, AcrobotFamily};
use divan::Bencher;
use divan::counter::ItemsCount;
use env_core::workload::{batch_rngs, random_actions, run_batched, run_single};
use env_core::{Env, EnvFamily};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Env steps per timed sample: enough to span dozens of episodes.
const STEPS: usize = 10_000;

fn main() {
    divan::main();
}

#[divan::bench]
fn single_env(bencher: Bencher) {
    let actions = random_actions(STEPS, 3, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (mut env, mut obs) = (acrobot_sim::v1(), [0.0f32; 6]);
    env.reset(&mut rng, (&mut obs[..]).into()).expect("the observation fits");
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| run_single(&mut env, &mut rng, &actions, &mut obs));
}

#[divan::bench(args = [8, 64])]
fn batched(bencher: Bencher, n_envs: usize) {
    let actions = random_actions(STEPS, 3, 2);
    let mut rngs = batch_rngs(n_envs);
    let mut batch = AcrobotFamily::new(AcrobotDynamics, acrobot_sim::MAX_EPISODE_STEPS)
        .expect("v1's rules")
        .batch(n_envs, &mut rngs)
        .expect("valid batch");
    bencher
        .counter(ItemsCount::new(STEPS / n_envs * n_envs))
        .bench_local(|| run_batched(batch.as_mut(), &mut rngs, &actions));
}
