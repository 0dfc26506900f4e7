#!/bin/bash
# cocoon's log reaches Slurm's: `srun -v` shows how the submit side read the image, and a
# helper's own stderr (here squashfuse's) lands in the slurmd log, while the user still
# gets the one-line message; also what squashfuse writes after the container is ready,
# through the holder's log pipe, drained at the end of the step.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

# --- srun -v: the library's verbose lines, through slurm_verbose -------------------------
run_user srun -v --container-image="$BUSYBOX_SQSH" true
assert_succeeded "srun -v --container-image=busybox.sqsh true"
assert_contains "$ERR" "cocoon: image '$BUSYBOX_SQSH' is a squashfs file or directory: $BUSYBOX_SQSH" "srun -v stderr"
run_user srun --container-image="$BUSYBOX_SQSH" true
assert_not_contains "$ERR" "cocoon: image '" "srun stderr without -v"
wait_idle

# --- a squashfuse that fails: its whole stderr in the slurmd log --------------------------
# cat refuses squashfuse's -f and prints two lines; the user's message carries the first,
# only the log the second.
saved_config=$(mktemp)
cp -p "$COCOON_YAML" "$saved_config"
cleanup() {
    cancel_user_jobs
    cat "$saved_config" > "$COCOON_YAML"
    rm -f "$saved_config"
}
trap cleanup EXIT
sed -i 's|^squashfuse:.*|squashfuse: /usr/bin/cat|' "$COCOON_YAML"
grep -q '^squashfuse: /usr/bin/cat$' "$COCOON_YAML" || fail "could not point squashfuse at cat in $COCOON_YAML"
marks=$(slurmd_logs_mark)
run_user srun --container="$BUSYBOX_SQSH" true
assert_failed "srun with a squashfuse that fails"
assert_contains "$ERR" "squashfuse: /usr/bin/cat: invalid option -- 'f'" "the user's message"
assert_not_contains "$ERR" "Try '/usr/bin/cat --help'" "the user's message"
logged=$(slurmd_logs_since "$marks")
assert_contains "$logged" "cocoon: holder: squashfuse: /usr/bin/cat: invalid option -- 'f'" "slurmd log"
assert_contains "$logged" "cocoon: holder: squashfuse: Try '/usr/bin/cat --help' for more information." "slurmd log"
wait_idle

# --- squashfuse's stderr after the container is ready -------------------------------------
# A wrapper (root's, in a root-owned directory, as cocoon.yaml's squashfuse must be) runs
# the real squashfuse_ll; a child of it waits until the task runs, so the container is
# ready, writes a line on the stderr it shares with squashfuse, and ends. The task waits
# for that child to end (and a moment for the holder to forward the line, which the end
# of the step would otherwise race), so the line is written before the step ends.
command -v cc >/dev/null || fail "a C compiler is needed for the squashfuse wrapper"
wrapper_dir=$(mktemp -d "$COCOON_TEST_DIR/logging.XXXXXX")
chmod 0755 "$wrapper_dir"
cleanup() {
    cancel_user_jobs
    cat "$saved_config" > "$COCOON_YAML"
    rm -f "$saved_config"
    rm -rf "$wrapper_dir"
}
cc -O1 -o "$wrapper_dir/squashfuse-late" -x c - <<'C' || fail "cannot build the squashfuse wrapper"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Whether a process whose command line holds `word` runs (the step's task). */
static int running(const char *word)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    int found = 0;
    while (proc && !found && (entry = readdir(proc))) {
        char path[64], text[4096];
        snprintf(path, sizeof(path), "/proc/%s/cmdline", entry->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, text, sizeof(text) - 1);
        close(fd);
        for (ssize_t i = 0; i < n; ++i)
            if (text[i] == 0)
                text[i] = ' ';
        text[n > 0 ? n : 0] = 0;
        found = strstr(text, word) != NULL;
    }
    if (proc)
        closedir(proc);
    return found;
}

int main(int argc, char **argv)
{
    (void)argc;
    /* A grandchild, which init reaps when it ends: squashfuse reaps no child, and the
       task waits until no process named cocoon-late is left, zombies included. */
    if (fork() == 0) {
        if (fork() != 0)
            return 0;
        prctl(PR_SET_NAME, "cocoon-late");
        for (int i = 0; i < 1200 && !running("cocoon-late-task"); ++i)
            usleep(50000);
        fprintf(stderr, "cocoon-late: a message after the container was ready \033[31m\n");
        return 0;
    }
    argv[0] = "/usr/bin/squashfuse_ll";
    execv(argv[0], argv);
    return 127;
}
C
sed -i "s|^squashfuse:.*|squashfuse: $wrapper_dir/squashfuse-late|" "$COCOON_YAML"
marks=$(slurmd_logs_mark)
run_user srun --container="$BUSYBOX_SQSH" sh -c '
    grep -q cocoon-test-busybox /etc/os-release || echo "not in the image"
    n=0
    while grep -qx cocoon-late /proc/[0-9]*/comm 2>/dev/null && [ $n -lt 600 ]; do
        sleep 0.1; n=$((n + 1))
    done
    sleep 1' cocoon-late-task
assert_succeeded "srun with the squashfuse wrapper"
assert_not_contains "$OUT" "not in the image" "the task's output"
logged=$(slurmd_logs_since "$marks")
# Escaped: the terminal's escape sequence arrives as text.
assert_contains "$logged" 'cocoon: holder: squashfuse: cocoon-late: a message after the container was ready \x1b[31m' "slurmd log"
cleanup
trap - EXIT
wait_idle

assert_no_leftovers
assert_node_healthy
pass
