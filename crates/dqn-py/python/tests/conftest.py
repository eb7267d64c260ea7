"""Environments written in Python for the tests: a corridor DQN must learn,
and environments that misbehave in each way dqn_rs must name."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces


class Corridor(gym.Env):
    """Eight cells; start in cell 3; action 1 moves right, 0 left. Reaching
    cell 7 pays 1 and ends the episode; cell 0 pays 0.1 and ends it (a
    nearer, smaller prize); 20 steps cut it. The observation is the cell,
    one-hot. Optimal return: 1."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, shape=(8,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.position, self.steps = 3, 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(8, dtype=np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        # A random start in 2..4, from the seeded np_random.
        self.position, self.steps = int(self.np_random.integers(2, 5)), 0
        return self._obs(), {}

    def step(self, action):
        self.position += 1 if int(action) == 1 else -1
        self.steps += 1
        terminated = self.position in (0, 7)
        reward = 1.0 if self.position == 7 else (0.1 if self.position == 0 else 0.0)
        return self._obs(), reward, terminated, self.steps >= 20, {}


class PixelCatch(gym.Env):
    """bsuite's Catch drawn as an 8-bit image, channels last (as Gymnasium's
    image environments are): a 10 x 5 board, a ball falling one row a step
    from a random column, a paddle on the bottom row moved left (0), not
    (1) or right (2). Catching pays 1, missing -1; 9 steps an episode.
    Pixels are 255 where the ball or the paddle is."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0, 255, shape=(10, 5, 1), dtype=np.uint8)
        self.action_space = spaces.Discrete(3)
        self.ball, self.row, self.paddle = 0, 0, 2

    def _obs(self) -> np.ndarray:
        board = np.zeros((10, 5, 1), dtype=np.uint8)
        board[self.row, self.ball, 0] = 255
        board[9, self.paddle, 0] = 255
        return board

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ball, self.row, self.paddle = int(self.np_random.integers(5)), 0, 2
        return self._obs(), {}

    def step(self, action):
        self.paddle = min(4, max(0, self.paddle + int(action) - 1))
        self.row += 1
        terminated = self.row == 9
        reward = (1.0 if self.ball == self.paddle else -1.0) if terminated else 0.0
        return self._obs(), reward, terminated, False, {}


class Faulty(Corridor):
    """A corridor that goes wrong on its `at`-th step, in the way `fault` says."""

    def __init__(self, fault: str, at: int = 5) -> None:
        super().__init__()
        self.fault, self.at, self.total = fault, at, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self.total += 1
        if self.total >= self.at:
            if self.fault == "short_obs":
                obs = obs[:5]
            elif self.fault == "nan_reward":
                reward = float("nan")
            elif self.fault == "nan_obs":
                obs = obs.copy()
                obs[2] = np.nan
            elif self.fault == "raise":
                raise CorridorBroke(f"broke on step {self.total}")
            elif self.fault == "four_tuple":
                return obs, reward, terminated or truncated, info
        return obs, reward, terminated, truncated, info


class CorridorBroke(Exception):
    """The faulty corridor's own exception."""


def greedy_return(model, env: gym.Env, episodes: int, seed: int) -> float:
    """Mean return of greedy episodes, played with `predict` as SB3's
    `evaluate_policy` plays them."""
    total = 0.0
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
    return total / episodes


@pytest.fixture
def corridor() -> Corridor:
    return Corridor()
