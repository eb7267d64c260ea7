//! What can stop a run, typed all the way: [`RunError`] says what went wrong
//! and where (the file, the phase, episode and step), and wraps the lower
//! crate's error as its `source()`, never as text. `Display` prints only its
//! own level; [`ErrorChain`] prints a whole chain once.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;

use crate::ConfigError;
use crate::checkpoint::CheckpointError;
use crate::policy_file::PolicyError;
use crate::session::StateError;

/// Why a run could not start, or stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration is unusable.
    Config(ConfigError),
    /// A file or folder could not be created, written or read.
    Io {
        /// The path concerned.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// The run folder already holds files; a run never overwrites another.
    RunDirNotEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// The learner could not be built from a valid configuration (a replay
    /// buffer too large to allocate, say).
    Learner(agent::AgentError),
    /// The learner failed (e.g. training diverged).
    Agent {
        /// When.
        phase: Phase,
        /// The 1-based episode.
        episode: u32,
        /// The 1-based step within it.
        step: u32,
        /// What went wrong.
        source: agent::AgentError,
    },
    /// The environment failed: it refused a step (an action it does not
    /// have), failed on its own (an error of an environment written
    /// elsewhere), or handed back a bad observation or reward.
    Env {
        /// The environment's id.
        env: String,
        /// When.
        phase: Phase,
        /// The 1-based episode.
        episode: u32,
        /// The 1-based step within it.
        step: u32,
        /// What went wrong.
        source: env_core::EnvError,
    },
    /// A session state (a checkpoint's) that contradicts itself or its
    /// configuration.
    State(StateError),
    /// A checkpoint file cannot be used.
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: CheckpointError,
    },
    /// No checkpoint of a run folder can be used: none was written, or
    /// every one was damaged (the newest's problem is the source; each was
    /// reported to [`Progress::checkpoint_skipped`](crate::Progress) as it
    /// was tried).
    NoUsableCheckpoint {
        /// The run's checkpoint folder.
        dir: PathBuf,
        /// The checkpoints tried, newest first, with their problems.
        skipped: Vec<SkippedCheckpoint>,
    },
    /// The run folder already holds a finished run (`summary.json`).
    AlreadyComplete {
        /// The run folder.
        run_dir: PathBuf,
    },
    /// A log is shorter than the checkpoint recorded: lines are missing.
    LogTooShort {
        /// The log.
        path: PathBuf,
        /// Its length in bytes.
        have: u64,
        /// The length the checkpoint recorded.
        recorded: u64,
    },
    /// A log's first bytes, as far as the checkpoint recorded, are not its
    /// header and whole lines (or not as many lines as episodes finished).
    LogMismatch {
        /// The log.
        path: PathBuf,
        /// The length the checkpoint recorded.
        recorded_bytes: u64,
        /// The lines expected after the header, where known.
        expected_lines: Option<u64>,
    },
    /// A saved policy cannot be used.
    Policy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: PolicyError,
    },
    /// Training was stopped (Ctrl-C, SIGTERM, or a requested stop) after
    /// writing a checkpoint from which the run continues exactly.
    Interrupted {
        /// The checkpoint written; `None` when the run's environment cannot
        /// be saved, so the run has no checkpoints.
        checkpoint: Option<PathBuf>,
        /// The run folder to resume.
        run_dir: PathBuf,
    },
    /// A run whose environment cannot be saved (its family says so) cannot
    /// be resumed: it writes no checkpoints.
    NotResumable {
        /// The environment's id.
        env: String,
    },
}

/// The part of a run an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Training episodes.
    Train,
    /// A periodic greedy evaluation during training (`early_stop`).
    Evaluation,
    /// The greedy test episodes after training.
    Test,
}

/// A checkpoint that could not be used, and why.
#[derive(Debug)]
pub struct SkippedCheckpoint {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: CheckpointError,
}

