//! `cargo xtask chapter`: runs the experiments that answer the docs
//! chapter's exercises, caches each run by a hash of its configuration,
//! draws the figures, and fills the chapter's numbers in from its template,
//! so text and figures never drift apart.

pub mod art;
mod experiments;
mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use runner::RunConfig;

pub use runner::pool::{RunRecord, run_key};

pub use experiments::{Experiment, experiments};
use stats::{Estimate, bootstrap};

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
    let total = jobs.len();
    let results = runner::pool::run_parallel(&jobs, workers, &|key, config, outcome, finished| {
        eprintln!(
            "[{finished}/{total}] {key}: {} steps, test mean {:.1} ({:.1} s)",
            outcome.record.train_steps,
            outcome.record.test_mean(),
            outcome.seconds
        );
        if let Some(policy) = &outcome.policy
            && config == showcase
            && let Err(e) = runner::save_policy(policy, &policy_path(data, showcase))
        {
            eprintln!("warning: could not keep the showcase policy: {e}");
        }
    });
    for (key, result) in results {
        let record = result.map_err(|e| format!("run {key}: {}", runner::ErrorChain(&e)))?.record;
        let path = data.join(format!("{key}.json"));
        runner::write_atomic(
            &path,
            serde_json::to_string(&record).expect("records serialize").as_bytes(),
            &mut |_, _| {},
        )
        .map_err(|(path, e)| format!("{}: {e}", path.display()))?;
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
    out.insert("settings.table".into(), settings_table(showcase)?);
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
fn settings_table(c: &RunConfig) -> Result<String, String> {
    let a = c.dqn_config().map_err(|e| runner::ErrorChain(&e).to_string())?;
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
    Ok(table)
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
