/* The JSON API (docs/api.md): libsoup 3 on the unix socket
 * run_dir/atolld.sock.  One catch-all handler routes /v1/...; the WebSocket
 * routes are registered by events.c and console.c on longer paths, which
 * libsoup prefers.  Every request is validated completely before anything
 * changes, so a failed request has changed nothing. */
#include "atolld.h"

#include <errno.h>
#include <grp.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef ATOLLD_HAVE_LIBVIRT
#include "hostres.h"
#endif

#ifndef ATOLL_VERSION
#define ATOLL_VERSION "unknown"
#endif

typedef struct {
	Atolld *d;
	SoupServer *server;
	char *sock_path;
} Api;

/* ---- replies ---- */

static void send_json(SoupServerMessage *msg, guint status, JsonNode *node)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	json_generator_set_root(gen, node);
	gsize len;
	char *text = json_generator_to_data(gen, &len);
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE,
					 text, len);
	json_node_unref(node);
}

static const char *error_kind(guint status)
{
	switch (status) {
	case SOUP_STATUS_BAD_REQUEST: return "bad-request";
	case SOUP_STATUS_NOT_FOUND: return "not-found";
	case SOUP_STATUS_METHOD_NOT_ALLOWED: return "method-not-allowed";
	case SOUP_STATUS_CONFLICT: return "conflict";
	case SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE: return "too-large";
	default: return "host-error";
	}
}

static void send_error_status(SoupServerMessage *msg, guint status,
			      const char *field, const char *message)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "error");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "code");
	json_builder_add_string_value(b, error_kind(status));
	json_builder_set_member_name(b, "message");
	json_builder_add_string_value(b, message);
	if (field) {
		json_builder_set_member_name(b, "field");
		json_builder_add_string_value(b, field);
	}
	json_builder_end_object(b);
	json_builder_end_object(b);
	send_json(msg, status, json_builder_get_root(b));
}

static guint status_of(const GError *err)
{
	if (err->domain != ATOLLD_ERROR)
		return SOUP_STATUS_INTERNAL_SERVER_ERROR;
	switch ((AtolldError)err->code) {
	case ATOLLD_ERROR_BAD_REQUEST: return SOUP_STATUS_BAD_REQUEST;
	case ATOLLD_ERROR_NOT_FOUND: return SOUP_STATUS_NOT_FOUND;
	case ATOLLD_ERROR_CONFLICT: return SOUP_STATUS_CONFLICT;
	case ATOLLD_ERROR_TOO_LARGE: return SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE;
	case ATOLLD_ERROR_HOST: break;
	}
	return SOUP_STATUS_INTERNAL_SERVER_ERROR;
}

/* Bad-request messages start with the field's JSON path ("disks[1].path:
 * ..."); anything else before ": " is prose, not a field. */
static char *field_of(const GError *err)
{
	if (err->domain != ATOLLD_ERROR || err->code != ATOLLD_ERROR_BAD_REQUEST)
		return NULL;
	const char *colon = strstr(err->message, ": ");
	if (!colon || colon == err->message)
		return NULL;
	for (const char *p = err->message; p < colon; p++)
		if (!g_ascii_isalnum(*p) && !strchr("_.[]?", *p))
			return NULL;
	return g_strndup(err->message, (gsize)(colon - err->message));
}

static void send_gerror(SoupServerMessage *msg, const GError *err)
{
	g_autofree char *field = field_of(err);
	guint status = status_of(err);
	if (status == SOUP_STATUS_INTERNAL_SERVER_ERROR)
		g_warning("%s %s: %s", soup_server_message_get_method(msg),
			  g_uri_get_path(soup_server_message_get_uri(msg)),
			  err->message);
	send_error_status(msg, status, field, err->message);
}

static void send_error(SoupServerMessage *msg, guint status, const char *field,
		       const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void send_error(SoupServerMessage *msg, guint status, const char *field,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	send_error_status(msg, status, field, text);
}

static void send_not_built(SoupServerMessage *msg, const char *part)
{
	send_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL,
		   "atolld was built without %s — rebuild it with that part "
		   "present", part);
}

/* ---- request helpers ---- */

static bool method_is(SoupServerMessage *msg, const char *method)
{
	return strcmp(soup_server_message_get_method(msg), method) == 0;
}

/* Answers 405 unless the method is one of `allowed` (e.g. "GET, POST"). */
static bool check_method(SoupServerMessage *msg, const char *allowed)
{
	g_auto(GStrv) list = g_strsplit(allowed, ", ", -1);
	if (g_strv_contains((const char *const *)list,
			    soup_server_message_get_method(msg)))
		return true;
	soup_message_headers_replace(soup_server_message_get_response_headers(msg),
				     "Allow", allowed);
	send_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL,
		   "%s is not supported here; use %s",
		   soup_server_message_get_method(msg), allowed);
	return false;
}

static bool check_query(SoupServerMessage *msg, GHashTable *query,
			const char *const *allowed)
{
	if (!query)
		return true;
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, query);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		if (allowed && g_strv_contains(allowed, key))
			continue;
		g_autofree char *field = g_strdup_printf("?%s", (char *)key);
		send_error(msg, SOUP_STATUS_BAD_REQUEST, field,
			   "%s: unknown query parameter", field);
		return false;
	}
	return true;
}

/* The request body as JSON, or NULL after an error reply.  An empty body
 * is NULL with *empty set, for routes where the body is optional. */
static JsonNode *read_body(SoupServerMessage *msg, bool *empty)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
	gsize len = g_bytes_get_size(bytes);
	if (len > ATOLLD_MAX_BODY) {
		send_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, NULL,
			   "the request body is %zu bytes; at most %d are accepted",
			   (size_t)len, ATOLLD_MAX_BODY);
		return NULL;
	}
	if (len == 0 && empty) {
		*empty = true;
		return NULL;
	}
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) err = NULL;
	if (len == 0 || !json_parser_load_from_data(parser, g_bytes_get_data(bytes, NULL),
						    (gssize)len, &err)) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, NULL,
			   "the request body is not valid JSON: %s",
			   err ? err->message : "it is empty");
		return NULL;
	}
	JsonNode *root = json_parser_get_root(parser);
	if (!root) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, NULL,
			   "the request body is not valid JSON: it is empty");
		return NULL;
	}
	return json_node_ref(root);
}

/* ---- domain JSON ---- */

