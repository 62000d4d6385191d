/* Domain definitions <-> JSON.  Parsing is strict: an unknown field, a
 * wrong type (null included), a missing required field or a value out of
 * range is an ATOLLD_ERROR_BAD_REQUEST whose message starts with the JSON
 * path of the field, so that the API can report it in "field". */
#include "atolld.h"
#include "host_pci.h"
#include "host_usb.h"

#include <string.h>

#define MIN_MEMORY_MIB 16
#define MAX_MEMORY_MIB (1024ULL * 1024)   /* 1 TiB, as atoll-vmm */
#define MAX_VCPUS 64
#define MAX_DISKS 16
#define MAX_NICS 8
#define MAX_PATH_LEN 4095
#define MAX_CMDLINE 65535
#define MAX_SERIAL 20
#define MAX_SHUTDOWN_TIMEOUT 3600
#define MAX_PCI 8
#define MAX_USB 8

/* The error quark and state names live here, with no dependencies, so
 * that definition-only users (tests, tools) link without the daemon. */
G_DEFINE_QUARK(atolld-error-quark, atolld_error)

static const char *const state_names[] = {
	[DOMAIN_SHUTOFF] = "shutoff",
	[DOMAIN_STARTING] = "starting",
	[DOMAIN_RUNNING] = "running",
	[DOMAIN_PAUSED] = "paused",
	[DOMAIN_SHUTTING_DOWN] = "shutting-down",
	[DOMAIN_CRASHED] = "crashed",
	[DOMAIN_BROKEN] = "broken",
};

const char *domain_state_name(DomainState s)
{
	if ((unsigned)s >= G_N_ELEMENTS(state_names))
		return "unknown";
	return state_names[s];
}

static const char *const actions[] = { "destroy", "restart", "preserve", NULL };
static const char *const nic_types[] = { "network", "isolated", "user", NULL };
static const char *const graphics_types[] = { "none", "spice", NULL };
static const char *const gpu_models[] = { "virtio", "bochs", NULL };

static bool fail(GError **error, const char *path, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static bool fail(GError **error, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST, "%s: %s",
		    path, msg);
	return false;
}

