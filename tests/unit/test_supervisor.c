/* supervisor.c, vmm_client.c and console.c against a real process: this
 * test binary re-executes itself as a fake atoll-vmm ("the peer") that
 * speaks docs/vmm-control.md on a real unix socket, serves a serial
 * socket and exits with atoll-vmm's exit codes and log lines. */
#include "vmm_client.h"

#include <errno.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ================================================================ peer */

#define PEER_MAX_FDS 16

static struct {
	const char *name, *control, *serial, *kernel, *spice;
	char **argv;
	bool paused;
	int boots;
} peer;

static void peer_log(const char *level, const char *msg)
{
	fprintf(stderr, "\r%s: %s: %s\n", peer.name, level, msg);
	fflush(stderr);
}

static int peer_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static void peer_exit(int code)
{
	unlink(peer.control);
	unlink(peer.serial);
	if (peer.spice)
		unlink(peer.spice);
	exit(code);
}

static void peer_reply(int fd, const char *text)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s\n", text);
	if (write(fd, buf, (size_t)n) < 0)
		return;
}

/* Returns the exit code to leave with after replying, or -1. */
static int peer_command(int fd, const char *line)
{
	char buf[1024];
	if (strstr(line, "\"spice-info\"")) {   /* as atoll-vmm: null without --spice */
		if (peer.spice)
			snprintf(buf, sizeof(buf), "{\"ok\":true,\"uri\":\"spice+unix://%s\"}",
				 peer.spice);
		else
			snprintf(buf, sizeof(buf), "{\"ok\":true,\"uri\":null}");
		peer_reply(fd, buf);
	} else if (strstr(line, "\"query\"")) {
		snprintf(buf, sizeof(buf), "{\"ok\":true,\"name\":\"%s\",\"state\":\"%s\",\"pid\":%d,"
			 "\"vcpus\":1,\"memory_mib\":64,\"uptime_ms\":5,\"serial\":\"%s\","
			 "\"boot_count\":%d}", peer.name, peer.paused ? "paused" : "running",
			 getpid(), peer.serial, peer.boots);
		peer_reply(fd, buf);
	} else if (strstr(line, "\"pause\"") || strstr(line, "\"resume\"")) {
		peer.paused = strstr(line, "\"pause\"") != NULL;
		peer_reply(fd, "{\"ok\":true}");
	} else if (strstr(line, "\"stats\"")) {
		peer_reply(fd, "{\"ok\":true,\"cpu_time_s\":1.5,\"vcpu_time_s\":[1.0],"
			   "\"memory_rss_bytes\":12345678,"
			   "\"disks\":[{\"rd_bytes\":100,\"wr_bytes\":200,\"rd_ops\":1,\"wr_ops\":2},"
			   "{\"rd_bytes\":1,\"wr_bytes\":2,\"rd_ops\":3,\"wr_ops\":4}],"
			   "\"nics\":[{\"rx_bytes\":10,\"tx_bytes\":20,\"rx_packets\":1,\"tx_packets\":2}]}");
	} else if (strstr(line, "\"shutdown\"")) {
		peer_reply(fd, "{\"ok\":true}");
		peer_log("info", "the guest powered off");
		return 0;
	} else if (strstr(line, "\"destroy\"")) {
		peer_reply(fd, "{\"ok\":true}");
		peer_log("info", "the domain was forced off");
		return 4;
	} else if (strstr(line, "\"crash\"")) {   /* test-only */
		peer_reply(fd, "{\"ok\":true}");
		peer_log("error", "the guest crashed (on_crash = destroy)");
		return 3;
	} else if (strstr(line, "\"reboot\"")) {
		peer_reply(fd, "{\"ok\":true}");
		peer_log("info", "the guest rebooted (on_reboot = restart)");
		peer_log("info", "restarting the domain");
		return 100;
	} else if (strstr(line, "\"hang\"")) {    /* test-only: ignore SIGTERM-ish */
		return -1;
	} else {
		peer_reply(fd, "{\"ok\":false,\"error\":\"unknown command\"}");
	}
	return -1;
}

static void peer_restart(void)
{
	char next[16];
	snprintf(next, sizeof(next), "%d", peer.boots + 1);
	setenv("ATOLL_VMM_BOOT_COUNT", next, 1);
	unlink(peer.control);
	unlink(peer.serial);
	if (peer.spice)
		unlink(peer.spice);
	execv("/proc/self/exe", peer.argv);
	_exit(1);
}

static void peer_parse(int argc, char **argv)
{
	peer.argv = argv;
	peer.name = "atoll";
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--name"))
			peer.name = argv[++i];
		else if (!strcmp(argv[i], "--control"))
			peer.control = argv[++i];
		else if (!strcmp(argv[i], "--serial") && g_str_has_prefix(argv[i + 1], "unix:"))
			peer.serial = argv[++i] + 5;
		else if (!strcmp(argv[i], "--kernel"))
			peer.kernel = argv[++i];
		else if (!strcmp(argv[i], "--spice") && g_str_has_prefix(argv[i + 1], "unix:"))
			peer.spice = argv[++i] + 5;
	}
	const char *boots = getenv("ATOLL_VMM_BOOT_COUNT");
	peer.boots = boots ? atoi(boots) : 1;
}

