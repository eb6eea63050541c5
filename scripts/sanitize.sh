#!/usr/bin/env bash
# Sanitizer runs (docs/robustness.md), each in its own build dir with g++:
#   scripts/sanitize.sh address   ASan+UBSan: every unit and integration test (build-asan)
#   scripts/sanitize.sh thread    TSan: the concurrency-heavy tests (build-tsan): the server,
#                                 the store writer, cancellation, the OTLP exporter, shadow
#                                 routes, control, and the gateway integration tests
# Every process (the test binaries and the gateway/upstream processes they start) writes its
# sanitizer reports to <build>/sanitizer-logs/; the run fails when a test fails or any report
# was written. Suppressions (dependencies only, each with its reason): fuzz/sanitizers/*.supp.
# Env: JOBS (default nproc); for a partial run, SANITIZE_TARGETS (build targets, space-separated;
# with address, the unit test binaries among them are then run directly, SANITIZE_TESTS being a
# gtest filter; otherwise SANITIZE_TESTS is a ctest -R regex; with thread, the runs of the
# binaries among them).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:?usage: scripts/sanitize.sh address|thread}"
jobs="${JOBS:-$(nproc)}"
root="$PWD"
case "$kind" in
  address)
    build="${SANITIZE_BUILD:-build-asan}"
    # Every unit and integration test; the e2e tests (node) and the CLI eval contract (which
    # replays whole datasets) are covered by the plain build.
    targets=(all)
    regex="${SANITIZE_TESTS:-}"
    exclude='^(e2e_|cli_eval_contract)'
    ;;
  thread)
    build="${SANITIZE_BUILD:-build-tsan}"
    targets=(unit_net unit_telemetry unit_routes unit_control integration_gateway triage
             triage-test-upstream)
    # binary:gtest filter. The server (timeouts, client-gone watch, busy polling, upstream
    # client), the store writer and the OTLP exporter (telemetry), shadow routes and the
    # concurrency gate (routes), control (limits, breaker, balancer), and the gateway end to
    # end: cancellation on disconnect, streaming, OTLP export, shutdown.
    runs=("tests/unit_net:*" "tests/unit_telemetry:*" "tests/unit_control:*"
          "tests/unit_routes:*Shadow*:*Concurren*:*Gate*:*Cancel*:*ModelRuntime*"
          "tests/integration/integration_gateway:*Cancel*:*Otel*:*Stream*:*Shutdown*:*Drain*:*Concurren*")
    ;;
  *) echo "sanitize.sh: unknown kind '$kind' (address|thread)" >&2; exit 2 ;;
esac

if [ ! -f "$build/CMakeCache.txt" ]; then
  launcher=""
  command -v ccache >/dev/null && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  # -O1: a third of -O3's compile time, and sanitizer stacks stay readable.
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
    -DTRIAGE_SANITIZE="$kind" $launcher >/dev/null
fi
start=$(date +%s)
[ -n "${SANITIZE_TARGETS:-}" ] && read -r -a targets <<<"$SANITIZE_TARGETS"
for t in "${targets[@]}"; do cmake --build "$build" -j"$jobs" --target "$t"; done
built=$(date +%s)

logs="$root/$build/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
supp="$root/fuzz/sanitizers"
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="log_path=$logs/tsan:halt_on_error=0:second_deadlock_stack=1:suppressions=$supp/tsan.supp"

set +e
if [ "$kind" = address ] && [ -n "${SANITIZE_TARGETS:-}" ]; then
  # A partial build: ctest would also list the tests of binaries not built (as failures), so
  # the test binaries built are run directly (the targets that are not test binaries, such as
  # triage, are skipped here).
  rc=0
  for t in "${targets[@]}"; do
    bin="$build/tests/$t"
    [ -x "$bin" ] || continue
    echo "asan: $bin${regex:+ --gtest_filter=$regex}"
    (cd "$(dirname "$bin")" && timeout 1200 "./$t" --gtest_brief=1 ${regex:+--gtest_filter="$regex"}) ||
      rc=1
  done
elif [ "$kind" = address ]; then
  (cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 600 ${regex:+-R "$regex"} -E "$exclude")
  rc=$?
else
  rc=0
  for r in "${runs[@]}"; do
    bin="$build/${r%%:*}"
    filter="${r#*:}"
    # A partial build (SANITIZE_TARGETS) runs the binaries it built.
    if [ -n "${SANITIZE_TARGETS:-}" ] && [[ " ${targets[*]} " != *" $(basename "$bin") "* ]]; then
      continue
    fi
    echo "tsan: $bin --gtest_filter=$filter"
    (cd "$(dirname "$bin")" && timeout 1200 "./$(basename "$bin")" --gtest_brief=1 --gtest_filter="$filter") ||
      rc=1
  done
fi
set -e
done_at=$(date +%s)
reports=$(find "$logs" -type f | wc -l)
if [ "$reports" -gt 0 ]; then
  echo "sanitize $kind: $reports sanitizer report(s):"
  for f in "$logs"/*; do echo "==== $f"; head -60 "$f"; done
fi
echo "sanitize $kind: build $((built - start)) s, tests $((done_at - built)) s, ctest exit $rc, reports $reports"
[ "$rc" -eq 0 ] && [ "$reports" -eq 0 ]
