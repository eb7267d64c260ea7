//! Environment steps per second, random actions, resets included.
//!
//! `cargo bench -p cartpole-sim`; compare with Gymnasium measured in the same
//! session by `shared/anchors/bench_env.py` (its `gym_single_pregen_actions`).

use cartpole_sim::{Action, CartPole, CartPoleBatch, EnvConfig};
use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Env steps per timed sample: enough to span dozens of episodes.
const STEPS: usize = 10_000;

fn main() {
    divan::main();
}

/// Random actions, one bit each, drawn 64 at a time so the RNG stays out of
/// the measurement as far as possible.
fn random_actions(n: usize, seed: u64) -> Vec<Action> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut actions = Vec::with_capacity(n);
    while actions.len() < n {
        let bits = rng.next_u64();
        actions.extend((0..64).map(|b| if bits >> b & 1 == 1 { Action::Right } else { Action::Left }));
    }
    actions.truncate(n);
    actions
}

#[divan::bench]
fn single_env(bencher: Bencher) {
    let actions = random_actions(STEPS, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut env = CartPole::new(EnvConfig::v1()).expect("v1 is a valid config");
    env.reset(&mut rng);
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        for &action in &actions {
            let step = env.step(black_box(action)).expect("the env is reset after every end");
            if step.is_done() {
                env.reset(&mut rng);
            }
        }
        black_box(env.state())
    });
}

#[divan::bench(args = [8, 64])]
fn batched(bencher: Bencher, n_envs: usize) {
    let actions = random_actions(STEPS, 2);
    let mut rngs: Vec<ChaCha8Rng> = (0..n_envs as u64).map(ChaCha8Rng::seed_from_u64).collect();
    let mut batch = CartPoleBatch::new(EnvConfig::v1(), n_envs, &mut rngs).expect("valid batch");
    bencher.counter(ItemsCount::new(STEPS / n_envs * n_envs)).bench_local(|| {
        for chunk in actions.chunks_exact(n_envs) {
            batch.step(black_box(chunk), &mut rngs).expect("one action per env");
        }
        black_box(batch.observations()[0])
    });
}
