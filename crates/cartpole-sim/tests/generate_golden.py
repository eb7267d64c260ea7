"""Writes the CartPole golden trajectories in tests/golden/ from the real Gymnasium.

Run in a venv with gymnasium installed (e.g. made by ../shared/anchors/setup.sh):

    /tmp/dqn-anchor-venv/bin/python crates/cartpole-sim/tests/generate_golden.py

Each case starts Gymnasium's CartPole from an explicit float64 state (set on
env.unwrapped after reset), steps it with a stated policy until terminated or
truncated, then a few more steps without reset, and records every state and
observation as IEEE-754 bits. The format is ../shared/golden-format.md.
"""
import json
import math
import os
import struct
import warnings

import gymnasium as gym
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
THETA_THR = 12 * 2 * math.pi / 360
STEPS_AFTER_END = 3


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


def linear_policy(w):
    def act(state, t, rng):
        return int(float(np.dot(w, state)) > 0.0)
    return act, {"kind": "linear", "weights": list(w), "rule": "1 if w.state > 0 else 0"}


def random_policy(seed):
    rng = np.random.default_rng(seed)
    def act(state, t, _):
        return int(rng.integers(0, 2))
    return act, {"kind": "random", "numpy_default_rng_seed": seed}


def noisy_policy(w, p_random, seed):
    rng = np.random.default_rng(seed)
    def act(state, t, _):
        if rng.random() < p_random:
            return int(rng.integers(0, 2))
        return int(float(np.dot(w, state)) > 0.0)
    return act, {"kind": "linear with random actions", "weights": list(w), "p_random": p_random,
                 "numpy_default_rng_seed": seed}


def constant_policy(a):
    return (lambda state, t, rng: a), {"kind": "constant", "action": a}


def run_case(name, description, initial_state, policy, integrator="euler", max_steps=500, reset_seed=0):
    act, policy_info = policy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the step-after-termination warning is expected
        env = gym.make("CartPole-v1", max_episode_steps=max_steps)
        reset_obs, _ = env.reset(seed=reset_seed)
        reset_state = np.array(env.unwrapped.state, dtype=np.float64)
        env.unwrapped.kinematics_integrator = integrator
        if initial_state is None:
            initial_state = reset_state
        env.unwrapped.state = np.array(initial_state, dtype=np.float64)
        steps, episode_length, end_reason = [], None, []
        t = 0
        while True:
            t += 1
            state_before = np.array(env.unwrapped.state, dtype=np.float64)
            a = act(state_before, t, None)
            obs, reward, terminated, truncated, _ = env.step(a)
            state = np.array(env.unwrapped.state, dtype=np.float64)
            assert np.array_equal(obs, state.astype(np.float32))
            steps.append({
                "t": t, "action": a, "state": f64vec(state), "obs": f32vec(obs),
                "reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated),
            })
            if episode_length is None and (terminated or truncated):
                episode_length = t
                x, _, theta, _ = state
                if abs(x) > 2.4:
                    end_reason.append("x out of bounds")
                if abs(theta) > THETA_THR:
                    end_reason.append("theta out of bounds")
                if truncated:
                    end_reason.append(f"time limit {max_steps}")
            if episode_length is not None and t >= episode_length + STEPS_AFTER_END:
                break
        env.close()
        # Resets without a seed continue the seeded generator: record three.
        probe = gym.make("CartPole-v1")
        probe.reset(seed=reset_seed)
        next_resets = []
        for _ in range(3):
            probe.reset()
            next_resets.append(f64vec(np.array(probe.unwrapped.state, dtype=np.float64)))
        probe.close()
    return {
        "name": name, "description": description, "env_id": "CartPole-v1",
        "max_episode_steps": max_steps, "integrator": integrator,
        "initial_state": f64vec(initial_state), "initial_obs": f32vec(np.asarray(initial_state, dtype=np.float32)),
        "reset_seed": reset_seed, "reset_state": f64vec(reset_state), "reset_obs": f32vec(reset_obs),
        "next_reset_states": next_resets,
        "policy": policy_info, "episode_length": episode_length, "end_reason": end_reason,
        "steps_after_end": STEPS_AFTER_END, "steps": steps,
    }


