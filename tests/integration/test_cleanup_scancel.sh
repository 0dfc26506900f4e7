#!/bin/bash
# Cancelling a running containerized job leaves nothing behind.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

as_user srun --container="$BUSYBOX_SQSH" sleep 300 >/dev/null 2>&1 &
srun_pid=$!
trap 'kill "$srun_pid" 2>/dev/null; cancel_user_jobs' EXIT

task_pid=$(wait_user_process 20 -f '^[^ ]*sleep 300$') ||
    fail "the containerized 'sleep 300' task did not start within 20 s"
task_pid=$(head -n1 <<<"$task_pid")
# The image is a FUSE mount owned by the container's user namespace, which the kernel hides
# from processes outside it (root on the host included): look at the task's mount table
# (the image itself, or the writable overlay over it) and mount namespace.
[[ "$(readlink "/proc/$task_pid/ns/mnt")" != "$(readlink /proc/1/ns/mnt)" ]] &&
    grep -Eq ' - (fuse\.squashfuse|overlay overlay .*lowerdir=)' "/proc/$task_pid/mountinfo" ||
    fail "task $task_pid does not run inside the test image"
job=$(squeue -h -u "$TEST_USER" -o %i | head -n1)
[[ -n "$job" ]] || fail "no job of $TEST_USER in squeue"

as_user scancel "$job" || fail "scancel $job failed"
for ((i = 0; i < 150; i++)); do
    kill -0 "$srun_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$srun_pid" 2>/dev/null && fail "srun still running 15 s after scancel"
wait "$srun_pid"
rc=$?
[[ "$rc" != 0 ]] || fail "srun of a cancelled job exited 0"
trap - EXIT

assert_no_leftovers
assert_node_healthy
pass
