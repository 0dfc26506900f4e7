# shellcheck shell=bash
# Sourced by the catalogue tests (test_catalogue_*.sh) after lib.sh: hostile variants of
# the busybox test image and small static probes, built by the test itself in a private
# directory that goes away when the test ends. docs/security.md maps each test to the
# catalogue cases it covers.

# Root-owned, world-readable scratch directory for this test's images and probes.
CATALOGUE_DIR=$(mktemp -d "$COCOON_TEST_DIR/catalogue.XXXXXX") ||
    fail "cannot create a scratch directory in $COCOON_TEST_DIR"
chmod 0755 "$CATALOGUE_DIR"

# Like IN_IMAGE, for the busybox image of the OCI fixtures (oci:$IMAGES/oci/busybox).
# shellcheck disable=SC2034
IN_OCI_IMAGE='grep -q "^ID=cocoon-registry$" /etc/os-release || { echo "cocoon-test: task is not inside the OCI test image" >&2; exit 99; }'

catalogue_cleanup() {
    [[ -n "${CATALOGUE_DIR:-}" && -d "$CATALOGUE_DIR" ]] && rm -rf --one-file-system "$CATALOGUE_DIR"
}

# variant_dir NAME: a root-owned copy of the busybox root filesystem at
# $CATALOGUE_DIR/NAME for the test to change; prints the path.
variant_dir() {
    local dir=$CATALOGUE_DIR/$1
    cp -a "$BUSYBOX_DIR" "$dir" || fail "cannot copy $BUSYBOX_DIR"
    chown -R 0:0 "$dir"
    echo "$dir"
}

# variant_sqsh NAME [MKSQUASHFS ARGS...]: squashfs of the directory $CATALOGUE_DIR/NAME
# (owners and modes kept) at $CATALOGUE_DIR/NAME.sqsh; prints the path.
variant_sqsh() {
    local name=$1
    shift
    mksquashfs "$CATALOGUE_DIR/$name" "$CATALOGUE_DIR/$name.sqsh" -noappend -quiet \
        -no-progress "$@" >/dev/null || fail "mksquashfs of $name failed"
    chmod 0644 "$CATALOGUE_DIR/$name.sqsh"
    echo "$CATALOGUE_DIR/$name.sqsh"
}

# build_probe NAME: compile C source from stdin into a static binary
# $CATALOGUE_DIR/NAME (static: the busybox image has no C library); prints the path.
build_probe() {
    local out=$CATALOGUE_DIR/$1
    command -v cc >/dev/null || skip "no C compiler for the probe $1 (apt-get install gcc)"
    cc -static -O1 -o "$out" -x c - || fail "cannot build the probe $1"
    chmod 0755 "$out"
    echo "$out"
}
