#!/bin/bash
# The demo, on a fresh Debian 12 machine as root: install packages, build and install
# cocoon, start a private single-node Slurm cluster, and run a containerized srun as an
# unprivileged user that prints the image's /etc/os-release.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if (( EUID != 0 )); then
    echo "demo.sh: run as root (it installs packages and starts Slurm)" >&2
    exit 2
fi

scripts/install-deps.sh
scripts/build.sh --prefix=/usr/local
meson install -C build --no-rebuild --quiet
ldconfig

# The site configuration at its default path (an admin edits this copy).
config=/usr/local/etc/cocoon/cocoon.yaml
[[ -e "$config" ]] || install -D -m 0644 etc/cocoon.yaml "$config"
plugin=$(find /usr/local/lib -name spank_cocoon.so -print -quit)
export COCOON_PLUGIN=$plugin
export COCOON_CONFIG=$config
tests/harness/cluster.sh start

# shellcheck source=/dev/null
source "${COCOON_TEST_DIR:-/var/tmp/cocoon-test}/env"
image=${COCOON_IMAGES:-${COCOON_TEST_DIR:-/var/tmp/cocoon-test}/images}/busybox.sqsh
user=cocoontest
echo
echo "demo: as user '$user': srun --container=$image cat /etc/os-release"
cd "$(getent passwd "$user" | cut -d: -f6)"
runuser -u "$user" -- env SLURM_CONF="$SLURM_CONF" srun --container="$image" cat /etc/os-release
echo
echo "demo: the cluster keeps running; try more as $user with SLURM_CONF=$SLURM_CONF,"
echo "      stop it with: $ROOT/tests/harness/cluster.sh stop"
