/* PCI functions, IOMMU groups and vfio-pci binding through sysfs
 * (host_pci.h).  The kernel's sysfs is the authority on which driver has a
 * device, so nothing here is cached: every call reads it again. */
#include "host_pci.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(host-pci-error-quark, host_pci_error)

#define STATE_FILE "pci-assignable.json"
#define VFIO_DRIVER "vfio-pci"

struct HostPci {
	char *sysfs;
	char *state_dir;
	HostPciWriteFn write;
	void *write_data;
};

static bool sysfs_write(const char *path, const char *value, void *data,
			GError **error)
{
	(void)data;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(value);
	ssize_t n = -1;
	int e = 0;

	if (fd >= 0) {
		n = write(fd, value, len);
		e = errno;
		close(fd);
	} else {
		e = errno;
	}
	if (n == (ssize_t)len)
		return true;
	g_autofree char *shown = g_strchomp(g_strdup(value));
	g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
		    "writing \"%s\" to %s failed: %s%s", shown, path, n >= 0 ? "short write" : g_strerror(e),
		    e == EACCES || e == EPERM ? " (this needs root)" : "");
	return false;
}

HostPci *host_pci_new(const char *sysfs_root, const char *state_dir)
{
	HostPci *hp = g_new0(HostPci, 1);
	hp->sysfs = g_strdup(sysfs_root ? sysfs_root : "/sys");
	hp->state_dir = g_strdup(state_dir);
	hp->write = sysfs_write;
	return hp;
}

void host_pci_free(HostPci *hp)
{
	if (!hp)
		return;
	g_free(hp->sysfs);
	g_free(hp->state_dir);
	g_free(hp);
}

void host_pci_set_writer(HostPci *hp, HostPciWriteFn fn, void *data)
{
	hp->write = fn ? fn : sysfs_write;
	hp->write_data = data;
}

const char *host_pci_sysfs_root(const HostPci *hp)
{
	return hp->sysfs;
}

