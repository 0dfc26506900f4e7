#!/bin/bash
# What a warm image mount (cocoon.yaml warm_mount_linger) saves a job's second step:
#
#   sudo bench/warm-mount-bench.sh [ROUNDS]        (default 5 rounds)
#
# Each round submits two jobs, one with warm mounts and one without (the cluster's
# cocoon.yaml gets warm_mount_linger for the first and is restored at the end), each
# running two steps of `ls -lR /data` in a read-only container of the busybox +
# /usr/include squashfs it builds once under $COCOON_TEST_DIR/bench. The batch script
# times each step on the host (srun included). The table shows medians in ms and the ratio to the cold first step.
# Needs the test cluster running (tests/harness/cluster.sh start) and root. No ratio is
# asserted anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
(( EUID == 0 )) || { echo "warm-mount-bench: run as root (it submits as the test user)" >&2; exit 2; }
[[ -r "$state/env" ]] || { echo "warm-mount-bench: no cluster in $state: run tests/harness/cluster.sh start" >&2; exit 2; }
# shellcheck source=/dev/null
source "$state/env"
export SLURM_CONF
user=cocoontest
images=${COCOON_IMAGES:-$state/images}
bench=$state/bench
plugstack=$state/etc/plugstack.conf
config=$(grep -oE 'config=[^ ]+' "$plugstack" | head -n1 | cut -d= -f2)
[[ -n "$config" ]] || config=$state/etc/cocoon.yaml

if [[ ! -f "$bench/data.sqsh" ]]; then
    echo "warm-mount-bench: building the bench image in $bench" >&2
    rm -rf "$bench"
    install -d -m 0755 "$bench"
    cp -a "$images/busybox" "$bench/data"
    cp -a /usr/include "$bench/data/data"
    mksquashfs "$bench/data" "$bench/data.sqsh" -quiet -no-progress -all-root >/dev/null
    chmod -R a+rX "$bench"
fi

work=$(mktemp -d /tmp/warm-bench.XXXXXX)
chown "$user" "$work"
saved=$(mktemp)
cp -p "$config" "$saved"
restore() { cat "$saved" > "$config"; rm -rf "$saved" "$work"; }
trap restore EXIT

cat > "$work/job.sh" <<EOF
#!/bin/bash
for step in first second; do
    start=\$(date +%s%N)
    srun --container-readonly --container=$bench/data.sqsh sh -c 'ls -lR /data >/dev/null' || exit 1
    echo "\$step \$(( (\$(date +%s%N) - start) / 1000 ))"
done
EOF
chmod 0755 "$work/job.sh"
chown "$user" "$work/job.sh"

wait_idle() {
    local i
    for ((i = 0; i < 150; i++)); do
        [[ -z "$(squeue -h -o %i)" ]] && return
        sleep 0.2
    done
}

samples=$(mktemp -p "$work")
for ((round = 0; round < rounds; round++)); do
    for mode in warm cold; do
        sed -i '/^warm_mount_linger:/d' "$config"
        [[ "$mode" == warm ]] && echo "warm_mount_linger: 30" >> "$config"
        wait_idle
        out=$work/$mode.$round.out
        runuser -u "$user" -- bash -c "cd $work && sbatch --wait -o $out job.sh" >/dev/null ||
            { echo "warm-mount-bench: the $mode job failed: $(cat "$out" 2>/dev/null)" >&2; exit 1; }
        awk -v m="$mode" '{ print m, $1, $2 }' "$out" >> "$samples"
    done
    printf '.' >&2
done
echo >&2

median_ms() {
    awk -v m="$1" -v s="$2" '$1 == m && $2 == s { print $3 }' "$samples" | sort -n |
        awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}
base=$(median_ms cold first)
printf '%-40s %10s %7s\n' "ls -lR /data (srun included)" "median ms" ratio
for row in "cold first:warm_mount_linger 0, first step" "cold second:warm_mount_linger 0, second step" \
    "warm first:warm_mount_linger 30, first step" "warm second:warm_mount_linger 30, second step"; do
    ms=$(median_ms ${row%%:*})
    printf '%-40s %10s %7s\n' "${row#*:}" "$ms" "$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
done
echo "($rounds rounds, interleaved; $(nproc) CPUs; $(uname -r))"
