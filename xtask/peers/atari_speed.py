#!/usr/bin/env python3
"""Atari DQN speed on this machine: CleanRL's dqn_atari.py, Stable-Baselines3's
DQN with CnnPolicy, and dqn_rs, each for a fixed number of agent steps on the
CPU, one thread, with CleanRL's settings (Nature network, batch 32, one update
every 4 steps, target copy every 1 000 steps) but a replay of 100 000
(`--buffer-size`; each keeps it its own way).

Each implementation runs twice in its own process: `--steps A` with learning
from step A (acting, the environment and the replay only) and `--steps B`
with learning from step A (B − A steps of learning); the learning phase's rate
is (B − A) / (wall_B − wall_A), which cancels start-up (imports, building
the environment and the network). Peak memory: the second run's process
(ru_maxrss of the child). The projection to 10 M steps: 80 000 steps at the
first rate (CleanRL's learning_starts), the rest at the second.

  --impl cleanrl   cleanrl 1.2.0's dqn_atari.py, unchanged, run with
                   runpy after `import ale_py` (ale-py 0.9.1 registers the
                   ids then); the venv of xtask/peers/setup_cleanrl.sh plus
                   `pip install ale-py==0.9.1 opencv-python-headless==4.10.0.84`.
  --impl sb3       stable_baselines3.DQN("CnnPolicy") on SB3's make_atari_env
                   + VecFrameStack(4) (the anchors' venv plus ale-py and OpenCV).
  --impl dqn_rs    dqn_rs.DQN("CnnPolicy", make_atari_env(game, "cleanrl"),
                   config=presets/atari/cleanrl-dqn.ron) (a venv with dqn_rs[atari]).

  python xtask/peers/atari_speed.py --impl cleanrl --env PongNoFrameskip-v4 \\
      --acting-steps 10000 --steps 30000 --json out.json
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]

CHILD = {
    # Their script, unchanged: only ale_py imported first (it registers the
    # Atari ids with gymnasium 0.29), then run as __main__.
    "cleanrl": """
import sys, runpy, time, json, ale_py
steps, starts, seed, env_id, buffer = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
sys.argv = ["dqn_atari.py", "--env-id", env_id, "--total-timesteps", str(steps), "--learning-starts", str(starts),
            "--seed", str(seed), "--cuda", "False", "--buffer-size", buffer]
t = time.perf_counter()
runpy.run_module("cleanrl.dqn_atari", run_name="__main__")
print("WALL", time.perf_counter() - t)
""",
    "sb3": """
import sys, time, torch
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack
import ale_py, gymnasium as gym
gym.register_envs(ale_py)
steps, starts, seed, env_id, buffer = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
t = time.perf_counter()
env = VecFrameStack(make_atari_env(env_id, n_envs=1, seed=seed), n_stack=4)
model = DQN("CnnPolicy", env, learning_rate=1e-4, buffer_size=buffer, learning_starts=starts, batch_size=32,
            train_freq=4, target_update_interval=1000, exploration_fraction=0.1, exploration_final_eps=0.01,
            optimize_memory_usage=True, replay_buffer_kwargs=dict(handle_timeout_termination=False),
            device="cpu", seed=seed)
model.learn(steps)
print("WALL", time.perf_counter() - t)
""",
    "dqn_rs": """
import sys, time
from dqn_rs import DQN, make_atari_env
steps, starts, seed, env_id, buffer = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
game = env_id.replace("NoFrameskip-v4", "")
t = time.perf_counter()
model = DQN("CnnPolicy", make_atari_env(game, "cleanrl"), config=sys.argv[6], learning_starts=starts, buffer_size=buffer,
            seed=seed)
model.learn(steps)
print("WALL", time.perf_counter() - t)
""",
}


def run(impl, steps, starts, seed, env_id, threads, buffer, config):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               RAYON_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    args = [sys.executable, "-c", CHILD[impl], str(steps), str(starts), str(seed), env_id, str(buffer)]
    if impl == "dqn_rs":
        args.append(str(config))
    with tempfile.TemporaryDirectory() as cwd:  # CleanRL writes runs/ there
        out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{impl} failed:\n{out.stderr[-3000:]}")
    wall = next(float(l.split()[1]) for l in out.stdout.splitlines()[::-1] if l.startswith("WALL "))
    # The largest child so far: the second run holds the larger replay.
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--impl", required=True, choices=sorted(CHILD))
    p.add_argument("--env", default="PongNoFrameskip-v4")
    p.add_argument("--acting-steps", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--threads", type=int, default=1)
    # CleanRL's default, 1 000 000, does not fit here: its replay keeps
    # whole stacks, 26.3 GiB (numpy refuses the allocation on 24 GiB).
    p.add_argument("--buffer-size", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    # dqn_rs only: another preset, e.g. the same with `chunk_rows: 16` to see
    # what a second thread gives when a batch of 32 is split in two chunks.
    p.add_argument("--config", type=pathlib.Path, default=ROOT / "presets" / "atari" / "cleanrl-dqn.ron")
    p.add_argument("--json", required=True)
    a = p.parse_args()
    if a.steps <= a.acting_steps:
        sys.exit("--steps must exceed --acting-steps (the learning phase is their difference)")
    wall_a, _ = run(a.impl, a.acting_steps, a.acting_steps, a.seed, a.env, a.threads, a.buffer_size, a.config.resolve())
    wall_b, peak_b = run(a.impl, a.steps, a.acting_steps, a.seed, a.env, a.threads, a.buffer_size, a.config.resolve())
    learning = a.steps - a.acting_steps
    acting_rate = a.acting_steps / wall_a
    learning_rate = learning / (wall_b - wall_a)
    result = {
        "impl": a.impl,
        "env": a.env,
        "threads": a.threads,
        "buffer_size": a.buffer_size,
        **({"config": str(a.config)} if a.impl == "dqn_rs" else {}),
        "acting_steps": a.acting_steps,
        "steps": a.steps,
        "wall_acting_s": wall_a,
        "wall_s": wall_b,
        "acting_steps_per_s": acting_rate,
        "learning_steps_per_s": learning_rate,
        "updates_per_s": learning_rate / 4,
        "peak_rss_mib": peak_b,
        "projected_10m_hours": (80_000 / acting_rate + (10_000_000 - 80_000) / learning_rate) / 3600,
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    pathlib.Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
