#!/bin/bash
# What srun, slurmstepd and the holder load for every step stays small: the plugin, the
# holder program, libcocoon and libcocoon-cache (loaded for every registry image) need
# neither libcurl, libarchive, libisal nor libcrypto (libcrypto alone takes about 6 ms to
# load and initialise in each process). Those belong to libcocoon-import, which libcocoon
# loads only when an image must be imported (cocoon/importer.h).
# Usage: needed_libraries_test.sh LIBCOCOON_IMPORT FILE...
# (libcocoon-import must link libcurl: that shows the check reads what a file links.)
set -euo pipefail
(( $# > 1 )) ||
    { echo "usage: needed_libraries_test.sh LIBCOCOON_IMPORT FILE..." >&2; exit 2; }
needed_by() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
importer=$1
shift
grep -q '^libcurl' <<<"$(needed_by "$importer")" ||
    { echo "needed_libraries_test: $importer does not link libcurl?" >&2; exit 1; }
bad=0
files=0
heavy=(libcurl libarchive libisal libcrypto libssl libgnutls)
for file in "$@"; do
    files=$((files + 1))
    needed=$(needed_by "$file")
    [[ -n "$needed" ]] || { echo "needed_libraries_test: $file needs no library at all?" >&2; bad=1; }
    for library in "${heavy[@]}"; do
        if grep -q "^$library" <<<"$needed"; then
            echo "needed_libraries_test: $file links $(grep "^$library" <<<"$needed")" >&2
            bad=1
        fi
    done
done
(( bad == 0 )) && echo "needed_libraries_test: $files files, none links more than it may"
exit "$bad"
