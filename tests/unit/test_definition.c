/* Domain definitions: JSON round trip and strict validation. */
#include "atolld.h"

#include <string.h>

static const char *const good =
	"{\"name\": \"work\", \"memory_mib\": 1024, \"vcpus\": 2,"
	" \"kernel\": \"/boot/vmlinuz\", \"initrd\": \"/boot/initrd\","
	" \"cmdline\": \"console=ttyS0\","
	" \"disks\": [{\"path\": \"/img/a.img\", \"readonly\": false, \"serial\": \"WORK1\"},"
	"             {\"path\": \"/img/b.img\", \"readonly\": true}],"
	" \"nics\": [{\"type\": \"network\", \"network\": \"default\", \"mac\": \"52:54:00:AB:34:56\"},"
	"            {\"type\": \"isolated\"}, {\"type\": \"user\"}],"
	" \"on_poweroff\": \"destroy\", \"on_reboot\": \"restart\", \"on_crash\": \"preserve\","
	" \"shutdown_timeout_s\": 30, \"autostart\": true, \"label\": \"#3584E4\","
	" \"graphics\": {\"type\": \"spice\", \"gpu\": \"bochs\"}}";

static JsonNode *parse(const char *text)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
	return json_node_ref(json_parser_get_root(p));
}

static DomainDef *def_from(const char *text, GError **error)
{
	g_autoptr(JsonNode) n = parse(text);
	return domain_def_from_json(n, error);
}

