//! `cargo xtask bench`: every benchmark of the workspace, the PyTorch and
//! Gymnasium anchors in the same session (when their Python is there), the
//! seed's whole run and the fast preset, written to `docs/benchmarks.md`.
//!
//! Everything runs one thing at a time: Rust benchmarks, then the Python
//! anchors, then the whole runs alternating dqn-rs and PyTorch seed by seed,
//! so no measurement shares the cores with another.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// What to measure and where to write.
pub struct Options {
    /// Small sample counts, one seed, no anchors unless a Python is given.
    pub quick: bool,
    /// The Python with torch and gymnasium.
    pub python: Option<PathBuf>,
    /// The Python with jax, for the JAX peers in `anchors/jax/`.
    pub jax_python: Option<PathBuf>,
    /// The folder of `seed_dqn.py` and `bench_env.py`.
    pub anchors: PathBuf,
    /// The workspace's own peer scripts (`xtask/peers/`).
    pub peers: PathBuf,
    /// The Markdown file to write.
    pub out: PathBuf,
    /// Seeds of the seed configuration's whole run.
    pub seeds: Vec<u64>,
    /// Seeds of the fast preset (not those it was tuned on).
    pub preset_seeds: Vec<u64>,
    /// Rounds of every benchmark.
    pub rounds: usize,
}

/// The points of `update/update_grid` (`cargo bench -p agent`), hidden
/// width × batch, read from its rows: the bench is the one list of them.
fn grid_points(res: &Results) -> Vec<(usize, usize)> {
    let Some(rows) = res.rust.get(&("agent".to_string(), 1)) else { return Vec::new() };
    rows.iter()
        .filter_map(|r| {
            let inner = r.path.strip_prefix("update/update_grid/(")?.strip_suffix(')')?;
            let (h, b) = inner.split_once(", ")?;
            Some((h.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// Per benchmark, the median over rounds of its median time and rate.
fn median_rows(rounds: &[Vec<DivanRow>]) -> Vec<DivanRow> {
    let Some(first) = rounds.first() else { return Vec::new() };
    first
        .iter()
        .map(|row| {
            let same = || rounds.iter().filter_map(|r| r.iter().find(|x| x.path == row.path));
            let rates: Vec<f64> = same().filter_map(|r| r.median_per_s).collect();
            DivanRow {
                path: row.path.clone(),
                median_ns: runner::median(same().map(|r| r.median_ns)),
                median_per_s: (!rates.is_empty()).then(|| runner::median(rates)),
            }
        })
        .collect()
}

/// One line of divan's table: a benchmark's median time and throughput.
#[derive(Debug, Clone, PartialEq)]
pub struct DivanRow {
    /// `binary/group/name`, e.g. `env_steps/batched/8`.
    pub path: String,
    /// Median time per iteration, nanoseconds.
    pub median_ns: f64,
    /// Median items per second, when the bench counts items.
    pub median_per_s: Option<f64>,
}

fn parse_time_ns(cell: &str) -> Option<f64> {
    let mut parts = cell.split_whitespace();
    let value: f64 = parts.next()?.parse().ok()?;
    let scale = match parts.next()? {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(value * scale)
}

fn parse_rate(cell: &str) -> Option<f64> {
    let mut parts = cell.split_whitespace();
    let value: f64 = parts.next()?.parse().ok()?;
    // "42.65 Mitem/s": an SI prefix, then the counter's unit.
    let unit = parts.next()?.strip_suffix("/s")?;
    let scale = match unit.chars().next()? {
        'K' if unit.len() > 1 => 1e3,
        'M' if unit.len() > 1 => 1e6,
        'G' if unit.len() > 1 => 1e9,
        'T' if unit.len() > 1 => 1e12,
        _ => 1.0,
    };
    Some(value * scale)
}

/// Reads divan's text tables (any number of bench binaries) into rows.
pub fn parse_divan(output: &str) -> Vec<DivanRow> {
    let mut rows: Vec<DivanRow> = Vec::new();
    let mut binary = String::new();
    let mut name_col = 0;
    let mut stack: Vec<String> = Vec::new();
    let mut last_leaf = false;
    for line in output.lines() {
        let chars: Vec<char> = line.chars().collect();
        if let Some(col) = line.find("fastest").map(|b| line[..b].chars().count())
            && line.contains("median")
        {
            binary = line.split_whitespace().next().unwrap_or_default().to_string();
            name_col = col;
            stack.clear();
            last_leaf = false;
            continue;
        }
        if name_col == 0 || chars.len() <= name_col {
            continue;
        }
        let prefix: String = chars[..name_col].iter().collect();
        let rest: String = chars[name_col..].iter().collect();
        let cells: Vec<&str> = rest.split('│').map(str::trim).collect();
        let Some(start) = prefix.find(|c: char| c.is_alphanumeric() || c == '_') else {
            // A continuation line: the throughput of the row above.
            if last_leaf && let (Some(row), Some(cell)) = (rows.last_mut(), cells.get(2)) {
                row.median_per_s = parse_rate(cell);
            }
            last_leaf = false;
            continue;
        };
        // A name never holds a space, except an argument tuple (`(64, 32)`),
        // which divan writes with ", " between its values.
        let (start, name) = match prefix[..start].strip_suffix('(') {
            Some(before) => {
                let tuple = &prefix[before.len()..];
                (before.len(), tuple[..tuple.find(')').map_or(tuple.len(), |e| e + 1)].to_string())
            }
            None => (start, prefix[start..].split_whitespace().next().unwrap_or_default().to_string()),
        };
        let depth = prefix[..start].chars().count() / 3;
        stack.truncate(depth.saturating_sub(1));
        stack.push(name);
        last_leaf = false;
        // The first cell (fastest) starts inside the prefix for long names:
        // the median is the third cell of `rest`.
        if let Some(median) = cells.get(2).and_then(|c| parse_time_ns(c)) {
            rows.push(DivanRow {
                path: format!("{binary}/{}", stack.join("/")),
                median_ns: median,
                median_per_s: None,
            });
            last_leaf = true;
        }
    }
    rows
}

/// Lines a bench prints before its table that `docs/benchmarks.md` quotes
/// (memory figures, which divan does not measure).
const QUOTED_LINES: [&str; 3] = ["replay memory:", "prioritized replay:", "checkpoint memory:"];

/// Runs `cargo bench -p package --bench target` (`*`: every bench target)
/// with `threads` rayon threads; returns the rows and the quoted lines.
fn cargo_bench(
    package: &str,
    target: &str,
    threads: usize,
    quick: bool,
) -> Result<(Vec<DivanRow>, Vec<String>), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["bench", "--quiet", "-p", package, "--bench", target]).env("RAYON_NUM_THREADS", threads.to_string());
    if quick {
        cmd.args(["--", "--sample-count", "3", "--sample-size", "1"]);
    }
    eprintln!("bench: cargo bench -p {package} (RAYON_NUM_THREADS={threads})");
    let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo bench -p {package} failed: {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let rows = parse_divan(&text);
    if rows.is_empty() {
        return Err(format!("cargo bench -p {package}: no divan table in its output"));
    }
    Ok((rows, quoted_lines(&text)))
}

fn quoted_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| QUOTED_LINES.iter().any(|q| l.starts_with(q))).map(str::to_string).collect()
}

/// Runs `cargo bench -p runner --bench checkpoint_memory` once (a replay
/// buffer of 1.07 GB written and read, with uniform and prioritized
/// sampling; 6 000 transitions with `quick`); returns its quoted lines.
fn checkpoint_memory(quick: bool) -> Result<Vec<String>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["bench", "--quiet", "-p", "runner", "--bench", "checkpoint_memory"]);
    if quick {
        cmd.env("DQN_CHECKPOINT_TRANSITIONS", "6000");
    }
    eprintln!("bench: cargo bench -p runner --bench checkpoint_memory");
    let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo bench -p runner --bench checkpoint_memory failed: {}", out.status));
    }
    let lines = quoted_lines(&String::from_utf8_lossy(&out.stdout));
    if lines.is_empty() {
        return Err("cargo bench -p runner --bench checkpoint_memory printed no figures".into());
    }
    Ok(lines)
}

