//! `cargo xtask sweep`: a grid of settings × seeds, each run trained to the
//! end (early stop included) and tested, runs side by side on the cores.
//!
//! Every run's result is a file named by the hash of its full configuration
//! ([`runs::run_key`]), written as soon as the run ends. So a sweep resumes
//! where it stopped, and one spread over machines (`--shard I/N`: the runs
//! whose hash is `I-1` modulo `N`) merges by copying the result files into
//! one folder; no coordinator is needed, and no two shards write the same
//! file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use runner::RunConfig;
use serde::{Deserialize, Serialize};

use crate::runs;

/// One part of a sweep split `count` ways: `index` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, 1..=count.
    pub index: u64,
    /// How many parts.
    pub count: u64,
}

impl Shard {
    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("--shard {text:?}: expected I/N with 1 <= I <= N, e.g. 3/16");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Whether the run with this key belongs to this shard.
    pub fn owns(self, key: &str) -> bool {
        u64::from_str_radix(key, 16).is_ok_and(|h| h % self.count == self.index - 1)
    }
}

/// What a sweep is: a base configuration, the settings to vary, the seeds.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every run starts from this.
    pub base: RunConfig,
    /// `(key, values)`: each value is RON for `--set key=value`.
    pub grid: Vec<(String, Vec<String>)>,
    /// Seeds of every grid point.
    pub seeds: Vec<u64>,
}

/// One grid point: the value chosen for each varied key.
pub type Point = Vec<(String, String)>;

/// A run's result, as stored in the sweep's folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// The grid point.
    pub point: Point,
    /// The master seed.
    pub seed: u64,
    /// The full configuration (RON).
    pub config: String,
    /// Training environment steps.
    pub train_steps: u64,
    /// Training episodes finished.
    pub train_episodes: usize,
    /// Mean greedy test return.
    pub test_mean: f64,
    /// Lowest greedy test return.
    pub test_min: f64,
    /// Test episodes.
    pub test_episodes: usize,
    /// Wall seconds of training and testing, on one core beside the
    /// sweep's other runs.
    pub seconds: f64,
}

/// Parses `KEY=V1|V2|...`.
pub fn parse_grid(arg: &str) -> Result<(String, Vec<String>), String> {
    let (key, values) = arg
        .split_once('=')
        .ok_or_else(|| format!("--grid {arg:?}: expected KEY=V1|V2|..., e.g. agent.lr=1e-3|3e-3"))?;
    let values: Vec<String> = values.split('|').map(|v| v.trim().to_string()).collect();
    if values.iter().any(String::is_empty) {
        return Err(format!("--grid {arg:?}: an empty value"));
    }
    Ok((key.trim().to_string(), values))
}

impl Plan {
    /// Every grid point, in order (the last key varies fastest).
    pub fn points(&self) -> Vec<Point> {
        self.grid.iter().fold(vec![Vec::new()], |points, (key, values)| {
            points
                .iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut p = p.clone();
                        p.push((key.clone(), v.clone()));
                        p
                    })
                })
                .collect()
        })
    }

    /// Every run: `(key, point, config)`, checked.
    pub fn runs(&self) -> Result<Vec<(String, Point, RunConfig)>, String> {
        let mut out = Vec::new();
        for point in self.points() {
            for &seed in &self.seeds {
                let mut config = self.base.clone();
                config.seed = seed;
                for (key, value) in &point {
                    config.apply_override(&format!("{key}={value}")).map_err(|e| runner::ErrorChain(&e).to_string())?;
                }
                config.validate().map_err(|e| format!("grid point {}: {e}", describe(&point)))?;
                out.push((runs::run_key(&config), point.clone(), config));
            }
        }
        Ok(out)
    }
}

