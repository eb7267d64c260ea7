//! Prioritized replay's state — a priority per transition held and the
//! largest so far — and its stream: checkpoints write it straight from the
//! tree after the replay buffer and read it straight into a tree, so that,
//! like the buffer's frames, it never takes a second copy in memory.

use std::io::{Read, Write};

use replay::{Evicted, PriorityTree, ReplayBuffer, ReplayError};

use crate::{AgentError, StateProblem};

/// The priorities of prioritized replay: one per slot of the replay buffer
/// that holds a transition (new ones get the largest priority so far), in
/// a [`PriorityTree`] for sampling.
#[derive(Debug, Clone, PartialEq)]
pub struct Priorities {
    pub(crate) tree: PriorityTree,
    pub(crate) max_priority: f64,
}

impl Priorities {
    /// Priorities for an empty buffer of `capacity` transitions: new ones
    /// start at 1.
    ///
    /// # Errors
    /// [`ReplayError::ZeroCapacity`] for none.
    pub fn new(capacity: usize) -> Result<Self, ReplayError> {
        Ok(Self { tree: PriorityTree::new(capacity)?, max_priority: 1.0 })
    }

    /// The priority of the transition in slot `slot`, if one is set.
    #[must_use]
    pub fn get(&self, slot: usize) -> Option<f64> {
        self.tree.get(slot).filter(|&p| p > 0.0)
    }

    /// Heap bytes of the tree.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.tree.heap_bytes()
    }

    /// The largest priority so far (what new transitions get).
    #[must_use]
    pub fn max_priority(&self) -> f64 {
        self.max_priority
    }

    /// New transitions in `slot` get the largest priority so far.
    pub(crate) fn added(&mut self, slot: usize) -> Result<(), AgentError> {
        Ok(self.tree.set(slot, self.max_priority)?)
    }

    /// Transitions the buffer let go have no priority.
    pub(crate) fn evicted(&mut self, evicted: Evicted, capacity: usize) -> Result<(), AgentError> {
        for i in 0..evicted.count {
            self.tree.clear((evicted.first + i) % capacity)?;
        }
        Ok(())
    }

    /// The bytes [`write_to`](Self::write_to) writes for `replay`.
    #[must_use]
    pub fn stream_len(replay: &ReplayBuffer) -> u64 {
        8 * (1 + replay.len() as u64)
    }

    /// Writes the largest priority, then the priority of each transition
    /// `replay` holds, oldest first, as little-endian `f64`s: the stream
    /// [`read_from`](Self::read_from) reads back against the same buffer.
    ///
    /// # Errors
    /// The writer's.
    ///
    /// # Panics
    /// If a transition of `replay` has no priority: `replay` is not the
    /// buffer these priorities belong to (an [`Agent`](crate::Agent)'s
    /// pair always fits).
    pub fn write_to(&self, replay: &ReplayBuffer, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(&self.max_priority.to_le_bytes())?;
        let mut chunk = Vec::with_capacity(8 * 1024);
        for age in 0..replay.len() {
            let slot = replay.slot_of_age(age).expect("age < len");
            let priority = self.tree.get(slot).expect("every transition held has a priority");
            chunk.extend_from_slice(&priority.to_le_bytes());
            if chunk.len() == chunk.capacity() {
                w.write_all(&chunk)?;
                chunk.clear();
            }
        }
        w.write_all(&chunk)
    }

    /// Reads what [`write_to`](Self::write_to) wrote for `replay` into a
    /// tree of `replay`'s capacity, checking each value as it comes: the
    /// largest positive and finite, every priority positive and at most
    /// the largest.
    ///
    /// # Errors
    /// [`PrioritiesError::Read`] for the reader's failure (an early end
    /// included), [`PrioritiesError::Damaged`] naming a bad value.
    pub fn read_from(r: &mut dyn Read, replay: &ReplayBuffer) -> Result<Self, PrioritiesError> {
        let damaged = |problem| {
            PrioritiesError::Damaged(Box::new(AgentError::DamagedState(StateProblem::Priorities { problem })))
        };
        let mut word = [0u8; 8];
        r.read_exact(&mut word).map_err(PrioritiesError::Read)?;
        let max_priority = f64::from_le_bytes(word);
        if !(max_priority > 0.0 && max_priority.is_finite()) {
            return Err(damaged("have a largest value that is not positive and finite"));
        }
        let mut tree =
            PriorityTree::new(replay.capacity()).map_err(|e| PrioritiesError::Damaged(Box::new(e.into())))?;
        for age in 0..replay.len() {
            r.read_exact(&mut word).map_err(PrioritiesError::Read)?;
            let priority = f64::from_le_bytes(word);
            if !(priority > 0.0 && priority <= max_priority) {
                return Err(damaged("hold a value that is not positive or is above the largest"));
            }
            let slot = replay.slot_of_age(age).expect("age < len");
            tree.set(slot, priority).map_err(|e| PrioritiesError::Damaged(Box::new(e.into())))?;
        }
        Ok(Self { tree, max_priority })
    }
}

/// Why priorities could not be read from a stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum PrioritiesError {
    /// The reader failed, or the stream ended early.
    Read(std::io::Error),
    /// A value the priorities cannot hold.
    Damaged(Box<AgentError>),
}

impl PrioritiesError {
    /// Whether the stream ended before the priorities did.
    #[must_use]
    pub fn is_truncated(&self) -> bool {
        matches!(self, Self::Read(e) if e.kind() == std::io::ErrorKind::UnexpectedEof)
    }
}

impl std::fmt::Display for PrioritiesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(_) => write!(f, "cannot read the replay priorities' stream"),
            Self::Damaged(_) => write!(f, "the replay priorities' stream is damaged"),
        }
    }
}

impl std::error::Error for PrioritiesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read(e) => Some(e),
            Self::Damaged(e) => Some(e.as_ref()),
        }
    }
}
