/* Host devices for domains: the /v1/host/pci and /v1/host/usb routes'
 * data, the checks and vfio-pci binding around a domain's start and stop,
 * and USB hot-plug through the VMM's control socket.  The host work is
 * passthrough/host_pci.c and host_usb.c; this file decides who may have
 * which device.  See docs/api.md and docs/gaming-vm.md. */
#include "vmm_client.h"
#include "host_pci.h"
#include "host_usb.h"

#include <string.h>

#ifdef ATOLLD_HAVE_LIBVIRT
#include "hostres.h"
#endif

typedef struct {
	char *host;    /* as given: "046d:c52b" or "1-4.2" */
	char *path;    /* resolved bus-port path, NULL if it was not plugged in */
} UsbHeld;

static void usb_held_free(gpointer p)
{
	UsbHeld *h = p;
	g_free(h->host);
	g_free(h->path);
	g_free(h);
}

static HostPci *open_host_pci(Atolld *d)
{
	HostPci *hp = host_pci_new(d->sysfs_root, d->state_dir);
	if (d->pci_write_fn)
		host_pci_set_writer(hp, (HostPciWriteFn)d->pci_write_fn,
				    d->pci_write_data);
	return hp;
}

static void set_error(GError **error, AtolldError kind, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static void set_error(GError **error, AtolldError kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(error, ATOLLD_ERROR, kind, msg);
}

/* host_pci / host_usb errors as API errors, with an optional prefix. */
static void propagate(GError **error, const GError *e, const char *prefix)
{
	AtolldError kind = ATOLLD_ERROR_HOST;
	if (e->domain == HOST_PCI_ERROR) {
		kind = e->code == HOST_PCI_ERROR_INVALID ? ATOLLD_ERROR_BAD_REQUEST :
		       e->code == HOST_PCI_ERROR_NOT_FOUND ? ATOLLD_ERROR_NOT_FOUND :
		       e->code == HOST_PCI_ERROR_REFUSED ? ATOLLD_ERROR_CONFLICT :
		       ATOLLD_ERROR_HOST;
	} else if (e->domain == HOST_USB_ERROR) {
		kind = e->code == HOST_USB_ERROR_NOT_FOUND ? ATOLLD_ERROR_NOT_FOUND :
		       e->code == HOST_USB_ERROR_HOST ? ATOLLD_ERROR_HOST :
		       ATOLLD_ERROR_BAD_REQUEST;
	} else if (e->domain == ATOLLD_ERROR) {
		kind = (AtolldError)e->code;
	}
	set_error(error, kind, "%s%s", prefix ? prefix : "", e->message);
}

static void emit_device(Atolld *d, const char *kind, const char *device,
			const char *domain, const char *action)
{
#ifdef ATOLLD_HAVE_EVENTS
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "type");
	json_builder_add_string_value(b, "device-changed");
	json_builder_set_member_name(b, "kind");
	json_builder_add_string_value(b, kind);
	json_builder_set_member_name(b, "device");
	json_builder_add_string_value(b, device);
	json_builder_set_member_name(b, "domain");
	if (domain)
		json_builder_add_string_value(b, domain);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "action");
	json_builder_add_string_value(b, action);
	json_builder_end_object(b);
	events_emit(d, json_builder_get_root(b));
#else
	(void)d;
	g_debug("device-changed %s %s %s %s", kind, device, domain ? domain : "-",
		action);
#endif
}

static char *owner_of(const Domain *dom)
{
	return g_strdup_printf("domain:%s", dom->name);
}

/* ---- who has what ---- */

/* The running domain (other than `except`) holding bdf or a device of its
 * IOMMU group: a group belongs to one VMM at a time. */
static Domain *pci_holder(Atolld *d, HostPci *hp, const char *bdf,
			  const Domain *except)
{
	g_autoptr(HostPciDev) dev = host_pci_get(hp, bdf, NULL);
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, d->domains);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		Domain *dom = v;
		if (dom == except || !dom->pci_held || !domain_is_active(dom))
			continue;
		for (guint i = 0; i < dom->pci_held->len; i++) {
			const char *held = dom->pci_held->pdata[i];
			g_autoptr(HostPciDev) hd = NULL;
			if (!strcmp(held, bdf))
				return dom;
			hd = dev ? host_pci_get(hp, held, NULL) : NULL;
			if (hd && hd->iommu_group >= 0 &&
			    hd->iommu_group == dev->iommu_group)
				return dom;
		}
	}
	return NULL;
}

