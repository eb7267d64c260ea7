//! numpy's legacy `RandomState`, as far as MinAtar uses it: MT19937 seeded
//! by `init_genrand`, `rand()` from two 32-bit outputs, and `randint` by
//! masked rejection on one 32-bit output per try.
//!
//! The formulas are numpy's (`numpy/random/src/legacy` and
//! `_bounded_integers`), checked against values numpy produced
//! (`tests/numpy_random.rs`).

use std::num::NonZeroU32;

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// Words twisted at a time while a freshly seeded state is still being
/// initialised (see [`NumpyRandom`]).
const CHUNK: usize = 32;

/// The stream of `np.random.RandomState(seed)`.
///
/// Seeding is lazy. `init_genrand` is a serial chain of 624 multiplies
/// (about a microsecond), then the first twist rewrites all 624 words, yet
/// a game reset every few steps (random Breakout ends in about 11) reads
/// a few dozen outputs. Word `i < 227` of the first twist needs only
/// initial words `i`, `i + 1` and `i + 397`, so the words are initialised
/// and twisted on demand, `CHUNK` at a time; the outputs are the same.
#[derive(Debug, Clone)]
pub struct NumpyRandom {
    /// MT19937's 624 words (boxed: a game moves often, its stream rarely).
    key: Box<[u32; N]>,
    /// The tempered outputs of the block's words twisted so far, tempered
    /// as they are twisted (one vector loop, not a serial chain per draw).
    out: Box<[u32; N]>,
    /// Words of `key` that `init_genrand` has written (all 624 once the
    /// first twist is under way past word 227).
    initialised: usize,
    /// Words of the current block already twisted.
    twisted: usize,
    /// The next output to give (an index into `out`).
    pos: usize,
}

/// MT19937's tempering of a state word into an output.
#[inline(always)]
fn temper(mut y: u32) -> u32 {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c_5680;
    y ^= (y << 15) & 0xefc6_0000;
    y ^ (y >> 18)
}

impl NumpyRandom {
    /// `RandomState(seed)` for an integer seed: `init_genrand(seed)`.
    #[must_use]
    pub fn new(seed: u32) -> Self {
        let mut key = Box::new([0u32; N]);
        key[0] = seed;
        Self { key, out: Box::new([0u32; N]), initialised: 1, twisted: 0, pos: 0 }
    }

    /// `seed(seed)` on this stream: as [`new`](Self::new), reusing the
    /// words' allocation.
    pub fn reseed(&mut self, seed: u32) {
        self.key[0] = seed;
        self.initialised = 1;
        self.twisted = 0;
        self.pos = 0;
    }

    /// The next 32-bit output.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= self.twisted {
            self.advance();
        }
        let y = self.out[self.pos];
        self.pos += 1;
        y
    }

    /// Twists more words of the block: the next `CHUNK` while the state is
    /// being initialised, else the whole next block.
    #[inline(never)]
    fn advance(&mut self) {
        if self.pos == N {
            self.pos = 0;
            self.twisted = 0;
        }
        let end = if self.initialised < N { (self.twisted + CHUNK).min(N) } else { N };
        self.initialise_to((end + M).min(N));
        self.twist(self.twisted, end);
        self.twisted = end;
    }

    /// `init_genrand` up to word `end` (exclusive).
    fn initialise_to(&mut self, end: usize) {
        let key = &mut *self.key;
        for i in self.initialised.max(1)..end {
            let prev = key[i - 1];
            key[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        self.initialised = self.initialised.max(end);
    }

    /// The reference's twist of words `from..to`. The reference is one loop
    /// `i in 0..N` over indices mod N; it is split where they wrap so each
    /// part is a straight (vectorisable) loop, and the later parts read
    /// words the earlier ones rewrote, as the one loop does. Words `i + 1`
    /// and `i + M` not yet twisted are the initial ones, which
    /// [`initialise_to`](Self::initialise_to) has written.
    fn twist(&mut self, from: usize, to: usize) {
        let twist = |upper: u32, lower: u32, far: u32| {
            let y = (upper & UPPER_MASK) | (lower & LOWER_MASK);
            far ^ (y >> 1) ^ if y & 1 == 1 { MATRIX_A } else { 0 }
        };
        let key = &mut *self.key;
        for i in from..to.min(N - M) {
            key[i] = twist(key[i], key[i + 1], key[i + M]);
        }
        for i in from.max(N - M)..to.min(N - 1) {
            key[i] = twist(key[i], key[i + 1], key[i + M - N]);
        }
        if to == N {
            key[N - 1] = twist(key[N - 1], key[0], key[M - 1]);
        }
        for (out, &y) in self.out[from..to].iter_mut().zip(&key[from..to]) {
            *out = temper(y);
        }
    }

    /// `rand()`: a double in [0, 1) with 53 random bits, from two outputs
    /// (`(a >> 5) · 2²⁶ + (b >> 6)) / 2⁵³`), each step exact.
    #[inline]
    pub fn rand(&mut self) -> f64 {
        self.rand_bits() as f64 / 9_007_199_254_740_992.0
    }

    /// The 53-bit integer `rand()` divides by 2⁵³ (the same two draws).
    #[inline]
    pub fn rand_bits(&mut self) -> u64 {
        let a = u64::from(self.next_u32() >> 5);
        let b = u64::from(self.next_u32() >> 6);
        (a << 26) | b
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
