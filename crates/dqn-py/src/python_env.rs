//! A Gymnasium environment stepped from Rust: env-core's [`EnvFamily`],
//! [`Env`] and [`VecEnv`] over Python objects — a `gymnasium.Env`, or a
//! `gymnasium.vector.VectorEnv` in any of its three autoreset modes, read
//! as the same-step batch env-core describes.
//!
//! Every call into Python attaches to the interpreter for its duration
//! (training runs with the GIL released). An exception the environment
//! raises is kept in [`Raised`] and travels through Rust as
//! [`EnvError::Custom`]; the caller re-raises the original, unchanged.
//! What the environment returns is checked here (tuple sizes, shapes,
//! dtypes) and by env-core's `check_outputs` (lengths, finite values).

use std::sync::{Arc, Mutex, PoisonError};

use env_core::{Env, EnvError, EnvFamily, EnvSpec, Obs, ObsBuf, ObsMut, ObsSpace, Resets, StepOutcome, VecEnv};
use numpy::ndarray::{ArrayViewD, IxDyn};
use numpy::{PyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Where the Python exception that stopped a call waits, so that the
/// caller re-raises it unchanged (type, message, traceback) instead of
/// the Rust error that carried it out.
pub type Raised = Arc<Mutex<Option<PyErr>>>;

/// A game as the environment's own statistics report it at its end
/// (`info["episode"]`): its return and its length in steps.
pub type Game = (f64, u64);

/// Where the training environments' reported games wait for Python. With
/// a wrapper that ends the agent's episode at a lost life (Atari's
/// `EpisodicLifeEnv`) and clipped rewards, these, not the agent's
/// episodes, are the games and scores a result reports.
pub type Games = Arc<Mutex<Vec<Game>>>;

/// The game `info` reports as ended: `info["episode"]` with `"r"` and
/// `"l"`, the convention of Gymnasium's `RecordEpisodeStatistics` and
/// Stable-Baselines3's `Monitor`. Anything else under that key is another
/// convention and is not read (statistics never stop training).
fn reported_game(py: Python<'_>, info: &Bound<'_, PyAny>) -> Option<Game> {
    let episode = info.cast::<PyDict>().ok()?.get_item(intern!(py, "episode")).ok()??;
    let episode = episode.cast::<PyDict>().ok()?;
    let r: f64 = episode.get_item(intern!(py, "r")).ok()??.extract().ok()?;
    let l: u64 = episode.get_item(intern!(py, "l")).ok()??.extract().ok()?;
    Some((r, l))
}

/// The games a vector environment's `infos` report as ended: where
/// `infos["_episode"]` is true, `infos["episode"]["r"][i]` and `["l"][i]`
/// (Gymnasium's vector `RecordEpisodeStatistics`, or single environments
/// with it inside a `SyncVectorEnv`).
fn reported_games(py: Python<'_>, infos: &Bound<'_, PyAny>, n: usize, out: &mut Vec<Game>) {
    let Ok(infos) = infos.cast::<PyDict>() else { return };
    let (Ok(Some(episode)), Ok(Some(mask))) =
        (infos.get_item(intern!(py, "episode")), infos.get_item(intern!(py, "_episode")))
    else {
        return;
    };
    let (Ok(r), Ok(l)) = (episode.get_item(intern!(py, "r")), episode.get_item(intern!(py, "l"))) else { return };
    for i in 0..n {
        if mask.get_item(i).and_then(|m| m.is_truthy()).unwrap_or(false) {
            let game = r
                .get_item(i)
                .and_then(|v| v.extract::<f64>())
                .ok()
                .zip(l.get_item(i).and_then(|v| v.extract::<u64>()).ok());
            out.extend(game);
        }
    }
}

/// A Python environment's failure as env-core carries it: a message (the
/// exception itself, if there is one, waits in [`Raised`]).
#[derive(Debug)]
pub struct PythonEnvError(pub String);

impl std::fmt::Display for PythonEnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PythonEnvError {}

fn bad(message: String) -> EnvError {
    EnvError::Custom(Box::new(PythonEnvError(message)))
}

/// Keeps `error` for the caller and says where it came from.
fn raised(slot: &Raised, py: Python<'_>, call: &str, error: PyErr) -> EnvError {
    let message =
        format!("{call} raised {}", error.value(py).repr().map_or_else(|_| "an exception".into(), |r| r.to_string()));
    if let Ok(mut slot) = slot.lock() {
        slot.get_or_insert(error);
    }
    bad(message)
}

/// How the environment's observations become env-core's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ObsKind {
    /// A `Box` of floats (or integers other than bytes): `f32` values.
    F32,
    /// A `Box` of `uint8`: pixels, kept as bytes.
    U8,
    /// A `Discrete(n, start)` observation: one-hot `f32` vector of `n`.
    OneHot {
        /// Its size.
        n: usize,
        /// Its first value.
        start: i64,
    },
}

