#!/bin/bash
# Every figure of the performance targets (docs/performance.md), in one run, side by side:
#
#   sudo bench/run-all.sh [--quick] [--peers] [--no-import] [ROUNDS]     (default 5 rounds)
#
# Each round runs every variant once, in turn, as the cluster's test user, so that whatever
# else the machine does meanwhile hits all of them alike; the tables show medians and the
# ratio of each to its reference. No ratio is asserted anywhere: targets are read off.
#
#   start   `srun true`, bare, and in cocoon containers of 1 MB (the busybox test image),
#           ~100 MB and ~2 GB (busybox + random data), each as squashfs and as directory,
#           and a registry image already in the user's cache: by tag (the step costs one
#           HEAD request), by digest, and by tag with tag_check_interval set (neither asks;
#           the requests per step are counted in the registry's log); the 1 MB squashfs and
#           the registry image also as a new job right after an earlier one of the same
#           user, whose warm mount it uses (warm_mount_across_jobs)
#   tree    `srun true` in the Python image (bench/make-bench-images.sh): as directory, as
#           the user's squashfs (squashfuse), as the same image of the trusted cache
#           (kernel_mount), that also as a new job after an earlier one of the user (as
#           in start), as a new job whose kernel mount the node kept from an earlier job
#           (kernel_mount_linger) and as a job beside another that runs the same image
#           (the two share its loop device and superblock); with --peers also bwrap, ch-run
#           (directory and squashfs) and podman run --rootfs on the same tree
#   tasks   `srun -n 8` and `srun -n 64` (--overcommit: the node has fewer CPUs), bare and
#           in the 1 MB image; per-task join cost, and a check that every task of a step
#           saw one mount namespace that is not the host's; at 64 tasks also with
#           cocoon.yaml's seccomp filter off (each task installs it: this row shows what
#           that costs here)
#   inside  bench/file_access_probe.py inside the task (step start left out): a fresh
#           Python importing 15 packages, an lstat walk and `ls -lR` of the Python trees,
#           a sequential read of 128 MiB; on the host (the host's own Python, the same
#           large files), and in the directory, squashfuse and kernel-mounted images,
#           writable (the default: an overlay on the image) and --container-readonly (and
#           in the peers with --peers, whose roots are read-only), kernel-mounted also
#           beside another job that runs the image and as a new job whose kernel mount
#           the node kept from an earlier one (kernel_mount_linger); and in the squashfuse
#           and kernel-mounted images as the first and the second step of one job with
#           warm_mount_linger set (the second runs on the mount the first warmed), and
#           read-only on a warm mount of its own. Ratios to the host. The plain
#           kernel-mounted rows (and the warm group's jobs) start with no mount of the
#           image left on the node: a step takes the image's loop device while one exists,
#           and the caches with it.
#   warm    the steps of one allocation (salloc, one per round): `srun true` in the 1 MB
#           and 2 GB squashfs and the kernel-mounted Python image, steps 2 and 3 (and
#           step 1, which starts the image holder) with cocoon.yaml warm_mount_linger set,
#           and steps 2 and 3 in another allocation without it; ratio to bare `srun true`
#           steps 2 and 3 of the allocation with it. The cluster's cocoon.yaml gets
#           warm_mount_linger for that job only and is restored whatever happens.
#   import  bench/import-bench.sh: `cocoon pull` of a 5-layer 400 MiB image against
#           skopeo + umoci + mksquashfs (after the rounds; --no-import leaves it out)
#
# --quick: 2 rounds and one import run instead of 5 and 2 (about 2 minutes on two CPUs
# once the images exist; a default run about 4). --peers installs bubblewrap, charliecloud-runtime and podman
# (with runc and uidmap) from Debian with apt-get, then measures them; a peer that does not
# run on this machine is left out with a line saying why.
#
# Needs root and a build (scripts/build.sh). Without a running cluster in
# $COCOON_TEST_DIR it runs itself inside bench/with-cluster.sh, which starts and stops the
# cluster and the registries. Images are built once under $COCOON_TEST_DIR/bench (about
# 5 GiB, bench/make-bench-images.sh), the import bench's under $COCOON_TEST_DIR/bench/import
# (about 2 GiB).
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: bench/run-all.sh [--quick] [--peers] [--no-import] [ROUNDS]"
rounds=5 import_runs=2 peers=0
for arg in "$@"; do
    case $arg in
        --quick) rounds=2 import_runs=1 ;;
        --peers) peers=1 ;;
        --no-import) import_runs=0 ;;
        -h | --help) echo "$usage"; exit 0 ;;
        *)
            [[ "$arg" =~ ^[1-9][0-9]*$ ]] ||
                { echo "run-all: unknown argument '$arg'; $usage" >&2; exit 2; }
            rounds=$arg ;;
    esac
