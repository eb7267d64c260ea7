"""Young & Tian's own DQN (examples/dqn.py of the MinAtar repository) for a
fixed number of frames, timed: the peer of the MinAtar speed rows.

Their script is not in the `minatar` wheel or sdist, so it is read from a
file the caller provides (`--dqn-py`), fetched from the repository at the
commit ../shared/minatar-spec.md names:

    curl -L -o /tmp/minatar_dqn.py \\
      https://raw.githubusercontent.com/kenjyoung/MinAtar/4241f24685622cfb52f843cab9bbcf385a53484a/examples/dqn.py

and checked against its SHA-256 below. It is imported, not copied or
edited: only its `NUM_FRAMES` constant is set before its own `dqn()` runs
(every other constant, the network, the optimizer and the loop are theirs).
Needs torch and minatar (the anchors' venv: ../shared/anchors/setup.sh).

    python xtask/peers/minatar_dqn.py --dqn-py /tmp/minatar_dqn.py \\
        --game breakout --frames 100000 --threads 1 --json out.json
"""

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time

# examples/dqn.py at 4241f24685622cfb52f843cab9bbcf385a53484a.
DQN_PY_SHA256 = "86117ce5a443f2caf6e14ca4ae699a404ebbab90d7bfd4a03c5c78dd87feaf38"
COMMIT = "4241f24685622cfb52f843cab9bbcf385a53484a"


def check(path, expected):
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != expected:
        sys.exit(f"{path}: SHA-256 {digest}, not that of examples/dqn.py at {COMMIT} ({expected})")
    return digest


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dqn-py", required=True, help="examples/dqn.py of the MinAtar repository at %s" % COMMIT)
    p.add_argument("--game", required=True, help="asterix, breakout, freeway, seaquest or space_invaders")
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", required=True)
    a = p.parse_args()

    digest = check(a.dqn_py, DQN_PY_SHA256)
    import torch  # after the digest check: an error there should not wait for torch

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    random.seed(a.seed)
    import numpy

    numpy.random.seed(a.seed)
    torch.manual_seed(a.seed)

    spec = importlib.util.spec_from_file_location("minatar_examples_dqn", a.dqn_py)
    dqn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dqn)
    dqn.NUM_FRAMES = a.frames
    from minatar import Environment

    env = Environment(a.game)
    env.seed(a.seed)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        dqn.dqn(env, False, False, os.path.join(out, a.game))
        wall = time.perf_counter() - start
        saved = torch.load(os.path.join(out, a.game + "_data_and_weights"), weights_only=False)
    returns = [float(r) for r in saved["returns"]]
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "impl": "examples/dqn.py",
        "commit": COMMIT,
        "dqn_py_sha256": digest,
        "game": a.game,
        "frames": a.frames,
        "threads": a.threads,
        "seed": a.seed,
        "wall_s": wall,
        "frames_per_s": a.frames / wall,
        # One update per frame from frame 5 001: the rest of a 5 M-frame run
        # goes at the rate of the frames after the uniform phase, which this
        # run's average slightly overstates (its first 5 000 frames learn
        # nothing), so the projection is a lower bound.
        "projected_5m_hours": wall * 5_000_000 / a.frames / 3600,
        "episodes": len(returns),
        "mean_return_last_100": sum(returns[-100:]) / max(1, len(returns[-100:])),
        "peak_rss_mib": maxrss_mib,
        "device": str(dqn.device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
    }
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
