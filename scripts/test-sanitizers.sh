#!/bin/bash
# The unit suite under AddressSanitizer and UndefinedBehaviorSanitizer, in ./build-asan.
# Builds only what that suite runs (its test programs and libcocoon), not the CLI, the
# holder or the plugin; extra arguments go to `meson test`. scripts/test.sh runs it and
# counts its results from build-asan/meson-logs/testlog-sanitizers.json.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-asan

if [[ ! -f $dir/build.ninja ]]; then
    # -O0: these objects are compiled on every CI run, and the suite is small. clang, not
    # g++: it compiles them with both sanitizers in about half the time (5.5 against 8.4
    # CPU minutes here), and CI runs this beside the integration suite on the same CPUs.
    # Shared libraries (the fake MPI libraries of the tests) leave the sanitizer runtime's
    # symbols to the executable that loads them: no --no-undefined (b_lundef).
    CXX=${COCOON_SANITIZER_CXX:-clang++} meson setup "$dir" --buildtype=debug \
        -Db_sanitize=address,undefined -Db_lundef=false
fi

# The files the unit suite needs, from meson's own description of the build.
mapfile -t outputs < <(meson introspect "$dir" --targets --tests | python3 -c '
import json, os, sys
build = os.path.realpath(sys.argv[1])
info = json.load(sys.stdin)
files = {t["id"]: t["filename"] for t in info["targets"]}
for test in info["tests"]:
    if "cocoon:unit" in test["suite"]:
        for target in test["depends"]:
            for name in files[target]:
                print(os.path.relpath(name, build))
' "$dir" | sort -u)
(( ${#outputs[@]} > 0 )) || { echo "test-sanitizers: no unit tests in $dir" >&2; exit 1; }
ninja -C "$dir" "${outputs[@]}"

rm -f "$dir"/meson-logs/testlog*.json
# The sanitizers' options are the test setup's (meson.build): halt on the first report.
exec meson test -C "$dir" --no-rebuild --setup sanitizers --suite unit --print-errorlogs "$@"
