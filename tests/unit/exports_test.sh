#!/bin/bash
# libcocoon, libcocoon-cache and libcocoon-import export their public API and nothing else
# (libcontainer/libcocoon.map, libcocoon-cache.map, libcocoon-import.map).
# Usage: exports_test.sh LIBRARY_SO PUBLIC_HEADER_DIR WANTED...
#
# Every exported symbol must be a member, the typeinfo or vtable of a class or struct
# declared in a public header, or a function a public header declares: the name right
# after "cocoon::" must appear there as "class NAME", "struct NAME" or "NAME(". A C name
# must start with "cocoon_" and be declared there too. Internals (cocoon::ImageCache,
# cocoon::sys::..., cocoon::merge_layers, other libraries' symbols) fail the test, naming
# the symbol. Each WANTED name (cocoon::WANTED) must be exported.
set -euo pipefail
lib=$1
headers=$2
shift 2
wanted_names=("$@")

public_names=$(cat "$headers"/*.h |
    grep -oE '(class|struct) [A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*\(' |
    sed -E 's/^(class|struct) //; s/\($//' | sort -u)
is_public() { grep -qxF -- "$1" <<<"$public_names"; }

# Absolute symbols (type A) are the version nodes themselves.
mapfile -t symbols < <(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' |
    c++filt | sed -E 's/@@?[A-Za-z0-9_.]+$//')
if (( ${#symbols[@]} == 0 )); then
    echo "exports_test: $lib exports nothing" >&2
    exit 1
fi

bad=0
exported_functions=()
for symbol in "${symbols[@]}"; do
    name=${symbol#typeinfo name for }
    name=${name#typeinfo for }
    name=${name#vtable for }
    if [[ "$name" =~ ^cocoon::([A-Za-z_][A-Za-z0-9_]*) ]] && is_public "${BASH_REMATCH[1]}"; then
        exported_functions+=("${BASH_REMATCH[1]}")
        continue
    fi
    if [[ "$name" =~ ^cocoon_[A-Za-z0-9_]*$ ]] && is_public "$name"; then
        continue
    fi
    echo "exports_test: not part of the public API but exported: $symbol" >&2
    bad=1
done

# The public API itself is there (a version script that exports nothing would pass above).
for wanted in "${wanted_names[@]}"; do
    if ! grep -qxF "$wanted" <<<"$(printf '%s\n' "${exported_functions[@]}")"; then
        echo "exports_test: public cocoon::$wanted is not exported" >&2
        bad=1
    fi
done
(( bad == 0 )) && echo "exports_test: ${#symbols[@]} symbols, all public API"
exit "$bad"
