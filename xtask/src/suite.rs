//! `cargo xtask suite`: the classic-control benchmark. Trains every
//! environment × algorithm entry on every seed with [`runner::sweep`] (one
//! results folder, cached by configuration hash, resumable, `--shard I/N`),
//! then writes the report with the aggregate statistics of
//! [`runner::stats`](runner::iqm): per entry the IQM and mean of the
//! 100-episode greedy test means with 95 % stratified-bootstrap intervals,
//! normalised scores, and the probability of improvement of Rainbow over
//! DQN where an environment has both.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use runner::sweep::{Plan, Shard, SweepResult};
use runner::{RunConfig, iqm, normalized, probability_of_improvement, stratified_bootstrap_ci};

/// Bootstrap resamples per interval, and their seed: the report is the
/// same every time it is made from the same results.
const BOOTSTRAP_REPS: usize = 2000;
const BOOTSTRAP_SEED: u64 = 0x5eed_2017;

/// One environment × algorithm of the suite.
pub struct Entry {
    /// The environment's Gymnasium name.
    pub env: &'static str,
    /// The algorithm's name in the report.
    pub algorithm: &'static str,
    /// Where its settings come from (for the report).
    pub source: &'static str,
    /// Its settings.
    pub config: RunConfig,
    /// Returns normalised as `(R − random) / (max − random)`.
    pub random: f64,
    /// See `random`.
    pub max: f64,
}

/// The entries: CartPole-v1 with DQN (`presets/fast.ron`) and Rainbow
/// (`presets/rainbow.ron`), Acrobot-v1 and MountainCar-v0 with their DQN
/// presets. `quick` cuts every run to 1 500 environment steps and 3 test
/// episodes, for checking the pipeline.
///
/// # Errors
/// A preset that does not read.
pub fn entries(quick: bool) -> Result<Vec<Entry>, String> {
    let root = crate::chapter::workspace_root();
    let file = |name: &str| RunConfig::from_file(&root.join(name)).map_err(|e| runner::ErrorChain(&e).to_string());
    let named = |name: &str| RunConfig::for_env(name).map_err(|e| runner::ErrorChain(&e).to_string());
    let mut entries = vec![
        Entry {
            env: "CartPole-v1",
            algorithm: "DQN",
            source: "presets/fast.ron",
            config: file("presets/fast.ron")?,
            random: 22.0,
            max: 500.0,
        },
        Entry {
            env: "CartPole-v1",
            algorithm: "Rainbow",
            source: "presets/rainbow.ron",
            config: file("presets/rainbow.ron")?,
            random: 22.0,
            max: 500.0,
        },
        Entry {
            env: "Acrobot-v1",
            algorithm: "DQN",
            source: "`--env acrobot` (runner/src/presets/acrobot.ron)",
            config: named("acrobot")?,
            random: -500.0,
            max: 0.0,
        },
        Entry {
            env: "MountainCar-v0",
            algorithm: "DQN",
            source: "`--env mountaincar` (runner/src/presets/mountaincar.ron)",
            config: named("mountaincar")?,
            random: -200.0,
            max: 0.0,
        },
    ];
    if quick {
        for entry in &mut entries {
            entry.config.max_train_steps = Some(1500);
            entry.config.test_episodes = 3;
            entry.config.early_stop = None;
        }
    }
    Ok(entries)
}

