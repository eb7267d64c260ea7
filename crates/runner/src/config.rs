//! The run's configuration: [`RunConfig`] read from RON (every field
//! optional, unknown ones refused), `--set` overrides from one table of
//! keys, and the checks that name the first bad field.

use std::fmt;
use std::path::{Path, PathBuf};

use agent::{DqnConfig, FrameKind, FrameSpec, Spaces};
use cartpole_sim::{CartPoleFamily, EnvConfig, Integrator};
use env_core::{EnvError, EnvFamily, EnvSpec};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// The most greedy episodes a test phase, an evaluation or `cargo xtask test
/// --episodes` may ask for: their returns are kept, and a million is far
/// beyond what any statistic needs.
pub const MAX_GREEDY_EPISODES: u32 = 1_000_000;
const MAX_GREEDY_EPISODES_REASON: &str = "must be at most 1 000 000 (MAX_GREEDY_EPISODES)";

/// The embedded default: the seed chapter's settings.
pub const DEFAULT_RON: &str = include_str!("default.ron");
/// What `--env mountaincar` trains when given no file: DQN settings that
/// reach the flag (the seed's CartPole settings never do).
pub const MOUNTAINCAR_RON: &str = include_str!("presets/mountaincar.ron");
/// What `--env acrobot` trains when given no file.
pub const ACROBOT_RON: &str = include_str!("presets/acrobot.ron");
/// What `--env catch` trains when given no file: an MLP on the flattened
/// board that catches the ball.
pub const CATCH_RON: &str = include_str!("presets/catch.ron");
/// What `--env minatar-<game>` trains when given no file: Young & Tian's
/// DQN (their network, centered RMSprop, 5 M frames), on that game.
#[cfg(feature = "minatar")]
pub const MINATAR_RON: &str = include_str!("presets/minatar.ron");

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
    /// The environment: `CartPole(...)`, `MountainCar(...)` or
    /// `Acrobot(...)`, each with its own settings (the older form
    /// `(max_episode_steps: N, integrator: I)` still reads as CartPole).
    #[serde(deserialize_with = "env_or_legacy")]
    pub env: EnvSetting,
    /// How experience is gathered: how many environments step together and
    /// how often the learner updates.
    pub collection: Collection,
    /// Periodic greedy evaluation during training, stopping it once the
    /// policy is solved; `None` (the seed): train every episode.
    pub early_stop: Option<EarlyStop>,
    /// The learner's settings (see [`agent::DqnConfig`]; the observation
    /// and action sizes come from the environment).
    pub agent: DqnConfig,
    /// A policy file (`policy.json`, or safetensors such as PyTorch's
    /// `save_file(net.state_dict(), …)`) whose weights the policy and
    /// target networks start from, in place of their random
    /// initialisation; its shape must be the configuration's. `None` (the
    /// seed): random. A relative path is read from the working folder.
    // Settings added after the chapter's runs are left out of the RON text
    // at their default, so those runs' text and cache keys stay as they
    // were (checkpoints hold the text, so no field is missing there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_policy: Option<PathBuf>,
    /// A folder for TensorBoard: training writes scalar event files into
    /// `<folder>/<run folder's name>/` (view them with `tensorboard
    /// --logdir <folder>`); `None` (the seed): none. Logging never changes
    /// the results, and is no part of a run's cache key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensorboard: Option<PathBuf>,
    /// Copies of one of the environment's actions appended to its action
    /// space (`Some((action: 1, copies: 15))`: Acrobot's "no torque" 16
    /// times, 18 actions in all), for experiments with many actions of the
    /// same value; `None` (the seed): the environment's own actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_action: Option<DuplicateActionSetting>,
}

