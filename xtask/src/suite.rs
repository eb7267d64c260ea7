//! `cargo xtask suite`: the classic-control benchmark. Trains every
//! environment × algorithm entry on every seed with [`runner::sweep`] (one
//! results folder, cached by configuration hash, resumable, `--shard I/N`),
//! then writes the report with the aggregate statistics of
//! [`runner::stats`](runner::iqm): per entry the IQM and mean of the
//! 100-episode greedy test means with 95 % stratified-bootstrap intervals,
//! normalised scores, wall time and peak heap; the probability of
//! improvement of Rainbow over DQN; performance profiles and
//! sample-efficiency curves (figures); and the peers' runs measured on the
//! same machine (`xtask/peers/`), with the like-for-like wall-time ratio.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::SeriesLabelPosition;
use runner::sweep::{Plan, Shard, SweepResult};
use runner::{
    RunConfig, iqm, median, normalized, performance_profile, probability_of_improvement, stratified_bootstrap_ci,
};
use serde::Deserialize;

use crate::plot::{Figure, PALETTE, Series, save_svg};

/// Bootstrap resamples per interval, and their seed: the report is the
/// same every time it is made from the same results.
const BOOTSTRAP_REPS: usize = 2000;
const BOOTSTRAP_SEED: u64 = 0x5eed_2017;

/// The algorithm name of the entries with RL Baselines3 Zoo's settings.
const ZOO: &str = "DQN, zoo settings";

/// One environment × algorithm of the suite.
pub struct Entry {
    /// The environment's Gymnasium name.
    pub env: &'static str,
    /// The algorithm's name in the report.
    pub algorithm: &'static str,
    /// The preset file its settings come from.
    pub source: &'static str,
    /// Its settings.
    pub config: RunConfig,
    /// Returns normalised as `(R − random) / (max − random)`.
    pub random: f64,
    /// See `random`.
    pub max: f64,
}

/// Every entry: `(environment, algorithm, preset, random, max)`. The
/// normalisation's "random" is a uniformly random policy's mean return
/// (CartPole 22, Acrobot and MountainCar never reach the goal: their
/// lower bound); "max" is the best return possible (CartPole's 500, the
/// others' 0, which no policy reaches).
const ENTRIES: [(&str, &str, &str, f64, f64); 9] = [
    ("CartPole-v1", "DQN", "presets/cartpole-dqn.ron", 22.0, 500.0),
    ("CartPole-v1", "Rainbow", "presets/cartpole-rainbow.ron", 22.0, 500.0),
    ("CartPole-v1", ZOO, "presets/zoo/cartpole.ron", 22.0, 500.0),
    ("Acrobot-v1", "DQN", "presets/acrobot-dqn.ron", -500.0, 0.0),
    ("Acrobot-v1", "Rainbow", "presets/acrobot-rainbow.ron", -500.0, 0.0),
    ("Acrobot-v1", ZOO, "presets/zoo/acrobot.ron", -500.0, 0.0),
    ("MountainCar-v0", "DQN", "presets/mountaincar-dqn.ron", -200.0, 0.0),
    ("MountainCar-v0", "Rainbow", "presets/mountaincar-rainbow.ron", -200.0, 0.0),
    ("MountainCar-v0", ZOO, "presets/zoo/mountaincar.ron", -200.0, 0.0),
];

/// The entries, read from their presets. `quick` cuts every run to 1 500
/// environment steps and 3 test episodes, evaluating every 500 steps
/// without stopping, for checking the pipeline.
///
/// # Errors
/// A preset that does not read.
pub fn entries(quick: bool) -> Result<Vec<Entry>, String> {
    let root = crate::chapter::workspace_root();
    ENTRIES
        .iter()
        .map(|&(env, algorithm, source, random, max)| {
            let mut config =
                RunConfig::from_file(&root.join(source)).map_err(|e| runner::ErrorChain(&e).to_string())?;
            if quick {
                config.max_train_steps = Some(1500);
                config.test_episodes = 3;
                if config.early_stop.is_some() {
                    config.early_stop = Some(runner::EarlyStop { every_steps: 500, episodes: 2, solved_at: 1e9 });
                }
            }
            Ok(Entry { env, algorithm, source, config, random, max })
        })
        .collect()
}

