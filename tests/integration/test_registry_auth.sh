#!/bin/bash
# A registry with Basic auth: credentials from ~/.config/cocoon/auth.json (and from
# ~/.docker/config.json) work for the command and for jobs; a wrong password and missing
# credentials fail with a message that names the registry, without ever printing the
# password.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

IMAGE=$REGISTRY_AUTH/test/busybox:latest
WRONG=Wrong-Pass-4f9c2e
caches=$TEST_WORK/cache-auth
docker_config=$TEST_HOME/.docker/config.json
cleanup() {
    remove_user_auth
    rm -rf "$caches"
    [[ -e "$docker_config.cocoon-test" ]] && mv -f "$docker_config.cocoon-test" "$docker_config"
}
trap cleanup EXIT
rm -rf "$caches"
install -d -o "$TEST_USER" -m 0755 "$caches"
# Credentials the test user may have had from elsewhere would hide what is tested here.
[[ -e "$docker_config" ]] && mv -f "$docker_config" "$docker_config.cocoon-test"
remove_user_auth

# Each case gets an empty cache: a cached image must not hide an authentication problem.
n_cache=0
fresh_cache() {
    n_cache=$((n_cache + 1))
    CACHE=$caches/$n_cache
}

# --- correct credentials ---
write_user_auth "$REGISTRY_USER" "$REGISTRY_PASSWORD"
mark=$(log_mark "$REGISTRY_AUTH_LOG")
fresh_cache
run_cocoon COCOON_CACHE_DIR="$CACHE" pull "$IMAGE"
assert_succeeded "cocoon pull $IMAGE with ~/.config/cocoon/auth.json"
assert_contains "$OUT" "$(fixture_digest busybox)" "cocoon pull output"
ok=$(log_since "$REGISTRY_AUTH_LOG" "$mark" | grep -cE '"GET /v2/test/busybox/blobs/sha256:[0-9a-f]+ HTTP/[0-9.]+" 200 ')
(( ok >= 3 )) || fail "fewer than 3 authenticated blob downloads (config + 2 layers) from $REGISTRY_AUTH; requests:
$(requests_since "$REGISTRY_AUTH_LOG" "$mark")"

fresh_cache
run_user env COCOON_CACHE_DIR="$CACHE" timeout "$COCOON_TIMEOUT" \
    srun "--container=$IMAGE" cat /etc/os-release
assert_succeeded "srun --container=$IMAGE with ~/.config/cocoon/auth.json"
assert_contains "$OUT" 'NAME="cocoon-registry-busybox"' "os-release from $IMAGE"

# A step on two nodes: srun resolves the tag once, with the same credentials.
if [[ -n "$MULTI_PARTITION" ]]; then
    wait_idle
    mark=$(log_mark "$REGISTRY_AUTH_LOG")
    run_user env COCOON_CACHE_DIR="$CACHE" timeout "$COCOON_TIMEOUT" \
        srun -v -p "$MULTI_PARTITION" -N2 "--container=$IMAGE" cat /etc/os-release
    assert_succeeded "srun -N2 --container=$IMAGE with ~/.config/cocoon/auth.json"
    assert_eq 2 "$(grep -c '^NAME="cocoon-registry-busybox"' <<<"$OUT")" "os-release of both nodes"
    assert_contains "$ERR" "is $IMAGE@$(fixture_digest busybox) for step" "srun -v of the two-node step"
    n=$(log_since "$REGISTRY_AUTH_LOG" "$mark" | grep -cE '"HEAD /v2/test/busybox/manifests/latest HTTP/[0-9.]+" 200 ')
    [[ "$n" == 1 ]] || fail "srun -N2 of $IMAGE asked for the tag $n times (expected once, by srun):
$(requests_since "$REGISTRY_AUTH_LOG" "$mark")"
fi

# --- the same credentials in ~/.docker/config.json ---
remove_user_auth
write_user_auth "$REGISTRY_USER" "$REGISTRY_PASSWORD" .docker/config.json
fresh_cache
run_cocoon COCOON_CACHE_DIR="$CACHE" pull "$IMAGE"
assert_succeeded "cocoon pull $IMAGE with ~/.docker/config.json"
remove_user_auth

# --- wrong password ---
check_auth_error() {
    local what=$1 secret=${2:-}
    assert_failed "$what"
    [[ "$RC" != 124 ]] || fail "$what hung"
    assert_contains "$ERR" "$REGISTRY_AUTH" "error of $what"
    if [[ -n "$secret" ]]; then
        assert_not_contains "$ERR$OUT" "$secret" "output of $what"
        assert_not_contains "$ERR$OUT" "$(printf '%s:%s' "$REGISTRY_USER" "$secret" | base64 -w0)" \
            "output of $what"
    fi
}

write_user_auth "$REGISTRY_USER" "$WRONG"
fresh_cache
run_cocoon COCOON_CACHE_DIR="$CACHE" pull "$IMAGE"
check_auth_error "cocoon pull $IMAGE with a wrong password" "$WRONG"
grep -qiE '401|unauthori[sz]ed' <<<"$ERR" ||
    fail "the error for a wrong password says neither 401 nor unauthorized: $ERR"

wait_idle
fresh_cache
run_user env COCOON_CACHE_DIR="$CACHE" timeout "$COCOON_TIMEOUT" \
    srun "--container=$IMAGE" true
check_auth_error "srun --container=$IMAGE with a wrong password" "$WRONG"
grep -qiE '401|unauthori[sz]ed' <<<"$ERR" ||
    fail "srun's error for a wrong password says neither 401 nor unauthorized: $ERR"
# On two nodes srun's own request fails first (srun -v says so, without the password);
# the nodes then ask and fail the same way.
if [[ -n "$MULTI_PARTITION" ]]; then
    wait_idle
    run_user env COCOON_CACHE_DIR="$CACHE" timeout "$COCOON_TIMEOUT" \
        srun -v -p "$MULTI_PARTITION" -N2 "--container=$IMAGE" true
    check_auth_error "srun -N2 --container=$IMAGE with a wrong password" "$WRONG"
    assert_contains "$ERR" "not resolved by srun" "srun -v of the two-node step with a wrong password"
fi
# The password is never logged, not even by slurmd.
for f in "$COCOON_TEST_DIR"/log/*.log; do
    [[ -f "$f" ]] || continue
    grep -qF -- "$WRONG" "$f" && fail "the password appears in $f"
done
remove_user_auth

# --- no credentials at all ---
fresh_cache
run_cocoon COCOON_CACHE_DIR="$CACHE" pull "$IMAGE"
check_auth_error "cocoon pull $IMAGE without credentials"
grep -qiE '401|unauthori[sz]ed|credentials|auth' <<<"$ERR" ||
    fail "the error without credentials does not say that authentication is needed: $ERR"

assert_cache_clean "$TEST_CACHE" "$caches"
cleanup
assert_no_leftovers
assert_node_healthy
pass
