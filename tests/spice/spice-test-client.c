/* A headless SPICE client for tests and benchmarks, on spice-client-glib.
 *
 *   spice-test-client --unix PATH | --host HOST --port PORT [--password PW]
 *
 * reads commands on stdin, one per line, and answers each with one line on
 * stdout, "ok ..." or "error ...":
 *   wait-primary [W H]        until the primary surface exists (at W x H)
 *   expect-pixel X Y RRGGBB   until the pixel has that colour; answers
 *                             "ok t_ns=T bytes=B": T the CLOCK_MONOTONIC
 *                             time of the invalidate that brought it, B the
 *                             bytes read on the display channel so far
 *   dump FILE                 the primary surface as a binary PPM
 *   key SC | keydown SC | keyup SC   XT scancode (0x100 | code for E0 xx)
 *   move X Y | click X Y BUTTON (1 left, 2 middle, 3 right) | scroll up|down
 *   resize W H                send a monitor config (window size)
 *   wait-agent [clipboard]    until an agent is connected (and has
 *                             announced clipboard support)
 *   clipboard-grab            grab the clipboard for UTF-8 text (the
 *                             agent is told the client has a selection)
 *   expect-grab               until the agent grabbed the clipboard;
 *                             answers "ok selection=S types=T,..."
 *   stats                     "ok bytes=B invalidates=N"
 *   now                       "ok t_ns=T", T the CLOCK_MONOTONIC time (the
 *                             start of a latency figure, with expect-pixel)
 *   quit
 * Waiting commands give up after --timeout-ms (default 5000).  A failed
 * connection (wrong password...) prints "error disconnected: ..." and the
 * process exits with status 2. */
#include <errno.h>
#include <spice-client.h>
#include <spice/vd_agent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum wait_kind { WAIT_NONE, WAIT_PRIMARY, WAIT_PIXEL, WAIT_MOUSE, WAIT_AGENT, WAIT_GRAB };

struct client {
	SpiceSession *session;
	SpiceMainChannel *main;
	SpiceChannel *display;
	SpiceInputsChannel *inputs;
	GMainLoop *loop;
	GIOChannel *in;
	unsigned timeout_ms;

	/* the primary surface as the display channel gives it */
	const uint8_t *pixels;
	int width, height, stride;
	uint64_t last_invalidate_ns;
	uint64_t invalidates;

