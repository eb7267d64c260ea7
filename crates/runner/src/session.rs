//! The training loop as a value: [`Session`] advances one environment step
//! at a time, so callers decide what to log, when to stop and when to
//! checkpoint; a long step can be interrupted inside and continued exactly.
//! No I/O happens here.

use std::fmt;
use std::path::Path;

use agent::tabular::{Discretizer, StoredTabularQ, TabularConfig, TabularQ};
use agent::{
    Agent, AgentError, AgentSeeds, AgentState, Experience, Frame, FrameWindow, InputFormat, Learner, Mlp, ReplayBuffer,
    StoredAgent, Transition, UpdateOutcome,
};
use env_core::{Env, EnvError, EnvFamily, EnvSpec, Obs, ObsBuf, VecEnv, check_outputs};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Streamed;
use crate::policy_file::{PolicyError, load_policy_like};
use crate::{ConfigError, EnvSetting, LearnerSetting, Phase, RunConfig, RunError};

/// The random streams of a run. Each is ChaCha8 seeded with the master seed,
/// on a stream number of its own ([`Stream::id`]); no two consumers share a
/// number, whatever the number of environments (`docs/ARCHITECTURE.md`,
/// Determinism, has the table).
///
/// | stream id | consumer |
/// |---|---|
/// | 0 | training environment 0 (so a single-environment run is the seed's loop, bit for bit) |
/// | 1 | test episodes' resets |
/// | 2 | network initialisation (its first `u64` seeds the agent's RNG) |
/// | 3 | ε-greedy draws (likewise) |
/// | 4 | mini-batch sampling (likewise) |
/// | 5 | the probe states |
/// | 6 | the periodic evaluations' resets |
/// | 7 | noisy layers' noise (likewise) |
/// | 2³² + i | training environment i ≥ 1 |
///
/// Ids 8 to 2³² are free for consumers to come; environments take the
/// range above 2³² (`collection.envs` is far below 2³²).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Resets of training environment `env`.
    TrainEnv {
        /// The environment's index in the run's batch.
        env: u32,
    },
    /// Resets of the test environment.
    TestEnv,
    /// Network initialisation.
    Init,
    /// ε-greedy draws.
    Explore,
    /// Mini-batch sampling.
    Replay,
    /// The fixed probe states whose Q-values are logged.
    Probe,
    /// Resets of the periodic evaluations (the same for each).
    Eval,
    /// Noisy layers' noise.
    Noise,
}

/// The first stream id of training environments 1, 2, …
const ENV_STREAMS: u64 = 1 << 32;

impl Stream {
    /// The ChaCha8 stream number of this consumer (the table above).
    #[must_use]
    pub const fn id(self) -> u64 {
        match self {
            Self::TrainEnv { env: 0 } => 0,
            Self::TrainEnv { env } => ENV_STREAMS + env as u64,
            Self::TestEnv => 1,
            Self::Init => 2,
            Self::Explore => 3,
            Self::Replay => 4,
            Self::Probe => 5,
            Self::Eval => 6,
            Self::Noise => 7,
        }
    }

    /// Every stream a run with `n_envs` training environments draws from.
    pub fn of_run(n_envs: u32) -> impl Iterator<Item = Stream> {
        let named = [Self::TestEnv, Self::Init, Self::Explore, Self::Replay, Self::Probe, Self::Eval, Self::Noise];
        (0..n_envs).map(|env| Self::TrainEnv { env }).chain(named)
    }

    /// The RNG of this stream for `master_seed`.
    #[must_use]
    pub fn rng(self, master_seed: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(master_seed);
        rng.set_stream(self.id());
        rng
    }

    pub(crate) fn seed(self, master_seed: u64) -> u64 {
        self.rng(master_seed).next_u64()
    }
}

/// The DQN agent's seeds, each from its stream of `master_seed`.
fn agent_seeds(master_seed: u64) -> AgentSeeds {
    AgentSeeds {
        init: Stream::Init.seed(master_seed),
        explore: Stream::Explore.seed(master_seed),
        replay: Stream::Replay.seed(master_seed),
        noise: Stream::Noise.seed(master_seed),
    }
}

/// One finished training episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeLog {
    /// 1-based.
    pub episode: u32,
    /// Steps in this episode.
    pub steps: u32,
    /// Environment steps since training began.
    pub total_steps: u64,
    /// The sum of rewards.
    pub ret: f64,
    /// ε after the episode's last action.
    pub epsilon: f64,
    /// The mean loss of the episode's updates (`None` before learning starts).
    pub mean_loss: Option<f64>,
    /// The policy's mean of max-Q over the run's fixed probe states (start
    /// states drawn once): how the value estimates move during training.
    pub q_probe: f64,
}

/// One greedy test episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestLog {
    /// 1-based.
    pub episode: u32,
    /// The sum of rewards.
    pub ret: f64,
    /// The policy's Q-value of the start state at the chosen action: what
    /// the network predicts the discounted return to be.
    pub q_start: f64,
    /// The discounted return actually obtained, `Σ γᵗ rₜ`.
    pub discounted_return: f64,
}

/// One periodic evaluation during training (see [`crate::EarlyStop`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalLog {
    /// Environment steps of training when it ran.
    pub total_steps: u64,
    /// Training episodes finished by then.
    pub episodes_finished: u32,
    /// The mean return of its greedy episodes.
    pub mean_return: f64,
    /// The lowest return among them.
    pub min_return: f64,
    /// Whether the mean reached the configured `solved_at`.
    pub solved: bool,
}

/// What one [`Session::step`] produced: the training episodes that ended on
/// it (in environment order) and the evaluation it triggered, if any.
#[derive(Debug)]
pub struct StepReport<'a> {
    /// Episodes that ended on this step.
    pub episodes: &'a [EpisodeLog],
    /// The evaluation run after this step.
    pub evaluation: Option<&'a EvalLog>,
    /// False when the interrupt stopped the step part-way: the session
    /// holds where it stopped (so does a checkpoint of it), and the next
    /// call finishes the step.
    pub complete: bool,
}

/// A [`Session`] frozen: everything that determines the rest of the run
/// (see [`crate::checkpoint`]), the replay buffer included. Always
/// consistent: made by [`Session::to_state`], or read back through
/// [`StoredSession`]'s checks with its replay buffer
/// ([`SessionState::from_stored`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    config: RunConfig,
    learner: LearnerState,
    /// The training environments as their batch saved them
    /// ([`VecEnv::save`]); restored by the run's [`EnvFamily`].
    envs: Vec<u8>,
    /// Each training environment's reset RNG ([`Stream::TrainEnv`]): the
    /// session holds them, the environments only draw from them.
    env_rngs: Vec<ChaCha8Rng>,
    /// `N_PROBE` start observations.
    probe_frames: ObsBuf,
    cursor: Cursor,
}

impl SessionState {
    /// Training episodes finished when the state was taken.
    #[must_use]
    pub fn episodes_finished(&self) -> u32 {
        self.cursor.episodes_finished
    }

    /// Environment steps taken in training when the state was taken.
    #[must_use]
    pub fn total_steps(&self) -> u64 {
        self.cursor.total_steps
    }

    /// The run's configuration.
    #[must_use]
    pub fn config(&self) -> &RunConfig {
        &self.config
    }
}

/// A learner frozen.
#[derive(Debug, Clone, PartialEq)]
enum LearnerState {
    Dqn { agent: Box<AgentState>, experience: Box<Experience> },
    Tabular(Box<TabularQ>),
}

/// A [`Session`] frozen but for its replay buffer, which a checkpoint
/// streams apart: what [`Session::meta`] gives and a checkpoint's payload
/// holds. The configuration is stored as its RON text (as `config.ron`
/// holds it), not field by field: a setting added later with a default then
/// reads in an older state, and the configuration may leave out settings
/// at their default.
#[derive(Debug, Clone, Serialize)]
pub struct SessionMeta {
    #[serde(serialize_with = "config_as_ron")]
    config: RunConfig,
    learner: LearnerMeta,
    envs: Vec<u8>,
    env_rngs: Vec<ChaCha8Rng>,
    probe_frames: ObsBuf,
    cursor: Cursor,
}

