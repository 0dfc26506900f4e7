#!/bin/bash
# A private three-node Slurm cluster on this one machine, for the integration tests.
#
#   cluster.sh start    (re)start munged, slurmctld and one slurmd per node; wait until every
#                       node is idle
#   cluster.sh stop     stop everything started here; no process of the test user survives
#   cluster.sh status   exit 0 when every node is idle
#
# Nodes and partitions:
#   $(hostname -s)  the first node, slurmd on port 16818; alone in the default partition
#                   "debug", so tests that do not ask for a partition run on one node, as
#                   they always did (srun -n2 puts both tasks on it)
#   cocoon-n2       further nodes, slurmd on ports 16819 and 16820
#   cocoon-n3
#   partition "multi" holds all three: srun -p multi -N2 ... runs on two nodes
#
# How three nodes share one machine: one slurmd per node, each started with -N NAME, on its
# own port (Port= on its NodeName line), with NodeAddr=127.0.0.1, its own NodeHostname (Slurm
# refuses two nodes with the same one), its own spool directory, pid file and log
# (SlurmdSpoolDir=.../spool/%n, SlurmdPidFile=.../slurmd-%n.pid; slurmd replaces %n with its
# node name). Debian's slurmd is built without --enable-multiple-slurmd, but nothing that
# this needs depends on it: slurmd takes its port from its NodeName line and expands %n in
# any case. The other way, a slurmd per network and UTS namespace, was not taken: 127.0.0.1
# would be each namespace's own loopback, so the registries on 127.0.0.1:5000-5002 and
# anything else the tests serve there would not be reachable from the extra nodes, and
# stopping would have veth pairs and namespaces to clean up as well. What the nodes share,
# and a real cluster's nodes do not: the filesystem (image caches, /tmp, the munge socket),
# the process table and the hostname; each node's steps are still separate slurmstepd
# processes with containers of their own.
#
# Never touches /etc/slurm or /etc/munge: everything lives in the state directory
# ${COCOON_TEST_DIR:-/var/tmp/cocoon-test}; tests source "$COCOON_TEST_DIR/env".
#
# Environment (start):
#   COCOON_PLUGIN           absolute path of spank_cocoon.so; unset: plugstack.conf stays empty
#   COCOON_CONFIG           plugin config file (default $COCOON_TEST_DIR/etc/cocoon.yaml)
#   COCOON_CONFIG_TEMPLATE  copied to COCOON_CONFIG when that file does not exist yet
#   COCOON_IMAGES           test image directory (default $COCOON_TEST_DIR/images)
#   COCOON_SLURM_PORT_BASE  slurmctld port; the slurmd ports follow it (default 16817)
#
# Must run as root (it creates a user, starts daemons and runs slurmd as root).
set -euo pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=tests/harness/daemon.sh
source "$HARNESS_DIR/daemon.sh"
DIR=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
TEST_USER=cocoontest
# slurmctld, then one slurmd port per node, from COCOON_SLURM_PORT_BASE on (default 16817):
# a cluster left running on the default ports does not stop another from starting.
PORT_BASE=${COCOON_SLURM_PORT_BASE:-16817}
CTLD_PORT=$PORT_BASE
SLURMD_PORT=$((PORT_BASE + 1))
# The further nodes and their slurmd ports (the first node is $(hostname -s) on SLURMD_PORT).
EXTRA_NODES=(cocoon-n2 cocoon-n3)
EXTRA_PORTS=($((PORT_BASE + 2)) $((PORT_BASE + 3)))
MULTI_PARTITION=multi
START_TIMEOUT=60

