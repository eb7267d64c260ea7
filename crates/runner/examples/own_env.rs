//! Bring your own environment: a 1-D chase on 11 cells, trained with DQN.
//!
//!     cargo run --release -p runner --example own_env [EPISODES [SEED]]
//!
//! Implement `env_core::Dynamics` (a state, how it starts, moves, ends and
//! pays); `EpisodicFamily` adds the episode rules (step limit, terminated vs
//! truncated, errors for bad actions) and the batched, checkpointable form
//! that `runner::Session` trains on.

use env_core::{Dynamics, EnvSpec, EpisodicFamily, ObsSpace};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The runner at cell `state[0]` must reach the goal at cell `state[1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chase;

impl Dynamics for Chase {
    type State = [f64; 2];
    type Element = f32;
    const OBS_LEN: usize = 2;
    const N_ACTIONS: usize = 2; // 0: left, 1: right

    fn spec(&self, max_episode_steps: u32) -> EnvSpec {
        EnvSpec {
            id: "Chase1D".into(),
            obs: ObsSpace::vector(2),
            n_actions: 2,
            max_episode_steps: Some(max_episode_steps),
            reward_threshold: None,
            obs_ranges: vec![(0.0, 1.0); 2],
        }
    }
    fn draw_start(&self, rng: &mut dyn RngCore) -> [f64; 2] {
        let runner = rng.next_u32() % 11;
        let goal = (runner + 1 + rng.next_u32() % 10) % 11; // never the same cell
        [f64::from(runner), f64::from(goal)]
    }
    fn advance(&self, &[runner, goal]: &[f64; 2], action: usize) -> [f64; 2] {
        let step = if action == 0 { -1.0 } else { 1.0 };
        [(runner + step).clamp(0.0, 10.0), goal]
    }
    fn is_terminal(&self, &[runner, goal]: &[f64; 2]) -> bool {
        runner == goal
    }
    fn reward(&self, _: &[f64; 2], terminated: bool) -> f64 {
        if terminated { 0.0 } else { -1.0 }
    }
    fn observe(&self, state: &[f64; 2], obs: &mut [f32]) {
        for (o, s) in obs.iter_mut().zip(state) {
            *o = (s / 10.0) as f32;
        }
    }
    fn initial_state(&self) -> [f64; 2] {
        [0.0, 10.0]
    }
}

/// Trains DQN on `Chase` for `episodes` episodes (30 steps at most each);
/// returns the training returns and the greedy test returns.
pub fn train(episodes: u32, seed: u64) -> Result<(Vec<f64>, Vec<f64>), Box<dyn std::error::Error>> {
    let mut config = runner::RunConfig { seed, train_episodes: episodes, test_episodes: 10, ..Default::default() };
    config.agent.hidden = vec![64];
    config.agent.lr = 3e-3;
    config.agent.epsilon.decay = 300.0;
    let family = EpisodicFamily::new(Chase, 30)?;
    let mut session = runner::Session::with_family(&config, Box::new(family))?;
    let mut returns = Vec::new();
    while !session.is_done() {
        returns.extend(session.step()?.episodes.iter().map(|e| e.ret));
    }
    let tests = session.test(config.test_episodes, &mut |_| {})?;
    Ok((returns, tests.iter().map(|t| t.ret).collect()))
}

#[allow(dead_code)] // the test suite includes this file for `train`
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let episodes = std::env::args().nth(1).map_or(Ok(300), |a| a.parse())?;
    let seed = std::env::args().nth(2).map_or(Ok(0), |a| a.parse())?;
    let (returns, tests) = train(episodes, seed)?;
    for (i, chunk) in returns.chunks(50).enumerate() {
        let mean = chunk.iter().sum::<f64>() / chunk.len() as f64;
        println!("episodes {:>4}-{:<4} mean return {mean:6.2}", i * 50 + 1, i * 50 + chunk.len());
    }
    println!("greedy test returns: {tests:?}");
    Ok(())
}
