//! The workspace's environments for Python: `RustEnv` (one, reset to a
//! start state the Python class draws from its `np_random`, as Gymnasium
//! does) and `RustVecEnv` (a same-step batch). `dqn_rs.envs` wraps them as
//! `gymnasium.Env` and `gymnasium.vector.VectorEnv` classes.

use std::sync::{Mutex, MutexGuard};

use env_core::{Env, EnvError, EnvFamily, EnvSpec, ObsBuf, VecEnv};
use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runner::RunConfig;

use crate::errors::{Kind, raise};

/// The family a RON environment setting (`CartPole(max_episode_steps:
/// 500, integrator: Euler)`, `Catch`, …) names.
fn family(py: Python<'_>, setting: &str) -> PyResult<Box<dyn EnvFamily>> {
    let mut config = RunConfig::from_ron("()", "defaults").map_err(|e| raise(py, Kind::Config, &e))?;
    config.apply_override(&format!("env={setting}")).map_err(|e| raise(py, Kind::Config, &e))?;
    config.env_family().map_err(|e| raise(py, Kind::Config, &e))
}

fn env_error(py: Python<'_>, e: &EnvError) -> PyErr {
    raise(py, Kind::Environment, e)
}

/// An observation buffer as a NumPy array of the spec's shape (float32, or
/// uint8 for pixels and binary cells).
fn to_array<'py>(py: Python<'py>, obs: &ObsBuf, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    Ok(match obs {
        ObsBuf::F32(v) => v.clone().into_pyarray(py).reshape(shape.to_vec())?.into_any(),
        ObsBuf::U8(v) => v.clone().into_pyarray(py).reshape(shape.to_vec())?.into_any(),
    })
}

/// What Python reads of a spec: (id, observation shape, element type,
/// actions, step limit, reward threshold, observation ranges).
type SpecItems = (String, Vec<usize>, String, usize, Option<u32>, Option<f64>, Vec<(f32, f32)>);

/// What Python reads of a spec.
fn spec_items(spec: &EnvSpec) -> SpecItems {
    (
        spec.id.clone(),
        spec.obs.shape().to_vec(),
        spec.obs.dtype().name().to_string(),
        spec.n_actions,
        spec.max_episode_steps,
        spec.reward_threshold,
        spec.obs_ranges.clone(),
    )
}

struct OneEnv {
    env: Box<dyn Env>,
    obs: ObsBuf,
}

/// One environment of the workspace, stepped from Python.
#[pyclass(module = "dqn_rs._dqn_rs")]
pub struct RustEnv {
    inner: Mutex<OneEnv>,
    spec: EnvSpec,
    setting: String,
}

impl RustEnv {
    fn lock(&self) -> PyResult<MutexGuard<'_, OneEnv>> {
        self.inner.lock().map_err(|_| PyValueError::new_err("a previous call on this environment panicked"))
    }
}

#[pymethods]
impl RustEnv {
    /// The environment a RON setting names (`CartPole(max_episode_steps:
    /// 500, integrator: Euler)`, `MountainCar(max_episode_steps: 200,
    /// goal_velocity: 0.0)`, `Acrobot(max_episode_steps: 500)`, `Catch`).
    #[new]
    fn new(py: Python<'_>, setting: &str) -> PyResult<Self> {
        let family = family(py, setting)?;
        let spec = family.spec();
        let env = family.single().map_err(|e| env_error(py, &e))?;
        let obs = ObsBuf::zeros(&spec.obs, 1).map_err(|e| env_error(py, &e))?;
        Ok(Self { inner: Mutex::new(OneEnv { env, obs }), spec, setting: setting.to_string() })
    }

    /// (id, observation shape, element type, actions, step limit, reward
    /// threshold, observation ranges).
    fn spec(&self) -> SpecItems {
        spec_items(&self.spec)
    }

    /// The RON setting it was made from.
    #[getter]
    fn setting(&self) -> String {
        self.setting.clone()
    }