static void add_nullable_int(JsonBuilder *b, const char *key, gint64 v, bool null)
{
	json_builder_set_member_name(b, key);
	if (null)
		json_builder_add_null_value(b);
	else
		json_builder_add_int_value(b, v);
}

/* "spice": {"uri": ...} while the running VMM serves a SPICE console, else
 * null.  Clients connect to the URI themselves; atolld proxies nothing. */
static void add_spice(JsonBuilder *b, Domain *dom)
{
	const char *uri = NULL;
#ifdef ATOLLD_HAVE_SUPERVISOR
	uri = supervisor_spice_uri(dom);
#else
	(void)dom;
#endif
	json_builder_set_member_name(b, "spice");
	if (!uri) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "uri");
	json_builder_add_string_value(b, uri);
	json_builder_end_object(b);
}

static JsonNode *status_json(Domain *dom)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "state");
	json_builder_add_string_value(b, domain_state_name(dom->state));
	if (dom->state == DOMAIN_BROKEN) {
		json_builder_set_member_name(b, "error");
		json_builder_add_string_value(b, dom->broken_reason);
	}
	add_nullable_int(b, "pid", dom->pid, dom->pid <= 0);
	add_nullable_int(b, "started_at", dom->started_at, dom->started_at <= 0);
	json_builder_set_member_name(b, "last_exit");
	if (dom->last_exit_reason) {
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "reason");
		json_builder_add_string_value(b, dom->last_exit_reason);
		json_builder_set_member_name(b, "code");
		json_builder_add_int_value(b, dom->last_exit_code);
		json_builder_set_member_name(b, "at");
		json_builder_add_int_value(b, dom->last_exit_at);
		json_builder_end_object(b);
	} else {
		json_builder_add_null_value(b);
	}
	add_spice(b, dom);
	/* passthrough devices this run holds (empty when not running) */
	json_builder_set_member_name(b, "pci");
	json_builder_begin_array(b);
	for (guint i = 0; dom->pci_held && i < dom->pci_held->len; i++)
		json_builder_add_string_value(b, g_ptr_array_index(dom->pci_held, i));
	json_builder_end_array(b);
	json_builder_set_member_name(b, "usb");
	json_builder_add_value(b, passthrough_domain_usb(dom));
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* GET /v1/domains/{name}: the definition plus "status". */
static JsonNode *domain_json(Domain *dom)
{
	JsonNode *node;
	if (dom->def) {
		node = domain_def_to_json(dom->def);
	} else {
		node = json_node_new(JSON_NODE_OBJECT);
		json_node_take_object(node, json_object_new());
		json_object_set_string_member(json_node_get_object(node), "name",
					      dom->name);
	}
	json_object_set_member(json_node_get_object(node), "status",
			       status_json(dom));
	return node;
}

static double cpu_time_of(Domain *dom)
{
#ifdef ATOLLD_HAVE_STATS
	if (!domain_is_active(dom))
		return 0;
	GArray *samples = stats_history(dom, g_get_real_time() / G_USEC_PER_SEC - 10);
	double t = 0;
	if (samples && samples->len)
		t = g_array_index(samples, StatsSample, samples->len - 1).cpu_time_s;
	if (samples)
		g_array_unref(samples);
	return t;
#else
	(void)dom;
	return 0;
#endif
}

static void list_entry(JsonBuilder *b, Domain *dom)
{
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, dom->name);
	json_builder_set_member_name(b, "state");
	json_builder_add_string_value(b, domain_state_name(dom->state));
	if (!dom->def) {
		json_builder_set_member_name(b, "error");
		json_builder_add_string_value(b, dom->broken_reason);
		json_builder_end_object(b);
		return;
	}
	bool up = domain_is_active(dom) && dom->started_at > 0;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	add_nullable_int(b, "id", dom->pid, dom->pid <= 0);
	add_nullable_int(b, "memory_mib", (gint64)dom->def->memory_mib, false);
	add_nullable_int(b, "vcpus", dom->def->vcpus, false);
	json_builder_set_member_name(b, "cpu_time_s");
	json_builder_add_double_value(b, cpu_time_of(dom));
	add_nullable_int(b, "uptime_s", up ? MAX(now - dom->started_at, 0) : 0, false);
	json_builder_set_member_name(b, "label");
	if (dom->def->label)
		json_builder_add_string_value(b, dom->def->label);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "autostart");
	json_builder_add_boolean_value(b, dom->def->autostart);
	json_builder_end_object(b);
}

static void emit_event(Atolld *d, const char *type, const char *name)
{
#ifdef ATOLLD_HAVE_EVENTS
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "type");
	json_builder_add_string_value(b, type);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, name);
	json_builder_end_object(b);
	events_emit(d, json_builder_get_root(b));
#else
	(void)d;
	g_debug("event %s %s", type, name);
#endif
}

/* ---- /v1/host ---- */

static void get_host(SoupServerMessage *msg)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "version");
	json_builder_add_string_value(b, ATOLL_VERSION);
	json_builder_set_member_name(b, "cpus");
	json_builder_add_int_value(b, g_get_num_processors());
	json_builder_set_member_name(b, "memory_bytes");
	json_builder_add_int_value(b, pages > 0 && page > 0 ? (gint64)pages * page : 0);
	json_builder_set_member_name(b, "kvm");
	json_builder_add_boolean_value(b, access("/dev/kvm", R_OK | W_OK) == 0);
	json_builder_end_object(b);
	send_json(msg, SOUP_STATUS_OK, json_builder_get_root(b));
}

/* ---- /v1/domains ---- */

static gint compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(((const Domain *)a)->name, ((const Domain *)b)->name);
}

static void list_domains(Api *api, SoupServerMessage *msg)
{
	GList *all = g_list_sort(g_hash_table_get_values(api->d->domains),
				 compare_names);
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_array(b);
	for (GList *l = all; l; l = l->next)
		list_entry(b, l->data);
	json_builder_end_array(b);
	g_list_free(all);
	send_json(msg, SOUP_STATUS_OK, json_builder_get_root(b));
}

/* Parses a definition from the body.  "status" (what GET adds) is
 * read-only and ignored, so a GET-edit-PUT round trip works. */
