//! The learner's rules: Bellman targets, ε-greedy, target network, updates.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use agent::{
    Agent, AgentError, AgentSeeds, AgentState, Distributional, DqnConfig, Dueling, EpsilonSchedule, EpsilonShape,
    LossKind, Noisy, ObservationProblem, Prioritized, ReplayError, Sampling, Spaces, TargetUpdate, Transition,
    UpdateOutcome, argmax, bellman_target, next_state_value,
};
use proptest::prelude::*;

const SEEDS: AgentSeeds = AgentSeeds { init: 1, explore: 2, replay: 3, noise: 4 };

/// Observations of 4 values, 2 actions, up to 8 environments stepped together.
const SPACES: Spaces =
    Spaces { frame: agent::FrameSpec { len: 4, kind: agent::FrameKind::F32 }, image: None, n_actions: 2, envs: 8 };

/// A learner frozen whole: its state and its experience.
fn frozen(agent: &Agent) -> (AgentState, agent::Experience) {
    (agent.to_state(), agent.experience())
}

fn small_config() -> DqnConfig {
    DqnConfig { hidden: vec![16, 16], batch_size: 8, buffer_capacity: 1000, lr: 1e-3, ..DqnConfig::seed() }
}

/// Pushes `n` made-up transitions (every 10th terminated).
fn fill(agent: &mut Agent, n: usize) {
    for i in 0..n {
        let s = [i as f32 * 0.01, 0.1, -0.05, 0.2];
        let s2 = [i as f32 * 0.01 + 0.01, 0.1, -0.04, 0.1];
        let t = Transition {
            state: (&s).into(),
            action: i % 2,
            reward: 1.0,
            next_state: (&s2).into(),
            terminated: i % 10 == 9,
            truncated: false,
        };
        agent.observe(t).unwrap();
    }
}

#[test]
fn bellman_targets_by_hand() {
    // y = r + (γ · max Q′) · (1 − terminated)
    assert_eq!(bellman_target(1.0, 10.0, false, 0.95), 1.0 + 9.5);
    assert_eq!(bellman_target(1.0, 10.0, true, 0.95), 1.0);
    assert_eq!(bellman_target(-2.0, 4.0, false, 0.5), 0.0);
}

/// One transition at a time, by hand: a 5-unit net, batches of 1 from a
/// buffer of 1, γ = 0.5, no clamping.
fn by_hand_config() -> DqnConfig {
    DqnConfig { hidden: vec![5], batch_size: 1, buffer_capacity: 1, gamma: 0.5, grad_clip: None, ..DqnConfig::seed() }
}

/// The policy's Q(s, action) and its largest Q-value at `next` (before any
/// learning, while target and policy are the same network).
fn q_and_next_max(agent: &mut Agent, s: &[f32], action: usize, next: &[f32]) -> (f32, f32) {
    let q = agent.q_values(s).unwrap()[action];
    (q, agent.q_values(next).unwrap().iter().copied().fold(f32::NEG_INFINITY, f32::max))
}

/// One gradient step on one stored transition, its loss worked by hand from
/// the network's own Q-values (the target network is still the policy's
/// copy): a transition cut by the time limit (`truncated`, not
/// `terminated`) bootstraps, `y = r + γ·max Q(s′)`; a terminated one does
/// not, `y = r`; one both terminated and truncated does not either. A learner
/// that stopped bootstrapping at a truncation would give the second loss for
/// the first transition.
#[test]
fn a_truncated_transition_bootstraps_and_a_terminated_one_does_not() {
    let config = by_hand_config();
    let (s, s2) = ([0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, 0.2, -0.3]);
    let loss_of = |terminated: bool, truncated: bool| {
        let mut agent = Agent::new(config.clone(), SPACES, SEEDS).unwrap();
        let (q, next) = q_and_next_max(&mut agent, &s, 1, &s2);
        let t =
            Transition { state: (&s).into(), action: 1, reward: 1.0, next_state: (&s2).into(), terminated, truncated };
        agent.observe(t).unwrap();
        let loss = agent.update().unwrap().expect("a batch is available").loss;
        (loss, q, next)
    };
    let (truncated_loss, q, next) = loss_of(false, true);
    assert!(next.abs() > 1e-3, "the bootstrap term must be visible: max Q(s') = {next}");
    let bootstrapped = q - (1.0 + 0.5 * next);
    assert_eq!(truncated_loss, bootstrapped * bootstrapped);
    let not_bootstrapped = (q - 1.0) * (q - 1.0);
    assert_eq!(loss_of(true, false).0, not_bootstrapped);
    assert_eq!(loss_of(true, true).0, not_bootstrapped);
    assert_ne!(truncated_loss, not_bootstrapped);
}

