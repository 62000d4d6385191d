/* atoll-manager-window.c - see atoll-manager-window.h.
 *
 * Nothing here blocks: every request is atoll_client_request_async(), and
 * each callback holds a reference on the window so that a reply arriving
 * after the window closed finds it still valid (the dispose handler cancels
 * whatever is in flight). */
#include "atoll-manager-window.h"
#include "atoll-manager-add-host.h"
#include "atoll-manager-domain-details.h"
#include "atoll-manager-new-domain.h"
#include "atoll-manager-thumbnail.h"
#include "atoll-manager-util.h"
#include "atoll-manager-resources.h"

#include <glib/gi18n.h>

#define POLL_INTERVAL_S 2

typedef struct {
	double cpu_time_s;
	gint64 at_us;
	double percent;
} CpuSample;

struct _AtollManagerWindow {
	AdwApplicationWindow parent;

	AdwToastOverlay *toast_overlay;
	GtkStack *main_stack, *content_stack;
	AdwStatusPage *error_page;
	AdwLeaflet *leaflet;
	GtkListBox *host_list, *domain_list;
	AdwWindowTitle *content_title;
	GtkWidget *back_button, *new_button, *primary_button, *retry_button,
		  *empty_new_button, *more_button, *shutdown_button, *pause_button,
		  *resume_button, *start_button, *details, *add_host_button, *local_button;
	GtkRevealer *job_revealer;
	GtkLabel *job_label;
	GtkProgressBar *job_progress;

	AtollClient *client;    /* the shown host's */
	GPtrArray *hosts;       /* AtollManagerHost; [0] is this computer */
	AtollManagerHost *host; /* shown */
	AtollManagerHost *pending; /* selected, still connecting */
	GCancellable *cancel;
	SoupWebsocketConnection *events;
	JsonNode *host_info;    /* GET /v1/host */
	GHashTable *rows;       /* name -> AtollManagerDomainRow (owned by the list) */
	GHashTable *cpu;        /* name -> CpuSample */
	guint poll_id, refresh_idle;
	gboolean refreshing, refresh_again;
	char *error_text, *last_toast, *selected;
	char *cloning;          /* the new name of the clone we started */
	guint clone_events;     /* "clone-progress" events seen (tests) */
};

G_DEFINE_FINAL_TYPE(AtollManagerWindow, atoll_manager_window, ADW_TYPE_APPLICATION_WINDOW)

/* ---- toasts ---- */

void atoll_manager_window_toast(AtollManagerWindow *self, const char *text)
{
	g_free(self->last_toast);
	self->last_toast = g_strdup(text);
	/* AdwToast titles are markup in libadwaita 1.2. */
	g_autofree char *escaped = g_markup_escape_text(text, -1);
	AdwToast *toast = adw_toast_new(escaped);
	adw_toast_set_timeout(toast, 6);
	adw_toast_overlay_add_toast(self->toast_overlay, toast);
}

void atoll_manager_window_toast_action(AtollManagerWindow *self, const char *text,
				       const char *button, const char *action)
{
	g_free(self->last_toast);
	self->last_toast = g_strdup(text);
	g_autofree char *escaped = g_markup_escape_text(text, -1);
	AdwToast *toast = adw_toast_new(escaped);
	adw_toast_set_timeout(toast, 10);
	adw_toast_set_button_label(toast, button);
	adw_toast_set_action_name(toast, action);
	adw_toast_set_priority(toast, ADW_TOAST_PRIORITY_HIGH);
	adw_toast_overlay_add_toast(self->toast_overlay, toast);
}

void atoll_manager_window_toast_error(AtollManagerWindow *self, const char *prefix,
				      const GError *error)
{
	g_autofree char *text = g_strdup_printf("%s: %s", prefix, error->message);
	atoll_manager_window_toast(self, text);
}

const char *atoll_manager_window_get_last_toast(AtollManagerWindow *self)
{
	return self->last_toast;
}

/* ---- connection ---- */

