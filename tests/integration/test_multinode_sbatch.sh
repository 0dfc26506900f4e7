#!/bin/bash
# sbatch -N2: the batch script (on the first node of the allocation, outside any
# container) starts container steps across both nodes. After the job no process, mount
# or step of the test user is left on any node and every node is idle.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_nodes 2

work=$TEST_WORK/multinode-sbatch
cleanup() {
    [[ -n "$(squeue -h -u "$TEST_USER" -o %i 2>/dev/null)" ]] && cancel_user_jobs
    rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
install -d -o "$TEST_USER" -m 0755 "$work"

cat > "$work/job.sh" <<JOB
#!/bin/sh
echo "batch on \$SLURMD_NODENAME nodes \$SLURM_JOB_NODELIST"
srun -N2 -n2 --container="$BUSYBOX_SQSH" \\
    sh -c '$IN_IMAGE; echo "step1 \$SLURMD_NODENAME \$(head -n1 /etc/os-release)"' || exit 11
srun -n4 --container="$BUSYBOX_SQSH" \\
    sh -c '$IN_IMAGE; echo "step2 \$SLURMD_NODENAME \$SLURM_PROCID \$(id -u)"' || exit 12
JOB
chown "$TEST_USER" "$work/job.sh"
chmod 0755 "$work/job.sh"

run_batch -p "$MULTI_PARTITION" -N2 --ntasks-per-node=2 -o "$work/job.out" "$work/job.sh"
job_out=$(cat "$work/job.out" 2>/dev/null)
assert_succeeded "sbatch -p $MULTI_PARTITION -N2 --ntasks-per-node=2 (output: $job_out)"
job=$JOB

step1=$(grep '^step1 ' <<<"$job_out")
assert_eq 2 "$(wc -l <<<"$step1")" "step 1 tasks (one per node); job output: $job_out"
assert_eq 2 "$(awk '{ print $2 }' <<<"$step1" | sort -u | wc -l)" "nodes of step 1; job output: $job_out"
assert_eq 2 "$(grep -c 'NAME="cocoon-test-busybox"' <<<"$step1")" "step 1 tasks inside the image"
step2=$(grep '^step2 ' <<<"$job_out")
assert_eq 4 "$(wc -l <<<"$step2")" "step 2 tasks; job output: $job_out"
assert_eq 2 "$(awk '{ print $2 }' <<<"$step2" | sort -u | wc -l)" "nodes of step 2; job output: $job_out"
assert_eq "$TEST_UID" "$(awk '{ print $4 }' <<<"$step2" | sort -u)" "uid of the tasks of step 2"

# Every node of the job: the job is gone, no step daemon of it is left (its socket in the
# node's spool directory goes with it), and the node is idle.
wait_idle
nodes=$(scontrol show hostnames "$(awk '/^batch on/ { print $5 }' <<<"$job_out")")
assert_eq 2 "$(wc -l <<<"$nodes")" "nodes of job $job ($nodes)"
for node in $nodes; do
    leftover=$(find "$COCOON_TEST_DIR/spool/$node" -name "*_$job.*" 2>/dev/null)
    [[ -z "$leftover" ]] || fail "step sockets of job $job left on $node: $leftover"
    state=$(sinfo -h -N -n "$node" -o '%T' | sort -u)
    assert_eq idle "$state" "state of node $node after job $job"
done
# slurmstepd names itself "slurmstepd: [JOB.STEP]".
stepds=$(ps -eo pid,args | grep -F "slurmstepd: [$job." | grep -v grep)
[[ -z "$stepds" ]] || fail "step daemons of job $job still run: $stepds"

cleanup
assert_no_leftovers
assert_node_healthy
pass
