//! The learner's settings: [`DqnConfig`] with its checks, the ε schedule,
//! the target-network rule and the mini-batch sampling; the seed chapter's
//! values are [`DqnConfig::seed`].

use mlp::{
    AdamConfig, Architecture, Arithmetic, ConvLayer, ConvTrunk, DuelingStreams, LossKind, NoisyInit, NoisyLayers,
    OptimizerConfig, RmsPropConfig, Shape,
};
use replay::{FrameKind, FrameSpec, InputFormat, Stacking};
use serde::{Deserialize, Serialize};

use crate::{InvalidSetting, SettingSource};

/// What the environment decides for a learner: what one observation is
/// (a frame: its values and their kind, and its image shape if it is
/// one), its actions, and how many environments are stepped together
/// (each keeps its own n-step window and stack of frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spaces {
    /// One observation.
    pub frame: FrameSpec,
    /// A frame's image shape `[channels, height, width]` (its product is
    /// the frame's length), or `None` for a flat vector. Convolutions read
    /// it, the stacked frames as channels.
    pub image: Option<[usize; 3]>,
    /// The number of discrete actions, `0..n_actions`.
    pub n_actions: usize,
    /// Environments stepped together.
    pub envs: usize,
}

impl Spaces {
    /// One environment with `f32` observations of `obs_len` values and
    /// `n_actions` actions (classic control's).
    #[must_use]
    pub fn vectors(obs_len: usize, n_actions: usize) -> Self {
        Self { frame: FrameSpec::vector(obs_len), image: None, n_actions, envs: 1 }
    }

    /// The same spaces for `envs` environments stepped together.
    #[must_use]
    pub fn with_envs(self, envs: usize) -> Self {
        Self { envs, ..self }
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// ε as a function of how many training actions have been taken, in one
/// of two shapes ([`EpsilonShape`]): the seed's exponential decay,
/// `ε = end + (start − end) · exp(−sample_count / decay)`, or a straight
/// line from `start` to `end` over `decay` actions, then `end` (the shape of
/// Stable-Baselines3's `exploration_fraction` schedule, with `decay` its
/// fraction of the training steps).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpsilonSchedule {
    /// ε before the first action.
    pub start: f64,
    /// The value ε decays towards.
    pub end: f64,
    /// Exponential: the number of actions over which the gap to `end`
    /// shrinks by `e`; linear: the number of actions to reach `end`.
    pub decay: f64,
    /// How ε goes from `start` to `end` (left out: exponential).
    #[serde(default)]
    pub shape: EpsilonShape,
}

/// The shape of an [`EpsilonSchedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EpsilonShape {
    /// `end + (start − end) · exp(−t / decay)` (the seed's).
    #[default]
    Exponential,
    /// `start + (end − start) · min(t / decay, 1)`.
    Linear,
    /// `start` for the first `hold` actions (`t < hold`), then `Linear`
    /// counted from there (`t − hold`). Young & Tian act uniformly for
    /// 5 000 frames and then decay over 100 000: their MinAtar presets are
    /// `HeldLinear(hold: 5001)`, as their frame `t` is action `t + 1` here
    /// (the seed counts an action before its ε). Last in the list: a
    /// tabular checkpoint stores the shape by its index.
    HeldLinear {
        /// Actions at `start` before the line begins.
        hold: u64,
    },
}

impl EpsilonSchedule {
    /// The seed's schedule: 0.95 → 0.01 with decay 500.
    #[must_use]
    pub fn seed() -> Self {
        Self { start: 0.95, end: 0.01, decay: 500.0, shape: EpsilonShape::Exponential }
    }

    /// ε after `sample_count` training actions.
    #[must_use]
    pub fn value(&self, sample_count: u64) -> f64 {
        let linear = |t: f64| {
            // Exactly `end` from `decay` on, and never past it on the way
            // (rounding could overshoot by an ulp).
            if t >= self.decay {
                self.end
            } else {
                (self.start + (self.end - self.start) * (t / self.decay))
                    .clamp(self.start.min(self.end), self.start.max(self.end))
            }
        };
        match self.shape {
            EpsilonShape::Exponential => {
                self.end + (self.start - self.end) * (-(sample_count as f64) / self.decay).exp()
            }
            EpsilonShape::Linear => linear(sample_count as f64),
            EpsilonShape::HeldLinear { hold } => match sample_count.checked_sub(hold) {
                None => self.start,
                Some(t) => linear(t as f64),
            },
        }
    }
}

