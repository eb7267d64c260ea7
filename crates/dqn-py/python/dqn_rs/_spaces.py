"""What the Rust core needs to know of a Gymnasium environment: its spaces
(checked here, so a bad one is refused before training, naming it), how
it steps (one env, or a vector env in one of Gymnasium's autoreset modes)
and whether it can be saved."""

from __future__ import annotations

import copy
import pickle
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from .errors import ConfigError

_MODES = {
    AutoresetMode.NEXT_STEP: "next_step",
    AutoresetMode.SAME_STEP: "same_step",
    AutoresetMode.DISABLED: "disabled",
}


def autoreset_mode(env: VectorEnv) -> str:
    """The vector env's autoreset mode, as its metadata says (Gymnasium's
    default, next-step, when it says nothing)."""
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if isinstance(mode, str):
        try:
            mode = AutoresetMode(mode)
        except ValueError:
            raise ConfigError(f"the vector env's metadata['autoreset_mode'] is {mode!r}, not an AutoresetMode") from None
    if mode not in _MODES:
        raise ConfigError(f"the vector env's metadata['autoreset_mode'] is {mode!r}, not an AutoresetMode")
    return _MODES[mode]


def is_channels_last(shape: tuple[int, ...]) -> bool:
    """Whether an image of `shape` has its channels last: its last axis is
    its smallest (84 x 84 x 4 yes, 4 x 84 x 84 no)."""
    return len(shape) == 3 and shape[2] < shape[0] and shape[2] <= shape[1]


def _fresh_maker(env: gym.Env | VectorEnv) -> Callable[[], gym.Env]:
    """A callable that makes another environment like `env`, for greedy
    episodes: a deep copy, else `gym.make` of its spec."""
    single = env
    if isinstance(env, VectorEnv):
        # Through vector wrappers (RecordEpisodeStatistics, …) to the
        # SyncVectorEnv's own environments.
        envs = getattr(env.unwrapped, "envs", None)
        if envs:
            single = envs[0]
        elif env.spec is not None:
            spec = env.spec
            return lambda: gym.make(spec)
        else:
            single = None
    if single is not None:
        try:
            copy.deepcopy(single)
        except Exception:  # noqa: BLE001 - any failure means: cannot copy
            pass
        else:
            return lambda: copy.deepcopy(single)
    spec = getattr(env, "spec", None)
    if spec is not None:
        return lambda: gym.make(spec)
    raise ConfigError(
        f"dqn_rs needs a second environment like {env!r} for greedy episodes, but it cannot be deep-copied "
        "and has no spec to make another from: pass a function that makes one, DQN(policy, lambda: MyEnv())"
    )


def env_frame_stack(env: gym.Env | VectorEnv) -> tuple[int, str] | None:
    """The stack size and padding (``"Repeat"`` or ``"Zeros"``) of the
    Gymnasium ``FrameStackObservation`` whose stacks are the environment's
    observations (through a vector env, its first environment's), or
    ``None``. Only a hint: the replay checks every stack on its values and
    stores whole one that does not continue the one before."""
    single: Any = env
    if isinstance(env, VectorEnv):
        envs = getattr(env.unwrapped, "envs", None)
        if not envs:
            return None
        single = envs[0]
    space = getattr(single, "observation_space", None)
    wrapper = single
    while isinstance(wrapper, gym.Wrapper):
        if isinstance(wrapper, gym.wrappers.FrameStackObservation):
            if wrapper.observation_space != space or not isinstance(space, spaces.Box):
                return None
            # A custom padding value pads nothing the replay knows: such
            # episodes' first stacks are stored whole.
            return int(wrapper.stack_size), "Zeros" if wrapper.padding_type == "zero" else "Repeat"
        wrapper = wrapper.env
    return None


def _can_pickle(env: Any) -> bool:
    try:
        pickle.dumps(env)
    except Exception:  # noqa: BLE001 - any failure means: cannot save
        return False
    return True


def describe(
    env: gym.Env | VectorEnv,
    make_single: Callable[[], gym.Env] | None = None,
    channels_last: bool | None = None,
) -> dict[str, Any]:
    """The description `dqn_rs._dqn_rs.Trainer` reads, after checking the
    spaces: a ``Discrete`` action space and a ``Box`` (or ``Discrete``)
    observation space."""
    if isinstance(env, VectorEnv):
        obs_space, act_space = env.single_observation_space, env.single_action_space
        mode, num_envs = autoreset_mode(env), env.num_envs
    elif isinstance(env, gym.Env):
        obs_space, act_space = env.observation_space, env.action_space
        mode, num_envs = "single", 1
    else:
        raise TypeError(
            f"env must be a gymnasium.Env, a gymnasium.vector.VectorEnv, an environment id or a function "
            f"that makes an env; got {type(env).__name__}"
        )
    if not isinstance(act_space, spaces.Discrete):
        raise ConfigError(f"DQN needs a Discrete action space; the environment's action space is {act_space}")
    d: dict[str, Any] = {
        "env": env,
        "make_single": make_single or _fresh_maker(env),
        "mode": mode,
        "num_envs": int(num_envs),
        "n_actions": int(act_space.n),
        "action_start": int(act_space.start),
        "discrete_n": 0,
        "discrete_start": 0,
        "channels_last": False,
    }
    if isinstance(obs_space, spaces.Discrete):
        d.update(obs_kind="onehot", obs_shape=[], discrete_n=int(obs_space.n), discrete_start=int(obs_space.start))
        d["obs_ranges"] = [(0.0, 1.0)] * int(obs_space.n)
    elif isinstance(obs_space, spaces.Box):
        shape = tuple(int(s) for s in obs_space.shape)
        if not shape or 0 in shape:
            raise ConfigError(f"the observation space {obs_space} holds no values")
        if obs_space.dtype == np.uint8:
            d["obs_kind"] = "u8"
            last = is_channels_last(shape) if channels_last is None else bool(channels_last)
            if last and len(shape) != 3:
                raise ConfigError(f"channels_last=True needs images of 3 axes; the observation space is {obs_space}")
            d["channels_last"] = last
            d["obs_ranges"] = []
        elif np.issubdtype(obs_space.dtype, np.number) or obs_space.dtype == np.bool_:
            d["obs_kind"] = "f32"
            low = np.broadcast_to(obs_space.low, shape).astype(np.float64).ravel()
            high = np.broadcast_to(obs_space.high, shape).astype(np.float64).ravel()
            finite = np.isfinite(low) & np.isfinite(high) & (np.abs(low) < 1e30) & (np.abs(high) < 1e30)
            d["obs_ranges"] = [(float(lo), float(hi)) if ok else (-1.0, 1.0) for lo, hi, ok in zip(low, high, finite)]
        else:
            raise ConfigError(f"the observation space {obs_space} has elements of {obs_space.dtype}, not numbers")
        d["obs_shape"] = list(shape)
    else:
        raise ConfigError(
            f"DQN here needs a Box (vector or image) or Discrete observation space; the environment's is {obs_space}"
        )
    spec = getattr(env, "spec", None)
    d["id"] = spec.id if spec is not None and spec.id else type(getattr(env, "unwrapped", env)).__name__
    d["max_episode_steps"] = int(spec.max_episode_steps) if spec is not None and spec.max_episode_steps else None
    threshold = spec.reward_threshold if spec is not None else None
    d["reward_threshold"] = float(threshold) if threshold is not None else None
    d["can_save"] = _can_pickle(env)
    d["frame_stack"] = env_frame_stack(env) if isinstance(obs_space, spaces.Box) else None
    return d
