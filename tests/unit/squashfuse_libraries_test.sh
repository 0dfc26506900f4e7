#!/bin/bash
# cocoon-squashfuse starts with every fresh mount of a step, so it loads as little as it
# can: libc alone when its C libraries are linked in (meson option static_squashfuse, the
# default: helper/meson.build says why), and never libstdc++.
# Usage: squashfuse_libraries_test.sh FILE ALLOWED...
set -euo pipefail
(( $# > 1 )) || { echo "usage: squashfuse_libraries_test.sh FILE ALLOWED..." >&2; exit 2; }
file=$1
shift
mapfile -t needed < <(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
# No libc among them means the listing was not read: the check would pass on nothing.
[[ " ${needed[*]} " == *" libc.so.6 "* ]] ||
    { echo "squashfuse_libraries_test: $file: no libc among what it loads (${needed[*]})" >&2; exit 1; }
for library in "${needed[@]}"; do
    [[ " $* " == *" $library "* ]] ||
        { echo "squashfuse_libraries_test: $file loads $library (allowed: $*)" >&2; exit 1; }
done
echo "squashfuse_libraries_test: $file loads ${needed[*]}"
