"""Legacy BIOS boot with Debian's SeaBIOS (docs/uefi.md, "BIOS").

Host side this builds the test disk without root: an MBR disk (syslinux's
mbr.bin) with one bootable FAT16 partition made by mkfs.fat on an image
file, syslinux installed into it with `syslinux --install --offset` (which
works through mtools, no mount), and syslinux.cfg booting the Debian kernel
with the domU initrd.  SeaBIOS drives the disk through its virtio-blk
driver; syslinux loads the kernel through int 13h.

SeaBIOS runs under the stock kvm-amd of the hwsim dom0: unlike OVMF it
does not hit the outer TCG's CR8 abort (docs/uefi.md), so the uefi
plug-in's TEST-ONLY module build is not used here.
"""
import os
import shutil
import subprocess

SMP = 1
TIMEOUT = 420
MEMORY = 2048

BIOS = '/usr/share/seabios/bios-256k.bin'
VGABIOS = '/usr/share/seabios/vgabios-bochs-display.bin'
MBR = '/usr/lib/syslinux/mbr/mbr.bin'


def _run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def bios_disk(path, kernel, initrd, cmdline, tmp):
    """A 64 MiB MBR disk: syslinux's MBR code, one active FAT16 partition
    from 1 MiB holding ldlinux.sys/.c32 (syslinux --install through mtools),
    syslinux.cfg, the kernel and the initrd."""
    size_mib, start = 64, 2048
    for need in (MBR, '/usr/bin/syslinux', '/sbin/mkfs.fat'):
        if not os.path.exists(need):
            raise RuntimeError(f'{need} is missing: apt-get install syslinux '
                               'syslinux-common mtools dosfstools (scripts/install-deps.sh)')
    with open(path, 'wb') as f:
        f.truncate(size_mib << 20)
    _run(['sfdisk', '-q', path], input=(
        'label: dos\n'
        f'start={start}, type=6, bootable\n').encode(), stdout=subprocess.DEVNULL)
    part = path + '.part'
    sectors = (size_mib << 11) - start
    with open(part, 'wb') as f:
        f.truncate(sectors * 512)
    _run(['mkfs.fat', '-F', '16', '-n', 'ATOLLBIOS', part], stdout=subprocess.DEVNULL)
    cfg = os.path.join(tmp, 'syslinux.cfg')
    with open(cfg, 'w') as f:
        f.write('SERIAL 0 115200\nPROMPT 0\nTIMEOUT 0\nDEFAULT linux\n'
                f'LABEL linux\n  KERNEL /vmlinuz\n  INITRD /initrd.img\n'
                f'  APPEND {cmdline}\n')
    _run(['mcopy', '-i', part, kernel, '::/vmlinuz'])
    _run(['mcopy', '-i', part, initrd, '::/initrd.img'])
    _run(['mcopy', '-i', part, cfg, '::/syslinux.cfg'])
    with open(part, 'rb') as src, open(path, 'r+b') as dst:
        dst.seek(start * 512)
        shutil.copyfileobj(src, dst)
    os.unlink(part)
    # On the whole disk: --offset makes the boot sector's hidden-sectors
    # field point at the partition, which the VBR needs to find ldlinux.sys.
    _run(['syslinux', '--install', '--offset', str(start * 512), path])
    with open(MBR, 'rb') as f:
        mbr = f.read(440)
    with open(path, 'r+b') as f:
        f.write(mbr)


def dom0_files(c, ctx):
    c.file('usr/share/seabios/bios-256k.bin', BIOS, 0o644)
    c.file('usr/share/seabios/vgabios-bochs-display.bin', VGABIOS, 0o644)
    domu = os.path.join(ctx.tmp, 'domu-for-bios.cpio.gz')
    with open(domu, 'wb') as f:
        f.write(c.entries['boot/domu.cpio.gz'][1])
    disk = os.path.join(ctx.tmp, 'bios.img')
    bios_disk(disk, ctx.kernel.vmlinuz, domu, 'console=ttyS0 quiet atoll.step=bios', ctx.tmp)
    c.file('hwsim/bios.img', disk, 0o644)
    # SPICE: the bochs-display VGA BIOS's screen (atoll-spice.so + client)
    ctx.add_spice(c)


def _uefi_plugin():
    """uefi.py beside this file, for its screenshot check."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'uefi.py')
    spec = importlib.util.spec_from_file_location('hwsim_bios_uefi_helpers', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def on_line(line, ctx):
    line = line.strip()
    if line.startswith('HWSIM: SHOT '):
        ctx.bios_shot = getattr(ctx, 'bios_shot', '') + line[len('HWSIM: SHOT '):]
    elif line == 'HWSIM: HOST bios-shot':
        import base64
        import gzip
        data = gzip.decompress(base64.b64decode(getattr(ctx, 'bios_shot', '')))
        ctx.bios_shot = ''
        ppm = os.path.join(ctx.tmp, 'bios-screen.ppm')
        with open(ppm, 'wb') as f:
            f.write(data)
        png = os.path.join(getattr(ctx, 'logdir', ctx.tmp), 'bios-screen.png')
        verdict = _uefi_plugin()._check_shot(ppm, png)
        ctx.log('bios: screenshot: ' + verdict)
        ctx.reply(verdict)


# The domU's step: booted through a BIOS, not UEFI, and SeaBIOS named in
# the SMBIOS type 0 the firmware added.
BIOS_STEP = r"""
if [ -d /sys/firmware/efi ]; then echo "ATOLL-BIOS efi=present"; else echo "ATOLL-BIOS efi=absent"; fi
echo "ATOLL-BIOS vendor=$(cat /sys/class/dmi/id/bios_vendor 2>&1)"
echo "ATOLL-BIOS version=$(cat /sys/class/dmi/id/bios_version 2>&1)"
echo "ATOLL-BIOS product=$(cat /sys/class/dmi/id/product_name 2>&1)"
echo "ATOLL-BIOS cpus=$(grep -c ^processor /proc/cpuinfo)"
echo "ATOLL-BIOS blk=$(cat /sys/block/vda/size 2>&1)"
dmesg | grep -E "ACPI: (RSDP|XSDT|FACP|DSDT|APIC|MCFG) " | sed 's/^/ATOLL-ACPI /'
dmesg | grep -E "BIOS-e820" | sed 's/^/ATOLL-E820 /'
# BARs SeaBIOS placed outside the DSDT's windows make Linux complain.
echo "ATOLL-BIOS badbars=$(dmesg | grep -c -E 'no compatible bridge window|can.t claim BAR')"
dmesg | grep -E "pci 0000:00:0[0-9a-f].0: BAR [0-9]: assigned|pci_bus 0000:00: root bus resource \[mem" | sed 's/^/ATOLL-PCI /'
"""


def domu_files(c, ctx):
    c.data('hwsim/steps/bios.sh', BIOS_STEP)
