#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! [`MinAtar`] is the package's `Environment` wrapper: a game, the
//! sticky-action probability, and one [`NumpyRandom`] stream that the
//! sticky draws and the game share after [`MinAtar::seed`], exactly as the
//! package shares `self.random`. Each game is its own module holding its
//! state and its rules, in the reference's order of operations and of
//! random draws. Observations are the package's boolean planes written
//! channel-major (`[c][y][x]`, a byte 0 or 1 per cell), the layout a
//! convolution reads; [`MinAtar::state_hwc`] gives the package's own
//! `[y][x][c]` order.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

mod asterix;
mod breakout;
mod freeway;
mod numpy_random;
mod seam;
mod seaquest;
mod space_invaders;

pub use numpy_random::NumpyRandom;
pub use seam::{ActionSet, EpisodeLog, MinAtarEnv, MinAtarFamily, Rules, StoredMinAtarEnv};

/// The side of the board.
pub const SIDE: usize = 10;

/// Every game takes these six actions (a game ignores those it does not
/// use).
pub const N_ACTIONS: usize = 6;

const TWO: NonZeroU32 = NonZeroU32::new(2).expect("2 is not 0");

/// The five games.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Game {
    /// Asterix.
    Asterix,
    /// Breakout.
    Breakout,
    /// Freeway.
    Freeway,
    /// Seaquest.
    Seaquest,
    /// Space Invaders.
    SpaceInvaders,
}

impl Game {
    /// The package's name for the game (`Environment(name)`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Asterix => "asterix",
            Self::Breakout => "breakout",
            Self::Freeway => "freeway",
            Self::Seaquest => "seaquest",
            Self::SpaceInvaders => "space_invaders",
        }
    }

    /// The name in the package's Gymnasium ids (`MinAtar/<name>-v0`): the
    /// package's name in title case without underscores.
    #[must_use]
    pub fn gym_name(self) -> &'static str {
        match self {
            Self::Asterix => "Asterix",
            Self::Breakout => "Breakout",
            Self::Freeway => "Freeway",
            Self::Seaquest => "Seaquest",
            Self::SpaceInvaders => "SpaceInvaders",
        }
    }

    /// Every game, in the package's order.
    pub const ALL: [Self; 5] = [Self::Asterix, Self::Breakout, Self::Freeway, Self::Seaquest, Self::SpaceInvaders];

    /// The game with this package name (`"space_invaders"`) or Gymnasium
    /// name (`"SpaceInvaders"`), in any case.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        let wanted = name.to_ascii_lowercase().replace('_', "");
        Self::ALL.into_iter().find(|g| g.gym_name().to_ascii_lowercase() == wanted)
    }

    /// Planes of an observation.
    #[must_use]
    pub fn channels(self) -> usize {
        match self {
            Self::Asterix => asterix::CHANNELS,
            Self::Breakout => breakout::CHANNELS,
            Self::Freeway => freeway::CHANNELS,
            Self::Seaquest => seaquest::CHANNELS,
            Self::SpaceInvaders => space_invaders::CHANNELS,
        }
    }

    /// The actions that do something in this game, as indices of the six
    /// (the package's `minimal_action_set()`, the `-v1` ids' actions).
    #[must_use]
    pub fn minimal_actions(self) -> &'static [usize] {
        match self {
            Self::Asterix => &[0, 1, 2, 3, 4],
            Self::Breakout => &[0, 1, 3],
            Self::Freeway => &[0, 2, 4],
            Self::Seaquest => &[0, 1, 2, 3, 4, 5],
            Self::SpaceInvaders => &[0, 1, 3, 5],
        }
    }
}

/// The six actions, in the package's order `n l u r d f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Noop,
    Left,
    Up,
    Right,
    Down,
    Fire,
}

impl Action {
    fn from_index(index: usize) -> Option<Self> {
        [Self::Noop, Self::Left, Self::Up, Self::Right, Self::Down, Self::Fire].get(index).copied()
    }

    /// The move `(dx, dy)` (up is −y), read from a table: random actions
    /// would mispredict a branch on the action every step.
    fn delta(self) -> (i32, i32) {
        const DELTAS: [(i32, i32); N_ACTIONS] = [(0, 0), (-1, 0), (0, -1), (1, 0), (0, 1), (0, 0)];
        DELTAS[self as usize]
    }
}

/// An observation being drawn: `channels` planes of 10 × 10 cells.
pub(crate) struct Grid<'a> {
    cells: &'a mut [u8],
}

