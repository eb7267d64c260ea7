//! A reusable mini-batch: the sampled transitions gathered into columns, and
//! Floyd's algorithm for drawing distinct indices.

use rand::Rng;

/// A mini-batch gathered from a [`ReplayBuffer`](crate::ReplayBuffer), reused
/// from one sample to the next.
///
/// Observations are rows of `obs_dim` values, row-major: row `i` of
/// [`states`](Self::states) belongs with `actions()[i]`, `rewards()[i]`, and so
/// on.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    obs_dim: usize,
    indices: Vec<usize>,
    states: Vec<f32>,
    actions: Vec<usize>,
    rewards: Vec<f32>,
    next_states: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    steps: Vec<u8>,
    /// One bit per buffer slot, set for the slots already chosen; all clear
    /// between samples.
    chosen: Vec<u64>,
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

    /// Fills every field from the slots in `indices`; `fetch` copies a slot's
    /// observations into the given rows and returns its other fields:
    /// `((action, reward), (terminated, truncated), steps)`.
    pub(crate) fn gather(
        &mut self,
        obs_dim: usize,
        mut fetch: impl FnMut(usize, &mut [f32], &mut [f32]) -> ((usize, f32), (bool, bool), u8),
    ) {
        let k = self.indices.len();
        self.obs_dim = obs_dim;
        self.states.resize(k * obs_dim, 0.0);
        self.next_states.resize(k * obs_dim, 0.0);
        self.actions.clear();
        self.rewards.clear();
        self.terminated.clear();
        self.truncated.clear();
        self.steps.clear();
        for (row, &slot) in self.indices.iter().enumerate() {
            let rows = row * obs_dim..(row + 1) * obs_dim;
            let ((action, reward), (terminated, truncated), steps) =
                fetch(slot, &mut self.states[rows.clone()], &mut self.next_states[rows]);
            self.actions.push(action);
            self.rewards.push(reward);
            self.terminated.push(terminated);
            self.truncated.push(truncated);
            self.steps.push(steps);
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

    /// The length of each observation row.
    #[must_use]
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The buffer slots the transitions came from (see
    /// [`ReplayBuffer::slot`](crate::ReplayBuffer::slot)).
    #[must_use]
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The states, `len() × obs_dim()` row-major.
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

    /// The next states, `len() × obs_dim()` row-major.
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

    /// The environment steps each transition spans (1 unless pushed with
    /// [`ReplayBuffer::push_spanning`](crate::ReplayBuffer::push_spanning)).
    #[must_use]
    pub fn steps(&self) -> &[u8] {
        &self.steps
    }
}