static void disconnect_events(AtollManagerWindow *self)
{
	if (!self->events)
		return;
	g_signal_handlers_disconnect_by_data(self->events, self);
	if (soup_websocket_connection_get_state(self->events) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_close(self->events, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
	g_clear_object(&self->events);
}

static void show_error(AtollManagerWindow *self, const GError *error)
{
	g_free(self->error_text);
	gboolean remote = self->host && atoll_manager_host_is_remote(self->host);
	gtk_widget_set_visible(self->local_button, remote);
	if (remote && g_error_matches(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_UNREACHABLE))
		self->error_text = g_strdup_printf(
			_("%s.\n\nThe connection to atolld on %s (through ssh) is gone: "
			  "the network, ssh or atolld there stopped. Retry connects ssh "
			  "again."), error->message, atoll_manager_host_get_destination(self->host));
	else if (g_error_matches(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_UNREACHABLE))
		self->error_text = g_strdup_printf(
			_("%s.\n\nIs atolld running? Start it with “systemctl start atolld”. "
			  "Is your user in group atoll? Add it with “sudo usermod -aG atoll "
			  "$USER” and log in again. Then retry."), error->message);
	else
		self->error_text = g_strdup_printf(_("atolld answered: %s.\n\nCheck "
			"atolld's log (journalctl -u atolld), then retry."), error->message);
	adw_status_page_set_description(self->error_page, self->error_text);
	gtk_stack_set_visible_child_name(self->main_stack, "error");
	g_clear_handle_id(&self->poll_id, g_source_remove);
	disconnect_events(self);
	gtk_widget_grab_focus(self->retry_button);
}

static gboolean poll_tick(gpointer data)
{
	atoll_manager_window_refresh(data);
	return G_SOURCE_CONTINUE;
}

static gboolean refresh_idle_cb(gpointer data)
{
	AtollManagerWindow *self = data;
	self->refresh_idle = 0;
	atoll_manager_window_refresh(self);
	return G_SOURCE_REMOVE;
}

/* ---- clones: progress from atolld's "clone-*" events ---- */

static void clone_event(AtollManagerWindow *self, const char *type, JsonNode *ev)
{
	const char *name = atoll_json_string(ev, "name", "?");
	const char *source = atoll_json_string(ev, "source", "?");
	double done = atoll_json_double(ev, "done_bytes", 0);
	double total = atoll_json_double(ev, "total_bytes", 0);
	if (g_str_equal(type, "clone-progress")) {
		self->clone_events++;
		double f = total > 0 ? CLAMP(done / total, 0, 1) : 0;
		g_autofree char *size = g_format_size((guint64)total);
		g_autofree char *text = g_strdup_printf(_("Copying “%s” to “%s”: %.0f %% of %s"),
							source, name, f * 100, size);
		gtk_label_set_text(self->job_label, text);
		gtk_progress_bar_set_fraction(self->job_progress, f);
		atoll_set_accessible_label(GTK_WIDGET(self->job_progress), text);
		gtk_revealer_set_reveal_child(self->job_revealer, TRUE);
		return;
	}
	gtk_revealer_set_reveal_child(self->job_revealer, FALSE);
	g_autofree char *text = g_str_equal(type, "clone-done") ?
		g_strdup_printf(_("“%s” is ready: a copy of “%s”"), name, source) :
		g_strdup(atoll_json_string(ev, "message", _("The clone failed")));
	atoll_manager_window_toast(self, text);
	if (g_str_equal(type, "clone-done") && g_strcmp0(name, self->cloning) == 0)
		g_object_set_data_full(G_OBJECT(self), "select-after-refresh", g_strdup(name),
				       g_free);
	g_clear_pointer(&self->cloning, g_free);
	atoll_manager_window_refresh(self);
}

typedef struct {
	AtollManagerWindow *self;
	char *source, *name;
} CloneCall;

static void clone_started(GObject *src, GAsyncResult *res, gpointer data)
{
	CloneCall *c = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (!reply) {
		g_autofree char *prefix = g_strdup_printf(_("Could not clone “%s”"), c->source);
		atoll_manager_window_toast_error(c->self, prefix, error);
		if (g_strcmp0(c->self->cloning, c->name) == 0)
			g_clear_pointer(&c->self->cloning, g_free);
	} else if (g_strcmp0(c->self->cloning, c->name) == 0) {
		/* (A small copy may be done, its events handled, before this
		 * reply is: then there is nothing left to show.) */
		g_autofree char *text = g_strdup_printf(_("Copying “%s” to “%s”…"), c->source,
							c->name);
		gtk_label_set_text(c->self->job_label, text);
		gtk_revealer_set_reveal_child(c->self->job_revealer, TRUE);
	}
	g_object_unref(c->self);
	g_free(c->source);
	g_free(c->name);
	g_free(c);
}

void atoll_manager_window_clone(AtollManagerWindow *self, const char *source,
				const char *new_name)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "new_name");
	json_builder_add_string_value(b, new_name);
	json_builder_end_object(b);
	g_autoptr(JsonNode) body = json_builder_get_root(b);
	/* Set now: the copy's events can overtake the reply. */
	g_free(self->cloning);
	self->cloning = g_strdup(new_name);
	CloneCall *c = g_new0(CloneCall, 1);
	c->self = g_object_ref(self);
	c->source = g_strdup(source);
	c->name = g_strdup(new_name);
	g_autofree char *path = atoll_client_domain_path(source, "/clone");
	atoll_client_request_async(self->client, "POST", path, body, self->cancel,
				   clone_started, c);
}

guint atoll_manager_window_get_clone_events(AtollManagerWindow *self)
{
	return self->clone_events;
}

static void on_event(SoupWebsocketConnection *ws, gint type, GBytes *message,
		     gpointer data)
{
	AtollManagerWindow *self = data;
	(void)ws;
	if (type != SOUP_WEBSOCKET_DATA_TEXT)
		return;
	gsize len;
	const char *text = g_bytes_get_data(message, &len);
	g_autoptr(JsonParser) parser = json_parser_new();
	if (!json_parser_load_from_data(parser, text, (gssize)len, NULL))
		return;
	atoll_manager_window_handle_event(self, json_parser_get_root(parser));
}

