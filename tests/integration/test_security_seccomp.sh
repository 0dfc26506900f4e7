#!/bin/bash
# PB-12: every task gets the seccomp filter, in every ABI. Static probes built here make
# the denied system calls (keyctl, add_key, bpf, userfaultfd, io_uring_setup,
# open_by_handle_at, kexec_load, the TIOCSTI/TIOCLINUX ioctls) and a few allowed ones,
# on the host as the user (the kernel's own answers) and in containers of srun and
# `cocoon run`: inside, each denied call fails with EPERM where the host gave something
# else, and the allowed ones give the host's answer. The image's entrypoint runs filtered
# too. The x86-64 probe also makes an x32
# system call; i386 and x32 probes run where the kernel executes such binaries, and where
# it does not, the test says so and checks the filter's architectures in --dry-run.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_cli
require_oci_fixtures
command -v umoci >/dev/null || skip "umoci missing (run scripts/install-deps.sh)"
command -v gcc >/dev/null || skip "gcc missing (run scripts/install-deps.sh)"

arch=$(uname -m)
probes=$(mktemp -d "$TEST_WORK/seccomp-probes.XXXXXX")
configs=$(mktemp -d "$COCOON_TEST_DIR/seccomp-config.XXXXXX")
trap 'rm -rf "$probes" "$configs"' EXIT
chmod 0755 "$probes" "$configs"

cat > "$probes/probe.c" <<'EOF'
/* Makes system calls of its own ABI and prints how each ended: ok or the errno's name. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

static void report(const char *what, long rc)
{
    printf(" %s=%s", what, rc >= 0 ? "ok" : strerrorname_np(errno));
}

/* unshare(CLONE_NEWUSER) in a child, so that this process stays as it is. */
static long unshare_user(void)
{
    int status = 0;
    pid_t pid = fork();
    if (pid == 0)
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
    waitpid(pid, &status, 0);
    errno = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
    return errno == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct io_uring_params params;
    char line[256];
    FILE *status;

    memset(&params, 0, sizeof(params));
    printf("abi=%s", argc > 1 ? argv[1] : "?");
    /* denied by the default filter */
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1));
    report("add_key", syscall(SYS_add_key, "user", "cocoon-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    report("io_uring_setup", syscall(SYS_io_uring_setup, 1, &params));
    report("bpf", syscall(SYS_bpf, -1, NULL, 0));
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("tiocsti", syscall(SYS_ioctl, -1, TIOCSTI, NULL));
    report("tioclinux", syscall(SYS_ioctl, -1, TIOCLINUX, NULL));
#if defined(__x86_64__) && !defined(__ILP32__)
    /* The kernel reads the request as 32 bits: the upper half must not hide TIOCSTI. */
    report("tiocsti_high", syscall(SYS_ioctl, -1, (unsigned long)TIOCSTI | (1UL << 32), NULL));
    /* An x32 system call from this process: the number with __X32_SYSCALL_BIT. The
       kernel runs seccomp before it looks at the number, so this reaches the filter's
       x32 part even where the kernel has no x32 support (then it ends in ENOSYS). */
    report("x32_keyctl", syscall(0x40000000 | SYS_keyctl, KEYCTL_GET_KEYRING_ID,
                                 KEY_SPEC_SESSION_KEYRING, 1));
#endif
    /* allowed */
    report("getppid", syscall(SYS_getppid));
    report("tiocgwinsz", syscall(SYS_ioctl, -1, TIOCGWINSZ, NULL));
    report("unshare_user", unshare_user());

    status = fopen("/proc/self/status", "r");
    while (status && fgets(line, sizeof(line), status))
        if (strncmp(line, "Seccomp:", 8) == 0)
            printf(" seccomp=%d", atoi(line + 8));
    printf("\n");
    return 0;
}
EOF

# build_probe NAME GCC_FLAGS...: a static probe $probes/probe-NAME.
build_probe() {
    local name=$1
    shift
    gcc "$@" -static -O2 -Wall -Wextra -Werror -o "$probes/probe-$name" "$probes/probe.c" 2>"$probes/gcc.log" ||
        skip "cannot build the $name probe (gcc $*; install gcc-multilib with scripts/install-deps.sh): $(head -n3 "$probes/gcc.log")"
    chmod 0755 "$probes/probe-$name"
}

# value LINE NAME: the value of NAME=... in a probe's output line.
value() {
    local word
    for word in $1; do
        [[ "$word" == "$2="* ]] && { echo "${word#*=}"; return; }
    done
}

denied_calls=(keyctl add_key userfaultfd io_uring_setup bpf open_by_handle_at kexec_load
              tiocsti tioclinux tiocsti_high x32_keyctl)
allowed_calls=(getppid tiocgwinsz unshare_user)

# check_probe WHERE HOST_LINE INSIDE_LINE: every denied call the probe made ends in EPERM
# inside, and the host's answer for it was not EPERM (else the kernel, not the filter,
# could have refused it); allowed calls end as on the host; the task runs filtered.
check_probe() {
    local where=$1 host=$2 inside=$3 call host_value inside_value distinct=0
    assert_contains "$inside" "$(value "$host" abi)" "$where probe output"
    for call in "${denied_calls[@]}"; do
        host_value=$(value "$host" "$call")
        inside_value=$(value "$inside" "$call")
        [[ -n "$host_value" ]] || continue # not made in this ABI
        assert_eq EPERM "$inside_value" "$where: $call inside (host: $host_value; probe: $inside)"
        if [[ "$host_value" == EPERM ]]; then
            note "$where: $call: the host refuses it with EPERM too, so it proves nothing here"
        else
            distinct=$((distinct + 1))
        fi
    done
    assert_eq ok "$(value "$host" keyctl)" "$where: keyctl on the host (needed to tell the filter from the kernel)"
    (( distinct >= 5 )) || fail "$where: only $distinct denied calls behave differently on the host: $host"
    for call in "${allowed_calls[@]}"; do
        assert_eq "$(value "$host" "$call")" "$(value "$inside" "$call")" "$where: allowed call $call (inside vs host)"
    done
    assert_eq 2 "$(value "$inside" seccomp)" "$where: Seccomp mode in /proc/self/status"
}

# host_run NAME: the probe on the host as the user, without container or filter; sets HOST.
host_run() {
    run_user "$probes/probe-$1" "$1"
    HOST=$OUT
}

case $arch in
    x86_64) abis=(x86_64 i386 x32) ;;
    *) abis=("$arch") ;;
