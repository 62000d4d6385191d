/* xl.cfg parsing and the xl.cfg -> Atoll definition mapping. */
#include "xlcfg.h"

#include <string.h>

static XlConfig *parse_ok(const char *text)
{
	g_autoptr(GError) error = NULL;
	XlConfig *cfg = xlcfg_parse(text, "vm.cfg", &error);
	g_assert_no_error(error);
	g_assert_nonnull(cfg);
	return cfg;
}

static void assert_parse_error(const char *text, const char *message)
{
	g_autoptr(GError) error = NULL;
	XlConfig *cfg = xlcfg_parse(text, "vm.cfg", &error);
	g_assert_null(cfg);
	g_assert_error(error, XLCFG_ERROR, XLCFG_ERROR_SYNTAX);
	g_assert_cmpstr(error->message, ==, message);
}

/* The definition as compact JSON, and the notes joined by newlines. */
static char *map(const char *text, GHashTable *bridges, char **notes_out, GError **error)
{
	g_autoptr(XlConfig) cfg = parse_ok(text);
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(JsonNode) def = xlcfg_to_definition(cfg, bridges, notes, error);
	if (notes_out) {
		g_ptr_array_add(notes, NULL);
		*notes_out = g_strjoinv("\n", (char **)notes->pdata);
	}
	return def ? json_to_string(def, FALSE) : NULL;
}

static void test_syntax(void)
{
	g_autoptr(XlConfig) cfg = parse_ok(
		"# a comment\n"
		"name = \"web\"   # trailing comment\n"
		"memory = 1024; vcpus=2\n"
		"\n"
		"extra = 'console=hvc0 \\\"q\\\"'\n"
		"disk = [ 'a',\n"
		"         \"b\",   # comment inside a list\n"
		"       ]\n"
		"pci = []\n");
	g_assert_cmpuint(cfg->settings->len, ==, 6);
	const XlSetting *s = xlcfg_lookup(cfg, "name");
	g_assert_cmpint(s->value->type, ==, XL_STRING);
	g_assert_cmpstr(s->value->text, ==, "web");
	g_assert_cmpint(s->line, ==, 2);
	s = xlcfg_lookup(cfg, "vcpus");
	g_assert_cmpint(s->value->type, ==, XL_NUMBER);
	g_assert_cmpstr(s->value->text, ==, "2");
	g_assert_cmpint(s->line, ==, 3);
	g_assert_cmpstr(xlcfg_lookup(cfg, "extra")->value->text, ==, "console=hvc0 \"q\"");
	s = xlcfg_lookup(cfg, "disk");
	g_assert_cmpint(s->value->type, ==, XL_LIST);
	g_assert_cmpuint(s->value->items->len, ==, 2);
	g_assert_cmpstr(((XlValue *)g_ptr_array_index(s->value->items, 1))->text, ==, "b");
	g_assert_cmpint(((XlValue *)g_ptr_array_index(s->value->items, 1))->line, ==, 7);
	g_assert_cmpuint(xlcfg_lookup(cfg, "pci")->value->items->len, ==, 0);
	g_assert_null(xlcfg_lookup(cfg, "kernel"));
}

static void test_repeat_and_append(void)
{
	g_autoptr(XlConfig) cfg = parse_ok(
		"memory = 512\nmemory = 2048\n"
		"disk = ['a']\ndisk += ['b', 'c']\n"
		"extra = 'x'\nextra += ' y'\n");
	g_assert_cmpstr(xlcfg_lookup(cfg, "memory")->value->text, ==, "2048");
	g_assert_cmpint(xlcfg_lookup(cfg, "memory")->line, ==, 2);
	g_assert_cmpuint(xlcfg_lookup(cfg, "disk")->value->items->len, ==, 3);
	g_assert_cmpstr(xlcfg_lookup(cfg, "extra")->value->text, ==, "x y");
}

