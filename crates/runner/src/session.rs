//! The training loop as a value: [`Session`] advances one environment step
//! at a time, so callers decide what to log, when to stop, and (later) when
//! to checkpoint. No I/O happens here.

use agent::tabular::{Discretizer, TabularConfig, TabularQ};
use agent::{Agent, AgentSeeds, Learner};
use cartpole_sim::{Action, CartPole};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::Transition;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, LearnerSetting, RunConfig, RunError};

/// The random streams of a run, each derived from the master seed: stream
/// `k` of ChaCha8 seeded with the master seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Resets of the training environment.
    TrainEnv = 0,
    /// Resets of the test environment.
    TestEnv = 1,
    /// Network initialisation.
    Init = 2,
    /// ε-greedy draws.
    Explore = 3,
    /// Mini-batch sampling.
    Replay = 4,
    /// The fixed probe states whose Q-values are logged.
    Probe = 5,
}

impl Stream {
    /// The RNG of this stream for `master_seed`.
    #[must_use]
    pub fn rng(self, master_seed: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(master_seed);
        rng.set_stream(self as u64);
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

/// A [`Session`] frozen: everything that determines the rest of the run
/// (see [`crate::checkpoint`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    config: RunConfig,
    learner: LearnerState,
    env: CartPole,
    env_rng: ChaCha8Rng,
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
    env: CartPole,
    env_rng: ChaCha8Rng,
    probe_states: Vec<[f32; 4]>,
    cursor: Cursor,
}

/// Where training is: the episode and its running totals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// The episode in progress (1-based) or, between episodes, the last one.
    episode: u32,
    in_episode: bool,
    /// The observation to act on next.
    obs: [f32; 4],
    ep_steps: u32,
    ep_return: f64,
    ep_loss_sum: f64,
    ep_losses: u32,
    total_steps: u64,
}

fn agent_error(e: agent::AgentError) -> RunError {
    RunError::Config(ConfigError::Invalid { field: "agent".into(), reason: e.to_string() })
}

