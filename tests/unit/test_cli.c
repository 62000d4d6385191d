/* The `atoll` CLI, run in-process against a canned atolld. */
#include "commands.h"
#include "api_test_peer.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

typedef struct {
	int rc;
	char *out, *err;
} Run;

static void run_clear(Run *r)
{
	g_free(r->out);
	g_free(r->err);
}

typedef struct {
	const char *socket;
	int in_fd, out_fd;
	char **argv;
	int argc;
	Run result;
} Invocation;

static gpointer invoke(gpointer data)
{
	Invocation *inv = data;
	size_t olen = 0, elen = 0;
	AtollCliIO io = {
		.out = open_memstream(&inv->result.out, &olen),
		.err = open_memstream(&inv->result.err, &elen),
		.in_fd = inv->in_fd, .out_fd = inv->out_fd,
	};
	inv->result.rc = atoll_cli_main(&io, inv->argc, inv->argv);
	fclose(io.out);
	fclose(io.err);
	return NULL;
}

static void invocation_init(Invocation *inv, const char *socket, const char *const *args)
{
	GPtrArray *argv = g_ptr_array_new();
	g_ptr_array_add(argv, g_strdup("atoll"));
	g_ptr_array_add(argv, g_strdup("--socket"));
	g_ptr_array_add(argv, g_strdup(socket));
	for (int i = 0; args[i]; i++)
		g_ptr_array_add(argv, g_strdup(args[i]));
	inv->argc = (int)argv->len;
	g_ptr_array_add(argv, NULL);
	inv->argv = (char **)g_ptr_array_free(argv, FALSE);
	inv->socket = socket;
}

static Run run_at(const char *socket, const char *const *args)
{
	Invocation inv = { 0 };
	invocation_init(&inv, socket, args);
	inv.in_fd = open("/dev/null", O_RDONLY);
	inv.out_fd = open("/dev/null", O_WRONLY);
	invoke(&inv);
	close(inv.in_fd);
	close(inv.out_fd);
	g_strfreev(inv.argv);
	return inv.result;
}

#define RUN(peer, ...) run_at((peer)->socket_path, (const char *const[]){ __VA_ARGS__, NULL })

static const char *list_json =
	"[{\"name\": \"web\", \"state\": \"running\", \"id\": 4242, \"memory_mib\": 1024,"
	"  \"vcpus\": 2, \"cpu_time_s\": 12.5, \"uptime_s\": 60, \"autostart\": false},"
	" {\"name\": \"db\", \"state\": \"shutoff\", \"id\": null, \"memory_mib\": 512,"
	"  \"vcpus\": 1, \"cpu_time_s\": 0, \"uptime_s\": 0, \"autostart\": true},"
	" {\"name\": \"a-domain-with-a-rather-long-name-for-xl\", \"state\": \"paused\","
	"  \"id\": 77, \"memory_mib\": 65536, \"vcpus\": 16, \"cpu_time_s\": 123456.78},"
	" {\"name\": \"old\", \"state\": \"broken\", \"error\": \"line 3: bad JSON\"}]";

#define LIST_HEADER "Name                                        ID   Mem VCPUs\tState\tTime(s)\n"

static void test_list_format(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "GET /v1/domains", 200, list_json);
	Run r = RUN(p, "list");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, LIST_HEADER
		"web                                       4242  1024     2     r-----      12.5\n"
		"db                                           -   512     1     ------       0.0\n"
		"a-domain-with-a-rather-long-name-for-xl     77 65536    16     --p---  123456.8\n"
		"old                                          -     0     0     ------       0.0\n");
	g_assert_cmpstr(r.err, ==, "atoll: old: definition is broken: line 3: bad JSON\n");
	run_clear(&r);

	r = RUN(p, "list", "db");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, LIST_HEADER
		"db                                           -   512     1     ------       0.0\n");
	run_clear(&r);

	r = RUN(p, "list", "web", "nope");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_NOT_FOUND);
	g_assert_cmpstr(r.out, ==, "");
	g_assert_cmpstr(r.err, ==, "atoll: domain 'nope' not found\n");
	run_clear(&r);
	peer_free(p);
}

