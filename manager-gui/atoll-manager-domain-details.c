/* atoll-manager-domain-details.c - see atoll-manager-domain-details.h.
 *
 * Settings are sent as the whole definition last read with the edited
 * members replaced (PUT replaces the definition), so fields this page does
 * not show (graphics, pci, usb) survive an edit; a disk or NIC keeps the
 * members it had (serial, MAC) whatever is changed in its row. */
#include "atoll-manager-domain-details.h"
#include "atoll-manager-devices.h"
#include "atoll-manager-graph.h"
#include "atoll-manager-util.h"
#include "atoll-manager-window.h"
#ifdef HAVE_ATOLL_CONSOLE
#include "atoll-console.h"
#endif

#include <glib/gi18n.h>

#define STATS_WINDOW_S 120
#define STATS_INTERVAL_S 2

struct _AtollManagerDomainDetails {
	AdwBin parent;

	AdwViewStack *view_stack;
	AdwActionRow *state_row, *last_exit_row, *hw_row, *boot_row, *disks_row, *nics_row;
	AdwActionRow *memory_row, *vcpus_row, *kernel_row, *initrd_row, *cmdline_row,
		     *label_row, *autostart_row, *timeout_row;
	GtkSpinButton *memory_spin, *vcpus_spin, *timeout_spin;
	GtkEntry *kernel_entry, *initrd_entry, *cmdline_entry;
	GtkColorButton *label_button;
	GtkSwitch *autostart_switch;
	GtkButton *apply_button, *revert_button;
	GtkBox *graphs_box;
	GtkLabel *perf_label;
	GtkToggleButton *freeze_button;
	AtollManagerDevices *devices;
	AdwStatusPage *console_status;
	AdwPreferencesGroup *disks_group, *nics_group;
	AdwComboRow *poweroff_row, *reboot_row, *crash_row;
	GtkWidget *add_disk_button, *add_nic_button;
	GPtrArray *disk_rows, *nic_rows;   /* rows being edited, in order */
	GtkStringList *nic_choices;        /* labels; nic_choice_json: the NIC each means */
	GPtrArray *nic_choice_json;
	gboolean devices_loaded;   /* for the shown domain */
	GtkStack *console_stack;
	GtkScrolledWindow *console_scroller;
	GtkWidget *cpu_graph, *mem_graph, *disk_graph, *net_graph, *console;

	AtollClient *client;
	AtollManagerHost *host;
	GCancellable *cancel;   /* everything for the shown domain */
	char *name, *console_uri;
	JsonNode *def;
	guint stats_id, stats_count;
	gboolean stats_busy;
};

G_DEFINE_FINAL_TYPE(AtollManagerDomainDetails, atoll_manager_domain_details, ADW_TYPE_BIN)

static AtollManagerWindow *window_of(AtollManagerDomainDetails *self)
{
	GtkWidget *w = gtk_widget_get_ancestor(GTK_WIDGET(self), ATOLL_TYPE_MANAGER_WINDOW);
	return w ? ATOLL_MANAGER_WINDOW(w) : NULL;
}

static void toast(AtollManagerDomainDetails *self, const char *text, const GError *error)
{
	AtollManagerWindow *win = window_of(self);
	if (win && error)
		atoll_manager_window_toast_error(win, text, error);
	else if (win)
		atoll_manager_window_toast(win, text);
}

/* ---- overview ---- */

static JsonNode *status_of(JsonNode *def)
{
	JsonNode *s = def && JSON_NODE_HOLDS_OBJECT(def) ?
		json_object_get_member(json_node_get_object(def), "status") : NULL;
	return s && JSON_NODE_HOLDS_OBJECT(s) ? s : NULL;
}

static JsonArray *array_of(JsonNode *obj, const char *member)
{
	JsonNode *n = obj && JSON_NODE_HOLDS_OBJECT(obj) ?
		json_object_get_member(json_node_get_object(obj), member) : NULL;
	return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* The firmware line: "kernel" (or absent) means the VMM loads the kernel
 * itself, so the kernel and command line are what boots. */
static char *describe_boot(JsonNode *def)
{
	const char *fw = atoll_json_string(def, "firmware", "kernel");
	const char *order = atoll_json_string(def, "boot_order", NULL);
	const char *name = g_str_equal(fw, "uefi") ? _("UEFI (OVMF)") :
			   g_str_equal(fw, "bios") ? _("BIOS (SeaBIOS)") : NULL;
	if (!name)
		return g_strdup_printf(_("Linux kernel (direct): %s\n%s"),
				       atoll_json_string(def, "kernel", ""),
				       atoll_json_string(def, "cmdline", ""));
	if (order)
		return g_strdup_printf(_("%s · boot order %s"), name, order);
	return g_strdup(name);
}

static char *describe_disks(JsonNode *def)
{
	JsonArray *disks = array_of(def, "disks");
	if (!disks || json_array_get_length(disks) == 0)
		return g_strdup(_("None"));
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < json_array_get_length(disks); i++) {
		JsonNode *d = json_array_get_element(disks, i);
		g_string_append_printf(s, "%s%s%s", i ? "\n" : "",
				       atoll_json_string(d, "path", "?"),
				       json_object_get_boolean_member_with_default(
					       json_node_get_object(d), "readonly", FALSE) ?
				       _(" (read-only)") : "");
	}
	return g_string_free(s, FALSE);
}

static char *describe_nics(JsonNode *def)
{
	JsonArray *nics = array_of(def, "nics");
	if (!nics || json_array_get_length(nics) == 0)
		return g_strdup(_("None"));
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < json_array_get_length(nics); i++) {
		JsonNode *n = json_array_get_element(nics, i);
		const char *type = atoll_json_string(n, "type", "?");
		if (i)
			g_string_append_c(s, '\n');
		if (g_str_equal(type, "network"))
			g_string_append_printf(s, _("Network “%s”"), atoll_json_string(n, "network", "?"));
		else if (g_str_equal(type, "user"))
			g_string_append(s, _("User-mode NAT"));
		else
			g_string_append(s, _("Isolated"));
		const char *mac = atoll_json_string(n, "mac", NULL);
		if (mac)
			g_string_append_printf(s, " · %s", mac);
	}
	return g_string_free(s, FALSE);
}