/// How the target network follows the policy network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum TargetUpdate {
    /// Copy the policy into the target after an update when the action count
    /// reached a multiple of `every` since the previous update call: with one
    /// action per update, `sample_count % every == 0` (the seed, with
    /// `every = 4`); with several environments acting between updates, no
    /// multiple is skipped.
    Hard {
        /// C, in training actions.
        every: u64,
    },
    /// After every gradient step, `θ_target ← τ·θ_policy + (1 − τ)·θ_target`.
    Soft {
        /// τ, in (0, 1].
        tau: f64,
    },
    /// Copy the policy into the target after every `every`-th gradient
    /// step, counted in steps (Young & Tian's `TARGET_NETWORK_UPDATE_FREQ`:
    /// their copy follows update 1 000, 2 000, …, and with learning from
    /// frame 5 001 that is one frame after `Hard { every: 1000 }`'s).
    HardUpdates {
        /// C, in gradient steps.
        every: u64,
    },
}

/// How mini-batches are drawn from the replay buffer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Sampling {
    /// Uniformly at random, without replacement (the seed).
    Uniform,
    /// The most recent transitions: consecutive, hence correlated, samples —
    /// what learning without replay sees. For experiments.
    Recent,
    /// Proportional prioritized replay (Schaul et al. 2016): transition i
    /// is drawn with probability `pᵢ / Σp`, `pᵢ = (|δᵢ| + ε)^α` from its
    /// last TD error δ (new transitions get the largest priority so far),
    /// one draw in each of `batch_size` equal segments of the total; the
    /// loss is weighted by `wᵢ = (N·P(i))^(−β) / max w`, β rising linearly
    /// to 1.
    Prioritized(Prioritized),
}

/// Distributional DQN (C51, Bellemare et al. 2017): the network gives, per
/// action, logits of a distribution over `n_atoms` returns evenly spaced on
/// `[v_min, v_max]`; it learns by the cross-entropy against the projected
/// Bellman target, and acts by the expected value. [`Default`] is the
/// paper's 51 atoms on [−10, 10].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Distributional {
    /// Atoms of the support, 2 to 256.
    pub n_atoms: usize,
    /// The smallest return represented.
    pub v_min: f64,
    /// The largest return represented.
    pub v_max: f64,
}

impl Default for Distributional {
    fn default() -> Self {
        Self { n_atoms: 51, v_min: -10.0, v_max: 10.0 }
    }
}

/// Dueling heads (Wang et al. 2016): the hidden layers become a shared
/// trunk read by a value stream and an advantage stream, combined as
/// `Q(s, a) = V(s) + A(s, a) − mean_a A(s, a)` (per atom when
/// distributional). [`Default`] gives each stream one hidden layer of 128,
/// the seed's width, as the paper gives each stream one hidden layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dueling {
    /// Hidden widths of the value stream (empty: one linear layer).
    pub value_hidden: Vec<usize>,
    /// Hidden widths of the advantage stream.
    pub advantage_hidden: Vec<usize>,
}

impl Default for Dueling {
    fn default() -> Self {
        Self { value_hidden: vec![128], advantage_hidden: vec![128] }
    }
}

/// Noisy Nets (Fortunato et al. 2018): factorised Gaussian noisy linear
/// layers, `W = μ + σ ⊙ f(ε_out) f(ε_in)ᵀ`, `f(x) = sgn(x)·√|x|`, μ
/// initialised as PyTorch's `nn.Linear` and σ as `σ₀/√fan_in`. The policy
/// network's noise is drawn afresh before every training action (one draw
/// for all environments stepped together) and the target network's before
/// every gradient step, from the learner's own seeded stream; greedy
/// evaluation (`predict`, test episodes, probes) uses the mean weights μ.
/// Exploration comes from the noise: ε-greedy is off unless
/// `epsilon_greedy` is set. [`Default`] is the paper's σ₀ = 0.5 on the
/// heads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Noisy {
    /// σ₀ of the initialisation.
    pub sigma0: f64,
    /// Which layers are noisy: `Heads` (the output layer, or every layer
    /// of both dueling streams) or `All`.
    pub layers: NoisyLayers,
    /// Whether ε-greedy exploration (the `epsilon` schedule) applies too.
    pub epsilon_greedy: bool,
}

impl Default for Noisy {
    fn default() -> Self {
        Self { sigma0: 0.5, layers: NoisyLayers::Heads, epsilon_greedy: false }
    }
}

/// The settings of prioritized replay; [`Default`] is the paper's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prioritized {
    /// How strongly priorities count: 0 is uniform sampling.
    pub alpha: f64,
    /// β at the first gradient step.
    pub beta_start: f64,
    /// Gradient steps over which β rises linearly from `beta_start` to 1.
    pub beta_steps: u64,
    /// Added to |δ| so that no transition's priority is 0.
    pub eps: f64,
}

