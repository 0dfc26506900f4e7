#!/bin/bash
# Catalogue PB (privilege boundary; docs/security.md): what runs for a containerized step
# and what its task can reach.
#   PB-01  neither the plugin nor libcocoon(-import) imports system() or popen(); the plugin
#          executes nothing itself
#   PB-05  the holder and squashfuse run as the user: all four uids and gids, the user's
#          groups only, no inheritable or ambient capabilities, no_new_privs, and the
#          oom_score_adj of a job (0), not slurmd's -1000
#   PB-06  the task holds no descriptor of a directory, a namespace, /dev/fuse or the image
#   PB-07  the task has no capabilities and cannot mount
#   PB-08  no_new_privs in the task; every mount of the container is nosuid, and nodev
#          except the device nodes bound into /dev
#   PB-09  only the user's uid and groups are mapped; setgroups is denied
#   PB-10  the task's user namespace is not the host's, belongs to the user, and owns the
#          container's mount namespace -- or, in a writable container, is the child of
#          the user's namespace that does (where the user is uid 0 and the image's files
#          theirs)
#   PB-11  /sys is read-only
#   PB-13  from the task, /proc/PID/exe of the holder and of slurmstepd cannot be read
#   PB-14  from the task, /proc/PID/{environ,fd,root,cwd,mem} of the holder and of
#          slurmstepd cannot be opened
#   PB-17  the image is served by squashfuse (FUSE), never by the kernel's squashfs
#   PB-15  no munge socket, key or state directory, and no host /run content, inside
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/catalogue_lib.sh"
require_plugin
require_images

probe_dir=$TEST_WORK/catalogue-privilege
cleanup() {
    cancel_user_jobs
    rm -rf "$probe_dir"
    catalogue_cleanup
}
trap cleanup EXIT
rm -rf "$probe_dir"
install -d -o "$TEST_USER" -m 0755 "$probe_dir"

# --- PB-01: no shell from the plugin or the library -------------------------------------
plugin=$(find "$COCOON_TEST_DIR/install" -name spank_cocoon.so -print -quit)
library=$(find "$COCOON_TEST_DIR/install" -name 'libcocoon.so.*' -type f -print -quit)
importer=$(find "$COCOON_TEST_DIR/install" -name 'libcocoon-import.so.*' -type f -print -quit)
cache_lookup=$(find "$COCOON_TEST_DIR/install" -name 'libcocoon-cache.so.*' -type f -print -quit)
[[ -n "$plugin" && -n "$library" && -n "$importer" && -n "$cache_lookup" ]] ||
    skip "no staged install under $COCOON_TEST_DIR/install"
for binary in "$plugin" "$library" "$importer" "$cache_lookup"; do
    imports=$(nm -D --undefined-only "$binary" | awk '{ print $NF }' | sed 's/@.*//')
    for symbol in system popen; do
        ! grep -qx "$symbol" <<<"$imports" || fail "$binary imports $symbol()"
    done
done
plugin_imports=$(nm -D --undefined-only "$plugin" | awk '{ print $NF }' | sed 's/@.*//')
! grep -qE '^(exec[lv]p?e?|execveat|fexecve|posix_spawnp?)$' <<<"$plugin_imports" ||
    fail "the plugin executes programs itself: $(grep -E '^exec|spawn' <<<"$plugin_imports" | tr '\n' ' ')"

# --- a running container to inspect from the host -----------------------------------------
as_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; exec sleep 120" >/dev/null 2>&1 &
task=$(wait_user_process 30 -x sleep) || fail "the containerized sleep did not start"
task=${task%%$'\n'*}
holder=""
for pid in $(pgrep -u "$TEST_USER"); do
    [[ "$(readlink "/proc/$pid/exe")" == */libexec/cocoon/cocoon-holder ]] && holder=$pid
done
[[ -n "$holder" ]] || fail "no cocoon-holder process of $TEST_USER"
stepd=$(awk '/^PPid:/ { print $2 }' "/proc/$holder/status")
[[ "$(readlink "/proc/$stepd/exe")" == */slurmstepd* ]] ||
    fail "the holder's parent $stepd is not slurmstepd: $(readlink "/proc/$stepd/exe")"
squashfuse=$(pgrep -u "$TEST_USER" -P "$holder" | head -n1)
[[ -n "$squashfuse" ]] || fail "the holder has no child (squashfuse)"

