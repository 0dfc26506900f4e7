#!/bin/bash
# Limits on hostile registries and images (issue 7, finding 6 and the JSON part of 2),
# against tests/harness/fault-registry.py: a blob larger than its manifest says, a transfer
# that stalls and one that is too slow, a manifest without sizes, a manifest and an image
# configuration nested 100,000 levels deep, and images beyond the caps of cocoon.yaml.
# Each one fails quickly with one error line that names the image and the limit, from
# `cocoon pull` and, for some, from srun (the plugin's path); nothing stays in the cache
# and the node stays healthy.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

cache=$TEST_WORK/cache-limits
configs=()
cleanup() {
    fault_registry_stop
    rm -rf "$cache"
    rm -f "${configs[@]}"
}
trap cleanup EXIT
rm -rf "$cache"
install -d -o "$TEST_USER" -m 0700 "$cache"

# limits_config NAME KEY: VALUE...: the test cluster's cocoon.yaml with these keys added;
# sets CONFIG to its path.
limits_config() {
    CONFIG=$COCOON_TEST_DIR/etc/cocoon-limits-$1.yaml
    shift
    { cat "$COCOON_YAML"; printf '%s\n' "$@"; } >"$CONFIG"
    chmod 0644 "$CONFIG"
    configs+=("$CONFIG")
}

# check_refused WHAT REF TEXT...: the last command (run_user) failed in time with an error
# line that names REF and each TEXT (`cocoon` writes exactly one; srun adds its own lines),
# and the cache holds nothing of it.
check_refused() {
    local what=$1 ref=$2 junk
    shift 2
    assert_failed "$what"
    [[ "$RC" != 124 ]] || fail "$what hung (killed after $COCOON_TIMEOUT s)"
    line=$(grep -F -- "$ref" <<<"$ERR" | grep -i error | tail -n 1)
    [[ -n "$line" ]] || fail "$what: no error line names $ref:
$ERR"
    for text in "$@"; do
        assert_contains "$line" "$text" "error of $what"
    done
    if [[ "$what" == cocoon* && "$(grep -ci error <<<"$ERR")" != 1 ]]; then
        fail "$what: not one error line:
$ERR"
    fi
    junk=$(find "$cache/images" "$cache/tmp" -mindepth 1 2>/dev/null)
    [[ -z "$junk" ]] || fail "$what left files in the cache:
$junk"
    assert_cache_clean "$cache"
    note "$what: $line"
}

fault_registry_start

# --- a layer larger than its manifest declares: stopped at once, not retried ---
ref=$FAULT_REGISTRY/test/oversize:latest
mark=$(log_mark "$FAULT_REGISTRY_LOG")
run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
check_refused "cocoon pull $ref" "$ref" "larger than the manifest declares" "bytes received" \
    "declared; refusing it"
sent=$(fault_sent_lines "$mark" oversize)
note "fault registry: $sent"
# Layers download side by side, so both of the image's layers may have been asked for:
# each once, each cut off.
requests=$(sed -nE 's/^sent [0-9]+ bytes of (sha256:[0-9a-f]+) .*/\1/p' <<<"$sent" | sort | uniq -c |
    awk '{ print $1 }' | sort -u)
[[ "$requests" == 1 ]] || fail "an oversized layer was not requested exactly once:
$sent"
if grep -qv "the client closed the connection" <<<"$sent"; then
    fail "an oversized layer was not cut off: $sent"
fi
for bytes in $(sed -E 's/^sent ([0-9]+) .*/\1/' <<<"$sent"); do
    (( bytes < 64 << 20 )) || fail "cocoon read $bytes bytes of an oversized layer before it stopped"
done

wait_idle
run_user env COCOON_CACHE_DIR="$cache" timeout "$COCOON_TIMEOUT" srun "--container=$ref" true
check_refused "srun --container=$ref" "$ref" "larger than the manifest declares"
assert_node_healthy

# --- a manifest without the sizes of its layers ---
ref=$FAULT_REGISTRY/test/nosize:latest
run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
check_refused "cocoon pull $ref" "$ref" "has no size in the manifest"

