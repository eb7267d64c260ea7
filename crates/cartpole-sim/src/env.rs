//! One CartPole environment with Gymnasium's episode rules: actions, the
//! integrator and step limit, reset (drawn or explicit), step, and the
//! checked stored form.

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Inconsistency, SimError};
use crate::physics;

/// A push of the cart: the action space of CartPole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Action 0: push the cart to the left.
    Left = 0,
    /// Action 1: push the cart to the right.
    Right = 1,
}

impl Action {
    /// The action of an index, as Gymnasium numbers them.
    ///
    /// # Errors
    /// [`SimError::InvalidAction`] for any index other than 0 or 1.
    pub fn from_index(action: usize) -> Result<Self, SimError> {
        match action {
            0 => Ok(Self::Left),
            1 => Ok(Self::Right),
            _ => Err(SimError::InvalidAction { action }),
        }
    }

    /// The index of this action: 0 for left, 1 for right.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

impl TryFrom<usize> for Action {
    type Error = SimError;

    fn try_from(action: usize) -> Result<Self, SimError> {
        Self::from_index(action)
    }
}

/// How positions and velocities are integrated over one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Integrator {
    /// Gymnasium's default (`"euler"`): positions move with the old velocities.
    #[default]
    Euler,
    /// Gymnasium's `"semi-implicit euler"`: velocities first, then positions
    /// with the new velocities.
    SemiImplicitEuler,
}

/// The rules of an episode: the integrator and the step limit.
///
/// Build it with [`EnvConfig::v1`] or [`EnvConfig::v0`] and adjust; the step
/// limit is checked by [`CartPole::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvConfig {
    /// The kinematics integrator.
    pub integrator: Integrator,
    /// The step on which an episode is truncated (Gymnasium's `TimeLimit`).
    pub max_episode_steps: u32,
}

impl EnvConfig {
    /// CartPole-v1: Euler integration, truncated at 500 steps.
    #[must_use]
    pub fn v1() -> Self {
        Self { integrator: Integrator::Euler, max_episode_steps: 500 }
    }

    /// CartPole-v0: the same physics, truncated at 200 steps.
    #[must_use]
    pub fn v0() -> Self {
        Self { max_episode_steps: 200, ..Self::v1() }
    }

    pub(crate) fn validate(self) -> Result<Self, SimError> {
        if self.max_episode_steps == 0 {
            return Err(SimError::ZeroStepLimit);
        }
        Ok(self)
    }
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self::v1()
    }
}

/// What one step returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The observation of the new state (the `f64` state rounded to `f32`).
    pub obs: [f32; 4],
    /// 1.0 on every step, including the one that terminates.
    pub reward: f64,
    /// The pole fell or the cart left the track: the episode's true end, after
    /// which there is no future reward to bootstrap from.
    pub terminated: bool,
    /// The step limit was reached: the episode was cut, not ended by the
    /// physics. Both flags can be set on the same step.
    pub truncated: bool,
}

impl Step {
    /// Whether the episode is over, for either reason.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// Where an environment is in its episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Phase {
    NotReset,
    Running,
    Over { terminated: bool, truncated: bool },
}

/// One CartPole environment with Gymnasium's episode rules.
///
/// ```
/// use cartpole_sim::{Action, CartPole, EnvConfig};
/// use rand::SeedableRng;
///
/// let mut env = CartPole::new(EnvConfig::v1())?;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// env.reset(&mut rng);
/// let mut ret = 0.0;
/// loop {
///     let step = env.step(Action::Right)?;
///     ret += step.reward;
///     if step.is_done() {
///         break;
///     }
/// }
/// assert!(ret >= 1.0);
/// # Ok::<(), cartpole_sim::SimError>(())
/// ```
///
/// Serializes with its whole state (a checkpoint); a deserialized
/// environment is checked like a new one (step limit, finite state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredCartPole")]
pub struct CartPole {
    config: EnvConfig,
    state: [f64; 4],
    elapsed_steps: u32,
    phase: Phase,
}

/// Gymnasium's reset range: each state entry uniform in `[-0.05, 0.05)`.
const RESET_LOW: f64 = -0.05;
const RESET_HIGH: f64 = 0.05;

