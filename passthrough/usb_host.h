/* USB passthrough: a struct usb_device (hv/usb/usb.h) backed by a real host
 * device through libusb's asynchronous API.  See docs/usb.md, "libusb
 * backend". */
#ifndef ATOLL_USB_HOST_H
#define ATOLL_USB_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usb/usb.h"

struct evloop;
struct xhci;

/* Which host device: "VID:PID" (hex, e.g. 46f4:0001) or a bus-port path
 * "BUS-PORT[.PORT...]" (decimal, e.g. 1-2.3, as in /sys/bus/usb/devices). */
#define USB_HOST_MAX_PORTS 7
struct usb_host_spec {
	bool by_id;
	uint16_t vid, pid;
	uint8_t bus;
	uint8_t ports[USB_HOST_MAX_PORTS];
	int n_ports;
};

/* 0, or -1 with a message in err saying what is accepted. */
int usb_host_parse_spec(const char *s, struct usb_host_spec *out, char *err, size_t errlen);
/* The canonical text of a spec (what usb-list shows). */
void usb_host_spec_format(const struct usb_host_spec *s, char *buf, size_t n);

/* Standard control requests the backend does not forward as transfers
 * but turns into libusb's own calls: the kernel (usbfs) must know about a
 * configuration or alternate setting change, and a halt is cleared through
 * it so that its endpoint state (data toggle) stays right. */
enum usb_host_ctl_kind {
	USB_HOST_CTL_TRANSFER,      /* forward as an ordinary control transfer */
	USB_HOST_CTL_SET_CONFIG,    /* value = configuration (0: unconfigured) */
	USB_HOST_CTL_SET_INTERFACE, /* iface, value = alternate setting */
	USB_HOST_CTL_CLEAR_HALT,    /* ep = endpoint address (with 0x80 for IN) */
	USB_HOST_CTL_IGNORE,        /* SET_ADDRESS: completes OK, device untouched */
};

struct usb_host_ctl {
	enum usb_host_ctl_kind kind;
	int value;
	int iface;
	uint8_t ep;
};

void usb_host_classify_control(const uint8_t setup[8], struct usb_host_ctl *out);

/* The libusb calls a special request becomes, behind a table so the
 * sequence can be checked without hardware.  Each returns a libusb error
 * code (0 = success). */
struct usb_host_ctl_io {
	int (*active_config)(void *ctx, int *config);
	int (*release_all)(void *ctx);           /* release claimed interfaces */
	int (*set_configuration)(void *ctx, int config);
	int (*claim_all)(void *ctx);             /* claim the active config's interfaces */
	int (*set_alt)(void *ctx, int iface, int alt);
	int (*clear_halt)(void *ctx, uint8_t ep);
};

/* Carries out one special request; returns the packet status. */
enum usb_status usb_host_do_control(const struct usb_host_ctl *c,
				    const struct usb_host_ctl_io *io, void *ctx);

/* libusb transfer status (enum libusb_transfer_status) -> packet status. */
enum usb_status usb_host_map_status(int libusb_status);

/* Hot-plug registry, used by the control socket and --usb at start.  All
 * of these run on the event-loop thread (or before the vCPUs start).
 *
 * The controller host devices are plugged into (one per VMM); NULL when
 * it goes away (devices still attached must have been detached). */
void usb_host_set_controller(struct xhci *x, struct evloop *loop);
/* Opens the host device, detaches the host kernel's drivers from it,
 * claims its interfaces and plugs it into a root port of the controller.
 * On success writes the id ("usbN") and port and returns 0; else -1 with
 * a message in err. */
int usb_host_attach(const char *spec, char *id, size_t idlen, int *port,
		    char *err, size_t errlen);
/* Attach every device of a domain's description (--usb, "usb"). */
int usb_host_attach_all(char *const *specs, size_t n, char *err, size_t errlen);
/* Detach by id ("usb3") or by the spec it was attached with. */
int usb_host_detach(const char *id_or_spec, char *err, size_t errlen);

struct usb_host_info {
	const char *id;
	const char *host;   /* the spec, canonical form */
	int port;
	enum usb_speed speed;
	const char *name;
};
/* Calls fn for each attached host device, in attach order. */
void usb_host_list(void (*fn)(void *opaque, const struct usb_host_info *i), void *opaque);

#endif
