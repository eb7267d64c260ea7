//! `cargo xtask suite --minatar`: Young & Tian's MinAtar DQN at its full
//! budget (`presets/minatar/<game>-dqn.ron`: 5 M frames), five games ×
//! seeds, reported beside the paper's values in `docs/minatar.md`.
//!
//! A run here takes hours, so unlike the classic-control suite (whole runs,
//! a result file each) every run trains in a run folder of its own, named
//! by its configuration's hash, with checkpoints: a suite stopped by Ctrl-C,
//! SIGTERM, the end of a session or a crash resumes every unfinished run
//! from its newest checkpoint, to the same bytes as a run never stopped.
//! Shards (`--shard I/N`) split the runs by the same hash as sweeps do, so
//! folders from several machines merge by copying.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use plotters::prelude::SeriesLabelPosition;
use runner::sweep::Shard;
use runner::{RunConfig, RunError, iqm, stratified_bootstrap_ci};

use crate::plot::{Figure, PALETTE, Series, read_columns, save_svg};

const BOOTSTRAP_REPS: usize = 2000;
const BOOTSTRAP_SEED: u64 = 0x5eed_2019;

/// The first line of the page's hand-written notes (what a difference from
/// the paper was checked against), which the report keeps as they are.
pub const NOTES_BEGIN: &str = "<!-- minatar-notes: written by hand, kept by the report -->";
/// Their last line.
pub const NOTES_END: &str = "<!-- /minatar-notes -->";

/// The paper's measure: the mean return of the last this many training
/// episodes (the README's curves: "moving average of returns over 100
/// episodes").
const LAST_EPISODES: usize = 100;

/// A game: its name in `--env minatar-<id>`, its preset, and Young &
/// Tian's DQN return at 5 M frames read off the README's learning curves
/// (`../shared/minatar-spec.md`: ±5 %, the average of 30 runs; Seaquest's
/// from before the 1.0.11 oxygen fix).
pub struct Game {
    /// Short name (`breakout`).
    pub id: &'static str,
    /// Its title in the report.
    pub title: &'static str,
    /// Its preset file.
    pub preset: &'static str,
    /// The paper's DQN return at 5 M frames.
    pub paper: f64,
}

/// The five games, in the paper's order.
pub const GAMES: [Game; 5] = [
    Game { id: "seaquest", title: "Seaquest", preset: "presets/minatar/seaquest-dqn.ron", paper: 20.0 },
    Game { id: "breakout", title: "Breakout", preset: "presets/minatar/breakout-dqn.ron", paper: 10.0 },
    Game { id: "asterix", title: "Asterix", preset: "presets/minatar/asterix-dqn.ron", paper: 17.0 },
    Game { id: "freeway", title: "Freeway", preset: "presets/minatar/freeway-dqn.ron", paper: 50.0 },
    Game {
        id: "space-invaders",
        title: "Space Invaders",
        preset: "presets/minatar/space-invaders-dqn.ron",
        paper: 43.0,
    },
];

/// What to run and where.
pub struct Options<'a> {
    /// Seeds of every game.
    pub seeds: &'a [u64],
    /// The folder of the run folders.
    pub out: &'a Path,
    /// The report (its figures go to the folder of the same name).
    pub report: &'a Path,
    /// This machine's part.
    pub shard: Option<Shard>,
    /// Runs at a time, one core each.
    pub workers: usize,
    /// Train nothing; report on what is there.
    pub report_only: bool,
    /// Tiny runs (1 500 frames, learning from frame 500, 3 test episodes)
    /// for checking the pipeline.
    pub quick: bool,
    /// Checkpoint every this many finished episodes.
    pub checkpoint_every: u32,
    /// Set to stop every run at its next step, checkpointed.
    pub stop: Arc<AtomicBool>,
    /// Stop each run after this many frames in all (tests of resuming).
    pub stop_after_steps: Option<u64>,
}

/// One run of the plan.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Index into [`GAMES`].
    pub game: usize,
    /// Its seed.
    pub seed: u64,
    /// Its folder's name: the configuration's hash.
    pub key: String,
    /// Its settings.
    pub config: RunConfig,
}