static bool usb_same(const UsbHeld *h, const char *host, const char *path)
{
	return !strcmp(h->host, host) || (path && h->path && !strcmp(h->path, path)) ||
	       (path && !strcmp(h->host, path)) || (h->path && !strcmp(host, h->path));
}

static Domain *usb_holder(Atolld *d, const char *host, const char *path,
			  const Domain *except)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, d->domains);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		Domain *dom = v;
		if (dom == except || !dom->usb_held || !domain_is_active(dom))
			continue;
		for (guint i = 0; i < dom->usb_held->len; i++)
			if (usb_same(dom->usb_held->pdata[i], host, path))
				return dom;
	}
	return NULL;
}

/* The bus-port path of a plugged-in device, or NULL (not plugged in,
 * ambiguous, or no USB on this host). */
static char *usb_path_of(Atolld *d, const char *host, JsonNode **cache)
{
	UsbSpec spec;
	if (!host_usb_parse_spec(host, &spec))
		return NULL;
	if (spec.kind == USB_SPEC_PATH)
		return g_strdup(spec.path);
	if (!*cache)
		*cache = host_usb_list(d->sysfs_root, NULL);
	return *cache ? host_usb_resolve(*cache, &spec, NULL) : NULL;
}

static void add_used_by(JsonObject *o, Domain *holder)
{
	if (holder)
		json_object_set_string_member(o, "used_by", holder->name);
	else
		json_object_set_null_member(o, "used_by");
}

/* ---- /v1/host/pci ---- */

#ifdef ATOLLD_HAVE_LIBVIRT
/* address -> [vendor name, product name] from libvirt's node devices,
 * when libvirt is there; names are a nicety, so failures are silent. */
static GHashTable *libvirt_names(Atolld *d)
{
	GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						  (GDestroyNotify)json_object_unref);
	AtollLibvirt *lv = atolld_libvirt(d, NULL);
	g_autoptr(JsonNode) list = lv ? atoll_libvirt_list_host_devices(lv, "pci", NULL)
				      : NULL;
	JsonArray *a = list && JSON_NODE_HOLDS_ARRAY(list) ? json_node_get_array(list)
							    : NULL;
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);
		const char *addr = json_object_get_string_member_with_default(o, "address", NULL);
		if (addr)
			g_hash_table_insert(names, g_strdup(addr), json_object_ref(o));
	}
	return names;
}
#endif

static void add_names(JsonObject *o, GHashTable *names, const char *bdf)
{
	JsonObject *lv = names ? g_hash_table_lookup(names, bdf) : NULL;
	const char *vendor = lv ? json_object_get_string_member_with_default(lv, "vendor", NULL) : NULL;
	const char *product = lv ? json_object_get_string_member_with_default(lv, "product", NULL) : NULL;
	if (vendor)
		json_object_set_string_member(o, "vendor", vendor);
	else
		json_object_set_null_member(o, "vendor");
	if (product)
		json_object_set_string_member(o, "product", product);
	else
		json_object_set_null_member(o, "product");
}

static JsonNode *pci_entry(Atolld *d, HostPci *hp, const HostPciDev *dev,
			   GHashTable *names, bool with_preflight)
{
	JsonNode *n = host_pci_dev_to_json(hp, dev);
	JsonObject *o = json_node_get_object(n);
	add_names(o, names, dev->bdf);
	add_used_by(o, pci_holder(d, hp, dev->bdf, NULL));
	if (with_preflight) {
		PreflightOptions opt = { .quick = true };
		g_autoptr(GPtrArray) r = host_pci_preflight(hp, dev->bdf, &opt);
		JsonNode *pf = host_pci_preflight_to_json(dev->bdf, r);
		json_object_set_member(o, "preflight", pf);
	}
	return n;
}

static JsonNode *pci_listing(Atolld *d, bool only_assignable, GError **error)
{
	g_autoptr(HostPci) hp = open_host_pci(d);
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) devs = host_pci_list(hp, &e);
	g_autoptr(GHashTable) names = NULL;
	JsonArray *a;
	JsonNode *root;

	if (!devs) {
		propagate(error, e, NULL);
		return NULL;
	}
#ifdef ATOLLD_HAVE_LIBVIRT
	names = libvirt_names(d);