static void test_full(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(DomainDef) def = def_from(good, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(def->name, ==, "work");
	g_assert_cmpuint(def->memory_mib, ==, 1024);
	g_assert_cmpuint(def->vcpus, ==, 2);
	g_assert_cmpstr(def->initrd, ==, "/boot/initrd");
	g_assert_cmpuint(def->disks->len, ==, 2);
	DiskDef *d1 = g_ptr_array_index(def->disks, 1);
	g_assert_true(d1->readonly);
	g_assert_null(d1->serial);
	g_assert_cmpuint(def->nics->len, ==, 3);
	NicDef *n0 = g_ptr_array_index(def->nics, 0);
	g_assert_cmpint(n0->type, ==, NIC_NETWORK);
	g_assert_cmpstr(n0->mac, ==, "52:54:00:ab:34:56");   /* normalised */
	NicDef *n1 = g_ptr_array_index(def->nics, 1);
	g_assert_cmpint(n1->type, ==, NIC_ISOLATED);
	g_assert_true(g_str_has_prefix(n1->mac, "52:54:00:"));   /* generated */
	g_assert_cmpstr(def->on_crash, ==, "preserve");
	g_assert_cmpuint(def->shutdown_timeout_s, ==, 30);
	g_assert_true(def->autostart);
	g_assert_cmpstr(def->label, ==, "#3584e4");
	g_assert_cmpint(def->graphics.type, ==, GRAPHICS_SPICE);
	g_assert_cmpint(def->graphics.gpu, ==, GPU_BOCHS);

	/* to_json -> from_json gives the same definition, MACs included. */
	g_autoptr(JsonNode) out = domain_def_to_json(def);
	g_autoptr(DomainDef) again = domain_def_from_json(out, &err);
	g_assert_no_error(err);
	g_autoptr(JsonNode) out2 = domain_def_to_json(again);
	g_autofree char *a = json_to_string(out, FALSE);
	g_autofree char *b = json_to_string(out2, FALSE);
	g_assert_cmpstr(a, ==, b);
}

static void test_defaults(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(DomainDef) def = def_from(
		"{\"name\":\"m\",\"memory_mib\":16,\"vcpus\":1,\"kernel\":\"/k\"}", &err);
	g_assert_no_error(err);
	g_assert_cmpstr(def->on_poweroff, ==, "destroy");
	g_assert_cmpstr(def->on_reboot, ==, "restart");
	g_assert_cmpstr(def->on_crash, ==, "destroy");
	g_assert_cmpuint(def->shutdown_timeout_s, ==, 60);
	g_assert_false(def->autostart);
	g_assert_null(def->label);
	g_assert_null(def->initrd);
	g_assert_cmpuint(def->disks->len, ==, 0);
	g_autoptr(JsonNode) out = domain_def_to_json(def);
	JsonObject *o = json_node_get_object(out);
	g_assert_false(json_object_has_member(o, "label"));
	g_assert_false(json_object_has_member(o, "initrd"));
	g_assert_cmpint(def->graphics.type, ==, GRAPHICS_NONE);
	g_autofree char *g = json_to_string(json_object_get_member(o, "graphics"), FALSE);
	g_assert_cmpstr(g, ==, "{\"type\":\"none\"}");
}

static void test_passthrough(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(DomainDef) def = def_from(
		"{\"name\":\"m\",\"memory_mib\":16,\"vcpus\":1,\"kernel\":\"/k\","
		"\"pci\":[{\"host\":\"1:0.0\",\"rom\":\"/roms/gpu.rom\"},{\"host\":\"01:00.1\"}],"
		"\"usb\":[{\"host\":\"046D:C52B\"},{\"host\":\"1-4.2\"}]}", &err);
	g_assert_no_error(err);
	g_assert_cmpuint(def->pci->len, ==, 2);
	PciDef *p0 = g_ptr_array_index(def->pci, 0), *p1 = g_ptr_array_index(def->pci, 1);
	g_assert_cmpstr(p0->host, ==, "0000:01:00.0");   /* normalised */
	g_assert_cmpstr(p0->rom, ==, "/roms/gpu.rom");
	g_assert_cmpstr(p1->host, ==, "0000:01:00.1");
	g_assert_null(p1->rom);
	g_assert_cmpuint(def->usb->len, ==, 2);
	g_assert_cmpstr(((UsbDef *)g_ptr_array_index(def->usb, 0))->host, ==, "046d:c52b");
	g_assert_cmpstr(((UsbDef *)g_ptr_array_index(def->usb, 1))->host, ==, "1-4.2");
	g_autoptr(JsonNode) out = domain_def_to_json(def);
	g_autofree char *pci = json_to_string(
		json_object_get_member(json_node_get_object(out), "pci"), FALSE);
	g_assert_cmpstr(pci, ==, "[{\"host\":\"0000:01:00.0\",\"rom\":\"/roms/gpu.rom\"},"
			"{\"host\":\"0000:01:00.1\"}]");
	g_autofree char *usb = json_to_string(
		json_object_get_member(json_node_get_object(out), "usb"), FALSE);
	g_assert_cmpstr(usb, ==, "[{\"host\":\"046d:c52b\"},{\"host\":\"1-4.2\"}]");
	/* round trip */
	g_autoptr(DomainDef) again = domain_def_from_json(out, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(again->pci->len, ==, 2);

	g_assert_false(def->usb_controller);
	g_autoptr(DomainDef) ctl = def_from(
		"{\"name\":\"m\",\"memory_mib\":16,\"vcpus\":1,\"kernel\":\"/k\","
		"\"usb_controller\":true}", &err);
	g_assert_no_error(err);
	g_assert_true(ctl->usb_controller);
	g_autoptr(JsonNode) cout = domain_def_to_json(ctl);
	g_assert_true(json_object_get_boolean_member(json_node_get_object(cout), "usb_controller"));

	/* none given: none written */
	g_autoptr(DomainDef) plain = def_from(
		"{\"name\":\"m\",\"memory_mib\":16,\"vcpus\":1,\"kernel\":\"/k\","
		"\"pci\":[],\"usb\":[]}", &err);
	g_assert_no_error(err);
	g_autoptr(JsonNode) pout = domain_def_to_json(plain);
	g_assert_false(json_object_has_member(json_node_get_object(pout), "pci"));
	g_assert_false(json_object_has_member(json_node_get_object(pout), "usb"));
}

static void test_graphics(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(DomainDef) def = def_from(
		"{\"name\":\"m\",\"memory_mib\":16,\"vcpus\":1,\"kernel\":\"/k\","
		"\"graphics\":{\"type\":\"spice\"}}", &err);
	g_assert_no_error(err);
	g_assert_cmpint(def->graphics.type, ==, GRAPHICS_SPICE);
	g_assert_cmpint(def->graphics.gpu, ==, GPU_VIRTIO);   /* the default */
	g_autoptr(JsonNode) out = domain_def_to_json(def);
	g_autofree char *g = json_to_string(
		json_object_get_member(json_node_get_object(out), "graphics"), FALSE);
	g_assert_cmpstr(g, ==, "{\"type\":\"spice\",\"gpu\":\"virtio\"}");

	g_autoptr(DomainDef) none = def_from(
		"{\"name\":\"m\",\"memory_mib\":16,\"vcpus\":1,\"kernel\":\"/k\","
		"\"graphics\":{\"type\":\"none\"}}", &err);
	g_assert_no_error(err);
	g_assert_cmpint(none->graphics.type, ==, GRAPHICS_NONE);
}

/* Each case: a replacement for one member of a minimal valid definition,
 * and the field path the error message must start with. */
typedef struct {
	const char *json;
	const char *field;
} BadCase;

static const BadCase bad_cases[] = {
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"bogus\":1}", "bogus" },
	{ "{\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":\"a\",\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"kernel\":\"/k\"}", "vcpus" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1}", "kernel" },
	{ "{\"name\":\"a/b\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":\".a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":\"\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":\"a b\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
	  "\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":1,\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\"}", "name" },
	{ "{\"name\":\"a\",\"memory_mib\":\"64\",\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"a\",\"memory_mib\":64.5,\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"a\",\"memory_mib\":null,\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"a\",\"memory_mib\":1048577,\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"a\",\"memory_mib\":-1,\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"a\",\"memory_mib\":8,\"vcpus\":1,\"kernel\":\"/k\"}", "memory_mib" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":65,\"kernel\":\"/k\"}", "vcpus" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":0,\"kernel\":\"/k\"}", "vcpus" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"k\"}", "kernel" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"initrd\":false}", "initrd" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"autostart\":1}", "autostart" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"on_crash\":\"explode\"}", "on_crash" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"on_reboot\":3}", "on_reboot" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"shutdown_timeout_s\":3601}", "shutdown_timeout_s" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"label\":\"blue\"}", "label" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"label\":\"#12345g\"}", "label" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\",\"disks\":{}}", "disks" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"disks\":[{\"path\":\"/a\"},{\"path\":\"rel\"}]}", "disks[1].path" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"disks\":[{\"path\":\"/a\"},{\"readonly\":true}]}", "disks[1].path" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"disks\":[{\"path\":\"/a\",\"readonly\":\"yes\"}]}", "disks[0].readonly" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"disks\":[{\"path\":\"/a\",\"size\":3}]}", "disks[0].size" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"disks\":[{\"path\":\"/a\",\"serial\":\"123456789012345678901\"}]}", "disks[0].serial" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"disks\":[{\"path\":\"/a\"},{\"path\":\"/a\"}]}", "disks[1]" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"disks\":[1]}", "disks[0]" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"user\",\"mac\":\"52:54:00:12:34\"}]}", "nics[0].mac" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"user\",\"mac\":\"01:54:00:12:34:56\"}]}", "nics[0].mac" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"user\",\"mac\":\"00:00:00:00:00:00\"}]}", "nics[0].mac" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"user\",\"mac\":\"52:54:00:12:34:5z\"}]}", "nics[0].mac" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"user\",\"mac\":\"52:54:00:12:34:56\"},"
	  "{\"type\":\"user\",\"mac\":\"52:54:00:12:34:56\"}]}", "nics[1].mac" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"bridge\"}]}", "nics[0].type" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{}]}", "nics[0].type" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"network\"}]}", "nics[0].network" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"user\",\"network\":\"default\"}]}", "nics[0].network" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"nics\":[{\"type\":\"user\"},{\"type\":\"user\"},{\"type\":\"user\"},{\"type\":\"user\"},"
	  "{\"type\":\"user\"},{\"type\":\"user\"},{\"type\":\"user\"},{\"type\":\"user\"},"
	  "{\"type\":\"user\"}]}", "nics" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"cmdline\":\"a\\nb\"}", "cmdline" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"graphics\":\"spice\"}", "graphics" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"graphics\":null}", "graphics" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"graphics\":{}}", "graphics.type" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"graphics\":{\"type\":\"vnc\"}}", "graphics.type" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"graphics\":{\"type\":true}}", "graphics.type" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"graphics\":{\"type\":\"spice\",\"gpu\":\"qxl\"}}", "graphics.gpu" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"graphics\":{\"type\":\"none\",\"gpu\":\"virtio\"}}", "graphics.gpu" },
	{ "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\","
	  "\"graphics\":{\"type\":\"spice\",\"port\":5900}}", "graphics.port" },
