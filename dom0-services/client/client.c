/* The atolld API client (see atoll-client.h and docs/api.md). */
#include "atoll-client.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------ */

typedef struct {
	char *kind;
	char *field;
	guint status;
} AtollClientErrorPrivate;

static void atoll_client_error_private_init(AtollClientErrorPrivate *priv)
{
	priv->kind = NULL;
	priv->field = NULL;
	priv->status = 0;
}

static void atoll_client_error_private_copy(const AtollClientErrorPrivate *src,
					    AtollClientErrorPrivate *dest)
{
	dest->kind = g_strdup(src->kind);
	dest->field = g_strdup(src->field);
	dest->status = src->status;
}

static void atoll_client_error_private_clear(AtollClientErrorPrivate *priv)
{
	g_clear_pointer(&priv->kind, g_free);
	g_clear_pointer(&priv->field, g_free);
}

G_DEFINE_EXTENDED_ERROR(AtollClientError, atoll_client_error)

static AtollClientErrorPrivate *error_priv(const GError *error)
{
	if (!error || error->domain != ATOLL_CLIENT_ERROR)
		return NULL;
	return atoll_client_error_get_private(error);
}

const char *atoll_client_error_get_kind(const GError *error)
{
	AtollClientErrorPrivate *p = error_priv(error);
	return p ? p->kind : NULL;
}

const char *atoll_client_error_get_field(const GError *error)
{
	AtollClientErrorPrivate *p = error_priv(error);
	return p ? p->field : NULL;
}

guint atoll_client_error_get_status(const GError *error)
{
	AtollClientErrorPrivate *p = error_priv(error);
	return p ? p->status : 0;
}

static const struct {
	const char *kind;
	guint status;
	AtollClientError code;
} error_kinds[] = {
	{ "bad-request", 400, ATOLL_CLIENT_ERROR_BAD_REQUEST },
	{ "not-found", 404, ATOLL_CLIENT_ERROR_NOT_FOUND },
	{ "conflict", 409, ATOLL_CLIENT_ERROR_CONFLICT },
	{ "too-large", 413, ATOLL_CLIENT_ERROR_TOO_LARGE },
	{ "host-error", 500, ATOLL_CLIENT_ERROR_HOST },
};

/* The kind decides when the server sent one; the status otherwise. */
static AtollClientError error_code_for(const char *kind, guint status)
{
	for (size_t i = 0; i < G_N_ELEMENTS(error_kinds); i++)
		if (kind && strcmp(kind, error_kinds[i].kind) == 0)
			return error_kinds[i].code;
	for (size_t i = 0; i < G_N_ELEMENTS(error_kinds); i++)
		if (!kind && status == error_kinds[i].status)
			return error_kinds[i].code;
	return ATOLL_CLIENT_ERROR_SERVER;
}

static void set_server_error(GError **error, guint status, const char *kind,
			     const char *message, const char *field)
{
	GError *e = g_error_new_literal(ATOLL_CLIENT_ERROR,
					error_code_for(kind, status), message);
	AtollClientErrorPrivate *p = atoll_client_error_get_private(e);
	p->kind = g_strdup(kind);
	p->field = g_strdup(field);
	p->status = status;
	g_propagate_error(error, e);
}

/* ---- the client object ------------------------------------------------- */

struct _AtollClient {
	GObject parent;
	char *socket_path;
	SoupSession *session;
};

G_DEFINE_FINAL_TYPE(AtollClient, atoll_client, G_TYPE_OBJECT)

static void atoll_client_finalize(GObject *obj)
{
	AtollClient *c = ATOLL_CLIENT(obj);
	g_clear_object(&c->session);
	g_free(c->socket_path);
	G_OBJECT_CLASS(atoll_client_parent_class)->finalize(obj);
}

static void atoll_client_class_init(AtollClientClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = atoll_client_finalize;
}

static void atoll_client_init(AtollClient *c)
{
	(void)c;
}

