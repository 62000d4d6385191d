/* The VMM control socket (docs/vmm-control.md), on a VM with RAM and
 * buses but no KVM: requests over a real unix socket, one line each. */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "vm.h"

static struct vm vm;
static struct vm_config cfg;

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	vm_config_init(&cfg);
	g_free(cfg.name);
	cfg.name = g_strdup("ctl");
	cfg.vcpus = 2;
	cfg.memory_mib = 64;
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = vm.exit_wake_fd = -1;
	pthread_mutex_init(&vm.pause_lock, NULL);
	pthread_cond_init(&vm.pause_cond, NULL);
	g_assert_cmpint(evloop_init(&vm.loop), ==, 0);
}

static void teardown(void)
{
	if (vm.shutdown_timer)
		evloop_remove(&vm.loop, vm.shutdown_timer);
	evloop_destroy(&vm.loop);
	vm_config_free(&cfg);
}

static JsonObject *handle(const char *req, JsonParser *p)
{
	char *reply = control_handle(&vm, req, strlen(req));
	g_assert_true(json_parser_load_from_data(p, reply, -1, NULL));
	g_free(reply);
	return json_node_get_object(json_parser_get_root(p));
}

static void test_query_and_errors(void)
{
	g_autoptr(JsonParser) p = json_parser_new();
	setup();
	JsonObject *o = handle("{\"cmd\":\"query\"}", p);
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "ctl");
	g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "running");
	g_assert_cmpint(json_object_get_int_member(o, "vcpus"), ==, 2);
	g_assert_cmpint(json_object_get_int_member(o, "memory_mib"), ==, 64);
	g_assert_cmpint(json_object_get_int_member(o, "pid"), ==, getpid());
	g_assert_true(json_object_get_null_member(o, "serial"));

	o = handle("{\"cmd\":", p);
	g_assert_false(json_object_get_boolean_member(o, "ok"));
	g_assert_nonnull(strstr(json_object_get_string_member(o, "error"), "bad JSON"));
	o = handle("[1,2]", p);
	g_assert_false(json_object_get_boolean_member(o, "ok"));
	o = handle("{\"cmd\":42}", p);
	g_assert_nonnull(strstr(json_object_get_string_member(o, "error"), "cmd:"));
	o = handle("{\"cmd\":\"fly\"}", p);
	g_assert_nonnull(strstr(json_object_get_string_member(o, "error"), "unknown command 'fly'"));
	o = handle("{\"cmd\":\"shutdown\",\"timeout_s\":\"soon\"}", p);
	g_assert_nonnull(strstr(json_object_get_string_member(o, "error"), "timeout_s"));
	g_assert_null(vm.shutdown_timer);
	teardown();
}

static void test_lifecycle_commands(void)
{
	g_autoptr(JsonParser) p = json_parser_new();
	setup();
	JsonObject *o = handle("{\"cmd\":\"pause\"}", p);
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	o = handle("{\"cmd\":\"query\"}", p);
	g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "paused");
	handle("{\"cmd\":\"resume\"}", p);
	o = handle("{\"cmd\":\"query\"}", p);
	g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "running");
	/* shutdown arms the force-off timer; the state says so. */
	o = handle("{\"cmd\":\"shutdown\",\"timeout_s\":5}", p);
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_assert_nonnull(vm.shutdown_timer);
	o = handle("{\"cmd\":\"query\"}", p);
	g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "shutting-down");
	handle("{\"cmd\":\"destroy\"}", p);
	g_assert_cmpint(atomic_load(&vm.exit_reason), ==, VM_EXIT_FORCED);
	/* The first exit reason wins. */
	handle("{\"cmd\":\"reboot\"}", p);
	g_assert_cmpint(atomic_load(&vm.exit_reason), ==, VM_EXIT_FORCED);
	o = handle("{\"cmd\":\"stats\"}", p);
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_assert_cmpint(json_object_get_int_member(o, "memory_rss_bytes"), >, 0);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "disks")), ==, 0);
	teardown();
}

static char *read_line(int fd)
{
	GString *s = g_string_new(NULL);
	char c;
	while (read(fd, &c, 1) == 1 && c != '\n')
		g_string_append_c(s, c);
	return g_string_free(s, FALSE);
}

static void test_socket(void)
{
	char err[256];
	char *dir = g_dir_make_tmp("atoll-ctl-XXXXXX", NULL);
	char *path = g_build_filename(dir, "c.sock", NULL);
	setup();
	/* A stale socket file is replaced. */
	g_assert_cmpint(g_file_set_contents(path, "", 0, NULL), ==, TRUE);
	g_unlink(path);
	struct control *c = control_open(&vm, path, err, sizeof(err));
	g_assert_nonnull(c);

	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	evloop_run_once(&vm.loop, 1000);     /* accept */
	/* Two requests in one write: two replies, in order. */
	const char *two = "{\"cmd\":\"query\"}\n{\"cmd\":\"nope\"}\n";
	g_assert_cmpint(write(fd, two, strlen(two)), ==, (ssize_t)strlen(two));
	evloop_run_once(&vm.loop, 1000);
	char *l1 = read_line(fd), *l2 = read_line(fd);
	g_assert_nonnull(strstr(l1, "\"ok\":true"));
	g_assert_nonnull(strstr(l2, "unknown command"));
	/* An endless line is refused and the client dropped; the VMM lives. */
	char big[5000];
	memset(big, 'x', sizeof(big));
	g_assert_cmpint(write(fd, big, sizeof(big)), ==, (ssize_t)sizeof(big));
	evloop_run_once(&vm.loop, 1000);
	char *l3 = read_line(fd);
	g_assert_nonnull(strstr(l3, "longer than"));
	char c2;
	evloop_run_once(&vm.loop, 100);
	/* Closed: EOF, or a reset since our excess bytes were never read. */
	ssize_t r = read(fd, &c2, 1);
	g_assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
	close(fd);
	control_close(c);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	g_free(l1); g_free(l2); g_free(l3);
	/* Paths that do not fit a sockaddr_un are refused with a message. */
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	g_assert_null(control_open(&vm, longp, err, sizeof(err)));
	g_assert_nonnull(strstr(err, "shorter"));
	teardown();
	g_rmdir(dir);
	g_free(path);
	g_free(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/control/query-and-errors", test_query_and_errors);
	g_test_add_func("/control/lifecycle-commands", test_lifecycle_commands);
	g_test_add_func("/control/socket", test_socket);
	return g_test_run();
}
