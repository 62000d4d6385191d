/* The serial console of each domain: atolld is a client of the VMM's
 * serial socket, keeps what the guest printed (bounded, in memory and in
 * state_dir/logs/NAME.console.log) and bridges it to any number of
 * WebSocket viewers; input from any viewer goes to the guest. */
#include "vmm_client.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#define CONSOLE_FILE_MAX (1024 * 1024)   /* then NAME.console.log.1 */
#define INPUT_MAX (64 * 1024)            /* typed ahead while the guest is slow */
#define RETRY_MS 250

typedef struct {
	Domain *dom;
	char *sock_path;       /* NULL while no VMM runs */
	GSocketClient *sc;
	GSocketConnection *conn;
	GCancellable *cancel;  /* the current connection attempt / connection */
	guint8 rbuf[4096];
	GByteArray *mem;       /* the tail of the output, see trim_mem() */
	int logfd;
	char *log_path;
	goffset log_size;
	GPtrArray *viewers;    /* WsPeer* */
	GByteArray *input;     /* waiting to be written to the VMM */
	bool writing;
	guint retry;
} Console;

static void console_connect(Console *c);

static char *log_path_of(Domain *dom)
{
	return g_strdup_printf("%s/logs/%s.console.log", dom->daemon->state_dir, dom->name);
}

static void open_log_file(Console *c)
{
	g_autofree char *dir = g_path_get_dirname(c->log_path);
	g_mkdir_with_parents(dir, 0750);
	c->logfd = open(c->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (c->logfd < 0) {
		g_warning("console of %s: cannot open %s: %s; output is kept in memory only",
			  c->dom->name, c->log_path, g_strerror(errno));
		return;
	}
	GStatBuf st;
	c->log_size = g_stat(c->log_path, &st) == 0 ? st.st_size : 0;
}

/* The last CONSOLE_MEM_BYTES of a file (the log of an earlier daemon). */
static void preload(Console *c)
{
	int fd = open(c->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > CONSOLE_MEM_BYTES ? end - CONSOLE_MEM_BYTES : 0;
	g_byte_array_set_size(c->mem, (guint)(end - from));
	ssize_t n = pread(fd, c->mem->data, c->mem->len, from);
	g_byte_array_set_size(c->mem, n > 0 ? (guint)n : 0);
	close(fd);
}

static Console *console_of(Domain *dom, bool create)
{
	if (!dom->console && create) {
		Console *c = g_new0(Console, 1);
		c->dom = dom;
		c->sc = g_socket_client_new();
		c->mem = g_byte_array_new();
		c->input = g_byte_array_new();
		c->viewers = g_ptr_array_new_with_free_func((GDestroyNotify)ws_peer_free);
		c->log_path = log_path_of(dom);
		preload(c);
		open_log_file(c);
		dom->console = c;
	}
	return dom->console;
}

/* Amortised: trim only when twice the bound, so appends stay cheap. */
static void trim_mem(Console *c)
{
	if (c->mem->len > 2 * CONSOLE_MEM_BYTES)
		g_byte_array_remove_range(c->mem, 0, c->mem->len - CONSOLE_MEM_BYTES);
}

static void log_output(Console *c, const guint8 *data, gsize len)
{
	g_byte_array_append(c->mem, data, (guint)len);
	trim_mem(c);
	if (c->logfd < 0)
		return;
	if (c->log_size + (goffset)len > CONSOLE_FILE_MAX) {
		g_autofree char *old = g_strconcat(c->log_path, ".1", NULL);
		close(c->logfd);
		if (g_rename(c->log_path, old) != 0)
			g_unlink(c->log_path);
		open_log_file(c);
		if (c->logfd < 0)
			return;
	}
	ssize_t n = write(c->logfd, data, len);
	if (n > 0)
		c->log_size += n;
}

static void broadcast(Console *c, const guint8 *data, gsize len)
{
	for (guint i = c->viewers->len; i-- > 0;) {
		if (!ws_peer_send(g_ptr_array_index(c->viewers, i), true, data, len))
			g_ptr_array_remove_index(c->viewers, i);
	}
}

static void drop(Console *c)
{
	if (c->cancel)
		g_cancellable_cancel(c->cancel);
	g_clear_object(&c->cancel);
	if (c->conn)
		g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	g_clear_object(&c->conn);
	c->writing = false;
}

static gboolean retry_cb(gpointer data)
{
	Console *c = data;
	c->retry = 0;
	console_connect(c);
	return G_SOURCE_REMOVE;
}

/* Connection lost (the VMM restarts the domain, or exits): try again while
 * a VMM is attached. */
static void reconnect_later(Console *c)
{
	drop(c);
	if (c->sock_path && !c->retry)
		c->retry = g_timeout_add(RETRY_MS, retry_cb, c);
}

static void read_more(Console *c);

static void read_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;   /* the Console may be gone */
	Console *c = data;
	if (n <= 0) {
		reconnect_later(c);
		return;
	}
	log_output(c, c->rbuf, (gsize)n);
	broadcast(c, c->rbuf, (gsize)n);
	read_more(c);
}

static void read_more(Console *c)
{
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(c->conn));
	g_input_stream_read_async(in, c->rbuf, sizeof(c->rbuf), G_PRIORITY_DEFAULT,
				  c->cancel, read_done, c);
}

