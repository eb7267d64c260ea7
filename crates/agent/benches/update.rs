//! `Agent::update()` as PyTorch's `seed_dqn.py --mode updates` measures
//! `agent.update()`: a buffer of 10 000 transitions of random play, then
//! sample 64 + target forward + policy forward/backward + clamp + Adam +
//! target copy every 4 actions. `RAYON_NUM_THREADS=1 cargo bench -p agent`
//! (and `=2`); the bench thread is worker 0 of the global pool.
//!
//! `update_grid` is the same update at other sizes, hidden width × batch
//! (the peers: `xtask/peers/update_grid.py`); `act_single` and `act_batch`
//! the cost of choosing actions, one observation or N at once.

use agent::{Agent, AgentSeeds, Arithmetic, DqnConfig, Frame, Prioritized, Sampling, Spaces};
use divan::{Bencher, black_box};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::Transition;

fn main() {
    rayon::ThreadPoolBuilder::new().use_current_thread().build_global().expect("the first and only global pool");
    println!("rayon threads: {}", rayon::current_num_threads());
    // Idle cores of a VM run the first seconds of work slowly.
    mlp::warm_up_threads(std::time::Duration::from_secs(2));
    divan::main();
}

/// The seed's agent with 10 000 transitions of a random walk in CartPole's
/// observation ranges (the anchor fills its buffer with random play).
fn filled_agent(arithmetic: Arithmetic) -> Agent {
    filled_agent_with(DqnConfig { arithmetic, ..DqnConfig::seed() })
}

fn filled_agent_with(config: DqnConfig) -> Agent {
    // CartPole's spaces, with room for the 64 environments `act_batch` acts for.
    let spaces = Spaces::vectors(4, 2).with_envs(64);
    let mut agent = Agent::new(config, spaces, AgentSeeds { init: 0, explore: 1, replay: 2, noise: 4 })
        .expect("seed settings are valid");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut s = [0.0f32; 4];
    for i in 0..10_000 {
        let next: [f32; 4] = std::array::from_fn(|j| (s[j] + rng.random_range(-0.05..0.05)).clamp(-2.0, 2.0));
        let terminated = i % 25 == 24;
        let t = Transition {
            state: (&s).into(),
            action: rng.random_range(0..2),
            reward: 1.0,
            next_state: (&next).into(),
            terminated,
            truncated: false,
        };
        agent.observe(t).expect("finite transitions");
        s = if terminated { [0.0; 4] } else { next };
    }
    agent
}

#[divan::bench(sample_count = 500)]
fn agent_update(bencher: Bencher) {
    bench_update(bencher, Arithmetic::Separate);
}

/// The same with `arithmetic: Fused` (fused multiply-adds).
#[divan::bench(sample_count = 500)]
fn agent_update_fused(bencher: Bencher) {
    bench_update(bencher, Arithmetic::Fused);
}

/// The seed's update with prioritized replay (the paper's settings): the
/// same network work plus drawing by segments, the importance weights and
/// 64 priority updates. Compare with `agent_update` of the same run.
#[divan::bench(sample_count = 500)]
fn agent_update_prioritized(bencher: Bencher) {
    let config = DqnConfig { sampling: Sampling::Prioritized(Prioritized::default()), ..DqnConfig::seed() };
    run_update(bencher, filled_agent_with(config));
}

/// Rainbow's update, `DqnConfig::rainbow` (the agent of
/// `presets/cartpole-rainbow.ron`): dueling noisy heads on a trunk of 128, C51 with
/// 51 atoms, Double DQN, prioritized replay, 3-step returns; each action
/// draws the policy's noise, each update the target's. The peer:
/// `xtask/peers/rainbow_update.py`.
#[divan::bench(sample_count = 300)]
fn agent_update_rainbow(bencher: Bencher) {
    run_update(bencher, filled_agent_with(DqnConfig::rainbow()));
}

/// Hidden width (two layers) × batch size: the grid of `docs/benchmarks.md`.
const GRID: [(usize, usize); 12] = [
    (64, 32),
    (64, 64),
    (64, 128),
    (64, 256),
    (128, 32),
    (128, 64),
    (128, 128),
    (128, 256),
    (256, 32),
    (256, 64),
    (256, 128),
    (256, 256),
];

/// The seed's update with a `4 → h → h → 2` network and batches of `b`.
#[divan::bench(args = GRID, sample_count = 60, max_time = 3)]
fn update_grid(bencher: Bencher, (hidden, batch): (usize, usize)) {
    let config = DqnConfig { hidden: vec![hidden, hidden], batch_size: batch, ..DqnConfig::seed() };
    run_update(bencher, filled_agent_with(config));
}

/// The same grid with `arithmetic: Fused` (one rounding per multiply-add).
#[divan::bench(args = GRID, sample_count = 60, max_time = 3)]
fn update_grid_fused(bencher: Bencher, (hidden, batch): (usize, usize)) {
    let config = DqnConfig {
        hidden: vec![hidden, hidden],
        batch_size: batch,
        arithmetic: Arithmetic::Fused,
        ..DqnConfig::seed()
    };
    run_update(bencher, filled_agent_with(config));
}

/// A greedy action for one observation (`Agent::predict`: checks, forward,
/// argmax), after the buffer is full, as in training.
#[divan::bench(sample_count = 500)]
fn act_single(bencher: Bencher) {
    let mut agent = filled_agent(Arithmetic::Separate);
    let obs = [0.01f32, 0.02, -0.01, 0.03];
    bencher.bench_local(|| black_box(agent.predict(black_box(&obs)).expect("valid observation")));
}

/// Training actions for N environments at once (`Agent::act_batch`), with ε
/// decayed to its floor (1 %), as after the first few thousand steps: the
/// greedy rows in one batched forward. Divide by N for the cost per
/// observation.
#[divan::bench(args = [8, 64], sample_count = 500)]
fn act_batch(bencher: Bencher, n: usize) {
    let mut agent = filled_agent(Arithmetic::Separate);
    for _ in 0..5_000 {
        agent.act(Frame::F32(&[0.0; 4])).expect("valid observation");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let observations: Vec<f32> = (0..n * 4).map(|_| rng.random_range(-0.5..0.5)).collect();
    let mut actions = Vec::new();
    bencher.bench_local(|| {
        agent.act_batch(black_box((&observations).into()), &mut actions).expect("valid observations");
        black_box(actions.len())
    });
}

fn bench_update(bencher: Bencher, arithmetic: Arithmetic) {
    run_update(bencher, filled_agent(arithmetic));
}

fn run_update(bencher: Bencher, mut agent: Agent) {
    let obs = [0.01f32, 0.0, -0.01, 0.0];
    for _ in 0..100 {
        agent.act((&obs).into()).expect("valid observation");
        agent.update().expect("finite training");
    }
    bencher.bench_local(|| {
        // The anchor counts an action per update (sample_count += 1) so
        // the copy every 4 happens on the same cadence.
        agent.act((&obs).into()).expect("valid observation");
        black_box(agent.update().expect("finite training"))
    });
}
