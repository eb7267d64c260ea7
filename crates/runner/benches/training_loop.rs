//! The training loop's environment steps per second: act, step, store,
//! learn (one update per step with the seed's settings), as
//! `seed_dqn.py --mode throughput` measures PyTorch's loop: 1 000 warm-up
//! steps, then timed steps. `RAYON_NUM_THREADS=N cargo bench -p runner`;
//! the bench thread is worker 0 of the global pool, as in `cargo xtask train`.
//!
//! `fast_preset` is the same for `presets/cartpole-dqn.ron` (8 environments, one
//! batched action choice and one update per vector step).

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use runner::{RunConfig, Session};

/// Environment steps per timed sample.
const STEPS: u64 = 2_000;

fn main() {
    rayon::ThreadPoolBuilder::new().use_current_thread().build_global().expect("the first and only global pool");
    println!("rayon threads: {}", rayon::current_num_threads());
    // Idle cores of a VM run the first seconds of work slowly.
    agent::warm_up_threads(std::time::Duration::from_secs(2));
    divan::main();
}

/// A session after `warmup` environment steps, set never to finish.
fn warmed_up(mut config: RunConfig, warmup: u64) -> Session {
    config.train_episodes = u32::MAX;
    config.max_train_steps = None;
    config.early_stop = None;
    let mut session = Session::new(&config).expect("valid configuration");
    while session.total_steps() < warmup {
        session.step().expect("finite training");
    }
    session
}

fn bench_loop(bencher: Bencher, config: RunConfig) {
    let mut session = warmed_up(config, 1_000);
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        let target = session.total_steps() + STEPS;
        while session.total_steps() < target {
            black_box(session.step().expect("finite training").episodes.len());
        }
    });
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn seed_settings(bencher: Bencher) {
    bench_loop(bencher, RunConfig::default());
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn fast_preset(bencher: Bencher) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../presets/cartpole-dqn.ron");
    bench_loop(bencher, RunConfig::from_file(std::path::Path::new(path)).expect("the shipped preset parses"));
}
