//! Rust errors as Python exceptions: the classes live in `dqn_rs.errors`
//! (plain Python, so `ConfigError` can be both a `DqnRsError` and a
//! `ValueError`); the message is the whole chain of causes, as the CLI
//! prints it.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use runner::{ErrorChain, RunError};

/// Which Python exception class a failure becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A setting or an environment's spaces: `ConfigError` (a `ValueError`).
    Config,
    /// What an environment returned or did: `EnvError`.
    Environment,
    /// A saved model or checkpoint that cannot be read or written:
    /// `CheckpointError`.
    Checkpoint,
    /// Training failed (diverged, say): `DqnRsError`.
    Training,
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Self::Config => "ConfigError",
            Self::Environment => "EnvError",
            Self::Checkpoint => "CheckpointError",
            Self::Training => "DqnRsError",
        }
    }

    /// The kind of a run's error.
    pub fn of(error: &RunError) -> Self {
        match error {
            RunError::Config(_) => Self::Config,
            RunError::Env { .. } => Self::Environment,
            RunError::Checkpoint { .. } | RunError::State(_) | RunError::Io { .. } | RunError::Policy { .. } => {
                Self::Checkpoint
            }
            _ => Self::Training,
        }
    }
}

/// The Python exception of `kind` with `error`'s whole chain as its message.
pub fn raise(py: Python<'_>, kind: Kind, error: &(dyn std::error::Error + 'static)) -> PyErr {
    raise_message(py, kind, ErrorChain(error).to_string())
}

/// The Python exception of `kind` with `message`.
pub fn raise_message(py: Python<'_>, kind: Kind, message: String) -> PyErr {
    let class = py.import("dqn_rs.errors").and_then(|m| m.getattr(kind.class()));
    match class {
        Ok(class) => match class.call1((message.clone(),)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        },
        // The package's own module is missing only when the extension is
        // imported on its own; the message still reaches the caller.
        Err(_) => PyRuntimeError::new_err(message),
    }
}
