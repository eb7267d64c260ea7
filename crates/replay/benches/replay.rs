//! Replay buffer: memory per transition (CartPole's vectors, MinAtar's
//! binary planes, Atari's stacked pixels), the cost of sampling and
//! gathering a mini-batch from a full CartPole-sized buffer, gathering 32
//! stacked 4×84×84 states and next states from an Atari-shaped one beside
//! a plain copy and a plain conversion of the same bytes; the priority tree
//! of prioritized replay: its memory, setting a priority and drawing 64
//! slots by segments.
//!
//! `cargo bench -p replay`. The allocation counters show that a warm batch
//! allocates nothing.

use divan::{AllocProfiler, Bencher, black_box};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::{
    Batch, Frame, FrameKind, FrameSpec, InputFormat, Padding, PriorityTree, ReplayBuffer, ReplayConfig, Stacking,
    Transition,
};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const CAPACITY: usize = 100_000;
const OBS_DIM: usize = 4;
/// An Atari frame: 84×84 grey bytes.
const PIXELS: usize = 84 * 84;
/// Transitions in the Atari-shaped buffer the gather bench samples from.
const ATARI_HELD: usize = 20_000;

fn atari_input() -> InputFormat {
    InputFormat {
        frame: FrameSpec { len: PIXELS, kind: FrameKind::U8 },
        stacking: Stacking::of(4, Padding::Repeat),
        scale: 1.0 / 255.0,
    }
}

fn minatar_input(channels: usize) -> InputFormat {
    InputFormat {
        frame: FrameSpec { len: 100 * channels, kind: FrameKind::Bit },
        stacking: Stacking::default(),
        scale: 1.0,
    }
}

fn main() {
    let buffer = full_buffer();
    let bytes = buffer.heap_bytes();
    // The figures the issue asks for, printed before divan's table.
    println!(
        "replay memory: {CAPACITY} CartPole transitions = {bytes} bytes ({:.2} MB), {:.1} bytes per transition",
        bytes as f64 / 1e6,
        bytes as f64 / CAPACITY as f64
    );
    for channels in [4, 6, 7, 10] {
        for max_steps in [1u8, 3] {
            // A real buffer, filled with episodes of 200 steps.
            let config = ReplayConfig { capacity: CAPACITY, input: minatar_input(channels), max_steps, envs: 1 };
            let buffer = filled(config, 200, 0);
            let per = buffer.heap_bytes() as f64 / CAPACITY as f64;
            let limit = (100 * channels).div_ceil(8) + 16;
            println!(
                "replay memory: MinAtar-shaped ({channels}×10×10 bits, n = {max_steps}): {per:.2} bytes per transition (target {limit}), {} held of {CAPACITY}",
                buffer.len()
            );
        }
    }
    for (max_steps, envs) in [(1u8, 1usize), (3, 8)] {
        let config = ReplayConfig { capacity: 1_000_000, input: atari_input(), max_steps, envs };
        let gb = config.heap_bytes() as f64 / 1e9;
        println!(
            "replay memory: Atari-shaped (84×84 bytes, stacks of 4, n = {max_steps}, {envs} env): 1 000 000 transitions = {gb:.3} GB, {:.2} bytes per transition (target 7 100)",
            config.heap_bytes() as f64 / 1e6
        );
    }
    let tree = full_tree();
    let multi = ReplayConfig { max_steps: 3, ..ReplayConfig::vectors(CAPACITY, OBS_DIM) }.heap_bytes();
    println!(
        "prioritized replay: the priority trees add {} bytes, {:.1} bytes per transition; n-step returns add {:.1}",
        tree.heap_bytes(),
        tree.heap_bytes() as f64 / CAPACITY as f64,
        (multi - bytes) as f64 / CAPACITY as f64
    );
    divan::main();
}