# --- PB-05: credentials of the helpers -------------------------------------------------------
user_gid=$(id -g "$TEST_USER")
# The user's groups, with the primary group whether or not Slurm lists it again.
user_groups=$(id -G "$TEST_USER" | tr ' ' '\n' | sort -nu | tr '\n' ' ')
check_credentials() {
    local what=$1 pid=$2 status field groups
    status=$(cat "/proc/$pid/status")
    assert_eq "$TEST_UID $TEST_UID $TEST_UID $TEST_UID" \
        "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<<"$status")" "uids of the $what"
    assert_eq "$user_gid $user_gid $user_gid $user_gid" \
        "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' <<<"$status")" "gids of the $what"
    groups=$( (awk '/^Groups:/ { for (i = 2; i <= NF; i++) print $i }' <<<"$status"
               echo "$user_gid") | sort -nu | tr '\n' ' ')
    assert_eq "$user_groups" "$groups" "supplementary groups of the $what"
    for field in CapInh CapAmb; do
        assert_eq 0000000000000000 "$(awk -v f="$field:" '$1 == f { print $2 }' <<<"$status")" \
            "$field of the $what"
    done
    assert_eq 1 "$(awk '/^NoNewPrivs:/ { print $2 }' <<<"$status")" "NoNewPrivs of the $what"
    assert_eq 0 "$(cat "/proc/$pid/oom_score_adj")" "oom_score_adj of the $what"
}
check_credentials holder "$holder"
check_credentials squashfuse "$squashfuse"
# squashfuse was executed by a non-root uid: no capabilities at all, even in the
# container's user namespace.
for field in CapPrm CapEff; do
    assert_eq 0000000000000000 "$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$squashfuse/status")" \
        "$field of squashfuse"
done

# --- PB-10: who owns the namespaces ------------------------------------------------------------
namespaces_of=$(cat <<'PY'
import fcntl, os, struct, sys
NS_GET_USERNS, NS_GET_PARENT, NS_GET_OWNER_UID = 0xb701, 0xb702, 0xb704
user = os.open(f"/proc/{sys.argv[1]}/ns/user", os.O_RDONLY)
mnt = os.open(f"/proc/{sys.argv[1]}/ns/mnt", os.O_RDONLY)
owner = struct.unpack("I", fcntl.ioctl(user, NS_GET_OWNER_UID, b"\0" * 4))[0]
mnt_owner = fcntl.ioctl(mnt, NS_GET_USERNS)
parent = fcntl.ioctl(user, NS_GET_PARENT)
parent_owner = struct.unpack("I", fcntl.ioctl(parent, NS_GET_OWNER_UID, b"\0" * 4))[0]
# This test runs as root in the host's user namespace.
print(owner, os.fstat(user).st_ino, os.fstat(mnt_owner).st_ino, os.stat("/proc/self/ns/user").st_ino,
      os.fstat(parent).st_ino, parent_owner)
PY
)
read -r owner user_ns mnt_owner_ns host_ns parent_ns parent_owner < <(python3 -c "$namespaces_of" "$task") ||
    fail "cannot inspect the namespaces of the task $task"
[[ "$user_ns" != "$host_ns" ]] || fail "the task runs in the host's user namespace"
assert_eq "$TEST_UID" "$owner" "owner uid of the task's user namespace"
# A writable container (the default): the task's user namespace is the child of the one
# that owns the mount namespace, which belongs to the user and is a child of the host's.
assert_eq "$parent_ns" "$mnt_owner_ns" "user namespace that owns the task's mount namespace"
assert_eq "$TEST_UID" "$parent_owner" "owner uid of the user namespace that owns the mounts"
[[ "$(readlink "/proc/$task/ns/user")" == "$(readlink "/proc/$holder/ns/user")" ]] ||
    fail "the task is not in the holder's user namespace"

# --- inside a second step: what the task sees ---------------------------------------------------
cat > "$probe_dir/inside.sh" <<'SH'
holder=$1 stepd=$2 munge=$3
grep -q '^ID=cocoon-busybox' /etc/os-release || { echo "not inside the test image" >&2; exit 99; }
awk '/^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):/ { print "status", $1, $2 }' /proc/self/status
awk '{ printf "uid_map %s %s %s\n", $1, $2, $3 }' /proc/self/uid_map
awk '{ printf "gid_map %s %s %s\n", $1, $2, $3 }' /proc/self/gid_map
echo "setgroups $(cat /proc/self/setgroups)"
awk '{ print "mount", $5, $6 }' /proc/self/mountinfo
for fd in /proc/$$/fd/*; do
    n=${fd##*/}
    kind=other
    [ -d "$fd" ] && kind=directory
    echo "fd $n $kind $(readlink "$fd")"
done
for pid in "$holder" "$stepd"; do
    for entry in environ mem; do
        if (exec 3<"/proc/$pid/$entry") 2>/dev/null; then echo "readable $pid/$entry"; fi
    done
    for entry in fd root cwd; do
        if ls "/proc/$pid/$entry/" >/dev/null 2>&1; then echo "readable $pid/$entry"; fi
    done
    if readlink "/proc/$pid/exe" >/dev/null 2>&1; then echo "readable $pid/exe"; fi
done
awk '{ for (i = 7; $i != "-"; i++); print "fstype", $(i + 1), $5 }' /proc/self/mountinfo
if mount -t tmpfs none /mnt 2>/dev/null; then echo "can mount"; fi
if touch /sys/cocoon-probe 2>/dev/null; then echo "sys writable"; fi
for path in /run/munge /etc/munge /var/lib/munge "$munge"; do
    if [ -e "$path" ]; then echo "visible $path"; fi