static void fill_overview(AtollManagerDomainDetails *self)
{
	JsonNode *def = self->def, *status = status_of(def);
	const char *state = atoll_json_string(status, "state", NULL);
	const char *broken = atoll_json_string(status, "error", NULL);
	g_autofree char *state_text = broken ?
		g_strdup_printf("%s: %s", atoll_state_display_name(state), broken) :
		g_strdup(atoll_state_display_name(state));
	adw_action_row_set_subtitle(self->state_row, state_text);

	JsonNode *last = NULL;
	if (status)
		last = json_object_get_member(json_node_get_object(status), "last_exit");
	g_autofree char *exit_text = last && JSON_NODE_HOLDS_OBJECT(last) ?
		g_strdup_printf(_("%s (code %" G_GINT64_FORMAT ")"),
				atoll_json_string(last, "reason", "?"),
				atoll_json_int(last, "code", 0)) :
		g_strdup(_("Not run since atolld started"));
	adw_action_row_set_subtitle(self->last_exit_row, exit_text);

	g_autofree char *mem = atoll_format_mib(atoll_json_int(def, "memory_mib", 0));
	g_autofree char *hw = g_strdup_printf(_("%s · %" G_GINT64_FORMAT " vCPUs"), mem,
					      atoll_json_int(def, "vcpus", 0));
	adw_action_row_set_subtitle(self->hw_row, hw);
	g_autofree char *boot = describe_boot(def);
	adw_action_row_set_subtitle(self->boot_row, boot);
	g_autofree char *disks = describe_disks(def);
	adw_action_row_set_subtitle(self->disks_row, disks);
	g_autofree char *nics = describe_nics(def);
	adw_action_row_set_subtitle(self->nics_row, nics);
}

/* ---- console ---- */

static void show_console(AtollManagerDomainDetails *self, const char *uri)
{
#ifdef HAVE_ATOLL_CONSOLE
	if (uri) {
		if (!self->console) {
			self->console = atoll_console_new();
			gtk_scrolled_window_set_child(self->console_scroller, self->console);
		}
		atoll_console_connect_uri(ATOLL_CONSOLE(self->console), uri, NULL);
		gtk_stack_set_visible_child_name(self->console_stack, "console");
		return;
	}
	if (self->console)
		atoll_console_disconnect(ATOLL_CONSOLE(self->console));
#else
	(void)uri;
#endif
	gtk_stack_set_visible_child_name(self->console_stack, "none");
}

typedef struct {
	AtollManagerDomainDetails *self;
	char *uri;   /* as atolld said it */
} MapCall;

static void console_mapped(GObject *src, GAsyncResult *res, gpointer data)
{
	MapCall *m = data;
	AtollManagerDomainDetails *self = m->self;
	g_autoptr(GError) error = NULL;
	g_autofree char *local = atoll_manager_host_map_uri_finish(ATOLL_MANAGER_HOST(src), res,
								   &error);
	if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
	    g_strcmp0(m->uri, self->console_uri) == 0) {
		if (local) {
			show_console(self, local);
		} else {
			adw_status_page_set_description(self->console_status, error->message);
			show_console(self, NULL);
		}
	}
	g_object_unref(self);
	g_free(m->uri);
	g_free(m);
}

static void update_console(AtollManagerDomainDetails *self)
{
	/* atolld publishes a running domain's SPICE address as
	 * status.spice.uri (null without a SPICE console). */
	JsonNode *status = status_of(self->def);
	JsonObject *so = status && JSON_NODE_HOLDS_OBJECT(status) ? json_node_get_object(status) : NULL;
	JsonNode *spice = so && json_object_has_member(so, "spice") ?
			  json_object_get_member(so, "spice") : NULL;
	const char *uri = spice && JSON_NODE_HOLDS_OBJECT(spice) ?
			  atoll_json_string(spice, "uri", NULL) : NULL;
	if (g_strcmp0(uri, self->console_uri) == 0)
		return;
	g_free(self->console_uri);
	self->console_uri = g_strdup(uri);
	adw_status_page_set_description(self->console_status, _("The console needs a "
		"SPICE-enabled domain, and atolld does not report a SPICE address for this "
		"one. Use the serial console meanwhile: atoll console NAME."));
	if (uri && self->host) {
		MapCall *m = g_new0(MapCall, 1);
		m->self = g_object_ref(self);
		m->uri = g_strdup(uri);
		atoll_manager_host_map_uri_async(self->host, uri, self->cancel, console_mapped, m);
		return;
	}
	show_console(self, uri);
}

/* ---- settings ---- */

static void fill_hardware(AtollManagerDomainDetails *self);

static AdwActionRow *const *setting_rows(AtollManagerDomainDetails *self, gsize *n)
{
	static AdwActionRow *rows[8];
	AdwActionRow *r[] = { self->memory_row, self->vcpus_row, self->kernel_row,
			      self->initrd_row, self->cmdline_row, self->label_row,
			      self->autostart_row, self->timeout_row };
	memcpy(rows, r, sizeof(r));
	*n = G_N_ELEMENTS(r);
	return rows;
}

static void clear_errors(AtollManagerDomainDetails *self)
{
	gsize n;
	AdwActionRow *const *rows = setting_rows(self, &n);
	for (gsize i = 0; i < n; i++)
		atoll_field_row_set_error(rows[i], NULL);
	for (guint i = 0; i < self->disk_rows->len; i++)
		atoll_field_row_set_error(self->disk_rows->pdata[i], NULL);
	for (guint i = 0; i < self->nic_rows->len; i++)
		atoll_field_row_set_error(self->nic_rows->pdata[i], NULL);
	atoll_field_row_set_error(ADW_ACTION_ROW(self->poweroff_row), NULL);
	atoll_field_row_set_error(ADW_ACTION_ROW(self->reboot_row), NULL);
	atoll_field_row_set_error(ADW_ACTION_ROW(self->crash_row), NULL);
}

static void fill_settings(AtollManagerDomainDetails *self)
{
	JsonNode *def = self->def;
	clear_errors(self);
	gtk_spin_button_set_value(self->memory_spin, (double)atoll_json_int(def, "memory_mib", 1024));
	gtk_spin_button_set_value(self->vcpus_spin, (double)atoll_json_int(def, "vcpus", 1));
	gtk_spin_button_set_value(self->timeout_spin,
				  (double)atoll_json_int(def, "shutdown_timeout_s", 60));
	gtk_editable_set_text(GTK_EDITABLE(self->kernel_entry), atoll_json_string(def, "kernel", ""));
	gtk_editable_set_text(GTK_EDITABLE(self->initrd_entry), atoll_json_string(def, "initrd", ""));
	gtk_editable_set_text(GTK_EDITABLE(self->cmdline_entry), atoll_json_string(def, "cmdline", ""));
	GdkRGBA rgba;
	atoll_label_parse(atoll_json_string(def, "label", NULL), &rgba);
	gtk_color_chooser_set_rgba(GTK_COLOR_CHOOSER(self->label_button), &rgba);
	gboolean autostart = JSON_NODE_HOLDS_OBJECT(def) &&
		json_object_get_boolean_member_with_default(json_node_get_object(def),
							    "autostart", FALSE);
	gtk_switch_set_active(self->autostart_switch, autostart);
	fill_hardware(self);
}

