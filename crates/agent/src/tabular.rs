//! Tabular Q-learning on a discretised observation: the baseline DQN
//! improves on. Each observation dimension is cut into equal bins over a
//! range (values outside fall into the end bins); the table holds one value
//! per (cell, action) and learns by the one-step Q-learning rule
//! `Q(s,a) ← Q(s,a) + α (r + γ·max Q(s′,·)·(1 − terminated) − Q(s,a))`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::{Frame, FrameKind, InputFormat, Transition};
use serde::{Deserialize, Serialize};

use crate::{
    AgentError, EpsilonSchedule, Learner, ObservationProblem, StateProblem, UpdateOutcome, UpdateStats, argmax,
    bellman_target,
};

/// How observations become table cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discretizer {
    /// Per dimension, the range cut into bins: `(low, high)`.
    pub ranges: Vec<(f32, f32)>,
    /// Per dimension, the number of bins (at least 1).
    pub bins: Vec<usize>,
}

impl Discretizer {
    /// The cell of `obs` (row-major over the dimensions).
    #[must_use]
    pub fn cell(&self, obs: &[f32]) -> usize {
        let mut cell = 0;
        for ((&v, &(low, high)), &n) in obs.iter().zip(&self.ranges).zip(&self.bins) {
            let t = ((v - low) / (high - low) * n as f32).floor();
            // Outside the range: the end bins. (`as` saturates, and NaN is
            // refused before this.)
            let bin = (t.max(0.0) as usize).min(n.saturating_sub(1));
            cell = cell * n + bin;
        }
        cell
    }

    /// The number of cells.
    #[must_use]
    pub fn n_cells(&self) -> usize {
        self.bins.iter().product()
    }
}

/// The largest table allowed: far beyond any useful grid, small enough to
/// allocate.
const MAX_TABLE: usize = 1 << 24;

/// The tabular learner's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabularConfig {
    /// The observation grid.
    pub discretizer: Discretizer,
    /// The number of actions.
    pub n_actions: usize,
    /// The step size α, in (0, 1].
    pub alpha: f64,
    /// The discount γ, in [0, 1].
    pub gamma: f64,
    /// The exploration schedule.
    pub epsilon: EpsilonSchedule,
}

/// Tabular Q-learning with ε-greedy exploration (the same schedule and
/// counting as [`Agent`](crate::Agent)). Serializes with its whole state;
/// what is read back is checked like a new learner ([`StoredTabularQ`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredTabularQ")]
pub struct TabularQ {
    config: TabularConfig,
    table: Vec<f32>,
    rng: ChaCha8Rng,
    sample_count: u64,
    n_updates: u64,
    /// The transition observed and not yet learned from.
    pending: Option<PendingTransition>,
}

/// A transition as the table learns from it: cells, not observations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct PendingTransition {
    cell: usize,
    action: usize,
    reward: f32,
    next_cell: usize,
    terminated: bool,
}

/// A [`TabularQ`] as stored, before it is checked. Decode this and convert
/// it with `TabularQ::try_from` to keep the typed error of a damaged state
/// (some formats, postcard among them, drop the message of an error raised
/// inside deserialization).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredTabularQ {
    config: TabularConfig,
    table: Vec<f32>,
    rng: ChaCha8Rng,
    sample_count: u64,
    n_updates: u64,
    pending: Option<PendingTransition>,
}

impl TryFrom<StoredTabularQ> for TabularQ {
    type Error = AgentError;

    /// # Errors
    /// [`AgentError::InvalidConfig`] for bad settings (as
    /// [`TabularQ::new`]), [`AgentError::DamagedState`] for a table of the
    /// wrong size or with a non-finite value, or a pending transition
    /// outside the grid.
    fn try_from(p: StoredTabularQ) -> Result<Self, AgentError> {
        let fresh = Self::new(p.config, 0)?;
        crate::check_count("sample_count", p.sample_count)?;
        crate::check_count("n_updates", p.n_updates)?;
        let cells = fresh.config.discretizer.n_cells();
        let non_finite_at = p.table.iter().position(|v| !v.is_finite());
        if p.table.len() != fresh.table.len() || non_finite_at.is_some() {
            let (len, expected) = (p.table.len(), fresh.table.len());
            return Err(AgentError::DamagedState(StateProblem::Table { len, expected, non_finite_at }));
        }
        if let Some(t) = p.pending
            && (t.cell >= cells || t.next_cell >= cells || t.action >= fresh.config.n_actions || !t.reward.is_finite())
        {
            return Err(AgentError::DamagedState(StateProblem::PendingTransition));
        }
        Ok(Self {
            table: p.table,
            rng: p.rng,
            sample_count: p.sample_count,
            n_updates: p.n_updates,
            pending: p.pending,
            ..fresh
        })
    }
}