/* A tiny poll loop: listeners, control clients, serial clients. */
static int peer_main(int argc, char **argv)
{
	peer_parse(argc, argv);
	if (!peer.control || !peer.serial) {
		fprintf(stderr, "peer: --control and --serial unix: are required\n");
		return 1;
	}
	if (peer.kernel && strstr(peer.kernel, "bad-kernel")) {
		peer_log("error", "kernel: not a bzImage (no HdrS magic)");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	struct pollfd fds[PEER_MAX_FDS];
	bool is_serial[PEER_MAX_FDS] = { false };
	char lines[PEER_MAX_FDS][1024];
	size_t fill[PEER_MAX_FDS] = { 0 };
	int n = 2;
	fds[0] = (struct pollfd){ .fd = peer_listen(peer.serial), .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = peer_listen(peer.control), .events = POLLIN };
	/* The SPICE socket only has to exist, 0600 like atoll-vmm's. */
	if (peer.spice) {
		mode_t old = umask(0177);
		peer_listen(peer.spice);
		umask(old);
	}
	for (;;) {
		if (poll(fds, (nfds_t)n, -1) < 0 && errno != EINTR)
			peer_exit(1);
		for (int i = 0; i < n; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (i < 2) {
				int c = accept4(fds[i].fd, NULL, NULL, SOCK_CLOEXEC);
				if (c < 0 || n == PEER_MAX_FDS) {
					if (c >= 0)
						close(c);
					continue;
				}
				fds[n] = (struct pollfd){ .fd = c, .events = POLLIN };
				is_serial[n] = i == 0;
				fill[n] = 0;
				if (i == 0) {
					char hello[128];
					int len = snprintf(hello, sizeof(hello), "boot %d: hello from %s\r\n",
							   peer.boots, peer.name);
					if (write(c, hello, (size_t)len) < 0)
						perror("serial");
				}
				n++;
				continue;
			}
			char buf[512];
			ssize_t got = read(fds[i].fd, buf, sizeof(buf));
			if (got <= 0) {
				close(fds[i].fd);
				fds[i] = fds[n - 1];
				is_serial[i] = is_serial[n - 1];
				memcpy(lines[i], lines[n - 1], fill[n - 1]);
				fill[i] = fill[n - 1];
				n--;
				i--;
				continue;
			}
			if (is_serial[i]) {   /* the "guest" echoes what it is typed */
				char out[600];
				int len = snprintf(out, sizeof(out), "echo:%.*s", (int)got, buf);
				for (int j = 2; j < n; j++)
					if (is_serial[j] && write(fds[j].fd, out, (size_t)len) < 0)
						perror("serial");
				continue;
			}
			for (ssize_t k = 0; k < got; k++) {
				if (buf[k] != '\n') {
					if (fill[i] < sizeof(lines[i]) - 1)
						lines[i][fill[i]++] = buf[k];
					continue;
				}
				lines[i][fill[i]] = '\0';
				fill[i] = 0;
				int code = peer_command(fds[i].fd, lines[i]);
				if (code == 100)
					peer_restart();
				if (code >= 0)
					peer_exit(code);
			}
		}
	}
}

/* ============================================================ fixtures */

typedef struct {
	char *tmp;
	Atolld d;
	Domain *dom;
} Fixture;

static char *self_exe(void)
{
	return g_file_read_link("/proc/self/exe", NULL);
}

static DomainDef *make_def(const char *name)
{
	DomainDef *def = g_new0(DomainDef, 1);
	def->name = g_strdup(name);
	def->memory_mib = 64;
	def->vcpus = 1;
	def->kernel = g_strdup("/boot/vmlinuz-test");
	def->cmdline = g_strdup("console=ttyS0");
	def->disks = g_ptr_array_new();
	def->nics = g_ptr_array_new();
	def->on_poweroff = g_strdup("destroy");
	def->on_reboot = g_strdup("restart");
	def->on_crash = g_strdup("destroy");
	def->shutdown_timeout_s = 7;
	return def;
}

static void free_def(DomainDef *def)
{
	if (!def)
		return;
	for (guint i = 0; i < def->disks->len; i++) {
		DiskDef *disk = g_ptr_array_index(def->disks, i);
		g_free(disk->path);
		g_free(disk->serial);
		g_free(disk);
	}
	for (guint i = 0; i < def->nics->len; i++) {
		NicDef *nic = g_ptr_array_index(def->nics, i);
		g_free(nic->network);
		g_free(nic);
	}
	g_ptr_array_unref(def->disks);
	g_ptr_array_unref(def->nics);
	g_free(def->name);
	g_free(def->kernel);
	g_free(def->initrd);
	g_free(def->cmdline);
	g_free(def->on_poweroff);
	g_free(def->on_reboot);
	g_free(def->on_crash);
	g_free(def->label);
	g_free(def);
}

static Domain *add_domain(Atolld *d, const char *name)
{
	Domain *dom = g_new0(Domain, 1);
	dom->daemon = d;
	dom->name = g_strdup(name);
	dom->def = make_def(name);
	g_hash_table_replace(d->domains, dom->name, dom);
	return dom;
}

static void free_domain(gpointer data)
{
	Domain *dom = data;
	supervisor_forget(dom);
	free_def(dom->def);
	g_free(dom->last_exit_reason);
	g_free(dom->name);
	g_free(dom);
}

static void daemon_init(Atolld *d, const char *tmp)
{
	memset(d, 0, sizeof(*d));
	d->state_dir = g_build_filename(tmp, "state", NULL);
	d->run_dir = g_build_filename(tmp, "run", NULL);
	d->vmm_path = self_exe();
	d->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, free_domain);
}

static void daemon_fini(Atolld *d)
{
	g_hash_table_destroy(d->domains);
	events_free(d);
	g_free(d->state_dir);
	g_free(d->run_dir);
	g_free(d->vmm_path);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
	(void)data;
	f->tmp = g_dir_make_tmp("atolld-sup-XXXXXX", NULL);
	g_assert_nonnull(f->tmp);
	daemon_init(&f->d, f->tmp);
	f->dom = add_domain(&f->d, "vm1");
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	/* never leave a peer behind */
	g_autofree char *pidfile = supervisor_path(&f->d, "vm1", ".pid");
	int pid = supervisor_read_pidfile(pidfile);
	if (f->dom->pid)
		kill(f->dom->pid, SIGKILL);
	if (pid)
		kill(pid, SIGKILL);
	daemon_fini(&f->d);
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmp);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(f->tmp);
}

