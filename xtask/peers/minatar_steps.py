#!/usr/bin/env python3
"""Steps per second of MinAtar's five games: the `minatar` package, or gymnax's MinAtar under jax.jit
on CPU -- the peers of `cargo bench -p minatar-sim --bench steps`.

  minatar  one process, one game: `act(a)` then `state()` every step, uniformly random actions drawn
           beforehand (numpy), `reset()` after an end; the package's defaults (sticky actions 0.1,
           ramping, all six actions). Its reference speed.
  gymnax   `gymnax.make("<Game>-MinAtar")`: `--steps` steps inside one jitted `lax.scan` (env.step
           auto-resets), uniformly random actions from gymnax's own action space, one game ("single")
           and 16 games under `jax.vmap` ("batched"). Other rules than the package's (minimal action
           set, no sticky actions, a 1 000-step time limit, float observations): its speed, not the
           same game.

  python minatar_steps.py --framework minatar --seconds 3 --games breakout,seaquest --json out.json

Prints (and writes) JSON: {"framework", "version", "points": {"GAME": {"single": steps/s,
"batched": steps/s or null}}}, each the median over --reps repetitions.
"""

import argparse
import json
import os
import sys
import time
from importlib.metadata import version as dist_version

GAMES = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]
BATCH = 16


def minatar_rate(game, seconds, seed):
    import numpy as np
    from minatar import Environment

    env = Environment(game)
    env.seed(seed)
    env.reset()
    actions = np.random.default_rng(seed).integers(0, 6, size=100_000).tolist()
    steps, start = 0, time.perf_counter()
    while True:
        for a in actions[:2_000]:
            _, done = env.act(a)
            env.state()
            if done:
                env.reset()
        steps += 2_000
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def gymnax_runner(game, steps, batch, seed):
    import jax
    import gymnax

    name = "".join(part.title() for part in game.split("_")) + "-MinAtar"
    env, params = gymnax.make(name)
    n_actions = env.action_space(params).n

    def one_step(carry, key):
        state = carry
        k_act, k_step = jax.random.split(key)
        action = jax.random.randint(k_act, (), 0, n_actions)
        obs, state, reward, _terminated, _truncated, _ = env.step(k_step, state, action, params)
        return state, reward

    def rollout(key):
        k_reset, k_steps = jax.random.split(key)
        _, state = env.reset(k_reset, params)
        state, rewards = jax.lax.scan(one_step, state, jax.random.split(k_steps, steps))
        return rewards.sum()

    fn = jax.jit(rollout if batch == 1 else lambda key: jax.vmap(rollout)(jax.random.split(key, batch)))
    key = jax.random.PRNGKey(seed)
    fn(key).block_until_ready()  # compilation

    def run():
        start = time.perf_counter()
        fn(key).block_until_ready()
        return steps * batch / (time.perf_counter() - start)

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--framework", choices=["minatar", "gymnax"], required=True)
    ap.add_argument("--seconds", type=float, default=3.0, help="per game and repetition (minatar)")
    ap.add_argument("--steps", type=int, default=100_000, help="steps of one jitted call (gymnax)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--games", default=",".join(GAMES), help="comma-separated, of " + ", ".join(GAMES))
    ap.add_argument("--anchors", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "anchors"))
    ap.add_argument("--json")
    args = ap.parse_args()
    games = args.games.split(",")
    unknown = [g for g in games if g not in GAMES]
    if unknown:
        ap.error(f"unknown games {unknown}; the games are {GAMES}")
    points = {}
    if args.framework == "minatar":
        version = dist_version("minatar")
        for game in games:
            rates = sorted(minatar_rate(game, args.seconds, args.seed) for _ in range(args.reps))
            points[game] = {"single": rates[len(rates) // 2], "batched": None}
    else:
        sys.path.insert(0, os.path.join(args.anchors, "jax"))
        import benchutil  # sets XLA's threads and the affinity before jax is imported
        benchutil.configure_threads(1)
        version = dist_version("gymnax")
        for game in games:
            point = {}
            for label, batch in (("single", 1), ("batched", BATCH)):
                run = gymnax_runner(game, args.steps // batch if batch > 1 else args.steps, batch, args.seed)
                rates = sorted(run() for _ in range(args.reps))
                point[label] = rates[len(rates) // 2]
            points[game] = point
    out = {"framework": args.framework, "version": version, "points": points}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
