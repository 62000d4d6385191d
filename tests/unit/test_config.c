/* Domain configuration: defaults, JSON, flags, validation and the error
 * messages users see. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char err[512];

/* Load `json` over a fresh default config; returns the load result. */
static int load(struct vm_config *cfg, const char *json)
{
	vm_config_init(cfg);
	err[0] = '\0';
	return vm_config_load_json(cfg, json, strlen(json), err, sizeof(err));
}

/* The JSON must be rejected and the message must contain `needle`. */
static void expect_json_error(const char *json, const char *needle)
{
	struct vm_config cfg;
	int ret = load(&cfg, json);
	if (ret == 0 || !strstr(err, needle))
		g_error("json %s: expected error containing \"%s\", got %d \"%s\"",
			json, needle, ret, err);
	vm_config_free(&cfg);
}

static int parse(struct vm_config *cfg, const char *const *args)
{
	char *argv[64];
	int argc = 0;

	argv[argc++] = (char *)"atoll-vmm";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	err[0] = '\0';
	return vm_config_parse_args(cfg, argc, argv, err, sizeof(err));
}

static void expect_args_error(const char *const *args, const char *needle)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	int ret = parse(&cfg, args);
	if (ret != -1 || !strstr(err, needle))
		g_error("args %s...: expected error containing \"%s\", got %d \"%s\"",
			args[0], needle, ret, err);
	vm_config_free(&cfg);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_defaults(void)
{
	struct vm_config cfg;

	vm_config_init(&cfg);
	g_assert_cmpuint(cfg.memory_mib, ==, 256);
	g_assert_cmpuint(cfg.vcpus, ==, 1);
	g_assert_cmpint(cfg.serial.kind, ==, CHARDEV_STDIO);
	g_assert_cmpint(cfg.console.kind, ==, CHARDEV_NONE);
	g_assert_cmpint(cfg.on_poweroff, ==, ACTION_DESTROY);
	g_assert_cmpint(cfg.on_reboot, ==, ACTION_RESTART);
	g_assert_cmpint(cfg.on_crash, ==, ACTION_DESTROY);
	g_assert_cmpuint(cfg.shutdown_timeout_s, ==, 30);
	g_assert_false(cfg.rng);
	g_assert_null(cfg.kernel);
	g_assert_null(cfg.initrd);
	g_assert_cmpuint(cfg.n_disks, ==, 0);
	g_assert_cmpuint(cfg.n_nics, ==, 0);
	g_assert_nonnull(cfg.name);
	/* Defaults alone lack a kernel. */
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "kernel"));
	vm_config_free(&cfg);
}

static const char full_json[] =
	"{\"name\":\"demo\",\"memory_mib\":512,\"vcpus\":2,\"kernel\":\"/boot/vmlinuz\","
	"\"initrd\":\"/boot/initrd.img\",\"cmdline\":\"console=ttyS0 quiet\","
	"\"disks\":[{\"path\":\"d.img\",\"readonly\":false,\"serial\":\"abc\"},"
	"          {\"path\":\"ro.img\",\"readonly\":true}],"
	"\"nics\":[{\"tap\":\"tap0\",\"mac\":\"52:54:00:12:34:56\"},{\"fd\":7},{\"socket\":\"/run/p.sock\"}],"
	"\"serial\":{\"type\":\"pty\"},\"console\":{\"type\":\"unix\",\"path\":\"/run/c.sock\"},"
	"\"rng\":true,\"on_poweroff\":\"preserve\",\"on_reboot\":\"destroy\","
	"\"on_crash\":\"restart\",\"shutdown_timeout_s\":5}";