static gboolean timeout_flag(gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

/* Run the main loop until cond(dom) or ~10 s. */
static bool wait_for(bool (*cond)(Domain *, gconstpointer), Domain *dom, gconstpointer arg)
{
	bool expired = false;
	guint t = g_timeout_add(10000, timeout_flag, &expired);
	while (!cond(dom, arg) && !expired)
		g_main_context_iteration(NULL, TRUE);
	if (!expired)
		g_source_remove(t);
	return cond(dom, arg);
}

static bool in_state(Domain *dom, gconstpointer arg)
{
	return dom->state == (DomainState)GPOINTER_TO_INT(arg);
}

static bool has_console(Domain *dom, gconstpointer arg)
{
	g_autoptr(GBytes) log = console_log(dom);
	if (!log || g_bytes_get_size(log) == 0)
		return false;
	g_autofree char *text = g_strndup(g_bytes_get_data(log, NULL), g_bytes_get_size(log));
	return strstr(text, arg) != NULL;
}

static bool has_samples(Domain *dom, gconstpointer arg)
{
	g_autoptr(GArray) s = stats_history(dom, 0);
	return s->len >= (guint)GPOINTER_TO_INT(arg);
}

static void wait_state(Domain *dom, DomainState st)
{
	if (!wait_for(in_state, dom, GINT_TO_POINTER(st)))
		g_error("domain %s: state %s, expected %s (last exit: %s)", dom->name,
			domain_state_name(dom->state), domain_state_name(st),
			dom->last_exit_reason ? dom->last_exit_reason : "-");
}

/* =============================================================== tests */

static void test_argv(void)
{
	Atolld d = { .run_dir = "/run/atoll", .vmm_path = "/usr/bin/atoll-vmm" };
	DomainDef *def = make_def("web1");
	def->initrd = g_strdup("/boot/initrd");
	DiskDef *a = g_new0(DiskDef, 1), *b = g_new0(DiskDef, 1);
	a->path = g_strdup("/img/a,b.img");
	b->path = g_strdup("/img/data.img");
	b->readonly = true;
	b->serial = g_strdup("data01");
	g_ptr_array_add(def->disks, a);
	g_ptr_array_add(def->disks, b);
	NicDef *n0 = g_new0(NicDef, 1), *n1 = g_new0(NicDef, 1);
	n0->type = NIC_ISOLATED;
	strcpy(n0->mac, "52:54:00:12:34:56");
	n1->type = NIC_NETWORK;
	g_ptr_array_add(def->nics, n0);
	g_ptr_array_add(def->nics, n1);
	int fds[] = { 7, -1 };
	char *taps[] = { NULL, "atl-web1-1" };

	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) argv = supervisor_build_argv(&d, def, fds, taps, &error);
	g_assert_no_error(error);
	g_autofree char *joined = g_strjoinv("|", (char **)argv->pdata);
	g_assert_cmpstr(joined, ==,
		"/usr/bin/atoll-vmm|--name|web1|--memory|64|--vcpus|1|"
		"--kernel|/boot/vmlinuz-test|--initrd|/boot/initrd|--cmdline|console=ttyS0|"
		"--disk|path=/img/a,,b.img|--disk|path=/img/data.img,readonly=on,serial=data01|"
		"--net|fd=3,mac=52:54:00:12:34:56|--net|tap=atl-web1-1|"
		"--on-poweroff|destroy|--on-reboot|restart|--on-crash|destroy|"
		"--shutdown-timeout|7|--control|/run/atoll/vmm/web1.control|"
		"--serial|unix:/run/atoll/vmm/web1.console");

	/* A NIC with no tap prepared is an error, not a silently missing NIC. */
	int none[] = { -1, -1 };
	char *no_taps[] = { NULL, NULL };
	g_autoptr(GPtrArray) bad = supervisor_build_argv(&d, def, none, no_taps, &error);
	g_assert_null(bad);
	g_assert_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST);
	g_assert_nonnull(strstr(error->message, "nics[0]"));
	free_def(def);
}

/* A "user" NIC gets passt's socket (no tap, no fd), and passt's argv
 * serves exactly that socket. */
static void test_argv_user_nic(void)
{
	Atolld d = { .run_dir = "/run/atoll", .vmm_path = "/usr/bin/atoll-vmm" };
	DomainDef *def = make_def("web1");
	NicDef *n0 = g_new0(NicDef, 1), *n1 = g_new0(NicDef, 1);
	n0->type = NIC_ISOLATED;
	n1->type = NIC_USER;
	strcpy(n1->mac, "52:54:00:00:00:09");
	g_ptr_array_add(def->nics, n0);
	g_ptr_array_add(def->nics, n1);
	int fds[] = { 7, -1 };
	char *taps[] = { NULL, NULL };

	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) argv = supervisor_build_argv(&d, def, fds, taps, &error);
	g_assert_no_error(error);
	g_autofree char *joined = g_strjoinv("|", (char **)argv->pdata);
	g_assert_nonnull(strstr(joined, "|--net|fd=3|--net|socket=/run/atoll/passt/web1.1.sock,"
					"mac=52:54:00:00:00:09|"));

	g_autofree char *sock = supervisor_passt_socket(&d, "web1", 1);
	g_assert_cmpstr(sock, ==, "/run/atoll/passt/web1.1.sock");
	g_autoptr(GPtrArray) passt = supervisor_passt_argv("/usr/bin/passt", sock);
	g_autofree char *pj = g_strjoinv("|", (char **)passt->pdata);
	g_assert_cmpstr(pj, ==, "/usr/bin/passt|--socket|/run/atoll/passt/web1.1.sock|"
				"--foreground|--quiet|--mtu|1500");

	/* A run directory too long for a socket path is refused up front. */
	g_autofree char *long_dir = g_strnfill(120, 'r');
	Atolld dl = { .run_dir = long_dir, .vmm_path = "/usr/bin/atoll-vmm" };
	g_autoptr(GPtrArray) bad = supervisor_build_argv(&dl, def, fds, taps, &error);
	g_assert_null(bad);
	g_assert_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST);
	free_def(def);
}

