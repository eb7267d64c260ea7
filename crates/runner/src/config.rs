//! The run's configuration: [`RunConfig`] read from RON (every field
//! optional, unknown ones refused), `--set` overrides from one table of
//! keys, and the checks that name the first bad field.

use std::fmt;
use std::path::{Path, PathBuf};

use agent::DqnConfig;
use cartpole_sim::{EnvConfig, Integrator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The most greedy episodes a test phase, an evaluation or `cargo xtask test
/// --episodes` may ask for: their returns are kept, and a million is far
/// beyond what any statistic needs.
pub const MAX_GREEDY_EPISODES: u32 = 1_000_000;
const MAX_GREEDY_EPISODES_REASON: &str = "must be at most 1 000 000 (MAX_GREEDY_EPISODES)";

/// The embedded default: the seed chapter's settings.
pub const DEFAULT_RON: &str = include_str!("default.ron");

/// Everything a run needs, as written in a RON file. Every field is
/// optional in a file; missing ones take [`RunConfig::default`] (the seed
/// chapter's settings), unknown ones are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// The master seed of every random stream.
    pub seed: u64,
    /// Training episodes.
    pub train_episodes: u32,
    /// Greedy test episodes after training.
    pub test_episodes: u32,
    /// Stop training after this many environment steps, even mid-episode
    /// (for comparisons on a fixed step budget); `None`: run every episode.
    pub max_train_steps: Option<u64>,
    /// Which learner: `Dqn` (the seed) or `TabularQ(...)` (the baseline).
    pub learner: LearnerSetting,
    /// The environment.
    pub env: EnvSettings,
    /// How experience is gathered: how many environments step together and
    /// how often the learner updates.
    pub collection: Collection,
    /// Periodic greedy evaluation during training, stopping it once the
    /// policy is solved; `None` (the seed): train every episode.
    pub early_stop: Option<EarlyStop>,
    /// The learner's settings (see [`agent::DqnConfig`]; the sizes come
    /// from CartPole).
    pub agent: DqnConfig,
}

/// How a run collects experience.
///
/// Every vector step, each of the `envs` environments takes one action (all
/// chosen in one batched forward pass) and its transition is stored; every
/// `update_every` vector steps the learner takes `agent.gradient_steps`
/// gradient steps. So the ratio of gradient steps to environment steps is
/// `gradient_steps / (envs × update_every)`. An environment whose episode
/// ends is reset in the same step (the transition keeps the episode's final
/// observation, and a truncated one still bootstraps from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Collection {
    /// Environments stepped together (1: the seed's single environment).
    pub envs: u32,
    /// Vector steps between learner updates.
    pub update_every: u32,
}

impl Default for Collection {
    fn default() -> Self {
        Self { envs: 1, update_every: 1 }
    }
}

/// Periodic greedy evaluation that ends training when the policy is solved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStop {
    /// Evaluate each time training passes a multiple of this many
    /// environment steps.
    pub every_steps: u64,
    /// Greedy episodes per evaluation, from the run's evaluation stream (the
    /// same start states every time, distinct from the test phase's).
    pub episodes: u32,
    /// Solved when the evaluation's mean return reaches this (CartPole-v1:
    /// 475).
    pub solved_at: f64,
}

/// The learner a run trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LearnerSetting {
    /// DQN with the `agent` settings.
    Dqn,
    /// Tabular Q-learning on a grid over CartPole's observation, with the
    /// `agent` settings' γ and ε schedule.
    TabularQ {
        /// Bins for x, ẋ, θ, θ̇ over ±2.4, ±3, ±0.21, ±3.5.
        bins: Vec<usize>,
        /// The step size α.
        alpha: f64,
    },
}

impl LearnerSetting {
    /// The learner's name, as the configuration spells it.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Dqn => "Dqn",
            Self::TabularQ { .. } => "TabularQ",
        }
    }
}

/// The environment's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvSettings {
    /// The step on which an episode is truncated.
    pub max_episode_steps: u32,
    /// The kinematics integrator.
    pub integrator: IntegratorSetting,
}

