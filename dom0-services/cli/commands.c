/* `atoll` command-line parsing, dispatch and the request/reply commands. */
#include "commands.h"
#include "xlcfg.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- small helpers ----------------------------------------------------- */

const char *atoll_json_str(JsonObject *o, const char *member)
{
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;
	if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(n);
}

static gboolean json_is_number(JsonNode *n)
{
	if (!n || !JSON_NODE_HOLDS_VALUE(n))
		return FALSE;
	GType t = json_node_get_value_type(n);
	return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

gint64 atoll_json_int(JsonObject *o, const char *member, gint64 dflt)
{
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;
	if (!json_is_number(n))
		return dflt;
	return json_node_get_value_type(n) == G_TYPE_INT64 ? json_node_get_int(n)
		: (gint64)json_node_get_double(n);
}

double atoll_json_double(JsonObject *o, const char *member, double dflt)
{
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;
	if (!json_is_number(n))
		return dflt;
	return json_node_get_value_type(n) == G_TYPE_INT64 ? (double)json_node_get_int(n)
		: json_node_get_double(n);
}

gboolean atoll_json_bool(JsonObject *o, const char *member, gboolean dflt)
{
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;
	if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
		return dflt;
	return json_node_get_boolean(n);
}

static JsonObject *json_obj(JsonObject *o, const char *member)
{
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;
	return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

const char *atoll_cli_arg(AtollCli *cli, guint i)
{
	return i < cli->args->len ? g_ptr_array_index(cli->args, i) : NULL;
}

const char *atoll_cli_flag(AtollCli *cli, const char *flag)
{
	return g_hash_table_lookup(cli->flags, flag);
}

void atoll_cli_print_json(AtollCli *cli, JsonNode *node)
{
	g_autofree char *text = json_to_string(node, TRUE);
	fprintf(cli->io->out, "%s\n", text);
}

int atoll_cli_exit_code(const GError *error)
{
	if (error->domain == ATOLL_CLIENT_ERROR) {
		switch (error->code) {
		case ATOLL_CLIENT_ERROR_UNREACHABLE: return ATOLL_EXIT_UNREACHABLE;
		case ATOLL_CLIENT_ERROR_NOT_FOUND: return ATOLL_EXIT_NOT_FOUND;
		case ATOLL_CLIENT_ERROR_CONFLICT: return ATOLL_EXIT_CONFLICT;
		default: return ATOLL_EXIT_ERROR;
		}
	}
	if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
		return ATOLL_EXIT_NOT_FOUND;
	return ATOLL_EXIT_ERROR;
}

int atoll_cli_fail(AtollCli *cli, const GError *error)
{
	FILE *err = cli->io->err;
	const char *field = atoll_client_error_get_field(error);
	fprintf(err, "atoll: %s", error->message);
	if (field && !strstr(error->message, field))
		fprintf(err, " (field: %s)", field);
	fputc('\n', err);
	if (g_error_matches(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_UNREACHABLE))
		fprintf(err, "atoll: is atolld running? is your user in group atoll? "
			"(socket: --socket PATH or $" ATOLL_CLIENT_SOCKET_ENV ")\n");
	return atoll_cli_exit_code(error);
}

const char *atoll_cli_state_letters(const char *state)
{
	static const struct { const char *state, *letters; } map[] = {
		{ "running", "r-----" },
		{ "paused", "--p---" },
		{ "shutting-down", "---s--" },
		{ "crashed", "----c-" },
		{ "starting", "------" },
		{ "shutoff", "------" },
		{ "broken", "------" },
	};
	for (size_t i = 0; state && i < G_N_ELEMENTS(map); i++)
		if (strcmp(state, map[i].state) == 0)
			return map[i].letters;
	return "------";
}

/* ---- definitions from files -------------------------------------------- */

/* bridge name and network name -> network name, from GET /v1/networks. */
static GHashTable *bridge_table(AtollCli *cli, GError **error)
{
	g_autoptr(JsonNode) reply = atoll_client_list_networks(cli->client, error);
	if (!reply)
		return NULL;
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	JsonArray *arr = atoll_client_reply_array(reply, "networks");
	for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
		JsonObject *o = json_array_get_object_element(arr, i);
		const char *name = atoll_json_str(o, "name");
		const char *bridge = atoll_json_str(o, "bridge");
		if (!name)
			continue;
		g_hash_table_replace(t, g_strdup(name), g_strdup(name));
		if (bridge)
			g_hash_table_replace(t, g_strdup(bridge), g_strdup(name));
	}
	return t;
}

static JsonNode *load_xlcfg(AtollCli *cli, const char *path, const char *text,
			    GError **error)
{
	fprintf(cli->io->err, "Parsing config from %s\n", path);
	g_autoptr(XlConfig) cfg = xlcfg_parse(text, path, error);
	if (!cfg)
		return NULL;
	g_autoptr(GHashTable) bridges = NULL;
	if (xlcfg_uses_bridges(cfg) && !(bridges = bridge_table(cli, error)))
		return NULL;
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	JsonNode *def = xlcfg_to_definition(cfg, bridges, notes, error);
	for (guint i = 0; i < notes->len; i++)
		fprintf(cli->io->err, "%s\n", (char *)g_ptr_array_index(notes, i));
	return def;
}

JsonNode *atoll_cli_load_definition(AtollCli *cli, const char *path, GError **error)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	if (!g_file_get_contents(path, &text, &len, error))
		return NULL;
	if (strlen(text) != len) {
		g_set_error(error, XLCFG_ERROR, XLCFG_ERROR_SYNTAX,
			    "%s: contains NUL bytes; expected Atoll JSON or an xl.cfg", path);
		return NULL;
	}
	const char *p = text;
	while (g_ascii_isspace(*p))
		p++;
	if (*p != '{')
		return load_xlcfg(cli, path, text, error);

	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) perr = NULL;
	if (!json_parser_load_from_data(parser, text, len, &perr)) {
		g_set_error(error, XLCFG_ERROR, XLCFG_ERROR_SYNTAX, "%s: %s", path,
			    perr->message);
		return NULL;
	}
	return json_node_copy(json_parser_get_root(parser));
}

