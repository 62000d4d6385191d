/* Import of a libvirt domain: its XML becomes an Atoll domain definition
 * (docs/api.md), and every part that does not map is named in a list, so
 * the user knows exactly what the Atoll domain lacks. */
#include "internal.h"

#include <stdarg.h>
#include <string.h>

#define ATOLL_SERIAL_MAX 20   /* virtio-blk serial: 20 bytes */

typedef struct {
	LvXml x;
	JsonBuilder *b;
	GPtrArray *unmapped;
} Conv;

static void G_GNUC_PRINTF(2, 3) note(Conv *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(c->unmapped, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

static void set_str(Conv *c, const char *key, const char *value)
{
	json_builder_set_member_name(c->b, key);
	json_builder_add_string_value(c->b, value);
}

/* The rules of docs/api.md: 1-64 of [A-Za-z0-9._-], not starting with '.'. */
static bool atoll_name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len < 1 || len > 64 || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!g_ascii_isalnum(name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

/* ---- memory, vCPUs, OS ----------------------------------------------------- */

/* libvirt's memory units (formatdomain.html#memory-allocation). */
static bool unit_scale(const char *unit, guint64 *scale)
{
	static const struct { const char *name; guint64 scale; } units[] = {
		{ "b", 1 }, { "bytes", 1 },
		{ "KB", 1000ULL }, { "k", 1ULL << 10 }, { "KiB", 1ULL << 10 },
		{ "MB", 1000000ULL }, { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 },
		{ "GB", 1000000000ULL }, { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 },
		{ "TB", 1000000000000ULL }, { "T", 1ULL << 40 }, { "TiB", 1ULL << 40 },
	};

	if (!unit) {
		*scale = 1024;
		return true;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
		if (!strcmp(unit, units[i].name)) {
			*scale = units[i].scale;
			return true;
		}
	}
	return false;
}

/* The size of <elem unit=...>N</elem> in MiB, rounded up; 0 if absent. */
static bool mem_mib(Conv *c, const char *elem, guint64 *mib, GError **error)
{
	g_autofree char *vexpr = g_strdup_printf("/domain/%s", elem);
	g_autofree char *uexpr = g_strdup_printf("/domain/%s/@unit", elem);
	g_autofree char *val = lv_xml_str(&c->x, NULL, vexpr);
	g_autofree char *unit = lv_xml_str(&c->x, NULL, uexpr);
	guint64 n, scale;

	*mib = 0;
	if (!val)
		return true;
	if (!lv_parse_u64(val, &n) || !unit_scale(unit, &scale) ||
	    (scale && n > G_MAXUINT64 / scale)) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "%s: '%s %s' is not a size libvirt would write — check "
			    "the domain XML", elem, val, unit ? unit : "KiB");
		return false;
	}
	n *= scale;
	*mib = n / (1ULL << 20) + (n % (1ULL << 20) ? 1 : 0);
	return true;
}

static bool conv_memory(Conv *c, GError **error)
{
	guint64 mem, cur;

	if (!mem_mib(c, "memory", &mem, error) ||
	    !mem_mib(c, "currentMemory", &cur, error))
		return false;
	if (mem == 0) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "memory: the domain XML has no <memory> size — check "
			    "it with `virsh dumpxml`");
		return false;
	}
	if (cur && cur < mem)
		note(c, "currentMemory %" G_GUINT64_FORMAT " MiB: ballooning is not "
		     "mapped yet; memory_mib is the maximum, %" G_GUINT64_FORMAT
		     " MiB", cur, mem);
	json_builder_set_member_name(c->b, "memory_mib");
	json_builder_add_int_value(c->b, (gint64)mem);
	return true;
}

