#!/usr/bin/env bash
# Install what Atoll needs, build it, and boot the bundled demo domain,
# showing its serial console.  These machines' /dev/kvm cannot run a full
# Linux guest, so the demo runs inside hwsim: an emulated machine (QEMU
# TCG) whose own KVM runs atoll-vmm and the domain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -d build ] || meson setup build
ninja -C build
echo "atoll: the demo runs inside hwsim (QEMU TCG + nested KVM) because this"
echo "       host's /dev/kvm cannot boot an unmodified Linux guest."
exec python3 tests/system/hwsim.py --vmm build/hv/atoll-vmm demo "$@"
