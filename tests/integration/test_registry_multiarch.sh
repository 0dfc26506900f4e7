#!/bin/bash
# An image index with linux/arm64 listed before linux/amd64: an x86_64 node gets the amd64
# image and never fetches a blob of the arm64 one.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry

[[ "$(uname -m)" == x86_64 ]] || skip "the multiarch fixture expects an x86_64 node, this is $(uname -m)"

IMAGE=$REGISTRY_OPEN/test/multiarch:latest
mapfile -t arm_blobs < <(layout_blobs "$IMAGES/oci/multiarch" "$(fixture_digest multiarch/arm64)")
(( ${#arm_blobs[@]} >= 2 )) || fail "cannot read the arm64 image of $IMAGES/oci/multiarch"

mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_user timeout "$COCOON_TIMEOUT" srun "--container=$IMAGE" cat /etc/os-release
assert_succeeded "srun --container=$IMAGE cat /etc/os-release"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release of the amd64 image"
assert_not_contains "$OUT" arm64 "os-release on an x86_64 node"
for blob in "${arm_blobs[@]}"; do
    n=$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark" "$blob")
    [[ "$n" == 0 ]] || fail "blob $blob of the arm64 image was fetched $n times"
done

if [[ -x "$COCOON" ]]; then
    amd64=$(fixture_digest multiarch/amd64)
    run_cocoon pull "$IMAGE"
    assert_succeeded "cocoon pull $IMAGE"
    assert_contains "$OUT" sha256: "cocoon pull output"
    assert_not_contains "$OUT" "$(fixture_digest multiarch/arm64)" "cocoon pull output"
    # The amd64 manifest is the busybox image's: the cache may list it under either name,
    # by its (possibly shortened) digest.
    cocoon_images_line "${amd64:0:19}"; line=$CACHED_LINE
    [[ -n "$line" ]] || fail "cocoon images does not list the amd64 image ${amd64:0:19}:
$OUT"
fi

assert_cache_clean
assert_no_leftovers
assert_node_healthy
pass
