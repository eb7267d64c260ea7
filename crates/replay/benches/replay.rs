//! Replay buffer: memory per transition, and the cost of sampling and
//! gathering a mini-batch of 64 from a full CartPole-sized buffer; the
//! priority tree of prioritized replay: its memory, setting a priority and
//! drawing 64 slots by segments.
//!
//! `cargo bench -p replay`. The allocation counters show that a warm batch
//! allocates nothing.

use divan::{AllocProfiler, Bencher, black_box};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::{Batch, PriorityTree, ReplayBuffer, Transition};

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
    let tree = full_tree();
    let multi = ReplayBuffer::new_multi_step(CAPACITY, OBS_DIM).expect("valid shape").heap_bytes();
    println!(
        "prioritized replay: the priority trees add {} bytes, {:.1} bytes per transition; n-step returns add {:.1}",
        tree.heap_bytes(),
        tree.heap_bytes() as f64 / CAPACITY as f64,
        (multi - bytes) as f64 / CAPACITY as f64
    );
    divan::main();
}

/// Priorities for every slot of a full buffer, spread over four decades.
fn full_tree() -> PriorityTree {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut tree = PriorityTree::new(CAPACITY).expect("valid capacity");
    for slot in 0..CAPACITY {
        tree.set(slot, 10f64.powf(rng.random_range(-2.0..2.0))).expect("positive priority");
    }
    tree
}

/// Setting one priority: a leaf and its path to the root, in both trees.
#[divan::bench(sample_count = 1000)]
fn priority_tree_set(bencher: Bencher) {
    let mut tree = full_tree();
    let mut slot = 0;
    bencher.bench_local(|| {
        slot = (slot + 7919) % CAPACITY;
        tree.set(black_box(slot), black_box(0.5)).expect("positive priority");
    });
}

/// Drawing 64 slots by segments of the total, as a prioritized mini-batch.
#[divan::bench(sample_count = 1000)]
fn priority_tree_sample_64(bencher: Bencher) {
    let tree = full_tree();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut slots = Vec::new();
    bencher.bench_local(|| {
        tree.sample_segments(64, &mut rng, &mut slots).expect("a positive total");
        black_box(slots.len())
    });
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
