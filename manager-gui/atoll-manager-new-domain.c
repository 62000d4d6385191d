/* atoll-manager-new-domain.c - see atoll-manager-new-domain.h. */
#include "atoll-manager-new-domain.h"
#include "atoll-manager-util.h"

#include <glib/gi18n.h>

#define MAX_VCPUS 64       /* atoll-vmm's limit (docs/api.md) */
#define MIN_MEMORY_MIB 16
#define DEFAULT_MEMORY_MIB 1024
#define DEFAULT_LABEL "#3584e4"
#define DISK_CMDLINE "console=ttyS0 root=/dev/vda rw"

enum { BOOT_KERNEL, BOOT_DISK, BOOT_NEW_DISK };
/* Order of firmware_row's items. */
enum { FW_KERNEL, FW_UEFI_DISK, FW_UEFI_ISO, FW_BIOS_DISK };

/* What the operating system choice suggests.  The kind is not stored: it
 * only fills in the form. */
static const struct {
	int memory_mib, disk_gib;
	const char *disk_cmdline;
	guint firmware;
	const char *note;
} os_kinds[] = {
	{ DEFAULT_MEMORY_MIB, 8, DISK_CMDLINE, FW_KERNEL, NULL },                   /* generic */
	{ 2048, 16, DISK_CMDLINE " quiet", FW_KERNEL, NULL },                       /* Debian/Ubuntu */
	{ 2048, 20, DISK_CMDLINE " quiet rhgb", FW_KERNEL, NULL },                  /* Fedora */
	{ 256, 2, "console=ttyS0 root=/dev/vda rw modules=ext4", FW_KERNEL, NULL }, /* Alpine */
	{ 4096, 64, DISK_CMDLINE, FW_UEFI_ISO,                                      /* Windows */
	  N_("Windows has no virtio drivers of its own: load them from the virtio-win "
	     "ISO during setup (see docs/windows.md), or the installer finds no disk.") },
};

struct _AtollManagerNewDomain {
	AdwWindow parent;

	GtkRevealer *error_revealer;
	GtkLabel *error_label;
	AdwPreferencesGroup *resources_group;
	AdwActionRow *name_row, *memory_row, *vcpus_row, *kernel_row, *initrd_row,
		     *disk_row, *cmdline_row, *label_row, *new_disk_row, *iso_row, *note_row;
	AdwComboRow *boot_row, *network_row, *os_row, *firmware_row;
	GtkEntry *name_entry, *kernel_entry, *initrd_entry, *disk_entry, *cmdline_entry,
		 *iso_entry;
	GtkSpinButton *memory_spin, *vcpus_spin, *disk_size_spin;
	GtkButton *kernel_browse, *initrd_browse, *disk_browse, *iso_browse, *create_button,
		  *cancel_button;
	GtkColorButton *label_button;

	AtollClient *client;
	GCancellable *cancel;
	GtkStringList *network_names;
	GPtrArray *network_nics;  /* JsonNode* per network_names item; NULL = no NIC */
	gboolean networks_loaded, busy;
	char *general_error;
	char *created_image;      /* made by this assistant for the name below */
	char *created_for;
	gint64 host_mib;
};

