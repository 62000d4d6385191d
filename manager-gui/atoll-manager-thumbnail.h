/* atoll-manager-thumbnail.h - a small live picture of a domain's screen for
 * the domain list: a display-only SPICE session (main + display channel,
 * no inputs, cursor or audio) whose primary surface is scaled down into a
 * texture every few seconds, and only when the screen changed.  It is
 * connected only while the widget is mapped, so scrolled-away or hidden
 * rows cost nothing. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define ATOLL_TYPE_MANAGER_THUMBNAIL (atoll_manager_thumbnail_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerThumbnail, atoll_manager_thumbnail, ATOLL,
		     MANAGER_THUMBNAIL, GtkWidget)

#define ATOLL_MANAGER_THUMBNAIL_WIDTH 64
#define ATOLL_MANAGER_THUMBNAIL_HEIGHT 48

GtkWidget *atoll_manager_thumbnail_new(void);
/* The domain's status.spice.uri; NULL stops showing a screen. */
void atoll_manager_thumbnail_set_uri(AtollManagerThumbnail *self, const char *uri);
const char *atoll_manager_thumbnail_get_uri(AtollManagerThumbnail *self);
/* A SPICE server serves one client at a time and a new one pushes the
 * old one out: while the domain's console is open elsewhere, suspend the
 * thumbnail (it keeps its last picture) and resume it afterwards. */
void atoll_manager_thumbnail_set_suspended(AtollManagerThumbnail *self, gboolean suspended);
/* Milliseconds between snapshots (default 2000). */
void atoll_manager_thumbnail_set_interval(AtollManagerThumbnail *self, guint ms);
/* TRUE while a SPICE session is open (tests). */
gboolean atoll_manager_thumbnail_is_connected(AtollManagerThumbnail *self);
/* The current picture or NULL (tests); ATOLL_MANAGER_THUMBNAIL_WIDTH wide
 * at most. */
GdkTexture *atoll_manager_thumbnail_get_texture(AtollManagerThumbnail *self);
/* Number of snapshots taken (tests). */
guint atoll_manager_thumbnail_get_snapshots(AtollManagerThumbnail *self);

G_END_DECLS