static void test_list_json(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "GET /v1/domains", 200, list_json);
	Run r = RUN(p, "list", "--json");
	g_assert_cmpint(r.rc, ==, 0);
	g_autoptr(JsonNode) got = json_from_string(r.out, NULL);
	g_autoptr(JsonNode) want = json_from_string(list_json, NULL);
	g_assert_nonnull(got);
	g_assert_true(json_node_equal(got, want));
	run_clear(&r);

	/* --json before the command, and with a filter. */
	r = RUN(p, "--json", "list", "web");
	g_assert_cmpint(r.rc, ==, 0);
	g_autoptr(JsonNode) one = json_from_string(r.out, NULL);
	g_assert_true(JSON_NODE_HOLDS_ARRAY(one));
	g_assert_cmpuint(json_array_get_length(json_node_get_array(one)), ==, 1);
	run_clear(&r);
	peer_free(p);
}

static void test_exit_codes(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "POST /v1/domains/web/start", 409,
		   "{\"error\": {\"code\": \"conflict\", \"message\": \"web is already running\"}}");
	peer_reply(p, "POST /v1/domains/web/pause", 500,
		   "{\"error\": {\"code\": \"host-error\", \"message\": \"the VMM did not answer\"}}");
	peer_reply(p, "POST /v1/domains/web/unpause", 204, NULL);

	Run r = RUN(p, "start", "web");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_CONFLICT);
	g_assert_cmpstr(r.err, ==, "atoll: web is already running\n");
	run_clear(&r);

	r = RUN(p, "info", "nope");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_NOT_FOUND);
	run_clear(&r);

	r = RUN(p, "pause", "web");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_ERROR);
	g_assert_cmpstr(r.err, ==, "atoll: the VMM did not answer\n");
	run_clear(&r);

	r = RUN(p, "unpause", "web");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_OK);
	g_assert_cmpstr(r.out, ==, "");
	g_assert_cmpstr(r.err, ==, "");
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_cmpstr(log, ==, "POST /v1/domains/web/start \nGET /v1/domains/nope \n"
			"POST /v1/domains/web/pause \nPOST /v1/domains/web/unpause \n");
	peer_free(p);
}

static void test_unreachable(void)
{
	Run r = run_at("/nonexistent/atolld.sock", (const char *const[]){ "list", NULL });
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_UNREACHABLE);
	g_assert_nonnull(strstr(r.err, "cannot reach atolld at /nonexistent/atolld.sock"));
	g_assert_nonnull(strstr(r.err, "is atolld running? is your user in group atoll?"));
	run_clear(&r);

	r = run_at("/nonexistent/atolld.sock", (const char *const[]){ "console", "web", NULL });
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_UNREACHABLE);
	run_clear(&r);
}

static void test_usage_errors(void)
{
	static const char *const cases[][4] = {
		{ "frobnicate", NULL },
		{ "start", NULL },
		{ "start", "a", "b", NULL },
		{ "start", "--json", "a", NULL },
		{ "shutdown", "-x", "a", NULL },
		{ "shutdown", "-t", "soon", "a" },
		{ "device-list", "--pci", "--usb", NULL },
		{ "--bogus", "list", NULL },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		const char *args[5] = { 0 };
		memcpy(args, cases[i], sizeof(cases[i]));
		Run r = run_at("/nonexistent/atolld.sock", args);
		g_assert_cmpint(r.rc, ==, ATOLL_EXIT_USAGE);
		g_assert_true(g_str_has_prefix(r.err, "atoll: "));
		run_clear(&r);
	}
	Run r = run_at("/nonexistent", (const char *const[]){ "help", NULL });
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_nonnull(strstr(r.out, "import-libvirt"));
	run_clear(&r);
}

