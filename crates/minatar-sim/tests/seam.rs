//! The games behind `env_core`'s traits: each episode is the package's
//! episode for the seed its reset drew (checked against [`MinAtar`], which
//! the golden trajectories check against the package), a batch saved
//! mid-episode resumes exactly, and a damaged saved batch is a named error.

use env_core::{Env, EnvError, EnvFamily, Inconsistency, ObsMut, SavedEnv, VecEnv};
use minatar_sim::{ActionSet, EpisodeLog, Game, MinAtar, MinAtarEnv, MinAtarFamily, Rules, StoredMinAtarEnv};
use proptest::prelude::*;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn planes(game: Game) -> Vec<u8> {
    vec![0; game.channels() * 100]
}

#[test]
fn an_episode_is_the_package_game_for_the_seed_its_reset_drew() {
    for game in Game::ALL {
        for actions in [ActionSet::Full, ActionSet::Minimal] {
            let rules = Rules { actions, ..Rules::new(game) };
            let mut env = MinAtarEnv::new(rules).unwrap();
            let mut reset_rng = ChaCha8Rng::seed_from_u64(11);
            let seed = reset_rng.clone().next_u32();
            let mut obs = planes(game);
            env.reset(&mut reset_rng, (&mut obs[..]).into()).unwrap();
            assert_eq!(env.episode().unwrap().seed, seed);
            let mut reference = MinAtar::new(game, rules.settings, seed);
            let mut expected = Vec::new();
            reference.state_into(&mut expected);
            assert_eq!(obs, expected, "{game:?}: first observation");
            let mut policy = ChaCha8Rng::seed_from_u64(5);
            for step in 0..3_000 {
                let action = policy.random_range(0..rules.n_actions());
                let package_action = match actions {
                    ActionSet::Full => action,
                    ActionSet::Minimal => game.minimal_actions()[action],
                };
                let outcome = env.step(action, (&mut obs[..]).into()).unwrap();
                let (reward, terminal) = reference.act(package_action).unwrap();
                reference.state_into(&mut expected);
                assert_eq!(obs, expected, "{game:?} {actions:?}: step {step}");
                assert_eq!(
                    (outcome.reward, outcome.terminated, outcome.truncated),
                    (f64::from(reward), terminal, false)
                );
                if terminal {
                    assert!(!env.is_running());
                    break;
                }
            }
        }
    }
}

#[test]
fn the_spec_names_the_package_ids_and_binary_planes() {
    let spec = MinAtarEnv::new(Rules::new(Game::SpaceInvaders)).unwrap().spec();
    assert_eq!(spec.id, "MinAtar/SpaceInvaders-v0");
    assert_eq!(spec.obs.shape(), &[6, 10, 10]);
    assert_eq!(spec.n_actions, 6);
    assert_eq!(spec.max_episode_steps, None);
    let minimal = Rules { actions: ActionSet::Minimal, ..Rules::new(Game::Breakout) };
    assert_eq!(minimal.id(), "MinAtar/Breakout-v1");
    for game in Game::ALL {
        for actions in [ActionSet::Full, ActionSet::Minimal] {
            let rules = Rules { actions, ..Rules::new(game) };
            assert_eq!(Rules::from_id(rules.id()), Some(rules));
        }
    }
    assert_eq!(Rules::from_id("MinAtar/Pong-v0"), None);
    assert_eq!(Rules::from_id("MinAtar/Breakout-v2"), None);
    assert_eq!(minimal.n_actions(), 3);
    assert_eq!(Game::from_name("space_invaders"), Some(Game::SpaceInvaders));
    assert_eq!(Game::from_name("SpaceInvaders"), Some(Game::SpaceInvaders));
    assert_eq!(Game::from_name("pong"), None);
}

#[test]
fn misuse_is_a_named_error() {
    let rules = Rules { actions: ActionSet::Minimal, ..Rules::new(Game::Breakout) };
    let mut env = MinAtarEnv::new(rules).unwrap();
    let mut obs = planes(Game::Breakout);
    assert!(matches!(env.step(0, (&mut obs[..]).into()), Err(EnvError::NotReset)));
    let mut short = [0u8; 10];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let before = rng.clone();
    assert!(matches!(
        env.reset(&mut rng, (&mut short[..]).into()),
        Err(EnvError::StateLength { expected: 400, got: 10, .. })
    ));
    assert_eq!(rng, before, "a refused reset draws nothing");
    let mut floats = vec![0f32; 400];
    assert!(matches!(env.reset(&mut rng, ObsMut::F32(&mut floats)), Err(EnvError::ObsType { .. })));
    env.reset(&mut rng, (&mut obs[..]).into()).unwrap();
    assert!(matches!(env.step(3, (&mut obs[..]).into()), Err(EnvError::InvalidAction { action: 3, n_actions: 3 })));
    while !env.step(0, (&mut obs[..]).into()).unwrap().is_done() {}
    assert!(matches!(env.step(0, (&mut obs[..]).into()), Err(EnvError::EpisodeOver { terminated: true, .. })));
    let bad = Rules { settings: minatar_sim::Settings { sticky_action_prob: f64::NAN, ..Default::default() }, ..rules };
    assert!(matches!(MinAtarEnv::new(bad), Err(EnvError::InvalidSetting { name: "sticky_action_prob", .. })));
    assert!(
        MinAtarFamily::new(Rules {
            settings: minatar_sim::Settings { sticky_action_prob: 1.5, ..Default::default() },
            ..rules
        })
        .is_err()
    );
}

