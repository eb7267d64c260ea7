#!/usr/bin/env python3
"""Steps per second of `learn()`: dqn_rs beside Stable-Baselines3, at SB3's
default DQN settings and at the RL Zoo's CartPole settings, on Gymnasium's
Python CartPole-v1 and (dqn_rs only) on the Rust CartPole. One run per
process, so the peak memory (ru_maxrss) is that run's. Prints one JSON line.

  /tmp/dqn-anchor-venv/bin/python xtask/peers/python_speed.py --lib sb3 --env python --settings defaults
  ... --lib dqn_rs --env rust --settings zoo --steps 50000

`cargo xtask bench` runs it (the Python with torch, SB3 2.9.2 and dqn_rs:
xtask/peers/setup_sb3.sh, then `pip install ./crates/dqn-py`).
"""
import argparse
import json
import os
import resource
import sys
import time

SETTINGS = {
    # SB3's DQN defaults (stable_baselines3/dqn/dqn.py): MlpPolicy [64, 64],
    # batch 32, train_freq 4, learning_starts 100, buffer 1e6; given
    # explicitly so both libraries run the same numbers.
    "defaults": dict(
        learning_rate=1e-4, buffer_size=1_000_000, learning_starts=100, batch_size=32, tau=1.0, gamma=0.99,
        train_freq=4, gradient_steps=1, target_update_interval=10_000, exploration_fraction=0.1,
        exploration_initial_eps=1.0, exploration_final_eps=0.05, max_grad_norm=10,
        policy_kwargs=dict(net_arch=[64, 64]),
    ),
    # rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1.
    "zoo": dict(
        learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
        target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
        exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]),
    ),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lib", choices=["sb3", "dqn_rs", "cli"], required=True)
    p.add_argument("--xtask", help="for --lib cli: the xtask binary (target/release/xtask)")
    p.add_argument("--env", choices=["python", "rust"], required=True)
    p.add_argument("--settings", choices=sorted(SETTINGS), required=True)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(a.threads)
    import gymnasium as gym

    kwargs = dict(SETTINGS[a.settings], seed=a.seed, verbose=0)
    if a.lib == "cli":
        # The Rust CLI on the configuration dqn_rs makes of the same
        # settings: the speed the Python front should match on the Rust
        # CartPole. Its summary times training alone.
        import subprocess
        import tempfile

        from dqn_rs import DQN

        model = DQN("MlpPolicy", "CartPole-v1", **kwargs)
        text = model._config_text(a.steps)
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "config.ron")
            with open(config, "w") as f:
                f.write(text)
            out = os.path.join(tmp, "run")
            cmd = [a.xtask, "train", "--config", config, "--out", out, "--quiet",
                   "--set", f"max_train_steps=Some({a.steps})", "--set", "test_episodes=1"]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(out, "summary.json")) as f:
                summary = json.load(f)
        print(json.dumps({
            "lib": "cli", "env": "rust", "settings": a.settings, "steps": a.steps, "seed": a.seed,
            "threads": a.threads, "wall_s": summary["train_seconds"], "steps_per_s": summary["train_steps_per_second"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "version": "cargo xtask train", "gymnasium": gym.__version__, "python": sys.version.split()[0],
        }))
        return
    if a.lib == "sb3":
        import torch
        from stable_baselines3 import DQN

        torch.set_num_threads(a.threads)
        if a.env != "python":
            sys.exit("SB3 steps Python environments only")
        env = gym.make("CartPole-v1")
        version = f"stable-baselines3 {__import__('stable_baselines3').__version__}, torch {torch.__version__}"
    else:
        from dqn_rs import DQN

        # "CartPole-v1" runs the Rust CartPole; gym.make's the Python one.
        env = "CartPole-v1" if a.env == "rust" else gym.make("CartPole-v1")
        version = f"dqn_rs {__import__('dqn_rs').__version__}"
    model = DQN("MlpPolicy", env, **kwargs)
    start = time.perf_counter()
    model.learn(total_timesteps=a.steps)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "lib": a.lib, "env": a.env, "settings": a.settings, "steps": a.steps, "seed": a.seed,
        "threads": a.threads, "wall_s": wall, "steps_per_s": a.steps / wall, "peak_rss_mb": peak_kib / 1024,
        "version": version, "gymnasium": gym.__version__, "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