done
(( EUID == 0 )) || { echo "run-all: run as root (it submits as the cluster's test user)" >&2; exit 2; }
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}

if (( peers )) && [[ -z "${COCOON_BENCH_CLUSTER:-}" ]]; then
    echo "run-all: installing the peers (bubblewrap, charliecloud-runtime, podman)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        bubblewrap charliecloud-runtime podman runc uidmap >/dev/null
fi
if [[ -z "${COCOON_BENCH_CLUSTER:-}" ]] &&
    ! { [[ -r "$state/env" ]] && COCOON_TEST_DIR=$state tests/harness/cluster.sh status >/dev/null 2>&1; }; then
    echo "run-all: no cluster in $state: starting one for this run (bench/with-cluster.sh)" >&2
    exec bench/with-cluster.sh bench/run-all.sh "$@"
fi

# shellcheck source=/dev/null
source "$state/env"
export SLURM_CONF
user=cocoontest
config=$state/etc/cocoon.yaml
cocoon=${COCOON_CLI:-$state/install/usr/local/bin/cocoon}
images=${COCOON_IMAGES:-$state/images}
bench=$state/bench
cache=$state/kernel-cache
registry_ref=127.0.0.1:5000/test/busybox:latest
registry_log=$state/registry/open.log
if ! grep -q "$cache" "$config" || ! grep -q "^kernel_mount: true" "$config"; then
    echo "run-all: $config must list $cache in shared_caches, with kernel_mount: true" >&2
    exit 2
fi

# Rootless podman leaves a pause process (holding its user namespace) and its state in
# /tmp and the user's home, ch-run its squashfs mount point in /var/tmp: nothing of the
# user may outlive the run.
clean_peers() {
    local uid pid
    uid=$(id -u "$user")
    pid=$(cat "/tmp/podman-run-$uid/libpod/tmp/pause.pid" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ && "$(stat -c %U "/proc/$pid" 2>/dev/null)" == "$user" ]]; then
        kill "$pid" 2>/dev/null || true
    fi
    rm -rf --one-file-system "/tmp/podman-run-$uid" "/tmp/containers-user-$uid" \
        "$(getent passwd "$user" | cut -d: -f6)/.local/share/containers" "/var/tmp/$user.ch"
}

work=$(mktemp -d /tmp/cocoon-bench.XXXXXX)
started_registry=0
# The cluster's cocoon.yaml as it was: the warm group's jobs run with warm_mount_linger
# added, and whatever happens the file is put back (in place: its owner and mode stay).
saved_config=$(mktemp /tmp/cocoon-bench-config.XXXXXX)
cp "$config" "$saved_config"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    [[ -s "$saved_config" ]] && cat "$saved_config" > "$config"
    # A job beside a row, when the run stopped during one.
    [[ -n "${bench_beside:-}" ]] && scancel --user="$user" 2>/dev/null
    # The image holders the warm_mount_across_jobs rows leave for their linger time.
    pkill -KILL -u "$user" -f -- '--image-holder' || true
    rm -rf "/run/cocoon/user-$(id -u "$user")"
    rm -f "$saved_config"
    rm -rf "$work" "$cache"
    (( peers )) && clean_peers
    if [[ -n "${site_digest:-}" ]]; then # the trusted cache's image, pushed for this run
        curl -s -o /dev/null -m 5 -X DELETE "http://127.0.0.1:5000/v2/$site_repo/manifests/$site_digest"
    fi
    if (( started_registry )); then tests/harness/registry.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
chown "$user" "$work"
if ! tests/harness/registry.sh status >/dev/null 2>&1; then
    tests/harness/registry.sh start >&2
    started_registry=1
fi

bench/make-bench-images.sh "$bench"
py=$bench/python

