#!/usr/bin/env bash
# Schemathesis against `saga serve`, driven by docs/openapi.yaml.
#
# Usage: tools/ci/schemathesis.sh
#
# 1. Installs schemathesis into <repo>/.venv-schemathesis (gitignored) if needed and builds `saga` with cargo.
#    Each run below gets its own `saga serve` on a free 127.0.0.1 port, seeded with a few skus of known stock.
#    Fault injection is off, as in production, and X-Saga-Fault is pinned to an empty value: the header's rules
#    are the contract suite's business (tests/tests/faults.rs), and a generated plan would fail sagas on purpose.
# 2. Negative run: only invalid requests (bodies, headers, path parameters). Checks: no 5xx, answers conform to the spec, invalid data is rejected.
#    Then proves nothing was written: no answer carried X-Saga-Execution (no saga started), no write answered
#    2xx, and no sku that an invalid PUT named exists afterwards.
# 3. Positive run with stateful links (PUT stock -> GET it -> order
#    it -> GET the order). Checks: no 5xx, answers conform to the spec, valid data is accepted. "Accepted" is
#    any status the spec documents for the operation except the refusals of a request as such (400, 413, 415):
#    409 for too little stock, 422 for a reused Idempotency-Key or 404 for an unknown id are answers to valid
#    data. The expected statuses are read from docs/openapi.yaml, so documenting an answer is what makes it
#    expected. Two hooks keep the generated data valid where the schemas cannot say so: repeated skus in an
#    order are renamed (the order rules refuse them, as documented), and path values that schemathesis would
#    percent-decode before sending are left out.
# 4. The seeded stock is unchanged after each run; prints the request counts. Servers are stopped by their PID.
#
# Environment:
#   SCHEMATHESIS_VERSION   pip requirement (default: the pin below); changing it reinstalls.
#   ST_MAX_EXAMPLES        examples per operation and phase (default 150).
#   ST_MIN_REQUESTS        fail if fewer requests were generated in total (default 1000).
#   ST_SEED                hypothesis seed (default: random; printed so a run can be repeated).
#   CARGO_TARGET_DIR       where cargo builds (default <repo>/target).

set -euo pipefail

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-150}"
ST_MIN_REQUESTS="${ST_MIN_REQUESTS:-1000}"
ST_SEED="${ST_SEED:-$RANDOM$RANDOM}"
PYTHON="${PYTHON:-python3}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-schemathesis"
STAMP="$VENV/schemathesis.installed"
WORK="$VENV/run"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