static const char *node_kind(JsonNode *n)
{
	switch (JSON_NODE_TYPE(n)) {
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
	if (t == G_TYPE_INT64)
		return "an integer";
	return "a fractional number";
}

static bool is_value(JsonNode *n, GType t)
{
	return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == t;
}

bool domain_name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	if (len < 1 || len > 64 || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!g_ascii_isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/* Fields of one JSON object, checked against the known names first so that
 * a typo is reported as such rather than as a missing field. */
static bool check_known(JsonObject *obj, const char *prefix,
			const char *const *known, GError **error)
{
	g_autoptr(GList) members = json_object_get_members(obj);
	for (GList *l = members; l; l = l->next) {
		const char *key = l->data;
		if (g_strv_contains(known, key))
			continue;
		g_autofree char *path = *prefix ? g_strdup_printf("%s.%s", prefix, key)
						: g_strdup(key);
		g_autofree char *list = g_strjoinv(", ", (char **)known);
		return fail(error, path, "unknown field (known fields: %s)", list);
	}
	return true;
}

static char *field_path(const char *prefix, const char *key)
{
	return *prefix ? g_strdup_printf("%s.%s", prefix, key) : g_strdup(key);
}

/* Reads an optional (or required) string without control characters. */
static bool get_string(JsonObject *obj, const char *prefix, const char *key,
		       bool required, size_t max, char **out, GError **error)
{
	g_autofree char *path = field_path(prefix, key);
	JsonNode *n = json_object_get_member(obj, key);
	if (!n) {
		if (required)
			return fail(error, path, "required field is missing");
		return true;
	}
	if (!is_value(n, G_TYPE_STRING))
		return fail(error, path, "expected a string, got %s", node_kind(n));
	const char *s = json_node_get_string(n);
	size_t len = strlen(s);
	if (len > max)
		return fail(error, path, "too long (%zu bytes, at most %zu)", len, max);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(error, path, "contains a control character");
	g_free(*out);
	*out = g_strdup(s);
	return true;
}

static bool get_path(JsonObject *obj, const char *prefix, const char *key,
		     bool required, char **out, GError **error)
{
	if (!get_string(obj, prefix, key, required, MAX_PATH_LEN, out, error))
		return false;
	if (*out && (*out)[0] != '/') {
		g_autofree char *path = field_path(prefix, key);
		return fail(error, path, "\"%s\" is not an absolute path — give the "
			    "full path, starting with /", *out);
	}
	return true;
}

static bool get_uint(JsonObject *obj, const char *prefix, const char *key,
		     bool required, uint64_t min, uint64_t max, uint64_t *out,
		     GError **error)
{
	g_autofree char *path = field_path(prefix, key);
	JsonNode *n = json_object_get_member(obj, key);
	if (!n) {
		if (required)
			return fail(error, path, "required field is missing");
		return true;
	}
	if (!is_value(n, G_TYPE_INT64))
		return fail(error, path, "expected an integer, got %s", node_kind(n));
	gint64 v = json_node_get_int(n);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return fail(error, path, "%" G_GINT64_FORMAT " is out of range "
			    "(%" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT ")",
			    v, min, max);
	*out = (uint64_t)v;
	return true;
}

static bool get_bool(JsonObject *obj, const char *prefix, const char *key,
		     bool *out, GError **error)
{
	JsonNode *n = json_object_get_member(obj, key);
	if (!n)
		return true;
	if (!is_value(n, G_TYPE_BOOLEAN)) {
		g_autofree char *path = field_path(prefix, key);
		return fail(error, path, "expected a boolean (true or false), got %s",
			    node_kind(n));
	}
	*out = json_node_get_boolean(n);
	return true;
}

static bool get_enum(JsonObject *obj, const char *key, bool required,
		     const char *const *values, char **out, GError **error)
{
	if (!get_string(obj, "", key, required, 64, out, error))
		return false;
	if (*out && !g_strv_contains(values, *out)) {
		g_autofree char *list = g_strjoinv(", ", (char **)values);
		return fail(error, key, "\"%s\" is not one of: %s", *out, list);
	}
	return true;
}

static JsonArray *get_array(JsonObject *obj, const char *key, guint max,
			    GError **error)
{
	JsonNode *n = json_object_get_member(obj, key);
	if (!n)
		return NULL;
	if (!JSON_NODE_HOLDS_ARRAY(n)) {
		fail(error, key, "expected an array, got %s", node_kind(n));
		return NULL;
	}
	JsonArray *a = json_node_get_array(n);
	if (json_array_get_length(a) > max) {
		fail(error, key, "%u entries, at most %u are supported",
		     json_array_get_length(a), max);
		return NULL;
	}
	return a;
}

static void disk_free(gpointer p)
{
	DiskDef *disk = p;
	g_free(disk->path);
	g_free(disk->serial);
	g_free(disk);
}

static void nic_free(gpointer p)
{
	NicDef *nic = p;
	g_free(nic->network);
	g_free(nic);
}

static bool parse_disk(JsonNode *n, const char *prefix, DiskDef *disk,
		       GError **error)
{
	static const char *const known[] = { "path", "readonly", "serial", NULL };
	if (!JSON_NODE_HOLDS_OBJECT(n))
		return fail(error, prefix, "expected an object, got %s", node_kind(n));
	JsonObject *o = json_node_get_object(n);
	if (!check_known(o, prefix, known, error) ||
	    !get_path(o, prefix, "path", true, &disk->path, error) ||
	    !get_bool(o, prefix, "readonly", &disk->readonly, error) ||
	    !get_string(o, prefix, "serial", false, MAX_SERIAL, &disk->serial, error))
		return false;
	return true;
}

static bool parse_disks(JsonObject *obj, DomainDef *def, GError **error)
{
	g_autoptr(GError) err = NULL;
	JsonArray *a = get_array(obj, "disks", MAX_DISKS, &err);
	if (err) {
		g_propagate_error(error, g_steal_pointer(&err));
		return false;
	}
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		g_autofree char *prefix = g_strdup_printf("disks[%u]", i);
		DiskDef *disk = g_new0(DiskDef, 1);
		g_ptr_array_add(def->disks, disk);
		if (!parse_disk(json_array_get_element(a, i), prefix, disk, error))
			return false;
		for (guint j = 0; j < i; j++) {
			DiskDef *other = g_ptr_array_index(def->disks, j);
			if (strcmp(other->path, disk->path) == 0)
				return fail(error, prefix, "the image %s is already "
					    "disks[%u]", disk->path, j);
		}
	}
	return true;
}

/* "52:54:00:12:34:56": six hex bytes, unicast, not all zero.  Normalised
 * to lower case. */
static bool parse_mac(const char *s, char out[18])
{
	if (strlen(s) != 17)
		return false;
	unsigned bytes[6];
	bool zero = true;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]) ||
		    (i < 5 && p[2] != ':'))
			return false;
		bytes[i] = (unsigned)(g_ascii_xdigit_value(p[0]) * 16 +
				      g_ascii_xdigit_value(p[1]));
		zero = zero && bytes[i] == 0;
	}
	if (zero || (bytes[0] & 1))
		return false;
	g_snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1],
		   bytes[2], bytes[3], bytes[4], bytes[5]);
	return true;
}