void host_pci_dev_free(HostPciDev *dev)
{
	if (!dev)
		return;
	g_free(dev->driver);
	g_free(dev->driver_override);
	g_free(dev->reset_method);
	g_free(dev);
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- addresses ---- */

static bool parse_hex(const char *s, size_t len, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (len == 0 || len > 4)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!g_ascii_isxdigit(s[i]))
			return false;
		v = v * 16 + (unsigned)g_ascii_xdigit_value(s[i]);
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

bool host_pci_parse_bdf(const char *s, char out[HOST_PCI_BDF_LEN])
{
	unsigned dom = 0, bus, slot, fn;
	const char *c1, *c2, *dot;

	if (!s || strlen(s) > 16)
		return false;
	c1 = strchr(s, ':');
	dot = strrchr(s, '.');
	if (!c1 || !dot || dot < c1)
		return false;
	c2 = strchr(c1 + 1, ':');
	if (c2 && c2 < dot) {
		if (!parse_hex(s, (size_t)(c1 - s), 0xffff, &dom))
			return false;
		s = c1 + 1;
		c1 = c2;
	}
	if (strchr(c1 + 1, ':') ||
	    !parse_hex(s, (size_t)(c1 - s), 0xff, &bus) ||
	    !parse_hex(c1 + 1, (size_t)(dot - c1 - 1), 0x1f, &slot) ||
	    !parse_hex(dot + 1, strlen(dot + 1), 7, &fn))
		return false;
	g_snprintf(out, HOST_PCI_BDF_LEN, "%04x:%02x:%02x.%x", dom, bus, slot, fn);
	return true;
}

/* ---- reading sysfs ---- */

static char *dev_path(const HostPci *hp, const char *bdf, const char *file)
{
	return g_build_filename(hp->sysfs, "bus/pci/devices", bdf, file, NULL);
}

static char *read_attr(const HostPci *hp, const char *bdf, const char *file)
{
	g_autofree char *p = dev_path(hp, bdf, file);
	char *text = NULL;

	if (!g_file_get_contents(p, &text, NULL, NULL))
		return NULL;
	return g_strstrip(text);
}

static bool read_hex(const HostPci *hp, const char *bdf, const char *file,
		     guint64 *out)
{
	g_autofree char *s = read_attr(hp, bdf, file);
	char *end = NULL;

	if (!s || !*s)
		return false;
	*out = g_ascii_strtoull(s, &end, 16);
	return end && *end == '\0';
}

static char *link_base(const char *path)
{
	g_autofree char *target = g_file_read_link(path, NULL);

	return target ? g_path_get_basename(target) : NULL;
}

static char *current_driver(const HostPci *hp, const char *bdf)
{
	g_autofree char *p = dev_path(hp, bdf, "driver");

	return link_base(p);
}

static int group_of(const HostPci *hp, const char *bdf)
{
	g_autofree char *p = dev_path(hp, bdf, "iommu_group");
	g_autofree char *num = link_base(p);
	guint64 n;

	if (!num || !g_ascii_string_to_unsigned(num, 10, 0, G_MAXINT, &n, NULL))
		return -1;
	return (int)n;
}

/* Header type from config space (byte 0x0e, readable without root);
 * the class code answers when config cannot be read. */
static bool is_bridge(const HostPci *hp, const char *bdf, uint32_t class_code)
{
	g_autofree char *p = dev_path(hp, bdf, "config");
	g_autofree char *cfg = NULL;
	gsize len = 0;

	if (g_file_get_contents(p, &cfg, &len, NULL) && len > 0x0e)
		return ((guint8)cfg[0x0e] & 0x7f) != 0;
	return (class_code >> 8) == 0x0604 || (class_code >> 8) == 0x0607;
}

static bool dev_exists(const HostPci *hp, const char *bdf)
{
	g_autofree char *p = dev_path(hp, bdf, "vendor");

	return g_file_test(p, G_FILE_TEST_EXISTS);
}

static HostPciDev *read_dev(const HostPci *hp, const char *bdf)
{
	HostPciDev *dev;
	g_autofree char *boot_vga = NULL, *override = NULL;
	g_autofree char *reset = NULL, *rom = NULL;
	guint64 v = 0;

	if (!dev_exists(hp, bdf))
		return NULL;
	dev = g_new0(HostPciDev, 1);
	g_strlcpy(dev->bdf, bdf, sizeof(dev->bdf));
	if (read_hex(hp, bdf, "vendor", &v))
		dev->vendor = (uint16_t)v;
	if (read_hex(hp, bdf, "device", &v))
		dev->device = (uint16_t)v;
	if (read_hex(hp, bdf, "class", &v))
		dev->class_code = (uint32_t)v;
	dev->driver = current_driver(hp, bdf);
	override = read_attr(hp, bdf, "driver_override");
	if (override && *override && strcmp(override, "(null)"))
		dev->driver_override = g_steal_pointer(&override);
	dev->iommu_group = group_of(hp, bdf);
	dev->bridge = is_bridge(hp, bdf, dev->class_code);
	boot_vga = read_attr(hp, bdf, "boot_vga");
	dev->boot_vga = boot_vga && !strcmp(boot_vga, "1");
	dev->reset_method = read_attr(hp, bdf, "reset_method");
	reset = dev_path(hp, bdf, "reset");
	dev->has_reset = g_file_test(reset, G_FILE_TEST_EXISTS) ||
			 (dev->reset_method && *dev->reset_method);
	rom = dev_path(hp, bdf, "rom");
	dev->has_rom = g_file_test(rom, G_FILE_TEST_EXISTS);
	return dev;
}

HostPciDev *host_pci_get(HostPci *hp, const char *bdf, GError **error)
{
	char norm[HOST_PCI_BDF_LEN];
	HostPciDev *dev;

	if (!host_pci_parse_bdf(bdf, norm)) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_INVALID,
			    "\"%s\" is not a PCI address — write it as "
			    "0000:01:00.0 or 01:00.0 (see lspci -D)", bdf ? bdf : "");
		return NULL;
	}
	dev = read_dev(hp, norm);
	if (!dev)
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_NOT_FOUND,
			    "there is no PCI device %s on this host (lspci -D "
			    "lists them)", norm);
	return dev;
}

static GPtrArray *list_bdfs(const HostPci *hp)
{
	g_autofree char *dir = g_build_filename(hp->sysfs, "bus/pci/devices", NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	const char *e;
	char norm[HOST_PCI_BDF_LEN];

	while (d && (e = g_dir_read_name(d)))
		if (host_pci_parse_bdf(e, norm) && !strcmp(norm, e))
			g_ptr_array_add(out, g_strdup(e));
	g_ptr_array_sort(out, cmp_str);
	return out;
}

GPtrArray *host_pci_list(HostPci *hp, GError **error)
{
	g_autofree char *dir = g_build_filename(hp->sysfs, "bus/pci/devices", NULL);
	g_autoptr(GPtrArray) bdfs = NULL;
	GPtrArray *out;

	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
			    "%s does not exist: is sysfs mounted?", dir);
		return NULL;
	}
	bdfs = list_bdfs(hp);
	out = g_ptr_array_new_with_free_func((GDestroyNotify)host_pci_dev_free);
	for (guint i = 0; i < bdfs->len; i++) {
		HostPciDev *dev = read_dev(hp, bdfs->pdata[i]);
		if (dev)
			g_ptr_array_add(out, dev);
	}
	return out;
}

