#!/bin/bash
# An image the user may not read (0600 root) is refused: root in slurmstepd must not
# open it on the user's behalf. The error names the path.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

image=$IMAGES/unreadable.sqsh
[[ "$(stat -c %a:%U "$image")" == 600:root ]] || fail "$image should be 0600 root"

run_user srun --container="$image" cat /etc/os-release
assert_failed "srun --container=unreadable.sqsh"
assert_not_contains "$OUT" cocoon-test-busybox "stdout"
assert_contains "$ERR" "$image" "stderr"

assert_no_leftovers
assert_node_healthy
pass