impl TabularQ {
    /// A zero table.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] for bad bins, ranges, α or γ.
    pub fn new(config: TabularConfig, explore_seed: u64) -> Result<Self, AgentError> {
        let bad = |field, reason: &str| Err(AgentError::InvalidConfig(crate::InvalidSetting::new(field, reason)));
        let d = &config.discretizer;
        if d.bins.is_empty() || d.bins.len() != d.ranges.len() || d.bins.contains(&0) {
            return bad("bins", "one positive bin count per range is needed");
        }
        if d.ranges.iter().any(|&(lo, hi)| !(hi > lo && lo.is_finite() && hi.is_finite())) {
            return bad("ranges", "every range needs low < high, both finite");
        }
        if !(config.alpha > 0.0 && config.alpha <= 1.0) {
            return bad("alpha", "must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&config.gamma) {
            return bad("gamma", "must be in [0, 1]");
        }
        if config.n_actions == 0 {
            return bad("n_actions", "must be at least 1");
        }
        let cells = d.bins.iter().try_fold(1usize, |n, &b| n.checked_mul(b));
        let size = cells.and_then(|c| c.checked_mul(config.n_actions)).filter(|&n| n <= MAX_TABLE);
        let Some(size) = size else {
            return bad("bins", "the table would have more than 2^24 entries");
        };
        let table = vec![0.0; size];
        Ok(Self {
            config,
            table,
            rng: ChaCha8Rng::seed_from_u64(explore_seed),
            sample_count: 0,
            n_updates: 0,
            pending: None,
        })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &TabularConfig {
        &self.config
    }

    /// Training actions taken.
    #[must_use]
    pub fn sample_count(&self) -> u64 {
        self.sample_count
    }

    /// The ε-greedy RNG.
    #[must_use]
    pub fn rng(&self) -> &ChaCha8Rng {
        &self.rng
    }

    fn row(&self, cell: usize) -> &[f32] {
        let n = self.config.n_actions;
        &self.table[cell * n..(cell + 1) * n]
    }

    fn check(&self, obs: &[f32]) -> Result<usize, AgentError> {
        let expected = self.config.discretizer.bins.len();
        if obs.len() != expected {
            return Err(AgentError::BadObservation(ObservationProblem::Length { expected, got: obs.len() }));
        }
        if let Some(index) = obs.iter().position(|v| !v.is_finite()) {
            let problem = ObservationProblem::NonFinite { row: 0, index, value: obs[index] };
            return Err(AgentError::BadObservation(problem));
        }
        Ok(self.config.discretizer.cell(obs))
    }

    /// The values of an observation: the table discretises `f32` vectors.
    fn values<'a>(&self, frame: Frame<'a>) -> Result<&'a [f32], AgentError> {
        match frame {
            Frame::F32(values) => Ok(values),
            Frame::U8(_) => Err(AgentError::BadObservation(ObservationProblem::Kind {
                expected: FrameKind::F32,
                got: FrameKind::U8,
            })),
        }
    }

    /// A training action: counts it, then with probability ε (after the
    /// count) a uniformly random action, else the greedy one.
    ///
    /// # Errors
    /// [`AgentError::BadObservation`].
    pub fn act(&mut self, obs: &[f32]) -> Result<usize, AgentError> {
        let cell = self.check(obs)?;
        self.sample_count += 1;
        let epsilon = self.config.epsilon.value(self.sample_count);
        if self.rng.random::<f64>() > epsilon {
            Ok(argmax(self.row(cell)).unwrap_or(0))
        } else {
            Ok(self.rng.random_range(0..self.config.n_actions))
        }
    }

    /// Remembers a transition, to learn from at the next update.
    ///
    /// # Errors
    /// [`AgentError::InvalidAction`], [`AgentError::NonFiniteReward`] or
    /// [`AgentError::BadObservation`].
    pub fn observe(&mut self, t: Transition<'_>) -> Result<(), AgentError> {
        if t.action >= self.config.n_actions {
            return Err(AgentError::InvalidAction { action: t.action, n_actions: self.config.n_actions });
        }
        if !t.reward.is_finite() {
            return Err(AgentError::NonFiniteReward { value: t.reward });
        }
        let (cell, next_cell) = (self.check(self.values(t.state)?)?, self.check(self.values(t.next_state)?)?);
        let (action, reward, terminated) = (t.action, t.reward, t.terminated);
        self.pending = Some(PendingTransition { cell, action, reward, next_cell, terminated });
        Ok(())
    }
}

