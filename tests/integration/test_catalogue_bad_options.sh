#!/bin/bash
# Catalogue BO (bad options; docs/security.md):
#   BO-01  an image that is a FIFO, a character device or a /proc file fails the step with
#          one line naming it, without hanging
#   BO-02  shell metacharacters and option-like values in --container-image, --container
#          and --container-env never run anything: refused before a job exists, or (a
#          path-shaped value) refused on the node; the marker file never appears
#   BO-07  an image smuggled in through the job environment (_SLURM_SPANK_OPTION_...),
#          which skips srun's own check, is checked again on the node; a valid one works
#   BO-08  --container-image wins over --container; the last --container-image wins
#   BO-12  control characters (an ANSI escape) in an image are refused and never printed raw
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

marker=/tmp/cocoon-catalogue-pwned
fifo=$TEST_WORK/catalogue-fifo.sqsh
cleanup() {
    cancel_user_jobs
    rm -f "$marker" "$fifo"
}
trap cleanup EXIT
cleanup

# One failing step: no hang, and the one error line names the image.
check_node_refuses() {
    local image=$1 message=$2
    wait_idle
    run_user timeout 60 srun --container-image="$image" true
    [[ "$RC" != 124 ]] || fail "srun --container-image=$image hung"
    assert_failed "srun --container-image=$image"
    assert_contains "$ERR" "cocoon: error: --container-image=$image: $message" "error for $image"
    assert_eq 1 "$(grep -c '^cocoon: error:' <<<"$ERR")" "cocoon error lines for $image"
}

# --- BO-01 ------------------------------------------------------------------------------------
mkfifo -m 0644 "$fifo"
chown "$TEST_USER" "$fifo"
check_node_refuses "$fifo" "image $fifo is neither a squashfs file nor a directory"
check_node_refuses /dev/urandom "image /dev/urandom is neither a squashfs file nor a directory"
# Opened by the holder, as the user: its own environ belongs to root (it is not dumpable).
check_node_refuses /proc/self/environ "image /proc/self/environ is not readable by you"

# --- BO-02 ------------------------------------------------------------------------------------
submit_refuses() {
    local shown before after
    shown=$(printf '%q' "${*: -1}")
    wait_idle
    before=$(last_job_id)
    run_user timeout 60 "$@"
    assert_failed "$shown"
    [[ -n "$ERR" ]] || fail "$shown failed without a message"
    after=$(last_job_id)
    [[ "$after" == "$before" ]] || fail "$shown created job $after before failing"
    [[ ! -e "$marker" ]] || fail "$shown ran a command: $marker exists"
}
payloads=("x;touch $marker" "\$(touch $marker)" "\`touch $marker\`" "x|touch $marker"
          "x && touch $marker" "--foo" "-o /etc/x" "x
touch $marker")
for payload in "${payloads[@]}"; do
    submit_refuses srun "--container-image=$payload" true
    submit_refuses srun "--container=$payload" true
    submit_refuses srun "--container-image=$BUSYBOX_SQSH" "--container-env=$payload" true
done
# A path may contain anything but NUL: it is a file name, opened as such and never parsed.
weird=$TEST_WORK/'x;touch '$marker'.sqsh'
check_node_refuses "$weird" "image $weird does not exist"
[[ ! -e "$marker" ]] || fail "a path with shell syntax ran a command: $marker exists"

# --- BO-07 ------------------------------------------------------------------------------------
smuggle=_SLURM_SPANK_OPTION_cocoon_container_image
wait_idle
run_user env "$smuggle=bad image;touch $marker" timeout 60 srun true
[[ "$RC" != 124 ]] || fail "srun with $smuggle hung"
assert_failed "srun with $smuggle set to an invalid image"
assert_contains "$ERR" "cocoon: error: --container-image=bad image;touch $marker: " \
    "error for the smuggled image"
[[ ! -e "$marker" ]] || fail "the smuggled image ran a command: $marker exists"
# The same variable with a valid image does reach the node: the check above was live.
wait_idle
run_user env "$smuggle=$BUSYBOX_SQSH" timeout 60 srun sh -c "$IN_IMAGE; echo inside"
assert_succeeded "srun with $smuggle set to the busybox image"
assert_eq inside "$OUT" "output of the smuggled-image step"

# --- BO-08 ------------------------------------------------------------------------------------
wait_idle
run_user srun --container=/nonexistent/cocoon-image.sqsh --container-image="$BUSYBOX_SQSH" \
    sh -c "$IN_IMAGE; echo image-wins"
assert_succeeded "srun --container=MISSING --container-image=BUSYBOX"
assert_eq image-wins "$OUT" "--container-image over --container"
wait_idle
run_user srun --container-image=/nonexistent/cocoon-image.sqsh --container-image="$BUSYBOX_SQSH" \
    sh -c "$IN_IMAGE; echo last-wins"
assert_succeeded "srun --container-image=MISSING --container-image=BUSYBOX"
assert_eq last-wins "$OUT" "the last --container-image"

# --- BO-12 ------------------------------------------------------------------------------------
escape=$'\e[31mred\e[0m'
submit_refuses srun "--container-image=$escape" true
# Slurm's own "Invalid --container-image argument" line repeats the value as it is: only
# cocoon's line is checked.
cocoon_line=$(grep 'cocoon: --container-image=' <<<"$ERR")
[[ -n "$cocoon_line" ]] || fail "no cocoon error line for an escape sequence: $(printf '%q' "$ERR")"
[[ "$cocoon_line" != *$'\e'* ]] || fail "cocoon prints the escape character raw: $(printf '%q' "$cocoon_line")"
assert_contains "$cocoon_line" '\x1b[31mred' "error for an image with an escape sequence"
assert_contains "$cocoon_line" 'control character' "error for an image with an escape sequence"
# Through the job environment the value reaches the node; its error line is escaped too.
wait_idle
run_user env "$smuggle=$escape" timeout 60 srun true
assert_failed "srun with an escape sequence smuggled in"
assert_contains "$ERR" "cocoon: error: --container-image=" "error for the smuggled escape sequence"
[[ "$ERR" != *$'\e'* ]] || fail "the node's error prints the escape character raw: $(printf '%q' "$ERR")"

cleanup
assert_no_leftovers
assert_node_healthy
pass
