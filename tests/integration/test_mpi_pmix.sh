#!/bin/bash
# Open MPI inside a container under Slurm's PMIx (srun --mpi=pmix): the image brings its own
# Open MPI and PMIx client (libopenmpi3, libpmix2; tests/harness/make-mpi-image.sh). The
# ranks reach the step's PMIx server through its rendezvous directory under slurmd's spool
# (PMIX_SERVER_TMPDIR), which the container sees at the same path, and nowhere else of the
# spool. One node and two.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
require_plugin
require_mpi_image "$OPENMPI_SQSH"
require_mpi_plugin pmix

run_user timeout 120 srun -n2 --mpi=pmix "--container=$OPENMPI_SQSH" /hello
check_hello "srun -n2 --mpi=pmix --container=$OPENMPI_SQSH" 2 1 '*/libmpi.so.40*' 'Open MPI v4.'

# Inside: the server's directory is there at its host path, owned by the job user, and it
# is the only part of slurmd's spool the container sees.
wait_idle
run_user timeout 120 srun -n1 --mpi=pmix "--container=$OPENMPI_SQSH" sh -c \
    'grep -q "^ID=cocoon-openmpi" /etc/os-release || exit 99
     d=${PMIX_SERVER_TMPDIR%/}; echo "dir=$d"; stat -c "owner=%u" "$d"; ls "${d%/*}"'
assert_succeeded "srun -n1 --mpi=pmix --container=$OPENMPI_SQSH sh -c (the server directory)"
dir=$(sed -n 's/^dir=//p' <<<"$OUT")
[[ "$dir" == */pmix.[0-9]*.[0-9]* ]] || fail "PMIX_SERVER_TMPDIR inside is '$dir'; output: $OUT"
assert_contains "$OUT" "owner=$TEST_UID" "owner of $dir inside the container"
assert_eq "${dir##*/}" "$(sed -n '/^owner=/,$p' <<<"$OUT" | tail -n +2)" \
    "entries of ${dir%/*} seen inside the container"
# slurmstepd removes it when the step ends, which may be a moment after srun returned.
wait_idle
for ((i = 0; i < 50; i++)); do
    [[ -e "$dir" ]] || break
    sleep 0.2
done
[[ ! -e "$dir" ]] || fail "the step's PMIx directory $dir is still there after the step"

require_nodes 2
wait_idle
run_user timeout 120 srun -p "$MULTI_PARTITION" -N2 -n2 --mpi=pmix "--container=$OPENMPI_SQSH" /hello
check_hello "srun -p $MULTI_PARTITION -N2 -n2 --mpi=pmix --container=$OPENMPI_SQSH" 2 2 \
    '*/libmpi.so.40*' 'Open MPI v4.'

assert_no_leftovers
assert_node_healthy
pass
