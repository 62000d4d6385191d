/* The SPICE console (display/spice_server.c) against a real
 * spice-client-glib client (tests/spice/spice-test-client) in a
 * subprocess.  The display hub is fed by the test itself: a synthetic
 * framebuffer with surface_changed and damage, as a display device would. */
#include <arpa/inet.h>
#include <linux/input-event-codes.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "../spice/harness.h"
#include "control.h"
#include "vcon_guest.h"
#include <spice/vd_agent.h>

#define BLUE  0x000000ffu
#define RED   0x00ff0000u
#define GREEN 0x0000ff00u

static char *tmpdir;

static char *sock_path(const char *name)
{
	return g_build_filename(tmpdir, name, NULL);
}

static void assert_ok(char *line, const char *what)
{
	if (!line || strncmp(line, "ok", 2))
		g_error("%s: client answered %s", what, line ? line : "(nothing)");
	g_free(line);
}

static void start_unix(struct harness *h, const char *path)
{
	struct spice_config cfg = { .kind = SPICE_UNIX, .path = (char *)path, .fd = -1 };
	char err[256] = "";

	g_assert_cmpint(atoll_spice_start(&h->vm, &cfg, err, sizeof(err)), ==, 0);
}

static void test_scancodes(void)
{
	g_assert_cmpuint(atoll_spice_xt_to_linux(0x1e), ==, KEY_A);
	g_assert_cmpuint(atoll_spice_xt_to_linux(0x01), ==, KEY_ESC);
	g_assert_cmpuint(atoll_spice_xt_to_linux(0x58), ==, KEY_F12);
	g_assert_cmpuint(atoll_spice_xt_to_linux(0xe048), ==, KEY_UP);
	g_assert_cmpuint(atoll_spice_xt_to_linux(0xe01d), ==, KEY_RIGHTCTRL);
	g_assert_cmpuint(atoll_spice_xt_to_linux(0xe05b), ==, KEY_LEFTMETA);
	g_assert_cmpuint(atoll_spice_xt_to_linux(0xe01c), ==, KEY_KPENTER);
	g_assert_cmpuint(atoll_spice_xt_to_linux(0x7f), ==, 0);
	g_assert_cmpuint(atoll_spice_xt_to_linux(0xe001), ==, 0);
}

/* Find the next recorded event of `kind` at or after *from. */
static bool next_event(struct harness *h, unsigned *from, char kind, struct harness_event *out)
{
	bool found = false;

	pthread_mutex_lock(&h->lock);
	for (; *from < h->n_events && !found; (*from)++)
		if (h->events[*from].kind == kind) {
			*out = h->events[*from];
			found = true;
		}
	pthread_mutex_unlock(&h->lock);
	return found;
}

static void wait_events(struct harness *h, unsigned n)
{
	for (int i = 0; i < 300 && h->n_events < n; i++)
		harness_pump(h, 10);
}

