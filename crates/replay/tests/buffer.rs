//! Behaviour of the replay buffer: ring order, sampling, errors, and the
//! frames: every gathered row is the stack a reference builds from each
//! environment's episodes, whatever the frame type, stack, padding, n-step
//! spans and interleaving of environments.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::{
    Batch, Frame, FrameKind, FrameSpec, FrameWindow, InputFormat, Padding, ReplayBuffer, ReplayConfig, ReplayError,
    Rows, Stacking, Transition,
};

const OBS_DIM: usize = 3;

/// The observation of step `i` of the numbered stream: every value derives
/// from `i`.
fn obs(i: usize) -> [f32; OBS_DIM] {
    let v = i as f32;
    [v, v + 0.25, v + 0.5]
}

/// The `i`-th transition of a numbered stream of one environment: it goes
/// from observation `i` to `i + 1`, and every fifth terminates (the next
/// starts from a fresh observation, numbered 1000 + i). Every field derives
/// from `i`, so a transition read back names the push it came from.
fn push_numbered(buffer: &mut ReplayBuffer, i: usize) {
    let start = if i > 0 && (i - 1).is_multiple_of(5) { 1000 + i } else { i };
    let (state, next_state) = (obs(start), obs(i + 1));
    buffer
        .push(Transition {
            state: (&state).into(),
            action: i % 3,
            reward: -(i as f32),
            next_state: (&next_state).into(),
            terminated: i.is_multiple_of(5),
            truncated: false,
        })
        .unwrap();
}

/// Which push a gathered row came from, after checking that its fields
/// agree.
fn push_number(batch: &Batch, row: usize) -> usize {
    let i = (-batch.rewards()[row]) as usize;
    let start = if i > 0 && (i - 1).is_multiple_of(5) { 1000 + i } else { i };
    assert_eq!(&batch.states().to_vec()[row * OBS_DIM..(row + 1) * OBS_DIM], obs(start));
    let terminated = i.is_multiple_of(5);
    // A terminated transition's next state is not stored: its state stands in.
    let next = if terminated { obs(start) } else { obs(i + 1) };
    assert_eq!(&batch.next_states().to_vec()[row * OBS_DIM..(row + 1) * OBS_DIM], next);
    assert_eq!((batch.actions()[row], batch.terminated()[row], batch.truncated()[row]), (i % 3, terminated, false));
    i
}

fn filled(capacity: usize, pushes: usize) -> ReplayBuffer {
    let mut buffer = ReplayBuffer::new(capacity, OBS_DIM).unwrap();
    for i in 0..pushes {
        push_numbered(&mut buffer, i);
    }
    buffer
}

/// The ring invariant: after n pushes the buffer holds exactly the last
/// min(n, capacity) transitions, oldest first, and writes next at n mod
/// capacity (a stream of terminated episodes costs one frame a transition,
/// so frames never run short).
fn check_ring(capacity: usize, n: usize) {
    let buffer = filled(capacity, n);
    let held = n.min(capacity);
    assert_eq!(buffer.len(), held);
    assert_eq!(buffer.is_empty(), n == 0);
    assert_eq!(buffer.capacity(), capacity);
    assert_eq!(buffer.write_position(), n % capacity);
    assert_eq!(buffer.pushes(), n as u64);
    let slots: Vec<usize> = (0..held).map(|age| buffer.slot_of_age(age).unwrap()).collect();
    let mut batch = Batch::new();
    buffer.gather_slots_into(&slots, &mut batch).unwrap();
    let order: Vec<usize> = (0..held).map(|row| push_number(&batch, row)).collect();
    assert_eq!(order, (n - held..n).collect::<Vec<_>>());
    assert!(buffer.slot_of_age(held).is_none());
    // One frame a transition, and one more for the episode under way.
    assert!(buffer.frames_pushed() <= n as u64 + 1, "{} frames for {n} transitions", buffer.frames_pushed());
}

/// Every batch holds distinct live slots whose rows are their transitions.
fn check_batch(buffer: &ReplayBuffer, batch: &Batch, k: usize) {
    assert_eq!(batch.len(), k);
    let mut seen = batch.indices().to_vec();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), k, "indices repeat: {:?}", batch.indices());
    for (row, &slot) in batch.indices().iter().enumerate() {
        let i = push_number(batch, row);
        let record = buffer.record(slot).expect("a sampled slot holds a transition");
        assert_eq!((record.action, record.reward, record.steps), (i % 3, -(i as f32), 1));
    }
}