static void test_syntax_errors(void)
{
	assert_parse_error("name = \"web\"\nmemory 1024\n",
			   "vm.cfg:2: expected '=' after 'memory'");
	assert_parse_error("name = web\n",
			   "vm.cfg:1: 'web' needs quotes: strings are written \"like this\"");
	assert_parse_error("\n\nname = \"web\n",
			   "vm.cfg:3: unterminated string (missing \")");
	assert_parse_error("disk = [ 'a'\n 'b' ]\n",
			   "vm.cfg:2: expected ',' or ']' in the list opened on line 1");
	assert_parse_error("name = 'a' 'b'\n",
			   "vm.cfg:1: expected the end of the line after the value of 'name'");
	assert_parse_error("a = 1\nb = 2\n  @\n", "vm.cfg:3: unexpected character '@'");
	assert_parse_error("x = 1\nx += 2\n",
			   "vm.cfg:2: '+=' needs a list or a string set earlier for 'x'");
	assert_parse_error("x = 'a\\q'\n", "vm.cfg:1: unknown escape '\\q' in a string");
	assert_parse_error("= 3\n", "vm.cfg:1: expected a setting name (key = value)");
}

static void test_map_full(void)
{
	g_autofree char *notes = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *json = map(
		"name = 'web'\n"
		"builder = 'generic'\n"
		"type = 'pvh'\n"
		"memory = 1024\n"
		"maxmem = 2048\n"
		"vcpus = 2\n"
		"kernel = '/boot/vmlinuz'\n"
		"ramdisk = '/boot/initrd.img'\n"
		"root = '/dev/vda1 ro'\n"
		"extra = 'console=hvc0'\n"
		"disk = [ 'format=raw, vdev=xvda, access=rw, target=/img/web,1.img',\n"
		"         '/img/data.img,raw,xvdb,ro',\n"
		"         'phy:/dev/vg/x,xvdc,w' ]\n"
		"vif = [ 'mac=00:16:3E:01:02:03,bridge=virbr0,model=e1000', '' ]\n"
		"on_poweroff = 'destroy'\n"
		"on_reboot = 'restart'\n"
		"on_crash = 'coredump-destroy'\n",
		NULL, &notes, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json, ==,
		"{\"name\":\"web\",\"memory_mib\":1024,\"vcpus\":2,"
		"\"kernel\":\"/boot/vmlinuz\",\"initrd\":\"/boot/initrd.img\","
		"\"cmdline\":\"root=/dev/vda1 ro console=hvc0\","
		"\"disks\":[{\"path\":\"/img/web,1.img\",\"readonly\":false},"
		"{\"path\":\"/img/data.img\",\"readonly\":true},"
		"{\"path\":\"/dev/vg/x\",\"readonly\":false}],"
		"\"nics\":[{\"type\":\"network\",\"network\":\"virbr0\",\"mac\":\"00:16:3e:01:02:03\"},"
		"{\"type\":\"network\",\"network\":\"default\"}],"
		"\"on_poweroff\":\"destroy\",\"on_reboot\":\"restart\",\"on_crash\":\"destroy\"}");
	g_assert_cmpstr(notes, ==,
		"xl.cfg: ignoring 'builder' (not used by Atoll)\n"
		"xl.cfg: ignoring 'type' (not used by Atoll)\n"
		"xl.cfg: ignoring 'maxmem' (not used by Atoll)\n"
		"xl.cfg: disk[0]: vdev 'xvda' not used: Atoll orders disks as listed\n"
		"xl.cfg: disk[1]: vdev 'xvdb' not used: Atoll orders disks as listed\n"
		"xl.cfg: disk[2]: vdev 'xvdc' not used: Atoll orders disks as listed\n"
		"xl.cfg: vif[0]: ignoring 'model=e1000' (not used by Atoll)\n"
		"xl.cfg: on_crash = 'coredump-destroy' becomes 'destroy' "
		"(Atoll does not write guest core dumps)");
}

static void test_map_cmdline_wins(void)
{
	g_autofree char *notes = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *json = map("name='a'\nroot='/dev/xvda'\ncmdline='quiet'\n", NULL,
				    &notes, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json, ==, "{\"name\":\"a\",\"cmdline\":\"quiet\"}");
	g_assert_cmpstr(notes, ==,
		"xl.cfg: ignoring 'root' and 'extra' because 'cmdline' is set");

	g_autofree char *root_only = map("name='a'\nroot='/dev/xvda'\n", NULL, NULL, &error);
	g_assert_cmpstr(root_only, ==, "{\"name\":\"a\",\"cmdline\":\"root=/dev/xvda\"}");
}

