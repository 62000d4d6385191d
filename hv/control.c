#include "control.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "spice_module.h"
#include "usb_host.h"
#include "vcpu.h"
#include "virtio/virtio.h"
#include "vm.h"

#define CONTROL_MAX_LINE   4096
#define CONTROL_MAX_CLIENTS 16

struct client {
	struct control *ctl;
	int fd;
	struct evloop_watch *watch;
	char buf[CONTROL_MAX_LINE];
	size_t len;
};

struct control {
	struct vm *vm;
	char *path;
	int fd;
	struct evloop_watch *watch;
	struct client *clients[CONTROL_MAX_CLIENTS];
};

static char *reply_error(const char *fmt, const char *arg)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *msg = g_strdup_printf(fmt, arg);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "ok");
	json_builder_add_boolean_value(b, FALSE);
	json_builder_set_member_name(b, "error");
	json_builder_add_string_value(b, msg);
	json_builder_end_object(b);
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	return json_to_string(root, FALSE);
}

static void add_int(JsonBuilder *b, const char *name, int64_t v)
{
	json_builder_set_member_name(b, name);
	json_builder_add_int_value(b, v);
}

static const char *vm_state(struct vm *vm)
{
	if (vm->paused)
		return "paused";
	return vm->shutdown_timer ? "shutting-down" : "running";
}

static void build_query(struct vm *vm, JsonBuilder *b)
{
	const char *count = getenv("ATOLL_VMM_BOOT_COUNT");
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, vm->cfg->name);
	json_builder_set_member_name(b, "state");
	json_builder_add_string_value(b, vm_state(vm));
	add_int(b, "pid", getpid());
	add_int(b, "vcpus", vm->cfg->vcpus);
	add_int(b, "memory_mib", (int64_t)vm->cfg->memory_mib);
	add_int(b, "uptime_ms", (int64_t)vm_uptime_ms(vm));
	add_int(b, "boot_count", count ? atoll(count) : 1);
	json_builder_set_member_name(b, "serial");
	if (vm->serial_path)
		json_builder_add_string_value(b, vm->serial_path);
	else
		json_builder_add_null_value(b);
}

static double thread_cpu_s(pthread_t t)
{
	clockid_t id;
	struct timespec ts;
	if (pthread_getcpuclockid(t, &id) || clock_gettime(id, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void add_io(JsonBuilder *b, struct virtio_device *dev, bool disk)
{
	struct virtio_stats st = { 0 };
	pthread_mutex_lock(&dev->lock);
	dev->ops->stats(dev, &st);
	pthread_mutex_unlock(&dev->lock);
	json_builder_begin_object(b);
	add_int(b, disk ? "rd_bytes" : "rx_bytes", (int64_t)st.to_guest_bytes);
	add_int(b, disk ? "wr_bytes" : "tx_bytes", (int64_t)st.from_guest_bytes);
	add_int(b, disk ? "rd_ops" : "rx_packets", (int64_t)st.to_guest_ops);
	add_int(b, disk ? "wr_ops" : "tx_packets", (int64_t)st.from_guest_ops);
	json_builder_end_object(b);
}

static void add_devices(struct vm *vm, JsonBuilder *b, uint16_t id, const char *name)
{
	json_builder_set_member_name(b, name);
	json_builder_begin_array(b);
	for (unsigned i = 0; i < vm->n_virtio; i++) {
		struct virtio_device *dev = vm->virtio_devs[i];
		if (dev->ops->device_id == id && dev->ops->stats)
			add_io(b, dev, id == VIRTIO_ID_BLOCK);
	}
	json_builder_end_array(b);
}

static void build_stats(struct vm *vm, JsonBuilder *b)
{
	double total = 0;
	json_builder_set_member_name(b, "vcpu_time_s");
	json_builder_begin_array(b);
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		double t = vm->vcpus[i] && vm->vcpus[i]->started ?
			   thread_cpu_s(vm->vcpus[i]->thread) : 0;
		total += t;
		json_builder_add_double_value(b, t);
	}
	json_builder_end_array(b);
	json_builder_set_member_name(b, "cpu_time_s");
	json_builder_add_double_value(b, total);
	add_int(b, "memory_rss_bytes", (int64_t)rss_bytes());
	add_devices(vm, b, VIRTIO_ID_BLOCK, "disks");
	add_devices(vm, b, VIRTIO_ID_NET, "nics");
}

static void add_usb_entry(void *opaque, const struct usb_host_info *i)
{
	JsonBuilder *b = opaque;
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "id");
	json_builder_add_string_value(b, i->id);
	json_builder_set_member_name(b, "host");
	json_builder_add_string_value(b, i->host);
	add_int(b, "port", i->port);
	json_builder_set_member_name(b, "speed");
	json_builder_add_string_value(b, usb_speed_name(i->speed));
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, i->name);
	json_builder_end_object(b);
}

