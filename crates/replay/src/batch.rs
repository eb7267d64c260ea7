//! A reusable mini-batch: the sampled transitions gathered into columns,
//! their observations as the network's input rows, and Floyd's algorithm
//! for drawing distinct indices.

use rand::Rng;

/// A mini-batch gathered from a [`ReplayBuffer`](crate::ReplayBuffer), reused
/// from one sample to the next.
///
/// Observations are input rows of [`row_len`](Self::row_len) values (a
/// stack of frames), row-major: row `i` of [`states`](Self::states) belongs
/// with `actions()[i]`, `rewards()[i]`, and so on. Frames of `f32` values
/// come as `f32` rows, scaled; frames of bytes or bits stay bytes (a bit
/// as 0 or 1), a quarter of the size, with the table that converts them
/// ([`Rows`]): the network converts them as it reads them.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    row_len: usize,
    indices: Vec<usize>,
    /// Whether the rows are bytes (`state_bytes`, `next_state_bytes`) or
    /// `f32` values (`states`, `next_states`).
    bytes: bool,
    states: Vec<f32>,
    next_states: Vec<f32>,
    state_bytes: Vec<u8>,
    next_state_bytes: Vec<u8>,
    /// Each byte's value, 256 of them, for rows of bytes.
    table: Vec<f32>,
    actions: Vec<usize>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    steps: Vec<u8>,
    /// One bit per index drawn from, set for those already chosen; all
    /// clear between samples.
    chosen: Vec<u64>,
}

/// Input rows: `f32` values, or bytes each standing for its entry of a
/// 256-value table (`b / 255` for pixels, `b · scale` for binary planes:
/// the values `f32` rows of the same frames would hold, bit for bit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rows<'a> {
    /// The values.
    F32(&'a [f32]),
    /// Bytes; byte `b` is the value `table[b]`.
    Bytes {
        /// The rows' bytes.
        bytes: &'a [u8],
        /// What each byte stands for.
        table: &'a [f32; 256],
    },
}

impl Rows<'_> {
    /// The number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::Bytes { bytes, .. } => bytes.len(),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as `f32` (a copy: for inspection, not for the hot path).
    #[must_use]
    pub fn to_vec(&self) -> Vec<f32> {
        match self {
            Self::F32(v) => v.to_vec(),
            Self::Bytes { bytes, table } => bytes.iter().map(|&b| table[usize::from(b)]).collect(),
        }
    }
}

/// A batch's rows as the buffer writes them: `f32` values or bytes.
pub(crate) enum RowsMut<'a> {
    F32 { states: &'a mut [f32], next_states: &'a mut [f32] },
    Bytes { states: &'a mut [u8], next_states: &'a mut [u8] },
}

/// A batch's columns, borrowed to be filled (the indices read, the rows
/// sized, the other columns empty).
pub(crate) struct BatchRows<'a> {
    pub(crate) indices: &'a [usize],
    pub(crate) rows: RowsMut<'a>,
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

    /// Sizes the rows for the indices drawn (rows of `row_len` values, or
    /// of bytes read through `table`) and empties the other columns, for
    /// the buffer to fill.
    pub(crate) fn prepare(&mut self, row_len: usize, table: Option<&[f32; 256]>) -> BatchRows<'_> {
        let k = self.indices.len();
        self.row_len = row_len;
        self.bytes = table.is_some();
        let rows = match table {
            None => {
                self.states.resize(k * row_len, 0.0);
                self.next_states.resize(k * row_len, 0.0);
                RowsMut::F32 { states: &mut self.states, next_states: &mut self.next_states }
            }
            Some(table) => {
                self.table.clear();
                self.table.extend_from_slice(table);
                self.state_bytes.resize(k * row_len, 0);
                self.next_state_bytes.resize(k * row_len, 0);
                RowsMut::Bytes { states: &mut self.state_bytes, next_states: &mut self.next_state_bytes }
            }
        };
        self.actions.clear();
        self.rewards.clear();
        self.terminated.clear();
        self.truncated.clear();
        self.steps.clear();
        BatchRows {
            indices: &self.indices,
            rows,
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
    pub fn states(&self) -> Rows<'_> {
        self.rows(&self.states, &self.state_bytes)
    }

    fn rows<'a>(&'a self, values: &'a [f32], bytes: &'a [u8]) -> Rows<'a> {
        match self.bytes {
            false => Rows::F32(values),
            true => Rows::Bytes {
                bytes,
                table: self.table.as_slice().try_into().expect("a batch of bytes holds its 256-value table"),
            },
        }
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
    pub fn next_states(&self) -> Rows<'_> {
        self.rows(&self.next_states, &self.next_state_bytes)
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