#endif
	a = json_array_new();
	for (guint i = 0; i < devs->len; i++) {
		const HostPciDev *dev = devs->pdata[i];
		if (only_assignable && (dev->bridge || !dev->driver ||
					!host_pci_driver_assignable(dev->driver)))
			continue;
		json_array_add_element(a, pci_entry(d, hp, dev, names, !only_assignable));
	}
	root = json_node_new(JSON_NODE_ARRAY);
	json_node_take_array(root, a);
	return root;
}

JsonNode *passthrough_host_pci(Atolld *d, GError **error)
{
	return pci_listing(d, false, error);
}

JsonNode *passthrough_assignable_list(Atolld *d, GError **error)
{
	return pci_listing(d, true, error);
}

static bool normalise_bdf(const char *bdf, char out[HOST_PCI_BDF_LEN],
			  GError **error)
{
	if (host_pci_parse_bdf(bdf, out))
		return true;
	set_error(error, ATOLLD_ERROR_BAD_REQUEST, "\"%s\" is not a PCI address — "
		  "write it as 0000:01:00.0 (lspci -D, atoll device-list --pci)", bdf);
	return false;
}

JsonNode *passthrough_preflight(Atolld *d, const char *bdf, bool force,
				GError **error)
{
	g_autoptr(HostPci) hp = open_host_pci(d);
	g_autoptr(GError) e = NULL;
	g_autoptr(HostPciDev) dev = NULL;
	char norm[HOST_PCI_BDF_LEN];
	PreflightOptions opt = { .force_boot_vga = force };

	if (!normalise_bdf(bdf, norm, error))
		return NULL;
	dev = host_pci_get(hp, norm, &e);
	if (!dev) {
		propagate(error, e, NULL);
		return NULL;
	}
	g_autoptr(GPtrArray) r = host_pci_preflight(hp, norm, &opt);
	Domain *holder = pci_holder(d, hp, norm, NULL);
	JsonNode *n = host_pci_preflight_to_json(norm, r);
	JsonObject *o = json_node_get_object(n);
	if (holder) {
		/* Fine for the host, but taken: that is a failure too. */
		JsonObject *c = json_object_new();
		g_autofree char *msg = g_strdup_printf("%s (or its IOMMU group) is in "
			"use by domain %s: stop %s first", norm, holder->name,
			holder->name);
		json_object_set_string_member(c, "check", "in-use");
		json_object_set_string_member(c, "result", "fail");
		json_object_set_string_member(c, "message", msg);
		json_array_add_object_element(json_object_get_array_member(o, "checks"), c);
		json_object_set_boolean_member(o, "passed", FALSE);
	}
	add_used_by(o, holder);
	return n;
}

/* {"address", "iommu_group", "devices": [{"address", "driver",
 * "original_driver"}]} after a bind or release. */
static JsonNode *group_state(HostPci *hp, const char *bdf)
{
	g_autoptr(GPtrArray) group = host_pci_group(hp, bdf, NULL);
	g_autoptr(HostPciDev) dev = host_pci_get(hp, bdf, NULL);
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "address");
	json_builder_add_string_value(b, bdf);
	json_builder_set_member_name(b, "iommu_group");
	if (dev && dev->iommu_group >= 0)
		json_builder_add_int_value(b, dev->iommu_group);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "devices");
	json_builder_begin_array(b);
	for (guint i = 0; group && i < group->len; i++) {
		g_autoptr(HostPciDev) m = host_pci_get(hp, group->pdata[i], NULL);
		g_autofree char *orig = host_pci_recorded_driver(hp, group->pdata[i], NULL);
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "address");
		json_builder_add_string_value(b, group->pdata[i]);
		json_builder_set_member_name(b, "driver");
		if (m && m->driver)
			json_builder_add_string_value(b, m->driver);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "original_driver");
		if (orig && *orig)
			json_builder_add_string_value(b, orig);
		else
			json_builder_add_null_value(b);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static bool refuse_if_held(Atolld *d, HostPci *hp, const char *bdf,
			   const char *what, GError **error)
{
	Domain *holder = pci_holder(d, hp, bdf, NULL);
	if (!holder)
		return true;
	set_error(error, ATOLLD_ERROR_CONFLICT, "%s (or its IOMMU group) is in use "
		  "by domain %s: %s it after %s stops", bdf, holder->name, what,
		  holder->name);
	return false;
}

/* The other endpoints of bdf's group that a host driver has: binding the
 * group would take them from the host, which must be asked for. */
