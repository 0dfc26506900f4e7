#!/bin/bash
# --container-unshare=net,ipc,uts: private namespaces the tasks of the step share. net:
# only a loopback interface, up; ipc: SysV IPC and /dev/mqueue of the container's own;
# uts: its own hostname (settable as root with --container-remap-root, the host's
# unchanged). (A node that cannot create one fails the step with a message naming it; the
# test machines cannot be made to refuse, /proc/sys/user is read-only here.)
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

img=--container-image=$BUSYBOX_SQSH

host_ns() { readlink "/proc/self/ns/$1"; }
host_name=$(hostname)

run_user srun -N1 -n2 "$img" --container-unshare=net,ipc,uts sh -c "$IN_IMAGE"'
echo "ns $SLURM_PROCID $(readlink /proc/self/ns/net) $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts)"
if [ "$SLURM_PROCID" = 0 ]; then
    echo "ifaces $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")"
    ifconfig lo | grep -q "UP" && echo "lo up"
    # The listener hands the connection to cat, which reads it to its end: busybox nc
    # alone quits when its own stdin (/dev/null) ends, racing with the data. The sender
    # tries until the listener is up: no fixed sleep, which a loaded node outlasts.
    (i=0; until echo over-lo | nc 127.0.0.1 7357 2>/dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done) &
    timeout 15 nc -l -p 7357 -e sh -c "cat > /tmp/received"
    wait
    echo "received $(cat /tmp/received)"
    awk "\$5 == \"/dev/mqueue\" { print \"mqueue\", \$0 }" /proc/self/mountinfo | grep -q " - mqueue " && echo "mqueue mounted"
fi'
assert_succeeded "srun --container-unshare=net,ipc,uts"
read -r _ _ net0 ipc0 uts0 < <(grep '^ns 0 ' <<<"$OUT")
read -r _ _ net1 ipc1 uts1 < <(grep '^ns 1 ' <<<"$OUT")
[[ -n "$net0" && "$net0" != "$(host_ns net)" ]] || fail "network namespace is the host's: $OUT"
[[ "$ipc0" != "$(host_ns ipc)" ]] || fail "IPC namespace is the host's: $OUT"
[[ "$uts0" != "$(host_ns uts)" ]] || fail "UTS namespace is the host's: $OUT"
assert_eq "$net0 $ipc0 $uts0" "$net1 $ipc1 $uts1" "namespaces of the two tasks"
assert_eq "ifaces lo " "$(grep '^ifaces ' <<<"$OUT")" "network interfaces"
assert_contains "$OUT" "lo up" "loopback state"
assert_contains "$OUT" "received over-lo" "a connection over the loopback interface"
assert_contains "$OUT" "mqueue mounted" "/dev/mqueue"

# Each one alone; the rest stays the host's. From the variable too.
for ns in net ipc uts; do
    wait_idle
    run_user env PYXIS_CONTAINER_UNSHARE=$ns srun "$img" sh -c "$IN_IMAGE; "'for n in net ipc uts; do readlink /proc/self/ns/$n; done'
    assert_succeeded "PYXIS_CONTAINER_UNSHARE=$ns"
    for other in net ipc uts; do
        seen=$(grep "^$other:" <<<"$OUT")
        if [[ $other == "$ns" ]]; then
            [[ "$seen" != "$(host_ns "$other")" ]] || fail "PYXIS_CONTAINER_UNSHARE=$ns: $other is the host's"
        else
            assert_eq "$(host_ns "$other")" "$seen" "PYXIS_CONTAINER_UNSHARE=$ns: $other namespace"
        fi
    done
done

# Its own hostname: root inside may change it; the host's stays.
wait_idle
run_user srun "$img" --container-unshare=uts --container-remap-root sh -c "$IN_IMAGE; hostname inside-name && hostname"
assert_succeeded "hostname in a private UTS namespace"
assert_eq inside-name "$OUT" "hostname inside"
assert_eq "$host_name" "$(hostname)" "hostname of the node"

assert_no_leftovers
assert_node_healthy
pass