/* ---- disks, NICs and lifecycle actions ---- */

static const char *const lifecycle_values[] = { "destroy", "restart", "preserve" };

static void set_lifecycle(AdwComboRow *row, const char *value)
{
	for (guint i = 0; i < G_N_ELEMENTS(lifecycle_values); i++)
		if (g_strcmp0(value, lifecycle_values[i]) == 0)
			adw_combo_row_set_selected(row, i);
}

static const char *get_lifecycle(AdwComboRow *row)
{
	guint i = adw_combo_row_get_selected(row);
	return lifecycle_values[i < G_N_ELEMENTS(lifecycle_values) ? i : 0];
}

static void number_rows(AtollManagerDomainDetails *self)
{
	for (guint i = 0; i < self->disk_rows->len; i++) {
		g_autofree char *t = g_strdup_printf(_("Disk %u (/dev/vd%c)"), i + 1,
						     (char)('a' + MIN(i, 25)));
		adw_preferences_row_set_title(self->disk_rows->pdata[i], t);
	}
	for (guint i = 0; i < self->nic_rows->len; i++) {
		g_autofree char *t = g_strdup_printf(_("Interface %u"), i + 1);
		adw_preferences_row_set_title(self->nic_rows->pdata[i], t);
	}
}

static void on_remove_row(GtkButton *button, gpointer data)
{
	AtollManagerDomainDetails *self = data;
	GtkWidget *row = g_object_get_data(G_OBJECT(button), "row");
	gboolean disk = g_ptr_array_remove(self->disk_rows, row);
	if (!disk)
		g_ptr_array_remove(self->nic_rows, row);
	adw_preferences_group_remove(disk ? self->disks_group : self->nics_group, row);
	number_rows(self);
}

static GtkWidget *remove_button(AtollManagerDomainDetails *self, GtkWidget *row,
				const char *what)
{
	GtkWidget *b = gtk_button_new_from_icon_name("user-trash-symbolic");
	gtk_widget_set_valign(b, GTK_ALIGN_CENTER);
	gtk_widget_add_css_class(b, "flat");
	gtk_widget_set_tooltip_text(b, what);
	atoll_set_accessible_label(b, what);
	g_object_set_data(G_OBJECT(b), "row", row);
	g_signal_connect(b, "clicked", G_CALLBACK(on_remove_row), self);
	return b;
}

static void add_disk_row(AtollManagerDomainDetails *self, JsonNode *disk)
{
	AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());
	GtkWidget *entry = gtk_entry_new();
	gtk_widget_set_valign(entry, GTK_ALIGN_CENTER);
	gtk_widget_set_hexpand(entry, TRUE);
	gtk_editable_set_text(GTK_EDITABLE(entry), atoll_json_string(disk, "path", ""));
	atoll_set_accessible_label(entry, _("Disk image path"));
	GtkWidget *ro = gtk_check_button_new_with_mnemonic(_("_Read-only"));
	gtk_widget_set_valign(ro, GTK_ALIGN_CENTER);
	gtk_check_button_set_active(GTK_CHECK_BUTTON(ro), disk && JSON_NODE_HOLDS_OBJECT(disk) &&
		json_object_get_boolean_member_with_default(json_node_get_object(disk),
							    "readonly", FALSE));
	atoll_set_accessible_label(ro, _("Read-only disk"));
	adw_action_row_add_suffix(row, entry);
	adw_action_row_add_suffix(row, ro);
	adw_action_row_add_suffix(row, remove_button(self, GTK_WIDGET(row), _("Remove this disk")));
	adw_action_row_set_activatable_widget(row, entry);
	g_object_set_data(G_OBJECT(row), "entry", entry);
	g_object_set_data(G_OBJECT(row), "readonly", ro);
	g_object_set_data_full(G_OBJECT(row), "json", disk ? json_node_copy(disk) : NULL,
			       (GDestroyNotify)json_node_unref);
	adw_preferences_group_add(self->disks_group, GTK_WIDGET(row));
	g_ptr_array_add(self->disk_rows, row);
	number_rows(self);
}

static JsonNode *nic_node(const char *type, const char *network)
{
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "type", type);
	if (network)
		json_object_set_string_member(o, "network", network);
	JsonNode *n = json_node_new(JSON_NODE_OBJECT);
	json_node_take_object(n, o);
	return n;
}

/* The choice of a NIC row for @nic, adding a network it names that the
 * list does not have yet. */
static guint nic_choice(AtollManagerDomainDetails *self, JsonNode *nic)
{
	const char *type = atoll_json_string(nic, "type", "user");
	const char *net = atoll_json_string(nic, "network", NULL);
	for (guint i = 0; i < self->nic_choice_json->len; i++) {
		JsonNode *c = self->nic_choice_json->pdata[i];
		if (g_str_equal(type, atoll_json_string(c, "type", "")) &&
		    g_strcmp0(net, atoll_json_string(c, "network", NULL)) == 0)
			return i;
	}
	if (!g_str_equal(type, "network") || !net)
		return 0;
	g_autofree char *label = g_strdup_printf(_("Network “%s”"), net);
	gtk_string_list_append(self->nic_choices, label);
	g_ptr_array_add(self->nic_choice_json, nic_node("network", net));
	return self->nic_choice_json->len - 1;
}

static void add_nic_row(AtollManagerDomainDetails *self, JsonNode *nic)
{
	AdwComboRow *row = ADW_COMBO_ROW(adw_combo_row_new());
	adw_combo_row_set_model(row, G_LIST_MODEL(self->nic_choices));
	if (nic)
		adw_combo_row_set_selected(row, nic_choice(self, nic));
	const char *mac = atoll_json_string(nic, "mac", NULL);
	g_autofree char *sub = mac ? g_strdup_printf(_("MAC %s"), mac) :
		g_strdup(_("New: atolld gives it a MAC address"));
	adw_action_row_set_subtitle(ADW_ACTION_ROW(row), sub);
	adw_action_row_add_suffix(ADW_ACTION_ROW(row),
		remove_button(self, GTK_WIDGET(row), _("Remove this network interface")));
	g_object_set_data_full(G_OBJECT(row), "json", nic ? json_node_copy(nic) : NULL,
			       (GDestroyNotify)json_node_unref);
	adw_preferences_group_add(self->nics_group, GTK_WIDGET(row));
	g_ptr_array_add(self->nic_rows, row);
	number_rows(self);
}

