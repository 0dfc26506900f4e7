#!/bin/bash
# The unprivileged user the tests run as, for the cluster (cluster.sh start) and for the
# unprivileged suite (tests/unprivileged/lib.sh, which needs no cluster):
#
#   test-user.sh     create cocoontest (home directory with work/) and its extra group
#                    cocoonextra when missing; rerunnable
#
# Must run as root. Prints "created user cocoontest" when it made the user.
set -euo pipefail

TEST_USER=cocoontest
EXTRA_GROUP=cocoonextra

(( EUID == 0 )) || { echo "test-user.sh: run as root (it creates a user)" >&2; exit 2; }
getent group "$EXTRA_GROUP" >/dev/null || groupadd "$EXTRA_GROUP"
if ! id -u "$TEST_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/bash -G "$EXTRA_GROUP" "$TEST_USER"
    echo "created user $TEST_USER"
elif ! id -nG "$TEST_USER" | tr ' ' '\n' | grep -qxF "$EXTRA_GROUP"; then
    usermod -a -G "$EXTRA_GROUP" "$TEST_USER"
fi
home=$(getent passwd "$TEST_USER" | cut -d: -f6)
install -d -o "$TEST_USER" -g "$(id -gn "$TEST_USER")" -m 0755 "$home" "$home/work"
