//! The pure physics of Acrobot: constants, the reset draw and one state
//! transition (one classical RK4 step of the "book" dynamics).
//!
//! Every expression keeps Gymnasium's operand order, left to right, with one
//! IEEE-754 rounding per operation: no fused multiply-add, no reassociation.
//! Two facts make the bits Gymnasium's (`shared/acrobot-spec.md`):
//! - Python's `x**2` is libm's `pow(x, 2.0)`, which differs from `x * x` in
//!   the last bit on about 0.1 % of inputs; the compiler folds `powf(2.0)` (and
//!   `powi(2)`) into `x * x`, so [`square`] hides the exponent from it.
//! - `cos` and `sin` are numpy's, which equal the platform libm's (Rust's
//!   `f64::cos`) on x86-64 with AVX2; the golden generator checks that on the
//!   machine it runs on.

use std::f64::consts::PI;

use rand::RngCore;

/// Seconds per step.
pub const DT: f64 = 0.2;
/// Length of the first link.
pub const LINK_LENGTH_1: f64 = 1.0;
/// Mass of the first link.
pub const LINK_MASS_1: f64 = 1.0;
/// Mass of the second link.
pub const LINK_MASS_2: f64 = 1.0;
/// Position of the first link's centre of mass.
pub const LINK_COM_POS_1: f64 = 0.5;
/// Position of the second link's centre of mass.
pub const LINK_COM_POS_2: f64 = 0.5;
/// Moment of inertia of either link.
pub const LINK_MOI: f64 = 1.0;
/// The first joint's speed limit, `4π`.
pub const MAX_VEL_1: f64 = 4.0 * PI;
/// The second joint's speed limit, `9π`.
pub const MAX_VEL_2: f64 = 9.0 * PI;
/// Gravity.
pub const GRAVITY: f64 = 9.8;
/// The torque of each action: −1, 0, +1.
pub const TORQUES: [f64; 3] = [-1.0, 0.0, 1.0];
/// Gymnasium's reset range for each state entry.
pub const RESET_LOW: f64 = -0.1;
/// See [`RESET_LOW`].
pub const RESET_HIGH: f64 = 0.1;

/// Python's `x**2`: libm's `pow(x, 2.0)`. The exponent goes through
/// `black_box` so that the call reaches libm instead of being folded into
/// `x * x`, whose last bit differs for some `x`.
#[inline]
#[must_use]
pub fn square(x: f64) -> f64 {
    x.powf(std::hint::black_box(2.0))
}

/// The derivatives `(dθ1, dθ2, ddθ1, ddθ2)` of the "book" dynamics at
/// `s = (θ1, θ2, dθ1, dθ2)` under torque `a` (Gymnasium's `_dsdt`, whose
/// fifth value, the torque's derivative, is 0).
#[must_use]
pub fn derivatives(s: [f64; 4], a: f64) -> [f64; 4] {
    let (m1, m2, l1, lc1, lc2, i1, i2, g) =
        (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI, GRAVITY);
    let [theta1, theta2, dtheta1, dtheta2] = s;
    let d1 =
        (((m1 * square(lc1)) + (m2 * ((square(l1) + square(lc2)) + (((2.0 * l1) * lc2) * theta2.cos())))) + i1) + i2;
    let d2 = (m2 * (square(lc2) + ((l1 * lc2) * theta2.cos()))) + i2;
    let phi2 = ((m2 * lc2) * g) * ((theta1 + theta2) - (PI / 2.0)).cos();
    let phi1 = ((((((-m2) * l1) * lc2) * square(dtheta2)) * theta2.sin())
        - ((((((2.0 * m2) * l1) * lc2) * dtheta2) * dtheta1) * theta2.sin()))
        + ((((m1 * lc1) + (m2 * l1)) * g) * (theta1 - (PI / 2.0)).cos())
        + phi2;
    let ddtheta2 = (((a + ((d2 / d1) * phi1)) - ((((m2 * l1) * lc2) * square(dtheta1)) * theta2.sin())) - phi2)
        / (((m2 * square(lc2)) + i2) - (square(d2) / d1));
    let ddtheta1 = (-((d2 * ddtheta2) + phi1)) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// Gymnasium's `wrap`: `x` moved by whole turns into `[m, M]`.
#[must_use]
pub fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// Gymnasium's `bound`, Python's `min(max(x, m), M)` written out.
#[must_use]
pub fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    let x = if m > x { m } else { x };
    if big_m < x { big_m } else { x }
}

/// The state after one step of `DT` seconds under `action` (0, 1, 2 for
/// torque −1, 0, +1; checked by the caller): one RK4 step over `[0, DT]`,
/// the angles wrapped into `[−π, π]`, the speeds bounded.
#[must_use]
pub fn advance(state: [f64; 4], action: usize) -> [f64; 4] {
    let a = TORQUES[action];
    // rk4 over t = [0, dt]: dt = t[1] − t[0], dt2 = dt / 2.
    let dt = DT - 0.0;
    let dt2 = dt / 2.0;
    let along = |k: [f64; 4], h: f64| std::array::from_fn(|i| state[i] + (h * k[i]));
    let k1 = derivatives(state, a);
    let k2 = derivatives(along(k1, dt2), a);
    let k3 = derivatives(along(k2, dt2), a);
    let k4 = derivatives(along(k3, dt), a);
    let sixth = dt / 6.0;
    let next: [f64; 4] =
        std::array::from_fn(|i| state[i] + (sixth * (((k1[i] + (2.0 * k2[i])) + (2.0 * k3[i])) + k4[i])));
    [
        wrap(next[0], -PI, PI),
        wrap(next[1], -PI, PI),
        bound(next[2], -MAX_VEL_1, MAX_VEL_1),
        bound(next[3], -MAX_VEL_2, MAX_VEL_2),
    ]
}

/// The height of the free end above the pivot, in link lengths:
/// `−cos θ1 − cos(θ2 + θ1)` (−2 hanging straight down).
#[must_use]
pub fn tip_height(state: &[f64; 4]) -> f64 {
    (-state[0].cos()) - (state[1] + state[0]).cos()
}

/// Whether the free end has swung above the bar: a tip height above 1.
#[must_use]
pub fn is_terminal(state: &[f64; 4]) -> bool {
    tip_height(state) > 1.0
}

/// The observation `[cos θ1, sin θ1, cos θ2, sin θ2, dθ1, dθ2]`, computed in
/// `f64` and rounded to `f32`.
pub fn observe(state: &[f64; 4], obs: &mut [f32]) {
    let [t1, t2, d1, d2] = *state;
    let values = [t1.cos(), t1.sin(), t2.cos(), t2.sin(), d1, d2];
    for (o, v) in obs.iter_mut().zip(values) {
        *o = v as f32;
    }
}

/// A start state drawn as Gymnasium's `reset` draws it, from `rng`: four
/// uniform draws in `[−0.1, 0.1)` (numpy's `low + (high − low) · u`, `u =
/// (next_u64 >> 11) · 2⁻⁵³`), each rounded to `f32` (Gymnasium stores the
/// reset state as `float32`) and widened back.
pub fn draw_start(rng: &mut dyn RngCore) -> [f64; 4] {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    std::array::from_fn(|_| {
        let u = (rng.next_u64() >> 11) as f64 * SCALE;
        f64::from((RESET_LOW + ((RESET_HIGH - RESET_LOW) * u)) as f32)
    })
}
