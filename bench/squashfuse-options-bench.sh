#!/bin/bash
# Which squashfuse_ll options make file access faster, measured outside Slurm on one image:
#
#   sudo bench/squashfuse-options-bench.sh IMAGE.sqsh [ROUNDS]     (default 7 rounds)
#
# IMAGE holds a Python tree (/usr/bin/python3.11, /usr/lib/python3.11, /usr/lib/python3),
# as bench/file-access-bench.sh builds it. Each round mounts the image afresh once per
# variant (as a step does: the file's pages stay in the page cache, the filesystem's own
# caches start cold) and runs bench/file_access_probe.py on it; the table shows the
# median of each measure in milliseconds and its ratio to the kernel's squashfs. The host
# row runs the probe on the host's own Python tree (the files the image was made of).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:?usage: squashfuse-options-bench.sh IMAGE.sqsh [ROUNDS]}
rounds=${2:-7}
(( EUID == 0 )) || { echo "squashfuse-options-bench: run as root" >&2; exit 2; }
squashfuse=${SQUASHFUSE:-/usr/bin/squashfuse_ll}
mnt=$(mktemp -d /tmp/cocoon-fuse-bench.XXXXXX)
samples=$(mktemp)
server=""
cleanup() {
    mountpoint -q "$mnt" && umount -l "$mnt"
    [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rmdir "$mnt"
    rm -f "$samples"
}
trap cleanup EXIT

names=("host (the same files)" "kernel squashfs" "squashfuse_ll (as cocoon runs it)" "squashfuse_ll -s" \
       "squashfuse_ll -o clone_fd" "squashfuse_ll -o max_threads=2")
options=("host" "kernel" "" "-s" "-o clone_fd" "-o max_threads=2")

mount_variant() {
    local i
    [[ "$1" == host ]] && return
    if [[ "$1" == kernel ]]; then
        mount -t squashfs -o loop,ro,nosuid,nodev "$image" "$mnt"
        return
    fi
    # shellcheck disable=SC2086  # the options are words
    "$squashfuse" -f $1 "$image" "$mnt" & server=$!
    for ((i = 0; i < 100; i++)); do mountpoint -q "$mnt" && return; sleep 0.05; done
    echo "squashfuse-options-bench: $squashfuse $1 did not mount" >&2
    exit 1
}

for ((round = 0; round < rounds; round++)); do
    for i in "${!names[@]}"; do
        mount_variant "${options[$i]}"
        root=$mnt
        [[ "${options[$i]}" == host ]] && root=/
        # A failed probe (a file the server did not find) is counted, not timed.
        if line=$(python3 bench/file_access_probe.py "$root" 2>/dev/null); then
            echo "$i $line" >> "$samples"
        else
            echo "$i failed" >> "$samples"
        fi
        mountpoint -q "$mnt" && umount "$mnt"
        if [[ -n "$server" ]]; then wait "$server" || true; server=""; fi
    done
done

python3 - "$samples" "${names[@]}" <<'PY'
import statistics, sys
lines = [line.split() for line in open(sys.argv[1])]
names = sys.argv[2:]
measures = ["import", "walk", "ls"]
medians = {}
for i, name in enumerate(names):
    mine = [l for l in lines if int(l[0]) == i]
    rows = [dict(zip(l[1::2], map(float, l[2::2]))) for l in mine if l[1] != "failed"]
    medians[name] = {m: statistics.median(r[m] for r in rows) if rows else float("nan")
                     for m in measures}
    medians[name]["failed"] = len(mine) - len(rows)
print(f"{'variant':36}" + "".join(f"{m + ' ms':>12}{'ratio':>7}" for m in measures) + "  failed")
base = medians[names[1]]
for name in names:
    print(f"{name:36}" + "".join(f"{medians[name][m]:12.0f}{medians[name][m] / base[m]:7.2f}"
                                 for m in measures) + f"  {medians[name]['failed']:6}")
PY