static char *write_temp(const char *name, const char *text)
{
	char *path = g_build_filename(g_get_tmp_dir(), name, NULL);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static void test_define_xlcfg(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "GET /v1/networks", 200,
		   "[{\"name\": \"default\", \"bridge\": \"virbr0\", \"active\": true}]");
	peer_reply(p, "POST /v1/domains", 201, "{\"name\": \"web\"}");
	g_autofree char *cfg = write_temp("atoll-test-web.cfg",
		"name = \"web\"\nbuilder = \"generic\"\nmemory = 256\n"
		"kernel = \"/k\"\ndisk = [ '/img/web.img,raw,xvda,rw' ]\n"
		"vif = [ 'bridge=virbr0' ]\n");
	Run r = RUN(p, "define", cfg);
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "Domain web defined.\n");
	g_autofree char *want_err = g_strdup_printf(
		"Parsing config from %s\n"
		"xl.cfg: ignoring 'builder' (not used by Atoll)\n"
		"xl.cfg: disk[0]: vdev 'xvda' not used: Atoll orders disks as listed\n", cfg);
	g_assert_cmpstr(r.err, ==, want_err);
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_cmpstr(log, ==, "GET /v1/networks \n"
		"POST /v1/domains {\"name\":\"web\",\"memory_mib\":256,\"kernel\":\"/k\","
		"\"disks\":[{\"path\":\"/img/web.img\",\"readonly\":false}],"
		"\"nics\":[{\"type\":\"network\",\"network\":\"default\"}]}\n");

	/* A bad file is reported with its line; nothing is sent. */
	g_autofree char *bad = write_temp("atoll-test-bad.cfg", "name = \"x\"\nmemory 5\n");
	r = RUN(p, "define", bad);
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_ERROR);
	g_autofree char *want_bad = g_strdup_printf("atoll: %s:2: expected '=' after 'memory'\n",
						    bad);
	g_assert_true(g_str_has_suffix(r.err, want_bad));
	run_clear(&r);
	g_autofree char *log2 = peer_take_log(p);
	g_assert_cmpstr(log2, ==, "");

	r = RUN(p, "define", "/nonexistent/vm.cfg");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_NOT_FOUND);
	run_clear(&r);
	g_unlink(cfg);
	g_unlink(bad);
	peer_free(p);
}

static void test_create_json(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "POST /v1/domains", 201, "{\"name\": \"web\"}");
	peer_reply(p, "POST /v1/domains/web/start", 204, NULL);
	g_autofree char *def = write_temp("atoll-test-web.json",
		"  {\"name\": \"web\", \"memory_mib\": 512, \"vcpus\": 1}\n");
	Run r = RUN(p, "create", def);
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "Domain web defined.\nDomain web started.\n");
	g_assert_cmpstr(r.err, ==, "");
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_cmpstr(log, ==,
		"POST /v1/domains {\"name\":\"web\",\"memory_mib\":512,\"vcpus\":1}\n"
		"POST /v1/domains/web/start \n");

	/* Defined but the start is refused: the conflict's exit code. */
	peer_reply(p, "POST /v1/domains/web/start", 409,
		   "{\"error\": {\"code\": \"conflict\", \"message\": \"not enough memory\"}}");
	r = RUN(p, "create", def);
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_CONFLICT);
	g_assert_cmpstr(r.err, ==, "atoll: not enough memory\n"
			"atoll: web stays defined; start it with: atoll start web\n");
	run_clear(&r);

	/* A validation error names the field. */
	peer_reply(p, "POST /v1/domains", 400,
		   "{\"error\": {\"code\": \"bad-request\", \"message\": \"no such file\","
		   " \"field\": \"kernel\"}}");
	r = RUN(p, "define", def);
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_ERROR);
	g_assert_cmpstr(r.err, ==, "atoll: no such file (field: kernel)\n");
	run_clear(&r);
	g_unlink(def);
	peer_free(p);
}

static void test_undefine_and_import(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "DELETE /v1/domains/web", 204, NULL);
	peer_reply(p, "POST /v1/import-libvirt", 201,
		   "{\"name\": \"new\", \"memory_mib\": 512, \"unmapped\": [\"graphics vnc\", \"sound\"]}");
	Run r = RUN(p, "undefine", "--delete-disks", "web");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "Domain web undefined.\n");
	run_clear(&r);
	r = RUN(p, "import-libvirt", "qemu:///system", "vm1", "new");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "Imported libvirt domain vm1 as new.\n");
	g_assert_cmpstr(r.err, ==, "atoll: not imported: graphics vnc\natoll: not imported: sound\n");
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_cmpstr(log, ==, "DELETE /v1/domains/web?delete_disks=true \n"
		"POST /v1/import-libvirt {\"uri\":\"qemu:///system\",\"domain\":\"vm1\",\"name\":\"new\"}\n");
	peer_free(p);
}

