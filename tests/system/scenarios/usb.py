"""USB passthrough end to end (docs/usb.md): the outer QEMU's xHCI carries a
usb-storage disk with a known pattern and a usb-kbd; dom0's real USB stack
and libusb hand them to a domU through atoll-vmm's xHCI model."""
import hashlib
import os

TIMEOUT = 360
HERE = os.path.dirname(os.path.abspath(__file__))
DISK_MIB = 4

# dom0 drives the outer machine's xHCI with the standard kernel's drivers
# (this module list was verified on these machines), and gets the devices
# back on release.
DOM0_MODULES = ['usb_common', 'usbcore', 'xhci_hcd', 'xhci_pci', 'scsi_common',
                'scsi_mod', 'usb_storage', 'crc64', 'crc64_rocksoft',
                'crct10dif_common', 'crc_t10dif', 't10_pi', 'sd_mod', 'hid',
                'usbhid', 'hid_generic']
DOMU_MODULES = ['xhci_pci', 'usb_storage', 'sd_mod', 'usbhid', 'hid_generic', 'evdev']


def pattern():
    """Every 512-byte sector says which one it is."""
    out = bytearray()
    for i in range(DISK_MIB * 2048):
        line = b'ATOLL-USB-PATTERN sector %08d\n' % i
        out += (line * (512 // len(line) + 1))[:512]
    return bytes(out)


def qemu_args(ctx):
    img = os.path.join(ctx.tmp, 'usbdisk.img')
    with open(img, 'wb') as f:
        f.write(pattern())
    return ['-device', 'qemu-xhci,id=xhci',
            '-drive', f'if=none,id=ud,file={img},format=raw',
            '-device', 'usb-storage,bus=xhci.0,drive=ud,id=ustor',
            '-device', 'usb-kbd,bus=xhci.0,id=ukbd']


def dom0_files(c, ctx):
    c.data('hwsim/usb-expected',
           hashlib.sha256(pattern()).hexdigest() + '\n')
    vmmctl = getattr(ctx.args, 'vmmctl', None) or ctx.need('hv/atoll-vmmctl')
    c.binary('usr/local/bin/atoll-vmmctl', vmmctl)
    c.file('usr/bin/usb-probe', _probe(ctx), 0o755)


def _probe(ctx):
    """domu-progs/usb-probe.c, static: the same binary in dom0 and domU."""
    exe = os.path.join(ctx.tmp, 'usb-probe')
    if not os.path.exists(exe):
        exe = ctx.static_program(os.path.join(HERE, '..', 'domu-progs', 'usb-probe.c'))
    return exe


def domu_files(c, ctx):
    c.file('hwsim/steps/usb.sh', os.path.join(HERE, 'usb-domu.sh'), 0o644)
    c.file('usr/bin/usb-probe', _probe(ctx), 0o755)


def on_line(line, ctx):
    words = line.strip().split()
    if words[:2] != ['HWSIM:', 'HOST'] or len(words) < 4:
        return
    if words[2] == 'send-key':
        # Down, then up after send-key's hold time.  It reaches the usb-kbd
        # because a USB HID keyboard makes itself QEMU's active keyboard
        # (input-send-event device=ukbd would need a display console).
        ctx.qmp('send-key', keys=[{'type': 'qcode', 'data': words[3]}])
        ctx.reply('sent ' + words[3])
    elif words[2] == 'unplug':
        # The "physical" unplug of a device dom0 has given to a domU.
        ctx.qmp('device_del', id=words[3])
        ctx.reply('unplugged ' + words[3])
