#!/bin/bash
# The slurm and munge modules: inside the busybox image, which has no Slurm, no munge and
# no C library, Slurm's commands and munge work against the real cluster, as the user.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

image=$BUSYBOX_SQSH
wrap_out=$TEST_WORK/modules-wrap.out
batch_script=$TEST_WORK/modules-batch.sh
batch_out=$TEST_WORK/modules-batch.out
cleanup() {
    rm -f "$wrap_out" "$batch_script" "$batch_out"
}
trap cleanup EXIT
cleanup

# Without the modules the image has none of it.
run_user srun --container="$image" sh -c "$IN_IMAGE; command -v squeue munge || echo none"
assert_succeeded "srun without modules"
assert_eq none "$OUT" "commands found without modules"

# munge -n | unmunge through the host's munged (its socket is not the default one here:
# the module reads it from slurm.conf's AuthInfo and binds it at munge's default path).
# slurmd's log names the modules of the step for the admin.
marks=$(slurmd_logs_mark)
wait_idle
run_user srun --container="$image" --container-modules=munge \
    sh -c "$IN_IMAGE; munge -n | unmunge"
assert_succeeded "munge -n | unmunge"
assert_contains "$OUT" "Success (0)" "unmunge output"
assert_contains "$OUT" "($TEST_UID)" "unmunge output"
assert_contains "$(slurmd_logs_since "$marks")" "cocoon: plan: modules   munge" "slurmd log"

# squeue --me and scontrol show job, modules chosen through COCOON_MODULES.
wait_idle
run_user env COCOON_MODULES=slurm,munge srun --container="$image" \
    sh -c "$IN_IMAGE; squeue --me -h -o '%i %u %T'; echo ---; scontrol show job \$SLURM_JOB_ID"
assert_succeeded "squeue/scontrol inside"
job_id=$(awk '/JobId=/ { sub(/.*JobId=/, ""); print $1; exit }' <<<"$OUT")
[[ "$job_id" =~ ^[0-9]+$ ]] || fail "scontrol show job printed no JobId: $OUT $ERR"
assert_contains "$OUT" "$job_id $TEST_USER RUNNING" "squeue --me"
assert_contains "$OUT" "UserId=$TEST_USER($TEST_UID)" "scontrol show job"

# sbatch --wrap from inside: the job is queued by the real slurmctld and completes.
wait_idle
run_user srun --container="$image" --container-modules=slurm,munge \
    sh -c "$IN_IMAGE; sbatch --parsable -o $wrap_out --wrap hostname"
assert_succeeded "sbatch --wrap inside"
inner=$(tail -n1 <<<"$OUT")
[[ "$inner" =~ ^[0-9]+$ ]] || fail "sbatch --parsable printed '$OUT' ($ERR)"
for ((i = 0; i < 150; i++)); do
    [[ -n "$(squeue -h -j "$inner" 2>/dev/null)" ]] || break
    sleep 0.2
done
[[ -s "$wrap_out" ]] || fail "the job $inner submitted from inside wrote no output"
assert_eq "$(hostname)" "$(cat "$wrap_out")" "output of the job submitted from inside"

# A containerized batch script's srun step runs in the batch script's image (SLURM_CONTAINER
# is inherited), and the inner srun loads the cocoon plugin inside the container.
printf '#!/bin/sh\nsrun -n1 hostname\nsrun -n1 sh -c '\''grep ^ID= /etc/os-release; echo step=$SLURM_STEP_ID'\''\n' \
    > "$batch_script"
chown "$TEST_USER" "$batch_script"
chmod 0755 "$batch_script"
# The modules through the job's environment, then through sbatch's option.
for how in "env COCOON_MODULES=slurm,munge sbatch" "sbatch --container-modules=slurm,munge"; do
    wait_idle
    rm -f "$batch_out"
    # shellcheck disable=SC2086
    run_user $how --wait --container="$image" -o "$batch_out" "$batch_script"
    assert_succeeded "$how --wait with srun inside"
    batch=$(cat "$batch_out" 2>/dev/null)
    assert_contains "$batch" "ID=cocoon-busybox" "output of the inner srun step ($how)"
    assert_contains "$batch" "$(hostname)" "output of the inner srun -n1 hostname ($how)"
    assert_contains "$batch" "step=1" "output of the inner srun step ($how)"
done

assert_no_leftovers
assert_node_healthy
pass