static void test_info(void)
{
	TestPeer *p = peer_new();
	const char *web =
		"{\"name\": \"web\", \"memory_mib\": 1024, \"vcpus\": 2, \"kernel\": \"/k\","
		" \"cmdline\": \"console=ttyS0\","
		" \"disks\": [{\"path\": \"/img/web.img\", \"readonly\": false, \"serial\": \"W1\"}],"
		" \"nics\": [{\"type\": \"network\", \"network\": \"default\", \"mac\": \"52:54:00:12:34:56\"}],"
		" \"on_poweroff\": \"destroy\", \"on_reboot\": \"restart\", \"on_crash\": \"destroy\","
		" \"autostart\": true,"
		" \"status\": {\"state\": \"running\", \"pid\": 4242, \"started_at\": 0,"
		"   \"last_exit\": {\"reason\": \"poweroff\", \"code\": 0, \"at\": 0}}}";
	peer_reply(p, "GET /v1/domains/web", 200, web);
	Run r = RUN(p, "info", "web");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==,
		"name:          web\n"
		"state:         running\n"
		"id:            4242\n"
		"last exit:     poweroff, code 0\n"
		"memory:        1024 MiB\n"
		"vcpus:         2\n"
		"kernel:        /k\n"
		"cmdline:       console=ttyS0\n"
		"disk[0]:       /img/web.img (rw) serial W1\n"
		"nic[0]:        network default mac 52:54:00:12:34:56\n"
		"on_poweroff:   destroy\n"
		"on_reboot:     restart\n"
		"on_crash:      destroy\n"
		"autostart:     yes\n");
	run_clear(&r);
	r = RUN(p, "info", "--json", "web");
	g_autoptr(JsonNode) got = json_from_string(r.out, NULL);
	g_autoptr(JsonNode) want = json_from_string(web, NULL);
	g_assert_true(json_node_equal(got, want));
	run_clear(&r);
	peer_free(p);
}

static void test_tables(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "GET /v1/networks", 200,
		   "{\"networks\": [{\"name\": \"default\", \"bridge\": \"virbr0\", \"active\": true,"
		   " \"autostart\": false, \"persistent\": true, \"forward\": \"nat\","
		   " \"ipv4\": {\"address\": \"192.168.122.1\", \"prefix\": 24,"
		   " \"dhcp\": {\"start\": \"192.168.122.2\", \"end\": \"192.168.122.254\"}}}]}");
	peer_reply(p, "GET /v1/host/devices", 200,
		   "[{\"type\": \"pci\", \"address\": \"0000:00:1f.3\", \"iommu_group\": 12,"
		   " \"driver\": \"snd_hda_intel\", \"class\": \"0x0403\", \"description\": \"Audio\"}]");
	Run r = RUN(p, "network-list");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==,
		"Name             Bridge       Active Forward  Address            DHCP range\n"
		"default          virbr0       yes    nat      192.168.122.1/24   192.168.122.2-192.168.122.254\n");
	run_clear(&r);
	r = RUN(p, "device-list", "--pci");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==,
		"Type Address      IOMMU Driver       Class    Description\n"
		"pci  0000:00:1f.3 12    snd_hda_intel 0x0403   Audio\n");
	run_clear(&r);
	r = RUN(p, "device-list", "--json");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_true(g_str_has_prefix(r.out, "[\n"));
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_cmpstr(log, ==, "GET /v1/networks \nGET /v1/host/devices?type=pci \n"
			"GET /v1/host/devices \n");
	peer_free(p);
}

/* PCI passthrough and USB commands: the requests they make, what they
 * print, their exit codes. */
