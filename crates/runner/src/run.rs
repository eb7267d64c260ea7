//! Runs as a user starts them: a run folder, its logs and checkpoints,
//! training to the end (or to an interruption that checkpoints), the greedy
//! test, the summary; resuming from the newest usable checkpoint; testing a
//! saved policy.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::atomic_file::write_atomic;
use crate::error::{SkippedCheckpoint, io_err};
use crate::session::{EpisodeLog, EvalLog, Session, TestLog, test_policy};
use crate::stats::mean_std;
use crate::{ConfigError, EnvFamily, MAX_GREEDY_EPISODES, Phase, RunConfig, RunError, checkpoint, policy_file};

/// What a run reports as it goes. Every method has a default that does
/// nothing.
pub trait Progress: Send {
    /// After each training episode; `elapsed` is seconds since training began.
    fn train_episode(&mut self, _log: &EpisodeLog, _of: u32, _elapsed: f64) {}
    /// After each test episode.
    fn test_episode(&mut self, _log: &TestLog, _of: u32) {}
    /// After each periodic evaluation (`early_stop`).
    fn evaluation(&mut self, _log: &EvalLog) {}
    /// When [`resume`] passes over a checkpoint it cannot use (newest
    /// first), before it tries the next.
    fn checkpoint_skipped(&mut self, _skipped: &SkippedCheckpoint) {}
    /// Before training, when the run's environment cannot be saved (its
    /// family says so): the run writes no checkpoints, and cannot be
    /// resumed.
    fn checkpoints_unavailable(&mut self, _env: &str) {}
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
    /// The environment's id (`"CartPole-v1"`).
    pub env: String,
    /// The environment's solve threshold on the mean return (Gymnasium's
    /// `reward_threshold`), if it has one.
    pub reward_threshold: Option<f64>,
    /// Training episodes finished.
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
    /// Seconds of training (the rest of `wall_seconds` is the test phase).
    pub train_seconds: f64,
    /// Whether a periodic evaluation found the policy solved, ending
    /// training early.
    pub solved_early: bool,
    /// With `early_stop` configured: whether the test phase's mean return
    /// reaches its `solved_at` (the solve criterion, measured on the test
    /// episodes).
    pub solved: Option<bool>,
}

/// The files of a run folder.
pub mod files {
    /// The resolved configuration.
    pub const CONFIG: &str = "config.ron";
    /// One line per training episode; the same bytes for the same seed and configuration.
    pub const TRAIN_CSV: &str = "train.csv";
    /// Wall-clock time per training episode (kept apart so `train.csv` is reproducible).
    pub const TIMING_CSV: &str = "timing.csv";
    /// The periodic evaluations (`early_stop`), one line each.
    pub const EVAL_CSV: &str = "eval.csv";
    /// One line per test episode.
    pub const TEST_CSV: &str = "test.csv";
    /// The trained policy network.
    pub const POLICY: &str = "policy.json";
    /// The summary.
    pub const SUMMARY: &str = "summary.json";
}

/// The header of `train.csv`.
pub const TRAIN_HEADER: &str = "episode,steps,total_steps,return,epsilon,mean_loss,q_probe";
/// The header of `test.csv`.
pub const TEST_HEADER: &str = "episode,return,q_start,discounted_return";
/// The header of `eval.csv`.
pub const EVAL_HEADER: &str = "total_steps,episodes_finished,mean_return,min_return,solved";

impl EvalLog {
    /// The log's line in `eval.csv`.
    #[must_use]
    pub fn csv_line(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.total_steps, self.episodes_finished, self.mean_return, self.min_return, self.solved
        )
    }
}

impl EpisodeLog {
    /// The episode as a line of `train.csv` (an empty loss before learning).
    #[must_use]
    pub fn csv_line(&self) -> String {
        let loss = self.mean_loss.map_or(String::new(), |l| l.to_string());
        format!(
            "{},{},{},{},{},{loss},{}",
            self.episode, self.steps, self.total_steps, self.ret, self.epsilon, self.q_probe
        )
    }
}

