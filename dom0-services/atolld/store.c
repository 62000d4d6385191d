/* Domain definitions on disk: state_dir/domains/NAME.json, one per domain.
 * Writes are atomic (temporary file in the same directory, fsync, rename,
 * fsync of the directory) so a crash leaves the old or the new file, never
 * a torn one.  A file that does not load is reported and left alone: the
 * user may want to repair it by hand. */
#include "atolld.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *domains_dir(Atolld *d)
{
	return g_build_filename(d->state_dir, "domains", NULL);
}

static bool host_error(GError **error, const char *what, const char *path,
		       int err)
{
	g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
		    "cannot %s %s: %s — check the disk space and permissions of "
		    "the state directory", what, path, g_strerror(err));
	return false;
}

static bool fsync_dir(const char *dir, GError **error)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return host_error(error, "open directory", dir, errno);
	int r = fsync(fd);
	int e = errno;
	close(fd);
	if (r < 0)
		return host_error(error, "sync directory", dir, e);
	return true;
}

static bool write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* Writes data to a temporary file next to `path` and renames it over. */
static bool write_atomic(const char *dir, const char *path, const char *data,
			 size_t len, GError **error)
{
	g_autofree char *base = g_path_get_basename(path);
	/* Starts with '.', which no domain name does: never loaded. */
	g_autofree char *tmp = g_strdup_printf("%s/.%s.tmp-XXXXXX", dir, base);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0640);
	if (fd < 0)
		return host_error(error, "create", tmp, errno);
	if (!write_all(fd, data, len) || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return host_error(error, "write", tmp, e);
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return host_error(error, "replace", path, e);
	}
	return fsync_dir(dir, error);
}

bool store_save(Atolld *d, const DomainDef *def, GError **error)
{
	g_autofree char *dir = domains_dir(d);
	g_autofree char *file = g_strconcat(def->name, ".json", NULL);
	g_autofree char *path = g_build_filename(dir, file, NULL);
	g_autoptr(JsonNode) node = domain_def_to_json(def);
	g_autoptr(JsonGenerator) gen = json_generator_new();
	json_generator_set_pretty(gen, TRUE);
	json_generator_set_root(gen, node);
	gsize len;
	g_autofree char *text = json_generator_to_data(gen, &len);
	g_autofree char *data = g_strconcat(text, "\n", NULL);
	return write_atomic(dir, path, data, len + 1, error);
}

bool store_delete(Atolld *d, const char *name, GError **error)
{
	g_autofree char *dir = domains_dir(d);
	g_autofree char *file = g_strconcat(name, ".json", NULL);
	g_autofree char *path = g_build_filename(dir, file, NULL);
	if (unlink(path) < 0 && errno != ENOENT)
		return host_error(error, "remove", path, errno);
	return fsync_dir(dir, error);
}

/* OVMF's variable store template (Debian's ovmf); tests point elsewhere. */
static const char *nvram_template(void)
{
	const char *t = g_getenv("ATOLLD_OVMF_VARS_TEMPLATE");
	return t && *t ? t : "/usr/share/OVMF/OVMF_VARS_4M.fd";
}

char *store_nvram_path(const Atolld *d, const char *name)
{
	g_autofree char *file = g_strconcat(name, "_VARS.fd", NULL);
	return g_build_filename(d->state_dir, "nvram", file, NULL);
}

bool store_nvram_create(const Atolld *d, const char *name, GError **error)
{
	g_autofree char *dir = g_build_filename(d->state_dir, "nvram", NULL);
	g_autofree char *path = store_nvram_path(d, name);
	/* An existing store is the domain's boot entries: never overwritten. */
	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return true;
	if (g_mkdir_with_parents(dir, 0700) < 0)
		return host_error(error, "create", dir, errno);
	g_autofree char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) gerr = NULL;
	if (!g_file_get_contents(nvram_template(), &data, &len, &gerr)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "firmware: cannot read the UEFI variable template %s (%s) — "
			    "install Debian's ovmf package", nvram_template(), gerr->message);
		return false;
	}
	return write_atomic(dir, path, data, len, error);
}

bool store_nvram_delete(const Atolld *d, const char *name, GError **error)
{
	g_autofree char *dir = g_build_filename(d->state_dir, "nvram", NULL);
	g_autofree char *path = store_nvram_path(d, name);
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return true;
		return host_error(error, "remove", path, errno);
	}
	return fsync_dir(dir, error);
}

/* Loads one file; on failure returns NULL with the reason in *reason. */
static DomainDef *load_file(const char *path, const char *name, char **reason)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *data = NULL;
	gsize len;
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size > ATOLLD_MAX_BODY) {
		*reason = g_strdup_printf("the file is larger than %d bytes",
					  ATOLLD_MAX_BODY);
		return NULL;
	}
	if (!g_file_get_contents(path, &data, &len, &err)) {
		*reason = g_strdup(err->message);
		return NULL;
	}
	g_autoptr(JsonParser) parser = json_parser_new();
	if (!json_parser_load_from_data(parser, data, (gssize)len, &err)) {
		*reason = g_strdup_printf("not valid JSON: %s", err->message);
		return NULL;
	}
	DomainDef *def = domain_def_from_json(json_parser_get_root(parser), &err);
	if (!def) {
		*reason = g_strdup(err->message);
		return NULL;
	}
	if (strcmp(def->name, name) != 0) {
		*reason = g_strdup_printf("name: \"%s\" does not match the file "
					  "name %s.json", def->name, name);
		domain_def_free(def);
		return NULL;
	}
	return def;
}

static void load_one(Atolld *d, const char *dir, const char *file)
{
	g_autofree char *name = g_strndup(file, strlen(file) - strlen(".json"));
	g_autofree char *path = g_build_filename(dir, file, NULL);
	g_autofree char *reason = NULL;
	if (atolld_lookup(d, name))
		return;
	DomainDef *def = NULL;
	if (!domain_name_valid(name))
		reason = g_strdup("the file name is not a valid domain name");
	else
		def = load_file(path, name, &reason);
	if (def) {
		atolld_add_domain(d, def);
		return;
	}
	g_warning("%s: broken domain definition, left as is: %s — fix the "
		  "file or replace it with PUT /v1/domains/%s", path, reason, name);
	atolld_add_broken(d, name, reason);
}

void store_load_all(Atolld *d)
{
	g_autofree char *dir = domains_dir(d);
	g_autoptr(GError) err = NULL;
	g_autoptr(GDir) gd = g_dir_open(dir, 0, &err);
	if (!gd) {
		g_warning("cannot read %s: %s", dir, err->message);
		return;
	}
	const char *file;
	while ((file = g_dir_read_name(gd))) {
		/* Temporary files of an interrupted write start with a dot. */
		if (file[0] == '.' || !g_str_has_suffix(file, ".json"))
			continue;
		load_one(d, dir, file);
	}
}
