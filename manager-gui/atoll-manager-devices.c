/* atoll-manager-devices.c - see atoll-manager-devices.h.
 *
 * The groups are rebuilt from scratch on every reload: the lists are
 * short and change rarely (hot-plug), and this keeps no stale rows. */
#include "atoll-manager-devices.h"
#include "atoll-manager-util.h"

#include <glib/gi18n.h>

struct _AtollManagerDevices {
	AdwBin parent;

	GtkStack *stack;
	AdwStatusPage *unavailable_page;
	AdwPreferencesPage *page;
	GtkWidget *retry_button, *refresh_button;

	AtollClient *client;
	GCancellable *cancel;
	JsonNode *def;
	GPtrArray *groups;      /* AdwPreferencesGroup added to the page */
	GHashTable *rows;       /* id -> AdwActionRow */
	guint n_pci, n_usb, pending;
	char *failure;
	JsonNode *replies[2];   /* PCI, USB: shown in this order once both came */
};

G_DEFINE_FINAL_TYPE(AtollManagerDevices, atoll_manager_devices, ADW_TYPE_BIN)

/* ---- the domain's own devices ---- */

static gboolean domain_has(AtollManagerDevices *self, const char *member, const char *id,
			   const char *alt)
{
	JsonObject *o = self->def && JSON_NODE_HOLDS_OBJECT(self->def) ?
		json_node_get_object(self->def) : NULL;
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;
	if (!n || !JSON_NODE_HOLDS_ARRAY(n))
		return FALSE;
	JsonArray *a = json_node_get_array(n);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		const char *host = atoll_json_string(json_array_get_element(a, i), "host", NULL);
		if (host && (g_ascii_strcasecmp(host, id) == 0 ||
			     (alt && g_ascii_strcasecmp(host, alt) == 0)))
			return TRUE;
	}
	return FALSE;
}

/* ---- rows ---- */

static void clear_groups(AtollManagerDevices *self)
{
	for (guint i = 0; i < self->groups->len; i++)
		adw_preferences_page_remove(self->page, self->groups->pdata[i]);
	g_ptr_array_set_size(self->groups, 0);
	g_hash_table_remove_all(self->rows);
	self->n_pci = self->n_usb = 0;
}

static AdwPreferencesGroup *add_group(AtollManagerDevices *self, const char *title,
				      const char *description)
{
	AdwPreferencesGroup *g = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
	adw_preferences_group_set_title(g, title);
	if (description)
		adw_preferences_group_set_description(g, description);
	adw_preferences_page_add(self->page, g);
	g_ptr_array_add(self->groups, g);
	return g;
}

static AdwActionRow *add_row(AtollManagerDevices *self, AdwPreferencesGroup *g,
			     const char *id, const char *title, const char *subtitle,
			     const char *icon, const char *state)
{
	AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());
	adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(row), FALSE);
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
	adw_action_row_set_subtitle(row, subtitle);
	adw_action_row_set_subtitle_lines(row, 3);
	GtkWidget *img = gtk_image_new_from_icon_name(icon);
	atoll_set_accessible_label(img, state);
	gtk_widget_set_tooltip_text(img, state);
	adw_action_row_add_suffix(row, img);
	/* Read-only, but reachable with the keyboard so a screen reader
	 * reads each device. */
	gtk_widget_set_focusable(GTK_WIDGET(row), TRUE);
	g_autofree char *a11y = g_strdup_printf("%s. %s. %s", title, subtitle, state);
	atoll_set_accessible_label(GTK_WIDGET(row), a11y);
	adw_preferences_group_add(g, GTK_WIDGET(row));
	g_hash_table_insert(self->rows, g_strdup(id), row);
	return row;
}