impl Grid<'_> {
    /// Marks cell `(y, x)` of plane `c`.
    fn set(&mut self, c: usize, y: i32, x: i32) {
        // A negative coordinate becomes a huge one: one test per axis.
        let (y, x) = (y as u32 as usize, x as u32 as usize);
        if y < SIDE && x < SIDE {
            self.cells[(c * SIDE + y) * SIDE + x] = 1;
        }
    }

    /// Marks cells `xs` of row `y` of plane `c` (a run inside the board).
    fn set_run(&mut self, c: usize, y: usize, xs: std::ops::Range<usize>) {
        let row = (c * SIDE + y) * SIDE;
        self.cells[row..row + SIDE][xs].fill(1);
    }

    /// Writes plane `c` whole from a board of flags (`[y][x]`), one copy
    /// instead of a checked [`set`](Self::set) per cell.
    fn set_plane(&mut self, c: usize, board: &[[bool; SIDE]; SIDE]) {
        let plane = &mut self.cells[c * SIDE * SIDE..(c + 1) * SIDE * SIDE];
        for (cell, &flag) in plane.iter_mut().zip(board.as_flattened()) {
            *cell = u8::from(flag);
        }
    }
}

/// The settings of `Environment(game, sticky_action_prob, difficulty_ramping)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The probability that the previous action is repeated (0.1).
    pub sticky_action_prob: f64,
    /// Whether the game speeds up over time (on).
    pub difficulty_ramping: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self { sticky_action_prob: 0.1, difficulty_ramping: true }
    }
}

/// A game's state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GameState {
    Asterix(asterix::Asterix),
    Breakout(breakout::Breakout),
    Freeway(freeway::Freeway),
    Seaquest(seaquest::Seaquest),
    SpaceInvaders(space_invaders::SpaceInvaders),
}

/// What an action out of range is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionOutOfRange {
    /// The action given.
    pub action: usize,
}

impl std::fmt::Display for ActionOutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "action {} is not one of MinAtar's {N_ACTIONS} actions (0..=5)", self.action)
    }
}

impl std::error::Error for ActionOutOfRange {}

/// The integer `t` with `k < t` exactly when `k / 2⁵³ < p`, for the 53-bit
/// integers `k` that `rand()` divides by 2⁵³ (exactly, as both are powers
/// of two apart): `⌈p · 2⁵³⌉`, which is exact too. A NaN or negative `p`
/// gives 0 (never below), `p ≥ 1` at least 2⁵³ (always), as the
/// comparison of doubles does. Saves the sticky draw its conversions.
fn sticky_threshold(p: f64) -> u64 {
    // `as` saturates: NaN and negatives to 0, the huge to u64::MAX.
    (p * 9_007_199_254_740_992.0).ceil() as u64
}

/// A MinAtar environment: the package's `Environment` after `seed(s)`.
#[derive(Debug, Clone)]
pub struct MinAtar {
    game: Game,
    settings: Settings,
    /// `rand() < sticky_action_prob` as `rand_bits() < sticky_below`: see
    /// [`sticky_threshold`].
    sticky_below: u64,
    random: NumpyRandom,
    last_action: usize,
    state: GameState,
}

impl MinAtar {
    /// `Environment(game, …)`, then `seed(seed)` and `reset()`: the game
    /// the package plays after those three calls.
    #[must_use]
    pub fn new(game: Game, settings: Settings, seed: u32) -> Self {
        let mut random = NumpyRandom::new(seed);
        let state = Self::start(game, settings, &mut random);
        Self {
            game,
            settings,
            sticky_below: sticky_threshold(settings.sticky_action_prob),
            random,
            last_action: 0,
            state,
        }
    }

    fn start(game: Game, settings: Settings, random: &mut NumpyRandom) -> GameState {
        match game {
            Game::Asterix => GameState::Asterix(asterix::Asterix::new(settings.difficulty_ramping)),
            Game::Breakout => GameState::Breakout(breakout::Breakout::new(random)),
            Game::Freeway => GameState::Freeway(freeway::Freeway::new(random)),
            Game::Seaquest => GameState::Seaquest(seaquest::Seaquest::new(settings.difficulty_ramping)),
            Game::SpaceInvaders => {
                GameState::SpaceInvaders(space_invaders::SpaceInvaders::new(settings.difficulty_ramping))
            }
        }
    }

    /// The game.
    #[must_use]
    pub fn game(&self) -> Game {
        self.game
    }

    /// `seed(seed)`: a new stream, shared by the sticky actions and the
    /// game. The game itself is not restarted (call [`reset`](Self::reset)).
    pub fn seed(&mut self, seed: u32) {
        self.random.reseed(seed);
    }

    /// `reset()`: a new game from the shared stream. The last action is
    /// kept, as the package keeps it.
    pub fn reset(&mut self) {
        match &mut self.state {
            // Seaquest's object lists keep their allocations (a random
            // episode lasts about 31 frames; fresh lists cost several
            // allocations each time). It draws nothing at its start.
            GameState::Seaquest(g) => g.restart(),
            _ => self.state = Self::start(self.game, self.settings, &mut self.random),
        }
    }

