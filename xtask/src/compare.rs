//! `cargo xtask compare`: the default configuration on several seeds, beside
//! the PyTorch version of the seed algorithm run on the same seeds in the
//! same session.

use std::path::{Path, PathBuf};
use std::process::Command;

use runner::{RunConfig, Silent};

pub struct Row {
    pub seed: u64,
    pub test_mean: f64,
    pub episodes: u32,
    pub steps: u64,
    pub wall_seconds: f64,
}

/// Runs our training for each seed into `out/seed<N>`.
pub fn ours(seeds: &[u64], out: &Path, overrides: &[String]) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &seed in seeds {
        let mut config = RunConfig { seed, ..RunConfig::default() };
        for o in overrides {
            config.apply_override(o).map_err(|e| runner::ErrorChain(&e).to_string())?;
        }
        let dir = out.join(format!("seed{seed}"));
        let s = crate::in_pool(|| runner::train(&config, &dir, &mut Silent))
            .map_err(|e| runner::ErrorChain(&e).to_string())?;
        eprintln!(
            "dqn-rs  seed {seed}: test mean {:.1}, {} steps, {:.2} s",
            s.test_mean, s.train_steps, s.wall_seconds
        );
        rows.push(Row {
            seed,
            test_mean: s.test_mean,
            episodes: s.train_episodes,
            steps: s.train_steps,
            wall_seconds: s.wall_seconds,
        });
    }
    Ok(rows)
}

/// Runs `script --mode train --seed N --json …` with `python` for each seed.
pub fn anchor(seeds: &[u64], python: &Path, script: &Path, out: &Path) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &seed in seeds {
        let json = out.join(format!("anchor-seed{seed}.json"));
        let status = Command::new(python)
            .arg(script)
            .args(["--mode", "train", "--seed", &seed.to_string(), "--json"])
            .arg(&json)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if !status.success() {
            return Err(format!("{} {} failed: {status}", python.display(), script.display()));
        }
        let text = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
        let num = |k: &str| v[k].as_f64().ok_or_else(|| format!("{}: no number {k:?}", json.display()));
        let row = Row {
            seed,
            test_mean: num("test_mean")?,
            episodes: num("episodes")? as u32,
            steps: num("train_env_steps")? as u64,
            wall_seconds: num("total_wall_s")?,
        };
        eprintln!(
            "PyTorch seed {seed}: test mean {:.1}, {} steps, {:.2} s",
            row.test_mean, row.steps, row.wall_seconds
        );
        rows.push(row);
    }
    Ok(rows)
}

/// A Markdown table of both sets of rows, with medians and the wall-time ratio.
pub fn table(ours: &[Row], anchor: &[Row]) -> String {
    let mut t = String::from(
        "| seed | dqn-rs test mean | steps | wall s | PyTorch test mean | steps | wall s |\n|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, r) in ours.iter().enumerate() {
        let a = anchor.get(i);
        let cell = |f: fn(&Row) -> String| a.map_or("–".to_string(), f);
        t += &format!(
            "| {} | {:.1} | {} | {:.2} | {} | {} | {} |\n",
            r.seed,
            r.test_mean,
            r.steps,
            r.wall_seconds,
            cell(|a| format!("{:.1}", a.test_mean)),
            cell(|a| a.steps.to_string()),
            cell(|a| format!("{:.2}", a.wall_seconds))
        );
    }
    let med = |rows: &[Row], f: fn(&Row) -> f64| runner::median(rows.iter().map(f));
    let (ow, aw) = (med(ours, |r| r.wall_seconds), med(anchor, |r| r.wall_seconds));
    t += &format!(
        "| median | {:.1} | {:.0} | {:.2} | {:.1} | {:.0} | {:.2} |\n",
        med(ours, |r| r.test_mean),
        med(ours, |r| r.steps as f64),
        ow,
        med(anchor, |r| r.test_mean),
        med(anchor, |r| r.steps as f64),
        aw
    );
    if !anchor.is_empty() {
        t += &format!(
            "\nmedian wall time: dqn-rs is {:.1}x faster ({} episodes each)\n",
            aw / ow,
            ours.first().map_or(0, |r| r.episodes)
        );
    }
    t
}

/// The seeds `a..b` of a range argument like `0..5`, or a comma list.
pub fn parse_seeds(spec: &str) -> Result<Vec<u64>, String> {
    runner::sweep::parse_seeds(spec).map_err(|e| e.to_string())
}

/// Where the comparison's runs go.
pub fn out_dir(out: Option<PathBuf>) -> PathBuf {
    out.unwrap_or_else(|| {
        let stamp = crate::default_run_dir(0);
        let name = stamp.file_name().map(|n| n.to_string_lossy().replace("-seed0", "")).unwrap_or_default();
        PathBuf::from(format!("runs/compare-{name}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_parsed() {
        assert_eq!(parse_seeds("0..5").unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(parse_seeds("3, 7").unwrap(), vec![3, 7]);
        assert!(parse_seeds("5..5").is_err() && parse_seeds("x").is_err());
        // Counted before a list is built; a seed twice is one run twice.
        for (spec, problem) in [
            ("0..100000000000", "100000000000 seeds; at most 100000"),
            ("0..18446744073709551615", "at most 100000"),
            ("1,1,1", "seed 1 is given twice"),
        ] {
            let err = parse_seeds(spec).unwrap_err();
            assert!(err.contains(problem), "{spec}: {err}");
        }
    }
}
