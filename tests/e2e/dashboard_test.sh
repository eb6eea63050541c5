#!/bin/sh
# CTest's e2e_dashboard (tests/e2e/CMakeLists.txt): runs the browser test when it can. When it
# cannot (CMake found no Chromium, node or sqlite3 shell, or there is no Chromium at
# $TRIAGE_CHROMIUM now) it says why on stderr and exits 77, which CTest reports as Skipped; with
# TRIAGE_REQUIRE_BROWSER=1 (CI, .ci/run) it fails instead, so CI never passes without the
# browser test having run.
#   dashboard_test.sh skip WHY            cannot run: say why, skip (or fail in CI)
#   dashboard_test.sh run NODE ARGS...    run NODE ARGS... when Chromium is there
mode="$1"
shift
why=""
if [ "$mode" = skip ]; then
  why="$1"
elif [ ! -x "${TRIAGE_CHROMIUM:-/usr/bin/chromium}" ]; then
  why="no Chromium at ${TRIAGE_CHROMIUM:-/usr/bin/chromium}"
fi
if [ -n "$why" ]; then
  echo "*** e2e_dashboard SKIPPED: $why (install it: scripts/setup.sh) ***" >&2
  if [ "$TRIAGE_REQUIRE_BROWSER" = 1 ]; then
    echo "*** TRIAGE_REQUIRE_BROWSER=1: the browser test must run here; failing ***" >&2
    exit 1
  fi
  exit 77
fi
exec "$@"
