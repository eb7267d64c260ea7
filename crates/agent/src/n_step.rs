//! n-step returns: each environment's last steps held back until n of them
//! make one stored transition `(s_t, a_t, R, s_{t+k}, flags, k)` with
//! `R = Σ_{i<k} γ^i r_{t+i}` — `k = n`, or fewer when the episode ends
//! first, in which case every pending step is flushed with the episode's
//! final observation and flags (a terminated episode never bootstraps; a
//! truncated one does, from that observation, with `γ^k`). The windows hold
//! actions and rewards; the observations are the replay buffer's.

use serde::{Deserialize, Serialize};

use crate::{AgentError, StateProblem};

/// The most environments whose steps can be pending at once: an index
/// beyond it is a bug in the caller, and growing to it would allocate for
/// nothing.
pub const MAX_ENVIRONMENTS: usize = replay::MAX_ENVS;

/// The pending steps of every environment (at most n − 1 each between
/// calls). Only actions and rewards: the observations are the replay
/// buffer's, which stores each once and finds a transition's state by
/// going back its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NStepWindows {
    envs: Vec<Window>,
}

/// One environment's pending steps, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Window {
    actions: Vec<usize>,
    rewards: Vec<f32>,
}

/// A transition ready for the buffer: it ends at the latest step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ready {
    /// Its first step's action.
    pub action: usize,
    /// `Σ_{i<k} γ^i r_i`.
    pub reward: f32,
    /// The steps it spans, k.
    pub steps: u8,
    /// The flags of its last step (set only when the episode ended there).
    pub terminated: bool,
    pub truncated: bool,
}

/// `Σ_{i<k} γ^i r_i` over `rewards`, in f64 (each power and product rounded
/// once), then rounded to f32. For one reward it is that reward, exactly.
pub(crate) fn discounted_return(rewards: &[f32], gamma: f64) -> f32 {
    let sum: f64 = rewards.iter().enumerate().map(|(i, &r)| gamma.powi(i as i32) * f64::from(r)).sum();
    sum as f32
}

impl NStepWindows {
    pub(crate) fn new() -> Self {
        Self { envs: Vec::new() }
    }

    fn window(&self, env: usize) -> &[f32] {
        self.envs.get(env).map_or(&[], |w| &w.rewards)
    }

    /// Whether adding a step of environment `env` with `reward` would make
    /// every completed transition's return finite (nothing changes).
    ///
    /// # Errors
    /// [`AgentError::InvalidEnvironment`] for `env ≥ MAX_ENVIRONMENTS`;
    /// [`AgentError::NonFiniteReturn`] naming the pending step whose return
    /// overflows.
    pub(crate) fn check(&self, env: usize, reward: f32, ended: bool, n: usize, gamma: f64) -> Result<(), AgentError> {
        if env >= MAX_ENVIRONMENTS {
            return Err(AgentError::InvalidEnvironment { env, max: MAX_ENVIRONMENTS });
        }
        let mut rewards = self.window(env).to_vec();
        rewards.push(reward);
        let ready = if ended { rewards.len() } else { usize::from(rewards.len() == n) };
        match (0..ready).find(|&j| !discounted_return(&rewards[j..], gamma).is_finite()) {
            Some(pending) => Err(AgentError::NonFiniteReturn { env, pending }),
            None => Ok(()),
        }
    }

    /// Adds the latest step of environment `env` (checked by
    /// [`check`](Self::check)) and hands `store` every transition that is
    /// now complete, oldest first: the oldest pending step once n are, or
    /// every pending one (flushed with the end's flags) when the episode
    /// ended.
    ///
    /// # Errors
    /// What `store` returns.
    #[allow(clippy::too_many_arguments)] // one step's fields and the rule's two
    pub(crate) fn observe(
        &mut self,
        env: usize,
        action: usize,
        reward: f32,
        (terminated, truncated): (bool, bool),
        n: usize,
        gamma: f64,
        mut store: impl FnMut(Ready) -> Result<(), AgentError>,
    ) -> Result<(), AgentError> {
        if self.envs.len() <= env {
            self.envs.resize_with(env + 1, Window::default);
        }
        let window = &mut self.envs[env];
        window.actions.push(action);
        window.rewards.push(reward);
        let ended = terminated || truncated;
        let ready = if ended { window.actions.len() } else { usize::from(window.actions.len() == n) };
        let pending = window.actions.len();
        for j in 0..ready {
            store(Ready {
                action: window.actions[j],
                reward: discounted_return(&window.rewards[j..], gamma),
                steps: u8::try_from(pending - j).expect("n is at most 255"),
                // Only the step that ends the episode carries its flags.
                terminated: ended && terminated,
                truncated: ended && truncated,
            })?;
        }
        window.actions.drain(..ready);
        window.rewards.drain(..ready);
        Ok(())
    }

