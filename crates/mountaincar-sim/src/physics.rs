//! The pure physics of MountainCar: constants, the reset draw and one state
//! transition.
//!
//! Every expression keeps Gymnasium's operand order with one IEEE-754
//! rounding per operation (Python's `velocity += a + b` adds `a + b` first,
//! then adds that to the velocity); `cos` is the platform's libm, as
//! Python's `math.cos`. "Simplifying" a line breaks the golden tests.

use rand::RngCore;

/// The left end of the track.
pub const MIN_POSITION: f64 = -1.2;
/// The right end of the track.
pub const MAX_POSITION: f64 = 0.6;
/// The speed limit in either direction.
pub const MAX_SPEED: f64 = 0.07;
/// Where the flag is.
pub const GOAL_POSITION: f64 = 0.5;
/// The engine's force per step.
pub const FORCE: f64 = 0.001;
/// Gravity's pull along the slope, per step.
pub const GRAVITY: f64 = 0.0025;
/// Gymnasium's reset range for the position (velocity starts at 0).
pub const RESET_LOW: f64 = -0.6;
/// See [`RESET_LOW`].
pub const RESET_HIGH: f64 = -0.4;

/// numpy's `np.clip` on a scalar: `min(max(v, lo), hi)`.
fn clip(v: f64, lo: f64, hi: f64) -> f64 {
    let v = if v < lo { lo } else { v };
    if v > hi { hi } else { v }
}

/// The state `[position, velocity]` after one step under `action` (0 pushes
/// left, 1 does nothing, 2 pushes right; checked by the caller).
#[must_use]
pub fn advance(state: [f64; 2], action: usize) -> [f64; 2] {
    let [position, velocity] = state;
    // `(action - 1) * force`: an integer times a float, exactly -0.001, 0 or
    // 0.001.
    let push = (action as f64 - 1.0) * FORCE;
    let velocity = velocity + (push + ((3.0 * position).cos() * (-GRAVITY)));
    let velocity = clip(velocity, -MAX_SPEED, MAX_SPEED);
    let position = clip(position + velocity, MIN_POSITION, MAX_POSITION);
    // The left wall stops the car.
    let velocity = if position == MIN_POSITION && velocity < 0.0 { 0.0 } else { velocity };
    [position, velocity]
}

/// Whether the car has reached the flag fast enough.
#[must_use]
pub fn is_at_goal(state: &[f64; 2], goal_velocity: f64) -> bool {
    state[0] >= GOAL_POSITION && state[1] >= goal_velocity
}

/// A start position drawn as Gymnasium's `reset` draws it, from `rng`:
/// `low + (high - low) · u` with `u = (next_u64 >> 11) · 2⁻⁵³`, numpy's
/// `Generator.uniform` formula (the stream of numbers is `rng`'s).
pub fn draw_start_position(rng: &mut dyn RngCore) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    let u = (rng.next_u64() >> 11) as f64 * SCALE;
    RESET_LOW + ((RESET_HIGH - RESET_LOW) * u)
}