static void test_display_and_input(void)
{
	struct harness h;
	g_autofree char *path = sock_path("console.sock");
	g_autofree char *ppm = sock_path("shot.ppm");
	struct stat st;

	harness_init(&h);
	harness_set_mode(&h, 640, 480, BLUE);
	start_unix(&h, path);
	g_autofree char *uri = g_strconcat("spice+unix://", path, NULL);
	g_assert_cmpstr(atoll_spice_uri(&h.vm), ==, uri);
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 0777, ==, 0600);

	const char *args[] = { "--unix", path, NULL };
	g_assert_true(harness_client_start(&h, args));
	assert_ok(harness_cmd(&h, "wait-primary 640 480"), "wait-primary");
	assert_ok(harness_cmd(&h, "expect-pixel 5 5 %06x", BLUE), "initial frame");

	/* Damage after the client is up: only the rectangle travels. */
	harness_fill(&h, 100, 100, 50, 40, RED);
	display_damage(&h.vm.display, 100, 100, 50, 40);
	assert_ok(harness_cmd(&h, "expect-pixel 120 120 %06x", RED), "damaged box");
	assert_ok(harness_cmd(&h, "expect-pixel 99 120 %06x", BLUE), "outside the box");
	assert_ok(harness_cmd(&h, "dump %s", ppm), "dump");
	g_autofree char *data = NULL;
	gsize len = 0;
	g_assert_true(g_file_get_contents(ppm, &data, &len, NULL));
	g_assert_true(g_str_has_prefix(data, "P6\n640 480\n255\n"));
	const uint8_t *px = (const uint8_t *)data + strlen("P6\n640 480\n255\n") + (120 * 640 + 120) * 3;
	g_assert_cmpuint(px[0], ==, 0xff);
	g_assert_cmpuint(px[1], ==, 0);
	g_assert_cmpuint(px[2], ==, 0);

	/* Keys: set-1 scancodes in, Linux key codes out. */
	unsigned from = 0;
	struct harness_event ev = { 0 };
	assert_ok(harness_cmd(&h, "key 0x1e"), "key A");
	wait_events(&h, 2);
	g_assert_true(next_event(&h, &from, 'k', &ev));
	g_assert_cmpuint(ev.a, ==, KEY_A);
	g_assert_cmpuint(ev.b, ==, 1);
	g_assert_true(next_event(&h, &from, 'k', &ev));
	g_assert_cmpuint(ev.a, ==, KEY_A);
	g_assert_cmpuint(ev.b, ==, 0);
	assert_ok(harness_cmd(&h, "key 0x148"), "key Up (E0 48)");
	wait_events(&h, 4);
	g_assert_true(next_event(&h, &from, 'k', &ev));
	g_assert_cmpuint(ev.a, ==, KEY_UP);
	g_assert_cmpuint(ev.b, ==, 1);

	/* A click: absolute position scaled to 0..0x7fff, then BTN_LEFT. */
	unsigned before = h.n_events;
	assert_ok(harness_cmd(&h, "click 639 240 1"), "click");
	wait_events(&h, before + 3);
	from = before;
	g_assert_true(next_event(&h, &from, 'p', &ev));
	g_assert_cmpuint(ev.a, ==, 0x7fff);
	g_assert_cmpuint(ev.b, ==, 240u * 0x7fff / 479);
	from = before;
	g_assert_true(next_event(&h, &from, 'b', &ev));
	g_assert_cmpuint(ev.a, ==, BTN_LEFT);
	g_assert_cmpuint(ev.b, ==, 1);
	g_assert_true(next_event(&h, &from, 'b', &ev));
	g_assert_cmpuint(ev.a, ==, BTN_LEFT);
	g_assert_cmpuint(ev.b, ==, 0);
	before = h.n_events;
	assert_ok(harness_cmd(&h, "click 10 10 3"), "right click");
	wait_events(&h, before + 3);
	from = before;
	g_assert_true(next_event(&h, &from, 'b', &ev));
	g_assert_cmpuint(ev.a, ==, BTN_RIGHT);

	before = h.n_events;
	assert_ok(harness_cmd(&h, "scroll up"), "scroll");
	wait_events(&h, before + 1);
	from = before;
	g_assert_true(next_event(&h, &from, 'w', &ev));
	g_assert_cmpint((int32_t)ev.a, ==, 1);

	/* The window size reaches the display device. */
	assert_ok(harness_cmd(&h, "resize 1024 768"), "resize");
	for (int i = 0; i < 300 && !h.n_requests; i++)
		harness_pump(&h, 10);
	g_assert_cmpuint(h.n_requests, >=, 1);
	g_assert_cmpuint(h.req_w, ==, 1024);
	g_assert_cmpuint(h.req_h, ==, 768);

	/* The device switches mode: the client follows. */
	harness_set_mode(&h, 800, 600, GREEN);
	assert_ok(harness_cmd(&h, "wait-primary 800 600"), "new mode");
	assert_ok(harness_cmd(&h, "expect-pixel 799 599 %06x", GREEN), "new mode pixels");

	harness_destroy(&h);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

