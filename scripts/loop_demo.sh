#!/usr/bin/env bash
# `make loop-demo`: labels -> retrain -> shadow -> promote on replayed recorded MMLU traffic
# through a real gateway and the real test upstream (docs/loop.md). Options are passed to
# scripts/loop_demo.py (--days, --per-day, --initial, --strong-share, --check 0, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
exec python3 scripts/loop_demo.py --build "$BUILD" "$@"