/// A state drawn as Gymnasium's `reset` draws it, from `rng`.
///
/// Each entry is `low + (high - low) * u` with `u = (next_u64 >> 11) * 2⁻⁵³`,
/// numpy's `Generator.uniform` formula, so the distribution is the same as
/// Gymnasium's (the stream of numbers is our RNG's, not numpy's PCG64).
pub(crate) fn draw_reset_state<R: RngCore + ?Sized>(rng: &mut R) -> [f64; 4] {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    std::array::from_fn(|_| {
        let u = (rng.next_u64() >> 11) as f64 * SCALE;
        RESET_LOW + ((RESET_HIGH - RESET_LOW) * u)
    })
}

pub(crate) fn check_finite(state: &[f64; 4]) -> Result<(), SimError> {
    if let Some(index) = state.iter().position(|v| !v.is_finite()) {
        return Err(SimError::NonFiniteState { index, value: state[index] });
    }
    // Finite as f64 but infinite as the f32 observation: no agent could use it.
    match state.iter().position(|&v| !(v as f32).is_finite()) {
        Some(index) => Err(SimError::StateBeyondObservation { index, value: state[index] }),
        None => Ok(()),
    }
}

/// A [`CartPole`] as stored, before it is checked. Decode this and convert
/// it with `CartPole::try_from` to keep the typed error of a damaged store
/// (some formats, postcard among them, drop the message of an error raised
/// inside deserialization).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredCartPole {
    config: EnvConfig,
    state: [f64; 4],
    elapsed_steps: u32,
    phase: Phase,
}

impl TryFrom<StoredCartPole> for CartPole {
    type Error = SimError;

    /// Checks what [`CartPole::new`] checks, a finite state, and that the
    /// step count and the episode's phase are ones that stepping can reach:
    /// an episode in progress is below the step limit (its next step counts
    /// one more), and an ended one carries the flags its state and count
    /// imply.
    ///
    /// # Errors
    /// [`SimError::ZeroStepLimit`], [`SimError::NonFiniteState`] or
    /// [`SimError::Inconsistent`].
    fn try_from(s: StoredCartPole) -> Result<Self, SimError> {
        let config = s.config.validate()?;
        check_finite(&s.state)?;
        let (elapsed_steps, limit) = (s.elapsed_steps, config.max_episode_steps);
        let problem = match s.phase {
            Phase::NotReset if elapsed_steps != 0 => Some(Inconsistency::StepsBeforeReset { elapsed_steps }),
            Phase::Running if elapsed_steps >= limit => {
                Some(Inconsistency::PastStepLimit { env: 0, elapsed_steps, limit })
            }
            Phase::Over { terminated, truncated } => {
                let out_of_bounds = physics::is_out_of_bounds(&s.state);
                let consistent = (terminated || truncated)
                    && elapsed_steps >= 1
                    && elapsed_steps <= limit
                    && terminated == out_of_bounds
                    && truncated == (elapsed_steps == limit);
                (!consistent).then_some(Inconsistency::EndFlags {
                    terminated,
                    truncated,
                    terminal_state: out_of_bounds,
                    elapsed_steps,
                    limit,
                })
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(SimError::Inconsistent(problem));
        }
        Ok(Self { config, state: s.state, elapsed_steps, phase: s.phase })
    }
}

impl CartPole {
    /// An environment with the given rules. It must be reset before its first
    /// step.
    ///
    /// # Errors
    /// [`SimError::ZeroStepLimit`] if `config.max_episode_steps` is 0.
    pub fn new(config: EnvConfig) -> Result<Self, SimError> {
        Ok(Self { config: config.validate()?, state: [0.0; 4], elapsed_steps: 0, phase: Phase::NotReset })
    }

    /// Starts a new episode from a state drawn uniformly in `[-0.05, 0.05)⁴`
    /// with `rng`, and returns its observation.
    pub fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 4] {
        self.start(draw_reset_state(rng))
    }

    /// Starts a new episode from exactly `state` (`[x, x_dot, theta,
    /// theta_dot]`) and returns its observation. A state already out of bounds
    /// is allowed: its first step then terminates, as in Gymnasium.
    ///
    /// # Errors
    /// [`SimError::NonFiniteState`] if an entry is NaN or infinite,
    /// [`SimError::StateBeyondObservation`] if one is too large for the f32
    /// observation; the environment is left as it was.
    pub fn reset_to(&mut self, state: [f64; 4]) -> Result<[f32; 4], SimError> {
        check_finite(&state)?;
        Ok(self.start(state))
    }

