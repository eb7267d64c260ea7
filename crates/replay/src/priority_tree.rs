//! The index of prioritized replay (Schaul et al. 2016, proportional
//! variant): one priority per slot of the ring, their sum and their minimum
//! kept in complete binary trees, so that setting a priority, finding the
//! slot at a given prefix of the total, and reading the total or the
//! minimum each cost O(log capacity).
//!
//! Every inner node is recomputed from its two children (never adjusted by
//! a difference), so a node's value depends only on the leaves below it:
//! no rounding drift however many updates, and the same bits for the same
//! priorities whatever order they were set in.

use crate::ReplayError;

/// Per-slot priorities with their sum and minimum.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorityTree {
    /// Slots (the ring's capacity).
    capacity: usize,
    /// Leaves per tree: `capacity` rounded up to a power of two.
    width: usize,
    /// `sums[1]` is the root; node `n` has children `2n` and `2n + 1`; leaf
    /// `slot` is `width + slot`. Slots without a priority hold 0.
    sums: Vec<f64>,
    /// The same shape; slots without a priority hold +∞.
    mins: Vec<f64>,
}

impl PriorityTree {
    /// A tree over `capacity` slots, none with a priority yet.
    ///
    /// # Errors
    /// [`ReplayError::ZeroCapacity`], or [`ReplayError::TooLarge`] when the
    /// trees cannot be allocated.
    pub fn new(capacity: usize) -> Result<Self, ReplayError> {
        if capacity == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        let too_large = || ReplayError::TooLarge { capacity };
        let width = capacity.checked_next_power_of_two().ok_or_else(too_large)?;
        let nodes = width.checked_mul(2).ok_or_else(too_large)?;
        let mut sums = Vec::new();
        let mut mins = Vec::new();
        sums.try_reserve_exact(nodes).map_err(|_| too_large())?;
        mins.try_reserve_exact(nodes).map_err(|_| too_large())?;
        sums.resize(nodes, 0.0);
        mins.resize(nodes, f64::INFINITY);
        Ok(Self { capacity, width, sums, mins })
    }

    /// A tree over `capacity` slots whose first slots have `priorities`
    /// (the rest none): the inverse of [`priorities`](Self::priorities), for
    /// a stored state.
    ///
    /// # Errors
    /// As [`new`](Self::new) and [`set`](Self::set); more priorities than
    /// slots is [`ReplayError::SlotOutOfRange`].
    pub fn from_priorities(capacity: usize, priorities: &[f64]) -> Result<Self, ReplayError> {
        let mut tree = Self::new(capacity)?;
        for (slot, &p) in priorities.iter().enumerate() {
            tree.set(slot, p)?;
        }
        Ok(tree)
    }

    /// The priority of every slot, in slot order (0 for those without).
    #[must_use]
    pub fn priorities(&self) -> &[f64] {
        &self.sums[self.width..self.width + self.capacity]
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Heap bytes of both trees (`capacity` rounded up to a power of two,
    /// two nodes per leaf, 8 bytes a node, two trees).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        (self.sums.capacity() + self.mins.capacity()) * size_of::<f64>()
    }

    /// Gives `slot` the priority `priority`.
    ///
    /// # Errors
    /// [`ReplayError::SlotOutOfRange`] for a slot beyond the capacity,
    /// [`ReplayError::InvalidPriority`] unless the priority is positive and
    /// finite (a zero priority could never be drawn again, and prioritized
    /// replay adds ε to every |δ| so that none is).
    pub fn set(&mut self, slot: usize, priority: f64) -> Result<(), ReplayError> {
        if slot >= self.capacity {
            return Err(ReplayError::SlotOutOfRange { slot, capacity: self.capacity });
        }
        if !(priority > 0.0 && priority.is_finite()) {
            return Err(ReplayError::InvalidPriority { slot, priority });
        }
        let mut node = self.width + slot;
        self.sums[node] = priority;
        self.mins[node] = priority;
        while node > 1 {
            node /= 2;
            self.sums[node] = self.sums[2 * node] + self.sums[2 * node + 1];
            self.mins[node] = self.mins[2 * node].min(self.mins[2 * node + 1]);
        }
        Ok(())
    }

    /// Takes `slot`'s priority away (a transition no longer held): it is
    /// never drawn until it gets one again.
    ///
    /// # Errors
    /// [`ReplayError::SlotOutOfRange`] for a slot beyond the capacity.
    pub fn clear(&mut self, slot: usize) -> Result<(), ReplayError> {
        if slot >= self.capacity {
            return Err(ReplayError::SlotOutOfRange { slot, capacity: self.capacity });
        }
        let mut node = self.width + slot;
        self.sums[node] = 0.0;
        self.mins[node] = f64::INFINITY;
        while node > 1 {
            node /= 2;
            self.sums[node] = self.sums[2 * node] + self.sums[2 * node + 1];
            self.mins[node] = self.mins[2 * node].min(self.mins[2 * node + 1]);
        }
        Ok(())
    }

    /// The priority of `slot` (0 if it has none), or `None` beyond the
    /// capacity.
    #[must_use]
    pub fn get(&self, slot: usize) -> Option<f64> {
        (slot < self.capacity).then(|| self.sums[self.width + slot])
    }

    /// The sum of all priorities.
    #[must_use]
    pub fn total(&self) -> f64 {
        self.sums[1]
    }

    /// The smallest priority set, or `None` if none is.
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        let m = self.mins[1];
        m.is_finite().then_some(m)
    }

