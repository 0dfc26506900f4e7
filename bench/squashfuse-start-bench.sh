#!/bin/bash
# How long a squashfs FUSE server takes to start: every step that mounts its image afresh
# waits for it. Measured outside Slurm, interleaved:
#
#   sudo bench/squashfuse-start-bench.sh [IMAGE.sqsh] [ROUNDS] [OTHER_SERVER...]
#
# Each round starts each server on IMAGE (default: the tests' busybox image, made by
# tests/harness/make-images.sh in $COCOON_TEST_DIR/images) with a real mount point, and
# times it from the start of the process until a stat of the mount point answers from it
# (the program, its libraries, reading the image, the FUSE handshake); then unmounts.
# Servers: this build's cocoon-squashfuse (build/helper/), Debian's squashfuse_ll, and any
# OTHER_SERVER given (another build's cocoon-squashfuse, say). Prints medians in
# milliseconds and the ratio to this build's.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-${COCOON_TEST_DIR:-/var/tmp/cocoon-test}/images/busybox.sqsh}
rounds=${2:-30}
shift $(( $# < 2 ? $# : 2 ))
(( EUID == 0 )) || { echo "squashfuse-start-bench: run as root" >&2; exit 2; }
[[ -f "$image" ]] || { echo "squashfuse-start-bench: no image '$image' (give a squashfs file)" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "squashfuse-start-bench: ROUNDS '$rounds' is not a number" >&2; exit 2; }
servers=(build/helper/cocoon-squashfuse /usr/bin/squashfuse_ll "$@")
for server in "${servers[@]}"; do
    [[ -x "$server" ]] || { echo "squashfuse-start-bench: no server '$server' (build this one with scripts/build.sh)" >&2; exit 2; }
done
mnt=$(mktemp -d /tmp/cocoon-start-bench.XXXXXX)
trap 'mountpoint -q "$mnt" && umount -l "$mnt"; rmdir "$mnt"' EXIT

python3 - "$image" "$mnt" "$rounds" "${servers[@]}" <<'PY'
import os, platform, statistics, subprocess, sys, time

image, mnt, rounds, servers = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
# The mount answers once a stat of the mount point shows another filesystem than /tmp's.
unmounted = os.stat(mnt).st_dev
times = {server: [] for server in servers}
for _ in range(rounds):
    for server in servers:
        start = time.perf_counter()
        process = subprocess.Popen([server, "-f", image, mnt], stderr=subprocess.PIPE)
        while True:
            if os.stat(mnt).st_dev != unmounted:
                break
            if process.poll() is not None:
                sys.exit(f"squashfuse-start-bench: {server} ended: {process.stderr.read().decode()}")
            time.sleep(0.0001)
        times[server].append((time.perf_counter() - start) * 1000)
        subprocess.run(["umount", mnt], check=True)
        process.wait()
base = statistics.median(times[servers[0]])
print(f"{'server':<60}{'ready ms':>10}{'ratio':>8}")
for server in servers:
    median = statistics.median(times[server])
    print(f"{server:<60}{median:>10.2f}{median / base:>8.2f}")
print(f"({rounds} rounds, interleaved; {os.cpu_count()} CPUs; {platform.release()}; medians; "
      f"image {image})")
PY
