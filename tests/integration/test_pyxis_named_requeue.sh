#!/bin/bash
# A requeued job that used --container-name starts without the container of its earlier
# run: "scontrol requeue" ends it with the job, and the new run creates the name afresh
# (:create would refuse a name the job still had). Nothing is left after the job.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

script=$TEST_WORK/named-requeue.sh
out_file=$TEST_WORK/named-requeue.out
rm -f "$out_file"
cat > "$script" <<EOF
#!/bin/sh
img='--container-image=$BUSYBOX_SQSH'
EOF
cat >> "$script" <<'EOF'
if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then
    srun --container-name=dev "$img" sh -c 'echo first > /etc/named-marker' && echo first-run-ready
    sleep 300
else
    srun --container-name=dev:create "$img" sh -c 'test ! -e /etc/named-marker && echo second-run-fresh'
fi
EOF
chown "$TEST_USER" "$script"
chmod 0755 "$script"
wait_idle
as_user sbatch --requeue --open-mode=append -o "$out_file" "$script" >/dev/null || fail "sbatch failed"
job=$(last_job_id)
trap 'cancel_user_jobs' EXIT
for ((i = 0; i < 200; i++)); do
    grep -q first-run-ready "$out_file" 2>/dev/null && break
    sleep 0.1
done
grep -q first-run-ready "$out_file" 2>/dev/null ||
    fail "the first run did not create its container: $(cat "$out_file" 2>&1)"
[[ -e /run/cocoon/job-$job/dev ]] || fail "no record of container 'dev' of job $job"
scontrol requeue "$job" || fail "scontrol requeue $job failed"
# Slurm holds a requeued job back for a while (its begin time): let it start at once.
for ((i = 0; i < 100; i++)); do
    [[ "$(squeue -h -j "$job" -o %T 2>/dev/null)" == PENDING ]] && break
    sleep 0.1
done
# Not in the second of the requeue: slurmd refuses a job whose credential was revoked in
# the same second ("Job credential revoked"), which is why Slurm itself waits.
sleep 2
scontrol update JobId="$job" StartTime=now || fail "cannot let requeued job $job start now"
for ((i = 0; i < 300; i++)); do
    grep -q second-run-fresh "$out_file" 2>/dev/null && break
    sleep 0.1
done
assert_contains "$(cat "$out_file")" second-run-fresh "output of the requeued job"
wait_idle
trap - EXIT
[[ ! -e /run/cocoon/job-$job ]] || fail "records of job $job left behind"
rm -f "$script" "$out_file"
assert_no_leftovers
assert_node_healthy
pass
