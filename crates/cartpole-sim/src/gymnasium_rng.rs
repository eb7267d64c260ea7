//! Gymnasium's reset stream, bit for bit: `env.reset(seed=s)` seeds numpy's
//! `Generator(PCG64(SeedSequence(s)))` and draws the four state entries
//! from it. [`GymnasiumRng::from_seed`] is that generator, so
//! `env.reset(&mut GymnasiumRng::from_seed(s))` starts from exactly the
//! state Gymnasium's `reset(seed=s)` does, and later resets without a seed
//! continue the stream as Gymnasium's do.
//!
//! Facts from numpy's `bit_generator.pyx` (SeedSequence) and `pcg64.h`
//! (PCG XSL-RR 128/64); the constants are numpy's.

use rand::RngCore;
use serde::{Deserialize, Serialize};

// SeedSequence's hashing constants.
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;
/// PCG's default 128-bit multiplier.
const PCG_MULT: u128 = 0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645;

fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut v = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    v = v.wrapping_mul(*hash_const);
    v ^ (v >> XSHIFT)
}

fn mix(x: u32, y: u32) -> u32 {
    let r = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    r ^ (r >> XSHIFT)
}

/// `SeedSequence(seed).generate_state(4, np.uint64)`.
fn seed_sequence_state(seed: u64) -> [u64; 4] {
    // The seed as little-endian 32-bit words (0 is the single word 0).
    let entropy: Vec<u32> = if seed >> 32 == 0 { vec![seed as u32] } else { vec![seed as u32, (seed >> 32) as u32] };
    let mut pool = [0u32; POOL_SIZE];
    let mut hash_const = INIT_A;
    for (i, slot) in pool.iter_mut().enumerate() {
        *slot = hashmix(entropy.get(i).copied().unwrap_or(0), &mut hash_const);
    }
    for src in 0..POOL_SIZE {
        for dst in 0..POOL_SIZE {
            if src != dst {
                pool[dst] = mix(pool[dst], hashmix(pool[src], &mut hash_const));
            }
        }
    }
    // (Entropy beyond the pool size: a u64 seed never has any.)
    let mut hash_const = INIT_B;
    let words: [u32; 8] = std::array::from_fn(|i| {
        let mut v = pool[i % POOL_SIZE] ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_B);
        v = v.wrapping_mul(hash_const);
        v ^ (v >> XSHIFT)
    });
    std::array::from_fn(|i| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32))
}

/// numpy's PCG64 bit generator seeded as Gymnasium seeds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GymnasiumRng {
    state: u128,
    inc: u128,
    /// numpy hands out 32-bit draws in halves of a 64-bit one.
    pending_u32: Option<u32>,
}

impl GymnasiumRng {
    /// The generator `np.random.default_rng(seed)` (what Gymnasium's
    /// `reset(seed=seed)` creates).
    #[must_use]
    pub fn from_seed(seed: u64) -> Self {
        let [s0, s1, s2, s3] = seed_sequence_state(seed);
        let init_state = (u128::from(s0) << 64) | u128::from(s1);
        let init_seq = (u128::from(s2) << 64) | u128::from(s3);
        // pcg_setseq_128_srandom_r
        let mut rng = Self { state: 0, inc: (init_seq << 1) | 1, pending_u32: None };
        rng.step();
        rng.state = rng.state.wrapping_add(init_state);
        rng.step();
        rng
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }
}

impl RngCore for GymnasiumRng {
    fn next_u64(&mut self) -> u64 {
        self.step();
        // XSL-RR: xor the halves, rotate by the top 6 bits.
        let xored = ((self.state >> 64) as u64) ^ (self.state as u64);
        xored.rotate_right((self.state >> 122) as u32)
    }

    fn next_u32(&mut self) -> u32 {
        if let Some(v) = self.pending_u32.take() {
            return v;
        }
        let v = self.next_u64();
        self.pending_u32 = Some((v >> 32) as u32);
        v as u32
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