void atoll_manager_window_handle_event(AtollManagerWindow *self, JsonNode *ev)
{
	const char *name = atoll_json_string(ev, "name", NULL);
	const char *kind = atoll_json_string(ev, "type", "");
	if (g_str_has_prefix(kind, "clone-")) {
		clone_event(self, kind, ev);
		return;
	}
	/* Host devices come and go, or move between domains: the Devices tab
	 * follows (its "used by" column); the domain list too, below. */
	if (g_str_equal(kind, "device-changed"))
		atoll_manager_domain_details_device_changed(
			ATOLL_MANAGER_DOMAIN_DETAILS(self->details), ev);
	/* Many events may arrive together (a host shutdown): one list fetch
	 * answers them all. */
	if (!self->refresh_idle)
		self->refresh_idle = g_idle_add(refresh_idle_cb, self);
	if (name && g_strcmp0(name, self->selected) == 0)
		atoll_manager_domain_details_reload(ATOLL_MANAGER_DOMAIN_DETAILS(self->details));
}

static void on_events_closed(SoupWebsocketConnection *ws, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)ws;
	g_clear_object(&self->events);
	/* atolld restarted or stopped: find out which by connecting again. */
	atoll_manager_window_toast(self, _("The connection to atolld was lost; reconnecting"));
	atoll_manager_window_connect(self);
}

static void events_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerWindow) self = data;
	g_autoptr(GError) error = NULL;
	SoupWebsocketConnection *ws =
		atoll_client_websocket_connect_finish(ATOLL_CLIENT(src), res, &error);
	if (!ws) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			atoll_manager_window_toast_error(self,
				_("Live updates are off (the list is refreshed every few seconds)"),
				error);
		return;
	}
	self->events = ws;
	soup_websocket_connection_set_keepalive_interval(ws, 0);
	g_signal_connect(ws, "message", G_CALLBACK(on_event), self);
	g_signal_connect(ws, "closed", G_CALLBACK(on_events_closed), self);
	/* Anything that changed between the first list and now. */
	atoll_manager_window_refresh(self);
}

static void host_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerWindow) self = data;
	g_autoptr(GError) error = NULL;
	JsonNode *host = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (!host) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			show_error(self, error);
		return;
	}
	g_clear_pointer(&self->host_info, json_node_unref);
	self->host_info = host;
	g_clear_pointer(&self->error_text, g_free);
	gtk_stack_set_visible_child_name(self->main_stack, "main");
	atoll_client_websocket_connect_async(self->client, "/v1/events", self->cancel,
					     events_ready, g_object_ref(self));
	atoll_manager_window_refresh(self);
	if (!self->poll_id)
		self->poll_id = g_timeout_add_seconds(POLL_INTERVAL_S, poll_tick, self);
}

void atoll_manager_window_connect(AtollManagerWindow *self)
{
	g_cancellable_cancel(self->cancel);
	g_clear_object(&self->cancel);
	self->cancel = g_cancellable_new();
	self->refreshing = FALSE;
	disconnect_events(self);
	g_clear_handle_id(&self->poll_id, g_source_remove);
	gtk_stack_set_visible_child_name(self->main_stack, "connecting");
	atoll_client_request_async(self->client, "GET", "/v1/host", NULL, self->cancel,
				   host_ready, g_object_ref(self));
}

const char *atoll_manager_window_get_page(AtollManagerWindow *self)
{
	return gtk_stack_get_visible_child_name(self->main_stack);
}

const char *atoll_manager_window_get_error(AtollManagerWindow *self)
{
	return self->error_text;
}

gboolean atoll_manager_window_has_events(AtollManagerWindow *self)
{
	return self->events != NULL;
}

JsonNode *atoll_manager_window_get_host(AtollManagerWindow *self)
{
	return self->host_info;
}

AtollClient *atoll_manager_window_get_client(AtollManagerWindow *self)
{
	return self->client;
}

/* ---- the domain list ---- */

static double cpu_percent(AtollManagerWindow *self, const char *name, JsonNode *entry)
{
	const char *state = atoll_json_string(entry, "state", "");
	if (!g_str_equal(state, "running") && !g_str_equal(state, "paused")) {
		g_hash_table_remove(self->cpu, name);
		return -1;
	}
	double t = atoll_json_double(entry, "cpu_time_s", 0);
	gint64 now = g_get_monotonic_time();
	CpuSample *s = g_hash_table_lookup(self->cpu, name);
	if (!s) {
		s = g_new0(CpuSample, 1);
		s->percent = -1;
		g_hash_table_insert(self->cpu, g_strdup(name), s);
	} else if (now - s->at_us >= G_USEC_PER_SEC / 2) {
		s->percent = MAX(0, (t - s->cpu_time_s) * 100.0 * G_USEC_PER_SEC /
				    (double)(now - s->at_us));
	} else {
		return s->percent;
	}
	s->cpu_time_s = t;
	s->at_us = now;
	return s->percent;
}

static void update_content_page(AtollManagerWindow *self)
{
	const char *page = "unselected";
	if (g_hash_table_size(self->rows) == 0)
		page = "empty";
	else if (self->selected)
		page = "details";
	gtk_stack_set_visible_child_name(self->content_stack, page);
	AtollManagerDomainRow *row = self->selected ?
		g_hash_table_lookup(self->rows, self->selected) : NULL;
	adw_window_title_set_title(self->content_title, self->selected ? self->selected : "");
	adw_window_title_set_subtitle(self->content_title, row ?
		atoll_state_display_name(atoll_manager_domain_row_get_state(row)) : "");
	atoll_manager_window_actions_update(self);
}

