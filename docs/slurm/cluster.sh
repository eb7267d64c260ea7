#!/bin/bash
# A one-machine Slurm cluster for rehearsing the suite's array job
# (docs/slurm/run.sh) exactly as it runs on a real cluster. Debian's
# slurm-wlm (22.05), run as root; every file it writes except the munge key
# lives in one scratch folder, so nothing under /etc/slurm is touched.
#
#   sudo docs/slurm/cluster.sh start     # install if needed, start, wait for `idle`
#   eval "$(docs/slurm/cluster.sh env)"  # SLURM_CONF for sbatch/squeue/sinfo
#   docs/slurm/cluster.sh status
#   sudo docs/slurm/cluster.sh stop      # ends what `start` started, by pid file
#
# DQN_SLURM_DIR (default /tmp/dqn-slurm) is the scratch folder: slurm.conf,
# the controller's state, slurmd's spool, the logs and the pid files.
# `start` and `stop` are idempotent: a daemon whose pid file names a live
# process of that name is left alone, and `stop` ends only the processes in
# its own pid files (never anything found by name).
set -euo pipefail

DIR=${DQN_SLURM_DIR:-/tmp/dqn-slurm}
CONF=$DIR/slurm.conf
RUN=$DIR/run
# Slurm's clients (sinfo, sbatch, squeue, scontrol) read this instead of
# /etc/slurm/slurm.conf; exported here so this script's own calls see it.
export SLURM_CONF=$CONF
NODE=$(hostname -s)

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# The pid in pid file $1 if it is a live process whose name is $2 (the name
# only guards against a reused pid; no process is ever looked up by name).
live_pid() {
    local file=$1 name=$2 pid
    [[ -s $file ]] || return 1
    pid=$(tr -dc 0-9 <"$file")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
    echo "$pid"
}

install_slurm() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    log "installing slurm-wlm (brings munge, slurmctld, slurmd and the clients)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm
}

start_munge() {
    # Slurm's auth/munge signs every message with this key; the package makes
    # it, but an image may lack it. munged refuses a key others can read.
    local key=/etc/munge/munge.key
    if [[ ! -s $key ]]; then
        log "writing a new munge key at $key"
        mkdir -p /etc/munge
        dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
    chown munge:munge "$key"
    chmod 400 "$key"
    # munged makes its socket and default pid file in /run/munge, which a
    # container may not have; it must belong to the daemon's user.
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 755 /run/munge
    if live_pid "$RUN/munged.pid" munged >/dev/null; then
        log "munged already running (started by this script)"
    elif live_pid /run/munge/munged.pid munged >/dev/null && munge -n | unmunge >/dev/null 2>&1; then
        # Someone else's munged on the default socket works just as well;
        # it is not ours, so `stop` leaves it running.
        log "using the munged already running (not started here, so not stopped here)"
        return
    else
        log "starting munged"
        rm -f /run/munge/munged.pid
        # As its own user, as the package's service would: munged refuses root.
        su -s /bin/sh munge -c /usr/sbin/munged
        wait_for "munged's pid file" 10 live_pid /run/munge/munged.pid munged
        # Recorded in our folder: this is how `stop` knows munged is ours.
        cp /run/munge/munged.pid "$RUN/munged.pid"
    fi
    munge -n | unmunge | grep -q 'STATUS: *Success' || die "munge -n | unmunge does not succeed"
}

# wait_for WHAT SECONDS COMMAND...: run COMMAND once a second until it
# succeeds, or fail naming WHAT.
wait_for() {
    local what=$1 seconds=$2 i
    shift 2
    for ((i = 0; i < seconds; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "no $what after $seconds s"
}

write_conf() {
    local cpus mem_mb
    cpus=$(nproc)
    # RealMemory above what the node has would drain it; 85 % of MemTotal
    # leaves the system its share (24 GiB here gives about 20 000 MB).
    mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.85 }' /proc/meminfo)
    mkdir -p "$DIR"/{state,spool,log} "$RUN"
    # Written to a new file and moved, so a running daemon never sees half.
    cat >"$CONF.new" <<EOF
# Written by docs/slurm/cluster.sh: one node, everything under $DIR.
ClusterName=dqn-rehearsal
SlurmctldHost=$NODE
AuthType=auth/munge
# root runs both daemons: this is a rehearsal on one machine, as root.
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
# No cgroups in a container: track job processes by their parent pids, and
# bind no tasks to cores.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# Cores are the consumable: an array task asking for all of them runs
# alone, one asking for half runs beside another.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# A node that was down comes back by itself once slurmd registers.
ReturnToService=2
# No accounting database: finished jobs stay visible to scontrol for
# 30 minutes, which is how run.sh reads their states.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=1800
NodeName=$NODE CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.new" "$CONF"
}

node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n 1; }

node_up() {
    # idle, or busy with jobs (a second `start` during a run); a trailing
    # `*` (not responding), `down` or `drain` is not up.
    [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]
}

# Starts daemon $1 (slurmctld or slurmd) unless its pid file names a live
# one. -c: start clean, without an old run's jobs; it daemonizes and writes
# its pid file.
start_daemon() {
    local name=$1
    if live_pid "$RUN/$name.pid" "$name" >/dev/null; then
        log "$name already running"
    else
        log "starting $name"
        "$name" -c -f "$CONF"
        wait_for "$name pid file" 15 live_pid "$RUN/$name.pid" "$name"
    fi
}

start() {
    [[ $(id -u) == 0 ]] || die "run as root: the daemons, munge and apt-get need it"
    install_slurm
    write_conf
    start_munge
    # The controller first: slurmd registers with it.
    start_daemon slurmctld
    start_daemon slurmd
    if ! (wait_for "idle node" 60 node_up); then
        log "the node is '$(node_state)'; the daemons' logs are in $DIR/log"
        tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
        exit 1
    fi
    sinfo
    log "up; for sbatch, squeue and sinfo in another shell: export SLURM_CONF=$CONF"
}

# stop_pid FILE NAME: TERM the process in FILE, KILL it after 15 s.
stop_pid() {
    local file=$1 name=$2 pid i
    if ! pid=$(live_pid "$file" "$name"); then
        rm -f "$file"
        return
    fi
    log "stopping $name ($pid)"
    kill -TERM "$pid"
    for ((i = 0; i < 15; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name ($pid) still running after 15 s: KILL"
        kill -KILL "$pid"
    fi
    rm -f "$file"
}

stop() {
    # slurmd first, so the controller does not mark a node it still sees as
    # lost; munged last, since both daemons use it until they go.
    stop_pid "$RUN/slurmd.pid" slurmd
    stop_pid "$RUN/slurmctld.pid" slurmctld
    if [[ -e $RUN/munged.pid ]]; then
        local pid
        pid=$(live_pid "$RUN/munged.pid" munged || true)
        stop_pid "$RUN/munged.pid" munged
        # munged leaves its default pid file behind on TERM; clear it only if
        # it still names the process we just ended.
        [[ -n $pid && $(tr -dc 0-9 2>/dev/null </run/munge/munged.pid) == "$pid" ]] && rm -f /run/munge/munged.pid
    fi
    log "stopped (the scratch folder $DIR is kept: logs and state)"
}

status() {
    local what
    for what in munged slurmctld slurmd; do
        if pid=$(live_pid "$RUN/$what.pid" "$what"); then
            echo "$what: running ($pid)"
        else
            echo "$what: not running from $RUN"
        fi
    done
    if [[ -e $CONF ]]; then sinfo 2>&1 || true; fi
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) die "usage: $0 start|stop|status|env" ;;
esac
