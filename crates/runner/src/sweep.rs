//! Sweeps: a grid of settings × seeds, every run trained to the end (early
//! stop included) and tested on the [`pool`](crate::pool).
//!
//! Every run's result is a file named by its [`run_key`] (the hash of its
//! full configuration), written atomically as soon as the run ends. So a
//! sweep resumes where it stopped, and one spread over machines (a
//! [`Shard`]: the runs whose hash is `I-1` modulo `N`) merges by copying
//! the result files into one folder; no coordinator is needed, and no two
//! shards write the same file. Reports are the caller's (`cargo xtask
//! sweep` prints a Markdown table).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pool::{RunOutcome, run_key, run_parallel};
use crate::{ConfigError, RunConfig, RunError, write_atomic};

/// The most runs a plan may hold (grid points × seeds): far more than a
/// sweep of days, few enough to list. A larger plan is refused before any
/// point or seed list is built.
pub const MAX_RUNS: u64 = 100_000;
/// The most worker threads a pool may be asked for.
pub const MAX_WORKERS: usize = 1024;

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
    ///
    /// # Errors
    /// [`SweepError::Shard`] unless `1 <= I <= N`.
    pub fn parse(text: &str) -> Result<Self, SweepError> {
        let bad = || SweepError::Shard { text: text.to_string() };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Whether the run with this key belongs to this shard.
    #[must_use]
    pub fn owns(self, key: &str) -> bool {
        u64::from_str_radix(key, 16).is_ok_and(|h| h % self.count == self.index - 1)
    }
}

/// One grid point: the value chosen for each varied key.
pub type Point = Vec<(String, String)>;

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

/// One run of a plan.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Its [`run_key`], the name of its result file.
    pub key: String,
    /// Its grid point.
    pub point: Point,
    /// Its full configuration.
    pub config: RunConfig,
}

/// A run's result, as stored in the sweep's folder (`<key>.json`).
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
    /// The most heap the run held at once, in bytes (absent when the
    /// sweeping binary did not count it: [`crate::heap`]).
    #[serde(default)]
    pub peak_heap_bytes: Option<u64>,
    /// Environment steps at each periodic evaluation of training.
    #[serde(default)]
    pub eval_steps: Vec<u64>,
    /// The mean greedy return of each periodic evaluation.
    #[serde(default)]
    pub eval_means: Vec<f64>,
}

/// Why a sweep could not be planned, run or read.
#[derive(Debug)]
#[non_exhaustive]
pub enum SweepError {
    /// A grid argument is not `KEY=V1|V2|...` with non-empty values.
    Grid {
        /// The argument.
        arg: String,
    },
    /// A seed list or range that does not parse, repeats a seed (the same
    /// run twice), or holds more seeds than a plan may run.
    Seeds {
        /// The argument.
        spec: String,
        /// What is wrong.
        problem: String,
    },
    /// A grid that varies a key twice or repeats a value of one key (the
    /// same runs twice).
    Repeated {
        /// The key.
        key: String,
        /// The repeated value (`None`: the key itself is repeated).
        value: Option<String>,
    },
    /// More runs than [`MAX_RUNS`] (`runs` is `None` beyond `u64`).
    TooManyRuns {
        /// Grid points × seeds.
        runs: Option<u64>,
    },
    /// A worker count of 0 or beyond [`MAX_WORKERS`].
    Workers {
        /// The count given.
        workers: usize,
    },
    /// A shard is not `I/N` with `1 <= I <= N`.
    Shard {
        /// The argument.
        text: String,
    },
    /// A grid point gives an unusable configuration.
    Point {
        /// The grid point, `key=value ...`.
        point: String,
        /// What is wrong.
        source: ConfigError,
    },
    /// The results folder or a result file could not be written or read.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A result file is not a sweep result.
    Result {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: serde_json::Error,
    },
    /// A run failed.
    Run {
        /// Its key.
        key: String,
        /// Why (boxed: a run's error is large, a sweep's other errors small).
        source: Box<RunError>,
    },
}

