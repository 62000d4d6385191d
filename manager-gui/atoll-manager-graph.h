/* atoll-manager-graph.h - a small line graph (GtkDrawingArea + cairo) of
 * the last samples of one series, for the performance tab. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define ATOLL_TYPE_MANAGER_GRAPH (atoll_manager_graph_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerGraph, atoll_manager_graph, ATOLL, MANAGER_GRAPH,
		     GtkDrawingArea)

GtkWidget *atoll_manager_graph_new(const char *title, const GdkRGBA *colour);
/* Replaces the series; @max is the top of the scale (values are clamped),
 * @summary the text drawn in the corner ("12 %"). */
void atoll_manager_graph_set_values(AtollManagerGraph *self, const double *values,
				    guint n, double max, const char *summary);
/* A second series on the same scale, drawn as a dashed line (disk writes
 * beside reads); cleared by set_values(). */
void atoll_manager_graph_set_second(AtollManagerGraph *self, const double *values, guint n);
guint atoll_manager_graph_get_n_values(AtollManagerGraph *self);
guint atoll_manager_graph_get_n_second(AtollManagerGraph *self);
const char *atoll_manager_graph_get_summary(AtollManagerGraph *self);

G_END_DECLS
