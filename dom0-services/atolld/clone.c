/* Disk images atolld makes: copies of a domain (POST
 * /v1/domains/{name}/clone) and new blank images (POST /v1/images).
 * docs/api.md has the contract.
 *
 * Both write only under state_dir/images, with names atolld derives or
 * checks itself: atolld runs as root and a client in group atoll must not
 * be able to make it write anywhere else.  Images are raw and sparse: a
 * new image is a hole of the asked size, and a copy skips the source's
 * holes (SEEK_DATA/SEEK_HOLE) and its all-zero blocks.
 *
 * A clone answers 202 at once and copies in a worker thread; the main
 * thread turns the worker's byte counter into "clone-progress" events
 * twice a second, then defines the new domain ("domain-defined", then
 * "clone-done") or removes the partial copies ("clone-failed").  The
 * source must stay shut off meanwhile: api.c refuses to start a domain
 * while clone_busy() says so. */
#include "atolld.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (1024 * 1024)
#define PROGRESS_MS 500
#define MAX_IMAGE_MIB (16ull * 1024 * 1024)   /* 16 TiB */
#define MAX_IMAGE_NAME 64

typedef struct {
	char *from, *to, *partial;
	guint64 size;
} CopyItem;

typedef struct {
	Atolld *d;
	char *source, *name;
	DomainDef *def;          /* the new definition, disks pointing at the copies */
	GArray *items;           /* CopyItem */
	guint64 total;
	gint64 done;             /* bytes, updated by the worker (atomic) */
	gint64 reported;
	GSource *timer;          /* in the creating thread's context */
	GCancellable *cancel;
} CloneJob;

/* Names being copied from or to (both are off limits meanwhile). */
static GHashTable *busy;

static void copy_item_clear(gpointer p)
{
	CopyItem *it = p;
	g_free(it->from);
	g_free(it->to);
	g_free(it->partial);
}

static void stop_timer(CloneJob *job)
{
	if (!job->timer)
		return;
	g_source_destroy(job->timer);
	g_clear_pointer(&job->timer, g_source_unref);
}

static void job_free(CloneJob *job)
{
	g_hash_table_remove(busy, job->source);
	g_hash_table_remove(busy, job->name);
	stop_timer(job);
	g_clear_pointer(&job->def, domain_def_free);
	g_array_unref(job->items);
	g_clear_object(&job->cancel);
	g_free(job->source);
	g_free(job->name);
	g_free(job);
}

bool clone_busy(Atolld *d, const char *name)
{
	(void)d;
	return busy && g_hash_table_contains(busy, name);
}

/* ---- events ---- */

static void emit(CloneJob *job, const char *type, const char *message)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "type");
	json_builder_add_string_value(b, type);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, job->name);
	json_builder_set_member_name(b, "source");
	json_builder_add_string_value(b, job->source);
	json_builder_set_member_name(b, "done_bytes");
	json_builder_add_int_value(b, __atomic_load_n(&job->done, __ATOMIC_RELAXED));
	json_builder_set_member_name(b, "total_bytes");
	json_builder_add_int_value(b, (gint64)job->total);
	if (message) {
		json_builder_set_member_name(b, "message");
		json_builder_add_string_value(b, message);
	}
	json_builder_end_object(b);
#ifdef ATOLLD_HAVE_EVENTS
	events_emit(job->d, json_builder_get_root(b));
#else
	json_node_unref(json_builder_get_root(b));
#endif
}

static gboolean progress_tick(gpointer data)
{
	CloneJob *job = data;
	gint64 done = __atomic_load_n(&job->done, __ATOMIC_RELAXED);
	if (done != job->reported) {
		job->reported = done;
		emit(job, "clone-progress", NULL);
	}
	return G_SOURCE_CONTINUE;
}

/* ---- copying (worker thread) ---- */

static bool all_zero(const guint8 *buf, size_t n)
{
	return n == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0);
}

static void add_done(CloneJob *job, gint64 n)
{
	__atomic_fetch_add(&job->done, n, __ATOMIC_RELAXED);
}

/* Copies [off, end) of a data extent, leaving zero blocks as holes. */
static bool copy_extent(CloneJob *job, int in, int out, off_t off, off_t end,
			guint8 *buf, GError **error)
{
	while (off < end) {
		if (g_cancellable_set_error_if_cancelled(job->cancel, error))
			return false;
		size_t want = (size_t)MIN((off_t)COPY_CHUNK, end - off);
		ssize_t n = pread(in, buf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST, "reading: %s",
				    n < 0 ? g_strerror(errno) : "the image shrank");
			return false;
		}
		if (!all_zero(buf, (size_t)n)) {
			for (ssize_t w = 0; w < n;) {
				ssize_t k = pwrite(out, buf + w, (size_t)(n - w), off + w);
				if (k < 0 && errno == EINTR)
					continue;
				if (k < 0) {
					g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
						    "writing: %s", g_strerror(errno));
					return false;
				}
				w += k;
			}
		}
		off += n;
		add_done(job, n);
	}
	return true;
}

