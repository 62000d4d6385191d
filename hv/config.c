/* Domain configuration: defaults, the JSON file, command-line flags and
 * whole-config validation.  Every error names the field or flag at fault and
 * says what to write instead, because the user reads these messages directly
 * on stderr when atoll-vmm refuses to start. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "usb_host.h"
#include "vfio.h"

#define NAME_MAX_LEN 64
#define DISK_SERIAL_MAX 20      /* virtio-blk VIRTIO_BLK_ID_BYTES */
#define TAP_NAME_MAX 15         /* IFNAMSIZ - 1 */
#define UNIX_PATH_MAX_LEN 107   /* sizeof(sun_path) - 1 */
#define CMDLINE_MAX_LEN 65535   /* BOOT_CMDLINE_MAX - 1; the kernel's own
				 * cmdline_size is checked at boot */
#define SHUTDOWN_TIMEOUT_MAX 3600

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- defaults and teardown ---- */

void vm_config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = g_strdup("atoll");
	cfg->memory_mib = 256;
	cfg->vcpus = 1;
	cfg->serial.kind = CHARDEV_STDIO;
	cfg->console.kind = CHARDEV_NONE;
	cfg->on_poweroff = ACTION_DESTROY;
	cfg->on_reboot = ACTION_RESTART;
	cfg->on_crash = ACTION_DESTROY;
	cfg->shutdown_timeout_s = 30;
	cfg->spice.fd = -1;
}

static void disks_free(struct disk_config *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_free(d[i].path);
		g_free(d[i].serial);
	}
	g_free(d);
}

static void pcis_free(struct pci_config *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_free(p[i].host);
		g_free(p[i].rom);
	}
	g_free(p);
}

static void nics_free(struct nic_config *n, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		g_free(n[i].tap);
		g_free(n[i].socket);
	}
	g_free(n);
}

void vm_config_free(struct vm_config *cfg)
{
	g_free(cfg->name);
	g_free(cfg->kernel);
	g_free(cfg->initrd);
	g_free(cfg->cmdline);
	g_free(cfg->control);
	g_free(cfg->firmware_code);
	g_free(cfg->firmware_vars);
	g_free(cfg->boot_order);
	disks_free(cfg->disks, cfg->n_disks);
	nics_free(cfg->nics, cfg->n_nics);
	pcis_free(cfg->pci, cfg->n_pci);
	g_free(cfg->serial.path);
	g_free(cfg->console.path);
	g_free(cfg->spice.path);
	g_free(cfg->spice.host);
	g_free(cfg->spice.password);
	for (size_t i = 0; i < cfg->n_usb_hosts; i++)
		g_free(cfg->usb_hosts[i]);
	g_free(cfg->usb_hosts);
	memset(cfg, 0, sizeof(*cfg));
}

static void set_str(char **dst, const char *src)
{
	g_free(*dst);
	*dst = g_strdup(src);
}

/* ---- names shared by JSON and flags ---- */

static const char *const action_names[] = {
	[ACTION_DESTROY] = "destroy",
	[ACTION_RESTART] = "restart",
	[ACTION_PRESERVE] = "preserve",
};

const char *lifecycle_action_name(enum lifecycle_action a)
{
	if ((unsigned)a < G_N_ELEMENTS(action_names))
		return action_names[a];
	return "unknown";
}

static int parse_action(const char *s, const char *field,
			enum lifecycle_action *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < G_N_ELEMENTS(action_names); i++) {
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum lifecycle_action)i;
			return 0;
		}
	}
	return fail(err, errlen,
		    "%s: unknown action \"%s\" — use destroy, restart or preserve",
		    field, s);
}

static const char *const chardev_names[] = {
	[CHARDEV_NONE] = "none",
	[CHARDEV_STDIO] = "stdio",
	[CHARDEV_PTY] = "pty",
	[CHARDEV_UNIX] = "unix",
	[CHARDEV_FILE] = "file",
};

static bool chardev_has_path(enum chardev_kind k)
{
	return k == CHARDEV_UNIX || k == CHARDEV_FILE;
}

static int chardev_kind_from_name(const char *s, size_t len,
				  enum chardev_kind *out)
{
	for (size_t i = 0; i < G_N_ELEMENTS(chardev_names); i++) {
		if (strlen(chardev_names[i]) == len &&
		    strncmp(s, chardev_names[i], len) == 0) {
			*out = (enum chardev_kind)i;
			return 0;
		}
	}
	return -1;
}

static bool has_control_chars(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/* ---- per-field checks, used while parsing and again by validate ---- */

static int check_name(const char *name, const char *field, char *err, size_t errlen)
{
	size_t len = strlen(name);

	if (len == 0)
		return fail(err, errlen, "%s: empty — give the domain a name such as \"web1\"", field);
	if (len > NAME_MAX_LEN)
		return fail(err, errlen, "%s: %zu characters long — use at most %d",
			    field, len, NAME_MAX_LEN);
	if (strchr(name, '/'))
		return fail(err, errlen, "%s: \"%s\" contains '/' — the name is used in file names; pick one without '/'",
			    field, name);
	if (has_control_chars(name))
		return fail(err, errlen, "%s: contains control characters — use printable characters only",
			    field);
	return 0;
}

static int check_memory(uint64_t mib, const char *field, char *err, size_t errlen)
{
	if (mib < VM_MIN_MEMORY_MIB || mib > VM_MAX_MEMORY_MIB)
		return fail(err, errlen, "%s: %" PRIu64 " MiB is out of range — give between %d and %llu MiB",
			    field, mib, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB);
	return 0;
}

static int check_vcpus(uint64_t n, const char *field, char *err, size_t errlen)
{
	if (n < 1 || n > VM_MAX_VCPUS)
		return fail(err, errlen, "%s: %" PRIu64 " is out of range — give between 1 and %d vCPUs",
			    field, n, VM_MAX_VCPUS);
	return 0;
}

static int check_timeout(uint64_t s, const char *field, char *err, size_t errlen)
{
	if (s > SHUTDOWN_TIMEOUT_MAX)
		return fail(err, errlen, "%s: %" PRIu64 " s is too long — give between 0 and %d seconds",
			    field, s, SHUTDOWN_TIMEOUT_MAX);
	return 0;
}

static int check_path(const char *path, const char *field, char *err, size_t errlen)
{
	if (!path || !*path)
		return fail(err, errlen, "%s: empty path — give a file name", field);
	return 0;
}

static int check_cmdline(const char *s, const char *field, char *err, size_t errlen)
{
	size_t len = strlen(s);

	if (len > CMDLINE_MAX_LEN)
		return fail(err, errlen, "%s: %zu bytes long — the kernel command line can be at most %d bytes",
			    field, len, CMDLINE_MAX_LEN);
	return 0;
}

static int check_disk_serial(const char *s, const char *field, char *err, size_t errlen)
{
	size_t len = strlen(s);

	if (len > DISK_SERIAL_MAX)
		return fail(err, errlen, "%s: \"%s\" is %zu bytes — a disk serial is at most %d bytes",
			    field, s, len, DISK_SERIAL_MAX);
	if (has_control_chars(s))
		return fail(err, errlen, "%s: contains control characters — use printable characters only", field);
	return 0;
}

static int check_tap_name(const char *s, const char *field, char *err, size_t errlen)
{
	size_t len = strlen(s);

	if (len == 0 || len > TAP_NAME_MAX)
		return fail(err, errlen, "%s: \"%s\" — an interface name is 1 to %d characters",
			    field, s, TAP_NAME_MAX);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '/' || c == ':' || c == ',' || isspace(c) || c < 0x20 || c == 0x7f)
			return fail(err, errlen, "%s: \"%s\" is not a valid interface name — use letters, digits, '-' or '_' (e.g. tap0)",
				    field, s);
	}
	return 0;
}

static int parse_mac(const char *s, const char *field, uint8_t mac[6],
		     char *err, size_t errlen)
{
	/* Exactly xx:xx:xx:xx:xx:xx; sscanf alone would accept "1:2:3:4:5:6x". */
	if (strlen(s) != 17)
		goto bad;
	for (int i = 0; i < 6; i++) {
		const char *p = s + i * 3;
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			goto bad;
		if (i < 5 && p[2] != ':')
			goto bad;
		mac[i] = (uint8_t)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
	}
	if (mac[0] & 1)
		return fail(err, errlen, "%s: %s is a multicast address — a NIC needs a unicast MAC such as 52:54:00:12:34:56",
			    field, s);
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return fail(err, errlen, "%s: 00:00:00:00:00:00 is not usable — give a MAC such as 52:54:00:12:34:56", field);
	return 0;
bad:
	return fail(err, errlen, "%s: \"%s\" is not a MAC address — write six hex bytes like 52:54:00:12:34:56",
		    field, s);
}

static int check_chardev(const struct chardev_config *c, const char *field,
			 char *err, size_t errlen)
{
	if ((unsigned)c->kind >= G_N_ELEMENTS(chardev_names))
		return fail(err, errlen, "%s: unknown type", field);
	if (chardev_has_path(c->kind)) {
		if (!c->path || !*c->path)
			return fail(err, errlen, "%s: type %s needs a path — e.g. %s:/run/atoll/vm.sock",
				    field, chardev_names[c->kind], chardev_names[c->kind]);
		if (c->kind == CHARDEV_UNIX && strlen(c->path) > UNIX_PATH_MAX_LEN)
			return fail(err, errlen, "%s: socket path is %zu bytes — unix socket paths are at most %d bytes; use a shorter one",
				    field, strlen(c->path), UNIX_PATH_MAX_LEN);
	}
	return 0;
}

