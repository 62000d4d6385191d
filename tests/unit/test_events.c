/* events.c and console.c's WebSocket side against real clients: a SoupServer
 * on a unix socket, libsoup WebSocket clients, a raw client that stops
 * reading, and an in-test serial socket standing in for the VMM's. */
#include "vmm_client.h"
#include "pci_sysfs_fixture.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct {
	char *tmp, *sock_path;
	Atolld d;
	Domain *dom;
	SoupServer *server;
	SoupSession *session;
} Fixture;

static void api_handler(SoupServer *server, SoupServerMessage *msg, const char *path,
			GHashTable *query, gpointer data)
{
	(void)server;
	(void)query;
	(void)data;
	/* stands in for api.c's catch-all: it must never see console upgrades */
	g_autofree char *body = g_strdup_printf("api:%s", path);
	soup_server_message_set_status(msg, 200, NULL);
	soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, body, strlen(body));
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
	(void)data;
	f->tmp = g_dir_make_tmp("atolld-ev-XXXXXX", NULL);
	f->sock_path = g_build_filename(f->tmp, "atolld.sock", NULL);
	f->d.state_dir = g_build_filename(f->tmp, "state", NULL);
	f->d.run_dir = g_build_filename(f->tmp, "run", NULL);
	f->d.domains = g_hash_table_new(g_str_hash, g_str_equal);
	f->dom = g_new0(Domain, 1);
	f->dom->daemon = &f->d;
	f->dom->name = g_strdup("vm1");
	f->dom->state = DOMAIN_RUNNING;
	g_hash_table_insert(f->d.domains, f->dom->name, f->dom);

	f->server = soup_server_new(NULL, NULL);
	soup_server_add_handler(f->server, "/", api_handler, NULL, NULL);
	events_register(&f->d, f->server);
	console_register(&f->d, f->server);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(f->sock_path);
	g_autoptr(GError) error = NULL;
	g_assert_true(soup_server_listen(f->server, addr, 0, &error));
	g_assert_no_error(error);
	g_autoptr(GSocketAddress) remote = g_unix_socket_address_new(f->sock_path);
	f->session = soup_session_new_with_options("remote-connectable", remote, NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	g_object_unref(f->session);
	soup_server_disconnect(f->server);
	g_object_unref(f->server);
	supervisor_forget(f->dom);
	events_free(&f->d);
	g_hash_table_destroy(f->d.domains);
	g_free(f->dom->name);
	g_free(f->dom);
	g_free(f->d.state_dir);
	g_free(f->d.run_dir);
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmp);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(f->tmp);
	g_free(f->sock_path);
}

static gboolean timeout_flag(gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

#define WAIT_UNTIL(cond)                                                      \
	do {                                                                  \
		bool expired_ = false;                                        \
		guint t_ = g_timeout_add(10000, timeout_flag, &expired_);     \
		while (!(cond) && !expired_)                                  \
			g_main_context_iteration(NULL, TRUE);                 \
		if (!expired_)                                                \
			g_source_remove(t_);                                  \
		g_assert_true(cond);                                          \
	} while (0)

/* --------------------------------------------------------- ws clients */

typedef struct {
	SoupWebsocketConnection *ws;
	GError *error;
	bool done;
	GString *received;    /* all messages, concatenated */
	unsigned messages;
	bool closed;
} Client;

static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *msg, gpointer data)
{
	Client *c = data;
	(void)ws;
	(void)type;
	gsize len;
	const char *p = g_bytes_get_data(msg, &len);
	g_string_append_len(c->received, p, (gssize)len);
	c->messages++;
}

static void on_closed(SoupWebsocketConnection *ws, gpointer data)
{
	(void)ws;
	((Client *)data)->closed = true;
}

static void connected(GObject *src, GAsyncResult *res, gpointer data)
{
	Client *c = data;
	c->ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &c->error);
	if (c->ws) {
		g_signal_connect(c->ws, "message", G_CALLBACK(on_message), c);
		g_signal_connect(c->ws, "closed", G_CALLBACK(on_closed), c);
	}
	c->done = true;
}

static Client *ws_connect(Fixture *f, const char *path)
{
	Client *c = g_new0(Client, 1);
	c->received = g_string_new(NULL);
	g_autofree char *uri = g_strdup_printf("http://localhost%s", path);
	SoupMessage *msg = soup_message_new("GET", uri);
	soup_session_websocket_connect_async(f->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
					     NULL, connected, c);
	g_object_unref(msg);
	WAIT_UNTIL(c->done);
	return c;
}