static void clear_hw_rows(AtollManagerDomainDetails *self)
{
	for (guint i = 0; i < self->disk_rows->len; i++)
		adw_preferences_group_remove(self->disks_group, self->disk_rows->pdata[i]);
	for (guint i = 0; i < self->nic_rows->len; i++)
		adw_preferences_group_remove(self->nics_group, self->nic_rows->pdata[i]);
	g_ptr_array_set_size(self->disk_rows, 0);
	g_ptr_array_set_size(self->nic_rows, 0);
}

static void fill_hardware(AtollManagerDomainDetails *self)
{
	clear_hw_rows(self);
	JsonArray *disks = array_of(self->def, "disks");
	for (guint i = 0; disks && i < json_array_get_length(disks); i++)
		add_disk_row(self, json_array_get_element(disks, i));
	JsonArray *nics = array_of(self->def, "nics");
	for (guint i = 0; nics && i < json_array_get_length(nics); i++)
		add_nic_row(self, json_array_get_element(nics, i));
	set_lifecycle(self->poweroff_row, atoll_json_string(self->def, "on_poweroff", "destroy"));
	set_lifecycle(self->reboot_row, atoll_json_string(self->def, "on_reboot", "restart"));
	set_lifecycle(self->crash_row, atoll_json_string(self->def, "on_crash", "destroy"));
}

static void put_hardware(AtollManagerDomainDetails *self, JsonObject *obj)
{
	JsonArray *disks = json_array_new();
	for (guint i = 0; i < self->disk_rows->len; i++) {
		GObject *row = self->disk_rows->pdata[i];
		JsonNode *orig = g_object_get_data(row, "json");
		JsonNode *d = orig && JSON_NODE_HOLDS_OBJECT(orig) ? json_node_copy(orig) :
			      json_node_init_object(json_node_alloc(), json_object_new());
		JsonObject *o = json_node_get_object(d);
		json_object_set_string_member(o, "path",
			gtk_editable_get_text(GTK_EDITABLE(g_object_get_data(row, "entry"))));
		json_object_set_boolean_member(o, "readonly", gtk_check_button_get_active(
			GTK_CHECK_BUTTON(g_object_get_data(row, "readonly"))));
		json_array_add_element(disks, d);
	}
	json_object_set_array_member(obj, "disks", disks);
	JsonArray *nics = json_array_new();
	for (guint i = 0; i < self->nic_rows->len; i++) {
		GObject *row = self->nic_rows->pdata[i];
		JsonNode *orig = g_object_get_data(row, "json");
		JsonNode *n = orig && JSON_NODE_HOLDS_OBJECT(orig) ? json_node_copy(orig) :
			      json_node_init_object(json_node_alloc(), json_object_new());
		JsonObject *o = json_node_get_object(n);
		guint c = adw_combo_row_get_selected(ADW_COMBO_ROW(row));
		JsonNode *choice = c < self->nic_choice_json->len ?
			self->nic_choice_json->pdata[c] : self->nic_choice_json->pdata[0];
		json_object_set_string_member(o, "type", atoll_json_string(choice, "type", "user"));
		const char *net = atoll_json_string(choice, "network", NULL);
		if (net)
			json_object_set_string_member(o, "network", net);
		else
			json_object_remove_member(o, "network");
		json_array_add_element(nics, n);
	}
	json_object_set_array_member(obj, "nics", nics);
	json_object_set_string_member(obj, "on_poweroff", get_lifecycle(self->poweroff_row));
	json_object_set_string_member(obj, "on_reboot", get_lifecycle(self->reboot_row));
	json_object_set_string_member(obj, "on_crash", get_lifecycle(self->crash_row));
}

static gboolean validate_hardware(AtollManagerDomainDetails *self)
{
	gboolean ok = TRUE;
	for (guint i = 0; i < self->disk_rows->len; i++) {
		GObject *row = self->disk_rows->pdata[i];
		const char *path = gtk_editable_get_text(GTK_EDITABLE(g_object_get_data(row, "entry")));
		if (path[0] != '/') {
			atoll_field_row_set_error(ADW_ACTION_ROW(row), *path ?
				_("Give the full path of the image, starting with /") :
				_("Required: the path of a disk image (or remove this disk)"));
			ok = FALSE;
		}
	}
	return ok;
}

/* "disks[1].path" -> the row of disk 1. */
static AdwActionRow *indexed_row(AtollManagerDomainDetails *self, const char *field)
{
	GPtrArray *rows = g_str_has_prefix(field, "disks[") ? self->disk_rows :
			  g_str_has_prefix(field, "nics[") ? self->nic_rows : NULL;
	if (!rows)
		return NULL;
	guint64 i = g_ascii_strtoull(strchr(field, '[') + 1, NULL, 10);
	return i < rows->len ? rows->pdata[i] : NULL;
}

static void add_disk_activated(GtkWidget *widget, const char *action, GVariant *param)
{
	AtollManagerDomainDetails *self = ATOLL_MANAGER_DOMAIN_DETAILS(widget);
	(void)action;
	(void)param;
	add_disk_row(self, NULL);
	GObject *row = self->disk_rows->pdata[self->disk_rows->len - 1];
	gtk_widget_grab_focus(g_object_get_data(row, "entry"));
}

static void add_nic_activated(GtkWidget *widget, const char *action, GVariant *param)
{
	AtollManagerDomainDetails *self = ATOLL_MANAGER_DOMAIN_DETAILS(widget);
	(void)action;
	(void)param;
	add_nic_row(self, NULL);
	gtk_widget_grab_focus(self->nic_rows->pdata[self->nic_rows->len - 1]);
}

static void networks_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerDomainDetails) self = data;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, NULL);
	JsonArray *nets = reply ? atoll_client_reply_array(reply, "networks") : NULL;
	for (guint i = 0; nets && i < json_array_get_length(nets); i++) {
		const char *name = atoll_json_string(json_array_get_element(nets, i), "name", NULL);
		if (name) {
			g_autoptr(JsonNode) n = nic_node("network", name);
			nic_choice(self, n);
		}
	}
}