/// Every game × seed, from the presets.
///
/// # Errors
/// A preset that does not read.
pub fn plan(seeds: &[u64], quick: bool) -> Result<Vec<Planned>, String> {
    let root = crate::chapter::workspace_root();
    let mut runs = Vec::new();
    for (g, game) in GAMES.iter().enumerate() {
        let base = RunConfig::from_file(&root.join(game.preset)).map_err(|e| runner::ErrorChain(&e).to_string())?;
        for &seed in seeds {
            let mut config = RunConfig { seed, ..base.clone() };
            if quick {
                config.max_train_steps = Some(1500);
                config.test_episodes = 3;
                config.agent.learning_starts = 500;
                config.agent.epsilon.shape = runner::EpsilonShape::HeldLinear { hold: 500 };
                config.agent.epsilon.decay = 500.0;
            }
            runs.push(Planned { game: g, seed, key: runner::pool::run_key(&config), config });
        }
    }
    Ok(runs)
}

/// Trains this shard's unfinished runs (resuming those with a checkpoint)
/// unless `report_only`, then returns the report on every run present.
///
/// # Errors
/// A run that fails (the others still finish or checkpoint), a folder or
/// file that cannot be written or read, a figure; as text naming it. A
/// stopped suite is an error too, saying that it resumes.
pub fn suite(opts: &Options) -> Result<String, String> {
    let runs = plan(opts.seeds, opts.quick)?;
    if !opts.report_only {
        train(&runs, opts)?;
    }
    let results: Vec<Option<RunResult>> =
        runs.iter().map(|r| read_result(&opts.out.join(&r.key))).collect::<Result<_, _>>()?;
    let figures = opts.report.with_extension("");
    std::fs::create_dir_all(&figures).map_err(|e| format!("{}: {e}", figures.display()))?;
    report(&runs, &results, opts, &figures)
}

/// What a run left in its folder.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Frames at the end of each training episode.
    pub frames: Vec<f64>,
    /// Each training episode's return.
    pub returns: Vec<f64>,
    /// The greedy test returns (empty until the run has finished).
    pub test: Vec<f64>,
    /// Wall seconds of training and testing (finished runs).
    pub wall_seconds: Option<f64>,
}

impl RunResult {
    /// Whether training and the test are done.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.wall_seconds.is_some()
    }

    /// The mean return of the last [`LAST_EPISODES`] training episodes.
    #[must_use]
    pub fn final_training_mean(&self) -> f64 {
        let last = &self.returns[self.returns.len().saturating_sub(LAST_EPISODES)..];
        last.iter().sum::<f64>() / last.len().max(1) as f64
    }

    /// The test episodes' mean.
    #[must_use]
    pub fn test_mean(&self) -> f64 {
        self.test.iter().sum::<f64>() / self.test.len().max(1) as f64
    }
}