ETC=$DIR/etc
MUNGE_DIR=$DIR/munge
LOG_DIR=$DIR/log
RUN_DIR=$DIR/run
# TmpFS of the nodes, one directory each (see write_config). Under /tmp so that it is also
# writable inside a container, whose /tmp is private: Open MPI makes its session directory
# in PMIx's PMIX_TMPDIR, which is TmpFS.
TMPFS_DIR=/tmp/cocoon-tmpfs
CONF=$ETC/slurm.conf
MUNGE_SOCKET=$MUNGE_DIR/munge.socket.2
MUNGE_PID=$MUNGE_DIR/munged.pid
# libmunge's default socket, which the PMIx server in slurmstepd uses and cannot be told
# otherwise (PMIx's munge security): a second munged with the cluster's key answers there
# unless the machine's own munged already does (see start_default_munge).
DEFAULT_MUNGE_SOCKET=/run/munge/munge.socket.2
DEFAULT_MUNGE_PID=$MUNGE_DIR/munged-default.pid
DEFAULT_MUNGE_CREATED_DIR=$MUNGE_DIR/created-run-munge
CTLD_PID=$RUN_DIR/slurmctld.pid
# slurmd replaces %n with its node name: one pid file per node.
SLURMD_PID_PATTERN=$RUN_DIR/slurmd-%n.pid

log() { echo "cluster: $*"; }
die() { echo "cluster: error: $*" >&2; exit 1; }

need_root() {
    (( EUID == 0 )) || die "must run as root"
}

