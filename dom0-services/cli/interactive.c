/* The commands that wait or stay attached: shutdown -w, console, top. */
#include "commands.h"

#include <errno.h>
#include <glib-unix.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CONSOLE_ESCAPE 0x1d   /* ^] as in xl, virsh and telnet */

/* ---- terminal modes ---------------------------------------------------- */

typedef struct {
	int fd;
	gboolean saved;
	struct termios orig;
} TtyMode;

/* full_raw: console (every byte goes to the guest, ^C included);
 * otherwise only unbuffered and silent keys (top), ^C still works. */
static void tty_enter(TtyMode *t, int fd, gboolean full_raw)
{
	t->fd = fd;
	t->saved = isatty(fd) && tcgetattr(fd, &t->orig) == 0;
	if (!t->saved)
		return;
	struct termios raw = t->orig;
	if (full_raw) {
		cfmakeraw(&raw);
	} else {
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
	}
	tcsetattr(fd, TCSANOW, &raw);
}

static void tty_leave(TtyMode *t)
{
	if (t->saved)
		tcsetattr(t->fd, TCSANOW, &t->orig);
	t->saved = FALSE;
}

static gboolean write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		p += n;
		len -= (size_t)n;
	}
	return TRUE;
}

/* ---- shutdown [-w] ----------------------------------------------------- */

typedef struct {
	AtollCli *cli;
	const char *name;
	GMainLoop *loop;
	char *final_state;   /* "shutoff", "crashed"; NULL while waiting */
	GError *error;       /* polling failed */
	gboolean timed_out;
} Waiter;

static gboolean state_is_final(const char *state)
{
	return state && (strcmp(state, "shutoff") == 0 || strcmp(state, "crashed") == 0);
}

static void waiter_finish(Waiter *w, const char *state)
{
	if (!w->final_state && !w->error && !w->timed_out)
		w->final_state = g_strdup(state);
	g_main_loop_quit(w->loop);
}

static void on_event(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
	(void)ws;
	(void)type;
	Waiter *w = data;
	gsize len = 0;
	const char *text = g_bytes_get_data(message, &len);
	g_autoptr(JsonParser) parser = json_parser_new();
	if (!text || !json_parser_load_from_data(parser, text, len, NULL))
		return;
	JsonNode *root = json_parser_get_root(parser);
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
	const char *etype = atoll_json_str(o, "type");
	const char *name = atoll_json_str(o, "name");
	const char *state = atoll_json_str(o, "state");
	if (etype && strcmp(etype, "domain-state") == 0 && name &&
	    strcmp(name, w->name) == 0 && state_is_final(state))
		waiter_finish(w, state);
}

static const char *domain_state(JsonNode *reply)
{
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
	JsonNode *st = o ? json_object_get_member(o, "status") : NULL;
	if (st && JSON_NODE_HOLDS_OBJECT(st))
		return atoll_json_str(json_node_get_object(st), "state");
	return atoll_json_str(o, "state");
}