impl TestLog {
    /// The episode as a line of `test.csv`.
    #[must_use]
    pub fn csv_line(&self) -> String {
        format!("{},{},{},{}", self.episode, self.ret, self.q_start, self.discounted_return)
    }
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
        return Err(RunError::RunDirNotEmpty { path: dir.to_path_buf() });
    }
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(io_err(&probe, "write in run folder"))?;
    std::fs::remove_file(&probe).map_err(io_err(&probe, "remove"))
}

/// A run's CSV log. Its last column, `env`, names the environment on every
/// line, so logs of several environments concatenate into one table.
struct CsvFile {
    path: PathBuf,
    out: BufWriter<File>,
    /// Bytes written so far (what a checkpoint records).
    len: u64,
    /// The environment's id, the last field of every line.
    env: String,
}

impl CsvFile {
    fn create(path: PathBuf, header: &str, env: &str) -> Result<Self, RunError> {
        let file = File::create(&path).map_err(io_err(&path, "create"))?;
        let mut csv = Self { path, out: BufWriter::new(file), len: 0, env: "env".into() };
        csv.line(header)?;
        csv.env = env.to_string();
        Ok(csv)
    }

    /// Reopens a log for appending after its first `len` bytes, dropping
    /// lines written after the checkpoint that recorded `len`. Those bytes
    /// must be the log's header and whole lines (`lines` of them after the
    /// header, when the checkpoint says how many).
    fn resume(path: PathBuf, len: u64, header: &str, env: &str, lines: Option<u64>) -> Result<Self, RunError> {
        let header = format!("{header},env");
        let text = std::fs::read(&path).map_err(io_err(&path, "read"))?;
        let have = text.len() as u64;
        if have < len {
            return Err(RunError::LogTooShort { path, have, recorded: len });
        }
        let kept = &text[..len as usize];
        let whole = kept.starts_with(header.as_bytes())
            && kept.get(header.len()) == Some(&b'\n')
            && kept.last() == Some(&b'\n');
        let counted = kept.iter().filter(|&&b| b == b'\n').count() as u64 - u64::from(whole);
        if !whole || lines.is_some_and(|n| n != counted) {
            return Err(RunError::LogMismatch { path, recorded_bytes: len, expected_lines: lines });
        }
        let file = std::fs::OpenOptions::new().write(true).open(&path).map_err(io_err(&path, "open"))?;
        file.set_len(len).map_err(io_err(&path, "truncate"))?;
        let mut out = BufWriter::new(file);
        out.seek(SeekFrom::Start(len)).map_err(io_err(&path, "seek"))?;
        Ok(Self { path, out, len, env: env.to_string() })
    }

    /// Writes a line, with the environment's field, and flushes it, so the
    /// file is readable however the run ends.
    fn line(&mut self, line: &str) -> Result<(), RunError> {
        writeln!(self.out, "{line},{}", self.env)
            .and_then(|()| self.out.flush())
            .map_err(io_err(&self.path, "write"))?;
        self.len += (line.len() + 1 + self.env.len() + 1) as u64;
        Ok(())
    }
}

/// How a run checkpoints and when it stops early.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Write a checkpoint every this many finished episodes (0: only at the
    /// end and when stopped).
    pub checkpoint_every: u32,
    /// Checkpoints kept (the newest; at least 1).
    pub keep_checkpoints: usize,
    /// When set (by a Ctrl-C handler, say), training stops — between two
    /// vector steps, or inside a long one (between its gradient steps or
    /// evaluation steps) — writes a checkpoint from which it continues
    /// exactly, and returns [`RunError::Interrupted`]; in the test phase it
    /// stops too (the final checkpoint stands, and resuming runs the test).
    pub stop: Option<Arc<AtomicBool>>,
    /// Stop the same way once training has taken this many environment
    /// steps in total, between two steps (for tests of resuming).
    pub stop_after_steps: Option<u64>,
    /// Called at each [`FaultPoint`] (for tests of crashes and signals).
    pub fault_points: Option<FaultHook>,
}

