"""Checks a run's TensorBoard event file with TensorBoard's own reader.

Run from the workspace root, after `cargo build --release -p xtask`, with the Python of
`bash xtask/interop/setup.sh`:

    /tmp/dqn-anchor-venv/bin/python xtask/interop/check_tensorboard.py

It trains a short run (`xtask train --tensorboard DIR`, seed 0, 60 episodes, with periodic
evaluations), loads DIR/<run>/ with tensorboard's `EventAccumulator`, and asserts that the
scalar tags are the ones dqn-rs writes and that every train/* scalar has train.csv's steps
(total_steps) and values (as float32), eval/* eval.csv's and test/return test.csv's. It
prints what it compared and exits non-zero on any difference.
"""
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np
from tensorboard import version as tb_version
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
XTASK = os.path.join(ROOT, "target", "release", "xtask")
TRAIN_TAGS = {"train/return": "return", "train/episode_length": "steps", "train/epsilon": "epsilon",
              "train/loss": "mean_loss", "train/q_probe": "q_probe"}


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def f32(text):
    return float(np.float32(float(text)))


def main():
    scratch = tempfile.mkdtemp(prefix="dqn-tb-")
    run, logdir = os.path.join(scratch, "seed0"), os.path.join(scratch, "tb")
    subprocess.run([XTASK, "train", "--seed", "0", "--set", "train_episodes=60",
                    "--set", "early_stop=Some((every_steps: 200, episodes: 5, solved_at: 1e9))",
                    "--tensorboard", logdir, "--out", run, "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    acc = EventAccumulator(os.path.join(logdir, "seed0"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    expected = set(TRAIN_TAGS) | {"train/steps_per_second", "eval/mean_return", "eval/min_return", "test/return"}
    assert tags == expected, f"tags {sorted(tags)}, expected {sorted(expected)}"
    train = rows(os.path.join(run, "train.csv"))
    checked = 0
    for tag, column in TRAIN_TAGS.items():
        events = acc.Scalars(tag)
        want = [(int(r["total_steps"]), f32(r[column])) for r in train if r[column] != ""]
        got = [(e.step, e.value) for e in events]
        assert got == want, f"{tag}: {got[:3]}... != {want[:3]}..."
        checked += len(got)
    evals = rows(os.path.join(run, "eval.csv"))
    for tag, column in (("eval/mean_return", "mean_return"), ("eval/min_return", "min_return")):
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert got == [(int(r["total_steps"]), f32(r[column])) for r in evals], tag
        checked += len(got)
    tests = rows(os.path.join(run, "test.csv"))
    got = [(e.step, e.value) for e in acc.Scalars("test/return")]
    assert got == [(int(r["episode"]), f32(r["return"])) for r in tests], "test/return"
    checked += len(got)
    assert all(e.value > 0 for e in acc.Scalars("train/steps_per_second"))
    print(f"tensorboard {tb_version.VERSION}: {len(tags)} tags, {checked} scalars equal to the CSV logs "
          f"({len(train)} episodes, {len(evals)} evaluations, {len(tests)} test episodes)")


if __name__ == "__main__":
    sys.exit(main())
