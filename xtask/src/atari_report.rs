//! `cargo xtask atari-report --run DIR`: an Atari run of
//! `xtask/atari/train.py` as a section of `docs/results.md` — its protocol
//! and settings, the games it played, the mean return of the last 20
//! against agent steps and frames, where it first reached the goal, and
//! its wall time — with the curve as a figure.
//!
//! The section sits between two markers, so the classic-control suite,
//! which writes the rest of the page, keeps it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::SeriesLabelPosition;

use crate::plot::{Figure, PALETTE, Series, read_columns, save_svg};

/// The section's first line.
pub const BEGIN: &str = "<!-- atari-runs: cargo xtask atari-report -->";
/// The section's last line.
pub const END: &str = "<!-- /atari-runs -->";

/// Games in the moving mean (the measure: the last 20 training
/// games).
const WINDOW: usize = 20;
/// Frames an agent step takes under both protocols.
const FRAMES_PER_STEP: f64 = 4.0;

/// What a run folder holds.
#[derive(Debug, Clone, PartialEq)]
pub struct AtariRun {
    /// The game (`Pong`).
    pub game: String,
    /// `cleanrl` or `ale-v5`.
    pub protocol: String,
    /// The configuration file it named.
    pub config: String,
    /// Its seed.
    pub seed: u64,
    /// The agent steps it was given.
    pub budget: u64,
    /// For each game: agent steps when it ended, its return.
    pub games: Vec<(f64, f64)>,
    /// Agent steps saved so far and the wall seconds of the run.
    pub saved: Option<(u64, f64)>,
    /// Whether it has finished (summary.json).
    pub finished: bool,
}

impl AtariRun {
    /// The mean return of the `WINDOW` games ended by each game.
    #[must_use]
    pub fn moving_mean(&self) -> Vec<(f64, f64)> {
        (WINDOW..=self.games.len())
            .map(|end| {
                let window = &self.games[end - WINDOW..end];
                (window[WINDOW - 1].0, window.iter().map(|g| g.1).sum::<f64>() / WINDOW as f64)
            })
            .collect()
    }

    /// The first agent step at which the moving mean reached `goal`.
    #[must_use]
    pub fn reached(&self, goal: f64) -> Option<f64> {
        self.moving_mean().into_iter().find(|&(_, mean)| mean >= goal).map(|(step, _)| step)
    }
}

/// Reads a run folder of `xtask/atari/train.py`.
///
/// # Errors
/// A file that is missing or does not read, named.
pub fn read_run(dir: &Path) -> Result<AtariRun, String> {
    let read_json = |name: &str| -> Result<serde_json::Value, String> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let run = read_json("run.json")?;
    let text = |key: &str| run[key].as_str().map(str::to_string).ok_or_else(|| format!("run.json has no {key}"));
    let number = |key: &str| run[key].as_u64().ok_or_else(|| format!("run.json has no {key}"));
    let games_csv = dir.join("games.csv");
    let games = if games_csv.is_file() {
        let mut columns = read_columns(&games_csv, &["steps", "return"])?;
        let returns = columns.pop().unwrap_or_default();
        let steps = columns.pop().unwrap_or_default();
        steps.into_iter().zip(returns).collect()
    } else {
        Vec::new()
    };
    let saved = read_json("wall.json").ok().and_then(|w| Some((w["steps"].as_u64()?, w["wall_seconds"].as_f64()?)));
    Ok(AtariRun {
        game: text("game")?,
        protocol: text("protocol")?,
        config: text("config")?,
        seed: number("seed")?,
        budget: number("steps")?,
        games,
        saved,
        finished: dir.join("summary.json").is_file(),
    })
}

