//! Distributional DQN's categorical projection (C51, Bellemare et al.
//! 2017): a next state's return distribution on the fixed support
//! `z_j = v_min + j·Δz`, shifted and shrunk by the Bellman operator
//! (`Tz_j = r + γ^k·z_j`, or all the mass at `r` after termination), clipped
//! to the support and split back onto its two neighbouring atoms.
//!
//! The projection is a pure function of one row, in `f32`, in the
//! operation order of the PyTorch reference (`tests/generate_c51_golden.py`).
//! [`C51Loss`] is the distributional loss as the network's pass sees it:
//! per action a softmax over the atoms of its logits, the cross-entropy of
//! the taken action's distribution against the projected target.

use mlp::{MlpError, RowLoss, RowTerm};

use crate::{BatchRows, InvalidSetting, argmax};

/// The atoms a distribution lives on: `n_atoms` evenly spaced values from
/// `v_min` to `v_max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Support {
    v_min: f32,
    v_max: f32,
    n_atoms: usize,
    /// `Δz = (v_max − v_min) / (n_atoms − 1)`, computed in f64 and rounded
    /// once, as the reference does.
    delta_z: f32,
}

impl Support {
    /// `n_atoms` atoms on `[v_min, v_max]`.
    ///
    /// # Errors
    /// [`InvalidSetting`] (of `distributional.n_atoms` or
    /// `distributional.v_min`) for fewer than 2 atoms, more than 2¹⁶,
    /// bounds that are not finite `f32` values with `v_min < v_max`, or
    /// atoms that are not distinct finite `f32` values (`v_max: 1e-44`
    /// would put every atom at 0: a spacing that rounds to nothing).
    pub fn new(v_min: f64, v_max: f64, n_atoms: usize) -> Result<Self, InvalidSetting> {
        let bad = |field, reason: String| Err(InvalidSetting::new(field, reason));
        if !(2..=1 << 16).contains(&n_atoms) {
            return bad("distributional.n_atoms", format!("{n_atoms} is outside 2..=65536"));
        }
        let (lo, hi) = (v_min as f32, v_max as f32);
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return bad(
                "distributional.v_min",
                format!("[{v_min}, {v_max}] is not a finite interval with v_min < v_max"),
            );
        }
        let delta_z = ((v_max - v_min) / (n_atoms - 1) as f64) as f32;
        let support = Self { v_min: lo, v_max: hi, n_atoms, delta_z };
        // Atoms are computed in f32: each must be finite and above the one
        // before, or two returns share an atom and the projection is wrong.
        let mut previous = f32::NEG_INFINITY;
        for j in 0..n_atoms {
            let z = support.atom(j);
            if !(z.is_finite() && z > previous) {
                return bad(
                    "distributional.v_min",
                    format!(
                        "{n_atoms} atoms on [{v_min}, {v_max}] are spaced {delta_z:e} apart in f32: atoms {} and {j} \
                         are not distinct finite values; widen the interval or use fewer atoms",
                        j.saturating_sub(1)
                    ),
                );
            }
            previous = z;
        }
        Ok(support)
    }

    /// The number of atoms.
    #[must_use]
    pub fn n_atoms(&self) -> usize {
        self.n_atoms
    }

    /// Atom `j`, `v_min + j·Δz`.
    #[must_use]
    pub fn atom(&self, j: usize) -> f32 {
        self.v_min + j as f32 * self.delta_z
    }

    /// Projects `next_probs` (a distribution over the atoms) through the
    /// Bellman operator with `reward` and `discount` (γ^k for a transition
    /// of k steps) onto the support, into `out` (overwritten). Mass is
    /// conserved: `out` sums to what `next_probs` sums to, up to rounding.
    /// A `terminated` transition's target is the reward alone: all its mass
    /// (exactly 1) on the reward's two neighbouring atoms, `next_probs` not
    /// read (the replay buffer does not keep a terminated transition's next
    /// state; PyTorch's reference projects `next_probs`, which sum to 1 up
    /// to rounding, onto the same place).
    ///
    /// # Panics
    /// If `next_probs` or `out` is not `n_atoms` long (a caller's bug: the
    /// agent sizes both from the same support).
    pub fn project(&self, reward: f32, discount: f32, terminated: bool, next_probs: &[f32], out: &mut [f32]) {
        assert_eq!((next_probs.len(), out.len()), (self.n_atoms, self.n_atoms), "rows of n_atoms values");
        out.fill(0.0);
        if terminated {
            self.split(reward, 1.0, out);
            return;
        }
        for (j, &p) in next_probs.iter().enumerate() {
            self.split(reward + discount * self.atom(j), p, out);
        }
    }

    /// Adds mass `p` at return `tz` (clipped to the support) to `out`,
    /// split between its two neighbouring atoms.
    fn split(&self, tz: f32, p: f32, out: &mut [f32]) {
        let last = (self.n_atoms - 1) as f32;
        let tz = tz.clamp(self.v_min, self.v_max);
        // Clamped again: rounding can put v_max a hair past the last atom.
        let b = ((tz - self.v_min) / self.delta_z).clamp(0.0, last);
        let (l, u) = (b.floor(), b.ceil());
        // `b` is in [0, n_atoms − 1], so both are valid indices.
        let (li, ui) = (l as usize, u as usize);
        if li == ui {
            out[li] += p;
        } else {
            out[li] += p * (u - b);
            out[ui] += p * (b - l);
        }
    }
}