impl std::fmt::Display for SweepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Grid { arg } => {
                write!(f, "--grid {arg:?}: expected KEY=V1|V2|... with no empty value, e.g. agent.lr=1e-3|3e-3")
            }
            Self::Seeds { spec, problem } => write!(f, "--seeds {:?}: {problem}", crate::text::abbreviate(spec)),
            Self::Repeated { key, value: None } => write!(f, "--grid varies {key} twice: give its values once"),
            Self::Repeated { key, value: Some(value) } => {
                write!(f, "--grid {key}: the value {value} is given twice (the same runs twice)")
            }
            Self::TooManyRuns { runs } => {
                let runs = runs.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
                write!(f, "the sweep has {runs} runs (grid points × seeds); at most {MAX_RUNS} are allowed")
            }
            Self::Workers { workers } => write!(f, "--jobs {workers}: must be from 1 to {MAX_WORKERS}"),
            Self::Shard { text } => write!(f, "--shard {text:?}: expected I/N with 1 <= I <= N, e.g. 3/16"),
            Self::Point { point, .. } => write!(f, "grid point {point}"),
            Self::Io { path, .. } => write!(f, "{}", crate::text::path(path)),
            Self::Result { path, .. } => write!(f, "{}: not a sweep result", crate::text::path(path)),
            Self::Run { key, .. } => write!(f, "run {key}"),
        }
    }
}

impl std::error::Error for SweepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Point { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            Self::Result { source, .. } => Some(source),
            Self::Run { source, .. } => Some(source.as_ref()),
            Self::Grid { .. }
            | Self::Seeds { .. }
            | Self::Repeated { .. }
            | Self::TooManyRuns { .. }
            | Self::Workers { .. }
            | Self::Shard { .. } => None,
        }
    }
}

/// Parses seeds: a range `A..B` (A < B) or a list `A,B,C`, with no seed
/// twice and at most [`MAX_RUNS`] of them, counted before any list is
/// built (a range up to 2⁶⁴ − 1 is refused at once).
///
/// # Errors
/// [`SweepError::Seeds`] naming the problem.
pub fn parse_seeds(spec: &str) -> Result<Vec<u64>, SweepError> {
    let bad = |problem: &str| SweepError::Seeds { spec: spec.to_string(), problem: problem.to_string() };
    let syntax = "expected a range like 0..5 or a list like 0,3,7";
    if let Some((a, b)) = spec.split_once("..") {
        let (a, b): (u64, u64) =
            (a.trim().parse().map_err(|_| bad(syntax))?, b.trim().parse().map_err(|_| bad(syntax))?);
        if a >= b {
            return Err(bad("an empty range: the end must be above the start"));
        }
        if b - a > MAX_RUNS {
            return Err(bad(&format!("{} seeds; at most {MAX_RUNS} are allowed", b - a)));
        }
        return Ok((a..b).collect());
    }
    let items = spec.split(',');
    if items.clone().count() as u64 > MAX_RUNS {
        return Err(bad(&format!("more than {MAX_RUNS} seeds")));
    }
    let seeds: Vec<u64> = items.map(|s| s.trim().parse().map_err(|_| bad(syntax))).collect::<Result<_, _>>()?;
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = seeds.iter().find(|s| !seen.insert(**s)) {
        return Err(bad(&format!("seed {twice} is given twice (the same run twice)")));
    }
    Ok(seeds)
}

/// Checks a worker count: 1 to [`MAX_WORKERS`].
///
/// # Errors
/// [`SweepError::Workers`].
pub fn check_workers(workers: usize) -> Result<usize, SweepError> {
    if (1..=MAX_WORKERS).contains(&workers) { Ok(workers) } else { Err(SweepError::Workers { workers }) }
}