static AdwActionRow *row_for_field(AtollManagerDomainDetails *self, const char *field)
{
	if (field && indexed_row(self, field))
		return indexed_row(self, field);
	if (g_strcmp0(field, "on_poweroff") == 0)
		return ADW_ACTION_ROW(self->poweroff_row);
	if (g_strcmp0(field, "on_reboot") == 0)
		return ADW_ACTION_ROW(self->reboot_row);
	if (g_strcmp0(field, "on_crash") == 0)
		return ADW_ACTION_ROW(self->crash_row);
	static const struct { const char *field; gsize offset; } map[] = {
		{ "memory_mib", G_STRUCT_OFFSET(AtollManagerDomainDetails, memory_row) },
		{ "vcpus", G_STRUCT_OFFSET(AtollManagerDomainDetails, vcpus_row) },
		{ "kernel", G_STRUCT_OFFSET(AtollManagerDomainDetails, kernel_row) },
		{ "initrd", G_STRUCT_OFFSET(AtollManagerDomainDetails, initrd_row) },
		{ "cmdline", G_STRUCT_OFFSET(AtollManagerDomainDetails, cmdline_row) },
		{ "label", G_STRUCT_OFFSET(AtollManagerDomainDetails, label_row) },
		{ "autostart", G_STRUCT_OFFSET(AtollManagerDomainDetails, autostart_row) },
		{ "shutdown_timeout_s", G_STRUCT_OFFSET(AtollManagerDomainDetails, timeout_row) },
	};
	for (gsize i = 0; field && i < G_N_ELEMENTS(map); i++)
		if (g_str_equal(field, map[i].field))
			return G_STRUCT_MEMBER(AdwActionRow *, self, map[i].offset);
	return NULL;
}


static gboolean validate_path(AdwActionRow *row, GtkEntry *entry, gboolean required)
{
	const char *text = gtk_editable_get_text(GTK_EDITABLE(entry));
	if (!*text && required) {
		atoll_field_row_set_error(row, _("Required: the path of the Linux kernel to boot"));
		return FALSE;
	}
	if (*text && text[0] != '/') {
		atoll_field_row_set_error(row, _("Give the full path, starting with /"));
		return FALSE;
	}
	return TRUE;
}

static gboolean validate_settings(AtollManagerDomainDetails *self)
{
	clear_errors(self);
	/* Firmware boots a disk: the kernel is then optional (UEFI) or refused
	 * by atolld (BIOS), which says so on the row. */
	const char *fw = self->def ? atoll_json_string(self->def, "firmware", "kernel") : "kernel";
	gboolean ok = validate_path(self->kernel_row, self->kernel_entry,
				    g_str_equal(fw, "kernel"));
	ok = validate_path(self->initrd_row, self->initrd_entry, FALSE) && ok;
	ok = validate_hardware(self) && ok;
	AtollManagerWindow *win = window_of(self);
	JsonNode *host = win ? atoll_manager_window_get_host(win) : NULL;
	gint64 host_mib = atoll_json_int(host, "memory_bytes", 0) / (1024 * 1024);
	gint64 mem = gtk_spin_button_get_value_as_int(self->memory_spin);
	if (host_mib > 0 && mem > host_mib) {
		g_autofree char *msg = g_strdup_printf(
			_("More than this host has (%" G_GINT64_FORMAT " MiB)"), host_mib);
		atoll_field_row_set_error(self->memory_row, msg);
		ok = FALSE;
	}
	return ok;
}

static JsonNode *edited_definition(AtollManagerDomainDetails *self)
{
	JsonObject *src = json_node_get_object(self->def);
	JsonObject *obj = json_object_new();
	/* Everything but the server's "status", which is not a field. */
	GList *members = json_object_get_members(src);
	for (GList *l = members; l; l = l->next)
		if (!g_str_equal(l->data, "status"))
			json_object_set_member(obj, l->data,
					       json_node_copy(json_object_get_member(src, l->data)));
	g_list_free(members);
	json_object_set_int_member(obj, "memory_mib", gtk_spin_button_get_value_as_int(self->memory_spin));
	json_object_set_int_member(obj, "vcpus", gtk_spin_button_get_value_as_int(self->vcpus_spin));
	json_object_set_int_member(obj, "shutdown_timeout_s",
				   gtk_spin_button_get_value_as_int(self->timeout_spin));
	/* UEFI and BIOS domains have no kernel: an empty one is left out. */
	const char *kernel = gtk_editable_get_text(GTK_EDITABLE(self->kernel_entry));
	if (*kernel)
		json_object_set_string_member(obj, "kernel", kernel);
	else
		json_object_remove_member(obj, "kernel");
	const char *initrd = gtk_editable_get_text(GTK_EDITABLE(self->initrd_entry));
	if (*initrd)
		json_object_set_string_member(obj, "initrd", initrd);
	else
		json_object_remove_member(obj, "initrd");
	const char *cmdline = gtk_editable_get_text(GTK_EDITABLE(self->cmdline_entry));
	if (*cmdline)
		json_object_set_string_member(obj, "cmdline", cmdline);
	else
		json_object_remove_member(obj, "cmdline");
	GdkRGBA rgba;
	gtk_color_chooser_get_rgba(GTK_COLOR_CHOOSER(self->label_button), &rgba);
	g_autofree char *label = atoll_label_format(&rgba);
	json_object_set_string_member(obj, "label", label);
	json_object_set_boolean_member(obj, "autostart", gtk_switch_get_active(self->autostart_switch));
	put_hardware(self, obj);
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);
	json_node_take_object(node, obj);
	return node;
}

typedef struct {
	AtollManagerDomainDetails *self;
	char *name;
	gboolean settings;   /* also refill the settings page */
} Load;

static void load_free(Load *l)
{
	g_object_unref(l->self);
	g_free(l->name);
	g_free(l);
}

static void load(AtollManagerDomainDetails *self, gboolean settings);
static void on_page_changed(GObject *stack, GParamSpec *pspec, gpointer data);