/// The shape of the environment's observations and how to read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObsLayout {
    /// The shape the environment returns (channel last where it is).
    pub source_shape: Vec<usize>,
    /// Images given channel last (`H, W, C`), stored channel first.
    pub channels_last: bool,
    /// How values are read.
    pub kind: ObsKind,
}

impl ObsLayout {
    /// The values in one observation.
    pub fn len(&self) -> usize {
        match self.kind {
            ObsKind::OneHot { n, .. } => n,
            _ => self.source_shape.iter().product(),
        }
    }

    /// Channel first: the axes of a source array of `extra` leading batch
    /// axes, in the order they are stored.
    fn axes(&self, extra: usize) -> Vec<usize> {
        let rank = self.source_shape.len();
        let mut axes: Vec<usize> = (0..extra + rank).collect();
        if self.channels_last && rank == 3 {
            axes[extra..].copy_from_slice(&[extra + 2, extra, extra + 1]);
        }
        axes
    }

    /// Writes `rows` observations (`rows` = `None`: one, with no batch
    /// axis) from the Python object `value` into `out`, checking the shape
    /// and the element type.
    pub fn write(
        &self,
        value: &Bound<'_, PyAny>,
        rows: Option<usize>,
        what: &str,
        out: ObsMut<'_>,
    ) -> Result<(), String> {
        let py = value.py();
        let mut expected: Vec<usize> = rows.into_iter().collect();
        if let ObsKind::OneHot { n, start } = self.kind {
            let np = py.import(intern!(py, "numpy")).map_err(|e| e.to_string())?;
            let array = np
                .call_method1(intern!(py, "asarray"), (value, intern!(py, "int64")))
                .map_err(|e| format!("{what} is not a whole number ({e})"))?;
            let array = array
                .extract::<PyReadonlyArrayDyn<'_, i64>>()
                .map_err(|_| format!("{what} is {}, not a whole number", describe(value)))?;
            if array.shape() != expected.as_slice() {
                return Err(format!(
                    "{what} has shape {:?}; expected {expected:?} (a Discrete observation)",
                    array.shape()
                ));
            }
            let ObsMut::F32(out) = out else { return Err("a one-hot observation is f32".into()) };
            out.fill(0.0);
            for (i, &v) in array.as_array().iter().enumerate() {
                let index = v.checked_sub(start).filter(|k| (0..n as i64).contains(k));
                let Some(k) = index else {
                    return Err(format!("{what} is {v}, outside Discrete({n}, start={start})"));
                };
                out[i * n + k as usize] = 1.0;
            }
            return Ok(());
        }
        expected.extend_from_slice(&self.source_shape);
        let extra = usize::from(rows.is_some());
        match out {
            ObsMut::U8(out) => {
                let array: PyReadonlyArrayDyn<'_, u8> = value
                    .extract()
                    .map_err(|_| format!("{what} is {}; the observation space holds uint8 frames", describe(value)))?;
                self.copy(array.as_array(), &expected, extra, what, out)
            }
            ObsMut::F32(out) => {
                if let Ok(array) = value.extract::<PyReadonlyArrayDyn<'_, f32>>() {
                    return self.copy(array.as_array(), &expected, extra, what, out);
                }
                if let Ok(array) = value.extract::<PyReadonlyArrayDyn<'_, f64>>() {
                    // numpy's own cast to float32: round to nearest.
                    let view = array.as_array().mapv(|v| v as f32);
                    return self.copy(view.view(), &expected, extra, what, out);
                }
                let np = py.import(intern!(py, "numpy")).map_err(|e| e.to_string())?;
                let array = np
                    .call_method1(intern!(py, "asarray"), (value, intern!(py, "float32")))
                    .map_err(|e| format!("{what} is {}, not an array of numbers ({e})", describe(value)))?;
                let array = array
                    .extract::<PyReadonlyArrayDyn<'_, f32>>()
                    .map_err(|_| format!("{what} is {}, not an array of numbers", describe(value)))?;
                self.copy(array.as_array(), &expected, extra, what, out)
            }
        }
    }

    fn copy<T: Copy>(
        &self,
        view: ArrayViewD<'_, T>,
        expected: &[usize],
        extra: usize,
        what: &str,
        out: &mut [T],
    ) -> Result<(), String> {
        if view.shape() != expected {
            return Err(format!("{what} has shape {:?}; the observation space's is {expected:?}", view.shape()));
        }
        let view = view.permuted_axes(IxDyn(&self.axes(extra)));
        if view.len() != out.len() {
            return Err(format!("{what} holds {} values; expected {}", view.len(), out.len()));
        }
        for (o, v) in out.iter_mut().zip(view.iter()) {
            *o = *v;
        }
        Ok(())
    }
}

