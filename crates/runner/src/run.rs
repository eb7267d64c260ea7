use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use agent::{Agent, AgentSeeds};
use cartpole_sim::{Action, CartPole};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::Transition;
use serde::Serialize;

use crate::error::io_err;
use crate::{RunConfig, RunError, policy_file};

/// The random streams of a run, each derived from the master seed: stream
/// `k` of ChaCha8 seeded with the master seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Resets of the training environment.
    TrainEnv = 0,
    /// Resets of the test environment.
    TestEnv = 1,
    /// Network initialisation.
    Init = 2,
    /// ε-greedy draws.
    Explore = 3,
    /// Mini-batch sampling.
    Replay = 4,
}

impl Stream {
    /// The RNG of this stream for `master_seed`.
    #[must_use]
    pub fn rng(self, master_seed: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(master_seed);
        rng.set_stream(self as u64);
        rng
    }

    fn seed(self, master_seed: u64) -> u64 {
        self.rng(master_seed).next_u64()
    }
}

/// One finished training episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeLog {
    /// 1-based.
    pub episode: u32,
    /// Steps in this episode.
    pub steps: u32,
    /// Environment steps since training began.
    pub total_steps: u64,
    /// The sum of rewards.
    pub ret: f64,
    /// ε after the episode's last action.
    pub epsilon: f64,
    /// The mean loss of the episode's updates (`None` before learning starts).
    pub mean_loss: Option<f64>,
    /// Seconds since training began.
    pub wall_seconds: f64,
}

/// What a run reports as it goes. Every method has a default that does
/// nothing.
pub trait Progress: Send {
    /// After each training episode.
    fn train_episode(&mut self, _log: &EpisodeLog, _of: u32) {}
    /// After each test episode, with its return.
    fn test_episode(&mut self, _episode: u32, _ret: f64, _of: u32) {}
}

/// A [`Progress`] that reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Training episodes run.
    pub train_episodes: u32,
    /// Environment steps in training.
    pub train_steps: u64,
    /// Gradient steps taken.
    pub updates: u64,
    /// The greedy test returns.
    pub test_returns: Vec<f64>,
    /// Their mean.
    pub test_mean: f64,
    /// Their (population) standard deviation.
    pub test_std: f64,
    /// Seconds for training and testing.
    pub wall_seconds: f64,
    /// Training environment steps per second of training.
    pub train_steps_per_second: f64,
}

/// The files of a run folder.
pub mod files {
    /// The resolved configuration.
    pub const CONFIG: &str = "config.ron";
    /// One line per training episode; the same bits for the same seed and configuration.
    pub const TRAIN_CSV: &str = "train.csv";
    /// Wall-clock time per training episode (kept apart so `train.csv` is reproducible).
    pub const TIMING_CSV: &str = "timing.csv";
    /// One line per test episode.
    pub const TEST_CSV: &str = "test.csv";
    /// The trained policy network.
    pub const POLICY: &str = "policy.json";
    /// The summary.
    pub const SUMMARY: &str = "summary.json";
}

/// Creates `dir` (and its parents) and checks that it is empty and writable,
/// before any training starts.
///
/// # Errors
/// [`RunError::RunDirNotEmpty`] or [`RunError::Io`].
pub fn prepare_run_dir(dir: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir, "create run folder"))?;
    let mut entries = std::fs::read_dir(dir).map_err(io_err(dir, "list run folder"))?;
    if entries.next().is_some() {
        return Err(RunError::RunDirNotEmpty {
            path: dir.to_path_buf(),
        });
    }
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(io_err(&probe, "write in run folder"))?;
    std::fs::remove_file(&probe).map_err(io_err(&probe, "remove"))
}

struct CsvFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl CsvFile {
    fn create(path: PathBuf, header: &str) -> Result<Self, RunError> {
        let file = File::create(&path).map_err(io_err(&path, "create"))?;
        let mut csv = Self {
            path,
            out: BufWriter::new(file),
        };
        csv.line(header)?;
        Ok(csv)
    }

    /// Writes a line and flushes it, so the file is readable however the run ends.
    fn line(&mut self, line: &str) -> Result<(), RunError> {
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(io_err(&self.path, "write"))
    }
}

