/* Async client of atoll-vmm's control socket: one JSON object per line
 * each way, replies in request order (docs/vmm-control.md).  Everything
 * runs on the thread-default main context of the creator. */
#include "vmm_client.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>

#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 1000

typedef struct {
	char *line;          /* with the trailing newline */
	VmmReplyFunc cb;
	gpointer user_data;
} Request;

struct VmmClient {
	gint refs;
	bool closed;
	char *path;
	GSocketClient *sc;
	GCancellable *cancel;      /* everything, on free */
	GCancellable *conn_cancel; /* the current connection's I/O */
	GSocketConnection *conn;
	GDataInputStream *in;
	GOutputStream *out;
	bool connecting, writing;
	GQueue unsent, inflight;   /* Request* */
	guint retry_id;
	unsigned retry_ms;
	VmmConnFunc on_conn;
	gpointer user_data;
};

static void client_connect(VmmClient *c);

static VmmClient *client_ref(VmmClient *c)
{
	g_atomic_int_inc(&c->refs);
	return c;
}

static void client_unref(VmmClient *c)
{
	if (!g_atomic_int_dec_and_test(&c->refs))
		return;
	g_free(c->path);
	g_clear_object(&c->sc);
	g_clear_object(&c->cancel);
	g_free(c);
}

static void request_finish(Request *r, JsonObject *reply, const GError *error)
{
	if (r->cb)
		r->cb(reply, error, r->user_data);
	g_free(r->line);
	g_free(r);
}

static void fail_queue(GQueue *q, GQuark domain, int code, const char *msg)
{
	g_autoptr(GError) error = g_error_new_literal(domain, code, msg);
	Request *r;
	while ((r = g_queue_pop_head(q)))
		request_finish(r, NULL, error);
}

static gboolean retry_cb(gpointer data)
{
	VmmClient *c = data;
	c->retry_id = 0;
	client_connect(c);
	return G_SOURCE_REMOVE;
}

static void schedule_retry(VmmClient *c)
{
	if (c->closed || c->retry_id)
		return;
	c->retry_id = g_timeout_add(c->retry_ms, retry_cb, c);
	c->retry_ms = MIN(c->retry_ms * 2, RETRY_MAX_MS);
}

/* The connection is gone: replies still owed will never come. */
static void drop_connection(VmmClient *c, const char *why)
{
	if (!c->conn)
		return;
	g_debug("control %s: connection lost: %s", c->path, why);
	g_cancellable_cancel(c->conn_cancel);
	g_clear_object(&c->conn_cancel);
	g_clear_object(&c->in);
	c->out = NULL;
	g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	g_clear_object(&c->conn);
	c->writing = false;
	fail_queue(&c->inflight, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
		   "the VMM closed its control connection before replying");
	if (c->on_conn)
		c->on_conn(c, false, c->user_data);
	c->retry_ms = RETRY_MIN_MS;
	schedule_retry(c);
}

static void flush(VmmClient *c);

static void write_done(GObject *src, GAsyncResult *res, gpointer data)
{
	VmmClient *c = data;
	g_autoptr(GError) error = NULL;
	bool ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res,
						    NULL, &error);
	if (!c->closed && G_OUTPUT_STREAM(src) == c->out) {
		c->writing = false;
		if (ok)
			flush(c);
		else
			drop_connection(c, error->message);
	}
	client_unref(c);
}

/* Move every waiting request onto the wire in one write. */
static void flush(VmmClient *c)
{
	if (!c->conn || c->writing || g_queue_is_empty(&c->unsent))
		return;
	GString *buf = g_string_new(NULL);
	Request *r;
	while ((r = g_queue_pop_head(&c->unsent))) {
		g_string_append(buf, r->line);
		g_queue_push_tail(&c->inflight, r);
	}
	gsize len = buf->len;
	GBytes *bytes = g_string_free_to_bytes(buf);
	c->writing = true;
	/* The bytes must outlive the write: keep them on the stream. */
	g_object_set_data_full(G_OBJECT(c->out), "atolld-pending", bytes,
			       (GDestroyNotify)g_bytes_unref);
	g_output_stream_write_all_async(c->out, g_bytes_get_data(bytes, NULL), len,
					G_PRIORITY_DEFAULT, c->conn_cancel,
					write_done, client_ref(c));
}

static void deliver(VmmClient *c, const char *line)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	Request *r = g_queue_pop_head(&c->inflight);
	if (!r) {
		g_warning("control %s: unexpected line from the VMM: %.200s", c->path, line);
		return;
	}
	JsonNode *root = NULL;
	if (json_parser_load_from_data(parser, line, -1, &error))
		root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_autoptr(GError) e = g_error_new(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			"the VMM sent a reply that is not a JSON object: %.200s", line);
		request_finish(r, NULL, e);
		return;
	}
	JsonObject *obj = json_node_get_object(root);
	if (json_object_get_boolean_member_with_default(obj, "ok", FALSE)) {
		request_finish(r, obj, NULL);
		return;
	}
	const char *msg = json_object_get_string_member_with_default(obj, "error",
		"the VMM refused the request without saying why");
	g_autoptr(GError) e = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED, msg);
	request_finish(r, NULL, e);
}