GPtrArray *host_pci_group(HostPci *hp, const char *bdf, GError **error)
{
	g_autoptr(HostPciDev) dev = host_pci_get(hp, bdf, error);
	g_autofree char *num = NULL, *dir = NULL;
	g_autoptr(GDir) d = NULL;
	GPtrArray *out;
	const char *e;
	bool self = false;

	if (!dev)
		return NULL;
	out = g_ptr_array_new_with_free_func(g_free);
	if (dev->iommu_group >= 0) {
		num = g_strdup_printf("%d", dev->iommu_group);
		dir = g_build_filename(hp->sysfs, "kernel/iommu_groups", num,
				       "devices", NULL);
		d = g_dir_open(dir, 0, NULL);
		while (d && (e = g_dir_read_name(d))) {
			char norm[HOST_PCI_BDF_LEN];
			if (!host_pci_parse_bdf(e, norm) || strcmp(norm, e))
				continue;   /* not a PCI function */
			self = self || !strcmp(e, dev->bdf);
			g_ptr_array_add(out, g_strdup(e));
		}
	}
	if (!self)
		g_ptr_array_add(out, g_strdup(dev->bdf));
	g_ptr_array_sort(out, cmp_str);
	return out;
}

GPtrArray *host_pci_siblings(HostPci *hp, const char *bdf)
{
	char norm[HOST_PCI_BDF_LEN];
	g_autoptr(GPtrArray) all = list_bdfs(hp);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

	if (!host_pci_parse_bdf(bdf, norm))
		return out;
	for (guint i = 0; i < all->len; i++) {
		const char *o = all->pdata[i];
		/* "0000:01:00." is the slot; the last digit the function */
		if (!strncmp(o, norm, HOST_PCI_BDF_LEN - 2) && strcmp(o, norm))
			g_ptr_array_add(out, g_strdup(o));
	}
	return out;
}

static bool dir_has_entries(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);

	return d && g_dir_read_name(d) != NULL;
}

bool host_pci_iommu_enabled(HostPci *hp)
{
	g_autofree char *cls = g_build_filename(hp->sysfs, "class/iommu", NULL);
	g_autofree char *groups = g_build_filename(hp->sysfs, "kernel/iommu_groups",
						   NULL);

	return dir_has_entries(cls) || dir_has_entries(groups);
}

bool host_pci_driver_assignable(const char *driver)
{
	return !driver || !strcmp(driver, VFIO_DRIVER) || !strcmp(driver, "pci-stub");
}

/* ---- preflight ---- */

static void result_free(gpointer p)
{
	PreflightResult *r = p;
	g_free(r->message);
	g_free(r);
}

static void add_result(GPtrArray *out, const char *check, PreflightLevel level,
		       const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void add_result(GPtrArray *out, const char *check, PreflightLevel level,
		       const char *fmt, ...)
{
	PreflightResult *r = g_new0(PreflightResult, 1);
	va_list ap;

	va_start(ap, fmt);
	r->check = check;
	r->level = level;
	r->message = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(out, r);
}

static void check_iommu(HostPci *hp, const HostPciDev *dev, GPtrArray *out)
{
	if (!host_pci_iommu_enabled(hp))
		add_result(out, "iommu", PREFLIGHT_FAIL, "the kernel has no IOMMU "
			   "enabled (%s/class/iommu is empty): turn on VT-d (Intel) "
			   "or AMD-Vi/IOMMU in the firmware setup and boot with "
			   "intel_iommu=on (Intel; AMD enables it by default) and "
			   "iommu=pt — see docs/gaming-vm.md", hp->sysfs);
	else if (dev->iommu_group < 0)
		add_result(out, "iommu", PREFLIGHT_FAIL, "%s is in no IOMMU group: "
			   "the IOMMU does not cover it, so it cannot be passed "
			   "through", dev->bdf);
	else
		add_result(out, "iommu", PREFLIGHT_OK, "IOMMU enabled; %s is in "
			   "IOMMU group %d", dev->bdf, dev->iommu_group);
}

static bool in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++) {
		char norm[HOST_PCI_BDF_LEN];
		if (host_pci_parse_bdf(*list, norm) && !strcmp(norm, s))
			return true;
	}
	return false;
}

/* The kernel's VFIO only opens a group whose endpoints are all on a VFIO
 * driver, pci-stub or none (bridges may keep theirs), so one device on a
 * host driver blocks the whole group. */
