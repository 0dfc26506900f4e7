#!/bin/bash
# All tasks of a step on a node share one container (one mount namespace), and it is
# not the host's: with 2 tasks, and with 64 on one node (--overcommit: the test node has
# fewer CPUs), the join that bench/run-all.sh times per task.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

run_user srun readlink /proc/self/ns/mnt
assert_succeeded "plain srun readlink /proc/self/ns/mnt"
host_ns=$OUT

wait_idle
run_user srun -n 2 --container="$BUSYBOX_SQSH" readlink /proc/self/ns/mnt
assert_succeeded "srun -n 2 --container readlink /proc/self/ns/mnt"
mapfile -t lines <<<"$OUT"
assert_eq 2 "${#lines[@]}" "number of output lines"
assert_eq "${lines[0]}" "${lines[1]}" "mount namespace of task 1 vs task 0"
[[ "${lines[0]}" == mnt:* ]] || fail "unexpected readlink output: ${lines[0]}"
[[ "${lines[0]}" != "$host_ns" ]] || fail "tasks run in the host mount namespace ($host_ns)"

wait_idle
run_user srun -n 64 --overcommit --container="$BUSYBOX_SQSH" readlink /proc/self/ns/mnt
assert_succeeded "srun -n 64 --overcommit --container readlink /proc/self/ns/mnt"
mapfile -t lines <<<"$OUT"
assert_eq 64 "${#lines[@]}" "number of output lines of 64 tasks"
assert_eq "${lines[0]}" "$(printf '%s\n' "${lines[@]}" | sort -u)" "mount namespaces of the 64 tasks"
[[ "${lines[0]}" == mnt:* && "${lines[0]}" != "$host_ns" ]] ||
    fail "64 tasks: not in a container's mount namespace: ${lines[0]} (host $host_ns)"

assert_no_leftovers
assert_node_healthy
pass