static void read_next(VmmClient *c);

static void read_done(GObject *src, GAsyncResult *res, gpointer data)
{
	VmmClient *c = data;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	char *line = g_data_input_stream_read_line_finish_utf8(
		G_DATA_INPUT_STREAM(src), res, &len, &error);
	if (!c->closed && G_DATA_INPUT_STREAM(src) == c->in) {
		if (line) {
			deliver(c, line);
			/* deliver() may have freed or reconnected us */
			if (!c->closed && G_DATA_INPUT_STREAM(src) == c->in)
				read_next(c);
		} else {
			drop_connection(c, error ? error->message : "end of stream");
		}
	}
	g_free(line);
	client_unref(c);
}

static void read_next(VmmClient *c)
{
	g_data_input_stream_read_line_async(c->in, G_PRIORITY_DEFAULT,
					    c->conn_cancel, read_done, client_ref(c));
}

static void connect_done(GObject *src, GAsyncResult *res, gpointer data)
{
	VmmClient *c = data;
	g_autoptr(GError) error = NULL;
	GSocketConnection *conn = g_socket_client_connect_finish(
		G_SOCKET_CLIENT(src), res, &error);
	c->connecting = false;
	if (c->closed) {
		g_clear_object(&conn);
		client_unref(c);
		return;
	}
	if (!conn) {
		schedule_retry(c);
		client_unref(c);
		return;
	}
	c->conn = conn;
	c->conn_cancel = g_cancellable_new();
	c->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	g_data_input_stream_set_newline_type(c->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	c->out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	c->retry_ms = RETRY_MIN_MS;
	read_next(c);
	if (c->on_conn)
		c->on_conn(c, true, c->user_data);
	if (!c->closed)
		flush(c);
	client_unref(c);
}

static void client_connect(VmmClient *c)
{
	if (c->closed || c->conn || c->connecting)
		return;
	c->connecting = true;
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(c->path);
	g_socket_client_connect_async(c->sc, G_SOCKET_CONNECTABLE(addr), c->cancel,
				      connect_done, client_ref(c));
}

VmmClient *vmm_client_new(const char *path, VmmConnFunc on_conn, gpointer user_data)
{
	VmmClient *c = g_new0(VmmClient, 1);
	c->refs = 1;
	c->path = g_strdup(path);
	c->sc = g_socket_client_new();
	c->cancel = g_cancellable_new();
	c->retry_ms = RETRY_MIN_MS;
	c->on_conn = on_conn;
	c->user_data = user_data;
	g_queue_init(&c->unsent);
	g_queue_init(&c->inflight);
	client_connect(c);
	return c;
}

void vmm_client_free(VmmClient *c)
{
	if (!c)
		return;
	c->closed = true;
	c->on_conn = NULL;
	g_clear_handle_id(&c->retry_id, g_source_remove);
	g_cancellable_cancel(c->cancel);
	if (c->conn_cancel)
		g_cancellable_cancel(c->conn_cancel);
	g_clear_object(&c->conn_cancel);
	g_clear_object(&c->in);
	c->out = NULL;
	if (c->conn)
		g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	g_clear_object(&c->conn);
	fail_queue(&c->inflight, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the control client was closed");
	fail_queue(&c->unsent, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the control client was closed");
	client_unref(c);
}

bool vmm_client_connected(const VmmClient *c)
{
	return c && c->conn;
}

void vmm_client_request(VmmClient *c, const char *cmd, JsonObject *args,
			VmmReplyFunc cb, gpointer user_data)
{
	if (c->closed) {
		g_autoptr(GError) e = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED,
							  "the control client was closed");
		if (cb)
			cb(NULL, e, user_data);
		return;
	}
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "cmd");
	json_builder_add_string_value(b, cmd);
	if (args) {
		JsonObjectIter it;
		const char *name;
		JsonNode *value;
		json_object_iter_init(&it, args);
		while (json_object_iter_next(&it, &name, &value)) {
			json_builder_set_member_name(b, name);
			json_builder_add_value(b, json_node_copy(value));
		}
	}
	json_builder_end_object(b);
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autofree char *text = json_to_string(root, FALSE);

	Request *r = g_new0(Request, 1);
	r->line = g_strconcat(text, "\n", NULL);
	r->cb = cb;
	r->user_data = user_data;
	g_queue_push_tail(&c->unsent, r);
	flush(c);
}