static void test_json_full(void)
{
	struct vm_config cfg;
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	g_assert_cmpint(load(&cfg, full_json), ==, 0);
	g_assert_cmpstr(cfg.name, ==, "demo");
	g_assert_cmpuint(cfg.memory_mib, ==, 512);
	g_assert_cmpuint(cfg.vcpus, ==, 2);
	g_assert_cmpstr(cfg.kernel, ==, "/boot/vmlinuz");
	g_assert_cmpstr(cfg.initrd, ==, "/boot/initrd.img");
	g_assert_cmpstr(cfg.cmdline, ==, "console=ttyS0 quiet");
	g_assert_cmpuint(cfg.n_disks, ==, 2);
	g_assert_cmpstr(cfg.disks[0].path, ==, "d.img");
	g_assert_false(cfg.disks[0].readonly);
	g_assert_cmpstr(cfg.disks[0].serial, ==, "abc");
	g_assert_cmpstr(cfg.disks[1].path, ==, "ro.img");
	g_assert_true(cfg.disks[1].readonly);
	g_assert_null(cfg.disks[1].serial);
	g_assert_cmpuint(cfg.n_nics, ==, 3);
	g_assert_cmpstr(cfg.nics[2].socket, ==, "/run/p.sock");
	g_assert_null(cfg.nics[2].tap);
	g_assert_cmpint(cfg.nics[2].tap_fd, ==, -1);
	g_assert_cmpstr(cfg.nics[0].tap, ==, "tap0");
	g_assert_cmpint(cfg.nics[0].tap_fd, ==, -1);
	g_assert_true(cfg.nics[0].has_mac);
	g_assert_cmpmem(cfg.nics[0].mac, 6, mac, 6);
	g_assert_null(cfg.nics[1].tap);
	g_assert_cmpint(cfg.nics[1].tap_fd, ==, 7);
	g_assert_false(cfg.nics[1].has_mac);
	g_assert_cmpint(cfg.serial.kind, ==, CHARDEV_PTY);
	g_assert_null(cfg.serial.path);
	g_assert_cmpint(cfg.console.kind, ==, CHARDEV_UNIX);
	g_assert_cmpstr(cfg.console.path, ==, "/run/c.sock");
	g_assert_true(cfg.rng);
	g_assert_cmpint(cfg.on_poweroff, ==, ACTION_PRESERVE);
	g_assert_cmpint(cfg.on_reboot, ==, ACTION_DESTROY);
	g_assert_cmpint(cfg.on_crash, ==, ACTION_RESTART);
	g_assert_cmpuint(cfg.shutdown_timeout_s, ==, 5);
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, 0);
	vm_config_free(&cfg);
}

static void test_json_partial_keeps_defaults(void)
{
	struct vm_config cfg;

	g_assert_cmpint(load(&cfg, "{\"kernel\":\"k\",\"serial\":\"file:/tmp/s.log\"}"), ==, 0);
	g_assert_cmpuint(cfg.memory_mib, ==, 256);
	g_assert_cmpuint(cfg.vcpus, ==, 1);
	g_assert_cmpint(cfg.on_reboot, ==, ACTION_RESTART);
	g_assert_cmpint(cfg.serial.kind, ==, CHARDEV_FILE);
	g_assert_cmpstr(cfg.serial.path, ==, "/tmp/s.log");
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, 0);
	vm_config_free(&cfg);
}

