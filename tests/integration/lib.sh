# shellcheck shell=bash
# Sourced by every integration test (tests/integration/test_*.sh).
#
# Needs the private cluster from tests/harness/cluster.sh start. Without it every test
# exits 77 (meson's "skipped"), unless CI or COCOON_REQUIRE_CLUSTER=1 is set: then it is
# a failure. Tests run as root and submit jobs as the unprivileged TEST_USER.
#
# Environment:
#   COCOON_TEST_DIR   cluster state directory (default /var/tmp/cocoon-test)
#   COCOON_IMAGES     test images (default $COCOON_TEST_DIR/images, from make-images.sh)
#   COCOON_REQUIRE_CLUSTER=1 / CI   turn every skip into a failure

set -uo pipefail

# Used by the tests that source this file.
# shellcheck disable=SC2034
TEST_USER=cocoontest
# shellcheck disable=SC2034
TEST_EXTRA_GROUP=cocoonextra
COCOON_TEST_DIR=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
TEST_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

_lib_require_all() {
    [[ -n "${CI:-}" || "${COCOON_REQUIRE_CLUSTER:-0}" == 1 ]]
}

fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    exit 1
}

# Exit with meson's skip code; a failure instead when the environment demands everything.
skip() {
    if _lib_require_all; then
        echo "FAIL [$TEST_NAME]: would skip, but CI/COCOON_REQUIRE_CLUSTER is set: $*" >&2
        exit 1
    fi
    echo "SKIP [$TEST_NAME]: $*"
    exit 77
}

note() {
    echo "[$TEST_NAME] $*"
}

# --- preconditions ----------------------------------------------------------------------

(( EUID == 0 )) || skip "integration tests run as root (they submit jobs via runuser)"
[[ -r "$COCOON_TEST_DIR/env" ]] ||
    skip "no test cluster: run tests/harness/cluster.sh start ($COCOON_TEST_DIR/env missing)"
_images_from_caller=${COCOON_IMAGES:-}
# shellcheck source=/dev/null
source "$COCOON_TEST_DIR/env"
: "${SLURM_CONF:?$COCOON_TEST_DIR/env does not set SLURM_CONF}"
export SLURM_CONF
# COCOON_IMAGES given to the test wins over the one the cluster was started with.
IMAGES=${_images_from_caller:-${COCOON_IMAGES:-$COCOON_TEST_DIR/images}}
# shellcheck disable=SC2034
BUSYBOX_SQSH=$IMAGES/busybox.sqsh
# shellcheck disable=SC2034
BUSYBOX_DIR=$IMAGES/busybox
# Shell snippet for "sh -c" inside a job: exits 99 unless it runs in the busybox test
# image, so that a test cannot pass just because the task ran on the host.
# shellcheck disable=SC2034
IN_IMAGE='grep -q "^ID=cocoon-busybox" /etc/os-release || { echo "cocoon-test: task is not inside the test image" >&2; exit 99; }'
id -u "$TEST_USER" >/dev/null 2>&1 || skip "test user $TEST_USER missing: run cluster.sh start"
# shellcheck disable=SC2034
TEST_UID=$(id -u "$TEST_USER")
TEST_HOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
TEST_WORK=$TEST_HOME/work

_node_state() {
    timeout 15 sinfo -h -N -o '%T' 2>/dev/null | head -n1
}

# sinfo retries for about 10 s when no controller answers: check the pid file first.
_ctld_pid=""
if [[ -n "${COCOON_SLURMCTLD_PID_FILE:-}" && -r "$COCOON_SLURMCTLD_PID_FILE" ]]; then
    read -r _ctld_pid < "$COCOON_SLURMCTLD_PID_FILE"
fi
if [[ -z "$_ctld_pid" ]] || ! kill -0 "$_ctld_pid" 2>/dev/null; then
    skip "test cluster not running (no slurmctld; run tests/harness/cluster.sh start)"
fi

_state=$(_node_state)
case $_state in
    idle|mixed|allocated|completing) ;;
    "") skip "test cluster not running (sinfo gives no answer; run tests/harness/cluster.sh start)" ;;
    *)
        # An earlier test drained or downed the node (and failed for it). Resume it so
        # one broken test does not fail every later one; give up if that does not help.
        note "node is '$_state' ($(sinfo -h -N -o '%E' | head -n1)); resuming it"
        scontrol update NodeName="$(sinfo -h -N -o '%N' | head -n1)" State=RESUME 2>&1
        for ((_i = 0; _i < 50; _i++)); do
            _state=$(_node_state)
            [[ "$_state" == idle ]] && break
            sleep 0.2
        done
        [[ "$_state" == idle ]] ||
            fail "test cluster node is '$_state' and does not resume; restart it with cluster.sh start"
        ;;
esac

# Tests that use --container call this first: without the plugin in plugstack.conf the
# option would be ignored by Slurm 22.05 and the test would only show that.
require_plugin() {
    local plugstack
    plugstack=$(scontrol show config 2>/dev/null | awk '$1 == "PlugStackConfig" { print $3 }')
    [[ -n "$plugstack" ]] || plugstack=$COCOON_TEST_DIR/etc/plugstack.conf
    grep -Eq '^[[:space:]]*(required|optional)[[:space:]]+[^[:space:]]*spank_cocoon' "$plugstack" 2>/dev/null ||
        skip "cocoon plugin not in $plugstack (start the cluster with COCOON_PLUGIN=/abs/spank_cocoon.so)"
}

require_images() {
    local f
    for f in busybox/bin/busybox busybox.sqsh corrupt.sqsh unreadable.sqsh; do
        [[ -e "$IMAGES/$f" ]] ||
            skip "test image $IMAGES/$f missing (run tests/harness/make-images.sh $IMAGES)"
    done
}

