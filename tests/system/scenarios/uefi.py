"""UEFI boot with Debian's OVMF (docs/uefi.md, docs/hwsim.md).

The outer QEMU's TCG aborts when a nested guest writes CR8 with interrupts
off and an interrupt pending, which OVMF does (docs/uefi.md, "Testing in
hwsim").  This plug-in therefore builds a TEST-ONLY kvm.ko +
kvm-amd.ko from Debian's linux-source-6.1 for the dom0 kernel, with one
change: svm_update_cr8_intercept() always intercepts CR8 writes.  It only
changes the emulated test machine; nothing in Atoll depends on it.  The
built modules are cached per kernel version in the hwsim cache.

Host side it also builds the test disk (GPT + EFI system partition holding
the domU kernel as \\EFI\\atoll\\linux.efi, the domU initrd and a
startup.nsh), and checks the SPICE screenshot dom0 hands back.
"""
import os
import re
import shutil
import subprocess
import tempfile

SMP = 1
TIMEOUT = 600
MEMORY = 2048
DOMU_MODULES = ['efivarfs', 'cpuid']

OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'


def _log(ctx, msg):
    ctx.log('uefi: ' + msg)


def _run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def _cache_root():
    d = os.environ.get('ATOLL_HWSIM_CACHE', '/var/cache/atoll-hwsim')
    if not os.access(d, os.W_OK):
        d = os.path.join(os.path.expanduser('~'), '.cache', 'atoll-hwsim')
    os.makedirs(d, exist_ok=True)
    return d


def _deb_version(kernel):
    """Debian package version of the cached dom0 kernel (from its 'ok')."""
    with open(os.path.join(kernel.root, 'ok')) as f:
        deb = f.read().strip()
    m = re.match(r'^linux-image-[^_]+_([^_]+)_amd64\.deb$', deb)
    if not m:
        raise RuntimeError(f'cannot tell the kernel package version from {deb!r}')
    return m.group(1)


def _patch_svm(path):
    with open(path) as f:
        s = f.read()
    old = ('\tif (nested_svm_virtualize_tpr(vcpu))\n\t\treturn;\n\n'
           '\tsvm_clr_intercept(svm, INTERCEPT_CR8_WRITE);\n')
    if s.count(old) != 1:
        raise RuntimeError(f'{path}: svm_update_cr8_intercept() is not as expected; '
                           'the CR8 workaround needs updating for this kernel')
    with open(path, 'w') as f:
        f.write(s.replace(old, old.replace('svm_clr_intercept', 'svm_set_intercept')))


