#!/bin/bash
# Who resolves a registry tag for a step, srun once or each node: `srun true` in a cached
# registry image named by tag, on one node and on three (the test cluster's partition
# "multi"), with cocoon.yaml srun_resolves_tags true and false, interleaved, against bare
# `srun true` on as many nodes:
#
#   sudo bench/tag-resolution-bench.sh [ROUNDS]        (default 10)
#
# srun resolves only steps on several nodes, so the one-node rows show what that choice
# leaves as it was. The test cluster's three nodes share this machine's CPUs: there, the
# nodes' own requests (each loads libcurl) run side by side on two CPUs, which real nodes
# would not. Prints medians in ms, and the registry's manifest requests per step.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "tag-resolution-bench: ROUNDS '$rounds' is not a number" >&2; exit 2; }
(( EUID == 0 )) || { echo "tag-resolution-bench: run as root (it submits as the cluster's test user)" >&2; exit 2; }
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
if [[ -z "${COCOON_BENCH_CLUSTER:-}" ]]; then
    exec bench/with-cluster.sh bench/tag-resolution-bench.sh "$rounds"
fi

# shellcheck source=/dev/null
source "$state/env"
export SLURM_CONF
user=cocoontest
image=127.0.0.1:5000/test/busybox:latest
registry_log=$state/registry/open.log
plugstack=$(sed -n 's/^PlugStackConfig=//p' "$SLURM_CONF")
config=$(sed -n 's/.* config=\([^ ]*\).*/\1/p' "$plugstack")
[[ -f "$config" ]] || { echo "tag-resolution-bench: $plugstack names no cocoon.yaml (config=)" >&2; exit 1; }
saved=$(cat "$config")
work=$(mktemp -d /tmp/cocoon-tag-bench.XXXXXX)
chown "$user" "$work"
trap 'printf "%s\n" "$saved" > "$config"; rm -rf --one-file-system "$work"' EXIT
# wait_idle, as_user_timed
# shellcheck source=bench/timed-steps.sh
source bench/timed-steps.sh

resolving() { # true|false
    { printf '%s\n' "$saved" | grep -v '^srun_resolves_tags:'; echo "srun_resolves_tags: $1"; } > "$config"
}
declare -A samples requests
sample() { # ROW NODES COMMAND...
    local row=$1 nodes=$2 ms before
    shift 2
    before=$(wc -l < "$registry_log")
    if ! ms=$(as_user_timed "srun -p multi -N$nodes $*"); then
        echo "tag-resolution-bench: srun -N$nodes $* failed:" >&2
        cat "$work/err" >&2
        exit 1
    fi
    samples[$row]+="$ms "
    requests[$row]=$(tail -n +"$((before + 1))" "$registry_log" | grep -cE '"(GET|HEAD) /v2/test/busybox/manifests/' || true)
}

as_user_timed "srun --container=$image true" >/dev/null # import it into the user's cache
for ((round = 1; round <= rounds; round++)); do
    for nodes in 1 3; do
        sample "bare -N$nodes" "$nodes" true
        resolving true
        sample "-N$nodes, srun resolves" "$nodes" "--container=$image" true
        resolving false
        sample "-N$nodes, each node resolves" "$nodes" "--container=$image" true
    done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-32s %9s %9s %s\n' "srun true, cached registry image" "median ms" "over bare" "manifest requests (last round)"
for nodes in 1 3; do
    bare=$(median <<<"${samples[bare -N$nodes]}")
    for row in "bare -N$nodes" "-N$nodes, srun resolves" "-N$nodes, each node resolves"; do
        value=$(median <<<"${samples[$row]}")
        printf '%-32s %9.1f %+9.1f %s\n' "$row" "$value" "$(awk -v a="$value" -v b="$bare" 'BEGIN { print a - b }')" "${requests[$row]}"
    done
done