/* The first failing (else warning) check's message: what the user needs. */
static const char *preflight_summary(JsonNode *pf, gboolean *passed, gboolean *warned)
{
	*passed = JSON_NODE_HOLDS_OBJECT(pf) &&
		  json_object_get_boolean_member_with_default(json_node_get_object(pf),
							      "passed", FALSE);
	*warned = FALSE;
	JsonNode *checks = JSON_NODE_HOLDS_OBJECT(pf) ?
		json_object_get_member(json_node_get_object(pf), "checks") : NULL;
	if (!checks || !JSON_NODE_HOLDS_ARRAY(checks))
		return NULL;
	JsonArray *a = json_node_get_array(checks);
	const char *warn = NULL;
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *c = json_array_get_element(a, i);
		const char *result = atoll_json_string(c, "result", "");
		if (g_str_equal(result, "fail"))
			return atoll_json_string(c, "message", NULL);
		if (g_str_equal(result, "warn") && !warn)
			warn = atoll_json_string(c, "message", NULL);
	}
	*warned = warn != NULL;
	return warn;
}

static gint by_group(gconstpointer a, gconstpointer b)
{
	JsonNode *x = *(JsonNode *const *)a, *y = *(JsonNode *const *)b;
	gint64 gx = atoll_json_int(x, "iommu_group", G_MAXINT32);
	gint64 gy = atoll_json_int(y, "iommu_group", G_MAXINT32);
	if (gx != gy)
		return gx < gy ? -1 : 1;
	return g_strcmp0(atoll_json_string(x, "address", ""), atoll_json_string(y, "address", ""));
}

static void show_pci(AtollManagerDevices *self, JsonArray *list)
{
	g_autoptr(GPtrArray) devs = g_ptr_array_new();
	for (guint i = 0; i < json_array_get_length(list); i++)
		g_ptr_array_add(devs, json_array_get_element(list, i));
	g_ptr_array_sort(devs, by_group);
	AdwPreferencesGroup *g = NULL;
	gint64 current = G_MININT64;
	for (guint i = 0; i < devs->len; i++) {
		JsonNode *d = devs->pdata[i];
		const char *addr = atoll_json_string(d, "address", "?");
		gint64 group = atoll_json_int(d, "iommu_group", -1);
		if (!g || group != current) {
			current = group;
			g_autofree char *title = group >= 0 ?
				g_strdup_printf(_("PCI · IOMMU Group %" G_GINT64_FORMAT), group) :
				g_strdup(_("PCI · No IOMMU Group"));
			g = add_group(self, title, group >= 0 ?
				_("A group passes through as a whole") :
				_("Without an IOMMU group nothing can be passed through; the "
				  "preflight says what to change"));
		}
		const char *product = atoll_json_string(d, "product", NULL);
		const char *vendor = atoll_json_string(d, "vendor", NULL);
		g_autofree char *ids = g_strdup_printf("%s:%s",
			atoll_json_string(d, "vendor_id", "?") + 2,
			atoll_json_string(d, "device_id", "?") + 2);
		g_autofree char *title = product ?
			g_strdup_printf("%s · %s%s%s", addr, vendor ? vendor : "", vendor ? " " : "",
					product) :
			g_strdup_printf("%s · %s", addr, ids);
		gboolean passed, warned;
		JsonNode *pf = json_object_get_member(json_node_get_object(d), "preflight");
		const char *why = pf ? preflight_summary(pf, &passed, &warned) : NULL;
		if (!pf)
			passed = warned = FALSE;
		const char *used = atoll_json_string(d, "used_by", NULL);
		gboolean ours = domain_has(self, "pci", addr, NULL);
		g_autofree char *subtitle = g_strdup_printf(_("class %s · driver %s%s%s%s%s"),
			atoll_json_string(d, "class", "?"),
			atoll_json_string(d, "driver", _("none")),
			used ? _(" · in use by ") : "", used ? used : "",
			why ? "\n" : "", why ? why : "");
		g_autofree char *state = g_strdup_printf("%s%s",
			passed ? (warned ? _("Preflight passed with a warning") : _("Preflight passed")) :
				 _("Preflight failed"),
			ours ? _("; assigned to this domain") : "");
		AdwActionRow *row = add_row(self, g, addr, title, subtitle,
			passed ? (warned ? "dialog-warning-symbolic" : "emblem-ok-symbolic") :
				 "action-unavailable-symbolic", state);
		if (ours)
			gtk_widget_add_css_class(GTK_WIDGET(row), "accent");
		self->n_pci++;
	}
}

