//! The DQN learner: policy and target networks, Adam, the replay buffer and
//! the exploration and sampling RNGs; ε-greedy acting (one row or a batch),
//! the gradient step on Bellman targets formed inside the network's pass,
//! interruptible updates, and the frozen form for checkpoints (the replay
//! buffer and the priorities apart, each streamed on its own).

use mlp::{
    FiniteGradients, Gradients, Inputs, Mlp, MlpError, Noise, Operand, Optimizer, Params, RowLoss, SideNets,
    SingleScratch, StoredOptimizer, StoredParams, Workspace,
};
use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay::{Batch, Frame, InputFormat, ReplayBuffer, ReplayConfig, Rows, Transition};
use serde::{Deserialize, Serialize};

use crate::c51::{C51Loss, QReadout, Support};
use crate::dqn_loss::{BatchRows, DqnLoss};
use crate::n_step::{NStepWindows, Ready};
use crate::{AgentError, DqnConfig, ObservationProblem, Priorities, Sampling, Spaces, StateProblem, TargetUpdate};

/// The seeds of the learner's three random streams, each derived by the
/// caller from one master seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSeeds {
    /// Network initialisation.
    pub init: u64,
    /// ε-greedy draws.
    pub explore: u64,
    /// Mini-batch sampling.
    pub replay: u64,
    /// Noisy layers' noise.
    pub noise: u64,
}

/// What one call of [`Agent::update`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// The mean loss over its gradient steps.
    pub loss: f32,
    /// Gradient steps taken.
    pub gradient_steps: u32,
    /// Whether the target network was synchronised (hard copy) afterwards.
    pub target_synced: bool,
}

/// Everything of an agent that determines its future besides its replay
/// memory: one list of fields, held alike by the live [`Agent`] and by its
/// frozen [`AgentState`]. (Scratch buffers, which are overwritten before
/// they are read, are not part of it.)
#[derive(Debug, Clone, PartialEq)]
struct Core {
    config: DqnConfig,
    spaces: Spaces,
    policy: Mlp<f32>,
    target: Mlp<f32>,
    optimizer: Optimizer<f32>,
    explore_rng: ChaCha8Rng,
    replay_rng: ChaCha8Rng,
    noise_rng: ChaCha8Rng,
    counts: Counts,
    partial_update: Option<PartialUpdate>,
    /// Each environment's steps not yet in an n-step transition.
    n_step_windows: NStepWindows,
}

/// The learner's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Counts {
    /// Training actions taken (the seed's `sample_count`).
    sample_count: u64,
    /// Gradient steps taken.
    n_updates: u64,
    /// Hard copies of the policy into the target.
    n_target_syncs: u64,
    /// `sample_count` when the last update began.
    sample_count_at_last_update: u64,
}

/// A [`Core`] as it is serialized: the settings as their RON text (as a
/// configuration file holds them, so a setting added later with a default
/// reads in an older state, and the text may leave out settings at their
/// default), the environment's spaces, the networks as their parameters
/// with their noise samples apart.
#[derive(Serialize)]
struct CoreRef<'a> {
    config: String,
    spaces: Spaces,
    policy: &'a Mlp<f32>,
    target: &'a Mlp<f32>,
    optimizer: &'a Optimizer<f32>,
    explore_rng: &'a ChaCha8Rng,
    replay_rng: &'a ChaCha8Rng,
    noise_rng: &'a ChaCha8Rng,
    counts: Counts,
    partial_update: Option<PartialUpdate>,
    n_step_windows: &'a NStepWindows,
    policy_noise: Option<&'a Noise<f32>>,
    target_noise: Option<&'a Noise<f32>>,
}

impl Serialize for Core {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CoreRef {
            config: self.config.to_ron(),
            spaces: self.spaces,
            policy: &self.policy,
            target: &self.target,
            optimizer: &self.optimizer,
            explore_rng: &self.explore_rng,
            replay_rng: &self.replay_rng,
            noise_rng: &self.noise_rng,
            counts: self.counts,
            partial_update: self.partial_update,
            n_step_windows: &self.n_step_windows,
            policy_noise: self.policy.noise(),
            target_noise: self.target.noise(),
        }
        .serialize(serializer)
    }
}

/// A [`Core`] as stored, before it is checked: [`CoreRef`]'s fields, each
/// part in its own stored form.
#[derive(Debug, Clone, Deserialize)]
struct StoredCore {
    config: String,
    spaces: Spaces,
    policy: StoredParams<f32>,
    target: StoredParams<f32>,
    optimizer: StoredOptimizer<f32>,
    explore_rng: ChaCha8Rng,
    replay_rng: ChaCha8Rng,
    noise_rng: ChaCha8Rng,
    counts: Counts,
    partial_update: Option<PartialUpdate>,
    n_step_windows: NStepWindows,
    policy_noise: Option<Noise<f32>>,
    target_noise: Option<Noise<f32>>,
}

/// Everything that determines an [`Agent`]'s future but its experience,
/// for checkpoints: its settings, networks, optimizer, RNGs and counters.
/// The replay buffer, which can be gigabytes, and prioritized replay's
/// [`Priorities`] (one per transition) stream on their own
/// ([`ReplayBuffer::write_to`], [`Priorities::write_to`]);
/// [`Agent::from_state`] takes all three and checks that they fit. A value of this type is always consistent in
/// itself: it is made by [`Agent::to_state`], or read back through
/// [`StoredAgent`]'s checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredAgent")]
pub struct AgentState {
    core: Core,
}

impl AgentState {
    /// The settings.
    #[must_use]
    pub fn config(&self) -> &DqnConfig {
        &self.core.config
    }

