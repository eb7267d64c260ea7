//! The pure physics of CartPole: constants and one state transition.
//!
//! Every expression keeps Gymnasium's operand order with one IEEE-754 rounding
//! per operation: no fused multiply-add, no reassociation, no precomputed
//! reciprocals. That is what makes the results equal Gymnasium's bit for bit;
//! "simplifying" any line below (say `a / b / c` into `a / (b * c)`) breaks the
//! golden tests.

use crate::env::{Action, Integrator};

/// Gravitational acceleration, m/s².
pub const GRAVITY: f64 = 9.8;
/// Mass of the cart, kg.
pub const MASS_CART: f64 = 1.0;
/// Mass of the pole, kg.
pub const MASS_POLE: f64 = 0.1;
/// `MASS_POLE + MASS_CART`, as Gymnasium computes it (equal to the literal 1.1).
pub const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
/// HALF the pole's length, m (Gymnasium calls it `length`).
pub const HALF_POLE_LENGTH: f64 = 0.5;
/// `MASS_POLE * HALF_POLE_LENGTH`.
pub const POLE_MASS_LENGTH: f64 = MASS_POLE * HALF_POLE_LENGTH;
/// Magnitude of the force applied by an action, N.
pub const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
pub const TAU: f64 = 0.02;
/// The pole angle beyond which an episode terminates, rad.
///
/// Gymnasium writes `12 * 2 * math.pi / 360`, evaluated left to right; this
/// equals bits `0x3FCACEE9F37BEBD5`. `12f64.to_radians()` is one ULP higher.
pub const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// The cart position beyond which an episode terminates, m.
pub const X_THRESHOLD: f64 = 2.4;

/// The state after one step of `TAU` seconds under `action`.
///
/// `state` is `[x, x_dot, theta, theta_dot]`.
#[must_use]
pub fn advance(state: [f64; 4], action: Action, integrator: Integrator) -> [f64; 4] {
    let [x, x_dot, theta, theta_dot] = state;
    let force = match action {
        Action::Right => FORCE_MAG,
        Action::Left => -FORCE_MAG,
    };
    let cos_theta = theta.cos();
    let sin_theta = theta.sin();
    let temp = (force + ((POLE_MASS_LENGTH * (theta_dot * theta_dot)) * sin_theta)) / TOTAL_MASS;
    let theta_acc = ((GRAVITY * sin_theta) - (cos_theta * temp))
        / (HALF_POLE_LENGTH * (4.0 / 3.0 - ((MASS_POLE * (cos_theta * cos_theta)) / TOTAL_MASS)));
    let x_acc = temp - (((POLE_MASS_LENGTH * theta_acc) * cos_theta) / TOTAL_MASS);
    match integrator {
        // Positions move with the velocities from before this step.
        Integrator::Euler => {
            [x + (TAU * x_dot), x_dot + (TAU * x_acc), theta + (TAU * theta_dot), theta_dot + (TAU * theta_acc)]
        }
        // Velocities first; positions move with the new velocities.
        Integrator::SemiImplicitEuler => {
            let x_dot = x_dot + (TAU * x_acc);
            let theta_dot = theta_dot + (TAU * theta_acc);
            [x + (TAU * x_dot), x_dot, theta + (TAU * theta_dot), theta_dot]
        }
    }
}

/// Whether `state` is out of bounds: the cart beyond ±`X_THRESHOLD` or the
/// pole beyond ±`THETA_THRESHOLD`. Strict: exactly on a bound is still alive,
/// and velocities are never checked.
#[must_use]
// Gymnasium's four comparisons, kept literally: `!range.contains` would also
// call a NaN state out of bounds, where Gymnasium's comparisons are all false.
#[allow(clippy::manual_range_contains)]
pub fn is_out_of_bounds(state: &[f64; 4]) -> bool {
    let [x, _, theta, _] = *state;
    x < -X_THRESHOLD || x > X_THRESHOLD || theta < -THETA_THRESHOLD || theta > THETA_THRESHOLD
}

/// The observation of a state: each entry rounded to the nearest `f32`.
#[must_use]
pub fn observe(state: &[f64; 4]) -> [f32; 4] {
    // `as f32` rounds to nearest-even, like numpy's float64 → float32 cast.
    state.map(|v| v as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theta_threshold_has_gymnasium_bits() {
        assert_eq!(THETA_THRESHOLD.to_bits(), 0x3FCA_CEE9_F37B_EBD5);
        assert_ne!(THETA_THRESHOLD, 12f64.to_radians());
    }

    #[test]
    fn total_mass_equals_literal() {
        assert_eq!(TOTAL_MASS, 1.1);
        assert_eq!(POLE_MASS_LENGTH, 0.05);
    }

    #[test]
    fn bounds_are_strict() {
        assert!(!is_out_of_bounds(&[X_THRESHOLD, 0.0, 0.0, 0.0]));
        assert!(!is_out_of_bounds(&[-X_THRESHOLD, 0.0, -THETA_THRESHOLD, 0.0]));
        assert!(is_out_of_bounds(&[X_THRESHOLD.next_up(), 0.0, 0.0, 0.0]));
        assert!(is_out_of_bounds(&[0.0, 0.0, (-THETA_THRESHOLD).next_down(), 0.0]));
        assert!(!is_out_of_bounds(&[0.0, 1e9, 0.0, -1e9]));
    }

    #[test]
    fn pushes_go_the_right_way() {
        let rest = [0.0; 4];
        let right = advance(rest, Action::Right, Integrator::SemiImplicitEuler);
        let left = advance(rest, Action::Left, Integrator::SemiImplicitEuler);
        // Pushing right accelerates the cart right and tips the pole left.
        assert!(right[1] > 0.0 && right[3] < 0.0);
        assert!(left[1] < 0.0 && left[3] > 0.0);
        // Euler moves positions with the old (zero) velocities.
        let euler = advance(rest, Action::Right, Integrator::Euler);
        assert_eq!(euler[0], 0.0);
        assert!(right[0] > 0.0);
    }
}
