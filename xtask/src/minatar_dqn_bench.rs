//! The MinAtar DQN speed and memory rows of `docs/benchmarks.md`: Young &
//! Tian's own `examples/dqn.py` (`xtask/peers/minatar_dqn.py`) and ours
//! (`presets/minatar/<game>-dqn.ron`), the same protocol for the same
//! frames, one after the other game by game, each in a process of its own
//! on one thread, so that each process's peak resident memory is its run's.
//!
//! Between two markers, so `cargo xtask bench --minatar-dqn` rewrites only
//! this section and the full bench keeps it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::minatar_suite::GAMES;

/// The section's first line.
pub const BEGIN: &str = "<!-- minatar-dqn: cargo xtask bench --minatar-dqn -->";
/// The section's last line.
pub const END: &str = "<!-- /minatar-dqn -->";

/// A 5 M-frame run: the projection's budget.
const FULL_RUN: f64 = 5_000_000.0;

/// What to measure.
pub struct Options {
    /// The Python with torch and `minatar` (the anchors' venv).
    pub python: PathBuf,
    /// `examples/dqn.py` of the MinAtar repository at the spec's commit.
    pub dqn_py: PathBuf,
    /// `xtask/peers/`.
    pub peers: PathBuf,
    /// The xtask binary that trains ours.
    pub xtask: PathBuf,
    /// Frames of every run, theirs and ours.
    pub frames: u64,
    /// The seed of every run.
    pub seed: u64,
}

/// One side's run on one game.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Wall seconds of the run (theirs: `dqn()`; ours: training).
    pub wall_s: f64,
    /// Peak resident memory of the process, MiB.
    pub peak_mib: f64,
}

impl Measured {
    fn frames_per_s(self, frames: u64) -> f64 {
        frames as f64 / self.wall_s
    }

    /// The wall time of a 5 M-frame run at this rate, in hours (a lower
    /// bound for a short run: its first 5 000 frames learn nothing).
    fn projected_hours(self, frames: u64) -> f64 {
        self.wall_s * FULL_RUN / frames as f64 / 3600.0
    }
}

/// Their run: `minatar_dqn.py` for `opts.frames` frames on one thread.
fn theirs(opts: &Options, game: &str) -> Result<(Measured, String), String> {
    let mut cmd = Command::new(&opts.python);
    cmd.arg(opts.peers.join("minatar_dqn.py")).arg("--dqn-py").arg(&opts.dqn_py);
    cmd.args(["--game", game, "--frames", &opts.frames.to_string(), "--threads", "1"]);
    cmd.args(["--seed", &opts.seed.to_string()]);
    let what = format!("minatar_dqn.py --game {game} --frames {}", opts.frames);
    let text = crate::python_front::run_for_json(cmd, &what)?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("minatar_dqn.py's JSON: {e}"))?;
    let num = |key: &str| v[key].as_f64().ok_or_else(|| format!("minatar_dqn.py's JSON has no number {key}"));
    let torch = v["torch"].as_str().unwrap_or("?").to_string();
    Ok((Measured { wall_s: num("wall_s")?, peak_mib: num("peak_rss_mib")? }, torch))
}

