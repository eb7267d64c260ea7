//! The ring buffer of transitions, whose observations are frames stored
//! once each, in their own type, and rebuilt into stacked `f32` rows when a
//! mini-batch is gathered.
//!
//! Two rings: one of frames (each environment step's observation, once),
//! one of transitions (action, reward, flags, steps, and the frame they end
//! at). A frame knows the frame before it in its episode (a distance back
//! in the frame ring, 0 at an episode's first frame), so a transition's
//! state is found `steps` frames back from its end, and a stack by going
//! back `frames − 1` more. Environments interleave freely: each keeps its
//! own chain of frames.

use rand::Rng;

use crate::batch::{Batch, RowsMut};
use crate::error::{Inconsistency, ReplayError};
use crate::frame::{Converter, Frame, FrameKind, FrameSpec, InputFormat, Padding};

/// The most environments a buffer records.
pub const MAX_ENVS: usize = 1 << 16;

/// The largest action a buffer stores: actions share 16 bits with the two
/// episode flags.
pub const MAX_ACTION: usize = (1 << 14) - 1;

const TERMINATED: u16 = 1 << 14;
const TRUNCATED: u16 = 1 << 15;

/// The most frames a buffer keeps: links between frames are 30-bit
/// distances, and a flag.
pub(crate) const MAX_FRAMES: usize = 1 << 30;

/// The flag of a frame's link: the frame ends a stack stored whole (an
/// environment's stack that did not continue the one before it), whose
/// older frames are the `frames − 1` stored right before it. The rest of
/// the link is, as for every frame, the distance back to the frame before
/// it in its episode.
pub(crate) const WHOLE: u32 = 1 << 31;

/// One transition, borrowed: what is pushed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition<'a> {
    /// The observation the action was taken in.
    pub state: Frame<'a>,
    /// The index of the action taken.
    pub action: usize,
    /// The reward received.
    pub reward: f32,
    /// The observation the action led to (for an ended episode, the one it
    /// ended in, not the next episode's first).
    pub next_state: Frame<'a>,
    /// The episode truly ended: no future reward to bootstrap from.
    pub terminated: bool,
    /// The episode was cut by a time limit: the future still counts.
    pub truncated: bool,
}

/// A stored transition's fields besides its observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    /// The action taken.
    pub action: usize,
    /// The reward (an n-step transition: the discounted sum).
    pub reward: f32,
    /// Whether the episode terminated at its end.
    pub terminated: bool,
    /// Whether the episode was truncated at its end.
    pub truncated: bool,
    /// The environment steps it spans.
    pub steps: u8,
}

/// A buffer's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayConfig {
    /// The most transitions it holds.
    pub capacity: usize,
    /// What a frame is, and how frames become the network's input rows.
    pub input: InputFormat,
    /// The most environment steps a transition may span (n of n-step
    /// returns; 1 keeps no step counts).
    pub max_steps: u8,
    /// The environments whose steps it records (indices `0..envs`).
    pub envs: usize,
}

impl ReplayConfig {
    /// One-step transitions of one environment's `f32` vectors of
    /// `obs_len` values, unstacked and unscaled.
    #[must_use]
    pub fn vectors(capacity: usize, obs_len: usize) -> Self {
        Self { capacity, input: InputFormat::vector(obs_len), max_steps: 1, envs: 1 }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`ReplayError::ZeroCapacity`], [`ReplayError::EnvCount`],
    /// [`ReplayError::Steps`], or the input format's error.
    pub fn check(&self) -> Result<(), ReplayError> {
        if self.capacity == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        if !(1..=MAX_ENVS).contains(&self.envs) {
            return Err(ReplayError::EnvCount { envs: self.envs });
        }
        if self.max_steps == 0 {
            return Err(ReplayError::Steps { steps: 0, max_steps: 0 });
        }
        self.input.check()
    }

    /// The frames the buffer keeps room for: one per transition, and more
    /// for what costs a frame beyond that — an environment's first
    /// observation, a truncated episode's final one, the steps pending in
    /// n-step windows, the older frames of stacks. A terminated episode's
    /// final observation is never stored (nothing bootstraps from it), so
    /// episodes that end by termination cost no frame beyond their
    /// transitions.
    ///
    /// The extra is at least 1/256 of the capacity (episodes of 256 steps
    /// or more, all truncated, never run short), and more for small frames,
    /// up to an eighth: as many frames as half a byte per transition pays
    /// for. When episodes end by truncation more often than that, the
    /// buffer holds fewer transitions than its capacity (the oldest go
    /// first, as their frames are overwritten); [`len`](ReplayBuffer::len)
    /// says how many. So it does when an environment's stacks
    /// ([`Stacking::by_environment`](crate::Stacking::by_environment)) often
    /// fail to continue the one before: each such costs all its frames.
    #[must_use]
    pub fn frame_capacity(&self) -> usize {
        let per_frame = self.input.frame.stored_bytes() + size_of::<u32>();
        let extra = (self.capacity / 256).max(self.capacity / (2 * per_frame)).min(self.capacity / 8);
        let (n, k) = (usize::from(self.max_steps), self.input.stacking.frames);
        // A stack of the environment's that does not continue the one
        // before costs all its frames: each pending step may then.
        let pending = if self.input.stacking.by_environment { (n + 1) * k } else { n + k };
        // Environments stepped together push at most two frames each a
        // step: this many more keep every environment's pending frames
        // stored however small the capacity.
        self.capacity.saturating_add(extra).saturating_add(2 * self.envs * pending)
    }