/// A learner frozen but for its replay buffer.
#[derive(Debug, Clone, Serialize)]
enum LearnerMeta {
    Dqn(Box<AgentState>),
    Tabular(Box<TabularQ>),
}

impl SessionMeta {
    /// Environment steps taken in training.
    #[must_use]
    pub fn total_steps(&self) -> u64 {
        self.cursor.total_steps
    }
}

/// A [`SessionMeta`] as stored, before it is checked: the same fields in
/// the same serialized form, each part in its own stored form. Decode this
/// and convert it with [`SessionState::from_stored`] (with the replay
/// buffer streamed after it) to keep the typed error of a damaged state
/// (postcard, the checkpoints' format, drops the message of an error raised
/// inside deserialization).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredSession {
    /// The configuration's RON text, parsed when the session is checked.
    config: String,
    learner: StoredLearner,
    envs: Vec<u8>,
    env_rngs: Vec<ChaCha8Rng>,
    probe_frames: ObsBuf,
    cursor: Cursor,
}

#[derive(Debug, Clone, Deserialize)]
enum StoredLearner {
    Dqn(Box<StoredAgent>),
    Tabular(Box<StoredTabularQ>),
}

impl StoredSession {
    /// The agent's stored state, checked, for a DQN session (what the
    /// replay buffer streamed after it must fit: see
    /// [`AgentState::replay_config`]); `None` for another learner.
    ///
    /// # Errors
    /// [`StateError::Learner`] for a damaged agent.
    pub fn agent_state(&self) -> Result<Option<AgentState>, StateError> {
        match &self.learner {
            StoredLearner::Dqn(a) => Ok(Some(AgentState::try_from((**a).clone()).map_err(StateError::Learner)?)),
            StoredLearner::Tabular(_) => Ok(None),
        }
    }
}

/// How a stored session contradicts itself or its configuration.
#[derive(Debug)]
#[non_exhaustive]
pub enum StateError {
    /// The stored configuration is invalid.
    Config(ConfigError),
    /// The stored learner is damaged.
    Learner(AgentError),
    /// The stored environments are damaged, or follow other rules than the
    /// configuration's.
    Envs(EnvError),
    /// The stored learner is of another kind than the configuration's.
    LearnerKind {
        /// The stored kind.
        stored: &'static str,
        /// The configured kind.
        configured: &'static str,
    },
    /// The stored learner's settings differ from the configuration's.
    LearnerSettings,
    /// The numbers of environments, episode tallies and reset RNGs differ
    /// from `collection.envs`.
    EnvCount {
        /// Stored environments.
        envs: usize,
        /// Stored episode tallies.
        tallies: usize,
        /// Stored reset RNGs.
        rngs: usize,
        /// `collection.envs`.
        configured: u32,
    },
    /// Counters that contradict each other or the configuration.
    Counters {
        /// Training episodes finished.
        episodes_finished: u32,
        /// `train_episodes`.
        train_episodes: u32,
        /// Environment steps taken.
        total_steps: u64,
        /// Vector steps taken.
        vector_steps: u64,
    },
    /// An environment's episode tally contradicts the environment or itself.
    Tally {
        /// The environment.
        env: usize,
        /// What is wrong.
        problem: TallyProblem,
    },
    /// The counts of the learner, the replay buffer and the loop disagree:
    /// every environment step is one training action and one stored
    /// transition (or, with n-step returns, one still pending).
    StepTotals {
        /// Environment steps the loop counted.
        total_steps: u64,
        /// Training actions the learner counted.
        actions: u64,
        /// Transitions the replay buffer counted (DQN only).
        pushes: Option<u64>,
    },
    /// A random stream is not the one the run's master seed gives its
    /// consumer (see [`Stream`]): swapped, duplicated or foreign.
    RandomStream {
        /// The consumer whose RNG is not its own.
        consumer: Stream,
    },
    /// The policy was found solved, though the run evaluates nothing.
    SolvedWithoutEvaluation,
    /// The probe states are not the run's number of observations of its
    /// environment's space (finite `f32` values, binary cells 0 or 1).
    ProbeStates {
        /// Values stored.
        count: usize,
        /// The first bad one, if any.
        bad: Option<usize>,
    },
    /// A DQN session without its replay buffer, or another learner's with
    /// one.
    Replay,
    /// An interrupted step that cannot be continued: its stage contradicts
    /// the learner, the environments or the configuration.
    PendingStep,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(_) => write!(f, "its configuration is invalid"),
            Self::Learner(_) => write!(f, "learner"),
            Self::Envs(_) => write!(f, "environments"),
            Self::LearnerKind { stored, configured } => {
                write!(f, "the learner is {stored}, the configuration asks for {configured}")
            }
            Self::LearnerSettings => write!(f, "the learner's settings differ from the run's configuration"),
            Self::EnvCount { envs, tallies, rngs, configured } => write!(
                f,
                "{envs} environments, {tallies} episode tallies and {rngs} reset RNGs for collection.envs = \
                 {configured}"
            ),
            Self::Counters { episodes_finished, train_episodes, total_steps, vector_steps } => write!(
                f,
                "{episodes_finished} of {train_episodes} episodes finished, {total_steps} environment steps in \
                 {vector_steps} vector steps: impossible counters"
            ),
            Self::Tally { env, problem } => write!(f, "environment {env}'s episode tally: {problem}"),
            Self::StepTotals { total_steps, actions, pushes } => {
                write!(f, "{total_steps} environment steps but {actions} training actions")?;
                if let Some(p) = pushes {
                    write!(f, " and {p} stored (or pending) transitions")?;
                }
                write!(f, ": every step is one of each")
            }
            Self::RandomStream { consumer } => {
                write!(f, "the random stream of {consumer:?} is not the one the run's seed gives it")
            }
            Self::SolvedWithoutEvaluation => write!(f, "marked solved, but the run has no early_stop evaluations"),
            Self::ProbeStates { count, bad } => match bad {
                Some(i) => write!(f, "probe value {i} is not an observation's value"),
                None => write!(f, "{count} probe values, expected {N_PROBE} observations"),
            },
            Self::Replay => write!(f, "a DQN learner needs its replay buffer, other learners have none"),
            Self::PendingStep => write!(f, "an interrupted step that cannot be continued"),
        }
    }
}

/// How an environment's episode tally is impossible.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TallyProblem {
    /// The tally counts other steps than the environment's own count.
    Steps {
        /// The tally's steps.
        tally: u32,
        /// The environment's step count.
        elapsed: u32,
    },
    /// The interrupted step ended this environment's episode, so the
    /// environment has been reset, but it is at a later step.
    NotReset {
        /// The environment's step count.
        elapsed: u32,
    },
    /// More losses than steps (at most one update per step).
    Losses {
        /// Losses counted.
        losses: u32,
        /// Steps counted.
        steps: u32,
    },
    /// A return or loss sum that is not finite.
    NonFinite {
        /// The return.
        ret: f64,
        /// The loss sum.
        loss_sum: f64,
    },
}

impl fmt::Display for TallyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Steps { tally, elapsed } => write!(f, "it counts {tally} steps, the environment {elapsed}"),
            Self::NotReset { elapsed } => {
                write!(f, "its episode ended on the interrupted step, yet the environment is at step {elapsed}, not 0")
            }
            Self::Losses { losses, steps } => write!(f, "{losses} losses in {steps} steps (at most one per step)"),
            Self::NonFinite { ret, loss_sum } => write!(f, "return {ret} and loss sum {loss_sum} must be finite"),
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Learner(e) => Some(e),
            Self::Envs(e) => Some(e),
            _ => None,
        }
    }
}

/// Writes a configuration as the RON text of [`RunConfig::to_ron`].
fn config_as_ron<S: serde::Serializer>(config: &RunConfig, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&config.to_ron())
}

