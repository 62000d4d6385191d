/* atolld and UEFI domains: the definition fields, the per-domain variable
 * store (created from the template atomically, never overwritten, deleted
 * only when asked) and the VMM flags. */
#include "atolld.h"
#include "vmm_client.h"

#include <glib/gstdio.h>
#include <string.h>

static DomainDef *parse(const char *text, GError **err)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
	return domain_def_from_json(json_parser_get_root(p), err);
}

static void test_definition(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(DomainDef) def = parse("{\"name\":\"win\",\"memory_mib\":512,\"vcpus\":2,"
		"\"firmware\":\"uefi\",\"boot_order\":\"disk0,net\"}", &err);
	g_assert_no_error(err);
	g_assert_cmpstr(def->firmware, ==, "uefi");
	g_assert_null(def->kernel);
	g_autoptr(JsonNode) j = domain_def_to_json(def);
	JsonObject *o = json_node_get_object(j);
	g_assert_cmpstr(json_object_get_string_member(o, "firmware"), ==, "uefi");
	g_assert_cmpstr(json_object_get_string_member(o, "boot_order"), ==, "disk0,net");

	static const char *const bad[][2] = {
		{ "{\"name\":\"a\",\"memory_mib\":512,\"vcpus\":1}", "kernel" },
		{ "{\"name\":\"a\",\"memory_mib\":512,\"vcpus\":1,\"firmware\":\"bios\",\"kernel\":\"/k\"}", "kernel" },
		{ "{\"name\":\"a\",\"memory_mib\":512,\"vcpus\":1,\"firmware\":\"bios\",\"cmdline\":\"x\"}", "cmdline" },
		{ "{\"name\":\"a\",\"memory_mib\":512,\"vcpus\":1,\"firmware\":\"coreboot\"}", "firmware" },
		{ "{\"name\":\"a\",\"memory_mib\":512,\"vcpus\":1,\"kernel\":\"/k\",\"boot_order\":\"disk\"}", "boot_order" },
		{ "{\"name\":\"a\",\"memory_mib\":512,\"vcpus\":1,\"firmware\":\"uefi\",\"boot_order\":\"cdrom\"}", "boot_order" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) e = NULL;
		g_autoptr(DomainDef) d = parse(bad[i][0], &e);
		g_assert_null(d);
		g_assert_nonnull(e);
		g_assert_true(g_str_has_prefix(e->message, bad[i][1]));
	}
}

static void test_nvram_and_argv(void)
{
	g_autofree char *dir = g_dir_make_tmp("atolld-uefi-XXXXXX", NULL);
	g_autofree char *tmpl = g_build_filename(dir, "template.fd", NULL);
	g_assert_true(g_file_set_contents(tmpl, "TEMPLATE-VARS", -1, NULL));
	g_setenv("ATOLLD_OVMF_VARS_TEMPLATE", tmpl, TRUE);
	g_autofree char *state = g_build_filename(dir, "state", NULL);
	g_autofree char *run = g_build_filename(dir, "run", NULL);
	g_autoptr(GError) err = NULL;
	Atolld *d = atolld_new(state, run, "/bin/atoll-vmm", &err);
	g_assert_no_error(err);

	g_autofree char *path = store_nvram_path(d, "win");
	g_assert_true(g_str_has_prefix(path, state));
	g_assert_true(store_nvram_create(d, "win", &err));
	g_autofree char *got = NULL;
	g_assert_true(g_file_get_contents(path, &got, NULL, NULL));
	g_assert_cmpstr(got, ==, "TEMPLATE-VARS");
	/* The firmware wrote boot entries: a second create keeps them. */
	g_assert_true(g_file_set_contents(path, "BOOT-ENTRIES", -1, NULL));
	g_assert_true(store_nvram_create(d, "win", &err));
	g_clear_pointer(&got, g_free);
	g_assert_true(g_file_get_contents(path, &got, NULL, NULL));
	g_assert_cmpstr(got, ==, "BOOT-ENTRIES");

	/* The VMM gets the store, the boot order and no --kernel. */
	g_autoptr(DomainDef) def = parse("{\"name\":\"win\",\"memory_mib\":512,\"vcpus\":2,"
		"\"firmware\":\"uefi\",\"boot_order\":\"disk0\"}", &err);
	g_assert_no_error(err);
	g_autoptr(GPtrArray) argv = supervisor_build_argv(d, def, NULL, NULL, &err);
	g_assert_no_error(err);
	g_autofree char *joined = g_strjoinv(" ", (char **)argv->pdata);
	g_autofree char *want = g_strdup_printf("--firmware uefi --firmware-vars %s "
						"--boot-order disk0", path);
	g_assert_nonnull(strstr(joined, want));
	g_assert_null(strstr(joined, "--kernel"));

	g_assert_true(store_nvram_delete(d, "win", &err));
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	g_assert_true(store_nvram_delete(d, "win", &err));   /* already gone: fine */

	/* A missing template says what to install. */
	g_setenv("ATOLLD_OVMF_VARS_TEMPLATE", "/nonexistent/OVMF_VARS_4M.fd", TRUE);
	g_assert_false(store_nvram_create(d, "other", &err));
	g_assert_nonnull(strstr(err->message, "ovmf"));
	atolld_free(d);
	g_unlink(tmpl);
	g_autofree char *nv = g_build_filename(state, "nvram", NULL);
	g_rmdir(nv);
}

/* firmware bios: the VMM gets --firmware bios and the boot order, no
 * variable store (none is created) and no kernel. */
static void test_bios(void)
{
	g_autofree char *dir = g_dir_make_tmp("atolld-bios-XXXXXX", NULL);
	g_autofree char *state = g_build_filename(dir, "state", NULL);
	g_autofree char *run = g_build_filename(dir, "run", NULL);
	g_autoptr(GError) err = NULL;
	Atolld *d = atolld_new(state, run, "/bin/atoll-vmm", &err);
	g_assert_no_error(err);
	g_autoptr(DomainDef) def = parse("{\"name\":\"dos\",\"memory_mib\":256,\"vcpus\":1,"
		"\"firmware\":\"bios\",\"boot_order\":\"disk0\"}", &err);
	g_assert_no_error(err);
	g_assert_cmpstr(def->firmware, ==, "bios");
	g_autoptr(JsonNode) j = domain_def_to_json(def);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(j), "firmware"),
			==, "bios");
	g_autoptr(GPtrArray) argv = supervisor_build_argv(d, def, NULL, NULL, &err);
	g_assert_no_error(err);
	g_autofree char *joined = g_strjoinv(" ", (char **)argv->pdata);
	g_assert_nonnull(strstr(joined, "--firmware bios --boot-order disk0"));
	g_assert_null(strstr(joined, "--firmware-vars"));
	g_assert_null(strstr(joined, "--kernel"));
	g_autofree char *path = store_nvram_path(d, "dos");
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	atolld_free(d);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/atolld-uefi/definition", test_definition);
	g_test_add_func("/atolld-uefi/nvram-and-argv", test_nvram_and_argv);
	g_test_add_func("/atolld-uefi/bios", test_bios);
	return g_test_run();
}
