//! An environment written outside Rust, as the Python package drives one:
//! a `VecEnv` and `EnvFamily` of the caller's that cannot be saved and may
//! misbehave. Bad outputs (a short slice, a NaN) and the environment's own
//! errors are named errors, never panics; a run on it trains, is tested,
//! pools and evaluates without rebuilding it from the configuration, names
//! it in `config.ron`, and says up front that it cannot resume.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use env_core::{Env, EnvError, EnvFamily, EnvSpec, Obs, ObsMut, ObsSpace, OutputProblem, Resets, StepOutcome, VecEnv};
use rand::RngCore;
use runner::{
    Collection, EnvSetting, ErrorChain, Progress, RunConfig, RunError, Silent, TrainOptions, files, pool, resume,
    resume_family, test_policy_family, train_family,
};

/// What the foreign environment gets wrong, from a given step on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    ShortObservations,
    NanReward,
    NanObservation,
    StepFails,
    MakeFails,
}

/// A walk on 0..=4: action 1 moves right, 0 left; the episode ends at 4
/// (reward 1) and is cut after 8 steps. Observations are `[position / 4,
/// steps / 8]`.
#[derive(Debug)]
struct Walk {
    position: u32,
    steps: u32,
}

impl Walk {
    fn observe(&self, obs: &mut [f32]) {
        obs[0] = self.position as f32 / 4.0;
        obs[1] = self.steps as f32 / 8.0;
    }
}

fn spec() -> EnvSpec {
    EnvSpec {
        id: "ForeignWalk-v0".into(),
        obs: ObsSpace::vector(2),
        n_actions: 2,
        max_episode_steps: Some(8),
        reward_threshold: None,
        obs_ranges: vec![(0.0, 1.0); 2],
    }
}

impl Env for Walk {
    fn spec(&self) -> EnvSpec {
        spec()
    }

    fn reset(&mut self, rng: &mut dyn RngCore, obs: ObsMut<'_>) -> Result<(), EnvError> {
        let ObsMut::F32(obs) = obs else { panic!("f32 observations") };
        // As a Gymnasium environment seeded by `reset(seed=...)`.
        self.position = rng.next_u32() % 3;
        self.steps = 0;
        self.observe(obs);
        Ok(())
    }

    fn step(&mut self, action: usize, obs: ObsMut<'_>) -> Result<StepOutcome, EnvError> {
        let ObsMut::F32(obs) = obs else { panic!("f32 observations") };
        self.position = if action == 1 { self.position + 1 } else { self.position.saturating_sub(1) };
        self.steps += 1;
        self.observe(obs);
        let terminated = self.position == 4;
        Ok(StepOutcome { reward: f64::from(u8::from(terminated)), terminated, truncated: self.steps == 8 })
    }

    fn elapsed_steps(&self) -> u32 {
        self.steps
    }

    fn is_running(&self) -> bool {
        true
    }
}

/// A batch of `Walk`s with same-step auto-reset, written directly (as a
/// binding would), faulty from step `from` on.
#[derive(Debug)]
struct ForeignBatch {
    envs: Vec<Walk>,
    observations: Vec<f32>,
    final_observations: Vec<f32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    elapsed: Vec<u32>,
    fault: Fault,
    from: u64,
    steps: u64,
}

impl VecEnv for ForeignBatch {
    fn spec(&self) -> EnvSpec {
        spec()
    }
    fn len(&self) -> usize {
        self.envs.len()
    }
    fn observations(&self) -> Obs<'_> {
        Obs::F32(&self.observations)
    }
    fn final_observations(&self) -> Obs<'_> {
        let faulty = self.fault == Fault::ShortObservations && self.steps >= self.from;
        let n = if faulty { self.final_observations.len() - 1 } else { self.final_observations.len() };
        Obs::F32(&self.final_observations[..n])
    }
    fn rewards(&self) -> &[f64] {
        &self.rewards
    }
    fn terminated(&self) -> &[bool] {
        &self.terminated
    }
    fn truncated(&self) -> &[bool] {
        &self.truncated
    }
    fn elapsed_steps(&self) -> &[u32] {
        &self.elapsed
    }
    fn step(&mut self, actions: &[usize], resets: &mut dyn Resets) -> Result<(), EnvError> {
        self.steps += 1;
        let faulty = self.steps >= self.from;
        if faulty && self.fault == Fault::StepFails {
            return Err(EnvError::Custom("gymnasium.error.ResetNeeded: the simulator crashed".into()));
        }
        for (i, env) in self.envs.iter_mut().enumerate() {
            let out = env.step(actions[i], ObsMut::F32(&mut self.final_observations[i * 2..i * 2 + 2]))?;
            self.rewards[i] = out.reward;
            self.terminated[i] = out.terminated;
            self.truncated[i] = out.truncated;
            if out.is_done() {
                env.reset(resets.rng(i), ObsMut::F32(&mut self.observations[i * 2..i * 2 + 2]))?;
            } else {
                let (row, from) =
                    (&mut self.observations[i * 2..i * 2 + 2], &self.final_observations[i * 2..i * 2 + 2]);
                row.copy_from_slice(from);
            }
            self.elapsed[i] = env.steps;
        }
        if faulty && self.fault == Fault::NanReward {
            self.rewards[0] = f64::NAN;
        }
        if faulty && self.fault == Fault::NanObservation {
            self.final_observations[1] = f32::NAN;
        }
        Ok(())
    }
    fn save(&self) -> Result<Vec<u8>, EnvError> {
        Err(EnvError::NotSaveable { id: spec().id })
    }
}

