#!/bin/bash
# Malformed --container-image values are rejected on the submit side, before a job is
# created (the controller's job id counter must not move).
source "$(dirname "$0")/lib.sh"
require_plugin

values=("" $'bad\nvalue' $'bad\x01value' $'bad\tvalue')
for value in "${values[@]}"; do
    shown=$(printf '%q' "$value")
    wait_idle
    before=$(last_job_id)
    run_user srun --container-image="$value" true
    assert_failed "srun --container-image=$shown"
    [[ -n "$ERR" ]] || fail "srun --container-image=$shown failed without a message"
    after=$(last_job_id)
    [[ "$after" == "$before" ]] ||
        fail "srun --container-image=$shown created job $after before failing; reject it on the submit side"
done

assert_no_leftovers
assert_node_healthy
pass
