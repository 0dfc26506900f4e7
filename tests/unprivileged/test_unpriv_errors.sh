#!/bin/bash
# Bad input to `cocoon run`, as an ordinary user: each gives one line naming what was typed
# (and what to do), a non-zero exit status (2 for a bad command line, 125 when the
# container cannot be made), runs nothing, and leaves nothing behind: no process, mount,
# temporary file or cache entry. Through Slurm the same images are the test_error_* and
# test_catalogue_bad_* tests.
source "$(dirname "$0")/lib.sh"
require_fuse

echo "not a squashfs image" > "$WORK/text.sqsh"
cp "$BUSYBOX_SQSH" "$WORK/unreadable.sqsh"
chmod 0000 "$WORK/unreadable.sqsh"
mkfifo "$WORK/fifo.sqsh"
printf 'bogus_key: 1\n' > "$WORK/unknown-key.yaml"
printf 'mount_home: [\n' > "$WORK/broken.yaml"

# refused STATUS EXPECTED ARGS...: `cocoon run ARGS` fails with STATUS and one line
# containing EXPECTED; the command (which would print "ran") never runs.
refused() {
    local status=$1 expected=$2
    shift 2
    cocoon_run "$@"
    assert_one_line_error "cocoon run $*" "$expected"
    assert_eq "$status" "$RC" "exit status of cocoon run $*"
    assert_not_contains "$OUT" ran "output of cocoon run $*"
}
ran=(sh -c 'echo ran')

# Images.
refused 125 "/nonexistent/img.sqsh: image /nonexistent/img.sqsh does not exist" \
    /nonexistent/img.sqsh "${ran[@]}"
refused 125 "$IMAGES/corrupt.sqsh is squashfs version" "$IMAGES/corrupt.sqsh" "${ran[@]}"
refused 125 "cannot mount image $IMAGES/truncated.sqsh: squashfuse: " "$IMAGES/truncated.sqsh" "${ran[@]}"
refused 125 "image $WORK/text.sqsh is not a squashfs file (give a squashfs file or a root filesystem directory)" \
    "$WORK/text.sqsh" "${ran[@]}"
refused 125 "image $WORK/unreadable.sqsh is not readable by you (check its permissions)" \
    "$WORK/unreadable.sqsh" "${ran[@]}"
refused 125 "image $WORK/fifo.sqsh is neither a squashfs file nor a directory" "$WORK/fifo.sqsh" "${ran[@]}"
refused 125 "image /dev/zero is neither a squashfs file nor a directory" /dev/zero "${ran[@]}"
refused 125 "$BUSYBOX_SQSH/x: cannot open image $BUSYBOX_SQSH/x: Not a directory" "$BUSYBOX_SQSH/x" "${ran[@]}"
refused 125 "the image is empty; accepted forms: " "" "${ran[@]}"

# Options.
refused 125 "--container-mounts=/etc:/e:fast: unknown mount flag 'fast'" \
    --container-mounts=/etc:/e:fast "$BUSYBOX_DIR" "${ran[@]}"
refused 125 "--container-mounts=/etc:../x: the container path '../x' must be absolute" \
    --container-mounts=/etc:../x "$BUSYBOX_DIR" "${ran[@]}"
refused 125 "cannot bind /no/such/source into the container: No such file or directory" \
    --container-mounts=/no/such/source:/x "$BUSYBOX_DIR" "${ran[@]}"
refused 125 "--container-writable and --container-readonly contradict each other; give one" \
    --container-readonly --container-writable "$BUSYBOX_DIR" "${ran[@]}"
refused 125 "--container-unshare=bogus: unknown namespace 'bogus'" \
    --container-unshare=bogus "$BUSYBOX_DIR" "${ran[@]}"
refused 125 "--container-workdir=/no/such/dir: cannot enter it in the container" \
    --container-workdir=/no/such/dir "$BUSYBOX_SQSH" "${ran[@]}"
refused 125 "--container-name=x: named containers live in a Slurm job" \
    --container-name=x "$BUSYBOX_DIR" "${ran[@]}"
refused 125 "--container-save=$WORK/saved.sqsh: 'cocoon run' does not save its container yet" \
    --container-save="$WORK/saved.sqsh" "$BUSYBOX_DIR" "${ran[@]}"
[[ ! -e "$WORK/saved.sqsh" ]] || fail "--container-save left $WORK/saved.sqsh"

# The command line itself: exit status 2, the option named, no usage text.
refused 2 "run: unknown option '--bogus' (see 'cocoon --help')" --bogus "$BUSYBOX_DIR" "${ran[@]}"
refused 2 "run: unknown option '-x'" -x "$BUSYBOX_DIR" "${ran[@]}"
refused 2 "run: missing COMMAND" "$BUSYBOX_DIR"
run_capture timeout "$COCOON_TIMEOUT" "$COCOON" run -c
assert_one_line_error "cocoon run -c" "run: option '-c' needs a value"
assert_eq 2 "$RC" "exit status of cocoon run -c"

# The configuration.
run_capture timeout "$COCOON_TIMEOUT" "$COCOON" run -c /nonexistent/cocoon.yaml "$BUSYBOX_DIR" "${ran[@]}"
assert_one_line_error "cocoon run -c /nonexistent/cocoon.yaml" \
    "cannot read configuration /nonexistent/cocoon.yaml: No such file or directory"
run_capture timeout "$COCOON_TIMEOUT" "$COCOON" run -c "$WORK/unknown-key.yaml" "$BUSYBOX_DIR" "${ran[@]}"
assert_one_line_error "a configuration with an unknown key" "$WORK/unknown-key.yaml: unknown key 'bogus_key'"
run_capture timeout "$COCOON_TIMEOUT" "$COCOON" run -c "$WORK/broken.yaml" "$BUSYBOX_DIR" "${ran[@]}"
assert_one_line_error "a configuration that is not YAML" "$WORK/broken.yaml"

# None of these created an image cache.
[[ ! -e "$UNPRIV_DIR/scratch/cache/$MY_UID" ]] ||
    fail "bad input created the image cache: $(find "$UNPRIV_DIR/scratch/cache" | head)"
assert_no_leftovers
pass