/* graphics.type spice: a display device, input devices and the SPICE
 * socket next to the control socket; none: no display flags at all. */
static void test_argv_graphics(void)
{
	Atolld d = { .run_dir = "/run/atoll", .vmm_path = "/usr/bin/atoll-vmm" };
	DomainDef *def = make_def("desk");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) plain = supervisor_build_argv(&d, def, NULL, NULL, &error);
	g_assert_no_error(error);
	g_autofree char *p = g_strjoinv("|", (char **)plain->pdata);
	g_assert_null(strstr(p, "--spice"));
	g_assert_null(strstr(p, "--gpu"));
	g_assert_null(strstr(p, "--input"));

	def->graphics.type = GRAPHICS_SPICE;
	g_autoptr(GPtrArray) virtio = supervisor_build_argv(&d, def, NULL, NULL, &error);
	g_assert_no_error(error);
	g_autofree char *v = g_strjoinv("|", (char **)virtio->pdata);
	g_assert_true(g_str_has_suffix(v, "|--control|/run/atoll/vmm/desk.control|"
		"--serial|unix:/run/atoll/vmm/desk.console|"
		"--gpu|virtio|--input=on|--spice|unix:/run/atoll/vmm/desk.spice"));

	def->graphics.gpu = GPU_BOCHS;
	g_autoptr(GPtrArray) bochs = supervisor_build_argv(&d, def, NULL, NULL, &error);
	g_assert_no_error(error);
	g_autofree char *b = g_strjoinv("|", (char **)bochs->pdata);
	g_assert_nonnull(strstr(b, "|--gpu|bochs|--input=on|--spice|unix:/run/atoll/vmm/desk.spice"));
	free_def(def);
}

static DomainDef *def_json(const char *text)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
	DomainDef *def = domain_def_from_json(json_parser_get_root(p), &error);
	g_assert_no_error(error);
	return def;
}

/* pci and usb entries become --pci/--usb (a comma in a ROM path doubled);
 * usb_controller without devices asks for the controller alone. */
static void test_argv_passthrough(void)
{
	Atolld d = { .run_dir = "/run/atoll", .vmm_path = "/usr/bin/atoll-vmm" };
	g_autoptr(GError) error = NULL;
	g_autoptr(DomainDef) def = def_json(
		"{\"name\":\"game\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
		"\"pci\":[{\"host\":\"01:00.0\",\"rom\":\"/roms/a,b.rom\"},{\"host\":\"01:00.1\"}],"
		"\"usb\":[{\"host\":\"046D:C52B\"},{\"host\":\"1-4.2\"}]}");
	g_autoptr(GPtrArray) argv = supervisor_build_argv(&d, def, NULL, NULL, &error);
	g_assert_no_error(error);
	g_autofree char *a = g_strjoinv("|", (char **)argv->pdata);
	g_assert_nonnull(strstr(a, "|--pci|host=0000:01:00.0,rom=/roms/a,,b.rom|"
				"--pci|host=0000:01:00.1|--usb|host=046d:c52b|--usb|host=1-4.2"));
	g_assert_null(strstr(a, "--xhci"));

	g_autoptr(DomainDef) hot = def_json(
		"{\"name\":\"hot\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
		"\"usb_controller\":true}");
	g_autoptr(GPtrArray) hv = supervisor_build_argv(&d, hot, NULL, NULL, &error);
	g_assert_no_error(error);
	g_autofree char *h = g_strjoinv("|", (char **)hv->pdata);
	g_assert_nonnull(strstr(h, "|--xhci"));
	g_assert_null(strstr(h, "--usb"));
	g_assert_null(strstr(h, "--pci"));
}

static void test_exit_reasons(void)
{
	static const struct { int status; const char *want; } cases[] = {
		{ W_EXITCODE(0, 0), "poweroff" },
		{ W_EXITCODE(2, 0), "reboot" },
		{ W_EXITCODE(3, 0), "crash" },
		{ W_EXITCODE(4, 0), "destroyed" },
		{ W_EXITCODE(1, 0), "vmm-error: kernel: bad" },
		{ W_EXITCODE(9, 0), "vmm-error: unexpected exit status 9" },
	};
	for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *r = supervisor_exit_reason(cases[i].status, "kernel: bad");
		g_assert_cmpstr(r, ==, cases[i].want);
	}
	g_autofree char *sig = supervisor_exit_reason(W_EXITCODE(0, SIGKILL), NULL);
	g_assert_true(g_str_has_prefix(sig, "killed by signal 9"));
	g_autofree char *nomsg = supervisor_exit_reason(W_EXITCODE(1, 0), NULL);
	g_assert_true(g_str_has_prefix(nomsg, "vmm-error: "));
}

