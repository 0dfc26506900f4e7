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

# The verdicts (fail, skip, pass), assertions and run_capture are tests/lib/assert.sh's,
# shared with the unprivileged suite; what is here needs the cluster or the registries.
# shellcheck source=../lib/assert.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/assert.sh"

# Used by the tests that source this file.
# shellcheck disable=SC2034
TEST_USER=cocoontest
# shellcheck disable=SC2034
TEST_EXTRA_GROUP=cocoonextra
COCOON_TEST_DIR=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}

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

# The cluster has several nodes (cluster.sh): the first is alone in the default partition,
# all of them are in COCOON_TEST_MULTI_PARTITION. "The node" of a test is every node: the
# states below and wait_idle cover all of them, so a test that used more than one node
# also ends with each of them idle.
# shellcheck disable=SC2206,SC2034  # a list of node names, split on spaces; used by tests
TEST_NODES=(${COCOON_TEST_NODES:-})
# shellcheck disable=SC2034
MULTI_PARTITION=${COCOON_TEST_MULTI_PARTITION:-}

# "NODE STATE", one line per node (sinfo -N lists a node once per partition).
_node_states() {
    timeout 15 sinfo -h -N -o '%N %T' 2>/dev/null | sort -u
}

# The cluster's state in one word: the worst of its nodes' states (a node that is down or
# drained before one that is busy, busy before idle), or nothing without an answer.
_node_state() {
    _node_states | awk '
        { rank = ($2 == "idle") ? 0 : ($2 ~ /^(mixed|allocated|completing)$/) ? 1 : 2
          if (NR == 1 || rank > worst) { worst = rank; state = $2 } }
        END { if (NR) print state }'
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
        note "a node is '$_state' ($(sinfo -h -R -o '%N: %E' | tr '\n' ' ')); resuming it"
        for _node in $(_node_states | awk '$2 !~ /^(idle|mixed|allocated|completing)$/ { print $1 }'); do
            scontrol update NodeName="$_node" State=RESUME 2>&1
        done
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
    run_capture as_user "$@"
}

