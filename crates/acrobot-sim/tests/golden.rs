//! Bit-for-bit agreement with Gymnasium's Acrobot-v1, on every trajectory in
//! `tests/golden/*.json` (written by `tests/generate_golden.py` from
//! gymnasium 1.4.0, after checking that numpy's cos/sin equal libm's on the
//! machine; format in `shared/golden-format.md`). New files dropped into that
//! folder are picked up without code changes.

use std::path::Path;

use acrobot_sim::{AcrobotDynamics, AcrobotFamily};
use env_core::golden::check_folder;

#[test]
fn every_golden_trajectory_matches_gymnasium_bit_for_bit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let make = |limit| {
        let family = AcrobotFamily::new(AcrobotDynamics, limit).expect("a positive step limit");
        env_core::EnvFamily::single(&family).expect("an environment")
    };
    let checked = check_folder(&dir, acrobot_sim::ID, &make);
    // Guard against a regeneration that silently drops the edge cases.
    assert!(checked.cases >= 15 && checked.terminations >= 5 && checked.truncations >= 5, "{checked:?}");
    assert!(checked.both >= 1, "{checked:?}");
    eprintln!("{checked:?}");
}
