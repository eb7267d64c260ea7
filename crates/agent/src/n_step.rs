//! n-step returns: each environment's last steps held back until n of them
//! make one stored transition `(s_t, a_t, R, s_{t+k}, flags, k)` with
//! `R = Σ_{i<k} γ^i r_{t+i}` — `k = n`, or fewer when the episode ends
//! first, in which case every pending step is flushed with the episode's
//! final observation and flags (a terminated episode never bootstraps; a
//! truncated one does, from that observation, with `γ^k`).

use serde::{Deserialize, Serialize};

use crate::{AgentError, StateProblem, Transition};

/// The most environments whose steps can be pending at once: an index
/// beyond it is a bug in the caller, and growing to it would allocate for
/// nothing.
pub const MAX_ENVIRONMENTS: usize = 1 << 16;

/// The pending steps of every environment (at most n − 1 each between
/// calls).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NStepWindows {
    envs: Vec<Window>,
}

/// One environment's pending steps, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Window {
    /// One row of `obs_dim` values per step.
    states: Vec<f32>,
    actions: Vec<usize>,
    rewards: Vec<f32>,
}

/// A transition ready for the buffer, and the steps it spans.
pub(crate) struct Ready<'a> {
    pub transition: Transition<'a>,
    pub steps: u8,
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

    /// Adds `t`, the latest step of environment `env`, and hands `store`
    /// every transition that is now complete, oldest first. `t` must have
    /// been checked (lengths, finite values, action in range).
    ///
    /// # Errors
    /// [`AgentError::InvalidEnvironment`] for `env ≥ MAX_ENVIRONMENTS`;
    /// [`AgentError::NonFiniteReturn`] if a discounted return overflows
    /// (nothing is kept or stored then); what `store` returns.
    pub(crate) fn observe(
        &mut self,
        env: usize,
        t: Transition<'_>,
        n: usize,
        gamma: f64,
        mut store: impl FnMut(Ready<'_>) -> Result<(), AgentError>,
    ) -> Result<(), AgentError> {
        if env >= MAX_ENVIRONMENTS {
            return Err(AgentError::InvalidEnvironment { env, max: MAX_ENVIRONMENTS });
        }
        if self.envs.len() <= env {
            self.envs.resize_with(env + 1, Window::default);
        }
        let window = &mut self.envs[env];
        window.states.extend_from_slice(t.state);
        window.actions.push(t.action);
        window.rewards.push(t.reward);
        let ended = t.terminated || t.truncated;
        let ready = if ended { window.actions.len() } else { usize::from(window.actions.len() == n) };
        // Every return first: an overflow must leave the window as it was.
        if let Some(j) = (0..ready).find(|&j| !discounted_return(&window.rewards[j..], gamma).is_finite()) {
            window.states.truncate(window.states.len() - t.state.len());
            window.actions.pop();
            window.rewards.pop();
            return Err(AgentError::NonFiniteReturn { env, pending: j });
        }
        let d = t.state.len();
        let pending = window.actions.len();
        for j in 0..ready {
            let steps = u8::try_from(pending - j).expect("n is at most 255");
            let transition = Transition {
                state: &window.states[j * d..(j + 1) * d],
                action: window.actions[j],
                reward: discounted_return(&window.rewards[j..], gamma),
                next_state: t.next_state,
                // Only the step that ends the episode carries its flags.
                terminated: ended && t.terminated,
                truncated: ended && t.truncated,
            };
            store(Ready { transition, steps })?;
        }
        window.states.drain(..ready * d);
        window.actions.drain(..ready);
        window.rewards.drain(..ready);
        Ok(())
    }

    /// Steps observed but not yet part of a stored transition.
    pub(crate) fn pending(&self) -> usize {
        self.envs.iter().map(|w| w.actions.len()).sum()
    }

    /// Checks stored windows against the settings (a damaged checkpoint).
    pub(crate) fn check(&self, n: usize, obs_dim: usize, n_actions: usize) -> Result<(), AgentError> {
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
            if w.rewards.len() != len || w.states.len() != len * obs_dim {
                return bad("its columns differ in length");
            }
            if w.actions.iter().any(|&a| a >= n_actions) {
                return bad("holds an action out of range");
            }
            if w.states.iter().chain(&w.rewards).any(|v| !v.is_finite()) {
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

    /// What is stored, as plain values: (state, action, R, next state, k,
    /// terminated, truncated).
    type Stored = (f32, usize, f32, f32, u8, bool, bool);

    fn run(n: usize, gamma: f64, steps: &[(usize, f32, f32, bool, bool)]) -> Vec<Stored> {
        // (env, state = next state − 1, reward, terminated, truncated)
        let mut windows = NStepWindows::new();
        let mut out = Vec::new();
        for &(env, s, r, term, trunc) in steps {
            let (state, next) = ([s], [s + 1.0]);
            let t = Transition {
                state: &state,
                action: env,
                reward: r,
                next_state: &next,
                terminated: term,
                truncated: trunc,
            };
            windows
                .observe(env, t, n, gamma, |ready| {
                    let t = ready.transition;
                    out.push((t.state[0], t.action, t.reward, t.next_state[0], ready.steps, t.terminated, t.truncated));
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
            (0, 0.0, 1.0, false, false),
            (0, 1.0, 2.0, false, false),
            (0, 2.0, 4.0, false, false),
            (0, 3.0, 8.0, false, false),
            (0, 4.0, 16.0, true, false),
        ];
        assert_eq!(
            run(3, g, &steps),
            vec![
                (0.0, 0, 1.0 + 1.0 + 1.0, 3.0, 3, false, false), // 1 + ½·2 + ¼·4, next state s3
                (1.0, 0, 2.0 + 2.0 + 2.0, 4.0, 3, false, false), // 2 + ½·4 + ¼·8
                (2.0, 0, 4.0 + 4.0 + 4.0, 5.0, 3, true, false),  // flushed: 4 + ½·8 + ¼·16, ends terminated
                (3.0, 0, 8.0 + 8.0, 5.0, 2, true, false),
                (4.0, 0, 16.0, 5.0, 1, true, false),
            ]
        );
        // Truncation inside the window: both pending steps flushed, truncated, bootstrapping.
        let steps = [(0, 0.0, 1.0, false, false), (0, 1.0, 1.0, false, true)];
        assert_eq!(run(4, g, &steps), vec![(0.0, 0, 1.5, 2.0, 2, false, true), (1.0, 0, 1.0, 2.0, 1, false, true)]);
        // Both flags on one step; n larger than the episode.
        let steps = [(0, 0.0, 2.0, false, false), (0, 1.0, 2.0, true, true)];
        assert_eq!(run(10, g, &steps), vec![(0.0, 0, 3.0, 2.0, 2, true, true), (1.0, 0, 2.0, 2.0, 1, true, true)]);
        // n = 1 stores every step as it comes, reward untouched.
        let steps = [(0, 0.0, 0.1, false, false), (0, 1.0, 0.7, true, false)];
        assert_eq!(run(1, 0.95, &steps), vec![(0.0, 0, 0.1, 1.0, 1, false, false), (1.0, 0, 0.7, 2.0, 1, true, false)]);
        // Two environments interleaved keep apart.
        let steps = [
            (0, 0.0, 1.0, false, false),
            (1, 10.0, 3.0, false, false),
            (0, 1.0, 1.0, false, false),
            (1, 11.0, 3.0, true, false),
        ];
        assert_eq!(
            run(2, g, &steps),
            vec![
                (0.0, 0, 1.5, 2.0, 2, false, false),
                (10.0, 1, 4.5, 12.0, 2, true, false),
                (11.0, 1, 3.0, 12.0, 1, true, false),
            ]
        );
    }

    #[test]
    fn an_overflowing_return_keeps_nothing() {
        let mut windows = NStepWindows::new();
        let (s, big) = ([0.0f32], f32::MAX);
        let t = |r, term| Transition {
            state: &s,
            action: 0,
            reward: r,
            next_state: &s,
            terminated: term,
            truncated: false,
        };
        windows.observe(0, t(big, false), 3, 1.0, |_| Ok(())).expect("one pending step");
        let before = windows.clone();
        let err = windows.observe(0, t(big, true), 3, 1.0, |_| panic!("nothing is stored")).unwrap_err();
        assert_eq!(err, AgentError::NonFiniteReturn { env: 0, pending: 0 });
        assert_eq!(windows, before);
        assert_eq!(
            windows.observe(MAX_ENVIRONMENTS, t(1.0, false), 3, 1.0, |_| Ok(())),
            Err(AgentError::InvalidEnvironment { env: MAX_ENVIRONMENTS, max: MAX_ENVIRONMENTS })
        );
    }

    /// The reference: the steps split into each environment's episodes,
    /// and every n-step transition written out from its definition, with
    /// the step that completes it (its window fills, or its episode ends).
    fn reference(n: usize, gamma: f64, steps: &[(usize, f32, f32, bool, bool)]) -> Vec<Stored> {
        let mut episodes: Vec<Vec<Vec<usize>>> = Vec::new(); // env → episodes → global indices
        for (g, &(env, _, _, term, trunc)) in steps.iter().enumerate() {
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
            let (_, _, _, term, trunc) = steps[ep[len - 1]];
            let ended = term || trunc;
            for j in 0..len {
                if j + n > len && !ended {
                    continue; // still pending
                }
                let end = (j + n).min(len);
                let rewards: Vec<f32> = ep[j..end].iter().map(|&g| steps[g].2).collect();
                let flushed = ended && end == len;
                let (env, s, ..) = steps[ep[j]];
                let completed_at = ep[end - 1];
                let stored = (
                    s,
                    env,
                    discounted_return(&rewards, gamma),
                    steps[completed_at].1 + 1.0,
                    (end - j) as u8,
                    flushed && term,
                    flushed && trunc,
                );
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
                .enumerate()
                .map(|(i, &(e, r, f))| (e % envs, i as f32, r, f == 0 || f == 1, f == 1 || f == 2))
                .collect();
            prop_assert_eq!(run(n, gamma, &steps), reference(n, gamma, &steps));
        }
    }
}
