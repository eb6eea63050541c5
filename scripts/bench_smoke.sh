#!/usr/bin/env bash
# `make bench-smoke`: scripts/bench.sh at the smallest settings (1 s runs, c=8 and c=512, one
# paired round, no micro-benchmarks or routed path), then a check of what it wrote: the last
# line has every field, each a number where this run measures it (router_us_max is NA: MICRO=0),
# the TSV has the paired rounds' rows and latest.md their table. It checks the bench's plumbing,
# not performance: no figure is compared with a target. About a minute on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mktemp -d /tmp/triage-bench-smoke.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
MICRO=0 ROUTED=0 CONCS="8 512" DUR=1 WARM=1 PAIRS=1 PAIR_DUR=1 TTFB_N=5 TTFB_PACED_N=2 \
  OUT_DIR="$OUT" "$ROOT/scripts/bench.sh" > "$OUT/out.txt" 2> "$OUT/err.txt" ||
  { tail -20 "$OUT/err.txt"; echo "bench-smoke: bench.sh failed" >&2; exit 1; }
python3 - "$OUT" <<'PY'
import glob, re, sys
out = sys.argv[1]
lines = open(f"{out}/out.txt").read().strip().splitlines()
errors = []
last = lines[-1] if lines else ""
fields = dict(kv.split("=", 1) for kv in last.split()[1:] if "=" in kv)
numeric = ["triage_cpu_us_per_req", "nginx_cpu_us_per_req", "triage_rps_one_core",
           "added_p50_ms_c8", "triage_p99_ms_c8", "nginx_p99_ms_c8", "triage_p99_ms_c512",
           "nginx_p99_ms_c512", "timeouts_c512", "p99_ratio_c8", "p99_ratio_c512",
           "c512_share_of_peak", "store_dropped"]
if not last.startswith("bench: "):
    errors.append(f"last line is not the summary: {last!r}")
for name in numeric:
    v = fields.get(name)
    if v is None or not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", v):
        errors.append(f"{name}={v} (want a number)")
if fields.get("router_us_max") != "NA":
    errors.append(f"router_us_max={fields.get('router_us_max')} (MICRO=0: want NA)")
for name in ("timeouts_c512", "store_dropped"):
    if not fields.get(name, "").isdigit():
        errors.append(f"{name}={fields.get(name)} (want a count)")
tsv = glob.glob(f"{out}/load-*.tsv")
rows = open(tsv[0]).read() if tsv else ""
for row in ("nginx@p1\tjson\t8\t", "triage@p1\tjson\t8\t", "triage@p1\tjson\t512\t",
            "nginx@p1\tjson\t512\t"):
    if row not in rows:
        errors.append(f"no TSV row {row.strip()!r}")
if "Paired rounds (1," not in open(f"{out}/latest.md").read():
    errors.append("latest.md has no paired-rounds table")
if errors:
    print("bench-smoke: " + "; ".join(errors), file=sys.stderr)
    sys.exit(1)
print("bench-smoke: ok: " + last)
PY
