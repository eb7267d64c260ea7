//! One DQN-shaped update with the seed's shapes, at 1 and 2 threads, and a
//! single-state forward.
//!
//! `RAYON_NUM_THREADS=1 cargo bench -p mlp` and `RAYON_NUM_THREADS=2 cargo
//! bench -p mlp`: the bench thread joins the global pool as its worker 0, as
//! a training loop run inside the pool would. The update is what `agent` does per training step:
//! forward the target net on 64 next states, forward and backward the policy
//! net on 64 states with the gathered MSE loss, clamp the gradients to
//! [−1, 1], one Adam step. Compare with PyTorch measured in the same session:
//! `python ../shared/anchors/seed_dqn.py --mode updates --threads 1`.
//!
//! `kernel_peak` measures what a core can do: the 64×128×128 product alone
//! (the update's dominant shape), and a register-only loop of independent
//! vector multiplies and adds, the ceiling for this kernel's instruction mix.

use divan::counter::ItemsCount;
use divan::{AllocProfiler, Bencher, black_box};
use mlp::{Adam, AdamConfig, Arithmetic, GatheredLoss, LossKind, Mlp, Params, SingleScratch, Workspace};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const SIZES: [usize; 4] = [4, 128, 128, 2];
const BATCH: usize = 64;
fn main() {
    rayon::ThreadPoolBuilder::new().use_current_thread().build_global().expect("the first and only global pool");
    println!("rayon threads: {}", rayon::current_num_threads());
    // Idle cores of a VM run the first seconds of work slowly.
    mlp::warm_up_threads(std::time::Duration::from_secs(2));
    if std::env::var_os("DENORMALS").is_some() {
        let mut u = Update::new();
        let count = |p: &Params<f32>| {
            p.named_tensors().map(|(_, t)| t.iter().filter(|v| v.is_subnormal()).count()).sum::<usize>()
        };
        let mut last = std::time::Instant::now();
        for i in 1..=20_000 {
            u.run();
            if i % 2000 == 0 {
                println!("updates {}..{i}: {:.1} us each", i - 2000, last.elapsed().as_secs_f64() * 1e6 / 2000.0);
                last = std::time::Instant::now();
                println!(
                    "after {i}: subnormal params {} grads {} exp_avg {} exp_avg_sq {}",
                    count(u.policy.params()),
                    count(&u.grads),
                    count(u.adam.exp_avg()),
                    count(u.adam.exp_avg_sq())
                );
            }
        }
    }
    divan::main();
}

/// A batch of CartPole-like transitions.
struct Batch {
    states: Array2<f32>,
    next_states: Array2<f32>,
    actions: Vec<usize>,
    terminated: Vec<bool>,
}

/// The update loop of the seed's agent: a new batch each call (cycling over
/// 100, as sampling from a replay buffer of random play would give), a
/// target copy every 4 updates, rewards of 1. Unlike a fixed batch, the loss
/// does not collapse to zero, so the numbers stay representative.
struct Update {
    policy: Mlp<f32>,
    target: Mlp<f32>,
    adam: Adam<f32>,
    grads: Params<f32>,
    ws: Workspace<f32>,
    batches: Vec<Batch>,
    targets: Vec<f32>,
    n_updates: usize,
}

impl Update {
    fn with(arithmetic: Arithmetic) -> Self {
        let mut update = Self::new();
        update.ws = Workspace::default().with_arithmetic(arithmetic);
        update
    }

