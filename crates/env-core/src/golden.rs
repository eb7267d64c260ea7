//! Replays Gymnasium's recorded trajectories (the format of
//! `shared/golden-format.md`) through an environment and compares every
//! state and observation bit for bit: the environment crates' golden tests
//! call [`check_folder`], so every `*.json` dropped into their folder is
//! checked.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Env, EnvError, ObsMut};

#[derive(Deserialize)]
struct Group {
    group: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    env_id: String,
    max_episode_steps: u32,
    initial_state: F64Vec,
    initial_obs: F32Vec,
    episode_length: u32,
    steps_after_end: u32,
    steps: Vec<Step>,
}

/// One recorded step: the action taken and what Gymnasium returned.
#[derive(Deserialize)]
pub struct Step {
    /// The step's number, from 1.
    pub t: u32,
    /// The action taken.
    pub action: usize,
    /// The state after the step.
    pub state: F64Vec,
    /// The observation after the step.
    pub obs: F32Vec,
    /// The reward of the step.
    pub reward: f64,
    /// Gymnasium's `terminated`.
    pub terminated: bool,
    /// Gymnasium's `truncated`.
    pub truncated: bool,
}

/// A recorded `float64` vector, as the hex of its IEEE-754 bits.
#[derive(Deserialize)]
pub struct F64Vec {
    /// 16 hex digits per entry.
    pub bits: Vec<String>,
}

/// A recorded `float32` vector, as the hex of its IEEE-754 bits.
#[derive(Deserialize)]
pub struct F32Vec {
    /// 8 hex digits per entry.
    pub u32: Vec<String>,
}

impl F64Vec {
    /// The values.
    ///
    /// # Panics
    /// On an entry that is not 16 hex digits (a broken golden file).
    #[must_use]
    pub fn values(&self) -> Vec<f64> {
        self.bits.iter().map(|b| f64::from_bits(u64::from_str_radix(b, 16).expect("16 hex digits"))).collect()
    }
}

impl F32Vec {
    /// The values' bits.
    ///
    /// # Panics
    /// On an entry that is not 8 hex digits (a broken golden file).
    #[must_use]
    pub fn bits(&self) -> Vec<u32> {
        self.u32.iter().map(|b| u32::from_str_radix(b, 16).expect("8 hex digits")).collect()
    }
}

/// What [`check_folder`] compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checked {
    /// Files read.
    pub files: usize,
    /// Cases of the environment replayed.
    pub cases: usize,
    /// Steps compared.
    pub steps: u32,
    /// Cases that end in termination.
    pub terminations: usize,
    /// Cases that end in truncation.
    pub truncations: usize,
    /// Cases that end in both on the same step.
    pub both: usize,
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Every `*.json` file of `dir`, sorted by name.
///
/// # Panics
/// If the folder cannot be listed.
#[must_use]
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Replays every case whose `env_id` is `env_id` in every `*.json` of
/// `dir`, on environments made by `make(max_episode_steps)`, and panics at
/// the first difference (this is for tests), naming the file, case and step.
///
/// # Panics
/// At a difference, or an unreadable file.
#[must_use]
pub fn check_folder(dir: &Path, env_id: &str, make: &dyn Fn(u32) -> Box<dyn Env>) -> Checked {
    let files = json_files(dir);
    let mut checked = Checked { files: files.len(), ..Checked::default() };
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let group: Group = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for case in group.cases.iter().filter(|c| c.env_id == env_id) {
            let origin = format!("{file}: {}/{}", group.group, case.name);
            checked.steps += check_case(case, &origin, make(case.max_episode_steps).as_mut());
            checked.cases += 1;
            let last = case.steps.iter().find(|s| s.t == case.episode_length).expect("the last step");
            checked.terminations += usize::from(last.terminated);
            checked.truncations += usize::from(last.truncated);
            checked.both += usize::from(last.terminated && last.truncated);
        }
    }
    checked
}

fn check_case(case: &Case, origin: &str, env: &mut dyn Env) -> u32 {
    let obs_dim = env.spec().obs.len();
    let mut obs = vec![0.0f32; obs_dim];
    let initial = case.initial_state.values();
    env.reset_to(&initial, ObsMut::F32(&mut obs)).unwrap_or_else(|e| panic!("{origin}: reset_to: {e}"));
    assert_eq!(bits(env.state()), bits(&initial), "{origin}: initial state");
    let got: Vec<u32> = obs.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, case.initial_obs.bits(), "{origin}: initial observation");
    let mut compared = 0;
    for step in case.steps.iter().take_while(|s| s.t <= case.episode_length) {
        let at = format!("{origin}, t={}", step.t);
        let out = env.step(step.action, ObsMut::F32(&mut obs)).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(bits(env.state()), bits(&step.state.values()), "{at}: state bits");
        let got: Vec<u32> = obs.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, step.obs.bits(), "{at}: observation bits");
        assert_eq!(out.reward.to_bits(), step.reward.to_bits(), "{at}: reward");
        assert_eq!((out.terminated, out.truncated), (step.terminated, step.truncated), "{at}: flags");
        assert_eq!(out.is_done(), step.t == case.episode_length, "{at}: episode end");
        compared += 1;
    }
    assert_eq!(compared, case.episode_length, "{origin}: the file holds every step up to the end");
    // One step more is refused, as the episode is over.
    let err = env.step(0, ObsMut::F32(&mut obs)).expect_err("a step after the end");
    assert!(matches!(err, EnvError::EpisodeOver { steps, .. } if steps == case.episode_length), "{origin}: {err}");
    let _ = case.steps_after_end;
    compared
}
