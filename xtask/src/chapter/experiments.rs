//! The chapter's experiments: one per exercise, each a few variants of the
//! seed configuration run on several seeds, and their figures.

use std::collections::BTreeMap;
use std::path::Path;

use runner::{
    DuplicateActionSetting, EpsilonSchedule, EpsilonShape, LearnerSetting, RunConfig, Sampling, TargetUpdate,
};

use super::stats::{band, on_step_grid, smooth};
use super::{RunRecord, run_key};
use crate::plot::{Figure, PALETTE, Series, save_svg, test_figure, train_figure};

/// One setting of an experiment, run on every seed.
pub struct Variant {
    /// The name the template uses (`ex2-decay500`).
    pub id: &'static str,
    /// The name a reader sees.
    pub label: String,
    /// One configuration per seed.
    pub configs: Vec<RunConfig>,
}

/// What a figure's x-axis counts.
#[derive(Clone, Copy, PartialEq)]
pub enum XAxis {
    Episodes,
    /// Environment steps, for comparisons on an equal step budget.
    Steps,
}

/// One exercise's experiment.
pub struct Experiment {
    pub id: &'static str,
    pub title: &'static str,
    pub x_axis: XAxis,
    pub variants: Vec<Variant>,
}

/// Episodes in the moving average applied to each seed's curve.
const SMOOTH: usize = 10;

/// The seed chapter's configuration, or its tiny stand-in for `--quick`.
fn base(quick: bool) -> RunConfig {
    let mut config = RunConfig::default();
    if quick {
        config.train_episodes = 8;
        config.test_episodes = 2;
        config.agent.hidden = vec![16, 16];
    }
    config
}

/// The run shown in the chapter's own training curves and animation: the
/// seed configuration, seed 0.
pub fn showcase(quick: bool) -> RunConfig {
    base(quick)
}

fn variant(id: &'static str, label: &str, quick: bool, edit: impl Fn(&mut RunConfig)) -> Variant {
    variant_of(&base(quick), id, label, quick, edit)
}

/// A variant of `base` (part two's experiments start from other
/// environments' settings), on 10 seeds (`quick`: 2).
fn variant_of(base: &RunConfig, id: &'static str, label: &str, quick: bool, edit: impl Fn(&mut RunConfig)) -> Variant {
    let seeds = if quick { 0..2 } else { 0..10 };
    let configs = seeds
        .map(|seed| {
            let mut c = base.clone();
            edit(&mut c);
            c.seed = seed;
            c
        })
        .collect();
    Variant { id, label: label.to_string(), configs }
}

/// Part two's starting point on `env`: its preset (`--env`) with a
/// 64×64 network, a budget of `steps` environment steps and 20 test
/// episodes, without early stopping (`quick`: 400 steps, 16×16, 2 tests).
fn part_two_base(env: &str, steps: u64, quick: bool) -> RunConfig {
    let mut c = RunConfig::for_env(env).expect("a known environment");
    c.max_train_steps = Some(if quick { 400 } else { steps });
    c.train_episodes = 1_000_000;
    c.early_stop = None;
    c.test_episodes = if quick { 2 } else { 20 };
    c.agent.hidden = if quick { vec![16, 16] } else { vec![64, 64] };
    if quick {
        c.agent.learning_starts = c.agent.learning_starts.min(100);
    }
    c
}