enum { SIGNAL_CREATED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(AtollManagerNewDomain, atoll_manager_new_domain, ADW_TYPE_WINDOW)

/* ---- errors ---- */

static void set_general_error(AtollManagerNewDomain *self, const char *msg)
{
	g_free(self->general_error);
	self->general_error = g_strdup(msg);
	gtk_label_set_text(self->error_label, msg ? msg : "");
	gtk_revealer_set_reveal_child(self->error_revealer, msg != NULL);
}

static AdwActionRow **all_rows(AtollManagerNewDomain *self, gsize *n)
{
	AdwActionRow *rows[] = {
		self->name_row, self->memory_row, self->vcpus_row, self->kernel_row,
		self->initrd_row, self->disk_row, self->cmdline_row, self->label_row,
		ADW_ACTION_ROW(self->boot_row), ADW_ACTION_ROW(self->network_row),
		self->new_disk_row, ADW_ACTION_ROW(self->os_row),
		ADW_ACTION_ROW(self->firmware_row), self->iso_row,
	};
	*n = G_N_ELEMENTS(rows);
	return g_memdup2(rows, sizeof(rows));
}

static void clear_errors(AtollManagerNewDomain *self)
{
	gsize n;
	g_autofree AdwActionRow **rows = all_rows(self, &n);
	for (gsize i = 0; i < n; i++)
		atoll_field_row_set_error(rows[i], NULL);
	set_general_error(self, NULL);
}

/* atolld's field path -> the row that edits it. */
static AdwActionRow *row_for_field(AtollManagerNewDomain *self, const char *field)
{
	if (!field)
		return NULL;
	if (g_str_has_prefix(field, "firmware") || g_str_has_prefix(field, "boot_order"))
		return ADW_ACTION_ROW(self->firmware_row);
	/* From an ISO the first disk is the ISO, the second the new disk. */
	if (adw_combo_row_get_selected(self->firmware_row) == FW_UEFI_ISO &&
	    g_str_has_prefix(field, "disks["))
		return g_str_has_prefix(field, "disks[0]") ? self->iso_row : self->new_disk_row;
	static const struct { const char *prefix; gsize offset; } map[] = {
		{ "name", G_STRUCT_OFFSET(AtollManagerNewDomain, name_row) },
		{ "memory_mib", G_STRUCT_OFFSET(AtollManagerNewDomain, memory_row) },
		{ "vcpus", G_STRUCT_OFFSET(AtollManagerNewDomain, vcpus_row) },
		{ "kernel", G_STRUCT_OFFSET(AtollManagerNewDomain, kernel_row) },
		{ "initrd", G_STRUCT_OFFSET(AtollManagerNewDomain, initrd_row) },
		{ "cmdline", G_STRUCT_OFFSET(AtollManagerNewDomain, cmdline_row) },
		{ "disks", G_STRUCT_OFFSET(AtollManagerNewDomain, disk_row) },
		{ "nics", G_STRUCT_OFFSET(AtollManagerNewDomain, network_row) },
		{ "label", G_STRUCT_OFFSET(AtollManagerNewDomain, label_row) },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(map); i++) {
		gsize len = strlen(map[i].prefix);
		if (strncmp(field, map[i].prefix, len) == 0 &&
		    (field[len] == '\0' || field[len] == '[' || field[len] == '.'))
			return G_STRUCT_MEMBER(AdwActionRow *, self, map[i].offset);
	}
	return NULL;
}


/* ---- validation ---- */

static gboolean name_valid(const char *name)
{
	gsize len = strlen(name);
	if (len < 1 || len > 64 || name[0] == '.')
		return FALSE;
	for (gsize i = 0; i < len; i++)
		if (!g_ascii_isalnum(name[i]) && !strchr("._-", name[i]))
			return FALSE;
	return TRUE;
}

static const char *entry_text(GtkEntry *entry)
{
	return gtk_editable_get_text(GTK_EDITABLE(entry));
}

static gboolean check_file(AdwActionRow *row, GtkEntry *entry, gboolean required,
			   const char *what)
{
	const char *path = entry_text(entry);
	g_autofree char *msg = NULL;
	if (!*path) {
		if (!required)
			return TRUE;
		msg = g_strdup_printf(_("Required: choose the %s"), what);
	} else if (path[0] != '/') {
		msg = g_strdup(_("Give the full path, starting with /"));
	} else if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		msg = g_strdup(_("There is no such file on this host"));
	} else if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
		msg = g_strdup_printf(_("Not a regular file: choose the %s itself"), what);
	}
	if (msg)
		atoll_field_row_set_error(row, msg);
	return msg == NULL;
}

static guint firmware(AtollManagerNewDomain *self)
{
	return adw_combo_row_get_selected(self->firmware_row);
}

/* An existing disk image: the kernel's root disk, or what firmware boots. */
static gboolean uses_disk(AtollManagerNewDomain *self)
{
	guint fw = firmware(self);
	return fw == FW_UEFI_DISK || fw == FW_BIOS_DISK ||
	       (fw == FW_KERNEL && adw_combo_row_get_selected(self->boot_row) == BOOT_DISK);
}