static bool refuse_host_mates(HostPci *hp, const char *bdf, GError **error)
{
	g_autoptr(GPtrArray) group = host_pci_group(hp, bdf, NULL);
	g_autoptr(GString) mates = g_string_new(NULL);
	for (guint i = 0; group && i < group->len; i++) {
		g_autoptr(HostPciDev) m = host_pci_get(hp, group->pdata[i], NULL);
		/* Not even the device's other functions go unasked: on a
		 * chipset they are the SATA or LPC controller. */
		if (!m || !strcmp(m->bdf, bdf) || m->bridge ||
		    host_pci_driver_assignable(m->driver))
			continue;
		g_string_append_printf(mates, "%s%s (%s)", mates->len ? ", " : "",
				       m->bdf, m->driver);
	}
	if (!mates->len)
		return true;
	set_error(error, ATOLLD_ERROR_CONFLICT, "%s's IOMMU group also holds %s, "
		  "which the host would lose: pass \"group\": true (atoll "
		  "pci-assignable-add --group %s) if that is what you want, or move "
		  "the card to a slot with its own group", bdf, mates->str, bdf);
	return false;
}

JsonNode *passthrough_assignable_add(Atolld *d, const char *bdf, bool group,
				     GError **error)
{
	g_autoptr(HostPci) hp = open_host_pci(d);
	g_autoptr(GError) e = NULL;
	char norm[HOST_PCI_BDF_LEN];

	if (!normalise_bdf(bdf, norm, error) ||
	    !refuse_if_held(d, hp, norm, "make", error))
		return NULL;
	/* (a missing device has no mates: make_assignable names it) */
	if (!group && !refuse_host_mates(hp, norm, error))
		return NULL;
	if (!host_pci_make_assignable(hp, norm, "user", &e)) {
		propagate(error, e, NULL);
		return NULL;
	}
	g_message("PCI %s: IOMMU group bound to vfio-pci", norm);
	emit_device(d, "pci", norm, NULL, "assignable");
	return group_state(hp, norm);
}

JsonNode *passthrough_assignable_remove(Atolld *d, const char *bdf,
					GError **error)
{
	g_autoptr(HostPci) hp = open_host_pci(d);
	g_autoptr(GError) e = NULL;
	char norm[HOST_PCI_BDF_LEN];

	if (!normalise_bdf(bdf, norm, error) ||
	    !refuse_if_held(d, hp, norm, "release", error))
		return NULL;
	/* No domain holds it, so a domain's record is left over from a crash:
	 * release everything recorded. */
	if (!host_pci_release(hp, norm, NULL, &e)) {
		propagate(error, e, NULL);
		return NULL;
	}
	g_message("PCI %s: original drivers of its IOMMU group restored", norm);
	emit_device(d, "pci", norm, NULL, "released");
	return group_state(hp, norm);
}

/* ---- /v1/host/usb ---- */

static guint count_id(JsonArray *a, const char *id)
{
	guint n = 0;
	for (guint i = 0; i < json_array_get_length(a); i++)
		n += !g_strcmp0(json_object_get_string_member_with_default(
			json_array_get_object_element(a, i), "id", NULL), id);
	return n;
}

JsonNode *passthrough_host_usb(Atolld *d, GError **error)
{
	g_autoptr(GError) e = NULL;
	JsonNode *list = host_usb_list(d->sysfs_root, &e);
	if (!list) {
		propagate(error, e, NULL);
		return NULL;
	}
	JsonArray *a = json_node_get_array(list);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);
		const char *id = json_object_get_string_member(o, "id");
		const char *path = json_object_get_string_member_with_default(o, "path", NULL);
		Domain *holder = NULL;
		/* A hold by VID:PID names this device only when no twin is
		 * plugged in; holds by path (or resolved to one) always do. */
		if (path) {
			holder = usb_holder(d, path, path, NULL);
			if (!holder && count_id(a, id) == 1)
				holder = usb_holder(d, id, path, NULL);
		}
		add_used_by(o, holder);
	}
	return list;
}

/* The running domain holding a device of the host's list (by its path, or
 * by its id when no twin is plugged in) and the index of the hold. */
