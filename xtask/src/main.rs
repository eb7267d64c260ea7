//! `cargo xtask`: the commands a person types to use dqn-rs.
//!
//! Thin by design: parse the arguments, call `runner` (or the plotting
//! module), print, and map errors to exit codes.

mod atari_bench;
mod atari_report;
mod bench;
mod chapter;
mod compare;
mod conv_bench;
mod interrupt;
mod minatar_bench;
mod minatar_dqn_bench;
mod minatar_suite;
mod plot;
mod progress;
mod python_front;
mod suite;
mod sweep;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Counts each thread's heap, so the run pool records every run's peak
/// (`runner::heap`).
#[global_allocator]
static HEAP: runner::CountingAllocator = runner::CountingAllocator;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use runner::{ErrorChain, RunConfig, RunError, RunSummary};

/// DQN after the seed textbook chapter: CartPole-v1, MountainCar-v0, Acrobot-v1 and your own environments.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How a sweep or the suite uses the run pool.
#[derive(clap::Args)]
struct PoolArgs {
    /// Run only part I of N (1-based): the runs whose configuration hash
    /// is I-1 modulo N. Copy the shards' files into one folder to merge.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Runs at a time (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Train nothing; report on the results in --out.
    #[arg(long)]
    report_only: bool,
}

impl PoolArgs {
    /// The shard, parsed, and the number of workers.
    fn resolve(&self) -> Result<(Option<runner::sweep::Shard>, usize), String> {
        let shard = self
            .shard
            .as_deref()
            .map(runner::sweep::Shard::parse)
            .transpose()
            .map_err(|e| ErrorChain(&e).to_string())?;
        let workers = match self.jobs {
            Some(jobs) => runner::sweep::check_workers(jobs).map_err(|e| e.to_string())?,
            None => std::thread::available_parallelism().map_or(2, usize::from),
        };
        Ok((shard, workers))
    }
}

/// The formats of `export`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Safetensors,
    Onnx,
    Json,
}

impl From<FormatArg> for runner::ExportFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Safetensors => Self::Safetensors,
            FormatArg::Onnx => Self::Onnx,
            FormatArg::Json => Self::Json,
        }
    }
}

/// The policy of `test` and `render` and the configuration to run it
/// under: a run folder's, or a policy file with a configuration (a file,
/// an environment's preset, or the seed's).
#[derive(clap::Args)]
struct PolicySource {
    /// The run folder: its configuration, and its policy unless --policy.
    #[arg(long, value_name = "DIR")]
    run: Option<PathBuf>,
    /// The policy file: policy.json or safetensors, e.g. one PyTorch
    /// trained (default: the run folder's policy.json).
    #[arg(long, value_name = "FILE", required_unless_present = "run")]
    policy: Option<PathBuf>,
    /// Without --run: the configuration file to run it under.
    #[arg(long, value_name = "FILE", conflicts_with = "run")]
    config: Option<PathBuf>,
    /// Without --run: the environment (with its preset's settings).
    #[arg(long, value_name = "NAME", conflicts_with = "run", value_parser = clap::builder::PossibleValuesParser::new(runner::ENV_NAMES))]
    env: Option<String>,
}