/* ---- commands ------------------------------------------------------------ */

static const char *def_name(JsonNode *reply, JsonNode *def)
{
	const char *n = reply && JSON_NODE_HOLDS_OBJECT(reply)
		? atoll_json_str(json_node_get_object(reply), "name") : NULL;
	if (!n && def && JSON_NODE_HOLDS_OBJECT(def))
		n = atoll_json_str(json_node_get_object(def), "name");
	return n ? n : "?";
}

static int define_common(AtollCli *cli, gboolean start)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) def = atoll_cli_load_definition(cli, atoll_cli_arg(cli, 0), &error);
	if (!def)
		return atoll_cli_fail(cli, error);
	g_autoptr(JsonNode) reply = atoll_client_define(cli->client, def, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	g_autofree char *name = g_strdup(def_name(reply, def));
	fprintf(cli->io->out, "Domain %s defined.\n", name);
	if (!start)
		return ATOLL_EXIT_OK;
	if (!atoll_client_domain_action(cli->client, name, "start", &error)) {
		int rc = atoll_cli_fail(cli, error);
		fprintf(cli->io->err, "atoll: %s stays defined; start it with: atoll start %s\n",
			name, name);
		return rc;
	}
	fprintf(cli->io->out, "Domain %s started.\n", name);
	return ATOLL_EXIT_OK;
}

static int cmd_create(AtollCli *cli) { return define_common(cli, TRUE); }
static int cmd_define(AtollCli *cli) { return define_common(cli, FALSE); }

static int cmd_undefine(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	const char *name = atoll_cli_arg(cli, 0);
	if (!atoll_client_undefine(cli->client, name,
				   atoll_cli_flag(cli, "--delete-disks") != NULL, &error))
		return atoll_cli_fail(cli, error);
	fprintf(cli->io->out, "Domain %s undefined.\n", name);
	return ATOLL_EXIT_OK;
}

static int simple_action(AtollCli *cli, const char *action)
{
	g_autoptr(GError) error = NULL;
	if (!atoll_client_domain_action(cli->client, atoll_cli_arg(cli, 0), action, &error))
		return atoll_cli_fail(cli, error);
	return ATOLL_EXIT_OK;
}

static int cmd_start(AtollCli *cli) { return simple_action(cli, "start"); }
static int cmd_destroy(AtollCli *cli) { return simple_action(cli, "destroy"); }
static int cmd_reboot(AtollCli *cli) { return simple_action(cli, "reboot"); }
static int cmd_pause(AtollCli *cli) { return simple_action(cli, "pause"); }
static int cmd_unpause(AtollCli *cli) { return simple_action(cli, "unpause"); }

static JsonObject *find_domain(JsonArray *arr, const char *name)
{
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonObject *o = json_array_get_object_element(arr, i);
		const char *n = atoll_json_str(o, "name");
		if (n && strcmp(n, name) == 0)
			return o;
	}
	return NULL;
}

static void print_list_row(AtollCli *cli, JsonObject *d)
{
	const char *state = atoll_json_str(d, "state");
	gint64 pid = atoll_json_int(d, "id", 0);
	g_autofree char *id = pid > 0 ? g_strdup_printf("%" G_GINT64_FORMAT, pid)
				      : g_strdup("-");
	/* xl list's own format, so that scripts written for xl keep working. */
	fprintf(cli->io->out, "%-40s %5s %5lu %5d     %s  %8.1f\n",
		atoll_json_str(d, "name") ? atoll_json_str(d, "name") : "?", id,
		(unsigned long)atoll_json_int(d, "memory_mib", 0),
		(int)atoll_json_int(d, "vcpus", 0), atoll_cli_state_letters(state),
		atoll_json_double(d, "cpu_time_s", 0.0));
	if (state && strcmp(state, "broken") == 0)
		fprintf(cli->io->err, "atoll: %s: definition is broken: %s\n",
			atoll_json_str(d, "name"),
			atoll_json_str(d, "error") ? atoll_json_str(d, "error") : "(no reason given)");
}

static int cmd_list(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_list_domains(cli->client, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	JsonArray *all = atoll_client_reply_array(reply, "domains");
	if (!all) {
		fprintf(cli->io->err, "atoll: atolld's domain list is not a list\n");
		return ATOLL_EXIT_ERROR;
	}
	g_autoptr(JsonArray) shown = json_array_new();
	for (guint i = 0; i < cli->args->len; i++) {
		JsonObject *d = find_domain(all, atoll_cli_arg(cli, i));
		if (!d) {
			fprintf(cli->io->err, "atoll: domain '%s' not found\n", atoll_cli_arg(cli, i));
			return ATOLL_EXIT_NOT_FOUND;
		}
		json_array_add_object_element(shown, json_object_ref(d));
	}
	JsonArray *rows = cli->args->len ? shown : all;
	if (cli->json) {
		g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), rows);
		atoll_cli_print_json(cli, n);
		return ATOLL_EXIT_OK;
	}
	fprintf(cli->io->out, "Name                                        ID   Mem VCPUs\tState\tTime(s)\n");
	for (guint i = 0; i < json_array_get_length(rows); i++)
		print_list_row(cli, json_array_get_object_element(rows, i));
	return ATOLL_EXIT_OK;
}

