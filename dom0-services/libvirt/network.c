/* libvirt virtual networks: the list for GET /v1/networks and the bridge a
 * NIC's tap joins. */
#include "internal.h"

#include <arpa/inet.h>
#include <string.h>

/* Netmask "255.255.255.0" -> 24; -1 if it is not a contiguous mask. */
static int netmask_prefix(const char *mask)
{
	struct in_addr a;
	guint32 m;
	int n = 0;

	if (!mask || inet_pton(AF_INET, mask, &a) != 1)
		return -1;
	m = ntohl(a.s_addr);
	while (m & 0x80000000u) {
		n++;
		m <<= 1;
	}
	return m ? -1 : n;
}

/* libvirt leaves out mode for its default (NAT); no <forward> at all is an
 * isolated network. */
static char *forward_mode(LvXml *x)
{
	g_autofree char *mode = lv_xml_str(x, NULL, "/network/forward/@mode");
	g_autoptr(xmlXPathObject) fw = NULL;
	bool has_forward;

	if (mode)
		return g_steal_pointer(&mode);
	fw = lv_xml_nodes(x, NULL, "/network/forward");
	has_forward = fw && fw->nodesetval && fw->nodesetval->nodeNr > 0;
	return g_strdup(has_forward ? "nat" : "isolated");
}

static void add_ipv4(JsonBuilder *b, LvXml *x)
{
	const char *ip = "/network/ip[not(@family) or @family='ipv4'][1]";
	g_autofree char *path = NULL, *addr = NULL, *prefix = NULL;
	g_autofree char *mask = NULL, *start = NULL, *end = NULL;
	guint64 p = 0;
	int plen = -1;

	json_builder_set_member_name(b, "ipv4");
	path = g_strdup_printf("%s/@address", ip);
	addr = lv_xml_str(x, NULL, path);
	if (!addr) {
		json_builder_add_null_value(b);
		return;
	}
	g_free(path);
	path = g_strdup_printf("%s/@prefix", ip);
	prefix = lv_xml_str(x, NULL, path);
	g_free(path);
	path = g_strdup_printf("%s/@netmask", ip);
	mask = lv_xml_str(x, NULL, path);
	if (prefix && lv_parse_u64(prefix, &p) && p <= 32)
		plen = (int)p;
	else if (mask)
		plen = netmask_prefix(mask);

	json_builder_begin_object(b);
	lv_json_str(b, "address", addr);
	json_builder_set_member_name(b, "prefix");
	if (plen >= 0)
		json_builder_add_int_value(b, plen);
	else
		json_builder_add_null_value(b);
	g_free(path);
	path = g_strdup_printf("%s/dhcp/range[1]/@start", ip);
	start = lv_xml_str(x, NULL, path);
	g_free(path);
	path = g_strdup_printf("%s/dhcp/range[1]/@end", ip);
	end = lv_xml_str(x, NULL, path);
	json_builder_set_member_name(b, "dhcp");
	if (start && end) {
		json_builder_begin_object(b);
		lv_json_str(b, "start", start);
		lv_json_str(b, "end", end);
		json_builder_end_object(b);
	} else {
		json_builder_add_null_value(b);
	}
	json_builder_end_object(b);
}

static void add_bool(JsonBuilder *b, const char *key, int v)
{
	json_builder_set_member_name(b, key);
	json_builder_add_boolean_value(b, v == 1);
}

static bool add_network(JsonBuilder *b, virNetworkPtr net, GError **error)
{
	const char *name = virNetworkGetName(net);
	g_autofree char *xml = virNetworkGetXMLDesc(net, 0);
	g_autofree char *bridge = NULL, *mode = NULL;
	g_auto(LvXml) x = { 0 };
	int autostart = 0;

	if (!xml) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot read libvirt network '%s': %s", name,
			    lv_last_error());
		return false;
	}
	if (!lv_xml_parse(&x, xml, "network XML", error))
		return false;
	bridge = lv_xml_str(&x, NULL, "/network/bridge/@name");
	mode = forward_mode(&x);
	if (virNetworkGetAutostart(net, &autostart) < 0)
		autostart = 0;

	json_builder_begin_object(b);
	lv_json_str(b, "name", name);
	lv_json_str(b, "bridge", bridge);
	add_bool(b, "active", virNetworkIsActive(net));
	add_bool(b, "autostart", autostart);
	add_bool(b, "persistent", virNetworkIsPersistent(net));
	lv_json_str(b, "forward", mode);
	add_ipv4(b, &x);
	json_builder_end_object(b);
	return true;
}

