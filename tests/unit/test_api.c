/* The HTTP API end to end: the real server (api.c) runs in-process on its
 * own thread and main context, on a unix socket in a temporary run dir; the
 * test talks HTTP to it with a libsoup client over that socket. */
#include "atolld.h"
#include "pci_sysfs_fixture.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
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

typedef struct {
	char *dir, *state, *run, *domains, *vmm;
	GThread *thread;
	GMainContext *ctx;
	GMainLoop *loop;
	Atolld *d;
	GMutex lock;
	GCond cond;
	bool ready;
	bool global_ctx;   /* serve on the global default context (below) */
	SoupSession *session;
	PciSysfs *pci;     /* a sysfs tree for passthrough, or NULL */
} Fixture;

typedef struct {
	guint status;
	JsonNode *json;
	char *text;
	char *allow, *location;
} Reply;

static void reply_clear(Reply *r)
{
	if (r->json)
		json_node_unref(r->json);
	g_free(r->text);
	g_free(r->allow);
	g_free(r->location);
	memset(r, 0, sizeof(*r));
}

/* ---- the server thread ---- */

static gpointer server_thread(gpointer data)
{
	Fixture *f = data;
	g_main_context_push_thread_default(f->ctx);
	g_autoptr(GError) err = NULL;
	f->d = atolld_new(f->state, f->run, f->vmm, &err);
	g_assert_no_error(err);
	if (f->pci) {
		f->d->pci_write_fn = (void *)pci_sysfs_kernel;
		f->d->pci_write_data = f->pci;
	}
	store_load_all(f->d);
	g_assert_true(api_start(f->d, &err));
	g_assert_no_error(err);
	g_mutex_lock(&f->lock);
	f->ready = true;
	g_cond_signal(&f->cond);
	g_mutex_unlock(&f->lock);
	g_main_loop_run(f->loop);
	atolld_free(f->d);
	f->d = NULL;
	g_main_context_pop_thread_default(f->ctx);
	return NULL;
}

static void start_server(Fixture *f)
{
	f->ctx = f->global_ctx ? g_main_context_ref(g_main_context_default())
			       : g_main_context_new();
	f->loop = g_main_loop_new(f->ctx, FALSE);
	f->ready = false;
	f->thread = g_thread_new("atolld", server_thread, f);
	g_mutex_lock(&f->lock);
	while (!f->ready)
		g_cond_wait(&f->cond, &f->lock);
	g_mutex_unlock(&f->lock);

	g_autofree char *sock = g_build_filename(f->run, "atolld.sock", NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(sock);
	f->session = soup_session_new_with_options("remote-connectable", addr, NULL);
}

static gboolean quit_loop(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

static void stop_server(Fixture *f)
{
	g_clear_object(&f->session);
	g_main_context_invoke(f->ctx, quit_loop, f->loop);
	g_thread_join(f->thread);
	g_main_loop_unref(f->loop);
	g_main_context_unref(f->ctx);
}

static void setup(Fixture *f, gconstpointer data)
{
	(void)data;
	f->dir = g_dir_make_tmp("atolld-api-XXXXXX", NULL);
	f->state = g_build_filename(f->dir, "state", NULL);
	f->run = g_build_filename(f->dir, "run", NULL);
	f->domains = g_build_filename(f->state, "domains", NULL);
	f->vmm = g_build_filename(f->dir, "no-such-vmm", NULL);
	g_mutex_init(&f->lock);
	g_cond_init(&f->cond);
	start_server(f);
}

static void rm_rf(const char *path)
{
	GDir *dir = g_dir_open(path, 0, NULL);
	if (dir) {
		const char *e;
		while ((e = g_dir_read_name(dir))) {
			g_autofree char *child = g_build_filename(path, e, NULL);
			rm_rf(child);
		}
		g_dir_close(dir);
	}
	g_remove(path);
}

static void teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	stop_server(f);
	rm_rf(f->dir);
	g_free(f->dir);
	g_free(f->state);
	g_free(f->run);
	g_free(f->domains);
	g_free(f->vmm);
	g_mutex_clear(&f->lock);
	g_cond_clear(&f->cond);
}

/* ---- the client ---- */

static guint request_bytes(Fixture *f, const char *method, const char *path,
			   GBytes *body, Reply *r)
{
	reply_clear(r);
	g_autofree char *uri = g_strconcat("http://localhost", path, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
	g_assert_nonnull(msg);
	if (body)
		soup_message_set_request_body_from_bytes(msg, "application/json", body);
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) out = soup_session_send_and_read(f->session, msg, NULL, &err);
	g_assert_no_error(err);
	r->status = soup_message_get_status(msg);
	SoupMessageHeaders *h = soup_message_get_response_headers(msg);
	r->allow = g_strdup(soup_message_headers_get_one(h, "Allow"));
	r->location = g_strdup(soup_message_headers_get_one(h, "Location"));
	gsize len;
	const char *data = g_bytes_get_data(out, &len);
	r->text = g_strndup(data ? data : "", len);
	const char *type = soup_message_headers_get_content_type(h, NULL);
	if (g_strcmp0(type, "application/json") == 0) {
		g_autoptr(JsonParser) p = json_parser_new();
		g_assert_true(json_parser_load_from_data(p, r->text, (gssize)len, NULL));
		r->json = json_node_ref(json_parser_get_root(p));
	}
	return r->status;
}

static guint request(Fixture *f, const char *method, const char *path,
		     const char *body, Reply *r)
{
	g_autoptr(GBytes) b = body ? g_bytes_new(body, strlen(body)) : NULL;
	return request_bytes(f, method, path, b, r);
}

static JsonObject *obj(Reply *r)
{
	g_assert_nonnull(r->json);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(r->json));
	return json_node_get_object(r->json);
}

/* Checks {"error": {"code": code, "message": ..., "field": field}}. */
static void assert_error(Reply *r, guint status, const char *code,
			 const char *field)
{
	if (r->status != status)
		g_error("expected status %u, got %u: %s", status, r->status, r->text);
	JsonObject *e = json_object_get_object_member(obj(r), "error");
	g_assert_nonnull(e);
	g_assert_cmpstr(json_object_get_string_member(e, "code"), ==, code);
	const char *msg = json_object_get_string_member(e, "message");
	g_assert_true(msg && *msg);
	if (field) {
		g_assert_cmpstr(json_object_get_string_member_with_default(e, "field", NULL),
				==, field);
		g_assert_true(g_str_has_prefix(msg, field));
	}
}

