//! `cargo xtask chapter`: runs the experiments that answer the docs
//! chapter's exercises, caches each run by a hash of its configuration,
//! draws the figures, and fills the chapter's numbers in from its template,
//! so text and figures never drift apart.

mod art;
mod experiments;
mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use runner::{RunConfig, Session};
use serde::{Deserialize, Serialize};

pub use experiments::{Experiment, experiments};
use stats::{Estimate, bootstrap};

/// Bumped when the code changes what a run computes, so cached results
/// from older code are not reused.
const CACHE_VERSION: &str = "dqn-rs chapter cache v1";

/// Where the chapter lives.
pub struct Paths {
    /// The Markdown template with `{{placeholders}}`.
    pub template: PathBuf,
    /// The generated chapter.
    pub chapter: PathBuf,
    /// Figures.
    pub figures: PathBuf,
    /// Cached run results, one JSON file per run.
    pub data: PathBuf,
}

/// The workspace's root folder (xtask's parent), wherever cargo was run from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Paths {
    /// The committed chapter in `docs/chapter/`, or a scratch copy in `out`.
    pub fn new(out: Option<&Path>) -> Self {
        let committed = workspace_root().join("docs/chapter");
        let root = out.map_or_else(|| committed.clone(), Path::to_path_buf);
        Self {
            template: committed.join("template.md"),
            chapter: root.join("README.md"),
            figures: root.join("figures"),
            data: root.join("data"),
        }
    }
}

/// What one training run left: everything the chapter's figures and tables
/// need, and nothing that depends on the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub config: String,
    pub returns: Vec<f64>,
    pub episode_ends: Vec<u64>,
    pub q_probe: Vec<f64>,
    pub test_returns: Vec<f64>,
    pub test_q_start: Vec<f64>,
    pub test_discounted: Vec<f64>,
    pub train_steps: u64,
}

impl RunRecord {
    /// The mean greedy test return.
    pub fn test_mean(&self) -> f64 {
        runner::mean_std(&self.test_returns).0
    }

    /// The mean over test episodes of predicted Q(s₀) minus the discounted
    /// return obtained.
    pub fn overestimation(&self) -> f64 {
        let gaps: Vec<f64> = self.test_q_start.iter().zip(&self.test_discounted).map(|(q, g)| q - g).collect();
        runner::mean_std(&gaps).0
    }

    /// How much the probe Q-values move over the last 50 training episodes
    /// (standard deviation).
    pub fn q_wobble(&self) -> f64 {
        let tail = &self.q_probe[self.q_probe.len().saturating_sub(50)..];
        runner::mean_std(tail).1
    }
}

/// FNV-1a, 64 bits: a hash whose value never changes between Rust versions
/// (unlike `DefaultHasher`), so cache file names stay valid.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The cache key of a run: the code version and the full configuration.
pub fn run_key(config: &RunConfig) -> String {
    format!("{:016x}", fnv1a(&format!("{CACHE_VERSION}\n{}", config.to_ron())))
}

/// Trains `config` to the end and records it. The policy of a DQN run is
/// returned too, for the animation.
pub fn run_one(config: &RunConfig) -> Result<(RunRecord, Option<runner::Policy>), String> {
    let mut session = Session::new(config).map_err(|e| e.to_string())?;
    let mut record = RunRecord {
        config: config.to_ron(),
        returns: Vec::new(),
        episode_ends: Vec::new(),
        q_probe: Vec::new(),
        test_returns: Vec::new(),
        test_q_start: Vec::new(),
        test_discounted: Vec::new(),
        train_steps: 0,
    };
    while !session.is_done() {
        for log in session.step().map_err(|e| e.to_string())?.episodes {
            record.returns.push(log.ret);
            record.episode_ends.push(log.total_steps);
            record.q_probe.push(log.q_probe);
        }
    }
    record.train_steps = session.total_steps();
    for t in session.test(config.test_episodes, &mut |_| {}).map_err(|e| e.to_string())? {
        record.test_returns.push(t.ret);
        record.test_q_start.push(t.q_start);
        record.test_discounted.push(t.discounted_return);
    }
    let policy = session.learner().dqn().map(|a| a.policy().clone());
    Ok((record, policy))
}