typedef struct {
	AtollManagerWindow *self;
	char *name;
} ConsoleQuery;

static void console_query_free(ConsoleQuery *q)
{
	g_object_unref(q->self);
	g_free(q->name);
	g_free(q);
}

static void console_uri_mapped(GObject *src, GAsyncResult *res, gpointer data)
{
	ConsoleQuery *q = data;
	g_autoptr(GError) error = NULL;
	g_autofree char *uri = atoll_manager_host_map_uri_finish(ATOLL_MANAGER_HOST(src), res,
								 &error);
	AtollManagerDomainRow *row = (AtollManagerHost *)src == q->self->host ?
		g_hash_table_lookup(q->self->rows, q->name) : NULL;
	/* No forward: no thumbnail (the console tab says why). */
	if (row && uri)
		atoll_manager_domain_row_set_console_uri(row, uri);
	console_query_free(q);
}

static void console_uri_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	ConsoleQuery *q = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) def = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	AtollManagerDomainRow *row = def ? g_hash_table_lookup(q->self->rows, q->name) : NULL;
	JsonNode *status = row ? json_object_get_member(json_node_get_object(def), "status") : NULL;
	JsonNode *spice = status && JSON_NODE_HOLDS_OBJECT(status) ?
		json_object_get_member(json_node_get_object(status), "spice") : NULL;
	const char *uri = spice && JSON_NODE_HOLDS_OBJECT(spice) ?
		atoll_json_string(spice, "uri", NULL) : NULL;
	if (uri && q->self->host) {
		/* A remote host's console is a path there: forwarded first. */
		atoll_manager_host_map_uri_async(q->self->host, uri, q->self->cancel,
						 console_uri_mapped, q);
		return;
	}
	if (row)
		atoll_manager_domain_row_set_console_uri(row, uri);
	console_query_free(q);
}

/* The list has no console address: ask for a running domain's once per
 * start, for its thumbnail. */
static void query_console_uri(AtollManagerWindow *self, AtollManagerDomainRow *row)
{
	if (!atoll_manager_domain_row_needs_console_uri(row))
		return;
	atoll_manager_domain_row_mark_console_pending(row);
	ConsoleQuery *q = g_new0(ConsoleQuery, 1);
	q->self = g_object_ref(self);
	q->name = g_strdup(atoll_manager_domain_row_get_name(row));
	g_autofree char *path = atoll_client_domain_path(q->name, NULL);
	atoll_client_request_async(self->client, "GET", path, NULL, self->cancel,
				   console_uri_ready, q);
}

static void apply_list(AtollManagerWindow *self, JsonArray *list)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < json_array_get_length(list); i++) {
		JsonNode *entry = json_array_get_element(list, i);
		const char *name = atoll_json_string(entry, "name", NULL);
		if (!name)
			continue;
		AtollManagerDomainRow *row = g_hash_table_lookup(self->rows, name);
		if (!row) {
			row = atoll_manager_domain_row_new(name);
			g_hash_table_insert(self->rows, g_strdup(name), row);
			gtk_list_box_append(self->domain_list, GTK_WIDGET(row));
		}
		atoll_manager_domain_row_update(row, entry, cpu_percent(self, name, entry));
		query_console_uri(self, row);
		g_hash_table_add(seen, (gpointer)atoll_manager_domain_row_get_name(row));
	}
	GHashTableIter it;
	gpointer key, value;
	g_hash_table_iter_init(&it, self->rows);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		if (g_hash_table_contains(seen, key))
			continue;
		if (g_strcmp0(key, self->selected) == 0)
			gtk_list_box_unselect_all(self->domain_list);
		g_hash_table_remove(self->cpu, key);
		gtk_list_box_remove(self->domain_list, value);
		g_hash_table_iter_remove(&it);
	}
	gtk_list_box_invalidate_sort(self->domain_list);
	const char *pending = g_object_get_data(G_OBJECT(self), "select-after-refresh");
	if (pending && atoll_manager_window_select(self, pending))
		g_object_set_data(G_OBJECT(self), "select-after-refresh", NULL);
	update_content_page(self);
}

static void list_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerWindow) self = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self->refreshing = FALSE;
	if (!reply) {
		if (g_error_matches(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_UNREACHABLE))
			show_error(self, error);
		else
			atoll_manager_window_toast_error(self, _("Could not list the domains"), error);
		return;
	}
	JsonArray *list = atoll_client_reply_array(reply, "domains");
	if (list)
		apply_list(self, list);
	if (self->refresh_again) {
		self->refresh_again = FALSE;
		atoll_manager_window_refresh(self);
	}
}

void atoll_manager_window_refresh(AtollManagerWindow *self)
{
	if (!self->cancel || g_cancellable_is_cancelled(self->cancel))
		return;
	if (self->refreshing) {
		/* The reply in flight may predate the change: ask again after. */
		self->refresh_again = TRUE;
		return;
	}
	self->refreshing = TRUE;
	atoll_client_request_async(self->client, "GET", "/v1/domains", NULL, self->cancel,
				   list_ready, g_object_ref(self));
}

AtollManagerDomainRow *atoll_manager_window_find_row(AtollManagerWindow *self,
						     const char *name)
{
	return g_hash_table_lookup(self->rows, name);
}

