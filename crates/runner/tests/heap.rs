//! The counting allocator and the peak heap the pool records per run.

#[path = "support/checkpoint_memory.rs"]
mod checkpoint_memory;

use runner::pool::run_parallel;
use runner::{CountingAllocator, DqnConfig, FrameKind, FrameSpec, Network, RunConfig, Spaces};

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator;

#[test]
fn a_thread_peak_counts_what_the_closure_held_at_once() {
    let (len, peak) = runner::heap::thread_peak(|| {
        let a = vec![1u8; 1 << 20];
        let b = vec![2u8; 1 << 19];
        drop(b);
        // Freed before this one: the peak is 1.5 MiB, not 1.75.
        let c = vec![3u8; 1 << 18];
        a.len() + c.len()
    });
    assert_eq!(len, (1 << 20) + (1 << 18));
    let peak = peak.expect("the counting allocator is installed");
    let held = (1 << 20) + (1 << 19);
    assert!((held..held + 4096).contains(&peak), "{peak}");
    // Another thread's allocations are its own.
    let (_, elsewhere) = runner::heap::thread_peak(|| std::thread::spawn(|| vec![0u8; 8 << 20].len()).join());
    assert!(elsewhere.unwrap() < 1 << 20, "{elsewhere:?}");
}

/// Two runs that differ only in their replay capacity: the buffer reserves
/// it at once (about 31 bytes per CartPole transition: a 16-byte
/// observation with its 4-byte link, 10 bytes of transition, and a few
/// extra frames; `ReplayConfig::heap_bytes`), and the runs' peaks differ by
/// exactly that.
#[test]
fn the_pool_records_each_runs_peak_heap() {
    let tiny = |capacity: usize| {
        let mut c = RunConfig { train_episodes: 3, test_episodes: 1, ..RunConfig::default() };
        c.agent.hidden = vec![8];
        c.agent.batch_size = 8;
        c.agent.buffer_capacity = capacity;
        (format!("{capacity}"), c)
    };
    let jobs = [tiny(1_000), tiny(201_000)];
    let done = run_parallel(&jobs, 2, None, &|_, _, _, _| {});
    let peak = |key: &str| {
        let outcome = done.iter().find(|(k, _)| k == key).unwrap().1.as_ref().unwrap();
        outcome.peak_heap_bytes.expect("measured")
    };
    let (small, large) = (peak("1000"), peak("201000"));
    let reserved = |capacity| agent::ReplayConfig::vectors(capacity, 4).heap_bytes() as u64;
    assert!(small > reserved(1_000), "{small}");
    assert_eq!(large - small, reserved(201_000) - reserved(1_000), "{small} {large}");
    assert!(reserved(201_000) < 201_000 * 39, "fewer bytes than two f32 observations a transition");
}

/// A checkpoint of an image run streams its experience: writing holds no
/// more than the bound `runner::checkpoint` states (the payload a few
/// times over and 1 MiB) beyond the session, and reading no more beyond
/// the experience it reads, with prioritized replay too. The buffer here
/// is about 42 MB, several times the bound; `cargo bench -p runner --bench
/// checkpoint_memory` measures one of over a gigabyte.
#[test]
fn a_checkpoint_streams_its_experience_within_the_stated_bound() {
    for prioritized in [false, true] {
        let dir = std::env::temp_dir().join(format!("dqn-heap-ckpt-{prioritized}-{}", std::process::id()));
        let m = checkpoint_memory::measure(6_000, prioritized, &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(m.experience_bytes > 6_000 * 84 * 84, "{m:?}");
        assert!(m.bound() * 4 < m.experience_bytes, "the bound is small beside the buffer: {m:?}");
        assert!(m.write_peak <= m.bound(), "writing held {} bytes: {m:?}", m.write_peak);
        assert!(m.read_extra() <= m.bound(), "reading held {} bytes beyond the experience: {m:?}", m.read_extra());
        assert!(m.file_bytes > m.experience_bytes * 9 / 10, "the file holds the frames: {m:?}");
    }
}

/// Acting on one observation (`Agent::act`: the input rebuilt from the
/// replay's frames, ε-greedy, the forward pass) allocates nothing once its
/// buffers have seen a call: the Nature network on a 4 × 84 × 84 frame, the
/// MinAtar network on 4 × 10 × 10 binary planes, the seed's MLP; greedy
/// (ε = 0: every call runs the network) and at random (ε = 1).
#[test]
fn acting_on_one_observation_allocates_nothing() {
    let cases = [
        (Some(Network::Nature), FrameSpec { len: 4 * 84 * 84, kind: FrameKind::U8 }, Some([4, 84, 84])),
        (Some(Network::MinAtar), FrameSpec { len: 4 * 10 * 10, kind: FrameKind::Bit }, Some([4, 10, 10])),
        (None, FrameSpec { len: 4, kind: FrameKind::F32 }, None),
    ];
    for ((network, frame, image), epsilon) in cases.into_iter().flat_map(|c| [(c.clone(), 0.0), (c, 1.0)]) {
        let mut config =
            DqnConfig { network: network.clone(), buffer_capacity: 64, batch_size: 32, ..DqnConfig::default() };
        (config.epsilon.start, config.epsilon.end) = (epsilon, epsilon);
        let spaces = Spaces { frame, image, n_actions: 6, envs: 1 };
        let seeds = agent::AgentSeeds { init: 1, explore: 2, replay: 3, noise: 4 };
        let mut learner = agent::Agent::new(config, spaces, seeds).unwrap();
        let bytes: Vec<u8> = (0..frame.len).map(|i| (i % 2) as u8).collect();
        let values: Vec<f32> = (0..frame.len).map(|i| i as f32 * 0.1).collect();
        let obs = || if frame.kind == FrameKind::F32 { agent::Frame::F32(&values) } else { agent::Frame::U8(&bytes) };
        for _ in 0..3 {
            learner.act(obs()).unwrap();
        }
        let (_, peak) = runner::heap::thread_peak(|| {
            for _ in 0..20 {
                learner.act(obs()).unwrap();
            }
        });
        assert_eq!(peak, Some(0), "{network:?}, epsilon {epsilon}: acting held heap");
    }
}
