//! Every trajectory in `tests/golden_minatar/` (written by
//! `generate_golden.py` from the real `minatar` 1.0.15; the "MinAtar
//! trajectories" format of the golden-format page) replayed: each case's
//! environment seeded once and played through its episodes, reset between
//! them without reseeding, every observation bit, reward and terminal flag
//! equal, acts after the end included. Then a changed rule is caught.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used)]

use minatar_sim::{Game, MinAtar, Settings};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    game: String,
    channels: usize,
    sticky_action_prob: f64,
    difficulty_ramping: bool,
    seed: u32,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    initial_obs: String,
    episode_length: usize,
    steps_after_end: usize,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    t: usize,
    action: usize,
    reward: f64,
    terminal: bool,
    obs: String,
}

fn game(name: &str) -> Option<Game> {
    match name {
        "asterix" => Some(Game::Asterix),
        "breakout" => Some(Game::Breakout),
        "freeway" => Some(Game::Freeway),
        "seaquest" => Some(Game::Seaquest),
        "space_invaders" => Some(Game::SpaceInvaders),
        _ => None,
    }
}

/// `numpy.packbits` of the `[y][x][c]` booleans, as hex, unpacked to one
/// byte per cell.
fn unpack(hex: &str, cells: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    (0..cells).map(|i| bytes[i / 8] >> (7 - i % 8) & 1).collect()
}

fn cases() -> Vec<Case> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden_minatar");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let file: File = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            cases.extend(file.cases.into_iter().filter(|c| game(&c.game).is_some()));
        }
    }
    assert!(!cases.is_empty(), "no golden MinAtar cases in {dir}");
    cases
}

/// Replays `case`; the first difference, if any.
fn replay(case: &Case) -> Result<(), String> {
    let game = game(&case.game).unwrap();
    assert_eq!(game.channels(), case.channels, "{}", case.name);
    let settings =
        Settings { sticky_action_prob: case.sticky_action_prob, difficulty_ramping: case.difficulty_ramping };
    let cells = 100 * case.channels;
    let mut env = MinAtar::new(game, settings, case.seed);
    for (e, episode) in case.episodes.iter().enumerate() {
        if e > 0 {
            env.reset();
        }
        let at = |t: usize| format!("{} episode {e} step {t}", case.name);
        if env.state_hwc() != unpack(&episode.initial_obs, cells) {
            return Err(format!("{}: the initial observation differs", at(0)));
        }
        assert_eq!(episode.steps.len(), episode.episode_length + episode.steps_after_end, "{}", at(0));
        for step in &episode.steps {
            let (reward, terminal) = env.act(step.action).unwrap();
            if (f64::from(reward), terminal) != (step.reward, step.terminal) {
                return Err(format!(
                    "{}: reward, terminal {reward}, {terminal}; the package's {}, {}",
                    at(step.t),
                    step.reward,
                    step.terminal
                ));
            }
            if env.state_hwc() != unpack(&step.obs, cells) {
                return Err(format!("{}: the observation differs", at(step.t)));
            }
        }
    }
    Ok(())
}

#[test]
fn every_trajectory_equals_the_packages() {
    for case in cases() {
        replay(&case).unwrap();
    }
}

/// A corrupted golden observation is caught: the test can fail.
#[test]
fn a_changed_observation_is_caught() {
    let mut case = cases().into_iter().next().unwrap();
    let obs = &mut case.episodes[0].steps[2].obs;
    let flipped = if obs.starts_with('0') { "8" } else { "0" };
    obs.replace_range(0..1, flipped);
    assert!(replay(&case).is_err(), "{}: a flipped cell went unnoticed", case.name);
}

/// Acting after the end draws the sticky number and changes nothing else;
/// an action above 5 is an error, not a panic.
#[test]
fn acts_after_the_end_and_bad_actions() {
    let mut env = MinAtar::new(Game::Breakout, Settings::default(), 1);
    let mut steps = 0;
    while !env.act(0).unwrap().1 {
        steps += 1;
        assert!(steps < 10_000, "a no-op Breakout game ends");
    }
    let before = env.state_hwc();
    assert_eq!(env.act(3).unwrap(), (0, true));
    assert_eq!(env.state_hwc(), before);
    let err = env.act(6).unwrap_err();
    assert_eq!(err.action, 6);
    assert!(err.to_string().contains("action 6"), "{err}");
}
