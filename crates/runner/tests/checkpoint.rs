//! Checkpoints and resume: an interrupted run resumed is the same run, bit
//! for bit; damaged checkpoints are reported, never panicked on.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use runner::checkpoint::{self, CheckpointError, HEADER, checksum};
use runner::{ErrorChain, Phase, RunConfig, RunError, Session, Silent, TrainOptions, files, resume, train_with};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Small enough to run several times, big enough to learn and to wrap the
/// replay buffer (capacity 3 000 < the run's steps).
fn config() -> RunConfig {
    let mut c = RunConfig { seed: 0, train_episodes: 80, test_episodes: 5, ..RunConfig::default() };
    c.agent.hidden = vec![32, 32];
    c.agent.lr = 1e-3;
    c.agent.buffer_capacity = 3_000;
    c
}

fn options() -> TrainOptions {
    TrainOptions { checkpoint_every: 5, keep_checkpoints: 3, ..TrainOptions::default() }
}

/// The files that must not depend on interruptions.
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    [files::TRAIN_CSV, files::TEST_CSV, files::POLICY, files::CONFIG]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

fn interrupted_at(config: &RunConfig, dir: &Path, steps: u64) -> PathBuf {
    let opts = TrainOptions { stop_after_steps: Some(steps), ..options() };
    match train_with(config, dir, &opts, &mut Silent) {
        Err(RunError::Interrupted { checkpoint: Some(checkpoint), .. }) => checkpoint,
        other => panic!("expected an interruption, got {other:?}"),
    }
}

/// The total steps at the end of `episode`, read from a finished run.
fn steps_at_end_of(dir: &Path, episode: usize) -> u64 {
    let csv = std::fs::read_to_string(dir.join(files::TRAIN_CSV)).unwrap();
    csv.lines().nth(episode).unwrap().split(',').nth(2).unwrap().parse().unwrap()
}

