//! An environment written as its pure physics ([`Dynamics`]) inside
//! Gymnasium's episode rules ([`Episodic`]): reset, the step limit of
//! `TimeLimit` (truncated on the limit's step, also when that step
//! terminates), refusing steps before a reset and after the end, and the
//! checked stored form. Written once, for every such environment.

use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{
    AutoReset, Env, EnvError, EnvFamily, EnvSpec, Inconsistency, ObsElement, ObsMut, Resets, SavedEnv, StepOutcome,
    VecEnv,
};

/// The pure part of an environment: its constants and settings, how a start
/// is drawn, one state transition, when it terminates, its reward and its
/// observation. Every method is a pure function of its arguments.
pub trait Dynamics: Clone + std::fmt::Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned + 'static {
    /// The physical state (an `[f64; N]`).
    type State: Copy
        + std::fmt::Debug
        + PartialEq
        + Send
        + Sync
        + Serialize
        + DeserializeOwned
        + AsRef<[f64]>
        + for<'a> TryFrom<&'a [f64]>;
    /// What an observation is made of: `f32` values, or bytes (pixels and
    /// binary cells); the spec's [`ObsSpace`](crate::ObsSpace) says which.
    type Element: ObsElement;
    /// The length of an observation.
    const OBS_LEN: usize;
    /// The number of discrete actions.
    const N_ACTIONS: usize;
    /// The spaces and rules, with the step limit `max_episode_steps`
    /// (`spec.obs` has [`OBS_LEN`](Self::OBS_LEN) values of
    /// [`Element`](Self::Element)'s type).
    fn spec(&self, max_episode_steps: u32) -> EnvSpec;
    /// A start state drawn from `rng`, as the environment's reset draws it.
    fn draw_start(&self, rng: &mut dyn RngCore) -> Self::State;
    /// The state after one step under `action` (already checked to be in
    /// `0..n_actions`).
    fn advance(&self, state: &Self::State, action: usize) -> Self::State;
    /// Whether the episode terminates in `state`.
    fn is_terminal(&self, state: &Self::State) -> bool;
    /// The reward of a step that led to `state`.
    fn reward(&self, state: &Self::State, terminated: bool) -> f64;
    /// Writes the observation of `state` into `obs` (of length
    /// [`OBS_LEN`](Self::OBS_LEN)).
    fn observe(&self, state: &Self::State, obs: &mut [Self::Element]);
    /// Writes the observation of `state` and says whether it is terminal:
    /// [`observe`](Self::observe) and [`is_terminal`](Self::is_terminal) in
    /// one call (what a step needs), for dynamics that share work between
    /// them. Must agree with the two.
    fn observe_terminal(&self, state: &Self::State, obs: &mut [Self::Element]) -> bool {
        self.observe(state, obs);
        self.is_terminal(state)
    }
    /// The state a new environment holds before its first reset.
    fn initial_state(&self) -> Self::State;
    /// Checks a state given from outside ([`Env::reset_to`], or read back
    /// from a checkpoint), already known to be finite: one the dynamics
    /// cannot be in is refused before any method sees it. Every finite
    /// state is accepted by default (classic control's physics takes any).
    ///
    /// # Errors
    /// [`EnvError::StateOutOfRange`] naming the entry.
    fn check_state(&self, state: &Self::State) -> Result<(), EnvError> {
        let _ = state;
        Ok(())
    }
    /// Checks the settings.
    ///
    /// # Errors
    /// [`EnvError::InvalidSetting`] naming the bad one.
    fn validate(&self) -> Result<(), EnvError> {
        Ok(())
    }
}

/// Where an environment is in its episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Never reset.
    NotReset,
    /// In an episode.
    Running,
    /// The episode ended; a reset is needed to go on.
    Over {
        /// It ended by termination.
        terminated: bool,
        /// It ended by the step limit.
        truncated: bool,
    },
}

/// One environment: [`Dynamics`] with Gymnasium's episode rules.
///
/// Serializes with its whole state (a checkpoint); read back through
/// [`StoredEpisodic`]'s checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredEpisodic<D>", bound = "D: Dynamics")]
pub struct Episodic<D: Dynamics> {
    dynamics: D,
    max_episode_steps: u32,
    state: D::State,
    elapsed_steps: u32,
    phase: Phase,
}