/// n = 2 by hand: two steps of one environment make one transition
/// `(s0, a0, r0 + γ·r1, s2)` whose target bootstraps with γ².
#[test]
fn an_n_step_target_by_hand() {
    let config = DqnConfig { n_step: 2, ..by_hand_config() };
    let (s0, s1, s2) = ([0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, 0.2, -0.3], [0.1, 0.2, -0.6, 0.4]);
    let mut agent = Agent::new(config, SPACES, SEEDS).unwrap();
    let (q, next) = q_and_next_max(&mut agent, &s0, 1, &s2);
    fn step<'a>(state: &'a [f32; 4], action: usize, reward: f32, next_state: &'a [f32; 4]) -> Transition<'a> {
        Transition {
            state: state.into(),
            action,
            reward,
            next_state: next_state.into(),
            terminated: false,
            truncated: false,
        }
    }
    // Another environment's step in between changes nothing for env 0.
    agent.observe_from(0, step(&s0, 1, 1.0, &s1)).unwrap();
    agent.observe_from(1, step(&s2, 0, 100.0, &s0)).unwrap();
    assert_eq!(agent.replay().len(), 0, "nothing is complete yet");
    agent.observe_from(0, step(&s1, 0, 2.0, &s2)).unwrap();
    let mut batch = agent::Batch::new();
    agent.replay().gather_slots_into(&[0], &mut batch).unwrap();
    let record = agent.replay().record(0).unwrap();
    assert_eq!(
        (batch.states().to_vec(), record.action, record.reward, batch.next_states().to_vec()),
        (s0.to_vec(), 1, 2.0, s2.to_vec())
    );
    assert_eq!(record.steps, 2);
    let loss = agent.update().unwrap().expect("a batch is available").loss;
    let y = 2.0 + 0.25 * next;
    assert_eq!(loss, (q - y) * (q - y));
    assert!(next.abs() > 1e-3, "the bootstrap term must be visible: max Q(s2) = {next}");
    let err = agent.observe_from(SPACES.envs, step(&s0, 0, 1.0, &s1)).unwrap_err();
    assert_eq!(err, AgentError::InvalidEnvironment { env: SPACES.envs, max: SPACES.envs });
    let bad = Transition { reward: f32::NAN, ..step(&s0, 0, 1.0, &s1) };
    assert!(matches!(agent.observe_from(0, bad), Err(AgentError::Replay(ReplayError::NonFinite { .. }))));
    for n_step in [0, 256] {
        let err = DqnConfig { n_step, ..DqnConfig::seed() }.validate(&SPACES).unwrap_err();
        assert_eq!(err.field, "n_step");
    }
}

/// Prioritized replay on one transition: it enters with priority 1 (the
/// largest so far), is drawn with weight 1, and leaves the step with
/// priority `(|q − y| + ε)^α` from that step's TD error.
#[test]
fn a_prioritized_step_by_hand() {
    let settings = Prioritized { alpha: 0.7, ..Prioritized::default() };
    let config = DqnConfig { sampling: Sampling::Prioritized(settings), ..by_hand_config() };
    let (s, s2) = ([0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, 0.2, -0.3]);
    let mut agent = Agent::new(config, SPACES, SEEDS).unwrap();
    let (q, next) = q_and_next_max(&mut agent, &s, 1, &s2);
    let t = Transition {
        state: (&s).into(),
        action: 1,
        reward: 1.0,
        next_state: (&s2).into(),
        terminated: false,
        truncated: false,
    };
    agent.observe(t).unwrap();
    assert_eq!(agent.priority(0), Some(1.0), "a new transition gets the largest priority so far");
    let loss = agent.update().unwrap().expect("a batch is available").loss;
    let y = 1.0 + 0.5 * next;
    assert_eq!(loss, (q - y) * (q - y), "the only transition has weight (p_min/p)^β = 1");
    let expected = (f64::from(q - y).abs() + settings.eps).powf(settings.alpha);
    assert_eq!(agent.priority(0), Some(expected));
    assert!(expected != 1.0);
    // The priorities stream apart and come back with the state.
    let mut stream = Vec::new();
    let priorities = agent.priorities().unwrap();
    priorities.write_to(agent.replay(), &mut stream).unwrap();
    assert_eq!(stream.len() as u64, agent::Priorities::stream_len(agent.replay()));
    let read = agent::Priorities::read_from(&mut stream.as_slice(), agent.replay()).unwrap();
    assert_eq!(&read, priorities);
    let experience = |priorities| agent::Experience { replay: agent.replay().clone(), priorities };
    let resumed = Agent::from_state(agent.to_state(), experience(Some(read))).unwrap();
    assert_eq!(resumed.priority(0), Some(expected));
    assert_eq!(Agent::new(small_config(), SPACES, SEEDS).unwrap().priority(0), None);
    // Missing, unexpected or damaged priorities are named.
    let missing = Agent::from_state(agent.to_state(), experience(None)).unwrap_err();
    assert!(error_chain(&missing).contains("priorities are missing"), "{missing}");
    let plain = Agent::new(small_config(), SPACES, SEEDS).unwrap();
    let plain_experience = agent::Experience { replay: plain.replay().clone(), priorities: Some(priorities.clone()) };
    let extra = Agent::from_state(plain.to_state(), plain_experience).unwrap_err();
    assert!(error_chain(&extra).contains("sampling is not prioritized"), "{extra}");
    for (at, value, problem) in
        [(0, -1.0, "largest"), (0, f64::NAN, "largest"), (8, 0.0, "not positive"), (8, 1e9, "above")]
    {
        let mut damaged = stream.clone();
        damaged[at..at + 8].copy_from_slice(&f64::to_le_bytes(value));
        let err = agent::Priorities::read_from(&mut damaged.as_slice(), agent.replay()).unwrap_err();
        assert!(matches!(err, agent::PrioritiesError::Damaged(_)), "{err:?}");
        assert!(error_chain(&err).contains(problem), "{value}: {}", error_chain(&err));
    }
    let cut = agent::Priorities::read_from(&mut &stream[..12], agent.replay()).unwrap_err();
    assert!(cut.is_truncated(), "{cut:?}");
}

