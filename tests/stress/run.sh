#!/bin/bash
# shellcheck disable=SC2317,SC2016  # scenarios are called by name; job scripts quote on purpose
# The long catalogue cases (docs/security.md), on the harness cluster and registries:
#
#   run.sh [--reduced] [sequential|import|flipper]...
#
#   sequential  LD-06: many sequential containerized steps in one allocation; afterwards
#               no more user namespaces, mounts, FUSE connections, processes or slurmd
#               descriptors than before (full: 1500 steps, sampled every 100; reduced: 30)
#   import      LD-01: K importers of one new registry image start at once (steps of one
#               allocation and `cocoon pull`s): all succeed, every blob is fetched exactly
#               once, one cache entry, nothing partial left (full: 32; reduced: 4)
#   flipper     PB-03/BO-05: while steps start, a process of the user swaps the cache
#               directory with a symbolic link to a directory another user owns
#               (renameat2 RENAME_EXCHANGE, in a tight loop); every step either runs or
#               is refused with the cache's one-line error, nothing is ever written to the
#               other user's directory, nothing hangs (full: 5 minutes; reduced: 6 s)
#
# Needs what the integration tests need (root, tests/harness/cluster.sh start,
# tests/harness/registry.sh start); scripts/test.sh runs the reduced form as the
# integration test test_stress_reduced. Exits 0 when every scenario passed.
set -uo pipefail
mode=full
scenarios=()
for arg in "$@"; do
    case $arg in
        --reduced) mode=reduced ;;
        sequential|import|flipper) scenarios+=("$arg") ;;
        *) echo "usage: run.sh [--reduced] [sequential|import|flipper]..." >&2; exit 2 ;;
    esac
