#!/bin/bash
# Build the MPI test images from Debian 12 packages, as root.
#
#   make-mpi-image.sh OUTDIR
#
# Produces (world-readable):
#   OUTDIR/mpich.sqsh     MPICH 4.0 (libmpich12: libmpi.so.12, ch4:ucx) and /hello
#   OUTDIR/openmpi.sqsh   Open MPI 4.1 (libopenmpi3: libmpi.so.40) with its PMIx (libpmix2)
#                         and /hello
#   OUTDIR/debs/          the packages they are made of, kept for the next run
#
# /hello is tests/harness/mpi-hello.c, compiled here with the MPI's own wrapper
# (mpicc.mpich from libmpich-dev, mpicc.openmpi from libopenmpi-dev): one line per rank with
# its rank, the size, the libmpi it mapped and whether that file lies on the filesystem
# /hello came from. Each image has /bin/sh (busybox) and an os-release naming it (ID=cocoon-mpich,
# ID=cocoon-openmpi).
#
# The packages are the versions installed on this machine (the headers /hello is built
# against), taken from apt's cache or fetched once with `apt-get download`. Nothing is
# installed into the host. Rerunnable: an image whose stamp (this script, the program, the
# package versions) is unchanged is not rebuilt.
set -euo pipefail

die() { echo "make-mpi-image: $*" >&2; exit 1; }

