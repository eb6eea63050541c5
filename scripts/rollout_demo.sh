#!/usr/bin/env bash
# `make rollout-demo` (docs/rollout.md): two progressive rollouts on one real gateway against
# the test upstream, driven by replayed traffic (CLINC150 validation queries):
#   chat-good: a new small model (shadowed beside the incumbent, so every answer it gives is
#              compared) goes 5% -> 25% -> 50% -> 100% while its gates hold, and is promoted;
#   chat-bad:  a small model that fails 30% of its calls is rolled back by itself at the
#              step where its success gate failed.
# Prints the timeline of events and ends with `rollout: good=promoted bad=rolled_back` when
# both went as they should (exit 1 otherwise). HOLD_S, MIN_REQUESTS, STEPS and TIMEOUT_S make
# it smaller (the ctest runs it in a tiny setting).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
TRIAGE="$BUILD/bin/triage"
UPSTREAM="$BUILD/bin/triage-test-upstream"
HOLD_S="${HOLD_S:-3}"
MIN_REQUESTS="${MIN_REQUESTS:-20}"
STEPS="${STEPS:-[5, 25, 50, 100]}"
TIMEOUT_S="${TIMEOUT_S:-110}"
OUT="${OUT:-$BUILD/rollout-demo}"
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)  # the config names files by absolute path

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Waits for "<prefix>..." on the first line of a process's stdout file; prints the rest.
wait_line() {
  local file=$1 prefix=$2 pid=$3
  for _ in $(seq 1 400); do
    if grep -q "^$prefix" "$file" 2>/dev/null; then sed -n "s/^$prefix//p" "$file"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$OUT"/*.log >&2; return 1; }
    sleep 0.05
  done
  return 1
}

"$UPSTREAM" --port 0 --threads 2 > "$OUT/upstream.out" 2> "$OUT/upstream.log" &
pids+=($!)
up_port=$(wait_line "$OUT/upstream.out" "listening on " "${pids[-1]}")
ep="http://127.0.0.1:$up_port/v1"

cat > "$OUT/triage.yaml" <<YAML
# The incumbent (large, slow-30) and two new small models. Prices per 1M tokens.
server: {host: 127.0.0.1, port: 0, threads: 2}
store: {type: sqlite, path: $OUT/triage.db, flush_interval_ms: 50}
tiers: [small, large]
models:
  - {name: incumbent, provider: openai, endpoint: "$ep", upstream_model: "mode:slow-30", tier: large, prices: {input: 10, output: 30}}
  - {name: small-good, provider: openai, endpoint: "$ep", upstream_model: "mode:slow-15", tier: small, prices: {input: 0.5, output: 1.5}}
  - {name: small-bad, provider: openai, endpoint: "$ep", upstream_model: "mode:slow-15,fail-pct-30", tier: small, retries: {max: 0}, prices: {input: 0.5, output: 1.5}}
routes:
  # The new model answers; the incumbent runs beside it and each answer is compared.
  - {name: small-good-shadowed, type: shadow, primary: small-good, candidates: [incumbent], sample: 1}
  - name: chat-good
    type: split
    children: [{route: incumbent, weight: 100}, {route: small-good-shadowed, weight: 0}]
    rollout:
      candidate: small-good-shadowed
      steps: $STEPS
      hold_s: $HOLD_S
      min_requests: $MIN_REQUESTS
      evaluate_every_ms: 200
      gates: {max_success_drop: 0.05, max_p95_ratio: 3, max_cost_ratio: 1.0, min_agreement: 0.9}
  - name: chat-bad
    type: split
    children: [{route: incumbent, weight: 100}, {route: small-bad, weight: 0}]
    rollout:
      candidate: small-bad
      steps: $STEPS
      hold_s: $HOLD_S
      min_requests: $MIN_REQUESTS
      evaluate_every_ms: 200
      gates: {max_success_drop: 0.05, max_p95_ratio: 3, max_cost_ratio: 1.0}
auth:
  admin_token_env: TRIAGE_ADMIN_TOKEN
  keys:
    - {name: demo-client, secret_env: DEMO_CLIENT_KEY}
YAML

export TRIAGE_ADMIN_TOKEN="rollout-demo-admin-token"
export DEMO_CLIENT_KEY="rollout-demo-client-key"
"$TRIAGE" serve -c "$OUT/triage.yaml" > "$OUT/serve.out" 2> "$OUT/serve.log" &
pids+=($!)
gw_pid=${pids[-1]}
url=$(wait_line "$OUT/serve.out" "triage: listening on " "$gw_pid")
echo "== triage serving $OUT/triage.yaml at $url (upstream: triage-test-upstream on $up_port)"
echo "== rollouts: steps $STEPS, hold ${HOLD_S} s, min_requests $MIN_REQUESTS per step"
status=0
python3 scripts/rollout_demo.py --url "$url" --token "$TRIAGE_ADMIN_TOKEN" --key "$DEMO_CLIENT_KEY" \
  --prompts data/clinc150/val.jsonl --timeout "$TIMEOUT_S" || status=$?
kill -TERM "$gw_pid"
wait "$gw_pid" || true
exit $status