proptest! {
    #[test]
    fn ring_holds_the_last_transitions_in_order(capacity in 1usize..40, n in 0usize..130) {
        check_ring(capacity, n);
    }

    #[test]
    fn samples_are_distinct_in_range_and_reproducible(
        capacity in 1usize..60, n in 1usize..150, k_frac in 0.0f64..=1.0, seed in any::<u64>(),
    ) {
        let buffer = filled(capacity, n);
        let k = ((buffer.len() as f64 * k_frac) as usize).min(buffer.len());
        let (mut a, mut b) = (Batch::new(), Batch::new());
        let mut rng_a = ChaCha8Rng::seed_from_u64(seed);
        let mut rng_b = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..3 {
            buffer.sample_into(k, &mut rng_a, &mut a).unwrap();
            buffer.sample_into(k, &mut rng_b, &mut b).unwrap();
            check_batch(&buffer, &a, k);
            prop_assert_eq!(a.indices(), b.indices());
            prop_assert_eq!(a.states(), b.states());
        }
    }

    #[test]
    fn recent_batches_are_the_newest_transitions(capacity in 1usize..40, n in 1usize..100, k_frac in 0.0f64..=1.0) {
        let buffer = filled(capacity, n);
        let k = ((buffer.len() as f64 * k_frac) as usize).min(buffer.len());
        let mut batch = Batch::new();
        buffer.recent_into(k, &mut batch).unwrap();
        check_batch(&buffer, &batch, k);
        let pushes: Vec<usize> = (0..k).map(|row| push_number(&batch, row)).collect();
        prop_assert_eq!(pushes, (n - k..n).rev().collect::<Vec<_>>());
    }
}

#[test]
fn ring_edge_cases() {
    for (capacity, n) in [(1, 0), (1, 1), (1, 5), (4, 4), (4, 8), (4, 9), (100_000, 3)] {
        check_ring(capacity, n);
    }
}

#[test]
fn sampling_is_uniform() {
    // A full buffer of 100 slots that has wrapped around (250 pushes), 20 000
    // batches of 10: each of the last 100 pushes is expected 2 000 times.
    // Pearson's chi-square over the 100 cells has 99 degrees of freedom (mean
    // 99, sd 14); we fail above 99 + 6 sd = 183, which a uniform sampler passes
    // with this fixed seed and a biased one (say, never the newest slot, or
    // slot order instead of push order) does not.
    let buffer = filled(100, 250);
    let mut counts = [0u32; 100];
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut batch = Batch::new();
    for _ in 0..20_000 {
        buffer.sample_into(10, &mut rng, &mut batch).unwrap();
        for row in 0..10 {
            counts[push_number(&batch, row) - 150] += 1;
        }
    }
    let expected = 2_000.0;
    let chi2: f64 = counts.iter().map(|&c| (f64::from(c) - expected).powi(2) / expected).sum();
    assert!(chi2 < 183.0, "chi-square {chi2:.1} over 99 dof: {counts:?}");
    // No transition is starved.
    assert!(counts.iter().all(|&c| c > 1_700), "{counts:?}");
}

#[test]
fn errors_name_the_problem_and_change_nothing() {
    assert_eq!(ReplayBuffer::new(0, 4).unwrap_err(), ReplayError::ZeroCapacity);
    assert_eq!(ReplayBuffer::new(4, 0).unwrap_err(), ReplayError::FrameLength { len: 0 });

    let mut buffer = filled(4, 2);
    let good = [0.0f32; OBS_DIM];
    let t = Transition {
        state: (&good).into(),
        action: 1,
        reward: 1.0,
        next_state: (&good).into(),
        terminated: false,
        truncated: false,
    };
    let err = buffer.push(Transition { state: (&[0.0f32; 2]).into(), ..t }).unwrap_err();
    assert_eq!(err, ReplayError::ObsLength { field: "state", expected: 3, got: 2 });
    assert_eq!(err.to_string(), "state has length 2, expected 3");
    let bad = [0.0, f32::NAN, 0.0];
    let err = buffer.push(Transition { next_state: (&bad).into(), ..t }).unwrap_err();
    assert!(matches!(err, ReplayError::NonFinite { field: "next_state", index: 1, .. }), "{err}");
    let err = buffer.push(Transition { reward: f32::INFINITY, ..t }).unwrap_err();
    assert_eq!(err.to_string(), "reward[0] is inf: transitions must be finite");
    let err = buffer.push(Transition { action: 70_000, ..t }).unwrap_err();
    assert_eq!(err, ReplayError::ActionOutOfRange { action: 70_000 });
    let bytes = [0u8; OBS_DIM];
    let err = buffer.push(Transition { state: Frame::U8(&bytes), ..t }).unwrap_err();
    assert!(matches!(err, ReplayError::FrameType { field: "state", expected: FrameKind::F32, .. }), "{err}");
    assert_eq!((buffer.len(), buffer.pushes(), buffer.frames_pushed()), (2, 2, 3), "a refused push stores nothing");
    assert_eq!(buffer.push_transition(1, 0, 0.0, 1, false, false), Err(ReplayError::EnvOutOfRange { env: 1, envs: 1 }));

    let mut batch = Batch::new();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let err = buffer.sample_into(3, &mut rng, &mut batch).unwrap_err();
    assert_eq!(err, ReplayError::BatchTooLarge { batch_size: 3, len: 2 });
    assert_eq!(err.to_string(), "cannot sample 3 distinct transitions from a buffer holding 2");
    assert!(buffer.recent_into(3, &mut batch).is_err());
    assert!(batch.is_empty());
    assert!(matches!(buffer.gather_slots_into(&[0, 2], &mut batch), Err(ReplayError::SlotOutOfRange { slot: 2, .. })));
}

