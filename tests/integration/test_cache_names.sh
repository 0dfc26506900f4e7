#!/bin/bash
# An image in the cache has every name it was used by. Imported from an OCI layout, then
# used by a registry name whose manifest has the same digest: cocoon images lists both
# names, the registry name runs offline, and cocoon rmi of one name keeps the other; the
# image goes with its last name, or at once by digest.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

REG_NAME=$REGISTRY_OPEN/test/busybox:latest
OCI_NAME=oci:$IMAGES/oci/busybox:latest
cache=$TEST_WORK/cache-names
cleanup() {
    _registry_answers "$REGISTRY_OPEN" || "$REGISTRY_SH" start open >/dev/null 2>&1
    rm -rf "$cache"
}
trap cleanup EXIT
rm -rf "$cache"

DIGEST=$(fixture_digest busybox)
layout_digest=$(python3 "$MAKE_OCI" digest "$IMAGES/oci/busybox")
[[ "$DIGEST" == "$layout_digest" ]] ||
    fail "fixtures differ: registry busybox is $DIGEST, the OCI layout holds $layout_digest"
sqsh=$cache/images/${DIGEST#sha256:}.sqsh

# names_of DIGEST: the names `cocoon images` lists for it, one per line, sorted.
names_of() {
    run_cocoon COCOON_CACHE_DIR="$cache" images
    assert_succeeded "cocoon images"
    awk -v d="${1:0:19}" '$2 == d { print $1 }' <<<"$OUT" | sort
}

run_cocoon COCOON_CACHE_DIR="$cache" pull "$OCI_NAME"
assert_succeeded "cocoon pull $OCI_NAME"
[[ -f "$sqsh" ]] || fail "cocoon pull $OCI_NAME did not put the image at $sqsh"

# The registry name resolves to the digest already in the cache: no download, a new name.
wait_idle
mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_user env COCOON_CACHE_DIR="$cache" timeout "$COCOON_TIMEOUT" \
    srun "--container=$REG_NAME" cat /etc/os-release
assert_succeeded "srun --container=$REG_NAME (digest already cached as $OCI_NAME)"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release"
assert_eq 0 "$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark")" "blobs fetched for a cached digest"
assert_eq "$(printf '%s\n' "$REG_NAME" "$OCI_NAME" | sort)" "$(names_of "$DIGEST")" \
    "names of $DIGEST in cocoon images"

# The new name works offline.
registry_stop_open
wait_idle
run_user env COCOON_CACHE_DIR="$cache" timeout 60 srun "--container=$REG_NAME" cat /etc/os-release
assert_succeeded "srun --container=$REG_NAME with the registry down"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release offline"
run_cocoon COCOON_CACHE_DIR="$cache" run "$REG_NAME" true
assert_succeeded "cocoon run $REG_NAME with the registry down"
registry_start_open

# rmi of one name keeps the image for the other.
run_cocoon COCOON_CACHE_DIR="$cache" rmi "$REG_NAME"
assert_succeeded "cocoon rmi $REG_NAME"
assert_eq "$OCI_NAME" "$(names_of "$DIGEST")" "names after cocoon rmi $REG_NAME"
[[ -f "$sqsh" ]] || fail "cocoon rmi $REG_NAME removed the image that $OCI_NAME still names"
run_cocoon COCOON_CACHE_DIR="$cache" rmi "$REG_NAME"
assert_failed "a second cocoon rmi $REG_NAME"
assert_contains "$ERR" "$REG_NAME is not in the image cache" "second rmi error"

# The last name takes the image.
run_cocoon COCOON_CACHE_DIR="$cache" rmi "$OCI_NAME"
assert_succeeded "cocoon rmi $OCI_NAME"
[[ ! -e "$sqsh" ]] || fail "the image stayed after its last name was removed"
assert_eq "" "$(names_of "$DIGEST")" "names after removing the last"

# By digest: the image and all its names at once.
run_cocoon COCOON_CACHE_DIR="$cache" pull "$OCI_NAME"
assert_succeeded "cocoon pull $OCI_NAME (again)"
run_cocoon COCOON_CACHE_DIR="$cache" pull "$REG_NAME"
assert_succeeded "cocoon pull $REG_NAME (again)"
assert_eq 2 "$(names_of "$DIGEST" | wc -l)" "names before cocoon rmi DIGEST"
run_cocoon COCOON_CACHE_DIR="$cache" rmi "$DIGEST"
assert_succeeded "cocoon rmi $DIGEST"
[[ ! -e "$sqsh" ]] || fail "cocoon rmi $DIGEST left the image"
assert_eq "" "$(names_of "$DIGEST")" "names after cocoon rmi $DIGEST"
leftover=$(find "$cache/refs" -type f | head -n 3)
[[ -z "$leftover" ]] || fail "records left after cocoon rmi $DIGEST: $leftover"

assert_cache_clean "$cache"
cleanup
assert_no_leftovers
assert_node_healthy
pass