impl Default for Prioritized {
    fn default() -> Self {
        Self { alpha: 0.6, beta_start: 0.4, beta_steps: 100_000, eps: 1e-6 }
    }
}

impl Prioritized {
    /// β after `steps` gradient steps: `β₀ + (1 − β₀)·min(1, steps / beta_steps)`.
    #[must_use]
    pub fn beta(&self, steps: u64) -> f64 {
        let progress = (steps as f64 / self.beta_steps as f64).min(1.0);
        self.beta_start + (1.0 - self.beta_start) * progress
    }

    /// The priority of a transition with TD error `td_error`:
    /// `(|δ| + ε)^α`, in f64.
    #[must_use]
    pub fn priority(&self, td_error: f32) -> f64 {
        (f64::from(td_error).abs() + self.eps).powf(self.alpha)
    }
}

/// Convolutions in front of the hidden layers, reading each observation as
/// an image (the stacked frames as its channels), each followed by a ReLU,
/// then PyTorch's channel-major flatten into the linear layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Network {
    /// Mnih et al. (2015): 32 filters 8×8 stride 4, 64 4×4 stride 2, 64
    /// 3×3 stride 1, then a hidden layer of 512 (made for 4 × 84 × 84
    /// frames).
    Nature,
    /// Young & Tian (2019)'s MinAtar network: 16 filters 3×3 stride 1
    /// without padding, then a hidden layer of 128.
    MinAtar,
    /// Dopamine's MinAtar network: 16 filters 3×3 stride 1 with 'same'
    /// padding, straight into the output layer.
    DopamineMinAtar,
    /// Convolutions written out (`(out_channels: 16, kernel: 3, stride:
    /// 1, padding: 0)`, padding 0 if left out), then the `hidden` layers.
    Conv(Vec<ConvLayer>),
}

impl Network {
    /// Its convolutions.
    #[must_use]
    pub fn conv_layers(&self) -> Vec<ConvLayer> {
        let conv = |out_channels, kernel, stride, padding| ConvLayer { out_channels, kernel, stride, padding };
        match self {
            Self::Nature => vec![conv(32, 8, 4, 0), conv(64, 4, 2, 0), conv(64, 3, 1, 0)],
            Self::MinAtar => vec![conv(16, 3, 1, 0)],
            Self::DopamineMinAtar => vec![conv(16, 3, 1, 1)],
            Self::Conv(layers) => layers.clone(),
        }
    }

    /// The hidden widths a named network comes with (`None`: the
    /// configuration's `hidden`).
    #[must_use]
    pub fn hidden(&self) -> Option<Vec<usize>> {
        match self {
            Self::Nature => Some(vec![512]),
            Self::MinAtar => Some(vec![128]),
            Self::DopamineMinAtar => Some(Vec::new()),
            Self::Conv(_) => None,
        }
    }
}

/// The optimizer of the policy network's parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum OptimizerChoice {
    /// PyTorch's Adam with β = (0.9, 0.999) and ε = 1e-8 (the seed's).
    #[default]
    Adam,
    /// PyTorch's RMSprop, momentum 0, ε added after the square root
    /// (Young & Tian's MinAtar DQN: `RmsProp(alpha: 0.95, eps: 0.01,
    /// centered: true)` with lr 2.5e-4).
    RmsProp {
        /// The decay of the averages (α), in [0, 1).
        alpha: f64,
        /// Added after the square root (ε), positive.
        eps: f64,
        /// Divide by the gradients' standard deviation rather than their
        /// root mean square.
        centered: bool,
    },
}

