/* The libvirt connection, libvirt error reporting, and the XML/JSON
 * helpers the other files share. */
#include "internal.h"

#include <errno.h>
#include <string.h>

G_DEFINE_QUARK(atoll-libvirt-error-quark, atoll_libvirt_error)

/* libvirt prints every error to stderr by default; we report them through
 * GError instead, so the default handler is silenced once per process. */
static void lv_quiet(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static void lv_init_once(void)
{
	static gsize done;

	if (g_once_init_enter(&done)) {
		virInitialize();
		virSetErrorFunc(NULL, lv_quiet);
		xmlInitParser();
		g_once_init_leave(&done, 1);
	}
}

/* The failure lv_retry_after_failure() looked at, kept because its own
 * virConnectIsAlive() call resets libvirt's last error. */
static void kept_free(gpointer p)
{
	virResetError(p);
	g_free(p);
}

/* Per thread, freed when the thread exits (a plain __thread variable would
 * leak the strings it holds). */
static GPrivate kept_key = G_PRIVATE_INIT(kept_free);

static virErrorPtr kept(void)
{
	virErrorPtr e = g_private_get(&kept_key);
	if (!e) {
		e = g_new0(virError, 1);
		g_private_set(&kept_key, e);
	}
	return e;
}

/* libvirt's error if it has one, else the one a retry check kept. */
static virErrorPtr last_error(void)
{
	virErrorPtr e = virGetLastError();

	if (e && e->code != VIR_ERR_OK)
		return e;
	return kept()->code != VIR_ERR_OK ? kept() : NULL;
}

const char *lv_last_error(void)
{
	virErrorPtr e = last_error();

	return e && e->message ? e->message : "unknown error";
}

int lv_last_error_code(void)
{
	virErrorPtr e = last_error();

	return e ? e->code : 0;
}

/* Why virConnectOpen failed, in terms of what the user should do. */
static void open_error(const char *uri, GError **error)
{
	virErrorPtr e = virGetLastError();
	int code = e ? e->code : 0;
	int sys = e && e->code == VIR_ERR_SYSTEM_ERROR ? e->int1 : 0;
	const char *msg = lv_last_error();

	if (code == VIR_ERR_NO_CONNECT && e && e->domain == VIR_FROM_NONE) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "libvirt URI '%s' is not usable (%s) — use e.g. %s",
			    uri, msg, ATOLL_LIBVIRT_DEFAULT_URI);
	} else if (sys == ENOENT || sys == ECONNREFUSED ||
		   strstr(msg, "Failed to connect socket")) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNREACHABLE,
			    "cannot connect to libvirt at %s: the libvirt daemon is "
			    "not running (%s) — start it with `systemctl start "
			    "libvirtd` (or virtqemud and virtnetworkd), or run "
			    "`libvirtd -d`", uri, msg);
	} else if (sys == EACCES || sys == EPERM || code == VIR_ERR_AUTH_FAILED ||
		   code == VIR_ERR_AUTH_CANCELLED) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNREACHABLE,
			    "cannot connect to libvirt at %s: permission denied (%s) "
			    "— run atolld as root or in the `libvirt` group", uri, msg);
	} else {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNREACHABLE,
			    "cannot connect to libvirt at %s: %s — check that the "
			    "URI is right and the libvirt daemon is running", uri, msg);
	}
}

/* Devices of a remote host or of the test driver are not in our /sys. */
static bool uri_is_local_host(const char *uri)
{
	g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_NONE, NULL);
	const char *scheme, *host;

	if (!u)
		return false;
	scheme = g_uri_get_scheme(u);
	host = g_uri_get_host(u);
	if (g_str_has_prefix(scheme, "test"))
		return false;
	return !host || !host[0];
}

AtollLibvirt *atoll_libvirt_open(const char *uri, GError **error)
{
	AtollLibvirt *lv;
	virConnectPtr conn;

	lv_init_once();
	if (!uri)
		uri = ATOLL_LIBVIRT_DEFAULT_URI;
	conn = virConnectOpen(uri);
	if (!conn) {
		open_error(uri, error);
		return NULL;
	}
	lv = g_new0(AtollLibvirt, 1);
	lv->conn = conn;
	lv->uri = g_strdup(uri);
	lv->sysfs_root = uri_is_local_host(uri) ? g_strdup("/sys") : NULL;
	return lv;
}