    /// The heap bytes a buffer with these settings reserves
    /// ([`ReplayBuffer::heap_bytes`] of a new one), without making it.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let frames = self.frame_capacity();
        let per_transition = size_of::<u32>() + size_of::<u16>() + size_of::<f32>() + usize::from(self.max_steps > 1);
        frames * (self.input.frame.stored_bytes() + size_of::<u32>())
            + self.capacity * per_transition
            + self.envs * size_of::<Chain>()
    }
}

/// Each environment's latest frame: where its episode is in the frame ring.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Chain {
    /// The frame ring's sequence number of the environment's latest frame.
    pub(crate) last: Option<u64>,
    /// Whether its episode ended on the latest step (the next step starts
    /// another).
    pub(crate) ended: bool,
}

/// The frames of every stored step, in one ring.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frames {
    pub(crate) spec: FrameSpec,
    /// Frames held at most.
    pub(crate) capacity: usize,
    /// Storage units per frame: values (`f32`, `u8`) or bytes of bits.
    pub(crate) stride: usize,
    pub(crate) cells: Cells,
    /// Per frame, how far back in the ring the frame before it in its
    /// episode is (0: the episode's first frame), with the [`WHOLE`] flag.
    pub(crate) back: Vec<u32>,
    /// Frames pushed since the buffer was made; frame `q` lives at
    /// position `q mod capacity` while `q ≥ pushed − capacity`.
    pub(crate) pushed: u64,
}

/// The frames' values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cells {
    F32(Vec<f32>),
    /// Bytes, or bits packed eight to a byte, least significant first.
    U8(Vec<u8>),
}

impl Frames {
    fn new(spec: FrameSpec, capacity: usize) -> Result<Self, ReplayError> {
        let too_large = || ReplayError::TooLarge { capacity };
        if capacity > MAX_FRAMES {
            return Err(too_large());
        }
        let stride = match spec.kind {
            FrameKind::F32 | FrameKind::U8 => spec.len,
            FrameKind::Bit => spec.len.div_ceil(8),
        };
        let units = capacity.checked_mul(stride).ok_or_else(too_large)?;
        let cells = match spec.kind {
            FrameKind::F32 => {
                let mut v = Vec::new();
                v.try_reserve_exact(units).map_err(|_| too_large())?;
                Cells::F32(v)
            }
            FrameKind::U8 | FrameKind::Bit => {
                let mut v = Vec::new();
                v.try_reserve_exact(units).map_err(|_| too_large())?;
                Cells::U8(v)
            }
        };
        let mut back = Vec::new();
        back.try_reserve_exact(capacity).map_err(|_| too_large())?;
        Ok(Self { spec, capacity, stride, cells, back, pushed: 0 })
    }

    /// Frames stored now: `min(pushed, capacity)`.
    pub(crate) fn stored(&self) -> usize {
        self.back.len()
    }

    /// The oldest frame still stored.
    pub(crate) fn oldest(&self) -> u64 {
        self.pushed - self.stored() as u64
    }

    pub(crate) fn present(&self, seq: u64) -> bool {
        seq < self.pushed && seq >= self.oldest()
    }

    pub(crate) fn position(&self, seq: u64) -> usize {
        (seq % self.capacity as u64) as usize
    }

    /// The sequence number of the frame stored at `position`.
    pub(crate) fn seq_at(&self, position: usize) -> u64 {
        let oldest = self.oldest();
        let offset = (position as u64 + self.capacity as u64 - oldest % self.capacity as u64) % self.capacity as u64;
        oldest + offset
    }

    /// The frame before `seq` in its episode, if `seq` is not its first.
    pub(crate) fn prev(&self, seq: u64) -> Option<u64> {
        match self.back[self.position(seq)] & !WHOLE {
            0 => None,
            d => Some(seq - u64::from(d)),
        }
    }

    /// Whether `seq` ends a stack stored whole.
    pub(crate) fn whole(&self, seq: u64) -> bool {
        self.back[self.position(seq)] & WHOLE != 0
    }

