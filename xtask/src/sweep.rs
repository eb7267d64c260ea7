//! `cargo xtask sweep`: trains a grid of settings × seeds with
//! [`runner::sweep`] (cached by configuration hash, resumable, shardable)
//! and reports which settings solve the task and how fast.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use runner::sweep::{Plan, PlannedRun, Shard, SweepError, SweepResult, describe};

/// Runs this shard's missing runs into `out` (unless `report_only`),
/// printing each as it ends, then reports on every result present and
/// writes the report to `out/report.md`. Returns the report (Markdown).
pub fn sweep(
    plan: &Plan,
    out: &Path,
    shard: Option<Shard>,
    workers: usize,
    report_only: bool,
    solved_at: f64,
) -> Result<String, SweepError> {
    let all = plan.runs()?;
    if !report_only {
        let here = all.iter().filter(|r| shard.is_none_or(|s| s.owns(&r.key))).count();
        eprintln!("sweep: {} runs in the plan, {here} in this shard, on {workers} workers", all.len());
        runner::sweep::run(plan, out, shard, workers, &|result, finished, total| {
            eprintln!(
                "[{finished}/{total}] {} seed {}: test mean {:.1}, {} steps, {:.2} s",
                describe(&result.point),
                result.seed,
                result.test_mean,
                result.train_steps,
                result.seconds
            );
        })?;
    }
    let found = runner::sweep::results(plan, out)?;
    let text = report(plan, &all, &found, solved_at);
    let path = out.join("report.md");
    std::fs::create_dir_all(out).map_err(|source| SweepError::Io { path: out.to_path_buf(), source })?;
    runner::write_atomic(&path, text.as_bytes(), &mut |_, _| {})
        .map_err(|(path, source)| SweepError::Io { path, source })?;
    Ok(text)
}

/// The table: one row per grid point, the points that solve most seeds
/// fastest first.
fn report(plan: &Plan, all: &[PlannedRun], found: &BTreeMap<String, SweepResult>, solved_at: f64) -> String {
    struct Row {
        point: String,
        done: usize,
        solved: usize,
        seconds: f64,
        steps: f64,
        mean: f64,
        worst: f64,
    }
    let mut rows = Vec::new();
    for point in plan.points() {
        let results: Vec<&SweepResult> =
            all.iter().filter(|r| r.point == point).filter_map(|r| found.get(&r.key)).collect();
        let col = |f: &dyn Fn(&SweepResult) -> f64| -> Vec<f64> { results.iter().map(|r| f(r)).collect() };
        rows.push(Row {
            point: describe(&point),
            done: results.len(),
            solved: results.iter().filter(|r| r.test_mean >= solved_at).count(),
            seconds: runner::median(col(&|r| r.seconds)),
            steps: runner::median(col(&|r| r.train_steps as f64)),
            mean: runner::median(col(&|r| r.test_mean)),
            worst: col(&|r| r.test_mean).into_iter().fold(f64::INFINITY, f64::min),
        });
    }
    rows.sort_by(|a, b| b.solved.cmp(&a.solved).then(a.seconds.total_cmp(&b.seconds)));
    let mut t = String::new();
    let seeds: Vec<String> = plan.seeds.iter().map(u64::to_string).collect();
    let _ = writeln!(
        t,
        "Sweep: {} grid points × {} seeds ({}); solved = greedy test mean ≥ {solved_at}. \
         Seconds are per run, on one core beside the sweep's other runs.\n",
        rows.len(),
        plan.seeds.len(),
        seeds.join(", ")
    );
    let _ = writeln!(t, "| settings | runs | solved | median s | median steps | median test | worst test |");
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {}/{} | {} | {:.2} | {:.0} | {:.1} | {:.1} |",
            r.point,
            r.done,
            plan.seeds.len(),
            r.solved,
            r.seconds,
            r.steps,
            r.mean,
            r.worst
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use runner::RunConfig;
    use runner::sweep::parse_grid;

    /// The report counts the runs present and solved per point, and a
    /// report-only pass over a merged folder reads every shard's results.
    #[test]
    fn the_report_counts_what_is_there() {
        let mut base = RunConfig { train_episodes: 4, test_episodes: 2, ..RunConfig::default() };
        base.agent.hidden = vec![8];
        base.agent.batch_size = 8;
        let plan = Plan { base, grid: vec![parse_grid("agent.lr=1e-3|1e-2").unwrap()], seeds: vec![0, 1] };
        let dir = std::env::temp_dir().join(format!("dqn-sweep-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let part = sweep(&plan, &dir, Some(Shard { index: 1, count: 2 }), 2, false, 475.0).unwrap();
        sweep(&plan, &dir, Some(Shard { index: 2, count: 2 }), 2, false, 475.0).unwrap();
        let whole = sweep(&plan, &dir, None, 2, true, 475.0).unwrap();
        assert!(whole.contains("| 2/2 |") && !whole.contains("| 1/2 |") && !whole.contains("| 0/2 |"), "{whole}");
        assert_eq!(part.lines().count(), whole.lines().count());
        // Nothing here reaches 475 in 4 episodes; everything reaches -1e9.
        assert!(whole.contains("| 2/2 | 0 |"), "{whole}");
        let low = sweep(&plan, &dir, None, 2, true, -1e9).unwrap();
        assert!(low.contains("| 2/2 | 2 |"), "{low}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