	/* the command in progress */
	enum wait_kind wait;
	int wx, wy;
	uint32_t wcolour;
	guint timer;
	char pending_line[256];          /* a command waiting for the mouse */
	bool want_clipboard;             /* WAIT_AGENT: also the clipboard cap */
	char grab[128];                  /* the agent's last clipboard grab */
	GQueue lines;                    /* commands read, not yet run */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void reply(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void reply(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static uint64_t display_bytes(struct client *c)
{
	guint64 n = 0;
	if (c->display)
		g_object_get(c->display, "total-read-bytes", &n, NULL);
	return n;
}

static uint32_t pixel_at(struct client *c, int x, int y)
{
	const uint8_t *p = c->pixels + (size_t)y * (size_t)c->stride + (size_t)x * 4;
	return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static bool in_surface(struct client *c, int x, int y)
{
	return c->pixels && x >= 0 && y >= 0 && x < c->width && y < c->height;
}

static void handle_line(struct client *c, char *line);

static gboolean run_queue(gpointer opaque);

static void finish_wait(struct client *c)
{
	c->wait = WAIT_NONE;
	if (c->timer)
		g_source_remove(c->timer);
	c->timer = 0;
	g_idle_add(run_queue, c);
}

/* Whether the command being waited for is now satisfied; answers it. */
static void check_wait(struct client *c)
{
	switch (c->wait) {
	case WAIT_NONE:
		return;
	case WAIT_PRIMARY:
		if (!c->pixels || (c->wx && (c->width != c->wx || c->height != c->wy)))
			return;
		finish_wait(c);
		reply("ok %d %d", c->width, c->height);
		return;
	case WAIT_PIXEL:
		if (!in_surface(c, c->wx, c->wy) || pixel_at(c, c->wx, c->wy) != c->wcolour)
			return;
		finish_wait(c);
		reply("ok t_ns=%" G_GUINT64_FORMAT " bytes=%" G_GUINT64_FORMAT,
		      c->last_invalidate_ns, display_bytes(c));
		return;
	case WAIT_AGENT: {
		gboolean agent = FALSE;
		if (c->main)
			g_object_get(c->main, "agent-connected", &agent, NULL);
		if (!agent || (c->want_clipboard &&
			       !spice_main_channel_agent_test_capability(c->main,
						VD_AGENT_CAP_CLIPBOARD_BY_DEMAND)))
			return;
		finish_wait(c);
		reply("ok");
		return;
	}
	case WAIT_GRAB:
		if (!c->grab[0])
			return;
		finish_wait(c);
		reply("ok %s", c->grab);
		c->grab[0] = 0;
		return;
	case WAIT_MOUSE: {
		int mode = 0;
		if (c->main)
			g_object_get(c->main, "mouse-mode", &mode, NULL);
		if (mode != SPICE_MOUSE_MODE_CLIENT || !c->inputs)
			return;
		finish_wait(c);
		handle_line(c, c->pending_line);
		return;
	}
	}
}

static gboolean wait_timeout(gpointer opaque)
{
	struct client *c = opaque;

	c->timer = 0;
	if (c->wait == WAIT_PIXEL && in_surface(c, c->wx, c->wy))
		reply("error timeout: pixel %d,%d is %06x", c->wx, c->wy,
		      pixel_at(c, c->wx, c->wy));
	else
		reply("error timeout (%s)", c->wait == WAIT_MOUSE ? "no client mouse mode" :
		      c->wait == WAIT_AGENT ? "no agent" : c->wait == WAIT_GRAB ? "no grab" :
		      c->pixels ? "wrong surface" : "no surface");
	c->wait = WAIT_NONE;
	g_idle_add(run_queue, c);
	return G_SOURCE_REMOVE;
}

static void start_wait(struct client *c, enum wait_kind k)
{
	c->wait = k;
	c->timer = g_timeout_add(c->timeout_ms, wait_timeout, c);
	check_wait(c);
}

static void primary_create(SpiceChannel *ch, gint format, gint width, gint height,
			   gint stride, gint shmid, gpointer data, gpointer opaque)
{
	(void)ch, (void)format, (void)shmid;
	struct client *c = opaque;

	c->pixels = data;
	c->width = width;
	c->height = height;
	c->stride = stride;
	check_wait(c);
}

static void primary_destroy(SpiceChannel *ch, gpointer opaque)
{
	(void)ch;
	struct client *c = opaque;
	c->pixels = NULL;
}

static void invalidate(SpiceChannel *ch, gint x, gint y, gint w, gint h, gpointer opaque)
{
	(void)ch, (void)x, (void)y, (void)w, (void)h;
	struct client *c = opaque;

	c->last_invalidate_ns = now_ns();
	c->invalidates++;
	check_wait(c);
}

static void mouse_update(SpiceChannel *ch, gpointer opaque)
{
	(void)ch;
	check_wait(opaque);
}

static gboolean clipboard_grab(SpiceMainChannel *main, guint selection, gpointer types,
			       guint ntypes, gpointer opaque)
{
	(void)main;
	struct client *c = opaque;
	const guint32 *t = types;
	GString *s = g_string_new(NULL);

	g_string_printf(s, "selection=%u types=", selection);
	for (guint i = 0; i < ntypes; i++)
		g_string_append_printf(s, "%s%u", i ? "," : "", t[i]);
	g_strlcpy(c->grab, s->str, sizeof(c->grab));
	g_string_free(s, TRUE);
	check_wait(c);
	return TRUE;
}

static void channel_event(SpiceChannel *ch, SpiceChannelEvent ev, gpointer opaque)
{
	struct client *c = opaque;

	if (ev == SPICE_CHANNEL_OPENED || ev == SPICE_CHANNEL_SWITCHING)
		return;
	if (SPICE_IS_MAIN_CHANNEL(ch) || ev != SPICE_CHANNEL_CLOSED) {
		const GError *e = spice_channel_get_error(ch);
		reply("error disconnected: event %d%s%s", ev, e ? ": " : "",
		      e ? e->message : "");
		exit(2);
	}
	(void)c;
}

static void channel_new(SpiceSession *s, SpiceChannel *ch, gpointer opaque)
{
	(void)s;
	struct client *c = opaque;

	g_signal_connect(ch, "channel-event", G_CALLBACK(channel_event), c);
	if (SPICE_IS_MAIN_CHANNEL(ch)) {
		c->main = SPICE_MAIN_CHANNEL(ch);
		g_signal_connect(ch, "main-mouse-update", G_CALLBACK(mouse_update), c);
		g_signal_connect(ch, "main-agent-update", G_CALLBACK(mouse_update), c);
		g_signal_connect(ch, "main-clipboard-selection-grab",
				 G_CALLBACK(clipboard_grab), c);
	} else if (SPICE_IS_DISPLAY_CHANNEL(ch)) {
		c->display = ch;
		g_signal_connect(ch, "display-primary-create", G_CALLBACK(primary_create), c);
		g_signal_connect(ch, "display-primary-destroy", G_CALLBACK(primary_destroy), c);
		g_signal_connect(ch, "display-invalidate", G_CALLBACK(invalidate), c);
		spice_channel_connect(ch);
	} else if (SPICE_IS_INPUTS_CHANNEL(ch)) {
		c->inputs = SPICE_INPUTS_CHANNEL(ch);
		spice_channel_connect(ch);
		check_wait(c);
	}
}

static bool dump_ppm(struct client *c, const char *path)
{
	FILE *f = fopen(path, "wbe");
	if (!f)
		return false;
	fprintf(f, "P6\n%d %d\n255\n", c->width, c->height);
	for (int y = 0; y < c->height; y++)
		for (int x = 0; x < c->width; x++) {
			const uint8_t *p = c->pixels + (size_t)y * (size_t)c->stride + (size_t)x * 4;
			uint8_t rgb[3] = { p[2], p[1], p[0] };
			fwrite(rgb, 1, 3, f);
		}
	return fclose(f) == 0;
}

/* Mouse commands wait for client (absolute) mouse mode first. */
static bool need_mouse(struct client *c, const char *line)
{
	int mode = 0;

	if (c->main)
		g_object_get(c->main, "mouse-mode", &mode, NULL);
	if (mode == SPICE_MOUSE_MODE_CLIENT && c->inputs)
		return false;
	g_strlcpy(c->pending_line, line, sizeof(c->pending_line));
	start_wait(c, WAIT_MOUSE);
	return true;
}

static void do_resize(struct client *c, int w, int h)
{
	gboolean agent = FALSE;

	if (c->main)
		g_object_get(c->main, "agent-connected", &agent, NULL);
	if (!agent) {
		reply("error no agent: the server does not take monitor configs");
		return;
	}
	spice_main_channel_update_display_enabled(c->main, 0, TRUE, FALSE);
	spice_main_channel_update_display(c->main, 0, 0, 0, w, h, FALSE);
	reply(spice_main_channel_send_monitor_config(c->main) ? "ok" : "error not sent");
}

static void handle_line(struct client *c, char *line)
{
	char cmd[32] = "", arg[200] = "";
	int a = 0, b = 0;
	unsigned u = 0;
	char full[256];

	g_strlcpy(full, line, sizeof(full));
	if (sscanf(line, "%31s", cmd) != 1)
		return;
	if (!strcmp(cmd, "quit")) {
		g_main_loop_quit(c->loop);
	} else if (!strcmp(cmd, "wait-primary")) {
		c->wx = c->wy = 0;
		if (sscanf(line, "%*s %d %d", &a, &b) == 2)
			c->wx = a, c->wy = b;
		start_wait(c, WAIT_PRIMARY);
	} else if (!strcmp(cmd, "expect-pixel") &&
		   sscanf(line, "%*s %d %d %x", &a, &b, &u) == 3) {
		c->wx = a, c->wy = b, c->wcolour = u;
		start_wait(c, WAIT_PIXEL);
	} else if (!strcmp(cmd, "dump") && sscanf(line, "%*s %199s", arg) == 1) {
		if (!c->pixels)
			reply("error no surface");
		else
			reply(dump_ppm(c, arg) ? "ok" : "error %s", g_strerror(errno));
	} else if (!strncmp(cmd, "key", 3) && sscanf(line, "%*s %i", &a) == 1 && c->inputs) {
		if (strcmp(cmd, "keyup"))
			spice_inputs_channel_key_press(c->inputs, (guint)a);
		if (strcmp(cmd, "keydown"))
			spice_inputs_channel_key_release(c->inputs, (guint)a);
		reply("ok");
	} else if (!strcmp(cmd, "move") && sscanf(line, "%*s %d %d", &a, &b) == 2) {
		if (!need_mouse(c, full)) {
			spice_inputs_channel_position(c->inputs, a, b, 0, 0);
			reply("ok");
		}
	} else if (!strcmp(cmd, "click") && sscanf(line, "%*s %d %d %u", &a, &b, &u) == 3) {
		if (!need_mouse(c, full)) {
			int mask = u == 1 ? SPICE_MOUSE_BUTTON_MASK_LEFT :
				   u == 2 ? SPICE_MOUSE_BUTTON_MASK_MIDDLE :
				   SPICE_MOUSE_BUTTON_MASK_RIGHT;
			spice_inputs_channel_position(c->inputs, a, b, 0, 0);
			spice_inputs_channel_button_press(c->inputs, (gint)u, mask);
			spice_inputs_channel_button_release(c->inputs, (gint)u, 0);
			reply("ok");
		}
	} else if (!strcmp(cmd, "scroll") && sscanf(line, "%*s %199s", arg) == 1) {
		if (!need_mouse(c, full)) {
			int button = strcmp(arg, "up") ? SPICE_MOUSE_BUTTON_DOWN : SPICE_MOUSE_BUTTON_UP;
			spice_inputs_channel_button_press(c->inputs, button, 0);
			spice_inputs_channel_button_release(c->inputs, button, 0);
			reply("ok");
		}
	} else if (!strcmp(cmd, "resize") && sscanf(line, "%*s %d %d", &a, &b) == 2) {
		do_resize(c, a, b);
	} else if (!strcmp(cmd, "now")) {
		reply("ok t_ns=%" G_GUINT64_FORMAT, now_ns());
	} else if (!strcmp(cmd, "wait-agent")) {
		c->want_clipboard = sscanf(line, "%*s %199s", arg) == 1 &&
				    !strcmp(arg, "clipboard");
		start_wait(c, WAIT_AGENT);
	} else if (!strcmp(cmd, "clipboard-grab")) {
		guint32 type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
		if (!c->main || !spice_main_channel_agent_test_capability(c->main,
						VD_AGENT_CAP_CLIPBOARD_BY_DEMAND)) {
			reply("error the agent has no clipboard");
		} else {
			spice_main_channel_clipboard_selection_grab(c->main,
				VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD, &type, 1);
			reply("ok");
		}
	} else if (!strcmp(cmd, "expect-grab")) {
		start_wait(c, WAIT_GRAB);
	} else if (!strcmp(cmd, "stats")) {
		reply("ok bytes=%" G_GUINT64_FORMAT " invalidates=%" G_GUINT64_FORMAT,
		      display_bytes(c), c->invalidates);
	} else {
		reply("error bad command: %s", line);
	}
}

/* One command at a time: the next waits for the previous one's answer. */
static gboolean run_queue(gpointer opaque)
{
	struct client *c = opaque;

	while (c->wait == WAIT_NONE && !g_queue_is_empty(&c->lines)) {
		char *line = g_queue_pop_head(&c->lines);
		handle_line(c, line);
		g_free(line);
	}
	return G_SOURCE_REMOVE;
}

static gboolean stdin_ready(GIOChannel *ch, GIOCondition cond, gpointer opaque)
{
	(void)cond;
	struct client *c = opaque;
	char *line = NULL;
	gsize term = 0;

	GIOStatus st = g_io_channel_read_line(ch, &line, NULL, &term, NULL);
	if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR) {
		g_main_loop_quit(c->loop);
		return G_SOURCE_REMOVE;
	}
	if (line) {
		line[term] = '\0';
		g_queue_push_tail(&c->lines, line);
		run_queue(c);
	}
	return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
	struct client c = { .timeout_ms = 5000 };
	char *unix_path = NULL, *host = NULL, *port = NULL, *password = NULL;
	int timeout = 5000;
	GOptionEntry opts[] = {
		{ "unix", 0, 0, G_OPTION_ARG_FILENAME, &unix_path, "unix socket", "PATH" },
		{ "host", 0, 0, G_OPTION_ARG_STRING, &host, "TCP host", "HOST" },
		{ "port", 0, 0, G_OPTION_ARG_STRING, &port, "TCP port", "PORT" },
		{ "password", 0, 0, G_OPTION_ARG_STRING, &password, "ticket", "PW" },
		{ "timeout-ms", 0, 0, G_OPTION_ARG_INT, &timeout, "wait limit", "MS" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- headless SPICE test client");
	g_autoptr(GError) e = NULL;

	g_option_context_add_main_entries(ctx, opts, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &e) || (!unix_path && !port)) {
		fprintf(stderr, "spice-test-client: %s\n", e ? e->message :
			"give --unix PATH or --host HOST --port PORT");
		return 1;
	}
	g_queue_init(&c.lines);
	c.timeout_ms = timeout > 0 ? (unsigned)timeout : 5000;
	c.loop = g_main_loop_new(NULL, FALSE);
	c.session = spice_session_new();
	if (unix_path)
		g_object_set(c.session, "unix-path", unix_path, NULL);
	else
		g_object_set(c.session, "host", host ? host : "127.0.0.1", "port", port, NULL);
	if (password)
		g_object_set(c.session, "password", password, NULL);
	g_signal_connect(c.session, "channel-new", G_CALLBACK(channel_new), &c);
	if (!spice_session_connect(c.session)) {
		reply("error cannot connect");
		return 2;
	}
	c.in = g_io_channel_unix_new(0);
	g_io_add_watch(c.in, G_IO_IN | G_IO_HUP, stdin_ready, &c);
	g_main_loop_run(c.loop);
	g_io_channel_unref(c.in);
	g_free(unix_path);
	g_free(host);
	g_free(port);
	g_free(password);
	spice_session_disconnect(c.session);
	g_object_unref(c.session);
	g_main_loop_unref(c.loop);
	return 0;
}