#define DEF(name, extra) \
	"{\"name\":\"" name "\",\"memory_mib\":256,\"vcpus\":1," \
	"\"kernel\":\"/boot/vmlinuz\"" extra "}"

static gint cmp_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *listing(Fixture *f)
{
	g_autoptr(GDir) gd = g_dir_open(f->domains, 0, NULL);
	g_autoptr(GString) s = g_string_new(NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *e;
	while ((e = g_dir_read_name(gd))) {
		g_autofree char *path = g_build_filename(f->domains, e, NULL);
		g_autofree char *text = NULL;
		g_file_get_contents(path, &text, NULL, NULL);
		g_ptr_array_add(names, g_strdup_printf("%s=%s", e, text));
	}
	g_ptr_array_sort(names, cmp_names);
	for (guint i = 0; i < names->len; i++)
		g_string_append_printf(s, "%s\n", (char *)g_ptr_array_index(names, i));
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* ---- tests ---- */

static void test_crud(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	g_assert_cmpuint(request(f, "GET", "/v1/domains", NULL, &r), ==, 200);
	g_assert_true(JSON_NODE_HOLDS_ARRAY(r.json));
	g_assert_cmpuint(json_array_get_length(json_node_get_array(r.json)), ==, 0);

	g_assert_cmpuint(request(f, "POST", "/v1/domains",
		DEF("work", ",\"nics\":[{\"type\":\"user\"}],\"label\":\"#3584e4\""),
		&r), ==, 201);
	g_assert_cmpstr(r.location, ==, "/v1/domains/work");
	g_assert_cmpstr(json_object_get_string_member(obj(&r), "name"), ==, "work");
	JsonObject *st = json_object_get_object_member(obj(&r), "status");
	g_assert_cmpstr(json_object_get_string_member(st, "state"), ==, "shutoff");
	g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(st, "spice")));
	g_assert_cmpstr(json_object_get_string_member(
		json_object_get_object_member(obj(&r), "graphics"), "type"), ==, "none");
	g_autofree char *path = g_build_filename(f->domains, "work.json", NULL);
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));

	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("work", ""), &r), ==, 409);
	assert_error(&r, 409, "conflict", "name");

	g_assert_cmpuint(request(f, "GET", "/v1/domains", NULL, &r), ==, 200);
	JsonArray *list = json_node_get_array(r.json);
	g_assert_cmpuint(json_array_get_length(list), ==, 1);
	JsonObject *e = json_array_get_object_element(list, 0);
	g_assert_cmpstr(json_object_get_string_member(e, "name"), ==, "work");
	g_assert_cmpstr(json_object_get_string_member(e, "state"), ==, "shutoff");
	g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(e, "id")));
	g_assert_cmpint(json_object_get_int_member(e, "memory_mib"), ==, 256);
	g_assert_cmpint(json_object_get_int_member(e, "vcpus"), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(e, "label"), ==, "#3584e4");
	g_assert_false(json_object_get_boolean_member(e, "autostart"));
	g_assert_true(json_object_has_member(e, "cpu_time_s"));
	g_assert_true(json_object_has_member(e, "uptime_s"));

	/* GET-edit-PUT: "status" from GET is accepted and ignored. */
	g_assert_cmpuint(request(f, "GET", "/v1/domains/work", NULL, &r), ==, 200);
	JsonObject *def = obj(&r);
	json_object_set_int_member(def, "memory_mib", 2048);
	g_autofree char *edited = json_to_string(r.json, FALSE);
	g_assert_cmpuint(request(f, "PUT", "/v1/domains/work", edited, &r), ==, 200);
	g_assert_cmpint(json_object_get_int_member(obj(&r), "memory_mib"), ==, 2048);
	g_assert_cmpuint(request(f, "GET", "/v1/domains/work", NULL, &r), ==, 200);
	g_assert_cmpint(json_object_get_int_member(obj(&r), "memory_mib"), ==, 2048);

	/* Renaming by PUT is refused. */
	request(f, "PUT", "/v1/domains/work", DEF("other", ""), &r);
	assert_error(&r, 400, "bad-request", "name");

	g_assert_cmpuint(request(f, "DELETE", "/v1/domains/work", NULL, &r), ==, 200);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	request(f, "GET", "/v1/domains/work", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
	request(f, "DELETE", "/v1/domains/work", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
	request(f, "PUT", "/v1/domains/nope", DEF("nope", ""), &r);
	assert_error(&r, 404, "not-found", NULL);
	reply_clear(&r);
}

typedef struct {
	const char *body;
	const char *field;   /* NULL: no field (e.g. not JSON) */
} BadBody;

static const BadBody bad_bodies[] = {
	{ "{\"name\": \"x\",", NULL },
	{ "not json", NULL },
	{ "", NULL },
	{ "[]", NULL },
	{ DEF("x", ",\"colour\":\"red\""), "colour" },
	{ "{\"name\":\"x\",\"memory_mib\":\"256\",\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"x\",\"memory_mib\":256,\"vcpus\":true,\"kernel\":\"/k\"}", "vcpus" },
	{ "{\"name\":\"a/b\",\"memory_mib\":256,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":\"..\",\"memory_mib\":256,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":\"x\",\"memory_mib\":4194304,\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"x\",\"memory_mib\":256,\"vcpus\":1000,\"kernel\":\"/k\"}", "vcpus" },
	{ "{\"name\":\"x\",\"memory_mib\":256,\"vcpus\":1}", "kernel" },
	{ DEF("x", ",\"disks\":[{\"path\":\"/a\"},{\"path\":7}]"), "disks[1].path" },
	{ DEF("x", ",\"nics\":[{\"type\":\"user\",\"mac\":\"zz\"}]"), "nics[0].mac" },
	{ DEF("x", ",\"on_reboot\":\"reboot\""), "on_reboot" },
	{ DEF("x", ",\"label\":\"red\""), "label" },
	{ DEF("x", ",\"graphics\":{\"type\":\"vnc\"}"), "graphics.type" },
	{ DEF("x", ",\"graphics\":{\"type\":\"spice\",\"gpu\":\"qxl\"}"), "graphics.gpu" },
};

static void test_bad_requests(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("keep", ""), &r), ==, 201);
	g_autofree char *before = listing(f);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_bodies); i++) {
		request(f, "POST", "/v1/domains", bad_bodies[i].body, &r);
		assert_error(&r, 400, "bad-request", bad_bodies[i].field);
		/* The same body as a replacement changes nothing either. */
		request(f, "PUT", "/v1/domains/keep", bad_bodies[i].body, &r);
		g_assert_cmpuint(r.status, ==, 400);
	}
	g_autofree char *after = listing(f);
	g_assert_cmpstr(after, ==, before);
	g_assert_cmpuint(request(f, "GET", "/v1/domains", NULL, &r), ==, 200);
	g_assert_cmpuint(json_array_get_length(json_node_get_array(r.json)), ==, 1);
	reply_clear(&r);
}

