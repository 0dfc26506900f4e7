#!/bin/bash
# Catalogue PB-16 and PB-18 (docs/security.md): what decides what runs is trusted only when
# nobody but the user and root could have changed it, and a refusal fails the step with
# one line naming the path and the rule, never the node.
#   PB-16  a job's image cache (COCOON_CACHE_DIR) in a shared sticky directory that another
#          user created first, one that is group/world-writable, one that is a symbolic
#          link, and one below a directory another user owns: refused, nothing imported
#          there; the same job with a cache of its own works
#   PB-18  the plugin's cocoon.yaml writable by others, and the holder program writable by
#          its group: every containerized step is refused until the admin fixes it
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/catalogue_lib.sh"
require_plugin
require_images
require_oci_fixtures

holder_program=$(find "$COCOON_TEST_DIR/install" -path '*/libexec/cocoon/cocoon-holder' -print -quit)
[[ -n "$holder_program" ]] || skip "no staged cocoon-holder under $COCOON_TEST_DIR/install"
config_mode=$(stat -c %a "$COCOON_YAML")
holder_mode=$(stat -c %a "$holder_program")
other_user=nobody
other_uid=$(id -u "$other_user")
cleanup() {
    cancel_user_jobs
    chmod "$config_mode" "$COCOON_YAML"
    chmod "$holder_mode" "$holder_program"
    catalogue_cleanup
}
trap cleanup EXIT

image="oci:$IMAGES/oci/busybox:latest"

# cache_refused CACHE MESSAGE: a step with COCOON_CACHE_DIR=CACHE fails naming it.
cache_refused() {
    local cache=$1 message=$2
    wait_idle
    run_user env COCOON_CACHE_DIR="$cache" timeout 90 srun --container="$image" true
    [[ "$RC" != 124 ]] || fail "srun with the cache $cache hung"
    assert_failed "srun with the cache $cache"
    assert_contains "$ERR" "cocoon: error: --container=$image: refusing the image cache $cache" \
        "error for the cache $cache"
    assert_contains "$ERR" "$message" "error for the cache $cache"
    assert_eq 1 "$(grep -c '^cocoon: error:' <<<"$ERR")" "cocoon error lines for the cache $cache"
}

# --- PB-16 ------------------------------------------------------------------------------------------
# A scratch area like /scratch/cocoon: root-owned, sticky, writable by all.
scratch=$CATALOGUE_DIR/scratch
install -d -m 1777 "$scratch"

# Another user was first to create the directory the user's cache would use.
install -d -o "$other_user" -m 0777 "$scratch/$TEST_UID"
cache_refused "$scratch/$TEST_UID" "owned by uid $other_uid, not uid $TEST_UID"
[[ -z "$(ls -A "$scratch/$TEST_UID")" ]] || fail "the refused cache was written to: $(ls -A "$scratch/$TEST_UID")"

# The user's own directory, but writable by everybody.
install -d -o "$TEST_USER" -m 0777 "$scratch/open"
cache_refused "$scratch/open" "writable by its group or others"
[[ -z "$(ls -A "$scratch/open")" ]] || fail "the world-writable cache was written to"

# A symbolic link (the user's own) as the cache directory.
install -d -o "$TEST_USER" -m 0700 "$scratch/real"
ln -s "$scratch/real" "$scratch/link"
chown -h "$TEST_USER" "$scratch/link"
cache_refused "$scratch/link" "symbolic link"
[[ -z "$(ls -A "$scratch/real")" ]] || fail "the cache behind the symbolic link was written to"

# The user's directory below one that another user owns (and could swap).
install -d -o "$other_user" -m 0755 "$scratch/theirs"
install -d -o "$TEST_USER" -m 0700 "$scratch/theirs/mine"
cache_refused "$scratch/theirs/mine" "owned by uid $other_uid, so that user could replace"

# The same image with a cache the user created: the refusals above were about the cache.
wait_idle
run_user env COCOON_CACHE_DIR="$scratch/good-$TEST_UID" timeout 90 srun --container="$image" \
    sh -c "$IN_OCI_IMAGE; echo ok"
assert_succeeded "srun with a cache of the user's own"
assert_eq ok "$OUT" "output with a cache of the user's own"
assert_cache_clean "$scratch/good-$TEST_UID"

# --- PB-18 ------------------------------------------------------------------------------------------
step_refused() {
    local message=$1
    wait_idle
    run_user timeout 60 srun --container="$BUSYBOX_SQSH" true
    [[ "$RC" != 124 ]] || fail "srun hung while $2"
    assert_failed "srun while $2"
    assert_contains "$ERR" "cocoon: error: --container=$BUSYBOX_SQSH: $message" "error while $2"
    assert_node_healthy
}
chmod o+w "$COCOON_YAML"
step_refused "configuration $COCOON_YAML must be owned by root and writable only by root" \
    "cocoon.yaml is world-writable"
chmod "$config_mode" "$COCOON_YAML"

chmod g+w "$holder_program"
step_refused "refusing the holder program $holder_program" "the holder program is group-writable"
chmod "$holder_mode" "$holder_program"

# Fixed by the admin: steps run again.
wait_idle
run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; echo again"
assert_succeeded "srun after the admin fixed the modes"
assert_eq again "$OUT" "output after the fix"

cleanup
assert_no_leftovers
assert_node_healthy
pass