/// [`RunConfig::duplicate_action`]: `copies` more actions that each do what
/// `action` does ([`env_core::DuplicateAction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateActionSetting {
    /// The environment's action the copies stand for.
    pub action: usize,
    /// How many copies (1 to 1024).
    pub copies: usize,
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
    /// Tabular Q-learning on a grid over the observation, with the `agent`
    /// settings' γ and ε schedule.
    TabularQ {
        /// Bins per observation entry (CartPole: x, ẋ, θ, θ̇).
        bins: Vec<usize>,
        /// The step size α.
        alpha: f64,
        /// Per observation entry, the range cut into bins; `None`: the
        /// environment's (its observation bounds, or for CartPole's
        /// velocities ±3 and ±3.5).
        // No skip_serializing_if: checkpoints (postcard) need every field.
        #[serde(default)]
        ranges: Option<Vec<(f32, f32)>>,
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

/// The environment of a run, with its settings; each takes Gymnasium's step
/// limit unless told otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum EnvSetting {
    /// CartPole-v1 (`cartpole-sim`).
    CartPole {
        /// The step on which an episode is truncated (500; v0: 200).
        #[serde(default = "cartpole_limit")]
        max_episode_steps: u32,
        /// The kinematics integrator.
        #[serde(default)]
        integrator: IntegratorSetting,
    },
    /// MountainCar-v0 (`mountaincar-sim`).
    MountainCar {
        /// The step on which an episode is truncated (200).
        #[serde(default = "mountaincar_limit")]
        max_episode_steps: u32,
        /// The least velocity at the flag that ends an episode (0).
        #[serde(default)]
        goal_velocity: f64,
    },
    /// Acrobot-v1 (`acrobot-sim`).
    Acrobot {
        /// The step on which an episode is truncated (500).
        #[serde(default = "acrobot_limit")]
        max_episode_steps: u32,
    },
    /// Catch (`catch-sim`): bsuite's falling ball on a 10 × 5 binary board;
    /// every episode ends by termination on its 9th step.
    Catch,
    /// A MinAtar game (`minatar-sim`, built with the `minatar` feature) as
    /// the `minatar` 1.0.15 package plays it: binary planes
    /// `[channels, 10, 10]`, no step limit (Freeway ends itself after
    /// 2 500 frames). Each reset draws a seed and plays the package's
    /// episode for it (`reset(seed=s)`).
    #[cfg(feature = "minatar")]
    MinAtar {
        /// Asterix, Breakout, Freeway, Seaquest or SpaceInvaders.
        game: minatar_sim::Game,
        /// The probability that the previous action repeats (0.1).
        #[serde(default = "sticky_action_prob")]
        sticky_action_prob: f64,
        /// Whether the game speeds up over time (true).
        #[serde(default = "difficulty_ramping")]
        difficulty_ramping: bool,
        /// Full (all six actions: `MinAtar/<Game>-v0`, as Young & Tian) or
        /// Minimal (the game's own: `-v1`).
        #[serde(default)]
        actions: minatar_sim::ActionSet,
    },
    /// An environment that the program running the configuration provides:
    /// a family of its own ([`Session::with_family`](crate::Session::with_family),
    /// [`train_family`](crate::train_family)) or a Gymnasium environment
    /// through the Python package. `id` is its [`EnvSpec::id`]; the
    /// configuration alone cannot make it.
    Custom {
        /// The environment's id.
        id: String,
    },
}

fn cartpole_limit() -> u32 {
    500
}

fn mountaincar_limit() -> u32 {
    mountaincar_sim::MAX_EPISODE_STEPS
}

fn acrobot_limit() -> u32 {
    acrobot_sim::MAX_EPISODE_STEPS
}

#[cfg(feature = "minatar")]
fn sticky_action_prob() -> f64 {
    minatar_sim::Settings::default().sticky_action_prob
}

#[cfg(feature = "minatar")]
fn difficulty_ramping() -> bool {
    minatar_sim::Settings::default().difficulty_ramping
}

