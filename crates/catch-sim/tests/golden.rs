//! Cell-for-cell agreement with bsuite's Catch on every episode in
//! `tests/golden/*.json` (written by `tests/generate_golden.py` from
//! bsuite 0.3.5; the format is in that script). New files dropped into
//! that folder are picked up without code changes.

use std::path::Path;

use env_core::{Env, EnvError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Group {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    env_id: String,
    rows: usize,
    columns: usize,
    initial_state: [u32; 3],
    initial_obs: Vec<u8>,
    episode_length: usize,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    t: usize,
    action: usize,
    obs: Vec<u8>,
    reward: f64,
    terminated: bool,
    truncated: bool,
}

#[test]
fn every_golden_episode_matches_bsuite_cell_for_cell() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let (mut cases, mut catches, mut misses, mut columns) = (0, 0, 0, [0u32; catch_sim::COLUMNS]);
    for entry in std::fs::read_dir(&dir).expect("the golden folder") {
        let path = entry.expect("a folder entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a readable file");
        let group: Group = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in group.cases {
            let name = format!("{}: {}", path.display(), case.name);
            assert_eq!(case.env_id, catch_sim::ID, "{name}");
            assert_eq!((case.rows, case.columns), (catch_sim::ROWS, catch_sim::COLUMNS), "{name}");
            let mut env = catch_sim::bsuite();
            let mut board = [0u8; catch_sim::OBS_LEN];
            let start = case.initial_state.map(f64::from);
            env.reset_to(&start, (&mut board[..]).into()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(board[..], case.initial_obs[..], "{name}: the first board");
            assert_eq!(case.steps.len(), case.episode_length, "{name}");
            for step in &case.steps {
                let out = env.step(step.action, (&mut board[..]).into()).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(board[..], step.obs[..], "{name}: the board after step {}", step.t);
                assert_eq!(out.reward.to_bits(), step.reward.to_bits(), "{name}: the reward of step {}", step.t);
                assert_eq!(
                    (out.terminated, out.truncated),
                    (step.terminated, step.truncated),
                    "{name}: step {}",
                    step.t
                );
            }
            let last = case.steps.last().expect("an episode has steps");
            assert!(matches!(env.step(1, (&mut board[..]).into()), Err(EnvError::EpisodeOver { .. })), "{name}");
            cases += 1;
            columns[case.initial_state[1] as usize] += 1;
            if last.reward > 0.0 {
                catches += 1;
            } else {
                misses += 1;
            }
        }
    }
    // Guard against a regeneration that drops the interesting cases.
    assert!(cases >= 30 && catches >= 10 && misses >= 10, "{cases} cases, {catches} catches, {misses} misses");
    assert!(columns.iter().all(|&n| n > 0), "every start column is covered: {columns:?}");
}