# The trusted cache, filled by root as an admin would (and emptied again at the end). A
# copy of its file in the user's directory is the user's own squashfs, mounted by
# squashfuse: a file of its own, because the steps of one job with warm_mount_linger share
# the mount of the first step that used the same file, whichever way it was mounted.
install -d -m 0755 "$cache"
COCOON_CACHE_DIR=$cache "$cocoon" pull -c "$config" "oci:$py/layout:latest" >/dev/null
kernel_file=$(find "$cache/images" -name '*.sqsh' -print -quit)
py_sqsh=$work/python.sqsh
cp "$kernel_file" "$py_sqsh"
chown "$user" "$py_sqsh"
# A registry image in the trusted cache, pulled by root: the busybox image of the registry
# rows under a digest of its own (with busybox's, those rows would take the trusted cache,
# which is searched first), so a user's first job finds it kernel-mountable.
site_repo=bench/site
site_ref=127.0.0.1:5000/$site_repo:latest
site_digest=$(python3 tests/harness/make-oci.py unique "$work/site" bench-site)
skopeo copy --quiet --dest-tls-verify=false "oci:$work/site:latest" "docker://$site_ref"
site_file=$(COCOON_CACHE_DIR=$cache "$cocoon" pull -c "$config" "$site_ref" | awk '{ print $2 }')
[[ -f "$site_file" ]] || { echo "run-all: cocoon pull $site_ref into $cache failed" >&2; exit 1; }

# wait_idle, as_user_timed
# shellcheck source=bench/timed-steps.sh
source bench/timed-steps.sh