/* "stdio", "pty", "none", "unix:PATH", "file:PATH": the --serial/--console
 * syntax, also accepted as a JSON string. */
static int parse_chardev_spec(const char *spec, const char *field,
			      struct chardev_config *out, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
	enum chardev_kind kind;

	if (chardev_kind_from_name(spec, klen, &kind) < 0)
		return fail(err, errlen, "%s: unknown type \"%.*s\" — use stdio, pty, unix:PATH, file:PATH or none",
			    field, (int)klen, spec);
	if (chardev_has_path(kind) && !colon)
		return fail(err, errlen, "%s: %s needs a path — write %s:PATH",
			    field, chardev_names[kind], chardev_names[kind]);
	if (!chardev_has_path(kind) && colon)
		return fail(err, errlen, "%s: %s takes no path — write just \"%s\"",
			    field, chardev_names[kind], chardev_names[kind]);
	struct chardev_config c = { .kind = kind, .path = colon ? (char *)colon + 1 : NULL };
	if (check_chardev(&c, field, err, errlen) < 0)
		return -1;
	g_free(out->path);
	out->kind = kind;
	out->path = g_strdup(c.path);
	return 0;
}

/* Parse a whole decimal number with no sign, spaces or suffix. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* ---- JSON ---- */

static const char *node_kind(JsonNode *n)
{
	switch (json_node_get_node_type(n)) {
	case JSON_NODE_OBJECT: return "an object";
	case JSON_NODE_ARRAY: return "an array";
	case JSON_NODE_NULL: return "null";
	case JSON_NODE_VALUE: break;
	}
	GType t = json_node_get_value_type(n);
	if (t == G_TYPE_STRING)
		return "a string";
	if (t == G_TYPE_BOOLEAN)
		return "a boolean";
	if (t == G_TYPE_DOUBLE)
		return "a fractional number";
	return "a number";
}

static bool is_value(JsonNode *n, GType t)
{
	return json_node_get_node_type(n) == JSON_NODE_VALUE &&
	       json_node_get_value_type(n) == t;
}

static int j_string(JsonNode *n, const char *field, const char **out,
		    char *err, size_t errlen)
{
	if (!is_value(n, G_TYPE_STRING))
		return fail(err, errlen, "%s: expected a string, got %s", field, node_kind(n));
	*out = json_node_get_string(n);
	return 0;
}

static int j_bool(JsonNode *n, const char *field, bool *out, char *err, size_t errlen)
{
	if (!is_value(n, G_TYPE_BOOLEAN))
		return fail(err, errlen, "%s: expected a boolean (true or false), got %s",
			    field, node_kind(n));
	*out = json_node_get_boolean(n);
	return 0;
}

static int j_uint(JsonNode *n, const char *field, uint64_t *out, char *err, size_t errlen)
{
	if (!is_value(n, G_TYPE_INT64))
		return fail(err, errlen, "%s: expected a whole number, got %s", field, node_kind(n));
	gint64 v = json_node_get_int(n);
	if (v < 0)
		return fail(err, errlen, "%s: %" G_GINT64_FORMAT " is negative — give a positive number",
			    field, v);
	*out = (uint64_t)v;
	return 0;
}

static int j_object(JsonNode *n, const char *field, JsonObject **out,
		    char *err, size_t errlen)
{
	if (json_node_get_node_type(n) != JSON_NODE_OBJECT)
		return fail(err, errlen, "%s: expected an object {...}, got %s", field, node_kind(n));
	*out = json_node_get_object(n);
	return 0;
}

typedef int (*member_fn)(void *target, JsonNode *n, const char *field,
			 char *err, size_t errlen);

struct member {
	const char *name;
	member_fn fn;
};

/* Walk every member of obj, dispatching by name; unknown names are errors
 * because a misspelt field silently ignored is a VM started wrong. */
static int walk_object(JsonObject *obj, const char *prefix,
		       const struct member *table, size_t n_table, void *target,
		       char *err, size_t errlen)
{
	GList *names = json_object_get_members(obj);
	int ret = 0;

	for (GList *l = names; l && ret == 0; l = l->next) {
		const char *name = l->data;
		char field[128];
		size_t i;

		snprintf(field, sizeof(field), "%s%s%s", prefix, *prefix ? "." : "", name);
		for (i = 0; i < n_table; i++)
			if (strcmp(table[i].name, name) == 0)
				break;
		if (i == n_table) {
			GString *known = g_string_new(NULL);
			for (size_t k = 0; k < n_table; k++)
				g_string_append_printf(known, "%s%s", k ? ", " : "", table[k].name);
			ret = fail(err, errlen, "%s: unknown field — check the spelling; known fields here: %s",
				   field, known->str);
			g_string_free(known, TRUE);
			break;
		}
		ret = table[i].fn(target, json_object_get_member(obj, name), field, err, errlen);
	}
	g_list_free(names);
	return ret;
}

#define CFG(t) struct vm_config *cfg = (t)

static int m_name(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0 || check_name(s, f, err, errlen) < 0)
		return -1;
	set_str(&cfg->name, s);
	return 0;
}

static int m_memory(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	uint64_t v = 0;
	if (j_uint(n, f, &v, err, errlen) < 0 || check_memory(v, f, err, errlen) < 0)
		return -1;
	cfg->memory_mib = v;
	return 0;
}

static int m_vcpus(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	uint64_t v = 0;
	if (j_uint(n, f, &v, err, errlen) < 0 || check_vcpus(v, f, err, errlen) < 0)
		return -1;
	cfg->vcpus = (unsigned)v;
	return 0;
}

static int m_path_field(char **dst, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0 || check_path(s, f, err, errlen) < 0)
		return -1;
	set_str(dst, s);
	return 0;
}

static int m_kernel(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_path_field(&((struct vm_config *)t)->kernel, n, f, err, errlen);
}

static int m_initrd(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_path_field(&((struct vm_config *)t)->initrd, n, f, err, errlen);
}

static int m_cmdline(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0 || check_cmdline(s, f, err, errlen) < 0)
		return -1;
	set_str(&cfg->cmdline, s);
	return 0;
}

static int d_path(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_path_field(&((struct disk_config *)t)->path, n, f, err, errlen);
}

static int d_readonly(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return j_bool(n, f, &((struct disk_config *)t)->readonly, err, errlen);
}

static int d_serial(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0 || check_disk_serial(s, f, err, errlen) < 0)
		return -1;
	set_str(&((struct disk_config *)t)->serial, s);
	return 0;
}

static const struct member disk_members[] = {
	{ "path", d_path }, { "readonly", d_readonly }, { "serial", d_serial },
};

static int n_tap(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0 || check_tap_name(s, f, err, errlen) < 0)
		return -1;
	set_str(&((struct nic_config *)t)->tap, s);
	return 0;
}

static int n_fd(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	uint64_t v = 0;
	if (j_uint(n, f, &v, err, errlen) < 0)
		return -1;
	if (v > INT32_MAX)
		return fail(err, errlen, "%s: %" PRIu64 " is not a file descriptor number", f, v);
	((struct nic_config *)t)->tap_fd = (int)v;
	return 0;
}

static int n_socket(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0 || check_path(s, f, err, errlen) < 0)
		return -1;
	set_str(&((struct nic_config *)t)->socket, s);
	return 0;
}

static int n_mac(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	struct nic_config *nic = t;
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0 || parse_mac(s, f, nic->mac, err, errlen) < 0)
		return -1;
	nic->has_mac = true;
	return 0;
}

static const struct member nic_members[] = {
	{ "tap", n_tap }, { "fd", n_fd }, { "socket", n_socket }, { "mac", n_mac },
};

static int check_disk(const struct disk_config *d, const char *field, char *err, size_t errlen)
{
	char f[160];
	snprintf(f, sizeof(f), "%s.path", field);
	if (!d->path)
		return fail(err, errlen, "%s: missing — every disk needs a path to its image file", f);
	if (check_path(d->path, f, err, errlen) < 0)
		return -1;
	snprintf(f, sizeof(f), "%s.serial", field);
	if (d->serial && check_disk_serial(d->serial, f, err, errlen) < 0)
		return -1;
	return 0;
}

static int check_nic(const struct nic_config *n, const char *field, char *err, size_t errlen)
{
	int backends = !!n->tap + (n->tap_fd >= 0) + !!n->socket;

	if (backends > 1)
		return fail(err, errlen, "%s: more than one of tap, fd and socket given — use one: tap=IFNAME opens the interface, fd=N uses a tap already open, socket=PATH connects to passt",
			    field);
	if (!backends)
		return fail(err, errlen, "%s: no backend — give tap (an interface name such as tap0), fd (an open tap file descriptor) or socket (a passt socket path)",
			    field);
	if (n->tap) {
		char f[160];
		snprintf(f, sizeof(f), "%s.tap", field);
		return check_tap_name(n->tap, f, err, errlen);
	}
	if (n->socket) {
		char f[160];
		snprintf(f, sizeof(f), "%s.socket", field);
		return check_path(n->socket, f, err, errlen);
	}
	return 0;
}