static void test_map_bridges(void)
{
	g_autoptr(GHashTable) t = g_hash_table_new(g_str_hash, g_str_equal);
	g_hash_table_insert(t, "virbr0", "default");
	g_hash_table_insert(t, "default", "default");
	g_hash_table_insert(t, "lab", "lab");
	g_autoptr(GError) error = NULL;
	g_autofree char *json = map("name='a'\nvif=['bridge=virbr0','bridge=lab']\n", t,
				    NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json, ==, "{\"name\":\"a\",\"nics\":["
		"{\"type\":\"network\",\"network\":\"default\"},"
		"{\"type\":\"network\",\"network\":\"lab\"}]}");

	g_autofree char *bad = map("name='a'\n\nvif=['bridge=xenbr0']\n", t, NULL, &error);
	g_assert_null(bad);
	g_assert_error(error, XLCFG_ERROR, XLCFG_ERROR_MAPPING);
	g_assert_cmpstr(error->message, ==, "vm.cfg:3: vif[0]: no libvirt network has the "
			"bridge or name 'xenbr0' (see `atoll network-list`)");
}

static void assert_map_error(const char *text, const char *message)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *json = map(text, NULL, NULL, &error);
	g_assert_null(json);
	g_assert_error(error, XLCFG_ERROR, XLCFG_ERROR_MAPPING);
	g_assert_cmpstr(error->message, ==, message);
}

static void test_map_errors(void)
{
	assert_map_error("memory = 512\n", "vm.cfg: 'name' is not set (add: name = \"myvm\")");
	assert_map_error("name = 'a'\nmemory = 'lots'\n",
			 "vm.cfg:2: 'memory' must be a positive whole number, not 'lots'");
	assert_map_error("name = 'a'\nvcpus = 0\n",
			 "vm.cfg:2: 'vcpus' must be a positive whole number, not '0'");
	assert_map_error("name = 5\n", "vm.cfg:1: 'name' must be a \"string\"");
	assert_map_error("name = 'a'\n\ndisk = [ '/x.qcow2,qcow2,xvda,w' ]\n",
			 "vm.cfg:3: disk[0]: format 'qcow2' is not supported: Atoll uses raw "
			 "images (convert with: qemu-img convert -O raw IN OUT)");
	assert_map_error("name = 'a'\ndisk = [ '/x', \n'/y,raw,xvdb,rwx,extra' ]\n",
			 "vm.cfg:3: disk[1]: too many positional parameters at 'extra'");
	assert_map_error("name = 'a'\ndisk = [ 'access=maybe, target=/x' ]\n",
			 "vm.cfg:2: disk[0]: access must be 'r', 'ro', 'w' or 'rw', not 'maybe'");
	assert_map_error("name = 'a'\ndisk = '/x'\n",
			 "vm.cfg:2: 'disk' must be a [list] of \"strings\"");
	assert_map_error("name = 'a'\nvif = [ 'mac=zz' ]\n",
			 "vm.cfg:2: vif[0]: mac 'zz' is not of the form 52:54:00:12:34:56");
	assert_map_error("name = 'a'\non_crash = 'explode'\n",
			 "vm.cfg:2: on_crash: unknown action 'explode' (xl knows destroy, restart, "
			 "preserve, rename-restart, coredump-destroy, coredump-restart, soft-reset)");
}

