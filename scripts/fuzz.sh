#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang-14, ASan+UBSan) in build-fuzz and runs each for a
# bounded time. Fails on any crash, leak, sanitizer report, FUZZ_CHECK violation or timeout; the
# input that did it is saved under build-fuzz/fuzz-artifacts/<target>/ (copy it to
# fuzz/regressions/<target>/ so `make test` replays it for ever: docs/robustness.md).
#
# Env: FUZZ_SECONDS (per target, default 60), FUZZ_TARGETS (space-separated, default all),
#      FUZZ_BUILD (default build-fuzz), JOBS (build parallelism, default nproc).
# Prints one line per target: executions, exec/s, cov (edges) and ft (features) reached, and the
# corpus size; then a summary line "fuzz: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
build="${FUZZ_BUILD:-build-fuzz}"
jobs="${JOBS:-$(nproc)}"
all_targets=$(sed -n 's/^set(fuzz_targets \(.*\))$/\1/p' fuzz/CMakeLists.txt)
targets="${FUZZ_TARGETS:-$all_targets}"

if [ ! -f "$build/CMakeCache.txt" ]; then
  launcher=""
  command -v ccache >/dev/null && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
    -DTRIAGE_SANITIZE=fuzz -DBUILD_TESTING=OFF $launcher >/dev/null
fi
cmake --build "$build" -j"$jobs" --target fuzz_all

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
passed=0
failed=0
for t in $targets; do
  work="$build/fuzz-corpus/$t"      # grows across runs; the seeds in fuzz/corpus stay as they are
  artifacts="$build/fuzz-artifacts/$t/"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  inputs=("$work" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && inputs+=("fuzz/regressions/$t")
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
  set +e
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" \
    "${inputs[@]}" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(find "$work" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $t: ok  runs=${runs:-?} exec/s=${speed:-?} cov=${cov:-?} ft=${ft:-?} corpus=$corpus (${seconds}s)"
  else
    failed=$((failed + 1))
    echo "fuzz $t: FAILED (exit $rc) runs=${runs:-?} cov=${cov:-?}; log: $log; input: $(ls "$artifacts" | head -1)"
    grep -m3 -E 'ERROR: |runtime error|fuzz invariant failed|uncaught exception' "$log" | sed 's/^/    /' || true
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
