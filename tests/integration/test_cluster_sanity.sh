#!/bin/bash
# The harness itself: plain Slurm (no --container) works for the unprivileged test user.
# If this fails, every other integration test result is meaningless.
source "$(dirname "$0")/lib.sh"

# srun with two tasks on the single node.
run_user srun -n2 hostname
assert_succeeded "srun -n2 hostname"
host=$(hostname -s)
assert_eq "$host
$host" "$(sort <<<"$OUT")" "srun -n2 hostname output"

# Tasks run as the test user with its supplementary groups.
run_user srun id -u
assert_succeeded "srun id -u"
assert_eq "$TEST_UID" "$OUT" "uid of the task"
run_user srun id -G
extra_gid=$(getent group "$TEST_EXTRA_GROUP" | cut -d: -f3)
assert_contains " $OUT " " $extra_gid " "id -G of the task"

# Exit codes pass through srun.
wait_idle
assert_rc 7 as_user srun sh -c 'exit 7'

# stdin reaches task 0.
wait_idle
out=$(echo hello | as_user srun cat)
assert_eq hello "$out" "stdin through srun"

# A batch script runs and its exit status comes back (run_batch: sbatch, then the job's
# state until it is done).
wait_idle
script=$TEST_WORK/sanity-job.sh
out_file=$TEST_WORK/sanity-job.out
rm -f "$out_file"
printf '#!/bin/sh\necho "job $SLURM_JOB_ID on $(hostname -s)"\nid -u\n' > "$script"
chown "$TEST_USER" "$script"
chmod 0755 "$script"
run_batch -o "$out_file" "$script"
assert_succeeded "sbatch"
assert_contains "$(cat "$out_file")" "on $host" "batch output"
assert_contains "$(cat "$out_file")" "$TEST_UID" "batch output"
[[ "$(stat -c %U "$out_file")" == "$TEST_USER" ]] || fail "batch output not owned by $TEST_USER"

wait_idle
run_batch --wrap 'exit 3'
assert_eq 3 "$RC" "a batch job's exit status"

# salloc runs the given command with an allocation.
wait_idle
run_user salloc -n1 srun hostname
assert_succeeded "salloc srun hostname"
assert_contains "$OUT" "$host" "salloc output"

rm -f "$script" "$out_file"
assert_no_leftovers
assert_node_healthy
pass
