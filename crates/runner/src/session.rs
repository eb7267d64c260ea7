//! The training loop as a value: [`Session`] advances one environment step
//! at a time, so callers decide what to log, when to stop, and (later) when
//! to checkpoint. No I/O happens here.

use agent::tabular::{Discretizer, TabularConfig, TabularQ};
use agent::{Agent, AgentSeeds, Learner};
use cartpole_sim::{Action, CartPole, CartPoleBatch, OBS_DIM};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::Transition;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, LearnerSetting, RunConfig, RunError};

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
/// | 2³² + i | training environment i ≥ 1 |
///
/// Ids 7 to 2³² are free for consumers to come; environments take the
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
        }
    }

    /// Every stream a run with `n_envs` training environments draws from.
    pub fn of_run(n_envs: u32) -> impl Iterator<Item = Stream> {
        let named = [Self::TestEnv, Self::Init, Self::Explore, Self::Replay, Self::Probe, Self::Eval];
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
}

/// A [`Session`] frozen: everything that determines the rest of the run
/// (see [`crate::checkpoint`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    config: RunConfig,
    learner: LearnerState,
    envs: CartPoleBatch,
    probe_states: Vec<[f32; 4]>,
    cursor: Cursor,
}

impl SessionState {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum LearnerState {
    Dqn(Box<agent::AgentState>),
    Tabular(Box<TabularQ>),
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

/// CartPole's observation ranges for the tabular grid: x, ẋ, θ, θ̇.
const TABULAR_RANGES: [(f32, f32); 4] = [(-2.4, 2.4), (-3.0, 3.0), (-0.21, 0.21), (-3.5, 3.5)];

/// A training run in progress.
#[derive(Debug)]
pub struct Session {
    config: RunConfig,
    learner: RunLearner,
    /// The training environments, stepped together; environment `i` draws
    /// its resets from [`Stream::TrainEnv`] `{ env: i }`.
    envs: CartPoleBatch,
    probe_states: Vec<[f32; 4]>,
    cursor: Cursor,
    /// Scratch for one step: what was acted on, the choices, the step's logs.
    obs_before: Vec<f32>,
    actions: Vec<usize>,
    sim_actions: Vec<Action>,
    finished: Vec<EpisodeLog>,
    evaluation: Option<EvalLog>,
    probe_q: Vec<f32>,
}

/// Where training is: counters, and the running totals of each
/// environment's episode in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    episodes_finished: u32,
    total_steps: u64,
    vector_steps: u64,
    episodes: Vec<EpisodeTally>,
    /// The latest evaluation said solved: training is over.
    solved: bool,
}

/// The running totals of one environment's episode in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct EpisodeTally {
    steps: u32,
    ret: f64,
    loss_sum: f64,
    losses: u32,
}

fn agent_error(e: agent::AgentError) -> RunError {
    RunError::Config(ConfigError::Invalid { field: "agent".into(), reason: e.to_string() })
}

impl Session {
    /// A new run: checks the configuration, builds the learner and the
    /// environments from the master seed's streams.
    ///
    /// # Errors
    /// [`RunError::Config`] naming the first bad field.
    pub fn new(config: &RunConfig) -> Result<Self, RunError> {
        config.validate()?;
        let learner = match &config.learner {
            LearnerSetting::Dqn => {
                let seeds = AgentSeeds {
                    init: Stream::Init.seed(config.seed),
                    explore: Stream::Explore.seed(config.seed),
                    replay: Stream::Replay.seed(config.seed),
                };
                RunLearner::Dqn(Box::new(Agent::new(config.dqn_config(), seeds).map_err(agent_error)?))
            }
            LearnerSetting::TabularQ { bins, alpha } => {
                let tabular = TabularConfig {
                    discretizer: Discretizer { ranges: TABULAR_RANGES.to_vec(), bins: bins.clone() },
                    n_actions: cartpole_sim::N_ACTIONS,
                    alpha: *alpha,
                    gamma: config.agent.gamma,
                    epsilon: config.agent.epsilon,
                };
                let explore = Stream::Explore.seed(config.seed);
                RunLearner::Tabular(Box::new(TabularQ::new(tabular, explore).map_err(agent_error)?))
            }
        };
        let n_envs = config.collection.envs as usize;
        let env_rngs = (0..config.collection.envs).map(|env| Stream::TrainEnv { env }.rng(config.seed)).collect();
        let envs = CartPoleBatch::new(config.env_config(), env_rngs)?;
        let mut probe_rng = Stream::Probe.rng(config.seed);
        let mut probe_env = CartPole::new(config.env_config())?;
        let probe_states = (0..N_PROBE).map(|_| probe_env.reset(&mut probe_rng)).collect();
        let cursor = Cursor {
            episodes_finished: 0,
            total_steps: 0,
            vector_steps: 0,
            episodes: vec![EpisodeTally::default(); n_envs],
            solved: false,
        };
        Ok(Self::assemble(config.clone(), learner, envs, probe_states, cursor))
    }

