/* atoll-manager-window.h - the main window: host and domain lists in a
 * leaflet sidebar, the selected domain's details on the right.  Talks to
 * one atolld with async requests only and follows its /v1/events. */
#pragma once

#include <adwaita.h>
#include "atoll-client.h"
#include "atoll-manager-domain-row.h"
#include "atoll-manager-host.h"

G_BEGIN_DECLS

#define ATOLL_TYPE_MANAGER_WINDOW (atoll_manager_window_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerWindow, atoll_manager_window, ATOLL, MANAGER_WINDOW,
		     AdwApplicationWindow)

/* @socket_path NULL: $ATOLL_SOCKET or the default.  Connects at once. */
AtollManagerWindow *atoll_manager_window_new(GtkApplication *app, const char *socket_path);
AtollClient *atoll_manager_window_get_client(AtollManagerWindow *self);

/* Starts over: GET /v1/host, the event stream, the domain list. */
void atoll_manager_window_connect(AtollManagerWindow *self);
/* "connecting", "error" or "main". */
const char *atoll_manager_window_get_page(AtollManagerWindow *self);
/* What the error page says, NULL when connected. */
const char *atoll_manager_window_get_error(AtollManagerWindow *self);
/* TRUE while the /v1/events WebSocket is open. */
gboolean atoll_manager_window_has_events(AtollManagerWindow *self);
/* The host facts of GET /v1/host (NULL before connecting). */
JsonNode *atoll_manager_window_get_host(AtollManagerWindow *self);

/* Fetches the domain list again (async). */
void atoll_manager_window_refresh(AtollManagerWindow *self);
AtollManagerDomainRow *atoll_manager_window_find_row(AtollManagerWindow *self,
						     const char *name);
guint atoll_manager_window_get_n_domains(AtollManagerWindow *self);
gboolean atoll_manager_window_select(AtollManagerWindow *self, const char *name);
/* The selected domain's name or NULL. */
const char *atoll_manager_window_get_selected(AtollManagerWindow *self);
/* "empty", "unselected" or "details". */
const char *atoll_manager_window_get_content_page(AtollManagerWindow *self);
GtkWidget *atoll_manager_window_get_details(AtollManagerWindow *self);

/* Shows an error toast: @prefix ("Could not start web") and the server's
 * message. */
void atoll_manager_window_toast_error(AtollManagerWindow *self, const char *prefix,
				      const GError *error);
void atoll_manager_window_toast(AtollManagerWindow *self, const char *text);
/* A toast with a button that activates @action ("win.undo-delete"). */
void atoll_manager_window_toast_action(AtollManagerWindow *self, const char *text,
				       const char *button, const char *action);
/* What an event from atolld's /v1/events does (tests feed one here). */
void atoll_manager_window_handle_event(AtollManagerWindow *self, JsonNode *ev);
/* The text of the last toast shown (tests). */
const char *atoll_manager_window_get_last_toast(AtollManagerWindow *self);

/* Hosts: [0] is this computer, then the remote hosts (kept in
 * $XDG_CONFIG_HOME/atoll-manager/hosts.ini).  add_host selects the new
 * host, which connects (ssh) and is shown once atolld answers; a failure
 * stays on the host's row and in a toast. */
AtollManagerHost *atoll_manager_window_add_host(AtollManagerWindow *self,
						const char *destination, const char *socket,
						GError **error);
void atoll_manager_window_remove_host(AtollManagerWindow *self, AtollManagerHost *host);
AtollManagerHost *atoll_manager_window_find_host(AtollManagerWindow *self,
						 const char *destination);
/* Like clicking the host's row: shown at once or once it connected. */
gboolean atoll_manager_window_select_host(AtollManagerWindow *self, AtollManagerHost *host);
/* The host whose domains are shown. */
AtollManagerHost *atoll_manager_window_get_current_host(AtollManagerWindow *self);
guint atoll_manager_window_get_n_hosts(AtollManagerWindow *self);
void atoll_manager_window_show_local(AtollManagerWindow *self);
/* The error page's Retry: reconnects (a remote host's ssh too). */
void atoll_manager_window_retry(AtollManagerWindow *self);
GtkWindow *atoll_manager_window_add_host_dialog(AtollManagerWindow *self);

/* POST …/clone; the copy's progress shows below the domain list (from
 * atolld's "clone-progress" events), the end in a toast. */
void atoll_manager_window_clone(AtollManagerWindow *self, const char *source,
				const char *new_name);
/* "clone-progress" events received (tests). */
guint atoll_manager_window_get_clone_events(AtollManagerWindow *self);

/* Opens the new-domain assistant and returns it. */
GtkWindow *atoll_manager_window_new_domain(AtollManagerWindow *self);

/* Actions (atoll-manager-window-actions.c). */
void atoll_manager_window_actions_init(AtollManagerWindow *self);
void atoll_manager_window_actions_update(AtollManagerWindow *self);

G_END_DECLS
