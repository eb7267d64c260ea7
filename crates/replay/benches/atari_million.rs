//! One million Atari transitions, resident: a replay of 1 000 000
//! one-step transitions of 84×84 byte frames in stacks of 4 (padded with an
//! episode's first frame), filled with 1 200 000 steps of generated
//! episodes (lives that end by termination, five to a game, and now and
//! then a game cut by truncation), so the ring has wrapped; then every
//! held transition's state and next state are gathered and compared, byte
//! for byte, with the stacks a frame stacker (Gymnasium's
//! `FrameStackObservation`, `padding_type="reset"`) would have emitted.
//! Prints the buffer's heap, the process's peak resident memory (Linux's
//! `VmHWM`), and the time to fill and to check.
//!
//! `cargo bench -p replay --bench atari_million` (about 7.1 GB of memory;
//! not part of `cargo bench`'s default run of the other benches).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::{
    Batch, Frame, FrameKind, FrameSpec, InputFormat, Padding, ReplayBuffer, ReplayConfig, Rows, Stacking, Transition,
};

const PIXELS: usize = 84 * 84;
const CAPACITY: usize = 1_000_000;
const STEPS: usize = 1_200_000;
const STACK: usize = 4;
const GB_LIMIT: f64 = 7.5;

/// Frame `g`'s bytes: a function of its number alone, so that any stack
/// can be rebuilt without keeping the frames (splitmix64).
fn frame(g: u64, out: &mut [u8]) {
    let mut x = g.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
}

/// Where a transition's observations are: its state's frame number and
/// the number of its episode's first frame (the padding).
#[derive(Clone, Copy)]
struct Placed {
    state: u64,
    first: u64,
    terminated: bool,
}

/// The stack a frame stacker emits at frame `end` of an episode that
/// began at `first`: the 4 most recent, oldest first, the first repeated
/// before there are 4.
fn reference_stack(end: u64, first: u64, out: &mut Vec<u8>) {
    out.clear();
    let mut one = vec![0u8; PIXELS];
    for place in 0..STACK as u64 {
        let back = STACK as u64 - 1 - place;
        frame(end.saturating_sub(back).max(first), &mut one);
        out.extend_from_slice(&one);
    }
}

fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

fn bytes(rows: Rows<'_>) -> &[u8] {
    match rows {
        Rows::Bytes { bytes, .. } => bytes,
        Rows::F32(_) => panic!("u8 frames gather as bytes"),
    }
}

fn main() {
    let input = InputFormat {
        frame: FrameSpec { len: PIXELS, kind: FrameKind::U8 },
        stacking: Stacking::of(STACK, Padding::Repeat),
        scale: 1.0 / 255.0,
    };
    let config = ReplayConfig { capacity: CAPACITY, input, max_steps: 1, envs: 1 };
    let mut buffer = ReplayBuffer::with_config(config).expect("a valid configuration");
    let mut rng = ChaCha8Rng::seed_from_u64(2015);
    let mut placed: Vec<Placed> = Vec::with_capacity(STEPS);
    let (mut state_frame, mut next_frame) = (vec![0u8; PIXELS], vec![0u8; PIXELS]);
    let mut g = 0u64; // the next frame's number
    let mut lives_left = 0u32;
    let (mut first, mut current) = (0u64, 0u64);
    let mut fresh = true;
    let mut life_left = 0u32;
    let start = Instant::now();
    for _ in 0..STEPS {
        if fresh {
            // A new episode (a life, or a game): its first frame.
            first = g;
            current = g;
            g += 1;
            if lives_left == 0 {
                lives_left = 5;
            }
            life_left = rng.random_range(30..600);
            fresh = false;
        }
        frame(current, &mut state_frame);
        let next = g;
        g += 1;
        frame(next, &mut next_frame);
        life_left -= 1;
        let (mut terminated, mut truncated) = (false, false);
        if life_left == 0 {
            lives_left -= 1;
            // A game cut short now and then (the 108 000-frame limit).
            if lives_left > 0 && rng.random_bool(0.02) {
                truncated = true;
                lives_left = 0;
            } else {
                terminated = true;
            }
        }
        let t = Transition {
            state: Frame::U8(&state_frame),
            action: rng.random_range(0..18),
            reward: 0.0,
            next_state: Frame::U8(&next_frame),
            terminated,
            truncated,
        };
        buffer.push(t).expect("a valid transition");
        placed.push(Placed { state: current, first, terminated });
        current = next;
        fresh = terminated || truncated;
    }
    let fill = start.elapsed();
    let heap = buffer.heap_bytes();
    let peak = peak_resident_bytes();

    // Every held transition, gathered in batches of 32 by slot.
    let start = Instant::now();
    let held = buffer.len();
    let newest = placed.len();
    let mut batch = Batch::new();
    let mut want = Vec::with_capacity(STACK * PIXELS);
    let (mut checked, mut next_checked) = (0usize, 0usize);
    let oldest = newest - held;
    let slots_of = |i: usize| i % CAPACITY;
    let mut i = oldest;
    while i < newest {
        let end = (i + 32).min(newest);
        let slots: Vec<usize> = (i..end).map(slots_of).collect();
        buffer.gather_slots_into(&slots, &mut batch).expect("held slots");
        let (states, nexts) = (bytes(batch.states()), bytes(batch.next_states()));
        for (row, p) in placed[i..end].iter().enumerate() {
            reference_stack(p.state, p.first, &mut want);
            assert!(
                states[row * want.len()..][..want.len()] == want[..],
                "transition {}: state stack differs",
                i + row
            );
            checked += 1;
            if !p.terminated {
                reference_stack(p.state + 1, p.first, &mut want);
                assert!(
                    nexts[row * want.len()..][..want.len()] == want[..],
                    "transition {}: next stack differs",
                    i + row
                );
                next_checked += 1;
            }
        }
        i = end;
    }
    let check = start.elapsed();
    let gb = |b: u64| b as f64 / 1e9;
    println!(
        "atari replay: {held} of {CAPACITY} transitions held after {STEPS} steps ({} frames generated); heap {:.3} GB ({:.1} bytes a transition); peak resident {} (limit {GB_LIMIT} GB)",
        g,
        gb(heap as u64),
        heap as f64 / CAPACITY as f64,
        peak.map_or("not reported".into(), |p| format!("{:.3} GB", gb(p))),
    );
    println!(
        "atari replay: every held transition checked against the frame stacker: {checked} states, {next_checked} next states (the rest terminated), byte for byte; fill {:.1} s ({:.0} steps/s), check {:.1} s",
        fill.as_secs_f64(),
        STEPS as f64 / fill.as_secs_f64(),
        check.as_secs_f64()
    );
    assert!(held == CAPACITY, "the buffer should be full: {held}");
    if let Some(p) = peak {
        assert!(gb(p) <= GB_LIMIT, "peak resident {:.3} GB over {GB_LIMIT} GB", gb(p));
    }
}
