#!/usr/bin/env bash
# Load benchmark (`make bench`): the test upstream directly, nginx as a plain keep-alive reverse
# proxy in front of it (the floor), and Triage passing through to it (with its default config,
# as `triage-nopoll` with server.busy_poll_us: 0, as `triage-cached` with the response cache on
# (every request after the first a hit: hit latency and CPU per hit), and as `triage-keys` with a client API key
# with limits and a budget on every request), measured in one sitting on loopback with
# wrk. Method and peer figures: bench/README.md.
#
# CPU layout: the system under test (nginx with 1 worker, or triage with all its threads) is
# pinned to CPU 1; wrk, the upstream and the TTFB client share CPU 0. "CPU us/req" is the SUT's
# utime+stime (/proc/<pid>/stat, children included) during a run divided by the run's requests.
#
# env: BUILD_DIR (default build), TRIAGE_BIN, UPSTREAM_BIN (default $BUILD_DIR/bin/...),
#      DUR (s per run, 10), WARM (s of warm-up per target, 3), CONCS ("1 8 32 64 512"),
#      STREAM_CONC (8), TTFB_N (streaming requests for time to first token, 200),
#      TTFB_PACED_N (50) and PACE_MS (10): the same with the upstream pausing between chunks,
#      OUT_DIR (bench/results), BENCH_NOTE (free text added to latest.md's Triage line),
#      MICRO_BIN ($BUILD_DIR/bench/micro/bench_router_score), MICRO (1; 0 skips the step),
#      ROUTED (1; 0 skips the routed path), ROUTED_PROMPTS (200 MMLU prompts it cycles through),
#      PAIRS (3 paired rounds; 0: the p99 fields come from the sweep) and PAIR_DUR (5 s per run).
# Writes OUT_DIR/load-<date>.tsv, OUT_DIR/latest.md, raw wrk output and logs in OUT_DIR/tmp/.
# Before the load, the router micro-benchmarks (bench/micro/bench_router_score: CPU per decision
# of every shipped router and scorer, on the SUT's CPU) when MICRO_BIN is built (cmake
# -DTRIAGE_BUILD_BENCH=ON; `make bench` does it); MICRO=0 skips them. Writes
# OUT_DIR/micro-<date>.json.
# After the load, the routed path (issue 14): c=8 JSON through a `threshold` route (the MMLU gain
# router, the slowest shipped one), a `classify` route (models/intent.bin) and a 2-step `cascade`
# whose first step is accepted, beside the same prompts sent to the model itself; DUR per run
# (about 45 s in all at the defaults). Needs models/ (make models); skipped without them.
# Last line of output, always exactly one:
#   bench: triage_cpu_us_per_req=X nginx_cpu_us_per_req=Y triage_rps_one_core=Z added_p50_ms_c8=W
#          triage_p99_ms_c8=.. nginx_p99_ms_c8=.. triage_p99_ms_c512=.. nginx_p99_ms_c512=..
#          timeouts_c512=.. p99_ratio_c8=.. p99_ratio_c512=.. c512_share_of_peak=S router_us_max=R
#          store_dropped=D
# (CPU per request at c=8 JSON; Z = best JSON req/s at any concurrency; W = triage p50 - direct
# p50 at c=8 JSON, in ms; p99 of JSON requests at c=8 and c=512, each the median of the paired
# rounds (below); timeouts_c512 = requests of all Triage's c=512 runs that wrk gave up on after
# 2 s; p99_ratio_c8/c512 = median over the paired rounds of Triage's p99 over nginx's in the
# same round; S = the same median of Triage's req/s at c=512 over its req/s at the sweep's peak
# concurrency; R = CPU us of the slowest shipped router's
# decision; D = rows the store writers of every Triage instance dropped (a full queue: a
# writer that could not keep up), read from /metrics after the load; NA where not measured.)
# Paired rounds: the sweep measures nginx and Triage minutes apart, and on a shared VM the
# host's speed moves by tens of percent in that time (Triage's c=8 p99 ratio to nginx came out
# 1.1x-2.1x in four sweeps over two days). So after the sweep, PAIRS rounds run back to back:
# nginx c=8, triage c=8, triage at its peak concurrency, triage c=512, nginx c=512 (every other
# round in reverse order), PAIR_DUR s each; the issue 14/16 fields are medians of those rounds.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOAD="$ROOT/bench/load"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
TRIAGE_BIN="${TRIAGE_BIN:-$BUILD_DIR/bin/triage}"
UPSTREAM_BIN="${UPSTREAM_BIN:-$BUILD_DIR/bin/triage-test-upstream}"
MICRO_BIN="${MICRO_BIN:-$BUILD_DIR/bench/micro/bench_router_score}"; MICRO="${MICRO:-1}"
ROUTED="${ROUTED:-1}"; ROUTED_PROMPTS="${ROUTED_PROMPTS:-200}"
PAIRS="${PAIRS:-3}"; PAIR_DUR="${PAIR_DUR:-5}"
DUR="${DUR:-10}"; WARM="${WARM:-3}"; CONCS="${CONCS:-1 8 32 64 512}"; STREAM_CONC="${STREAM_CONC:-8}"
TTFB_N="${TTFB_N:-200}"; TTFB_PACED_N="${TTFB_PACED_N:-50}"; PACE_MS="${PACE_MS:-10}"
OUT_DIR="${OUT_DIR:-$ROOT/bench/results}"
STAMP="$(date +%Y-%m-%d-%H%M)"
TSV="$OUT_DIR/load-$STAMP.tsv"
MD="$OUT_DIR/latest.md"
RAW_DIR="$OUT_DIR/tmp"
RAW="$RAW_DIR/wrk-$STAMP.txt"