impl StoredSession {
    /// The stored configuration, parsed.
    ///
    /// # Errors
    /// [`StateError::Config`] if it does not parse.
    pub fn parse_config(&self) -> Result<RunConfig, StateError> {
        RunConfig::from_ron(&self.config, "the checkpoint's configuration").map_err(StateError::Config)
    }
}

impl SessionState {
    /// Checks a stored session and the experience (replay buffer and
    /// priorities) streamed after it (DQN sessions only), its environments
    /// restored by `family` (the
    /// configuration's own, or a user's, which must make the environment a
    /// `Custom` configuration names).
    ///
    /// # Errors
    /// The [`StateError`] found first.
    pub fn from_stored(
        s: StoredSession,
        experience: Option<Experience>,
        family: &dyn EnvFamily,
    ) -> Result<Self, StateError> {
        let config = s.parse_config()?;
        let spec = family.spec();
        if let EnvSetting::Custom { id } = &config.env
            && *id != spec.id
        {
            return Err(StateError::Config(ConfigError::OtherEnv { configured: id.clone(), family: spec.id }));
        }
        config.validate_for(&spec).map_err(StateError::Config)?;
        let learner = match (s.learner, experience) {
            (StoredLearner::Dqn(a), Some(experience)) => {
                let agent = AgentState::try_from(*a).map_err(StateError::Learner)?;
                LearnerState::Dqn { agent: Box::new(agent), experience: Box::new(experience) }
            }
            (StoredLearner::Tabular(t), None) => {
                LearnerState::Tabular(Box::new(TabularQ::try_from(*t).map_err(StateError::Learner)?))
            }
            _ => return Err(StateError::Replay),
        };
        let state = Self {
            config,
            learner,
            envs: s.envs,
            env_rngs: s.env_rngs,
            probe_frames: s.probe_frames,
            cursor: s.cursor,
        };
        state.check(family)?;
        Ok(state)
    }

    /// Checks that the parts fit the configuration and each other, the
    /// environments restored by `family`; returns them.
    fn check(&self, family: &dyn EnvFamily) -> Result<Box<dyn VecEnv>, StateError> {
        let (config, learner, cursor) = (&self.config, &self.learner, &self.cursor);
        let spec = family.spec();
        let kind_mismatch = |stored| StateError::LearnerKind { stored, configured: config.learner.kind() };
        let update_in_progress = match (learner, &config.learner) {
            (LearnerState::Dqn { agent, experience }, LearnerSetting::Dqn) => {
                if *agent.config() != config.agent || *agent.spaces() != config.spaces_for(&spec) {
                    return Err(StateError::LearnerSettings);
                }
                agent.check_experience(experience).map_err(StateError::Learner)?;
                agent.update_in_progress()
            }
            (LearnerState::Tabular(t), LearnerSetting::TabularQ { .. }) => {
                if Some(t.config()) != tabular_config(config, &spec).as_ref() {
                    return Err(StateError::LearnerSettings);
                }
                false
            }
            (LearnerState::Dqn { .. }, _) => return Err(kind_mismatch("Dqn")),
            (LearnerState::Tabular(_), _) => return Err(kind_mismatch("TabularQ")),
        };
        let envs = family.restore(&self.envs).map_err(StateError::Envs)?;
        check_outputs(envs.as_ref(), &spec).map_err(StateError::Envs)?;
        let n_envs = config.collection.envs;
        let counts = [envs.len(), cursor.episodes.len(), self.env_rngs.len()];
        if counts.iter().any(|&n| n != n_envs as usize) {
            let [envs, tallies, rngs] = counts;
            return Err(StateError::EnvCount { envs, tallies, rngs, configured: n_envs });
        }
        // Bounded as the learner's counts are (`agent::MAX_COUNT`), so that
        // stepping on can never overflow them.
        let steps_fit = cursor.vector_steps.checked_mul(u64::from(n_envs)) == Some(cursor.total_steps)
            && cursor.total_steps <= agent::MAX_COUNT;
        if cursor.episodes_finished > config.train_episodes || !steps_fit {
            return Err(StateError::Counters {
                episodes_finished: cursor.episodes_finished,
                train_episodes: config.train_episodes,
                total_steps: cursor.total_steps,
                vector_steps: cursor.vector_steps,
            });
        }
        let pending_fits = match &cursor.pending {
            None => !update_in_progress,
            Some(PendingStep::Update { ended }) => ended.len() == n_envs as usize && update_in_progress,
            Some(PendingStep::Evaluation) => config.early_stop.is_some() && !update_in_progress,
        };
        if !pending_fits {
            return Err(StateError::PendingStep);
        }
        for (env, (tally, &elapsed)) in cursor.episodes.iter().zip(envs.elapsed_steps()).enumerate() {
            // Mid-step, an environment that ended has already been reset
            // while its tally waits to be logged.
            let ended = matches!(&cursor.pending, Some(PendingStep::Update { ended }) if ended[env]);
            let problem = if ended && elapsed != 0 {
                Some(TallyProblem::NotReset { elapsed })
            } else if !ended && tally.steps != elapsed {
                Some(TallyProblem::Steps { tally: tally.steps, elapsed })
            } else if tally.losses > tally.steps {
                // At most one update, so one loss, per step of the episode.
                Some(TallyProblem::Losses { losses: tally.losses, steps: tally.steps })
            } else if !(tally.ret.is_finite() && tally.loss_sum.is_finite()) {
                Some(TallyProblem::NonFinite { ret: tally.ret, loss_sum: tally.loss_sum })
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(StateError::Tally { env, problem });
            }
        }
        if cursor.solved && config.early_stop.is_none() {
            return Err(StateError::SolvedWithoutEvaluation);
        }
        let (actions, pushes) = match learner {
            // Steps an n-step window still holds are stored later.
            LearnerState::Dqn { agent, experience } => {
                (agent.sample_count(), Some(experience.replay.pushes() + agent.pending_steps()))
            }
            LearnerState::Tabular(t) => (t.sample_count(), None),
        };
        if actions != cursor.total_steps || pushes.is_some_and(|p| p != cursor.total_steps) {
            return Err(StateError::StepTotals { total_steps: cursor.total_steps, actions, pushes });
        }
        check_streams(config.seed, learner, &self.env_rngs)?;
        let count = self.probe_frames.len();
        if count != N_PROBE * spec.obs_len() {
            return Err(StateError::ProbeStates { count, bad: None });
        }
        for i in 0..N_PROBE {
            if let Err(problem) = spec.obs.check_values(self.probe_frames.row(i, spec.obs_len())) {
                let bad = i * spec.obs_len() + problem_index(problem);
                return Err(StateError::ProbeStates { count, bad: Some(bad) });
            }
        }
        Ok(envs)
    }
}

/// Checks that every stored RNG is the one its consumer gets from the
/// master seed (its key and stream; how far it has run is its own).
fn check_streams(seed: u64, learner: &LearnerState, env_rngs: &[ChaCha8Rng]) -> Result<(), StateError> {
    let same = |rng: &ChaCha8Rng, expected: ChaCha8Rng| {
        rng.get_seed() == expected.get_seed() && rng.get_stream() == expected.get_stream()
    };
    let from_seed = |stream: Stream| ChaCha8Rng::seed_from_u64(stream.seed(seed));
    for (env, rng) in env_rngs.iter().enumerate() {
        let consumer = Stream::TrainEnv { env: env as u32 };
        if !same(rng, consumer.rng(seed)) {
            return Err(StateError::RandomStream { consumer });
        }
    }
    let learner_rngs: Vec<(Stream, &ChaCha8Rng)> = match learner {
        LearnerState::Dqn { agent, .. } => {
            vec![(Stream::Explore, agent.explore_rng()), (Stream::Replay, agent.replay_rng())]
        }
        LearnerState::Tabular(t) => vec![(Stream::Explore, t.rng())],
    };
    for (consumer, rng) in learner_rngs {
        if !same(rng, from_seed(consumer)) {
            return Err(StateError::RandomStream { consumer });
        }
    }
    Ok(())
}

