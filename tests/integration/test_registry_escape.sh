#!/bin/bash
# Layers that try to write outside the image root are refused with an error that says so,
# and create nothing anywhere: an entry named ../../x, and a file written through a
# symlink that points outside. Neither leaves an entry in the cache.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

target=/tmp/cocoon-escape-target
cleanup() {
    rm -rf "$target" /tmp/cocoon-dotdot-pwned
}
trap cleanup EXIT
cleanup
# A directory the test user may write to: an importer that follows the symlink would
# succeed in creating $target/pwned, so its absence means the write was refused.
install -d -m 0777 "$target"

check_nothing_written() {
    local found
    [[ ! -e "$target/pwned" ]] || fail "$target/pwned was created through the symlink"
    [[ -z "$(ls -A "$target")" ]] || fail "$target is not empty: $(ls -A "$target")"
    found=$(find /tmp /var/tmp /dev/shm /run "$TEST_HOME" -xdev \
                 \( -name cocoon-dotdot-pwned -o \( -name pwned -user "$TEST_USER" \) \) 2>/dev/null)
    [[ -z "$found" ]] || fail "files written outside the image root:
$found"
}

check_refused() {
    local name=$1 message=$2 image=$REGISTRY_OPEN/test/$1:latest line
    wait_idle
    run_user timeout "$COCOON_TIMEOUT" srun "--container=$image" true
    assert_failed "srun --container=$image"
    [[ "$RC" != 124 ]] || fail "srun --container=$image hung"
    assert_contains "$ERR" "$message" "srun error for the $name image"
    check_nothing_written

    run_cocoon pull "$image"
    assert_failed "cocoon pull $image"
    [[ "$RC" != 124 ]] || fail "cocoon pull $image hung"
    assert_contains "$ERR" "$message" "cocoon pull error for the $name image"
    check_nothing_written

    cocoon_images_line "test/$name"; line=$CACHED_LINE
    [[ -z "$line" ]] || fail "the refused image $image is in the cache: $line"
}

check_refused dotdot "escapes the image root"
check_refused escape "through the symlink"

assert_cache_clean
cleanup
assert_no_leftovers
assert_node_healthy
pass
