//! The pure physics of Acrobot: constants, the reset draw and one state
//! transition (one classical RK4 step of the "book" dynamics).
//!
//! Every expression keeps Gymnasium's operand order, left to right, with one
//! IEEE-754 rounding per operation: no fused multiply-add, no reassociation.
//! Two facts make the bits Gymnasium's (`shared/acrobot-spec.md`):
//! - Python's `x**2` is libm's `pow(x, 2.0)`, which differs from `x * x` in
//!   the last bit on about 0.1 % of inputs; [`square`] gives pow's bits
//!   (calling it only where `x * x` could differ).
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

/// Python's `x**2`: libm's `pow(x, 2.0)`, bit for bit, mostly without
/// calling it.
///
/// `x * x` is the correctly rounded square; `pow` differs from it only
/// where the exact square lies so close to the midpoint between two doubles
/// that pow's own error (at most 0.52 ULP for glibc's, as its source says)
/// can tip it the other way. So the exact rounding error of `x * x` is
/// computed (Dekker's splitting, exact without FMA): when it is below
/// 0.45 ULP no other double is within 0.52 ULP of the square and `pow` must
/// return `x * x`; otherwise (about 10 % of inputs), and for huge, tiny or
/// power-of-two results, `pow` itself is called, its exponent hidden from
/// the optimiser by `black_box` (which would fold it into `x * x`). This
/// saves most of the 12 `pow` calls of a step; `square_is_libms_pow`
/// checks it against `pow` on millions of inputs.
#[inline]
#[must_use]
pub fn square(x: f64) -> f64 {
    let p = x * x;
    let bits = p.to_bits();
    let exponent = (bits >> 52) & 0x7ff;
    // Normal, far from overflow and underflow, and not a power of two (the
    // double below a power of two is half as far away).
    if (64..0x7ff - 64).contains(&exponent) && bits & ((1 << 52) - 1) != 0 {
        // x = hi + lo with hi and lo of 26 bits: hi·hi, hi·lo, lo·lo exact.
        let c = 134_217_729.0 * x; // 2^27 + 1
        let hi = c - (c - x);
        let lo = x - hi;
        let error = (((hi * hi) - p) + ((2.0 * hi) * lo)) + (lo * lo);
        let ulp = f64::from_bits((exponent - 52) << 52);
        if error.abs() < 0.45 * ulp {
            return p;
        }
    }
    x.powf(std::hint::black_box(2.0))
}

/// `lc1**2`, `l1**2` and `lc2**2`: the squares of 0.5 and 1.0 are exact, so
/// libm's `pow` gives exactly `x * x` for them (a test checks it on the
/// machine), and writing them as constants saves 16 `pow` calls per step.
const LC1_SQUARED: f64 = LINK_COM_POS_1 * LINK_COM_POS_1;
const L1_SQUARED: f64 = LINK_LENGTH_1 * LINK_LENGTH_1;
const LC2_SQUARED: f64 = LINK_COM_POS_2 * LINK_COM_POS_2;

