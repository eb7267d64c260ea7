//! The workspace's invariants that no compiler checks, checked (as
//! rust-analyzer's tidy test checks its own): three `unsafe` exceptions, a
//! `//!` line opening every module file, library crates that print nothing,
//! the dependency graph of `docs/ARCHITECTURE.md` being the manifests', and
//! `README.zh.md` showing no command that `README.md` does not.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The library crates (`crates/*`), and the environment crates among them:
/// leaves that may share only the trait crate, `env-core`.
fn library_crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn members() -> Vec<String> {
    let mut all = library_crates();
    all.push("xtask".into());
    all
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The `src` folders of the library crates and of xtask.
fn source_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = library_crates().iter().map(|c| root().join("crates").join(c).join("src")).collect();
    dirs.push(root().join("xtask/src"));
    dirs
}

/// Lines that are code, not comments.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")).map(|(i, l)| (i + 1, l))
}

#[test]
fn three_unsafe_exceptions_in_the_workspace() {
    // Spelled in two pieces so this file does not count itself.
    let needle = ["allow(", "unsafe_code)"].concat();
    let mut found = Vec::new();
    for dir in [root().join("crates"), root().join("xtask")] {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, code) in code_lines(&text) {
                if code.contains(&needle) {
                    found.push(format!("{}:{line}", file.display()));
                }
            }
        }
    }
    // mlp's SIMD dispatch and its intrinsics (the register tiles and the
    // transpose's blocks: pointer reads after asserted bounds), mlp's team
    // (a borrowed closure handed to helper threads the caller waits for),
    // and runner's counting allocator (`GlobalAlloc` is an unsafe trait).
    let count = |file: &str| found.iter().filter(|f| f.contains(file)).count();
    assert_eq!(found.len(), 4, "the workspace allows unsafe code four times: {found:#?}");
    assert_eq!(count("crates/mlp/src/kernel.rs"), 2, "{found:?}");
    assert_eq!(count("crates/mlp/src/team.rs"), 1, "{found:?}");
    assert_eq!(count("crates/runner/src/heap.rs"), 1, "{found:?}");
}

#[test]
fn every_module_file_says_what_it_is_for() {
    let missing: Vec<String> = source_dirs()
        .iter()
        .flat_map(|d| rust_files(d))
        .filter(|f| !std::fs::read_to_string(f).unwrap().lines().take(5).any(|l| l.starts_with("//!")))
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "module files without a //! line saying their job: {missing:#?}");
}

#[test]
fn library_crates_print_nothing() {
    let mut found = Vec::new();
    let libraries = library_crates().len();
    for dir in &source_dirs()[..libraries] {
        for file in rust_files(dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, code) in code_lines(&text) {
                if ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("].iter().any(|m| code.contains(m)) {
                    found.push(format!("{}:{line}: {}", file.display(), code.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "library crates report through return values or Progress: {found:#?}");
}

/// The internal dependencies (normal and dev) each manifest names.
fn manifest_edges() -> BTreeSet<(String, String)> {
    let mut edges = BTreeSet::new();
    let members = members();
    for member in &members {
        let manifest = if member == "xtask" {
            root().join("xtask/Cargo.toml")
        } else {
            root().join("crates").join(member).join("Cargo.toml")
        };
        let text = std::fs::read_to_string(&manifest).unwrap();
        let mut in_deps = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_deps = line.ends_with("dependencies]");
                continue;
            }
            let name = line.split(['.', ' ', '=']).next().unwrap_or("");
            if in_deps && members.iter().any(|m| m == name) {
                edges.insert((member.clone(), name.to_string()));
            }
        }
    }
    edges
}

#[test]
fn the_architecture_graph_is_the_manifests_graph() {
    let text = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let line = text.lines().find(|l| l.starts_with("Edges:")).expect("docs/ARCHITECTURE.md lists its edges");
    let documented: BTreeSet<(String, String)> = line
        .trim_start_matches("Edges:")
        .split(',')
        .map(|e| {
            let (from, to) = e.trim().trim_end_matches('.').split_once(" → ").unwrap();
            (from.trim_matches('`').to_string(), to.trim_matches('`').to_string())
        })
        .collect();
    assert_eq!(documented, manifest_edges(), "docs/ARCHITECTURE.md's edges and the manifests' differ");
    // The leaves stay leaves: replay, mlp and env-core depend on no crate
    // of the workspace, and an environment crate (`*-sim`) only on the
    // trait crate, not even for tests.
    for (from, to) in manifest_edges() {
        let leaf = ["replay", "mlp", "env-core"].contains(&from.as_str());
        assert!(!leaf, "{from} → {to}: a leaf depends on another crate");
        assert!(!from.ends_with("-sim") || to == "env-core", "{from} → {to}: an environment depends on another");
    }
}

/// The lines of `text`'s fenced code blocks, each without a trailing
/// `# comment` (shell) and trimmed; empty ones left out.
fn code_block_lines(text: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        if inside {
            let command = line.split("  #").next().unwrap_or(line).trim();
            if !command.is_empty() {
                out.push(command.to_string());
            }
        }
    }
    out
}

#[test]
fn the_chinese_readme_shows_the_english_readmes_commands() {
    // README.zh.md summarizes README.md for Chinese readers; its commands
    // and code must be the English page's, so that neither drifts alone.
    let english: BTreeSet<String> =
        code_block_lines(&std::fs::read_to_string(root().join("README.md")).unwrap()).into_iter().collect();
    let chinese = code_block_lines(&std::fs::read_to_string(root().join("README.zh.md")).unwrap());
    assert!(chinese.len() >= 10, "README.zh.md shows {} code lines", chinese.len());
    let missing: Vec<&String> = chinese.iter().filter(|l| !english.contains(*l)).collect();
    assert!(missing.is_empty(), "README.zh.md shows lines README.md does not: {missing:?}");
}