/// The names `--env` takes, with the environment each stands for.
#[cfg(not(feature = "minatar"))]
pub const ENV_NAMES: &[&str] = &["cartpole", "mountaincar", "acrobot", "catch"];
/// The names `--env` takes, with the environment each stands for (a
/// MinAtar game's name may end in `-v1` for its minimal action set).
#[cfg(feature = "minatar")]
pub const ENV_NAMES: &[&str] = &[
    "cartpole",
    "mountaincar",
    "acrobot",
    "catch",
    "minatar-asterix",
    "minatar-breakout",
    "minatar-freeway",
    "minatar-seaquest",
    "minatar-space-invaders",
];

/// Whether `name` names a MinAtar game (`minatar-…`), built in or not.
fn is_minatar_name(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("minatar-")
}

/// The MinAtar game `name` stands for (`minatar-space-invaders`,
/// `minatar-breakout-v1`, …).
#[cfg(feature = "minatar")]
fn minatar_named(name: &str) -> Option<EnvSetting> {
    let name = name.to_ascii_lowercase();
    let game = name.strip_prefix("minatar-")?;
    let (game, actions) = match (game.strip_suffix("-v0"), game.strip_suffix("-v1")) {
        (Some(game), _) => (game, minatar_sim::ActionSet::Full),
        (_, Some(game)) => (game, minatar_sim::ActionSet::Minimal),
        _ => (game, minatar_sim::ActionSet::Full),
    };
    let game = minatar_sim::Game::from_name(&game.replace('-', ""))?;
    Some(EnvSetting::MinAtar {
        game,
        sticky_action_prob: sticky_action_prob(),
        difficulty_ramping: difficulty_ramping(),
        actions,
    })
}

impl EnvSetting {
    /// The environment called `name` (one of [`ENV_NAMES`], any case) with
    /// its default settings.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cartpole" => Some(Self::default()),
            "mountaincar" => Some(Self::MountainCar { max_episode_steps: mountaincar_limit(), goal_velocity: 0.0 }),
            "acrobot" => Some(Self::Acrobot { max_episode_steps: acrobot_limit() }),
            "catch" => Some(Self::Catch),
            #[cfg(feature = "minatar")]
            other if is_minatar_name(other) => minatar_named(other),
            _ => None,
        }
    }

    /// The environment's id (Gymnasium's for the environments of this
    /// workspace).
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::CartPole { .. } => cartpole_sim::ID,
            Self::MountainCar { .. } => mountaincar_sim::ID,
            Self::Acrobot { .. } => acrobot_sim::ID,
            Self::Catch => catch_sim::ID,
            #[cfg(feature = "minatar")]
            Self::MinAtar { game, actions, .. } => {
                minatar_sim::Rules { actions: *actions, ..minatar_sim::Rules::new(*game) }.id()
            }
            Self::Custom { id } => id,
        }
    }

    /// The step limit (`None` for Catch, whose episodes always end by
    /// termination, and for a custom environment, whose limit is its own).
    #[must_use]
    pub fn max_episode_steps(&self) -> Option<u32> {
        match *self {
            Self::CartPole { max_episode_steps, .. }
            | Self::MountainCar { max_episode_steps, .. }
            | Self::Acrobot { max_episode_steps } => Some(max_episode_steps),
            Self::Catch | Self::Custom { .. } => None,
            #[cfg(feature = "minatar")]
            Self::MinAtar { .. } => None,
        }
    }

    fn max_episode_steps_mut(&mut self) -> Option<&mut u32> {
        match self {
            Self::CartPole { max_episode_steps, .. }
            | Self::MountainCar { max_episode_steps, .. }
            | Self::Acrobot { max_episode_steps } => Some(max_episode_steps),
            Self::Catch | Self::Custom { .. } => None,
            #[cfg(feature = "minatar")]
            Self::MinAtar { .. } => None,
        }
    }

    /// The family that makes this environment's instances.
    ///
    /// # Errors
    /// [`ConfigError::Env`] with the settings' [`EnvError`] (a step limit of
    /// 0, a goal velocity that is not finite); [`ConfigError::CustomEnv`]
    /// for a custom environment.
    pub fn family(&self) -> Result<Box<dyn EnvFamily>, ConfigError> {
        let setting = |source| ConfigError::Env { field: "env", source };
        Ok(match *self {
            Self::CartPole { max_episode_steps, integrator } => {
                let integrator = match integrator {
                    IntegratorSetting::Euler => Integrator::Euler,
                    IntegratorSetting::SemiImplicitEuler => Integrator::SemiImplicitEuler,
                };
                Box::new(CartPoleFamily::new(EnvConfig { integrator, max_episode_steps }).map_err(setting)?)
            }
            Self::MountainCar { max_episode_steps, goal_velocity } => {
                let dynamics = mountaincar_sim::MountainCarDynamics { goal_velocity };
                Box::new(mountaincar_sim::MountainCarFamily::new(dynamics, max_episode_steps).map_err(setting)?)
            }
            Self::Acrobot { max_episode_steps } => Box::new(
                acrobot_sim::AcrobotFamily::new(acrobot_sim::AcrobotDynamics, max_episode_steps).map_err(setting)?,
            ),
            Self::Catch => Box::new(catch_sim::family()),
            #[cfg(feature = "minatar")]
            Self::MinAtar { game, sticky_action_prob, difficulty_ramping, actions } => {
                let settings = minatar_sim::Settings { sticky_action_prob, difficulty_ramping };
                Box::new(
                    minatar_sim::MinAtarFamily::new(minatar_sim::Rules { game, settings, actions }).map_err(setting)?,
                )
            }
            Self::Custom { ref id } => return Err(ConfigError::CustomEnv { id: id.clone() }),
        })
    }
}

