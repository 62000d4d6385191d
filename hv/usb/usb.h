/* USB device interface between the xHCI controller model (hv/usb/xhci*.c)
 * and USB device backends (passthrough/usb_*.c: libusb host devices).
 *
 * Ownership and threading:
 * - A usb_packet belongs to the controller. The backend may keep the pointer
 *   between submit() and complete(); it must not free it.
 * - complete() is called on the VMM event-loop thread, exactly once for each
 *   submit() that returned 0; never from inside submit() itself (defer it,
 *   e.g. with an evloop callback), so the controller is never re-entered.
 * - buf is a VMM-owned bounce buffer of len bytes (never guest memory). For
 *   IN transfers the backend fills buf[0..actual); for OUT it sends buf[0..len).
 * - SET_ADDRESS is answered by the controller and never reaches a device.
 *   SET_CONFIGURATION, SET_INTERFACE and CLEAR_FEATURE(ENDPOINT_HALT) arrive
 *   as ordinary control packets (ep 0, type CONTROL).
 * - Control packets: setup[] is the 8-byte SETUP packet (little-endian
 *   wLength at setup[6..7]); in mirrors bmRequestType bit 7; len is the data
 *   stage length (<= wLength), 0 if there is none.
 *
 * Change log (made by "xhci" only, announced here):
 * - v1: initial version.
 */
#ifndef ATOLL_USB_H
#define ATOLL_USB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum usb_speed { USB_SPEED_LOW, USB_SPEED_FULL, USB_SPEED_HIGH, USB_SPEED_SUPER };

enum usb_xfer { USB_XFER_CONTROL, USB_XFER_ISOC, USB_XFER_BULK, USB_XFER_INTERRUPT };

enum usb_status {
    USB_STATUS_OK,
    USB_STATUS_STALL,
    USB_STATUS_NODEV,
    USB_STATUS_BABBLE,
    USB_STATUS_IOERROR,
    USB_STATUS_CANCELLED,
};

/* One transfer, owned by the controller. */
struct usb_packet {
    uint8_t ep;               /* endpoint number 0..15 */
    bool in;                  /* device-to-host */
    enum usb_xfer type;
    uint8_t setup[8];         /* control transfers: the SETUP packet */
    uint8_t *buf;             /* data stage: VMM-owned bounce buffer */
    size_t len;
    size_t actual;            /* bytes transferred (short: actual < len, OK) */
    enum usb_status status;
    /* ALWAYS called on the VMM event-loop thread, exactly once per accepted
     * submit. */
    void (*complete)(struct usb_packet *p);
    void *opaque;             /* the controller's */
};

struct usb_device;

struct usb_device_ops {
    /* 0 = accepted (completes later); <0 = rejected now (never completes). */
    int (*submit)(struct usb_device *d, struct usb_packet *p);
    /* Completes p with CANCELLED (maybe later, but still exactly once). */
    void (*cancel)(struct usb_device *d, struct usb_packet *p);
    /* Port reset. */
    void (*reset)(struct usb_device *d);
    /* Last call (from xhci_detach/xhci_destroy, after cancel() was called
     * for every outstanding packet).  The backend may still complete those
     * packets from inside destroy(); once destroy() returns it must never
     * call complete() again nor touch them: the controller frees them. */
    void (*destroy)(struct usb_device *d);
};

struct usb_device {
    const struct usb_device_ops *ops;
    enum usb_speed speed;
    char name[64];
    void *hcd;                /* the controller's, set by xhci_attach */
    int port;                 /* 1-based root port, set by xhci_attach; 0 = none */
};

/* Standard request codes the controller and backends look at. */
#define USB_REQ_GET_STATUS        0x00
#define USB_REQ_CLEAR_FEATURE     0x01
#define USB_REQ_SET_FEATURE       0x03
#define USB_REQ_SET_ADDRESS       0x05
#define USB_REQ_GET_DESCRIPTOR    0x06
#define USB_REQ_SET_CONFIGURATION 0x09
#define USB_REQ_SET_INTERFACE     0x0b

#define USB_DIR_IN 0x80

static inline const char *usb_speed_name(enum usb_speed s)
{
    switch (s) {
    case USB_SPEED_LOW: return "low";
    case USB_SPEED_FULL: return "full";
    case USB_SPEED_HIGH: return "high";
    case USB_SPEED_SUPER: return "super";
    }
    return "unknown";
}

#endif