    /// Whether an interrupted update waits to be continued.
    #[must_use]
    pub fn update_in_progress(&self) -> bool {
        self.core.partial_update.is_some()
    }

    /// Training actions taken.
    #[must_use]
    pub fn sample_count(&self) -> u64 {
        self.core.counts.sample_count
    }

    /// The environment's spaces the learner was made for.
    #[must_use]
    pub fn spaces(&self) -> &Spaces {
        &self.core.spaces
    }

    /// The replay buffer's settings this learner needs (what a streamed
    /// buffer must be to be restored with it).
    #[must_use]
    pub fn replay_config(&self) -> ReplayConfig {
        replay_config(&self.core.config, &self.core.spaces)
    }

    /// Whether this learner samples by priority (and so comes with
    /// [`Priorities`]).
    #[must_use]
    pub fn is_prioritized(&self) -> bool {
        matches!(self.core.config.sampling, Sampling::Prioritized(_))
    }

    /// Whether `experience` is this learner's: the buffer's settings,
    /// actions in range, priorities present exactly with prioritized
    /// sampling, for the buffer's capacity, one for each transition held
    /// and none above the largest.
    ///
    /// # Errors
    /// [`AgentError::DamagedState`] naming what does not fit.
    pub fn check_experience(&self, experience: &Experience) -> Result<(), AgentError> {
        let replay = &experience.replay;
        self.check_replay(replay)?;
        let bad = |problem| Err(AgentError::DamagedState(StateProblem::Priorities { problem }));
        match (&experience.priorities, self.is_prioritized()) {
            (None, false) => Ok(()),
            (Some(_), false) => bad("are stored, but sampling is not prioritized"),
            (None, true) => bad("are missing, but sampling is prioritized"),
            (Some(p), true) => {
                if p.tree.capacity() != replay.capacity() {
                    return bad("are for a buffer of another capacity");
                }
                let held = p.tree.priorities();
                if (0..replay.capacity()).any(|slot| replay.is_live(slot) != (held[slot] > 0.0)) {
                    return bad("do not number one per transition held");
                }
                if held.iter().any(|&v| v > p.max_priority) {
                    return bad("hold a value that is not positive or is above the largest");
                }
                Ok(())
            }
        }
    }

    /// Whether `replay` is this learner's buffer: its settings, actions in
    /// range (the buffer read back before the priorities that follow it).
    ///
    /// # Errors
    /// [`AgentError::DamagedState`] naming what does not fit.
    pub fn check_replay(&self, replay: &ReplayBuffer) -> Result<(), AgentError> {
        let damaged = |problem| AgentError::DamagedState(problem);
        if *replay.config() != self.replay_config() {
            return Err(damaged(StateProblem::BufferSettings));
        }
        let n_actions = self.core.spaces.n_actions;
        if let Some(action) = replay.max_action().filter(|&a| a >= n_actions) {
            return Err(damaged(StateProblem::StoredAction { action, n_actions }));
        }
        Ok(())
    }

    /// Environment steps observed but not yet stored: with n-step returns,
    /// the steps each environment holds back until its window fills (0
    /// otherwise). Every observed step is a push or one of these.
    #[must_use]
    pub fn pending_steps(&self) -> u64 {
        self.core.n_step_windows.pending() as u64
    }

    /// The ε-greedy RNG.
    #[must_use]
    pub fn explore_rng(&self) -> &ChaCha8Rng {
        &self.core.explore_rng
    }

    /// The mini-batch sampling RNG.
    #[must_use]
    pub fn replay_rng(&self) -> &ChaCha8Rng {
        &self.core.replay_rng
    }
}

/// What an agent has learnt from, kept apart from its [`AgentState`]
/// because it can be gigabytes: the replay buffer and, with prioritized
/// sampling, each transition's priority. Checkpoints stream both
/// ([`ReplayBuffer::write_to`], [`Priorities::write_to`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Experience {
    /// The replay buffer.
    pub replay: ReplayBuffer,
    /// The priorities, with prioritized sampling.
    pub priorities: Option<Priorities>,
}

/// An [`AgentState`] as stored, before it is checked: the same fields in the
/// same serialized form, each part in its own stored form. Decode this and
/// convert it with `AgentState::try_from` to keep the typed error of a
/// damaged state (some formats, postcard among them, drop the message of an
/// error raised inside deserialization).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredAgent {
    core: StoredCore,
}

impl TryFrom<StoredCore> for Core {
    type Error = AgentError;