static bool reconnect(AtollLibvirt *lv, GError **error)
{
	virConnectPtr conn = virConnectOpen(lv->uri);

	if (!conn) {
		open_error(lv->uri, error);
		return false;
	}
	virConnectClose(lv->conn);
	lv->conn = conn;
	return true;
}

/* libvirtd restarted (package upgrade, crash): a dead connection never
 * recovers by itself, and atolld would fail until it restarted too. */
bool lv_ensure_alive(AtollLibvirt *lv, GError **error)
{
	if (virConnectIsAlive(lv->conn) == 1)
		return true;
	return reconnect(lv, error);
}

bool lv_retry_after_failure(AtollLibvirt *lv)
{
	virError failure = { 0 };
	bool again;

	virCopyLastError(&failure);
	again = virConnectIsAlive(lv->conn) != 1 && reconnect(lv, NULL);
	virResetError(kept());
	if (again)
		virResetError(&failure);
	else
		*kept() = failure;
	return again;
}

void atoll_libvirt_close(AtollLibvirt *lv)
{
	if (!lv)
		return;
	virConnectClose(lv->conn);
	g_free(lv->uri);
	g_free(lv->sysfs_root);
	g_free(lv);
}

const char *atoll_libvirt_uri(const AtollLibvirt *lv)
{
	return lv->uri;
}

virConnectPtr atoll_libvirt_conn(const AtollLibvirt *lv)
{
	return lv->conn;
}

void atoll_libvirt_set_sysfs_root(AtollLibvirt *lv, const char *root)
{
	g_free(lv->sysfs_root);
	lv->sysfs_root = g_strdup(root);
}

/* ---- XML ------------------------------------------------------------------ */

bool lv_xml_parse(LvXml *x, const char *xml, const char *what, GError **error)
{
	xmlErrorPtr xe;
	g_autofree char *why = NULL;

	lv_init_once();
	memset(x, 0, sizeof(*x));
	x->doc = xmlReadMemory(xml, (int)strlen(xml), what, NULL,
			       XML_PARSE_NONET | XML_PARSE_NOERROR |
			       XML_PARSE_NOWARNING);
	if (!x->doc) {
		xe = xmlGetLastError();
		why = g_strstrip(g_strdup(xe && xe->message ? xe->message
						    : "parse error"));
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "%s is not valid XML (line %d: %s) — check the XML "
			    "libvirt gave (virsh dumpxml)", what, xe ? xe->line : 0,
			    why);
		return false;
	}
	x->ctx = xmlXPathNewContext(x->doc);
	if (!x->ctx) {
		xmlFreeDoc(x->doc);
		x->doc = NULL;
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "out of memory parsing %s", what);
		return false;
	}
	return true;
}

void lv_xml_clear(LvXml *x)
{
	if (x->ctx)
		xmlXPathFreeContext(x->ctx);
	if (x->doc)
		xmlFreeDoc(x->doc);
	memset(x, 0, sizeof(*x));
}

char *lv_xml_str(LvXml *x, xmlNodePtr node, const char *expr)
{
	g_autofree char *full = g_strdup_printf("string(%s)", expr);
	xmlXPathObjectPtr obj;
	char *s = NULL;

	x->ctx->node = node ? node : xmlDocGetRootElement(x->doc);
	obj = xmlXPathEvalExpression((const xmlChar *)full, x->ctx);
	if (obj && obj->type == XPATH_STRING && obj->stringval &&
	    obj->stringval[0])
		s = g_strstrip(g_strdup((const char *)obj->stringval));
	xmlXPathFreeObject(obj);
	if (s && !s[0]) {
		g_free(s);
		s = NULL;
	}
	return s;
}

xmlXPathObjectPtr lv_xml_nodes(LvXml *x, xmlNodePtr node, const char *expr)
{
	x->ctx->node = node ? node : xmlDocGetRootElement(x->doc);
	return xmlXPathEvalExpression((const xmlChar *)expr, x->ctx);
}

bool lv_parse_u64(const char *s, guint64 *out)
{
	char *end;
	guint64 v;

	if (!s || !s[0] || s[0] == '-')
		return false;
	errno = 0;
	v = g_ascii_strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

void lv_json_str(JsonBuilder *b, const char *key, const char *value)
{
	json_builder_set_member_name(b, key);
	if (value)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}
