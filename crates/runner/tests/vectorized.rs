//! Vectorized collection and early stopping: N environments stepped
//! together store exactly the transitions N independent environments would
//! (final observations of ended episodes included), the run is the same at
//! any thread count, and a periodic evaluation stops training when solved.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use cartpole_sim::{Action, CartPole, EnvConfig, OBS_DIM};
use rand_chacha::ChaCha8Rng;
use runner::{Collection, EarlyStop, RunConfig, Session, Silent, Stream, files, train};

fn vector_config(envs: u32) -> RunConfig {
    let mut c = RunConfig { seed: 3, train_episodes: 60, test_episodes: 5, ..RunConfig::default() };
    c.collection = Collection { envs, update_every: 2 };
    c.agent.hidden = vec![32, 32];
    c.agent.lr = 1e-3;
    c.agent.gradient_steps = 3;
    c
}

/// Replays the buffer's transitions through N independent single
/// environments (resets from the same streams, the stored actions): every
/// next state, reward and end flag must be the reference's, an ended
/// episode's next state must be its final observation, and the following
/// transition of that environment must start from the reference's reset.
#[test]
fn transitions_are_those_of_independent_environments_with_final_observations() {
    let n = 3;
    let mut config = vector_config(n);
    config.apply_override("env.max_episode_steps=14").unwrap(); // many truncations as well as terminations
    config.agent.epsilon.decay = 50.0;
    let mut session = Session::new(&config).unwrap();
    for _ in 0..400 {
        let _ = session.step().unwrap();
    }
    let replay = session.learner().dqn().unwrap().replay();
    assert_eq!(replay.len(), 1200, "the buffer must hold every transition for this check");
    let env_config = EnvConfig { max_episode_steps: 14, ..EnvConfig::v1() };
    let mut reference: Vec<(CartPole, ChaCha8Rng, [f32; 4])> = (0..n as usize)
        .map(|i| {
            let mut rng = Stream::TrainEnv { env: i as u32 }.rng(config.seed);
            let mut env = CartPole::new(env_config).unwrap();
            let obs = env.reset(&mut rng);
            (env, rng, obs)
        })
        .collect();
    let (mut truncations, mut terminations) = (0, 0);
    let slots: Vec<usize> = (0..replay.len()).map(|age| replay.slot_of_age(age).unwrap()).collect();
    let mut batch = agent::Batch::new();
    replay.gather_slots_into(&slots, &mut batch).unwrap();
    for k in 0..replay.len() {
        let (env, rng, obs) = &mut reference[k % n as usize];
        let (states, next_states) = (batch.states().to_vec(), batch.next_states().to_vec());
        let (state, next_state) = (&states[k * 4..k * 4 + 4], &next_states[k * 4..k * 4 + 4]);
        assert_eq!(state, obs.as_slice(), "transition {k}: state");
        let step = env.step(Action::from_index(batch.actions()[k]).unwrap()).unwrap();
        // A terminated transition's next state is not stored (nothing
        // bootstraps from it): its row holds its state.
        let expected_next = if step.terminated { obs.as_slice() } else { step.obs.as_slice() };
        assert_eq!(next_state, expected_next, "transition {k}: next state");
        let flags = (batch.terminated()[k], batch.truncated()[k]);
        assert_eq!(flags, (step.terminated, step.truncated), "transition {k}");
        assert_eq!(batch.rewards()[k], 1.0);
        *obs = step.obs;
        if step.is_done() {
            truncations += usize::from(step.truncated && !step.terminated);
            terminations += usize::from(step.terminated);
            *obs = env.reset(rng);
        }
    }
    assert!(truncations >= 5 && terminations >= 5, "{truncations} truncations, {terminations} terminations");
    assert_eq!(OBS_DIM, 4);
}

