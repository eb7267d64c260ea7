//! The ring buffer of transitions, stored as a struct of arrays with its
//! capacity reserved once, and its checked stored form.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::error::{Inconsistency, ReplayError};

/// One transition, borrowed: what is pushed, and what is read back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition<'a> {
    /// The observation the action was taken in.
    pub state: &'a [f32],
    /// The index of the action taken.
    pub action: usize,
    /// The reward received.
    pub reward: f32,
    /// The observation the action led to (for an ended episode, the one it
    /// ended in, not the next episode's first).
    pub next_state: &'a [f32],
    /// The episode truly ended: no future reward to bootstrap from.
    pub terminated: bool,
    /// The episode was cut by a time limit: the future still counts.
    pub truncated: bool,
}

const TERMINATED: u8 = 1;
const TRUNCATED: u8 = 2;

/// A ring buffer of transitions with a fixed capacity.
///
/// Storage is a struct of arrays: states and next states as `f32` rows,
/// actions as `u16`, rewards as `f32`, and both episode flags packed in one
/// byte: 39 bytes per CartPole transition. A buffer made by
/// [`new_multi_step`](Self::new_multi_step) (for n-step returns) also keeps
/// the number of environment steps each transition spans, one more byte. Memory is reserved once at
/// construction and grows by nothing after.
///
/// Serializes with its contents and write position (for checkpoints); what
/// is read back is checked for consistency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredReplay")]
pub struct ReplayBuffer {
    obs_dim: usize,
    capacity: usize,
    /// The slot the next push writes: `pushes mod capacity`.
    write_pos: usize,
    pushes: u64,
    states: Vec<f32>,
    next_states: Vec<f32>,
    actions: Vec<u16>,
    rewards: Vec<f32>,
    flags: Vec<u8>,
    /// Whether `steps` is kept (else every transition spans one step and
    /// `steps` stays empty).
    multi_step: bool,
    /// Environment steps each transition spans: its reward is the
    /// discounted sum of that many rewards and its next state that many
    /// steps on.
    steps: Vec<u8>,
}

/// A [`ReplayBuffer`] as stored, before it is checked: the same fields, in
/// the same serialized form. Decode this and convert it with
/// `ReplayBuffer::try_from` to keep the typed error of damaged contents
/// (some formats, postcard among them, drop the message of an error raised
/// inside deserialization).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredReplay {
    obs_dim: usize,
    capacity: usize,
    write_pos: usize,
    pushes: u64,
    states: Vec<f32>,
    next_states: Vec<f32>,
    actions: Vec<u16>,
    rewards: Vec<f32>,
    flags: Vec<u8>,
    multi_step: bool,
    steps: Vec<u8>,
}

impl TryFrom<StoredReplay> for ReplayBuffer {
    type Error = ReplayError;

