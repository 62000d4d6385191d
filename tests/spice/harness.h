/* Shared by tests/unit/test_spice_server.c and tests/spice/spice-bench.c:
 * a test VM whose display hub is fed by a synthetic framebuffer (the
 * display-device side, driven by the test), a recording input sink and
 * display source, and the headless client (spice-test-client) run as a
 * subprocess and driven line by line while the VMM's event loop runs. */
#ifndef ATOLL_SPICE_HARNESS_H
#define ATOLL_SPICE_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/testvm.h"
#include "config.h"
#include "display.h"
#include "spice_server.h"

#define HARNESS_MAX_EVENTS 256

struct harness_event {
	char kind;           /* 'k' key, 'p' pointer, 'b' button, 'w' wheel */
	uint32_t a, b;       /* code/x/steps, down/y */
};

struct harness {
	struct vm vm;
	uint8_t *fb;
	uint32_t width, height;

	pthread_mutex_t lock;
	struct harness_event events[HARNESS_MAX_EVENTS];
	unsigned n_events;
	uint32_t req_w, req_h;           /* last request_size */
	unsigned n_requests;

	pid_t client;
	int to_client, from_client;
	struct evloop_watch *from_watch;
	char buf[4096];
	size_t len;
	bool client_eof;
};

static inline void harness_record(struct harness *h, char kind, uint32_t a, uint32_t b)
{
	pthread_mutex_lock(&h->lock);
	if (h->n_events < HARNESS_MAX_EVENTS)
		h->events[h->n_events++] = (struct harness_event){ kind, a, b };
	pthread_mutex_unlock(&h->lock);
}

static inline void harness_key(void *o, uint16_t code, bool down) { harness_record(o, 'k', code, down); }
static inline void harness_pointer(void *o, uint32_t x, uint32_t y) { harness_record(o, 'p', x, y); }
static inline void harness_button(void *o, uint16_t code, bool down) { harness_record(o, 'b', code, down); }
static inline void harness_wheel(void *o, int32_t steps) { harness_record(o, 'w', (uint32_t)steps, 0); }

static inline void harness_request_size(void *o, uint32_t w, uint32_t h)
{
	struct harness *hs = o;
	pthread_mutex_lock(&hs->lock);
	hs->req_w = w;
	hs->req_h = h;
	hs->n_requests++;
	pthread_mutex_unlock(&hs->lock);
}

/* The device side: a new framebuffer of w x h, filled with `colour`. */
static inline void harness_set_mode(struct harness *h, uint32_t w, uint32_t hgt, uint32_t colour)
{
	uint8_t *old = h->fb;
	h->fb = g_malloc((size_t)w * hgt * 4);
	for (size_t i = 0; i < (size_t)w * hgt; i++)
		memcpy(h->fb + i * 4, &colour, 4);
	h->width = w;
	h->height = hgt;
	struct display_surface s = { .width = w, .height = hgt, .stride = w * 4, .pixels = h->fb };
	display_surface_changed(&h->vm.display, &s);
	g_free(old);
}

static inline void harness_fill(struct harness *h, uint32_t x, uint32_t y, uint32_t w,
				uint32_t hgt, uint32_t colour)
{
	for (uint32_t r = y; r < y + hgt && r < h->height; r++)
		for (uint32_t c = x; c < x + w && c < h->width; c++)
			memcpy(h->fb + ((size_t)r * h->width + c) * 4, &colour, 4);
}

static inline void harness_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	testvm_init(&h->vm, 16 << 20);
	display_init(&h->vm.display);
	pthread_mutex_init(&h->lock, NULL);
	h->client = -1;
	h->to_client = h->from_client = -1;
	struct input_sink sink = {
		.key = harness_key, .pointer = harness_pointer, .button = harness_button,
		.wheel = harness_wheel, .opaque = h,
	};
	display_add_input_sink(&h->vm.display, &sink);
	struct display_source src = { .request_size = harness_request_size, .opaque = h };
	display_set_source(&h->vm.display, &src);
}

static inline void harness_client_readable(void *opaque, uint32_t events)
{
	(void)events;
	struct harness *h = opaque;
	ssize_t n = read(h->from_client, h->buf + h->len, sizeof(h->buf) - 1 - h->len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		h->client_eof = true;
		evloop_remove(&h->vm.loop, h->from_watch);
		h->from_watch = NULL;
		return;
	}
	h->len += (size_t)n;
}

