#!/bin/bash
# Registry errors are clear and quick: a missing tag says "not found" and names the image;
# a registry that is down is named and nothing hangs; an image already in the cache still
# runs while its registry is down (offline nodes).
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

IMAGE=$REGISTRY_OPEN/test/busybox:latest
MISSING=$REGISTRY_OPEN/test/nope:latest
empty=$TEST_WORK/cache-errors
cleanup() {
    _registry_answers "$REGISTRY_OPEN" || "$REGISTRY_SH" start open >/dev/null 2>&1
    rm -rf "$empty"
}
trap cleanup EXIT
rm -rf "$empty"
install -d -o "$TEST_USER" -m 0755 "$empty"

# --- a tag that does not exist ---
run_cocoon pull "$MISSING"
assert_failed "cocoon pull $MISSING"
[[ "$RC" != 124 ]] || fail "cocoon pull $MISSING hung"
grep -qi "not found" <<<"$ERR" || fail "cocoon pull $MISSING: error does not say 'not found': $ERR"
assert_contains "$ERR" "test/nope" "cocoon pull $MISSING error"

run_user timeout "$COCOON_TIMEOUT" srun "--container=$MISSING" true
assert_failed "srun --container=$MISSING"
[[ "$RC" != 124 ]] || fail "srun --container=$MISSING hung"
grep -qi "not found" <<<"$ERR" || fail "srun --container=$MISSING: error does not say 'not found': $ERR"
assert_contains "$ERR" "test/nope" "srun --container=$MISSING error"
cocoon_images_line test/nope; line=$CACHED_LINE
[[ -z "$line" ]] || fail "cocoon images lists the missing image: $line"

# --- the registry is down ---
# The image is first cached under another name (its oci: layout: the same digest), so the
# pull below finds it by digest without importing; the tag must be remembered all the same.
run_cocoon rmi "$IMAGE"
run_cocoon rmi "$(fixture_digest busybox)"
run_cocoon run "oci:$IMAGES/oci/busybox:latest" true
assert_succeeded "cocoon run oci:$IMAGES/oci/busybox:latest true"
run_cocoon pull "$IMAGE"
assert_succeeded "cocoon pull $IMAGE (before stopping the registry)"
registry_stop_open

start=$SECONDS
run_user env COCOON_CACHE_DIR="$empty" timeout 60 "$COCOON" pull -c "$COCOON_YAML" "$IMAGE"
assert_failed "cocoon pull $IMAGE with the registry down"
[[ "$RC" != 124 ]] || fail "cocoon pull $IMAGE with the registry down hung for 60 s"
assert_contains "$ERR" "$REGISTRY_OPEN" "cocoon pull error with the registry down"
note "cocoon pull with the registry down failed after $((SECONDS - start)) s: $ERR"

wait_idle
start=$SECONDS
run_user env COCOON_CACHE_DIR="$empty" timeout 60 srun "--container=$IMAGE" true
assert_failed "srun --container=$IMAGE with the registry down and an empty cache"
[[ "$RC" != 124 ]] || fail "srun --container=$IMAGE with the registry down hung for 60 s"
assert_contains "$ERR" "$REGISTRY_OPEN" "srun error with the registry down"
note "srun with the registry down failed after $((SECONDS - start)) s"

# The cached image still runs: the tag cannot be resolved, the cache has it.
wait_idle
run_user timeout 60 srun "--container=$IMAGE" cat /etc/os-release
assert_succeeded "srun --container=$IMAGE (cached) with the registry down"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release of the cached image"

registry_start_open
run_cocoon COCOON_CACHE_DIR="$empty" pull "$IMAGE"
assert_succeeded "cocoon pull $IMAGE after the registry is back"

assert_cache_clean "$TEST_CACHE" "$empty"
cleanup
assert_no_leftovers
assert_node_healthy
pass