static void conv_vcpus(Conv *c)
{
	g_autofree char *max = lv_xml_str(&c->x, NULL, "/domain/vcpu");
	g_autofree char *cur = lv_xml_str(&c->x, NULL, "/domain/vcpu/@current");
	g_autofree char *cpuset = lv_xml_str(&c->x, NULL, "/domain/vcpu/@cpuset");
	guint64 n = 1, m;

	if (lv_parse_u64(max, &m) && m > 0)
		n = m;
	if (lv_parse_u64(cur, &m) && m > 0 && m < n) {
		note(c, "vcpu: %" G_GUINT64_FORMAT " of a maximum %" G_GUINT64_FORMAT
		     " online; CPU hotplug is not mapped, vcpus is %" G_GUINT64_FORMAT,
		     m, n, m);
		n = m;
	}
	if (cpuset)
		note(c, "vcpu cpuset=%s: CPU pinning is not mapped yet", cpuset);
	json_builder_set_member_name(c->b, "vcpus");
	json_builder_add_int_value(c->b, (gint64)n);
}

static bool arch_ok(const char *arch)
{
	return !arch || !strcmp(arch, "x86_64") || !strcmp(arch, "i686") ||
	       !strcmp(arch, "i386");
}

static bool conv_os(Conv *c, GError **error)
{
	LvXml *x = &c->x;
	g_autofree char *type = lv_xml_str(x, NULL, "/domain/os/type");
	g_autofree char *arch = lv_xml_str(x, NULL, "/domain/os/type/@arch");
	g_autofree char *fw = lv_xml_str(x, NULL, "/domain/os/@firmware");
	g_autofree char *loader = lv_xml_str(x, NULL, "/domain/os/loader");
	g_autofree char *kernel = lv_xml_str(x, NULL, "/domain/os/kernel");
	g_autofree char *initrd = lv_xml_str(x, NULL, "/domain/os/initrd");
	g_autofree char *cmdline = lv_xml_str(x, NULL, "/domain/os/cmdline");
	g_autofree char *dtb = lv_xml_str(x, NULL, "/domain/os/dtb");
	g_autofree char *boot = lv_xml_str(x, NULL, "/domain/os/boot[1]/@dev");

	if (type && strcmp(type, "hvm") && strcmp(type, "linux")) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNSUPPORTED,
			    "os type %s: the domain is not a virtual machine "
			    "(a container?) — only VMs can be imported", type);
		return false;
	}
	if (!arch_ok(arch)) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNSUPPORTED,
			    "os arch %s: Atoll runs x86 guests only — this domain "
			    "cannot be imported", arch);
		return false;
	}
	if (fw)
		note(c, "os firmware=%s: not supported yet (Atoll boots a Linux "
		     "kernel directly)", fw);
	if (loader)
		note(c, "os loader %s: firmware boot is not supported yet (Atoll "
		     "boots a Linux kernel directly)", loader);
	if (dtb)
		note(c, "os dtb %s: not mapped (x86 guests use ACPI)", dtb);
	if (kernel)
		set_str(c, "kernel", kernel);
	else
		note(c, "os: no <kernel>%s%s%s: Atoll boots a Linux kernel "
		     "directly — set \"kernel\" (and \"initrd\", \"cmdline\") "
		     "before starting the domain", boot ? " (boots from dev=" : "",
		     boot ? boot : "", boot ? ")" : "");
	if (initrd)
		set_str(c, "initrd", initrd);
	if (cmdline)
		set_str(c, "cmdline", cmdline);
	return true;
}

/* libvirt's lifecycle actions; Atoll has destroy, restart and preserve. */
static void conv_lifecycle(Conv *c, const char *elem)
{
	g_autofree char *expr = g_strdup_printf("/domain/%s", elem);
	g_autofree char *v = lv_xml_str(&c->x, NULL, expr);
	const char *to = NULL;

	if (!v)
		return;
	if (!strcmp(v, "destroy") || !strcmp(v, "restart") ||
	    !strcmp(v, "preserve"))
		to = v;
	else if (!strcmp(v, "rename-restart") || !strcmp(v, "coredump-restart"))
		to = "restart";
	else if (!strcmp(v, "coredump-destroy"))
		to = "destroy";
	if (to != v)
		note(c, "%s %s: not mapped%s%s", elem, v, to ? "; uses " : "",
		     to ? to : "");
	if (to)
		set_str(c, elem, to);
}

/* ---- disks --------------------------------------------------------------- */

static char *disk_label(LvXml *x, xmlNodePtr d, unsigned index)
{
	char *dev = lv_xml_str(x, d, "target/@dev");

	return dev ? dev : g_strdup_printf("#%u", index);
}

