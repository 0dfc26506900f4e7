#!/bin/bash
# Owners and modes inside a squashfs image are enforced (FUSE default_permissions): in a
# read-only container, a file of the image that is root's and mode 0600 cannot be read by
# the job user, a world-readable one can. A writable container (the default) makes the
# image's root-owned files the user's, as pyxis+enroot do (whoever can use an image can read
# its file anyway).
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

work=$TEST_WORK/image-permissions
cleanup() {
    rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work"
cp -a "$BUSYBOX_DIR" "$work/root"
echo "root only" > "$work/root/secret"
chown 0:0 "$work/root/secret"
chmod 0600 "$work/root/secret"
echo "for all" > "$work/root/public"
chmod 0644 "$work/root/public"
mksquashfs "$work/root" "$work/image.sqsh" -noappend -quiet >/dev/null ||
    fail "mksquashfs failed"
chmod 0644 "$work/image.sqsh"

run_user srun --container-readonly --container="$work/image.sqsh" sh -c "$IN_IMAGE; cat /public; cat /secret"
assert_failed "reading a root-owned 0600 file of the image as the job user"
assert_eq "for all" "$OUT" "what the job could read"
assert_contains "$ERR" "Permission denied" "error reading /secret"

wait_idle
run_user srun --container="$work/image.sqsh" sh -c "$IN_IMAGE; stat -c %u /secret; cat /secret"
assert_succeeded "reading the image's root-owned file in a writable container"
assert_eq "$TEST_UID"$'\n'"root only" "$OUT" "owner and content of /secret in a writable container"

cleanup
assert_no_leftovers
assert_node_healthy
pass
