#!/bin/bash
# The import is a pipeline (issue 10, item 4): layers download top layer first, up to three
# at once, and the merge and tar2sqfs start on the upper layers while the lower ones still
# download. Against tests/harness/fault-registry.py:
# - latebottom: a good layer on top, the image's own layer 5 s late. tar2sqfs is already
#   writing the squashfs while that layer has not arrived; the image then holds both.
# - latetop: the same layer on top, 5 s late: the layers below it download meanwhile, each
#   over its own connection.
# - hostiletop: a top layer with an entry that escapes the root, the image's own layers
#   coming at 8 KiB/s (two minutes). The merge refuses the top layer at once, and the
#   downloads below it stop, not finish: one error line in seconds, nothing in the cache.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

cache=$TEST_WORK/cache-pipeline
out=$TEST_WORK/pipeline.out
err=$TEST_WORK/pipeline.err
cleanup() {
    fault_registry_stop
    rm -rf "$cache" "$out" "$err"
}
trap cleanup EXIT
empty_cache() {
    rm -rf "$cache"
    install -d -o "$TEST_USER" -m 0700 "$cache"
}
empty_cache

# check_top_layer REF [FILE...]: the image of REF, pulled into $cache, holds the file of the
# layer the fault registry put on top (and FILEs are shown in $OUT); then the cache is
# emptied for the next case.
check_top_layer() {
    local ref=$1
    shift
    run_cocoon COCOON_CACHE_DIR="$cache" run "$ref" cat /late-top/marker "$@"
    assert_succeeded "cocoon run $ref"
    assert_contains "$OUT" "a layer on top: late-top/marker" "the top layer's file in $ref"
    assert_cache_clean "$cache"
    empty_cache
}
fault_registry_start
# The busybox image the fault registry serves: its configuration and its layers.
mapfile -t own < <(layout_blobs "$IMAGES/oci/busybox")
(( ${#own[@]} >= 2 )) || fail "unexpected blobs in $IMAGES/oci/busybox: ${own[*]}"

# --- latebottom: the squashfs is being written before the bottom layer arrives ---------------
ref=$FAULT_REGISTRY/test/latebottom:latest
mark=$(log_mark "$FAULT_REGISTRY_LOG")
as_user env COCOON_CACHE_DIR="$cache" timeout "$COCOON_TIMEOUT" \
    "$COCOON" pull -c "$COCOON_YAML" "$ref" >"$out" 2>"$err" &
pull=$!
# tar2sqfs of this pull (its output lies in $cache), seen while the fault registry has not yet
# logged the late layer as sent (checked after seeing it: it was not sent then either).
early=""
for ((i = 0; i < 200; i++)); do
    if pgrep -u "$TEST_USER" -f "tar2sqfs .*$cache/" >/dev/null; then
        log_since "$FAULT_REGISTRY_LOG" "$mark" | grep -q "^sent .*(latebottom," || early=yes
        break
    fi
    kill -0 "$pull" 2>/dev/null || break
    sleep 0.1
done
wait "$pull" && rc=0 || rc=$?
[[ "$rc" == 0 ]] || fail "cocoon pull $ref failed (rc $rc): $(cat "$err")"
sent=$(fault_sent_lines "$mark" latebottom)
assert_contains "$sent" "sent all" "the late layer's transfer"
[[ "$early" == yes ]] ||
    fail "tar2sqfs did not run before the late bottom layer arrived (fault registry: $sent)"
note "tar2sqfs ran while the bottom layer was still on its way: $sent"
check_top_layer "$ref" /etc/os-release
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "the image's own os-release"

# --- latetop: the layers download side by side -----------------------------------------------
# The top layer is held back 5 s; the bottom layer is asked for meanwhile, not after it.
ref=$FAULT_REGISTRY/test/latetop:latest
mark=$(log_mark "$FAULT_REGISTRY_LOG")
run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
assert_succeeded "cocoon pull $ref"
order=$(log_since "$FAULT_REGISTRY_LOG" "$mark" |
    grep -E "^GET /v2/test/latetop/blobs/${own[1]} |^sent .*\(latetop,")
[[ "$(head -n 1 <<<"$order")" == "GET /v2/test/latetop/blobs/${own[1]}"* ]] ||
    fail "the bottom layer was not asked for while the top layer was on its way: $order"
note "the bottom layer was asked for while the top layer came: $(tr '\n' ' ' <<<"$order")"
check_top_layer "$ref"

# --- hostiletop: the merge refuses the top layer, the slow download below is cut off -------
ref=$FAULT_REGISTRY/test/hostiletop:latest
mark=$(log_mark "$FAULT_REGISTRY_LOG")
run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
assert_failed "cocoon pull $ref"
[[ "$RC" != 124 ]] || fail "cocoon pull $ref waited for the slow layer (killed after $COCOON_TIMEOUT s)"
assert_contains "$ERR" "entry '../escape' escapes the image root" "error of cocoon pull $ref"
[[ "$(grep -ci error <<<"$ERR")" == 1 ]] || fail "cocoon pull $ref: not one error line:
$ERR"
# Finishing the bottom layer would have taken two minutes, past the timeout above. The
# downloads stopped before it was asked for, or while it came: then the server logs the
# closed connection on its next write.
if log_since "$FAULT_REGISTRY_LOG" "$mark" | grep -q "^GET /v2/test/hostiletop/blobs/${own[1]} "; then
    for ((i = 0; i < 50; i++)); do
        sent=$(log_since "$FAULT_REGISTRY_LOG" "$mark" | grep -F "sent" | grep -F "of ${own[1]} ")
        [[ -n "$sent" ]] && break
        sleep 0.1
    done
    assert_contains "$sent" "the client closed the connection" "the slow bottom layer's transfer"
    note "the download of the bottom layer stopped: $sent"
else
    note "the downloads stopped before the bottom layer was asked for"
fi
junk=$(find "$cache/images" "$cache/tmp" -mindepth 1 2>/dev/null)
[[ -z "$junk" ]] || fail "cocoon pull $ref left files in the cache:
$junk"
assert_cache_clean "$cache"
assert_no_leftovers
assert_node_healthy
pass
