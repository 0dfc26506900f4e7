#!/bin/bash
# --container-save with several nodes: only the first node of the step (node 0) saves, its
# container as its tasks left it, once all of its tasks have ended; the other nodes do not
# touch the file.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_nodes 2

saved=$TEST_WORK/multinode.sqsh
rm -f "$saved"
marks=$(slurmd_logs_mark)
run_user timeout 120 srun -p "$MULTI_PARTITION" -N2 --ntasks-per-node=2 \
    --container-image="$BUSYBOX_SQSH" --container-save="$saved" \
    sh -c "$IN_IMAGE"'; echo "$SLURM_NODEID" > /etc/node-$SLURM_NODEID-task-$SLURM_PROCID'
assert_succeeded "srun -N2 --container-save"
assert_eq 1 "$(slurmd_logs_since "$marks" | grep -c "cocoon: saved the container to $saved")" \
    "nodes that saved the container"
run_user srun --container-image="$saved" sh -c 'ls /etc | grep ^node- | sort'
assert_eq $'node-0-task-0\nnode-0-task-1' "$OUT" "files of node 0's tasks, and only theirs"

rm -f "$saved"
assert_no_leftovers
assert_node_healthy
pass