(( $# == 1 )) || die "usage: make-mpi-image.sh OUTDIR"
(( EUID == 0 )) || die "run as root (it builds the image's loader cache with ldconfig -r)"
command -v mksquashfs >/dev/null || die "mksquashfs not found (apt-get install squashfs-tools)"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
self=$here/make-mpi-image.sh
hello_src=$here/mpi-hello.c
arch=$(dpkg --print-architecture)

mkdir -p "$1"
outdir=$(cd "$1" && pwd -P)
debs=$outdir/debs
install -d -m 0755 "$debs"

# The runtime of each image: the MPI library and what its loader needs (the shared
# libraries of /hello and of the components the MPI loads at run time), plus busybox.
COMMON_PACKAGES=(libc6 libgcc-s1 libstdc++6 zlib1g libudev1 libnuma1 libhwloc15 libucx0
                 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 busybox-static)
MPICH_PACKAGES=(libmpich12 libgfortran5 libquadmath0)
OPENMPI_PACKAGES=(libopenmpi3 openmpi-common libpmix2 libmunge2 libevent-core-2.1-7
                  libevent-pthreads-2.1-7 libfabric1 libatomic1 libpsm-infinipath1
                  libpsm2-2)

# The version of PACKAGE to use: the installed one, else apt's candidate.
package_version() {
    local version
    version=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true)
    if [[ "$version" == installed\ * ]]; then
        echo "${version#installed }"
        return
    fi
    version=$(apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
    [[ -n "$version" && "$version" != "(none)" ]] ||
        die "package $1 has no installable version (apt-get update?)"
    echo "$version"
}

# The .deb of PACKAGE VERSION: from debs/, apt's cache, or downloaded into debs/.
fetch_deb() {
    local package=$1 version=$2 file pkg_arch
    local quoted=${version//:/%3a}
    for pkg_arch in "$arch" all; do
        file=${package}_${quoted}_${pkg_arch}.deb
        [[ -s "$debs/$file" ]] && { echo "$debs/$file"; return; }
        if [[ -s "/var/cache/apt/archives/$file" ]]; then
            cp "/var/cache/apt/archives/$file" "$debs/$file"
            echo "$debs/$file"
            return
        fi
    done
    (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$package=$version" \
        >/dev/null) || die "apt-get download $package=$version failed"
    for pkg_arch in "$arch" all; do
        file=${package}_${quoted}_${pkg_arch}.deb
        [[ -s "$debs/$file" ]] && { echo "$debs/$file"; return; }
    done
    die "apt-get download $package=$version left no $package .deb in $debs"
}

# build_image NAME MPICC PACKAGE...: OUTDIR/NAME.sqsh.
build_image() {
    local name=$1 mpicc=$2
    shift 2
    local packages=("$@") package versions=() stamp_value
    command -v "$mpicc" >/dev/null ||
        die "$mpicc not found (scripts/install-deps.sh installs libmpich-dev and libopenmpi-dev)"
    for package in "${packages[@]}"; do
        versions+=("$package=$(package_version "$package")")
    done
    stamp_value=$(printf '%s\n' "${versions[@]}" | cat "$self" "$hello_src" - | sha256sum |
                  cut -d' ' -f1)
    if [[ -f "$outdir/$name.sqsh" && -f "$outdir/.$name.stamp" &&
          "$(cat "$outdir/.$name.stamp")" == "$stamp_value" ]]; then
        echo "make-mpi-image: $outdir/$name.sqsh is up to date"
        return
    fi
    rm -f "$outdir/.$name.stamp"

    local tmp root entry deb
    tmp=$(mktemp -d "$outdir/.build-$name.XXXXXX")
    # shellcheck disable=SC2064  # expand now: the trap outlives this function's locals
    trap "rm -rf '$tmp'" EXIT
    root=$tmp/root
    mkdir -p "$root"
    for entry in "${versions[@]}"; do
        deb=$(fetch_deb "${entry%%=*}" "${entry#*=}")
        dpkg-deb -x "$deb" "$root"
    done
    rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian"

    local d
    for d in bin sbin usr/bin usr/sbin proc sys dev tmp home etc var/tmp run root; do
        mkdir -p "$root/$d"
    done
    chmod 1777 "$root/tmp" "$root/var/tmp"
    chmod 0700 "$root/root"
    [[ -x "$root/bin/busybox" ]] || die "busybox-static did not provide /bin/busybox"
    local applet
    for applet in $("$root/bin/busybox" --list); do
        [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
    done

    "$mpicc" -O2 -o "$root/usr/bin/mpi-hello" "$hello_src" ||
        die "$mpicc could not compile $hello_src"
    ln -s usr/bin/mpi-hello "$root/hello"

    cat > "$root/etc/os-release" <<OSR
NAME="cocoon-test-$name"
ID=cocoon-$name
PRETTY_NAME="cocoon test image ($name)"
VERSION_ID=1
OSR
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\n' > "$root/etc/group"
    printf 'cocoon-test-%s\n' "$name" > "$root/etc/hostname"
    # The packages' /etc/ld.so.conf.d entries (libc6: the multiarch directories) in the
    # image's own loader cache.
    printf 'include /etc/ld.so.conf.d/*.conf\n' > "$root/etc/ld.so.conf"
    ldconfig -r "$root" || die "ldconfig -r $root failed"

    # Every library /hello needs resolves inside the image, by the image's own loader.
    local listing
    listing=$(chroot "$root" /lib64/ld-linux-x86-64.so.2 --list /usr/bin/mpi-hello 2>&1) ||
        die "the $name image's loader cannot load /hello: $listing"
    if grep -q 'not found' <<<"$listing"; then
        die "libraries of /hello missing from the $name image: $(grep 'not found' <<<"$listing" | tr -s ' \t\n' ' ')"
    fi
    grep -Eq 'libmpi(ch)?\.so\.[0-9]+ => /' <<<"$listing" ||
        die "/hello of the $name image does not link a libmpi: $listing"

    chmod -R a+rX "$root"
    mksquashfs "$root" "$tmp/$name.sqsh" -noappend -all-root -quiet \
        -mkfs-time 0 -all-time 0 >/dev/null
    chmod 0644 "$tmp/$name.sqsh"
    mv -f "$tmp/$name.sqsh" "$outdir/$name.sqsh"
    printf '%s\n' "$stamp_value" > "$outdir/.$name.stamp"
    rm -rf "$tmp"
    trap - EXIT
    echo "make-mpi-image: built $outdir/$name.sqsh"
}

build_image mpich mpicc.mpich "${COMMON_PACKAGES[@]}" "${MPICH_PACKAGES[@]}"
build_image openmpi mpicc.openmpi "${COMMON_PACKAGES[@]}" "${OPENMPI_PACKAGES[@]}"
