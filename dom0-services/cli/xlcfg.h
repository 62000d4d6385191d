/* xl.cfg(5) files: parsing, and mapping to an Atoll domain definition
 * (docs/cli.md has the mapping table). */
#ifndef ATOLL_XLCFG_H
#define ATOLL_XLCFG_H

#include <glib.h>
#include <json-glib/json-glib.h>

#define XLCFG_ERROR xlcfg_error_quark()
GQuark xlcfg_error_quark(void);

typedef enum {
	XLCFG_ERROR_SYNTAX,    /* the file does not parse */
	XLCFG_ERROR_MAPPING,   /* it parses but cannot become a definition */
} XlcfgError;

typedef enum { XL_STRING, XL_NUMBER, XL_LIST } XlValueType;

typedef struct XlValue {
	XlValueType type;
	char *text;             /* XL_STRING (unescaped), XL_NUMBER (as written) */
	GPtrArray *items;       /* XL_LIST: XlValue* */
	int line;
} XlValue;

typedef struct {
	char *key;
	XlValue *value;
	int line;
} XlSetting;

typedef struct {
	char *filename;         /* for messages: "FILE:LINE: ..." */
	GPtrArray *settings;    /* XlSetting*, in file order, one per key
				 * (a repeated key replaces the earlier one,
				 * "+=" appends to it) */
} XlConfig;

/* Errors are XLCFG_ERROR_SYNTAX with "FILE:LINE: what" messages. */
XlConfig *xlcfg_parse(const char *text, const char *filename, GError **error);
void xlcfg_free(XlConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XlConfig, xlcfg_free)

const XlSetting *xlcfg_lookup(const XlConfig *cfg, const char *key);

/* Does any vif of cfg name a bridge?  (Then the caller fetches the
 * bridge -> network table from atolld.) */
gboolean xlcfg_uses_bridges(const XlConfig *cfg);

/* The Atoll definition for cfg.  bridges maps a bridge name or a libvirt
 * network name to the network's name; NULL means "trust the bridge name
 * to be the network name".  notes (may be NULL) receives one line per
 * ignored key or value and per lossy mapping, "xl.cfg: ...". */
JsonNode *xlcfg_to_definition(const XlConfig *cfg, GHashTable *bridges,
			      GPtrArray *notes, GError **error);

#endif
