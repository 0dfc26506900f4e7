#!/bin/bash
# `cocoon run` as an ordinary user, no Slurm: the busybox image as squashfs (squashfuse) and
# as a directory (a read-only bind) runs the command inside, as the user themselves, with
# the exit status, stdin, environment and container options of a step; --dry-run prints
# the plan. Nothing is left behind.
source "$(dirname "$0")/lib.sh"
require_fuse

# Only the uid and the primary gid can be mapped without privilege: other groups of the
# user show as the overflow gid (cocoon(1)).
expected_groups=$MY_GID
[[ "$(id -G)" != "$MY_GID" ]] && expected_groups+=" $(cat /proc/sys/kernel/overflowgid)"
own_dir=$(copy_image busybox-own)
for image in "$BUSYBOX_SQSH" "$own_dir" "$BUSYBOX_DIR"; do
    # The root-owned directory read-only (see copy_image in lib.sh).
    [[ "$image" == "$BUSYBOX_DIR" ]] && ro_opt=(--container-readonly) || ro_opt=()
    cocoon_run "${ro_opt[@]}" "$image" sh -c "$IN_IMAGE; id -u; id -g; id -G; grep NoNewPrivs /proc/self/status; pwd"
    assert_succeeded "cocoon run $image"
    mapfile -t lines <<<"$OUT"
    assert_eq "$MY_UID" "${lines[0]}" "uid inside $image"
    assert_eq "$MY_GID" "${lines[1]}" "primary gid inside $image"
    # Every group of the user, each the same number inside (order may differ).
    assert_eq "$(tr ' ' '\n' <<<"$expected_groups" | sort -n | paste -sd' ')" \
        "$(tr ' ' '\n' <<<"${lines[2]}" | sort -n | paste -sd' ')" "groups inside $image"
    assert_eq "NoNewPrivs:	1" "${lines[3]}" "no_new_privs inside $image"
    assert_eq "$WORK" "${lines[4]}" "working directory inside $image"

    # Exit status, stdin and the environment pass through.
    cocoon_run "${ro_opt[@]}" "$image" sh -c 'exit 7'
    assert_eq 7 "$RC" "exit status of 'exit 7' in $image"
    cocoon_run "${ro_opt[@]}" "$image" sh -c 'kill -TERM $$'
    assert_eq 143 "$RC" "exit status of a command killed by SIGTERM in $image"
    run_capture timeout "$COCOON_TIMEOUT" "$COCOON" run -c "$COCOON_YAML" "${ro_opt[@]}" "$image" sh -c "$IN_IMAGE; tr a-z A-Z" <<<"from stdin"
    assert_eq "FROM STDIN" "$OUT" "stdin through $image"
    run_capture env COCOON_TEST_VALUE="a b" timeout "$COCOON_TIMEOUT" "$COCOON" run \
        -c "$COCOON_YAML" "${ro_opt[@]}" "$image" sh -c 'echo "$COCOON_TEST_VALUE"' </dev/null
    assert_eq "a b" "$OUT" "environment in $image"

    cocoon_run "${ro_opt[@]}" "$image" /no/such/command
    assert_eq 127 "$RC" "exit status of a missing command in $image"
    assert_eq "cocoon: error: cannot execute '/no/such/command' in the container: No such file or directory" \
        "$ERR" "missing command error in $image"
done

# A file the user writes in the home directory or working directory is theirs on the host.
cocoon_run "$BUSYBOX_SQSH" sh -c "$IN_IMAGE; echo out > written"
assert_succeeded "writing into the working directory"
assert_eq "$MY_UID out" "$(stat -c %u "$WORK/written") $(cat "$WORK/written")" \
    "owner and content of a file written inside"

# The container options of srun, under the same names.
mkdir -p "$WORK/mounted" && echo seen > "$WORK/mounted/f"
cocoon_run --container-mounts=mounted:/m:ro --container-workdir=/m --container-remap-root \
    --container-unshare=net "$BUSYBOX_SQSH" sh -c 'pwd; cat f; id -u; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; touch g 2>&1'
assert_eq 1 "$RC" "exit status with container options (touch on a read-only mount)"
assert_eq $'/m\nseen\n0\nlo\ntouch: g: Read-only file system' "$OUT" "cocoon run with container options"

# --dry-run prints the plan and runs nothing.
cocoon_run --dry-run "$BUSYBOX_SQSH"
assert_succeeded "cocoon run --dry-run"
assert_contains "$OUT" "root      $BUSYBOX_SQSH (writable overlay, " "plan"
assert_contains "$OUT" "tmpfs     /tmp (mode=1777)" "plan"
assert_contains "$OUT" "bind      $WORK <- $WORK [rec]" "plan"

# A command that leaves a child behind: the child dies with the container.
cocoon_run "$own_dir" sh -c 'sleep 300 </dev/null >/dev/null 2>&1 & echo started'
assert_eq started "$OUT" "background child started"

assert_no_leftovers
pass