/// Runs a Python anchor script with `args`, then `out_flag json`; returns
/// the JSON file it wrote, parsed.
fn python_json(
    python: &Path,
    script: &Path,
    args: &[&str],
    out_flag: &str,
    json: &Path,
) -> Result<serde_json::Value, String> {
    eprintln!("bench: {} {} {}", python.display(), script.display(), args.join(" "));
    let status = Command::new(python)
        .arg(script)
        .args(args)
        .arg(out_flag)
        .arg(json)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !status.success() {
        return Err(format!("{} failed: {status}", script.display()));
    }
    let text = std::fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))
}

fn num(v: &serde_json::Value, pointer: &str) -> Result<f64, String> {
    v.pointer(pointer).and_then(serde_json::Value::as_f64).ok_or_else(|| format!("anchor output has no {pointer}"))
}

/// One whole training run of ours, as a user runs it.
#[derive(Debug, Clone)]
struct WholeRun {
    seed: u64,
    test_mean: f64,
    train_steps: f64,
    /// Training and testing, as the run reports it.
    wall_s: f64,
    /// Training alone.
    train_s: f64,
    /// The whole process: start-up, training, testing, plots.
    process_s: f64,
    peak_mib: Option<f64>,
}

fn our_run(config: Option<&Path>, seed: u64, dir: &Path) -> Result<WholeRun, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask's binary: {e}"))?;
    let _ = std::fs::remove_dir_all(dir);
    let mut cmd = Command::new(exe);
    cmd.arg("train").args(["--seed", &seed.to_string(), "--quiet", "--out"]).arg(dir);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let start = Instant::now();
    let out = cmd.stderr(Stdio::null()).output().map_err(|e| format!("cannot run xtask train: {e}"))?;
    let process_s = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("xtask train --seed {seed} failed: {}", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let peak_mib = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak memory:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    let summary_path = dir.join(runner::files::SUMMARY);
    let text = std::fs::read_to_string(&summary_path).map_err(|e| format!("{}: {e}", summary_path.display()))?;
    let summary: serde_json::Value = serde_json::from_str(&text).map_err(|e| runner::ErrorChain(&e).to_string())?;
    let run = WholeRun {
        seed,
        test_mean: num(&summary, "/test_mean")?,
        train_steps: num(&summary, "/train_steps")?,
        wall_s: num(&summary, "/wall_seconds")?,
        train_s: num(&summary, "/train_seconds")?,
        process_s,
        peak_mib,
    };
    std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(run)
}

/// One `seed_dqn.py --mode train` run.
#[derive(Debug, Clone, Copy)]
struct AnchorRun {
    wall_s: f64,
    /// Training alone.
    train_s: f64,
    train_steps: f64,
    peak_mib: f64,
    test_mean: f64,
}