/// The points of a run where a crash or a signal matters: a test hooks in
/// here (through [`TrainOptions::fault_points`]) to stop the process, or to
/// set the stop flag, at an exact place instead of after a guessed delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultPoint {
    /// Before a vector step, with the environment steps taken so far.
    BeforeStep {
        /// Environment steps taken.
        total_steps: u64,
    },
    /// Inside a vector step, each time training asks whether to stop
    /// (between gradient steps, between an evaluation's steps).
    WithinStep {
        /// Environment steps taken before this step began.
        steps_before: u64,
    },
    /// A checkpoint is about to be taken (frozen, encoded, written).
    CheckpointBegin {
        /// Checkpoints this process began writing, this one included.
        nth: u32,
    },
    /// While a checkpoint is being written to its temporary file, after
    /// each piece (before it is synced and renamed into place).
    CheckpointWriting {
        /// Checkpoints this process began writing, this one included.
        nth: u32,
        /// Bytes written so far.
        written: u64,
        /// Bytes in all.
        total: u64,
    },
    /// Before each batched step of the greedy test after training.
    Testing,
}

/// A function called at every [`FaultPoint`].
#[derive(Clone)]
pub struct FaultHook(pub Arc<dyn Fn(FaultPoint) + Send + Sync>);

impl std::fmt::Debug for FaultHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultHook")
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { checkpoint_every: 50, keep_checkpoints: 3, stop: None, stop_after_steps: None, fault_points: None }
    }
}

/// Trains and tests as `config` says with the default [`TrainOptions`]
/// (see [`train_with`]).
///
/// # Errors
/// As [`train_with`].
pub fn train(config: &RunConfig, run_dir: &Path, progress: &mut dyn Progress) -> Result<RunSummary, RunError> {
    train_with(config, run_dir, &TrainOptions::default(), progress)
}

