#!/bin/bash
# Which squashfs FUSE server (and which squashfuse_ll options) make file access faster,
# measured outside Slurm on one image:
#
#   sudo bench/squashfuse-options-bench.sh IMAGE.sqsh [ROUNDS]     (default 7 rounds)
#
# IMAGE holds a Python tree (/usr/bin/python3.11, /usr/lib/python3.11, /usr/lib/python3),
# as bench/file-access-bench.sh builds it. Each round mounts the image afresh once per
# variant (as a step does: the file's pages stay in the page cache, the filesystem's own
# caches start cold) and runs bench/file_access_probe.py on it twice: "fresh", the first
# probe on the new mount, and "warm", the second on the same mount (as a later step on a
# warm mount, warm_mount_linger, meets it). The tables show the median of each measure in
# milliseconds and its ratio to the host's own Python tree (the files the image was made
# of). cocoon-squashfuse is this build's (build/helper/, or $COCOON_SQUASHFUSE).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:?usage: squashfuse-options-bench.sh IMAGE.sqsh [ROUNDS]}
rounds=${2:-7}
(( EUID == 0 )) || { echo "squashfuse-options-bench: run as root" >&2; exit 2; }
squashfuse=${SQUASHFUSE:-/usr/bin/squashfuse_ll}
cocoon_squashfuse=${COCOON_SQUASHFUSE:-build/helper/cocoon-squashfuse}
[[ -x "$cocoon_squashfuse" ]] || { echo "squashfuse-options-bench: build $cocoon_squashfuse first (scripts/build.sh)" >&2; exit 2; }
mnt=$(mktemp -d /tmp/cocoon-fuse-bench.XXXXXX)
samples=$(mktemp -d)/samples
server=""
cleanup() {
    mountpoint -q "$mnt" && umount -l "$mnt"
    [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rmdir "$mnt"
    rm -rf "$(dirname "$samples")"
}
trap cleanup EXIT

names=("host (the same files)" "kernel squashfs" "cocoon-squashfuse (the default)" \
       "squashfuse_ll" "squashfuse_ll -s" "squashfuse_ll -o clone_fd" "squashfuse_ll -o max_threads=2")
servers=(host kernel "$cocoon_squashfuse" "$squashfuse" "$squashfuse" "$squashfuse" "$squashfuse")
options=("" "" "" "" "-s" "-o clone_fd" "-o max_threads=2")

mount_variant() {
    local i
    [[ "$1" == host ]] && return
    if [[ "$1" == kernel ]]; then
        mount -t squashfs -o loop,ro,nosuid,nodev "$image" "$mnt"
        return
    fi
    # Read-only, as cocoon mounts it (MS_RDONLY: no atime updates to invalidate).
    # shellcheck disable=SC2086  # the options are words
    "$1" -f -o ro $2 "$image" "$mnt" & server=$!
    for ((i = 0; i < 100; i++)); do mountpoint -q "$mnt" && return; sleep 0.05; done
    echo "squashfuse-options-bench: $1 $2 did not mount" >&2
    exit 1
}

for ((round = 0; round < rounds; round++)); do
    for i in "${!names[@]}"; do
        mount_variant "${servers[$i]}" "${options[$i]}"
        root=$mnt
        [[ "${servers[$i]}" == host ]] && root=/
        # A failed probe (a file the server did not find) is counted, not timed.
        for pass in fresh warm; do
            if line=$(python3 bench/file_access_probe.py "$root" 2>/dev/null); then
                echo "$i $line" >> "$samples.$pass"
            else
                echo "$i failed" >> "$samples.$pass"
            fi
        done
        mountpoint -q "$mnt" && umount "$mnt"
        if [[ -n "$server" ]]; then wait "$server" || true; server=""; fi
    done
done

for pass in fresh warm; do
    echo "$pass mount"
    python3 bench/probe_table.py "$samples.$pass" "${names[@]}"
    echo
done