/// An [`Episodic`] as stored, before it is checked: the same fields in the
/// same serialized layout. Decode this and convert it with
/// `Episodic::try_from` (or [`SavedEnv::from_stored`]) to keep the typed
/// error of a damaged store.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "D: Dynamics")]
pub struct StoredEpisodic<D: Dynamics> {
    dynamics: D,
    max_episode_steps: u32,
    state: D::State,
    elapsed_steps: u32,
    phase: Phase,
}

/// The observation buffer `obs` as `D`'s values, checked to be of its
/// type and length.
fn obs_values<'a, D: Dynamics>(obs: ObsMut<'a>) -> Result<&'a mut [D::Element], EnvError> {
    let carrier = obs.carrier();
    let values = D::Element::values_mut(obs)
        .ok_or_else(|| EnvError::ObsType { expected: <D::Element as ObsElement>::CARRIER, got: carrier })?;
    if values.len() != D::OBS_LEN {
        return Err(EnvError::StateLength { what: "observation", expected: D::OBS_LEN, got: values.len() });
    }
    Ok(values)
}

/// Checks that a state is finite, one the dynamics can be in, and that its
/// observation is finite too.
fn check_state<D: Dynamics>(dynamics: &D, state: &D::State, obs: &mut [D::Element]) -> Result<(), EnvError> {
    let values = state.as_ref();
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(EnvError::NonFiniteState { index, value: values[index] });
    }
    dynamics.check_state(state)?;
    dynamics.observe(state, obs);
    if D::Element::first_non_finite(obs).is_some() {
        // The entry whose observation overflowed: its value as f32 is infinite.
        let index = values.iter().position(|&v| !(v as f32).is_finite()).unwrap_or(0);
        return Err(EnvError::StateBeyondObservation { index, value: values[index] });
    }
    Ok(())
}

impl<D: Dynamics> TryFrom<StoredEpisodic<D>> for Episodic<D> {
    type Error = EnvError;

    /// Checks what [`Episodic::new`] checks, a finite state, and that the
    /// step count and the episode's phase are ones that stepping can reach.
    fn try_from(s: StoredEpisodic<D>) -> Result<Self, EnvError> {
        let env = Self::new(s.dynamics, s.max_episode_steps)?;
        let mut obs = vec![D::Element::default(); D::OBS_LEN];
        check_state(&env.dynamics, &s.state, &mut obs)?;
        let (elapsed_steps, limit) = (s.elapsed_steps, s.max_episode_steps);
        let problem = match s.phase {
            Phase::NotReset if elapsed_steps != 0 => Some(Inconsistency::StepsBeforeReset { elapsed_steps }),
            Phase::Running if elapsed_steps >= limit => {
                Some(Inconsistency::PastStepLimit { env: 0, elapsed_steps, limit })
            }
            Phase::Over { terminated, truncated } => {
                let terminal_state = env.dynamics.is_terminal(&s.state);
                let consistent = (terminated || truncated)
                    && (1..=limit).contains(&elapsed_steps)
                    && terminated == terminal_state
                    && truncated == (elapsed_steps == limit);
                (!consistent).then_some(Inconsistency::EndFlags {
                    terminated,
                    truncated,
                    terminal_state,
                    elapsed_steps,
                    limit,
                })
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(EnvError::Inconsistent(problem));
        }
        Ok(Self { state: s.state, elapsed_steps, phase: s.phase, ..env })
    }
}

impl<D: Dynamics> Episodic<D> {
    /// An environment with `dynamics` and the step limit `max_episode_steps`;
    /// it must be reset before its first step.
    ///
    /// # Errors
    /// [`EnvError::ZeroStepLimit`], or the settings' [`EnvError::InvalidSetting`].
    pub fn new(dynamics: D, max_episode_steps: u32) -> Result<Self, EnvError> {
        if max_episode_steps == 0 {
            return Err(EnvError::ZeroStepLimit);
        }
        dynamics.validate()?;
        let state = dynamics.initial_state();
        Ok(Self { dynamics, max_episode_steps, state, elapsed_steps: 0, phase: Phase::NotReset })
    }

    /// The physics and its settings.
    #[must_use]
    pub fn dynamics(&self) -> &D {
        &self.dynamics
    }

    /// The physical state.
    #[must_use]
    pub fn physical_state(&self) -> D::State {
        self.state
    }

    /// Where the episode is.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.phase
    }

    fn start(&mut self, state: D::State, obs: &mut [D::Element]) {
        self.state = state;
        self.elapsed_steps = 0;
        self.phase = Phase::Running;
        self.dynamics.observe(&self.state, obs);
    }
}

