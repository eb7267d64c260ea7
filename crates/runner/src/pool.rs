//! Many training runs side by side: the record a run leaves, the key it is
//! cached under, and a pool that trains a list of configurations on several
//! threads.
//!
//! Each run trains in a one-thread rayon pool of its own, so runs are
//! parallel with each other, not inside themselves; since a run's numbers
//! never depend on its thread count, a record made here equals the one
//! `train` makes on any machine. Used by the docs chapter, sweeps and the
//! benchmark suite; a library user can cache by [`run_key`] the same way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::stats::{fnv1a, mean_std};
use crate::{EnvFamily, Policy, RunConfig, RunError, Session};

/// Part of every [`run_key`]: changed when the code changes what a run
/// computes, so results cached by older code are not reused.
const CACHE_VERSION: &str = "dqn-rs chapter cache v1";

/// Part of the [`run_key`] of a run with a C51 head only: C51's target at a
/// terminal transition became a point mass at the reward (checkpoint format
/// 11), which changed those runs' numbers and no others, so only their
/// cached results are stale.
const C51_VERSION: &str = "c51 terminal target: point mass (format 11)";

/// What one training run left: its configuration, the per-episode training
/// curve and the greedy test, and nothing that depends on the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The configuration (RON), as [`RunConfig::to_ron`] writes it.
    pub config: String,
    /// Return of each training episode.
    pub returns: Vec<f64>,
    /// Environment steps taken when each training episode ended.
    pub episode_ends: Vec<u64>,
    /// The policy's mean max-Q over the probe states after each episode.
    pub q_probe: Vec<f64>,
    /// Return of each greedy test episode.
    pub test_returns: Vec<f64>,
    /// The policy's max-Q at each test episode's start.
    pub test_q_start: Vec<f64>,
    /// The discounted return each test episode obtained.
    pub test_discounted: Vec<f64>,
    /// Environment steps of training.
    pub train_steps: u64,
    /// Environment steps of training at each periodic evaluation
    /// ([`crate::EarlyStop`]; empty without one).
    #[serde(default)]
    pub eval_steps: Vec<u64>,
    /// The mean greedy return of each periodic evaluation.
    #[serde(default)]
    pub eval_means: Vec<f64>,
}

impl RunRecord {
    /// The mean greedy test return.
    #[must_use]
    pub fn test_mean(&self) -> f64 {
        mean_std(&self.test_returns).0
    }