static unsigned free_tcp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_tcp_ticket(void)
{
	struct harness h;
	unsigned port = free_tcp_port();
	struct spice_config cfg = { .kind = SPICE_TCP, .port = port, .fd = -1 };
	char err[256] = "", portstr[16];

	harness_init(&h);
	harness_set_mode(&h, 320, 200, BLUE);
	/* TCP without a password is refused outright. */
	g_assert_cmpint(atoll_spice_start(&h.vm, &cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "password"));
	cfg.password = (char *)"s3cret";
	g_assert_cmpint(atoll_spice_start(&h.vm, &cfg, err, sizeof(err)), ==, 0);
	g_autofree char *uri = g_strdup_printf("spice://127.0.0.1:%u", port);
	g_assert_cmpstr(atoll_spice_uri(&h.vm), ==, uri);

	snprintf(portstr, sizeof(portstr), "%u", port);
	const char *bad[] = { "--port", portstr, "--password", "wrong", NULL };
	g_assert_true(harness_client_start(&h, bad));
	char *line = harness_read_line(&h, 10000);
	g_assert_nonnull(line);
	g_assert_true(g_str_has_prefix(line, "error disconnected"));
	g_free(line);
	g_assert_cmpint(harness_client_wait(&h, 5000), ==, 2);
	harness_client_stop(&h);

	const char *good[] = { "--port", portstr, "--password", "s3cret", NULL };
	g_assert_true(harness_client_start(&h, good));
	assert_ok(harness_cmd(&h, "wait-primary 320 200"), "right password");
	assert_ok(harness_cmd(&h, "expect-pixel 0 0 %06x", BLUE), "right password pixels");
	harness_destroy(&h);
}

/* A client killed while frames stream leaves the VMM serving; memory for
 * queued frames stays bounded whatever the guest draws. */
static void test_disconnect_mid_frame(void)
{
	struct harness h;
	g_autofree char *path = sock_path("drop.sock");
	struct atoll_spice_stats st;

	harness_init(&h);
	harness_set_mode(&h, 1024, 768, BLUE);
	start_unix(&h, path);
	const char *args[] = { "--unix", path, NULL };
	g_assert_true(harness_client_start(&h, args));
	assert_ok(harness_cmd(&h, "wait-primary 1024 768"), "wait-primary");
	g_assert_cmpint(atoll_spice_get_stats(&h.vm, &st), ==, 0);
	g_assert_cmpuint(st.display_clients, ==, 1);

	for (unsigned i = 0; i < 2000; i++) {
		uint32_t x = (i * 37) % 1000, y = (i * 53) % 740;
		harness_fill(&h, x, y, 24, 24, i * 0x010203u);
		display_damage(&h.vm.display, x, y, 24, 24);
		if (i == 1000)
			kill(h.client, SIGKILL);
		if (i % 50 == 0)
			evloop_run_once(&h.vm.loop, 0);
		g_assert_cmpint(atoll_spice_get_stats(&h.vm, &st), ==, 0);
		g_assert_cmpuint(st.pending, <=, 64);
	}
	harness_client_stop(&h);
	g_assert_cmpint(atoll_spice_get_stats(&h.vm, &st), ==, 0);
	g_assert_cmpuint(st.display_clients, ==, 0);

	/* Still serving: a new client sees the current picture. */
	harness_fill(&h, 0, 0, 16, 16, RED);
	display_damage(&h.vm.display, 0, 0, 16, 16);
	g_assert_true(harness_client_start(&h, args));
	assert_ok(harness_cmd(&h, "wait-primary 1024 768"), "reconnect");
	assert_ok(harness_cmd(&h, "expect-pixel 8 8 %06x", RED), "reconnect pixels");
	harness_destroy(&h);
}

/* A listening socket handed over by a manager. */
static void test_listening_fd(void)
{
	struct harness h;
	g_autofree char *path = sock_path("handed.sock");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char err[256] = "";

	harness_init(&h);
	harness_set_mode(&h, 64, 64, GREEN);
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(listen(fd, 4), ==, 0);
	struct spice_config cfg = { .kind = SPICE_FD, .fd = fd };
	g_assert_cmpint(atoll_spice_start(&h.vm, &cfg, err, sizeof(err)), ==, 0);
	const char *args[] = { "--unix", path, NULL };
	g_assert_true(harness_client_start(&h, args));
	assert_ok(harness_cmd(&h, "expect-pixel 63 63 %06x", GREEN), "fd client");
	harness_destroy(&h);
	unlink(path);

	struct spice_config bad = { .kind = SPICE_FD, .fd = 0x7fff };
	harness_init(&h);
	g_assert_cmpint(atoll_spice_start(&h.vm, &bad, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "not a socket"));
	harness_destroy(&h);
}

