#!/bin/bash
# What the writable root's overlay costs on a warm image, measured outside Slurm:
#
#   sudo bench/overlay-bench.sh [ROUNDS]        (default 7 rounds)
#
# A writable container root (the default, cocoon.yaml writable_root) is an overlay whose
# lower layer is the image and whose upper layer is a tmpfs, made anew in every step. On a
# warm mount (warm_mount_linger) the image's caches are warm, but the overlay's are not.
# This script mounts the Python image of bench/make-bench-images.sh with the kernel's
# squashfs once, warms it, and then each round runs bench/file_access_probe.py on the
# host's tree (the files the image was made of), on the warm image itself (a read-only
# root), and on a new overlay over it, twice: "fresh" (a step's first look) and "warm"
# (a later look, as in a named container's later step). The overlay is mounted with the
# options cocoon uses (userxattr) and, for comparison, with others overlayfs offers. The
# table shows medians in milliseconds and ratios to the host.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
(( EUID == 0 )) || { echo "overlay-bench: run as root (it mounts)" >&2; exit 2; }
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
tree=$state/bench/python/rootfs
[[ -d "$tree" ]] || bench/make-bench-images.sh "$state/bench" >&2

work=$(mktemp -d /tmp/cocoon-overlay-bench.XXXXXX)
samples=$work/samples
cleanup() {
    local m
    for m in "$work/root" "$work/upper" "$work/image"; do
        mountpoint -q "$m" && umount "$m"
    done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/image" "$work/upper" "$work/root"
gensquashfs --quiet --keep-time -c zstd -D "$tree" "$work/image.sqsh"
mount -t squashfs -o loop,ro,nosuid,nodev "$work/image.sqsh" "$work/image"
python3 bench/file_access_probe.py "$work/image" >/dev/null

# Each overlay variant has two rows: its fresh probe, then its warm one.
names=("host (the same files)" "image, read-only (warm)")
overlays=("as cocoon mounts it" "xino=off" "xino=on" "index, metacopy off")
options=("userxattr" "userxattr,xino=off" "userxattr,xino=on"
    "userxattr,index=off,metacopy=off")
for overlay in "${overlays[@]}"; do
    names+=("overlay $overlay, fresh" "overlay $overlay, warm")
done

probe() { # ROW ROOT
    echo "$1 $(python3 bench/file_access_probe.py "$2")" >> "$samples"
}

for ((round = 0; round < rounds; round++)); do
    probe 0 "$tree"
    probe 1 "$work/image"
    for i in "${!overlays[@]}"; do
        mount -t tmpfs -o mode=0755 tmpfs "$work/upper"
        mkdir "$work/upper/upper" "$work/upper/work"
        mount -t overlay overlay \
            -o "lowerdir=$work/image,upperdir=$work/upper/upper,workdir=$work/upper/work,${options[$i]}" \
            "$work/root"
        probe $((2 + 2 * i)) "$work/root"
        probe $((3 + 2 * i)) "$work/root"
        umount "$work/root"
        umount "$work/upper"
    done
    printf '.' >&2
done
echo >&2

python3 bench/probe_table.py "$samples" "${names[@]}"
echo "($rounds rounds, interleaved; $(nproc) CPUs; $(uname -r); medians; ratio to the host)"