done
echo "run [$(ls -A /run)]"
echo done
SH
chmod 0755 "$probe_dir/inside.sh"
for mode in "" --container-readonly; do
run_user srun $mode --container="$BUSYBOX_SQSH" sh "$probe_dir/inside.sh" "$holder" "$stepd" \
    "$COCOON_TEST_DIR/munge"
assert_succeeded "the probe inside the container ($mode)"
assert_contains "$OUT" $'\ndone' "probe output"
inside=$OUT

field() { awk -v k="$1" -v f="$2" '$1 == k && $2 == f { print $3 }' <<<"$inside"; }

# PB-07, PB-08: no capabilities, no_new_privs.
for cap in CapInh CapPrm CapEff CapAmb; do
    assert_eq 0000000000000000 "$(field status "$cap:")" "$cap of the task"
done
assert_eq 1 "$(field status NoNewPrivs:)" "NoNewPrivs of the task"
assert_not_contains "$inside" "can mount" "probe output (mount in the container)"

# PB-09: identity maps; in a writable container the maps of the inner namespace, relative
# to the outer one where the user is 0: the user's uid and gid back to themselves.
if [[ $mode == --container-readonly ]]; then
    assert_eq "uid_map $TEST_UID $TEST_UID 1" "$(grep '^uid_map ' <<<"$inside")" "uid_map of the task"
    expected_gid_map=$(for g in $(id -G "$TEST_USER"); do echo "gid_map $g $g 1"; done | sort)
else
    assert_eq "uid_map $TEST_UID 0 1" "$(grep '^uid_map ' <<<"$inside")" "uid_map of the task"
    expected_gid_map=$(for g in $(id -G "$TEST_USER"); do
                           if [[ $g == "$user_gid" ]]; then echo "gid_map $g 0 1"; else echo "gid_map $g $g 1"; fi
                       done | sort)
fi
assert_eq "$expected_gid_map" "$(grep '^gid_map ' <<<"$inside" | sort)" "gid_map of the task ($mode)"
assert_eq "setgroups deny" "$(grep '^setgroups ' <<<"$inside")" "setgroups of the task"

# PB-08: every mount nosuid; nodev except the bound device nodes; PB-11: /sys read-only.
while read -r _ target options; do
    [[ ",$options," == *,nosuid,* ]] || fail "mount $target in the container lacks nosuid: $options"
    case $target in
        /dev/null|/dev/zero|/dev/full|/dev/random|/dev/urandom|/dev/tty|/dev/ptmx|/dev/pts) ;;
        *) [[ ",$options," == *,nodev,* ]] || fail "mount $target in the container lacks nodev: $options" ;;
    esac
    if [[ ( "$target" == / && $mode == --container-readonly ) || "$target" == /sys || "$target" == /sys/* ]]; then
        [[ ",$options," == *,ro,* ]] || fail "mount $target in the container is not read-only: $options"
    fi
done < <(grep '^mount ' <<<"$inside")
grep -q '^mount /sys ' <<<"$inside" || fail "no /sys mount in the container:
$inside"
assert_not_contains "$inside" "sys writable" "probe output (/sys)"

# PB-06: no directory, namespace, FUSE or image descriptor in the task.
while read -r _ n kind target; do
    [[ "$target" != "$probe_dir/inside.sh" ]] || continue # the shell reading its script
    [[ "$kind" != directory ]] || fail "the task holds fd $n on the directory $target"
    case $target in
        user:*|mnt:*|*/dev/fuse|*.sqsh|"$COCOON_TEST_DIR"*|*/libexec/cocoon/*)
            fail "the task holds fd $n on $target" ;;
    esac
done < <(grep '^fd ' <<<"$inside")

# PB-17: the image comes from squashfuse; no kernel squashfs mount. In a writable
# container the squashfuse mount is the overlay's lower layer, out of the mount table (the
# holder's squashfuse child is checked above).
if [[ $mode == --container-readonly ]]; then
    grep -q '^fstype fuse\.squashfuse' <<<"$inside" || fail "no squashfuse mount in the container:
$(grep '^fstype ' <<<"$inside")"
else
    grep -q '^fstype overlay /$' <<<"$inside" || fail "the root of a writable container is not an overlay:
$(grep '^fstype ' <<<"$inside")"
fi
! grep -q '^fstype squashfs ' <<<"$inside" || fail "a kernel squashfs mount in the container:
$(grep '^fstype squashfs ' <<<"$inside")"

# PB-13, PB-14: the holder's and slurmstepd's /proc entries are closed to the task.
assert_not_contains "$inside" "readable " "probe output (/proc of the holder and slurmstepd)"

# PB-15: no munge and nothing of the host's /run.
assert_not_contains "$inside" "visible " "probe output (munge paths)"
assert_eq "run []" "$(grep '^run ' <<<"$inside")" "/run in the container"

done

cleanup
assert_no_leftovers
assert_node_healthy
pass
