#!/bin/bash
# A registry image on several nodes at once from an empty cache: the nodes share this
# machine's cache directory, so their imports of one image meet on its per-digest lock.
# Every task sees the image, every blob is fetched exactly once, nothing partial or locked
# stays in the cache, and a second multi-node step fetches no blob and asks the registry
# for the tag once (srun does, for all nodes).
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli
require_nodes 3

work=$TEST_WORK/multinode-registry
saved_config=$(cat "$COCOON_YAML")
cleanup() {
    printf '%s\n' "$saved_config" > "$COCOON_YAML"
    [[ -n "$(squeue -h -u "$TEST_USER" -o %i 2>/dev/null)" ]] && cancel_user_jobs
    delete_unique_images
    rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
install -d -o "$TEST_USER" -m 0755 "$work"

# multinode_step CACHE NODES IMAGE [COMMAND...]: srun on NODES nodes, one task each, with
# the image cache CACHE (COCOON_CACHE_DIR reaches the job from the environment).
multinode_step() {
    local cache=$1 nodes=$2 image=$3
    shift 3
    wait_idle
    run_user env COCOON_CACHE_DIR="$cache" timeout "$COCOON_TIMEOUT" \
        srun -p "$MULTI_PARTITION" -N"$nodes" --ntasks-per-node=1 "--container=$image" \
        sh -c 'echo "$SLURMD_NODENAME $(head -n1 /etc/os-release)"; cat /etc/cocoon-token 2>/dev/null; true'
    assert_succeeded "srun -p $MULTI_PARTITION -N$nodes --container=$image (cache $cache)"
    assert_eq "$nodes" "$(grep -c ' NAME="cocoon-registry-busybox"$' <<<"$OUT")" \
        "tasks of -N$nodes that saw the image's os-release; output: $OUT"
    assert_eq "$nodes" "$(grep ' NAME=' <<<"$OUT" | awk '{ print $1 }' | sort -u | wc -l)" \
        "nodes of -N$nodes; output: $OUT"
}

# each_blob_once MARK WHAT BLOB...: every blob fetched exactly once since MARK.
each_blob_once() {
    local mark=$1 what=$2 blob n
    shift 2
    for blob in "$@"; do
        n=$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark" "$blob")
        [[ "$n" == 1 ]] || fail "$what: blob $blob fetched $n times (expected 1); requests:
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"
    done
}

# --- a new image (blobs nobody has) on three nodes, from an empty cache ---
make_unique_image multinode 8
note "image $UNIQUE_REF ($UNIQUE_DIGEST)"
cache=$work/cache-unique
mark=$(log_mark "$REGISTRY_OPEN_LOG")
multinode_step "$cache" 3 "$UNIQUE_REF"
assert_eq 3 "$(grep -cxF "$UNIQUE_TOKEN" <<<"$OUT")" "tasks that saw the image's token; output: $OUT"
each_blob_once "$mark" "srun -N3 of a new image into an empty cache" "${UNIQUE_BLOBS[@]}"
assert_cache_clean "$cache"
cocoon_images_line "$UNIQUE_REF" "$cache"
[[ -n "$CACHED_LINE" ]] || fail "cocoon images does not list $UNIQUE_REF in $cache"

# Cached now: three nodes again, no blob. srun resolved the tag for the step, once: the
# nodes used its answer and asked nothing (they would ask once each).
mark=$(log_mark "$REGISTRY_OPEN_LOG")
multinode_step "$cache" 3 "$UNIQUE_REF"
n=$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark")
[[ "$n" == 0 ]] || fail "srun -N3 of a cached image fetched $n blobs; requests:
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"
n=$(manifest_requests_since "$REGISTRY_OPEN_LOG" "$mark" "/test/multinode/manifests/")
[[ "$n" == 1 ]] || fail "srun -N3 of $UNIQUE_REF by tag asked the registry $n times (expected once, by srun):
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"

# With srun_resolves_tags: false, each node asks.
echo "srun_resolves_tags: false" >> "$COCOON_YAML"
mark=$(log_mark "$REGISTRY_OPEN_LOG")
multinode_step "$cache" 3 "$UNIQUE_REF"
printf '%s\n' "$saved_config" > "$COCOON_YAML"
n=$(manifest_requests_since "$REGISTRY_OPEN_LOG" "$mark" "/test/multinode/manifests/")
[[ "$n" == 3 ]] || fail "srun -N3 of $UNIQUE_REF with srun_resolves_tags: false asked the registry $n times (expected once per node):
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"

# --- the busybox fixture by name on two nodes, from another empty cache ---
IMAGE=$REGISTRY_OPEN/test/busybox:latest
mapfile -t BLOBS < <(layout_blobs "$IMAGES/oci/busybox")
cache=$work/cache-busybox
mark=$(log_mark "$REGISTRY_OPEN_LOG")
multinode_step "$cache" 2 "$IMAGE"
each_blob_once "$mark" "srun -N2 of $IMAGE into an empty cache" "${BLOBS[@]}"
assert_cache_clean "$cache"

cleanup
assert_no_leftovers
assert_node_healthy
pass
