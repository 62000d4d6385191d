/* A canned atolld for the client and CLI tests: a real SoupServer on a
 * temporary unix socket, in its own thread with its own main context, that
 * answers requests from a table the test fills (docs/api.md shapes) and
 * records what it was sent.  A test peer, not product code.
 *
 * WebSockets: /v1/events (events can be queued to go out when a given
 * request arrives) and /v1/domains/web/console (sends "login: " on connect
 * and echoes every frame back prefixed with "echo:"). */
#ifndef ATOLL_API_TEST_PEER_H
#define ATOLL_API_TEST_PEER_H

#include <gio/gunixsocketaddress.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

typedef struct {
	char *key;          /* "METHOD /path" or "METHOD /path?query" */
	guint status;
	char *body;         /* JSON, or NULL for an empty reply */
	char *event;        /* sent on /v1/events after replying, or NULL */
} PeerReply;

typedef struct {
	GThread *thread;
	GMainContext *ctx;
	GMainLoop *loop;
	SoupServer *server;
	char *dir, *socket_path;
	GMutex lock;
	GCond ready_cond;
	gboolean ready;
	GPtrArray *replies;     /* PeerReply* */
	GString *log;           /* "METHOD /path?query BODY\n" per request */
	GPtrArray *event_ws;    /* SoupWebsocketConnection*, server thread only */
	GPtrArray *console_ws;
} TestPeer;

static void peer_reply_free(PeerReply *r)
{
	g_free(r->key);
	g_free(r->body);
	g_free(r->event);
	g_free(r);
}

static PeerReply *peer_find(TestPeer *p, const char *method, const char *path,
			    const char *query)
{
	g_autofree char *with_q = g_strdup_printf("%s %s%s%s", method, path,
						  query ? "?" : "", query ? query : "");
	g_autofree char *without_q = g_strdup_printf("%s %s", method, path);
	for (guint pass = 0; pass < 2; pass++) {
		for (guint i = 0; i < p->replies->len; i++) {
			PeerReply *r = g_ptr_array_index(p->replies, i);
			if (strcmp(r->key, pass ? without_q : with_q) == 0)
				return r;
		}
	}
	return NULL;
}

typedef struct {
	TestPeer *peer;
	char *event;
} PeerEmit;

static gboolean peer_emit_now(gpointer data)
{
	PeerEmit *e = data;
	for (guint i = 0; i < e->peer->event_ws->len; i++) {
		SoupWebsocketConnection *ws = g_ptr_array_index(e->peer->event_ws, i);
		if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_send_text(ws, e->event);
	}
	g_free(e->event);
	g_free(e);
	return G_SOURCE_REMOVE;
}

static void peer_http(SoupServer *server, SoupServerMessage *msg, const char *path,
		      GHashTable *query, gpointer data)
{
	(void)server;
	(void)query;
	TestPeer *p = data;
	const char *method = soup_server_message_get_method(msg);
	const char *q = g_uri_get_query(soup_server_message_get_uri(msg));
	SoupMessageBody *req = soup_server_message_get_request_body(msg);
	g_autoptr(GBytes) body = soup_message_body_flatten(req);

	g_mutex_lock(&p->lock);
	g_string_append_printf(p->log, "%s %s%s%s %.*s\n", method, path, q ? "?" : "",
			       q ? q : "", (int)g_bytes_get_size(body),
			       (const char *)g_bytes_get_data(body, NULL));
	PeerReply *r = peer_find(p, method, path, q);
	guint status = r ? r->status : 404;
	g_autofree char *text = r ? g_strdup(r->body)
		: g_strdup_printf("{\"error\": {\"code\": \"not-found\", \"message\": "
				  "\"no route %s %s\"}}", method, path);
	g_autofree char *event = r ? g_strdup(r->event) : NULL;
	g_mutex_unlock(&p->lock);

	soup_server_message_set_status(msg, status, NULL);
	if (text)
		soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY,
						 text, strlen(text));
	if (event) {
		/* Shortly after the reply, as a real daemon's state change. */
		PeerEmit *e = g_new0(PeerEmit, 1);
		e->peer = p;
		e->event = g_steal_pointer(&event);
		g_timeout_add(100, peer_emit_now, e);
	}
}

static void peer_console_message(SoupWebsocketConnection *ws, gint type, GBytes *message,
				 gpointer data)
{
	(void)type;
	(void)data;
	gsize len = 0;
	const char *buf = g_bytes_get_data(message, &len);
	g_autofree char *reply = g_strdup_printf("echo:%.*s", (int)len, buf);
	soup_websocket_connection_send_binary(ws, reply, strlen(reply));
}

static void peer_ws(SoupServer *server, SoupServerMessage *msg, const char *path,
		    SoupWebsocketConnection *ws, gpointer data)
{
	(void)server;
	(void)msg;
	TestPeer *p = data;
	g_mutex_lock(&p->lock);
	g_string_append_printf(p->log, "WS %s\n", path);
	g_mutex_unlock(&p->lock);
	if (g_str_has_suffix(path, "/console")) {
		g_ptr_array_add(p->console_ws, g_object_ref(ws));
		g_signal_connect(ws, "message", G_CALLBACK(peer_console_message), p);
		soup_websocket_connection_send_binary(ws, "login: ", 7);
	} else {
		g_ptr_array_add(p->event_ws, g_object_ref(ws));
	}
}

