/* atoll-manager-window-actions.c - the window's actions: the domain
 * lifecycle (start, shut down, force off, reboot, pause/resume, delete),
 * new domain, refresh, retry and the host list's.  Enabled by the selected domain's state. */
#include "atoll-manager-window.h"
#include "atoll-manager-domain-details.h"
#include "atoll-manager-util.h"

#include <glib/gi18n.h>

typedef struct {
	AtollManagerWindow *win;
	char *name;
	const char *what;   /* "start", for the error toast */
	JsonNode *def;      /* delete: the definition, for undo */
} ActionCall;

static void action_call_free(ActionCall *call)
{
	g_object_unref(call->win);
	if (call->def)
		json_node_unref(call->def);
	g_free(call->name);
	g_free(call);
}

static const char *verb(const char *what)
{
	static const struct { const char *action, *text; } verbs[] = {
		{ "start", N_("start") }, { "shutdown", N_("shut down") },
		{ "destroy", N_("force off") }, { "reboot", N_("reboot") },
		{ "pause", N_("pause") }, { "unpause", N_("resume") },
		{ "delete", N_("delete") },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(verbs); i++)
		if (g_str_equal(what, verbs[i].action))
			return _(verbs[i].text);
	return what;
}

static void action_done(GObject *src, GAsyncResult *res, gpointer data)
{
	ActionCall *call = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (!reply) {
		g_autofree char *prefix = g_strdup_printf(_("Could not %s “%s”"),
							  verb(call->what), call->name);
		atoll_manager_window_toast_error(call->win, prefix, error);
	} else if (g_str_equal(call->what, "delete")) {
		JsonNode *deleted = JSON_NODE_HOLDS_OBJECT(reply) ?
			json_object_get_member(json_node_get_object(reply), "deleted_disks") : NULL;
		guint n = deleted && JSON_NODE_HOLDS_ARRAY(deleted) ?
			json_array_get_length(json_node_get_array(deleted)) : 0;
		g_autofree char *text = n ?
			g_strdup_printf(_("Domain “%s” deleted with %u disk images"), call->name, n) :
			g_strdup_printf(_("Domain “%s” deleted"), call->name);
		/* With its disks kept, defining it again is a complete undo. */
		if (!n && call->def) {
			g_object_set_data_full(G_OBJECT(call->win), "undo-definition",
					       json_node_ref(call->def),
					       (GDestroyNotify)json_node_unref);
			atoll_manager_window_toast_action(call->win, text, _("_Undo"),
							  "win.undo-delete");
		} else {
			atoll_manager_window_toast(call->win, text);
		}
	}
	atoll_manager_window_refresh(call->win);
	action_call_free(call);
}

static void domain_request(AtollManagerWindow *self, const char *method,
			   const char *what, const char *suffix)
{
	const char *name = atoll_manager_window_get_selected(self);
	if (!name)
		return;
	ActionCall *call = g_new0(ActionCall, 1);
	call->win = g_object_ref(self);
	call->name = g_strdup(name);
	call->what = what;
	g_autofree char *path = atoll_client_domain_path(name, suffix);
	atoll_client_request_async(atoll_manager_window_get_client(self), method, path,
				   NULL, NULL, action_done, call);
}

#define SIMPLE_ACTION(fn, what)                                                  \
	static void fn(GSimpleAction *a, GVariant *p, gpointer data)            \
	{                                                                        \
		(void)a;                                                         \
		(void)p;                                                         \
		domain_request(data, "POST", what, "/" what);                    \
	}
SIMPLE_ACTION(start_activated, "start")
SIMPLE_ACTION(shutdown_activated, "shutdown")
SIMPLE_ACTION(force_off_activated, "destroy")
SIMPLE_ACTION(reboot_activated, "reboot")
SIMPLE_ACTION(pause_activated, "pause")
SIMPLE_ACTION(resume_activated, "unpause")
#undef SIMPLE_ACTION

/* ---- delete ---- */

