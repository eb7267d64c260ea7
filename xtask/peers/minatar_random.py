#!/usr/bin/env python3
"""Mean return of a uniformly random policy on each MinAtar game (all six actions, sticky 0.1, ramping),
with a 95 % normal interval: the baseline a short DQN run must rise above.

Episode i starts from reset(seed=s_i), s_i drawn from numpy's default_rng(12345); actions from the same
generator. `--source dqn_rs` plays `dqn_rs.MinAtarEnv` (the Rust games, bit-exact with the package;
needs a build with the `minatar` feature); `--source minatar` the package's own Gymnasium env.

  python minatar_random.py --source dqn_rs
"""

import argparse

import numpy as np

GAMES = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]


def make(source, game):
    if source == "dqn_rs":
        from dqn_rs import MinAtarEnv

        return MinAtarEnv(game)
    from minatar.gym import BaseEnv

    return BaseEnv(game)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=["dqn_rs", "minatar"], default="dqn_rs")
    ap.add_argument("--episodes", type=int, default=2000, help="per game (Freeway, 2 501 steps each: 300)")
    args = ap.parse_args()
    for game in GAMES:
        env = make(args.source, game)
        rng = np.random.default_rng(12345)
        n = min(args.episodes, 300) if game == "freeway" else args.episodes
        returns, lengths = [], []
        for _ in range(n):
            env.reset(seed=int(rng.integers(0, 2**32)))
            done, total, steps = False, 0.0, 0
            while not done:
                _, reward, done, _, _ = env.step(int(rng.integers(0, 6)))
                total, steps = total + reward, steps + 1
            returns.append(total)
            lengths.append(steps)
        r = np.array(returns)
        print(f"{game}: {r.mean():.3f} ± {1.96 * r.std() / np.sqrt(n):.3f} over {n} episodes, mean length {np.mean(lengths):.0f}")


if __name__ == "__main__":
    main()
