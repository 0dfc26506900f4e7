#!/bin/bash
# `cocoon run` builds the same container as the plugin, as an unprivileged user without
# Slurm: image content, identity, exit codes, errors, and nothing left behind.
source "$(dirname "$0")/lib.sh"
require_images

COCOON=${COCOON_CLI:-$COCOON_TEST_DIR/install/usr/local/bin/cocoon}
[[ -x "$COCOON" ]] || skip "cocoon command not found at $COCOON (set COCOON_CLI)"

for image in "$BUSYBOX_SQSH" "$BUSYBOX_DIR"; do
    run_user "$COCOON" run "$image" cat /etc/os-release
    assert_succeeded "cocoon run $image cat /etc/os-release"
    assert_contains "$OUT" cocoon-test-busybox "os-release from $image"
done

run_user "$COCOON" run "$BUSYBOX_SQSH" id -u
assert_eq "$TEST_UID" "$OUT" "uid inside the container"

run_user "$COCOON" run "$BUSYBOX_SQSH" sh -c 'grep NoNewPrivs /proc/self/status; touch /etc/x && echo writable'
assert_contains "$OUT" "NoNewPrivs:	1" "no_new_privs"
assert_contains "$OUT" writable "the root is writable by default"
run_user "$COCOON" run --container-readonly "$BUSYBOX_SQSH" sh -c 'touch /etc/x 2>&1'
assert_contains "$OUT" "Read-only file system" "image with --container-readonly"

# The container options of srun, under the same names.
mkdir -p "$TEST_WORK/cli-mounts" && echo seen > "$TEST_WORK/cli-mounts/f"
chown -R "$TEST_USER" "$TEST_WORK/cli-mounts"
run_user "$COCOON" run --container-mounts=cli-mounts:/m:ro --container-workdir=/m --container-remap-root \
    --container-unshare=net "$BUSYBOX_SQSH" sh -c 'pwd; cat f; id -u; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'
assert_succeeded "cocoon run with container options"
assert_eq $'/m\nseen\n0\nlo' "$OUT" "cocoon run with container options"
rm -rf "$TEST_WORK/cli-mounts"
run_user "$COCOON" run --container-mounts=/etc:/e:fast "$BUSYBOX_SQSH" true
assert_eq 125 "$RC" "exit status of a bad mount flag"
assert_contains "$ERR" "--container-mounts=/etc:/e:fast: unknown mount flag 'fast'" \
    "bad mount flag error"

run_user "$COCOON" run "$BUSYBOX_SQSH" sh -c 'exit 7'
assert_eq 7 "$RC" "exit status of 'exit 7'"

run_user "$COCOON" run "$BUSYBOX_SQSH" /no/such/command
assert_eq 127 "$RC" "exit status of a missing command"
assert_contains "$ERR" "/no/such/command" "missing command error"

run_user "$COCOON" run /nonexistent/img.sqsh true
assert_eq 125 "$RC" "exit status of a missing image"
assert_contains "$ERR" "/nonexistent/img.sqsh does not exist" "missing image error"

run_user "$COCOON" run "$IMAGES/truncated.sqsh" true
assert_eq 125 "$RC" "exit status of a truncated image"
assert_contains "$ERR" "squashfuse" "truncated image error"

run_user "$COCOON" run --dry-run "$BUSYBOX_SQSH"
assert_succeeded "cocoon run --dry-run"
assert_contains "$OUT" "root      $BUSYBOX_SQSH (writable overlay, " "plan"
assert_contains "$OUT" "tmpfs     /tmp" "plan"

assert_no_leftovers
pass
