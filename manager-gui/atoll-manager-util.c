/* atoll-manager-util.c - see atoll-manager-util.h. */
#include "atoll-manager-util.h"

#include <glib/gi18n.h>

static JsonNode *member_node(JsonNode *obj, const char *member)
{
	if (!obj || !JSON_NODE_HOLDS_OBJECT(obj))
		return NULL;
	JsonNode *n = json_object_get_member(json_node_get_object(obj), member);
	return n && JSON_NODE_HOLDS_VALUE(n) ? n : NULL;
}

const char *atoll_json_string(JsonNode *obj, const char *member, const char *fallback)
{
	JsonNode *n = member_node(obj, member);
	if (!n || json_node_get_value_type(n) != G_TYPE_STRING)
		return fallback;
	return json_node_get_string(n);
}

gint64 atoll_json_int(JsonNode *obj, const char *member, gint64 fallback)
{
	JsonNode *n = member_node(obj, member);
	if (!n)
		return fallback;
	GType t = json_node_get_value_type(n);
	if (t == G_TYPE_INT64)
		return json_node_get_int(n);
	if (t == G_TYPE_DOUBLE)
		return (gint64)json_node_get_double(n);
	return fallback;
}

double atoll_json_double(JsonNode *obj, const char *member, double fallback)
{
	JsonNode *n = member_node(obj, member);
	if (!n)
		return fallback;
	GType t = json_node_get_value_type(n);
	if (t == G_TYPE_DOUBLE)
		return json_node_get_double(n);
	if (t == G_TYPE_INT64)
		return (double)json_node_get_int(n);
	return fallback;
}

gboolean atoll_label_parse(const char *label, GdkRGBA *rgba)
{
	if (label && strlen(label) == 7 && label[0] == '#' && gdk_rgba_parse(rgba, label))
		return TRUE;
	*rgba = (GdkRGBA){ 0.6, 0.6, 0.6, 1.0 };
	return FALSE;
}

char *atoll_label_format(const GdkRGBA *rgba)
{
	return g_strdup_printf("#%02x%02x%02x",
			       (int)(CLAMP(rgba->red, 0, 1) * 255 + 0.5),
			       (int)(CLAMP(rgba->green, 0, 1) * 255 + 0.5),
			       (int)(CLAMP(rgba->blue, 0, 1) * 255 + 0.5));
}

char *atoll_format_mib(gint64 mib)
{
	if (mib >= 1024 && mib % 1024 == 0)
		return g_strdup_printf(_("%" G_GINT64_FORMAT " GiB"), mib / 1024);
	if (mib >= 1024)
		return g_strdup_printf(_("%.1f GiB"), (double)mib / 1024.0);
	return g_strdup_printf(_("%" G_GINT64_FORMAT " MiB"), mib);
}

const char *atoll_state_display_name(const char *state)
{
	static const struct { const char *id, *name; } names[] = {
		{ "shutoff", N_("Shut off") }, { "starting", N_("Starting") },
		{ "running", N_("Running") }, { "paused", N_("Paused") },
		{ "shutting-down", N_("Shutting down") }, { "crashed", N_("Crashed") },
		{ "broken", N_("Broken definition") },
	};
	for (gsize i = 0; state && i < G_N_ELEMENTS(names); i++)
		if (g_str_equal(state, names[i].id))
			return _(names[i].name);
	return state ? state : _("Unknown");
}

#define ERROR_KEY "atoll-field-error"

void atoll_field_row_set_error(AdwActionRow *row, const char *msg)
{
	g_object_set_data_full(G_OBJECT(row), ERROR_KEY, g_strdup(msg), g_free);
	/* The subtitle is where the row normally explains itself; the hint is
	 * kept so that clearing the error brings it back. */
	const char *hint = g_object_get_data(G_OBJECT(row), "atoll-field-hint");
	if (!hint) {
		const char *cur = adw_action_row_get_subtitle(row);
		g_object_set_data_full(G_OBJECT(row), "atoll-field-hint",
				       g_strdup(cur ? cur : ""), g_free);
		hint = g_object_get_data(G_OBJECT(row), "atoll-field-hint");
	}
	adw_action_row_set_subtitle(row, msg ? msg : hint);
	if (msg) {
		gtk_widget_add_css_class(GTK_WIDGET(row), "error");
		gtk_accessible_update_state(GTK_ACCESSIBLE(row),
					    GTK_ACCESSIBLE_STATE_INVALID,
					    GTK_ACCESSIBLE_INVALID_TRUE, -1);
		gtk_accessible_update_property(GTK_ACCESSIBLE(row),
					       GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
					       msg, -1);
	} else {
		gtk_widget_remove_css_class(GTK_WIDGET(row), "error");
		gtk_accessible_reset_state(GTK_ACCESSIBLE(row),
					   GTK_ACCESSIBLE_STATE_INVALID);
		gtk_accessible_reset_property(GTK_ACCESSIBLE(row),
					      GTK_ACCESSIBLE_PROPERTY_DESCRIPTION);
	}
}

gboolean atoll_field_row_has_error(AdwActionRow *row)
{
	return atoll_field_row_get_error(row) != NULL;
}

const char *atoll_field_row_get_error(AdwActionRow *row)
{
	return g_object_get_data(G_OBJECT(row), ERROR_KEY);
}

void atoll_set_accessible_label(GtkWidget *widget, const char *label)
{
	gtk_accessible_update_property(GTK_ACCESSIBLE(widget),
				       GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
}

const char *atoll_manager_strip_field(const char *message, const char *field)
{
	gsize n = field ? strlen(field) : 0;
	if (n && g_str_has_prefix(message, field) && g_str_has_prefix(message + n, ": "))
		return message + n + 2;
	return message;
}