static void info_line(AtollCli *cli, const char *key, const char *value)
{
	if (value)
		fprintf(cli->io->out, "%-14s %s\n", key, value);
}

static void info_devices(AtollCli *cli, JsonObject *d)
{
	JsonNode *n = json_object_get_member(d, "disks");
	JsonArray *disks = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
	for (guint i = 0; disks && i < json_array_get_length(disks); i++) {
		JsonObject *o = json_array_get_object_element(disks, i);
		g_autofree char *key = g_strdup_printf("disk[%u]:", i);
		g_autofree char *v = g_strdup_printf("%s (%s)%s%s", atoll_json_str(o, "path"),
			atoll_json_bool(o, "readonly", FALSE) ? "ro" : "rw",
			atoll_json_str(o, "serial") ? " serial " : "",
			atoll_json_str(o, "serial") ? atoll_json_str(o, "serial") : "");
		info_line(cli, key, v);
	}
	n = json_object_get_member(d, "nics");
	JsonArray *nics = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
	for (guint i = 0; nics && i < json_array_get_length(nics); i++) {
		JsonObject *o = json_array_get_object_element(nics, i);
		g_autofree char *key = g_strdup_printf("nic[%u]:", i);
		const char *net = atoll_json_str(o, "network");
		const char *mac = atoll_json_str(o, "mac");
		g_autofree char *v = g_strdup_printf("%s%s%s%s%s",
			atoll_json_str(o, "type") ? atoll_json_str(o, "type") : "?",
			net ? " " : "", net ? net : "", mac ? " mac " : "", mac ? mac : "");
		info_line(cli, key, v);
	}
}

static char *format_time(gint64 t)
{
	if (t <= 0)
		return NULL;
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(t);
	return dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : NULL;
}

static void info_status(AtollCli *cli, JsonObject *st)
{
	gint64 pid = atoll_json_int(st, "pid", 0);
	g_autofree char *id = pid > 0 ? g_strdup_printf("%" G_GINT64_FORMAT, pid) : g_strdup("-");
	info_line(cli, "state:", atoll_json_str(st, "state"));
	info_line(cli, "id:", id);
	g_autofree char *started = format_time(atoll_json_int(st, "started_at", 0));
	info_line(cli, "started:", started);
	JsonObject *le = json_obj(st, "last_exit");
	if (le) {
		g_autofree char *at = format_time(atoll_json_int(le, "at", 0));
		g_autofree char *v = g_strdup_printf("%s, code %" G_GINT64_FORMAT "%s%s",
			atoll_json_str(le, "reason") ? atoll_json_str(le, "reason") : "?",
			atoll_json_int(le, "code", 0), at ? ", at " : "", at ? at : "");
		info_line(cli, "last exit:", v);
	}
}

static int cmd_info(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_get_domain(cli->client, atoll_cli_arg(cli, 0),
							    &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	if (cli->json) {
		atoll_cli_print_json(cli, reply);
		return ATOLL_EXIT_OK;
	}
	JsonObject *d = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
	if (!d) {
		fprintf(cli->io->err, "atoll: atolld's domain reply is not an object\n");
		return ATOLL_EXIT_ERROR;
	}
	g_autofree char *mem = g_strdup_printf("%" G_GINT64_FORMAT " MiB",
					       atoll_json_int(d, "memory_mib", 0));
	g_autofree char *vcpus = g_strdup_printf("%" G_GINT64_FORMAT, atoll_json_int(d, "vcpus", 0));
	info_line(cli, "name:", atoll_json_str(d, "name"));
	info_status(cli, json_obj(d, "status") ? json_obj(d, "status") : d);
	info_line(cli, "memory:", mem);
	info_line(cli, "vcpus:", vcpus);
	info_line(cli, "kernel:", atoll_json_str(d, "kernel"));
	info_line(cli, "initrd:", atoll_json_str(d, "initrd"));
	info_line(cli, "cmdline:", atoll_json_str(d, "cmdline"));
	info_devices(cli, d);
	info_line(cli, "on_poweroff:", atoll_json_str(d, "on_poweroff"));
	info_line(cli, "on_reboot:", atoll_json_str(d, "on_reboot"));
	info_line(cli, "on_crash:", atoll_json_str(d, "on_crash"));
	info_line(cli, "autostart:", atoll_json_bool(d, "autostart", FALSE) ? "yes" : "no");
	info_line(cli, "label:", atoll_json_str(d, "label"));
	return ATOLL_EXIT_OK;
}

/* The first of several member names the object has, as text. */
static char *any_member_text(JsonObject *o, const char *const *names)
{
	for (int i = 0; names[i]; i++) {
		JsonNode *n = json_object_get_member(o, names[i]);
		if (!n || JSON_NODE_HOLDS_NULL(n))
			continue;
		if (JSON_NODE_HOLDS_VALUE(n)) {
			GType t = json_node_get_value_type(n);
			if (t == G_TYPE_STRING)
				return g_strdup(json_node_get_string(n));
			if (t == G_TYPE_BOOLEAN)
				return g_strdup(json_node_get_boolean(n) ? "yes" : "no");
			if (t == G_TYPE_INT64)
				return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
		}
		return json_to_string(n, FALSE);
	}
	return g_strdup("-");
}

typedef struct {
	const char *title;
	int width;
	const char *members[4];
} Column;

static int print_table(AtollCli *cli, JsonNode *reply, const char *member,
		       const Column *cols, size_t ncols)
{
	if (cli->json) {
		atoll_cli_print_json(cli, reply);
		return ATOLL_EXIT_OK;
	}
	JsonArray *arr = atoll_client_reply_array(reply, member);
	if (!arr) {
		fprintf(cli->io->err, "atoll: atolld's %s reply is not a list\n", member);
		return ATOLL_EXIT_ERROR;
	}
	for (size_t c = 0; c < ncols; c++)
		fprintf(cli->io->out, c + 1 < ncols ? "%-*s " : "%-*s\n",
			c + 1 < ncols ? cols[c].width : 0, cols[c].title);
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonObject *o = json_array_get_object_element(arr, i);
		for (size_t c = 0; o && c < ncols; c++) {
			g_autofree char *v = any_member_text(o, cols[c].members);
			fprintf(cli->io->out, c + 1 < ncols ? "%-*s " : "%-*s\n",
				c + 1 < ncols ? cols[c].width : 0, v);
		}
	}
	return ATOLL_EXIT_OK;
}