/// Every setting of the learner. [`DqnConfig::seed`] gives the chapter's;
/// [`Agent::new`](crate::Agent::new) checks them against the environment's
/// [`Spaces`].
///
/// As a configuration file section, missing fields take the seed's values
/// ([`Default`] is the seed's settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DqnConfig {
    /// How many of an episode's most recent observations make the
    /// network's input, and how a stack is padded at an episode's start
    /// (`(frames: 4, padding: Repeat)` for Atari); the seed's one
    /// observation by default. The replay buffer stores each observation
    /// once and rebuilds the stacks. With `by_environment: true` the
    /// environment stacks itself (each observation is the stack, its
    /// frames whole channels of the image) and the buffer still stores a
    /// frame a step where stacks overlap.
    // Settings added after the chapter's runs are left out of the RON text
    // at their default, so those runs' text and cache keys stay as they were.
    #[serde(skip_serializing_if = "is_default")]
    pub stack: Stacking,
    /// The factor observations are multiplied by on their way into the
    /// network; `None` (the default): 1/255 for `u8` pixels (PyTorch's `x /
    /// 255.0`, bit for bit), 1 for `f32` values and binary planes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obs_scale: Option<f64>,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// The discount γ, in [0, 1].
    pub gamma: f64,
    /// Adam's learning rate.
    pub lr: f64,
    /// Transitions per mini-batch.
    pub batch_size: usize,
    /// The replay buffer's capacity.
    pub buffer_capacity: usize,
    /// How mini-batches are drawn.
    pub sampling: Sampling,
    /// The exploration schedule.
    pub epsilon: EpsilonSchedule,
    /// How the target network follows the policy.
    pub target_update: TargetUpdate,
    /// Double DQN targets: the policy picks the next action, the target
    /// network values it.
    pub double_dqn: bool,
    /// The loss between Q(s, a) and the target.
    pub loss: LossKind,
    /// Gradients are clamped element-wise to [−clip, clip]; `None` for no clamping.
    pub grad_clip: Option<f32>,
    /// The gradients' global Euclidean norm is scaled down to at most this
    /// (PyTorch's `clip_grad_norm_`, Stable-Baselines3's `max_grad_norm`),
    /// after any element-wise clamp; `None` (the seed): no norm clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_grad_norm: Option<f32>,
    /// Gradient steps per training action.
    pub gradient_steps: u32,
    /// No learning until the buffer holds this many transitions (at least
    /// a batch is always needed).
    pub learning_starts: usize,
    /// Rows per parallel chunk in the network's batches (results depend on
    /// it in the last bits, never on the thread count).
    pub chunk_rows: usize,
    /// How the batched passes round each multiply-and-accumulate:
    /// `Separate` (the seed; the same bits on every machine as every
    /// earlier run) or `Fused` (fused multiply-adds: other bits, again the
    /// same on every machine and thread count; faster on CPUs with FMA).
    /// Acting (`forward_single`) always uses `Separate`.
    pub arithmetic: Arithmetic,
    /// n of n-step returns: each stored transition sums the discounted
    /// rewards of up to n steps of one environment and bootstraps with
    /// `γ^k` from the observation k steps on (fewer at an episode's end).
    /// 1, the seed, is one-step TD; at most 255.
    pub n_step: usize,
    /// Distributional DQN (C51) instead of scalar Q-values; `None` (the
    /// seed) for scalar. The `loss` setting does not apply to it (its loss
    /// is the cross-entropy).
    pub distributional: Option<Distributional>,
    /// Dueling heads after the hidden layers (the trunk); `None` (the
    /// seed) for one linear output layer.
    pub dueling: Option<Dueling>,
    /// Noisy layers for exploration; `None` (the seed) for none.
    pub noisy: Option<Noisy>,
    /// Convolutions in front of the hidden layers for image observations:
    /// `Some(Nature)`, `Some(MinAtar)`, `Some(DopamineMinAtar)` (each with
    /// its own hidden layers, so `hidden` stays at its default) or
    /// `Some(Conv([...]))` (then `hidden`); `None` (the seed): the
    /// observation is read as a flat vector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// The optimizer (its learning rate is `lr`): `Adam` (the seed) or
    /// `RmsProp(alpha: …, eps: …, centered: …)`.
    #[serde(skip_serializing_if = "is_default")]
    pub optimizer: OptimizerChoice,
}

impl Default for DqnConfig {
    fn default() -> Self {
        Self::seed()
    }
}

impl DqnConfig {
    /// The most parameters a network may have: 2²⁴ (16.8 M; the Atari DQN
    /// has 1.7 M). A learner keeps about a dozen copies (policy, target,
    /// Adam's two moments, gradients, the kernels' layouts), so this bounds
    /// its networks to about a gigabyte: asking for the largest is not an
    /// allocation abort on a small machine. Larger is taken for a typo.
    pub const MAX_PARAMS: usize = 1 << 24;

    /// The most activations one batched pass may hold: 2²⁶ values (256 MiB
    /// of `f32`), counted as `batch_size` × the sum of the layer widths.
    pub const MAX_BATCH_ACTIVATIONS: usize = 1 << 26;

