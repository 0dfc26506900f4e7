#!/bin/bash
# The task starts in the submit directory; what it writes there lands on the host,
# owned by the user. Home is visible. /tmp inside the container is private.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

rm -f "$TEST_WORK/out.txt"
marker=home-marker-$$
printf '%s\n' "$marker" > "$TEST_HOME/.cocoon-test-home"
chown "$TEST_USER" "$TEST_HOME/.cocoon-test-home"

run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; "'pwd; echo x > out.txt; cat "$HOME/.cocoon-test-home"'
assert_succeeded "srun --container writing out.txt"
assert_contains "$OUT" "$TEST_WORK" "working directory inside the container"
assert_contains "$OUT" "$marker" "home directory file read inside the container"
[[ -f "$TEST_WORK/out.txt" ]] || fail "out.txt written in the container is not in $TEST_WORK on the host"
assert_eq x "$(cat "$TEST_WORK/out.txt")" "content of out.txt"
assert_eq "$TEST_USER" "$(stat -c %U "$TEST_WORK/out.txt")" "owner of out.txt"
rm -f "$TEST_WORK/out.txt" "$TEST_HOME/.cocoon-test-home"

wait_idle
probe=private-tmp-probe-$$
rm -f "/tmp/$probe"
run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; echo y > /tmp/$probe && cat /tmp/$probe"
assert_succeeded "srun --container writing to /tmp"
assert_eq y "$OUT" "file in container /tmp"
if [[ -e "/tmp/$probe" ]]; then
    rm -f "/tmp/$probe"
    fail "a file created in the container's /tmp appeared in the host's /tmp"
fi

assert_no_leftovers
assert_node_healthy
pass
