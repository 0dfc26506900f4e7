#!/bin/bash
# Images from a registry: --container with the image name in every accepted spelling, the
# cache (a second use fetches no blob), the image's Env, and the cocoon pull / images /
# rmi / run commands, with the cache from cocoon.yaml and from COCOON_CACHE_DIR; a cached
# pinned digest, and with tag_check_interval a recently resolved tag, make no request.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

IMAGE=$REGISTRY_OPEN/test/busybox:latest
DIGEST=$(fixture_digest busybox)
[[ "$DIGEST" == sha256:* ]] || fail "no digest for the busybox fixture in $REGISTRY_DIR/fixtures.digests"
mapfile -t BLOBS < <(layout_blobs "$IMAGES/oci/busybox")
override=$TEST_WORK/cache-override
saved_config=$(mktemp)
cp -p "$COCOON_YAML" "$saved_config"
cleanup() { # twice: at the end, and on exit
    if [[ -f "$saved_config" ]]; then
        cat "$saved_config" > "$COCOON_YAML"
        rm -f "$saved_config"
    fi
    rm -rf "$override"
}
trap cleanup EXIT
rm -rf "$override"
install -d -o "$TEST_USER" -m 0755 "$override"

# Start from an image that is not cached, so the first srun imports it: removed by name
# and by digest (another test may have imported the same image as an oci: layout).
run_cocoon rmi "$IMAGE"
run_cocoon rmi "$DIGEST"
# cocoon resolve: the name pinned to the registry's digest; what is not a registry image
# or not in the registry is refused in one line.
run_cocoon resolve "$IMAGE"
assert_succeeded "cocoon resolve $IMAGE"
assert_eq "$IMAGE@$DIGEST" "$OUT" "cocoon resolve $IMAGE"
run_cocoon resolve "$REGISTRY_OPEN/test/busybox:no-such-tag"
assert_one_line_error "cocoon resolve of a tag the registry does not have" "no-such-tag"
run_cocoon resolve "$IMAGES/busybox.sqsh"
assert_one_line_error "cocoon resolve of a squashfs file" "not a registry image"

cocoon_images_line "$IMAGE"; line=$CACHED_LINE
[[ -z "$line" ]] || fail "cocoon rmi $IMAGE did not remove it; cocoon images: $line"

mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_user timeout "$COCOON_TIMEOUT" srun "--container=$IMAGE" cat /etc/os-release
assert_succeeded "srun --container=$IMAGE cat /etc/os-release (first use: import)"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release from $IMAGE"
# (At most once: a cache that keeps layers apart from images may still have them.)
for blob in "${BLOBS[@]}"; do
    n=$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark" "$blob")
    (( n <= 1 )) || fail "blob $blob fetched $n times by one import; requests:
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"
done

# Every later use: the tag is resolved (manifest HEAD/GET), no blob is fetched.
for option in "--container-image=$IMAGE" "--container=docker://$REGISTRY_OPEN/test/busybox" \
              "--container=$REGISTRY_OPEN#test/busybox" "--container=$REGISTRY_OPEN/test/busybox"; do
    wait_idle
    mark=$(log_mark "$REGISTRY_OPEN_LOG")
    run_user timeout "$COCOON_TIMEOUT" srun "$option" cat /etc/os-release
    assert_succeeded "srun $option cat /etc/os-release"
    assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release with $option"
    n=$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark")
    [[ "$n" == 0 ]] || fail "srun $option of a cached image fetched $n blobs; requests:
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"
    n=$(manifest_requests_since "$REGISTRY_OPEN_LOG" "$mark" /test/busybox/)
    (( n >= 1 )) || fail "srun $option did not resolve the tag (no manifest request)"
done

# The image's Env reaches the task (image values win over the job's).
wait_idle
run_user env COCOON_IMAGE_VAR=from-host timeout "$COCOON_TIMEOUT" \
    srun "--container=$IMAGE" sh -c 'echo "${COCOON_IMAGE_VAR-unset}"'
assert_succeeded "srun --container=$IMAGE (COCOON_IMAGE_VAR)"
assert_eq from-image "$OUT" "COCOON_IMAGE_VAR from the image's Env"

# An answer of srun for another step, found in the job's environment (here planted, with a
# digest no registry has), is not this step's: the batch step asks the registry itself.
bogus="sha256:$(printf '0%.0s' {1..64})"
run_batch "--container=$IMAGE" -o "$override/planted.out" \
    "--export=ALL,COCOON_RESOLVED_IMAGE=1.0 $IMAGE@$bogus" --wrap 'cat /etc/os-release; echo "resolved=${COCOON_RESOLVED_IMAGE-unset}"'
assert_eq 0 "$RC" "sbatch --container=$IMAGE with an earlier step's COCOON_RESOLVED_IMAGE (output: $(cat "$override/planted.out" 2>&1))"
assert_contains "$(cat "$override/planted.out")" 'NAME="cocoon-registry-busybox"' "the batch step's os-release"
assert_contains "$(cat "$override/planted.out")" "resolved=unset" "the variable in the batch step's environment"
rm -f "$override/planted.out"

# The command line tool on the same cache.
mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_cocoon pull "$IMAGE"
assert_succeeded "cocoon pull $IMAGE"
assert_contains "$OUT" "$DIGEST" "cocoon pull output (the manifest digest)"
n=$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark")
[[ "$n" == 0 ]] || fail "cocoon pull of a cached image fetched $n blobs"

