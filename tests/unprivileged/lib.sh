# shellcheck shell=bash
# Sourced by every test of the unprivileged suite (tests/unprivileged/test_*.sh): what a
# user can do with `cocoon run` on a login node, with no root, no Slurm, no cluster and no
# registry. Everything the tests use is made here, in the suite's own directory:
#
#   $UNPRIV_DIR/install     cocoon staged with meson install --destdir (or COCOON_CLI)
#   $UNPRIV_DIR/images      the busybox test images (tests/harness/make-images.sh)
#   $UNPRIV_DIR/cocoon.yaml the configuration every `cocoon run` of the suite gets (-c)
#   $UNPRIV_DIR/scratch     the test user's: each test's scratch directories
#
# Run as root (scripts/test.sh, `sudo meson test --suite unprivileged`), a test prepares
# that directory, root-owned as the holder program must be, then runs again as the test
# user cocoontest (tests/harness/test-user.sh makes it; no cluster needed). Run as anyone
# else, it prepares the directory as that user and runs as them.
#
# Environment:
#   COCOON_UNPRIV_DIR    the suite's directory (as root: $COCOON_TEST_DIR/unprivileged,
#                        default /var/tmp/cocoon-test/unprivileged; else
#                        $COCOON_BUILD_DIR/unprivileged)
#   COCOON_BUILD_DIR     the meson build directory to stage from (meson test sets it)
#   COCOON_CLI           an installed cocoon to test instead of a staged one
#   CI / COCOON_REQUIRE_CLUSTER=1   a missing prerequisite fails instead of skipping

_UNPRIV_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=../lib/assert.sh
source "$_UNPRIV_LIB_DIR/../lib/assert.sh"

# How long one `cocoon run` may take before it counts as hung.
COCOON_TIMEOUT=${COCOON_TIMEOUT:-60}

# --- as root: prepare, then run again as the test user ----------------------------------------

# The staged copy of cocoon, rebuilt when the build has anything newer than the last copy.
_unpriv_stage_install() {
    local build=$1 install=$UNPRIV_DIR/install
    [[ -f "$build/build.ninja" ]] ||
        fail "no meson build in $build: run scripts/build.sh (or set COCOON_BUILD_DIR or COCOON_CLI)"
    if [[ -f "$install/.stamp" ]] &&
        [[ -z "$(find "$build" -newer "$install/.stamp" -type f \
                 \( -name cocoon -o -name cocoon-holder -o -name cocoon-squashfuse \
                    -o -name 'libcocoon.so*' \) -print -quit)" ]]; then
        return 0
    fi
    rm -rf --one-file-system "$install"
    meson install -C "$build" --destdir "$install" --no-rebuild --quiet >/dev/null ||
        fail "meson install -C $build --destdir $install failed"
    chmod -R go-w,a+rX "$install"
    touch "$install/.stamp"
}

_unpriv_find_cli() {
    find "$UNPRIV_DIR/install" -path '*/bin/cocoon' -type f -print -quit
}

# The images, the configuration and the scratch directory (owned by OWNER).
_unpriv_prepare() {
    local owner=$1
    "$_UNPRIV_LIB_DIR/../harness/make-images.sh" "$UNPRIV_DIR/images" >/dev/null ||
        fail "tests/harness/make-images.sh $UNPRIV_DIR/images failed"
    sed "s|@UNPRIV_DIR@|$UNPRIV_DIR|g" "$_UNPRIV_LIB_DIR/cocoon.yaml" > "$UNPRIV_DIR/cocoon.yaml.new" &&
        chmod 0644 "$UNPRIV_DIR/cocoon.yaml.new" &&
        mv -f "$UNPRIV_DIR/cocoon.yaml.new" "$UNPRIV_DIR/cocoon.yaml" ||
        fail "cannot write $UNPRIV_DIR/cocoon.yaml"
    install -d -m 0700 ${owner:+-o "$owner"} "$UNPRIV_DIR/scratch" ||
        fail "cannot create $UNPRIV_DIR/scratch"
}

_unpriv_build_dir() {
    echo "${COCOON_BUILD_DIR:-$_UNPRIV_LIB_DIR/../../build}"
}