static DomainDef *body_definition(SoupServerMessage *msg)
{
	g_autoptr(JsonNode) body = read_body(msg, NULL);
	if (!body)
		return NULL;
	if (JSON_NODE_HOLDS_OBJECT(body))
		json_object_remove_member(json_node_get_object(body), "status");
	g_autoptr(GError) err = NULL;
	DomainDef *def = domain_def_from_json(body, &err);
	if (!def)
		send_gerror(msg, err);
	return def;
}

/* What the format cannot know: the host's multi-function devices. */
static bool definition_fits_host(Api *api, SoupServerMessage *msg,
				 const DomainDef *def)
{
	g_autoptr(GError) err = NULL;
	if (passthrough_check_definition(api->d, def, &err))
		return true;
	send_gerror(msg, err);
	return false;
}

static void define_domain(Api *api, SoupServerMessage *msg)
{
	g_autoptr(DomainDef) def = body_definition(msg);
	if (!def || !definition_fits_host(api, msg, def))
		return;
	if (atolld_lookup(api->d, def->name)) {
		send_error(msg, SOUP_STATUS_CONFLICT, "name",
			   "name: a domain called %s already exists — pick another "
			   "name, or replace it with PUT /v1/domains/%s",
			   def->name, def->name);
		return;
	}
	g_autoptr(GError) err = NULL;
	if (!store_save(api->d, def, &err)) {
		send_gerror(msg, err);
		return;
	}
	/* UEFI only: a BIOS has no variable store. */
	if (def->firmware && !strcmp(def->firmware, "uefi") &&
	    !store_nvram_create(api->d, def->name, &err)) {
		send_gerror(msg, err);
		return;
	}
	Domain *dom = atolld_add_domain(api->d, g_steal_pointer(&def));
	supervisor_prepare_kernel(api->d, dom->def);
	g_autofree char *location = g_strdup_printf("/v1/domains/%s", dom->name);
	soup_message_headers_replace(soup_server_message_get_response_headers(msg),
				     "Location", location);
	emit_event(api->d, "domain-defined", dom->name);
	send_json(msg, SOUP_STATUS_CREATED, domain_json(dom));
}

static void replace_domain(Api *api, SoupServerMessage *msg, Domain *dom)
{
	g_autoptr(DomainDef) def = body_definition(msg);
	if (!def || !definition_fits_host(api, msg, def))
		return;
	if (strcmp(def->name, dom->name) != 0) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, "name",
			   "name: \"%s\" differs from the domain's name %s — domains "
			   "cannot be renamed; define a new one instead",
			   def->name, dom->name);
		return;
	}
	g_autoptr(GError) err = NULL;
	if (!store_save(api->d, def, &err)) {
		send_gerror(msg, err);
		return;
	}
	/* A running VMM keeps its configuration; this applies at next start. */
	domain_def_free(dom->def);
	dom->def = g_steal_pointer(&def);
	supervisor_prepare_kernel(api->d, dom->def);
	if (dom->state == DOMAIN_BROKEN) {
		g_clear_pointer(&dom->broken_reason, g_free);
		dom->state = DOMAIN_SHUTOFF;
	}
	emit_event(api->d, "domain-defined", dom->name);
	send_json(msg, SOUP_STATUS_OK, domain_json(dom));
}

static bool parse_bool_param(SoupServerMessage *msg, GHashTable *query,
			     const char *key, bool *out)
{
	const char *v = query ? g_hash_table_lookup(query, key) : NULL;
	if (!v)
		return true;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = true;
	} else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
		*out = false;
	} else {
		g_autofree char *field = g_strdup_printf("?%s", key);
		send_error(msg, SOUP_STATUS_BAD_REQUEST, field,
			   "%s: \"%s\" is not true or false", field, v);
		return false;
	}
	return true;
}

static bool disk_used_elsewhere(Atolld *d, Domain *self, const char *path)
{
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, d->domains);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		Domain *dom = value;
		if (dom == self || !dom->def)
			continue;
		for (guint i = 0; i < dom->def->disks->len; i++) {
			DiskDef *disk = g_ptr_array_index(dom->def->disks, i);
			if (strcmp(disk->path, path) == 0)
				return true;
		}
	}
	return false;
}

/* Decides which disk images undefine may delete: only writable regular
 * files no other domain uses (a read-only disk is typically a shared base
 * image; a device node is never ours to erase). */
static void plan_disk_deletion(Atolld *d, Domain *dom, GPtrArray *doomed,
			       JsonBuilder *kept)
{
	for (guint i = 0; dom->def && i < dom->def->disks->len; i++) {
		DiskDef *disk = g_ptr_array_index(dom->def->disks, i);
		struct stat st;
		const char *why = NULL;
		if (disk->readonly)
			why = "read-only disk";
		else if (disk_used_elsewhere(d, dom, disk->path))
			why = "used by another domain";
		else if (lstat(disk->path, &st) < 0)
			why = errno == ENOENT ? "does not exist" : g_strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		if (!why) {
			g_ptr_array_add(doomed, disk->path);
			continue;
		}
		json_builder_begin_object(kept);
		json_builder_set_member_name(kept, "path");
		json_builder_add_string_value(kept, disk->path);
		json_builder_set_member_name(kept, "reason");
		json_builder_add_string_value(kept, why);
		json_builder_end_object(kept);
	}
}

static void undefine_domain(Api *api, SoupServerMessage *msg, Domain *dom,
			    GHashTable *query)
{
	static const char *const params[] = { "delete_disks", NULL };
	bool delete_disks = false;
	if (!check_query(msg, query, params) ||
	    !parse_bool_param(msg, query, "delete_disks", &delete_disks))
		return;
	if (domain_is_active(dom)) {
		send_error(msg, SOUP_STATUS_CONFLICT, NULL,
			   "%s is %s — shut it down or destroy it first", dom->name,
			   domain_state_name(dom->state));
		return;
	}
	g_autoptr(GPtrArray) doomed = g_ptr_array_new();
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "kept_disks");
	json_builder_begin_array(b);
	if (delete_disks)
		plan_disk_deletion(api->d, dom, doomed, b);
	g_autoptr(GError) err = NULL;
	if (!store_delete(api->d, dom->name, &err)) {
		send_gerror(msg, err);
		return;
	}
	/* The UEFI variable store goes with the disks, and only then. */
	if (delete_disks && !store_nvram_delete(api->d, dom->name, &err))
		g_message("%s: %s", dom->name, err->message);
	for (guint i = 0; i < doomed->len; i++) {
		const char *path = g_ptr_array_index(doomed, i);
		if (unlink(path) == 0)
			continue;
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "path");
		json_builder_add_string_value(b, path);
		json_builder_set_member_name(b, "reason");
		json_builder_add_string_value(b, g_strerror(errno));
		json_builder_end_object(b);
		g_ptr_array_remove_index(doomed, i--);
	}
	json_builder_end_array(b);
	json_builder_set_member_name(b, "deleted_disks");
	json_builder_begin_array(b);
	for (guint i = 0; i < doomed->len; i++)
		json_builder_add_string_value(b, g_ptr_array_index(doomed, i));
	json_builder_end_array(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, dom->name);
	json_builder_end_object(b);
	/* doomed points into dom->def: reply before the entry goes away. */
	send_json(msg, SOUP_STATUS_OK, json_builder_get_root(b));
	g_autofree char *name = g_strdup(dom->name);
	atolld_remove_domain(api->d, name);
	emit_event(api->d, "domain-undefined", name);
}

