#!/bin/bash
# `cocoon run` builds the container a step gets: the same image with the plugin's
# cocoon.yaml, through `cocoon run` and through `srun --container`, as the test user in the
# same directory, has the same mounts with the same flags inside. What `cocoon run` does on
# its own (images, identity, exit codes, options, mounts against the plan, errors, nothing
# left behind) is the unprivileged suite's, which needs no cluster (tests/unprivileged).
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_cli

# Mount point and per-mount options of every mount inside, sorted.
mounts='cat /proc/self/mountinfo | awk "{ print \$5, \$6 }" | sort'
for image in "$BUSYBOX_SQSH" "$BUSYBOX_DIR"; do
    for options in "" --container-readonly; do
        wait_idle
        run_user srun ${options:+"$options"} --container="$image" sh -c "$IN_IMAGE; $mounts"
        assert_succeeded "srun $options --container=$image"
        in_step=$OUT
        run_cocoon run ${options:+"$options"} "$image" sh -c "$IN_IMAGE; $mounts"
        assert_succeeded "cocoon run $options $image"
        [[ -n "$OUT" && "$OUT" == "$in_step" ]] ||
            fail "cocoon run $options $image and srun differ (< srun, > cocoon run):
$(diff <(echo "$in_step") <(echo "$OUT"))"
    done
done

assert_no_leftovers
assert_node_healthy
pass
