#!/usr/bin/env bash
# The main job on the embedded default: start `triage serve` with examples/quickstart.yaml,
# send a routed three-tier workload through its HTTP API (CLINC150 support queries to the
# `support` classify route, GSM8K problems to the `math` cascade), stop it gracefully
# (flushing the request store), and print the report computed from the store, with CPI and
# quality against the counterfactual "everything on gpt-4-turbo".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
TRIAGE="$BUILD/bin/triage"
STORE="$BUILD/demo/triage.db"
SUPPORT="${SUPPORT:-300}"
MATH="${MATH:-200}"
mkdir -p "$BUILD/demo"
rm -f "$STORE" "$STORE-wal" "$STORE-shm"

"$TRIAGE" serve -c examples/quickstart.yaml --listen 127.0.0.1:0 --store "$STORE" \
  > "$BUILD/demo/serve.out" 2> "$BUILD/demo/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  grep -q 'listening on' "$BUILD/demo/serve.out" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$BUILD/demo/serve.log" >&2; exit 1; }
  sleep 0.05
done
url=$(sed -n 's/^triage: listening on //p' "$BUILD/demo/serve.out")
echo "== triage serving examples/quickstart.yaml at $url"
echo "== sending up to ${SUPPORT} CLINC150 support queries to route 'support' (classify: small tier"
echo "   answers when confident, else escalates to the medium tier) and up to ${MATH} held-out GSM8K"
# The math route's scorer threshold as configured, so this line cannot drift.
threshold=$(sed -n '/^  - name: math$/,/^  - name:/p' examples/quickstart.yaml |
            sed -nE 's/^ *threshold: *([0-9.]+).*/\1/p' | head -1)
echo "   problems to route 'math' (cascade mixtral-8x7b -> gpt-4-turbo with checks and a verifier; scorer"
echo "   threshold ${threshold}, chosen by 5-fold cross-validation over all 947 GSM8K problems with a"
echo "   cross-fitted scorer: the cheapest threshold within 1 pt of gpt-4-turbo. Nested CV: 0.9 pts below"
echo "   gpt-4-turbo at 78% of its cost; the issue's target, >= 50% cheaper at <= 1 pt lower, is not"
echo "   reached: docs/evaluation.md)"
python3 scripts/demo_client.py --url "$url" --support "$SUPPORT" --math "$MATH"
kill -TERM $pid
wait $pid
trap - EXIT
echo
echo "== report from the request store ($STORE)"
"$TRIAGE" report --store "$STORE" -c examples/quickstart.yaml
echo
echo "RECORDED: the prompts (CLINC150 validation queries; RouteLLM's GSM8K problems), the medium and"
echo "large answers to GSM8K and their grades (real Mixtral-8x7B / GPT-4 Turbo outputs, RouteLLM's data)."
echo "REAL: the small tier (fastText in-process) and the gateway's routing, checks and scorer."
echo "SIMULATED: medium/large latency (replay latency model in examples/quickstart.yaml); the medium"
echo "tier's answers to escalated support queries (synthesized placeholders: no recorded answer exists;"
echo "never graded). Costs are list prices x estimated token counts (the recordings carry no usage)."