static gpointer peer_thread(gpointer data)
{
	TestPeer *p = data;
	g_main_context_push_thread_default(p->ctx);
	p->server = soup_server_new(NULL, NULL);
	soup_server_add_handler(p->server, NULL, peer_http, p, NULL);
	soup_server_add_websocket_handler(p->server, "/v1/events", NULL, NULL, peer_ws, p, NULL);
	soup_server_add_websocket_handler(p->server, "/v1/domains/web/console", NULL, NULL,
					  peer_ws, p, NULL);

	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
					       G_SOCKET_PROTOCOL_DEFAULT, &error);
	g_assert_no_error(error);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(p->socket_path);
	g_assert_true(g_socket_bind(sock, addr, TRUE, &error));
	g_assert_true(g_socket_listen(sock, &error));
	g_assert_true(soup_server_listen_socket(p->server, sock, 0, &error));

	g_mutex_lock(&p->lock);
	p->ready = TRUE;
	g_cond_signal(&p->ready_cond);
	g_mutex_unlock(&p->lock);

	g_main_loop_run(p->loop);

	for (guint i = 0; i < p->event_ws->len; i++)
		g_signal_handlers_disconnect_by_data(g_ptr_array_index(p->event_ws, i), p);
	for (guint i = 0; i < p->console_ws->len; i++)
		g_signal_handlers_disconnect_by_data(g_ptr_array_index(p->console_ws, i), p);
	g_ptr_array_set_size(p->event_ws, 0);
	g_ptr_array_set_size(p->console_ws, 0);
	soup_server_disconnect(p->server);
	g_clear_object(&p->server);
	/* Let the closed connections finish their teardown. */
	while (g_main_context_iteration(p->ctx, FALSE))
		;
	g_main_context_pop_thread_default(p->ctx);
	return NULL;
}

static TestPeer *peer_new(void)
{
	TestPeer *p = g_new0(TestPeer, 1);
	g_mutex_init(&p->lock);
	g_cond_init(&p->ready_cond);
	p->dir = g_dir_make_tmp("atoll-test-XXXXXX", NULL);
	g_assert_nonnull(p->dir);
	p->socket_path = g_build_filename(p->dir, "atolld.sock", NULL);
	p->replies = g_ptr_array_new_with_free_func((GDestroyNotify)peer_reply_free);
	p->log = g_string_new(NULL);
	p->event_ws = g_ptr_array_new_with_free_func(g_object_unref);
	p->console_ws = g_ptr_array_new_with_free_func(g_object_unref);
	p->ctx = g_main_context_new();
	p->loop = g_main_loop_new(p->ctx, FALSE);
	p->thread = g_thread_new("api-test-peer", peer_thread, p);
	g_mutex_lock(&p->lock);
	while (!p->ready)
		g_cond_wait(&p->ready_cond, &p->lock);
	g_mutex_unlock(&p->lock);
	return p;
}

/* The reply to "METHOD /path" (any query) or "METHOD /path?query". */
static void peer_reply(TestPeer *p, const char *key, guint status, const char *body)
{
	PeerReply *r = g_new0(PeerReply, 1);
	r->key = g_strdup(key);
	r->status = status;
	r->body = g_strdup(body);
	g_mutex_lock(&p->lock);
	g_ptr_array_insert(p->replies, 0, r);   /* newest wins */
	g_mutex_unlock(&p->lock);
}

static void peer_reply_with_event(TestPeer *p, const char *key, guint status,
				  const char *body, const char *event)
{
	peer_reply(p, key, status, body);
	g_mutex_lock(&p->lock);
	PeerReply *r = g_ptr_array_index(p->replies, 0);
	r->event = g_strdup(event);
	g_mutex_unlock(&p->lock);
}

/* What the peer was sent since the last call. */
static char *peer_take_log(TestPeer *p)
{
	g_mutex_lock(&p->lock);
	char *s = g_strdup(p->log->str);
	g_string_truncate(p->log, 0);
	g_mutex_unlock(&p->lock);
	return s;
}

static gboolean peer_quit(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

static void peer_free(TestPeer *p)
{
	g_main_context_invoke(p->ctx, peer_quit, p->loop);
	g_thread_join(p->thread);
	g_main_loop_unref(p->loop);
	g_main_context_unref(p->ctx);
	g_unlink(p->socket_path);
	g_rmdir(p->dir);
	g_free(p->socket_path);
	g_free(p->dir);
	g_ptr_array_unref(p->replies);
	g_ptr_array_unref(p->event_ws);
	g_ptr_array_unref(p->console_ws);
	g_string_free(p->log, TRUE);
	g_mutex_clear(&p->lock);
	g_cond_clear(&p->ready_cond);
	g_free(p);
}

#endif
