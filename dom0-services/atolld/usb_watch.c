/* Host USB hot-plug (usb_watch.h).
 *
 * libusb's event handling runs on atolld's GLib main loop: its pollfds
 * (libusb_get_pollfds, kept current through the pollfd notifiers) are
 * watched with g_unix_fd_add, and when one is readable the loop lets
 * libusb handle events without blocking.  So the hot-plug callback runs
 * on the main loop, next to the domain table and the event subscribers it
 * touches, with no thread and no locking.  (libusb's Linux backend keeps
 * its own udev-monitor thread; that one only wakes the context's event
 * fd, which is among the pollfds.)
 *
 * The callback only schedules a fresh listing: the listing is diffed
 * against the last one, so a burst of events (a hub with devices behind
 * it) is one pass, and an event carries exactly the object GET
 * /v1/host/usb shows — for a removed device, as it was last listed.
 * Devices are keyed by bus and address; a device plugged in again gets a
 * new address, so an unplug and re-plug between two passes is still a
 * removal and an addition. */
#include "usb_watch.h"
#include "host_usb.h"

#include <glib-unix.h>
#include <libusb.h>
#include <poll.h>
#include <string.h>

#ifdef ATOLLD_HAVE_EVENTS
#include "vmm_client.h"
#endif

/* Lets the kernel finish the device (sysfs strings, a hub's children)
 * before it is listed, and folds bursts into one pass. */
#define SETTLE_MS 150

typedef struct {
	Atolld *d;
	libusb_context *ctx;
	libusb_hotplug_callback_handle cb;
	GHashTable *fds;     /* fd -> GSource id */
	JsonNode *listed;    /* the last listing */
	guint settle;
} UsbWatch;

static char *dev_key(JsonObject *o)
{
	return g_strdup_printf("%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT,
			       json_object_get_int_member_with_default(o, "bus", -1),
			       json_object_get_int_member_with_default(o, "address", -1));
}

/* Element i of a listing if it is an object (a listing is data). */
static JsonObject *entry_at(JsonArray *a, guint i)
{
	JsonNode *n = json_array_get_element(a, i);
	return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* key -> JsonObject of a listing (borrowed). */
static GHashTable *by_key(JsonNode *list)
{
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	JsonArray *a = list && JSON_NODE_HOLDS_ARRAY(list) ? json_node_get_array(list) : NULL;

	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *o = entry_at(a, i);
		if (o)
			g_hash_table_insert(h, dev_key(o), o);
	}
	return h;
}

static bool id_unique(JsonNode *list, const char *id)
{
	JsonArray *a = list && JSON_NODE_HOLDS_ARRAY(list) ? json_node_get_array(list) : NULL;
	guint n = 0;

	for (guint i = 0; id && a && i < json_array_get_length(a); i++) {
		JsonObject *o = entry_at(a, i);
		n += o && !g_strcmp0(json_object_get_string_member_with_default(o, "id", NULL), id);
	}
	return n == 1;
}

static JsonNode *make_event(JsonObject *dev, const char *action, Domain *dom)
{
	JsonObject *copy = json_object_new();
	JsonObject *ev = json_object_new();
	JsonNode *root = json_node_new(JSON_NODE_OBJECT);
	GList *members = json_object_get_members(dev);

	for (GList *l = members; l; l = l->next)
		json_object_set_member(copy, l->data,
				       json_node_copy(json_object_get_member(dev, l->data)));
	g_list_free(members);
	/* As GET /v1/host/usb shows it: a removed device as last listed. */
	if (dom)
		json_object_set_string_member(copy, "used_by", dom->name);
	else
		json_object_set_null_member(copy, "used_by");
	json_object_set_string_member(ev, "type", "device-changed");
	json_object_set_string_member(ev, "kind", "usb");
	json_object_set_object_member(ev, "device", copy);
	if (dom && !strcmp(action, "removed"))
		json_object_set_string_member(ev, "domain", dom->name);
	else
		json_object_set_null_member(ev, "domain");
	json_object_set_string_member(ev, "action", action);
	json_node_take_object(root, ev);
	return root;
}

static void add_changes(Atolld *d, JsonNode *from, GHashTable *other,
			bool removed, GPtrArray *out)
{
	JsonArray *a = from && JSON_NODE_HOLDS_ARRAY(from) ? json_node_get_array(from) : NULL;

	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *o = entry_at(a, i);
		g_autofree char *key = o ? dev_key(o) : NULL;
		if (!o || g_hash_table_contains(other, key))
			continue;
		const char *id = json_object_get_string_member_with_default(o, "id", NULL);
		const char *path = json_object_get_string_member_with_default(o, "path", NULL);
		bool unique = id_unique(from, id);
		Domain *dom = removed ? passthrough_usb_unplugged(d, id, path, unique)
				      : passthrough_usb_user(d, id, path, unique);
		g_ptr_array_add(out, make_event(o, removed ? "removed" : "added", dom));
	}
}

GPtrArray *usb_watch_changes(Atolld *d, JsonNode *before, JsonNode *now)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_autoptr(GHashTable) old_keys = by_key(before);
	g_autoptr(GHashTable) new_keys = by_key(now);

	/* Removals first: a hold is dropped before a re-plugged device shows. */
	add_changes(d, before, new_keys, true, out);
	add_changes(d, now, old_keys, false, out);
	return out;
}

/* ---- on the main loop ---- */

