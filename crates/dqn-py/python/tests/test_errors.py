"""Bad input gets a clear error naming what is wrong and where: spaces
refused at construction, an environment that returns the wrong thing, an
environment's own exception passed through unchanged, a damaged file."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from dqn_rs import DQN, CheckpointError, ConfigError, EnvError
from conftest import Corridor, CorridorBroke, Faulty

FAST = dict(learning_starts=10, target_update_interval=10, buffer_size=1_000)


def test_continuous_actions_are_refused_naming_the_space():
    with pytest.raises(ConfigError, match=r"Discrete action space.*Box"):
        DQN("MlpPolicy", gym.make("Pendulum-v1"))


def test_dict_observations_are_refused_naming_the_space():
    class DictObs(Corridor):
        def __init__(self):
            super().__init__()
            self.observation_space = spaces.Dict({"a": spaces.Box(0, 1, (2,))})

    with pytest.raises(ConfigError, match=r"observation space.*Dict"):
        DQN("MlpPolicy", DictObs())


def test_not_an_environment_is_a_type_error():
    with pytest.raises(TypeError, match="gymnasium.Env"):
        DQN("MlpPolicy", 42)


@pytest.mark.parametrize(
    "fault, message",
    [
        ("short_obs", r"shape \[5\].*\[8\]"),
        ("nan_reward", r"rewards.*NaN|rewards.*not finite|NaN"),
        ("nan_obs", r"observations.*NaN|NaN"),
        ("four_tuple", r"tuple of 4"),
    ],
)
def test_an_environment_that_returns_the_wrong_thing_is_named(fault, message):
    model = DQN("MlpPolicy", Faulty(fault, at=7), seed=0, **FAST)
    with pytest.raises(EnvError, match=message) as info:
        model.learn(100)
    # The message names the environment and where in training it failed.
    assert "Faulty" in str(info.value) and "step" in str(info.value)


def test_the_environments_own_exception_reaches_the_caller_unchanged():
    model = DQN("MlpPolicy", Faulty("raise", at=7), seed=0, **FAST)
    with pytest.raises(CorridorBroke, match="broke on step 7"):
        model.learn(100)


def test_bad_settings_name_the_setting():
    with pytest.raises(ConfigError, match="train_freq"):
        DQN("MlpPolicy", "CartPole-v1", train_freq=(1, "episode"))
    with pytest.raises(ConfigError, match="device"):
        DQN("MlpPolicy", "CartPole-v1", device="cuda")
    with pytest.raises(ConfigError, match="max_grad_norm"):
        DQN("MlpPolicy", "CartPole-v1", max_grad_norm=-1.0)
    with pytest.raises(ConfigError, match="activation_fn"):
        DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn="tanh"))


def test_a_damaged_or_foreign_file_is_refused(tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="not a saved dqn_rs model"):
        DQN.load(path)
    model = DQN("MlpPolicy", "CartPole-v1", seed=0, **FAST).learn(50)
    model.save(tmp_path / "good")
    import zipfile

    with zipfile.ZipFile(tmp_path / "good.zip") as z, zipfile.ZipFile(tmp_path / "cut.zip", "w") as out:
        for name in z.namelist():
            data = z.read(name)
            out.writestr(name, data[: len(data) // 2] if name == "checkpoint.bin" else data)
    with pytest.raises(CheckpointError, match="cut.zip|checkpoint"):
        DQN.load(tmp_path / "cut.zip")
