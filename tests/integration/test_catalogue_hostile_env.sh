#!/bin/bash
# Catalogue PB-04 (docs/security.md): a hostile job environment never reaches the code
# cocoon runs for the job. The job sets LD_PRELOAD and LD_AUDIT to a library that records
# every process that loads it, LD_LIBRARY_PATH, GCONV_PATH, PATH with fake squashfuse,
# squashfuse_ll and tar2sqfs first, TMPDIR=/etc and HOME=/root, and imports an image (so
# tar2sqfs runs too). Only the user's own programs on the submit side (timeout, srun) may
# load the library; the holder, squashfuse, tar2sqfs and slurmstepd never do, and no fake
# program runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/catalogue_lib.sh"
require_plugin
require_images
require_oci_fixtures

evil=/tmp/cocoon-catalogue-evil
cache=$TEST_WORK/catalogue-hostile-cache
cleanup() {
    cancel_user_jobs
    rm -rf "$evil" "$cache"
    catalogue_cleanup
}
trap cleanup EXIT
rm -rf "$evil" "$cache"
install -d -m 0777 "$evil" "$evil/bin"

cc -shared -fPIC -O1 -o "$evil/evil.so" -x c - <<C || fail "cannot build evil.so"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void record(void)
{
    char exe[512] = "?", line[700];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) exe[n] = 0;
    int fd = open("$evil/log", O_WRONLY | O_APPEND | O_CREAT, 0666);
    if (fd < 0) return;
    int len = snprintf(line, sizeof(line), "euid=%u exe=%s\n", (unsigned)geteuid(), exe);
    (void)!write(fd, line, len);
    close(fd);
}
unsigned int la_version(unsigned int v) { return v; }
C
chmod 0755 "$evil/evil.so"
for program in squashfuse squashfuse_ll tar2sqfs mksquashfs newuidmap newgidmap sh; do
    printf '#!/bin/sh\necho "$0" >> %s/fake-ran\nexit 1\n' "$evil" > "$evil/bin/$program"
    chmod 0755 "$evil/bin/$program"
done

hostile=(LD_PRELOAD="$evil/evil.so" LD_AUDIT="$evil/evil.so" LD_LIBRARY_PATH="$evil"
         GCONV_PATH="$evil" PATH="$evil/bin:/usr/bin:/bin" TMPDIR=/etc HOME=/root
         MALLOC_CHECK_=3 HOSTALIASES="$evil/hosts" COCOON_CACHE_DIR="$cache")
image="oci:$IMAGES/oci/busybox:latest"
wait_idle
run_user env "${hostile[@]}" timeout 90 /usr/bin/srun --container="$image" \
    /bin/sh -c "$IN_OCI_IMAGE; echo inside"
assert_succeeded "srun --container=$image with a hostile environment"
assert_eq inside "$OUT" "output of the step"
[[ -d "$cache/images" ]] || fail "the image was not imported into $cache (tar2sqfs never ran)"

[[ ! -e "$evil/fake-ran" ]] || fail "fake programs from the job's PATH ran: $(cat "$evil/fake-ran")"
grep -q ' exe=/usr/bin/srun$' "$evil/log" ||
    fail "evil.so was not loaded even by srun: the test proves nothing"
loaded=$(cat "$evil/log")
while read -r euid exe; do
    [[ "$exe" =~ ^exe=/usr/bin/(srun|timeout)$ && "$euid" == "euid=$TEST_UID" ]] ||
        fail "evil.so was loaded by a process other than the user's srun: $euid $exe
$loaded"
done <<<"$loaded"

cleanup
assert_no_leftovers
assert_node_healthy
pass
