#!/bin/bash
# stdin is forwarded to the task inside the container.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

out=$(echo hello | as_user srun --container="$BUSYBOX_SQSH" cat)
assert_eq hello "$out" "stdin through srun --container"

# The same, proving that the reader runs inside the image.
wait_idle
out=$(echo hello | as_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; cat")
assert_eq hello "$out" "stdin through srun --container to a reader inside the image"

assert_no_leftovers
assert_node_healthy
pass
