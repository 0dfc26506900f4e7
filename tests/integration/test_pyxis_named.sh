#!/bin/bash
# --container-name=NAME[:FLAG]: a step's container, with the changes of its writable
# root, serves the later steps of the same job on the node that name it (with or without
# an image); a step started while another runs in it joins it (srun --overlap). The flags
# create, exec and no_exec refuse what they must. Bad names are refused at submission.
# The job's end (also scancel) ends the container: no holder, no mount, no record left.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

img=--container-image=$BUSYBOX_SQSH

# The node's records of named containers (root's): none may outlive its job.
assert_no_named_records() {
    local job=$1 left
    left=$(compgen -G "/run/cocoon/job-$job" || true)
    [[ -z "$left" ]] || fail "records of job $job left behind: $left"
}

# --- bad names, refused before a job exists ----------------------------------------------
refused() {
    local expected=$1 before
    shift
    wait_idle
    before=$(last_job_id)
    run_user "$@"
    assert_failed "$*"
    assert_contains "$(grep -a 'cocoon: ' <<<"$ERR")" "$expected" "error of $*"
    [[ "$(grep -ac 'cocoon: ' <<<"$ERR")" == 1 ]] || fail "$*: expected one line of cocoon's: $ERR"
    [[ "$(last_job_id)" == "$before" ]] || fail "$* created a job before failing"
}
long=$(printf 'n%.0s' {1..65})
refused "--container-name=: the name is empty" srun "$img" --container-name= true
refused "--container-name=a/b: 'a/b' holds '/'" srun "$img" --container-name=a/b true
refused "--container-name=..: '..' starts with '.'" srun "$img" --container-name=.. true
refused "--container-name=$long: the name is longer than 64 characters" \
    srun "$img" "--container-name=$long" true
refused "--container-name=dev:later: unknown flag 'later'; the flag is one of auto, create, exec, no_exec" \
    sbatch "$img" --container-name=dev:later --wrap=true
refused "PYXIS_CONTAINER_NAME=a/b: 'a/b' holds '/'" env PYXIS_CONTAINER_NAME=a/b srun "$img" true

# --- one job, many steps -----------------------------------------------------------------
script=$TEST_WORK/named-job.sh
out_file=$TEST_WORK/named-job.out
rm -f "$out_file"
cat > "$script" <<EOF
#!/bin/sh
img='$img'
in_image='$IN_IMAGE'
EOF
cat >> "$script" <<'EOF'
# One line a step: LABEL rc=STATUS OUTPUT (its lines joined with spaces).
step() { label=$1; shift; out=$("$@" 2>&1); rc=$?; echo "$label rc=$rc $(echo $out)"; }
step created srun --container-name=dev "$img" sh -c "$in_image; echo kept > /etc/named-marker"
step reused srun --container-name=dev sh -c "$in_image; cat /etc/named-marker"
step image-ignored srun --container-name=dev "$img" cat /etc/named-marker
step exec srun --container-name=dev:exec cat /etc/named-marker
step no_exec srun --container-name=dev:no_exec cat /etc/named-marker
step env env PYXIS_CONTAINER_NAME=dev srun cat /etc/named-marker
step create-existing srun --container-name=dev:create "$img" true
step exec-missing srun --container-name=other:exec true
step missing-no-image srun --container-name=other true
step unnamed srun "$img" sh -c "$in_image; cat /etc/named-marker"
step create-new srun --container-name=fresh:create "$img" sh -c "$in_image; test ! -e /etc/named-marker && echo clean"
# A running step's container, joined by another step.
srun --container-name=dev sh -c 'readlink /proc/self/ns/mnt > /etc/ns && mv /etc/ns /etc/first-ns; sleep 30' &
first=$!
for i in $(seq 100); do
    joined=$(srun --overlap --container-name=dev sh -c 'cat /etc/first-ns && readlink /proc/self/ns/mnt' 2>/dev/null) && break
    sleep 0.1
done
echo "attached $(echo $joined)"
kill $first; wait
EOF
run_batch_script "$script" "$out_file"
job=$JOB job_out=$JOB_OUT
line() { grep -a "^$1 " <<<"$job_out" | sed 's/ *$//'; }
assert_eq "created rc=0" "$(line created)" "step creating the named container"
assert_eq "reused rc=0 kept" "$(line reused)" "a later step without an image"
assert_eq "image-ignored rc=0 kept" "$(line image-ignored)" "a later step with an image"
assert_eq "exec rc=0 kept" "$(line exec)" ":exec"
assert_eq "no_exec rc=0 kept" "$(line no_exec)" ":no_exec"
assert_eq "env rc=0 kept" "$(line env)" "PYXIS_CONTAINER_NAME"
assert_contains "$(line create-existing)" "--container-name=dev:create: the job already has a container named 'dev' on this node" ":create of an existing name"
assert_not_contains "$(line create-existing)" "rc=0" ":create of an existing name"
assert_contains "$(line exec-missing)" "--container-name=other:exec: the job has no container named 'other' on this node" ":exec of a missing name"
assert_not_contains "$(line exec-missing)" "rc=0" ":exec of a missing name"
assert_contains "$(line missing-no-image)" "give --container-image=IMAGE to create it" "a missing name without an image"
assert_not_contains "$(line unnamed)" "rc=0" "an unnamed container"
assert_contains "$(line unnamed)" "No such file" "an unnamed container sees no named changes"
assert_eq "create-new rc=0 clean" "$(line create-new)" ":create of a new name"
read -r _ first_ns joined_ns _ <<<"$(line attached)"
[[ "$first_ns" == mnt:* && "$first_ns" == "$joined_ns" ]] ||
    fail "srun --overlap did not join the running container: $(line attached)"
rm -f "$script" "$out_file"
assert_no_named_records "$job"
assert_no_leftovers

# --- scancel of a job with a running named container -------------------------------------
as_user sbatch -o /dev/null --wrap="srun --container-name=dev $img sh -c 'sleep 300'" >/dev/null ||
    fail "sbatch of the scancel case failed"
job=$(last_job_id)
trap 'cancel_user_jobs' EXIT
wait_user_process 20 -f '^[^ ]*sleep 300$' >/dev/null ||
    fail "the named container's 'sleep 300' did not start within 20 s"
compgen -G "/run/cocoon/job-$job/dev" >/dev/null || fail "no record of container 'dev' of job $job"
pgrep -u "$TEST_USER" -f cocoon-holder >/dev/null || fail "no holder of the named container"
as_user scancel "$job" || fail "scancel $job failed"
wait_idle
trap - EXIT
assert_no_named_records "$job"
assert_no_leftovers
assert_node_healthy
pass
