#!/bin/bash
# Malformed --container-image and --container values are rejected on the submit side,
# before a job is created (the controller's job id counter must not move).
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
    # Control characters the user typed come back escaped in cocoon's message, never raw
    # (Slurm's own "Invalid argument" line that follows is not ours).
    ours=$(grep -a 'cocoon: --container-image=' <<<"$ERR")
    [[ "$(grep -c . <<<"$ours")" == 1 && "$ours" != *$'\x01'* ]] ||
        fail "srun --container-image=$shown: cocoon's error is not one printable line: $(printf '%q' "$ERR")"
    after=$(last_job_id)
    [[ "$after" == "$before" ]] ||
        fail "srun --container-image=$shown created job $after before failing; reject it on the submit side"
done

# Slurm's own --container: an empty value means "none" to Slurm, so only the bad ones.
for value in $'bad\nvalue' $'bad\x01value' 'what is this?'; do
    shown=$(printf '%q' "$value")
    for command in srun salloc sbatch; do
        wait_idle
        before=$(last_job_id)
        if [[ $command == sbatch ]]; then
            run_user sbatch --wrap=true --container="$value"
        else
            run_user "$command" --container="$value" true
        fi
        assert_failed "$command --container=$shown"
        assert_contains "$ERR" "cocoon: --container=" "$command --container=$shown error"
        ours=$(grep -a 'cocoon: --container=' <<<"$ERR")
        [[ "$ours" != *$'\x01'* ]] ||
            fail "$command --container=$shown: a raw control character in cocoon's error: $(printf '%q' "$ERR")"
        [[ "$value" != *$'\x01'* ]] || assert_contains "$ERR" 'bad\x01value' "escaped value in the error"
        after=$(last_job_id)
        [[ "$after" == "$before" ]] ||
            fail "$command --container=$shown created job $after before failing"
    done
done

assert_no_leftovers
assert_node_healthy
pass