static void test_passthrough(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "GET /v1/host/pci/0000:00:06.0/preflight", 200,
		   "{\"address\": \"0000:00:06.0\", \"passed\": false, \"checks\": ["
		   "{\"check\": \"iommu\", \"result\": \"ok\", \"message\": \"IOMMU enabled\"},"
		   "{\"check\": \"group\", \"result\": \"fail\", \"message\": \"bound to e1000\"},"
		   "{\"check\": \"reset\", \"result\": \"warn\", \"message\": \"no reset\"}]}");
	peer_reply(p, "GET /v1/host/pci/0000:00:03.0/preflight", 200,
		   "{\"address\": \"0000:00:03.0\", \"passed\": true, \"checks\": []}");
	peer_reply(p, "POST /v1/host/pci/assignable", 200,
		   "{\"address\": \"0000:00:06.0\", \"iommu_group\": 5, \"devices\": ["
		   "{\"address\": \"0000:00:06.0\", \"driver\": \"vfio-pci\", \"original_driver\": \"e1000\"}]}");
	peer_reply(p, "DELETE /v1/host/pci/assignable/0000:00:06.0", 200,
		   "{\"address\": \"0000:00:06.0\", \"iommu_group\": 5, \"devices\": ["
		   "{\"address\": \"0000:00:06.0\", \"driver\": \"e1000\", \"original_driver\": null}]}");
	peer_reply(p, "DELETE /v1/host/pci/assignable/0000:00:07.0", 409,
		   "{\"error\": {\"code\": \"conflict\", \"message\": "
		   "\"0000:00:07.0 (or its IOMMU group) is in use by domain game\"}}");
	peer_reply(p, "GET /v1/host/pci/assignable", 200,
		   "[{\"address\": \"0000:00:06.0\", \"iommu_group\": 5, \"driver\": \"vfio-pci\","
		   " \"original_driver\": \"e1000\", \"used_by\": null}]");
	peer_reply(p, "GET /v1/host/pci", 200,
		   "[{\"address\": \"0000:00:06.0\", \"iommu_group\": 5, \"class\": \"0x020000\","
		   " \"vendor_id\": \"0x8086\", \"device_id\": \"0x100e\", \"driver\": \"e1000\","
		   " \"used_by\": null, \"preflight\": {\"passed\": false, \"checks\": ["
		   "{\"check\": \"group\", \"result\": \"fail\", \"message\": \"x\"}]}}]");
	peer_reply(p, "GET /v1/host/usb", 200,
		   "[{\"id\": \"46f4:0001\", \"path\": \"1-1\", \"speed\": \"high\","
		   " \"product\": \"QEMU USB HARDDRIVE\", \"used_by\": \"vm\"}]");
	peer_reply(p, "POST /v1/domains/vm/usb", 200, "{\"id\": \"usb0\", \"port\": 2}");
	peer_reply(p, "DELETE /v1/domains/vm/usb/46f4:0001", 200, "{}");
	peer_reply(p, "DELETE /v1/domains/other/usb/46f4:0001", 404,
		   "{\"error\": {\"code\": \"not-found\", \"message\": "
		   "\"46f4:0001 is not attached to domain other\"}}");

	Run r = RUN(p, "pci-preflight", "0000:00:06.0");
	g_assert_cmpint(r.rc, ==, 1);
	g_assert_cmpstr(r.out, ==,
		"ok    iommu     IOMMU enabled\n"
		"FAIL  group     bound to e1000\n"
		"warn  reset     no reset\n");
	g_assert_nonnull(strstr(r.err, "cannot be passed through"));
	run_clear(&r);
	r = RUN(p, "pci-preflight", "--force", "0000:00:03.0");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "0000:00:03.0 can be passed through.\n");
	run_clear(&r);
	r = RUN(p, "pci-assignable-add", "0000:00:06.0");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "IOMMU group 5 of 0000:00:06.0 is bound to vfio-pci:\n"
			"  0000:00:06.0  vfio-pci  (was e1000)\n");
	run_clear(&r);
	r = RUN(p, "pci-assignable-add", "--group", "0000:00:06.0");
	g_assert_cmpint(r.rc, ==, 0);
	run_clear(&r);
	r = RUN(p, "pci-assignable-remove", "0000:00:06.0");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "IOMMU group 5 of 0000:00:06.0 has its drivers back:\n"
			"  0000:00:06.0  e1000\n");
	run_clear(&r);
	r = RUN(p, "pci-assignable-remove", "0000:00:07.0");
	g_assert_cmpint(r.rc, ==, 5);
	g_assert_nonnull(strstr(r.err, "in use by domain game"));
	run_clear(&r);
	r = RUN(p, "pci-assignable-list");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==,
		"Address      IOMMU Driver     Original driver  Used by\n"
		"0000:00:06.0 5     vfio-pci   e1000            -\n");
	run_clear(&r);
	r = RUN(p, "pci-list");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==,
		"Address      IOMMU Class    ID        Driver         Preflight          Used by\n"
		"0000:00:06.0 5     0x020000 8086:100e e1000          FAIL (group)       -\n");
	run_clear(&r);
	r = RUN(p, "usb-list");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==,
		"Path     ID        Speed  Used by      Product\n"
		"1-1      46f4:0001 high   vm           QEMU USB HARDDRIVE\n");
	run_clear(&r);
	r = RUN(p, "usb-attach", "vm", "46f4:0001");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "Attached 46f4:0001 to vm (guest USB port 2).\n");
	run_clear(&r);
	r = RUN(p, "usb-detach", "vm", "46f4:0001");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "Detached 46f4:0001 from vm.\n");
	run_clear(&r);
	r = RUN(p, "usb-detach", "other", "46f4:0001");
	g_assert_cmpint(r.rc, ==, 4);
	run_clear(&r);
	r = RUN(p, "usb-attach", "vm");
	g_assert_cmpint(r.rc, ==, 2);
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_cmpstr(log, ==,
		"GET /v1/host/pci/0000:00:06.0/preflight \n"
		"GET /v1/host/pci/0000:00:03.0/preflight?force=true \n"
		"POST /v1/host/pci/assignable {\"address\":\"0000:00:06.0\"}\n"
		"POST /v1/host/pci/assignable {\"address\":\"0000:00:06.0\",\"group\":true}\n"
		"DELETE /v1/host/pci/assignable/0000:00:06.0 \n"
		"DELETE /v1/host/pci/assignable/0000:00:07.0 \n"
		"GET /v1/host/pci/assignable \n"
		"GET /v1/host/pci \n"
		"GET /v1/host/usb \n"
		"POST /v1/domains/vm/usb {\"host\":\"46f4:0001\"}\n"
		"DELETE /v1/domains/vm/usb/46f4:0001 \n"
		"DELETE /v1/domains/other/usb/46f4:0001 \n");
	peer_free(p);
}

