#!/usr/bin/env bash
# The main job on the embedded default: start `triage serve` with examples/quickstart.yaml,
# send a few hundred real prompts through its HTTP API, stop it gracefully (flushing the
# request store), and print the report computed from the store.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
TRIAGE="$BUILD/bin/triage"
STORE="$BUILD/demo/triage.db"
PER_MODEL="${PER_MODEL:-100}"
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
echo "== sending ${PER_MODEL} CLINC150 support queries to route 'support' (small tier, in-process),"
echo "   ${PER_MODEL} GSM8K problems to mixtral-8x7b (medium) and ${PER_MODEL} to gpt-4-turbo (large)"
python3 scripts/demo_client.py --url "$url" --per-model "$PER_MODEL"
kill -TERM $pid
wait $pid
trap - EXIT
echo
echo "== report from the request store ($STORE)"
"$TRIAGE" report --store "$STORE"
echo "Recorded: prompts and the medium/large answers (real model outputs from RouteLLM's GSM8K data)."
echo "Simulated: medium/large latency (replay latency model in examples/quickstart.yaml); the small"
echo "tier really runs (fastText in-process). Costs are list prices x token counts (estimated: the"
echo "recordings carry no usage)."
