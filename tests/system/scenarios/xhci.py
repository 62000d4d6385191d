"""The emulated xHCI controller under Linux's own xhci_hcd (docs/usb.md):
the domU's driver probes atoll-vmm's controller, its USB 2 and USB 3 root
hubs come up with the advertised port counts, and an unbind/bind (a full
controller reset and re-initialisation) brings them back."""
import os

TIMEOUT = 400
DOMU_MODULES = ['xhci_pci']


def domu_files(c, ctx):
    c.file('hwsim/steps/xhci.sh',
           os.path.join(os.path.dirname(os.path.abspath(__file__)), 'xhci-domu.sh'), 0o644)