static void put_done(GObject *src, GAsyncResult *res, gpointer data)
{
	Load *l = data;
	AtollManagerDomainDetails *self = l->self;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
	    g_strcmp0(l->name, self->name) != 0) {
		load_free(l);
		return;
	}
	gtk_widget_set_sensitive(GTK_WIDGET(self->apply_button), TRUE);
	if (!reply) {
		const char *field = atoll_client_error_get_field(error);
		AdwActionRow *row = row_for_field(self, field);
		if (row)
			atoll_field_row_set_error(row, atoll_manager_strip_field(error->message, field));
		g_autofree char *prefix = g_strdup_printf(_("Could not save “%s”"), l->name);
		toast(self, prefix, error);
	} else {
		g_autofree char *text = g_strdup_printf(
			_("Settings of “%s” saved; they apply at its next start"), l->name);
		toast(self, text, NULL);
		load(self, TRUE);
	}
	load_free(l);
}

static void apply_activated(GtkWidget *widget, const char *action, GVariant *param)
{
	AtollManagerDomainDetails *self = ATOLL_MANAGER_DOMAIN_DETAILS(widget);
	(void)action;
	(void)param;
	if (!self->def || !self->name || !validate_settings(self))
		return;
	g_autoptr(JsonNode) body = edited_definition(self);
	g_autofree char *path = atoll_client_domain_path(self->name, NULL);
	Load *l = g_new0(Load, 1);
	l->self = g_object_ref(self);
	l->name = g_strdup(self->name);
	gtk_widget_set_sensitive(GTK_WIDGET(self->apply_button), FALSE);
	atoll_client_request_async(self->client, "PUT", path, body, self->cancel, put_done, l);
}

static void revert_activated(GtkWidget *widget, const char *action, GVariant *param)
{
	AtollManagerDomainDetails *self = ATOLL_MANAGER_DOMAIN_DETAILS(widget);
	(void)action;
	(void)param;
	if (self->def)
		fill_settings(self);
}

/* ---- loading ---- */

static void get_done(GObject *src, GAsyncResult *res, gpointer data)
{
	Load *l = data;
	AtollManagerDomainDetails *self = l->self;
	g_autoptr(GError) error = NULL;
	JsonNode *def = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
	    g_strcmp0(l->name, self->name) != 0) {
		g_clear_pointer(&def, json_node_unref);
		load_free(l);
		return;
	}
	if (!def) {
		/* Undefined meanwhile: the list drops it on the same event. */
		if (!g_error_matches(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_NOT_FOUND)) {
			g_autofree char *prefix = g_strdup_printf(_("Could not read “%s”"), l->name);
			toast(self, prefix, error);
		}
		load_free(l);
		return;
	}
	g_clear_pointer(&self->def, json_node_unref);
	self->def = def;
	fill_overview(self);
	if (l->settings)
		fill_settings(self);
	update_console(self);
	if (self->devices_loaded)
		atoll_manager_devices_set_definition(self->devices, self->def);
	on_page_changed(G_OBJECT(self->view_stack), NULL, self);
	load_free(l);
}

static void load(AtollManagerDomainDetails *self, gboolean settings)
{
	if (!self->name || !self->client)
		return;
	Load *l = g_new0(Load, 1);
	l->self = g_object_ref(self);
	l->name = g_strdup(self->name);
	l->settings = settings;
	g_autofree char *path = atoll_client_domain_path(self->name, NULL);
	atoll_client_request_async(self->client, "GET", path, NULL, self->cancel, get_done, l);
}

/* ---- performance ---- */

/* A rate per second between two samples of a cumulative counter; counters
 * restart at 0 when the VMM restarts, which is no negative rate. */
static double rate(JsonNode *a, JsonNode *b, const char *member, double dt)
{
	double d = atoll_json_double(b, member, 0) - atoll_json_double(a, member, 0);
	return dt > 0 ? MAX(0, d / dt) : 0;
}

/* "1.2 MB/s" */
static char *format_rate(double bytes_per_s)
{
	g_autofree char *size = g_format_size((guint64)bytes_per_s);
	return g_strdup_printf(_("%s/s"), size);
}

/* The top of a byte-rate scale: the peak rounded up, at least 64 KiB/s so
 * that an idle disk draws a flat line rather than noise at full height. */
static double rate_scale(const double *a, const double *b, guint n)
{
	double top = 64 * 1024;
	for (guint i = 0; i < n; i++)
		top = MAX(top, MAX(a[i], b[i]));
	return top * 1.1;
}

static void show_stats(AtollManagerDomainDetails *self, JsonArray *samples)
{
	guint n = samples ? json_array_get_length(samples) : 0;
	g_autofree double *cpu = g_new0(double, MAX(n, 1));
	g_autofree double *mem = g_new0(double, MAX(n, 1));
	g_autofree double *rd = g_new0(double, MAX(n, 1));
	g_autofree double *wr = g_new0(double, MAX(n, 1));
	g_autofree double *rx = g_new0(double, MAX(n, 1));
	g_autofree double *tx = g_new0(double, MAX(n, 1));
	guint m = 0;
	double mem_max = (double)atoll_json_int(self->def, "memory_mib", 1) * 1024 * 1024;
	double ops = 0;
	for (guint i = 1; i < n; i++) {
		JsonNode *a = json_array_get_element(samples, i - 1);
		JsonNode *b = json_array_get_element(samples, i);
		double dt = atoll_json_double(b, "t", 0) - atoll_json_double(a, "t", 0);
		cpu[m] = rate(a, b, "cpu_time_s", dt) * 100.0;
		mem[m] = atoll_json_double(b, "memory_rss_bytes", 0);
		mem_max = MAX(mem_max, mem[m]);
		rd[m] = rate(a, b, "disk_rd_bytes", dt);
		wr[m] = rate(a, b, "disk_wr_bytes", dt);
		rx[m] = rate(a, b, "net_rx_bytes", dt);
		tx[m] = rate(a, b, "net_tx_bytes", dt);
		ops = rate(a, b, "disk_rd_ops", dt) + rate(a, b, "disk_wr_ops", dt);
		m++;
	}
	double vcpus = (double)MAX(1, atoll_json_int(self->def, "vcpus", 1));
	g_autofree char *cpu_text = m ? g_strdup_printf("%.0f %%", cpu[m - 1]) : NULL;
	g_autofree char *mem_text = m ? g_strdup_printf("%.0f MiB", mem[m - 1] / (1024 * 1024)) : NULL;
	atoll_manager_graph_set_values(ATOLL_MANAGER_GRAPH(self->cpu_graph), cpu, m,
				       100.0 * vcpus, cpu_text);
	atoll_manager_graph_set_values(ATOLL_MANAGER_GRAPH(self->mem_graph), mem, m,
				       mem_max, mem_text);

	g_autofree char *disk_text = NULL, *net_text = NULL;
	if (m) {
		g_autofree char *r = format_rate(rd[m - 1]), *w = format_rate(wr[m - 1]);
		g_autofree char *i = format_rate(rx[m - 1]), *o = format_rate(tx[m - 1]);
		disk_text = g_strdup_printf(_("read %s · write %s · %.0f IOPS"), r, w, ops);
		net_text = g_strdup_printf(_("in %s · out %s"), i, o);
	}
	double disk_top = rate_scale(rd, wr, m), net_top = rate_scale(rx, tx, m);
	atoll_manager_graph_set_values(ATOLL_MANAGER_GRAPH(self->disk_graph), rd, m,
				       disk_top, disk_text);
	atoll_manager_graph_set_second(ATOLL_MANAGER_GRAPH(self->disk_graph), wr, m);
	atoll_manager_graph_set_values(ATOLL_MANAGER_GRAPH(self->net_graph), rx, m,
				       net_top, net_text);
	atoll_manager_graph_set_second(ATOLL_MANAGER_GRAPH(self->net_graph), tx, m);
	gtk_label_set_text(self->perf_label, m ? _("The last two minutes, one sample a second. "
						   "Disk: read filled, write as a line; network: "
						   "received filled, sent as a line.") :
			   _("No samples: the domain is not running. Start it to see its "
			     "CPU, memory, disk and network use here."));
}