impl<D: Dynamics> Env for Episodic<D> {
    fn spec(&self) -> EnvSpec {
        self.dynamics.spec(self.max_episode_steps)
    }

    fn reset(&mut self, rng: &mut dyn RngCore, obs: ObsMut<'_>) -> Result<(), EnvError> {
        let obs = obs_values::<D>(obs)?;
        let state = self.dynamics.draw_start(rng);
        self.start(state, obs);
        Ok(())
    }

    fn reset_to(&mut self, state: &[f64], obs: ObsMut<'_>) -> Result<(), EnvError> {
        let obs = obs_values::<D>(obs)?;
        let expected = self.dynamics.initial_state().as_ref().len();
        let state = D::State::try_from(state).map_err(|_| EnvError::StateLength {
            what: "state",
            expected,
            got: state.len(),
        })?;
        check_state(&self.dynamics, &state, obs)?;
        self.start(state, obs);
        Ok(())
    }

    fn step(&mut self, action: usize, obs: ObsMut<'_>) -> Result<StepOutcome, EnvError> {
        match self.phase {
            Phase::NotReset => return Err(EnvError::NotReset),
            Phase::Over { terminated, truncated } => {
                return Err(EnvError::EpisodeOver { steps: self.elapsed_steps, terminated, truncated });
            }
            Phase::Running => {}
        }
        let n_actions = D::N_ACTIONS;
        if action >= n_actions {
            return Err(EnvError::InvalidAction { action, n_actions });
        }
        let obs = obs_values::<D>(obs)?;
        self.state = self.dynamics.advance(&self.state, action);
        self.elapsed_steps += 1;
        let terminated = self.dynamics.observe_terminal(&self.state, obs);
        let truncated = self.elapsed_steps >= self.max_episode_steps;
        if terminated || truncated {
            self.phase = Phase::Over { terminated, truncated };
        }
        Ok(StepOutcome { reward: self.dynamics.reward(&self.state, terminated), terminated, truncated })
    }

    fn state(&self) -> &[f64] {
        self.state.as_ref()
    }

    fn elapsed_steps(&self) -> u32 {
        self.elapsed_steps
    }

    fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }
}

impl<D: Dynamics> SavedEnv for Episodic<D> {
    type Stored = StoredEpisodic<D>;

    fn from_stored(stored: StoredEpisodic<D>) -> Result<Self, EnvError> {
        Self::try_from(stored)
    }

    fn observe(&self, obs: ObsMut<'_>) -> Result<(), EnvError> {
        self.dynamics.observe(&self.state, obs_values::<D>(obs)?);
        Ok(())
    }
}

/// Makes [`Episodic`] environments of one kind for a training loop: single
/// ones, and batches with same-step auto-reset ([`AutoReset`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodicFamily<D: Dynamics> {
    dynamics: D,
    max_episode_steps: u32,
}

impl<D: Dynamics> EpisodicFamily<D> {
    /// A family of environments with these rules.
    ///
    /// # Errors
    /// As [`Episodic::new`].
    pub fn new(dynamics: D, max_episode_steps: u32) -> Result<Self, EnvError> {
        Episodic::new(dynamics.clone(), max_episode_steps)?;
        Ok(Self { dynamics, max_episode_steps })
    }

    /// A fresh environment of the family.
    #[must_use]
    pub fn make(&self) -> Episodic<D> {
        Episodic::new(self.dynamics.clone(), self.max_episode_steps).expect("checked by new")
    }
}

impl<D: Dynamics> EnvFamily for EpisodicFamily<D> {
    fn spec(&self) -> EnvSpec {
        self.dynamics.spec(self.max_episode_steps)
    }

    fn single(&self) -> Result<Box<dyn Env>, EnvError> {
        Ok(Box::new(self.make()))
    }

    fn batch(&self, n: usize, resets: &mut dyn Resets) -> Result<Box<dyn VecEnv>, EnvError> {
        let envs = (0..n).map(|_| self.make()).collect();
        Ok(Box::new(AutoReset::new(envs, resets)?))
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn VecEnv>, EnvError> {
        let batch = AutoReset::<Episodic<D>>::restore(saved)?;
        // The saved environments must follow this family's rules.
        let other_rules =
            |e: &Episodic<D>| e.dynamics != self.dynamics || e.max_episode_steps != self.max_episode_steps;
        if batch.envs().iter().any(other_rules) {
            return Err(EnvError::Inconsistent(Inconsistency::Rules));
        }
        Ok(Box::new(batch))
    }
}
