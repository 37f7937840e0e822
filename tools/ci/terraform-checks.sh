#!/usr/bin/env bash
# Every offline check of the AWS deployment (terraform/), in the order a failure is cheapest to read:
#   1. terraform fmt -check, init (local provider mirror, no backend), validate
#   2. terraform test (mocked AWS provider: plan-level assertions in terraform/tests/, including that the
#      `cargo build-lambdas` alias in .cargo/config.toml builds exactly the functions Terraform deploys)
#   3. the VTL mapping templates rendered by velocityjs with an API Gateway shim (tools/vtl, node --test)
#   4. workflow.asl.json through @wmfs/statelint and asl-validator
#   5. checkov on terraform/ (0 failed checks; every skip is inline in the .tf with its reason)
# Needs no AWS account and no network beyond the npm and PyPI registries (for the first install).
#
# Environment:
#   TF_PLUGIN_DIR   directory holding the hashicorp/aws provider (default /opt/tf-plugins)
#   TERRAFORM       terraform binary (default: terraform on PATH)
#   CHECKOV_VERSION checkov to install into .venv-checkov (default below)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TF_DIR="$ROOT/terraform"
VTL_DIR="$ROOT/tools/vtl"
VENV="$ROOT/.venv-checkov"
TF_PLUGIN_DIR="${TF_PLUGIN_DIR:-/opt/tf-plugins}"
TERRAFORM="${TERRAFORM:-terraform}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
# The project's (empty) CLI config: no credentials helpers or mirrors from the user's ~/.terraformrc.
export TF_CLI_CONFIG_FILE="$TF_DIR/.terraformrc"
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TERRAFORM

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'terraform-checks: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: $2"
}

need "$TERRAFORM" "install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install) or set TERRAFORM"
need node "install Node.js >= 20 (its built-in test runner runs the VTL tests)"
need npm "install npm (it comes with Node.js)"
need python3 "install Python >= 3.9 with venv (checkov runs in a virtualenv)"
[ -d "$TF_PLUGIN_DIR/registry.terraform.io/hashicorp/aws" ] ||
  die "no hashicorp/aws provider under $TF_PLUGIN_DIR; set TF_PLUGIN_DIR to a provider mirror (terraform providers mirror <dir>) - the checks never download providers"

cd "$TF_DIR"

step "terraform fmt -check -recursive"
"$TERRAFORM" fmt -check -recursive -diff

step "terraform init -backend=false (providers from $TF_PLUGIN_DIR)"
"$TERRAFORM" init -backend=false -input=false -plugin-dir="$TF_PLUGIN_DIR" >/dev/null

step "terraform validate"
"$TERRAFORM" validate -no-color

step "terraform test (mock_provider \"aws\")"
"$TERRAFORM" test -no-color 2>&1 | grep -v '^  - ' # drop the per-resource teardown list

step "VTL templates (velocityjs + API Gateway shim): npm ci && node --test"
cd "$VTL_DIR"
npm ci --no-audit --no-fund --loglevel=error
node --test

step "workflow.asl.json: statelint and asl-validator"
"$VTL_DIR/node_modules/.bin/statelint" "$ROOT/workflow.asl.json"
"$VTL_DIR/node_modules/.bin/asl-validator" --json-path "$ROOT/workflow.asl.json"

step "checkov $CHECKOV_VERSION (virtualenv $VENV)"
if [ ! -x "$VENV/bin/checkov" ] || [ "$("$VENV/bin/checkov" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi
# --skip-download: no Prisma Cloud or external check downloads. No --skip-check: skips live in the .tf files.
"$VENV/bin/checkov" --directory "$TF_DIR" --framework terraform --skip-download --skip-path tests \
  --quiet --compact

step "all terraform checks passed"