static gboolean rescan(gpointer data)
{
	UsbWatch *w = data;
	g_autoptr(GError) e = NULL;
	JsonNode *now = host_usb_list(w->d->sysfs_root, &e);

	w->settle = 0;
	if (!now) {
		g_warning("USB hot-plug: cannot list the host's USB devices: %s",
			  e->message);
		return G_SOURCE_REMOVE;
	}
	g_autoptr(GPtrArray) evs = usb_watch_changes(w->d, w->listed, now);
	for (guint i = 0; i < evs->len; i++) {
		JsonObject *ev = json_node_get_object(evs->pdata[i]);
		JsonObject *dev = json_object_get_object_member(ev, "device");
		const char *dom = json_object_get_string_member_with_default(ev, "domain", NULL);
		g_message("USB %s %s (%s)%s%s",
			  json_object_get_string_member_with_default(dev, "id", "?"),
			  json_object_get_string_member(ev, "action"),
			  json_object_get_string_member_with_default(dev, "path", "root hub"),
			  dom ? ", it was attached to domain " : "", dom ? dom : "");
#ifdef ATOLLD_HAVE_EVENTS
		events_emit(w->d, json_node_ref(evs->pdata[i]));
#endif
	}
	if (w->listed)
		json_node_unref(w->listed);
	w->listed = now;
	return G_SOURCE_REMOVE;
}

static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev,
				  libusb_hotplug_event ev, void *data)
{
	UsbWatch *w = data;
	(void)ctx, (void)dev, (void)ev;
	/* Called from libusb_handle_events on the main loop; no libusb calls
	 * on this context from in here, so the listing comes later. */
	if (!w->settle)
		w->settle = g_timeout_add(SETTLE_MS, rescan, w);
	return 0;   /* stay registered */
}

static gboolean on_fd(int fd, GIOCondition cond, gpointer data)
{
	UsbWatch *w = data;
	struct timeval zero = { 0, 0 };
	(void)fd, (void)cond;
	libusb_handle_events_timeout_completed(w->ctx, &zero, NULL);
	return G_SOURCE_CONTINUE;
}

static void watch_fd(UsbWatch *w, int fd, short events)
{
	GIOCondition cond = (events & POLLIN ? G_IO_IN : 0) |
			    (events & POLLOUT ? G_IO_OUT : 0) | G_IO_ERR | G_IO_HUP;
	guint id = g_unix_fd_add(fd, cond, on_fd, w);
	gpointer old;

	if (g_hash_table_lookup_extended(w->fds, GINT_TO_POINTER(fd), NULL, &old))
		g_source_remove(GPOINTER_TO_UINT(old));
	g_hash_table_insert(w->fds, GINT_TO_POINTER(fd), GUINT_TO_POINTER(id));
}

static void LIBUSB_CALL fd_added(int fd, short events, void *data)
{
	watch_fd(data, fd, events);
}

static void LIBUSB_CALL fd_removed(int fd, void *data)
{
	UsbWatch *w = data;
	gpointer id;

	if (g_hash_table_lookup_extended(w->fds, GINT_TO_POINTER(fd), NULL, &id)) {
		g_source_remove(GPOINTER_TO_UINT(id));
		g_hash_table_remove(w->fds, GINT_TO_POINTER(fd));
	}
}

static void watch_free(UsbWatch *w)
{
	GHashTableIter it;
	gpointer id;

	if (w->ctx) {
		if (w->cb)
			libusb_hotplug_deregister_callback(w->ctx, w->cb);
		libusb_set_pollfd_notifiers(w->ctx, NULL, NULL, NULL);
	}
	g_hash_table_iter_init(&it, w->fds);
	while (g_hash_table_iter_next(&it, NULL, &id))
		g_source_remove(GPOINTER_TO_UINT(id));
	g_hash_table_destroy(w->fds);
	if (w->settle)
		g_source_remove(w->settle);
	if (w->ctx)
		libusb_exit(w->ctx);
	if (w->listed)
		json_node_unref(w->listed);
	g_free(w);
}

void usb_watch_start(Atolld *d)
{
	UsbWatch *w = g_new0(UsbWatch, 1);
	int r;

	w->d = d;
	w->fds = g_hash_table_new(g_direct_hash, g_direct_equal);
	if (!libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
		g_message("USB hot-plug: this libusb cannot report it; plugged "
			  "devices show in GET /v1/host/usb but raise no events");
		watch_free(w);
		return;
	}
	r = libusb_init(&w->ctx);
	if (r) {
		w->ctx = NULL;
		g_message("USB hot-plug not watched: libusb: %s (a host without "
			  "USB support?)", libusb_strerror(r));
		watch_free(w);
		return;
	}
	const struct libusb_pollfd **fds = libusb_get_pollfds(w->ctx);
	for (size_t i = 0; fds && fds[i]; i++)
		watch_fd(w, fds[i]->fd, fds[i]->events);
	libusb_free_pollfds(fds);
	libusb_set_pollfd_notifiers(w->ctx, fd_added, fd_removed, w);
	r = libusb_hotplug_register_callback(w->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
					     LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
					     LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
					     LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, w, &w->cb);
	if (r) {
		w->cb = 0;
		g_warning("USB hot-plug not watched: libusb: %s", libusb_strerror(r));
		watch_free(w);
		return;
	}
	/* What is plugged in now is the baseline, not news. */
	w->listed = host_usb_list(d->sysfs_root, NULL);
	d->usb_watch = w;
}

void usb_watch_stop(Atolld *d)
{
	if (d->usb_watch)
		watch_free(d->usb_watch);
	d->usb_watch = NULL;
}
