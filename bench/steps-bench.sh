#!/bin/bash
# What a container costs a Slurm step, and what file access costs inside it, measured side
# by side in one run on the test (or demo) cluster:
#
#   sudo bench/steps-bench.sh [ROUNDS]        (default 15 rounds)
#
# Every round runs each variant once, in turn, so that whatever the machine does meanwhile
# hits all of them alike; the table shows the median of each variant in milliseconds and
# its ratio to the first variant of its group (a bare step, or the same work on the host).
#
#   start   srun true, bare and in containers: the busybox squashfs (writable root, the
#           default, and --container-readonly), the busybox directory, a bigger squashfs
#           (busybox plus /usr/include: 9,000+ entries, ~140 MB), and srun -n 2
#   walk    `ls -lR` of a copy of /usr/include: on the host, in the squashfs image, in the
#           directory image
#   read    every file of that tree read once (cat), same three places
#
# Needs a running cluster (tests/harness/cluster.sh start, which also builds the busybox
# images) and root (it submits as the cluster's test user). The bench images are built once
# under $COCOON_TEST_DIR/bench. No ratio is asserted anywhere: targets are read off the table.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-15}
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
(( EUID == 0 )) || { echo "steps-bench: run as root (it submits as the test user)" >&2; exit 2; }
[[ -r "$state/env" ]] || { echo "steps-bench: no cluster in $state: run tests/harness/cluster.sh start" >&2; exit 2; }
# shellcheck source=/dev/null
source "$state/env"
export SLURM_CONF
user=cocoontest
images=${COCOON_IMAGES:-$state/images}
bench=$state/bench

# busybox + /usr/include at /data, as a directory and as a squashfs (the same tree).
if [[ ! -f "$bench/data.sqsh" ]]; then
    echo "steps-bench: building the bench images in $bench" >&2
    rm -rf "$bench"
    install -d -m 0755 "$bench"
    cp -a "$images/busybox" "$bench/data"
    cp -a /usr/include "$bench/data/data"
    mksquashfs "$bench/data" "$bench/data.sqsh" -quiet -no-progress -all-root >/dev/null
    chmod -R a+rX "$bench"
fi

names=() commands=() groups=()
add() { groups+=("$1"); names+=("$2"); commands+=("$3"); }
sq=$images/busybox.sqsh dir=$images/busybox
add start "bare srun" "srun true"
add start "busybox.sqsh" "srun --container=$sq true"
add start "busybox.sqsh, read-only" "srun --container=$sq --container-readonly true"
add start "busybox directory" "srun --container=$dir true"
add start "busybox+include.sqsh" "srun --container=$bench/data.sqsh true"
add start "bare srun -n 2" "srun -n 2 true"
add start "busybox.sqsh, srun -n 2" "srun -n 2 --container=$sq true"
# The work's output stays in the task (>/dev/null there): only the file access is measured,
# not Slurm's I/O forwarding. The host runs the same busybox programs as the image.
walk='ls -lR DATA >/dev/null'
read_all='find DATA -type f -exec cat {} + >/dev/null'
inside() { echo "srun --container=$1 sh -c '${2//DATA//data}'"; }
host_busybox() { echo "${1//ls /busybox ls }" | sed 's/find /busybox find /; s/-exec cat/-exec busybox cat/'; }
add walk "host" "srun busybox sh -c '$(host_busybox "${walk//DATA/$bench/data/data}")'"
add walk "squashfs image" "$(inside "$bench/data.sqsh" "$walk")"
add walk "directory image" "$(inside "$bench/data" "$walk")"
add read "host" "srun busybox sh -c '$(host_busybox "${read_all//DATA/$bench/data/data}")'"
add read "squashfs image" "$(inside "$bench/data.sqsh" "$read_all")"
add read "directory image" "$(inside "$bench/data" "$read_all")"

samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
for ((round = 0; round < rounds; round++)); do
    for i in "${!commands[@]}"; do
        start=$(date +%s%N)
        if ! runuser -u "$user" -- bash -c "cd /tmp && ${commands[$i]}" >/dev/null 2>"$samples.err"; then
            echo "steps-bench: '${commands[$i]}' failed: $(tail -n 1 "$samples.err")" >&2
            rm -f "$samples.err"
            exit 1
        fi
        end=$(date +%s%N)
        echo "$i $(((end - start) / 1000))" >> "$samples"
    done
    printf '.' >&2
done
rm -f "$samples.err"
echo >&2

median_ms() {
    awk -v i="$1" '$1 == i { print $2 }' "$samples" | sort -n |
        awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}

printf '%-7s %-26s %10s %7s\n' group variant "median ms" ratio
base=""
last_group=""
for i in "${!commands[@]}"; do
    ms=$(median_ms "$i")
    # -n 2 is compared with a bare -n 2 step, the rest with the first of the group.
    if [[ "${groups[$i]}" != "$last_group" || "${names[$i]}" == "bare srun -n 2" ]]; then
        base=$ms
    fi
    last_group=${groups[$i]}
    printf '%-7s %-26s %10s %7s\n' "${groups[$i]}" "${names[$i]}" "$ms" \
        "$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
done
echo "($rounds rounds, interleaved; $(nproc) CPUs; $(uname -r))"
