#!/bin/bash
# A task's background child does not outlive the step (catalogue FT-15): with
# proctrack/linuxproc Slurm loses track of it when its task ends, and it would keep the
# container, its mounts and the image alive. The holder ends what is left in the
# container when the step ends.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

trap 'pkill -KILL -u "$TEST_USER" -f "sleep 417" 2>/dev/null; cancel_user_jobs' EXIT

run_user timeout 60 srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; sleep 417 >/dev/null 2>&1 & echo started"
assert_succeeded "srun with a background child"
assert_eq started "$OUT" "output of the task"

# The step is over: within a few seconds the child is gone too.
for ((i = 0; i < 100; i++)); do
    pgrep -u "$TEST_USER" -f 'sleep 417' >/dev/null || break
    sleep 0.1
done
left=$(pgrep -u "$TEST_USER" -f 'sleep 417')
[[ -z "$left" ]] || fail "the task's background child outlived the step: $(ps -o pid,ppid,cmd -p "${left//$'\n'/,}")"

trap - EXIT
assert_no_leftovers
assert_node_healthy
pass