/* A new NIC gets a random MAC in QEMU/KVM's 52:54:00 range; it is stored
 * with the definition, so it stays the same on every boot. */
static void random_mac(char out[18])
{
	guint32 r = g_random_int();
	g_snprintf(out, 18, "52:54:00:%02x:%02x:%02x", (r >> 16) & 0xff,
		   (r >> 8) & 0xff, r & 0xff);
}

static bool parse_nic(JsonNode *n, const char *prefix, NicDef *nic,
		      GError **error)
{
	static const char *const known[] = { "type", "network", "mac", NULL };
	if (!JSON_NODE_HOLDS_OBJECT(n))
		return fail(error, prefix, "expected an object, got %s", node_kind(n));
	JsonObject *o = json_node_get_object(n);
	g_autofree char *type = NULL, *mac = NULL;
	g_autofree char *type_path = field_path(prefix, "type");
	g_autofree char *net_path = field_path(prefix, "network");
	g_autofree char *mac_path = field_path(prefix, "mac");
	if (!check_known(o, prefix, known, error) ||
	    !get_string(o, prefix, "type", true, 64, &type, error) ||
	    !get_string(o, prefix, "network", false, 255, &nic->network, error) ||
	    !get_string(o, prefix, "mac", false, 64, &mac, error))
		return false;
	if (!g_strv_contains(nic_types, type))
		return fail(error, type_path, "\"%s\" is not one of: network, "
			    "isolated, user", type);
	nic->type = strcmp(type, "network") == 0 ? NIC_NETWORK :
		    strcmp(type, "isolated") == 0 ? NIC_ISOLATED : NIC_USER;
	if (nic->type == NIC_NETWORK && (!nic->network || !*nic->network))
		return fail(error, net_path, "required for a NIC of type network "
			    "(the libvirt network's name, e.g. \"default\")");
	if (nic->type != NIC_NETWORK && nic->network)
		return fail(error, net_path, "only allowed with type \"network\"");
	if (mac && !parse_mac(mac, nic->mac))
		return fail(error, mac_path, "\"%s\" is not a valid MAC address — "
			    "write six hex bytes like 52:54:00:12:34:56, unicast "
			    "(first byte even) and not all zero", mac);
	if (!mac)
		random_mac(nic->mac);
	return true;
}

static bool parse_nics(JsonObject *obj, DomainDef *def, GError **error)
{
	g_autoptr(GError) err = NULL;
	JsonArray *a = get_array(obj, "nics", MAX_NICS, &err);
	if (err) {
		g_propagate_error(error, g_steal_pointer(&err));
		return false;
	}
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		g_autofree char *prefix = g_strdup_printf("nics[%u]", i);
		NicDef *nic = g_new0(NicDef, 1);
		g_ptr_array_add(def->nics, nic);
		if (!parse_nic(json_array_get_element(a, i), prefix, nic, error))
			return false;
		for (guint j = 0; j < i; j++) {
			NicDef *other = g_ptr_array_index(def->nics, j);
			if (strcmp(other->mac, nic->mac) == 0) {
				g_autofree char *p = field_path(prefix, "mac");
				return fail(error, p, "%s is already used by nics[%u]",
					    nic->mac, j);
			}
		}
	}
	return true;
}