static bool copy_one(CloneJob *job, CopyItem *it, guint8 *buf, GError **error)
{
	int in = open(it->from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST, "%s: %s", it->from,
			    g_strerror(errno));
		return false;
	}
	int out = open(it->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (out < 0 || ftruncate(out, (off_t)it->size) < 0) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST, "%s: %s", it->partial,
			    g_strerror(errno));
		if (out >= 0)
			close(out);
		close(in);
		unlink(it->partial);
		return false;
	}
	bool ok = true;
	off_t off = 0, end = (off_t)it->size;
	while (ok && off < end) {
		off_t data = lseek(in, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;   /* only a hole is left */
		if (data < 0)
			data = off;   /* no SEEK_DATA here: zero blocks are still skipped */
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		add_done(job, data - off);
		ok = copy_extent(job, in, out, data, hole, buf, error);
		off = hole;
	}
	if (ok)
		add_done(job, end - MIN(off, end));
	if (ok && fsync(out) < 0) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST, "%s: fsync: %s",
			    it->partial, g_strerror(errno));
		ok = false;
	}
	close(out);
	close(in);
	/* link() refuses to replace: an image that appeared meanwhile stays. */
	if (ok && link(it->partial, it->to) < 0) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT, "%s: %s", it->to,
			    g_strerror(errno));
		ok = false;
	}
	unlink(it->partial);
	return ok;
}

static void copy_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
	CloneJob *job = data;
	(void)source;
	(void)cancel;
	g_autofree guint8 *buf = g_malloc(COPY_CHUNK);
	for (guint i = 0; i < job->items->len; i++) {
		GError *error = NULL;
		if (!copy_one(job, &g_array_index(job->items, CopyItem, i), buf, &error)) {
			for (guint j = 0; j < i; j++)
				unlink(g_array_index(job->items, CopyItem, j).to);
			g_task_return_error(task, error);
			return;
		}
	}
	g_task_return_boolean(task, TRUE);
}

/* ---- finishing (main thread) ---- */

static void remove_copies(CloneJob *job)
{
	for (guint i = 0; i < job->items->len; i++)
		unlink(g_array_index(job->items, CopyItem, i).to);
}

static void copy_done(GObject *source, GAsyncResult *res, gpointer data)
{
	CloneJob *job = data;
	(void)source;
	g_autoptr(GError) error = NULL;
	stop_timer(job);
	if (g_task_propagate_boolean(G_TASK(res), &error)) {
		progress_tick(job);
		if (atolld_lookup(job->d, job->name)) {
			g_set_error(&error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
				    "a domain called %s was defined while copying",
				    job->name);
		} else if (store_save(job->d, job->def, &error)) {
			Domain *dom = atolld_add_domain(job->d, g_steal_pointer(&job->def));
#ifdef ATOLLD_HAVE_SUPERVISOR
			supervisor_prepare_kernel(job->d, dom->def);
#endif
			g_autoptr(JsonBuilder) b = json_builder_new();
			json_builder_begin_object(b);
			json_builder_set_member_name(b, "type");
			json_builder_add_string_value(b, "domain-defined");
			json_builder_set_member_name(b, "name");
			json_builder_add_string_value(b, dom->name);
			json_builder_end_object(b);
#ifdef ATOLLD_HAVE_EVENTS
			events_emit(job->d, json_builder_get_root(b));
#else
			json_node_unref(json_builder_get_root(b));
#endif
			g_message("cloned %s as %s (%" G_GUINT64_FORMAT " bytes of disk)",
				  job->source, job->name, job->total);
			emit(job, "clone-done", NULL);
			job_free(job);
			return;
		}
		remove_copies(job);
	}
	g_autofree char *msg = g_strdup_printf("cloning %s as %s failed: %s — the partial "
		"copies were removed; free space under %s/images or fix the source, then "
		"clone again", job->source, job->name, error->message, job->d->state_dir);
	g_warning("%s", msg);
	emit(job, "clone-failed", msg);
	job_free(job);
}

/* ---- starting ---- */

/* "web.qcow" -> "qcow"; anything odd -> "img". */
static const char *extension_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	if (!dot || dot[1] == '\0' || strlen(dot + 1) > 8)
		return "img";
	for (const char *p = dot + 1; *p; p++)
		if (!g_ascii_isalnum(*p))
			return "img";
	return dot + 1;
}