# The variants: one row each of spec (index, group, name, kind, reference, extra).
#   kind time: wall time; ns: wall time and the tasks' mount namespaces; probe: the probe's
#   line; reference: the index of the row the ratio is taken to; extra: for ns rows, the
#   number of tasks, the bare row of as many tasks, and the two rows of one task.
cmds=() spec=$work/spec
add() { # GROUP NAME KIND REFERENCE EXTRA COMMAND
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${#cmds[@]}" "$1" "$2" "$3" "$4" "$5" >> "$spec"
    cmds+=("$6")
}
# Rows that run with lines added to the cluster's cocoon.yaml: root writes them before the
# row's command and puts the file back after it (each step reads it when it starts).
declare -A row_config=()
last() { echo $((${#cmds[@]} - 1)); }

add start "bare srun" time 0 - "srun true"
add start "1 MB squashfs" time 0 - "srun --container=$images/busybox.sqsh true"
one_task=$(last)
# The test cluster's cocoon.yaml leaves seccomp at its default (on); one that sets it
# already cannot get a second seccomp key.
no_seccomp=$'seccomp:\n  enabled: false'
if grep -q '^seccomp:' "$config"; then
    no_seccomp=""
    echo "run-all: the seccomp-off rows left out: $config sets seccomp itself" >&2
else
    add start "1 MB squashfs, seccomp off" time 0 - "srun --container=$images/busybox.sqsh true"
    one_task_no_seccomp=$(last) row_config[$(last)]=$no_seccomp
fi
add start "1 MB directory" time 0 - "srun --container=$images/busybox true"
for size in 100m 2g; do
    label=$([[ $size == 100m ]] && echo "100 MB" || echo "2 GB")
    add start "$label squashfs" time 0 - "srun --container=$bench/sizes/$size.sqsh true"
    add start "$label directory" time 0 - "srun --container=$bench/sizes/$size true"
done
# Each step of these rows has its registry requests counted (the registry's log).
declare -A registry_rows=()
# Rows that start with no mount of a trusted image (the row's value: its file) on the node,
# as a node's first job in it would: a step takes the image's loop device while one exists,
# and with it the caches of the superblock on it (make_cold, below).
declare -A row_cold=()
add start "registry image, cached" time 0 - "srun --container=$registry_ref true"
registry_rows[$(last)]=test/busybox
registry_digest=$(awk '$1 == "busybox" { print $2 }' "$state/registry/fixtures.digests")
if [[ "$registry_digest" == sha256:* ]]; then
    add start "registry image, cached, by digest" time 0 - \
        "srun --container=${registry_ref%:latest}@$registry_digest true"
    registry_rows[$(last)]=test/busybox
else
    echo "run-all: the by-digest row left out: no busybox digest in $state/registry/fixtures.digests" >&2
fi
add start "registry image, cached, tag_check_interval" time 0 - "srun --container=$registry_ref true"
registry_rows[$(last)]=test/busybox row_config[$(last)]="tag_check_interval: 1h"
# The same from the trusted cache, kernel-mounted: the admin's pull resolved the tag.
add start "registry image in the trusted cache (kernel mount), tag_check_interval" time 0 - \
    "srun --container=$site_ref true"
registry_rows[$(last)]=$site_repo row_config[$(last)]="tag_check_interval: 1h"
row_cold[$(last)]=$site_file
# A new job on the warm mount an earlier job of the user left (warm_mount_across_jobs):
# before each timed step, the same step runs untimed as that earlier job, as the tasks of
# a job array or a chain of short jobs would find it.
declare -A row_warmup=()
across=$'warm_mount_linger: 30\nwarm_mount_across_jobs: true'
add start "1 MB squashfs, after an earlier job" time 0 - "srun --container=$images/busybox.sqsh true"
row_warmup[$(last)]=1 row_config[$(last)]=$across
add start "registry image, cached, tag_check_interval, after an earlier job" time 0 - \
    "srun --container=$registry_ref true"
registry_rows[$(last)]=test/busybox row_warmup[$(last)]=1
row_config[$(last)]="tag_check_interval: 1h"$'\n'$across

add tree "bare srun" time "$(($(last) + 1))" - "srun true"
tree_bare=$(last)
add tree "python tree, directory" time "$tree_bare" - "srun --container=$py/rootfs true"
add tree "python tree, squashfuse" time "$tree_bare" - "srun --container=$py_sqsh true"
add tree "python tree, kernel mount" time "$tree_bare" - "srun --container=oci:$py/layout:latest true"
row_cold[$(last)]=$kernel_file
add tree "python tree, kernel mount, after an earlier job" time "$tree_bare" - \
    "srun --container=oci:$py/layout:latest true"
row_warmup[$(last)]=1 row_config[$(last)]=$across
# kernel_mount_linger: the earlier job (untimed, as above) ended, and the node kept its
# kernel mount of the image; the timed job gets the superblock and its caches.
kept=$'kernel_mount_linger: 600'
add tree "python tree, kernel mount, kept from an earlier job" time "$tree_bare" - \
    "srun --container=oci:$py/layout:latest true"
row_cold[$(last)]=$kernel_file row_warmup[$(last)]=1 row_config[$(last)]=$kept
# Rows whose step runs while another job of the user runs in the same image (started,
# untimed, before the step; cancelled after it; start_beside): a kernel-mounted image's
# loop device and superblock are shared, so the step finds the other job's caches warm.
declare -A row_beside=()
add tree "python tree, kernel mount, beside a job in it" time "$tree_bare" - \
    "srun --container=oci:$py/layout:latest true"
row_beside[$(last)]=oci:$py/layout:latest

# Peers run under srun as the same user, on the same tree; each gets its own user and mount
# namespace, as cocoon does (bwrap cannot mount /proc without its own PID namespace).
peer_names=() peer_prefixes=()
if (( peers )); then
    bwrap_prefix="bwrap --unshare-user --unshare-pid --ro-bind $py/rootfs / --proc /proc --dev /dev --tmpfs /tmp"
    podman_prefix="podman --cgroup-manager=cgroupfs --events-backend=file run --rm --runtime=runc"
    podman_prefix+=" --network=host --rootfs $py/rootfs"
    for peer in bwrap "ch-run directory" "ch-run squashfs" podman; do
        case $peer in
            bwrap) prefix=$bwrap_prefix tool=bwrap ;;
            "ch-run directory") prefix="ch-run $py/rootfs --" tool=ch-run ;;
            "ch-run squashfs") prefix="ch-run $py_sqsh --" tool=ch-run ;;
            podman) prefix=$podman_prefix tool=podman ;;
        esac
        if ! command -v "$tool" >/dev/null; then
            echo "run-all: $peer left out: $tool is not installed" >&2
        elif ! as_user_timed "srun $prefix /usr/bin/true" >/dev/null; then
            echo "run-all: $peer left out: it fails here: $(tail -n 1 "$work/err")" >&2
        else
            peer_names+=("$peer") peer_prefixes+=("$prefix")
        fi
    done
fi
for i in "${!peer_names[@]}"; do
    add tree "python tree, ${peer_names[$i]}" time "$tree_bare" - "srun ${peer_prefixes[$i]} /usr/bin/true"
done

ns="readlink /proc/self/ns/mnt"
for n in 8 64; do
    add tasks "bare srun -n $n -O" ns "$(($(last) + 1))" - "srun -n $n -O $ns"
    bare_n=$(last)
    add tasks "1 MB squashfs, srun -n $n -O" ns "$bare_n" "$n,$bare_n,$one_task,0" \
        "srun -n $n -O --container=$images/busybox.sqsh $ns"
done
if [[ -n "$no_seccomp" ]]; then
    add tasks "1 MB squashfs, srun -n 64 -O, seccomp off" ns "$bare_n" \
        "64,$bare_n,$one_task_no_seccomp,0" "srun -n 64 -O --container=$images/busybox.sqsh $ns"
    row_config[$(last)]=$no_seccomp
fi

probe="python3.11 /bench/probe.py / /bench/large"
add inside "host" probe "$(($(last) + 1))" - "srun /usr/bin/python3.11 $py/rootfs/bench/probe.py / $py/rootfs/bench/large"
host_row=$(last)
# The default root is writable (an overlay over the image); the peers' roots are read-only
# binds, like --container-readonly.
for mode in "" " --container-readonly"; do
    suffix=${mode:+, read-only}
    add inside "directory image$suffix" probe "$host_row" - "srun$mode --container=$py/rootfs $probe"
    add inside "squashfuse$suffix" probe "$host_row" - "srun$mode --container=$py_sqsh $probe"
    add inside "kernel mount$suffix" probe "$host_row" - "srun$mode --container=oci:$py/layout:latest $probe"
    row_cold[$(last)]=$kernel_file
done
for mode in "" " --container-readonly"; do
    add inside "kernel mount, kept from an earlier job${mode:+, read-only}" probe "$host_row" - \
        "srun$mode --container=oci:$py/layout:latest $probe"
    row_cold[$(last)]=$kernel_file row_warmup[$(last)]=1 row_config[$(last)]=$kept
done
add inside "kernel mount, beside a job in it" probe "$host_row" - \
    "srun --container=oci:$py/layout:latest $probe"
row_beside[$(last)]=oci:$py/layout:latest
for i in "${!peer_names[@]}"; do
    add inside "${peer_names[$i]}" probe "$host_row" - "srun ${peer_prefixes[$i]} $probe"
done

# warm: the later steps of one job, which with warm_mount_linger share the image mount of
# the job's first step that used the same image file (docs/performance.md "Warm mounts
# across steps"). A job script, run in one allocation (salloc) per round, times each of its
# steps on the host, srun included, and prints a sample line per recorded step. The
# reference is bare steps of the same allocation: a step inside an allocation costs less
# than a new job. Per round one job runs with warm_mount_linger set, one without for
# contrast. The probe rows (in the inside table) run the probe twice on one image in the
# job with warm mounts: the first step mounts the image and warms it as a job's first step
# would, the second runs on that warm mount.
warm_steps=3 linger=30
kernel_image=oci:$py/layout:latest
warm_job=$work/warm-job.sh fresh_job=$work/fresh-job.sh
for file in "$warm_job" "$fresh_job"; do
    { echo '#!/bin/bash'; echo "dir=$work"; cat <<'EOF'
# One allocation of bench/run-all.sh. step ROW KIND COMMAND runs one step and prints
# "ROW ms MS" (KIND time) or "ROW " and the probe's line (KIND probe); for ROW -, nothing.
step() {
    local row=$1 kind=$2 start end; shift 2
    start=${EPOCHREALTIME/[.,]/}
    "$@" >"$dir/step.out" 2>"$dir/step.err" ||
        { echo "step '$*' failed: $(tail -n 1 "$dir/step.err")" >&2; exit 1; }
    end=${EPOCHREALTIME/[.,]/}
    case $row:$kind in
        -:*) ;;
        *:time) printf '%s ms %d.%03d\n' "$row" $(((end - start) / 1000)) $(((end - start) % 1000)) ;;
        *:probe) echo "$row $(cat "$dir/step.out")" ;;
    esac
}
EOF
    } > "$file"