guint atoll_manager_window_get_n_domains(AtollManagerWindow *self)
{
	return g_hash_table_size(self->rows);
}

gboolean atoll_manager_window_select(AtollManagerWindow *self, const char *name)
{
	AtollManagerDomainRow *row = g_hash_table_lookup(self->rows, name);
	if (!row)
		return FALSE;
	gtk_list_box_select_row(self->domain_list, GTK_LIST_BOX_ROW(row));
	return TRUE;
}

const char *atoll_manager_window_get_selected(AtollManagerWindow *self)
{
	return self->selected;
}

const char *atoll_manager_window_get_content_page(AtollManagerWindow *self)
{
	return gtk_stack_get_visible_child_name(self->content_stack);
}

GtkWidget *atoll_manager_window_get_details(AtollManagerWindow *self)
{
	return self->details;
}

static void on_row_selected(GtkListBox *box, GtkListBoxRow *row, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)box;
	const char *name = row ? atoll_manager_domain_row_get_name(ATOLL_MANAGER_DOMAIN_ROW(row)) : NULL;
	if (g_strcmp0(name, self->selected) == 0)
		return;
	/* The details' console takes the domain's one SPICE client slot. */
	AtollManagerDomainRow *old = self->selected ?
		g_hash_table_lookup(self->rows, self->selected) : NULL;
	if (old)
		atoll_manager_thumbnail_set_suspended(ATOLL_MANAGER_THUMBNAIL(
			atoll_manager_domain_row_get_thumbnail(old)), FALSE);
	if (row)
		atoll_manager_thumbnail_set_suspended(ATOLL_MANAGER_THUMBNAIL(
			atoll_manager_domain_row_get_thumbnail(ATOLL_MANAGER_DOMAIN_ROW(row))), TRUE);
	g_free(self->selected);
	self->selected = g_strdup(name);
	atoll_manager_domain_details_show(ATOLL_MANAGER_DOMAIN_DETAILS(self->details), name);
	update_content_page(self);
	if (name)
		adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
}

static void on_row_activated(GtkListBox *box, GtkListBoxRow *row, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)box;
	(void)row;
	adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
	gtk_widget_child_focus(self->details, GTK_DIR_TAB_FORWARD);
}

static void on_back(GtkButton *button, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)button;
	adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

static int sort_rows(GtkListBoxRow *a, GtkListBoxRow *b, gpointer data)
{
	(void)data;
	return g_utf8_collate(atoll_manager_domain_row_get_name(ATOLL_MANAGER_DOMAIN_ROW(a)),
			      atoll_manager_domain_row_get_name(ATOLL_MANAGER_DOMAIN_ROW(b)));
}

/* ---- hosts ---- */

static GtkListBoxRow *host_row(AtollManagerWindow *self, AtollManagerHost *host)
{
	for (GtkWidget *w = gtk_widget_get_first_child(GTK_WIDGET(self->host_list)); w;
	     w = gtk_widget_get_next_sibling(w))
		if (g_object_get_data(G_OBJECT(w), "host") == host)
			return GTK_LIST_BOX_ROW(w);
	return NULL;
}

static void update_host_row(AtollManagerWindow *self, AtollManagerHost *host)
{
	GtkListBoxRow *row = host_row(self, host);
	if (!row)
		return;
	g_autofree char *status = atoll_manager_host_describe(host);
	adw_action_row_set_subtitle(ADW_ACTION_ROW(row), status);
	gboolean failed = atoll_manager_host_get_state(host) == ATOLL_MANAGER_HOST_FAILED;
	if (failed)
		gtk_widget_add_css_class(GTK_WIDGET(row), "error");
	else
		gtk_widget_remove_css_class(GTK_WIDGET(row), "error");
	g_autofree char *a11y = g_strdup_printf(_("Host %s: %s"),
						atoll_manager_host_get_title(host), status);
	atoll_set_accessible_label(GTK_WIDGET(row), a11y);
}

/* Shows @host's domains: everything shown so far belonged to another
 * atolld. */
static void use_host(AtollManagerWindow *self, AtollManagerHost *host)
{
	self->pending = NULL;
	if (host == self->host)
		return;
	g_set_object(&self->host, host);
	g_set_object(&self->client, atoll_manager_host_get_client(host));
	atoll_manager_domain_details_set_client(ATOLL_MANAGER_DOMAIN_DETAILS(self->details),
						self->client);
	atoll_manager_domain_details_set_host(ATOLL_MANAGER_DOMAIN_DETAILS(self->details), host);
	gtk_list_box_unselect_all(self->domain_list);
	GHashTableIter it;
	gpointer key, value;
	g_hash_table_iter_init(&it, self->rows);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		gtk_list_box_remove(self->domain_list, value);
		g_hash_table_iter_remove(&it);
	}
	g_hash_table_remove_all(self->cpu);
	/* A copy on the other host goes on, but its events come no more. */
	gtk_revealer_set_reveal_child(self->job_revealer, FALSE);
	g_clear_pointer(&self->cloning, g_free);
	atoll_manager_window_connect(self);
}

static void select_host_row(AtollManagerWindow *self, AtollManagerHost *host)
{
	GtkListBoxRow *row = host_row(self, host);
	if (row && gtk_list_box_get_selected_row(self->host_list) != row)
		gtk_list_box_select_row(self->host_list, row);
}

