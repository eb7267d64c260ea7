//! Training runs as values: the record a run leaves, its cache key, and a
//! pool that trains many runs side by side (each on one core, so every
//! run's numbers are those of any other machine or thread count). Shared by
//! `cargo xtask chapter` and `cargo xtask sweep`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use runner::{RunConfig, Session};
use serde::{Deserialize, Serialize};

/// Bumped when the code changes what a run computes, so cached results
/// from older code are not reused.
const CACHE_VERSION: &str = "dqn-rs chapter cache v1";

/// What one training run left: everything the chapter's figures and tables
/// need, and nothing that depends on the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub config: String,
    pub returns: Vec<f64>,
    pub episode_ends: Vec<u64>,
    pub q_probe: Vec<f64>,
    pub test_returns: Vec<f64>,
    pub test_q_start: Vec<f64>,
    pub test_discounted: Vec<f64>,
    pub train_steps: u64,
}

impl RunRecord {
    /// The mean greedy test return.
    pub fn test_mean(&self) -> f64 {
        runner::mean_std(&self.test_returns).0
    }

    /// The mean over test episodes of predicted Q(s₀) minus the discounted
    /// return obtained.
    pub fn overestimation(&self) -> f64 {
        let gaps: Vec<f64> = self.test_q_start.iter().zip(&self.test_discounted).map(|(q, g)| q - g).collect();
        runner::mean_std(&gaps).0
    }

    /// How much the probe Q-values move over the last 50 training episodes
    /// (standard deviation).
    pub fn q_wobble(&self) -> f64 {
        let tail = &self.q_probe[self.q_probe.len().saturating_sub(50)..];
        runner::mean_std(tail).1
    }
}

/// FNV-1a, 64 bits: a hash whose value never changes between Rust versions
/// (unlike `DefaultHasher`), so cache file names stay valid.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The cache key of a run: the code version and the full configuration.
pub fn run_key(config: &RunConfig) -> String {
    format!("{:016x}", fnv1a(&format!("{CACHE_VERSION}\n{}", config.to_ron())))
}

/// Trains `config` to the end and records it. The policy of a DQN run is
/// returned too, for the animation.
pub fn run_one(config: &RunConfig) -> Result<(RunRecord, Option<runner::Policy>), String> {
    let mut session = Session::new(config).map_err(|e| runner::ErrorChain(&e).to_string())?;
    let mut record = RunRecord {
        config: config.to_ron(),
        returns: Vec::new(),
        episode_ends: Vec::new(),
        q_probe: Vec::new(),
        test_returns: Vec::new(),
        test_q_start: Vec::new(),
        test_discounted: Vec::new(),
        train_steps: 0,
    };
    while !session.is_done() {
        for log in session.step().map_err(|e| runner::ErrorChain(&e).to_string())?.episodes {
            record.returns.push(log.ret);
            record.episode_ends.push(log.total_steps);
            record.q_probe.push(log.q_probe);
        }
    }
    record.train_steps = session.total_steps();
    for t in session.test(config.test_episodes, &mut |_| {}).map_err(|e| runner::ErrorChain(&e).to_string())? {
        record.test_returns.push(t.ret);
        record.test_q_start.push(t.q_start);
        record.test_discounted.push(t.discounted_return);
    }
    let policy = session.learner().dqn().map(|a| a.policy().clone());
    Ok((record, policy))
}

/// A finished run: its record, the trained policy (DQN runs) and the
/// seconds it took (training and testing, on one core).
pub struct RunOutcome {
    /// What the run left.
    pub record: RunRecord,
    /// The trained network, for DQN runs.
    pub policy: Option<runner::Policy>,
    /// Wall seconds of the run.
    pub seconds: f64,
}

/// Trains every `(key, config)` of `jobs` on `workers` threads, each run in
/// a one-thread pool (runs in parallel, not inside a run). `on_done` sees
/// each successful run as it finishes (with how many have finished), so
/// callers can save results at once. Returns every result, in finishing
/// order.
pub fn run_parallel(
    jobs: &[(String, RunConfig)],
    workers: usize,
    on_done: &(dyn Fn(&str, &RunConfig, &RunOutcome, usize) + Sync),
) -> Vec<(String, Result<RunOutcome, String>)> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((key, config)) = jobs.get(i) else { break };
                    let start = Instant::now();
                    let result = pool.install(|| run_one(config)).map(|(record, policy)| RunOutcome {
                        record,
                        policy,
                        seconds: start.elapsed().as_secs_f64(),
                    });
                    let mut done = done.lock().expect("no worker panics while holding the lock");
                    if let Ok(outcome) = &result {
                        on_done(key, config, outcome, done.len() + 1);
                    }
                    done.push((key.clone(), result));
                }
            });
        }
    });
    done.into_inner().expect("workers finished")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_test_vector() {
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