static const char *str_member(JsonObject *req, const char *name)
{
	JsonNode *n = json_object_has_member(req, name) ?
		      json_object_get_member(req, name) : NULL;
	return n && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : NULL;
}

/* usb-attach, usb-detach, usb-list (docs/vmm-control.md). */
static const char *usb_command(const char *cmd, JsonObject *req, JsonBuilder *b)
{
	static char why[512];
	const char *host = str_member(req, "host"), *id = str_member(req, "id");
	if (!strcmp(cmd, "usb-list")) {
		json_builder_set_member_name(b, "devices");
		json_builder_begin_array(b);
		usb_host_list(add_usb_entry, b);
		json_builder_end_array(b);
		return NULL;
	}
	if (!strcmp(cmd, "usb-attach")) {
		char newid[16];
		int port;
		if (!host)
			return "usb-attach: give the host device as \"host\": \"VID:PID\" "
			       "or \"BUS-PORT\"";
		if (usb_host_attach(host, newid, sizeof(newid), &port, why, sizeof(why)) < 0)
			return why;
		json_builder_set_member_name(b, "id");
		json_builder_add_string_value(b, newid);
		add_int(b, "port", port);
		return NULL;
	}
	if (!host && !id)
		return "usb-detach: give \"id\" (from usb-list) or \"host\"";
	return usb_host_detach(id ? id : host, why, sizeof(why)) < 0 ? why : NULL;
}

/* Runs a command; returns NULL on success with the reply members already
 * added, or an error message. */
static const char *run_command(struct vm *vm, const char *cmd, JsonObject *req,
			       JsonBuilder *b)
{
	if (!strcmp(cmd, "query")) {
		build_query(vm, b);
	} else if (!strcmp(cmd, "stats")) {
		build_stats(vm, b);
	} else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
		vm_pause(vm, cmd[0] == 'p');
	} else if (!strcmp(cmd, "shutdown")) {
		int64_t t = vm->cfg->shutdown_timeout_s;
		if (json_object_has_member(req, "timeout_s")) {
			JsonNode *n = json_object_get_member(req, "timeout_s");
			if (json_node_get_value_type(n) != G_TYPE_INT64 ||
			    (t = json_node_get_int(n)) < 0 || t > 3600)
				return "timeout_s: expected whole seconds, 0..3600";
		}
		log_info("control: pressing the ACPI power button; forcing off in %lld s "
			 "if the guest does not shut down", (long long)t);
		vm_shutdown(vm, (unsigned)t);
	} else if (!strcmp(cmd, "destroy")) {
		log_info("control: destroying the domain");
		vm_request_exit(vm, VM_EXIT_FORCED);
	} else if (!strcmp(cmd, "spice-info")) {
		/* Where a SPICE client connects; null without a console. */
		const char *uri = vm_spice_uri(vm);
		json_builder_set_member_name(b, "uri");
		if (uri)
			json_builder_add_string_value(b, uri);
		else
			json_builder_add_null_value(b);
	} else if (!strcmp(cmd, "usb-attach") || !strcmp(cmd, "usb-detach") ||
		   !strcmp(cmd, "usb-list")) {
		return usb_command(cmd, req, b);
	} else if (!strcmp(cmd, "reboot")) {
		log_info("control: resetting the domain");
		vm_request_exit(vm, VM_EXIT_REBOOT);
	} else {
		return "unknown command";
	}
	return NULL;
}

