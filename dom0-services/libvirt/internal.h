/* Helpers shared by the libvirt host-resource files; not part of the API. */
#ifndef ATOLL_LIBVIRT_INTERNAL_H
#define ATOLL_LIBVIRT_INTERNAL_H

#include "hostres.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>

struct AtollLibvirt {
	virConnectPtr conn;
	char *uri;
	char *sysfs_root;   /* NULL: no sysfs fallback */
};

/* Reconnect when the daemon closed the connection; false with an
 * UNREACHABLE error when it cannot be reached. */
bool lv_ensure_alive(AtollLibvirt *lv, GError **error);
/* After a failed call: true if the connection had died and is open again,
 * so the call should be made once more. */
bool lv_retry_after_failure(AtollLibvirt *lv);

/* libvirt's last error message on this thread, or "unknown error". */
const char *lv_last_error(void);
/* The last libvirt error code on this thread (virErrorNumber), or 0. */
int lv_last_error_code(void);

/* A parsed XML document with an XPath context on it. */
typedef struct {
	xmlDocPtr doc;
	xmlXPathContextPtr ctx;
} LvXml;

/* Parse without network access or entity expansion: the XML may come from
 * a remote libvirt. `what` names the document in the error. */
bool lv_xml_parse(LvXml *x, const char *xml, const char *what, GError **error);
void lv_xml_clear(LvXml *x);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(LvXml, lv_xml_clear)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)
/* The string value of `expr` evaluated at `node` (NULL: the root), or NULL
 * when it is empty or does not exist.  Returns a new string. */
char *lv_xml_str(LvXml *x, xmlNodePtr node, const char *expr);
/* The nodes `expr` selects at `node`; free with xmlXPathFreeObject.  The
 * node set is obj->nodesetval (may be NULL or empty). */
xmlXPathObjectPtr lv_xml_nodes(LvXml *x, xmlNodePtr node, const char *expr);
/* Parse an integer attribute/element value (decimal or 0x hex). */
bool lv_parse_u64(const char *s, guint64 *out);

/* Add "key": value, or "key": null when value is NULL. */
void lv_json_str(JsonBuilder *b, const char *key, const char *value);

#endif