/* "#rrggbb", normalised to lower case. */
static bool parse_label(JsonObject *obj, DomainDef *def, GError **error)
{
	if (!get_string(obj, "", "label", false, 64, &def->label, error))
		return false;
	if (!def->label)
		return true;
	bool ok = strlen(def->label) == 7 && def->label[0] == '#';
	for (int i = 1; ok && i < 7; i++)
		ok = g_ascii_isxdigit(def->label[i]);
	if (!ok)
		return fail(error, "label", "\"%s\" is not a colour — write it as "
			    "#rrggbb, e.g. #3584e4", def->label);
	for (int i = 1; i < 7; i++)
		def->label[i] = g_ascii_tolower(def->label[i]);
	return true;
}

/* {"type": "none"|"spice", "gpu": "virtio"|"bochs"}; gpu only with spice
 * (a display nobody can see is a mistake), default virtio. */
static bool parse_graphics(JsonObject *obj, DomainDef *def, GError **error)
{
	static const char *const known[] = { "type", "gpu", NULL };
	JsonNode *n = json_object_get_member(obj, "graphics");
	if (!n)
		return true;
	if (!JSON_NODE_HOLDS_OBJECT(n))
		return fail(error, "graphics", "expected an object like {\"type\": "
			    "\"spice\"}, got %s", node_kind(n));
	JsonObject *o = json_node_get_object(n);
	g_autofree char *type = NULL, *gpu = NULL;
	if (!check_known(o, "graphics", known, error) ||
	    !get_string(o, "graphics", "type", true, 64, &type, error) ||
	    !get_string(o, "graphics", "gpu", false, 64, &gpu, error))
		return false;
	if (!g_strv_contains(graphics_types, type))
		return fail(error, "graphics.type", "\"%s\" is not one of: none, spice",
			    type);
	def->graphics.type = strcmp(type, "spice") == 0 ? GRAPHICS_SPICE : GRAPHICS_NONE;
	if (gpu && def->graphics.type != GRAPHICS_SPICE)
		return fail(error, "graphics.gpu", "only allowed with type \"spice\"");
	if (gpu && !g_strv_contains(gpu_models, gpu))
		return fail(error, "graphics.gpu", "\"%s\" is not one of: virtio, bochs",
			    gpu);
	def->graphics.gpu = g_strcmp0(gpu, "bochs") == 0 ? GPU_BOCHS : GPU_VIRTIO;
	return true;
}

static void pci_free(gpointer p)
{
	PciDef *pci = p;
	g_free(pci->rom);
	g_free(pci);
}

static void usb_free(gpointer p)
{
	UsbDef *usb = p;
	g_free(usb->host);
	g_free(usb);
}

/* {"host": "0000:01:00.0", "rom": "/path"}; whether the device exists is
 * the host's business (api.c, at define and at start), not the format's. */
static bool parse_pci_entry(JsonNode *n, const char *prefix, PciDef *pci,
			    GError **error)
{
	static const char *const known[] = { "host", "rom", NULL };
	g_autofree char *host = NULL;
	if (!JSON_NODE_HOLDS_OBJECT(n))
		return fail(error, prefix, "expected an object like {\"host\": "
			    "\"0000:01:00.0\"}, got %s", node_kind(n));
	JsonObject *o = json_node_get_object(n);
	if (!check_known(o, prefix, known, error) ||
	    !get_string(o, prefix, "host", true, 32, &host, error) ||
	    !get_path(o, prefix, "rom", false, &pci->rom, error))
		return false;
	if (!host_pci_parse_bdf(host, pci->host)) {
		g_autofree char *p = field_path(prefix, "host");
		return fail(error, p, "\"%s\" is not a PCI address — write it as "
			    "0000:01:00.0 (lspci -D, or atoll device-list --pci)", host);
	}
	return true;
}

static bool parse_pci(JsonObject *obj, DomainDef *def, GError **error)
{
	g_autoptr(GError) err = NULL;
	JsonArray *a = get_array(obj, "pci", MAX_PCI, &err);
	if (err) {
		g_propagate_error(error, g_steal_pointer(&err));
		return false;
	}
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		g_autofree char *prefix = g_strdup_printf("pci[%u]", i);
		PciDef *pci = g_new0(PciDef, 1);
		g_ptr_array_add(def->pci, pci);
		if (!parse_pci_entry(json_array_get_element(a, i), prefix, pci, error))
			return false;
		for (guint j = 0; j < i; j++) {
			PciDef *other = g_ptr_array_index(def->pci, j);
			if (strcmp(other->host, pci->host) == 0) {
				g_autofree char *p = field_path(prefix, "host");
				return fail(error, p, "%s is already pci[%u]", pci->host, j);
			}
		}
	}
	return true;
}

