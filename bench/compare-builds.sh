#!/bin/bash
# Two builds of cocoon side by side on the test cluster, for a change too small to see
# between two runs of bench/run-all.sh (whose medians move by 10 to 20 ms from run to run
# on a small machine):
#
#   sudo bench/compare-builds.sh [--warm] OTHER_BUILD_DIR [ROUNDS]      (default 40 rounds)
#
# OTHER_BUILD_DIR is a meson build directory of another checkout (say, main before the
# change); this checkout's ./build is the other side. Both are staged as installs under
# $COCOON_TEST_DIR, each used with its own squashfs server; each round runs `srun true` in
# the 1 MB busybox image as a directory, as squashfs and as the registry's busybox image
# cached by digest (which asks no registry), once with each build (plugstack.conf pointed
# at one, then at the other), and a bare `srun true`. It prints medians and the median of
# the paired differences (this build minus the other: negative is faster). plugstack.conf
# is restored however it ends.
# --warm: later steps of a job instead, on warm mounts (cocoon.yaml warm_mount_linger, set
# for the run and restored): one allocation per build (salloc --no-shell), whose steps
# (srun --jobid) run `srun true` in the 1 MB squashfs, writable (the default) and
# read-only, after a first step of each that starts the image holders; bare `srun true`
# steps of this build's allocation are the reference.
# Like run-all.sh it starts the cluster itself (bench/with-cluster.sh) when none is up.
set -euo pipefail
usage="usage: bench/compare-builds.sh [--warm] OTHER_BUILD_DIR [ROUNDS]"
warm=
if [[ "${1:-}" == --warm ]]; then warm=--warm; shift; fi
(( $# >= 1 && $# <= 2 )) || { echo "$usage" >&2; exit 2; }
if ! other=$(realpath -e "$1" 2>/dev/null) || [[ ! -f "$other/build.ninja" ]]; then
    echo "compare-builds: '$1' is not a meson build directory; $usage" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
rounds=${2:-40}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "compare-builds: ROUNDS '$rounds' is not a number; $usage" >&2; exit 2; }
(( EUID == 0 )) || { echo "compare-builds: run as root (it submits as the cluster's test user)" >&2; exit 2; }
state=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
if [[ -z "${COCOON_BENCH_CLUSTER:-}" ]]; then
    exec bench/with-cluster.sh bench/compare-builds.sh $warm "$other" "$rounds"
fi

# shellcheck source=/dev/null
source "$state/env"
export SLURM_CONF
user=cocoontest
plugstack=$(sed -n 's/^PlugStackConfig=//p' "$SLURM_CONF")
[[ "$plugstack" == /* && -f "$plugstack" ]] ||
    { echo "compare-builds: no PlugStackConfig file in $SLURM_CONF" >&2; exit 1; }
saved=$(cat "$plugstack")
config=$(sed -n 's/.* config=\([^ ]*\).*/\1/p' <<<"$saved")
[[ -n "$config" ]] || { echo "compare-builds: $plugstack names no cocoon.yaml (config=)" >&2; exit 1; }

# The other build, staged like this one (with-cluster.sh staged ./build in $state/install).
rm -rf --one-file-system "$state/install-other"
meson install -C "$other" --no-rebuild --quiet --destdir "$state/install-other" >/dev/null
chmod -R a+rX "$state/install-other"
declare -A plugin=(
    [this]=$(find "$state/install" -name spank_cocoon.so -print -quit)
    [other]=$(find "$state/install-other" -name spank_cocoon.so -print -quit)
)
# Each build with its own squashfs server: the other build's cocoon.yaml is the cluster's
# with cocoon.yaml's squashfuse pointed into the other build's staged install.
declare -A configs=([this]=$config [other]=$state/install-other/cocoon.yaml)
sed "s|^squashfuse: *$state/install/|squashfuse: $state/install-other/|" "$config" > "${configs[other]}"
chmod 0644 "${configs[other]}"
grep -q "^squashfuse: *$state/install-other/" "${configs[other]}" ||
    { echo "compare-builds: $config names no squashfuse of the staged install $state/install" >&2; exit 1; }
use() { printf 'required %s config=%s\n' "${plugin[$1]}" "${configs[$1]}" > "$plugstack"; }

work=$(mktemp -d /tmp/cocoon-compare.XXXXXX)
chown "$user" "$work"
samples=$work/samples
saved_config=$(cat "$config")
trap 'printf "%s\n" "$saved" > "$plugstack"
      printf "%s\n" "$saved_config" > "$config"
      [[ -z "$warm" ]] || scancel -u "$user" 2>/dev/null
      rm -rf --one-file-system "$work" "$state/install-other"' EXIT
if [[ -n "$warm" ]]; then
    for build in this other; do
        sed -i '/^warm_mount_linger:/d' "${configs[$build]}"
        echo "warm_mount_linger: 60" >> "${configs[$build]}"
    done
fi
# wait_idle, as_user_timed
# shellcheck source=bench/timed-steps.sh
source bench/timed-steps.sh
sample() { # BUILD IMAGE COMMAND
    local ms
    if ! ms=$(as_user_timed "$3"); then
        echo "compare-builds: '$3' failed:" >&2
        cat "$work/err" >&2
        exit 1
    fi
    echo "$1 $2 $ms" >> "$samples"
}
images=$state/images
# The registry image, in the user's cache before the rounds (both builds read that cache).
digest=$(awk '$1 == "busybox" { print $2 }' "$state/registry/fixtures.digests")
registry_image=127.0.0.1:5000/test/busybox@$digest
runuser -u "$user" -- "$state/install/usr/local/bin/cocoon" pull -c "$config" "$registry_image" >/dev/null
kinds=(directory squashfs registry)
declare -A job=()
if [[ -n "$warm" ]]; then
    kinds=(warm warm-readonly)
    wait_idle
    for build in this other; do
        use "$build"
        job[$build]=$(runuser -u "$user" -- salloc --no-shell -n1 -J "compare-$build" 2>&1 |
            sed -n 's/.*Granted job allocation \([0-9]*\).*/\1/p')
        [[ -n "${job[$build]}" ]] || { echo "compare-builds: no allocation for $build" >&2; exit 1; }
    done
    # shellcheck disable=SC2034  # read by as_user_timed (bench/timed-steps.sh)
    bench_beside=1 # the allocations are the run's own
fi
step() { # BUILD KIND: the command of one timed step
    local in_job="srun --jobid=${job[$1]:-} --overlap"
    case $2 in
    directory) echo "srun --container=$images/busybox true" ;;
    squashfs) echo "srun --container=$images/busybox.sqsh true" ;;
    registry) echo "srun --container=$registry_image true" ;;
    warm) echo "$in_job --container=$images/busybox.sqsh true" ;;
    warm-readonly) echo "$in_job --container-readonly --container=$images/busybox.sqsh true" ;;
    bare) if [[ -n "$warm" ]]; then echo "$in_job true"; else echo "srun true"; fi ;;
    esac
}
if [[ -n "$warm" ]]; then
    # The first step of each kind starts its image holder: not timed.
    for build in this other; do
        use "$build"
        for kind in "${kinds[@]}"; do as_user_timed "$(step "$build" "$kind")" >/dev/null; done
    done