    /// `act(a)`: the sticky draw (always made), then one frame of the
    /// game; returns the reward and whether the game is over.
    ///
    /// # Errors
    /// [`ActionOutOfRange`] for an action above 5 (nothing is drawn then).
    pub fn act(&mut self, action: usize) -> Result<(i32, bool), ActionOutOfRange> {
        if action >= N_ACTIONS {
            return Err(ActionOutOfRange { action });
        }
        let action = if self.random.rand_bits() < self.sticky_below { self.last_action } else { action };
        self.last_action = action;
        let action = Action::from_index(action).ok_or(ActionOutOfRange { action })?;
        // One dispatch for both (a second `match` in `terminal` cost a
        // tenth of a step).
        Ok(match &mut self.state {
            GameState::Asterix(g) => (g.act(action, &mut self.random), g.terminal()),
            GameState::Breakout(g) => (g.act(action), g.terminal()),
            GameState::Freeway(g) => (g.act(action, &mut self.random), g.terminal()),
            GameState::Seaquest(g) => (g.act(action, &mut self.random), g.terminal()),
            GameState::SpaceInvaders(g) => (g.act(action), g.terminal()),
        })
    }

    /// Whether the game is over.
    #[must_use]
    pub fn terminal(&self) -> bool {
        match &self.state {
            GameState::Asterix(g) => g.terminal(),
            GameState::Breakout(g) => g.terminal(),
            GameState::Freeway(g) => g.terminal(),
            GameState::Seaquest(g) => g.terminal(),
            GameState::SpaceInvaders(g) => g.terminal(),
        }
    }

    /// Cells of an observation: `channels × 10 × 10`.
    #[must_use]
    pub fn obs_len(&self) -> usize {
        self.game.channels() * SIDE * SIDE
    }

    /// The observation, channel-major: `channels × 10 × 10` cells, 0 or 1,
    /// written into `out` (resized to [`obs_len`](Self::obs_len)).
    pub fn state_into(&self, out: &mut Vec<u8>) {
        // `draw` clears the cells itself.
        out.resize(self.obs_len(), 0);
        self.draw(out);
    }

    /// Draws the observation into `cells`, which hold
    /// [`obs_len`](Self::obs_len) zeros or more (the seam checks the length).
    pub(crate) fn draw(&self, cells: &mut [u8]) {
        cells.fill(0);
        let mut grid = Grid { cells };
        match &self.state {
            GameState::Asterix(g) => g.draw(&mut grid),
            GameState::Breakout(g) => g.draw(&mut grid),
            GameState::Freeway(g) => g.draw(&mut grid),
            GameState::Seaquest(g) => g.draw(&mut grid),
            GameState::SpaceInvaders(g) => g.draw(&mut grid),
        }
    }

    /// The observation in the package's layout, `[y][x][c]`.
    #[must_use]
    pub fn state_hwc(&self) -> Vec<u8> {
        let c = self.game.channels();
        let mut planes = Vec::new();
        self.state_into(&mut planes);
        let mut out = vec![0; c * SIDE * SIDE];
        for (i, v) in out.iter_mut().enumerate() {
            let (yx, ch) = (i / c, i % c);
            *v = planes[ch * SIDE * SIDE + yx];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::sticky_threshold;

    const TWO_53: f64 = 9_007_199_254_740_992.0;

    fn doubles_say(k: u64, p: f64) -> bool {
        (k as f64 / TWO_53) < p
    }

    #[test]
    fn the_sticky_threshold_on_its_edges() {
        for p in [0.0, 0.1, 0.5, 1.0, 1.5, -0.1, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE, 5e-324] {
            let t = sticky_threshold(p);
            for k in [0, 1, t.saturating_sub(1), t, t.saturating_add(1), (1 << 53) - 1] {
                let k = k.min((1 << 53) - 1);
                assert_eq!(k < t, doubles_say(k, p), "k {k}, p {p}");
            }
        }
    }

    proptest! {
        /// Comparing the integers is comparing the doubles, for every
        /// 53-bit `k` and probability, on both sides of `p`'s own cell.
        #[test]
        fn the_sticky_threshold_is_the_doubles_comparison(k in 0u64..(1 << 53), p in 0.0f64..=1.0, near: bool) {
            let k = if near { ((p * TWO_53) as u64).min((1 << 53) - 1) } else { k };
            prop_assert_eq!(k < sticky_threshold(p), doubles_say(k, p));
            let k1 = (k + 1).min((1 << 53) - 1);
            prop_assert_eq!(k1 < sticky_threshold(p), doubles_say(k1, p));
        }
    }
}