impl Default for EnvSetting {
    fn default() -> Self {
        Self::CartPole { max_episode_steps: cartpole_limit(), integrator: IntegratorSetting::Euler }
    }
}

/// What a configuration's `env` may be written as: a named environment, or
/// the form from before there were several, `(max_episode_steps: N,
/// integrator: I)`, which is CartPole's.
#[derive(Deserialize)]
#[serde(untagged)]
enum EnvInput {
    Named(EnvSetting),
    /// `MountainCar` or `MountainCar()`: every setting its default.
    Bare(EnvName),
    Legacy(LegacyCartPole),
}

#[derive(Deserialize)]
enum EnvName {
    CartPole,
    MountainCar,
    Acrobot,
    Catch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyCartPole {
    #[serde(default = "cartpole_limit")]
    max_episode_steps: u32,
    #[serde(default)]
    integrator: IntegratorSetting,
}

fn env_or_legacy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<EnvSetting, D::Error> {
    // The older form is text's (RON files); binary formats (checkpoints)
    // are not self-describing and hold only the named form.
    if !deserializer.is_human_readable() {
        return EnvSetting::deserialize(deserializer);
    }
    match EnvInput::deserialize(deserializer) {
        Ok(EnvInput::Named(env)) => Ok(env),
        Ok(EnvInput::Bare(name)) => Ok(EnvSetting::named(match name {
            EnvName::CartPole => "cartpole",
            EnvName::MountainCar => "mountaincar",
            EnvName::Acrobot => "acrobot",
            EnvName::Catch => "catch",
        })
        .expect("every name is known")),
        Ok(EnvInput::Legacy(LegacyCartPole { max_episode_steps, integrator })) => {
            Ok(EnvSetting::CartPole { max_episode_steps, integrator })
        }
        // The untagged form's own message says only that nothing matched.
        Err(_) => Err(serde::de::Error::custom(
            "env: expected CartPole(max_episode_steps: N, integrator: Euler | SemiImplicitEuler), \
             MountainCar(max_episode_steps: N, goal_velocity: V), Acrobot(max_episode_steps: N) or Catch, \
             every setting optional; a setting's name or value is wrong",
        )),
    }
}

/// Refuses an `env` written as a quoted string (`env: "MountainCar"`), as
/// `learner` and `sampling` refuse theirs. The environment's forms are
/// read through serde's untagged buffering, in which RON hands a bare name
/// and a string over alike, so the check reads RON's own value tree, where
/// a name and a string differ.
fn refuse_quoted_env(env: &ron::Value) -> Result<(), ConfigError> {
    match env {
        ron::Value::String(name) => Err(ConfigError::Invalid {
            field: "env".into(),
            reason: format!(
                "{:?} is a quoted string; an environment is written as a name, without quotes (env: {})",
                crate::text::abbreviate(name),
                crate::text::abbreviate(name)
            ),
        }),
        _ => Ok(()),
    }
}

/// The frames of an observation space: its values and their type.
#[must_use]
pub fn frame_spec(obs: &env_core::ObsSpace) -> FrameSpec {
    let kind = match obs.dtype() {
        env_core::ObsType::F32 => FrameKind::F32,
        env_core::ObsType::U8 => FrameKind::U8,
        env_core::ObsType::Bit => FrameKind::Bit,
    };
    FrameSpec { len: obs.len(), kind }
}

/// An observation's image shape `[channels, height, width]`: its own for
/// three axes (channel first, as [`env_core::ObsSpace`] has them), one
/// channel for two; `None` for a vector.
#[must_use]
pub fn image_shape(obs: &env_core::ObsSpace) -> Option<[usize; 3]> {
    match *obs.shape() {
        [c, h, w] => Some([c, h, w]),
        [h, w] => Some([1, h, w]),
        _ => None,
    }
}

/// Gymnasium's two kinematics integrators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum IntegratorSetting {
    /// `"euler"`, CartPole-v1's default.
    #[default]
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
            env: EnvSetting::default(),
            collection: Collection::default(),
            early_stop: None,
            agent: DqnConfig::default(),
            init_policy: None,
            tensorboard: None,
            duplicate_action: None,
        }
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
    /// An environment setting that the environment refuses.
    Env {
        /// The setting (`env`, `duplicate_action`).
        field: &'static str,
        /// The environment's error.
        source: EnvError,
    },
    /// The learner's settings, refused by the learner.
    Agent(agent::InvalidSetting),
    /// The configuration names an environment its runner provides
    /// (`Custom(id: ...)`): it cannot be made from the configuration alone.
    CustomEnv {
        /// The environment's id.
        id: String,
    },
    /// A run on a family of the caller's whose configuration names another
    /// custom environment.
    OtherEnv {
        /// The environment the configuration names.
        configured: String,
        /// The environment the family makes.
        family: String,
    },
}

