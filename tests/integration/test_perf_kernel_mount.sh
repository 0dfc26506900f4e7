#!/bin/bash
# With cocoon.yaml kernel_mount, an image of a shared cache that root filled and nobody
# else can change is mounted by the kernel's squashfs (a read-only loop device), read-only
# and writable roots alike; a user's own squashfs file, and a cache entry a user could
# have chosen or changed, stay on squashfuse. Jobs that use the image at the same time
# share its loop device and superblock. No loop device or mount outlives the step.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

cache=$COCOON_TEST_DIR/kernel-cache
moved=$COCOON_TEST_DIR/kernel-cache.real
trap 'delete_unique_images; rm -rf "$cache" "$moved"' EXIT
rm -rf "$moved"
pull_into_kernel_cache kernel
image_file=$KERNEL_IMAGE_FILE

# Exits 99 unless the task runs in the image pulled above (its layers carry the token).
IN_UNIQUE="grep -qx $UNIQUE_TOKEN /etc/cocoon-token || { echo 'task is not inside the image' >&2; exit 99; }"

# The filesystem types of the container's mounts, one a line: a read-only root is made of
# binds of the image's own mount, so its type shows. IMAGE [SENTINEL]
mount_types() {
    run_user srun --container-readonly --container="$1" sh -c \
        "${2:-$IN_UNIQUE}; sed -n 's/.* - \([^ ]*\) .*/\1/p' /proc/self/mountinfo | sort -u"
}

# No loop device may stay attached to FILE after the step (the kernel detaches it when
# the container's mount namespace is gone, which may lag the step's end a moment).
assert_no_loop_device() {
    local i attached=""
    for ((i = 0; i < 50; i++)); do
        attached=$(losetup -j "$1")
        [[ -z "$attached" ]] && return
        sleep 0.1
    done
    fail "a loop device is still attached to $1: $attached"
}

# 1. Trusted: the kernel mounts it.
mount_types "$UNIQUE_REF"
assert_succeeded "srun --container-readonly --container=$UNIQUE_REF"
assert_contains "$OUT" squashfs "mount types inside, trusted image"
assert_not_contains "$OUT" fuse "mount types inside, trusted image"
assert_no_loop_device "$image_file"

# 2. A writable root over the kernel mount (an overlay): writes land in the upper layer,
#    also to the image's own root-owned files (the mount shows their owners as squashfuse
#    does, so copy-up keeps them).
wait_idle
mark=$(slurmd_logs_mark)
run_user srun --container="$UNIQUE_REF" sh -c \
    "$IN_UNIQUE; echo changed >> /etc/os-release && touch /new-file && grep -q changed /etc/os-release && echo write-ok"
assert_succeeded "srun --container=$UNIQUE_REF with a writable root"
assert_contains "$OUT" write-ok "writes into the writable root"
assert_not_contains "$(slurmd_logs_since "$mark")" "with squashfuse" "slurmd log, trusted image"
assert_no_loop_device "$image_file"

# 3. Jobs that use the image at the same time share its loop device and the kernel's
#    superblock of it (so its page, dentry and inode caches): the second job's container
#    shows the first one's device. Compared while both exist: a freed device number goes
#    to the next mount.
show_device="$IN_UNIQUE; sed -n 's/^[0-9]* [0-9]* \\([0-9:]*\\) .* - squashfs .*/\\1/p' /proc/self/mountinfo | sort -u"
first_device=$TEST_WORK/kernel-mount-first-device
trap 'cancel_user_jobs; delete_unique_images; rm -rf "$cache" "$moved" "$first_device"' EXIT
wait_idle
rm -f "$first_device"
as_user srun --container-readonly --container="$UNIQUE_REF" sh -c \
    "$show_device > $first_device.part && mv $first_device.part $first_device; exec sleep 120" \
    >/dev/null 2>&1 &
for ((i = 0; i < 200; i++)); do
    [[ -s "$first_device" ]] && break
    sleep 0.1
done
[[ -s "$first_device" ]] || fail "the first job did not show its image's device within 20 s"
run_user srun --container-readonly --container="$UNIQUE_REF" sh -c "$show_device"
assert_succeeded "a second job while the first one runs"
[[ "$OUT" =~ ^[0-9]+:[0-9]+$ ]] || fail "the second job shows no squashfs mount: '$OUT'"
assert_eq "$(cat "$first_device")" "$OUT" "the second job's image device (the first job's)"
assert_eq 1 "$(losetup -j "$image_file" | wc -l)" "loop devices of the image while a job uses it"
cancel_user_jobs
rm -f "$first_device"
assert_no_loop_device "$image_file"

# 4. The user's own squashfs file: squashfuse.
wait_idle
mount_types "$BUSYBOX_SQSH" "$IN_IMAGE"
assert_succeeded "srun --container-readonly --container=$BUSYBOX_SQSH"
assert_contains "$OUT" fuse.squashfuse "mount types inside, the user's file"
# ("fuse.squashfuse" does not contain "squashfs")
assert_not_contains "$OUT" squashfs "mount types inside, the user's file"

# 5. Entries a user could have chosen or changed: refused by the privileged check, the
#    image stays on squashfuse (or, where the user's side already refuses the cache, the
#    step fails); never the kernel.
refused() { # WHAT EXPECTED_LOG_TEXT
    wait_idle
    local mark
    mark=$(slurmd_logs_mark)
    mount_types "$UNIQUE_REF"
    assert_not_contains "$OUT" squashfs "$1: mount types inside"
    if [[ -n "$2" ]]; then
        assert_succeeded "$1: srun (on squashfuse)"
        assert_contains "$OUT" fuse.squashfuse "$1: mount types inside"
        assert_contains "$(slurmd_logs_since "$mark")" "$2" "$1: slurmd log"
    fi
    assert_no_loop_device "$image_file"
}

chown "$TEST_USER" "$image_file"
refused "an image file the user owns" "not root"
chown root "$image_file"

chmod 0664 "$image_file"
refused "an image file its group may write" "writable by its group or others"
chmod 0644 "$image_file"

ln "$image_file" "$COCOON_TEST_DIR/kernel-cache.link"
refused "an image file with a second name" "2 hard links"
rm -f "$COCOON_TEST_DIR/kernel-cache.link"

mv "$cache" "$moved"
ln -s "$moved" "$cache"
refused "a cache reached through a symbolic link" ""
rm -f "$cache"
mv "$moved" "$cache"

chown "$TEST_USER" "$cache/images"
refused "a cache directory the user owns" ""
chown root "$cache/images"

# The trusted image is mounted by the kernel again once everything is root's.
wait_idle
mount_types "$UNIQUE_REF"
assert_contains "$OUT" squashfs "mount types inside, trusted again"

assert_no_loop_device "$image_file"
assert_cache_clean "$COCOON_TEST_DIR/cache/$TEST_UID"
assert_no_leftovers
assert_node_healthy
pass