char *control_handle(struct vm *vm, const char *line, size_t len)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) e = NULL;

	if (!json_parser_load_from_data(p, line, (gssize)len, &e))
		return reply_error("bad JSON: %s", e->message);
	JsonNode *root = json_parser_get_root(p);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root))
		return reply_error("%s", "expected a JSON object like {\"cmd\":\"query\"}");
	JsonObject *req = json_node_get_object(root);
	JsonNode *cmdn = json_object_get_member(req, "cmd");
	if (!cmdn || json_node_get_value_type(cmdn) != G_TYPE_STRING)
		return reply_error("%s", "cmd: expected a string");
	const char *cmd = json_node_get_string(cmdn);

	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "ok");
	json_builder_add_boolean_value(b, TRUE);
	const char *why = run_command(vm, cmd, req, b);
	if (why && !strcmp(why, "unknown command"))
		return reply_error("unknown command '%s' (known: query, stats, pause, "
				   "resume, shutdown, destroy, reboot, spice-info, usb-attach, "
				   "usb-detach, usb-list)", cmd);
	if (why)
		return reply_error("%s", why);
	json_builder_end_object(b);
	g_autoptr(JsonNode) reply = json_builder_get_root(b);
	return json_to_string(reply, FALSE);
}

static void client_close(struct client *c)
{
	struct control *ctl = c->ctl;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i] == c)
			ctl->clients[i] = NULL;
	evloop_remove(&ctl->vm->loop, c->watch);
	close(c->fd);
	free(c);
}

static bool send_line(struct client *c, const char *s)
{
	size_t n = strlen(s);
	/* Replies are small; a client that cannot take one is dropped rather
	 * than stalling the event loop. */
	if (send(c->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n ||
	    send(c->fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
		return false;
	return true;
}

static bool process_lines(struct client *c)
{
	char *nl;
	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t n = (size_t)(nl - c->buf);
		char *reply = control_handle(c->ctl->vm, c->buf, n);
		bool ok = send_line(c, reply);
		g_free(reply);
		memmove(c->buf, nl + 1, c->len - n - 1);
		c->len -= n + 1;
		if (!ok)
			return false;
	}
	if (c->len == sizeof(c->buf)) {
		char *reply = reply_error("request longer than %s bytes", "4096");
		send_line(c, reply);
		g_free(reply);
		return false;
	}
	return true;
}

static void client_readable(void *opaque, uint32_t events)
{
	struct client *c = opaque;
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n <= 0 || (events & (EPOLLERR | EPOLLHUP) && n <= 0)) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	if (!process_lines(c))
		client_close(c);
}

static void accept_client(void *opaque, uint32_t events)
{
	(void)events;
	struct control *ctl = opaque;
	int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	int slot = -1;
	for (int i = 0; i < CONTROL_MAX_CLIENTS && slot < 0; i++)
		if (!ctl->clients[i])
			slot = i;
	struct client *c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		log_warn("control: too many clients; refusing one");
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->watch = evloop_add(&ctl->vm->loop, fd, EPOLLIN, client_readable, c);
	if (!c->watch) {
		close(fd);
		free(c);
		return;
	}
	ctl->clients[slot] = c;
}

struct control *control_open(struct vm *vm, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--control %s: path longer than %zu bytes — use a "
			 "shorter one", path, sizeof(sa.sun_path) - 1);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	struct control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctl->vm = vm;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* A socket file left by a VMM that died (or by our previous self
	 * before a restart) is replaced. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	mode_t old = umask(0077);
	int ret = ctl->fd < 0 ? -1 : bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || listen(ctl->fd, 8) < 0 ||
	    !(ctl->watch = evloop_add(&vm->loop, ctl->fd, EPOLLIN, accept_client, ctl))) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		if (ctl->fd >= 0)
			close(ctl->fd);
		free(ctl);
		return NULL;
	}
	ctl->path = strdup(path);
	return ctl;
}

void control_close(struct control *c)
{
	if (!c)
		return;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i])
			client_close(c->clients[i]);
	evloop_remove(&c->vm->loop, c->watch);
	close(c->fd);
	if (c->path)
		unlink(c->path);
	free(c->path);
	free(c);
}
