# shellcheck shell=bash
# Sourced by the bench scripts that build a Python image (make-bench-images.sh,
# file-access-bench.sh).
#
# copy_python_tree TREE [EXECUTABLE...]: the host's python3.11 with its standard library and
# site packages, ls, sh (dash) and the EXECUTABLEs, plus every library they load, into
# TREE (usr-merged: /bin, /lib and /lib64 are links into /usr).
copy_python_tree() {
    local tree=$1 lib
    shift
    mkdir -p "$tree/usr/bin" "$tree/usr/lib/python3" "$tree/usr/lib64"
    cp -a /usr/lib/python3.11 "$tree/usr/lib/"
    cp -a /usr/lib/python3/dist-packages "$tree/usr/lib/python3/"
    cp -aL /usr/bin/python3.11 /usr/bin/ls "$@" "$tree/usr/bin/"
    cp -aL /bin/dash "$tree/usr/bin/sh"
    ln -s python3.11 "$tree/usr/bin/python3"
    ln -s usr/bin "$tree/bin"
    ln -s usr/lib "$tree/lib"
    ln -s usr/lib64 "$tree/lib64"
    # ldd fails for the executables that are scripts: their libraries are none.
    { find "$tree" -type f \( -name '*.so*' -o -perm -u+x \) -print0 | xargs -0 ldd 2>/dev/null || true; } |
        awk '/=>/ { print $3 } /^\t\/lib64/ { print $1 }' | sort -u |
        while read -r lib; do
            [[ -f "$lib" ]] || continue
            mkdir -p "$tree$(dirname "$lib")"
            cp -L "$lib" "$tree$(dirname "$lib")/"
        done
}