    /// The frames of the stack of `frames` places that ends at `seq`.
    pub(crate) fn stack(&self, seq: u64, frames: usize) -> StackFrames<'_> {
        StackFrames { frames: self, next: Some(seq), place: frames - 1, hidden: false }
    }

    /// Stores `frame` (checked) as the next frame, `back` after the one
    /// before it in its episode (0: none); returns its sequence number.
    fn push(&mut self, frame: Frame<'_>, back: u32) -> u64 {
        let seq = self.pushed;
        let at = self.position(seq);
        let range = at * self.stride..(at + 1) * self.stride;
        let appending = self.back.len() < self.capacity;
        match (&mut self.cells, frame) {
            (Cells::F32(cells), Frame::F32(values)) => {
                if appending {
                    cells.extend_from_slice(values);
                } else {
                    cells[range].copy_from_slice(values);
                }
            }
            (Cells::U8(cells), Frame::U8(values)) if self.spec.kind == FrameKind::Bit => {
                if appending {
                    cells.resize(cells.len() + self.stride, 0);
                }
                pack_bits(values, &mut cells[range]);
            }
            (Cells::U8(cells), Frame::U8(values)) => {
                if appending {
                    cells.extend_from_slice(values);
                } else {
                    cells[range].copy_from_slice(values);
                }
            }
            _ => unreachable!("frames are checked against the spec before they are stored"),
        }
        if appending {
            self.back.push(back);
        } else {
            self.back[at] = back;
        }
        self.pushed += 1;
        seq
    }

    /// Whether the stored frame `seq` holds exactly `frame`'s values (bit
    /// for bit).
    fn holds(&self, seq: u64, frame: Frame<'_>) -> bool {
        let at = self.position(seq);
        let range = at * self.stride..(at + 1) * self.stride;
        match (&self.cells, frame) {
            (Cells::F32(cells), Frame::F32(values)) => {
                cells[range].iter().zip(values).all(|(a, b)| a.to_bits() == b.to_bits())
            }
            (Cells::U8(cells), Frame::U8(values)) if self.spec.kind == FrameKind::Bit => {
                let packed = &cells[range];
                values.chunks(8).zip(packed).all(|(bits, &byte)| pack_byte(bits) == byte)
            }
            (Cells::U8(cells), Frame::U8(values)) => &cells[range] == values,
            _ => false,
        }
    }

    /// Writes the stored frame `seq`'s bytes into `out`, a bit as 0 or 1
    /// (frames of bytes or bits only).
    fn write_bytes(&self, seq: u64, out: &mut [u8]) {
        let at = self.position(seq);
        let range = at * self.stride..(at + 1) * self.stride;
        match &self.cells {
            Cells::U8(cells) if self.spec.kind == FrameKind::Bit => unpack_bits(&cells[range], out),
            Cells::U8(cells) => out.copy_from_slice(&cells[range]),
            Cells::F32(_) => unreachable!("only frames of bytes or bits are gathered as bytes"),
        }
    }

    /// Writes the stored frame `seq`'s values, converted, into `out`.
    fn write(&self, seq: u64, converter: &Converter, out: &mut [f32]) {
        let at = self.position(seq);
        let range = at * self.stride..(at + 1) * self.stride;
        match &self.cells {
            Cells::F32(cells) => converter.f32s(&cells[range], out),
            Cells::U8(cells) if self.spec.kind == FrameKind::Bit => converter.packed_bits(&cells[range], out),
            Cells::U8(cells) => converter.u8s(&cells[range], out),
        }
    }

    fn heap_bytes(&self) -> usize {
        let cells = match &self.cells {
            Cells::F32(v) => v.capacity() * 4,
            Cells::U8(v) => v.capacity(),
        };
        cells + self.back.capacity() * size_of::<u32>()
    }
}

/// The frames of a stack, newest first, each with its place (`frames − 1`
/// the newest): back along the episode's links, or, from a frame that ends
/// a stack stored whole, the frames stored right before it. The places
/// below the last one given are padding (the episode's start). Frames are
/// not checked to be still stored.
pub(crate) struct StackFrames<'a> {
    frames: &'a Frames,
    next: Option<u64>,
    place: usize,
    /// Inside a whole stack's older frames.
    hidden: bool,
}

impl Iterator for StackFrames<'_> {
    type Item = (usize, u64);

    fn next(&mut self) -> Option<(usize, u64)> {
        let q = self.next?;
        let place = self.place;
        self.next = if place == 0 {
            None
        } else if self.hidden || self.frames.whole(q) {
            self.hidden = true;
            q.checked_sub(1)
        } else {
            self.frames.prev(q)
        };
        self.place = place.saturating_sub(1);
        Some((place, q))
    }
}

/// The `i`-th of the frames of `len` values in `frames`.
fn part(frames: Frame<'_>, i: usize, len: usize) -> Frame<'_> {
    match frames {
        Frame::F32(v) => Frame::F32(&v[i * len..(i + 1) * len]),
        Frame::U8(v) => Frame::U8(&v[i * len..(i + 1) * len]),
    }
}

/// Whether two frames hold the same values, bit for bit.
fn same(a: Frame<'_>, b: Frame<'_>) -> bool {
    match (a, b) {
        (Frame::F32(a), Frame::F32(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        }
        (Frame::U8(a), Frame::U8(b)) => a == b,
        _ => false,
    }
}

/// Whether every value of a frame is zero (`+0.0` for `f32`): what zero
/// padding writes.
fn zeros(frame: Frame<'_>) -> bool {
    match frame {
        Frame::F32(v) => v.iter().all(|x| x.to_bits() == 0),
        Frame::U8(v) => v.iter().all(|&x| x == 0),
    }
}

/// Up to eight binary cells as one byte, the first the least significant
/// bit.
fn pack_byte(bits: &[u8]) -> u8 {
    bits.iter().enumerate().fold(0, |byte, (i, &b)| byte | (b & 1) << i)
}

fn pack_bits(values: &[u8], out: &mut [u8]) {
    for (byte, bits) in out.iter_mut().zip(values.chunks(8)) {
        *byte = pack_byte(bits);
    }
}

/// The inverse of [`pack_bits`]: each bit of `packed` (least significant
/// first) as a byte 0 or 1, `out.len()` of them.
fn unpack_bits(packed: &[u8], out: &mut [u8]) {
    for (cells, &byte) in out.chunks_mut(8).zip(packed) {
        for (i, cell) in cells.iter_mut().enumerate() {
            *cell = byte >> i & 1;
        }
    }
}

/// A ring buffer of transitions with a fixed capacity, whose observations
/// are frames stored once each.
///
/// Record each environment step with [`record_step`](Self::record_step)
/// (its observation before and after; a step that starts an episode stores
/// its first observation too, one that terminates stores nothing after it)
/// and push the transitions it completes with
/// [`push_transition`](Self::push_transition), or do both for a one-step
/// transition with [`push`](Self::push). Mini-batches are gathered as the
/// network's input rows: each observation the stack of its episode's most
/// recent frames, converted to `f32` and scaled ([`InputFormat`]).
///
/// A transition that terminated has no next observation stored (nothing
/// bootstraps from it): its row of [`Batch::next_states`] holds its state
/// instead.
///
/// Memory is reserved once at construction and grows by nothing after:
/// per transition 10 bytes (11 with step counts) and a frame with its
/// 4-byte link, and [`ReplayConfig::frame_capacity`]'s extra frames.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    pub(crate) config: ReplayConfig,
    pub(crate) frames: Frames,
    /// Per slot, the position in the frame ring of the transition's last
    /// stored frame: its next state, or for a terminated one the state of
    /// its last step.
    pub(crate) anchors: Vec<u32>,
    /// Per slot, the action and the two episode flags.
    pub(crate) acts: Vec<u16>,
    pub(crate) rewards: Vec<f32>,
    /// Per slot, the environment steps spanned (kept when `max_steps > 1`).
    pub(crate) steps: Vec<u8>,
    /// The slot the next transition goes to.
    pub(crate) head: usize,
    /// Transitions held.
    pub(crate) len: usize,
    /// Transitions pushed since the buffer was made.
    pub(crate) pushes: u64,
    pub(crate) chains: Vec<Chain>,
    /// The largest "oldest frame needed" of any transition pushed, and the
    /// most any transition's fell below an earlier one's: transitions of
    /// several environments and n-step windows reach back unevenly, and
    /// evicting the oldest transition while the frame it needs is within
    /// `disorder` of the one to be overwritten keeps every later one whole.
    pub(crate) reach: u64,
    pub(crate) disorder: u64,
    pub(crate) converter: Converter,
}

/// Two buffers are equal when they hold the same transitions, frames and
/// positions under the same settings (the converter follows from them).
impl PartialEq for ReplayBuffer {
    fn eq(&self, other: &Self) -> bool {
        (&self.config, &self.frames, &self.anchors, &self.acts, &self.rewards, &self.steps)
            == (&other.config, &other.frames, &other.anchors, &other.acts, &other.rewards, &other.steps)
            && (self.head, self.len, self.pushes, self.reach, self.disorder)
                == (other.head, other.len, other.pushes, other.reach, other.disorder)
            && self.chains == other.chains
    }
}

/// The transitions a frame write pushed out of the buffer (their frames
/// were overwritten): `count` slots from `first`, in ring order. Prioritized
/// replay clears their priorities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evicted {
    /// The first slot.
    pub first: usize,
    /// How many.
    pub count: usize,
}

