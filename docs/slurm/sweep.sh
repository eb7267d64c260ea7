#!/bin/bash
# A sweep spread over a cluster with Slurm: one array task per shard, every
# task writing its result files into one shared folder. Results are named by
# the hash of each run's configuration, so shards never write the same file
# and the folder is the merged sweep; a stopped task resubmitted skips the
# runs already there.
#
#   cargo build --release -p xtask            # once, on the shared checkout
#   sbatch docs/slurm/sweep.sh                # 16 shards
#   sbatch --dependency=afterok:<JOBID> --wrap \
#     'target/release/xtask sweep <the same arguments> --report-only'
#
# Without a shared filesystem, give each task its own --out folder, copy
# every shard's *.json into one folder, and run the same command with
# --report-only there.
#
#SBATCH --job-name=dqn-sweep
#SBATCH --array=1-16
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=01:00:00
#SBATCH --output=sweep-%A_%a.log

set -euo pipefail
cd "${SLURM_SUBMIT_DIR}"
# The binary directly, not `cargo xtask`: tasks must not race to rebuild.
target/release/xtask sweep \
    --config presets/cartpole-dqn.ron \
    --grid 'collection.envs=4|8|16' \
    --grid 'agent.lr=1e-3|2.5e-3|5e-3' \
    --grid 'agent.target_update=Hard(every: 200)|Hard(every: 400)|Hard(every: 1000)' \
    --grid 'agent.hidden=[64, 64]|[128, 128]' \
    --seeds 100..120 \
    --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" \
    --jobs "${SLURM_CPUS_PER_TASK}" \
    --out "${SWEEP_DIR:-sweeps/fast-wide}"