done
job_step() { # FILE ROW KIND COMMAND
    printf 'step %s %s %s\n' "$2" "$3" "$4" >> "$1"
}

# A read-only root maps ids differently, so it gets a warm mount of its own: an unrecorded
# read-only step mounts it, the next one runs on it.
for image in "squashfuse:$py_sqsh" "kernel mount:$kernel_image"; do
    add inside "${image%%:*}, job step 1, linger" probe "$host_row" - ""
    job_step "$warm_job" "$(last)" probe "srun --container=${image#*:} $probe"
    add inside "${image%%:*}, job step 2, warm mount" probe "$host_row" - ""
    job_step "$warm_job" "$(last)" probe "srun --container=${image#*:} $probe"
    job_step "$warm_job" - probe "srun --container-readonly --container=${image#*:} $probe"
    add inside "${image%%:*}, read-only, warm mount" probe "$host_row" - ""
    job_step "$warm_job" "$(last)" probe "srun --container-readonly --container=${image#*:} $probe"
done

# The images of the timed steps, and per image its rows: step 1 with warm_mount_linger,
# the later steps with it and without it. The kernel-mounted Python image's step 1 finds
# the mount of the probe steps above already warm: it has no step 1 row.
later="steps 2-$warm_steps"
add warm "bare srun, $later of the job" time "$(($(last) + 1))" - ""
warm_bare=$(last)
warm_images=("1 MB squashfs:$images/busybox.sqsh" "2 GB squashfs:$bench/sizes/2g.sqsh"
    "python kernel mount:$kernel_image")
