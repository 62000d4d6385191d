/* xl.cfg(5) parser and the xl.cfg -> Atoll definition mapping. */
#include "xlcfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(atoll-xlcfg-error-quark, xlcfg_error)

/* ---- values ------------------------------------------------------------ */

static void xl_value_free(XlValue *v)
{
	if (!v)
		return;
	g_free(v->text);
	if (v->items)
		g_ptr_array_unref(v->items);
	g_free(v);
}

static XlValue *xl_value_new(XlValueType type, int line)
{
	XlValue *v = g_new0(XlValue, 1);
	v->type = type;
	v->line = line;
	if (type == XL_LIST)
		v->items = g_ptr_array_new_with_free_func((GDestroyNotify)xl_value_free);
	return v;
}

static void xl_setting_free(XlSetting *s)
{
	g_free(s->key);
	xl_value_free(s->value);
	g_free(s);
}

void xlcfg_free(XlConfig *cfg)
{
	if (!cfg)
		return;
	g_free(cfg->filename);
	g_ptr_array_unref(cfg->settings);
	g_free(cfg);
}

const XlSetting *xlcfg_lookup(const XlConfig *cfg, const char *key)
{
	for (guint i = 0; i < cfg->settings->len; i++) {
		const XlSetting *s = g_ptr_array_index(cfg->settings, i);
		if (strcmp(s->key, key) == 0)
			return s;
	}
	return NULL;
}

/* ---- lexer ------------------------------------------------------------- */

typedef enum {
	T_EOF, T_NEWLINE, T_IDENT, T_STRING, T_NUMBER,
	T_ASSIGN, T_APPEND, T_LBRACKET, T_RBRACKET, T_COMMA, T_SEMICOLON,
} TokenType;

typedef struct {
	const char *p;
	int line;
	const char *filename;
	TokenType type;
	char *text;       /* T_IDENT, T_STRING (unescaped), T_NUMBER */
	int tok_line;
} Lexer;