static Domain *usb_hold_of(Atolld *d, const char *id, const char *path,
			   bool id_unique, guint *index)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, d->domains);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		Domain *dom = v;
		if (!dom->usb_held || !domain_is_active(dom))
			continue;
		for (guint i = 0; i < dom->usb_held->len; i++) {
			const UsbHeld *h = dom->usb_held->pdata[i];
			if ((path && usb_same(h, path, path)) ||
			    (id_unique && id && !strcmp(h->host, id))) {
				*index = i;
				return dom;
			}
		}
	}
	return NULL;
}

Domain *passthrough_usb_user(Atolld *d, const char *id, const char *path,
			     bool id_unique)
{
	guint i;
	return usb_hold_of(d, id, path, id_unique, &i);
}

Domain *passthrough_usb_unplugged(Atolld *d, const char *id, const char *path,
				  bool id_unique)
{
	guint i;
	Domain *dom = usb_hold_of(d, id, path, id_unique, &i);

	/* The VMM drops the device from the guest by itself; what is left is
	 * the hold, which would refuse the device when it comes back. */
	if (dom) {
		g_message("domain %s: USB %s (%s) was unplugged from the host",
			  dom->name, ((UsbHeld *)dom->usb_held->pdata[i])->host,
			  path ? path : "?");
		g_ptr_array_remove_index(dom->usb_held, i);
	}
	return dom;
}

/* ---- definitions and domain start/stop ---- */

static bool def_has_pci(const DomainDef *def, const char *bdf)
{
	for (guint i = 0; def->pci && i < def->pci->len; i++)
		if (!strcmp(((PciDef *)def->pci->pdata[i])->host, bdf))
			return true;
	return false;
}

bool passthrough_check_definition(Atolld *d, const DomainDef *def,
				  GError **error)
{
	if (!def->pci || !def->pci->len)
		return true;
	g_autoptr(HostPci) hp = open_host_pci(d);
	for (guint i = 0; i < def->pci->len; i++) {
		const PciDef *pci = def->pci->pdata[i];
		g_autoptr(GPtrArray) sibs = host_pci_siblings(hp, pci->host);
		g_autoptr(GString) missing = g_string_new(NULL);
		g_autoptr(GString) add = g_string_new(NULL);
		for (guint j = 0; j < sibs->len; j++) {
			if (def_has_pci(def, sibs->pdata[j]))
				continue;
			g_string_append_printf(missing, "%s%s", missing->len ? ", " : "",
					       (char *)sibs->pdata[j]);
			g_string_append_printf(add, "%s{\"host\": \"%s\"}",
					       add->len ? ", " : "", (char *)sibs->pdata[j]);
		}
		if (missing->len) {
			set_error(error, ATOLLD_ERROR_BAD_REQUEST, "pci[%u].host: %s is one "
				  "function of a multi-function device; its other "
				  "functions (%s) must go to the same domain — add %s "
				  "to pci", i, pci->host, missing->str, add->str);
			return false;
		}
	}
	return true;
}

static bool check_in_use(Domain *dom, HostPci *hp, GPtrArray *usb_out,
			 GError **error)
{
	Atolld *d = dom->daemon;
	const DomainDef *def = dom->def;
	g_autoptr(JsonNode) cache = NULL;

	for (guint i = 0; def->pci && i < def->pci->len; i++) {
		const PciDef *pci = def->pci->pdata[i];
		Domain *holder = pci_holder(d, hp, pci->host, dom);
		if (holder) {
			set_error(error, ATOLLD_ERROR_CONFLICT, "pci[%u].host: %s (or its "
				  "IOMMU group) is in use by domain %s; stop %s first",
				  i, pci->host, holder->name, holder->name);
			return false;
		}
	}
	for (guint i = 0; def->usb && i < def->usb->len; i++) {
		const UsbDef *usb = def->usb->pdata[i];
		g_autofree char *path = usb_path_of(d, usb->host, &cache);
		Domain *holder = usb_holder(d, usb->host, path, dom);
		if (holder) {
			set_error(error, ATOLLD_ERROR_CONFLICT, "usb[%u].host: %s is in "
				  "use by domain %s; detach it there first (atoll "
				  "usb-detach %s %s)", i, usb->host, holder->name,
				  holder->name, usb->host);
			return false;
		}
		UsbHeld *h = g_new0(UsbHeld, 1);
		h->host = g_strdup(usb->host);
		h->path = g_steal_pointer(&path);
		g_ptr_array_add(usb_out, h);
	}
	return true;
}

