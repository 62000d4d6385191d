#!/usr/bin/env bash
# The whole test suite: unit, kvm, system (hwsim) and gui tests on a -Werror
# build, the unit tests again under AddressSanitizer + UBSan, and a short
# run of each libFuzzer target.  Run as root on Debian 12.
#
# The hwsim scenarios keep about one core busy (the outer QEMU runs one
# vCPU under TCG) for most of the run, so the sanitizer and fuzz builds and
# their tests run beside them on the other core; their output is printed
# once they end (build/side-checks.log).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== build (-Werror)"
[ -d build ] || meson setup build -Dwerror=true
ninja -C build

side_checks() {
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
}
(set -e; side_checks) > build/side-checks.log 2>&1 &
side=$!
# never leave the side job running if the main suites fail or we are stopped
trap 'kill "$side" 2>/dev/null || true' EXIT

echo "== unit, kvm, system and gui suites (ASan and fuzz run beside them: build/side-checks.log)"
main_rc=0
meson test -C build --print-errorlogs --suite unit --suite kvm --suite system --suite gui || main_rc=$?

side_rc=0
wait "$side" || side_rc=$?
trap - EXIT
cat build/side-checks.log
if [ "$main_rc" -ne 0 ] || [ "$side_rc" -ne 0 ]; then
  echo "test.sh: FAILED (main suites exit $main_rc, ASan/fuzz exit $side_rc)"
  exit 1
fi
echo "test.sh: all suites passed"