/// Part two: what DQN's improvements claim, tested where the claim should
/// show (three actions, a hard exploration problem).
fn part_two(quick: bool) -> Vec<Experiment> {
    let double = |c: &mut RunConfig| c.agent.double_dqn = true;
    let over = |env: &'static str, id: &'static str, title, steps| {
        let mut base = part_two_base(env, steps, quick);
        if env == "acrobot" {
            // As the sample-efficiency experiment's, whose DQN runs these
            // are then: evaluations leave training as it is.
            base.early_stop = evaluations(10_000, quick);
        }
        Experiment {
            id,
            title,
            x_axis: XAxis::Steps,
            variants: vec![
                variant_of(&base, if env == "acrobot" { "p2d-acro-dqn" } else { "p2d-mc-dqn" }, "DQN", quick, |_| {}),
                variant_of(
                    &base,
                    if env == "acrobot" { "p2d-acro-double" } else { "p2d-mc-double" },
                    "Double DQN",
                    quick,
                    double,
                ),
            ],
        }
    };
    let mc = part_two_base("mountaincar", 40_000, quick);
    let noisy = |c: &mut RunConfig| {
        c.agent.noisy = Some(runner::Noisy { sigma0: 0.5, layers: runner::NoisyLayers::Heads, epsilon_greedy: false });
    };
    let greedy = |c: &mut RunConfig| {
        c.agent.epsilon = EpsilonSchedule { start: 0.0, end: 0.0, decay: 1.0, shape: EpsilonShape::Exponential };
    };
    let mut acro = part_two_base("acrobot", 40_000, quick);
    acro.early_stop = evaluations(10_000, quick);
    let per = |c: &mut RunConfig| c.agent.sampling = Sampling::Prioritized(runner::Prioritized::default());
    let n_step = |c: &mut RunConfig| c.agent.n_step = 3;
    let dueling = dueling_experiment(quick);
    let rainbow = rainbow_ablation(quick);
    vec![
        over("acrobot", "p2d-acrobot", "DQN and Double DQN on Acrobot-v1", 40_000),
        over("mountaincar", "p2d-mountaincar", "DQN and Double DQN on MountainCar-v0", 40_000),
        Experiment {
            id: "p2n",
            title: "Exploration on MountainCar-v0",
            x_axis: XAxis::Steps,
            variants: vec![
                variant_of(&mc, "p2n-eps", "ε-greedy, 1 → 0.07 over 8 000 steps", quick, |_| {}),
                variant_of(&mc, "p2n-noisy", "noisy heads, σ₀ 0.5, no ε", quick, noisy),
                variant_of(&mc, "p2n-greedy", "neither (ε = 0, no noise)", quick, greedy),
            ],
        },
        Experiment {
            id: "p2s",
            title: "PER and 3-step returns on Acrobot-v1",
            x_axis: XAxis::Steps,
            variants: vec![
                variant_of(&acro, "p2s-dqn", "DQN (uniform, 1-step)", quick, |_| {}),
                variant_of(&acro, "p2s-per", "prioritized replay", quick, per),
                variant_of(&acro, "p2s-nstep", "3-step returns", quick, n_step),
                variant_of(&acro, "p2s-both", "both", quick, move |c| {
                    per(c);
                    n_step(c);
                }),
            ],
        },
        dueling,
        rainbow,
    ]
}

/// Periodic greedy evaluations (every `every_steps`, 10 episodes; `quick`:
/// every 200, 2) that never stop training: no Acrobot return reaches 0.
fn evaluations(every_steps: u64, quick: bool) -> Option<runner::EarlyStop> {
    Some(runner::EarlyStop {
        every_steps: if quick { 200 } else { every_steps },
        episodes: if quick { 2 } else { 10 },
        solved_at: 0.0,
    })
}

/// Dueling heads against one Q-head on Acrobot-v1, with its own three
/// actions and with 15 copies of "no torque" appended (18 actions, 16 of
/// them the same): Wang et al. (2016) add no-op actions to a corridor in
/// the same way.
fn dueling_experiment(quick: bool) -> Experiment {
    let mut base = part_two_base("acrobot", 20_000, quick);
    base.early_stop = evaluations(2_500, quick);
    let width = base.agent.hidden[0];
    // The same depth: a trunk of one layer, then a hidden layer in each
    // stream, where the plain network has two hidden layers.
    let dueling = move |c: &mut RunConfig| {
        c.agent.hidden = vec![width];
        c.agent.dueling = Some(runner::Dueling { value_hidden: vec![width], advantage_hidden: vec![width] });
    };
    let copies = |c: &mut RunConfig| c.duplicate_action = Some(DuplicateActionSetting { action: 1, copies: 15 });
    Experiment {
        id: "p2u",
        title: "Dueling on Acrobot-v1, 3 and 18 actions",
        x_axis: XAxis::Steps,
        variants: vec![
            variant_of(&base, "p2u-dqn3", "Q-head, 3 actions", quick, |_| {}),
            variant_of(&base, "p2u-duel3", "dueling, 3 actions", quick, dueling),
            variant_of(&base, "p2u-dqn18", "Q-head, 18 actions", quick, copies),
            variant_of(&base, "p2u-duel18", "dueling, 18 actions", quick, move |c| {
                copies(c);
                dueling(c);
            }),
        ],
    }
}

