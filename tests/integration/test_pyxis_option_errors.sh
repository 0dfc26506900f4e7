#!/bin/bash
# The pyxis options refuse bad input at submission, before a job exists: unknown mount
# flags, paths that could leave the container, a missing mount source, contradictory
# options, unknown namespaces, bad PYXIS_CONTAINER_* / COCOON_CONTAINER_* values. Each
# error is one line of cocoon's naming what was typed. What only the node can check
# (umount: of a mount the container does not have, a --container-workdir it does not have)
# fails the step with one message per step, not one per task.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

# submit_refused COMMAND EXPECTED_FRAGMENT ARGS...: COMMAND (srun, sbatch or salloc) with
# ARGS is refused with one cocoon line containing EXPECTED_FRAGMENT, and no job is created.
# Variables for the submitting command go in the array SUBMIT_ENV.
SUBMIT_ENV=()
submit_refused() {
    local command=$1 expected=$2 before after ours
    shift 2
    wait_idle
    before=$(last_job_id)
    case $command in
        sbatch) run_user env "${SUBMIT_ENV[@]}" sbatch "$@" --wrap=true ;;
        *) run_user env "${SUBMIT_ENV[@]}" "$command" "$@" true ;;
    esac
    assert_failed "$command $*"
    ours=$(grep -a 'cocoon: ' <<<"$ERR")
    [[ "$(grep -c . <<<"$ours")" == 1 ]] ||
        fail "$command $*: expected one line of cocoon's, got: $ERR"
    assert_contains "$ours" "$expected" "$command $* error"
    after=$(last_job_id)
    [[ "$after" == "$before" ]] || fail "$command $* created job $after before failing"
}

img=--container-image=$BUSYBOX_SQSH
submit_refused srun "--container-mounts=/etc:/e:ro+fast: unknown mount flag 'fast'" \
    "$img" --container-mounts=/etc:/e:ro+fast
submit_refused srun "'ro' and 'rw' contradict each other" "$img" --container-mounts=/etc:/e:ro+rw
submit_refused srun "the container path 'e' must be absolute" "$img" --container-mounts=/etc:e
submit_refused srun "has a '..' component" "$img" "--container-mounts=/etc:/x/../../etc"
submit_refused srun "cannot mount over the container's root" "$img" --container-mounts=/etc:/
submit_refused srun "--container-mounts=no-such-dir:/d: cannot mount $TEST_WORK/no-such-dir at /d: No such file or directory" \
    "$img" --container-mounts=no-such-dir:/d
submit_refused srun "--container-writable and --container-readonly contradict each other" \
    "$img" --container-writable --container-readonly
submit_refused srun "--container-remap-root and --no-container-remap-root contradict each other" \
    "$img" --container-remap-root --no-container-remap-root
submit_refused srun "--container-mount-home and --no-container-mount-home contradict" \
    "$img" --container-mount-home --no-container-mount-home
submit_refused srun "--container-unshare=net,pid: unknown namespace 'pid' (known: net, ipc, uts" \
    "$img" --container-unshare=net,pid
submit_refused srun "--container-workdir=: the working directory is empty" "$img" --container-workdir=
submit_refused srun "--container-save=out.sqsh: there is no container to save; add --container-image=IMAGE or --container-name=NAME" \
    --container-save=out.sqsh
[[ ! -e $TEST_WORK/out.sqsh ]] || fail "a refused --container-save wrote $TEST_WORK/out.sqsh"
env_refused() {
    local expected=$1
    shift
    SUBMIT_ENV=("$@")
    submit_refused srun "$expected" "$img"
    SUBMIT_ENV=()
}
env_refused "PYXIS_CONTAINER_MOUNTS=/etc:/e:fast: unknown mount flag 'fast'" \
    PYXIS_CONTAINER_MOUNTS=/etc:/e:fast
env_refused "PYXIS_CONTAINER_REMAP_ROOT='maybe' is not a boolean" PYXIS_CONTAINER_REMAP_ROOT=maybe
env_refused "COCOON_CONTAINER_UNSHARE=pid: unknown namespace 'pid'" COCOON_CONTAINER_UNSHARE=pid
env_refused "PYXIS_CONTAINER_WRITABLE=1 and PYXIS_CONTAINER_READONLY=1 contradict each other" \
    PYXIS_CONTAINER_WRITABLE=1 PYXIS_CONTAINER_READONLY=1
SUBMIT_ENV=("PYXIS_CONTAINER_IMAGE=what is this?")
submit_refused srun "PYXIS_CONTAINER_IMAGE=what is this?"
SUBMIT_ENV=()
# Control characters come back escaped, on one line.
submit_refused srun "a control character in a mount list" \
    "$img" $'--container-mounts=/etc:/e:a\x01b'
assert_contains "$ERR" 'a\x01b' "the flag with a control character, escaped"
assert_not_contains "$ERR" $'\x01' "error of a flag with a control character"

for command in sbatch salloc; do
    submit_refused "$command" "unknown mount flag 'fast'" "$img" --container-mounts=/etc:/e:fast
    submit_refused "$command" "--container-writable and --container-readonly contradict" \
        "$img" --container-readonly --container-writable
done

# Only the node can tell: the step fails, with one message for its two tasks.
wait_idle
run_user srun -N1 -n2 "$img" --container-mounts=umount:/nothing/here true
assert_failed "srun with umount: of a path the container does not mount"
ours=$(grep -a 'cocoon: error: ' <<<"$ERR")
assert_eq 1 "$(grep -c . <<<"$ours")" "cocoon error lines for a two-task step: $ERR"
assert_contains "$ours" "umount:/nothing/here: the container has no default mount there" \
    "umount: error"

wait_idle
run_user srun -N1 -n2 --container-image=/nonexistent/image.sqsh true
assert_failed "srun with a missing image"
assert_eq 1 "$(grep -a -c 'cocoon: error: ' <<<"$ERR")" "cocoon error lines for a missing image: $ERR"

wait_idle
run_user srun "$img" --container-workdir=/no/such/dir true
assert_failed "srun --container-workdir=/no/such/dir"
assert_contains "$ERR" "--container-workdir=/no/such/dir: cannot enter it in the container: No such file or directory" \
    "missing --container-workdir"

assert_no_leftovers
assert_node_healthy
pass
