#!/bin/bash
# Submits the classic-control suite to Slurm: the training array
# (docs/slurm/suite.sh, one shard per task) and the report job
# (docs/slurm/report.sh) chained with --dependency=afterok, then waits for
# both and says where the report is. Run it from anywhere on the submit host;
# jobs run from the checkout's root.
#
#   cargo build --release -p xtask           # once; all tasks share the binary
#   docs/slurm/run.sh                        # 4 shards, seeds 0..10, docs/results.md
#   SHARDS=16 CPUS_PER_TASK=4 docs/slurm/run.sh
#   SUITE_ARGS='--quick --seeds 0..3' SUITE_DIR=/tmp/q REPORT=/tmp/q/results.md docs/slurm/run.sh
#
# Environment (all optional):
#   SHARDS         array tasks, one shard each (default 4)
#   CPUS_PER_TASK  cores per array task, also its --jobs (default suite.sh's 2)
#   XTASK          the binary (default target/release/xtask)
#   SUITE_DIR      the shared results folder (default suite)
#   REPORT         the report (default docs/results.md; required with --quick)
#   SUITE_ARGS     more `xtask suite` arguments for both jobs: --seeds, --quick, --peers
#   LOG_DIR        the jobs' logs (default SUITE_DIR/logs)
#   SUBMIT_ARGS    more sbatch options for both jobs: --partition=..., --account=...
#   POLL           seconds between state checks (default 10)
#   NO_WAIT=1      submit and print the job ids, without waiting
# Relative paths are taken from the checkout's root, as the jobs see them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SHARDS=${SHARDS:-4}
export XTASK=${XTASK:-target/release/xtask}
export SUITE_DIR=${SUITE_DIR:-suite}
export SUITE_ARGS=${SUITE_ARGS:-}
LOG_DIR=${LOG_DIR:-${SUITE_DIR}/logs}
POLL=${POLL:-10}
read -r -a submit_args <<<"${SUBMIT_ARGS:-}"
if [[ -z ${REPORT:-} && " $SUITE_ARGS " == *" --quick "* ]]; then
    echo "run.sh: SUITE_ARGS has --quick: give REPORT=FILE too (never the committed docs/results.md)" >&2
    exit 1
fi
export REPORT=${REPORT:-docs/results.md}
# The jobs read these from the environment sbatch hands on (--export=ALL, its
# default); through --export=VAR=... a comma in `--seeds 0,3,7` would split.
export SHARDS

log() { echo "run.sh: $*" >&2; }

[[ -x $XTASK ]] || { log "no binary at $XTASK: cargo build --release -p xtask (once, before submitting)"; exit 1; }
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || { log "SHARDS=$SHARDS is not a positive number"; exit 1; }
mkdir -p "$SUITE_DIR" "$LOG_DIR"

array_args=(--array="1-${SHARDS}" --output="${LOG_DIR}/%x-%A_%a.log")
[[ -n ${CPUS_PER_TASK:-} ]] && array_args+=(--cpus-per-task="$CPUS_PER_TASK")

started=$(date +%s.%N)
# --parsable prints `JOBID` or `JOBID;CLUSTER`.
array=$(sbatch --parsable "${array_args[@]}" ${submit_args[@]+"${submit_args[@]}"} docs/slurm/suite.sh)
array=${array%%;*}
# afterok on an array waits for every task to end with 0; if one fails, the
# dependency can never be met, and --kill-on-invalid-dep cancels the report
# job instead of leaving it pending forever.
report=$(sbatch --parsable --dependency="afterok:${array}" --kill-on-invalid-dep=yes \
    --output="${LOG_DIR}/%x-%j.log" ${submit_args[@]+"${submit_args[@]}"} docs/slurm/report.sh)
report=${report%%;*}
log "submitted: array $array (${SHARDS} shards), report $report after it; logs in $(realpath "$LOG_DIR")"

if [[ -n ${NO_WAIT:-} ]]; then
    log "not waiting (NO_WAIT): squeue -j $array,$report; the report will be $REPORT"
    exit 0
fi

# The states of a job's records (one per array task), from the controller
# while it remembers the job (MinJobAge), else from accounting if the
# cluster has it; PURGED if neither knows it any more.
states() {
    local out
    if out=$(scontrol -o show job "$1" 2>/dev/null) && [[ -n $out ]]; then
        grep -o 'JobState=[A-Z_]*' <<<"$out" | cut -d= -f2
    elif out=$(sacct -n -X -P -j "$1" -o State 2>/dev/null) && [[ -n $out ]]; then
        awk '{ print $1 }' <<<"$out"
    else
        echo PURGED
    fi
}
finished() { ! grep -qvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE|PURGED)$'; }

last=""
while :; do
    a=$(states "$array" | sort | uniq -c | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
    r=$(states "$report" | head -n 1)
    now="array: $a; report: $r"
    [[ $now != "$last" ]] && log "$(date +%T) $now"
    last=$now
    if states "$report" | finished; then
        break
    fi
    # The report job waits on afterok; if the array ended otherwise and the
    # cluster does not cancel such jobs itself, cancel it here.
    if states "$array" | finished && [[ $(states "$array" | sort -u) != COMPLETED ]]; then
        log "a shard did not complete: cancelling the report job"
        scancel "$report" || true
    fi
    sleep "$POLL"
done
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')

# Each job's run time as the controller recorded it (whole seconds).
for id in "$array" "$report"; do
    scontrol -o show job "$id" 2>/dev/null | awk '{
        delete f
        for (i = 1; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); f[k] = v }
        task = ("ArrayTaskId" in f) ? " task " f["ArrayTaskId"] : ""
        printf "  %s%s: %s, run %s (%s .. %s)\n", f["JobName"], task, f["JobState"], f["RunTime"], f["StartTime"], f["EndTime"]
    }' >&2 || true
done

if [[ $(states "$report") != COMPLETED ]]; then
    log "the report job ended $(states "$report" | head -n 1) after ${elapsed} s; see the logs in $LOG_DIR"
    for f in "$LOG_DIR"/*-"$array"_*.log "$LOG_DIR"/*-"$report".log; do
        [[ -e $f ]] && { echo "== $f" >&2; tail -n 5 "$f" >&2; }
    done
    exit 1
fi
log "done in ${elapsed} s (submission to report)"
log "report: $(realpath "$REPORT"), figures in $(realpath "${REPORT%.*}")/"
log "results: $(realpath "$SUITE_DIR") ($(find "$SUITE_DIR" -maxdepth 1 -name '*.json' | wc -l) files)"