static void client_free(Client *c)
{
	if (c->ws) {
		g_signal_handlers_disconnect_matched(c->ws, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, c);
		g_object_unref(c->ws);
	}
	g_clear_error(&c->error);
	g_string_free(c->received, TRUE);
	g_free(c);
}

/* Async: the server runs on this thread's main loop. */
typedef struct {
	GBytes *body;
	bool done;
} Get;

static void got(GObject *src, GAsyncResult *res, gpointer data)
{
	Get *g = data;
	g->body = soup_session_send_and_read_finish(SOUP_SESSION(src), res, NULL);
	g->done = true;
}

static GBytes *http_get(Fixture *f, const char *path, unsigned *status)
{
	g_autofree char *uri = g_strdup_printf("http://localhost%s", path);
	g_autoptr(SoupMessage) m = soup_message_new("GET", uri);
	Get g = { 0 };
	soup_session_send_and_read_async(f->session, m, G_PRIORITY_DEFAULT, NULL, got, &g);
	WAIT_UNTIL(g.done);
	*status = soup_message_get_status(m);
	return g.body;
}

/* ------------------------------------------------------------- events */

static void test_broadcast(Fixture *f, gconstpointer data)
{
	(void)data;
	Client *a = ws_connect(f, "/v1/events");
	Client *b = ws_connect(f, "/v1/events");
	g_assert_no_error(a->error);
	g_assert_no_error(b->error);
	WAIT_UNTIL(events_subscribers(&f->d) == 2);

	events_emit_state(&f->d, f->dom, "started");
	WAIT_UNTIL(a->messages == 1 && b->messages == 1);
	g_autoptr(JsonParser) p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, a->received->str, -1, NULL));
	JsonObject *o = json_node_get_object(json_parser_get_root(p));
	g_assert_cmpstr(json_object_get_string_member(o, "type"), ==, "domain-state");
	g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "vm1");
	g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "running");
	g_assert_cmpstr(json_object_get_string_member(o, "reason"), ==, "started");
	g_assert_cmpstr(a->received->str, ==, b->received->str);

	/* a client that leaves is forgotten; the others keep getting events */
	soup_websocket_connection_close(a->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
	WAIT_UNTIL(events_subscribers(&f->d) == 1);
	g_autoptr(JsonBuilder) jb = json_builder_new();
	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, "type");
	json_builder_add_string_value(jb, "domain-defined");
	json_builder_end_object(jb);
	events_emit(&f->d, json_builder_get_root(jb));
	WAIT_UNTIL(b->messages == 2);
	g_assert_nonnull(strstr(b->received->str, "\"domain-defined\""));
	g_assert_cmpuint(a->messages, ==, 1);
	client_free(a);
	client_free(b);

	/* plain GET (no upgrade) is refused, not hung */
	unsigned status = 0;
	g_autoptr(GBytes) body = http_get(f, "/v1/events", &status);
	g_assert_cmpuint(status, ==, 400);
	g_assert_nonnull(body);
}

/* Binding a device to vfio-pci and back is announced as device-changed
 * (passthrough.c, on a sysfs tree from pci_sysfs_fixture.h). */
static void test_device_changed(Fixture *f, gconstpointer data)
{
	(void)data;
	PciSysfs ps = { 0 };
	pci_sysfs_set_up(&ps, NULL);
	f->d.sysfs_root = ps.root;
	f->d.pci_write_fn = (void *)pci_sysfs_kernel;
	f->d.pci_write_data = &ps;
	Client *c = ws_connect(f, "/v1/events");
	g_assert_no_error(c->error);
	WAIT_UNTIL(events_subscribers(&f->d) == 1);

	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) added = passthrough_assignable_add(&f->d, "00:06.0", false, &err);
	g_assert_no_error(err);
	WAIT_UNTIL(c->messages == 1);
	g_assert_cmpstr(c->received->str, ==, "{\"type\":\"device-changed\",\"kind\":\"pci\","
			"\"device\":\"0000:00:06.0\",\"domain\":null,\"action\":\"assignable\"}");
	g_autoptr(JsonNode) removed = passthrough_assignable_remove(&f->d, "00:06.0", &err);
	g_assert_no_error(err);
	WAIT_UNTIL(c->messages == 2);
	g_assert_nonnull(strstr(c->received->str, "\"action\":\"released\""));
	g_autofree char *drv = pci_sysfs_driver(&ps, "0000:00:06.0");
	g_assert_cmpstr(drv, ==, "e1000");
	client_free(c);
	f->d.sysfs_root = NULL;
	pci_sysfs_tear_down(&ps, NULL);
}