impl ReplayBuffer {
    /// An empty buffer for `capacity` one-step transitions of one
    /// environment's `f32` vectors of `obs_len` values.
    ///
    /// # Errors
    /// As [`with_config`](Self::with_config).
    pub fn new(capacity: usize, obs_len: usize) -> Result<Self, ReplayError> {
        Self::with_config(ReplayConfig::vectors(capacity, obs_len))
    }

    /// An empty buffer with these settings, its memory reserved now.
    ///
    /// # Errors
    /// The settings' error ([`ReplayConfig::check`]), or
    /// [`ReplayError::TooLarge`] if the memory cannot be had.
    pub fn with_config(config: ReplayConfig) -> Result<Self, ReplayError> {
        config.check()?;
        let capacity = config.capacity;
        let too_large = || ReplayError::TooLarge { capacity };
        let frames = Frames::new(config.input.frame, config.frame_capacity())?;
        fn reserve<T>(n: usize, too_large: impl Fn() -> ReplayError) -> Result<Vec<T>, ReplayError> {
            let mut v = Vec::new();
            v.try_reserve_exact(n).map_err(|_| too_large())?;
            Ok(v)
        }
        let steps = if config.max_steps > 1 { capacity } else { 0 };
        Ok(Self {
            anchors: reserve(capacity, too_large)?,
            acts: reserve(capacity, too_large)?,
            rewards: reserve(capacity, too_large)?,
            steps: reserve(steps, too_large)?,
            head: 0,
            len: 0,
            pushes: 0,
            chains: vec![Chain::default(); config.envs],
            reach: 0,
            disorder: 0,
            converter: config.input.converter(),
            frames,
            config,
        })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ReplayConfig {
        &self.config
    }

    /// The number of transitions held: `min(pushes, capacity)`, or fewer
    /// when frames ran short (see [`ReplayConfig::frame_capacity`]).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no transition.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most transitions the buffer holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.config.capacity
    }

    /// Values in one input row (a stack of frames).
    #[must_use]
    pub fn row_len(&self) -> usize {
        self.config.input.row_len()
    }

    /// The slot the next transition goes to.
    #[must_use]
    pub fn write_position(&self) -> usize {
        self.head
    }

    /// Transitions pushed since the buffer was made, overwritten ones
    /// included.
    #[must_use]
    pub fn pushes(&self) -> u64 {
        self.pushes
    }

    /// Frames stored since the buffer was made.
    #[must_use]
    pub fn frames_pushed(&self) -> u64 {
        self.frames.pushed
    }

    /// The oldest slot holding a transition.
    fn tail(&self) -> usize {
        (self.head + self.config.capacity - self.len) % self.config.capacity
    }

    /// Whether `slot` holds a transition.
    #[must_use]
    pub fn is_live(&self, slot: usize) -> bool {
        let n = self.config.capacity;
        slot < n && (slot + n - self.tail()) % n < self.len
    }

    /// The slot of the `age`-th oldest transition held (0 is the oldest).
    #[must_use]
    pub fn slot_of_age(&self, age: usize) -> Option<usize> {
        (age < self.len).then(|| (self.tail() + age) % self.config.capacity)
    }

    /// The transition in `slot`, besides its observations.
    #[must_use]
    pub fn record(&self, slot: usize) -> Option<Record> {
        self.is_live(slot).then(|| {
            let act = self.acts[slot];
            Record {
                action: usize::from(act & !(TERMINATED | TRUNCATED)),
                reward: self.rewards[slot],
                terminated: act & TERMINATED != 0,
                truncated: act & TRUNCATED != 0,
                steps: self.steps_in(slot),
            }
        })
    }

