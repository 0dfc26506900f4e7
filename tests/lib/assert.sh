# shellcheck shell=bash
# What every shell test shares, with no Slurm, cluster or registry in it: the test's name,
# its verdicts (pass, fail, skip) with meson's exit codes, assertions, capturing a command's
# output, and scratch directories that go away with the test. Sourced by
# tests/integration/lib.sh and tests/unprivileged/lib.sh.
#
# Environment:
#   CI / COCOON_REQUIRE_CLUSTER=1   turn every skip into a failure: a run that is meant to
#                                   test everything must not pass by testing nothing

set -uo pipefail

# The outermost script is the test, however deep the libraries are sourced.
TEST_NAME=$(basename "${BASH_SOURCE[-1]:-$0}" .sh)

_lib_require_all() {
    [[ -n "${CI:-}" || "${COCOON_REQUIRE_CLUSTER:-0}" == 1 ]]
}

fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    exit 1
}

# Exit with meson's skip code; a failure instead when the environment demands everything.
skip() {
    if _lib_require_all; then
        echo "FAIL [$TEST_NAME]: would skip, but CI/COCOON_REQUIRE_CLUSTER is set: $*" >&2
        exit 1
    fi
    echo "SKIP [$TEST_NAME]: $*"
    exit 77
}

note() {
    echo "[$TEST_NAME] $*"
}

pass() {
    echo "PASS [$TEST_NAME]"
    exit 0
}

# --- running a command --------------------------------------------------------------------

# run_capture CMD...: run CMD (an argv array, never through a shell), its stdout in $OUT,
# its stderr in $ERR, its exit status in $RC. Stdin is the caller's.
run_capture() {
    local out err
    out=$(mktemp) err=$(mktemp)
    "$@" >"$out" 2>"$err"
    RC=$?
    # shellcheck disable=SC2034  # read by the tests
    OUT=$(cat "$out")
    # shellcheck disable=SC2034
    ERR=$(cat "$err")
    rm -f "$out" "$err"
    return 0
}

# --- assertions ---------------------------------------------------------------------------

assert_eq() {
    local expected=$1 actual=$2 what=${3:-value}
    [[ "$expected" == "$actual" ]] ||
        fail "$what: expected '$expected', got '$actual'"
}

assert_contains() {
    local haystack=$1 needle=$2 what=${3:-output}
    [[ "$haystack" == *"$needle"* ]] ||
        fail "$what does not contain '$needle'; it was:
$haystack"
}

assert_not_contains() {
    local haystack=$1 needle=$2 what=${3:-output}
    [[ "$haystack" != *"$needle"* ]] ||
        fail "$what contains '$needle' but should not; it was:
$haystack"
}

# assert_rc EXPECTED CMD...: run CMD (stdout/stderr pass through), check its exit status.
assert_rc() {
    local expected=$1 rc
    shift
    "$@"
    rc=$?
    [[ "$rc" == "$expected" ]] || fail "'$*' exited $rc, expected $expected"
}

# assert_failed WHAT: the last run_capture (run_user, run_cocoon) must have failed.
assert_failed() {
    [[ "$RC" != 0 ]] || fail "$1 succeeded but should have failed; stdout: $OUT; stderr: $ERR"
}

assert_succeeded() {
    [[ "$RC" == 0 ]] || fail "$1 exited $RC; stdout: $OUT; stderr: $ERR"
}

# assert_one_line_error WHAT EXPECTED_TEXT: the last command failed and its stderr is a
# single line, "cocoon: error: ..." containing EXPECTED_TEXT (the house rule for bad input).
assert_one_line_error() {
    local what=$1 expected=$2
    assert_failed "$what"
    assert_contains "$ERR" "$expected" "error of $what"
    [[ "$ERR" != *$'\n'* ]] || fail "error of $what is more than one line:
$ERR"
    [[ "$ERR" == "cocoon: error: "* ]] || fail "error of $what does not start with 'cocoon: error: ':
$ERR"
}

# --- scratch directories -------------------------------------------------------------------

_SCRATCH_DIRS=()

# scratch_dir PARENT [MODE]: a new directory in PARENT (mode 0700 unless MODE), removed
# when the test exits; sets SCRATCH to its path (not printed: $(...) would lose the
# registration). A test that sets its own EXIT trap calls remove_scratch_dirs in it.
scratch_dir() {
    local parent=$1 mode=${2:-0700}
    SCRATCH=$(mktemp -d "$parent/cocoon-scratch.XXXXXX") ||
        fail "cannot create a scratch directory in $parent"
    chmod "$mode" "$SCRATCH"
    _SCRATCH_DIRS+=("$SCRATCH")
    trap remove_scratch_dirs EXIT
}

remove_scratch_dirs() {
    local dir
    for dir in "${_SCRATCH_DIRS[@]}"; do
        # A test may have made a tree read-only (an image, say): give write access back.
        [[ -d "$dir" ]] && { chmod -R u+w "$dir" 2>/dev/null; rm -rf --one-file-system "$dir"; }
    done
    _SCRATCH_DIRS=()
}
