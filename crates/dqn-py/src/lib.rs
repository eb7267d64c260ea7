//! The extension module of the Python package `dqn_rs` (imported as
//! `dqn_rs._dqn_rs`): the workspace's DQN as a `Trainer` that trains on
//! the workspace's environments or on a Gymnasium environment stepped from
//! Rust, and the workspace's environments as `RustEnv` / `RustVecEnv`.
//! The package's Python layer (`python/dqn_rs`) gives them
//! Stable-Baselines3's API and Gymnasium's classes.
//!
//! Nothing here panics on what Python passes: every failure is a Python
//! exception of `dqn_rs.errors` whose message is the Rust error's chain,
//! or the environment's own exception, re-raised unchanged.

mod errors;
mod python_env;
mod rust_env;
mod trainer;

use pyo3::prelude::*;

/// DQN in Rust: the training core of `dqn_rs`.
#[pymodule]
mod _dqn_rs {
    use pyo3::prelude::*;

    #[cfg(feature = "minatar")]
    #[pymodule_export]
    use super::rust_env::MinAtarGame;
    #[pymodule_export]
    use super::rust_env::{RustEnv, RustVecEnv};
    /// Whether this build has MinAtar's games (cargo's `minatar` feature;
    /// they are GPL-3.0-or-later).
    #[pymodule_export]
    const HAS_MINATAR: bool = cfg!(feature = "minatar");
    #[pymodule_export]
    use super::trainer::Trainer;

    /// The RON configuration `config` with each `key=value` of `overrides`
    /// applied (the CLI's `--set`), checked, as RON text.
    #[pyfunction]
    fn apply_overrides(py: Python<'_>, config: &str, overrides: Vec<String>) -> PyResult<String> {
        use crate::errors::{Kind, raise};
        let mut config = runner::RunConfig::from_ron(config, "config").map_err(|e| raise(py, Kind::Config, &e))?;
        for o in &overrides {
            config.apply_override(o).map_err(|e| raise(py, Kind::Config, &e))?;
        }
        Ok(config.to_ron())
    }

    /// The stack of frames a RON configuration asks for: its frames, its
    /// padding (`"Repeat"` or `"Zeros"`) and whether the environment stacks.
    #[pyfunction]
    fn config_stack(py: Python<'_>, config: &str) -> PyResult<(usize, &'static str, bool)> {
        use crate::errors::{Kind, raise};
        let config = runner::RunConfig::from_ron(config, "config").map_err(|e| raise(py, Kind::Config, &e))?;
        let stack = config.agent.stack;
        let padding = match stack.padding {
            runner::Padding::Repeat => "Repeat",
            runner::Padding::Zeros => "Zeros",
        };
        Ok((stack.frames, padding, stack.by_environment))
    }

    /// A TensorBoard event record (TFRecord framing, CRC-32C) saying the
    /// file's version: the first record of an event file.
    #[pyfunction]
    fn tensorboard_version_record(py: Python<'_>, wall_time: f64) -> Bound<'_, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &runner::tensorboard::file_version_record(wall_time))
    }

    /// A TensorBoard event record of scalars at `step`.
    #[pyfunction]
    fn tensorboard_scalars_record(
        py: Python<'_>,
        wall_time: f64,
        step: u64,
        scalars: Vec<(String, f32)>,
    ) -> Bound<'_, pyo3::types::PyBytes> {
        let scalars: Vec<(&str, f32)> = scalars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        pyo3::types::PyBytes::new(py, &runner::tensorboard::scalars_record(wall_time, step, &scalars))
    }

    /// The names of the workspace's environments (`--env` of the CLI).
    #[pyfunction]
    fn env_names() -> Vec<&'static str> {
        runner::ENV_NAMES.to_vec()
    }
}
