//! `Trainer`: one training run (a `runner::Session`) driven from Python —
//! trained in installments with the GIL released, asked for greedy
//! actions, saved and read back as a checkpoint. The Stable-Baselines3
//! names and defaults are the Python layer's (`dqn_rs.DQN`); this is the
//! small surface beneath it.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use env_core::{EnvSpec, Obs, ObsType};
use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use runner::checkpoint::{self, CheckpointMeta, LogLengths};
use runner::{RunConfig, RunError, Session};

use crate::errors::{Kind, raise, raise_message};
use crate::python_env::{Description, Game, Games, Mode, ObsKind, ObsLayout, PythonFamily, Raised, obs_space};

/// How often a long `learn` looks for Ctrl-C (and so how soon it stops).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// An episode that ended in training: its return, its length and the
/// environment steps taken when it ended.
type Episode = (f64, u32, u64);

/// The run.
struct Inner {
    session: Session,
    raised: Raised,
}

/// The counters Python reads, kept apart from the run so that a callback
/// called in the middle of `learn` (which holds the run) reads them too.
#[derive(Default)]
struct Counters {
    steps: AtomicU64,
    updates: AtomicU64,
    /// ε's bits.
    epsilon: AtomicU64,
    episodes: AtomicU64,
}

impl Counters {
    fn of(session: &Session) -> Self {
        let counters = Self::default();
        counters.update(session);
        counters
    }

    fn update(&self, session: &Session) {
        self.steps.store(session.total_steps(), Ordering::Relaxed);
        self.updates.store(session.learner().n_updates(), Ordering::Relaxed);
        self.epsilon.store(session.epsilon().to_bits(), Ordering::Relaxed);
        self.episodes.store(u64::from(session.episodes_finished()), Ordering::Relaxed);
    }
}

/// A training run driven from Python (`dqn_rs.DQN` holds one).
#[pyclass(module = "dqn_rs._dqn_rs")]
pub struct Trainer {
    inner: Mutex<Inner>,
    counters: Counters,
    /// Episodes ended since Python last took them (apart from the run, as
    /// the counters).
    episodes: Mutex<Vec<Episode>>,
    /// Games the Python training environment reported (`info["episode"]`)
    /// since Python last took them.
    games: Games,
}

/// What `learn` stopped on.
enum Stop {
    /// The step budget is spent.
    Done,
    /// The callback answered False.
    Callback,
}

impl Trainer {
    /// The run, unless `learn` holds it (a callback calling back into the
    /// model): an error then, never a deadlock.
    fn lock(&self) -> PyResult<MutexGuard<'_, Inner>> {
        self.inner.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => PyRuntimeError::new_err(
                "the model is in the middle of learn(): a callback may read num_timesteps, exploration_rate, \
                 n_updates and the episodes, not use the model otherwise",
            ),
            TryLockError::Poisoned(_) => PyRuntimeError::new_err("a previous call on this model panicked"),
        })
    }

    fn new_of(session: Session, raised: Raised, games: Games) -> Self {
        Self {
            counters: Counters::of(&session),
            inner: Mutex::new(Inner { session, raised }),
            episodes: Mutex::default(),
            games,
        }
    }
}

/// The Python exception for a run's error: the environment's own exception
/// if one is waiting, else the Rust error as one of `dqn_rs.errors`.
fn run_error(py: Python<'_>, raised: &Raised, error: &RunError) -> PyErr {
    if let Some(original) = raised.lock().ok().and_then(|mut slot| slot.take()) {
        return original;
    }
    raise(py, Kind::of(error), error)
}

