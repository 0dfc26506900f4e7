#!/bin/bash
# The submitting environment and Slurm's variables reach the task in the container.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

run_user env FOO=bar srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; "'echo $FOO $SLURM_JOB_ID'
assert_succeeded "srun --container sh -c 'echo \$FOO \$SLURM_JOB_ID'"
[[ "$OUT" =~ ^bar\ [0-9]+$ ]] || fail "expected 'bar <jobid>', got '$OUT'"

assert_no_leftovers
assert_node_healthy
pass
