/* The definition store: atomic files in state_dir/domains, broken files
 * reported and never touched. */
#include "atolld.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
	char *dir;
	char *domains;
	Atolld *d;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
	(void)data;
	f->dir = g_dir_make_tmp("atolld-store-XXXXXX", NULL);
	g_assert_nonnull(f->dir);
	g_autofree char *state = g_build_filename(f->dir, "state", NULL);
	g_autofree char *run = g_build_filename(f->dir, "run", NULL);
	g_autoptr(GError) err = NULL;
	f->d = atolld_new(state, run, "/bin/false", &err);
	g_assert_no_error(err);
	f->domains = g_build_filename(state, "domains", NULL);
	g_assert_true(g_file_test(f->domains, G_FILE_TEST_IS_DIR));
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
	atolld_free(f->d);
	rm_rf(f->dir);
	g_free(f->dir);
	g_free(f->domains);
}

static DomainDef *make_def(const char *name)
{
	g_autofree char *text = g_strdup_printf(
		"{\"name\":\"%s\",\"memory_mib\":512,\"vcpus\":2,\"kernel\":\"/k\","
		"\"disks\":[{\"path\":\"/img/%s.img\"}],\"nics\":[{\"type\":\"user\"}],"
		"\"label\":\"#112233\"}", name, name);
	g_autoptr(JsonParser) p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
	g_autoptr(GError) err = NULL;
	DomainDef *def = domain_def_from_json(json_parser_get_root(p), &err);
	g_assert_no_error(err);
	return def;
}

static gint cmp_str_ptr(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in domains/, sorted. */
static char *listing(const char *dir)
{
	g_autoptr(GDir) gd = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *e;
	while ((e = g_dir_read_name(gd)))
		g_ptr_array_add(names, g_strdup(e));
	g_ptr_array_sort(names, cmp_str_ptr);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(" ", (char **)names->pdata);
}

static Atolld *reload(Fixture *f)
{
	g_autoptr(GError) err = NULL;
	Atolld *d = atolld_new(f->d->state_dir, f->d->run_dir, "/bin/false", &err);
	g_assert_no_error(err);
	store_load_all(d);
	return d;
}

static void test_roundtrip(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(DomainDef) a = make_def("alpha");
	g_autoptr(DomainDef) b = make_def("beta");
	g_autoptr(GError) err = NULL;
	g_assert_true(store_save(f->d, a, &err));
	g_assert_true(store_save(f->d, b, &err));
	g_assert_no_error(err);
	/* No temporary file is left behind. */
	g_autofree char *names = listing(f->domains);
	g_assert_cmpstr(names, ==, "alpha.json beta.json");

	Atolld *d = reload(f);
	g_assert_cmpuint(g_hash_table_size(d->domains), ==, 2);
	Domain *dom = atolld_lookup(d, "alpha");
	g_assert_nonnull(dom);
	g_assert_cmpint(dom->state, ==, DOMAIN_SHUTOFF);
	g_assert_cmpuint(dom->def->memory_mib, ==, 512);
	g_assert_cmpstr(dom->def->label, ==, "#112233");
	NicDef *nic = g_ptr_array_index(dom->def->nics, 0);
	NicDef *orig = g_ptr_array_index(a->nics, 0);
	g_assert_cmpstr(nic->mac, ==, orig->mac);   /* the generated MAC is kept */
	atolld_free(d);
}

static void test_replace_and_delete(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(DomainDef) a = make_def("alpha");
	g_autoptr(GError) err = NULL;
	g_assert_true(store_save(f->d, a, &err));
	a->memory_mib = 2048;
	g_assert_true(store_save(f->d, a, &err));
	g_autofree char *names = listing(f->domains);
	g_assert_cmpstr(names, ==, "alpha.json");
	Atolld *d = reload(f);
	g_assert_cmpuint(atolld_lookup(d, "alpha")->def->memory_mib, ==, 2048);
	atolld_free(d);

	g_assert_true(store_delete(f->d, "alpha", &err));
	g_assert_no_error(err);
	g_autofree char *after = listing(f->domains);
	g_assert_cmpstr(after, ==, "");
	/* Deleting what is already gone is not an error. */
	g_assert_true(store_delete(f->d, "alpha", &err));
	g_assert_no_error(err);
}

static void put_file(Fixture *f, const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(f->domains, name, NULL);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void test_broken(Fixture *f, gconstpointer data)
{
	(void)data;
	static const struct { const char *file, *text, *reason; } cases[] = {
		{ "badjson.json", "{\"name\": \"badjson\",", "not valid JSON" },
		{ "badfield.json", "{\"name\":\"badfield\",\"memory_mib\":64,\"vcpus\":1,"
		  "\"kernel\":\"/k\",\"colour\":1}", "colour: unknown field" },
		{ "other.json", "{\"name\":\"notother\",\"memory_mib\":64,\"vcpus\":1,"
		  "\"kernel\":\"/k\"}", "does not match the file name" },
		{ "bad name.json", "{}", "not a valid domain name" },
	};
	g_autoptr(DomainDef) good = make_def("good");
	g_assert_true(store_save(f->d, good, NULL));
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		put_file(f, cases[i].file, cases[i].text);
	/* Interrupted writes and other files are not domains. */
	put_file(f, ".good.json.tmp-abc123", "garbage");
	put_file(f, "README", "not a domain");

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		g_test_expect_message("atolld", G_LOG_LEVEL_WARNING,
				      "*broken domain definition*");
	Atolld *d = reload(f);
	g_test_assert_expected_messages();
	g_assert_cmpuint(g_hash_table_size(d->domains), ==, 5);
	g_assert_cmpint(atolld_lookup(d, "good")->state, ==, DOMAIN_SHUTOFF);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *name = g_strndup(cases[i].file,
						  strlen(cases[i].file) - 5);
		Domain *dom = atolld_lookup(d, name);
		g_assert_nonnull(dom);
		g_assert_cmpint(dom->state, ==, DOMAIN_BROKEN);
		g_assert_null(dom->def);
		if (!strstr(dom->broken_reason, cases[i].reason))
			g_error("%s: reason \"%s\" lacks \"%s\"", cases[i].file,
				dom->broken_reason, cases[i].reason);
		/* The file is left exactly as it was. */
		g_autofree char *path = g_build_filename(f->domains, cases[i].file, NULL);
		g_autofree char *text = NULL;
		g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
		g_assert_cmpstr(text, ==, cases[i].text);
	}
	atolld_free(d);
}

static void test_save_fails(Fixture *f, gconstpointer data)
{
	(void)data;
	/* A state directory that cannot hold the file: the error says so and
	 * nothing is left behind. */
	g_assert_cmpint(g_rmdir(f->domains), ==, 0);
	g_assert_true(g_file_set_contents(f->domains, "", 0, NULL));
	g_autoptr(DomainDef) a = make_def("alpha");
	g_autoptr(GError) err = NULL;
	g_assert_false(store_save(f->d, a, &err));
	g_assert_error(err, ATOLLD_ERROR, ATOLLD_ERROR_HOST);
	g_assert_nonnull(strstr(err->message, "domains"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/store/roundtrip", Fixture, NULL, setup, test_roundtrip, teardown);
	g_test_add("/store/replace-delete", Fixture, NULL, setup,
		   test_replace_and_delete, teardown);
	g_test_add("/store/broken", Fixture, NULL, setup, test_broken, teardown);
	g_test_add("/store/save-fails", Fixture, NULL, setup, test_save_fails, teardown);
	return g_test_run();
}
