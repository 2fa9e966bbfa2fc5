#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this file).
# Makes sure the machine's PostgreSQL and Redis answer, then checks format and
# lints and runs every test of the workspace, then a short run of every
# fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_services() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "test.sh: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "test.sh: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
}

# Real peers some tests drive: nginx (forward-auth), PyJWT (an
# independent JOSE implementation), authlib, and Node's openid-client,
# oauth4webapi and jose (tests/interop/node, from its committed lock file).
# Installed from the distribution, PyPI and npm when missing.
ensure_test_tools() {
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    echo "test.sh: installing nginx"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light) >/dev/null || true
  fi
  if ! python3 -c 'import jwt, cryptography' >/dev/null 2>&1; then
    echo "test.sh: installing PyJWT"
    python3 -m pip install -q 'pyjwt[crypto]' >/dev/null || true
  fi
  if ! python3 -c 'import authlib, requests' >/dev/null 2>&1; then
    echo "test.sh: installing authlib"
    python3 -m pip install -q 'authlib>=1.9,<2' requests >/dev/null || true
  fi
  if [ ! -d tests/interop/node/node_modules ]; then
    echo "test.sh: installing tests/interop/node (npm ci)"
    npm ci --prefix tests/interop/node --no-audit --no-fund >/dev/null || true
  fi
}

ensure_services
ensure_test_tools
cargo fmt --all -- --check
# No module imports one that imports it back (#21), and the check works.
python3 scripts/module_cycles.py --self-test
python3 scripts/module_cycles.py
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The OpenAPI document against the live server: schemathesis, every check.
bash scripts/schemathesis.sh
# The Express middleware against the real jwtd binary (Node's test runner),
# from its committed lock file.
(cd clients/express && npm ci --no-audit --no-fund --loglevel=error && npm test)
# Every fuzz target for a few seconds (fuzz/, docs/fuzzing.md).
bash scripts/fuzz.sh 10
