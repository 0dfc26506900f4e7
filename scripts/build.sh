#!/bin/bash
# Configure (once) and compile cocoon in ./build. Extra arguments go to `meson setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/build.ninja ]]; then
    meson setup build "$@"
fi
# What `meson install` installs, not the unit test programs: `meson test` builds those when
# it runs them, and they take as long to compile as the rest (scripts/test.sh runs the unit
# suite in its sanitizer build). `meson compile -C build` builds everything.
mapfile -t installed < <(meson introspect build --targets | python3 -c '
import json, os, sys
for target in json.load(sys.stdin):
    if target["installed"]:
        for name in target["filename"]:
            print(os.path.relpath(name, os.path.realpath("build")))
')
(( ${#installed[@]} > 0 )) || { echo "build.sh: meson lists nothing to install in ./build" >&2; exit 1; }
ninja -C build "${installed[@]}"