static void write_input(Console *c);

static void write_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) error = NULL;
	gssize n = g_output_stream_write_finish(G_OUTPUT_STREAM(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	Console *c = data;
	c->writing = false;
	if (n < 0) {
		reconnect_later(c);
		return;
	}
	g_byte_array_remove_range(c->input, 0, (guint)n);
	write_input(c);
}

static void write_input(Console *c)
{
	if (!c->conn || c->writing || c->input->len == 0)
		return;
	c->writing = true;
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
	g_output_stream_write_async(out, c->input->data, c->input->len, G_PRIORITY_DEFAULT,
				    c->cancel, write_done, c);
}

static void connect_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) error = NULL;
	GSocketConnection *conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	Console *c = data;
	if (!conn) {
		reconnect_later(c);
		return;
	}
	c->conn = conn;
	read_more(c);
	write_input(c);
}

static void console_connect(Console *c)
{
	if (!c->sock_path || c->conn)
		return;
	drop(c);
	c->cancel = g_cancellable_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(c->sock_path);
	g_socket_client_connect_async(c->sc, G_SOCKET_CONNECTABLE(addr), c->cancel,
				      connect_done, c);
}

void console_attach(Domain *dom, const char *socket_path)
{
	Console *c = console_of(dom, true);
	g_free(c->sock_path);
	c->sock_path = g_strdup(socket_path);
	g_clear_handle_id(&c->retry, g_source_remove);
	drop(c);
	console_connect(c);
}

void console_detach(Domain *dom)
{
	Console *c = console_of(dom, false);
	if (!c)
		return;
	g_clear_pointer(&c->sock_path, g_free);
	g_clear_handle_id(&c->retry, g_source_remove);
	drop(c);
	g_byte_array_set_size(c->input, 0);
}

void console_forget(Domain *dom)
{
	Console *c = console_of(dom, false);
	if (!c)
		return;
	console_detach(dom);
	for (guint i = 0; i < c->viewers->len; i++) {
		WsPeer *p = g_ptr_array_index(c->viewers, i);
		soup_websocket_connection_close(p->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
						"the domain is gone");
	}
	g_ptr_array_unref(c->viewers);
	g_byte_array_unref(c->mem);
	g_byte_array_unref(c->input);
	g_clear_object(&c->sc);
	if (c->logfd >= 0)
		close(c->logfd);
	g_free(c->log_path);
	g_free(c);
	dom->console = NULL;
}

GBytes *console_log(Domain *dom)
{
	Console *c = console_of(dom, false);
	if (!c) {
		/* Never attached in this daemon: what an earlier run left. */
		g_autofree char *path = log_path_of(dom);
		g_autofree char *text = NULL;
		gsize len;
		if (!g_file_get_contents(path, &text, &len, NULL))
			return NULL;
		gsize from = len > CONSOLE_MEM_BYTES ? len - CONSOLE_MEM_BYTES : 0;
		return g_bytes_new(text + from, len - from);
	}
	gsize from = c->mem->len > CONSOLE_MEM_BYTES ? c->mem->len - CONSOLE_MEM_BYTES : 0;
	return g_bytes_new(c->mem->data + from, c->mem->len - from);
}

/* ------------------------------------------------------------ viewers */

/* Viewers find their domain by name: a Domain may be freed (undefined)
 * while a viewer is still connected. */
typedef struct {
	Atolld *d;
	char *name;
} ViewerRef;

static void viewer_ref_free(gpointer data)
{
	ViewerRef *r = data;
	g_free(r->name);
	g_free(r);
}

static Domain *viewer_domain(SoupWebsocketConnection *ws)
{
	ViewerRef *r = g_object_get_data(G_OBJECT(ws), "atolld-viewer");
	return r ? g_hash_table_lookup(r->d->domains, r->name) : NULL;
}

static void on_viewer_message(SoupWebsocketConnection *ws, gint type, GBytes *message,
			      gpointer data)
{
	Domain *dom = viewer_domain(ws);
	Console *c = dom ? console_of(dom, false) : NULL;
	(void)data;
	(void)type;   /* text frames are keystrokes too (e.g. from a browser) */
	if (!c || !c->sock_path)
		return;
	gsize len;
	const guint8 *data_ = g_bytes_get_data(message, &len);
	if (c->input->len + len > INPUT_MAX) {
		g_message("console of %s: the guest is not reading its input; "
			  "dropping %" G_GSIZE_FORMAT " bytes", dom->name, len);
		return;
	}
	g_byte_array_append(c->input, data_, (guint)len);
	write_input(c);
}