static bool preflight_all(Domain *dom, HostPci *hp, GError **error)
{
	const DomainDef *def = dom->def;
	g_autoptr(GPtrArray) bdfs = g_ptr_array_new();

	for (guint i = 0; i < def->pci->len; i++)
		g_ptr_array_add(bdfs, ((PciDef *)def->pci->pdata[i])->host);
	g_ptr_array_add(bdfs, NULL);
	for (guint i = 0; i < def->pci->len; i++) {
		const PciDef *pci = def->pci->pdata[i];
		PreflightOptions opt = {
			.rom_file = pci->rom,
			.rebind = (const char *const *)bdfs->pdata,
		};
		g_autoptr(GPtrArray) r = host_pci_preflight(hp, pci->host, &opt);
		g_autofree char *why = host_pci_preflight_summary(r);
		if (why) {
			set_error(error, ATOLLD_ERROR_CONFLICT, "pci[%u].host: %s cannot "
				  "be passed through: %s", i, pci->host, why);
			return false;
		}
	}
	return true;
}

static void release_pci(Domain *dom, HostPci *hp, GPtrArray *bdfs)
{
	g_autofree char *owner = owner_of(dom);
	for (guint i = 0; bdfs && i < bdfs->len; i++) {
		g_autoptr(GError) e = NULL;
		if (!host_pci_release(hp, bdfs->pdata[i], owner, &e))
			g_warning("domain %s: %s", dom->name, e->message);
		else
			emit_device(dom->daemon, "pci", bdfs->pdata[i], dom->name,
				    "released");
	}
}

bool passthrough_domain_prepare(Domain *dom, GError **error)
{
	Atolld *d = dom->daemon;
	const DomainDef *def = dom->def;
	g_autoptr(GPtrArray) usb = g_ptr_array_new_with_free_func(usb_held_free);
	g_autoptr(GPtrArray) bound = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *owner = owner_of(dom);

	guint npci = def->pci ? def->pci->len : 0;
	if (!npci && (!def->usb || !def->usb->len))
		return true;
	g_autoptr(HostPci) hp = open_host_pci(d);
	if (!passthrough_check_definition(d, def, error) ||
	    !check_in_use(dom, hp, usb, error) ||
	    (npci && !preflight_all(dom, hp, error)))
		return false;
	for (guint i = 0; i < npci; i++) {
		const PciDef *pci = def->pci->pdata[i];
		g_autoptr(GError) e = NULL;
		if (!host_pci_make_assignable(hp, pci->host, owner, &e)) {
			release_pci(dom, hp, bound);
			g_autofree char *prefix = g_strdup_printf("pci[%u].host: ", i);
			propagate(error, e, prefix);
			return false;
		}
		g_ptr_array_add(bound, g_strdup(pci->host));
		emit_device(d, "pci", pci->host, dom->name, "assigned");
	}
	g_clear_pointer(&dom->pci_held, g_ptr_array_unref);
	g_clear_pointer(&dom->usb_held, g_ptr_array_unref);
	dom->pci_held = g_steal_pointer(&bound);
	dom->usb_held = g_steal_pointer(&usb);
	for (guint i = 0; i < dom->usb_held->len; i++)
		emit_device(d, "usb", ((UsbHeld *)dom->usb_held->pdata[i])->host,
			    dom->name, "attached");
	return true;
}

void passthrough_domain_release(Domain *dom)
{
	g_autoptr(GPtrArray) bdfs = g_ptr_array_new_with_free_func(g_free);

	/* The definition's devices too: after a restart of atolld a VMM that
	 * ended unwatched left its records, owned by this domain. */
	for (guint i = 0; dom->pci_held && i < dom->pci_held->len; i++)
		g_ptr_array_add(bdfs, g_strdup(dom->pci_held->pdata[i]));
	for (guint i = 0; dom->def && dom->def->pci && i < dom->def->pci->len; i++) {
		const char *h = ((PciDef *)dom->def->pci->pdata[i])->host;
		if (!g_ptr_array_find_with_equal_func(bdfs, h, g_str_equal, NULL))
			g_ptr_array_add(bdfs, g_strdup(h));
	}
	if (bdfs->len) {
		g_autoptr(HostPci) hp = open_host_pci(dom->daemon);
		release_pci(dom, hp, bdfs);
	}
	for (guint i = 0; dom->usb_held && i < dom->usb_held->len; i++)
		emit_device(dom->daemon, "usb", ((UsbHeld *)dom->usb_held->pdata[i])->host,
			    dom->name, "detached");
	g_clear_pointer(&dom->pci_held, g_ptr_array_unref);
	g_clear_pointer(&dom->usb_held, g_ptr_array_unref);
}

