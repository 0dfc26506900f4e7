#!/bin/bash
# An image path that does not exist fails the step and names the path.
source "$(dirname "$0")/lib.sh"
require_plugin

run_user srun --container=/nonexistent/img.sqsh true
assert_failed "srun --container=/nonexistent/img.sqsh"
assert_contains "$ERR" /nonexistent/img.sqsh "stderr"

assert_no_leftovers
assert_node_healthy
pass