/// The Acrobot-v1 Rainbow preset, shrunk to the chapter's budget: streams
/// of 64 on a trunk of 64, 20 000 environment steps with a gradient step
/// every second one on batches of 32, greedy evaluations every 2 500 steps
/// (`quick`: 16 wide, 400 steps).
fn rainbow_base(quick: bool) -> RunConfig {
    let mut c = RunConfig::from_ron(ACROBOT_RAINBOW, "presets/acrobot-rainbow.ron").expect("the preset parses");
    let steps = if quick { 400 } else { 20_000 };
    let width = if quick { 16 } else { 64 };
    c.max_train_steps = Some(steps);
    c.train_episodes = 1_000_000;
    c.test_episodes = if quick { 2 } else { 20 };
    c.early_stop = evaluations(2_500, quick);
    c.collection.update_every = 2;
    c.agent.batch_size = 32;
    c.agent.hidden = vec![width];
    c.agent.dueling = Some(runner::Dueling { value_hidden: vec![width], advantage_hidden: vec![width] });
    if let Sampling::Prioritized(p) = &mut c.agent.sampling {
        // β reaches 1 at the last gradient step.
        p.beta_steps = steps / 2;
    }
    if quick {
        c.agent.learning_starts = 100;
    }
    // For the variants without noisy layers: ε-greedy, 1 → 0.05 over the
    // first quarter of the budget (the preset explores by noise alone).
    c.agent.epsilon = EpsilonSchedule { start: 1.0, end: 0.05, decay: (steps / 4) as f64, shape: EpsilonShape::Linear };
    // For the variants without C51: Huber's loss, as DQN's.
    c.agent.loss = runner::LossKind::Huber { delta: 1.0 };
    c
}

const ACROBOT_RAINBOW: &str = include_str!("../../../presets/acrobot-rainbow.ron");

/// The Rainbow ablation, after Hessel et al. (2018): Rainbow, Rainbow
/// without each of its six components, and DQN (none of them).
fn rainbow_ablation(quick: bool) -> Experiment {
    let base = rainbow_base(quick);
    let width = base.agent.hidden[0];
    let no_dueling = move |c: &mut RunConfig| {
        c.agent.dueling = None;
        c.agent.hidden = vec![width, width];
    };
    let no_double = |c: &mut RunConfig| c.agent.double_dqn = false;
    let no_noisy = |c: &mut RunConfig| c.agent.noisy = None;
    let no_n_step = |c: &mut RunConfig| c.agent.n_step = 1;
    let no_per = |c: &mut RunConfig| c.agent.sampling = Sampling::Uniform;
    let no_c51 = |c: &mut RunConfig| c.agent.distributional = None;
    Experiment {
        id: "p2r",
        title: "Rainbow and its ablations on Acrobot-v1",
        x_axis: XAxis::Steps,
        variants: vec![
            variant_of(&base, "p2r-rainbow", "Rainbow", quick, |_| {}),
            variant_of(&base, "p2r-no-double", "− Double", quick, no_double),
            variant_of(&base, "p2r-no-dueling", "− dueling", quick, no_dueling),
            variant_of(&base, "p2r-no-noisy", "− noisy (ε-greedy)", quick, no_noisy),
            variant_of(&base, "p2r-no-nstep", "− 3-step (1-step)", quick, no_n_step),
            variant_of(&base, "p2r-no-per", "− prioritized (uniform)", quick, no_per),
            variant_of(&base, "p2r-no-c51", "− C51 (expected values)", quick, no_c51),
            variant_of(&base, "p2r-dqn", "DQN (none of the six)", quick, move |c| {
                no_double(c);
                no_dueling(c);
                no_noisy(c);
                no_n_step(c);
                no_per(c);
                no_c51(c);
            }),
        ],
    }
}

/// The runs whose learned return distributions the chapter examines: the
/// ablation's Rainbow runs, every seed (the first, seed 0, is drawn).
pub fn distribution_runs(quick: bool) -> Vec<RunConfig> {
    rainbow_ablation(quick).variants.swap_remove(0).configs
}