/// Everything measured, by name.
#[derive(Default)]
struct Results {
    /// `(package, threads)` → divan rows.
    rust: BTreeMap<(String, usize), Vec<DivanRow>>,
    /// Anchor figures by name.
    anchor: BTreeMap<&'static str, f64>,
    anchor_versions: String,
    /// The JAX peer's version, when it ran.
    jax_version: String,
    /// Lines the benches printed that the document quotes.
    quoted: Vec<String>,
    /// The update grid's peers: `(framework, threads, hidden, batch)` → µs.
    grid: BTreeMap<(&'static str, usize, usize, usize), f64>,
    seed_runs: Vec<(WholeRun, Option<AnchorRun>)>,
    preset_runs: Vec<WholeRun>,
    /// Bench paths the report asked for in a package that was benchmarked
    /// but has no such row: a renamed bench, which must fail the report,
    /// not print "–".
    missing: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Results {
    /// The row of `path` in `package`'s bench at `threads`; a package that
    /// ran without it is recorded in `missing`.
    fn rust(&self, package: &str, threads: usize, path: &str) -> Option<&DivanRow> {
        let row = self.rust.get(&(package.to_string(), threads))?.iter().find(|r| r.path == path);
        if row.is_none() {
            self.missing.borrow_mut().insert(format!("{package} (RAYON_NUM_THREADS={threads}): {path}"));
        }
        row
    }
}

/// Runs everything and writes the Markdown file; returns its text.
pub fn run(opts: &Options) -> Result<String, String> {
    let started = Instant::now();
    let mut res = Results::default();
    // A shared VM varies from minute to minute: every bench runs several
    // rounds, in turn, and each figure is the median of the rounds' medians.
    // The checkpoint's memory is measured once, apart (it writes a
    // gigabyte): the runner's rounds time its training loop only.
    const BENCHES: [(&str, &str, usize); 11] = [
        ("cartpole-sim", "*", 1),
        ("mountaincar-sim", "*", 1),
        ("acrobot-sim", "*", 1),
        ("catch-sim", "*", 1),
        ("replay", "*", 1),
        ("mlp", "*", 1),
        ("mlp", "*", 2),
        ("agent", "*", 1),
        ("agent", "*", 2),
        ("runner", "training_loop", 1),
        ("runner", "training_loop", 2),
    ];
    let mut rounds: BTreeMap<(String, usize), Vec<Vec<DivanRow>>> = BTreeMap::new();
    for _ in 0..opts.rounds.max(1) {
        for (package, target, threads) in BENCHES {
            let (rows, quoted) = cargo_bench(package, target, threads, opts.quick)?;
            rounds.entry((package.to_string(), threads)).or_default().push(rows);
            for line in quoted {
                if !res.quoted.contains(&line) {
                    res.quoted.push(line);
                }
            }
        }
    }
    for (key, runs) in rounds {
        res.rust.insert(key, median_rows(&runs));
    }
    res.quoted.extend(checkpoint_memory(opts.quick)?);
    let scratch = std::env::temp_dir().join(format!("dqn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let python = opts.python.as_deref().filter(|p| p.exists());
    if let Some(py) = python {
        let seed_dqn = opts.anchors.join("seed_dqn.py");
        let json = scratch.join("anchor.json");
        let q = |full: &'static str, quick: &'static str| if opts.quick { quick } else { full };
        let env_args = ["--steps", q("200000", "20000"), "--reps", q("5", "1"), "--no-envpool"];
        let env = python_json(py, &opts.anchors.join("bench_env.py"), &env_args, "--out", &json)?;
        res.anchor.insert("env_single", num(&env, "/results/gym_single_pregen_actions/median")?);
        res.anchor.insert("env_vec8", num(&env, "/results/gym_CartPoleVectorEnv_8/median")?);
        let classic = opts.peers.join("bench_classic_control.py");
        let classic_args = ["--steps", q("100000", "10000"), "--reps", q("3", "1")];
        let classic = python_json(py, &classic, &classic_args, "--out", &json)?;
        for (key, path) in [
            ("mountaincar_single", "/results/MountainCar-v0~1single/median"),
            ("mountaincar_vec8", "/results/MountainCar-v0~1SyncVectorEnv_8/median"),
            ("acrobot_single", "/results/Acrobot-v1~1single/median"),
            ("acrobot_vec8", "/results/Acrobot-v1~1SyncVectorEnv_8/median"),
        ] {
            res.anchor.insert(key, num(&classic, path)?);
        }
        res.anchor_versions = format!(
            "gymnasium {}, numpy {}, Python {}",
            env["gymnasium"].as_str().unwrap_or("?"),
            env["numpy"].as_str().unwrap_or("?"),
            env["python"].as_str().unwrap_or("?")
        );
        for (threads, update_key, grad_key, loop_key) in
            [(1, "update_1", "grad_1", "loop_1"), (2, "update_2", "grad_2", "loop_2")]
        {
            let t = threads.to_string();
            let updates = ["--mode", "updates", "--threads", &t, "--updates", q("3000", "200"), "--fill", "10000"];
            let v = python_json(py, &seed_dqn, &updates, "--json", &json)?;
            res.anchor.insert(update_key, num(&v, "/us_per_update")?);
            res.anchor.insert(grad_key, num(&v, "/us_grad_step_only")?);
            if let Some(torch) = v["torch"].as_str()
                && !res.anchor_versions.starts_with("torch")
            {
                res.anchor_versions = format!("torch {torch}, {}", res.anchor_versions);
            }
            let throughput = ["--mode", "throughput", "--threads", &t, "--steps", q("20000", "2000")];
            let v = python_json(py, &seed_dqn, &throughput, "--json", &json)?;
            res.anchor.insert(loop_key, num(&v, "/steps_per_s")?);
            let per_args = ["--threads", &t, "--updates", q("2000", "100"), "--reps", q("3", "1")];
            let v = python_json(py, &opts.peers.join("per_update.py"), &per_args, "--json", &json)?;
            res.anchor.insert(if threads == 1 { "per_1" } else { "per_2" }, num(&v, "/us_per_update")?);
            let rainbow_args = ["--threads", &t, "--updates", q("1000", "50"), "--reps", q("3", "1")];
            let v = python_json(py, &opts.peers.join("rainbow_update.py"), &rainbow_args, "--json", &json)?;
            res.anchor.insert(if threads == 1 { "rainbow_1" } else { "rainbow_2" }, num(&v, "/us_per_update")?);
        }
        check_per_peer(py, opts)?;
        check_rainbow_peer(py, opts)?;
    }
    if let Some(py) = opts.jax_python.as_deref().filter(|p| p.exists()) {
        let jax = opts.anchors.join("jax");
        let json = scratch.join("jax.json");
        let q = |full: &'static str, quick: &'static str| if opts.quick { quick } else { full };
        for (threads, scan_key, jit_key, loop_key) in
            [(1, "jax_scan_1", "jax_jit_1", "jax_loop_1"), (2, "jax_scan_2", "jax_jit_2", "jax_loop_2")]
        {
            let t = threads.to_string();
            let updates = [
                "--threads",
                &t,
                "--sync-dispatch",
                "--updates",
                q("3000", "300"),
                "--reps",
                q("3", "1"),
                "--variants",
                "jit_floyd,scan_floyd",
            ];
            let v = python_json(py, &jax.join("jax_update.py"), &updates, "--json", &json)?;
            res.anchor.insert(scan_key, num(&v, "/variants/scan_floyd/us_median")?);
            res.anchor.insert(jit_key, num(&v, "/variants/jit_floyd/us_median")?);
            let train = ["--threads", &t, "--steps", q("25000", "3000"), "--reps", q("3", "1")];
            let v = python_json(py, &jax.join("jax_train.py"), &train, "--json", &json)?;
            res.anchor.insert(loop_key, num(&v, "/env_steps_per_s_median")?);
            if threads == 1 {
                res.jax_version = format!("jax {}", v["jax"].as_str().unwrap_or("?"));
            }
        }
    }
    // The update across network sizes: each peer once per thread count,
    // every point of the grid in one process.
    let all_points = grid_points(&res);
    let points = &all_points[..if opts.quick { all_points.len().min(2) } else { all_points.len() }];
    let point_list = points.iter().map(|(h, b)| format!("{h}x{b}")).collect::<Vec<_>>().join(",");
    let grid_script = opts.peers.join("update_grid.py");
    let anchors = opts.anchors.display().to_string();
    for (framework, py) in [("torch", python), ("jax", opts.jax_python.as_deref().filter(|p| p.exists()))] {
        let Some(py) = py.filter(|_| !points.is_empty()) else { continue };
        for threads in [1, 2] {
            let json = scratch.join("grid.json");
            let t = threads.to_string();
            let args = [
                "--framework",
                framework,
                "--threads",
                &t,
                "--points",
                &point_list,
                "--updates",
                if opts.quick { "20" } else { "300" },
                "--reps",
                if opts.quick { "1" } else { "3" },
                "--anchors",
                &anchors,
            ];
            let v = python_json(py, &grid_script, &args, "--json", &json)?;
            for &(h, b) in points {
                res.grid.insert((framework, threads, h, b), num(&v, &format!("/points/{h}x{b}/us_median"))?);
            }
        }
    }
    for &seed in &opts.seeds {
        let ours = our_run(None, seed, &scratch.join(format!("seed{seed}")))?;
        eprintln!("bench: dqn-rs seed {seed}: {:.2} s, test mean {:.1}", ours.wall_s, ours.test_mean);
        let theirs = match python {
            Some(py) => {
                let json = scratch.join("train.json");
                let seed = seed.to_string();
                let v = python_json(
                    py,
                    &opts.anchors.join("seed_dqn.py"),
                    &["--mode", "train", "--seed", &seed],
                    "--json",
                    &json,
                )?;
                Some(AnchorRun {
                    wall_s: num(&v, "/total_wall_s")?,
                    train_s: num(&v, "/train_wall_s")?,
                    train_steps: num(&v, "/train_env_steps")?,
                    peak_mib: num(&v, "/maxrss_mib")?,
                    test_mean: num(&v, "/test_mean")?,
                })
            }
            None => None,
        };
        res.seed_runs.push((ours, theirs));
    }
    let preset = crate::chapter::workspace_root().join("presets/cartpole-dqn.ron");
    for &seed in &opts.preset_seeds {
        let run = our_run(Some(&preset), seed, &scratch.join(format!("fast{seed}")))?;
        eprintln!("bench: fast preset seed {seed}: {:.2} s, test mean {:.1}", run.wall_s, run.test_mean);
        res.preset_runs.push(run);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let text = render(&res, opts, started.elapsed().as_secs_f64());
    let missing = res.missing.take();
    if !missing.is_empty() {
        let list: Vec<String> = missing.into_iter().collect();
        return Err(format!("the report asks for bench rows that do not exist (renamed?): {}", list.join("; ")));
    }
    std::fs::write(&opts.out, &text).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    Ok(text)
}

/// Runs the PyTorch PER peer's check on every golden case with loss
/// weights: its update must give the numbers dqn-rs's golden test checks,
/// or its timing is not of the same semantics.
fn check_per_peer(python: &Path, opts: &Options) -> Result<(), String> {
    let golden = crate::chapter::workspace_root().join("crates/mlp/tests/golden");
    let entries = std::fs::read_dir(&golden).map_err(|e| format!("{}: {e}", golden.display()))?;
    let mut cases: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_stem().is_some_and(|s| s.to_string_lossy().ends_with("_weighted")))
        .collect();
    cases.sort();
    if cases.is_empty() {
        return Err(format!("{}: no *_weighted case to check the PER peer on", golden.display()));
    }
    for case in cases {
        eprintln!("bench: per_update.py --check {}", case.display());
        let status = Command::new(python)
            .arg(opts.peers.join("per_update.py"))
            .arg("--check")
            .arg(&case)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if !status.success() {
            return Err(format!("the PER peer disagrees with {}: its timing would not be comparable", case.display()));
        }
    }
    Ok(())
}

/// Runs the PyTorch Rainbow peer's checks: its network on every dueling
/// noisy golden case (`crates/mlp/tests/golden_heads/rainbow*.json`) and
/// its C51 learning step on every case of
/// `crates/agent/tests/golden_c51_update/`, the numbers dqn-rs's own
/// golden tests check.
fn check_rainbow_peer(python: &Path, opts: &Options) -> Result<(), String> {
    let root = crate::chapter::workspace_root();
    let cases = |dir: &str, prefix: &str| -> Result<Vec<PathBuf>, String> {
        let dir = root.join(dir);
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!("{}: no {prefix}*.json case to check the Rainbow peer on", dir.display()));
        }
        Ok(files)
    };
    let checks = [
        ("--check-net", cases("crates/mlp/tests/golden_heads", "rainbow")?),
        ("--check-loss", cases("crates/agent/tests/golden_c51_update", "")?),
    ];
    for (flag, files) in checks {
        for case in files {
            eprintln!("bench: rainbow_update.py {flag} {}", case.display());
            let status = Command::new(python)
                .arg(opts.peers.join("rainbow_update.py"))
                .arg(flag)
                .arg(&case)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
            if !status.success() {
                return Err(format!(
                    "the Rainbow peer disagrees with {}: its timing would not be comparable",
                    case.display()
                ));
            }
        }
    }
    Ok(())
}

/// The machine, as every figure must be read with it: CPU model and family,
/// the vector features the kernels can use, cache sizes, cores, memory,
/// the compiler.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<f64>().ok()))
        .map_or_else(|| "?".to_string(), |kib| format!("{:.0}", kib / 1024.0 / 1024.0));
    let rustc = Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{} ({cores} cores available); caches {}; {mem_gib} GiB memory, {} {}; {rustc}",
        cpu_description(&cpuinfo),
        cache_description(Path::new("/sys/devices/system/cpu/cpu0/cache")),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The features that decide which kernel runs and how fast.
const CPU_FEATURES: [&str; 7] = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"];

/// `model (family F model M stepping S), features a, b, …` from
/// `/proc/cpuinfo`'s first processor.
fn cpu_description(cpuinfo: &str) -> String {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let model = field("model name").unwrap_or_else(|| "unknown CPU".into());
    let flags = field("flags").unwrap_or_default();
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let present: Vec<&str> = CPU_FEATURES.iter().copied().filter(|f| flags.contains(f)).collect();
    let id = match (field("cpu family"), field("model"), field("stepping")) {
        (Some(f), Some(m), Some(s)) => format!(" (family {f} model {m} stepping {s})"),
        _ => String::new(),
    };
    let features = if present.is_empty() { "none of AVX/AVX2/FMA/AVX-512".into() } else { present.join(" ") };
    format!("{model}{id}, features {features}")
}

/// `L1d 48K, L1i 32K, L2 1024K, L3 32768K` from the cache folders of one CPU
/// (`index*/level`, `type`, `size`), or "unknown".
fn cache_description(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else { return "unknown".into() };
    let mut caches: Vec<(u32, String, String)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("index"))
        .filter_map(|e| {
            let read = |f: &str| std::fs::read_to_string(e.path().join(f)).ok().map(|t| t.trim().to_string());
            let level: u32 = read("level")?.parse().ok()?;
            let kind = match read("type")?.as_str() {
                "Data" => "d",
                "Instruction" => "i",
                _ => "",
            };
            Some((level, kind.to_string(), read("size")?))
        })
        .collect();
    if caches.is_empty() {
        return "unknown".into();
    }
    caches.sort();
    caches.iter().map(|(level, kind, size)| format!("L{level}{kind} {size}")).collect::<Vec<_>>().join(", ")
}

fn fmt_rate(per_s: f64) -> String {
    if per_s >= 1e9 {
        format!("{:.1} G", per_s / 1e9)
    } else if per_s >= 1e6 {
        format!("{:.1} M", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1} k", per_s / 1e3)
    } else {
        format!("{per_s:.0}")
    }
}

fn render(res: &Results, opts: &Options, seconds: f64) -> String {
    let mut t = String::new();
    let na = "–".to_string();
    let ratio = |ours: Option<f64>, theirs: Option<f64>| match (ours, theirs) {
        (Some(o), Some(p)) if o > 0.0 && p > 0.0 => format!("**{:.1}×**", o / p),
        _ => na.clone(),
    };
    let anchor = |k: &str| res.anchor.get(k).copied();
    let rate = |pkg: &str, th: usize, path: &str| res.rust(pkg, th, path).and_then(|r| r.median_per_s);
    let us = |pkg: &str, th: usize, path: &str| res.rust(pkg, th, path).map(|r| r.median_ns / 1e3);
    let _ = writeln!(
        t,
        "<!-- Generated by `cargo xtask bench`{}: do not edit. -->\n\n# Benchmarks\n",
        if opts.quick { " --quick (small samples)" } else { "" }
    );
    let _ = writeln!(t, "Machine: {}.  ", machine());
    if let Some(c) = rate("mlp", 1, "update/kernel_peak/register_mul_add_ceiling") {
        let _ = writeln!(
            t,
            "Ceiling: the register-only multiply-then-add loop of `cargo bench -p mlp` \
             (`update/kernel_peak/register_mul_add_ceiling`: products independent of the sums, as in the \
             kernels' tiles, in their widest registers; no FMA, as the default kernels fuse nothing) \
             reached {:.0} GFLOP/s on one core in this run; the efficiency figures divide by it (times the threads).  ",
            c / 1e9
        );
    }
    if let Some(c) = rate("mlp", 1, "update/kernel_peak/register_fused_mul_add_ceiling") {
        let _ = writeln!(
            t,
            "With fused multiply-adds (`agent.arithmetic: Fused`, FMA where the CPU has it) the same loop reached \
             {:.0} GFLOP/s.  ",
            c / 1e9
        );
    }
    if let Some(trips) = rate("mlp", 2, "update/host/core_round_trip") {
        let _ = writeln!(
            t,
            "Core to core: a cache line's round trip between the two threads (`update/host/core_round_trip`) \
             took {:.0} ns in this run: the floor under every hand-off of a 2-thread update (about 100–150 ns \
             between cores that share an L3, twice to four times that across core complexes; a VM's two \
             virtual CPUs land where the host puts them).  ",
            1e9 / trips
        );
    }
    let _ = writeln!(
        t,
        "Peers: {} (the anchors in `../shared/anchors/`, run in the same session, one thing at a time). \
         Whole `cargo xtask bench` took {seconds:.0} s. Medians throughout; ratios are peer time ÷ our time \
         (or our rate ÷ the peer's).\n",
        if res.anchor.is_empty() {
            "not run (no Python given)".to_string()
        } else if res.jax_version.is_empty() {
            res.anchor_versions.clone()
        } else {
            format!("{}, {} (`../shared/anchors/jax/`)", res.anchor_versions, res.jax_version)
        }
    );
    let _ = writeln!(t, "| figure | dqn-rs | peer | ratio | target |\n|---|---:|---:|---:|---:|");
    let single = rate("cartpole-sim", 1, "env_steps/single_env");
    let vec8 = rate("cartpole-sim", 1, "env_steps/batched/8");
    let vec64 = rate("cartpole-sim", 1, "env_steps/batched/64");
    let cell = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| na.clone(), f);
    let steps = |v: f64| format!("{} steps/s", fmt_rate(v));
    let micros = |v: f64| format!("{v:.1} µs");
    let _ = writeln!(
        t,
        "| CartPole-v1 env, single, random actions | {} | {} (Gymnasium) | {} | ≥ 100× |",
        cell(single, &steps),
        cell(anchor("env_single"), &steps),
        ratio(single, anchor("env_single"))
    );
    let _ = writeln!(
        t,
        "| CartPole-v1 env, 8 batched | {} | {} (CartPoleVectorEnv) | {} | |",
        cell(vec8, &steps),
        cell(anchor("env_vec8"), &steps),
        ratio(vec8, anchor("env_vec8"))
    );
    let _ = writeln!(t, "| CartPole-v1 env, 64 batched | {} | – | – | |", cell(vec64, &steps));
    for (name, package, key) in
        [("MountainCar-v0", "mountaincar-sim", "mountaincar"), ("Acrobot-v1", "acrobot-sim", "acrobot")]
    {
        let single = rate(package, 1, "env_steps/single_env");
        let vec8 = rate(package, 1, "env_steps/batched/8");
        let (peer_single, peer_vec8) = (anchor(&format!("{key}_single")), anchor(&format!("{key}_vec8")));
        let _ = writeln!(
            t,
            "| {name} env, single, random actions | {} | {} (Gymnasium) | {} | ≥ 100× |",
            cell(single, &steps),
            cell(peer_single, &steps),
            ratio(single, peer_single)
        );
        let _ = writeln!(
            t,
            "| {name} env, 8 batched | {} | {} (SyncVectorEnv) | {} | ≥ 100× |",
            cell(vec8, &steps),
            cell(peer_vec8, &steps),
            ratio(vec8, peer_vec8)
        );
    }
    let _ = writeln!(
        t,
        "| replay: sample 64 of 100 000 | {} | – | – | |",
        cell(us("replay", 1, "replay/sample_uniform/64"), &micros)
    );
    // Gathering rebuilds each stack from frames stored once; the peers
    // are the least any batch of the same bytes costs.
    let gather = us("replay", 1, "replay/atari_gather_32");
    for (peer, what) in [
        ("replay/atari_plain_copy_32", "a plain copy of the same 2 × 32 × 4 × 84 × 84 bytes"),
        ("replay/atari_plain_convert_32", "a plain conversion of the same bytes to scaled f32"),
    ] {
        let peer_us = us("replay", 1, peer);
        let _ = writeln!(
            t,
            "| replay: gather 32 stacked 4×84×84 `s` and `s′` from an Atari-shaped buffer into the f32 batch | {} | {} ({what}) | {} | |",
            cell(gather, &micros),
            cell(peer_us, &micros),
            ratio(peer_us, gather)
        );
    }
    let per_obs = |path: &str, n: f64| us("agent", 1, path).map(|v| v * 1e3 / n);
    let nanos = |v: f64| format!("{v:.0} ns");
    let _ = writeln!(
        t,
        "| acting: greedy action for one observation (`Agent::predict`), 1 thread | {} per observation | – | – | |",
        cell(per_obs("update/act_single", 1.0), &nanos)
    );
    for n in [8, 64] {
        let _ = writeln!(
            t,
            "| acting: {n} environments at once (`Agent::act_batch`, ε at its floor), 1 thread | {} per observation | – | – | |",
            cell(per_obs(&format!("update/act_batch/{n}"), f64::from(n)), &nanos)
        );
    }
    let flop = runner::DqnConfig::seed().gradient_step_flop(&runner::Spaces::vectors(4, 2)) as f64;
    let ceiling = rate("mlp", 1, "update/kernel_peak/register_mul_add_ceiling");
    for threads in [1, 2] {
        let update = us("agent", threads, "update/agent_update");
        let key = if threads == 1 { "update_1" } else { "update_2" };
        let _ = writeln!(
            t,
            "| DQN update (`Agent::update`: sample 64, target, loss, backward, clamp, Adam), {threads} thread{} | {} | {} (PyTorch `agent.update()`) | {} | {} |",
            if threads == 1 { "" } else { "s" },
            cell(update, &micros),
            cell(anchor(key), &micros),
            ratio(anchor(key), update),
            if threads == 2 { "≥ 8×" } else { "" }
        );
    }
    let fused_ceiling = rate("mlp", 1, "update/kernel_peak/register_fused_mul_add_ceiling");
    for (label, path, limit) in [
        ("", "update/kernel_peak/hidden_layer_forward_64x128x128", ceiling),
        (", fused", "update/kernel_peak/hidden_layer_forward_64x128x128_fused", fused_ceiling),
    ] {
        let share = match (rate("mlp", 1, path), limit) {
            (Some(r), Some(l)) => format!("{:.0} GFLOP/s = {:.0} % of {:.0}", r / 1e9, 100.0 * r / l, l / 1e9),
            _ => na.clone(),
        };
        let _ = writeln!(t, "| hidden-layer product 64 × 128 × 128{label}, 1 thread | {share} | – | – | ≥ 60 % |");
    }
    for threads in [1, 2] {
        let net = us("mlp", threads, "update/dqn_update");
        let key = if threads == 1 { "grad_1" } else { "grad_2" };
        let limit = ceiling.map(|c| c * threads as f64);
        let share = match (net, limit) {
            (Some(n), Some(l)) => {
                format!("{:.0} GFLOP/s = {:.0} % of {:.0}", flop / n / 1e3, 100.0 * flop / (n * 1e-6) / l, l / 1e9)
            }
            _ => na.clone(),
        };
        let _ = writeln!(
            t,
            "| network update only, {threads} thread{} ({:.2} MFLOP) | {} | {} (gradient step on a fixed batch) | {} | machine: {share} |",
            if threads == 1 { "" } else { "s" },
            flop / 1e6,
            cell(net, &micros),
            cell(anchor(key), &micros),
            ratio(anchor(key), net)
        );
    }
    let best = |a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64| match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    };
    // JAX's best update: its lax.scan variant, at whichever thread count is
    // faster for it.
    let jax_update = best(anchor("jax_scan_1"), anchor("jax_scan_2"), f64::min);
    for threads in [1, 2] {
        let update = us("agent", threads, "update/agent_update");
        let _ = writeln!(
            t,
            "| DQN update, {threads} thread{}, vs JAX's best (3 000 updates in one `lax.scan`, best of 1 and 2 threads; one `jit` call per update: {}) | {} | {} | {} | {} |",
            if threads == 1 { "" } else { "s" },
            cell(anchor(if threads == 1 { "jax_jit_1" } else { "jax_jit_2" }), &micros),
            cell(update, &micros),
            cell(jax_update, &micros),
            ratio(jax_update, update),
            if threads == 1 { "≥ 1.3×" } else { "≥ 2×" }
        );
    }
    for threads in [1, 2] {
        let fused = us("agent", threads, "update/agent_update_fused");
        let _ = writeln!(
            t,
            "| DQN update, `agent.arithmetic: Fused` (fused multiply-adds; other bits), {threads} thread{}, vs JAX's best | {} | {} | {} | {} |",
            if threads == 1 { "" } else { "s" },
            cell(fused, &micros),
            cell(jax_update, &micros),
            ratio(jax_update, fused),
            if threads == 1 { "≥ 2×" } else { "" }
        );
    }
    for threads in [1, 2] {
        let per = us("agent", threads, "update/agent_update_prioritized");
        let uniform = us("agent", threads, "update/agent_update");
        let peer = anchor(if threads == 1 { "per_1" } else { "per_2" });
        let _ = writeln!(
            t,
            "| DQN update with prioritized replay (`sampling: Prioritized(())`, the paper's settings), {threads} thread{} | {} ({} the uniform update's time) | {} (PyTorch + numpy sum tree, `xtask/peers/per_update.py`) | {} | ≥ 6× |",
            if threads == 1 { "" } else { "s" },
            cell(per, &micros),
            match (per, uniform) {
                (Some(p), Some(u)) => format!("{:.2}×", p / u),
                _ => na.clone(),
            },
            cell(peer, &micros),
            ratio(peer, per)
        );
    }
    for threads in [1, 2] {
        let rainbow = us("agent", threads, "update/agent_update_rainbow");
        let uniform = us("agent", threads, "update/agent_update");
        let peer = anchor(if threads == 1 { "rainbow_1" } else { "rainbow_2" });
        let _ = writeln!(
            t,
            "| Rainbow update (`DqnConfig::rainbow`, `presets/cartpole-rainbow.ron`: dueling noisy heads, C51 × 51, Double, PER, 3-step; an action and its noise per update), {threads} thread{} | {} ({} the seed update's time) | {} (PyTorch, `xtask/peers/rainbow_update.py`) | {} | {} |",
            if threads == 1 { "" } else { "s" },
            cell(rainbow, &micros),
            match (rainbow, uniform) {
                (Some(r), Some(u)) => format!("{:.2}×", r / u),
                _ => na.clone(),
            },
            cell(peer, &micros),
            ratio(peer, rainbow),
            if threads == 1 { "" } else { "≥ 6×" }
        );
    }
    for line in &res.quoted {
        let _ = writeln!(t, "| {line} | – | – | – | |");
    }
    let loop2 = rate("runner", 2, "training_loop/seed_settings");
    let jax_loop = best(anchor("jax_loop_1"), anchor("jax_loop_2"), f64::max);
    let _ = writeln!(
        t,
        "| training loop, seed settings, 2 threads, vs JAX's compiled loop (gymnax CartPole, 1 env, 1 update per step, better of 1 and 2 threads) | {} | {} | {} | ≥ 2× |",
        cell(loop2, &steps),
        cell(jax_loop, &steps),
        ratio(loop2, jax_loop)
    );
    let torch_loop = match (anchor("loop_1"), anchor("loop_2")) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    let _ = writeln!(
        t,
        "| training loop, seed settings, 2 threads (1 update per env step) | {} | {} (`--mode throughput`, better of 1 and 2 threads) | {} | ≥ 8× |",
        cell(loop2, &steps),
        cell(torch_loop, &steps),
        ratio(loop2, torch_loop)
    );
    let _ = writeln!(
        t,
        "| training loop, fast preset (8 envs), 2 threads | {} | – | – | |",
        cell(rate("runner", 2, "training_loop/fast_preset"), &steps)
    );
    let ours_wall = runner::median(res.seed_runs.iter().map(|(o, _)| o.wall_s));
    let theirs_wall = runner::median(res.seed_runs.iter().filter_map(|(_, p)| p.map(|p| p.wall_s)));
    let ours_peak = res.seed_runs.iter().filter_map(|(o, _)| o.peak_mib).fold(f64::NAN, f64::max);
    let theirs_peak = res.seed_runs.iter().filter_map(|(_, p)| p.map(|p| p.peak_mib)).fold(f64::NAN, f64::max);
    let finite = |v: f64| v.is_finite().then_some(v);
    let _ = writeln!(
        t,
        "| seed configuration, 200 train + 20 test episodes: wall time | {} | {} | {} | ≥ 8× |",
        cell(finite(ours_wall), &|v| format!("{v:.2} s")),
        cell(finite(theirs_wall), &|v| format!("{v:.2} s")),
        ratio(finite(theirs_wall), finite(ours_wall))
    );
    // Runs that learn to balance longer take more steps, so the whole-run
    // ratio depends on the seeds; the per-step figure does not.
    let ours_per_step = runner::median(res.seed_runs.iter().map(|(o, _)| o.train_s / o.train_steps * 1e6));
    let theirs_per_step =
        runner::median(res.seed_runs.iter().filter_map(|(_, p)| p.map(|p| p.train_s / p.train_steps * 1e6)));
    let _ = writeln!(
        t,
        "| seed configuration: training time per env step (those runs) | {} | {} | {} | |",
        cell(finite(ours_per_step), &|v| format!("{v:.0} µs")),
        cell(finite(theirs_per_step), &|v| format!("{v:.0} µs")),
        ratio(finite(theirs_per_step), finite(ours_per_step))
    );
    let _ = writeln!(
        t,
        "| seed configuration: peak resident memory (largest of the seeds) | {} | {} | {} less | ≤ 32 MiB |",
        cell(finite(ours_peak), &|v| format!("{v:.1} MiB")),
        cell(finite(theirs_peak), &|v| format!("{v:.0} MiB")),
        ratio(finite(theirs_peak), finite(ours_peak))
    );
    let solved = res.preset_runs.iter().filter(|r| r.test_mean >= 475.0).count();
    let _ = writeln!(
        t,
        "| `presets/cartpole-dqn.ron`: solved (mean of 100 greedy episodes ≥ 475) | {solved} of {} seeds, median {:.2} s | Stable-Baselines3, rl-zoo3 settings: 2 of 3, 44 s (anchors' README, not rerun) | – | ≥ 9 of 10, ≤ 2 s |",
        res.preset_runs.len(),
        runner::median(res.preset_runs.iter().map(|r| r.wall_s))
    );

    render_grid(&mut t, res, ceiling);
    let _ = writeln!(
        t,
        "\n## Whole runs\n\nThe seed configuration (`cargo xtask train --seed N`) beside `seed_dqn.py --mode train --seed N`. \
         Wall time is training plus the test episodes as each reports it; \"process\" adds start-up and, for dqn-rs, \
         writing the plots.\n"
    );
    let _ = writeln!(
        t,
        "| seed | dqn-rs test mean | steps | wall s | process s | peak MiB | PyTorch test mean | steps | wall s | peak MiB |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (o, p) in &res.seed_runs {
        let (pw, pm, pt, ps) = p.map_or((na.clone(), na.clone(), na.clone(), na.clone()), |p| {
            (
                format!("{:.2}", p.wall_s),
                format!("{:.0}", p.peak_mib),
                format!("{:.1}", p.test_mean),
                format!("{:.0}", p.train_steps),
            )
        });
        let _ = writeln!(
            t,
            "| {} | {:.1} | {:.0} | {:.2} | {:.2} | {} | {pt} | {ps} | {pw} | {pm} |",
            o.seed,
            o.test_mean,
            o.train_steps,
            o.wall_s,
            o.process_s,
            o.peak_mib.map_or_else(|| na.clone(), |m| format!("{m:.1}"))
        );
    }
    let _ = writeln!(
        t,
        "\n## The fast preset\n\n`cargo xtask train --config presets/cartpole-dqn.ron --seed N` on seeds it was not tuned on \
         (the sweeps used seeds 100–109; see `docs/presets.md`).\n"
    );
    let _ = writeln!(
        t,
        "| seed | test mean (100 episodes) | solved | env steps | wall s | process s |\n|---:|---:|---|---:|---:|---:|"
    );
    for r in &res.preset_runs {
        let _ = writeln!(
            t,
            "| {} | {:.1} | {} | {:.0} | {:.2} | {:.2} |",
            r.seed,
            r.test_mean,
            if r.test_mean >= 475.0 { "yes" } else { "**no**" },
            r.train_steps,
            r.wall_s,
            r.process_s
        );
    }
    let _ = writeln!(
        t,
        "\n## Every benchmark of the workspace\n\nMedians from `cargo bench` (divan), by package and `RAYON_NUM_THREADS`; \
         the median of {} rounds run in turn.\n",
        opts.rounds.max(1)
    );
    let _ = writeln!(t, "| package | threads | benchmark | median | throughput |\n|---|---:|---|---:|---:|");
    for ((package, threads), rows) in &res.rust {
        for r in rows {
            let _ = writeln!(
                t,
                "| {package} | {threads} | `{}` | {} | {} |",
                r.path,
                micros_or_ns(r.median_ns),
                r.median_per_s.map_or_else(String::new, |v| format!("{}/s", fmt_rate(v)))
            );
        }
    }
    let _ = writeln!(
        t,
        "\n## Reproduce\n\n```sh\nbash ../shared/anchors/setup.sh            # once: the Python peers' venv in /tmp/dqn-anchor-venv\ncargo xtask bench                           # everything above (about 10 minutes); --quick for a smoke run\n```"
    );
    t
}