    /// The slot whose share of the total contains `mass`: the first slot
    /// `i` with `mass < p₀ + … + pᵢ`, where the sums are the tree's.
    /// `mass` outside `[0, total)` is taken as the nearest end. Only a slot
    /// with a priority is ever returned, so the result is `None` only when
    /// no slot has one.
    #[must_use]
    pub fn find(&self, mass: f64) -> Option<usize> {
        if self.total() <= 0.0 {
            return None;
        }
        let mut mass = if mass > 0.0 { mass } else { 0.0 };
        let mut node = 1;
        while node < self.width {
            let (left, right) = (2 * node, 2 * node + 1);
            // Going right needs something there: at the top end of the range,
            // rounding can leave `mass` at or past the left sum with an
            // empty right subtree.
            if mass < self.sums[left] || self.sums[right] <= 0.0 {
                node = left;
            } else {
                mass -= self.sums[left];
                node = right;
            }
        }
        Some(node - self.width)
    }

    /// Draws `k` slots in proportion to their priorities as Schaul et al.
    /// do: the total cut into `k` equal segments, one uniform draw in each,
    /// written to `out` in segment order. Each slot is drawn `k·pᵢ/Σp`
    /// times per call on average.
    ///
    /// # Errors
    /// [`ReplayError::BatchTooLarge`] when no slot has a priority (`len` 0).
    pub fn sample_segments<R: rand::Rng + ?Sized>(
        &self,
        k: usize,
        rng: &mut R,
        out: &mut Vec<usize>,
    ) -> Result<(), ReplayError> {
        out.clear();
        let total = self.total();
        if total <= 0.0 {
            return Err(ReplayError::BatchTooLarge { batch_size: k, len: 0 });
        }
        let segment = total / k as f64;
        for j in 0..k {
            let mass = (j as f64 + rng.random::<f64>()) * segment;
            out.push(self.find(mass).expect("the total is positive"));
        }
        Ok(())
    }

