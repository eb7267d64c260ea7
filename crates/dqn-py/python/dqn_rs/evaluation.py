"""``evaluate_policy``: Stable-Baselines3's function of the same name and
signature, for users without SB3 (SB3's own works on a ``DQN`` too: it
calls only ``predict``)."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np


def evaluate_policy(
    model: Any,
    env: gym.Env,
    n_eval_episodes: int = 10,
    deterministic: bool = True,
    render: bool = False,
    callback: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    reward_threshold: float | None = None,
    return_episode_rewards: bool = False,
    warn: bool = True,
) -> tuple[float, float] | tuple[list[float], list[int]]:
    """Plays ``n_eval_episodes`` episodes of ``model.predict`` on ``env`` (one
    ``gymnasium.Env``) and returns the mean and standard deviation of their
    returns (or the returns and lengths, with ``return_episode_rewards``)."""
    if not isinstance(env, gym.Env):
        raise TypeError(f"env must be one gymnasium.Env; got {type(env).__name__}")
    returns: list[float] = []
    lengths: list[int] = []
    for _ in range(int(n_eval_episodes)):
        obs, _ = env.reset()
        done, total, steps = False, 0.0, 0
        while not done:
            action, _ = model.predict(obs, deterministic=deterministic)
            obs, reward, terminated, truncated, _ = env.step(action)
            total, steps = total + float(reward), steps + 1
            done = bool(terminated or truncated)
            if callback is not None:
                callback(locals(), globals())
            if render:
                env.render()
        returns.append(total)
        lengths.append(steps)
    mean, std = float(np.mean(returns)), float(np.std(returns))
    if reward_threshold is not None and mean < reward_threshold:
        raise AssertionError(f"mean reward {mean:.2f} is below the threshold {reward_threshold:.2f}")
    if return_episode_rewards:
        return returns, lengths
    return mean, std
