#!/bin/bash
# A command that does not exist in the image fails the task, not the node.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

run_user srun --container="$BUSYBOX_SQSH" /no/such/cmd
assert_failed "srun --container /no/such/cmd"
assert_contains "$ERR" /no/such/cmd "stderr"

assert_no_leftovers
assert_node_healthy
pass