/// Where in an observation an output problem is (0 for a whole one).
fn problem_index(problem: env_core::OutputProblem) -> usize {
    match problem {
        env_core::OutputProblem::NonFinite { index, .. } | env_core::OutputProblem::NotBinary { index, .. } => index,
        _ => 0,
    }
}

/// Number of fixed probe states for [`EpisodeLog::q_probe`].
const N_PROBE: usize = 64;

/// The learner of a run.
#[derive(Debug)]
pub enum RunLearner {
    /// DQN.
    Dqn(Box<Agent>),
    /// Tabular Q-learning.
    Tabular(Box<TabularQ>),
}

impl RunLearner {
    fn as_learner(&mut self) -> &mut dyn Learner {
        match self {
            Self::Dqn(a) => a.as_mut(),
            Self::Tabular(t) => t.as_mut(),
        }
    }

    fn as_ref(&self) -> &dyn Learner {
        match self {
            Self::Dqn(a) => a.as_ref(),
            Self::Tabular(t) => t.as_ref(),
        }
    }

    /// The DQN agent, if this is one.
    #[must_use]
    pub fn dqn(&self) -> Option<&Agent> {
        match self {
            Self::Dqn(a) => Some(a),
            Self::Tabular(_) => None,
        }
    }

    /// Learning steps taken.
    #[must_use]
    pub fn n_updates(&self) -> u64 {
        match self {
            Self::Dqn(a) => a.n_updates(),
            Self::Tabular(t) => t.n_updates(),
        }
    }
}

/// The tabular learner's settings a configuration asks for on an
/// environment with `spec` (`None` for another learner): the grid over the
/// configured ranges, or the environment's.
fn tabular_config(config: &RunConfig, spec: &EnvSpec) -> Option<TabularConfig> {
    let LearnerSetting::TabularQ { bins, alpha, ranges } = &config.learner else { return None };
    Some(TabularConfig {
        discretizer: Discretizer {
            ranges: ranges.clone().unwrap_or_else(|| spec.obs_ranges.clone()),
            bins: bins.clone(),
        },
        n_actions: spec.n_actions,
        alpha: *alpha,
        gamma: config.agent.gamma,
        epsilon: config.agent.epsilon,
    })
}

/// A training run in progress.
#[derive(Debug)]
pub struct Session {
    config: RunConfig,
    learner: RunLearner,
    /// Makes the run's environments: single ones for greedy episodes.
    family: Box<dyn EnvFamily>,
    spec: EnvSpec,
    /// The training environments, stepped together.
    envs: Box<dyn VecEnv>,
    /// Their reset RNGs: environment `i` draws its resets from
    /// [`Stream::TrainEnv`] `{ env: i }`.
    env_rngs: Vec<ChaCha8Rng>,
    /// Single environments for greedy episodes (evaluations, the test),
    /// made once and reset before each episode.
    greedy_envs: Vec<Box<dyn Env>>,
    /// `N_PROBE` start observations, and the input rows the learner makes
    /// of them (each the first of its episode).
    probe_frames: ObsBuf,
    probe_inputs: Vec<f32>,
    cursor: Cursor,
    /// Scratch for one step: what was acted on, the choices, the step's logs.
    obs_before: ObsBuf,
    actions: Vec<usize>,
    finished: Vec<EpisodeLog>,
    evaluation: Option<EvalLog>,
    probe_q: Vec<f32>,
}

/// Where training is: counters, the running totals of each environment's
/// episode in progress, and how far an interrupted step got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    episodes_finished: u32,
    total_steps: u64,
    vector_steps: u64,
    episodes: Vec<EpisodeTally>,
    /// The latest evaluation said solved: training is over.
    solved: bool,
    /// A step stopped part-way, to be finished by the next `step`.
    pending: Option<PendingStep>,
}

/// How far an interrupted step got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum PendingStep {
    /// The environments stepped and their transitions are stored (the
    /// tallies count the step); the learner's update was interrupted. Which
    /// environments ended on the step, to log once the update is done.
    Update { ended: Vec<bool> },
    /// Everything is done but the evaluation that is due.
    Evaluation,
}

/// The running totals of one environment's episode in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct EpisodeTally {
    steps: u32,
    ret: f64,
    loss_sum: f64,
    losses: u32,
}

/// Replaces the new agent's networks with the policy saved at `path`
/// (`init_policy`), after checking its shape is the configuration's.
fn start_from_policy(agent: &mut Agent, path: &Path) -> Result<(), RunError> {
    let run = agent.policy().shape();
    let policy = load_policy_like(path, Some(&run))?;
    if policy.shape() != run {
        let source = PolicyError::Mismatch { policy: Box::new(policy.shape()), run: Box::new(run) };
        return Err(RunError::Policy { path: path.to_path_buf(), source });
    }
    agent.load_policy(policy).map_err(RunError::Learner)
}

/// The network `config` makes for `spec` (`None` if it makes none): what a
/// policy file without its convolutions' geometry is read as.
fn config_shape(config: &RunConfig, spec: &EnvSpec) -> Option<agent::Shape> {
    config.agent.shape(&config.spaces_for(spec)).ok()
}

/// Never interrupts: for steps that must run to their end.
fn never() -> bool {
    false
}

impl Session {
    /// A new run on the configured environment: checks the configuration,
    /// builds the learner and the environments from the master seed's
    /// streams.
    ///
    /// # Errors
    /// [`RunError::Config`] naming the first bad field, or
    /// [`RunError::Learner`] if the learner cannot be built (a replay
    /// buffer too large to allocate, say).
    pub fn new(config: &RunConfig) -> Result<Self, RunError> {
        config.validate()?;
        Self::build(config, config.env_family()?)
    }

    /// A new run on the environments `family` makes (one of a user's own,
    /// say): as [`new`](Self::new), with the configuration's `env` unused;
    /// the session's configuration names the family's environment
    /// ([`RunConfig::for_family`]).
    ///
    /// # Errors
    /// As [`new`](Self::new), [`RunError::Config`] if the configuration
    /// names another custom environment, and [`RunError::Env`] if the
    /// family cannot make the batch.
    pub fn with_family(config: &RunConfig, family: Box<dyn EnvFamily>) -> Result<Self, RunError> {
        let config = config.clone().for_family(&family.spec())?;
        Self::build(&config, family)
    }

    fn build(config: &RunConfig, family: Box<dyn EnvFamily>) -> Result<Self, RunError> {
        let spec = family.spec();
        config.validate_for(&spec)?;
        let learner = match tabular_config(config, &spec) {
            None => {
                let spaces = config.spaces_for(&spec);
                let mut agent =
                    Agent::new(config.agent.clone(), spaces, agent_seeds(config.seed)).map_err(RunError::Learner)?;
                if let Some(path) = &config.init_policy {
                    start_from_policy(&mut agent, path)?;
                }
                RunLearner::Dqn(Box::new(agent))
            }
            Some(tabular) => {
                let explore = Stream::Explore.seed(config.seed);
                RunLearner::Tabular(Box::new(TabularQ::new(tabular, explore).map_err(RunError::Learner)?))
            }
        };
        let n_envs = config.collection.envs as usize;
        let mut env_rngs: Vec<ChaCha8Rng> =
            (0..config.collection.envs).map(|env| Stream::TrainEnv { env }.rng(config.seed)).collect();
        let setup = |source| RunError::Env { env: spec.id.clone(), phase: Phase::Train, episode: 1, step: 0, source };
        let envs = family.batch(n_envs, &mut env_rngs).map_err(setup)?;
        check_outputs(envs.as_ref(), &spec).map_err(setup)?;
        // The probe states: start states of one environment, reset again
        // and again from the probe stream.
        let mut probe_rng = Stream::Probe.rng(config.seed);
        let mut probe_env = family.single().map_err(setup)?;
        let mut probe_frames = ObsBuf::zeros(&spec.obs, N_PROBE).map_err(setup)?;
        for i in 0..N_PROBE {
            probe_env.reset(&mut probe_rng, probe_frames.row_mut(i, spec.obs_len())).map_err(setup)?;
            spec.obs
                .check_values(probe_frames.row(i, spec.obs_len()))
                .map_err(|problem| setup(EnvError::Output { field: "observations", env: None, problem }))?;
        }
        let cursor = Cursor {
            episodes_finished: 0,
            total_steps: 0,
            vector_steps: 0,
            episodes: vec![EpisodeTally::default(); n_envs],
            solved: false,
            pending: None,
        };
        Self::assemble(config.clone(), learner, family, envs, env_rngs, probe_frames, cursor).map_err(setup)
    }