static void test_too_large(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	/* A valid definition padded past 1 MiB with a long cmdline. */
	g_autoptr(GString) s = g_string_new("{\"name\":\"big\",\"memory_mib\":256,"
					    "\"vcpus\":1,\"kernel\":\"/k\",\"cmdline\":\"");
	while (s->len <= ATOLLD_MAX_BODY)
		g_string_append(s, "xxxxxxxxxxxxxxxx");
	g_string_append(s, "\"}");
	g_autoptr(GBytes) body = g_bytes_new(s->str, s->len);
	request_bytes(f, "POST", "/v1/domains", body, &r);
	assert_error(&r, 413, "too-large", NULL);
	g_autofree char *files = listing(f);
	g_assert_cmpstr(files, ==, "");
	/* The server still answers afterwards (the refused connection may be
	 * closed, so on a new one). */
	g_clear_object(&f->session);
	g_autofree char *sock = g_build_filename(f->run, "atolld.sock", NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(sock);
	f->session = soup_session_new_with_options("remote-connectable", addr, NULL);
	g_assert_cmpuint(request(f, "GET", "/v1/domains", NULL, &r), ==, 200);
	reply_clear(&r);
}

static void test_routes(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	request(f, "GET", "/v1/nothing", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
	request(f, "GET", "/", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
	request(f, "GET", "/v2/domains", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
	request(f, "DELETE", "/v1/domains", NULL, &r);
	assert_error(&r, 405, "method-not-allowed", NULL);
	g_assert_cmpstr(r.allow, ==, "GET, POST");
	request(f, "POST", "/v1/host", NULL, &r);
	assert_error(&r, 405, "method-not-allowed", NULL);
	request(f, "GET", "/v1/domains?bogus=1", NULL, &r);
	assert_error(&r, 400, "bad-request", "?bogus");

	g_assert_cmpuint(request(f, "GET", "/v1/host", NULL, &r), ==, 200);
	g_assert_cmpint(json_object_get_int_member(obj(&r), "cpus"), >=, 1);
	g_assert_cmpint(json_object_get_int_member(obj(&r), "memory_bytes"), >, 0);
	g_assert_true(json_object_has_member(obj(&r), "kvm"));
	g_assert_cmpstr(json_object_get_string_member(obj(&r), "version"), ==,
			ATOLL_VERSION);

	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("vm", ""), &r), ==, 201);
	request(f, "GET", "/v1/domains/vm/bogus", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
	request(f, "GET", "/v1/domains/vm/start", NULL, &r);
	assert_error(&r, 405, "method-not-allowed", NULL);
	request(f, "DELETE", "/v1/domains/vm?delete_disks=maybe", NULL, &r);
	assert_error(&r, 400, "bad-request", "?delete_disks");
	request(f, "GET", "/v1/domains/vm/stats?since=yesterday", NULL, &r);
	assert_error(&r, 400, "bad-request", "?since");
	g_assert_cmpuint(request(f, "GET", "/v1/domains/vm/stats?since=0", NULL, &r), ==, 200);
	g_assert_true(JSON_NODE_HOLDS_ARRAY(r.json));
	g_assert_cmpuint(request(f, "GET", "/v1/domains/vm/console/log", NULL, &r), ==, 200);
	g_assert_cmpstr(r.text, ==, "");
	reply_clear(&r);
}

static void test_lifecycle_conflicts(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("vm", ""), &r), ==, 201);
	static const char *const not_running[] = {
		"shutdown", "destroy", "reboot", "pause", "unpause",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(not_running); i++) {
		g_autofree char *p = g_strdup_printf("/v1/domains/vm/%s", not_running[i]);
		request(f, "POST", p, NULL, &r);
		assert_error(&r, 409, "conflict", NULL);
	}
	request(f, "POST", "/v1/domains/vm/shutdown", "{\"timeout_s\":\"soon\"}", &r);
	assert_error(&r, 400, "bad-request", "timeout_s");
	request(f, "POST", "/v1/domains/vm/shutdown", "{\"wait\":1}", &r);
	assert_error(&r, 400, "bad-request", "wait");
	request(f, "POST", "/v1/domains/nope/start", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
#ifdef ATOLLD_HAVE_SUPERVISOR
	/* The VMM binary is missing: a host error that says what to do. */
	request(f, "POST", "/v1/domains/vm/start", NULL, &r);
	assert_error(&r, 500, "host-error", NULL);
	request(f, "GET", "/v1/domains/vm", NULL, &r);
	JsonObject *st = json_object_get_object_member(obj(&r), "status");
	g_assert_cmpstr(json_object_get_string_member(st, "state"), ==, "shutoff");
#else
	g_test_message("supervisor.c not built: start not tested");
#endif
	reply_clear(&r);
}

#ifdef ATOLLD_HAVE_SUPERVISOR
/* A stand-in VMM that just stays alive: enough for the API's conflict
 * checks and for the rule that stopping atolld leaves VMMs running. */
static void test_lifecycle_running(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	stop_server(f);
	g_assert_true(g_file_set_contents(f->vmm, "#!/bin/sh\nexec sleep 30\n", -1, NULL));
	g_assert_cmpint(g_chmod(f->vmm, 0755), ==, 0);
	start_server(f);
	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("vm", ""), &r), ==, 201);
	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm/start", NULL, &r), ==, 200);
	JsonObject *st = json_object_get_object_member(obj(&r), "status");
	g_assert_cmpstr(json_object_get_string_member(st, "state"), !=, "shutoff");
	gint64 pid = json_object_get_int_member(st, "pid");
	g_assert_cmpint(pid, >, 0);

	request(f, "POST", "/v1/domains/vm/start", NULL, &r);
	assert_error(&r, 409, "conflict", NULL);
	request(f, "DELETE", "/v1/domains/vm", NULL, &r);
	assert_error(&r, 409, "conflict", NULL);
	g_assert_cmpuint(request(f, "GET", "/v1/domains", NULL, &r), ==, 200);
	JsonObject *e = json_array_get_object_element(json_node_get_array(r.json), 0);
	g_assert_cmpint(json_object_get_int_member(e, "id"), ==, pid);
	/* Replacing the definition of a running domain is allowed. */
	g_assert_cmpuint(request(f, "PUT", "/v1/domains/vm",
		"{\"name\":\"vm\",\"memory_mib\":512,\"vcpus\":1,\"kernel\":\"/k\"}",
		&r), ==, 200);

	/* Stopping the daemon leaves the VMM running. */
	stop_server(f);
	g_assert_cmpint(kill((pid_t)pid, 0), ==, 0);
	kill((pid_t)pid, SIGKILL);
	/* Its parent is this test process, no longer watching it. */
	g_assert_cmpint(waitpid((pid_t)pid, NULL, 0), ==, pid);
	start_server(f);
	reply_clear(&r);
}
#endif

