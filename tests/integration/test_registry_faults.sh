#!/bin/bash
# Faults during an import: SIGKILL in the middle leaves nothing a later pull trips over;
# a cache on a full file system gives a clear error, keeps nothing partial, and the pull
# works once there is room.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

full=$TEST_WORK/cache-full
after=$TEST_WORK/cache-after
tmp_out=$(mktemp) tmp_err=$(mktemp)
refs=()
cleanup() {
    mountpoint -q "$full" && umount "$full"
    rm -rf "$full" "$after" "$tmp_out" "$tmp_err"
    local ref
    for ref in "${refs[@]}"; do
        run_cocoon rmi "$ref"
    done
    delete_unique_images
}
trap cleanup EXIT
rm -rf "$full" "$after"

# --- SIGKILL of the whole `cocoon pull` process group during the import ---
# Started as its own process group; killed a moment after the registry served its first
# blob. Tried up to three times (a new image each time) in case the import outran the first kill.
killed=""
for delay in 0.2 0 0; do
    make_unique_image faults 16
    refs+=("$UNIQUE_REF")
    mark=$(log_mark "$REGISTRY_OPEN_LOG")
    (cd "$TEST_WORK" && exec setsid runuser -u "$TEST_USER" -- \
        "$COCOON" pull -c "$COCOON_YAML" "$UNIQUE_REF") >"$tmp_out" 2>"$tmp_err" </dev/null &
    pgid=$!
    for ((i = 0; i < 300; i++)); do
        tail -n +"$((mark + 1))" "$REGISTRY_OPEN_LOG" | grep -q "\"GET /v2/test/faults/blobs/" && break
        kill -0 "$pgid" 2>/dev/null || break
        sleep 0.05
    done
    sleep "$delay"
    kill -KILL -- "-$pgid" 2>/dev/null
    wait "$pgid"
    rc=$?
    # Killed, and not already published: a SIGKILL that lands after the import finished
    # (between the publish and the exit) tests nothing, so that counts as outrun too.
    cocoon_images_line "$UNIQUE_REF"
    if [[ "$rc" == 137 && -z "$CACHED_LINE" ]]; then
        killed=$UNIQUE_REF
        break
    fi
    note "cocoon pull ended (rc $rc) before SIGKILL; stdout: $(cat "$tmp_out") stderr: $(cat "$tmp_err")"
done
[[ -n "$killed" ]] || fail "could not kill cocoon pull during an import (it finished first every time)"
note "killed cocoon pull of $killed after $(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark") blob downloads; its last words: $(tail -n 2 "$tmp_err" | tr '\n' ' ')"
for ((i = 0; i < 50; i++)); do
    [[ -z "$(user_processes)" ]] && break
    sleep 0.1
done
[[ -z "$(user_processes)" ]] || fail "processes survive the SIGKILL of the process group:
$(ps -o pid,pgid,stat,cmd -u "$TEST_USER")"
holders=$(cache_lock_holders "$TEST_CACHE")
[[ -z "$holders" ]] || fail "locks held after the importer was killed: $holders"

cocoon_images_line "$killed"; line=$CACHED_LINE
[[ -z "$line" ]] || fail "the killed import is listed as an image: $line"

killed_digest=$UNIQUE_DIGEST killed_token=$UNIQUE_TOKEN
killed_work=$(find "$TEST_CACHE/tmp" -mindepth 1 -maxdepth 1 -name "${killed_digest#sha256:}.*")
[[ -n "$killed_work" ]] || fail "the killed import left no work directory in $TEST_CACHE/tmp \
(it was killed during its download): $(ls -A "$TEST_CACHE/tmp")"

# --- SIGKILL while a name record is written ---
# strace kills the puller at its third rename, the name record's (after the squashfs and its
# metadata): the record's temporary is left. The next pull of any other image removes it.
# The first of these pulls also removes the work the import killed above left in tmp/: no
# importer of that image holds its lock, and it may never be pulled again.
make_unique_image faults 0
refs+=("$UNIQUE_REF")
(cd "$TEST_WORK" && exec runuser -u "$TEST_USER" -- strace -f -qq -o /dev/null \
    -e trace=renameat -e inject=renameat:signal=KILL:when=3 \
    "$COCOON" pull -c "$COCOON_YAML" "$UNIQUE_REF") >"$tmp_out" 2>"$tmp_err" </dev/null
[[ ! -e "$killed_work" ]] || fail "the work of the import killed above is still there after \
the import of another image: $killed_work"
left=$(find "$TEST_CACHE/refs" -name '*.tmp.*')
[[ -n "$left" ]] || fail "strace's kill at the third rename left no name record's temporary \
in $TEST_CACHE/refs (did the order of the import's renames change?); the pull printed:
$(cat "$tmp_out" "$tmp_err")"
sleep 1 # a temporary is only judged once it is a second old: its writer may not have locked it yet
make_unique_image faults 0
refs+=("$UNIQUE_REF")
run_cocoon pull "$UNIQUE_REF"
assert_succeeded "cocoon pull of another image after a kill while writing a name record"
[[ ! -e "$left" ]] || fail "the temporary of a killed writer is still there after the next pull: $left"
assert_cache_clean

# The killed image itself imports again, and runs.
run_cocoon pull "$killed"
assert_succeeded "cocoon pull $killed after a killed import"
assert_contains "$OUT" "$killed_digest" "cocoon pull output"
cocoon_images_line "$killed"; line=$CACHED_LINE
[[ -n "$line" ]] || fail "cocoon images does not list $killed after the pull:
$OUT"
run_cocoon run "$killed" cat /etc/cocoon-token
assert_succeeded "cocoon run $killed cat /etc/cocoon-token"
assert_eq "$killed_token" "$OUT" "token inside the re-imported image"
assert_cache_clean

# --- a cache on a full file system ---
install -d -o "$TEST_USER" -m 0700 "$full"
mount -t tmpfs -o "size=1m,mode=0700,uid=$TEST_UID,gid=$(id -g "$TEST_USER")" cocoon-test-full "$full" ||
    fail "cannot mount a tmpfs at $full"

check_full_error() {
    local what=$1 partial
    assert_failed "$what"
    [[ "$RC" != 124 ]] || fail "$what hung"
    assert_contains "$ERR" "No space left on device" "error of $what"
    assert_contains "$ERR" "$full" "error of $what"
    partial=$(find "$full" -mindepth 1 ! -type d ! -name '*lock*')
    [[ -z "$partial" ]] || fail "$what left partial files in $full:
$partial"
}

run_cocoon COCOON_CACHE_DIR="$full" pull "$killed"
check_full_error "cocoon pull into a full cache"
run_cocoon COCOON_CACHE_DIR="$full" images
assert_succeeded "cocoon images on the full cache after a failed pull"

wait_idle
run_user env COCOON_CACHE_DIR="$full" timeout "$COCOON_TIMEOUT" srun "--container=$killed" true
check_full_error "srun --container with a full cache"
assert_cache_clean "$full"
umount "$full" || fail "cannot unmount $full"

install -d -o "$TEST_USER" -m 0755 "$after"
run_cocoon COCOON_CACHE_DIR="$after" pull "$killed"
assert_succeeded "cocoon pull into a cache with room"
assert_cache_clean "$TEST_CACHE" "$after"

cleanup
assert_no_leftovers
assert_node_healthy
pass
