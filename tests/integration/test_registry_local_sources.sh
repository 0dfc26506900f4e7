#!/bin/bash
# Image sources without a registry: an OCI image layout (oci:DIR[:TAG]), a `docker save`
# archive (docker-archive:FILE) and an OCI archive (oci-archive:FILE), via srun and cocoon run.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_oci_fixtures

for source in "oci:$IMAGES/oci/busybox:latest" "oci:$IMAGES/oci/busybox" \
              "docker-archive:$IMAGES/busybox-docker.tar" "oci-archive:$IMAGES/busybox-oci.tar"; do
    wait_idle
    run_user timeout "$COCOON_TIMEOUT" srun "--container=$source" cat /etc/os-release
    assert_succeeded "srun --container=$source cat /etc/os-release"
    assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release from $source"
done

wait_idle
run_user timeout "$COCOON_TIMEOUT" srun "--container-image=docker-archive:$IMAGES/busybox-docker.tar" \
    sh -c 'echo "${COCOON_IMAGE_VAR-unset}"'
assert_succeeded "srun --container-image=docker-archive:... (COCOON_IMAGE_VAR)"
assert_eq from-image "$OUT" "COCOON_IMAGE_VAR from the archive's image config"

if [[ -x "$COCOON" ]]; then
    run_cocoon run "oci-archive:$IMAGES/busybox-oci.tar" cat /etc/os-release
    assert_succeeded "cocoon run oci-archive:$IMAGES/busybox-oci.tar"
    assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release from cocoon run oci-archive:"
else
    note "cocoon command not found at $COCOON: skipping the cocoon run part"
fi

assert_cache_clean
assert_no_leftovers
assert_node_healthy
pass
