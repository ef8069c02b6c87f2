#!/usr/bin/env bash
# Run the DRYAD load test end to end:
#   build release binaries -> seed the database (idempotent) -> start dryad as a managed target
#   -> cicada runs tests/load/dryad.toml -> reports (HTML, JSON, CSV) -> stop dryad
#   -> exit with cicada's verdict (0 pass, 1 thresholds failed, 2 bad input, 3 unreachable, ...).
#
# Every setting has a flag and an environment variable (flags win):
#   --users N            USERS                 simulated users                  (1000)
#   --spawn-rate R       SPAWN_RATE            users started per second         (50)
#   --run-time T         RUN_TIME              run time, e.g. 30s, 10m          (10m)
#   --database-url URL   DATABASE_URL          sqlite://FILE or postgres://...  (dryad.db in the repo)
#   --agents N           AGENTS                agents to seed                   (1000)
#   --executions-per-agent M  EXECUTIONS_PER_AGENT  history per agent           (1000)
#   --port P             PORT                  where dryad listens              (8000)
#   --out-dir DIR        OUT_DIR               where reports go                 (.)
#   --scenario FILE      SCENARIO              scenario file                    (tests/load/dryad.toml)
#   --profile P          PROFILE               cargo profile: release or dev    (release)
#   --host URL           HOST                  test a running deployment instead of a local
#                                              dryad (no build of dryad, no seeding); agent ids
#                                              are then read from tests/load/data/agents.csv
#   -- ARGS...                                 passed on to `cicada run` unchanged
# The local dryad's /metrics is scraped each second into the report (pool, queue, workers).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
users=${USERS:-1000}
spawn_rate=${SPAWN_RATE:-50}
run_time=${RUN_TIME:-10m}
database_url=${DATABASE_URL:-sqlite://$root/dryad.db}
agents=${AGENTS:-1000}
executions_per_agent=${EXECUTIONS_PER_AGENT:-1000}
port=${PORT:-8000}
out_dir=${OUT_DIR:-$root}
scenario=${SCENARIO:-$root/tests/load/dryad.toml}
profile=${PROFILE:-release}
host=${HOST:-}
extra=()

die() { echo "run_load_test.sh: $*" >&2; exit 2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see the top of $0)"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --users) need_value "$@"; users=$2; shift 2 ;;
    --spawn-rate) need_value "$@"; spawn_rate=$2; shift 2 ;;
    --run-time) need_value "$@"; run_time=$2; shift 2 ;;
    --database-url) need_value "$@"; database_url=$2; shift 2 ;;
    --agents) need_value "$@"; agents=$2; shift 2 ;;
    --executions-per-agent) need_value "$@"; executions_per_agent=$2; shift 2 ;;
    --port) need_value "$@"; port=$2; shift 2 ;;
    --out-dir) need_value "$@"; out_dir=$2; shift 2 ;;
    --scenario) need_value "$@"; scenario=$2; shift 2 ;;
    --profile) need_value "$@"; profile=$2; shift 2 ;;
    --host) need_value "$@"; host=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

case "$profile" in
  release) bin_dir=release ;;
  dev|debug) profile=dev; bin_dir=debug ;;
  *) die "--profile must be release or dev, not '$profile'" ;;
esac
target_dir=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$out_dir"

echo "== building cicada and dryad ($profile)"
(cd "$root" && cargo build --locked --profile "$profile" -p cicada-cli -p dryad)
cicada="$target_dir/$bin_dir/cicada"
dryad="$target_dir/$bin_dir/dryad"

data_dir="$root/tests/load/data"
target_flags=()
if [ -z "$host" ]; then
  mkdir -p "$data_dir"
  echo "== seeding $database_url ($agents agents x $executions_per_agent executions; skipped if already seeded)"
  "$dryad" seed --database-url "$database_url" --agents "$agents" \
    --executions-per-agent "$executions_per_agent" --export-agents "$data_dir/agents.csv"
  host="http://127.0.0.1:$port"
  target_flags=(
    --target-cmd "exec '$dryad' serve --database-url '$database_url' --bind 127.0.0.1:$port"
    --target-ready "$host/ready"
    --target-log "$out_dir/dryad.log"
    --scrape "$host/metrics"
  )
else
  [ -s "$data_dir/agents.csv" ] || die "--host given: put the target's agent ids in $data_dir/agents.csv (header agent_id), e.g. with 'dryad seed --export-agents' against its database"
fi

echo "== cicada: $users users at $spawn_rate/s for $run_time against $host"
set +e
"$cicada" run "$scenario" -H "$host" -u "$users" -r "$spawn_rate" -t "$run_time" \
  "${target_flags[@]}" \
  --html "$out_dir/load_test_report.html" --json "$out_dir/load_test_report.json" \
  --csv "$out_dir/load_test" --junit "$out_dir/load_test_junit.xml" \
  "${extra[@]}"
verdict=$?
set -e
echo "== reports: $out_dir/load_test_report.html (and .json, load_test_*.csv, load_test_junit.xml)"
exit $verdict
