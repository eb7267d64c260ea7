use std::fmt;
use std::path::PathBuf;

use crate::ConfigError;

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
    /// The learner failed (e.g. training diverged) during an episode.
    Agent {
        /// `"train"` or `"test"`.
        phase: &'static str,
        /// The 1-based episode.
        episode: u32,
        /// The 1-based step within it.
        step: u32,
        /// What went wrong.
        source: agent::AgentError,
    },
    /// The environment refused a step.
    Sim(cartpole_sim::SimError),
    /// A checkpoint could not be used.
    Checkpoint {
        /// The file (or, when none was usable, the folder).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Training was stopped (Ctrl-C, SIGTERM, or a requested stop) after
    /// writing a checkpoint.
    Interrupted {
        /// The checkpoint written.
        checkpoint: PathBuf,
        /// The run folder to resume.
        run_dir: PathBuf,
    },
    /// A saved policy could not be used.
    Policy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => e.fmt(f),
            Self::Io { path, action, source } => write!(f, "cannot {action} {}: {source}", path.display()),
            Self::RunDirNotEmpty { path } => {
                write!(
                    f,
                    "run folder {} already holds files; choose another --out (runs are never overwritten)",
                    path.display()
                )
            }
            Self::Agent { phase, episode, step, source } => {
                write!(f, "{phase} episode {episode}, step {step}: {source}")
            }
            Self::Sim(e) => write!(f, "environment: {e}"),
            Self::Policy { path, reason } => write!(f, "policy {}: {reason}", path.display()),
            Self::Checkpoint { path, reason } => write!(f, "checkpoint {}: {reason}", path.display()),
            Self::Interrupted { checkpoint, run_dir } => write!(
                f,
                "interrupted; checkpoint written to {}; continue with: cargo xtask train --resume {}",
                checkpoint.display(),
                run_dir.display()
            ),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            Self::Agent { source, .. } => Some(source),
            Self::Sim(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for RunError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<cartpole_sim::SimError> for RunError {
    fn from(e: cartpole_sim::SimError) -> Self {
        Self::Sim(e)
    }
}

/// Attaches a path and an action to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>, action: &'static str) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.into();
    move |source| RunError::Io { path, action, source }
}