    /// # Errors
    /// [`ReplayError::ZeroCapacity`], [`ReplayError::ZeroObsDim`] or
    /// [`ReplayError::Inconsistent`] naming what does not fit.
    fn try_from(p: StoredReplay) -> Result<Self, ReplayError> {
        let bad = |problem| Err(ReplayError::Inconsistent(problem));
        if p.capacity == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        if p.obs_dim == 0 {
            return Err(ReplayError::ZeroObsDim);
        }
        let len = p.actions.len();
        let steps_len = if p.multi_step { len } else { 0 };
        if len > p.capacity || p.rewards.len() != len || p.flags.len() != len || p.steps.len() != steps_len {
            return bad(Inconsistency::Columns {
                actions: len,
                rewards: p.rewards.len(),
                flags: p.flags.len(),
                steps: p.steps.len(),
                capacity: p.capacity,
            });
        }
        // Checked: a crafted obs_dim can make the product overflow.
        let values = len.checked_mul(p.obs_dim);
        if values != Some(p.states.len()) || values != Some(p.next_states.len()) {
            return bad(Inconsistency::Observations {
                states: p.states.len(),
                next_states: p.next_states.len(),
                transitions: len,
                obs_dim: p.obs_dim,
            });
        }
        let expected_pos = (p.pushes % p.capacity as u64) as usize;
        let full = len == p.capacity;
        // A buffer holds min(pushes, capacity) transitions; and no run
        // pushes 2^62 times (14 000 years at ten million a second), so a
        // count beyond that is damage, and counting on cannot overflow.
        let pushes_fit = p.pushes >= len as u64 && (full || p.pushes == len as u64) && p.pushes <= 1 << 62;
        if p.write_pos != expected_pos || !pushes_fit {
            return bad(Inconsistency::WritePosition { write_pos: p.write_pos, pushes: p.pushes, len });
        }
        for (field, values) in [("state", &p.states), ("next_state", &p.next_states), ("reward", &p.rewards)] {
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return bad(Inconsistency::NonFinite { field, index, value: values[index] });
            }
        }
        if let Some(slot) = p.flags.iter().position(|&f| f > (TERMINATED | TRUNCATED)) {
            return bad(Inconsistency::FlagBits { slot, flags: p.flags[slot] });
        }
        if let Some(slot) = p.steps.iter().position(|&k| k == 0) {
            return bad(Inconsistency::ZeroSteps { slot });
        }
        let mut buffer = Self {
            obs_dim: p.obs_dim,
            capacity: p.capacity,
            write_pos: p.write_pos,
            pushes: p.pushes,
            states: p.states,
            next_states: p.next_states,
            actions: p.actions,
            rewards: p.rewards,
            flags: p.flags,
            multi_step: p.multi_step,
            steps: p.steps,
        };
        // As a new buffer: the rest of the capacity is reserved now.
        buffer.reserve_capacity()?;
        Ok(buffer)
    }
}

fn check_obs(field: &'static str, obs: &[f32], obs_dim: usize) -> Result<(), ReplayError> {
    if obs.len() != obs_dim {
        return Err(ReplayError::ObsLength { field, expected: obs_dim, got: obs.len() });
    }
    match obs.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(ReplayError::NonFinite { field, index, value: obs[index] }),
        None => Ok(()),
    }
}

impl ReplayBuffer {
    /// An empty buffer for `capacity` transitions with observations of
    /// length `obs_dim`.
    ///
    /// # Errors
    /// [`ReplayError::ZeroCapacity`], [`ReplayError::ZeroObsDim`], or
    /// [`ReplayError::TooLarge`] if the memory cannot be had.
    pub fn new(capacity: usize, obs_dim: usize) -> Result<Self, ReplayError> {
        Self::with_steps(capacity, obs_dim, false)
    }

