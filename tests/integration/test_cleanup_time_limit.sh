#!/bin/bash
# A containerized step killed at its time limit leaves no process or mount behind and the
# node healthy. Slurm's smallest limit is one minute, so the test moves the running job's
# end time to now instead (scontrol update EndTime=now): slurmctld then ends it through the
# same time-limit path at its next periodic check, within about 30 s.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

wait_idle
trap cancel_user_jobs EXIT
as_user timeout 200 srun --time=10 --container="$BUSYBOX_SQSH" sleep 300 \
    > "$TEST_WORK/out" 2> "$TEST_WORK/err" < /dev/null &
srun_pid=$!
wait_user_process 30 -x sleep > /dev/null || fail "the containerized sleep never started"
job=$(squeue -h -u "$TEST_USER" -o %i | head -1)
[[ -n "$job" ]] || fail "no job of $TEST_USER in squeue while its step runs"
scontrol update JobId="$job" EndTime=now || fail "scontrol could not move job $job's end time"

OUT="" RC=0
wait "$srun_pid" || RC=$?
ERR=$(cat "$TEST_WORK/err")
assert_failed "srun --time=10 sleep 300, its end time moved to now"
[[ "$RC" != 124 ]] || fail "the step outlived its time limit by more than 3 minutes"
assert_contains "$ERR" "TIME LIMIT" "srun's stderr"

assert_no_leftovers
assert_node_healthy
pass
