/* atoll-manager-devices.c - see atoll-manager-devices.h.
 *
 * The groups are rebuilt from scratch on every reload: the lists are
 * short and change rarely (hot-plug), and this keeps no stale rows.  The
 * old rows stay up until the new lists are in, so a live refresh does not
 * flash the loading page, and the focused row gets the focus back. */
#include "atoll-manager-devices.h"
#include "atoll-manager-util.h"
#include "atoll-manager-window.h"

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

	char *domain;           /* the shown domain's name */
	gboolean live;          /* it runs (or is paused): USB can be hot-plugged */
	gboolean loaded;        /* the lists were asked for once */
	guint debounce_id, reloads;
	JsonNode *pci;          /* the PCI list shown (companions of an Assign) */
	AdwMessageDialog *confirm;
	char *confirm_body;
};

enum { SIG_DEFINITION_SAVED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* Coalesces a burst of events (a hub with four devices) into one fetch. */
#define DEBOUNCE_MS 300

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

static void toast(AtollManagerDevices *self, const char *text, const GError *error)
{
	GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
	if (!ATOLL_IS_MANAGER_WINDOW(root))
		return;
	if (error)
		atoll_manager_window_toast_error(ATOLL_MANAGER_WINDOW(root), text, error);
	else
		atoll_manager_window_toast(ATOLL_MANAGER_WINDOW(root), text);
}

static JsonArray *pci_list(AtollManagerDevices *self)
{
	return self->pci ? atoll_client_reply_array(self->pci, "devices") : NULL;
}

static JsonNode *pci_device(AtollManagerDevices *self, const char *addr)
{
	JsonArray *l = pci_list(self);
	for (guint i = 0; l && i < json_array_get_length(l); i++) {
		JsonNode *d = json_array_get_element(l, i);
		if (g_ascii_strcasecmp(atoll_json_string(d, "address", ""), addr) == 0)
			return d;
	}
	return NULL;
}

/* "0000:00:1f.3" and "0000:00:1f.0" are functions of one slot. */
static gboolean same_slot(const char *a, const char *b)
{
	const char *dot = strrchr(a, '.');
	if (!dot)
		return FALSE;
	gsize n = (gsize)(dot - a) + 1;
	return strlen(b) > n && g_ascii_strncasecmp(a, b, n) == 0;
}

static gboolean is_bridge(JsonNode *d)
{
	/* Host and PCI-to-PCI bridges stay with the host's kernel; only
	 * endpoints are assigned. */
	const char *class = atoll_json_string(d, "class", "");
	return g_str_has_prefix(class, "0x0600") || g_str_has_prefix(class, "0x0604");
}

/* What must come along with @addr that the domain does not have yet:
 * the other endpoints of its IOMMU group, and the other functions of its
 * slot (atolld refuses a definition that splits a multi-function device).
 * Appends one line per device to @lines. */
static GPtrArray *companions(AtollManagerDevices *self, const char *addr, GString *lines)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	JsonNode *me = pci_device(self, addr);
	gint64 group = me ? atoll_json_int(me, "iommu_group", -1) : -1;
	JsonArray *l = pci_list(self);
	for (guint i = 0; l && i < json_array_get_length(l); i++) {
		JsonNode *d = json_array_get_element(l, i);
		const char *other = atoll_json_string(d, "address", NULL);
		if (!other || g_ascii_strcasecmp(other, addr) == 0 ||
		    domain_has(self, "pci", other, NULL))
			continue;
		gboolean slot = same_slot(addr, other);
		gboolean grp = group >= 0 && atoll_json_int(d, "iommu_group", -1) == group &&
			       !is_bridge(d);
		if (!slot && !grp)
			continue;
		g_ptr_array_add(out, g_strdup(other));
		const char *product = atoll_json_string(d, "product", NULL);
		g_string_append_printf(lines, "\n• %s%s%s (%s)", other, product ? " · " : "",
				       product ? product : "",
				       slot ? _("another function of the same slot") :
					      _("same IOMMU group"));
	}
	return out;
}

/* ---- changing the definition (PUT) and the run (USB) ---- */

typedef struct {
	AtollManagerDevices *self;
	char *ok, *failed;
	gboolean saved_definition;
} Op;

static Op *op_new(AtollManagerDevices *self, char *ok, char *failed, gboolean def)
{
	Op *op = g_new0(Op, 1);
	op->self = g_object_ref(self);
	op->ok = ok;
	op->failed = failed;
	op->saved_definition = def;
	return op;
}

