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
what="srun (heterogeneous, two components) --mpi=pmix --container=$OPENMPI_SQSH"
# Slurm 22.05's srun sometimes never returns from a heterogeneous PMIx step after both
# components have finished (here in 1 of 20 runs of a plain `srun --mpi=pmix hostname :
# hostname`, without containers, and in 1 of 5 runs of this test): the
# thread that waits for the step holds the step's lock while it joins the mpi/pmix abort
# agent's thread, which never leaves its event loop, and the thread that forwards
# timeout's SIGTERM waits for that lock (gdb: slurm_step_launch_wait_finish ->
# pmixp_abort_agent_stop -> pthread_join). So srun gets 30 s and then SIGKILL. A step that
# srun did not see through is checked like one it did: by what both ranks printed.
# shellcheck disable=SC2046  # one word per option
run_user timeout -k 2 30 srun $(component "${TEST_NODES[0]}") /hello : \
    $(component "${TEST_NODES[1]}") /hello
# The image's Open MPI 4.1.4 now and then crashes in MPI_Finalize, after the ranks have
# printed and communicated (seen once in about 30 runs: SIGSEGV at address 0x30 in
# mca_btl_tcp_finalize): not cocoon's either, and recognised by that backtrace only.
if (( $(grep -c '^mpi-hello ' <<<"$OUT") == 2 )); then
    if (( RC == 124 || RC == 137 )); then
        echo "$what: srun hung after the step (the Slurm 22.05 deadlock above): killed" >&2
        pkill -KILL -u "$TEST_USER" -x srun || true
        cancel_user_jobs
        RC=0
    elif (( RC == 139 )) && grep -q 'Caught signal 11' <<<"$ERR" &&
        grep -q 'mca_btl_tcp_finalize' <<<"$ERR"; then
        echo "$what: a rank crashed in Open MPI's MPI_Finalize (mca_btl_tcp_finalize)" >&2
        wait_idle
        RC=0
    fi
fi
check_hello "$what" 2 2 '*/libmpi.so.40*' 'Open MPI v4.'

assert_no_leftovers
assert_node_healthy
pass