/// Trains and tests as `config` says, writing everything into `run_dir`
/// (which must be empty or absent). The configuration is checked and the
/// folder proven writable before the first step.
///
/// # Errors
/// [`RunError::Config`] for an invalid configuration, [`RunError::Io`] or
/// [`RunError::RunDirNotEmpty`] for the folder, [`RunError::Agent`] naming
/// the episode and step if training fails (the CSV lines written so far stay
/// readable).
pub fn train(
    config: &RunConfig,
    run_dir: &Path,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError> {
    config.validate()?;
    prepare_run_dir(run_dir)?;
    let write = |name: &str, text: String| {
        std::fs::write(run_dir.join(name), text).map_err(io_err(run_dir.join(name), "write"))
    };
    write(files::CONFIG, config.to_ron())?;

    let seeds = AgentSeeds {
        init: Stream::Init.seed(config.seed),
        explore: Stream::Explore.seed(config.seed),
        replay: Stream::Replay.seed(config.seed),
    };
    let mut agent =
        Agent::new(config.dqn_config(), seeds).map_err(|e| crate::ConfigError::Invalid {
            field: "agent".into(),
            reason: e.to_string(),
        })?;
    let mut env = CartPole::new(config.env_config())?;
    let mut env_rng = Stream::TrainEnv.rng(config.seed);
    let mut train_csv = CsvFile::create(
        run_dir.join(files::TRAIN_CSV),
        "episode,steps,total_steps,return,epsilon,mean_loss",
    )?;
    let mut timing_csv = CsvFile::create(
        run_dir.join(files::TIMING_CSV),
        "episode,wall_seconds,steps_per_second",
    )?;

    let start = Instant::now();
    let mut total_steps = 0u64;
    for episode in 1..=config.train_episodes {
        let mut obs = env.reset(&mut env_rng);
        let (mut steps, mut ret, mut loss_sum, mut n_losses) = (0u32, 0.0f64, 0.0f64, 0u32);
        loop {
            let fail = |source| RunError::Agent {
                phase: "train",
                episode,
                step: steps + 1,
                source,
            };
            let action = agent.act(&obs).map_err(fail)?;
            let step = env.step(Action::from_index(action)?)?;
            let transition = Transition {
                state: &obs,
                action,
                reward: step.reward as f32,
                next_state: &step.obs,
                terminated: step.terminated,
                truncated: step.truncated,
            };
            agent.observe(transition).map_err(fail)?;
            if let Some(stats) = agent.update().map_err(fail)? {
                loss_sum += f64::from(stats.loss);
                n_losses += 1;
            }
            steps += 1;
            ret += step.reward;
            obs = step.obs;
            if step.is_done() {
                break;
            }
        }
        total_steps += u64::from(steps);
        let log = EpisodeLog {
            episode,
            steps,
            total_steps,
            ret,
            epsilon: agent.epsilon(),
            mean_loss: (n_losses > 0).then(|| loss_sum / f64::from(n_losses)),
            wall_seconds: start.elapsed().as_secs_f64(),
        };
        let loss = log.mean_loss.map_or(String::new(), |l| l.to_string());
        train_csv.line(&format!(
            "{},{},{},{},{},{loss}",
            log.episode, log.steps, log.total_steps, log.ret, log.epsilon
        ))?;
        timing_csv.line(&format!(
            "{},{:.6},{:.1}",
            episode,
            log.wall_seconds,
            total_steps as f64 / log.wall_seconds.max(1e-9)
        ))?;
        progress.train_episode(&log, config.train_episodes);
    }
    let train_seconds = start.elapsed().as_secs_f64();
    policy_file::save_policy(agent.policy(), &run_dir.join(files::POLICY))?;

    let test_returns = test_episodes(&mut agent, config, config.test_episodes, progress)?;
    let mut test_csv = CsvFile::create(run_dir.join(files::TEST_CSV), "episode,return")?;
    for (i, ret) in test_returns.iter().enumerate() {
        test_csv.line(&format!("{},{ret}", i + 1))?;
    }
    let (test_mean, test_std) = mean_std(&test_returns);
    let summary = RunSummary {
        run_dir: run_dir.to_path_buf(),
        train_episodes: config.train_episodes,
        train_steps: total_steps,
        updates: agent.n_updates(),
        test_returns,
        test_mean,
        test_std,
        wall_seconds: start.elapsed().as_secs_f64(),
        train_steps_per_second: total_steps as f64 / train_seconds.max(1e-9),
    };
    write(
        files::SUMMARY,
        serde_json::to_string_pretty(&summary).expect("a summary always serializes"),
    )?;
    Ok(summary)
}

/// Greedy episodes of `agent`'s policy on the test environment stream.
fn test_episodes(
    agent: &mut Agent,
    config: &RunConfig,
    episodes: u32,
    progress: &mut dyn Progress,
) -> Result<Vec<f64>, RunError> {
    let mut env = CartPole::new(config.env_config())?;
    let mut rng = Stream::TestEnv.rng(config.seed);
    let mut returns = Vec::with_capacity(episodes as usize);
    for episode in 1..=episodes {
        let mut obs = env.reset(&mut rng);
        let (mut ret, mut steps) = (0.0, 0u32);
        loop {
            steps += 1;
            let action = agent.predict(&obs).map_err(|source| RunError::Agent {
                phase: "test",
                episode,
                step: steps,
                source,
            })?;
            let step = env.step(Action::from_index(action)?)?;
            ret += step.reward;
            obs = step.obs;
            if step.is_done() {
                break;
            }
        }
        progress.test_episode(episode, ret, episodes);
        returns.push(ret);
    }
    Ok(returns)
}

/// Loads the policy saved in `run_dir` and runs `episodes` greedy episodes
/// with the run's configuration (the same test stream as the run's own test).
///
/// # Errors
/// [`RunError::Config`] if the run's configuration cannot be read,
/// [`RunError::Policy`]/[`RunError::Io`] for the policy file.
pub fn test_saved(
    run_dir: &Path,
    episodes: u32,
    progress: &mut dyn Progress,
) -> Result<Vec<f64>, RunError> {
    let config = RunConfig::from_file(&run_dir.join(files::CONFIG))?;
    config.validate()?;
    let policy = policy_file::load_policy(&run_dir.join(files::POLICY))?;
    let seeds = AgentSeeds {
        init: 0,
        explore: 0,
        replay: 0,
    };
    let dqn = agent::DqnConfig {
        buffer_capacity: config.agent.batch_size,
        ..config.dqn_config()
    };
    let mut agent = Agent::new(dqn, seeds).map_err(|e| crate::ConfigError::Invalid {
        field: "agent".into(),
        reason: e.to_string(),
    })?;
    agent.load_policy(policy).map_err(|e| RunError::Policy {
        path: run_dir.join(files::POLICY),
        reason: e.to_string(),
    })?;
    test_episodes(&mut agent, &config, episodes, progress)
}

/// Mean and population standard deviation (0 and 0 for none).
#[must_use]
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}