static gboolean lex_fail(Lexer *lx, GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean lex_fail(Lexer *lx, GError **error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, XLCFG_ERROR, XLCFG_ERROR_SYNTAX, "%s:%d: %s",
		    lx->filename, lx->tok_line, what);
	return FALSE;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One backslash escape after the backslash; appends to s. */
static gboolean lex_escape(Lexer *lx, GString *s, GError **error)
{
	char c = *lx->p++;
	switch (c) {
	case 'n': g_string_append_c(s, '\n'); return TRUE;
	case 't': g_string_append_c(s, '\t'); return TRUE;
	case 'r': g_string_append_c(s, '\r'); return TRUE;
	case '\\': case '\'': case '"': g_string_append_c(s, c); return TRUE;
	case 'x': {
		int hi = hexval(lx->p[0]), lo = hi >= 0 ? hexval(lx->p[1]) : -1;
		if (hi < 0 || lo < 0)
			return lex_fail(lx, error, "\\x needs two hex digits");
		g_string_append_c(s, (char)(hi * 16 + lo));
		lx->p += 2;
		return TRUE;
	}
	default:
		if (c >= '0' && c <= '7') {
			int v = c - '0';
			for (int i = 0; i < 2 && *lx->p >= '0' && *lx->p <= '7'; i++)
				v = v * 8 + (*lx->p++ - '0');
			if (v == 0 || v > 255)
				return lex_fail(lx, error, "bad octal escape");
			g_string_append_c(s, (char)v);
			return TRUE;
		}
		return lex_fail(lx, error, "unknown escape '\\%c' in a string",
				c ? c : '0');
	}
}

static gboolean lex_string(Lexer *lx, GError **error)
{
	char quote = *lx->p++;
	g_autoptr(GString) s = g_string_new(NULL);
	for (;;) {
		char c = *lx->p;
		if (c == '\0' || c == '\n')
			return lex_fail(lx, error, "unterminated string (missing %c)", quote);
		lx->p++;
		if (c == quote)
			break;
		if (c == '\\') {
			if (!lex_escape(lx, s, error))
				return FALSE;
			continue;
		}
		g_string_append_c(s, c);
	}
	lx->type = T_STRING;
	lx->text = g_string_free(g_steal_pointer(&s), FALSE);
	return TRUE;
}

static gboolean lex_next(Lexer *lx, GError **error)
{
	g_clear_pointer(&lx->text, g_free);
	for (;;) {
		while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r')
			lx->p++;
		if (*lx->p == '#')
			while (*lx->p && *lx->p != '\n')
				lx->p++;
		/* A backslash-newline continues the line. */
		if (lx->p[0] == '\\' && lx->p[1] == '\n') {
			lx->p += 2;
			lx->line++;
			continue;
		}
		break;
	}
	lx->tok_line = lx->line;
	char c = *lx->p;
	const char *start = lx->p;
	switch (c) {
	case '\0': lx->type = T_EOF; return TRUE;
	case '\n': lx->p++; lx->line++; lx->type = T_NEWLINE; return TRUE;
	case '=': lx->p++; lx->type = T_ASSIGN; return TRUE;
	case '[': lx->p++; lx->type = T_LBRACKET; return TRUE;
	case ']': lx->p++; lx->type = T_RBRACKET; return TRUE;
	case ',': lx->p++; lx->type = T_COMMA; return TRUE;
	case ';': lx->p++; lx->type = T_SEMICOLON; return TRUE;
	case '"': case '\'': return lex_string(lx, error);
	case '+':
		if (lx->p[1] == '=') {
			lx->p += 2;
			lx->type = T_APPEND;
			return TRUE;
		}
		break;
	default:
		break;
	}
	if (g_ascii_isalpha(c) || c == '_') {
		while (g_ascii_isalnum(*lx->p) || *lx->p == '_')
			lx->p++;
		lx->type = T_IDENT;
	} else if (g_ascii_isdigit(c) || (c == '-' && g_ascii_isdigit(lx->p[1]))) {
		lx->p++;
		while (g_ascii_isalnum(*lx->p) || *lx->p == '.' || *lx->p == '_')
			lx->p++;
		lx->type = T_NUMBER;
	} else {
		return lex_fail(lx, error, "unexpected character '%c'", c);
	}
	lx->text = g_strndup(start, lx->p - start);
	return TRUE;
}

/* ---- parser ------------------------------------------------------------ */

static gboolean skip_newlines(Lexer *lx, GError **error)
{
	while (lx->type == T_NEWLINE)
		if (!lex_next(lx, error))
			return FALSE;
	return TRUE;
}

static XlValue *parse_value(Lexer *lx, GError **error);

/* After '['; newlines are free inside a list; a trailing comma is fine. */
static XlValue *parse_list(Lexer *lx, GError **error)
{
	g_autoptr(GPtrArray) hold = g_ptr_array_new_with_free_func((GDestroyNotify)xl_value_free);
	XlValue *list = xl_value_new(XL_LIST, lx->tok_line);
	g_ptr_array_add(hold, list);
	if (!lex_next(lx, error) || !skip_newlines(lx, error))
		return NULL;
	while (lx->type != T_RBRACKET) {
		XlValue *item = parse_value(lx, error);
		if (!item)
			return NULL;
		g_ptr_array_add(list->items, item);
		if (!skip_newlines(lx, error))
			return NULL;
		if (lx->type == T_COMMA) {
			if (!lex_next(lx, error) || !skip_newlines(lx, error))
				return NULL;
		} else if (lx->type != T_RBRACKET) {
			lex_fail(lx, error, "expected ',' or ']' in the list opened on line %d",
				 list->line);
			return NULL;
		}
	}
	if (!lex_next(lx, error))
		return NULL;
	return g_ptr_array_steal_index(hold, 0);
}

static XlValue *parse_value(Lexer *lx, GError **error)
{
	if (lx->type == T_LBRACKET)
		return parse_list(lx, error);
	if (lx->type == T_STRING || lx->type == T_NUMBER) {
		XlValue *v = xl_value_new(lx->type == T_STRING ? XL_STRING : XL_NUMBER,
					  lx->tok_line);
		v->text = g_steal_pointer(&lx->text);
		if (!lex_next(lx, error)) {
			xl_value_free(v);
			return NULL;
		}
		return v;
	}
	if (lx->type == T_IDENT)
		lex_fail(lx, error, "'%s' needs quotes: strings are written \"like this\"",
			 lx->text);
	else
		lex_fail(lx, error, "expected a value (a \"string\", a number or a [list])");
	return NULL;
}

/* "+=": lists gain the new items, strings are concatenated. */
static gboolean append_value(Lexer *lx, XlSetting *old, XlValue *add, GError **error)
{
	XlValue *v = old->value;
	if (v->type == XL_LIST && add->type == XL_LIST) {
		while (add->items->len)
			g_ptr_array_add(v->items, g_ptr_array_steal_index(add->items, 0));
	} else if (v->type == XL_LIST) {
		g_ptr_array_add(v->items, add);
		return TRUE;
	} else if (v->type == XL_STRING && add->type == XL_STRING) {
		char *joined = g_strconcat(v->text, add->text, NULL);
		g_free(v->text);
		v->text = joined;
	} else {
		xl_value_free(add);
		return lex_fail(lx, error, "'+=' needs a list or a string set earlier for '%s'",
				old->key);
	}
	xl_value_free(add);
	return TRUE;
}

static gboolean store_setting(Lexer *lx, XlConfig *cfg, char *key, gboolean append,
			      XlValue *value, int line, GError **error)
{
	for (guint i = 0; i < cfg->settings->len; i++) {
		XlSetting *s = g_ptr_array_index(cfg->settings, i);
		if (strcmp(s->key, key) != 0)
			continue;
		if (append) {
			g_free(key);
			return append_value(lx, s, value, error);
		}
		xl_value_free(s->value);
		s->value = value;
		s->line = line;
		g_free(key);
		return TRUE;
	}
	XlSetting *s = g_new0(XlSetting, 1);
	s->key = key;
	s->value = value;
	s->line = line;
	g_ptr_array_add(cfg->settings, s);
	return TRUE;
}

static gboolean parse_setting(Lexer *lx, XlConfig *cfg, GError **error)
{
	if (lx->type != T_IDENT)
		return lex_fail(lx, error, "expected a setting name (key = value)");
	g_autofree char *key = g_steal_pointer(&lx->text);
	int line = lx->tok_line;
	if (!lex_next(lx, error))
		return FALSE;
	if (lx->type != T_ASSIGN && lx->type != T_APPEND)
		return lex_fail(lx, error, "expected '=' after '%s'", key);
	gboolean append = lx->type == T_APPEND;
	if (!lex_next(lx, error))
		return FALSE;
	XlValue *value = parse_value(lx, error);
	if (!value)
		return FALSE;
	if (lx->type != T_NEWLINE && lx->type != T_SEMICOLON && lx->type != T_EOF) {
		xl_value_free(value);
		return lex_fail(lx, error, "expected the end of the line after the value of '%s'",
				key);
	}
	return store_setting(lx, cfg, g_steal_pointer(&key), append, value, line, error);
}

XlConfig *xlcfg_parse(const char *text, const char *filename, GError **error)
{
	g_autoptr(XlConfig) cfg = g_new0(XlConfig, 1);
	cfg->filename = g_strdup(filename ? filename : "xl.cfg");
	cfg->settings = g_ptr_array_new_with_free_func((GDestroyNotify)xl_setting_free);
	Lexer lx = { .p = text, .line = 1, .filename = cfg->filename };
	gboolean ok = lex_next(&lx, error);
	while (ok && lx.type != T_EOF) {
		if (lx.type == T_NEWLINE || lx.type == T_SEMICOLON)
			ok = lex_next(&lx, error);
		else
			ok = parse_setting(&lx, cfg, error);
	}
	g_free(lx.text);
	return ok ? g_steal_pointer(&cfg) : NULL;
}

/* ---- mapping ----------------------------------------------------------- */

typedef struct {
	const XlConfig *cfg;
	GHashTable *bridges;
	GPtrArray *notes;
	JsonObject *def;
} Mapper;

static void note(Mapper *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void note(Mapper *m, const char *fmt, ...)
{
	if (!m->notes)
		return;
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(m->notes, g_strconcat("xl.cfg: ", what, NULL));
}

static gboolean map_fail(Mapper *m, int line, GError **error, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static gboolean map_fail(Mapper *m, int line, GError **error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		g_set_error(error, XLCFG_ERROR, XLCFG_ERROR_MAPPING, "%s:%d: %s",
			    m->cfg->filename, line, what);
	else
		g_set_error(error, XLCFG_ERROR, XLCFG_ERROR_MAPPING, "%s: %s",
			    m->cfg->filename, what);
	return FALSE;
}

static const char *want_string(Mapper *m, const XlSetting *s, GError **error)
{
	if (s->value->type != XL_STRING) {
		map_fail(m, s->line, error, "'%s' must be a \"string\"", s->key);
		return NULL;
	}
	return s->value->text;
}

static gboolean want_uint(Mapper *m, const XlSetting *s, guint64 *out, GError **error)
{
	const XlValue *v = s->value;
	if (v->type == XL_LIST)
		return map_fail(m, s->line, error, "'%s' must be a number", s->key);
	char *end = NULL;
	errno = 0;
	guint64 n = g_ascii_strtoull(v->text, &end, 0);
	if (errno || end == v->text || *end || n == 0 || v->text[0] == '-')
		return map_fail(m, s->line, error, "'%s' must be a positive whole number, not '%s'",
				s->key, v->text);
	*out = n;
	return TRUE;
}

static gboolean map_string(Mapper *m, const char *key, const char *member, GError **error)
{
	const XlSetting *s = xlcfg_lookup(m->cfg, key);
	if (!s)
		return TRUE;
	const char *v = want_string(m, s, error);
	if (!v)
		return FALSE;
	json_object_set_string_member(m->def, member, v);
	return TRUE;
}

static gboolean map_uint(Mapper *m, const char *key, const char *member, GError **error)
{
	const XlSetting *s = xlcfg_lookup(m->cfg, key);
	guint64 n = 0;  /* gcc -O2 cannot see want_uint sets it on success */
	if (!s)
		return TRUE;
	if (!want_uint(m, s, &n, error))
		return FALSE;
	json_object_set_int_member(m->def, member, (gint64)n);
	return TRUE;
}

/* cmdline wins over root/extra, as in xl; otherwise "root=R EXTRA". */
static gboolean map_cmdline(Mapper *m, GError **error)
{
	const XlSetting *cmdline = xlcfg_lookup(m->cfg, "cmdline");
	const XlSetting *root = xlcfg_lookup(m->cfg, "root");
	const XlSetting *extra = xlcfg_lookup(m->cfg, "extra");
	const char *r = NULL, *e = NULL;

	if (cmdline) {
		if (root || extra)
			note(m, "ignoring 'root' and 'extra' because 'cmdline' is set");
		return map_string(m, "cmdline", "cmdline", error);
	}
	if (root && !(r = want_string(m, root, error)))
		return FALSE;
	if (extra && !(e = want_string(m, extra, error)))
		return FALSE;
	if (!r && !e)
		return TRUE;
	g_autofree char *line = r && e ? g_strdup_printf("root=%s %s", r, e)
			      : r ? g_strdup_printf("root=%s", r) : g_strdup(e);
	json_object_set_string_member(m->def, "cmdline", line);
	return TRUE;
}

/* ---- disk specs (xl-disk-configuration) ---- */

typedef struct {
	char *target, *format, *vdev, *access;
	gboolean cdrom;
	int npos;
} DiskSpec;

static void disk_spec_clear(DiskSpec *d)
{
	g_free(d->target);
	g_free(d->format);
	g_free(d->vdev);
	g_free(d->access);
}

static gboolean is_format(const char *s)
{
	static const char *const formats[] = { "raw", "qcow", "qcow2", "vhd", "qed", NULL };
	return g_strv_contains(formats, s);
}

/* The old "phy:/dev/x", "file:/img", "tap:aio:/img", "qcow2:/img" prefixes. */
static void strip_target_prefix(DiskSpec *d)
{
	static const char *const prefixes[] = {
		"phy:", "file:", "tap:aio:", "tap2:aio:", "tap:", "tap2:", "aio:", NULL
	};
	for (int i = 0; prefixes[i]; i++) {
		if (g_str_has_prefix(d->target, prefixes[i])) {
			char *rest = g_strdup(d->target + strlen(prefixes[i]));
			g_free(d->target);
			d->target = rest;
			break;
		}
	}
	char *colon = strchr(d->target, ':');
	if (colon && colon != d->target) {
		g_autofree char *fmt = g_strndup(d->target, colon - d->target);
		if (is_format(fmt)) {
			g_free(d->format);
			d->format = g_steal_pointer(&fmt);
			char *rest = g_strdup(colon + 1);
			g_free(d->target);
			d->target = rest;
		}
	}
}

static gboolean disk_positional(Mapper *m, DiskSpec *d, const char *tok, int line,
				int idx, GError **error)
{
	switch (d->npos) {
	case 0:
		d->target = g_strdup(tok);
		d->npos = 1;
		return TRUE;
	case 1:
		if (!*tok || is_format(tok)) {
			d->format = g_strdup(tok);
			d->npos = 2;
			return TRUE;
		}
		/* the format may be left out: "/img,xvda,w" */
		d->npos = 2;
		/* fall through */
	case 2:
		d->vdev = g_strdup(tok);
		d->npos = 3;
		return TRUE;
	case 3:
		d->access = g_strdup(tok);
		d->npos = 4;
		return TRUE;
	default:
		return map_fail(m, line, error, "disk[%d]: too many positional parameters at '%s'",
				idx, tok);
	}
}

static gboolean disk_keyword(Mapper *m, DiskSpec *d, const char *key, const char *val,
			     int line, int idx, GError **error)
{
	char **slot = strcmp(key, "format") == 0 ? &d->format
		    : strcmp(key, "vdev") == 0 ? &d->vdev
		    : strcmp(key, "access") == 0 ? &d->access : NULL;
	if (slot) {
		g_free(*slot);
		*slot = g_strdup(val);
		return TRUE;
	}
	if (strcmp(key, "devtype") == 0) {
		if (strcmp(val, "cdrom") == 0)
			d->cdrom = TRUE;
		else if (strcmp(val, "disk") != 0)
			return map_fail(m, line, error, "disk[%d]: unknown devtype '%s'", idx, val);
		return TRUE;
	}
	note(m, "disk[%d]: ignoring '%s=%s' (not used by Atoll)", idx, key, val);
	return TRUE;
}

static gboolean parse_disk_spec(Mapper *m, const char *spec, int line, int idx,
				DiskSpec *d, GError **error)
{
	const char *p = spec;
	while (*p) {
		const char *comma = strchr(p, ',');
		g_autofree char *raw = comma ? g_strndup(p, comma - p) : g_strdup(p);
		char *tok = g_strstrip(raw);
		const char *eq = strchr(tok, '=');
		if (eq && g_str_has_prefix(tok, "target=")) {
			/* target= swallows the rest, commas included (xl rule). */
			const char *t = strchr(p, '=') + 1;
			g_free(d->target);
			d->target = g_strstrip(g_strdup(t));
			break;
		}
		gboolean ok;
		if (eq) {
			g_autofree char *key = g_strndup(tok, eq - tok);
			ok = disk_keyword(m, d, key, eq + 1, line, idx, error);
		} else if (strcmp(tok, "cdrom") == 0) {
			d->cdrom = TRUE;
			ok = TRUE;
		} else {
			ok = disk_positional(m, d, tok, line, idx, error);
		}
		if (!ok)
			return FALSE;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (d->target && *d->target)
		strip_target_prefix(d);
	return TRUE;
}

static gboolean map_one_disk(Mapper *m, const XlValue *v, int idx, JsonArray *disks,
			     GError **error)
{
	if (v->type != XL_STRING)
		return map_fail(m, v->line, error, "disk[%d] must be a \"string\"", idx);
	DiskSpec d = { 0 };
	gboolean ok = parse_disk_spec(m, v->text, v->line, idx, &d, error);
	if (ok && d.format && *d.format && strcmp(d.format, "raw") != 0)
		ok = map_fail(m, v->line, error,
			      "disk[%d]: format '%s' is not supported: Atoll uses raw images "
			      "(convert with: qemu-img convert -O raw IN OUT)", idx, d.format);
	gboolean readonly = FALSE;
	if (ok && d.access && *d.access) {
		/* A trailing '!' (xl's "force shared writable") changes nothing here. */
		g_autofree char *acc = g_strdup(d.access);
		if (g_str_has_suffix(acc, "!"))
			acc[strlen(acc) - 1] = '\0';
		if (strcmp(acc, "r") == 0 || strcmp(acc, "ro") == 0)
			readonly = TRUE;
		else if (strcmp(acc, "w") != 0 && strcmp(acc, "rw") != 0)
			ok = map_fail(m, v->line, error,
				      "disk[%d]: access must be 'r', 'ro', 'w' or 'rw', not '%s'",
				      idx, d.access);
	}
	if (ok && (!d.target || !*d.target)) {
		note(m, "disk[%d]: skipping an empty %s (no target)", idx,
		     d.cdrom ? "cdrom drive" : "disk");
	} else if (ok) {
		if (d.vdev && *d.vdev)
			note(m, "disk[%d]: vdev '%s' not used: Atoll orders disks as listed",
			     idx, d.vdev);
		JsonObject *o = json_object_new();
		json_object_set_string_member(o, "path", d.target);
		json_object_set_boolean_member(o, "readonly", readonly || d.cdrom);
		json_array_add_object_element(disks, o);
	}
	disk_spec_clear(&d);
	return ok;
}

static gboolean map_list(Mapper *m, const char *key, const char *member,
			 gboolean (*one)(Mapper *, const XlValue *, int, JsonArray *, GError **),
			 GError **error)
{
	const XlSetting *s = xlcfg_lookup(m->cfg, key);
	if (!s)
		return TRUE;
	if (s->value->type != XL_LIST)
		return map_fail(m, s->line, error, "'%s' must be a [list] of \"strings\"", key);
	g_autoptr(JsonArray) arr = json_array_new();
	for (guint i = 0; i < s->value->items->len; i++)
		if (!one(m, g_ptr_array_index(s->value->items, i), (int)i, arr, error))
			return FALSE;
	json_object_set_array_member(m->def, member, g_steal_pointer(&arr));
	return TRUE;
}

/* ---- vif specs ---- */

static gboolean mac_valid(const char *mac)
{
	if (strlen(mac) != 17)
		return FALSE;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
			return FALSE;
	}
	return TRUE;
}

static gboolean vif_network(Mapper *m, const char *bridge, int line, int idx,
			    const char **network, GError **error)
{
	if (!m->bridges) {
		*network = bridge;
		return TRUE;
	}
	*network = g_hash_table_lookup(m->bridges, bridge);
	if (!*network)
		return map_fail(m, line, error,
				"vif[%d]: no libvirt network has the bridge or name '%s' "
				"(see `atoll network-list`)", idx, bridge);
	return TRUE;
}

static gboolean map_one_vif(Mapper *m, const XlValue *v, int idx, JsonArray *nics,
			    GError **error)
{
	if (v->type != XL_STRING)
		return map_fail(m, v->line, error, "vif[%d] must be a \"string\"", idx);
	g_auto(GStrv) parts = g_strsplit(v->text, ",", -1);
	const char *network = "default";
	g_autofree char *mac = NULL;
	for (int i = 0; parts[i]; i++) {
		char *tok = g_strstrip(parts[i]);
		if (!*tok)
			continue;
		char *eq = strchr(tok, '=');
		if (!eq)
			return map_fail(m, v->line, error, "vif[%d]: expected key=value, not '%s'",
					idx, tok);
		*eq = '\0';
		const char *val = eq + 1;
		if (strcmp(tok, "mac") == 0) {
			if (!mac_valid(val))
				return map_fail(m, v->line, error,
						"vif[%d]: mac '%s' is not of the form 52:54:00:12:34:56",
						idx, val);
			g_free(mac);
			mac = g_ascii_strdown(val, -1);
		} else if (strcmp(tok, "bridge") == 0) {
			if (!vif_network(m, val, v->line, idx, &network, error))
				return FALSE;
		} else {
			note(m, "vif[%d]: ignoring '%s=%s' (not used by Atoll)", idx, tok, val);
		}
	}
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "type", "network");
	json_object_set_string_member(o, "network", network);
	if (mac)
		json_object_set_string_member(o, "mac", mac);
	json_array_add_object_element(nics, o);
	return TRUE;
}

/* ---- pci specs: "[DDDD:]BB:DD.F[@VSLOT][,KEY=VALUE...]" ---- */

static gboolean map_one_pci(Mapper *m, const XlValue *v, int idx, JsonArray *pci,
			    GError **error)
{
	if (v->type != XL_STRING)
		return map_fail(m, v->line, error, "pci[%d] must be a \"string\"", idx);
	g_auto(GStrv) parts = g_strsplit(v->text, ",", -1);
	g_autofree char *bdf = g_strdup(g_strstrip(parts[0]));
	char *at = strchr(bdf, '@');
	if (at) {
		note(m, "pci[%d]: ignoring the guest slot '%s' (Atoll places devices itself)",
		     idx, at + 1);
		*at = '\0';
	}
	if (!*bdf || strchr(bdf, '*'))
		return map_fail(m, v->line, error, "pci[%d]: '%s' is not one PCI function; "
				"list each function (01:00.0, 01:00.1) separately", idx, v->text);
	for (int i = 1; parts[i]; i++) {
		char *tok = g_strstrip(parts[i]);
		if (*tok)
			note(m, "pci[%d]: ignoring '%s' (not used by Atoll)", idx, tok);
	}
	/* atolld checks the address and the other functions of the device */
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "host", bdf);
	json_array_add_object_element(pci, o);
	return TRUE;
}

/* ---- on_* actions ---- */

static gboolean map_action(Mapper *m, const char *key, GError **error)
{
	static const struct { const char *xl, *atoll, *why; } actions[] = {
		{ "destroy", "destroy", NULL },
		{ "restart", "restart", NULL },
		{ "preserve", "preserve", NULL },
		{ "rename-restart", "restart", "the old domain is not kept under a new name" },
		{ "coredump-destroy", "destroy", "Atoll does not write guest core dumps" },
		{ "coredump-restart", "restart", "Atoll does not write guest core dumps" },
		{ "soft-reset", "restart", "Atoll has no soft reset; the VM is restarted" },
	};
	const XlSetting *s = xlcfg_lookup(m->cfg, key);
	if (!s)
		return TRUE;
	const char *v = want_string(m, s, error);
	if (!v)
		return FALSE;
	for (size_t i = 0; i < G_N_ELEMENTS(actions); i++) {
		if (strcmp(v, actions[i].xl) != 0)
			continue;
		if (actions[i].why)
			note(m, "%s = '%s' becomes '%s' (%s)", key, v, actions[i].atoll,
			     actions[i].why);
		json_object_set_string_member(m->def, key, actions[i].atoll);
		return TRUE;
	}
	return map_fail(m, s->line, error,
			"%s: unknown action '%s' (xl knows destroy, restart, preserve, "
			"rename-restart, coredump-destroy, coredump-restart, soft-reset)",
			key, v);
}

static const char *const mapped_keys[] = {
	"name", "memory", "vcpus", "kernel", "ramdisk", "cmdline", "root", "extra",
	"disk", "vif", "pci", "on_poweroff", "on_reboot", "on_crash", NULL
};

static void note_ignored(Mapper *m)
{
	for (guint i = 0; i < m->cfg->settings->len; i++) {
		const XlSetting *s = g_ptr_array_index(m->cfg->settings, i);
		if (!g_strv_contains(mapped_keys, s->key))
			note(m, "ignoring '%s' (not used by Atoll)", s->key);
	}
}

gboolean xlcfg_uses_bridges(const XlConfig *cfg)
{
	const XlSetting *s = xlcfg_lookup(cfg, "vif");
	if (!s || s->value->type != XL_LIST)
		return FALSE;
	for (guint i = 0; i < s->value->items->len; i++) {
		const XlValue *v = g_ptr_array_index(s->value->items, i);
		if (v->type == XL_STRING && strstr(v->text, "bridge="))
			return TRUE;
	}
	return FALSE;
}

JsonNode *xlcfg_to_definition(const XlConfig *cfg, GHashTable *bridges,
			      GPtrArray *notes, GError **error)
{
	g_autoptr(JsonObject) def = json_object_new();
	Mapper m = { .cfg = cfg, .bridges = bridges, .notes = notes, .def = def };

	if (!xlcfg_lookup(cfg, "name")) {
		map_fail(&m, 0, error, "'name' is not set (add: name = \"myvm\")");
		return NULL;
	}
	note_ignored(&m);
	gboolean ok = map_string(&m, "name", "name", error) &&
		map_uint(&m, "memory", "memory_mib", error) &&
		map_uint(&m, "vcpus", "vcpus", error) &&
		map_string(&m, "kernel", "kernel", error) &&
		map_string(&m, "ramdisk", "initrd", error) &&
		map_cmdline(&m, error) &&
		map_list(&m, "disk", "disks", map_one_disk, error) &&
		map_list(&m, "vif", "nics", map_one_vif, error) &&
		map_list(&m, "pci", "pci", map_one_pci, error) &&
		map_action(&m, "on_poweroff", error) &&
		map_action(&m, "on_reboot", error) &&
		map_action(&m, "on_crash", error);
	if (!ok)
		return NULL;
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);
	json_node_set_object(node, def);
	return node;
}