impl PolicySource {
    fn resolve(self) -> Result<(RunConfig, PathBuf), Failure> {
        Ok(match self.run {
            Some(run) => (
                RunConfig::from_file(&run.join(runner::files::CONFIG))?,
                self.policy.unwrap_or_else(|| run.join(runner::files::POLICY)),
            ),
            None => (
                build_config(self.config.as_deref(), self.env.as_deref(), None, &[])?,
                self.policy.ok_or("give --run or --policy")?,
            ),
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train DQN and test its greedy policy; write a run folder with the
    /// configuration, CSV logs, the policy and the plots.
    Train {
        /// A RON configuration file; fields left out keep the seed chapter's
        /// values (without a file, all of them do). See `crates/runner/src/default.ron`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The environment: cartpole (the seed chapter's CartPole-v1),
        /// mountaincar (MountainCar-v0), acrobot (Acrobot-v1) or catch (bsuite's Catch, a 10×5 binary image). Without
        /// --config each comes with DQN settings that learn it
        /// (crates/runner/src/presets/); with --config, the file's settings
        /// train this environment.
        #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(runner::ENV_NAMES))]
        env: Option<String>,
        /// The master seed, overriding the configuration's.
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// The run folder (must be empty or absent); default
        /// `runs/<date>-<time>-seed<N>`.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Override one setting, e.g. `--set agent.lr=3e-4 --set agent.double_dqn=true`
        /// (values in RON; repeatable; applied after --config and --seed).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Print only the summary.
        #[arg(long)]
        quiet: bool,
        /// Continue the interrupted run in DIR from its newest usable
        /// checkpoint (the result is the same as an uninterrupted run).
        #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "env", "seed", "out", "overrides"])]
        resume: Option<PathBuf>,
        /// Write a checkpoint every N finished episodes (0: only at the end
        /// and on Ctrl-C).
        #[arg(long, value_name = "N", default_value_t = 50)]
        checkpoint_every: u32,
        /// How many checkpoints to keep (the newest).
        #[arg(long, value_name = "K", default_value_t = 3)]
        keep_checkpoints: usize,
        /// Start the networks from this policy file (policy.json, or
        /// safetensors such as PyTorch's save_file(net.state_dict())) instead
        /// of random weights (the configuration's init_policy).
        #[arg(long, value_name = "FILE", conflicts_with = "resume")]
        init_policy: Option<PathBuf>,
        /// Write TensorBoard event files to DIR/<run folder's name>/ (the
        /// configuration's tensorboard); view with `tensorboard --logdir DIR`.
        #[arg(long, value_name = "DIR", conflicts_with = "resume")]
        tensorboard: Option<PathBuf>,
    },
    /// Load a saved policy and report its greedy returns: a run folder's, or
    /// any policy file (policy.json or safetensors, e.g. one PyTorch
    /// trained) with a configuration.
    Test {
        #[command(flatten)]
        source: PolicySource,
        /// Episodes to run (default: the configuration's test_episodes).
        #[arg(long, value_name = "N")]
        episodes: Option<u32>,
    },
    /// Write a run's policy for other tools: safetensors (PyTorch's
    /// safetensors.torch.load_file), ONNX (the greedy Q-network: input obs
    /// [batch, obs_dim], output q [batch, n_actions]) or JSON.
    Export {
        /// The run folder.
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        /// The format.
        #[arg(long, value_enum)]
        format: FormatArg,
        /// The file to write (default: the run folder's policy.safetensors, policy.onnx or policy.json).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Draw a CartPole policy balancing, as an animated GIF (the policy of a
    /// run folder, or any policy file with a configuration).
    Render {
        #[command(flatten)]
        source: PolicySource,
        /// The GIF to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Train the default configuration on several seeds and, given a Python
    /// with torch and gymnasium, the PyTorch version of the seed algorithm on
    /// the same seeds; print both side by side.
    Compare {
        /// Seeds: a range `0..5` or a list `0,3,7`.
        #[arg(long, default_value = "0..5")]
        seeds: String,
        /// The Python that runs the PyTorch anchor (e.g. made by
        /// ../shared/anchors/setup.sh); without it only dqn-rs runs.
        #[arg(long, value_name = "PYTHON")]
        anchor_python: Option<PathBuf>,
        /// The anchor script.
        #[arg(long, value_name = "FILE", default_value = "../shared/anchors/seed_dqn.py")]
        anchor_script: PathBuf,
        /// Where the runs go (default `runs/compare-<date>-<time>`).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Settings to override for every seed, as in `train`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Run the docs chapter's experiments (cached by configuration), draw its
    /// figures and fill its numbers into docs/chapter/README.md and
    /// README.zh.md.
    Chapter {
        /// A tiny version (2 seeds, 8 episodes) written to --out, for checking the pipeline.
        #[arg(long)]
        quick: bool,
        /// Write the chapter, figures and cache here instead of docs/chapter.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Rerun every experiment, ignoring the cache.
        #[arg(long)]
        no_cache: bool,
        /// Delete the cached runs no experiment uses any more (they are
        /// listed otherwise).
        #[arg(long)]
        prune: bool,
    },
    /// Train a grid of settings on several seeds, runs side by side, and
    /// report which settings solve the task and how fast. Results are
    /// files named by the hash of each run's configuration, so a stopped
    /// sweep resumes, and shards run anywhere merge by copying.
    Sweep {
        /// The base configuration file (default: the seed's settings).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// A setting and the values to try, `KEY=V1|V2|...` (RON values, as
        /// for --set); repeatable, every combination runs.
        #[arg(long = "grid", value_name = "KEY=V1|V2")]
        grid: Vec<String>,
        /// A setting for every run, as in `train`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Seeds of every grid point: a range `0..10` or a list `0,3,7`.
        #[arg(long, default_value = "0..10")]
        seeds: String,
        /// The results folder: one JSON file per run, and report.md.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        pool: PoolArgs,
        /// The mean greedy test return that counts as solved (default: the
        /// base configuration's early_stop.solved_at, else the environment's
        /// reward_threshold: 475 for CartPole-v1, -110 MountainCar-v0, -100
        /// Acrobot-v1).
        #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = finite_f64)]
        solved_at: Option<f64>,
    },
    /// The classic-control suite: CartPole-v1, Acrobot-v1 and MountainCar-v0,
    /// each with DQN, Rainbow and DQN with RL Baselines3 Zoo's settings
    /// (presets/), on every seed, cached by configuration hash and
    /// resumable; then the report with IQMs, bootstrap intervals, Rainbow
    /// against DQN, performance profiles, sample-efficiency curves and the
    /// peers' rows (docs/results.md, docs/results/).
    Suite {
        /// Seeds of every entry: a range `0..10` or a list `0,3,7` (with
        /// --minatar, default 0..5).
        #[arg(long)]
        seeds: Option<String>,
        /// The results folder: one JSON file per run (default suite/; with
        /// --minatar, one run folder per run, default suite-minatar/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Where the report goes (default docs/results.md; with --minatar,
        /// docs/minatar.md).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Young & Tian's MinAtar DQN at 5 M frames on the five games
        /// instead of the classic-control suite: hours per run, each
        /// checkpointed and resumed where it stopped.
        #[arg(long)]
        minatar: bool,
        /// With --minatar: checkpoint each run every N finished episodes
        /// (a Freeway episode is 2 500 frames; 100 of them about five
        /// minutes of one core).
        #[arg(long, value_name = "N", default_value_t = 100)]
        checkpoint_every: u32,
        /// With --minatar: train only these games (of seaquest, breakout,
        /// asterix, freeway, space-invaders; comma-separated); the report
        /// is still of all five.
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        games: Vec<String>,
        /// With --minatar: the folder of the finished runs' records, the
        /// few kilobytes of each run that the report needs, committed so
        /// that the table outlives the run folders (default: the report's
        /// figure folder's runs/, docs/minatar/runs/).
        #[arg(long, value_name = "DIR")]
        records: Option<PathBuf>,
        #[command(flatten)]
        pool: PoolArgs,
        /// Tiny runs (1 500 steps, 3 test episodes) for checking the
        /// pipeline: give --out and --report elsewhere.
        #[arg(long)]
        quick: bool,
        /// The peers' result files (from `xtask/peers/run_peers.sh`).
        #[arg(long, value_name = "DIR", default_value = "docs/results/peers")]
        peers: PathBuf,
    },
    /// Measure: every benchmark of the workspace, the PyTorch and Gymnasium
    /// anchors in the same session (given their Python), the seed's whole
    /// run and the fast preset; write docs/benchmarks.md.
    Bench {
        /// Small samples, one seed, for checking the pipeline.
        #[arg(long)]
        quick: bool,
        /// The Python with torch and gymnasium (made by
        /// ../shared/anchors/setup.sh); without it only dqn-rs is measured.
        #[arg(long, value_name = "PYTHON", default_value = "/tmp/dqn-anchor-venv/bin/python")]
        anchor_python: PathBuf,
        /// The Python with jax (made by ../shared/anchors/jax/setup.sh);
        /// without it the JAX rows are left out.
        #[arg(long, value_name = "PYTHON", default_value = "/tmp/jax-venv/bin/python")]
        jax_python: PathBuf,
        /// The anchors' folder.
        #[arg(long, value_name = "DIR", default_value = "../shared/anchors")]
        anchors: PathBuf,
        /// Where to write the report (default docs/benchmarks.md).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Seeds of the seed configuration's whole run, beside PyTorch.
        #[arg(long, default_value = "0..5")]
        seeds: String,
        /// Seeds of the fast preset (it was tuned on 100..110).
        #[arg(long, default_value = "0..10")]
        preset_seeds: String,
        /// Rounds of every benchmark (a shared VM varies from minute to
        /// minute; the report takes the median).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Measure only the Python package beside Stable-Baselines3 and
        /// rewrite that section of the report (the --anchor-python must
        /// have torch, stable-baselines3 and dqn_rs: xtask/peers/setup_sb3.sh,
        /// then `pip install ./crates/dqn-py`).
        #[arg(long)]
        python_front: bool,
        /// Training steps of each Python-package run.
        #[arg(long, default_value_t = 20_000)]
        python_front_steps: u64,
        /// Measure only the convolutional networks' update beside PyTorch
        /// and JAX and rewrite that section of the report.
        #[arg(long)]
        conv: bool,
        /// Measure only MinAtar's steps per second beside the `minatar`
        /// package (the --anchor-python must have it: `pip install
        /// minatar==1.0.15 --no-deps`) and gymnax (the --jax-python must
        /// have it) and rewrite that section of the report.
        #[arg(long)]
        minatar: bool,
        /// Measure only MinAtar DQN's frames per second and peak memory
        /// beside Young & Tian's `examples/dqn.py` at the same protocol
        /// (the --anchor-python must have torch and minatar) and rewrite
        /// that section of the report.
        #[arg(long)]
        minatar_dqn: bool,
        /// Their `examples/dqn.py` at 4241f24 (see xtask/peers/minatar_dqn.py).
        #[arg(long, value_name = "FILE", default_value = "/tmp/minatar_dqn.py")]
        minatar_dqn_py: PathBuf,
        /// Frames of each --minatar-dqn run (100 000 fill the replay).
        #[arg(long, value_name = "N", default_value_t = 100_000)]
        minatar_dqn_frames: u64,
        /// Measure only Atari DQN's speed and memory beside CleanRL and
        /// Stable-Baselines3 (xtask/peers/atari_speed.py, a Python for
        /// each) and rewrite that section of the report.
        #[arg(long)]
        atari: bool,
        /// A Python with `dqn_rs[atari]` (`pip install "./crates/dqn-py[atari]"`).
        #[arg(long, value_name = "PYTHON", default_value = "/tmp/pyt-venv/bin/python")]
        atari_dqn_rs_python: PathBuf,
        /// CleanRL's venv (xtask/peers/setup_cleanrl.sh, plus ale-py 0.9.1
        /// and OpenCV: see xtask/peers/atari_speed.py).
        #[arg(long, value_name = "PYTHON", default_value = "/tmp/cleanrl-venv/bin/python")]
        atari_cleanrl_python: PathBuf,
        /// The game (a `NoFrameskip-v4` id).
        #[arg(long, value_name = "ID", default_value = "PongNoFrameskip-v4")]
        atari_env: String,
        /// Steps of the run without learning (where the other learns from).
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        atari_acting_steps: u64,
        /// Steps of the run that learns.
        #[arg(long, value_name = "N", default_value_t = 30_000)]
        atari_steps: u64,
        /// Thread counts of each implementation (torch's, rayon's),
        /// measured one after the other: `1,2`.
        #[arg(long, value_name = "N,…", value_delimiter = ',', default_value = "1")]
        atari_threads: Vec<usize>,
    },
    /// Write the Atari section of docs/results.md from runs of
    /// xtask/atari/train.py (finished or not).
    AtariReport {
        /// A run folder (repeatable).
        #[arg(long, value_name = "DIR", required = true)]
        run: Vec<PathBuf>,
        /// The goal line: the mean of the last 20 games to reach.
        #[arg(long, value_name = "RETURN", default_value_t = 10.0, value_parser = finite_f64)]
        goal: f64,
        /// The page (default docs/results.md; figures in the folder of the same name).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Redraw a run's plots from its CSV files.
    Plot {
        /// The run folder.
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
    },
}

fn main() -> ExitCode {
    // The keys --set accepts come from the runner's table, so the help
    // cannot fall behind it.
    let keys = format!("Keys for --set:\n  {}", runner::SETTABLE_KEYS.join("\n  "));
    let command = Cli::command().mut_subcommand("train", |c| c.after_long_help(keys));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = match &failure {
                // Not an error: the run stopped as asked and says how to go on.
                Failure::Run(e @ RunError::Interrupted { .. }) => e.to_string(),
                Failure::Run(e) => format!("error: {}", ErrorChain(e)),
                Failure::Config(e) => format!("error: {}", ErrorChain(e)),
                Failure::MinatarSuite(e @ minatar_suite::SuiteError::Stopped(_)) => e.to_string(),
                Failure::MinatarSuite(e) => format!("error: {}", ErrorChain(e)),
                Failure::Other(message) => format!("error: {message}"),
            };
            // An input of any length (a 50 MB path) is shown cut short.
            eprintln!("{}", runner::text::abbreviate_words(&message));
            ExitCode::from(failure.exit_code())
        }
    }
}

/// The sections of `docs/benchmarks.md` that the full bench keeps as they
/// were: each is measured by its own flag of `cargo xtask bench`.
const KEPT_SECTIONS: [(&str, &str); 5] = [
    (python_front::BEGIN, python_front::END),
    (conv_bench::BEGIN, conv_bench::END),
    (minatar_bench::BEGIN, minatar_bench::END),
    (minatar_dqn_bench::BEGIN, minatar_dqn_bench::END),
    (atari_bench::BEGIN, atari_bench::END),
];

/// A number that must be finite (`--solved-at NaN` would count nothing as
/// solved, silently).
fn finite_f64(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{v} is not a finite number")),
        Err(e) => Err(e.to_string()),
    }
}

/// Why a command did not succeed.
enum Failure {
    /// A run stopped or could not start.
    Run(RunError),
    /// A configuration (file, `--set`) is unusable.
    Config(runner::ConfigError),
    /// The MinAtar suite failed or was stopped.
    MinatarSuite(minatar_suite::SuiteError),
    /// Anything else: a report, a plot, an external program.
    Other(String),
}

impl Failure {
    /// Configuration and usage problems 2 (as clap's own usage errors),
    /// data and I/O problems 1, an interrupted run 130 (128 + SIGINT, as
    /// shells report an interrupted command).
    fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_)
            | Self::Run(RunError::Config(_) | RunError::Learner(_) | RunError::RunDirNotEmpty { .. }) => 2,
            Self::MinatarSuite(minatar_suite::SuiteError::UnknownGame(_)) => 2,
            Self::Run(RunError::Interrupted { .. }) | Self::MinatarSuite(minatar_suite::SuiteError::Stopped(_)) => 130,
            Self::Run(_) | Self::MinatarSuite(_) | Self::Other(_) => 1,
        }
    }
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        Self::Run(e)
    }
}

