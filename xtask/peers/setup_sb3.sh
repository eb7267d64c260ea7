#!/usr/bin/env bash
# Adds Stable-Baselines3 (from PyPI) to the anchors' venv, for the side-by-side
# rows of the classic-control benchmark (xtask/peers/sb3_zoo.py).
# Usage: bash xtask/peers/setup_sb3.sh [VENV_DIR]   (default: /tmp/dqn-anchor-venv,
# made by ../shared/anchors/setup.sh, which brings torch and gymnasium 1.4.0;
# SB3 2.9.2 accepts that gymnasium, and the pin keeps the anchors on it).
set -eu
venv=${1:-/tmp/dqn-anchor-venv}
[ -x "$venv/bin/python" ] || bash "$(dirname "$0")/../../../shared/anchors/setup.sh" "$venv"
"$venv/bin/pip" install -q "stable-baselines3==2.9.2" "gymnasium==1.4.0"
"$venv/bin/python" -c "import stable_baselines3 as sb3, torch, gymnasium; print('stable-baselines3', sb3.__version__, 'torch', torch.__version__, 'gymnasium', gymnasium.__version__)"
echo "ready: $venv/bin/python"
