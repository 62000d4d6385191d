/* atoll-manager-devices.h - the Devices tab: the host's PCI functions by
 * IOMMU group with atolld's passthrough preflight verdict, and its USB
 * devices (GET /v1/host/pci, GET /v1/host/usb), read-only; the devices
 * the shown domain has are marked.  The picker that assigns them is for
 * later. */
#pragma once

#include <adwaita.h>
#include "atoll-client.h"

G_BEGIN_DECLS

#define ATOLL_TYPE_MANAGER_DEVICES (atoll_manager_devices_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerDevices, atoll_manager_devices, ATOLL, MANAGER_DEVICES,
		     AdwBin)

void atoll_manager_devices_set_client(AtollManagerDevices *self, AtollClient *client);
/* The shown domain's definition (its "pci" and "usb" members), or NULL. */
void atoll_manager_devices_set_definition(AtollManagerDevices *self, JsonNode *def);
/* Fetches both lists again (async). */
void atoll_manager_devices_reload(AtollManagerDevices *self);
/* "loading", "list" or "unavailable" (tests). */
const char *atoll_manager_devices_get_page(AtollManagerDevices *self);
guint atoll_manager_devices_get_n_pci(AtollManagerDevices *self);
guint atoll_manager_devices_get_n_usb(AtollManagerDevices *self);
/* The row of a PCI address or USB id/path (tests), or NULL. */
AdwActionRow *atoll_manager_devices_find_row(AtollManagerDevices *self, const char *id);

G_END_DECLS
