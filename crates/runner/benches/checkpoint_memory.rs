//! The memory of a checkpoint of a replay buffer of a gigabyte or more:
//! an image session (`env_core::workload::Pixels`, 84 × 84 bytes, stacks
//! of 4) filled to capacity, written and read back, with uniform and with
//! prioritized sampling; prints the figures `docs/benchmarks.md` quotes
//! and fails if the bound `runner::checkpoint` states is broken.
//!
//! `cargo bench -p runner --bench checkpoint_memory`; the capacity is
//! `DQN_CHECKPOINT_TRANSITIONS` (default 150 000: 1.07 GB of frames).

#[path = "../tests/support/checkpoint_memory.rs"]
mod checkpoint_memory;

#[global_allocator]
static HEAP: runner::CountingAllocator = runner::CountingAllocator;

fn main() {
    let capacity = std::env::var("DQN_CHECKPOINT_TRANSITIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(150_000);
    let mb = |bytes: u64| bytes as f64 / 1e6;
    for prioritized in [false, true] {
        let dir = std::env::temp_dir().join(format!("dqn-bench-ckpt-{prioritized}-{}", std::process::id()));
        let m = checkpoint_memory::measure(capacity, prioritized, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        let sampling = if prioritized { "prioritized" } else { "uniform" };
        println!(
            "checkpoint memory: {capacity} Atari-shaped transitions ({sampling} sampling), experience {:.1} MB, \
             file {:.1} MB: writing held {:.2} MB beyond the session, reading {:.2} MB beyond the experience \
             (bound: 4 × the {:.2} MB payload + 1 MiB = {:.2} MB); write {:.1} s ({:.0} MB/s), read {:.1} s",
            mb(m.experience_bytes),
            mb(m.file_bytes),
            mb(m.write_peak),
            mb(m.read_extra()),
            mb(m.payload_bytes),
            mb(m.bound()),
            m.write_seconds,
            mb(m.file_bytes) / m.write_seconds,
            m.read_seconds,
        );
        assert!(m.write_peak <= m.bound() && m.read_extra() <= m.bound(), "the stated bound is broken: {m:?}");
    }
}
