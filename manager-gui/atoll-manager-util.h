/* atoll-manager-util.h - small helpers shared by the manager's classes:
 * reading atolld's JSON replies, label colours, and field rows that can
 * show a validation message beside their control. */
#pragma once

#include <adwaita.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Members of a JSON object node, with a fallback when absent or of
 * another type (atolld sends null for "id" of a stopped domain). */
const char *atoll_json_string(JsonNode *obj, const char *member, const char *fallback);
gint64 atoll_json_int(JsonNode *obj, const char *member, gint64 fallback);
double atoll_json_double(JsonNode *obj, const char *member, double fallback);

/* "#rrggbb" -> rgba; FALSE (and a neutral grey) when unset or invalid. */
gboolean atoll_label_parse(const char *label, GdkRGBA *rgba);
/* rgba -> "#rrggbb", newly allocated. */
char *atoll_label_format(const GdkRGBA *rgba);

/* "1.5 GiB" / "512 MiB". */
char *atoll_format_mib(gint64 mib);
/* A human name of an atolld state ("Running", "Shut off"). */
const char *atoll_state_display_name(const char *state);

/* Field rows: an AdwActionRow whose subtitle carries the validation
 * message for its suffix control.  @msg NULL clears the error. */
void atoll_field_row_set_error(AdwActionRow *row, const char *msg);
gboolean atoll_field_row_has_error(AdwActionRow *row);
const char *atoll_field_row_get_error(AdwActionRow *row);

/* Sets the accessible label of @widget (every control gets one). */
void atoll_set_accessible_label(GtkWidget *widget, const char *label);

/* An atolld error message without its "field: " prefix, for showing it on
 * the row that already names the field. */
const char *atoll_manager_strip_field(const char *message, const char *field);

G_END_DECLS