static void check_group(HostPci *hp, const HostPciDev *dev,
			const PreflightOptions *opt, GPtrArray *out)
{
	g_autoptr(GPtrArray) group = host_pci_group(hp, dev->bdf, NULL);
	bool failed = false;

	for (guint i = 0; group && i < group->len; i++) {
		g_autoptr(HostPciDev) m = read_dev(hp, group->pdata[i]);
		bool self = !strcmp(group->pdata[i], dev->bdf);

		if (!m || m->bridge || host_pci_driver_assignable(m->driver) ||
		    in_list(opt->rebind, m->bdf))
			continue;
		failed = true;
		if (!self && !strncmp(m->bdf, dev->bdf, HOST_PCI_BDF_LEN - 2))
			add_result(out, "group", PREFLIGHT_FAIL, "%s, another function "
				   "of the same device, is bound to the host driver "
				   "%s: run `atoll pci-assignable-add --group %s` (it "
				   "binds all of the device's functions) and list them "
				   "all in the domain's pci", m->bdf, m->driver, dev->bdf);
		else if (self)
			add_result(out, "group", PREFLIGHT_FAIL, "%s is bound to the "
				   "host driver %s: run `atoll pci-assignable-add %s` "
				   "to bind its IOMMU group to vfio-pci (or put it in "
				   "a domain definition's pci list, which does that at "
				   "start)", m->bdf, m->driver, m->bdf);
		else
			add_result(out, "group", PREFLIGHT_FAIL, "%s shares IOMMU "
				   "group %d with %s and is bound to the host driver "
				   "%s: a group is passed through as a whole, so run "
				   "`atoll pci-assignable-add --group %s` (the host "
				   "loses %s), or move the card to a slot with its own "
				   "group",
				   m->bdf, dev->iommu_group, dev->bdf, m->driver,
				   dev->bdf, m->bdf);
	}
	if (!failed)
		add_result(out, "group", PREFLIGHT_OK, "every device in IOMMU group "
			   "%d is free for a domain (%u device%s)", dev->iommu_group,
			   group ? group->len : 1, group && group->len == 1 ? "" : "s");
}

static bool is_gpu(const HostPciDev *dev)
{
	return (dev->class_code >> 16) == 0x03;
}

static void check_boot_vga(const HostPciDev *dev, const PreflightOptions *opt,
			   GPtrArray *out)
{
	if (!is_gpu(dev))
		return;
	if (!dev->boot_vga)
		add_result(out, "boot-vga", PREFLIGHT_OK, "not the host's boot GPU");
	else if (opt->force_boot_vga)
		add_result(out, "boot-vga", PREFLIGHT_WARN, "%s is the GPU the host "
			   "booted on; forced: the host loses its console", dev->bdf);
	else
		add_result(out, "boot-vga", PREFLIGHT_FAIL, "%s is the GPU the host "
			   "booted on (boot_vga): giving it away takes the host's "
			   "console and its ROM is often shadowed; use a second GPU, "
			   "or force it (--force) when dom0 runs headless", dev->bdf);
}

static void check_reset(const HostPciDev *dev, GPtrArray *out)
{
	if (dev->reset_method && *dev->reset_method)
		add_result(out, "reset", PREFLIGHT_OK, "reset methods: %s",
			   dev->reset_method);
	else if (dev->has_reset)
		add_result(out, "reset", PREFLIGHT_OK, "the kernel can reset it");
	else
		add_result(out, "reset", PREFLIGHT_WARN, "%s has no reset method the "
			   "kernel can use (no FLR, PM or bus reset): its state carries "
			   "over from one domain run to the next, and some devices "
			   "(e.g. AMD GPUs with the \"reset bug\") then fail to start "
			   "again until the host reboots — see docs/gaming-vm.md",
			   dev->bdf);
}

static bool rom_signature(const char *path)
{
	unsigned char sig[2] = { 0, 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, sig, sizeof(sig)) : -1;

	if (fd >= 0)
		close(fd);
	return n == 2 && sig[0] == 0x55 && sig[1] == 0xaa;
}

/* sysfs gives the ROM only while enabled (writing "1" to it). */
static bool device_rom_readable(HostPci *hp, const char *bdf)
{
	g_autofree char *p = dev_path(hp, bdf, "rom");
	bool ok;

	if (!hp->write(p, "1", hp->write_data, NULL))
		return false;
	ok = rom_signature(p);
	hp->write(p, "0", hp->write_data, NULL);
	return ok;
}