/// Every (experiment, variant, seed) run, deduplicated by key: runs cached
/// in `data` are read, the others trained on `workers` threads (each run on
/// one core) and written to the cache. Returns the records by key and how
/// many were trained.
pub fn run_all(
    exps: &[Experiment],
    showcase: &RunConfig,
    data: &Path,
    workers: usize,
    force: bool,
) -> Result<(BTreeMap<String, RunRecord>, usize), String> {
    std::fs::create_dir_all(data).map_err(|e| format!("{}: {e}", data.display()))?;
    let mut todo: BTreeMap<String, RunConfig> = BTreeMap::new();
    let mut records = BTreeMap::new();
    for config in exps.iter().flat_map(|e| e.variants.iter().flat_map(|v| v.configs.iter())) {
        let key = run_key(config);
        let path = data.join(format!("{key}.json"));
        let policy_missing = config == showcase && !policy_path(data, showcase).is_file();
        if !force
            && !policy_missing
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            let record: RunRecord = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            records.insert(key, record);
        } else {
            todo.insert(key, config.clone());
        }
    }
    let jobs: Vec<(String, RunConfig)> = todo.into_iter().collect();
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    let total = jobs.len();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                // Each run on one thread: runs in parallel, not inside a run.
                let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((key, config)) = jobs.get(i) else { break };
                    let start = Instant::now();
                    let result = pool.install(|| run_one(config));
                    let mut done = done.lock().expect("no worker panics while holding the lock");
                    if let Ok((record, _)) = &result {
                        eprintln!(
                            "[{}/{total}] {key}: {} steps, test mean {:.1} ({:.1} s)",
                            done.len() + 1,
                            record.train_steps,
                            record.test_mean(),
                            start.elapsed().as_secs_f64()
                        );
                    }
                    if let Ok((_, Some(policy))) = &result
                        && config == showcase
                        && let Err(e) = runner::save_policy(policy, &policy_path(data, showcase))
                    {
                        eprintln!("warning: could not keep the showcase policy: {e}");
                    }
                    done.push((key.clone(), result.map(|(r, _)| r)));
                }
            });
        }
    });
    for (key, result) in done.into_inner().expect("workers finished") {
        let record = result.map_err(|e| format!("run {key}: {e}"))?;
        let path = data.join(format!("{key}.json"));
        std::fs::write(&path, serde_json::to_string(&record).expect("records serialize"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        records.insert(key, record);
    }
    Ok((records, total))
}

/// Where the showcase run's policy is kept (for the animation).
pub fn policy_path(data: &Path, showcase: &RunConfig) -> PathBuf {
    data.join(format!("{}.policy.json", run_key(showcase)))
}

/// The records of a variant's seeds, in seed order.
fn seeds_of<'a>(
    v: &experiments::Variant,
    records: &'a BTreeMap<String, RunRecord>,
) -> Result<Vec<&'a RunRecord>, String> {
    v.configs
        .iter()
        .map(|c| {
            records
                .get(&run_key(c))
                .ok_or_else(|| format!("no result for {} (seed {}): run `cargo xtask chapter`", v.id, c.seed))
        })
        .collect()
}

/// A seed "learned to balance" when its greedy test mean reaches this
/// (a random policy gets about 22, a perfect one 500).
const LEARNED: f64 = 100.0;