/* ---- lifecycle ---- */

/* The optional shutdown body {"timeout_s": N}. */
static bool shutdown_timeout(SoupServerMessage *msg, Domain *dom, unsigned *out)
{
	bool empty = false;
	g_autoptr(JsonNode) body = read_body(msg, &empty);
	*out = dom->def->shutdown_timeout_s;
	if (empty)
		return true;
	if (!body)
		return false;
	if (!JSON_NODE_HOLDS_OBJECT(body)) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, NULL,
			   "the request body must be a JSON object like "
			   "{\"timeout_s\": 60}");
		return false;
	}
	JsonObject *o = json_node_get_object(body);
	g_autoptr(GList) members = json_object_get_members(o);
	for (GList *l = members; l; l = l->next) {
		if (strcmp(l->data, "timeout_s") != 0) {
			send_error(msg, SOUP_STATUS_BAD_REQUEST, l->data,
				   "%s: unknown field (known fields: timeout_s)",
				   (char *)l->data);
			return false;
		}
	}
	JsonNode *n = json_object_get_member(o, "timeout_s");
	if (!n)
		return true;
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
	    json_node_get_int(n) < 0 || json_node_get_int(n) > 3600) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, "timeout_s",
			   "timeout_s: expected an integer from 0 to 3600");
		return false;
	}
	*out = (unsigned)json_node_get_int(n);
	return true;
}

/* The state an action needs, as a 409 message, or NULL when allowed. */
static const char *lifecycle_conflict(Domain *dom, const char *action)
{
	bool active = domain_is_active(dom);
#ifdef ATOLLD_HAVE_CLONE
	if (strcmp(action, "start") == 0 && clone_busy(dom->daemon, dom->name))
		return "is being cloned; start it when the copy is done";
#endif
	if (strcmp(action, "start") == 0)
		return active ? "is already running" : NULL;
	if (strcmp(action, "destroy") == 0)
		return active ? NULL : "is not running";
	if (strcmp(action, "shutdown") == 0)
		return dom->state == DOMAIN_RUNNING || dom->state == DOMAIN_PAUSED
		       ? NULL : "is not running";
	if (strcmp(action, "reboot") == 0 || strcmp(action, "pause") == 0)
		return dom->state == DOMAIN_RUNNING ? NULL
		       : dom->state == DOMAIN_PAUSED ? "is paused"
		       : "is not running";
	/* unpause */
	return dom->state == DOMAIN_PAUSED ? NULL : "is not paused";
}

#ifdef ATOLLD_HAVE_SUPERVISOR
static bool run_action(Domain *dom, const char *action, unsigned timeout,
		       GError **err)
{
	if (strcmp(action, "start") == 0)
		return supervisor_start(dom, err);
	if (strcmp(action, "shutdown") == 0)
		return supervisor_shutdown(dom, timeout, err);
	if (strcmp(action, "destroy") == 0)
		return supervisor_destroy(dom, err);
	if (strcmp(action, "reboot") == 0)
		return supervisor_reboot(dom, err);
	return supervisor_pause(dom, strcmp(action, "pause") == 0, err);
}
#endif

static void lifecycle(Api *api, SoupServerMessage *msg, Domain *dom,
		      const char *action)
{
	(void)api;
	if (!check_method(msg, "POST"))
		return;
	if (dom->state == DOMAIN_BROKEN) {
		send_error(msg, SOUP_STATUS_CONFLICT, NULL,
			   "the definition of %s is broken (%s) — fix it with PUT "
			   "/v1/domains/%s", dom->name, dom->broken_reason, dom->name);
		return;
	}
	unsigned timeout = 0;
	if (strcmp(action, "shutdown") == 0 && !shutdown_timeout(msg, dom, &timeout))
		return;
	const char *conflict = lifecycle_conflict(dom, action);
	if (conflict) {
		send_error(msg, SOUP_STATUS_CONFLICT, NULL, "%s %s (state %s)",
			   dom->name, conflict, domain_state_name(dom->state));
		return;
	}
#ifdef ATOLLD_HAVE_SUPERVISOR
	g_autoptr(GError) err = NULL;
	if (!run_action(dom, action, timeout, &err)) {
		send_gerror(msg, err);
		return;
	}
	send_json(msg, SOUP_STATUS_OK, domain_json(dom));
#else
	send_not_built(msg, "the supervisor (supervisor.c)");
#endif
}

static bool parse_since(SoupServerMessage *msg, GHashTable *query, gint64 *since)
{
	static const char *const params[] = { "since", NULL };
	if (!check_query(msg, query, params))
		return false;
	const char *v = query ? g_hash_table_lookup(query, "since") : NULL;
	guint64 n = 0;
	if (v && !g_ascii_string_to_unsigned(v, 10, 0, G_MAXINT64, &n, NULL)) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, "?since",
			   "?since: \"%s\" is not a unix time in seconds", v);
		return false;
	}
	*since = (gint64)n;
	return true;
}

