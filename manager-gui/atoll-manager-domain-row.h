/* atoll-manager-domain-row.h - one domain in the sidebar list: label
 * colour, name, state, CPU and memory. */
#pragma once

#include <gtk/gtk.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ATOLL_TYPE_MANAGER_DOMAIN_ROW (atoll_manager_domain_row_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerDomainRow, atoll_manager_domain_row, ATOLL,
		     MANAGER_DOMAIN_ROW, GtkListBoxRow)

AtollManagerDomainRow *atoll_manager_domain_row_new(const char *name);
const char *atoll_manager_domain_row_get_name(AtollManagerDomainRow *self);
/* @entry: one element of GET /v1/domains.  @cpu_percent < 0: unknown. */
void atoll_manager_domain_row_update(AtollManagerDomainRow *self, JsonNode *entry,
				     double cpu_percent);
const char *atoll_manager_domain_row_get_state(AtollManagerDomainRow *self);
/* The label colour shown in the swatch. */
void atoll_manager_domain_row_get_label(AtollManagerDomainRow *self, GdkRGBA *rgba);

/* The live console thumbnail: the window asks atolld for a running
 * domain's status.spice.uri once per start (needs_console_uri, then
 * mark_console_pending while the request is in flight) and hands it over
 * (NULL: no SPICE console).  A state other than running/paused clears it. */
void atoll_manager_domain_row_set_console_uri(AtollManagerDomainRow *self, const char *uri);
gboolean atoll_manager_domain_row_needs_console_uri(AtollManagerDomainRow *self);
void atoll_manager_domain_row_mark_console_pending(AtollManagerDomainRow *self);
GtkWidget *atoll_manager_domain_row_get_thumbnail(AtollManagerDomainRow *self);

G_END_DECLS