done
(( ${#scenarios[@]} > 0 )) || scenarios=(sequential import flipper)

source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../integration/catalogue_lib.sh"
# shellcheck disable=SC2034  # read by lib.sh's messages
TEST_NAME=stress-$mode
require_plugin
require_images
require_registry
require_cli

if [[ $mode == full ]]; then
    steps=1500 sample_every=100 importers=32 flip_seconds=300
else
    steps=30 sample_every=15 importers=4 flip_seconds=6
fi

work=$TEST_WORK/stress
cleanup() {
    [[ -n "$(squeue -h -u "$TEST_USER" -o %i 2>/dev/null)" ]] && cancel_user_jobs
    [[ -n "${flipper_pid:-}" ]] && kill "$flipper_pid" 2>/dev/null
    [[ -n "${UNIQUE_REF:-}" ]] && run_cocoon rmi "$UNIQUE_REF" >/dev/null 2>&1
    delete_unique_images
    rm -rf "$work"
    catalogue_cleanup
}
trap cleanup EXIT
rm -rf "$work"
install -d -o "$TEST_USER" -m 0755 "$work"

# --- what must not grow --------------------------------------------------------------------------
slurmd_pid() {
    pgrep -x slurmd | head -n1
}
# One line: user namespaces held by the test user's processes and by Slurm's daemons,
# mounts in the host namespace, FUSE connections, processes of the test user, descriptors
# of slurmd. (The machine is shared: namespaces of unrelated processes are not counted.)
resources() {
    local pids userns mounts fuse procs fds
    pids=$({ user_processes; pgrep -x slurmd; pgrep slurmstepd; } | sort -u)
    userns=$(for pid in $pids; do readlink "/proc/$pid/ns/user"; done 2>/dev/null | sort -u | wc -l)
    mounts=$(wc -l < /proc/self/mountinfo)
    fuse=$(find /sys/fs/fuse/connections -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    procs=$(user_processes | wc -l)
    fds=$(find "/proc/$(slurmd_pid)/fd" -mindepth 1 2>/dev/null | wc -l)
    echo "userns=$userns mounts=$mounts fuse=$fuse procs=$procs slurmd_fds=$fds"
}

# Waits until the test user has no process left (a step's holder may need a moment).
settle() {
    local i
    wait_idle
    for ((i = 0; i < 100; i++)); do
        [[ -z "$(user_processes)" ]] && return 0
        sleep 0.1
    done
    fail "processes of $TEST_USER left: $(ps -o pid,cmd -u "$TEST_USER")"
}

# --- LD-06 -----------------------------------------------------------------------------------------
scenario_sequential() {
    note "sequential: $steps steps in one allocation"
    settle
    local before after
    before=$(resources)
    cat > "$work/sequential.sh" <<JOB
#!/bin/sh
i=0
while [ \$i -lt $steps ]; do
    i=\$((i + 1))
    out=\$(srun -n1 --container="$BUSYBOX_SQSH" cat /etc/hostname) || { echo "step \$i failed"; exit 1; }
    [ "\$out" = cocoon-test-busybox ] || { echo "step \$i ran outside the image: \$out"; exit 1; }
    [ \$((i % $sample_every)) -eq 0 ] && echo "sample \$i" && sleep 1
done
echo "steps \$i"
JOB
    chown "$TEST_USER" "$work/sequential.sh"
    chmod 0755 "$work/sequential.sh"
    # Sample while the job runs: after each sample line, wait for the node to settle.
    local start=$SECONDS
    run_user timeout $((steps * 3 + 60)) salloc -n1 "$work/sequential.sh"
    assert_succeeded "the allocation with $steps sequential container steps"
    assert_contains "$OUT" "steps $steps" "output of the sequential steps"
    note "sequential: $steps steps in $((SECONDS - start)) s"
    settle
    # Processes of the last step may need a moment to be reaped.
    for ((i = 0; i < 50; i++)); do
        after=$(resources)
        [[ "$after" == "$before" ]] && break
        sleep 0.2
    done
    assert_eq "$before" "$after" "resources before and after $steps steps"
}

# --- LD-01 -----------------------------------------------------------------------------------------
scenario_import() {
    local steps_n=$((importers / 2)) pulls_n=$((importers - importers / 2)) go=$work/go i
    note "import: $steps_n steps and $pulls_n pulls of one new image at once"
    make_unique_image stress 8
    cat > "$work/import.sh" <<JOB
#!/bin/sh
while [ ! -e "$go" ]; do sleep 0.05; done
pids=""
i=0
while [ \$i -lt $steps_n ]; do
    i=\$((i + 1))
    srun --overlap -n1 --container="$UNIQUE_REF" cat /etc/cocoon-token > "$work/step\$i.out" 2> "$work/step\$i.err" &
    pids="\$pids \$!"
done
rc=0
for p in \$pids; do wait \$p || rc=1; done
exit \$rc
JOB
    chown "$TEST_USER" "$work/import.sh"
    chmod 0755 "$work/import.sh"
    wait_idle
    local mark
    mark=$(log_mark "$REGISTRY_OPEN_LOG")
    as_user timeout 300 sbatch --wait -n1 -o "$work/batch.out" "$work/import.sh" > "$work/sbatch.out" 2>&1 &
    local sbatch_pid=$! pull_pids=()
    for ((i = 1; i <= pulls_n; i++)); do
        as_user timeout 300 sh -c 'while [ ! -e "$1" ]; do sleep 0.05; done; shift; exec "$@"' \
            sh "$go" "$COCOON" pull -c "$COCOON_YAML" "$UNIQUE_REF" \
            > "$work/pull$i.out" 2> "$work/pull$i.err" &
        pull_pids+=($!)
    done
    for ((i = 0; i < 300; i++)); do
        [[ -n "$(squeue -h -u "$TEST_USER" -t RUNNING -o %i 2>/dev/null)" ]] && break
        sleep 0.1
    done
    as_user touch "$go"
    local rc=0
    wait "$sbatch_pid" || rc=1
    for pid in "${pull_pids[@]}"; do wait "$pid" || rc=1; done
    local f
    if (( rc != 0 )); then
        for f in "$work"/*.out "$work"/*.err; do [[ -s "$f" ]] && echo "--- $f" && cat "$f"; done
        fail "an importer failed"
    fi
    for ((i = 1; i <= steps_n; i++)); do
        assert_eq "$UNIQUE_TOKEN" "$(cat "$work/step$i.out")" "token seen by step $i"
    done
    local blob
    for blob in "${UNIQUE_BLOBS[@]}"; do
        assert_eq 1 "$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark" "$blob")" \
            "GET requests for blob $blob by $importers importers"
    done
    cocoon_images_line "test/stress:$UNIQUE_TOKEN"
    [[ -n "$CACHED_LINE" ]] || fail "the image is not in the cache after the imports"
    assert_cache_clean
}

# --- PB-03 / BO-05 -------------------------------------------------------------------------------
scenario_flipper() {
    note "flipper: swapping the cache directory for $flip_seconds s while steps start"
    local flipper base=$work/flip victim=$CATALOGUE_DIR/victim
    flipper=$(build_probe flipper <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/fs.h>
/* flipper A B SECONDS: exchange A and B as often as possible for SECONDS. */
int main(int argc, char **argv)
{
    if (argc != 4) return 2;
    time_t end = time(NULL) + atol(argv[3]);
    unsigned long n = 0;
    while (time(NULL) < end) {
        if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) {
            perror("renameat2");
            return 1;
        }
        n++;
    }
    printf("%lu exchanges\n", n);
    return 0;
}
C
)
    # Another user's directory, writable by all: a cache that followed the link would write
    # there, and could run what that user planted.
    install -d -o nobody -m 0777 "$victim" "$victim/cache"
    install -d -o "$TEST_USER" -m 0700 "$base" "$base/cache"
    ln -s "$victim/cache" "$base/alt"
    chown -h "$TEST_USER" "$base/alt"
    # Swap the cache directory with the link, as fast as the kernel allows.
    as_user "$flipper" "$base/cache" "$base/alt" "$flip_seconds" > "$work/flipper.out" 2>&1 &
    flipper_pid=$!
    local image="oci:$IMAGES/oci/busybox:latest" end=$((SECONDS + flip_seconds)) ran=0 refused=0
    while (( SECONDS < end )); do
        wait_idle
        run_user env COCOON_CACHE_DIR="$base/cache" timeout 60 srun --container="$image" \
            sh -c "$IN_OCI_IMAGE; echo ok"
        [[ "$RC" != 124 ]] || fail "a step hung while the cache was being swapped"
        if [[ "$RC" == 0 ]]; then
            assert_eq ok "$OUT" "output of a step while the cache was being swapped"
            ran=$((ran + 1))
        else
            assert_contains "$ERR" "cocoon: error: --container=$image: " "error while swapping"
            # The cache is refused, or a path in it vanished under the swap (the squashfs
            # file is opened by its path: docs/security.md, PB-03).
            [[ "$ERR" == *"refusing the image cache"* || "$ERR" == *"changed while it was being opened"* ||
               "$ERR" == *"does not exist"* || "$ERR" == *"No such file or directory"* ||
               "$ERR" == *"Not a directory"* ]] ||
                fail "unexpected error while the cache was being swapped: $ERR"
            refused=$((refused + 1))
        fi
        [[ -z "$(ls -A "$victim/cache")" ]] ||
            fail "the other user's directory was written to: $(ls -A "$victim/cache")"
    done
    wait "$flipper_pid"
    local flip_rc=$?
    flipper_pid=""
    (( flip_rc == 0 )) || fail "the flipper failed: $(cat "$work/flipper.out")"
    note "flipper: $(cat "$work/flipper.out"); $ran steps ran, $refused refused"
    (( ran + refused > 0 )) || fail "no step started while the cache was being swapped"
    [[ -z "$(ls -A "$victim/cache")" ]] || fail "the other user's directory was written to"
}

for scenario in "${scenarios[@]}"; do
    "scenario_$scenario"
done

cleanup
assert_no_leftovers
assert_node_healthy
pass
