"""Writes tests/golden_atari/*.json: games played through the CleanRL /
Stable-Baselines3 Atari protocol built with Stable-Baselines3's own
``EpisodicLifeEnv`` and ``FireResetEnv`` (and Gymnasium's
``AtariPreprocessing`` and ``ClipReward``), which ``test_atari.py`` replays
through ``dqn_rs.make_atari_env(game, "cleanrl")`` step for step.

Needs gymnasium, ale-py, OpenCV and stable-baselines3 (the anchors' venv,
../shared/anchors/setup.sh, plus ``pip install ale-py==0.12.1
opencv-python-headless==5.1.0.95``):

    python crates/dqn-py/python/tests/generate_atari_golden.py

Format (one file per game): ``{"group", "gymnasium_version",
"ale_py_version", "stable_baselines3_version", "cases": [case]}``; a case
has ``name``, ``game``, ``protocol``, ``reset_seed`` (the first reset's
seed; later resets take none), ``action_seed`` (actions are
``numpy.random.default_rng(action_seed).integers(n)``, one per step),
``reset_obs`` (SHA-256 of the first observation's bytes, 16 hex digits)
and ``steps``: ``{"t", "action", "obs", "reward", "terminated",
"truncated", "lives"}`` with ``obs`` hashed the same way, and
``"game_return"``/``"game_length"`` from ``info["episode"]`` where a game
ended; after a step that ends an episode the next entry is ``{"t",
"reset": obs hash}`` (the reset, which after a lost life is a no-op step).
"""

import hashlib
import json
import pathlib

import ale_py
import gymnasium as gym
import numpy as np
import stable_baselines3
from stable_baselines3.common.atari_wrappers import EpisodicLifeEnv, FireResetEnv

gym.register_envs(ale_py)

OUT = pathlib.Path(__file__).parent / "golden_atari"
CASES = [
    # Breakout: five lives, FIRE: lost lives, the no-op reset, FIRE resets.
    ("Breakout", 1500, 7, 11),
    # Pong: no lives (ALE reports 0), FIRE; random play loses 21-0 in
    # about 800 agent steps, so this holds a whole game and a reset.
    ("Pong", 1200, 3, 5),
]


def digest(obs):
    return hashlib.sha256(np.ascontiguousarray(obs).tobytes()).hexdigest()[:16]


def reference(game):
    env = gym.make(f"{game}NoFrameskip-v4")
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True)
    env = EpisodicLifeEnv(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireResetEnv(env)
    return gym.wrappers.ClipReward(env, -1, 1)


def play(game, steps, reset_seed, action_seed):
    env = reference(game)
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=reset_seed)
    case = {
        "name": f"{game.lower()}-cleanrl-{steps}",
        "game": game,
        "protocol": "cleanrl",
        "reset_seed": reset_seed,
        "action_seed": action_seed,
        "reset_obs": digest(obs),
        "steps": [],
    }
    for t in range(1, steps + 1):
        action = int(rng.integers(env.action_space.n))
        obs, reward, terminated, truncated, info = env.step(action)
        row = {
            "t": t,
            "action": action,
            "obs": digest(obs),
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "lives": int(env.unwrapped.ale.lives()),
        }
        if "episode" in info:
            row["game_return"] = float(info["episode"]["r"])
            row["game_length"] = int(info["episode"]["l"])
        case["steps"].append(row)
        if terminated or truncated:
            obs, _ = env.reset()
            case["steps"].append({"t": t, "reset": digest(obs)})
    env.close()
    return case


def main():
    OUT.mkdir(exist_ok=True)
    for game, steps, reset_seed, action_seed in CASES:
        case = play(game, steps, reset_seed, action_seed)
        doc = {
            "group": f"atari-{game.lower()}-cleanrl",
            "gymnasium_version": gym.__version__,
            "ale_py_version": ale_py.__version__,
            "stable_baselines3_version": stable_baselines3.__version__,
            "cases": [case],
        }
        path = OUT / f"{game.lower()}-cleanrl.json"
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        ends = sum(1 for s in case["steps"] if "reset" in s)
        games = sum(1 for s in case["steps"] if "game_return" in s)
        print(f"{path}: {steps} steps, {ends} episode ends, {games} games")


if __name__ == "__main__":
    main()