/// Parses `KEY=V1|V2|...`.
///
/// # Errors
/// [`SweepError::Grid`].
pub fn parse_grid(arg: &str) -> Result<(String, Vec<String>), SweepError> {
    let bad = || SweepError::Grid { arg: arg.to_string() };
    let (key, values) = arg.split_once('=').ok_or_else(bad)?;
    if values.split('|').count() as u64 > MAX_RUNS {
        return Err(SweepError::TooManyRuns { runs: Some(values.split('|').count() as u64) });
    }
    let values: Vec<String> = values.split('|').map(|v| v.trim().to_string()).collect();
    if key.trim().is_empty() || values.iter().any(String::is_empty) {
        return Err(bad());
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = values.iter().find(|v| !seen.insert(v.as_str())) {
        return Err(SweepError::Repeated { key: key.trim().to_string(), value: Some(twice.clone()) });
    }
    Ok((key.trim().to_string(), values))
}

/// A grid point as `key=value ...` (`(base)` for none).
#[must_use]
pub fn describe(point: &Point) -> String {
    if point.is_empty() {
        return "(base)".into();
    }
    point.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

impl Plan {
    /// Checks the plan's size before anything is built: no key varied
    /// twice, no seed twice, at most [`MAX_RUNS`] runs in all.
    ///
    /// # Errors
    /// [`SweepError::Repeated`], [`SweepError::Seeds`] or
    /// [`SweepError::TooManyRuns`].
    pub fn check(&self) -> Result<u64, SweepError> {
        let mut keys = std::collections::BTreeSet::new();
        if let Some((key, _)) = self.grid.iter().find(|(key, _)| !keys.insert(key.as_str())) {
            return Err(SweepError::Repeated { key: key.clone(), value: None });
        }
        let runs =
            self.grid.iter().try_fold(self.seeds.len() as u64, |n, (_, values)| n.checked_mul(values.len() as u64));
        let runs = match runs {
            Some(n) if n <= MAX_RUNS => n,
            runs => return Err(SweepError::TooManyRuns { runs }),
        };
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            let spec = self.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
            let problem = format!("seed {twice} is given twice (the same run twice)");
            return Err(SweepError::Seeds { spec, problem });
        }
        Ok(runs)
    }

    /// Every grid point, in order (the last key varies fastest). Build
    /// them after [`check`](Self::check): a grid of ten keys of ten values
    /// has 10¹⁰ points.
    #[must_use]
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

    /// Every run, each point with each seed, checked.
    ///
    /// # Errors
    /// As [`check`](Self::check), before any point is built; then
    /// [`SweepError::Point`] for the first point whose settings do not
    /// apply or validate.
    pub fn runs(&self) -> Result<Vec<PlannedRun>, SweepError> {
        self.check()?;
        let mut out = Vec::new();
        for point in self.points() {
            for &seed in &self.seeds {
                let mut config = self.base.clone();
                config.seed = seed;
                let checked = point
                    .iter()
                    .try_for_each(|(key, value)| config.apply_override(&format!("{key}={value}")))
                    .and_then(|()| config.validate());
                checked.map_err(|source| SweepError::Point { point: describe(&point), source })?;
                out.push(PlannedRun { key: run_key(&config), point: point.clone(), config });
            }
        }
        Ok(out)
    }
}

/// The result file of the run with key `key` in `folder`.
#[must_use]
pub fn result_path(folder: &Path, key: &str) -> PathBuf {
    folder.join(format!("{key}.json"))
}

/// Trains the runs of `plan` that belong to `shard` (all without one) and
/// have no result file in `folder` yet, on `workers` threads, writing each
/// result as it ends. `on_result(result, finished, to_train)` sees each
/// (for progress). Returns how many runs were trained.
///
/// # Errors
/// [`SweepError::Point`] for a bad grid point (before anything trains),
/// [`SweepError::Io`] for the folder or a result file, [`SweepError::Run`]
/// for the first run that failed (every other run still finishes and is
/// written).
pub fn run(
    plan: &Plan,
    folder: &Path,
    shard: Option<Shard>,
    workers: usize,
    on_result: &(dyn Fn(&SweepResult, usize, usize) + Sync),
) -> Result<usize, SweepError> {
    check_workers(workers)?;
    let all = plan.runs()?;
    std::fs::create_dir_all(folder).map_err(|source| SweepError::Io { path: folder.to_path_buf(), source })?;
    let todo: Vec<(String, RunConfig)> = all
        .iter()
        .filter(|r| shard.is_none_or(|s| s.owns(&r.key)) && !result_path(folder, &r.key).is_file())
        .map(|r| (r.key.clone(), r.config.clone()))
        .collect();
    let points: BTreeMap<&str, &Point> = all.iter().map(|r| (r.key.as_str(), &r.point)).collect();
    let total = todo.len();
    let write_error = std::sync::Mutex::new(None);
    let results = run_parallel(&todo, workers, None, &|key, config, outcome, finished| {
        let result = sweep_result(points.get(key).map_or_else(Vec::new, |p| (*p).clone()), config, outcome);
        let path = result_path(folder, key);
        let text = serde_json::to_string_pretty(&result).expect("results serialize");
        if let Err((path, source)) = write_atomic(&path, text.as_bytes(), &mut |_, _| {}) {
            write_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert(SweepError::Io { path, source });
        }
        on_result(&result, finished, total);
    });
    if let Some(e) = write_error.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        return Err(e);
    }
    if let Some((key, Err(_))) = results.iter().find(|(_, r)| r.is_err()) {
        let key = key.clone();
        let source = results.into_iter().find_map(|(k, r)| if k == key { r.err() } else { None });
        return Err(SweepError::Run { key, source: Box::new(source.expect("the failed run is in the results")) });
    }
    Ok(total)
}

