#!/bin/bash
# An image's WorkingDir is where tasks start (pyxis's rule), before the step's working
# directory; --container-workdir wins over it; a WorkingDir the container lacks leaves the
# task in the step's working directory.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_oci_fixtures

work=$TEST_WORK/pyxis-image-workdir
cache=$TEST_WORK/cache-pyxis-image-workdir
cleanup() {
    rm -rf "$work" "$cache"
}
trap cleanup EXIT
cleanup
install -d -o "$TEST_USER" "$work"
layout_with_workdir "$work/usr-bin" /usr/bin
layout_with_workdir "$work/missing" /no/such/dir

run_user env COCOON_CACHE_DIR="$cache" srun "--container-image=oci:$work/usr-bin:latest" sh -c 'pwd'
assert_succeeded "srun with an image whose WorkingDir is /usr/bin"
assert_eq /usr/bin "$OUT" "working directory from the image"
wait_idle
run_user env COCOON_CACHE_DIR="$cache" srun "--container-image=oci:$work/usr-bin:latest" --container-workdir=/etc sh -c 'pwd'
assert_eq /etc "$OUT" "--container-workdir over the image's WorkingDir"
wait_idle
run_user env COCOON_CACHE_DIR="$cache" srun "--container-image=oci:$work/missing:latest" sh -c 'pwd'
assert_succeeded "srun with an image whose WorkingDir is missing"
assert_eq "$TEST_WORK" "$OUT" "working directory when the image's is missing"

cleanup
assert_no_leftovers
assert_node_healthy
pass