static void op_free(Op *op)
{
	g_object_unref(op->self);
	g_free(op->ok);
	g_free(op->failed);
	g_free(op);
}

static void schedule_reload(AtollManagerDevices *self);

static void op_done(GObject *src, GAsyncResult *res, gpointer data)
{
	Op *op = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		op_free(op);
		return;
	}
	/* atolld's message says what is wrong and what to do ("…must go to
	 * the same domain — add … to pci", "start the domain first"). */
	toast(op->self, reply ? op->ok : op->failed, reply ? NULL : error);
	if (reply && op->saved_definition)
		g_signal_emit(op->self, signals[SIG_DEFINITION_SAVED], 0);
	/* A failed attach leaves the switch where it was: the rows are
	 * rebuilt from atolld's answer either way. */
	schedule_reload(op->self);
	op_free(op);
}

/* PUT the definition with @add appended to and @remove dropped from its
 * "pci" entries (other members as they were, like the settings page). */
static void put_pci(AtollManagerDevices *self, GPtrArray *add, GPtrArray *remove,
		    char *ok, char *failed)
{
	JsonObject *src = json_node_get_object(self->def);
	JsonObject *obj = json_object_new();
	GList *members = json_object_get_members(src);
	for (GList *l = members; l; l = l->next)
		if (!g_str_equal(l->data, "status") && !g_str_equal(l->data, "pci"))
			json_object_set_member(obj, l->data,
					       json_node_copy(json_object_get_member(src, l->data)));
	g_list_free(members);
	JsonArray *pci = json_array_new();
	JsonNode *old = json_object_get_member(src, "pci");
	JsonArray *oa = old && JSON_NODE_HOLDS_ARRAY(old) ? json_node_get_array(old) : NULL;
	for (guint i = 0; oa && i < json_array_get_length(oa); i++) {
		JsonNode *e = json_array_get_element(oa, i);
		const char *host = atoll_json_string(e, "host", "");
		gboolean drop = FALSE;
		for (guint j = 0; remove && j < remove->len; j++)
			drop |= g_ascii_strcasecmp(host, remove->pdata[j]) == 0;
		if (!drop)
			json_array_add_element(pci, json_node_copy(e));
	}
	for (guint j = 0; add && j < add->len; j++) {
		if (domain_has(self, "pci", add->pdata[j], NULL))
			continue;
		JsonObject *e = json_object_new();
		json_object_set_string_member(e, "host", add->pdata[j]);
		json_array_add_object_element(pci, e);
	}
	json_object_set_array_member(obj, "pci", pci);
	g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
	json_node_take_object(body, obj);
	g_autofree char *path = atoll_client_domain_path(self->domain, NULL);
	atoll_client_request_async(self->client, "PUT", path, body, self->cancel, op_done,
				   op_new(self, ok, failed, TRUE));
}

static void assign_now(AtollManagerDevices *self, const char *addr, GPtrArray *more)
{
	g_autoptr(GPtrArray) add = g_ptr_array_new();
	g_ptr_array_add(add, (gpointer)addr);
	for (guint i = 0; more && i < more->len; i++)
		g_ptr_array_add(add, more->pdata[i]);
	put_pci(self, add, NULL,
		add->len > 1 ?
			g_strdup_printf(_("%s and %u more assigned to “%s”; they are taken "
					  "from the host at its next start"),
					addr, add->len - 1, self->domain) :
			g_strdup_printf(_("%s assigned to “%s”; it is taken from the host at "
					  "its next start"), addr, self->domain),
		g_strdup_printf(_("Could not assign %s to “%s”"), addr, self->domain));
}

typedef struct {
	AtollManagerDevices *self;
	char *addr;
	GPtrArray *more;
	gboolean answered;
} Confirm;

static void confirm_free(gpointer data, GClosure *closure)
{
	Confirm *c = data;
	(void)closure;
	g_object_unref(c->self);
	g_free(c->addr);
	g_ptr_array_unref(c->more);
	g_free(c);
}

/* Closing the dialog after a button can answer a second time (the close
 * response): only the first answer counts. */
static void confirm_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
	Confirm *c = data;
	(void)dialog;
	if (c->answered)
		return;
	c->answered = TRUE;
	if (g_str_equal(response, "assign") && c->self->def && c->self->domain)
		assign_now(c->self, c->addr, c->more);
}