fn sweep_result(point: Point, config: &RunConfig, outcome: &RunOutcome) -> SweepResult {
    let r = &outcome.record;
    SweepResult {
        point,
        seed: config.seed,
        config: r.config.clone(),
        train_steps: r.train_steps,
        train_episodes: r.returns.len(),
        test_mean: r.test_mean(),
        test_min: r.test_min(),
        test_episodes: r.test_returns.len(),
        seconds: outcome.seconds,
        peak_heap_bytes: outcome.peak_heap_bytes,
        eval_steps: r.eval_steps.clone(),
        eval_means: r.eval_means.clone(),
    }
}

/// The results present in `folder` for the runs of `plan`, by key.
///
/// # Errors
/// [`SweepError::Point`] for a bad grid point, [`SweepError::Result`] for a
/// result file that does not parse, [`SweepError::Io`] for one that exists
/// but cannot be read.
pub fn results(plan: &Plan, folder: &Path) -> Result<BTreeMap<String, SweepResult>, SweepError> {
    let mut found = BTreeMap::new();
    for r in plan.runs()? {
        let path = result_path(folder, &r.key);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(SweepError::Io { path, source }),
        };
        let result = serde_json::from_str(&text).map_err(|source| SweepError::Result { path, source })?;
        found.insert(r.key, result);
    }
    Ok(found)
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
            assert!(matches!(Shard::parse(bad), Err(SweepError::Shard { .. })), "{bad}");
        }
        let runs = tiny_plan().runs().unwrap();
        assert_eq!(runs.len(), 12);
        for r in &runs {
            let owners = (1..=4).filter(|&i| Shard { index: i, count: 4 }.owns(&r.key)).count();
            assert_eq!(owners, 1, "{}", r.key);
        }
        for bad in ["agent.lr", "agent.lr=1e-3||2", "=1|2"] {
            assert!(matches!(parse_grid(bad), Err(SweepError::Grid { .. })), "{bad}");
        }
    }

    #[test]
    fn a_bad_point_is_named_before_anything_trains() {
        let mut plan = tiny_plan();
        plan.grid.push(parse_grid("agent.batch_size=8|0").unwrap());
        let err = plan.runs().unwrap_err();
        assert!(matches!(&err, SweepError::Point { point, .. } if point.contains("agent.batch_size=0")), "{err}");
    }

    /// Sizes are counted before anything is built: ranges and grids of any
    /// size are refused at once, repeats are named, and a worker count of
    /// any size is refused (the pool itself spawns no more threads than
    /// runs).
    #[test]
    fn plans_are_counted_before_they_are_built() {
        for (spec, problem) in [
            ("0..18446744073709551615", "at most 100000"),
            ("5..5", "empty range"),
            ("1,1,1", "seed 1 is given twice"),
            ("0..x", "expected a range"),
        ] {
            match parse_seeds(spec) {
                Err(e @ SweepError::Seeds { .. }) => assert!(e.to_string().contains(problem), "{spec}: {e}"),
                other => panic!("{spec}: {other:?}"),
            }
        }
        assert_eq!(parse_seeds("3,1,2").unwrap(), vec![3, 1, 2]);
        let mut plan = tiny_plan();
        plan.grid = (0..10).map(|k| (format!("key{k}"), (0..10).map(|v| v.to_string()).collect())).collect();
        assert!(matches!(plan.check(), Err(SweepError::TooManyRuns { runs: Some(30_000_000_000) })));
        assert!(matches!(plan.runs(), Err(SweepError::TooManyRuns { .. })), "refused before the points are built");
        plan.grid = (0..40).map(|k| (format!("key{k}"), vec!["1".into(), "2".into(), "3".into()])).collect();
        assert!(matches!(plan.check(), Err(SweepError::TooManyRuns { runs: None })));
        let mut twice = tiny_plan();
        twice.grid.push(parse_grid("agent.lr=1e-4").unwrap());
        assert!(matches!(twice.check(), Err(SweepError::Repeated { value: None, .. })));
        assert!(matches!(parse_grid("agent.lr=1|2|1"), Err(SweepError::Repeated { value: Some(_), .. })));
        let mut seeds = tiny_plan();
        seeds.seeds = vec![4, 4];
        assert!(matches!(seeds.check(), Err(SweepError::Seeds { .. })));
        for workers in [0, MAX_WORKERS + 1, usize::MAX] {
            assert!(matches!(check_workers(workers), Err(SweepError::Workers { .. })));
        }
        assert_eq!(check_workers(2).unwrap(), 2);
        // 2⁶⁴ − 1 workers for no run: one thread looks, finds none, ends.
        assert!(run_parallel(&[], usize::MAX, None, &|_, _, _, _| {}).is_empty());
    }

    /// Two shards into one folder give the same results as one sweep, and
    /// nothing is trained twice.
    #[test]
    fn sharded_sweeps_merge_into_the_whole() {
        let plan = tiny_plan();
        let base = std::env::temp_dir().join(format!("dqn-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (whole, merged) = (base.join("whole"), base.join("merged"));
        assert_eq!(run(&plan, &whole, None, 2, &|_, _, _| {}).unwrap(), 12);
        let first = run(&plan, &merged, Some(Shard { index: 1, count: 2 }), 2, &|_, _, _| {}).unwrap();
        let second = run(&plan, &merged, Some(Shard { index: 2, count: 2 }), 2, &|_, _, _| {}).unwrap();
        assert_eq!(first + second, 12);
        assert_eq!(run(&plan, &merged, None, 2, &|_, _, _| {}).unwrap(), 0, "nothing left to train");
        let strip = |m: BTreeMap<String, SweepResult>| -> BTreeMap<String, SweepResult> {
            m.into_iter().map(|(k, r)| (k, SweepResult { seconds: 0.0, ..r })).collect()
        };
        let whole_results = strip(results(&plan, &whole).unwrap());
        assert_eq!(whole_results.len(), 12);
        assert_eq!(strip(results(&plan, &merged).unwrap()), whole_results);
        // A damaged result file is named, not skipped.
        let (key, _) = whole_results.iter().next().unwrap();
        std::fs::write(result_path(&whole, key), "{").unwrap();
        assert!(matches!(results(&plan, &whole), Err(SweepError::Result { .. })));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
