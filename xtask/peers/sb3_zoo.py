#!/usr/bin/env python3
"""Stable-Baselines3 DQN with the rl-baselines3-zoo hyperparameters: the side-by-side peer of the
classic-control benchmark (issue 17), run on this machine.

Trains SB3's `DQN` on CartPole-v1, Acrobot-v1 or MountainCar-v0 with the zoo's settings for that
environment (`hyperparams/dqn.yml` of rl-baselines3-zoo, the version whose figures its
`benchmark.md` reports: CartPole 5e4 steps, Acrobot 1e5, MountainCar 1.2e5, all [256, 256]
nets), then plays 100 greedy (deterministic) test episodes on an environment of its own, and prints
one JSON line: the test mean and standard deviation, the training wall time, the steps and the
versions.

  bash xtask/peers/setup_sb3.sh                       # SB3 2.9.2 into the anchors' venv
  /tmp/dqn-anchor-venv/bin/python xtask/peers/sb3_zoo.py --env Acrobot-v1 --seed 0 --threads 1
  ... --steps 2000 --test-episodes 3                  # a smoke run
"""
import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import DQN

from machine import cpu_model, emit

# rl-baselines3-zoo hyperparams/dqn.yml (facts, transcribed).
ZOO = {
    "CartPole-v1": dict(n_timesteps=50_000, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                        learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256,
                        gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04,
                        net_arch=[256, 256]),
    "MountainCar-v0": dict(n_timesteps=120_000, learning_rate=4e-3, batch_size=128, buffer_size=10_000,
                           learning_starts=1000, gamma=0.98, target_update_interval=600, train_freq=16,
                           gradient_steps=8, exploration_fraction=0.2, exploration_final_eps=0.07,
                           net_arch=[256, 256]),
    "Acrobot-v1": dict(n_timesteps=100_000, learning_rate=6.3e-4, batch_size=128, buffer_size=50_000,
                       learning_starts=0, gamma=0.99, target_update_interval=250, train_freq=4,
                       gradient_steps=-1, exploration_fraction=0.12, exploration_final_eps=0.1,
                       net_arch=[256, 256]),
}


def run(env_id, seed, steps, test_episodes):
    hp = dict(ZOO[env_id])
    n_timesteps = steps or hp.pop("n_timesteps")
    hp.pop("n_timesteps", None)
    net_arch = hp.pop("net_arch")
    env = gym.make(env_id)
    model = DQN("MlpPolicy", env, seed=seed, device="cpu", policy_kwargs=dict(net_arch=net_arch), verbose=0, **hp)
    t0 = time.perf_counter()
    model.learn(total_timesteps=n_timesteps)
    train_s = time.perf_counter() - t0
    test_env = gym.make(env_id)
    returns = []
    t0 = time.perf_counter()
    for episode in range(test_episodes):
        obs, _ = test_env.reset(seed=seed * 1000 + 10_000 + episode)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = test_env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    test_s = time.perf_counter() - t0
    return dict(peer="stable-baselines3 DQN, rl-zoo3 hyperparameters", env=env_id, seed=seed,
                env_steps=n_timesteps, train_wall_s=train_s, test_wall_s=test_s,
                test_mean=statistics.fmean(returns), test_std=float(np.std(returns)), test_episodes=test_episodes,
                threads=torch.get_num_threads(), sb3=stable_baselines3.__version__, torch=torch.__version__,
                gymnasium=gym.__version__, cpu=cpu_model())



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", choices=sorted(ZOO), default="CartPole-v1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None, help="override the zoo's budget (smoke runs)")
    ap.add_argument("--test-episodes", type=int, default=100)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = run(args.env, args.seed, args.steps, args.test_episodes)
    emit(out, args.json)


if __name__ == "__main__":
    main()
