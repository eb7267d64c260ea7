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
//!
//! A run folder holds checkpoints of megabytes and lives on one machine; a
//! finished run also leaves a record of what the report needs of it
//! (`docs/minatar/runs/<game>-seed<N>-<hash>.json`, a few kilobytes), which
//! is committed, so that the table outlives the machine the run was on.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use plotters::prelude::SeriesLabelPosition;
use runner::sweep::Shard;
use runner::{RunConfig, RunError, iqm, stratified_bootstrap_ci};

use crate::plot::{Figure, PALETTE, PlotError, Series, read_columns, save_svg};

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

/// Why the suite did not finish.
#[derive(Debug)]
pub enum SuiteError {
    /// A preset that does not read.
    Preset(runner::ConfigError),
    /// A folder or file that cannot be made, read or written.
    Io {
        /// Which.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file that reads but is not what it should be: a summary, a
    /// record.
    Invalid {
        /// Which.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A run's log that does not read, or a figure that cannot be drawn.
    Plot(PlotError),
    /// `--games` named a game that is not one of the five.
    UnknownGame(String),
    /// Runs failed; the others finished or wrote a checkpoint.
    Runs(Vec<FailedRun>),
    /// Stopped as asked (Ctrl-C, SIGTERM, a step budget): every unfinished
    /// run wrote a checkpoint, and the same command resumes them. Any run
    /// that failed before the stop is listed.
    Stopped(Vec<FailedRun>),
}

/// A run that failed, and why.
#[derive(Debug)]
pub struct FailedRun {
    /// Its game's title.
    pub game: &'static str,
    /// Its seed.
    pub seed: u64,
    /// Its run folder.
    pub dir: PathBuf,
    /// Why: its training's error, or its record's.
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

impl SuiteError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io { path: path.to_path_buf(), source }
    }
}

impl fmt::Display for FailedRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} seed {} ({}): {}", self.game, self.seed, self.dir.display(), runner::ErrorChain(&*self.error))
    }
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Preset(_) => f.write_str("a preset does not read"),
            Self::Io { path, .. } => write!(f, "{}", path.display()),
            Self::Invalid { path, problem } => write!(f, "{}: {problem}", path.display()),
            // Its own chain: the file and what is wrong with it.
            Self::Plot(e) => write!(f, "{}", runner::ErrorChain(e)),
            Self::UnknownGame(name) => {
                let known: Vec<&str> = GAMES.iter().map(|g| g.id).collect();
                write!(f, "--games: no game {name:?} (the games: {})", known.join(", "))
            }
            Self::Runs(failed) => {
                write!(f, "{} of the runs failed (the others finished or checkpointed)", failed.len())?;
                failed.iter().try_for_each(|run| write!(f, "\n  {run}"))
            }
            Self::Stopped(failed) => {
                f.write_str("stopped: every unfinished run wrote a checkpoint; the same command resumes them")?;
                failed.iter().try_for_each(|run| write!(f, "\n  failed before the stop: {run}"))
            }
        }
    }
}