/* A raw WebSocket client that completes the handshake, then never reads. */
static int raw_subscribe(Fixture *f)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_strlcpy(sa.sun_path, f->sock_path, sizeof(sa.sun_path));
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	const char *req = "GET /v1/events HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			  "Sec-WebSocket-Version: 13\r\n\r\n";
	g_assert_cmpint(write(fd, req, strlen(req)), ==, (gssize)strlen(req));
	GString *resp = g_string_new(NULL);
	bool expired = false;
	guint t = g_timeout_add(10000, timeout_flag, &expired);
	while (!strstr(resp->str, "\r\n\r\n") && !expired) {
		char c;
		if (read(fd, &c, 1) == 1)   /* byte by byte: leave any frames unread */
			g_string_append_c(resp, c);
		else
			g_main_context_iteration(NULL, TRUE);
	}
	if (!expired)
		g_source_remove(t);
	g_assert_true(g_str_has_prefix(resp->str, "HTTP/1.1 101"));
	g_string_free(resp, TRUE);
	return fd;
}

static void test_slow_client(Fixture *f, gconstpointer data)
{
	(void)data;
	Client *good = ws_connect(f, "/v1/events");
	int fd = raw_subscribe(f);
	WAIT_UNTIL(events_subscribers(&f->d) == 2);

	/* 8 MiB of events, far beyond what may queue for one client */
	g_autofree char *big = g_strnfill(64 * 1024, 'x');
	for (int i = 0; i < 128; i++) {
		g_autoptr(JsonBuilder) jb = json_builder_new();
		json_builder_begin_object(jb);
		json_builder_set_member_name(jb, "type");
		json_builder_add_string_value(jb, "device-changed");
		json_builder_set_member_name(jb, "pad");
		json_builder_add_string_value(jb, big);
		json_builder_end_object(jb);
		events_emit(&f->d, json_builder_get_root(jb));
		while (g_main_context_iteration(NULL, FALSE))
			;
	}
	/* the stuck client was dropped; the reading one got everything */
	g_assert_cmpuint(events_subscribers(&f->d), ==, 1);
	WAIT_UNTIL(good->messages == 128);
	g_assert_false(good->closed);

	/* draining the stuck client's socket ends in EOF: the server hung up */
	char buf[65536];
	bool eof = false, expired = false;
	guint t = g_timeout_add(10000, timeout_flag, &expired);
	while (!eof && !expired) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0)
			eof = true;
		else if (n < 0)
			g_main_context_iteration(NULL, TRUE);
	}
	if (!expired)
		g_source_remove(t);
	g_assert_true(eof);
	close(fd);
	client_free(good);
}

/* ------------------------------------------------------------ console */

/* The VMM's serial socket: greets each client, echoes what it is sent. */
static void serial_echo_done(GObject *src, GAsyncResult *res, gpointer data);

typedef struct {
	GSocketConnection *conn;
	char buf[256];
} SerialClient;

static void serial_read(SerialClient *sc)
{
	g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(sc->conn)),
				  sc->buf, sizeof(sc->buf), G_PRIORITY_DEFAULT, NULL,
				  serial_echo_done, sc);
}

static void serial_echo_done(GObject *src, GAsyncResult *res, gpointer data)
{
	SerialClient *sc = data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, NULL);
	if (n <= 0) {
		g_object_unref(sc->conn);
		g_free(sc);
		return;
	}
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(sc->conn));
	g_autofree char *echo = g_strdup_printf("echo:%.*s", (int)n, sc->buf);
	g_output_stream_write_all(out, echo, strlen(echo), NULL, NULL, NULL);
	serial_read(sc);
}

static gboolean serial_incoming(GSocketService *svc, GSocketConnection *conn,
				GObject *src, gpointer data)
{
	(void)svc;
	(void)src;
	(void)data;
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	const char *hello = "guest: login: ";
	g_output_stream_write_all(out, hello, strlen(hello), NULL, NULL, NULL);
	SerialClient *sc = g_new0(SerialClient, 1);
	sc->conn = g_object_ref(conn);
	serial_read(sc);
	return TRUE;
}

static bool log_has(Domain *dom, const char *what)
{
	g_autoptr(GBytes) log = console_log(dom);
	if (!log || g_bytes_get_size(log) == 0)
		return false;
	g_autofree char *text = g_strndup(g_bytes_get_data(log, NULL), g_bytes_get_size(log));
	return strstr(text, what) != NULL;
}