#[test]
fn impossible_capacities_are_errors_not_aborts() {
    assert!(matches!(ReplayBuffer::new(usize::MAX / 2, 4), Err(ReplayError::TooLarge { .. })));
    assert!(matches!(ReplayBuffer::new(1 << 50, 4), Err(ReplayError::TooLarge { .. })));
}

#[test]
fn step_counts_are_checked() {
    let mut plain = ReplayBuffer::new(2, 1).unwrap();
    let s = [0.0f32];
    plain.record_step(0, (&s).into(), (&s).into(), false, false).unwrap();
    assert_eq!(plain.push_transition(0, 0, 1.0, 0, false, false), Err(ReplayError::Steps { steps: 0, max_steps: 1 }));
    let err = plain.push_transition(0, 0, 1.0, 2, false, false).unwrap_err();
    assert_eq!(err, ReplayError::Steps { steps: 2, max_steps: 1 });
    let config = ReplayConfig { max_steps: 3, ..ReplayConfig::vectors(4, 1) };
    let mut multi = ReplayBuffer::with_config(config).unwrap();
    assert_eq!(multi.push_transition(0, 0, 1.0, 1, false, false), Err(ReplayError::NoStep { env: 0 }));
    multi.record_step(0, (&s).into(), (&[1.0]).into(), false, false).unwrap();
    // One step recorded: a transition of two reaches before the episode.
    assert_eq!(multi.push_transition(0, 0, 1.0, 2, false, false), Err(ReplayError::Span { env: 0, steps: 2 }));
    multi.record_step(0, (&[1.0]).into(), (&[2.0]).into(), false, false).unwrap();
    assert_eq!(multi.push_transition(0, 1, 1.5, 2, false, false), Ok(0));
    let mut batch = Batch::new();
    multi.recent_into(1, &mut batch).unwrap();
    assert_eq!(
        (batch.states().to_vec(), batch.next_states().to_vec(), batch.steps()),
        (vec![0.0], vec![2.0], &[2][..])
    );
}

// ------------------------------------------------------------ frames

/// What one generated step of the reference holds.
#[derive(Debug, Clone)]
struct Step {
    /// Each value of the observation after the step, as a byte (pixels and
    /// cells are bytes; `f32` frames use the byte as a value).
    next: Vec<u8>,
    terminated: bool,
    truncated: bool,
    action: usize,
    reward: f32,
}

/// A transition pushed, as the reference sees it: its expected input rows.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    state: Vec<f32>,
    next_state: Vec<f32>,
    action: usize,
    reward: f32,
    terminated: bool,
    truncated: bool,
    steps: u8,
}

/// A frame's values converted to input values.
fn convert(frame: &[u8], format: &InputFormat) -> Vec<f32> {
    match format.frame.kind {
        FrameKind::F32 => frame.iter().map(|&b| f32::from(b) - 100.0).map(|v| v * format.scale as f32).collect(),
        FrameKind::U8 => frame.iter().map(|&b| (f64::from(b) * format.scale) as f32).collect(),
        FrameKind::Bit => frame.iter().map(|&b| if b == 1 { format.scale as f32 } else { 0.0 }).collect(),
    }
}

/// The reference stack of episode frames `frames` ending at index `end`:
/// the `k` most recent, oldest first, padded as `padding` says.
fn stack(frames: &[Vec<u8>], end: usize, format: &InputFormat) -> Vec<f32> {
    let k = format.stacking.frames;
    let mut out = Vec::new();
    for place in 0..k {
        let back = k - 1 - place;
        let row = if back <= end {
            convert(&frames[end - back], format)
        } else {
            match format.stacking.padding {
                Padding::Repeat => convert(&frames[0], format),
                Padding::Zeros => vec![0.0; format.frame.len],
            }
        };
        out.extend(row);
    }
    out
}

/// Frame values for a generated byte vector, in the frame's own type.
struct Owned {
    f32s: Vec<f32>,
    bytes: Vec<u8>,
}

impl Owned {
    fn of(values: &[u8]) -> Self {
        Self { f32s: values.iter().map(|&b| f32::from(b) - 100.0).collect(), bytes: values.to_vec() }
    }
    fn frame(&self, kind: FrameKind) -> Frame<'_> {
        match kind {
            FrameKind::F32 => Frame::F32(&self.f32s),
            FrameKind::U8 | FrameKind::Bit => Frame::U8(&self.bytes),
        }
    }
}