/* Parse an array of objects (disks or nics) into a fresh g_new0 array. */
static int j_list(JsonNode *n, const char *field, size_t max, const char *what,
		  size_t elem_size, const struct member *members, size_t n_members,
		  void (*init)(void *), int (*check)(const void *, const char *, char *, size_t),
		  void **out, size_t *n_out, char *err, size_t errlen)
{
	if (json_node_get_node_type(n) != JSON_NODE_ARRAY)
		return fail(err, errlen, "%s: expected an array [...], got %s", field, node_kind(n));
	JsonArray *arr = json_node_get_array(n);
	size_t len = json_array_get_length(arr);
	if (len > max)
		return fail(err, errlen, "%s: %zu %s given — at most %zu are supported",
			    field, len, what, max);

	uint8_t *items = g_malloc0(elem_size * (len ? len : 1));
	for (size_t i = 0; i < len; i++) {
		char f[128];
		JsonObject *obj = NULL;
		void *item = items + i * elem_size;

		init(item);
		*n_out = i + 1; /* so the caller can free what was built so far */
		*out = items;
		snprintf(f, sizeof(f), "%s[%zu]", field, i);
		if (j_object(json_array_get_element(arr, (guint)i), f, &obj, err, errlen) < 0 ||
		    walk_object(obj, f, members, n_members, item, err, errlen) < 0 ||
		    check(item, f, err, errlen) < 0)
			return -1;
	}
	*out = items;
	*n_out = len;
	return 0;
}

static void disk_init(void *p) { (void)p; }
static void nic_init(void *p) { ((struct nic_config *)p)->tap_fd = -1; }

static int disk_check(const void *p, const char *f, char *err, size_t errlen)
{
	return check_disk(p, f, err, errlen);
}

static int nic_check(const void *p, const char *f, char *err, size_t errlen)
{
	return check_nic(p, f, err, errlen);
}

static int m_disks(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	void *items = NULL;
	size_t count = 0;

	if (j_list(n, f, VM_MAX_DISKS, "disks", sizeof(struct disk_config),
		   disk_members, G_N_ELEMENTS(disk_members), disk_init, disk_check,
		   &items, &count, err, errlen) < 0) {
		disks_free(items, count);
		return -1;
	}
	disks_free(cfg->disks, cfg->n_disks);
	cfg->disks = items;
	cfg->n_disks = count;
	return 0;
}

static int check_pci(const struct pci_config *p, const char *field, char *err, size_t errlen)
{
	if (!p->host)
		return fail(err, errlen, "%s.host: missing — name the host device, e.g. "
			    "\"0000:01:00.0\" (see `atoll pci-assignable-list`)", field);
	if (!vfio_bdf_valid(p->host))
		return fail(err, errlen, "%s.host: \"%s\" is not a PCI address — write "
			    "DDDD:BB:DD.F, e.g. 0000:01:00.0", field, p->host);
	if (p->rom) {
		char f[160];
		snprintf(f, sizeof(f), "%s.rom", field);
		return check_path(p->rom, f, err, errlen);
	}
	return 0;
}

static int p_host(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s;
	if (j_string(n, f, &s, err, errlen) < 0)
		return -1;
	set_str(&((struct pci_config *)t)->host, s);
	return 0;
}

static int p_rom(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_path_field(&((struct pci_config *)t)->rom, n, f, err, errlen);
}

static const struct member pci_members[] = { { "host", p_host }, { "rom", p_rom } };

static void pci_init(void *p) { (void)p; }

static int pci_check(const void *p, const char *f, char *err, size_t errlen)
{
	return check_pci(p, f, err, errlen);
}

static int m_pci(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	void *items = NULL;
	size_t count = 0;

	if (j_list(n, f, VM_MAX_PCI, "PCI devices", sizeof(struct pci_config),
		   pci_members, G_N_ELEMENTS(pci_members), pci_init, pci_check,
		   &items, &count, err, errlen) < 0) {
		pcis_free(items, count);
		return -1;
	}
	pcis_free(cfg->pci, cfg->n_pci);
	cfg->pci = items;
	cfg->n_pci = count;
	return 0;
}

static int m_nics(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	void *items = NULL;
	size_t count = 0;

	if (j_list(n, f, VM_MAX_NICS, "NICs", sizeof(struct nic_config),
		   nic_members, G_N_ELEMENTS(nic_members), nic_init, nic_check,
		   &items, &count, err, errlen) < 0) {
		nics_free(items, count);
		return -1;
	}
	nics_free(cfg->nics, cfg->n_nics);
	cfg->nics = items;
	cfg->n_nics = count;
	return 0;
}

static int c_type(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0)
		return -1;
	if (chardev_kind_from_name(s, strlen(s), &((struct chardev_config *)t)->kind) < 0)
		return fail(err, errlen, "%s: unknown type \"%s\" — use stdio, pty, unix, file or none", f, s);
	return 0;
}

static int c_path(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_path_field(&((struct chardev_config *)t)->path, n, f, err, errlen);
}

static const struct member chardev_members[] = {
	{ "type", c_type }, { "path", c_path },
};

/* {"type":"unix","path":"/run/x.sock"} or the flag syntax "unix:/run/x.sock". */
static int j_chardev(struct chardev_config *dst, JsonNode *n, const char *f,
		     char *err, size_t errlen)
{
	if (is_value(n, G_TYPE_STRING))
		return parse_chardev_spec(json_node_get_string(n), f, dst, err, errlen);

	struct chardev_config c = { .kind = CHARDEV_NONE };
	JsonObject *obj = NULL;
	char tf[160];
	int ret = -1;

	if (j_object(n, f, &obj, err, errlen) < 0)
		return -1;
	snprintf(tf, sizeof(tf), "%s.type", f);
	if (!json_object_has_member(obj, "type")) {
		fail(err, errlen, "%s: missing — give stdio, pty, unix, file or none", tf);
		goto out;
	}
	if (walk_object(obj, f, chardev_members, G_N_ELEMENTS(chardev_members), &c, err, errlen) < 0)
		goto out;
	if (c.path && !chardev_has_path(c.kind)) {
		fail(err, errlen, "%s.path: type %s takes no path — remove \"path\"", f, chardev_names[c.kind]);
		goto out;
	}
	if (check_chardev(&c, f, err, errlen) < 0)
		goto out;
	g_free(dst->path);
	*dst = c;
	c.path = NULL;
	ret = 0;
out:
	g_free(c.path);
	return ret;
}

static int m_serial(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return j_chardev(&((struct vm_config *)t)->serial, n, f, err, errlen);
}

static int m_console(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return j_chardev(&((struct vm_config *)t)->console, n, f, err, errlen);
}

static int m_rng(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return j_bool(n, f, &((struct vm_config *)t)->rng, err, errlen);
}

static int m_xhci(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return j_bool(n, f, &((struct vm_config *)t)->xhci, err, errlen);
}

/* One "usb" entry: {"host": "46f4:0001"}; an object so that other kinds
 * of USB device can join later. */
static int u_host(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	struct usb_host_spec spec;
	char why[256];
	if (j_string(n, f, &s, err, errlen) < 0)
		return -1;
	if (usb_host_parse_spec(s, &spec, why, sizeof(why)) < 0)
		return fail(err, errlen, "%s: %s", f, why);
	set_str(t, s);
	return 0;
}

static const struct member usb_members[] = { { "host", u_host } };

static int m_usb(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	if (json_node_get_node_type(n) != JSON_NODE_ARRAY)
		return fail(err, errlen, "%s: expected an array [{\"host\": \"VID:PID\"}, ...], got %s",
			    f, node_kind(n));
	JsonArray *arr = json_node_get_array(n);
	size_t len = json_array_get_length(arr);
	if (len > VM_MAX_USB_HOSTS)
		return fail(err, errlen, "%s: %zu USB devices given — at most %d are supported",
			    f, len, VM_MAX_USB_HOSTS);
	char **hosts = g_new0(char *, len + 1);
	for (size_t i = 0; i < len; i++) {
		char fi[128];
		JsonObject *obj = NULL;
		snprintf(fi, sizeof(fi), "%s[%zu]", f, i);
		if (j_object(json_array_get_element(arr, (guint)i), fi, &obj, err, errlen) < 0 ||
		    walk_object(obj, fi, usb_members, G_N_ELEMENTS(usb_members), &hosts[i],
				err, errlen) < 0 ||
		    (!hosts[i] && fail(err, errlen, "%s.host: missing — say which host device, "
				       "e.g. \"46f4:0001\" or \"1-2\"", fi) < 0)) {
			g_strfreev(hosts);
			return -1;
		}
	}
	g_strfreev(cfg->usb_hosts);
	cfg->usb_hosts = hosts;
	cfg->n_usb_hosts = len;
	cfg->xhci |= len > 0;
	return 0;
}

static const char *const firmware_names[] = { "kernel", "uefi", "bios" };

const char *firmware_kind_name(enum firmware_kind f)
{
	return (unsigned)f < G_N_ELEMENTS(firmware_names) ? firmware_names[f] : "?";
}