static void check_rom(HostPci *hp, const HostPciDev *dev,
		      const PreflightOptions *opt, GPtrArray *out)
{
	if (!is_gpu(dev))
		return;
	if (opt->rom_file) {
		if (rom_signature(opt->rom_file))
			add_result(out, "rom", PREFLIGHT_OK, "ROM from %s",
				   opt->rom_file);
		else
			add_result(out, "rom", PREFLIGHT_FAIL, "%s is not a readable "
				   "PCI option ROM (it must start with 55 AA): check "
				   "the path and the dump", opt->rom_file);
	} else if (!dev->has_rom) {
		add_result(out, "rom", PREFLIGHT_FAIL, "%s has no expansion ROM the "
			   "host can read, and guest firmware needs one to start a "
			   "GPU: give a ROM file (pci entry \"rom\": PATH; how to get "
			   "one: docs/gaming-vm.md)", dev->bdf);
	} else if (opt->quick) {
		add_result(out, "rom", PREFLIGHT_OK, "the device has a ROM (not read "
			   "in this listing; `atoll pci-preflight %s` reads it)",
			   dev->bdf);
	} else if (!device_rom_readable(hp, dev->bdf)) {
		add_result(out, "rom", PREFLIGHT_FAIL, "%s's ROM cannot be read (no "
			   "55 AA signature, or not root; a boot GPU's ROM is often "
			   "shadowed by the firmware): dump it from a host where it "
			   "is not the boot GPU and give it as \"rom\": PATH",
			   dev->bdf);
	} else {
		add_result(out, "rom", PREFLIGHT_OK, "the device's ROM is readable");
	}
}

GPtrArray *host_pci_preflight(HostPci *hp, const char *bdf,
			      const PreflightOptions *opt)
{
	static const PreflightOptions none = { 0 };
	GPtrArray *out = g_ptr_array_new_with_free_func(result_free);
	g_autoptr(GError) err = NULL;
	g_autoptr(HostPciDev) dev = host_pci_get(hp, bdf, &err);

	if (!opt)
		opt = &none;
	if (!dev) {
		add_result(out, "present", PREFLIGHT_FAIL, "%s", err->message);
		return out;
	}
	add_result(out, "present", PREFLIGHT_OK, "%s: %04x:%04x class %06x, "
		   "driver %s", dev->bdf, dev->vendor, dev->device, dev->class_code,
		   dev->driver ? dev->driver : "none");
	check_iommu(hp, dev, out);
	if (dev->iommu_group >= 0)
		check_group(hp, dev, opt, out);
	check_boot_vga(dev, opt, out);
	check_reset(dev, out);
	check_rom(hp, dev, opt, out);
	return out;
}

bool host_pci_preflight_passed(const GPtrArray *results)
{
	for (guint i = 0; i < results->len; i++)
		if (((PreflightResult *)results->pdata[i])->level == PREFLIGHT_FAIL)
			return false;
	return true;
}

char *host_pci_preflight_summary(const GPtrArray *results)
{
	GString *s = NULL;

	for (guint i = 0; i < results->len; i++) {
		const PreflightResult *r = results->pdata[i];
		if (r->level != PREFLIGHT_FAIL)
			continue;
		if (!s)
			s = g_string_new(NULL);
		else
			g_string_append(s, "; ");
		g_string_append(s, r->message);
	}
	return s ? g_string_free(s, FALSE) : NULL;
}

JsonNode *host_pci_preflight_to_json(const char *bdf, const GPtrArray *results)
{
	static const char *const levels[] = { "ok", "warn", "fail" };
	g_autoptr(JsonBuilder) b = json_builder_new();
	char norm[HOST_PCI_BDF_LEN];

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "address");
	json_builder_add_string_value(b, host_pci_parse_bdf(bdf, norm) ? norm : bdf);
	json_builder_set_member_name(b, "passed");
	json_builder_add_boolean_value(b, host_pci_preflight_passed(results));
	json_builder_set_member_name(b, "checks");
	json_builder_begin_array(b);
	for (guint i = 0; i < results->len; i++) {
		const PreflightResult *r = results->pdata[i];
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "check");
		json_builder_add_string_value(b, r->check);
		json_builder_set_member_name(b, "result");
		json_builder_add_string_value(b, levels[r->level]);
		json_builder_set_member_name(b, "message");
		json_builder_add_string_value(b, r->message);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* A string member, or def when missing or null. */
static const char *rec_str(JsonObject *o, const char *key, const char *def)
{
	JsonNode *n = json_object_get_member(o, key);

	if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
	    json_node_get_value_type(n) != G_TYPE_STRING)
		return def;
	return json_node_get_string(n);
}

/* ---- the state file: original drivers of the devices moved ---- */

