//! Environment steps per second, random actions, resets included, single
//! and batched (the loops of `env_core::workload`, as for the classic
//! environments).
//!
//! `cargo bench -p catch-sim`.

use catch_sim::OBS_LEN;
use divan::Bencher;
use divan::counter::ItemsCount;
use env_core::workload::{batch_rngs, random_actions, run_batched};
use env_core::{Env, EnvFamily};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Env steps per timed sample: over a thousand episodes.
const STEPS: usize = 10_000;

fn main() {
    divan::main();
}

#[divan::bench]
fn single_env(bencher: Bencher) {
    let actions = random_actions(STEPS, 3, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (mut env, mut board) = (catch_sim::bsuite(), [0u8; OBS_LEN]);
    env.reset(&mut rng, (&mut board[..]).into()).expect("the board fits");
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        for &action in &actions {
            let step = env.step(divan::black_box(action), (&mut board[..]).into()).expect("reset after every end");
            if step.is_done() {
                env.reset(&mut rng, (&mut board[..]).into()).expect("the board fits");
            }
        }
        divan::black_box(board[0])
    });
}

#[divan::bench(args = [8, 64])]
fn batched(bencher: Bencher, n_envs: usize) {
    let actions = random_actions(STEPS, 3, 2);
    let mut rngs = batch_rngs(n_envs);
    let mut batch = catch_sim::family().batch(n_envs, &mut rngs).expect("valid batch");
    bencher
        .counter(ItemsCount::new(STEPS / n_envs * n_envs))
        .bench_local(|| run_batched(batch.as_mut(), &mut rngs, &actions));
}