const char *atoll_client_default_socket(void)
{
	const char *env = g_getenv(ATOLL_CLIENT_SOCKET_ENV);
	return env && *env ? env : ATOLL_CLIENT_DEFAULT_SOCKET;
}

AtollClient *atoll_client_new(const char *socket_path)
{
	AtollClient *c = g_object_new(ATOLL_TYPE_CLIENT, NULL);
	c->socket_path = g_strdup(socket_path ? socket_path
					      : atoll_client_default_socket());
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(c->socket_path);
	/* Every connection goes to the unix socket whatever the URI says;
	 * the URI only carries the path. */
	c->session = soup_session_new_with_options(
		"remote-connectable", addr,
		"user-agent", "atoll-client/" "0.1",
		NULL);
	return c;
}

const char *atoll_client_get_socket_path(AtollClient *client)
{
	return client->socket_path;
}

/* ---- requests ---------------------------------------------------------- */

static SoupMessage *new_message(const char *method, const char *path,
				JsonNode *body, GError **error)
{
	g_autofree char *uri = g_strconcat("http://localhost", path, NULL);
	SoupMessage *msg = soup_message_new(method, uri);
	if (!msg) {
		g_set_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_PROTOCOL,
			    "invalid request path '%s'", path);
		return NULL;
	}
	if (body) {
		gsize len = 0;
		char *text = json_to_string(body, FALSE);
		len = strlen(text);
		g_autoptr(GBytes) bytes = g_bytes_new_take(text, len);
		soup_message_set_request_body_from_bytes(msg, "application/json",
							 bytes);
	}
	soup_message_headers_replace(soup_message_get_request_headers(msg),
				     "Accept", "application/json");
	return msg;
}

/* A transport failure means atolld is not there for us (not running,
 * wrong socket, no permission, or it went away mid-request). */
static void set_unreachable(AtollClient *c, GError **error, GError *io_error)
{
	g_set_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_UNREACHABLE,
		    "cannot reach atolld at %s: %s", c->socket_path,
		    io_error->message);
}

static gboolean transport_error(AtollClient *c, GError *io_error, GError **error)
{
	if (g_error_matches(io_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_propagate_error(error, g_error_copy(io_error));
		return TRUE;
	}
	set_unreachable(c, error, io_error);
	return TRUE;
}

static void error_from_reply(SoupMessage *msg, GBytes *body, GError **error)
{
	guint status = soup_message_get_status(msg);
	const char *reason = soup_message_get_reason_phrase(msg);
	g_autoptr(JsonParser) parser = json_parser_new();
	gsize len = 0;
	const char *data = body ? g_bytes_get_data(body, &len) : NULL;

	if (data && len && json_parser_load_from_data(parser, data, len, NULL)) {
		JsonNode *root = json_parser_get_root(parser);
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
		JsonObject *e = o && json_object_has_member(o, "error") &&
			JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "error"))
			? json_object_get_object_member(o, "error") : NULL;
		if (e) {
			const char *kind = json_object_get_string_member_with_default(e, "code", NULL);
			const char *message = json_object_get_string_member_with_default(e, "message", NULL);
			const char *field = json_object_get_string_member_with_default(e, "field", NULL);
			g_autofree char *fallback = g_strdup_printf("atolld replied %u %s",
								    status, reason ? reason : "");
			set_server_error(error, status, kind,
					 message ? message : fallback, field);
			return;
		}
	}
	g_autofree char *msgtext = g_strdup_printf("atolld replied %u %s", status,
						   reason ? reason : "");
	set_server_error(error, status, NULL, msgtext, NULL);
}