/// Every number the template can name, by placeholder.
pub fn values(
    exps: &[Experiment],
    showcase: &RunConfig,
    records: &BTreeMap<String, RunRecord>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let show = records.get(&run_key(showcase)).ok_or("the showcase run is missing: run `cargo xtask chapter`")?;
    let (mean, std) = runner::mean_std(&show.test_returns);
    out.insert("showcase.test".into(), format!("{mean:.1} ± {std:.1}"));
    out.insert("showcase.episodes".into(), show.returns.len().to_string());
    out.insert("showcase.steps".into(), show.train_steps.to_string());
    out.insert("showcase.test_episodes".into(), show.test_returns.len().to_string());
    let solved = show.test_returns.iter().filter(|&&r| r >= 500.0).count();
    out.insert("showcase.test_500".into(), solved.to_string());
    out.insert("settings.table".into(), settings_table(showcase));
    for n in [100u64, 500, 1000, 2000, 5000] {
        out.insert(format!("eps.{n}"), format!("{:.3}", showcase.agent.epsilon.value(n)));
    }
    for e in exps {
        let mut table = String::from("| variant | test return, mean [95 % CI] | training env steps |");
        let with_q = e.id == "ex3";
        table += if with_q {
            " Q(s₀) − discounted return | Q wobble (last 50 episodes) |\n|---|---:|---:|---:|---:|\n"
        } else {
            "\n|---|---:|---:|\n"
        };
        for v in &e.variants {
            let runs = seeds_of(v, records)?;
            let per_seed = |f: fn(&RunRecord) -> f64| runs.iter().map(|r| f(r)).collect::<Vec<_>>();
            let test = bootstrap(&per_seed(RunRecord::test_mean));
            let steps = bootstrap(&per_seed(|r| r.train_steps as f64));
            let last50 = bootstrap(&per_seed(|r| runner::mean_std(&r.returns[r.returns.len().saturating_sub(50)..]).0));
            out.insert(format!("{}.test", v.id), test.show(1));
            out.insert(format!("{}.test_mean", v.id), format!("{:.0}", test.mean));
            out.insert(format!("{}.steps", v.id), format!("{:.0}", steps.mean));
            out.insert(format!("{}.last50", v.id), format!("{:.0}", last50.mean));
            let learned = runs.iter().filter(|r| r.test_mean() >= LEARNED).count();
            out.insert(format!("{}.learned", v.id), learned.to_string());
            table += &format!("| {} | {} | {:.0} |", v.label, test.show(1), steps.mean);
            if with_q {
                let over: Estimate = bootstrap(&per_seed(RunRecord::overestimation));
                let wobble = bootstrap(&per_seed(RunRecord::q_wobble));
                out.insert(format!("{}.overest", v.id), over.show(2));
                out.insert(format!("{}.overest_mean", v.id), format!("{:.2}", over.mean));
                out.insert(format!("{}.wobble", v.id), wobble.show(2));
                table += &format!(" {} | {} |", over.show(2), wobble.show(2));
            }
            table += "\n";
        }
        out.insert(format!("{}.table", e.id), table.trim_end().to_string());
        out.insert(format!("{}.seeds", e.id), e.variants[0].configs.len().to_string());
        out.insert(
            format!("{}.last_seed", e.id),
            e.variants[0].configs.iter().map(|c| c.seed).max().unwrap_or(0).to_string(),
        );
        out.insert(format!("{}.test_episodes", e.id), e.variants[0].configs[0].test_episodes.to_string());
        out.insert(format!("{}.episodes", e.id), e.variants[0].configs[0].train_episodes.to_string());
        if let Some(budget) = e.variants[0].configs[0].max_train_steps {
            out.insert(format!("{}.budget", e.id), budget.to_string());
        }
    }
    Ok(out)
}

/// The settings of a run as a Markdown table, read from its configuration
/// (so the chapter cannot disagree with `default.ron`).
fn settings_table(c: &RunConfig) -> String {
    let a = c.dqn_config();
    let sizes: Vec<String> = a.layer_sizes().iter().map(ToString::to_string).collect();
    let target = match a.target_update {
        runner::TargetUpdate::Hard { every } => format!("copied every {every} actions"),
        runner::TargetUpdate::Soft { tau } => format!("soft updates, τ = {tau}"),
    };
    let clamp = a.grad_clip.map_or("none".to_string(), |c| format!("each element to [−{c}, {c}]"));
    let rows = [
        ("network", format!("{}, ReLU", sizes.join(" → "))),
        ("discount γ", a.gamma.to_string()),
        ("optimiser", format!("Adam, learning rate {}", a.lr)),
        ("gradient clamp", clamp),
        ("replay capacity / batch", format!("{} / {}", a.buffer_capacity, a.batch_size)),
        ("ε", format!("{} → {}, decay {}", a.epsilon.start, a.epsilon.end, a.epsilon.decay)),
        ("target network", target),
        ("episodes", format!("{} training, {} test", c.train_episodes, c.test_episodes)),
    ];
    let mut table = String::from("| setting | value |\n|---|---|");
    for (k, v) in rows {
        table += &format!("\n| {k} | {v} |");
    }
    table
}