/// The derivatives `(dθ1, dθ2, ddθ1, ddθ2)` of the "book" dynamics at
/// `s = (θ1, θ2, dθ1, dθ2)` under torque `a` (Gymnasium's `_dsdt`, whose
/// fifth value, the torque's derivative, is 0).
#[must_use]
pub fn derivatives(s: [f64; 4], a: f64) -> [f64; 4] {
    let (m1, m2, l1, lc1, lc2, i1, i2, g) =
        (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI, GRAVITY);
    let [theta1, theta2, dtheta1, dtheta2] = s;
    // Each evaluated once (the expressions below use them up to 3 times).
    let (cos2, sin2) = (theta2.cos(), theta2.sin());
    let d1 = (((m1 * LC1_SQUARED) + (m2 * ((L1_SQUARED + LC2_SQUARED) + (((2.0 * l1) * lc2) * cos2)))) + i1) + i2;
    let d2 = (m2 * (LC2_SQUARED + ((l1 * lc2) * cos2))) + i2;
    let phi2 = ((m2 * lc2) * g) * ((theta1 + theta2) - (PI / 2.0)).cos();
    let phi1 = ((((((-m2) * l1) * lc2) * square(dtheta2)) * sin2)
        - ((((((2.0 * m2) * l1) * lc2) * dtheta2) * dtheta1) * sin2))
        + ((((m1 * lc1) + (m2 * l1)) * g) * (theta1 - (PI / 2.0)).cos())
        + phi2;
    let ddtheta2 = (((a + ((d2 / d1) * phi1)) - ((((m2 * l1) * lc2) * square(dtheta1)) * sin2)) - phi2)
        / (((m2 * LC2_SQUARED) + i2) - (square(d2) / d1));
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

/// [`observe`] and [`is_terminal`] at once, `cos θ1` computed once for both
/// (one of the step's 22 trigonometric calls).
pub fn observe_terminal(state: &[f64; 4], obs: &mut [f32]) -> bool {
    let [t1, t2, d1, d2] = *state;
    let cos1 = t1.cos();
    let values = [cos1, t1.sin(), t2.cos(), t2.sin(), d1, d2];
    for (o, v) in obs.iter_mut().zip(values) {
        *o = v as f32;
    }
    ((-cos1) - (t2 + t1).cos()) > 1.0
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The constants stand for `pow(c, 2.0)`: libm must agree with `c * c`
    /// on them, or the golden trajectories would say so later and less
    /// clearly.
    fn libm_pow_2(x: f64) -> f64 {
        x.powf(std::hint::black_box(2.0))
    }

    /// Every input class: the state's range (speeds up to 9π, the terms of
    /// the dynamics), random bit patterns over all exponents, and the
    /// special values.
    #[test]
    fn square_is_libms_pow() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mut differs_from_mul = 0;
        for i in 0..3_000_000u32 {
            let x = match i % 3 {
                0 => rng.random_range(-30.0..30.0),
                1 => rng.random_range(-1.0..1.0) * 10f64.powi(rng.random_range(-20..20)),
                _ => f64::from_bits(rng.random::<u64>()),
            };
            let (got, want) = (square(x), libm_pow_2(x));
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{x:e}: {got:e} vs {want:e}");
            differs_from_mul += usize::from(want.to_bits() != (x * x).to_bits() && want.is_finite());
        }
        // The inputs include cases where pow is not x*x (else this test
        // would not test the slow path).
        assert!(differs_from_mul > 100, "{differs_from_mul}");
        for x in [0.0, -0.0, 1.0, 0.5, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, f64::MAX, 1e-200, 1e200] {
            assert_eq!(square(x).to_bits(), libm_pow_2(x).to_bits(), "{x:e}");
        }
        assert!(square(f64::NAN).is_nan());
    }

    #[test]
    fn observe_terminal_is_observe_and_is_terminal() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut terminal = 0;
        for _ in 0..100_000 {
            let s: [f64; 4] = std::array::from_fn(|i| rng.random_range(-1.0..1.0) * [PI, PI, MAX_VEL_1, MAX_VEL_2][i]);
            let (mut a, mut b) = ([0.0f32; 6], [0.0f32; 6]);
            let both = observe_terminal(&s, &mut a);
            observe(&s, &mut b);
            assert_eq!((both, a.map(f32::to_bits)), (is_terminal(&s), b.map(f32::to_bits)), "{s:?}");
            terminal += usize::from(both);
        }
        assert!(terminal > 1_000, "both outcomes are covered: {terminal}");
    }

    #[test]
    fn constant_squares_are_libms() {
        for (c, squared) in [(LINK_COM_POS_1, LC1_SQUARED), (LINK_LENGTH_1, L1_SQUARED), (LINK_COM_POS_2, LC2_SQUARED)]
        {
            assert_eq!(square(c).to_bits(), squared.to_bits(), "{c}");
        }
    }
}