/* {"host": "VID:PID" | "BUS-PORT"}, as atoll-vmm's --usb host= takes it. */
static bool parse_usb(JsonObject *obj, DomainDef *def, GError **error)
{
	static const char *const known[] = { "host", NULL };
	g_autoptr(GError) err = NULL;
	JsonArray *a = get_array(obj, "usb", MAX_USB, &err);
	if (err) {
		g_propagate_error(error, g_steal_pointer(&err));
		return false;
	}
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		g_autofree char *prefix = g_strdup_printf("usb[%u]", i);
		g_autofree char *p = field_path(prefix, "host");
		g_autofree char *host = NULL;
		JsonNode *n = json_array_get_element(a, i);
		UsbSpec spec;
		if (!JSON_NODE_HOLDS_OBJECT(n))
			return fail(error, prefix, "expected an object like {\"host\": "
				    "\"046d:c52b\"}, got %s", node_kind(n));
		JsonObject *o = json_node_get_object(n);
		if (!check_known(o, prefix, known, error) ||
		    !get_string(o, prefix, "host", true, 32, &host, error))
			return false;
		if (!host_usb_parse_spec(host, &spec))
			return fail(error, p, "\"%s\" is not a USB device — write "
				    "vendor:product (\"046d:c52b\") or bus-port "
				    "(\"1-4.2\"), as atoll usb-list shows them", host);
		UsbDef *usb = g_new0(UsbDef, 1);
		usb->host = host_usb_spec_string(&spec);
		g_ptr_array_add(def->usb, usb);
		for (guint j = 0; j < i; j++) {
			UsbDef *other = g_ptr_array_index(def->usb, j);
			if (strcmp(other->host, usb->host) == 0)
				return fail(error, p, "%s is already usb[%u]", usb->host, j);
		}
	}
	return true;
}

/* "firmware": "kernel" (the default: no firmware, the VMM loads the
 * kernel), "uefi" or "bios"; "boot_order": "disk0,net0" for either. */
static bool parse_firmware(JsonObject *obj, DomainDef *def, GError **error)
{
	static const char *const kinds[] = { "kernel", "uefi", "bios", NULL };
	g_autofree char *fw = NULL;
	if (!get_enum(obj, "firmware", false, kinds, &fw, error) ||
	    !get_string(obj, "", "boot_order", false, 256, &def->boot_order, error))
		return false;
	if (fw && strcmp(fw, "kernel"))
		def->firmware = g_steal_pointer(&fw);
	if (def->boot_order && !def->firmware)
		return fail(error, "boot_order", "only applies with \"firmware\": \"uefi\" "
			    "or \"bios\"");
	gchar **v = def->boot_order ? g_strsplit(def->boot_order, ",", -1) : NULL;
	for (gchar **w = v; w && *w; w++) {
		const char *d = g_str_has_prefix(*w, "disk") ? *w + 4 :
				g_str_has_prefix(*w, "net") ? *w + 3 : NULL;
		if (!d || strlen(d) > 2 || strspn(d, "0123456789") != strlen(d)) {
			fail(error, "boot_order", "\"%s\" is not a boot device — use disk, diskN, "
			     "net or netN separated by commas", *w);
			g_strfreev(v);
			return false;
		}
	}
	g_strfreev(v);
	return true;
}

