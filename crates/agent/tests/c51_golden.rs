//! The C51 projection against PyTorch: every case of every file in
//! `tests/golden_c51/` (written by `tests/generate_c51_golden.py`, in the
//! "C51 projection" format of `shared/golden-format.md`), at its tolerance
//! (rtol 1e-5, atol 1e-5), each projected row also summing to 1.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use agent::c51::Support;
use serde::Deserialize;

mod common;
use common::{F32s, json_files};

#[derive(Deserialize)]
struct Group {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    v_min: f64,
    v_max: f64,
    n_atoms: usize,
    support: F32s,
    rewards: F32s,
    discounts: F32s,
    terminated: F32s,
    next_probs: F32s,
    projected: F32s,
}

const TOL: f32 = 1e-5;

#[test]
fn every_golden_projection_matches_pytorch() {
    let files = json_files("golden_c51");
    let mut rows_checked = 0;
    for path in files {
        let group: Group = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in &group.cases {
            let what = format!("{} {}", path.file_name().unwrap().to_string_lossy(), case.name);
            let support = Support::new(case.v_min, case.v_max, case.n_atoms).unwrap();
            let n = case.n_atoms;
            // The support as linspace gives it, within the format's tolerance.
            for (j, z) in case.support.values().into_iter().enumerate() {
                assert!((support.atom(j) - z).abs() <= TOL * z.abs() + TOL, "{what}: atom {j}");
            }
            let (rewards, discounts, terminated) =
                (case.rewards.values(), case.discounts.values(), case.terminated.values());
            let (next, expected) = (case.next_probs.values(), case.projected.values());
            assert_eq!(case.projected.shape.as_deref(), Some(&[rewards.len(), n][..]), "{what}: shape");
            let mut out = vec![0.0; n];
            for (r, ((&reward, &discount), &done)) in rewards.iter().zip(&discounts).zip(&terminated).enumerate() {
                support.project(reward, discount, done == 1.0, &next[r * n..(r + 1) * n], &mut out);
                for (j, (&got, &want)) in out.iter().zip(&expected[r * n..(r + 1) * n]).enumerate() {
                    assert!((got - want).abs() <= TOL * want.abs() + TOL, "{what} row {r} atom {j}: {got} vs {want}");
                }
                let sum: f32 = out.iter().sum();
                assert!((sum - 1.0).abs() <= TOL, "{what} row {r}: mass {sum}");
                rows_checked += 1;
            }
        }
    }
    assert!(rows_checked >= 80, "{rows_checked} rows");
}