/// The family: it makes the batches above and cannot save them.
#[derive(Debug)]
struct Foreign {
    fault: Fault,
    from: u64,
    /// Single environments made, to see that greedy episodes reuse them.
    made: Mutex<usize>,
}

fn foreign(fault: Fault, from: u64) -> Foreign {
    Foreign { fault, from, made: Mutex::new(0) }
}

impl EnvFamily for Foreign {
    fn spec(&self) -> EnvSpec {
        spec()
    }
    fn single(&self) -> Result<Box<dyn Env>, EnvError> {
        *self.made.lock().unwrap() += 1;
        Ok(Box::new(Walk { position: 0, steps: 0 }))
    }
    fn batch(&self, n: usize, resets: &mut dyn Resets) -> Result<Box<dyn VecEnv>, EnvError> {
        if self.fault == Fault::MakeFails {
            return Err(EnvError::Custom("gymnasium.error.NameNotFound: no such environment".into()));
        }
        let mut batch = ForeignBatch {
            envs: (0..n).map(|_| Walk { position: 0, steps: 0 }).collect(),
            observations: vec![0.0; 2 * n],
            final_observations: vec![0.0; 2 * n],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            elapsed: vec![0; n],
            fault: self.fault,
            from: self.from,
            steps: 0,
        };
        for (i, env) in batch.envs.iter_mut().enumerate() {
            env.reset(resets.rng(i), ObsMut::F32(&mut batch.observations[i * 2..i * 2 + 2]))?;
        }
        batch.final_observations.clone_from(&batch.observations);
        Ok(Box::new(batch))
    }
    fn can_save(&self) -> bool {
        false
    }
    fn restore(&self, _: &[u8]) -> Result<Box<dyn VecEnv>, EnvError> {
        Err(EnvError::NotSaveable { id: spec().id })
    }
}

