#!/usr/bin/env bash
# The OpenAPI document must be true (#11): schemathesis 4, every check and
# every phase, against a live jwtd built from this tree, must find nothing.
# Part of scripts/test.sh. EXAMPLES (default 30) sets how many cases per
# operation; `bash scripts/schemathesis.sh 500` is the long run.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-30}"

if ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
  echo "schemathesis.sh: installing schemathesis"
  python3 -m pip install -q 'schemathesis>=4,<5'
fi
cargo build -q --locked --bin jwtd

dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
admin="schemathesis-admin-token-$RANDOM$RANDOM"
JWTD_ADMIN_TOKEN="$admin" JWTD_ARGON2_MEMORY_KIB=1024 JWTD_ARGON2_ITERATIONS=1 \
  JWTD_LOGIN_MAX_FAILURES=1000000 JWTD_CLIENT_AUTH_MAX_FAILURES=1000000 \
  target/debug/jwtd serve --data-dir "$dir/data" --listen "127.0.0.1:$port" >"$dir/log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do
  curl -sf "$base/healthz" >/dev/null && break
  sleep 0.1
done

# Users with live access tokens (one only for /logout, whose global scope
# would end the other's), and a client with every right.
access_token() {
  local creds="{\"username\":\"$1\",\"password\":\"correct horse battery\"}"
  curl -sf -H 'content-type: application/json' -d "$creds" "$base/register" >/dev/null
  curl -sf -H 'content-type: application/json' -d "$creds" "$base/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
token="$(access_token schemathesis)"
JWTD_ST_LOGOUT_TOKEN="$(access_token schemathesis-logout)"
export JWTD_ST_LOGOUT_TOKEN
client="$(curl -sf -H "authorization: Bearer $admin" -H 'content-type: application/json' -d '{"name":"schemathesis","introspect":true,"feed":true}' "$base/admin/clients")"

export JWTD_ST_ACCESS_TOKEN="$token" JWTD_ST_ADMIN_TOKEN="$admin"
JWTD_ST_CLIENT_ID="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$client")"
JWTD_ST_CLIENT_SECRET="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$client")"
export JWTD_ST_CLIENT_ID JWTD_ST_CLIENT_SECRET

python3 -m schemathesis.cli --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --checks all --max-examples "$examples" --request-timeout 5 --no-color \
  --seed "${JWTD_ST_SEED:-1}" --suppress-health-check all