    /// Starts an episode from the physical state `state`; returns the first
    /// observation.
    fn reset_to<'py>(&self, py: Python<'py>, state: Vec<f64>) -> PyResult<Bound<'py, PyAny>> {
        let mut guard = self.lock()?;
        let one = &mut *guard;
        let len = self.spec.obs_len();
        one.env.reset_to(&state, one.obs.row_mut(0, len)).map_err(|e| env_error(py, &e))?;
        to_array(py, &one.obs, self.spec.obs.shape())
    }

    /// One step under `action`: (observation, reward, terminated,
    /// truncated).
    fn step<'py>(&self, py: Python<'py>, action: i64) -> PyResult<(Bound<'py, PyAny>, f64, bool, bool)> {
        let mut guard = self.lock()?;
        let one = &mut *guard;
        let action = usize::try_from(action).map_err(|_| {
            env_error(py, &EnvError::InvalidAction { action: usize::MAX, n_actions: self.spec.n_actions })
        })?;
        let len = self.spec.obs_len();
        let outcome = one.env.step(action, one.obs.row_mut(0, len)).map_err(|e| env_error(py, &e))?;
        Ok((to_array(py, &one.obs, self.spec.obs.shape())?, outcome.reward, outcome.terminated, outcome.truncated))
    }

    /// The physical state (for drawing).
    fn state(&self) -> PyResult<Vec<f64>> {
        Ok(self.lock()?.env.state().to_vec())
    }

    /// Steps since the last reset.
    fn elapsed_steps(&self) -> PyResult<u32> {
        Ok(self.lock()?.env.elapsed_steps())
    }
}

/// What a vector step returns to Python: (observations, rewards,
/// terminated, truncated, final observations).
type VecStep<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

struct Batch {
    family: Box<dyn EnvFamily>,
    batch: Box<dyn VecEnv>,
    rngs: Vec<ChaCha8Rng>,
}

/// A batch of the workspace's environments, resetting each on the step its
/// episode ends (Gymnasium's same-step autoreset).
#[pyclass(module = "dqn_rs._dqn_rs")]
pub struct RustVecEnv {
    inner: Mutex<Batch>,
    spec: EnvSpec,
    num_envs: usize,
}

impl RustVecEnv {
    fn lock(&self) -> PyResult<MutexGuard<'_, Batch>> {
        self.inner.lock().map_err(|_| PyValueError::new_err("a previous call on this environment panicked"))
    }
}

/// Environment `i`'s reset RNG under `seed`.
fn rngs(seed: u64, n: usize) -> Vec<ChaCha8Rng> {
    (0..n as u64)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i);
            rng
        })
        .collect()
}

#[pymethods]
impl RustVecEnv {
    /// `num_envs` environments of a RON setting, reset from `seed`.
    #[new]
    fn new(py: Python<'_>, setting: &str, num_envs: usize, seed: u64) -> PyResult<Self> {
        let family = family(py, setting)?;
        let spec = family.spec();
        let mut rngs = rngs(seed, num_envs);
        let batch = family.batch(num_envs, &mut rngs).map_err(|e| env_error(py, &e))?;
        Ok(Self { inner: Mutex::new(Batch { family, batch, rngs }), spec, num_envs })
    }

    /// (id, observation shape, element type, actions, step limit, reward
    /// threshold, observation ranges).
    fn spec(&self) -> SpecItems {
        spec_items(&self.spec)
    }

    /// Resets every environment, environment `i` from `seed`'s stream `i`;
    /// returns the observations.
    fn reset<'py>(&self, py: Python<'py>, seed: u64) -> PyResult<Bound<'py, PyAny>> {
        let mut guard = self.lock()?;
        let b = &mut *guard;
        b.rngs = rngs(seed, self.num_envs);
        b.batch = b.family.batch(self.num_envs, &mut b.rngs).map_err(|e| env_error(py, &e))?;
        self.observations(py, b)
    }

    /// One step of every environment: (observations, rewards, terminated,
    /// truncated, final observations). An environment that ended starts
    /// its next episode in `observations`; `final observations` holds the
    /// observation it ended in.
    fn step<'py>(&self, py: Python<'py>, actions: PyReadonlyArray1<'py, i64>) -> PyResult<VecStep<'py>> {
        let mut guard = self.lock()?;
        let b = &mut *guard;
        let actions: Vec<usize> =
            actions.as_array().iter().map(|&a| usize::try_from(a).unwrap_or(usize::MAX)).collect();
        b.batch.step(&actions, &mut b.rngs).map_err(|e| env_error(py, &e))?;
        let mut shape = vec![self.num_envs];
        shape.extend_from_slice(self.spec.obs.shape());
        let finals = match b.batch.final_observations() {
            env_core::Obs::F32(v) => ObsBuf::F32(v.to_vec()),
            env_core::Obs::U8(v) => ObsBuf::U8(v.to_vec()),
        };
        Ok((
            self.observations(py, b)?,
            b.batch.rewards().to_vec().into_pyarray(py).into_any(),
            b.batch.terminated().to_vec().into_pyarray(py).into_any(),
            b.batch.truncated().to_vec().into_pyarray(py).into_any(),
            to_array(py, &finals, &shape)?,
        ))
    }
}