esac
build_probe "${abis[0]}"
[[ "$arch" == x86_64 ]] && { build_probe i386 -m32; build_probe x32 -mx32; }

for abi in "${abis[@]}"; do
    host_run "$abi"
    if [[ "$RC" != 0 || "$HOST" != "abi=$abi "* ]]; then
        [[ "$abi" != "${abis[0]}" ]] || fail "the native probe does not run on the host: rc $RC: $HOST $ERR"
        # The kernel cannot execute such binaries (IA32 emulation off, or no
        # CONFIG_X86_X32_ABI): nothing of this ABI can run in a container either.
        how="--dry-run below"
        [[ "$abi" == x32 ]] && how+=" and by the x32 system call of the x86_64 probe"
        note "$abi binaries do not run on this kernel ($(uname -r)): their part of the filter is checked by $how"
        continue
    fi
    wait_idle
    run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; $probes/probe-$abi $abi"
    assert_succeeded "srun --container probe-$abi"
    check_probe "srun $abi" "$HOST" "$OUT"
    note "srun $abi: $OUT"

    run_user "$COCOON" run -c "$COCOON_YAML" "$BUSYBOX_SQSH" "$probes/probe-$abi" "$abi"
    assert_succeeded "cocoon run probe-$abi"
    check_probe "cocoon run $abi" "$HOST" "$OUT"
done

# The filter the library builds covers every ABI of the machine, and kills any other.
run_user "$COCOON" run -c "$COCOON_YAML" --dry-run "$BUSYBOX_SQSH"
assert_succeeded "cocoon run --dry-run"
case $arch in
    x86_64) assert_contains "$OUT" "seccomp   architectures x86_64 x86 x32 (any other kills the process)" "--dry-run" ;;
    aarch64) assert_contains "$OUT" "seccomp   architectures aarch64 arm (any other kills the process)" "--dry-run" ;;
