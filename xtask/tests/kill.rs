//! Killed at random moments — often while writing a checkpoint — a run can
//! always be resumed from the checkpoint the runner picks, and the resumed
//! run ends exactly where an uninterrupted one does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const TRIALS: usize = 50;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// A short run that checkpoints after every episode; a replay buffer of
/// 20 000 makes each checkpoint about 0.8 MB, so kills often land mid-write.
fn train_args(out: &Path) -> Vec<String> {
    let mut args: Vec<String> =
        ["train", "--quiet", "--checkpoint-every", "1", "--keep-checkpoints", "2"].map(String::from).to_vec();
    args.extend(["--out".to_string(), out.display().to_string()]);
    for set in [
        "train_episodes=150",
        "test_episodes=2",
        "agent.hidden=[32, 32]",
        "agent.lr=1e-3",
        "agent.buffer_capacity=20000",
    ] {
        args.extend(["--set".to_string(), set.to_string()]);
    }
    args
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-kill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn kill_nine_at_random_moments_never_loses_a_usable_checkpoint() {
    let reference = scratch("reference");
    let status = xtask().args(train_args(&reference)).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success());
    let expected = std::fs::read(reference.join("train.csv")).unwrap();

    // Delays spread over the run's life, from a fixed linear congruential sequence.
    let mut state: u64 = 12345;
    let (mut resumed, mut too_early, mut finished, mut mid_write) = (0, 0, 0, 0);
    for trial in 0..TRIALS {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let delay = Duration::from_millis(30 + (state >> 33) % 1150);
        let dir = scratch(&format!("trial{trial}"));
        let mut child = xtask().args(train_args(&dir)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let _ = child.wait();
        let ckpt_dir = dir.join("checkpoints");
        let half_written = std::fs::read_dir(&ckpt_dir).map_or(0, |d| {
            d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).count()
        });
        mid_write += usize::from(half_written > 0);

        let out = xtask().args(["train", "--quiet", "--checkpoint-every", "1", "--resume"]).arg(&dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "trial {trial}: {stderr}");
        assert!(
            !stderr.contains("skipped unusable checkpoint"),
            "trial {trial}: a damaged file under a checkpoint's name: {stderr}"
        );
        if out.status.success() {
            resumed += 1;
            let got = std::fs::read(dir.join("train.csv")).unwrap();
            assert!(got == expected, "trial {trial}: the resumed run's train.csv differs from the uninterrupted one");
        } else if stderr.contains("no checkpoint files") {
            too_early += 1; // killed before the first episode ended
        } else if stderr.contains("already complete") {
            finished += 1;
        } else {
            panic!("trial {trial} (killed after {delay:?}): resume failed: {stderr}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!(
        "{TRIALS} kill -9 trials: {resumed} resumed to identical results ({mid_write} killed while writing a checkpoint), {too_early} killed before a checkpoint, {finished} already complete"
    );
    assert!(resumed >= TRIALS / 2, "most kills must land mid-run: {resumed} resumed");
    std::fs::remove_dir_all(reference).unwrap();
}

#[test]
fn sigterm_finishes_the_step_writes_a_checkpoint_and_says_how_to_resume() {
    let reference = scratch("term-reference");
    assert!(
        xtask().args(train_args(&reference)).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success()
    );
    let dir = scratch("term");
    let child = xtask().args(train_args(&dir)).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -TERM");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // The run finished before the signal: nothing to check.
        eprintln!("the run finished before SIGTERM arrived");
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted; checkpoint written to") && stderr.contains("cargo xtask train --resume"),
        "{stderr}"
    );
    let resumed = xtask().args(["train", "--quiet", "--resume"]).arg(&dir).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(std::fs::read(dir.join("train.csv")).unwrap() == std::fs::read(reference.join("train.csv")).unwrap());
    for d in [reference, dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