/// An error and its sources, one after the other.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[test]
fn beta_rises_linearly_to_one() {
    let p = Prioritized { beta_start: 0.4, beta_steps: 1000, ..Prioritized::default() };
    let betas: Vec<f64> = [0, 250, 500, 1000, 5000].iter().map(|&t| p.beta(t)).collect();
    assert_eq!(betas, [0.4, 0.4 + 0.6 * 0.25, 0.4 + 0.6 * 0.5, 1.0, 1.0]);
    for bad in [
        Prioritized { alpha: -0.1, ..p },
        Prioritized { beta_start: 1.5, ..p },
        Prioritized { beta_steps: 0, ..p },
        Prioritized { eps: 0.0, ..p },
    ] {
        let config = DqnConfig { sampling: Sampling::Prioritized(bad), ..DqnConfig::seed() };
        assert_eq!(config.validate(&SPACES).unwrap_err().field, "sampling", "{bad:?}");
    }
}

/// A learner trained in a pool of `threads` threads on `steps` made-up
/// steps from `envs` interleaved environments (rewards 0–6, terminations
/// and truncations at their own periods), updating after each.
fn trained_in_pool(config: &DqnConfig, threads: usize, steps: usize, envs: usize) -> Agent {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut agent = Agent::new(config.clone(), SPACES, SEEDS).unwrap();
        // Each environment's episode goes on from its last next state.
        let mut states: Vec<[f32; 4]> = (0..envs).map(|e| [e as f32 * 0.1, 0.1, -0.05, 0.2]).collect();
        for i in 0..steps {
            let env = i % envs;
            let s = states[env];
            let s2 = [i as f32 * 0.01 + 0.01, 0.1, -0.04, (i % 5) as f32 * 0.1];
            let (terminated, truncated) = (i % 10 == 9, i % 13 == 12);
            let t = Transition {
                state: (&s).into(),
                action: i % 2,
                reward: (i % 7) as f32,
                next_state: (&s2).into(),
                terminated,
                truncated,
            };
            agent.observe_from(env, t).unwrap();
            agent.update().unwrap();
            states[env] = if terminated || truncated { [i as f32 * 0.02, -0.1, 0.05, 0.0] } else { s2 };
        }
        agent
    })
}

/// The same seeds give the same prioritized learner, batch for batch, with
/// one thread or two — with n-step returns, Double DQN, the Huber loss and
/// soft target updates on too.
#[test]
fn prioritized_replay_is_the_same_at_any_thread_count() {
    let config = DqnConfig {
        sampling: Sampling::Prioritized(Prioritized { beta_steps: 50, ..Prioritized::default() }),
        n_step: 3,
        batch_size: 64,
        double_dqn: true,
        loss: LossKind::Huber { delta: 1.0 },
        target_update: TargetUpdate::Soft { tau: 0.05 },
        ..small_config()
    };
    let run = |threads: usize| frozen(&trained_in_pool(&config, threads, 300, 3));
    let one = run(1);
    assert!(one.1.replay.len() > 64);
    assert_eq!(run(2), one);
}

/// Every Rainbow component together, acting as well as learning (two
/// environments stepped together): the same learner at 1, 2 and 4
/// threads; the noise, not ε, explores; greedy evaluation uses the mean
/// weights.
#[test]
fn rainbow_is_the_same_at_1_2_and_4_threads_and_its_noise_explores() {
    let config = DqnConfig {
        distributional: Some(Distributional { n_atoms: 11, v_min: 0.0, v_max: 20.0 }),
        dueling: Some(Dueling { value_hidden: vec![8], advantage_hidden: vec![8] }),
        noisy: Some(Noisy::default()),
        sampling: Sampling::Prioritized(Prioritized::default()),
        double_dqn: true,
        n_step: 3,
        batch_size: 32,
        ..small_config()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut agent = Agent::new(config.clone(), SPACES, SEEDS).unwrap();
            let mut actions = Vec::new();
            let mut taken = Vec::new();
            // Two environments, each going on from its last next state.
            let mut obs: Vec<f32> = (0..8).map(|k| (k as f32 * 0.37).sin() * 0.1).collect();
            for i in 0..150 {
                agent.act_batch((&obs).into(), &mut actions).unwrap();
                taken.extend_from_slice(&actions);
                let mut next_obs = obs.clone();
                for (env, (&a, s)) in actions.iter().zip(obs.chunks(4)).enumerate() {
                    let next: Vec<f32> = (0..4).map(|k| ((i * 8 + env * 4 + k) as f32 * 0.37).sin() * 0.1).collect();
                    let terminated = i % 17 == 16;
                    let t = Transition {
                        state: s.into(),
                        action: a,
                        reward: (i % 5) as f32,
                        next_state: (&next).into(),
                        terminated,
                        truncated: false,
                    };
                    agent.observe_from(env, t).unwrap();
                    let start: Vec<f32> = next.iter().map(|v| -v).collect();
                    next_obs[env * 4..env * 4 + 4].copy_from_slice(if terminated { &start } else { &next });
                }
                obs = next_obs;
                agent.update().unwrap();
            }
            (agent, taken)
        })
    };
    let (mut one, taken) = run(1);
    assert!(one.n_updates() > 100);
    for threads in [2, 4] {
        let (agent, taken_here) = run(threads);
        assert_eq!(taken_here, taken, "{threads} threads");
        assert_eq!(frozen(&agent), frozen(&one), "{threads} threads");
    }
    // No ε: the exploration stream is untouched, and ε reads 0.
    assert_eq!(one.epsilon(), 0.0);
    assert_eq!(one.to_state().explore_rng(), &<rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2));
    // Training actions on one observation vary with the noise; greedy
    // evaluation does not, and is the mean network's.
    let obs = [0.05, -0.02, 0.01, 0.03];
    let training: Vec<usize> = (0..200).map(|_| one.act((&obs).into()).unwrap()).collect();
    assert!(training.contains(&0) && training.contains(&1), "the noise explores: {training:?}");
    let greedy = one.predict(&obs).unwrap();
    assert!((0..20).all(|_| one.predict(&obs).unwrap() == greedy));
    let mut mean = one.policy().clone();
    mean.clear_noise();
    let mut scratch = agent::SingleScratch::default();
    let outputs = mean.forward_single(&obs, &mut scratch).unwrap().to_vec();
    let q = one.q_values(&obs).unwrap().to_vec();
    let support: Vec<f32> = (0..11).map(|i| 2.0 * i as f32).collect();
    for (a, &value) in q.iter().enumerate() {
        let logits = &outputs[a * 11..(a + 1) * 11];
        let max = logits.iter().copied().fold(f32::MIN, f32::max);
        let weights: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let total: f32 = weights.iter().sum();
        let expected: f32 = weights.iter().zip(&support).map(|(w, z)| w / total * z).sum();
        assert!((value - expected).abs() < 1e-4, "action {a}: {value} vs the mean network's {expected}");
    }
    // ε-greedy comes back when asked for.
    let with_epsilon = DqnConfig { noisy: Some(Noisy { epsilon_greedy: true, ..Noisy::default() }), ..config.clone() };
    let agent = Agent::new(with_epsilon, SPACES, SEEDS).unwrap();
    assert!(agent.epsilon() > 0.9);
}