impl RustVecEnv {
    fn observations<'py>(&self, py: Python<'py>, b: &Batch) -> PyResult<Bound<'py, PyAny>> {
        let mut shape = vec![self.num_envs];
        shape.extend_from_slice(self.spec.obs.shape());
        let obs = match b.batch.observations() {
            env_core::Obs::F32(v) => ObsBuf::F32(v.to_vec()),
            env_core::Obs::U8(v) => ObsBuf::U8(v.to_vec()),
        };
        to_array(py, &obs, &shape)
    }
}

/// A MinAtar game (`minatar-sim`, GPL-3.0-or-later: only in a build with
/// the `minatar` feature), stepped from Python with the package's seeding:
/// `reset(seed)` is the package's `reset(seed=seed)`.
#[cfg(feature = "minatar")]
#[pyclass(module = "dqn_rs._dqn_rs")]
pub struct MinAtarGame {
    inner: Mutex<(minatar_sim::MinAtarEnv, Vec<u8>)>,
    spec: EnvSpec,
}

#[cfg(feature = "minatar")]
#[pymethods]
impl MinAtarGame {
    /// The game a RON setting names (`MinAtar(game: Breakout, actions:
    /// Minimal)`).
    #[new]
    fn new(py: Python<'_>, setting: &str) -> PyResult<Self> {
        let mut config = RunConfig::from_ron("()", "defaults").map_err(|e| raise(py, Kind::Config, &e))?;
        config.apply_override(&format!("env={setting}")).map_err(|e| raise(py, Kind::Config, &e))?;
        let runner::EnvSetting::MinAtar { game, sticky_action_prob, difficulty_ramping, actions } = config.env else {
            return Err(PyValueError::new_err(format!("{setting:?} is not a MinAtar game")));
        };
        let settings = minatar_sim::Settings { sticky_action_prob, difficulty_ramping };
        let env = minatar_sim::MinAtarEnv::new(minatar_sim::Rules { game, settings, actions })
            .map_err(|e| env_error(py, &e))?;
        let spec = env.spec();
        let planes = vec![0; spec.obs_len()];
        Ok(Self { inner: Mutex::new((env, planes)), spec })
    }

    /// (id, observation shape, element type, actions, step limit, reward
    /// threshold, observation ranges).
    fn spec(&self) -> SpecItems {
        spec_items(&self.spec)
    }

    /// The package's `reset(seed=seed)`: `seed(seed)`, then `reset()`;
    /// returns the first observation, `[channels, 10, 10]` bytes 0/1.
    fn reset<'py>(&self, py: Python<'py>, seed: u32) -> PyResult<Bound<'py, PyAny>> {
        let mut guard = self.inner.lock().map_err(|_| PyValueError::new_err("a previous call panicked"))?;
        let (env, planes) = &mut *guard;
        env.reset_with_seed(seed, (&mut planes[..]).into()).map_err(|e| env_error(py, &e))?;
        Ok(planes.clone().into_pyarray(py).reshape(self.spec.obs.shape().to_vec())?.into_any())
    }

    /// One step under `action`: (observation, reward, terminated,
    /// truncated).
    fn step<'py>(&self, py: Python<'py>, action: i64) -> PyResult<(Bound<'py, PyAny>, f64, bool, bool)> {
        let mut guard = self.inner.lock().map_err(|_| PyValueError::new_err("a previous call panicked"))?;
        let (env, planes) = &mut *guard;
        let action = usize::try_from(action).map_err(|_| {
            env_error(py, &EnvError::InvalidAction { action: usize::MAX, n_actions: self.spec.n_actions })
        })?;
        let outcome = env.step(action, (&mut planes[..]).into()).map_err(|e| env_error(py, &e))?;
        let obs = planes.clone().into_pyarray(py).reshape(self.spec.obs.shape().to_vec())?.into_any();
        Ok((obs, outcome.reward, outcome.terminated, outcome.truncated))
    }
}