def test_kvm_modules(ctx):
    """(kvm.ko, kvm-amd.ko) with the CR8 change, built once per kernel."""
    kver = ctx.kernel.kver
    out = os.path.join(_cache_root(), 'kvm-cr8-' + kver)
    kos = (os.path.join(out, 'kvm.ko'), os.path.join(out, 'kvm-amd.ko'))
    if all(os.path.exists(k) for k in kos):
        _log(ctx, f'using the cached TEST-ONLY kvm-amd with CR8 writes always '
             f'intercepted ({out})')
        return kos
    ver = _deb_version(ctx.kernel)
    work = tempfile.mkdtemp(prefix='kvm-cr8-', dir=_cache_root())
    _log(ctx, f'building the TEST-ONLY kvm.ko/kvm-amd.ko (CR8 writes always '
         f'intercepted) from linux-source-6.1 {ver} for {kver}; cached in {out}')
    try:
        debs = os.path.join(work, 'debs')
        os.makedirs(debs)
        abi = kver[:-len('-amd64')]
        pkgs = [f'linux-source-6.1={ver}', f'linux-headers-{kver}={ver}',
                f'linux-headers-{abi}-common={ver}', f'linux-kbuild-6.1={ver}']
        _run(['apt-get', 'download', '-q', '-o', 'APT::Sandbox::User=root'] + pkgs,
             cwd=debs, stdout=subprocess.DEVNULL)
        root = os.path.join(work, 'root')
        for d in os.listdir(debs):
            if not d.startswith('linux-source'):
                _run(['dpkg-deb', '-x', os.path.join(debs, d), root])
            else:
                _run(['dpkg-deb', '--fsys-tarfile', os.path.join(debs, d)],
                     stdout=open(os.path.join(work, 'src.tar'), 'wb'))
        hdr = os.path.join(root, 'usr/src/linux-headers-' + kver)
        mk = os.path.join(hdr, 'Makefile')
        with open(mk) as f:
            s = f.read()
        with open(mk, 'w') as f:
            f.write(s.replace('include /usr/src/', f'include {root}/usr/src/'))
        # only the kvm directories, out of the source tarball inside the deb
        _run(['tar', '-xf', os.path.join(work, 'src.tar'), '-C', work,
              './usr/src/linux-source-6.1.tar.xz'])
        src = os.path.join(work, 'src')
        os.makedirs(src)
        _run(['tar', '-xJf', os.path.join(work, 'usr/src/linux-source-6.1.tar.xz'),
              '-C', src, 'linux-source-6.1/arch/x86/kvm', 'linux-source-6.1/virt/kvm'])
        tree = os.path.join(work, 'tree')
        os.makedirs(os.path.join(tree, 'arch/x86'))
        os.makedirs(os.path.join(tree, 'include/trace'))
        shutil.copytree(os.path.join(src, 'linux-source-6.1/arch/x86/kvm'),
                        os.path.join(tree, 'arch/x86/kvm'))
        shutil.copytree(os.path.join(src, 'linux-source-6.1/virt'), os.path.join(tree, 'virt'))
        kdir = os.path.join(tree, 'arch/x86/kvm')
        # The headers tree has no arch/x86/kvm or virt/kvm: point the
        # Kbuild at the mini tree (trace.h's ../../arch/x86/kvm resolves
        # from include/trace).
        with open(os.path.join(kdir, 'Makefile')) as f:
            s = f.read().replace('$(srctree)', tree)
        with open(os.path.join(kdir, 'Makefile'), 'w') as f:
            f.write(f'ccflags-y += -I {tree}/include/trace\n' + s)
        _patch_svm(os.path.join(kdir, 'svm/svm.c'))
        _run(['make', '-s', '-j2', '-C', hdr, f'M={kdir}', 'CONFIG_KVM_INTEL=', 'modules'],
             stdout=subprocess.DEVNULL)
        tmp_out = out + '.tmp'
        shutil.rmtree(tmp_out, ignore_errors=True)
        os.makedirs(tmp_out)
        for k in ('kvm.ko', 'kvm-amd.ko'):
            _run(['strip', '--strip-debug', '-o', os.path.join(tmp_out, k),
                  os.path.join(kdir, k)])
        shutil.rmtree(out, ignore_errors=True)
        os.rename(tmp_out, out)
        return kos
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _esp_disk(ctx, path, kernel, initrd, cmdline):
    """A 64 MiB GPT disk with one EFI system partition (FAT), built with
    sfdisk and mtools: \\EFI\\atoll\\linux.efi is the EFI-stub kernel and
    startup.nsh starts it with the initrd and command line.  The kernel is
    not at the removable-media path \\EFI\\BOOT\\BOOTX64.EFI: OVMF would
    start it from there without load options (no command line, no
    initrd); with nothing there, OVMF falls back to its shell, which runs
    startup.nsh."""
    size_mib, start = 64, 2048
    with open(path, 'wb') as f:
        f.truncate(size_mib << 20)
    _run(['sfdisk', '-q', path], input=(
        'label: gpt\n'
        f'start={start}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP\n'
    ).encode(), stdout=subprocess.DEVNULL)
    part = path + '.part'
    sectors = (size_mib << 11) - start - 34
    with open(part, 'wb') as f:
        f.truncate(sectors * 512)
    _run(['mkfs.vfat', '-F', '32', '-n', 'ESP', part], stdout=subprocess.DEVNULL)
    nsh = os.path.join(ctx.tmp, 'startup.nsh')
    with open(nsh, 'w') as f:
        f.write(f'fs0:\\EFI\\atoll\\linux.efi initrd=\\initrd.img {cmdline}\r\n')
    _run(['mmd', '-i', part, '::/EFI', '::/EFI/atoll'])
    _run(['mcopy', '-i', part, kernel, '::/EFI/atoll/linux.efi'])
    _run(['mcopy', '-i', part, initrd, '::/initrd.img'])
    _run(['mcopy', '-i', part, nsh, '::/startup.nsh'])
    with open(part, 'rb') as src, open(path, 'r+b') as dst:
        dst.seek(start * 512)
        shutil.copyfileobj(src, dst)
    os.unlink(part)


def dom0_files(c, ctx):
    kvm, kvm_amd = test_kvm_modules(ctx)
    # Overwrite the stock modules base_initramfs put in (same names, same
    # load order from etc/hwsim/modules).
    c.file('lib/modules/hwsim/kvm.ko', kvm, 0o644)
    c.file('lib/modules/hwsim/kvm_amd.ko', kvm_amd, 0o644)
    c.data('etc/hwsim/test-only-kvm', 'kvm.ko and kvm-amd.ko: TEST-ONLY build with '
           'CR8 writes always intercepted (tests/system/scenarios/uefi.py)\n')
    c.file('usr/share/OVMF/OVMF_CODE_4M.fd', OVMF_CODE, 0o644)
    c.file('usr/share/OVMF/OVMF_VARS_4M.fd', OVMF_VARS, 0o644)
    # The ESP holds the same domU initrd dom0 already carries.
    domu = os.path.join(ctx.tmp, 'domu-for-esp.cpio.gz')
    with open(domu, 'wb') as f:
        f.write(c.entries['boot/domu.cpio.gz'][1])
    disk = os.path.join(ctx.tmp, 'esp.img')
    _esp_disk(ctx, disk, ctx.kernel.vmlinuz, domu,
              'console=ttyS0 quiet atoll.step=efi')
    c.file('hwsim/esp.img', disk, 0o644)
    # SPICE: the VMM's module and the headless test client
    ctx.add_spice(c)


