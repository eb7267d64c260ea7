"""Gymnasium's MountainCar-v0 and Acrobot-v1: environment steps per second
with random actions, resets included -- the peer of `cargo bench -p
mountaincar-sim` and `cargo bench -p acrobot-sim` (`cargo xtask bench` runs
both in the same session).

Usage: python bench_classic_control.py --steps 100000 --reps 3 --out env.json

Measured as the CartPole anchor (`../shared/anchors/bench_env.py`) measures
CartPole: `gym.make` (with its default wrappers, as a user gets it) and
pre-drawn actions; and 8 environments in a `SyncVectorEnv` (Gymnasium has no
numpy-vectorised version of these two). Repetitions are interleaved to
spread machine noise; the figure is the median.
"""
import argparse
import json
import os
import platform
import statistics
import time

import gymnasium as gym
import numpy as np

ENVS = {"MountainCar-v0": 3, "Acrobot-v1": 3}


def single(env_id, n_actions, n):
    env = gym.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, n_actions, size=n).tolist()
    step, reset = env.step, env.reset
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = step(a)
        if terminated or truncated:
            reset()
    dt = time.perf_counter() - t0
    env.close()
    return n / dt


def sync_vec(env_id, n_actions, n, num_envs):
    env = gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(num_envs)])
    env.reset(seed=0)
    iters = n // num_envs
    actions = np.random.default_rng(0).integers(0, n_actions, size=(iters, num_envs))
    step = env.step
    t0 = time.perf_counter()
    for i in range(iters):
        step(actions[i])
    dt = time.perf_counter() - t0
    env.close()
    return iters * num_envs / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    configs = {}
    for env_id, n_actions in ENVS.items():
        configs[f"{env_id}/single"] = lambda e=env_id, k=n_actions: single(e, k, args.steps)
        configs[f"{env_id}/SyncVectorEnv_8"] = lambda e=env_id, k=n_actions: sync_vec(e, k, args.steps, 8)
    runs = {k: [] for k in configs}
    for r in range(args.reps):
        for k, f in configs.items():
            runs[k].append(f())
            print(f"rep {r} {k}: {runs[k][-1]:,.0f} steps/s", flush=True)
    out = {
        "steps_per_run": args.steps,
        "reps": args.reps,
        "results": {k: {"median": statistics.median(v), "runs": v} for k, v in runs.items()},
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