/// `value`'s type and, for an array, its dtype and shape: for messages.
fn describe(value: &Bound<'_, PyAny>) -> String {
    let py = value.py();
    let type_name = value.get_type().name().map_or_else(|_| "?".into(), |n| n.to_string());
    match (value.getattr(intern!(py, "dtype")), value.getattr(intern!(py, "shape"))) {
        (Ok(dtype), Ok(shape)) => format!("an array of {dtype} with shape {shape}"),
        _ => format!("a {type_name}"),
    }
}

/// How the Python object steps and resets: one `gymnasium.Env`, or a
/// `VectorEnv` in one of Gymnasium's autoreset modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// One `gymnasium.Env`, reset here when its episode ends.
    Single,
    /// A vector env that resets on the ending step and puts the final
    /// observation in `infos["final_obs"]`.
    SameStep,
    /// A vector env that resets on the step after the end; reset here
    /// instead, at once, through `reset(options={"reset_mask": ...})`.
    NextStep,
    /// A vector env that never resets by itself; reset here as `NextStep`.
    Disabled,
}

/// What the package learned of a Python environment: its spec, how to read
/// its observations, how it steps, and what it can do.
#[derive(Debug, Clone)]
pub struct Description {
    /// The spaces and rules as env-core describes them.
    pub spec: EnvSpec,
    /// How observations are read.
    pub layout: ObsLayout,
    /// How it steps.
    pub mode: Mode,
    /// Environments in the object (1 for a single one).
    pub num_envs: usize,
    /// The value of action 0 (`Discrete(n, start)`).
    pub action_start: i64,
    /// Whether `pickle` can save it (for exact checkpoints).
    pub can_save: bool,
}

/// The Python object and what is known of it, shared by the family, its
/// batches and its single environments.
#[derive(Debug)]
struct Shared {
    description: Description,
    raised: Raised,
    /// The training batch's reported games (single environments, which
    /// play greedy evaluation episodes, add none).
    games: Games,
}

