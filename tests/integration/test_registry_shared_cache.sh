#!/bin/bash
# A shared cache filled by the admin (cocoon.yaml shared_caches) serves users without a
# download of their own: the user's job fetches no blob and adds nothing to their cache.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

shared=$COCOON_TEST_DIR/shared-cache
grep -q "$shared" "$COCOON_YAML" || skip "$COCOON_YAML does not list $shared in shared_caches"
trap 'delete_unique_images; rm -rf "$shared"' EXIT

make_unique_image shared
rm -rf "$shared"
install -d -m 0755 "$shared"
# The admin fills the shared cache (here as root, its designated importer).
COCOON_CACHE_DIR=$shared timeout "$COCOON_TIMEOUT" "$COCOON" pull -c "$COCOON_YAML" "$UNIQUE_REF" \
    >/dev/null 2>&1 || fail "root could not pull $UNIQUE_REF into $shared"

own=$COCOON_TEST_DIR/cache/$TEST_UID
mark=$(log_mark "$REGISTRY_OPEN_LOG")
wait_idle
run_user srun --container="$UNIQUE_REF" cat /etc/os-release
assert_succeeded "srun --container=$UNIQUE_REF"
assert_contains "$OUT" cocoon "os-release of the shared image"
assert_eq 0 "$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark")" "blob downloads by the user's job"
cocoon_images_line "test/shared:$UNIQUE_TOKEN" "$own"
[[ -z "$CACHED_LINE" ]] || fail "the user's own cache got a copy: $CACHED_LINE"

assert_cache_clean "$own"
assert_no_leftovers
assert_node_healthy
pass