static void test_json_syntax_and_types(void)
{
	expect_json_error("{\"name\":", "not valid JSON");
	expect_json_error("[1,2]", "must be a JSON object");
	expect_json_error("{\"memroy_mib\":5}", "memroy_mib: unknown field");
	expect_json_error("{\"memory_mib\":\"256\"}", "memory_mib: expected a whole number, got a string");
	expect_json_error("{\"memory_mib\":256.5}", "memory_mib: expected a whole number");
	expect_json_error("{\"vcpus\":true}", "vcpus: expected a whole number, got a boolean");
	expect_json_error("{\"rng\":1}", "rng: expected a boolean");
	expect_json_error("{\"kernel\":42}", "kernel: expected a string, got a number");
	expect_json_error("{\"kernel\":null}", "kernel: expected a string, got null");
	expect_json_error("{\"kernel\":\"\"}", "kernel: empty path");
	expect_json_error("{\"disks\":{}}", "disks: expected an array");
	expect_json_error("{\"disks\":[\"a.img\"]}", "disks[0]: expected an object");
	expect_json_error("{\"disks\":[{\"path\":\"a\"},{\"path\":\"b\",\"readonly\":\"yes\"}]}",
			  "disks[1].readonly: expected a boolean");
	expect_json_error("{\"disks\":[{\"path\":\"a\",\"ro\":true}]}", "disks[0].ro: unknown field");
	expect_json_error("{\"disks\":[{\"readonly\":true}]}", "disks[0].path: missing");
	expect_json_error("{\"nics\":[{\"tap\":\"t0\",\"color\":1}]}", "nics[0].color: unknown field");
	expect_json_error("{\"serial\":{\"type\":\"unix\"}}", "serial: type unix needs a path");
	expect_json_error("{\"serial\":{\"path\":\"/x\"}}", "serial.type: missing");
	expect_json_error("{\"serial\":{\"type\":\"pty\",\"path\":\"/x\"}}", "serial.path: type pty takes no path");
	expect_json_error("{\"console\":{\"type\":\"tcp\"}}", "console.type: unknown type");
	expect_json_error("{\"console\":\"tcp:1234\"}", "console: unknown type");
	expect_json_error("{\"console\":\"stdio:/x\"}", "takes no path");
	expect_json_error("{\"console\":5}", "console: expected an object");
}

static void test_json_ranges(void)
{
	expect_json_error("{\"memory_mib\":-1}", "memory_mib: -1 is negative");
	expect_json_error("{\"memory_mib\":15}", "memory_mib: 15 MiB is out of range");
	expect_json_error("{\"memory_mib\":1048577}", "memory_mib: 1048577 MiB is out of range");
	expect_json_error("{\"memory_mib\":99999999999999999}", "memory_mib");
	expect_json_error("{\"vcpus\":0}", "vcpus: 0 is out of range");
	expect_json_error("{\"vcpus\":65}", "vcpus: 65 is out of range");
	expect_json_error("{\"shutdown_timeout_s\":100000}", "shutdown_timeout_s");
	expect_json_error("{\"shutdown_timeout_s\":-3}", "shutdown_timeout_s: -3 is negative");

	struct vm_config cfg;
	g_assert_cmpint(load(&cfg, "{\"memory_mib\":16,\"vcpus\":64}"), ==, 0);
	g_assert_cmpuint(cfg.memory_mib, ==, 16);
	g_assert_cmpuint(cfg.vcpus, ==, 64);
	vm_config_free(&cfg);
	g_assert_cmpint(load(&cfg, "{\"memory_mib\":1048576}"), ==, 0);
	vm_config_free(&cfg);

	GString *s = g_string_new("{\"disks\":[");
	for (int i = 0; i <= VM_MAX_DISKS; i++)
		g_string_append_printf(s, "%s{\"path\":\"d%d\"}", i ? "," : "", i);
	g_string_append(s, "]}");
	expect_json_error(s->str, "disks: 17 disks given");
	g_string_assign(s, "{\"nics\":[");
	for (int i = 0; i <= VM_MAX_NICS; i++)
		g_string_append_printf(s, "%s{\"tap\":\"t%d\"}", i ? "," : "", i);
	g_string_append(s, "]}");
	expect_json_error(s->str, "nics: 9 NICs given");
	g_string_free(s, TRUE);
}

static void test_json_names(void)
{
	char longname[100];

	expect_json_error("{\"name\":\"a/b\"}", "name: \"a/b\" contains '/'");
	expect_json_error("{\"name\":\"a\\nb\"}", "name: contains control characters");
	expect_json_error("{\"name\":\"\"}", "name: empty");
	memset(longname, 'x', 65);
	longname[65] = 0;
	char *json = g_strdup_printf("{\"name\":\"%s\"}", longname);
	expect_json_error(json, "name: 65 characters long");
	g_free(json);

	struct vm_config cfg;
	longname[64] = 0;
	json = g_strdup_printf("{\"name\":\"%s\"}", longname);
	g_assert_cmpint(load(&cfg, json), ==, 0);
	g_assert_cmpuint(strlen(cfg.name), ==, 64);
	vm_config_free(&cfg);
	g_free(json);
}

