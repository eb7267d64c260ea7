//! The Atari section of `docs/benchmarks.md`: dqn_rs's DQN on an Atari game
//! beside CleanRL's `dqn_atari.py` and Stable-Baselines3's `CnnPolicy` DQN,
//! each on the CPU, at each thread count asked for, the same settings and
//! steps
//! (`xtask/peers/atari_speed.py`, one Python each: the three need different
//! gymnasium and torch versions).
//!
//! Between two markers, so `cargo xtask bench --atari` rewrites only this
//! section and the full bench keeps it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The section's first line.
pub const BEGIN: &str = "<!-- atari: cargo xtask bench --atari -->";
/// The section's last line.
pub const END: &str = "<!-- /atari -->";

/// What to measure.
pub struct Options {
    /// `(implementation, its Python)`, in the table's order: `dqn_rs`
    /// first, the peers after it.
    pub pythons: Vec<(&'static str, PathBuf)>,
    /// `xtask/peers/`.
    pub peers: PathBuf,
    /// The Gymnasium id (`PongNoFrameskip-v4`).
    pub env: String,
    /// Steps of the run without learning, and where learning starts.
    pub acting_steps: u64,
    /// Steps of the run that learns.
    pub steps: u64,
    /// Thread counts each implementation runs at, in the table's order.
    pub threads: Vec<usize>,
}

/// One implementation's figures, from `atari_speed.py`'s JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `dqn_rs`, `cleanrl` or `sb3`.
    pub implementation: String,
    /// The threads it ran with.
    pub threads: usize,
    /// Steps per second without learning.
    pub acting: f64,
    /// Steps per second while learning (one update every 4).
    pub learning: f64,
    /// Peak resident memory of the learning run, MiB.
    pub peak_mib: f64,
    /// Hours for 10 M steps at these rates.
    pub projected_hours: f64,
}

/// Reads `atari_speed.py`'s JSON.
///
/// # Errors
/// Text that is not its JSON, naming the missing field.
pub fn parse(text: &str, threads: usize) -> Result<Row, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("atari_speed.py's JSON: {e}"))?;
    let num = |key: &str| v[key].as_f64().ok_or_else(|| format!("atari_speed.py's JSON has no number {key}"));
    Ok(Row {
        implementation: v["impl"].as_str().ok_or("atari_speed.py's JSON has no impl")?.to_string(),
        threads,
        acting: num("acting_steps_per_s")?,
        learning: num("learning_steps_per_s")?,
        peak_mib: num("peak_rss_mib")?,
        projected_hours: num("projected_10m_hours")?,
    })
}

fn measure_one(opts: &Options, implementation: &str, python: &Path, threads: usize) -> Result<Row, String> {
    let mut cmd = Command::new(python);
    cmd.arg(opts.peers.join("atari_speed.py")).args(["--impl", implementation, "--env", &opts.env]);
    cmd.args(["--acting-steps", &opts.acting_steps.to_string(), "--steps", &opts.steps.to_string()]);
    cmd.args(["--threads", &threads.to_string()]);
    let what = format!("atari_speed.py --impl {implementation} ({} steps, {threads} threads)", opts.steps);
    parse(&crate::python_front::run_for_json(cmd, &what)?, threads)
}

