//! The chapter's experiments: one per exercise, each a few variants of the
//! seed configuration run on several seeds, and their figures.

use std::collections::BTreeMap;
use std::path::Path;

use runner::{EpsilonSchedule, EpsilonShape, LearnerSetting, RunConfig, Sampling, TargetUpdate};

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
        let base = part_two_base(env, steps, quick);
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
    let mut acro = part_two_base("acrobot", 60_000, quick);
    // Greedy evaluations along the way (10 episodes every 10 000 steps);
    // no Acrobot return reaches 0, so none ends training.
    let every_steps = if quick { 200 } else { 10_000 };
    acro.early_stop = Some(runner::EarlyStop { every_steps, episodes: if quick { 2 } else { 10 }, solved_at: 0.0 });
    let per = |c: &mut RunConfig| c.agent.sampling = Sampling::Prioritized(runner::Prioritized::default());
    let n_step = |c: &mut RunConfig| c.agent.n_step = 3;
    vec![
        over("acrobot", "p2d-acrobot", "DQN and Double DQN on Acrobot-v1", 60_000),
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
            title: "Prioritized replay and 3-step returns on Acrobot-v1",
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
    ]
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