gboolean atoll_manager_devices_assign(AtollManagerDevices *self, const char *addr)
{
	if (!self->client || !self->def || !self->domain || !addr)
		return FALSE;
	g_autoptr(GString) lines = g_string_new(NULL);
	g_autoptr(GPtrArray) more = companions(self, addr, lines);
	if (!more->len) {
		assign_now(self, addr, NULL);
		return TRUE;
	}
	JsonNode *me = pci_device(self, addr);
	JsonNode *pf = me ? json_object_get_member(json_node_get_object(me), "preflight") : NULL;
	gboolean passed = FALSE, warned = FALSE;
	const char *why = pf ? preflight_summary(pf, &passed, &warned) : NULL;
	g_autofree char *heading = g_strdup_printf(_("Assign %s and %u More to “%s”?"), addr,
						   more->len, self->domain);
	g_free(self->confirm_body);
	self->confirm_body = g_strdup_printf(
		_("A device goes to a domain with its whole IOMMU group and all functions of "
		  "its slot, so these come along:%s\n\nThe host loses them when “%s” next "
		  "starts.%s%s"),
		lines->str, self->domain,
		!passed && why ? _("\n\nThe preflight fails for now: ") : "",
		!passed && why ? why : "");
	GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
	AdwMessageDialog *d = ADW_MESSAGE_DIALOG(adw_message_dialog_new(
		GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL, heading, self->confirm_body));
	adw_message_dialog_add_responses(d, "cancel", _("_Cancel"), "assign", _("_Assign All"),
					 NULL);
	adw_message_dialog_set_response_appearance(d, "assign", ADW_RESPONSE_SUGGESTED);
	adw_message_dialog_set_default_response(d, "cancel");
	adw_message_dialog_set_close_response(d, "cancel");
	Confirm *c = g_new0(Confirm, 1);
	c->self = g_object_ref(self);
	c->addr = g_strdup(addr);
	c->more = g_ptr_array_ref(more);
	g_signal_connect_data(d, "response", G_CALLBACK(confirm_response), c, confirm_free, 0);
	if (self->confirm)
		g_object_remove_weak_pointer(G_OBJECT(self->confirm), (gpointer *)&self->confirm);
	self->confirm = d;
	g_object_add_weak_pointer(G_OBJECT(d), (gpointer *)&self->confirm);
	gtk_window_present(GTK_WINDOW(d));
	return TRUE;
}

gboolean atoll_manager_devices_remove(AtollManagerDevices *self, const char *addr)
{
	if (!self->client || !self->def || !self->domain || !addr)
		return FALSE;
	/* The slot's other functions go too: atolld refuses half a
	 * multi-function device. */
	g_autoptr(GPtrArray) remove = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(remove, g_strdup(addr));
	JsonNode *pci = json_object_get_member(json_node_get_object(self->def), "pci");
	JsonArray *a = pci && JSON_NODE_HOLDS_ARRAY(pci) ? json_node_get_array(pci) : NULL;
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		const char *host = atoll_json_string(json_array_get_element(a, i), "host", "");
		if (g_ascii_strcasecmp(host, addr) != 0 && same_slot(addr, host))
			g_ptr_array_add(remove, g_strdup(host));
	}
	put_pci(self, NULL, remove,
		remove->len > 1 ?
			g_strdup_printf(_("%s and the %u other functions of its slot removed "
					  "from “%s”; the host keeps them from its next start"),
					addr, remove->len - 1, self->domain) :
			g_strdup_printf(_("%s removed from “%s”; the host keeps it from its "
					  "next start"), addr, self->domain),
		g_strdup_printf(_("Could not remove %s from “%s”"), addr, self->domain));
	return TRUE;
}

gboolean atoll_manager_devices_set_usb(AtollManagerDevices *self, const char *spec,
				       gboolean attach)
{
	if (!self->client || !self->domain || !spec)
		return FALSE;
	atoll_client_usb_attach_async(self->client, self->domain, spec, attach, self->cancel,
		op_done, op_new(self,
			attach ? g_strdup_printf(_("%s attached to “%s”"), spec, self->domain) :
				 g_strdup_printf(_("%s detached from “%s”"), spec, self->domain),
			attach ? g_strdup_printf(_("Could not attach %s to “%s”"), spec,
						 self->domain) :
				 g_strdup_printf(_("Could not detach %s from “%s”"), spec,
						 self->domain),
			FALSE));
	return TRUE;
}

/* A cancelled dialog gives the button back; an answer rebuilds the rows. */
static void give_back(GtkWidget *button, const char *response)
{
	if (!g_str_equal(response, "assign"))
		gtk_widget_set_sensitive(button, TRUE);
}

