#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! Acrobot-v1, computed exactly as Gymnasium 1.x computes it.
//!
//! The job of this crate is the environment and nothing else: two links
//! hanging from a bar, a torque on the joint between them, and the goal of
//! swinging the free end above the bar; Gymnasium's "book" dynamics
//! integrated by one RK4 step per action (every operation in Gymnasium's
//! order, `x**2` as libm's `pow`), its episode rules (`terminated` above the
//! bar, `truncated` at 500 steps) and its reset range. From the same `f64`
//! state and the same actions, every state and observation equals
//! Gymnasium's bit for bit (`tests/golden/`).
//!
//! One deliberate difference: after a reset Gymnasium holds the state as
//! `float32` and computes the first observation with numpy's `float32`
//! `cos`/`sin`, which differ from the `f64` ones rounded to `f32` by one ULP
//! in about 0.2 % of resets. Here the reset state is drawn in `f32` as
//! Gymnasium draws it and then held as `f64`, and every observation,
//! the first included, is the `f64` one rounded (Gymnasium's own from the
//! first step on).
//!
//! Main types: [`Acrobot`] ([`AcrobotDynamics`] inside `env_core`'s episode
//! rules), [`AcrobotFamily`] (single environments and batches of them), the
//! constants in [`physics`].
//!
//! What it deliberately does not do: rendering, torque noise, the "nips"
//! dynamics, I/O, owning an RNG, or knowing anything about agents.

pub mod physics;

use env_core::{Dynamics, EnvSpec, Episodic, EpisodicFamily, ObsSpace};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Gymnasium's id of the environment.
pub const ID: &str = "Acrobot-v1";
/// Gymnasium's step limit for Acrobot-v1.
pub const MAX_EPISODE_STEPS: u32 = 500;
/// Gymnasium's `reward_threshold` for Acrobot-v1.
pub const REWARD_THRESHOLD: f64 = -100.0;

/// Acrobot's "book" dynamics (no settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AcrobotDynamics;

impl Dynamics for AcrobotDynamics {
    type State = [f64; 4];
    type Element = f32;
    const OBS_LEN: usize = 6;
    const N_ACTIONS: usize = 3;

    fn spec(&self, max_episode_steps: u32) -> EnvSpec {
        let (v1, v2) = (physics::MAX_VEL_1 as f32, physics::MAX_VEL_2 as f32);
        EnvSpec {
            id: ID.to_string(),
            obs: ObsSpace::vector(6),
            n_actions: 3,
            max_episode_steps: Some(max_episode_steps),
            reward_threshold: Some(REWARD_THRESHOLD),
            obs_ranges: vec![(-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0), (-v1, v1), (-v2, v2)],
        }
    }

    fn draw_start(&self, rng: &mut dyn RngCore) -> [f64; 4] {
        physics::draw_start(rng)
    }

    fn advance(&self, state: &[f64; 4], action: usize) -> [f64; 4] {
        physics::advance(*state, action)
    }

    fn is_terminal(&self, state: &[f64; 4]) -> bool {
        physics::is_terminal(state)
    }

    fn reward(&self, _state: &[f64; 4], terminated: bool) -> f64 {
        if terminated { 0.0 } else { -1.0 }
    }

    fn observe(&self, state: &[f64; 4], obs: &mut [f32]) {
        physics::observe(state, obs);
    }

    fn observe_terminal(&self, state: &[f64; 4], obs: &mut [f32]) -> bool {
        physics::observe_terminal(state, obs)
    }

    fn initial_state(&self) -> [f64; 4] {
        [0.0; 4]
    }
}

/// One Acrobot environment with Gymnasium's episode rules.
///
/// ```
/// use env_core::Env;
/// use rand::SeedableRng;
///
/// let mut env = acrobot_sim::v1();
/// let mut obs = [0.0f32; 6];
/// env.reset(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7), (&mut obs[..]).into())?;
/// let step = env.step(1, (&mut obs[..]).into())?; // no torque
/// assert_eq!(step.reward, -1.0);
/// # Ok::<(), env_core::EnvError>(())
/// ```
pub type Acrobot = Episodic<AcrobotDynamics>;

/// Acrobot-v1: truncated at 500 steps.
#[must_use]
pub fn v1() -> Acrobot {
    Episodic::new(AcrobotDynamics, MAX_EPISODE_STEPS).expect("500 is a valid step limit")
}

/// Makes Acrobot environments for a training loop: single ones, and batches
/// with same-step auto-reset.
pub type AcrobotFamily = EpisodicFamily<AcrobotDynamics>;