static char *state_path(const HostPci *hp)
{
	return g_build_filename(hp->state_dir, STATE_FILE, NULL);
}

/* {"devices": {BDF: {"driver": NAME|null, "owner": OWNER}}} as a
 * JsonObject of the "devices" member; an absent file is empty. */
static JsonObject *state_load(const HostPci *hp, GError **error)
{
	g_autofree char *path = state_path(hp);
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) err = NULL;
	JsonNode *root;
	JsonObject *devs;

	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return json_object_new();
	if (!json_parser_load_from_file(p, path, &err)) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
			    "cannot read %s: %s — it records which drivers to give "
			    "back; fix or remove it by hand", path, err->message);
		return NULL;
	}
	root = json_parser_get_root(p);
	devs = root && JSON_NODE_HOLDS_OBJECT(root) ?
		json_object_get_object_member(json_node_get_object(root), "devices") :
		NULL;
	if (!devs) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
			    "%s is not an Atoll PCI state file (no \"devices\" "
			    "object): fix or remove it by hand", path);
		return NULL;
	}
	return json_object_ref(devs);
}

/* Written like the domain definitions: temporary file, fsync, rename. */
static bool state_save(const HostPci *hp, JsonObject *devs, GError **error)
{
	g_autofree char *path = state_path(hp);
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	g_autoptr(JsonObject) o = json_object_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;

	json_object_set_object_member(o, "devices", json_object_ref(devs));
	json_node_set_object(root, o);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, NULL);
	if (g_mkdir_with_parents(hp->state_dir, 0750) < 0 ||
	    !g_file_set_contents_full(path, text, -1,
				      G_FILE_SET_CONTENTS_CONSISTENT |
				      G_FILE_SET_CONTENTS_DURABLE, 0640, &err)) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
			    "cannot write %s: %s", path,
			    err ? err->message : g_strerror(errno));
		return false;
	}
	return true;
}

char *host_pci_recorded_driver(HostPci *hp, const char *bdf, char **owner)
{
	g_autoptr(JsonObject) devs = NULL;
	JsonObject *rec;
	char norm[HOST_PCI_BDF_LEN];
	const char *drv;

	if (owner)
		*owner = NULL;
	if (!hp->state_dir || !host_pci_parse_bdf(bdf, norm))
		return NULL;
	devs = state_load(hp, NULL);
	rec = devs && json_object_has_member(devs, norm) ?
		json_object_get_object_member(devs, norm) : NULL;
	if (!rec)
		return NULL;
	if (owner)
		*owner = g_strdup(rec_str(
			rec, "owner", "user"));
	drv = rec_str(rec, "driver", NULL);
	return g_strdup(drv ? drv : "");
}

/* ---- binding ---- */

static bool write_to(HostPci *hp, const char *value, GError **error, ...)
	G_GNUC_NULL_TERMINATED;

static bool write_to(HostPci *hp, const char *value, GError **error, ...)
{
	va_list ap;
	g_autoptr(GPtrArray) parts = g_ptr_array_new();
	g_autofree char *path = NULL;
	const char *s;

	g_ptr_array_add(parts, hp->sysfs);
	va_start(ap, error);
	while ((s = va_arg(ap, const char *)))
		g_ptr_array_add(parts, (gpointer)s);
	va_end(ap);
	g_ptr_array_add(parts, NULL);
	path = g_build_filenamev((char **)parts->pdata);
	return hp->write(path, value, hp->write_data, error);
}

static bool driver_is(const HostPci *hp, const char *bdf, const char *want)
{
	g_autofree char *cur = current_driver(hp, bdf);

	return !g_strcmp0(cur, want);
}

static bool bind_vfio(HostPci *hp, const char *bdf, GError **error)
{
	g_autofree char *cur = current_driver(hp, bdf);
	g_autofree char *now = NULL;

	if (!write_to(hp, VFIO_DRIVER, error, "bus/pci/devices", bdf,
		      "driver_override", NULL))
		return false;
	if (cur && !write_to(hp, bdf, error, "bus/pci/drivers", cur, "unbind", NULL))
		return false;
	if (!write_to(hp, bdf, error, "bus/pci/drivers_probe", NULL))
		return false;
	now = current_driver(hp, bdf);
	if (g_strcmp0(now, VFIO_DRIVER)) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
			    "%s did not bind to vfio-pci (its driver is now %s); "
			    "see the kernel log (dmesg)", bdf, now ? now : "none");
		return false;
	}
	return true;
}

