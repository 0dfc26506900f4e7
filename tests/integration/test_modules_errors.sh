#!/bin/bash
# A module that cannot be applied fails the step with one line naming the module and what
# is missing (device, library, socket), leaves nothing behind, and the node stays idle.
# An optional one is skipped; an unknown module name is refused.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

check_error() {
    local module=$1 missing=$2
    wait_idle
    run_user srun --container="$BUSYBOX_SQSH" --container-modules="$module" \
        sh -c "$IN_IMAGE; echo ran"
    assert_failed "srun with module $module"
    assert_not_contains "$OUT" ran "stdout with module $module"
    assert_contains "$ERR" "module '$module' cannot be applied on this node: " "stderr"
    assert_contains "$ERR" "$missing" "stderr"
    assert_no_leftovers
    assert_node_healthy
}

check_error missingdevice "device /dev/cocoon-no-such-device is missing"
check_error missinglibrary "library libcocoon-no-such-library.so.1 is not in the ld.so cache"
check_error missingsocket "$COCOON_TEST_DIR/no-such.socket is missing"

# Optional: skipped, the step runs without it; slurmd's log says why.
marks=$(slurmd_logs_mark)
wait_idle
run_user srun --container="$BUSYBOX_SQSH" --container-modules=optionalmissing \
    sh -c "$IN_IMAGE; echo \"applied=\${COCOON_OPTIONAL_APPLIED:-no}\""
assert_succeeded "srun with an optional module that cannot be applied"
assert_eq "applied=no" "$OUT" "optional module"
assert_contains "$(slurmd_logs_since "$marks")" \
    "cocoon: plan: skipped   optionalmissing: device /dev/cocoon-no-such-device is missing" \
    "slurmd log"

# Unknown names: on the node (the submit side has no cocoon.yaml to check against).
wait_idle
run_user srun --container="$BUSYBOX_SQSH" --container-modules=nosuchmodule true
assert_failed "srun --container-modules=nosuchmodule"
assert_contains "$ERR" "unknown module 'nosuchmodule' (cocoon.yaml defines: " "stderr"
run_user env COCOON_MODULES=nosuch srun --container="$BUSYBOX_SQSH" true
assert_failed "COCOON_MODULES=nosuch"
assert_contains "$ERR" "unknown module 'nosuch'" "stderr"
# Syntax: refused before the job is queued.
before=$(last_job_id)
run_user srun --container="$BUSYBOX_SQSH" --container-modules='slurm,../x' true
assert_failed "srun --container-modules='slurm,../x'"
assert_contains "$ERR" "'../x' is not a module name" "stderr"
assert_eq "$before" "$(last_job_id)" "last job id (no job may be queued)"

# A job variable that is not UTF-8 (it travels to the holder for modules) does not fail
# the step.
wait_idle
run_user env $'COCOON_LATIN1=caf\xe9' srun --container="$BUSYBOX_SQSH" --container-modules=greeting \
    sh -c "$IN_IMAGE; echo \$COCOON_GREETING"
assert_succeeded "srun with a Latin-1 variable in the job's environment"
assert_eq hello "$OUT" "output with a Latin-1 variable"

# Files and environment of a module; --no-container-modules takes it away again.
wait_idle
run_user srun --container="$BUSYBOX_SQSH" --container-modules=greeting \
    sh -c "$IN_IMAGE; cat /etc/cocoon-greeting; echo \$COCOON_GREETING \$COCOON_LIST"
assert_succeeded "srun with module greeting"
assert_eq "hello from a module
hello first" "$OUT" "module file and environment"
wait_idle
run_user env COCOON_MODULES=greeting srun --container="$BUSYBOX_SQSH" --no-container-modules \
    sh -c "$IN_IMAGE; test -e /etc/cocoon-greeting && echo file; echo \"g=\${COCOON_GREETING:-}\""
assert_succeeded "srun --no-container-modules"
assert_eq "g=" "$OUT" "environment with --no-container-modules"

# cocoon run: the same errors, exit status 125; a bad name is a usage error (2).
COCOON_YAML=$(_plugin_config)
run_user "$COCOON" run -c "$COCOON_YAML" --container-modules=missingdevice "$BUSYBOX_SQSH" true
assert_eq 125 "$RC" "cocoon run with a module that cannot be applied"
assert_contains "$ERR" "module 'missingdevice' cannot be applied on this node: device /dev/cocoon-no-such-device is missing" "cocoon run stderr"
run_user "$COCOON" run -c "$COCOON_YAML" --container-modules=Bad "$BUSYBOX_SQSH" true
assert_eq 2 "$RC" "cocoon run --container-modules=Bad"
assert_contains "$ERR" "--container-modules=Bad: 'Bad' is not a module name" "cocoon run stderr"

assert_no_leftovers
assert_node_healthy
pass