    /// An empty buffer that also keeps, per transition, how many
    /// environment steps it spans (see [`push_spanning`](Self::push_spanning)).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn new_multi_step(capacity: usize, obs_dim: usize) -> Result<Self, ReplayError> {
        Self::with_steps(capacity, obs_dim, true)
    }

    fn with_steps(capacity: usize, obs_dim: usize, multi_step: bool) -> Result<Self, ReplayError> {
        if capacity == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        if obs_dim == 0 {
            return Err(ReplayError::ZeroObsDim);
        }
        let mut buffer = Self {
            obs_dim,
            capacity,
            write_pos: 0,
            pushes: 0,
            states: Vec::new(),
            next_states: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            flags: Vec::new(),
            multi_step,
            steps: Vec::new(),
        };
        buffer.reserve_capacity()?;
        Ok(buffer)
    }

    /// Reserves the whole capacity up front, once: a capacity too large to
    /// allocate is an error here, not an abort at some later push.
    fn reserve_capacity(&mut self) -> Result<(), ReplayError> {
        let capacity = self.capacity;
        let too_large = ReplayError::TooLarge { capacity };
        fn reserve<T>(v: &mut Vec<T>, total: Option<usize>, too_large: &ReplayError) -> Result<(), ReplayError> {
            let more = total.ok_or_else(|| too_large.clone())?.saturating_sub(v.len());
            v.try_reserve_exact(more).map_err(|_| too_large.clone())
        }
        let values = capacity.checked_mul(self.obs_dim);
        reserve(&mut self.states, values, &too_large)?;
        reserve(&mut self.next_states, values, &too_large)?;
        reserve(&mut self.actions, Some(capacity), &too_large)?;
        reserve(&mut self.rewards, Some(capacity), &too_large)?;
        reserve(&mut self.flags, Some(capacity), &too_large)?;
        reserve(&mut self.steps, Some(if self.multi_step { capacity } else { 0 }), &too_large)
    }

    /// Whether the buffer keeps step counts (made by
    /// [`new_multi_step`](Self::new_multi_step)).
    #[must_use]
    pub fn is_multi_step(&self) -> bool {
        self.multi_step
    }

    /// Stores a transition, overwriting the oldest once the buffer is full.
    ///
    /// # Errors
    /// [`ReplayError::ObsLength`], [`ReplayError::NonFinite`] or
    /// [`ReplayError::ActionOutOfRange`]; the buffer is unchanged then.
    pub fn push(&mut self, t: Transition<'_>) -> Result<(), ReplayError> {
        self.push_spanning(t, 1)
    }

    /// Stores a transition that spans `steps` environment steps (an n-step
    /// return: `t.reward` is the discounted sum of their rewards and
    /// `t.next_state` the observation `steps` later), overwriting the
    /// oldest once the buffer is full.
    ///
    /// # Errors
    /// As [`push`](Self::push); [`ReplayError::Steps`] for 0 steps, or more
    /// than one in a buffer that keeps no step counts; the buffer is
    /// unchanged then.
    pub fn push_spanning(&mut self, t: Transition<'_>, steps: u8) -> Result<(), ReplayError> {
        if steps == 0 || (steps > 1 && !self.multi_step) {
            return Err(ReplayError::Steps { steps, multi_step: self.multi_step });
        }
        self.check(&t)?;
        let action = u16::try_from(t.action).map_err(|_| ReplayError::ActionOutOfRange { action: t.action })?;
        let flags = if t.terminated { TERMINATED } else { 0 } | if t.truncated { TRUNCATED } else { 0 };
        let slot = self.write_pos;
        if self.actions.len() < self.capacity {
            self.states.extend_from_slice(t.state);
            self.next_states.extend_from_slice(t.next_state);
            self.actions.push(action);
            self.rewards.push(t.reward);
            self.flags.push(flags);
            if self.multi_step {
                self.steps.push(steps);
            }
        } else {
            let row = slot * self.obs_dim..(slot + 1) * self.obs_dim;
            self.states[row.clone()].copy_from_slice(t.state);
            self.next_states[row].copy_from_slice(t.next_state);
            self.actions[slot] = action;
            self.rewards[slot] = t.reward;
            self.flags[slot] = flags;
            if self.multi_step {
                self.steps[slot] = steps;
            }
        }
        self.write_pos = if slot + 1 == self.capacity { 0 } else { slot + 1 };
        self.pushes += 1;
        Ok(())
    }

    /// Whether [`push`](Self::push) would take `t`: observations of the
    /// buffer's length, finite values, an action that fits.
    ///
    /// # Errors
    /// [`ReplayError::ObsLength`], [`ReplayError::NonFinite`] or
    /// [`ReplayError::ActionOutOfRange`].
    pub fn check(&self, t: &Transition<'_>) -> Result<(), ReplayError> {
        check_obs("state", t.state, self.obs_dim)?;
        check_obs("next_state", t.next_state, self.obs_dim)?;
        if !t.reward.is_finite() {
            return Err(ReplayError::NonFinite { field: "reward", index: 0, value: t.reward });
        }
        u16::try_from(t.action).map_err(|_| ReplayError::ActionOutOfRange { action: t.action })?;
        Ok(())
    }

    /// The number of transitions held: `min(pushes, capacity)`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether nothing has been pushed yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The most transitions the buffer holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The length of every observation.
    #[must_use]
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The slot the next push writes to, `pushes() mod capacity()`.
    #[must_use]
    pub fn write_position(&self) -> usize {
        self.write_pos
    }

    /// Transitions pushed since the buffer was made, overwritten ones included.
    #[must_use]
    pub fn pushes(&self) -> u64 {
        self.pushes
    }

    /// The transition in storage slot `slot` (as [`Batch::indices`] name them).
    #[must_use]
    pub fn slot(&self, slot: usize) -> Option<Transition<'_>> {
        if slot >= self.len() {
            return None;
        }
        let row = slot * self.obs_dim..(slot + 1) * self.obs_dim;
        Some(Transition {
            state: &self.states[row.clone()],
            action: usize::from(self.actions[slot]),
            reward: self.rewards[slot],
            next_state: &self.next_states[row],
            terminated: self.flags[slot] & TERMINATED != 0,
            truncated: self.flags[slot] & TRUNCATED != 0,
        })
    }

    /// The environment steps the transition in storage slot `slot` spans
    /// (see [`push_spanning`](Self::push_spanning)).
    #[must_use]
    pub fn steps_at(&self, slot: usize) -> Option<u8> {
        if self.multi_step { self.steps.get(slot).copied() } else { (slot < self.len()).then_some(1) }
    }

    /// The `age`-th oldest transition held (0 is the oldest).
    #[must_use]
    pub fn get(&self, age: usize) -> Option<Transition<'_>> {
        if age >= self.len() {
            return None;
        }
        // Before the buffer is full the oldest is slot 0; after, it is the
        // slot about to be overwritten.
        let oldest = if self.len() < self.capacity { 0 } else { self.write_pos };
        self.slot((oldest + age) % self.capacity)
    }

    /// The transitions held, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Transition<'_>> + '_ {
        (0..self.len()).map(|age| self.get(age).expect("age < len always has a transition"))
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
        let len = self.len();
        if batch_size > len {
            return Err(ReplayError::BatchTooLarge { batch_size, len });
        }
        batch.choose_floyd(len, batch_size, rng);
        self.gather_into(batch);
        Ok(())
    }

    /// Fills `batch` with the `batch_size` most recently pushed transitions,
    /// newest first: the correlated, non-random mini-batch that replay exists
    /// to avoid (kept for experiments that show why).
    ///
    /// # Errors
    /// [`ReplayError::BatchTooLarge`] if `batch_size > len()`.
    pub fn recent_into(&self, batch_size: usize, batch: &mut Batch) -> Result<(), ReplayError> {
        let len = self.len();
        if batch_size > len {
            return Err(ReplayError::BatchTooLarge { batch_size, len });
        }
        let newest = self.write_pos + self.capacity - 1;
        batch.set_indices((0..batch_size).map(|back| (newest - back) % self.capacity));
        self.gather_into(batch);
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
        if let Some(&slot) = slots.iter().find(|&&slot| slot >= self.len()) {
            return Err(ReplayError::SlotOutOfRange { slot, capacity: self.len() });
        }
        batch.set_indices(slots.iter().copied());
        self.gather_into(batch);
        Ok(())
    }

    fn gather_into(&self, batch: &mut Batch) {
        let d = self.obs_dim;
        batch.gather(d, |slot, state, next_state| {
            state.copy_from_slice(&self.states[slot * d..(slot + 1) * d]);
            next_state.copy_from_slice(&self.next_states[slot * d..(slot + 1) * d]);
            let flags = self.flags[slot];
            let fields = (usize::from(self.actions[slot]), self.rewards[slot]);
            let steps = if self.multi_step { self.steps[slot] } else { 1 };
            (fields, (flags & TERMINATED != 0, flags & TRUNCATED != 0), steps)
        });
    }

    /// Heap bytes reserved for transitions (the buffer at full capacity).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        (self.states.capacity() + self.next_states.capacity()) * size_of::<f32>()
            + self.actions.capacity() * size_of::<u16>()
            + self.rewards.capacity() * size_of::<f32>()
            + (self.flags.capacity() + self.steps.capacity()) * size_of::<u8>()
    }
}
