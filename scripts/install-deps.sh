#!/bin/bash
# Install every Debian 12 package that building cocoon and running its tests needs.
# Idempotent and fast on reruns: apt is skipped entirely when dpkg already reports
# every package as installed.
set -euo pipefail

PACKAGES=(
    meson ninja-build g++ pkg-config
    libslurm-dev slurm-wlm munge libmunge-dev
    libseccomp-dev libyaml-cpp-dev libfmt-dev libgtest-dev nlohmann-json3-dev
    squashfs-tools squashfuse libsquashfuse-dev busybox-static fuse3 libfuse3-dev
    # cocoon-squashfuse links libsquashfuse's decompressors statically (helper/meson.build)
    zlib1g-dev liblzma-dev liblzo2-dev liblz4-dev libzstd-dev
    procps util-linux psmisc passwd ca-certificates
    # images from registries: the importer's libraries (libmd: libcocoon-cache's SHA-256),
    # and the registry tests' tools (tests/harness/registry.sh, make-oci.py,
    # bench/import-bench.sh)
    libcurl4-openssl-dev libarchive-dev libisal-dev libssl-dev libmd-dev squashfs-tools-ng
    docker-registry skopeo umoci apache2-utils python3 curl
    # the libfabric module's test (fi_info, and the library it brings into an image)
    libfabric-bin
    # test_registry_faults.sh kills an import at a chosen system call (strace -e inject)
    strace
    # the MPI test images (tests/harness/make-mpi-image.sh) compile their program with the
    # MPI's own wrapper; Slurm's mpi/pmix plugin loads the host's libpmix.so (libpmix-dev)
    libmpich-dev libopenmpi-dev libpmix-dev
    # scripts/lint.sh: the style and static checks of .clang-format and .clang-tidy
    clang-format clang-tidy
    # scripts/test-sanitizers.sh compiles the unit suite with clang (and its sanitizer
    # runtimes): half the compile time of g++ with ASan and UBSan at -O0
    clang libclang-rt-14-dev
)
# test_security_seccomp.sh builds static i386 and x32 probes (gcc -m32, -mx32).
if [[ "$(dpkg --print-architecture)" == amd64 ]]; then
    PACKAGES+=(gcc-multilib libc6-dev-i386 libc6-dev-x32)
fi

missing_packages() {
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [[ "$status" == installed ]] || printf '%s\n' "$pkg"
    done
}

mapfile -t missing < <(missing_packages)
if (( ${#missing[@]} == 0 )); then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

if (( EUID != 0 )); then
    echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

# Debian's slurm-wlm and munge packages try to start their daemons via init scripts;
# without systemd nothing starts, and the test harness runs its own private instances.
mapfile -t missing < <(missing_packages)
if (( ${#missing[@]} != 0 )); then
    echo "install-deps: still missing after install: ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: done"
