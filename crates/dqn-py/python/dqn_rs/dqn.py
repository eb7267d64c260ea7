"""``DQN``: Stable-Baselines3's DQN API on dqn-rs's Rust core.

Names, signatures and defaults are SB3's (2.x) where SB3 has them, so code
written for ``stable_baselines3.DQN`` runs unchanged; this project's
improvements are extra keywords (``double_q``, ``dueling``, ``noisy``,
``n_step``, ``prioritized``, ``distributional``, or ``rainbow=True``), and
a whole RON configuration can be given (``config=``). Differences from SB3,
each deliberate:

* The ε schedule is fixed by the first ``learn`` call (``exploration_fraction``
  times its ``total_timesteps``) and counted in environment steps from
  then on, so ``learn(..., reset_num_timesteps=False)`` after ``save`` /
  ``load`` continues it exactly (SB3 restarts or rescales it: SB3 #1629).
* ``save`` writes the whole run — replay buffer, optimizer, every RNG, the
  environments' state — so a loaded model continues bit for bit as if it
  had never stopped (when the environment can be pickled; the Rust
  environments always can be saved).
* Same seed, same numbers, at any thread count.
* The target network is copied when the step count passes a multiple of
  ``target_update_interval`` at an update (SB3 checks every step; the same
  copies once learning has started).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import struct
import sys
import tempfile
import time
import zipfile
from collections import deque
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from . import _dqn_rs
from ._spaces import describe, is_channels_last
from .envs import RUST_IDS, RustEnvBase, RustVectorEnv
from .errors import CheckpointError, ConfigError

__all__ = ["DQN"]

#: The file format of ``DQN.save``: a zip of ``dqn_rs.json``, ``config.ron``,
#: ``policy.safetensors`` and (for a run whose environment can be saved)
#: ``checkpoint.bin``.
SAVE_FORMAT = 1

# Wrappers gym.make adds that change nothing of the dynamics: a Rust
# environment inside only these is stepped in Rust.
_TRANSPARENT_WRAPPERS = ("TimeLimit", "OrderEnforcing", "PassiveEnvChecker")


def _ron_list(values: list[int]) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def _ron_float(value: float) -> str:
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        raise ConfigError(f"{value} is not a finite number")
    return text


def _rust_setting(env: Any) -> str | None:
    """The RON setting of a Rust environment given as an id, an instance
    (inside only gym.make's own wrappers) or a ``RustVectorEnv``."""
    if isinstance(env, str):
        return RUST_IDS.get(env)
    if isinstance(env, RustVectorEnv):
        return env.setting
    if isinstance(env, gym.Env):
        inner = env
        while isinstance(inner, gym.Wrapper):
            if type(inner).__name__ not in _TRANSPARENT_WRAPPERS:
                return None
            inner = inner.env
        if isinstance(inner, RustEnvBase):
            return inner.setting
    return None


def _rust_id(setting: str | None) -> str:
    """The id of the Rust environment of a RON setting."""
    return next(name for name, known in RUST_IDS.items() if known == setting)


def _explicit_arguments(init: Callable) -> Callable:
    """Records which arguments a call named: with ``config=``, only those
    override the configuration (the rest keep its values, not SB3's)."""
    signature = inspect.signature(init)

    def wrapper(self, *args: Any, **kwargs: Any) -> None:
        self._explicit = set(signature.bind(self, *args, **kwargs).arguments) - {"self"}
        init(self, *args, **kwargs)

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__doc__ = init.__doc__
    wrapper.__name__ = init.__name__
    return wrapper


class DQN:
    """Deep Q-Network (Mnih et al. 2015) and every Rainbow part, in Rust,
    with Stable-Baselines3's API.

    ``env`` is a ``gymnasium.Env`` or ``gymnasium.vector.VectorEnv`` (any
    autoreset mode) with a ``Discrete`` action space and a ``Box`` (vector,
    or ``uint8`` image: channel first or last, ``channels_last`` says which
    when the shape cannot) or ``Discrete`` observation space; an id
    (``"CartPole-v1"``: Gymnasium's CartPole, MountainCar and Acrobot ids
    and ``dqn_rs/...`` run the Rust environments, with no Python per step;
    other ids are made with ``gymnasium.make``); or a function that makes
    an environment. An environment whose observations are Gymnasium's
    ``FrameStackObservation`` stacks has them stored one frame a step
    (each stack checked to continue the one before, else stored whole);
    ``dedup_frame_stack=False`` stores every stack whole.

    ``config`` is a RON configuration (text, a file path, or a preset file
    of the repository's ``presets/``); the keyword arguments given
    explicitly override it, and its ``early_stop`` (a periodic greedy
    evaluation that ends training once solved) is kept. Without it, SB3's
    defaults apply.
    """

    @_explicit_arguments
    def __init__(
        self,
        policy: str | type,
        env: Any,
        learning_rate: float = 1e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        replay_buffer_class: Any = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        target_update_interval: int = 10_000,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        max_grad_norm: float | None = 10,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str = "auto",
        _init_setup_model: bool = True,
        *,
        double_q: bool = False,
        dueling: bool = False,
        noisy: bool = False,
        n_step: int | None = None,
        prioritized: bool = False,
        distributional: bool = False,
        rainbow: bool = False,
        config: str | os.PathLike[str] | None = None,
        channels_last: bool | None = None,
        dedup_frame_stack: bool = True,
    ) -> None:
        if not (isinstance(policy, str) and policy in ("MlpPolicy", "CnnPolicy")):
            raise ConfigError(f"policy={policy!r}: dqn_rs has 'MlpPolicy' and 'CnnPolicy' (for images)")
        if replay_buffer_class is not None or replay_buffer_kwargs:
            raise ConfigError("replay_buffer_class/replay_buffer_kwargs: the replay buffer is Rust's; use prioritized=True")
        if device not in ("auto", "cpu"):
            raise ConfigError(f"device={device!r}: dqn_rs trains on the CPU ('auto' or 'cpu')")
        self.policy = policy
        self.learning_rate = learning_rate
        self.buffer_size = buffer_size
        self.learning_starts = learning_starts
        self.batch_size = batch_size
        self.tau = tau
        self.gamma = gamma
        self.train_freq = train_freq
        self.gradient_steps = gradient_steps
        self.target_update_interval = target_update_interval
        self.exploration_fraction = exploration_fraction
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.max_grad_norm = max_grad_norm
        self.stats_window_size = stats_window_size
        self.tensorboard_log = tensorboard_log
        self.policy_kwargs = dict(policy_kwargs or {})
        self.verbose = verbose
        self.seed = int.from_bytes(os.urandom(8), "little") >> 1 if seed is None else int(seed)
        self.device = "cpu"
        self.n_step = int(n_step if n_step is not None else n_steps)
        self.double_q, self.dueling, self.noisy = double_q, dueling, noisy
        self.prioritized, self.distributional, self.rainbow = prioritized, distributional, rainbow
        self.channels_last = channels_last
        self.dedup_frame_stack = bool(dedup_frame_stack)
        self._base_config = _read_config(config) if config is not None else None
        self.env = None
        self._env_description: dict[str, Any] | None = None
        self._rust_setting: str | None = None
        self.n_envs = 1
        self._set_env(env)
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=stats_window_size)
        self._episode_num = 0
        self._reports_games = _has_episode_statistics(self.env)
        self._schedule_steps: int | None = None
        self._predict_rng = np.random.default_rng(self.seed)
        self._trainer: Any = None
        self._start_policy: bytes | None = None
        self._total_timesteps = 0
        if _init_setup_model:
            self._setup_model()

    # ----------------------------------------------------------------- setup

    def _set_env(self, env: Any) -> None:
        setting = _rust_setting(env)
        if setting is not None:
            self._rust_setting = setting
            self.n_envs = env.num_envs if isinstance(env, RustVectorEnv) else 1
            self.env = env if not isinstance(env, str) else None
            self._env_description = None
            return
        make_single = None
        if isinstance(env, str):
            env_id = env
            env = gym.make(env_id)
            make_single = lambda: gym.make(env_id)  # noqa: E731
        elif callable(env) and not isinstance(env, (gym.Env, VectorEnv)):
            factory = env
            env = factory()
            make_single = factory
        self.env = env
        self._env_description = describe(env, make_single, self.channels_last)
        self.n_envs = self._env_description["num_envs"]

    def _overrides(self, schedule_steps: int | None) -> list[str]:
        """The configuration keys the arguments set (``key=value``, RON)."""
        explicit = self._explicit if self._base_config is not None else None

        def given(*names: str) -> bool:
            return explicit is None or any(n in explicit for n in names)

        # learn() sets the step budget; episodes do not end a run.
        sets: list[str] = [f"seed={self.seed}", "train_episodes=4294967295", "max_train_steps=Some(1)"]
        if self._base_config is None:
            # SB3 has no periodic evaluation that stops training; a
            # configuration's own (a preset's early_stop) is kept.
            sets.append("early_stop=None")
        if self._env_description is not None or isinstance(self.env, RustVectorEnv) or self._base_config is None:
            # The environment given fixes how many step together; a Rust
            # environment named by id steps as many as the configuration says.
            sets.append(f"collection.envs={self.n_envs}")
        if self._rust_setting is not None:
            sets.append(f"env={self._rust_setting}")
        env_stack = self._env_description.get("frame_stack") if self._env_description is not None else None
        if env_stack is not None and self.dedup_frame_stack:
            # The environment stacks (FrameStackObservation): the replay
            # stores its stacks one frame a step, unless the configuration
            # stacks frames of its own.
            base = self._base_config if self._base_config is not None else "()"
            if _dqn_rs.config_stack(base)[0] == 1:
                frames, padding = env_stack
                sets.append(f"agent.stack=(frames: {frames}, padding: {padding}, by_environment: true)")
        if given("learning_rate"):
            if callable(self.learning_rate):
                raise ConfigError("learning_rate: a schedule is not supported; give a number")
            sets.append(f"agent.lr={_ron_float(self.learning_rate)}")
        if given("buffer_size"):
            sets.append(f"agent.buffer_capacity={int(self.buffer_size)}")
        if given("learning_starts"):
            sets.append(f"agent.learning_starts={int(self.learning_starts)}")
        if given("batch_size"):
            sets.append(f"agent.batch_size={int(self.batch_size)}")
        if given("gamma"):
            sets.append(f"agent.gamma={_ron_float(self.gamma)}")
        train_freq = self.train_freq
        if isinstance(train_freq, (tuple, list)):
            n, unit = train_freq
            if unit != "step":
                raise ConfigError(f"train_freq={train_freq!r}: only steps are supported, e.g. (4, 'step')")
            train_freq = n
        if given("train_freq"):
            sets.append(f"collection.update_every={int(train_freq)}")
        if given("gradient_steps", "train_freq"):
            steps = int(train_freq) * self.n_envs if self.gradient_steps == -1 else int(self.gradient_steps)
            sets.append(f"agent.gradient_steps={steps}")
        if given("tau", "target_update_interval"):
            if self.tau == 1.0:
                sets.append(f"agent.target_update=Hard(every: {int(self.target_update_interval)})")
            elif self.target_update_interval == 1:
                sets.append(f"agent.target_update=Soft(tau: {_ron_float(self.tau)})")
            else:
                raise ConfigError(
                    f"tau={self.tau} with target_update_interval={self.target_update_interval}: a soft update "
                    "here follows every gradient step; set target_update_interval=1"
                )
        if given("exploration_fraction", "exploration_initial_eps", "exploration_final_eps"):
            decay = max(self.exploration_fraction * (schedule_steps or 1), 1e-9)
            sets.append(
                f"agent.epsilon=(start: {_ron_float(self.exploration_initial_eps)}, "
                f"end: {_ron_float(self.exploration_final_eps)}, decay: {_ron_float(decay)}, shape: Linear)"
            )
        if self._base_config is None:
            # SB3's loss and its network's default width.
            sets.append("agent.loss=Huber(delta: 1.0)")
        if given("max_grad_norm"):
            if self.max_grad_norm is None:
                sets += ["agent.grad_clip=None", "agent.max_grad_norm=None"]
            else:
                sets += ["agent.grad_clip=None", f"agent.max_grad_norm=Some({_ron_float(self.max_grad_norm)})"]
        if self.policy == "CnnPolicy":
            # SB3's CnnPolicy is the Nature network (its NatureCNN and a
            # 512 layer) into the output; on MinAtar-sized boards, which
            # the Nature network's 8x8 stride 4 cannot read, Young & Tian's
            # MinAtar network. Both bring their hidden layers, so `hidden`
            # goes back to the default they require.
            if self.policy_kwargs:
                raise ConfigError(f"policy_kwargs {sorted(self.policy_kwargs)}: not supported with CnnPolicy")
            sets += [f"agent.network=Some({self._cnn_network()})", "agent.hidden=[128, 128]"]
        elif given("policy_kwargs") or self._base_config is None:
            kwargs = dict(self.policy_kwargs)
            net_arch = kwargs.pop("net_arch", [64, 64])
            activation = kwargs.pop("activation_fn", None)
            if activation is not None and getattr(activation, "__name__", str(activation)) not in ("ReLU", "relu"):
                raise ConfigError(f"policy_kwargs activation_fn={activation!r}: the network uses ReLU")
            if kwargs:
                raise ConfigError(f"policy_kwargs: {sorted(kwargs)} are not supported (net_arch and activation_fn are)")
            if isinstance(net_arch, dict):
                net_arch = net_arch.get("qf", net_arch.get("pi"))
            sets.append(f"agent.hidden={_ron_list(list(net_arch))}")
        if given("n_steps", "n_step"):
            sets.append(f"agent.n_step={self.n_step}")
        if self.rainbow or self.double_q:
            sets.append("agent.double_dqn=true")
        if self.rainbow or self.dueling:
            width = [int(w) for w in self.policy_kwargs.get("net_arch", [64, 64])][-1:]
            sets.append(f"agent.dueling=Some((value_hidden: {_ron_list(width)}, advantage_hidden: {_ron_list(width)}))")
        if self.rainbow or self.noisy:
            sets.append("agent.noisy=Some((sigma0: 0.5, layers: Heads, epsilon_greedy: false))")
        if self.rainbow or self.prioritized:
            sets.append("agent.sampling=Prioritized(())")
        if self.rainbow or self.distributional:
            sets.append("agent.distributional=Some((n_atoms: 51, v_min: -10.0, v_max: 10.0))")
        if self.rainbow and not given("n_steps", "n_step"):
            sets.append("agent.n_step=3")
        return sets

    def _cnn_network(self) -> str:
        """`Nature` for frames of at least 36 x 36 pixels, else `MinAtar`."""
        if self._env_description is not None:
            shape = list(self._env_description["obs_shape"])
            if self._env_description["channels_last"]:
                shape = shape[-1:] + shape[:-1]
        else:
            env = self.env if self.env is not None else gym.make(_rust_id(self._rust_setting))
            space = getattr(env, "single_observation_space", env.observation_space)
            shape = list(space.shape)
        if len(shape) not in (2, 3):
            raise ConfigError(f"CnnPolicy reads images; the observations have shape {tuple(shape)} (use MlpPolicy)")
        height, width = shape[-2:]
        return "Nature" if min(height, width) >= 36 else "MinAtar"

    def _config_text(self, schedule_steps: int | None) -> str:
        base = self._base_config if self._base_config is not None else "()"
        return _dqn_rs.apply_overrides(base, self._overrides(schedule_steps))

    def _setup_model(self, schedule_steps: int | None = None) -> None:
        self._trainer = self._new_trainer(self._config_text(schedule_steps))
        # A configuration may step several Rust environments together.
        self.n_envs = int(self._trainer.num_envs)

    def _new_trainer(self, text: str) -> Any:
        if self._start_policy is None:
            return _dqn_rs.Trainer(text, self._env_description)
        # The run starts from a given policy (a loaded one, or the network
        # of a finished run that learns anew); the file is read at once.
        with tempfile.TemporaryDirectory() as tmp:
            policy = Path(tmp) / "policy.safetensors"
            policy.write_bytes(self._start_policy)
            text = _dqn_rs.apply_overrides(text, [f"init_policy=Some({_ron_string(policy.as_posix())})"])
            return _dqn_rs.Trainer(text, self._env_description)

    # ------------------------------------------------------------- training

    @property
    def num_timesteps(self) -> int:
        """Environment steps taken in training."""
        return 0 if self._trainer is None else int(self._trainer.num_timesteps)

    @property
    def exploration_rate(self) -> float:
        """ε at the current step."""
        return float(self._trainer.exploration_rate)

    @property
    def n_updates(self) -> int:
        """Gradient steps taken."""
        return int(self._trainer.n_updates)

    def learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 4,
        tb_log_name: str = "DQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> "DQN":
        """Trains for ``total_timesteps`` environment steps.

        ``callback`` is a function ``f(locals, globals)`` (or ``f(model)``)
        or an object with ``on_step()`` (SB3's ``BaseCallback`` works);
        returning False stops training. Ctrl-C stops within a second with
        KeyboardInterrupt and leaves the model usable: another ``learn``
        continues exactly where it stopped.

        ``reset_num_timesteps=True`` on a model that has trained starts a
        new run from its current network (fresh counters, ε schedule and
        replay buffer); False continues the run, ε schedule included.
        """
        total_timesteps = int(total_timesteps)
        if total_timesteps < 0:
            raise ConfigError(f"total_timesteps={total_timesteps} is negative")
        fresh = self._schedule_steps is None or reset_num_timesteps
        if fresh:
            if self._schedule_steps is not None:
                # A new run from the current network (SB3 keeps the network).
                self._start_policy = bytes(self._trainer.policy_safetensors())
                self._predict_rng = np.random.default_rng(self.seed)
            # The ε schedule is fixed now, by this call's total.
            self._setup_model(total_timesteps)
            self._schedule_steps = total_timesteps
            self._total_timesteps = total_timesteps
        else:
            self._total_timesteps = self.num_timesteps + total_timesteps
        step_callback = _wrap_callback(callback, self)
        bar = _ProgressBar(total_timesteps) if progress_bar else None
        start, start_steps = time.time(), self.num_timesteps
        last_log = [self._episode_num]
        board = _TensorBoard(self.tensorboard_log, tb_log_name, fresh) if self.tensorboard_log else None

        def on_step(num_timesteps: int) -> bool:
            self._take_episodes()
            if log_interval and self._episode_num - last_log[0] >= log_interval:
                last_log[0] = self._episode_num
                if self.verbose >= 1:
                    self._log(start, start_steps)
                if board is not None:
                    board.write(self._rows(start, start_steps), self.num_timesteps)
            if bar is not None:
                bar.update(num_timesteps - start_steps)
            return step_callback() if step_callback is not None else True

        needs_steps = step_callback is not None or bar is not None or self.verbose >= 1 or board is not None
        try:
            if step_callback is not None:
                _call_optional(callback, "on_training_start", {"total_timesteps": total_timesteps}, {})
            self._trainer.learn(total_timesteps, on_step if needs_steps else None)
        finally:
            self._take_episodes()
            if bar is not None:
                bar.close()
            if board is not None:
                board.write(self._rows(start, start_steps), self.num_timesteps)
                board.close()
            if step_callback is not None:
                _call_optional(callback, "on_training_end")
        return self

    def _take_episodes(self) -> None:
        # Stable-Baselines3 reads ``info["episode"]`` (its Monitor's): an
        # environment that reports its games so (Gymnasium's
        # RecordEpisodeStatistics, as make_atari_env puts first) is counted
        # by those, whole games with their unclipped scores, even where the
        # agent's episodes are lives; any other by the agent's episodes.
        # Which, is known from the wrappers, or else from the first game
        # reported.
        episodes = self._trainer.take_episodes()
        games = self._trainer.take_games()
        self._reports_games = self._reports_games or bool(games)
        if self._reports_games:
            episodes = [(ret, length, None) for ret, length in games]
        for ret, length, _ in episodes:
            self._episode_num += 1
            self.ep_info_buffer.append({"r": ret, "l": length})

    def _rows(self, start: float, start_steps: int) -> dict[str, float]:
        """SB3's logger keys and values."""
        elapsed = max(time.time() - start, 1e-9)
        rewards = [e["r"] for e in self.ep_info_buffer]
        lengths = [e["l"] for e in self.ep_info_buffer]
        return {
            "rollout/ep_len_mean": np.mean(lengths) if lengths else float("nan"),
            "rollout/ep_rew_mean": np.mean(rewards) if rewards else float("nan"),
            "rollout/exploration_rate": self.exploration_rate,
            "time/episodes": self._episode_num,
            "time/fps": int((self.num_timesteps - start_steps) / elapsed),
            "time/total_timesteps": self.num_timesteps,
            "train/n_updates": self.n_updates,
        }

    def _log(self, start: float, start_steps: int) -> None:
        rows = self._rows(start, start_steps)
        width = max(len(k) for k in rows)
        print("-" * (width + 16))
        for key, value in rows.items():
            text = f"{value:.3g}" if isinstance(value, float) else str(value)
            print(f"| {key:<{width}} | {text:<10}|")
        print("-" * (width + 16))
        sys.stdout.flush()

    # ------------------------------------------------------------ inference

    def _as_observations(self, observation: Any) -> tuple[np.ndarray, bool]:
        shape, dtype, _ = self._trainer.spaces()
        d = self._env_description
        obs = np.asarray(observation)
        if d is not None and d["obs_kind"] == "onehot":
            n, start = d["discrete_n"], d["discrete_start"]
            values = np.asarray(obs, dtype=np.int64)
            batched = values.ndim == 1
            flat = values.reshape(-1) - start
            if (flat < 0).any() or (flat >= n).any():
                raise ConfigError(f"observation {observation!r} is outside Discrete({n}, start={start})")
            rows = np.zeros((flat.size, n), dtype=np.float32)
            rows[np.arange(flat.size), flat] = 1.0
            return rows, batched
        source = tuple(d["obs_shape"]) if d is not None else tuple(shape)
        last = d is not None and d["channels_last"]
        if d is None and (self._rust_setting or "").startswith("MinAtar(") and len(source) == 3:
            # A MinAtar game's observation as Python sees it (the package's
            # [y][x][c] booleans) to the planes the network reads.
            package = (source[1], source[2], source[0])
            if obs.shape == package or obs.shape[1:] == package:
                obs = np.moveaxis(obs, -1, -3).astype(np.uint8)
        if obs.shape == source:
            batched = False
            obs = obs[None]
        elif obs.shape[1:] == source:
            batched = True
        else:
            raise ConfigError(f"observation of shape {obs.shape}; the environment's is {source} (or a batch of them)")
        if last:
            obs = np.transpose(obs, (0, 3, 1, 2))
        wanted = np.float32 if dtype == "f32" else np.uint8
        if dtype != "f32" and obs.dtype != np.uint8:
            raise ConfigError(f"observation of dtype {obs.dtype}; the environment's frames are uint8")
        return np.ascontiguousarray(obs, dtype=wanted), batched

    def q_values(self, observation: Any) -> np.ndarray:
        """The policy's action values (expected values for C51) of one
        observation or a batch."""
        obs, batched = self._as_observations(observation)
        _, q = self._trainer.greedy(obs)
        return q if batched else q[0]

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """SB3's ``predict``: the actions for one observation or a batch, and
        ``state`` unchanged (no recurrent state). Not deterministic: ε-greedy
        at the current exploration rate (its own seeded RNG)."""
        obs, batched = self._as_observations(observation)
        actions, _ = self._trainer.greedy(obs)
        if not deterministic:
            eps = self.exploration_rate
            _, _, n_actions = self._trainer.spaces()
            explore = self._predict_rng.random(len(actions)) < eps
            if explore.any():
                actions = actions.copy()
                actions[explore] = self._predict_rng.integers(0, n_actions, explore.sum())
        return (actions if batched else actions[0]), state

    def get_parameters(self) -> dict[str, dict[str, np.ndarray]]:
        """The policy network's tensors by PyTorch name (``fc1.weight``, …),
        as float32 arrays, under ``"policy"`` as SB3 nests them."""
        return {"policy": dict(self._trainer.parameters())}

    def get_env(self) -> Any:
        """The training environment (None for a Rust environment given by id)."""
        return self.env

    def set_random_seed(self, seed: int | None = None) -> None:
        """SB3's: the seed of runs started from now on."""
        if seed is not None:
            self.seed = int(seed)

    # ---------------------------------------------------------- save / load

    def save(self, path: str | os.PathLike[str], exclude: Any = None, include: Any = None) -> None:
        """Writes the model to ``path`` (``.zip`` added when missing): the
        policy (safetensors, PyTorch's names), the configuration and, when
        the environment can be saved, the whole run (replay buffer,
        optimizer, RNGs, counters, environments), so that ``DQN.load`` then
        ``learn(..., reset_num_timesteps=False)`` continues exactly."""
        path = Path(path)
        if path.suffix != ".zip":
            path = path.with_name(path.name + ".zip")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": SAVE_FORMAT,
            "num_timesteps": self.num_timesteps,
            "schedule_steps": self._schedule_steps,
            "total_timesteps": self._total_timesteps,
            "episode_num": self._episode_num,
            "reports_games": self._reports_games,
            "ep_info_buffer": list(self.ep_info_buffer),
            "rust_setting": self._rust_setting,
            "n_envs": self.n_envs,
            "channels_last": self.channels_last,
            "predict_rng": self._predict_rng.bit_generator.state,
            "attributes": {k: _plain(getattr(self, k)) for k in _SAVED_ATTRIBUTES},
            "full_run": bool(self._trainer.can_checkpoint),
        }
        # Written beside the model, then renamed over it: a save stopped
        # part-way leaves the last model whole (and the next save reuses the
        # name of the partial file, as the Rust runner's atomic writes do).
        # The checkpoint streams into the archive: no copy of it elsewhere.
        partial = path.with_name(f".{path.name}.tmp")
        try:
            with partial.open("wb") as f:
                with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
                    z.writestr("dqn_rs.json", json.dumps(meta, indent=1))
                    z.writestr("config.ron", self._trainer.config_ron())
                    z.writestr("policy.safetensors", self._trainer.policy_safetensors())
                    if meta["full_run"]:
                        with z.open("checkpoint.bin", "w", force_zip64=True) as member:
                            self._trainer.write_checkpoint(member)
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Any = None, device: str = "auto", **kwargs: Any) -> "DQN":
        """The model ``save`` wrote. With the whole run saved, training
        continues exactly (the environments' saved state included); ``env``
        is then needed only for a Python environment, to make evaluation
        copies. Without it (an environment that cannot be pickled), the
        policy and settings are loaded and the next ``learn`` starts a new
        run from that policy."""
        path = Path(path)
        if not path.exists() and path.with_name(path.name + ".zip").exists():
            path = path.with_name(path.name + ".zip")
        try:
            archive = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise CheckpointError(f"{path}: not a saved dqn_rs model ({e})") from None
        with archive as z, tempfile.TemporaryDirectory() as tmp:
            names = set(z.namelist())
            for needed in ("dqn_rs.json", "config.ron", "policy.safetensors"):
                if needed not in names:
                    raise CheckpointError(f"{path}: not a saved dqn_rs model (no {needed})")
            meta = _read_meta(z.read("dqn_rs.json"), path)
            config = z.read("config.ron").decode()
            model = cls.__new__(cls)
            for key, value in meta["attributes"].items():
                setattr(model, key, value)
            for key, value in kwargs.items():
                setattr(model, key, value)
            model._explicit = set()
            model._start_policy = None
            model._trainer = None
            model._base_config = config
            model.channels_last = meta["channels_last"]
            model.ep_info_buffer = deque(meta["ep_info_buffer"], maxlen=model.stats_window_size)
            model._episode_num = int(meta["episode_num"])
            # Saved before games were read: the first game says again.
            model._reports_games = bool(meta.get("reports_games", False))
            model._schedule_steps = meta["schedule_steps"]
            model._total_timesteps = meta["total_timesteps"]
            model._predict_rng = np.random.default_rng()
            model._predict_rng.bit_generator.state = meta["predict_rng"]
            model.env = None
            model._env_description = None
            model._rust_setting = meta["rust_setting"]
            model.n_envs = meta["n_envs"]
            if meta["rust_setting"] is None:
                if env is None:
                    raise ConfigError(f"{path}: the model trained on a Python environment; pass env= to load it")
                model._set_env(env)
            elif env is not None and _rust_setting(env) is None:
                model._set_env(env)
            if meta["full_run"] and "checkpoint.bin" in names and (model._rust_setting is not None or env is not None):
                model._trainer = _read_checkpoint(z, path, Path(tmp), model._env_description)
            else:
                model._start_policy = z.read("policy.safetensors")
                model._trainer = None
                model._setup_model(None)
                model._schedule_steps = None
        return model


