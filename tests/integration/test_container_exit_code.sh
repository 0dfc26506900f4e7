#!/bin/bash
# The task's exit status reaches srun unchanged.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

assert_rc 7 as_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; exit 7"
wait_idle
assert_rc 0 as_user srun --container="$BUSYBOX_SQSH" true

assert_no_leftovers
assert_node_healthy
pass