static char *write_log(const char *dir, const char *text)
{
	char *path = g_build_filename(dir, "x.log", NULL);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static void test_reason_from_log(void)
{
	g_autofree char *tmp = g_dir_make_tmp("atolld-log-XXXXXX", NULL);
	static const struct { const char *log; const char *want; int code; } cases[] = {
		{ "atolld: starting atoll-vmm for x at T\n\rx: info: the guest powered off\n", "poweroff", 0 },
		/* an earlier run's ending does not count */
		{ "\rx: info: the guest powered off\natolld: starting atoll-vmm for x at T\n"
		  "\rx: error: the guest crashed (on_crash = destroy)\n", "crash", 3 },
		{ "atolld: starting atoll-vmm for x at T\n\rx: info: the domain was forced off\n", "destroyed", 4 },
		{ "atolld: starting atoll-vmm for x at T\n\rx: info: the guest rebooted (on_reboot = destroy)\n", "reboot", 2 },
		{ "atolld: starting atoll-vmm for x at T\n\rx: error: KVM_RUN: Bad address\n", "vmm-error: KVM_RUN: Bad address", 1 },
	};
	for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = write_log(tmp, cases[i].log);
		int code = 99;
		g_autofree char *r = supervisor_reason_from_log(path, &code);
		g_assert_cmpstr(r, ==, cases[i].want);
		g_assert_cmpint(code, ==, cases[i].code);
	}
	/* Rebooted in place, then vanished without a word: unknown. */
	g_autofree char *path = write_log(tmp, "atolld: starting atoll-vmm for x at T\n"
		"\rx: info: the guest rebooted (on_reboot = restart)\n\rx: info: restarting the domain\n");
	int code = 99;
	g_autofree char *r = supervisor_reason_from_log(path, &code);
	g_assert_true(g_str_has_prefix(r, "unknown: "));
	g_assert_cmpint(code, ==, -1);
	g_autofree char *missing = g_build_filename(tmp, "none.log", NULL);
	g_autofree char *r2 = supervisor_reason_from_log(missing, &code);
	g_assert_true(g_str_has_prefix(r2, "unknown: "));

	g_autofree char *p2 = write_log(tmp, "old\natolld: starting atoll-vmm for x at T\n"
		"atoll-vmm: --memory: expected a number\nTry 'atoll-vmm --help'.\n");
	g_autofree char *last = supervisor_last_log_line(p2);
	g_assert_cmpstr(last, ==, "atoll-vmm: --memory: expected a number");
	/* the real VMM's "(see above)" refers to the line before */
	g_autofree char *p3 = write_log(tmp, "atolld: starting atoll-vmm for t at T\n"
		"\rt: error: disk /x.img: cannot open: No such file or directory\n"
		"\rt: error: disks[0] (/x.img): cannot attach (see above)\n");
	g_autofree char *both = supervisor_last_log_line(p3);
	g_assert_cmpstr(both, ==, "disk /x.img: cannot open: No such file or directory; "
			"disks[0] (/x.img): cannot attach (see above)");
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
	g_assert_cmpint(system(cmd), ==, 0);
}

static void test_pidfile(void)
{
	g_autofree char *tmp = g_dir_make_tmp("atolld-pid-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(tmp, "vm.pid", NULL);
	g_autoptr(GError) error = NULL;
	g_assert_cmpint(supervisor_read_pidfile(path), ==, 0);
	g_assert_true(supervisor_write_pidfile(path, 4242, &error));
	g_assert_no_error(error);
	g_assert_cmpint(supervisor_read_pidfile(path), ==, 4242);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "4242\n");
	static const char *const bad[] = { "", "abc\n", "12x\n", "-5\n", "1\n", "99999999999\n" };
	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_true(g_file_set_contents(path, bad[i], -1, NULL));
		g_assert_cmpint(supervisor_read_pidfile(path), ==, 0);
	}
	g_unlink(path);
	g_rmdir(tmp);
}

static void expect_exit(Domain *dom, DomainState st, const char *reason, int code)
{
	wait_state(dom, st);
	g_assert_cmpstr(dom->last_exit_reason, ==, reason);
	g_assert_cmpint(dom->last_exit_code, ==, code);
	g_assert_cmpint(dom->pid, ==, 0);
	g_assert_null(dom->vmm);
	g_autofree char *pidfile = supervisor_path(dom->daemon, dom->name, ".pid");
	g_assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
}

static void start_running(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	g_assert_true(supervisor_start(f->dom, &error));
	g_assert_no_error(error);
	g_assert_cmpint(f->dom->pid, >, 0);
	wait_state(f->dom, DOMAIN_RUNNING);
}