/// The update across network sizes: ours at 1 and 2 threads beside
/// PyTorch's and JAX's, with the ratios the issue sets targets for.
fn render_grid(t: &mut String, res: &Results, ceiling: Option<f64>) {
    let _ = writeln!(
        t,
        "\n## The update across network sizes\n\n\
         `Agent::update` with a `4 → h → h → 2` network and batches of b (`update/update_grid` in `cargo bench -p agent`), \
         beside `xtask/peers/update_grid.py`: PyTorch with its buffer as tensors and `torch.randint` indices, one Python \
         call per update; JAX with 300 updates in one jitted `lax.scan` (sampling inside, the anchor's update). Every \
         figure is µs per update, the median of 3 rounds. ×PyTorch compares both at 2 threads; ×JAX compares with JAX's \
         better thread count. \"Ours fused\" is `update_grid_fused`, the same update with `arithmetic: Fused`. Efficiency: \
         our 1-thread GFLOP/s (default arithmetic) over the {} GFLOP/s ceiling.\n",
        ceiling.map_or_else(|| "–".to_string(), |c| format!("{:.0}", c / 1e9))
    );
    let _ = writeln!(
        t,
        "| h | b | ours 1 thread | ours 2 threads | 2 ÷ 1 | ours fused 1 / 2 | PyTorch 1 | PyTorch 2 | JAX 1 | JAX 2 | ×PyTorch (2 threads) | ×JAX, our 2 threads | ×JAX, our 1 thread | ×JAX fused, 1 / 2 threads | efficiency, 1 thread |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let fmt = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.0}"));
    let times = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("**{v:.1}×**"));
    for (h, b) in grid_points(res) {
        let path = format!("update/update_grid/({h}, {b})");
        let ours = |threads| res.rust("agent", threads, &path).map(|r| r.median_ns / 1e3);
        let fused_path = format!("update/update_grid_fused/({h}, {b})");
        let fused = |threads| res.rust("agent", threads, &fused_path).map(|r| r.median_ns / 1e3);
        let (f1, f2) = (fused(1), fused(2));
        let peer = |framework, threads| res.grid.get(&(framework, threads, h, b)).copied();
        let (o1, o2) = (ours(1), ours(2));
        let jax_best = match (peer("jax", 1), peer("jax", 2)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let over = |theirs: Option<f64>, ours: Option<f64>| Some(theirs? / ours?);
        let config = runner::DqnConfig { hidden: vec![h, h], batch_size: b, ..runner::DqnConfig::seed() };
        let flop = config.gradient_step_flop(&runner::Spaces::vectors(4, 2)) as f64;
        let efficiency = match (o1, ceiling) {
            (Some(us), Some(c)) => format!("{:.0} %", 100.0 * flop / (us * 1e-6) / c),
            _ => "–".to_string(),
        };
        let _ = writeln!(
            t,
            "| {h} | {b} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {efficiency} |",
            fmt(o1),
            fmt(o2),
            over(o1, o2).map_or_else(|| "–".to_string(), |v| format!("{v:.2}")),
            fmt(f1),
            fmt(f2),
            fmt(peer("torch", 1)),
            fmt(peer("torch", 2)),
            fmt(peer("jax", 1)),
            fmt(peer("jax", 2)),
            times(over(peer("torch", 2), o2)),
            times(over(jax_best, o2)),
            times(over(jax_best, o1)),
            times(over(jax_best, f1)),
            times(over(jax_best, f2)),
        );
    }
}