/// Same seed, same bits: N environments, several gradient steps per update,
/// in pools of 1 and 2 threads.
#[test]
fn vectorized_runs_are_identical_at_any_thread_count() {
    let run = |threads: usize| {
        let dir = std::env::temp_dir().join(format!("dqn-vec-threads{threads}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| train(&vector_config(4), &dir, &mut Silent)).unwrap();
        let out: Vec<Vec<u8>> = [files::TRAIN_CSV, files::TEST_CSV, files::POLICY]
            .iter()
            .map(|f| std::fs::read(dir.join(f)).unwrap())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        out
    };
    let one = run(1);
    assert_eq!(run(2), one);
    let train_csv = String::from_utf8(one[0].clone()).unwrap();
    assert_eq!(train_csv.lines().count(), 61, "60 episodes and the header");
}

/// Early stop: training ends at the first evaluation whose mean reaches the
/// bar, which is logged; an unreachable bar never stops it.
#[test]
fn early_stop_ends_training_at_the_first_solved_evaluation() {
    let mut config = vector_config(4);
    config.train_episodes = 400;
    config.early_stop = Some(EarlyStop { every_steps: 1_000, episodes: 5, solved_at: 60.0 });
    let dir = std::env::temp_dir().join(format!("dqn-vec-stop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let summary = train(&config, &dir, &mut Silent).unwrap();
    assert!(summary.solved_early, "{summary:?}");
    assert_eq!(summary.solved, Some(summary.test_mean >= 60.0));
    assert!(summary.train_episodes < 400);
    let eval = std::fs::read_to_string(dir.join(files::EVAL_CSV)).unwrap();
    let lines: Vec<&str> = eval.lines().skip(1).collect();
    assert!(lines.last().unwrap().ends_with(",true,CartPole-v1"), "{eval}");
    assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(",false,CartPole-v1")), "{eval}");
    let last_steps: u64 = lines.last().unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(last_steps, summary.train_steps, "training stops right after the solving evaluation");
    assert_eq!(summary.train_steps / 1_000, lines.len() as u64, "one evaluation per 1 000 steps");
    std::fs::remove_dir_all(&dir).unwrap();

    config.train_episodes = 30;
    config.early_stop = Some(EarlyStop { every_steps: 200, episodes: 2, solved_at: 1e9 });
    let summary = train(&config, &dir, &mut Silent).unwrap();
    assert!(!summary.solved_early);
    assert_eq!(summary.solved, Some(false));
    assert_eq!(summary.train_episodes, 30);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// No two consumers of a run's randomness share a stream, for any number of
/// environments: every stream a session with N environments uses has its own
/// id, each training environment really starts from its stream's first
/// reset, and none of them starts where a test episode, an evaluation or a
/// probe state does (with one ChaCha8 stream per environment numbered 0..N,
/// environment 1 used to replay exactly the test episodes' start states).
#[test]
fn every_stream_of_a_run_is_its_own() {
    let starts = |stream: Stream, seed: u64, n: usize| -> Vec<[f32; 4]> {
        let mut rng = stream.rng(seed);
        let mut env = CartPole::new(EnvConfig::v1()).unwrap();
        (0..n).map(|_| env.reset(&mut rng)).collect()
    };
    for n in [1u32, 8, 64] {
        let mut config = vector_config(n);
        config.seed = 11;
        let session = Session::new(&config).unwrap();
        let streams: Vec<Stream> = session.streams().collect();
        assert_eq!(streams.len(), n as usize + 7, "N environments and seven named consumers");
        let mut ids: Vec<u64> = streams.iter().map(|s| s.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), streams.len(), "N = {n}: two consumers share a stream: {streams:?}");
        assert_eq!(Stream::TrainEnv { env: 0 }.id(), 0, "environment 0 keeps the single-environment stream");

        let held_out: Vec<[f32; 4]> = [(Stream::TestEnv, 200), (Stream::Eval, 200), (Stream::Probe, 64)]
            .into_iter()
            .flat_map(|(stream, count)| starts(stream, config.seed, count))
            .collect();
        for (i, row) in session.observations().as_f32().unwrap().chunks_exact(OBS_DIM).enumerate() {
            let expected = starts(Stream::TrainEnv { env: i as u32 }, config.seed, 1)[0];
            assert_eq!(row, expected.as_slice(), "N = {n}: environment {i} does not start from its stream");
            assert!(
                !held_out.iter().any(|s| s.as_slice() == row),
                "N = {n}: environment {i} starts on a held-out state"
            );
        }
    }
    // The table holds for the largest batch a configuration allows.
    let mut all: Vec<u64> = Stream::of_run(4096).map(Stream::id).collect();
    let len = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), len);
}

/// Truncation is not termination, end to end: an episode cut by the step
/// limit is stored with `truncated` and without `terminated` (so the agent
/// bootstraps from it: `a_truncated_transition_bootstraps_and_a_terminated_one_does_not`
/// in agent's tests), its next state is the observation the episode ended
/// in, not the next episode's first, and the session acts next on the
/// reset.
#[test]
fn a_truncated_episode_is_stored_as_truncated_not_terminated() {
    let mut config = vector_config(1);
    config.apply_override("env.max_episode_steps=3").unwrap(); // far below where CartPole terminates
    config.agent.buffer_capacity = 64;
    let mut session = Session::new(&config).unwrap();
    let mut reference = CartPole::new(EnvConfig { max_episode_steps: 3, ..EnvConfig::v1() }).unwrap();
    let mut rng = Stream::TrainEnv { env: 0 }.rng(config.seed);
    let mut obs = reference.reset(&mut rng);
    for step in 1..=9 {
        let ended = session.step().unwrap().episodes.len();
        assert_eq!(ended, usize::from(step % 3 == 0), "step {step}");
        let replay = session.learner().dqn().unwrap().replay();
        let mut newest = agent::Batch::new();
        replay.recent_into(1, &mut newest).unwrap();
        let out = reference.step(Action::from_index(newest.actions()[0]).unwrap()).unwrap();
        assert_eq!(newest.states().to_vec(), obs, "step {step}");
        assert_eq!(newest.next_states().to_vec(), out.obs, "step {step}: the final observation is stored");
        assert_eq!((newest.terminated()[0], newest.truncated()[0]), (false, step % 3 == 0), "step {step}");
        obs = if out.is_done() { reference.reset(&mut rng) } else { out.obs };
        assert_eq!(session.observations().as_f32(), Some(obs.as_slice()), "step {step}: the session acts on the reset");
    }
}