/// A buffer filled to its capacity with `envs` environments' episodes of
/// `episode` steps (terminated), random frames: as a run fills it.
fn filled(config: ReplayConfig, episode: usize, seed: u64) -> ReplayBuffer {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buffer = ReplayBuffer::with_config(config).expect("valid settings");
    let len = config.input.frame.len;
    let kind = config.input.frame.kind;
    let draw = |rng: &mut ChaCha8Rng| -> Vec<u8> {
        (0..len).map(|_| if kind == FrameKind::Bit { rng.random_range(0..2) } else { rng.random() }).collect()
    };
    let mut current: Vec<Vec<u8>> = (0..config.envs).map(|_| draw(&mut rng)).collect();
    let mut step = 0;
    while buffer.len() < config.capacity {
        for (env, state) in current.iter_mut().enumerate() {
            let next = draw(&mut rng);
            let terminated = step % episode == episode - 1;
            let t = Transition {
                state: Frame::U8(state),
                action: step % 3,
                reward: 1.0,
                next_state: Frame::U8(&next),
                terminated,
                truncated: false,
            };
            buffer.push_from(env, t).expect("valid transition");
            *state = if terminated { draw(&mut rng) } else { next };
        }
        step += 1;
    }
    buffer
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

/// A full CartPole-sized buffer: episodes of 50 steps, random
/// observations.
fn full_buffer() -> ReplayBuffer {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut buffer = ReplayBuffer::new(CAPACITY, OBS_DIM).expect("valid shape");
    let mut draw = || -> [f32; 4] { std::array::from_fn(|_| rng.random_range(-1.0..1.0)) };
    let mut state = draw();
    for i in 0..CAPACITY {
        let next_state = draw();
        let terminated = i % 50 == 49;
        let transition = Transition {
            state: (&state).into(),
            action: i % 2,
            reward: 1.0,
            next_state: (&next_state).into(),
            terminated,
            truncated: false,
        };
        buffer.push(transition).expect("finite values");
        state = if terminated { draw() } else { next_state };
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
        black_box(batch.states().len())
    });
}

/// Pushing one step of an episode (its next state stored, its state the
/// previous next state) into a full buffer.
#[divan::bench]
fn push_into_full_buffer(bencher: Bencher) {
    let mut buffer = full_buffer();
    let mut x = 0.0f32;
    bencher.bench_local(|| {
        let (state, next_state) = ([x; 4], [x + 1.0; 4]);
        let t = Transition {
            state: (&state).into(),
            action: 1,
            reward: 1.0,
            next_state: (&next_state).into(),
            terminated: false,
            truncated: false,
        };
        buffer.push(black_box(t)).expect("valid transition");
        x = (x + 1.0) % 1000.0;
    });
}

/// A mini-batch of 32 from an Atari-shaped buffer: 32 states and 32 next
/// states, each rebuilt as a stack of 4 frames of 84×84 bytes, kept as
/// bytes for the network to convert (1.8 MB of frames in, 1.8 MB out).
#[divan::bench(sample_count = 200)]
fn atari_gather_32(bencher: Bencher) {
    let config = ReplayConfig { capacity: ATARI_HELD, input: atari_input(), max_steps: 1, envs: 1 };
    let buffer = filled(config, 400, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut batch = Batch::new();
    buffer.sample_into(32, &mut rng, &mut batch).expect("batch fits");
    bencher.bench_local(|| {
        buffer.sample_into(32, &mut rng, &mut batch).expect("batch fits");
        black_box(batch.states().len())
    });
}

/// The same bytes copied plainly: 2 × 32 stacks of 4 frames of 84×84
/// bytes gathered from random places of a buffer of frames, without
/// converting them.
#[divan::bench(sample_count = 200)]
fn atari_plain_copy_32(bencher: Bencher) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let frames: Vec<u8> = (0..ATARI_HELD * PIXELS).map(|_| rng.random()).collect();
    let mut out = vec![0u8; 2 * 32 * 4 * PIXELS];
    bencher.bench_local(|| {
        for stack in out.chunks_exact_mut(4 * PIXELS) {
            let at = rng.random_range(0..ATARI_HELD - 4) * PIXELS;
            stack.copy_from_slice(&frames[at..at + 4 * PIXELS]);
        }
        black_box(out[0])
    });
}

/// The same bytes converted plainly: 2 × 32 × 4 frames of 84×84 bytes to
/// f32 / 255 through a table, from random places of a buffer of frames: the
/// conversion the network's input needs, without the stacks' bookkeeping.
#[divan::bench(sample_count = 200)]
fn atari_plain_convert_32(bencher: Bencher) {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let frames: Vec<u8> = (0..ATARI_HELD * PIXELS).map(|_| rng.random()).collect();
    let table: [f32; 256] = std::array::from_fn(|v| v as f32 / 255.0);
    let mut out = vec![0f32; 2 * 32 * 4 * PIXELS];
    bencher.bench_local(|| {
        for stack in out.chunks_exact_mut(4 * PIXELS) {
            let at = rng.random_range(0..ATARI_HELD - 4) * PIXELS;
            for (o, &b) in stack.iter_mut().zip(&frames[at..at + 4 * PIXELS]) {
                *o = table[usize::from(b)];
            }
        }
        black_box(out[0])
    });
}