fn config() -> RunConfig {
    let mut c = RunConfig { seed: 3, train_episodes: 40, test_episodes: 5, ..RunConfig::default() };
    c.agent.hidden = vec![16];
    c.agent.batch_size = 16;
    c.agent.buffer_capacity = 500;
    c.agent.epsilon.decay = 100.0;
    c.collection = Collection { envs: 2, update_every: 1 };
    c.early_stop = Some(runner::EarlyStop { every_steps: 50, episodes: 3, solved_at: 2.0 });
    c
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-foreign-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Counts the notices a run gives.
#[derive(Default)]
struct Notices {
    unavailable: Vec<String>,
}

impl Progress for Notices {
    fn checkpoints_unavailable(&mut self, env: &str) {
        self.unavailable.push(env.to_string());
    }
}

#[test]
fn a_run_on_a_foreign_environment_trains_tests_and_cannot_resume() {
    let dir = scratch("run");
    let mut notices = Notices::default();
    let family = Arc::new(foreign(Fault::None, u64::MAX));
    let summary =
        train_family(&config(), Box::new(Arc::clone(&family)), &dir, &TrainOptions::default(), &mut notices).unwrap();
    assert_eq!(summary.env, "ForeignWalk-v0");
    assert_eq!(notices.unavailable, ["ForeignWalk-v0"], "said up front");
    assert!(!dir.join("checkpoints").exists() || std::fs::read_dir(dir.join("checkpoints")).unwrap().next().is_none());
    // The run's configuration names the environment it ran on.
    let saved = RunConfig::from_file(&dir.join(files::CONFIG)).unwrap();
    assert_eq!(saved.env, EnvSetting::Custom { id: "ForeignWalk-v0".into() });
    // Evaluations and the test reuse their environments: 3 evaluation
    // episodes at a time, then 5 test episodes, made at most 5 times, not
    // once per episode.
    assert!(*family.made.lock().unwrap() <= 6, "{} single environments made", family.made.lock().unwrap());
    // Resuming names the reason; a configuration alone cannot make it.
    std::fs::remove_file(dir.join(files::SUMMARY)).unwrap();
    let err = resume_family(&dir, Box::new(foreign(Fault::None, 0)), &TrainOptions::default(), &mut Silent);
    let err = err.unwrap_err();
    assert!(matches!(err, RunError::NotResumable { ref env } if env == "ForeignWalk-v0"), "{err}");
    let err = resume(&dir, &TrainOptions::default(), &mut Silent).unwrap_err();
    assert!(ErrorChain(&err).to_string().contains("Custom(id: \"ForeignWalk-v0\")"), "{}", ErrorChain(&err));
    // The saved policy tests on the family, without the configuration
    // making it: the same returns as the run's own test.
    let tests = test_policy_family(&saved, family.as_ref(), &dir.join(files::POLICY), 5, &mut Silent).unwrap();
    assert_eq!(tests.iter().map(|t| t.ret).collect::<Vec<_>>(), summary.test_returns);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stopped_run_on_an_unsaveable_environment_says_it_cannot_continue() {
    let dir = scratch("stopped");
    let options = TrainOptions { stop_after_steps: Some(30), ..TrainOptions::default() };
    let err = train_family(&config(), Box::new(foreign(Fault::None, 0)), &dir, &options, &mut Silent).unwrap_err();
    assert!(matches!(err, RunError::Interrupted { checkpoint: None, .. }), "{err:?}");
    assert!(err.to_string().contains("cannot be saved"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_outputs_and_failures_are_named_errors() {
    let cases: [(Fault, &str); 5] = [
        (Fault::ShortObservations, "bad final_observations: 3 values, expected 4"),
        (Fault::NanReward, "bad rewards (environment 0 of the batch): value 0 is NaN"),
        (Fault::NanObservation, "bad final_observations (environment 0 of the batch): value 1 is NaN"),
        (Fault::StepFails, "the simulator crashed"),
        (Fault::MakeFails, "no such environment"),
    ];
    for (fault, says) in cases {
        let dir = scratch("faulty");
        let err = train_family(&config(), Box::new(foreign(fault, 7)), &dir, &TrainOptions::default(), &mut Silent)
            .unwrap_err();
        let text = ErrorChain(&err).to_string();
        assert!(matches!(err, RunError::Env { ref env, .. } if env == "ForeignWalk-v0"), "{fault:?}: {text}");
        assert!(text.contains(says), "{fault:?}: {text}");
        if fault != Fault::MakeFails {
            assert!(text.contains("ForeignWalk-v0, train episode"), "{fault:?}: {text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The check itself, on a batch that hands back what its spec says not.
    let mut rngs: Vec<rand_chacha::ChaCha8Rng> =
        (0..2).map(<rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64).collect();
    let mut batch = foreign(Fault::NanObservation, 1).batch(2, &mut rngs).unwrap();
    assert!(env_core::check_outputs(batch.as_ref(), &spec()).is_ok());
    batch.step(&[1, 1], &mut rngs).unwrap();
    let err = env_core::check_outputs(batch.as_ref(), &spec()).unwrap_err();
    assert!(
        matches!(
            err,
            EnvError::Output {
                field: "final_observations",
                env: Some(0),
                problem: OutputProblem::NonFinite { index: 1, .. }
            }
        ),
        "{err}"
    );
}

/// The run pool trains runs on a family of the caller's, each with the
/// numbers it has alone.
#[test]
fn the_pool_runs_a_foreign_environment() {
    let family: Arc<dyn EnvFamily> = Arc::new(foreign(Fault::None, u64::MAX));
    let jobs: Vec<(String, RunConfig)> = (0..2)
        .map(|seed| {
            let c = RunConfig { seed, ..config() };
            (pool::run_key(&c), c)
        })
        .collect();
    let alone: Vec<pool::RunRecord> =
        jobs.iter().map(|(_, c)| pool::run_one_with(c, Box::new(Arc::clone(&family))).unwrap().0).collect();
    let results = pool::run_parallel(&jobs, 2, Some(&family), &|_, _, _, _| {});
    for (key, result) in results {
        let i = jobs.iter().position(|(k, _)| *k == key).unwrap();
        let record = result.unwrap().record;
        assert_eq!(record, alone[i]);
        let config = RunConfig::from_ron(&record.config, "record").unwrap();
        assert_eq!(config.env, EnvSetting::Custom { id: "ForeignWalk-v0".into() });
    }
}