    fn start(&mut self, state: [f64; 4]) -> [f32; 4] {
        self.state = state;
        self.elapsed_steps = 0;
        self.phase = Phase::Running;
        physics::observe(&state)
    }

    /// Advances the episode by one step of 0.02 s under `action`.
    ///
    /// # Errors
    /// [`SimError::NotReset`] before the first reset, and
    /// [`SimError::EpisodeOver`] after the episode ended until the next reset
    /// (Gymnasium would go on integrating with reward 0; we refuse instead).
    pub fn step(&mut self, action: Action) -> Result<Step, SimError> {
        match self.phase {
            Phase::NotReset => return Err(SimError::NotReset),
            Phase::Over { terminated, truncated } => {
                return Err(SimError::EpisodeOver { steps: self.elapsed_steps, terminated, truncated });
            }
            Phase::Running => {}
        }
        self.state = physics::advance(self.state, action, self.config.integrator);
        self.elapsed_steps += 1;
        let terminated = physics::is_out_of_bounds(&self.state);
        let truncated = self.elapsed_steps >= self.config.max_episode_steps;
        if terminated || truncated {
            self.phase = Phase::Over { terminated, truncated };
        }
        Ok(Step { obs: physics::observe(&self.state), reward: 1.0, terminated, truncated })
    }

    /// The current `f64` state `[x, x_dot, theta, theta_dot]`.
    #[must_use]
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// The current observation (the state rounded to `f32`).
    #[must_use]
    pub fn observation(&self) -> [f32; 4] {
        physics::observe(&self.state)
    }

    /// The current state as a slice (for the seam's `Env::state`).
    pub(crate) fn state_ref(&self) -> &[f64] {
        &self.state
    }

    /// Whether an episode is in progress (reset and not ended).
    #[must_use]
    pub fn is_in_episode(&self) -> bool {
        self.phase == Phase::Running
    }

    /// Steps taken since the last reset.
    #[must_use]
    pub fn elapsed_steps(&self) -> u32 {
        self.elapsed_steps
    }

