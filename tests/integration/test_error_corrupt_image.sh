#!/bin/bash
# A file that is not a valid squashfs fails the step, names the image, and leaves no
# half-mounted filesystem behind.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

run_user srun --container="$IMAGES/corrupt.sqsh" true
assert_failed "srun --container=corrupt.sqsh"
assert_contains "$ERR" corrupt.sqsh "stderr"

assert_no_leftovers
assert_node_healthy
pass