/* A blank disk atolld creates: a kernel's root disk or an install target. */
static gboolean uses_new_disk(AtollManagerNewDomain *self)
{
	guint fw = firmware(self);
	return fw == FW_UEFI_ISO ||
	       (fw == FW_KERNEL && adw_combo_row_get_selected(self->boot_row) == BOOT_NEW_DISK);
}

static gboolean validate(AtollManagerNewDomain *self)
{
	gboolean ok = TRUE;
	const char *name = entry_text(self->name_entry);
	if (!*name) {
		atoll_field_row_set_error(self->name_row, _("Required: give the domain a name"));
		ok = FALSE;
	} else if (!name_valid(name)) {
		atoll_field_row_set_error(self->name_row,
			_("Use 1 to 64 letters, digits, “.”, “_” or “-”, not starting with “.”"));
		ok = FALSE;
	}
	GtkAdjustment *mem = gtk_spin_button_get_adjustment(self->memory_spin);
	double m = gtk_spin_button_get_value(self->memory_spin);
	if (m < MIN_MEMORY_MIB || m > gtk_adjustment_get_upper(mem)) {
		g_autofree char *msg = g_strdup_printf(_("Choose between %d and %.0f MiB"),
						       MIN_MEMORY_MIB, gtk_adjustment_get_upper(mem));
		atoll_field_row_set_error(self->memory_row, msg);
		ok = FALSE;
	}
	if (firmware(self) == FW_KERNEL) {
		ok = check_file(self->kernel_row, self->kernel_entry, TRUE, _("kernel")) && ok;
		ok = check_file(self->initrd_row, self->initrd_entry, FALSE, _("initrd")) && ok;
	}
	if (uses_disk(self))
		ok = check_file(self->disk_row, self->disk_entry, TRUE, _("disk image")) && ok;
	if (firmware(self) == FW_UEFI_ISO)
		ok = check_file(self->iso_row, self->iso_entry, TRUE, _("ISO image")) && ok;
	return ok;
}

/* ---- building and sending ---- */

static void add_kernel(AtollManagerNewDomain *self, JsonBuilder *b)
{
	json_builder_set_member_name(b, "kernel");
	json_builder_add_string_value(b, entry_text(self->kernel_entry));
	if (*entry_text(self->initrd_entry)) {
		json_builder_set_member_name(b, "initrd");
		json_builder_add_string_value(b, entry_text(self->initrd_entry));
	}
	if (*entry_text(self->cmdline_entry)) {
		json_builder_set_member_name(b, "cmdline");
		json_builder_add_string_value(b, entry_text(self->cmdline_entry));
	}
}

static void add_firmware(AtollManagerNewDomain *self, JsonBuilder *b)
{
	guint fw = firmware(self);
	json_builder_set_member_name(b, "firmware");
	json_builder_add_string_value(b, fw == FW_BIOS_DISK ? "bios" : "uefi");
	/* Installing: the ISO first, then the target disk, which is what
	 * boots once setup has written a boot loader to it. */
	json_builder_set_member_name(b, "boot_order");
	json_builder_add_string_value(b, fw == FW_UEFI_ISO ? "disk0,disk1" : "disk0");
}

static void add_disk(JsonBuilder *b, const char *path, gboolean readonly)
{
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "path");
	json_builder_add_string_value(b, path);
	if (readonly) {
		json_builder_set_member_name(b, "readonly");
		json_builder_add_boolean_value(b, TRUE);
	}
	json_builder_end_object(b);
}