    fn assemble(
        config: RunConfig,
        learner: RunLearner,
        family: Box<dyn EnvFamily>,
        envs: Box<dyn VecEnv>,
        env_rngs: Vec<ChaCha8Rng>,
        probe_frames: ObsBuf,
        cursor: Cursor,
    ) -> Result<Self, EnvError> {
        let spec = family.spec();
        let n = envs.len();
        let probe_inputs = input_rows(&probe_frames, &spec, learner.as_ref().input_format());
        Ok(Self {
            config,
            learner,
            family,
            obs_before: ObsBuf::zeros(&spec.obs, n)?,
            spec,
            envs,
            env_rngs,
            greedy_envs: Vec::new(),
            probe_frames,
            probe_inputs,
            cursor,
            actions: Vec::with_capacity(n),
            finished: Vec::new(),
            evaluation: None,
            probe_q: Vec::new(),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// A snapshot from which [`Session::from_state`] continues exactly here:
    /// between two steps (mid-episode included) or inside an interrupted
    /// one.
    ///
    /// # Errors
    /// [`EnvError::NotSaveable`] when the environments cannot be saved (see
    /// [`can_checkpoint`](Self::can_checkpoint)), or their own failure to.
    pub fn to_state(&self) -> Result<SessionState, EnvError> {
        Ok(SessionState {
            config: self.config.clone(),
            learner: match &self.learner {
                RunLearner::Dqn(a) => {
                    LearnerState::Dqn { agent: Box::new(a.to_state()), experience: Box::new(a.experience()) }
                }
                RunLearner::Tabular(t) => LearnerState::Tabular(t.clone()),
            },
            envs: self.envs.save()?,
            env_rngs: self.env_rngs.clone(),
            probe_frames: self.probe_frames.clone(),
            cursor: self.cursor.clone(),
        })
    }

    /// The session frozen but for its replay buffer ([`replay`](Self::replay),
    /// which a checkpoint streams apart): nothing of the buffer's size is
    /// copied.
    ///
    /// # Errors
    /// As [`to_state`](Self::to_state).
    pub fn meta(&self) -> Result<SessionMeta, EnvError> {
        Ok(SessionMeta {
            config: self.config.clone(),
            learner: match &self.learner {
                RunLearner::Dqn(a) => LearnerMeta::Dqn(Box::new(a.to_state())),
                RunLearner::Tabular(t) => LearnerMeta::Tabular(t.clone()),
            },
            envs: self.envs.save()?,
            env_rngs: self.env_rngs.clone(),
            probe_frames: self.probe_frames.clone(),
            cursor: self.cursor.clone(),
        })
    }

    /// The DQN learner's replay buffer (`None` for another learner).
    #[must_use]
    pub fn replay(&self) -> Option<&ReplayBuffer> {
        self.learner.dqn().map(Agent::replay)
    }

    /// What a checkpoint streams after [`meta`](Self::meta): the DQN
    /// learner's replay buffer and priorities (`None` for another learner).
    #[must_use]
    pub fn streamed(&self) -> Option<Streamed<'_>> {
        self.learner.dqn().map(|a| Streamed { replay: a.replay(), priorities: a.priorities() })
    }

    /// Whether the session can be frozen ([`to_state`](Self::to_state)),
    /// and so checkpointed: whether its environments' family can save them.
    #[must_use]
    pub fn can_checkpoint(&self) -> bool {
        self.family.can_save()
    }

    /// The session a snapshot describes, on the configured environment
    /// (consistent by construction: see [`SessionState`]).
    ///
    /// # Errors
    /// [`StateError::Config`] if the environments cannot be made, and
    /// [`StateError::Learner`] only if the learner's scratch buffers cannot
    /// be made, which checked settings rule out.
    pub fn from_state(s: SessionState) -> Result<Self, StateError> {
        let family = s.config.env_family().map_err(StateError::Config)?;
        Self::from_state_with(s, family)
    }

    /// The session a snapshot describes, its environments restored by
    /// `family` (a user's own; checked against it).
    ///
    /// # Errors
    /// The [`StateError`] of a snapshot that does not fit `family`.
    pub fn from_state_with(s: SessionState, family: Box<dyn EnvFamily>) -> Result<Self, StateError> {
        let envs = s.check(family.as_ref())?;
        let learner = match s.learner {
            LearnerState::Dqn { agent, experience } => {
                RunLearner::Dqn(Box::new(Agent::from_state(*agent, *experience).map_err(StateError::Learner)?))
            }
            LearnerState::Tabular(t) => RunLearner::Tabular(t),
        };
        Self::assemble(s.config, learner, family, envs, s.env_rngs, s.probe_frames, s.cursor).map_err(StateError::Envs)
    }

    /// The environment's spaces and rules.
    #[must_use]
    pub fn env_spec(&self) -> &EnvSpec {
        &self.spec
    }

    /// The observations the next step acts on, one row per training
    /// environment (row-major).
    #[must_use]
    pub fn observations(&self) -> Obs<'_> {
        self.envs.observations()
    }

    /// Every random stream this run draws from (see [`Stream`]).
    pub fn streams(&self) -> impl Iterator<Item = Stream> {
        Stream::of_run(self.config.collection.envs)
    }

    /// The learner.
    #[must_use]
    pub fn learner(&self) -> &RunLearner {
        &self.learner
    }

    /// Training episodes finished.
    #[must_use]
    pub fn episodes_finished(&self) -> u32 {
        self.cursor.episodes_finished
    }

    /// Environment steps taken in training.
    #[must_use]
    pub fn total_steps(&self) -> u64 {
        self.cursor.total_steps
    }

    /// Whether an evaluation has found the policy solved (see
    /// [`crate::EarlyStop`]).
    #[must_use]
    pub fn solved(&self) -> bool {
        self.cursor.solved
    }

    /// Moves the step budget to `max_train_steps` environment steps in all
    /// (`max_train_steps` of the configuration, which checkpoints keep): a
    /// caller that trains in installments (the Python package's `learn`)
    /// extends it before each, and the run goes on exactly as one long one.
    pub fn set_step_budget(&mut self, max_train_steps: u64) {
        self.config.max_train_steps = Some(max_train_steps);
    }

    /// The policy's greedy actions for `observations` (whole rows of the
    /// environment's observation, of its type), into `actions`, and their
    /// action values, into `q_values` (row after row), from one batched
    /// forward pass with the mean weights. Each row is taken as the first
    /// of its episode: with stacked frames, its stack repeats (or pads) it.
    /// Ties go to the lowest action.
    ///
    /// # Errors
    /// [`RunError::Agent`] for rows that are not whole, of the wrong type,
    /// or not finite.
    pub fn greedy_actions(
        &mut self,
        observations: Obs<'_>,
        actions: &mut Vec<usize>,
        q_values: &mut Vec<f32>,
    ) -> Result<(), RunError> {
        let at = |source| RunError::Agent { phase: Phase::Test, episode: 0, step: 0, source };
        let len = self.spec.obs_len();
        // The window checks each row's type and values.
        if observations.is_empty() || !observations.len().is_multiple_of(len) {
            let problem = agent::ObservationProblem::Rows { values: observations.len(), row_len: len, expected: len };
            return Err(at(AgentError::BadObservation(problem)));
        }
        let learner = self.learner.as_learner();
        let format = learner.input_format();
        let mut window = FrameWindow::new(format).map_err(|e| at(AgentError::Replay(e)))?;
        let rows = observations.len() / len;
        let mut inputs = Vec::with_capacity(rows * format.row_len());
        for i in 0..rows {
            let row = observations.row(i, len).expect("whole rows were checked");
            window.push(frame(row), true).map_err(|e| at(AgentError::Replay(e)))?;
            inputs.extend_from_slice(window.input());
        }
        q_values.clear();
        learner.q_values_batch(&inputs, format.row_len(), q_values).map_err(at)?;
        actions.clear();
        actions.extend(q_values.chunks_exact(self.spec.n_actions).map(|q| {
            // The first of the largest, as the agent's own greedy choice.
            q.iter().enumerate().fold(0, |best, (a, &v)| if v > q[best] { a } else { best })
        }));
        Ok(())
    }

    /// ε at the current action count (0 for a learner that explores by
    /// noise alone).
    #[must_use]
    pub fn epsilon(&self) -> f64 {
        self.learner.as_ref().epsilon()
    }

    /// Whether a step was interrupted part-way (the next `step` finishes it).
    #[must_use]
    pub fn step_in_progress(&self) -> bool {
        self.cursor.pending.is_some()
    }

    /// Whether training is over: no step is in progress, and every episode
    /// finished, the step budget (`max_train_steps`) is spent, or an
    /// evaluation found the policy solved.
    #[must_use]
    pub fn is_done(&self) -> bool {
        let budget_spent = self.config.max_train_steps.is_some_and(|max| self.cursor.total_steps >= max);
        let over = budget_spent || self.cursor.solved || self.cursor.episodes_finished >= self.config.train_episodes;
        over && !self.step_in_progress()
    }

    /// One vector step, run to its end: [`step_interruptible`](Self::step_interruptible)
    /// never interrupted.
    ///
    /// # Errors
    /// As [`step_interruptible`](Self::step_interruptible).
    pub fn step(&mut self) -> Result<StepReport<'_>, RunError> {
        self.step_interruptible(&never)
    }

