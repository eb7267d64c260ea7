//! Breakout: a paddle in the bottom row, a ball moving diagonally, three
//! rows of bricks that refill when cleared.

use crate::numpy_random::NumpyRandom;
use crate::{Action, Grid, SIDE};

/// Channels: 0 paddle, 1 ball, 2 trail (the ball's previous cell), 3 brick.
pub(crate) const CHANNELS: usize = 4;

/// The state of a Breakout game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Breakout {
    ball_x: i32,
    ball_y: i32,
    /// 0 up-left, 1 up-right, 2 down-right, 3 down-left.
    ball_dir: usize,
    last_x: i32,
    last_y: i32,
    paddle: i32,
    /// `[y][x]`.
    bricks: [[bool; SIDE]; SIDE],
    /// Whether the ball hit a brick on the step before (the next brick it
    /// meets is entered without a hit: the reference's quirk).
    strike: bool,
    terminal: bool,
}

/// Rows 1..=3 of bricks.
fn full_wall() -> [[bool; SIDE]; SIDE] {
    let mut bricks = [[false; SIDE]; SIDE];
    for row in &mut bricks[1..4] {
        *row = [true; SIDE];
    }
    bricks
}

impl Breakout {
    /// A new game: `randint(2)` picks the ball's corner.
    pub(crate) fn new(random: &mut NumpyRandom) -> Self {
        let (ball_x, ball_dir) = if random.randint(crate::TWO) == 0 { (0, 2) } else { (9, 3) };
        Self {
            ball_x,
            ball_y: 3,
            ball_dir,
            last_x: ball_x,
            last_y: 3,
            paddle: 4,
            bricks: full_wall(),
            strike: false,
            terminal: false,
        }
    }

    pub(crate) fn terminal(&self) -> bool {
        self.terminal
    }

    pub(crate) fn act(&mut self, action: Action) -> i32 {
        if self.terminal {
            return 0;
        }
        let mut reward = 0;
        // Up and down leave the paddle (always in 0..=9) where it is.
        self.paddle = (self.paddle + action.delta().0).clamp(0, 9);
        (self.last_x, self.last_y) = (self.ball_x, self.ball_y);
        let (dx, dy) = [(-1, -1), (1, -1), (1, 1), (-1, 1)][self.ball_dir];
        let (mut x, mut y) = (self.ball_x + dx, self.ball_y + dy);
        let mut strike_toggle = false;
        if !(0..=9).contains(&x) {
            x = x.clamp(0, 9);
            self.ball_dir = [1, 0, 3, 2][self.ball_dir];
        }
        if y < 0 {
            y = 0;
            self.ball_dir = [3, 2, 1, 0][self.ball_dir];
        } else if self.bricks[y as usize][x as usize] {
            strike_toggle = true;
            if !self.strike {
                reward += 1;
                self.strike = true;
                self.bricks[y as usize][x as usize] = false;
                y = self.last_y;
                self.ball_dir = [3, 2, 1, 0][self.ball_dir];
            }
        } else if y == 9 {
            if self.bricks.iter().flatten().all(|&b| !b) {
                self.bricks = full_wall();
            }
            if self.ball_x == self.paddle {
                self.ball_dir = [3, 2, 1, 0][self.ball_dir];
                y = self.last_y;
            } else if x == self.paddle {
                self.ball_dir = [2, 3, 0, 1][self.ball_dir];
                y = self.last_y;
            } else {
                self.terminal = true;
            }
        }
        if !strike_toggle {
            self.strike = false;
        }
        (self.ball_x, self.ball_y) = (x, y);
        reward
    }

    pub(crate) fn draw(&self, grid: &mut Grid) {
        grid.set(0, 9, self.paddle);
        grid.set(1, self.ball_y, self.ball_x);
        grid.set(2, self.last_y, self.last_x);
        grid.set_plane(3, &self.bricks);
    }
}