/// Drives a buffer as the agent does — every environment's steps recorded
/// as they happen, n-step windows that fill and flush at an episode's end
/// — with random frames, episodes and interleaving, and a reference that
/// keeps every episode's frames whole. Returns the buffer and the expected
/// rows of every transition pushed, in push order.
#[allow(clippy::too_many_arguments)]
fn drive(
    kind: FrameKind,
    len: usize,
    k: usize,
    padding: Padding,
    n: u8,
    envs: usize,
    capacity: usize,
    steps: usize,
    (terminate_rate, truncate_rate): (f64, f64),
    seed: u64,
) -> (ReplayBuffer, Vec<Expected>, ReplayConfig) {
    let scale = match kind {
        FrameKind::U8 => 1.0 / 255.0,
        FrameKind::Bit => 1.0,
        FrameKind::F32 => 0.5,
    };
    let format = InputFormat { frame: FrameSpec { len, kind }, stacking: Stacking::of(k, padding), scale };
    let config = ReplayConfig { capacity, input: format, max_steps: n, envs };
    let mut buffer = ReplayBuffer::with_config(config).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let random_frame = |rng: &mut ChaCha8Rng| -> Vec<u8> {
        (0..len).map(|_| if kind == FrameKind::Bit { rng.random_range(0..2) } else { rng.random() }).collect()
    };
    // Per environment: the current episode's frames, and its pending steps
    // (index of their state in the episode, action, reward).
    let mut episodes: Vec<Vec<Vec<u8>>> = (0..envs).map(|_| vec![random_frame(&mut rng)]).collect();
    let mut pending: Vec<Vec<(usize, usize, f32)>> = vec![Vec::new(); envs];
    let mut expected = Vec::new();
    // Environments stepped together, in turn, as a batch of them is.
    for env in (0..envs).cycle().take(steps) {
        let step = Step {
            next: random_frame(&mut rng),
            terminated: rng.random_bool(terminate_rate),
            truncated: rng.random_bool(truncate_rate),
            action: rng.random_range(0..5),
            reward: rng.random_range(-2.0..2.0),
        };
        let episode = &mut episodes[env];
        let t = episode.len() - 1;
        let (state, next) = (Owned::of(&episode[t]), Owned::of(&step.next));
        buffer.record_step(env, state.frame(kind), next.frame(kind), step.terminated, step.truncated).unwrap();
        episode.push(step.next.clone());
        pending[env].push((t, step.action, step.reward));
        let ended = step.terminated || step.truncated;
        let window = Window { env, end: t + 1, n, flags: (step.terminated, step.truncated) };
        push_ready(&mut buffer, &mut pending[env], window, |i| stack(episode, i, &format), &mut expected);
        if ended {
            episodes[env] = vec![random_frame(&mut rng)];
        }
    }
    (buffer, expected, config)
}

/// Where an environment's n-step window stands after a step: its
/// environment, the index of the step's next observation in the episode,
/// n, and the step's `(terminated, truncated)`.
struct Window {
    env: usize,
    end: usize,
    n: u8,
    flags: (bool, bool),
}

/// Pushes the transitions an environment's step completes, as the agent
/// does: the oldest pending step once `n` are pending, all of them when the
/// episode ended; each expected with the rows `row_at` gives for an index
/// of the episode.
fn push_ready(
    buffer: &mut ReplayBuffer,
    pending: &mut Vec<(usize, usize, f32)>,
    Window { env, end, n, flags: (terminated, truncated) }: Window,
    row_at: impl Fn(usize) -> Vec<f32>,
    expected: &mut Vec<Expected>,
) {
    let ended = terminated || truncated;
    let ready = if ended { pending.len() } else { usize::from(pending.len() == usize::from(n)) };
    for _ in 0..ready {
        let (s, action, reward) = pending.remove(0);
        let steps = (end - s) as u8;
        buffer.push_transition(env, action, reward, steps, terminated, truncated).unwrap();
        let state = row_at(s);
        let next_state = if terminated { state.clone() } else { row_at(end) };
        expected.push(Expected { state, next_state, action, reward, terminated, truncated, steps });
    }
}

/// A buffer written to its stream and read back is the same buffer, whole,
/// and gathers the same rows.
fn check_round_trip(buffer: &ReplayBuffer, config: &ReplayConfig, expected: &[Expected]) {
    let mut bytes = Vec::new();
    buffer.write_to(&mut bytes).unwrap();
    assert_eq!(bytes.len() as u64, buffer.stream_len());
    let back = ReplayBuffer::read_from(&mut bytes.as_slice(), Some(config)).unwrap();
    assert!(back == *buffer);
    check_against_reference(&back, expected);
}

/// The raw byte that the test's encoding turns into a zero value of
/// `kind` ([`Owned::of`]: `f32` values are the byte − 100).
fn zero_byte(kind: FrameKind) -> u8 {
    if kind == FrameKind::F32 { 100 } else { 0 }
}

