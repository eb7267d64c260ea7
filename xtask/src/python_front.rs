//! The Python package's section of `docs/benchmarks.md`: steps per second
//! of `dqn_rs.DQN.learn()` beside Stable-Baselines3's, on Gymnasium's
//! Python CartPole-v1 and on the Rust CartPole (beside the Rust CLI on the
//! same configuration), at SB3's default settings and the RL Zoo's, with
//! wall time and peak memory. Each run is a process of its own
//! (`xtask/peers/python_speed.py`); the runs alternate library by library,
//! round by round, and the report takes medians.
//!
//! The section sits between two markers, so `cargo xtask bench
//! --python-front` rewrites it alone and the full bench keeps it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The section's first and last lines.
pub const BEGIN: &str = "<!-- python-front: cargo xtask bench --python-front -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- /python-front -->";

/// What to measure.
pub struct Options {
    /// A Python with torch, stable-baselines3 and dqn_rs installed.
    pub python: PathBuf,
    /// `xtask/peers/`.
    pub peers: PathBuf,
    /// The release xtask binary, for the CLI rows.
    pub xtask: PathBuf,
    /// Training steps of each run.
    pub steps: u64,
    /// Runs of each row (the median is reported).
    pub rounds: usize,
}

/// One run's figures.
#[derive(Debug, Clone)]
struct Run {
    steps_per_s: f64,
    wall_s: f64,
    peak_rss_mb: f64,
    version: String,
}

fn run_once(opts: &Options, lib: &str, env: &str, settings: &str) -> Result<Run, String> {
    let script = opts.peers.join("python_speed.py");
    let steps = opts.steps.to_string();
    let mut cmd = Command::new(&opts.python);
    cmd.arg(&script).args(["--lib", lib, "--env", env, "--settings", settings, "--steps", &steps]);
    if lib == "cli" {
        cmd.arg("--xtask").arg(&opts.xtask);
    }
    eprintln!("bench: python_speed.py --lib {lib} --env {env} --settings {settings} --steps {steps}");
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", opts.python.display()))?;
    if !out.status.success() {
        return Err(format!("python_speed.py --lib {lib} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().ok_or("python_speed.py printed nothing")?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("python_speed.py: {e}: {line}"))?;
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).ok_or_else(|| format!("python_speed.py: no {k}"));
    Ok(Run {
        steps_per_s: num("steps_per_s")?,
        wall_s: num("wall_s")?,
        peak_rss_mb: num("peak_rss_mb")?,
        version: v.get("version").and_then(serde_json::Value::as_str).unwrap_or("?").to_string(),
    })
}

/// The median run by steps per second.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.steps_per_s.total_cmp(&b.steps_per_s));
    runs[runs.len() / 2].clone()
}

/// Measures every row and returns the section (markers included).
///
/// # Errors
/// A run that fails, with its message.
pub fn measure(opts: &Options) -> Result<String, String> {
    let rows = [
        ("defaults", "python", "sb3"),
        ("defaults", "python", "dqn_rs"),
        ("defaults", "rust", "dqn_rs"),
        ("defaults", "rust", "cli"),
        ("zoo", "python", "sb3"),
        ("zoo", "python", "dqn_rs"),
        ("zoo", "rust", "dqn_rs"),
        ("zoo", "rust", "cli"),
    ];
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); rows.len()];
    for _ in 0..opts.rounds.max(1) {
        for (i, (settings, env, lib)) in rows.iter().enumerate() {
            runs[i].push(run_once(opts, lib, env, settings)?);
        }
    }
    let m: Vec<Run> = runs.into_iter().map(median).collect();
    let mut t = String::new();
    t.push_str(BEGIN);
    t.push_str("\n\n## The Python package beside Stable-Baselines3\n\n");
    t.push_str(&format!(
        "`dqn_rs.DQN(\"MlpPolicy\", env, **settings).learn({})` against SB3's `DQN` with the same settings, one \
         process per run, one thread each (`torch.set_num_threads(1)`, `RAYON_NUM_THREADS=1`), median of {} \
         rounds (`xtask/peers/python_speed.py`; {}, {}). *SB3's defaults*: `MlpPolicy` [64, 64], batch 32, \
         `train_freq` 4, `learning_starts` 100, buffer 1e6, `max_grad_norm` 10. *Zoo*: RL Zoo's CartPole-v1 \
         (net [256, 256], batch 64, `train_freq` 256, `gradient_steps` 128). *Python CartPole*: \
         `gym.make(\"CartPole-v1\")`, stepped from Rust; *Rust CartPole*: the id `\"CartPole-v1\"`, the whole loop \
         in Rust, beside `cargo xtask train` on the configuration `DQN` makes of the same settings (its \
         summary's training time).\n\n",
        opts.steps, opts.rounds, m[0].version, m[1].version
    ));
    t.push_str("| settings | environment | dqn_rs | peer | ratio | target | wall (dqn_rs / peer) | peak memory (dqn_rs / peer) |\n");
    t.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    let mut row = |settings: &str, env: &str, ours: &Run, peer: &Run, peer_name: &str, target: &str| {
        t.push_str(&format!(
            "| {settings} | {env} | {:.0} steps/s | {:.0} steps/s ({peer_name}) | **{:.2}×** | {target} | {:.1} s / {:.1} s | {:.0} MB / {:.0} MB |\n",
            ours.steps_per_s,
            peer.steps_per_s,
            ours.steps_per_s / peer.steps_per_s,
            ours.wall_s,
            peer.wall_s,
            ours.peak_rss_mb,
            peer.peak_rss_mb
        ));
    };
    row("SB3's defaults", "Python CartPole-v1", &m[1], &m[0], "SB3", "≥ 10×");
    row("SB3's defaults", "Rust CartPole-v1", &m[2], &m[3], "Rust CLI", "≥ 0.9×");
    row("Zoo", "Python CartPole-v1", &m[5], &m[4], "SB3", "reported");
    row("Zoo", "Rust CartPole-v1", &m[6], &m[7], "Rust CLI", "≥ 0.9×");
    t.push_str(&format!(
        "\nSB3 on the Rust CartPole (`dqn_rs.CartPoleEnv` stepped from Python) is not a row: SB3 steps any \
         environment from Python, so its speed there is its speed on the Python one. The CLI's memory is its \
         process's peak (ru_maxrss of the child).\n\n{END}\n"
    ));
    Ok(t)
}