/// The runs whose trained policies the chapter keeps: the showcase (for
/// its animation) and the distribution runs.
pub fn kept_policies(quick: bool) -> Vec<RunConfig> {
    std::iter::once(showcase(quick)).chain(distribution_runs(quick)).collect()
}

/// The four exercises' experiments, then part two's, 10 seeds each (`quick`: 2 seeds, 8 episodes, a
/// 16×16 network).
pub fn experiments(quick: bool) -> Vec<Experiment> {
    let budget = if quick { 400 } else { 30_000 };
    let on_budget = move |c: &mut RunConfig| {
        c.max_train_steps = Some(budget);
        c.train_episodes = 1_000_000;
    };
    let eps = |start, end, decay| {
        move |c: &mut RunConfig| {
            c.agent.epsilon = EpsilonSchedule { start, end, decay, shape: EpsilonShape::Exponential }
        }
    };
    let every = |n| move |c: &mut RunConfig| c.agent.target_update = TargetUpdate::Hard { every: n };
    let capacity = |n| move |c: &mut RunConfig| c.agent.buffer_capacity = n;
    vec![
        Experiment {
            id: "ex1",
            title: "Q-learning, online neural Q-learning and DQN",
            x_axis: XAxis::Steps,
            variants: vec![
                variant("ex1-tabular", "tabular Q-learning (3·3·6·6 grid)", quick, |c| {
                    on_budget(c);
                    c.learner = LearnerSetting::TabularQ { bins: vec![3, 3, 6, 6], alpha: 0.1, ranges: None };
                }),
                variant("ex1-online", "online neural Q-learning", quick, |c| {
                    on_budget(c);
                    c.agent.buffer_capacity = 1;
                    c.agent.batch_size = 1;
                    c.agent.target_update = TargetUpdate::Hard { every: 1 };
                }),
                variant("ex1-dqn", "DQN (the seed)", quick, on_budget),
            ],
        },
        Experiment {
            id: "ex2",
            title: "exploration",
            x_axis: XAxis::Episodes,
            variants: vec![
                variant("ex2-greedy", "greedy (ε = 0)", quick, eps(0.0, 0.0, 1.0)),
                variant("ex2-constant", "constant ε = 0.1", quick, eps(0.1, 0.1, 1.0)),
                variant("ex2-decay50", "ε decay 50", quick, eps(0.95, 0.01, 50.0)),
                variant("ex2-decay500", "ε decay 500 (the seed)", quick, |_| {}),
                variant("ex2-decay5000", "ε decay 5000", quick, eps(0.95, 0.01, 5000.0)),
            ],
        },
        Experiment {
            id: "ex3",
            title: "the target network",
            x_axis: XAxis::Episodes,
            variants: vec![
                variant("ex3-every1", "copy every step (no target network)", quick, every(1)),
                variant("ex3-every4", "copy every 4 (the seed)", quick, |_| {}),
                variant("ex3-every100", "copy every 100", quick, every(100)),
                variant("ex3-every1000", "copy every 1000", quick, every(1000)),
                variant("ex3-soft", "soft, τ = 0.01", quick, |c| {
                    c.agent.target_update = TargetUpdate::Soft { tau: 0.01 }
                }),
                variant("ex3-double", "Double DQN, copy every 4", quick, |c| c.agent.double_dqn = true),
            ],
        },
        Experiment {
            id: "ex4",
            title: "experience replay",
            x_axis: XAxis::Episodes,
            variants: vec![
                variant("ex4-cap64", "capacity 64 (one batch)", quick, capacity(64)),
                variant("ex4-cap1000", "capacity 1 000", quick, capacity(1000)),
                variant("ex4-cap10000", "capacity 10 000", quick, capacity(10_000)),
                variant("ex4-cap100000", "capacity 100 000 (the seed)", quick, |_| {}),
                variant("ex4-recent", "most recent 64 (no shuffling)", quick, |c| c.agent.sampling = Sampling::Recent),
            ],
        },
    ]
    .into_iter()
    .chain(part_two(quick))
    .collect()
}

