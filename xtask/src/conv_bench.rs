//! The convolutional networks' section of `docs/benchmarks.md`: one DQN
//! update (batch 32) of the MinAtar and the Nature network, ours (`cargo
//! bench -p mlp --bench conv`, 1 and 2 threads) beside PyTorch and JAX
//! doing the same work (`xtask/peers/conv_update.py`), in one run, with
//! our GFLOP/s over the machine's ceiling; and each network's forward
//! pass on one observation.
//!
//! The section sits between two markers, so `cargo xtask bench --conv`
//! rewrites it alone and the full bench keeps it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::bench::{DivanRow, parse_divan};

/// The section's first and last lines.
pub const BEGIN: &str = "<!-- conv: cargo xtask bench --conv -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- /conv -->";

/// What to measure (the conv and MinAtar sections).
pub struct Options {
    /// The anchor Python: torch (the conv section), the `minatar`
    /// package (MinAtar's).
    pub python: PathBuf,
    /// A Python with jax: optax (the conv section), gymnax (MinAtar's).
    pub jax_python: PathBuf,
    /// `xtask/peers/`.
    pub peers: PathBuf,
    /// Rounds of every measurement (medians are reported).
    pub rounds: usize,
    /// Few samples, for a check that everything runs.
    pub quick: bool,
}

/// The networks, as the bench and the peer name them.
const NETS: [(&str, &str); 2] =
    [("minatar", "MinAtar (4×10×10, 16 3×3, 128, 6)"), ("nature", "Nature (4×84×84, 512, 6)")];

/// Runs `cargo bench -p PACKAGE --bench BENCH -- FILTER…` on `threads`
/// rayon threads and parses divan's table.
pub(crate) fn divan(
    package: &str,
    bench: &str,
    filter: &[&str],
    threads: usize,
    quick: bool,
) -> Result<Vec<DivanRow>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["bench", "--quiet", "-p", package, "--bench", bench, "--"]).args(filter);
    cmd.env("RAYON_NUM_THREADS", threads.to_string());
    if quick {
        cmd.args(["--sample-count", "2", "--sample-size", "1"]);
    }
    eprintln!("bench: cargo bench -p {package} --bench {bench} {filter:?} (RAYON_NUM_THREADS={threads})");
    let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo bench -p {package} --bench {bench} failed: {}", out.status));
    }
    Ok(parse_divan(&String::from_utf8_lossy(&out.stdout)))
}

/// One run of the peer script: net → µs per update.
fn peer(opts: &Options, framework: &str, threads: usize, jax_loop: &str) -> Result<Vec<(String, f64)>, String> {
    let python = if framework == "jax" { &opts.jax_python } else { &opts.python };
    // The scan runs the Nature update at about 0.7 s: fewer of them.
    let (updates, reps) = match (opts.quick, jax_loop) {
        (true, _) => ("5", "1"),
        (false, "scan") => ("10", "3"),
        (false, _) => ("50", "5"),
    };
    let mut cmd = Command::new(python);
    cmd.arg(opts.peers.join("conv_update.py")).args(["--framework", framework, "--threads", &threads.to_string()]);
    cmd.args(["--nets", "minatar,nature", "--reps", reps, "--updates", updates]);
    let json_path = std::env::temp_dir().join(format!("dqn-conv-peer-{}.json", std::process::id()));
    cmd.arg("--json").arg(&json_path);
    if framework == "jax" {
        cmd.args(["--jax-loop", jax_loop]);
    }
    eprintln!("bench: conv_update.py --framework {framework} --threads {threads} --jax-loop {jax_loop}");
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("conv_update.py --framework {framework} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let json = std::fs::read_to_string(&json_path).map_err(|e| format!("conv_update.py's JSON: {e}"))?;
    let _ = std::fs::remove_file(&json_path);
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("conv_update.py: {e}"))?;
    NETS.iter()
        .map(|(net, _)| {
            let us = v["points"][net]["us_median"].as_f64().ok_or_else(|| format!("conv_update.py: no {net}"))?;
            Ok(((*net).to_string(), us))
        })
        .collect()
}

pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Measures every row and returns the section (markers included).
///
/// # Errors
/// A run that fails, with its message.
pub fn measure(opts: &Options) -> Result<String, String> {
    // Ours: (path, threads) → median ns and rate over rounds.
    let mut ours: Vec<(String, usize, f64, Option<f64>)> = Vec::new();
    // Peers: (label, net) → µs.
    let mut peers: Vec<(String, String, f64)> = Vec::new();
    let mut ceiling = Vec::new();
    for _ in 0..opts.rounds.max(1) {
        for threads in [1, 2] {
            for row in divan("mlp", "conv", &[], threads, opts.quick)? {
                ours.push((row.path, threads, row.median_ns, row.median_per_s));
            }
        }
        let probe = divan("mlp", "update", &["register_mul_add_ceiling"], 1, opts.quick)?;
        ceiling.extend(probe.iter().filter_map(|r| r.median_per_s));
        for (label, framework, threads, jax_loop) in [
            ("PyTorch, 1 thread", "torch", 1, ""),
            ("PyTorch, 2 threads", "torch", 2, ""),
            ("JAX, 1 thread, one jitted call per update", "jax", 1, "python"),
            ("JAX, 2 threads, one jitted call per update", "jax", 2, "python"),
            ("JAX, 1 thread, updates in a jitted lax.scan", "jax", 1, "scan"),
        ] {
            for (net, us) in peer(opts, framework, threads, jax_loop)? {
                peers.push((label.to_string(), net, us));
            }
        }
    }
    let ours_us = |path: &str, threads: usize| {
        median(ours.iter().filter(|r| r.0 == path && r.1 == threads).map(|r| r.2 / 1e3).collect())
    };
    let ours_rate = |path: &str, threads: usize| {
        median(ours.iter().filter(|r| r.0 == path && r.1 == threads).filter_map(|r| r.3).collect())
    };
    let peer_us =
        |label: &str, net: &str| median(peers.iter().filter(|p| p.0 == label && p.1 == net).map(|p| p.2).collect());
    let ceiling = median(ceiling);
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{:.2} ms", v / 1e3));
    let mut t = String::new();
    t.push_str(BEGIN);
    t.push_str("\n\n## Convolutional Q-networks\n\n");
    t.push_str(&format!(
        "One DQN update, batch 32 (`cargo bench -p mlp --bench conv`): 32 transitions drawn from a buffer of u8 \
         observations, gathered as bytes and converted by the first layer as it reads them (`Inputs::Bytes`), \
         the target network on the next states, the Huber loss \
         on the taken actions, backward, one Adam step. The peers do the same work \
         (`xtask/peers/conv_update.py`): PyTorch eager with its buffer as tensors and `torch.randint` indices; \
         JAX (NCHW `lax.conv_general_dilated`, optax Adam) once as one jitted call per update and once as updates \
         inside one jitted `lax.scan` (XLA:CPU runs convolutions inside a loop far slower; jax-ml/jax#12868). \
         Medians of {} rounds in this run. Ours at 2 threads splits the batch into chunks of 16 rows (the \
         chunk size, never the thread count, fixes the bits). GFLOP/s count the target's and the policy's \
         forward passes, every weight gradient and every input gradient but the first layer's, over the \
         {} GFLOP/s ceiling of one core (2 for 2 threads).\n\n",
        opts.rounds,
        ceiling.map_or_else(|| "–".to_string(), |c| format!("{:.0}", c / 1e9))
    ));
    t.push_str("| network, update of 32 | ours, 1 thread | ours, 2 threads | PyTorch 1 / 2 threads | JAX per call 1 / 2 threads | JAX scan, 1 thread | speed ÷ the fastest peer's (1 thread) | ours, 1 thread: GFLOP/s, % of ceiling |\n");
    t.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (net, label) in NETS {
        let one_path = format!("conv/{net}_update_32/32");
        let two_path = format!("conv/{net}_update_32/16");
        let one = ours_us(&one_path, 1);
        let two = ours_us(&two_path, 2);
        let torch = (peer_us("PyTorch, 1 thread", net), peer_us("PyTorch, 2 threads", net));
        let jax = (
            peer_us("JAX, 1 thread, one jitted call per update", net),
            peer_us("JAX, 2 threads, one jitted call per update", net),
        );
        let scan = peer_us("JAX, 1 thread, updates in a jitted lax.scan", net);
        let best = [torch.0, jax.0, scan].into_iter().flatten().min_by(f64::total_cmp);
        let ratio = match (one, best) {
            (Some(o), Some(b)) => format!("**{:.2}×**", b / o),
            _ => "–".into(),
        };
        let share = match (ours_rate(&one_path, 1), ceiling) {
            (Some(r), Some(c)) => format!("{:.0} GFLOP/s = {:.0} % (target ≥ 40 %)", r / 1e9, 100.0 * r / c),
            _ => "–".into(),
        };
        t.push_str(&format!(
            "| {label} | {} | {} | {} / {} | {} / {} | {} | {ratio} | {share} |\n",
            ms(one),
            ms(two),
            ms(torch.0),
            ms(torch.1),
            ms(jax.0),
            ms(jax.1),
            ms(scan)
        ));
    }
    t.push_str("\nActing: the forward pass on one observation, 1 thread (`Mlp::forward_single`, no allocation): ");
    let single: Vec<String> = NETS
        .iter()
        .map(|(net, _)| {
            let us = ours_us(&format!("conv/{net}_forward_single"), 1);
            format!("{net} {}", us.map_or_else(|| "–".to_string(), |v| format!("{v:.1} µs")))
        })
        .collect();
    t.push_str(&single.join(", "));
    t.push_str(&format!(".\n\n{END}\n"));
    Ok(t)
}

/// Measures and writes the section into `file`.
///
/// # Errors
/// As [`measure`], or the file's I/O error.
pub fn update(opts: &Options, file: &Path) -> Result<String, String> {
    let new = measure(opts)?;
    crate::python_front::write_section(file, &new, BEGIN, END)?;
    Ok(new)
}