/// Trains and tests as `config` says, writing everything into `run_dir`
/// (which must be empty or absent), with checkpoints in
/// `run_dir/checkpoints`. The configuration is checked and the folder
/// proven writable before the first step.
///
/// # Errors
/// [`RunError::Config`] for an invalid configuration, [`RunError::Io`] or
/// [`RunError::RunDirNotEmpty`] for the folder, [`RunError::Agent`] naming
/// the episode and step if training fails (the CSV lines and checkpoints
/// written so far stay), [`RunError::Interrupted`] when stopped.
pub fn train_with(
    config: &RunConfig,
    run_dir: &Path,
    options: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError> {
    start(Session::new(config)?, run_dir, options, progress)
}

/// As [`train_with`], on the environments `family` makes (a user's own,
/// say) instead of the configuration's `env`, which is written to
/// `config.ron` but not used. Resume such a run with [`resume_family`] and
/// the same family.
///
/// # Errors
/// As [`train_with`], and [`RunError::Env`] if the family cannot make the
/// batch.
pub fn train_family(
    config: &RunConfig,
    family: Box<dyn EnvFamily>,
    run_dir: &Path,
    options: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError> {
    start(Session::with_family(config, family)?, run_dir, options, progress)
}

fn start(
    session: Session,
    run_dir: &Path,
    options: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError> {
    let env = session.env_spec().id.clone();
    prepare_run_dir(run_dir)?;
    // The session's configuration: for a family of the caller's, it names
    // that environment (`Custom`), not the given configuration's `env`.
    let config = session.config().clone();
    write_atomic(&run_dir.join(files::CONFIG), config.to_ron().as_bytes(), &mut |_, _| {})
        .map_err(|(path, source)| RunError::Io { path, action: "write", source })?;
    if !session.can_checkpoint() {
        progress.checkpoints_unavailable(&env);
    }
    let logs = Logs {
        train: CsvFile::create(run_dir.join(files::TRAIN_CSV), TRAIN_HEADER, &env)?,
        timing: CsvFile::create(run_dir.join(files::TIMING_CSV), TIMING_HEADER, &env)?,
        eval: CsvFile::create(run_dir.join(files::EVAL_CSV), EVAL_HEADER, &env)?,
        tensorboard: config
            .tensorboard
            .as_ref()
            .map(|folder| EventLog::create(EventLog::path(folder, run_dir)))
            .transpose()?,
    };
    drive(session, logs, 0.0, run_dir, options, progress)
}

/// Continues the run in `run_dir` from its newest usable checkpoint; the
/// result is bit-identical to a run that was never interrupted (the CSV logs
/// are cut back to where the checkpoint was taken, then continued).
///
/// # Errors
/// [`RunError::Checkpoint`] if no checkpoint is usable (each file's problem
/// is named), [`RunError::Io`] for the logs, and as [`train_with`].
pub fn resume(run_dir: &Path, options: &TrainOptions, progress: &mut dyn Progress) -> Result<RunSummary, RunError> {
    resume_on(run_dir, None, options, progress)
}

/// As [`resume`], for a run that [`train_family`] started: `family` must
/// make the same environments (its saved batch is checked against it).
///
/// # Errors
/// As [`resume`].
pub fn resume_family(
    run_dir: &Path,
    family: Box<dyn EnvFamily>,
    options: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError> {
    resume_on(run_dir, Some(family), options, progress)
}

fn resume_on(
    run_dir: &Path,
    family: Option<Box<dyn EnvFamily>>,
    options: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError> {
    if run_dir.join(files::SUMMARY).exists() {
        return Err(RunError::AlreadyComplete { run_dir: run_dir.to_path_buf() });
    }
    let saved = RunConfig::from_file(&run_dir.join(files::CONFIG))?;
    let family = match family {
        Some(family) => family,
        None => saved.env_family()?,
    };
    if !family.can_save() {
        return Err(RunError::NotResumable { env: family.spec().id });
    }
    let dir = run_dir.join(checkpoint::DIR);
    let mut skipped = Vec::new();
    let mut found = None;
    for path in checkpoint::list(&dir).into_iter().rev() {
        match checkpoint::read_for(&path, family.as_ref()) {
            Ok(ckpt) => {
                found = Some((path, ckpt));
                break;
            }
            Err(problem) => {
                let skip = SkippedCheckpoint { path, problem };
                progress.checkpoint_skipped(&skip);
                skipped.push(skip);
            }
        }
    }
    let Some((path, ckpt)) = found else {
        return Err(RunError::NoUsableCheckpoint { dir, skipped });
    };
    if &saved != ckpt.session.config() {
        return Err(RunError::Checkpoint { path, source: checkpoint::CheckpointError::ConfigDiffers });
    }
    // One line per finished episode in both per-episode logs.
    let episodes = Some(u64::from(ckpt.session.episodes_finished()));
    let env = family.spec().id;
    let logs = Logs {
        train: CsvFile::resume(run_dir.join(files::TRAIN_CSV), ckpt.logs.train_csv_len, TRAIN_HEADER, &env, episodes)?,
        timing: CsvFile::resume(
            run_dir.join(files::TIMING_CSV),
            ckpt.logs.timing_csv_len,
            TIMING_HEADER,
            &env,
            episodes,
        )?,
        eval: CsvFile::resume(run_dir.join(files::EVAL_CSV), ckpt.logs.eval_csv_len, EVAL_HEADER, &env, None)?,
        tensorboard: saved
            .tensorboard
            .as_ref()
            .map(|folder| EventLog::resume(EventLog::path(folder, run_dir), ckpt.logs.tensorboard_len))
            .transpose()?,
    };
    let session = Session::from_state_with(ckpt.session, family)?;
    drive(session, logs, ckpt.logs.elapsed_seconds, run_dir, options, progress)
}

const TIMING_HEADER: &str = "episode,wall_seconds,steps_per_second";

struct Logs {
    train: CsvFile,
    timing: CsvFile,
    eval: CsvFile,
    tensorboard: Option<EventLog>,
}

/// The run's TensorBoard event file (`tensorboard` in the configuration):
/// `<folder>/<run folder's name>/events.out.tfevents.dqn-rs`.
struct EventLog {
    path: PathBuf,
    out: File,
    /// Bytes written so far (what a checkpoint records).
    len: u64,
}

/// The name of a run's event file (TensorBoard reads every file whose name
/// holds `tfevents`).
pub const EVENT_FILE: &str = "events.out.tfevents.dqn-rs";

fn wall_time() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl EventLog {
    /// Where the event file of the run in `run_dir` goes under `folder`.
    fn path(folder: &Path, run_dir: &Path) -> PathBuf {
        let name = run_dir.file_name().map_or_else(|| "run".into(), std::ffi::OsStr::to_os_string);
        folder.join(name).join(EVENT_FILE)
    }

    /// A new event file; one that exists already is an error, not overwritten.
    fn create(path: PathBuf) -> Result<Self, RunError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent, "create TensorBoard folder"))?;
        }
        let out =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_err(&path, "create"))?;
        let mut log = Self { path, out, len: 0 };
        log.append(&crate::tensorboard::file_version_record(wall_time()))?;
        Ok(log)
    }

    /// Reopens the file after its first `len` bytes, which must be whole
    /// events, dropping what was written after the checkpoint.
    fn resume(path: PathBuf, len: u64) -> Result<Self, RunError> {
        let bytes = std::fs::read(&path).map_err(io_err(&path, "read"))?;
        let have = bytes.len() as u64;
        if have < len {
            return Err(RunError::LogTooShort { path, have, recorded: len });
        }
        if len == 0 || crate::tensorboard::read_events(&bytes[..len as usize]).is_err() {
            return Err(RunError::LogMismatch { path, recorded_bytes: len, expected_lines: None });
        }
        let mut out = std::fs::OpenOptions::new().write(true).open(&path).map_err(io_err(&path, "open"))?;
        out.set_len(len).map_err(io_err(&path, "truncate"))?;
        out.seek(SeekFrom::Start(len)).map_err(io_err(&path, "seek"))?;
        Ok(Self { path, out, len })
    }

    fn append(&mut self, record: &[u8]) -> Result<(), RunError> {
        self.out.write_all(record).map_err(io_err(&self.path, "write"))?;
        self.len += record.len() as u64;
        Ok(())
    }

    fn scalars(&mut self, step: u64, scalars: &[(&str, f32)]) -> Result<(), RunError> {
        self.append(&crate::tensorboard::scalars_record(wall_time(), step, scalars))
    }
}

