/* Host USB devices for `atoll usb-list` and the toolstack's USB checks:
 * enumerated with libusb, with the strings the kernel already read (sysfs,
 * so no device is opened and no root is needed).  See docs/api.md. */
#ifndef ATOLL_HOST_USB_H
#define ATOLL_HOST_USB_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

#define HOST_USB_ERROR host_usb_error_quark()
GQuark host_usb_error_quark(void);

typedef enum {
	HOST_USB_ERROR_INVALID,    /* not a device spec */
	HOST_USB_ERROR_NOT_FOUND,  /* no device matches */
	HOST_USB_ERROR_AMBIGUOUS,  /* VID:PID matches more than one device */
	HOST_USB_ERROR_HOST,       /* libusb failed */
} HostUsbError;

/* A device spec as the VMM's --usb host= and the definitions take it:
 * "VID:PID" (4 hex digits each) or "BUS-PORT[.PORT...]" ("1-4.2"). */
typedef enum { USB_SPEC_ID, USB_SPEC_PATH } UsbSpecKind;
typedef struct {
	UsbSpecKind kind;
	unsigned vendor, product;  /* USB_SPEC_ID */
	char path[32];             /* USB_SPEC_PATH, "1-4.2" */
} UsbSpec;

/* Parses and normalises (lower-case hex); false if s is neither form. */
bool host_usb_parse_spec(const char *s, UsbSpec *out);
/* The normalised text of a spec ("046d:c52b", "1-4.2"). */
char *host_usb_spec_string(const UsbSpec *spec);

/* GET /v1/host/usb: a JSON array, sorted by path, of
 *   {"id": "46f4:0001", "vendor_id": "0x46f4", "product_id": "0x0001",
 *    "bus", "address", "path": "1-4" | null (root hubs), "speed":
 *    "low"|"full"|"high"|"super"|"super+"|null, "class": "0x00",
 *    "manufacturer", "product", "serial" (or null), "hub": bool}
 * sysfs_root NULL means "/sys" (for the strings only). */
JsonNode *host_usb_list(const char *sysfs_root, GError **error);

/* The bus-port path of the one device a spec names, from a list made by
 * host_usb_list(): NOT_FOUND when none matches, AMBIGUOUS when a VID:PID
 * matches several (then the paths are named, to pick one). */
char *host_usb_resolve(JsonNode *list, const UsbSpec *spec, GError **error);

#endif
