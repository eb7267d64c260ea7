//! Replay buffer: memory per transition, and the cost of sampling and
//! gathering a mini-batch of 64 from a full CartPole-sized buffer.
//!
//! `cargo bench -p replay`. The allocation counters show that a warm batch
//! allocates nothing.

use divan::{AllocProfiler, Bencher, black_box};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::{Batch, ReplayBuffer, Transition};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const CAPACITY: usize = 100_000;
const OBS_DIM: usize = 4;

fn main() {
    let buffer = full_buffer();
    let bytes = buffer.heap_bytes();
    // The figures the issue asks for, printed before divan's table.
    println!(
        "replay memory: {CAPACITY} CartPole transitions = {bytes} bytes ({:.2} MB), {:.1} bytes per transition",
        bytes as f64 / 1e6,
        bytes as f64 / CAPACITY as f64
    );
    divan::main();
}

fn full_buffer() -> ReplayBuffer {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut buffer = ReplayBuffer::new(CAPACITY, OBS_DIM).expect("valid shape");
    for i in 0..CAPACITY {
        let state: [f32; 4] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        let next_state: [f32; 4] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        let transition = Transition {
            state: &state,
            action: i % 2,
            reward: 1.0,
            next_state: &next_state,
            terminated: i % 50 == 49,
            truncated: false,
        };
        buffer.push(transition).expect("finite values");
    }
    buffer
}

#[divan::bench(args = [32, 64, 256], sample_count = 1000)]
fn sample_uniform(bencher: Bencher, batch_size: usize) {
    let buffer = full_buffer();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut batch = Batch::new();
    buffer.sample_into(batch_size, &mut rng, &mut batch).expect("batch fits");
    bencher.bench_local(|| {
        buffer.sample_into(black_box(batch_size), &mut rng, &mut batch).expect("batch fits");
        black_box(batch.states()[0])
    });
}

#[divan::bench]
fn push_into_full_buffer(bencher: Bencher) {
    let mut buffer = full_buffer();
    let state = [0.1f32; 4];
    bencher.bench_local(|| {
        let t = Transition {
            state: &state,
            action: 1,
            reward: 1.0,
            next_state: &state,
            terminated: false,
            truncated: false,
        };
        buffer.push(black_box(t)).expect("valid transition");
    });
}