/// A Python environment as env-core's family: the training batch steps the
/// user's object itself; single environments (greedy episodes, probe
/// states) come from `make_single`.
#[derive(Debug)]
pub struct PythonFamily {
    shared: Arc<Shared>,
    train: Py<PyAny>,
    make_single: Py<PyAny>,
}

impl PythonFamily {
    /// The family over `train`, making single environments with
    /// `make_single()`; exceptions are kept in `raised`, the games the
    /// training environments report in `games`.
    pub fn new(
        description: Description,
        train: Py<PyAny>,
        make_single: Py<PyAny>,
        raised: Raised,
        games: Games,
    ) -> Self {
        Self { shared: Arc::new(Shared { description, raised, games }), train, make_single }
    }
}

/// A seed for Gymnasium's `reset(seed=...)`, drawn from the caller's RNG:
/// every episode's start is then a function of the run's master seed.
fn draw_seed(rng: &mut dyn RngCore) -> u64 {
    rng.next_u64() >> 1
}

impl EnvFamily for PythonFamily {
    fn spec(&self) -> EnvSpec {
        self.shared.description.spec.clone()
    }

    fn single(&self) -> Result<Box<dyn Env>, EnvError> {
        Python::attach(|py| {
            let env = self
                .make_single
                .bind(py)
                .call0()
                .map_err(|e| raised(&self.shared.raised, py, "making an evaluation environment", e))?;
            Ok(Box::new(PythonEnv { shared: Arc::clone(&self.shared), env: env.unbind(), elapsed: 0, running: false })
                as Box<dyn Env>)
        })
    }

    fn batch(&self, n: usize, resets: &mut dyn Resets) -> Result<Box<dyn VecEnv>, EnvError> {
        let d = &self.shared.description;
        if n != d.num_envs {
            return Err(bad(format!(
                "the environment given steps {} environment(s) at once; the configuration's collection.envs is {n}",
                d.num_envs
            )));
        }
        env_core::check_resets(resets, n)?;
        Python::attach(|py| {
            let mut batch = PythonBatch::empty(Arc::clone(&self.shared), self.train.clone_ref(py))?;
            batch.reset_all(py, resets)?;
            Ok(Box::new(batch) as Box<dyn VecEnv>)
        })
    }

    fn can_save(&self) -> bool {
        self.shared.description.can_save
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn VecEnv>, EnvError> {
        if !self.can_save() {
            return Err(EnvError::NotSaveable { id: self.shared.description.spec.id.clone() });
        }
        let stored: StoredBatch = postcard::from_bytes(saved).map_err(EnvError::Decode)?;
        let d = &self.shared.description;
        let n = d.num_envs;
        let len = d.layout.len();
        let fits = stored.observations.len() == n * len
            && stored.final_observations.len() == n * len
            && [stored.rewards.len(), stored.terminated.len(), stored.truncated.len(), stored.elapsed.len()]
                .iter()
                .all(|&l| l == n);
        if !fits {
            return Err(bad(format!("the saved Python environment does not fit {n} environment(s) of {len} values")));
        }
        Python::attach(|py| {
            let pickle =
                py.import(intern!(py, "pickle")).map_err(|e| raised(&self.shared.raised, py, "import pickle", e))?;
            let env = pickle
                .call_method1(intern!(py, "loads"), (PyBytes::new(py, &stored.pickled),))
                .map_err(|e| raised(&self.shared.raised, py, "pickle.loads of the saved environment", e))?;
            Ok(Box::new(PythonBatch {
                shared: Arc::clone(&self.shared),
                env: env.unbind(),
                observations: stored.observations,
                final_observations: stored.final_observations,
                rewards: stored.rewards,
                terminated: stored.terminated,
                truncated: stored.truncated,
                elapsed: stored.elapsed,
            }) as Box<dyn VecEnv>)
        })
    }
}

/// Unpacks a tuple of `len` items returned by `call`.
fn items<'py>(value: &Bound<'py, PyAny>, len: usize, call: &str) -> Result<Vec<Bound<'py, PyAny>>, EnvError> {
    let tuple = value
        .cast::<PyTuple>()
        .map_err(|_| bad(format!("{call} returned {}, not a tuple of {len}", describe(value))))?;
    if tuple.len() != len {
        return Err(bad(format!("{call} returned a tuple of {}; Gymnasium's API has {len}", tuple.len())));
    }
    Ok(tuple.iter().collect())
}