/// Where things are read and written.
pub struct Paths<'a> {
    /// The runs' result files.
    pub out: &'a Path,
    /// The report (Markdown); its figures go into the folder of the same
    /// name without the extension (`docs/results.md` → `docs/results/`).
    pub report: &'a Path,
    /// The peers' result files (`*.json`, from `xtask/peers/`).
    pub peers: &'a Path,
}

/// Trains this shard's missing runs of every entry on `seeds` (unless
/// `report_only`), then reports on every result present: writes the
/// figures and returns the report (Markdown).
///
/// # Errors
/// A run, result file, peer file or figure that fails, as text naming it.
pub fn suite(
    entries: &[Entry],
    seeds: &[u64],
    paths: &Paths,
    shard: Option<Shard>,
    workers: usize,
    report_only: bool,
) -> Result<String, String> {
    let started = std::time::Instant::now();
    let plans: Vec<Plan> =
        entries.iter().map(|e| Plan { base: e.config.clone(), grid: Vec::new(), seeds: seeds.to_vec() }).collect();
    let chain = |e: runner::sweep::SweepError| runner::ErrorChain(&e).to_string();
    if !report_only {
        for (entry, plan) in entries.iter().zip(&plans) {
            eprintln!("suite: {} {} on {} seeds", entry.env, entry.algorithm, seeds.len());
            runner::sweep::run(plan, paths.out, shard, workers, &|result, finished, total| {
                eprintln!(
                    "[{finished}/{total}] {} {} seed {}: test mean {:.1}, {} steps, {:.2} s",
                    entry.env, entry.algorithm, result.seed, result.test_mean, result.train_steps, result.seconds
                );
            })
            .map_err(chain)?;
        }
    }
    let mut found = Vec::new();
    for plan in &plans {
        found.push(runner::sweep::results(plan, paths.out).map_err(chain)?.into_values().collect::<Vec<_>>());
    }
    let peers = read_peers(paths.peers)?;
    let figures = paths.report.with_extension("");
    std::fs::create_dir_all(&figures).map_err(|e| format!("{}: {e}", figures.display()))?;
    let seconds = (!report_only).then(|| started.elapsed().as_secs_f64());
    let report = Report { entries, found: &found, seeds, peers: &peers };
    report.write(&figures, seconds)
}

/// One peer run (`xtask/peers/*.py --json FILE`).
#[derive(Debug, Clone, Deserialize)]
pub struct PeerRun {
    /// Which library and settings.
    pub peer: String,
    /// The environment's Gymnasium name.
    pub env: String,
    /// Its seed.
    pub seed: u64,
    /// Training environment steps.
    pub env_steps: u64,
    /// Wall seconds of training.
    pub train_wall_s: f64,
    /// Wall seconds of the 100 greedy test episodes.
    pub test_wall_s: f64,
    /// Mean greedy test return.
    pub test_mean: f64,
    /// Test episodes.
    pub test_episodes: u64,
    /// Versions (library, torch, gymnasium), as the run recorded them.
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_json::Value>,
}

/// Every `*.json` in `folder` (none if it does not exist), by file name.
///
/// # Errors
/// A `folder` that exists but is not a folder (a file given as `--peers`
/// is a mistake, not "no peers"), or cannot be listed; a file that cannot
/// be read or is not a peer run, named.
pub fn read_peers(folder: &Path) -> Result<Vec<PeerRun>, String> {
    let shown = runner::text::path(folder);
    let listing = match std::fs::read_dir(folder) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(_) if folder.exists() && !folder.is_dir() => {
            return Err(format!("--peers {shown}: not a folder (the peers' result files go in a folder)"));
        }
        Err(e) => return Err(format!("--peers {shown}: {e}")),
    };
    let mut files: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: not a peer run: {e}", path.display()))
        })
        .collect()
}

struct Report<'a> {
    entries: &'a [Entry],
    found: &'a [Vec<SweepResult>],
    seeds: &'a [u64],
    peers: &'a [PeerRun],
}