    /// Checks each part, then that the parts fit the settings and each
    /// other.
    fn try_from(s: StoredCore) -> Result<Self, AgentError> {
        let damaged = |problem| AgentError::DamagedState(problem);
        let config = DqnConfig::from_ron(&s.config).map_err(|e| damaged(StateProblem::Settings(Box::new(e))))?;
        let spaces = s.spaces;
        config.validate(&spaces)?;
        let noisy = config.noisy.is_some();
        let network = |stored: StoredParams<f32>, noise: Option<Noise<f32>>, role: fn(MlpError) -> StateProblem| {
            let mut net = Params::from_stored(stored).and_then(Mlp::from_params).map_err(|e| damaged(role(e)))?;
            // Noisy settings keep a sample for each network, always.
            match noise {
                Some(noise) => net.set_noise(noise).map_err(|e| damaged(role(e)))?,
                None if noisy => {
                    let problem = "the settings are noisy, but no noise is stored".into();
                    return Err(damaged(role(MlpError::InvalidNoise { problem })));
                }
                None => {}
            }
            Ok(net)
        };
        let policy = network(s.policy, s.policy_noise, StateProblem::Policy)?;
        let target = network(s.target, s.target_noise, StateProblem::Target)?;
        let optimizer = Optimizer::try_from(s.optimizer).map_err(|e| damaged(StateProblem::Optimizer(e)))?;
        let expected = config.shape(&spaces)?;
        for (network, net) in [("policy", &policy), ("target", &target)] {
            if net.shape() != expected {
                let (shape, expected) = (Box::new(net.shape()), Box::new(expected));
                return Err(damaged(StateProblem::NetworkShape { network, shape, expected }));
            }
        }
        optimizer.check_fits(&policy).map_err(|e| damaged(StateProblem::Optimizer(e)))?;
        if optimizer.config() != config.optimizer_config() {
            let (stored, expected) = (Box::new(optimizer.config()), Box::new(config.optimizer_config()));
            return Err(damaged(StateProblem::OptimizerSettings { stored, expected }));
        }
        let counts = s.counts;
        crate::check_count("sample_count", counts.sample_count)?;
        crate::check_count("n_updates", counts.n_updates)?;
        crate::check_count("n_target_syncs", counts.n_target_syncs)?;
        if counts.sample_count_at_last_update > counts.sample_count {
            return Err(damaged(StateProblem::Counters {
                sample_count: counts.sample_count,
                at_last_update: counts.sample_count_at_last_update,
            }));
        }
        s.n_step_windows.check_stored(config.n_step, spaces.n_actions)?;
        if let Some(p) = s.partial_update
            && !(p.steps_done >= 1
                && p.steps_done < config.gradient_steps
                && p.loss_sum.is_finite()
                && p.previous_count <= counts.sample_count_at_last_update)
        {
            return Err(damaged(StateProblem::PartialUpdate {
                steps_done: p.steps_done,
                gradient_steps: config.gradient_steps,
                loss_sum: p.loss_sum,
                previous_count: p.previous_count,
                at_last_update: counts.sample_count_at_last_update,
            }));
        }
        Ok(Self {
            config,
            spaces,
            policy,
            target,
            optimizer,
            explore_rng: s.explore_rng,
            replay_rng: s.replay_rng,
            noise_rng: s.noise_rng,
            counts,
            partial_update: s.partial_update,
            n_step_windows: s.n_step_windows,
        })
    }
}

impl TryFrom<StoredAgent> for AgentState {
    type Error = AgentError;

    /// Checks the core; how it fits a replay buffer and priorities is
    /// [`Agent::from_state`]'s to check.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] for bad settings, else
    /// [`AgentError::DamagedState`] naming what does not fit.
    fn try_from(s: StoredAgent) -> Result<Self, AgentError> {
        Ok(Self { core: Core::try_from(s.core)? })
    }
}

/// The replay buffer a learner with `config` needs on `spaces`.
fn replay_config(config: &DqnConfig, spaces: &Spaces) -> ReplayConfig {
    ReplayConfig {
        capacity: config.buffer_capacity,
        input: config.input_format(spaces),
        max_steps: u8::try_from(config.n_step).expect("checked settings: n_step ≤ 255"),
        envs: spaces.envs,
    }
}

/// An update stopped between two of its gradient steps (see
/// [`UpdateOutcome::Interrupted`]): what the rest of it needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct PartialUpdate {
    /// Gradient steps taken, at least one and fewer than configured.
    steps_done: u32,
    /// Their losses summed so far, in order.
    loss_sum: f32,
    /// The action count at the previous update (for the hard target copy).
    previous_count: u64,
}

/// What one call of [`Agent::update_interruptible`] (or
/// [`Learner::update`](crate::Learner::update)) did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UpdateOutcome {
    /// Too little in the buffer yet: nothing was learned.
    NotYet,
    /// The update's gradient steps and the target update are done.
    Learned(UpdateStats),
    /// Stopped between two gradient steps because the interrupt asked to.
    /// The learner's state (and so a checkpoint of it) holds the partial
    /// update, and the next call continues it: the remaining gradient
    /// steps, then the target update, with the same result as never
    /// stopping.
    Interrupted,
}

/// The DQN learner: policy and target networks, optimizer, replay buffer
/// and exploration state.
///
/// The target network is a separate [`Mlp`] that changes only when the
/// policy is copied into it (or, with soft updates, averaged into it).
#[derive(Debug)]
pub struct Agent {
    core: Core,
    replay: ReplayBuffer,
    /// With prioritized sampling: the priorities.
    prioritized: Option<Priorities>,
    work: Work,
}

/// The agent's scratch: buffers overwritten before they are read, and
/// values derived from the settings. Made the same way for a new agent and
/// a restored one.
#[derive(Debug)]
struct Work {
    grads: Gradients<f32>,
    batch: Batch,
    /// The policy's batch workspace (loss and gradients; Double DQN's
    /// next-state pass; batched acting and evaluation).
    policy_pass: Workspace<f32>,
    scratch: SingleScratch<f32>,
    /// The input rows of `act_batch`'s observations; its greedy rows,
    /// gathered for one forward pass.
    inputs: Vec<f32>,
    greedy_rows: Vec<usize>,
    greedy_inputs: Vec<f32>,
    /// `act`'s one action, its buffer reused from call to call.
    action: Vec<usize>,
    /// `γ^k` in `f32` for k = 0..=n (the bootstrap discount of a transition
    /// spanning k steps; `discounts[1]` is the seed's `γ as f32`).
    discounts: Vec<f32>,
    /// The slots of a prioritized mini-batch and their loss weights (f64,
    /// then as the network takes them).
    sampled_slots: Vec<usize>,
    weights_f64: Vec<f64>,
    weights: Vec<f32>,
    /// How the policy's outputs are read as Q-values (Distributional DQN's
    /// atoms and the scratch for their expected values).
    readout: QReadout,
    /// With noisy layers, the policy on its mean weights, for greedy
    /// evaluation; made when first needed after the policy changed.
    mean_policy: Option<Mlp<f32>>,
}