impl From<runner::ConfigError> for Failure {
    fn from(e: runner::ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<minatar_suite::SuiteError> for Failure {
    fn from(e: minatar_suite::SuiteError) -> Self {
        Self::MinatarSuite(e)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Other(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::Other(message.to_string())
    }
}

/// A configuration from a RON file (or the embedded default of the
/// environment), the environment, a seed and `--set` overrides, in that
/// order, checked.
fn build_config(
    file: Option<&Path>,
    env: Option<&str>,
    seed: Option<u64>,
    overrides: &[String],
) -> Result<RunConfig, runner::ConfigError> {
    let mut config = match (file, env) {
        (Some(path), _) => RunConfig::from_file(path)?,
        (None, Some(name)) => RunConfig::for_env(name)?,
        (None, None) => RunConfig::default(),
    };
    if let (Some(_), Some(name)) = (file, env) {
        config.env = runner::EnvSetting::named(name).ok_or_else(|| runner::ConfigError::Invalid {
            field: "--env".into(),
            reason: format!("{name:?} is not an environment; the names are {}", runner::ENV_NAMES.join(", ")),
        })?;
    }
    if let Some(seed) = seed {
        config.seed = seed;
    }
    for o in overrides {
        config.apply_override(o)?;
    }
    config.validate()?;
    Ok(config)
}

impl Command {
    fn run(self) -> Result<(), Failure> {
        match self {
            Self::Train {
                config,
                env,
                seed,
                out,
                overrides,
                quiet,
                resume,
                checkpoint_every,
                keep_checkpoints,
                init_policy,
                tensorboard,
            } => {
                let cfg = match resume {
                    Some(_) => None,
                    None => {
                        let mut cfg = build_config(config.as_deref(), env.as_deref(), seed, &overrides)?;
                        cfg.init_policy = init_policy.or(cfg.init_policy);
                        cfg.tensorboard = tensorboard.or(cfg.tensorboard);
                        cfg.validate()?;
                        Some(cfg)
                    }
                };
                let dir = match (&resume, &cfg) {
                    (Some(dir), _) => dir.clone(),
                    (None, Some(cfg)) => out.unwrap_or_else(|| default_run_dir(cfg.seed)),
                    (None, None) => unreachable!("a configuration is built whenever there is no run to resume"),
                };
                let stop = interrupt::install(&dir);
                let options = runner::TrainOptions {
                    checkpoint_every,
                    keep_checkpoints,
                    stop: Some(stop.flag()),
                    stop_after_steps: None,
                    fault_points: Some(stop.fault_hook()),
                };
                let mut progress = progress::Reporter::new(quiet);
                let result = match &cfg {
                    None => {
                        eprintln!("resuming {}", dir.display());
                        in_pool(|| runner::resume(&dir, &options, &mut progress))
                    }
                    Some(cfg) => {
                        eprintln!("run folder: {}", dir.display());
                        in_pool(|| runner::train_with(cfg, &dir, &options, &mut progress))
                    }
                };
                stop.done();
                progress.finish();
                let summary = result?;
                plot::draw_run(&dir)?;
                print_summary(&summary);
                Ok(())
            }
            Self::Test { source, episodes } => {
                let (config, policy) = source.resolve()?;
                let episodes = episodes.unwrap_or(config.test_episodes);
                let logs = in_pool(|| runner::test_policy_file(&config, &policy, episodes, &mut runner::Silent))?;
                let returns: Vec<f64> = logs.iter().map(|l| l.ret).collect();
                let (mean, std) = runner::mean_std(&returns);
                let list: Vec<String> = returns.iter().map(|r| format!("{r}")).collect();
                println!("{}: greedy returns over {episodes} episodes: {}", config.env.id(), list.join(" "));
                println!("mean {mean:.1} ± {std:.1} (std)");
                Ok(())
            }
            Self::Compare { seeds, anchor_python, anchor_script, out, overrides } => {
                let seeds = compare::parse_seeds(&seeds)?;
                let out = compare::out_dir(out);
                let anchor = match &anchor_python {
                    Some(python) => {
                        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
                        compare::anchor(&seeds, python, &anchor_script, &out)?
                    }
                    None => Vec::new(),
                };
                let ours = compare::ours(&seeds, &out, &overrides)?;
                println!("{}", compare::table(&ours, &anchor));
                Ok(())
            }
            Self::Chapter { quick, out, no_cache, prune } => {
                if quick && out.is_none() {
                    return Err("--quick writes a scratch chapter: give --out DIR".into());
                }
                Ok(chapter::generate(quick, out.as_deref(), no_cache, prune)?)
            }
            Self::Sweep { config, grid, overrides, seeds, out, pool, solved_at } => {
                let plan = runner::sweep::Plan {
                    base: build_config(config.as_deref(), None, None, &overrides)?,
                    grid: grid.iter().map(|g| runner::sweep::parse_grid(g)).collect::<Result<_, _>>().map_err(chain)?,
                    seeds: compare::parse_seeds(&seeds)?,
                };
                let (shard, workers) = pool.resolve()?;
                let threshold = plan.base.early_stop.as_ref().map(|stop| stop.solved_at);
                let threshold = threshold.or(plan.base.env_spec()?.reward_threshold);
                let solved_at = solved_at.or(threshold).ok_or("--solved-at: the environment has no threshold")?;
                let report = sweep::sweep(&plan, &out, shard, workers, pool.report_only, solved_at).map_err(chain)?;
                println!("{report}");
                Ok(())
            }
            Self::Suite { seeds, out, report, minatar, checkpoint_every, games, records, pool, quick, peers } => {
                if quick && report.is_none() {
                    return Err("--quick is a scratch run: give --report FILE (and --out DIR)".into());
                }
                if minatar {
                    let paths = MinatarPaths { out, report, records };
                    return minatar_suite_command(seeds, paths, &games, checkpoint_every, &pool, quick);
                }
                if !games.is_empty() || records.is_some() {
                    return Err("--games and --records are options of --minatar".into());
                }
                let seeds = compare::parse_seeds(seeds.as_deref().unwrap_or("0..10"))?;
                let out = out.unwrap_or_else(|| PathBuf::from("suite"));
                let (shard, workers) = pool.resolve()?;
                let entries = suite::entries(quick)?;
                let root = chapter::workspace_root();
                let path = report.unwrap_or_else(|| root.join("docs/results.md"));
                let peers = if peers.is_relative() { root.join(peers) } else { peers };
                let paths = suite::Paths { out: &out, report: &path, peers: &peers };
                let kept = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| python_front::section_between(&t, atari_report::BEGIN, atari_report::END));
                let mut text = suite::suite(&entries, &seeds, &paths, shard, workers, pool.report_only)?;
                // The Atari runs' section is written by `atari-report`.
                if let Some(kept) = kept {
                    text = python_front::splice_between(&text, &kept, atari_report::BEGIN, atari_report::END);
                }
                runner::write_atomic(&path, text.as_bytes(), &mut |_, _| {})
                    .map_err(|(path, e)| format!("{}: {e}", path.display()))?;
                println!("{text}");
                Ok(())
            }
            Self::Bench {
                quick,
                anchor_python,
                jax_python,
                anchors,
                out,
                seeds,
                preset_seeds,
                rounds,
                python_front,
                python_front_steps,
                conv,
                minatar,
                minatar_dqn,
                minatar_dqn_py,
                minatar_dqn_frames,
                atari,
                atari_dqn_rs_python,
                atari_cleanrl_python,
                atari_env,
                atari_acting_steps,
                atari_steps,
                atari_threads,
            } => {
                let root = chapter::workspace_root();
                let out = out.unwrap_or_else(|| root.join("docs/benchmarks.md"));
                let front = python_front::Options {
                    python: anchor_python.clone(),
                    peers: root.join("xtask/peers"),
                    xtask: std::env::current_exe().map_err(|e| format!("the xtask binary: {e}"))?,
                    steps: if quick { 2_000 } else { python_front_steps },
                    rounds: if quick { 1 } else { rounds },
                };
                if python_front {
                    println!("{}", python_front::update(&front, &out)?);
                    return Ok(());
                }
                let conv_opts = conv_bench::Options {
                    python: anchor_python.clone(),
                    jax_python: jax_python.clone(),
                    peers: root.join("xtask/peers"),
                    rounds: if quick { 1 } else { rounds },
                    quick,
                };
                if conv {
                    println!("{}", conv_bench::update(&conv_opts, &out)?);
                    return Ok(());
                }
                if atari {
                    let opts = atari_bench::Options {
                        pythons: vec![
                            ("dqn_rs", atari_dqn_rs_python),
                            ("cleanrl", atari_cleanrl_python),
                            ("sb3", anchor_python.clone()),
                        ],
                        peers: root.join("xtask/peers"),
                        env: atari_env,
                        acting_steps: if quick { 300 } else { atari_acting_steps },
                        steps: if quick { 700 } else { atari_steps },
                        threads: atari_threads,
                    };
                    println!("{}", atari_bench::update(&opts, &out)?);
                    return Ok(());
                }
                if minatar_dqn {
                    let opts = minatar_dqn_bench::Options {
                        python: anchor_python,
                        dqn_py: minatar_dqn_py,
                        peers: root.join("xtask/peers"),
                        xtask: std::env::current_exe().map_err(|e| format!("the xtask binary: {e}"))?,
                        frames: if quick { 6_000 } else { minatar_dqn_frames },
                        seed: 0,
                    };
                    println!("{}", minatar_dqn_bench::update(&opts, &out)?);
                    return Ok(());
                }
                if minatar {
                    let opts = minatar_bench::Options {
                        python: anchor_python,
                        jax_python,
                        peers: root.join("xtask/peers"),
                        rounds: if quick { 1 } else { rounds },
                        quick,
                    };
                    println!("{}", minatar_bench::update(&opts, &out)?);
                    return Ok(());
                }
                // The full report keeps the sections it had (each rewritten
                // only by its own flag: --python-front, --conv, --minatar,
                // --minatar-dqn).
                let previous = std::fs::read_to_string(&out).ok();
                let kept: Vec<(String, &str, &str)> = KEPT_SECTIONS
                    .iter()
                    .filter_map(|&(begin, end)| {
                        let text = python_front::section_between(previous.as_deref()?, begin, end)?;
                        Some((text, begin, end))
                    })
                    .collect();
                let opts = bench::Options {
                    quick,
                    python: Some(anchor_python),
                    jax_python: Some(jax_python),
                    anchors: if anchors.is_relative() { root.join(anchors) } else { anchors },
                    peers: root.join("xtask/peers"),
                    out: out.clone(),
                    seeds: if quick { vec![0] } else { compare::parse_seeds(&seeds)? },
                    preset_seeds: if quick { vec![0] } else { compare::parse_seeds(&preset_seeds)? },
                    rounds: if quick { 1 } else { rounds },
                };
                let text = bench::run(&opts)?;
                let mut written = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
                for (text, begin, end) in &kept {
                    written = python_front::splice_between(&written, text, begin, end);
                }
                std::fs::write(&out, written).map_err(|e| format!("{}: {e}", out.display()))?;
                println!("{text}");
                Ok(())
            }
            Self::Export { run, format, out } => {
                let format = runner::ExportFormat::from(format);
                let out = out.unwrap_or_else(|| run.join(format!("policy.{}", format.extension())));
                runner::export_policy(&run, format, &out)?;
                println!("{}", out.display());
                Ok(())
            }
            Self::Render { source, out } => {
                let (config, policy) = source.resolve()?;
                if !matches!(config.env, runner::EnvSetting::CartPole { .. }) {
                    return Err(format!("render draws CartPole; this configuration runs {}", config.env.id()).into());
                }
                chapter::art::animation(&config, &policy, &out)?;
                println!("{}", out.display());
                Ok(())
            }
            Self::AtariReport { run, goal, out } => {
                let out = out.unwrap_or_else(|| chapter::workspace_root().join("docs/results.md"));
                let runs = run.iter().map(|dir| atari_report::read_run(dir)).collect::<Result<Vec<_>, _>>()?;
                let figures = out.with_extension("");
                std::fs::create_dir_all(&figures).map_err(|e| format!("{}: {e}", figures.display()))?;
                let folder = figures.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
                let text = atari_report::section(&runs, goal, &figures, &folder)?;
                python_front::write_section(&out, &text, atari_report::BEGIN, atari_report::END)?;
                println!("{text}");
                Ok(())
            }
            Self::Plot { run } => {
                let written = plot::draw_run(&run)?;
                for path in written {
                    println!("{}", path.display());
                }
                Ok(())
            }
        }
    }
}

/// An error and its causes, as one message.
fn chain(e: impl std::error::Error + 'static) -> Failure {
    Failure::Other(ErrorChain(&e).to_string())
}

/// Runs `f` inside a rayon pool (RAYON_NUM_THREADS or all cores), so the
/// network's parallel chunks are joined from a worker, not handed over from
/// outside at every update.
pub(crate) fn in_pool<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

fn print_summary(s: &RunSummary) {
    println!("run folder:    {}", s.run_dir.display());
    println!("environment:   {}", s.env);
    println!(
        "test return:   {:.1} ± {:.1} (mean ± std over {} greedy episodes)",
        s.test_mean,
        s.test_std,
        s.test_returns.len()
    );
    if let Some(solved) = s.solved {
        println!("solved:        {}", if solved { "yes (test mean reaches early_stop.solved_at)" } else { "no" });
    }
    if let Some(threshold) = s.reward_threshold {
        let verdict = if s.test_mean >= threshold { "reached" } else { "not reached" };
        println!("threshold:     {verdict} (Gymnasium's reward_threshold {threshold} for {})", s.env);
    }
    let stop = if s.solved_early { " (stopped early: an evaluation said solved)" } else { "" };
    println!(
        "training:      {} episodes, {} env steps, {} gradient steps{stop}",
        s.train_episodes, s.train_steps, s.updates
    );
    println!("wall time:     {:.2} s ({:.0} training env steps/s)", s.wall_seconds, s.train_steps_per_second);
    if let Some(bytes) = peak_resident_bytes() {
        println!("peak memory:   {:.1} MiB resident", bytes as f64 / (1024.0 * 1024.0));
    }
}

/// The process's peak resident memory (Linux's `VmHWM`), or `None` where
/// the system does not report it.
pub(crate) fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// `runs/<UTC date>-<time>-seed<N>`, with a suffix if that exists.
pub(crate) fn default_run_dir(seed: u64) -> PathBuf {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let base = format!("runs/{y:04}{m:02}{d:02}-{:02}{:02}{:02}-seed{seed}", rem / 3600, rem % 3600 / 60, rem % 60);
    let mut dir = PathBuf::from(&base);
    let mut n = 1;
    while Path::new(&dir).exists() {
        n += 1;
        dir = PathBuf::from(format!("{base}-{n}"));
    }
    dir
}

/// The proleptic Gregorian date of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days` algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `cargo xtask suite --minatar`: trains (or resumes) this shard's runs,
/// stopping them at a checkpoint on Ctrl-C or SIGTERM, then writes the
/// report.
/// Where `suite --minatar` reads and writes, as given (`None`: the default).
struct MinatarPaths {
    out: Option<PathBuf>,
    report: Option<PathBuf>,
    records: Option<PathBuf>,
}

fn minatar_suite_command(
    seeds: Option<String>,
    paths: MinatarPaths,
    games: &[String],
    checkpoint_every: u32,
    pool: &PoolArgs,
    quick: bool,
) -> Result<(), Failure> {
    let seeds = compare::parse_seeds(seeds.as_deref().unwrap_or("0..5"))?;
    let (shard, workers) = pool.resolve()?;
    let root = chapter::workspace_root();
    let out = paths.out.unwrap_or_else(|| PathBuf::from("suite-minatar"));
    let report = paths.report.unwrap_or_else(|| root.join("docs/minatar.md"));
    let records = paths.records.unwrap_or_else(|| report.with_extension("").join("runs"));
    let games = minatar_suite::game_indices(games)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || {
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        eprintln!("stopping: every run writes a checkpoint at its next step; the same command resumes them");
    }) {
        eprintln!("warning: cannot catch Ctrl-C ({e}); a stopped suite resumes from each run's last checkpoint");
    }
    let opts = minatar_suite::Options {
        seeds: &seeds,
        out: &out,
        report: &report,
        shard,
        workers,
        report_only: pool.report_only,
        quick,
        checkpoint_every,
        records: &records,
        games: games.as_deref(),
        stop,
        stop_after_steps: None,
    };
    let text = minatar_suite::suite(&opts)?;
    runner::write_atomic(&report, text.as_bytes(), &mut |_, _| {})
        .map_err(|(path, e)| format!("{}: {e}", path.display()))?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stopped MinAtar suite exits as an interrupted run does (130), an
    /// unknown game as a usage error (2), a failed run as a failure (1).
    #[test]
    fn minatar_suite_exit_codes() {
        use minatar_suite::{FailedRun, SuiteError};
        let failed = || FailedRun { game: "Breakout", seed: 1, dir: "d".into(), error: "broken".into() };
        assert_eq!(Failure::from(SuiteError::Stopped(vec![failed()])).exit_code(), 130);
        assert_eq!(Failure::from(SuiteError::UnknownGame("pong".into())).exit_code(), 2);
        assert_eq!(Failure::from(SuiteError::Runs(vec![failed()])).exit_code(), 1);
        let text = SuiteError::Stopped(vec![failed()]).to_string();
        assert!(text.contains("resumes") && text.contains("Breakout seed 1 (d): broken"), "{text}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn peak_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let bytes = peak_resident_bytes().unwrap();
            assert!(bytes > 1 << 20 && bytes < 1 << 40, "{bytes}");
        }
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