static void delete_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
	AtollManagerWindow *self = data;
	if (!g_str_equal(response, "delete"))
		return;
	GtkCheckButton *disks = GTK_CHECK_BUTTON(adw_message_dialog_get_extra_child(dialog));
	const char *name = g_object_get_data(G_OBJECT(dialog), "domain");
	ActionCall *call = g_new0(ActionCall, 1);
	call->win = g_object_ref(self);
	call->name = g_strdup(name);
	call->what = "delete";
	/* The definition as last read, without the server's "status". */
	JsonNode *def = atoll_manager_domain_details_get_definition(
		ATOLL_MANAGER_DOMAIN_DETAILS(atoll_manager_window_get_details(self)));
	if (def && JSON_NODE_HOLDS_OBJECT(def) &&
	    g_strcmp0(atoll_json_string(def, "name", NULL), name) == 0) {
		call->def = json_node_copy(def);
		json_object_remove_member(json_node_get_object(call->def), "status");
	}
	g_autofree char *base = atoll_client_domain_path(name, NULL);
	g_autofree char *path = gtk_check_button_get_active(disks) ?
		g_strconcat(base, "?delete_disks=true", NULL) : g_strdup(base);
	atoll_client_request_async(atoll_manager_window_get_client(self), "DELETE", path,
				   NULL, NULL, action_done, call);
}

static void delete_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)a;
	(void)p;
	const char *name = atoll_manager_window_get_selected(self);
	if (!name)
		return;
	g_autofree char *heading = g_strdup_printf(_("Delete “%s”?"), name);
	GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), heading,
		_("Its definition is removed from this host. Its disk images are kept "
		  "unless you choose to delete them too."));
	adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog),
					 "cancel", _("_Cancel"), "delete", _("_Delete"), NULL);
	adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "delete",
						   ADW_RESPONSE_DESTRUCTIVE);
	adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
	adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
	GtkWidget *disks = gtk_check_button_new_with_mnemonic(_("Also delete its _disk images"));
	atoll_set_accessible_label(disks, _("Also delete the domain's disk images"));
	adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), disks);
	g_object_set_data_full(G_OBJECT(dialog), "domain", g_strdup(name), g_free);
	g_signal_connect_object(dialog, "response", G_CALLBACK(delete_response), self, 0);
	gtk_window_present(GTK_WINDOW(dialog));
}

static void undo_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerWindow) self = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (!reply) {
		atoll_manager_window_toast_error(self, _("Could not restore the domain"), error);
		return;
	}
	g_autofree char *text = g_strdup_printf(_("Domain “%s” restored"),
						atoll_json_string(reply, "name", "?"));
	atoll_manager_window_toast(self, text);
	atoll_manager_window_refresh(self);
}

static void undo_delete_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)a;
	(void)p;
	JsonNode *def = g_object_steal_data(G_OBJECT(self), "undo-definition");
	if (!def)
		return;
	atoll_client_request_async(atoll_manager_window_get_client(self), "POST",
				   "/v1/domains", def, NULL, undo_done, g_object_ref(self));
	json_node_unref(def);
}

/* ---- clone ---- */

static void clone_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
	if (!g_str_equal(response, "clone"))
		return;
	GtkEditable *entry = GTK_EDITABLE(adw_message_dialog_get_extra_child(dialog));
	atoll_manager_window_clone(data, g_object_get_data(G_OBJECT(dialog), "domain"),
				   gtk_editable_get_text(entry));
}

static void clone_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)a;
	(void)p;
	const char *name = atoll_manager_window_get_selected(self);
	if (!name)
		return;
	g_autofree char *heading = g_strdup_printf(_("Clone “%s”"), name);
	GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), heading,
		_("atolld copies its writable disks into its image directory (read-only "
		  "disks are shared) and gives the copy new MAC addresses. Keep the domain "
		  "shut off until the copy is done; the progress shows below the list."));
	adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog),
					 "cancel", _("_Cancel"), "clone", _("C_lone"), NULL);
	adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "clone",
						   ADW_RESPONSE_SUGGESTED);
	adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "clone");
	adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
	GtkWidget *entry = gtk_entry_new();
	g_autofree char *suggestion = g_strdup_printf("%s-clone", name);
	gtk_editable_set_text(GTK_EDITABLE(entry), suggestion);
	gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
	atoll_set_accessible_label(entry, _("Name of the copy"));
	adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), entry);
	g_object_set_data_full(G_OBJECT(dialog), "domain", g_strdup(name), g_free);
	g_signal_connect_object(dialog, "response", G_CALLBACK(clone_response), self, 0);
	gtk_window_present(GTK_WINDOW(dialog));
	gtk_widget_grab_focus(entry);
}