fn records_of<'a>(v: &Variant, records: &'a BTreeMap<String, RunRecord>) -> Result<Vec<&'a RunRecord>, String> {
    v.configs.iter().map(|c| records.get(&run_key(c)).ok_or_else(|| format!("no result for {}", v.id))).collect()
}

/// A mean curve `(x, y)` and its band `(x, low, high)`.
type Curve = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// Mean curve and 95 % band of one variant: smoothed returns (or `series`
/// picked by `pick`) per episode, or on a step grid.
fn curve(runs: &[&RunRecord], x_axis: XAxis, pick: fn(&RunRecord) -> &[f64]) -> Curve {
    let (xs, curves): (Vec<f64>, Vec<Vec<f64>>) = match x_axis {
        XAxis::Episodes => {
            let n = runs.iter().map(|r| pick(r).len()).min().unwrap_or(0);
            ((1..=n).map(|e| e as f64).collect(), runs.iter().map(|r| smooth(&pick(r)[..n], SMOOTH)).collect())
        }
        XAxis::Steps => {
            let budget = runs.iter().map(|r| r.train_steps).min().unwrap_or(0);
            let grid: Vec<u64> = (0..=100).map(|k| budget * k / 100).collect();
            let curves = runs.iter().map(|r| on_step_grid(&r.episode_ends, &smooth(pick(r), SMOOTH), &grid)).collect();
            (grid.iter().map(|&s| s as f64).collect(), curves)
        }
    };
    let estimates = band(&curves);
    let points = xs.iter().zip(&estimates).map(|(&x, e)| (x, e.mean)).filter(|p| p.1.is_finite()).collect();
    let shade = xs.iter().zip(&estimates).map(|(&x, e)| (x, e.lo, e.hi)).filter(|b| b.1.is_finite()).collect();
    (points, shade)
}

fn figure_of(
    e: &Experiment,
    records: &BTreeMap<String, RunRecord>,
    y_label: &str,
    pick: fn(&RunRecord) -> &[f64],
) -> Result<Figure, String> {
    let mut series = Vec::new();
    for (i, v) in e.variants.iter().enumerate() {
        let (points, band) = curve(&records_of(v, records)?, e.x_axis, pick);
        series.push(Series { label: v.label.clone(), points, color: PALETTE[i % PALETTE.len()], markers: false, band });
    }
    let seeds = e.variants[0].configs.len();
    Ok(Figure {
        legend: plotters::chart::SeriesLabelPosition::UpperLeft,
        title: format!("{}: mean of {seeds} seeds, 95 % bootstrap band", e.title),
        x_label: if e.x_axis == XAxis::Steps { "environment steps" } else { "episode" }.to_string(),
        y_label: y_label.to_string(),
        series,
    })
}

/// `<id>_returns.svg` (and, for the target-network experiment, `ex3_q.svg`).
pub fn draw(e: &Experiment, records: &BTreeMap<String, RunRecord>, figures: &Path) -> Result<(), String> {
    let label = format!("training return (moving average of {SMOOTH})");
    save_svg(&figure_of(e, records, &label, |r| &r.returns)?, &figures.join(format!("{}_returns", e.id)))?;
    if e.id == "ex3" {
        let q = figure_of(e, records, "mean max-Q of 64 fixed start states", |r| &r.q_probe)?;
        save_svg(&q, &figures.join("ex3_q"))?;
    }
    Ok(())
}

/// The showcase run's training and test curves, like the seed chapter's
/// figures 7-6 and 7-7.
pub fn draw_showcase(record: &RunRecord, figures: &Path) -> Result<(), String> {
    let train = train_figure("DQN on CartPole-v1, seed settings, seed 0: training", &record.returns);
    save_svg(&train, &figures.join("showcase_train"))?;
    let test = test_figure("DQN on CartPole-v1, seed settings, seed 0: greedy test", &record.test_returns);
    save_svg(&test, &figures.join("showcase_test"))?;
    Ok(())
}

/// What the distribution run's greedy policy predicts at a few states of
/// one of its greedy episodes.
pub struct Distributions {
    /// The values of the atoms.
    pub atoms: Vec<f64>,
    /// The steps the episode took.
    pub episode_steps: usize,
    /// The states drawn: the episode's start, its middle, and ten steps
    /// before its end.
    pub states: Vec<StateDistribution>,
}