static void test_shutdown_wait_event(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "GET /v1/domains/web", 200,
		   "{\"name\": \"web\", \"shutdown_timeout_s\": 5, \"status\": {\"state\": \"running\"}}");
	peer_reply_with_event(p, "POST /v1/domains/web/shutdown", 202, NULL,
		"{\"type\": \"domain-state\", \"name\": \"web\", \"state\": \"shutoff\","
		" \"reason\": \"poweroff\"}");
	gint64 t0 = g_get_monotonic_time();
	Run r = RUN(p, "shutdown", "-w", "-t", "20", "web");
	g_assert_cmpint(r.rc, ==, 0);
	/* Woken by the event, not by the 5 s safety poll. */
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
	g_assert_cmpstr(r.out, ==, "Domain web is shut off.\n");
	g_assert_cmpstr(r.err, ==, "Waiting for domain web to shut down\n");
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_true(g_str_has_prefix(log, "WS /v1/events\n"
		"POST /v1/domains/web/shutdown {\"timeout_s\":20}\n"));
	peer_free(p);
}

static void test_shutdown_wait_poll(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "POST /v1/domains/db/shutdown", 202, NULL);
	peer_reply(p, "GET /v1/domains/db", 200,
		   "{\"name\": \"db\", \"status\": {\"state\": \"shutoff\"}}");
	Run r = RUN(p, "shutdown", "-w", "db");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "Domain db is shut off.\n");
	run_clear(&r);

	/* Without -w: one request, no waiting. */
	r = RUN(p, "shutdown", "db");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, "");
	run_clear(&r);
	peer_free(p);
}

/* Read from fd until `want` shows up (10 s at most). */
static char *read_until(int fd, const char *want)
{
	GString *s = g_string_new(NULL);
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (!strstr(s->str, want) && g_get_monotonic_time() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		char buf[256];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		g_string_append_len(s, buf, n);
	}
	return g_string_free(s, FALSE);
}

static void test_console(void)
{
	TestPeer *p = peer_new();
	int in[2], out[2];
	g_assert_cmpint(pipe(in), ==, 0);
	g_assert_cmpint(pipe(out), ==, 0);
	Invocation inv = { .in_fd = in[0], .out_fd = out[1] };
	invocation_init(&inv, p->socket_path, (const char *const[]){ "console", "web", NULL });
	GThread *t = g_thread_new("cli", invoke, &inv);

	g_autofree char *login = read_until(out[0], "login: ");
	g_assert_cmpstr(login, ==, "login: ");
	g_assert_cmpint(write(in[1], "root\r", 5), ==, 5);
	g_autofree char *echo = read_until(out[0], "echo:root\r");
	g_assert_cmpstr(echo, ==, "echo:root\r");
	/* Bytes after the escape are not sent. */
	g_assert_cmpint(write(in[1], "x\x1dy", 3), ==, 3);
	g_thread_join(t);

	g_assert_cmpint(inv.result.rc, ==, 0);
	g_assert_true(g_str_has_prefix(inv.result.err,
		"Connected to web's console; escape character is ^]\n"));
	close(out[1]);   /* so that reading the rest ends */
	g_autofree char *rest = read_until(out[0], "never");
	g_assert_null(strstr(rest, "y"));
	run_clear(&inv.result);
	g_strfreev(inv.argv);
	close(in[0]); close(in[1]); close(out[0]);

	Run r = RUN(p, "console", "nope");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_NOT_FOUND);
	run_clear(&r);
	peer_free(p);
}

#define WEB_SPICE "spice+unix:///run/atoll/vmm/web.spice"

