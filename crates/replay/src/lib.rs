//! The experience-replay buffer of DQN.
//!
//! A ring buffer of fixed capacity holding transitions `(s, a, r, s′,
//! terminated, truncated)` as a struct of arrays; once full, each push
//! overwrites the oldest transition. Mini-batches of distinct transitions are
//! drawn uniformly at random from a caller-supplied RNG into a reusable
//! [`Batch`], which allocates nothing once it has reached its size.
//!
//! Main types: [`ReplayBuffer`], [`Transition`] (what is pushed and read
//! back), [`Batch`] (what is sampled), [`PriorityTree`] (the sum and minimum
//! of per-slot priorities, for prioritized replay), [`ReplayError`].
//!
//! What it deliberately does not do: know what an observation means (they
//! are `f32` slices of a fixed length), compute targets, own an RNG, or
//! depend on the simulator or the network.
//!
//! ```
//! use rand::SeedableRng;
//! use replay::{Batch, ReplayBuffer, Transition};
//!
//! // Room for 1 000 transitions of 4-number observations, reserved now.
//! let mut buffer = ReplayBuffer::new(1_000, 4)?;
//! for step in 0..100 {
//!     let (state, next_state) = ([step as f32; 4], [step as f32 + 1.0; 4]);
//!     let last = step == 99;
//!     buffer.push(Transition {
//!         state: &state,
//!         action: step % 2,
//!         reward: 1.0,
//!         next_state: &next_state,
//!         terminated: last,
//!         truncated: false,
//!     })?;
//! }
//! assert_eq!(buffer.len(), 100);
//!
//! // A mini-batch of 32 distinct transitions, drawn from your RNG.
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut batch = Batch::new();
//! buffer.sample_into(32, &mut rng, &mut batch)?;
//! assert_eq!((batch.len(), batch.states().len()), (32, 32 * 4));
//! // Each row is what was pushed: the next state is the state plus one.
//! for (s, n) in batch.states().chunks(4).zip(batch.next_states().chunks(4)) {
//!     assert_eq!(n[0], s[0] + 1.0);
//! }
//! // Asking for more than it holds is an error, not a panic.
//! assert!(buffer.sample_into(101, &mut rng, &mut batch).is_err());
//! # Ok::<(), replay::ReplayError>(())
//! ```

mod batch;
mod buffer;
mod error;
mod priority_tree;

pub use batch::Batch;
pub use buffer::{ReplayBuffer, StoredReplay, Transition};
pub use error::{Inconsistency, ReplayError};
pub use priority_tree::PriorityTree;