/* The safety net for a missed or absent event stream. */
static gboolean poll_state(gpointer data)
{
	Waiter *w = data;
	g_autoptr(JsonNode) reply = atoll_client_get_domain(w->cli->client, w->name, &w->error);
	if (!reply) {
		g_main_loop_quit(w->loop);
		return G_SOURCE_REMOVE;
	}
	const char *state = domain_state(reply);
	if (state_is_final(state)) {
		waiter_finish(w, state);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean wait_timeout(gpointer data)
{
	Waiter *w = data;
	w->timed_out = TRUE;
	g_main_loop_quit(w->loop);
	return G_SOURCE_REMOVE;
}

/* How long to wait: the shutdown timeout (after which atolld forces the
 * domain off) plus slack for the forced stop to complete. */
static guint wait_limit_s(AtollCli *cli, const char *name, int timeout_s)
{
	if (timeout_s < 0) {
		g_autoptr(JsonNode) reply = atoll_client_get_domain(cli->client, name, NULL);
		JsonObject *o = reply && JSON_NODE_HOLDS_OBJECT(reply)
			? json_node_get_object(reply) : NULL;
		timeout_s = (int)atoll_json_int(o, "shutdown_timeout_s", 60);
	}
	return (guint)timeout_s + 30;
}

static int wait_for_off(AtollCli *cli, const char *name, SoupWebsocketConnection *ws,
			int timeout_s)
{
	Waiter w = { .cli = cli, .name = name, .loop = g_main_loop_new(NULL, FALSE) };
	guint limit = wait_limit_s(cli, name, timeout_s);
	gulong handler = ws ? g_signal_connect(ws, "message", G_CALLBACK(on_event), &w) : 0;
	fprintf(cli->io->err, "Waiting for domain %s to shut down\n", name);
	fflush(cli->io->err);

	guint poll_id = g_timeout_add_seconds(ws ? 5 : 1, poll_state, &w);
	guint limit_id = g_timeout_add_seconds(limit, wait_timeout, &w);
	/* An event may have come before we listened: look once now. */
	if (poll_state(&w) == G_SOURCE_CONTINUE)
		g_main_loop_run(w.loop);

	if (handler)
		g_signal_handler_disconnect(ws, handler);
	g_source_remove(limit_id);
	if (g_main_context_find_source_by_id(NULL, poll_id))
		g_source_remove(poll_id);
	g_main_loop_unref(w.loop);

	int rc = ATOLL_EXIT_OK;
	if (w.error) {
		rc = atoll_cli_fail(cli, w.error);
		g_error_free(w.error);
	} else if (w.timed_out) {
		fprintf(cli->io->err, "atoll: %s did not shut down within %u s\n", name, limit);
		rc = ATOLL_EXIT_ERROR;
	} else if (strcmp(w.final_state, "crashed") == 0) {
		fprintf(cli->io->err, "atoll: %s crashed while shutting down\n", name);
		rc = ATOLL_EXIT_ERROR;
	} else {
		fprintf(cli->io->out, "Domain %s is shut off.\n", name);
	}
	g_free(w.final_state);
	return rc;
}

static gboolean parse_seconds(const char *text, int *out)
{
	char *end = NULL;
	gint64 v = g_ascii_strtoll(text, &end, 10);
	if (!*text || *end || v < 0 || v > 86400)
		return FALSE;
	*out = (int)v;
	return TRUE;
}

int atoll_cmd_shutdown(AtollCli *cli)
{
	const char *name = atoll_cli_arg(cli, 0);
	gboolean wait = atoll_cli_flag(cli, "-w") != NULL;
	const char *t = atoll_cli_flag(cli, "-t");
	int timeout_s = -1;
	if (t && !parse_seconds(t, &timeout_s))
		return atoll_cli_usage_error(cli, "-t needs whole seconds (0-86400), not '%s'", t);

	g_autoptr(GError) error = NULL;
	g_autoptr(SoupWebsocketConnection) ws = NULL;
	if (wait) {
		/* Listen before asking, so that the "shutoff" event cannot slip
		 * by; without the event stream we fall back to polling. */
		ws = atoll_client_websocket_connect(cli->client, "/v1/events", NULL, &error);
		if (!ws && g_error_matches(error, ATOLL_CLIENT_ERROR,
					   ATOLL_CLIENT_ERROR_UNREACHABLE))
			return atoll_cli_fail(cli, error);
		g_clear_error(&error);
	}
	if (!atoll_client_shutdown(cli->client, name, timeout_s, &error))
		return atoll_cli_fail(cli, error);
	int rc = wait ? wait_for_off(cli, name, ws, timeout_s) : ATOLL_EXIT_OK;
	if (ws && soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
	return rc;
}

/* ---- console ----------------------------------------------------------- */

typedef struct {
	AtollCli *cli;
	SoupWebsocketConnection *ws;
	GMainLoop *loop;
	gboolean peer_closed;
	gboolean output_failed;
} Console;

static void console_message(SoupWebsocketConnection *ws, gint type, GBytes *message,
			    gpointer data)
{
	(void)ws;
	(void)type;
	Console *c = data;
	gsize len = 0;
	const void *buf = g_bytes_get_data(message, &len);
	if (len && !write_all(c->cli->io->out_fd, buf, len)) {
		c->output_failed = TRUE;
		g_main_loop_quit(c->loop);
	}
}

static void console_closed(SoupWebsocketConnection *ws, gpointer data)
{
	(void)ws;
	Console *c = data;
	c->peer_closed = TRUE;
	g_main_loop_quit(c->loop);
}

/* Keyboard -> guest; ^] detaches.  End of input also detaches, so that
 * `printf 'cmd\n' | atoll console vm` returns. */
static gboolean console_input(gint fd, GIOCondition cond, gpointer data)
{
	(void)cond;
	Console *c = data;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		g_main_loop_quit(c->loop);
		return G_SOURCE_REMOVE;
	}
	char *esc = memchr(buf, CONSOLE_ESCAPE, (size_t)n);
	size_t send = esc ? (size_t)(esc - buf) : (size_t)n;
	if (send && soup_websocket_connection_get_state(c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_send_binary(c->ws, buf, send);
	if (esc) {
		g_main_loop_quit(c->loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean quit_loop(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

/* Send the close frame and give the server a moment to answer it, so the
 * data we sent last is not cut off. */
static void console_close(Console *c)
{
	if (soup_websocket_connection_get_state(c->ws) != SOUP_WEBSOCKET_STATE_OPEN)
		return;
	soup_websocket_connection_close(c->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
	guint id = g_timeout_add(1000, quit_loop, c->loop);
	if (soup_websocket_connection_get_state(c->ws) != SOUP_WEBSOCKET_STATE_CLOSED)
		g_main_loop_run(c->loop);
	if (g_main_context_find_source_by_id(NULL, id))
		g_source_remove(id);
}

int atoll_cmd_console(AtollCli *cli)
{
	const char *name = atoll_cli_arg(cli, 0);
	g_autoptr(GError) error = NULL;
	g_autofree char *path = atoll_client_domain_path(name, "/console");
	g_autoptr(SoupWebsocketConnection) ws =
		atoll_client_websocket_connect(cli->client, path, NULL, &error);
	if (!ws)
		return atoll_cli_fail(cli, error);

	Console c = { .cli = cli, .ws = ws, .loop = g_main_loop_new(NULL, FALSE) };
	/* Serial consoles stay quiet between lines; never time out. */
	soup_websocket_connection_set_keepalive_interval(ws, 0);
	g_signal_connect(ws, "message", G_CALLBACK(console_message), &c);
	g_signal_connect(ws, "closed", G_CALLBACK(console_closed), &c);

	fprintf(cli->io->err, "Connected to %s's console; escape character is ^]\n", name);
	fflush(cli->io->err);
	fflush(cli->io->out);
	TtyMode tty;
	tty_enter(&tty, cli->io->in_fd, TRUE);
	guint in_id = g_unix_fd_add(cli->io->in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
				    console_input, &c);
	g_main_loop_run(c.loop);
	if (g_main_context_find_source_by_id(NULL, in_id))
		g_source_remove(in_id);
	tty_leave(&tty);

	if (!c.peer_closed)
		console_close(&c);
	g_signal_handlers_disconnect_by_data(ws, &c);
	g_main_loop_unref(c.loop);
	fprintf(cli->io->err, "\r\n%s\n", c.peer_closed
		? "atoll: the console was closed by atolld (the domain stopped?)"
		: "Disconnected from the console.");
	if (c.output_failed) {
		fprintf(cli->io->err, "atoll: cannot write the console output: %s\n",
			g_strerror(errno));
		return ATOLL_EXIT_ERROR;
	}
	return ATOLL_EXIT_OK;
}

/* ---- top --------------------------------------------------------------- */

typedef struct {
	double cpu_pct;
	double rss_mib;
	double rx_kib, tx_kib, rd_kib, wr_kib;   /* per second */
	gboolean have;
} Rates;

static double sample_delta(JsonObject *a, JsonObject *b, const char *m, double dt)
{
	return (atoll_json_double(b, m, 0) - atoll_json_double(a, m, 0)) / dt;
}

/* Rates from the last two of the domain's recent stats samples. */
static Rates domain_rates(AtollCli *cli, const char *name)
{
	Rates r = { 0 };
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(JsonNode) reply = atoll_client_get_stats(cli->client, name, now - 5, NULL);
	JsonArray *s = atoll_client_reply_array(reply, "samples");
	guint n = s ? json_array_get_length(s) : 0;
	if (n == 0)
		return r;
	JsonObject *b = json_array_get_object_element(s, n - 1);
	r.rss_mib = atoll_json_double(b, "memory_rss_bytes", 0) / (1024.0 * 1024.0);
	r.have = TRUE;
	if (n < 2)
		return r;
	JsonObject *a = json_array_get_object_element(s, n - 2);
	double dt = atoll_json_double(b, "t", 0) - atoll_json_double(a, "t", 0);
	if (dt <= 0)
		return r;
	r.cpu_pct = 100.0 * sample_delta(a, b, "cpu_time_s", dt);
	r.rx_kib = sample_delta(a, b, "net_rx_bytes", dt) / 1024.0;
	r.tx_kib = sample_delta(a, b, "net_tx_bytes", dt) / 1024.0;
	r.rd_kib = sample_delta(a, b, "disk_rd_bytes", dt) / 1024.0;
	r.wr_kib = sample_delta(a, b, "disk_wr_bytes", dt) / 1024.0;
	return r;
}

static void top_row(AtollCli *cli, JsonObject *d)
{
	const char *name = atoll_json_str(d, "name") ? atoll_json_str(d, "name") : "?";
	const char *state = atoll_json_str(d, "state");
	gboolean live = state && (strcmp(state, "running") == 0 ||
				  strcmp(state, "paused") == 0 ||
				  strcmp(state, "shutting-down") == 0);
	Rates r = live ? domain_rates(cli, name) : (Rates){ 0 };
	fprintf(cli->io->out, "%-20s %6s %10.1f %6.1f %8" G_GINT64_FORMAT " %8.1f %5"
		G_GINT64_FORMAT " %10.1f %10.1f %10.1f %10.1f\n",
		name, atoll_cli_state_letters(state), atoll_json_double(d, "cpu_time_s", 0),
		r.cpu_pct, atoll_json_int(d, "memory_mib", 0), r.rss_mib,
		atoll_json_int(d, "vcpus", 0), r.rx_kib, r.tx_kib, r.rd_kib, r.wr_kib);
}

static int top_frame(AtollCli *cli, gboolean clear)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_list_domains(cli->client, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	JsonArray *arr = atoll_client_reply_array(reply, "domains");
	guint n = arr ? json_array_get_length(arr) : 0, running = 0, paused = 0;
	for (guint i = 0; i < n; i++) {
		const char *st = atoll_json_str(json_array_get_object_element(arr, i), "state");
		running += st && strcmp(st, "running") == 0;
		paused += st && strcmp(st, "paused") == 0;
	}
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *clock = g_date_time_format(now, "%H:%M:%S");
	if (clear)
		fputs("\033[H\033[2J", cli->io->out);
	fprintf(cli->io->out, "atoll top - %s   %u domains: %u running, %u paused, %u other\n",
		clock, n, running, paused, n - running - paused);
	fprintf(cli->io->out, "%-20s %6s %10s %6s %8s %8s %5s %10s %10s %10s %10s\n",
		"NAME", "STATE", "CPU(sec)", "CPU(%)", "MEM(MiB)", "RSS(MiB)", "VCPUS",
		"NETRX(K/s)", "NETTX(K/s)", "RD(K/s)", "WR(K/s)");
	for (guint i = 0; i < n; i++)
		top_row(cli, json_array_get_object_element(arr, i));
	if (!clear)
		fputc('\n', cli->io->out);
	fflush(cli->io->out);
	return ATOLL_EXIT_OK;
}

/* Sleeps delay_ms; TRUE if 'q' was pressed meanwhile. */
static gboolean top_wait(int fd, gboolean keys, int delay_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)delay_ms * 1000;
	for (;;) {
		gint64 left = (end - g_get_monotonic_time()) / 1000;
		if (left <= 0)
			return FALSE;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, keys ? 1 : 0, (int)left);
		if (r <= 0 || !(p.revents & (POLLIN | POLLHUP)))
			continue;
		char ch;
		ssize_t got = read(fd, &ch, 1);
		if (got == 0)
			keys = FALSE;   /* end of input: keep going, no more keys */
		else if (got == 1 && (ch == 'q' || ch == 'Q'))
			return TRUE;
	}
}

int atoll_cmd_top(AtollCli *cli)
{
	gboolean batch = atoll_cli_flag(cli, "-b") != NULL;
	int iterations = 0, delay_s = 1;
	const char *n = atoll_cli_flag(cli, "-n"), *d = atoll_cli_flag(cli, "-d");
	if (n && (!parse_seconds(n, &iterations) || iterations == 0))
		return atoll_cli_usage_error(cli, "-n needs a positive count, not '%s'", n);
	if (d && (!parse_seconds(d, &delay_s) || delay_s == 0))
		return atoll_cli_usage_error(cli, "-d needs positive whole seconds, not '%s'", d);

	gboolean keys = isatty(cli->io->in_fd);
	TtyMode tty = { 0 };
	if (keys && !batch)
		tty_enter(&tty, cli->io->in_fd, FALSE);
	int rc = ATOLL_EXIT_OK;
	for (int i = 0; iterations == 0 || i < iterations; i++) {
		rc = top_frame(cli, !batch);
		if (rc != ATOLL_EXIT_OK)
			break;
		if (iterations && i + 1 == iterations)
			break;
		if (top_wait(cli->io->in_fd, keys, delay_s * 1000))
			break;
	}
	tty_leave(&tty);
	return rc;
}