impl Logs {
    /// A finished training episode, in `train.csv`, `timing.csv` and the event file.
    fn episode(&mut self, log: &EpisodeLog, elapsed: f64) -> Result<(), RunError> {
        let steps_per_second = log.total_steps as f64 / elapsed.max(1e-9);
        self.train.line(&log.csv_line())?;
        self.timing.line(&format!("{},{elapsed:.6},{steps_per_second:.1}", log.episode))?;
        if let Some(tb) = &mut self.tensorboard {
            let mut scalars = vec![
                ("train/return", log.ret as f32),
                ("train/episode_length", log.steps as f32),
                ("train/epsilon", log.epsilon as f32),
                ("train/q_probe", log.q_probe as f32),
                ("train/steps_per_second", steps_per_second as f32),
            ];
            if let Some(loss) = log.mean_loss {
                scalars.push(("train/loss", loss as f32));
            }
            tb.scalars(log.total_steps, &scalars)?;
        }
        Ok(())
    }

    /// A periodic evaluation, in `eval.csv` and the event file.
    fn evaluation(&mut self, log: &EvalLog) -> Result<(), RunError> {
        self.eval.line(&log.csv_line())?;
        if let Some(tb) = &mut self.tensorboard {
            let scalars = [("eval/mean_return", log.mean_return as f32), ("eval/min_return", log.min_return as f32)];
            tb.scalars(log.total_steps, &scalars)?;
        }
        Ok(())
    }
}