static void test_json_nic_and_disk_rules(void)
{
	expect_json_error("{\"nics\":[{\"tap\":\"t\",\"mac\":\"52:54:00:12:34\"}]}", "nics[0].mac: \"52:54:00:12:34\" is not a MAC");
	expect_json_error("{\"nics\":[{\"tap\":\"t\",\"mac\":\"52:54:00:12:34:5g\"}]}", "is not a MAC");
	expect_json_error("{\"nics\":[{\"tap\":\"t\",\"mac\":\"52-54-00-12-34-56\"}]}", "is not a MAC");
	expect_json_error("{\"nics\":[{\"tap\":\"t\",\"mac\":\"01:00:5e:00:00:01\"}]}", "multicast");
	expect_json_error("{\"nics\":[{\"tap\":\"t\",\"mac\":\"00:00:00:00:00:00\"}]}", "not usable");
	expect_json_error("{\"nics\":[{\"mac\":\"52:54:00:12:34:56\"}]}", "nics[0]: no backend");
	expect_json_error("{\"nics\":[{\"tap\":\"t\",\"fd\":3}]}", "nics[0]: more than one of tap, fd and socket");
	expect_json_error("{\"nics\":[{\"socket\":\"/s\",\"fd\":3}]}", "nics[0]: more than one of tap, fd and socket");
	expect_json_error("{\"nics\":[{\"socket\":\"\"}]}", "nics[0].socket: empty path");
	expect_json_error("{\"nics\":[{\"tap\":\"a/b\"}]}", "nics[0].tap: \"a/b\" is not a valid interface name");
	expect_json_error("{\"nics\":[{\"tap\":\"abcdefghijklmnop\"}]}", "nics[0].tap");
	expect_json_error("{\"nics\":[{\"fd\":-1}]}", "nics[0].fd: -1 is negative");
	expect_json_error("{\"disks\":[{\"path\":\"a\",\"serial\":\"123456789012345678901\"}]}",
			  "disks[0].serial: \"123456789012345678901\" is 21 bytes");
	expect_json_error("{\"on_crash\":\"reboot\"}", "on_crash: unknown action \"reboot\"");
	expect_json_error("{\"on_reboot\":1}", "on_reboot: expected a string");

	struct vm_config cfg;
	g_assert_cmpint(load(&cfg, "{\"disks\":[{\"path\":\"a\",\"serial\":\"12345678901234567890\"}],"
			       "\"nics\":[{\"tap\":\"tap-x_1\",\"mac\":\"AA:bb:0C:dd:EE:f0\"}]}"), ==, 0);
	g_assert_cmpstr(cfg.disks[0].serial, ==, "12345678901234567890");
	g_assert_cmphex(cfg.nics[0].mac[0], ==, 0xaa);
	g_assert_cmphex(cfg.nics[0].mac[5], ==, 0xf0);
	vm_config_free(&cfg);
}

static void test_json_file(void)
{
	struct vm_config cfg;
	GError *gerr = NULL;
	char *path = NULL;
	int fd = g_file_open_tmp("atoll-cfg-XXXXXX.json", &path, &gerr);

	g_assert_no_error(gerr);
	g_assert_true(write(fd, full_json, strlen(full_json)) == (ssize_t)strlen(full_json));
	close(fd);
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_load_file(&cfg, path, err, sizeof(err)), ==, 0);
	g_assert_cmpstr(cfg.name, ==, "demo");
	vm_config_free(&cfg);

	/* Errors from a file name the file first. */
	g_assert_true(g_file_set_contents(path, "{\"vcpus\":0}", -1, NULL));
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_load_file(&cfg, path, err, sizeof(err)), ==, -1);
	g_assert_true(g_str_has_prefix(err, path));
	g_assert_nonnull(strstr(err, "vcpus: 0 is out of range"));
	vm_config_free(&cfg);

	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_load_file(&cfg, "/nonexistent/vm.json", err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "/nonexistent/vm.json: cannot read"));
	vm_config_free(&cfg);
	g_unlink(path);
	g_free(path);
}

