#!/usr/bin/env bash
# The whole test suite: unit, kvm and system (hwsim) tests on a -Werror
# build, the unit tests again under AddressSanitizer + UBSan, and a short
# run of each libFuzzer target.  Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== build (-Werror) and unit, kvm, system suites"
[ -d build ] || meson setup build -Dwerror=true
ninja -C build
meson test -C build --print-errorlogs --suite unit --suite kvm --suite system --suite gui

echo "== unit suite under AddressSanitizer + UndefinedBehaviorSanitizer"
[ -d build-asan ] || meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined \
  -Db_lundef=false -Dsystem_tests=false
ninja -C build-asan
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --suite unit

echo "== fuzz targets (short regression runs)"
[ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true -Dsystem_tests=false
ninja -C build-fuzz
meson test -C build-fuzz --print-errorlogs --suite fuzz