cocoon_images_line "$IMAGE"; line=$CACHED_LINE
[[ -n "$line" ]] || fail "cocoon images does not list $IMAGE:
$OUT"
assert_contains "$line" "sha256:" "cocoon images line for $IMAGE"

run_cocoon run "$IMAGE" cat /etc/os-release
assert_succeeded "cocoon run $IMAGE cat /etc/os-release"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release from cocoon run $IMAGE"

# COCOON_CACHE_DIR overrides cache_dir, for the command and for jobs (from their
# environment). Each starts empty: every blob is fetched exactly once.
each_blob_once() {
    local what=$1 mark=$2 blob n
    for blob in "${BLOBS[@]}"; do
        n=$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark" "$blob")
        [[ "$n" == 1 ]] || fail "$what fetched blob $blob $n times (expected 1); requests:
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"
    done
}

mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_cocoon COCOON_CACHE_DIR="$override/cli" pull "$IMAGE"
assert_succeeded "COCOON_CACHE_DIR=$override/cli cocoon pull $IMAGE"
assert_contains "$OUT" "$DIGEST" "cocoon pull output with COCOON_CACHE_DIR"
each_blob_once "cocoon pull into the empty cache $override/cli" "$mark"
[[ -n "$(find "$override/cli" -mindepth 1 -print -quit 2>/dev/null)" ]] ||
    fail "COCOON_CACHE_DIR=$override/cli: nothing was written there"
cocoon_images_line "$IMAGE" "$override/cli"; line=$CACHED_LINE
[[ -n "$line" ]] || fail "cocoon images with COCOON_CACHE_DIR=$override/cli does not list $IMAGE"
run_cocoon COCOON_CACHE_DIR="$override/cli" rmi "$IMAGE"
assert_succeeded "COCOON_CACHE_DIR=$override/cli cocoon rmi $IMAGE"
cocoon_images_line "$IMAGE" "$override/cli"; line=$CACHED_LINE
[[ -z "$line" ]] || fail "cocoon images still lists $IMAGE after cocoon rmi: $line"

wait_idle
mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_user env COCOON_CACHE_DIR="$override/job" timeout "$COCOON_TIMEOUT" \
    srun "--container=$IMAGE" cat /etc/os-release
assert_succeeded "COCOON_CACHE_DIR=$override/job srun --container=$IMAGE"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release with COCOON_CACHE_DIR"
each_blob_once "srun with the empty cache COCOON_CACHE_DIR=$override/job" "$mark"
cocoon_images_line "$IMAGE" "$override/job"; line=$CACHED_LINE
[[ -n "$line" ]] || fail "the job's import is not in COCOON_CACHE_DIR=$override/job"

# A cached pinned digest: no request at all (tag_check_interval does not matter).
wait_idle
mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_user timeout "$COCOON_TIMEOUT" srun "--container=$REGISTRY_OPEN/test/busybox@$DIGEST" true
assert_succeeded "srun --container=$REGISTRY_OPEN/test/busybox@$DIGEST (cached)"
n=$(manifest_requests_since "$REGISTRY_OPEN_LOG" "$mark" /test/busybox/)
[[ "$n" == 0 ]] || fail "a cached pinned digest asked the registry $n times:
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"

# tag_check_interval: the tag was resolved on this node a moment ago (the steps above), so
# a step uses the cached image without asking; once its record is older than the interval,
# the next step asks again, and that answer counts from then.
sed -i '/^tag_check_interval:/d' "$COCOON_YAML"
echo "tag_check_interval: 1h" >> "$COCOON_YAML"
wait_idle
mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_user timeout "$COCOON_TIMEOUT" srun "--container=$IMAGE" cat /etc/os-release
assert_succeeded "srun --container=$IMAGE with tag_check_interval: 1h"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release with tag_check_interval"
n=$(manifest_requests_since "$REGISTRY_OPEN_LOG" "$mark" /test/busybox/)
[[ "$n" == 0 ]] || fail "a tag resolved a moment ago was asked for again ($n requests):
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"
record=$(grep -lF "\"key\":\"$IMAGE|" "$TEST_CACHE"/refs/* | head -n1)
[[ -f "$record" ]] || fail "no record of $IMAGE in $TEST_CACHE/refs"
touch -d '2 hours ago' "$record"
wait_idle
mark=$(log_mark "$REGISTRY_OPEN_LOG")
run_user timeout "$COCOON_TIMEOUT" srun "--container=$IMAGE" true
assert_succeeded "srun --container=$IMAGE, its tag resolved 2 hours ago"
n=$(manifest_requests_since "$REGISTRY_OPEN_LOG" "$mark" /test/busybox/)
(( n >= 1 )) || fail "a tag resolved 2 hours ago was not asked for (tag_check_interval: 1h)"
(( $(stat -c %Y "$record") > $(date +%s) - 600 )) ||
    fail "the registry's answer did not renew the record of $IMAGE ($(stat -c %y "$record"))"
cat "$saved_config" > "$COCOON_YAML"

assert_cache_clean "$TEST_CACHE" "$override/cli" "$override/job"
cleanup
assert_no_leftovers
assert_node_healthy
pass
