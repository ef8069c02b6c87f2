#!/usr/bin/env bash
# Fuzz a real dryad against its own OpenAPI document with schemathesis (--checks all): starts
# `dryad serve` on 127.0.0.1 over a fresh database, logs in as loadtest, runs schemathesis with
# a bounded number of examples and a time budget, stops dryad. Exits with schemathesis' status
# (0 = no failure of any check).
#
#   scripts/schemathesis.sh [--backend sqlite|postgres] [--max-examples N] [--max-time SECS]
#                           [--dryad PATH] [--seed N] [-- SCHEMATHESIS ARGS...]
#
# --backend postgres makes (and drops) a database on PG_ADMIN_URL
# (default postgres://postgres@127.0.0.1:5432/postgres). --dryad defaults to target/debug/dryad
# (built if missing). schemathesis must be installed (.ci/run pins its version). Its configuration
# (scripts/schemathesis.toml, with the hook check in scripts/schemathesis_hooks.py) explains the
# one status the positive-data check must accept on POST /execute.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
backend=sqlite
max_examples=${MAX_EXAMPLES:-40}
max_time=${MAX_TIME:-240}
seed=${SEED:-1}
dryad=${DRYAD:-}
admin_url=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
extra=()

die() { echo "schemathesis.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=$2; shift 2 ;;
    --max-examples) max_examples=$2; shift 2 ;;
    --max-time) max_time=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --dryad) dryad=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
command -v schemathesis >/dev/null || die "schemathesis is not installed (pip install schemathesis, version in .ci/run)"
if [ -z "$dryad" ]; then
  dryad=${CARGO_TARGET_DIR:-$root/target}/debug/dryad
  [ -x "$dryad" ] || (cd "$root" && cargo build --locked -p dryad)
fi

work=$(mktemp -d)
pid=
dbname=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ -n "$dbname" ]; then
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

case "$backend" in
  sqlite) url="sqlite://$work/dryad.db" ;;
  postgres)
    dbname="dryad_schemathesis_$$_$RANDOM"
    psql -q "$admin_url" -c "CREATE DATABASE $dbname" >/dev/null
    url="${admin_url%/*}/$dbname" ;;
  *) die "--backend must be sqlite or postgres, not '$backend'" ;;
esac

# A small history so the reads return real rows; cheap hashes so logins cost little.
"$dryad" seed --database-url "$url" --agents 5 --executions-per-agent 40 \
  --argon2-memory-kib 64 --argon2-iterations 1 >/dev/null
DRYAD_JWT_SECRET=schemathesis RUST_LOG=${RUST_LOG:-warn} "$dryad" serve --database-url "$url" \
  --bind 127.0.0.1:0 --agent-latency-median-ms 20 >"$work/stdout" 2>"$work/stderr" &
pid=$!
addr=
for _ in $(seq 200); do
  addr=$(sed -n 's|^dryad listening on http://||p' "$work/stdout")
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/stderr" >&2; die "dryad exited before listening"; }
  sleep 0.1
done
[ -n "$addr" ] || die "dryad did not start"
base="http://$addr"
token=$(curl -fsS -H 'content-type: application/json' \
  -d '{"username":"loadtest","password":"test123"}' "$base/api/v1/auth/login" | jq -er .access_token)

echo "== schemathesis $(schemathesis --version | awk '{print $NF}') against dryad on $backend at $base" \
  "(--max-examples $max_examples, --max-time $max_time s, --seed $seed)"
set +e
# schemathesis keeps a cache in ./.schemathesis: run it from the scratch directory.
cd "$work"
SCHEMATHESIS_HOOKS="$root/scripts/schemathesis_hooks.py" \
  schemathesis --config-file "$root/scripts/schemathesis.toml" run "$base/api/v1/openapi.json" --url "$base" --checks all \
  --max-examples "$max_examples" --max-time "$max_time" --seed "$seed" \
  --generation-database none --workers 1 --no-color \
  -H "Authorization: Bearer $token" "${extra[@]}"
status=$?
set -e
if grep -q " ERROR " "$work/stderr"; then
  echo "== dryad logged errors:" >&2
  grep " ERROR " "$work/stderr" | head -n 20 >&2
fi
exit $status