/* ---- a fake atoll-vmm: this binary again, answering the control socket
 * (spice-info as atoll-vmm does, query, destroy) ---- */

static int vmm_listen(const char *path)
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

static const char *vmm_flag(int argc, char **argv, const char *flag)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], flag))
			return argv[i + 1];
	return NULL;
}

static int fake_vmm(int argc, char **argv)
{
	const char *control = vmm_flag(argc, argv, "--control");
	const char *spice = vmm_flag(argc, argv, "--spice");
	char reply[600];
	if (!control)
		return 1;
	spice = spice && g_str_has_prefix(spice, "unix:") ? spice + 5 : NULL;
	const char *argv_file = getenv("ATOLL_TEST_FAKE_VMM_ARGV");
	if (argv_file) {
		g_autofree char *all = g_strjoinv(" ", argv + 1);
		g_file_set_contents(argv_file, all, -1, NULL);
	}
	struct pollfd fds[8] = { { .fd = vmm_listen(control), .events = POLLIN } };
	int n = 1;
	for (;;) {
		if (poll(fds, (nfds_t)n, -1) < 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < 8)
			fds[n++] = (struct pollfd){ .fd = accept4(fds[0].fd, NULL, NULL, SOCK_CLOEXEC),
						    .events = POLLIN };
		for (int i = 1; i < n; i++) {
			char line[512];
			ssize_t got;
			if (!fds[i].revents || (got = read(fds[i].fd, line, sizeof(line) - 1)) <= 0) {
				if (fds[i].revents)
					fds[i--] = fds[--n];
				continue;
			}
			line[got] = '\0';
			if (strstr(line, "\"destroy\"")) {
				unlink(control);
				exit(4);
			}
			if (strstr(line, "\"spice-info\"") && spice)
				snprintf(reply, sizeof(reply), "{\"ok\":true,\"uri\":\"spice+unix://%s\"}\n", spice);
			else if (strstr(line, "\"spice-info\""))
				snprintf(reply, sizeof(reply), "{\"ok\":true,\"uri\":null}\n");
			else
				snprintf(reply, sizeof(reply), "{\"ok\":true,\"state\":\"running\",\"boot_count\":1}\n");
			/* requests may arrive together; answer each line */
			for (char *p = line; (p = strchr(p, '\n')); p++)
				if (write(fds[i].fd, reply, strlen(reply)) < 0)
					break;
		}
	}
}

/* The supervisor's control client and timers live on the global default
 * context, so the server thread runs that one, and this thread's client
 * gets a context of its own. */
static GMainContext *use_fake_vmm(Fixture *f)
{
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *script = g_strdup_printf("#!/bin/sh\nATOLL_TEST_FAKE_VMM=1 exec '%s' \"$@\"\n",
						  self);
	GMainContext *own = g_main_context_new();
	stop_server(f);
	f->global_ctx = true;
	g_main_context_push_thread_default(own);
	g_assert_true(g_file_set_contents(f->vmm, script, -1, NULL));
	g_assert_cmpint(g_chmod(f->vmm, 0755), ==, 0);
	start_server(f);
	return own;
}

/* GET until status.state is `state`; returns status.spice (or NULL). */
static const char *wait_status(Fixture *f, Reply *r, const char *state)
{
	for (int i = 0; i < 500; i++) {
		g_assert_cmpuint(request(f, "GET", "/v1/domains/vm", NULL, r), ==, 200);
		JsonObject *st = json_object_get_object_member(obj(r), "status");
		if (!g_strcmp0(json_object_get_string_member(st, "state"), state)) {
			JsonNode *sp = json_object_get_member(st, "spice");
			g_assert_nonnull(sp);
			if (JSON_NODE_HOLDS_NULL(sp))
				return NULL;
			return json_object_get_string_member(json_node_get_object(sp), "uri");
		}
		g_usleep(20000);
	}
	g_error("domain vm never became %s: %s", state, r->text);
}