/// `value [low, high]` of `stat` over `scores` with its bootstrap interval.
fn with_ci(scores: &[f64], stat: fn(&[f64]) -> f64, digits: usize) -> String {
    let strata = [scores.to_vec()];
    let interval = stratified_bootstrap_ci(&strata, |s| stat(&s[0]), BOOTSTRAP_REPS, 0.95, BOOTSTRAP_SEED);
    format!("{:.digits$} [{:.digits$}, {:.digits$}]", stat(scores), interval.low, interval.high)
}

impl Report<'_> {
    fn scores(&self, i: usize) -> Vec<f64> {
        self.found[i].iter().map(|r| r.test_mean).collect()
    }

    fn write(&self, figures: &Path, seconds: Option<f64>) -> Result<String, String> {
        let folder = figures.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let mut t = String::new();
        self.intro(&mut t, seconds);
        self.table(&mut t);
        self.improvement(&mut t);
        self.profiles(&mut t, figures, &folder)?;
        self.curves(&mut t, figures, &folder)?;
        self.side_by_side(&mut t);
        let _ = writeln!(
            t,
            "\nReproduce: `cargo xtask suite` (trains what is missing into `suite/`, then writes this file and \
             `docs/results/*.svg`); `--shard I/N` trains part of it anywhere (`docs/slurm/`), `--report-only` reports \
             on the results present. The peers' rows: `bash xtask/peers/run_peers.sh` (their result files are \
             committed in `docs/results/peers/`)."
        );
        Ok(t)
    }

    fn intro(&self, t: &mut String, seconds: Option<f64>) {
        let run_seconds: f64 = self.found.iter().flatten().map(|r| r.seconds).sum();
        // The sum over runs is the suite's cost whatever the scheduling; the
        // elapsed time only when one process trained all of it.
        let took = seconds.map_or_else(
            || format!(", about {:.0} min on 2 cores training two at a time", run_seconds / 120.0),
            |s| format!("; this suite took {s:.0} s on this machine"),
        );
        let _ = writeln!(
            t,
            "<!-- Generated by `cargo xtask suite`: do not edit. -->\n\n# Results: the classic-control suite\n\n\
             Each entry trained on seeds {seeds} (how each preset was chosen, and on which seeds, is in \
             `docs/presets.md`), and each run was tested on {episodes} greedy episodes; a run's score is its mean \
             test return. IQM: the mean of the middle half of the runs' scores (`runner::iqm`, as \
             `scipy.stats.trim_mean(x, 0.25)`); intervals: 95 % percentile intervals of {BOOTSTRAP_REPS} stratified \
             bootstrap resamples (seeded: the same results give the same report). Normalised: \
             (R − random) / (max − random) with the values in the table. Wall time: a run's training and testing, \
             on one core of the machine that ran it (the suite runs `--jobs` of them side by side); peak heap: the \
             most heap a run held at once (`runner::heap`). The runs' wall times add up to {run_seconds:.0} s{took}.\n",
            seeds = describe_seeds(self.seeds),
            episodes = {
                let mut counts: Vec<u32> = self.entries.iter().map(|e| e.config.test_episodes).collect();
                counts.dedup();
                counts.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ")
            },
        );
    }

    fn table(&self, t: &mut String) {
        let _ = writeln!(
            t,
            "| environment | algorithm | settings | runs | IQM [95 % CI] | mean [95 % CI] | normalised IQM (random, max) | median env steps | median wall s | median peak heap MiB |"
        );
        let _ = writeln!(t, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for (i, entry) in self.entries.iter().enumerate() {
            let (results, scores) = (&self.found[i], self.scores(i));
            if scores.is_empty() {
                let _ = writeln!(t, "| {} | {} | {} | 0 | | | | | | |", entry.env, entry.algorithm, entry.source);
                continue;
            }
            let normalised: Vec<f64> = scores.iter().map(|&s| normalized(s, entry.random, entry.max)).collect();
            let heap = results.iter().filter_map(|r| r.peak_heap_bytes).map(|b| b as f64 / (1024.0 * 1024.0));
            let heap: Vec<f64> = heap.collect();
            let _ = writeln!(
                t,
                "| {} | {} | `{}` | {} | {} | {} | {:.3} ({}, {}) | {:.0} | {:.1} | {} |",
                entry.env,
                entry.algorithm,
                entry.source,
                scores.len(),
                with_ci(&scores, iqm, 1),
                with_ci(&scores, |v| runner::mean_std(v).0, 1),
                iqm(&normalised),
                entry.random,
                entry.max,
                median(results.iter().map(|r| r.train_steps as f64)),
                median(results.iter().map(|r| r.seconds)),
                if heap.is_empty() { "–".to_string() } else { format!("{:.1}", median(heap)) },
            );
        }
    }

    fn improvement(&self, t: &mut String) {
        let _ = writeln!(t, "\n## Rainbow against DQN\n");
        let _ = writeln!(
            t,
            "The probability that a Rainbow run scores higher than a DQN run of the same environment (ties count \
             half), with its interval from resampling both sides' runs.\n"
        );
        let _ = writeln!(t, "| environment | P(Rainbow > DQN) [95 % CI] |\n|---|---:|");
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.algorithm != "Rainbow" {
                continue;
            }
            let Some(j) = self.entries.iter().position(|e| e.env == entry.env && e.algorithm == "DQN") else {
                continue;
            };
            let both = [self.scores(i), self.scores(j)];
            if both.iter().any(Vec::is_empty) {
                continue;
            }
            let p = probability_of_improvement(&both[..1], &both[1..]);
            let interval = stratified_bootstrap_ci(
                &both,
                |s| probability_of_improvement(&s[..1], &s[1..]),
                BOOTSTRAP_REPS,
                0.95,
                BOOTSTRAP_SEED,
            );
            let _ = writeln!(t, "| {} | {p:.2} [{:.2}, {:.2}] |", entry.env, interval.low, interval.high);
        }
    }

    /// The algorithms in entry order, each with its entries' indices.
    fn algorithms(&self) -> Vec<(&str, Vec<usize>)> {
        let mut out: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            match out.iter_mut().find(|(a, _)| *a == e.algorithm) {
                Some((_, list)) => list.push(i),
                None => out.push((e.algorithm, vec![i])),
            }
        }
        out
    }

    /// Performance profiles (Agarwal et al. 2021): for each algorithm the
    /// fraction of its runs, pooled over the environments, whose normalised
    /// score exceeds τ, with a band from resampling each environment's runs.
    fn profiles(&self, t: &mut String, figures: &Path, folder: &str) -> Result<(), String> {
        let taus: Vec<f64> = (0..=100).map(|k| f64::from(k) / 100.0).collect();
        let mut series = Vec::new();
        for (n, (algorithm, indices)) in self.algorithms().into_iter().enumerate() {
            let strata: Vec<Vec<f64>> = indices
                .iter()
                .map(|&i| {
                    self.scores(i).iter().map(|&s| normalized(s, self.entries[i].random, self.entries[i].max)).collect()
                })
                .collect();
            let pooled: Vec<f64> = strata.iter().flatten().copied().collect();
            if pooled.is_empty() {
                continue;
            }
            let profile = performance_profile(&pooled, &taus);
            let band = taus
                .iter()
                .enumerate()
                .map(|(k, &tau)| {
                    let interval = stratified_bootstrap_ci(
                        &strata,
                        |s| performance_profile(&s.concat(), &[tau])[0],
                        BOOTSTRAP_REPS,
                        0.95,
                        BOOTSTRAP_SEED.wrapping_add(k as u64),
                    );
                    (tau, interval.low, interval.high)
                })
                .collect();
            series.push(Series {
                label: format!("{algorithm} ({} runs)", pooled.len()),
                points: taus.iter().copied().zip(profile).collect(),
                color: PALETTE[n % PALETTE.len()],
                markers: false,
                band,
            });
        }
        let figure = Figure {
            title: "Performance profiles over CartPole, Acrobot and MountainCar".into(),
            x_label: "normalised score τ".into(),
            y_label: "fraction of runs with score > τ".into(),
            series,
            legend: SeriesLabelPosition::UpperRight,
        };
        let path = save_svg(&figure, &figures.join("performance-profiles"))?;
        let name = path.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let _ = writeln!(
            t,
            "\n## Performance profiles\n\nFor each algorithm, the fraction of its runs (all three environments \
             pooled) whose normalised score is above τ; bands: 95 % stratified-bootstrap intervals, each \
             environment's runs resampled. A curve above another is better at every level.\n\n\
             ![performance profiles]({folder}/{name})"
        );
        Ok(())
    }

    /// Sample-efficiency curves: the IQM over runs of the periodic greedy
    /// evaluations against environment steps, with bootstrap bands. A run
    /// that stopped early (solved) counts from then on with its final
    /// policy's 100-episode test mean.
    fn curves(&self, t: &mut String, figures: &Path, folder: &str) -> Result<(), String> {
        let _ = writeln!(
            t,
            "\n## Sample efficiency\n\nThe IQM over seeds of the periodic greedy evaluations (each preset's \
             `early_stop` episodes) against training steps; bands: 95 % bootstrap intervals of the IQM at each \
             step. A run that stopped early because it was solved counts from then on with its final policy's \
             100-episode test mean. The zoo-settings entries evaluate only at the end and have no curve."
        );
        let mut envs: Vec<&str> = self.entries.iter().map(|e| e.env).collect();
        envs.dedup();
        for env in envs {
            let mut series = Vec::new();
            for (n, (i, entry)) in self.entries.iter().enumerate().filter(|(_, e)| e.env == env).enumerate() {
                let Some(stop) = &entry.config.early_stop else { continue };
                let budget = self.found[i].iter().map(|r| r.train_steps).max().unwrap_or(0);
                let (points, band) = curve(&self.found[i], stop.every_steps, budget);
                if points.is_empty() {
                    continue;
                }
                series.push(Series {
                    label: entry.algorithm.to_string(),
                    points,
                    color: PALETTE[n % PALETTE.len()],
                    markers: false,
                    band,
                });
            }
            if series.is_empty() {
                continue;
            }
            let figure = Figure {
                title: format!("{env}: greedy evaluations during training"),
                x_label: "environment steps".into(),
                y_label: "IQM of the evaluation mean return".into(),
                series,
                legend: SeriesLabelPosition::LowerRight,
            };
            let stem = format!("sample-efficiency-{}", env.to_lowercase());
            let path = save_svg(&figure, &figures.join(&stem))?;
            let name = path.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
            let _ = writeln!(t, "\n![{env} sample efficiency]({folder}/{name})");
        }
        Ok(())
    }

    /// The peers' runs and the like-for-like ratio of wall times.
    fn side_by_side(&self, t: &mut String) {
        let _ = writeln!(t, "\n## Side by side, measured on this machine\n");
        if self.peers.is_empty() {
            let _ = writeln!(t, "No peer results were found.");
            return;
        }
        let _ = writeln!(
            t,
            "The peers ran one at a time, torch on one thread, each run trained with its own settings and tested on \
             100 greedy episodes (`xtask/peers/`, versions below). Wall time: training plus testing.\n"
        );
        let _ = writeln!(
            t,
            "| environment | peer | runs × test episodes | seeds: test mean | IQM | env steps | median wall s | versions |"
        );
        let _ = writeln!(t, "|---|---|---:|---|---:|---:|---:|---|");
        let mut groups: BTreeMap<(&str, &str), Vec<&PeerRun>> = BTreeMap::new();
        for run in self.peers {
            groups.entry((run.env.as_str(), run.peer.as_str())).or_default().push(run);
        }
        for ((env, peer), runs) in &groups {
            let scores: Vec<f64> = runs.iter().map(|r| r.test_mean).collect();
            let listed: Vec<String> = runs.iter().map(|r| format!("{}: {:.1}", r.seed, r.test_mean)).collect();
            let versions: Vec<String> = runs[0]
                .rest
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "sb3" | "cleanrl" | "torch" | "gymnasium"))
                .map(|(k, v)| format!("{k} {}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect();
            let _ = writeln!(
                t,
                "| {env} | {peer} | {} × {} | {} | {:.1} | {} | {:.1} | {} |",
                runs.len(),
                runs[0].test_episodes,
                listed.join(", "),
                iqm(&scores),
                runs[0].env_steps,
                median(runs.iter().map(|r| r.train_wall_s + r.test_wall_s)),
                versions.join(", "),
            );
        }
        let mut cpus: Vec<&str> =
            self.peers.iter().filter_map(|r| r.rest.get("cpu").and_then(|c| c.as_str())).collect();
        cpus.sort_unstable();
        cpus.dedup();
        if !cpus.is_empty() {
            let _ = writeln!(t, "\nMachine of the peers' runs: {}.", cpus.join("; "));
        }
        let _ = writeln!(
            t,
            "\nLike for like: our DQN with the zoo's hyperparameters (`presets/zoo/`) against Stable-Baselines3 \
             with the same ones, the median wall time per run of each.\n"
        );
        let _ = writeln!(t, "| environment | dqn-rs, zoo settings: median wall s | SB3: median wall s | ratio |");
        let _ = writeln!(t, "|---|---:|---:|---:|");
        for (i, entry) in self.entries.iter().enumerate().filter(|(_, e)| e.algorithm == ZOO) {
            let Some(sb3) =
                groups.iter().find(|((env, peer), _)| *env == entry.env && peer.contains("stable-baselines3"))
            else {
                continue;
            };
            // Like for like only over the same number of environment steps.
            let steps = median(self.found[i].iter().map(|r| r.train_steps as f64));
            if self.found[i].is_empty() || sb3.1.iter().any(|r| r.env_steps as f64 != steps) {
                continue;
            }
            let ours = median(self.found[i].iter().map(|r| r.seconds));
            let theirs = median(sb3.1.iter().map(|r| r.train_wall_s + r.test_wall_s));
            let _ = writeln!(t, "| {} | {ours:.1} | {theirs:.1} | {:.1}× |", entry.env, theirs / ours);
        }
    }
}