/// Distributional C51: the network has n_atoms outputs per action, acting
/// goes by the expected values, and the learner is the same at 1 and 2
/// threads (with Double DQN, prioritized replay and 2-step returns).
#[test]
fn a_distributional_learner_acts_by_expected_values_at_any_thread_count() {
    let config = DqnConfig {
        distributional: Some(Distributional { n_atoms: 11, v_min: 0.0, v_max: 20.0 }),
        sampling: Sampling::Prioritized(Prioritized::default()),
        double_dqn: true,
        n_step: 2,
        batch_size: 32,
        ..small_config()
    };
    assert_eq!(config.layer_sizes(&SPACES), [4, 16, 16, 22]);
    let run = |threads: usize| trained_in_pool(&config, threads, 200, 2);
    let mut one = run(1);
    let q = one.q_values(&[0.1, 0.1, -0.05, 0.2]).unwrap().to_vec();
    assert_eq!(q.len(), 2, "one expected value per action");
    assert!(q.iter().all(|v| (0.0..=20.0).contains(v)), "expected values lie on the support: {q:?}");
    assert_eq!(one.predict(&[0.1, 0.1, -0.05, 0.2]).unwrap(), argmax(&q).unwrap());
    assert!(one.n_updates() > 100);
    assert_eq!(frozen(&run(2)), frozen(&one));
    let bad = DqnConfig {
        distributional: Some(Distributional { n_atoms: 1, ..Distributional::default() }),
        ..small_config()
    };
    assert_eq!(bad.validate(&SPACES).unwrap_err().field, "distributional.n_atoms");
    // Finite bounds whose atoms round together in f32: refused by name.
    let tiny =
        DqnConfig { distributional: Some(Distributional { n_atoms: 51, v_min: 0.0, v_max: 1e-44 }), ..small_config() };
    let err = tiny.validate(&SPACES).unwrap_err();
    assert_eq!(err.field, "distributional.v_min");
    assert!(err.reason.contains("not distinct finite values"), "{}", err.reason);
}

proptest! {
    #[test]
    fn terminal_transitions_and_zero_gamma_give_the_reward(r in -100f32..100.0, v in -1e3f32..1e3, g in 0f32..=1.0) {
        prop_assert_eq!(bellman_target(r, v, true, g), r);
        prop_assert_eq!(bellman_target(r, v, false, 0.0), r);
    }

    #[test]
    fn targets_grow_with_reward_and_next_value(r in -100f32..100.0, v in -1e3f32..1e3, g in 0.01f32..=1.0, dr in 0.01f32..10.0, dv in 0.01f32..10.0) {
        let y = bellman_target(r, v, false, g);
        prop_assert!(bellman_target(r + dr, v, false, g) >= y);
        prop_assert!(bellman_target(r, v + dv, false, g) >= y);
    }

    #[test]
    fn epsilon_decays_monotonically_to_the_end(start in 0.5f64..=1.0, end in 0f64..0.5, decay in 1f64..5000.0, n in 0u64..100_000, linear: bool) {
        let shape = if linear { EpsilonShape::Linear } else { EpsilonShape::Exponential };
        let schedule = EpsilonSchedule { start, end, decay, shape };
        prop_assert!(schedule.value(n + 1) <= schedule.value(n));
        prop_assert!(schedule.value(n) >= end && schedule.value(n) <= start);
    }
}