impl Learner for TabularQ {
    fn input_format(&self) -> InputFormat {
        InputFormat::vector(self.config.discretizer.bins.len())
    }

    fn act_batch(&mut self, observations: Frame<'_>, actions: &mut Vec<usize>) -> Result<(), AgentError> {
        actions.clear();
        let values = self.values(observations)?;
        let d = self.config.discretizer.bins.len();
        crate::check_rows(values, d, d)?;
        for row in values.chunks_exact(d) {
            actions.push(self.act(row)?);
        }
        Ok(())
    }

    fn predict(&mut self, obs: &[f32]) -> Result<usize, AgentError> {
        let cell = self.check(obs)?;
        Ok(argmax(self.row(cell)).unwrap_or(0))
    }

    fn q_values(&mut self, obs: &[f32]) -> Result<&[f32], AgentError> {
        let cell = self.check(obs)?;
        Ok(self.row(cell))
    }

    fn q_values_batch(&mut self, inputs: &[f32], row_len: usize, out: &mut Vec<f32>) -> Result<(), AgentError> {
        out.clear();
        let d = self.config.discretizer.bins.len();
        crate::check_rows(inputs, row_len, d)?;
        for row in inputs.chunks_exact(d) {
            let cell = self.check(row)?;
            out.extend_from_slice(self.row(cell));
        }
        Ok(())
    }

    fn observe_from(&mut self, _env: usize, t: Transition<'_>) -> Result<(), AgentError> {
        self.observe(t)
    }

    /// One Q-learning step: quick, so `interrupt` is never asked.
    fn update(&mut self, _interrupt: &dyn Fn() -> bool) -> Result<UpdateOutcome, AgentError> {
        let Some(PendingTransition { cell, action, reward, next_cell, terminated }) = self.pending.take() else {
            return Ok(UpdateOutcome::NotYet);
        };
        let max_next = self.row(next_cell).iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let y = bellman_target(reward, max_next, terminated, self.config.gamma as f32);
        let q = &mut self.table[cell * self.config.n_actions + action];
        let td = y - *q;
        *q += self.config.alpha as f32 * td;
        self.n_updates += 1;
        Ok(UpdateOutcome::Learned(UpdateStats { loss: td * td, gradient_steps: 1, target_synced: false }))
    }

    fn epsilon(&self) -> f64 {
        self.config.epsilon.value(self.sample_count)
    }

    fn n_updates(&self) -> u64 {
        self.n_updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TabularConfig {
        TabularConfig {
            discretizer: Discretizer { ranges: vec![(-1.0, 1.0), (0.0, 4.0)], bins: vec![2, 4] },
            n_actions: 2,
            alpha: 0.5,
            gamma: 0.9,
            epsilon: EpsilonSchedule::seed(),
        }
    }

    #[test]
    fn cells_cover_the_grid_and_clamp_outside() {
        let d = config().discretizer;
        assert_eq!(d.n_cells(), 8);
        assert_eq!(d.cell(&[-0.5, 0.5]), 0);
        assert_eq!(d.cell(&[0.5, 3.5]), 7);
        assert_eq!(d.cell(&[-9.0, 1.5]), 1);
        assert_eq!(d.cell(&[9.0, 99.0]), 7);
    }

    #[test]
    fn one_q_learning_step_by_hand() {
        let mut q = TabularQ::new(config(), 0).unwrap();
        let (s, s2) = ([-0.5, 0.5], [0.5, 3.5]);
        q.table[7 * 2 + 1] = 4.0; // max Q(s′) = 4
        let step = |q: &mut TabularQ, terminated| {
            let t = Transition {
                state: (&s).into(),
                action: 1,
                reward: 1.0,
                next_state: (&s2).into(),
                terminated,
                truncated: false,
            };
            q.observe(t).unwrap();
            q.update(&|| false).unwrap();
        };
        step(&mut q, false);
        // Q(s,1) = 0 + 0.5 · (1 + 0.9·4 − 0) = 2.3
        assert!((q.q_values(&s).unwrap()[1] - 2.3).abs() < 1e-6);
        // Terminated: no bootstrap. Q(s,1) = 2.3 + 0.5 · (1 − 2.3) = 1.65
        step(&mut q, true);
        assert!((q.q_values(&s).unwrap()[1] - 1.65).abs() < 1e-6);
        assert_eq!(q.update(&|| false).unwrap(), UpdateOutcome::NotYet, "one update per observed transition");
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut c = config();
        c.discretizer.bins = vec![2, 0];
        assert!(TabularQ::new(c, 0).is_err());
        let c = TabularConfig { alpha: 0.0, ..config() };
        assert!(TabularQ::new(c, 0).is_err());
    }
}