    /// One vector step: every environment acts (one batched choice), steps
    /// and stores its transition; the learner updates when due; episodes
    /// that ended are logged, and an evaluation runs when one is due.
    ///
    /// `interrupt` is asked between the pieces of a step that can take long
    /// (the learner's gradient steps, the evaluation's steps); when it
    /// answers true the step stops there with
    /// [`StepReport::complete`] false, and the next call (on this session or
    /// one restored from its [`to_state`](Self::to_state)) finishes it,
    /// exactly as if it had never stopped.
    ///
    /// With several environments, a budget of `max_train_steps` may be
    /// passed by less than one vector step, and episodes that end on the
    /// step after the last counted one are not logged.
    ///
    /// # Errors
    /// [`RunError::Agent`] naming the episode and step (of the first
    /// environment) if the learner fails, e.g. training diverged.
    pub fn step_interruptible(&mut self, interrupt: &dyn Fn() -> bool) -> Result<StepReport<'_>, RunError> {
        self.finished.clear();
        self.evaluation = None;
        let ended = match self.cursor.pending.take() {
            None => self.collect()?,
            Some(PendingStep::Update { ended }) => ended,
            Some(PendingStep::Evaluation) => {
                let complete = self.evaluate_if_due(interrupt, true)?;
                return Ok(self.report(complete));
            }
        };
        // The step just taken (its episode of environment 0 not yet logged).
        let (episode, step) = (self.cursor.episodes_finished + 1, self.cursor.episodes[0].steps);
        let at = |source| RunError::Agent { phase: Phase::Train, episode, step, source };
        let update_due = self.cursor.vector_steps.is_multiple_of(u64::from(self.config.collection.update_every));
        let stats = if update_due {
            match self.learner.as_learner().update(interrupt).map_err(at)? {
                UpdateOutcome::Learned(stats) => Some(stats),
                UpdateOutcome::NotYet => None,
                UpdateOutcome::Interrupted => {
                    self.cursor.pending = Some(PendingStep::Update { ended });
                    return Ok(self.report(false));
                }
            }
        } else {
            None
        };
        if let Some(stats) = stats {
            for tally in &mut self.cursor.episodes {
                tally.loss_sum += f64::from(stats.loss);
                tally.losses += 1;
            }
        }
        self.log_ended(&ended).map_err(at)?;
        let complete = self.evaluate_if_due(interrupt, false)?;
        Ok(self.report(complete))
    }

    fn report(&self, complete: bool) -> StepReport<'_> {
        StepReport { episodes: &self.finished, evaluation: self.evaluation.as_ref(), complete }
    }

    /// The first part of a step: act, step the environments, store the
    /// transitions, count the step. Returns which environments ended.
    fn collect(&mut self) -> Result<Vec<bool>, RunError> {
        let (episode, step) = (self.cursor.episodes_finished + 1, self.cursor.episodes[0].steps + 1);
        let fail = |source| RunError::Agent { phase: Phase::Train, episode, step, source };
        let id = &self.spec.id;
        let env_fail = |source| RunError::Env { env: id.clone(), phase: Phase::Train, episode, step, source };
        let learner = self.learner.as_learner();
        // What the environments act on, kept for the transitions: the
        // batch overwrites its observations when it steps.
        copy_obs(&mut self.obs_before, self.envs.observations());
        learner.act_batch(frame(self.obs_before.as_obs()), &mut self.actions).map_err(fail)?;
        self.envs.step(&self.actions, &mut self.env_rngs).map_err(env_fail)?;
        check_outputs(self.envs.as_ref(), &self.spec).map_err(env_fail)?;
        let d = self.spec.obs_len();
        let final_observations = self.envs.final_observations();
        for (i, &action) in self.actions.iter().enumerate() {
            let state = self.obs_before.as_obs().row(i, d).expect("checked lengths");
            let next_state = final_observations.row(i, d).expect("checked lengths");
            learner
                .observe_from(
                    i,
                    Transition {
                        state: frame(state),
                        action,
                        reward: self.envs.rewards()[i] as f32,
                        next_state: frame(next_state),
                        terminated: self.envs.terminated()[i],
                        truncated: self.envs.truncated()[i],
                    },
                )
                .map_err(fail)?;
        }
        self.cursor.vector_steps += 1;
        self.cursor.total_steps += self.envs.len() as u64;
        for (i, tally) in self.cursor.episodes.iter_mut().enumerate() {
            tally.steps += 1;
            tally.ret += self.envs.rewards()[i];
        }
        Ok((0..self.envs.len()).map(|i| self.envs.terminated()[i] || self.envs.truncated()[i]).collect())
    }

    /// Logs the episodes that ended on this step (after its update, so their
    /// loss and probe values include it) and starts their tallies afresh.
    fn log_ended(&mut self, ended: &[bool]) -> Result<(), AgentError> {
        if !ended.contains(&true) {
            return Ok(());
        }
        let epsilon = self.learner.as_learner().epsilon();
        let q_probe = self.q_probe()?;
        for (tally, _) in self.cursor.episodes.iter_mut().zip(ended).filter(|(_, e)| **e) {
            let done = std::mem::take(tally);
            if self.cursor.episodes_finished >= self.config.train_episodes {
                continue;
            }
            self.cursor.episodes_finished += 1;
            self.finished.push(EpisodeLog {
                episode: self.cursor.episodes_finished,
                steps: done.steps,
                total_steps: self.cursor.total_steps,
                ret: done.ret,
                epsilon,
                mean_loss: (done.losses > 0).then(|| done.loss_sum / f64::from(done.losses)),
                q_probe,
            });
        }
        Ok(())
    }

    /// Runs the evaluation if this step passed a multiple of
    /// `early_stop.every_steps` (or, `resumed`, if an interrupted one is
    /// waiting). Returns false when interrupted, with the evaluation left
    /// pending: it is rerun whole next time, which gives the same result
    /// (greedy, from its own stream).
    fn evaluate_if_due(&mut self, interrupt: &dyn Fn() -> bool, resumed: bool) -> Result<bool, RunError> {
        let Some(stop) = &self.config.early_stop else { return Ok(true) };
        let steps_before = self.cursor.total_steps.saturating_sub(self.envs.len() as u64);
        if !resumed && self.cursor.total_steps / stop.every_steps <= steps_before / stop.every_steps {
            return Ok(true);
        }
        let (episodes, solved_at) = (stop.episodes, stop.solved_at);
        let learner = self.learner.as_learner();
        let play = Greedy { config: &self.config, family: self.family.as_ref(), envs: &mut self.greedy_envs };
        let Some(logs) = play.episodes(learner, Stream::Eval, episodes, &mut |_| {}, interrupt)? else {
            self.cursor.pending = Some(PendingStep::Evaluation);
            return Ok(false);
        };
        let returns: Vec<f64> = logs.iter().map(|l| l.ret).collect();
        let (mean_return, _) = crate::stats::mean_std(&returns); // at least one episode (validated)
        let solved = mean_return >= solved_at;
        self.cursor.solved = solved;
        self.evaluation = Some(EvalLog {
            total_steps: self.cursor.total_steps,
            episodes_finished: self.cursor.episodes_finished,
            mean_return,
            min_return: returns.iter().copied().fold(f64::INFINITY, f64::min),
            solved,
        });
        Ok(true)
    }

    /// The mean over the probe states of the policy's largest Q-value (one
    /// batched forward pass: the same bits as one state at a time).
    fn q_probe(&mut self) -> Result<f64, AgentError> {
        let learner = self.learner.as_learner();
        let row_len = self.probe_inputs.len() / N_PROBE;
        learner.q_values_batch(&self.probe_inputs, row_len, &mut self.probe_q)?;
        let sum: f64 = self
            .probe_q
            .chunks_exact(self.spec.n_actions)
            .map(|q| f64::from(q.iter().copied().fold(f32::NEG_INFINITY, f32::max)))
            .sum();
        Ok(sum / N_PROBE as f64)
    }

    /// Runs `episodes` greedy test episodes on the test stream, reporting
    /// each to `on_episode`.
    ///
    /// # Errors
    /// [`RunError::Agent`] or [`RunError::Env`].
    pub fn test(&mut self, episodes: u32, on_episode: &mut dyn FnMut(&TestLog)) -> Result<Vec<TestLog>, RunError> {
        let logs = self.test_interruptible(episodes, on_episode, &never)?;
        Ok(logs.expect("never interrupted"))
    }

    /// [`test`](Self::test), asking `interrupt` before each batched step;
    /// `None` if it stopped them (nothing of the session changes, so they
    /// can simply be run again).
    ///
    /// # Errors
    /// As [`test`](Self::test).
    pub fn test_interruptible(
        &mut self,
        episodes: u32,
        on_episode: &mut dyn FnMut(&TestLog),
        interrupt: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<TestLog>>, RunError> {
        let learner = self.learner.as_learner();
        let play = Greedy { config: &self.config, family: self.family.as_ref(), envs: &mut self.greedy_envs };
        play.episodes(learner, Stream::TestEnv, episodes, on_episode, interrupt)
    }
}

