#!/bin/bash
# What modules cost a container start: `cocoon run IMAGE true` with no module, with munge,
# and with slurm+munge (the biggest shipped module: about 90 mounts), measured in the same
# run, medians of N runs each (default 30); prints each as a ratio to the run without.
#   bench/modules-bench.sh [N]
# Needs an installed (or staged) cocoon: COCOON=/path/to/bin/cocoon (default: cocoon in
# PATH), COCOON_YAML (default: etc/cocoon.yaml of this checkout, whose slurm and munge
# modules need the node's slurm.conf and munge socket: set SLURM_CONF for a private
# cluster) and IMAGE (default: the busybox test image of the harness). Run it as an
# unprivileged user; no Slurm job is started.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
cocoon=${COCOON:-cocoon}
config=${COCOON_YAML:-$PWD/etc/cocoon.yaml}
image=${IMAGE:-${COCOON_TEST_DIR:-/var/tmp/cocoon-test}/images/busybox}

median_ms() {
    local samples=() i start end
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s%N)
        "$cocoon" run -c "$config" "$@" "$image" true >/dev/null
        end=$(date +%s%N)
        samples+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${samples[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}

base=$(median_ms --no-container-modules)
printf '%-28s %8s ms  %s\n' "no modules" "$base" "1.00"
for modules in munge slurm,munge; do
    ms=$(median_ms --container-modules="$modules")
    printf '%-28s %8s ms  %s\n' "$modules" "$ms" "$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
done