/// Prints an error and its sources, each once, joined by `": "`: how the
/// CLI reports a failure.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Train => "train",
            Self::Evaluation => "evaluation",
            Self::Test => "test",
        })
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Transparent: the configuration's error says it all.
            Self::Config(e) => e.fmt(f),
            Self::Learner(_) => write!(f, "cannot build the learner"),
            Self::Io { path, action, .. } => write!(f, "cannot {action} {}", crate::text::path(path)),
            Self::RunDirNotEmpty { path } => write!(
                f,
                "run folder {} already holds files; choose another --out (runs are never overwritten)",
                crate::text::path(path)
            ),
            Self::Agent { phase, episode, step, .. } => write!(f, "{phase} episode {episode}, step {step}"),
            Self::Env { env, phase, episode, step, .. } => {
                write!(f, "environment {env}, {phase} episode {episode}, step {step}")
            }
            Self::State(_) => write!(f, "inconsistent session state"),
            Self::Checkpoint { path, .. } => write!(f, "checkpoint {}", crate::text::path(path)),
            Self::NoUsableCheckpoint { dir, skipped } if skipped.is_empty() => {
                write!(f, "no checkpoint files in {}", crate::text::path(dir))
            }
            Self::NoUsableCheckpoint { dir, skipped } => {
                write!(
                    f,
                    "none of the {} checkpoints in {} is usable; the newest",
                    skipped.len(),
                    crate::text::path(dir)
                )
            }
            Self::AlreadyComplete { run_dir } => {
                write!(f, "the run in {} is already complete (summary.json exists)", crate::text::path(run_dir))
            }
            Self::LogTooShort { path, have, recorded } => write!(
                f,
                "log {} has {have} bytes but the checkpoint recorded {recorded}: lines are missing",
                crate::text::path(path)
            ),
            Self::LogMismatch { path, recorded_bytes, expected_lines } => {
                write!(
                    f,
                    "log {}: its first {recorded_bytes} bytes, where the checkpoint was taken, are not",
                    crate::text::path(path)
                )?;
                match expected_lines {
                    Some(n) => write!(f, " its header and {n} whole lines"),
                    None => write!(f, " its header and whole lines"),
                }
            }
            Self::Policy { path, .. } => write!(f, "policy {}", crate::text::path(path)),
            Self::Interrupted { checkpoint: Some(checkpoint), run_dir } => write!(
                f,
                "interrupted; checkpoint written to {}; continue with: cargo xtask train --resume {}",
                crate::text::path(checkpoint),
                crate::text::path(run_dir)
            ),
            Self::Interrupted { checkpoint: None, run_dir } => write!(
                f,
                "interrupted; the run in {} cannot be continued: its environment cannot be saved, so it has no \
                 checkpoints",
                crate::text::path(run_dir)
            ),
            Self::NotResumable { env } => write!(
                f,
                "environment {env} cannot be saved: its runs write no checkpoints, so --resume is unavailable"
            ),
        }
    }
}

impl Error for RunError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Config(e) => e.source(),
            Self::Learner(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            Self::Agent { source, .. } => Some(source),
            Self::Env { source, .. } => Some(source),
            Self::State(e) => Some(e),
            Self::Checkpoint { source, .. } => Some(source),
            Self::NoUsableCheckpoint { skipped, .. } => skipped.first().map(|s| s as &(dyn Error + 'static)),
            Self::Policy { source, .. } => Some(source),
            Self::RunDirNotEmpty { .. }
            | Self::AlreadyComplete { .. }
            | Self::LogTooShort { .. }
            | Self::LogMismatch { .. }
            | Self::Interrupted { .. }
            | Self::NotResumable { .. } => None,
        }
    }
}

impl fmt::Display for SkippedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::text::path(&self.path))
    }
}

impl Error for SkippedCheckpoint {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.problem)
    }
}

impl From<ConfigError> for RunError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<StateError> for RunError {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}

/// Attaches a path and an action to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>, action: &'static str) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.into();
    move |source| RunError::Io { path, action, source }
}
