#!/bin/bash
# --container-entrypoint runs the image's Entrypoint once when the container starts and
# gives every task the environment it sets up; without the option it never runs. An
# entrypoint that fails fails the step with a message that says so.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_oci_fixtures
require_cli

work=$(mktemp -d "$COCOON_TEST_DIR/entrypoint.XXXXXX")
trap 'rm -rf "$work"' EXIT
# An image whose entrypoint exports a variable and then runs its arguments, and one whose
# entrypoint fails.
make_entrypoint_image() {
    local name=$1 script=$2
    cp -r "$IMAGES/oci/busybox" "$work/$name"
    umoci unpack --rootless --image "$work/$name:latest" "$work/$name.bundle" >/dev/null 2>&1 ||
        fail "umoci unpack of $name failed"
    printf '%s\n' "$script" > "$work/$name.bundle/rootfs/bin/entrypoint.sh"
    chmod 0755 "$work/$name.bundle/rootfs/bin/entrypoint.sh"
    umoci repack --image "$work/$name:latest" "$work/$name.bundle" >/dev/null 2>&1 &&
        umoci config --image "$work/$name:latest" --config.entrypoint /bin/entrypoint.sh \
            >/dev/null 2>&1 || fail "umoci could not set the entrypoint of $name"
    rm -rf "$work/$name.bundle"
}
make_entrypoint_image good $'#!/bin/sh\nexport COCOON_EP_VAR=from-entrypoint\nexec "$@"'
make_entrypoint_image bad $'#!/bin/sh\nexit 3'
chmod -R a+rX "$work"
good=oci:$work/good:latest

run_user srun -n2 --container-entrypoint --container-image="$good" sh -c 'echo "ep=$COCOON_EP_VAR"'
assert_succeeded "srun --container-entrypoint"
assert_eq $'ep=from-entrypoint\nep=from-entrypoint' "$OUT" "both tasks' COCOON_EP_VAR"

wait_idle
run_user srun --container-image="$good" sh -c 'echo "ep=$COCOON_EP_VAR"'
assert_succeeded "srun without --container-entrypoint"
assert_eq "ep=" "$OUT" "COCOON_EP_VAR without --container-entrypoint"

run_cocoon run --container-entrypoint "$good" sh -c 'echo "ep=$COCOON_EP_VAR"'
assert_succeeded "cocoon run --container-entrypoint"
assert_contains "$OUT" "ep=from-entrypoint" "cocoon run output"

wait_idle
run_user srun --container-entrypoint --container-image="oci:$work/bad:latest" true
assert_failed "srun --container-entrypoint with a failing entrypoint"
assert_contains "$ERR" "entrypoint /bin/entrypoint.sh failed (exit status 3" "srun's stderr"

assert_no_leftovers
assert_node_healthy
pass
