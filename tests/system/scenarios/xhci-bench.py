"""Figures only: how fast a USB disk reads in a domU through atoll-vmm's
xHCI model and the libusb backend, against dom0 reading it directly
(docs/usb.md).  Not a pass/fail test (the usb scenario is)."""
import hashlib
import os

TIMEOUT = 600
DISK_MIB = 32
DOM0_MODULES = ['usb_common', 'usbcore', 'xhci_hcd', 'xhci_pci', 'scsi_common',
                'scsi_mod', 'usb_storage', 'crc64', 'crc64_rocksoft',
                'crct10dif_common', 'crc_t10dif', 't10_pi', 'sd_mod']
DOMU_MODULES = ['xhci_pci', 'usb_storage', 'sd_mod']


def pattern():
    out = bytearray()
    for i in range(DISK_MIB * 2048):
        line = b'ATOLL-XHCI-BENCH sector %08d\n' % i
        out += (line * (512 // len(line) + 1))[:512]
    return bytes(out)


def qemu_args(ctx):
    img = os.path.join(ctx.tmp, 'benchdisk.img')
    with open(img, 'wb') as f:
        f.write(pattern())
    return ['-device', 'qemu-xhci,id=xhci',
            '-drive', f'if=none,id=ud,file={img},format=raw',
            '-device', 'usb-storage,bus=xhci.0,drive=ud']


def dom0_files(c, ctx):
    c.data('hwsim/bench-expected', hashlib.sha256(pattern()).hexdigest() + '\n')


def domu_files(c, ctx):
    c.file('hwsim/steps/xhci-bench.sh',
           os.path.join(os.path.dirname(os.path.abspath(__file__)), 'xhci-bench-domu.sh'), 0o644)
