"""Writes the MountainCar golden trajectories in tests/golden/ from the real Gymnasium.

Run in a venv with gymnasium installed (e.g. made by ../shared/anchors/setup.sh):

    /tmp/dqn-anchor-venv/bin/python crates/mountaincar-sim/tests/generate_golden.py
    /tmp/dqn-anchor-venv/bin/python crates/mountaincar-sim/tests/generate_golden.py --holdout SEED  # new cases

Each case starts Gymnasium's MountainCar-v0 from an explicit float64 state
(set on env.unwrapped after reset), steps it with a stated policy until
terminated or truncated, and records every state and observation as IEEE-754
bits. The format is ../shared/golden-format.md (MountainCar and Acrobot).
MountainCar uses Python's math.cos, so the machine's numpy build does not
matter here.
"""
import json
import math
import os
import platform
import struct
import sys

import gymnasium as gym
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def f64vec(values):
    values = [float(v) for v in values]
    return {
        "bits": [format(struct.unpack("<Q", struct.pack("<d", v))[0], "016x") for v in values],
        "hex": [v.hex() for v in values],
        "repr": [repr(v) for v in values],
    }


def f32vec(values):
    arr = np.asarray(values, dtype=np.float32)
    return {"u32": [format(int(b), "08x") for b in arr.view(np.uint32)], "repr": [repr(float(v)) for v in arr]}


def random_policy(seed):
    rng = np.random.default_rng(seed)
    return (lambda state, t: int(rng.integers(0, 3))), {"kind": "random", "numpy_default_rng_seed": seed}


def energy_policy():
    # Push in the direction the car moves: pumps energy in, reaches the flag.
    return (lambda state, t: 2 if state[1] >= 0 else 0), {"kind": "energy", "rule": "2 if velocity >= 0 else 0"}


def constant_policy(a):
    return (lambda state, t: a), {"kind": "constant", "action": a}


def run_case(name, description, initial_state, policy, max_steps=200, reset_seed=0):
    act, policy_info = policy
    env = gym.make("MountainCar-v0", max_episode_steps=max_steps)
    reset_obs, _ = env.reset(seed=reset_seed)
    reset_state = np.array(env.unwrapped.state, dtype=np.float64)
    if initial_state is None:
        initial_state = reset_state
    env.unwrapped.state = np.array(initial_state, dtype=np.float64)
    steps, end_reason = [], []
    t = 0
    while True:
        t += 1
        state_before = np.array(env.unwrapped.state, dtype=np.float64)
        a = act(state_before, t)
        obs, reward, terminated, truncated, _ = env.step(a)
        state = np.array(env.unwrapped.state, dtype=np.float64)
        assert np.array_equal(obs, state.astype(np.float32))
        steps.append({
            "t": t, "action": a, "state": f64vec(state), "obs": f32vec(obs),
            "reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated),
        })
        if terminated or truncated:
            if terminated:
                end_reason.append("reached the goal")
            if truncated:
                end_reason.append(f"time limit {max_steps}")
            break
    env.close()
    return {
        "name": name, "description": description, "env_id": "MountainCar-v0", "max_episode_steps": max_steps,
        "initial_state": f64vec(initial_state),
        "initial_obs": f32vec(np.asarray(initial_state, dtype=np.float32)),
        "reset_seed": reset_seed, "reset_state": f64vec(reset_state), "reset_obs": f32vec(reset_obs),
        "policy": policy_info, "episode_length": t, "end_reason": end_reason, "steps_after_end": 0,
        "steps": steps,
    }


def groups():
    random_cases = [
        run_case(f"random_seed{seed}", f"Gymnasium's reset(seed={seed}) state, uniformly random actions",
                 None, random_policy(100 + seed), reset_seed=seed)
        for seed in range(6)
    ]
    goal = run_case("energy_reaches_goal", "pushing along the velocity rocks the car up to the flag",
                    None, energy_policy(), reset_seed=3)
    n = goal["episode_length"]
    limit_cases = [
        goal,
        run_case("energy_from_the_bottom", "from the valley's bottom at rest, to the flag",
                 [-0.5235987755982988, 0.0], energy_policy()),
        run_case("truncated_short_limit", "random actions truncated at a step limit of 37",
                 None, random_policy(7), max_steps=37, reset_seed=11),
        run_case("terminated_and_truncated", f"reaches the flag on step {n}, which is also the step limit",
                 None, energy_policy(), max_steps=n, reset_seed=3),
        run_case("left_wall", "moving left into the wall at -1.2: position clipped, velocity zeroed",
                 [-1.15, -0.05], constant_policy(0)),
        run_case("left_wall_pushing_right", "hits the wall, then the engine pushes it out again",
                 [-1.19, -0.069], random_policy(5)),
        run_case("speed_clip_right", "near the top speed, pushed faster: velocity clipped at 0.07",
                 [-0.6, 0.0699], constant_policy(2)),
        run_case("speed_clip_left", "near the top speed leftwards: velocity clipped at -0.07",
                 [-0.3, -0.0699], constant_policy(0)),
        run_case("just_below_goal", "a hair left of the flag, moving right: terminates on the first step",
                 [0.4999, 0.0005], constant_policy(1)),
        run_case("at_goal_moving_back", "on the flag but rolling back: not terminal, slides away",
                 [0.5, -0.0001], constant_policy(1)),
        run_case("goal_velocity_zero", "reaches 0.5 with velocity exactly 0 is terminal",
                 [0.49, 0.01], constant_policy(1)),
        run_case("right_end", "fast to the right end of the track (0.6): clipped there",
                 [0.58, 0.05], constant_policy(2)),
    ]
    return {"random_actions": random_cases, "limits": limit_cases}


# The state space the random holdout states are drawn from.
LOW = [-1.2, -0.07]
HIGH = [0.6, 0.07]


def holdout(seed):
    """Cases nobody looked at while writing the simulator: Gymnasium's own
    resets and random explicit states anywhere in the state space, from
    `seed`, with random actions. `--holdout SEED` writes them to
    golden/holdout_seed<SEED>.json, which the golden test reads like any
    other file."""
    rng = np.random.default_rng(seed)
    cases = [
        run_case(f"holdout{seed}_reset{r}", f"Gymnasium's reset(seed={r}) state, random actions",
                 None, random_policy(int(rng.integers(1 << 31))), reset_seed=int(r))
        for r in rng.integers(1000, 1 << 31, size=6)
    ]
    low, high = np.array(LOW), np.array(HIGH)
    for i in range(6):
        state = [float(v) for v in rng.uniform(low, high)]
        cases.append(run_case(f"holdout{seed}_state{i}", "a uniformly random state in the state space, random actions",
                              state, random_policy(int(rng.integers(1 << 31)))))
    return {f"holdout_seed{seed}": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    chosen = holdout(int(sys.argv[2])) if sys.argv[1:2] == ["--holdout"] else groups()
    for group, cases in chosen.items():
        for c in cases:
            print(f"{group}/{c['name']}: {c['episode_length']} steps, {c['end_reason']}")
        doc = {"group": group, "gymnasium_version": gym.__version__, "numpy_version": np.__version__,
               "machine": platform.machine(), "cases": cases}
        with open(os.path.join(OUT, f"{group}.json"), "w") as f:
            json.dump(doc, f, indent=None, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