#ifdef ATOLLD_HAVE_STATS
static void add_sample(JsonBuilder *b, const StatsSample *s)
{
	json_builder_begin_object(b);
	add_nullable_int(b, "t", s->t, false);
	json_builder_set_member_name(b, "cpu_time_s");
	json_builder_add_double_value(b, s->cpu_time_s);
	add_nullable_int(b, "memory_rss_bytes", (gint64)s->memory_rss_bytes, false);
	add_nullable_int(b, "disk_rd_bytes", (gint64)s->disk_rd_bytes, false);
	add_nullable_int(b, "disk_wr_bytes", (gint64)s->disk_wr_bytes, false);
	add_nullable_int(b, "disk_rd_ops", (gint64)s->disk_rd_ops, false);
	add_nullable_int(b, "disk_wr_ops", (gint64)s->disk_wr_ops, false);
	add_nullable_int(b, "net_rx_bytes", (gint64)s->net_rx_bytes, false);
	add_nullable_int(b, "net_tx_bytes", (gint64)s->net_tx_bytes, false);
	json_builder_end_object(b);
}
#endif

static void get_stats(SoupServerMessage *msg, Domain *dom, GHashTable *query)
{
	gint64 since;
	if (!check_method(msg, "GET") || !parse_since(msg, query, &since))
		return;
#ifdef ATOLLD_HAVE_STATS
	GArray *samples = stats_history(dom, since);
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_array(b);
	for (guint i = 0; samples && i < samples->len; i++)
		add_sample(b, &g_array_index(samples, StatsSample, i));
	json_builder_end_array(b);
	if (samples)
		g_array_unref(samples);
	send_json(msg, SOUP_STATUS_OK, json_builder_get_root(b));
#else
	(void)dom;
	send_not_built(msg, "stats (stats.c)");
#endif
}

static void get_console_log(SoupServerMessage *msg, Domain *dom)
{
	if (!check_method(msg, "GET"))
		return;
#ifdef ATOLLD_HAVE_CONSOLE
	GBytes *log = console_log(dom);
	gsize len = 0;
	const char *data = log ? g_bytes_get_data(log, &len) : NULL;
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY,
					 data ? data : "", len);
	if (log)
		g_bytes_unref(log);
#else
	(void)dom;
	send_not_built(msg, "the console (console.c)");
#endif
}

/* A plain GET on a WebSocket route: the WebSocket handler did not take it. */
static void websocket_only(SoupServerMessage *msg, bool built, const char *part)
{
	if (!check_method(msg, "GET"))
		return;
	if (!built) {
		send_not_built(msg, part);
		return;
	}
	send_error(msg, SOUP_STATUS_BAD_REQUEST, NULL,
		   "this is a WebSocket endpoint: connect with an Upgrade: websocket "
		   "request");
}

static bool have(int flag)
{
	return flag != 0;
}

#ifdef ATOLLD_HAVE_EVENTS
#define HAVE_EVENTS_FLAG 1
#else
#define HAVE_EVENTS_FLAG 0
#endif
#ifdef ATOLLD_HAVE_CONSOLE
#define HAVE_CONSOLE_FLAG 1
#else
#define HAVE_CONSOLE_FLAG 0
#endif

/* ---- USB hot-plug (passthrough.c), answered when the VMM has ---- */

static void usb_done(JsonNode *reply, const GError *error, gpointer data)
{
	SoupServerMessage *msg = data;
	if (reply)
		send_json(msg, SOUP_STATUS_OK, json_node_ref(reply));
	else
		send_gerror(msg, error);
	soup_server_message_unpause(msg);
	g_object_unref(msg);
}

/* GET .../usb (what the running domain has), POST .../usb {"host": SPEC}
 * (attach), DELETE .../usb/SPEC (detach).  Runtime only: the definition's
 * usb list is what a start attaches. */
static void domain_usb(SoupServerMessage *msg, Domain *dom, const char *spec,
		       GHashTable *query)
{
	if (!check_method(msg, spec ? "DELETE" : "GET, POST") ||
	    !check_query(msg, query, NULL))
		return;
	if (method_is(msg, "GET")) {
		send_json(msg, SOUP_STATUS_OK, passthrough_domain_usb(dom));
		return;
	}
	g_autofree char *host = NULL;
	if (!spec) {
		g_autoptr(JsonNode) body = read_body(msg, NULL);
		if (!body)
			return;
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(body) ? json_node_get_object(body) : NULL;
		JsonNode *h = o ? json_object_get_member(o, "host") : NULL;
		if (!h || !JSON_NODE_HOLDS_VALUE(h) ||
		    json_node_get_value_type(h) != G_TYPE_STRING ||
		    json_object_get_size(o) != 1) {
			send_error(msg, SOUP_STATUS_BAD_REQUEST, "host", "host: the body "
				   "must be {\"host\": \"VID:PID\" or \"BUS-PORT\"} "
				   "and nothing else");
			return;
		}
		host = g_strdup(json_node_get_string(h));
	}
	soup_server_message_pause(msg);
	g_object_ref(msg);
	if (spec)
		passthrough_usb_detach(dom, spec, usb_done, msg);
	else
		passthrough_usb_attach(dom, host, usb_done, msg);
}

/* POST /v1/domains/{name}/clone (dom set) and POST /v1/images: clone.c. */
static void make_images(Api *api, SoupServerMessage *msg, Domain *dom,
			GHashTable *query)
{
	if (!check_method(msg, "POST") || !check_query(msg, query, NULL))
		return;
#ifdef ATOLLD_HAVE_CLONE
	g_autoptr(JsonNode) body = read_body(msg, NULL);
	if (!body)
		return;
	g_autoptr(GError) err = NULL;
	JsonNode *reply = dom ? clone_start(api->d, dom, body, &err)
			      : image_create(api->d, body, &err);
	if (reply)
		send_json(msg, dom ? SOUP_STATUS_ACCEPTED : SOUP_STATUS_CREATED, reply);
	else
		send_gerror(msg, err);
#else
	(void)api;
	(void)dom;
	send_not_built(msg, "disk images (clone.c)");
#endif
}

static void domain_subroute(Api *api, SoupServerMessage *msg, Domain *dom,
			    char **parts, guint n, GHashTable *query)
{
	static const char *const actions[] = {
		"start", "shutdown", "destroy", "reboot", "pause", "unpause", NULL,
	};
	const char *sub = parts[2];
	if (n == 3 && g_strv_contains(actions, sub)) {
		if (check_query(msg, query, NULL))
			lifecycle(api, msg, dom, sub);
	} else if (n == 3 && strcmp(sub, "stats") == 0) {
		get_stats(msg, dom, query);
	} else if (n == 3 && strcmp(sub, "console") == 0) {
		websocket_only(msg, have(HAVE_CONSOLE_FLAG), "the console (console.c)");
	} else if (n == 4 && strcmp(sub, "console") == 0 &&
		   strcmp(parts[3], "log") == 0) {
		get_console_log(msg, dom);
	} else if ((n == 3 || n == 4) && strcmp(sub, "usb") == 0) {
		domain_usb(msg, dom, n == 4 ? parts[3] : NULL, query);
	} else if (n == 3 && strcmp(sub, "clone") == 0) {
		make_images(api, msg, dom, query);
	} else {
		send_error(msg, SOUP_STATUS_NOT_FOUND, NULL, "no such route");
	}
}

