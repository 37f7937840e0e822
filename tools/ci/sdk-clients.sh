#!/usr/bin/env bash
# The AWS CLI and boto3 against `saga serve`: create-state-machine, validate-state-machine-definition,
# start-sync-execution, start-execution and test-state, each answer checked (tools/sdk-check/check.py).
#
# Usage: tools/ci/sdk-clients.sh
#
# Installs tools/sdk-check/requirements.txt into a venv under the cargo target dir (reinstalled when the
# requirements change), builds `saga`, starts `saga serve` on a free 127.0.0.1 port (the address is read from
# its log), runs the check and stops the server by its PID.
#
# Environment:
#   PYTHON            the Python that creates the venv (default python3).
#   CARGO_TARGET_DIR  where cargo builds (default <repo>/target); the venv is <target>/sdk-venv.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$TARGET_DIR/sdk-venv"
REQUIREMENTS="$ROOT/tools/sdk-check/requirements.txt"
STAMP="$VENV/requirements.installed"
PYTHON="${PYTHON:-python3}"

log() { echo "sdk-clients.sh: $*" >&2; }

if [[ ! -x "$VENV/bin/aws" || ! -f "$STAMP" ]] || ! cmp -s "$REQUIREMENTS" "$STAMP"; then
    log "installing $(grep -v '^#' "$REQUIREMENTS" | tr '\n' ' ')into $VENV"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet -r "$REQUIREMENTS" >&2
    cp "$REQUIREMENTS" "$STAMP"
fi

log "building saga"
(cd "$ROOT" && cargo build --quiet -p saga-cli --bin saga)
SAGA="$TARGET_DIR/debug/saga"

serve_log="$(mktemp)"
RUST_LOG=info "$SAGA" serve --listen 127.0.0.1:0 2>"$serve_log" &
serve_pid=$!
stop() {
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    rm -f "$serve_log"
}
trap stop EXIT

addr=""
for _ in $(seq 1 300); do
    addr=$(grep -o 'serving the order saga API on http://[0-9.:]*' "$serve_log" | sed 's|.*http://||' || true)
    [[ -n "$addr" ]] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$addr" ]]; then
    log "saga serve did not say where it listens:"
    cat "$serve_log" >&2
    exit 1
fi
log "saga serve is up at http://$addr, pid $serve_pid"

if ! "$VENV/bin/python" "$ROOT/tools/sdk-check/check.py" "http://$addr"; then
    log "the check failed; the server's log:"
    cat "$serve_log" >&2
    exit 1
fi