if (( EUID == 0 )); then
    UNPRIV_USER=cocoontest
    UNPRIV_DIR=${COCOON_UNPRIV_DIR:-${COCOON_TEST_DIR:-/var/tmp/cocoon-test}/unprivileged}
    "$_UNPRIV_LIB_DIR/../harness/test-user.sh" >/dev/null || fail "cannot create the test user"
    # As cluster.sh does: unprivileged FUSE needs /dev/fuse at 0666 (a node prerequisite).
    [[ -c /dev/fuse ]] && chmod 0666 /dev/fuse
    # Root-owned from here up: the holder program is trusted only in such directories, and
    # the test user can change nothing the tests rely on.
    mkdir -p "$UNPRIV_DIR" && install -d -m 0755 "$UNPRIV_DIR" "$UNPRIV_DIR/tests" ||
        fail "cannot create $UNPRIV_DIR"
    (
        flock 9
        if [[ -n "${COCOON_CLI:-}" ]]; then :; else _unpriv_stage_install "$(_unpriv_build_dir)"; fi
        _unpriv_prepare "$UNPRIV_USER"
        # The scripts too: the checkout may be where the test user cannot read (/root/...).
        rm -rf "$UNPRIV_DIR/tests/lib" "$UNPRIV_DIR/tests/unprivileged"
        cp -r "$_UNPRIV_LIB_DIR/../lib" "$_UNPRIV_LIB_DIR" "$UNPRIV_DIR/tests/"
        chmod -R go-w,a+rX "$UNPRIV_DIR/tests"
    ) 9>"$UNPRIV_DIR/.lock" || exit
    cli=${COCOON_CLI:-$(_unpriv_find_cli)}
    [[ -n "$cli" ]] || fail "no cocoon in $UNPRIV_DIR/install"
    home=$(getent passwd "$UNPRIV_USER" | cut -d: -f6)
    cd / || fail "cannot change to /"
    exec runuser -u "$UNPRIV_USER" -- env -i \
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$home" USER="$UNPRIV_USER" \
        LOGNAME="$UNPRIV_USER" LANG=C.UTF-8 ${CI:+CI="$CI"} \
        COCOON_REQUIRE_CLUSTER="${COCOON_REQUIRE_CLUSTER:-0}" COCOON_TIMEOUT="$COCOON_TIMEOUT" \
        COCOON_UNPRIV_DIR="$UNPRIV_DIR" COCOON_UNPRIV_PREPARED=1 COCOON_CLI="$cli" \
        bash "$UNPRIV_DIR/tests/unprivileged/$(basename "${BASH_SOURCE[-1]}")" "$@"
fi

# --- as the user ---------------------------------------------------------------------------

if [[ "${COCOON_UNPRIV_PREPARED:-0}" != 1 ]]; then
    UNPRIV_DIR=${COCOON_UNPRIV_DIR:-$(_unpriv_build_dir)/unprivileged}
    mkdir -p "$UNPRIV_DIR" && chmod 0755 "$UNPRIV_DIR" || fail "cannot create $UNPRIV_DIR"
    UNPRIV_DIR=$(cd "$UNPRIV_DIR" && pwd -P)
    (
        flock 9
        if [[ -n "${COCOON_CLI:-}" ]]; then :; else _unpriv_stage_install "$(_unpriv_build_dir)"; fi
        _unpriv_prepare ""
    ) 9>"$UNPRIV_DIR/.lock" || exit
fi
UNPRIV_DIR=${UNPRIV_DIR:-$COCOON_UNPRIV_DIR}
COCOON=${COCOON_CLI:-$(_unpriv_find_cli)}
[[ -x "$COCOON" ]] || fail "cocoon not found in $UNPRIV_DIR/install (or COCOON_CLI)"
COCOON_YAML=$UNPRIV_DIR/cocoon.yaml
IMAGES=$UNPRIV_DIR/images
# shellcheck disable=SC2034  # used by the tests
BUSYBOX_SQSH=$IMAGES/busybox.sqsh
BUSYBOX_DIR=$IMAGES/busybox
# Shell snippet for "sh -c" inside a container: exits 99 unless it runs in the busybox test
# image, so that a test cannot pass because the command ran on the host.
# shellcheck disable=SC2034
IN_IMAGE='grep -q "^ID=cocoon-busybox" /etc/os-release || { echo "cocoon-test: not inside the test image" >&2; exit 99; }'
# shellcheck disable=SC2034
MY_UID=$(id -u) MY_GID=$(id -g)

# --- prerequisites ---------------------------------------------------------------------------

(( EUID != 0 )) || fail "still root after runuser"
unshare -U true 2>/dev/null ||
    skip "this kernel does not let $(id -un) create user namespaces (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone)"