static void pci_clicked(GtkButton *button, gpointer data)
{
	AtollManagerDevices *self = data;
	const char *addr = g_object_get_data(G_OBJECT(button), "address");
	AdwMessageDialog *before = self->confirm;
	gtk_widget_set_sensitive(GTK_WIDGET(button), FALSE);
	if (g_object_get_data(G_OBJECT(button), "remove"))
		atoll_manager_devices_remove(self, addr);
	else if (!atoll_manager_devices_assign(self, addr))
		gtk_widget_set_sensitive(GTK_WIDGET(button), TRUE);
	if (self->confirm && self->confirm != before)
		g_signal_connect_object(self->confirm, "response", G_CALLBACK(give_back), button,
					G_CONNECT_SWAPPED);
}

static gboolean usb_state_set(GtkSwitch *sw, gboolean state, gpointer data)
{
	AtollManagerDevices *self = data;
	/* Insensitive until atolld answered; the reload then sets it. */
	gtk_widget_set_sensitive(GTK_WIDGET(sw), FALSE);
	atoll_manager_devices_set_usb(self, g_object_get_data(G_OBJECT(sw), "spec"), state);
	return TRUE;
}

/* Assign or Remove on a PCI row; none for a device another domain has. */
static void add_pci_button(AtollManagerDevices *self, AdwActionRow *row, const char *addr,
			   gboolean ours)
{
	GtkWidget *b = gtk_button_new_with_mnemonic(ours ? _("_Remove") : _("_Assign"));
	gtk_widget_set_valign(b, GTK_ALIGN_CENTER);
	g_autofree char *a11y = ours ?
		g_strdup_printf(_("Remove %s from %s"), addr, self->domain) :
		g_strdup_printf(_("Assign %s to %s"), addr, self->domain);
	atoll_set_accessible_label(b, a11y);
	gtk_widget_set_tooltip_text(b, a11y);
	g_object_set_data_full(G_OBJECT(b), "address", g_strdup(addr), g_free);
	if (ours)
		g_object_set_data(G_OBJECT(b), "remove", GINT_TO_POINTER(1));
	g_signal_connect(b, "clicked", G_CALLBACK(pci_clicked), self);
	adw_action_row_add_suffix(row, b);
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
		if (!JSON_NODE_HOLDS_OBJECT(d))
			continue;
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
		const char *vid = atoll_json_string(d, "vendor_id", "0x?");
		const char *did = atoll_json_string(d, "device_id", "0x?");
		g_autofree char *ids = g_strdup_printf("%s:%s", strlen(vid) > 2 ? vid + 2 : vid,
						       strlen(did) > 2 ? did + 2 : did);
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
		if (self->domain && (!used || g_strcmp0(used, self->domain) == 0) && !is_bridge(d))
			add_pci_button(self, row, addr, ours);
		self->n_pci++;
	}
}

/* A switch that hot-plugs the device into the running domain. */
static void add_usb_switch(AtollManagerDevices *self, AdwActionRow *row, const char *spec,
			   gboolean attached)
{
	GtkWidget *sw = gtk_switch_new();
	gtk_widget_set_valign(sw, GTK_ALIGN_CENTER);
	gtk_switch_set_active(GTK_SWITCH(sw), attached);
	g_autofree char *a11y = g_strdup_printf(_("Attach %s to %s while it runs"), spec,
						self->domain);
	atoll_set_accessible_label(sw, a11y);
	gtk_widget_set_tooltip_text(sw, a11y);
	g_object_set_data_full(G_OBJECT(sw), "spec", g_strdup(spec), g_free);
	g_signal_connect(sw, "state-set", G_CALLBACK(usb_state_set), self);
	adw_action_row_add_suffix(row, sw);
	adw_action_row_set_activatable_widget(row, sw);
}

