#!/bin/bash
# A step of a heterogeneous job under PMIx (srun ... : ...), each component on its own node
# and in its own container: Slurm names the step's PMIx namespace, and its server directory
# (PMIX_SERVER_TMPDIR, pmix.JOBID.STEPID), after the heterogeneous job's id, which is the
# first component's job id only. The second component's container must see its directory
# too, or its rank cannot reach the server; both ranks then form one MPI_COMM_WORLD.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
require_plugin
require_mpi_image "$OPENMPI_SQSH"
require_mpi_plugin pmix
require_nodes 2

component() {
    echo -p "$MULTI_PARTITION" -w "$1" -n1 --mpi=pmix "--container=$OPENMPI_SQSH"
}
# shellcheck disable=SC2046  # one word per option
run_user timeout 120 srun $(component "${TEST_NODES[0]}") /hello : $(component "${TEST_NODES[1]}") /hello
check_hello "srun (heterogeneous, two components) --mpi=pmix --container=$OPENMPI_SQSH" 2 2 \
    '*/libmpi.so.40*' 'Open MPI v4.'

assert_no_leftovers
assert_node_healthy
pass