static void on_host_state(AtollManagerHost *host, GParamSpec *pspec, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)pspec;
	update_host_row(self, host);
	AtollManagerHostState state = atoll_manager_host_get_state(host);
	if (host == self->pending && state == ATOLL_MANAGER_HOST_READY) {
		use_host(self, host);
	} else if (state == ATOLL_MANAGER_HOST_FAILED) {
		atoll_manager_window_toast(self, atoll_manager_host_get_error(host));
		if (host == self->pending) {
			/* Stay with what is shown; the row keeps the reason. */
			self->pending = NULL;
			if (self->host)
				select_host_row(self, self->host);
		}
	}
}

static void on_host_selected(GtkListBox *box, GtkListBoxRow *row, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)box;
	AtollManagerHost *host = row ? g_object_get_data(G_OBJECT(row), "host") : NULL;
	if (!host || host == self->host)
		return;
	if (!atoll_manager_host_is_remote(host) ||
	    atoll_manager_host_get_state(host) == ATOLL_MANAGER_HOST_READY) {
		use_host(self, host);
		return;
	}
	self->pending = host;
	atoll_manager_host_open(host);
}

static void on_remove_host(GtkButton *button, gpointer data)
{
	AtollManagerWindow *self = data;
	atoll_manager_window_remove_host(self, g_object_get_data(G_OBJECT(button), "host"));
}

static void add_host_row(AtollManagerWindow *self, AtollManagerHost *host)
{
	AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());
	g_object_set_data(G_OBJECT(row), "host", host);
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), atoll_manager_host_get_title(host));
	adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(row), FALSE);
	adw_action_row_set_subtitle_lines(row, 4);
	gboolean remote = atoll_manager_host_is_remote(host);
	adw_action_row_add_prefix(row, gtk_image_new_from_icon_name(
		remote ? "network-server-symbolic" : "computer-symbolic"));
	if (remote) {
		GtkWidget *remove = gtk_button_new_from_icon_name("user-trash-symbolic");
		gtk_widget_set_valign(remove, GTK_ALIGN_CENTER);
		gtk_widget_add_css_class(remove, "flat");
		g_autofree char *tip = g_strdup_printf(_("Remove %s from the list"),
						       atoll_manager_host_get_title(host));
		gtk_widget_set_tooltip_text(remove, tip);
		atoll_set_accessible_label(remove, tip);
		g_object_set_data(G_OBJECT(remove), "host", host);
		g_signal_connect(remove, "clicked", G_CALLBACK(on_remove_host), self);
		adw_action_row_add_suffix(row, remove);
	}
	gtk_list_box_append(self->host_list, GTK_WIDGET(row));
	g_signal_connect(host, "notify::state", G_CALLBACK(on_host_state), self);
	update_host_row(self, host);
}

static char *hosts_file(void)
{
	return g_build_filename(g_get_user_config_dir(), "atoll-manager", "hosts.ini", NULL);
}

/* The remote hosts survive a restart; written atomically. */
static void save_hosts(AtollManagerWindow *self)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	for (guint i = 0; i < self->hosts->len; i++) {
		AtollManagerHost *h = self->hosts->pdata[i];
		if (!atoll_manager_host_is_remote(h))
			continue;
		g_key_file_set_string(kf, atoll_manager_host_get_destination(h), "socket",
				      atoll_manager_host_get_remote_socket(h));
	}
	g_autofree char *file = hosts_file();
	g_autofree char *dir = g_path_get_dirname(file);
	g_autofree char *data = g_key_file_to_data(kf, NULL, NULL);
	g_autoptr(GError) error = NULL;
	if (g_mkdir_with_parents(dir, 0700) < 0 ||
	    !g_file_set_contents_full(file, data, -1, G_FILE_SET_CONTENTS_CONSISTENT |
				      G_FILE_SET_CONTENTS_DURABLE, 0600, &error)) {
		g_autofree char *msg = g_strdup_printf(_("Could not save the host list in %s: %s"),
			file, error ? error->message : g_strerror(errno));
		atoll_manager_window_toast(self, msg);
	}
}

static AtollManagerHost *append_host(AtollManagerWindow *self, const char *destination,
				     const char *socket, GError **error)
{
	if (atoll_manager_window_find_host(self, destination)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    _("%s is in the host list already"), destination);
		return NULL;
	}
	AtollManagerHost *host = atoll_manager_host_new_remote(destination, socket, error);
	if (!host)
		return NULL;
	g_ptr_array_add(self->hosts, host);
	add_host_row(self, host);
	return host;
}

static void load_hosts(AtollManagerWindow *self)
{
	g_autofree char *file = hosts_file();
	g_autoptr(GKeyFile) kf = g_key_file_new();
	if (!g_key_file_load_from_file(kf, file, G_KEY_FILE_NONE, NULL))
		return;
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
	for (guint i = 0; groups[i]; i++) {
		g_autofree char *sock = g_key_file_get_string(kf, groups[i], "socket", NULL);
		g_autoptr(GError) error = NULL;
		if (!append_host(self, groups[i], sock, &error))
			g_warning("%s: skipping host %s: %s", file, groups[i], error->message);
	}
}

