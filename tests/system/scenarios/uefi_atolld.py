"""UEFI domains under atolld (docs/uefi.md, docs/atolld.md): the same
test machine as the uefi scenario (TEST-ONLY kvm-amd with the CR8
workaround, built and cached by uefi.py) plus the toolstack binaries."""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    'hwsim_scenario_uefi_base', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'uefi.py'))
_uefi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_uefi)

SMP = 1
TIMEOUT = 420
TOOLSTACK = True


def dom0_files(c, ctx):
    kvm, kvm_amd = _uefi.test_kvm_modules(ctx)
    c.file('lib/modules/hwsim/kvm.ko', kvm, 0o644)
    c.file('lib/modules/hwsim/kvm_amd.ko', kvm_amd, 0o644)
    c.data('etc/hwsim/test-only-kvm', 'kvm.ko and kvm-amd.ko: TEST-ONLY build with '
           'CR8 writes always intercepted (tests/system/scenarios/uefi.py)\n')
    c.file('usr/share/OVMF/OVMF_CODE_4M.fd', _uefi.OVMF_CODE, 0o644)
    c.file('usr/share/OVMF/OVMF_VARS_4M.fd', _uefi.OVMF_VARS, 0o644)