    /// The seed chapter's settings: hidden 128 × 128, γ 0.95, lr 1e-4,
    /// batch 64, buffer 100 000, ε 0.95 → 0.01 over 500, hard target copy
    /// every 4, MSE, gradients clamped to [−1, 1], one step per action, one
    /// observation per input.
    #[must_use]
    pub fn seed() -> Self {
        Self {
            stack: Stacking::default(),
            obs_scale: None,
            hidden: vec![128, 128],
            gamma: 0.95,
            lr: 1e-4,
            batch_size: 64,
            buffer_capacity: 100_000,
            sampling: Sampling::Uniform,
            epsilon: EpsilonSchedule::seed(),
            target_update: TargetUpdate::Hard { every: 4 },
            double_dqn: false,
            loss: LossKind::Mse,
            grad_clip: Some(1.0),
            max_grad_norm: None,
            gradient_steps: 1,
            learning_starts: 0,
            chunk_rows: mlp::DEFAULT_CHUNK_ROWS,
            arithmetic: Arithmetic::Separate,
            n_step: 1,
            distributional: None,
            dueling: None,
            noisy: None,
            network: None,
            optimizer: OptimizerChoice::Adam,
        }
    }

    /// Rainbow (Hessel et al. 2018), as `presets/cartpole-rainbow.ron` sets
    /// it for CartPole-v1: Double DQN, dueling heads (a trunk of 128, each
    /// stream one hidden layer of 128), noisy streams (σ₀ 0.5, no ε),
    /// 3-step returns, prioritized replay (α 0.5, β 0.4 → 1 over 20 000
    /// steps), C51 with 51 atoms on [0, 100] (the returns of a reward of 1
    /// a step at γ 0.99; other rewards want another support), γ 0.99, lr
    /// 1e-3, batch 64, buffer 50 000, learning from 1 000 transitions, a
    /// hard target copy every 200 actions, gradients clamped to ±10.
    #[must_use]
    pub fn rainbow() -> Self {
        Self {
            hidden: vec![128],
            gamma: 0.99,
            lr: 1e-3,
            buffer_capacity: 50_000,
            target_update: TargetUpdate::Hard { every: 200 },
            double_dqn: true,
            grad_clip: Some(10.0),
            max_grad_norm: None,
            learning_starts: 1000,
            n_step: 3,
            sampling: Sampling::Prioritized(Prioritized { alpha: 0.5, beta_steps: 20_000, ..Prioritized::default() }),
            distributional: Some(Distributional { n_atoms: 51, v_min: 0.0, v_max: 100.0 }),
            dueling: Some(Dueling::default()),
            noisy: Some(Noisy::default()),
            ..Self::seed()
        }
    }

    /// The settings as RON text, as a configuration file holds them
    /// (settings added later are left out at their default).
    #[must_use]
    pub fn to_ron(&self) -> String {
        ron::ser::to_string(self).expect("the settings always serialize")
    }

    /// Settings from RON text.
    ///
    /// # Errors
    /// The parser's error, with the position.
    pub fn from_ron(text: &str) -> Result<Self, ron::error::SpannedError> {
        ron::from_str(text)
    }

    /// How observations of `spaces` become the network's input: this
    /// many stacked, scaled as set (or as their kind wants).
    #[must_use]
    pub fn input_format(&self, spaces: &Spaces) -> InputFormat {
        let scale = self.obs_scale.unwrap_or(match spaces.frame.kind {
            FrameKind::U8 => 1.0 / 255.0,
            FrameKind::F32 | FrameKind::Bit => 1.0,
        });
        let frame = if self.stack.by_environment {
            // The observation is the stack: a frame is a `frames`-th of it.
            FrameSpec { len: spaces.frame.len / self.stack.frames.max(1), kind: spaces.frame.kind }
        } else {
            spaces.frame
        };
        InputFormat { frame, stacking: self.stack, scale }
    }

    /// The length of the network's input: the stack's frames × a frame's
    /// values (an observation's, when the environment stacks).
    #[must_use]
    pub fn input_len(&self, spaces: &Spaces) -> usize {
        if self.stack.by_environment { spaces.frame.len } else { self.stack.frames.saturating_mul(spaces.frame.len) }
    }

    /// The image the network reads: a frame's, with the stacked frames as
    /// channels (an observation's, when the environment stacks).
    fn input_image(&self, [c, h, w]: [usize; 3]) -> [usize; 3] {
        if self.stack.by_environment { [c, h, w] } else { [c.saturating_mul(self.stack.frames), h, w] }
    }

