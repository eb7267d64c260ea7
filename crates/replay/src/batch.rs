//! A reusable mini-batch: the sampled transitions gathered into columns,
//! their observations as the network's input rows, and Floyd's algorithm
//! for drawing distinct indices.

use rand::Rng;

/// A mini-batch gathered from a [`ReplayBuffer`](crate::ReplayBuffer), reused
/// from one sample to the next.
///
/// Observations are input rows of [`row_len`](Self::row_len) `f32` values
/// (a stack of frames, converted and scaled), row-major: row `i` of
/// [`states`](Self::states) belongs with `actions()[i]`, `rewards()[i]`,
/// and so on.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    row_len: usize,
    indices: Vec<usize>,
    states: Vec<f32>,
    actions: Vec<usize>,
    rewards: Vec<f32>,
    next_states: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    steps: Vec<u8>,
    /// One bit per index drawn from, set for those already chosen; all
    /// clear between samples.
    chosen: Vec<u64>,
}

/// A batch's columns, borrowed to be filled (the indices read, the rows
/// sized, the other columns empty).
pub(crate) struct BatchRows<'a> {
    pub(crate) indices: &'a [usize],
    pub(crate) states: &'a mut [f32],
    pub(crate) next_states: &'a mut [f32],
    pub(crate) actions: &'a mut Vec<usize>,
    pub(crate) rewards: &'a mut Vec<f32>,
    pub(crate) terminated: &'a mut Vec<bool>,
    pub(crate) truncated: &'a mut Vec<bool>,
    pub(crate) steps: &'a mut Vec<u8>,
}

impl Batch {
    /// An empty batch; it takes its size from the first sample.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Floyd's algorithm: `k` distinct indices in `0..n`, every subset equally
    /// likely, with exactly `k` draws.
    pub(crate) fn choose_floyd<R: Rng + ?Sized>(&mut self, n: usize, k: usize, rng: &mut R) {
        let words = n.div_ceil(64);
        if self.chosen.len() < words {
            self.chosen.resize(words, 0);
        }
        self.indices.clear();
        for j in n - k..n {
            let t = rng.random_range(0..=j);
            let pick = if self.chosen[t / 64] & (1 << (t % 64)) != 0 { j } else { t };
            self.chosen[pick / 64] |= 1 << (pick % 64);
            self.indices.push(pick);
        }
        for &i in &self.indices {
            self.chosen[i / 64] &= !(1 << (i % 64));
        }
    }

    pub(crate) fn set_indices(&mut self, indices: impl Iterator<Item = usize>) {
        self.indices.clear();
        self.indices.extend(indices);
    }

    pub(crate) fn map_indices(&mut self, f: impl Fn(usize) -> usize) {
        for i in &mut self.indices {
            *i = f(*i);
        }
    }

    /// Sizes the rows for the indices drawn (rows of `row_len`) and empties
    /// the other columns, for the buffer to fill.
    pub(crate) fn prepare(&mut self, row_len: usize) -> BatchRows<'_> {
        let k = self.indices.len();
        self.row_len = row_len;
        self.states.resize(k * row_len, 0.0);
        self.next_states.resize(k * row_len, 0.0);
        self.actions.clear();
        self.rewards.clear();
        self.terminated.clear();
        self.truncated.clear();
        self.steps.clear();
        BatchRows {
            indices: &self.indices,
            states: &mut self.states,
            next_states: &mut self.next_states,
            actions: &mut self.actions,
            rewards: &mut self.rewards,
            terminated: &mut self.terminated,
            truncated: &mut self.truncated,
            steps: &mut self.steps,
        }
    }

    /// The number of transitions in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the batch holds nothing (before the first sample).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The length of each input row.
    #[must_use]
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// The buffer slots the transitions came from.
    #[must_use]
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The states' input rows, `len() × row_len()` row-major.
    #[must_use]
    pub fn states(&self) -> &[f32] {
        &self.states
    }

    /// The actions taken.
    #[must_use]
    pub fn actions(&self) -> &[usize] {
        &self.actions
    }

    /// The rewards received.
    #[must_use]
    pub fn rewards(&self) -> &[f32] {
        &self.rewards
    }

    /// The next states' input rows, `len() × row_len()` row-major (a
    /// terminated transition's row holds its state: nothing bootstraps
    /// from it, and its next state is not stored).
    #[must_use]
    pub fn next_states(&self) -> &[f32] {
        &self.next_states
    }

    /// Which transitions ended their episode by termination.
    #[must_use]
    pub fn terminated(&self) -> &[bool] {
        &self.terminated
    }

    /// Which transitions were cut by a time limit.
    #[must_use]
    pub fn truncated(&self) -> &[bool] {
        &self.truncated
    }

    /// The environment steps each transition spans.
    #[must_use]
    pub fn steps(&self) -> &[u8] {
        &self.steps
    }
}
