#!/bin/bash
# Runs one command with the private test cluster and the test registries up, then stops
# them again, whatever the command did:
#
#   sudo bench/with-cluster.sh COMMAND [ARG...]
#
# It stages the build as scripts/test.sh does (an install every user can read, under
# $COCOON_TEST_DIR/install, and the test cocoon.yaml pointed at that state directory), starts
# tests/harness/cluster.sh and tests/harness/registry.sh, runs COMMAND with
# COCOON_BENCH_CLUSTER=1 in its environment, and stops both. Like scripts/test.sh it first
# removes the image caches and registry storage an earlier run left, so every run starts
# empty; the bench images under $COCOON_TEST_DIR/bench are inputs and stay.
#
# On the shared development machine the cluster's fixed ports belong to whoever holds the
# cluster lock: run it as
#   flock -o /tmp/cocoon-cluster.lock env COCOON_TEST_DIR=/var/tmp/cocoon-NAME bench/with-cluster.sh ...
set -euo pipefail
cd "$(dirname "$0")/.."
(( $# > 0 )) || { echo "usage: bench/with-cluster.sh COMMAND [ARG...]" >&2; exit 2; }
(( EUID == 0 )) || { echo "with-cluster: run as root (it starts Slurm and a test user's jobs)" >&2; exit 2; }
[[ -f build/build.ninja ]] || { echo "with-cluster: no build in ./build: run scripts/build.sh first" >&2; exit 2; }
# Only what is installed: the unit tests are not needed here, and take most of a full
# build on two CPUs.
meson compile -C build cli/cocoon:executable helper/cocoon-holder spank/spank_cocoon \
    libcontainer/cocoon:shared_library >/dev/null

state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
[[ "$state" == /* ]] || { echo "with-cluster: COCOON_TEST_DIR='$state' must be an absolute path" >&2; exit 2; }
export COCOON_TEST_DIR=$state
tests/harness/registry.sh stop >/dev/null 2>&1 || true
[[ -d "$state" ]] && { tests/harness/cluster.sh stop >/dev/null 2>&1 || true; }
rm -rf --one-file-system "$state/cache" "$state/shared-cache" "$state/kernel-cache" "$state/registry"

install -d -m 0755 "$state" "$state/etc"
rm -rf "$state/install"
meson install -C build --no-rebuild --quiet --destdir "$state/install" >/dev/null
chmod -R a+rX "$state/install"
sed "s|/var/tmp/cocoon-test|$state|g" tests/integration/cocoon.yaml > "$state/etc/cocoon.yaml"
chmod 0644 "$state/etc/cocoon.yaml"
COCOON_PLUGIN=$(find "$state/install" -name spank_cocoon.so -print -quit)
export COCOON_PLUGIN COCOON_CONFIG=$state/etc/cocoon.yaml

trap 'tests/harness/registry.sh stop >/dev/null 2>&1 || true
      tests/harness/cluster.sh stop >/dev/null 2>&1 || true' EXIT
tests/harness/cluster.sh start >&2
tests/harness/registry.sh start >&2
COCOON_BENCH_CLUSTER=1 "$@"
