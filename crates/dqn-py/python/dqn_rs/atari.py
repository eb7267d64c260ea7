"""Atari through ale-py and Gymnasium's own wrappers, as the two protocols
published Atari results use.

``make_atari_env(game, protocol)`` builds one environment that hands the
agent single 84×84 grayscale frames (``uint8``, shape ``(84, 84)``); the
agent stacks them itself (``agent.stack`` in its configuration), so its
replay stores each frame once. ``frame_stack=k`` adds Gymnasium's
``FrameStackObservation`` instead, for code that wants the stacks.

Protocols (``PROTOCOLS``; say which one a result used):

``"cleanrl"`` — CleanRL's ``dqn_atari.py`` and Stable-Baselines3's
``AtariWrapper``: ``<Game>NoFrameskip-v4`` (no sticky actions, the
minimal action set, at most 108 000 emulator frames a game), 1 to 30
no-ops after a reset, 4 frames per action with the maximum of the last
two, 84×84 grayscale (Gymnasium's ``AtariPreprocessing``), a lost life
ends the agent's episode while the game goes on (``EpisodicLifeEnv``),
FIRE then action 2 after every reset of a game that has FIRE
(``FireResetEnv``), rewards clipped to [−1, 1] (as Gymnasium's
``ClipReward`` clips; Atari's rewards are integers, so this is their sign).

``"ale-v5"`` — ALE v5's defaults (Machado et al. 2018): ``ALE/<Game>-v5``
with sticky actions 0.25 (per emulator frame, inside ALE), no no-ops,
4 frames per action with the maximum of the last two, 84×84 grayscale,
whole games (no life loss, no FIRE), rewards clipped.

Both put Gymnasium's ``RecordEpisodeStatistics`` first, so
``info["episode"]`` at the end of a game holds the game's return before
clipping (the score papers report) and its length in emulator frames (the
steps of the unskipped environment it wraps, no-ops included), as in
CleanRL's logs; ``dqn_rs.DQN`` counts these games, not the lives, in its
episode statistics.

Two differences from CleanRL's own code, neither changing what the agent
sees in kind: ``AtariPreprocessing`` takes the maximum of the two last
frames after converting them to grayscale with ALE's palette, and resizes
with OpenCV's ``INTER_AREA``, where CleanRL (gymnasium 0.29) takes the
maximum of RGB frames and resizes before converting. The pixels differ by
rounding; the protocol (what is observed, when episodes end, what is
rewarded) is the same.

Needs ``ale-py`` (GPL-2.0, with the ROMs) and OpenCV, which this package
does not depend on: ``pip install "dqn-rs[atari]"`` or ``pip install
ale-py opencv-python-headless``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .errors import ConfigError

__all__ = ["PROTOCOLS", "ClipReward", "PicklesEmulator", "EpisodicLifeEnv", "FireResetEnv", "atari_id", "make_atari_env"]

#: The protocols ``make_atari_env`` builds.
PROTOCOLS = ("cleanrl", "ale-v5")

#: The no-ops after a reset (``"cleanrl"``): 1 to this many, drawn from the
#: environment's ``np_random``.
NOOP_MAX = 30


def _ale() -> None:
    """Registers ale-py's ids, or says what to install (OpenCV too:
    ``AtariPreprocessing`` resizes with it)."""
    try:
        import ale_py
        import cv2  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"Atari needs ale-py (GPL-2.0; ROMs included) and OpenCV ({e}): "
            'pip install "dqn-rs[atari]", or pip install ale-py opencv-python-headless'
        ) from e
    gym.register_envs(ale_py)


def _camel(game: str) -> str:
    """``"space_invaders"`` or ``"space-invaders"`` → ``"SpaceInvaders"``;
    ``"Pong"`` stays."""
    parts = game.replace("-", "_").split("_")
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def atari_id(game: str, protocol: str = "cleanrl") -> str:
    """The Gymnasium id the protocol starts from: ``PongNoFrameskip-v4``
    (``"cleanrl"``) or ``ALE/Pong-v5`` (``"ale-v5"``)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol={protocol!r}: the Atari protocols are {', '.join(map(repr, PROTOCOLS))}")
    if not isinstance(game, str) or not game.strip():
        raise ConfigError(f"game={game!r}: give an Atari game's name, e.g. 'Pong' or 'space_invaders'")
    name = _camel(game.strip())
    return f"{name}NoFrameskip-v4" if protocol == "cleanrl" else f"ALE/{name}-v5"


