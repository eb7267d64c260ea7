//! Convolutional Q-networks: one DQN update of Young & Tian's MinAtar
//! network (4 × 10 × 10 binary planes, 16 3×3 filters, 128, 6 actions) and
//! of the Nature network (4 × 84 × 84 frames, 32 8×8/4, 64 4×4/2, 64 3×3/1,
//! 512, 6 actions), batch 32, and each network's forward pass on one
//! observation (acting).
//!
//! The update is the work of `xtask/peers/conv_update.py`, which measures
//! PyTorch and JAX doing it: 32 indices drawn from a buffer of u8
//! observations, states and next states gathered as bytes (as the replay
//! gathers them) and read by the first layer through a table of `f32`
//! values (`b · scale`: 1 for planes, 1/255 for frames), the target network on the next states,
//! `y = r + 0.99·max Q′·(1 − done)`, the policy forward and backward with
//! the Huber loss on the taken actions, one Adam step (lr 1e-4), a hard
//! target copy every 1 000 updates. Items are FLOP (a multiply-add is 2):
//! the target's and the policy's forward passes, the weight gradients of
//! every layer and the input gradients of every layer but the first.
//!
//! `RAYON_NUM_THREADS=1 cargo bench -p mlp --bench conv` (and 2); the
//! argument is the chunk size, the rows each parallel piece takes (32: the
//! whole batch in one piece).

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use mlp::{
    Adam, AdamConfig, Architecture, ConvLayer, ConvTrunk, GatheredLoss, Inputs, LossKind, Mlp, Params, SingleScratch,
    Workspace,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 32;
const ACTIONS: usize = 6;

fn main() {
    rayon::ThreadPoolBuilder::new().use_current_thread().build_global().expect("the first and only global pool");
    println!("rayon threads: {}", rayon::current_num_threads());
    // Idle cores of a VM run the first seconds of work slowly.
    mlp::warm_up_threads(std::time::Duration::from_secs(2));
    divan::main();
}

/// Which network.
#[derive(Clone, Copy)]
enum Net {
    MinAtar,
    Nature,
}

impl Net {
    fn architecture(self) -> Architecture {
        let conv = |out_channels, kernel, stride| ConvLayer { out_channels, kernel, stride, padding: 0 };
        let (input, layers, hidden) = match self {
            Self::MinAtar => ([4, 10, 10], vec![conv(16, 3, 1)], 128),
            Self::Nature => ([4, 84, 84], vec![conv(32, 8, 4), conv(64, 4, 2), conv(64, 3, 1)], 512),
        };
        Architecture {
            inputs: input.iter().product(),
            hidden: vec![hidden],
            outputs: ACTIONS,
            dueling: None,
            noisy: None,
            conv: Some(ConvTrunk { input, layers }),
        }
    }

    /// u8 values of the buffer: 0/1 planes or 0..=255 pixels, and the scale.
    fn values(self) -> (u8, f32) {
        match self {
            Self::MinAtar => (1, 1.0),
            Self::Nature => (255, 1.0 / 255.0),
        }
    }

    /// Transitions in the buffer (the Nature buffer is smaller: 2 000
    /// transitions of 2 × 28 224 bytes are already far beyond any cache).
    fn buffer(self) -> usize {
        match self {
            Self::MinAtar => 10_000,
            Self::Nature => 2_000,
        }
    }
}

/// The FLOP of one update (see the module's documentation).
fn update_flop(net: &Mlp<f32>) -> u64 {
    let macs: Vec<u64> = net
        .shape()
        .layers
        .iter()
        .map(|l| {
            let (rows, cols) = l.weight_dims();
            (rows * cols * l.conv_shape().map_or(1, |c| c.out_pixels())) as u64
        })
        .collect();
    let forward: u64 = macs.iter().sum();
    let input_grads: u64 = macs.iter().skip(1).sum();
    2 * BATCH as u64 * (3 * forward + input_grads)
}

struct Update {
    policy: Mlp<f32>,
    target: Mlp<f32>,
    adam: Adam<f32>,
    grads: Params<f32>,
    ws: Workspace<f32>,
    states: Vec<u8>,
    next_states: Vec<u8>,
    actions: Vec<usize>,
    rewards: Vec<f32>,
    dones: Vec<f32>,
    table: [f32; 256],
    rng: ChaCha8Rng,
    batch_states: Array2<u8>,
    batch_next: Array2<u8>,
    batch_actions: Vec<usize>,
    targets: Vec<f32>,
    n_updates: usize,
}

impl Update {
    fn new(net: Net, chunk_rows: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let policy = Mlp::build(&net.architecture(), &mut rng).expect("a valid network");
        let target = policy.clone();
        let width = policy.input_dim();
        let (high, scale) = net.values();
        let n = net.buffer();
        let mut bytes = || (0..n * width).map(|_| rng.random_range(0..=high)).collect::<Vec<u8>>();
        let (states, next_states) = (bytes(), bytes());
        Self {
            adam: Adam::new(&policy, AdamConfig::new(1e-4)).expect("valid settings"),
            grads: policy.params().zeros_like(),
            ws: Workspace::new(chunk_rows).expect("positive"),
            actions: (0..n).map(|_| rng.random_range(0..ACTIONS)).collect(),
            rewards: (0..n).map(|_| f32::from(rng.random_range(0..2u8))).collect(),
            dones: (0..n).map(|_| if rng.random_range(0.0..1.0) < 0.1 { 1.0 } else { 0.0 }).collect(),
            states,
            next_states,
            table: std::array::from_fn(|b| b as f32 * scale),
            rng,
            batch_states: Array2::zeros((BATCH, width)),
            batch_next: Array2::zeros((BATCH, width)),
            batch_actions: vec![0; BATCH],
            targets: vec![0.0; BATCH],
            policy,
            target,
            n_updates: 0,
        }
    }

    fn run(&mut self) -> f32 {
        let width = self.policy.input_dim();
        let n = self.actions.len();
        let mut picks = [0usize; BATCH];
        for (r, pick) in picks.iter_mut().enumerate() {
            let i = self.rng.random_range(0..n);
            *pick = i;
            self.batch_actions[r] = self.actions[i];
            let rows = [(&mut self.batch_states, &self.states), (&mut self.batch_next, &self.next_states)];
            for (batch, buffer) in rows {
                let src = &buffer[i * width..(i + 1) * width];
                batch.row_mut(r).as_slice_mut().expect("contiguous rows").copy_from_slice(src);
            }
        }
        let next = Inputs::Bytes { rows: self.batch_next.view(), table: &self.table };
        let q_next = self.target.forward_batch(next, &mut self.ws).expect("shapes match");
        for (r, row) in q_next.rows().into_iter().enumerate() {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let i = picks[r];
            self.targets[r] = self.rewards[i] + (0.99 * max) * (1.0 - self.dones[i]);
        }
        let loss = GatheredLoss {
            kind: LossKind::Huber { delta: 1.0 },
            actions: &self.batch_actions,
            targets: &self.targets,
            weights: None,
        };
        let (value, grads) = self
            .policy
            .gradients(
                Inputs::Bytes { rows: self.batch_states.view(), table: &self.table },
                &loss,
                None,
                &mut self.ws,
                &mut self.grads,
                None,
            )
            .expect("shapes match, finite gradients");
        self.adam.step_finite(&mut self.policy, grads).expect("shapes match");
        self.n_updates += 1;
        if self.n_updates.is_multiple_of(1000) {
            self.target.copy_from(&self.policy).expect("same shapes");
        }
        value
    }
}

fn bench_update(bencher: Bencher, net: Net, chunk_rows: usize) {
    let mut update = Update::new(net, chunk_rows);
    update.run();
    let flop = update_flop(&update.policy);
    bencher.counter(ItemsCount::new(flop)).bench_local(|| black_box(update.run()));
}

/// The MinAtar network's update, batch 32, in chunks of the argument's rows.
#[divan::bench(args = [8, 16, 32], sample_count = 200)]
fn minatar_update_32(bencher: Bencher, chunk_rows: usize) {
    bench_update(bencher, Net::MinAtar, chunk_rows);
}

/// The Nature network's update, batch 32.
#[divan::bench(args = [16, 32], sample_count = 30)]
fn nature_update_32(bencher: Bencher, chunk_rows: usize) {
    bench_update(bencher, Net::Nature, chunk_rows);
}

fn bench_single(bencher: Bencher, net: Net) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let policy: Mlp<f32> = Mlp::build(&net.architecture(), &mut rng).expect("a valid network");
    let (high, scale) = net.values();
    let input: Vec<f32> = (0..policy.input_dim()).map(|_| f32::from(rng.random_range(0..=high)) * scale).collect();
    let mut scratch = SingleScratch::default();
    policy.forward_single(&input, &mut scratch).expect("its width");
    bencher.bench_local(|| black_box(policy.forward_single(black_box(&input), &mut scratch).expect("its width")[0]));
}

/// The MinAtar network on one observation (acting).
#[divan::bench(sample_count = 500)]
fn minatar_forward_single(bencher: Bencher) {
    bench_single(bencher, Net::MinAtar);
}

/// The Nature network on one observation.
#[divan::bench(sample_count = 100)]
fn nature_forward_single(bencher: Bencher) {
    bench_single(bencher, Net::Nature);
}