need_tools() {
    local t missing=()
    for t in munged slurmctld slurmd sinfo squeue scancel useradd groupadd runuser pgrep; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    (( ${#missing[@]} == 0 )) ||
        die "missing commands: ${missing[*]} (run scripts/install-deps.sh)"
}

slurm() {
    SLURM_CONF=$CONF "$@"
}

# Print the tail of a log file, indented, for error messages.
show_log() {
    local f=$1
    [[ -f "$f" ]] || return 0
    echo "---- last lines of $f ----" >&2
    tail -n 25 "$f" | sed 's/^/  /' >&2
}

# ---------------------------------------------------------------------------------------
# Process handling: only pids from our pid files, processes whose command line names our
# private slurm.conf, or processes of the test user are ever signalled.

pid_alive() {
    [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null
}

read_pid() {
    local f=$1 pid=""
    if [[ -f "$f" ]]; then read -r pid < "$f" || true; fi
    [[ "$pid" =~ ^[0-9]+$ ]] && echo "$pid"
    return 0
}

# Send SIGTERM, wait up to $2 seconds, then SIGKILL.
stop_pid() {
    local pid=$1 wait_s=${2:-10} i
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    echo "cluster: warning: pid $pid survived SIGKILL" >&2
}

# Daemons of this cluster whose pid file got lost: exe is the daemon and its command
# line contains our private slurm.conf.
pids_by_conf() {
    local exe_name=$1 p cmd
    for p in /proc/[0-9]*; do
        [[ "$(readlink "$p/exe" 2>/dev/null)" == */"$exe_name" ]] || continue
        cmd=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue
        [[ "$cmd" == *" $CONF"* ]] && echo "${p#/proc/}"
    done
    return 0
}

# slurmstepd processes forked by our slurmd carry SLURM_CONF=<our conf> in their
# environment (slurmd is started with it); a real cluster's steps do not.
our_stepd_pids() {
    local p
    for p in /proc/[0-9]*; do
        [[ "$(readlink "$p/exe" 2>/dev/null)" == */slurmstepd ]] || continue
        if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF"; then
            echo "${p#/proc/}"
        fi
    done
    return 0
}

kill_user_processes() {
    id -u "$TEST_USER" >/dev/null 2>&1 || return 0
    local i pids
    for ((i = 0; i < 50; i++)); do
        mapfile -t pids < <(pgrep -u "$TEST_USER" || true)
        (( ${#pids[@]} == 0 )) && return 0
        kill -KILL "${pids[@]}" 2>/dev/null || true
        sleep 0.1
    done
    echo "cluster: warning: processes of $TEST_USER survive:" >&2
    ps -o pid,stat,cmd -u "$TEST_USER" >&2 || true
}

# FUSE mounts that a killed squashfuse left in the host mount namespace, and temporary
# directories of the test user: tests treat both as leftovers, so a fresh start must not
# inherit them from an earlier crash.
clean_user_leftovers() {
    id -u "$TEST_USER" >/dev/null 2>&1 || return 0
    local uid mp fstype opts
    uid=$(id -u "$TEST_USER")
    # mountinfo: id parent maj:min root mountpoint options ... - fstype source superopts
    while read -r mp fstype opts; do
        if [[ "$fstype" == fuse.squashfuse* || "$fstype" == fuse* && "$opts" == *"user_id=$uid,"* ]]; then
            echo "cluster: unmounting leftover $fstype mount $mp" >&2
            umount -l "$mp" 2>/dev/null || true
        fi
    done < <(awk '{ for (i = 7; $i != "-"; i++); print $5, $(i+1), $(i+3) "," }' /proc/self/mountinfo)
    local d
    for d in /tmp/cocoon-* /run/cocoon* /dev/shm/cocoon*; do
        [[ -e "$d" && "$(stat -c %U "$d")" == "$TEST_USER" ]] || continue
        echo "cluster: removing leftover $d" >&2
        rm -rf --one-file-system "$d"
    done
}

# ---------------------------------------------------------------------------------------

FIRST_NODE=$(hostname -s)
ALL_NODES=("$FIRST_NODE" "${EXTRA_NODES[@]}")

# slurmd's pid file of node $1 (SlurmdPidFile with %n filled in, as slurmd does).
slurmd_pid_file() {
    echo "${SLURMD_PID_PATTERN//%n/$1}"
}

# The log of node $1: the first node keeps the name it always had.
slurmd_log() {
    if [[ "$1" == "$FIRST_NODE" ]]; then
        echo "$LOG_DIR/slurmd.log"
    else
        echo "$LOG_DIR/slurmd-$1.log"
    fi
}

# The state of the cluster in one word: "idle" when every node answers idle, otherwise
# the state of a node that is not (sinfo -N lists a node once per partition).
node_state() {
    local states count
    states=$(slurm sinfo -h -N -o '%N %T' 2>/dev/null | sort -u)
    [[ -n "$states" ]] || return 0
    count=$(wc -l <<<"$states")
    if (( count != ${#ALL_NODES[@]} )); then
        echo "$count of ${#ALL_NODES[@]} nodes known"
    else
        awk '$2 != "idle" { print $1 " " $2; bad = 1; exit } END { if (!bad) print "idle" }' <<<"$states"
    fi
}

node_idle() {
    [[ -f "$CONF" ]] || return 1
    # Without a controller sinfo retries for about 10 s; answer at once instead.
    pid_alive "$(read_pid "$CTLD_PID")" || return 1
    [[ "$(node_state)" == idle ]]
}

# The user and group are made by test-user.sh, which the unprivileged suite uses too.
ensure_user() {
    local line
    "$HARNESS_DIR/test-user.sh" | while read -r line; do log "$line"; done
}

# run_munged SOCKET PID_FILE NAME: a munged with the cluster's key on SOCKET, logging to
# $MUNGE_DIR/NAME.log; dies unless it decodes a credential made by the cluster's munged
# (for the cluster's own munged, by itself).
run_munged() {
    local socket=$1 pid_file=$2 name=$3 i
    rm -f "$pid_file"
    : > "$MUNGE_DIR/$name.log"
    chown munge:munge "$MUNGE_DIR/$name.log"
    chmod 0640 "$MUNGE_DIR/$name.log"
    if ! without_inherited_fds runuser -u munge -- munged \
        --key-file="$MUNGE_DIR/munge.key" \
        --socket="$socket" \
        --pid-file="$pid_file" \
        --log-file="$MUNGE_DIR/$name.log" \
        --seed-file="$MUNGE_DIR/$name.seed"; then
        show_log "$MUNGE_DIR/$name.log"
        die "munged failed to start on $socket"
    fi
    for ((i = 0; i < 50; i++)); do
        [[ -S "$socket" ]] && break
        sleep 0.1
    done
    if ! munge -n --socket="$MUNGE_SOCKET" | unmunge --socket="$socket" >/dev/null; then
        show_log "$MUNGE_DIR/$name.log"
        die "munged on $socket does not accept the cluster's credentials"
    fi
    log "munged running (socket $socket)"
}

start_munge() {
    # munged insists that its directories are not writable by others and that the key
    # is private to the munge user; 0755 lets unprivileged clients reach the socket.
    install -d -o munge -g munge -m 0755 "$MUNGE_DIR"
    if [[ ! -s "$MUNGE_DIR/munge.key" ]]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$MUNGE_DIR/munge.key" --force
        else
            dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
        fi
    fi
    chown munge:munge "$MUNGE_DIR/munge.key"
    chmod 0400 "$MUNGE_DIR/munge.key"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    run_munged "$MUNGE_SOCKET" "$MUNGE_PID" munged
}

# The cluster's key at munge's default socket too. A munged that already answers there (the
# machine's own) is left alone: the tests that need PMIx's munge security skip when it does
# not accept the cluster's credentials. /run/munge is created only when missing, and
# removed again by cmd_stop.
start_default_munge() {
    if [[ -S "$DEFAULT_MUNGE_SOCKET" ]] && munge -n --socket="$DEFAULT_MUNGE_SOCKET" >/dev/null 2>&1; then
        log "a munged already answers on $DEFAULT_MUNGE_SOCKET; not starting another"
        return 0
    fi
    if [[ ! -d /run/munge ]]; then
        install -d -o munge -g munge -m 0755 /run/munge
        : > "$DEFAULT_MUNGE_CREATED_DIR"
    fi
    run_munged "$DEFAULT_MUNGE_SOCKET" "$DEFAULT_MUNGE_PID" munged-default
}

# Stops the munged start_default_munge started: its pid file, or a munged whose command
# line names both the default socket and this cluster's key (never the machine's own).
stop_default_munge() {
    local pid
    stop_pid "$(read_pid "$DEFAULT_MUNGE_PID")" 5
    for pid in /proc/[0-9]*; do
        [[ "$(readlink "$pid/exe" 2>/dev/null)" == */munged ]] || continue
        tr '\0' '\n' < "$pid/cmdline" 2>/dev/null | grep -qxF -- "--socket=$DEFAULT_MUNGE_SOCKET" || continue
        tr '\0' '\n' < "$pid/cmdline" 2>/dev/null | grep -qxF -- "--key-file=$MUNGE_DIR/munge.key" &&
            stop_pid "${pid#/proc/}" 5
    done
    rm -f "$DEFAULT_MUNGE_PID"
    if [[ -f "$DEFAULT_MUNGE_CREATED_DIR" ]]; then
        rm -f "$DEFAULT_MUNGE_SOCKET.lock"
        rmdir /run/munge 2>/dev/null || true
        rm -f "$DEFAULT_MUNGE_CREATED_DIR"
    fi
}

write_config() {
    local host=$FIRST_NODE cpus i node_lines
    cpus=$(nproc)
    install -d -m 0755 "$ETC" "$LOG_DIR" "$RUN_DIR"
    rm -rf "$DIR/state" "$DIR/spool" "$TMPFS_DIR"
    install -d -m 0700 "$DIR/state"
    install -d -m 0755 "$DIR/spool" "$TMPFS_DIR"
    for i in "${ALL_NODES[@]}"; do
        install -d -m 0755 "$DIR/spool/$i"
        install -d -m 1777 "$TMPFS_DIR/$i"
    done
    # Every node gets the machine's CPUs: the nodes share them, as tests expect 2 tasks
    # to fit on one node.
    node_lines="NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN"
    for i in "${!EXTRA_NODES[@]}"; do
        node_lines+=$'\n'"NodeName=${EXTRA_NODES[i]} NodeHostname=${EXTRA_NODES[i]} NodeAddr=127.0.0.1"
        node_lines+=" Port=${EXTRA_PORTS[i]} CPUs=$cpus RealMemory=1000 State=UNKNOWN"
    done

    cat > "$CONF" <<EOF
# Generated by tests/harness/cluster.sh; private test cluster, rewritten on every start.
ClusterName=cocoontest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
# Per node as well: mpi/pmix creates its step's client directory in TmpFS, and two nodes
# of one step on this machine would collide in a shared /tmp.
TmpFS=$TMPFS_DIR/%n
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID_PATTERN
SlurmctldLogFile=$LOG_DIR/slurmctld.log
# The first node's log; the others are started with -L (slurmd_log).
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$ETC/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
ReturnToService=2
KillWait=5
UnkillableStepTimeout=30
InactiveLimit=0
SlurmdTimeout=30
MinJobAge=2
# Heterogeneous jobs are started by the backfill scheduler only, every bf_interval seconds
# (30 by default): every second here, so a test's heterogeneous step starts at once.
SchedulerParameters=bf_interval=1
# Slurm 22.05 refuses "salloc --container=..." unless salloc may launch the interactive
# step itself ("salloc: error: --container requires LaunchParameters=use_interactive_step").
LaunchParameters=use_interactive_step
$node_lines
# The default partition is the first node alone: a test that names no partition runs on
# one node. Multi-node tests ask for "$MULTI_PARTITION".
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=$MULTI_PARTITION Nodes=ALL MaxTime=INFINITE State=UP
EOF

    local config=${COCOON_CONFIG:-$ETC/cocoon.yaml}
    if [[ ! -e "$config" && -n "${COCOON_CONFIG_TEMPLATE:-}" ]]; then
        install -m 0644 "$COCOON_CONFIG_TEMPLATE" "$config"
    fi
    if [[ -n "${COCOON_PLUGIN:-}" ]]; then
        [[ "$COCOON_PLUGIN" == /* ]] || die "COCOON_PLUGIN must be an absolute path"
        [[ -f "$COCOON_PLUGIN" ]] || die "COCOON_PLUGIN=$COCOON_PLUGIN does not exist"
        # srun/sbatch/salloc load the plugin as the submitting user: a plugin or config
        # under a private directory (a checkout in /root) would fail every job.
        local f
        for f in "$COCOON_PLUGIN" "$config"; do
            [[ -e "$f" ]] || continue
            runuser -u "$TEST_USER" -- test -r "$f" ||
                die "$TEST_USER cannot read $f; put the build and config where every user can read them"
        done
        printf 'required %s config=%s\n' "$COCOON_PLUGIN" "$config" > "$ETC/plugstack.conf"
    else
        : > "$ETC/plugstack.conf"
    fi
    chmod 0644 "$CONF" "$ETC/plugstack.conf"

    cat > "$DIR/env" <<EOF
# Generated by tests/harness/cluster.sh start
export COCOON_TEST_DIR=$DIR
export SLURM_CONF=$CONF
export COCOON_IMAGES=$IMAGES
export COCOON_SLURMCTLD_PID_FILE=$CTLD_PID
export COCOON_TEST_MUNGE_SOCKET=$MUNGE_SOCKET
# Every node (the first is the default partition's only node) and the partition of all.
export COCOON_TEST_NODES="${ALL_NODES[*]}"
export COCOON_TEST_MULTI_PARTITION=$MULTI_PARTITION
EOF
    chmod 0644 "$DIR/env"
}

# Mounts that already look like leftovers before any test ran (a user's own cocoon work
# on a developer machine, say): assert_no_leftovers ignores exactly these.
write_mount_baseline() {
    awk '{ for (i = 7; $i != "-"; i++); if ($(i+1) ~ /^fuse\.squashfuse/ || $5 ~ /cocoon/) print $5, $(i+1) }' \
        /proc/self/mountinfo > "$DIR/mounts.baseline"
    chmod 0644 "$DIR/mounts.baseline"
}

start_slurm() {
    local node log
    : > "$LOG_DIR/slurmctld.log"
    # -i: ignore unreadable state; the state directory is wiped on every start anyway.
    if ! slurm slurmctld -i -f "$CONF"; then
        show_log "$LOG_DIR/slurmctld.log"
        die "slurmctld failed to start"
    fi
    for node in "${ALL_NODES[@]}"; do
        log=$(slurmd_log "$node")
        : > "$log"
        if ! slurm slurmd -f "$CONF" -N "$node" -L "$log"; then
            show_log "$log"
            die "slurmd of node $node failed to start"
        fi
    done
    local i state=""
    for ((i = 0; i < START_TIMEOUT * 2; i++)); do
        state=$(node_state || true)
        [[ "$state" == idle ]] && break
        sleep 0.5
    done
    if [[ "$state" != idle ]]; then
        echo "cluster: error: nodes not idle after ${START_TIMEOUT}s (state: '${state:-no answer}')" >&2
        slurm sinfo -N -l >&2 2>&1 || true
        slurm sinfo -R >&2 2>&1 || true
        show_log "$LOG_DIR/slurmctld.log"
        for node in "${ALL_NODES[@]}"; do
            show_log "$(slurmd_log "$node")"
        done
        exit 1
    fi
    log "slurmctld and ${#ALL_NODES[@]} slurmd running; nodes ${ALL_NODES[*]} idle"
}

cmd_stop() {
    need_root
    local pid pids node
    # Cancel jobs while the controller still answers, so steps end the normal way.
    if [[ -f "$CONF" ]] && slurm squeue -h >/dev/null 2>&1; then
        if [[ -n "$(slurm squeue -h -o %i 2>/dev/null)" ]]; then
            slurm scancel --full --quiet --user="$TEST_USER" 2>/dev/null || true
            slurm scancel --full --quiet --state=PENDING 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                [[ -z "$(slurm squeue -h -o %i 2>/dev/null)" ]] && break
                sleep 0.2
            done
        fi
    fi
    kill_user_processes

    for pid in $(for node in "${ALL_NODES[@]}"; do read_pid "$(slurmd_pid_file "$node")"; done) \
               $(pids_by_conf slurmd); do
        stop_pid "$pid" 10
    done
    for pid in $(our_stepd_pids); do
        stop_pid "$pid" 2
    done
    for pid in $(read_pid "$CTLD_PID") $(pids_by_conf slurmctld); do
        stop_pid "$pid" 10
    done
    pid=$(read_pid "$MUNGE_PID")
    stop_pid "$pid" 5
    # munged without a pid file: match its exe and our private socket on the command line.
    for pid in /proc/[0-9]*; do
        [[ "$(readlink "$pid/exe" 2>/dev/null)" == */munged ]] || continue
        tr '\0' '\n' < "$pid/cmdline" 2>/dev/null | grep -qxF -- "--socket=$MUNGE_SOCKET" &&
            stop_pid "${pid#/proc/}" 5
    done
    stop_default_munge
    rm -f "$RUN_DIR"/slurmd*.pid "$CTLD_PID" "$MUNGE_PID" "$DIR/env"
    rm -rf "$TMPFS_DIR"

    kill_user_processes
    clean_user_leftovers
    log "stopped"
}

cmd_start() {
    need_root
    need_tools
    [[ "$DIR" == /* ]] || die "COCOON_TEST_DIR must be an absolute path"
    IMAGES=${COCOON_IMAGES:-$DIR/images}

    # A previous run may have left daemons, jobs or user processes behind.
    if [[ -d "$DIR" ]]; then
        cmd_stop >/dev/null
    fi
    install -d -m 0755 "$DIR"
    chmod 0755 "$DIR"

    ensure_user
    # Unprivileged FUSE mounts need a world-accessible /dev/fuse. Real sites ship it 0666
    # (udev default); some container hosts create it 0600. Documented node prerequisite.
    if [[ -c /dev/fuse ]]; then
        chmod 0666 /dev/fuse
    else
        echo "cluster: warning: /dev/fuse missing; squashfuse mounts will fail" >&2
    fi

    "$HARNESS_DIR/make-images.sh" "$IMAGES"
    # The MPI images need packages from apt's cache or mirror: without them only the MPI
    # tests fail (their images are missing), not every test.
    "$HARNESS_DIR/make-mpi-image.sh" "$IMAGES" ||
        echo "cluster: warning: MPI test images not built (see above)" >&2
    # A start that fails half-way must not leave daemons behind.
    trap 'echo "cluster: start failed; stopping what was started" >&2; cmd_stop >/dev/null' EXIT
    write_config
    start_munge
    start_default_munge
    write_mount_baseline
    start_slurm
    trap - EXIT
    log "ready: source $DIR/env (SLURM_CONF=$CONF)"
}

cmd_status() {
    if node_idle; then
        echo "cluster: nodes ${ALL_NODES[*]} idle (SLURM_CONF=$CONF)"
        return 0
    fi
    echo "cluster: not running or a node not idle (SLURM_CONF=$CONF)" >&2
    return 1
}

case ${1:-} in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
