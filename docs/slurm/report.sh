#!/bin/bash
# The suite's report from the merged results folder, once every shard of
# docs/slurm/suite.sh has finished: trains nothing (`--report-only`), reads
# every result file in SUITE_DIR, writes REPORT and its figures (REPORT
# without the extension, e.g. docs/results/). docs/slurm/run.sh submits it
# with --dependency=afterok:<the array's job id>; by hand:
#
#   sbatch --dependency=afterok:<JOBID> --kill-on-invalid-dep=yes docs/slurm/report.sh
#
# The same environment as suite.sh: XTASK, SUITE_DIR, SUITE_ARGS (give the
# same SUITE_ARGS: --seeds and --quick choose which runs the report looks
# for), and REPORT (default docs/results.md, the committed report; a
# --quick suite must give another).
#
#SBATCH --job-name=dqn-suite-report
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=00:20:00
#SBATCH --output=suite/logs/%x-%j.log

set -euo pipefail
cd "${SLURM_SUBMIT_DIR:?not inside a Slurm job: submit with sbatch}"

XTASK=${XTASK:-target/release/xtask}
SUITE_DIR=${SUITE_DIR:-suite}
read -r -a extra <<<"${SUITE_ARGS:-}"
if [[ -z ${REPORT:-} ]]; then
    for arg in ${extra[@]+"${extra[@]}"}; do
        # Tiny runs must never overwrite the committed report.
        [[ $arg == --quick ]] && { echo "report.sh: --quick needs REPORT=FILE (not docs/results.md)" >&2; exit 1; }
    done
fi
REPORT=${REPORT:-docs/results.md}

[[ -x $XTASK ]] || { echo "report.sh: no binary at $XTASK: cargo build --release -p xtask first" >&2; exit 1; }
mkdir -p "$(dirname "$REPORT")"
"$XTASK" suite --report-only --out "$SUITE_DIR" --report "$REPORT" ${extra[@]+"${extra[@]}"} >/dev/null ||
    { rc=$?; echo "report.sh: failed: $XTASK exited $rc" >&2; exit "$rc"; }
echo "report.sh: $REPORT (figures in ${REPORT%.*}/) from $(find "$SUITE_DIR" -maxdepth 1 -name '*.json' | wc -l) result files in $SUITE_DIR" >&2