void passthrough_domain_adopt(Domain *dom)
{
	const DomainDef *def = dom->def;
	g_autoptr(JsonNode) cache = NULL;

	if (!def)
		return;
	g_clear_pointer(&dom->pci_held, g_ptr_array_unref);
	g_clear_pointer(&dom->usb_held, g_ptr_array_unref);
	dom->pci_held = g_ptr_array_new_with_free_func(g_free);
	dom->usb_held = g_ptr_array_new_with_free_func(usb_held_free);
	for (guint i = 0; def->pci && i < def->pci->len; i++)
		g_ptr_array_add(dom->pci_held,
				g_strdup(((PciDef *)def->pci->pdata[i])->host));
	/* Hot-attached devices of the old atolld are not known any more. */
	for (guint i = 0; def->usb && i < def->usb->len; i++) {
		UsbHeld *h = g_new0(UsbHeld, 1);
		h->host = g_strdup(((UsbDef *)def->usb->pdata[i])->host);
		h->path = usb_path_of(dom->daemon, h->host, &cache);
		g_ptr_array_add(dom->usb_held, h);
	}
}

/* In --pci/--usb values a comma is written ",,". */
static char *escape_commas(const char *s)
{
	GString *out = g_string_new(NULL);
	for (; *s; s++) {
		if (*s == ',')
			g_string_append_c(out, ',');
		g_string_append_c(out, *s);
	}
	return g_string_free(out, FALSE);
}

void passthrough_add_argv(const DomainDef *def, GPtrArray *argv)
{
	for (guint i = 0; def->pci && i < def->pci->len; i++) {
		const PciDef *pci = def->pci->pdata[i];
		g_autofree char *rom = pci->rom ? escape_commas(pci->rom) : NULL;
		g_ptr_array_add(argv, g_strdup("--pci"));
		g_ptr_array_add(argv, rom ? g_strdup_printf("host=%s,rom=%s", pci->host, rom)
					  : g_strdup_printf("host=%s", pci->host));
	}
	/* --usb brings the controller; without entries it is asked for. */
	if (def->usb_controller && (!def->usb || !def->usb->len))
		g_ptr_array_add(argv, g_strdup("--xhci"));
	for (guint i = 0; def->usb && i < def->usb->len; i++) {
		g_ptr_array_add(argv, g_strdup("--usb"));
		g_ptr_array_add(argv, g_strdup_printf("host=%s",
			((UsbDef *)def->usb->pdata[i])->host));
	}
}

/* ---- USB hot-plug ---- */

typedef struct {
	Atolld *d;
	char *name;          /* the domain, looked up again on the reply */
	char *host, *path;
	bool attach;
	PassthroughDone done;
	gpointer data;
} UsbOp;

static void usb_op_free(UsbOp *op)
{
	g_free(op->name);
	g_free(op->host);
	g_free(op->path);
	g_free(op);
}

static void usb_op_done(JsonObject *reply, const GError *error, gpointer data)
{
	UsbOp *op = data;
	Domain *dom = reply ? atolld_lookup(op->d, op->name) : NULL;

	if (!reply) {
		g_autoptr(GError) e = NULL;
		set_error(&e, g_error_matches(error, G_IO_ERROR, G_IO_ERROR_FAILED) ?
			  ATOLLD_ERROR_CONFLICT : ATOLLD_ERROR_HOST, "domain %s: the "
			  "VMM did not %s %s: %s", op->name, op->attach ? "attach" :
			  "detach", op->host, error->message);
		op->done(NULL, e, op->data);
		usb_op_free(op);
		return;
	}
	if (dom && op->attach) {
		UsbHeld *h = g_new0(UsbHeld, 1);
		h->host = g_strdup(op->host);
		h->path = g_strdup(op->path);
		if (!dom->usb_held)
			dom->usb_held = g_ptr_array_new_with_free_func(usb_held_free);
		g_ptr_array_add(dom->usb_held, h);
	} else if (dom && dom->usb_held) {
		for (guint i = 0; i < dom->usb_held->len; i++)
			if (usb_same(dom->usb_held->pdata[i], op->host, op->path)) {
				g_ptr_array_remove_index(dom->usb_held, i);
				break;
			}
	}
	emit_device(op->d, "usb", op->host, op->name, op->attach ? "attached" : "detached");
	g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
	json_node_set_object(n, reply);
	op->done(n, NULL, op->data);
	usb_op_free(op);
}

