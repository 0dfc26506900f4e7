#!/bin/bash
# cocoon's log reaches Slurm's: `srun -v` shows how the submit side read the image, and a
# helper's own stderr (here squashfuse's) lands in the slurmd log, while the user still
# gets the one-line message.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

# --- srun -v: the library's verbose lines, through slurm_verbose -------------------------
run_user srun -v --container-image="$BUSYBOX_SQSH" true
assert_succeeded "srun -v --container-image=busybox.sqsh true"
assert_contains "$ERR" "cocoon: image '$BUSYBOX_SQSH' is a squashfs file or directory: $BUSYBOX_SQSH" "srun -v stderr"
run_user srun --container-image="$BUSYBOX_SQSH" true
assert_not_contains "$ERR" "cocoon: image '" "srun stderr without -v"
wait_idle

# --- a squashfuse that fails: its whole stderr in the slurmd log --------------------------
# cat refuses squashfuse's -f and prints two lines; the user's message carries the first,
# only the log the second.
saved_config=$(mktemp)
cp -p "$COCOON_YAML" "$saved_config"
cleanup() {
    cancel_user_jobs
    cat "$saved_config" > "$COCOON_YAML"
    rm -f "$saved_config"
}
trap cleanup EXIT
sed -i 's|^squashfuse:.*|squashfuse: /usr/bin/cat|' "$COCOON_YAML"
grep -q '^squashfuse: /usr/bin/cat$' "$COCOON_YAML" || fail "could not point squashfuse at cat in $COCOON_YAML"
marks=$(slurmd_logs_mark)
run_user srun --container="$BUSYBOX_SQSH" true
assert_failed "srun with a squashfuse that fails"
assert_contains "$ERR" "squashfuse: /usr/bin/cat: invalid option -- 'f'" "the user's message"
assert_not_contains "$ERR" "Try '/usr/bin/cat --help'" "the user's message"
logged=$(slurmd_logs_since "$marks")
assert_contains "$logged" "cocoon: holder: squashfuse: /usr/bin/cat: invalid option -- 'f'" "slurmd log"
assert_contains "$logged" "cocoon: holder: squashfuse: Try '/usr/bin/cat --help' for more information." "slurmd log"
cleanup
trap - EXIT
wait_idle

assert_no_leftovers
assert_node_healthy
pass
