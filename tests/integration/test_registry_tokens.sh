#!/bin/bash
# Kept registry tokens: against a registry with token authentication (as Docker Hub's:
# tests/harness/fault-registry.py's "bearer" repository), a step by tag whose image is
# cached asks the registry once, with the token an earlier step obtained, instead of three
# times (HEAD, 401, the token service, HEAD again). The token is kept in the user's cache,
# readable by the user alone; one that has expired, or that the registry no longer takes,
# is replaced by a new one and the step works as before. cocoon resolve (srun's, for a
# step on several nodes) keeps and uses them the same way.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

cleanup() {
    fault_registry_stop
    rm -rf "$TEST_CACHE/tokens"
}
trap cleanup EXIT
rm -rf "$TEST_CACHE/tokens"
fault_registry_start

ref=$FAULT_REGISTRY/test/bearer:latest
step() { # REF: one step by tag; the registry's log lines it caused in $LINES
    local mark
    mark=$(log_mark "$FAULT_REGISTRY_LOG")
    run_user srun --container="$1" sh -c "grep -q '^ID=cocoon-registry\$' /etc/os-release && echo in-image"
    assert_succeeded "srun --container=$1"
    assert_contains "$OUT" in-image "the step's output"
    LINES=$(log_since "$FAULT_REGISTRY_LOG" "$mark")
}
count() { grep -c -- "$1" <<<"$LINES" || true; }

# The first step imports the image; the token it obtained stays for the next.
step "$ref"
[[ "$(count '^GET /token')" -ge 1 ]] || fail "the first step asked no token service:
$LINES"
tokens=$TEST_CACHE/tokens
[[ -d "$tokens" ]] || fail "no kept tokens in $tokens"
assert_eq "700 $TEST_USER" "$(stat -c '%a %U' "$tokens")" "mode and owner of $tokens"
files=$(find "$tokens" -type f -printf '%m %u %f\n')
assert_eq 1 "$(wc -l <<<"$files")" "kept tokens after one step ($files)"
[[ "$files" =~ ^600\ $TEST_USER\ [0-9a-f]{64}$ ]] || fail "a kept token readable by others: '$files'"

# The cached image by tag: one HEAD, with the kept token.
step "$ref"
assert_eq "HEAD /v2/test/bearer/manifests/latest fault=bearer" "$LINES" \
    "the registry's requests for a cached image by tag with a kept token"

# A token the registry no longer takes (it forgot its tokens: restarted; its image's digest
# is new too): refused once, replaced, and the step works.
fault_registry_stop
fault_registry_start
step "$ref"
[[ "$(count '^HEAD /v2/test/bearer/manifests/latest fault=bearer 401$')" == 1 &&
   "$(count '^GET /token')" == 1 ]] ||
    fail "a refused kept token: expected one 401 and one new token, got:
$LINES"
step "$ref"
assert_eq "HEAD /v2/test/bearer/manifests/latest fault=bearer" "$LINES" \
    "the step after the token was replaced"

# cocoon resolve, which srun runs for a step on several nodes, keeps and sends them too.
rm -rf "$tokens"
resolve() {
    local mark
    mark=$(log_mark "$FAULT_REGISTRY_LOG")
    run_cocoon resolve "$ref"
    assert_succeeded "cocoon resolve $ref"
    [[ "$OUT" == "$ref@sha256:"* ]] || fail "cocoon resolve $ref printed '$OUT'"
    LINES=$(log_since "$FAULT_REGISTRY_LOG" "$mark")
}
resolve
assert_eq 3 "$(wc -l <<<"$LINES")" "requests of cocoon resolve without a kept token ($LINES)"
resolve
assert_eq "HEAD /v2/test/bearer/manifests/latest fault=bearer" "$LINES" \
    "the requests of cocoon resolve with the token it kept"

# Tokens good for 2 s are not kept (too short to reach the registry with): every step asks
# for one, as without kept tokens.
short=$FAULT_REGISTRY/test/bearershort:latest
step "$short"
step "$short"
assert_eq 3 "$(wc -l <<<"$LINES")" "requests of a step whose tokens are short-lived ($LINES)"
assert_eq 1 "$(count '^GET /token')" "token requests of that step"

assert_cache_clean "$TEST_CACHE"
cleanup
trap - EXIT
assert_no_leftovers
assert_node_healthy
pass
