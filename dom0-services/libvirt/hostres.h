/* Host resources through libvirt: virtual networks, taps for domain NICs,
 * host PCI/USB devices, and import of existing libvirt domains.
 *
 * libvirt is only the host-resource layer here; domains run in atoll-vmm.
 * Everything that talks to libvirt goes through the libvirt C API on an
 * AtollLibvirt connection.  Errors are GErrors in ATOLL_LIBVIRT_ERROR whose
 * message says what went wrong and what to do.  See docs/libvirt.md. */
#ifndef ATOLL_LIBVIRT_HOSTRES_H
#define ATOLL_LIBVIRT_HOSTRES_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdbool.h>

#define ATOLL_LIBVIRT_ERROR atoll_libvirt_error_quark()
GQuark atoll_libvirt_error_quark(void);

/* Error kinds, with the atolld API error each maps to (docs/api.md). */
typedef enum {
	ATOLL_LIBVIRT_ERROR_UNREACHABLE,  /* host-error: cannot connect to libvirt */
	ATOLL_LIBVIRT_ERROR_NOT_FOUND,    /* not-found: no such network/domain */
	ATOLL_LIBVIRT_ERROR_INACTIVE,     /* conflict: the network is not started */
	ATOLL_LIBVIRT_ERROR_UNSUPPORTED,  /* bad-request: Atoll cannot do this yet */
	ATOLL_LIBVIRT_ERROR_INVALID,      /* bad-request: bad argument or XML */
	ATOLL_LIBVIRT_ERROR_HOST,         /* host-error: a libvirt or kernel call failed */
} AtollLibvirtError;

#define ATOLL_LIBVIRT_DEFAULT_URI "qemu:///system"

/* ---- connection -------------------------------------------------------- */

typedef struct AtollLibvirt AtollLibvirt;

/* Open a read-write connection; uri NULL means ATOLL_LIBVIRT_DEFAULT_URI.
 * Tests use "test:///default" or "test:///abs/path/host.xml". */
AtollLibvirt *atoll_libvirt_open(const char *uri, GError **error);
void atoll_libvirt_close(AtollLibvirt *lv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AtollLibvirt, atoll_libvirt_close)
const char *atoll_libvirt_uri(const AtollLibvirt *lv);
/* The underlying connection, still owned by lv. */
virConnectPtr atoll_libvirt_conn(const AtollLibvirt *lv);
/* Where host facts libvirt does not report (IOMMU group, bound driver) are
 * read from.  Default "/sys" for local URIs; NULL (no fallback) for remote
 * and test:// URIs, whose devices are not this host's. */
void atoll_libvirt_set_sysfs_root(AtollLibvirt *lv, const char *root);

/* ---- networks (network.c) ------------------------------------------------ */

/* GET /v1/networks: a JSON array, sorted by name, of
 *   {"name", "bridge" (or null), "active", "autostart", "persistent",
 *    "forward": "nat"|"route"|"open"|"bridge"|...|"isolated",
 *    "ipv4": {"address", "prefix", "dhcp": {"start", "end"} or null} or null} */
JsonNode *atoll_libvirt_list_networks(AtollLibvirt *lv, GError **error);

/* The bridge a tap joins to attach a NIC to `network`: NOT_FOUND if there
 * is no such network, INACTIVE if it is not started, UNSUPPORTED if it has
 * no bridge (macvtap/hostdev forward modes).  Returns a new string. */
char *atoll_libvirt_network_bridge(AtollLibvirt *lv, const char *network,
				   GError **error);

/* ---- taps for domain NICs (tap.c) ----------------------------------------- */

/* The tap name of NIC `index` of `domain`: "atl-<domain>-<index>", at most
 * IFNAMSIZ-1 (15) characters.  When that does not fit, the domain part is
 * shortened and ends in 4 hex digits of a hash of the full domain name, so
 * names stay distinct and are the same every time (cleanup needs no state).
 * Returns a new string. */
char *atoll_tap_name(const char *domain, unsigned index);

/* Create the persistent tap `ifname` (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, the
 * flags atoll-vmm opens it with), owned by root, bring it up, and enslave
 * it to `bridge` (NULL: no bridge).  guest_mac (may be NULL) "52:54:..."
 * gives the tap the hardware address fe:54:..., so the bridge never adopts
 * it.  A tap already of that name is reused (left over from a crash).  On
 * failure nothing is left behind. */
bool atoll_tap_create(const char *ifname, const char *bridge,
		      const char *guest_mac, GError **error);

/* Delete tap `ifname`; one that does not exist is fine.  Refuses (INVALID)
 * to delete an interface that is not a tap. */
bool atoll_tap_delete(const char *ifname, GError **error);

/* Prepare NIC `index` of `domain` before atoll-vmm starts.  type is the
 * definition's nic type: "network" (tap on the network's bridge),
 * "isolated" (tap on no bridge) or "user" (UNSUPPORTED, see docs).  Returns
 * the tap name to pass as `--net tap=NAME` (new string), or NULL. */
char *atoll_libvirt_nic_setup(AtollLibvirt *lv, const char *domain,
			      unsigned index, const char *type,
			      const char *network, const char *mac,
			      GError **error);

/* Delete the taps of NICs 0..max_nics-1 of `domain` (after the VMM exited,
 * or at daemon start for domains that are not running).  Returns false
 * with the first error, after trying them all. */
bool atoll_libvirt_nics_teardown(const char *domain, unsigned max_nics,
				 GError **error);

/* ---- host devices (nodedev.c) --------------------------------------------- */

/* GET /v1/host/devices?type=pci|usb: a JSON array.  type NULL lists both;
 * anything else but "pci"/"usb" is INVALID.
 *   pci: {"type": "pci", "name", "address": "0000:01:00.0",
 *         "vendor_id": "0x10de", "vendor", "product_id", "product",
 *         "class": "0x030000", "driver", "iommu_group" (int),
 *         "iommu_group_devices": ["0000:01:00.1", ...] (the others)}
 *   usb: {"type": "usb", "name", "bus", "device", "port": "1-4",
 *         "vendor_id", "vendor", "product_id", "product", "driver"}
 * Unknown values are null. */
JsonNode *atoll_libvirt_list_host_devices(AtollLibvirt *lv, const char *type,
					  GError **error);

/* ---- import (import.c) ----------------------------------------------------- */

/* Convert libvirt domain XML into an Atoll domain definition (docs/api.md)
 * named new_name (NULL: the libvirt name).  *unmapped receives a new array
 * of strings, one per part that did not map ("disk vdb: format qcow2 is not
 * supported (raw only)").  Works without a connection. */
JsonNode *atoll_libvirt_domain_xml_to_def(const char *xml, const char *new_name,
					  GPtrArray **unmapped, GError **error);

/* POST /v1/import-libvirt: the same, for the domain `domain` on lv. */
JsonNode *atoll_libvirt_import(AtollLibvirt *lv, const char *domain,
			       const char *new_name, GPtrArray **unmapped,
			       GError **error);

#endif