    /// The largest action stored, if any transition is held.
    #[must_use]
    pub fn max_action(&self) -> Option<usize> {
        (0..self.len).filter_map(|age| self.record(self.slot_of_age(age)?)).map(|r| r.action).max()
    }

    /// The most steps any transition held spans.
    #[must_use]
    pub fn max_steps_held(&self) -> u8 {
        (0..self.len).filter_map(|age| self.slot_of_age(age)).map(|s| self.steps_in(s)).max().unwrap_or(0)
    }

    fn steps_in(&self, slot: usize) -> u8 {
        if self.config.max_steps > 1 { self.steps[slot] } else { 1 }
    }

    /// Whether a step of environment `env` from `state` continues its
    /// episode: `state` is its latest stored frame (its previous next
    /// state, bit for bit) and the episode did not end there.
    /// [`record_step`](Self::record_step) starts a new episode otherwise.
    /// (An environment that stacks: `state` is the stack the buffer
    /// rebuilds at that frame, bit for bit.)
    #[must_use]
    pub fn continues(&self, env: usize, state: Frame<'_>) -> bool {
        self.chains.get(env).is_some_and(|chain| {
            !chain.ended
                && chain.last.is_some_and(|q| {
                    if self.config.input.stacking.by_environment {
                        state.len() == self.row_len() && self.holds_stack(q, state)
                    } else {
                        self.frames.present(q) && self.frames.holds(q, state)
                    }
                })
        })
    }

    /// Whether the stack the buffer rebuilds at frame `seq` (every frame of
    /// it still stored) is `stack`, value for value.
    fn holds_stack(&self, seq: u64, stack: Frame<'_>) -> bool {
        let (len, k) = (self.config.input.frame.len, self.config.input.stacking.frames);
        let mut first = k;
        for (place, q) in self.frames.stack(seq, k) {
            if !(self.frames.present(q) && self.frames.holds(q, part(stack, place, len))) {
                return false;
            }
            first = place;
        }
        self.padded(stack, first)
    }

    /// Whether the places of `stack` below `first` are padding of the
    /// frame at `first`, as the format pads.
    fn padded(&self, stack: Frame<'_>, first: usize) -> bool {
        let len = self.config.input.frame.len;
        (0..first).all(|place| match self.config.input.stacking.padding {
            Padding::Zeros => zeros(part(stack, place, len)),
            Padding::Repeat => same(part(stack, place, len), part(stack, first, len)),
        })
    }

    /// Records one step of environment `env`: the observation it acted on
    /// (`state`) and the one it led to (`next_state`, the final one of an
    /// episode that ended), and how the episode ended. Each observation is
    /// stored once: `state` only when it starts an episode (the first step
    /// of one, or a state that is not the environment's previous next
    /// state, bit for bit), `next_state` unless the episode terminated.
    /// Push the transitions the step completes next, before the
    /// environment's next step. Returns the transitions that were pushed
    /// out because their frames were overwritten.
    ///
    /// # Errors
    /// [`ReplayError::EnvOutOfRange`], or a frame's error
    /// ([`Frame::check`]); the buffer is unchanged then.
    pub fn record_step(
        &mut self,
        env: usize,
        state: Frame<'_>,
        next_state: Frame<'_>,
        terminated: bool,
        truncated: bool,
    ) -> Result<Evicted, ReplayError> {
        let envs = self.config.envs;
        if env >= envs {
            return Err(ReplayError::EnvOutOfRange { env, envs });
        }
        let spec = self.config.input.observation();
        state.check(&spec, "state")?;
        next_state.check(&spec, "next_state")?;
        let mut evicted = Evicted { first: self.tail(), count: 0 };
        let continues = self.chains[env].last.filter(|_| self.continues(env, state));
        let last = if self.config.input.stacking.by_environment {
            let last = match continues {
                Some(q) => q,
                None => self.push_stack(state, None, &mut evicted),
            };
            if terminated {
                last
            } else {
                let (len, k) = (self.config.input.frame.len, self.config.input.stacking.frames);
                // The next stack is the state's, one frame on: only its
                // newest frame is new.
                if (0..k - 1).all(|i| same(part(next_state, i, len), part(state, i + 1, len))) {
                    let back = self.distance_to(last);
                    self.push_frame(part(next_state, k - 1, len), back, &mut evicted)
                } else {
                    self.push_stack(next_state, Some(last), &mut evicted)
                }
            }
        } else {
            let last = match continues {
                Some(q) => q,
                None => self.push_frame(state, 0, &mut evicted),
            };
            if terminated {
                last
            } else {
                let back = self.distance_to(last);
                self.push_frame(next_state, back, &mut evicted)
            }
        };
        self.chains[env] = Chain { last: Some(last), ended: terminated || truncated };
        Ok(evicted)
    }

    /// The link from the next frame pushed back to frame `seq`.
    fn distance_to(&self, seq: u64) -> u32 {
        // The frame before is at most a few stacks back: fewer than
        // `MAX_FRAMES`.
        u32::try_from(self.frames.pushed - seq).expect("the frame before is still stored")
    }

    /// Stores an environment's whole stack that does not continue the one
    /// before (`after`, the frame before it in its episode, if any). An
    /// episode's first stack that is its newest frame padded as the format
    /// pads costs that frame alone; any other stack is stored whole: its
    /// older frames, then its newest, flagged. Returns the newest's
    /// sequence number.
    fn push_stack(&mut self, stack: Frame<'_>, after: Option<u64>, evicted: &mut Evicted) -> u64 {
        let (len, k) = (self.config.input.frame.len, self.config.input.stacking.frames);
        let newest = part(stack, k - 1, len);
        if after.is_none() && self.padded(stack, k - 1) {
            return self.push_frame(newest, 0, evicted);
        }
        for place in 0..k - 1 {
            self.push_frame(part(stack, place, len), 0, evicted);
        }
        let back = after.map_or(0, |q| self.distance_to(q));
        self.push_frame(newest, back | WHOLE, evicted)
    }

