#!/bin/bash
# The container root is writable by default, as under pyxis+enroot: the image's files are
# the user's to change (an overlay over the image with an in-memory upper layer), the
# changes stay in the step and never reach the image. --container-readonly (or
# PYXIS_CONTAINER_READONLY=1) keeps the image read-only; the command line wins. A site
# with cocoon.yaml writable_root: false gets read-only roots unless a user asks for a
# writable one, in srun and in `cocoon run` alike.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

saved_config=$(mktemp)
cp -p "$COCOON_YAML" "$saved_config"
trap 'cat "$saved_config" > "$COCOON_YAML"; rm -f "$saved_config"' EXIT

img=--container-image=$BUSYBOX_SQSH
before=$(sha256sum "$BUSYBOX_SQSH")

run_user srun -N1 -n2 "$img" sh -c "$IN_IMAGE"'; if [ "$SLURM_PROCID" = 0 ]; then echo changed >> /etc/os-release; mkdir -p /root/.cache /opt/app && echo x > /opt/app/x; fi; id -u; stat -c "%u %g" /etc /root'
assert_succeeded "srun writing into the image's directories"
assert_contains "$OUT" "$TEST_UID $(id -g "$TEST_USER")" "owner of the image's directories as the user sees them"
wait_idle
run_user srun "$img" sh -c "$IN_IMAGE; grep -c changed /etc/os-release; ls /opt/app 2>&1"
assert_contains "$OUT" "0" "changes of an earlier step"
assert_contains "$OUT" "No such file or directory" "a directory an earlier step created"
assert_eq "$before" "$(sha256sum "$BUSYBOX_SQSH")" "the image file after the steps"

# Tasks of one step share the writable root.
wait_idle
# (--label and sort: srun interleaves the two tasks' lines in any order.)
run_user srun -N1 -n2 --label "$img" sh -c "$IN_IMAGE"'; echo $SLURM_PROCID > /etc/task-$SLURM_PROCID; sleep 1; cat /etc/task-0 /etc/task-1'
assert_succeeded "two tasks writing into the root"
assert_eq $'0: 0\n0: 1\n1: 0\n1: 1' "$(sort <<<"$OUT")" "files of both tasks, seen by both"

# The upper layer is limited by writable_size (1G by default); writing more than that
# fails with ENOSPC rather than filling the node's memory.
wait_idle
run_user srun "$img" sh -c "$IN_IMAGE; df -k / | tail -n1"
assert_succeeded "df / in the container"
size_kb=$(awk '{ print $2 }' <<<"$OUT")
(( size_kb > 0 && size_kb <= 1048576 )) || fail "size of the writable root: $OUT"

# Read-only on request: by option, by variable; the command line wins over the variable.
for how in "--container-readonly" "env PYXIS_CONTAINER_READONLY=1" "env COCOON_CONTAINER_WRITABLE=0"; do
    wait_idle
    if [[ $how == env* ]]; then
        read -r _ variable <<<"$how"
        run_user env "$variable" srun "$img" sh -c "$IN_IMAGE; touch /etc/x 2>&1; touch /tmp/x && echo tmp-ok"
    else
        run_user srun "$how" "$img" sh -c "$IN_IMAGE; touch /etc/x 2>&1; touch /tmp/x && echo tmp-ok"
    fi
    assert_succeeded "srun with $how"
    assert_contains "$OUT" "Read-only file system" "touch /etc/x with $how"
    assert_contains "$OUT" tmp-ok "touch /tmp/x with $how"
done
wait_idle
run_user env PYXIS_CONTAINER_READONLY=1 srun --container-writable "$img" sh -c "$IN_IMAGE; touch /etc/x && echo writable"
assert_eq writable "$OUT" "--container-writable over PYXIS_CONTAINER_READONLY=1"

# The site's default: read-only, unless the user asks for a writable root.
sed -i '/^writable_root:/d' "$COCOON_YAML"
echo "writable_root: false" >> "$COCOON_YAML"
wait_idle
run_user srun "$img" sh -c "$IN_IMAGE; touch /etc/x 2>&1; grep ' / / ' /proc/self/mountinfo"
assert_succeeded "srun with writable_root: false"
assert_contains "$OUT" "Read-only file system" "touch /etc/x with writable_root: false"
assert_not_contains "$OUT" "overlay" "the root with writable_root: false"
for how in "--container-writable" "env PYXIS_CONTAINER_WRITABLE=1"; do
    wait_idle
    if [[ $how == env* ]]; then
        run_user env PYXIS_CONTAINER_WRITABLE=1 srun "$img" sh -c "$IN_IMAGE; touch /etc/x && echo writable"
    else
        run_user srun "$how" "$img" sh -c "$IN_IMAGE; touch /etc/x && echo writable"
    fi
    assert_eq writable "$OUT" "$how with writable_root: false"
done
run_cocoon run "$BUSYBOX_SQSH" sh -c "$IN_IMAGE; touch /etc/x 2>&1"
assert_contains "$OUT" "Read-only file system" "cocoon run with writable_root: false"
run_cocoon run --container-writable "$BUSYBOX_SQSH" sh -c "$IN_IMAGE; touch /etc/x && echo writable"
assert_eq writable "$OUT" "cocoon run --container-writable with writable_root: false"

assert_no_leftovers
assert_node_healthy
pass
