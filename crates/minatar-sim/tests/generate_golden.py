"""Writes the golden files of `minatar-sim` from the real packages.

    python crates/minatar-sim/tests/generate_golden.py

needs `minatar==1.0.15` and `numpy` (the anchor venv: ../shared/anchors/
setup.sh, then `pip install minatar==1.0.15 --no-deps`). It writes

- `golden_numpy/random_state.json`: numpy's `RandomState(seed)` outputs
  (`randint(2**32)`-style raw words through `tomaxint` are not used: the
  raw 32-bit words come from `randint(0, 2**32, dtype=uint32)`, which numpy
  draws one word each), `rand()` and `randint(n)` for several seeds;
- `golden_minatar/<game>.json`: the "MinAtar trajectories" format of
  ../shared/golden-format.md, several episodes per seed, replayed actions
  chosen by policies that reach deep states.
"""

import copy
import json
import os

import minatar
import numpy as np
from importlib.metadata import version

HERE = os.path.dirname(os.path.abspath(__file__))


def random_state_cases():
    cases = []
    for seed in [0, 1, 5, 42, 12345, 2**32 - 1]:
        words = np.random.RandomState(seed).randint(0, 2**32, size=1300, dtype=np.uint32)
        r = np.random.RandomState(seed)
        mixed = []
        for i in range(700):
            kind = i % 4
            if kind == 0:
                mixed.append({"call": "rand", "value": repr(float(r.rand()))})
            else:
                n = [1, 2, 3, 5, 6, 8, 9, 10, 1000, 2**31 + 7][(i * 7) % 10]
                mixed.append({"call": "randint", "n": n, "value": int(r.randint(n))})
        cases.append({"seed": seed, "words": [int(w) for w in words], "mixed": mixed})
    return {"numpy_version": np.__version__, "cases": cases}


def obs_hex(state):
    return np.packbits(np.asarray(state, dtype=bool).reshape(-1)).tobytes().hex()


def play(game, seed, episodes, policy, sticky=0.1, ramping=True, after_end=3, max_steps=20_000):
    env = minatar.Environment(game, sticky_action_prob=sticky, difficulty_ramping=ramping)
    env.seed(seed)
    rng = np.random.RandomState(10_000 + seed)  # the policy's own stream
    out = []
    for _ in range(episodes):
        env.reset()
        episode = {"initial_obs": obs_hex(env.state()), "steps": []}
        length, extra, t = None, 0, 0
        while True:
            action = policy(env, rng, t)
            reward, terminal = env.act(action)
            t += 1
            episode["steps"].append(
                {"t": t, "action": int(action), "reward": float(reward), "terminal": bool(terminal), "obs": obs_hex(env.state())}
            )
            if terminal and length is None:
                length = t
            if length is not None:
                if extra == after_end:
                    break
                extra += 1
            if t >= max_steps:
                break
        episode["episode_length"] = length if length is not None else t
        episode["steps_after_end"] = extra
        out.append(episode)
    return {
        "name": f"{game}_{policy.__name__}_seed{seed}_sticky{sticky}_ramp{int(ramping)}",
        "description": f"{episodes} episodes of {game}, seed {seed}, one stream",
        "game": game,
        "channels": int(env.state_shape()[2]),
        "sticky_action_prob": sticky,
        "difficulty_ramping": ramping,
        "seed": seed,
        "policy": policy.__doc__.strip(),
        "episodes": out,
    }


def uniform(env, rng, t):
    """uniformly random over the 6 actions"""
    return int(rng.randint(6))


def breakout_oracle(env, rng, t):
    """the paddle to the column where the ball next leaves row 8 downwards (found by playing a copy of the game on), 1 % random"""
    if rng.rand() < 0.01:
        return int(rng.randint(6))
    state = env.state()
    px = np.argwhere(state[9, :, 0])[0][0]
    sim = copy.deepcopy(env)
    sim.sticky_action_prob = 0.0
    target = px
    for _ in range(60):
        inner = sim.env
        going_down = inner.ball_dir in (2, 3)
        if inner.ball_y == 8 and going_down:
            target = inner.ball_x
            break
        _, terminal = sim.act(0)
        if terminal:
            break
    return 1 if target < px else 3 if target > px else 0


def survivor(env, rng, t, depth=8, tries=3):
    """the minimal action whose short random continuations (played on copies of the environment, its random stream included) end least and score most; 2 % random"""
    if rng.rand() < 0.02:
        return int(rng.randint(6))
    actions = env.minimal_action_set()
    best, best_score = actions[0], None
    for action in actions:
        score = 0.0
        for _ in range(tries):
            sim = copy.deepcopy(env)
            total, alive = 0, 0
            reward, terminal = sim.act(action)
            total += reward
            while not terminal and alive < depth:
                reward, terminal = sim.act(int(actions[rng.randint(len(actions))]))
                total += reward
                alive += 1
            score += alive + 3 * total
        if best_score is None or score > best_score:
            best, best_score = action, score
    return int(best)


def freeway_up(env, rng, t):
    """up, 15 % of the time a uniformly random action: many crossings, to the 2 500-frame end"""
    return int(rng.randint(6)) if rng.rand() < 0.15 else 2


def seaquest_diver(env, rng, t):
    """surface when six divers are aboard (or oxygen runs low with some), else the survivor's choice"""
    inner = env.env
    if inner.sub_y > 0 and (inner.diver_count >= 6 or (inner.oxygen < 25 and inner.diver_count > 0)):
        return 2
    if inner.sub_y == 0 and inner.diver_count <= 0 and inner.oxygen > 150:
        return 4
    return survivor(env, rng, t)


# Per game, the policy that reaches deep states (Breakout: the wall cleared
# and refilled several times) and the seeds it plays.
DEEP = {
    # Seed 112's first episode has a strike pass-through (a brick met on
    # the step after a hit, entered without scoring) at step 962.
    "breakout": (breakout_oracle, [100, 112]),
    "asterix": (survivor, [100, 101]),
    "freeway": (freeway_up, [100]),
    "seaquest": (seaquest_diver, [100, 101, 102]),
    "space_invaders": (survivor, [100, 101]),
}



def main():
    numpy_dir = os.path.join(HERE, "golden_numpy")
    os.makedirs(numpy_dir, exist_ok=True)
    with open(os.path.join(numpy_dir, "random_state.json"), "w") as f:
        json.dump(random_state_cases(), f)
    games_dir = os.path.join(HERE, "golden_minatar")
    os.makedirs(games_dir, exist_ok=True)
    for game, (deep, deep_seeds) in DEEP.items():
        cases = [play(game, seed, episodes=3, policy=uniform, max_steps=300) for seed in [0, 7]]
        # Freeway's deep state is its end: 2 501 acts, and more after it.
        deep_steps = 3000 if game == "freeway" else 1000
        cases += [play(game, seed, episodes=2, policy=deep, max_steps=deep_steps) for seed in deep_seeds]
        if game == "asterix":
            cases.append(play(game, 4, episodes=2, policy=survivor, ramping=False, max_steps=600))
        cases.append(play(game, 3, episodes=2, policy=uniform, sticky=0.0, ramping=False, max_steps=300))
        doc = {"group": game, "minatar_version": version("minatar"), "numpy_version": np.__version__, "cases": cases}
        with open(os.path.join(games_dir, f"{game}.json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