    /// Stores a frame, first pushing out the oldest transitions while the
    /// frame it overwrites may be one they need.
    fn push_frame(&mut self, frame: Frame<'_>, back: u32, evicted: &mut Evicted) -> u64 {
        let seq = self.frames.pushed;
        if let Some(victim) = seq.checked_sub(self.frames.capacity as u64) {
            while self.len > 0 && self.oldest_needed(self.tail()) <= victim + self.disorder {
                self.len -= 1;
                evicted.count += 1;
            }
        }
        self.frames.push(frame, back)
    }

    /// The oldest frame the transition in `slot` needs: the oldest of its
    /// state's stack.
    fn oldest_needed(&self, slot: usize) -> u64 {
        let state = self.state_of(slot);
        self.frames.stack(state, self.config.input.stacking.frames).last().map_or(state, |(_, q)| q)
    }

    /// The frame of the state of the transition in `slot` (stored and
    /// linked, as every held transition's frames are).
    fn state_of(&self, slot: usize) -> u64 {
        let anchor = self.frames.seq_at(self.anchors[slot] as usize);
        let act = self.acts[slot];
        let back = self.steps_in(slot) - u8::from(act & TERMINATED != 0);
        (0..back).fold(anchor, |q, _| self.frames.prev(q).expect("a held transition's frames are linked"))
    }

    /// Pushes the transition that environment `env`'s latest recorded step
    /// completes: it ends at that step, spans `steps` steps (its state is
    /// the observation `steps` steps before its next state), and has
    /// `action` (its first step's), `reward` (an n-step transition: the
    /// discounted sum) and the flags of its last step. Once the buffer is
    /// full it overwrites the oldest transition. Returns the slot.
    ///
    /// # Errors
    /// [`ReplayError::EnvOutOfRange`], [`ReplayError::Steps`],
    /// [`ReplayError::ActionOutOfRange`], [`ReplayError::NonFinite`] for
    /// the reward, [`ReplayError::NoStep`], [`ReplayError::Span`] or
    /// [`ReplayError::FramesOverwritten`]; the buffer is unchanged then.
    #[allow(clippy::too_many_arguments)] // the fields of one transition
    pub fn push_transition(
        &mut self,
        env: usize,
        action: usize,
        reward: f32,
        steps: u8,
        terminated: bool,
        truncated: bool,
    ) -> Result<usize, ReplayError> {
        let (envs, max_steps) = (self.config.envs, self.config.max_steps);
        if env >= envs {
            return Err(ReplayError::EnvOutOfRange { env, envs });
        }
        if steps == 0 || steps > max_steps {
            return Err(ReplayError::Steps { steps, max_steps });
        }
        if action > MAX_ACTION {
            return Err(ReplayError::ActionOutOfRange { action });
        }
        if !reward.is_finite() {
            return Err(ReplayError::NonFinite { field: "reward", index: 0, value: reward });
        }
        let anchor = self.chains[env].last.ok_or(ReplayError::NoStep { env })?;
        let gone = ReplayError::FramesOverwritten { env };
        if !self.frames.present(anchor) {
            return Err(gone);
        }
        let mut state = anchor;
        for _ in 0..steps - u8::from(terminated) {
            state = self.frames.prev(state).ok_or(ReplayError::Span { env, steps })?;
            if !self.frames.present(state) {
                return Err(gone);
            }
        }
        let mut oldest = state;
        for (_, q) in self.frames.stack(state, self.config.input.stacking.frames) {
            if !self.frames.present(q) {
                return Err(gone);
            }
            oldest = q;
        }
        self.disorder = self.disorder.max(self.reach.saturating_sub(oldest));
        self.reach = self.reach.max(oldest);
        let act = action as u16 | if terminated { TERMINATED } else { 0 } | if truncated { TRUNCATED } else { 0 };
        let anchor = self.frames.position(anchor) as u32;
        let slot = self.head;
        if self.anchors.len() < self.config.capacity {
            self.anchors.push(anchor);
            self.acts.push(act);
            self.rewards.push(reward);
            if max_steps > 1 {
                self.steps.push(steps);
            }
        } else {
            self.anchors[slot] = anchor;
            self.acts[slot] = act;
            self.rewards[slot] = reward;
            if max_steps > 1 {
                self.steps[slot] = steps;
            }
        }
        self.head = (slot + 1) % self.config.capacity;
        self.len = (self.len + 1).min(self.config.capacity);
        self.pushes += 1;
        Ok(slot)
    }

    /// Records a step of environment 0 and pushes its one-step transition:
    /// [`record_step`](Self::record_step) then
    /// [`push_transition`](Self::push_transition). Returns the slot.
    ///
    /// # Errors
    /// As the two; nothing is stored when the transition is refused.
    pub fn push(&mut self, t: Transition<'_>) -> Result<usize, ReplayError> {
        self.push_from(0, t).map(|(slot, _)| slot)
    }

