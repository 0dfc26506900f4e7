#!/bin/bash
# The whole test suite, on a fresh Debian 12 machine as root:
#   install packages -> build -> the unprivileged suite (as the test user, no cluster) ->
#   start a private three-node Slurm cluster on this machine -> run the linkage and
#   integration suites, and beside them (in the background, at a lower priority) the unit
#   suite under ASan/UBSan (build-asan) and scripts/lint.sh (clang-format, clang-tidy) ->
#   stop the cluster.
#   COCOON_SANITIZERS=0 leaves out the sanitizer run; the unit suite then runs in ./build.
# Ends with one line "N passed, N failed[, N skipped]"; exits non-zero when a test failed.
set -euo pipefail
cd "$(dirname "$0")/.."

if (( EUID != 0 )); then
    echo "test.sh: run as root (it installs packages, starts Slurm and submits as a test user)" >&2
    exit 2
fi

# How long each phase took, printed before the closing line (the suite's budget is 15 min).
phase_start=$SECONDS
phases=()
phase_done() { phases+=("$1 $((SECONDS - phase_start)) s"); phase_start=$SECONDS; }

scripts/install-deps.sh
phase_done install
scripts/build.sh
phase_done build

# The unit suite, built with AddressSanitizer and UndefinedBehaviorSanitizer (only
# its own targets), in the background at a lower priority while the cluster starts and the
# integration suite (which mostly waits on Slurm) runs. Its results count in the closing
# line; a failure does not stop the integration suites from running.
sanitizer_log=build-asan/meson-logs/testlog-sanitizers.json
sanitizer_output=build/meson-logs/sanitizers.txt
rm -f "$sanitizer_log" "$sanitizer_output"
sanitizer_pid=
if [[ "${COCOON_SANITIZERS:-1}" != 0 ]]; then
    nice -n 10 scripts/test-sanitizers.sh > "$sanitizer_output" 2>&1 &
    sanitizer_pid=$!
fi

state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
export COCOON_TEST_DIR=$state
# Every run starts from nothing an earlier run left: no image cache, no registry storage,
# no credentials or results. A suite that passes only on a machine that ran it before is
# red (the test images themselves are inputs, rebuilt by make-images.sh when they change).
tests/harness/registry.sh stop >/dev/null 2>&1 || true
[[ -d "$state" ]] && tests/harness/cluster.sh stop >/dev/null 2>&1 || true
rm -rf --one-file-system "$state/cache" "$state/shared-cache" "$state/kernel-cache" "$state/registry" \
    "$state/results" "$state"/unique.* "$state/unprivileged"
if test_home=$(getent passwd cocoontest | cut -d: -f6) && [[ -n "$test_home" ]]; then
    rm -rf --one-file-system "$test_home/.cache/cocoon" "$test_home/.config/cocoon" \
        "$test_home/.docker" "$test_home/work"
fi

# srun, sbatch and salloc load the plugin as the submitting user, who may not be able to
# read this checkout (under /root, say): stage an install where every user can.
mkdir -p "$state/etc"
chmod 0755 "$state" "$state/etc"
rm -rf "$state/install"
meson install -C build --no-rebuild --quiet --destdir "$state/install" >/dev/null
chmod -R a+rX "$state/install"
# The test configuration names its caches under the default state directory: follow
# COCOON_TEST_DIR, so that a run in another directory shares nothing with this one.
sed "s|/var/tmp/cocoon-test|$state|g" tests/integration/cocoon.yaml > "$state/etc/cocoon.yaml"
chmod 0644 "$state/etc/cocoon.yaml"
# The cluster's test images (make-mpi-image.sh alone takes about 40 s on two CPUs) are built
# in the background while the unprivileged suite runs; tests/harness/cluster.sh start then
# finds them up to date (or rebuilds them and says why, when this failed).
images_log=build/meson-logs/test-images.txt
{ tests/harness/make-images.sh "$state/images" && tests/harness/make-mpi-image.sh "$state/images"; } \
    > "$images_log" 2>&1 &
