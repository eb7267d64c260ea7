"""The Rust environments as Gymnasium environments: they pass Gymnasium's
own checker, register their ids (single and vector), and CartPole,
MountainCar and Acrobot give Gymnasium's trajectories bit for bit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dqn_rs
from dqn_rs import AcrobotEnv, CartPoleEnv, CatchEnv, MountainCarEnv

RUST = {
    "CartPole-v1": CartPoleEnv,
    "MountainCar-v0": MountainCarEnv,
    "Acrobot-v1": AcrobotEnv,
}


@pytest.mark.parametrize("cls", [CartPoleEnv, MountainCarEnv, AcrobotEnv, CatchEnv])
def test_check_env_passes(cls):
    check_env(cls(), skip_render_check=True)


@pytest.mark.parametrize("env_id", ["dqn_rs/CartPole-v1", "dqn_rs/MountainCar-v0", "dqn_rs/Acrobot-v1", "dqn_rs/Catch-v0"])
def test_registered_ids_make_and_pass_the_checker(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    vec = gym.make_vec(env_id, num_envs=3)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    obs, _ = vec.reset(seed=1)
    assert obs.shape == (3, *env.observation_space.shape)
    ended = 0
    for _ in range(1_100):
        obs, rewards, terminated, truncated, infos = vec.step(vec.action_space.sample())
        done = terminated | truncated
        if done.any():
            ended += int(done.sum())
            assert list(infos["_final_obs"]) == list(done)
            for i in np.flatnonzero(done):
                assert infos["final_obs"][i].shape == env.observation_space.shape
    assert ended > 0


@pytest.mark.parametrize("env_id", list(RUST))
def test_trajectories_equal_gymnasiums_bit_for_bit(env_id):
    for seed in (0, 1, 42, 2**31 + 5):
        ours, theirs = RUST[env_id](), gym.make(env_id).unwrapped
        a, _ = ours.reset(seed=seed)
        b, _ = theirs.reset(seed=seed)
        assert a.dtype == b.dtype == np.float32 and a.tobytes() == b.tobytes()
        rng = np.random.default_rng(seed)
        # Gymnasium's unwrapped class has no step limit; ours stops at it.
        for t in range(ours._max_episode_steps):
            action = int(rng.integers(0, ours.action_space.n))
            a, ra, ta, tra, _ = ours.step(action)
            b, rb, tb, _, _ = theirs.step(action)
            assert a.tobytes() == b.tobytes(), (env_id, seed, t)
            assert (float(ra), bool(ta)) == (float(rb), bool(tb)), (env_id, seed, t)
            assert tra == (t + 1 == ours._max_episode_steps)
            if ta:
                break


def test_catch_is_bsuites_board():
    env = CatchEnv()
    obs, _ = env.reset(seed=3)
    assert obs.shape == (1, 10, 5) and obs.dtype == np.uint8 and obs.sum() == 2
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(1)
        total, steps, done = total + reward, steps + 1, terminated or truncated
    assert steps == 9 and total in (-1.0, 1.0)


def test_dqn_runs_the_rust_environment_in_rust_for_its_ids():
    from dqn_rs.dqn import _rust_setting

    assert _rust_setting("CartPole-v1") is not None
    assert _rust_setting(gym.make("dqn_rs/Acrobot-v1")) is not None
    assert _rust_setting(CartPoleEnv()) is not None
    # A wrapper that changes what the agent sees keeps it in Python.
    assert _rust_setting(gym.wrappers.TransformReward(gym.make("dqn_rs/CartPole-v1"), lambda r: 2 * r)) is None
    model = dqn_rs.DQN("MlpPolicy", gym.make("dqn_rs/Catch-v0"), seed=0, learning_starts=50).learn(200)
    assert model.num_timesteps == 200