static void test_lifecycle(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	start_running(f);
	int pid = f->dom->pid;

	/* the pid file names the VMM, which identifies as ours */
	g_autofree char *pidfile = supervisor_path(&f->d, "vm1", ".pid");
	g_assert_cmpint(supervisor_read_pidfile(pidfile), ==, pid);
	g_autofree char *control = supervisor_path(&f->d, "vm1", ".control");
	g_assert_true(supervisor_is_our_vmm(&f->d, pid, control));
	g_assert_false(supervisor_is_our_vmm(&f->d, getpid(), control));
	/* its own session: atolld's process group signals do not reach it */
	g_assert_cmpint(getsid(pid), ==, pid);

	/* a second start is a conflict */
	g_assert_false(supervisor_start(f->dom, &error));
	g_assert_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT);
	g_clear_error(&error);

	/* serial output reaches the console log, input reaches the guest */
	g_assert_true(wait_for(has_console, f->dom, "boot 1: hello from vm1"));
	g_autofree char *logfile = g_build_filename(f->d.state_dir, "logs", "vm1.console.log", NULL);
	g_autofree char *filetext = NULL;
	g_assert_true(g_file_get_contents(logfile, &filetext, NULL, NULL));
	g_assert_nonnull(strstr(filetext, "hello from vm1"));

	/* stats: the VMM's numbers, disks and NICs summed */
	g_assert_true(wait_for(has_samples, f->dom, GINT_TO_POINTER(2)));
	g_autoptr(GArray) s = stats_history(f->dom, 0);
	const StatsSample *last = &g_array_index(s, StatsSample, s->len - 1);
	g_assert_cmpfloat(last->cpu_time_s, ==, 1.5);
	g_assert_cmpuint(last->memory_rss_bytes, ==, 12345678);
	g_assert_cmpuint(last->disk_rd_bytes, ==, 101);
	g_assert_cmpuint(last->disk_wr_bytes, ==, 202);
	g_assert_cmpuint(last->disk_rd_ops, ==, 4);
	g_assert_cmpuint(last->disk_wr_ops, ==, 6);
	g_assert_cmpuint(last->net_rx_bytes, ==, 10);
	g_assert_cmpuint(last->net_tx_bytes, ==, 20);

	g_assert_true(supervisor_pause(f->dom, true, &error));
	wait_state(f->dom, DOMAIN_PAUSED);
	g_assert_true(supervisor_pause(f->dom, false, &error));
	wait_state(f->dom, DOMAIN_RUNNING);

	/* reboot: same pid, the VMM re-creates its sockets, atolld reconnects */
	g_assert_true(supervisor_reboot(f->dom, &error));
	g_assert_true(wait_for(has_console, f->dom, "boot 2: hello from vm1"));
	g_assert_cmpint(f->dom->pid, ==, pid);
	g_assert_cmpint(f->dom->state, ==, DOMAIN_RUNNING);

	g_assert_true(supervisor_shutdown(f->dom, 5, &error));
	g_assert_no_error(error);
	expect_exit(f->dom, DOMAIN_SHUTOFF, "poweroff", 0);
	g_assert_false(g_file_test(control, G_FILE_TEST_EXISTS));
	/* the console log outlives the VMM */
	g_assert_true(has_console(f->dom, "boot 2"));

	g_assert_false(supervisor_shutdown(f->dom, 5, &error));
	g_assert_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT);
}

static bool pid_gone(Domain *dom, gconstpointer arg)
{
	(void)dom;
	return kill(GPOINTER_TO_INT(arg), 0) < 0;
}

/* A "user" NIC with the real passt: atolld starts it, the VMM is told its
 * socket, and destroying the domain stops passt and removes its files.
 * Skipped without passt or a default route (passt then will not start). */
static void test_user_nic_passt(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *passt = g_find_program_in_path("passt");
	g_autofree char *routes = NULL;
	if (!passt || !g_file_get_contents("/proc/net/route", &routes, NULL, NULL) ||
	    !strstr(routes, "\t00000000\t")) {
		g_test_skip("passt is not installed or the host has no default route");
		return;
	}
	/* passt runs as nobody when we are root: it must reach run_dir/passt,
	 * as with atolld's own 0755 run_dir. */
	g_assert_cmpint(chmod(f->tmp, 0755), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(f->d.run_dir, 0755), ==, 0);
	NicDef *n = g_new0(NicDef, 1);
	n->type = NIC_USER;
	g_ptr_array_add(f->dom->def->nics, n);
	start_running(f);

	g_autofree char *sock = supervisor_passt_socket(&f->d, "vm1", 0);
	g_autofree char *pidfile = g_build_filename(f->d.run_dir, "passt", "vm1.0.pid", NULL);
	GStatBuf st;
	g_assert_cmpint(g_stat(sock, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	int ppid = supervisor_read_pidfile(pidfile);
	g_assert_cmpint(ppid, >, 0);
	g_autofree char *comm_path = g_strdup_printf("/proc/%d/comm", ppid);
	g_autofree char *comm = NULL;
	g_assert_true(g_file_get_contents(comm_path, &comm, NULL, NULL));
	g_assert_true(g_str_has_prefix(comm, "passt"));
	g_autofree char *cmd_path = g_strdup_printf("/proc/%d/cmdline", f->dom->pid);
	g_autofree char *cmdline = NULL;
	gsize len = 0;
	g_assert_true(g_file_get_contents(cmd_path, &cmdline, &len, NULL));
	g_autofree char *want = g_strdup_printf("socket=%s", sock);
	/* cmdline is NUL-separated */
	g_assert_nonnull(memmem(cmdline, len, want, strlen(want)));

	g_assert_true(supervisor_destroy(f->dom, &error));
	expect_exit(f->dom, DOMAIN_SHUTOFF, "destroyed", 4);
	g_assert_true(wait_for(pid_gone, f->dom, GINT_TO_POINTER(ppid)));
	g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
}

static void test_destroy(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	start_running(f);
	g_assert_true(supervisor_destroy(f->dom, &error));
	expect_exit(f->dom, DOMAIN_SHUTOFF, "destroyed", 4);

	/* crash -> crashed state; and the domain starts again afterwards */
	start_running(f);
	vmm_client_request(supervisor_control(f->dom), "crash", NULL, NULL, NULL);
	expect_exit(f->dom, DOMAIN_CRASHED, "crash", 3);

	start_running(f);
	int pid = f->dom->pid;
	kill(pid, SIGKILL);
	wait_state(f->dom, DOMAIN_SHUTOFF);
	g_assert_true(g_str_has_prefix(f->dom->last_exit_reason, "killed by signal 9"));
	g_assert_cmpint(f->dom->last_exit_code, ==, 128 + 9);
	/* killed: the stale sockets are cleaned up by atolld */
	g_autofree char *control = supervisor_path(&f->d, "vm1", ".control");
	g_assert_false(g_file_test(control, G_FILE_TEST_EXISTS));
}

/* A NIC on a persistent named tap (the libvirt module's) hands the VMM no
 * fd: the start must not ask GLib to map fd -1 (that failed every start
 * with "Failed to duplicate file descriptor"), and the tap goes away with
 * the VMM.  Root only, in a private network namespace. */
static void test_named_tap_nic(void)
{
	if (g_test_subprocess()) {
		g_assert_cmpint(unshare(CLONE_NEWNET), ==, 0);
		Fixture f;
		fixture_setup(&f, NULL);
		NicDef *nic = g_new0(NicDef, 1);
		nic->type = NIC_ISOLATED;
		g_ptr_array_add(f.dom->def->nics, nic);
		start_running(&f);
#ifdef ATOLLD_HAVE_LIBVIRT
		g_assert_cmpuint(if_nametoindex("atl-vm1-0"), !=, 0);
#endif
		g_autoptr(GError) error = NULL;
		g_assert_true(supervisor_destroy(f.dom, &error));
		expect_exit(f.dom, DOMAIN_SHUTOFF, "destroyed", 4);
		g_assert_cmpuint(if_nametoindex("atl-vm1-0"), ==, 0);
		fixture_teardown(&f, NULL);
		return;
	}
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		g_test_skip("needs root and /dev/net/tun");
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
}

static void test_vmm_error(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_free(f->dom->def->kernel);
	f->dom->def->kernel = g_strdup("/tmp/bad-kernel");
	g_assert_true(supervisor_start(f->dom, &error));
	expect_exit(f->dom, DOMAIN_SHUTOFF, "vmm-error: kernel: not a bzImage (no HdrS magic)", 1);

	/* more memory than the host has available is refused up front */
	uint64_t mib = f->dom->def->memory_mib;
	f->dom->def->memory_mib = 1024 * 1024;
	g_assert_false(supervisor_start(f->dom, &error));
	g_assert_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST);
	g_assert_nonnull(strstr(error->message, "available"));
	g_clear_error(&error);
	f->dom->def->memory_mib = mib;

	/* an unusable VMM path is refused up front */
	g_free(f->d.vmm_path);
	f->d.vmm_path = g_strdup("/nonexistent/atoll-vmm");
	g_assert_false(supervisor_start(f->dom, &error));
	g_assert_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST);
}

