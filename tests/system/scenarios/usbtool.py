"""usbtool: the toolstack side of USB passthrough (issue 7): atolld lists
the outer machine's USB devices through libusb, attaches a definition's
device at start, hot-plugs through the VMM's control socket, and refuses a
device another domain has (issue 7, test 4), naming that domain — whether
the device is named by VID:PID or by bus-port path."""
import os

TIMEOUT = 600
TOOLSTACK = True
DOM0_MODULES = ['usb_common', 'usbcore', 'xhci_hcd', 'xhci_pci', 'scsi_common',
                'scsi_mod', 'usb_storage', 'crc64', 'crc64_rocksoft',
                'crct10dif_common', 'crc_t10dif', 't10_pi', 'sd_mod', 'hid',
                'usbhid', 'hid_generic']


def qemu_args(ctx):
    img = os.path.join(ctx.tmp, 'usbdisk.img')
    with open(img, 'wb') as f:
        f.truncate(1 << 20)
    return ['-device', 'qemu-xhci,id=xhci',
            '-drive', f'if=none,id=ud,file={img},format=raw',
            '-device', 'usb-storage,bus=xhci.0,drive=ud,id=ustor',
            '-device', 'usb-kbd,bus=xhci.0,id=ukbd']