/// Greedy episodes played side by side, at most this many at a time.
const GREEDY_GROUP: usize = 128;

/// An environment's observation as a learner's frame (the same values).
fn frame(obs: Obs<'_>) -> Frame<'_> {
    match obs {
        Obs::F32(v) => Frame::F32(v),
        Obs::U8(v) => Frame::U8(v),
    }
}

/// Copies a batch's observations into `to` (of their size and type, as
/// the checks of the batch's outputs make them).
fn copy_obs(to: &mut ObsBuf, from: Obs<'_>) {
    match (to, from) {
        (ObsBuf::F32(to), Obs::F32(from)) => to.copy_from_slice(from),
        (ObsBuf::U8(to), Obs::U8(from)) => to.copy_from_slice(from),
        _ => unreachable!("the batch's outputs are checked against its spec"),
    }
}

/// The input rows a learner reading `format` makes of `frames` (rows of
/// `spec`'s observations), each the first observation of an episode.
fn input_rows(frames: &ObsBuf, spec: &EnvSpec, format: InputFormat) -> Vec<f32> {
    let mut window = FrameWindow::new(format).expect("a learner's checked input format");
    let rows = frames.len() / spec.obs_len();
    let mut inputs = Vec::with_capacity(rows * format.row_len());
    for i in 0..rows {
        window.push(frame(frames.row(i, spec.obs_len())), true).expect("checked observations");
        inputs.extend_from_slice(window.input());
    }
    inputs
}

/// What greedy episodes are played with: the run's configuration (its
/// seed, γ), the family that makes the environments, and the single
/// environments made so far (reused: each episode starts with a reset, so
/// which environment plays it changes nothing, and an environment that is
/// costly to make is made once).
struct Greedy<'a> {
    config: &'a RunConfig,
    family: &'a dyn EnvFamily,
    envs: &'a mut Vec<Box<dyn Env>>,
}

impl Greedy<'_> {
    /// Greedy episodes of `agent`'s policy, resets drawn from `stream` in
    /// episode order. Up to [`GREEDY_GROUP`] episodes run side by side,
    /// their actions chosen in one batched forward pass per step (the same
    /// bits as one state at a time, so the same returns as playing them in
    /// turn); the logs reach `on_episode` in episode order. Each episode's
    /// observations become input rows as the learner reads them (stacked
    /// and scaled, [`FrameWindow`]). `interrupt` is asked before each
    /// batched step; `None` if it stopped them.
    fn episodes(
        self,
        agent: &mut dyn Learner,
        stream: Stream,
        episodes: u32,
        on_episode: &mut dyn FnMut(&TestLog),
        interrupt: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<TestLog>>, RunError> {
        /// One episode in progress, on `envs[env]`.
        struct Playing {
            env: usize,
            obs: ObsBuf,
            window: FrameWindow,
            log: TestLog,
            discount: f64,
            done: bool,
        }
        let phase = if stream == Stream::TestEnv { Phase::Test } else { Phase::Evaluation };
        let spec = self.family.spec();
        let env_error = |episode, step, source| RunError::Env { env: spec.id.clone(), phase, episode, step, source };
        let output_error =
            |episode, step, field, problem| env_error(episode, step, EnvError::Output { field, env: None, problem });
        let format = agent.input_format();
        let mut rng = stream.rng(self.config.seed);
        let gamma = self.config.agent.gamma;
        // Grown as episodes finish, not reserved from a count the caller gives.
        let mut logs = Vec::new();
        let (mut rows, mut q) = (Vec::new(), Vec::new());
        let mut first = 1;
        while first <= episodes {
            let last = episodes.min(first.saturating_add(GREEDY_GROUP as u32 - 1));
            // Episodes reset in episode order from the one stream, so episode k
            // starts where it would if they were played one after another.
            let mut group = Vec::new();
            for (env, episode) in (first..=last).enumerate() {
                if self.envs.len() <= env {
                    self.envs.push(self.family.single().map_err(|e| env_error(episode, 0, e))?);
                }
                let mut obs = ObsBuf::zeros(&spec.obs, 1).map_err(|e| env_error(episode, 0, e))?;
                self.envs[env].reset(&mut rng, obs.as_obs_mut()).map_err(|e| env_error(episode, 0, e))?;
                spec.obs.check_values(obs.as_obs()).map_err(|p| output_error(episode, 0, "observations", p))?;
                let mut window = FrameWindow::new(format).map_err(|e| env_error(episode, 0, replay_error(e)))?;
                window.push(frame(obs.as_obs()), true).map_err(|e| env_error(episode, 0, replay_error(e)))?;
                let log = TestLog { episode, ret: 0.0, q_start: 0.0, discounted_return: 0.0 };
                group.push(Playing { env, obs, window, log, discount: 1.0, done: false });
            }
            let mut step = 0u32;
            while group.iter().any(|p| !p.done) {
                if interrupt() {
                    return Ok(None);
                }
                step += 1;
                rows.clear();
                group.iter().filter(|p| !p.done).for_each(|p| rows.extend_from_slice(p.window.input()));
                let fail = |episode, source| RunError::Agent { phase, episode, step, source };
                let first_active = group.iter().find(|p| !p.done).map_or(first, |p| p.log.episode);
                agent.q_values_batch(&rows, format.row_len(), &mut q).map_err(|e| fail(first_active, e))?;
                for (p, values) in group.iter_mut().filter(|p| !p.done).zip(q.chunks_exact(spec.n_actions)) {
                    let action = match agent::argmax(values) {
                        Some(a) => a,
                        // No greedy action (a NaN): `predict` names the error.
                        None => agent.predict(p.window.input()).map_err(|e| fail(p.log.episode, e))?,
                    };
                    if step == 1 {
                        p.log.q_start = f64::from(values[action]);
                    }
                    let episode = p.log.episode;
                    let out =
                        self.envs[p.env].step(action, p.obs.as_obs_mut()).map_err(|e| env_error(episode, step, e))?;
                    spec.obs
                        .check_values(p.obs.as_obs())
                        .map_err(|e| output_error(episode, step, "observations", e))?;
                    if !out.reward.is_finite() {
                        let problem = env_core::OutputProblem::NonFinite { index: 0, value: out.reward };
                        return Err(output_error(episode, step, "rewards", problem));
                    }
                    p.log.ret += out.reward;
                    p.log.discounted_return += p.discount * out.reward;
                    p.discount *= gamma;
                    p.done = out.is_done();
                    if !p.done {
                        p.window
                            .push(frame(p.obs.as_obs()), false)
                            .map_err(|e| env_error(episode, step, replay_error(e)))?;
                    }
                }
            }
            for p in group {
                on_episode(&p.log);
                logs.push(p.log);
            }
            first = last.saturating_add(1);
            if last == u32::MAX {
                break;
            }
        }
        Ok(Some(logs))
    }
}