#[test]
fn resumed_runs_equal_uninterrupted_ones_byte_for_byte() {
    let config = config();
    let whole = scratch("whole");
    let summary = train_with(&config, &whole, &options(), &mut Silent).unwrap();
    let expected = outputs(&whole);
    assert!(summary.train_steps > 3_000, "the buffer must wrap: {} steps", summary.train_steps);

    // Mid-episode: a step that is not an episode's last.
    let boundary = steps_at_end_of(&whole, 12);
    let mid = scratch("mid");
    let ckpt = interrupted_at(&config, &mid, boundary + 7);
    assert!(ckpt.starts_with(mid.join(checkpoint::DIR)));
    resume(&mid, &options(), &mut Silent).unwrap();
    assert_eq!(outputs(&mid), expected, "resumed mid-episode");

    // At an episode boundary, then interrupted again after resuming.
    let edge = scratch("edge");
    interrupted_at(&config, &edge, boundary);
    let again = TrainOptions { stop_after_steps: Some(boundary + 500), ..options() };
    assert!(matches!(resume(&edge, &again, &mut Silent), Err(RunError::Interrupted { .. })));
    resume(&edge, &options(), &mut Silent).unwrap();
    assert_eq!(outputs(&edge), expected, "resumed at a boundary, twice");

    // A resumed run that is complete refuses to run again.
    assert!(matches!(resume(&edge, &options(), &mut Silent), Err(RunError::AlreadyComplete { .. })));
    for d in [whole, mid, edge] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Several environments, updates every other vector step and periodic
/// evaluations: a run stopped mid-way and resumed writes the same files,
/// `eval.csv` included.
#[test]
fn vectorized_runs_with_evaluations_resume_byte_for_byte() {
    let mut config = config();
    config.collection = runner::Collection { envs: 4, update_every: 2 };
    config.early_stop = Some(runner::EarlyStop { every_steps: 200, episodes: 3, solved_at: 1e9 });
    let whole = scratch("vec-whole");
    let summary = train_with(&config, &whole, &options(), &mut Silent).unwrap();
    let with_eval = |dir: &Path| {
        let mut out = outputs(dir);
        out.push(("eval".into(), std::fs::read(dir.join(files::EVAL_CSV)).unwrap()));
        out
    };
    let expected = with_eval(&whole);
    let evaluations = expected.last().unwrap().1.iter().filter(|&&b| b == b'\n').count() - 1;
    assert!(evaluations >= 3, "{evaluations} evaluations in {} steps", summary.train_steps);
    let dir = scratch("vec-mid");
    interrupted_at(&config, &dir, summary.train_steps / 2 + 1);
    resume(&dir, &options(), &mut Silent).unwrap();
    assert_eq!(with_eval(&dir), expected);
    for d in [whole, dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// n-step returns with several environments: a run stopped mid-episode,
/// with steps of every environment still pending, resumes to the same files.
#[test]
fn n_step_runs_resume_byte_for_byte_mid_episode() {
    let mut config = config();
    config.agent.n_step = 3;
    config.collection = runner::Collection { envs: 3, update_every: 1 };
    let whole = scratch("nstep-whole");
    let summary = train_with(&config, &whole, &options(), &mut Silent).unwrap();
    let expected = outputs(&whole);
    let mut one_step = config.clone();
    one_step.agent.n_step = 1;
    let other = scratch("nstep-one");
    train_with(&one_step, &other, &options(), &mut Silent).unwrap();
    assert_ne!(outputs(&other), expected, "n = 3 learns differently from n = 1");
    let dir = scratch("nstep-mid");
    // 3 environments and an odd step count: some steps are pending.
    interrupted_at(&config, &dir, summary.train_steps / 2 + 1);
    resume(&dir, &options(), &mut Silent).unwrap();
    assert_eq!(outputs(&dir), expected);
    for d in [whole, other, dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Prioritized replay (with n-step returns and two environments): the
/// priorities are part of the checkpoint, so a resumed run is the same run.
#[test]
fn prioritized_runs_resume_byte_for_byte() {
    let mut config = config();
    config.agent.sampling = runner::Sampling::Prioritized(runner::Prioritized::default());
    config.agent.n_step = 2;
    config.collection = runner::Collection { envs: 2, update_every: 1 };
    let whole = scratch("per-whole");
    let summary = train_with(&config, &whole, &options(), &mut Silent).unwrap();
    let expected = outputs(&whole);
    let dir = scratch("per-mid");
    interrupted_at(&config, &dir, summary.train_steps / 3 + 1);
    resume(&dir, &options(), &mut Silent).unwrap();
    assert_eq!(outputs(&dir), expected);
    for d in [whole, dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Distributional C51 with Double DQN, prioritized replay and 3-step
/// returns from three environments: a resumed run is the same run.
#[test]
fn distributional_runs_resume_byte_for_byte() {
    let mut config = config();
    config.agent.distributional = Some(runner::Distributional { n_atoms: 21, v_min: 0.0, v_max: 50.0 });
    config.agent.double_dqn = true;
    config.agent.sampling = runner::Sampling::Prioritized(runner::Prioritized::default());
    config.agent.n_step = 3;
    config.collection = runner::Collection { envs: 3, update_every: 1 };
    let whole = scratch("c51-whole");
    let summary = train_with(&config, &whole, &options(), &mut Silent).unwrap();
    let expected = outputs(&whole);
    let dir = scratch("c51-mid");
    interrupted_at(&config, &dir, summary.train_steps / 2 + 2);
    resume(&dir, &options(), &mut Silent).unwrap();
    assert_eq!(outputs(&dir), expected);
    for d in [whole, dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Rainbow — dueling heads with noisy streams (whose noise is drawn
/// before every action and gradient step), C51, Double DQN, prioritized
/// replay, 3-step returns — resumes byte for byte too.
#[test]
fn rainbow_runs_resume_byte_for_byte() {
    let mut config = config();
    config.agent.distributional = Some(runner::Distributional { n_atoms: 11, v_min: 0.0, v_max: 50.0 });
    config.agent.dueling = Some(runner::Dueling { value_hidden: vec![16], advantage_hidden: vec![16] });
    config.agent.noisy = Some(runner::Noisy::default());
    config.agent.double_dqn = true;
    config.agent.sampling = runner::Sampling::Prioritized(runner::Prioritized::default());
    config.agent.n_step = 3;
    config.collection = runner::Collection { envs: 2, update_every: 1 };
    let whole = scratch("rainbow-whole");
    let summary = train_with(&config, &whole, &options(), &mut Silent).unwrap();
    let expected = outputs(&whole);
    let dir = scratch("rainbow-mid");
    interrupted_at(&config, &dir, summary.train_steps / 2 + 1);
    resume(&dir, &options(), &mut Silent).unwrap();
    assert_eq!(outputs(&dir), expected);
    for d in [whole, dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn damaged_checkpoints_are_named_and_skipped() {
    let config = config();
    let whole = scratch("whole2");
    train_with(&config, &whole, &options(), &mut Silent).unwrap();
    let expected = outputs(&whole);

    let dir = scratch("damaged");
    let boundary = steps_at_end_of(&whole, 20);
    interrupted_at(&config, &dir, boundary + 3);
    let ckpts = checkpoint::list(&dir.join(checkpoint::DIR));
    assert!(ckpts.len() >= 2, "{ckpts:?}");
    let newest = ckpts.last().unwrap().clone();
    let good = std::fs::read(&newest).unwrap();

    let mut flipped = good.clone();
    let mid = flipped.len() - checkpoint::TRAILER - 4;
    flipped[mid] ^= 0x10;
    let mut wrong_version = good.clone();
    wrong_version[8..12].copy_from_slice(&(checkpoint::VERSION + 1).to_le_bytes());
    // A file of the previous format is refused by its version before its
    // payload is looked at.
    let mut previous_version = good.clone();
    previous_version[8..12].copy_from_slice(&(checkpoint::VERSION - 1).to_le_bytes());
    type Expected = fn(&CheckpointError) -> bool;
    let mut payload_flipped = good.clone();
    payload_flipped[HEADER + 5] ^= 0x10;
    let cases: [(&[u8], Expected); 8] = [
        (b"", |e| matches!(e, CheckpointError::Empty)),
        // Cut inside the replay buffer's stream, which most of the file is.
        (&good[..good.len() - 100], |e| matches!(e, CheckpointError::ReplayCut { .. })),
        (&good[..40], |e| matches!(e, CheckpointError::Truncated { .. })),
        (&wrong_version, |e| matches!(e, CheckpointError::Version { found } if *found == checkpoint::VERSION + 1)),
        (&previous_version, |e| matches!(e, CheckpointError::Version { found } if *found == checkpoint::VERSION - 1)),
        (b"\x89PNG\r\n\x1a\n not a checkpoint at all", |e| matches!(e, CheckpointError::NotACheckpoint)),
        // A byte of the replay stream: its checksum, or its own checks.
        (&flipped, |e| matches!(e, CheckpointError::ReplayChecksum | CheckpointError::Replay(_))),
        (&payload_flipped, |e| matches!(e, CheckpointError::Checksum)),
    ];
    for (bytes, expected_problem) in cases {
        std::fs::write(&newest, bytes).unwrap();
        let err = checkpoint::read(&newest).unwrap_err();
        assert!(expected_problem(&err), "got {err:?}");
    }
    // The newest is damaged: resume skips it, continues from the one before,
    // and still ends exactly where the uninterrupted run did.
    resume(&dir, &options(), &mut Silent).unwrap();
    assert_eq!(outputs(&dir), expected);

    // With every checkpoint damaged, resume says which and why.
    let broken = scratch("broken");
    interrupted_at(&config, &broken, 500);
    for p in checkpoint::list(&broken.join(checkpoint::DIR)) {
        std::fs::write(&p, b"garbage").unwrap();
    }
    let err = resume(&broken, &options(), &mut Silent).unwrap_err();
    let text = ErrorChain(&err).to_string();
    assert!(matches!(&err, RunError::NoUsableCheckpoint { skipped, .. } if !skipped.is_empty()), "{text}");
    assert!(text.contains("ckpt-") && text.contains("not a dqn-rs checkpoint"), "{text}");
    for d in [whole, dir, broken] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn divergence_stops_with_the_step_and_keeps_good_checkpoints() {
    // A learning rate of 1e30 without clamping blows the network up.
    let mut config = config();
    config.agent.lr = 1e30;
    config.agent.grad_clip = None;
    let dir = scratch("nan");
    let opts = TrainOptions { checkpoint_every: 1, ..options() };
    let err = train_with(&config, &dir, &opts, &mut Silent).unwrap_err();
    let text = ErrorChain(&err).to_string();
    assert!(matches!(err, RunError::Agent { phase: Phase::Train, .. }), "{text}");
    assert!(text.starts_with("train episode ") && text.contains(", step ") && text.contains("diverged"), "{text}");
    // The logs are whole lines, and the newest checkpoint loads.
    let csv = std::fs::read_to_string(dir.join(files::TRAIN_CSV)).unwrap();
    assert!(
        csv.ends_with('\n')
            && csv.lines().all(|l| l.split(',').count() == 8 && (l.ends_with(",CartPole-v1") || l.ends_with(",env"))),
        "{csv}"
    );
    let newest = checkpoint::list(&dir.join(checkpoint::DIR)).pop().expect("checkpoints before the failure");
    Session::from_state(checkpoint::read(&newest).unwrap().session).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// A small valid checkpoint for the fuzz tests.
fn small_checkpoint() -> Vec<u8> {
    let mut c = RunConfig { seed: 1, train_episodes: 3, test_episodes: 1, ..RunConfig::default() };
    c.agent.hidden = vec![4];
    c.agent.buffer_capacity = 64;
    let dir = scratch("fuzz-source");
    let opts = TrainOptions { stop_after_steps: Some(30), ..options() };
    let ckpt = match train_with(&c, &dir, &opts, &mut Silent) {
        Err(RunError::Interrupted { checkpoint: Some(checkpoint), .. }) => checkpoint,
        other => panic!("{other:?}"),
    };
    let bytes = std::fs::read(ckpt).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    bytes
}

fn load(bytes: &[u8]) {
    // Either an error or a session; never a panic.
    if let Ok(c) = checkpoint::decode(bytes) {
        let _ = Session::from_state(c.session);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    /// Byte flips and truncations of a whole file.
    #[test]
    fn damaged_files_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..), 0..8), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let mut bytes = SMALL.with(Clone::clone);
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        load(&bytes);
    }

    /// The same with the checksum recomputed, so the damage reaches the decoder
    /// and the consistency checks.
    #[test]
    fn damaged_payloads_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..8), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let bytes = SMALL.with(Clone::clone);
        let mut payload = bytes[HEADER..].to_vec();
        for (at, x) in flips {
            let i = at.index(payload.len());
            payload[i] ^= x;
        }
        if truncate {
            payload.truncate(cut.index(payload.len()));
        }
        let mut file = bytes[..12].to_vec();
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(&checksum(&payload).to_le_bytes());
        file.extend_from_slice(&payload);
        load(&file);
    }
}

thread_local! {
    static SMALL: Vec<u8> = small_checkpoint();
}

#[test]
fn the_fuzz_source_is_a_valid_checkpoint() {
    let c = checkpoint::decode(&SMALL.with(Clone::clone)).unwrap();
    assert_eq!(c.session.total_steps(), 30);
    Session::from_state(c.session).unwrap();
}

/// A checkpoint stored whole inside a larger file (as in a zip archive
/// with no compression) reads where it lies, equal to the file alone; a
/// range that runs past the end is named as truncated, never a panic.
#[test]
fn a_checkpoint_inside_another_file_reads_in_place() {
    let small = SMALL.with(Clone::clone);
    let dir = scratch("read-part");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("archive");
    let mut file = b"a local header".to_vec();
    file.extend_from_slice(&small);
    file.extend_from_slice(b"the central directory");
    std::fs::write(&path, &file).unwrap();
    let alone = checkpoint::decode(&small).unwrap();
    let at = 14;
    assert_eq!(checkpoint::read_part(&path, at, Some(small.len() as u64), None).unwrap(), alone);
    // Without its length, the bytes after it are named as extra.
    assert!(matches!(checkpoint::read_part(&path, at, None, None), Err(CheckpointError::TrailingBytes { .. })));
    // A range past the file's end, or starting beyond it.
    let cut = file.len() as u64 - at - 30;
    assert!(matches!(
        checkpoint::read_part(&path, at + 30, Some(small.len() as u64), None),
        Err(CheckpointError::NotACheckpoint)
    ));
    std::fs::write(&path, &file[..(at + cut) as usize]).unwrap();
    assert!(matches!(
        checkpoint::read_part(&path, at, Some(small.len() as u64), None),
        Err(CheckpointError::Truncated { .. })
    ));
    assert!(matches!(checkpoint::read_part(&path, 1 << 40, Some(8), None), Err(CheckpointError::Empty)));
    std::fs::remove_dir_all(dir).unwrap();
}