/// A run folder's episodes (train.csv), test (test.csv, once written) and
/// wall time (summary.json); `None` if the folder has no training log yet.
///
/// # Errors
/// A log that exists but does not read.
pub fn read_result(dir: &Path) -> Result<Option<RunResult>, String> {
    let train = dir.join(runner::files::TRAIN_CSV);
    if !train.is_file() {
        return Ok(None);
    }
    let mut columns = read_columns(&train, &["total_steps", "return"])?;
    let returns = columns.pop().unwrap_or_default();
    let frames = columns.pop().unwrap_or_default();
    let summary = dir.join(runner::files::SUMMARY);
    let (test, wall_seconds) = if summary.is_file() {
        let text = std::fs::read_to_string(&summary).map_err(|e| format!("{}: {e}", summary.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: not a summary: {e}", summary.display()))?;
        let test = read_columns(&dir.join(runner::files::TEST_CSV), &["return"])?.pop().unwrap_or_default();
        (test, value.get("wall_seconds").and_then(serde_json::Value::as_f64))
    } else {
        (Vec::new(), None)
    };
    Ok(Some(RunResult { frames, returns, test, wall_seconds }))
}

/// Runs every owned, unfinished run on `opts.workers` threads, each run in
/// a one-thread rayon pool (the runs, not the update, are the parallelism:
/// on this project's 2-core machines two runs side by side beat one run on
/// two threads).
fn train(runs: &[Planned], opts: &Options) -> Result<(), String> {
    std::fs::create_dir_all(opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let todo: Vec<&Planned> = runs
        .iter()
        .filter(|r| opts.shard.is_none_or(|s| s.owns(&r.key)))
        .filter(|r| !opts.out.join(&r.key).join(runner::files::SUMMARY).is_file())
        .collect();
    let next = AtomicUsize::new(0);
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..opts.workers.min(todo.len()) {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                    Ok(pool) => pool,
                    Err(e) => return errors.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string()),
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(run) = todo.get(i) else { break };
                    if opts.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let game = GAMES[run.game].title;
                    eprintln!("minatar suite: {game} seed {} ({})", run.seed, run.key);
                    let dir = opts.out.join(&run.key);
                    match pool.install(|| train_one(&dir, &run.config, opts)) {
                        Ok(()) => eprintln!("minatar suite: {game} seed {} finished", run.seed),
                        Err(e) => errors.lock().unwrap_or_else(|p| p.into_inner()).push(format!(
                            "{game} seed {} ({}): {e}",
                            run.seed,
                            dir.display()
                        )),
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    if opts.stop.load(Ordering::Relaxed) || !errors.is_empty() {
        let mut text = errors.join("\n");
        if opts.stop.load(Ordering::Relaxed) {
            text.push_str("\nstopped: every run checkpointed; the same command resumes them");
        }
        return Err(text.trim().to_string());
    }
    Ok(())
}

/// Trains the run in `dir`, or resumes it from its newest checkpoint; a
/// folder left without one (stopped before its first) starts over.
fn train_one(dir: &Path, config: &RunConfig, opts: &Options) -> Result<(), String> {
    let options = runner::TrainOptions {
        checkpoint_every: opts.checkpoint_every,
        keep_checkpoints: 2,
        stop: Some(Arc::clone(&opts.stop)),
        stop_after_steps: opts.stop_after_steps,
        fault_points: None,
    };
    let chain = |e: RunError| runner::ErrorChain(&e).to_string();
    let checkpoints = runner::checkpoint::list(&dir.join(runner::checkpoint::DIR));
    let outcome = if checkpoints.is_empty() {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        runner::train_with(config, dir, &options, &mut runner::Silent)
    } else {
        runner::resume(dir, &options, &mut runner::Silent)
    };
    match outcome {
        Ok(_) => Ok(()),
        Err(RunError::Interrupted { .. }) => Err("stopped at a checkpoint".into()),
        Err(e) => Err(chain(e)),
    }
}

/// `value [low, high]`: `stat` over `scores` with its 95 % bootstrap interval.
fn with_ci(scores: &[f64], stat: fn(&[f64]) -> f64) -> String {
    if scores.is_empty() {
        return "–".into();
    }
    let strata = [scores.to_vec()];
    let interval = stratified_bootstrap_ci(&strata, |s| stat(&s[0]), BOOTSTRAP_REPS, 0.95, BOOTSTRAP_SEED);
    format!("{:.2} [{:.2}, {:.2}]", stat(scores), interval.low, interval.high)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn report(runs: &[Planned], results: &[Option<RunResult>], opts: &Options, figures: &Path) -> Result<String, String> {
    let mut t = String::new();
    let folder = figures.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let budget = runs.first().and_then(|r| r.config.max_train_steps).unwrap_or(0);
    let _ = writeln!(
        t,
        "<!-- Generated by `cargo xtask suite --minatar`{}: do not edit. -->\n\n# MinAtar: Young & Tian's DQN table, \
         reproduced\n\nYoung & Tian's DQN (`presets/minatar/<game>-dqn.ron`: their `examples/dqn.py`, frame for \
         frame; `docs/presets.md`) on the five games, {budget} frames per run, seeds {}. Each run's final \
         training return is the paper's measure, the mean return of its last {LAST_EPISODES} training episodes; \
         the greedy test is 100 episodes with ε 0 after training. Across seeds: the IQM and the mean, each with \
         its 95 % stratified-bootstrap interval ({BOOTSTRAP_REPS} resamples). The paper's values are read off \
         the learning curves of the MinAtar README (4241f24; the average of 30 runs, read to about ±5 %; \
         Seaquest's from before the 1.0.11 oxygen fix, which this environment has).\n",
        if opts.quick { " --quick" } else { "" },
        crate::suite::describe_seeds(opts.seeds),
    );
    let _ = writeln!(
        t,
        "| game | runs finished | final training return: IQM | mean | greedy test: IQM | mean | paper (DQN, 5 M) \
         | wall per run |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (g, game) in GAMES.iter().enumerate() {
        let done: Vec<&RunResult> = runs
            .iter()
            .zip(results)
            .filter(|(r, _)| r.game == g)
            .filter_map(|(_, res)| res.as_ref().filter(|x| x.finished()))
            .collect();
        let finals: Vec<f64> = done.iter().map(|r| r.final_training_mean()).collect();
        let tests: Vec<f64> = done.iter().map(|r| r.test_mean()).collect();
        let walls: Vec<f64> = done.iter().filter_map(|r| r.wall_seconds).collect();
        let planned = runs.iter().filter(|r| r.game == g).count();
        let wall = if walls.is_empty() { "–".into() } else { format!("{:.0} min", runner::median(walls) / 60.0) };
        let _ = writeln!(
            t,
            "| {} | {} of {planned} | {} | {} | {} | {} | ~{} | {wall} |",
            game.title,
            done.len(),
            with_ci(&finals, iqm),
            with_ci(&finals, mean),
            with_ci(&tests, iqm),
            with_ci(&tests, mean),
            game.paper
        );
    }
    let unfinished: Vec<String> = runs
        .iter()
        .zip(results)
        .filter_map(|(r, res)| {
            let res = res.as_ref().filter(|x| !x.finished())?;
            let frames = res.frames.last().copied().unwrap_or(0.0);
            Some(format!("{} seed {} at {frames:.0} frames", GAMES[r.game].title, r.seed))
        })
        .collect();
    if !unfinished.is_empty() {
        let _ = writeln!(t, "\nIn progress (resumed by the same command): {}.", unfinished.join("; "));
    }
    let _ = writeln!(
        t,
        "\nWall per run: the median of the runs' own clocks, summed over the sessions a run took; it counts \
         whatever else the machine did meanwhile (two runs side by side on its two cores, pauses to measure \
         benchmarks) and the steps redone after a stop since the last checkpoint. Speed and memory of one run \
         alone, beside Young & Tian's own `examples/dqn.py` on the same machine: \
         [docs/benchmarks.md](benchmarks.md#minatar-dqn-at-the-full-protocol-beside-young--tians-examplesdqnpy) \
         (`cargo xtask bench --minatar-dqn`)."
    );
    // The notes on differences from the paper are written by hand in the
    // page between their markers; a rewritten page keeps them.
    let notes = std::fs::read_to_string(opts.report)
        .ok()
        .and_then(|old| crate::python_front::section_between(&old, NOTES_BEGIN, NOTES_END));
    if let Some(notes) = notes {
        let _ = write!(t, "\n{notes}");
    }
    curves(&mut t, runs, results, budget, figures, &folder)?;
    let _ = writeln!(
        t,
        "\nReproduce: `cargo xtask suite --minatar --seeds {}` (runs in `suite-minatar/<hash>/`, resumed where \
         they stopped; `--shard I/N` for part of them, `--report-only` to write this page from what is there).",
        seeds_arg(opts.seeds)
    );
    Ok(t)
}

/// The seeds as `--seeds` takes them: `0..5` for a run of seeds, else a list.
fn seeds_arg(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if seeds.windows(2).all(|w| w[1] == w[0] + 1) => format!("{a}..{}", b + 1),
        _ => seeds.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
    }
}

/// Frames between the points of a curve.
const CURVE_EVERY: f64 = 50_000.0;

/// The moving average of the last [`LAST_EPISODES`] returns at `x` frames
/// (episodes that ended by then), or `None` before the first episode.
fn moving_average(r: &RunResult, x: f64) -> Option<f64> {
    let ended = r.frames.partition_point(|&f| f <= x);
    (ended > 0).then(|| mean(&r.returns[ended.saturating_sub(LAST_EPISODES)..ended]))
}

fn curves(
    t: &mut String,
    runs: &[Planned],
    results: &[Option<RunResult>],
    budget: u64,
    figures: &Path,
    folder: &str,
) -> Result<(), String> {
    let _ = writeln!(
        t,
        "\n## Learning curves\n\nEach seed's moving average of the last {LAST_EPISODES} training returns against \
         frames (thin lines), and their IQM with its 95 % bootstrap band where every run has reached the frame."
    );
    let every = CURVE_EVERY.min((budget as f64 / 10.0).max(1.0));
    for (g, game) in GAMES.iter().enumerate() {
        let mine: Vec<&RunResult> =
            runs.iter().zip(results).filter(|(r, _)| r.game == g).filter_map(|(_, res)| res.as_ref()).collect();
        if mine.is_empty() {
            continue;
        }
        let mut series = Vec::new();
        for (k, r) in mine.iter().enumerate() {
            let reached = r.frames.last().copied().unwrap_or(0.0);
            let points: Vec<(f64, f64)> = (1..)
                .map(|i| f64::from(i) * every)
                .take_while(|&x| x <= reached)
                .filter_map(|x| moving_average(r, x).map(|y| (x, y)))
                .collect();
            series.push(Series {
                label: if k == 0 { "each seed".into() } else { String::new() },
                points,
                color: PALETTE[1],
                markers: false,
                band: Vec::new(),
            });
        }
        let (mut points, mut band) = (Vec::new(), Vec::new());
        let mut x = every;
        while x <= budget as f64 {
            let values: Option<Vec<f64>> = mine
                .iter()
                .map(|r| if r.frames.last().copied().unwrap_or(0.0) >= x { moving_average(r, x) } else { None })
                .collect();
            if let Some(values) = values {
                let strata = [values];
                let ci = stratified_bootstrap_ci(&strata, |s| iqm(&s[0]), BOOTSTRAP_REPS, 0.95, BOOTSTRAP_SEED);
                points.push((x, iqm(&strata[0])));
                band.push((x, ci.low, ci.high));
            }
            x += every;
        }
        series.push(Series { label: "IQM over seeds".into(), points, color: PALETTE[0], markers: false, band });
        let paper = vec![(0.0, game.paper), (budget as f64, game.paper)];
        series.push(Series {
            label: "paper at 5 M (DQN)".into(),
            points: paper,
            color: PALETTE[2],
            markers: false,
            band: Vec::new(),
        });
        let figure = Figure {
            title: format!("MinAtar {}: DQN (Young & Tian's protocol)", game.title),
            x_label: "frames".into(),
            y_label: format!("mean return of the last {LAST_EPISODES} episodes"),
            series,
            legend: SeriesLabelPosition::UpperLeft,
        };
        let path = save_svg(&figure, &figures.join(format!("minatar-{}", game.id)))?;
        let name = path.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let _ = writeln!(t, "\n![{} learning curves]({folder}/{name})", game.title);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(frames: &[f64], returns: &[f64]) -> RunResult {
        RunResult { frames: frames.to_vec(), returns: returns.to_vec(), test: vec![1.0, 3.0], wall_seconds: Some(1.0) }
    }

    /// By hand: the moving average counts the episodes ended by `x`, at
    /// most the last 100; before the first, nothing.
    #[test]
    fn the_moving_average_is_over_the_episodes_ended_by_then() {
        let r = result(&[10.0, 20.0, 30.0], &[1.0, 2.0, 6.0]);
        assert_eq!(moving_average(&r, 5.0), None);
        assert_eq!(moving_average(&r, 20.0), Some(1.5));
        assert_eq!(moving_average(&r, 29.0), Some(1.5));
        assert_eq!(moving_average(&r, 1e9), Some(3.0));
        let long = result(&(1..=150).map(f64::from).collect::<Vec<_>>(), &(1..=150).map(f64::from).collect::<Vec<_>>());
        // Episodes 51..=150: their mean is 100.5.
        assert_eq!(long.final_training_mean(), 100.5);
        assert_eq!(long.test_mean(), 2.0);
    }

    fn options<'a>(out: &'a Path, stop_after_steps: Option<u64>) -> Options<'a> {
        Options {
            seeds: &[7],
            out,
            report: Path::new("unused.md"),
            shard: None,
            workers: 1,
            report_only: false,
            quick: true,
            checkpoint_every: 2,
            stop: Arc::new(AtomicBool::new(false)),
            stop_after_steps,
        }
    }

    /// A suite stopped inside a run resumes it from the checkpoint, and the
    /// run's logs and policy are the bytes of a run never stopped.
    #[test]
    fn a_stopped_run_resumes_to_the_same_bytes() {
        let scratch = std::env::temp_dir().join(format!("dqn-minatar-suite-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let run = plan(&[7], true).unwrap().into_iter().find(|r| GAMES[r.game].id == "breakout").unwrap();
        let (whole, stopped) = (scratch.join("whole"), scratch.join("stopped"));
        train(std::slice::from_ref(&run), &options(&whole, None)).unwrap();
        let err = train(std::slice::from_ref(&run), &options(&stopped, Some(900))).unwrap_err();
        assert!(err.contains("stopped at a checkpoint"), "{err}");
        let partial = read_result(&stopped.join(&run.key)).unwrap().unwrap();
        assert!(!partial.finished() && partial.frames.last().is_some_and(|&f| f < 1500.0), "{partial:?}");
        train(std::slice::from_ref(&run), &options(&stopped, None)).unwrap();
        for file in [runner::files::TRAIN_CSV, runner::files::TEST_CSV, runner::files::POLICY] {
            let a = std::fs::read(whole.join(&run.key).join(file)).unwrap();
            let b = std::fs::read(stopped.join(&run.key).join(file)).unwrap();
            assert!(a == b, "{file} differs after resuming");
        }
        let done = read_result(&stopped.join(&run.key)).unwrap().unwrap();
        assert!(done.finished() && done.test.len() == 3);
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn the_plan_is_every_game_times_every_seed_with_distinct_keys() {
        let runs = plan(&[3, 4], true).unwrap();
        assert_eq!(runs.len(), 10);
        let mut keys: Vec<&str> = runs.iter().map(|r| r.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 10);
        assert!(runs.iter().all(|r| r.config.max_train_steps == Some(1500)));
    }
}