static void stats_done(GObject *src, GAsyncResult *res, gpointer data)
{
	Load *l = data;
	AtollManagerDomainDetails *self = l->self;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
	    g_strcmp0(l->name, self->name) != 0) {
		load_free(l);
		return;
	}
	self->stats_busy = FALSE;
	self->stats_count++;
	if (gtk_toggle_button_get_active(self->freeze_button)) {
		load_free(l);
		return;
	}
	/* A stopped domain has no samples (or a 409): show empty graphs. */
	show_stats(self, reply ? atoll_client_reply_array(reply, "samples") : NULL);
	load_free(l);
}

static gboolean stats_tick(gpointer data)
{
	AtollManagerDomainDetails *self = data;
	if (!self->name || !self->client || self->stats_busy ||
	    gtk_toggle_button_get_active(self->freeze_button))
		return G_SOURCE_CONTINUE;
	gint64 since = g_get_real_time() / G_USEC_PER_SEC - STATS_WINDOW_S;
	g_autofree char *suffix = g_strdup_printf("/stats?since=%" G_GINT64_FORMAT, since);
	g_autofree char *path = atoll_client_domain_path(self->name, suffix);
	Load *l = g_new0(Load, 1);
	l->self = g_object_ref(self);
	l->name = g_strdup(self->name);
	self->stats_busy = TRUE;
	atoll_client_request_async(self->client, "GET", path, NULL, self->cancel, stats_done, l);
	return G_SOURCE_CONTINUE;
}

/* ---- public ---- */

void atoll_manager_domain_details_set_host(AtollManagerDomainDetails *self,
					   AtollManagerHost *host)
{
	g_set_object(&self->host, host);
}

void atoll_manager_domain_details_set_client(AtollManagerDomainDetails *self,
					     AtollClient *client)
{
	g_set_object(&self->client, client);
	atoll_manager_devices_set_client(self->devices, client);
}

/* The host's device lists are read when the tab is first shown for a
 * domain: listing PCI runs the passthrough preflight on every function. */
static void on_page_changed(GObject *stack, GParamSpec *pspec, gpointer data)
{
	AtollManagerDomainDetails *self = data;
	(void)pspec;
	const char *page = adw_view_stack_get_visible_child_name(ADW_VIEW_STACK(stack));
	if (g_strcmp0(page, "devices") != 0 || self->devices_loaded || !self->def)
		return;
	self->devices_loaded = TRUE;
	atoll_manager_devices_set_definition(self->devices, self->def);
	atoll_manager_devices_reload(self->devices);
}

/* Assign/Remove on the Devices tab saved the definition: read it back
 * (the settings being edited are left alone; they carry the new "pci"
 * when applied, since the edit starts from the definition loaded). */
static void on_devices_saved(AtollManagerDevices *devices, gpointer data)
{
	(void)devices;
	load(ATOLL_MANAGER_DOMAIN_DETAILS(data), FALSE);
}

void atoll_manager_domain_details_device_changed(AtollManagerDomainDetails *self,
						 JsonNode *event)
{
	atoll_manager_devices_device_changed(self->devices, event);
}

void atoll_manager_domain_details_show(AtollManagerDomainDetails *self, const char *name)
{
	g_cancellable_cancel(self->cancel);
	g_clear_object(&self->cancel);
	self->cancel = g_cancellable_new();
	g_clear_handle_id(&self->stats_id, g_source_remove);
	g_free(self->name);
	self->name = g_strdup(name);
	g_clear_pointer(&self->def, json_node_unref);
	self->stats_busy = FALSE;
	self->stats_count = 0;
	gtk_toggle_button_set_active(self->freeze_button, FALSE);
	self->devices_loaded = FALSE;
	g_clear_pointer(&self->console_uri, g_free);
	update_console(self);
	show_stats(self, NULL);
	if (!name)
		return;
	load(self, TRUE);
	atoll_client_request_async(self->client, "GET", "/v1/networks", NULL, self->cancel,
				   networks_ready, g_object_ref(self));
	stats_tick(self);
	self->stats_id = g_timeout_add_seconds(STATS_INTERVAL_S, stats_tick, self);
}

void atoll_manager_domain_details_reload(AtollManagerDomainDetails *self)
{
	load(self, FALSE);
}

JsonNode *atoll_manager_domain_details_get_definition(AtollManagerDomainDetails *self)
{
	return self->def;
}

void atoll_manager_domain_details_show_samples(AtollManagerDomainDetails *self,
					       JsonArray *samples)
{
	show_stats(self, samples);
}

GtkWidget *atoll_manager_domain_details_get_graph(AtollManagerDomainDetails *self,
						  const char *which)
{
	if (g_str_equal(which, "cpu"))
		return self->cpu_graph;
	if (g_str_equal(which, "memory"))
		return self->mem_graph;
	if (g_str_equal(which, "disk"))
		return self->disk_graph;
	if (g_str_equal(which, "network"))
		return self->net_graph;
	return NULL;
}

guint atoll_manager_domain_details_get_stats_count(AtollManagerDomainDetails *self)
{
	return self->stats_count;
}

/* ---- GObject ---- */

