/* The emulated xHCI USB host controller (docs/usb.md): a PCI device Linux's
 * xhci_hcd drives unmodified, with USB 2 and USB 3 root-hub ports that
 * USB device backends (struct usb_device, usb.h) are plugged into.
 *
 * Threading: every function here runs on the VMM event-loop thread (or
 * before the vCPUs start); backends are only ever called from there too. */
#ifndef ATOLL_XHCI_H
#define ATOLL_XHCI_H

#include "usb.h"

struct vm;
struct xhci;

/* Create the controller and plug it into the VM's PCI bus.  Returns 0 and
 * sets *out, or a negative errno (logged). */
int xhci_create(struct vm *vm, struct xhci **out);
/* Detach every device (destroying them) and free the controller. */
void xhci_destroy(struct xhci *x);

/* Plug d into a free root port of the right kind (USB 3 for
 * USB_SPEED_SUPER, else USB 2) and tell the guest (port status change).
 * Sets d->hcd and d->port.  Returns the 1-based port, or -1 if no port of
 * that kind is free. */
int xhci_attach(struct xhci *x, struct usb_device *d);
/* Unplug d: disconnect event for the guest, its outstanding packets are
 * cancelled, then d->ops->destroy(d) is called (see usb.h for packets still
 * outstanding then).  d must not be used by the caller afterwards. */
void xhci_detach(struct xhci *x, struct usb_device *d);

/* Number of root ports of each kind, and the first port number of each. */
#define XHCI_USB2_PORTS 4
#define XHCI_USB3_PORTS 4
#define XHCI_USB2_FIRST 1
#define XHCI_USB3_FIRST (XHCI_USB2_FIRST + XHCI_USB2_PORTS)

#endif