first_rows=() warm_rows=() fresh_rows=()
for image in "${warm_images[@]}"; do
    if [[ "$image" == python* ]]; then
        first_rows+=(-)
    else
        add warm "${image%%:*}, step 1, linger" time "$warm_bare" - ""
        first_rows+=("$(last)")
    fi
    add warm "${image%%:*}, $later, linger" time "$warm_bare" - ""
    warm_rows+=("$(last)")
done
for image in "${warm_images[@]}"; do
    add warm "${image%%:*}, $later, no linger" time "$warm_bare" - ""
    fresh_rows+=("$(last)")
done
# In each pass every image once, so that whatever else the machine does meanwhile hits
# them alike.
for ((step = 1; step <= warm_steps; step++)); do
    job_step "$warm_job" "$( ((step > 1)) && echo "$warm_bare" || echo -)" time "srun true"
    for i in "${!warm_images[@]}"; do
        job_step "$warm_job" "$( ((step > 1)) && echo "${warm_rows[$i]}" || echo "${first_rows[$i]}")" \
            time "srun --container=${warm_images[$i]#*:} true"
        job_step "$fresh_job" "$( ((step > 1)) && echo "${fresh_rows[$i]}" || echo -)" \
            time "srun --container=${warm_images[$i]#*:} true"
    done
done

# Once before the rounds: the registry image into the user's cache, and the host's mount
# namespace, which no container task may report.
as_user_timed "srun --container=$registry_ref true" >/dev/null ||
    { echo "run-all: pulling $registry_ref failed: $(tail -n 1 "$work/err")" >&2; exit 1; }
as_user_timed "srun $ns" >/dev/null
host_ns=$(cat "$work/out")

# The job beside a row: in IMAGE's container, as the test user, the probe once (so the job
# has read what the row's step reads, as a job that runs in the image has), then a sleep
# until stop_beside (Python's: the image has no `sleep`). While it runs, as_user_timed does
# not wait for an idle node (bench_beside).
start_beside() {
    local i
    wait_idle
    rm -f "$work/beside"
    local command="$probe >/dev/null && echo up && exec python3.11 -c 'import time; time.sleep(600)'"
    # shellcheck disable=SC2016  # expanded by the user's shell
    runuser -u "$user" -- bash -c 'cd /tmp && exec srun --container="$1" sh -c "$3" >"$2/beside" 2>&1' \
        _ "$1" "$work" "$command" &
    beside_pid=$!
    for ((i = 0; i < 600; i++)); do
        grep -q '^up$' "$work/beside" 2>/dev/null && break
        sleep 0.05
    done
    sleep 0.2
    if ! grep -q '^up$' "$work/beside" 2>/dev/null || ! kill -0 "$beside_pid" 2>/dev/null; then
        echo "run-all: the job beside a row did not run in $1: $(tail -n 1 "$work/beside")" >&2
        exit 1
    fi
    bench_beside=1
}
stop_beside() {
    bench_beside=""
    scancel --user="$user" 2>/dev/null
    wait "$beside_pid" 2>/dev/null || true
    wait_idle
}