static JsonNode *parse_reply(SoupMessage *msg, GBytes *body, GError **error)
{
	if (!SOUP_STATUS_IS_SUCCESSFUL(soup_message_get_status(msg))) {
		error_from_reply(msg, body, error);
		return NULL;
	}
	gsize len = 0;
	const char *data = body ? g_bytes_get_data(body, &len) : NULL;
	if (!data || len == 0)
		return json_node_new(JSON_NODE_NULL);

	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) perr = NULL;
	if (!json_parser_load_from_data(parser, data, len, &perr)) {
		g_set_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_PROTOCOL,
			    "atolld sent a reply that is not JSON: %s", perr->message);
		return NULL;
	}
	return json_node_copy(json_parser_get_root(parser));
}

GBytes *atoll_client_request_bytes(AtollClient *client, const char *method,
				   const char *path, JsonNode *body,
				   GCancellable *cancellable, GError **error)
{
	g_autoptr(SoupMessage) msg = new_message(method, path, body, error);
	if (!msg)
		return NULL;
	g_autoptr(GError) io_error = NULL;
	g_autoptr(GBytes) reply = soup_session_send_and_read(client->session, msg,
							     cancellable, &io_error);
	if (!reply) {
		transport_error(client, io_error, error);
		return NULL;
	}
	if (!SOUP_STATUS_IS_SUCCESSFUL(soup_message_get_status(msg))) {
		error_from_reply(msg, reply, error);
		return NULL;
	}
	return g_steal_pointer(&reply);
}

JsonNode *atoll_client_request(AtollClient *client, const char *method,
			       const char *path, JsonNode *body,
			       GCancellable *cancellable, GError **error)
{
	g_autoptr(SoupMessage) msg = new_message(method, path, body, error);
	if (!msg)
		return NULL;
	g_autoptr(GError) io_error = NULL;
	g_autoptr(GBytes) reply = soup_session_send_and_read(client->session, msg,
							     cancellable, &io_error);
	if (!reply) {
		transport_error(client, io_error, error);
		return NULL;
	}
	return parse_reply(msg, reply, error);
}

static void request_done(GObject *source, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	AtollClient *client = g_task_get_source_object(task);
	SoupMessage *msg = g_task_get_task_data(task);
	g_autoptr(GError) io_error = NULL;
	g_autoptr(GError) error = NULL;

	g_autoptr(GBytes) reply = soup_session_send_and_read_finish(SOUP_SESSION(source),
								    res, &io_error);
	if (!reply) {
		transport_error(client, io_error, &error);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	JsonNode *node = parse_reply(msg, reply, &error);
	if (!node)
		g_task_return_error(task, g_steal_pointer(&error));
	else
		g_task_return_pointer(task, node, (GDestroyNotify)json_node_unref);
}

void atoll_client_request_async(AtollClient *client, const char *method,
				const char *path, JsonNode *body,
				GCancellable *cancellable,
				GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(client, cancellable, callback, user_data);
	g_task_set_source_tag(task, atoll_client_request_async);
	GError *error = NULL;
	SoupMessage *msg = new_message(method, path, body, &error);
	if (!msg) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	g_task_set_task_data(task, msg, g_object_unref);
	soup_session_send_and_read_async(client->session, msg, G_PRIORITY_DEFAULT,
					 cancellable, request_done, task);
}

JsonNode *atoll_client_request_finish(AtollClient *client, GAsyncResult *result,
				      GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, client), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- WebSockets -------------------------------------------------------- */

static void websocket_done(GObject *source, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	AtollClient *client = g_task_get_source_object(task);
	SoupMessage *msg = g_task_get_task_data(task);
	g_autoptr(GError) ws_error = NULL;
	g_autoptr(GError) error = NULL;

	SoupWebsocketConnection *conn =
		soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &ws_error);
	if (conn) {
		g_task_return_pointer(task, conn, g_object_unref);
		return;
	}
	guint status = soup_message_get_status(msg);
	if (status >= 400) {
		/* The handshake reply's body is not available here; the status
		 * still tells "no such domain" from "not running". */
		g_autofree char *text = g_strdup_printf("atolld refused the WebSocket: %u %s",
							status, soup_message_get_reason_phrase(msg));
		set_server_error(&error, status, NULL, text, NULL);
	} else if (ws_error->domain == G_IO_ERROR) {
		transport_error(client, ws_error, &error);
	} else {
		g_set_error(&error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_PROTOCOL,
			    "WebSocket handshake with atolld failed: %s", ws_error->message);
	}
	g_task_return_error(task, g_steal_pointer(&error));
}