/* The VMM of a previous daemon: started from a process that exits, so the
 * VMM is not our child, as after an atolld restart. */
static int spawn_orphan(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	int fds[1] = { -1 };
	g_autoptr(GPtrArray) argv = supervisor_build_argv(&f->d, f->dom->def, fds, NULL, &error);
	g_assert_no_error(error);
	g_autofree char *vmm_dir = g_build_filename(f->d.run_dir, "vmm", NULL);
	g_assert_cmpint(g_mkdir_with_parents(vmm_dir, 0700), ==, 0);
	g_autofree char *log = supervisor_path(&f->d, "vm1", ".log");
	g_autofree char *pidfile = supervisor_path(&f->d, "vm1", ".pid");
	int pipefd[2];
	g_assert_cmpint(pipe(pipefd), ==, 0);
	pid_t mid = fork();
	g_assert_cmpint(mid, >=, 0);
	if (mid == 0) {
		setsid();
		pid_t vmm = fork();
		if (vmm == 0) {
			FILE *out = fopen(log, "a");
			fprintf(out, "atolld: starting atoll-vmm for vm1 at T\n");
			fflush(out);
			dup2(fileno(out), 2);
			execv(argv->pdata[0], (char **)argv->pdata);
			_exit(127);
		}
		if (write(pipefd[1], &vmm, sizeof(vmm)) != sizeof(vmm))
			_exit(1);
		_exit(0);
	}
	pid_t vmm = 0;
	g_assert_cmpint(read(pipefd[0], &vmm, sizeof(vmm)), ==, sizeof(vmm));
	close(pipefd[0]);
	close(pipefd[1]);
	waitpid(mid, NULL, 0);
	g_assert_true(supervisor_write_pidfile(pidfile, vmm, &error));
	/* wait for its control socket */
	g_autofree char *control = supervisor_path(&f->d, "vm1", ".control");
	for (int i = 0; i < 200 && !g_file_test(control, G_FILE_TEST_EXISTS); i++)
		g_usleep(10000);
	return vmm;
}

static void test_adopt_orphan(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	int pid = spawn_orphan(f);
	supervisor_adopt_all(&f->d);
	g_assert_cmpint(f->dom->pid, ==, pid);
	wait_state(f->dom, DOMAIN_RUNNING);
	g_assert_true(wait_for(has_console, f->dom, "hello from vm1"));
	g_assert_true(wait_for(has_samples, f->dom, GINT_TO_POINTER(1)));

	/* not our child: the reason comes from the VMM's log */
	g_assert_true(supervisor_destroy(f->dom, &error));
	expect_exit(f->dom, DOMAIN_SHUTOFF, "destroyed", 4);
}

static void test_adopt_after_restart(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	start_running(f);
	int pid = f->dom->pid;

	/* "atolld dies": its state goes, the VMM stays */
	Atolld d2;
	daemon_init(&d2, f->tmp);
	Domain *dom2 = add_domain(&d2, "vm1");
	supervisor_forget(f->dom);
	f->dom->pid = 0;
	g_usleep(200000);
	g_assert_cmpint(kill(pid, 0), ==, 0);

	supervisor_adopt_all(&d2);
	g_assert_cmpint(dom2->pid, ==, pid);
	wait_state(dom2, DOMAIN_RUNNING);
	g_assert_true(supervisor_shutdown(dom2, 5, &error));
	expect_exit(dom2, DOMAIN_SHUTOFF, "poweroff", 0);
	daemon_fini(&d2);
}

static bool has_spice(Domain *dom, gconstpointer arg)
{
	return g_strcmp0(supervisor_spice_uri(dom), arg) == 0;
}

/* The URI comes from the VMM's spice-info, for a started VMM and again for
 * a re-adopted one; it goes with the VMM. */
