#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! MountainCar-v0, computed exactly as Gymnasium 1.x computes it.
//!
//! The job of this crate is the environment and nothing else: a car in a
//! valley that must rock back and forth to reach the flag on the right hill,
//! with Gymnasium's physics (every operation in Gymnasium's order, `cos`
//! from the platform's libm as Python's `math.cos`), its episode rules
//! (`terminated` at the goal, `truncated` at 200 steps) and its reset range.
//! From the same `f64` state and the same actions, every state and
//! observation equals Gymnasium's bit for bit (`tests/golden/`).
//!
//! Main types: [`MountainCar`] (one environment: [`MountainCarDynamics`]
//! inside `env_core`'s episode rules), [`MountainCarFamily`] (single
//! environments and batches of them, for a training loop), the constants in
//! [`physics`].
//!
//! What it deliberately does not do: rendering, I/O, logging, owning an RNG,
//! or knowing anything about agents.

pub mod physics;

use env_core::{Dynamics, EnvError, EnvSpec, Episodic, EpisodicFamily, ObsSpace};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Gymnasium's id of the environment.
pub const ID: &str = "MountainCar-v0";
/// Gymnasium's step limit for MountainCar-v0.
pub const MAX_EPISODE_STEPS: u32 = 200;
/// Gymnasium's `reward_threshold` for MountainCar-v0.
pub const REWARD_THRESHOLD: f64 = -110.0;

/// MountainCar's physics with its one setting, `goal_velocity` (0 in
/// MountainCar-v0): the episode terminates at `position ≥ 0.5` with
/// `velocity ≥ goal_velocity`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MountainCarDynamics {
    /// The least velocity at the goal that ends the episode.
    pub goal_velocity: f64,
}

impl Default for MountainCarDynamics {
    fn default() -> Self {
        Self { goal_velocity: 0.0 }
    }
}

impl Dynamics for MountainCarDynamics {
    type State = [f64; 2];
    type Element = f32;
    const OBS_LEN: usize = 2;
    const N_ACTIONS: usize = 3;

    fn spec(&self, max_episode_steps: u32) -> EnvSpec {
        EnvSpec {
            id: ID.to_string(),
            obs: ObsSpace::vector(2),
            n_actions: 3,
            max_episode_steps: Some(max_episode_steps),
            reward_threshold: Some(REWARD_THRESHOLD),
            obs_ranges: vec![
                (physics::MIN_POSITION as f32, physics::MAX_POSITION as f32),
                (-physics::MAX_SPEED as f32, physics::MAX_SPEED as f32),
            ],
        }
    }

    fn draw_start(&self, rng: &mut dyn RngCore) -> [f64; 2] {
        [physics::draw_start_position(rng), 0.0]
    }

    fn advance(&self, state: &[f64; 2], action: usize) -> [f64; 2] {
        physics::advance(*state, action)
    }

    fn is_terminal(&self, state: &[f64; 2]) -> bool {
        physics::is_at_goal(state, self.goal_velocity)
    }

    fn reward(&self, _state: &[f64; 2], _terminated: bool) -> f64 {
        -1.0
    }

    fn observe(&self, state: &[f64; 2], obs: &mut [f32]) {
        // `as f32` rounds to nearest-even, like numpy's float64 → float32 cast.
        obs[0] = state[0] as f32;
        obs[1] = state[1] as f32;
    }

    fn initial_state(&self) -> [f64; 2] {
        [0.0, 0.0]
    }

    fn validate(&self) -> Result<(), EnvError> {
        if !self.goal_velocity.is_finite() {
            return Err(EnvError::InvalidSetting { name: "goal_velocity", value: self.goal_velocity });
        }
        Ok(())
    }
}

/// One MountainCar environment with Gymnasium's episode rules.
///
/// ```
/// use env_core::Env;
/// use mountaincar_sim::MountainCar;
/// use rand::SeedableRng;
///
/// let mut env: MountainCar = mountaincar_sim::v0();
/// let mut obs = [0.0f32; 2];
/// env.reset(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7), (&mut obs[..]).into())?;
/// let mut ret = 0.0;
/// loop {
///     let step = env.step(2, (&mut obs[..]).into())?; // always push right
///     ret += step.reward;
///     if step.is_done() {
///         break;
///     }
/// }
/// assert_eq!(ret, -200.0); // pushing one way never reaches the flag
/// # Ok::<(), env_core::EnvError>(())
/// ```
pub type MountainCar = Episodic<MountainCarDynamics>;

/// MountainCar-v0: goal velocity 0, truncated at 200 steps.
#[must_use]
pub fn v0() -> MountainCar {
    Episodic::new(MountainCarDynamics::default(), MAX_EPISODE_STEPS).expect("200 is a valid step limit")
}

/// Makes MountainCar environments for a training loop: single ones, and
/// batches with same-step auto-reset.
pub type MountainCarFamily = EpisodicFamily<MountainCarDynamics>;