impl Work {
    /// Scratch for an agent with these (checked) settings and policy.
    fn new(config: &DqnConfig, policy: &Mlp<f32>) -> Result<Self, AgentError> {
        Ok(Self {
            grads: policy.params().zeros_like(),
            batch: Batch::new(),
            policy_pass: Workspace::new(config.chunk_rows)?.with_arithmetic(config.arithmetic),
            scratch: SingleScratch::default(),
            inputs: Vec::new(),
            greedy_rows: Vec::new(),
            greedy_inputs: Vec::new(),
            action: Vec::with_capacity(1),
            discounts: discounts(config.gamma, config.n_step),
            sampled_slots: Vec::new(),
            weights_f64: Vec::new(),
            weights: Vec::new(),
            readout: QReadout::new(support_of(config)),
            mean_policy: None,
        })
    }
}

/// The atoms of distributional settings (checked by `validate`).
fn support_of(config: &DqnConfig) -> Option<Support> {
    config.distributional.map(|d| Support::new(d.v_min, d.v_max, d.n_atoms).expect("checked settings"))
}

/// The network greedy evaluation uses: the policy, or with noisy layers
/// the policy on its mean weights (made in `mean` when first needed).
fn evaluation_net<'a>(policy: &'a Mlp<f32>, mean: &'a mut Option<Mlp<f32>>) -> &'a Mlp<f32> {
    if !policy.is_noisy() {
        return policy;
    }
    mean.get_or_insert_with(|| {
        let mut net = policy.clone();
        net.clear_noise();
        net
    })
}