    /// Environment `env`'s steps observed but not yet part of a stored
    /// transition.
    pub(crate) fn pending_of(&self, env: usize) -> usize {
        self.envs.get(env).map_or(0, |w| w.actions.len())
    }

    /// Steps observed but not yet part of a stored transition.
    pub(crate) fn pending(&self) -> usize {
        self.envs.iter().map(|w| w.actions.len()).sum()
    }

    /// Checks stored windows against the settings (a damaged checkpoint).
    pub(crate) fn check_stored(&self, n: usize, n_actions: usize) -> Result<(), AgentError> {
        if self.envs.len() > MAX_ENVIRONMENTS {
            return Err(AgentError::DamagedState(StateProblem::NStepWindows {
                env: self.envs.len(),
                problem: "too many environments",
            }));
        }
        for (env, w) in self.envs.iter().enumerate() {
            let bad = |problem| Err(AgentError::DamagedState(StateProblem::NStepWindows { env, problem }));
            let len = w.actions.len();
            if len >= n {
                return bad("holds n or more pending steps");
            }
            if w.rewards.len() != len {
                return bad("its columns differ in length");
            }
            if w.actions.iter().any(|&a| a >= n_actions) {
                return bad("holds an action out of range");
            }
            if w.rewards.iter().any(|v| !v.is_finite()) {
                return bad("holds a non-finite value");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What is stored, as plain values: (the global index of the first
    /// step, R, k, terminated, truncated). Each step's action is its global
    /// index, so a transition names the step it starts at.
    type Stored = (usize, f32, u8, bool, bool);

    fn run(n: usize, gamma: f64, steps: &[(usize, f32, bool, bool)]) -> Vec<Stored> {
        // (env, reward, terminated, truncated)
        let mut windows = NStepWindows::new();
        let mut out = Vec::new();
        for (g, &(env, r, term, trunc)) in steps.iter().enumerate() {
            windows.check(env, r, term || trunc, n, gamma).expect("finite returns");
            windows
                .observe(env, g, r, (term, trunc), n, gamma, |ready| {
                    out.push((ready.action, ready.reward, ready.steps, ready.terminated, ready.truncated));
                    Ok(())
                })
                .expect("valid steps");
        }
        out
    }

    #[test]
    fn hand_worked_windows() {
        let g = 0.5;
        // n = 3, one episode of 5 steps terminated on the last.
        let steps = [
            (0, 1.0, false, false),
            (0, 2.0, false, false),
            (0, 4.0, false, false),
            (0, 8.0, false, false),
            (0, 16.0, true, false),
        ];
        assert_eq!(
            run(3, g, &steps),
            vec![
                (0, 1.0 + 1.0 + 1.0, 3, false, false), // 1 + ½·2 + ¼·4
                (1, 2.0 + 2.0 + 2.0, 3, false, false), // 2 + ½·4 + ¼·8
                (2, 4.0 + 4.0 + 4.0, 3, true, false),  // flushed: 4 + ½·8 + ¼·16, ends terminated
                (3, 8.0 + 8.0, 2, true, false),
                (4, 16.0, 1, true, false),
            ]
        );
        // Truncation inside the window: both pending steps flushed, truncated, bootstrapping.
        let steps = [(0, 1.0, false, false), (0, 1.0, false, true)];
        assert_eq!(run(4, g, &steps), vec![(0, 1.5, 2, false, true), (1, 1.0, 1, false, true)]);
        // Both flags on one step; n larger than the episode.
        let steps = [(0, 2.0, false, false), (0, 2.0, true, true)];
        assert_eq!(run(10, g, &steps), vec![(0, 3.0, 2, true, true), (1, 2.0, 1, true, true)]);
        // n = 1 stores every step as it comes, reward untouched.
        let steps = [(0, 0.1, false, false), (0, 0.7, true, false)];
        assert_eq!(run(1, 0.95, &steps), vec![(0, 0.1, 1, false, false), (1, 0.7, 1, true, false)]);
        // Two environments interleaved keep apart.
        let steps = [(0, 1.0, false, false), (1, 3.0, false, false), (0, 1.0, false, false), (1, 3.0, true, false)];
        assert_eq!(
            run(2, g, &steps),
            vec![(0, 1.5, 2, false, false), (1, 4.5, 2, true, false), (3, 3.0, 1, true, false)]
        );
    }

    #[test]
    fn an_overflowing_return_is_found_before_anything_changes() {
        let mut windows = NStepWindows::new();
        let big = f32::MAX;
        windows.check(0, big, false, 3, 1.0).unwrap();
        windows.observe(0, 0, big, (false, false), 3, 1.0, |_| Ok(())).expect("one pending step");
        let before = windows.clone();
        assert_eq!(windows.check(0, big, true, 3, 1.0), Err(AgentError::NonFiniteReturn { env: 0, pending: 0 }));
        assert_eq!(windows, before);
        assert_eq!(
            windows.check(MAX_ENVIRONMENTS, 1.0, false, 3, 1.0),
            Err(AgentError::InvalidEnvironment { env: MAX_ENVIRONMENTS, max: MAX_ENVIRONMENTS })
        );
    }

    /// The reference: the steps split into each environment's episodes,
    /// and every n-step transition written out from its definition, with
    /// the step that completes it (its window fills, or its episode ends).
    fn reference(n: usize, gamma: f64, steps: &[(usize, f32, bool, bool)]) -> Vec<Stored> {
        let mut episodes: Vec<Vec<Vec<usize>>> = Vec::new(); // env → episodes → global indices
        for (g, &(env, _, term, trunc)) in steps.iter().enumerate() {
            if episodes.len() <= env {
                episodes.resize(env + 1, vec![Vec::new()]);
            }
            episodes[env].last_mut().expect("an open episode").push(g);
            if term || trunc {
                episodes[env].push(Vec::new());
            }
        }
        let mut out = Vec::new();
        for ep in episodes.iter().flatten().filter(|ep| !ep.is_empty()) {
            let len = ep.len();
            let (_, _, term, trunc) = steps[ep[len - 1]];
            let ended = term || trunc;
            for j in 0..len {
                if j + n > len && !ended {
                    continue; // still pending
                }
                let end = (j + n).min(len);
                let rewards: Vec<f32> = ep[j..end].iter().map(|&g| steps[g].1).collect();
                let flushed = ended && end == len;
                let completed_at = ep[end - 1];
                let stored =
                    (ep[j], discounted_return(&rewards, gamma), (end - j) as u8, flushed && term, flushed && trunc);
                out.push((completed_at, stored));
            }
        }
        // Stored in the order of the steps that complete them; several
        // completed by one step, oldest first (the stable sort keeps the
        // order they were pushed in).
        out.sort_by_key(|&(completed_at, _)| completed_at);
        out.into_iter().map(|(_, stored)| stored).collect()
    }

    proptest! {
        #[test]
        fn matches_the_definition(
            n in 1usize..=10,
            gamma in 0.0f64..=1.0,
            raw in prop::collection::vec((0usize..8, -2.0f32..2.0, 0u8..20), 1..200),
            envs in 1usize..=8,
        ) {
            // Flags: terminated 1 time in 20, truncated 1 in 20, both 1 in 40-ish.
            let steps: Vec<_> = raw
                .iter()
                .map(|&(e, r, f)| (e % envs, r, f == 0 || f == 1, f == 1 || f == 2))
                .collect();
            prop_assert_eq!(run(n, gamma, &steps), reference(n, gamma, &steps));
        }
    }
}