# --- JSON nested 100,000 levels deep: refused, no crash (before, slurmstepd overflowed
# its stack parsing such an image configuration) ---
for fault in deepmanifest deepconfig; do
    ref=$FAULT_REGISTRY/test/$fault:latest
    wait_idle
    run_user env COCOON_CACHE_DIR="$cache" timeout "$COCOON_TIMEOUT" srun "--container=$ref" true
    check_refused "srun --container=$ref" "$ref" "nests arrays and objects deeper than 64 levels"
    assert_node_healthy
done
assert_contains "$line" "the image configuration nests" "error of the deep configuration"
run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
check_refused "cocoon pull $ref" "$ref" "the image configuration nests arrays and objects deeper than 64"

# --- a transfer that stalls: given up after transfer_stall_timeout (retried like any
# network error, then reported) ---
limits_config stall "transfer_stall_timeout: 2"
ref=$FAULT_REGISTRY/test/stall:latest
mark=$(log_mark "$FAULT_REGISTRY_LOG")
COCOON_YAML=$CONFIG run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
check_refused "cocoon pull $ref with transfer_stall_timeout: 2" "$ref" "stalled" \
    "transfer_stall_timeout (2 s)"
note "fault registry: $(fault_sent_lines "$mark" stall | tr '\n' ' ')"

# --- a transfer that is never stalled but takes too long: transfer_timeout, not retried ---
limits_config slow "transfer_timeout: 3s"
ref=$FAULT_REGISTRY/test/slow:latest
mark=$(log_mark "$FAULT_REGISTRY_LOG")
COCOON_YAML=$CONFIG run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
check_refused "cocoon pull $ref with transfer_timeout: 3s" "$ref" "transfer_timeout (3 s)" \
    "raise it in cocoon.yaml"
# The image's small top layer arrives whole; the bottom one is cut off at the timeout, and
# not asked for again. The server logs the cut when its next write fails.
for ((i = 0; i < 50; i++)); do
    sent=$(fault_sent_lines "$mark" slow)
    grep -q "the client closed the connection" <<<"$sent" && break
    sleep 0.1
done
cut=$(grep -v ": sent all$" <<<"$sent" || true)
[[ $(grep -c . <<<"$cut") == 1 ]] || fail "the slow layer was not requested exactly once:
$sent"

# --- a registry that keeps answering 503: tried again transfer_retries times, then the
# status is reported (the suite's cocoon.yaml says 1; 0 means one request only) ---
ref=$FAULT_REGISTRY/test/busy:latest
for retries in 1 0; do
    limits_config "retries$retries" "transfer_retries: $retries"
    mark=$(log_mark "$FAULT_REGISTRY_LOG")
    COCOON_YAML=$CONFIG run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
    check_refused "cocoon pull $ref with transfer_retries: $retries" "$ref" \
        "registry $FAULT_REGISTRY answered 503"
    # Each layer asked for (they download side by side) is asked for retries + 1 times, and
    # the first that fails ends the import.
    refusals=$(tail -n +"$((mark + 1))" "$FAULT_REGISTRY_LOG" | sed -nE 's/^answered 503 for (sha256:[0-9a-f]+) .*/\1/p' |
        sort | uniq -c | awk '{ print $1 }' | sort -u)
    [[ "$refusals" == $((retries + 1)) ]] ||
        fail "transfer_retries: $retries: layers answered 503 $(tr '\n' ' ' <<<"$refusals")times each instead of $((retries + 1))"
done

# --- the caps on what an image's layers hold (the busybox image: ~400 entries, ~2 MB) ---
ref=$FAULT_REGISTRY/test/good:latest
for cap in "image_max_entries: 10|image exceeds image_max_entries (10)" \
           "image_max_size: 1K|image exceeds image_max_size (1024)" \
           "image_max_path_length: 5|image exceeds image_max_path_length (5)"; do
    setting=${cap%%|*} expected=${cap#*|}
    limits_config "${setting%%:*}" "$setting"
    COCOON_YAML=$CONFIG run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
    check_refused "cocoon pull $ref with $setting" "$ref" "$expected" "raise it in cocoon.yaml"
done

# The same image, within the defaults: the server itself is sound, so the refusals above
# came from the faults.
run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
assert_succeeded "cocoon pull $ref"
run_cocoon COCOON_CACHE_DIR="$cache" run "$ref" cat /etc/os-release
assert_succeeded "cocoon run $ref cat /etc/os-release"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release of $ref"
assert_cache_clean "$cache"

cleanup
assert_no_leftovers
assert_node_healthy
pass