/// Replaces every `{{name}}` of `template` with its value.
///
/// # Errors
/// A placeholder with no value, or an unclosed one.
pub fn fill(template: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder at {:?}", &rest[start..(start + 30).min(rest.len())]))?;
        let name = rest[start + 2..start + end].trim();
        out.push_str(values.get(name).ok_or_else(|| format!("the template names {{{{{name}}}}}, which has no value"))?);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The chapter's text from its template and the cached results: what the
/// staleness test compares with the committed chapter.
pub fn render(
    template: &str,
    exps: &[Experiment],
    showcase: &RunConfig,
    records: &BTreeMap<String, RunRecord>,
) -> Result<String, String> {
    let header = "<!-- Generated by `cargo xtask chapter` from template.md and the cached runs in data/: edit the template, not this file. -->\n\n";
    Ok(format!("{header}{}", fill(template, &values(exps, showcase, records)?)?))
}

/// The whole job: experiments, figures, chapter. `quick` runs a tiny
/// version into `out` (for the tests).
pub fn generate(quick: bool, out: Option<&Path>, force: bool) -> Result<(), String> {
    let start = Instant::now();
    let paths = Paths::new(out);
    let exps = experiments(quick);
    let showcase = experiments::showcase(quick);
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let (records, trained) = run_all(&exps, &showcase, &paths.data, workers, force)?;
    std::fs::create_dir_all(&paths.figures).map_err(|e| format!("{}: {e}", paths.figures.display()))?;
    for e in &exps {
        experiments::draw(e, &records, &paths.figures)?;
    }
    let showcase_record = records.get(&run_key(&showcase)).ok_or("the showcase run is missing")?;
    experiments::draw_showcase(showcase_record, &paths.figures)?;
    art::draw_all(&showcase, &policy_path(&paths.data, &showcase), &paths.figures)?;
    let template =
        std::fs::read_to_string(&paths.template).map_err(|e| format!("{}: {e}", paths.template.display()))?;
    let text = render(&template, &exps, &showcase, &records)?;
    std::fs::write(&paths.chapter, text).map_err(|e| format!("{}: {e}", paths.chapter.display()))?;
    eprintln!(
        "chapter: {} runs ({trained} trained, {} from the cache) in {:.1} s on {workers} workers -> {}",
        records.len(),
        records.len() - trained,
        start.elapsed().as_secs_f64(),
        paths.chapter.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_and_missing_ones_are_errors() {
        let mut v = BTreeMap::new();
        v.insert("a.b".to_string(), "42".to_string());
        assert_eq!(fill("x {{a.b}} y {{ a.b }}", &v).unwrap(), "x 42 y 42");
        assert!(fill("{{nope}}", &v).unwrap_err().contains("nope"));
        assert!(fill("{{a.b", &v).is_err());
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c, "FNV-1a test vector");
    }

    /// The pipeline end to end at a tiny size, twice: the second time every
    /// run comes from the cache and the chapter is the same.
    #[test]
    fn quick_chapter_end_to_end() {
        let root = workspace_root();
        let out = std::env::temp_dir().join(format!("dqn-chapter-quick-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        generate(true, Some(&out), false).unwrap();
        let text = std::fs::read_to_string(out.join("README.md")).unwrap();
        assert!(!text.contains("{{"), "every placeholder filled");
        for fig in [
            "ex1_returns.svg",
            "ex2_returns.svg",
            "ex3_returns.svg",
            "ex3_q.svg",
            "ex4_returns.svg",
            "cartpole.svg",
            "balance.gif",
        ] {
            assert!(out.join("figures").join(fig).is_file(), "{fig} missing");
        }
        let exps = experiments(true);
        let (records, trained) = run_all(&exps, &experiments::showcase(true), &out.join("data"), 2, false).unwrap();
        assert_eq!(trained, 0, "everything cached the second time");
        let template = std::fs::read_to_string(root.join("docs/chapter/template.md")).unwrap();
        assert_eq!(render(&template, &exps, &experiments::showcase(true), &records).unwrap(), text);
        std::fs::remove_dir_all(&out).unwrap();
    }

    /// The committed chapter is what the committed template and cached runs
    /// give: edit the template or the code, and this fails until
    /// `cargo xtask chapter` is run again.
    #[test]
    fn committed_chapter_is_up_to_date() {
        let chapter = workspace_root().join("docs/chapter");
        let exps = experiments(false);
        let mut records = BTreeMap::new();
        for config in exps.iter().flat_map(|e| e.variants.iter().flat_map(|v| v.configs.iter())) {
            let key = run_key(config);
            let path = chapter.join("data").join(format!("{key}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} missing: run `cargo xtask chapter`", path.display()));
            records.insert(key, serde_json::from_str(&text).unwrap());
        }
        let template = std::fs::read_to_string(chapter.join("template.md")).unwrap();
        let expected = render(&template, &exps, &experiments::showcase(false), &records).unwrap();
        let committed = std::fs::read_to_string(chapter.join("README.md")).unwrap();
        assert!(committed == expected, "docs/chapter/README.md is stale: run `cargo xtask chapter`");
    }
}