/// `out = softmax(logits)`, computed as `exp(x − max) / Σ exp(x − max)`.
fn softmax_into(logits: &[f32], out: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (o, &x) in out.iter_mut().zip(logits) {
        *o = (x - max).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// The expected value `Σ z_j p_j` of each action's distribution, given its
/// logits (`n_actions × n_atoms`, row-major), into `q`.
pub fn expected_values(support: &Support, logits: &[f32], probs: &mut Vec<f32>, q: &mut Vec<f32>) {
    let n = support.n_atoms();
    probs.resize(logits.len(), 0.0);
    q.clear();
    for (l, p) in logits.chunks_exact(n).zip(probs.chunks_exact_mut(n)) {
        softmax_into(l, p);
        q.push(p.iter().enumerate().fold(0.0, |acc, (j, &pj)| acc + support.atom(j) * pj));
    }
}

/// How a network's outputs are read as Q-values: as they are, or, on a
/// distributional head, each action's expected value under `support` (the
/// softmax over its atoms' logits, then `Σ z_j·p_j`). Keeps its buffers:
/// after the first row it allocates nothing. Acting, evaluation and export
/// all read Q-values through it, so they cannot drift apart.
#[derive(Debug, Clone, Default)]
pub struct QReadout {
    support: Option<Support>,
    probs: Vec<f32>,
    values: Vec<f32>,
}

impl QReadout {
    /// Reads plain outputs as they are, or distributions under `support`.
    #[must_use]
    pub fn new(support: Option<Support>) -> Self {
        Self { support, probs: Vec::new(), values: Vec::new() }
    }

    /// The atoms of a distributional head; `None` for a plain one.
    #[must_use]
    pub fn support(&self) -> Option<&Support> {
        self.support.as_ref()
    }

    /// The Q-values of one row of network outputs (`n_actions × n_atoms`
    /// logits on a distributional head, else `n_actions` values).
    pub fn q_values<'a>(&'a mut self, outputs: &'a [f32]) -> &'a [f32] {
        self.probabilities_and_q_values(outputs).1
    }

    /// As [`q_values`](Self::q_values), with each action's probabilities
    /// over the atoms (`n_actions × n_atoms`; empty on a plain head).
    pub fn probabilities_and_q_values<'a>(&'a mut self, outputs: &'a [f32]) -> (&'a [f32], &'a [f32]) {
        match &self.support {
            Some(support) => {
                expected_values(support, outputs, &mut self.probs, &mut self.values);
                (&self.probs, &self.values)
            }
            None => (&[], outputs),
        }
    }
}

/// The largest number of atoms [`C51Loss`] handles per row without
/// allocating (its scratch lives on the stack).
pub const MAX_ATOMS: usize = 256;

/// The most actions [`C51Loss`] handles.
pub const MAX_ACTIONS: usize = 64;

/// Distributional DQN's loss on a mini-batch, row by row: the target
/// network's distributions at the next state (`side[0]`), the next action
/// chosen by the largest expected value (or, for Double DQN, by the
/// policy's distributions there, `side[1]`), its distribution projected
/// through `r + γ^k·z`, and the cross-entropy `−Σ m_j log p_j` of the taken
/// action's distribution against it, optionally importance-weighted. A
/// row's kept value is its cross-entropy (prioritized replay's priority).
pub struct C51Loss<'a> {
    /// The atoms.
    pub support: Support,
    /// The number of actions (the network has `n_actions × n_atoms`
    /// outputs, action-major).
    pub n_actions: usize,
    /// The rows of the mini-batch.
    pub rows: BatchRows<'a>,
}

