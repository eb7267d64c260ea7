//! MinAtar's section of `docs/benchmarks.md`: steps per second of each
//! game (`cargo bench -p minatar-sim --bench steps`: as the package is
//! driven, behind the environment seam, a batch of 16), beside the
//! `minatar` package and gymnax's MinAtar under `jax.jit`
//! (`xtask/peers/minatar_steps.py`), in one run. Ours and the package's
//! run back to back game by game, and each round's ratio is taken before
//! the median: this host's speed moves by up to 2× within minutes, and a
//! ratio of two medians taken minutes apart would carry that. Written
//! between two markers, so `cargo xtask bench --minatar` rewrites only it.

use std::path::Path;
use std::process::Command;

use crate::conv_bench::{divan, median};

/// The section's first line.
pub const BEGIN: &str = "<!-- minatar: cargo xtask bench --minatar -->";
/// The section's last line.
pub const END: &str = "<!-- /minatar -->";

/// What to measure: the peers' Pythons and rounds, as for the conv section.
pub use crate::conv_bench::Options;

/// The games as the bench and the peer name them, with their names.
const GAMES: [(&str, &str); 5] = [
    ("asterix", "Asterix"),
    ("breakout", "Breakout"),
    ("freeway", "Freeway"),
    ("seaquest", "Seaquest"),
    ("space_invaders", "Space Invaders"),
];

/// A peer's measurements: (game, form, steps per second).
type PeerRates = Vec<(String, String, f64)>;

/// One run of the peer script on `games`: its version and rates.
fn peer(opts: &Options, framework: &str, games: &[&str]) -> Result<(String, PeerRates), String> {
    let python = if framework == "gymnax" { &opts.jax_python } else { &opts.python };
    let mut cmd = Command::new(python);
    cmd.arg(opts.peers.join("minatar_steps.py")).args(["--framework", framework, "--games", &games.join(",")]);
    if opts.quick {
        cmd.args(["--seconds", "0.2", "--steps", "2000", "--reps", "1"]);
    }
    let json_path = std::env::temp_dir().join(format!("dqn-minatar-peer-{}.json", std::process::id()));
    cmd.arg("--json").arg(&json_path);
    eprintln!("bench: minatar_steps.py --framework {framework} --games {}", games.join(","));
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "minatar_steps.py --framework {framework} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let json = std::fs::read_to_string(&json_path).map_err(|e| format!("minatar_steps.py's JSON: {e}"))?;
    let _ = std::fs::remove_file(&json_path);
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("minatar_steps.py: {e}"))?;
    let version = v["version"].as_str().unwrap_or("?").to_string();
    let mut rates = Vec::new();
    for game in games {
        for form in ["single", "batched"] {
            if let Some(rate) = v["points"][game][form].as_f64() {
                rates.push(((*game).to_string(), form.to_string(), rate));
            }
        }
    }
    Ok((version, rates))
}

fn rate(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1e6 => format!("{:.2} M", v / 1e6),
        Some(v) => format!("{:.0} k", v / 1e3),
        None => "–".into(),
    }
}

