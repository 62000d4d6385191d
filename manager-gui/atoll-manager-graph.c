/* atoll-manager-graph.c - see atoll-manager-graph.h. */
#include "atoll-manager-graph.h"
#include "atoll-manager-util.h"

struct _AtollManagerGraph {
	GtkDrawingArea parent;
	char *title, *summary;
	GdkRGBA colour;
	GArray *values, *second;  /* second: drawn as a line only */
	double max;
};

G_DEFINE_FINAL_TYPE(AtollManagerGraph, atoll_manager_graph, GTK_TYPE_DRAWING_AREA)

static void draw(GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
	AtollManagerGraph *self = ATOLL_MANAGER_GRAPH(area);
	(void)data;
	GdkRGBA fg;
	/* gtk_widget_get_color() is GTK 4.10; Debian 12 has 4.8. */
	gtk_style_context_get_color(gtk_widget_get_style_context(GTK_WIDGET(area)), &fg);

	cairo_set_source_rgba(cr, fg.red, fg.green, fg.blue, 0.06);
	cairo_rectangle(cr, 0, 0, w, h);
	cairo_fill(cr);
	cairo_set_source_rgba(cr, fg.red, fg.green, fg.blue, 0.15);
	cairo_set_line_width(cr, 1);
	for (int i = 1; i < 4; i++) {
		cairo_move_to(cr, 0, h * i / 4.0 + 0.5);
		cairo_line_to(cr, w, h * i / 4.0 + 0.5);
	}
	cairo_stroke(cr);

	guint n = self->values->len;
	if (n >= 2 && self->max > 0) {
		double step = (double)w / (n - 1);
		cairo_move_to(cr, 0, h);
		for (guint i = 0; i < n; i++) {
			double v = CLAMP(g_array_index(self->values, double, i), 0, self->max);
			cairo_line_to(cr, i * step, h - v / self->max * (h - 4));
		}
		cairo_line_to(cr, w, h);
		cairo_close_path(cr);
		GdkRGBA c = self->colour;
		cairo_set_source_rgba(cr, c.red, c.green, c.blue, 0.35);
		cairo_fill_preserve(cr);
		cairo_set_source_rgba(cr, c.red, c.green, c.blue, 1);
		cairo_set_line_width(cr, 2);
		cairo_stroke(cr);
	}

	guint n2 = self->second->len;
	if (n2 >= 2 && self->max > 0) {
		double step = (double)w / (n2 - 1);
		for (guint i = 0; i < n2; i++) {
			double v = CLAMP(g_array_index(self->second, double, i), 0, self->max);
			if (i == 0)
				cairo_move_to(cr, 0, h - v / self->max * (h - 4));
			else
				cairo_line_to(cr, i * step, h - v / self->max * (h - 4));
		}
		GdkRGBA c = self->colour;
		cairo_set_source_rgba(cr, c.red * 0.6, c.green * 0.6, c.blue * 0.6, 1);
		cairo_set_line_width(cr, 2);
		double dash[] = { 6, 3 };
		cairo_set_dash(cr, dash, 2, 0);
		cairo_stroke(cr);
		cairo_set_dash(cr, NULL, 0, 0);
	}

	cairo_set_source_rgba(cr, fg.red, fg.green, fg.blue, 0.8);
	cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
	cairo_set_font_size(cr, 12);
	cairo_move_to(cr, 8, 18);
	cairo_show_text(cr, self->title);
	if (self->summary) {
		cairo_text_extents_t ext;
		cairo_text_extents(cr, self->summary, &ext);
		cairo_move_to(cr, w - ext.x_advance - 8, 18);
		cairo_show_text(cr, self->summary);
	}
}

static void atoll_manager_graph_finalize(GObject *object)
{
	AtollManagerGraph *self = ATOLL_MANAGER_GRAPH(object);
	g_free(self->title);
	g_free(self->summary);
	g_array_unref(self->values);
	g_array_unref(self->second);
	G_OBJECT_CLASS(atoll_manager_graph_parent_class)->finalize(object);
}

static void atoll_manager_graph_class_init(AtollManagerGraphClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = atoll_manager_graph_finalize;
	gtk_widget_class_set_accessible_role(GTK_WIDGET_CLASS(klass), GTK_ACCESSIBLE_ROLE_IMG);
}

static void atoll_manager_graph_init(AtollManagerGraph *self)
{
	self->values = g_array_new(FALSE, FALSE, sizeof(double));
	self->second = g_array_new(FALSE, FALSE, sizeof(double));
	gtk_drawing_area_set_content_height(GTK_DRAWING_AREA(self), 100);
	gtk_drawing_area_set_content_width(GTK_DRAWING_AREA(self), 240);
	gtk_drawing_area_set_draw_func(GTK_DRAWING_AREA(self), draw, NULL, NULL);
}

GtkWidget *atoll_manager_graph_new(const char *title, const GdkRGBA *colour)
{
	AtollManagerGraph *self = g_object_new(ATOLL_TYPE_MANAGER_GRAPH, NULL);
	self->title = g_strdup(title);
	self->colour = *colour;
	atoll_set_accessible_label(GTK_WIDGET(self), title);
	return GTK_WIDGET(self);
}

void atoll_manager_graph_set_values(AtollManagerGraph *self, const double *values,
				    guint n, double max, const char *summary)
{
	g_array_set_size(self->values, 0);
	g_array_append_vals(self->values, values, n);
	g_array_set_size(self->second, 0);
	self->max = max;
	g_free(self->summary);
	self->summary = g_strdup(summary);
	g_autofree char *desc = g_strdup_printf("%s: %s", self->title,
						summary ? summary : "");
	gtk_accessible_update_property(GTK_ACCESSIBLE(self),
				       GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, desc, -1);
	gtk_widget_queue_draw(GTK_WIDGET(self));
}

guint atoll_manager_graph_get_n_values(AtollManagerGraph *self)
{
	return self->values->len;
}

void atoll_manager_graph_set_second(AtollManagerGraph *self, const double *values, guint n)
{
	g_array_set_size(self->second, 0);
	g_array_append_vals(self->second, values, n);
	gtk_widget_queue_draw(GTK_WIDGET(self));
}

const char *atoll_manager_graph_get_summary(AtollManagerGraph *self)
{
	return self->summary;
}

guint atoll_manager_graph_get_n_second(AtollManagerGraph *self)
{
	return self->second->len;
}
