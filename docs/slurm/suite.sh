#!/bin/bash
# The classic-control suite (`xtask suite`) as a Slurm array: task I of N
# trains shard I/N of the runs. Every task writes into the one results folder
# SUITE_DIR; result files are named by the hash of the run's configuration,
# so no two shards write the same file and the folder is the merged suite.
# A task that stops (time limit, node failure) can simply be resubmitted: it
# skips the runs already in the folder. The report is made afterwards by
# docs/slurm/report.sh (docs/slurm/run.sh submits both and chains them).
#
#   cargo build --release -p xtask     # once, on the shared checkout
#   mkdir -p suite/logs
#   sbatch docs/slurm/suite.sh         # from the checkout's root: 4 shards
#   sbatch --array=1-16 --cpus-per-task=4 docs/slurm/suite.sh
#
# From the environment (sbatch passes the submitter's on by default):
#   XTASK       the binary (default target/release/xtask). Never `cargo
#               xtask` here: every task would race to rebuild the same target/.
#               It reads the presets from the checkout it was built in, so
#               that checkout must be on a filesystem every node sees.
#   SUITE_DIR   the results folder (default suite), shared by all tasks
#   SUITE_ARGS  more `xtask suite` arguments, the same for report.sh:
#               e.g. `--seeds 0..3`, `--quick`, `--peers DIR`
#   SHARDS      N of I/N (default the array's size). Give it when
#               resubmitting only some tasks: SHARDS=16 sbatch --array=3,7 ...
#   SHARD_REPORTS  where each task's own partial report goes (default
#               SUITE_DIR/shards)
#
# The --output folder must exist before the job starts (Slurm does not make
# it, and a task whose log cannot be opened fails without a word); run.sh
# makes it and overrides --output with its LOG_DIR.
#
#SBATCH --job-name=dqn-suite
#SBATCH --array=1-4
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=02:00:00
#SBATCH --output=suite/logs/%x-%A_%a.log

set -euo pipefail
# sbatch runs a copy of this script from its spool, so paths are relative to
# where it was submitted (the checkout's root), not to this file.
cd "${SLURM_SUBMIT_DIR:?not inside a Slurm job: submit with sbatch}"
: "${SLURM_ARRAY_TASK_ID:?not an array task: submit with sbatch --array=1-N}"

XTASK=${XTASK:-target/release/xtask}
SUITE_DIR=${SUITE_DIR:-suite}
SHARDS=${SHARDS:-${SLURM_ARRAY_TASK_COUNT}}
SHARD_REPORTS=${SHARD_REPORTS:-${SUITE_DIR}/shards}
read -r -a extra <<<"${SUITE_ARGS:-}"

[[ -x $XTASK ]] || { echo "suite.sh: no binary at $XTASK: cargo build --release -p xtask first" >&2; exit 1; }
mkdir -p "$SUITE_DIR" "$SHARD_REPORTS"
echo "suite.sh: shard ${SLURM_ARRAY_TASK_ID}/${SHARDS} on $(hostname -s), ${SLURM_CPUS_PER_TASK:-1} cpus, into ${SUITE_DIR}" >&2

# The suite reports at the end of every run of it, here on this shard's
# view of the folder; that report goes to a scratch file of this task's own
# (its figures beside it), so shards never write the same report. Its text,
# which xtask also prints, is left out of the log; the progress lines
# (stderr) stay.
"$XTASK" suite \
    --shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}" \
    --jobs "${SLURM_CPUS_PER_TASK:-1}" \
    --out "$SUITE_DIR" \
    --report "${SHARD_REPORTS}/shard-${SLURM_ARRAY_TASK_ID}.md" \
    ${extra[@]+"${extra[@]}"} >/dev/null ||
    {
        rc=$?
        # 130: stopped (the time limit's SIGTERM) with every run checkpointed.
        if ((rc == 130)); then
            echo "suite.sh: shard ${SLURM_ARRAY_TASK_ID}/${SHARDS} stopped; its runs checkpointed: submit it again to resume" >&2
        else
            echo "suite.sh: shard ${SLURM_ARRAY_TASK_ID}/${SHARDS} failed: $XTASK exited $rc" >&2
        fi
        exit "$rc"
    }
echo "suite.sh: shard ${SLURM_ARRAY_TASK_ID}/${SHARDS} done" >&2