fn describe(point: &Point) -> String {
    if point.is_empty() {
        return "(base)".into();
    }
    point.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// Runs this shard's missing runs into `out` (unless `report_only`), then
/// reports on every result present. Returns the report (Markdown).
pub fn sweep(
    plan: &Plan,
    out: &Path,
    shard: Option<Shard>,
    workers: usize,
    report_only: bool,
    solved_at: f64,
) -> Result<String, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let all = plan.runs()?;
    let path_of = |key: &str| out.join(format!("{key}.json"));
    if !report_only {
        let todo: Vec<(String, RunConfig)> = all
            .iter()
            .filter(|(key, _, _)| shard.is_none_or(|s| s.owns(key)) && !path_of(key).is_file())
            .map(|(key, _, config)| (key.clone(), config.clone()))
            .collect();
        let points: BTreeMap<&str, &Point> = all.iter().map(|(k, p, _)| (k.as_str(), p)).collect();
        let total = todo.len();
        eprintln!("sweep: {} runs in the plan, {total} to train here on {workers} workers", all.len());
        let results = runs::run_parallel(&todo, workers, &|key, config, outcome, finished| {
            let r = &outcome.record;
            let result = SweepResult {
                point: points.get(key).map_or_else(Vec::new, |p| (*p).clone()),
                seed: config.seed,
                config: r.config.clone(),
                train_steps: r.train_steps,
                train_episodes: r.returns.len(),
                test_mean: r.test_mean(),
                test_min: r.test_returns.iter().copied().fold(f64::INFINITY, f64::min),
                test_episodes: r.test_returns.len(),
                seconds: outcome.seconds,
            };
            if let Err(e) = write_result(&path_of(key), &result) {
                eprintln!("warning: {e}");
            }
            eprintln!(
                "[{finished}/{total}] {} seed {}: test mean {:.1}, {} steps, {:.2} s",
                describe(&result.point),
                result.seed,
                result.test_mean,
                result.train_steps,
                result.seconds
            );
        });
        if let Some((key, Err(e))) = results.iter().find(|(_, r)| r.is_err()) {
            return Err(format!("run {key}: {e}"));
        }
    }
    let mut found = BTreeMap::new();
    for (key, _, _) in &all {
        if let Ok(text) = std::fs::read_to_string(path_of(key)) {
            let result: SweepResult =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path_of(key).display()))?;
            found.insert(key.clone(), result);
        }
    }
    let text = report(plan, &all, &found, solved_at);
    let path = out.join("report.md");
    std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text)
}

fn write_result(path: &PathBuf, result: &SweepResult) -> Result<(), String> {
    // Written under a temporary name and renamed, so a result file is
    // always whole (a killed sweep leaves no half file to be trusted).
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(result).expect("results serialize"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// The table: one row per grid point, the points that solve most seeds
/// fastest first.
fn report(
    plan: &Plan,
    all: &[(String, Point, RunConfig)],
    found: &BTreeMap<String, SweepResult>,
    solved_at: f64,
) -> String {
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
            all.iter().filter(|(_, p, _)| *p == point).filter_map(|(k, _, _)| found.get(k)).collect();
        let col = |f: &dyn Fn(&SweepResult) -> f64| -> Vec<f64> { results.iter().map(|r| f(r)).collect() };
        rows.push(Row {
            point: describe(&point),
            done: results.len(),
            solved: results.iter().filter(|r| r.test_mean >= solved_at).count(),
            seconds: median(&mut col(&|r| r.seconds)),
            steps: median(&mut col(&|r| r.train_steps as f64)),
            mean: median(&mut col(&|r| r.test_mean)),
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

    fn tiny_plan() -> Plan {
        let mut base = RunConfig { train_episodes: 4, test_episodes: 2, ..RunConfig::default() };
        base.agent.hidden = vec![8];
        base.agent.batch_size = 8;
        Plan {
            base,
            grid: vec![parse_grid("agent.lr=1e-3|1e-2").unwrap(), parse_grid("collection.envs=1|2").unwrap()],
            seeds: vec![0, 1, 2],
        }
    }

    #[test]
    fn shards_partition_the_runs() {
        assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
        for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let runs = tiny_plan().runs().unwrap();
        assert_eq!(runs.len(), 12);
        for (key, _, _) in &runs {
            let owners = (1..=4).filter(|&i| Shard { index: i, count: 4 }.owns(key)).count();
            assert_eq!(owners, 1, "{key}");
        }
        assert!(parse_grid("agent.lr").is_err());
        assert!(parse_grid("agent.lr=1e-3||2").is_err());
    }

    /// Two shards into one folder give the same results as one sweep, and
    /// nothing is trained twice.
    #[test]
    fn sharded_sweeps_merge_into_the_whole() {
        let plan = tiny_plan();
        let base = std::env::temp_dir().join(format!("dqn-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (whole, merged) = (base.join("whole"), base.join("merged"));
        let full = sweep(&plan, &whole, None, 2, false, 475.0).unwrap();
        let part = sweep(&plan, &merged, Some(Shard { index: 1, count: 2 }), 2, false, 475.0).unwrap();
        assert!(part.contains("/3 |"), "{part}");
        sweep(&plan, &merged, Some(Shard { index: 2, count: 2 }), 2, false, 475.0).unwrap();
        let read = |dir: &Path| -> BTreeMap<String, (u64, String)> {
            std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| {
                    let path = e.unwrap().path();
                    let name = path.file_name()?.to_str()?.to_string();
                    let r: SweepResult = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
                    Some((name, (r.train_steps, format!("{:?}", (r.test_mean, r.point, r.config)))))
                })
                .collect()
        };
        assert_eq!(read(&merged), read(&whole));
        assert_eq!(read(&whole).len(), 12);
        let report = sweep(&plan, &merged, None, 2, true, 475.0).unwrap();
        assert!(report.contains("| 3/3 |") && !report.contains("| 2/3 |"), "{report}");
        assert_eq!(report.lines().count(), full.lines().count());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
