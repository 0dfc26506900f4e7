#!/bin/bash
# Symbolic links in an image that point out of it cannot make a mount or a file land
# outside the container's root (catalogue BI-19, BI-20, BI-22, BO-03; docs/security.md):
# `cocoon run` of directory images (and squashfs for the system directories) whose links
# point at a host directory the user can write. Each is refused with one line, or lands
# inside; the host directory stays empty, and nothing is left behind. Through Slurm the
# same cases are test_security_symlink_targets and test_catalogue_bad_images.
source "$(dirname "$0")/lib.sh"
require_fuse

# Writable by the user and outside the working directory (which is bound into the
# container): a link followed on the host side would succeed in writing here.
scratch_dir "$UNPRIV_DIR/scratch" 0755
outside=$SCRATCH
core_before=$(cat /proc/sys/kernel/core_pattern)
check_outside() {
    [[ -z "$(ls -A "$outside")" ]] || fail "$1: files created outside the container: $(ls -A "$outside")"
    assert_eq "$core_before" "$(cat /proc/sys/kernel/core_pattern)" "$1: the host's core_pattern"
}

# expect_refused WHAT EXPECTED IMAGE [OPTION...]: the container is refused with one line
# containing EXPECTED, and nothing lands outside.
expect_refused() {
    local what=$1 expected=$2 image=$3
    shift 3
    cocoon_run "$@" "$image" sh -c "$IN_IMAGE; echo ran"
    assert_one_line_error "$what" "$expected"
    assert_eq 125 "$RC" "exit status of $what"
    assert_eq "" "$OUT" "output of $what"
    check_outside "$what"
}

# The host's /proc, /sys, /dev and the private /tmp go exactly there: a link in their
# place is refused, as a directory and as a squashfs image.
for target in proc sys dev tmp; do
    image=$(copy_image "link-$target")
    rm -rf "${image:?}/$target"
    ln -s "$outside" "$image/$target"
    for variant in "$image" "$(squash "$image")"; do
        expect_refused "/$target linked outside ($variant)" \
            "$variant: the image has a symbolic link at /$target" "$variant"
    done
done

# /etc, where the generated /etc/passwd and /etc/group and the host's /etc/hosts go, and
# links at those files: resolved inside the image, where they lead nowhere.
image=$(copy_image link-etc)
rm -rf "${image:?}/etc"
ln -s "$outside" "$image/etc"
expect_refused "/etc linked outside" "cannot resolve /etc in the container" "$image"
for file in passwd group hosts; do
    image=$(copy_image "link-$file")
    ln -sfn "$outside/$file" "$image/etc/$file"
    expect_refused "/etc/$file linked outside" "cannot resolve /etc/$file in the container" "$image"
done

# A --container-mounts target under a link out of the image, absolute or by "..": the link
# is resolved in the container's root, where its target does not exist: refused. A link
# within the image is followed there, and the bind lands inside.
image=$(copy_image link-mounts)
mkdir -p "$image/opt" "$WORK/data"
echo bound > "$WORK/data/f"
ln -s "$outside" "$image/opt/absolute"
ln -s "../../../../../../../..$outside" "$image/opt/relative"
ln -s ../usr "$image/opt/inside"
for variant in "$image" "$(squash "$image")"; do
    for target in /opt/absolute /opt/relative/sub; do
        expect_refused "--container-mounts=...:$target in $variant" \
            "cannot resolve ${target%/sub} in the container" "$variant" --container-mounts="$WORK/data:$target"
    done
    cocoon_run --container-readonly --container-mounts="$WORK/data:/opt/inside/data" "$variant" \
        sh -c "$IN_IMAGE; cat /usr/data/f"
    assert_succeeded "--container-mounts through a link within $variant"
    assert_eq bound "$OUT" "--container-mounts through a link within $variant"
    check_outside "--container-mounts through a link within $variant"
done

# BI-20: /dev/null linked to the host's core_pattern and /etc/passwd a FIFO: the container
# gets the device and a generated passwd; nothing hangs. BI-22: /home linked to /etc and a
# link to ../../.. still give the home directory (when the user has one), inside.
image=$(copy_image hostile-files)
ln -sfn /proc/sys/kernel/core_pattern "$image/dev/null"
rm -f "$image/etc/passwd"
mkfifo -m 0644 "$image/etc/passwd"
rm -rf "${image:?}/home"
ln -s /etc "$image/home"
mkdir -p "$image/opt"
ln -s ../../.. "$image/opt/up"
for variant in "$image" "$(squash "$image")"; do
    cocoon_run "$variant" sh -c "$IN_IMAGE; [ -c /dev/null ] && echo device; echo x > /dev/null
        grep -c '^$(id -un):' /etc/passwd; ls /opt/up/ >/dev/null
        if [ -d '$HOME' ]; then [ -d '$HOME/' ] && echo home; else echo home; fi"
    assert_succeeded "hostile /dev/null, /etc/passwd and /home in $variant"
    assert_eq $'device\n1\nhome' "$OUT" "hostile /dev/null, /etc/passwd and /home in $variant"
    check_outside "hostile /dev/null, /etc/passwd and /home in $variant"
done

# Inside a writable container, a write through the image's link resolves in the
# container: the directory it names does not exist there.
image=$(copy_image write-through)
ln -s "$outside" "$image/escape"
ln -s "../../../../../../..$outside" "$image/escape-relative"
cocoon_run "$image" sh -c "$IN_IMAGE; for l in escape escape-relative; do
    echo x 2>/dev/null > /\$l/file && echo \"wrote through /\$l\"; done; echo done"
assert_succeeded "writes through links in a writable container"
assert_eq "done" "$OUT" "writes through links in a writable container"
check_outside "writes through links in a writable container"

assert_no_leftovers
pass