/* Why a disk cannot be an Atoll disk, or NULL when it can. */
static char *disk_unmappable(LvXml *x, xmlNodePtr d, const char *label)
{
	g_autofree char *type = lv_xml_str(x, d, "@type");
	g_autofree char *device = lv_xml_str(x, d, "@device");
	g_autofree char *fmt = lv_xml_str(x, d, "driver/@type");
	g_autofree char *file = lv_xml_str(x, d, "source/@file");
	g_autofree char *dev = lv_xml_str(x, d, "source/@dev");
	g_autofree char *pool = lv_xml_str(x, d, "source/@pool");
	g_autofree char *vol = lv_xml_str(x, d, "source/@volume");
	g_autofree char *proto = lv_xml_str(x, d, "source/@protocol");

	if (device && strcmp(device, "disk"))
		return g_strdup_printf("disk %s: %s%s%s%s not mapped yet", label,
				       device, file ? " (" : "", file ? file : "",
				       file ? ")" : "");
	if (type && !strcmp(type, "block"))
		return g_strdup_printf("disk %s: block device %s not mapped yet "
				       "(file images only)", label, dev ? dev : "");
	if (type && !strcmp(type, "volume"))
		return g_strdup_printf("disk %s: storage volume %s/%s not mapped "
				       "yet — use the volume's file (`virsh vol-path "
				       "--pool %s %s`)", label, pool ? pool : "?",
				       vol ? vol : "?", pool ? pool : "?",
				       vol ? vol : "?");
	if (type && strcmp(type, "file"))
		return g_strdup_printf("disk %s: type %s%s%s not mapped yet", label,
				       type, proto ? " protocol " : "",
				       proto ? proto : "");
	if (!file)
		return g_strdup_printf("disk %s: no source file (empty drive), "
				       "skipped", label);
	if (fmt && strcmp(fmt, "raw"))
		return g_strdup_printf("disk %s: format %s is not supported (raw "
				       "only) — convert it with `qemu-img convert "
				       "-O raw %s NEW.img` and add NEW.img", label,
				       fmt, file);
	return NULL;
}

static void conv_disk(Conv *c, xmlNodePtr d, unsigned index)
{
	LvXml *x = &c->x;
	g_autofree char *label = disk_label(x, d, index);
	g_autofree char *why = disk_unmappable(x, d, label);
	g_autofree char *file = NULL, *serial = NULL, *bus = NULL;
	g_autoptr(xmlXPathObject) ro = NULL;

	if (why) {
		g_ptr_array_add(c->unmapped, g_steal_pointer(&why));
		return;
	}
	file = lv_xml_str(x, d, "source/@file");
	serial = lv_xml_str(x, d, "serial");
	bus = lv_xml_str(x, d, "target/@bus");
	ro = lv_xml_nodes(x, d, "readonly");
	if (bus && strcmp(bus, "virtio"))
		note(c, "disk %s: bus %s becomes virtio-blk (the guest sees a "
		     "/dev/vdX disk)", label, bus);
	if (serial && strlen(serial) > ATOLL_SERIAL_MAX) {
		note(c, "disk %s: serial '%s' is longer than %d bytes; cut to %d",
		     label, serial, ATOLL_SERIAL_MAX, ATOLL_SERIAL_MAX);
		serial[ATOLL_SERIAL_MAX] = '\0';
	}
	json_builder_begin_object(c->b);
	set_str(c, "path", file);
	json_builder_set_member_name(c->b, "readonly");
	json_builder_add_boolean_value(c->b, ro && ro->nodesetval &&
				       ro->nodesetval->nodeNr > 0);
	if (serial)
		set_str(c, "serial", serial);
	json_builder_end_object(c->b);
}

/* ---- NICs ----------------------------------------------------------------- */