static void test_args_basic(void)
{
	struct vm_config cfg;

	vm_config_init(&cfg);
	g_assert_cmpint(parse(&cfg, ARGS("--name", "web1", "--memory", "1024", "--vcpus", "4",
					 "--kernel", "/k", "--initrd", "/i", "--cmdline", "console=ttyS0",
					 "--disk", "path=/a.img,readonly=on,serial=S1",
					 "--disk", "path=/b,,c.img",
					 "--net", "tap=tap0,mac=52:54:00:aa:bb:cc", "--net", "fd=5",
					 "--net", "socket=/run/p.sock",
					 "--serial", "unix:/run/s.sock", "--console=stdio", "--rng",
					 "--on-poweroff", "restart", "--on-reboot", "preserve",
					 "--on-crash", "preserve", "--shutdown-timeout", "0")), ==, 0);
	g_assert_cmpstr(cfg.name, ==, "web1");
	g_assert_cmpuint(cfg.memory_mib, ==, 1024);
	g_assert_cmpuint(cfg.vcpus, ==, 4);
	g_assert_cmpstr(cfg.kernel, ==, "/k");
	g_assert_cmpstr(cfg.initrd, ==, "/i");
	g_assert_cmpstr(cfg.cmdline, ==, "console=ttyS0");
	g_assert_cmpuint(cfg.n_disks, ==, 2);
	g_assert_cmpstr(cfg.disks[0].path, ==, "/a.img");
	g_assert_true(cfg.disks[0].readonly);
	g_assert_cmpstr(cfg.disks[0].serial, ==, "S1");
	g_assert_cmpstr(cfg.disks[1].path, ==, "/b,c.img");
	g_assert_false(cfg.disks[1].readonly);
	g_assert_cmpuint(cfg.n_nics, ==, 3);
	g_assert_cmpstr(cfg.nics[2].socket, ==, "/run/p.sock");
	g_assert_null(cfg.nics[2].tap);
	g_assert_cmpint(cfg.nics[2].tap_fd, ==, -1);
	g_assert_cmpstr(cfg.nics[0].tap, ==, "tap0");
	g_assert_true(cfg.nics[0].has_mac);
	g_assert_cmphex(cfg.nics[0].mac[5], ==, 0xcc);
	g_assert_cmpint(cfg.nics[1].tap_fd, ==, 5);
	g_assert_cmpint(cfg.serial.kind, ==, CHARDEV_UNIX);
	g_assert_cmpstr(cfg.serial.path, ==, "/run/s.sock");
	g_assert_cmpint(cfg.console.kind, ==, CHARDEV_STDIO);
	g_assert_true(cfg.rng);
	g_assert_cmpint(cfg.on_poweroff, ==, ACTION_RESTART);
	g_assert_cmpint(cfg.on_reboot, ==, ACTION_PRESERVE);
	g_assert_cmpint(cfg.on_crash, ==, ACTION_PRESERVE);
	g_assert_cmpuint(cfg.shutdown_timeout_s, ==, 0);
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, 0);
	vm_config_free(&cfg);
}

/* --config is read first wherever it appears; flags then override it, and
 * list flags replace the file's list. */
static void test_args_override_file(void)
{
	struct vm_config cfg;
	char *path = NULL;
	int fd = g_file_open_tmp("atoll-cfg-XXXXXX.json", &path, NULL);

	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_true(g_file_set_contents(path, full_json, -1, NULL));

	vm_config_init(&cfg);
	g_assert_cmpint(parse(&cfg, ARGS("--memory", "2048", "--disk", "path=/x.img",
					 "--config", path, "--name", "other")), ==, 0);
	g_assert_cmpuint(cfg.memory_mib, ==, 2048);   /* flag before --config wins */
	g_assert_cmpstr(cfg.name, ==, "other");
	g_assert_cmpuint(cfg.vcpus, ==, 2);           /* from the file */
	g_assert_cmpstr(cfg.kernel, ==, "/boot/vmlinuz");
	g_assert_cmpuint(cfg.n_disks, ==, 1);         /* --disk replaced the list */
	g_assert_cmpstr(cfg.disks[0].path, ==, "/x.img");
	g_assert_cmpuint(cfg.n_nics, ==, 3);          /* untouched list kept */
	vm_config_free(&cfg);

	vm_config_init(&cfg);
	g_assert_cmpint(parse(&cfg, ARGS("--config=/nonexistent.json")), ==, -1);
	g_assert_nonnull(strstr(err, "/nonexistent.json"));
	vm_config_free(&cfg);

	expect_args_error(ARGS("--config", path, "--config", path), "--config given twice");
	g_unlink(path);
	g_free(path);
}