def _check_shot(ppm, png):
    """The firmware screen as the SPICE client got it: not blank, and rows
    of text (the shell's banner and prompt) on it.  Returns a verdict."""
    with open(ppm, 'rb') as f:
        data = f.read()
    m = re.match(rb'P6\s+(\d+)\s+(\d+)\s+255\s', data)
    if not m:
        return 'ERROR not a PPM screenshot'
    w, h = int(m.group(1)), int(m.group(2))
    px = data[m.end():]
    if len(px) < w * h * 3:
        return f'ERROR truncated screenshot ({len(px)} of {w * h * 3} bytes)'
    subprocess.run(['convert', ppm, png], check=False)
    lit = 0
    text_rows = 0
    for y in range(h):
        row = px[y * w * 3:(y + 1) * w * 3]
        n = sum(1 for x in range(0, w * 3, 3) if row[x] + row[x + 1] + row[x + 2] > 240)
        lit += n
        if n >= 8:
            text_rows += 1
    share = lit / (w * h)
    # Text of the 8x19 firmware font: bright pixels spread over many rows,
    # but far from a full screen (a stuck all-white frame is not text).
    if share < 0.001 or text_rows < 19:
        return f'ERROR blank-looking screen {w}x{h}: {share:.4%} bright, {text_rows} text rows'
    if share > 0.6:
        return f'ERROR screen {w}x{h} is mostly bright ({share:.1%}): not the shell'
    return f'ok {w}x{h} {share:.3%} bright pixels in {text_rows} rows; kept as {png}'


def on_line(line, ctx):
    line = line.strip()
    if line.startswith('HWSIM: SHOT '):
        ctx.shot = getattr(ctx, 'shot', '') + line[len('HWSIM: SHOT '):]
    elif line == 'HWSIM: HOST uefi-shot':
        import base64
        import gzip
        data = gzip.decompress(base64.b64decode(getattr(ctx, 'shot', '')))
        ctx.shot = ''
        ppm = os.path.join(ctx.tmp, 'uefi-shell.ppm')
        with open(ppm, 'wb') as f:
            f.write(data)
        png = os.path.join(getattr(ctx, 'logdir', ctx.tmp), 'uefi-shell.png')
        verdict = _check_shot(ppm, png)
        _log(ctx, 'screenshot: ' + verdict)
        ctx.reply(verdict)


# The domU's step on the ESP boot: UEFI runtime visible, a variable written
# through efivarfs (read back after a power cycle by step efi-check).
EFI_STEP = r"""
mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
V=/sys/firmware/efi/efivars/AtollTest-3b1e9a1c-5a4c-4f1e-9d2b-7c0e1a2b3c4d
if [ -d /sys/firmware/efi ]; then echo "ATOLL-EFI present"; else echo "ATOLL-EFI absent"; fi
if [ -e "$V" ]; then
	echo "ATOLL-EFIVAR value=$(tail -c +5 "$V")"
else
	echo "ATOLL-EFIVAR none"
	printf '\007\000\000\000persisted-42' > "$V" && echo "ATOLL-EFIVAR written"
	echo "ATOLL-EFIVAR readback=$(tail -c +5 "$V" 2>&1)"
fi
dmesg | grep -i -E "efi|flash" | head -12 | sed 's/^/ATOLL-EFIDMESG /'
dmesg | grep -E "ACPI: (RSDP|XSDT|FACP|DSDT|FACS|APIC|MCFG) " | sed 's/^/ATOLL-ACPI /'
"""


# --hyperv on as the guest's CPUID shows it (/dev/cpu/0/cpuid: 16 bytes
# eax ebx ecx edx at offset = leaf).
HV_STEP = r"""
leaf() { dd if=/dev/cpu/0/cpuid bs=16 count=1 skip=$(($1)) iflag=skip_bytes 2>/dev/null; }
echo "ATOLL-HV vendor=$(leaf 0x40000000 | dd bs=1 skip=4 count=12 2>/dev/null)"
echo "ATOLL-HV interface=$(leaf 0x40000001 | dd bs=1 count=4 2>/dev/null)"
echo "ATOLL-HV features=$(leaf 0x40000003 | od -A n -t x4 | tr -s ' ')"
echo "ATOLL-HV recommend=$(leaf 0x40000004 | od -A n -t x4 | tr -s ' ')"
echo "ATOLL-HV kvm=$(leaf 0x40000100 | dd bs=1 skip=4 count=9 2>/dev/null)"
"""


def domu_files(c, ctx):
    c.data('hwsim/steps/efi.sh', EFI_STEP)
    c.data('hwsim/steps/hv.sh', HV_STEP)