impl Session {
    /// A new run: checks the configuration, builds the learner and the
    /// environment from the master seed's streams.
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
        let env = CartPole::new(config.env_config())?;
        let mut probe_rng = Stream::Probe.rng(config.seed);
        let mut probe_env = CartPole::new(config.env_config())?;
        let probe_states = (0..N_PROBE).map(|_| probe_env.reset(&mut probe_rng)).collect();
        Ok(Self {
            config: config.clone(),
            learner,
            env,
            env_rng: Stream::TrainEnv.rng(config.seed),
            probe_states,
            cursor: Cursor {
                episode: 0,
                in_episode: false,
                obs: [0.0; 4],
                ep_steps: 0,
                ep_return: 0.0,
                ep_loss_sum: 0.0,
                ep_losses: 0,
                total_steps: 0,
            },
        })
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
            env: self.env.clone(),
            env_rng: self.env_rng.clone(),
            probe_states: self.probe_states.clone(),
            cursor: self.cursor,
        }
    }

    /// The session a snapshot describes.
    ///
    /// # Errors
    /// [`RunError::Config`] for an invalid configuration, or
    /// [`RunError::Checkpoint`]-style inconsistency reported as
    /// [`RunError::Config`] with the reason (a damaged snapshot).
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
        if s.env.config() != s.config.env_config() {
            return Err(invalid("the environment's rules differ from the configuration".into()));
        }
        if s.cursor.in_episode == s.env.is_over()
            || (s.cursor.episode == 0 && s.cursor.in_episode)
            || s.cursor.episode > s.config.train_episodes
        {
            return Err(invalid(format!(
                "episode {} (in progress: {}) does not fit the environment or the configuration",
                s.cursor.episode, s.cursor.in_episode
            )));
        }
        if s.probe_states.len() != N_PROBE
            || s.cursor.obs.iter().chain(s.probe_states.iter().flatten()).any(|v| !v.is_finite())
        {
            return Err(invalid("damaged observations".into()));
        }
        Ok(Self {
            config: s.config,
            learner,
            env: s.env,
            env_rng: s.env_rng,
            probe_states: s.probe_states,
            cursor: s.cursor,
        })
    }

    /// The learner.
    #[must_use]
    pub fn learner(&self) -> &RunLearner {
        &self.learner
    }

    /// Training episodes finished.
    #[must_use]
    pub fn episodes_finished(&self) -> u32 {
        if self.cursor.in_episode { self.cursor.episode - 1 } else { self.cursor.episode }
    }

    /// Environment steps taken in training.
    #[must_use]
    pub fn total_steps(&self) -> u64 {
        self.cursor.total_steps
    }

    /// Whether training is over: every episode finished, or the step budget
    /// (`max_train_steps`) spent.
    #[must_use]
    pub fn is_done(&self) -> bool {
        let budget_spent = self.config.max_train_steps.is_some_and(|max| self.cursor.total_steps >= max);
        budget_spent || (self.cursor.episode >= self.config.train_episodes && !self.cursor.in_episode)
    }

    /// One training step: act, step the environment, store the transition,
    /// learn. Returns the episode's log when this step ended it.
    ///
    /// # Errors
    /// [`RunError::Agent`] naming the episode and step if the learner fails
    /// (e.g. training diverged).
    pub fn step(&mut self) -> Result<Option<EpisodeLog>, RunError> {
        if !self.cursor.in_episode {
            self.cursor.episode += 1;
            self.cursor.in_episode = true;
            self.cursor.obs = self.env.reset(&mut self.env_rng);
            (self.cursor.ep_steps, self.cursor.ep_return, self.cursor.ep_loss_sum, self.cursor.ep_losses) =
                (0, 0.0, 0.0, 0);
        }
        let (episode, step_no) = (self.cursor.episode, self.cursor.ep_steps + 1);
        let fail = |source| RunError::Agent { phase: "train", episode, step: step_no, source };
        let learner = self.learner.as_learner();
        let action = learner.act(&self.cursor.obs).map_err(fail)?;
        let step = self.env.step(Action::from_index(action)?)?;
        let transition = Transition {
            state: &self.cursor.obs,
            action,
            reward: step.reward as f32,
            next_state: &step.obs,
            terminated: step.terminated,
            truncated: step.truncated,
        };
        learner.observe(transition).map_err(fail)?;
        if let Some(stats) = learner.update().map_err(fail)? {
            self.cursor.ep_loss_sum += f64::from(stats.loss);
            self.cursor.ep_losses += 1;
        }
        self.cursor.ep_steps += 1;
        self.cursor.total_steps += 1;
        self.cursor.ep_return += step.reward;
        self.cursor.obs = step.obs;
        if !step.is_done() {
            return Ok(None);
        }
        self.cursor.in_episode = false;
        let q_probe = self.q_probe().map_err(fail)?;
        Ok(Some(EpisodeLog {
            episode,
            steps: self.cursor.ep_steps,
            total_steps: self.cursor.total_steps,
            ret: self.cursor.ep_return,
            epsilon: self.learner.as_learner().epsilon(),
            mean_loss: (self.cursor.ep_losses > 0).then(|| self.cursor.ep_loss_sum / f64::from(self.cursor.ep_losses)),
            q_probe,
        }))
    }

    /// The mean over the probe states of the policy's largest Q-value.
    fn q_probe(&mut self) -> Result<f64, agent::AgentError> {
        let mut sum = 0.0;
        let learner = self.learner.as_learner();
        for s in &self.probe_states {
            let q = learner.q_values(s)?;
            sum += f64::from(q.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        }
        Ok(sum / self.probe_states.len() as f64)
    }

    /// Runs the configured number of greedy test episodes on the test
    /// stream, reporting each to `on_episode`.
    ///
    /// # Errors
    /// [`RunError::Agent`] or [`RunError::Sim`].
    pub fn test(&mut self, episodes: u32, on_episode: &mut dyn FnMut(&TestLog)) -> Result<Vec<TestLog>, RunError> {
        greedy_episodes(self.learner.as_learner(), &self.config, episodes, on_episode)
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

/// Greedy episodes of `agent`'s policy on the test environment stream.
fn greedy_episodes(
    agent: &mut dyn Learner,
    config: &RunConfig,
    episodes: u32,
    on_episode: &mut dyn FnMut(&TestLog),
) -> Result<Vec<TestLog>, RunError> {
    let mut env = CartPole::new(config.env_config())?;
    let mut rng = Stream::TestEnv.rng(config.seed);
    let gamma = config.agent.gamma;
    let mut logs = Vec::with_capacity(episodes as usize);
    for episode in 1..=episodes {
        let mut obs = env.reset(&mut rng);
        let (mut ret, mut discounted, mut discount, mut steps) = (0.0, 0.0, 1.0, 0u32);
        let mut q_start = None;
        loop {
            steps += 1;
            let fail = |source| RunError::Agent { phase: "test", episode, step: steps, source };
            let action = agent.predict(&obs).map_err(fail)?;
            if q_start.is_none() {
                q_start = Some(f64::from(agent.q_values(&obs).map_err(fail)?[action]));
            }
            let step = env.step(Action::from_index(action)?)?;
            ret += step.reward;
            discounted += discount * step.reward;
            discount *= gamma;
            obs = step.obs;
            if step.is_done() {
                break;
            }
        }
        let log = TestLog { episode, ret, q_start: q_start.unwrap_or(0.0), discounted_return: discounted };
        on_episode(&log);
        logs.push(log);
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
