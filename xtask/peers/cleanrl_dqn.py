#!/usr/bin/env python3
"""CleanRL's DQN with its own defaults: a side-by-side peer of the classic-control benchmark
(issue 17), run on this machine.

Runs the installed `cleanrl/dqn.py` (cleanrl 1.2.0) unchanged, with its defaults (500k steps,
lr 2.5e-4, buffer 10k, batch 128, target net every 500 steps, train every 10, learning starts at
10k, epsilon 1 -> 0.05 over half the run) and `--save-model`, which ends with CleanRL's own
evaluation (cleanrl_utils.evals.dqn_eval.evaluate: 10 episodes at epsilon 0.05, unseeded). Then
it loads the saved model into CleanRL's QNetwork and plays 100 greedy test episodes, seeded
seed*1000+10000+i like sb3_zoo.py, and prints one JSON line. Runs go to a temporary folder.

  bash xtask/peers/setup_cleanrl.sh                   # cleanrl 1.2.0 into /tmp/cleanrl-venv
  /tmp/cleanrl-venv/bin/python xtask/peers/cleanrl_dqn.py --env Acrobot-v1 --seed 0 --threads 1
  ... --steps 3000 --learning-starts 500 --test-episodes 3   # a smoke run
"""
import argparse
import importlib.metadata
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)  # dqn.py imports distutils
import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from cleanrl.dqn import QNetwork, make_env

from machine import cpu_model, emit


def train(env_id, seed, steps, learning_starts, threads, workdir):
    cmd = [sys.executable, "-u", "-m", "cleanrl.dqn", "--env-id", env_id, "--seed", str(seed),
           "--cuda", "False", "--save-model", "True"]
    if steps:  # only smoke runs change CleanRL's defaults
        cmd += ["--total-timesteps", str(steps)]
    if learning_starts is not None:
        cmd += ["--learning-starts", str(learning_starts)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), SDL_VIDEODRIVER="dummy")
    log = open(os.path.join(workdir, "dqn.log"), "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    model_path, train_s, eval_returns = None, None, []
    for line in proc.stdout:  # unbuffered (-u): a line's arrival time is when dqn.py printed it
        log.write(line)
        if line.startswith("model saved to "):
            # Training ends here; the time includes the child's start-up (imports, env), a few seconds.
            train_s = time.perf_counter() - t0
            model_path = os.path.join(workdir, line[len("model saved to "):].strip())
        m = re.match(r"eval_episode=\d+, episodic_return=\[?([-\d.e+]+)\]?", line)
        if m:
            eval_returns.append(float(m.group(1)))
    if proc.wait() != 0 or model_path is None:
        sys.exit(f"cleanrl.dqn failed (exit {proc.returncode}); see {log.name}")
    return cmd, model_path, train_s, eval_returns


def greedy_test(env_id, seed, model_path, episodes):
    envs = gym.vector.SyncVectorEnv([make_env(env_id, seed, 0, False, "test")])  # QNetwork reads its spaces
    q = QNetwork(envs)
    q.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=True))
    q.eval()
    test_env = gym.make(env_id)
    returns = []
    for episode in range(episodes):
        obs, _ = test_env.reset(seed=seed * 1000 + 10_000 + episode)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                action = int(torch.argmax(q(torch.Tensor(obs).unsqueeze(0)), dim=1).item())
            obs, reward, terminated, truncated, _ = test_env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None, help="override CleanRL's 500k steps (smoke runs)")
    ap.add_argument("--learning-starts", type=int, default=None, help="override CleanRL's 10k (smoke runs)")
    ap.add_argument("--test-episodes", type=int, default=100)
    ap.add_argument("--workdir", default=None, help="where runs/ and videos/ go (default: a new temp folder)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    workdir = args.workdir or tempfile.mkdtemp(prefix="cleanrl-dqn-")
    os.makedirs(workdir, exist_ok=True)
    cmd, model_path, train_s, eval_returns = train(args.env, args.seed, args.steps, args.learning_starts,
                                                   args.threads, workdir)
    t0 = time.perf_counter()
    returns = greedy_test(args.env, args.seed, model_path, args.test_episodes)
    test_s = time.perf_counter() - t0
    out = dict(peer="CleanRL dqn.py (defaults)", env=args.env, seed=args.seed, env_steps=args.steps or 500_000,
               train_wall_s=train_s, test_wall_s=test_s, test_mean=statistics.fmean(returns),
               test_std=float(np.std(returns)), test_episodes=args.test_episodes,
               cleanrl_eval_mean=statistics.fmean(eval_returns) if eval_returns else None,
               cleanrl_eval_episodes=len(eval_returns), cleanrl_eval_epsilon=0.05,
               threads=args.threads, args=cmd[3:], run_dir=workdir,
               cleanrl=importlib.metadata.version("cleanrl"), torch=torch.__version__, gymnasium=gym.__version__,
               sb3=stable_baselines3.__version__, cpu=cpu_model())
    emit(out, args.json)


if __name__ == "__main__":
    main()
