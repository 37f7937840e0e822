#!/usr/bin/env bash
# The execution viewer in headless Chromium (tools/viewer-e2e): `saga serve --fault-injection` on a free port,
# a happy and a compensated saga, then the pages as a person sees them.
#
# Usage: tools/ci/viewer-e2e.sh
#
# Installs Debian's `chromium` when /usr/bin/chromium is missing (as root, with apt-get; the browser comes from the
# distribution, never from a download of its own) and playwright-core from tools/viewer-e2e/package-lock.json,
# builds `saga`, and runs the test with node's test runner. Screenshots of each page are left in
# $CARGO_TARGET_DIR/viewer-e2e (target/viewer-e2e by default).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "viewer-e2e: /usr/bin/chromium is missing; install it with: apt-get install -y chromium" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version

cargo build --quiet --bin saga
export SAGA_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/saga"

cd tools/viewer-e2e
npm ci --no-audit --no-fund --loglevel=error
node --test viewer.test.mjs
