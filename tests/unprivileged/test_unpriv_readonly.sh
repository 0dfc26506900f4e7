#!/bin/bash
# Writable (the default) and --container-readonly containers of the squashfs and directory
# images: a writable container takes writes anywhere, in memory, as the user (or as root
# with --container-remap-root); they are gone with it and never reach the image. A
# read-only one refuses writes to the image's tree and still has a writable /tmp, /dev/shm,
# home and working directory. Nothing is left behind.
source "$(dirname "$0")/lib.sh"
require_fuse

overflow_uid=$(cat /proc/sys/kernel/overflowuid)
# The user's own copy of the directory image (see copy_image in lib.sh).
own_dir=$(copy_image busybox-own)
image_state() {
    find "$own_dir" "$BUSYBOX_DIR" -printf '%p %s %m %u %T@\n' | sort | sha256sum
    sha256sum <"$BUSYBOX_SQSH"
}
before=$(image_state)

write='touch /created /etc/created /usr/bin/created && echo data > /bin/busybox-copy &&
       ls /created /etc/created /usr/bin/created && cat /bin/busybox-copy'
for image in "$BUSYBOX_SQSH" "$own_dir"; do
    cocoon_run "$image" sh -c "$IN_IMAGE; $write; id -u; stat -c %u /created"
    assert_succeeded "writes in a writable container of $image"
    assert_eq $'/created\n/etc/created\n/usr/bin/created\ndata\n'"$MY_UID"$'\n'"$MY_UID" "$OUT" \
        "writes in a writable container of $image"

    cocoon_run --container-remap-root "$image" sh -c "$IN_IMAGE; $write; id -u; stat -c %u /created"
    assert_succeeded "writes with --container-remap-root in $image"
    assert_eq $'/created\n/etc/created\n/usr/bin/created\ndata\n0\n0' "$OUT" \
        "writes with --container-remap-root in $image"

    # The next container starts from the image again.
    cocoon_run "$image" sh -c "$IN_IMAGE; ls /created /etc/created 2>&1; true"
    assert_contains "$OUT" "/created: No such file or directory" "a new container of $image"
    assert_contains "$OUT" "/etc/created: No such file or directory" "a new container of $image"

    for path in /created /etc/created /usr/bin/created /bin/busybox; do
        cocoon_run --container-readonly "$image" sh -c "$IN_IMAGE; touch $path"
        assert_failed "touch $path with --container-readonly in $image"
        assert_eq "touch: $path: Read-only file system" "$ERR" "touch $path with --container-readonly in $image"
    done
    cocoon_run --container-readonly "$image" sh -c "$IN_IMAGE; id -u
        for dir in /tmp /dev/shm '$HOME' '$WORK'; do
            [ -d \"\$dir\" ] || continue
            echo x > \"\$dir/ro-test\" && rm \"\$dir/ro-test\" || echo \"cannot write in \$dir\"
        done"
    assert_succeeded "writes to /tmp, /dev/shm, home and the working directory of a read-only $image"
    assert_eq "$MY_UID" "$OUT" "writes to /tmp, /dev/shm, home and the working directory of a read-only $image"
    cocoon_run --container-readonly --container-remap-root "$image" sh -c "$IN_IMAGE; id -u; touch /x"
    assert_eq 1 "$RC" "touch /x in a read-only container of $image with --container-remap-root"
    assert_eq 0 "$OUT" "uid in a read-only container of $image with --container-remap-root"
done

# Files of the image: root's in the squashfs (mksquashfs -all-root). The user's with a
# writable root (their uid maps to the image's root), root's with --container-remap-root,
# nobody's in a read-only container (root is not mapped there).
cocoon_run "$BUSYBOX_SQSH" stat -c %u /bin/busybox
assert_eq "$MY_UID" "$OUT" "owner of the image's files in a writable container"
cocoon_run --container-remap-root "$BUSYBOX_SQSH" stat -c %u /bin/busybox
assert_eq 0 "$OUT" "owner of the image's files with --container-remap-root"
cocoon_run --container-readonly "$BUSYBOX_SQSH" stat -c %u /bin/busybox
assert_eq "$overflow_uid" "$OUT" "owner of the image's files in a read-only container"

# A writable container of the directory image that root owns, from a working directory
# whose mount point goes in a directory of the image that is root's (/var/tmp): overlayfs
# cannot copy that directory up (its owner is not mapped in the container), so it is covered
# with a tmpfs of its entries, as in a read-only container, and the step runs.
scratch_dir /var/tmp 0755
cwd=$SCRATCH
cd "$cwd" || fail "cannot change to $cwd"
cocoon_run "$BUSYBOX_DIR" sh -c "$IN_IMAGE; pwd; echo written > in-cwd; touch /created && echo root-writable"
cd "$WORK" || fail "cannot change to $WORK"
assert_succeeded "a writable container of the root-owned $BUSYBOX_DIR from $cwd"
assert_eq "$cwd"$'\nroot-writable' "$OUT" "a writable container of the root-owned $BUSYBOX_DIR from $cwd"
assert_eq written "$(cat "$cwd/in-cwd")" "the file written to the working directory, on the host"
rm -rf "$cwd" # now: the check for temporary files below counts it

assert_eq "$before" "$(image_state)" "the images after writes in their containers"
assert_no_leftovers
pass