static bool mac_valid(const char *mac)
{
	if (!mac || strlen(mac) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
			return false;
	return true;
}

static bool has_node(LvXml *x, xmlNodePtr n, const char *expr)
{
	g_autoptr(xmlXPathObject) o = lv_xml_nodes(x, n, expr);

	return o && o->nodesetval && o->nodesetval->nodeNr > 0;
}

/* Notes for the parts of a mappable <interface> Atoll leaves out. */
static void nic_notes(Conv *c, xmlNodePtr n, const char *label)
{
	g_autofree char *model = lv_xml_str(&c->x, n, "model/@type");
	g_autofree char *filter = lv_xml_str(&c->x, n, "filterref/@filter");

	if (model && strcmp(model, "virtio"))
		note(c, "interface %s: model %s becomes virtio-net", label, model);
	if (filter)
		note(c, "interface %s: nwfilter %s is not mapped (no traffic "
		     "filtering)", label, filter);
	if (has_node(&c->x, n, "bandwidth"))
		note(c, "interface %s: bandwidth limits are not mapped", label);
	if (has_node(&c->x, n, "vlan"))
		note(c, "interface %s: VLAN tags are not mapped", label);
}

static void conv_nic(Conv *c, xmlNodePtr n, unsigned index)
{
	LvXml *x = &c->x;
	g_autofree char *type = lv_xml_str(x, n, "@type");
	g_autofree char *mac = lv_xml_str(x, n, "mac/@address");
	g_autofree char *net = lv_xml_str(x, n, "source/@network");
	g_autofree char *bridge = lv_xml_str(x, n, "source/@bridge");
	g_autofree char *dev = lv_xml_str(x, n, "source/@dev");
	g_autofree char *label = mac ? g_strdup(mac) : g_strdup_printf("#%u", index);
	bool network = type && !strcmp(type, "network") && net;
	bool user = type && !strcmp(type, "user");

	if (!network && !user) {
		if (type && !strcmp(type, "bridge"))
			note(c, "interface %s: type bridge (%s) not mapped yet — "
			     "define a libvirt network on that bridge (<forward "
			     "mode='bridge'/><bridge name='%s'/>) and use it", label,
			     bridge ? bridge : "?", bridge ? bridge : "?");
		else
			note(c, "interface %s: type %s%s%s not mapped yet", label,
			     type ? type : "?", dev ? " on " : "", dev ? dev : "");
		return;
	}
	if (mac && !mac_valid(mac)) {
		note(c, "interface %s: MAC address is invalid; a new one is "
		     "generated", label);
		g_clear_pointer(&mac, g_free);
	}
	if (user)
		note(c, "interface %s: type user maps to an Atoll \"user\" NIC, "
		     "which cannot start yet (passt backend missing, see "
		     "docs/libvirt.md)", label);
	nic_notes(c, n, label);
	json_builder_begin_object(c->b);
	set_str(c, "type", user ? "user" : "network");
	if (network)
		set_str(c, "network", net);
	if (mac) {
		for (char *p = mac; *p; p++)
			*p = g_ascii_tolower(*p);
		set_str(c, "mac", mac);
	}
	json_builder_end_object(c->b);
}

/* ---- other devices -------------------------------------------------------- */

static void note_hostdev(Conv *c, xmlNodePtr n)
{
	LvXml *x = &c->x;
	g_autofree char *type = lv_xml_str(x, n, "@type");

	if (!g_strcmp0(type, "pci")) {
		g_autofree char *d = lv_xml_str(x, n, "source/address/@domain");
		g_autofree char *b = lv_xml_str(x, n, "source/address/@bus");
		g_autofree char *s = lv_xml_str(x, n, "source/address/@slot");
		g_autofree char *f = lv_xml_str(x, n, "source/address/@function");
		guint64 v[4] = { 0 };

		lv_parse_u64(d, &v[0]);
		lv_parse_u64(b, &v[1]);
		lv_parse_u64(s, &v[2]);
		lv_parse_u64(f, &v[3]);
		note(c, "hostdev %04x:%02x:%02x.%x: PCI passthrough not mapped yet",
		     (unsigned)v[0], (unsigned)v[1], (unsigned)v[2], (unsigned)v[3]);
	} else if (!g_strcmp0(type, "usb")) {
		g_autofree char *vid = lv_xml_str(x, n, "source/vendor/@id");
		g_autofree char *pid = lv_xml_str(x, n, "source/product/@id");

		note(c, "hostdev usb %s:%s: USB passthrough not mapped yet",
		     vid ? vid : "?", pid ? pid : "?");
	} else {
		note(c, "hostdev %s: passthrough not mapped yet", type ? type : "?");
	}
}

/* "<elem> <attr value>: not mapped yet", e.g. "graphics spice". */
static void note_typed(Conv *c, xmlNodePtr n, const char *attr_expr)
{
	g_autofree char *v = attr_expr ? lv_xml_str(&c->x, n, attr_expr) : NULL;

	note(c, "%s%s%s: not mapped yet", (const char *)n->name, v ? " " : "",
	     v ? v : "");
}

/* Character devices: a pty serial port or console is what Atoll always
 * gives a domain (atolld keeps its console); anything else is not. */
static void conv_chardev(Conv *c, xmlNodePtr n)
{
	g_autofree char *type = lv_xml_str(&c->x, n, "@type");

	if (!g_strcmp0(type, "pty"))
		return;
	note(c, "%s type %s: not mapped (Atoll gives every domain one serial "
	     "console, kept by atolld)", (const char *)n->name, type ? type : "?");
}

static void conv_input(Conv *c, xmlNodePtr n)
{
	g_autofree char *type = lv_xml_str(&c->x, n, "@type");
	g_autofree char *bus = lv_xml_str(&c->x, n, "@bus");

	if (!g_strcmp0(bus, "ps2") && g_strcmp0(type, "tablet"))
		return;   /* the i8042 keyboard/mouse Atoll always has */
	note(c, "input %s (%s): not mapped yet", type ? type : "?",
	     bus ? bus : "?");
}

static void conv_device(Conv *c, xmlNodePtr n, unsigned *disk_i)
{
	const char *e = (const char *)n->name;

	if (!strcmp(e, "disk"))
		conv_disk(c, n, (*disk_i)++);
	else if (!strcmp(e, "serial") || !strcmp(e, "console"))
		conv_chardev(c, n);
	else if (!strcmp(e, "input"))
		conv_input(c, n);
	else if (!strcmp(e, "hostdev"))
		note_hostdev(c, n);
	else if (!strcmp(e, "graphics") || !strcmp(e, "redirdev") ||
		 !strcmp(e, "smartcard") || !strcmp(e, "parallel"))
		note_typed(c, n, "@type");
	else if (!strcmp(e, "channel"))
		note_typed(c, n, "target/@name");
	else if (!strcmp(e, "video"))
		note_typed(c, n, "model/@type");
	else if (!strcmp(e, "filesystem"))
		note_typed(c, n, "target/@dir");
	else if (!strcmp(e, "memballoon")) {
		g_autofree char *m = lv_xml_str(&c->x, n, "@model");

		if (g_strcmp0(m, "none"))
			note_typed(c, n, "@model");
	} else if (strcmp(e, "interface") && strcmp(e, "emulator") &&
		   strcmp(e, "controller"))
		note_typed(c, n, "@model");
}

/* Disks and NICs become arrays; the other devices only add notes. */
static void conv_devices(Conv *c)
{
	g_autoptr(xmlXPathObject) all = lv_xml_nodes(&c->x, NULL, "/domain/devices/*");
	g_autoptr(xmlXPathObject) nics = NULL;
	xmlNodeSetPtr set = all ? all->nodesetval : NULL;
	unsigned disk_i = 0;

	json_builder_set_member_name(c->b, "disks");
	json_builder_begin_array(c->b);
	for (int i = 0; set && i < set->nodeNr; i++)
		conv_device(c, set->nodeTab[i], &disk_i);
	json_builder_end_array(c->b);

	nics = lv_xml_nodes(&c->x, NULL, "/domain/devices/interface");
	set = nics ? nics->nodesetval : NULL;
	json_builder_set_member_name(c->b, "nics");
	json_builder_begin_array(c->b);
	for (int i = 0; set && i < set->nodeNr; i++)
		conv_nic(c, set->nodeTab[i], (unsigned)i);
	json_builder_end_array(c->b);
}

/* Top-level elements that are identity, host placement, or what Atoll
 * decides itself (CPU model, clock, features), or handled above. */
static const char *const quiet_top[] = {
	"name", "uuid", "genid", "title", "description", "metadata", "memory",
	"currentMemory", "vcpu", "os", "on_poweroff", "on_reboot", "on_crash",
	"devices", "features", "cpu", "clock", "pm", "resource", "seclabel",
	"iothreads", NULL,
};

static void conv_top_level(Conv *c)
{
	g_autoptr(xmlXPathObject) all = lv_xml_nodes(&c->x, NULL, "/domain/*");
	xmlNodeSetPtr set = all ? all->nodesetval : NULL;

	for (int i = 0; set && i < set->nodeNr; i++) {
		const char *e = (const char *)set->nodeTab[i]->name;

		if (!g_strv_contains(quiet_top, e))
			note(c, "%s: not mapped yet", e);
	}
}

/* ---- entry points ---------------------------------------------------------- */

static bool conv_name(Conv *c, const char *new_name, GError **error)
{
	g_autofree char *lvname = lv_xml_str(&c->x, NULL, "/domain/name");
	const char *name = new_name ? new_name : lvname;

	if (!atoll_name_valid(name)) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "name: '%s' is not a valid Atoll domain name (1-64 of "
			    "A-Z a-z 0-9 . _ -, not starting with '.') — give "
			    "another name", name ? name : "");
		return false;
	}
	set_str(c, "name", name);
	return true;
}

