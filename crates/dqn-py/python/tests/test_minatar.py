"""MinAtar's games from Python (a build with the `minatar` feature): the
package's ids pass Gymnasium's checker, the first episode of every golden
trajectory the real ``minatar`` package wrote (crates/minatar-sim/tests/
golden_minatar) replays bit for bit through ``reset(seed=s)``, and
``dqn_rs.DQN`` trains on an id in Rust."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dqn_rs
from dqn_rs import MinAtarEnv
from dqn_rs.envs import MINATAR_GAMES

pytestmark = pytest.mark.skipif(not dqn_rs._dqn_rs.HAS_MINATAR, reason="built without the `minatar` feature")

GOLDEN = Path(__file__).resolve().parents[2].parent / "minatar-sim" / "tests" / "golden_minatar"


@pytest.mark.parametrize("game", MINATAR_GAMES)
@pytest.mark.parametrize("version", [0, 1])
def test_the_package_ids_pass_the_checker(game, version):
    env = gym.make(f"MinAtar/{game}-v{version}")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.bool_ and obs.shape[:2] == (10, 10)
    assert env.observation_space.contains(obs)
    # The package's minimal_action_set() sizes for -v1; all six for -v0.
    minimal = {"Asterix": 5, "Breakout": 3, "Freeway": 3, "Seaquest": 6, "SpaceInvaders": 4}
    assert env.action_space.n == (minimal[game] if version == 1 else 6)
    channels = {"Asterix": 4, "Breakout": 4, "Freeway": 7, "Seaquest": 10, "SpaceInvaders": 6}
    assert env.observation_space.shape == (10, 10, channels[game])


def _planes(hex_text: str, channels: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_text), dtype=np.uint8))
    return bits[: 100 * channels].reshape(10, 10, channels).astype(bool)


def test_reset_with_a_seed_replays_the_packages_golden_episodes():
    files = sorted(GOLDEN.glob("*.json"))
    assert len(files) == 5
    checked = 0
    for path in files:
        for case in json.loads(path.read_text())["cases"]:
            env = MinAtarEnv(
                case["game"],
                sticky_action_prob=case["sticky_action_prob"],
                difficulty_ramping=case["difficulty_ramping"],
            )
            # The first episode after seed(s) is the package's reset(seed=s).
            episode = case["episodes"][0]
            obs, _ = env.reset(seed=case["seed"])
            assert np.array_equal(obs, _planes(episode["initial_obs"], case["channels"])), case["name"]
            for step in episode["steps"][: episode["episode_length"]]:
                obs, reward, terminated, truncated, _ = env.step(step["action"])
                where = f"{case['name']} step {step['t']}"
                assert np.array_equal(obs, _planes(step["obs"], case["channels"])), where
                assert (reward, terminated, truncated) == (step["reward"], step["terminal"], False), where
                checked += 1
    assert checked > 10_000


def test_a_game_outside_the_five_and_a_bad_seed_are_named():
    with pytest.raises(ValueError, match="pong"):
        MinAtarEnv("pong")
    with pytest.raises(ValueError, match="RandomState"):
        MinAtarEnv("breakout").reset(seed=2**32)
    assert dqn_rs.envs.RUST_IDS["MinAtar/SpaceInvaders-v1"] == "MinAtar(game: SpaceInvaders, actions: Minimal)"


def test_dqn_trains_on_a_package_id_in_rust():
    model = dqn_rs.DQN("CnnPolicy", "MinAtar/Breakout-v1", learning_starts=50, buffer_size=500, seed=0)
    model.learn(300)
    assert model.num_timesteps == 300
    env = gym.make("MinAtar/Breakout-v1")
    obs, _ = env.reset(seed=0)
    # The model reads the Rust planes channel first; predict takes the
    # package's layout from Python.
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
