//! Crashed at chosen moments — before a step, while writing a checkpoint
//! (at a chosen byte), in the test phase — a run can always be resumed from
//! the checkpoint the runner picks, and the resumed run ends exactly where
//! an uninterrupted one does. And SIGTERM delivered inside a long step stops
//! it between two gradient steps with a checkpoint from which the run
//! continues exactly.
//!
//! No timing decides anything here: the crash points are injected through
//! `DQN_RS_FAULT` (the process aborts there, with no chance to clean up, as
//! under `kill -9`), so every trial's outcome is known in advance and
//! asserted.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TRIALS: usize = 50;
const EPISODES: usize = 150;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// A short run that checkpoints after every episode (so checkpoint k is
/// written after episode k); a replay buffer of 20 000 makes each checkpoint
/// about 0.8 MB, a dozen pieces of 64 KiB to crash between.
fn train_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["train", "--quiet", "--checkpoint-every", "1", "--keep-checkpoints", "2"].map(String::from).to_vec();
    args.extend(["--out".to_string(), out.display().to_string()]);
    let episodes = format!("train_episodes={EPISODES}");
    let sets =
        [episodes.as_str(), "test_episodes=2", "agent.hidden=[64, 64]", "agent.lr=1e-3", "agent.buffer_capacity=20000"];
    for set in sets.iter().chain(extra) {
        args.extend(["--set".to_string(), set.to_string()]);
    }
    args
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-kill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The files that must not depend on crashes.
fn outputs(dir: &Path) -> Vec<Vec<u8>> {
    ["train.csv", "test.csv", "policy.json"].iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect()
}

/// Where a trial crashes, and what resuming must then say.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// Before the first step at or after this many environment steps.
    BeforeStep(u64),
    /// While writing checkpoint `nth`, once this many bytes are written.
    WritingCheckpoint { nth: u32, bytes: u64 },
    /// In the test phase.
    Testing,
}

impl Crash {
    fn fault(self) -> String {
        match self {
            Self::BeforeStep(n) => format!("crash-before-step:{n}"),
            Self::WritingCheckpoint { nth, bytes } => format!("crash-writing-checkpoint:{nth}:{bytes}"),
            Self::Testing => "crash-testing".to_string(),
        }
    }

    /// Whether a complete checkpoint exists when this crash happens: the
    /// first is written right after the step that ends episode 1
    /// (`first_checkpoint_at` environment steps).
    fn leaves_a_checkpoint(self, first_checkpoint_at: u64) -> bool {
        match self {
            Self::BeforeStep(n) => n >= first_checkpoint_at,
            Self::WritingCheckpoint { nth, .. } => nth >= 2,
            Self::Testing => true,
        }
    }
}

#[test]
fn crashes_at_chosen_moments_never_lose_a_usable_checkpoint() {
    let reference = scratch("reference");
    let status =
        xtask().args(train_args(&reference, &[])).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success());
    let expected = outputs(&reference);
    let csv = String::from_utf8(expected[0].clone()).unwrap();
    let total_steps: Vec<u64> = csv.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    assert_eq!(total_steps.len(), EPISODES);
    let (first_checkpoint_at, last_step) = (total_steps[0], total_steps[EPISODES - 1]);
    let checkpoint_bytes = std::fs::read_dir(reference.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    assert!(checkpoint_bytes > 10 * 65_536, "a checkpoint of {checkpoint_bytes} bytes has few pieces to crash between");

    // Crash points spread over the run's life from a fixed linear
    // congruential sequence: steps (from before the first one to the last),
    // checkpoints (the first, which leaves none behind, to the final one)
    // at any byte, and the test phase.
    let mut state: u64 = 12345;
    let mut next = |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let (mut resumed, mut none_left) = (0, 0);
    for trial in 0..TRIALS {
        let crash = match trial % 5 {
            _ if trial == 0 => Crash::BeforeStep(0),
            _ if trial == 1 => Crash::WritingCheckpoint { nth: 1, bytes: 65_536 },
            _ if trial == 2 => Crash::Testing,
            0 | 1 => Crash::BeforeStep(next(last_step)),
            2 | 3 => Crash::WritingCheckpoint { nth: 1 + next(EPISODES as u64) as u32, bytes: next(checkpoint_bytes) },
            _ => Crash::BeforeStep(next(2 * first_checkpoint_at)),
        };
        let dir = scratch(&format!("trial{trial}"));
        let crashed = xtask()
            .args(train_args(&dir, &[]))
            .env("DQN_RS_FAULT", crash.fault())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!crashed.success() && crashed.code().is_none(), "trial {trial} ({crash:?}): no crash: {crashed}");

        let out = xtask().args(["train", "--quiet", "--checkpoint-every", "1", "--resume"]).arg(&dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "trial {trial}: {stderr}");
        assert!(
            !stderr.contains("skipped unusable checkpoint"),
            "trial {trial} ({crash:?}): a damaged file under a checkpoint's name: {stderr}"
        );
        if crash.leaves_a_checkpoint(first_checkpoint_at) {
            assert!(out.status.success(), "trial {trial} ({crash:?}): resume failed: {stderr}");
            assert!(
                outputs(&dir) == expected,
                "trial {trial} ({crash:?}): the resumed run differs from the uninterrupted one"
            );
            resumed += 1;
        } else {
            assert_eq!(out.status.code(), Some(1), "trial {trial} ({crash:?}): {stderr}");
            assert!(stderr.contains("no checkpoint files"), "trial {trial} ({crash:?}): {stderr}");
            none_left += 1;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!("{TRIALS} crash trials: {resumed} resumed to identical results, {none_left} crashed before a checkpoint");
    std::fs::remove_dir_all(reference).unwrap();
}

/// SIGTERM arriving inside a step (the process is paused between two of
/// the step's 20 gradient steps when the signal is sent) stops it there:
/// exit 130, a checkpoint of the half-done step, the command to resume; and
/// the resumed run is the uninterrupted one, byte for byte.
#[test]
fn sigterm_inside_a_long_step_checkpoints_mid_step_and_resumes_exactly() {
    let long_steps = ["train_episodes=40", "agent.gradient_steps=20"];
    let reference = scratch("term-reference");
    let status =
        xtask().args(train_args(&reference, &long_steps)).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success());
    let dir = scratch("term");
    let mut child = xtask()
        .args(train_args(&dir, &long_steps))
        .env("DQN_RS_FAULT", "pause-within-step:100")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the run ended without pausing: {seen}");
        seen.push_str(&line);
        if line.contains("paused within a step") {
            break;
        }
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -TERM");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(
        rest.contains("interrupted; checkpoint written to") && rest.contains("cargo xtask train --resume"),
        "{rest}"
    );
    // The step after 100 environment steps was cut: its checkpoint counts it.
    assert!(dir.join("checkpoints/ckpt-000000000101.bin").is_file(), "{rest}");

    let resumed = xtask().args(["train", "--quiet", "--resume"]).arg(&dir).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(outputs(&dir) == outputs(&reference), "the resumed run differs from the uninterrupted one");
    for d in [reference, dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