    /// Checks every setting for an environment with `spaces`; the error
    /// names the first bad one.
    ///
    /// # Errors
    /// [`InvalidSetting`] with the field and the reason.
    pub fn validate(&self, spaces: &Spaces) -> Result<(), InvalidSetting> {
        let bad = |field: &'static str, reason: String| Err(InvalidSetting::new(field, reason));
        if let Err(e) = spaces.frame.check() {
            return Err(InvalidSetting::new("observations", "the environment's frames cannot be stored")
                .because(SettingSource::Replay(e)));
        }
        if spaces.n_actions == 0 {
            return bad("n_actions", "must be at least 1".into());
        }
        if spaces.n_actions > replay::MAX_ACTION + 1 {
            return bad("n_actions", format!("{} actions: at most {}", spaces.n_actions, replay::MAX_ACTION + 1));
        }
        if !(1..=replay::MAX_ENVS).contains(&spaces.envs) {
            return bad("envs", format!("{} environments: from 1 to {}", spaces.envs, replay::MAX_ENVS));
        }
        if self.stack.by_environment && self.stack.frames > 0 {
            let k = self.stack.frames;
            if !spaces.frame.len.is_multiple_of(k) {
                return bad("stack", format!("observations of {} values are not {k} stacked frames", spaces.frame.len));
            }
            if let Some([c, h, w]) = spaces.image.filter(|[c, _, _]| !c.is_multiple_of(k)) {
                return bad("stack", format!("{c}×{h}×{w} observations are not {k} stacked frames of whole channels"));
            }
        }
        if let Err(e) = self.input_format(spaces).check() {
            let (field, reason) = if matches!(e, replay::ReplayError::Scale { .. }) {
                ("obs_scale", "the scale cannot make inputs")
            } else {
                ("stack", "the stack cannot be rebuilt")
            };
            return Err(InvalidSetting::new(field, reason).because(SettingSource::Replay(e)));
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return bad("hidden", format!("layer {i} has width 0"));
        }
        if let Some(network) = &self.network {
            if network.hidden().is_some() && self.hidden != Self::seed().hidden {
                return bad(
                    "hidden",
                    format!("{:?} comes with its own hidden layers; write Conv([...]) with hidden for others", network),
                );
            }
            let Some([c, h, w]) = spaces.image else {
                return bad("network", format!("{network:?} reads images, and the observations are flat vectors"));
            };
            let input = self.input_image([c, h, w]);
            let trunk = ConvTrunk { input, layers: network.conv_layers() };
            if let Err(e) = trunk.shapes() {
                return Err(InvalidSetting::new(
                    "network",
                    format!("{network:?} does not fit {c}×{h}×{w} observations"),
                )
                .because(SettingSource::Network(e)));
            }
        }
        match self.optimizer {
            OptimizerChoice::Adam => {}
            OptimizerChoice::RmsProp { alpha, eps, .. } => {
                if !(0.0..1.0).contains(&alpha) {
                    return bad("optimizer", format!("RmsProp(alpha: {alpha}): alpha must be in [0, 1)"));
                }
                if !(eps > 0.0 && eps.is_finite()) {
                    return bad("optimizer", format!("RmsProp(eps: {eps}): eps must be positive and finite"));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad("gamma", format!("{} is outside [0, 1]", self.gamma));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", format!("{} is not a positive finite number", self.lr));
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.buffer_capacity == 0 {
            return bad("buffer_capacity", "must be at least 1".into());
        }
        if self.batch_size > self.buffer_capacity {
            return bad(
                "batch_size",
                format!("{} is larger than buffer_capacity {}", self.batch_size, self.buffer_capacity),
            );
        }
        let EpsilonSchedule { start, end, decay, .. } = self.epsilon;
        if !(0.0..=1.0).contains(&start) {
            return bad("epsilon.start", format!("{start} is outside [0, 1]"));
        }
        if !(0.0..=1.0).contains(&end) {
            return bad("epsilon.end", format!("{end} is outside [0, 1]"));
        }
        if !(decay > 0.0 && decay.is_finite()) {
            return bad("epsilon.decay", format!("{decay} is not a positive finite number"));
        }
        match self.target_update {
            TargetUpdate::Hard { every: 0 } => {
                return bad("target_update", "Hard(every: 0): must be at least 1".into());
            }
            TargetUpdate::HardUpdates { every: 0 } => {
                return bad("target_update", "HardUpdates(every: 0): must be at least 1".into());
            }
            TargetUpdate::Soft { tau } if !(tau > 0.0 && tau <= 1.0) => {
                return bad("target_update", format!("Soft(tau: {tau}): tau must be in (0, 1]"));
            }
            _ => {}
        }
        if let LossKind::Huber { delta } = self.loss
            && !(delta > 0.0 && delta.is_finite())
        {
            return bad("loss", format!("Huber(delta: {delta}): delta must be positive"));
        }
        if let Some(clip) = self.grad_clip
            && !(clip > 0.0 && clip.is_finite())
        {
            return bad("grad_clip", format!("{clip} is not a positive finite number"));
        }
        if let Some(norm) = self.max_grad_norm
            && !(norm > 0.0 && norm.is_finite())
        {
            return bad("max_grad_norm", format!("{norm} is not a positive finite number"));
        }
        if self.gradient_steps == 0 {
            return bad("gradient_steps", "must be at least 1".into());
        }
        if self.learning_starts > self.buffer_capacity {
            return bad(
                "learning_starts",
                format!("{} is larger than buffer_capacity {}", self.learning_starts, self.buffer_capacity),
            );
        }
        if self.chunk_rows == 0 {
            return bad("chunk_rows", "must be at least 1".into());
        }
        if !(1..=255).contains(&self.n_step) {
            return bad("n_step", format!("{} is outside 1..=255", self.n_step));
        }
        if let Some(d) = self.distributional {
            crate::c51::Support::new(d.v_min, d.v_max, d.n_atoms)?;
            if d.n_atoms > crate::c51::MAX_ATOMS || spaces.n_actions > crate::c51::MAX_ACTIONS {
                return bad(
                    "distributional",
                    format!(
                        "{} atoms and {} actions: at most {} and {}",
                        d.n_atoms,
                        spaces.n_actions,
                        crate::c51::MAX_ATOMS,
                        crate::c51::MAX_ACTIONS
                    ),
                );
            }
        }
        if let Sampling::Prioritized(p) = self.sampling {
            if !(p.alpha >= 0.0 && p.alpha.is_finite()) {
                return bad(
                    "sampling",
                    format!("Prioritized(alpha: {}): alpha must be finite and at least 0", p.alpha),
                );
            }
            if !(0.0..=1.0).contains(&p.beta_start) {
                return bad(
                    "sampling",
                    format!("Prioritized(beta_start: {}): beta_start must be in [0, 1]", p.beta_start),
                );
            }
            if p.beta_steps == 0 {
                return bad("sampling", "Prioritized(beta_steps: 0): beta_steps must be at least 1".into());
            }
            if !(p.eps > 0.0 && p.eps.is_finite()) {
                return bad("sampling", format!("Prioritized(eps: {}): eps must be positive and finite", p.eps));
            }
        }
        if let Some(Noisy { sigma0, .. }) = self.noisy
            && !(sigma0 > 0.0 && sigma0.is_finite())
        {
            return bad("noisy", format!("sigma0 {sigma0} is not a positive finite number"));
        }
        if let Some(d) = &self.dueling {
            if self.hidden_widths().is_empty() && self.network.is_none() {
                return bad("dueling", "needs at least one hidden layer (the shared trunk)".into());
            }
            if let Some(i) = d.value_hidden.iter().position(|&h| h == 0) {
                return bad("dueling", format!("value_hidden layer {i} has width 0"));
            }
            if let Some(i) = d.advantage_hidden.iter().position(|&h| h == 0) {
                return bad("dueling", format!("advantage_hidden layer {i} has width 0"));
            }
        }
        // A network this size is a typo, and allocating it would abort.
        let max = Self::MAX_PARAMS;
        // Counted with checks: the widths come from a file.
        let shape = self.shape(spaces).ok();
        let Some(shape) = shape.filter(|s| s.param_count().is_some_and(|n| n <= max)) else {
            // Blame the size that is too large on its own, if one is.
            let field = if self.input_len(spaces) > max {
                "observations"
            } else if spaces.n_actions > max {
                "n_actions"
            } else if self
                .dueling
                .as_ref()
                .is_some_and(|d| d.value_hidden.iter().chain(&d.advantage_hidden).any(|&w| w > max))
            {
                "dueling"
            } else {
                "hidden"
            };
            let sizes = self.layer_sizes(spaces);
            return bad(field, format!("the layer sizes {sizes:?} make a network of more than {max} parameters"));
        };
        // A convolution also holds its unfolded patches.
        let activations = shape
            .layers
            .iter()
            .try_fold(shape.inputs(), |n, l| {
                let patches = l.conv_shape().map_or(Some(0), |c| c.out_pixels().checked_mul(c.patch_len()))?;
                n.checked_add(l.outputs)?.checked_add(patches)
            })
            .and_then(|w| w.checked_mul(self.batch_size));
        if activations.is_none_or(|n| n > Self::MAX_BATCH_ACTIVATIONS) {
            let max = Self::MAX_BATCH_ACTIVATIONS;
            let sizes = self.layer_sizes(spaces);
            return bad(
                "batch_size",
                format!("{} rows through layers {sizes:?} hold more than {max} activations", self.batch_size),
            );
        }
        Ok(())
    }

    /// Floating-point operations (a multiply-add counts 2) of one gradient
    /// step with these settings: the target network's forward pass on the
    /// batch's next states (and, for Double DQN, the policy's too), the
    /// policy's forward pass on the states, and its backward pass (weight
    /// gradients of every layer, input gradients of every layer but the
    /// first). Element-wise work (ReLU, bias, Adam) is left out: it is a few
    /// percent. For benchmarks' FLOP rates.
    #[must_use]
    pub fn gradient_step_flop(&self, spaces: &Spaces) -> u64 {
        let Ok(shape) = self.shape(spaces) else { return 0 };
        // Multiply-adds per row: the weight's size, times the output
        // pixels for a convolution.
        let products: Vec<u64> = shape
            .layers
            .iter()
            .map(|l| {
                let (rows, cols) = l.weight_dims();
                let pixels = l.conv_shape().map_or(1, |c| c.out_pixels());
                (rows as u64).saturating_mul(cols as u64).saturating_mul(pixels as u64)
            })
            .collect();
        let forward: u64 = products.iter().sum();
        // Every layer but the first (the only one reading the input) passes
        // its gradient on.
        let input_grads: u64 = products.iter().skip(1).sum();
        let next_state_passes = if self.double_dqn { 2 } else { 1 };
        let per_row = (next_state_passes + 2) * forward + input_grads;
        2 * self.batch_size as u64 * per_row
    }

    /// The network's widths: observation, hidden layers (the trunk, with
    /// dueling heads), outputs (one per action, or `n_atoms` per action
    /// when distributional).
    #[must_use]
    pub fn layer_sizes(&self, spaces: &Spaces) -> Vec<usize> {
        let mut sizes = vec![self.input_len(spaces)];
        sizes.extend(self.hidden_widths());
        sizes.push(self.outputs(spaces));
        sizes
    }

    /// The hidden widths: the named network's, or `hidden`.
    #[must_use]
    pub fn hidden_widths(&self) -> Vec<usize> {
        self.network.as_ref().and_then(Network::hidden).unwrap_or_else(|| self.hidden.clone())
    }

    /// The optimizer these settings ask for, with the learning rate.
    #[must_use]
    pub fn optimizer_config(&self) -> OptimizerConfig {
        match self.optimizer {
            OptimizerChoice::Adam => OptimizerConfig::Adam(AdamConfig::new(self.lr)),
            OptimizerChoice::RmsProp { alpha, eps, centered } => {
                OptimizerConfig::RmsProp(RmsPropConfig { lr: self.lr, alpha, eps, centered })
            }
        }
    }

    /// The number of network outputs: one per action, or `n_atoms` per
    /// action when distributional.
    fn outputs(&self, spaces: &Spaces) -> usize {
        spaces.n_actions.saturating_mul(self.distributional.map_or(1, |d| d.n_atoms))
    }

    /// The network these settings ask for on `spaces`.
    #[must_use]
    pub fn architecture(&self, spaces: &Spaces) -> Architecture {
        // The stacked frames are the image's channels; a network without
        // an image shape is refused by `validate` (and here reads a column).
        let image = spaces.image.unwrap_or([spaces.frame.len, 1, 1]);
        let conv = self.network.as_ref().map(|n| ConvTrunk { input: self.input_image(image), layers: n.conv_layers() });
        Architecture {
            inputs: self.input_len(spaces),
            hidden: self.hidden_widths(),
            outputs: self.outputs(spaces),
            dueling: self.dueling.as_ref().map(|d| DuelingStreams {
                value_hidden: d.value_hidden.clone(),
                advantage_hidden: d.advantage_hidden.clone(),
                value_outputs: self.distributional.map_or(1, |d| d.n_atoms),
            }),
            noisy: self.noisy.map(|n| NoisyInit { layers: n.layers, sigma0: n.sigma0 }),
            conv,
        }
    }

    /// The shape of that network.
    ///
    /// # Errors
    /// [`InvalidSetting`] naming `hidden` (or `dueling`) when the widths
    /// make no network.
    pub fn shape(&self, spaces: &Spaces) -> Result<Shape, InvalidSetting> {
        self.architecture(spaces).shape().map_err(|e| {
            let field = if self.network.is_some() {
                "network"
            } else if self.dueling.is_some() {
                "dueling"
            } else {
                "hidden"
            };
            InvalidSetting::new(field, "the widths make no network").because(SettingSource::Network(e))
        })
    }
}
