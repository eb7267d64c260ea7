//! `cargo xtask train --env NAME` end to end, as a user runs it: the run
//! folder, the summary, the plots and `test --run` name the environment,
//! and a bad name is a usage error.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn train_env_names_its_environment_everywhere() {
    for (name, id, threshold) in [("acrobot", "Acrobot-v1", "-100"), ("mountaincar", "MountainCar-v0", "-110")] {
        let dir = scratch(name);
        let out = dir.to_str().unwrap();
        // The preset, cut to a few hundred steps.
        let small = ["--set", "max_train_steps=Some(400)", "--set", "test_episodes=2", "--set", "agent.hidden=[16]"];
        let run = xtask(&[&["train", "--env", name, "--seed", "1", "--quiet", "--out", out][..], &small[..]].concat());
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{name}: {stdout}\n{}", String::from_utf8_lossy(&run.stderr));
        assert!(stdout.contains(&format!("environment:   {id}")), "{stdout}");
        assert!(stdout.contains(&format!("reward_threshold {threshold} for {id}")), "{stdout}");
        assert!(
            std::fs::read_to_string(dir.join("config.ron"))
                .unwrap()
                .contains(&format!("env: {}(", &id[..id.len() - 3]))
        );
        let svg = std::fs::read_to_string(dir.join("train.svg")).unwrap();
        assert!(svg.contains(&format!("DQN on {id}: training")) && svg.contains(&format!("solved at {threshold}")));
        assert!(dir.join("test.png").is_file());
        let test = xtask(&["test", "--run", out, "--episodes", "2"]);
        let stdout = String::from_utf8_lossy(&test.stdout);
        assert!(
            test.status.success() && stdout.starts_with(&format!("{id}: greedy returns over 2 episodes")),
            "{stdout}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let bad = xtask(&["train", "--env", "pendulum", "--out", scratch("bad").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("pendulum") && stderr.contains("mountaincar"), "{stderr}");
}

/// `suite --minatar --games` with a name that is not a game is a usage
/// error naming it and the games, before anything is trained or written.
#[test]
fn suite_minatar_games_names_the_games() {
    let dir = scratch("suite-games");
    let (out, report) = (dir.join("runs"), dir.join("page.md"));
    let bad = xtask(&[
        "suite",
        "--minatar",
        "--games",
        "freeway,pong",
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("\"pong\"") && stderr.contains("space-invaders"), "{stderr}");
    assert!(!dir.exists());
}