/* atolld describes a network's addresses as "ipv4": {address, prefix,
 * dhcp: {start, end}} (openapi.yaml); the table shows them as
 * "ADDRESS/PREFIX" and "START-END". */
static void flatten_ipv4(JsonArray *networks)
{
	for (guint i = 0; networks && i < json_array_get_length(networks); i++) {
		JsonNode *n = json_array_get_element(networks, i);
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
		JsonObject *ip = json_obj(o, "ipv4");
		if (!ip)
			continue;
		const char *addr = atoll_json_str(ip, "address");
		if (addr && !json_object_has_member(o, "ip")) {
			g_autofree char *v = json_object_has_member(ip, "prefix")
				? g_strdup_printf("%s/%" G_GINT64_FORMAT, addr,
						  atoll_json_int(ip, "prefix", 0))
				: g_strdup(addr);
			json_object_set_string_member(o, "ip", v);
		}
		JsonObject *dhcp = json_obj(ip, "dhcp");
		const char *start = atoll_json_str(dhcp, "start"), *end = atoll_json_str(dhcp, "end");
		if (start && end && !json_object_has_member(o, "dhcp_range")) {
			g_autofree char *v = g_strdup_printf("%s-%s", start, end);
			json_object_set_string_member(o, "dhcp_range", v);
		}
	}
}

static int cmd_network_list(AtollCli *cli)
{
	static const Column cols[] = {
		{ "Name", 16, { "name" } },
		{ "Bridge", 12, { "bridge" } },
		{ "Active", 6, { "active" } },
		{ "Forward", 8, { "forward_mode", "forward", "mode" } },
		{ "Address", 18, { "ip", "address" } },
		{ "DHCP range", 0, { "dhcp_range", "dhcp" } },
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_list_networks(cli->client, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	if (!cli->json)
		flatten_ipv4(atoll_client_reply_array(reply, "networks"));
	return print_table(cli, reply, "networks", cols, G_N_ELEMENTS(cols));
}

static int cmd_device_list(AtollCli *cli)
{
	static const Column cols[] = {
		{ "Type", 4, { "type" } },
		{ "Address", 12, { "address", "id" } },
		{ "IOMMU", 5, { "iommu_group" } },
		{ "Driver", 12, { "driver" } },
		{ "Class", 8, { "class" } },
		{ "Description", 0, { "description", "name", "product" } },
	};
	gboolean pci = atoll_cli_flag(cli, "--pci") != NULL;
	gboolean usb = atoll_cli_flag(cli, "--usb") != NULL;
	if (pci && usb)
		return atoll_cli_usage_error(cli, "give --pci or --usb, not both");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_list_host_devices(
		cli->client, pci ? "pci" : usb ? "usb" : NULL, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	return print_table(cli, reply, "devices", cols, G_N_ELEMENTS(cols));
}

static int cmd_import_libvirt(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	const char *domain = atoll_cli_arg(cli, 1);
	g_autoptr(JsonNode) reply = atoll_client_import_libvirt(
		cli->client, atoll_cli_arg(cli, 0), domain, atoll_cli_arg(cli, 2), &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	if (cli->json) {
		atoll_cli_print_json(cli, reply);
		return ATOLL_EXIT_OK;
	}
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
	JsonObject *def = json_obj(o, "definition") ? json_obj(o, "definition") : o;
	const char *name = atoll_json_str(def, "name");
	fprintf(cli->io->out, "Imported libvirt domain %s as %s.\n", domain,
		name ? name : (atoll_cli_arg(cli, 2) ? atoll_cli_arg(cli, 2) : domain));
	JsonNode *un = o ? json_object_get_member(o, "unmapped") : NULL;
	JsonArray *arr = un && JSON_NODE_HOLDS_ARRAY(un) ? json_node_get_array(un) : NULL;
	for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
		g_autofree char *t = JSON_NODE_HOLDS_VALUE(json_array_get_element(arr, i)) &&
			json_node_get_value_type(json_array_get_element(arr, i)) == G_TYPE_STRING
			? g_strdup(json_array_get_string_element(arr, i))
			: json_to_string(json_array_get_element(arr, i), FALSE);
		fprintf(cli->io->err, "atoll: not imported: %s\n", t);
	}
	return ATOLL_EXIT_OK;
}

/* ---- SPICE consoles ------------------------------------------------------ */

/* The domain's SPICE URI from its status, or NULL after printing why
 * there is none (*rc set: 4 for "no console", else the request's code). */
static char *spice_uri_of(AtollCli *cli, const char *name, int *rc)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_get_domain(cli->client, name, &error);
	if (!reply) {
		*rc = atoll_cli_fail(cli, error);
		return NULL;
	}
	JsonObject *d = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
	JsonObject *st = json_obj(d, "status");
	const char *uri = atoll_json_str(json_obj(st, "spice"), "uri");
	if (uri)
		return g_strdup(uri);
	const char *state = atoll_json_str(st, "state");
	*rc = ATOLL_EXIT_NOT_FOUND;
	if (g_strcmp0(atoll_json_str(json_obj(d, "graphics"), "type"), "spice") != 0)
		fprintf(cli->io->err, "atoll: domain %s has no SPICE console: its definition "
			"has no graphics; set \"graphics\": {\"type\": \"spice\"} (atolld "
			"API, PUT) and restart it\n", name);
	else if (!state || !strcmp(state, "shutoff") || !strcmp(state, "crashed") ||
		 !strcmp(state, "broken"))
		fprintf(cli->io->err, "atoll: domain %s has no SPICE console: it is not "
			"running; start it with: atoll start %s\n", name, name);
	else
		fprintf(cli->io->err, "atoll: domain %s has no SPICE console yet: it is still "
			"starting, or it was started before graphics were added (then "
			"restart it)\n", name);
	return NULL;
}

static int cmd_spice_uri(AtollCli *cli)
{
	int rc = ATOLL_EXIT_OK;
	g_autofree char *uri = spice_uri_of(cli, atoll_cli_arg(cli, 0), &rc);
	if (uri)
		fprintf(cli->io->out, "%s\n", uri);
	return rc;
}

/* $ATOLL_VIEWER, else atoll-viewer (in PATH, next to this program, or
 * where the build tree puts it relative to dom0-services/cli/atoll), else
 * remote-viewer.  NULL if none is there. */
static char *find_viewer(AtollCli *cli)
{
	const char *forced = g_getenv(ATOLL_VIEWER_ENV);
	if (forced && *forced) {
		char *path = g_find_program_in_path(forced);
		if (!path)
			fprintf(cli->io->err, "atoll: $" ATOLL_VIEWER_ENV "=%s is not an "
				"executable program\n", forced);
		return path;
	}
	char *path = g_find_program_in_path("atoll-viewer");
	if (path)
		return path;
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;
	const char *const near[] = { "atoll-viewer", "../../display/client/atoll-viewer" };
	for (size_t i = 0; dir && i < G_N_ELEMENTS(near); i++) {
		g_autofree char *p = g_build_filename(dir, near[i], NULL);
		if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE) &&
		    !g_file_test(p, G_FILE_TEST_IS_DIR))
			return g_steal_pointer(&p);
	}
	path = g_find_program_in_path("remote-viewer");
	if (!path)
		fprintf(cli->io->err, "atoll: no SPICE viewer found: install remote-viewer "
			"(Debian package virt-viewer) or Atoll's atoll-viewer, or point $"
			ATOLL_VIEWER_ENV " at a viewer\n");
	return path;
}

