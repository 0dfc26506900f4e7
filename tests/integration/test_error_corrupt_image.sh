#!/bin/bash
# A file that is not a valid squashfs fails the step, names the image, and leaves no
# half-mounted filesystem behind.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

for image in corrupt.sqsh truncated.sqsh; do
    run_user srun --container="$IMAGES/$image" true
    assert_failed "srun --container=$image"
    assert_contains "$ERR" "cocoon: error: --container=$IMAGES/$image" "stderr"
    wait_idle
done

assert_no_leftovers
assert_node_healthy
pass