static void test_args_errors(void)
{
	expect_args_error(ARGS("--memory", "lots"), "--memory lots: not a whole number");
	expect_args_error(ARGS("--memory", "-5"), "not a whole number");
	expect_args_error(ARGS("--memory", "8"), "--memory: 8 MiB is out of range");
	expect_args_error(ARGS("--memory", "99999999999999999999999"), "not a whole number");
	expect_args_error(ARGS("--vcpus", "0"), "--vcpus: 0 is out of range");
	expect_args_error(ARGS("--vcpus", "65"), "--vcpus: 65 is out of range");
	expect_args_error(ARGS("--name", "a/b"), "--name");
	expect_args_error(ARGS("--frobnicate"), "unknown option --frobnicate");
	expect_args_error(ARGS("-x"), "unknown option -x");
	expect_args_error(ARGS("--memory"), "--memory needs a value");
	expect_args_error(ARGS("stray"), "unexpected argument \"stray\"");
	expect_args_error(ARGS("--disk", "readonly=on"), "no path");
	expect_args_error(ARGS("--disk", "path=a,readonly=maybe"), "readonly=on or readonly=off");
	expect_args_error(ARGS("--disk", "path=a,cache=none"), "--disk: unknown key \"cache\"");
	expect_args_error(ARGS("--disk", "path=a,serial=123456789012345678901"), "21 bytes");
	expect_args_error(ARGS("--net", "mac=52:54:00:12:34:56"), "no backend");
	expect_args_error(ARGS("--net", "tap=t0,mac=zz"), "is not a MAC");
	expect_args_error(ARGS("--net", "tap=t0,fd=3"), "more than one of tap, fd and socket");
	expect_args_error(ARGS("--net", "socket=/s,tap=t0"), "more than one of tap, fd and socket");
	expect_args_error(ARGS("--net", "fd=x"), "fd=x is not a file descriptor");
	expect_args_error(ARGS("--serial", "tcp:1"), "--serial: unknown type \"tcp\"");
	expect_args_error(ARGS("--serial", "unix"), "--serial: unix needs a path");
	expect_args_error(ARGS("--console", "file:"), "--console: type file needs a path");
	expect_args_error(ARGS("--on-crash", "explode"), "--on-crash: unknown action \"explode\"");
	expect_args_error(ARGS("--shutdown-timeout", "1e3"), "not a whole number");

	const char *many[2 * (VM_MAX_DISKS + 1) + 1];
	char paths[VM_MAX_DISKS + 1][32];
	for (int i = 0; i <= VM_MAX_DISKS; i++) {
		snprintf(paths[i], sizeof(paths[i]), "path=d%d", i);
		many[2 * i] = "--disk";
		many[2 * i + 1] = paths[i];
	}
	many[2 * (VM_MAX_DISKS + 1)] = NULL;
	expect_args_error(many, "more than 16 disks");
}