    fn new() -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let policy = Mlp::new(&SIZES, &mut rng).expect("valid sizes");
        let target = policy.clone();
        let adam = Adam::new(&policy, AdamConfig::new(1e-4)).expect("valid config");
        let scale = [1.0f32, 1.5, 0.1, 1.5];
        let batches = (0..100)
            .map(|_| {
                let states = Array2::from_shape_fn((BATCH, 4), |(_, j)| scale[j] * rng.random_range(-1.0f32..1.0));
                let next_states = states.mapv(|v| v + rng.random_range(-0.05f32..0.05));
                Batch {
                    states,
                    next_states,
                    actions: (0..BATCH).map(|_| rng.random_range(0..2)).collect(),
                    terminated: (0..BATCH).map(|_| rng.random_range(0.0..1.0) < 0.05).collect(),
                }
            })
            .collect();
        Self {
            grads: Params::zeros(&SIZES).expect("valid sizes"),
            ws: Workspace::default(),
            targets: vec![0.0; BATCH],
            policy,
            target,
            adam,
            batches,
            n_updates: 0,
        }
    }

    fn run(&mut self) -> f32 {
        let batch = &self.batches[self.n_updates % self.batches.len()];
        let q_next = self.target.forward_batch(batch.next_states.view(), &mut self.ws).expect("shapes match");
        for (r, row) in q_next.rows().into_iter().enumerate() {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let live = if batch.terminated[r] { 0.0 } else { 1.0 };
            self.targets[r] = 1.0 + (0.95 * max) * live;
        }
        let loss = GatheredLoss { kind: LossKind::Mse, actions: &batch.actions, targets: &self.targets, weights: None };
        let (value, grads) = self
            .policy
            .gradients(batch.states.view(), &loss, None, &mut self.ws, &mut self.grads, Some(1.0))
            .expect("shapes match, finite gradients");
        self.adam.step_finite(&mut self.policy, grads).expect("shapes match");
        self.n_updates += 1;
        if self.n_updates.is_multiple_of(4) {
            self.target.copy_from(&self.policy).expect("same shapes");
        }
        value
    }
}

#[divan::bench(sample_count = 500)]
fn dqn_update(bencher: Bencher) {
    let mut update = Update::new();
    update.run();
    bencher.bench_local(|| black_box(update.run()));
}

/// The same update with fused multiply-adds (`Arithmetic::Fused`).
#[divan::bench(sample_count = 500)]
fn dqn_update_fused(bencher: Bencher) {
    let mut update = Update::with(Arithmetic::Fused);
    update.run();
    bencher.bench_local(|| black_box(update.run()));
}

#[divan::bench(sample_count = 1000)]
fn forward_single(bencher: Bencher) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let net: Mlp<f32> = Mlp::new(&SIZES, &mut rng).expect("valid sizes");
    let mut scratch = SingleScratch::default();
    let input = [0.01f32, -0.2, 0.03, 0.1];
    net.forward_single(&input, &mut scratch).expect("width 4");
    bencher.bench_local(|| black_box(net.forward_single(black_box(&input), &mut scratch).expect("width 4")[0]));
}

mod kernel_peak {
    use super::*;

    /// The policy's hidden layer alone: 64 × 128 × 128 multiply-adds.
    #[divan::bench(sample_count = 500)]
    fn hidden_layer_forward_64x128x128(bencher: Bencher) {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let net: Mlp<f32> = Mlp::new(&[128, 128], &mut rng).expect("valid sizes");
        let inputs = Array2::from_shape_fn((64, 128), |_| rng.random_range(-1.0f32..1.0));
        let mut ws = Workspace::new(64).expect("positive");
        bencher
            .counter(ItemsCount::new(2u64 * 64 * 128 * 128))
            .bench_local(|| black_box(net.forward_batch(inputs.view(), &mut ws).expect("width 128")[[0, 0]]));
    }

    /// The same layer with fused multiply-adds.
    #[divan::bench(sample_count = 500)]
    fn hidden_layer_forward_64x128x128_fused(bencher: Bencher) {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let net: Mlp<f32> = Mlp::new(&[128, 128], &mut rng).expect("valid sizes");
        let inputs = Array2::from_shape_fn((64, 128), |_| rng.random_range(-1.0f32..1.0));
        let mut ws = Workspace::new(64).expect("positive").with_arithmetic(Arithmetic::Fused);
        bencher
            .counter(ItemsCount::new(2u64 * 64 * 128 * 128))
            .bench_local(|| black_box(net.forward_batch(inputs.view(), &mut ws).expect("width 128")[[0, 0]]));
    }

