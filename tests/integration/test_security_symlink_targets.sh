#!/bin/bash
# An image with a symbolic link where the container mounts the host's /proc, /sys, /dev or
# its private /tmp is refused with one line naming the path; the link is never followed
# (it would put the host's /proc over the image's /etc, say). Nothing is left behind.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

work=$TEST_WORK/symlink-targets
cleanup() {
    rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work"

for target in proc sys dev tmp; do
    root=$work/$target-root
    cp -a "$BUSYBOX_DIR" "$root"
    rm -rf "${root:?}/$target"
    ln -s etc "$root/$target"
    mksquashfs "$root" "$work/$target.sqsh" -noappend -quiet >/dev/null ||
        fail "mksquashfs failed for the /$target image"
    chmod 0644 "$work/$target.sqsh"

    wait_idle
    run_user srun --container="$work/$target.sqsh" sh -c "$IN_IMAGE; echo ran"
    assert_failed "srun with an image whose /$target is a symbolic link"
    assert_not_contains "$OUT" ran "output with a /$target link"
    assert_contains "$ERR" "the image has a symbolic link at /$target" "error for /$target"
    assert_eq 1 "$(grep -c '^cocoon: error:' <<<"$ERR")" "error lines for /$target"
done

cleanup
assert_no_leftovers
assert_node_healthy
pass