static bool conv_all(Conv *c, const char *new_name, GError **error)
{
	xmlNodePtr root = xmlDocGetRootElement(c->x.doc);

	if (!root || xmlStrcmp(root->name, (const xmlChar *)"domain")) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "the XML is not a libvirt <domain> — pass the output "
			    "of `virsh dumpxml`");
		return false;
	}
	json_builder_begin_object(c->b);
	if (!conv_name(c, new_name, error) || !conv_memory(c, error))
		return false;
	conv_vcpus(c);
	if (!conv_os(c, error))
		return false;
	conv_devices(c);
	conv_lifecycle(c, "on_poweroff");
	conv_lifecycle(c, "on_reboot");
	conv_lifecycle(c, "on_crash");
	conv_top_level(c);
	json_builder_end_object(c->b);
	return true;
}

JsonNode *atoll_libvirt_domain_xml_to_def(const char *xml, const char *new_name,
					  GPtrArray **unmapped, GError **error)
{
	Conv c = { 0 };
	JsonNode *def = NULL;

	if (!lv_xml_parse(&c.x, xml, "domain XML", error))
		return NULL;
	c.b = json_builder_new();
	c.unmapped = g_ptr_array_new_with_free_func(g_free);
	if (conv_all(&c, new_name, error)) {
		def = json_builder_get_root(c.b);
		if (unmapped)
			*unmapped = g_steal_pointer(&c.unmapped);
	}
	if (c.unmapped)
		g_ptr_array_unref(c.unmapped);
	g_object_unref(c.b);
	lv_xml_clear(&c.x);
	return def;
}

