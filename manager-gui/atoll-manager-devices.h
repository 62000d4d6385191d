/* atoll-manager-devices.h - the Devices tab: the host's PCI functions by
 * IOMMU group with atolld's passthrough preflight verdict, and its USB
 * devices (GET /v1/host/pci, GET /v1/host/usb); the devices the shown
 * domain has are marked.  PCI rows Assign/Remove a function in the
 * domain's "pci" entries (PUT of the definition, after confirming the
 * group and slot that come along); USB rows of a running domain have a
 * switch that hot-plugs the device.  atolld's "device-changed" events
 * refresh the lists (debounced). */
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
/* The domain's definition was saved by Assign/Remove: "definition-saved"
 * (no arguments); the owner loads it again and passes it back with
 * atoll_manager_devices_set_definition(). */
/* Fetches both lists again (async). */
void atoll_manager_devices_reload(AtollManagerDevices *self);
/* A "device-changed" event from atolld: the lists are fetched again
 * shortly after (once for a burst), if they were shown before. */
void atoll_manager_devices_device_changed(AtollManagerDevices *self, JsonNode *event);
/* What the row buttons do.  Assign asks first (a dialog) when other
 * devices must come along; FALSE when there is no domain to change. */
gboolean atoll_manager_devices_assign(AtollManagerDevices *self, const char *address);
gboolean atoll_manager_devices_remove(AtollManagerDevices *self, const char *address);
/* What a USB row's switch does: hot-attach/detach @spec (async); the
 * outcome in a toast. */
gboolean atoll_manager_devices_set_usb(AtollManagerDevices *self, const char *spec,
				       gboolean attach);
/* Completed list fetches (tests). */
guint atoll_manager_devices_get_reloads(AtollManagerDevices *self);
/* The open Assign confirmation and its text (tests), or NULL. */
AdwMessageDialog *atoll_manager_devices_get_confirmation(AtollManagerDevices *self,
							 const char **body);
/* "loading", "list" or "unavailable" (tests). */
const char *atoll_manager_devices_get_page(AtollManagerDevices *self);
guint atoll_manager_devices_get_n_pci(AtollManagerDevices *self);
guint atoll_manager_devices_get_n_usb(AtollManagerDevices *self);
/* The row of a PCI address or USB id/path (tests), or NULL. */
AdwActionRow *atoll_manager_devices_find_row(AtollManagerDevices *self, const char *id);

G_END_DECLS
