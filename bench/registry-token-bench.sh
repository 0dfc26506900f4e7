#!/bin/bash
# Kept registry tokens: `srun true` in a cached registry image named by tag, against a
# registry with token authentication (tests/harness/fault-registry.py, as Docker Hub's),
# with the token an earlier step kept against one that no step can keep (the same image in
# the "bearershort" repository, whose tokens are good for 2 s: every step asks for a new
# one, as every step did before tokens were kept), interleaved, against bare `srun true`:
#
#   sudo bench/registry-token-bench.sh [ROUNDS] [DELAY_MS]     (default 10 rounds, 0 ms)
#
# Prints medians in ms and the registry's requests per step. The registry and its token
# service are a Python server on 127.0.0.1; DELAY_MS holds each of its answers back, as a
# registry that far away would (a real one's token service is another host, over TLS).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
delay=${2:-0}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "registry-token-bench: ROUNDS '$rounds' is not a number" >&2; exit 2; }
[[ "$delay" =~ ^[0-9]+$ ]] || { echo "registry-token-bench: DELAY_MS '$delay' is not a number" >&2; exit 2; }
(( EUID == 0 )) || { echo "registry-token-bench: run as root (it submits as the cluster's test user)" >&2; exit 2; }
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
if [[ -z "${COCOON_BENCH_CLUSTER:-}" ]]; then
    exec bench/with-cluster.sh bench/registry-token-bench.sh "$rounds" "$delay"
fi

# shellcheck source=/dev/null
source "$state/env"
export SLURM_CONF
user=cocoontest
port=5002 # tests/integration/cocoon.yaml marks 127.0.0.1:5002 insecure (plain HTTP)
work=$(mktemp -d /tmp/cocoon-token-bench.XXXXXX)
chown "$user" "$work"
log=$work/registry.log
touch "$log"
setsid python3 tests/harness/fault-registry.py "$state/images/oci/busybox" "$port" "$log" "$delay" \
    >"$work/registry.out" 2>&1 </dev/null &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf --one-file-system "$work"' EXIT
for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break
    sleep 0.1
done
# wait_idle, as_user_timed
# shellcheck source=bench/timed-steps.sh
source bench/timed-steps.sh

declare -A samples requests
sample() { # ROW COMMAND
    local ms before
    before=$(wc -l < "$log")
    if ! ms=$(as_user_timed "$2"); then
        echo "registry-token-bench: '$2' failed:" >&2
        cat "$work/err" >&2
        exit 1
    fi
    samples[$1]+="$ms "
    requests[$1]=$(tail -n +"$((before + 1))" "$log" | grep -c . || true)
}

kept=127.0.0.1:$port/test/bearer:latest
unkept=127.0.0.1:$port/test/bearershort:latest
# Imported into the user's cache (and the first token kept) before the rounds.
as_user_timed "srun --container=$kept true" >/dev/null
as_user_timed "srun --container=$unkept true" >/dev/null
for ((round = 1; round <= rounds; round++)); do
    sample "bare srun" "srun true"
    sample "kept token" "srun --container=$kept true"
    sample "no kept token" "srun --container=$unkept true"
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "registry-token-bench: $(date -I), $(nproc) CPUs, $rounds rounds interleaved, medians; each registry answer delayed $delay ms"
printf '%-36s %9s %9s %s\n' "srun true, cached image by tag" "median ms" "over bare" "registry requests (last round)"
bare=$(median <<<"${samples[bare srun]}")
for row in "bare srun" "kept token" "no kept token"; do
    value=$(median <<<"${samples[$row]}")
    printf '%-36s %9.1f %+9.1f %s\n' "$row" "$value" "$(awk -v a="$value" -v b="$bare" 'BEGIN { print a - b }')" "${requests[$row]}"
done