static void route_domains(Api *api, SoupServerMessage *msg, char **parts,
			  guint n, GHashTable *query)
{
	if (n == 1) {
		if (check_method(msg, "GET, POST") && check_query(msg, query, NULL)) {
			if (method_is(msg, "GET"))
				list_domains(api, msg);
			else
				define_domain(api, msg);
		}
		return;
	}
	Domain *dom = atolld_lookup(api->d, parts[1]);
	if (!dom) {
		send_error(msg, SOUP_STATUS_NOT_FOUND, NULL,
			   "there is no domain called %s (GET /v1/domains lists them)",
			   parts[1]);
		return;
	}
	if (n > 2) {
		domain_subroute(api, msg, dom, parts, n, query);
		return;
	}
	if (!check_method(msg, "GET, PUT, DELETE"))
		return;
	if (method_is(msg, "DELETE")) {
		undefine_domain(api, msg, dom, query);
		return;
	}
	if (!check_query(msg, query, NULL))
		return;
	if (method_is(msg, "GET"))
		send_json(msg, SOUP_STATUS_OK, domain_json(dom));
	else
		replace_domain(api, msg, dom);
}

/* ---- /v1/networks, /v1/host/devices, /v1/import-libvirt ---- */

#ifdef ATOLLD_HAVE_LIBVIRT
static void send_libvirt_error(Api *api, SoupServerMessage *msg, const GError *err)
{
	guint status = SOUP_STATUS_INTERNAL_SERVER_ERROR;
	if (err->domain == ATOLL_LIBVIRT_ERROR) {
		switch ((AtollLibvirtError)err->code) {
		case ATOLL_LIBVIRT_ERROR_NOT_FOUND:
			status = SOUP_STATUS_NOT_FOUND;
			break;
		case ATOLL_LIBVIRT_ERROR_INACTIVE:
			status = SOUP_STATUS_CONFLICT;
			break;
		case ATOLL_LIBVIRT_ERROR_UNSUPPORTED:
		case ATOLL_LIBVIRT_ERROR_INVALID:
			status = SOUP_STATUS_BAD_REQUEST;
			break;
		case ATOLL_LIBVIRT_ERROR_UNREACHABLE:
			/* libvirtd may come back: reconnect next time. */
			atolld_libvirt_reset(api->d);
			break;
		case ATOLL_LIBVIRT_ERROR_HOST:
			break;
		}
	} else if (err->domain == ATOLLD_ERROR) {
		send_gerror(msg, err);
		return;
	}
	if (status == SOUP_STATUS_INTERNAL_SERVER_ERROR)
		g_warning("libvirt: %s", err->message);
	send_error_status(msg, status, NULL, err->message);
}

static void get_networks(Api *api, SoupServerMessage *msg)
{
	g_autoptr(GError) err = NULL;
	AtollLibvirt *lv = atolld_libvirt(api->d, &err);
	JsonNode *list = lv ? atoll_libvirt_list_networks(lv, &err) : NULL;
	if (!list)
		send_libvirt_error(api, msg, err);
	else
		send_json(msg, SOUP_STATUS_OK, list);
}

static void get_host_devices(Api *api, SoupServerMessage *msg, GHashTable *query)
{
	static const char *const params[] = { "type", NULL };
	if (!check_query(msg, query, params))
		return;
	const char *type = query ? g_hash_table_lookup(query, "type") : NULL;
	if (type && strcmp(type, "pci") != 0 && strcmp(type, "usb") != 0) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, "?type",
			   "?type: \"%s\" is not pci or usb", type);
		return;
	}
	g_autoptr(GError) err = NULL;
	AtollLibvirt *lv = atolld_libvirt(api->d, &err);
	JsonNode *list = lv ? atoll_libvirt_list_host_devices(lv, type, &err) : NULL;
	if (!list)
		send_libvirt_error(api, msg, err);
	else
		send_json(msg, SOUP_STATUS_OK, list);
}

typedef struct {
	char *uri, *domain, *name;
} ImportRequest;

static void import_request_clear(ImportRequest *r)
{
	g_free(r->uri);
	g_free(r->domain);
	g_free(r->name);
}

static bool import_string(SoupServerMessage *msg, JsonObject *o, const char *key,
			  bool required, char **out)
{
	JsonNode *n = json_object_get_member(o, key);
	if (!n && !required)
		return true;
	if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
	    json_node_get_value_type(n) != G_TYPE_STRING ||
	    !*json_node_get_string(n)) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, key, "%s: %s", key,
			   n ? "expected a non-empty string" : "required field is missing");
		return false;
	}
	*out = g_strdup(json_node_get_string(n));
	return true;
}

static bool parse_import(SoupServerMessage *msg, ImportRequest *r)
{
	static const char *const known[] = { "uri", "domain", "name", NULL };
	g_autoptr(JsonNode) body = read_body(msg, NULL);
	if (!body)
		return false;
	if (!JSON_NODE_HOLDS_OBJECT(body)) {
		send_error(msg, SOUP_STATUS_BAD_REQUEST, NULL, "the request body must "
			   "be a JSON object like {\"domain\": \"vm1\"}");
		return false;
	}
	JsonObject *o = json_node_get_object(body);
	g_autoptr(GList) members = json_object_get_members(o);
	for (GList *l = members; l; l = l->next) {
		if (g_strv_contains(known, l->data))
			continue;
		send_error(msg, SOUP_STATUS_BAD_REQUEST, l->data, "%s: unknown field "
			   "(known fields: uri, domain, name)", (char *)l->data);
		return false;
	}
	return import_string(msg, o, "uri", false, &r->uri) &&
	       import_string(msg, o, "domain", true, &r->domain) &&
	       import_string(msg, o, "name", false, &r->name);
}