# A linear controller that balances the pole (found by trying weights on both
# integrators); it keeps CartPole up for the whole 500 steps from rest.
BALANCE = [0.3, 0.7, 10.0, 2.0]
# Balances the pole but ignores the cart, so the cart drifts off the track.
DRIFT = [0.0, 0.0, 10.0, 2.0]


def groups():
    random_cases = []
    for integrator in ["euler", "semi-implicit euler"]:
        tag = "euler" if integrator == "euler" else "semi_implicit"
        for seed in range(4):
            random_cases.append(run_case(
                f"random_{tag}_seed{seed}",
                f"Gymnasium's reset(seed={seed}) state, uniformly random actions, {integrator}",
                None, random_policy(100 + seed), integrator, reset_seed=seed))
        for seed in range(2):
            random_cases.append(run_case(
                f"noisy_balance_{tag}_seed{seed}",
                f"reset(seed={10 + seed}) state, the balancing controller with 30% random actions, {integrator}",
                None, noisy_policy(BALANCE, 0.3, 200 + seed), integrator, reset_seed=10 + seed))
    limit_cases = []
    for integrator in ["euler", "semi-implicit euler"]:
        tag = "euler" if integrator == "euler" else "semi_implicit"
        limit_cases += [
            run_case(f"x_right_{tag}", "cart moving right past x = +2.4 while the pole is balanced",
                     [2.3, 1.5, 0.0, 0.0], linear_policy(DRIFT), integrator),
            run_case(f"x_left_{tag}", "cart drifting left off the track under a pole-only controller",
                     [-1.0, -0.6, 0.01, 0.0], linear_policy(DRIFT), integrator),
            run_case(f"theta_left_{tag}", "always push right from rest: the pole falls left (theta < -thr)",
                     [0.0, 0.0, 0.0, 0.0], constant_policy(1), integrator),
            run_case(f"theta_right_{tag}", "always push left: the pole falls right (theta > +thr)",
                     [0.01, -0.02, 0.03, 0.04], constant_policy(0), integrator),
            run_case(f"on_bounds_{tag}", "starts exactly on x = +2.4 and theta = +thr (alive), moving back inside",
                     [2.4, -0.5, THETA_THR, -0.8], linear_policy(BALANCE), integrator),
            run_case(f"on_bounds_neg_{tag}", "starts exactly on x = -2.4 and theta = -thr, moving outward",
                     [-2.4, -0.01, -THETA_THR, -0.01], constant_policy(0), integrator),
            run_case(f"fast_spin_{tag}", "large velocities near the limits",
                     [1.9, 3.0, -0.15, 2.5], linear_policy(BALANCE), integrator),
            run_case(f"truncated_500_{tag}", "a balancing controller survives until truncation at 500",
                     [0.02, -0.01, 0.03, 0.0], linear_policy(BALANCE), integrator),
        ]
    limit_cases.append(run_case("truncated_v0_200", "the v0 step limit: truncated at 200",
                                [0.0, 0.0, 0.02, 0.0], linear_policy(BALANCE), "euler", max_steps=200))
    # Always pushing right from rest terminates on a known step; a step limit
    # equal to it makes both flags true on the same step.
    probe = run_case("probe", "", [0.0, 0.0, 0.0, 0.0], constant_policy(1))
    n = probe["episode_length"]
    limit_cases.append(run_case("terminated_and_truncated", f"terminates on step {n}, which is also the step limit",
                                [0.0, 0.0, 0.0, 0.0], constant_policy(1), "euler", max_steps=n))
    return {"random_actions": random_cases, "limits": limit_cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    for group, cases in groups().items():
        for c in cases:
            print(f"{group}/{c['name']}: {c['episode_length']} steps, {c['end_reason']}")
        doc = {"group": group, "gymnasium_version": gym.__version__, "numpy_version": np.__version__, "cases": cases}
        with open(os.path.join(OUT, f"{group}.json"), "w") as f:
            json.dump(doc, f, indent=None, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
