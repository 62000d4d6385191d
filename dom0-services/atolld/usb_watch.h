/* Host USB hot-plug for atolld: libusb's hot-plug callbacks, run on the
 * daemon's GLib main loop, become "device-changed" events {kind: "usb",
 * action: "added"|"removed", device: <a GET /v1/host/usb entry>, domain}.
 * See docs/usb.md ("Hot-plug events"). */
#ifndef ATOLLD_USB_WATCH_H
#define ATOLLD_USB_WATCH_H

#include "atolld.h"

/* Starts watching (d->usb_watch).  A host without USB (or a libusb
 * without hot-plug support) is logged once and not watched. */
void usb_watch_start(Atolld *d);
void usb_watch_stop(Atolld *d);

/* The events for going from listing `before` to listing `now` (both as
 * host_usb_list() makes them; NULL is an empty bus), removals first.  A
 * removed device that a running domain held is forgotten by it
 * (passthrough_usb_unplugged) and the event names that domain.  Returns
 * the events (JsonNode*, owned by the array), oldest first. */
GPtrArray *usb_watch_changes(Atolld *d, JsonNode *before, JsonNode *now);

#endif