/* Back to `orig` (NULL: no driver), whatever state bind_vfio left. */
static bool restore_driver(HostPci *hp, const char *bdf, const char *orig,
			   GError **error)
{
	g_autofree char *cur = NULL;
	g_autoptr(GError) e = NULL;

	if (!write_to(hp, "\n", error, "bus/pci/devices", bdf, "driver_override",
		      NULL))
		return false;
	cur = current_driver(hp, bdf);
	if (cur && g_strcmp0(cur, orig) &&
	    !write_to(hp, bdf, error, "bus/pci/drivers", cur, "unbind", NULL))
		return false;
	if (!orig || driver_is(hp, bdf, orig))
		return true;
	/* bind to the very driver; drivers_probe is the fallback if that
	 * driver refuses a direct bind (some do). */
	if (!write_to(hp, bdf, &e, "bus/pci/drivers", orig, "bind", NULL) &&
	    !driver_is(hp, bdf, orig))
		write_to(hp, bdf, NULL, "bus/pci/drivers_probe", NULL);
	if (driver_is(hp, bdf, orig))
		return true;
	g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
		    "%s did not go back to its driver %s%s%s: bind it by hand "
		    "(echo %s > %s/bus/pci/drivers/%s/bind)", bdf, orig,
		    e ? ": " : "", e ? e->message : "", bdf, hp->sysfs, orig);
	return false;
}

static bool need_state_dir(const HostPci *hp, GError **error)
{
	if (hp->state_dir)
		return true;
	g_set_error_literal(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
			    "no state directory to record the original drivers in");
	return false;
}

/* The endpoints of bdf's group that are not on vfio-pci. */
static GPtrArray *endpoints_to_move(HostPci *hp, const char *bdf, GError **error)
{
	g_autoptr(GPtrArray) group = host_pci_group(hp, bdf, error);
	GPtrArray *out;

	if (!group)
		return NULL;
	out = g_ptr_array_new_with_free_func((GDestroyNotify)host_pci_dev_free);
	for (guint i = 0; i < group->len; i++) {
		HostPciDev *m = read_dev(hp, group->pdata[i]);
		if (m && !m->bridge && g_strcmp0(m->driver, VFIO_DRIVER))
			g_ptr_array_add(out, m);
		else
			host_pci_dev_free(m);
	}
	return out;
}

static bool check_bindable(HostPci *hp, const char *bdf, GError **error)
{
	g_autofree char *vfio = g_build_filename(hp->sysfs, "bus/pci/drivers",
						 VFIO_DRIVER, NULL);
	g_autoptr(HostPciDev) dev = host_pci_get(hp, bdf, error);

	if (!dev)
		return false;
	if (dev->iommu_group < 0) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_REFUSED,
			    "%s is in no IOMMU group: enable the IOMMU (intel_iommu=on "
			    "or amd_iommu=on, and VT-d/AMD-Vi in the firmware) — "
			    "`atoll pci-preflight %s` says more", dev->bdf, dev->bdf);
		return false;
	}
	if (!g_file_test(vfio, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
			    "the vfio-pci driver is not loaded: run `modprobe "
			    "vfio-pci` (and add it to /etc/modules)");
		return false;
	}
	return true;
}

static void record(JsonObject *devs, const HostPciDev *m, const char *owner)
{
	JsonObject *rec = json_object_new();

	if (m->driver)
		json_object_set_string_member(rec, "driver", m->driver);
	else
		json_object_set_null_member(rec, "driver");
	json_object_set_string_member(rec, "owner", owner);
	json_object_set_object_member(devs, m->bdf, rec);
}

bool host_pci_make_assignable(HostPci *hp, const char *bdf, const char *owner,
			      GError **error)
{
	g_autoptr(GPtrArray) move = NULL;
	g_autoptr(JsonObject) devs = NULL;
	guint done = 0;

	if (!need_state_dir(hp, error) || !check_bindable(hp, bdf, error) ||
	    !(move = endpoints_to_move(hp, bdf, error)) ||
	    !(devs = state_load(hp, error)))
		return false;
	if (move->len == 0)
		return true;
	/* Record first: if atolld dies halfway, release still knows. */
	for (guint i = 0; i < move->len; i++) {
		const HostPciDev *m = move->pdata[i];
		if (!json_object_has_member(devs, m->bdf))
			record(devs, m, owner ? owner : "user");
	}
	if (!state_save(hp, devs, error))
		return false;
	g_autoptr(GError) bind_err = NULL;
	for (; done < move->len; done++)
		if (!bind_vfio(hp, ((HostPciDev *)move->pdata[done])->bdf, &bind_err))
			break;
	if (done == move->len)
		return true;
	/* Undo every device touched, the failed one included. */
	g_autoptr(GString) undo = g_string_new(NULL);
	for (guint i = 0; i <= done && i < move->len; i++) {
		const HostPciDev *m = move->pdata[i];
		g_autoptr(GError) e = NULL;
		if (restore_driver(hp, m->bdf, m->driver, &e))
			json_object_remove_member(devs, m->bdf);
		else
			g_string_append_printf(undo, "%s%s", undo->len ? "; " : "",
					       e->message);
	}
	state_save(hp, devs, NULL);
	g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST,
		    "cannot bind IOMMU group %d to vfio-pci: %s%s%s", group_of(hp, bdf),
		    bind_err->message, undo->len ? "; putting the drivers back failed "
		    "too: " : " (the original drivers are bound again)", undo->str);
	return false;
}

