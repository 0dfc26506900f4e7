#!/bin/bash
# Run the integration tests named in tests/integration/list.txt one after another
# (they share one cluster and check for leftovers globally, so never in parallel).
#
#   run-integration.sh [--reverse | --shuffle[=SEED]] [TEST_NAME...]
#
# --reverse and --shuffle change the order (tests must not depend on it: run them so to
# show it); the seed of a shuffle is printed so that an order that fails can be replayed.
#
# Expects a running cluster (tests/harness/cluster.sh start). Prints one line per test and
# ends with "N passed, N failed, N skipped"; exits 1 when any test failed.
# Full output of each test: $COCOON_TEST_DIR/results/<test>.log
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
tests_dir=$here/../integration
results=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}/results
mkdir -p "$results"

order=listed
case ${1:-} in
    --reverse) order=reverse; shift ;;
    --shuffle) order=shuffle; seed=$RANDOM; shift ;;
    --shuffle=*) order=shuffle; seed=${1#--shuffle=}; shift ;;
esac

if (( $# > 0 )); then
    names=("$@")
else
    mapfile -t names < <(grep -v '^[[:space:]]*$' "$tests_dir/list.txt")
fi
case $order in
    reverse) mapfile -t names < <(printf '%s\n' "${names[@]}" | tac) ;;
    shuffle)
        echo "order: --shuffle=$seed"
        mapfile -t names < <(printf '%s\n' "${names[@]}" |
                             shuf --random-source=<(yes "$seed")) ;;
esac

passed=0 failed=0 skipped=0
for name in "${names[@]}"; do
    name=${name%.sh}
    log=$results/$name.log
    start=$SECONDS
    timeout 120 "$tests_dir/$name.sh" >"$log" 2>&1
    rc=$?
    case $rc in
        0)  verdict=PASS; passed=$((passed + 1)) ;;
        77) verdict=SKIP; skipped=$((skipped + 1)) ;;
        *)  verdict="FAIL (rc $rc)"; failed=$((failed + 1)) ;;
    esac
    printf '%-40s %-12s %3ss\n' "$name" "$verdict" "$((SECONDS - start))"
    if [[ $rc != 0 ]]; then
        grep -E '^(FAIL|SKIP) ' "$log" | head -n 3 | sed 's/^/    /'
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))