/// Young & Tian's schedule (examples/dqn.py): uniform actions for frames
/// `t < 5 000`, then `((0.1 − 1.0) / 100 000) · (t − 5 000) + 1.0` until
/// `t − 5 000 ≥ 100 000`, then 0.1; their frame `t` is the action with
/// `sample_count = t + 1` here (the seed counts an action before its ε).
#[test]
fn a_held_linear_epsilon_is_young_and_tians_frame_by_frame() {
    let s = EpsilonSchedule { start: 1.0, end: 0.1, decay: 100_000.0, shape: EpsilonShape::HeldLinear { hold: 5001 } };
    let theirs = |t: u64| {
        if t < 5000 {
            1.0
        } else if t - 5000 >= 100_000 {
            0.1
        } else {
            ((0.1 - 1.0) / 100_000.0) * (t - 5000) as f64 + 1.0
        }
    };
    for t in [0, 1, 4998, 4999, 5000, 5001, 5002, 30_000, 55_000, 104_999, 105_000, 105_001, 5_000_000] {
        let (ours, theirs) = (s.value(t + 1), theirs(t));
        assert!((ours - theirs).abs() < 1e-12, "frame {t}: {ours} against {theirs}");
    }
    // Held, the schedule is the linear one moved by `hold` actions, bit for bit.
    let unheld = EpsilonSchedule { shape: EpsilonShape::Linear, ..s };
    assert!((0..200_000).step_by(997).all(|c| s.value(c + 5001).to_bits() == unheld.value(c).to_bits()));
    assert!((0..5001).all(|c| s.value(c) == 1.0));
}

#[test]
fn epsilon_follows_the_seed_formula() {
    let s = EpsilonSchedule::seed();
    assert_eq!(s.value(0), 0.95);
    assert!((s.value(500) - (0.01 + 0.94 * (-1f64).exp())).abs() < 1e-15);
    assert!((s.value(10_000) - 0.01).abs() < 1e-8); // 0.94·e⁻²⁰ ≈ 1.9e-9
}

/// The linear shape by hand: 1.0 → 0.04 over 8 000 actions (SB3's
/// CartPole schedule, exploration_fraction 0.16 of 50 000 steps).
#[test]
fn a_linear_epsilon_is_a_straight_line_then_flat() {
    let s = EpsilonSchedule { start: 1.0, end: 0.04, decay: 8000.0, shape: EpsilonShape::Linear };
    assert_eq!(s.value(0), 1.0);
    assert!((s.value(2000) - 0.76).abs() < 1e-15);
    assert!((s.value(4000) - 0.52).abs() < 1e-15);
    assert_eq!(s.value(8000), 0.04);
    assert_eq!(s.value(50_000), 0.04);
}

#[test]
fn argmax_breaks_ties_to_the_lowest_index() {
    assert_eq!(argmax(&[1.0, 3.0, 3.0]), Some(1));
    assert_eq!(argmax(&[2.0, 2.0]), Some(0));
    assert_eq!(argmax(&[-1.0]), Some(0));
    assert_eq!(argmax(&[]), None);
    assert_eq!(argmax(&[0.0, f32::NAN]), None);
}

#[test]
fn double_dqn_values_the_policy_choice_with_the_target() {
    // DQN: max of the target's values. Double DQN: the policy picks action 0,
    // the target values it at 1.0 although its own max is 5.0.
    assert_eq!(next_state_value(&[1.0, 5.0], None), Some(5.0));
    assert_eq!(next_state_value(&[1.0, 5.0], Some(&[9.0, 2.0])), Some(1.0));
    assert_eq!(next_state_value(&[1.0, 5.0], Some(&[2.0, 9.0])), Some(5.0));
}

#[test]
fn the_target_network_changes_only_when_copied() {
    let config = DqnConfig { target_update: TargetUpdate::Hard { every: 5 }, ..small_config() };
    let mut agent = Agent::new(config, SPACES, SEEDS).unwrap();
    assert_eq!(agent.policy(), agent.target(), "the target starts as a copy");
    fill(&mut agent, 50);
    let target_before = agent.target().clone();
    let obs = [0.0, 0.0, 0.0, 0.0];
    // sample_count 1..4: updates, no copy; the policy moves away.
    for _ in 0..4 {
        agent.act((&obs).into()).unwrap();
        let stats = agent.update().unwrap().unwrap();
        assert!(!stats.target_synced);
    }
    assert_eq!(agent.target(), &target_before, "the target must not move between copies");
    assert_ne!(agent.policy(), agent.target(), "the policy learned");
    agent.act((&obs).into()).unwrap();
    assert!(agent.update().unwrap().unwrap().target_synced, "sample_count 5 is a multiple of 5");
    assert_eq!(agent.policy(), agent.target());
    assert_eq!((agent.n_updates(), agent.n_target_syncs()), (5, 1));
}

#[test]
fn soft_updates_move_the_target_part_way() {
    let config = DqnConfig { target_update: TargetUpdate::Soft { tau: 0.5 }, ..small_config() };
    let mut agent = Agent::new(config, SPACES, SEEDS).unwrap();
    fill(&mut agent, 20);
    let before = agent.target().clone();
    agent.act(agent::Frame::F32(&[0.0; 4])).unwrap();
    let stats = agent.update().unwrap().unwrap();
    assert!(!stats.target_synced);
    let (t0, t1, p) = (
        &before.params().layers()[0].weight,
        &agent.target().params().layers()[0].weight,
        &agent.policy().params().layers()[0].weight,
    );
    assert_eq!(t1[[3, 1]], 0.5 * p[[3, 1]] + 0.5 * t0[[3, 1]]);
}

#[test]
fn no_learning_until_the_buffer_holds_enough() {
    let mut agent = Agent::new(small_config(), SPACES, SEEDS).unwrap();
    fill(&mut agent, 7);
    assert_eq!(agent.update().unwrap(), None, "7 < batch 8");
    fill(&mut agent, 1);
    assert!(agent.update().unwrap().is_some());

    let config = DqnConfig { learning_starts: 30, gradient_steps: 3, ..small_config() };
    let mut agent = Agent::new(config, SPACES, SEEDS).unwrap();
    fill(&mut agent, 29);
    assert_eq!(agent.update().unwrap(), None, "29 < learning_starts 30");
    fill(&mut agent, 1);
    assert_eq!(agent.update().unwrap().unwrap().gradient_steps, 3);
    assert_eq!(agent.n_updates(), 3);
}