/// Writes a checkpoint of `session` and where the logs are, reporting the
/// write's progress as fault points; `None` (nothing written) when the
/// session's environments cannot be saved.
fn save_checkpoint(
    session: &Session,
    logs: &Logs,
    elapsed: f64,
    run_dir: &Path,
    options: &TrainOptions,
    nth: &mut u32,
) -> Result<Option<PathBuf>, RunError> {
    if !session.can_checkpoint() {
        return Ok(None);
    }
    *nth += 1;
    let nth = *nth;
    fault(options, FaultPoint::CheckpointBegin { nth });
    let spec = session.env_spec();
    let env_error = |source| RunError::Env {
        env: spec.id.clone(),
        phase: Phase::Train,
        episode: session.episodes_finished() + 1,
        step: 0,
        source,
    };
    let meta = checkpoint::CheckpointMeta {
        session: session.meta().map_err(env_error)?,
        logs: checkpoint::LogLengths {
            train_csv_len: logs.train.len,
            timing_csv_len: logs.timing.len,
            eval_csv_len: logs.eval.len,
            tensorboard_len: logs.tensorboard.as_ref().map_or(0, |tb| tb.len),
            elapsed_seconds: elapsed,
        },
    };
    let mut on_progress = |written, total| fault(options, FaultPoint::CheckpointWriting { nth, written, total });
    let dir = run_dir.join(checkpoint::DIR);
    checkpoint::write(&dir, &meta, session.streamed(), options.keep_checkpoints, &mut on_progress)
        .map(Some)
        .map_err(|(path, source)| RunError::Io { path, action: "write checkpoint", source })
}

fn fault(options: &TrainOptions, point: FaultPoint) {
    if let Some(hook) = &options.fault_points {
        (hook.0)(point);
    }
}