/// The lines of `text` from the line `begin` to the line `end`, if it has them.
pub fn section_between(text: &str, begin: &str, end: &str) -> Option<String> {
    let start = text.find(begin)?;
    let stop = text[start..].find(end)? + start + end.len();
    Some(format!("{}\n", &text[start..stop]))
}

/// Runs the peer script `cmd` (its Python and arguments) with `--json
/// FILE` added, and returns the file's text (the file removed after);
/// `what` names the run in errors and on stderr. Its stdout is dropped.
///
/// # Errors
/// The script cannot start, exits with failure (its stderr is in the
/// message), or leaves no file.
pub fn run_for_json(mut cmd: Command, what: &str) -> Result<String, String> {
    let json =
        std::env::temp_dir().join(format!("dqn-peer-{}-{}.json", what.replace([' ', '/'], "_"), std::process::id()));
    cmd.arg("--json").arg(&json);
    eprintln!("bench: {what}");
    let out = cmd
        .stdout(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
    if !out.status.success() {
        return Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| format!("{what}'s JSON: {e}"));
    let _ = std::fs::remove_file(&json);
    text
}

/// `text` with its section between `begin` and `end` replaced by `new`
/// (appended if it has none).
pub fn splice_between(text: &str, new: &str, begin: &str, end: &str) -> String {
    match (text.find(begin), text.find(end)) {
        (Some(start), Some(stop)) if stop > start => {
            let mut after = &text[stop + end.len()..];
            after = after.strip_prefix('\n').unwrap_or(after);
            format!("{}{new}{after}", &text[..start])
        }
        _ => format!("{}\n{new}", text.trim_end_matches('\n').to_string() + "\n"),
    }
}

/// Puts `section` (its markers included) between `begin` and `end` in
/// `file`, or appends it when the file has none.
///
/// # Errors
/// The file's I/O error.
pub fn write_section(file: &Path, section: &str, begin: &str, end: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    std::fs::write(file, splice_between(&old, section, begin, end)).map_err(|e| format!("{}: {e}", file.display()))
}

/// Measures and writes the section into `file`.
///
/// # Errors
/// As [`measure`], or the file's I/O error.
pub fn update(opts: &Options, file: &Path) -> Result<String, String> {
    let new = measure(opts)?;
    write_section(file, &new, BEGIN, END)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_the_section_alone_or_appends_it() {
        let new = format!("{BEGIN}\nnew\n{END}\n");
        let with = format!("head\n{BEGIN}\nold\n{END}\ntail\n");
        assert_eq!(splice_between(&with, &new, BEGIN, END), format!("head\n{BEGIN}\nnew\n{END}\ntail\n"));
        assert_eq!(section_between(&with, BEGIN, END).unwrap(), format!("{BEGIN}\nold\n{END}\n"));
        assert_eq!(splice_between("head\n", &new, BEGIN, END), format!("head\n\n{BEGIN}\nnew\n{END}\n"));
        assert!(section_between("head\n", BEGIN, END).is_none());
    }
}
