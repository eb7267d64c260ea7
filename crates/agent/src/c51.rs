//! Distributional DQN's categorical projection (C51, Bellemare et al.
//! 2017): a next state's return distribution on the fixed support
//! `z_j = v_min + j·Δz`, shifted and shrunk by the Bellman operator
//! (`Tz_j = r + γ^k·z_j`, or `r` alone after termination), clipped to the
//! support and split back onto its two neighbouring atoms.
//!
//! A pure function of one row, in `f32`, in the operation order of the
//! PyTorch reference (`tests/generate_c51_golden.py`).

use crate::InvalidSetting;

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
    /// [`InvalidSetting`] for fewer than 2 atoms, more than 2¹⁶, or bounds
    /// that are not finite `f32` values with `v_min < v_max`.
    pub fn new(v_min: f64, v_max: f64, n_atoms: usize) -> Result<Self, InvalidSetting> {
        let bad = |field, reason: String| Err(InvalidSetting { field, reason });
        if !(2..=1 << 16).contains(&n_atoms) {
            return bad("n_atoms", format!("{n_atoms} is outside 2..=65536"));
        }
        let (lo, hi) = (v_min as f32, v_max as f32);
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return bad("v_min", format!("[{v_min}, {v_max}] is not a finite interval with v_min < v_max"));
        }
        let delta_z = ((v_max - v_min) / (n_atoms - 1) as f64) as f32;
        Ok(Self { v_min: lo, v_max: hi, n_atoms, delta_z })
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
    /// of k steps; ignored when `terminated`) onto the support, into `out`
    /// (overwritten). Mass is conserved: `out` sums to what `next_probs`
    /// sums to, up to rounding.
    ///
    /// # Panics
    /// If `next_probs` or `out` is not `n_atoms` long (a caller's bug: the
    /// agent sizes both from the same support).
    pub fn project(&self, reward: f32, discount: f32, terminated: bool, next_probs: &[f32], out: &mut [f32]) {
        assert_eq!((next_probs.len(), out.len()), (self.n_atoms, self.n_atoms), "rows of n_atoms values");
        out.fill(0.0);
        let alive = if terminated { 0.0 } else { 1.0 };
        let last = (self.n_atoms - 1) as f32;
        for (j, &p) in next_probs.iter().enumerate() {
            let tz = (reward + discount * self.atom(j) * alive).clamp(self.v_min, self.v_max);
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
    fn bad_supports_are_refused() {
        assert_eq!(Support::new(-1.0, 1.0, 1).unwrap_err().field, "n_atoms");
        assert_eq!(Support::new(1.0, 1.0, 51).unwrap_err().field, "v_min");
        assert_eq!(Support::new(f64::NAN, 1.0, 51).unwrap_err().field, "v_min");
        assert_eq!(Support::new(-1e39, 1.0, 51).unwrap_err().field, "v_min");
    }
}
