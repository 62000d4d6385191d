/* /v1/events: every subscriber gets every event as one JSON text message.
 * libsoup never blocks on a send (it queues what the socket does not
 * take), so the danger of a client that stops reading is memory, not a
 * stall: WsPeer bounds what may queue up and drops the client beyond. */
#include "vmm_client.h"

#include <libsoup/soup.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

typedef struct {
	GPtrArray *peers;   /* WsPeer* */
} Events;

/* ------------------------------------------------------------ WsPeer */

WsPeer *ws_peer_new(SoupWebsocketConnection *ws, GSocket *sock, const char *what)
{
	WsPeer *p = g_new0(WsPeer, 1);
	p->ws = g_object_ref(ws);
	p->sock = sock ? g_object_ref(sock) : NULL;
	p->what = g_strdup(what);
	return p;
}

void ws_peer_free(WsPeer *p)
{
	if (!p)
		return;
	g_signal_handlers_disconnect_matched(p->ws, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, p);
	g_object_unref(p->ws);
	g_clear_object(&p->sock);
	g_free(p->what);
	g_free(p);
}

/* Whether the kernel's send buffer towards the peer is (nearly) full, i.e.
 * the peer is not reading and libsoup is queueing in our memory. */
static bool kernel_buffer_full(GSocket *sock)
{
	int queued = 0, sndbuf = 0;
	socklen_t len = sizeof(sndbuf);
	int fd = g_socket_get_fd(sock);
	if (ioctl(fd, SIOCOUTQ, &queued) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) < 0)
		return false;
	return queued >= sndbuf / 2;
}

bool ws_peer_send(WsPeer *p, bool binary, const void *data, size_t len)
{
	if (soup_websocket_connection_get_state(p->ws) != SOUP_WEBSOCKET_STATE_OPEN)
		return false;
	if (p->sock && kernel_buffer_full(p->sock)) {
		p->backlog += len;
		if (p->backlog > WS_PEER_MAX_BACKLOG) {
			g_message("%s: the client is not reading (over %d KiB behind); "
				  "disconnecting it", p->what, WS_PEER_MAX_BACKLOG / 1024);
			soup_websocket_connection_close(p->ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
							"too slow: not reading");
			/* The close frame would wait behind the backlog. */
			g_socket_shutdown(p->sock, TRUE, TRUE, NULL);
			return false;
		}
	} else {
		p->backlog = 0;
	}
	if (binary)
		soup_websocket_connection_send_binary(p->ws, data, len);
	else
		soup_websocket_connection_send_text(p->ws, data);
	return true;
}

/* ------------------------------------------------------------ events */

static Events *events_of(Atolld *d)
{
	if (!d->events) {
		Events *ev = g_new0(Events, 1);
		ev->peers = g_ptr_array_new_with_free_func((GDestroyNotify)ws_peer_free);
		d->events = ev;
	}
	return d->events;
}

static void on_closed(SoupWebsocketConnection *ws, gpointer data)
{
	WsPeer *peer = data;
	(void)ws;
	Events *ev = g_object_get_data(G_OBJECT(ws), "atolld-events");
	if (ev)
		g_ptr_array_remove(ev->peers, peer);
}

static void on_subscriber(SoupServer *server, SoupServerMessage *msg, const char *path,
			  SoupWebsocketConnection *ws, gpointer data)
{
	Atolld *d = data;
	Events *ev = events_of(d);
	(void)server;
	(void)path;
	WsPeer *peer = ws_peer_new(ws, soup_server_message_get_socket(msg), "/v1/events");
	g_object_set_data(G_OBJECT(ws), "atolld-events", ev);
	g_signal_connect(ws, "closed", G_CALLBACK(on_closed), peer);
	g_ptr_array_add(ev->peers, peer);
}

void events_register(Atolld *d, SoupServer *server)
{
	events_of(d);
	soup_server_add_websocket_handler(server, "/v1/events", NULL, NULL,
					  on_subscriber, d, NULL);
}

void events_emit(Atolld *d, JsonNode *event)
{
	Events *ev = events_of(d);
	g_autofree char *text = json_to_string(event, FALSE);
	json_node_unref(event);
	/* Backwards: a dropped peer is removed from the array. */
	for (guint i = ev->peers->len; i-- > 0;) {
		WsPeer *peer = g_ptr_array_index(ev->peers, i);
		if (!ws_peer_send(peer, false, text, strlen(text)))
			g_ptr_array_remove_index(ev->peers, i);
	}
}

void events_emit_state(Atolld *d, Domain *dom, const char *reason)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "type");
	json_builder_add_string_value(b, "domain-state");
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, dom->name);
	json_builder_set_member_name(b, "state");
	json_builder_add_string_value(b, domain_state_name(dom->state));
	if (reason) {
		json_builder_set_member_name(b, "reason");
		json_builder_add_string_value(b, reason);
	}
	json_builder_end_object(b);
	events_emit(d, json_builder_get_root(b));
}

unsigned events_subscribers(Atolld *d)
{
	return events_of(d)->peers->len;
}

void events_free(Atolld *d)
{
	Events *ev = d->events;
	if (!ev)
		return;
	for (guint i = 0; i < ev->peers->len; i++) {
		WsPeer *p = g_ptr_array_index(ev->peers, i);
		soup_websocket_connection_close(p->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
						"atolld is stopping");
	}
	g_ptr_array_unref(ev->peers);
	g_free(ev);
	d->events = NULL;
}