/// Trains this shard's missing runs of every entry on `seeds` into `out`
/// (unless `report_only`), then reports on every result present and
/// returns the report (Markdown).
///
/// # Errors
/// A run or result file that fails, as text naming it.
pub fn suite(
    entries: &[Entry],
    seeds: &[u64],
    out: &Path,
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
            runner::sweep::run(plan, out, shard, workers, &|result, finished, total| {
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
        found.push(runner::sweep::results(plan, out).map_err(chain)?);
    }
    Ok(report(entries, &found, seeds, started.elapsed().as_secs_f64(), report_only))
}

/// The report: one row per entry, then Rainbow against DQN.
fn report(
    entries: &[Entry],
    found: &[BTreeMap<String, SweepResult>],
    seeds: &[u64],
    seconds: f64,
    report_only: bool,
) -> String {
    // The runs' own times sum the same whether reported now or later.
    let run_seconds: f64 = found.iter().flat_map(|f| f.values().map(|r| r.seconds)).sum();
    let took = if report_only {
        format!(" The runs' wall times add up to {run_seconds:.0} s.")
    } else {
        format!(" The runs' wall times add up to {run_seconds:.0} s; this suite took {seconds:.0} s on this machine.")
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "<!-- Generated by `cargo xtask suite`: do not edit. -->\n\n# Results: the classic-control suite\n"
    );
    let _ = writeln!(
        t,
        "Each entry trained on seeds {} (the fast preset was tuned on seeds 100–109 and Rainbow's on 100–109 \
         with one choice seen on 0–9, `docs/presets.md`; the Acrobot and MountainCar presets record no tuning \
         seeds), each run tested on 100 greedy episodes; a run's score is its mean test return. IQM: the mean of the middle half of the runs' scores \
         (`runner::iqm`, as `scipy.stats.trim_mean(x, 0.25)`); intervals: 95 % percentile intervals of {BOOTSTRAP_REPS} \
         stratified bootstrap resamples (seeded: the same results give the same report). Normalised: \
         (R − random) / (max − random) with the values in the table. Wall time: one core, beside the suite's \
         other runs.{}\n",
        describe_seeds(seeds),
        took
    );
    let _ = writeln!(
        t,
        "| environment | algorithm | settings | runs | IQM [95 % CI] | mean [95 % CI] | normalised IQM (random, max) | median env steps | median wall s |"
    );
    let _ = writeln!(t, "|---|---|---|---:|---:|---:|---:|---:|---:|");
    let scores: Vec<Vec<f64>> = found.iter().map(|f| f.values().map(|r| r.test_mean).collect()).collect();
    for ((entry, results), scores) in entries.iter().zip(found).zip(&scores) {
        let strata = [scores.clone()];
        let ci = |stat: fn(&[f64]) -> f64| {
            let interval = stratified_bootstrap_ci(&strata, |s| stat(&s[0]), BOOTSTRAP_REPS, 0.95, BOOTSTRAP_SEED);
            format!("{:.1} [{:.1}, {:.1}]", stat(scores), interval.low, interval.high)
        };
        let median = |f: &dyn Fn(&SweepResult) -> f64| runner::median(results.values().map(f));
        let normalised: Vec<f64> = scores.iter().map(|&s| normalized(s, entry.random, entry.max)).collect();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {:.3} ({}, {}) | {:.0} | {:.1} |",
            entry.env,
            entry.algorithm,
            entry.source,
            scores.len(),
            ci(iqm),
            ci(|v| v.iter().sum::<f64>() / v.len() as f64),
            iqm(&normalised),
            entry.random,
            entry.max,
            median(&|r| r.train_steps as f64),
            median(&|r| r.seconds),
        );
    }
    let _ = writeln!(t, "\n## Rainbow against DQN\n");
    let _ = writeln!(t, "| environment | P(Rainbow > DQN) [95 % CI] |\n|---|---:|");
    for (i, entry) in entries.iter().enumerate() {
        if entry.algorithm != "Rainbow" {
            continue;
        }
        let Some(j) = entries.iter().position(|e| e.env == entry.env && e.algorithm == "DQN") else { continue };
        let (x, y) = ([scores[i].clone()], [scores[j].clone()]);
        let p = probability_of_improvement(&x, &y);
        // Both sides resampled, each within its own runs.
        let both = [scores[i].clone(), scores[j].clone()];
        let interval = stratified_bootstrap_ci(
            &both,
            |s| probability_of_improvement(&s[..1], &s[1..]),
            BOOTSTRAP_REPS,
            0.95,
            BOOTSTRAP_SEED,
        );
        let _ = writeln!(t, "| {} | {p:.2} [{:.2}, {:.2}] |", entry.env, interval.low, interval.high);
    }
    let _ = writeln!(
        t,
        "\nReproduce: `cargo xtask suite` (trains what is missing into `suite/`, then writes this file); \
         `--shard I/N` trains part of it anywhere, `--report-only` reports on the results present."
    );
    t
}

fn describe_seeds(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if seeds.windows(2).all(|w| w[1] == w[0] + 1) && seeds.len() > 1 => format!("{a}–{b}"),
        _ => seeds.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipeline end to end on tiny runs: every entry trains and the
    /// report has a row for each, with its interval, and the comparison.
    #[test]
    fn a_quick_suite_reports_every_entry() {
        let dir = std::env::temp_dir().join(format!("dqn-suite-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let entries = entries(true).unwrap();
        let text = suite(&entries, &[0, 1], &dir, None, 2, false).unwrap();
        for entry in &entries {
            assert!(text.contains(&format!("| {} | {} |", entry.env, entry.algorithm)), "{text}");
        }
        let comparison = &text[text.find("## Rainbow against DQN").unwrap()..];
        assert!(comparison.contains("| CartPole-v1 | "), "{text}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2 * entries.len(), "one result file per run");
        // Reporting again from the files gives the same table.
        let again = suite(&entries, &[0, 1], &dir, None, 2, true).unwrap();
        // (Its introduction leaves out the training time.)
        assert_eq!(again.lines().skip(5).collect::<Vec<_>>(), text.lines().skip(5).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
