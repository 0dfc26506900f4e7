#!/bin/bash
# srun -N2 and -N3 on the multi-node partition: every node builds its own container and
# every task, on every node, runs inside the image. Tasks of one node share a container;
# the nodes' containers are separate (the nodes share this machine, so two containers
# that collided would show up as one namespace or as a failed step).
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_nodes 3

# One line per task: node, task id, mount and user namespace of the task. Then each task
# waits (at most 30 s) until every task of the step has written its line: a namespace's
# number is unique only while it exists, so the nodes' containers must all be alive when
# their numbers are compared (a node that finished before another started could leave its
# number to the other's container).
barrier=$TEST_WORK/multinode-barrier
TASK_LINE='echo "$SLURMD_NODENAME $SLURM_PROCID $(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/user)"
touch "'$barrier'/$SLURMD_NODENAME.$SLURM_PROCID"
i=0
while [ "$(ls "'$barrier'" | wc -l)" -lt "$SLURM_NTASKS" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done'
host_mnt=$(readlink /proc/self/ns/mnt)
cleanup() {
    rm -rf "$barrier"
}
trap cleanup EXIT

# check_step NODES TASKS_PER_NODE OPTION
check_step() {
    local nodes=$1 per_node=$2 option=$3 what lines n_nodes node tasks mnts
    what="srun -p $MULTI_PARTITION -N$nodes --ntasks-per-node=$per_node $option"
    rm -rf "$barrier"
    install -d -o "$TEST_USER" -m 0755 "$barrier"
    wait_idle
    run_user timeout 120 srun -p "$MULTI_PARTITION" -N"$nodes" --ntasks-per-node="$per_node" \
        "$option" sh -c "$IN_IMAGE; $TASK_LINE"
    assert_succeeded "$what"
    mapfile -t lines <<<"$OUT"
    assert_eq $((nodes * per_node)) "${#lines[@]}" "number of task lines of $what"
    n_nodes=$(awk '{ print $1 }' <<<"$OUT" | sort -u | wc -l)
    assert_eq "$nodes" "$n_nodes" "distinct SLURMD_NODENAME values of $what"
    for node in $(awk '{ print $1 }' <<<"$OUT" | sort -u); do
        [[ " ${TEST_NODES[*]} " == *" $node "* ]] ||
            fail "$what: task on '$node', which is not a node of the cluster (${TEST_NODES[*]})"
        tasks=$(awk -v n="$node" '$1 == n' <<<"$OUT" | wc -l)
        assert_eq "$per_node" "$tasks" "tasks of $what on $node"
        mnts=$(awk -v n="$node" '$1 == n { print $3 }' <<<"$OUT" | sort -u)
        assert_eq 1 "$(wc -l <<<"$mnts")" "mount namespaces of the tasks on $node ($what)"
        [[ "$mnts" == mnt:* && "$mnts" != "$host_mnt" ]] ||
            fail "$what: the tasks on $node run in mount namespace '$mnts' (host: $host_mnt)"
    done
    # One container per node: as many mount and user namespaces as nodes.
    assert_eq "$nodes" "$(awk '{ print $3 }' <<<"$OUT" | sort -u | wc -l)" \
        "distinct mount namespaces of $what"
    assert_eq "$nodes" "$(awk '{ print $4 }' <<<"$OUT" | sort -u | wc -l)" \
        "distinct user namespaces of $what"
    assert_eq "$(seq 0 $((nodes * per_node - 1)))" "$(awk '{ print $2 }' <<<"$OUT" | sort -n)" \
        "task ids of $what"
}

check_step 2 1 "--container=$BUSYBOX_SQSH"
check_step 2 2 "--container=$BUSYBOX_SQSH"
check_step 3 2 "--container=$BUSYBOX_SQSH"
check_step 3 1 "--container-image=$BUSYBOX_SQSH"
check_step 2 1 "--container=$BUSYBOX_DIR"

# A step of -n4 without -N spread over the nodes by Slurm: each task still in the image.
wait_idle
run_user timeout 120 srun -p "$MULTI_PARTITION" -N3 -n4 "--container=$BUSYBOX_SQSH" \
    sh -c "$IN_IMAGE; cat /etc/os-release | head -n1; echo \"\$SLURMD_NODENAME\""
assert_succeeded "srun -p $MULTI_PARTITION -N3 -n4 --container=$BUSYBOX_SQSH"
assert_eq 4 "$(grep -c '^NAME="cocoon-test-busybox"' <<<"$OUT")" "tasks that saw the image's os-release"
assert_eq 3 "$(grep -v '^NAME=' <<<"$OUT" | sort -u | wc -l)" "nodes of srun -N3 -n4"

# A bad image fails the step on every node, names the image, and leaves nothing on any node.
wait_idle
run_user timeout 120 srun -p "$MULTI_PARTITION" -N2 "--container=$IMAGES/corrupt.sqsh" true
assert_failed "srun -N2 with a corrupt image"
assert_contains "$ERR" "cocoon: error: --container=$IMAGES/corrupt.sqsh" "stderr of srun -N2 with a corrupt image"

cleanup
assert_no_leftovers
assert_node_healthy
pass
