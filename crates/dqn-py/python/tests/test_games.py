"""Episode statistics from the environment's own ``info["episode"]``
(Gymnasium's ``RecordEpisodeStatistics``): ``DQN.ep_info_buffer`` holds
the games the environment reports, as Stable-Baselines3's does, even where
the agent's rewards or episodes differ from them."""

import gymnasium as gym
import numpy as np
import pytest

from dqn_rs import DQN


class Silent(gym.RewardWrapper):
    """The agent sees reward 0; the statistics inside see CartPole's 1s."""

    def reward(self, reward):
        return 0.0


class Reported(gym.Wrapper):
    """Keeps every ``info["episode"]`` that goes by, to compare with."""

    def __init__(self, env):
        super().__init__(env)
        self.seen = []

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "episode" in info:
            self.seen.append((float(info["episode"]["r"]), int(info["episode"]["l"])))
        return obs, reward, terminated, truncated, info


def test_a_single_env_reports_its_games():
    env = Reported(Silent(gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1"))))
    model = DQN("MlpPolicy", env, learning_starts=100, stats_window_size=1000, seed=0).learn(1500)
    got = [(e["r"], e["l"]) for e in model.ep_info_buffer]
    # The agent's own sums would all be 0; the games are CartPole's.
    assert got == env.seen and len(got) > 10 and all(r == l > 0 for r, l in got)


class SilentVector(gym.vector.VectorRewardWrapper):
    """The agent sees rewards 0; the vector statistics inside see 1s."""

    def rewards(self, rewards):
        return np.zeros_like(rewards)


def inner_statistics():
    def make():
        return Silent(gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1")))

    return gym.vector.SyncVectorEnv([make, make])


def vector_statistics():
    env = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    return SilentVector(gym.wrappers.vector.RecordEpisodeStatistics(env))


@pytest.mark.parametrize("make_env", [inner_statistics, vector_statistics], ids=["in-each-env", "vector-wrapper"])
def test_a_vector_env_reports_its_games(make_env):
    env = make_env()
    model = DQN("MlpPolicy", env, learning_starts=100, stats_window_size=1000, seed=0).learn(1500)
    got = [(e["r"], e["l"]) for e in model.ep_info_buffer]
    assert len(got) > 10 and all(r == l > 0 for r, l in got)
    # Games that ended within the steps taken.
    assert sum(l for _, l in got) <= model.num_timesteps


def test_without_statistics_the_agents_episodes_count():
    model = DQN("MlpPolicy", Silent(gym.make("CartPole-v1")), learning_starts=100, seed=0).learn(800)
    assert len(model.ep_info_buffer) > 5 and all(e["r"] == 0 for e in model.ep_info_buffer)
    assert np.mean([e["l"] for e in model.ep_info_buffer]) > 0