static void parse_flag(const char *spec, int want, struct vm_config *cfg, char *err)
{
	char *argv[] = { (char *)"atoll-vmm", (char *)"--spice", (char *)spec, NULL };
	vm_config_init(cfg);
	optind = 0;
	g_assert_cmpint(vm_config_parse_args(cfg, 3, argv, err, 256), ==, want);
}

static void test_config(void)
{
	struct vm_config cfg;
	char err[256] = "";

	parse_flag("unix:/run/a.sock", 0, &cfg, err);
	g_assert_cmpint(cfg.spice.kind, ==, SPICE_UNIX);
	g_assert_cmpstr(cfg.spice.path, ==, "/run/a.sock");
	g_assert_false(cfg.spice.no_agent);          /* the agent port by default */
	vm_config_free(&cfg);
	parse_flag("unix:/run/a.sock,agent=off", 0, &cfg, err);
	g_assert_true(cfg.spice.no_agent);
	vm_config_free(&cfg);
	parse_flag("unix:/run/a.sock,agent=on", 0, &cfg, err);
	g_assert_false(cfg.spice.no_agent);
	vm_config_free(&cfg);
	parse_flag("unix:/run/a.sock,agent=maybe", -1, &cfg, err);
	g_assert_nonnull(strstr(err, "agent=off"));
	vm_config_free(&cfg);

	parse_flag("tcp::5900,password=pw", 0, &cfg, err);
	g_assert_cmpint(cfg.spice.kind, ==, SPICE_TCP);
	g_assert_cmpstr(cfg.spice.host, ==, "127.0.0.1");
	g_assert_cmpuint(cfg.spice.port, ==, 5900);
	g_assert_cmpstr(cfg.spice.password, ==, "pw");
	vm_config_free(&cfg);

	parse_flag("tcp:[::1]:5901,password=pw", 0, &cfg, err);
	g_assert_cmpstr(cfg.spice.host, ==, "::1");
	vm_config_free(&cfg);

	parse_flag("fd:7", 0, &cfg, err);
	g_assert_cmpint(cfg.spice.kind, ==, SPICE_FD);
	g_assert_cmpint(cfg.spice.fd, ==, 7);
	vm_config_free(&cfg);

	parse_flag("tcp:0.0.0.0:5900", -1, &cfg, err);
	g_assert_nonnull(strstr(err, "password"));
	vm_config_free(&cfg);
	parse_flag("tcp:host", -1, &cfg, err);
	vm_config_free(&cfg);
	parse_flag("unix:/a,password=x", -1, &cfg, err);
	vm_config_free(&cfg);
	parse_flag("vnc:1", -1, &cfg, err);
	vm_config_free(&cfg);

	vm_config_init(&cfg);
	const char *j = "{\"spice\":{\"type\":\"tcp\",\"port\":5930,\"password\":\"x\"}}";
	g_assert_cmpint(vm_config_load_json(&cfg, j, strlen(j), err, sizeof(err)), ==, 0);
	g_assert_cmpint(cfg.spice.kind, ==, SPICE_TCP);
	g_assert_cmpstr(cfg.spice.host, ==, "127.0.0.1");
	g_assert_cmpuint(cfg.spice.port, ==, 5930);
	const char *j2 = "{\"spice\":\"unix:/run/s.sock\"}";
	g_assert_cmpint(vm_config_load_json(&cfg, j2, strlen(j2), err, sizeof(err)), ==, 0);
	g_assert_cmpint(cfg.spice.kind, ==, SPICE_UNIX);
	const char *j3 = "{\"spice\":{\"type\":\"tcp\",\"port\":5930}}";
	g_assert_cmpint(vm_config_load_json(&cfg, j3, strlen(j3), err, sizeof(err)), ==, -1);
	const char *j5 = "{\"spice\":{\"type\":\"unix\",\"path\":\"/x\",\"agent\":false}}";
	g_assert_cmpint(vm_config_load_json(&cfg, j5, strlen(j5), err, sizeof(err)), ==, 0);
	g_assert_true(cfg.spice.no_agent);
	const char *j4 = "{\"spice\":{\"type\":\"unix\",\"path\":\"/x\",\"colour\":1}}";
	g_assert_cmpint(vm_config_load_json(&cfg, j4, strlen(j4), err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "colour"));
	vm_config_free(&cfg);
}

