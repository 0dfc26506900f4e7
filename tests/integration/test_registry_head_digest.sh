#!/bin/bash
# A digest from a HEAD answer is verified before the cache trusts it as a key (issue 7,
# finding 8): against tests/harness/fault-registry.py, whose "liedigest" repository
# answers HEAD with a digest that is not its manifest's. The pull works (the manifest GET
# tells the truth), but the cache records no key for the lie, so a later HEAD with that
# digest cannot stand for this image.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

cache=$TEST_WORK/cache-head-digest
cleanup() {
    fault_registry_stop
    rm -rf "$cache"
}
trap cleanup EXIT
rm -rf "$cache"
install -d -o "$TEST_USER" -m 0700 "$cache"
fault_registry_start

ref=$FAULT_REGISTRY/test/liedigest:latest
lie=$(curl -s -I "http://$FAULT_REGISTRY/v2/test/liedigest/manifests/latest" |
      tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
truth=sha256:$(curl -s "http://$FAULT_REGISTRY/v2/test/liedigest/manifests/latest" | sha256sum | cut -d' ' -f1)
[[ "$lie" == sha256:* && "$lie" != "$truth" ]] ||
    fail "the fault registry does not lie as expected (HEAD $lie, manifest $truth)"

run_cocoon COCOON_CACHE_DIR="$cache" pull "$ref"
assert_succeeded "cocoon pull $ref"
assert_contains "$OUT" "$truth" "digest printed by cocoon pull"

# refs/ holds one record per key, named by the sha256 of the key.
arch=$(dpkg --print-architecture)
key_file() {
    printf '%s' "$1|$arch" | sha256sum | cut -d' ' -f1
}
[[ -f "$cache/refs/$(key_file "$ref")" ]] || fail "no record of the name $ref in $cache/refs"
[[ ! -e "$cache/refs/$(key_file "$lie")" ]] ||
    fail "the cache trusted the digest of a HEAD answer ($lie) as a key for $truth"

assert_cache_clean "$cache"
cleanup
assert_no_leftovers
assert_node_healthy
pass