static void test_map_disk_forms(void)
{
	g_autofree char *notes = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *json = map(
		"name='a'\n"
		"disk=['/a.img', 'qcow2:/b.img', ',raw,hdc,ro,devtype=cdrom',"
		" 'vdev=xvdd, devtype=cdrom, access=r, target=/iso/x.iso',"
		" 'file:/c.img,,xvde', 'discard, backendtype=qdisk, target=/d.img']\n",
		NULL, &notes, &error);
	/* qcow2: prefix marks a qcow2 image: refused. */
	g_assert_null(json);
	g_assert_error(error, XLCFG_ERROR, XLCFG_ERROR_MAPPING);
	g_assert_nonnull(strstr(error->message, "disk[1]: format 'qcow2'"));
	g_clear_error(&error);
	g_clear_pointer(&notes, g_free);

	g_autofree char *ok = map(
		"name='a'\n"
		"disk=['/a.img', ',raw,hdc,ro,devtype=cdrom',"
		" 'vdev=xvdd, devtype=cdrom, access=r, target=/iso/x.iso',"
		" 'file:/c.img,,xvde', 'backendtype=qdisk, target=/d.img']\n",
		NULL, &notes, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(ok, ==, "{\"name\":\"a\",\"disks\":["
		"{\"path\":\"/a.img\",\"readonly\":false},"
		"{\"path\":\"/iso/x.iso\",\"readonly\":true},"
		"{\"path\":\"/c.img\",\"readonly\":false},"
		"{\"path\":\"/d.img\",\"readonly\":false}]}");
	g_assert_nonnull(strstr(notes, "xl.cfg: disk[1]: skipping an empty cdrom drive (no target)"));
	g_assert_nonnull(strstr(notes, "xl.cfg: disk[4]: ignoring 'backendtype=qdisk'"));
}

static void test_map_actions(void)
{
	g_autofree char *notes = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *json = map("name='a'\non_poweroff='preserve'\n"
				    "on_reboot='rename-restart'\non_crash='soft-reset'\n",
				    NULL, &notes, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json, ==, "{\"name\":\"a\",\"on_poweroff\":\"preserve\","
			"\"on_reboot\":\"restart\",\"on_crash\":\"restart\"}");
	g_assert_nonnull(strstr(notes, "on_reboot = 'rename-restart' becomes 'restart'"));
	g_assert_nonnull(strstr(notes, "on_crash = 'soft-reset' becomes 'restart'"));
}

static void test_map_pci(void)
{
	g_autofree char *notes = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *json = map("name='a'\npci=['01:00.0@05,permissive=1', '0000:01:00.1']\n",
				    NULL, &notes, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json, ==, "{\"name\":\"a\",\"pci\":[{\"host\":\"01:00.0\"},"
			"{\"host\":\"0000:01:00.1\"}]}");
	g_assert_nonnull(strstr(notes, "pci[0]: ignoring the guest slot '05'"));
	g_assert_nonnull(strstr(notes, "pci[0]: ignoring 'permissive=1'"));
	g_assert_null(strstr(notes, "ignoring 'pci'"));
	g_autofree char *bad = map("name='a'\npci=['01:00.*']\n", NULL, NULL, &error);
	g_assert_null(bad);
	g_assert_nonnull(strstr(error->message, "list each function"));
}

static void test_uses_bridges(void)
{
	g_autoptr(XlConfig) a = parse_ok("vif = ['mac=00:16:3e:00:00:01']\n");
	g_autoptr(XlConfig) b = parse_ok("vif = ['mac=00:16:3e:00:00:01, bridge=br0']\n");
	g_assert_false(xlcfg_uses_bridges(a));
	g_assert_true(xlcfg_uses_bridges(b));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/xlcfg/syntax", test_syntax);
	g_test_add_func("/xlcfg/repeat-append", test_repeat_and_append);
	g_test_add_func("/xlcfg/syntax-errors", test_syntax_errors);
	g_test_add_func("/xlcfg/map/full", test_map_full);
	g_test_add_func("/xlcfg/map/cmdline", test_map_cmdline_wins);
	g_test_add_func("/xlcfg/map/bridges", test_map_bridges);
	g_test_add_func("/xlcfg/map/errors", test_map_errors);
	g_test_add_func("/xlcfg/map/disk-forms", test_map_disk_forms);
	g_test_add_func("/xlcfg/map/actions", test_map_actions);
	g_test_add_func("/xlcfg/uses-bridges", test_uses_bridges);
	g_test_add_func("/xlcfg/map/pci", test_map_pci);
	return g_test_run();
}