static void spice_replies(TestPeer *p)
{
	peer_reply(p, "GET /v1/domains/web", 200,
		   "{\"name\": \"web\", \"graphics\": {\"type\": \"spice\", \"gpu\": \"virtio\"},"
		   " \"status\": {\"state\": \"running\", \"pid\": 4242,"
		   " \"spice\": {\"uri\": \"" WEB_SPICE "\"}}}");
	peer_reply(p, "GET /v1/domains/db", 200,
		   "{\"name\": \"db\", \"graphics\": {\"type\": \"spice\", \"gpu\": \"virtio\"},"
		   " \"status\": {\"state\": \"shutoff\", \"pid\": null, \"spice\": null}}");
	peer_reply(p, "GET /v1/domains/plain", 200,
		   "{\"name\": \"plain\", \"graphics\": {\"type\": \"none\"},"
		   " \"status\": {\"state\": \"running\", \"pid\": 7, \"spice\": null}}");
}

static void test_spice_uri(void)
{
	TestPeer *p = peer_new();
	spice_replies(p);
	Run r = RUN(p, "spice-uri", "web");
	g_assert_cmpint(r.rc, ==, 0);
	g_assert_cmpstr(r.out, ==, WEB_SPICE "\n");
	g_assert_cmpstr(r.err, ==, "");
	run_clear(&r);

	r = RUN(p, "spice-uri", "db");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_NOT_FOUND);
	g_assert_cmpstr(r.out, ==, "");
	g_assert_cmpstr(r.err, ==, "atoll: domain db has no SPICE console: it is not "
			"running; start it with: atoll start db\n");
	run_clear(&r);

	r = RUN(p, "spice-uri", "plain");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_NOT_FOUND);
	g_assert_true(g_str_has_prefix(r.err, "atoll: domain plain has no SPICE console: "
				       "its definition has no graphics"));
	run_clear(&r);

	r = RUN(p, "spice-uri", "nope");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_NOT_FOUND);
	run_clear(&r);
	/* without a console there is nothing to open a viewer on */
	r = RUN(p, "console", "--graphical", "db");
	g_assert_cmpint(r.rc, ==, ATOLL_EXIT_NOT_FOUND);
	g_assert_nonnull(strstr(r.err, "has no SPICE console"));
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_cmpstr(log, ==, "GET /v1/domains/web \nGET /v1/domains/db \n"
			"GET /v1/domains/plain \nGET /v1/domains/nope \nGET /v1/domains/db \n");
	peer_free(p);
}

/* console --graphical execs the viewer, so each case runs in a subprocess
 * whose fake viewers print their command line on the subprocess's stdout.
 * Which viewers exist: "forced" ($ATOLL_VIEWER), "both" (atoll-viewer and
 * remote-viewer in PATH), "remote" (only remote-viewer), "none". */
static void fake_viewer(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	/* builtins only: PATH holds nothing but the fakes */
	g_assert_true(g_file_set_contents(path, "#!/bin/sh\necho \"VIEWER ${0##*/} $*\"\n"
					  "/bin/rm -rf \"${0%/*}\"\n", -1, NULL));
	g_assert_cmpint(g_chmod(path, 0755), ==, 0);
}

static void graphical_child(const char *which)
{
	g_autofree char *dir = g_dir_make_tmp("atoll-viewer-XXXXXX", NULL);
	if (!strcmp(which, "forced")) {
		fake_viewer(dir, "myviewer");
		fake_viewer(dir, "atoll-viewer");
		g_autofree char *forced = g_build_filename(dir, "myviewer", NULL);
		g_setenv(ATOLL_VIEWER_ENV, forced, TRUE);
	} else {
		g_unsetenv(ATOLL_VIEWER_ENV);
		if (!strcmp(which, "both"))
			fake_viewer(dir, "atoll-viewer");
		if (strcmp(which, "none"))
			fake_viewer(dir, "remote-viewer");
	}
	g_setenv("PATH", dir, TRUE);
	TestPeer *p = peer_new();
	spice_replies(p);
	Run r = RUN(p, "console", "--graphical", "web");
	/* only reached when no viewer was run */
	fputs(r.err, stderr);
	g_autofree char *rm = g_strdup_printf("/bin/rm -rf '%s'", dir);
	if (system(rm) != 0)
		g_printerr("cannot remove %s\n", dir);
	exit(r.rc);
}

