"""The workspace's Rust environments as Gymnasium environments.

``CartPoleEnv``, ``MountainCarEnv``, ``AcrobotEnv`` and ``CatchEnv`` are
``gymnasium.Env`` classes; ``RustVectorEnv`` steps many of one in Rust as a
``gymnasium.vector.VectorEnv`` (same-step autoreset). Importing ``dqn_rs``
registers them as ``dqn_rs/CartPole-v1``, ``dqn_rs/MountainCar-v0``,
``dqn_rs/Acrobot-v1`` and ``dqn_rs/Catch-v0`` (``gymnasium.make`` and
``gymnasium.make_vec``).

A build with MinAtar's games (``dqn_rs.HAS_MINATAR``: cargo's ``minatar``
feature; they are GPL-3.0-or-later) also registers ``MinAtar/<Game>-v0``
and ``-v1`` (``MinAtarEnv``) as the ``minatar`` package registers them,
unless that package registered them first.

Each episode's start is drawn from the environment's ``np_random`` exactly
as Gymnasium's own class draws it, and the dynamics are Gymnasium's to the
bit, so ``CartPoleEnv().reset(seed=s)`` followed by the same actions gives
Gymnasium's CartPole-v1 trajectory, bit for bit. Given to ``dqn_rs.DQN``,
these environments are stepped inside Rust: no Python runs per step.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from . import _dqn_rs

__all__ = [
    "AcrobotEnv",
    "CartPoleEnv",
    "CatchEnv",
    "MinAtarEnv",
    "MountainCarEnv",
    "RustEnvBase",
    "RustVectorEnv",
    "register_envs",
]


def _observation_space(shape: list[int], dtype: str, ranges: list[tuple[float, float]]) -> spaces.Box:
    if dtype == "f32":
        # Gymnasium's own classes declare these bounds (CartPole: twice the
        # termination thresholds, infinite velocities).
        return spaces.Box(low=-np.inf, high=np.inf, shape=tuple(shape), dtype=np.float32)
    high = 1 if dtype == "bit" else 255
    return spaces.Box(low=0, high=high, shape=tuple(shape), dtype=np.uint8)


class RustEnvBase(gym.Env):
    """A Rust environment as a ``gymnasium.Env``. Subclasses name the RON
    setting (``_SETTING``) and draw the start state from ``np_random``
    (``_start_state``) as Gymnasium's class does."""

    metadata: dict[str, Any] = {"render_modes": []}
    _SETTING: str = ""

    def __init__(self, render_mode: str | None = None, setting: str | None = None) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: the Rust environments do not render from Python")
        self.render_mode = None
        self._setting = setting or self._SETTING
        self._rust = _dqn_rs.RustEnv(self._setting)
        _, shape, dtype, n_actions, self._max_episode_steps, _, ranges = self._rust.spec()
        self.observation_space = self._bounds(_observation_space(shape, dtype, ranges))
        self.action_space = spaces.Discrete(n_actions)

    def _bounds(self, space: spaces.Box) -> spaces.Box:
        return space

    @property
    def setting(self) -> str:
        """The RON environment setting it was made from (what a
        configuration's ``env`` says)."""
        return self._setting

    def _start_state(self) -> list[float]:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs = self._rust.reset_to(self._start_state())
        return obs, {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        obs, reward, terminated, truncated = self._rust.step(int(action))
        return obs, reward, terminated, truncated, {}

    def __reduce__(self):
        # Its step count lives in Rust and is not exposed: a pickled copy
        # could not continue the episode exactly, so there is none.
        raise TypeError(f"{type(self).__name__} cannot be pickled or deep-copied; make another instance")


class CartPoleEnv(RustEnvBase):
    """CartPole-v1 (``max_episode_steps=200``: v0), Gymnasium's to the bit."""

    def __init__(self, render_mode: str | None = None, max_episode_steps: int = 500, sutton_barto_reward: bool = False) -> None:
        if sutton_barto_reward:
            raise ValueError("sutton_barto_reward=True is not implemented by the Rust CartPole")
        super().__init__(render_mode, f"CartPole(max_episode_steps: {int(max_episode_steps)}, integrator: Euler)")

    def _bounds(self, space: spaces.Box) -> spaces.Box:
        # Gymnasium's CartPole: twice the thresholds, unbounded velocities.
        high = np.array([4.8, np.finfo(np.float32).max, 2 * 12 * 2 * np.pi / 360, np.finfo(np.float32).max], dtype=np.float32)
        return spaces.Box(-high, high, dtype=np.float32)

    def _start_state(self) -> list[float]:
        return list(self.np_random.uniform(low=-0.05, high=0.05, size=(4,)))


class MountainCarEnv(RustEnvBase):
    """MountainCar-v0, Gymnasium's to the bit."""

    def __init__(self, render_mode: str | None = None, max_episode_steps: int = 200, goal_velocity: float = 0.0) -> None:
        super().__init__(
            render_mode,
            f"MountainCar(max_episode_steps: {int(max_episode_steps)}, goal_velocity: {float(goal_velocity)!r})",
        )

    def _bounds(self, space: spaces.Box) -> spaces.Box:
        return spaces.Box(np.array([-1.2, -0.07], dtype=np.float32), np.array([0.6, 0.07], dtype=np.float32), dtype=np.float32)

    def _start_state(self) -> list[float]:
        return [float(self.np_random.uniform(low=-0.6, high=-0.4)), 0.0]


class AcrobotEnv(RustEnvBase):
    """Acrobot-v1, Gymnasium's to the bit."""

    def __init__(self, render_mode: str | None = None, max_episode_steps: int = 500) -> None:
        super().__init__(render_mode, f"Acrobot(max_episode_steps: {int(max_episode_steps)})")

    def _bounds(self, space: spaces.Box) -> spaces.Box:
        high = np.array([1.0, 1.0, 1.0, 1.0, 4 * np.pi, 9 * np.pi], dtype=np.float32)
        return spaces.Box(-high, high, dtype=np.float32)

    def _start_state(self) -> list[float]:
        # Drawn in float64, kept as float32 (Gymnasium's astype).
        return [float(v) for v in self.np_random.uniform(low=-0.1, high=0.1, size=(4,)).astype(np.float32)]


class CatchEnv(RustEnvBase):
    """bsuite's Catch: a ball falls down a 10 x 5 board, the paddle catches
    it (+1) or not (-1) on the ninth step; one binary plane ``[1, 10, 5]``."""

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(render_mode, "Catch")

    def _start_state(self) -> list[float]:
        # Row 0, a random column; the paddle in the middle.
        return [0.0, float(self.np_random.integers(0, 5)), 2.0]


MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")


class MinAtarEnv(RustEnvBase):
    """A MinAtar game as the ``minatar`` 1.0.15 package's Gymnasium wrapper
    plays it, bit for bit: the same observation space (``(10, 10, C)``
    booleans, channel last), all six actions or (``use_minimal_action_set``)
    the game's own, sticky actions 0.1 and difficulty ramping by default.
    ``reset(seed=s)`` is the package's ``reset(seed=s)``: the same episode
    for the same actions. A reset without a seed plays the package's
    episode for a seed drawn from ``np_random`` (where the package would
    continue its stream). Given to ``dqn_rs.DQN``, it is stepped in Rust,
    its planes read channel first. Needs a build with the ``minatar``
    feature (``dqn_rs.HAS_MINATAR``)."""

    def __init__(
        self,
        game: str,
        render_mode: str | None = None,
        use_minimal_action_set: bool = False,
        sticky_action_prob: float = 0.1,
        difficulty_ramping: bool = True,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: the Rust environments do not render from Python")
        if not _dqn_rs.HAS_MINATAR:
            raise ValueError(
                "MinAtar's games are not in this build of dqn_rs: they are GPL-3.0-or-later and come with "
                "cargo's `minatar` feature (maturin develop --features minatar)"
            )
        # The package's names ("space_invaders") or its ids' ("SpaceInvaders").
        wanted = str(game).lower().replace("_", "").replace(" ", "")
        name = next((g for g in MINATAR_GAMES if g.lower() == wanted), None)
        if name is None:
            raise ValueError(f"game={game!r}: MinAtar's games are {', '.join(MINATAR_GAMES)}")
        actions = "Minimal" if use_minimal_action_set else "Full"
        self.render_mode = None
        # The package's defaults are left out, so that the setting is the
        # one its id stands for (RUST_IDS).
        extra = "" if float(sticky_action_prob) == 0.1 else f", sticky_action_prob: {float(sticky_action_prob)!r}"
        extra += "" if difficulty_ramping else ", difficulty_ramping: false"
        self._setting = f"MinAtar(game: {name}, actions: {actions}{extra})"
        self._rust = _dqn_rs.MinAtarGame(self._setting)
        _, shape, _, n_actions, _, _, _ = self._rust.spec()
        self.observation_space = spaces.Box(0.0, 1.0, shape=(shape[1], shape[2], shape[0]), dtype=bool)
        self.action_space = spaces.Discrete(n_actions)

    @staticmethod
    def _package_layout(planes: np.ndarray) -> np.ndarray:
        # [c][y][x] bytes to the package's [y][x][c] booleans.
        return np.ascontiguousarray(planes.transpose(1, 2, 0)).astype(bool)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super(RustEnvBase, self).reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**32))
        if not 0 <= int(seed) < 2**32:
            raise ValueError(f"seed={seed!r}: the minatar package's seeds are 0 to 2**32 - 1 (numpy's RandomState)")
        return self._package_layout(self._rust.reset(int(seed))), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        planes, reward, terminated, truncated = self._rust.step(int(action))
        return self._package_layout(planes), reward, terminated, truncated, {}


