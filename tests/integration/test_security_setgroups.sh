#!/bin/bash
# The user owns the container's user namespace, so any of their processes on the host can
# setns into it and hold every capability there. setgroups must be denied in it: else such
# a process could drop a supplementary group and read what "deny this group" permissions
# protect (the CVE-2014-8989 class). The supplementary groups stay mapped.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

probe_dir=$TEST_WORK/setgroups-probe
cleanup() {
    cancel_user_jobs
    rm -rf "$probe_dir"
}
trap cleanup EXIT
rm -rf "$probe_dir"
install -d -o "$TEST_USER" -m 0755 "$probe_dir"

# setns into the user namespace of PID, then try to drop every supplementary group.
cat > "$probe_dir/probe.c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char** argv)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%s/ns/user", argv[1]);
    int fd = open(path, O_RDONLY);
    if (fd < 0 || setns(fd, CLONE_NEWUSER) != 0) {
        printf("setns: %s\n", strerror(errno));
        return 2;
    }
    if (setgroups(0, NULL) != 0) {
        printf("setgroups: %s\n", strerror(errno));
        return 0;
    }
    printf("setgroups: dropped\n");
    return 0;
}
C
gcc -O1 -o "$probe_dir/probe" "$probe_dir/probe.c" || fail "cannot build the probe with gcc"

as_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; exec sleep 60" >/dev/null 2>&1 &
pid=$(wait_user_process 30 -x sleep) || fail "the containerized sleep did not start"
pid=${pid%%$'\n'*}

assert_eq deny "$(cat "/proc/$pid/setgroups")" "/proc/$pid/setgroups of a task"
run_user "$probe_dir/probe" "$pid"
assert_succeeded "the setgroups probe"
assert_eq "setgroups: Operation not permitted" "$OUT" \
    "setgroups in the container's user namespace from a host process of the user"

# The groups themselves are still mapped inside.
gid_lines=$(wc -l < "/proc/$pid/gid_map")
(( gid_lines >= 2 )) || fail "gid_map of a task has $gid_lines line(s); expected the primary and supplementary groups:
$(cat "/proc/$pid/gid_map")"

cleanup
assert_no_leftovers
assert_node_healthy
pass