    /// Register-only multiplies and adds, each sum adding a product that
    /// does not depend on it, in the kernels' widest registers (AVX-512,
    /// else AVX2): the ceiling for their instruction mix. Items are FLOP
    /// (one multiply and one add per lane and round).
    #[divan::bench(sample_count = 200)]
    fn register_mul_add_ceiling(bencher: Bencher) {
        const ITERS: usize = 4096;
        let (_, flop) = mlp::mul_add_ceiling_probe(1);
        bencher
            .counter(ItemsCount::new(flop * ITERS as u64))
            .bench_local(|| black_box(mlp::mul_add_ceiling_probe(black_box(ITERS))));
    }

    /// The same loop with each multiply-add fused (FMA where the CPU has
    /// it): the ceiling of `Arithmetic::Fused`. Items are FLOP (two per
    /// fused lane and round).
    #[divan::bench(sample_count = 200)]
    fn register_fused_mul_add_ceiling(bencher: Bencher) {
        const ITERS: usize = 4096;
        let (_, flop) = mlp::fused_mul_add_ceiling_probe(1);
        bencher
            .counter(ItemsCount::new(flop * ITERS as u64))
            .bench_local(|| black_box(mlp::fused_mul_add_ceiling_probe(black_box(ITERS))));
    }
}

/// What the host charges for two threads to share data.
mod host {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// One thread stores a counter and spins until a second thread answers
    /// with the next value: a cache line's round trip between two cores, the
    /// floor under every hand-off of a parallel region (and a measure of
    /// where the host put the two virtual CPUs: on a Zen 5 host, about 390
    /// ns was measured when they sat on different core complexes). Items are
    /// round trips. Needs two CPUs (under `taskset -c 1` it measures the
    /// scheduler instead).
    #[divan::bench(sample_count = 100)]
    fn core_round_trip(bencher: Bencher) {
        const TRIPS: u64 = 1000;
        let flag = AtomicU64::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                loop {
                    let v = flag.load(Ordering::Acquire);
                    if v == u64::MAX {
                        break;
                    }
                    if v % 2 == 1 {
                        flag.store(v + 1, Ordering::Release);
                    } else {
                        std::hint::spin_loop();
                    }
                }
            });
            let mut next = 1u64;
            bencher.counter(ItemsCount::new(TRIPS)).bench_local(|| {
                for _ in 0..TRIPS {
                    flag.store(next, Ordering::Release);
                    while flag.load(Ordering::Acquire) != next + 1 {
                        std::hint::spin_loop();
                    }
                    next += 2;
                }
            });
            flag.store(u64::MAX, Ordering::Release);
        });
    }
}

/// The update's parts, one thread, to see where the time goes.
mod parts {
    use super::*;

    #[divan::bench]
    fn target_forward(bencher: Bencher) {
        let mut u = Update::new();
        u.run();
        bencher.bench_local(|| {
            black_box(u.target.forward_batch(u.batches[0].next_states.view(), &mut u.ws).expect("shapes")[[0, 0]])
        });
    }

    #[divan::bench]
    fn policy_loss_and_gradients(bencher: Bencher) {
        let mut u = Update::new();
        u.run();
        let batch = &u.batches[0];
        bencher.bench_local(|| {
            let loss =
                GatheredLoss { kind: LossKind::Mse, actions: &batch.actions, targets: &u.targets, weights: None };
            black_box(
                u.policy
                    .gradients(batch.states.view(), &loss, None, &mut u.ws, &mut u.grads, None)
                    .map(|(value, _)| value)
                    .expect("shapes"),
            )
        });
    }

    #[divan::bench]
    fn clamp_and_adam_step(bencher: Bencher) {
        let mut u = Update::new();
        u.run();
        bencher.bench_local(|| {
            u.grads.clamp_inplace(1.0);
            u.adam.step(&mut u.policy, &u.grads).expect("finite");
        });
    }

    #[divan::bench]
    fn target_copy(bencher: Bencher) {
        let mut u = Update::new();
        bencher.bench_local(|| u.target.copy_from(&u.policy).expect("same shapes"));
    }
}
