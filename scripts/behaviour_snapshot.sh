#!/usr/bin/env bash
# Behaviour snapshot for refactors: every shipped eval config's routes evaluated on the shipped
# data (`triage eval --format json`, with and without --sweep) and every shipped model retrained
# into a scratch folder (`triage train ...`: model bytes, metadata and printed report). Two
# snapshots of the same data must be byte-identical when a change claims "behaviour unchanged":
#
#   scripts/behaviour_snapshot.sh /tmp/before            # on the old tree
#   scripts/behaviour_snapshot.sh /tmp/after             # on the new tree
#   diff -r /tmp/before /tmp/after && echo identical
#
# Wall-clock fields ("seconds", "routing_us_mean", "routing_us", "train_seconds", "created_unix_ms", "(12.3 s)")
# are the only thing removed before writing.
# Usage: scripts/behaviour_snapshot.sh OUT_DIR   (BUILD=build by default; models/ trained)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: behaviour_snapshot.sh OUT_DIR}"
TRIAGE="${BUILD:-build}/bin/triage"
mkdir -p "$out/eval" "$out/train"

# Removes wall-clock measurements; everything else is compared as is.
scrub() { sed -E -e 's/"(seconds|routing_us_mean|routing_us|train_seconds|created_unix_ms)":[0-9.eE+-]+/"\1":0/g' \
                 -e 's/\([0-9.]+ s\)/(T s)/g' -e 's/in [0-9.]+ s/in T s/g' -e 's/, [0-9.]+ s$/, T s/'; }

run_eval() {  # tag config route dataset [extra args]
  local tag="$1" cfg="$2" route="$3" ds="$4"; shift 4
  "$TRIAGE" eval -c "$cfg" --route "$route" --dataset "$ds" --format json "$@" \
    2> "$out/eval/$tag.err" | scrub > "$out/eval/$tag.json" || echo "exit $?" >> "$out/eval/$tag.err"
}

run_eval mmlu_default examples/eval/mmlu.yaml default data/routellm/mmlu.csv --sweep
run_eval mmlu_default_point examples/eval/mmlu.yaml default data/routellm/mmlu.csv
for r in default router no_arithmetic no_final_answer scorer_only rules_only; do
  run_eval "gsm8k_$r" examples/eval/gsm8k.yaml "$r" data/routellm/gsm8k.csv --sweep
done
run_eval gsm8k_default_point examples/eval/gsm8k.yaml default data/routellm/gsm8k.csv
for ds in arc_challenge winogrande; do
  for r in default agree_arc agree_winogrande predict arc winogrande frontier; do
    run_eval "rb_${ds}_$r" examples/eval/routerbench.yaml "$r" "data/routerbench/$ds.csv" --sweep
  done
done
run_eval clinc_default examples/eval/clinc150.yaml default data/clinc150/val.jsonl

tmp="$out/train/models"
mkdir -p "$tmp"
train() {  # tag args...
  local tag="$1"; shift
  "$TRIAGE" train "$@" 2>&1 | scrub > "$out/train/$tag.txt" || echo "exit $?" >> "$out/train/$tag.txt"
}
train intent intent --train data/clinc150/train.jsonl --val data/clinc150/val.jsonl --out "$tmp/intent.bin"
train mmlu_router router --dataset data/routellm/mmlu.csv --out "$tmp/mmlu_router.bin"
train gsm8k_router router --dataset data/routellm/gsm8k.csv --out "$tmp/gsm8k_router.bin"
train gsm8k_scorer cascade-scorer --dataset data/routellm/gsm8k.csv --response-column weak_response \
  --label-column weak_correct --out "$tmp/gsm8k_scorer.bin"
train arc_router multi-router --dataset data/routerbench/arc_challenge.csv --out "$tmp/arc_router.bin"
train winogrande_router multi-router --dataset data/routerbench/winogrande.csv --out "$tmp/winogrande_router.bin"
train routerbench_router multi-router --dataset data/routerbench/arc_challenge.csv \
  --dataset data/routerbench/winogrande.csv --dataset data/routerbench/mbpp.csv \
  --out "$tmp/routerbench_router.bin"
# Model bytes by digest (the files are large); metadata as text with the output path made neutral.
(cd "$tmp" && sha256sum -- *.bin > ../model_digests.txt)
for f in "$tmp"/*.json; do sed -e "s#$tmp/##g" "$f" | scrub > "$out/train/$(basename "$f")"; done
sed -i -e "s#$tmp/##g" "$out"/train/*.txt
rm -rf "$tmp"
echo "snapshot written to $out"