# run_batch SBATCH_ARGS...: `sbatch --wait SBATCH_ARGS...` as the test user, without
# sbatch's own wait: sbatch --wait asks the controller every 2 s at best, most of a short
# test job's time; this asks every 0.1 s, and returns once the job and its epilog are done
# (at most 200 s). Sets OUT ("Submitted batch job N"), ERR, RC (the job's exit status as
# sbatch --wait gives it: the batch script's, 128+N when signal N ended it, 1 when the job
# ended otherwise without one, 124 when it was not done in time) and JOB (its id).
run_batch() {
    local i line state code seen=0
    run_user sbatch --parsable "$@"
    JOB=${OUT%%;*}
    (( RC == 0 )) || return 0
    [[ "$JOB" =~ ^[0-9]+$ ]] || fail "sbatch --parsable answered '$OUT' (stderr: $ERR)"
    OUT="Submitted batch job $JOB"
    for ((i = 0; i < 2000; i++)); do
        line=$(scontrol -o show job "$JOB" 2>/dev/null)
        state=$(grep -o ' JobState=[A-Z_]*' <<<"$line")
        state=${state#*=}
        case $state in
            '')
                # Done and forgotten (MinJobAge) between two looks: the status is lost.
                (( seen )) && fail "job $JOB left the controller before its end state was read"
                sleep 0.1 ;;
            PENDING|RUNNING|SUSPENDED|COMPLETING|CONFIGURING|REQUEUED|RESIZING) seen=1; sleep 0.1 ;;
            *)
                code=$(grep -oE ' ExitCode=[0-9]+:[0-9]+' <<<"$line")
                code=${code#*=}
                if [[ -z "$code" ]]; then RC=1
                elif [[ "${code#*:}" != 0 ]]; then RC=$((128 + ${code#*:}))
                else RC=${code%:*}
                fi
                [[ "$state" == COMPLETED || "$RC" != 0 ]] || RC=1
                return 0 ;;
        esac
    done
    RC=124
    ERR+="${ERR:+$'\n'}job $JOB not done after 200 s: ${line:-no answer from scontrol}"
}

# run_batch_script SCRIPT OUT_FILE: submits SCRIPT (made the test user's, executable) with
# run_batch -o OUT_FILE once the nodes are idle; sets JOB (its id) and JOB_OUT (what it
# printed), and fails the test when it printed nothing at all.
run_batch_script() {
    local script=$1 out_file=$2
    chown "$TEST_USER" "$script"
    chmod 0755 "$script"
    wait_idle
    run_batch -o "$out_file" "$script"
    [[ -f "$out_file" ]] || fail "batch output missing; sbatch said: $OUT $ERR"
    JOB_OUT=$(cat "$out_file")
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

# Restarts the first node's slurmd as an admin's `systemctl restart slurmd` would: stopped
# with SIGTERM, started again with the command line and environment it had; waits until
# the node is idle again. Call it with no job running.
restart_slurmd() {
    local pid_file pid i
    pid_file=$COCOON_TEST_DIR/run/slurmd-$(hostname -s).pid
    pid=$(cat "$pid_file" 2>/dev/null) || true
    [[ -n "$pid" && -d /proc/$pid ]] || fail "no slurmd pid in $pid_file"
    local -a command environment
    mapfile -d '' -t command < "/proc/$pid/cmdline"
    mapfile -d '' -t environment < "/proc/$pid/environ"
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do
        [[ -d /proc/$pid ]] || break
        sleep 0.1
    done
    [[ ! -d /proc/$pid ]] || fail "slurmd $pid did not stop on SIGTERM"
    env -i "${environment[@]}" "${command[@]}" || fail "slurmd did not start again: ${command[*]}"
    # The daemon writes its pid file a moment after the command returns.
    local new_pid=""
    for ((i = 0; i < 100; i++)); do
        new_pid=$(cat "$pid_file" 2>/dev/null) || true
        [[ -n "$new_pid" && "$new_pid" != "$pid" && -d /proc/$new_pid ]] && break
        sleep 0.1
    done
    (( i < 100 )) || fail "slurmd did not start again (pid file $pid_file: ${new_pid:-empty})"
    wait_idle
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

# --- assertions about the cluster (the others are in tests/lib/assert.sh) ---------------

# Every node is idle or mixed.
assert_node_healthy() {
    local state
    state=$(_node_state)
    case $state in
        idle|mixed) ;;
        *) fail "node state is '${state:-no answer}', expected idle or mixed; nodes:
$(_node_states)
reasons:
$(sinfo -R 2>&1)" ;;
    esac
}

# require_nodes N: the multi-node partition has at least N nodes (skip otherwise).
require_nodes() {
    local n
    [[ -n "$MULTI_PARTITION" ]] ||
        skip "the test cluster has one node (restart it with tests/harness/cluster.sh start)"
    n=$(sinfo -h -N -p "$MULTI_PARTITION" -o '%N' 2>/dev/null | sort -u | wc -l)
    (( n >= $1 )) || skip "partition $MULTI_PARTITION has $n nodes, this test needs $1"
}

# The test user's processes, one pid per line, less those that have exited and wait for
# PID 1 to reap them: such a zombie holds no memory, descriptor or mount, and when it goes
# is up to init (which on some VMs reaps orphans only about once a second). A zombie whose
# parent still lives counts: that parent has not reaped its child.
user_processes() {
    { ps -o pid=,ppid=,stat= -u "$TEST_USER" || true; } | awk '!($2 == 1 && $3 ~ /^Z/) { print $1 }'
}

# Nothing of the test user may survive its jobs: processes, FUSE/cocoon mounts in the
# host mount namespace, temporary directories.
assert_no_leftovers() {
    wait_idle
    local i procs="" mounts="" dirs=""
    # Processes of a finished step may need a moment to end.
    for ((i = 0; i < 50; i++)); do
        procs=$(user_processes)
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

# Start each test from a quiet cluster so back-to-back jobs do not queue.
wait_idle

# --- registries, image cache and the cocoon command (tests/harness/registry.sh) -------------

_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REGISTRY_SH=$_LIB_DIR/../harness/registry.sh
MAKE_OCI=$_LIB_DIR/../harness/make-oci.py
REGISTRY_DIR=$COCOON_TEST_DIR/registry
# shellcheck disable=SC2034
REGISTRY_OPEN=127.0.0.1:5000
# shellcheck disable=SC2034
REGISTRY_AUTH=127.0.0.1:5001
# shellcheck disable=SC2034
REGISTRY_OPEN_LOG=$REGISTRY_DIR/open.log
# shellcheck disable=SC2034
REGISTRY_AUTH_LOG=$REGISTRY_DIR/auth.log
# shellcheck disable=SC2034
REGISTRY_USER=cocoon
# shellcheck disable=SC2034
REGISTRY_PASSWORD=cocoon-secret
COCOON=${COCOON_CLI:-$COCOON_TEST_DIR/install/usr/local/bin/cocoon}
# How long one cocoon/srun command of a registry test may take before it counts as hung.
COCOON_TIMEOUT=${COCOON_TIMEOUT:-90}

# The cocoon.yaml the plugin uses (config= in plugstack.conf); the CLI gets the same via -c.
_plugin_config() {
    local plugstack=$COCOON_TEST_DIR/etc/plugstack.conf word
    if [[ -r "$plugstack" ]]; then
        for word in $(grep -E '^[[:space:]]*(required|optional)[[:space:]]' "$plugstack" | head -n1); do
            [[ "$word" == config=* ]] && { echo "${word#config=}"; return; }
        done
    fi
    echo "$COCOON_TEST_DIR/etc/cocoon.yaml"
}
COCOON_YAML=${COCOON_YAML:-$(_plugin_config)}

# The test user's image cache: cache_dir from cocoon.yaml with {uid} etc. filled in.
_user_cache_dir() {
    local dir
    dir=$(sed -n 's/^cache_dir:[[:space:]]*//p' "$COCOON_YAML" 2>/dev/null | head -n1)
    dir=${dir%\"}; dir=${dir#\"}
    [[ -n "$dir" ]] || dir="{home}/.cache/cocoon"
    dir=${dir//\{uid\}/$TEST_UID}
    dir=${dir//\{user\}/$TEST_USER}
    dir=${dir//\{home\}/$TEST_HOME}
    echo "$dir"
}
# shellcheck disable=SC2034
TEST_CACHE=$(_user_cache_dir)

_registry_answers() {
    local code
    code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://$1/v2/" 2>/dev/null)
    [[ "$code" == 200 || "$code" == 401 ]]
}

# The OCI layouts and archives registry.sh builds (make-oci.py); no registry needed.
require_oci_fixtures() {
    local f
    for f in oci/busybox/index.json oci/layers/index.json busybox-docker.tar busybox-oci.tar; do
        [[ -r "$IMAGES/$f" ]] ||
            skip "registry fixture $IMAGES/$f missing (run tests/harness/registry.sh start)"
    done
}

# layout_with_config TARGET EDIT [ARG]: an OCI layout at TARGET (owned by TEST_USER)
# holding the busybox fixture, its image configuration changed by the Python statement
# EDIT, which rewrites `text` (the configuration as JSON text) and may use `arg` (ARG).
layout_with_config() {
    python3 - "$IMAGES/oci/busybox" "$1" "$2" "${3:-}" <<'PY' || fail "cannot build the layout $1"
import hashlib, json, os, sys
source, target, edit, arg = sys.argv[1:5]
os.makedirs(os.path.join(target, "blobs", "sha256"))
def blob(digest):
    with open(os.path.join(source, "blobs", *digest.split(":")), "rb") as f:
        return f.read()
def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(target, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest
index = json.load(open(os.path.join(source, "index.json")))
entry = next(m for m in index["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "latest")
manifest = json.loads(blob(entry["digest"]))
text = blob(manifest["config"]["digest"]).decode()
exec(edit)
data = text.encode()
manifest["config"] = {"mediaType": manifest["config"]["mediaType"], "digest": put(data), "size": len(data)}
for layer in manifest["layers"]:
    put(blob(layer["digest"]))
data = json.dumps(manifest).encode()
entry = dict(entry, digest=put(data), size=len(data))
json.dump({"schemaVersion": 2, "manifests": [entry]}, open(os.path.join(target, "index.json"), "w"))
open(os.path.join(target, "oci-layout"), "w").write('{"imageLayoutVersion": "1.0.0"}')
PY
    chown -R "$TEST_USER" "$1"
}

# layout_with_workdir TARGET WORKDIR: the fixture with WorkingDir set to WORKDIR.
layout_with_workdir() {
    layout_with_config "$1" '
config = json.loads(text)
config.setdefault("config", {})["WorkingDir"] = arg
text = json.dumps(config)' "$2"
}

# Both registries answer and the fixtures are pushed; the cache root exists.
require_registry() {
    command -v curl >/dev/null || skip "curl missing (run scripts/install-deps.sh)"
    _registry_answers "$REGISTRY_OPEN" ||
        skip "registry $REGISTRY_OPEN not running (run tests/harness/registry.sh start)"
    _registry_answers "$REGISTRY_AUTH" ||
        skip "registry $REGISTRY_AUTH not running (run tests/harness/registry.sh start)"
    [[ -r "$REGISTRY_DIR/fixtures.digests" ]] ||
        skip "registry fixtures not pushed (run tests/harness/registry.sh push)"
    require_oci_fixtures
    # cache_dir is $COCOON_TEST_DIR/cache/{uid}: users create their own directory in it.
    install -d -m 1777 "$COCOON_TEST_DIR/cache"
}

require_cli() {
    [[ -x "$COCOON" ]] || skip "cocoon command not found at $COCOON (set COCOON_CLI)"
}

# fixture_digest NAME: manifest digest of a fixture (busybox, layers, escape, dotdot,
# multiarch, multiarch/amd64, multiarch/arm64) as pushed by registry.sh.
fixture_digest() {
    awk -v n="$1" '$1 == n { print $2 }' "$REGISTRY_DIR/fixtures.digests"
}

# layout_blobs LAYOUT [MANIFEST_DIGEST]: the config and layer digests of the image that
# index.json tags "latest" (or of the given manifest) in an OCI layout, one per line.
layout_blobs() {
    python3 - "$@" <<'PY'
import json, os, sys
layout = sys.argv[1]
def blob(digest):
    with open(os.path.join(layout, "blobs", *digest.split(":"))) as f:
        return json.load(f)
if len(sys.argv) > 2:
    digest = sys.argv[2]
else:
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    digest = next(m["digest"] for m in index["manifests"]
                  if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "latest")
manifest = blob(digest)
print(manifest["config"]["digest"])
for layer in manifest["layers"]:
    print(layer["digest"])
PY
}

# registry_stop_open / registry_start_open: for the fault tests; storage survives.
registry_stop_open() {
    "$REGISTRY_SH" stop open >/dev/null || fail "could not stop the registry on $REGISTRY_OPEN"
    ! _registry_answers "$REGISTRY_OPEN" || fail "$REGISTRY_OPEN still answers after stop"
}

registry_start_open() {
    "$REGISTRY_SH" start open >/dev/null || fail "could not start the registry on $REGISTRY_OPEN"
    _registry_answers "$REGISTRY_OPEN" || fail "$REGISTRY_OPEN does not answer after start"
}

# --- a registry that misbehaves on purpose (tests/harness/fault-registry.py) ----------------
# It serves the busybox fixture on plain HTTP at FAULT_REGISTRY under any repository; the
# last component of the repository names the fault (good, oversize, stall, slow, nosize,
# deepconfig, deepmanifest). tests/integration/cocoon.yaml marks it insecure.

# shellcheck disable=SC2034
FAULT_REGISTRY=127.0.0.1:5002
FAULT_REGISTRY_LOG=$REGISTRY_DIR/fault.log
_FAULT_REGISTRY_PID=""

fault_registry_start() {
    local i
    [[ -z "$_FAULT_REGISTRY_PID" ]] || return 0
    ! _registry_answers "$FAULT_REGISTRY" ||
        fail "$FAULT_REGISTRY already answers: stop whatever listens there"
    install -d -m 0755 "$REGISTRY_DIR"
    touch "$FAULT_REGISTRY_LOG"
    # setsid: a test that kills its own process group leaves the server alone.
    setsid python3 "$_LIB_DIR/../harness/fault-registry.py" "$IMAGES/oci/busybox" \
        "${FAULT_REGISTRY##*:}" "$FAULT_REGISTRY_LOG" >>"$REGISTRY_DIR/fault.out" 2>&1 </dev/null &
    _FAULT_REGISTRY_PID=$!
    for ((i = 0; i < 100; i++)); do
        _registry_answers "$FAULT_REGISTRY" && return 0
        kill -0 "$_FAULT_REGISTRY_PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "the fault registry did not answer on $FAULT_REGISTRY:
$(tail -n 5 "$REGISTRY_DIR/fault.out")"
}

# Stops the server this test started (by its pid, checked to still be that server).
fault_registry_stop() {
    local pid=$_FAULT_REGISTRY_PID
    _FAULT_REGISTRY_PID=""
    [[ -n "$pid" ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q fault-registry.py; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    return 0
}

# fault_sent_lines MARK FAULT: the fault registry's "sent N bytes of DIGEST (FAULT, ...)"
# lines after MARK (log_mark), one per streamed layer response that ended. A response ends
# when the client closes the connection, which the server notices on its next write: wait
# up to 5 s for at least one.
fault_sent_lines() {
    local mark=$1 fault=$2 i lines=""
    for ((i = 0; i < 50; i++)); do
        lines=$(tail -n +"$((mark + 1))" "$FAULT_REGISTRY_LOG" | grep -E "^sent [0-9]+ bytes of sha256:[0-9a-f]+ \($fault,")
        [[ -n "$lines" ]] && break
        sleep 0.1
    done
    echo "$lines"
}

# --- counting registry requests -------------------------------------------------------------
# The registry writes one access-log line per request (Apache combined format):
#   127.0.0.1 - - [28/Nov/2026:10:22:53 +0000] "GET /v2/test/busybox/blobs/sha256:43f3... HTTP/1.1" 200 1046057 "" "UA"
# Its own "level=info msg=..." lines in the same file never match the patterns below.

# log_mark LOG: the current number of lines; pass it to the *_since helpers.
log_mark() {
    local n
    n=$(wc -l < "$1" 2>/dev/null)
    echo "${n:-0}"
}

# log_since LOG MARK: lines appended after MARK. The registry logs a request when its
# response is complete, which can be a moment after the client has all the data.
log_since() {
    sleep 0.3
    tail -n +"$(($2 + 1))" "$1"
}

# slurmd_logs_mark: the marks of every node's slurmd log (slurmd.log, slurmd-NODE.log; a
# step may run on any node); pass them to slurmd_logs_since for the lines logged since.
slurmd_logs_mark() {
    local f
    for f in "$COCOON_TEST_DIR"/log/slurmd*.log; do
        echo "$f $(log_mark "$f")"
    done
}
slurmd_logs_since() {
    local f n
    sleep 0.3
    while read -r f n; do
        tail -n +"$((n + 1))" "$f"
    done <<<"$1"
}

# blob_gets_since LOG MARK [DIGEST_OR_REPO]: number of GET requests for blobs after MARK,
# all of them or those whose line contains DIGEST_OR_REPO ("sha256:…" or "/test/busybox/").
blob_gets_since() {
    log_since "$1" "$2" | grep -E '"GET /v2/[^ ]+/blobs/sha256:[0-9a-f]{64} HTTP/' |
        grep -cF -- "${3:-/blobs/}"
}

# count_blob_gets LOG DIGEST_OR_REPO [MARK]: the same, since MARK (default: since ever).
count_blob_gets() {
    blob_gets_since "$1" "${3:-0}" "$2"
}

# manifest_requests_since LOG MARK [REPO]: HEAD and GET requests for manifests.
manifest_requests_since() {
    log_since "$1" "$2" | grep -E '"(GET|HEAD) /v2/[^ ]+/manifests/[^ ]+ HTTP/' |
        grep -cF -- "${3:-/manifests/}"
}

# requests_since LOG MARK: every request line ("METHOD PATH STATUS"), for messages.
requests_since() {
    log_since "$1" "$2" | sed -nE 's/.*"([A-Z]+ [^ ]+) HTTP\/[0-9.]+" ([0-9]+) .*/\1 \2/p'
}

# --- the cocoon command as the test user ---------------------------------------------------

# run_cocoon [NAME=VALUE...] SUBCOMMAND ARGS...: run_user "cocoon SUBCOMMAND -c COCOON_YAML
# ARGS" (with the environment assignments, e.g. COCOON_CACHE_DIR=...), killed after
# COCOON_TIMEOUT seconds (RC 124).
run_cocoon() {
    local envs=()
    while (( $# > 0 )) && [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
        envs+=("$1")
        shift
    done
    local sub=$1
    shift
    run_user env "${envs[@]}" timeout "$COCOON_TIMEOUT" "$COCOON" "$sub" -c "$COCOON_YAML" "$@"
}

# cocoon_images_line NAME [CACHE_DIR]: sets CACHED_LINE to the line of `cocoon images`
# for image NAME (empty when not listed). Fails the test when `cocoon images` fails, so
# call it directly, never in $(...).
cocoon_images_line() {
    local name=$1 cache=${2:-}
    if [[ -n "$cache" ]]; then
        run_cocoon COCOON_CACHE_DIR="$cache" images
    else
        run_cocoon images
    fi
    assert_succeeded "cocoon images${cache:+ with COCOON_CACHE_DIR=$cache}"
    # shellcheck disable=SC2034  # read by the tests
    CACHED_LINE=$(grep -F -- "$name" <<<"$OUT" | head -n1)
}

# --- credentials of the test user ------------------------------------------------------------

_AUTH_FILES=()

# write_user_auth USER PASSWORD [FILE]: credentials for 127.0.0.1:5001 in the test user's
# ~/.config/cocoon/auth.json (or FILE under the home, e.g. .docker/config.json), mode 0600,
# owned by the test user. remove_user_auth removes every file written so.
write_user_auth() {
    local file=$TEST_HOME/${3:-.config/cocoon/auth.json} group token
    group=$(id -gn "$TEST_USER")
    token=$(printf '%s:%s' "$1" "$2" | base64 -w0)
    local dir=${file%/*}
    [[ -d "$dir" ]] || install -d -o "$TEST_USER" -g "$group" -m 0700 "$dir"
    [[ -d "${dir%/*}" ]] && chown "$TEST_USER:$group" "${dir%/*}"
    printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REGISTRY_AUTH" "$token" > "$file"
    chown "$TEST_USER:$group" "$file"
    chmod 0600 "$file"
    _AUTH_FILES+=("$file")
}

remove_user_auth() {
    local f
    for f in "${_AUTH_FILES[@]}" "$TEST_HOME/.config/cocoon/auth.json"; do
        rm -f "$f"
    done
    _AUTH_FILES=()
}

# --- fresh images ---------------------------------------------------------------------------

# make_unique_image REPO [FILLER_MIB]: build and push a busybox image whose blobs exist
# nowhere else (a new token in each layer) as 127.0.0.1:5000/test/REPO:TOKEN. Sets
# UNIQUE_REF, UNIQUE_DIGEST (manifest), UNIQUE_BLOBS (config + layers), UNIQUE_TOKEN.
# delete_unique_image removes the tag's manifest again (registry.sh start collects the
# blobs) and the local layout.
UNIQUE_LAYOUTS=()
make_unique_image() {
    local repo=$1 filler=${2:-0} layout
    UNIQUE_TOKEN=t$(date +%s%N)-$$-$RANDOM
    layout=$(mktemp -d "$COCOON_TEST_DIR/unique.XXXXXX")
    UNIQUE_LAYOUTS+=("$layout|$repo")
    # shellcheck disable=SC2034
    UNIQUE_DIGEST=$(python3 "$MAKE_OCI" unique "$layout" "$UNIQUE_TOKEN" --filler-mib "$filler") ||
        fail "make-oci.py unique failed"
    skopeo copy --quiet --dest-tls-verify=false "oci:$layout:latest" \
        "docker://$REGISTRY_OPEN/test/$repo:$UNIQUE_TOKEN" >/dev/null ||
        fail "skopeo could not push $REGISTRY_OPEN/test/$repo:$UNIQUE_TOKEN"
    mapfile -t UNIQUE_BLOBS < <(layout_blobs "$layout")
    (( ${#UNIQUE_BLOBS[@]} == 3 )) || fail "unexpected blobs in $layout: ${UNIQUE_BLOBS[*]}"
    # shellcheck disable=SC2034
    UNIQUE_REF=$REGISTRY_OPEN/test/$repo:$UNIQUE_TOKEN
}

delete_unique_images() {
    local entry layout repo digest
    for entry in "${UNIQUE_LAYOUTS[@]}"; do
        layout=${entry%%|*} repo=${entry#*|}
        digest=$(python3 "$MAKE_OCI" digest "$layout" 2>/dev/null)
        [[ -n "$digest" ]] && curl -s -o /dev/null -m 5 -X DELETE \
            "http://$REGISTRY_OPEN/v2/test/$repo/manifests/$digest"
        rm -rf "$layout"
    done
    UNIQUE_LAYOUTS=()
}

# --- the trusted cache (kernel_mount) ----------------------------------------------------

# The shared cache the test configuration kernel-mounts ($COCOON_TEST_DIR/kernel-cache),
# filled by root with a unique image: sets KERNEL_CACHE, UNIQUE_* (make_unique_image) and
# KERNEL_IMAGE_FILE. Skips the test where cocoon.yaml does not kernel-mount that cache.
# The caller removes $KERNEL_CACHE and calls delete_unique_images when it ends.
pull_into_kernel_cache() { # REPO
    KERNEL_CACHE=$COCOON_TEST_DIR/kernel-cache
    grep -q "$KERNEL_CACHE" "$COCOON_YAML" && grep -q '^kernel_mount: true' "$COCOON_YAML" ||
        skip "$COCOON_YAML does not list $KERNEL_CACHE in shared_caches with kernel_mount: true"
    make_unique_image "$1"
    rm -rf "$KERNEL_CACHE"
    install -d -m 0755 "$KERNEL_CACHE"
    COCOON_CACHE_DIR=$KERNEL_CACHE timeout "$COCOON_TIMEOUT" "$COCOON" pull -c "$COCOON_YAML" \
        "$UNIQUE_REF" >/dev/null 2>&1 || fail "root could not pull $UNIQUE_REF into $KERNEL_CACHE"
    KERNEL_IMAGE_FILE=$(find "$KERNEL_CACHE/images" -name '*.sqsh' -print -quit)
    [[ -f "$KERNEL_IMAGE_FILE" ]] || fail "no image in $KERNEL_CACHE/images"
}

# One job of USER (srun outside an allocation, from /) in IMAGE with a read-only root, that
# runs the shell command SHOW, which prints a device (MAJ:MIN); sets DEV.
job_device_of() { # USER IMAGE SHOW
    wait_idle
    run_capture runuser -u "$1" -- env SLURM_CONF="$SLURM_CONF" \
        sh -c 'cd / && exec srun --container-readonly --container="$1" sh -c "$2"' sh "$2" "$3"
    assert_succeeded "a job of $1 in $2"
    DEV=$OUT
    [[ "$DEV" =~ ^[0-9]+:[0-9]+$ ]] || fail "job of $1 in $2: no device of the image: '$DEV' ($ERR)"
}

# --- the cache after a test --------------------------------------------------------------------

# Locks (flock/POSIX/OFD, from /proc/locks) held on anything under DIR: "lock line -> path".
cache_lock_holders() {
    local dir=$1 dev ino path major minor line key
    [[ -d "$dir" ]] || return 0
    local -A paths=()
    while read -r dev ino path; do
        major=$(( ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff) ))
        minor=$(( (dev & 0xff) | ((dev >> 12) & ~0xff) ))
        paths[$(printf '%02x:%02x:%s' "$major" "$minor" "$ino")]=$path
    done < <(find "$dir" -xdev -printf '%D %i %p\n' 2>/dev/null)
    while read -r line; do
        for key in $line; do
            [[ -n "${paths[$key]:-}" ]] && echo "$line -> ${paths[$key]}"
        done
    done < /proc/locks
    return 0
}

# assert_cache_clean [DIR...] (default TEST_CACHE): no temporary or partial files (names
# *.tmp*, *.partial*, *.part) and no process holding a lock on anything in the cache.
assert_cache_clean() {
    local dir junk holders
    (( $# > 0 )) || set -- "$TEST_CACHE"
    for dir in "$@"; do
        [[ -d "$dir" ]] || continue
        junk=$(find "$dir" \( -name '*.tmp*' -o -name '*.partial*' -o -name '*.part' \) 2>/dev/null)
        [[ -z "$junk" ]] || fail "temporary or partial files left in the cache $dir:
$junk"
        holders=$(cache_lock_holders "$dir")
        [[ -z "$holders" ]] || fail "locks still held in the cache $dir:
$holders"
    done
}
