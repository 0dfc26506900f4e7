# shellcheck shell=bash
# Sourced by the MPI tests (test_mpi_*.sh) after lib.sh: the MPI images of
# tests/harness/make-mpi-image.sh and the lines their /hello prints, one per rank:
#   mpi-hello rank=R size=S node=NODE sum=N libmpi=PATH libmpi_dev=D exe_dev=D version=TEXT

# shellcheck disable=SC2034
MPICH_SQSH=$IMAGES/mpich.sqsh
# shellcheck disable=SC2034
OPENMPI_SQSH=$IMAGES/openmpi.sqsh

# require_mpi_image FILE
require_mpi_image() {
    [[ -r "$1" ]] ||
        skip "MPI test image $1 missing (run tests/harness/make-mpi-image.sh $IMAGES)"
    # /hello exists only in the image: a rank that ran on the host could not print a line.
    [[ ! -e /hello ]] || fail "/hello exists on the host, so a rank could run outside the image"
}

# require_mpi_plugin NAME: srun --mpi=list offers NAME on this cluster.
require_mpi_plugin() {
    local list
    list=$(timeout 15 srun --mpi=list 2>&1)
    grep -Eq "(^|[[:space:]/])$1([[:space:]]|$)" <<<"$list" ||
        skip "srun --mpi=list does not offer $1: $list"
}

# hello_field LINE NAME: the value of NAME=... in one line of /hello.
hello_field() {
    local word
    for word in $1; do
        [[ "$word" == "$2="* ]] && { echo "${word#*=}"; return; }
    done
}

# check_hello WHAT RANKS NODES LIBMPI_GLOB VERSION_PREFIX [FROM]: $OUT (of run_user) holds one
# /hello line per rank 0..RANKS-1 from NODES distinct nodes; every rank has the same size,
# the sum of all ranks over MPI_Allreduce, mapped a libmpi whose path matches LIBMPI_GLOB
# from the filesystem /hello itself came from (FROM=image, the default) or from another
# one (FROM=host: a bind of the host's library), and reports a library version starting
# with VERSION_PREFIX.
check_hello() {
    local what=$1 ranks=$2 nodes=$3 lib_glob=$4 version=$5 from=${6:-image} line lines=() seen=() value
    assert_succeeded "$what"
    mapfile -t lines < <(grep '^mpi-hello ' <<<"$OUT")
    assert_eq "$ranks" "${#lines[@]}" "number of /hello lines of $what (stdout: $OUT; stderr: $ERR)"
    for line in "${lines[@]}"; do
        seen+=("$(hello_field "$line" rank)")
        assert_eq "$ranks" "$(hello_field "$line" size)" "MPI_Comm_size in '$line' ($what)"
        assert_eq $((ranks * (ranks - 1) / 2)) "$(hello_field "$line" sum)" \
            "MPI_Allreduce sum of the ranks in '$line' ($what)"
        value=$(hello_field "$line" libmpi)
        # shellcheck disable=SC2053  # a glob on purpose
        [[ "$value" == $lib_glob ]] ||
            fail "$what: the rank mapped '$value', expected $lib_glob: $line"
        if [[ "$from" == image ]]; then
            [[ "$(hello_field "$line" libmpi_dev)" == "$(hello_field "$line" exe_dev)" ]] ||
                fail "$what: $value is not from the image /hello came from: $line"
        else
            [[ "$(hello_field "$line" libmpi_dev)" != "$(hello_field "$line" exe_dev)" ]] ||
                fail "$what: $value is from the image /hello came from, not from the host: $line"
        fi
        [[ "${line#* version=}" == "$version"* ]] ||
            fail "$what: library version is not $version: $line"
    done
    assert_eq "$(seq 0 $((ranks - 1)))" "$(printf '%s\n' "${seen[@]}" | sort -n)" "ranks of $what"
    value=$(for line in "${lines[@]}"; do hello_field "$line" node; done | sort -u)
    assert_eq "$nodes" "$(wc -l <<<"$value")" "distinct nodes of $what ($value)"
    for line in $value; do
        [[ " ${TEST_NODES[*]} " == *" $line "* ]] ||
            fail "$what: a rank ran on '$line', which is not a node of the cluster (${TEST_NODES[*]})"
    done
}
