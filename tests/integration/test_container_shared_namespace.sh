#!/bin/bash
# All tasks of a step on a node share one container (one mount namespace), and it is
# not the host's.
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

assert_no_leftovers
assert_node_healthy
pass