static void show_usb(AtollManagerDevices *self, JsonArray *list)
{
	AdwPreferencesGroup *g = add_group(self, _("USB"),
		_("Devices on the host's USB ports (hubs left out)"));
	for (guint i = 0; i < json_array_get_length(list); i++) {
		JsonNode *d = json_array_get_element(list, i);
		if (JSON_NODE_HOLDS_OBJECT(d) &&
		    json_object_get_boolean_member_with_default(json_node_get_object(d), "hub", FALSE))
			continue;
		const char *id = atoll_json_string(d, "id", "?");
		const char *path = atoll_json_string(d, "path", NULL);
		const char *product = atoll_json_string(d, "product", NULL);
		const char *mfr = atoll_json_string(d, "manufacturer", NULL);
		g_autofree char *title = g_strdup_printf("%s · %s%s%s", id, mfr ? mfr : "",
			mfr && product ? " " : "", product ? product : (mfr ? "" : _("unnamed device")));
		const char *used = atoll_json_string(d, "used_by", NULL);
		g_autofree char *subtitle = g_strdup_printf(_("port %s · %s speed%s%s"),
			path ? path : "?", atoll_json_string(d, "speed", "?"),
			used ? _(" · in use by ") : "", used ? used : "");
		gboolean ours = domain_has(self, "usb", id, path);
		AdwActionRow *row = add_row(self, g, path ? path : id, title, subtitle,
			ours ? "emblem-ok-symbolic" : "media-removable-symbolic",
			ours ? _("Assigned to this domain") : _("Available"));
		if (ours)
			gtk_widget_add_css_class(GTK_WIDGET(row), "accent");
		self->n_usb++;
	}
	if (!self->n_usb) {
		AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());
		adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), _("No USB devices"));
		adw_preferences_group_add(g, GTK_WIDGET(row));
	}
}

/* ---- loading ---- */

typedef struct {
	AtollManagerDevices *self;
	gboolean usb;
} Fetch;

static void fetched(GObject *src, GAsyncResult *res, gpointer data)
{
	Fetch *f = data;
	AtollManagerDevices *self = f->self;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_object_unref(self);
		g_free(f);
		return;
	}
	JsonArray *list = reply ? atoll_client_reply_array(reply, "devices") : NULL;
	if (list) {
		g_clear_pointer(&self->replies[f->usb], json_node_unref);
		self->replies[f->usb] = json_node_ref(reply);
	} else if (!self->failure) {
		/* A 404 is an atolld from before passthrough; anything else is
		 * the host's answer (no sysfs, no libusb), said as it is. */
		self->failure = atoll_client_error_get_status(error) == 404 ?
			g_strdup(_("This atolld does not list host devices yet: update Atoll on "
				   "the host to see its PCI and USB devices here.")) :
			g_strdup_printf(_("atolld could not list the host's %s devices: %s"),
					f->usb ? "USB" : "PCI",
					error ? error->message : _("the reply was not a list"));
	}
	if (--self->pending == 0) {
		for (int i = 0; i < 2; i++) {
			JsonArray *l = self->replies[i] ?
				atoll_client_reply_array(self->replies[i], "devices") : NULL;
			if (l && i == 0)
				show_pci(self, l);
			else if (l)
				show_usb(self, l);
			g_clear_pointer(&self->replies[i], json_node_unref);
		}
		if (self->failure && !self->n_pci && !self->n_usb) {
			adw_status_page_set_description(self->unavailable_page, self->failure);
			gtk_stack_set_visible_child_name(self->stack, "unavailable");
		} else {
			gtk_stack_set_visible_child_name(self->stack, "list");
		}
	}
	g_object_unref(self);
	g_free(f);
}

static void fetch(AtollManagerDevices *self, const char *path, gboolean usb)
{
	Fetch *f = g_new0(Fetch, 1);
	f->self = g_object_ref(self);
	f->usb = usb;
	self->pending++;
	atoll_client_request_async(self->client, "GET", path, NULL, self->cancel, fetched, f);
}