static void test_control_info(void)
{
	struct harness h;
	g_autofree char *path = sock_path("info.sock");
	const char *req = "{\"cmd\":\"spice-info\"}";

	harness_init(&h);
	struct vm_config cfg;
	vm_config_init(&cfg);
	h.vm.cfg = &cfg;
	char *r = control_handle(&h.vm, req, strlen(req));
	g_assert_nonnull(strstr(r, "\"uri\":null"));
	g_free(r);
	start_unix(&h, path);
	r = control_handle(&h.vm, req, strlen(req));
	g_autofree char *want = g_strdup_printf("\"uri\":\"spice+unix://%s\"", path);
	g_assert_nonnull(strstr(r, want));
	g_free(r);
	harness_destroy(&h);
	vm_config_free(&cfg);
}

/* ---- the agent channel: a guest agent on virtio-serial ------------------- */

/* The guest's end of com.redhat.spice.0 (port 1, queues 4/5), speaking the
 * VDAgent protocol the way spice-vdagent does, with the bytes the device
 * hands it. */
struct gagent {
	struct vcon_guest g;
	GByteArray *in;              /* chunk stream read from the port */
	size_t parsed;               /* bytes of `in` split into messages */
	GByteArray *msg;             /* client-port message being assembled */
	GPtrArray *msgs;             /* whole messages (GByteArray), header first */
};

static void ga_post_rx(struct gagent *ga)
{
	for (int i = 0; i < 8; i++)
		vg_post_in(&ga->g, 4, 0x1000);
	vg_kick(&ga->g, 4);
}

/* Take what the device wrote on the port; split it into agent messages. */
static void ga_collect(struct gagent *ga)
{
	uint8_t buf[0x1000];
	uint32_t n;
	bool any = false;

	while (vg_used(&ga->g, 4, buf, &n)) {
		g_byte_array_append(ga->in, buf, n);
		vg_post_in(&ga->g, 4, 0x1000);
		any = true;
	}
	if (any)
		vg_kick(&ga->g, 4);
	while (ga->in->len - ga->parsed >= sizeof(VDIChunkHeader)) {
		VDIChunkHeader c;
		memcpy(&c, ga->in->data + ga->parsed, sizeof(c));
		if (ga->in->len - ga->parsed - sizeof(c) < c.size)
			break;
		g_byte_array_append(ga->msg, ga->in->data + ga->parsed + sizeof(c), c.size);
		ga->parsed += sizeof(c) + c.size;
		while (ga->msg->len >= sizeof(VDAgentMessage)) {
			VDAgentMessage m;
			memcpy(&m, ga->msg->data, sizeof(m));
			if (ga->msg->len - sizeof(m) < m.size)
				break;
			GByteArray *one = g_byte_array_new();
			g_byte_array_append(one, ga->msg->data, (guint)(sizeof(m) + m.size));
			g_ptr_array_add(ga->msgs, one);
			g_byte_array_remove_range(ga->msg, 0, (guint)(sizeof(m) + m.size));
		}
	}
}

/* Wait for the next unconsumed message of `type`; returns it (header
 * first), owned by the caller. */
static GByteArray *ga_wait(struct harness *h, struct gagent *ga, uint32_t type)
{
	for (int i = 0; i < 500; i++) {
		ga_collect(ga);
		for (guint k = 0; k < ga->msgs->len; k++) {
			GByteArray *one = g_ptr_array_index(ga->msgs, k);
			VDAgentMessage m;
			memcpy(&m, one->data, sizeof(m));
			if (m.type == type) {
				g_assert_cmpuint(m.protocol, ==, VD_AGENT_PROTOCOL);
				return g_ptr_array_steal_index(ga->msgs, k);
			}
		}
		harness_pump(h, 10);
	}
	g_error("the guest agent never got a VDAgent message of type %u", type);
}