/// One environment of the family (greedy episodes, probe states).
#[derive(Debug)]
struct PythonEnv {
    shared: Arc<Shared>,
    env: Py<PyAny>,
    elapsed: u32,
    running: bool,
}

impl Env for PythonEnv {
    fn spec(&self) -> EnvSpec {
        self.shared.description.spec.clone()
    }

    fn reset(&mut self, rng: &mut dyn RngCore, obs: ObsMut<'_>) -> Result<(), EnvError> {
        let seed = draw_seed(rng);
        Python::attach(|py| {
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "seed"), seed).map_err(|e| bad(e.to_string()))?;
            let result = self
                .env
                .bind(py)
                .call_method(intern!(py, "reset"), (), Some(&kwargs))
                .map_err(|e| raised(&self.shared.raised, py, "env.reset", e))?;
            let parts = items(&result, 2, "env.reset")?;
            self.shared.description.layout.write(&parts[0], None, "env.reset's observation", obs).map_err(bad)?;
            self.elapsed = 0;
            self.running = true;
            Ok(())
        })
    }

    fn step(&mut self, action: usize, obs: ObsMut<'_>) -> Result<StepOutcome, EnvError> {
        let d = &self.shared.description;
        if action >= d.spec.n_actions {
            return Err(EnvError::InvalidAction { action, n_actions: d.spec.n_actions });
        }
        if !self.running {
            return Err(EnvError::NotReset);
        }
        Python::attach(|py| {
            let result = self
                .env
                .bind(py)
                .call_method1(intern!(py, "step"), (d.action_start + action as i64,))
                .map_err(|e| raised(&self.shared.raised, py, "env.step", e))?;
            let (outcome, _) = read_step(&result, &d.layout, obs)?;
            self.elapsed += 1;
            self.running = !outcome.is_done();
            Ok(outcome)
        })
    }

    fn elapsed_steps(&self) -> u32 {
        self.elapsed
    }

    fn is_running(&self) -> bool {
        self.running
    }
}

/// Reads `(obs, reward, terminated, truncated, info)`; returns the
/// outcome and the info.
fn read_step<'py>(
    result: &Bound<'py, PyAny>,
    layout: &ObsLayout,
    obs: ObsMut<'_>,
) -> Result<(StepOutcome, Bound<'py, PyAny>), EnvError> {
    let mut parts = items(result, 5, "env.step")?;
    layout.write(&parts[0], None, "env.step's observation", obs).map_err(bad)?;
    let reward: f64 =
        parts[1].extract().map_err(|_| bad(format!("env.step's reward is {}, not a number", describe(&parts[1]))))?;
    let flag = |i: usize, name: &str| {
        parts[i].is_truthy().map_err(|e| bad(format!("env.step's {name} is not a truth value ({e})")))
    };
    let outcome = StepOutcome { reward, terminated: flag(2, "terminated")?, truncated: flag(3, "truncated")? };
    Ok((outcome, parts.swap_remove(4)))
}

/// The saved form of a [`PythonBatch`]: the pickled object and the
/// outputs of its last step.
#[derive(Serialize, Deserialize)]
struct StoredBatch {
    pickled: Vec<u8>,
    observations: ObsBuf,
    final_observations: ObsBuf,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    elapsed: Vec<u32>,
}