void atoll_manager_devices_reload(AtollManagerDevices *self)
{
	if (!self->client)
		return;
	g_cancellable_cancel(self->cancel);
	g_clear_object(&self->cancel);
	self->cancel = g_cancellable_new();
	self->pending = 0;
	g_clear_pointer(&self->failure, g_free);
	clear_groups(self);
	gtk_stack_set_visible_child_name(self->stack, "loading");
	for (int i = 0; i < 2; i++)
		g_clear_pointer(&self->replies[i], json_node_unref);
	fetch(self, "/v1/host/pci", FALSE);
	fetch(self, "/v1/host/usb", TRUE);
}

static void reload_activated(GtkWidget *widget, const char *action, GVariant *param)
{
	(void)action;
	(void)param;
	atoll_manager_devices_reload(ATOLL_MANAGER_DEVICES(widget));
}

/* ---- public ---- */

void atoll_manager_devices_set_client(AtollManagerDevices *self, AtollClient *client)
{
	g_set_object(&self->client, client);
}

void atoll_manager_devices_set_definition(AtollManagerDevices *self, JsonNode *def)
{
	g_clear_pointer(&self->def, json_node_unref);
	self->def = def ? json_node_ref(def) : NULL;
}

const char *atoll_manager_devices_get_page(AtollManagerDevices *self)
{
	return gtk_stack_get_visible_child_name(self->stack);
}

guint atoll_manager_devices_get_n_pci(AtollManagerDevices *self)
{
	return self->n_pci;
}

guint atoll_manager_devices_get_n_usb(AtollManagerDevices *self)
{
	return self->n_usb;
}

AdwActionRow *atoll_manager_devices_find_row(AtollManagerDevices *self, const char *id)
{
	return g_hash_table_lookup(self->rows, id);
}

/* ---- GObject ---- */

static void atoll_manager_devices_dispose(GObject *object)
{
	AtollManagerDevices *self = ATOLL_MANAGER_DEVICES(object);
	if (self->cancel)
		g_cancellable_cancel(self->cancel);
	/* No gtk_widget_dispose_template(): the template's root (stack) is
	 * AdwBin's child, which AdwBin unparents itself; doing it here too
	 * would unparent it twice. */
	G_OBJECT_CLASS(atoll_manager_devices_parent_class)->dispose(object);
}

static void atoll_manager_devices_finalize(GObject *object)
{
	AtollManagerDevices *self = ATOLL_MANAGER_DEVICES(object);
	g_clear_object(&self->cancel);
	g_clear_object(&self->client);
	g_clear_pointer(&self->def, json_node_unref);
	g_ptr_array_unref(self->groups);
	g_hash_table_unref(self->rows);
	g_free(self->failure);
	for (int i = 0; i < 2; i++)
		g_clear_pointer(&self->replies[i], json_node_unref);
	G_OBJECT_CLASS(atoll_manager_devices_parent_class)->finalize(object);
}

static void atoll_manager_devices_class_init(AtollManagerDevicesClass *klass)
{
	GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
	G_OBJECT_CLASS(klass)->dispose = atoll_manager_devices_dispose;
	G_OBJECT_CLASS(klass)->finalize = atoll_manager_devices_finalize;
	gtk_widget_class_set_template_from_resource(wc,
		"/org/atoll/Manager/atoll-manager-devices.ui");
	gtk_widget_class_bind_template_child(wc, AtollManagerDevices, stack);
	gtk_widget_class_bind_template_child(wc, AtollManagerDevices, unavailable_page);
	gtk_widget_class_bind_template_child(wc, AtollManagerDevices, page);
	gtk_widget_class_bind_template_child(wc, AtollManagerDevices, retry_button);
	gtk_widget_class_bind_template_child(wc, AtollManagerDevices, refresh_button);
	gtk_widget_class_install_action(wc, "devices.reload", NULL, reload_activated);
}

static void atoll_manager_devices_init(AtollManagerDevices *self)
{
	gtk_widget_init_template(GTK_WIDGET(self));
	self->groups = g_ptr_array_new();
	self->rows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->cancel = g_cancellable_new();
	atoll_set_accessible_label(self->retry_button, _("Read the device lists again"));
	atoll_set_accessible_label(self->refresh_button, _("Read the device lists again"));
}