/* Converts the libvirt domain; the result is validated like any other
 * definition before it is stored. */
static JsonNode *run_import(Api *api, const ImportRequest *r,
			    GPtrArray **unmapped, GError **err)
{
	const char *own = g_getenv("ATOLL_LIBVIRT_URI");
	if (!r->uri || g_strcmp0(r->uri, own ? own : ATOLL_LIBVIRT_DEFAULT_URI) == 0) {
		AtollLibvirt *lv = atolld_libvirt(api->d, err);
		return lv ? atoll_libvirt_import(lv, r->domain, r->name, unmapped, err)
			  : NULL;
	}
	g_autoptr(AtollLibvirt) other = atoll_libvirt_open(r->uri, err);
	return other ? atoll_libvirt_import(other, r->domain, r->name, unmapped, err)
		     : NULL;
}

static void import_libvirt(Api *api, SoupServerMessage *msg)
{
	ImportRequest r = { 0 };
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) unmapped = NULL;
	g_autoptr(JsonNode) made = NULL;
	g_autoptr(DomainDef) def = NULL;
	if (!parse_import(msg, &r))
		goto out;
	made = run_import(api, &r, &unmapped, &err);
	if (!made) {
		send_libvirt_error(api, msg, err);
		goto out;
	}
	def = domain_def_from_json(made, &err);
	if (!def) {
		send_gerror(msg, err);
		goto out;
	}
	if (atolld_lookup(api->d, def->name)) {
		send_error(msg, SOUP_STATUS_CONFLICT, "name", "name: a domain called "
			   "%s already exists — give another \"name\"", def->name);
		goto out;
	}
	if (!store_save(api->d, def, &err)) {
		send_gerror(msg, err);
		goto out;
	}
	Domain *dom = atolld_add_domain(api->d, g_steal_pointer(&def));
	supervisor_prepare_kernel(api->d, dom->def);
	JsonNode *reply = domain_json(dom);
	JsonArray *list = json_array_new();
	for (guint i = 0; unmapped && i < unmapped->len; i++)
		json_array_add_string_element(list, g_ptr_array_index(unmapped, i));
	json_object_set_array_member(json_node_get_object(reply), "unmapped", list);
	emit_event(api->d, "domain-defined", dom->name);
	send_json(msg, SOUP_STATUS_CREATED, reply);
out:
	import_request_clear(&r);
}
#endif

static void route_libvirt(Api *api, SoupServerMessage *msg, const char *what,
			  GHashTable *query)
{
	bool import = strcmp(what, "import") == 0;
	if (!check_method(msg, import ? "POST" : "GET"))
		return;
#ifdef ATOLLD_HAVE_LIBVIRT
	if (strcmp(what, "networks") == 0) {
		if (check_query(msg, query, NULL))
			get_networks(api, msg);
	} else if (strcmp(what, "devices") == 0) {
		get_host_devices(api, msg, query);
	} else if (check_query(msg, query, NULL)) {
		import_libvirt(api, msg);
	}
#else
	(void)api;
	(void)query;
	send_not_built(msg, "libvirt support (dom0-services/libvirt)");
#endif
}

/* ---- /v1/host/pci..., /v1/host/usb (passthrough.c) ---- */

static void reply_or_error(SoupServerMessage *msg, JsonNode *reply,
			   const GError *err)
{
	if (reply)
		send_json(msg, SOUP_STATUS_OK, reply);
	else
		send_gerror(msg, err);
}

static void route_assignable(Api *api, SoupServerMessage *msg, char **parts,
			     guint n)
{
	g_autoptr(GError) err = NULL;
	if (n == 3) {
		if (!check_method(msg, "GET, POST"))
			return;
		if (method_is(msg, "GET")) {
			JsonNode *r = passthrough_assignable_list(api->d, &err);
			reply_or_error(msg, r, err);
			return;
		}
		g_autoptr(JsonNode) body = read_body(msg, NULL);
		if (!body)
			return;
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(body) ? json_node_get_object(body) : NULL;
		JsonNode *a = o ? json_object_get_member(o, "address") : NULL;
		JsonNode *g = o ? json_object_get_member(o, "group") : NULL;
		if (!a || !JSON_NODE_HOLDS_VALUE(a) ||
		    json_node_get_value_type(a) != G_TYPE_STRING ||
		    (g && (!JSON_NODE_HOLDS_VALUE(g) ||
			   json_node_get_value_type(g) != G_TYPE_BOOLEAN)) ||
		    json_object_get_size(o) != (g ? 2u : 1u)) {
			send_error(msg, SOUP_STATUS_BAD_REQUEST, "address", "address: the "
				   "body must be {\"address\": \"0000:01:00.0\"}, "
				   "optionally with \"group\": true, and nothing else");
			return;
		}
		JsonNode *r = passthrough_assignable_add(api->d, json_node_get_string(a),
							 g && json_node_get_boolean(g), &err);
		reply_or_error(msg, r, err);
		return;
	}
	if (check_method(msg, "DELETE")) {
		JsonNode *r = passthrough_assignable_remove(api->d, parts[3], &err);
		reply_or_error(msg, r, err);
	}
}

/* GET /v1/host/pci, GET /v1/host/pci/BDF/preflight[?force=true],
 * GET|POST /v1/host/pci/assignable, DELETE /v1/host/pci/assignable/BDF,
 * GET /v1/host/usb. */
static void route_host_passthrough(Api *api, SoupServerMessage *msg,
				   char **parts, guint n, GHashTable *query)
{
	static const char *const force_param[] = { "force", NULL };
	g_autoptr(GError) err = NULL;
	bool usb = strcmp(parts[1], "usb") == 0;
	bool assignable = n >= 3 && strcmp(parts[2], "assignable") == 0;
	bool preflight = n == 4 && strcmp(parts[3], "preflight") == 0;
	if ((usb && n != 2) || (!usb && n > 2 && !(assignable && n <= 4) && !preflight)) {
		send_error(msg, SOUP_STATUS_NOT_FOUND, NULL, "no such route (see "
			   "docs/api.md, \"Host devices\")");
		return;
	}
	if (assignable) {
		if (check_query(msg, query, NULL))
			route_assignable(api, msg, parts, n);
		return;
	}
	if (!check_method(msg, "GET") ||
	    !check_query(msg, query, preflight ? force_param : NULL))
		return;
	if (preflight) {
		bool force = false;
		if (!parse_bool_param(msg, query, "force", &force))
			return;
		JsonNode *r = passthrough_preflight(api->d, parts[2], force, &err);
		reply_or_error(msg, r, err);
		return;
	}
	JsonNode *r = usb ? passthrough_host_usb(api->d, &err)
			  : passthrough_host_pci(api->d, &err);
	reply_or_error(msg, r, err);
}

