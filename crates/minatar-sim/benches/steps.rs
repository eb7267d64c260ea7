//! Steps per second of each game under uniformly random actions drawn
//! beforehand: the game as the package is driven (`act` + `state`, then
//! `reset()` after an end: the stream goes on, no new seed), one game
//! behind the environment seam (`Env::step`, the observation written each
//! step, a reset on the step after an end, each reset a new seed and so a
//! new MT19937 state), and a batch of 16 (`VecEnv::step`, same-step
//! reset). The peers (`xtask/peers/minatar_steps.py`) drive the `minatar`
//! package the first way and gymnax its own.
//!
//! `cargo bench -p minatar-sim --bench steps`; items are environment steps.

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use env_core::{Env, EnvFamily};
use minatar_sim::{Game, MinAtar, MinAtarEnv, MinAtarFamily, Rules, Settings};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Steps a sample takes; actions cycle through a table this long.
const STEPS: usize = 4_096;
/// Games in a batch.
const BATCH: usize = 16;

fn main() {
    divan::main();
}

fn game(name: &str) -> Game {
    Game::from_name(name).expect("a game of the list below")
}

fn actions(len: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..len).map(|_| rng.random_range(0..6)).collect()
}

#[divan::bench(args = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"], sample_count = 30)]
fn package_protocol(bencher: Bencher, name: &str) {
    let mut env = MinAtar::new(game(name), Settings::default(), 0);
    let mut obs = Vec::new();
    let actions = actions(STEPS);
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        for &a in &actions {
            let (_, over) = black_box(env.act(a).expect("actions below 6"));
            env.state_into(&mut obs);
            black_box(&obs);
            if over {
                env.reset();
            }
        }
    });
}

#[divan::bench(args = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"], sample_count = 30)]
fn single(bencher: Bencher, name: &str) {
    let mut env = MinAtarEnv::new(Rules::new(game(name))).expect("default rules");
    let mut obs = vec![0u8; env.spec().obs_len()];
    let mut resets = ChaCha8Rng::seed_from_u64(2);
    env.reset(&mut resets, (&mut obs[..]).into()).expect("a buffer of the spec's length");
    let actions = actions(STEPS);
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        for &a in &actions {
            if !env.is_running() {
                env.reset(&mut resets, (&mut obs[..]).into()).expect("a buffer of the spec's length");
            }
            black_box(env.step(a, (&mut obs[..]).into()).expect("a valid action"));
        }
        black_box(&obs);
    });
}

#[divan::bench(args = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"], sample_count = 30)]
fn batched(bencher: Bencher, name: &str) {
    let family = MinAtarFamily::new(Rules::new(game(name))).expect("default rules");
    let mut resets: Vec<ChaCha8Rng> = (0..BATCH as u64).map(ChaCha8Rng::seed_from_u64).collect();
    let mut batch = family.batch(BATCH, &mut resets).expect("a batch of 16");
    let table = actions(STEPS);
    let rounds = STEPS / BATCH;
    bencher.counter(ItemsCount::new(rounds * BATCH)).bench_local(|| {
        for chunk in table.chunks_exact(BATCH) {
            batch.step(chunk, &mut resets).expect("valid actions");
        }
        black_box(batch.observations());
    });
}