/// Measures every row and returns the section (markers included).
///
/// # Errors
/// A run that fails, with its message.
pub fn measure(opts: &Options) -> Result<String, String> {
    let mut ours: Vec<(String, f64)> = Vec::new();
    let mut peers: Vec<(String, String, String, f64)> = Vec::new();
    // (game, form of ours, ratio to the package in one round).
    let mut ratios: Vec<(String, &str, f64)> = Vec::new();
    let mut versions = (String::new(), String::new());
    for _ in 0..opts.rounds.max(1) {
        for (game, _) in GAMES {
            let mut round = Vec::new();
            let forms = ["package_protocol", "single", "batched"].map(|form| format!("steps::{form}::{game}"));
            let mut args = vec!["--exact", &forms[0], &forms[1], &forms[2]];
            if !opts.quick {
                // Samples over seconds, as the package's are (3 s each): a
                // few milliseconds of samples fall wholly into whatever the
                // host is doing then.
                args.extend(["--min-time", "3"]);
            }
            for row in divan("minatar-sim", "steps", &args, 1, opts.quick)? {
                if let Some(per_s) = row.median_per_s {
                    round.push((row.path, per_s));
                }
            }
            let (version, rates) = peer(opts, "minatar", &[game])?;
            versions.0 = version;
            if let Some(&(_, _, package)) = rates.iter().find(|r| r.1 == "single") {
                for form in ["package_protocol", "single"] {
                    if let Some(o) = round.iter().find(|r| r.0 == format!("steps/{form}/{game}")) {
                        ratios.push((game.to_string(), form, o.1 / package));
                    }
                }
            }
            peers.extend(rates.into_iter().map(|(g, f, r)| ("minatar".to_string(), g, f, r)));
            ours.extend(round);
        }
    }
    // gymnax once (the median of its own three repetitions): it plays other
    // rules and enters no ratio, and compiling it takes minutes a run.
    let names: Vec<&str> = GAMES.iter().map(|g| g.0).collect();
    let (version, rates) = peer(opts, "gymnax", &names)?;
    versions.1 = version;
    peers.extend(rates.into_iter().map(|(g, f, r)| ("gymnax".to_string(), g, f, r)));
    let ours_rate = |path: &str| median(ours.iter().filter(|r| r.0 == path).map(|r| r.1).collect());
    let peer_rate = |framework: &str, game: &str, form: &str| {
        median(peers.iter().filter(|p| p.0 == framework && p.1 == game && p.2 == form).map(|p| p.3).collect())
    };
    let ratio = |game: &str, form: &str| {
        let mut of: Vec<f64> = ratios.iter().filter(|r| r.0 == game && r.1 == form).map(|r| r.2).collect();
        of.sort_by(f64::total_cmp);
        match (of.first(), median(of.clone()), of.last()) {
            (Some(lo), Some(mid), Some(hi)) if of.len() > 1 => format!("**{mid:.0}×** ({lo:.0}–{hi:.0})"),
            (_, Some(mid), _) => format!("**{mid:.0}×**"),
            _ => "–".into(),
        }
    };
    let mut t = format!(
        "{BEGIN}\n\n## MinAtar: environment steps per second\n\n\
         Each game under uniformly random actions drawn beforehand, 1 thread (`cargo bench -p minatar-sim \
         --bench steps`), three ways: as the package is driven (`MinAtar::act` then the observation, \
         `reset()` after an end: the random stream goes on), one game behind the environment seam \
         (`Env::step`; each reset draws a new seed, i.e. a new MT19937 state, which random play ends \
         every few steps: Breakout in about 11), and a batch of 16 behind the seam (`VecEnv::step`, \
         same-step resets). The peers (`xtask/peers/minatar_steps.py`): the `minatar` {} package, one \
         process, `act` then `state` each step (its reference form; it has no batch), run right after \
         ours game by game; and gymnax {} (`<Game>-MinAtar` in one jitted `lax.scan`, one game and 16 \
         under `jax.vmap`, XLA on one CPU thread; once, the median of 3 repetitions). gymnax plays other rules (minimal actions, no sticky \
         actions, a 1 000-step limit, another random stream): its speed is not the same game's. \
         Rates are medians of {} rounds, ours sampled over at least 3 s a form as the package is; a ratio \
         is the median of the rounds' ratios (ours over the package's measured right after), with their \
         range.\n\n\
         | game | ours, as the package is driven | ours, seam | ours, seam ×16 | `minatar` (Python) | gymnax, one / 16 | ours ÷ `minatar` (target ≥ 100×) | seam ÷ `minatar` |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        versions.0,
        versions.1,
        opts.rounds.max(1)
    );
    for (game, label) in GAMES {
        let driven = ours_rate(&format!("steps/package_protocol/{game}"));
        let single = ours_rate(&format!("steps/single/{game}"));
        let batched = ours_rate(&format!("steps/batched/{game}"));
        let package = peer_rate("minatar", game, "single");
        let jax = (peer_rate("gymnax", game, "single"), peer_rate("gymnax", game, "batched"));
        t.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} / {} | {} | {} |\n",
            rate(driven),
            rate(single),
            rate(batched),
            rate(package),
            rate(jax.0),
            rate(jax.1),
            ratio(game, "package_protocol"),
            ratio(game, "single"),
        ));
    }
    t.push_str(&format!("\nSteps per second (k = thousand, M = million).\n\n{END}\n"));
    Ok(t)
}

/// Measures and writes the section into `file` (appended if it has none).
///
/// # Errors
/// As [`measure`], or the file's I/O error.
pub fn update(opts: &Options, file: &Path) -> Result<String, String> {
    let new = measure(opts)?;
    crate::python_front::write_section(file, &new, BEGIN, END)?;
    Ok(new)
}