/// [`drive`] for an environment that stacks frames itself
/// ([`Stacking::by_environment`]): each observation is a stack of `k`
/// frames, an episode's first padded as `padding` says (with Gymnasium's
/// `FrameStackObservation`'s rule), each next one the one before moved on
/// by a new frame — except that with probability `glitch` a stack is drawn
/// whole at random instead (a wrapper the buffer knows nothing of). Frames
/// are drawn from `alphabet` values, so small alphabets make stacks that
/// overlap or look padded by chance. Returns also the number of episodes
/// started and the stacks drawn whole.
#[allow(clippy::too_many_arguments)]
fn drive_stacked(
    (kind, len, k, padding): (FrameKind, usize, usize, Padding),
    n: u8,
    envs: usize,
    capacity: usize,
    steps: usize,
    (terminate_rate, truncate_rate, glitch): (f64, f64, f64),
    alphabet: u8,
    seed: u64,
) -> (ReplayBuffer, Vec<Expected>, ReplayConfig, usize, usize) {
    let scale = if kind == FrameKind::U8 { 1.0 / 255.0 } else { 1.0 };
    let format = InputFormat {
        frame: FrameSpec { len, kind },
        stacking: Stacking { frames: k, padding, by_environment: true },
        scale,
    };
    let config = ReplayConfig { capacity, input: format, max_steps: n, envs };
    let mut buffer = ReplayBuffer::with_config(config).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let alphabet = if kind == FrameKind::Bit { 2 } else { alphabet.max(1) };
    let random_frame = |rng: &mut ChaCha8Rng| -> Vec<u8> { (0..len).map(|_| rng.random_range(0..alphabet)).collect() };
    let (starts, glitches) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let first_stack = |rng: &mut ChaCha8Rng| -> Vec<u8> {
        starts.set(starts.get() + 1);
        if rng.random_bool(glitch) {
            glitches.set(glitches.get() + 1);
            return (0..k).flat_map(|_| random_frame(rng)).collect();
        }
        let frame = random_frame(rng);
        let older = match padding {
            Padding::Repeat => frame.clone(),
            Padding::Zeros => vec![zero_byte(kind); len],
        };
        (0..k - 1).flat_map(|_| older.iter().copied()).chain(frame).collect()
    };
    let rows = |stack: &[u8]| -> Vec<f32> { stack.chunks(len).flat_map(|f| convert(f, &format)).collect() };
    // Per environment: the current episode's stacks, and its pending steps.
    let mut episodes: Vec<Vec<Vec<u8>>> = (0..envs).map(|_| vec![first_stack(&mut rng)]).collect();
    let mut pending: Vec<Vec<(usize, usize, f32)>> = vec![Vec::new(); envs];
    let mut expected = Vec::new();
    for env in (0..envs).cycle().take(steps) {
        let episode = &mut episodes[env];
        let t = episode.len() - 1;
        let next: Vec<u8> = if rng.random_bool(glitch) {
            glitches.set(glitches.get() + 1);
            (0..k).flat_map(|_| random_frame(&mut rng)).collect()
        } else {
            episode[t][len..].iter().copied().chain(random_frame(&mut rng)).collect()
        };
        let (terminated, truncated) = (rng.random_bool(terminate_rate), rng.random_bool(truncate_rate));
        let (action, reward) = (rng.random_range(0..5), rng.random_range(-2.0f32..2.0));
        let (state, next_owned) = (Owned::of(&episode[t]), Owned::of(&next));
        buffer.record_step(env, state.frame(kind), next_owned.frame(kind), terminated, truncated).unwrap();
        episode.push(next);
        pending[env].push((t, action, reward));
        let ended = terminated || truncated;
        let window = Window { env, end: t + 1, n, flags: (terminated, truncated) };
        push_ready(&mut buffer, &mut pending[env], window, |i| rows(&episode[i]), &mut expected);
        if ended {
            episodes[env] = vec![first_stack(&mut rng)];
        }
    }
    (buffer, expected, config, starts.get(), glitches.get())
}

/// Every transition the buffer holds gathers to the rows the reference
/// expects; the held ones are the newest pushed.
fn check_against_reference(buffer: &ReplayBuffer, expected: &[Expected]) {
    let held = buffer.len();
    assert!(held <= expected.len() && held <= buffer.capacity());
    let slots: Vec<usize> = (0..held).map(|age| buffer.slot_of_age(age).unwrap()).collect();
    let mut batch = Batch::new();
    buffer.gather_slots_into(&slots, &mut batch).unwrap();
    let row_len = buffer.row_len();
    for (row, e) in expected[expected.len() - held..].iter().enumerate() {
        let got = Expected {
            state: batch.states().to_vec()[row * row_len..(row + 1) * row_len].to_vec(),
            next_state: batch.next_states().to_vec()[row * row_len..(row + 1) * row_len].to_vec(),
            action: batch.actions()[row],
            reward: batch.rewards()[row],
            terminated: batch.terminated()[row],
            truncated: batch.truncated()[row],
            steps: batch.steps()[row],
        };
        assert_eq!(&got, e, "the transition {row} of {held} held");
    }
}

fn kinds() -> impl Strategy<Value = FrameKind> {
    prop_oneof![Just(FrameKind::F32), Just(FrameKind::U8), Just(FrameKind::Bit)]
}