log() { echo "bench: $*" >&2; }
ROUTER_US_MAX=NA  # set by the micro-benchmark step
C512_SHARE=NA P99_RATIO_C8=NA P99_RATIO_C512=NA  # set by the paired rounds
STORE_DROPPED=NA  # set after the load: rows the Triage instances' stores dropped
# final_line CPU NGINX_CPU RPS ADDED P99_C8 NGINX_P99_C8 P99_C512 NGINX_P99_C512 TIMEOUTS_C512
final_line() {
  echo "bench: triage_cpu_us_per_req=$1 nginx_cpu_us_per_req=$2 triage_rps_one_core=$3 added_p50_ms_c8=$4 triage_p99_ms_c8=$5 nginx_p99_ms_c8=$6 triage_p99_ms_c512=$7 nginx_p99_ms_c512=$8 timeouts_c512=$9 p99_ratio_c8=$P99_RATIO_C8 p99_ratio_c512=$P99_RATIO_C512 c512_share_of_peak=$C512_SHARE router_us_max=$ROUTER_US_MAX store_dropped=$STORE_DROPPED"
}
die() { log "$*"; final_line NA NA NA NA NA NA NA NA NA; exit 1; }

for tool in wrk nginx taskset node python3; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup.sh bench"
done
[ -x "$UPSTREAM_BIN" ] || die "test upstream not found at $UPSTREAM_BIN (build it, or set UPSTREAM_BIN)"
HAVE_TRIAGE=1
[ -x "$TRIAGE_BIN" ] || { log "triage not found at $TRIAGE_BIN: measuring direct + nginx only"; HAVE_TRIAGE=0; }

LOAD_CPU=0; SUT_CPU=1
if [ "$(nproc)" -lt 2 ]; then log "only one CPU: SUT and load share it, figures are not comparable"; SUT_CPU=0; fi
TCK="$(getconf CLK_TCK)"

LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
TMP="$(mktemp -d /tmp/triage-bench.XXXXXX)"
chmod 755 "$TMP"  # nginx workers may run as another user
mkdir -p "$OUT_DIR" "$RAW_DIR"
: > "$RAW"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break; sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for f in "$TMP"/*.log; do [ -f "$f" ] && cp "$f" "$RAW_DIR/log-$(basename "$f")"; done
  [ -f "$TMP/nginx/error.log" ] && cp "$TMP/nginx/error.log" "$RAW_DIR/log-nginx-error.log"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# wait_line FILE REGEX PID: prints the first capture group of REGEX once it appears in FILE.
wait_line() {
  local m
  for _ in $(seq 1 150); do
    m="$(sed -nE "s#.*$2.*#\\1#p" "$1" 2>/dev/null | head -1)"
    [ -n "$m" ] && { echo "$m"; return 0; }
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# metric CHAT_URL NAME: the value of an unlabelled series in the /metrics of the Triage instance
# serving CHAT_URL (.../v1/chat/completions); empty when it does not answer or has no such series.
metric() {
  curl -s -m 2 "${1%/v1/chat/completions}/metrics" 2>/dev/null | awk -v n="$2" '$1 == n {print $2}'
}
# SUT CPU ticks: utime+stime of a pid and its direct children (nginx's worker).
cpu_ticks() {
  local t=0 p
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12+$13}')))
  done
  echo $t
}

# --- router decisions: CPU per decision of every shipped router (before any load runs) -------
MICRO_JSON="$OUT_DIR/micro-$STAMP.json"
MICRO_ROWS=""
if [ "$MICRO" = 0 ]; then
  log "micro-benchmarks skipped (MICRO=0)"
elif [ ! -x "$MICRO_BIN" ]; then
  log "micro-benchmarks not built ($MICRO_BIN): cmake -DTRIAGE_BUILD_BENCH=ON, then --target bench_router_score"
elif ! (cd "$ROOT" && taskset -c $SUT_CPU "$MICRO_BIN" --benchmark_format=json \
          --benchmark_out="$MICRO_JSON" --benchmark_out_format=json > "$RAW_DIR/micro-$STAMP.txt" 2>&1); then
  log "micro-benchmarks failed: $(tail -3 "$RAW_DIR/micro-$STAMP.txt")"
else
  # One "name cpu_us label" row per benchmark (the label may have spaces); the slowest is
  # router_us_max.
  MICRO_ROWS="$(python3 -c '
import json, sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
    print(b["name"], "%.2f" % (b["cpu_time"] * scale), b.get("label", ""))
' "$MICRO_JSON")"
  ROUTER_US_MAX="$(awk 'BEGIN{m=""} {if (m == "" || $2+0 > m+0) m=$2} END{print (m == "" ? "NA" : m)}' <<< "$MICRO_ROWS")"
  while read -r name us label; do log "$(printf 'router %-30s %8s us CPU per decision  %s' "$name" "$us" "$label")"; done <<< "$MICRO_ROWS"
fi

# --- start the upstream, nginx and triage ----------------------------------------------------
taskset -c $LOAD_CPU "$UPSTREAM_BIN" --port 0 --threads 1 > "$TMP/upstream.log" 2>&1 &
PID_upstream=$!; PIDS+=("$PID_upstream")
UP_PORT="$(wait_line "$TMP/upstream.log" 'listening on ([0-9]+)' "$PID_upstream")" ||
  die "upstream did not start: $(tail -5 "$TMP/upstream.log")"
log "upstream on :$UP_PORT (pid $PID_upstream)"

NGINX_PORT="$(free_port)"
mkdir -p "$TMP/nginx/tmp"
sed -e "s#@PREFIX@#$TMP/nginx#g" -e "s#@LISTEN_PORT@#$NGINX_PORT#g" -e "s#@UPSTREAM_PORT@#$UP_PORT#g" \
  "$LOAD/nginx.conf" > "$TMP/nginx/nginx.conf"
taskset -c $SUT_CPU nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
  > "$TMP/nginx.log" 2>&1 &
PID_nginx=$!; PIDS+=("$PID_nginx")
wait_port "$NGINX_PORT" || die "nginx did not start: $(tail -5 "$TMP/nginx/error.log" "$TMP/nginx.log")"
log "nginx on :$NGINX_PORT (pid $PID_nginx)"

TARGETS=("direct|http://127.0.0.1:$UP_PORT/v1/chat/completions|" \
         "nginx|http://127.0.0.1:$NGINX_PORT/v1/chat/completions|$PID_nginx")
if [ $HAVE_TRIAGE -eq 1 ]; then
  cat > "$TMP/triage.yaml" <<EOF
server: {host: 127.0.0.1, port: 0, threads: 1, log_level: warn}
store: {type: sqlite, path: $TMP/triage.db}
models:
  - name: gpt-4o-mini
    provider: openai
    endpoint: http://127.0.0.1:$UP_PORT/v1
    api_key_env: BENCH_UPSTREAM_KEY
    upstream_model: gpt-4o-mini
    tier: small
    prices: {input: 0.15, output: 0.6}
  - name: paced
    provider: openai
    endpoint: http://127.0.0.1:$UP_PORT/v1
    api_key_env: BENCH_UPSTREAM_KEY
    upstream_model: "mode:delay-chunks-$PACE_MS"
    tier: small
    prices: {input: 0.15, output: 0.6}
routes:
  - {name: bench, type: model, model: gpt-4o-mini}
EOF
  BENCH_UPSTREAM_KEY=sk-bench taskset -c $SUT_CPU "$TRIAGE_BIN" serve -c "$TMP/triage.yaml" \
    --listen 127.0.0.1:0 > "$TMP/triage.log" 2>&1 &
  PID_triage=$!; PIDS+=("$PID_triage")
  if TRIAGE_URL="$(wait_line "$TMP/triage.log" 'triage: listening on (http://[^ ]+)' "$PID_triage")"; then
    TRIAGE_URL="${TRIAGE_URL%/}"
    log "triage on $TRIAGE_URL (pid $PID_triage)"
    TARGETS+=("triage|$TRIAGE_URL/v1/chat/completions|$PID_triage")
  else
    log "triage did not start: $(tail -5 "$TMP/triage.log")"; HAVE_TRIAGE=0
  fi
  # The same with client API keys on (issue 10): every request presents a key with limits and a
  # budget, so it pays for the key lookup, the reservation and the settle.
  { cat "$TMP/triage.yaml"
    echo "auth:"
    echo "  keys:"
    echo "    - name: bench"
    echo "      sha256: $(printf '%s' sk-bench | sha256sum | cut -d' ' -f1)"
    echo "      requests_per_minute: 1000000000"
    echo "      tokens_per_minute: 1000000000000"
    echo "      usd_per_day: 1000000000"
  } | sed -e "s#$TMP/triage.db#$TMP/triage-keys.db#" > "$TMP/triage-keys.yaml"
  BENCH_UPSTREAM_KEY=sk-bench taskset -c $SUT_CPU "$TRIAGE_BIN" serve -c "$TMP/triage-keys.yaml" \
    --listen 127.0.0.1:0 > "$TMP/triage-keys.log" 2>&1 &
  PID_keys=$!; PIDS+=("$PID_keys")
  if KEYS_URL="$(wait_line "$TMP/triage-keys.log" 'triage: listening on (http://[^ ]+)' "$PID_keys")"; then
    TARGETS+=("triage-keys|${KEYS_URL%/}/v1/chat/completions|$PID_keys")
  else
    log "triage (auth keys) did not start: $(tail -5 "$TMP/triage-keys.log")"
  fi
  # The same with the response cache on the model (issue 13, docs/cache.md): after the first
  # request every one is a hit (wrk sends one body; allow_sampling since it asks temperature
  # 0.2), so its rows are the hit latency and CPU per hit beside the proxied `triage` rows.
  awk '{print} /upstream_model: gpt-4o-mini/ {print "    cache: {ttl_s: 3600, max_entries: 10000, allow_sampling: true}"}' \
    "$TMP/triage.yaml" | sed -e "s#$TMP/triage.db#$TMP/triage-cached.db#" > "$TMP/triage-cached.yaml"
  BENCH_UPSTREAM_KEY=sk-bench taskset -c $SUT_CPU "$TRIAGE_BIN" serve -c "$TMP/triage-cached.yaml" \
    --listen 127.0.0.1:0 > "$TMP/triage-cached.log" 2>&1 &
  PID_cached=$!; PIDS+=("$PID_cached")
  if CACHED_URL="$(wait_line "$TMP/triage-cached.log" 'triage: listening on (http://[^ ]+)' "$PID_cached")"; then
    TARGETS+=("triage-cached|${CACHED_URL%/}/v1/chat/completions|$PID_cached")
  else
    log "triage (response cache) did not start: $(tail -5 "$TMP/triage-cached.log")"
  fi
  # The same with adaptive busy polling off (server.busy_poll_us: 0), to show what it buys.
  sed -e 's/log_level: warn}/log_level: warn, busy_poll_us: 0}/' -e "s#$TMP/triage.db#$TMP/triage-sleep.db#" \
    "$TMP/triage.yaml" > "$TMP/triage-sleep.yaml"
  BENCH_UPSTREAM_KEY=sk-bench taskset -c $SUT_CPU "$TRIAGE_BIN" serve -c "$TMP/triage-sleep.yaml" \
    --listen 127.0.0.1:0 > "$TMP/triage-sleep.log" 2>&1 &
  PID_sleep=$!; PIDS+=("$PID_sleep")
  if SLEEP_URL="$(wait_line "$TMP/triage-sleep.log" 'triage: listening on (http://[^ ]+)' "$PID_sleep")"; then
    TARGETS+=("triage-nopoll|${SLEEP_URL%/}/v1/chat/completions|$PID_sleep")
  else
    log "triage (busy_poll_us: 0) did not start: $(tail -5 "$TMP/triage-sleep.log")"
  fi
  # The routed path: one instance whose routes put a decision in front of the same upstream
  # (measured after the load, below). A strong model for the routes to pick: the same upstream.
  routed_models=1
  for f in models/mmlu_router.bin models/intent.bin; do
    [ -f "$ROOT/$f" ] || { routed_models=0; log "routed path skipped: $ROOT/$f missing (make models)"; }
  done
  if [ "$ROUTED" != 0 ] && [ $routed_models -eq 1 ]; then
    { sed -e '/^routes:/,$d' -e "s#$TMP/triage.db#$TMP/triage-routed.db#" "$TMP/triage.yaml"
      cat <<EOF
  - name: gpt-4o-mini-strong
    provider: openai
    endpoint: http://127.0.0.1:$UP_PORT/v1
    api_key_env: BENCH_UPSTREAM_KEY
    upstream_model: gpt-4o
    tier: large
    prices: {input: 2.5, output: 10}
routes:
  - {name: r-threshold, type: threshold, scorer: $ROOT/models/mmlu_router.bin, weak: gpt-4o-mini,
     strong: gpt-4o-mini-strong, strong_share: 0.5}
  - {name: r-classify, type: classify, classifier: $ROOT/models/intent.bin, default: gpt-4o-mini,
     escalate: gpt-4o-mini-strong}
  - name: r-cascade
    type: cascade
    steps:
      - {route: gpt-4o-mini, checks: [non_empty]}
      - {route: gpt-4o-mini-strong}
EOF
    } > "$TMP/triage-routed.yaml"
    BENCH_UPSTREAM_KEY=sk-bench taskset -c $SUT_CPU "$TRIAGE_BIN" serve -c "$TMP/triage-routed.yaml" \
      --listen 127.0.0.1:0 > "$TMP/triage-routed.log" 2>&1 &
    PID_routed=$!; PIDS+=("$PID_routed")
    ROUTED_URL="$(wait_line "$TMP/triage-routed.log" 'triage: listening on (http://[^ ]+)' "$PID_routed")" ||
      { log "triage (routed) did not start: $(tail -5 "$TMP/triage-routed.log")"; ROUTED_URL=""; }
  fi
fi

# --- smoke: one JSON and one streaming request per target must answer 200 ------------------
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"max_tokens":16}'
SBODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}],"max_tokens":16}'
OK_TARGETS=()
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name url pid <<< "$t"
  ok=1
  for kind in json stream; do
    b="$BODY"; [ $kind = stream ] && b="$SBODY"
    f="$RAW_DIR/smoke-$name-$kind.txt"
    code="$(curl -s -m 5 -o "$f" -w '%{http_code}' "$url" \
            -H 'content-type: application/json' -H 'authorization: Bearer sk-bench' -d "$b")"
    [ "$code" = 200 ] || { ok=0; log "smoke: $name $kind answered HTTP $code: $(head -c 300 "$f")"; }
  done
  [ $ok -eq 1 ] && OK_TARGETS+=("$t")
done

# --- load -----------------------------------------------------------------------------------
declare -A R  # R[target/mode/conc/field]
echo -e "target\tmode\tconc\trps\tp50_us\tp90_us\tp99_us\tmax_us\trequests\tnon2xx\tsockerr\tsut_cpu_us_per_req\tsut_cpu_pct\tupstream_cpu_us_per_req\tp50_overhead_us" > "$TSV"

# settle_store URL: waits (up to 15 s) until the Triage instance behind URL has written every
# queued row, so that a run does not start with the writer still busy with the last run's rows
# (which would charge that run's tail to this one). Not Triage (no /metrics gauge): no wait.
settle_store() {
  local q _
  for _ in $(seq 1 150); do
    q="$(metric "$1" triage_store_queued)"
    [ -z "$q" ] || awk -v q="$q" 'BEGIN{exit !(q + 0 == 0)}' && return 0
    sleep 0.1
  done
  log "the store behind $1 still had $q rows queued after 15 s"
}

run_one() {  # run_one NAME URL PID MODE CONC [SECONDS]
  local name=$1 url=$2 pid=$3 mode=$4 conc=$5 secs=${6:-$DUR} thr=2 stream=0
  [ "$conc" -lt 2 ] && thr=1
  case "$name" in triage* | routed*) settle_store "$url" ;; esac
  [ "$mode" = stream ] && stream=1
  local u0 u1 s0 s1 out line k v
  u0=$(cpu_ticks "$PID_upstream"); s0=0; [ -n "$pid" ] && s0=$(cpu_ticks "$pid")
  out="$(STREAM=$stream taskset -c $LOAD_CPU wrk -t$thr -c"$conc" -d"${secs}"s --latency -s "$LOAD/post.lua" "$url" 2>&1)"
  u1=$(cpu_ticks "$PID_upstream"); s1=0; [ -n "$pid" ] && s1=$(cpu_ticks "$pid")
  { echo "=== target=$name mode=$mode c=$conc"; echo "$out"; } >> "$RAW"
  line="$(grep '^RESULT' <<< "$out")"
  [ -n "$line" ] || { log "no result for $name $mode c=$conc"; return; }
  local key="$name/$mode/$conc"
  for kv in ${line#RESULT }; do k=${kv%%=*}; v=${kv#*=}; R[$key/$k]=$v; done
  local n=${R[$key/requests]}
  R[$key/up_cpu]=$(awk -v d=$((u1-u0)) -v n="$n" -v t="$TCK" 'BEGIN{printf "%.1f", (n>0 ? d*1e6/t/n : 0)}')
  if [ -n "$pid" ]; then
    R[$key/cpu]=$(awk -v d=$((s1-s0)) -v n="$n" -v t="$TCK" 'BEGIN{printf "%.1f", (n>0 ? d*1e6/t/n : 0)}')
    R[$key/cpu_pct]=$(awk -v d=$((s1-s0)) -v t="$TCK" -v s="$secs" 'BEGIN{printf "%.0f", d*100/t/s}')
  else
    R[$key/cpu]=NA; R[$key/cpu_pct]=NA
  fi
  local base=${R[direct/$mode/$conc/p50_us]:-}
  R[$key/over]=NA; [ -n "$base" ] && R[$key/over]=$(( ${R[$key/p50_us]} - base ))
  echo -e "$name\t$mode\t$conc\t${R[$key/rps]}\t${R[$key/p50_us]}\t${R[$key/p90_us]}\t${R[$key/p99_us]}\t${R[$key/max_us]}\t$n\t${R[$key/non2xx]}\t${R[$key/sockerr]}\t${R[$key/cpu]}\t${R[$key/cpu_pct]}\t${R[$key/up_cpu]}\t${R[$key/over]}" >> "$TSV"
  log "$(printf '%-7s %-6s c=%-3s %9s req/s  p50 %6s us  p99 %6s us  cpu %6s us/req  errors %s' \
         "$name" "$mode" "$conc" "${R[$key/rps]}" "${R[$key/p50_us]}" "${R[$key/p99_us]}" "${R[$key/cpu]}" \
         "$(( ${R[$key/non2xx]} + ${R[$key/sockerr]} ))")"
}

for t in "${OK_TARGETS[@]}"; do
  IFS='|' read -r name url pid <<< "$t"
  STREAM=0 taskset -c $LOAD_CPU wrk -t2 -c32 -d"${WARM}"s -s "$LOAD/post.lua" "$url" > /dev/null 2>&1
  for c in $CONCS; do run_one "$name" "$url" "$pid" json "$c"; done
  run_one "$name" "$url" "$pid" stream "$STREAM_CONC"
done

# --- paired rounds (issues 14 and 16): nginx and triage back to back --------------------------
# Rows "<target>@pN" in the TSV. The peak concurrency is Triage's best JSON req/s in the sweep
# below c=512.
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
PAIR_ROUNDS=0; PEAK_CONC=""
url_of() { local t; for t in "${OK_TARGETS[@]}"; do [ "${t%%|*}" = "$1" ] && { echo "$t"; return 0; }; done; return 1; }
if [ "$PAIRS" -gt 0 ] && NGINX_T="$(url_of nginx)" && TRIAGE_T="$(url_of triage)"; then
  best=0
  for c in $CONCS; do
    r=${R[triage/json/$c/rps]:-0}
    [ "$c" != 512 ] && awk -v a="$r" -v b="$best" 'BEGIN{exit !(a > b)}' && { best=$r; PEAK_CONC=$c; }
  done
  IFS='|' read -r _ n_url n_pid <<< "$NGINX_T"
  IFS='|' read -r _ t_url t_pid <<< "$TRIAGE_T"
  for r in $(seq 1 "$PAIRS"); do
    steps=("nginx 8" "triage 8" ${PEAK_CONC:+"triage $PEAK_CONC"} "triage 512" "nginx 512")
    if [ $((r % 2)) -eq 0 ]; then  # every other round in reverse: drift within a round cancels
      rev=(); for ((i = ${#steps[@]} - 1; i >= 0; i--)); do rev+=("${steps[i]}"); done; steps=("${rev[@]}")
    fi
    for st in "${steps[@]}"; do
      read -r who c <<< "$st"
      if [ "$who" = nginx ]; then run_one "nginx@p$r" "$n_url" "$n_pid" json "$c" "$PAIR_DUR"
      else run_one "triage@p$r" "$t_url" "$t_pid" json "$c" "$PAIR_DUR"; fi
    done
    PAIR_ROUNDS=$r
  done
fi
# pair_values TARGET CONC FIELD: that field of every paired round, one per line.
pair_values() { local r; for r in $(seq 1 "$PAIR_ROUNDS"); do echo "${R[$1@p$r/json/$2/$3]:-}"; done | grep -v '^$'; }
# paired_ratio KEY_A KEY_B: the median over the rounds of R[A@pN/..] / R[B@pN/..], where the
# keys are "target/json/conc/field" without the round.
paired_ratio() {
  local r a b
  for r in $(seq 1 "$PAIR_ROUNDS"); do
    a=${1/\//@p$r/}; b=${2/\//@p$r/}
    awk -v a="${R[$a]:-}" -v b="${R[$b]:-}" 'BEGIN{if (a != "" && b > 0) printf "%.4f\n", a / b}'
  done | median | awk '$1 == "NA" {print; next} {printf "%.3f\n", $1}'
}
if [ "$PAIR_ROUNDS" -gt 0 ]; then
  P99_RATIO_C8="$(paired_ratio triage/json/8/p99_us nginx/json/8/p99_us)"
  P99_RATIO_C512="$(paired_ratio triage/json/512/p99_us nginx/json/512/p99_us)"
  [ -n "$PEAK_CONC" ] && C512_SHARE="$(paired_ratio triage/json/512/rps "triage/json/$PEAK_CONC/rps")"
fi

# --- routed path: c=8 JSON through each route kind, MMLU prompts in turn -----------------------
# `plain` sends the same prompts to the model itself, so each route's CPU over it is the
# decision (and, for the cascade, the check) on the request path.
ROUTED_ROWS=()
if [ -n "${ROUTED_URL:-}" ]; then
  python3 - "$ROOT/data/routellm/mmlu.csv" "$ROUTED_PROMPTS" > "$TMP/prompts.txt" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
n = int(sys.argv[2])
for r in rows[:: max(1, len(rows) // n)][:n]:
    print(json.dumps(r["prompt"]))
PY
  url="${ROUTED_URL%/}/v1/chat/completions"
  STREAM=0 PROMPTS="$TMP/prompts.txt" taskset -c $LOAD_CPU wrk -t2 -c8 -d"${WARM}"s -s "$LOAD/post.lua" "$url" > /dev/null 2>&1
  for kind in plain threshold classify cascade; do
    model=gpt-4o-mini; [ $kind != plain ] && model=r-$kind
    f="$RAW_DIR/smoke-routed-$kind.txt"
    code="$(curl -s -m 5 -o "$f" -w '%{http_code}' "$url" -H 'content-type: application/json' \
            -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":$(head -1 "$TMP/prompts.txt")}]}")"
    [ "$code" = 200 ] || { log "smoke: routed $kind answered HTTP $code: $(head -c 300 "$f")"; continue; }
    [ $kind = cascade ] && ! grep -q '"model":"gpt-4o-mini"' "$f" &&
      log "routed cascade: the first step was not accepted ($(head -c 200 "$f")): its row has two calls"
    MODEL=$model PROMPTS="$TMP/prompts.txt" run_one "routed-$kind" "$url" "$PID_routed" json 8
    ROUTED_ROWS+=("routed-$kind")
  done
fi

# --- time to first token, streaming ---------------------------------------------------------
# "instant": the upstream writes the whole stream at once; "paced": it waits PACE_MS between
# chunks (model mode:delay-chunks-N, declared as model "paced" in triage), so a proxy that
# buffered the stream would show up as a first token delayed by several PACE_MS.
declare -A TT
for t in "${OK_TARGETS[@]}"; do
  IFS='|' read -r name url pid <<< "$t"
  for kind in instant paced; do
    model=gpt-4o-mini; n=$TTFB_N
    if [ $kind = paced ]; then
      n=$TTFB_PACED_N; model="mode:delay-chunks-$PACE_MS"; [ "${name#triage}" != "$name" ] && model=paced
    fi
    line="$(taskset -c $LOAD_CPU node "$LOAD/ttfb.mjs" "$url" "$n" "$model" 2>&1 | grep '^TTFB')"
    echo "=== ttfb target=$name kind=$kind: $line" >> "$RAW"
    for kv in ${line#TTFB }; do TT[$name/$kind/${kv%%=*}]=${kv#*=}; done
    log "ttfb $name $kind: $line"
  done
done

# --- rows the store dropped ------------------------------------------------------------------
# Every request is a row; a writer that falls behind on the shared core fills its queue and
# drops rows (counted in triage_store_dropped_total) when a request finds it full: read once the
# load is over.
for t in "${OK_TARGETS[@]}" ${ROUTED_URL:+"routed|${ROUTED_URL%/}/v1/chat/completions|$PID_routed"}; do
  IFS='|' read -r name url pid <<< "$t"
  [ "${name#triage}" != "$name" ] || [ "$name" = routed ] || continue
  d="$(metric "$url" triage_store_dropped_total)"
  [ -n "$d" ] || { log "store drops of $name: /metrics did not say"; continue; }
  log "store drops of $name: $d"
  STORE_DROPPED=$(awk -v a="$STORE_DROPPED" -v b="$d" 'BEGIN{printf "%.0f", (a == "NA" ? 0 : a) + b}')
done

# --- summaries ------------------------------------------------------------------------------
ms() { awk -v x="$1" 'BEGIN{ if (x == "" || x == "NA") print "NA"; else printf "%.3f", x/1000 }'; }
num() { awk -v x="$1" 'BEGIN{ if (x == "" || x == "NA") print "NA"; else printf "%.0f", x }'; }
# ratio A B / pct A B: A over B as "1.23x" / "95%", "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a != "" && b > 0) printf "%.2fx", a / b; else print "-"}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{if (a != "" && b > 0) printf "%.0f%%", 100 * a / b; else print "-"}'; }
best_rps=NA
for c in $CONCS; do
  r=${R[triage/json/$c/rps]:-}
  [ -n "$r" ] && best_rps=$(awk -v a="$best_rps" -v b="$r" 'BEGIN{ if (a == "NA" || b+0 > a+0) printf "%.0f", b; else print a }')
done
triage_cpu=${R[triage/json/8/cpu]:-NA}
nginx_cpu=${R[nginx/json/8/cpu]:-NA}
added=NA
[ -n "${R[triage/json/8/p50_us]:-}" ] && [ -n "${R[direct/json/8/p50_us]:-}" ] &&
  added=$(awk -v a="${R[triage/json/8/p50_us]}" -v b="${R[direct/json/8/p50_us]}" 'BEGIN{printf "%.3f", (a-b)/1000}')

# p99_ms TARGET CONC: the median of the paired rounds, or the sweep's figure without them.
p99_ms() {
  if [ "$PAIR_ROUNDS" -gt 0 ]; then ms "$(pair_values "$1" "$2" p99_us | median)"
  else ms "${R[$1/json/$2/p99_us]:-NA}"; fi
}
# Every Triage c=512 run's timeouts, the sweep's and the paired rounds'.
timeouts_c512="$( { echo "${R[triage/json/512/timeouts]:-}"; pair_values triage 512 timeouts; } |
  awk 'NF {n++; s += $1} END {print (n ? s : "NA")}')"
SUMMARY=("$triage_cpu" "$nginx_cpu" "$best_rps" "$added" "$(p99_ms triage 8)" "$(p99_ms nginx 8)"
         "$(p99_ms triage 512)" "$(p99_ms nginx 512)" "$timeouts_c512")
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$(dirname "$TRIAGE_BIN")")/CMakeCache.txt" 2>/dev/null)"
{
  echo "# Load benchmark: latest run"
  echo
  echo "Generated by \`scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); raw rows: \`$(basename "$TSV")\`."
  echo
  echo "- Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
  echo "- Load average (1/5/15 min) before the run: $LOADAVG_START, after: $(cut -d' ' -f1-3 /proc/loadavg) (anything above ~0.5 means other work shared the cores)"
  echo "- Layout: SUT pinned to CPU $SUT_CPU; wrk, test upstream and TTFB client on CPU $LOAD_CPU; loopback"
  echo "- Tools: $(wrk -v 2>&1 | head -1 | awk '{print "wrk", $2}'), $(nginx -v 2>&1 | sed 's/.*version: //'), node $(node --version)"
  echo "- Triage: \`$TRIAGE_BIN\` from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree), build type ${build_type:-?}, threads: 1, store sqlite${BENCH_NOTE:+; $BENCH_NOTE}"
  echo "- Load: wrk -t1 -c1 / -t2 -cN for N in: $CONCS, JSON, and -t2 -c$STREAM_CONC streaming, ${DUR} s per run after a ${WARM} s warm-up per target; body \`bench/load/post.lua\`"
  echo
  echo "| target | mode | conc | req/s | p50 ms | p90 ms | p99 ms | p50 overhead vs direct, ms | SUT CPU us/req | SUT CPU % | upstream CPU us/req | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for t in "${OK_TARGETS[@]}"; do
    name=${t%%|*}
    for mc in $(for c in $CONCS; do echo "json/$c"; done) "stream/$STREAM_CONC"; do
      k="$name/$mc"
      [ -n "${R[$k/rps]:-}" ] || continue
      echo "| $name | ${mc%/*} | ${mc#*/} | $(num "${R[$k/rps]}") | $(ms "${R[$k/p50_us]}") | $(ms "${R[$k/p90_us]}") | $(ms "${R[$k/p99_us]}") | $( [ "$name" = direct ] && echo - || ms "${R[$k/over]}") | ${R[$k/cpu]/NA/-} | ${R[$k/cpu_pct]/NA/-} | ${R[$k/up_cpu]} | $(( ${R[$k/non2xx]} + ${R[$k/sockerr]} )) |"
    done
  done
  echo
  echo "Time to first content token, streaming, sequential requests over one keep-alive connection (\`bench/load/ttfb.mjs\`; $TTFB_N instant streams, $TTFB_PACED_N paced with ${PACE_MS} ms between upstream chunks):"
  echo
  echo "| target | upstream stream | first token p50 ms | p90 ms | p99 ms | added p50 vs direct, ms | stream done p50 ms | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for kind in instant paced; do
    for t in "${OK_TARGETS[@]}"; do
      name=${t%%|*}; k="$name/$kind"
      [ -n "${TT[$k/first_p50_us]:-}" ] || continue
      added_tt=-
      [ "$name" != direct ] && [ -n "${TT[direct/$kind/first_p50_us]:-}" ] &&
        added_tt=$(awk -v a="${TT[$k/first_p50_us]}" -v b="${TT[direct/$kind/first_p50_us]}" 'BEGIN{printf "%+.3f", (a-b)/1000}')
      echo "| $name | $kind | $(ms "${TT[$k/first_p50_us]}") | $(ms "${TT[$k/first_p90_us]}") | $(ms "${TT[$k/first_p99_us]}") | $added_tt | $(ms "${TT[$k/done_p50_us]}") | ${TT[$k/errors]} |"
    done
  done
  echo
  if [ ${#ROUTED_ROWS[@]} -gt 0 ]; then
    echo "Routed path (c=8 JSON, ${DUR} s per run, $ROUTED_PROMPTS MMLU prompts in turn as the only message; one Triage instance: \`threshold\` = models/mmlu_router.bin (gain), \`classify\` = models/intent.bin, \`cascade\` = 2 steps, the first accepted by \`non_empty\`; \`plain\` = the same prompts to the model itself; nginx and triage = the small body above):"
    echo
    echo "| request | p50 ms | p99 ms | added p50 vs direct, ms | SUT CPU us/req | CPU us/req over plain |"
    echo "|---|---:|---:|---:|---:|---:|"
    plain_cpu=${R[routed-plain/json/8/cpu]:-NA}
    for name in nginx triage "${ROUTED_ROWS[@]}"; do
      k="$name/json/8"
      [ -n "${R[$k/rps]:-}" ] || continue
      over=-
      [ "${name#routed-}" != "$name" ] && [ "$name" != routed-plain ] && [ "$plain_cpu" != NA ] &&
        over=$(awk -v a="${R[$k/cpu]}" -v b="$plain_cpu" 'BEGIN{printf "%+.1f", a-b}')
      echo "| ${name#routed-} | $(ms "${R[$k/p50_us]}") | $(ms "${R[$k/p99_us]}") | $(ms "${R[$k/over]}") | ${R[$k/cpu]} | $over |"
    done
    echo
  fi
  if [ -n "$MICRO_ROWS" ]; then
    echo "Router decisions (\`bench/micro/bench_router_score\` on CPU $SUT_CPU before the load; CPU µs per decision; raw: \`$(basename "$MICRO_JSON")\`):"
    echo
    echo "| benchmark | label | CPU µs |"
    echo "|---|---|---:|"
    while read -r name us label; do echo "| $name | $label | $us |"; done <<< "$MICRO_ROWS"
    echo
  fi
  if [ "$PAIR_ROUNDS" -gt 0 ]; then
    echo "Paired rounds ($PAIR_ROUNDS, ${PAIR_DUR} s per run, back to back, every other round reversed; Triage's peak concurrency from the sweep: c=${PEAK_CONC:-NA}); the summary's p99s and p99_ratio_*, c512_share_of_peak are the medians:"
    echo
    echo "| round | p99 c=8 ms: triage / nginx | ratio | req/s triage c=${PEAK_CONC:-NA} / c=512 | share | p99 c=512 ms: triage / nginx | ratio | timeouts c=512 |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in $(seq 1 "$PAIR_ROUNDS"); do
      t8=${R[triage@p$r/json/8/p99_us]:-}; n8=${R[nginx@p$r/json/8/p99_us]:-}
      t5=${R[triage@p$r/json/512/p99_us]:-}; n5=${R[nginx@p$r/json/512/p99_us]:-}
      tp=${R[triage@p$r/json/${PEAK_CONC:-x}/rps]:-}; t5r=${R[triage@p$r/json/512/rps]:-}
      echo "| $r | $(ms "${t8:-NA}") / $(ms "${n8:-NA}") | $(ratio "$t8" "$n8") | $(num "${tp:-NA}") / $(num "${t5r:-NA}") | $(pct "$t5r" "$tp") | $(ms "${t5:-NA}") / $(ms "${n5:-NA}") | $(ratio "$t5" "$n5") | ${R[triage@p$r/json/512/timeouts]:--} |"
    done
    echo
  fi
  echo "Summary (CPU per request at c=8 JSON; best JSON req/s on one core; added p50 at c=8 JSON; p99 at c=8 and c=512, medians of the paired rounds; wrk timeouts of Triage at c=512, every run; Triage's p99 over nginx's and c=512 req/s over the peak's, medians of the paired rounds' ratios; slowest router decision, CPU µs; rows the stores dropped):"
  echo
  echo '```'
  final_line "${SUMMARY[@]}"
  echo '```'
} > "$MD"
log "wrote $TSV and $MD"
final_line "${SUMMARY[@]}"