impl C51Loss<'_> {
    /// The next action: the largest expected value of `chooser`'s
    /// distributions.
    fn next_action(&self, chooser: &[f32]) -> Option<usize> {
        let n = self.support.n_atoms();
        let mut probs = [0.0f32; MAX_ATOMS];
        let mut q = [0.0f32; MAX_ACTIONS];
        for (a, logits) in chooser.chunks_exact(n).enumerate() {
            softmax_into(logits, &mut probs[..n]);
            q[a] = probs[..n].iter().enumerate().fold(0.0, |acc, (j, &pj)| acc + self.support.atom(j) * pj);
        }
        argmax(&q[..self.n_actions])
    }
}

impl RowLoss<f32> for C51Loss<'_> {
    fn row(&self, r: usize, outputs: &[f32], side: &[&[f32]], grad: &mut [f32]) -> Option<RowTerm<f32>> {
        let n = self.support.n_atoms();
        let next_action = self.next_action(side.get(1).copied().unwrap_or(side[0]))?;
        let mut next_probs = [0.0f32; MAX_ATOMS];
        softmax_into(&side[0][next_action * n..(next_action + 1) * n], &mut next_probs[..n]);
        let mut m = [0.0f32; MAX_ATOMS];
        let b = &self.rows;
        self.support.project(b.rewards[r], b.discount(r), b.terminated[r], &next_probs[..n], &mut m[..n]);
        // log p = x − max − log Σ exp(x − max) for the taken action's logits.
        let a = b.actions[r];
        let logits = &outputs[a * n..(a + 1) * n];
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        // The exponentials once: the log-sum and, divided by the sum, the
        // softmax of the gradient.
        let mut exps = [0.0f32; MAX_ATOMS];
        for (e, &x) in exps[..n].iter_mut().zip(logits) {
            *e = (x - max).exp();
        }
        let sum = exps[..n].iter().sum::<f32>();
        let log_sum = sum.ln();
        let mut loss = 0.0;
        let mut mass = 0.0;
        for (&x, &mj) in logits.iter().zip(&m[..n]) {
            loss -= mj * (x - max - log_sum);
            mass += mj;
        }
        let w = b.weight(r).unwrap_or(1.0);
        // ∂/∂x_j of −Σ m log softmax(x) = softmax_j·Σm − m_j.
        for ((g, &e), &mj) in grad[a * n..(a + 1) * n].iter_mut().zip(&exps[..n]).zip(&m[..n]) {
            *g = w * (e / sum * mass - mj);
        }
        loss.is_finite().then_some(RowTerm { loss: w * loss, value: loss })
    }

    fn check(&self, rows: usize, n_outputs: usize) -> Result<(), MlpError> {
        let n = self.support.n_atoms();
        if n > MAX_ATOMS || self.n_actions > MAX_ACTIONS || self.n_actions * n != n_outputs {
            return Err(MlpError::InvalidHyperparameter {
                name: "c51 outputs",
                value: n_outputs as f64,
                requirement: "n_actions × n_atoms, with at most 64 actions and 256 atoms",
            });
        }
        self.rows.check(rows, self.n_actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_rows() {
        // Atoms −2, −1, 0, 1, 2.
        let s = Support::new(-2.0, 2.0, 5).unwrap();
        let mut out = [0.0; 5];
        // r = 0.5, γ = 1: each atom moves half-way to its right neighbour;
        // the last one is clipped to 2.
        s.project(0.5, 1.0, false, &[0.2, 0.2, 0.2, 0.2, 0.2], &mut out);
        assert_eq!(out, [0.1, 0.2, 0.2, 0.2, 0.3]);
        // Terminated: everything at r = −1.25, split 0.75 / 0.25.
        s.project(-1.25, 0.9, true, &[0.1, 0.2, 0.3, 0.4, 0.0], &mut out);
        assert_eq!(out, [0.25, 0.75, 0.0, 0.0, 0.0]);
        // γ = 0.5, r = 0: the support shrinks onto [−1, 1] exactly on atoms.
        s.project(0.0, 0.5, false, &[0.0, 1.0, 0.0, 0.0, 0.0], &mut out);
        assert_eq!(out, [0.0, 0.5, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn expected_values_by_hand() {
        let s = Support::new(-2.0, 2.0, 5).unwrap();
        // Equal logits: the mean of the atoms, 0; all mass far up one end: ≈ 2.
        let logits = [0.0, 0.0, 0.0, 0.0, 0.0, -100.0, -100.0, -100.0, -100.0, 0.0];
        let (mut probs, mut q) = (Vec::new(), Vec::new());
        expected_values(&s, &logits, &mut probs, &mut q);
        assert_eq!(q.len(), 2);
        assert!(q[0].abs() < 1e-6 && (q[1] - 2.0).abs() < 1e-6, "{q:?}");
        assert!((probs[..5].iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn readouts_by_hand() {
        // A plain head: the outputs as they are, no probabilities.
        let mut plain = QReadout::new(None);
        assert_eq!(plain.probabilities_and_q_values(&[1.5, -2.0]), (&[][..], &[1.5, -2.0][..]));
        // Atoms −1, 1; logits 0 and ln 3 give probabilities 1/4, 3/4 and
        // the expected value 1/2; equal logits give 0.
        let mut c51 = QReadout::new(Some(Support::new(-1.0, 1.0, 2).unwrap()));
        let logits = [0.0, 3f32.ln(), 0.0, 0.0];
        let (probs, q) = c51.probabilities_and_q_values(&logits);
        assert_eq!(probs.len(), 4);
        assert!((probs[0] - 0.25).abs() < 1e-6 && (probs[1] - 0.75).abs() < 1e-6, "{probs:?}");
        assert!((q[0] - 0.5).abs() < 1e-6 && q[1].abs() < 1e-6, "{q:?}");
        assert_eq!(c51.q_values(&[0.0, 0.0, 5.0, -5.0]).len(), 2);
    }

    #[test]
    fn bad_supports_are_refused() {
        assert_eq!(Support::new(-1.0, 1.0, 1).unwrap_err().field, "distributional.n_atoms");
        assert_eq!(Support::new(1.0, 1.0, 51).unwrap_err().field, "distributional.v_min");
        assert_eq!(Support::new(f64::NAN, 1.0, 51).unwrap_err().field, "distributional.v_min");
        assert_eq!(Support::new(-1e39, 1.0, 51).unwrap_err().field, "distributional.v_min");
        // Finite bounds whose atoms are not distinct finite f32 values: a
        // spacing that rounds to 0, atoms that run past f32::MAX, two
        // atoms a rounding apart.
        for (v_min, v_max, n) in [(0.0, 1e-44, 51), (-3e38, 3e38, 51), (1.0, 1.0 + 1e-7, 51)] {
            let err = Support::new(v_min, v_max, n).unwrap_err();
            assert!(err.reason.contains("not distinct finite values"), "[{v_min}, {v_max}]: {}", err.reason);
        }
        assert!(Support::new(-1e38, 1e38, 2).is_ok(), "two atoms at the ends are distinct and finite");
    }
}