static bool parse_core(JsonObject *obj, DomainDef *def, GError **error)
{
	uint64_t vcpus = 0, timeout = def->shutdown_timeout_s;
	if (!get_string(obj, "", "name", true, 255, &def->name, error))
		return false;
	if (!domain_name_valid(def->name))
		return fail(error, "name", "\"%s\" is not a valid domain name — use "
			    "1 to 64 characters from A-Z a-z 0-9 . _ -, not starting "
			    "with a dot", def->name);
	if (!get_uint(obj, "", "memory_mib", true, MIN_MEMORY_MIB, MAX_MEMORY_MIB,
		      &def->memory_mib, error) ||
	    !get_uint(obj, "", "vcpus", true, 1, MAX_VCPUS, &vcpus, error) ||
	    !parse_firmware(obj, def, error) ||
	    !get_path(obj, "", "kernel", !def->firmware, &def->kernel, error) ||
	    !get_path(obj, "", "initrd", false, &def->initrd, error) ||
	    !get_string(obj, "", "cmdline", false, MAX_CMDLINE, &def->cmdline, error) ||
	    !get_uint(obj, "", "shutdown_timeout_s", false, 0, MAX_SHUTDOWN_TIMEOUT,
		      &timeout, error) ||
	    !get_bool(obj, "", "autostart", &def->autostart, error))
		return false;
	if (def->firmware && !strcmp(def->firmware, "bios") &&
	    (def->kernel || def->initrd || def->cmdline))
		return fail(error, def->kernel ? "kernel" : def->initrd ? "initrd" : "cmdline",
			    "does not apply with \"firmware\": \"bios\" (SeaBIOS boots the "
			    "disk's boot loader) — drop it or use \"uefi\"");
	def->vcpus = (unsigned)vcpus;
	def->shutdown_timeout_s = (unsigned)timeout;
	return true;
}

static bool parse_actions(JsonObject *obj, DomainDef *def, GError **error)
{
	g_autofree char *poweroff = NULL, *reboot = NULL, *crash = NULL;
	if (!get_enum(obj, "on_poweroff", false, actions, &poweroff, error) ||
	    !get_enum(obj, "on_reboot", false, actions, &reboot, error) ||
	    !get_enum(obj, "on_crash", false, actions, &crash, error))
		return false;
	if (poweroff) {
		g_free(def->on_poweroff);
		def->on_poweroff = g_steal_pointer(&poweroff);
	}
	if (reboot) {
		g_free(def->on_reboot);
		def->on_reboot = g_steal_pointer(&reboot);
	}
	if (crash) {
		g_free(def->on_crash);
		def->on_crash = g_steal_pointer(&crash);
	}
	return true;
}

static DomainDef *domain_def_new(void)
{
	DomainDef *def = g_new0(DomainDef, 1);
	def->disks = g_ptr_array_new_with_free_func(disk_free);
	def->nics = g_ptr_array_new_with_free_func(nic_free);
	def->pci = g_ptr_array_new_with_free_func(pci_free);
	def->usb = g_ptr_array_new_with_free_func(usb_free);
	def->on_poweroff = g_strdup("destroy");
	def->on_reboot = g_strdup("restart");
	def->on_crash = g_strdup("destroy");
	def->shutdown_timeout_s = 60;
	return def;
}

DomainDef *domain_def_from_json(JsonNode *node, GError **error)
{
	static const char *const known[] = {
		"name", "memory_mib", "vcpus", "kernel", "initrd", "cmdline",
		"disks", "nics", "on_poweroff", "on_reboot", "on_crash",
		"shutdown_timeout_s", "autostart", "label", "graphics", "pci", "usb",
		"usb_controller", "firmware", "boot_order", NULL,
	};
	if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
			    "a domain definition must be a JSON object, got %s",
			    node ? node_kind(node) : "nothing");
		return NULL;
	}
	JsonObject *obj = json_node_get_object(node);
	g_autoptr(DomainDef) def = domain_def_new();
	if (!check_known(obj, "", known, error) || !parse_core(obj, def, error) ||
	    !parse_disks(obj, def, error) || !parse_nics(obj, def, error) ||
	    !parse_actions(obj, def, error) || !parse_label(obj, def, error) ||
	    !parse_graphics(obj, def, error) || !parse_pci(obj, def, error) ||
	    !parse_usb(obj, def, error) ||
	    !get_bool(obj, "", "usb_controller", &def->usb_controller, error))
		return NULL;
	return g_steal_pointer(&def);
}

