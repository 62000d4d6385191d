/* atoll-manager-domain-row.c - see atoll-manager-domain-row.h. */
#include "atoll-manager-domain-row.h"
#include "atoll-manager-thumbnail.h"
#include "atoll-manager-util.h"

#include <glib/gi18n.h>

struct _AtollManagerDomainRow {
	GtkListBoxRow parent;
	GtkDrawingArea *swatch;
	GtkLabel *name_label, *state_label, *usage_label;
	AtollManagerThumbnail *thumbnail;
	char *name, *state;
	gboolean console_known;
	GdkRGBA label;
};

G_DEFINE_FINAL_TYPE(AtollManagerDomainRow, atoll_manager_domain_row, GTK_TYPE_LIST_BOX_ROW)

static void draw_swatch(GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
	AtollManagerDomainRow *self = data;
	(void)area;
	double r = MIN(w, h) / 2.0;
	cairo_arc(cr, w / 2.0, h / 2.0, r, 0, 2 * G_PI);
	gdk_cairo_set_source_rgba(cr, &self->label);
	cairo_fill(cr);
}

static void atoll_manager_domain_row_finalize(GObject *object)
{
	AtollManagerDomainRow *self = ATOLL_MANAGER_DOMAIN_ROW(object);
	g_free(self->name);
	g_free(self->state);
	G_OBJECT_CLASS(atoll_manager_domain_row_parent_class)->finalize(object);
}

static void atoll_manager_domain_row_class_init(AtollManagerDomainRowClass *klass)
{
	GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
	G_OBJECT_CLASS(klass)->finalize = atoll_manager_domain_row_finalize;
	g_type_ensure(ATOLL_TYPE_MANAGER_THUMBNAIL);
	gtk_widget_class_set_template_from_resource(wc,
		"/org/atoll/Manager/atoll-manager-domain-row.ui");
	gtk_widget_class_bind_template_child(wc, AtollManagerDomainRow, swatch);
	gtk_widget_class_bind_template_child(wc, AtollManagerDomainRow, name_label);
	gtk_widget_class_bind_template_child(wc, AtollManagerDomainRow, state_label);
	gtk_widget_class_bind_template_child(wc, AtollManagerDomainRow, usage_label);
	gtk_widget_class_bind_template_child(wc, AtollManagerDomainRow, thumbnail);
}

static void atoll_manager_domain_row_init(AtollManagerDomainRow *self)
{
	gtk_widget_init_template(GTK_WIDGET(self));
	atoll_label_parse(NULL, &self->label);
	gtk_drawing_area_set_draw_func(self->swatch, draw_swatch, self, NULL);
}

AtollManagerDomainRow *atoll_manager_domain_row_new(const char *name)
{
	AtollManagerDomainRow *self = g_object_new(ATOLL_TYPE_MANAGER_DOMAIN_ROW, NULL);
	self->name = g_strdup(name);
	gtk_label_set_text(self->name_label, name);
	return self;
}

const char *atoll_manager_domain_row_get_name(AtollManagerDomainRow *self)
{
	return self->name;
}

const char *atoll_manager_domain_row_get_state(AtollManagerDomainRow *self)
{
	return self->state;
}

void atoll_manager_domain_row_get_label(AtollManagerDomainRow *self, GdkRGBA *rgba)
{
	*rgba = self->label;
}

void atoll_manager_domain_row_update(AtollManagerDomainRow *self, JsonNode *entry,
				     double cpu_percent)
{
	const char *state = atoll_json_string(entry, "state", "shutoff");
	/* Only a running domain has a screen worth a picture; a paused one
	 * keeps its last picture. */
	if (!g_str_equal(state, "running") && !g_str_equal(state, "paused")) {
		atoll_manager_thumbnail_set_uri(self->thumbnail, NULL);
		self->console_known = FALSE;
	}
	g_free(self->state);
	self->state = g_strdup(state);
	gtk_label_set_text(self->state_label, atoll_state_display_name(state));

	atoll_label_parse(atoll_json_string(entry, "label", NULL), &self->label);
	gtk_widget_queue_draw(GTK_WIDGET(self->swatch));

	gint64 mib = atoll_json_int(entry, "memory_mib", 0);
	gint64 vcpus = atoll_json_int(entry, "vcpus", 0);
	g_autofree char *mem = atoll_format_mib(mib);
	g_autofree char *usage = NULL;
	if (cpu_percent >= 0)
		usage = g_strdup_printf(_("CPU %.0f %%\n%s · %" G_GINT64_FORMAT " vCPU"),
					cpu_percent, mem, vcpus);
	else
		usage = g_strdup_printf(_("%s\n%" G_GINT64_FORMAT " vCPU"), mem, vcpus);
	gtk_label_set_text(self->usage_label, usage);

	g_autofree char *a11y = g_strdup_printf(_("%s, %s, %s, %" G_GINT64_FORMAT " vCPU"),
						self->name, atoll_state_display_name(state),
						mem, vcpus);
	atoll_set_accessible_label(GTK_WIDGET(self), a11y);
}

void atoll_manager_domain_row_set_console_uri(AtollManagerDomainRow *self, const char *uri)
{
	self->console_known = TRUE;
	atoll_manager_thumbnail_set_uri(self->thumbnail, uri);
}

gboolean atoll_manager_domain_row_needs_console_uri(AtollManagerDomainRow *self)
{
	return !self->console_known && g_strcmp0(self->state, "running") == 0;
}

void atoll_manager_domain_row_mark_console_pending(AtollManagerDomainRow *self)
{
	self->console_known = TRUE;
}

GtkWidget *atoll_manager_domain_row_get_thumbnail(AtollManagerDomainRow *self)
{
	return GTK_WIDGET(self->thumbnail);
}