AtollManagerHost *atoll_manager_window_add_host(AtollManagerWindow *self,
						const char *destination, const char *socket,
						GError **error)
{
	AtollManagerHost *host = append_host(self, destination, socket, error);
	if (!host)
		return NULL;
	save_hosts(self);
	select_host_row(self, host);
	return host;
}

void atoll_manager_window_remove_host(AtollManagerWindow *self, AtollManagerHost *host)
{
	if (!host || !atoll_manager_host_is_remote(host))
		return;
	if (host == self->host || host == self->pending)
		atoll_manager_window_show_local(self);
	GtkListBoxRow *row = host_row(self, host);
	if (row)
		gtk_list_box_remove(self->host_list, GTK_WIDGET(row));
	g_signal_handlers_disconnect_by_data(host, self);
	atoll_manager_host_close(host);
	g_ptr_array_remove(self->hosts, host);
	save_hosts(self);
}

AtollManagerHost *atoll_manager_window_find_host(AtollManagerWindow *self,
						 const char *destination)
{
	for (guint i = 0; i < self->hosts->len; i++) {
		AtollManagerHost *h = self->hosts->pdata[i];
		if (g_strcmp0(atoll_manager_host_get_destination(h), destination) == 0)
			return h;
	}
	return NULL;
}

gboolean atoll_manager_window_select_host(AtollManagerWindow *self, AtollManagerHost *host)
{
	if (!host_row(self, host))
		return FALSE;
	select_host_row(self, host);
	return TRUE;
}

AtollManagerHost *atoll_manager_window_get_current_host(AtollManagerWindow *self)
{
	return self->host;
}

guint atoll_manager_window_get_n_hosts(AtollManagerWindow *self)
{
	return self->hosts->len;
}

void atoll_manager_window_show_local(AtollManagerWindow *self)
{
	AtollManagerHost *local = self->hosts->pdata[0];
	self->pending = NULL;
	select_host_row(self, local);
	use_host(self, local);
}

void atoll_manager_window_retry(AtollManagerWindow *self)
{
	if (self->host && atoll_manager_host_is_remote(self->host)) {
		/* ssh may be what died: a new tunnel, then the usual connect. */
		AtollManagerHost *host = g_steal_pointer(&self->host);
		self->pending = host;
		atoll_manager_host_close(host);
		atoll_manager_host_open(host);
		g_object_unref(host);
		gtk_stack_set_visible_child_name(self->main_stack, "connecting");
		return;
	}
	atoll_manager_window_connect(self);
}

static void add_host_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
	AtollManagerWindow *self = data;
	if (!g_str_equal(response, "add"))
		return;
	AtollManagerAddHost *d = ATOLL_MANAGER_ADD_HOST(dialog);
	g_autoptr(GError) error = NULL;
	if (!atoll_manager_window_add_host(self, atoll_manager_add_host_get_destination(d),
					   atoll_manager_add_host_get_socket(d), &error))
		atoll_manager_window_toast_error(self, _("Could not add the host"), error);
}

GtkWindow *atoll_manager_window_add_host_dialog(AtollManagerWindow *self)
{
	AtollManagerAddHost *dialog = atoll_manager_add_host_new(GTK_WINDOW(self));
	g_signal_connect_object(dialog, "response", G_CALLBACK(add_host_response), self, 0);
	gtk_window_present(GTK_WINDOW(dialog));
	return GTK_WINDOW(dialog);
}

/* ---- the new-domain assistant ---- */

static void on_domain_created(AtollManagerNewDomain *dialog, const char *name, gpointer data)
{
	AtollManagerWindow *self = data;
	(void)dialog;
	g_autofree char *text = g_strdup_printf(_("Domain “%s” defined"), name);
	atoll_manager_window_toast(self, text);
	g_free(self->selected);
	self->selected = NULL;
	/* Select it once the list has it (the event or this refresh). */
	g_object_set_data_full(G_OBJECT(self), "select-after-refresh", g_strdup(name), g_free);
	atoll_manager_window_refresh(self);
}

GtkWindow *atoll_manager_window_new_domain(AtollManagerWindow *self)
{
	AtollManagerNewDomain *dialog = atoll_manager_new_domain_new(GTK_WINDOW(self),
								     self->client, self->host_info);
	g_signal_connect_object(dialog, "created", G_CALLBACK(on_domain_created), self, 0);
	gtk_window_present(GTK_WINDOW(dialog));
	return GTK_WINDOW(dialog);
}

/* ---- GObject ---- */

static void atoll_manager_window_dispose(GObject *object)
{
	AtollManagerWindow *self = ATOLL_MANAGER_WINDOW(object);
	if (self->cancel)
		g_cancellable_cancel(self->cancel);
	disconnect_events(self);
	g_clear_handle_id(&self->poll_id, g_source_remove);
	g_clear_handle_id(&self->refresh_idle, g_source_remove);
	/* Removing the rows selects nothing: not news for the details pane. */
	if (self->domain_list)
		g_signal_handlers_disconnect_by_data(self->domain_list, self);
	if (self->host_list)
		g_signal_handlers_disconnect_by_data(self->host_list, self);
	for (guint i = 0; self->hosts && i < self->hosts->len; i++) {
		g_signal_handlers_disconnect_by_data(self->hosts->pdata[i], self);
		atoll_manager_host_close(self->hosts->pdata[i]);
	}
	gtk_widget_dispose_template(GTK_WIDGET(self), ATOLL_TYPE_MANAGER_WINDOW);
	G_OBJECT_CLASS(atoll_manager_window_parent_class)->dispose(object);
}