/* Plans the copies and points the new definition at them.  Read-only
 * disks are shared, not copied (a shared base image is why they exist). */
static bool plan_copies(CloneJob *job, GError **error)
{
	g_autofree char *dir = g_build_filename(job->d->state_dir, "images", NULL);
	guint copied = 0;
	for (guint i = 0; i < job->def->disks->len; i++) {
		DiskDef *disk = g_ptr_array_index(job->def->disks, i);
		if (disk->readonly)
			continue;
		struct stat st;
		if (stat(disk->path, &st) < 0 || !S_ISREG(st.st_mode)) {
			g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
				    "disks[%u].path: %s %s — only regular image files can be "
				    "copied; fix the source domain's disk first", i, disk->path,
				    stat(disk->path, &st) < 0 ? g_strerror(errno) :
				    "is not a regular file");
			return false;
		}
		g_autofree char *base = copied ?
			g_strdup_printf("%s-%u.%s", job->name, copied, extension_of(disk->path)) :
			g_strdup_printf("%s.%s", job->name, extension_of(disk->path));
		CopyItem it = {
			.from = g_strdup(disk->path),
			.to = g_build_filename(dir, base, NULL),
			.size = (guint64)st.st_size,
		};
		it.partial = g_strdup_printf("%s.partial", it.to);
		if (g_file_test(it.to, G_FILE_TEST_EXISTS) ||
		    g_file_test(it.partial, G_FILE_TEST_EXISTS)) {
			g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
				    "new_name: the image %s exists already — pick another name, "
				    "or delete that file", it.to);
			copy_item_clear(&it);
			return false;
		}
		g_free(disk->path);
		disk->path = g_strdup(it.to);
		job->total += it.size;
		g_array_append_val(job->items, it);
		copied++;
	}
	return true;
}

/* The source's definition with the new name and without MAC addresses
 * (two NICs with one MAC on a network would fight); definition.c makes
 * new ones. */
static DomainDef *new_definition(Domain *src, const char *name, GError **error)
{
	g_autoptr(JsonNode) node = domain_def_to_json(src->def);
	JsonObject *o = json_node_get_object(node);
	json_object_set_string_member(o, "name", name);
	JsonNode *nics = json_object_get_member(o, "nics");
	if (nics && JSON_NODE_HOLDS_ARRAY(nics)) {
		JsonArray *a = json_node_get_array(nics);
		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *nic = json_array_get_element(a, i);
			if (JSON_NODE_HOLDS_OBJECT(nic))
				json_object_remove_member(json_node_get_object(nic), "mac");
		}
	}
	/* Host devices belong to one domain at a time. */
	json_object_remove_member(o, "pci");
	json_object_remove_member(o, "usb");
	return domain_def_from_json(node, error);
}

static const char *body_string(JsonNode *body, const char *key, GError **error)
{
	if (!body || !JSON_NODE_HOLDS_OBJECT(body)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
			    "the body must be a JSON object like {\"%s\": ...}", key);
		return NULL;
	}
	JsonObject *o = json_node_get_object(body);
	g_autoptr(GList) members = json_object_get_members(o);
	for (GList *l = members; l; l = l->next)
		if (strcmp(l->data, key) != 0 && strcmp(l->data, "size_mib") != 0) {
			g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
				    "%s: unknown member", (char *)l->data);
			return NULL;
		}
	JsonNode *v = json_object_get_member(o, key);
	if (!v || !JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
			    "%s: required, a string", key);
		return NULL;
	}
	return json_node_get_string(v);
}