_SAVED_ATTRIBUTES = (
    "policy",
    "learning_rate",
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "train_freq",
    "gradient_steps",
    "target_update_interval",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "max_grad_norm",
    "stats_window_size",
    "tensorboard_log",
    "policy_kwargs",
    "verbose",
    "seed",
    "device",
    "n_step",
    "double_q",
    "dueling",
    "noisy",
    "prioritized",
    "distributional",
    "rainbow",
)


#: A zip member's local file header (APPNOTE 4.3.7): its last two fields
#: are the lengths of the name and the extra field that precede the data.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _read_checkpoint(z: zipfile.ZipFile, path: Path, tmp: Path, env_description: Any) -> Any:
    """The run in the archive's ``checkpoint.bin``, read where it lies when
    it is stored uncompressed (as ``save`` stores it: an Atari run's is
    gigabytes, and a copy in a temporary folder, often in memory, would
    double what resuming needs), otherwise copied out to ``tmp`` first. The
    checkpoint's own checksums stand in for the archive's CRC."""
    info = z.getinfo("checkpoint.bin")
    if info.compress_type == zipfile.ZIP_STORED:
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            local = f.read(_LOCAL_HEADER.size)
        if len(local) == _LOCAL_HEADER.size and local[:4] == b"PK\x03\x04":
            name_len, extra_len = _LOCAL_HEADER.unpack(local)[-2:]
            offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
            return _dqn_rs.Trainer.from_checkpoint(str(path), env_description, offset, info.file_size)
    ckpt = tmp / "checkpoint.bin"
    with z.open("checkpoint.bin") as src, open(ckpt, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return _dqn_rs.Trainer.from_checkpoint(str(ckpt), env_description)


def _read_meta(data: bytes, path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(data)
    except ValueError as e:
        raise CheckpointError(f"{path}: dqn_rs.json is damaged ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != SAVE_FORMAT:
        raise CheckpointError(f"{path}: saved in another format than {SAVE_FORMAT}")
    missing = [k for k in _META_KEYS if k not in meta]
    if missing or not isinstance(meta["attributes"], dict):
        raise CheckpointError(f"{path}: dqn_rs.json lacks {missing or ['attributes']}")
    unknown = set(meta["attributes"]) - set(_SAVED_ATTRIBUTES)
    if unknown:
        raise CheckpointError(f"{path}: dqn_rs.json has unknown attributes {sorted(unknown)}")
    return meta


_META_KEYS = (
    "format",
    "num_timesteps",
    "schedule_steps",
    "total_timesteps",
    "episode_num",
    "ep_info_buffer",
    "rust_setting",
    "n_envs",
    "channels_last",
    "predict_rng",
    "attributes",
    "full_run",
)


def _plain(value: Any) -> Any:
    """`value` as JSON data: tuples as lists, classes (an activation_fn) by name."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return getattr(value, "__name__", str(value))


def _ron_string(text: str) -> str:
    """`text` as a RON string literal."""
    return json.dumps(text)


def _has_episode_statistics(env: Any) -> bool:
    """Whether ``env`` (or, in a ``SyncVectorEnv``, its first environment)
    is wrapped in Gymnasium's ``RecordEpisodeStatistics`` (single or
    vector), which reports each game in ``info["episode"]``."""
    kinds = (gym.wrappers.RecordEpisodeStatistics, gym.wrappers.vector.RecordEpisodeStatistics)
    if isinstance(env, gym.vector.SyncVectorEnv) and env.envs:
        env = env.envs[0]
    while env is not None:
        if isinstance(env, kinds):
            return True
        env = getattr(env, "env", None)
    return False


def _read_config(config: str | os.PathLike[str]) -> str:
    """RON text, from text or a file."""
    text = str(config)
    if "(" not in text:
        path = Path(text)
        if not path.exists():
            raise ConfigError(f"config={text!r}: no such file (give RON text or a path)")
        return path.read_text()
    return text


def _call_optional(obj: Any, name: str, *args: Any) -> None:
    method = getattr(obj, name, None)
    if callable(method):
        method(*args)


def _wrap_callback(callback: Any, model: DQN) -> Callable[[], bool] | None:
    """One function called after every step, returning whether to go on."""
    if callback is None:
        return None
    if isinstance(callback, (list, tuple)):
        parts = [_wrap_callback(c, model) for c in callback]
        return lambda: all([p() for p in parts if p is not None])
    if hasattr(callback, "on_step"):
        _call_optional(callback, "init_callback", model)

        def step() -> bool:
            answer = callback.on_step()
            return answer is None or bool(answer)

        return step
    if callable(callback):
        try:
            arity = len(inspect.signature(callback).parameters)
        except (TypeError, ValueError):
            arity = 2
        if arity == 1:
            return lambda: callback(model) is not False
        return lambda: callback({"self": model, "num_timesteps": model.num_timesteps}, {}) is not False
    raise TypeError(f"callback must be a function or an object with on_step(); got {type(callback).__name__}")


class _TensorBoard:
    """An event file in ``<folder>/<name>_<n>/`` (SB3's layout: a new ``n``
    for each run, the same one when a run continues), written with the
    Rust core's record encoder (TFRecord framing, CRC-32C)."""

    def __init__(self, folder: str, name: str, fresh: bool) -> None:
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        taken = [int(p.name.rsplit("_", 1)[1]) for p in root.glob(f"{name}_*") if p.name.rsplit("_", 1)[1].isdigit()]
        n = max(taken, default=0) + (1 if fresh or not taken else 0)
        run = root / f"{name}_{n}"
        run.mkdir(exist_ok=True)
        self.path = run / f"events.out.tfevents.{int(time.time())}.dqn_rs"
        self.file = open(self.path, "ab")
        self.file.write(_dqn_rs.tensorboard_version_record(time.time()))

    def write(self, rows: dict[str, float], step: int) -> None:
        scalars = [(k, float(v)) for k, v in rows.items() if np.isfinite(v)]
        self.file.write(_dqn_rs.tensorboard_scalars_record(time.time(), int(step), scalars))
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class _ProgressBar:
    """A plain text progress bar on stderr (SB3's needs tqdm and rich)."""

    def __init__(self, total: int) -> None:
        self.total, self.last = max(total, 1), -1

    def update(self, done: int) -> None:
        percent = min(100, done * 100 // self.total)
        if percent != self.last:
            self.last = percent
            sys.stderr.write(f"\r{percent:3d}% {done}/{self.total} steps")
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