static void test_spice_status(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	GMainContext *own = use_fake_vmm(f);
	g_assert_cmpuint(request(f, "POST", "/v1/domains",
		DEF("vm", ",\"graphics\":{\"type\":\"spice\"}"), &r), ==, 201);
	JsonObject *g = json_object_get_object_member(obj(&r), "graphics");
	g_assert_cmpstr(json_object_get_string_member(g, "type"), ==, "spice");
	g_assert_cmpstr(json_object_get_string_member(g, "gpu"), ==, "virtio");
	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm/start", NULL, &r), ==, 200);
	g_autofree char *want = g_strdup_printf("spice+unix://%s/vmm/vm.spice", f->run);
	g_assert_cmpstr(wait_status(f, &r, "running"), ==, want);

	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm/destroy", NULL, &r), ==, 200);
	g_assert_null(wait_status(f, &r, "shutoff"));

	/* no graphics: the VMM says null, so does the status */
	g_assert_cmpuint(request(f, "PUT", "/v1/domains/vm", DEF("vm", ""), &r), ==, 200);
	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm/start", NULL, &r), ==, 200);
	g_assert_null(wait_status(f, &r, "running"));
	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm/destroy", NULL, &r), ==, 200);
	wait_status(f, &r, "shutoff");
	reply_clear(&r);
	stop_server(f);
	g_main_context_pop_thread_default(own);
	g_main_context_unref(own);
	f->global_ctx = false;
	start_server(f);
}

static void test_broken_file(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	stop_server(f);
	g_autofree char *path = g_build_filename(f->domains, "old.json", NULL);
	const char *garbage = "{\"name\": \"old\", \"memory_mib\": ";
	g_assert_true(g_file_set_contents(path, garbage, -1, NULL));
	start_server(f);

	g_assert_cmpuint(request(f, "GET", "/v1/domains", NULL, &r), ==, 200);
	JsonObject *e = json_array_get_object_element(json_node_get_array(r.json), 0);
	g_assert_cmpstr(json_object_get_string_member(e, "name"), ==, "old");
	g_assert_cmpstr(json_object_get_string_member(e, "state"), ==, "broken");
	g_assert_nonnull(strstr(json_object_get_string_member(e, "error"), "JSON"));

	request(f, "POST", "/v1/domains", DEF("old", ""), &r);
	assert_error(&r, 409, "conflict", "name");
	request(f, "POST", "/v1/domains/old/start", NULL, &r);
	assert_error(&r, 409, "conflict", NULL);
	g_assert_cmpuint(request(f, "GET", "/v1/domains/old", NULL, &r), ==, 200);
	JsonObject *st = json_object_get_object_member(obj(&r), "status");
	g_assert_cmpstr(json_object_get_string_member(st, "state"), ==, "broken");

	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, garbage);

	/* An explicit PUT is how the user repairs it. */
	g_assert_cmpuint(request(f, "PUT", "/v1/domains/old", DEF("old", ""), &r), ==, 200);
	st = json_object_get_object_member(obj(&r), "status");
	g_assert_cmpstr(json_object_get_string_member(st, "state"), ==, "shutoff");
	reply_clear(&r);
}

static void test_restart(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	g_assert_cmpuint(request(f, "POST", "/v1/domains",
		DEF("b", ",\"disks\":[{\"path\":\"/img/b\",\"serial\":\"S1\"}],"
		    "\"nics\":[{\"type\":\"isolated\"}],\"autostart\":false"), &r), ==, 201);
	g_autofree char *defined = json_to_string(r.json, FALSE);
	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("a", ""), &r), ==, 201);
	stop_server(f);
	start_server(f);
	g_assert_cmpuint(request(f, "GET", "/v1/domains/b", NULL, &r), ==, 200);
	g_autofree char *again = json_to_string(r.json, FALSE);
	g_assert_cmpstr(again, ==, defined);   /* generated MAC included */
	g_assert_cmpuint(request(f, "GET", "/v1/domains", NULL, &r), ==, 200);
	JsonArray *list = json_node_get_array(r.json);
	g_assert_cmpuint(json_array_get_length(list), ==, 2);
	g_assert_cmpstr(json_object_get_string_member(
		json_array_get_object_element(list, 0), "name"), ==, "a");
	reply_clear(&r);
}

