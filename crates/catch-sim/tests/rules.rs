//! Catch's rules against a reference written from the rules' text, on every
//! start and action sequence proptest draws; the start's distribution; the
//! states it refuses; save and restore of a batch.

use catch_sim::{COLUMNS, EPISODE_STEPS, OBS_LEN, ROWS};
use env_core::{Env, EnvError, EnvFamily, ObsType, VecEnv};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The board bsuite draws: zeros, a 1 at the ball and at the paddle.
fn reference_board(ball_row: usize, ball_column: usize, paddle: usize) -> Vec<u8> {
    let mut board = vec![0u8; ROWS * COLUMNS];
    board[ball_row * COLUMNS + ball_column] = 1;
    board[(ROWS - 1) * COLUMNS + paddle] = 1;
    board
}

proptest! {
    #[test]
    fn episodes_follow_the_rules(column in 0..COLUMNS, actions in proptest::collection::vec(0usize..3, 9)) {
        let mut env = catch_sim::bsuite();
        let mut board = [0u8; OBS_LEN];
        env.reset_to(&[0.0, column as f64, 2.0], (&mut board[..]).into()).unwrap();
        prop_assert_eq!(&board[..], &reference_board(0, column, 2)[..]);
        let mut paddle: i64 = 2;
        for (t, &action) in actions.iter().enumerate() {
            paddle = (paddle + action as i64 - 1).clamp(0, COLUMNS as i64 - 1);
            let out = env.step(action, (&mut board[..]).into()).unwrap();
            let row = t + 1;
            prop_assert_eq!(&board[..], &reference_board(row, column, paddle as usize)[..]);
            let last = row == ROWS - 1;
            prop_assert_eq!(out.terminated, last);
            prop_assert!(!out.truncated);
            let reward = if !last { 0.0 } else if paddle as usize == column { 1.0 } else { -1.0 };
            prop_assert_eq!(out.reward, reward);
        }
        prop_assert_eq!(env.elapsed_steps(), EPISODE_STEPS);
        let over = env.step(1, (&mut board[..]).into());
        let refused = matches!(over, Err(EnvError::EpisodeOver { steps: 9, terminated: true, truncated: false }));
        prop_assert!(refused, "a step after the end: {:?}", over);
    }
}

#[test]
fn the_spec_is_a_binary_plane_without_a_step_limit() {
    let spec = catch_sim::family().spec();
    assert_eq!(spec.obs.shape(), [1, ROWS, COLUMNS]);
    assert_eq!(spec.obs.dtype(), ObsType::Bit);
    assert_eq!((spec.n_actions, spec.max_episode_steps), (3, None));
    // A family with a limit of its own reports it.
    let limited = catch_sim::CatchFamily::new(catch_sim::CatchDynamics, 5).unwrap();
    assert_eq!(limited.spec().max_episode_steps, Some(5));
}

#[test]
fn the_ball_starts_in_every_column_about_equally_often() {
    // 5 000 starts from one fixed seed: a chi-square statistic over the
    // five columns far above its 99.9 % point (18.5 for 4 degrees of
    // freedom) would mean a biased draw.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut env = catch_sim::bsuite();
    let mut board = [0u8; OBS_LEN];
    let mut counts = [0f64; COLUMNS];
    for _ in 0..5000 {
        env.reset(&mut rng, (&mut board[..]).into()).unwrap();
        let column = board[..COLUMNS].iter().position(|&c| c == 1).expect("the ball is in the top row");
        assert_eq!(board[(ROWS - 1) * COLUMNS + 2], 1, "the paddle starts in the middle");
        assert_eq!(board.iter().filter(|&&c| c == 1).count(), 2);
        counts[column] += 1.0;
    }
    let expected = 5000.0 / COLUMNS as f64;
    let chi2: f64 = counts.iter().map(|c| (c - expected).powi(2) / expected).sum();
    assert!(chi2 < 18.5, "column counts {counts:?}, chi-square {chi2}");
}