/// A batch's `b` rows of `d` values as the network's inputs: values, or
/// bytes with their table.
fn network_inputs(rows: Rows<'_>, b: usize, d: usize) -> Inputs<'_, f32> {
    let shape = "a batch holds b rows of the input";
    match rows {
        Rows::F32(values) => Inputs::Values(ArrayView2::from_shape((b, d), values).expect(shape)),
        Rows::Bytes { bytes, table } => {
            Inputs::Bytes { rows: ArrayView2::from_shape((b, d), bytes).expect(shape), table }
        }
    }
}

/// `γ^k` for k = 0..=n, each computed in f64 and rounded once to f32.
fn discounts(gamma: f64, n: usize) -> Vec<f32> {
    (0..=n).map(|k| gamma.powi(i32::try_from(k).unwrap_or(i32::MAX)) as f32).collect()
}

impl Agent {
    /// A learner with fresh networks (the target a copy of the policy) and
    /// an empty buffer, for an environment with `spaces`.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] naming the first bad setting.
    pub fn new(config: DqnConfig, spaces: Spaces, seeds: AgentSeeds) -> Result<Self, AgentError> {
        config.validate(&spaces)?;
        let mut init_rng = ChaCha8Rng::seed_from_u64(seeds.init);
        let mut policy = Mlp::build(&config.architecture(&spaces), &mut init_rng)?;
        let mut noise_rng = ChaCha8Rng::seed_from_u64(seeds.noise);
        // Noisy: the first sample, which the target starts with too.
        policy.resample_noise(&mut noise_rng);
        let target = policy.clone();
        let optimizer = Optimizer::new(&policy, config.optimizer_config())?;
        let replay = ReplayBuffer::with_config(replay_config(&config, &spaces))?;
        let prioritized = match config.sampling {
            Sampling::Prioritized(_) => Some(Priorities::new(config.buffer_capacity)?),
            Sampling::Uniform | Sampling::Recent => None,
        };
        let work = Work::new(&config, &policy)?;
        let core = Core {
            explore_rng: ChaCha8Rng::seed_from_u64(seeds.explore),
            replay_rng: ChaCha8Rng::seed_from_u64(seeds.replay),
            noise_rng,
            counts: Counts::default(),
            partial_update: None,
            n_step_windows: NStepWindows::new(),
            config,
            spaces,
            policy,
            target,
            optimizer,
        };
        Ok(Self { core, replay, prioritized, work })
    }

    /// A snapshot of everything that determines the rest of training but
    /// the experience: the replay buffer ([`replay`](Self::replay)) and the
    /// priorities ([`priorities`](Self::priorities)), streamed apart.
    #[must_use]
    pub fn to_state(&self) -> AgentState {
        AgentState { core: self.core.clone() }
    }

    /// The learner a snapshot and its experience (replay buffer and, with
    /// prioritized sampling, priorities) describe; it continues exactly
    /// where the original was.
    ///
    /// # Errors
    /// [`AgentError::DamagedState`] if the buffer or the priorities do not
    /// fit the snapshot (other settings, an action out of range,
    /// priorities missing, unexpected, of another capacity, or missing for
    /// a transition held).
    pub fn from_state(state: AgentState, experience: Experience) -> Result<Self, AgentError> {
        state.check_experience(&experience)?;
        let Experience { replay, priorities } = experience;
        let AgentState { core } = state;
        let work = Work::new(&core.config, &core.policy)?;
        Ok(Self { core, replay, prioritized: priorities, work })
    }

    /// A copy of the experience (for a snapshot in memory; checkpoints
    /// stream [`replay`](Self::replay) and [`priorities`](Self::priorities)
    /// instead).
    #[must_use]
    pub fn experience(&self) -> Experience {
        Experience { replay: self.replay.clone(), priorities: self.prioritized.clone() }
    }

    /// Prioritized replay's priorities (`None` without prioritized
    /// sampling), for checkpoints to stream ([`Priorities::write_to`]).
    #[must_use]
    pub fn priorities(&self) -> Option<&Priorities> {
        self.prioritized.as_ref()
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &DqnConfig {
        &self.core.config
    }

    /// The environment's spaces.
    #[must_use]
    pub fn spaces(&self) -> &Spaces {
        &self.core.spaces
    }

    /// How observations become the network's input rows.
    #[must_use]
    pub fn input_format(&self) -> InputFormat {
        self.replay.config().input
    }

    /// The policy network.
    #[must_use]
    pub fn policy(&self) -> &Mlp<f32> {
        &self.core.policy
    }

    /// The target network.
    #[must_use]
    pub fn target(&self) -> &Mlp<f32> {
        &self.core.target
    }

    /// The replay buffer.
    #[must_use]
    pub fn replay(&self) -> &ReplayBuffer {
        &self.replay
    }

    /// Training actions taken (the `sample_count` of the seed).
    #[must_use]
    pub fn sample_count(&self) -> u64 {
        self.core.counts.sample_count
    }

    /// With prioritized sampling, the priority of the transition in replay
    /// slot `slot` (`None` without prioritized sampling or for a slot
    /// holding no transition).
    #[must_use]
    pub fn priority(&self, slot: usize) -> Option<f64> {
        let p = self.prioritized.as_ref()?;
        self.replay.is_live(slot).then(|| p.tree.priorities()[slot])
    }

    /// Gradient steps taken.
    #[must_use]
    pub fn n_updates(&self) -> u64 {
        self.core.counts.n_updates
    }

    /// Hard copies of the policy into the target so far.
    #[must_use]
    pub fn n_target_syncs(&self) -> u64 {
        self.core.counts.n_target_syncs
    }

    /// ε at the current `sample_count`: the value the last
    /// [`act`](Self::act) used (the start value before any action).
    #[must_use]
    pub fn epsilon(&self) -> f64 {
        if self.explores_by_epsilon() { self.core.config.epsilon.value(self.core.counts.sample_count) } else { 0.0 }
    }

    /// The length of an input row.
    fn input_len(&self) -> usize {
        self.replay.row_len()
    }

    fn check_input(&self, row: usize, input: &[f32]) -> Result<(), AgentError> {
        if input.len() != self.input_len() {
            let problem = ObservationProblem::Length { expected: self.input_len(), got: input.len() };
            return Err(AgentError::BadObservation(problem));
        }
        if let Some(index) = input.iter().position(|v| !v.is_finite()) {
            let problem = ObservationProblem::NonFinite { row, index, value: input[index] };
            return Err(AgentError::BadObservation(problem));
        }
        Ok(())
    }

    /// Checks a batch of input rows, row by row.
    fn check_inputs(&self, inputs: &[f32], row_len: usize) -> Result<usize, AgentError> {
        let rows = crate::check_rows(inputs, row_len, self.input_len())?;
        for (row, input) in inputs.chunks_exact(row_len).enumerate() {
            self.check_input(row, input)?;
        }
        Ok(rows)
    }

    /// The policy network's Q-values of an input row (distributional: each
    /// action's expected value; noisy: on the mean weights).
    ///
    /// # Errors
    /// [`AgentError::BadObservation`] for a wrong length or a non-finite value.
    pub fn q_values(&mut self, input: &[f32]) -> Result<&[f32], AgentError> {
        self.check_input(0, input)?;
        let net = evaluation_net(&self.core.policy, &mut self.work.mean_policy);
        let outputs = net.forward_single(input, &mut self.work.scratch)?;
        Ok(self.work.readout.q_values(outputs))
    }

    /// The greedy action of an input row: the highest Q-value, ties to the
    /// lowest index.
    ///
    /// # Errors
    /// [`AgentError::BadObservation`], or [`AgentError::NonFiniteQ`] if the
    /// network outputs a NaN.
    pub fn predict(&mut self, input: &[f32]) -> Result<usize, AgentError> {
        let sample_count = self.core.counts.sample_count;
        crate::argmax(self.q_values(input)?).ok_or(AgentError::NonFiniteQ { sample_count })
    }

    /// A training action for one environment's observation (environment
    /// 0 of those stepped together): [`act_batch`](Self::act_batch) of one
    /// row.
    ///
    /// # Errors
    /// As [`act_batch`](Self::act_batch).
    pub fn act(&mut self, observation: Frame<'_>) -> Result<usize, AgentError> {
        // The buffer is taken and put back: acting allocates nothing.
        let mut actions = std::mem::take(&mut self.work.action);
        actions.clear();
        let acted = self.act_batch(observation, &mut actions);
        let action = actions.first().copied();
        self.work.action = actions;
        acted?;
        Ok(action.expect("act_batch gives one action per observation"))
    }

    /// Whether training actions are ε-greedy: always, except with noisy
    /// layers that are not told to (their noise explores).
    fn explores_by_epsilon(&self) -> bool {
        self.core.config.noisy.is_none_or(|n| n.epsilon_greedy)
    }

    /// The greedy action of the policy as it acts in training (with its
    /// current noise) on one input row.
    fn training_greedy(&mut self, input: &[f32]) -> Result<usize, AgentError> {
        let outputs = self.core.policy.forward_single(input, &mut self.work.scratch)?;
        let values = self.work.readout.q_values(outputs);
        crate::argmax(values).ok_or(AgentError::NonFiniteQ { sample_count: self.core.counts.sample_count })
    }

    /// Training actions for the environments stepped together, one frame
    /// each in `observations` (environment order): each counted, then with
    /// probability ε (after the count, as in the seed) a uniformly random
    /// action, else the greedy one, the greedy rows evaluated in one batched
    /// forward pass (which gives the same bits as one row at a time). Each
    /// observation acts as its input row: with stacked frames, the stack of
    /// its episode's recent frames, as the buffer stores them.
    ///
    /// # Errors
    /// A bad frame (length, type, value) or too many rows, found before
    /// anything is drawn; [`AgentError::NonFiniteQ`] if the network outputs
    /// a NaN.
    pub fn act_batch(&mut self, observations: Frame<'_>, actions: &mut Vec<usize>) -> Result<(), AgentError> {
        actions.clear();
        let (frame_len, row_len) = (self.core.spaces.frame.len, self.input_len());
        let rows = observations.len() / frame_len;
        if rows == 0 || rows * frame_len != observations.len() || rows > self.core.spaces.envs {
            let (values, expected) = (observations.len(), frame_len);
            return Err(AgentError::BadObservation(ObservationProblem::Rows { values, row_len: frame_len, expected }));
        }
        self.work.inputs.resize(rows * row_len, 0.0);
        for (env, input) in self.work.inputs.chunks_exact_mut(row_len).enumerate() {
            let frame = match observations {
                Frame::F32(v) => Frame::F32(&v[env * frame_len..(env + 1) * frame_len]),
                Frame::U8(v) => Frame::U8(&v[env * frame_len..(env + 1) * frame_len]),
            };
            self.replay.write_input(env, frame, input).map_err(|e| match e {
                replay::ReplayError::NonFinite { index, value, .. } => {
                    AgentError::BadObservation(ObservationProblem::NonFinite { row: env, index, value })
                }
                replay::ReplayError::NotBinary { index, value, .. } => {
                    AgentError::BadObservation(ObservationProblem::NotBinary { row: env, index, value })
                }
                other => other.into(),
            })?;
        }
        self.work.greedy_rows.clear();
        self.work.greedy_inputs.clear();
        // Noisy: one fresh sample for the environments stepped together.
        self.core.policy.resample_noise(&mut self.core.noise_rng);
        let by_epsilon = self.explores_by_epsilon();
        for (i, row) in self.work.inputs.chunks_exact(row_len).enumerate() {
            self.core.counts.sample_count += 1;
            let epsilon = self.core.config.epsilon.value(self.core.counts.sample_count);
            if !by_epsilon || self.core.explore_rng.random::<f64>() > epsilon {
                self.work.greedy_rows.push(i);
                self.work.greedy_inputs.extend_from_slice(row);
                actions.push(0);
            } else {
                actions.push(self.core.explore_rng.random_range(0..self.core.spaces.n_actions));
            }
        }
        let sample_count = self.core.counts.sample_count;
        let nan = || AgentError::NonFiniteQ { sample_count };
        if let [row] = self.work.greedy_rows[..] {
            // One row: the single-input path allocates nothing and skips the
            // batch machinery.
            let input = std::mem::take(&mut self.work.greedy_inputs);
            let chosen = self.training_greedy(&input);
            self.work.greedy_inputs = input;
            actions[row] = chosen?;
        } else if !self.work.greedy_rows.is_empty() {
            let inputs = ArrayView2::from_shape((self.work.greedy_rows.len(), row_len), &self.work.greedy_inputs)
                .expect("greedy_inputs holds whole rows");
            let q = self.core.policy.forward_batch(inputs, &mut self.work.policy_pass)?;
            for (&row, q_row) in self.work.greedy_rows.iter().zip(q.rows()) {
                let outputs = q_row.as_slice().expect("rows are contiguous");
                let values = self.work.readout.q_values(outputs);
                actions[row] = crate::argmax(values).ok_or_else(nan)?;
            }
        }
        Ok(())
    }

    /// Stores a transition of environment 0.
    ///
    /// # Errors
    /// As [`observe_from`](Self::observe_from).
    pub fn observe(&mut self, transition: Transition<'_>) -> Result<(), AgentError> {
        self.observe_from(0, transition)
    }

    /// Stores a transition of environment `env`: its step into the replay
    /// buffer (each observation once), and the transitions it completes.
    /// With n-step returns (`n_step > 1`) each environment's steps are held
    /// back until n of them (or its episode's end) complete a transition.
    ///
    /// # Errors
    /// [`AgentError::InvalidAction`], the buffer's refusal (a frame of the
    /// wrong length or type, a non-finite value, an environment beyond
    /// those the learner was made for), [`AgentError::InvalidEnvironment`],
    /// and [`AgentError::NonFiniteReturn`] when the rewards overflow their
    /// sum. Nothing is kept of a refused transition.
    pub fn observe_from(&mut self, env: usize, t: Transition<'_>) -> Result<(), AgentError> {
        let n_actions = self.core.spaces.n_actions;
        if t.action >= n_actions {
            return Err(AgentError::InvalidAction { action: t.action, n_actions });
        }
        if env >= self.core.spaces.envs {
            return Err(AgentError::InvalidEnvironment { env, max: self.core.spaces.envs });
        }
        self.replay.check_transition(&t)?;
        let (n, gamma) = (self.core.config.n_step, self.core.config.gamma);
        let ended = t.terminated || t.truncated;
        self.core.n_step_windows.check(env, t.reward, ended, n, gamma)?;
        if self.core.n_step_windows.pending_of(env) > 0 && !self.replay.continues(env, t.state) {
            return Err(AgentError::Discontinuity { env });
        }
        let evicted = self.replay.record_step(env, t.state, t.next_state, t.terminated, t.truncated)?;
        let capacity = self.replay.capacity();
        if let Some(p) = &mut self.prioritized {
            p.evicted(evicted, capacity)?;
        }
        let (replay, prioritized) = (&mut self.replay, &mut self.prioritized);
        let flags = (t.terminated, t.truncated);
        self.core.n_step_windows.observe(env, t.action, t.reward, flags, n, gamma, |ready: Ready| {
            let slot = replay.push_transition(
                env,
                ready.action,
                ready.reward,
                ready.steps,
                ready.terminated,
                ready.truncated,
            )?;
            if let Some(p) = prioritized {
                p.added(slot)?;
            }
            Ok(())
        })
    }

    /// Learns, once the buffer holds enough: `gradient_steps` steps on
    /// uniform mini-batches, then the target update. Returns `None` while
    /// there is not yet enough to learn from.
    ///
    /// # Errors
    /// [`AgentError::NonFiniteLoss`] if training diverges (nothing is
    /// updated by that step), or a network error.
    pub fn update(&mut self) -> Result<Option<UpdateStats>, AgentError> {
        match self.update_interruptible(&|| false)? {
            UpdateOutcome::Learned(stats) => Ok(Some(stats)),
            UpdateOutcome::NotYet | UpdateOutcome::Interrupted => Ok(None),
        }
    }

    /// [`update`](Self::update) that asks `interrupt` between gradient
    /// steps and stops when it answers true (see
    /// [`UpdateOutcome::Interrupted`]); a call after an interrupted one
    /// continues that update.
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub fn update_interruptible(&mut self, interrupt: &dyn Fn() -> bool) -> Result<UpdateOutcome, AgentError> {
        let steps = self.core.config.gradient_steps;
        let PartialUpdate { steps_done, mut loss_sum, previous_count } = match self.core.partial_update.take() {
            Some(partial) => partial,
            None => {
                let previous_count =
                    std::mem::replace(&mut self.core.counts.sample_count_at_last_update, self.core.counts.sample_count);
                let needed = self.core.config.batch_size.max(self.core.config.learning_starts);
                if self.replay.len() < needed {
                    return Ok(UpdateOutcome::NotYet);
                }
                PartialUpdate { steps_done: 0, loss_sum: 0.0, previous_count }
            }
        };
        for done in steps_done..steps {
            // Asked only between steps, so every stop leaves at least one
            // step taken: an interrupt that is always set still progresses.
            if done > steps_done && interrupt() {
                self.core.partial_update = Some(PartialUpdate { steps_done: done, loss_sum, previous_count });
                return Ok(UpdateOutcome::Interrupted);
            }
            loss_sum += self.gradient_step()?;
            if let TargetUpdate::Soft { tau } = self.core.config.target_update {
                self.core.target.soft_update_from(&self.core.policy, tau)?;
            }
        }
        let target_synced = match self.core.config.target_update {
            // A copy when a multiple of C was reached since the last call:
            // with one action per call (the seed) that is `sample_count % C
            // == 0`; with several environments acting between calls, no
            // multiple is skipped.
            TargetUpdate::Hard { every } => self.core.counts.sample_count / every > previous_count / every,
            TargetUpdate::HardUpdates { every } => {
                let n = self.core.counts.n_updates;
                n / every > (n - u64::from(steps)) / every
            }
            TargetUpdate::Soft { .. } => false,
        };
        if target_synced {
            self.core.target.copy_from(&self.core.policy)?;
            self.core.counts.n_target_syncs += 1;
        }
        Ok(UpdateOutcome::Learned(UpdateStats { loss: loss_sum / steps as f32, gradient_steps: steps, target_synced }))
    }

    /// Whether an interrupted update waits to be continued.
    #[must_use]
    pub fn update_in_progress(&self) -> bool {
        self.core.partial_update.is_some()
    }

    /// One gradient step on a fresh mini-batch; returns its loss.
    fn gradient_step(&mut self) -> Result<f32, AgentError> {
        let (b, d) = (self.core.config.batch_size, self.input_len());
        // Noisy: the target network's own fresh sample for this step.
        self.core.target.resample_noise(&mut self.core.noise_rng);
        match (self.core.config.sampling, &self.prioritized) {
            (Sampling::Prioritized(settings), Some(p)) => {
                p.tree.sample_segments(b, &mut self.core.replay_rng, &mut self.work.sampled_slots)?;
                self.replay.gather_slots_into(&self.work.sampled_slots, &mut self.work.batch)?;
                let beta = settings.beta(self.core.counts.n_updates);
                p.tree.importance_weights(&self.work.sampled_slots, beta, &mut self.work.weights_f64)?;
                self.work.weights.clear();
                self.work.weights.extend(self.work.weights_f64.iter().map(|&w| w as f32));
            }
            (Sampling::Recent, _) => self.replay.recent_into(b, &mut self.work.batch)?,
            _ => {
                self.replay.sample_into(b, &mut self.core.replay_rng, &mut self.work.batch)?;
            }
        }
        // The batch's rows are the network's input rows, gathered from the
        // compact frames straight into the batch's reused buffers; frames
        // of bytes stay bytes, converted as the first layer reads them.
        let states = network_inputs(self.work.batch.states(), b, d);
        let next_states = network_inputs(self.work.batch.next_states(), b, d);
        // y = R + γ^k·max Q_target(s′, ·)·(1 − terminated), formed inside
        // the network's parallel pass, chunk by chunk, right after the
        // target network's forward pass on that chunk's next states (and,
        // for Double DQN, the policy's). k = 1 and R = r without n-step
        // returns: `discounts[1]` is `γ as f32`.
        let rows = BatchRows {
            actions: self.work.batch.actions(),
            rewards: self.work.batch.rewards(),
            terminated: self.work.batch.terminated(),
            steps: self.work.batch.steps(),
            discounts: &self.work.discounts,
            weights: self.prioritized.is_some().then_some(&self.work.weights[..]),
        };
        let dqn;
        let c51;
        let loss: &dyn RowLoss<f32> = match self.work.readout.support().copied() {
            // Distributional: the cross-entropy against the projected target.
            Some(support) => {
                c51 = C51Loss { support, n_actions: self.core.spaces.n_actions, rows };
                &c51
            }
            None => {
                dqn = DqnLoss { kind: self.core.config.loss, rows };
                &dqn
            }
        };
        let both = [&self.core.target, &self.core.policy];
        let side =
            SideNets { nets: &both[..if self.core.config.double_dqn { 2 } else { 1 }], next_inputs: next_states };
        let sample_count = self.core.counts.sample_count;
        let (value, grads) = self
            .core
            .policy
            .gradients(
                states,
                loss,
                Some(side),
                &mut self.work.policy_pass,
                &mut self.work.grads,
                self.core.config.grad_clip,
            )
            .map_err(|e| match e {
                MlpError::NonFinite { what: Operand::Targets, .. } => AgentError::NonFiniteQ { sample_count },
                MlpError::NonFinite { what: Operand::Tensor(tensor), index } => {
                    AgentError::NonFiniteGradient { update: self.core.counts.n_updates + 1, tensor, index }
                }
                other => other.into(),
            })?;
        let update = self.core.counts.n_updates + 1;
        if !value.is_finite() {
            return Err(AgentError::NonFiniteLoss { update, value });
        }
        let grads = match self.core.config.max_grad_norm {
            None => grads,
            Some(max_norm) => {
                // Finite values have a finite norm (summed in f64): the
                // scaled values stay finite; checked again all the same.
                self.work.grads.clip_norm(max_norm);
                FiniteGradients::check(&self.work.grads)?
            }
        };
        self.core.optimizer.step_finite(&mut self.core.policy, grads)?;
        self.work.mean_policy = None;
        self.core.counts.n_updates = update;
        // Prioritized replay: each sampled transition's priority from the TD
        // error it had in this step (a slot drawn twice keeps its last).
        if let (Sampling::Prioritized(settings), Some(p)) = (self.core.config.sampling, &mut self.prioritized) {
            for (&slot, &td_error) in self.work.sampled_slots.iter().zip(self.work.policy_pass.row_values()) {
                let priority = settings.priority(td_error);
                p.tree.set(slot, priority)?;
                p.max_priority = p.max_priority.max(priority);
            }
        }
        Ok(value)
    }

    /// Replaces the policy (and target) network's parameters, e.g. with a
    /// saved policy for testing.
    ///
    /// # Errors
    /// [`AgentError::Network`] if the shapes differ from the configuration's.
    pub fn load_policy(&mut self, policy: Mlp<f32>) -> Result<(), AgentError> {
        // The policy's noise (if any) is kept: a saved policy has none.
        let noise = self.core.policy.noise().cloned();
        self.core.policy.copy_from(&policy)?;
        if let Some(noise) = noise {
            self.core.policy.set_noise(noise)?;
        }
        self.core.target.copy_from(&self.core.policy)?;
        self.work.mean_policy = None;
        Ok(())
    }
}

impl crate::Learner for Agent {
    fn input_format(&self) -> InputFormat {
        Agent::input_format(self)
    }
    fn act_batch(&mut self, observations: Frame<'_>, actions: &mut Vec<usize>) -> Result<(), AgentError> {
        Agent::act_batch(self, observations, actions)
    }
    fn q_values_batch(&mut self, inputs: &[f32], row_len: usize, out: &mut Vec<f32>) -> Result<(), AgentError> {
        out.clear();
        let rows = self.check_inputs(inputs, row_len)?;
        let inputs = ArrayView2::from_shape((rows, row_len), inputs).expect("whole rows, checked");
        let net = evaluation_net(&self.core.policy, &mut self.work.mean_policy);
        let q = net.forward_batch(inputs, &mut self.work.policy_pass)?;
        for row in q.rows() {
            let outputs = row.as_slice().expect("rows are contiguous");
            out.extend_from_slice(self.work.readout.q_values(outputs));
        }
        Ok(())
    }
    fn predict(&mut self, input: &[f32]) -> Result<usize, AgentError> {
        Agent::predict(self, input)
    }
    fn q_values(&mut self, input: &[f32]) -> Result<&[f32], AgentError> {
        Agent::q_values(self, input)
    }
    fn observe_from(&mut self, env: usize, transition: Transition<'_>) -> Result<(), AgentError> {
        Agent::observe_from(self, env, transition)
    }
    fn update(&mut self, interrupt: &dyn Fn() -> bool) -> Result<UpdateOutcome, AgentError> {
        Agent::update_interruptible(self, interrupt)
    }
    fn update_in_progress(&self) -> bool {
        Agent::update_in_progress(self)
    }
    fn epsilon(&self) -> f64 {
        Agent::epsilon(self)
    }
    fn n_updates(&self) -> u64 {
        Agent::n_updates(self)
    }
}

#[cfg(test)]
mod tests {
    use super::discounts;

    /// Without n-step returns the target's discount must be the seed's `γ as
    /// f32`, bit for bit.
    #[test]
    fn one_step_discount_is_gamma_itself() {
        for gamma in [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0, 0.123_456_789, 1.0 / 3.0] {
            let d = discounts(gamma, 3);
            assert_eq!(d[1].to_bits(), (gamma as f32).to_bits(), "gamma {gamma}");
            assert_eq!((d[0], d.len()), (1.0, 4));
            assert_eq!(d[2], (gamma * gamma) as f32);
        }
    }
}