JsonNode *atoll_manager_new_domain_build(AtollManagerNewDomain *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, entry_text(self->name_entry));
	json_builder_set_member_name(b, "memory_mib");
	json_builder_add_int_value(b, gtk_spin_button_get_value_as_int(self->memory_spin));
	json_builder_set_member_name(b, "vcpus");
	json_builder_add_int_value(b, gtk_spin_button_get_value_as_int(self->vcpus_spin));
	if (firmware(self) == FW_KERNEL)
		add_kernel(self, b);
	else
		add_firmware(self, b);
	json_builder_set_member_name(b, "disks");
	json_builder_begin_array(b);
	/* The ISO goes first so that boot_order's disk0 is the installer. */
	if (firmware(self) == FW_UEFI_ISO)
		add_disk(b, entry_text(self->iso_entry), TRUE);
	const char *disk = uses_disk(self) ? entry_text(self->disk_entry) :
			   uses_new_disk(self) ? self->created_image : NULL;
	if (disk)
		add_disk(b, disk, FALSE);
	json_builder_end_array(b);
	json_builder_set_member_name(b, "nics");
	json_builder_begin_array(b);
	guint net = adw_combo_row_get_selected(self->network_row);
	if (net < self->network_nics->len && g_ptr_array_index(self->network_nics, net))
		json_builder_add_value(b, json_node_copy(g_ptr_array_index(self->network_nics, net)));
	json_builder_end_array(b);
	GdkRGBA rgba;
	gtk_color_chooser_get_rgba(GTK_COLOR_CHOOSER(self->label_button), &rgba);
	g_autofree char *label = atoll_label_format(&rgba);
	json_builder_set_member_name(b, "label");
	json_builder_add_string_value(b, label);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static void define_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerNewDomain) self = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self->busy = FALSE;
	gtk_widget_set_sensitive(GTK_WIDGET(self->create_button), TRUE);
	if (!reply) {
		const char *field = atoll_client_error_get_field(error);
		AdwActionRow *row = row_for_field(self, field);
		/* A name that exists is a 409 without a field: it still belongs
		 * next to the name. */
		if (!row && g_error_matches(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_CONFLICT))
			row = self->name_row;
		if (row) {
			atoll_field_row_set_error(row, atoll_manager_strip_field(error->message, field));
			gtk_widget_grab_focus(GTK_WIDGET(row));
		} else {
			g_autofree char *msg = g_strdup_printf(_("atolld refused the domain: %s"),
							       error->message);
			set_general_error(self, msg);
		}
		return;
	}
	g_autofree char *name = g_strdup(entry_text(self->name_entry));
	g_signal_emit(self, signals[SIGNAL_CREATED], 0, name);
	gtk_window_close(GTK_WINDOW(self));
}

static void define(AtollManagerNewDomain *self)
{
	g_autoptr(JsonNode) def = atoll_manager_new_domain_build(self);
	atoll_client_request_async(self->client, "POST", "/v1/domains", def, self->cancel,
				   define_done, g_object_ref(self));
}

/* A new blank disk is made first (POST /v1/images), once per name: a
 * definition refused afterwards reuses it on the next try. */
static gboolean needs_image(AtollManagerNewDomain *self)
{
	return uses_new_disk(self) &&
	       g_strcmp0(self->created_for, entry_text(self->name_entry)) != 0;
}

static void image_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerNewDomain) self = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	const char *path = reply ? atoll_json_string(reply, "path", NULL) : NULL;
	if (!path) {
		self->busy = FALSE;
		gtk_widget_set_sensitive(GTK_WIDGET(self->create_button), TRUE);
		const char *field = error ? atoll_client_error_get_field(error) : NULL;
		AdwActionRow *row = g_strcmp0(field, "size_mib") == 0 ? self->new_disk_row :
				    self->name_row;
		g_autofree char *msg = g_strdup_printf(_("Could not create the disk: %s"),
			error ? atoll_manager_strip_field(error->message, field) : _("atolld sent no path"));
		atoll_field_row_set_error(row, msg);
		gtk_widget_grab_focus(GTK_WIDGET(row));
		return;
	}
	g_free(self->created_image);
	self->created_image = g_strdup(path);
	g_free(self->created_for);
	self->created_for = g_strdup(entry_text(self->name_entry));
	define(self);
}

static void create_image(AtollManagerNewDomain *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	g_autofree char *file = g_strdup_printf("%s.img", entry_text(self->name_entry));
	json_builder_add_string_value(b, file);
	json_builder_set_member_name(b, "size_mib");
	json_builder_add_int_value(b, (gint64)gtk_spin_button_get_value_as_int(self->disk_size_spin) * 1024);
	json_builder_end_object(b);
	g_autoptr(JsonNode) body = json_builder_get_root(b);
	atoll_client_request_async(self->client, "POST", "/v1/images", body, self->cancel,
				   image_done, g_object_ref(self));
}