#[test]
fn states_off_the_board_are_refused_by_name() {
    let mut env = catch_sim::bsuite();
    let mut board = [0u8; OBS_LEN];
    for (state, index) in [
        ([10.0, 0.0, 0.0], 0),
        ([0.0, 5.0, 0.0], 1),
        ([0.0, 0.0, -1.0], 2),
        ([0.5, 0.0, 0.0], 0),
        ([0.0, 0.0, 1e300], 2),
    ] {
        match env.reset_to(&state, (&mut board[..]).into()) {
            Err(EnvError::StateOutOfRange { index: i, allowed, .. }) => {
                assert_eq!(i, index, "{state:?}");
                assert!(allowed.contains("integer"), "{allowed}");
            }
            other => panic!("{state:?}: {other:?}"),
        }
        assert!(!env.is_running(), "a refused start leaves the environment as it was");
    }
    let nan = env.reset_to(&[f64::NAN, 0.0, 0.0], (&mut board[..]).into());
    assert!(matches!(nan, Err(EnvError::NonFiniteState { index: 0, .. })), "{nan:?}");
    let wrong_buffer = env.reset_to(&[0.0, 0.0, 0.0], (&mut [0.0f32; OBS_LEN][..]).into());
    assert!(matches!(wrong_buffer, Err(EnvError::ObsType { expected: ObsType::U8, got: ObsType::F32 })));
}

#[test]
fn a_saved_batch_restores_to_the_same_future() {
    let family = catch_sim::family();
    let mut rngs: Vec<ChaCha8Rng> = (0..4).map(ChaCha8Rng::seed_from_u64).collect();
    let mut batch = family.batch(4, &mut rngs).unwrap();
    let mut action_rng = ChaCha8Rng::seed_from_u64(99);
    let step = |batch: &mut dyn VecEnv, rngs: &mut Vec<ChaCha8Rng>, rng: &mut ChaCha8Rng| {
        let actions: Vec<usize> = (0..4).map(|_| rand::Rng::random_range(rng, 0..3)).collect();
        batch.step(&actions, rngs).unwrap();
    };
    for _ in 0..13 {
        step(batch.as_mut(), &mut rngs, &mut action_rng);
    }
    let saved = batch.save().unwrap();
    let mut restored = family.restore(&saved).unwrap();
    let (mut rngs2, mut action_rng2) = (rngs.clone(), action_rng.clone());
    assert_eq!(restored.observations(), batch.observations());
    for _ in 0..30 {
        step(batch.as_mut(), &mut rngs, &mut action_rng);
        step(restored.as_mut(), &mut rngs2, &mut action_rng2);
        assert_eq!(restored.observations(), batch.observations());
        assert_eq!(restored.final_observations(), batch.final_observations());
        assert_eq!(restored.rewards(), batch.rewards());
        assert_eq!(restored.terminated(), batch.terminated());
    }
}

#[test]
fn a_crafted_saved_batch_with_a_ball_off_the_board_is_refused() {
    // Save a batch, then find the ball's column (an f64 the board can hold)
    // in its bytes and move it off the board: restoring must name the
    // state, not index outside the board.
    let family = catch_sim::family();
    let mut rngs: Vec<ChaCha8Rng> = vec![ChaCha8Rng::seed_from_u64(3)];
    let batch = family.batch(1, &mut rngs).unwrap();
    let saved = batch.save().unwrap();
    let column = batch.observations().row(0, OBS_LEN).unwrap();
    let env_core::Obs::U8(cells) = column else { panic!("a byte board") };
    let column = cells[..COLUMNS].iter().position(|&c| c == 1).unwrap() as f64;
    let state = [0.0f64, column, 2.0];
    let pattern: Vec<u8> = state.iter().flat_map(|v| v.to_le_bytes()).collect();
    let at = saved.windows(pattern.len()).position(|w| w == pattern).expect("the state is stored as three f64s");
    let mut crafted = saved.clone();
    crafted[at + 8..at + 16].copy_from_slice(&7.0f64.to_le_bytes());
    match family.restore(&crafted) {
        Err(EnvError::StateOutOfRange { index: 1, value, .. }) => assert_eq!(value, 7.0),
        other => panic!("{other:?}"),
    }
}
