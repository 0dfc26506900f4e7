#!/bin/bash
# The mpich module's ABI check and library replacement (abi_check in the test cocoon.yaml):
# the host's MPICH replaces the MPI image's own libmpich.so.12 when the image's passes the
# module's policy, and a container whose image has a newer library than the host's is
# refused under policy full (accepted under major) with a one-line message naming both
# versions and the policy, leaving nothing behind; so is an image library the node has no
# replacement for. The "older host" is a stub libmpich.so.12
# built here that exports MPICH's version constants (MPII_Version_ABI, MPII_Version_string).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
require_plugin
require_mpi_image "$MPICH_SQSH"
require_mpi_plugin pmi2
command -v gcc >/dev/null || fail "gcc is needed to build the stub MPICH library"
# The host's libmpich as the module finds it: through the ld.so cache.
host_lib=$(ldconfig -p | awk '$1 == "libmpich.so.12" && /x86-64/ { print $NF; exit }')
[[ -n "$host_lib" ]] || skip "the host has no libmpich.so.12 (apt-get install libmpich12)"
# Its version (libtool's, from the file name) and MPICH release; the MPI image holds the same
# packages (make-mpi-image.sh takes the installed versions).
version=$(readlink -f "$host_lib")
version=${version##*/libmpich.so.}
release=$(dpkg-query -W -f='${Version}' libmpich12 | sed 's/^[0-9]*://; s/-.*//')

fake=$COCOON_TEST_DIR/fakempich
cleanup() {
    rm -rf --one-file-system "$fake"
}
trap cleanup EXIT
cleanup
install -d -m 0755 "$fake/lib" "$fake/src"
cat > "$fake/src/mpich.c" <<'SRC'
const char MPII_Version_ABI[] = "13:0:1";
const char MPII_Version_string[] = "3.4.1";
SRC
gcc -shared -fPIC -Wl,-soname,libmpich.so.12 -o "$fake/lib/libmpich.so.12.1.0" "$fake/src/mpich.c"
ln -s libmpich.so.12.1.0 "$fake/lib/libmpich.so.12"
chmod -R a+rX "$fake"

# Both ranks run the host's libmpich, bound at /.cocoon/lib, not the image's own.
wait_idle
run_user timeout 120 srun -n2 --mpi=pmi2 --container-modules=mpich "--container=$MPICH_SQSH" /hello
check_hello "srun -n2 --mpi=pmi2 --container-modules=mpich --container=$MPICH_SQSH" 2 1 \
    '/.cocoon/lib/libmpich.so.12' 'MPICH Version: 4.' host

# What the host offers, as an admin sees it.
run_user "$COCOON" run -c "$(_plugin_config)" --dry-run --container-modules=mpich "$MPICH_SQSH"
assert_succeeded "cocoon run --dry-run --container-modules=mpich"
assert_contains "$OUT" "abi       libmpi.so.12 <- $host_lib $version (MPICH $release), policy full (module mpich)" "dry run"
assert_contains "$OUT" "bind      /.cocoon/lib/libmpi.so.12 <- $host_lib [ro] (module mpich)" "dry run"

# A host library older than the image's: refused under full, before any task runs.
wait_idle
run_user timeout 60 srun --container-modules=mpichold "--container=$MPICH_SQSH" sh -c 'echo task ran'
assert_failed "srun --container-modules=mpichold"
assert_not_contains "$OUT" "task ran" "a refused container runs no task"
assert_contains "$ERR" "module 'mpichold': the image's libmpich.so.12 is version $version (MPICH $release), the host's libmpich.so.12 that would replace it is 12.1.0 (MPICH 3.4.1); abi_check policy 'full' needs the host's version to be the image's or newer" "ABI refusal"
assert_eq 1 "$(grep -c "abi_check policy" <<<"$ERR")" "one line for the refusal ($ERR)"

# An image library the node cannot replace: refused, never mixed with the host's libmpich.
wait_idle
run_user timeout 60 srun --container-modules=mpichnofortran "--container=$MPICH_SQSH" sh -c 'echo task ran'
assert_failed "srun --container-modules=mpichnofortran"
assert_not_contains "$OUT" "task ran" "a refused container runs no task"
assert_contains "$ERR" "module 'mpichnofortran': the image has libmpichfort.so.12 (" "refusal without a host library"
assert_contains "$ERR" "and this node has no libcocoon-no-such-fortran.so.12 to replace it" "refusal without a host library"

# The same library under policy major: the same soname major is enough.
wait_idle
run_user timeout 60 srun --container-modules=mpicholdmajor "--container=$MPICH_SQSH" sh -c 'echo task ran'
assert_succeeded "srun --container-modules=mpicholdmajor"
assert_contains "$OUT" "task ran" "policy major accepts 12.1.0 for 12.2.2"

assert_no_leftovers
assert_node_healthy
pass