gboolean atoll_manager_new_domain_create(AtollManagerNewDomain *self)
{
	if (self->busy)
		return TRUE;
	clear_errors(self);
	if (!validate(self)) {
		/* Take the keyboard to the first field that needs attention. */
		gsize n;
		g_autofree AdwActionRow **rows = all_rows(self, &n);
		for (gsize i = 0; i < n; i++)
			if (atoll_field_row_has_error(rows[i])) {
				gtk_widget_grab_focus(GTK_WIDGET(rows[i]));
				break;
			}
		return FALSE;
	}
	self->busy = TRUE;
	gtk_widget_set_sensitive(GTK_WIDGET(self->create_button), FALSE);
	if (needs_image(self)) {
		create_image(self);
		return TRUE;
	}
	define(self);
	return TRUE;
}

static void create_activated(GtkWidget *widget, const char *action, GVariant *param)
{
	(void)action;
	(void)param;
	atoll_manager_new_domain_create(ATOLL_MANAGER_NEW_DOMAIN(widget));
}

/* ---- networks ---- */

/* "No network" is a NULL entry, which json_node_unref() refuses. */
static void nic_free(gpointer nic)
{
	if (nic)
		json_node_unref(nic);
}

static void add_network(AtollManagerNewDomain *self, const char *label, JsonNode *nic)
{
	gtk_string_list_append(self->network_names, label);
	g_ptr_array_add(self->network_nics, nic);
}

static JsonNode *nic_json(const char *type, const char *network)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "type");
	json_builder_add_string_value(b, type);
	if (network) {
		json_builder_set_member_name(b, "network");
		json_builder_add_string_value(b, network);
	}
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static void networks_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerNewDomain) self = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self->networks_loaded = TRUE;
	JsonArray *nets = reply ? atoll_client_reply_array(reply, "networks") : NULL;
	for (guint i = 0; nets && i < json_array_get_length(nets); i++) {
		JsonNode *n = json_array_get_element(nets, i);
		const char *name = atoll_json_string(n, "name", NULL);
		if (!name)
			continue;
		const char *bridge = atoll_json_string(n, "bridge", NULL);
		g_autofree char *label = bridge ?
			g_strdup_printf(_("Network “%s” (%s)"), name, bridge) :
			g_strdup_printf(_("Network “%s”"), name);
		add_network(self, label, nic_json("network", name));
		if (g_str_equal(name, "default"))
			adw_combo_row_set_selected(self->network_row,
						   self->network_nics->len - 1);
	}
	if (!reply)
		adw_action_row_set_subtitle(ADW_ACTION_ROW(self->network_row),
			_("libvirt networks are not available on this host; user-mode NAT works without them"));
}

/* ---- file choosers ---- */

static void chooser_response(GtkNativeDialog *dialog, int response, gpointer data)
{
	GtkEntry *entry = data;
	if (response == GTK_RESPONSE_ACCEPT) {
		g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
		g_autofree char *path = file ? g_file_get_path(file) : NULL;
		if (path)
			gtk_editable_set_text(GTK_EDITABLE(entry), path);
	}
	g_object_unref(dialog);
}