/* console --graphical: becomes `VIEWER URI`. */
static int console_graphical(AtollCli *cli)
{
	const char *name = atoll_cli_arg(cli, 0);
	int rc = ATOLL_EXIT_OK;
	g_autofree char *uri = spice_uri_of(cli, name, &rc);
	if (!uri)
		return rc;
	g_autofree char *viewer = find_viewer(cli);
	if (!viewer) {
		fprintf(cli->io->err, "atoll: %s's console is at %s\n", name, uri);
		return ATOLL_EXIT_ERROR;
	}
	char *argv[] = { viewer, uri, NULL };
	fflush(cli->io->out);
	fflush(cli->io->err);
	execv(viewer, argv);
	fprintf(cli->io->err, "atoll: cannot run %s: %s\n", viewer, g_strerror(errno));
	return ATOLL_EXIT_ERROR;
}

static int cmd_console(AtollCli *cli)
{
	if (atoll_cli_flag(cli, "--graphical"))
		return console_graphical(cli);
	return atoll_cmd_console(cli);
}

/* ---- host devices for domains: PCI passthrough and USB ------------------- */

static JsonNode *request(AtollCli *cli, const char *method, const char *path,
			 JsonNode *body, GError **error)
{
	return atoll_client_request(cli->client, method, path, body, NULL, error);
}

static JsonNode *one_member_body(const char *key, const char *value)
{
	JsonNode *n = json_node_new(JSON_NODE_OBJECT);
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, key, value);
	json_node_take_object(n, o);
	return n;
}

/* A preflight result's first failed check, as the listing's summary. */
static void flatten_preflight(JsonArray *devs)
{
	for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
		JsonObject *o = json_array_get_object_element(devs, i);
		JsonObject *pf = json_obj(o, "preflight");
		if (!o || !pf)
			continue;
		const char *v = atoll_json_bool(pf, "passed", FALSE) ? "ok" : "FAIL";
		JsonNode *checks = json_object_get_member(pf, "checks");
		JsonArray *a = checks && JSON_NODE_HOLDS_ARRAY(checks) ? json_node_get_array(checks) : NULL;
		for (guint j = 0; a && j < json_array_get_length(a); j++) {
			JsonObject *c = json_array_get_object_element(a, j);
			if (!g_strcmp0(atoll_json_str(c, "result"), "fail")) {
				g_autofree char *t = g_strdup_printf("FAIL (%s)", atoll_json_str(c, "check"));
				json_object_set_string_member(o, "preflight_text", t);
				break;
			}
		}
		if (!json_object_has_member(o, "preflight_text"))
			json_object_set_string_member(o, "preflight_text", v);
	}
}

