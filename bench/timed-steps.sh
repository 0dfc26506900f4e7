# shellcheck shell=bash disable=SC2154  # $user and $work are the sourcing script's
# Sourced by bench/run-all.sh and bench/compare-builds.sh: timing one command as the test
# user on the idle test cluster. Expects $user (the test user) and $work (a directory of
# that user for the command's output); SLURM_CONF exported.

# Waits until no job is left and the node is idle (a new job while the last one completes
# waits about a second for the scheduler; its epilog may still run).
node=$(hostname -s)
wait_idle() {
    local i
    for ((i = 0; i < 200; i++)); do
        [[ -z "$(squeue -h -o %i 2>/dev/null)" && "$(sinfo -h -n "$node" -o %T 2>/dev/null | sort -u)" == idle ]] && return
        sleep 0.05
    done
}

# Runs a command as the test user in $work, once the node is idle (at once while
# $bench_beside is set: a job of the run's own is meant to run beside it); its output in
# $work/out and $work/err, its wall time in ms on stdout.
as_user_timed() {
    [[ -n "${bench_beside:-}" ]] || wait_idle
    # shellcheck disable=SC2016  # expanded by the user's shell
    runuser -u "$user" -- bash -c 'cd /tmp
        start=$EPOCHREALTIME; eval "$1" >"$2/out" 2>"$2/err"; status=$?; end=$EPOCHREALTIME
        echo "$start $end" >"$2/time"; exit $status' _ "$1" "$work" || return 1
    awk '{ printf "%.1f", ($2 - $1) * 1000 }' "$work/time"
}