/// Gymnasium's two kinematics integrators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum IntegratorSetting {
    /// `"euler"`, CartPole-v1's default.
    Euler,
    /// `"semi-implicit euler"`.
    SemiImplicitEuler,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            train_episodes: 200,
            test_episodes: 20,
            max_train_steps: None,
            learner: LearnerSetting::Dqn,
            env: EnvSettings::default(),
            collection: Collection::default(),
            early_stop: None,
            agent: DqnConfig::default(),
        }
    }
}

impl Default for EnvSettings {
    fn default() -> Self {
        Self { max_episode_steps: 500, integrator: IntegratorSetting::Euler }
    }
}

/// A configuration that cannot be used, and why.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The RON text does not parse (unknown keys included); `location`
    /// names the file or the `--set` argument, and the source carries the
    /// line and column.
    Parse {
        /// Where the text came from.
        location: String,
        /// The parser's error, with the position (boxed: it is large, and
        /// errors travel in every `Result`).
        source: Box<ron::error::SpannedError>,
    },
    /// A `--set` with a key no setting has.
    UnknownKey {
        /// The key given.
        key: String,
    },
    /// A `--set` argument without `=`.
    MalformedOverride {
        /// The argument given.
        argument: String,
    },
    /// A value that parses but is not allowed.
    Invalid {
        /// The setting's full name (`agent.gamma`).
        field: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, .. } => write!(f, "cannot read configuration {}", path.display()),
            Self::Parse { location, .. } => write!(f, "{location}"),
            Self::UnknownKey { key } => {
                write!(f, "--set {key}: no such setting (known: {})", SETTABLE_KEYS.join(", "))
            }
            Self::MalformedOverride { argument } => {
                write!(f, "--set {argument:?}: expected key=value, e.g. agent.lr=3e-4")
            }
            Self::Invalid { field, reason } => write!(f, "invalid configuration: {field}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Parse { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Lists every `--set` key once, with the field it sets: the list of keys
/// shown to users and the code that applies them come from the same table.
macro_rules! settable {
    ($($key:literal => $($field:ident).+),* $(,)?) => {
        /// The keys `--set` accepts.
        pub const SETTABLE_KEYS: &[&str] = &[$($key),*];

        impl RunConfig {
            fn set_key(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
                match key {
                    $($key => self.$($field).+ = parse_value(key, value)?,)*
                    _ => return Err(ConfigError::UnknownKey { key: key.to_string() }),
                }
                Ok(())
            }
        }
    };
}

settable! {
    "seed" => seed,
    "train_episodes" => train_episodes,
    "test_episodes" => test_episodes,
    "max_train_steps" => max_train_steps,
    "learner" => learner,
    "env.max_episode_steps" => env.max_episode_steps,
    "env.integrator" => env.integrator,
    "collection.envs" => collection.envs,
    "collection.update_every" => collection.update_every,
    "early_stop" => early_stop,
    "agent.hidden" => agent.hidden,
    "agent.gamma" => agent.gamma,
    "agent.lr" => agent.lr,
    "agent.batch_size" => agent.batch_size,
    "agent.buffer_capacity" => agent.buffer_capacity,
    "agent.sampling" => agent.sampling,
    "agent.epsilon" => agent.epsilon,
    "agent.epsilon.start" => agent.epsilon.start,
    "agent.epsilon.end" => agent.epsilon.end,
    "agent.epsilon.decay" => agent.epsilon.decay,
    "agent.target_update" => agent.target_update,
    "agent.double_dqn" => agent.double_dqn,
    "agent.loss" => agent.loss,
    "agent.grad_clip" => agent.grad_clip,
    "agent.gradient_steps" => agent.gradient_steps,
    "agent.learning_starts" => agent.learning_starts,
    "agent.chunk_rows" => agent.chunk_rows,
}

fn parse_value<T: DeserializeOwned>(key: &str, value: &str) -> Result<T, ConfigError> {
    ron::from_str(value)
        .map_err(|source| ConfigError::Parse { location: format!("--set {key}={value}"), source: Box::new(source) })
}

impl RunConfig {
    /// Parses RON text; `location` (a file name) prefixes any error.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] with the line and column, for bad syntax, a
    /// wrong type or an unknown key.
    pub fn from_ron(text: &str, location: &str) -> Result<Self, ConfigError> {
        ron::from_str(text)
            .map_err(|source| ConfigError::Parse { location: location.to_string(), source: Box::new(source) })
    }

    /// Reads and parses a RON file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_ron(&text, &path.display().to_string())
    }

    /// The configuration as RON, as it is saved in a run folder.
    #[must_use]
    pub fn to_ron(&self) -> String {
        let pretty = ron::ser::PrettyConfig::new().struct_names(false);
        ron::ser::to_string_pretty(self, pretty).expect("a RunConfig always serializes")
    }

    /// Applies one `key=value` override (`--set`); the value is RON.
    ///
    /// # Errors
    /// [`ConfigError::MalformedOverride`], [`ConfigError::UnknownKey`] or
    /// [`ConfigError::Parse`].
    pub fn apply_override(&mut self, argument: &str) -> Result<(), ConfigError> {
        let (key, value) = argument
            .split_once('=')
            .ok_or_else(|| ConfigError::MalformedOverride { argument: argument.to_string() })?;
        self.set_key(key.trim(), value.trim())
    }

    /// The environment's rules.
    #[must_use]
    pub fn env_config(&self) -> EnvConfig {
        let integrator = match self.env.integrator {
            IntegratorSetting::Euler => Integrator::Euler,
            IntegratorSetting::SemiImplicitEuler => Integrator::SemiImplicitEuler,
        };
        EnvConfig { integrator, max_episode_steps: self.env.max_episode_steps }
    }

    /// The learner's settings for CartPole.
    #[must_use]
    pub fn dqn_config(&self) -> DqnConfig {
        DqnConfig { obs_dim: cartpole_sim::OBS_DIM, n_actions: cartpole_sim::N_ACTIONS, ..self.agent.clone() }
    }

    /// Checks every value; the error names the first bad field.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| {
            Err(ConfigError::Invalid { field: field.to_string(), reason: reason.to_string() })
        };
        if self.train_episodes == 0 {
            return invalid("train_episodes", "must be at least 1");
        }
        if self.test_episodes > MAX_GREEDY_EPISODES {
            return invalid("test_episodes", MAX_GREEDY_EPISODES_REASON);
        }
        if self.env.max_episode_steps == 0 {
            return invalid("env.max_episode_steps", "must be at least 1");
        }
        if self.max_train_steps == Some(0) {
            return invalid("max_train_steps", "must be at least 1 (or None)");
        }
        if self.collection.envs == 0 || self.collection.envs > 4096 {
            return invalid("collection.envs", "must be between 1 and 4096");
        }
        if self.collection.update_every == 0 {
            return invalid("collection.update_every", "must be at least 1");
        }
        if let Some(stop) = &self.early_stop {
            if stop.every_steps == 0 {
                return invalid("early_stop.every_steps", "must be at least 1");
            }
            if stop.episodes == 0 {
                return invalid("early_stop.episodes", "must be at least 1");
            }
            if stop.episodes > MAX_GREEDY_EPISODES {
                return invalid("early_stop.episodes", MAX_GREEDY_EPISODES_REASON);
            }
            if !stop.solved_at.is_finite() {
                return invalid("early_stop.solved_at", "must be a finite return");
            }
        }
        if let LearnerSetting::TabularQ { bins, alpha } = &self.learner {
            if bins.len() != 4 || bins.contains(&0) {
                return invalid("learner", "TabularQ needs 4 bin counts (x, x_dot, theta, theta_dot), each at least 1");
            }
            if !(*alpha > 0.0 && *alpha <= 1.0) {
                return invalid("learner", "TabularQ alpha must be in (0, 1]");
            }
        }
        self.dqn_config()
            .validate()
            .map_err(|e| ConfigError::Invalid { field: format!("agent.{}", e.field), reason: e.reason })?;
        // Every environment's row goes through the network in one batched
        // pass: bounded as a mini-batch is.
        let sizes = self.dqn_config().layer_sizes();
        let widths: usize = sizes.iter().sum();
        if widths.saturating_mul(self.collection.envs as usize) > DqnConfig::MAX_BATCH_ACTIVATIONS {
            let (envs, max) = (self.collection.envs, DqnConfig::MAX_BATCH_ACTIVATIONS);
            return invalid(
                "collection.envs",
                &format!("{envs} environments through layers {sizes:?} hold more than {max} activations"),
            );
        }
        Ok(())
    }
}