/// The section for `rows` (at each thread count, ours first).
#[must_use]
pub fn section(opts: &Options, rows: &[Row]) -> String {
    let mut table = String::new();
    for r in rows {
        // Against ours at the same thread count.
        let ours = rows.iter().find(|o| o.implementation == "dqn_rs" && o.threads == r.threads);
        let ratio = match (ours, r.implementation.as_str()) {
            (Some(o), name) if name != "dqn_rs" => format!("**{:.1}×**", o.learning / r.learning),
            _ => "–".into(),
        };
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.1} | {ratio} | {:.0} | {:.1} h |\n",
            r.threads,
            match r.implementation.as_str() {
                "dqn_rs" => "dqn_rs (`presets/atari/cleanrl-dqn.ron`, `make_atari_env(game, \"cleanrl\")`)",
                "cleanrl" => "CleanRL `dqn_atari.py` (cleanrl 1.2.0, torch 2.4.1)",
                "sb3" => "Stable-Baselines3 `DQN(\"CnnPolicy\")` + `VecFrameStack(4)`",
                other => other,
            },
            r.acting,
            r.learning,
            r.learning / 4.0,
            r.peak_mib,
            r.projected_hours,
        ));
    }
    let counts: Vec<String> = opts.threads.iter().map(ToString::to_string).collect();
    let threads = match counts.as_slice() {
        [one] if one == "1" => "one thread".to_string(),
        [n] => format!("{n} threads"),
        [init @ .., last] => format!("with {} and {last} threads", init.join(", ")),
        [] => "no thread count".to_string(),
    };
    format!(
        "{BEGIN}\n\n## Atari: DQN on {env}, beside CleanRL and Stable-Baselines3\n\n\
         Each on the CPU, {threads} (`OMP_NUM_THREADS`, `RAYON_NUM_THREADS`), CleanRL's settings (Nature network, \
         Adam 1e-4, batch 32, one update every 4 steps, target every 1 000 steps) with a replay of 100 000: \
         CleanRL's default of 1 000 000 does not fit in this machine's 24 GiB (its replay keeps whole stacks, \
         26.3 GiB; numpy refuses it), where ours takes 7.1 GB (`docs/atari.md`). Each runs twice, in processes \
         of its own (`xtask/peers/atari_speed.py`): {acting} steps without learning, then {steps} steps learning \
         from step {acting}; the learning rate is the difference of the two runs ({learn} steps over the \
         difference of their wall times), which cancels start-up. Peak memory: the learning run's process. \
         10 M steps projected: 80 000 steps at the first rate, the rest at the second. CleanRL's published wall \
         time for Pong, 10 M steps, is about 338 minutes on a GPU they do not name (`../shared/atari-notes.md`).\n\n\
         | threads | implementation | steps/s, no learning | steps/s, learning | updates/s | ours ÷ theirs, learning (target ≥ 3× \
         CleanRL) | peak MiB | 10 M steps |\n|---:|---|---:|---:|---:|---:|---:|---:|\n{table}\n{END}\n",
        env = opts.env,
        acting = opts.acting_steps,
        steps = opts.steps,
        learn = opts.steps - opts.acting_steps,
    )
}

/// Measures every implementation and writes the section into `file`.
///
/// # Errors
/// A run that fails, or the file's I/O error.
pub fn update(opts: &Options, file: &Path) -> Result<String, String> {
    if opts.steps <= opts.acting_steps {
        return Err(format!("--atari-steps {} must exceed --atari-acting-steps {}", opts.steps, opts.acting_steps));
    }
    if opts.threads.is_empty() || opts.threads.contains(&0) {
        return Err(format!("--atari-threads {:?}: counts of at least 1", opts.threads));
    }
    let mut rows = Vec::new();
    for &threads in &opts.threads {
        for (implementation, python) in &opts.pythons {
            rows.push(measure_one(opts, implementation, python, threads)?);
        }
    }
    let new = section(opts, &rows);
    crate::python_front::write_section(file, &new, BEGIN, END)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_reads_and_the_ratio_is_ours_over_theirs_while_learning() {
        let text = r#"{"impl": "cleanrl", "acting_steps_per_s": 800.0, "learning_steps_per_s": 100.0,
                       "peak_rss_mib": 2900.5, "projected_10m_hours": 27.5}"#;
        let theirs = parse(text, 2).unwrap();
        assert_eq!(theirs.learning, 100.0);
        let ours = Row {
            implementation: "dqn_rs".into(),
            threads: 2,
            acting: 900.0,
            learning: 350.0,
            peak_mib: 900.0,
            projected_hours: 8.0,
        };
        let opts = Options {
            pythons: vec![],
            peers: PathBuf::new(),
            env: "PongNoFrameskip-v4".into(),
            acting_steps: 10,
            steps: 30,
            threads: vec![1, 2],
        };
        // At one thread, theirs is twice as fast: each ratio is against
        // ours at its own count.
        let theirs_1 = Row { threads: 1, learning: 50.0, ..theirs.clone() };
        let ours_1 = Row { threads: 1, learning: 100.0, ..ours.clone() };
        let text = section(&opts, &[ours_1, theirs_1, ours, theirs]);
        assert!(text.contains("**2.0×**") && text.contains("**3.5×**"), "{text}");
        assert!(text.contains("with 1 and 2 threads"), "{text}");
        assert!(text.starts_with(BEGIN) && text.trim_end().ends_with(END));
        let err = parse(r#"{"impl": "sb3"}"#, 1).unwrap_err();
        assert!(err.contains("acting_steps_per_s"), "{err}");
    }
}
