#!/usr/bin/env bash
# Installs every Debian package Triage needs to build, test and demo. Idempotent: packages that
# are already installed are skipped, and apt is not touched at all when nothing is missing.
# Usage: scripts/setup.sh [build|test|bench|fuzz]   (default: test)
set -euo pipefail
profile="${1:-test}"

build_pkgs=(build-essential cmake pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev
  libyaml-cpp-dev libsqlite3-dev libfasttext-dev libre2-dev libmimalloc-dev librsvg2-dev
  prometheus-cpp-dev libcsv-dev libspdlog-dev libfmt-dev libcli11-dev libhiredis-dev
  libgtest-dev libgmock-dev python3 openssl sqlite3 curl libpq-dev)
# Throwaway servers for the shared-store and shared-limit tests: PostgreSQL
# (tests/pg/pg_server.h) and Redis (tests/support/redis_server.h); nginx is the load balancer
# of `make scale-test` (scripts/scale_test.py) and the floor of `make bench`.
test_pkgs=(chromium postgresql redis-server nginx)
# wrk drives `make bench` and `make scale-capacity`.
bench_pkgs=(wrk libbenchmark-dev)
# libFuzzer comes with clang's runtime libraries (make fuzz; the project itself builds with g++).
fuzz_pkgs=(clang-14 libclang-rt-14-dev)

pkgs=("${build_pkgs[@]}")
case "$profile" in
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  fuzz) pkgs+=("${fuzz_pkgs[@]}") ;;
  build) ;;
  *) echo "setup.sh: unknown profile '$profile' (build|test|bench|fuzz)" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm may come from elsewhere than Debian (the machine image ships its own); a
# working command is what counts, and Debian's npm package conflicts with other nodejs builds.
if [ "$profile" = test ] || [ "$profile" = bench ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The official openai npm client for the end-to-end tests and playwright-core for the browser
# test; versions are pinned in tests/e2e/package-lock.json.
if { [ "$profile" = test ] || [ "$profile" = bench ]; } && { [ ! -d "$(dirname "$0")/../tests/e2e/node_modules/openai" ] ||
     [ ! -d "$(dirname "$0")/../tests/e2e/node_modules/kubernetes-models" ]; }; then
  (cd "$(dirname "$0")/../tests/e2e" && npm ci --no-audit --no-fund --loglevel=error)
fi
