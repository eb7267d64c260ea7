//! The DQN loss as the network's pass sees it, row by row: the Bellman
//! target from the side networks' outputs on the row's next state (the
//! target network's, and the policy's for Double DQN), then the gathered,
//! optionally importance-weighted, regression of Q(s, a) on it, keeping the
//! TD error for prioritized replay.

use mlp::{LossKind, MlpError, RowLoss, RowTerm, check_actions, check_weights, gathered_term};

use crate::{bellman_target, next_state_value};

/// What every learning rule's loss reads of a mini-batch's rows.
#[derive(Debug, Clone, Copy)]
pub struct BatchRows<'a> {
    /// For each row, the action taken.
    pub actions: &'a [usize],
    /// Rewards, or n-step discounted returns.
    pub rewards: &'a [f32],
    /// Which rows ended their episode by termination.
    pub terminated: &'a [bool],
    /// The environment steps each transition spans (k), an index into
    /// `discounts`.
    pub steps: &'a [u8],
    /// `γ^k` for each k.
    pub discounts: &'a [f32],
    /// Importance weights (prioritized replay).
    pub weights: Option<&'a [f32]>,
}

impl BatchRows<'_> {
    /// Row `r`'s bootstrap discount, `γ^k`.
    #[inline(always)]
    #[must_use]
    pub fn discount(&self, r: usize) -> f32 {
        self.discounts[usize::from(self.steps[r])]
    }

    /// Row `r`'s loss weight, if the batch is weighted.
    #[inline(always)]
    #[must_use]
    pub fn weight(&self, r: usize) -> Option<f32> {
        self.weights.map(|w| w[r])
    }

    /// Checks the actions against `n_actions` and the weights, for `rows`
    /// rows.
    ///
    /// # Errors
    /// As [`check_actions`] and [`check_weights`].
    pub fn check(&self, rows: usize, n_actions: usize) -> Result<(), MlpError> {
        check_actions(self.actions, rows, n_actions)?;
        check_weights(self.weights, rows)
    }
}

/// One mini-batch's DQN loss.
pub(crate) struct DqnLoss<'a> {
    pub kind: LossKind,
    pub rows: BatchRows<'a>,
}

impl RowLoss<f32> for DqnLoss<'_> {
    #[inline(always)]
    fn row(&self, r: usize, outputs: &[f32], side: &[&[f32]], grad: &mut [f32]) -> Option<RowTerm<f32>> {
        // side[0]: the target network; side[1], with Double DQN: the policy.
        let value = next_state_value(side[0], side.get(1).copied())?;
        let b = &self.rows;
        let y = bellman_target(b.rewards[r], value, b.terminated[r], b.discount(r));
        if !y.is_finite() {
            return None;
        }
        Some(gathered_term(self.kind, outputs, b.actions[r], y, b.weight(r), grad))
    }

    fn check(&self, rows: usize, n_outputs: usize) -> Result<(), MlpError> {
        self.kind.check()?;
        self.rows.check(rows, n_outputs)
    }
}
