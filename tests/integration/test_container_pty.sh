#!/bin/bash
# `srun --pty` in a container: the task's terminal is a real tty that `tty` can name, and
# typed input reaches the task.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
command -v script >/dev/null || skip "script(1) missing (package bsdutils)"

# script(1) gives srun a terminal, as an interactive shell would.
command_line="srun --pty --container=$BUSYBOX_SQSH sh -c 'tty; read line; echo got:\$line'"
run_user timeout 60 script -qec "$command_line" /dev/null <<<"typed-input"
assert_succeeded "srun --pty"
assert_contains "$OUT" "/dev/pts/" "tty inside the container"
assert_not_contains "$OUT" "not a tty" "tty inside the container"
assert_contains "$OUT" "got:typed-input" "input typed at the terminal"

assert_no_leftovers
assert_node_healthy
pass
