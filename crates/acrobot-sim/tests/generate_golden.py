"""Writes the Acrobot golden trajectories in tests/golden/ from the real Gymnasium.

Run in a venv with gymnasium installed (e.g. made by ../shared/anchors/setup.sh):

    /tmp/dqn-anchor-venv/bin/python crates/acrobot-sim/tests/generate_golden.py
    /tmp/dqn-anchor-venv/bin/python crates/acrobot-sim/tests/generate_golden.py --holdout SEED  # new cases

Each case starts Gymnasium's Acrobot-v1 from an explicit float64 state (set on
env.unwrapped after reset), steps it with a stated policy until terminated or
truncated, and records every state and observation as IEEE-754 bits. The
format is ../shared/golden-format.md (MountainCar and Acrobot).

Acrobot uses numpy's float64 cos and sin, which on some CPUs (AVX-512) are
numpy's own SIMD code rather than the platform libm that the Rust port calls.
The script first compares np.cos/np.sin with math.cos/math.sin on 400 000
angles and refuses to write anything if one differs; the files record numpy's
version and the machine's CPU features.
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


def check_numpy_trig():
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-7.0, 7.0, 300000), rng.uniform(-0.3, 0.3, 100000)])
    for name, np_f, m_f in [("cos", np.cos, math.cos), ("sin", np.sin, math.sin)]:
        bad = sum(1 for x in xs if np_f(np.float64(x)) != m_f(float(x)))
        if bad:
            raise SystemExit(f"numpy's {name} differs from libm's on {bad} of {len(xs)} angles on this machine: "
                             "generate on an AVX2 machine or set NPY_DISABLE_CPU_FEATURES")


def f64vec(values):
    values = [float(v) for v in values]
    return {"bits": [format(struct.unpack("<Q", struct.pack("<d", v))[0], "016x") for v in values],
            "repr": [repr(v) for v in values]}


def f32vec(values):
    arr = np.asarray(values, dtype=np.float32)
    return {"u32": [format(int(b), "08x") for b in arr.view(np.uint32)], "repr": [repr(float(v)) for v in arr]}


def obs_of(state):
    s = np.asarray(state, dtype=np.float64)
    return np.array([np.cos(s[0]), np.sin(s[0]), np.cos(s[1]), np.sin(s[1]), s[2], s[3]], dtype=np.float32)


def random_policy(seed):
    rng = np.random.default_rng(seed)
    return (lambda state, t: int(rng.integers(0, 3))), {"kind": "random", "numpy_default_rng_seed": seed}


def pump_policy():
    # Torque along the second joint's swing: pumps energy in, swings up.
    return (lambda state, t: 2 if state[3] > 0 else 0), {"kind": "pump", "rule": "2 if dtheta2 > 0 else 0"}


def constant_policy(a):
    return (lambda state, t: a), {"kind": "constant", "action": a}


def run_case(name, description, initial_state, policy, max_steps=500, reset_seed=0):
    act, policy_info = policy
    env = gym.make("Acrobot-v1", max_episode_steps=max_steps)
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
        assert np.array_equal(obs, obs_of(state))
        steps.append({
            "t": t, "action": a, "state": f64vec(state), "obs": f32vec(obs),
            "reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated),
        })
        if terminated or truncated:
            if terminated:
                end_reason.append("the tip swung above the bar")
            if truncated:
                end_reason.append(f"time limit {max_steps}")
            break
    env.close()
    return {
        "name": name, "description": description, "env_id": "Acrobot-v1", "max_episode_steps": max_steps,
        "initial_state": f64vec(initial_state), "initial_obs": f32vec(obs_of(initial_state)),
        "reset_seed": reset_seed, "reset_state": f64vec(reset_state), "reset_obs": f32vec(reset_obs),
        "policy": policy_info, "episode_length": t, "end_reason": end_reason, "steps_after_end": 0,
        "steps": steps,
    }


def groups():
    pi = math.pi
    random_cases = [
        run_case(f"random_seed{seed}", f"Gymnasium's reset(seed={seed}) state, uniformly random actions",
                 None, random_policy(100 + seed), reset_seed=seed)
        for seed in range(4)
    ]
    swing = run_case("pump_swings_up", "torque along the second joint's swing reaches the bar",
                     None, pump_policy(), reset_seed=1)
    n = swing["episode_length"]
    # Just below the terminal height: theta2 = 0 and theta1 a hair under
    # 2pi/3 make the tip height a hair under 1, rising.
    below = 2.0 * pi / 3.0 - 1e-4
    limit_cases = [
        swing,
        run_case("pump_from_seed2", "the pumping policy from reset(seed=2)", None, pump_policy(), reset_seed=2),
        run_case("truncated_short_limit", "random actions truncated at a step limit of 41",
                 None, random_policy(9), max_steps=41, reset_seed=12),
        run_case("terminated_and_truncated", f"swings up on step {n}, which is also the step limit",
                 None, pump_policy(), max_steps=n, reset_seed=1),
        run_case("wrap_theta1_positive", "theta1 just under +pi, spinning up: wraps to -pi",
                 [pi - 0.01, 0.3, 2.0, -1.0], constant_policy(1), max_steps=60),
        run_case("wrap_theta1_negative", "theta1 just over -pi, spinning down: wraps to +pi",
                 [-pi + 0.01, -0.2, -2.5, 1.0], constant_policy(1), max_steps=60),
        run_case("wrap_theta2", "theta2 near +pi spinning fast: wraps both ways",
                 [0.1, pi - 0.02, 0.0, 6.0], random_policy(3), max_steps=80),
        run_case("velocity_bounds_high", "both joints at their speed limits, pushed beyond: bounded at 4pi, 9pi",
                 [0.0, 0.0, 4.0 * pi - 0.01, 9.0 * pi - 0.01], constant_policy(2), max_steps=40),
        run_case("velocity_bounds_low", "both joints at their negative speed limits: bounded at -4pi, -9pi",
                 [0.0, 0.0, -4.0 * pi + 0.01, -9.0 * pi + 0.01], constant_policy(0), max_steps=40),
        run_case("just_below_terminal", "the tip a hair under the bar, rising: terminates at once",
                 [below, 0.0, 0.5, 0.0], constant_policy(2)),
        run_case("on_terminal_height", "tip height exactly 1 (not above), falling back",
                 [2.0 * pi / 3.0, 0.0, -0.5, 0.0], constant_policy(1), max_steps=30),
        run_case("hanging_at_rest", "straight down, no torque: stays (up to rounding) until the limit",
                 [0.0, 0.0, 0.0, 0.0], constant_policy(1), max_steps=100),
    ]
    return {"random_actions": random_cases, "limits": limit_cases}


def cpu_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as f
    except ImportError:  # older numpy
        from numpy.core._multiarray_umath import __cpu_features__ as f
    return sorted(k for k, v in f.items() if v)


# The state space the random holdout states are drawn from.
LOW = [-math.pi, -math.pi, -4 * math.pi, -9 * math.pi]
HIGH = [math.pi, math.pi, 4 * math.pi, 9 * math.pi]


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
    check_numpy_trig()
    os.makedirs(OUT, exist_ok=True)
    chosen = holdout(int(sys.argv[2])) if sys.argv[1:2] == ["--holdout"] else groups()
    for group, cases in chosen.items():
        for c in cases:
            print(f"{group}/{c['name']}: {c['episode_length']} steps, {c['end_reason']}")
        doc = {"group": group, "gymnasium_version": gym.__version__, "numpy_version": np.__version__,
               "machine": platform.machine(), "numpy_cpu_features": cpu_features(),
               "numpy_trig_equals_libm": True, "cases": cases}
        with open(os.path.join(OUT, f"{group}.json"), "w") as f:
            json.dump(doc, f, indent=None, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