static void browse(AtollManagerNewDomain *self, GtkEntry *entry, const char *title)
{
	GtkFileChooserNative *dialog = gtk_file_chooser_native_new(title, GTK_WINDOW(self),
		GTK_FILE_CHOOSER_ACTION_OPEN, _("_Choose"), _("_Cancel"));
	gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
	g_signal_connect(dialog, "response", G_CALLBACK(chooser_response), entry);
	gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

static void on_browse(GtkButton *button, gpointer data)
{
	AtollManagerNewDomain *self = data;
	if (button == self->kernel_browse)
		browse(self, self->kernel_entry, _("Choose the Kernel"));
	else if (button == self->initrd_browse)
		browse(self, self->initrd_entry, _("Choose the Initrd"));
	else if (button == self->iso_browse)
		browse(self, self->iso_entry, _("Choose the ISO Image"));
	else
		browse(self, self->disk_entry, _("Choose the Disk Image"));
}

/* ---- live behaviour ---- */

static void on_boot_source(GObject *row, GParamSpec *pspec, gpointer data)
{
	AtollManagerNewDomain *self = data;
	(void)row;
	(void)pspec;
	guint boot = adw_combo_row_get_selected(self->boot_row);
	gboolean disk = boot != BOOT_KERNEL;
	gboolean kernel = firmware(self) == FW_KERNEL;
	GtkWidget *kernel_rows[] = { GTK_WIDGET(self->boot_row), GTK_WIDGET(self->kernel_row),
				     GTK_WIDGET(self->initrd_row), GTK_WIDGET(self->cmdline_row) };
	for (gsize i = 0; i < G_N_ELEMENTS(kernel_rows); i++)
		gtk_widget_set_visible(kernel_rows[i], kernel);
	gtk_widget_set_visible(GTK_WIDGET(self->iso_row), firmware(self) == FW_UEFI_ISO);
	gtk_widget_set_visible(GTK_WIDGET(self->disk_row), uses_disk(self));
	gtk_widget_set_visible(GTK_WIDGET(self->new_disk_row), uses_new_disk(self));
	/* Suggest the root= that goes with the disk, unless the user wrote one. */
	const char *cmd = entry_text(self->cmdline_entry);
	const char *disk_cmd = os_kinds[adw_combo_row_get_selected(self->os_row) %
					G_N_ELEMENTS(os_kinds)].disk_cmdline;
	if (disk && g_str_equal(cmd, "console=ttyS0"))
		gtk_editable_set_text(GTK_EDITABLE(self->cmdline_entry), disk_cmd);
	else if (!disk && g_str_equal(cmd, disk_cmd))
		gtk_editable_set_text(GTK_EDITABLE(self->cmdline_entry), "console=ttyS0");
}

static gboolean is_suggested_cmdline(const char *cmd)
{
	for (gsize i = 0; i < G_N_ELEMENTS(os_kinds); i++)
		if (g_str_equal(cmd, os_kinds[i].disk_cmdline))
			return TRUE;
	return FALSE;
}

static void on_os_kind(GObject *row, GParamSpec *pspec, gpointer data)
{
	AtollManagerNewDomain *self = data;
	(void)row;
	(void)pspec;
	guint kind = adw_combo_row_get_selected(self->os_row);
	if (kind >= G_N_ELEMENTS(os_kinds))
		return;
	gint64 mem = os_kinds[kind].memory_mib;
	if (self->host_mib > 0)
		mem = MIN(mem, MAX(MIN_MEMORY_MIB, self->host_mib / 4));
	gtk_spin_button_set_value(self->memory_spin, (double)mem);
	gtk_spin_button_set_value(self->disk_size_spin, os_kinds[kind].disk_gib);
	adw_combo_row_set_selected(self->firmware_row, os_kinds[kind].firmware);
	gtk_widget_set_visible(GTK_WIDGET(self->note_row), os_kinds[kind].note != NULL);
	if (os_kinds[kind].note)
		adw_action_row_set_subtitle(self->note_row, _(os_kinds[kind].note));
	/* The command line only while it is one this form suggested. */
	const char *cmd = entry_text(self->cmdline_entry);
	if (adw_combo_row_get_selected(self->boot_row) != BOOT_KERNEL &&
	    is_suggested_cmdline(cmd))
		gtk_editable_set_text(GTK_EDITABLE(self->cmdline_entry),
				      os_kinds[kind].disk_cmdline);
}

static void on_edited(GtkEditable *editable, gpointer data)
{
	/* An edited field's old error no longer applies. */
	GtkWidget *row = gtk_widget_get_ancestor(GTK_WIDGET(editable), ADW_TYPE_ACTION_ROW);
	(void)data;
	if (row && atoll_field_row_has_error(ADW_ACTION_ROW(row)))
		atoll_field_row_set_error(ADW_ACTION_ROW(row), NULL);
}

static void apply_host_limits(AtollManagerNewDomain *self, JsonNode *host)
{
	gint64 cpus = atoll_json_int(host, "cpus", 0);
	gint64 mib = atoll_json_int(host, "memory_bytes", 0) / (1024 * 1024);
	if (cpus > 0) {
		GtkAdjustment *adj = gtk_spin_button_get_adjustment(self->vcpus_spin);
		gtk_adjustment_set_upper(adj, (double)MIN(cpus, MAX_VCPUS));
		gtk_spin_button_set_value(self->vcpus_spin, (double)MIN(cpus, 2));
	}
	self->host_mib = mib;
	if (mib > MIN_MEMORY_MIB) {
		GtkAdjustment *adj = gtk_spin_button_get_adjustment(self->memory_spin);
		gtk_adjustment_set_upper(adj, (double)mib);
		gtk_spin_button_set_value(self->memory_spin,
					  (double)MIN(DEFAULT_MEMORY_MIB, MAX(MIN_MEMORY_MIB, mib / 4)));
	}
	if (cpus > 0 && mib > 0) {
		g_autofree char *mem = atoll_format_mib(mib);
		g_autofree char *desc = g_strdup_printf(
			_("This host has %" G_GINT64_FORMAT " CPUs and %s of memory."), cpus, mem);
		adw_preferences_group_set_description(self->resources_group, desc);
	}
}

/* ---- GObject ---- */

static void atoll_manager_new_domain_dispose(GObject *object)
{
	AtollManagerNewDomain *self = ATOLL_MANAGER_NEW_DOMAIN(object);
	if (self->cancel)
		g_cancellable_cancel(self->cancel);
	gtk_widget_dispose_template(GTK_WIDGET(self), ATOLL_TYPE_MANAGER_NEW_DOMAIN);
	G_OBJECT_CLASS(atoll_manager_new_domain_parent_class)->dispose(object);
}

static void atoll_manager_new_domain_finalize(GObject *object)
{
	AtollManagerNewDomain *self = ATOLL_MANAGER_NEW_DOMAIN(object);
	g_clear_object(&self->cancel);
	g_clear_object(&self->client);
	g_clear_object(&self->network_names);
	g_ptr_array_unref(self->network_nics);
	g_free(self->general_error);
	g_free(self->created_image);
	g_free(self->created_for);
	G_OBJECT_CLASS(atoll_manager_new_domain_parent_class)->finalize(object);
}

static void atoll_manager_new_domain_class_init(AtollManagerNewDomainClass *klass)
{
	GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
	G_OBJECT_CLASS(klass)->dispose = atoll_manager_new_domain_dispose;
	G_OBJECT_CLASS(klass)->finalize = atoll_manager_new_domain_finalize;
	signals[SIGNAL_CREATED] = g_signal_new("created", G_TYPE_FROM_CLASS(klass),
		G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
	gtk_widget_class_set_template_from_resource(wc,
		"/org/atoll/Manager/atoll-manager-new-domain.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, AtollManagerNewDomain, x)
	BIND(error_revealer); BIND(error_label); BIND(resources_group); BIND(name_row);
	BIND(memory_row); BIND(vcpus_row); BIND(kernel_row); BIND(initrd_row); BIND(disk_row);
	BIND(cmdline_row); BIND(label_row); BIND(boot_row); BIND(network_row);
	BIND(name_entry); BIND(kernel_entry); BIND(initrd_entry); BIND(disk_entry);
	BIND(cmdline_entry); BIND(memory_spin); BIND(vcpus_spin); BIND(kernel_browse);
	BIND(initrd_browse); BIND(disk_browse); BIND(create_button); BIND(cancel_button);
	BIND(label_button); BIND(os_row); BIND(new_disk_row); BIND(disk_size_spin);
	BIND(firmware_row); BIND(iso_row); BIND(iso_entry); BIND(iso_browse); BIND(note_row);
#undef BIND
	gtk_widget_class_install_action(wc, "assistant.create", NULL, create_activated);
	gtk_widget_class_add_binding_action(wc, GDK_KEY_Escape, 0, "window.close", NULL);
	gtk_widget_class_add_binding_action(wc, GDK_KEY_Return, GDK_CONTROL_MASK,
					    "assistant.create", NULL);
}

static void label_controls(AtollManagerNewDomain *self)
{
	static const struct { gsize offset; const char *label; } labels[] = {
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, name_entry), N_("Domain name") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, memory_spin), N_("Memory in MiB") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, vcpus_spin), N_("Number of vCPUs") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, kernel_entry), N_("Kernel path") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, initrd_entry), N_("Initrd path") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, disk_entry), N_("Disk image path") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, cmdline_entry), N_("Kernel command line") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, kernel_browse), N_("Choose the kernel file") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, initrd_browse), N_("Choose the initrd file") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, disk_browse), N_("Choose the disk image") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, label_button), N_("Label colour") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, create_button), N_("Create the domain") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, cancel_button), N_("Cancel") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, disk_size_spin), N_("New disk size in GiB") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, iso_entry), N_("Installer ISO image path") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, iso_browse), N_("Choose the installer ISO image") },
		{ G_STRUCT_OFFSET(AtollManagerNewDomain, firmware_row), N_("Firmware and boot") },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(labels); i++)
		atoll_set_accessible_label(G_STRUCT_MEMBER(GtkWidget *, self, labels[i].offset),
					   _(labels[i].label));
}