/// Reads the description the Python layer made of an environment
/// (`dqn_rs._spaces.describe`).
fn description(d: &Bound<'_, PyDict>) -> PyResult<(Description, Py<PyAny>, Py<PyAny>)> {
    fn get<'py, T: for<'a> FromPyObject<'a, 'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
        let value =
            d.get_item(key)?.ok_or_else(|| PyValueError::new_err(format!("environment description: no {key}")))?;
        value.extract::<T>().map_err(|_| PyValueError::new_err(format!("environment description: bad {key}")))
    }
    let kind: String = get(d, "obs_kind")?;
    let kind = match kind.as_str() {
        "f32" => ObsKind::F32,
        "u8" => ObsKind::U8,
        "onehot" => ObsKind::OneHot { n: get(d, "discrete_n")?, start: get(d, "discrete_start")? },
        other => return Err(PyValueError::new_err(format!("environment description: obs_kind {other}"))),
    };
    let layout = ObsLayout { source_shape: get(d, "obs_shape")?, channels_last: get(d, "channels_last")?, kind };
    let mode: String = get(d, "mode")?;
    let mode = match mode.as_str() {
        "single" => Mode::Single,
        "same_step" => Mode::SameStep,
        "next_step" => Mode::NextStep,
        "disabled" => Mode::Disabled,
        other => return Err(PyValueError::new_err(format!("environment description: mode {other}"))),
    };
    let obs = obs_space(&layout).map_err(|e| PyValueError::new_err(format!("observation space: {e}")))?;
    let ranges: Vec<(f32, f32)> = get(d, "obs_ranges")?;
    let spec = EnvSpec {
        id: get(d, "id")?,
        obs,
        n_actions: get(d, "n_actions")?,
        max_episode_steps: get(d, "max_episode_steps")?,
        reward_threshold: get(d, "reward_threshold")?,
        obs_ranges: ranges,
    };
    let description = Description {
        spec,
        layout,
        mode,
        num_envs: get(d, "num_envs")?,
        action_start: get(d, "action_start")?,
        can_save: get(d, "can_save")?,
    };
    Ok((description, get(d, "env")?, get(d, "make_single")?))
}

#[pymethods]
impl Trainer {
    /// A new run of the configuration `config` (RON text), on the Python
    /// environment `env` describes (`dqn_rs._spaces.describe`), or on the
    /// configuration's own (Rust) environment when `env` is None.
    #[new]
    #[pyo3(signature = (config, env=None))]
    fn new(py: Python<'_>, config: &str, env: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let config = RunConfig::from_ron(config, "config").map_err(|e| raise(py, Kind::Config, &e))?;
        let raised: Raised = Arc::default();
        let games: Games = Arc::default();
        let session = match env {
            None => Session::new(&config).map_err(|e| run_error(py, &raised, &e))?,
            Some(d) => {
                let (description, env, make_single) = description(d)?;
                let family =
                    Arc::new(PythonFamily::new(description, env, make_single, Arc::clone(&raised), Arc::clone(&games)));
                Session::with_family(&config, Box::new(family)).map_err(|e| run_error(py, &raised, &e))?
            }
        };
        Ok(Self::new_of(session, raised, games))
    }

    /// The run read back from the checkpoint at `path` (from byte `offset`
    /// on, `length` bytes of it: a checkpoint stored uncompressed in a zip
    /// archive is read where it lies), on the Python environment `env`
    /// describes (whose saved state the checkpoint holds), or on the
    /// configuration's own.
    #[staticmethod]
    #[pyo3(signature = (path, env=None, offset=0, length=None))]
    fn from_checkpoint(
        py: Python<'_>,
        path: PathBuf,
        env: Option<&Bound<'_, PyDict>>,
        offset: u64,
        length: Option<u64>,
    ) -> PyResult<Self> {
        let raised: Raised = Arc::default();
        let games: Games = Arc::default();
        let fail = |e: &checkpoint::CheckpointError, raised: &Raised| {
            if let Some(original) = raised.lock().ok().and_then(|mut slot| slot.take()) {
                return original;
            }
            raise_message(py, Kind::Checkpoint, format!("{}: {}", path.display(), runner::ErrorChain(e)))
        };
        let session = match env {
            None => {
                let ckpt = checkpoint::read_part(&path, offset, length, None).map_err(|e| fail(&e, &raised))?;
                Session::from_state(ckpt.session).map_err(|e| raise(py, Kind::Checkpoint, &e))?
            }
            Some(d) => {
                let (description, env, make_single) = description(d)?;
                let family =
                    Arc::new(PythonFamily::new(description, env, make_single, Arc::clone(&raised), Arc::clone(&games)));
                let ckpt = checkpoint::read_part(&path, offset, length, Some(family.as_ref()))
                    .map_err(|e| fail(&e, &raised))?;
                Session::from_state_with(ckpt.session, Box::new(family)).map_err(|e| raise(py, Kind::Checkpoint, &e))?
            }
        };
        Ok(Self::new_of(session, raised, games))
    }

