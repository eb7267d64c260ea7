#!/usr/bin/env bash
# Installs CleanRL's DQN (cleanrl/dqn.py of the PyPI release cleanrl 1.2.0) into a venv of its own,
# for the CleanRL row of the classic-control benchmark (xtask/peers/cleanrl_dqn.py).
# Usage: bash xtask/peers/setup_cleanrl.sh [VENV_DIR]   (default: /tmp/cleanrl-venv; the torch
# wheel pulls CUDA libraries, about 5 GB and a few minutes).
# Why its own venv and not the anchors': 1.2.0's dqn.py is written for gymnasium 0.28/0.29 (it
# reads infos["final_observation"] and "final_info"); under the anchors' gymnasium 1.4.0 it stops
# with KeyError: 'final_observation' at the first truncated episode.
# Why --no-deps: 1.2.0's metadata cannot be installed as it is (Requires-Python <3.11, pygame==2.1.0
# that has no wheel for 3.11 and fails to build, stable-baselines3==1.2.0 that its own dqn.py
# refuses, gym, wandb, huggingface-hub that dqn.py never needs). So it comes without them, beside
# what dqn.py and its evaluation import: torch and gymnasium at CleanRL's own lock (torch 2.4.1,
# gymnasium 0.29.1, numpy 1.x), SB3 2.x for its ReplayBuffer (2.3.2 is the last that accepts
# gymnasium 0.29 with numpy 1), tensorboard for SummaryWriter, and moviepy and pygame because
# --save-model runs cleanrl_utils.evals.dqn_eval.evaluate, which records videos.
set -eu
venv=${1:-/tmp/cleanrl-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "torch==2.4.1" "numpy==1.26.4" "gymnasium==0.29.1" "stable-baselines3==2.3.2" \
  "tensorboard==2.21.0" "moviepy==1.0.3" "pygame==2.6.1"
"$venv/bin/pip" install -q --no-deps --ignore-requires-python "cleanrl==1.2.0"
"$venv/bin/python" -W ignore -c "import importlib.metadata as m, cleanrl.dqn, torch, gymnasium, stable_baselines3 as sb3; print('cleanrl', m.version('cleanrl'), 'torch', torch.__version__, 'gymnasium', gymnasium.__version__, 'stable-baselines3', sb3.__version__)"
echo "ready: $venv/bin/python"