# Before a cold row and the warm group's jobs: ends the user's lingering image holders and
# waits for the trusted image's loop device to go (a moment after its last mount).
make_cold() { # FILE
    local i
    wait_idle
    pkill -KILL -u "$user" -f -- '--image-holder' || true
    # The mounts the node kept (kernel_mount_linger), as their linger's end would release them.
    { findmnt -n -l -o TARGET -R /run/cocoon/kernel-mounts 2>/dev/null || true; } | tac | xargs -r -n 1 umount -l
    rmdir /run/cocoon/kernel-mounts 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        [[ -z "$(losetup -j "$1")" ]] && return
        sleep 0.05
    done
    echo "run-all: a loop device still backs $1: $(losetup -j "$1")" >&2
    exit 1
}

samples=$work/samples
for ((round = 0; round < rounds; round++)); do
    for i in "${!cmds[@]}"; do
        [[ -n "${cmds[$i]}" ]] || continue # a step of the warm group's jobs, below
        [[ -n "${row_config[$i]:-}" ]] && printf '%s\n' "${row_config[$i]}" >> "$config"
        [[ -n "${row_cold[$i]:-}" ]] && make_cold "${row_cold[$i]}"
        [[ -n "${row_beside[$i]:-}" ]] && start_beside "${row_beside[$i]}"
        if [[ -n "${row_warmup[$i]:-}" ]] && ! as_user_timed "${cmds[$i]}" >/dev/null; then
            echo "run-all: '${cmds[$i]}' (the earlier job) failed: $(tail -n 1 "$work/err")" >&2
            exit 1
        fi
        mark=$(wc -l < "$registry_log")
        if ! ms=$(as_user_timed "${cmds[$i]}"); then
            echo "run-all: '${cmds[$i]}' failed: $(tail -n 1 "$work/err")" >&2
            exit 1
        fi
        [[ -n "${row_config[$i]:-}" ]] && cat "$saved_config" > "$config"
        [[ -n "${row_beside[$i]:-}" ]] && stop_beside
        kind=$(awk -F'\t' -v i="$i" '$1 == i { print $4 }' "$spec")
        case $kind in
            time) line="ms $ms" ;;
            ns) line="ms $ms tasks $(grep -c . "$work/out" || true)"
                line+=" namespaces $(sort -u "$work/out" | grep -c . || true)"
                line+=" host $(grep -cxF "$host_ns" "$work/out" || true)" ;;
            probe) line=$(cat "$work/out") ;;
        esac
        if [[ -n "${registry_rows[$i]:-}" ]]; then
            requests=$(tail -n +"$((mark + 1))" "$registry_log" |
                grep -E "\"[A-Z]+ /v2/${registry_rows[$i]}/" || true)
            line+=" requests $(grep -c . <<<"$requests" || true) blobs $(grep -c '/blobs/' <<<"$requests" || true)"
        fi
        echo "$i $line" >> "$samples"
    done
    for job in "$warm_job" "$fresh_job"; do
        # Changed only while no job runs (each step reads the file when it starts).
        make_cold "$kernel_file"
        sed '/^warm_mount_linger:/d' "$saved_config" > "$config"
        if [[ "$job" == "$warm_job" ]]; then echo "warm_mount_linger: $linger" >> "$config"; fi
        if ! as_user_timed "salloc -Q bash $job" >/dev/null; then
            echo "run-all: the warm group's job ($job) failed: $(tail -n 1 "$work/err")" >&2
            exit 1
        fi
        wait_idle
        cat "$saved_config" > "$config"
        grep -E '^[0-9]+ ' "$work/out" >> "$samples" || true
    done
    printf '.' >&2
done
echo >&2

echo "cocoon bench: $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r), $rounds rounds interleaved, medians"
echo "node $node has $(sinfo -h -n "$node" -o %c | head -n 1) CPUs: srun -n 8 and -n 64 run with --overcommit (-O)"
echo "warm: the steps of one allocation (salloc), $warm_steps per image; linger: warm_mount_linger: $linger"
python3 bench/bench_table.py "$spec" "$samples"
du_line() { du -sh --apparent-size "$1" | cut -f1; }
echo "image sizes: 1 MB $(du_line "$images/busybox.sqsh"), 100 MB $(du_line "$bench/sizes/100m.sqsh")," \
    "2 GB $(du_line "$bench/sizes/2g.sqsh") (squashfs); python tree $(du_line "$py/rootfs")," \
    "$(du_line "$py_sqsh") as squashfs"

if (( import_runs > 0 )); then
    echo
    BENCH_DIR=$bench/import BENCH_RUNS=$import_runs COCOON_YAML=$config COCOON_CLI=$cocoon \
        bench/import-bench.sh
fi