log() { echo "schemathesis.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

if [[ ! -x "$VENV/bin/schemathesis" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$SCHEMATHESIS_VERSION" ]]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade "schemathesis==$SCHEMATHESIS_VERSION" >&2
    echo "$SCHEMATHESIS_VERSION" >"$STAMP"
fi
PY="$VENV/bin/python"

log "building saga"
(cd "$ROOT" && cargo build --quiet -p saga-cli --bin saga)
SAGA="$TARGET_DIR/debug/saga"
[[ -x "$SAGA" ]] || die "no binary at $SAGA"

rm -rf "$WORK"
mkdir -p "$WORK"
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT

# start_server NAME [saga serve flags...]: a fresh server (fresh store) on a free port; sets BASE and SERVER_PID.
start_server() {
    local name="$1"
    shift
    local port
    port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    BASE="http://127.0.0.1:$port"
    "$SAGA" serve --listen "127.0.0.1:$port" --time-scale 0.01 "$@" >"$WORK/server-$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if "$PY" -c "import urllib.request; urllib.request.urlopen('$BASE/health', timeout=1)" 2>/dev/null; then
            log "saga serve ($name) is up at $BASE, pid $SERVER_PID"
            return
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "saga serve exited: $(cat "$WORK/server-$name.log")"
        sleep 0.2
    done
    die "saga serve did not answer at $BASE"
}
log "seed $ST_SEED"

# Helper in Python: HTTP without curl, and HAR parsing.
cat >"$WORK/helper.py" <<'PY'
import json, sys, urllib.request, urllib.error, urllib.parse

def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")

def entries(har):
    with open(har) as f:
        return json.load(f)["log"]["entries"]

cmd, base = sys.argv[1], sys.argv[2]
if cmd == "seed":
    import secrets
    seeds = {f"seed-{secrets.token_hex(8)}-{i}": 1000 + i for i in range(5)}
    for sku, n in seeds.items():
        status, body = call("PUT", f"{base}/inventory/{sku}", {"available": n})
        assert status == 200, (status, body)
    json.dump(seeds, open(sys.argv[3], "w"))
elif cmd == "check-seeds":
    seeds = json.load(open(sys.argv[3]))
    for sku, n in seeds.items():
        status, body = call("GET", f"{base}/inventory/{sku}")
        if (status, body) != (200, {"sku": sku, "available": n, "reserved": 0}):
            sys.exit(f"seeded stock changed: {sku}: {status} {body}")
    print(f"seeded stock unchanged ({len(seeds)} skus)")
elif cmd == "count":
    es = entries(sys.argv[3])
    by_status = {}
    for e in es:
        s = e["response"]["status"]
        by_status[s] = by_status.get(s, 0) + 1
    print(len(es), json.dumps(dict(sorted(by_status.items()))))
elif cmd == "nothing-written":
    # Schemathesis' negative mode also sends some requests that are valid after all (a negated optional header
    # may simply be left out); judge each request by the spec's own schemas and hold only the invalid ones to
    # "nothing written".
    import os, re
    import jsonschema_rs as jsonschema  # what schemathesis itself validates with
    import yaml
    root = sys.argv[4]
    order_schema = json.load(open(os.path.join(root, "schemas/order-request.schema.json")))
    spec = yaml.safe_load(open(os.path.join(root, "docs/openapi.yaml")))
    stock_schema = spec["components"]["schemas"]["SetStock"]
    token = re.compile(r"^[!-~]{1,64}$")

    def valid(req, path):
        headers = {h["name"].lower(): h["value"] for h in req.get("headers", [])}
        key = headers.get("idempotency-key")
        if key is not None and not token.match(key):
            return False
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            body = json.loads(req.get("postData", {}).get("text", ""))
        except ValueError:
            return False
        if ctype != "application/json":
            return False
        if req["method"] == "PUT":
            if not path.startswith("/inventory/"):
                return False
            sku = urllib.parse.unquote(path[len("/inventory/"):])
            return bool(token.match(sku)) and jsonschema.Draft202012Validator(stock_schema).is_valid(body)
        return jsonschema.Draft4Validator(order_schema).is_valid(body)

    es = entries(sys.argv[3])
    bad = []
    put_paths = set()
    invalid = 0
    for e in es:
        req, res = e["request"], e["response"]
        path = urllib.parse.urlsplit(req["url"]).path
        if req["method"] not in ("POST", "PUT") or valid(req, path):
            continue
        invalid += 1
        headers = {h["name"].lower(): h["value"] for h in res.get("headers", [])}
        if "x-saga-execution" in headers:
            bad.append(f"an invalid request started a saga: {req['method']} {req['url']} -> {res['status']}")
        if 200 <= res["status"] < 300:
            bad.append(f"an invalid write was accepted: {req['method']} {req['url']} -> {res['status']}")
        if req["method"] == "PUT" and path.startswith("/inventory/") and path.count("/") == 2:
            put_paths.add(path)
    for path in sorted(put_paths):
        status, body = call("GET", base + path)
        if status == 200:
            bad.append(f"an invalid PUT left stock behind: GET {path} -> {body}")
    if bad:
        sys.exit("\n".join(bad[:50]))
    print(f"nothing written: {invalid} invalid writes started no saga; {len(put_paths)} skus named by invalid PUTs are absent")
elif cmd == "positive-config":
    # The base config, the hooks, and one [[operations]] table per operation naming the statuses that
    # positive_data_acceptance takes as "accepted": every status the spec documents for it but the refusals.
    import yaml
    base, hooks, spec_path = sys.argv[3:6]
    refusals = {"400", "413", "415"}
    spec = yaml.safe_load(open(spec_path))
    print(f"hooks = {json.dumps(hooks)}")
    print()
    print(open(base).read())
    for item in spec["paths"].values():
        for method, op in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            statuses = sorted(s for s in op["responses"] if s not in refusals)
            print("[[operations]]")
            print(f"include-operation-id = {json.dumps(op['operationId'])}")
            print(f"checks.positive_data_acceptance.expected-statuses = {json.dumps(statuses)}")
            print()
PY

# Hooks for the positive run: what valid means beyond the spec's schemas, so that valid data is what is sent.
cat >"$WORK/hooks.py" <<'PY'
import urllib.parse

import schemathesis


def positive(case):
    return case.meta is not None and case.meta.generation.mode.is_positive


@schemathesis.hook
def filter_case(ctx, case):
    # Schemathesis percent-decodes a generated path value before encoding it (so that a value given already
    # encoded is not encoded twice): a generated sku "%ff" goes out as U+FFFD, another sku, which the server
    # rightly refuses. Leave such values out rather than count the server's answer against it.
    if positive(case):
        for value in (case.path_parameters or {}).values():
            if isinstance(value, str) and urllib.parse.unquote(value) != value:
                return False
    return True


@schemathesis.hook
def map_case(ctx, case):
    # The one rule of POST /orders that no JSON Schema keyword can state, documented beside the schema: skus are
    # unique within an order. Rename repeated skus instead of dropping the case, so that long item lists (up to
    # maxItems) are still sent.
    if positive(case) and isinstance(case.body, dict) and isinstance(case.body.get("items"), list):
        # Copies, not edits in place: a generated list may hold one dict object several times.
        items = [dict(line) if isinstance(line, dict) else line for line in case.body["items"]]
        case.body = {**case.body, "items": items}
        lines = [line for line in items if isinstance(line, dict) and isinstance(line.get("sku"), str)]
        seen = set()
        for line in lines:
            sku, n = line["sku"], 0
            while sku in seen:
                n += 1
                sku = f"{n}-{line['sku']}"[:64]
            seen.add(sku)
            line["sku"] = sku
    return case
PY

# Headers are open in HTTP: an extra one is not invalid input. Authorization is AWS's (SigV4); locally there is
# none to generate or to withhold.
cat >"$WORK/schemathesis.toml" <<'TOML'
[generation]
allow-extra-parameters = false
with-security-parameters = false

[parameters]
"header.X-Saga-Fault" = ""
TOML

COMMON=(
    "$ROOT/docs/openapi.yaml"
    --seed "$ST_SEED"
    --max-examples "$ST_MAX_EXAMPLES"
    --workers 2
    --request-timeout 30
    --no-color
    --suppress-health-check all
    --generation-database none
    --report har
)

start_server negative
"$PY" "$WORK/helper.py" seed "$BASE" "$WORK/seeds.json"
log "negative run"
set +e
"$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "${COMMON[@]}" --url "$BASE" \
    --mode negative --phases coverage,fuzzing \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
    --exclude-operation-id health \
    --report-har-path "$WORK/negative.har" | tee "$WORK/negative.log"
negative_rc=${PIPESTATUS[0]}
set -e
[[ -f "$WORK/negative.har" ]] || die "the negative run wrote no report"
"$PY" "$WORK/helper.py" nothing-written "$BASE" "$WORK/negative.har" "$ROOT"
"$PY" "$WORK/helper.py" check-seeds "$BASE" "$WORK/seeds.json"
stop_server

"$PY" "$WORK/helper.py" positive-config - "$WORK/schemathesis.toml" "$WORK/hooks.py" "$ROOT/docs/openapi.yaml" \
    >"$WORK/schemathesis-positive.toml"

start_server positive
"$PY" "$WORK/helper.py" seed "$BASE" "$WORK/seeds.json"
log "positive and stateful run"
set +e
"$VENV/bin/schemathesis" --config-file "$WORK/schemathesis-positive.toml" run "${COMMON[@]}" --url "$BASE" \
    --mode positive --phases examples,coverage,fuzzing,stateful \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance,use_after_free,ensure_resource_availability \
    --report-har-path "$WORK/positive.har" | tee "$WORK/positive.log"
positive_rc=${PIPESTATUS[0]}
set -e
[[ -f "$WORK/positive.har" ]] || die "the positive run wrote no report"
"$PY" "$WORK/helper.py" check-seeds "$BASE" "$WORK/seeds.json"
stop_server

read -r negative_count negative_statuses < <("$PY" "$WORK/helper.py" count "$BASE" "$WORK/negative.har")
read -r positive_count positive_statuses < <("$PY" "$WORK/helper.py" count "$BASE" "$WORK/positive.har")
total=$((negative_count + positive_count))
echo "negative requests: $negative_count $negative_statuses"
echo "positive/stateful requests: $positive_count $positive_statuses"
echo "generated requests: $total (seed $ST_SEED)"

failed=0
if ((negative_rc != 0)); then
    log "the negative run failed (exit $negative_rc); see $WORK/negative.log"
    failed=1
fi
if ((positive_rc != 0)); then
    log "the positive run failed (exit $positive_rc); see $WORK/positive.log"
    failed=1
fi
if ((total < ST_MIN_REQUESTS)); then
    log "only $total requests were generated; at least $ST_MIN_REQUESTS are required"
    failed=1
fi
if grep -q "panicked" "$WORK"/server-*.log; then
    log "the server panicked; see $WORK/server-*.log"
    failed=1
fi
if ((failed == 0)); then
    echo "$((total)) passed, 0 failed"
fi
exit "$failed"