static int parse_firmware(const char *s, const char *f, enum firmware_kind *dst,
			  char *err, size_t errlen)
{
	for (unsigned i = 0; i < G_N_ELEMENTS(firmware_names); i++) {
		if (strcmp(s, firmware_names[i]) == 0) {
			*dst = (enum firmware_kind)i;
			return 0;
		}
	}
	return fail(err, errlen, "%s: unknown firmware \"%s\" — give kernel (direct Linux "
		    "boot), uefi (OVMF) or bios", f, s);
}

/* A comma list of disk[N] and net[N]: the firmware tries them in order. */
static int check_boot_order(const char *s, const char *f, char *err, size_t errlen)
{
	gchar **v = g_strsplit(s, ",", -1);
	int ret = 0;
	for (gchar **w = v; *w && !ret; w++) {
		const char *d = NULL;
		if (g_str_has_prefix(*w, "disk"))
			d = *w + 4;
		else if (g_str_has_prefix(*w, "net"))
			d = *w + 3;
		if (!d || (*d && strspn(d, "0123456789") != strlen(d)) || strlen(d) > 2)
			ret = fail(err, errlen, "%s: \"%s\" is not a boot device — use disk, "
				   "diskN, net or netN, separated by commas", f, *w);
	}
	if (!v[0] && !ret)
		ret = fail(err, errlen, "%s: empty — e.g. disk0,net0", f);
	g_strfreev(v);
	return ret;
}

static int m_firmware(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0)
		return -1;
	return parse_firmware(s, f, &((struct vm_config *)t)->firmware, err, errlen);
}

static int m_firmware_code(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_path_field(&((struct vm_config *)t)->firmware_code, n, f, err, errlen);
}

static int m_firmware_vars(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_path_field(&((struct vm_config *)t)->firmware_vars, n, f, err, errlen);
}

static int m_boot_order(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0 || check_boot_order(s, f, err, errlen) < 0)
		return -1;
	set_str(&((struct vm_config *)t)->boot_order, s);
	return 0;
}

static int m_hyperv(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return j_bool(n, f, &((struct vm_config *)t)->hyperv, err, errlen);
}

static const char *const gpu_names[] = { "none", "virtio", "bochs" };

const char *gpu_kind_name(enum gpu_kind g)
{
	return (unsigned)g < G_N_ELEMENTS(gpu_names) ? gpu_names[g] : "?";
}

bool vm_config_input_enabled(const struct vm_config *cfg)
{
	return cfg->input == INPUT_ON ||
	       (cfg->input == INPUT_AUTO && cfg->gpu != GPU_NONE);
}

static int parse_gpu(const char *s, const char *f, enum gpu_kind *dst,
		     char *err, size_t errlen)
{
	for (unsigned i = 0; i < G_N_ELEMENTS(gpu_names); i++) {
		if (strcmp(s, gpu_names[i]) == 0) {
			*dst = (enum gpu_kind)i;
			return 0;
		}
	}
	return fail(err, errlen, "%s: unknown display device \"%s\" — give virtio, bochs or none",
		    f, s);
}

static int m_gpu(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0)
		return -1;
	return parse_gpu(s, f, &((struct vm_config *)t)->gpu, err, errlen);
}

static int m_input(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	bool on = false;
	if (j_bool(n, f, &on, err, errlen) < 0)
		return -1;
	((struct vm_config *)t)->input = on ? INPUT_ON : INPUT_OFF;
	return 0;
}

static int m_action(enum lifecycle_action *dst, JsonNode *n, const char *f,
		    char *err, size_t errlen)
{
	const char *s = NULL;
	if (j_string(n, f, &s, err, errlen) < 0)
		return -1;
	return parse_action(s, f, dst, err, errlen);
}

static int m_on_poweroff(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_action(&((struct vm_config *)t)->on_poweroff, n, f, err, errlen);
}

static int m_on_reboot(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_action(&((struct vm_config *)t)->on_reboot, n, f, err, errlen);
}

static int m_on_crash(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_action(&((struct vm_config *)t)->on_crash, n, f, err, errlen);
}

static int m_control(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	return m_path_field(&((struct vm_config *)t)->control, n, f, err, errlen);
}

static int m_timeout(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	CFG(t);
	uint64_t v = 0;
	if (j_uint(n, f, &v, err, errlen) < 0 || check_timeout(v, f, err, errlen) < 0)
		return -1;
	cfg->shutdown_timeout_s = (unsigned)v;
	return 0;
}

static int m_spice(void *t, JsonNode *n, const char *f, char *err, size_t errlen);

static const struct member top_members[] = {
	{ "name", m_name },
	{ "memory_mib", m_memory },
	{ "vcpus", m_vcpus },
	{ "kernel", m_kernel },
	{ "initrd", m_initrd },
	{ "cmdline", m_cmdline },
	{ "disks", m_disks },
	{ "nics", m_nics },
	{ "serial", m_serial },
	{ "console", m_console },
	{ "rng", m_rng },
	{ "on_poweroff", m_on_poweroff },
	{ "on_reboot", m_on_reboot },
	{ "on_crash", m_on_crash },
	{ "shutdown_timeout_s", m_timeout },
	{ "control", m_control },
	{ "gpu", m_gpu },
	{ "input", m_input },
	{ "spice", m_spice },
	{ "pci", m_pci },
	{ "xhci", m_xhci },
	{ "usb", m_usb },
	{ "firmware", m_firmware },
	{ "firmware_code", m_firmware_code },
	{ "firmware_vars", m_firmware_vars },
	{ "boot_order", m_boot_order },
	{ "hyperv", m_hyperv },
};

int vm_config_load_json(struct vm_config *cfg, const char *json, size_t len,
			char *err, size_t errlen)
{
	JsonParser *parser = json_parser_new();
	GError *gerr = NULL;
	int ret = -1;

	if (len > G_MAXSSIZE) {
		fail(err, errlen, "configuration too large");
		goto out;
	}
	if (!json_parser_load_from_data(parser, json, (gssize)len, &gerr)) {
		const char *msg = gerr ? gerr->message : "parse error";
		/* json-glib names in-memory input "<data>"; the caller adds
		 * the file name. */
		if (g_str_has_prefix(msg, "<data>:"))
			msg += strlen("<data>:");
		fail(err, errlen, "not valid JSON at line:column %s — fix the syntax there", msg);
		g_clear_error(&gerr);
		goto out;
	}
	JsonNode *root = json_parser_get_root(parser);
	if (!root || json_node_get_node_type(root) != JSON_NODE_OBJECT) {
		fail(err, errlen, "the configuration must be a JSON object {...}, got %s",
		     root ? node_kind(root) : "nothing");
		goto out;
	}
	ret = walk_object(json_node_get_object(root), "", top_members,
			  G_N_ELEMENTS(top_members), cfg, err, errlen);
out:
	g_object_unref(parser);
	return ret;
}

int vm_config_load_file(struct vm_config *cfg, const char *path,
			char *err, size_t errlen)
{
	gchar *data = NULL;
	gsize len = 0;
	GError *gerr = NULL;
	char inner[512];

	if (!g_file_get_contents(path, &data, &len, &gerr)) {
		fail(err, errlen, "%s: cannot read the configuration file: %s",
		     path, gerr ? gerr->message : "unknown error");
		g_clear_error(&gerr);
		return -1;
	}
	int ret = vm_config_load_json(cfg, data, len, inner, sizeof(inner));
	if (ret < 0)
		fail(err, errlen, "%s: %s", path, inner);
	g_free(data);
	return ret;
}

/* ---- command-line flags ---- */