/* The spice-test-client next to this program's build directory, or
 * $SPICE_TEST_CLIENT. */
static inline char *harness_client_path(void)
{
	const char *env = getenv("SPICE_TEST_CLIENT");
	char self[PATH_MAX];
	ssize_t n;

	if (env)
		return g_strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	char *dir = g_path_get_dirname(self);
	char *cands[] = {
		g_build_filename(dir, "spice", "spice-test-client", NULL),
		g_build_filename(dir, "spice-test-client", NULL),
	};
	char *found = NULL;
	for (size_t i = 0; i < 2; i++) {
		if (!found && access(cands[i], X_OK) == 0)
			found = g_strdup(cands[i]);
		g_free(cands[i]);
	}
	g_free(dir);
	return found;
}

/* Start the client with `args` (NULL-terminated, after the program). */
static inline bool harness_client_start(struct harness *h, const char *const *args)
{
	int in[2], out[2];
	char *path = harness_client_path();
	if (!path || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		g_free(path);
		return false;
	}
	const char *argv[16] = { path };
	for (size_t i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	h->client = fork();
	if (h->client == 0) {
		/* The client is test tooling: its (and GLib's) one-off
		 * allocations at exit are not the server's leaks. */
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	g_free(path);
	h->to_client = in[1];
	h->from_client = out[0];
	fcntl(h->from_client, F_SETFL, O_NONBLOCK);
	h->len = 0;
	h->client_eof = false;
	h->from_watch = evloop_add(&h->vm.loop, h->from_client, EPOLLIN,
				   harness_client_readable, h);
	return h->client > 0 && h->from_watch;
}

static inline uint64_t harness_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run the VMM's loop until the client has answered a line (returned,
 * g_free it) or timeout_ms passed (NULL). */
static inline char *harness_read_line(struct harness *h, unsigned timeout_ms)
{
	uint64_t end = harness_now_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		char *nl = memchr(h->buf, '\n', h->len);
		if (nl) {
			char *line = g_strndup(h->buf, (size_t)(nl - h->buf));
			h->len -= (size_t)(nl - h->buf) + 1;
			memmove(h->buf, nl + 1, h->len);
			return line;
		}
		if (h->client_eof || harness_now_ns() >= end)
			return NULL;
		evloop_run_once(&h->vm.loop, 20);
	}
}

/* Send a command and wait for its answer. */
static inline char *harness_cmd(struct harness *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static inline char *harness_cmd(struct harness *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	char *line = g_strconcat(cmd, "\n", NULL);
	ssize_t n = write(h->to_client, line, strlen(line));
	g_free(line);
	g_free(cmd);
	if (n < 0)
		return NULL;
	return harness_read_line(h, 15000);
}

/* Pump the loop for `ms` (input events travel client -> server). */
static inline void harness_pump(struct harness *h, unsigned ms)
{
	uint64_t end = harness_now_ns() + (uint64_t)ms * 1000000u;
	while (harness_now_ns() < end)
		evloop_run_once(&h->vm.loop, 10);
}

/* Wait for the client to exit by itself; returns its exit status or -1. */
static inline int harness_client_wait(struct harness *h, unsigned timeout_ms)
{
	uint64_t end = harness_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int status;
	while (harness_now_ns() < end) {
		pid_t r = waitpid(h->client, &status, WNOHANG);
		if (r == h->client) {
			h->client = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		evloop_run_once(&h->vm.loop, 10);
	}
	return -1;
}

static inline void harness_client_stop(struct harness *h)
{
	if (h->to_client >= 0)
		close(h->to_client);
	h->to_client = -1;
	if (h->client > 0 && harness_client_wait(h, 3000) < 0) {
		kill(h->client, SIGKILL);
		waitpid(h->client, NULL, 0);
	}
	h->client = -1;
	if (h->from_watch)
		evloop_remove(&h->vm.loop, h->from_watch);
	h->from_watch = NULL;
	if (h->from_client >= 0)
		close(h->from_client);
	h->from_client = -1;
	/* Let the server notice the disconnect. */
	harness_pump(h, 100);
}

static inline void harness_destroy(struct harness *h)
{
	harness_client_stop(h);
	atoll_spice_stop(&h->vm);
	testvm_destroy(&h->vm);
	g_free(h->fb);
	h->fb = NULL;
}

#endif