#define PT(x) "{\"name\":\"a\",\"memory_mib\":64,\"vcpus\":1,\"kernel\":\"/k\"," x "}"
	{ PT("\"pci\":{\"host\":\"01:00.0\"}"), "pci" },
	{ PT("\"pci\":[\"01:00.0\"]"), "pci[0]" },
	{ PT("\"pci\":[{}]"), "pci[0].host" },
	{ PT("\"pci\":[{\"host\":\"01:00\"}]"), "pci[0].host" },
	{ PT("\"pci\":[{\"host\":\"00:20.0\"}]"), "pci[0].host" },
	{ PT("\"pci\":[{\"host\":\"01:00.0\",\"rom\":\"gpu.rom\"}]"), "pci[0].rom" },
	{ PT("\"pci\":[{\"host\":\"01:00.0\",\"bar\":1}]"), "pci[0].bar" },
	{ PT("\"pci\":[{\"host\":\"01:00.0\"},{\"host\":\"0000:01:00.0\"}]"), "pci[1].host" },
	{ PT("\"pci\":[{\"host\":\"0:0.0\"},{\"host\":\"0:0.1\"},{\"host\":\"0:0.2\"},"
	     "{\"host\":\"0:0.3\"},{\"host\":\"0:0.4\"},{\"host\":\"0:0.5\"},"
	     "{\"host\":\"0:0.6\"},{\"host\":\"0:0.7\"},{\"host\":\"0:1.0\"}]"), "pci" },
	{ PT("\"usb\":[{\"host\":\"046d\"}]"), "usb[0].host" },
	{ PT("\"usb\":[{\"host\":\"1-0\"}]"), "usb[0].host" },
	{ PT("\"usb\":[{\"host\":null}]"), "usb[0].host" },
	{ PT("\"usb\":[{\"host\":\"046d:c52b\",\"port\":2}]"), "usb[0].port" },
	{ PT("\"usb\":[{\"host\":\"046D:C52B\"},{\"host\":\"046d:c52b\"}]"), "usb[1].host" },
	{ PT("\"usb\":[1]"), "usb[0]" },
	{ PT("\"usb_controller\":\"yes\""), "usb_controller" },