    /// [`push`](Self::push) for environment `env`; also returns the
    /// transitions pushed out.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_from(&mut self, env: usize, t: Transition<'_>) -> Result<(usize, Evicted), ReplayError> {
        self.check_transition(&t)?;
        let evicted = self.record_step(env, t.state, t.next_state, t.terminated, t.truncated)?;
        let slot = self.push_transition(env, t.action, t.reward, 1, t.terminated, t.truncated)?;
        Ok((slot, evicted))
    }

    /// Whether [`push`](Self::push) would take `t` (its frames, action and
    /// reward), before anything is stored.
    ///
    /// # Errors
    /// As [`Frame::check`], [`ReplayError::ActionOutOfRange`] or
    /// [`ReplayError::NonFinite`] for the reward.
    pub fn check_transition(&self, t: &Transition<'_>) -> Result<(), ReplayError> {
        let spec = self.config.input.observation();
        t.state.check(&spec, "state")?;
        t.next_state.check(&spec, "next_state")?;
        if !t.reward.is_finite() {
            return Err(ReplayError::NonFinite { field: "reward", index: 0, value: t.reward });
        }
        if t.action > MAX_ACTION {
            return Err(ReplayError::ActionOutOfRange { action: t.action });
        }
        Ok(())
    }

    /// Draws `batch_size` distinct transitions uniformly at random (without
    /// replacement, like Python's `random.sample`) into `batch`.
    ///
    /// Every subset of `batch_size` stored transitions is equally likely
    /// (Floyd's algorithm: `batch_size` RNG draws whatever the length). The
    /// order within the batch is not a uniform permutation, which a
    /// mini-batch loss, being a mean, does not see. Once `batch` has held a
    /// batch this size, nothing is allocated.
    ///
    /// # Errors
    /// [`ReplayError::BatchTooLarge`] if `batch_size > len()`; `batch` is
    /// unchanged then.
    pub fn sample_into<R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut R,
        batch: &mut Batch,
    ) -> Result<(), ReplayError> {
        let len = self.len;
        if batch_size > len {
            return Err(ReplayError::BatchTooLarge { batch_size, len });
        }
        batch.choose_floyd(len, batch_size, rng);
        // The i-th of the transitions held: slot i of a full ring (every
        // slot is one), else counted from the oldest.
        if len < self.config.capacity {
            let (tail, n) = (self.tail(), self.config.capacity);
            batch.map_indices(|i| (tail + i) % n);
        }
        self.gather(batch);
        Ok(())
    }

    /// Fills `batch` with the `batch_size` most recently pushed transitions,
    /// newest first: the correlated, non-random mini-batch that replay exists
    /// to avoid (kept for experiments that show why).
    ///
    /// # Errors
    /// [`ReplayError::BatchTooLarge`] if `batch_size > len()`.
    pub fn recent_into(&self, batch_size: usize, batch: &mut Batch) -> Result<(), ReplayError> {
        let len = self.len;
        if batch_size > len {
            return Err(ReplayError::BatchTooLarge { batch_size, len });
        }
        let n = self.config.capacity;
        let newest = self.head + n - 1;
        batch.set_indices((0..batch_size).map(|back| (newest - back) % n));
        self.gather(batch);
        Ok(())
    }

    /// Fills `batch` with the transitions in storage slots `slots`, in that
    /// order (a slot may come more than once): the mini-batch a sampler of
    /// its own chose, such as prioritized replay's.
    ///
    /// # Errors
    /// [`ReplayError::SlotOutOfRange`] for a slot not holding a transition;
    /// `batch` is unchanged then.
    pub fn gather_slots_into(&self, slots: &[usize], batch: &mut Batch) -> Result<(), ReplayError> {
        if let Some(&slot) = slots.iter().find(|&&slot| !self.is_live(slot)) {
            return Err(ReplayError::SlotOutOfRange { slot, capacity: self.config.capacity });
        }
        batch.set_indices(slots.iter().copied());
        self.gather(batch);
        Ok(())
    }

    /// Fills every row of `batch` from the slots in its indices: `f32`
    /// rows for `f32` frames, rows of bytes (and the table converting
    /// them) for frames of bytes or bits.
    fn gather(&self, batch: &mut Batch) {
        let row_len = self.row_len();
        let table = (self.config.input.frame.kind != FrameKind::F32).then(|| self.converter.byte_table());
        let mut batch_rows = batch.prepare(row_len, table);
        for (row, &slot) in batch_rows.indices.iter().enumerate() {
            let record = self.record(slot).expect("gathered slots hold transitions");
            let state = self.state_of(slot);
            let next = if record.terminated { state } else { self.frames.seq_at(self.anchors[slot] as usize) };
            let rows = row * row_len..(row + 1) * row_len;
            match &mut batch_rows.rows {
                RowsMut::F32 { states, next_states } => {
                    let write = |q, out: &mut [f32]| self.frames.write(q, &self.converter, out);
                    self.write_stack(state, &mut states[rows.clone()], write);
                    self.write_stack(next, &mut next_states[rows], write);
                }
                RowsMut::Bytes { states, next_states } => {
                    let write = |q, out: &mut [u8]| self.frames.write_bytes(q, out);
                    self.write_stack(state, &mut states[rows.clone()], write);
                    self.write_stack(next, &mut next_states[rows], write);
                }
            }
            batch_rows.actions.push(record.action);
            batch_rows.rewards.push(record.reward);
            batch_rows.terminated.push(record.terminated);
            batch_rows.truncated.push(record.truncated);
            batch_rows.steps.push(record.steps);
        }
    }

    /// Writes the input row environment `env` acts on when its current
    /// observation is `frame` into `out` (of [`row_len`](Self::row_len)
    /// values): the stack of its episode's most recent frames, `frame`
    /// last, exactly as a gathered batch rebuilds it for a transition from
    /// this observation. The episode goes on when `frame` is the
    /// environment's latest stored frame (its previous next state, bit for
    /// bit) and did not end there; otherwise `frame` starts one, padded.
    ///
    /// # Errors
    /// [`ReplayError::EnvOutOfRange`], [`ReplayError::ObsLength`] for an
    /// `out` of another length, or the frame's error ([`Frame::check`]).
    pub fn write_input(&self, env: usize, frame: Frame<'_>, out: &mut [f32]) -> Result<(), ReplayError> {
        let envs = self.config.envs;
        if env >= envs {
            return Err(ReplayError::EnvOutOfRange { env, envs });
        }
        frame.check(&self.config.input.observation(), "observation")?;
        if out.len() != self.row_len() {
            return Err(ReplayError::ObsLength { field: "input row", expected: self.row_len(), got: out.len() });
        }
        if self.config.input.stacking.by_environment {
            // The observation is the stack, as the buffer would rebuild it.
            self.converter.frame(frame, out);
            return Ok(());
        }
        let (len, k) = (self.config.input.frame.len, self.config.input.stacking.frames);
        let chain = self.chains[env];
        match chain.last {
            Some(q) if k > 1 && !chain.ended && self.frames.present(q) && self.frames.holds(q, frame) => {
                self.write_stack(q, out, |q, out: &mut [f32]| self.frames.write(q, &self.converter, out));
            }
            _ => {
                let first = (k - 1) * len;
                self.converter.frame(frame, &mut out[first..]);
                match self.config.input.stacking.padding {
                    Padding::Zeros => out[..first].fill(0.0),
                    Padding::Repeat => {
                        for older in 0..k - 1 {
                            out.copy_within(first.., older * len);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the input row of the stack that ends at frame `seq`: the
    /// `frames` most recent frames of its episode, oldest first, each
    /// written by `write`, padded at the episode's start as the format says
    /// (zeros are `E::default()`).
    fn write_stack<E: Copy + Default>(&self, seq: u64, out: &mut [E], write: impl Fn(u64, &mut [E])) {
        let (len, k) = (self.config.input.frame.len, self.config.input.stacking.frames);
        let mut first = k - 1;
        for (place, q) in self.frames.stack(seq, k) {
            write(q, &mut out[place * len..(place + 1) * len]);
            first = place;
        }
        // `first` holds the episode's first frame; the places before it pad.
        match self.config.input.stacking.padding {
            Padding::Zeros => out[..first * len].fill(E::default()),
            Padding::Repeat => {
                for older in 0..first {
                    out.copy_within(first * len..(first + 1) * len, older * len);
                }
            }
        }
    }

    /// Heap bytes reserved for transitions and frames (the buffer at full
    /// capacity).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.frames.heap_bytes()
            + self.anchors.capacity() * size_of::<u32>()
            + self.acts.capacity() * size_of::<u16>()
            + self.rewards.capacity() * size_of::<f32>()
            + self.steps.capacity()
            + self.chains.capacity() * size_of::<Chain>()
    }

    /// Checks the buffer's structure: counters, every held transition's
    /// frames stored and linked, chains pointing at stored frames. What a
    /// buffer read back from a file must pass.
    pub(crate) fn check_structure(&self) -> Result<(), Inconsistency> {
        let n = self.config.capacity;
        let counters = |problem| Err(Inconsistency::Counters { problem });
        if self.head >= n || self.len > n || self.len as u64 > self.pushes {
            return counters("position or length beyond the capacity or the pushes");
        }
        let filled = self.anchors.len();
        // Fewer held than filled is no contradiction, wrapped or not: frames
        // that ran short evict the oldest transitions.
        if filled != (self.pushes.min(n as u64)) as usize {
            return counters("slots filled contradict the pushes");
        }
        if self.pushes < n as u64 && self.head as u64 != self.pushes {
            return counters("the write position does not follow from the pushes");
        }
        let stored = self.frames.stored();
        if stored as u64 != self.frames.pushed.min(self.frames.capacity as u64) {
            return counters("frames stored contradict the frames pushed");
        }
        if self.reach > self.frames.pushed || self.disorder > self.frames.pushed {
            return counters("frame marks beyond the frames pushed");
        }
        // A link may point at a frame already overwritten (the frame
        // before the oldest stored, say), but never before the first frame.
        // A stack stored whole has its older frames stored before it, and
        // only an environment that stacks stores one.
        let k = self.config.input.stacking.frames as u64;
        for (at, &back) in self.frames.back.iter().enumerate() {
            let seq = self.frames.seq_at(at);
            let whole = back & WHOLE != 0;
            if u64::from(back & !WHOLE) > seq || (whole && (!self.config.input.stacking.by_environment || seq < k - 1))
            {
                return Err(Inconsistency::Link { frame: at });
            }
        }
        for age in 0..self.len {
            let slot = self.slot_of_age(age).expect("age < len");
            let steps = self.steps_in(slot);
            if steps == 0 || steps > self.config.max_steps {
                return Err(Inconsistency::Steps { slot });
            }
            if self.anchors[slot] as usize >= stored {
                return Err(Inconsistency::Transition { slot });
            }
            let mut q = self.frames.seq_at(self.anchors[slot] as usize);
            for _ in 0..steps - u8::from(self.acts[slot] & TERMINATED != 0) {
                match self.frames.prev(q) {
                    Some(p) if self.frames.present(p) => q = p,
                    _ => return Err(Inconsistency::Transition { slot }),
                }
            }
            // Only the stack's older places may meet the episode's start.
            if self.frames.stack(q, self.config.input.stacking.frames).any(|(_, f)| !self.frames.present(f)) {
                return Err(Inconsistency::Transition { slot });
            }
        }
        for (env, chain) in self.chains.iter().enumerate() {
            if chain.last.is_some_and(|q| !self.frames.present(q)) {
                return Err(Inconsistency::Chain { env });
            }
        }
        Ok(())
    }
}