#[test]
fn epsilon_greedy_explores_with_probability_epsilon() {
    // ε = 1: every action random, both equally often.
    let always = DqnConfig {
        epsilon: EpsilonSchedule { start: 1.0, end: 1.0, decay: 1.0, shape: EpsilonShape::Exponential },
        ..small_config()
    };
    let mut agent = Agent::new(always, SPACES, SEEDS).unwrap();
    let obs = [0.1, 0.2, 0.3, 0.4];
    let ones: usize = (0..4000).map(|_| agent.act((&obs).into()).unwrap()).sum();
    // Binomial(4000, 0.5): sd 31.6; ±200 is over 6 sd.
    assert!((1800..=2200).contains(&ones), "{ones} of 4000");
    assert_eq!(agent.sample_count(), 4000);
    // ε = 0: always the greedy action.
    let never = DqnConfig {
        epsilon: EpsilonSchedule { start: 0.0, end: 0.0, decay: 1.0, shape: EpsilonShape::Exponential },
        ..small_config()
    };
    let mut agent = Agent::new(never, SPACES, SEEDS).unwrap();
    let greedy = agent.predict(&obs).unwrap();
    assert!((0..100).all(|_| agent.act((&obs).into()).unwrap() == greedy));
    assert_eq!(agent.epsilon(), 0.0);
}

#[test]
fn same_seeds_give_the_same_learner() {
    let run = || {
        let mut agent = Agent::new(small_config(), SPACES, SEEDS).unwrap();
        fill(&mut agent, 40);
        let mut actions = Vec::new();
        for i in 0..30 {
            actions.push(agent.act(agent::Frame::F32(&[i as f32 * 0.1, 0.0, 0.0, 0.0])).unwrap());
            agent.update().unwrap();
        }
        (actions, agent.policy().clone())
    };
    assert_eq!(run(), run());
}

#[test]
fn bad_settings_and_inputs_are_errors_naming_them() {
    let cases: [(DqnConfig, &str); 8] = [
        (DqnConfig { gamma: 1.5, ..small_config() }, "gamma"),
        (DqnConfig { lr: 0.0, ..small_config() }, "lr"),
        (DqnConfig { batch_size: 2000, ..small_config() }, "batch_size"),
        (DqnConfig { hidden: vec![16, 0], ..small_config() }, "hidden"),
        (DqnConfig { buffer_capacity: 0, ..small_config() }, "buffer_capacity"),
        (DqnConfig { target_update: TargetUpdate::Hard { every: 0 }, ..small_config() }, "target_update"),
        (
            DqnConfig {
                epsilon: EpsilonSchedule { start: 0.9, end: 0.1, decay: -1.0, shape: EpsilonShape::Exponential },
                ..small_config()
            },
            "epsilon.decay",
        ),
        (DqnConfig { loss: LossKind::Huber { delta: 0.0 }, ..small_config() }, "loss"),
    ];
    for (config, field) in cases {
        match Agent::new(config, SPACES, SEEDS) {
            Err(AgentError::InvalidConfig(e)) => assert_eq!(e.field, field),
            other => panic!("{field}: expected an InvalidConfig error, got {other:?}"),
        }
    }
    let mut agent = Agent::new(small_config(), SPACES, SEEDS).unwrap();
    assert_eq!(
        agent.act(agent::Frame::F32(&[0.0; 3])).unwrap_err(),
        AgentError::BadObservation(ObservationProblem::Rows { values: 3, row_len: 4, expected: 4 })
    );
    assert!(matches!(
        agent.predict(&[0.0, f32::NAN, 0.0, 0.0]),
        Err(AgentError::BadObservation(ObservationProblem::NonFinite { row: 0, index: 1, .. }))
    ));
    let s = [0.0; 4];
    let t = Transition {
        state: (&s).into(),
        action: 2,
        reward: 1.0,
        next_state: (&s).into(),
        terminated: false,
        truncated: false,
    };
    assert_eq!(agent.observe(t).unwrap_err(), AgentError::InvalidAction { action: 2, n_actions: 2 });
    let t = Transition { action: 0, reward: f32::NAN, ..t };
    assert!(matches!(agent.observe(t), Err(AgentError::Replay(ReplayError::NonFinite { field: "reward", .. }))));
    assert_eq!(agent.replay().len(), 0);
}