class EpisodicLifeEnv(gym.Wrapper):
    """A lost life ends the agent's episode (``terminated``) while the game
    goes on: ``reset()`` after a lost life takes one no-op step (action 0)
    instead of resetting the game, and resets it only after a real game
    over (or if that step ends the game). Stable-Baselines3's
    ``EpisodicLifeEnv`` and CleanRL's, step for step (a test compares them
    on recorded games)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        # Lives that fall to 0 end the game itself; some games (Qbert)
        # show 0 lives for a few frames before they do.
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info


class FireResetEnv(gym.Wrapper):
    """After every reset, FIRE (action 1) then action 2, for games that wait
    for FIRE to start. Stable-Baselines3's ``FireResetEnv`` and CleanRL's,
    step for step, down to their corner: if either step ends the game, the
    game is reset and the next step goes on from there, and what ``reset``
    returns is the observation of action 2's step (with an empty info)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()
        if len(meanings) < 3 or meanings[1] != "FIRE":
            raise ConfigError(f"FireResetEnv: action 1 of {env.spec.id if env.spec else env} is not FIRE: {meanings}")

    def reset(self, **kwargs: Any):
        self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, _ = self.env.step(action)
            if terminated or truncated:
                self.env.reset(**kwargs)
        return obs, {}


class ClipReward(gym.RewardWrapper):
    """Rewards clipped to [−1, 1], as Gymnasium's ``ClipReward(env, -1, 1)``
    computes them (``np.clip``), in a class that pickles (Gymnasium's keeps
    a lambda), so that a run on it can be saved whole and resumed."""

    def reward(self, reward: Any) -> Any:
        return np.clip(reward, -1, 1)


class PicklesEmulator(gym.Wrapper):
    """Makes the environment under it pickle whole. ale-py's ``AtariEnv`` is
    rebuilt from its constructor's arguments when unpickled: a new game,
    a new ``np_random``. This wrapper adds the emulator's state with its
    RNG (``ale.cloneState(include_rng=True)``: sticky actions draw from it)
    and the ``np_random`` the no-ops are drawn from, and restores both, so
    that a saved run (``DQN.save``) resumes as if it had never stopped."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        atari = self.env.unwrapped
        state["_emulator"] = atari.ale.cloneState(include_rng=True)
        state["_np_random_state"] = atari.np_random.bit_generator.state
        state["_np_random_seed"] = getattr(atari, "_np_random_seed", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        emulator = state.pop("_emulator")
        np_random_state = state.pop("_np_random_state")
        np_random_seed = state.pop("_np_random_seed")
        self.__dict__.update(state)
        atari = self.env.unwrapped
        atari.ale.restoreState(emulator)
        atari.np_random.bit_generator.state = np_random_state
        if np_random_seed is not None:
            atari._np_random_seed = np_random_seed


def make_atari_env(
    game: str,
    protocol: str = "cleanrl",
    *,
    frame_stack: int | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """One Atari environment under ``protocol`` (see the module's text),
    observing single 84×84 ``uint8`` frames (or ``frame_stack`` of them,
    stacked by Gymnasium's ``FrameStackObservation``, padded with the
    reset's frame as CleanRL's stack is).

    ``game`` is the ALE name in either spelling: ``"Pong"``,
    ``"SpaceInvaders"`` or ``"space_invaders"``.
    """
    _ale()
    env_id = atari_id(game, protocol)
    if frame_stack is not None and (not isinstance(frame_stack, int) or not 1 <= frame_stack <= 64):
        raise ConfigError(f"frame_stack={frame_stack!r}: a number of frames from 1 to 64, or None")
    try:
        if protocol == "cleanrl":
            env = gym.make(env_id, render_mode=render_mode)
        else:
            # AtariPreprocessing skips the frames itself (with the max of
            # the last two), so the v5 environment must not: ALE still
            # applies its sticky actions per emulator frame.
            env = gym.make(env_id, frameskip=1, repeat_action_probability=0.25, render_mode=render_mode)
    except gym.error.Error as e:
        raise ConfigError(f"game={game!r}: no Atari game {env_id} in ale-py ({e})") from e
    env = gym.wrappers.RecordEpisodeStatistics(env)
    noop_max = NOOP_MAX if protocol == "cleanrl" else 0
    env = gym.wrappers.AtariPreprocessing(env, noop_max=noop_max, frame_skip=4, screen_size=84, grayscale_obs=True)
    if protocol == "cleanrl":
        env = EpisodicLifeEnv(env)
        if "FIRE" in env.unwrapped.get_action_meanings():
            env = FireResetEnv(env)
    env = ClipReward(env)
    if frame_stack is not None:
        env = gym.wrappers.FrameStackObservation(env, frame_stack, padding_type="reset")
    return PicklesEmulator(env)
