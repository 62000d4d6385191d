"""usbevents: atolld watches the host's USB bus (issue 7: hot-plug events
for the manager's devices tab).  The outer machine has an xHCI with nothing
on it; dom0 asks (host_request) for usb-kbd devices to be plugged in and
pulled out through QMP, and checks the "device-changed" events atolld sends
on /v1/events, and that a keyboard attached to a running domU and then
pulled out leaves the domU and atolld's in-use list, and can be attached
again once it is back.

dom0 runs systemd-udevd (no rules): libusb's Linux hot-plug monitor
listens to udevd's netlink broadcasts, not the kernel's, exactly as on a
real dom0.  The event stream is read by usbevents-reader.c (built here,
static), since dom0 has no WebSocket client."""
import os
import subprocess

TIMEOUT = 420
TOOLSTACK = True
HERE = os.path.dirname(os.path.abspath(__file__))
DOM0_MODULES = ['usb_common', 'usbcore', 'xhci_hcd', 'xhci_pci', 'hid',
                'usbhid', 'hid_generic']
DOMU_MODULES = ['xhci_pci', 'usbhid', 'hid_generic', 'evdev']


def qemu_args(ctx):
    return ['-device', 'qemu-xhci,id=xhci']


def _reader(ctx):
    exe = os.path.join(ctx.tmp, 'usbevents-reader')
    if not os.path.exists(exe):
        subprocess.run(['gcc', '-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', exe,
                        os.path.join(HERE, 'usbevents-reader.c')], check=True)
    return exe


def dom0_files(c, ctx):
    c.file('usr/local/bin/usbevents-reader', _reader(ctx), 0o755)
    # udevadm is also udevd, by the name it is run as.
    c.binary('lib/systemd/systemd-udevd', '/usr/bin/udevadm')
    c.binary('usr/bin/udevadm', '/usr/bin/udevadm')
    c.dir('etc/udev/rules.d')


def domu_files(c, ctx):
    c.file('hwsim/steps/usbevents.sh', os.path.join(HERE, 'usbevents-domu.sh'), 0o644)


def on_line(line, ctx):
    words = line.strip().split()
    if words[:2] != ['HWSIM:', 'HOST'] or len(words) != 4:
        return
    try:
        if words[2] == 'usb-add':
            ctx.qmp('device_add', driver='usb-kbd', bus='xhci.0', id=words[3])
            ctx.reply('plugged ' + words[3])
        elif words[2] == 'usb-del':
            ctx.qmp('device_del', id=words[3])
            ctx.reply('unplugged ' + words[3])
    except Exception as e:  # the answer says what QMP refused
        ctx.reply(f'ERROR {words[2]} {words[3]}: {e}')