# Squashfs images are mounted with squashfuse by the user: /dev/fuse must be open to them.
require_fuse() {
    [[ -r /dev/fuse && -w /dev/fuse ]] ||
        skip "/dev/fuse is not readable and writable by $(id -un) (a node prerequisite: chmod 0666 /dev/fuse)"
}

# --- the test's own directory and baseline ----------------------------------------------------

scratch_dir "$UNPRIV_DIR/scratch" 0755
WORK=$SCRATCH
cd "$WORK" || fail "cannot change to $WORK"

# What is there before the test, so that only what it leaves counts (the user may have other
# processes and files of their own).
_my_userns=$(readlink /proc/self/ns/user)
# Processes of the user in another user namespace than the test's (the containers'), and
# cocoon's own programs.
_cocoon_processes() {
    local pid comm ns
    for pid in $(pgrep -u "$MY_UID"); do
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        ns=$(readlink "/proc/$pid/ns/user" 2>/dev/null) || continue
        if [[ "$ns" != "$_my_userns" || "$comm" == cocoon* || "$comm" == squashfuse* ]]; then
            echo "$pid $comm"
        fi
    done
}
_temp_entries() {
    find /tmp /var/tmp /dev/shm "/run/user/$MY_UID" ${TMPDIR:+"$TMPDIR"} -maxdepth 1 \
        -user "$MY_UID" -name '*cocoon*' 2>/dev/null | sort
}
_BASE_PROCS=$(_cocoon_processes | awk '{ print $1 }')
_BASE_MOUNTS=$(cat /proc/self/mountinfo)
_BASE_TEMP=$(_temp_entries)

# Nothing of a container survives it: no process (holder, squashfuse, the command's
# children), no mount in the user's mount namespace, no temporary file or directory.
assert_no_leftovers() {
    local i procs="" mounts temps
    for ((i = 0; i < 50; i++)); do
        procs=$(_cocoon_processes | grep -vwF -f <(echo "${_BASE_PROCS:-none}") || true)
        [[ -z "$procs" ]] && break
        sleep 0.1
    done
    [[ -z "$procs" ]] || fail "processes left behind:
$(ps -o pid,ppid,stat,cmd -p "$(awk '{ print $1 }' <<<"$procs" | paste -sd,)")"
    mounts=$(diff <(echo "$_BASE_MOUNTS") /proc/self/mountinfo | grep '^>' || true)
    [[ -z "$mounts" ]] || fail "mounts left behind in the test's mount namespace:
$mounts"
    temps=$(comm -13 <(echo "$_BASE_TEMP") <(_temp_entries))
    [[ -z "$temps" ]] || fail "temporary files left behind:
$temps"
    if [[ -d "$UNPRIV_DIR/scratch/cache" ]]; then
        temps=$(find "$UNPRIV_DIR/scratch/cache" \( -name '*.tmp*' -o -name '*.part*' \) 2>/dev/null)
        [[ -z "$temps" ]] || fail "temporary files left in the image cache:
$temps"
    fi
}

# --- running cocoon ----------------------------------------------------------------------------

# cocoon_run ARGS...: `cocoon run -c COCOON_YAML ARGS` from the test's directory, stdin
# /dev/null, killed after COCOON_TIMEOUT seconds (RC 124); output in OUT, ERR, RC.
cocoon_run() {
    run_capture timeout "$COCOON_TIMEOUT" "$COCOON" run -c "$COCOON_YAML" "$@" </dev/null
    [[ "$RC" != 124 ]] || fail "cocoon run $* hung (killed after $COCOON_TIMEOUT s)"
}

# In a writable container of a directory image the user can change only the image's
# directories that are theirs (docs/limitations.md): as root, the images are root's, so the
# tests that write into the image's tree use a copy the user owns (copy_image).

# copy_image NAME: a copy of the busybox directory image at $WORK/NAME, for the test to
# change; prints the path.
copy_image() {
    cp -a "$BUSYBOX_DIR" "$WORK/$1" || fail "cannot copy $BUSYBOX_DIR"
    echo "$WORK/$1"
}

# squash DIR: DIR as a squashfs image DIR.sqsh (the user's own files); prints the path.
squash() {
    mksquashfs "$1" "$1.sqsh" -noappend -quiet -no-progress >/dev/null ||
        fail "mksquashfs $1 failed"
    echo "$1.sqsh"
}