    fn assemble(
        config: RunConfig,
        learner: RunLearner,
        envs: CartPoleBatch,
        probe_states: Vec<[f32; 4]>,
        cursor: Cursor,
    ) -> Self {
        let n = envs.len();
        Self {
            config,
            learner,
            envs,
            probe_states,
            cursor,
            obs_before: Vec::with_capacity(n * OBS_DIM),
            actions: Vec::with_capacity(n),
            sim_actions: Vec::with_capacity(n),
            finished: Vec::new(),
            evaluation: None,
            probe_q: Vec::new(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// A snapshot from which [`Session::from_state`] continues exactly here,
    /// between two steps (mid-episode included).
    #[must_use]
    pub fn to_state(&self) -> SessionState {
        SessionState {
            config: self.config.clone(),
            learner: match &self.learner {
                RunLearner::Dqn(a) => LearnerState::Dqn(Box::new(a.to_state())),
                RunLearner::Tabular(t) => LearnerState::Tabular(t.clone()),
            },
            envs: self.envs.clone(),
            probe_states: self.probe_states.clone(),
            cursor: self.cursor.clone(),
        }
    }

    /// The session a snapshot describes.
    ///
    /// # Errors
    /// [`RunError::Config`] for an invalid configuration, or an
    /// inconsistency (a damaged snapshot) reported as [`RunError::Config`]
    /// with the reason.
    pub fn from_state(s: SessionState) -> Result<Self, RunError> {
        s.config.validate()?;
        let invalid = |reason: String| RunError::Config(ConfigError::Invalid { field: "checkpoint".into(), reason });
        let learner = match (s.learner, &s.config.learner) {
            (LearnerState::Dqn(a), LearnerSetting::Dqn) => {
                let agent = Agent::from_state(*a).map_err(|e| invalid(e.to_string()))?;
                if *agent.config() != s.config.dqn_config() {
                    return Err(invalid("the learner's settings differ from the run's configuration".into()));
                }
                RunLearner::Dqn(Box::new(agent))
            }
            (LearnerState::Tabular(t), LearnerSetting::TabularQ { .. }) => RunLearner::Tabular(t),
            _ => return Err(invalid("the learner does not match the configuration".into())),
        };
        if s.envs.config() != s.config.env_config() {
            return Err(invalid("the environments' rules differ from the configuration".into()));
        }
        let n_envs = s.config.collection.envs as usize;
        if s.envs.len() != n_envs || s.cursor.episodes.len() != n_envs {
            return Err(invalid(format!(
                "{} environments and {} episode tallies for collection.envs = {n_envs}",
                s.envs.len(),
                s.cursor.episodes.len()
            )));
        }
        if s.cursor.episodes_finished > s.config.train_episodes
            || s.cursor.episodes.iter().zip(s.envs.elapsed_steps()).any(|(t, &e)| t.steps != e)
        {
            return Err(invalid(format!(
                "{} episodes finished and step counts {:?} do not fit the environments or the configuration",
                s.cursor.episodes_finished,
                s.envs.elapsed_steps()
            )));
        }
        if s.probe_states.len() != N_PROBE || s.probe_states.iter().flatten().any(|v| !v.is_finite()) {
            return Err(invalid("damaged observations".into()));
        }
        Ok(Self::assemble(s.config, learner, s.envs, s.probe_states, s.cursor))
    }

    /// The observations the next step acts on, one row per training
    /// environment (row-major).
    #[must_use]
    pub fn observations(&self) -> &[f32] {
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

    /// Whether training is over: every episode finished, the step budget
    /// (`max_train_steps`) spent, or an evaluation found the policy solved.
    #[must_use]
    pub fn is_done(&self) -> bool {
        let budget_spent = self.config.max_train_steps.is_some_and(|max| self.cursor.total_steps >= max);
        budget_spent || self.cursor.solved || self.cursor.episodes_finished >= self.config.train_episodes
    }

    /// One vector step: every environment acts (one batched choice), steps
    /// and stores its transition; the learner updates when due; episodes
    /// that ended are logged, and an evaluation runs when one is due.
    ///
    /// With several environments, a budget of `max_train_steps` may be
    /// passed by less than one vector step, and episodes that end on the
    /// step after the last counted one are not logged.
    ///
    /// # Errors
    /// [`RunError::Agent`] naming the episode and step (of the first
    /// environment) if the learner fails, e.g. training diverged.
    pub fn step(&mut self) -> Result<StepReport<'_>, RunError> {
        self.finished.clear();
        self.evaluation = None;
        let (episode, step_no) = (self.cursor.episodes_finished + 1, self.cursor.episodes[0].steps + 1);
        let fail = |source| RunError::Agent { phase: "train", episode, step: step_no, source };
        let learner = self.learner.as_learner();
        self.obs_before.clear();
        self.obs_before.extend_from_slice(self.envs.observations());
        learner.act_batch(&self.obs_before, OBS_DIM, &mut self.actions).map_err(fail)?;
        self.sim_actions.clear();
        for &a in &self.actions {
            self.sim_actions.push(Action::from_index(a)?);
        }
        self.envs.step(&self.sim_actions)?;
        let ended = |i: usize| self.envs.terminated()[i] || self.envs.truncated()[i];
        for (i, &action) in self.actions.iter().enumerate() {
            let row = i * OBS_DIM..(i + 1) * OBS_DIM;
            learner
                .observe(Transition {
                    state: &self.obs_before[row.clone()],
                    action,
                    reward: self.envs.rewards()[i] as f32,
                    next_state: &self.envs.final_observations()[row],
                    terminated: self.envs.terminated()[i],
                    truncated: self.envs.truncated()[i],
                })
                .map_err(fail)?;
        }
        self.cursor.vector_steps += 1;
        let update = if self.cursor.vector_steps.is_multiple_of(u64::from(self.config.collection.update_every)) {
            learner.update().map_err(fail)?
        } else {
            None
        };
        for (i, tally) in self.cursor.episodes.iter_mut().enumerate() {
            tally.steps += 1;
            tally.ret += self.envs.rewards()[i];
            if let Some(stats) = update {
                tally.loss_sum += f64::from(stats.loss);
                tally.losses += 1;
            }
        }
        let steps_before = self.cursor.total_steps;
        self.cursor.total_steps += self.envs.len() as u64;
        if (0..self.envs.len()).any(ended) {
            let epsilon = learner.epsilon();
            let q_probe = self.q_probe().map_err(fail)?;
            for (i, tally) in self.cursor.episodes.iter_mut().enumerate() {
                if !(self.envs.terminated()[i] || self.envs.truncated()[i]) {
                    continue;
                }
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
        }
        if let Some(stop) = &self.config.early_stop
            && self.cursor.total_steps / stop.every_steps > steps_before / stop.every_steps
        {
            let logs =
                greedy_episodes(self.learner.as_learner(), &self.config, Stream::Eval, stop.episodes, &mut |_| {})?;
            let returns: Vec<f64> = logs.iter().map(|l| l.ret).collect();
            let mean_return = returns.iter().sum::<f64>() / returns.len() as f64;
            let solved = mean_return >= stop.solved_at;
            self.cursor.solved = solved;
            self.evaluation = Some(EvalLog {
                total_steps: self.cursor.total_steps,
                episodes_finished: self.cursor.episodes_finished,
                mean_return,
                min_return: returns.iter().copied().fold(f64::INFINITY, f64::min),
                solved,
            });
        }
        Ok(StepReport { episodes: &self.finished, evaluation: self.evaluation.as_ref() })
    }

    /// The mean over the probe states of the policy's largest Q-value (one
    /// batched forward pass: the same bits as one state at a time).
    fn q_probe(&mut self) -> Result<f64, agent::AgentError> {
        let learner = self.learner.as_learner();
        learner.q_values_batch(self.probe_states.as_flattened(), OBS_DIM, &mut self.probe_q)?;
        let n_actions = self.probe_q.len() / self.probe_states.len();
        let sum: f64 = self
            .probe_q
            .chunks_exact(n_actions)
            .map(|q| f64::from(q.iter().copied().fold(f32::NEG_INFINITY, f32::max)))
            .sum();
        Ok(sum / self.probe_states.len() as f64)
    }

    /// Runs the configured number of greedy test episodes on the test
    /// stream, reporting each to `on_episode`.
    ///
    /// # Errors
    /// [`RunError::Agent`] or [`RunError::Sim`].
    pub fn test(&mut self, episodes: u32, on_episode: &mut dyn FnMut(&TestLog)) -> Result<Vec<TestLog>, RunError> {
        greedy_episodes(self.learner.as_learner(), &self.config, Stream::TestEnv, episodes, on_episode)
    }

    /// Replaces the learner's networks with `policy` (for testing a saved policy).
    pub(crate) fn load_policy(&mut self, policy: mlp::Mlp<f32>) -> Result<(), agent::AgentError> {
        match &mut self.learner {
            RunLearner::Dqn(agent) => agent.load_policy(policy),
            RunLearner::Tabular(_) => Err(agent::AgentError::InvalidConfig {
                field: "learner",
                reason: "a saved network needs the Dqn learner".into(),
            }),
        }
    }
}

/// Greedy episodes played side by side, at most this many at a time.
const GREEDY_GROUP: usize = 128;

/// Greedy episodes of `agent`'s policy, resets drawn from `stream` in
/// episode order. Up to [`GREEDY_GROUP`] episodes run side by side, their
/// actions chosen in one batched forward pass per step (the same bits as one
/// state at a time, so the same returns as playing them in turn); the logs
/// reach `on_episode` in episode order.
fn greedy_episodes(
    agent: &mut dyn Learner,
    config: &RunConfig,
    stream: Stream,
    episodes: u32,
    on_episode: &mut dyn FnMut(&TestLog),
) -> Result<Vec<TestLog>, RunError> {
    /// One episode in progress.
    struct Playing {
        env: CartPole,
        obs: [f32; 4],
        log: TestLog,
        discount: f64,
        done: bool,
    }
    let mut rng = stream.rng(config.seed);
    let gamma = config.agent.gamma;
    let mut logs = Vec::with_capacity(episodes as usize);
    let (mut rows, mut q) = (Vec::new(), Vec::new());
    let mut first = 1;
    while first <= episodes {
        let last = episodes.min(first + GREEDY_GROUP as u32 - 1);
        let mut group = (first..=last)
            .map(|episode| {
                let mut env = CartPole::new(config.env_config())?;
                let obs = env.reset(&mut rng);
                let log = TestLog { episode, ret: 0.0, q_start: 0.0, discounted_return: 0.0 };
                Ok(Playing { env, obs, log, discount: 1.0, done: false })
            })
            .collect::<Result<Vec<_>, RunError>>()?;
        let mut step = 0u32;
        while group.iter().any(|p| !p.done) {
            step += 1;
            rows.clear();
            group.iter().filter(|p| !p.done).for_each(|p| rows.extend_from_slice(&p.obs));
            let fail = |episode, source| RunError::Agent {
                phase: if stream == Stream::TestEnv { "test" } else { "evaluation" },
                episode,
                step,
                source,
            };
            let first_active = group.iter().find(|p| !p.done).map_or(first, |p| p.log.episode);
            agent.q_values_batch(&rows, OBS_DIM, &mut q).map_err(|e| fail(first_active, e))?;
            let n_actions = q.len() / (rows.len() / OBS_DIM);
            for (p, values) in group.iter_mut().filter(|p| !p.done).zip(q.chunks_exact(n_actions)) {
                let action = match agent::argmax(values) {
                    Some(a) => a,
                    // No greedy action (a NaN): `predict` names the error.
                    None => agent.predict(&p.obs).map_err(|e| fail(p.log.episode, e))?,
                };
                if step == 1 {
                    p.log.q_start = f64::from(values[action]);
                }
                let out = p.env.step(Action::from_index(action)?)?;
                p.log.ret += out.reward;
                p.log.discounted_return += p.discount * out.reward;
                p.discount *= gamma;
                p.obs = out.obs;
                p.done = out.is_done();
            }
        }
        for p in group {
            on_episode(&p.log);
            logs.push(p.log);
        }
        first = last + 1;
    }
    Ok(logs)
}

/// The states of one greedy episode of `policy` from the test stream's
/// first reset (at most `max_steps` steps): for drawing the policy at work.
///
/// # Errors
/// [`RunError::Config`] for an invalid configuration, [`RunError::Agent`] or
/// [`RunError::Sim`] if a step fails.
pub fn greedy_trajectory(config: &RunConfig, policy: mlp::Mlp<f32>, max_steps: u32) -> Result<Vec<[f64; 4]>, RunError> {
    let mut config = config.clone();
    config.agent.buffer_capacity = config.agent.batch_size.max(config.agent.learning_starts);
    config.learner = LearnerSetting::Dqn;
    let mut session = Session::new(&config)?;
    session.load_policy(policy).map_err(agent_error)?;
    let RunLearner::Dqn(agent) = &mut session.learner else { unreachable!("the learner was set to Dqn above") };
    let mut env = CartPole::new(config.env_config())?;
    let mut obs = env.reset(&mut Stream::TestEnv.rng(config.seed));
    let mut states = vec![env.state()];
    for step in 1..=max_steps {
        let action =
            agent.predict(&obs).map_err(|source| RunError::Agent { phase: "test", episode: 1, step, source })?;
        let out = env.step(Action::from_index(action)?)?;
        states.push(env.state());
        obs = out.obs;
        if out.is_done() {
            break;
        }
    }
    Ok(states)
}