class RustVectorEnv(VectorEnv):
    """``num_envs`` Rust environments stepped together in Rust, each reset on
    the step its episode ends (``AutoresetMode.SAME_STEP``: the observation
    the episode ended in is in ``infos["final_obs"]``, masked by
    ``infos["_final_obs"]``). ``reset(seed=s)`` starts environment ``i``
    from stream ``i`` of ``s``."""

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, setting: str, num_envs: int = 1, render_mode: str | None = None, **_: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: the Rust environments do not render from Python")
        self._setting = setting
        self.num_envs = int(num_envs)
        self._seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
        self._rust = _dqn_rs.RustVecEnv(setting, self.num_envs, self._seed)
        _, shape, dtype, n_actions, _, _, ranges = self._rust.spec()
        self.single_observation_space = _observation_space(shape, dtype, ranges)
        self.single_action_space = spaces.Discrete(n_actions)
        self.observation_space = spaces.Box(
            low=np.broadcast_to(self.single_observation_space.low, (self.num_envs, *shape)),
            high=np.broadcast_to(self.single_observation_space.high, (self.num_envs, *shape)),
            dtype=self.single_observation_space.dtype,
        )
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, n_actions))

    @property
    def setting(self) -> str:
        """The RON environment setting of every environment."""
        return self._setting

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        if isinstance(seed, list):
            seed = next((s for s in seed if s is not None), None)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
        self._seed = int(seed)
        return self._rust.reset(self._seed), {}

    def step(self, actions):
        actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        obs, rewards, terminated, truncated, finals = self._rust.step(actions)
        infos: dict[str, Any] = {}
        ended = terminated | truncated
        if ended.any():
            final_obs = np.empty(self.num_envs, dtype=object)
            for i in np.flatnonzero(ended):
                final_obs[i] = finals[i]
            infos = {"final_obs": final_obs, "_final_obs": ended.copy()}
        return obs, rewards, terminated, truncated, infos


