/* Host side of PCI passthrough (dom0): enumerate PCI functions with their
 * IOMMU groups from sysfs, check whether a device can be given to a domain
 * (preflight), and bind its IOMMU group to vfio-pci and back.
 *
 * Everything reads and writes under a sysfs root ("/sys" on a host; a
 * directory tree in the unit tests), and the original drivers of devices
 * bound to vfio-pci are remembered in STATE_DIR/pci-assignable.json, so
 * that release restores them even after a daemon restart.  Errors are
 * GErrors in HOST_PCI_ERROR whose message says what went wrong and what to
 * do.  See docs/gaming-vm.md and docs/api.md. */
#ifndef ATOLL_HOST_PCI_H
#define ATOLL_HOST_PCI_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#define HOST_PCI_ERROR host_pci_error_quark()
GQuark host_pci_error_quark(void);

typedef enum {
	HOST_PCI_ERROR_INVALID,    /* not a PCI address */
	HOST_PCI_ERROR_NOT_FOUND,  /* no such device on this host */
	HOST_PCI_ERROR_REFUSED,    /* preflight or ownership says no */
	HOST_PCI_ERROR_HOST,       /* a sysfs read or write failed */
} HostPciError;

/* "0000:01:00.0" */
#define HOST_PCI_BDF_LEN 13

typedef struct {
	char bdf[HOST_PCI_BDF_LEN];
	uint16_t vendor, device;
	uint32_t class_code;       /* 0x030000 = VGA */
	char *driver;              /* bound driver, NULL if none */
	char *driver_override;     /* NULL if none */
	int iommu_group;           /* -1: no IOMMU group (IOMMU off) */
	bool bridge;               /* header type != 0: may stay on its driver */
	bool boot_vga;             /* the firmware's console GPU */
	char *reset_method;        /* "flr bus", "" (none), NULL (kernel < 5.15) */
	bool has_reset;            /* the kernel offers some reset (file "reset") */
	bool has_rom;              /* the device has an expansion ROM BAR */
} HostPciDev;

void host_pci_dev_free(HostPciDev *dev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HostPciDev, host_pci_dev_free)

/* Writes `value` into sysfs file `path`.  The default writes the file;
 * unit tests install one that also plays the kernel's part on their tree. */
typedef bool (*HostPciWriteFn)(const char *path, const char *value,
			       void *data, GError **error);

typedef struct HostPci HostPci;

/* sysfs_root NULL means "/sys"; state_dir NULL disables make-assignable
 * and release (listing and preflight still work). */
HostPci *host_pci_new(const char *sysfs_root, const char *state_dir);
void host_pci_free(HostPci *hp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HostPci, host_pci_free)
void host_pci_set_writer(HostPci *hp, HostPciWriteFn fn, void *data);
const char *host_pci_sysfs_root(const HostPci *hp);

/* "1:0.0", "01:00.0", "0000:01:00.0" (hex, any case) -> "0000:01:00.0". */
bool host_pci_parse_bdf(const char *s, char out[HOST_PCI_BDF_LEN]);

/* One device, or NULL with NOT_FOUND / INVALID. */
HostPciDev *host_pci_get(HostPci *hp, const char *bdf, GError **error);
/* All PCI functions, sorted by address (HostPciDev*). */
GPtrArray *host_pci_list(HostPci *hp, GError **error);
/* The BDFs in the device's IOMMU group, itself included, sorted; with no
 * IOMMU group just the device.  NULL if the device does not exist. */
GPtrArray *host_pci_group(HostPci *hp, const char *bdf, GError **error);
/* The other functions of the same physical device (same domain:bus:slot),
 * sorted; empty for a single-function device. */
GPtrArray *host_pci_siblings(HostPci *hp, const char *bdf);
/* Whether the kernel has an IOMMU enabled (/sys/class/iommu not empty, or
 * IOMMU groups exist). */
bool host_pci_iommu_enabled(HostPci *hp);
/* Whether `driver` leaves a device free for a domain (vfio-pci, pci-stub,
 * or none). */
bool host_pci_driver_assignable(const char *driver);

/* ---- preflight ---- */

typedef enum { PREFLIGHT_OK, PREFLIGHT_WARN, PREFLIGHT_FAIL } PreflightLevel;

typedef struct {
	const char *check;         /* "present", "iommu", "group", "boot-vga", "reset", "rom" */
	PreflightLevel level;
	char *message;             /* why (and, unless OK, what to do) */
} PreflightResult;

typedef struct {
	bool force_boot_vga;       /* the user accepts losing the host console */
	bool quick;                /* no ROM read (enabling it writes to sysfs) */
	const char *rom_file;      /* the ROM a domain definition gives, or NULL */
	/* Devices that may still be on a host driver because the caller binds
	 * them to vfio-pci itself next (domain start); NULL-terminated. */
	const char *const *rebind;
} PreflightOptions;

/* Every check for bdf and its IOMMU group (PreflightResult*).  Never NULL. */
GPtrArray *host_pci_preflight(HostPci *hp, const char *bdf,
			      const PreflightOptions *opt);
/* True when no result is PREFLIGHT_FAIL. */
bool host_pci_preflight_passed(const GPtrArray *results);
/* The failures as one message ("; "-joined), or NULL if none. */
char *host_pci_preflight_summary(const GPtrArray *results);
/* {"address", "passed", "checks": [{"check", "result": "ok"|"warn"|"fail",
 * "message"}]} */
JsonNode *host_pci_preflight_to_json(const char *bdf, const GPtrArray *results);

/* ---- binding ---- */

/* Binds every endpoint of bdf's IOMMU group that is not on vfio-pci yet to
 * vfio-pci (driver_override, unbind, drivers_probe), after recording each
 * one's driver under `owner` ("user" or "domain:NAME") in the state file.
 * Bridges keep their driver.  On any failure the devices already moved get
 * their original drivers back and the record is dropped: no device is left
 * without its driver.  A group already bound stays as it is (its record
 * and owner too). */
bool host_pci_make_assignable(HostPci *hp, const char *bdf, const char *owner,
			      GError **error);
/* Gives every device of bdf's group that make_assignable moved its
 * original driver back and forgets it.  owner non-NULL: only devices
 * recorded for that owner.  A device never moved is left alone. */
bool host_pci_release(HostPci *hp, const char *bdf, const char *owner,
		      GError **error);
/* The recorded original driver of bdf ("" when it had none); NULL when
 * make_assignable did not move it.  *owner (may be NULL) gets the owner. */
char *host_pci_recorded_driver(HostPci *hp, const char *bdf, char **owner);

/* ---- JSON ---- */

/* {"address", "vendor_id": "0x8086", "device_id", "class": "0x020000",
 *  "driver" (or null), "iommu_group" (or null), "iommu_group_devices":
 *  [others], "functions": [siblings], "bridge", "boot_vga", "reset_method"
 *  (or null), "rom", "assignable", "original_driver" (recorded, or null)} */
JsonNode *host_pci_dev_to_json(HostPci *hp, const HostPciDev *dev);

#endif