/// The training environments: the user's object, read as a same-step
/// batch.
#[derive(Debug)]
struct PythonBatch {
    shared: Arc<Shared>,
    env: Py<PyAny>,
    observations: ObsBuf,
    final_observations: ObsBuf,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    elapsed: Vec<u32>,
}

impl PythonBatch {
    fn empty(shared: Arc<Shared>, env: Py<PyAny>) -> Result<Self, EnvError> {
        let n = shared.description.num_envs;
        let space = &shared.description.spec.obs;
        Ok(Self {
            observations: ObsBuf::zeros(space, n)?,
            final_observations: ObsBuf::zeros(space, n)?,
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            elapsed: vec![0; n],
            shared,
            env,
        })
    }

    fn fail(&self, py: Python<'_>, call: &str, e: PyErr) -> EnvError {
        raised(&self.shared.raised, py, call, e)
    }

    /// Resets every environment, environment `i` seeded from `resets.rng(i)`.
    fn reset_all(&mut self, py: Python<'_>, resets: &mut dyn Resets) -> Result<(), EnvError> {
        let d = &self.shared.description;
        let n = d.num_envs;
        let len = d.layout.len();
        let kwargs = PyDict::new(py);
        let env = self.env.bind(py);
        if d.mode == Mode::Single {
            kwargs.set_item(intern!(py, "seed"), draw_seed(resets.rng(0))).map_err(|e| bad(e.to_string()))?;
            let result =
                env.call_method(intern!(py, "reset"), (), Some(&kwargs)).map_err(|e| self.fail(py, "env.reset", e))?;
            let parts = items(&result, 2, "env.reset")?;
            d.layout
                .write(&parts[0], None, "env.reset's observation", self.observations.row_mut(0, len))
                .map_err(bad)?;
        } else {
            let seeds: Vec<u64> = (0..n).map(|i| draw_seed(resets.rng(i))).collect();
            kwargs.set_item(intern!(py, "seed"), seeds).map_err(|e| bad(e.to_string()))?;
            let result =
                env.call_method(intern!(py, "reset"), (), Some(&kwargs)).map_err(|e| self.fail(py, "env.reset", e))?;
            let parts = items(&result, 2, "env.reset")?;
            d.layout
                .write(&parts[0], Some(n), "env.reset's observations", self.observations.as_obs_mut())
                .map_err(bad)?;
        }
        self.final_observations = self.observations.clone();
        self.rewards.fill(0.0);
        self.terminated.fill(false);
        self.truncated.fill(false);
        self.elapsed.fill(0);
        Ok(())
    }

