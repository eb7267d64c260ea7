"""Writes the Catch golden episodes in tests/golden/ from bsuite's own Catch.

bsuite's package __init__ imports every experiment (gym, scikit-image,
pandas, ...); only `bsuite.environments.catch` is needed, so this makes a
bare `bsuite` package object and imports that module alone. Set up:

    python3 -m venv /tmp/bsuite-venv
    /tmp/bsuite-venv/bin/pip install bsuite==0.3.5 --no-deps
    /tmp/bsuite-venv/bin/pip install dm_env==1.6 numpy==2.1.3 absl-py==2.1.0
    /tmp/bsuite-venv/bin/python crates/catch-sim/tests/generate_golden.py
    /tmp/bsuite-venv/bin/python crates/catch-sim/tests/generate_golden.py --holdout SEED  # new cases

Format (one file holds a group of episodes, like the classic-control
trajectories of shared/golden-format.md): top level {"group",
"bsuite_version", "numpy_version", "cases": [case, ...]}; a case:
  name, description, env_id ("Catch-bsuite"), rows, columns,
  reset_seed (bsuite's Catch(seed=...)), episode_index (which episode of
  that environment), initial_state (ball row, ball column, paddle column,
  as plain numbers: bsuite draws the column with numpy's RandomState, which
  the Rust side does not reproduce, so the test starts from this state),
  initial_obs (the board, row-major, 0/1 integers), policy (informational),
  episode_length, steps: [{"t", "action": 0|1|2, "obs": [0/1 * rows*columns],
  "reward", "terminated", "truncated"}].
Pass criterion: from initial_state, every step's board equal cell for cell,
reward and flags equal, and a step after the end refused.
"""
import importlib.metadata
import json
import os
import site
import sys
import types

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def load_catch():
    for root in site.getsitepackages():
        path = os.path.join(root, "bsuite")
        if os.path.isdir(path):
            package = types.ModuleType("bsuite")
            package.__path__ = [path]
            sys.modules["bsuite"] = package
            from bsuite.environments import catch

            return catch
    raise SystemExit("bsuite is not installed in this interpreter")


def board(observation):
    assert observation.shape == (10, 5) and observation.dtype == np.float32
    assert set(np.unique(observation)) <= {0.0, 1.0}
    return [int(v) for v in observation.reshape(-1)]


def episodes(catch, seed, count, policy_seed, policy):
    env = catch.Catch(seed=seed)
    rng = np.random.default_rng(policy_seed)
    cases = []
    for index in range(count):
        first = env.reset()
        state = [0, int(env._ball_x), int(env._paddle_x)]
        steps = []
        t = 0
        while True:
            t += 1
            if policy == "random":
                action = int(rng.integers(0, 3))
            else:  # follow: move towards the ball's column
                action = 1 + int(np.sign(env._ball_x - env._paddle_x))
            step = env.step(action)
            done = step.last()
            steps.append({
                "t": t,
                "action": action,
                "obs": board(step.observation),
                "reward": float(step.reward),
                "terminated": bool(done),
                "truncated": False,
            })
            if done:
                break
        cases.append({
            "name": f"seed{seed}_{policy}_episode{index}",
            "description": f"episode {index} of bsuite Catch(seed={seed}), {policy} actions",
            "env_id": "Catch-bsuite",
            "rows": 10,
            "columns": 5,
            "reset_seed": seed,
            "episode_index": index,
            "initial_state": state,
            "initial_obs": board(first.observation),
            "policy": {"kind": policy, "numpy_default_rng_seed": policy_seed},
            "episode_length": t,
            "steps": steps,
        })
    return cases


def write(name, group, cases):
    doc = {
        "group": group,
        "bsuite_version": importlib.metadata.version("bsuite"),
        "numpy_version": np.__version__,
        "cases": cases,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {name}")


def main():
    catch = load_catch()
    if len(sys.argv) == 3 and sys.argv[1] == "--holdout":
        seed = int(sys.argv[2])
        write(f"holdout_seed{seed}.json", f"holdout {seed}", episodes(catch, seed, 10, seed + 1, "random"))
        return
    # Random actions hit the walls and miss; following the ball catches it.
    write("random.json", "random actions", episodes(catch, 0, 20, 1, "random"))
    write("follow.json", "following the ball", episodes(catch, 7, 10, 0, "follow"))


if __name__ == "__main__":
    main()
