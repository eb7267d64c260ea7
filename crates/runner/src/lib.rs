#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! Training and testing DQN: the loop that composes an environment (any
//! `env_core::EnvFamily`: CartPole-v1, MountainCar-v0, Acrobot-v1, or a
//! user's own through [`Session::with_family`] and [`train_family`]) and
//! the learner, its configuration, and its outputs.
//!
//! [`RunConfig`] is the configuration, read from RON (every field optional,
//! unknown keys refused, the seed chapter's settings as
//! [`RunConfig::default`] and [`DEFAULT_RON`]); `--set key=value` overrides
//! go through [`RunConfig::apply_override`]. [`train`] runs training and
//! greedy testing and writes a run folder ([`files`]): the resolved
//! configuration, `train.csv`, `timing.csv`, `eval.csv`, `test.csv`, the
//! policy (`policy.json`, tensors by PyTorch name), `summary.json`, and
//! `checkpoints/`. [`resume`] continues an interrupted run exactly;
//! [`test_saved`] reloads a saved policy. Every random stream derives from
//! the one master seed, on a stream of its own ([`Stream`]). Errors are
//! typed to the end ([`RunError`] and its sources; [`ErrorChain`] prints
//! one). [`pool`] trains many runs side by side and [`sweep`] crosses
//! settings with seeds, both cached by configuration hash.
//!
//! What it deliberately does not do: draw plots or progress bars (that is
//! `xtask`'s job, through the [`Progress`] trait), print anything, or parse
//! command lines.

mod atomic_file;
pub mod checkpoint;
mod config;
mod error;
mod export;
pub mod heap;
mod onnx;
mod policy_file;
pub mod pool;
mod run;
mod session;
mod stats;
pub mod sweep;
pub mod tensorboard;
pub mod text;

pub use atomic_file::{write_atomic, write_atomic_with};
#[cfg(feature = "minatar")]
pub use config::MINATAR_RON;
pub use config::{
    ACROBOT_RON, CATCH_RON, Collection, ConfigError, DEFAULT_RON, DuplicateActionSetting, ENV_NAMES, EarlyStop,
    EnvSetting, IntegratorSetting, LearnerSetting, MAX_GREEDY_EPISODES, MOUNTAINCAR_RON, RunConfig, SETTABLE_KEYS,
};
pub use error::{ErrorChain, Phase, RunError, SkippedCheckpoint};
pub use export::{ExportFormat, export_policy, greedy_distributions, greedy_q_values, q_support};
pub use heap::CountingAllocator;
pub use onnx::{QHead, onnx_model};
pub use policy_file::{
    PolicyError, load_policy, load_policy_like, parse_policy, parse_safetensors_policy, parse_safetensors_policy_like,
    policy_safetensors, save_policy, save_policy_safetensors,
};
pub use run::{
    EVENT_FILE, FaultHook, FaultPoint, Progress, RunSummary, Silent, TEST_HEADER, TRAIN_HEADER, TrainOptions, files,
    prepare_run_dir, resume, resume_family, test_policy_family, test_policy_file, test_saved, test_saved_family, train,
    train_family, train_with,
};
pub use session::{
    EpisodeLog, EvalLog, GreedyEpisode, RunLearner, Session, SessionMeta, SessionState, StateError, StepReport,
    StoredSession, Stream, TallyProblem, TestLog, greedy_episode,
};
pub use stats::{
    Interval, fnv1a, iqm, mean_std, median, normalized, performance_profile, probability_of_improvement, quantile,
    stratified_bootstrap_ci, trimmed_mean,
};

pub use agent::{
    AgentError, Arithmetic, Batch, ConvLayer, Distributional, DqnConfig, Dueling, EpsilonSchedule, EpsilonShape,
    FrameKind, FrameSpec, LossKind, Network, Noisy, NoisyLayers, OptimizerChoice, Padding, Prioritized, Sampling,
    Spaces, Stacking, TargetUpdate,
};
pub use env_core::{Env, EnvError, EnvFamily, EnvSpec, VecEnv};

/// A trained Q-network, as saved in `policy.json`.
pub type Policy = agent::Mlp<f32>;