    fn step_single(&mut self, py: Python<'_>, action: usize, resets: &mut dyn Resets) -> Result<(), EnvError> {
        let d = &self.shared.description;
        let len = d.layout.len();
        let result = self
            .env
            .bind(py)
            .call_method1(intern!(py, "step"), (d.action_start + action as i64,))
            .map_err(|e| self.fail(py, "env.step", e))?;
        let (outcome, info) = read_step(&result, &d.layout, self.final_observations.row_mut(0, len))?;
        // A game ends only where an episode does (a lost life may end an
        // episode alone).
        if let Some(game) = outcome.is_done().then(|| reported_game(py, &info)).flatten() {
            self.shared.games.lock().unwrap_or_else(PoisonError::into_inner).push(game);
        }
        self.rewards[0] = outcome.reward;
        self.terminated[0] = outcome.terminated;
        self.truncated[0] = outcome.truncated;
        if outcome.is_done() {
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "seed"), draw_seed(resets.rng(0))).map_err(|e| bad(e.to_string()))?;
            let result = self
                .env
                .bind(py)
                .call_method(intern!(py, "reset"), (), Some(&kwargs))
                .map_err(|e| self.fail(py, "env.reset", e))?;
            let parts = items(&result, 2, "env.reset")?;
            d.layout
                .write(&parts[0], None, "env.reset's observation", self.observations.row_mut(0, len))
                .map_err(bad)?;
            self.elapsed[0] = 0;
        } else {
            self.observations.copy_row(&self.final_observations, 0, len);
            self.elapsed[0] += 1;
        }
        Ok(())
    }

    fn step_vector(&mut self, py: Python<'_>, actions: &[usize], resets: &mut dyn Resets) -> Result<(), EnvError> {
        let d = &self.shared.description;
        let n = d.num_envs;
        let values: Vec<i64> = actions.iter().map(|&a| d.action_start + a as i64).collect();
        let env = self.env.bind(py);
        let result = env
            .call_method1(intern!(py, "step"), (PyArray1::from_vec(py, values),))
            .map_err(|e| self.fail(py, "env.step", e))?;
        let parts = items(&result, 5, "env.step")?;
        d.layout
            .write(&parts[0], Some(n), "env.step's observations", self.final_observations.as_obs_mut())
            .map_err(bad)?;
        read_column(&parts[1], n, "rewards", &mut self.rewards)?;
        read_column(&parts[2], n, "terminations", &mut self.terminated)?;
        read_column(&parts[3], n, "truncations", &mut self.truncated)?;
        let ended: Vec<bool> = (0..n).map(|i| self.terminated[i] || self.truncated[i]).collect();
        if ended.contains(&true) {
            let mut games = self.shared.games.lock().unwrap_or_else(PoisonError::into_inner);
            reported_games(py, &parts[4], n, &mut games);
        }
        let len = d.layout.len();
        // Where no episode ended, the next observation is the last one
        // (copied row by row into the buffer there is: no allocation).
        for i in 0..n {
            self.observations.copy_row(&self.final_observations, i, len);
        }
        match d.mode {
            Mode::SameStep => {
                // The returned observations already start the new episodes;
                // the ones the episodes ended in are in the infos.
                if ended.contains(&true) {
                    let infos = &parts[4];
                    let finals = infos.get_item(intern!(py, "final_obs")).map_err(|_| {
                        bad("a same-step vector env ended an episode without infos[\"final_obs\"]".into())
                    })?;
                    for i in (0..n).filter(|&i| ended[i]) {
                        let row = finals.get_item(i).map_err(|e| bad(format!("infos[\"final_obs\"][{i}]: {e}")))?;
                        d.layout
                            .write(&row, None, "infos[\"final_obs\"]", self.final_observations.row_mut(i, len))
                            .map_err(bad)?;
                    }
                }
            }
            Mode::NextStep | Mode::Disabled => {
                if ended.contains(&true) {
                    let seeds = PyList::empty(py);
                    for (i, &e) in ended.iter().enumerate() {
                        if e {
                            seeds.append(draw_seed(resets.rng(i))).map_err(|e| bad(e.to_string()))?;
                        } else {
                            seeds.append(py.None()).map_err(|e| bad(e.to_string()))?;
                        }
                    }
                    let options = PyDict::new(py);
                    let mask = PyArray1::from_vec(py, ended.clone());
                    options.set_item(intern!(py, "reset_mask"), mask).map_err(|e| bad(e.to_string()))?;
                    let kwargs = PyDict::new(py);
                    kwargs.set_item(intern!(py, "seed"), seeds).map_err(|e| bad(e.to_string()))?;
                    kwargs.set_item(intern!(py, "options"), options).map_err(|e| bad(e.to_string()))?;
                    let result = env
                        .call_method(intern!(py, "reset"), (), Some(&kwargs))
                        .map_err(|e| self.fail(py, "env.reset (with a reset_mask)", e))?;
                    let parts = items(&result, 2, "env.reset")?;
                    d.layout
                        .write(&parts[0], Some(n), "env.reset's observations", self.observations.as_obs_mut())
                        .map_err(bad)?;
                }
            }
            Mode::Single => unreachable!("a single environment steps in step_single"),
        }
        for (elapsed, e) in self.elapsed.iter_mut().zip(&ended) {
            *elapsed = if *e { 0 } else { *elapsed + 1 };
        }
        Ok(())
    }
}