# --- running things as the test user -----------------------------------------------------

# as_user CMD...: run CMD as TEST_USER in TEST_WORK with the cluster's SLURM_CONF.
# Arguments are passed as an argv array, never through a shell. Prefix environment
# variables with env: as_user env FOO=bar srun ...
as_user() {
    (cd "$TEST_WORK" && runuser -u "$TEST_USER" -- env SLURM_CONF="$SLURM_CONF" "$@")
}

# run_user CMD...: as_user, capturing stdout in $OUT, stderr in $ERR and the status in $RC.
# Stdin is /dev/null unless redirected by the caller.
run_user() {
    local out err
    out=$(mktemp) err=$(mktemp)
    as_user "$@" >"$out" 2>"$err"
    RC=$?
    OUT=$(cat "$out")
    ERR=$(cat "$err")
    rm -f "$out" "$err"
    return 0
}

# Cancel every job of the test user and wait for the cluster to settle. For traps in
# tests that leave jobs running in the background.
cancel_user_jobs() {
    scancel --quiet --user="$TEST_USER" 2>/dev/null
    wait_idle
}

# The highest job id the controller handed out so far (0 if none).
last_job_id() {
    local id
    id=$(scontrol show config 2>/dev/null | awk '$1 == "NEXT_JOB_ID" { print $3 }')
    [[ "$id" =~ ^[0-9]+$ ]] && echo $((id - 1)) || echo 0
}

# --- waiting ------------------------------------------------------------------------------

# Wait until no job is left in squeue and the node is idle (at most 30 s).
wait_idle() {
    local i jobs state
    for ((i = 0; i < 150; i++)); do
        jobs=$(squeue -h -o %i 2>/dev/null)
        state=$(_node_state)
        [[ -z "$jobs" && "$state" == idle ]] && return 0
        sleep 0.2
    done
    fail "cluster not idle after 30 s (jobs: ${jobs:-none}; node: ${state:-no answer})"
}

# Wait until pgrep -u TEST_USER ARGS... finds something; print the pids. At most $1 s.
wait_user_process() {
    local timeout=$1 i pids
    shift
    for ((i = 0; i < timeout * 10; i++)); do
        pids=$(pgrep -u "$TEST_USER" "$@")
        if [[ -n "$pids" ]]; then
            echo "$pids"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# --- assertions ---------------------------------------------------------------------------

assert_eq() {
    local expected=$1 actual=$2 what=${3:-value}
    [[ "$expected" == "$actual" ]] ||
        fail "$what: expected '$expected', got '$actual'"
}

assert_contains() {
    local haystack=$1 needle=$2 what=${3:-output}
    [[ "$haystack" == *"$needle"* ]] ||
        fail "$what does not contain '$needle'; it was:
$haystack"
}

assert_not_contains() {
    local haystack=$1 needle=$2 what=${3:-output}
    [[ "$haystack" != *"$needle"* ]] ||
        fail "$what contains '$needle' but should not; it was:
$haystack"
}

# assert_rc EXPECTED CMD...: run CMD (stdout/stderr pass through), check its exit status.
assert_rc() {
    local expected=$1 rc
    shift
    "$@"
    rc=$?
    [[ "$rc" == "$expected" ]] || fail "'$*' exited $rc, expected $expected"
}

# assert_failed WHAT: the last run_user must have failed (non-zero RC).
assert_failed() {
    [[ "$RC" != 0 ]] || fail "$1 succeeded but should have failed; stdout: $OUT; stderr: $ERR"
}

assert_succeeded() {
    [[ "$RC" == 0 ]] || fail "$1 exited $RC; stdout: $OUT; stderr: $ERR"
}

assert_node_healthy() {
    local state
    state=$(_node_state)
    case $state in
        idle|mixed) ;;
        *) fail "node state is '${state:-no answer}', expected idle or mixed; reasons:
$(sinfo -R 2>&1)" ;;
    esac
}

# Nothing of the test user may survive its jobs: processes, FUSE/cocoon mounts in the
# host mount namespace, temporary directories.
assert_no_leftovers() {
    wait_idle
    local i procs="" mounts="" dirs=""
    # Processes of a finished step may need a moment to be reaped.
    for ((i = 0; i < 50; i++)); do
        procs=$(pgrep -u "$TEST_USER")
        [[ -z "$procs" ]] && break
        sleep 0.1
    done
    [[ -z "$procs" ]] || fail "processes of $TEST_USER left behind:
$(ps -o pid,ppid,stat,etime,cmd -u "$TEST_USER")"

    mounts=$(awk '{ for (i = 7; $i != "-"; i++);
                    if ($(i+1) ~ /^fuse\.squashfuse/ || $5 ~ /cocoon/) print $5, $(i+1) }' \
                 /proc/self/mountinfo)
    if [[ -n "$mounts" && -f "$COCOON_TEST_DIR/mounts.baseline" ]]; then
        mounts=$(grep -vxF -f "$COCOON_TEST_DIR/mounts.baseline" <<<"$mounts" || true)
    fi
    [[ -z "$mounts" ]] || fail "mounts left behind:
$mounts"

    dirs=$(find /tmp /run /dev/shm /var/tmp -maxdepth 1 -name 'cocoon*' -user "$TEST_USER" 2>/dev/null)
    [[ -z "$dirs" ]] || fail "temporary directories of $TEST_USER left behind:
$dirs"
}

# Every test ends with assert_no_leftovers; assert_node_healthy; pass.
pass() {
    echo "PASS [$TEST_NAME]"
    exit 0
}

# Start each test from a quiet cluster so back-to-back jobs do not queue.
wait_idle
