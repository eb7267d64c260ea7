"""xtask/atari/train.py: a run stopped after a save and started again with the
same folder ends as the run never stopped (parameters, updates, games)."""

import pathlib
import subprocess
import sys

import numpy as np

from dqn_rs import DQN, make_atari_env

ROOT = pathlib.Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "xtask" / "atari" / "train.py"


def small_config(tmp_path):
    text = (ROOT / "presets" / "atari" / "cleanrl-dqn.ron").read_text()
    text = text.replace("buffer_capacity: 1000000", "buffer_capacity: 2000").replace(
        "learning_starts: 80000", "learning_starts: 200"
    )
    path = tmp_path / "small.ron"
    path.write_text(text)
    return path


def train(config, out, *extra):
    args = [sys.executable, str(SCRIPT), "--game", "Breakout", "--config", str(config), "--steps", "700",
            "--chunk", "250", "--out", str(out), *extra]
    return subprocess.run(args, capture_output=True, text=True)


def test_a_stopped_run_resumes_to_the_same_end(tmp_path):
    config = small_config(tmp_path)
    whole = train(config, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    stopped = train(config, tmp_path / "stopped", "--stop-after-chunks", "1")
    assert stopped.returncode == 130 and "resumes" in stopped.stderr, stopped.stderr
    assert not (tmp_path / "stopped" / "summary.json").exists()
    resumed = train(config, tmp_path / "stopped")
    assert resumed.returncode == 0 and "resumed at step 250" in resumed.stderr, resumed.stderr
    games = [(tmp_path / d / "games.csv").read_text().splitlines() for d in ("whole", "stopped")]
    # Same games at the same steps and scores (wall times aside).
    assert [r.split(",")[:3] for r in games[0]] == [r.split(",")[:3] for r in games[1]] and len(games[0]) > 1
    a, b = (DQN.load(tmp_path / d / "model.zip", env=make_atari_env("Breakout")) for d in ("whole", "stopped"))
    assert a.num_timesteps == b.num_timesteps == 700 and a.n_updates == b.n_updates > 0
    pa, pb = a.get_parameters()["policy"], b.get_parameters()["policy"]
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_a_folder_of_another_run_is_refused(tmp_path):
    config = small_config(tmp_path)
    assert train(config, tmp_path / "run", "--stop-after-chunks", "0").returncode == 130
    other = train(config, tmp_path / "run", "--seed", "2")
    assert other.returncode != 0 and "seed" in other.stderr