esac
assert_contains "$OUT" "seccomp   EPERM: kexec_load " "--dry-run"

# A normal program in a normal step still works.
wait_idle
run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; ls / >/dev/null && cat /etc/os-release | head -n1 && echo fine"
assert_succeeded "srun --container ls and cat"
assert_contains "$OUT" fine "ordinary commands under the filter"

# --container-entrypoint: the image's entrypoint runs in the container before the tasks,
# under the same filter.
cp -r "$IMAGES/oci/busybox" "$configs/ep"
umoci unpack --rootless --image "$configs/ep:latest" "$configs/ep.bundle" >/dev/null 2>&1 ||
    fail "umoci unpack of the entrypoint image failed"
printf '%s\n' '#!/bin/sh' \
    'export COCOON_EP_SECCOMP=$(sed -n "s/^Seccomp:[[:space:]]*//p" /proc/self/status)' \
    'exec "$@"' > "$configs/ep.bundle/rootfs/bin/entrypoint.sh"
chmod 0755 "$configs/ep.bundle/rootfs/bin/entrypoint.sh"
umoci repack --image "$configs/ep:latest" "$configs/ep.bundle" >/dev/null 2>&1 ||
    fail "umoci repack of the entrypoint image failed"
umoci config --image "$configs/ep:latest" --config.entrypoint /bin/entrypoint.sh >/dev/null 2>&1 ||
    fail "umoci could not set the entrypoint"
rm -rf "$configs/ep.bundle"
chmod -R a+rX "$configs"
wait_idle
run_user srun --container-entrypoint --container-image="oci:$configs/ep:latest" sh -c 'echo "ep=$COCOON_EP_SECCOMP"'
assert_succeeded "srun --container-entrypoint"
assert_eq "ep=2" "$OUT" "Seccomp mode of the image's entrypoint"

# cocoon.yaml: allow takes a call out of the default list, deny adds one, disabled has no
# filter; an unknown name is an error naming the key and the name.
native=${abis[0]}
host_run "$native"
with_seccomp() {
    grep -v '^seccomp:' "$COCOON_YAML" > "$configs/$1.yaml"
    printf 'seccomp: %s\n' "$2" >> "$configs/$1.yaml"
    chmod 0644 "$configs/$1.yaml"
}
with_seccomp knobs '{allow: [keyctl], deny: [getppid]}'
run_user "$COCOON" run -c "$configs/knobs.yaml" "$BUSYBOX_SQSH" "$probes/probe-$native" "$native"
assert_succeeded "cocoon run with allow/deny"
assert_eq ok "$(value "$OUT" keyctl)" "keyctl with seccomp: allow: [keyctl]"
assert_eq EPERM "$(value "$OUT" getppid)" "getppid with seccomp: deny: [getppid]"
assert_eq EPERM "$(value "$OUT" add_key)" "add_key (still in the default list)"

with_seccomp off '{enabled: false}'
run_user "$COCOON" run -c "$configs/off.yaml" "$BUSYBOX_SQSH" "$probes/probe-$native" "$native"
assert_succeeded "cocoon run with the filter disabled"
assert_eq "$(value "$HOST" keyctl)" "$(value "$OUT" keyctl)" "keyctl with seccomp: enabled: false"
assert_eq "$(value "$HOST" seccomp)" "$(value "$OUT" seccomp)" "Seccomp mode with seccomp: enabled: false"

with_seccomp bad '{deny: [keyctl, no_such_call]}'
run_user "$COCOON" run -c "$configs/bad.yaml" "$BUSYBOX_SQSH" true
assert_failed "cocoon run with an unknown system call name"
assert_contains "$ERR" "$configs/bad.yaml: seccomp: deny: unknown system call 'no_such_call'" "error"

rm -rf "$probes" "$configs"
trap - EXIT
assert_no_leftovers
assert_node_healthy
pass