fn micros_or_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_described_from_cpuinfo_and_caches() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n\
                       model name\t: AMD EPYC 9B14\nstepping\t: 1\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n";
        assert_eq!(
            cpu_description(cpuinfo),
            "AMD EPYC 9B14 (family 25 model 17 stepping 1), features avx avx2 fma avx512f"
        );
        assert_eq!(cpu_description("flags: sse2\n"), "unknown CPU, features none of AVX/AVX2/FMA/AVX-512");
        let dir = std::env::temp_dir().join(format!("dqn-caches-{}", std::process::id()));
        for (i, level, kind, size) in
            [(0, "1", "Data", "32K"), (1, "1", "Instruction", "32K"), (2, "2", "Unified", "1024K")]
        {
            let d = dir.join(format!("index{i}"));
            std::fs::create_dir_all(&d).unwrap();
            for (f, v) in [("level", level), ("type", kind), ("size", size)] {
                std::fs::write(d.join(f), format!("{v}\n")).unwrap();
            }
        }
        assert_eq!(cache_description(&dir), "L1d 32K, L1i 32K, L2 1024K");
        assert_eq!(cache_description(&dir.join("missing")), "unknown");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Real divan output (cartpole-sim's bench, this machine): groups,
    /// arguments, throughput lines, and a second binary in the same text.
    const SAMPLE: &str = "\
Timer precision: 20 ns
env_steps      fastest       │ slowest       │ median        │ mean          │ samples │ iters
├─ batched                   │               │               │               │         │
│  ├─ 8        231.9 µs      │ 343.7 µs      │ 234.4 µs      │ 239.7 µs      │ 100     │ 100
│  │           43.12 Mitem/s │ 29.09 Mitem/s │ 42.65 Mitem/s │ 41.7 Mitem/s  │         │
│  ╰─ 64       224.1 µs      │ 281 µs        │ 226.1 µs      │ 228.2 µs      │ 100     │ 100
│              44.54 Mitem/s │ 35.52 Mitem/s │ 44.14 Mitem/s │ 43.74 Mitem/s │         │
╰─ single_env  317.8 µs      │ 349.2 µs      │ 321.3 µs      │ 323.4 µs      │ 100     │ 100
               31.45 Mitem/s │ 28.63 Mitem/s │ 31.11 Mitem/s │ 30.91 Mitem/s │         │
rayon threads: 2
Timer precision: 20 ns
update                      fastest       │ slowest       │ median        │ mean          │ samples │ iters
├─ agent_update             72.1 µs       │ 130 µs        │ 79.3 ns       │ 80 µs         │ 500     │ 500
╰─ update_grid                            │               │               │               │         │
   ├─ (64, 32)              41.58 µs      │ 63.27 µs      │ 52.28 µs      │ 52.36 µs      │ 60      │ 60
   ╰─ (256, 256)            2.596 ms      │ 3.613 ms      │ 2.776 ms      │ 2.859 ms      │ 60      │ 60
training_loop     fastest       │ slowest       │ median        │ mean          │ samples │ iters
╰─ seed_settings  161.3 ms      │ 196.4 ms      │ 168.7 ms      │ 173.4 ms      │ 20      │ 20
                  12.39 Kitem/s │ 10.17 Kitem/s │ 950 item/s    │ 11.53 Kitem/s │         │
";

    #[test]
    fn divan_tables_parse() {
        let rows = parse_divan(SAMPLE);
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "env_steps/batched/8",
                "env_steps/batched/64",
                "env_steps/single_env",
                "update/agent_update",
                "update/update_grid/(64, 32)",
                "update/update_grid/(256, 256)",
                "training_loop/seed_settings"
            ]
        );
        assert_eq!(rows[5].median_ns, 2.776e6, "an argument tuple's row");
        let mut res = Results::default();
        res.rust.insert(("agent".to_string(), 1), rows.clone());
        assert_eq!(grid_points(&res), [(64, 32), (256, 256)], "the grid is read from the bench's rows");
        assert_eq!(rows[0].median_ns, 234_400.0);
        assert_eq!(rows[0].median_per_s, Some(42.65e6));
        assert_eq!(rows[2].median_per_s, Some(31.11e6));
        assert_eq!(rows[3].median_ns, 79.3, "units are read per cell");
        assert_eq!(rows[3].median_per_s, None);
        assert_eq!(rows[6].median_ns, 168.7e6);
        assert_eq!(rows[6].median_per_s, Some(950.0));
    }

    /// A row the report asks for in a package that ran without it is
    /// recorded (the report then fails); a package that did not run is
    /// not (its rows show "–", as a missing peer's do).
    #[test]
    fn a_renamed_bench_fails_the_report() {
        let mut res = Results::default();
        res.rust.insert(("agent".to_string(), 1), parse_divan(SAMPLE));
        assert!(res.rust("agent", 1, "update/agent_update").is_some());
        assert!(res.rust("agent", 1, "update/agent_updat").is_none());
        assert!(res.rust("mlp", 1, "update/kernel").is_none());
        let missing: Vec<String> = res.missing.take().into_iter().collect();
        assert_eq!(missing, ["agent (RAYON_NUM_THREADS=1): update/agent_updat"]);
    }
}