JsonNode *atoll_libvirt_import(AtollLibvirt *lv, const char *domain,
			       const char *new_name, GPtrArray **unmapped,
			       GError **error)
{
	virDomainPtr dom;
	g_autofree char *xml = NULL;

	if (!lv_ensure_alive(lv, error))
		return NULL;
	dom = virDomainLookupByName(lv->conn, domain);
	if (!dom && lv_retry_after_failure(lv))
		dom = virDomainLookupByName(lv->conn, domain);
	if (!dom) {
		if (lv_last_error_code() == VIR_ERR_NO_DOMAIN)
			g_set_error(error, ATOLL_LIBVIRT_ERROR,
				    ATOLL_LIBVIRT_ERROR_NOT_FOUND,
				    "libvirt domain '%s' does not exist on %s — list "
				    "them with `virsh -c %s list --all`", domain,
				    lv->uri, lv->uri);
		else
			g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
				    "cannot look up libvirt domain '%s': %s", domain,
				    lv_last_error());
		return NULL;
	}
	/* The persistent configuration, not the live one with its runtime
	 * additions (tap names, aliases). */
	xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	virDomainFree(dom);
	if (!xml) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot read the XML of libvirt domain '%s': %s", domain,
			    lv_last_error());
		return NULL;
	}
	return atoll_libvirt_domain_xml_to_def(xml, new_name, unmapped, error);
}