static void test_console(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *serial = g_build_filename(f->tmp, "vm1.console", NULL);
	GSocketService *svc = g_socket_service_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(serial);
	g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(svc), addr,
		G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, NULL));
	g_signal_connect(svc, "incoming", G_CALLBACK(serial_incoming), NULL);
	console_attach(f->dom, serial);
	WAIT_UNTIL(log_has(f->dom, "guest: login: "));

	/* a viewer first gets the recent output, then live output; its input
	 * goes to the guest, and every viewer sees the result */
	Client *a = ws_connect(f, "/v1/domains/vm1/console");
	g_assert_no_error(a->error);
	WAIT_UNTIL(strstr(a->received->str, "guest: login: "));
	Client *b = ws_connect(f, "/v1/domains/vm1/console");
	g_assert_no_error(b->error);
	WAIT_UNTIL(strstr(b->received->str, "guest: login: "));
	soup_websocket_connection_send_binary(a->ws, "root\n", 5);
	WAIT_UNTIL(strstr(a->received->str, "echo:root\n") && strstr(b->received->str, "echo:root\n"));
	soup_websocket_connection_send_binary(b->ws, "ls\n", 3);
	WAIT_UNTIL(strstr(a->received->str, "echo:ls\n"));
	g_assert_true(log_has(f->dom, "echo:root\necho:ls\n"));

	/* kept on disk too */
	g_autofree char *file = g_build_filename(f->d.state_dir, "logs", "vm1.console.log", NULL);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "guest: login: echo:root"));

	/* unknown domains: 404, not an upgrade */
	Client *none = ws_connect(f, "/v1/domains/nope/console");
	g_assert_null(none->ws);
	g_assert_nonnull(none->error);
	client_free(none);

	/* other /v1/domains routes still reach the API handler */
	unsigned status = 0;
	g_autoptr(GBytes) body = http_get(f, "/v1/domains/vm1/console/log", &status);
	g_assert_cmpuint(status, ==, 200);
	g_assert_cmpmem(g_bytes_get_data(body, NULL), g_bytes_get_size(body),
			"api:/v1/domains/vm1/console/log", 31);

	/* VMM gone: viewers stay, the log stays */
	console_detach(f->dom);
	g_socket_service_stop(svc);
	g_socket_listener_close(G_SOCKET_LISTENER(svc));
	g_object_unref(svc);
	g_assert_true(log_has(f->dom, "echo:ls"));
	g_assert_false(a->closed);
	client_free(a);
	client_free(b);
}

static void test_console_log_bounded(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *serial = g_build_filename(f->tmp, "big.console", NULL);
	GSocketService *svc = g_socket_service_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(serial);
	g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(svc), addr,
		G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, NULL));
	g_signal_connect(svc, "incoming", G_CALLBACK(serial_incoming), NULL);
	console_attach(f->dom, serial);
	WAIT_UNTIL(log_has(f->dom, "guest: login: "));
	/* feed 1.5 MiB through the echo: memory keeps 256 KiB, the file
	 * rotates at 1 MiB */
	Client *a = ws_connect(f, "/v1/domains/vm1/console");
	g_autofree char *chunk = g_strnfill(200, 'a');
	for (int i = 0; i < 8000; i++) {
		soup_websocket_connection_send_binary(a->ws, chunk, 200);
		if (i % 50 == 0)
			while (g_main_context_iteration(NULL, FALSE))
				;
	}
	g_autofree char *file = g_build_filename(f->d.state_dir, "logs", "vm1.console.log", NULL);
	g_autofree char *old = g_strconcat(file, ".1", NULL);
	WAIT_UNTIL(g_file_test(old, G_FILE_TEST_EXISTS));
	g_autoptr(GBytes) log = console_log(f->dom);
	g_assert_cmpuint(g_bytes_get_size(log), ==, CONSOLE_MEM_BYTES);
	GStatBuf st;
	g_assert_cmpint(g_stat(file, &st), ==, 0);
	g_assert_cmpint(st.st_size, <=, 1024 * 1024);
	console_detach(f->dom);
	client_free(a);
	g_socket_service_stop(svc);
	g_socket_listener_close(G_SOCKET_LISTENER(svc));
	g_object_unref(svc);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/events/broadcast", Fixture, NULL, fixture_setup, test_broadcast, fixture_teardown);
	g_test_add("/events/slow-client", Fixture, NULL, fixture_setup, test_slow_client, fixture_teardown);
	g_test_add("/events/device-changed", Fixture, NULL, fixture_setup, test_device_changed, fixture_teardown);
	g_test_add("/console/viewers", Fixture, NULL, fixture_setup, test_console, fixture_teardown);
	g_test_add("/console/bounded-log", Fixture, NULL, fixture_setup, test_console_log_bounded, fixture_teardown);
	return g_test_run();
}