static void on_viewer_closed(SoupWebsocketConnection *ws, gpointer data)
{
	Domain *dom = viewer_domain(ws);
	Console *c = dom ? console_of(dom, false) : NULL;
	if (c)
		g_ptr_array_remove(c->viewers, data);
}

static void add_viewer(Domain *dom, SoupWebsocketConnection *ws, GSocket *sock)
{
	Console *c = console_of(dom, true);
	g_autofree char *what = g_strdup_printf("console of %s", dom->name);
	WsPeer *peer = ws_peer_new(ws, sock, what);
	ViewerRef *ref = g_new0(ViewerRef, 1);
	ref->d = dom->daemon;
	ref->name = g_strdup(dom->name);
	g_object_set_data_full(G_OBJECT(ws), "atolld-viewer", ref, viewer_ref_free);
	g_signal_connect(ws, "message", G_CALLBACK(on_viewer_message), peer);
	g_signal_connect(ws, "closed", G_CALLBACK(on_viewer_closed), peer);
	g_ptr_array_add(c->viewers, peer);
	/* A new viewer first sees what the guest printed recently. */
	if (c->mem->len) {
		gsize from = c->mem->len > CONSOLE_MEM_BYTES ? c->mem->len - CONSOLE_MEM_BYTES : 0;
		ws_peer_send(peer, true, c->mem->data + from, c->mem->len - from);
	}
}

typedef struct {
	Atolld *d;
	char *name;
	GSocket *sock;
} Upgrade;

static void upgrade_free(gpointer data)
{
	Upgrade *u = data;
	g_free(u->name);
	g_clear_object(&u->sock);
	g_free(u);
}

static void upgrade_done(SoupServerMessage *msg, gpointer data)
{
	(void)data;
	Upgrade *u = g_object_get_data(G_OBJECT(msg), "atolld-console");
	Domain *dom = u ? g_hash_table_lookup(u->d->domains, u->name) : NULL;
	GIOStream *stream = soup_server_message_steal_connection(msg);
	SoupWebsocketConnection *ws = soup_websocket_connection_new(stream,
		soup_server_message_get_uri(msg), SOUP_WEBSOCKET_CONNECTION_SERVER,
		NULL, NULL, NULL);
	g_object_unref(stream);
	if (dom)
		add_viewer(dom, ws, u->sock);
	else
		soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
						"the domain was undefined");
	g_object_unref(ws);
}

static void reply_error(SoupServerMessage *msg, unsigned status, const char *kind,
			const char *message)
{
	g_autofree char *body = g_strdup_printf("{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
						kind, message);
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY,
					 body, strlen(body));
}

/* The name in "/v1/domains/NAME/console", or NULL. */
static char *console_route(const char *path)
{
	static const char prefix[] = "/v1/domains/";
	if (!g_str_has_prefix(path, prefix))
		return NULL;
	const char *name = path + strlen(prefix);
	const char *slash = strchr(name, '/');
	if (!slash || slash == name || strcmp(slash, "/console") != 0)
		return NULL;
	return g_strndup(name, (gsize)(slash - name));
}

static bool wants_websocket(SoupServerMessage *msg)
{
	SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
	return soup_message_headers_header_contains(h, "Upgrade", "websocket");
}

/* Runs before SoupServer picks a handler (path routing cannot express
 * "/v1/domains/{name}/console"), so the API's /v1/domains handler never
 * sees console upgrades. */
static void on_request_read(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
	Atolld *d = data;
	(void)server;
	if (soup_server_message_get_status(msg) != 0)
		return;
	g_autofree char *name = console_route(g_uri_get_path(soup_server_message_get_uri(msg)));
	if (!name || strcmp(soup_server_message_get_method(msg), "GET") != 0 ||
	    !wants_websocket(msg))
		return;
	if (!g_hash_table_lookup(d->domains, name)) {
		reply_error(msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such domain");
		return;
	}
	if (!soup_websocket_server_process_handshake(msg, NULL, NULL, NULL, NULL))
		return;   /* it answered with the reason */
	Upgrade *u = g_new0(Upgrade, 1);
	u->d = d;
	u->name = g_steal_pointer(&name);
	GSocket *sock = soup_server_message_get_socket(msg);
	u->sock = sock ? g_object_ref(sock) : NULL;
	g_object_set_data_full(G_OBJECT(msg), "atolld-console", u, upgrade_free);
	g_signal_connect(msg, "wrote-informational", G_CALLBACK(upgrade_done), NULL);
}

void console_register(Atolld *d, SoupServer *server)
{
	g_signal_connect(server, "request-read", G_CALLBACK(on_request_read), d);
}