void atoll_client_websocket_connect_async(AtollClient *client, const char *path,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data)
{
	GTask *task = g_task_new(client, cancellable, callback, user_data);
	g_task_set_source_tag(task, atoll_client_websocket_connect_async);
	GError *error = NULL;
	SoupMessage *msg = new_message("GET", path, NULL, &error);
	if (!msg) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	g_task_set_task_data(task, msg, g_object_unref);
	soup_session_websocket_connect_async(client->session, msg, NULL, NULL,
					     G_PRIORITY_DEFAULT, cancellable,
					     websocket_done, task);
}

SoupWebsocketConnection *atoll_client_websocket_connect_finish(AtollClient *client,
							       GAsyncResult *result,
							       GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, client), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void sync_done(GObject *source, GAsyncResult *res, gpointer data)
{
	(void)source;
	*(GAsyncResult **)data = g_object_ref(res);
}

SoupWebsocketConnection *atoll_client_websocket_connect(AtollClient *client,
							const char *path,
							GCancellable *cancellable,
							GError **error)
{
	GAsyncResult *res = NULL;
	GMainContext *ctx = g_main_context_ref_thread_default();
	atoll_client_websocket_connect_async(client, path, cancellable, sync_done, &res);
	while (!res)
		g_main_context_iteration(ctx, TRUE);
	g_main_context_unref(ctx);
	SoupWebsocketConnection *conn =
		atoll_client_websocket_connect_finish(client, res, error);
	g_object_unref(res);
	return conn;
}

/* ---- conveniences ------------------------------------------------------ */

char *atoll_client_domain_path(const char *name, const char *suffix)
{
	g_autofree char *escaped = g_uri_escape_string(name, NULL, FALSE);
	return g_strconcat("/v1/domains/", escaped, suffix, NULL);
}

void atoll_client_usb_attach_async(AtollClient *client, const char *name,
				   const char *spec, gboolean attach,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data)
{
	if (attach) {
		g_autofree char *path = atoll_client_domain_path(name, "/usb");
		g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
		JsonObject *o = json_object_new();
		json_object_set_string_member(o, "host", spec);
		json_node_take_object(body, o);
		atoll_client_request_async(client, "POST", path, body, cancellable,
					   callback, user_data);
		return;
	}
	g_autofree char *escaped = g_uri_escape_string(spec, NULL, FALSE);
	g_autofree char *suffix = g_strconcat("/usb/", escaped, NULL);
	g_autofree char *path = atoll_client_domain_path(name, suffix);
	atoll_client_request_async(client, "DELETE", path, NULL, cancellable, callback,
				   user_data);
}

JsonNode *atoll_client_list_domains(AtollClient *client, GError **error)
{
	return atoll_client_request(client, "GET", "/v1/domains", NULL, NULL, error);
}

JsonNode *atoll_client_get_domain(AtollClient *client, const char *name,
				  GError **error)
{
	g_autofree char *path = atoll_client_domain_path(name, NULL);
	return atoll_client_request(client, "GET", path, NULL, NULL, error);
}

JsonNode *atoll_client_define(AtollClient *client, JsonNode *definition,
			      GError **error)
{
	return atoll_client_request(client, "POST", "/v1/domains", definition,
				    NULL, error);
}

static gboolean discard(JsonNode *reply)
{
	if (!reply)
		return FALSE;
	json_node_unref(reply);
	return TRUE;
}

gboolean atoll_client_undefine(AtollClient *client, const char *name,
			       gboolean delete_disks, GError **error)
{
	g_autofree char *path = atoll_client_domain_path(
		name, delete_disks ? "?delete_disks=true" : NULL);
	return discard(atoll_client_request(client, "DELETE", path, NULL, NULL, error));
}

