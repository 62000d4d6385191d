/* Host PCI and USB devices (GET /v1/host/devices), from libvirt's node
 * device XML; what libvirt leaves out (the IOMMU group, the bound driver)
 * comes from sysfs when the connection is to this host. */
#include "internal.h"

#include <string.h>

static int cmp_str_ptr(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Basename of a sysfs symlink's target ("../../../bus/pci/drivers/nvme"
 * -> "nvme"), or NULL. */
static char *sysfs_link_name(const char *path)
{
	g_autofree char *target = g_file_read_link(path, NULL);

	return target ? g_path_get_basename(target) : NULL;
}

static char *sysfs_driver(const AtollLibvirt *lv, const char *bdf)
{
	g_autofree char *p = NULL;

	if (!lv->sysfs_root)
		return NULL;
	p = g_build_filename(lv->sysfs_root, "bus/pci/devices", bdf, "driver",
			     NULL);
	return sysfs_link_name(p);
}

/* The group number and the other members, from
 * /sys/bus/pci/devices/BDF/iommu_group -> /sys/kernel/iommu_groups/N. */
static bool sysfs_iommu_group(const AtollLibvirt *lv, const char *bdf,
			      gint64 *group, GPtrArray *others)
{
	g_autofree char *p = NULL, *num = NULL, *dir = NULL;
	g_autoptr(GDir) d = NULL;
	const char *e;
	guint64 n;

	if (!lv->sysfs_root)
		return false;
	p = g_build_filename(lv->sysfs_root, "bus/pci/devices", bdf,
			     "iommu_group", NULL);
	num = sysfs_link_name(p);
	if (!num || !lv_parse_u64(num, &n))
		return false;
	*group = (gint64)n;
	dir = g_build_filename(lv->sysfs_root, "kernel/iommu_groups", num,
			       "devices", NULL);
	d = g_dir_open(dir, 0, NULL);
	while (d && (e = g_dir_read_name(d)))
		if (strcmp(e, bdf))
			g_ptr_array_add(others, g_strdup(e));
	g_ptr_array_sort(others, cmp_str_ptr);
	return true;
}

static char *pci_bdf(LvXml *x, xmlNodePtr cap, const char *prefix)
{
	static const char *const part[] = { "domain", "bus", "slot", "function" };
	guint64 v[4];

	for (int i = 0; i < 4; i++) {
		g_autofree char *expr = g_strdup_printf("%s%s", prefix, part[i]);
		g_autofree char *s = lv_xml_str(x, cap, expr);

		if (!lv_parse_u64(s, &v[i]))
			return NULL;
	}
	if (v[0] > 0xffff || v[1] > 0xff || v[2] > 0x1f || v[3] > 7)
		return NULL;
	return g_strdup_printf("%04x:%02x:%02x.%x", (unsigned)v[0],
			       (unsigned)v[1], (unsigned)v[2], (unsigned)v[3]);
}

/* IOMMU group from libvirt's <iommuGroup>, else sysfs; -1 if unknown. */
static gint64 pci_iommu(const AtollLibvirt *lv, LvXml *x, xmlNodePtr cap,
			const char *bdf, GPtrArray *others)
{
	g_autofree char *num = lv_xml_str(x, cap, "iommuGroup/@number");
	g_autoptr(xmlXPathObject) addrs = NULL;
	gint64 group = -1;
	guint64 n;

	if (!num || !lv_parse_u64(num, &n))
		return sysfs_iommu_group(lv, bdf, &group, others) ? group : -1;
	addrs = lv_xml_nodes(x, cap, "iommuGroup/address");
	for (int i = 0; addrs && addrs->nodesetval &&
			i < addrs->nodesetval->nodeNr; i++) {
		char *a = pci_bdf(x, addrs->nodesetval->nodeTab[i], "@");

		if (a && strcmp(a, bdf))
			g_ptr_array_add(others, a);
		else
			g_free(a);
	}
	g_ptr_array_sort(others, cmp_str_ptr);
	return (gint64)n;
}

static void add_ids(JsonBuilder *b, LvXml *x, xmlNodePtr cap)
{
	g_autofree char *vid = lv_xml_str(x, cap, "vendor/@id");
	g_autofree char *vname = lv_xml_str(x, cap, "vendor");
	g_autofree char *pid = lv_xml_str(x, cap, "product/@id");
	g_autofree char *pname = lv_xml_str(x, cap, "product");

	lv_json_str(b, "vendor_id", vid);
	lv_json_str(b, "vendor", vname);
	lv_json_str(b, "product_id", pid);
	lv_json_str(b, "product", pname);
}

static void add_pci(const AtollLibvirt *lv, JsonBuilder *b, LvXml *x,
		    xmlNodePtr cap)
{
	g_autofree char *name = lv_xml_str(x, NULL, "/device/name");
	g_autofree char *bdf = pci_bdf(x, cap, "");
	g_autofree char *cls = lv_xml_str(x, cap, "class");
	g_autofree char *driver = lv_xml_str(x, NULL, "/device/driver/name");
	g_autoptr(GPtrArray) others = g_ptr_array_new_with_free_func(g_free);
	gint64 group = -1;

	if (!bdf)
		return;   /* not a usable PCI function description */
	if (!driver)
		driver = sysfs_driver(lv, bdf);
	group = pci_iommu(lv, x, cap, bdf, others);

	json_builder_begin_object(b);
	lv_json_str(b, "type", "pci");
	lv_json_str(b, "name", name);
	lv_json_str(b, "address", bdf);
	add_ids(b, x, cap);
	lv_json_str(b, "class", cls);
	lv_json_str(b, "driver", driver);
	json_builder_set_member_name(b, "iommu_group");
	if (group >= 0)
		json_builder_add_int_value(b, group);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "iommu_group_devices");
	json_builder_begin_array(b);
	for (guint i = 0; i < others->len; i++)
		json_builder_add_string_value(b, others->pdata[i]);
	json_builder_end_array(b);
	json_builder_end_object(b);
}