/// Reads a column of `n` values (rewards, flags) into `out`: any sequence
/// or array, as `tolist()` or the sequence itself gives it.
fn read_column<T>(value: &Bound<'_, PyAny>, n: usize, what: &str, out: &mut [T]) -> Result<(), EnvError>
where
    T: Copy,
    Vec<T>: for<'a, 'py> FromPyObject<'a, 'py>,
{
    let py = value.py();
    let list = value.call_method0(intern!(py, "tolist")).unwrap_or_else(|_| value.clone());
    let values: Vec<T> =
        list.extract().map_err(|_| bad(format!("env.step's {what} are {}, not {n} values", describe(value))))?;
    if values.len() != n {
        return Err(bad(format!(
            "env.step's {what} hold {} values; the vector env has {n} environments",
            values.len()
        )));
    }
    out.copy_from_slice(&values);
    Ok(())
}

impl VecEnv for PythonBatch {
    fn spec(&self) -> EnvSpec {
        self.shared.description.spec.clone()
    }

    fn len(&self) -> usize {
        self.shared.description.num_envs
    }

    fn observations(&self) -> Obs<'_> {
        self.observations.as_obs()
    }

    fn final_observations(&self) -> Obs<'_> {
        self.final_observations.as_obs()
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
        let d = &self.shared.description;
        if actions.len() != d.num_envs {
            return Err(EnvError::ActionCount { expected: d.num_envs, got: actions.len() });
        }
        if let Some(&action) = actions.iter().find(|&&a| a >= d.spec.n_actions) {
            return Err(EnvError::InvalidAction { action, n_actions: d.spec.n_actions });
        }
        env_core::check_resets(resets, d.num_envs)?;
        let single = d.mode == Mode::Single;
        Python::attach(|py| {
            if single { self.step_single(py, actions[0], resets) } else { self.step_vector(py, actions, resets) }
        })
    }

    fn save(&self) -> Result<Vec<u8>, EnvError> {
        let d = &self.shared.description;
        if !d.can_save {
            return Err(EnvError::NotSaveable { id: d.spec.id.clone() });
        }
        let pickled = Python::attach(|py| -> Result<Vec<u8>, EnvError> {
            let pickle = py.import(intern!(py, "pickle")).map_err(|e| self.fail(py, "import pickle", e))?;
            let bytes = pickle
                .call_method1(intern!(py, "dumps"), (self.env.bind(py),))
                .map_err(|e| self.fail(py, "pickle.dumps of the environment", e))?;
            bytes.extract::<Vec<u8>>().map_err(|e| bad(e.to_string()))
        })?;
        let stored = StoredBatch {
            pickled,
            observations: self.observations.clone(),
            final_observations: self.final_observations.clone(),
            rewards: self.rewards.clone(),
            terminated: self.terminated.clone(),
            truncated: self.truncated.clone(),
            elapsed: self.elapsed.clone(),
        };
        postcard::to_allocvec(&stored).map_err(EnvError::Decode)
    }
}

/// An [`ObsSpace`] for `layout` (channel first).
pub fn obs_space(layout: &ObsLayout) -> Result<ObsSpace, EnvError> {
    match layout.kind {
        ObsKind::F32 => ObsSpace::new(stored_shape(layout), env_core::ObsType::F32),
        ObsKind::U8 => ObsSpace::new(stored_shape(layout), env_core::ObsType::U8),
        ObsKind::OneHot { n, .. } => Ok(ObsSpace::vector(n)),
    }
}

fn stored_shape(layout: &ObsLayout) -> Vec<usize> {
    let s = &layout.source_shape;
    if layout.channels_last && s.len() == 3 { vec![s[2], s[0], s[1]] } else { s.clone() }
}