/// Our run: `cargo xtask train` on the game's preset for `opts.frames`
/// frames, one rayon thread, no test episodes, in a scratch folder.
fn ours(opts: &Options, preset: &Path) -> Result<Measured, String> {
    let dir = std::env::temp_dir().join(format!("dqn-minatar-dqn-ours-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cmd = Command::new(&opts.xtask);
    cmd.arg("train").arg("--config").arg(preset).arg("--out").arg(&dir);
    cmd.args(["--seed", &opts.seed.to_string(), "--quiet", "--checkpoint-every", "0"]);
    cmd.args(["--set", &format!("max_train_steps=Some({})", opts.frames), "--set", "test_episodes=0"]);
    cmd.env("RAYON_NUM_THREADS", "1");
    eprintln!("bench: xtask train --config {} ({} frames)", preset.display(), opts.frames);
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", opts.xtask.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        return Err(format!(
            "xtask train --config {} failed: {}",
            preset.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_summary(&String::from_utf8_lossy(&out.stdout))
}

/// The wall time and peak memory of `cargo xtask train`'s summary.
fn parse_summary(stdout: &str) -> Result<Measured, String> {
    let first_number = |label: &str| {
        let line = stdout.lines().find_map(|l| l.strip_prefix(label));
        line.and_then(|rest| rest.split_whitespace().next()).and_then(|n| n.parse::<f64>().ok()).ok_or_else(|| {
            format!("the training summary has no number after {label:?}: {}", runner::text::abbreviate_words(stdout))
        })
    };
    Ok(Measured { wall_s: first_number("wall time:")?, peak_mib: first_number("peak memory:")? })
}

/// Measures every game and returns the section.
///
/// # Errors
/// A run that fails, with its message.
pub fn measure(opts: &Options) -> Result<String, String> {
    let root = crate::chapter::workspace_root();
    let mut rows = String::new();
    let mut torch = String::new();
    let mut ratios = Vec::new();
    for game in &GAMES {
        let (peer, version) = theirs(opts, &game.id.replace('-', "_"))?;
        torch = version;
        let mine = ours(opts, &root.join(game.preset))?;
        let ratio = mine.frames_per_s(opts.frames) / peer.frames_per_s(opts.frames);
        ratios.push(ratio);
        rows.push_str(&format!(
            "| {} | {:.0} | {:.0} | **{ratio:.1}×** | {:.1} h | {:.2} h | {:.0} | {:.0} | {:.0}× |\n",
            game.title,
            peer.frames_per_s(opts.frames),
            mine.frames_per_s(opts.frames),
            peer.projected_hours(opts.frames),
            mine.projected_hours(opts.frames),
            peer.peak_mib,
            mine.peak_mib,
            peer.peak_mib / mine.peak_mib,
        ));
    }
    let median = runner::median(ratios);
    Ok(format!(
        "{BEGIN}\n\n## MinAtar DQN at the full protocol, beside Young & Tian's `examples/dqn.py`\n\n\
         Each game, seed {seed}, one after the other: their `examples/dqn.py` (MinAtar 4241f24, PyTorch {torch}, \
         `torch.set_num_threads(1)`; run by `xtask/peers/minatar_dqn.py`, which sets only `NUM_FRAMES`) for \
         {frames} frames, then ours (`presets/minatar/<game>-dqn.ron`, `RAYON_NUM_THREADS=1`) for the same \
         frames: 5 000 frames of uniformly random play, then one update per frame, {replay} transitions in the replay at the \
         end (it holds 100 000). Frames per second over the whole run (theirs: its `dqn()`; ours: training); \
         a 5 M-frame run projected at that rate; the peak resident memory of each process (their Python with \
         torch loaded, our whole `xtask` process).\n\n\
         | game | theirs, frames/s | ours, frames/s | ours ÷ theirs (target ≥ 15×) | theirs, 5 M run | ours, \
         5 M run | theirs, peak MiB | ours, peak MiB | memory ratio |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n{rows}\n\
         Median over the games: **{median:.1}×** the frames per second of their code. One round (a game's pair \
         takes minutes; the ratio is of two runs back to back).\n\n{END}\n",
        seed = opts.seed,
        frames = opts.frames,
        replay = opts.frames.min(100_000),
    ))
}

/// Measures and writes the section into `file` (appended if it has none).
///
/// # Errors
/// As [`measure`], or the file's I/O error.
pub fn update(opts: &Options, file: &Path) -> Result<String, String> {
    if !opts.dqn_py.is_file() {
        return Err(format!(
            "{} is missing: fetch examples/dqn.py of the MinAtar repository at {} (see xtask/peers/minatar_dqn.py) \
             and give it with --minatar-dqn-py",
            opts.dqn_py.display(),
            "4241f24685622cfb52f843cab9bbcf385a53484a"
        ));
    }
    let new = measure(opts)?;
    crate::python_front::write_section(file, &new, BEGIN, END)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines `print_summary` writes, read back; a summary without them
    /// is an error naming the missing label.
    #[test]
    fn the_training_summary_gives_wall_time_and_peak_memory() {
        let text = "run folder:    /tmp/x\nwall time:     12.50 s (8000 training env steps/s)\n\
                    peak memory:   31.4 MiB resident\n";
        assert_eq!(parse_summary(text).unwrap(), Measured { wall_s: 12.5, peak_mib: 31.4 });
        let err = parse_summary("wall time:     1 s\n").unwrap_err();
        assert!(err.contains("peak memory:"), "{err}");
        let m = Measured { wall_s: 36.0, peak_mib: 1.0 };
        assert_eq!(m.frames_per_s(72), 2.0);
        // 5 M frames at 2 frames/s: 2.5 M s.
        assert_eq!(m.projected_hours(72), 2_500_000.0 / 3600.0);
    }
}