static void atoll_manager_domain_details_dispose(GObject *object)
{
	AtollManagerDomainDetails *self = ATOLL_MANAGER_DOMAIN_DETAILS(object);
	if (self->cancel)
		g_cancellable_cancel(self->cancel);
	g_clear_handle_id(&self->stats_id, g_source_remove);
	gtk_widget_dispose_template(GTK_WIDGET(self), ATOLL_TYPE_MANAGER_DOMAIN_DETAILS);
	G_OBJECT_CLASS(atoll_manager_domain_details_parent_class)->dispose(object);
}

static void atoll_manager_domain_details_finalize(GObject *object)
{
	AtollManagerDomainDetails *self = ATOLL_MANAGER_DOMAIN_DETAILS(object);
	g_clear_object(&self->cancel);
	g_clear_object(&self->client);
	g_clear_object(&self->host);
	g_clear_pointer(&self->def, json_node_unref);
	g_free(self->name);
	g_free(self->console_uri);
	g_ptr_array_unref(self->disk_rows);
	g_ptr_array_unref(self->nic_rows);
	g_clear_object(&self->nic_choices);
	g_ptr_array_unref(self->nic_choice_json);
	G_OBJECT_CLASS(atoll_manager_domain_details_parent_class)->finalize(object);
}

static void atoll_manager_domain_details_class_init(AtollManagerDomainDetailsClass *klass)
{
	GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
	G_OBJECT_CLASS(klass)->dispose = atoll_manager_domain_details_dispose;
	G_OBJECT_CLASS(klass)->finalize = atoll_manager_domain_details_finalize;
	g_type_ensure(ATOLL_TYPE_MANAGER_DEVICES);
	gtk_widget_class_set_template_from_resource(wc,
		"/org/atoll/Manager/atoll-manager-domain-details.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, AtollManagerDomainDetails, x)
	BIND(view_stack); BIND(state_row); BIND(last_exit_row); BIND(hw_row); BIND(boot_row);
	BIND(disks_row); BIND(nics_row); BIND(memory_row); BIND(vcpus_row); BIND(kernel_row);
	BIND(initrd_row); BIND(cmdline_row); BIND(label_row); BIND(autostart_row);
	BIND(timeout_row); BIND(memory_spin); BIND(vcpus_spin); BIND(timeout_spin);
	BIND(kernel_entry); BIND(initrd_entry); BIND(cmdline_entry); BIND(label_button);
	BIND(autostart_switch); BIND(apply_button); BIND(revert_button); BIND(graphs_box);
	BIND(perf_label); BIND(console_stack); BIND(console_scroller); BIND(freeze_button);
	BIND(devices); BIND(console_status); BIND(disks_group); BIND(nics_group); BIND(poweroff_row);
	BIND(reboot_row); BIND(crash_row); BIND(add_disk_button); BIND(add_nic_button);
#undef BIND
	gtk_widget_class_install_action(wc, "details.apply", NULL, apply_activated);
	gtk_widget_class_install_action(wc, "details.revert", NULL, revert_activated);
	gtk_widget_class_install_action(wc, "details.add-disk", NULL, add_disk_activated);
	gtk_widget_class_install_action(wc, "details.add-nic", NULL, add_nic_activated);
}

static void label_controls(AtollManagerDomainDetails *self)
{
	atoll_set_accessible_label(GTK_WIDGET(self->memory_spin), _("Memory in MiB"));
	atoll_set_accessible_label(GTK_WIDGET(self->vcpus_spin), _("Number of vCPUs"));
	atoll_set_accessible_label(GTK_WIDGET(self->timeout_spin), _("Shutdown timeout in seconds"));
	atoll_set_accessible_label(GTK_WIDGET(self->kernel_entry), _("Kernel path"));
	atoll_set_accessible_label(GTK_WIDGET(self->initrd_entry), _("Initrd path"));
	atoll_set_accessible_label(GTK_WIDGET(self->cmdline_entry), _("Kernel command line"));
	atoll_set_accessible_label(GTK_WIDGET(self->label_button), _("Label colour"));
	atoll_set_accessible_label(GTK_WIDGET(self->autostart_switch), _("Start with the host"));
	atoll_set_accessible_label(GTK_WIDGET(self->apply_button), _("Apply the settings"));
	atoll_set_accessible_label(GTK_WIDGET(self->revert_button), _("Revert the settings"));
	atoll_set_accessible_label(GTK_WIDGET(self->freeze_button),
				   _("Freeze the performance graphs"));
	atoll_set_accessible_label(self->add_disk_button, _("Add a disk"));
	atoll_set_accessible_label(self->add_nic_button, _("Add a network interface"));
}

static void atoll_manager_domain_details_init(AtollManagerDomainDetails *self)
{
	gtk_widget_init_template(GTK_WIDGET(self));
	GdkRGBA blue = { 0.21, 0.52, 0.89, 1 }, green = { 0.15, 0.64, 0.41, 1 };
	self->cpu_graph = atoll_manager_graph_new(_("CPU"), &blue);
	self->mem_graph = atoll_manager_graph_new(_("Memory"), &green);
	gtk_box_append(self->graphs_box, self->cpu_graph);
	gtk_box_append(self->graphs_box, self->mem_graph);
	GdkRGBA orange = { 0.90, 0.38, 0.0, 1 }, purple = { 0.57, 0.25, 0.68, 1 };
	self->disk_graph = atoll_manager_graph_new(_("Disk"), &orange);
	self->net_graph = atoll_manager_graph_new(_("Network"), &purple);
	gtk_box_append(self->graphs_box, self->disk_graph);
	gtk_box_append(self->graphs_box, self->net_graph);
	gtk_color_chooser_set_use_alpha(GTK_COLOR_CHOOSER(self->label_button), FALSE);
	self->disk_rows = g_ptr_array_new();
	self->nic_rows = g_ptr_array_new();
	self->nic_choices = gtk_string_list_new(NULL);
	self->nic_choice_json = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	gtk_string_list_append(self->nic_choices, _("User-mode NAT"));
	g_ptr_array_add(self->nic_choice_json, nic_node("user", NULL));
	gtk_string_list_append(self->nic_choices, _("Isolated"));
	g_ptr_array_add(self->nic_choice_json, nic_node("isolated", NULL));
	label_controls(self);
	self->cancel = g_cancellable_new();
	g_signal_connect(self->view_stack, "notify::visible-child-name",
			 G_CALLBACK(on_page_changed), self);
	g_signal_connect(self->devices, "definition-saved", G_CALLBACK(on_devices_saved), self);
}