static void test_console_graphical(gconstpointer data)
{
	const char *which = data;
	if (g_test_subprocess()) {
		graphical_child(which);
		return;
	}
	g_test_trap_subprocess(NULL, 20 * G_USEC_PER_SEC, 0);
	if (!strcmp(which, "none")) {
		g_test_trap_assert_failed();
		g_test_trap_assert_stderr("*no SPICE viewer found: install remote-viewer "
					  "(Debian package virt-viewer)*web's console is at "
					  WEB_SPICE "*");
		return;
	}
	g_test_trap_assert_passed();
	const char *want = !strcmp(which, "forced") ? "VIEWER myviewer " WEB_SPICE "\n"
		: !strcmp(which, "both") ? "VIEWER atoll-viewer " WEB_SPICE "\n"
		: "VIEWER remote-viewer " WEB_SPICE "\n";
	g_test_trap_assert_stdout(want);
}

static void test_top_batch(void)
{
	TestPeer *p = peer_new();
	peer_reply(p, "GET /v1/domains", 200,
		   "[{\"name\": \"web\", \"state\": \"running\", \"id\": 1, \"memory_mib\": 1024,"
		   "  \"vcpus\": 2, \"cpu_time_s\": 10.5},"
		   " {\"name\": \"db\", \"state\": \"shutoff\", \"id\": null, \"memory_mib\": 512,"
		   "  \"vcpus\": 1, \"cpu_time_s\": 0}]");
	peer_reply(p, "GET /v1/domains/web/stats", 200,
		   "[{\"t\": 100, \"cpu_time_s\": 10.0, \"memory_rss_bytes\": 104857600,"
		   "  \"disk_rd_bytes\": 0, \"disk_wr_bytes\": 0, \"net_rx_bytes\": 0, \"net_tx_bytes\": 0},"
		   " {\"t\": 101, \"cpu_time_s\": 10.5, \"memory_rss_bytes\": 209715200,"
		   "  \"disk_rd_bytes\": 4096, \"disk_wr_bytes\": 1024, \"net_rx_bytes\": 2048,"
		   "  \"net_tx_bytes\": 512}]");
	Run r = RUN(p, "top", "-b", "-n", "1");
	g_assert_cmpint(r.rc, ==, 0);
	const char *body = strchr(r.out, '\n');
	g_assert_true(g_str_has_prefix(r.out, "atoll top - "));
	g_assert_nonnull(strstr(r.out, "2 domains: 1 running, 0 paused, 1 other\n"));
	g_assert_cmpstr(body + 1, ==,
		"NAME                  STATE   CPU(sec) CPU(%) MEM(MiB) RSS(MiB) VCPUS "
		"NETRX(K/s) NETTX(K/s)    RD(K/s)    WR(K/s)\n"
		"web                  r-----       10.5   50.0     1024    200.0     2 "
		"       2.0        0.5        4.0        1.0\n"
		"db                   ------        0.0    0.0      512      0.0     1 "
		"       0.0        0.0        0.0        0.0\n\n");
	run_clear(&r);
	g_autofree char *log = peer_take_log(p);
	g_assert_true(g_str_has_prefix(log, "GET /v1/domains \nGET /v1/domains/web/stats?since="));
	peer_free(p);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cli/list/format", test_list_format);
	g_test_add_func("/cli/list/json", test_list_json);
	g_test_add_func("/cli/exit-codes", test_exit_codes);
	g_test_add_func("/cli/unreachable", test_unreachable);
	g_test_add_func("/cli/usage-errors", test_usage_errors);
	g_test_add_func("/cli/define-xlcfg", test_define_xlcfg);
	g_test_add_func("/cli/create-json", test_create_json);
	g_test_add_func("/cli/undefine-import", test_undefine_and_import);
	g_test_add_func("/cli/info", test_info);
	g_test_add_func("/cli/tables", test_tables);
	g_test_add_func("/cli/passthrough", test_passthrough);
	g_test_add_func("/cli/shutdown/wait-event", test_shutdown_wait_event);
	g_test_add_func("/cli/shutdown/wait-poll", test_shutdown_wait_poll);
	g_test_add_func("/cli/console", test_console);
	g_test_add_func("/cli/top-batch", test_top_batch);
	g_test_add_func("/cli/spice-uri", test_spice_uri);
	g_test_add_data_func("/cli/console-graphical/forced", "forced", test_console_graphical);
	g_test_add_data_func("/cli/console-graphical/atoll-viewer", "both", test_console_graphical);
	g_test_add_data_func("/cli/console-graphical/remote-viewer", "remote", test_console_graphical);
	g_test_add_data_func("/cli/console-graphical/none", "none", test_console_graphical);
	return g_test_run();
}