/* ---- the rest ---- */

static void new_domain_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	(void)a;
	(void)p;
	atoll_manager_window_new_domain(data);
}

static void refresh_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	(void)a;
	(void)p;
	atoll_manager_window_refresh(data);
}

static void retry_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	(void)a;
	(void)p;
	atoll_manager_window_retry(data);
}

static void add_host_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	(void)a;
	(void)p;
	atoll_manager_window_add_host_dialog(data);
}

static void local_host_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	(void)a;
	(void)p;
	atoll_manager_window_show_local(data);
}

static const GActionEntry entries[] = {
	{ .name = "new-domain", .activate = new_domain_activated },
	{ .name = "refresh", .activate = refresh_activated },
	{ .name = "retry", .activate = retry_activated },
	{ .name = "add-host", .activate = add_host_activated },
	{ .name = "local-host", .activate = local_host_activated },
	{ .name = "start", .activate = start_activated },
	{ .name = "shutdown", .activate = shutdown_activated },
	{ .name = "force-off", .activate = force_off_activated },
	{ .name = "reboot", .activate = reboot_activated },
	{ .name = "pause", .activate = pause_activated },
	{ .name = "resume", .activate = resume_activated },
	{ .name = "delete", .activate = delete_activated },
	{ .name = "undo-delete", .activate = undo_delete_activated },
	{ .name = "clone", .activate = clone_activated },
};

void atoll_manager_window_actions_init(AtollManagerWindow *self)
{
	g_action_map_add_action_entries(G_ACTION_MAP(self), entries,
					G_N_ELEMENTS(entries), self);
	atoll_manager_window_actions_update(self);
}

static void enable(AtollManagerWindow *self, const char *action, gboolean on)
{
	GAction *a = g_action_map_lookup_action(G_ACTION_MAP(self), action);
	g_simple_action_set_enabled(G_SIMPLE_ACTION(a), on);
}

static gboolean state_is(const char *state, const char *const *states)
{
	return state && g_strv_contains(states, state);
}

void atoll_manager_window_actions_update(AtollManagerWindow *self)
{
	static const char *const startable[] = { "shutoff", "crashed", NULL };
	static const char *const running[] = { "running", NULL };
	static const char *const paused[] = { "paused", NULL };
	static const char *const active[] = { "running", "paused", "starting",
					      "shutting-down", "crashed", NULL };
	static const char *const deletable[] = { "shutoff", "crashed", "broken", NULL };
	const char *name = atoll_manager_window_get_selected(self);
	AtollManagerDomainRow *row = name ? atoll_manager_window_find_row(self, name) : NULL;
	const char *state = row ? atoll_manager_domain_row_get_state(row) : NULL;

	enable(self, "start", state_is(state, startable));
	enable(self, "shutdown", state_is(state, running));
	enable(self, "reboot", state_is(state, running));
	enable(self, "pause", state_is(state, running));
	enable(self, "resume", state_is(state, paused));
	enable(self, "force-off", state_is(state, active));
	enable(self, "delete", state_is(state, deletable));
	enable(self, "clone", state_is(state, startable));

	GtkWidget *pause = (GtkWidget *)gtk_widget_get_template_child(GTK_WIDGET(self),
		ATOLL_TYPE_MANAGER_WINDOW, "pause_button");
	GtkWidget *resume = (GtkWidget *)gtk_widget_get_template_child(GTK_WIDGET(self),
		ATOLL_TYPE_MANAGER_WINDOW, "resume_button");
	gboolean is_paused = state_is(state, paused);
	gtk_widget_set_visible(pause, !is_paused);
	gtk_widget_set_visible(resume, is_paused);
}