static void test_delete_disks(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	g_autofree char *own = g_build_filename(f->dir, "own.img", NULL);
	g_autofree char *shared = g_build_filename(f->dir, "shared.img", NULL);
	g_autofree char *base = g_build_filename(f->dir, "base.img", NULL);
	g_assert_true(g_file_set_contents(own, "x", -1, NULL));
	g_assert_true(g_file_set_contents(shared, "x", -1, NULL));
	g_assert_true(g_file_set_contents(base, "x", -1, NULL));
	g_autofree char *one = g_strdup_printf(DEF("one", ",\"disks\":[{\"path\":\"%s\"},"
		"{\"path\":\"%s\"},{\"path\":\"%s\",\"readonly\":true},{\"path\":\"/dev/null\"}]"),
		own, shared, base);
	g_autofree char *two = g_strdup_printf(DEF("two", ",\"disks\":[{\"path\":\"%s\"}]"),
					       shared);
	g_assert_cmpuint(request(f, "POST", "/v1/domains", one, &r), ==, 201);
	g_assert_cmpuint(request(f, "POST", "/v1/domains", two, &r), ==, 201);
	g_assert_cmpuint(request(f, "DELETE", "/v1/domains/one?delete_disks=true",
				 NULL, &r), ==, 200);
	JsonArray *deleted = json_object_get_array_member(obj(&r), "deleted_disks");
	g_assert_cmpuint(json_array_get_length(deleted), ==, 1);
	g_assert_cmpstr(json_array_get_string_element(deleted, 0), ==, own);
	g_assert_cmpuint(json_array_get_length(
		json_object_get_array_member(obj(&r), "kept_disks")), ==, 3);
	g_assert_false(g_file_test(own, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(shared, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(base, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test("/dev/null", G_FILE_TEST_EXISTS));
	reply_clear(&r);
}

static void test_socket_mode(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *sock = g_build_filename(f->run, "atolld.sock", NULL);
	struct stat st;
	g_assert_cmpint(stat(sock, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	g_assert_cmpint(st.st_mode & 0777, ==, 0660);
	/* A second daemon on the same run dir refuses to steal the socket. */
	g_autoptr(GError) err = NULL;
	Atolld *other = atolld_new(f->state, f->run, f->vmm, &err);
	g_assert_no_error(err);
	g_assert_false(api_start(other, &err));
	g_assert_error(err, ATOLLD_ERROR, ATOLLD_ERROR_HOST);
	atolld_free(other);
	g_assert_cmpint(stat(sock, &st), ==, 0);
}

static void test_libvirt_routes(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
#ifdef ATOLLD_HAVE_LIBVIRT
	/* ATOLL_LIBVIRT_URI=test:///default (set in main): libvirt's test
	 * driver has one network, "default". */
	g_assert_cmpuint(request(f, "GET", "/v1/networks", NULL, &r), ==, 200);
	JsonArray *nets = json_node_get_array(r.json);
	g_assert_cmpuint(json_array_get_length(nets), >=, 1);
	g_assert_cmpstr(json_object_get_string_member(
		json_array_get_object_element(nets, 0), "name"), ==, "default");
	request(f, "GET", "/v1/host/devices?type=floppy", NULL, &r);
	assert_error(&r, 400, "bad-request", "?type");
	request(f, "POST", "/v1/import-libvirt", "{\"domain\":\"test\",\"bogus\":1}", &r);
	assert_error(&r, 400, "bad-request", "bogus");
	request(f, "POST", "/v1/import-libvirt", "{\"domain\":\"no-such-vm\"}", &r);
	assert_error(&r, 404, "not-found", NULL);
#else
	request(f, "GET", "/v1/networks", NULL, &r);
	assert_error(&r, 500, "host-error", NULL);
	g_assert_nonnull(strstr(r.text, "built without libvirt"));
#endif
	request(f, "POST", "/v1/networks", NULL, &r);
	assert_error(&r, 405, "method-not-allowed", NULL);
	reply_clear(&r);
}

/* ---- passthrough: host PCI (a sysfs tree) and USB ---- */

/* Restarts atolld on a fresh sysfs tree (pci_sysfs_fixture.h). */
static void use_pci_sysfs(Fixture *f, PciSysfs *ps)
{
	memset(ps, 0, sizeof(*ps));
	pci_sysfs_set_up(ps, NULL);
	stop_server(f);
	g_setenv("ATOLL_SYSFS_ROOT", ps->root, TRUE);
	f->pci = ps;
	start_server(f);
}

static void drop_pci_sysfs(Fixture *f, PciSysfs *ps)
{
	stop_server(f);
	g_unsetenv("ATOLL_SYSFS_ROOT");
	f->pci = NULL;
	pci_sysfs_tear_down(ps, NULL);
	start_server(f);
}

static JsonObject *find_address(JsonArray *a, const char *bdf)
{
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);
		if (!g_strcmp0(json_object_get_string_member(o, "address"), bdf))
			return o;
	}
	return NULL;
}

static bool has_check(JsonObject *pf, const char *check, const char *result,
		      const char *text)
{
	JsonArray *a = json_object_get_array_member(pf, "checks");
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonObject *c = json_array_get_object_element(a, i);
		if (!g_strcmp0(json_object_get_string_member(c, "check"), check) &&
		    !g_strcmp0(json_object_get_string_member(c, "result"), result) &&
		    (!text || strstr(json_object_get_string_member(c, "message"), text)))
			return true;
	}
	return false;
}

static void test_host_pci(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	PciSysfs ps;
	use_pci_sysfs(f, &ps);

	g_assert_cmpuint(request(f, "GET", "/v1/host/pci", NULL, &r), ==, 200);
	JsonArray *all = json_node_get_array(r.json);
	g_assert_cmpuint(json_array_get_length(all), ==, G_N_ELEMENTS(pci_sysfs_devs));
	JsonObject *nic = find_address(all, "0000:00:06.0");
	g_assert_nonnull(nic);
	g_assert_cmpstr(json_object_get_string_member(nic, "driver"), ==, "e1000");
	g_assert_cmpint(json_object_get_int_member(nic, "iommu_group"), ==, 5);
	g_assert_true(json_object_get_null_member(nic, "used_by"));
	JsonObject *pf = json_object_get_object_member(nic, "preflight");
	g_assert_false(json_object_get_boolean_member(pf, "passed"));
	g_assert_true(has_check(pf, "group", "fail", "e1000"));

	g_assert_cmpuint(request(f, "GET", "/v1/host/pci/00:06.0/preflight", NULL, &r), ==, 200);
	g_assert_false(json_object_get_boolean_member(obj(&r), "passed"));
	g_assert_true(has_check(obj(&r), "group", "fail",
				"atoll pci-assignable-add 0000:00:06.0"));
	request(f, "GET", "/v1/host/pci/zz/preflight", NULL, &r);
	assert_error(&r, 400, "bad-request", NULL);
	request(f, "GET", "/v1/host/pci/0000:09:00.0/preflight", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
	request(f, "GET", "/v1/host/pci/00:02.0/preflight?force=maybe", NULL, &r);
	assert_error(&r, 400, "bad-request", "?force");
	g_assert_cmpuint(request(f, "GET", "/v1/host/pci/00:02.0/preflight?force=true",
				 NULL, &r), ==, 200);
	g_assert_true(has_check(obj(&r), "boot-vga", "warn", NULL));
	request(f, "POST", "/v1/host/pci", NULL, &r);
	assert_error(&r, 405, "method-not-allowed", NULL);
	request(f, "GET", "/v1/host/pci/00:06.0/bogus", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);

	/* make assignable, then release: e1000 comes back */
	request(f, "POST", "/v1/host/pci/assignable", "{\"addr\":\"00:06.0\"}", &r);
	assert_error(&r, 400, "bad-request", "address");
	g_assert_cmpuint(request(f, "POST", "/v1/host/pci/assignable",
				 "{\"address\":\"00:06.0\"}", &r), ==, 200);
	JsonObject *dev = json_array_get_object_element(
		json_object_get_array_member(obj(&r), "devices"), 0);
	g_assert_cmpstr(json_object_get_string_member(dev, "driver"), ==, "vfio-pci");
	g_assert_cmpstr(json_object_get_string_member(dev, "original_driver"), ==, "e1000");
	g_autofree char *now = pci_sysfs_driver(&ps, "0000:00:06.0");
	g_assert_cmpstr(now, ==, "vfio-pci");
	g_assert_cmpuint(request(f, "GET", "/v1/host/pci/assignable", NULL, &r), ==, 200);
	JsonObject *listed = find_address(json_node_get_array(r.json), "0000:00:06.0");
	g_assert_nonnull(listed);
	g_assert_cmpstr(json_object_get_string_member(listed, "original_driver"), ==, "e1000");
	g_assert_cmpuint(request(f, "DELETE", "/v1/host/pci/assignable/0000:00:06.0",
				 NULL, &r), ==, 200);
	g_autofree char *back = pci_sysfs_driver(&ps, "0000:00:06.0");
	g_assert_cmpstr(back, ==, "e1000");

	/* a group whose other endpoints the host uses: only when asked */
	request(f, "POST", "/v1/host/pci/assignable", "{\"address\":\"00:1f.3\"}", &r);
	assert_error(&r, 409, "conflict", NULL);
	g_assert_nonnull(strstr(r.text, "0000:00:1f.0 (lpc_ich), 0000:00:1f.2 (ahci)"));
	g_assert_nonnull(strstr(r.text, "--group"));
	g_autofree char *ahci = pci_sysfs_driver(&ps, "0000:00:1f.2");
	g_assert_cmpstr(ahci, ==, "ahci");
	request(f, "POST", "/v1/host/pci/assignable",
		"{\"address\":\"00:1f.3\",\"group\":\"yes\"}", &r);
	assert_error(&r, 400, "bad-request", "address");
	g_assert_cmpuint(request(f, "POST", "/v1/host/pci/assignable",
		"{\"address\":\"00:1f.3\",\"group\":true}", &r), ==, 200);
	g_autofree char *ahci2 = pci_sysfs_driver(&ps, "0000:00:1f.2");
	g_assert_cmpstr(ahci2, ==, "vfio-pci");
	g_assert_cmpuint(request(f, "DELETE", "/v1/host/pci/assignable/00:1f.3",
				 NULL, &r), ==, 200);
	g_autofree char *ahci3 = pci_sysfs_driver(&ps, "0000:00:1f.2");
	g_autofree char *smbus = pci_sysfs_driver(&ps, "0000:00:1f.3");
	g_assert_cmpstr(ahci3, ==, "ahci");
	g_assert_null(smbus);

	/* a bind that fails is rolled back and reported */
	ps.fail_probe = g_strdup("0000:01:00.1");
	request(f, "POST", "/v1/host/pci/assignable", "{\"address\":\"01:00.0\"}", &r);
	assert_error(&r, 409, "conflict", NULL);   /* the audio function is the host's */
	g_assert_nonnull(strstr(r.text, "0000:01:00.1 (snd_hda_intel)"));
	request(f, "POST", "/v1/host/pci/assignable",
		"{\"address\":\"01:00.0\",\"group\":true}", &r);
	assert_error(&r, 500, "host-error", NULL);
	g_assert_nonnull(strstr(r.text, "did not bind to vfio-pci"));
	g_autofree char *gpu = pci_sysfs_driver(&ps, "0000:01:00.0");
	g_assert_cmpstr(gpu, ==, "nouveau");

	/* definitions: functions of one device go together */
	request(f, "POST", "/v1/domains",
		DEF("game", ",\"pci\":[{\"host\":\"01:00.0\"}]"), &r);
	assert_error(&r, 400, "bad-request", "pci[0].host");
	g_assert_nonnull(strstr(r.text, "0000:01:00.1"));
	g_assert_cmpuint(request(f, "POST", "/v1/domains",
		DEF("game", ",\"pci\":[{\"host\":\"01:00.0\",\"rom\":\"/r.rom\"},"
		    "{\"host\":\"0000:01:00.1\"}]"), &r), ==, 201);
	JsonArray *pci = json_object_get_array_member(obj(&r), "pci");
	g_assert_cmpstr(json_object_get_string_member(
		json_array_get_object_element(pci, 0), "host"), ==, "0000:01:00.0");

	/* USB: this machine's real devices through libusb, if it has any */
	guint st = request(f, "GET", "/v1/host/usb", NULL, &r);
	if (st == 200) {
		JsonArray *usb = json_node_get_array(r.json);
		for (guint i = 0; i < json_array_get_length(usb); i++) {
			JsonObject *u = json_array_get_object_element(usb, i);
			g_assert_true(json_object_has_member(u, "used_by"));
			g_assert_nonnull(json_object_get_string_member(u, "id"));
		}
	} else {
		assert_error(&r, 500, "host-error", NULL);
		g_assert_nonnull(strstr(r.text, "libusb"));
	}
	request(f, "GET", "/v1/host/usb/1-1", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);
	reply_clear(&r);
	drop_pci_sysfs(f, &ps);
}

#ifdef ATOLLD_HAVE_SUPERVISOR
static GMainContext *use_fake_vmm(Fixture *f);
static const char *wait_status(Fixture *f, Reply *r, const char *state);

/* Start binds the definition's devices and hands them to the VMM; a
 * second domain wanting them is refused by name; stop releases. */
static void test_passthrough_start(Fixture *f, gconstpointer data)
{
	(void)data;
	Reply r = { 0 };
	PciSysfs ps;
	memset(&ps, 0, sizeof(ps));
	pci_sysfs_set_up(&ps, NULL);
	g_setenv("ATOLL_SYSFS_ROOT", ps.root, TRUE);
	f->pci = &ps;
	g_autofree char *argv_file = g_build_filename(f->dir, "vmm-argv", NULL);
	g_setenv("ATOLL_TEST_FAKE_VMM_ARGV", argv_file, TRUE);
	GMainContext *own = use_fake_vmm(f);

	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("vm",
		",\"pci\":[{\"host\":\"00:06.0\"}],\"usb\":[{\"host\":\"46F4:0001\"}]"),
		&r), ==, 201);
	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("vm2",
		",\"pci\":[{\"host\":\"0000:00:06.0\"}]"), &r), ==, 201);
	g_assert_cmpuint(request(f, "POST", "/v1/domains", DEF("vm3",
		",\"usb\":[{\"host\":\"46f4:0001\"}]"), &r), ==, 201);
	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm/start", NULL, &r), ==, 200);
	g_autofree char *bound = pci_sysfs_driver(&ps, "0000:00:06.0");
	g_assert_cmpstr(bound, ==, "vfio-pci");
	wait_status(f, &r, "running");
	JsonObject *st = json_object_get_object_member(obj(&r), "status");
	g_assert_cmpstr(json_array_get_string_element(
		json_object_get_array_member(st, "pci"), 0), ==, "0000:00:06.0");
	g_autofree char *args = NULL;
	g_assert_true(g_file_get_contents(argv_file, &args, NULL, NULL));
	g_assert_nonnull(strstr(args, "--pci host=0000:00:06.0"));
	g_assert_nonnull(strstr(args, "--usb host=46f4:0001"));
	g_assert_null(strstr(args, "--xhci"));   /* --usb implies it */

	request(f, "POST", "/v1/domains/vm2/start", NULL, &r);
	assert_error(&r, 409, "conflict", NULL);
	g_assert_nonnull(strstr(r.text, "in use by domain vm"));
	request(f, "POST", "/v1/domains/vm3/start", NULL, &r);
	assert_error(&r, 409, "conflict", NULL);
	g_assert_nonnull(strstr(r.text, "in use by domain vm"));
	request(f, "POST", "/v1/host/pci/assignable", "{\"address\":\"00:06.0\"}", &r);
	assert_error(&r, 409, "conflict", NULL);
	request(f, "DELETE", "/v1/host/pci/assignable/00:06.0", NULL, &r);
	assert_error(&r, 409, "conflict", NULL);
	g_assert_nonnull(strstr(r.text, "domain vm"));

	/* USB hot-plug through the control socket */
	request(f, "POST", "/v1/domains/vm2/usb", "{\"host\":\"0627:0001\"}", &r);
	assert_error(&r, 409, "conflict", NULL);
	g_assert_nonnull(strstr(r.text, "not running"));
	request(f, "POST", "/v1/domains/vm/usb", "{\"host\":\"bad\"}", &r);
	assert_error(&r, 400, "bad-request", "host");
	request(f, "POST", "/v1/domains/vm/usb", "{\"host\":\"46f4:0001\"}", &r);
	assert_error(&r, 409, "conflict", NULL);
	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm/usb",
				 "{\"host\":\"0627:0001\"}", &r), ==, 200);
	g_assert_cmpuint(request(f, "GET", "/v1/domains/vm/usb", NULL, &r), ==, 200);
	g_assert_cmpuint(json_array_get_length(json_node_get_array(r.json)), ==, 2);
	g_assert_cmpuint(request(f, "DELETE", "/v1/domains/vm/usb/0627:0001", NULL, &r), ==, 200);
	request(f, "DELETE", "/v1/domains/vm/usb/0627:0001", NULL, &r);
	assert_error(&r, 404, "not-found", NULL);

	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm/destroy", NULL, &r), ==, 200);
	wait_status(f, &r, "shutoff");
	st = json_object_get_object_member(obj(&r), "status");
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(st, "pci")), ==, 0);
	g_autofree char *back = pci_sysfs_driver(&ps, "0000:00:06.0");
	g_assert_cmpstr(back, ==, "e1000");
	/* now vm2 may have it; without a USB controller nothing hot-plugs */
	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm2/start", NULL, &r), ==, 200);
	for (int i = 0; i < 500; i++) {
		request(f, "POST", "/v1/domains/vm2/usb", "{\"host\":\"0627:0001\"}", &r);
		if (!strstr(r.text, "not running"))
			break;
		g_usleep(20000);
	}
	assert_error(&r, 409, "conflict", NULL);
	g_assert_nonnull(strstr(r.text, "no USB controller"));
	g_assert_cmpuint(request(f, "POST", "/v1/domains/vm2/destroy", NULL, &r), ==, 200);
	for (int i = 0; i < 500; i++) {
		g_autofree char *d = pci_sysfs_driver(&ps, "0000:00:06.0");
		if (!g_strcmp0(d, "e1000"))
			break;
		g_usleep(20000);
	}

	reply_clear(&r);
	stop_server(f);
	g_main_context_pop_thread_default(own);
	g_main_context_unref(own);
	f->global_ctx = false;
	f->pci = NULL;
	g_unsetenv("ATOLL_SYSFS_ROOT");
	g_unsetenv("ATOLL_TEST_FAKE_VMM_ARGV");
	g_autofree char *last = pci_sysfs_driver(&ps, "0000:00:06.0");
	g_assert_cmpstr(last, ==, "e1000");
	pci_sysfs_tear_down(&ps, NULL);
	start_server(f);
}
#endif

