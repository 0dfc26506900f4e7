#!/bin/bash
# File access inside a container, kernel squashfs against squashfuse against the host,
# measured side by side in one run on the test (or demo) cluster:
#
#   sudo bench/file-access-bench.sh [ROUNDS]        (default 7 rounds)
#
# The image is a Python tree copied from this host (python3.11, /usr/lib/python3.11,
# /usr/lib/python3 with its site packages, the shared libraries they load), imported as
# root into the trusted cache $COCOON_TEST_DIR/kernel-cache (which the cluster's
# cocoon.yaml lists in shared_caches, with kernel_mount: true). Each round runs, as the
# test user, one step per variant: bench/file_access_probe.py on the host, and in the
# container with the image mounted by the kernel (the cache's image, named by its OCI
# layout) and by squashfuse (the very same file, named by its path), each with a
# read-only and a writable (overlay) root. The probe times its own work inside the task,
# so step start is left out. The table shows medians in milliseconds and ratios to the
# host. No ratio is asserted anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/python-tree.sh
source bench/python-tree.sh
rounds=${1:-7}
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
(( EUID == 0 )) || { echo "file-access-bench: run as root (it submits as the test user)" >&2; exit 2; }
[[ -r "$state/env" ]] || { echo "file-access-bench: no cluster in $state: run tests/harness/cluster.sh start" >&2; exit 2; }
# shellcheck source=/dev/null
source "$state/env"
export SLURM_CONF
user=cocoontest
config=$state/etc/cocoon.yaml
cocoon=${COCOON_CLI:-$state/install/usr/local/bin/cocoon}
cache=$state/kernel-cache
grep -q "$cache" "$config" && grep -q '^kernel_mount: true' "$config" ||
    { echo "file-access-bench: $config must list $cache in shared_caches, with kernel_mount: true" >&2; exit 2; }
bench=$state/bench/python
layout=$bench/layout

# The Python tree as an OCI layout, built once.
if [[ ! -f "$bench/built" ]]; then
    echo "file-access-bench: building the Python image in $bench" >&2
    rm -rf "$bench"
    install -d -m 0755 "$bench"
    tree=$bench/bundle/rootfs
    umoci init --layout "$layout"
    umoci new --image "$layout:latest"
    umoci unpack --image "$layout:latest" "$bench/bundle" >/dev/null
    mkdir -p "$tree/bench"
    copy_python_tree "$tree"
    cp bench/file_access_probe.py "$tree/bench/probe.py"
    umoci repack --image "$layout:latest" "$bench/bundle" >/dev/null
    rm -rf "$bench/bundle"
    chmod -R a+rX "$bench"
    touch "$bench/built"
fi

install -m 0644 bench/file_access_probe.py "$bench/probe.py"

# Root fills the trusted cache, as an admin would; it goes again at the end.
trap 'rm -rf "$cache"' EXIT
install -d -m 0755 "$cache"
COCOON_CACHE_DIR=$cache "$cocoon" pull -c "$config" "oci:$layout:latest" >/dev/null
file=$(find "$cache/images" -name '*.sqsh' -print -quit)

names=() commands=()
add() { names+=("$1"); commands+=("$2"); }
probe="python3.11 /bench/probe.py"
add "host" "srun python3.11 $bench/probe.py /"
add "kernel, read-only" "srun --container-readonly --container=oci:$layout:latest $probe"
add "squashfuse, read-only" "srun --container-readonly --container=$file $probe"
add "kernel, writable" "srun --container=oci:$layout:latest $probe"
add "squashfuse, writable" "srun --container=$file $probe"

samples=$(mktemp)
trap 'rm -rf "$cache"; rm -f "$samples"' EXIT
for ((round = 0; round < rounds; round++)); do
    for i in "${!commands[@]}"; do
        if ! line=$(runuser -u "$user" -- bash -c "cd /tmp && ${commands[$i]}" 2>"$samples.err"); then
            echo "file-access-bench: '${commands[$i]}' failed: $(tail -n 1 "$samples.err")" >&2
            exit 1
        fi
        echo "$i $line" >> "$samples"
    done
    printf '.' >&2
done
rm -f "$samples.err"
echo >&2

python3 bench/probe_table.py "$samples" "${names[@]}"
echo "($rounds rounds, interleaved; $(nproc) CPUs; $(uname -r); medians; ratio to the host)"