/* "1-4" or "1-4.2" from the sysfs path; root hubs ("usb1") have no port. */
static char *usb_port(const char *path)
{
	g_autofree char *base = path ? g_path_get_basename(path) : NULL;

	if (!base || !g_ascii_isdigit(base[0]) || !strchr(base, '-') ||
	    strchr(base, ':'))
		return NULL;
	for (const char *p = base; *p; p++)
		if (!g_ascii_isdigit(*p) && *p != '-' && *p != '.')
			return NULL;
	return g_steal_pointer(&base);
}

static void add_int_or_null(JsonBuilder *b, const char *key, const char *s)
{
	guint64 v;

	json_builder_set_member_name(b, key);
	if (lv_parse_u64(s, &v))
		json_builder_add_int_value(b, (gint64)v);
	else
		json_builder_add_null_value(b);
}

static void add_usb(JsonBuilder *b, LvXml *x, xmlNodePtr cap)
{
	g_autofree char *name = lv_xml_str(x, NULL, "/device/name");
	g_autofree char *path = lv_xml_str(x, NULL, "/device/path");
	g_autofree char *bus = lv_xml_str(x, cap, "bus");
	g_autofree char *dev = lv_xml_str(x, cap, "device");
	g_autofree char *driver = lv_xml_str(x, NULL, "/device/driver/name");
	g_autofree char *port = usb_port(path);

	json_builder_begin_object(b);
	lv_json_str(b, "type", "usb");
	lv_json_str(b, "name", name);
	add_int_or_null(b, "bus", bus);
	add_int_or_null(b, "device", dev);
	lv_json_str(b, "port", port);
	add_ids(b, x, cap);
	lv_json_str(b, "driver", driver);
	json_builder_end_object(b);
}

static bool add_device(const AtollLibvirt *lv, JsonBuilder *b,
		       virNodeDevicePtr dev, GError **error)
{
	g_autofree char *xml = virNodeDeviceGetXMLDesc(dev, 0);
	g_auto(LvXml) x = { 0 };   /* declared first: freed after caps */
	g_autoptr(xmlXPathObject) caps = NULL;
	g_autofree char *kind = NULL;
	xmlNodePtr cap;

	if (!xml) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot read node device %s: %s",
			    virNodeDeviceGetName(dev), lv_last_error());
		return false;
	}
	if (!lv_xml_parse(&x, xml, "node device XML", error))
		return false;
	caps = lv_xml_nodes(&x, NULL, "/device/capability[@type='pci' or "
			    "@type='usb_device']");
	if (!caps || !caps->nodesetval || caps->nodesetval->nodeNr == 0)
		return true;
	cap = caps->nodesetval->nodeTab[0];
	kind = lv_xml_str(&x, cap, "@type");
	if (!g_strcmp0(kind, "pci"))
		add_pci(lv, b, &x, cap);
	else
		add_usb(b, &x, cap);
	return true;
}

static int dev_cmp(const void *a, const void *b)
{
	return strcmp(virNodeDeviceGetName(*(virNodeDevicePtr const *)a),
		      virNodeDeviceGetName(*(virNodeDevicePtr const *)b));
}

static bool list_kind(AtollLibvirt *lv, JsonBuilder *b, unsigned flag,
		      GError **error)
{
	virNodeDevicePtr *devs = NULL;
	bool ok = true;
	int n;

	if (!lv_ensure_alive(lv, error))
		return false;
	n = virConnectListAllNodeDevices(lv->conn, &devs, flag);
	if (n < 0 && lv_retry_after_failure(lv))
		n = virConnectListAllNodeDevices(lv->conn, &devs, flag);
	if (n < 0) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot list host devices on %s: %s — check that the "
			    "node device driver (virtnodedevd or libvirtd) is running",
			    lv->uri, lv_last_error());
		return false;
	}
	qsort(devs, (size_t)n, sizeof(*devs), dev_cmp);
	for (int i = 0; i < n; i++) {
		if (ok)
			ok = add_device(lv, b, devs[i], error);
		virNodeDeviceFree(devs[i]);
	}
	free(devs);
	return ok;
}

JsonNode *atoll_libvirt_list_host_devices(AtollLibvirt *lv, const char *type,
					  GError **error)
{
	g_autoptr(JsonBuilder) b = NULL;
	bool pci = !type || !strcmp(type, "pci");
	bool usb = !type || !strcmp(type, "usb");
	bool ok = true;

	if (!pci && !usb) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "type: unknown device type '%s' — use \"pci\" or \"usb\"",
			    type);
		return NULL;
	}
	b = json_builder_new();
	json_builder_begin_array(b);
	if (pci)
		ok = list_kind(lv, b, VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV, error);
	if (ok && usb)
		ok = list_kind(lv, b, VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV, error);
	json_builder_end_array(b);
	return ok ? json_builder_get_root(b) : NULL;
}