int main(int argc, char **argv)
{
	if (getenv("ATOLL_TEST_FAKE_VMM"))
		return fake_vmm(argc, argv);
	g_test_init(&argc, &argv, NULL);
	/* The daemon logs warnings (broken files, failed starts) by design. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_setenv("ATOLL_LIBVIRT_URI", "test:///default", TRUE);
	signal(SIGPIPE, SIG_IGN);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
	ADD("/api/crud", test_crud);
	ADD("/api/bad-requests", test_bad_requests);
	ADD("/api/too-large", test_too_large);
	ADD("/api/routes", test_routes);
	ADD("/api/lifecycle-conflicts", test_lifecycle_conflicts);
#ifdef ATOLLD_HAVE_SUPERVISOR
	ADD("/api/lifecycle-running", test_lifecycle_running);
	ADD("/api/spice-status", test_spice_status);
#endif
	ADD("/api/broken-file", test_broken_file);
	ADD("/api/restart", test_restart);
	ADD("/api/delete-disks", test_delete_disks);
	ADD("/api/socket-mode", test_socket_mode);
	ADD("/api/libvirt-routes", test_libvirt_routes);
	ADD("/api/host-pci", test_host_pci);
#ifdef ATOLLD_HAVE_SUPERVISOR
	ADD("/api/passthrough-start", test_passthrough_start);
#endif
	return g_test_run();
}
