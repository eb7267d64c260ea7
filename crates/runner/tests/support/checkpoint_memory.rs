//! The memory a checkpoint of an image run needs: a session on
//! `env_core::workload::Pixels` (84 × 84 bytes of noise, stacks of 4) with
//! its replay buffer full, written to a checkpoint and read back, each
//! under `runner::heap::thread_peak`. Shared by `tests/heap.rs` (a small
//! buffer, the bound asserted) and `benches/checkpoint_memory.rs` (a
//! buffer of a gigabyte or more, the figures reported).

// Each includer reads the figures it needs (the test, not the timings).
#![allow(dead_code)]

use std::path::Path;

use env_core::EpisodicFamily;
use env_core::workload::Pixels;
use runner::checkpoint::{self, CheckpointMeta, LogLengths};
use runner::{EnvSetting, RunConfig, Session, Stacking};

/// What writing and reading one checkpoint held on the heap.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointMemory {
    /// Heap bytes of the experience (replay buffer and priorities).
    pub experience_bytes: u64,
    /// The file's length.
    pub file_bytes: u64,
    /// The payload: the session but its experience, encoded.
    pub payload_bytes: u64,
    /// The most heap writing held at once beyond the session.
    pub write_peak: u64,
    /// The most heap reading (`checkpoint::read_for`) held at once, the
    /// experience it reads included.
    pub read_peak: u64,
    /// Seconds to fill the buffer, write and read.
    pub fill_seconds: f64,
    /// Seconds to write the checkpoint.
    pub write_seconds: f64,
    /// Seconds to read it back.
    pub read_seconds: f64,
}

impl CheckpointMemory {
    /// What reading held beyond the experience it reads.
    pub fn read_extra(&self) -> u64 {
        self.read_peak.saturating_sub(self.experience_bytes)
    }

    /// The bound this crate states (`runner::checkpoint`'s module docs):
    /// beyond the session, the payload a few times over (encoded, and
    /// decoded into its stored form) and 1 MiB of fixed buffers.
    pub fn bound(&self) -> u64 {
        4 * self.payload_bytes + (1 << 20)
    }
}

/// A session on `Pixels` whose buffer of `capacity` transitions (with
/// prioritized sampling if asked) is full, checkpointed into `dir` and
/// read back; the restored session steps on. Panics on any failure: a
/// broken measurement.
pub fn measure(capacity: usize, prioritized: bool, dir: &Path) -> CheckpointMemory {
    let family = || Box::new(EpisodicFamily::new(Pixels, 1_000).expect("a valid limit"));
    let mut config = RunConfig {
        train_episodes: 1_000_000,
        test_episodes: 1,
        env: EnvSetting::Custom { id: "Pixels".into() },
        ..RunConfig::default()
    };
    config.agent.hidden = vec![4];
    config.agent.batch_size = 32;
    config.agent.buffer_capacity = capacity;
    config.agent.stack = Stacking { frames: 4, ..Stacking::default() };
    // Random actions and no learning: the buffer fills at the speed of
    // the environment and the copies, with no network in the way.
    config.agent.epsilon.start = 1.0;
    config.agent.epsilon.end = 1.0;
    config.agent.learning_starts = capacity;
    if prioritized {
        config.agent.sampling = runner::Sampling::Prioritized(runner::Prioritized::default());
    }
    let started = std::time::Instant::now();
    let mut session = Session::with_family(&config, family()).expect("a valid session");
    while session.replay().expect("a DQN session").len() < capacity {
        session.step().expect("a step");
    }
    let fill_seconds = started.elapsed().as_secs_f64();
    let streamed = session.streamed().expect("a DQN session");
    let experience_bytes =
        (streamed.replay.heap_bytes() + streamed.priorities.map_or(0, agent::Priorities::heap_bytes)) as u64;
    let logs =
        LogLengths { train_csv_len: 0, timing_csv_len: 0, eval_csv_len: 0, tensorboard_len: 0, elapsed_seconds: 1.0 };
    let started = std::time::Instant::now();
    let ((path, meta), write_peak) = runner::heap::thread_peak(|| {
        let meta = CheckpointMeta { session: session.meta().expect("saveable environments"), logs };
        let path = checkpoint::write(dir, &meta, session.streamed(), 1, &mut |_, _| {}).expect("written");
        (path, meta)
    });
    let write_seconds = started.elapsed().as_secs_f64();
    let payload_bytes = checkpoint::encode(&meta, None).len() as u64 - checkpoint::HEADER as u64;
    drop(meta);
    let file_bytes = std::fs::metadata(&path).expect("the file").len();
    drop(session);
    let started = std::time::Instant::now();
    let family_to_read = family();
    let (read, read_peak) =
        runner::heap::thread_peak(|| checkpoint::read_for(&path, &*family_to_read).expect("a readable checkpoint"));
    let read_seconds = started.elapsed().as_secs_f64();
    // The session it restores (its scratch buffers are the session's own,
    // not the checkpoint's) steps on.
    let mut restored = Session::from_state_with(read.session, family()).expect("a consistent session");
    restored.step().expect("the restored session steps on");
    CheckpointMemory {
        experience_bytes,
        file_bytes,
        payload_bytes,
        write_peak: write_peak.expect("the counting allocator is installed"),
        read_peak: read_peak.expect("the counting allocator is installed"),
        fill_seconds,
        write_seconds,
        read_seconds,
    }
}