fi
for ((round = 1; round <= rounds; round++)); do
    # Each build goes first in every other round: neither always follows the bare step.
    order=(other this)
    (( round % 2 )) || order=(this other)
    for build in "${order[@]}"; do
        use "$build"
        for kind in "${kinds[@]}"; do sample "$build" "$kind" "$(step "$build" "$kind")"; done
    done
    use this
    sample bare - "$(step this bare)"
done

echo "compare-builds: $(date -I), $(nproc) CPUs, $rounds rounds${warm:+, later steps of a job on warm mounts}; this: $PWD/build, other: $other"
python3 - "$samples" "${kinds[@]}" <<'PY'
import collections, statistics, sys
times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    build, image, ms = line.split()
    times[build, image].append(float(ms))
bare = statistics.median(times["bare", "-"])
labels = {"directory": "1 MB directory", "squashfs": "1 MB squashfs",
          "registry": "registry, cached by digest", "warm": "1 MB squashfs, warm",
          "warm-readonly": "1 MB squashfs, warm, ro"}
print(f"{'step':<28}{'other ms':>10}{'this ms':>10}{'this - other (paired median)':>31}")
print(f"{'bare srun':<28}{bare:>10.1f}")
for image in sys.argv[2:]:
    other, this = times["other", image], times["this", image]
    paired = statistics.median(t - o for t, o in zip(this, other))
    print(f"{labels[image]:<28}{statistics.median(other):>10.1f}"
          f"{statistics.median(this):>10.1f}{paired:>+31.1f}")
PY