#[test]
fn divergence_is_an_error_not_a_panic() {
    // A learning rate of 1e30 blows the parameters up within a few steps.
    let config = DqnConfig { lr: 1e30, grad_clip: None, ..small_config() };
    let mut agent = Agent::new(config, SPACES, SEEDS).unwrap();
    fill(&mut agent, 50);
    let err = (0..100).find_map(|_| agent.update().err()).expect("training diverges");
    // The loss, a target or a gradient stops being finite first; nothing else.
    assert!(
        matches!(
            err,
            AgentError::NonFiniteGradient { .. } | AgentError::NonFiniteLoss { .. } | AgentError::NonFiniteQ { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("training diverged"), "{err}");
}

/// `act_batch` is `act` on each row in turn: the same actions, the same
/// random draws (so later choices agree too) and the same ε counter, with
/// rows that differ so the greedy choices are not all alike.
#[test]
fn act_batch_equals_acting_row_by_row() {
    let config = DqnConfig {
        epsilon: EpsilonSchedule { start: 0.9, end: 0.05, decay: 30.0, shape: EpsilonShape::Exponential },
        ..small_config()
    };
    let mut batched = Agent::new(config.clone(), SPACES, SEEDS).unwrap();
    let mut single = Agent::new(config, SPACES, SEEDS).unwrap();
    let mut actions = Vec::new();
    let mut greedy_seen = [0usize; 2];
    for step in 0..60 {
        let rows = 1 + step % 7;
        let obs: Vec<f32> = (0..rows * 4).map(|k| ((k * 37 + step * 11) % 23) as f32 * 4.0 - 44.0).collect();
        batched.act_batch((&obs).into(), &mut actions).unwrap();
        let expected: Vec<usize> = obs.chunks(4).map(|row| single.act(row.into()).unwrap()).collect();
        assert_eq!(actions, expected, "step {step}");
        for row in obs.chunks(4) {
            greedy_seen[single.predict(row).unwrap()] += 1;
        }
    }
    assert_eq!(batched.sample_count(), single.sample_count());
    assert!(greedy_seen.iter().all(|&n| n > 0), "both greedy actions occur: {greedy_seen:?}");
    // A bad row is refused before anything is drawn.
    let count = batched.sample_count();
    let err =
        batched.act_batch(agent::Frame::F32(&[0.0, 0.0, 0.0, 0.0, 1.0, f32::NAN, 0.0, 0.0]), &mut actions).unwrap_err();
    assert!(matches!(err, AgentError::BadObservation(ObservationProblem::NonFinite { row: 1, index: 1, .. })), "{err}");
    assert_eq!(
        batched.act_batch(agent::Frame::F32(&[0.0; 6]), &mut actions).unwrap_err(),
        AgentError::BadObservation(ObservationProblem::Rows { values: 6, row_len: 4, expected: 4 })
    );
    assert_eq!(batched.sample_count(), count);
}

/// Eight updates, each after one batched action for three environments:
/// the agent and whether each update copied the target.
fn syncs_with_three_actions_per_update(target_update: TargetUpdate) -> (Agent, Vec<bool>) {
    let mut agent = Agent::new(DqnConfig { target_update, ..small_config() }, SPACES, SEEDS).unwrap();
    fill(&mut agent, 20);
    let mut actions = Vec::new();
    let synced = (0..8)
        .map(|_| {
            agent.act_batch(agent::Frame::F32(&[0.1; 12]), &mut actions).unwrap(); // 3 actions
            agent.update().unwrap().unwrap().target_synced
        })
        .collect();
    (agent, synced)
}

/// Counted in gradient steps, whatever the actions between updates: with
/// three actions per update, `Hard { every: 4 }` would copy at updates 2, 3,
/// 4, 6, 7, 8 (above); `HardUpdates { every: 4 }` copies after updates 4
/// and 8 only (Young & Tian's count).
#[test]
fn hard_copies_counted_in_updates_follow_every_cth_update() {
    let (agent, synced) = syncs_with_three_actions_per_update(TargetUpdate::HardUpdates { every: 4 });
    assert_eq!(synced, [false, false, false, true, false, false, false, true]);
    assert_eq!(agent.n_target_syncs(), 2);
    assert_eq!(agent.policy(), agent.target(), "copied after the last update");
    let zero = DqnConfig { target_update: TargetUpdate::HardUpdates { every: 0 }, ..small_config() };
    let err = format!("{:?}", Agent::new(zero, SPACES, SEEDS).unwrap_err());
    assert!(err.contains("HardUpdates(every: 0)"), "{err}");
}

/// With several actions between updates (vectorized collection), a hard
/// copy happens on every update whose span of actions reaches a multiple
/// of C, so none is skipped when the step does not divide C.
#[test]
fn hard_copies_are_not_skipped_when_several_actions_pass_between_updates() {
    let (agent, synced) = syncs_with_three_actions_per_update(TargetUpdate::Hard { every: 4 });
    // sample_count 3, 6, 9, 12, 15, 18, 21, 24: multiples of 4 are reached
    // by 6 (4), 9 (8), 12, 18 (16), 21 (20), 24.
    assert_eq!(synced, [false, true, true, true, false, true, true, true]);
    assert_eq!(agent.n_target_syncs(), 6);
}

/// The seed's gradient step, counted by hand: forward 4·128 + 128·128 +
/// 128·2 = 17 152 multiply-adds per row, twice (target and policy), once
/// more for the weight gradients, plus 128·128 + 128·2 for the input
/// gradients of layers 2 and 3; times 64 rows and 2 FLOP each. Double DQN
/// adds one more forward pass (the policy on the next states).
#[test]
fn gradient_step_flop_count_by_hand() {
    let seed = DqnConfig::seed();
    let cartpole = Spaces::vectors(4, 2);
    assert_eq!(seed.gradient_step_flop(&cartpole), 2 * 64 * (3 * 17_152 + 16_640));
    let double = DqnConfig { double_dqn: true, ..seed };
    assert_eq!(double.gradient_step_flop(&cartpole), 2 * 64 * (4 * 17_152 + 16_640));
    let tiny = DqnConfig { hidden: vec![], batch_size: 1, ..DqnConfig::seed() };
    assert_eq!(tiny.gradient_step_flop(&Spaces::vectors(3, 2)), 2 * 3 * 6);
}

/// An update interrupted between gradient steps, frozen, thawed (through
/// serde, as a checkpoint does) and continued ends in exactly the state of
/// an update never interrupted; each interruption still takes a step.
#[test]
fn an_interrupted_update_continues_to_the_same_state() {
    let config = DqnConfig { gradient_steps: 7, target_update: TargetUpdate::Hard { every: 3 }, ..small_config() };
    let mut whole = Agent::new(config.clone(), SPACES, SEEDS).unwrap();
    let mut parts = Agent::new(config, SPACES, SEEDS).unwrap();
    fill(&mut whole, 40);
    fill(&mut parts, 40);
    for _ in 0..3 {
        whole.act(agent::Frame::F32(&[0.1, 0.2, 0.3, 0.4])).unwrap();
        parts.act(agent::Frame::F32(&[0.1, 0.2, 0.3, 0.4])).unwrap();
        let expected = whole.update().unwrap().unwrap();
        let mut interruptions = 0;
        let stats = loop {
            // Interrupt at every chance: one gradient step per call.
            match parts.update_interruptible(&|| true).unwrap() {
                UpdateOutcome::Learned(stats) => break stats,
                UpdateOutcome::Interrupted => {
                    interruptions += 1;
                    assert!(parts.update_in_progress());
                    let json = serde_json::to_string(&parts.to_state()).unwrap();
                    let mut stream = Vec::new();
                    parts.replay().write_to(&mut stream).unwrap();
                    let replay = agent::ReplayBuffer::read_from(&mut stream.as_slice(), None).unwrap();
                    let state = serde_json::from_str::<AgentState>(&json).unwrap();
                    let experience = agent::Experience { replay, priorities: parts.priorities().cloned() };
                    parts = Agent::from_state(state, experience).unwrap();
                }
                UpdateOutcome::NotYet => panic!("the buffer holds enough"),
            }
        };
        assert_eq!(interruptions, 6, "one step per call, the last one completes the update");
        assert_eq!(stats, expected);
        assert!(!parts.update_in_progress());
        assert_eq!(frozen(&parts), frozen(&whole));
    }
    assert!(whole.n_target_syncs() >= 1, "the target copy is part of what must match");
}

/// An environment that stacks its own frames (`by_environment`) makes the
/// same learner as single frames stacked by the agent: the same frames
/// stored, the same batches, actions and parameters, bit for bit — and a
/// stack that does not fit its observations is refused, naming `stack`.
#[test]
fn an_environment_s_own_stacks_learn_as_the_agent_s_stacks() {
    use agent::{FrameKind, FrameSpec, Padding, Stacking};
    const K: usize = 3;
    let frame = |t: usize, episode: usize| [((t * 7 + episode * 13) % 11) as f32 * 0.1, (t % 5) as f32 - 2.0];
    for padding in [Padding::Repeat, Padding::Zeros] {
        let by_agent = DqnConfig { stack: Stacking::of(K, padding), ..small_config() };
        let by_env = DqnConfig { stack: Stacking { by_environment: true, ..by_agent.stack }, ..small_config() };
        let single = Spaces { frame: FrameSpec { len: 2, kind: FrameKind::F32 }, image: None, n_actions: 2, envs: 1 };
        let stacked = Spaces { frame: FrameSpec { len: 2 * K, kind: FrameKind::F32 }, ..single };
        let mut a = Agent::new(by_agent, single, SEEDS).unwrap();
        let mut b = Agent::new(by_env, stacked, SEEDS).unwrap();
        // What a FrameStackObservation (or SB3's zero padding) shows.
        let stack_of = |frames: &[[f32; 2]]| -> Vec<f32> {
            let pad = match padding {
                Padding::Repeat => frames[0],
                Padding::Zeros => [0.0; 2],
            };
            let older = K.saturating_sub(frames.len());
            let start = frames.len().saturating_sub(K);
            (0..older).map(|_| pad).chain(frames[start..].iter().copied()).flatten().collect()
        };
        for episode in 0..12 {
            let mut frames = vec![frame(0, episode)];
            for t in 0..10 + episode {
                let (s1, s_k) = (frames[t], stack_of(&frames));
                let action = a.act((&s1).into()).unwrap();
                assert_eq!(b.act(s_k.as_slice().into()).unwrap(), action, "{padding:?} episode {episode} t {t}");
                frames.push(frame(t + 1, episode));
                let terminated = t == 9 + episode && episode % 2 == 0;
                let truncated = t == 9 + episode && !terminated;
                let (n1, n_k) = (frames[t + 1], stack_of(&frames));
                let reward = (t % 3) as f32;
                a.observe(Transition {
                    state: (&s1).into(),
                    action,
                    reward,
                    next_state: (&n1).into(),
                    terminated,
                    truncated,
                })
                .unwrap();
                b.observe(Transition {
                    state: s_k.as_slice().into(),
                    action,
                    reward,
                    next_state: n_k.as_slice().into(),
                    terminated,
                    truncated,
                })
                .unwrap();
                a.update().unwrap();
                b.update().unwrap();
            }
        }
        assert_eq!(a.replay().frames_pushed(), b.replay().frames_pushed());
        assert!(a.n_updates() > 50);
        assert_eq!(a.policy(), b.policy(), "{padding:?}");
    }
    let bad =
        DqnConfig { stack: Stacking { frames: 4, padding: Padding::Repeat, by_environment: true }, ..small_config() };
    let six = Spaces { frame: FrameSpec { len: 6, kind: FrameKind::F32 }, image: None, n_actions: 2, envs: 1 };
    let err = Agent::new(bad, six, SEEDS).expect_err("4 frames of 6 values are refused");
    assert!(matches!(&err, AgentError::InvalidConfig(e) if e.to_string().contains("stack")), "{err}");
}