/// Steps `batch` under actions drawn from `policy`, returning every
/// observation, reward and end flag seen.
fn run(batch: &mut dyn VecEnv, resets: &mut Vec<ChaCha8Rng>, policy: &mut ChaCha8Rng, steps: usize) -> Vec<Vec<u8>> {
    let n_actions = batch.spec().n_actions;
    let mut seen = Vec::new();
    for _ in 0..steps {
        let actions: Vec<usize> = (0..batch.len()).map(|_| policy.random_range(0..n_actions)).collect();
        batch.step(&actions, resets).expect("a batch steps on valid actions");
        let mut row = Vec::new();
        for obs in [batch.observations(), batch.final_observations()] {
            let env_core::Obs::U8(cells) = obs else { panic!("MinAtar observes bytes") };
            row.extend_from_slice(cells);
        }
        row.extend(batch.rewards().iter().map(|&r| r as u8));
        row.extend(batch.terminated().iter().map(|&t| u8::from(t)));
        row.extend(batch.elapsed_steps().iter().flat_map(|s| s.to_le_bytes()));
        seen.push(row);
    }
    seen
}

#[test]
fn a_batch_saved_mid_episode_resumes_exactly() {
    for game in Game::ALL {
        let family = MinAtarFamily::new(Rules::new(game)).unwrap();
        let mut resets: Vec<ChaCha8Rng> = (0..3).map(ChaCha8Rng::seed_from_u64).collect();
        let mut policy = ChaCha8Rng::seed_from_u64(99);
        let mut batch = family.batch(3, &mut resets).unwrap();
        run(batch.as_mut(), &mut resets, &mut policy, 150);
        let saved = batch.save().unwrap();
        let (mut resets_copy, mut policy_copy) = (resets.clone(), policy.clone());
        let straight = run(batch.as_mut(), &mut resets, &mut policy, 400);
        let mut restored = family.restore(&saved).unwrap();
        let resumed = run(restored.as_mut(), &mut resets_copy, &mut policy_copy, 400);
        assert_eq!(straight, resumed, "{game:?}");
        // Another game's family refuses the batch.
        let other = MinAtarFamily::new(Rules::new(if game == Game::Asterix { Game::Breakout } else { Game::Asterix }));
        assert!(matches!(other.unwrap().restore(&saved), Err(EnvError::Inconsistent(Inconsistency::Rules))));
    }
}

fn stored(episode: Option<EpisodeLog>, over: bool) -> StoredMinAtarEnv {
    StoredMinAtarEnv { rules: Rules::new(Game::Breakout), episode, over }
}

fn replay_error(stored: StoredMinAtarEnv) -> (usize, &'static str) {
    match MinAtarEnv::from_stored(stored) {
        Err(EnvError::Inconsistent(Inconsistency::Replay { step, problem })) => (step, problem),
        other => panic!("expected a replay error, got {other:?}"),
    }
}

#[test]
fn a_damaged_stored_episode_is_named() {
    // A whole episode of Breakout under no-ops: it ends.
    let mut game = MinAtar::new(Game::Breakout, minatar_sim::Settings::default(), 4);
    let mut actions = Vec::new();
    while !game.terminal() {
        game.act(0).unwrap();
        actions.push(0u8);
    }
    let log = |actions: Vec<u8>| Some(EpisodeLog { seed: 4, last_action: 0, actions });
    assert!(MinAtarEnv::from_stored(stored(log(actions.clone()), true)).is_ok());
    let n = actions.len();
    assert_eq!(replay_error(stored(log(actions.clone()), false)), (n, "the game is over, stored as running"));
    assert_eq!(
        replay_error(stored(log(actions[..n - 1].to_vec()), true)).1,
        "stored as ended, but the game is not over"
    );
    let mut longer = actions.clone();
    longer.push(0);
    assert_eq!(replay_error(stored(log(longer), true)), (n, "an action after the game ended"));
    assert_eq!(replay_error(stored(log(vec![0, 9]), false)), (2, "an action outside the action set"));
    assert_eq!(
        replay_error(stored(Some(EpisodeLog { seed: 4, last_action: 6, actions: vec![] }), false)).1,
        "a last action above 5"
    );
    assert_eq!(replay_error(stored(None, true)).1, "an episode that ended before any reset");
    let minimal = StoredMinAtarEnv {
        rules: Rules { actions: ActionSet::Minimal, ..Rules::new(Game::Breakout) },
        episode: log(vec![2]),
        over: false,
    };
    assert_eq!(replay_error(minimal), (1, "an action outside the action set"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever bytes a saved batch is made of, restoring them is a value
    /// or an error, never a panic.
    #[test]
    fn restoring_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let family = MinAtarFamily::new(Rules::new(Game::Seaquest)).unwrap();
        let _ = family.restore(&bytes);
    }

    /// A saved batch with one byte changed restores to a batch or an
    /// error, never a panic.
    #[test]
    fn a_saved_batch_with_a_byte_changed_never_panics(at in any::<prop::sample::Index>(), value in any::<u8>()) {
        let family = MinAtarFamily::new(Rules::new(Game::Freeway)).unwrap();
        let mut resets: Vec<ChaCha8Rng> = (0..2).map(ChaCha8Rng::seed_from_u64).collect();
        let mut batch = family.batch(2, &mut resets).unwrap();
        for _ in 0..30 {
            batch.step(&[2, 1], &mut resets).unwrap();
        }
        let mut saved = batch.save().unwrap();
        let i = at.index(saved.len());
        saved[i] = value;
        let _ = family.restore(&saved);
    }
}
