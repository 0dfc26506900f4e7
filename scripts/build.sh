#!/bin/bash
# Configure (once) and compile cocoon in ./build. Extra arguments go to `meson setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/build.ninja ]]; then
    meson setup build "$@"
fi
meson compile -C build