    /// The lowest greedy test return (+∞ for no test episodes).
    #[must_use]
    pub fn test_min(&self) -> f64 {
        self.test_returns.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The mean over test episodes of predicted Q(s₀) minus the discounted
    /// return obtained.
    #[must_use]
    pub fn overestimation(&self) -> f64 {
        let gaps: Vec<f64> = self.test_q_start.iter().zip(&self.test_discounted).map(|(q, g)| q - g).collect();
        mean_std(&gaps).0
    }

    /// How much the probe Q-values move over the last 50 training episodes
    /// (standard deviation).
    #[must_use]
    pub fn q_wobble(&self) -> f64 {
        let tail = &self.q_probe[self.q_probe.len().saturating_sub(50)..];
        mean_std(tail).1
    }
}

/// The cache key of a run, 16 hex digits: the FNV-1a hash of the code's
/// cache version and the configuration, without its `tensorboard` folder
/// (logging changes no result) and with the bytes of its `init_policy`
/// (the file, not its name, decides the run).
#[must_use]
pub fn run_key(config: &RunConfig) -> String {
    let keyed = RunConfig { tensorboard: None, ..config.clone() };
    let mut text = format!("{CACHE_VERSION}\n{}", keyed.to_ron());
    if config.agent.distributional.is_some() {
        text.push_str(&format!("\n{C51_VERSION}"));
    }
    if let Some(path) = &config.init_policy {
        // An unreadable file keys apart from every readable one; the run
        // itself then fails naming it.
        let bytes = std::fs::read(path).map_or_else(|_| "unreadable".to_string(), |b| format!("{:016x}", fnv1a(&b)));
        text.push_str(&format!("\ninit_policy {bytes}"));
    }
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// Trains `config` to the end (in the calling thread's rayon pool) and
/// records it, with the trained network of a DQN run.
///
/// # Errors
/// The [`RunError`] that stopped the run.
pub fn run_one(config: &RunConfig) -> Result<(RunRecord, Option<Policy>), RunError> {
    record_run(Session::new(config)?)
}

/// As [`run_one`], on the environments `family` makes (one of the caller's
/// own, which the configuration cannot make: its record's configuration
/// names it `Custom`).
///
/// # Errors
/// As [`run_one`].
pub fn run_one_with(config: &RunConfig, family: Box<dyn EnvFamily>) -> Result<(RunRecord, Option<Policy>), RunError> {
    record_run(Session::with_family(config, family)?)
}

fn record_run(mut session: Session) -> Result<(RunRecord, Option<Policy>), RunError> {
    let config = session.config().clone();
    let mut record = RunRecord {
        config: config.to_ron(),
        returns: Vec::new(),
        episode_ends: Vec::new(),
        q_probe: Vec::new(),
        test_returns: Vec::new(),
        test_q_start: Vec::new(),
        test_discounted: Vec::new(),
        train_steps: 0,
        eval_steps: Vec::new(),
        eval_means: Vec::new(),
    };
    while !session.is_done() {
        let report = session.step()?;
        for log in report.episodes {
            record.returns.push(log.ret);
            record.episode_ends.push(log.total_steps);
            record.q_probe.push(log.q_probe);
        }
        if let Some(eval) = report.evaluation {
            record.eval_steps.push(eval.total_steps);
            record.eval_means.push(eval.mean_return);
        }
    }
    record.train_steps = session.total_steps();
    for t in session.test(config.test_episodes, &mut |_| {})? {
        record.test_returns.push(t.ret);
        record.test_q_start.push(t.q_start);
        record.test_discounted.push(t.discounted_return);
    }
    let policy = session.learner().dqn().map(|a| a.policy().clone());
    Ok((record, policy))
}

/// A finished run: its record, the trained policy (DQN runs) and the
/// seconds it took (training and testing, on one core).
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// What the run left.
    pub record: RunRecord,
    /// The trained network, for DQN runs.
    pub policy: Option<Policy>,
    /// Wall seconds of the run.
    pub seconds: f64,
    /// The most heap the run held at once, in bytes, when the binary
    /// counts it ([`crate::heap`]).
    pub peak_heap_bytes: Option<u64>,
}

/// Trains every `(key, config)` of `jobs` on `workers` threads, each run in
/// a one-thread pool, on its configuration's environment or, given a
/// `family`, on the environments it makes (one family serves every run: it
/// only makes environments). `on_done(key, config, outcome, finished)`
/// sees each successful run as it finishes (with how many have finished,
/// this one included), so a caller can save it at once; it is called under
/// a lock, one run at a time. Returns every result, in finishing order.
pub fn run_parallel(
    jobs: &[(String, RunConfig)],
    workers: usize,
    family: Option<&Arc<dyn EnvFamily>>,
    on_done: &(dyn Fn(&str, &RunConfig, &RunOutcome, usize) + Sync),
) -> Vec<(String, Result<RunOutcome, RunError>)> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        // No more threads than runs: a worker count of any size (2⁶⁴ − 1)
        // spawns at most one thread per run.
        for _ in 0..workers.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((key, config)) = jobs.get(i) else { break };
                    let start = Instant::now();
                    // Without a pool of its own (thread creation refused),
                    // the run goes on in the global one: same numbers.
                    // Measured on the thread the run trains on.
                    let run = || match family {
                        Some(family) => run_one_with(config, Box::new(Arc::clone(family))),
                        None => run_one(config),
                    };
                    let measured = || crate::heap::thread_peak(run);
                    let (result, peak_heap_bytes) = match &pool {
                        Ok(pool) => pool.install(measured),
                        Err(_) => measured(),
                    };
                    let result = result.map(|(record, policy)| RunOutcome {
                        record,
                        policy,
                        seconds: start.elapsed().as_secs_f64(),
                        peak_heap_bytes,
                    });
                    // A panic in another worker's callback poisons the
                    // lock; the results gathered so far are still whole.
                    let mut done = done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if let Ok(outcome) = &result {
                        on_done(key, config, outcome, done.len() + 1);
                    }
                    done.push((key.clone(), result));
                }
            });
        }
    });
    done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(seed: u64) -> RunConfig {
        let mut c = RunConfig { seed, train_episodes: 3, test_episodes: 2, ..RunConfig::default() };
        c.agent.hidden = vec![8];
        c.agent.batch_size = 8;
        c
    }

    #[test]
    fn keys_name_configurations() {
        assert_eq!(run_key(&tiny(0)), run_key(&tiny(0)));
        assert_ne!(run_key(&tiny(0)), run_key(&tiny(1)));
        assert_eq!(run_key(&tiny(0)).len(), 16);
    }

    /// The pool's records are the ones a run trained alone leaves, whatever
    /// the number of workers.
    #[test]
    fn the_pool_gives_each_run_its_own_numbers() {
        let jobs: Vec<(String, RunConfig)> = (0..4).map(|s| (run_key(&tiny(s)), tiny(s))).collect();
        let alone: Vec<RunRecord> = jobs.iter().map(|(_, c)| run_one(c).unwrap().0).collect();
        let calls = AtomicUsize::new(0);
        let results = run_parallel(&jobs, 3, None, &|_, _, _, _| {
            calls.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(calls.into_inner(), 4);
        for (key, result) in results {
            let i = jobs.iter().position(|(k, _)| *k == key).unwrap();
            assert_eq!(result.unwrap().record, alone[i], "{key}");
        }
    }
}