bool host_pci_release(HostPci *hp, const char *bdf, const char *owner,
		      GError **error)
{
	g_autoptr(GPtrArray) group = NULL;
	g_autoptr(JsonObject) devs = NULL;
	g_autoptr(GString) failed = g_string_new(NULL);
	bool changed = false;

	if (!need_state_dir(hp, error) ||
	    !(group = host_pci_group(hp, bdf, error)) ||
	    !(devs = state_load(hp, error)))
		return false;
	for (guint i = 0; i < group->len; i++) {
		const char *m = group->pdata[i];
		JsonObject *rec = json_object_has_member(devs, m) ?
			json_object_get_object_member(devs, m) : NULL;
		g_autoptr(GError) e = NULL;
		if (!rec || (owner && g_strcmp0(owner,
				rec_str(rec, "owner", ""))))
			continue;
		if (restore_driver(hp, m, rec_str(
					   rec, "driver", NULL), &e)) {
			json_object_remove_member(devs, m);
			changed = true;
		} else {
			g_string_append_printf(failed, "%s%s", failed->len ? "; " : "",
					       e->message);
		}
	}
	if (changed && !state_save(hp, devs, error))
		return false;
	if (failed->len) {
		g_set_error(error, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST, "%s",
			    failed->str);
		return false;
	}
	return true;
}

/* ---- JSON ---- */

static void add_hex(JsonBuilder *b, const char *key, unsigned v, int width)
{
	g_autofree char *s = g_strdup_printf("0x%0*x", width, v);

	json_builder_set_member_name(b, key);
	json_builder_add_string_value(b, s);
}

static void add_str_or_null(JsonBuilder *b, const char *key, const char *v)
{
	json_builder_set_member_name(b, key);
	if (v)
		json_builder_add_string_value(b, v);
	else
		json_builder_add_null_value(b);
}

static void add_list(JsonBuilder *b, const char *key, GPtrArray *list,
		     const char *skip)
{
	json_builder_set_member_name(b, key);
	json_builder_begin_array(b);
	for (guint i = 0; list && i < list->len; i++)
		if (g_strcmp0(list->pdata[i], skip))
			json_builder_add_string_value(b, list->pdata[i]);
	json_builder_end_array(b);
}

JsonNode *host_pci_dev_to_json(HostPci *hp, const HostPciDev *dev)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(GPtrArray) group = host_pci_group(hp, dev->bdf, NULL);
	g_autoptr(GPtrArray) sibs = host_pci_siblings(hp, dev->bdf);
	g_autofree char *orig = host_pci_recorded_driver(hp, dev->bdf, NULL);

	json_builder_begin_object(b);
	add_str_or_null(b, "address", dev->bdf);
	add_hex(b, "vendor_id", dev->vendor, 4);
	add_hex(b, "device_id", dev->device, 4);
	add_hex(b, "class", dev->class_code, 6);
	add_str_or_null(b, "driver", dev->driver);
	json_builder_set_member_name(b, "iommu_group");
	if (dev->iommu_group >= 0)
		json_builder_add_int_value(b, dev->iommu_group);
	else
		json_builder_add_null_value(b);
	add_list(b, "iommu_group_devices", dev->iommu_group >= 0 ? group : NULL,
		 dev->bdf);
	add_list(b, "functions", sibs, NULL);
	json_builder_set_member_name(b, "bridge");
	json_builder_add_boolean_value(b, dev->bridge);
	json_builder_set_member_name(b, "boot_vga");
	json_builder_add_boolean_value(b, dev->boot_vga);
	add_str_or_null(b, "reset_method", dev->reset_method);
	json_builder_set_member_name(b, "rom");
	json_builder_add_boolean_value(b, dev->has_rom);
	json_builder_set_member_name(b, "assignable");
	json_builder_add_boolean_value(b, host_pci_driver_assignable(dev->driver));
	add_str_or_null(b, "original_driver", orig && *orig ? orig : NULL);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}