static void atoll_manager_window_finalize(GObject *object)
{
	AtollManagerWindow *self = ATOLL_MANAGER_WINDOW(object);
	g_clear_object(&self->cancel);
	g_clear_object(&self->client);
	g_clear_object(&self->host);
	g_ptr_array_unref(self->hosts);
	g_clear_pointer(&self->host_info, json_node_unref);
	g_hash_table_unref(self->rows);
	g_hash_table_unref(self->cpu);
	g_free(self->error_text);
	g_free(self->last_toast);
	g_free(self->selected);
	g_free(self->cloning);
	G_OBJECT_CLASS(atoll_manager_window_parent_class)->finalize(object);
}

static void atoll_manager_window_class_init(AtollManagerWindowClass *klass)
{
	GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
	G_OBJECT_CLASS(klass)->dispose = atoll_manager_window_dispose;
	G_OBJECT_CLASS(klass)->finalize = atoll_manager_window_finalize;

	/* Referencing the resource keeps its object file (and the constructor
	 * that registers it) when linked from the static library. */
	(void)atoll_manager_get_resource();
	g_type_ensure(ATOLL_TYPE_MANAGER_DOMAIN_DETAILS);
	gtk_widget_class_set_template_from_resource(wc, "/org/atoll/Manager/atoll-manager-window.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, AtollManagerWindow, x)
	BIND(toast_overlay); BIND(main_stack); BIND(content_stack); BIND(error_page);
	BIND(leaflet); BIND(host_list); BIND(domain_list); BIND(content_title);
	BIND(back_button); BIND(new_button); BIND(primary_button); BIND(retry_button);
	BIND(empty_new_button); BIND(more_button); BIND(shutdown_button);
	BIND(pause_button); BIND(resume_button); BIND(start_button); BIND(details);
	BIND(add_host_button); BIND(local_button); BIND(job_revealer); BIND(job_label);
	BIND(job_progress);
#undef BIND
	gtk_widget_class_add_binding_action(wc, GDK_KEY_n, GDK_CONTROL_MASK, "win.new-domain", NULL);
	gtk_widget_class_add_binding_action(wc, GDK_KEY_F5, 0, "win.refresh", NULL);
	gtk_widget_class_add_binding_action(wc, GDK_KEY_r, GDK_CONTROL_MASK, "win.refresh", NULL);
	gtk_widget_class_add_binding_action(wc, GDK_KEY_Delete, 0, "win.delete", NULL);
}

static void label_controls(AtollManagerWindow *self)
{
	static const struct { gsize offset; const char *label; } labels[] = {
		{ G_STRUCT_OFFSET(AtollManagerWindow, back_button), N_("Back to the domain list") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, new_button), N_("New domain") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, primary_button), N_("Main menu") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, retry_button), N_("Retry connecting to atolld") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, empty_new_button), N_("New domain") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, more_button), N_("More domain actions") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, shutdown_button), N_("Shut down the domain") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, pause_button), N_("Pause the domain") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, resume_button), N_("Resume the domain") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, start_button), N_("Start the domain") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, add_host_button), N_("Add a remote host over ssh") },
		{ G_STRUCT_OFFSET(AtollManagerWindow, local_button), N_("Show this computer's domains") },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(labels); i++)
		atoll_set_accessible_label(G_STRUCT_MEMBER(GtkWidget *, self, labels[i].offset),
					   _(labels[i].label));
	atoll_set_accessible_label(GTK_WIDGET(self->host_list), _("Hosts"));
	atoll_set_accessible_label(GTK_WIDGET(self->domain_list), _("Domains"));
}

static void atoll_manager_window_init(AtollManagerWindow *self)
{
	gtk_widget_init_template(GTK_WIDGET(self));
	self->rows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->cpu = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	gtk_list_box_set_sort_func(self->domain_list, sort_rows, NULL, NULL);
	g_signal_connect(self->domain_list, "row-selected", G_CALLBACK(on_row_selected), self);
	g_signal_connect(self->domain_list, "row-activated", G_CALLBACK(on_row_activated), self);
	g_signal_connect(self->back_button, "clicked", G_CALLBACK(on_back), self);
	g_signal_connect(self->host_list, "row-selected", G_CALLBACK(on_host_selected), self);
	self->hosts = g_ptr_array_new_with_free_func(g_object_unref);
	label_controls(self);
	atoll_manager_window_actions_init(self);
}

AtollManagerWindow *atoll_manager_window_new(GtkApplication *app, const char *socket_path)
{
	AtollManagerWindow *self = g_object_new(ATOLL_TYPE_MANAGER_WINDOW,
						"application", app, NULL);
	AtollManagerHost *local = atoll_manager_host_new_local(socket_path);
	g_ptr_array_add(self->hosts, local);
	add_host_row(self, local);
	load_hosts(self);
	/* Selecting the row shows this computer (use_host connects). */
	select_host_row(self, local);
	return self;
}