static int cmd_pci_list(AtollCli *cli)
{
	static const Column cols[] = {
		{ "Address", 12, { "address" } },
		{ "IOMMU", 5, { "iommu_group" } },
		{ "Class", 8, { "class" } },
		{ "ID", 9, { "id" } },
		{ "Driver", 14, { "driver" } },
		{ "Preflight", 18, { "preflight_text" } },
		{ "Used by", 0, { "used_by" } },
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = request(cli, "GET", "/v1/host/pci", NULL, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	JsonArray *a = atoll_client_reply_array(reply, "devices");
	if (!cli->json) {
		flatten_preflight(a);
		for (guint i = 0; a && i < json_array_get_length(a); i++) {
			JsonObject *o = json_array_get_object_element(a, i);
			const char *v = atoll_json_str(o, "vendor_id"), *d = atoll_json_str(o, "device_id");
			g_autofree char *id = g_strdup_printf("%s:%s", v && strlen(v) > 2 ? v + 2 : "?",
							      d && strlen(d) > 2 ? d + 2 : "?");
			json_object_set_string_member(o, "id", id);
		}
	}
	return print_table(cli, reply, "devices", cols, G_N_ELEMENTS(cols));
}

static int cmd_pci_assignable_list(AtollCli *cli)
{
	static const Column cols[] = {
		{ "Address", 12, { "address" } },
		{ "IOMMU", 5, { "iommu_group" } },
		{ "Driver", 10, { "driver" } },
		{ "Original driver", 16, { "original_driver" } },
		{ "Used by", 0, { "used_by" } },
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = request(cli, "GET", "/v1/host/pci/assignable", NULL, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	return print_table(cli, reply, "devices", cols, G_N_ELEMENTS(cols));
}

/* "  0000:01:00.0  vfio-pci  (was nouveau)" per device of the group. */
static void print_group(AtollCli *cli, JsonNode *reply, gboolean added)
{
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
	JsonNode *devs = o ? json_object_get_member(o, "devices") : NULL;
	JsonArray *a = devs && JSON_NODE_HOLDS_ARRAY(devs) ? json_node_get_array(devs) : NULL;
	fprintf(cli->io->out, "IOMMU group %" G_GINT64_FORMAT " of %s %s:\n",
		atoll_json_int(o, "iommu_group", -1), atoll_json_str(o, "address"),
		added ? "is bound to vfio-pci" : "has its drivers back");
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *d = json_array_get_object_element(a, i);
		const char *drv = atoll_json_str(d, "driver");
		const char *orig = atoll_json_str(d, "original_driver");
		fprintf(cli->io->out, "  %s  %s", atoll_json_str(d, "address"),
			drv ? drv : "(no driver)");
		if (added && orig)
			fprintf(cli->io->out, "  (was %s)", orig);
		fputc('\n', cli->io->out);
	}
}

static int cmd_pci_assignable_add(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) body = one_member_body("address", atoll_cli_arg(cli, 0));
	if (atoll_cli_flag(cli, "--group"))
		json_object_set_boolean_member(json_node_get_object(body), "group", TRUE);
	g_autoptr(JsonNode) reply = request(cli, "POST", "/v1/host/pci/assignable", body, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	print_group(cli, reply, TRUE);
	return ATOLL_EXIT_OK;
}

static int cmd_pci_assignable_remove(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *esc = g_uri_escape_string(atoll_cli_arg(cli, 0), ":", FALSE);
	g_autofree char *path = g_strdup_printf("/v1/host/pci/assignable/%s", esc);
	g_autoptr(JsonNode) reply = request(cli, "DELETE", path, NULL, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	print_group(cli, reply, FALSE);
	return ATOLL_EXIT_OK;
}

/* One line per check; exit 1 when a check failed. */
static int cmd_pci_preflight(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *esc = g_uri_escape_string(atoll_cli_arg(cli, 0), ":", FALSE);
	g_autofree char *path = g_strdup_printf("/v1/host/pci/%s/preflight%s", esc,
		atoll_cli_flag(cli, "--force") ? "?force=true" : "");
	g_autoptr(JsonNode) reply = request(cli, "GET", path, NULL, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
	gboolean passed = atoll_json_bool(o, "passed", FALSE);
	if (cli->json) {
		atoll_cli_print_json(cli, reply);
		return passed ? ATOLL_EXIT_OK : ATOLL_EXIT_ERROR;
	}
	JsonNode *checks = o ? json_object_get_member(o, "checks") : NULL;
	JsonArray *a = checks && JSON_NODE_HOLDS_ARRAY(checks) ? json_node_get_array(checks) : NULL;
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *c = json_array_get_object_element(a, i);
		const char *r = atoll_json_str(c, "result");
		fprintf(cli->io->out, "%-4s  %-8s  %s\n",
			!g_strcmp0(r, "fail") ? "FAIL" : !g_strcmp0(r, "warn") ? "warn" : "ok",
			atoll_json_str(c, "check"), atoll_json_str(c, "message"));
	}
	if (passed) {
		fprintf(cli->io->out, "%s can be passed through.\n", atoll_json_str(o, "address"));
		return ATOLL_EXIT_OK;
	}
	fprintf(cli->io->err, "atoll: %s cannot be passed through yet; fix the FAIL "
		"lines above\n", atoll_json_str(o, "address"));
	return ATOLL_EXIT_ERROR;
}

static int cmd_usb_list(AtollCli *cli)
{
	static const Column cols[] = {
		{ "Path", 8, { "path" } },
		{ "ID", 9, { "id" } },
		{ "Speed", 6, { "speed" } },
		{ "Used by", 12, { "used_by" } },
		{ "Product", 0, { "product", "manufacturer" } },
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = request(cli, "GET", "/v1/host/usb", NULL, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	return print_table(cli, reply, "devices", cols, G_N_ELEMENTS(cols));
}

static int cmd_usb_attach(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	const char *name = atoll_cli_arg(cli, 0), *dev = atoll_cli_arg(cli, 1);
	g_autofree char *path = atoll_client_domain_path(name, "/usb");
	g_autoptr(JsonNode) body = one_member_body("host", dev);
	g_autoptr(JsonNode) reply = request(cli, "POST", path, body, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
	gint64 port = atoll_json_int(o, "port", -1);
	if (port >= 0)
		fprintf(cli->io->out, "Attached %s to %s (guest USB port %" G_GINT64_FORMAT ").\n",
			dev, name, port);
	else
		fprintf(cli->io->out, "Attached %s to %s.\n", dev, name);
	return ATOLL_EXIT_OK;
}

static int cmd_usb_detach(AtollCli *cli)
{
	g_autoptr(GError) error = NULL;
	const char *name = atoll_cli_arg(cli, 0), *dev = atoll_cli_arg(cli, 1);
	g_autofree char *esc = g_uri_escape_string(dev, ":", FALSE);
	g_autofree char *suffix = g_strdup_printf("/usb/%s", esc);
	g_autofree char *path = atoll_client_domain_path(name, suffix);
	g_autoptr(JsonNode) reply = request(cli, "DELETE", path, NULL, &error);
	if (!reply)
		return atoll_cli_fail(cli, error);
	fprintf(cli->io->out, "Detached %s from %s.\n", dev, name);
	return ATOLL_EXIT_OK;
}

/* ---- dispatch ------------------------------------------------------------ */

typedef struct {
	const char *name;
	const char *synopsis;
	int min_args, max_args;   /* max -1: any number */
	gboolean reads;           /* takes --json */
	const char *flags;        /* space-separated; "X=" takes a value */
	int (*run)(AtollCli *cli);
	const char *help;
} Command;

static const Command commands[] = {
	{ "create", "FILE", 1, 1, FALSE, NULL, cmd_create,
	  "define a domain from FILE (Atoll JSON or xl.cfg) and start it" },
	{ "define", "FILE", 1, 1, FALSE, NULL, cmd_define,
	  "define a domain from FILE (Atoll JSON or xl.cfg)" },
	{ "undefine", "NAME [--delete-disks]", 1, 1, FALSE, "--delete-disks", cmd_undefine,
	  "remove a domain's definition (and its disk images)" },
	{ "list", "[NAME...]", 0, -1, TRUE, NULL, cmd_list,
	  "list domains like `xl list`" },
	{ "info", "NAME", 1, 1, TRUE, NULL, cmd_info,
	  "show a domain's definition and status" },
	{ "start", "NAME", 1, 1, FALSE, NULL, cmd_start, "start a domain" },
	{ "shutdown", "[-w] [-t SECS] NAME", 1, 1, FALSE, "-w -t=", atoll_cmd_shutdown,
	  "ask a domain to shut down (forced after the timeout); -w waits until it is off" },
	{ "destroy", "NAME", 1, 1, FALSE, NULL, cmd_destroy, "power a domain off now" },
	{ "reboot", "NAME", 1, 1, FALSE, NULL, cmd_reboot, "reboot a domain" },
	{ "pause", "NAME", 1, 1, FALSE, NULL, cmd_pause, "pause a domain's vCPUs" },
	{ "unpause", "NAME", 1, 1, FALSE, NULL, cmd_unpause, "resume a paused domain" },
	{ "console", "[--graphical] NAME", 1, 1, FALSE, "--graphical", cmd_console,
	  "attach to a domain's serial console (escape: ^]); --graphical: its screen" },
	{ "spice-uri", "NAME", 1, 1, FALSE, NULL, cmd_spice_uri,
	  "print where a SPICE client reaches the domain's screen" },
	{ "top", "[-b] [-n N] [-d SECS]", 0, 0, FALSE, "-b -n= -d=", atoll_cmd_top,
	  "live domain statistics, like xentop (q quits)" },
	{ "network-list", "", 0, 0, TRUE, NULL, cmd_network_list,
	  "list the libvirt networks NICs can join" },
	{ "device-list", "[--pci|--usb]", 0, 0, TRUE, "--pci --usb", cmd_device_list,
	  "list host PCI/USB devices with their IOMMU groups" },
	{ "import-libvirt", "URI DOMAIN [NEWNAME]", 2, 3, TRUE, NULL, cmd_import_libvirt,
	  "define a domain from a libvirt domain" },
	{ "pci-list", "", 0, 0, TRUE, NULL, cmd_pci_list,
	  "host PCI devices with IOMMU groups, preflight and user" },
	{ "pci-preflight", "[--force] BDF", 1, 1, TRUE, "--force", cmd_pci_preflight,
	  "can this PCI device be passed through? (exit 1 if not)" },
	{ "pci-assignable-list", "", 0, 0, TRUE, NULL, cmd_pci_assignable_list,
	  "PCI devices bound to vfio-pci/pci-stub" },
	{ "pci-assignable-add", "[--group] BDF", 1, 1, FALSE, "--group", cmd_pci_assignable_add,
	  "bind a device's IOMMU group to vfio-pci (--group: also its host-used mates)" },
	{ "pci-assignable-remove", "BDF", 1, 1, FALSE, NULL, cmd_pci_assignable_remove,
	  "give a device's IOMMU group its drivers back" },
	{ "usb-list", "", 0, 0, TRUE, NULL, cmd_usb_list,
	  "host USB devices and which domain has them" },
	{ "usb-attach", "NAME DEV", 2, 2, FALSE, NULL, cmd_usb_attach,
	  "hot-plug host USB device DEV (VID:PID or BUS-PORT) into a running domain" },
	{ "usb-detach", "NAME DEV", 2, 2, FALSE, NULL, cmd_usb_detach,
	  "hot-unplug a USB device from a domain" },
};

static void print_usage(FILE *f)
{
	fprintf(f, "usage: atoll [--socket PATH] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		fprintf(f, "  %-15s %-28s %s\n", commands[i].name, commands[i].synopsis,
			commands[i].help);
	fprintf(f, "\n--json prints atolld's JSON (list, info, network-list, device-list,\n"
		"import-libvirt, pci-list, pci-preflight, pci-assignable-list, usb-list).  Exit codes: 0 ok, 1 error, 2 usage, 3 atolld unreachable,\n"
		"4 not found, 5 conflict.  See docs/cli.md.\n");
}

int atoll_cli_usage_error(AtollCli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(cli->io->err, "atoll: %s\n", what);
	for (size_t i = 0; cli->command && i < G_N_ELEMENTS(commands); i++)
		if (strcmp(commands[i].name, cli->command) == 0)
			fprintf(cli->io->err, "usage: atoll %s %s\n", commands[i].name,
				commands[i].synopsis);
	if (!cli->command)
		fprintf(cli->io->err, "Run `atoll help` for the commands.\n");
	return ATOLL_EXIT_USAGE;
}

/* Does the command take flag?  *takes_value tells whether it has a value. */
static gboolean flag_known(const Command *cmd, const char *flag, gboolean *takes_value)
{
	if (!cmd->flags)
		return FALSE;
	g_auto(GStrv) names = g_strsplit(cmd->flags, " ", -1);
	for (int i = 0; names[i]; i++) {
		size_t n = strlen(names[i]);
		gboolean val = n && names[i][n - 1] == '=';
		if (strlen(flag) == n - val && strncmp(flag, names[i], n - val) == 0) {
			*takes_value = val;
			return TRUE;
		}
	}
	return FALSE;
}

typedef struct {
	const char *socket;
	gboolean json;
} GlobalOpts;

/* --socket PATH / --socket=PATH / --json, anywhere.  Returns 1 if argv[*i]
 * was one, 0 if not, -1 on a usage error. */
static int global_option(AtollCli *cli, GlobalOpts *g, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	if (strcmp(a, "--json") == 0) {
		g->json = TRUE;
		return 1;
	}
	if (g_str_has_prefix(a, "--socket=")) {
		g->socket = a + strlen("--socket=");
		return 1;
	}
	if (strcmp(a, "--socket") == 0) {
		if (*i + 1 >= argc) {
			atoll_cli_usage_error(cli, "--socket needs a path");
			return -1;
		}
		g->socket = argv[++*i];
		return 1;
	}
	return 0;
}

static int parse_command_args(AtollCli *cli, const Command *cmd, GlobalOpts *g,
			      int argc, char **argv, int first)
{
	gboolean options_done = FALSE;
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		if (options_done || a[0] != '-' || a[1] == '\0') {
			g_ptr_array_add(cli->args, (char *)a);
			continue;
		}
		if (strcmp(a, "--") == 0) {
			options_done = TRUE;
			continue;
		}
		int r = global_option(cli, g, argc, argv, &i);
		if (r < 0)
			return ATOLL_EXIT_USAGE;
		if (r > 0)
			continue;
		g_autofree char *flag = g_strdup(a);
		char *eq = strchr(flag, '=');
		if (eq)
			*eq = '\0';
		gboolean takes_value = FALSE;
		if (!flag_known(cmd, flag, &takes_value))
			return atoll_cli_usage_error(cli, "%s: unknown option '%s'", cmd->name, a);
		const char *value = eq ? a + (eq - flag) + 1 : "";
		if (takes_value && !eq) {
			if (i + 1 >= argc)
				return atoll_cli_usage_error(cli, "%s needs a value", flag);
			value = argv[++i];
		} else if (!takes_value && eq) {
			return atoll_cli_usage_error(cli, "%s takes no value", flag);
		}
		g_hash_table_replace(cli->flags, g_steal_pointer(&flag), (char *)value);
	}
	int n = (int)cli->args->len;
	if (n < cmd->min_args || (cmd->max_args >= 0 && n > cmd->max_args))
		return atoll_cli_usage_error(cli, "%s: wrong number of arguments", cmd->name);
	if (g->json && !cmd->reads)
		return atoll_cli_usage_error(cli, "%s does not take --json", cmd->name);
	return ATOLL_EXIT_OK;
}

static const Command *find_command(const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int run_command(AtollCli *cli, int argc, char **argv)
{
	GlobalOpts g = { 0 };
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			print_usage(cli->io->out);
			return ATOLL_EXIT_OK;
		}
		int r = global_option(cli, &g, argc, argv, &i);
		if (r < 0)
			return ATOLL_EXIT_USAGE;
		if (r == 0)
			return atoll_cli_usage_error(cli, "unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return atoll_cli_usage_error(cli, "no command given");
	if (strcmp(argv[i], "help") == 0) {
		print_usage(cli->io->out);
		return ATOLL_EXIT_OK;
	}
	const Command *cmd = find_command(argv[i]);
	if (!cmd)
		return atoll_cli_usage_error(cli, "unknown command '%s'", argv[i]);
	cli->command = cmd->name;
	int rc = parse_command_args(cli, cmd, &g, argc, argv, i + 1);
	if (rc != ATOLL_EXIT_OK)
		return rc;
	cli->json = g.json;
	cli->client = atoll_client_new(g.socket && *g.socket ? g.socket : NULL);
	return cmd->run(cli);
}

int atoll_cli_main(const AtollCliIO *io, int argc, char **argv)
{
	AtollCli cli = {
		.io = io,
		.args = g_ptr_array_new(),
		.flags = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
	};
	int rc = run_command(&cli, argc, argv);
	fflush(io->out);
	fflush(io->err);
	g_clear_object(&cli.client);
	g_ptr_array_unref(cli.args);
	g_hash_table_unref(cli.flags);
	return rc;
}