JsonNode *clone_start(Atolld *d, Domain *src, JsonNode *body, GError **error)
{
	const char *name = body_string(body, "new_name", error);
	if (!name)
		return NULL;
	if (json_object_has_member(json_node_get_object(body), "size_mib")) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
			    "size_mib: unknown member");
		return NULL;
	}
	if (!domain_name_valid(name)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
			    "new_name: \"%s\" is not a valid domain name (letters, digits, "
			    "'-', '_' and '.', at most 64, not starting with '.')", name);
		return NULL;
	}
	if (!src->def) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
			    "the definition of %s is broken (%s) — fix it first", src->name,
			    src->broken_reason);
		return NULL;
	}
	if (atolld_lookup(d, name) || clone_busy(d, name)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
			    "new_name: a domain called %s already exists — pick another name",
			    name);
		return NULL;
	}
	if (domain_is_active(src) || clone_busy(d, src->name)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
			    "%s is %s — shut it down first: a running domain's disks change "
			    "while they are copied", src->name,
			    clone_busy(d, src->name) ? "being cloned" :
			    domain_state_name(src->state));
		return NULL;
	}
	CloneJob *job = g_new0(CloneJob, 1);
	job->d = d;
	job->source = g_strdup(src->name);
	job->name = g_strdup(name);
	job->items = g_array_new(FALSE, TRUE, sizeof(CopyItem));
	g_array_set_clear_func(job->items, copy_item_clear);
	job->def = new_definition(src, name, error);
	if (!busy)
		busy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (!job->def || !plan_copies(job, error)) {
		job_free(job);
		return NULL;
	}
	g_hash_table_add(busy, g_strdup(job->source));
	g_hash_table_add(busy, g_strdup(job->name));

	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, name);
	json_builder_set_member_name(b, "source");
	json_builder_add_string_value(b, src->name);
	json_builder_set_member_name(b, "total_bytes");
	json_builder_add_int_value(b, (gint64)job->total);
	json_builder_set_member_name(b, "copies");
	json_builder_begin_array(b);
	for (guint i = 0; i < job->items->len; i++) {
		CopyItem *it = &g_array_index(job->items, CopyItem, i);
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "from");
		json_builder_add_string_value(b, it->from);
		json_builder_set_member_name(b, "to");
		json_builder_add_string_value(b, it->to);
		json_builder_set_member_name(b, "bytes");
		json_builder_add_int_value(b, (gint64)it->size);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);

	job->cancel = g_cancellable_new();
	/* atolld's main context is the thread-default one (tests run it on
	 * a thread of its own). */
	job->timer = g_timeout_source_new(PROGRESS_MS);
	g_source_set_callback(job->timer, progress_tick, job, NULL);
	g_source_attach(job->timer, g_main_context_get_thread_default());
	emit(job, "clone-progress", NULL);
	g_autoptr(GTask) task = g_task_new(NULL, NULL, copy_done, job);
	g_task_set_task_data(task, job, NULL);
	g_task_run_in_thread(task, copy_thread);
	return json_builder_get_root(b);
}

/* ---- new blank images ---- */

static bool image_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > MAX_IMAGE_NAME || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("._-", *p))
			return false;
	return !g_str_has_suffix(name, ".partial");
}

JsonNode *image_create(Atolld *d, JsonNode *body, GError **error)
{
	const char *name = body_string(body, "name", error);
	if (!name)
		return NULL;
	JsonNode *size = json_object_get_member(json_node_get_object(body), "size_mib");
	if (!size || !JSON_NODE_HOLDS_VALUE(size) ||
	    json_node_get_value_type(size) != G_TYPE_INT64 ||
	    json_node_get_int(size) < 1 || (guint64)json_node_get_int(size) > MAX_IMAGE_MIB) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
			    "size_mib: required, a whole number of MiB from 1 to %llu",
			    MAX_IMAGE_MIB);
		return NULL;
	}
	if (!image_name_valid(name)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
			    "name: \"%s\" is not a valid image file name (letters, digits, "
			    "'.', '_' and '-', at most %d, not starting with '.')", name,
			    MAX_IMAGE_NAME);
		return NULL;
	}
	guint64 bytes = (guint64)json_node_get_int(size) * 1024 * 1024;
	g_autofree char *path = g_build_filename(d->state_dir, "images", name, NULL);
	g_autofree char *partial = g_strdup_printf("%s.partial", path);
	if (g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
			    "name: the image %s exists already — pick another name", path);
		return NULL;
	}
	/* A hole of the full size: instant, and it takes space only as the
	 * guest writes.  Made under a temporary name and linked into place so
	 * that nobody sees a half-made image and nothing is replaced. */
	int fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	bool ok = fd >= 0 && ftruncate(fd, (off_t)bytes) == 0 && fsync(fd) == 0;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	if (ok && link(partial, path) < 0) {
		saved = errno;
		ok = false;
	}
	if (fd >= 0)
		unlink(partial);
	if (!ok) {
		g_set_error(error, ATOLLD_ERROR, saved == EEXIST ? ATOLLD_ERROR_CONFLICT :
			    ATOLLD_ERROR_HOST, "%s: cannot create the image: %s%s", path,
			    g_strerror(saved), saved == ENOSPC ? " — free some disk space" : "");
		return NULL;
	}
	g_message("created image %s (%" G_GUINT64_FORMAT " MiB, sparse)", path,
		  bytes / (1024 * 1024));
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "path");
	json_builder_add_string_value(b, path);
	json_builder_set_member_name(b, "size_bytes");
	json_builder_add_int_value(b, (gint64)bytes);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}