#undef PT
};

static void test_bad(gconstpointer data)
{
	const BadCase *c = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(DomainDef) def = def_from(c->json, &err);
	g_assert_null(def);
	g_assert_error(err, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST);
	g_autofree char *prefix = g_strdup_printf("%s: ", c->field);
	if (!g_str_has_prefix(err->message, prefix))
		g_error("expected a message starting with \"%s\", got \"%s\"",
			prefix, err->message);
}

static void test_not_object(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(DomainDef) def = def_from("[1,2]", &err);
	g_assert_null(def);
	g_assert_error(err, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST);
}

static void test_names(void)
{
	g_assert_true(domain_name_valid("a"));
	g_assert_true(domain_name_valid("web-1.prod_x"));
	g_assert_true(domain_name_valid(
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	g_assert_false(domain_name_valid(NULL));
	g_assert_false(domain_name_valid(""));
	g_assert_false(domain_name_valid(".hidden"));
	g_assert_false(domain_name_valid(".."));
	g_assert_false(domain_name_valid("a/b"));
	g_assert_false(domain_name_valid("é"));
	g_assert_false(domain_name_valid("a\nb"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/definition/full", test_full);
	g_test_add_func("/definition/defaults", test_defaults);
	g_test_add_func("/definition/not-object", test_not_object);
	g_test_add_func("/definition/names", test_names);
	g_test_add_func("/definition/graphics", test_graphics);
	g_test_add_func("/definition/passthrough", test_passthrough);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
		g_autofree char *path = g_strdup_printf("/definition/bad/%zu-%s", i,
							bad_cases[i].field);
		g_test_add_data_func(path, &bad_cases[i], test_bad);
	}
	return g_test_run();
}