fn paddings() -> impl Strategy<Value = Padding> {
    prop_oneof![Just(Padding::Repeat), Just(Padding::Zeros)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    /// Frames stored once, stacks rebuilt: for any frame type, stack,
    /// padding, n, number of interleaved environments, episode length and
    /// capacity (wrapped or not), every held transition gathers to exactly
    /// the reference's rows, and a buffer that ran short of frames (many
    /// truncations) holds the newest transitions whole, never a wrong frame.
    #[test]
    fn stacks_are_the_episodes_frames(
        kind in kinds(),
        len in 1usize..20,
        k in 1usize..5,
        padding in paddings(),
        n in 1u8..5,
        envs in 1usize..5,
        capacity in 1usize..80,
        steps in 0usize..400,
        end_rate in prop_oneof![Just(0.0), 0.01f64..0.4],
        seed in any::<u64>(),
    ) {
        let (buffer, expected, config) =
            drive(kind, len, k, padding, n, envs, capacity, steps, (end_rate, end_rate), seed);
        check_against_reference(&buffer, &expected);
        // Without truncations, frames never run short.
        if end_rate == 0.0 {
            prop_assert_eq!(buffer.len(), expected.len().min(capacity));
        }
        check_round_trip(&buffer, &config, &expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    /// An environment's own stacks, stored one frame a step: for any frame
    /// type, stack, padding, n, environments and capacity, with stacks
    /// drawn whole now and then and frames from small alphabets (stacks
    /// that overlap, or look padded, by chance), every held transition
    /// gathers to exactly the stacks observed — the stream round trip too.
    #[test]
    fn environment_stacks_are_rebuilt_exactly(
        kind in kinds(),
        len in 1usize..12,
        k in 1usize..5,
        padding in paddings(),
        n in 1u8..4,
        envs in 1usize..4,
        capacity in 1usize..80,
        steps in 0usize..300,
        end_rate in prop_oneof![Just(0.0), 0.01f64..0.3],
        glitch in prop_oneof![Just(0.0), 0.01f64..0.5],
        alphabet in prop_oneof![Just(2u8), Just(255u8)],
        seed in any::<u64>(),
    ) {
        let (buffer, expected, config, _, _) = drive_stacked(
            (kind, len, k, padding), n, envs, capacity, steps, (end_rate, end_rate, glitch), alphabet, seed,
        );
        check_against_reference(&buffer, &expected);
        check_round_trip(&buffer, &config, &expected);
    }
}

/// What an environment's stacks cost: one frame a step, and one an episode
/// for its padded first stack; a stack that does not continue the one
/// before costs all its frames.
#[test]
fn environment_stacks_cost_one_frame_a_step() {
    for padding in [Padding::Repeat, Padding::Zeros] {
        let (k, steps) = (4, 3000);
        let spec = (FrameKind::U8, 16, k, padding);
        let (buffer, expected, _, starts, glitches) =
            drive_stacked(spec, 1, 2, 10_000, steps, (0.01, 0.0, 0.0), 255, 5);
        let terminated = expected.iter().filter(|e| e.terminated).count();
        assert_eq!(glitches, 0);
        assert_eq!(buffer.frames_pushed(), (starts + steps - terminated) as u64, "{padding:?}");
        check_against_reference(&buffer, &expected);
        // Mid-episode stacks drawn whole cost k frames each (a by-chance
        // overlap of random bytes aside).
        let (buffer, expected, _, starts, glitches) =
            drive_stacked(spec, 1, 2, 10_000, steps, (0.01, 0.0, 0.05), 255, 5);
        assert!(glitches > 100, "{glitches}");
        let terminated = expected.iter().filter(|e| e.terminated).count();
        assert!(buffer.frames_pushed() <= (starts + steps - terminated + glitches * (k - 1)) as u64);
        assert!(buffer.frames_pushed() >= (starts + steps - terminated + glitches * (k - 1) * 9 / 10) as u64);
        check_against_reference(&buffer, &expected);
    }
}

/// Stacks stored whole ran the frames short before the transitions
/// wrapped: the oldest transitions were evicted, and the stream of such a
/// buffer reads back (it was refused as inconsistent once).
#[test]
fn frames_short_before_the_ring_wraps_read_back() {
    let spec = (FrameKind::F32, 1, 3, Padding::Repeat);
    let (buffer, expected, config, _, _) =
        drive_stacked(spec, 1, 1, 46, 32, (0.0, 0.0, 0.2523), 255, 13_385_071_652_952_538_076);
    assert!(buffer.len() < expected.len() && expected.len() < 46, "{} of {}", buffer.len(), expected.len());
    check_against_reference(&buffer, &expected);
    check_round_trip(&buffer, &config, &expected);
}

/// An environment's stack acts as itself: the window and the buffer's
/// acting row are the observation converted, whatever came before.
#[test]
fn environment_stacks_act_as_observed() {
    let format = InputFormat {
        frame: FrameSpec { len: 2, kind: FrameKind::U8 },
        stacking: Stacking { frames: 3, padding: Padding::Repeat, by_environment: true },
        scale: 1.0 / 255.0,
    };
    let mut window = FrameWindow::new(format).unwrap();
    let buffer = ReplayBuffer::with_config(ReplayConfig { capacity: 8, input: format, max_steps: 1, envs: 1 }).unwrap();
    let stack = [1u8, 2, 3, 4, 5, 6];
    let expect: Vec<f32> = stack.iter().map(|&b| f32::from(b) / 255.0).collect();
    window.push(Frame::U8(&stack), false).unwrap();
    assert_eq!(window.input(), expect.as_slice());
    let mut row = vec![0.0; 6];
    buffer.write_input(0, Frame::U8(&stack), &mut row).unwrap();
    assert_eq!(row, expect);
    // A single frame is not an observation here.
    assert!(matches!(
        window.push(Frame::U8(&stack[..2]), true),
        Err(ReplayError::ObsLength { expected: 6, got: 2, .. })
    ));
}

/// An environment left idle while another fills the frames loses its own:
/// a named error, not a wrong stack.
#[test]
fn an_idle_environment_s_lost_frames_are_named() {
    let config = ReplayConfig { capacity: 10, max_steps: 2, envs: 2, ..ReplayConfig::vectors(10, 1) };
    let mut buffer = ReplayBuffer::with_config(config).unwrap();
    buffer.record_step(1, (&[0.5]).into(), (&[0.75]).into(), false, false).unwrap();
    for i in 0..100 {
        let (state, next_state) = ([i as f32], [i as f32 + 1.0]);
        let t = Transition {
            state: (&state).into(),
            action: 0,
            reward: 0.0,
            next_state: (&next_state).into(),
            terminated: false,
            truncated: false,
        };
        buffer.push_from(0, t).unwrap();
    }
    assert_eq!(buffer.push_transition(1, 0, 0.0, 1, false, false), Err(ReplayError::FramesOverwritten { env: 1 }));
}

/// Episodes that all end by truncation cost a frame more each: with
/// one-step episodes, twice the frames of the transitions, so the buffer
/// holds fewer than its capacity — the newest, whole.
#[test]
fn frames_running_short_evict_the_oldest_transitions() {
    let (buffer, expected, _) = drive(FrameKind::U8, 5, 2, Padding::Zeros, 1, 1, 1000, 5000, (0.0, 1.0), 3);
    assert!(buffer.len() < 1000 && buffer.len() > 400, "{} held", buffer.len());
    check_against_reference(&buffer, &expected);
}

/// Acting stacks equal gathered stacks: a window pushed an episode's
/// observations writes the rows the buffer gathers for its transitions.
#[test]
fn windows_and_gathered_stacks_agree() {
    for padding in [Padding::Repeat, Padding::Zeros] {
        let format = InputFormat {
            frame: FrameSpec { len: 4, kind: FrameKind::U8 },
            stacking: Stacking::of(3, padding),
            scale: 1.0 / 255.0,
        };
        let mut buffer =
            ReplayBuffer::with_config(ReplayConfig { capacity: 50, input: format, max_steps: 1, envs: 1 }).unwrap();
        let mut window = FrameWindow::new(format).unwrap();
        let frames: Vec<[u8; 4]> = (0..6u8).map(|i| [i, 2 * i, 255 - i, 7]).collect();
        let mut acted = Vec::new();
        for t in 0..5 {
            window.push(Frame::U8(&frames[t]), t == 0).unwrap();
            acted.push(window.input().to_vec());
            let t2 = Transition {
                state: Frame::U8(&frames[t]),
                action: 0,
                reward: 0.0,
                next_state: Frame::U8(&frames[t + 1]),
                terminated: false,
                truncated: t == 4,
            };
            buffer.push(t2).unwrap();
        }
        let mut batch = Batch::new();
        buffer.gather_slots_into(&[0, 1, 2, 3, 4], &mut batch).unwrap();
        for (t, row) in acted.iter().enumerate() {
            assert_eq!(&batch.states().to_vec()[t * 12..(t + 1) * 12], row.as_slice(), "{padding:?} t={t}");
        }
    }
}

/// Frames of bytes are gathered as bytes (a bit as 0 or 1) with the table
/// of their values, a quarter of the memory of `f32` rows; `f32` frames
/// as `f32`. Either way the values are the ones acting sees.
#[test]
fn byte_and_bit_frames_are_gathered_as_bytes_with_their_table() {
    let cells: [u8; 10] = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1];
    for (kind, scale) in [(FrameKind::U8, 1.0 / 255.0), (FrameKind::Bit, 0.5), (FrameKind::F32, 2.0)] {
        let format =
            InputFormat { frame: FrameSpec { len: 10, kind }, stacking: Stacking::of(2, Padding::Zeros), scale };
        let mut buffer =
            ReplayBuffer::with_config(ReplayConfig { capacity: 8, input: format, max_steps: 1, envs: 1 }).unwrap();
        let values: Vec<f32> = cells.iter().map(|&c| f32::from(c)).collect();
        let next: Vec<u8> = cells.iter().map(|&c| 1 - c).collect();
        let next_values: Vec<f32> = next.iter().map(|&c| f32::from(c)).collect();
        let (state, next_state) = match kind {
            FrameKind::F32 => (Frame::F32(&values), Frame::F32(&next_values)),
            _ => (Frame::U8(&cells), Frame::U8(&next)),
        };
        let t = Transition { state, action: 0, reward: 0.0, next_state, terminated: false, truncated: false };
        buffer.push(t).unwrap();
        let mut window = FrameWindow::new(format).unwrap();
        window.push(state, true).unwrap();
        window.push(next_state, false).unwrap();
        let mut batch = Batch::new();
        buffer.gather_slots_into(&[0], &mut batch).unwrap();
        assert_eq!(batch.next_states().to_vec(), window.input(), "{kind:?}");
        match (kind, batch.states()) {
            (FrameKind::F32, Rows::F32(_)) => {}
            (FrameKind::U8 | FrameKind::Bit, Rows::Bytes { bytes, table }) => {
                assert_eq!(&bytes[10..], &cells[..], "{kind:?}: the frame's bytes after a zero pad");
                assert_eq!(&bytes[..10], &[0; 10], "{kind:?}");
                assert_eq!(table[1], scale as f32, "{kind:?}");
            }
            (kind, rows) => panic!("{kind:?} frames gathered as {rows:?}"),
        }
    }
}

/// The figures of the issue: bytes per transition of a MinAtar-shaped
/// buffer (10×10×C binary planes) at most ⌈100·C/8⌉ + 16, an Atari-shaped
/// one (84×84 bytes, stack 4) at most 7 100, CartPole's at most the 39 of
/// two stored `f32` observations.
#[test]
fn bytes_per_transition_meet_the_targets() {
    // What a buffer reserves, from its settings (a million Atari
    // transitions are not allocated here); the formula is a new buffer's
    // `heap_bytes`, checked on small ones.
    let bytes_per = |config: ReplayConfig| config.heap_bytes() as f64 / config.capacity as f64;
    for config in
        [ReplayConfig::vectors(1000, 4), ReplayConfig { max_steps: 3, envs: 5, ..ReplayConfig::vectors(77, 9) }]
    {
        assert_eq!(ReplayBuffer::with_config(config).unwrap().heap_bytes(), config.heap_bytes());
    }
    for channels in [4, 6, 7, 10] {
        for max_steps in [1, 3] {
            let input = InputFormat {
                frame: FrameSpec { len: 100 * channels, kind: FrameKind::Bit },
                stacking: Stacking::default(),
                scale: 1.0,
            };
            let got = bytes_per(ReplayConfig { capacity: 100_000, input, max_steps, envs: 1 });
            let limit = (100 * channels).div_ceil(8) as f64 + 16.0;
            assert!(got <= limit, "MinAtar C={channels} n={max_steps}: {got:.2} > {limit}");
        }
    }
    let atari = InputFormat {
        frame: FrameSpec { len: 84 * 84, kind: FrameKind::U8 },
        stacking: Stacking::of(4, Padding::Repeat),
        scale: 1.0 / 255.0,
    };
    for (max_steps, envs) in [(1, 1), (3, 8)] {
        let got = bytes_per(ReplayConfig { capacity: 1_000_000, input: atari, max_steps, envs });
        assert!(got <= 7100.0, "Atari n={max_steps} envs={envs}: {got:.2}");
    }
    let got = bytes_per(ReplayConfig::vectors(100_000, 4));
    assert!(got <= 39.0, "CartPole: {got:.2}");
}

#[test]
fn damaged_streams_are_named_errors() {
    let (buffer, _, config) = drive(FrameKind::Bit, 11, 2, Padding::Repeat, 2, 2, 30, 200, (0.1, 0.1), 9);
    check_damaged_streams(&buffer, &config);
    // An environment's stacks, some stored whole (links with their flag).
    let spec = (FrameKind::U8, 3, 3, Padding::Zeros);
    let (buffer, _, config, _, _) = drive_stacked(spec, 2, 2, 30, 200, (0.05, 0.05, 0.2), 255, 9);
    check_damaged_streams(&buffer, &config);
}

fn check_damaged_streams(buffer: &ReplayBuffer, config: &ReplayConfig) {
    let config = *config;
    let mut bytes = Vec::new();
    buffer.write_to(&mut bytes).unwrap();
    let read = |b: &[u8], expected| ReplayBuffer::read_from(&mut &b[..], expected);
    if let Err(e) = read(&bytes, None) {
        panic!("{e}: {:?}", std::error::Error::source(&e));
    }
    // Another run's settings are refused before anything is reserved.
    let other = ReplayConfig { capacity: 31, ..config };
    assert!(read(&bytes, Some(&other)).unwrap_err().to_string().contains("not a consistent buffer"));
    // Every cut is an error, never a panic.
    for cut in (0..bytes.len()).step_by(7) {
        assert!(read(&bytes[..cut], Some(&config)).is_err(), "cut at {cut}");
    }
    // Every single flipped byte is an error or a consistent buffer (a value
    // changed within its range), never a panic.
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5a;
        if let Ok(b) = read(&damaged, None) {
            let mut batch = Batch::new();
            let slots: Vec<usize> = (0..b.len()).map(|age| b.slot_of_age(age).unwrap()).collect();
            b.gather_slots_into(&slots, &mut batch).unwrap();
        }
    }
}