static void test_spice(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *sock = supervisor_path(&f->d, "vm1", ".spice");
	g_autofree char *uri = g_strconcat("spice+unix://", sock, NULL);
	g_assert_null(supervisor_spice_uri(f->dom));
	f->dom->def->graphics.type = GRAPHICS_SPICE;
	start_running(f);
	if (!wait_for(has_spice, f->dom, uri))
		g_error("spice uri: %s, expected %s", supervisor_spice_uri(f->dom), uri);
	struct stat st;
	g_assert_cmpint(lstat(sock, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	/* group atoll may connect: only where the group exists and we may
	 * give files to it */
	struct group *gr = getgrnam("atoll");
	if (gr && geteuid() == 0) {
		g_assert_cmpint(st.st_mode & 0777, ==, 0660);
		g_assert_cmpuint(st.st_gid, ==, gr->gr_gid);
		g_autofree char *dir = g_path_get_dirname(sock);
		g_assert_cmpint(stat(dir, &st), ==, 0);
		g_assert_cmpint(st.st_mode & 0777, ==, 0750);
		g_assert_cmpuint(st.st_gid, ==, gr->gr_gid);
	} else {
		g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	}
	int pid = f->dom->pid;

	/* atolld restarts: the next one asks the VMM again */
	Atolld d2;
	daemon_init(&d2, f->tmp);
	Domain *dom2 = add_domain(&d2, "vm1");
	supervisor_forget(f->dom);
	f->dom->pid = 0;
	supervisor_adopt_all(&d2);
	g_assert_cmpint(dom2->pid, ==, pid);
	/* known by the time the domain is reported running */
	wait_state(dom2, DOMAIN_RUNNING);
	g_assert_cmpstr(supervisor_spice_uri(dom2), ==, uri);

	/* killed: no URI, and the socket the VMM left behind is removed */
	kill(pid, SIGKILL);
	wait_state(dom2, DOMAIN_SHUTOFF);
	g_assert_null(supervisor_spice_uri(dom2));
	g_assert_cmpint(lstat(sock, &st), ==, -1);
	daemon_fini(&d2);

	/* without graphics the VMM reports null and so does atolld */
	f->dom->def->graphics.type = GRAPHICS_NONE;
	start_running(f);
	g_assert_null(supervisor_spice_uri(f->dom));
	g_assert_true(supervisor_destroy(f->dom, &error));
	expect_exit(f->dom, DOMAIN_SHUTOFF, "destroyed", 4);
}

static void test_adopt_stale(Fixture *f, gconstpointer data)
{
	(void)data;
	/* a pid file whose process is alive but is not our VMM */
	g_autofree char *vmm_dir = g_build_filename(f->d.run_dir, "vmm", NULL);
	g_assert_cmpint(g_mkdir_with_parents(vmm_dir, 0700), ==, 0);
	g_autofree char *pidfile = supervisor_path(&f->d, "vm1", ".pid");
	g_autofree char *log = supervisor_path(&f->d, "vm1", ".log");
	g_assert_true(supervisor_write_pidfile(pidfile, getpid(), NULL));
	g_assert_true(g_file_set_contents(log, "atolld: starting atoll-vmm for vm1 at T\n"
					  "\rvm1: info: the guest powered off\n", -1, NULL));
	f->dom->state = DOMAIN_RUNNING;
	supervisor_adopt_all(&f->d);
	g_assert_null(f->dom->vmm);
	g_assert_cmpint(f->dom->state, ==, DOMAIN_SHUTOFF);
	g_assert_cmpstr(f->dom->last_exit_reason, ==, "poweroff");
	g_assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
	g_assert_cmpint(kill(getpid(), 0), ==, 0);
}

int main(int argc, char **argv)
{
	/* (g_test_trap_subprocess children inherit it too, but are tests) */
	bool trapped = false;
	for (int i = 1; i < argc; i++)
		trapped |= strcmp(argv[i], "--GTestSubprocess") == 0;
	if (getenv("ATOLL_TEST_PEER") && !trapped)
		return peer_main(argc, argv);
	/* Children (the peer) inherit this and act as atoll-vmm. */
	g_setenv("ATOLL_TEST_PEER", "1", TRUE);
	g_unsetenv("ATOLL_VMM_BOOT_COUNT");
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/supervisor/argv", test_argv);
	g_test_add_func("/supervisor/argv_user_nic", test_argv_user_nic);
	g_test_add_func("/supervisor/argv-graphics", test_argv_graphics);
	g_test_add_func("/supervisor/argv-passthrough", test_argv_passthrough);
	g_test_add_func("/supervisor/exit-reasons", test_exit_reasons);
	g_test_add_func("/supervisor/reason-from-log", test_reason_from_log);
	g_test_add_func("/supervisor/pidfile", test_pidfile);
	g_test_add("/supervisor/lifecycle", Fixture, NULL, fixture_setup, test_lifecycle, fixture_teardown);
	g_test_add("/supervisor/user-nic-passt", Fixture, NULL, fixture_setup, test_user_nic_passt,
		   fixture_teardown);
	g_test_add("/supervisor/destroy-crash-kill", Fixture, NULL, fixture_setup, test_destroy, fixture_teardown);
	g_test_add_func("/supervisor/named-tap-nic", test_named_tap_nic);
	g_test_add("/supervisor/vmm-error", Fixture, NULL, fixture_setup, test_vmm_error, fixture_teardown);
	g_test_add("/supervisor/adopt-orphan", Fixture, NULL, fixture_setup, test_adopt_orphan, fixture_teardown);
	g_test_add("/supervisor/adopt-after-restart", Fixture, NULL, fixture_setup, test_adopt_after_restart, fixture_teardown);
	g_test_add("/supervisor/spice", Fixture, NULL, fixture_setup, test_spice, fixture_teardown);
	g_test_add("/supervisor/adopt-stale", Fixture, NULL, fixture_setup, test_adopt_stale, fixture_teardown);
	return g_test_run();
}
