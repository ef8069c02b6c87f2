#!/usr/bin/env bash
# Side-by-side benchmark: cicada vs wrk, oha, Goose and Locust FastHttpUser (docs/performance.md).
#
#   bench/run.sh [--reps 3] [--seconds 15] [--sections throughput,idle,latency] [--tools ...]
#
# Targets are local only: nginx (bench/nginx/nginx.conf) and bench/slow_server on 127.0.0.1,
# pinned to core 0; every generator is pinned to core 1. Every run is bounded.
# Binaries are taken from the environment, else built here (release, nice 19):
#   CICADA_BIN       cicada       (default: $CARGO_TARGET_DIR/release/cicada, built with -p cicada-cli)
#   GOOSE_BIN        bench-goose  (default: $GOOSE_TARGET_DIR/release/bench-goose)
#   SLOW_SERVER_BIN  slow-server  (default: $SLOW_TARGET_DIR/release/slow-server)
# Needs: wrk, nginx (nginx-light), oha, locust, ss, taskset, python3. Run `bench/run.sh --help`
# for every option.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
: "${CARGO_TARGET_DIR:=$ROOT/target}"
: "${GOOSE_TARGET_DIR:=$BENCH/peers/goose/target}"
: "${SLOW_TARGET_DIR:=$BENCH/slow_server/target}"

for tool in nginx wrk ss taskset python3; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required (see bench/README.md)" >&2; exit 2; }
done
[ "$(nproc)" -ge 2 ] || { echo "run.sh: needs 2 cores (target on core 0, generator on core 1)" >&2; exit 2; }

# --help needs no binaries: answer it before building anything.
for arg in "$@"; do
    case "$arg" in -h|--help) exec python3 "$BENCH/harness/bench.py" --help ;; esac
done

# 10,000 idle users hold 10,000 sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

build() { # build NAME MANIFEST TARGET_DIR [cargo args…]
    local name=$1 manifest=$2 dir=$3; shift 3
    echo "building $name (release, nice 19) …" >&2
    CARGO_TARGET_DIR="$dir" nice -n 19 cargo build --release --manifest-path "$manifest" "$@" >&2
}

if [ -z "${CICADA_BIN:-}" ]; then
    CICADA_BIN="$CARGO_TARGET_DIR/release/cicada"
    [ -x "$CICADA_BIN" ] || build cicada "$ROOT/Cargo.toml" "$CARGO_TARGET_DIR" -p cicada-cli
fi
if [ -z "${GOOSE_BIN:-}" ]; then
    GOOSE_BIN="$GOOSE_TARGET_DIR/release/bench-goose"
    [ -x "$GOOSE_BIN" ] || build Goose "$BENCH/peers/goose/Cargo.toml" "$GOOSE_TARGET_DIR" --locked
fi
if [ -z "${SLOW_SERVER_BIN:-}" ]; then
    SLOW_SERVER_BIN="$SLOW_TARGET_DIR/release/slow-server"
    [ -x "$SLOW_SERVER_BIN" ] || build slow-server "$BENCH/slow_server/Cargo.toml" "$SLOW_TARGET_DIR" --locked
fi
export CICADA_BIN GOOSE_BIN SLOW_SERVER_BIN

echo "uptime at start: $(uptime)"
exec python3 "$BENCH/harness/bench.py" "$@"
