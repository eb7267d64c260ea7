//! The DQN loss as the network's pass sees it, row by row: the Bellman
//! target from the side networks' outputs on the row's next state (the
//! target network's, and the policy's for Double DQN), then the gathered,
//! optionally importance-weighted, regression of Q(s, a) on it, keeping the
//! TD error for prioritized replay.

use mlp::{LossKind, MlpError, RowLoss, RowTerm, check_actions, check_weights, gathered_term};

use crate::{bellman_target, next_state_value};

/// One mini-batch's DQN loss.
pub(crate) struct DqnLoss<'a> {
    pub kind: LossKind,
    pub actions: &'a [usize],
    /// Rewards, or n-step discounted returns.
    pub rewards: &'a [f32],
    pub terminated: &'a [bool],
    /// The environment steps each transition spans (k).
    pub steps: &'a [u8],
    /// `γ^k` for each k.
    pub discounts: &'a [f32],
    /// Importance weights (prioritized replay).
    pub weights: Option<&'a [f32]>,
}

impl RowLoss<f32> for DqnLoss<'_> {
    #[inline(always)]
    fn row(&self, r: usize, outputs: &[f32], side: &[&[f32]], grad: &mut [f32]) -> Option<RowTerm<f32>> {
        // side[0]: the target network; side[1], with Double DQN: the policy.
        let value = next_state_value(side[0], side.get(1).copied())?;
        let discount = self.discounts[usize::from(self.steps[r])];
        let y = bellman_target(self.rewards[r], value, self.terminated[r], discount);
        if !y.is_finite() {
            return None;
        }
        Some(gathered_term(self.kind, outputs, self.actions[r], y, self.weights.map(|w| w[r]), grad))
    }

    fn check(&self, rows: usize, n_outputs: usize) -> Result<(), MlpError> {
        check_actions(self.actions, rows, n_outputs)?;
        self.kind.check()?;
        check_weights(self.weights, rows)
    }
}
