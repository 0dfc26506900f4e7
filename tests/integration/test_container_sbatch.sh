#!/bin/bash
# sbatch --container runs the batch script inside the container.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

script=$TEST_WORK/container-job.sh
out_file=$TEST_WORK/container-job.out
rm -f "$out_file"
printf '#!/bin/sh\ncat /etc/os-release\nid -u\n' > "$script"
chown "$TEST_USER" "$script"
chmod 0755 "$script"

# --container is Slurm's own option; --container-image the plugin's (sbatch only knows it
# when the plugin registers it with spank_option_register()).
for option in "--container=$BUSYBOX_SQSH" "--container-image=$BUSYBOX_SQSH"; do
    wait_idle
    rm -f "$out_file"
    run_batch "$option" -o "$out_file" "$script"
    assert_succeeded "sbatch $option"
    [[ -f "$out_file" ]] || fail "batch output $out_file missing; sbatch said: $OUT $ERR"
    job_out=$(cat "$out_file")
    assert_contains "$job_out" cocoon-test-busybox "batch output with $option"
    assert_contains "$job_out" "$TEST_UID" "batch output with $option"
done
rm -f "$script" "$out_file"

assert_no_leftovers
assert_node_healthy
pass