/// A frame the learner's window refused (checked against the spec before,
/// so a bug's): as the environment's error of a bad output.
fn replay_error(e: agent::ReplayError) -> EnvError {
    EnvError::Custom(Box::new(e))
}

/// A DQN learner for `config` on an environment with `spec` whose networks
/// are `policy` (read from `policy_path`), for greedy play: testing a saved
/// policy, drawing it at work. Its replay buffer is the smallest the
/// settings allow (it never learns).
///
/// # Errors
/// [`RunError::Config`] for an invalid configuration, [`RunError::Learner`]
/// if the learner cannot be built, [`RunError::Policy`] for a policy that
/// does not fit the configuration.
fn greedy_agent(config: &RunConfig, spec: &EnvSpec, policy: &Mlp<f32>, policy_path: &Path) -> Result<Agent, RunError> {
    let misfit = |source| RunError::Policy { path: policy_path.to_path_buf(), source };
    if !matches!(config.learner, LearnerSetting::Dqn) {
        return Err(misfit(PolicyError::NotANetworkLearner));
    }
    let mut config = config.clone();
    // Testing needs no replay memory.
    config.agent.buffer_capacity = config.agent.batch_size.max(config.agent.learning_starts);
    config.validate_for(spec)?;
    let spaces = config.spaces_for(spec);
    let run = config.agent.shape(&spaces).map_err(|e| RunError::Learner(e.into()))?;
    if policy.shape() != run {
        return Err(misfit(PolicyError::Mismatch { policy: Box::new(policy.shape()), run: Box::new(run) }));
    }
    let mut agent = Agent::new(config.agent.clone(), spaces, agent_seeds(config.seed)).map_err(RunError::Learner)?;
    agent.load_policy(policy.clone()).expect("the sizes were checked");
    Ok(agent)
}

/// Greedy test episodes of the policy saved at `policy_path` with the run's
/// configuration, on the environments `family` makes (the same test stream
/// as the run's own test).
///
/// # Errors
/// [`RunError::Io`] or [`RunError::Policy`] for the file, and as
/// [`greedy_agent`] and [`Session::test`].
pub(crate) fn test_policy(
    config: &RunConfig,
    family: &dyn EnvFamily,
    policy_path: &Path,
    episodes: u32,
    on_episode: &mut dyn FnMut(&TestLog),
) -> Result<Vec<TestLog>, RunError> {
    if !matches!(config.learner, LearnerSetting::Dqn) {
        return Err(RunError::Policy { path: policy_path.to_path_buf(), source: PolicyError::NotANetworkLearner });
    }
    let policy = load_policy_like(policy_path, config_shape(config, &family.spec()).as_ref())?;
    let mut agent = greedy_agent(config, &family.spec(), &policy, policy_path)?;
    let mut envs = Vec::new();
    let play = Greedy { config, family, envs: &mut envs };
    let logs = play.episodes(&mut agent, Stream::TestEnv, episodes, on_episode, &never)?;
    Ok(logs.expect("never interrupted"))
}

/// One greedy episode, step by step: what [`greedy_episode`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct GreedyEpisode {
    /// The physical state at each step, the start's first (one more than
    /// the steps taken); empty entries for an environment without a
    /// physical state.
    pub states: Vec<Vec<f64>>,
    /// The observation at each step, row after row (`states.len()` rows).
    pub observations: ObsBuf,
    /// The input row the policy read at each step (the observations
    /// stacked and scaled as the learner reads them), row after row
    /// (`states.len()` rows).
    pub inputs: Vec<f32>,
    /// The reward of each step taken.
    pub rewards: Vec<f64>,
    /// Whether the episode terminated (rather than was truncated or cut at
    /// `max_steps`).
    pub terminated: bool,
}

/// One greedy episode of the policy saved at `policy_path` from the test
/// stream's first reset (at most `max_steps` steps), on the environment
/// `config` names: for drawing the policy at work.
///
/// # Errors
/// [`RunError::Config`] for an invalid configuration, [`RunError::Io`] or
/// [`RunError::Policy`] for the policy file, [`RunError::Agent`] or
/// [`RunError::Env`] if a step fails.
pub fn greedy_episode(config: &RunConfig, policy_path: &Path, max_steps: u32) -> Result<GreedyEpisode, RunError> {
    let family = config.env_family()?;
    let spec = family.spec();
    let policy = load_policy_like(policy_path, config_shape(config, &spec).as_ref())?;
    let mut agent = greedy_agent(config, &spec, &policy, policy_path)?;
    let env_error = |step, source| RunError::Env { env: spec.id.clone(), phase: Phase::Test, episode: 1, step, source };
    let mut env = family.single().map_err(|e| env_error(0, e))?;
    let mut obs = ObsBuf::zeros(&spec.obs, 1).map_err(|e| env_error(0, e))?;
    env.reset(&mut Stream::TestEnv.rng(config.seed), obs.as_obs_mut()).map_err(|e| env_error(0, e))?;
    let mut window = FrameWindow::new(agent.input_format()).map_err(|e| env_error(0, replay_error(e)))?;
    window.push(frame(obs.as_obs()), true).map_err(|e| env_error(0, replay_error(e)))?;
    let mut states = vec![env.state().to_vec()];
    let mut seen = obs.clone();
    let mut inputs = window.input().to_vec();
    let mut rewards = Vec::new();
    let mut terminated = false;
    for step in 1..=max_steps {
        let at = |source| RunError::Agent { phase: Phase::Test, episode: 1, step, source };
        let action = agent.predict(window.input()).map_err(at)?;
        let out = env.step(action, obs.as_obs_mut()).map_err(|e| env_error(step, e))?;
        window.push(frame(obs.as_obs()), false).map_err(|e| env_error(step, replay_error(e)))?;
        states.push(env.state().to_vec());
        seen.extend(&obs);
        inputs.extend_from_slice(window.input());
        rewards.push(out.reward);
        if out.is_done() {
            terminated = out.terminated;
            break;
        }
    }
    Ok(GreedyEpisode { states, observations: seen, inputs, rewards, terminated })
}
