"""dqn_rs: DQN and every Rainbow part in Rust, with Stable-Baselines3's API,
for any Gymnasium environment with discrete actions.

    from dqn_rs import DQN
    model = DQN("MlpPolicy", "CartPole-v1", seed=0).learn(50_000)
    action, _ = model.predict(obs, deterministic=True)

Importing it registers the Rust environments with Gymnasium
(``dqn_rs/CartPole-v1``, ``dqn_rs/MountainCar-v0``, ``dqn_rs/Acrobot-v1``,
``dqn_rs/Catch-v0``). ``make_atari_env(game, protocol)`` builds an Atari
game under a named protocol (``"cleanrl"``, ``"ale-v5"``) from ale-py and
Gymnasium's wrappers (``pip install "dqn-rs[atari]"``).
"""

from importlib.metadata import PackageNotFoundError, version

from .atari import make_atari_env
from .dqn import DQN
from .envs import AcrobotEnv, CartPoleEnv, CatchEnv, MinAtarEnv, MountainCarEnv, RustVectorEnv, register_envs
from .errors import CheckpointError, ConfigError, DqnRsError, EnvError
from .evaluation import evaluate_policy

try:
    __version__ = version("dqn-rs")
except PackageNotFoundError:  # pragma: no cover - an uninstalled checkout
    __version__ = "0.0.0"

register_envs()

__all__ = [
    "DQN",
    "AcrobotEnv",
    "CartPoleEnv",
    "CatchEnv",
    "MinAtarEnv",
    "CheckpointError",
    "ConfigError",
    "DqnRsError",
    "EnvError",
    "MountainCarEnv",
    "RustVectorEnv",
    "evaluate_policy",
    "make_atari_env",
    "register_envs",
]