/// The learned return distribution at one state.
pub struct StateDistribution {
    /// The step of the episode the state is reached at.
    pub step: usize,
    /// Per action, the probability of each atom.
    pub probs: Vec<Vec<f64>>,
    /// The action the policy takes (the highest expected value).
    pub greedy: usize,
    /// The discounted return the episode obtained from this state on.
    pub obtained: f64,
}

impl StateDistribution {
    /// The distribution's mean and standard deviation for `action`.
    pub fn mean_sd(&self, atoms: &[f64], action: usize) -> (f64, f64) {
        let p = &self.probs[action];
        let mean: f64 = p.iter().zip(atoms).map(|(p, z)| p * z).sum();
        let var: f64 = p.iter().zip(atoms).map(|(p, z)| p * (z - mean) * (z - mean)).sum();
        (mean, var.max(0.0).sqrt())
    }

    /// The 5 % and 95 % quantiles of the greedy action's distribution.
    pub fn central_90(&self, atoms: &[f64]) -> (f64, f64) {
        (self.quantile(atoms, self.greedy, 0.05), self.quantile(atoms, self.greedy, 0.95))
    }

    /// The smallest atom at which the distribution of `action` reaches
    /// probability `q` (its `q`-quantile).
    pub fn quantile(&self, atoms: &[f64], action: usize, q: f64) -> f64 {
        let mut sum = 0.0;
        for (p, &z) in self.probs[action].iter().zip(atoms) {
            sum += p;
            if sum >= q {
                return z;
            }
        }
        atoms.last().copied().unwrap_or(f64::NAN)
    }
}

/// Steps before the end of the episode of the last state drawn.
const BEFORE_END: usize = 10;

/// The distribution of every state of the greedy episode of the run
/// `config` (a C51 head) whose policy is kept at `policy`, from the test
/// stream's first reset, with the atoms' values.
fn along_episode(config: &RunConfig, policy: &Path) -> Result<(Vec<f64>, Vec<StateDistribution>), String> {
    let chain = |e: runner::RunError| runner::ErrorChain(&e).to_string();
    let support = runner::q_support(config).map_err(chain)?.ok_or("the distribution run has no C51 head")?;
    let limit = config.env.max_episode_steps().ok_or("the distribution run has no step limit")?;
    let episode = runner::greedy_episode(config, policy, limit).map_err(chain)?;
    let net = runner::load_policy(policy).map_err(chain)?;
    let (n_atoms, steps) = (support.n_atoms(), episode.rewards.len());
    let n_actions = net.output_dim() / n_atoms;
    // The discounted return from each step on, summed from the end.
    let gamma = config.agent.gamma;
    let mut obtained = vec![0.0; steps + 1];
    for t in (0..steps).rev() {
        obtained[t] = episode.rewards[t] + gamma * obtained[t + 1];
    }
    // Every state an action was taken in (not the last one).
    let observations = &episode.inputs[..steps * net.input_dim()];
    let (probs, q) = runner::greedy_distributions(&net, &support, observations).map_err(|e| e.to_string())?;
    let states = (0..steps)
        .map(|t| {
            let q = &q[t * n_actions..(t + 1) * n_actions];
            StateDistribution {
                step: t,
                probs: probs[t * n_actions * n_atoms..(t + 1) * n_actions * n_atoms]
                    .chunks(n_atoms)
                    .map(|p| p.iter().map(|&x| f64::from(x)).collect())
                    .collect(),
                greedy: (0..n_actions).fold(0, |best, a| if q[a] > q[best] { a } else { best }),
                obtained: obtained[t],
            }
        })
        .collect();
    Ok(((0..n_atoms).map(|j| f64::from(support.atom(j))).collect(), states))
}

/// Where the returns an episode obtained fell against the predicted
/// distributions: the fractions of its steps whose discounted return lay
/// inside the greedy action's 5 %–95 % range, above it and below it (a
/// calibrated distribution: 0.90, 0.05, 0.05).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub inside: f64,
    pub above: f64,
    pub below: f64,
}