impl ConfigError {
    /// The setting at fault (`agent.gamma`, `env`, `duplicate_action`),
    /// where the error names one.
    #[must_use]
    pub fn field(&self) -> Option<String> {
        match self {
            Self::Invalid { field, .. } => Some(field.clone()),
            Self::Env { field, .. } => Some((*field).to_string()),
            Self::Agent(e) => Some(format!("agent.{}", e.field)),
            Self::CustomEnv { .. } | Self::OtherEnv { .. } => Some("env".into()),
            Self::UnknownKey { key } => Some(key.clone()),
            Self::Read { .. } | Self::Parse { .. } | Self::MalformedOverride { .. } => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, .. } => write!(f, "cannot read configuration {}", crate::text::path(path)),
            Self::Parse { location, .. } => write!(f, "{}", crate::text::abbreviate(location)),
            Self::UnknownKey { key } => {
                let key = crate::text::abbreviate(key);
                write!(f, "--set {key}: no such setting (known: {})", SETTABLE_KEYS.join(", "))
            }
            Self::MalformedOverride { argument } => {
                write!(f, "--set {:?}: expected key=value, e.g. agent.lr=3e-4", crate::text::abbreviate(argument))
            }
            Self::Invalid { field, reason } => write!(f, "invalid configuration: {field}: {reason}"),
            Self::Env { field, .. } => write!(f, "invalid configuration: {field}"),
            Self::Agent(e) => write!(f, "invalid configuration: agent.{}: {}", e.field, e.reason),
            Self::CustomEnv { id } => write!(
                f,
                "env: Custom(id: {id:?}) is an environment its program provides (runner::train_family, \
                 Session::with_family, the Python package); this configuration alone cannot make it"
            ),
            Self::OtherEnv { configured, family } => write!(
                f,
                "env: the configuration names Custom(id: {configured:?}), but the environments given are {family:?}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Parse { source, .. } => Some(source.as_ref()),
            Self::Env { source, .. } => Some(source),
            // Its field and reason are this error's text: the chain goes on
            // with what refused the setting below the learner.
            Self::Agent(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

/// Lists every `--set` key once, with the field it sets: the list of keys
/// shown to users and the code that applies them come from the same table.
macro_rules! settable {
    ($($key:literal => $($field:ident).+),* ; $($special:literal => $handler:ident),* $(,)?) => {
        /// The keys `--set` accepts.
        pub const SETTABLE_KEYS: &[&str] = &[$($key,)* $($special),*];

        impl RunConfig {
            fn set_key(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
                match key {
                    $($key => self.$($field).+ = parse_value(key, value)?,)*
                    $($special => self.$handler(key, value)?,)*
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
    "collection.envs" => collection.envs,
    "collection.update_every" => collection.update_every,
    "early_stop" => early_stop,
    "init_policy" => init_policy,
    "tensorboard" => tensorboard,
    "duplicate_action" => duplicate_action,
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
    "agent.epsilon.shape" => agent.epsilon.shape,
    "agent.target_update" => agent.target_update,
    "agent.double_dqn" => agent.double_dqn,
    "agent.loss" => agent.loss,
    "agent.grad_clip" => agent.grad_clip,
    "agent.max_grad_norm" => agent.max_grad_norm,
    "agent.gradient_steps" => agent.gradient_steps,
    "agent.learning_starts" => agent.learning_starts,
    "agent.chunk_rows" => agent.chunk_rows,
    "agent.arithmetic" => agent.arithmetic,
    "agent.n_step" => agent.n_step,
    "agent.distributional" => agent.distributional,
    "agent.dueling" => agent.dueling,
    "agent.noisy" => agent.noisy,
    "agent.stack" => agent.stack,
    "agent.obs_scale" => agent.obs_scale,
    "agent.network" => agent.network,
    "agent.optimizer" => agent.optimizer;
    "env" => set_env,
    // Settings of whichever environment the run has.
    "env.max_episode_steps" => set_env_max_episode_steps,
    "env.integrator" => set_env_integrator,
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
        let config = ron::from_str(text)
            .map_err(|source| ConfigError::Parse { location: location.to_string(), source: Box::new(source) })?;
        if let Ok(ron::Value::Map(fields)) = ron::from_str::<ron::Value>(text)
            && let Some(env) = fields.get(&ron::Value::String("env".into()))
        {
            refuse_quoted_env(env)?;
        }
        Ok(config)
    }

    /// The configuration `cargo xtask train --env NAME` starts from:
    /// CartPole's is the seed chapter's ([`RunConfig::default`]), the others
    /// are settings that learn their task ([`MOUNTAINCAR_RON`],
    /// [`ACROBOT_RON`], [`CATCH_RON`]).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a name not in [`ENV_NAMES`].
    pub fn for_env(name: &str) -> Result<Self, ConfigError> {
        #[cfg(not(feature = "minatar"))]
        if is_minatar_name(name) {
            return Err(ConfigError::Invalid {
                field: "--env".into(),
                reason: format!(
                    "{name:?}: MinAtar's games are in minatar-sim (GPL-3.0-or-later), which this program was \
                     built without (cargo's `minatar` feature)"
                ),
            });
        }
        let not_an_env = || ConfigError::Invalid {
            field: "--env".into(),
            reason: format!("{name:?} is not an environment; the names are {}", ENV_NAMES.join(", ")),
        };
        // The name is read once, by `EnvSetting::named`; the preset follows
        // from what it names.
        let env = EnvSetting::named(name).ok_or_else(not_an_env)?;
        let (text, location) = match env {
            EnvSetting::CartPole { .. } => return Ok(Self::default()),
            EnvSetting::MountainCar { .. } => (MOUNTAINCAR_RON, "runner/src/presets/mountaincar.ron"),
            EnvSetting::Acrobot { .. } => (ACROBOT_RON, "runner/src/presets/acrobot.ron"),
            EnvSetting::Catch => (CATCH_RON, "runner/src/presets/catch.ron"),
            // One preset for every game: the game (and its action set) is
            // the name's.
            #[cfg(feature = "minatar")]
            EnvSetting::MinAtar { .. } => {
                let mut config = Self::from_ron(MINATAR_RON, "runner/src/presets/minatar.ron")?;
                config.env = env;
                return Ok(config);
            }
            EnvSetting::Custom { .. } => return Err(not_an_env()),
        };
        Self::from_ron(text, location)
    }

    /// Reads and parses a RON file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_ron(&text, &crate::text::path(path))
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

    fn set_env(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let parse = |source| ConfigError::Parse { location: format!("--set {key}={value}"), source: Box::new(source) };
        let mut deserializer = ron::Deserializer::from_str(value).map_err(parse)?;
        let env = env_or_legacy(&mut deserializer).map_err(|e| parse(deserializer.span_error(e)))?;
        deserializer.end().map_err(|e| parse(deserializer.span_error(e)))?;
        refuse_quoted_env(&ron::from_str(value).map_err(parse)?)?;
        self.env = env;
        Ok(())
    }

    fn set_env_max_episode_steps(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let limit = parse_value(key, value)?;
        let id = self.env.id().to_string();
        let Some(slot) = self.env.max_episode_steps_mut() else {
            let reason = match self.env {
                EnvSetting::Catch => format!("{id} has no step limit: every episode ends on step 9"),
                #[cfg(feature = "minatar")]
                EnvSetting::MinAtar { .. } => {
                    format!("{id} has no step limit, as the minatar package has none (Freeway ends itself)")
                }
                _ => format!("{id} is a custom environment: its step limit is its own"),
            };
            return Err(ConfigError::Invalid { field: key.to_string(), reason });
        };
        *slot = limit;
        Ok(())
    }

    fn set_env_integrator(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match &mut self.env {
            EnvSetting::CartPole { integrator, .. } => *integrator = parse_value(key, value)?,
            other => {
                return Err(ConfigError::Invalid {
                    field: key.to_string(),
                    reason: format!("{} has no integrator setting (only CartPole has)", other.id()),
                });
            }
        }
        Ok(())
    }

    /// The environment's spaces and rules.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for the environment's settings.
    pub fn env_spec(&self) -> Result<EnvSpec, ConfigError> {
        Ok(self.env_family()?.spec())
    }

    /// The family that makes the run's environments.
    ///
    /// # Errors
    /// [`ConfigError::Env`] naming the setting and carrying the
    /// environment's own error; [`ConfigError::CustomEnv`] for a custom
    /// environment.
    pub fn env_family(&self) -> Result<Box<dyn EnvFamily>, ConfigError> {
        let family = self.env.family()?;
        match self.duplicate_action {
            None => Ok(family),
            Some(DuplicateActionSetting { action, copies }) => Ok(Box::new(
                env_core::DuplicateAction::new(family, action, copies)
                    .map_err(|source| ConfigError::Env { field: "duplicate_action", source })?,
            )),
        }
    }

    /// This configuration for a run on a family of the caller's with
    /// `spec`: its `env` becomes `Custom(id: spec.id)`, so the run's
    /// `config.ron` names the environment it ran on (its own `env` is not
    /// used).
    ///
    /// # Errors
    /// [`ConfigError::OtherEnv`] if the configuration already names another
    /// custom environment.
    pub fn for_family(mut self, spec: &EnvSpec) -> Result<Self, ConfigError> {
        if let EnvSetting::Custom { id } = &self.env
            && *id != spec.id
        {
            return Err(ConfigError::OtherEnv { configured: id.clone(), family: spec.id.clone() });
        }
        self.env = EnvSetting::Custom { id: spec.id.clone() };
        Ok(self)
    }

    /// What the configured environment decides for the learner (see
    /// [`spaces_for`](Self::spaces_for)).
    ///
    /// # Errors
    /// As [`env_spec`](Self::env_spec).
    pub fn spaces(&self) -> Result<Spaces, ConfigError> {
        Ok(self.spaces_for(&self.env_spec()?))
    }

    /// What an environment with `spec` decides for the learner: its frames
    /// (the observation's values and their type), its actions, and the
    /// number stepped together (`collection.envs`).
    #[must_use]
    pub fn spaces_for(&self, spec: &EnvSpec) -> Spaces {
        Spaces {
            frame: frame_spec(&spec.obs),
            image: image_shape(&spec.obs),
            n_actions: spec.n_actions,
            envs: self.collection.envs as usize,
        }
    }

    /// Checks every value; the error names the first bad field.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.env.max_episode_steps() == Some(0) {
            return Err(ConfigError::Invalid {
                field: "env.max_episode_steps".into(),
                reason: "must be at least 1".into(),
            });
        }
        self.validate_for(&self.env_spec()?)
    }

    /// [`validate`](Self::validate) for a run on an environment with `spec`
    /// (one of a user's own, whose family the caller holds); the
    /// configuration's own `env` is not looked at.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate_for(&self, spec: &EnvSpec) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| {
            Err(ConfigError::Invalid { field: field.to_string(), reason: reason.to_string() })
        };
        if self.train_episodes == 0 {
            return invalid("train_episodes", "must be at least 1");
        }
        if self.test_episodes > MAX_GREEDY_EPISODES {
            return invalid("test_episodes", MAX_GREEDY_EPISODES_REASON);
        }
        if self.max_train_steps == Some(0) {
            return invalid("max_train_steps", "must be at least 1 (or None)");
        }
        if self.init_policy.is_some() && !matches!(self.learner, LearnerSetting::Dqn) {
            return invalid("init_policy", "only the DQN learner has a network to start from a policy");
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
        if let LearnerSetting::TabularQ { bins, alpha, ranges } = &self.learner {
            if spec.obs.dtype() != env_core::ObsType::F32 || spec.obs.shape().len() != 1 {
                let reason = format!(
                    "TabularQ discretises f32 vectors; {}'s observations are {} values of shape {:?}",
                    spec.id,
                    spec.obs.dtype().name(),
                    spec.obs.shape()
                );
                return invalid("learner", &reason);
            }
            if bins.len() != spec.obs_len() || bins.contains(&0) {
                let reason = format!(
                    "TabularQ needs {} bin counts for {}'s observation, each at least 1",
                    spec.obs_len(),
                    spec.id
                );
                return invalid("learner", &reason);
            }
            if let Some(ranges) = ranges
                && (ranges.len() != spec.obs_len()
                    || ranges.iter().any(|&(lo, hi)| !(lo.is_finite() && hi.is_finite() && lo < hi)))
            {
                let reason = format!("TabularQ ranges need {} (low, high) pairs, finite, low < high", spec.obs_len());
                return invalid("learner", &reason);
            }
            if !(*alpha > 0.0 && *alpha <= 1.0) {
                return invalid("learner", "TabularQ alpha must be in (0, 1]");
            }
        }
        let spaces = self.spaces_for(spec);
        self.agent.validate(&spaces).map_err(ConfigError::Agent)?;
        // Every environment's row goes through the network in one batched
        // pass: bounded as a mini-batch is.
        let sizes = self.agent.layer_sizes(&spaces);
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