static void show_usb(AtollManagerDevices *self, JsonArray *list)
{
	AdwPreferencesGroup *g = add_group(self, _("USB"), self->live ?
		_("Devices on the host's USB ports (hubs left out). A switch plugs one into "
		  "the running domain until it stops; its “usb” setting gives it at every "
		  "start") :
		_("Devices on the host's USB ports (hubs left out). Start the domain to "
		  "plug them in while it runs"));
	for (guint i = 0; i < json_array_get_length(list); i++) {
		JsonNode *d = json_array_get_element(list, i);
		if (!JSON_NODE_HOLDS_OBJECT(d) ||
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
		gboolean mine = used && g_strcmp0(used, self->domain) == 0;
		g_autofree char *other = used && !mine ?
			g_strdup_printf(_("In use by %s"), used) : NULL;
		AdwActionRow *row = add_row(self, g, path ? path : id, title, subtitle,
			ours || mine ? "emblem-ok-symbolic" : "media-removable-symbolic",
			other ? other : mine ? _("Attached to this domain") :
			ours ? _("Assigned to this domain") : _("Available"));
		if (ours || mine)
			gtk_widget_add_css_class(GTK_WIDGET(row), "accent");
		/* The port path names one device; two alike share an id. */
		if (self->live && self->domain && !other)
			add_usb_switch(self, row, path ? path : id, mine);
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

/* The id of the row that has the focus (or a widget in it), or NULL. */
static char *focused_row(AtollManagerDevices *self)
{
	GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
	GtkWidget *focus = root ? gtk_root_get_focus(root) : NULL;
	if (!focus)
		return NULL;
	GHashTableIter it;
	gpointer id, row;
	g_hash_table_iter_init(&it, self->rows);
	while (g_hash_table_iter_next(&it, &id, &row))
		if (focus == row || gtk_widget_is_ancestor(focus, row))
			return g_strdup(id);
	return NULL;
}

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
		g_autofree char *focused = focused_row(self);
		clear_groups(self);
		g_clear_pointer(&self->pci, json_node_unref);
		if (self->replies[0])
			self->pci = json_node_ref(self->replies[0]);
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
		GtkWidget *row = focused ? g_hash_table_lookup(self->rows, focused) : NULL;
		if (row)
			gtk_widget_grab_focus(row);
		self->reloads++;
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
	self->loaded = TRUE;
	g_clear_handle_id(&self->debounce_id, g_source_remove);
	g_clear_pointer(&self->failure, g_free);
	/* A shown list stays until the new one is in. */
	if (g_strcmp0(gtk_stack_get_visible_child_name(self->stack), "list") != 0)
		gtk_stack_set_visible_child_name(self->stack, "loading");
	for (int i = 0; i < 2; i++)
		g_clear_pointer(&self->replies[i], json_node_unref);
	fetch(self, "/v1/host/pci", FALSE);
	fetch(self, "/v1/host/usb", TRUE);
}

static gboolean debounced(gpointer data)
{
	AtollManagerDevices *self = data;
	self->debounce_id = 0;
	atoll_manager_devices_reload(self);
	return G_SOURCE_REMOVE;
}

static void schedule_reload(AtollManagerDevices *self)
{
	if (!self->loaded || !self->client)
		return;
	g_clear_handle_id(&self->debounce_id, g_source_remove);
	self->debounce_id = g_timeout_add(DEBOUNCE_MS, debounced, self);
}

void atoll_manager_devices_device_changed(AtollManagerDevices *self, JsonNode *event)
{
	(void)event;  /* any change can move a row: one fetch shows them all */
	schedule_reload(self);
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
	const char *name = def ? atoll_json_string(def, "name", NULL) : NULL;
	if (g_strcmp0(name, self->domain) != 0) {
		/* Another domain: no row of the last one may act meanwhile. */
		clear_groups(self);
		gtk_stack_set_visible_child_name(self->stack, "loading");
	}
	g_free(self->domain);
	self->domain = g_strdup(name);
	JsonNode *status = def && JSON_NODE_HOLDS_OBJECT(def) ?
		json_object_get_member(json_node_get_object(def), "status") : NULL;
	const char *state = status ? atoll_json_string(status, "state", "") : "";
	self->live = g_str_equal(state, "running") || g_str_equal(state, "paused");
	/* Its devices or its state changed: the rows say so. */
	schedule_reload(self);
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

guint atoll_manager_devices_get_reloads(AtollManagerDevices *self)
{
	return self->reloads;
}

AdwMessageDialog *atoll_manager_devices_get_confirmation(AtollManagerDevices *self,
							 const char **body)
{
	if (body)
		*body = self->confirm ? self->confirm_body : NULL;
	return self->confirm;
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
	g_clear_handle_id(&self->debounce_id, g_source_remove);
	if (self->confirm) {
		g_object_remove_weak_pointer(G_OBJECT(self->confirm), (gpointer *)&self->confirm);
		self->confirm = NULL;
	}
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
	g_free(self->domain);
	g_free(self->confirm_body);
	g_clear_pointer(&self->pci, json_node_unref);
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
	/* The Assign/Remove actions changed the domain's definition. */
	signals[SIG_DEFINITION_SAVED] = g_signal_new("definition-saved",
		G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
		G_TYPE_NONE, 0);
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