    /// Trains `steps` more environment steps (the budget is the steps taken
    /// so far plus `steps`), with the GIL released. `callback(num_timesteps)`,
    /// if given, is called after every vector step; False stops training.
    /// Ctrl-C stops within a fraction of a second, raising
    /// KeyboardInterrupt, and leaves the run consistent: the next call
    /// finishes the interrupted step, as if it had never stopped. Returns
    /// False if the callback stopped it.
    #[pyo3(signature = (steps, callback=None))]
    fn learn(&self, py: Python<'_>, steps: u64, callback: Option<Py<PyAny>>) -> PyResult<bool> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let budget = inner.session.total_steps().saturating_add(steps);
        inner.session.set_step_budget(budget);
        // Shared with the interrupt check, which runs in this thread (the
        // closures must be Send to run with the GIL released).
        let signal: Mutex<Option<PyErr>> = Mutex::new(None);
        let last_check = Mutex::new(Instant::now());
        let stopped = |signal: &Mutex<Option<PyErr>>| signal.lock().map_or(true, |s| s.is_some());
        let keep = |signal: &Mutex<Option<PyErr>>, e: PyErr| {
            if let Ok(mut slot) = signal.lock() {
                slot.get_or_insert(e);
            }
        };
        let outcome = py.detach(|| -> Result<Stop, RunError> {
            // Asked between gradient steps and after every step.
            let interrupted = || {
                if stopped(&signal) {
                    return true;
                }
                let Ok(mut last) = last_check.lock() else { return true };
                if last.elapsed() < SIGNAL_CHECK {
                    return false;
                }
                *last = Instant::now();
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    keep(&signal, e);
                    return true;
                }
                false
            };
            while !inner.session.is_done() {
                let report = inner.session.step_interruptible(&interrupted)?;
                let complete = report.complete;
                if !report.episodes.is_empty()
                    && let Ok(mut episodes) = self.episodes.lock()
                {
                    episodes.extend(report.episodes.iter().map(|e| (e.ret, e.steps, e.total_steps)));
                }
                self.counters.update(&inner.session);
                let total = inner.session.total_steps();
                if !complete || interrupted() {
                    return Ok(Stop::Done);
                }
                if let Some(callback) = &callback {
                    let go_on = Python::attach(|py| -> PyResult<bool> {
                        let answer = callback.bind(py).call1((total,))?;
                        // A Ctrl-C that arrived while the callback ran is
                        // seen here, at the step it came in, not at the next
                        // timed check (a fast run could end before it).
                        py.check_signals()?;
                        Ok(answer.is_none() || answer.is_truthy()?)
                    });
                    match go_on {
                        Ok(true) => {}
                        Ok(false) => return Ok(Stop::Callback),
                        Err(e) => {
                            keep(&signal, e);
                            return Ok(Stop::Done);
                        }
                    }
                }
            }
            Ok(Stop::Done)
        });
        self.counters.update(&inner.session);
        let stop = outcome.map_err(|e| run_error(py, &inner.raised, &e))?;
        if let Some(e) = signal.into_inner().ok().flatten() {
            return Err(e);
        }
        Ok(matches!(stop, Stop::Done))
    }

    /// The episodes that ended since the last call: (return, length,
    /// environment steps when it ended).
    fn take_episodes(&self) -> PyResult<Vec<Episode>> {
        let mut episodes = self.episodes.lock().map_err(|_| PyRuntimeError::new_err("a previous call panicked"))?;
        Ok(std::mem::take(&mut *episodes))
    }

    /// The games the training environment reported as ended
    /// (`info["episode"]`, e.g. by Gymnasium's `RecordEpisodeStatistics`)
    /// since the last call: (return, length).
    fn take_games(&self) -> Vec<Game> {
        std::mem::take(&mut *self.games.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The greedy actions and action values of `observations`: a
    /// C-contiguous float32 or uint8 array of whole observations (channel
    /// first), as the run's environment gives them.
    fn greedy<'py>(
        &self,
        py: Python<'py>,
        observations: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let mut inner = self.lock()?;
        let n_actions = inner.session.env_spec().n_actions;
        let (mut actions, mut q) = (Vec::new(), Vec::new());
        let result = if inner.session.env_spec().obs.dtype() == ObsType::F32 {
            let array: PyReadonlyArrayDyn<'_, f32> = observations.extract()?;
            let values = array.as_slice().map_err(|e| PyValueError::new_err(e.to_string()))?;
            inner.session.greedy_actions(Obs::F32(values), &mut actions, &mut q)
        } else {
            let array: PyReadonlyArrayDyn<'_, u8> = observations.extract()?;
            let values = array.as_slice().map_err(|e| PyValueError::new_err(e.to_string()))?;
            inner.session.greedy_actions(Obs::U8(values), &mut actions, &mut q)
        };
        result.map_err(|e| raise(py, Kind::Config, &e))?;
        let rows = actions.len();
        let actions: Vec<i64> = actions.into_iter().map(|a| a as i64).collect();
        let q = q.into_pyarray(py).reshape([rows, n_actions])?;
        Ok((actions.into_pyarray(py).into_any(), q.into_any()))
    }

    /// The replay's transitions in storage slots `slots` (slot `i` holds
    /// the `i`-th transition until the buffer wraps), gathered as the
    /// learner gathers a batch: `(states, next_states, terminated)`, the
    /// states as rows of the network's input (stacked frames, scaled,
    /// float32). For inspection and tests: what the agent learns from.
    fn replay_rows<'py>(
        &self,
        py: Python<'py>,
        slots: Vec<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let inner = self.lock()?;
        let replay =
            inner.session.replay().ok_or_else(|| PyValueError::new_err("this run's learner keeps no replay buffer"))?;
        let mut batch = runner::Batch::new();
        replay.gather_slots_into(&slots, &mut batch).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let (rows, len) = (batch.len(), batch.row_len());
        let states = batch.states().to_vec().into_pyarray(py).reshape([rows, len])?;
        let next_states = batch.next_states().to_vec().into_pyarray(py).reshape([rows, len])?;
        let terminated = batch.terminated().to_vec().into_pyarray(py);
        Ok((states.into_any(), next_states.into_any(), terminated.into_any()))
    }

    /// Frames the replay has stored since it was made (one a step where
    /// each observation's stack continues the one before).
    #[getter]
    fn replay_frames(&self) -> PyResult<u64> {
        let inner = self.lock()?;
        let replay =
            inner.session.replay().ok_or_else(|| PyValueError::new_err("this run's learner keeps no replay buffer"))?;
        Ok(replay.frames_pushed())
    }

    /// Environment steps taken in training.
    #[getter]
    fn num_timesteps(&self) -> u64 {
        self.counters.steps.load(Ordering::Relaxed)
    }

    /// ε at the current step.
    #[getter]
    fn exploration_rate(&self) -> f64 {
        f64::from_bits(self.counters.epsilon.load(Ordering::Relaxed))
    }

    /// Gradient steps taken.
    #[getter]
    fn n_updates(&self) -> u64 {
        self.counters.updates.load(Ordering::Relaxed)
    }

    /// Training episodes finished.
    #[getter]
    fn episodes_finished(&self) -> u64 {
        self.counters.episodes.load(Ordering::Relaxed)
    }

    /// The run's configuration as RON text.
    fn config_ron(&self) -> PyResult<String> {
        Ok(self.lock()?.session.config().to_ron())
    }

    /// Environments stepped together (the configuration's
    /// `collection.envs`).
    #[getter]
    fn num_envs(&self) -> PyResult<u32> {
        Ok(self.lock()?.session.config().collection.envs)
    }

    /// Whether the run can be checkpointed (its environments saved).
    #[getter]
    fn can_checkpoint(&self) -> PyResult<bool> {
        Ok(self.lock()?.session.can_checkpoint())
    }

    /// The observation shape (channel first), element type (`"f32"`,
    /// `"u8"`, `"bit"`) and number of actions.
    fn spaces(&self) -> PyResult<(Vec<usize>, String, usize)> {
        let inner = self.lock()?;
        let spec = inner.session.env_spec();
        Ok((spec.obs.shape().to_vec(), spec.obs.dtype().name().to_string(), spec.n_actions))
    }

    /// Writes the whole run (learner, replay buffer, environments, RNGs,
    /// counters) as a checkpoint to `file`, a binary file object (`write`
    /// is all it needs: a member of a zip archive opened for writing will
    /// do), streaming the replay buffer (no second copy of it in memory,
    /// none on disk). Returns the bytes written.
    fn write_checkpoint(&self, py: Python<'_>, file: &Bound<'_, PyAny>) -> PyResult<u64> {
        let inner = self.lock()?;
        let meta = inner.session.meta().map_err(|e| {
            if let Some(original) = inner.raised.lock().ok().and_then(|mut slot| slot.take()) {
                return original;
            }
            raise(py, Kind::Checkpoint, &e)
        })?;
        let logs = LogLengths {
            train_csv_len: 0,
            timing_csv_len: 0,
            eval_csv_len: 0,
            tensorboard_len: 0,
            elapsed_seconds: 0.0,
        };
        let meta = CheckpointMeta { session: meta, logs };
        let mut target = PyFile { file, raised: None };
        let written = {
            let mut buffered = BufWriter::with_capacity(PY_WRITE_MAX, &mut target);
            checkpoint::write_to(&mut buffered, &meta, inner.session.streamed())
                .and_then(|n| buffered.flush().map(|()| n))
        };
        written.map_err(|e| match target.raised.take() {
            Some(original) => original,
            None => raise_message(py, Kind::Checkpoint, format!("writing the checkpoint: {e}")),
        })
    }

    /// The policy network as safetensors bytes (PyTorch's names).
    fn policy_safetensors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let inner = self.lock()?;
        let agent =
            inner.session.learner().dqn().ok_or_else(|| PyValueError::new_err("the run's learner has no network"))?;
        Ok(PyBytes::new(py, &runner::policy_safetensors(agent.policy())))
    }

    /// The policy network's tensors by PyTorch name, as float32 arrays.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.lock()?;
        let agent =
            inner.session.learner().dqn().ok_or_else(|| PyValueError::new_err("the run's learner has no network"))?;
        let out = PyDict::new(py);
        for (name, tensor) in agent.policy().params().named_tensors() {
            let shape = tensor.shape();
            let values: Vec<f32> = tensor.iter().copied().collect();
            out.set_item(name, values.into_pyarray(py).reshape(shape)?)?;
        }
        Ok(out)
    }
}

/// A Python binary file object as a `Write`; what its `write` raised is
/// kept, to reach the caller unchanged.
struct PyFile<'a, 'py> {
    file: &'a Bound<'py, PyAny>,
    raised: Option<PyErr>,
}

/// The most a `PyFile` hands Python at once: the replay's frames are one
/// slice (7 GB at a million Atari transitions), and a `bytes` object of it
/// whole would double the memory of a save.
const PY_WRITE_MAX: usize = 1 << 20;

impl Write for PyFile<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let buf = &buf[..buf.len().min(PY_WRITE_MAX)];
        let written = self
            .file
            .call_method1("write", (PyBytes::new(self.file.py(), buf),))
            .and_then(|n| if n.is_none() { Ok(buf.len()) } else { n.extract::<usize>() });
        match written {
            Ok(n) if n <= buf.len() => Ok(n),
            Ok(n) => Err(std::io::Error::other(format!("the file's write says {n} bytes of {}", buf.len()))),
            Err(e) => {
                self.raised = Some(e);
                Err(std::io::Error::other("the file's write raised"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
