#!/bin/bash
# Style and static checks, run by scripts/test.sh (so by .ci/run) next to the integration
# suite, and on their own before a commit:
#   clang-format  every C++ file is formatted as .clang-format says;
#   clang-tidy    the project's own sources pass the checks of .clang-tidy (it reads the
#                 compiler flags from build/compile_commands.json: build first).
# The third check, the build with -Wshadow -Wconversion -Wsign-conversion and -Werror,
# is the normal build (meson.build). Prints what fails; exits non-zero when anything did.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${COCOON_LINT_JOBS:-$(nproc)}

if [[ ! -f build/compile_commands.json ]]; then
    echo "lint: no build/compile_commands.json: run scripts/build.sh first" >&2
    exit 2
fi
mapfile -t sources < <(git ls-files '*.cpp' '*.h')
status=0

if ! format_out=$(clang-format --dry-run --Werror "${sources[@]}" 2>&1); then
    printf '%s\n' "$format_out" | head -40
    echo "lint: clang-format: the files above differ from .clang-format (fix: clang-format -i FILE)"
    status=1
fi

# The library, plugin, helper and command; the tests are GoogleTest macros, which several
# checks misread.
mapfile -t tidy_sources < <(printf '%s\n' "${sources[@]}" |
    grep -E '^(libcontainer|spank|cli|helper)/.*\.cpp$')
findings=$(printf '%s\n' "${tidy_sources[@]}" |
    xargs -P "$jobs" -n 4 clang-tidy -p build --quiet 2>/dev/null | grep -E -A3 '(warning|error):')
if [[ -n "$findings" ]]; then
    printf '%s\n' "$findings"
    echo "lint: clang-tidy: the findings above (checks in .clang-tidy)"
    status=1
fi

(( status == 0 )) && echo "lint: clang-format and clang-tidy: clean (${#sources[@]} files)"
exit $status
