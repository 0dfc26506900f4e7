#!/bin/bash
# salloc --container: steps started inside the allocation run in the container.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

# --container is Slurm's own option (needs LaunchParameters=use_interactive_step, set by
# the harness); --container-image is the plugin's, which salloc only knows when the plugin
# registers it with spank_option_register() (Slurm ignores the static spank_options table
# in sbatch/salloc).
for option in "--container=$BUSYBOX_SQSH" "--container-image=$BUSYBOX_SQSH"; do
    wait_idle
    run_user salloc "$option" srun cat /etc/os-release
    assert_succeeded "salloc $option srun cat /etc/os-release"
    assert_contains "$OUT" cocoon-test-busybox "output of srun inside salloc $option"
done

assert_no_leftovers
assert_node_healthy
pass
