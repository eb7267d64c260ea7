#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! Catch is [`CatchDynamics`] (the board's rules as pure functions of a
//! three-number state: the ball's row and column and the paddle's column)
//! inside `env_core`'s episode rules, like the classic-control crates; it
//! differs from them only in what it shows: a binary image instead of a
//! state vector.
//!
//! Main types: [`Catch`] (one environment), [`CatchFamily`] (single
//! environments and batches of them, for a training loop), and the board's
//! constants ([`ROWS`], [`COLUMNS`], [`OBS_LEN`]).
//!
//! What it deliberately does not do: rendering, I/O, owning an RNG,
//! other board sizes (the observation length is a constant of the
//! dynamics), or knowing anything about agents.

use env_core::{Dynamics, EnvError, EnvSpec, Episodic, EpisodicFamily, ObsSpace, ObsType};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

/// The environment's id.
pub const ID: &str = "Catch-bsuite";
/// The board's rows; the ball starts in row 0, the paddle is in the last.
pub const ROWS: usize = 10;
/// The board's columns.
pub const COLUMNS: usize = 5;
/// Cells in one observation: the board, one binary plane.
pub const OBS_LEN: usize = ROWS * COLUMNS;
/// The length of every episode: the ball falls from the top row to the
/// bottom one.
pub const EPISODE_STEPS: u32 = ROWS as u32 - 1;
/// The step limit that means none: Catch's episodes always terminate, on
/// step [`EPISODE_STEPS`], and bsuite puts no limit on them. The spec then
/// reports no limit.
pub const NO_LIMIT: u32 = u32::MAX;
/// The column the paddle starts in (bsuite's `columns // 2`).
pub const PADDLE_START: usize = COLUMNS / 2;

/// Catch's rules on the 10 × 5 board. The state is `[ball row, ball
/// column, paddle column]`, whole numbers stored as `f64` (the episode
/// rules' state type).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchDynamics;

/// An entry of the state as a cell index (the state was checked to hold
/// whole numbers on the board).
fn cell(value: f64) -> usize {
    value as usize
}

impl Dynamics for CatchDynamics {
    type State = [f64; 3];
    type Element = u8;
    const OBS_LEN: usize = OBS_LEN;
    const N_ACTIONS: usize = 3;

    fn spec(&self, max_episode_steps: u32) -> EnvSpec {
        EnvSpec {
            id: ID.to_string(),
            obs: ObsSpace::new(vec![1, ROWS, COLUMNS], ObsType::Bit).expect("a 1 × 10 × 5 board is a valid shape"),
            n_actions: 3,
            max_episode_steps: (max_episode_steps != NO_LIMIT).then_some(max_episode_steps),
            // A perfect policy catches every ball (+1); bsuite's own
            // score is the regret against it.
            reward_threshold: None,
            obs_ranges: Vec::new(),
        }
    }

    fn draw_start(&self, rng: &mut dyn RngCore) -> [f64; 3] {
        let column = rng.random_range(0..COLUMNS as u32);
        [0.0, f64::from(column), PADDLE_START as f64]
    }

    /// The paddle moves first (stopping at the walls), then the ball falls
    /// one row: bsuite's order, which decides whether a last-moment move
    /// still catches the ball (it does).
    fn advance(&self, state: &[f64; 3], action: usize) -> [f64; 3] {
        let [row, column, paddle] = *state;
        let paddle = match action {
            0 => (paddle - 1.0).max(0.0),
            2 => (paddle + 1.0).min((COLUMNS - 1) as f64),
            _ => paddle,
        };
        [row + 1.0, column, paddle]
    }

    fn is_terminal(&self, state: &[f64; 3]) -> bool {
        cell(state[0]) == ROWS - 1
    }

    fn reward(&self, state: &[f64; 3], terminated: bool) -> f64 {
        match (terminated, state[1] == state[2]) {
            (false, _) => 0.0,
            (true, true) => 1.0,
            (true, false) => -1.0,
        }
    }

    fn observe(&self, state: &[f64; 3], obs: &mut [u8]) {
        obs.fill(0);
        obs[cell(state[0]) * COLUMNS + cell(state[1])] = 1;
        obs[(ROWS - 1) * COLUMNS + cell(state[2])] = 1;
    }

    fn initial_state(&self) -> [f64; 3] {
        [0.0, PADDLE_START as f64, PADDLE_START as f64]
    }

    fn check_state(&self, state: &[f64; 3]) -> Result<(), EnvError> {
        const ALLOWED: [&str; 3] = [
            "an integer from 0 to 9 (the ball's row)",
            "an integer from 0 to 4 (a column)",
            "an integer from 0 to 4 (a column)",
        ];
        let limits = [ROWS - 1, COLUMNS - 1, COLUMNS - 1];
        for (index, (&value, limit)) in state.iter().zip(limits).enumerate() {
            if value.fract() != 0.0 || !(0.0..=limit as f64).contains(&value) {
                return Err(EnvError::StateOutOfRange { index, value, allowed: ALLOWED[index] });
            }
        }
        Ok(())
    }
}

/// One Catch environment: [`CatchDynamics`] with the episode rules.
///
/// ```
/// use env_core::Env;
/// use rand::SeedableRng;
///
/// let mut env = catch_sim::bsuite();
/// let mut board = [0u8; catch_sim::OBS_LEN];
/// env.reset(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0), (&mut board[..]).into())?;
/// assert_eq!(board.iter().map(|&c| u32::from(c)).sum::<u32>(), 2); // a ball and a paddle
/// let mut steps = 0;
/// while !env.step(1, (&mut board[..]).into())?.is_done() {
///     steps += 1;
/// }
/// assert_eq!(steps + 1, catch_sim::EPISODE_STEPS);
/// # Ok::<(), env_core::EnvError>(())
/// ```
pub type Catch = Episodic<CatchDynamics>;

/// Catch with bsuite's rules: no step limit (every episode ends on its 9th
/// step by termination).
#[must_use]
pub fn bsuite() -> Catch {
    Episodic::new(CatchDynamics, NO_LIMIT).expect("NO_LIMIT is a valid step limit")
}

/// Makes Catch environments for a training loop: single ones, and batches
/// with same-step auto-reset.
pub type CatchFamily = EpisodicFamily<CatchDynamics>;

/// The family of [`bsuite`] environments.
#[must_use]
pub fn family() -> CatchFamily {
    EpisodicFamily::new(CatchDynamics, NO_LIMIT).expect("NO_LIMIT is a valid step limit")
}
