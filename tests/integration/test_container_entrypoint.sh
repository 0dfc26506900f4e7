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
make_entrypoint_image good $'#!/bin/sh\necho "entrypoint says hello"\necho "entrypoint warns" >&2\nexport COCOON_EP_VAR=from-entrypoint\nexec "$@"'
make_entrypoint_image bad $'#!/bin/sh\necho "bad entrypoint gives up" >&2\nexit 3'
chmod -R a+rX "$work"
good=oci:$work/good:latest

run_user srun -n2 --container-entrypoint --container-image="$good" sh -c 'echo "ep=$COCOON_EP_VAR"'
assert_succeeded "srun --container-entrypoint"
assert_eq $'ep=from-entrypoint\nep=from-entrypoint' "$OUT" "both tasks' COCOON_EP_VAR"
# What the entrypoint prints is not in the environment, and not shown without the log.
assert_not_contains "$ERR" "entrypoint says hello" "srun's stderr without --container-entrypoint-log"

# --container-entrypoint-log (and its variable): the entrypoint's output, once per node.
wait_idle
run_user srun -n2 --container-entrypoint --container-entrypoint-log --container-image="$good" \
    sh -c 'echo "ep=$COCOON_EP_VAR"'
assert_succeeded "srun --container-entrypoint-log"
assert_eq $'ep=from-entrypoint\nep=from-entrypoint' "$OUT" "tasks' COCOON_EP_VAR with the log"
assert_contains "$ERR" "cocoon: entrypoint: entrypoint says hello" "srun's stderr"
assert_contains "$ERR" "cocoon: entrypoint: entrypoint warns" "srun's stderr"
(( $(grep -c "entrypoint says hello" <<<"$ERR") == 1 )) || fail "the entrypoint's log was shown more than once: $ERR"
wait_idle
run_user env PYXIS_CONTAINER_ENTRYPOINT_LOG=1 srun --container-entrypoint --container-image="$good" true
assert_succeeded "PYXIS_CONTAINER_ENTRYPOINT_LOG=1 srun"
assert_contains "$ERR" "cocoon: entrypoint: entrypoint says hello" "srun's stderr with the variable"

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
assert_not_contains "$ERR" "bad entrypoint gives up" "srun's stderr without the log"
wait_idle
run_user srun --container-entrypoint --container-entrypoint-log --container-image="oci:$work/bad:latest" true
assert_failed "a failing entrypoint with --container-entrypoint-log"
assert_contains "$ERR" "cocoon: entrypoint: bad entrypoint gives up" "the failing entrypoint's log"
assert_contains "$ERR" "entrypoint /bin/entrypoint.sh failed (exit status 3" "srun's stderr"

run_cocoon run --container-entrypoint --container-entrypoint-log "$good" true
assert_succeeded "cocoon run --container-entrypoint-log"
assert_contains "$ERR" "entrypoint says hello" "cocoon run's stderr"

assert_no_leftovers
assert_node_healthy
pass