/* Splits "/v1/a/b" into decoded segments; NULL if it is not under /v1/. */
static char **split_path(const char *path, guint *n)
{
	if (!g_str_has_prefix(path, "/v1/"))
		return NULL;
	char **parts = g_strsplit(path + 4, "/", -1);
	*n = g_strv_length(parts);
	for (guint i = 0; i < *n; i++) {
		char *dec = g_uri_unescape_string(parts[i], "/");
		if (!dec || !*dec) {
			g_free(dec);
			g_strfreev(parts);
			return NULL;
		}
		g_free(parts[i]);
		parts[i] = dec;
	}
	return parts;
}

static void handle(SoupServer *server, SoupServerMessage *msg, const char *path,
		   GHashTable *query, gpointer user_data)
{
	(void)server;
	Api *api = user_data;
	guint n = 0;
	g_auto(GStrv) parts = split_path(path, &n);
	const char *top = parts && n ? parts[0] : "";

	if (strcmp(top, "domains") == 0) {
		route_domains(api, msg, parts, n, query);
	} else if (strcmp(top, "host") == 0 && n == 1) {
		if (check_method(msg, "GET") && check_query(msg, query, NULL))
			get_host(msg);
	} else if (strcmp(top, "host") == 0 && n == 2 &&
		   strcmp(parts[1], "devices") == 0) {
		route_libvirt(api, msg, "devices", query);
	} else if (strcmp(top, "host") == 0 && n >= 2 &&
		   (strcmp(parts[1], "pci") == 0 || strcmp(parts[1], "usb") == 0)) {
		route_host_passthrough(api, msg, parts, n, query);
	} else if (strcmp(top, "networks") == 0 && n == 1) {
		route_libvirt(api, msg, "networks", query);
	} else if (strcmp(top, "images") == 0 && n == 1) {
		make_images(api, msg, NULL, query);
	} else if (strcmp(top, "import-libvirt") == 0 && n == 1) {
		route_libvirt(api, msg, "import", query);
	} else if (strcmp(top, "events") == 0 && n == 1) {
		websocket_only(msg, have(HAVE_EVENTS_FLAG), "events (events.c)");
	} else {
		send_error(msg, SOUP_STATUS_NOT_FOUND, NULL,
			   "no such route: %s (the API is under /v1, see docs/api.md)",
			   path);
	}
}

/* Refuses an announced oversize body before libsoup reads it. */
static void early(SoupServer *server, SoupServerMessage *msg, const char *path,
		  GHashTable *query, gpointer user_data)
{
	(void)server;
	(void)path;
	(void)query;
	(void)user_data;
	SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
	if (soup_message_headers_get_encoding(h) != SOUP_ENCODING_CONTENT_LENGTH)
		return;
	goffset len = soup_message_headers_get_content_length(h);
	if (len > ATOLLD_MAX_BODY)
		send_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, NULL,
			   "the request body is %" G_GOFFSET_FORMAT " bytes; at most "
			   "%d are accepted", len, ATOLLD_MAX_BODY);
}

/* ---- the socket ---- */

/* A socket file left by a previous atolld is replaced; one that answers
 * belongs to a running atolld, and anything else is not ours to remove. */
static bool clear_stale_socket(const char *path, GError **error)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return true;
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "%s exists and is not a socket — remove it by hand", path);
		return false;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	bool alive = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	if (alive) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "another atolld is already listening on %s", path);
		return false;
	}
	unlink(path);
	return true;
}

static void set_socket_owner(const char *path)
{
	if (chmod(path, 0660) < 0)
		g_warning("chmod %s: %s", path, g_strerror(errno));
	struct group *gr = getgrnam("atoll");
	if (!gr) {
		g_message("group atoll does not exist: only root can use %s "
			  "(create it with `groupadd atoll`)", path);
		return;
	}
	if (chown(path, (uid_t)-1, gr->gr_gid) < 0)
		g_warning("cannot give %s to group atoll: %s", path,
			  g_strerror(errno));
}

static GSocket *listen_unix(const char *path, GError **error)
{
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "socket path %s is too long — use a shorter --run-dir", path);
		return NULL;
	}
	if (!clear_stale_socket(path, error))
		return NULL;
	g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_UNIX,
					       G_SOCKET_TYPE_STREAM,
					       G_SOCKET_PROTOCOL_DEFAULT, error);
	if (!sock)
		return NULL;
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	/* No window in which the socket is open to everyone. */
	mode_t old = umask(0117);
	gboolean ok = g_socket_bind(sock, addr, FALSE, error);
	umask(old);
	if (!ok || !g_socket_listen(sock, error))
		return NULL;
	set_socket_owner(path);
	return g_steal_pointer(&sock);
}

bool api_start(Atolld *d, GError **error)
{
	g_autofree char *path = g_build_filename(d->run_dir, "atolld.sock", NULL);
	g_autoptr(GSocket) sock = listen_unix(path, error);
	if (!sock)
		return false;
	Api *api = g_new0(Api, 1);
	api->d = d;
	api->sock_path = g_steal_pointer(&path);
	api->server = soup_server_new("server-header", "atolld/" ATOLL_VERSION, NULL);
	soup_server_add_early_handler(api->server, NULL, early, api, NULL);
	soup_server_add_handler(api->server, NULL, handle, api, NULL);
#ifdef ATOLLD_HAVE_EVENTS
	events_register(d, api->server);
#endif
#ifdef ATOLLD_HAVE_CONSOLE
	console_register(d, api->server);
#endif
	d->server = api;
	if (!soup_server_listen_socket(api->server, sock, 0, error)) {
		unlink(api->sock_path);
		api_stop(d);
		return false;
	}
	return true;
}

void api_stop(Atolld *d)
{
	Api *api = d->server;
	if (!api)
		return;
	soup_server_disconnect(api->server);
	g_object_unref(api->server);
	unlink(api->sock_path);
	g_free(api->sock_path);
	g_free(api);
	d->server = NULL;
}