static void ga_send(struct gagent *ga, uint32_t type, const void *data, uint32_t len)
{
	uint8_t buf[512];
	VDAgentMessage m = { .protocol = VD_AGENT_PROTOCOL, .type = type, .size = len };
	VDIChunkHeader c = { .port = VDP_CLIENT_PORT, .size = (uint32_t)sizeof(m) + len };

	g_assert_cmpuint(sizeof(c) + sizeof(m) + len, <=, sizeof(buf));
	memcpy(buf, &c, sizeof(c));
	memcpy(buf + sizeof(c), &m, sizeof(m));
	memcpy(buf + sizeof(c) + sizeof(m), data, len);
	vg_send(&ga->g, 5, buf, (uint32_t)(sizeof(c) + sizeof(m) + len));
}

static void test_guest_agent(void)
{
	struct harness h;
	struct gagent ga = { 0 };
	g_autofree char *path = sock_path("agent.sock");
	const char *names[] = { VIRTIO_CONSOLE_SPICE_PORT };
	struct chardev_config none = { .kind = CHARDEV_NONE };

	harness_init(&h);
	harness_set_mode(&h, 640, 480, BLUE);
	g_assert_cmpint(virtio_console_create_ports(&h.vm, &none, names, 1), ==, 0);
	ga.g = (struct vcon_guest){ .vm = &h.vm, .dev = h.vm.virtio_devs[0] };
	ga.in = g_byte_array_new();
	ga.msg = g_byte_array_new();
	ga.msgs = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
	start_unix(&h, path);

	/* The guest driver finds the port and is told the host side is open
	 * (the SPICE server attached to it). */
	vg_driver_up(&ga.g, true);
	vg_handshake(&ga.g, false);
	vg_expect(&ga.g, 1, C_PORT_OPEN, 1);
	ga_post_rx(&ga);

	const char *args[] = { "--unix", path, NULL };
	g_assert_true(harness_client_start(&h, args));
	assert_ok(harness_cmd(&h, "wait-primary 640 480"), "wait-primary");
	/* Without a guest agent the in-VMM stub answers: resizing works
	 * through the display device. */
	assert_ok(harness_cmd(&h, "wait-agent"), "stub agent");
	assert_ok(harness_cmd(&h, "resize 1024 768"), "resize via stub");
	for (int i = 0; i < 300 && !h.n_requests; i++)
		harness_pump(&h, 10);
	g_assert_cmpuint(h.n_requests, ==, 1);
	g_assert_cmpuint(h.req_w, ==, 1024);

	/* spice-vdagent opens the port: the client talks to it.  First the
	 * client's capabilities, asking for ours. */
	vg_ctl(&ga.g, 1, C_PORT_OPEN, 1);
	GByteArray *m = ga_wait(&h, &ga, VD_AGENT_ANNOUNCE_CAPABILITIES);
	VDAgentAnnounceCapabilities caps;
	g_assert_cmpuint(m->len, >=, sizeof(VDAgentMessage) + sizeof(caps));
	memcpy(&caps, m->data + sizeof(VDAgentMessage), sizeof(caps));
	g_assert_cmpuint(caps.request, ==, 1);
	g_byte_array_unref(m);

	/* Guest -> client: our capabilities reach the client. */
	uint8_t capbuf[sizeof(uint32_t) * (1 + VD_AGENT_CAPS_SIZE)] = { 0 };
	uint32_t *cp = (uint32_t *)capbuf;
	VD_AGENT_SET_CAPABILITY(cp + 1, VD_AGENT_CAP_MONITORS_CONFIG);
	VD_AGENT_SET_CAPABILITY(cp + 1, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
	VD_AGENT_SET_CAPABILITY(cp + 1, VD_AGENT_CAP_CLIPBOARD_SELECTION);
	ga_send(&ga, VD_AGENT_ANNOUNCE_CAPABILITIES, capbuf, sizeof(capbuf));
	assert_ok(harness_cmd(&h, "wait-agent clipboard"), "guest agent caps at the client");

	/* Client -> guest: a window size is now the agent's business, as
	 * VD_AGENT_MONITORS_CONFIG bytes on the port, not the display's. */
	unsigned before = h.n_requests;
	assert_ok(harness_cmd(&h, "resize 1280 720"), "resize via guest agent");
	bool found = false;
	for (int tries = 0; tries < 5 && !found; tries++) {
		m = ga_wait(&h, &ga, VD_AGENT_MONITORS_CONFIG);
		VDAgentMonitorsConfig mc;
		VDAgentMonConfig mon;
		g_assert_cmpuint(m->len, >=, sizeof(VDAgentMessage) + sizeof(mc) + sizeof(mon));
		memcpy(&mc, m->data + sizeof(VDAgentMessage), sizeof(mc));
		memcpy(&mon, m->data + sizeof(VDAgentMessage) + sizeof(mc), sizeof(mon));
		g_assert_cmpuint(mc.num_of_monitors, >=, 1);
		found = mon.width == 1280 && mon.height == 720;
		g_byte_array_unref(m);
	}
	g_assert_true(found);
	g_assert_cmpuint(h.n_requests, ==, before);

	/* Client clipboard -> guest: a CLIPBOARD_GRAB for UTF-8 text. */
	uint64_t t0 = harness_now_ns();
	assert_ok(harness_cmd(&h, "clipboard-grab"), "client grab");
	m = ga_wait(&h, &ga, VD_AGENT_CLIPBOARD_GRAB);
	g_test_message("figure: client clipboard grab -> guest port: %.2f ms",
		       (double)(harness_now_ns() - t0) / 1e6);
	g_assert_cmpuint(m->len, ==, sizeof(VDAgentMessage) + 4 + 4);
	g_assert_cmpuint(m->data[sizeof(VDAgentMessage)], ==, VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD);
	uint32_t type;
	memcpy(&type, m->data + sizeof(VDAgentMessage) + 4, 4);
	g_assert_cmpuint(type, ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);
	g_byte_array_unref(m);

	/* Guest clipboard -> client: the guest grabs the PRIMARY selection. */
	uint8_t grab[8] = { VD_AGENT_CLIPBOARD_SELECTION_PRIMARY, 0, 0, 0 };
	uint32_t t = VD_AGENT_CLIPBOARD_UTF8_TEXT;
	memcpy(grab + 4, &t, 4);
	t0 = harness_now_ns();
	ga_send(&ga, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab));
	char *line = harness_cmd(&h, "expect-grab");
	g_test_message("figure: guest clipboard grab -> client signal: %.2f ms",
		       (double)(harness_now_ns() - t0) / 1e6);
	g_assert_nonnull(line);
	g_autofree char *want = g_strdup_printf("ok selection=%u types=%u",
						VD_AGENT_CLIPBOARD_SELECTION_PRIMARY,
						VD_AGENT_CLIPBOARD_UTF8_TEXT);
	g_assert_cmpstr(line, ==, want);
	g_free(line);

	/* The guest agent goes away: the stub is back and resizing goes to
	 * the display device again. */
	vg_ctl(&ga.g, 1, C_PORT_OPEN, 0);
	harness_pump(&h, 200);
	assert_ok(harness_cmd(&h, "wait-agent"), "stub agent again");
	assert_ok(harness_cmd(&h, "resize 800 600"), "resize via stub again");
	for (int i = 0; i < 300 && h.n_requests == before; i++)
		harness_pump(&h, 10);
	g_assert_cmpuint(h.req_w, ==, 800);
	g_assert_cmpuint(h.req_h, ==, 600);
	g_assert_false(ga.g.dev->broken);

	harness_destroy(&h);
	g_byte_array_unref(ga.in);
	g_byte_array_unref(ga.msg);
	g_ptr_array_unref(ga.msgs);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* libspice warns when a client vanishes, which some tests make
	 * happen on purpose; criticals still fail the test. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	tmpdir = g_dir_make_tmp("atoll-spice-XXXXXX", NULL);
	g_test_add_func("/spice/scancodes", test_scancodes);
	g_test_add_func("/spice/config", test_config);
	g_test_add_func("/spice/control-info", test_control_info);
	g_test_add_func("/spice/display-and-input", test_display_and_input);
	g_test_add_func("/spice/tcp-ticket", test_tcp_ticket);
	g_test_add_func("/spice/disconnect-mid-frame", test_disconnect_mid_frame);
	g_test_add_func("/spice/listening-fd", test_listening_fd);
	g_test_add_func("/spice/guest-agent", test_guest_agent);
	int ret = g_test_run();
	g_rmdir(tmpdir);
	return ret;
}
