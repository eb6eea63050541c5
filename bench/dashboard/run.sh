#!/usr/bin/env bash
# Dashboard API benchmark: fills a request store with N synthetic requests (default 1,000,000,
# spread over 30 days; bench/dashboard/fill_store.sql), starts `triage serve` on it and times
# every dashboard endpoint with curl, over the default range (24 h) and over all 30 days.
#
#   bench/dashboard/run.sh [BUILD_DIR] [N]        # e.g. bench/dashboard/run.sh build-s 1000000
#
# Prints a table and writes it to bench/results/dashboard-<date>.tsv. Needs sqlite3 and curl.
# The fill also writes the per-minute rollup (rollup_minute) the store's writer would have kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
[[ $build = /* ]] || build="$root/$build"
n=${2:-1000000}
triage="$build/bin/triage"
[[ -x $triage ]] || { echo "no $triage (build the triage target first)" >&2; exit 1; }
command -v sqlite3 >/dev/null && command -v curl >/dev/null || { echo "needs sqlite3 and curl" >&2; exit 1; }

work=$(mktemp -d /tmp/triage-dash-bench-XXXXXX)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/triage.yaml" <<YAML
server: {host: 127.0.0.1, port: 0, threads: 2}
store: {type: sqlite, path: $work/triage.db}
reference_model: large-model
models:
  - {name: small-model, provider: openai, endpoint: "http://127.0.0.1:9/v1", api_key_env: BENCH_KEY, tier: small, prices: {input: 0.15, output: 0.6}}
  - {name: medium-model, provider: openai, endpoint: "http://127.0.0.1:9/v1", api_key_env: BENCH_KEY, tier: medium, prices: {input: 1.0, output: 4.0}}
  - {name: large-model, provider: openai, endpoint: "http://127.0.0.1:9/v1", api_key_env: BENCH_KEY, tier: large, prices: {input: 5.0, output: 15.0}}
routes:
  - {name: support, type: model, model: small-model}
YAML

# Starts the gateway; sets $pid, $origin and $ready_s (seconds until it listened).
start() {
  local t0 t1 line
  t0=$(date +%s.%N)
  : > "$work/out.log"
  BENCH_KEY=x "$triage" serve -c "$work/triage.yaml" --listen 127.0.0.1:0 > "$work/out.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 1200); do
    line=$(grep -m1 -o 'listening on http://[^ ]*' "$work/out.log" || true)
    [[ -n $line ]] && break
    sleep 0.1
  done
  [[ -n $line ]] || { echo "triage did not start:" >&2; cat "$work/out.log" >&2; exit 1; }
  origin=${line#listening on }
  origin=${origin%/}
  t1=$(date +%s.%N)
  ready_s=$(echo "$t1 - $t0" | bc)
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

echo "creating the store schema..."
start
stop
now_ms=$(( $(date +%s) * 1000 ))
echo "filling $n requests (30 days up to now)..."
t0=$(date +%s.%N)
printf "DROP INDEX IF EXISTS requests_dashboard;\nCREATE TEMP TABLE bench_params(n, end_ms, days);\nINSERT INTO bench_params VALUES (%d, %d, 30);\n.read %s\n" \
  "$n" "$now_ms" "$here/fill_store.sql" | sqlite3 "$work/triage.db"
fill_s=$(echo "$(date +%s.%N) - $t0" | bc)
size_mb=$(( $(stat -c %s "$work/triage.db") / 1048576 ))
echo "filled in ${fill_s}s, ${size_mb} MiB; starting triage..."
start
start_s=$ready_s
index_mb=$(( $(stat -c %s "$work/triage.db") / 1048576 - size_mb ))
echo "ready after ${start_s}s (file grew by ${index_mb} MiB at start)"

day="from=$(( now_ms - 86400000 ))&to=$now_ms"
all="from=0&to=$now_ms"
endpoints=(
  "summary|/v1/dashboard/summary"
  "timeseries cpi by tier|/v1/dashboard/timeseries?metric=cpi&by=tier"
  "timeseries cost by model|/v1/dashboard/timeseries?metric=cost&by=model"
  "timeseries cpi by category|/v1/dashboard/timeseries?metric=cpi&by=category"
  "timeseries latency|/v1/dashboard/timeseries?metric=latency"
  "models|/v1/dashboard/models"
  "funnel|/v1/dashboard/funnel"
  "confidence|/v1/dashboard/confidence"
  "review queue page|/v1/review?limit=50"
)
mkdir -p "$root/bench/results"
out="$root/bench/results/dashboard-$(date +%Y-%m-%d-%H%M).tsv"
{
  echo -e "# rows=$n fill_s=$fill_s db_mib=$size_mb start_s=$start_s start_growth_mib=$index_mb"
  echo -e "endpoint\trange\tfirst_ms\tmedian_of_5_ms\tbytes"
} > "$out"
printf "%-28s %-6s %10s %14s %10s\n" endpoint range first_ms median5_ms bytes
for e in "${endpoints[@]}"; do
  name=${e%%|*}
  path=${e#*|}
  for r in 24h all; do
    q=$day; [[ $r = all ]] && q=$all
    [[ $path = /v1/review* ]] && { [[ $r = all ]] && continue; q=""; }
    sep='?'; [[ $path = *\?* ]] && sep='&'
    url="$origin$path${q:+$sep$q}"
    times=()
    bytes=0
    for i in 1 2 3 4 5 6; do
      res=$(curl -s -o "$work/body" -w '%{http_code} %{time_total}' "$url")
      code=${res% *}
      [[ $code = 200 ]] || { echo "$url -> $code: $(cat "$work/body")" >&2; exit 1; }
      times+=("$(echo "${res#* } * 1000" | bc)")
      bytes=$(stat -c %s "$work/body")
    done
    first=${times[0]}
    median=$(printf "%s\n" "${times[@]:1}" | sort -g | sed -n 3p)
    printf "%-28s %-6s %10.1f %14.1f %10d\n" "$name" "$r" "$first" "$median" "$bytes"
    echo -e "$name\t$r\t$first\t$median\t$bytes" >> "$out"
  done
done
echo "written to $out"
