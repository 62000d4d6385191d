/* The atolld API client: JSON over HTTP/1.1 on atolld's unix socket
 * (docs/api.md).  Used by the `atoll` CLI and the GTK manager.
 *
 * Errors are GErrors in ATOLL_CLIENT_ERROR.  Errors the server reported
 * carry its error kind ("conflict"), its message and the offending field
 * (when there is one); read them with atoll_client_error_get_*().
 * An AtollClient is used from the thread that created it; the async calls
 * complete in that thread's thread-default main context. */
#ifndef ATOLL_CLIENT_H
#define ATOLL_CLIENT_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define ATOLL_CLIENT_DEFAULT_SOCKET "/run/atoll/atolld.sock"
#define ATOLL_CLIENT_SOCKET_ENV "ATOLL_SOCKET"

#define ATOLL_CLIENT_ERROR atoll_client_error_quark()
GQuark atoll_client_error_quark(void);

typedef enum {
	ATOLL_CLIENT_ERROR_BAD_REQUEST,  /* 400 "bad-request" */
	ATOLL_CLIENT_ERROR_NOT_FOUND,    /* 404 "not-found" */
	ATOLL_CLIENT_ERROR_CONFLICT,     /* 409 "conflict" */
	ATOLL_CLIENT_ERROR_TOO_LARGE,    /* 413 "too-large" */
	ATOLL_CLIENT_ERROR_HOST,         /* 500 "host-error" */
	ATOLL_CLIENT_ERROR_SERVER,       /* another error status or kind */
	ATOLL_CLIENT_ERROR_UNREACHABLE,  /* cannot connect / connection lost */
	ATOLL_CLIENT_ERROR_PROTOCOL,     /* the reply is not what the API promises */
} AtollClientError;

/* The server's error kind ("conflict"), NULL for client-side errors. */
const char *atoll_client_error_get_kind(const GError *error);
/* The offending field ("disks[1].path"), or NULL. */
const char *atoll_client_error_get_field(const GError *error);
/* The HTTP status, 0 when there was no reply. */
guint atoll_client_error_get_status(const GError *error);

#define ATOLL_TYPE_CLIENT atoll_client_get_type()
G_DECLARE_FINAL_TYPE(AtollClient, atoll_client, ATOLL, CLIENT, GObject)

/* $ATOLL_SOCKET if set and not empty, else ATOLL_CLIENT_DEFAULT_SOCKET. */
const char *atoll_client_default_socket(void);
/* socket_path NULL: atoll_client_default_socket().  Does not connect yet;
 * connection errors surface on the first request. */
AtollClient *atoll_client_new(const char *socket_path);
const char *atoll_client_get_socket_path(AtollClient *client);

/* One request.  path starts with "/v1/" and may carry a query; body may be
 * NULL.  Returns the parsed JSON reply (a JSON null node for an empty
 * reply) or NULL with error set. */
JsonNode *atoll_client_request(AtollClient *client, const char *method,
			       const char *path, JsonNode *body,
			       GCancellable *cancellable, GError **error);
/* The same for non-JSON replies (console/log): the raw body. */
GBytes *atoll_client_request_bytes(AtollClient *client, const char *method,
				   const char *path, JsonNode *body,
				   GCancellable *cancellable, GError **error);
void atoll_client_request_async(AtollClient *client, const char *method,
				const char *path, JsonNode *body,
				GCancellable *cancellable,
				GAsyncReadyCallback callback, gpointer user_data);
JsonNode *atoll_client_request_finish(AtollClient *client, GAsyncResult *result,
				      GError **error);

/* WebSocket endpoints: "/v1/events", "/v1/domains/NAME/console". */
void atoll_client_websocket_connect_async(AtollClient *client, const char *path,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data);
SoupWebsocketConnection *atoll_client_websocket_connect_finish(AtollClient *client,
							       GAsyncResult *result,
							       GError **error);
/* Blocks, iterating the thread-default main context. */
SoupWebsocketConnection *atoll_client_websocket_connect(AtollClient *client,
							const char *path,
							GCancellable *cancellable,
							GError **error);

/* "/v1/domains/NAME" + suffix (suffix may be NULL or "/start" etc.), with
 * NAME escaped. */
char *atoll_client_domain_path(const char *name, const char *suffix);

/* Conveniences over atoll_client_request(). */
JsonNode *atoll_client_list_domains(AtollClient *client, GError **error);
JsonNode *atoll_client_get_domain(AtollClient *client, const char *name,
				  GError **error);
JsonNode *atoll_client_define(AtollClient *client, JsonNode *definition,
			      GError **error);
gboolean atoll_client_undefine(AtollClient *client, const char *name,
			       gboolean delete_disks, GError **error);
/* action: "start", "destroy", "reboot", "pause", "unpause". */
gboolean atoll_client_domain_action(AtollClient *client, const char *name,
				    const char *action, GError **error);
/* timeout_s < 0: the domain's own shutdown_timeout_s. */
gboolean atoll_client_shutdown(AtollClient *client, const char *name,
			       int timeout_s, GError **error);
JsonNode *atoll_client_get_stats(AtollClient *client, const char *name,
				 gint64 since, GError **error);
/* type: "pci", "usb" or NULL for all. */
JsonNode *atoll_client_list_networks(AtollClient *client, GError **error);
JsonNode *atoll_client_list_host_devices(AtollClient *client, const char *type,
					 GError **error);
/* new_name may be NULL (keep the libvirt name). */
JsonNode *atoll_client_import_libvirt(AtollClient *client, const char *uri,
				      const char *domain, const char *new_name,
				      GError **error);

/* POST /v1/domains/NAME/clone: the 202 reply ({name, source, total_bytes,
 * copies}); the copy goes on in atolld, reported by "clone-progress",
 * then "clone-done" or "clone-failed" events. */
JsonNode *atoll_client_clone(AtollClient *client, const char *name,
			     const char *new_name, GError **error);
/* POST /v1/images: a new sparse raw image @file_name ("web.img") in
 * atolld's image directory; the reply has its "path". */
JsonNode *atoll_client_create_image(AtollClient *client, const char *file_name,
				    guint64 size_mib, GError **error);

/* POST /v1/domains/NAME/usb {"host": SPEC} (attach) or DELETE
 * /v1/domains/NAME/usb/SPEC (detach) on a running domain; SPEC is
 * "VID:PID" or a port path "1-2.3".  Finish with
 * atoll_client_request_finish(). */
void atoll_client_usb_attach_async(AtollClient *client, const char *name,
				   const char *spec, gboolean attach,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data);

/* The array in a list reply: the reply itself when it is an array, else
 * its member `member` ({"domains": [...]}).  NULL if neither. */
JsonArray *atoll_client_reply_array(JsonNode *reply, const char *member);

G_END_DECLS

#endif
