#!/bin/bash
# Builds the images of bench/run-all.sh once, under BENCH (default
# $COCOON_TEST_DIR/bench), and rebuilds one only when its recipe changes:
#
#   bench/make-bench-images.sh [BENCH]
#
#   sizes/100m, sizes/100m.sqsh   the busybox test image plus 100 MiB (4 x 25 MiB) of
#   sizes/2g, sizes/2g.sqsh       random data, or 2 GiB (16 x 128 MiB), at /data; as a
#                                 directory and as a squashfs. The data is incompressible,
#                                 so the squashfs is as big as the tree: mksquashfs -noD
#                                 stores it without trying (trying costs minutes of CPU and
#                                 saves nothing).
#   python/rootfs                 a Python tree copied from this host (python3.11,
#                                 /usr/lib/python3.11, /usr/lib/python3 with its site
#                                 packages, the libraries they load: ~5,400 entries,
#                                 ~145 MB), /bench/probe.py, and /bench/large: 2 x 64 MiB of
#                                 random data for the sequential read; a directory image
#   python/layout                 the same tree as an OCI layout (one layer), which
#                                 run-all.sh imports into the trusted cache as root
#
# Disk: about 4.3 GiB for sizes/ (2g alone is 2 x 2.1 GiB) and 0.6 GiB for python/; the
# trusted cache's copy of the Python image (0.2 GiB) comes and goes with each run. The
# first build takes a minute or two on two CPUs, most of it writing 2 GiB of random data.
# The 1 MB image is the harness's own busybox image ($COCOON_IMAGES).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/python-tree.sh
source bench/python-tree.sh
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
bench=${1:-$state/bench}
images=${COCOON_IMAGES:-$state/images}
[[ -d "$images/busybox" ]] ||
    { echo "make-bench-images: no busybox test image in $images: run tests/harness/cluster.sh start" >&2; exit 2; }
install -d -m 0755 "$bench"

say() { echo "make-bench-images: $*" >&2; }

# sizes/NAME: busybox + COUNT files of MIB MiB of random data.
sized_image() {
    local count=$2 mib=$3 dir=$bench/sizes/$1 i
    local recipe="busybox+$count*${mib}MiB random, mksquashfs -noD"
    [[ "$(cat "$dir.stamp" 2>/dev/null)" == "$recipe" ]] && return
    say "building $dir and $dir.sqsh ($recipe)"
    rm -rf "$dir" "$dir.sqsh" "$dir.stamp"
    install -d -m 0755 "$bench/sizes"
    cp -a "$images/busybox" "$dir"
    install -d -m 0755 "$dir/data"
    for ((i = 0; i < count; i++)); do
        head -c "${mib}M" /dev/urandom > "$dir/data/$i.bin"
    done
    chmod -R a+rX "$dir"
    mksquashfs "$dir" "$dir.sqsh" -noappend -quiet -no-progress -all-root -noD >/dev/null
    chmod 0644 "$dir.sqsh"
    echo "$recipe" > "$dir.stamp"
}

# python/: the recipe is this script and the probe; a change of either rebuilds it.
python_image() {
    local dir=$bench/python tree recipe
    recipe=$(cat bench/make-bench-images.sh bench/file_access_probe.py | sha256sum | cut -d' ' -f1)
    [[ "$(cat "$dir/stamp" 2>/dev/null)" == "$recipe" ]] && return
    say "building the Python image in $dir"
    rm -rf "$dir"
    install -d -m 0755 "$dir"
    # The tree is built in an unpacked bundle of an empty image, packed as one layer, then
    # kept as the directory image.
    umoci init --layout "$dir/layout"
    umoci new --image "$dir/layout:latest"
    umoci unpack --image "$dir/layout:latest" "$dir/bundle" >/dev/null
    tree=$dir/bundle/rootfs
    mkdir -p "$tree/usr/bin" "$tree/usr/lib/python3" "$tree/usr/lib64" "$tree/bench/large" \
        "$tree/tmp" "$tree/proc" "$tree/dev/shm" "$tree/dev/pts" "$tree/sys" "$tree/run" \
        "$tree/etc" "$tree/home" "$tree/mnt" "$tree/var/tmp"
    # The mount points the peers of run-all.sh --peers bind onto and cannot create in a
    # tree they may not write: ch-run the passwd and group files; rootless podman the
    # rest, and it links /etc/mtab unless it exists.
    touch "$tree/etc/passwd" "$tree/etc/group" "$tree/etc/hosts" "$tree/etc/resolv.conf" \
        "$tree/etc/hostname" "$tree/run/.containerenv"
    ln -s /proc/mounts "$tree/etc/mtab"
    copy_python_tree "$tree" /usr/bin/true
    head -c 64M /dev/urandom > "$tree/bench/large/0.bin"
    head -c 64M /dev/urandom > "$tree/bench/large/1.bin"
    cp bench/file_access_probe.py "$tree/bench/probe.py"
    chmod -R a+rX "$tree"
    umoci repack --image "$dir/layout:latest" "$dir/bundle" >/dev/null
    mv "$tree" "$dir/rootfs"
    rm -rf "$dir/bundle"
    chmod -R a+rX "$dir/layout" "$dir/rootfs"
    echo "$recipe" > "$dir/stamp"
}

sized_image 100m 4 25
sized_image 2g 16 128
python_image
