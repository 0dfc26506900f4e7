# shellcheck shell=bash
# Sourced by cluster.sh and registry.sh: how the harness starts its daemons.
#
# A daemon keeps every descriptor it inherits, among them the one of
# `flock /tmp/cocoon-cluster.lock ...`: one that an interrupted run left behind then holds
# the cluster lock for good, and every later run waits forever (munged and docker-registry
# do; slurmctld and slurmd close theirs). Start daemons with only 0, 1 and 2.

# Closes every descriptor above 2 of the calling shell (call it in a subshell).
close_inherited_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if (( fd > 2 )); then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
}

# Runs CMD with only descriptors 0, 1 and 2 (in a subshell: not for `CMD &` whose $! is
# wanted; write `(close_inherited_fds; exec CMD) &` there).
without_inherited_fds() {
    (
        close_inherited_fds
        exec "$@"
    )
}