images_pid=$!
# The unprivileged suite needs no cluster: it runs before one exists (with test names given,
# it runs with the others, in any order). Its own log, counted in the closing line.
unprivileged_log=build/meson-logs/testlog-unprivileged.json
rm -f "$unprivileged_log"
unprivileged_status=0
main_options=()
if (( $# == 0 )); then
    COCOON_REQUIRE_CLUSTER=1 meson test -C build --no-rebuild --suite unprivileged --num-processes 1 \
        --print-errorlogs --logbase testlog-unprivileged || unprivileged_status=$?
    main_options=(--no-suite unprivileged)
    # The unit suite runs once, in the sanitizer build: the same tests, with every memory
    # error and undefined behaviour a failure. Its programs are then not built in ./build
    # (scripts/build.sh builds what is installed; without --no-rebuild, meson test would
    # build everything for the integration scripts, which name no build target).
    if [[ -n "$sanitizer_pid" ]]; then
        main_options+=(--no-suite unit --no-rebuild)
    fi
    phase_done "unprivileged suite"
fi

COCOON_PLUGIN=$(find "$state/install" -name spank_cocoon.so -print -quit)
export COCOON_PLUGIN
export COCOON_CONFIG=$state/etc/cocoon.yaml
export COCOON_REQUIRE_CLUSTER=1
wait "$images_pid" || echo "test.sh: building the test images in the background failed (see $images_log)" >&2
tests/harness/cluster.sh start
trap 'tests/harness/registry.sh stop >/dev/null 2>&1 || true
      tests/harness/cluster.sh stop >/dev/null 2>&1 || true' EXIT
# Two OCI registries on 127.0.0.1:5000 (open) and :5001 (Basic auth) with the test images.
tests/harness/registry.sh start
phase_done "cluster and registries"

# The style and static checks (scripts/lint.sh) run beside the integration suite, which
# mostly waits on Slurm, at a lower priority; they count as one more test.
lint_log=build/meson-logs/lint.txt
nice -n 10 scripts/lint.sh > "$lint_log" 2>&1 &
lint_pid=$!

# Integration tests share one cluster, whose nodes are this machine: one test at a time.
set +e
meson test -C build --num-processes 1 --print-errorlogs "${main_options[@]}" "$@"
status=$?
phase_done "suites in ./build"
wait "$lint_pid"
lint_status=$?
sanitizer_status=0
if [[ -n "$sanitizer_pid" ]]; then
    wait "$sanitizer_pid"
    sanitizer_status=$?
    echo "--- scripts/test-sanitizers.sh"
    tail -n 40 "$sanitizer_output"
fi
set -e
phase_done "waiting for lint and sanitizers"
echo "--- scripts/lint.sh"
cat "$lint_log"
(IFS=,; echo "test.sh: ${phases[*]}" | sed 's/,/, /g')

# meson's summary counts test programs; turn it into the one closing line CI reads.
# The sanitizer run counts too; when it failed before running anything (a build error) that
# is one failure, not silence.
logs=(build/meson-logs/testlog.json)
[[ -f "$unprivileged_log" ]] && logs+=("$unprivileged_log")
[[ -f "$sanitizer_log" ]] && logs+=("$sanitizer_log")
read -r passed failed skipped < <(python3 - "${logs[@]}" <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for line in (line for log in sys.argv[1:] for line in open(log)):
    result = json.loads(line)["result"]
    if result in ("OK", "EXPECTEDFAIL"):
        counts["passed"] += 1
    elif result == "SKIP":
        counts["skipped"] += 1
    else:
        counts["failed"] += 1
print(counts["passed"], counts["failed"], counts["skipped"])
PY
)
if (( sanitizer_status != 0 )) && [[ ! -f "$sanitizer_log" ]]; then
    failed=$((failed + 1))
fi
if (( unprivileged_status != 0 )) && [[ ! -f "$unprivileged_log" ]]; then
    failed=$((failed + 1))
fi
if (( lint_status == 0 )); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
summary="$passed passed, $failed failed"
(( skipped > 0 )) && summary+=", $skipped skipped"
echo "$summary"
(( status == 0 && sanitizer_status == 0 && unprivileged_status == 0 && lint_status == 0 && failed == 0 ))