_IDS = {
    "dqn_rs/CartPole-v1": (CartPoleEnv, 500, 475.0, "CartPole(max_episode_steps: 500, integrator: Euler)"),
    "dqn_rs/MountainCar-v0": (MountainCarEnv, 200, -110.0, "MountainCar(max_episode_steps: 200, goal_velocity: 0.0)"),
    "dqn_rs/Acrobot-v1": (AcrobotEnv, 500, -100.0, "Acrobot(max_episode_steps: 500)"),
    "dqn_rs/Catch-v0": (CatchEnv, None, None, "Catch"),
}

RUST_IDS = {
    # Gymnasium's own ids: dqn_rs.DQN given one of these runs the Rust
    # environment (the same dynamics, to the bit) with no Python per step.
    "CartPole-v1": "CartPole(max_episode_steps: 500, integrator: Euler)",
    "CartPole-v0": "CartPole(max_episode_steps: 200, integrator: Euler)",
    "MountainCar-v0": "MountainCar(max_episode_steps: 200, goal_velocity: 0.0)",
    "Acrobot-v1": "Acrobot(max_episode_steps: 500)",
    **{name: setting for name, (_, _, _, setting) in _IDS.items()},
}


_MINATAR_IDS = {
    f"MinAtar/{game}-v{version}": (
        game,
        version == 1,
        f"MinAtar(game: {game}, actions: {'Minimal' if version == 1 else 'Full'})",
    )
    for game in MINATAR_GAMES
    for version in (0, 1)
}

if _dqn_rs.HAS_MINATAR:
    # The package's own ids: dqn_rs.DQN given one trains on the Rust game.
    RUST_IDS.update({env_id: setting for env_id, (_, _, setting) in _MINATAR_IDS.items()})


def _vector_maker(setting: str):
    def make(num_envs: int = 1, **kwargs: Any) -> RustVectorEnv:
        return RustVectorEnv(setting, num_envs=num_envs, **kwargs)

    return make


def register_envs() -> None:
    """Registers the ids above with Gymnasium (done on ``import dqn_rs``)."""
    for env_id, (cls, limit, threshold, setting) in _IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=cls,
            vector_entry_point=_vector_maker(setting),
            max_episode_steps=limit,
            reward_threshold=threshold,
        )
    if not _dqn_rs.HAS_MINATAR:
        return
    for env_id, (game, minimal, _) in _MINATAR_IDS.items():
        if env_id in gym.registry:
            # The minatar package registered its own: the same game.
            continue
        gym.register(id=env_id, entry_point=MinAtarEnv, kwargs={"game": game, "use_minimal_action_set": minimal})