enum {
	OPT_CONFIG = 256, OPT_NAME, OPT_MEMORY, OPT_VCPUS, OPT_KERNEL, OPT_INITRD,
	OPT_CMDLINE, OPT_DISK, OPT_NET, OPT_SERIAL, OPT_CONSOLE, OPT_RNG,
	OPT_ON_POWEROFF, OPT_ON_REBOOT, OPT_ON_CRASH, OPT_SHUTDOWN_TIMEOUT,
	OPT_CONTROL, OPT_NO_SANDBOX, OPT_GPU, OPT_INPUT, OPT_SPICE, OPT_PCI,
	OPT_XHCI, OPT_USB, OPT_FIRMWARE, OPT_FIRMWARE_CODE, OPT_FIRMWARE_VARS,
	OPT_BOOT_ORDER, OPT_HYPERV,
};

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "on-poweroff", required_argument, NULL, OPT_ON_POWEROFF },
	{ "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
	{ "on-crash", required_argument, NULL, OPT_ON_CRASH },
	{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
	{ "gpu", required_argument, NULL, OPT_GPU },
	{ "input", optional_argument, NULL, OPT_INPUT },
	{ "spice", required_argument, NULL, OPT_SPICE },
	{ "pci", required_argument, NULL, OPT_PCI },
	{ "xhci", no_argument, NULL, OPT_XHCI },
	{ "usb", required_argument, NULL, OPT_USB },
	{ "firmware", required_argument, NULL, OPT_FIRMWARE },
	{ "firmware-code", required_argument, NULL, OPT_FIRMWARE_CODE },
	{ "firmware-vars", required_argument, NULL, OPT_FIRMWARE_VARS },
	{ "boot-order", required_argument, NULL, OPT_BOOT_ORDER },
	{ "hyperv", required_argument, NULL, OPT_HYPERV },
	{ NULL, 0, NULL, 0 },
};

void vm_config_usage(FILE *out, const char *prog)
{
	fprintf(out,
"Usage: %s [--config FILE.json] [options]\n"
"Run one virtual machine (domain). Options given here override the file.\n"
"\n"
"  --config FILE.json     load the domain description (docs/vm-config.md)\n"
"  --name NAME            domain name, used in logs (default atoll)\n"
"  --memory MIB           guest RAM in MiB, %d..%llu (default 256)\n"
"  --vcpus N              virtual CPUs, 1..%d (default 1)\n"
"  --kernel PATH          x86-64 Linux bzImage to boot (required)\n"
"  --initrd PATH          initramfs to load with the kernel\n"
"  --cmdline STR          kernel command line, e.g. \"console=ttyS0\"\n"
"  --disk path=PATH[,readonly=on][,serial=STR]\n"
"                         virtio-blk disk; repeat for more (/dev/vda, vdb, ...)\n"
"  --net tap=IFNAME[,mac=52:54:00:xx:xx:xx]\n"
"  --net fd=N[,mac=...]   virtio-net NIC on a tap device; repeat for more\n"
"  --net socket=PATH[,mac=...]\n"
"                         virtio-net NIC on a passt (qemu stream) unix socket\n"
"  --serial stdio|pty|unix:PATH|file:PATH|none\n"
"                         COM1 16550A, the guest's ttyS0 (default stdio)\n"
"  --console stdio|pty|unix:PATH|file:PATH|none\n"
"                         virtio-console, the guest's hvc0 (default none)\n"
"  --rng                  add a virtio-rng device\n"
"  --gpu virtio|bochs|none\n"
"                         display device: virtio-gpu or bochs-display\n"
"                         (default none; docs/display.md)\n"
"  --input[=on|off]       virtio-input keyboard and tablet (default: on\n"
"                         when there is a display device)\n"
"  --spice unix:PATH|tcp:HOST:PORT,password=SECRET|fd:N|none\n"
"                         SPICE console on the display (default none;\n"
"                         docs/spice.md); tcp::PORT listens on 127.0.0.1;\n"
"                         ,agent=off drops the guest agent's port (clipboard)\n"
"  --xhci                 add an xHCI USB controller (docs/usb.md)\n"
"  --usb host=VID:PID|BUS-PORT\n"
"                         pass a host USB device through (e.g. host=46f4:0001\n"
"                         or host=1-2.3); repeat for more; implies --xhci\n"
"  --pci host=DDDD:BB:DD.F[,rom=FILE]\n"
"                         pass a host PCI device (bound to vfio-pci) through;\n"
"                         repeat for more (docs/vfio.md)\n"
"  --firmware kernel|uefi|bios\n"
"                         what runs first: the --kernel directly (default),\n"
"                         UEFI (OVMF) or a BIOS (SeaBIOS; docs/uefi.md)\n"
"  --firmware-code PATH   OVMF code image (default %s)\n"
"                         or BIOS image (default " "/usr/share/seabios/bios-256k.bin" ")\n"
"  --firmware-vars PATH   this domain's UEFI variable store, written back\n"
"                         (a copy of %s; without it\n"
"                         variable changes are lost at exit)\n"
"  --boot-order LIST      disk,diskN,net,netN in the order to try (firmware)\n"
"  --hyperv on|off        offer Hyper-V enlightenments (docs/windows.md)\n"
"  --on-poweroff ACTION   destroy|restart|preserve (default destroy)\n"
"  --on-reboot ACTION     destroy|restart|preserve (default restart)\n"
"  --on-crash ACTION      destroy|restart|preserve (default destroy)\n"
"  --shutdown-timeout S   on SIGTERM press the ACPI power button, force off\n"
"                         after S seconds (default 30)\n"
"  --control PATH         answer control requests on a unix socket at PATH\n"
"                         (docs/vmm-control.md)\n"
"  --no-sandbox           do not install the seccomp sandbox (debugging only)\n"
"  -h, --help             show this help\n"
"\n"
"  atoll-vmm --prepare-kernel PATH\n"
"                         decompress the kernel into the cache now\n"
"                         ($ATOLL_KERNEL_CACHE or /var/cache/atoll/kernels), so\n"
"                         domains boot its vmlinux directly from the first boot\n"
"\n"
"Disk and NIC flags replace the file's \"disks\"/\"nics\" lists; a path\n"
"containing ',' is written with ',,'.\n"
"\n"
"Exit status: 0 guest powered off; 1 VMM error (message on stderr);\n"
"2 guest rebooted with on_reboot=destroy; 3 guest crashed with\n"
"on_crash=destroy; 4 SIGTERM grace period ran out, guest forced off.\n",
		prog, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB, VM_MAX_VCPUS,
		OVMF_CODE_DEFAULT, OVMF_VARS_TEMPLATE);
}

/* Split "k=v,k2=v2" into a key/value list; ",," is a literal comma so that
 * paths with commas can be given. */
struct kv {
	char *key, *val;   /* val NULL for a bare key */
};

static int split_kv(const char *spec, GArray *out)
{
	GString *cur = g_string_new(NULL);
	const char *p = spec;

	for (;;) {
		if (*p == ',' && p[1] == ',') {
			g_string_append_c(cur, ',');
			p += 2;
			continue;
		}
		if (*p == ',' || *p == '\0') {
			char *item = g_string_free(cur, FALSE);
			char *eq = strchr(item, '=');
			struct kv kv = { .key = item, .val = NULL };
			if (eq) {
				*eq = '\0';
				kv.val = eq + 1;
			}
			g_array_append_val(out, kv);
			if (*p == '\0')
				return 0;
			cur = g_string_new(NULL);
			p++;
			continue;
		}
		g_string_append_c(cur, *p++);
	}
}

static void kv_free(GArray *a)
{
	for (guint i = 0; i < a->len; i++)
		g_free(g_array_index(a, struct kv, i).key);
	g_array_free(a, TRUE);
}

static int parse_onoff(const struct kv *kv, const char *flag, bool *out,
		       char *err, size_t errlen)
{
	if (!kv->val || !strcmp(kv->val, "on") || !strcmp(kv->val, "true") ||
	    !strcmp(kv->val, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(kv->val, "off") || !strcmp(kv->val, "false") || !strcmp(kv->val, "no")) {
		*out = false;
		return 0;
	}
	return fail(err, errlen, "%s: %s=%s — write %s=on or %s=off",
		    flag, kv->key, kv->val, kv->key, kv->key);
}

static int kv_need_value(const struct kv *kv, const char *flag, char *err, size_t errlen)
{
	if (!kv->val)
		return fail(err, errlen, "%s: \"%s\" needs a value — write %s=...",
			    flag, kv->key, kv->key);
	return 0;
}

/* ---- SPICE console (docs/spice.md) ---- */

/* libspice's limit on ticket length. */
#define SPICE_PASSWORD_MAX 60

static void spice_clear(struct spice_config *sc)
{
	g_free(sc->path);
	g_free(sc->host);
	g_free(sc->password);
	*sc = (struct spice_config){ .kind = SPICE_NONE, .fd = -1 };
}

static int check_spice(const struct spice_config *sc, const char *f, char *err, size_t errlen)
{
	if (sc->kind == SPICE_UNIX && check_path(sc->path, f, err, errlen) < 0)
		return -1;
	if (sc->kind == SPICE_TCP && (sc->port == 0 || sc->port > 65535))
		return fail(err, errlen, "%s: TCP port %u out of range — give 1..65535", f, sc->port);
	if (sc->kind == SPICE_TCP && (!sc->password || !*sc->password))
		return fail(err, errlen, "%s: a TCP console needs password=SECRET — or use "
			    "unix:PATH, which file permissions protect", f);
	if (sc->password && sc->kind != SPICE_TCP)
		return fail(err, errlen, "%s: password only applies to tcp: (unix sockets and "
			    "handed-over fds are protected otherwise) — remove it", f);
	if (sc->password && strlen(sc->password) > SPICE_PASSWORD_MAX)
		return fail(err, errlen, "%s: password longer than %d bytes — use a shorter one",
			    f, SPICE_PASSWORD_MAX);
	if (sc->kind == SPICE_FD && sc->fd < 0)
		return fail(err, errlen, "%s: fd must be a file descriptor number, 0 or more", f);
	return 0;
}

/* "HOST:PORT", "[IPV6]:PORT" or ":PORT" (loopback).  An empty host means
 * 127.0.0.1: listening beyond this machine has to be asked for. */
static int parse_tcp_addr(const char *a, const char *f, struct spice_config *out,
			  char *err, size_t errlen)
{
	const char *colon = strrchr(a, ':');
	uint64_t port = 0;

	if (!colon || parse_u64(colon + 1, &port) < 0 || port == 0 || port > 65535)
		return fail(err, errlen, "%s: \"tcp:%s\" — write tcp:HOST:PORT, e.g. "
			    "tcp:127.0.0.1:5900", f, a);
	size_t hlen = (size_t)(colon - a);
	if (hlen >= 2 && a[0] == '[' && a[hlen - 1] == ']')
		out->host = g_strndup(a + 1, hlen - 2);
	else
		out->host = g_strndup(a, hlen);
	if (!*out->host) {
		g_free(out->host);
		out->host = g_strdup("127.0.0.1");
	}
	out->port = (unsigned)port;
	return 0;
}

/* none | unix:PATH | tcp:HOST:PORT[,password=SECRET] | fd:N */
static int parse_spice_spec(const char *spec, const char *f, struct spice_config *dst,
			    char *err, size_t errlen)
{
	struct spice_config c = { .kind = SPICE_NONE, .fd = -1 };
	GArray *kvs = g_array_new(FALSE, FALSE, sizeof(struct kv));
	int ret = -1;

	split_kv(spec, kvs);
	const struct kv *first = &g_array_index(kvs, struct kv, 0);
	const char *a = first->key;
	uint64_t fd = 0;
	if (first->val) {
		fail(err, errlen, "%s: \"%s\" — start with none, unix:PATH, tcp:HOST:PORT or fd:N",
		     f, spec);
		goto out;
	} else if (!strcmp(a, "none")) {
		c.kind = SPICE_NONE;
	} else if (g_str_has_prefix(a, "unix:")) {
		c.kind = SPICE_UNIX;
		c.path = g_strdup(a + 5);
	} else if (g_str_has_prefix(a, "tcp:")) {
		c.kind = SPICE_TCP;
		if (parse_tcp_addr(a + 4, f, &c, err, errlen) < 0)
			goto out;
	} else if (g_str_has_prefix(a, "fd:")) {
		c.kind = SPICE_FD;
		if (parse_u64(a + 3, &fd) < 0 || fd > INT_MAX) {
			fail(err, errlen, "%s: \"%s\" — write fd:N with N a file descriptor number", f, a);
			goto out;
		}
		c.fd = (int)fd;
	} else {
		fail(err, errlen, "%s: \"%s\" — give none, unix:PATH, tcp:HOST:PORT[,password=SECRET] "
		     "or fd:N", f, a);
		goto out;
	}
	for (guint i = 1; i < kvs->len; i++) {
		const struct kv *kv = &g_array_index(kvs, struct kv, i);
		if (!strcmp(kv->key, "agent")) {
			bool on = true;
			if (parse_onoff(kv, f, &on, err, errlen) < 0)
				goto out;
			c.no_agent = !on;
			continue;
		}
		if (strcmp(kv->key, "password")) {
			fail(err, errlen, "%s: unknown option \"%s\" — known: password=SECRET, "
			     "agent=on|off", f, kv->key);
			goto out;
		}
		if (kv_need_value(kv, f, err, errlen) < 0)
			goto out;
		g_free(c.password);
		c.password = g_strdup(kv->val);
	}
	if (check_spice(&c, f, err, errlen) < 0)
		goto out;
	spice_clear(dst);
	*dst = c;
	c = (struct spice_config){ .fd = -1 };
	ret = 0;
out:
	spice_clear(&c);
	kv_free(kvs);
	return ret;
}

/* "spice": the flag's string, or {"type":"unix","path":...},
 * {"type":"tcp","host":...,"port":N,"password":...}, {"type":"fd","fd":N},
 * {"type":"none"}. */
static int m_spice(void *t, JsonNode *n, const char *f, char *err, size_t errlen)
{
	struct spice_config *dst = &((struct vm_config *)t)->spice;
	struct spice_config c = { .kind = SPICE_NONE, .fd = -1 };
	static const char *const types[] = { "none", "unix", "tcp", "fd" };
	JsonObject *obj = NULL;
	char mf[160];
	int ret = -1;

	if (is_value(n, G_TYPE_STRING))
		return parse_spice_spec(json_node_get_string(n), f, dst, err, errlen);
	if (j_object(n, f, &obj, err, errlen) < 0)
		return -1;
	g_autoptr(GList) names = json_object_get_members(obj);
	for (GList *l = names; l; l = l->next) {
		const char *name = l->data;
		JsonNode *v = json_object_get_member(obj, name);
		const char *str = NULL;
		uint64_t num = 0;
		snprintf(mf, sizeof(mf), "%s.%s", f, name);
		if (!strcmp(name, "type")) {
			if (j_string(v, mf, &str, err, errlen) < 0)
				goto out;
			unsigned k;
			for (k = 0; k < G_N_ELEMENTS(types) && strcmp(str, types[k]); k++)
				;
			if (k == G_N_ELEMENTS(types)) {
				fail(err, errlen, "%s: \"%s\" — give unix, tcp, fd or none", mf, str);
				goto out;
			}
			c.kind = (enum spice_kind)k;
		} else if (!strcmp(name, "path") || !strcmp(name, "host") ||
			   !strcmp(name, "password")) {
			if (j_string(v, mf, &str, err, errlen) < 0)
				goto out;
			char **slot = !strcmp(name, "path") ? &c.path :
				      !strcmp(name, "host") ? &c.host : &c.password;
			g_free(*slot);
			*slot = g_strdup(str);
		} else if (!strcmp(name, "agent")) {
			bool on = true;
			if (j_bool(v, mf, &on, err, errlen) < 0)
				goto out;
			c.no_agent = !on;
		} else if (!strcmp(name, "port") || !strcmp(name, "fd")) {
			if (j_uint(v, mf, &num, err, errlen) < 0)
				goto out;
			if (num > INT_MAX) {
				fail(err, errlen, "%s: %llu is too large", mf, (unsigned long long)num);
				goto out;
			}
			if (!strcmp(name, "port"))
				c.port = (unsigned)num;
			else
				c.fd = (int)num;
		} else {
			fail(err, errlen, "%s: unknown member — known: type, path, host, port, "
			     "password, fd, agent", mf);
			goto out;
		}
	}
	if (!json_object_has_member(obj, "type")) {
		fail(err, errlen, "%s.type: missing — give unix, tcp, fd or none", f);
		goto out;
	}
	if (c.kind == SPICE_TCP && (!c.host || !*c.host)) {
		g_free(c.host);
		c.host = g_strdup("127.0.0.1");
	}
	if (check_spice(&c, f, err, errlen) < 0)
		goto out;
	spice_clear(dst);
	*dst = c;
	c = (struct spice_config){ .fd = -1 };
	ret = 0;
out:
	spice_clear(&c);
	return ret;
}

static int parse_disk_flag(const char *spec, struct disk_config *d, char *err, size_t errlen)
{
	GArray *kvs = g_array_new(FALSE, FALSE, sizeof(struct kv));
	int ret = -1;

	split_kv(spec, kvs);
	for (guint i = 0; i < kvs->len; i++) {
		const struct kv *kv = &g_array_index(kvs, struct kv, i);
		if (!strcmp(kv->key, "path")) {
			if (kv_need_value(kv, "--disk", err, errlen) < 0)
				goto out;
			set_str(&d->path, kv->val);
		} else if (!strcmp(kv->key, "readonly")) {
			if (parse_onoff(kv, "--disk", &d->readonly, err, errlen) < 0)
				goto out;
		} else if (!strcmp(kv->key, "serial")) {
			if (kv_need_value(kv, "--disk", err, errlen) < 0 ||
			    check_disk_serial(kv->val, "--disk serial", err, errlen) < 0)
				goto out;
			set_str(&d->serial, kv->val);
		} else {
			fail(err, errlen, "--disk: unknown key \"%s\" — use path=PATH[,readonly=on][,serial=STR]",
			     kv->key);
			goto out;
		}
	}
	if (!d->path) {
		fail(err, errlen, "--disk %s: no path — write --disk path=IMAGE[,readonly=on]", spec);
		goto out;
	}
	ret = check_disk(d, "--disk", err, errlen);
out:
	kv_free(kvs);
	return ret;
}

static int parse_net_flag(const char *spec, struct nic_config *n, char *err, size_t errlen)
{
	GArray *kvs = g_array_new(FALSE, FALSE, sizeof(struct kv));
	int ret = -1;

	split_kv(spec, kvs);
	for (guint i = 0; i < kvs->len; i++) {
		const struct kv *kv = &g_array_index(kvs, struct kv, i);
		uint64_t fd = 0;
		if (!strcmp(kv->key, "tap")) {
			if (kv_need_value(kv, "--net", err, errlen) < 0 ||
			    check_tap_name(kv->val, "--net tap", err, errlen) < 0)
				goto out;
			set_str(&n->tap, kv->val);
		} else if (!strcmp(kv->key, "fd")) {
			if (kv_need_value(kv, "--net", err, errlen) < 0)
				goto out;
			if (parse_u64(kv->val, &fd) < 0 || fd > INT32_MAX) {
				fail(err, errlen, "--net: fd=%s is not a file descriptor number — write fd=N", kv->val);
				goto out;
			}
			n->tap_fd = (int)fd;
		} else if (!strcmp(kv->key, "socket")) {
			if (kv_need_value(kv, "--net", err, errlen) < 0 ||
			    check_path(kv->val, "--net socket", err, errlen) < 0)
				goto out;
			set_str(&n->socket, kv->val);
		} else if (!strcmp(kv->key, "mac")) {
			if (kv_need_value(kv, "--net", err, errlen) < 0 ||
			    parse_mac(kv->val, "--net mac", n->mac, err, errlen) < 0)
				goto out;
			n->has_mac = true;
		} else {
			fail(err, errlen, "--net: unknown key \"%s\" — use tap=IFNAME, fd=N or socket=PATH, optionally ,mac=52:54:00:xx:xx:xx",
			     kv->key);
			goto out;
		}
	}
	ret = check_nic(n, "--net", err, errlen);
out:
	kv_free(kvs);
	return ret;
}

static int flag_uint(const char *flag, const char *arg, uint64_t *out,
		     const char *example, char *err, size_t errlen)
{
	if (parse_u64(arg, out) < 0)
		return fail(err, errlen, "%s %s: not a whole number — e.g. %s %s",
			    flag, arg, flag, example);
	return 0;
}

/* Flags that accumulate into lists: the first use replaces the file's list. */
struct list_state {
	bool disks_from_flags, nics_from_flags, usb_from_flags, pci_from_flags;
};

static int add_disk(struct vm_config *cfg, struct list_state *ls, const char *arg,
		    char *err, size_t errlen)
{
	struct disk_config d = { 0 };

	if (parse_disk_flag(arg, &d, err, errlen) < 0) {
		g_free(d.path);
		g_free(d.serial);
		return -1;
	}
	if (!ls->disks_from_flags) {
		disks_free(cfg->disks, cfg->n_disks);
		cfg->disks = NULL;
		cfg->n_disks = 0;
		ls->disks_from_flags = true;
	}
	if (cfg->n_disks >= VM_MAX_DISKS) {
		g_free(d.path);
		g_free(d.serial);
		return fail(err, errlen, "--disk: more than %d disks — remove some", VM_MAX_DISKS);
	}
	cfg->disks = g_renew(struct disk_config, cfg->disks, cfg->n_disks + 1);
	cfg->disks[cfg->n_disks++] = d;
	return 0;
}

static int add_nic(struct vm_config *cfg, struct list_state *ls, const char *arg,
		   char *err, size_t errlen)
{
	struct nic_config n = { .tap_fd = -1 };

	if (parse_net_flag(arg, &n, err, errlen) < 0) {
		g_free(n.tap);
		g_free(n.socket);
		return -1;
	}
	if (!ls->nics_from_flags) {
		nics_free(cfg->nics, cfg->n_nics);
		cfg->nics = NULL;
		cfg->n_nics = 0;
		ls->nics_from_flags = true;
	}
	if (cfg->n_nics >= VM_MAX_NICS) {
		g_free(n.tap);
		g_free(n.socket);
		return fail(err, errlen, "--net: more than %d NICs — remove some", VM_MAX_NICS);
	}
	cfg->nics = g_renew(struct nic_config, cfg->nics, cfg->n_nics + 1);
	cfg->nics[cfg->n_nics++] = n;
	return 0;
}

static int add_usb(struct vm_config *cfg, struct list_state *ls, const char *arg,
		   char *err, size_t errlen)
{
	struct usb_host_spec spec;
	char why[256];
	if (strncmp(arg, "host=", 5))
		return fail(err, errlen, "--usb %s: expected host=VID:PID or host=BUS-PORT "
			    "(e.g. --usb host=46f4:0001)", arg);
	if (usb_host_parse_spec(arg + 5, &spec, why, sizeof(why)) < 0)
		return fail(err, errlen, "--usb: %s", why);
	if (!ls->usb_from_flags) {
		g_strfreev(cfg->usb_hosts);
		cfg->usb_hosts = NULL;
		cfg->n_usb_hosts = 0;
		ls->usb_from_flags = true;
	}
	if (cfg->n_usb_hosts >= VM_MAX_USB_HOSTS)
		return fail(err, errlen, "--usb: more than %d USB devices — remove some",
			    VM_MAX_USB_HOSTS);
	cfg->usb_hosts = g_renew(char *, cfg->usb_hosts, cfg->n_usb_hosts + 2);
	cfg->usb_hosts[cfg->n_usb_hosts++] = g_strdup(arg + 5);
	cfg->usb_hosts[cfg->n_usb_hosts] = NULL;
	cfg->xhci = true;
	return 0;
}

static int parse_pci_flag(const char *spec, struct pci_config *p, char *err, size_t errlen)
{
	GArray *kvs = g_array_new(FALSE, FALSE, sizeof(struct kv));
	int ret = -1;

	split_kv(spec, kvs);
	for (guint i = 0; i < kvs->len; i++) {
		const struct kv *kv = &g_array_index(kvs, struct kv, i);
		if (!strcmp(kv->key, "host") || !strcmp(kv->key, "rom")) {
			if (kv_need_value(kv, "--pci", err, errlen) < 0)
				goto out;
			set_str(!strcmp(kv->key, "host") ? &p->host : &p->rom, kv->val);
		} else {
			fail(err, errlen, "--pci: unknown key \"%s\" — use host=DDDD:BB:DD.F[,rom=FILE]",
			     kv->key);
			goto out;
		}
	}
	ret = check_pci(p, "--pci", err, errlen);
out:
	kv_free(kvs);
	return ret;
}

static int add_pci(struct vm_config *cfg, struct list_state *ls, const char *arg,
		   char *err, size_t errlen)
{
	struct pci_config p = { 0 };

	if (parse_pci_flag(arg, &p, err, errlen) < 0) {
		pcis_free(g_memdup2(&p, sizeof(p)), 1);
		return -1;
	}
	if (!ls->pci_from_flags) {
		pcis_free(cfg->pci, cfg->n_pci);
		cfg->pci = NULL;
		cfg->n_pci = 0;
		ls->pci_from_flags = true;
	}
	if (cfg->n_pci >= VM_MAX_PCI) {
		pcis_free(g_memdup2(&p, sizeof(p)), 1);
		return fail(err, errlen, "--pci: more than %d devices — remove some", VM_MAX_PCI);
	}
	cfg->pci = g_renew(struct pci_config, cfg->pci, cfg->n_pci + 1);
	cfg->pci[cfg->n_pci++] = p;
	return 0;
}

/* A flag whose value is a path: checked, then stored. */
static int flag_path(char **dst, const char *arg, const char *flag, char *err, size_t errlen)
{
	if (check_path(arg, flag, err, errlen) < 0)
		return -1;
	set_str(dst, arg);
	return 0;
}

static int apply_flag(struct vm_config *cfg, struct list_state *ls, int opt,
		      const char *arg, char *err, size_t errlen)
{
	uint64_t v = 0;

	switch (opt) {
	case OPT_NAME:
		if (check_name(arg, "--name", err, errlen) < 0)
			return -1;
		set_str(&cfg->name, arg);
		return 0;
	case OPT_MEMORY:
		if (flag_uint("--memory", arg, &v, "512", err, errlen) < 0 ||
		    check_memory(v, "--memory", err, errlen) < 0)
			return -1;
		cfg->memory_mib = v;
		return 0;
	case OPT_VCPUS:
		if (flag_uint("--vcpus", arg, &v, "2", err, errlen) < 0 ||
		    check_vcpus(v, "--vcpus", err, errlen) < 0)
			return -1;
		cfg->vcpus = (unsigned)v;
		return 0;
	case OPT_KERNEL:
		return flag_path(&cfg->kernel, arg, "--kernel", err, errlen);
	case OPT_INITRD:
		return flag_path(&cfg->initrd, arg, "--initrd", err, errlen);
	case OPT_CMDLINE:
		if (check_cmdline(arg, "--cmdline", err, errlen) < 0)
			return -1;
		set_str(&cfg->cmdline, arg);
		return 0;
	case OPT_DISK:
		return add_disk(cfg, ls, arg, err, errlen);
	case OPT_NET:
		return add_nic(cfg, ls, arg, err, errlen);
	case OPT_SERIAL:
		return parse_chardev_spec(arg, "--serial", &cfg->serial, err, errlen);
	case OPT_CONSOLE:
		return parse_chardev_spec(arg, "--console", &cfg->console, err, errlen);
	case OPT_RNG:
		cfg->rng = true;
		return 0;
	case OPT_PCI:
		return add_pci(cfg, ls, arg, err, errlen);
	case OPT_XHCI:
		cfg->xhci = true;
		return 0;
	case OPT_USB:
		return add_usb(cfg, ls, arg, err, errlen);
	case OPT_ON_POWEROFF:
		return parse_action(arg, "--on-poweroff", &cfg->on_poweroff, err, errlen);
	case OPT_ON_REBOOT:
		return parse_action(arg, "--on-reboot", &cfg->on_reboot, err, errlen);
	case OPT_ON_CRASH:
		return parse_action(arg, "--on-crash", &cfg->on_crash, err, errlen);
	case OPT_SHUTDOWN_TIMEOUT:
		if (flag_uint("--shutdown-timeout", arg, &v, "30", err, errlen) < 0 ||
		    check_timeout(v, "--shutdown-timeout", err, errlen) < 0)
			return -1;
		cfg->shutdown_timeout_s = (unsigned)v;
		return 0;
	case OPT_CONTROL:
		return flag_path(&cfg->control, arg, "--control", err, errlen);
	case OPT_NO_SANDBOX:
		cfg->no_sandbox = true;
		return 0;
	case OPT_GPU:
		return parse_gpu(arg, "--gpu", &cfg->gpu, err, errlen);
	case OPT_INPUT:
		if (!arg || strcmp(arg, "on") == 0)
			cfg->input = INPUT_ON;
		else if (strcmp(arg, "off") == 0)
			cfg->input = INPUT_OFF;
		else
			return fail(err, errlen, "--input=%s: give on or off", arg);
		return 0;
	case OPT_SPICE:
		return parse_spice_spec(arg, "--spice", &cfg->spice, err, errlen);
	case OPT_FIRMWARE:
		return parse_firmware(arg, "--firmware", &cfg->firmware, err, errlen);
	case OPT_FIRMWARE_CODE:
		return flag_path(&cfg->firmware_code, arg, "--firmware-code", err, errlen);
	case OPT_FIRMWARE_VARS:
		return flag_path(&cfg->firmware_vars, arg, "--firmware-vars", err, errlen);
	case OPT_BOOT_ORDER:
		if (check_boot_order(arg, "--boot-order", err, errlen) < 0)
			return -1;
		set_str(&cfg->boot_order, arg);
		return 0;
	case OPT_HYPERV:
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			return fail(err, errlen, "--hyperv %s: give on or off", arg);
		cfg->hyperv = strcmp(arg, "on") == 0;
		return 0;
	}
	return fail(err, errlen, "internal error: unhandled option %d", opt);
}

/* main() follows every error with a pointer to --help, so these don't. */
static int getopt_error(int opt, int argc, char **argv, char *err, size_t errlen)
{
	/* optind already points past the offending word. */
	const char *word = optind - 1 < argc && optind >= 1 ? argv[optind - 1] : "?";

	if (opt == ':')
		return fail(err, errlen, "%s needs a value", word);
	if (optopt && optopt < 256)
		return fail(err, errlen, "unknown option -%c", optopt);
	return fail(err, errlen, "unknown option %s (or an ambiguous abbreviation)", word);
}

/* Which argv word names the config file, found before the other flags are
 * applied so that flags override the file wherever --config appears. */
static int find_config_path(int argc, char **argv, const char **path,
			    char *err, size_t errlen)
{
	*path = NULL;
	optind = 0;
	opterr = 0;
	for (;;) {
		int opt = getopt_long(argc, argv, "+:h", long_opts, NULL);
		if (opt == -1)
			break;
		if (opt == '?' || opt == ':')
			return getopt_error(opt, argc, argv, err, errlen);
		if (opt == 'h')
			return 1;
		if (opt == OPT_CONFIG) {
			if (*path)
				return fail(err, errlen, "--config given twice (%s and %s) — give one file",
					    *path, optarg);
			*path = optarg;
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument \"%s\" — every setting is a --flag, e.g. --kernel PATH",
			    argv[optind]);
	return 0;
}

int vm_config_parse_args(struct vm_config *cfg, int argc, char **argv,
			 char *err, size_t errlen)
{
	struct list_state ls = { 0 };
	const char *config_path;
	int ret;

	ret = find_config_path(argc, argv, &config_path, err, errlen);
	if (ret == 1) {
		vm_config_usage(stdout, argc > 0 ? argv[0] : "atoll-vmm");
		return 1;
	}
	if (ret < 0)
		return -1;
	if (config_path && vm_config_load_file(cfg, config_path, err, errlen) < 0)
		return -1;

	optind = 0;
	opterr = 0;
	for (;;) {
		int opt = getopt_long(argc, argv, "+:h", long_opts, NULL);
		if (opt == -1)
			break;
		if (opt == OPT_CONFIG)
			continue;
		if (apply_flag(cfg, &ls, opt, optarg, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* ---- whole-config validation ---- */

static int validate_lists(const struct vm_config *cfg, char *err, size_t errlen)
{
	char f[64];

	if (cfg->n_disks > VM_MAX_DISKS)
		return fail(err, errlen, "disks: %zu disks given — at most %d are supported",
			    cfg->n_disks, VM_MAX_DISKS);
	if (cfg->n_nics > VM_MAX_NICS)
		return fail(err, errlen, "nics: %zu NICs given — at most %d are supported",
			    cfg->n_nics, VM_MAX_NICS);
	for (size_t i = 0; i < cfg->n_disks; i++) {
		snprintf(f, sizeof(f), "disks[%zu]", i);
		if (check_disk(&cfg->disks[i], f, err, errlen) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->disks[i].path, cfg->disks[j].path) == 0)
				return fail(err, errlen, "disks[%zu].path: %s is already disks[%zu] — attach each image once",
					    i, cfg->disks[i].path, j);
	}
	for (size_t i = 0; i < cfg->n_nics; i++) {
		const struct nic_config *n = &cfg->nics[i];
		snprintf(f, sizeof(f), "nics[%zu]", i);
		if (check_nic(n, f, err, errlen) < 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			const struct nic_config *o = &cfg->nics[j];
			if (n->tap && o->tap && !strcmp(n->tap, o->tap))
				return fail(err, errlen, "nics[%zu].tap: %s is already used by nics[%zu] — give each NIC its own tap",
					    i, n->tap, j);
			if (n->has_mac && o->has_mac && !memcmp(n->mac, o->mac, 6))
				return fail(err, errlen, "nics[%zu].mac: same MAC as nics[%zu] — give each NIC its own MAC",
					    i, j);
		}
	}
	for (size_t i = 0; i < cfg->n_pci; i++) {
		snprintf(f, sizeof(f), "pci[%zu]", i);
		if (check_pci(&cfg->pci[i], f, err, errlen) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (!g_ascii_strcasecmp(cfg->pci[i].host, cfg->pci[j].host))
				return fail(err, errlen, "pci[%zu].host: %s is already pci[%zu] — pass each device once",
					    i, cfg->pci[i].host, j);
	}
	return 0;
}

static int validate_actions(const struct vm_config *cfg, char *err, size_t errlen)
{
	const struct { enum lifecycle_action a; const char *f; } acts[] = {
		{ cfg->on_poweroff, "on_poweroff" },
		{ cfg->on_reboot, "on_reboot" },
		{ cfg->on_crash, "on_crash" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(acts); i++)
		if ((unsigned)acts[i].a >= G_N_ELEMENTS(action_names))
			return fail(err, errlen, "%s: unknown action — use destroy, restart or preserve",
				    acts[i].f);
	return 0;
}

int vm_config_validate(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (!cfg->name)
		return fail(err, errlen, "name: missing — give the domain a name with --name or \"name\"");
	if (check_name(cfg->name, "name", err, errlen) < 0 ||
	    check_memory(cfg->memory_mib, "memory_mib", err, errlen) < 0 ||
	    check_vcpus(cfg->vcpus, "vcpus", err, errlen) < 0 ||
	    check_timeout(cfg->shutdown_timeout_s, "shutdown_timeout_s", err, errlen) < 0)
		return -1;
	if (cfg->firmware == FIRMWARE_BIOS && (cfg->kernel || cfg->initrd || cfg->cmdline))
		return fail(err, errlen, "kernel, initrd and cmdline do not apply with firmware bios "
			    "(SeaBIOS boots a disk's boot loader) — drop them, or use "
			    "--firmware kernel or uefi to boot a kernel directly");
	if (cfg->firmware == FIRMWARE_BIOS && cfg->firmware_vars)
		return fail(err, errlen, "firmware_vars: a BIOS has no variable store — drop it "
			    "(firmware_code may name the BIOS image)");
	if (!cfg->kernel && cfg->firmware == FIRMWARE_KERNEL)
		return fail(err, errlen, "kernel: missing — give an x86-64 bzImage with --kernel PATH or \"kernel\" in the file, or boot firmware with --firmware uefi");
	if (cfg->kernel && check_path(cfg->kernel, "kernel", err, errlen) < 0)
		return -1;
	if (cfg->firmware == FIRMWARE_KERNEL &&
	    (cfg->firmware_code || cfg->firmware_vars || cfg->boot_order))
		return fail(err, errlen, "firmware_code, firmware_vars and boot_order only apply "
			    "with firmware uefi or bios (--firmware uefi|bios)");
	if (cfg->initrd && check_path(cfg->initrd, "initrd", err, errlen) < 0)
		return -1;
	if (cfg->cmdline && check_cmdline(cfg->cmdline, "cmdline", err, errlen) < 0)
		return -1;
	if (validate_lists(cfg, err, errlen) < 0)
		return -1;
	if (check_chardev(&cfg->serial, "serial", err, errlen) < 0 ||
	    check_chardev(&cfg->console, "console", err, errlen) < 0)
		return -1;
	if (cfg->serial.kind == CHARDEV_STDIO && cfg->console.kind == CHARDEV_STDIO)
		return fail(err, errlen, "serial and console both use stdio — move one to pty, unix:PATH, file:PATH or none");
	if (chardev_has_path(cfg->serial.kind) && chardev_has_path(cfg->console.kind) &&
	    !strcmp(cfg->serial.path, cfg->console.path))
		return fail(err, errlen, "serial and console both use %s — give each its own path",
			    cfg->serial.path);
	return validate_actions(cfg, err, errlen);
}

void vm_config_nic_mac(const struct vm_config *cfg, size_t index, uint8_t mac[6])
{
	if (index < cfg->n_nics && cfg->nics[index].has_mac) {
		memcpy(mac, cfg->nics[index].mac, 6);
		return;
	}
	/* FNV-1a over name and index: stable across restarts of the same
	 * domain, distinct between NICs, inside QEMU's locally administered
	 * 52:54:00 prefix that guests and tools already recognise. */
	uint32_t h = 2166136261u;
	const char *name = cfg->name ? cfg->name : "";
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ (uint8_t)index) * 16777619u;
	h = (h ^ (uint8_t)(index >> 8)) * 16777619u;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}