/// The section on `runs`, with a figure each in `figures` (named in the
/// page as `folder/…`).
///
/// # Errors
/// A figure that cannot be written.
pub fn section(runs: &[AtariRun], goal: f64, figures: &Path, folder: &str) -> Result<String, String> {
    let mut t = format!(
        "{BEGIN}\n\n## Atari\n\nRuns of `xtask/atari/train.py` (the Python package on `make_atari_env(game, \
         protocol)`; `docs/atari.md`). The measure: the mean return of the last {WINDOW} training games (whole \
         games, unclipped, as `RecordEpisodeStatistics` reports them), against agent steps (4 frames each).\n\n\
         | game | protocol | settings | seed | steps (frames) | games | last {WINDOW} games' mean | first reached \
         {goal:+} | wall |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for run in runs {
        let steps = run.saved.map_or(0, |s| s.0);
        let last = run.moving_mean().last().map_or("–".into(), |&(_, m)| format!("{m:+.2}"));
        let reached = run
            .reached(goal)
            .map_or("not yet".into(), |s| format!("step {s:.0} ({:.1} M frames)", s * FRAMES_PER_STEP / 1e6));
        let state = if run.finished { String::new() } else { format!(", of {}: unfinished", run.budget) };
        let wall = run.saved.map_or("–".into(), |s| format!("{:.1} h", s.1 / 3600.0));
        let _ = writeln!(
            t,
            "| {} | `{}` | `{}` | {} | {steps} ({:.1} M){state} | {} | {last} | {reached} | {wall} |",
            run.game,
            run.protocol,
            run.config,
            run.seed,
            steps as f64 * FRAMES_PER_STEP / 1e6,
            run.games.len()
        );
    }
    for run in runs {
        let name = format!("atari-{}-{}-seed{}", run.game.to_lowercase(), stem(&run.config), run.seed);
        let points: Vec<(f64, f64)> =
            run.moving_mean().into_iter().map(|(s, m)| (s * FRAMES_PER_STEP / 1e6, m)).collect();
        let end = (run.budget as f64 * FRAMES_PER_STEP / 1e6).max(points.last().map_or(0.0, |p| p.0));
        let figure = Figure {
            title: format!("{} ({}): mean of the last {WINDOW} games", run.game, run.protocol),
            x_label: "frames (millions)".into(),
            y_label: "return".into(),
            series: vec![
                Series {
                    label: format!("seed {}", run.seed),
                    points,
                    color: PALETTE[0],
                    markers: false,
                    band: Vec::new(),
                },
                Series {
                    label: format!("goal {goal:+}"),
                    points: vec![(0.0, goal), (end, goal)],
                    color: PALETTE[2],
                    markers: false,
                    band: Vec::new(),
                },
            ],
            legend: SeriesLabelPosition::UpperLeft,
        };
        let path = save_svg(&figure, &figures.join(&name))?;
        let file = path.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let _ = writeln!(t, "\n![{} learning curve]({folder}/{file})", run.game);
    }
    let _ = writeln!(t, "\nWritten by `cargo xtask atari-report --run DIR …`.\n\n{END}");
    Ok(t)
}

fn stem(config: &str) -> String {
    PathBuf::from(config).file_stem().map_or_else(|| "config".into(), |s| s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(returns: &[f64]) -> AtariRun {
        AtariRun {
            game: "Pong".into(),
            protocol: "cleanrl".into(),
            config: "presets/atari/pong-fast.ron".into(),
            seed: 1,
            budget: 1000,
            games: returns.iter().enumerate().map(|(i, &r)| ((i as f64 + 1.0) * 10.0, r)).collect(),
            saved: Some((500, 7200.0)),
            finished: false,
        }
    }

    /// By hand: 19 games of −21 then games of +21: the mean of 20 crosses
    /// +10 when 15 of the last 20 are wins ((15·21 − 5·21) / 20 = 10.5; 14
    /// wins give 8.4).
    #[test]
    fn the_goal_is_reached_where_the_last_20_games_mean_reaches_it() {
        let mut returns = vec![-21.0; 19];
        returns.extend([21.0; 30]);
        let r = run(&returns);
        assert_eq!(r.moving_mean().len(), returns.len() - 19);
        assert_eq!(r.moving_mean()[0], (200.0, (-19.0 * 21.0 + 21.0) / 20.0));
        // The 15th win is game 19 + 15 = 34, ending at step 340.
        assert_eq!(r.reached(10.0), Some(340.0));
        assert_eq!(run(&[-21.0; 40]).reached(10.0), None);
        assert!(run(&[1.0; 19]).moving_mean().is_empty());
    }
}