static VmmClient *usb_control(Domain *dom, GError **error)
{
	VmmClient *c = supervisor_control(dom);
	if (!c || !vmm_client_connected(c)) {
		set_error(error, ATOLLD_ERROR_CONFLICT, "domain %s is not running%s; "
			  "hot-plug needs a running domain (or put the device in "
			  "its definition's usb list)", dom->name,
			  c ? " yet (its control socket is not up)" : "");
		return NULL;
	}
	return c;
}

static void usb_request(Domain *dom, const char *host, bool attach,
			PassthroughDone done, gpointer data)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(JsonNode) cache = NULL;
	UsbSpec spec;
	VmmClient *c;

	if (!host_usb_parse_spec(host, &spec)) {
		set_error(&e, ATOLLD_ERROR_BAD_REQUEST, "host: \"%s\" is not a USB "
			  "device — write vendor:product (\"046d:c52b\") or bus-port "
			  "(\"1-4.2\"), as atoll usb-list shows them", host);
		done(NULL, e, data);
		return;
	}
	if (!(c = usb_control(dom, &e))) {
		done(NULL, e, data);
		return;
	}
	/* The VMM would say the same, in its own (flag) terms. */
	if (attach && dom->def && !dom->def->usb_controller &&
	    (!dom->def->usb || !dom->def->usb->len)) {
		set_error(&e, ATOLLD_ERROR_CONFLICT, "domain %s has no USB controller "
			  "to plug %s into: set \"usb_controller\": true in its "
			  "definition (or list a device in \"usb\") and restart it",
			  dom->name, host);
		done(NULL, e, data);
		return;
	}
	UsbOp *op = g_new0(UsbOp, 1);
	op->d = dom->daemon;
	op->name = g_strdup(dom->name);
	op->host = host_usb_spec_string(&spec);
	op->path = usb_path_of(dom->daemon, op->host, &cache);
	op->attach = attach;
	op->done = done;
	op->data = data;
	UsbHeld *mine = NULL;
	for (guint i = 0; dom->usb_held && i < dom->usb_held->len; i++)
		if (usb_same(dom->usb_held->pdata[i], op->host, op->path))
			mine = dom->usb_held->pdata[i];
	Domain *other = attach ? usb_holder(dom->daemon, op->host, op->path, dom) : NULL;
	if (other || (attach && mine) || (!attach && !mine)) {
		if (other)
			set_error(&e, ATOLLD_ERROR_CONFLICT, "%s is in use by domain %s; "
				  "detach it there first (atoll usb-detach %s %s)",
				  op->host, other->name, other->name, op->host);
		else if (mine)
			set_error(&e, ATOLLD_ERROR_CONFLICT, "%s is already attached to "
				  "domain %s", op->host, dom->name);
		else
			set_error(&e, ATOLLD_ERROR_NOT_FOUND, "%s is not attached to "
				  "domain %s (GET /v1/domains/%s shows status.usb)",
				  op->host, dom->name, dom->name);
		done(NULL, e, data);
		usb_op_free(op);
		return;
	}
	/* Detach names the device as it was attached, so the VMM finds it. */
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_string_member(args, "host", attach ? op->host : mine->host);
	vmm_client_request(c, attach ? "usb-attach" : "usb-detach", args,
			   usb_op_done, op);
}

void passthrough_usb_attach(Domain *dom, const char *spec, PassthroughDone done,
			    gpointer data)
{
	usb_request(dom, spec, true, done, data);
}

void passthrough_usb_detach(Domain *dom, const char *spec, PassthroughDone done,
			    gpointer data)
{
	usb_request(dom, spec, false, done, data);
}

JsonNode *passthrough_domain_usb(Domain *dom)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_array(b);
	for (guint i = 0; dom->usb_held && i < dom->usb_held->len; i++) {
		const UsbHeld *h = dom->usb_held->pdata[i];
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "host");
		json_builder_add_string_value(b, h->host);
		json_builder_set_member_name(b, "path");
		if (h->path)
			json_builder_add_string_value(b, h->path);
		else
			json_builder_add_null_value(b);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	return json_builder_get_root(b);
}