impl std::error::Error for SuiteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Preset(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The indices into [`GAMES`] of the games named (`[]`: `None`, all).
///
/// # Errors
/// A name that is not one of the games', with the names that are.
pub fn game_indices(names: &[String]) -> Result<Option<Vec<usize>>, SuiteError> {
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .map(|name| GAMES.iter().position(|g| g.id == name.trim()).ok_or_else(|| SuiteError::UnknownGame(name.clone())))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

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
    /// The folder of the finished runs' records.
    pub records: &'a Path,
    /// Train only these games (indices into [`GAMES`]); `None`: all.
    pub games: Option<&'a [usize]>,
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
pub fn plan(seeds: &[u64], quick: bool) -> Result<Vec<Planned>, SuiteError> {
    let root = crate::chapter::workspace_root();
    let mut runs = Vec::new();
    for (g, game) in GAMES.iter().enumerate() {
        let base = RunConfig::from_file(&root.join(game.preset)).map_err(SuiteError::Preset)?;
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
/// file that cannot be written or read, a figure; each names it. A
/// stopped suite is [`SuiteError::Stopped`].
pub fn suite(opts: &Options) -> Result<String, SuiteError> {
    let runs = plan(opts.seeds, opts.quick)?;
    if !opts.report_only {
        train(&runs, opts)?;
    }
    let every = curve_every(&runs);
    let mut records = Vec::with_capacity(runs.len());
    for run in &runs {
        let record = match read_result(&opts.out.join(&run.key))? {
            Some(result) => {
                let record = RunRecord::new(run, &result, every);
                if record.finished() {
                    record.save(opts.records)?;
                }
                Some(record)
            }
            None => RunRecord::load(opts.records, run, every)?,
        };
        records.push(record);
    }
    let figures = opts.report.with_extension("");
    std::fs::create_dir_all(&figures).map_err(SuiteError::io(&figures))?;
    report(&runs, &records, opts, &figures)
}

/// Frames between the points of a curve: [`CURVE_EVERY`], or a tenth of a
/// shorter budget.
fn curve_every(runs: &[Planned]) -> f64 {
    let budget = runs.first().and_then(|r| r.config.max_train_steps).unwrap_or(0);
    CURVE_EVERY.min((budget as f64 / 10.0).max(1.0))
}

/// What the report needs of a run: from its folder, or, for a finished run
/// whose folder is not on this machine, from its committed record. Its
/// floats are written as text and read back to the bit ([`exact`]), so a
/// page written from records is the page written from the folders.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// The game's id (`breakout`).
    pub game: String,
    /// The run's seed.
    pub seed: u64,
    /// Its configuration's hash (its folder's name).
    pub key: String,
    /// Frames trained so far.
    #[serde(with = "exact")]
    pub frames: f64,
    /// Training episodes ended so far.
    pub episodes: usize,
    /// The mean return of the last [`LAST_EPISODES`] training episodes.
    #[serde(with = "exact")]
    pub final_training_mean: f64,
    /// The greedy test returns (empty until the run has finished).
    #[serde(with = "exact::vec")]
    pub test_returns: Vec<f64>,
    /// Wall seconds of training and testing (finished runs).
    #[serde(with = "exact::option")]
    pub wall_seconds: Option<f64>,
    /// Frames between the curve's points.
    #[serde(with = "exact")]
    pub curve_every: f64,
    /// The moving average of the last [`LAST_EPISODES`] returns at
    /// `curve_every`, twice that, … up to `frames` (`None` before the
    /// first episode ended).
    #[serde(with = "exact::vec_option")]
    pub curve: Vec<Option<f64>>,
}

/// A record's floats as text (`"42.16"`: Rust's shortest form that reads
/// back to the same bits), read with Rust's correctly rounded parser.
/// serde_json reads JSON numbers approximately, a unit in the last place
/// off at times, unless its `float_roundtrip` feature is on, and that
/// would change every crate's parsing (policy files included).
mod exact {
    use serde::{Deserialize, Deserializer, Serializer};

    fn parse<E: serde::de::Error>(text: &str) -> Result<f64, E> {
        text.parse().map_err(|_| E::custom(format!("{text:?} is not a number")))
    }

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(x)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        parse(&String::deserialize(d)?)
    }

    pub mod vec {
        use super::{Deserialize, Deserializer, Serializer, parse};

        pub fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(xs.iter().map(ToString::to_string))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            Vec::<String>::deserialize(d)?.iter().map(|t| parse(t)).collect()
        }
    }

    pub mod option {
        use super::{Deserialize, Deserializer, Serializer, parse};

        #[allow(clippy::ref_option)] // serde's `with` hands the field by reference
        pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match x {
                Some(x) => s.collect_str(x),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Option::<String>::deserialize(d)?.map(|t| parse(&t)).transpose()
        }
    }

    pub mod vec_option {
        use super::{Deserialize, Deserializer, Serializer, parse};

        pub fn serialize<S: Serializer>(xs: &[Option<f64>], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(xs.iter().map(|x| x.map(|x| x.to_string())))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<f64>>, D::Error> {
            Vec::<Option<String>>::deserialize(d)?.iter().map(|t| t.as_deref().map(parse).transpose()).collect()
        }
    }
}

impl RunRecord {
    /// The record of `run` from what its folder holds.
    #[must_use]
    pub fn new(run: &Planned, result: &RunResult, every: f64) -> Self {
        let frames = result.frames.last().copied().unwrap_or(0.0);
        let curve = (1..)
            .map(|i| f64::from(i) * every)
            .take_while(|&x| x <= frames)
            .map(|x| moving_average(result, x))
            .collect();
        Self {
            game: GAMES[run.game].id.into(),
            seed: run.seed,
            key: run.key.clone(),
            frames,
            episodes: result.returns.len(),
            final_training_mean: result.final_training_mean(),
            test_returns: result.test.clone(),
            wall_seconds: result.wall_seconds,
            curve_every: every,
            curve,
        }
    }

    /// Whether training and the test are done.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.wall_seconds.is_some()
    }

    /// The test episodes' mean.
    #[must_use]
    pub fn test_mean(&self) -> f64 {
        self.test_returns.iter().sum::<f64>() / self.test_returns.len().max(1) as f64
    }

    /// The curve's point at `i × curve_every` frames (`i` from 1).
    fn at(&self, i: usize) -> Option<f64> {
        self.curve.get(i.checked_sub(1)?).copied().flatten()
    }

    /// Its file in the records' folder: game, seed and configuration hash,
    /// so that a record of another configuration is never taken for this
    /// one.
    fn file_name(game: &str, seed: u64, key: &str) -> String {
        format!("{game}-seed{seed}-{key}.json")
    }

    /// Writes the record to `dir`, unless a record of this run is there
    /// already. The same configuration and seed train to the same numbers
    /// on any machine, so a committed record that differs from this one in
    /// anything but the wall time is an error, not something to overwrite:
    /// it is the one check of that across machines the suite has. One that
    /// differs only in wall time is kept (the first machine's).
    ///
    /// # Errors
    /// The folder or the file cannot be written; a record there that does
    /// not read, or whose numbers differ from these (naming each).
    pub fn save(&self, dir: &Path) -> Result<(), SuiteError> {
        std::fs::create_dir_all(dir).map_err(SuiteError::io(dir))?;
        let path = dir.join(Self::file_name(&self.game, self.seed, &self.key));
        let invalid = |problem: String| SuiteError::Invalid { path: path.clone(), problem };
        match std::fs::read_to_string(&path) {
            Ok(old) => {
                let old: Self = serde_json::from_str(&old).map_err(|e| invalid(format!("not a run record: {e}")))?;
                let differences = self.differences(&old);
                if differences.is_empty() {
                    return Ok(());
                }
                return Err(invalid(format!(
                    "this run's folder and its committed record differ in {}: the same configuration and seed \
                     trained to other numbers (delete the record to keep the folder's)",
                    differences.join(", ")
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(SuiteError::Io { path, source }),
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| invalid(e.to_string()))? + "\n";
        runner::write_atomic(&path, text.as_bytes(), &mut |_, _| {})
            .map_err(|(path, source)| SuiteError::Io { path, source })
    }

    /// The fields in which `other` differs from this record, its floats
    /// compared to the bit, the wall time not at all.
    fn differences(&self, other: &Self) -> Vec<&'static str> {
        let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let curve = |r: &Self| r.curve.iter().map(|x| x.map(f64::to_bits)).collect::<Vec<_>>();
        [
            ("game", self.game != other.game),
            ("seed", self.seed != other.seed),
            ("key", self.key != other.key),
            ("frames", self.frames.to_bits() != other.frames.to_bits()),
            ("episodes", self.episodes != other.episodes),
            ("final_training_mean", self.final_training_mean.to_bits() != other.final_training_mean.to_bits()),
            ("test_returns", bits(&self.test_returns) != bits(&other.test_returns)),
            ("curve_every", self.curve_every.to_bits() != other.curve_every.to_bits()),
            ("curve", curve(self) != curve(other)),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
    }

    /// The committed record of `run`, if there is one.
    ///
    /// # Errors
    /// A record that does not read, or that is not of this run (another
    /// game, seed or configuration inside) or not of this page's curves
    /// (another `curve_every`), or not finished: each names the file.
    pub fn load(dir: &Path, run: &Planned, every: f64) -> Result<Option<Self>, SuiteError> {
        let path = dir.join(Self::file_name(GAMES[run.game].id, run.seed, &run.key));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SuiteError::Io { path, source }),
        };
        let invalid = |problem: String| SuiteError::Invalid { path: path.clone(), problem };
        let record: Self = serde_json::from_str(&text).map_err(|e| invalid(format!("not a run record: {e}")))?;
        let expected = (GAMES[run.game].id, run.seed, run.key.as_str());
        if (record.game.as_str(), record.seed, record.key.as_str()) != expected {
            return Err(invalid(format!(
                "the record is of {} seed {} ({}), its name says {} seed {} ({})",
                record.game, record.seed, record.key, expected.0, expected.1, expected.2
            )));
        }
        if record.curve_every.to_bits() != every.to_bits() {
            return Err(invalid(format!(
                "its curve has a point every {} frames, this page one every {every}",
                record.curve_every
            )));
        }
        if !record.finished() {
            return Err(invalid("the record is of an unfinished run (no wall_seconds)".into()));
        }
        Ok(Some(record))
    }
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
    /// The mean return of the last [`LAST_EPISODES`] training episodes.
    #[must_use]
    pub fn final_training_mean(&self) -> f64 {
        let last = &self.returns[self.returns.len().saturating_sub(LAST_EPISODES)..];
        last.iter().sum::<f64>() / last.len().max(1) as f64
    }
}

/// A run folder's episodes (train.csv), test (test.csv, once written) and
/// wall time (summary.json); `None` if the folder has no training log yet.
///
/// # Errors
/// A log that exists but does not read.
pub fn read_result(dir: &Path) -> Result<Option<RunResult>, SuiteError> {
    let train = dir.join(runner::files::TRAIN_CSV);
    if !train.is_file() {
        return Ok(None);
    }
    let mut columns = read_columns(&train, &["total_steps", "return"]).map_err(SuiteError::Plot)?;
    let returns = columns.pop().unwrap_or_default();
    let frames = columns.pop().unwrap_or_default();
    let summary = dir.join(runner::files::SUMMARY);
    let (test, wall_seconds) = if summary.is_file() {
        let text = std::fs::read_to_string(&summary).map_err(SuiteError::io(&summary))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| SuiteError::Invalid { path: summary.clone(), problem: format!("not a summary: {e}") })?;
        let test = read_columns(&dir.join(runner::files::TEST_CSV), &["return"])
            .map_err(SuiteError::Plot)?
            .pop()
            .unwrap_or_default();
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
fn train(runs: &[Planned], opts: &Options) -> Result<(), SuiteError> {
    std::fs::create_dir_all(opts.out).map_err(SuiteError::io(opts.out))?;
    let todo: Vec<&Planned> = runs
        .iter()
        .filter(|r| opts.shard.is_none_or(|s| s.owns(&r.key)))
        .filter(|r| opts.games.is_none_or(|games| games.contains(&r.game)))
        .filter(|r| !opts.out.join(&r.key).join(runner::files::SUMMARY).is_file())
        .collect();
    let next = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..opts.workers.min(todo.len()) {
            scope.spawn(|| {
                // Building a one-thread pool fails only when the system
                // cannot start a thread; the run then fails with that.
                let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(run) = todo.get(i) else { break };
                    if opts.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let game = GAMES[run.game].title;
                    eprintln!("minatar suite: {game} seed {} ({})", run.seed, run.key);
                    let dir = opts.out.join(&run.key);
                    let outcome: Result<bool, Box<dyn std::error::Error + Send + Sync>> = match &pool {
                        Ok(pool) => pool.install(|| train_one(&dir, &run.config, opts)).map_err(Into::into),
                        Err(e) => Err(e.to_string().into()),
                    };
                    // The record is written the moment the run ends, not
                    // with the report: a session may end before the suite.
                    let outcome = outcome.and_then(|finished| {
                        if finished {
                            record_of(run, &dir, curve_every(runs))?.save(opts.records)?;
                        }
                        Ok(finished)
                    });
                    match outcome {
                        Ok(true) => eprintln!("minatar suite: {game} seed {} finished", run.seed),
                        Ok(false) => stopped.store(true, Ordering::Relaxed),
                        Err(error) => failed.lock().unwrap_or_else(|p| p.into_inner()).push(FailedRun {
                            game,
                            seed: run.seed,
                            dir,
                            error,
                        }),
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    if opts.stop.load(Ordering::Relaxed) || stopped.load(Ordering::Relaxed) {
        return Err(SuiteError::Stopped(failed));
    }
    if !failed.is_empty() {
        return Err(SuiteError::Runs(failed));
    }
    Ok(())
}

/// The record of the finished run in `dir`.
fn record_of(run: &Planned, dir: &Path, every: f64) -> Result<RunRecord, SuiteError> {
    let train = dir.join(runner::files::TRAIN_CSV);
    let result = read_result(dir)?
        .ok_or_else(|| SuiteError::Invalid { path: train, problem: "missing after training".into() })?;
    Ok(RunRecord::new(run, &result, every))
}

/// Trains the run in `dir`, or resumes it from its newest checkpoint; a
/// folder left without one (stopped before its first) starts over. `true`
/// when it finished, `false` when it stopped at a checkpoint.
fn train_one(dir: &Path, config: &RunConfig, opts: &Options) -> Result<bool, RunError> {
    let options = runner::TrainOptions {
        checkpoint_every: opts.checkpoint_every,
        keep_checkpoints: 2,
        stop: Some(Arc::clone(&opts.stop)),
        stop_after_steps: opts.stop_after_steps,
        fault_points: None,
    };
    let checkpoints = runner::checkpoint::list(&dir.join(runner::checkpoint::DIR));
    let outcome = if checkpoints.is_empty() {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|source| RunError::Io {
                path: dir.to_path_buf(),
                action: "remove the run folder left without a checkpoint",
                source,
            })?;
        }
        runner::train_with(config, dir, &options, &mut runner::Silent)
    } else {
        runner::resume(dir, &options, &mut runner::Silent)
    };
    match outcome {
        Ok(_) => Ok(true),
        Err(RunError::Interrupted { .. }) => Ok(false),
        Err(e) => Err(e),
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

fn report(
    runs: &[Planned],
    records: &[Option<RunRecord>],
    opts: &Options,
    figures: &Path,
) -> Result<String, SuiteError> {
    let mut t = String::new();
    let folder = figures.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let budget = runs.first().and_then(|r| r.config.max_train_steps).unwrap_or(0);
    let old_page = std::fs::read_to_string(opts.report).unwrap_or_default();
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
    let mut kept = Vec::new();
    for (g, game) in GAMES.iter().enumerate() {
        let done: Vec<&RunRecord> = runs
            .iter()
            .zip(records)
            .filter(|(r, _)| r.game == g)
            .filter_map(|(_, rec)| rec.as_ref().filter(|x| x.finished()))
            .collect();
        if let Some(row) = kept_row(&old_page, game, done.len()) {
            let _ = writeln!(t, "{row}");
            kept.push((g, done.len()));
            continue;
        }
        let finals: Vec<f64> = done.iter().map(|r| r.final_training_mean).collect();
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
    if !kept.is_empty() {
        let which: Vec<String> = kept
            .iter()
            .map(|&(g, here)| {
                let seeds: Vec<String> = runs
                    .iter()
                    .zip(records)
                    .filter(|(r, rec)| r.game == g && rec.as_ref().is_some_and(RunRecord::finished))
                    .map(|(r, _)| r.seed.to_string())
                    .collect();
                let here = match seeds.as_slice() {
                    [] => "none".into(),
                    [seed] => format!("1 (seed {seed})"),
                    _ => format!("{here} (seeds {})", seeds.join(", ")),
                };
                format!("{} (finished here: {here})", GAMES[g].title)
            })
            .collect();
        let _ = writeln!(
            t,
            "\nKept as the page last had them, with their figures, because fewer of their runs are here (as run \
             folders in the output folder or as records in `{}/`) than the row counts: {}. Such a row is replaced \
             when as many runs are here again.",
            relative_to_page(opts.records, opts.report),
            which.join("; ")
        );
    }
    let unfinished: Vec<String> = runs
        .iter()
        .zip(records)
        .filter_map(|(r, rec)| {
            let rec = rec.as_ref().filter(|x| !x.finished())?;
            Some(format!("{} seed {} at {:.0} frames", GAMES[r.game].title, r.seed, rec.frames))
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
    let kept: Vec<usize> = kept.into_iter().map(|(g, _)| g).collect();
    curves(&mut t, runs, records, &kept, budget, figures, &folder)?;
    let _ = writeln!(
        t,
        "\nReproduce: `cargo xtask suite --minatar --seeds {seeds}` (runs in `suite-minatar/<hash>/`, resumed where \
         they stopped; `--games` or `--shard I/N` for part of them, `--report-only` to write this page from what \
         is there). Each finished run's record, what this page needs of it, is in [`{records}/`]({records}/): the page is written \
         from a run's folder where it is here and from its record where it is not.",
        seeds = seeds_arg(opts.seeds),
        records = relative_to_page(opts.records, opts.report)
    );
    Ok(t)
}

/// `path` as the page links it: relative to the page's folder when it is
/// inside it (`minatar/runs`), else as given.
fn relative_to_page(path: &Path, page: &Path) -> String {
    let folder = page.parent().unwrap_or(Path::new(""));
    path.strip_prefix(folder).unwrap_or(path).display().to_string()
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

/// The row of `game` on `page` (the page as last written), if it counts
/// more finished runs than the `here` that this machine has: a page
/// written where the runs' folders and records are missing (a new machine,
/// one shard's folders) keeps what it cannot recompute rather than
/// counting fewer runs.
fn kept_row<'p>(page: &'p str, game: &Game, here: usize) -> Option<&'p str> {
    let prefix = format!("| {} | ", game.title);
    let row = page.lines().find(|line| line.starts_with(&prefix))?;
    let count = row[prefix.len()..].split(" of ").next()?.trim().parse::<usize>().ok()?;
    (count > here).then_some(row)
}

/// The moving average of the last [`LAST_EPISODES`] returns at `x` frames
/// (episodes that ended by then), or `None` before the first episode.
fn moving_average(r: &RunResult, x: f64) -> Option<f64> {
    let ended = r.frames.partition_point(|&f| f <= x);
    (ended > 0).then(|| mean(&r.returns[ended.saturating_sub(LAST_EPISODES)..ended]))
}

fn curves(
    t: &mut String,
    runs: &[Planned],
    records: &[Option<RunRecord>],
    kept: &[usize],
    budget: u64,
    figures: &Path,
    folder: &str,
) -> Result<(), SuiteError> {
    let _ = writeln!(
        t,
        "\n## Learning curves\n\nEach seed's moving average of the last {LAST_EPISODES} training returns against \
         frames (thin lines), and their IQM with its 95 % bootstrap band where every run has reached the frame."
    );
    let every = curve_every(runs);
    for (g, game) in GAMES.iter().enumerate() {
        let stem = format!("minatar-{}", game.id);
        if kept.contains(&g) {
            // Its figure is the one drawn with the kept row's runs.
            if let Some(name) = std::fs::read_dir(figures)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|name| name.strip_suffix(".svg").or_else(|| name.strip_suffix(".png")) == Some(stem.as_str()))
            {
                let _ = writeln!(t, "\n![{} learning curves]({folder}/{name})", game.title);
            }
            continue;
        }
        let mine: Vec<&RunRecord> =
            runs.iter().zip(records).filter(|(r, _)| r.game == g).filter_map(|(_, rec)| rec.as_ref()).collect();
        if mine.is_empty() {
            continue;
        }
        let mut series = Vec::new();
        for (k, r) in mine.iter().enumerate() {
            let points: Vec<(f64, f64)> =
                (1..=r.curve.len()).filter_map(|i| r.at(i).map(|y| (i as f64 * every, y))).collect();
            series.push(Series {
                label: if k == 0 { "each seed".into() } else { String::new() },
                points,
                color: PALETTE[1],
                markers: false,
                band: Vec::new(),
            });
        }
        let (mut points, mut band) = (Vec::new(), Vec::new());
        for i in (1..).take_while(|&i| i as f64 * every <= budget as f64) {
            let values: Option<Vec<f64>> = mine.iter().map(|r| r.at(i)).collect();
            if let Some(values) = values {
                let x = i as f64 * every;
                let strata = [values];
                let ci = stratified_bootstrap_ci(&strata, |s| iqm(&s[0]), BOOTSTRAP_REPS, 0.95, BOOTSTRAP_SEED);
                points.push((x, iqm(&strata[0])));
                band.push((x, ci.low, ci.high));
            }
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
        let path = save_svg(&figure, &figures.join(&stem)).map_err(SuiteError::Plot)?;
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
    }

    fn planned(game: &str, seed: u64) -> Planned {
        plan(&[seed], true).unwrap().into_iter().find(|r| GAMES[r.game].id == game).unwrap()
    }

    /// By hand: a record's curve is the moving average at every `every`
    /// frames up to the last episode's end; saved and loaded it is the
    /// same to the bit; a file of another run, another curve spacing or an
    /// unfinished run is an error naming the file.
    #[test]
    fn a_record_is_the_run_in_brief_and_reads_back_to_the_bit() {
        let run = planned("asterix", 3);
        let r = RunResult {
            frames: vec![10.0, 20.0, 35.0],
            returns: vec![1.0, 2.0, 6.1],
            test: vec![0.1, 0.2],
            wall_seconds: Some(12.5),
        };
        let record = RunRecord::new(&run, &r, 10.0);
        assert_eq!(record.curve, vec![Some(1.0), Some(1.5), Some(1.5)]);
        assert_eq!((record.frames, record.episodes, record.final_training_mean), (35.0, 3, 9.1 / 3.0));
        assert_eq!(record.test_mean(), (0.1 + 0.2) / 2.0);
        assert_eq!(RunRecord::new(&run, &result(&[15.0], &[4.0]), 10.0).curve, vec![None]);

        let dir = std::env::temp_dir().join(format!("dqn-minatar-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        record.save(&dir).unwrap();
        assert_eq!(RunRecord::load(&dir, &run, 10.0).unwrap(), Some(record.clone()));
        assert_eq!(RunRecord::load(&dir, &planned("asterix", 4), 10.0).unwrap(), None);
        let file = dir.join(RunRecord::file_name("asterix", 3, &run.key));
        // Each bad record is an `Invalid` naming the file, with what is wrong.
        let problem = |every: f64| match RunRecord::load(&dir, &run, every) {
            Err(SuiteError::Invalid { path, problem }) if path == file => problem,
            other => panic!("{other:?}"),
        };
        assert!(problem(20.0).contains("every 10 frames"));
        let other = RunRecord { seed: 9, ..record.clone() };
        std::fs::write(&file, serde_json::to_string(&other).unwrap()).unwrap();
        assert!(problem(10.0).contains("seed 9"));
        let unfinished = RunRecord { wall_seconds: None, ..record.clone() };
        std::fs::write(&file, serde_json::to_string(&unfinished).unwrap()).unwrap();
        assert!(problem(10.0).contains("unfinished"));
        std::fs::write(&file, "{\"game\": 1}").unwrap();
        assert!(problem(10.0).contains("not a run record"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Saving over a committed record: the same numbers with another wall
    /// time keep the file as it was; any other number is an error naming
    /// the file and the fields, and the file is left as it was.
    #[test]
    fn a_committed_record_is_kept_or_contradicted_never_overwritten() {
        let run = planned("seaquest", 2);
        let r =
            RunResult { frames: vec![10.0, 20.0], returns: vec![1.0, 2.0], test: vec![3.0], wall_seconds: Some(7.0) };
        let record = RunRecord::new(&run, &r, 10.0);
        let dir = std::env::temp_dir().join(format!("dqn-minatar-committed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        record.save(&dir).unwrap();
        let file = dir.join(RunRecord::file_name("seaquest", 2, &run.key));
        let committed = std::fs::read(&file).unwrap();

        RunRecord { wall_seconds: Some(99.0), ..record.clone() }.save(&dir).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), committed);

        let other = RunRecord {
            final_training_mean: f64::from_bits(record.final_training_mean.to_bits() + 1),
            test_returns: vec![3.0, 4.0],
            ..record.clone()
        };
        match other.save(&dir) {
            Err(SuiteError::Invalid { path, problem }) => {
                assert_eq!(path, file);
                assert!(problem.contains("final_training_mean, test_returns"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(&file).unwrap(), committed);
        std::fs::write(&file, "not json").unwrap();
        assert!(
            matches!(record.save(&dir), Err(SuiteError::Invalid { problem, .. }) if problem.contains("not a run record"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A record's floats read back to the bit, where serde_json's own
    /// float parsing is at times a unit in the last place off (it was for
    /// 1/13 here).
    #[test]
    fn record_floats_read_back_to_the_bit() {
        let run = planned("breakout", 5);
        let values: Vec<f64> =
            (1..3000).flat_map(|k| [f64::from(k) / 13.0, f64::from(k) / 7.0, f64::from(k) * 1e-7 / 3.0]).collect();
        let record = RunRecord {
            game: "breakout".into(),
            seed: 5,
            key: run.key.clone(),
            frames: 1.0 / 13.0,
            episodes: values.len(),
            final_training_mean: 1.0 / 3.0,
            test_returns: values.clone(),
            wall_seconds: Some(1.0 / 7.0),
            curve_every: 10.0,
            curve: values.iter().map(|&v| Some(v)).chain([None]).collect(),
        };
        let text = serde_json::to_string(&record).unwrap();
        let back: RunRecord = serde_json::from_str(&text).unwrap();
        let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.test_returns), bits(&values));
        assert_eq!(
            back.curve.iter().map(|x| x.map(f64::to_bits)).collect::<Vec<_>>(),
            record.curve.iter().map(|x| x.map(f64::to_bits)).collect::<Vec<_>>()
        );
        assert_eq!(
            (back.frames.to_bits(), back.final_training_mean.to_bits()),
            ((1.0f64 / 13.0).to_bits(), (1.0f64 / 3.0).to_bits())
        );
        assert_eq!(back.wall_seconds.map(f64::to_bits), Some((1.0f64 / 7.0).to_bits()));
        // And the numbers as JSON numbers, read by serde_json, do not all
        // come back: the reason for the text.
        let plain: Vec<f64> = serde_json::from_str(&serde_json::to_string(&values).unwrap()).unwrap();
        assert_ne!(bits(&plain), bits(&values));
    }

    /// By hand: a game's row is kept from the old page only while fewer of
    /// its runs are here than the row counts.
    #[test]
    fn a_row_is_kept_only_while_fewer_runs_are_here() {
        let page = "| game | runs finished |\n| Freeway | 4 of 5 | 53.23 |\n| Space Invaders | 0 of 5 | – |\n";
        let freeway = &GAMES[3];
        assert_eq!(kept_row(page, freeway, 1), Some("| Freeway | 4 of 5 | 53.23 |"));
        assert_eq!(kept_row(page, freeway, 4), None);
        assert_eq!(kept_row(page, freeway, 5), None);
        assert_eq!(kept_row(page, &GAMES[4], 0), None);
        assert_eq!(kept_row(page, &GAMES[0], 0), None);
    }

    /// The page written from the committed records alone is the page
    /// written from the run folders, figures included; with neither, the
    /// page keeps its rows and says so.
    #[test]
    fn the_page_from_records_is_the_page_from_the_run_folders() {
        let scratch = std::env::temp_dir().join(format!("dqn-minatar-page-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let (out, records, report) = (scratch.join("runs"), scratch.join("records"), scratch.join("page.md"));
        let opts = |report_only| Options {
            seeds: &[7],
            out: &out,
            report: &report,
            shard: None,
            workers: 2,
            report_only,
            quick: true,
            checkpoint_every: 0,
            records: &records,
            games: None,
            stop: Arc::new(AtomicBool::new(false)),
            stop_after_steps: None,
        };
        let figure = |game: &str| std::fs::read(scratch.join("page").join(format!("minatar-{game}.svg"))).unwrap();
        let from_folders = suite(&opts(false)).unwrap();
        let figures: Vec<Vec<u8>> = GAMES.iter().map(|g| figure(g.id)).collect();
        assert_eq!(std::fs::read_dir(&records).unwrap().count(), GAMES.len());
        std::fs::remove_dir_all(&out).unwrap();
        let from_records = suite(&opts(true)).unwrap();
        assert!(from_records == from_folders, "{from_records}\n---\n{from_folders}");
        assert!(GAMES.iter().zip(&figures).all(|(g, f)| figure(g.id) == *f));
        assert!(from_folders.contains("| Breakout | 1 of 1 | "), "{from_folders}");

        std::fs::write(&report, &from_folders).unwrap();
        std::fs::remove_dir_all(&records).unwrap();
        let kept = suite(&opts(true)).unwrap();
        let rows = |page: &str| page.lines().filter(|l| l.contains(" of 1 |")).map(String::from).collect::<Vec<_>>();
        assert_eq!(rows(&kept), rows(&from_folders));
        assert!(kept.contains("Kept as the page last had them") && kept.contains("Breakout (finished here: none)"));
        assert!(GAMES.iter().zip(&figures).all(|(g, f)| figure(g.id) == *f));
        std::fs::remove_dir_all(&scratch).unwrap();
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
            records: out,
            games: None,
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
        assert!(matches!(&err, SuiteError::Stopped(failed) if failed.is_empty()), "{err}");
        let partial = read_result(&stopped.join(&run.key)).unwrap().unwrap();
        assert!(partial.wall_seconds.is_none() && partial.frames.last().is_some_and(|&f| f < 1500.0), "{partial:?}");
        train(std::slice::from_ref(&run), &options(&stopped, None)).unwrap();
        for file in [runner::files::TRAIN_CSV, runner::files::TEST_CSV, runner::files::POLICY] {
            let a = std::fs::read(whole.join(&run.key).join(file)).unwrap();
            let b = std::fs::read(stopped.join(&run.key).join(file)).unwrap();
            assert!(a == b, "{file} differs after resuming");
        }
        let done = read_result(&stopped.join(&run.key)).unwrap().unwrap();
        assert!(done.wall_seconds.is_some() && done.test.len() == 3);
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