/// Trains `session` to the end (checkpointing), then tests and writes the
/// run's remaining files.
fn drive(
    mut session: Session,
    mut logs: Logs,
    elapsed_before: f64,
    run_dir: &Path,
    options: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError> {
    let config = session.config().clone();
    let start = Instant::now();
    let elapsed = || elapsed_before + start.elapsed().as_secs_f64();
    let stop_flag = || options.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
    let interrupted = |checkpoint| RunError::Interrupted { checkpoint, run_dir: run_dir.to_path_buf() };
    let mut nth = 0;
    while !session.is_done() {
        let steps_before = session.total_steps();
        fault(options, FaultPoint::BeforeStep { total_steps: steps_before });
        if stop_flag() || options.stop_after_steps.is_some_and(|n| steps_before >= n) {
            let checkpoint = save_checkpoint(&session, &logs, elapsed(), run_dir, options, &mut nth)?;
            return Err(interrupted(checkpoint));
        }
        let episodes_before = session.episodes_finished();
        let within_step = || {
            fault(options, FaultPoint::WithinStep { steps_before });
            stop_flag()
        };
        let report = session.step_interruptible(&within_step)?;
        let t = elapsed();
        for log in report.episodes {
            logs.episode(log, t)?;
            progress.train_episode(log, config.train_episodes, t);
        }
        if let Some(eval) = report.evaluation {
            logs.evaluation(eval)?;
            progress.evaluation(eval);
        }
        if !report.complete {
            let checkpoint = save_checkpoint(&session, &logs, t, run_dir, options, &mut nth)?;
            return Err(interrupted(checkpoint));
        }
        let every = options.checkpoint_every;
        if every > 0 && session.episodes_finished() / every > episodes_before / every && !session.is_done() {
            save_checkpoint(&session, &logs, t, run_dir, options, &mut nth)?;
        }
    }
    let train_seconds = elapsed();
    let last = save_checkpoint(&session, &logs, train_seconds, run_dir, options, &mut nth)?;
    if let Some(agent) = session.learner().dqn() {
        policy_file::save_policy(agent.policy(), &run_dir.join(files::POLICY))?;
    }

    let mut test_csv = CsvFile::create(run_dir.join(files::TEST_CSV), TEST_HEADER, &session.env_spec().id)?;
    let mut test_error = Ok(());
    let testing = || {
        fault(options, FaultPoint::Testing);
        stop_flag()
    };
    let tests = session.test_interruptible(
        config.test_episodes,
        &mut |log| {
            if test_error.is_ok() {
                test_error = test_csv.line(&log.csv_line());
            }
            if test_error.is_ok()
                && let Some(tb) = &mut logs.tensorboard
            {
                test_error = tb.scalars(u64::from(log.episode), &[("test/return", log.ret as f32)]);
            }
            progress.test_episode(log, config.test_episodes);
        },
        &testing,
    )?;
    test_error?;
    // Stopped in the test phase: training's last checkpoint stands, and
    // resuming from it runs the test again from the start.
    let Some(tests) = tests else { return Err(interrupted(last)) };
    let test_returns: Vec<f64> = tests.iter().map(|t| t.ret).collect();
    let (test_mean, test_std) = mean_std(&test_returns);
    let summary = RunSummary {
        run_dir: run_dir.to_path_buf(),
        env: session.env_spec().id.clone(),
        reward_threshold: session.env_spec().reward_threshold,
        train_episodes: session.episodes_finished(),
        train_steps: session.total_steps(),
        updates: session.learner().n_updates(),
        test_returns,
        test_mean,
        test_std,
        wall_seconds: elapsed(),
        train_steps_per_second: session.total_steps() as f64 / train_seconds.max(1e-9),
        train_seconds,
        solved_early: session.solved(),
        solved: config.early_stop.as_ref().map(|stop| test_mean >= stop.solved_at),
    };
    let path = run_dir.join(files::SUMMARY);
    let text = serde_json::to_string_pretty(&summary).expect("a summary always serializes");
    write_atomic(&path, text.as_bytes(), &mut |_, _| {}).map_err(|(path, source)| RunError::Io {
        path,
        action: "write",
        source,
    })?;
    Ok(summary)
}

/// Loads the policy saved in `run_dir` and runs `episodes` greedy episodes
/// with the run's configuration (the same test stream as the run's own test).
///
/// # Errors
/// As [`test_policy_file`], and [`RunError::Config`] if the run's
/// configuration cannot be read.
pub fn test_saved(run_dir: &Path, episodes: u32, progress: &mut dyn Progress) -> Result<Vec<TestLog>, RunError> {
    let config = RunConfig::from_file(&run_dir.join(files::CONFIG))?;
    test_policy_file(&config, &run_dir.join(files::POLICY), episodes, progress)
}

/// As [`test_saved`], for a run of [`train_family`]: its policy tested on
/// the environments `family` makes.
///
/// # Errors
/// As [`test_saved`], and [`RunError::Config`] if the run names another
/// custom environment than `family`'s.
pub fn test_saved_family(
    run_dir: &Path,
    family: &dyn EnvFamily,
    episodes: u32,
    progress: &mut dyn Progress,
) -> Result<Vec<TestLog>, RunError> {
    let config = RunConfig::from_file(&run_dir.join(files::CONFIG))?;
    test_policy_family(&config, family, &run_dir.join(files::POLICY), episodes, progress)
}

/// Runs `episodes` greedy episodes of the policy file at `policy` (JSON or
/// safetensors: one PyTorch trained, say) with `config`'s environment and
/// test stream; the policy's shape must be the one `config` makes.
///
/// # Errors
/// [`RunError::Config`] for an invalid configuration or `episodes` beyond
/// [`MAX_GREEDY_EPISODES`], [`RunError::Policy`] or [`RunError::Io`] for
/// the policy file.
pub fn test_policy_file(
    config: &RunConfig,
    policy: &Path,
    episodes: u32,
    progress: &mut dyn Progress,
) -> Result<Vec<TestLog>, RunError> {
    config.validate()?;
    test_policy_family(config, config.env_family()?.as_ref(), policy, episodes, progress)
}

/// As [`test_policy_file`], on the environments `family` makes (one of the
/// caller's own, which the configuration cannot make).
///
/// # Errors
/// As [`test_policy_file`], and [`RunError::Config`] if the configuration
/// names another custom environment than `family`'s.
pub fn test_policy_family(
    config: &RunConfig,
    family: &dyn EnvFamily,
    policy: &Path,
    episodes: u32,
    progress: &mut dyn Progress,
) -> Result<Vec<TestLog>, RunError> {
    let config = match config.env {
        crate::EnvSetting::Custom { .. } => config.clone().for_family(&family.spec())?,
        _ => config.clone(),
    };
    config.validate_for(&family.spec())?;
    if episodes == 0 || episodes > MAX_GREEDY_EPISODES {
        return Err(RunError::Config(ConfigError::Invalid {
            field: "--episodes".into(),
            reason: format!("{episodes}: from 1 to {MAX_GREEDY_EPISODES} greedy episodes"),
        }));
    }
    test_policy(&config, family, policy, episodes, &mut |log| progress.test_episode(log, episodes))
}
