//! Space Invaders: a cannon in the bottom row shoots at a block of aliens
//! that marches side to side and down, and shoots back; no randomness.

use crate::{Action, Grid, SIDE};

/// Channels: 0 cannon, 1 alien, 2 alien moving left, 3 alien moving right,
/// 4 friendly bullet, 5 enemy bullet.
pub(crate) const CHANNELS: usize = 6;

const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_MOVE_INTERVAL: i32 = 12;
const ENEMY_SHOT_INTERVAL: i32 = 10;

/// A 10 × 10 map, `[y][x]`.
type Map = [[bool; SIDE]; SIDE];

/// The wave: rows 0..4, columns 2..8.
fn wave() -> Map {
    let mut map = [[false; SIDE]; SIDE];
    for row in &mut map[..4] {
        row[2..8].fill(true);
    }
    map
}

/// `np.roll(map, shift, axis=0)`: rows moved down by `shift`, wrapping.
fn roll_rows(map: &Map, shift: isize) -> Map {
    std::array::from_fn(|y| map[(y as isize - shift).rem_euclid(SIDE as isize) as usize])
}

/// `np.roll(map, shift, axis=1)`: columns moved right by `shift`, wrapping.
fn roll_columns(map: &Map, shift: isize) -> Map {
    std::array::from_fn(|y| std::array::from_fn(|x| map[y][(x as isize - shift).rem_euclid(SIDE as isize) as usize]))
}

/// The state of a Space Invaders game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpaceInvaders {
    ramping: bool,
    pos: usize,
    f_bullets: Map,
    e_bullets: Map,
    aliens: Map,
    /// −1 left, +1 right.
    alien_dir: isize,
    enemy_move_interval: i32,
    alien_move_timer: i32,
    alien_shot_timer: i32,
    ramp_index: i32,
    shot_timer: i32,
    terminal: bool,
}

impl SpaceInvaders {
    pub(crate) fn new(ramping: bool) -> Self {
        Self {
            ramping,
            pos: 5,
            f_bullets: [[false; SIDE]; SIDE],
            e_bullets: [[false; SIDE]; SIDE],
            aliens: wave(),
            alien_dir: -1,
            enemy_move_interval: ENEMY_MOVE_INTERVAL,
            alien_move_timer: ENEMY_MOVE_INTERVAL,
            alien_shot_timer: ENEMY_SHOT_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
            terminal: false,
        }
    }

    pub(crate) fn terminal(&self) -> bool {
        self.terminal
    }

    fn alien_count(&self) -> i32 {
        self.aliens.iter().flatten().filter(|&&a| a).count() as i32
    }

    pub(crate) fn act(&mut self, action: Action) -> i32 {
        if self.terminal {
            return 0;
        }
        match action {
            Action::Fire if self.shot_timer == 0 => {
                self.f_bullets[9][self.pos] = true;
                self.shot_timer = SHOT_COOL_DOWN;
            }
            Action::Left => self.pos = self.pos.saturating_sub(1),
            Action::Right => self.pos = (self.pos + 1).min(9),
            _ => {}
        }
        self.f_bullets = roll_rows(&self.f_bullets, -1);
        self.f_bullets[9] = [false; SIDE];
        self.e_bullets = roll_rows(&self.e_bullets, 1);
        self.e_bullets[0] = [false; SIDE];
        if self.e_bullets[9][self.pos] || self.aliens[9][self.pos] {
            self.terminal = true;
        }
        if self.alien_move_timer == 0 {
            self.alien_move_timer = self.alien_count().min(self.enemy_move_interval);
            let column = |x: usize| self.aliens.iter().any(|row| row[x]);
            if (column(0) && self.alien_dir < 0) || (column(9) && self.alien_dir > 0) {
                self.alien_dir = -self.alien_dir;
                if self.aliens[9].iter().any(|&a| a) {
                    self.terminal = true;
                }
                self.aliens = roll_rows(&self.aliens, 1);
            } else {
                self.aliens = roll_columns(&self.aliens, self.alien_dir);
            }
            if self.aliens[9][self.pos] {
                self.terminal = true;
            }
        }
        if self.alien_shot_timer == 0 {
            self.alien_shot_timer = ENEMY_SHOT_INTERVAL;
            if let Some((y, x)) = self.nearest_alien() {
                self.e_bullets[y][x] = true;
            }
        }
        let mut reward = 0;
        for (aliens, bullets) in self.aliens.iter_mut().zip(&mut self.f_bullets) {
            for (a, b) in aliens.iter_mut().zip(bullets.iter_mut()) {
                if *a && *b {
                    (*a, *b) = (false, false);
                    reward += 1;
                }
            }
        }
        if self.shot_timer > 0 {
            self.shot_timer -= 1;
        }
        self.alien_move_timer -= 1;
        self.alien_shot_timer -= 1;
        if self.alien_count() == 0 {
            if self.enemy_move_interval > 6 && self.ramping {
                self.enemy_move_interval -= 1;
                self.ramp_index += 1;
            }
            self.aliens = wave();
        }
        reward
    }

    /// The lowest alien of the column nearest the cannon (ties to the
    /// lower column: Python's stable sort).
    fn nearest_alien(&self) -> Option<(usize, usize)> {
        let mut order: [usize; SIDE] = std::array::from_fn(|i| i);
        order.sort_by_key(|&x| x.abs_diff(self.pos));
        order.into_iter().find_map(|x| (0..SIDE).rev().find(|&y| self.aliens[y][x]).map(|y| (y, x)))
    }

    pub(crate) fn draw(&self, grid: &mut Grid) {
        grid.set(0, 9, self.pos as i32);
        let moving = if self.alien_dir < 0 { 2 } else { 3 };
        grid.set_plane(1, &self.aliens);
        grid.set_plane(moving, &self.aliens);
        grid.set_plane(4, &self.f_bullets);
        grid.set_plane(5, &self.e_bullets);
    }
}