static void atoll_manager_new_domain_init(AtollManagerNewDomain *self)
{
	gtk_widget_init_template(GTK_WIDGET(self));
	self->cancel = g_cancellable_new();
	self->network_names = gtk_string_list_new(NULL);
	self->network_nics = g_ptr_array_new_with_free_func(nic_free);
	add_network(self, _("No network"), NULL);
	add_network(self, _("User-mode NAT (no host setup needed)"), nic_json("user", NULL));
	add_network(self, _("Isolated (no outside connection)"), nic_json("isolated", NULL));
	adw_combo_row_set_model(self->network_row, G_LIST_MODEL(self->network_names));
	adw_combo_row_set_selected(self->network_row, 1);

	GdkRGBA rgba;
	atoll_label_parse(DEFAULT_LABEL, &rgba);
	gtk_color_chooser_set_use_alpha(GTK_COLOR_CHOOSER(self->label_button), FALSE);
	gtk_color_chooser_set_rgba(GTK_COLOR_CHOOSER(self->label_button), &rgba);

	g_signal_connect(self->boot_row, "notify::selected", G_CALLBACK(on_boot_source), self);
	g_signal_connect(self->firmware_row, "notify::selected", G_CALLBACK(on_boot_source), self);
	g_signal_connect(self->os_row, "notify::selected", G_CALLBACK(on_os_kind), self);
	GtkButton *buttons[] = { self->kernel_browse, self->initrd_browse, self->disk_browse,
				 self->iso_browse };
	for (gsize i = 0; i < G_N_ELEMENTS(buttons); i++)
		g_signal_connect(buttons[i], "clicked", G_CALLBACK(on_browse), self);
	GtkEntry *entries[] = { self->name_entry, self->kernel_entry, self->initrd_entry,
				self->disk_entry, self->cmdline_entry, self->iso_entry };
	for (gsize i = 0; i < G_N_ELEMENTS(entries); i++)
		g_signal_connect(entries[i], "changed", G_CALLBACK(on_edited), self);
	label_controls(self);
	gtk_window_set_default_widget(GTK_WINDOW(self), GTK_WIDGET(self->create_button));
}

AtollManagerNewDomain *atoll_manager_new_domain_new(GtkWindow *parent, AtollClient *client,
						    JsonNode *host)
{
	AtollManagerNewDomain *self = g_object_new(ATOLL_TYPE_MANAGER_NEW_DOMAIN,
						   "transient-for", parent, NULL);
	self->client = g_object_ref(client);
	apply_host_limits(self, host);
	atoll_client_request_async(client, "GET", "/v1/networks", NULL, self->cancel,
				   networks_done, g_object_ref(self));
	gtk_widget_grab_focus(GTK_WIDGET(self->name_entry));
	return self;
}

gboolean atoll_manager_new_domain_networks_loaded(AtollManagerNewDomain *self)
{
	return self->networks_loaded;
}

const char *atoll_manager_new_domain_get_general_error(AtollManagerNewDomain *self)
{
	return self->general_error;
}