static int net_cmp(const void *a, const void *b)
{
	return strcmp(virNetworkGetName(*(virNetworkPtr const *)a),
		      virNetworkGetName(*(virNetworkPtr const *)b));
}

JsonNode *atoll_libvirt_list_networks(AtollLibvirt *lv, GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	virNetworkPtr *nets = NULL;
	bool ok = true;
	int n;

	if (!lv_ensure_alive(lv, error))
		return NULL;
	n = virConnectListAllNetworks(lv->conn, &nets, 0);
	if (n < 0 && lv_retry_after_failure(lv))
		n = virConnectListAllNetworks(lv->conn, &nets, 0);
	if (n < 0) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot list libvirt networks on %s: %s — check that "
			    "the network driver (virtnetworkd or libvirtd) is running",
			    lv->uri, lv_last_error());
		return NULL;
	}
	qsort(nets, (size_t)n, sizeof(*nets), net_cmp);
	json_builder_begin_array(b);
	for (int i = 0; i < n; i++) {
		if (ok)
			ok = add_network(b, nets[i], error);
		virNetworkFree(nets[i]);
	}
	free(nets);
	json_builder_end_array(b);
	return ok ? json_builder_get_root(b) : NULL;
}

static virNetworkPtr lookup_network(AtollLibvirt *lv, const char *name,
				    GError **error)
{
	virNetworkPtr net = virNetworkLookupByName(lv->conn, name);

	if (!net && lv_retry_after_failure(lv))
		net = virNetworkLookupByName(lv->conn, name);
	if (net)
		return net;
	if (lv_last_error_code() == VIR_ERR_NO_NETWORK)
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_NOT_FOUND,
			    "libvirt network '%s' does not exist — list the networks "
			    "with `virsh net-list --all` (or GET /v1/networks)", name);
	else
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot look up libvirt network '%s': %s", name,
			    lv_last_error());
	return NULL;
}

char *atoll_libvirt_network_bridge(AtollLibvirt *lv, const char *network,
				   GError **error)
{
	virNetworkPtr net;
	g_autofree char *xml = NULL, *bridge = NULL, *mode = NULL;
	g_auto(LvXml) x = { 0 };
	int active;

	if (!network || !network[0]) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "no libvirt network named — set the NIC's \"network\"");
		return NULL;
	}
	if (!lv_ensure_alive(lv, error))
		return NULL;
	net = lookup_network(lv, network, error);
	if (!net)
		return NULL;
	active = virNetworkIsActive(net);
	xml = virNetworkGetXMLDesc(net, 0);
	virNetworkFree(net);
	if (active == 0) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INACTIVE,
			    "libvirt network '%s' is not active — start it with "
			    "`virsh net-start %s` (and `virsh net-autostart %s` to "
			    "start it at boot)", network, network, network);
		return NULL;
	}
	if (active < 0 || !xml) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot read libvirt network '%s': %s", network,
			    lv_last_error());
		return NULL;
	}
	if (!lv_xml_parse(&x, xml, "network XML", error))
		return NULL;
	bridge = lv_xml_str(&x, NULL, "/network/bridge/@name");
	if (!bridge) {
		mode = forward_mode(&x);
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNSUPPORTED,
			    "libvirt network '%s' (forward mode %s) has no bridge: "
			    "Atoll attaches NICs to a bridge with a tap and cannot use "
			    "macvtap/hostdev networks yet — use a NAT, routed, open or "
			    "bridge-backed network", network, mode);
		return NULL;
	}
	return g_steal_pointer(&bridge);
}