/// A curve's points `(x, y)` and its band `(x, low, high)`.
type Curve = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// The IQM curve of `runs`' periodic evaluations on the grid `every`,
/// `2·every`, … up to `budget`, and its bootstrap band. The value of a run
/// at grid step `x` is its latest evaluation before `x + every`, or its
/// test mean once it has stopped (trained fewer than `x` steps).
fn curve(runs: &[SweepResult], every: u64, budget: u64) -> Curve {
    let (mut points, mut band) = (Vec::new(), Vec::new());
    let mut x = every;
    while every > 0 && x <= budget {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| {
                let latest = r.eval_steps.iter().rposition(|&s| s < x + every)?;
                Some(if r.train_steps < x { r.test_mean } else { r.eval_means[latest] })
            })
            .collect();
        if !values.is_empty() {
            let strata = [values];
            let interval = stratified_bootstrap_ci(&strata, |s| iqm(&s[0]), BOOTSTRAP_REPS, 0.95, BOOTSTRAP_SEED ^ x);
            points.push((x as f64, iqm(&strata[0])));
            band.push((x as f64, interval.low, interval.high));
        }
        x += every;
    }
    (points, band)
}

pub(crate) fn describe_seeds(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if seeds.windows(2).all(|w| w[1] == w[0] + 1) && seeds.len() > 1 => format!("{a}–{b}"),
        _ => seeds.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(steps: &[u64], means: &[f64], train_steps: u64, test_mean: f64) -> SweepResult {
        SweepResult {
            point: Vec::new(),
            seed: 0,
            config: String::new(),
            train_steps,
            train_episodes: 0,
            test_mean,
            test_min: test_mean,
            test_episodes: 100,
            seconds: 1.0,
            peak_heap_bytes: None,
            eval_steps: steps.to_vec(),
            eval_means: means.to_vec(),
        }
    }

    /// By hand: three runs evaluated every 1 000 steps (one with a vector
    /// step's overshoot), one stopped solved at 2 000 with a test mean of
    /// 480. IQM of 3 values is their mean.
    #[test]
    fn curves_carry_a_stopped_run_at_its_test_mean() {
        let runs = [
            result(&[1000, 2000], &[100.0, 475.0], 2000, 480.0),
            result(&[1003, 2003, 3003], &[50.0, 200.0, 300.0], 3003, 310.0),
            result(&[1000, 2000, 3000], &[20.0, 30.0, 40.0], 3000, 45.0),
        ];
        let (points, band) = curve(&runs, 1000, 3003);
        assert_eq!(points, vec![(1000.0, 170.0 / 3.0), (2000.0, 705.0 / 3.0), (3000.0, 820.0 / 3.0)]);
        assert_eq!(band.len(), 3);
        for ((_, y), (_, lo, hi)) in points.iter().zip(&band) {
            assert!(lo <= y && y <= hi, "{lo} {y} {hi}");
        }
    }

    /// A `--peers` that is a file is an error, not "no peers"; an absent
    /// folder is no peers.
    #[test]
    fn peers_must_be_a_folder() {
        let dir = std::env::temp_dir().join(format!("dqn-suite-peers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("peers.json");
        std::fs::write(&file, "{}").unwrap();
        let err = read_peers(&file).unwrap_err();
        assert!(err.contains("not a folder"), "{err}");
        assert!(read_peers(&dir.join("absent")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The pipeline end to end on tiny runs: every entry trains and the
    /// report has a row for each, the comparisons, the figures, and the
    /// peers' rows with the like-for-like ratio.
    #[test]
    fn a_quick_suite_reports_every_entry() {
        let dir = std::env::temp_dir().join(format!("dqn-suite-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (out, report, peers) = (dir.join("runs"), dir.join("results.md"), dir.join("peers"));
        std::fs::create_dir_all(&peers).unwrap();
        let peer = r#"{"peer": "stable-baselines3 DQN", "env": "Acrobot-v1", "seed": 0, "env_steps": 1500,
            "train_wall_s": 10.0, "test_wall_s": 2.0, "test_mean": -90.0, "test_episodes": 100, "sb3": "2.9.2"}"#;
        std::fs::write(peers.join("a.json"), peer).unwrap();
        let entries = entries(true).unwrap();
        let paths = Paths { out: &out, report: &report, peers: &peers };
        let text = suite(&entries, &[0, 1], &paths, None, 2, false).unwrap();
        for entry in &entries {
            assert!(text.contains(&format!("| {} | {} |", entry.env, entry.algorithm)), "{text}");
        }
        let comparison = &text[text.find("## Rainbow against DQN").unwrap()..];
        for env in ["CartPole-v1", "Acrobot-v1", "MountainCar-v0"] {
            assert!(comparison.contains(&format!("| {env} | ")), "{text}");
        }
        assert!(
            text.contains(
                "| Acrobot-v1 | stable-baselines3 DQN | 1 × 100 | 0: -90.0 | -90.0 | 1500 | 12.0 | sb3 2.9.2 |"
            )
        );
        // 1 500 steps each side: the ratio of the medians, 12 s over ours.
        let ours = median(
            runner::sweep::results(
                &Plan { base: entries[5].config.clone(), grid: Vec::new(), seeds: vec![0, 1] },
                &out,
            )
            .unwrap()
            .values()
            .map(|r| r.seconds),
        );
        assert!(text.contains(&format!("| Acrobot-v1 | {ours:.1} | 12.0 | {:.1}× |", 12.0 / ours)), "{text}");
        // One file per distinct run (entries with the same settings would
        // share theirs).
        let mut keys = std::collections::BTreeSet::new();
        for entry in &entries {
            let plan = Plan { base: entry.config.clone(), grid: Vec::new(), seeds: vec![0, 1] };
            keys.extend(plan.runs().unwrap().into_iter().map(|r| r.key));
        }
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), keys.len(), "one result file per run");
        let figures: Vec<String> = std::fs::read_dir(dir.join("results"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        for name in ["performance-profiles.svg", "sample-efficiency-acrobot-v1.svg"] {
            assert!(figures.contains(&name.to_string()), "{figures:?}");
            assert!(text.contains(&format!("(results/{name})")), "{text}");
        }
        // Reporting again from the files gives the same report, figures
        // included (the introduction leaves out the training time).
        let svg = std::fs::read(dir.join("results/performance-profiles.svg")).unwrap();
        let again = suite(&entries, &[0, 1], &paths, None, 2, true).unwrap();
        assert_eq!(again.lines().skip(5).collect::<Vec<_>>(), text.lines().skip(5).collect::<Vec<_>>());
        assert_eq!(std::fs::read(dir.join("results/performance-profiles.svg")).unwrap(), svg);
        // A damaged peer file is named.
        std::fs::write(peers.join("b.json"), "{").unwrap();
        let err = suite(&entries, &[0, 1], &paths, None, 2, true).unwrap_err();
        assert!(err.contains("b.json: not a peer run"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