    /// Whether the current episode has ended (a reset is needed to go on).
    #[must_use]
    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Over { .. })
    }

    /// The rules this environment follows.
    #[must_use]
    pub fn config(&self) -> EnvConfig {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn env() -> CartPole {
        CartPole::new(EnvConfig::v1()).unwrap()
    }

    #[test]
    fn step_before_reset_is_an_error() {
        assert_eq!(env().step(Action::Left), Err(SimError::NotReset));
    }

    #[test]
    fn invalid_action_is_an_error() {
        assert_eq!(Action::from_index(2), Err(SimError::InvalidAction { action: 2 }));
        assert_eq!(Action::try_from(1), Ok(Action::Right));
        assert_eq!(Action::Left.index(), 0);
    }

    #[test]
    fn zero_step_limit_is_an_error() {
        let config = EnvConfig { max_episode_steps: 0, ..EnvConfig::v1() };
        assert_eq!(CartPole::new(config).unwrap_err(), SimError::ZeroStepLimit);
    }

    #[test]
    fn non_finite_state_is_an_error_and_changes_nothing() {
        let mut env = env();
        env.reset_to([0.01, 0.0, 0.0, 0.0]).unwrap();
        let err = env.reset_to([0.0, 0.0, f64::NAN, 0.0]).unwrap_err();
        assert!(matches!(err, SimError::NonFiniteState { index: 2, .. }));
        assert!(err.to_string().contains("theta"), "{err}");
        assert_eq!(env.state(), [0.01, 0.0, 0.0, 0.0]);
        assert!(env.reset_to([f64::INFINITY, 0.0, 0.0, 0.0]).is_err());
    }

    #[test]
    fn step_after_end_is_an_error_until_reset() {
        let mut env = env();
        env.reset_to([2.4, 1.0, 0.0, 0.0]).unwrap();
        let step = env.step(Action::Right).unwrap();
        assert!(step.terminated && !step.truncated);
        assert_eq!(step.reward, 1.0);
        let err = env.step(Action::Right).unwrap_err();
        assert_eq!(err, SimError::EpisodeOver { steps: 1, terminated: true, truncated: false });
        env.reset_to([0.0; 4]).unwrap();
        assert!(env.step(Action::Left).is_ok());
    }

    #[test]
    fn truncates_at_the_step_limit() {
        let mut env = CartPole::new(EnvConfig { max_episode_steps: 3, ..EnvConfig::v1() }).unwrap();
        env.reset_to([0.0; 4]).unwrap();
        let actions = [Action::Left, Action::Right, Action::Left];
        let steps: Vec<Step> = actions.iter().map(|&a| env.step(a).unwrap()).collect();
        assert!(steps[..2].iter().all(|s| !s.is_done()));
        assert!(steps[2].truncated && !steps[2].terminated);
        assert!(env.is_over());
        assert!(matches!(env.step(Action::Left), Err(SimError::EpisodeOver { truncated: true, .. })));
    }

    #[test]
    fn reset_draws_in_range_and_is_reproducible() {
        let mut a = ChaCha8Rng::seed_from_u64(3);
        let mut b = ChaCha8Rng::seed_from_u64(3);
        let mut env = env();
        for _ in 0..1000 {
            let obs = env.reset(&mut a);
            let state = env.state();
            assert!(state.iter().all(|v| (-0.05..0.05).contains(v)));
            assert_eq!(obs, physics::observe(&state));
            assert_eq!(state, draw_reset_state(&mut b));
            assert_eq!(env.elapsed_steps(), 0);
        }
    }

    #[test]
    fn reset_draws_are_uniform() {
        // 40 000 draws per entry into 10 bins of width 0.01: each bin expects
        // 4 000 with a standard deviation of 60, so ±300 (5σ) cannot fail by chance
        // with this fixed seed unless the distribution is wrong.
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut bins = [[0u32; 10]; 4];
        for _ in 0..40_000 {
            for (entry, v) in draw_reset_state(&mut rng).iter().enumerate() {
                let bin = ((v + 0.05) / 0.01) as usize;
                bins[entry][bin.min(9)] += 1;
            }
        }
        for counts in bins {
            for c in counts {
                assert!((3_700..=4_300).contains(&c), "{counts:?}");
            }
        }
    }

    /// A stored environment round-trips mid-episode and at its end; a
    /// stored one whose step count or end flags no stepping could produce
    /// is refused with what is wrong, so its next step cannot overflow the
    /// count or contradict the rules.
    #[test]
    fn stored_environments_are_checked() {
        let config = EnvConfig { max_episode_steps: 5, ..EnvConfig::v1() };
        let mut e = CartPole::new(config).unwrap();
        let fresh = serde_json::to_value(&e).unwrap();
        e.reset(&mut ChaCha8Rng::seed_from_u64(1));
        e.step(Action::Left).unwrap();
        let running = serde_json::to_value(&e).unwrap();
        assert_eq!(serde_json::from_value::<CartPole>(running.clone()).unwrap(), e);
        while !e.is_over() {
            e.step(Action::Left).unwrap();
        }
        let over = serde_json::to_value(&e).unwrap();
        assert_eq!(serde_json::from_value::<CartPole>(over.clone()).unwrap(), e);

        let refused = |mut v: serde_json::Value, edit: &dyn Fn(&mut serde_json::Value)| {
            edit(&mut v);
            let stored: StoredCartPole = serde_json::from_value(v).unwrap();
            match CartPole::try_from(stored) {
                Err(SimError::Inconsistent(problem)) => problem,
                other => panic!("accepted or other error: {other:?}"),
            }
        };
        let past = refused(running.clone(), &|v| v["elapsed_steps"] = u32::MAX.into());
        assert_eq!(past, Inconsistency::PastStepLimit { env: 0, elapsed_steps: u32::MAX, limit: 5 });
        refused(running, &|v| v["elapsed_steps"] = 5.into());
        let early = refused(fresh, &|v| v["elapsed_steps"] = 3.into());
        assert_eq!(early, Inconsistency::StepsBeforeReset { elapsed_steps: 3 });
        // An end with neither flag, a truncation before the limit, a
        // termination of an in-bounds state.
        refused(over.clone(), &|v| v["phase"] = serde_json::json!({"Over": {"terminated": false, "truncated": false}}));
        refused(over.clone(), &|v| v["elapsed_steps"] = 2.into());
        refused(over, &|v| {
            v["phase"] = serde_json::json!({"Over": {"terminated": true, "truncated": true}});
            v["state"] = serde_json::json!([0.0, 0.0, 0.0, 0.0]);
        });
    }
}