static void test_help(void)
{
	if (g_test_subprocess()) {
		struct vm_config cfg;
		vm_config_init(&cfg);
		int ret = parse(&cfg, ARGS("--memory", "512", "--help"));
		vm_config_free(&cfg);
		exit(ret == 1 ? 0 : 10);
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_test_trap_assert_stdout("*Usage:*--config FILE.json*--disk path=PATH*--on-crash*Exit status*");
}

static void test_validate(void)
{
	struct vm_config cfg;

	vm_config_init(&cfg);
	cfg.kernel = g_strdup("/k");
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, 0);

	cfg.console.kind = CHARDEV_STDIO;
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "both use stdio"));
	cfg.console.kind = CHARDEV_NONE;

	cfg.memory_mib = 1;
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "memory_mib"));
	cfg.memory_mib = 256;

	cfg.vcpus = 0;
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "vcpus"));
	cfg.vcpus = 1;

	cfg.on_crash = (enum lifecycle_action)7;
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "on_crash"));
	cfg.on_crash = ACTION_DESTROY;
	vm_config_free(&cfg);

	g_assert_cmpint(load(&cfg, "{\"kernel\":\"k\",\"disks\":[{\"path\":\"a\"},{\"path\":\"a\"}]}"), ==, 0);
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "disks[1].path: a is already disks[0]"));
	vm_config_free(&cfg);

	g_assert_cmpint(load(&cfg, "{\"kernel\":\"k\",\"nics\":[{\"tap\":\"t\"},{\"tap\":\"t\"}]}"), ==, 0);
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "nics[1].tap"));
	vm_config_free(&cfg);

	g_assert_cmpint(load(&cfg, "{\"kernel\":\"k\",\"nics\":[{\"tap\":\"a\",\"mac\":\"52:54:00:00:00:01\"},"
			       "{\"tap\":\"b\",\"mac\":\"52:54:00:00:00:01\"}]}"), ==, 0);
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "nics[1].mac: same MAC"));
	vm_config_free(&cfg);

	char *sock = g_strnfill(120, 's');
	char *json = g_strdup_printf("{\"kernel\":\"k\",\"console\":{\"type\":\"unix\",\"path\":\"/%s\"}}", sock);
	expect_json_error(json, "console: socket path is 121 bytes");
	g_free(json);
	g_free(sock);

	g_assert_cmpint(load(&cfg, "{\"kernel\":\"k\",\"serial\":\"file:/x\",\"console\":\"file:/x\"}"), ==, 0);
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "both use /x"));
	vm_config_free(&cfg);
}

static void test_action_names_and_mac(void)
{
	struct vm_config cfg;
	uint8_t a[6], b[6], c[6];

	g_assert_cmpstr(lifecycle_action_name(ACTION_DESTROY), ==, "destroy");
	g_assert_cmpstr(lifecycle_action_name(ACTION_RESTART), ==, "restart");
	g_assert_cmpstr(lifecycle_action_name(ACTION_PRESERVE), ==, "preserve");

	g_assert_cmpint(load(&cfg, "{\"nics\":[{\"tap\":\"a\"},{\"tap\":\"b\",\"mac\":\"52:54:00:01:02:03\"}]}"), ==, 0);
	vm_config_nic_mac(&cfg, 0, a);
	vm_config_nic_mac(&cfg, 0, b);
	g_assert_cmpmem(a, 6, b, 6);                    /* stable */
	g_assert_cmphex(a[0], ==, 0x52);
	g_assert_cmphex(a[0] & 1, ==, 0);               /* unicast */
	vm_config_nic_mac(&cfg, 1, c);
	g_assert_cmphex(c[5], ==, 0x03);                /* configured one wins */
	vm_config_nic_mac(&cfg, 2, c);
	g_assert_true(memcmp(a, c, 6) != 0);            /* differs per index */
	vm_config_free(&cfg);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/json/full", test_json_full);
	g_test_add_func("/config/json/partial", test_json_partial_keeps_defaults);
	g_test_add_func("/config/json/types", test_json_syntax_and_types);
	g_test_add_func("/config/json/ranges", test_json_ranges);
	g_test_add_func("/config/json/names", test_json_names);
	g_test_add_func("/config/json/nic-disk", test_json_nic_and_disk_rules);
	g_test_add_func("/config/json/file", test_json_file);
	g_test_add_func("/config/args/basic", test_args_basic);
	g_test_add_func("/config/args/override", test_args_override_file);
	g_test_add_func("/config/args/errors", test_args_errors);
	g_test_add_func("/config/args/help", test_help);
	g_test_add_func("/config/validate", test_validate);
	g_test_add_func("/config/names-mac", test_action_names_and_mac);
	return g_test_run();
}
