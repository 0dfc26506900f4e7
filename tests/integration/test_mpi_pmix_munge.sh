#!/bin/bash
# Open MPI under srun --mpi=pmix inside a container with PMIx's munge security, the default
# whenever the node runs munge (no PMIX_MCA_psec=^munge workaround): each rank proves who it
# is to the step's PMIx server with a munge credential, so the container needs the node's
# munge socket.
#
# The PMIx server in slurmstepd checks those credentials through libmunge's default socket,
# /run/munge/munge.socket.2, which it cannot be told otherwise; the test cluster runs a
# munged with its key there (tests/harness/cluster.sh, start_default_munge). Inside, the
# munge module binds the cluster's socket at that same default path.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
require_plugin
require_mpi_image "$OPENMPI_SQSH"
require_mpi_plugin pmix

# A munged of the machine's own, with another key, may answer at the default socket instead.
munge -n --socket="$COCOON_TEST_MUNGE_SOCKET" | unmunge --socket=/run/munge/munge.socket.2 >/dev/null 2>&1 ||
    skip "the munged on /run/munge/munge.socket.2 does not accept the test cluster's credentials (another key)"

# The server's security modes, as a rank on the host sees them.
run_user timeout 60 srun -n1 --mpi=pmix printenv PMIX_SECURITY_MODE
assert_succeeded "srun -n1 --mpi=pmix printenv PMIX_SECURITY_MODE"
[[ ",$OUT," == *,munge,* ]] ||
    skip "the PMIx server offers '$OUT', not munge: munged must answer on /run/munge/munge.socket.2 on the node"

# PMIX_MCA_psec=munge: the ranks may use nothing but munge, so success shows that munge
# security works inside the container.
wait_idle
run_user timeout 120 env PMIX_MCA_psec=munge srun -n2 --mpi=pmix --container-modules=munge "--container=$OPENMPI_SQSH" /hello
check_hello "srun -n2 --mpi=pmix --container=$OPENMPI_SQSH with PMIX_MCA_psec=munge" 2 1 \
    '*/libmpi.so.40*' 'Open MPI v4.'

# And with PMIx's own choice, which prefers munge.
wait_idle
run_user timeout 120 srun -n2 --mpi=pmix --container-modules=munge "--container=$OPENMPI_SQSH" /hello
check_hello "srun -n2 --mpi=pmix --container=$OPENMPI_SQSH" 2 1 '*/libmpi.so.40*' 'Open MPI v4.'

assert_no_leftovers
assert_node_healthy
pass
