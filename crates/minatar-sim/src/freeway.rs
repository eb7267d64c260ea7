//! Freeway: a chicken crosses eight lanes of cars; each crossing scores
//! and re-draws the cars' speeds; the game ends after 2 500 frames.

use std::num::NonZeroU32;

use crate::numpy_random::NumpyRandom;
use crate::{Action, Grid};

/// Channels: 0 chicken, 1 car, 2..=6 the cell behind a car of speed 1..=5.
pub(crate) const CHANNELS: usize = 7;

const PLAYER_SPEED: i32 = 3;
const TIME_LIMIT: i32 = 2500;
const FIVE: NonZeroU32 = NonZeroU32::new(5).expect("5 is not 0");

/// A car in row `y`, moving one cell every `|speed| + 1` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Car {
    x: i32,
    y: i32,
    timer: i32,
    /// ±1..=5: the sign is the direction.
    speed: i32,
}

/// The state of a Freeway game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Freeway {
    cars: [Car; 8],
    /// The chicken's row (its column is 4).
    pos: i32,
    move_timer: i32,
    terminate_timer: i32,
    terminal: bool,
}

/// Eight speeds `randint(1, 6, 8)`, then eight directions
/// `sign(rand(8) − 0.5)`: the package's draws, in its order.
fn random_speeds(random: &mut NumpyRandom) -> [i32; 8] {
    let magnitudes: [i32; 8] = std::array::from_fn(|_| 1 + random.randint(FIVE) as i32);
    std::array::from_fn(|i| {
        let u = random.rand() - 0.5;
        // np.sign: 0 for exactly 0.5 (odds 2⁻⁵³ a draw; the package's
        // state() would then fail, this port keeps a still car).
        let sign = if u > 0.0 {
            1
        } else if u < 0.0 {
            -1
        } else {
            0
        };
        magnitudes[i] * sign
    })
}

impl Freeway {
    pub(crate) fn new(random: &mut NumpyRandom) -> Self {
        let speeds = random_speeds(random);
        let cars = std::array::from_fn(|i| Car { x: 0, y: i as i32 + 1, timer: speeds[i].abs(), speed: speeds[i] });
        Self { cars, pos: 9, move_timer: PLAYER_SPEED, terminate_timer: TIME_LIMIT, terminal: false }
    }

    pub(crate) fn terminal(&self) -> bool {
        self.terminal
    }

    pub(crate) fn act(&mut self, action: Action, random: &mut NumpyRandom) -> i32 {
        if self.terminal {
            return 0;
        }
        let mut reward = 0;
        if self.move_timer == 0 {
            match action {
                Action::Up => {
                    self.move_timer = PLAYER_SPEED;
                    self.pos = (self.pos - 1).max(0);
                }
                Action::Down => {
                    self.move_timer = PLAYER_SPEED;
                    self.pos = (self.pos + 1).min(9);
                }
                _ => {}
            }
        }
        if self.pos == 0 {
            reward += 1;
            // New speeds (and timers) for the cars where they are.
            let speeds = random_speeds(random);
            for (car, speed) in self.cars.iter_mut().zip(speeds) {
                (car.timer, car.speed) = (speed.abs(), speed);
            }
            self.pos = 9;
        }
        for car in &mut self.cars {
            if (car.x, car.y) == (4, self.pos) {
                self.pos = 9;
            }
            if car.timer == 0 {
                car.timer = car.speed.abs();
                car.x += if car.speed > 0 { 1 } else { -1 };
                if car.x < 0 {
                    car.x = 9;
                } else if car.x > 9 {
                    car.x = 0;
                }
                if (car.x, car.y) == (4, self.pos) {
                    self.pos = 9;
                }
            } else {
                car.timer -= 1;
            }
        }
        if self.move_timer > 0 {
            self.move_timer -= 1;
        }
        self.terminate_timer -= 1;
        if self.terminate_timer < 0 {
            self.terminal = true;
        }
        reward
    }

    pub(crate) fn draw(&self, grid: &mut Grid) {
        grid.set(0, self.pos, 4);
        for car in &self.cars {
            grid.set(1, car.y, car.x);
            let back = match if car.speed > 0 { car.x - 1 } else { car.x + 1 } {
                -1 => 9,
                10 => 0,
                x => x,
            };
            let speed = car.speed.unsigned_abs() as usize;
            if (1..=5).contains(&speed) {
                grid.set(1 + speed, car.y, back);
            }
        }
    }
}