/// What the chapter shows of C51: the drawn states of the first run and
/// the calibration of every run.
pub struct DistributionEvidence {
    pub drawn: Distributions,
    pub calibration: Vec<Calibration>,
}

/// [`DistributionEvidence`] of `runs` (the first drawn), whose policies are
/// kept in `data`.
pub fn distribution_evidence(runs: &[RunConfig], data: &Path) -> Result<DistributionEvidence, String> {
    let mut drawn = None;
    let mut calibration = Vec::new();
    for config in runs {
        let (atoms, states) = along_episode(config, &super::policy_path(data, config))?;
        let [mut inside, mut above, mut below] = [0usize; 3];
        for s in &states {
            let (lo, hi) = s.central_90(&atoms);
            match s.obtained {
                g if g > hi => above += 1,
                g if g < lo => below += 1,
                _ => inside += 1,
            }
        }
        let share = |count: usize| count as f64 / states.len().max(1) as f64;
        calibration.push(Calibration { inside: share(inside), above: share(above), below: share(below) });
        if drawn.is_none() {
            let steps = states.len();
            let picks = [0, steps / 2, steps.saturating_sub(BEFORE_END)];
            let picked = states.into_iter().filter(|s| picks.contains(&s.step)).collect();
            drawn = Some(Distributions { atoms, episode_steps: steps, states: picked });
        }
    }
    Ok(DistributionEvidence { drawn: drawn.ok_or("no distribution runs")?, calibration })
}

/// `p2c_distributions.svg`: the greedy action's distribution at each state
/// drawn, and the discounted return that followed.
pub fn draw_distributions(d: &Distributions, figures: &Path) -> Result<(), String> {
    let top = 100.0 * d.states.iter().flat_map(|s| s.probs[s.greedy].iter().copied()).fold(0.0, f64::max);
    let mut series = Vec::new();
    for (i, s) in d.states.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points = d.atoms.iter().copied().zip(s.probs[s.greedy].iter().map(|p| 100.0 * p)).collect();
        let label = format!("step {} of {}: Z(s, a*)", s.step, d.episode_steps);
        series.push(Series { label, points, color, markers: true, band: Vec::new() });
        let label = format!("step {}: discounted return obtained, {:.1}", s.step, s.obtained);
        series.push(Series {
            label,
            points: vec![(s.obtained, 0.0), (s.obtained, top)],
            color,
            markers: false,
            band: Vec::new(),
        });
    }
    let figure = Figure {
        legend: plotters::chart::SeriesLabelPosition::UpperLeft,
        title: "Rainbow on Acrobot-v1, seed 0: learned return distributions of the greedy action".to_string(),
        x_label: "discounted return (the 51 atoms)".to_string(),
        y_label: "probability (%)".to_string(),
        series,
    };
    save_svg(&figure, &figures.join("p2c_distributions"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_summaries_by_hand() {
        let atoms = [-2.0, 0.0, 2.0];
        let s = StateDistribution {
            step: 0,
            probs: vec![vec![0.5, 0.0, 0.5], vec![0.0, 1.0, 0.0]],
            greedy: 0,
            obtained: 0.0,
        };
        assert_eq!(s.mean_sd(&atoms, 0), (0.0, 2.0));
        assert_eq!(s.mean_sd(&atoms, 1), (0.0, 0.0));
        assert_eq!(
            (s.quantile(&atoms, 0, 0.05), s.quantile(&atoms, 0, 0.5), s.quantile(&atoms, 0, 0.95)),
            (-2.0, -2.0, 2.0)
        );
        assert_eq!(s.quantile(&atoms, 1, 0.05), 0.0);
    }

    /// The distribution runs are the ablation's Rainbow runs, seed 0 first,
    /// so their kept policies are of runs the chapter trains anyway.
    #[test]
    fn the_distribution_runs_are_rainbows_seeds() {
        for quick in [true, false] {
            let runs = distribution_runs(quick);
            assert_eq!(runs, rainbow_ablation(quick).variants[0].configs);
            assert_eq!(runs[0].seed, 0);
            assert!(runs.iter().all(|c| c.agent.distributional.is_some()));
            assert_eq!(kept_policies(quick)[0], showcase(quick));
        }
    }
}
