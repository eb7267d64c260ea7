//! `Agent::update()` as PyTorch's `seed_dqn.py --mode updates` measures
//! `agent.update()`: a buffer of 10 000 transitions of random play, then
//! sample 64 + target forward + policy forward/backward + clamp + Adam +
//! target copy every 4 actions. `RAYON_NUM_THREADS=1 cargo bench -p agent`
//! (and `=2`); the bench thread is worker 0 of the global pool.

use agent::{Agent, AgentSeeds, Arithmetic, DqnConfig};
use divan::{Bencher, black_box};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::Transition;

fn main() {
    rayon::ThreadPoolBuilder::new().use_current_thread().build_global().expect("the first and only global pool");
    println!("rayon threads: {}", rayon::current_num_threads());
    divan::main();
}

/// The seed's agent with 10 000 transitions of a random walk in CartPole's
/// observation ranges (the anchor fills its buffer with random play).
fn filled_agent(arithmetic: Arithmetic) -> Agent {
    let config = DqnConfig { arithmetic, ..DqnConfig::seed(4, 2) };
    let mut agent = Agent::new(config, AgentSeeds { init: 0, explore: 1, replay: 2 }).expect("seed settings are valid");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut s = [0.0f32; 4];
    for i in 0..10_000 {
        let next: [f32; 4] = std::array::from_fn(|j| (s[j] + rng.random_range(-0.05..0.05)).clamp(-2.0, 2.0));
        let terminated = i % 25 == 24;
        let t = Transition {
            state: &s,
            action: rng.random_range(0..2),
            reward: 1.0,
            next_state: &next,
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

fn bench_update(bencher: Bencher, arithmetic: Arithmetic) {
    let mut agent = filled_agent(arithmetic);
    let obs = [0.01f32, 0.0, -0.01, 0.0];
    for _ in 0..100 {
        agent.act(&obs).expect("valid observation");
        agent.update().expect("finite training");
    }
    bencher.bench_local(|| {
        // The anchor counts an action per update (sample_count += 1) so
        // the copy every 4 happens on the same cadence.
        agent.act(&obs).expect("valid observation");
        black_box(agent.update().expect("finite training"))
    });
}