gboolean atoll_client_domain_action(AtollClient *client, const char *name,
				    const char *action, GError **error)
{
	g_autofree char *suffix = g_strconcat("/", action, NULL);
	g_autofree char *path = atoll_client_domain_path(name, suffix);
	return discard(atoll_client_request(client, "POST", path, NULL, NULL, error));
}

gboolean atoll_client_shutdown(AtollClient *client, const char *name,
			       int timeout_s, GError **error)
{
	g_autofree char *path = atoll_client_domain_path(name, "/shutdown");
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	if (timeout_s >= 0) {
		json_builder_set_member_name(b, "timeout_s");
		json_builder_add_int_value(b, timeout_s);
	}
	json_builder_end_object(b);
	g_autoptr(JsonNode) body = json_builder_get_root(b);
	return discard(atoll_client_request(client, "POST", path, body, NULL, error));
}

JsonNode *atoll_client_get_stats(AtollClient *client, const char *name,
				 gint64 since, GError **error)
{
	g_autofree char *suffix = g_strdup_printf("/stats?since=%" G_GINT64_FORMAT, since);
	g_autofree char *path = atoll_client_domain_path(name, suffix);
	return atoll_client_request(client, "GET", path, NULL, NULL, error);
}

JsonNode *atoll_client_list_networks(AtollClient *client, GError **error)
{
	return atoll_client_request(client, "GET", "/v1/networks", NULL, NULL, error);
}

JsonNode *atoll_client_list_host_devices(AtollClient *client, const char *type,
					 GError **error)
{
	g_autofree char *path = type
		? g_strconcat("/v1/host/devices?type=", type, NULL)
		: g_strdup("/v1/host/devices");
	return atoll_client_request(client, "GET", path, NULL, NULL, error);
}

JsonNode *atoll_client_import_libvirt(AtollClient *client, const char *uri,
				      const char *domain, const char *new_name,
				      GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "uri");
	json_builder_add_string_value(b, uri);
	json_builder_set_member_name(b, "domain");
	json_builder_add_string_value(b, domain);
	if (new_name) {
		json_builder_set_member_name(b, "name");
		json_builder_add_string_value(b, new_name);
	}
	json_builder_end_object(b);
	g_autoptr(JsonNode) body = json_builder_get_root(b);
	return atoll_client_request(client, "POST", "/v1/import-libvirt", body,
				    NULL, error);
}

JsonNode *atoll_client_clone(AtollClient *client, const char *name,
			     const char *new_name, GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "new_name");
	json_builder_add_string_value(b, new_name);
	json_builder_end_object(b);
	g_autoptr(JsonNode) body = json_builder_get_root(b);
	g_autofree char *path = atoll_client_domain_path(name, "/clone");
	return atoll_client_request(client, "POST", path, body, NULL, error);
}

JsonNode *atoll_client_create_image(AtollClient *client, const char *file_name,
				    guint64 size_mib, GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, file_name);
	json_builder_set_member_name(b, "size_mib");
	json_builder_add_int_value(b, (gint64)size_mib);
	json_builder_end_object(b);
	g_autoptr(JsonNode) body = json_builder_get_root(b);
	return atoll_client_request(client, "POST", "/v1/images", body, NULL, error);
}

JsonArray *atoll_client_reply_array(JsonNode *reply, const char *member)
{
	if (!reply)
		return NULL;
	if (JSON_NODE_HOLDS_ARRAY(reply))
		return json_node_get_array(reply);
	if (JSON_NODE_HOLDS_OBJECT(reply) && member) {
		JsonObject *o = json_node_get_object(reply);
		JsonNode *m = json_object_get_member(o, member);
		if (m && JSON_NODE_HOLDS_ARRAY(m))
			return json_node_get_array(m);
	}
	return NULL;
}
