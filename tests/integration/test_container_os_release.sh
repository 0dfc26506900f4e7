#!/bin/bash
# The task sees the image's root filesystem: squashfs via --container and
# --container-image, and a directory image.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

grep -q cocoon-test-busybox /etc/os-release && fail "host /etc/os-release looks like the test image"

for option in "--container=$BUSYBOX_SQSH" "--container-image=$BUSYBOX_SQSH" \
              "--container=$BUSYBOX_DIR"; do
    wait_idle
    run_user srun "$option" cat /etc/os-release
    assert_succeeded "srun $option cat /etc/os-release"
    assert_contains "$OUT" 'NAME="cocoon-test-busybox"' "os-release with $option"
done

assert_no_leftovers
assert_node_healthy
pass
