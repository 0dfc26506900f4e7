#!/bin/bash
# A containerized step killed at its time limit leaves no process or mount behind and the
# node healthy. Slow by nature: the smallest limit is one minute.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

wait_idle
run_user timeout 200 srun --time=1 --container="$BUSYBOX_SQSH" sleep 300
assert_failed "srun --time=1 sleep 300"
[[ "$RC" != 124 ]] || fail "the step outlived its one-minute time limit by more than 2 minutes"
assert_contains "$ERR" "TIME LIMIT" "srun's stderr"

assert_no_leftovers
assert_node_healthy
pass
