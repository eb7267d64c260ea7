#!/usr/bin/env bash
# The peers' rows of docs/results.md (`cargo xtask suite`): Stable-Baselines3
# DQN with the rl-zoo3 hyperparameters on the three environments, and
# CleanRL's dqn.py with its defaults on Acrobot-v1, 3 seeds each, one run at
# a time with torch on one thread. Each run writes one JSON file into OUT_DIR;
# a file already there is kept (delete it to measure again), so the script
# resumes where it stopped. Slow: about 1 minute a CartPole run, 4–5 an
# Acrobot or MountainCar run of SB3, several minutes a CleanRL run.
#
#   bash xtask/peers/setup_sb3.sh        # SB3 into /tmp/dqn-anchor-venv
#   bash xtask/peers/setup_cleanrl.sh    # CleanRL into /tmp/cleanrl-venv
#   bash xtask/peers/run_peers.sh [OUT_DIR]    # default docs/results/peers
#   cargo xtask suite --report-only      # the report, with these rows
#
# Environment: SB3_PYTHON, CLEANRL_PYTHON (the venvs' pythons), SEEDS
# ("0 1 2"), ENVS (the SB3 environments), SKIP_CLEANRL=1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../docs/results/peers}
sb3_python=${SB3_PYTHON:-/tmp/dqn-anchor-venv/bin/python}
cleanrl_python=${CLEANRL_PYTHON:-/tmp/cleanrl-venv/bin/python}
seeds=${SEEDS:-0 1 2}
mkdir -p "$out"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# Runs "$@" unless $1 (the result file) exists; writes through a .part file
# so an interrupted run leaves nothing that looks finished.
measure() {
    local file=$1
    shift
    if [ -f "$file" ]; then
        echo "kept $file"
        return
    fi
    "$@" --json "$file.part" >/dev/null
    mv "$file.part" "$file"
    echo "wrote $file"
}

for env in ${ENVS:-CartPole-v1 Acrobot-v1 MountainCar-v0}; do
    for seed in $seeds; do
        measure "$out/sb3-$env-$seed.json" "$sb3_python" "$here/sb3_zoo.py" --env "$env" --seed "$seed" --threads 1
    done
done

# CleanRL's dqn.py with its defaults (500 000 steps) on Acrobot-v1.
if [ "${SKIP_CLEANRL:-0}" != 1 ]; then
    for seed in $seeds; do
        measure "$out/cleanrl-Acrobot-v1-$seed.json" "$cleanrl_python" "$here/cleanrl_dqn.py" --env Acrobot-v1 --seed "$seed" --threads 1
    done
fi