static void add_disks(JsonBuilder *b, const DomainDef *def)
{
	json_builder_set_member_name(b, "disks");
	json_builder_begin_array(b);
	for (guint i = 0; i < def->disks->len; i++) {
		const DiskDef *disk = g_ptr_array_index(def->disks, i);
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "path");
		json_builder_add_string_value(b, disk->path);
		json_builder_set_member_name(b, "readonly");
		json_builder_add_boolean_value(b, disk->readonly);
		if (disk->serial) {
			json_builder_set_member_name(b, "serial");
			json_builder_add_string_value(b, disk->serial);
		}
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

static void add_nics(JsonBuilder *b, const DomainDef *def)
{
	json_builder_set_member_name(b, "nics");
	json_builder_begin_array(b);
	for (guint i = 0; i < def->nics->len; i++) {
		const NicDef *nic = g_ptr_array_index(def->nics, i);
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "type");
		json_builder_add_string_value(b, nic_types[nic->type]);
		if (nic->network) {
			json_builder_set_member_name(b, "network");
			json_builder_add_string_value(b, nic->network);
		}
		json_builder_set_member_name(b, "mac");
		json_builder_add_string_value(b, nic->mac);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

static void add_graphics(JsonBuilder *b, const DomainDef *def)
{
	json_builder_set_member_name(b, "graphics");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "type");
	json_builder_add_string_value(b, graphics_types[def->graphics.type]);
	if (def->graphics.type == GRAPHICS_SPICE) {
		json_builder_set_member_name(b, "gpu");
		json_builder_add_string_value(b, gpu_models[def->graphics.gpu]);
	}
	json_builder_end_object(b);
}

/* Written only when not empty, so definitions without passthrough read
 * as before. */
static void add_passthrough(JsonBuilder *b, const DomainDef *def)
{
	if (def->pci && def->pci->len) {
		json_builder_set_member_name(b, "pci");
		json_builder_begin_array(b);
		for (guint i = 0; i < def->pci->len; i++) {
			const PciDef *pci = g_ptr_array_index(def->pci, i);
			json_builder_begin_object(b);
			json_builder_set_member_name(b, "host");
			json_builder_add_string_value(b, pci->host);
			if (pci->rom) {
				json_builder_set_member_name(b, "rom");
				json_builder_add_string_value(b, pci->rom);
			}
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
	}
	if (def->usb && def->usb->len) {
		json_builder_set_member_name(b, "usb");
		json_builder_begin_array(b);
		for (guint i = 0; i < def->usb->len; i++) {
			const UsbDef *usb = g_ptr_array_index(def->usb, i);
			json_builder_begin_object(b);
			json_builder_set_member_name(b, "host");
			json_builder_add_string_value(b, usb->host);
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
	}
	if (def->usb_controller) {
		json_builder_set_member_name(b, "usb_controller");
		json_builder_add_boolean_value(b, TRUE);
	}
}

static void add_string(JsonBuilder *b, const char *key, const char *value)
{
	if (!value)
		return;
	json_builder_set_member_name(b, key);
	json_builder_add_string_value(b, value);
}

static void add_int(JsonBuilder *b, const char *key, gint64 value)
{
	json_builder_set_member_name(b, key);
	json_builder_add_int_value(b, value);
}

JsonNode *domain_def_to_json(const DomainDef *def)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	add_string(b, "name", def->name);
	add_int(b, "memory_mib", (gint64)def->memory_mib);
	add_int(b, "vcpus", def->vcpus);
	add_string(b, "kernel", def->kernel);
	add_string(b, "initrd", def->initrd);
	add_string(b, "cmdline", def->cmdline);
	add_string(b, "firmware", def->firmware);
	add_string(b, "boot_order", def->boot_order);
	add_disks(b, def);
	add_nics(b, def);
	add_string(b, "on_poweroff", def->on_poweroff);
	add_string(b, "on_reboot", def->on_reboot);
	add_string(b, "on_crash", def->on_crash);
	add_int(b, "shutdown_timeout_s", def->shutdown_timeout_s);
	json_builder_set_member_name(b, "autostart");
	json_builder_add_boolean_value(b, def->autostart);
	add_string(b, "label", def->label);
	add_graphics(b, def);
	add_passthrough(b, def);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

void domain_def_free(DomainDef *def)
{
	if (!def)
		return;
	g_free(def->name);
	g_free(def->kernel);
	g_free(def->initrd);
	g_free(def->cmdline);
	g_free(def->firmware);
	g_free(def->boot_order);
	if (def->disks)
		g_ptr_array_unref(def->disks);
	if (def->nics)
		g_ptr_array_unref(def->nics);
	if (def->pci)
		g_ptr_array_unref(def->pci);
	if (def->usb)
		g_ptr_array_unref(def->usb);
	g_free(def->on_poweroff);
	g_free(def->on_reboot);
	g_free(def->on_crash);
	g_free(def->label);
	g_free(def);
}
