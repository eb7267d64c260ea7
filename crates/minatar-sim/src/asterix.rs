//! Asterix: the player moves among eight rows of enemies and gold that
//! cross the board; gold scores, an enemy ends the game.

use std::num::NonZeroU32;

use crate::numpy_random::NumpyRandom;
use crate::{Action, Grid};

/// Channels: 0 player, 1 enemy, 2 trail (the cell behind an entity), 3 gold.
pub(crate) const CHANNELS: usize = 4;

const RAMP_INTERVAL: i32 = 100;
const INIT_SPAWN_SPEED: i32 = 10;
const INIT_MOVE_INTERVAL: i32 = 5;

/// An enemy or a piece of gold, in row `slot + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entity {
    x: i32,
    y: i32,
    /// Moving right.
    right: bool,
    gold: bool,
}

/// The state of an Asterix game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Asterix {
    ramping: bool,
    player_x: i32,
    player_y: i32,
    entities: [Option<Entity>; 8],
    spawn_speed: i32,
    spawn_timer: i32,
    move_speed: i32,
    move_timer: i32,
    ramp_timer: i32,
    ramp_index: i32,
    terminal: bool,
}

impl Asterix {
    pub(crate) fn new(ramping: bool) -> Self {
        Self {
            ramping,
            player_x: 5,
            player_y: 5,
            entities: [None; 8],
            spawn_speed: INIT_SPAWN_SPEED,
            spawn_timer: INIT_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            move_timer: INIT_MOVE_INTERVAL,
            ramp_timer: RAMP_INTERVAL,
            ramp_index: 0,
            terminal: false,
        }
    }

    pub(crate) fn terminal(&self) -> bool {
        self.terminal
    }

    /// The player meeting an entity at its cell: gold is taken (+1), an
    /// enemy ends the game and stays. The reference checks every entity;
    /// an entity keeps the row of its slot (`y = slot + 1`), so only the
    /// one of the player's row can be there.
    fn meet(&mut self) -> i32 {
        let i = usize::try_from(self.player_y - 1).expect("the player's row is 1..=8");
        match self.entities[i] {
            Some(e) if (e.x, e.y) == (self.player_x, self.player_y) => {
                if e.gold {
                    self.entities[i] = None;
                    1
                } else {
                    self.terminal = true;
                    0
                }
            }
            _ => 0,
        }
    }

    pub(crate) fn act(&mut self, action: Action, random: &mut NumpyRandom) -> i32 {
        if self.terminal {
            return 0;
        }
        let mut reward = 0;
        if self.spawn_timer == 0 {
            self.spawn(random);
            self.spawn_timer = self.spawn_speed;
        }
        // Clamping the unmoved axis changes nothing: the player is always
        // inside 0..=9 × 1..=8.
        let (dx, dy) = action.delta();
        self.player_x = (self.player_x + dx).clamp(0, 9);
        self.player_y = (self.player_y + dy).clamp(1, 8);
        reward += self.meet();
        if self.move_timer == 0 {
            self.move_timer = self.move_speed;
            // The reference meets each entity after moving it; moving the
            // others first changes nothing, as a meeting touches only its
            // own entity.
            for slot in &mut self.entities {
                if let Some(e) = slot {
                    e.x += if e.right { 1 } else { -1 };
                    if !(0..=9).contains(&e.x) {
                        *slot = None;
                    }
                }
            }
            reward += self.meet();
        }
        self.spawn_timer -= 1;
        self.move_timer -= 1;
        if self.ramping && (self.spawn_speed > 1 || self.move_speed > 1) {
            if self.ramp_timer >= 0 {
                self.ramp_timer -= 1;
            } else {
                if self.move_speed > 1 && self.ramp_index % 2 == 1 {
                    self.move_speed -= 1;
                }
                if self.spawn_speed > 1 {
                    self.spawn_speed -= 1;
                }
                self.ramp_index += 1;
                self.ramp_timer = RAMP_INTERVAL;
            }
        }
        reward
    }

    /// A new entity in a free row: its side and kind are drawn first, even
    /// when no row is free; then the row, `randint(free rows)` (nothing
    /// drawn for one).
    fn spawn(&mut self, random: &mut NumpyRandom) {
        let right = random.rand() < 0.5;
        let gold = random.rand() < 1.0 / 3.0;
        let free = || (0..self.entities.len()).filter(|&i| self.entities[i].is_none());
        let Some(n) = u32::try_from(free().count()).ok().and_then(NonZeroU32::new) else { return };
        let Some(slot) = free().nth(random.randint(n) as usize) else { return };
        self.entities[slot] = Some(Entity { x: if right { 0 } else { 9 }, y: slot as i32 + 1, right, gold });
    }

    pub(crate) fn draw(&self, grid: &mut Grid) {
        grid.set(0, self.player_y, self.player_x);
        for e in self.entities.iter().flatten() {
            grid.set(if e.gold { 3 } else { 1 }, e.y, e.x);
            grid.set(2, e.y, if e.right { e.x - 1 } else { e.x + 1 });
        }
    }
}
