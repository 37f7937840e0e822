#!/usr/bin/env bash
# A local DynamoDB (moto's server mode) for the tests of crates/saga-store-dynamodb.
#
# Usage:
#   tools/ci/moto.sh start [PORT]   Install moto into <repo>/.venv-moto if needed, start moto's server on
#                                   127.0.0.1:PORT (a free port when PORT is omitted), wait until it answers,
#                                   and print its endpoint, e.g. `http://127.0.0.1:41234`, as the only line on
#                                   stdout. If a server started by this script is still running, print its
#                                   endpoint instead of starting another (exit 1 if PORT names a different one).
#   tools/ci/moto.sh endpoint       Print the running server's endpoint; exit 1 if none is running.
#                                   The server handles one request at a time (see LAUNCHER below).
#   tools/ci/moto.sh stop           Kill the server by the PID recorded at start; succeeds if none is running.
#
# Typical use (what CI does):
#   endpoint=$(tools/ci/moto.sh start)
#   SAGA_DYNAMODB_ENDPOINT=$endpoint cargo test -p saga-store-dynamodb
#   tools/ci/moto.sh stop
#
# State lives in <repo>/.venv-moto (gitignored): the virtualenv, moto.pid, moto.port and moto.log. Progress and
# errors go to stderr so that `$(tools/ci/moto.sh start)` captures only the endpoint.
#
# Environment:
#   MOTO_VERSION        pip requirement for moto (default: the pin below); changing it reinstalls.
#   MOTO_START_TIMEOUT  seconds to wait for the server to answer (default 60).
#   PYTHON              interpreter used to create the virtualenv (default python3).

set -euo pipefail

# Pinned so that a moto release changing DynamoDB emulation cannot turn CI red on its own.
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
MOTO_START_TIMEOUT="${MOTO_START_TIMEOUT:-60}"
PYTHON="${PYTHON:-python3}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-moto"
PID_FILE="$VENV/moto.pid"
PORT_FILE="$VENV/moto.port"
LOG_FILE="$VENV/moto.log"
STAMP_FILE="$VENV/moto.installed"

# moto_server, but handling one request at a time. moto serves each request on its own thread and its DynamoDB
# model takes no locks, so two concurrent TransactWriteItems can both pass their conditions and oversell, which
# real DynamoDB never does. Serializing requests restores per-item atomicity (and more, which no test can tell).
# Connections stay threaded, so keep-alive clients are not blocked by an idle connection.
LAUNCHER='
import sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()

def serialized(environ, start_response):
    with lock:
        return list(app(environ, start_response))

run_simple(sys.argv[1], int(sys.argv[2]), serialized, threaded=True, request_handler=MotoRequestHandler)
'

log() { echo "moto.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

ensure_installed() {
    if [[ -x "$VENV/bin/moto_server" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$MOTO_VERSION" ]]; then
        return
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating virtualenv $VENV"
        "$PYTHON" -m venv "$VENV" >&2 || die "cannot create a virtualenv with $PYTHON"
    fi
    log "installing moto[server]==$MOTO_VERSION"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2 \
        || die "pip install moto[server]==$MOTO_VERSION failed"
    echo "$MOTO_VERSION" >"$STAMP_FILE"
}

free_port() {
    # Binding port 0 asks the kernel for a free port; there is a small window before moto binds it, which the
    # liveness check below turns into a clear failure rather than a hang.
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_free() {
    # SO_REUSEADDR as the server itself sets it, so connections lingering in TIME_WAIT from an earlier run on
    # this port do not count as the port being taken.
    "$VENV/bin/python" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
' "$1" 2>/dev/null
}

answers() {
    # Any HTTP status means the server is up; only a refused or reset connection means it is not (yet).
    "$VENV/bin/python" - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=2)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
EOF
}

cmd_start() {
    local want_port="${1:-}"
    if [[ -n "$want_port" && ! "$want_port" =~ ^[0-9]+$ ]]; then
        die "PORT must be a number, got '$want_port'"
    fi
    local pid
    if pid="$(running_pid)"; then
        local port
        port="$(cat "$PORT_FILE")"
        if [[ -n "$want_port" && "$want_port" != "$port" ]]; then
            die "moto_server (pid $pid) already runs on port $port; stop it first"
        fi
        log "moto_server already running (pid $pid)"
        echo "http://127.0.0.1:$port"
        return
    fi

    ensure_installed
    local port="${want_port:-$(free_port)}"
    # Another server already on the port would answer the readiness probe in moto's place.
    port_free "$port" || die "port $port on 127.0.0.1 is already in use"
    log "starting moto_server on 127.0.0.1:$port (log: $LOG_FILE)"
    # nohup and a detached stdin keep the server alive after this script (and a CI step's shell) exits.
    MOTO_PORT="$port" nohup "$VENV/bin/python" -c "$LAUNCHER" 127.0.0.1 "$port" </dev/null >"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"

    local deadline=$((SECONDS + MOTO_START_TIMEOUT))
    until answers "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "moto_server exited before answering (port $port taken?)"
        fi
        if ((SECONDS >= deadline)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "moto_server did not answer within ${MOTO_START_TIMEOUT}s"
        fi
        sleep 0.2
    done
    log "moto_server up (pid $pid)"
    echo "http://127.0.0.1:$port"
}

cmd_endpoint() {
    running_pid >/dev/null || die "no moto_server running (run tools/ci/moto.sh start)"
    echo "http://127.0.0.1:$(cat "$PORT_FILE")"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "no moto_server running"
        rm -f "$PID_FILE"
        return
    fi
    kill "$pid"
    local i
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "moto_server (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    log "stopped moto_server (pid $pid)"
}

case "${1:-}" in
start)
    shift
    cmd_start "$@"
    ;;
endpoint) cmd_endpoint ;;
stop) cmd_stop ;;
*)
    echo "usage: $0 start [PORT] | endpoint | stop" >&2
    exit 2
    ;;
esac
