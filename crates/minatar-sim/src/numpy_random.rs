//! numpy's legacy `RandomState`, as far as MinAtar uses it: MT19937 seeded
//! by `init_genrand`, `rand()` from two 32-bit outputs, and `randint` by
//! masked rejection on one 32-bit output per try.
//!
//! The formulas are numpy's (`numpy/random/src/legacy` and
//! `_bounded_integers`), checked against values numpy produced
//! (`tests/numpy_random.rs`).

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The stream of `np.random.RandomState(seed)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumpyRandom {
    /// MT19937's 624 words.
    key: Vec<u32>,
    /// The next word to temper (624: regenerate first).
    pos: usize,
}

impl NumpyRandom {
    /// `RandomState(seed)` for an integer seed: `init_genrand(seed)`.
    #[must_use]
    pub fn new(seed: u32) -> Self {
        let mut key = vec![0u32; N];
        key[0] = seed;
        for i in 1..N {
            let prev = key[i - 1];
            key[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        Self { key, pos: N }
    }

    /// The next 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.regenerate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn regenerate(&mut self) {
        let twist = |upper: u32, lower: u32, far: u32| {
            let y = (upper & UPPER_MASK) | (lower & LOWER_MASK);
            far ^ (y >> 1) ^ if y & 1 == 1 { MATRIX_A } else { 0 }
        };
        for i in 0..N {
            self.key[i] = twist(self.key[i], self.key[(i + 1) % N], self.key[(i + M) % N]);
        }
        self.pos = 0;
    }

    /// `rand()`: a double in [0, 1) with 53 random bits, from two outputs
    /// (`(a >> 5) · 2²⁶ + (b >> 6)) / 2⁵³`).
    pub fn rand(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `randint(n)`: an integer in `0..n` by masked rejection: with
    /// `range = n − 1` and `mask` the smallest `2ᵏ − 1 ≥ range`, outputs
    /// `u & mask` are drawn until one is at most `range`. One value
    /// (`randint(1)`) draws nothing. `randint(low, high)` is `low +
    /// randint(high − low)`, the same draws.
    pub fn randint(&mut self, n: NonZeroU32) -> u32 {
        let range = n.get() - 1;
        if range == 0 {
            return 0;
        }
        let mask = u32::MAX >> range.leading_zeros();
        loop {
            let v = self.next_u32() & mask;
            if v <= range {
                return v;
            }
        }
    }
}
