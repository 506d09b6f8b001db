#!/usr/bin/env bash
# The container image, built and run with Debian's podman (no registry is reachable here):
# debootstrap a bookworm base, import it as the runtime stage's base image, build the `package`
# target from target/release/iamlite, and check the running container with the aws CLI.
#
#   bash tests/container/run.sh   (as root; installs podman, runc, debootstrap and curl if missing)
#
# Needs target/release/iamlite (built here if missing) and the pinned aws CLI of the compat venv,
# which tests/compat/run.sh makes (.ci/run runs it first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WORK="$ROOT/target/container"
IMAGE="localhost/iamlite:test"
BASE="docker.io/library/debian:bookworm-slim"
NAME="iamlite-ci-$$"
VOLUME="iamlite-ci-data-$$"
PODMAN=(podman_quiet --runtime runc)
# Without systemd podman cannot schedule the periodic health check and says so on every run, start
# and stop; `podman healthcheck run` below runs the check on demand instead.
podman_quiet() { podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
# This machine's podman cannot raise limits past the host's; these keep `run` from failing.
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

log() { printf 'container: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

cleanup() {
    "${PODMAN[@]}" rm -f "$NAME" >/dev/null 2>&1 || true
    "${PODMAN[@]}" volume rm -f "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- tools ------------------------------------------------------------------------------------------
missing=()
for tool in podman runc debootstrap curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in podman runc debootstrap curl; do
    command -v "$tool" >/dev/null || fail "$tool is required"
done
[ -x target/release/iamlite ] || cargo build --release --quiet
AWS="$ROOT/target/compat-venv/bin/aws"
[ -x "$AWS" ] || fail "no aws CLI in target/compat-venv (run tests/compat/run.sh first)"

# --- the runtime base, from Debian's own packages ---------------------------------------------------
if ! "${PODMAN[@]}" image exists "$BASE"; then
    mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    log "debootstrap bookworm from $mirror"
    rm -rf "$WORK/rootfs"
    mkdir -p "$WORK"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
    # What the slim image leaves out too: documentation, manuals, translations, package lists.
    rm -rf "$WORK"/rootfs/usr/share/{doc,man,locale}/* "$WORK"/rootfs/var/lib/apt/lists/* \
        "$WORK"/rootfs/var/cache/apt/*.bin
    tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
fi

# --- the image --------------------------------------------------------------------------------------
log "building the package target"
# --format docker: the OCI image format has no HEALTHCHECK, and podman would drop it.
"${PODMAN[@]}" build --pull=never --format docker --target package -t "$IMAGE" -f Containerfile . >"$ROOT/target/container-build.log" 2>&1 \
    || { tail -30 "$ROOT/target/container-build.log"; fail "podman build"; }
size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")"
log "image size: $((size / 1024 / 1024)) MiB ($size bytes)"
[ "$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")" = "iamlite:iamlite" ] \
    || fail "the image does not run as the iamlite user"
"${PODMAN[@]}" image inspect --format '{{index .Config.Labels "org.opencontainers.image.licenses"}}' "$IMAGE" \
    | grep -qx Apache-2.0 || fail "no licence label"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
E="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
export AWS_DEFAULT_REGION=us-east-1 AWS_MAX_ATTEMPTS=1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# curl signs SigV4 itself and starts in milliseconds, so the time to the first 200 is the container's.
signed_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 --aws-sigv4 "aws:amz:us-east-1:sts" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -d 'Action=GetCallerIdentity&Version=2011-06-15' "$E/" || true
}
wait_ready() {
    for _ in $(seq 1 1000); do
        [ "$(signed_status)" = "200" ] && return 0
        sleep 0.01
    done
    "${PODMAN[@]}" logs "$NAME" >&2 || true
    fail "no answer on $E"
}

log "run -> first 200"
started=$(date +%s%N)
"${PODMAN[@]}" run -d --name "$NAME" "${LIMITS[@]}" -p "127.0.0.1:$port:4593" -v "$VOLUME:/data" "$IMAGE" >/dev/null
wait_ready
log "time from run to the first 200: $(( ($(date +%s%N) - started) / 1000000 )) ms"

# The README's quick start through the port mapping.
"$AWS" iam create-user --user-name alice --endpoint-url "$E" >/dev/null
key="$("$AWS" iam create-access-key --user-name alice --endpoint-url "$E" --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)"
read -r kid secret <<<"$key"
arn="$(AWS_ACCESS_KEY_ID=$kid AWS_SECRET_ACCESS_KEY=$secret "$AWS" sts get-caller-identity --endpoint-url "$E" --query Arn --output text)"
[ "$arn" = "arn:aws:iam::123456789012:user/alice" ] || fail "caller identity: $arn"

# Not root inside, and the health check passes.
[ "$("${PODMAN[@]}" exec "$NAME" id -u)" = "10001" ] || fail "the container runs as root"
"${PODMAN[@]}" healthcheck run "$NAME" || fail "the health check failed"

# The admin endpoints refuse the host (no token set), and change nothing.
status="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$E/_iamlite/reset")"
[ "$status" = "404" ] || [ "$status" = "403" ] || fail "an unauthenticated admin request from the host got $status"
status="$(curl -s -o /dev/null -w '%{http_code}' "$E/_iamlite/state")"
[ "$status" = "404" ] || [ "$status" = "403" ] || fail "the state was readable from the host ($status)"

# The web console through the port mapping: the sign-in page, then a signed-in Users page that
# lists alice (the console answers a loopback host name, whatever the peer address).
status="$(curl -s -o /dev/null -w '%{http_code}' "$E/console/signin")"
[ "$status" = "200" ] || fail "the console's sign-in page got $status"
cookie="$(curl -s -D - -o /dev/null -H "Origin: $E" \
    --data-urlencode "access_key_id=$AWS_ACCESS_KEY_ID" --data-urlencode "secret_access_key=$AWS_SECRET_ACCESS_KEY" \
    "$E/console/signin" | sed -n 's/^set-cookie: \([^;]*\);.*/\1/ip' | tr -d '\r')"
[ -n "$cookie" ] || fail "no console session cookie"
users_page="$(curl -sf -H "Cookie: $cookie" "$E/console/users")" || fail "the console's Users page failed"
grep -qF '>alice</a>' <<<"$users_page" || fail "the console does not list alice"

# `podman stop` is a graceful SIGTERM: exit 0, within the grace period, nothing lost.
started=$(date +%s)
"${PODMAN[@]}" stop -t 15 "$NAME" >/dev/null
elapsed=$(( $(date +%s) - started ))
code="$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$NAME")"
[ "$code" = "0" ] || fail "exit code $code after podman stop"
[ "$elapsed" -lt 12 ] || fail "podman stop took ${elapsed}s"
log "podman stop: exit 0 after ${elapsed}s"

"${PODMAN[@]}" start "$NAME" >/dev/null
wait_ready
users="$("$AWS" iam list-users --endpoint-url "$E" --query 'Users[].UserName' --output text)"
[ "$users" = "alice" ] || fail "state after restart: '$users'"
AWS_ACCESS_KEY_ID=$kid AWS_SECRET_ACCESS_KEY=$secret "$AWS" sts get-caller-identity --endpoint-url "$E" >/dev/null \
    || fail "alice's key stopped working across the restart"
"${PODMAN[@]}" stop -t 15 "$NAME" >/dev/null

# With IAMLITE_ADMIN_TOKEN set, the host reaches the admin endpoints with the token, and only with it.
token="ci-admin-token-$$"
"${PODMAN[@]}" rm -f "$NAME" >/dev/null
"${PODMAN[@]}" run -d --name "$NAME" "${LIMITS[@]}" -p "127.0.0.1:$port:4593" -v "$VOLUME:/data" \
    -e IAMLITE_ADMIN_TOKEN="$token" "$IMAGE" >/dev/null
wait_ready
status="$(curl -s -o /dev/null -w '%{http_code}' "$E/_iamlite/health")"
[ "$status" = "403" ] || fail "the admin endpoints answered the host without the token ($status)"
health="$(curl -sf -H "x-iamlite-admin-token: $token" "$E/_iamlite/health")" || fail "the token was refused"
python3 -c 'import json,sys; h=json.loads(sys.argv[1]); assert h["users"] == 1, h' "$health" \
    || fail "health with the token: $health"
"${PODMAN[@]}" healthcheck run "$NAME" || fail "the health check failed with a token set"
"${PODMAN[@]}" stop -t 15 "$NAME" >/dev/null
log "ok: quick start, non-root user, health check, admin refused from the host, web console from the host, graceful stop, state kept in the volume, admin token"