    /// The importance weights of `slots` for exponent `beta`, normalized by
    /// the largest weight any slot could have: `wᵢ = (N·P(i))^(−β) /
    /// maxⱼ wⱼ`, which is `(p_min / pᵢ)^β` (N and the total cancel), so
    /// every weight is in (0, 1] and the slot of smallest priority has 1.
    /// Written to `out`, one per slot.
    ///
    /// # Errors
    /// [`ReplayError::SlotOutOfRange`], or [`ReplayError::InvalidPriority`]
    /// for a slot that has no priority (it could not have been drawn).
    pub fn importance_weights(&self, slots: &[usize], beta: f64, out: &mut Vec<f64>) -> Result<(), ReplayError> {
        out.clear();
        for &slot in slots {
            let p = self.get(slot).ok_or(ReplayError::SlotOutOfRange { slot, capacity: self.capacity })?;
            let p_min = self.min().filter(|_| p > 0.0).ok_or(ReplayError::InvalidPriority { slot, priority: p })?;
            out.push((p_min / p).powf(beta));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The slot a linear scan finds for `mass`: the first with
    /// `mass < prefix sum`, sums exact for the integer priorities used here.
    fn naive_find(priorities: &[f64], mass: f64) -> Option<usize> {
        let total: f64 = priorities.iter().sum();
        if total <= 0.0 {
            return None;
        }
        let mass = mass.clamp(0.0, total);
        let mut prefix = 0.0;
        let mut last_positive = None;
        for (i, &p) in priorities.iter().enumerate() {
            prefix += p;
            if p > 0.0 {
                last_positive = Some(i);
                if mass < prefix {
                    return Some(i);
                }
            }
        }
        last_positive
    }

    #[test]
    fn a_hand_worked_tree() {
        let mut tree = PriorityTree::new(5).expect("capacity 5");
        assert_eq!((tree.total(), tree.min(), tree.find(0.0)), (0.0, None, None));
        for (slot, p) in [(0, 1.0), (1, 2.0), (2, 3.0), (4, 4.0)] {
            tree.set(slot, p).expect("valid");
        }
        // Prefix sums 1, 3, 6, 6, 10: slot 3 has no priority and is skipped.
        assert_eq!(tree.total(), 10.0);
        assert_eq!(tree.min(), Some(1.0));
        let found: Vec<_> = [0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99, 10.0, 99.0, -1.0]
            .iter()
            .map(|&m| tree.find(m).expect("a slot has a priority"))
            .collect();
        assert_eq!(found, [0, 0, 1, 1, 2, 2, 4, 4, 4, 4, 0]);
        tree.set(0, 5.0).expect("valid");
        assert_eq!(
            (tree.total(), tree.min(), tree.get(0), tree.get(3), tree.get(5)),
            (14.0, Some(2.0), Some(5.0), Some(0.0), None)
        );
    }

    #[test]
    fn bad_slots_and_priorities_are_refused() {
        let mut tree = PriorityTree::new(3).expect("capacity 3");
        assert_eq!(tree.set(3, 1.0), Err(ReplayError::SlotOutOfRange { slot: 3, capacity: 3 }));
        for p in [0.0, -1.0, f64::INFINITY] {
            assert_eq!(tree.set(1, p), Err(ReplayError::InvalidPriority { slot: 1, priority: p }));
        }
        assert!(matches!(tree.set(1, f64::NAN), Err(ReplayError::InvalidPriority { slot: 1, .. })));
        assert_eq!(tree.total(), 0.0, "a refused priority changes nothing");
        assert_eq!(PriorityTree::new(0), Err(ReplayError::ZeroCapacity));
        assert_eq!(PriorityTree::new(usize::MAX), Err(ReplayError::TooLarge { capacity: usize::MAX }));
    }

    #[test]
    fn segment_sampling_is_proportional_to_priority() {
        use rand::SeedableRng;
        let priorities = [1.0, 2.0, 3.0, 4.0, 10.0, 0.5, 7.5];
        let mut tree = PriorityTree::new(8).expect("capacity 8");
        for (slot, &p) in priorities.iter().enumerate() {
            tree.set(slot, p).expect("valid");
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (calls, k) = (20_000, 5);
        let mut counts = [0u64; 8];
        let mut out = Vec::new();
        for _ in 0..calls {
            tree.sample_segments(k, &mut rng, &mut out).expect("a positive total");
            assert_eq!(out.len(), k);
            assert!(out.windows(2).all(|w| w[0] <= w[1]), "segments in order give slots in order");
            for &slot in &out {
                counts[slot] += 1;
            }
        }
        assert_eq!(counts[7], 0, "a slot without a priority is never drawn");
        // Pearson's chi-square over the 7 slots (6 degrees of freedom):
        // 22.5 is its 0.999 quantile. Segment draws are less dispersed than
        // independent ones, so the bound is generous for a correct sampler;
        // sampling uniformly instead gives a statistic in the tens of
        // thousands.
        let total: f64 = priorities.iter().sum();
        let draws = (calls * k) as f64;
        let chi2: f64 = priorities
            .iter()
            .zip(counts)
            .map(|(&p, n)| {
                let expected = draws * p / total;
                (n as f64 - expected).powi(2) / expected
            })
            .sum();
        assert!(chi2 < 22.5, "chi-square {chi2:.1} with counts {counts:?}");
        let empty = PriorityTree::new(3).expect("capacity 3");
        assert_eq!(
            empty.sample_segments(2, &mut rng, &mut out),
            Err(ReplayError::BatchTooLarge { batch_size: 2, len: 0 })
        );
    }

    #[test]
    fn importance_weights_match_the_direct_formula() {
        let priorities = [0.25, 1.0, 4.0, 2.0];
        let mut tree = PriorityTree::new(6).expect("capacity 6");
        for (slot, &p) in priorities.iter().enumerate() {
            tree.set(slot, p).expect("valid");
        }
        let (n, total) = (priorities.len() as f64, priorities.iter().sum::<f64>());
        let raw = |p: f64, beta: f64| (n * p / total).powf(-beta);
        for beta in [0.0, 0.4, 0.7, 1.0] {
            let max = priorities.iter().map(|&p| raw(p, beta)).fold(0.0, f64::max);
            let mut out = Vec::new();
            tree.importance_weights(&[3, 0, 2, 2, 1], beta, &mut out).expect("slots with priorities");
            for (&w, slot) in out.iter().zip([3, 0, 2, 2, 1]) {
                let direct = raw(priorities[slot], beta) / max;
                assert!((w - direct).abs() <= 1e-15, "beta {beta}, slot {slot}: {w} vs {direct}");
            }
            assert_eq!(out[1], 1.0, "the smallest priority has weight 1");
        }
        let mut out = Vec::new();
        assert_eq!(
            tree.importance_weights(&[4], 0.4, &mut out),
            Err(ReplayError::InvalidPriority { slot: 4, priority: 0.0 })
        );
        assert_eq!(
            tree.importance_weights(&[6], 0.4, &mut out),
            Err(ReplayError::SlotOutOfRange { slot: 6, capacity: 6 })
        );
    }

    proptest! {
        /// Against a linear scan, after random updates that wrap around a
        /// ring of random capacity: total, minimum and the slot found for
        /// every prefix mass. Integer priorities keep every sum exact, so
        /// the comparisons are exact too.
        #[test]
        fn matches_a_linear_scan(
            capacity in 1usize..70,
            writes in prop::collection::vec((0u32..1000, 1u32..50), 1..300),
            masses in prop::collection::vec(0.0f64..1.0, 1..40),
        ) {
            let mut tree = PriorityTree::new(capacity).expect("positive capacity");
            let mut naive = vec![0.0; capacity];
            for (k, &(jump, p)) in writes.iter().enumerate() {
                // Mostly the ring's next slot, sometimes an earlier one (a
                // priority updated after its transition was replayed).
                let slot = if jump % 3 == 0 { jump as usize % capacity } else { k % capacity };
                tree.set(slot, f64::from(p)).expect("valid");
                naive[slot] = f64::from(p);
            }
            let total: f64 = naive.iter().sum();
            prop_assert_eq!(tree.total(), total);
            let min = naive.iter().copied().filter(|&p| p > 0.0).fold(f64::INFINITY, f64::min);
            prop_assert_eq!(tree.min(), Some(min));
            for u in masses {
                let mass = (u * total).floor() + [0.0, 0.5][(u * 1e6) as usize % 2];
                prop_assert_eq!(tree.find(mass), naive_find(&naive, mass), "mass {}", mass);
            }
        }

        /// With any positive priorities (sums rounded), `find` over the
        /// whole range returns only slots that have a priority, and the
        /// slots' order follows the mass.
        #[test]
        fn finds_only_slots_with_a_priority(
            priorities in prop::collection::vec(prop_oneof![Just(0.0), 1e-6f64..1e6], 1..100),
        ) {
            let mut tree = PriorityTree::new(priorities.len()).expect("positive capacity");
            for (slot, &p) in priorities.iter().enumerate() {
                if p > 0.0 {
                    tree.set(slot, p).expect("valid");
                }
            }
            let total = tree.total();
            let mut last = 0;
            for k in 0..=200 {
                let Some(slot) = tree.find(total * f64::from(k) / 200.0) else {
                    prop_assert!(priorities.iter().all(|&p| p == 0.0));
                    break;
                };
                prop_assert!(priorities[slot] > 0.0, "slot {} has no priority", slot);
                prop_assert!(slot >= last, "masses in order give slots in order");
                last = slot;
            }
        }
    }
}
