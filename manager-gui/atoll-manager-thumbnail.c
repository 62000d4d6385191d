/* atoll-manager-thumbnail.c - see atoll-manager-thumbnail.h.
 *
 * The session's primary surface lives in spice-glib's memory and changes
 * under us; we read it only from the snapshot timer in the main thread
 * (spice-glib updates it there too) and only when "display-invalidate"
 * said something changed since the last snapshot.  Scaling is a box
 * average into a 64x48-at-most buffer: a few thousand pixel reads per
 * snapshot, whatever the guest resolution. */
#include "atoll-manager-thumbnail.h"

#include <glib/gi18n.h>
#include <string.h>
#ifdef HAVE_ATOLL_CONSOLE
#include <spice-client.h>
#endif

#define DEFAULT_INTERVAL_MS 2000
/* Source pixels averaged per thumbnail pixel and axis at most: keeps a
 * 4K screen as cheap as a small one. */
#define MAX_TAPS 4

struct _AtollManagerThumbnail {
	GtkWidget parent;

	char *uri;
	guint interval_ms, timer_id, early_id, snapshots;
	gboolean suspended;
	GdkTexture *texture;
#ifdef HAVE_ATOLL_CONSOLE
	SpiceSession *session;
	SpiceChannel *display;
	const guint8 *primary;
	int format, width, height, stride;
	gboolean dirty;
#endif
};

G_DEFINE_FINAL_TYPE(AtollManagerThumbnail, atoll_manager_thumbnail, GTK_TYPE_WIDGET)

#ifdef HAVE_ATOLL_CONSOLE
static guint32 read_xrgb(const guint8 *row, int format, int x)
{
	guint16 p;
	guint32 v;
	switch (format) {
	case SPICE_SURFACE_FMT_16_565:
		memcpy(&p, row + 2 * x, 2);
		return ((p & 0xf800u) << 8) | ((p & 0x07e0u) << 5) | ((p & 0x001fu) << 3);
	case SPICE_SURFACE_FMT_16_555:
		memcpy(&p, row + 2 * x, 2);
		return ((p & 0x7c00u) << 9) | ((p & 0x03e0u) << 6) | ((p & 0x001fu) << 3);
	default:
		memcpy(&v, row + 4 * x, 4);
		return v;
	}
}

static void snapshot_surface(AtollManagerThumbnail *self)
{
	int sw = self->width, sh = self->height;
	if (!self->primary || sw <= 0 || sh <= 0)
		return;
	/* Fit into the thumbnail box, keeping the aspect. */
	int tw = ATOLL_MANAGER_THUMBNAIL_WIDTH;
	int th = (int)((gint64)sh * tw / sw);
	if (th > ATOLL_MANAGER_THUMBNAIL_HEIGHT) {
		th = ATOLL_MANAGER_THUMBNAIL_HEIGHT;
		tw = MAX(1, (int)((gint64)sw * th / sh));
	}
	th = MAX(th, 1);
	guint8 *out = g_malloc((gsize)tw * th * 4);
	for (int ty = 0; ty < th; ty++) {
		int y0 = (int)((gint64)ty * sh / th), y1 = MAX(y0 + 1, (int)((gint64)(ty + 1) * sh / th));
		int ystep = MAX(1, (y1 - y0) / MAX_TAPS);
		for (int tx = 0; tx < tw; tx++) {
			int x0 = (int)((gint64)tx * sw / tw), x1 = MAX(x0 + 1, (int)((gint64)(tx + 1) * sw / tw));
			int xstep = MAX(1, (x1 - x0) / MAX_TAPS);
			guint r = 0, g = 0, b = 0, n = 0;
			for (int y = y0; y < y1; y += ystep) {
				const guint8 *row = self->primary + (gsize)y * self->stride;
				for (int x = x0; x < x1; x += xstep) {
					guint32 v = read_xrgb(row, self->format, x);
					r += (v >> 16) & 0xff;
					g += (v >> 8) & 0xff;
					b += v & 0xff;
					n++;
				}
			}
			guint8 *px = out + ((gsize)ty * tw + tx) * 4;
			/* GDK_MEMORY_B8G8R8A8: bytes B, G, R, A. */
			px[0] = (guint8)(b / n);
			px[1] = (guint8)(g / n);
			px[2] = (guint8)(r / n);
			px[3] = 0xff;
		}
	}
	g_autoptr(GBytes) bytes = g_bytes_new_take(out, (gsize)tw * th * 4);
	g_clear_object(&self->texture);
	self->texture = gdk_memory_texture_new(tw, th, GDK_MEMORY_B8G8R8A8, bytes,
					       (gsize)tw * 4);
	self->snapshots++;
	self->dirty = FALSE;
	gtk_widget_queue_draw(GTK_WIDGET(self));
}

static gboolean snapshot_tick(gpointer data)
{
	AtollManagerThumbnail *self = data;
	if (self->dirty)
		snapshot_surface(self);
	return G_SOURCE_CONTINUE;
}

static gboolean early_tick(gpointer data)
{
	AtollManagerThumbnail *self = data;
	self->early_id = 0;
	snapshot_tick(self);
	return G_SOURCE_REMOVE;
}

static void on_primary_create(SpiceChannel *channel, int format, int width, int height,
			      int stride, int shmid, gpointer imgdata, gpointer data)
{
	AtollManagerThumbnail *self = data;
	(void)channel;
	(void)shmid;
	self->primary = imgdata;
	self->format = format;
	self->width = width;
	self->height = height;
	self->stride = stride;
	self->dirty = TRUE;
	/* The first picture soon after the screen arrives, not a period later. */
	if (!self->early_id)
		self->early_id = g_timeout_add(300, early_tick, self);
}

static void on_primary_destroy(SpiceChannel *channel, gpointer data)
{
	AtollManagerThumbnail *self = data;
	(void)channel;
	self->primary = NULL;
}

static void on_invalidate(SpiceChannel *channel, int x, int y, int w, int h, gpointer data)
{
	AtollManagerThumbnail *self = data;
	(void)channel;
	(void)x;
	(void)y;
	(void)w;
	(void)h;
	self->dirty = TRUE;
}

static void on_channel_new(SpiceSession *session, SpiceChannel *channel, gpointer data)
{
	AtollManagerThumbnail *self = data;
	(void)session;
	int id;
	g_object_get(channel, "channel-id", &id, NULL);
	/* Everything else (inputs, cursor, audio) stays unconnected. */
	if (SPICE_IS_MAIN_CHANNEL(channel)) {
		spice_channel_connect(channel);
	} else if (SPICE_IS_DISPLAY_CHANNEL(channel) && id == 0 && !self->display) {
		self->display = g_object_ref(channel);
		g_signal_connect(channel, "display-primary-create", G_CALLBACK(on_primary_create), self);
		g_signal_connect(channel, "display-primary-destroy", G_CALLBACK(on_primary_destroy), self);
		g_signal_connect(channel, "display-invalidate", G_CALLBACK(on_invalidate), self);
		spice_channel_connect(channel);
	}
}

static void on_channel_destroy(SpiceSession *session, SpiceChannel *channel, gpointer data)
{
	AtollManagerThumbnail *self = data;
	(void)session;
	if (channel != self->display)
		return;
	g_signal_handlers_disconnect_by_data(channel, self);
	g_clear_object(&self->display);
	self->primary = NULL;
}
#endif

static void stop(AtollManagerThumbnail *self)
{
	g_clear_handle_id(&self->timer_id, g_source_remove);
	g_clear_handle_id(&self->early_id, g_source_remove);
#ifdef HAVE_ATOLL_CONSOLE
	if (self->display) {
		g_signal_handlers_disconnect_by_data(self->display, self);
		g_clear_object(&self->display);
	}
	if (self->session) {
		g_signal_handlers_disconnect_by_data(self->session, self);
		spice_session_disconnect(self->session);
		g_clear_object(&self->session);
	}
	self->primary = NULL;
	self->dirty = FALSE;
#endif
}

static void start(AtollManagerThumbnail *self)
{
	stop(self);
	if (!self->uri || self->suspended || !gtk_widget_get_mapped(GTK_WIDGET(self)))
		return;
#ifdef HAVE_ATOLL_CONSOLE
	self->session = spice_session_new();
	g_object_set(self->session, "uri", self->uri, "enable-audio", FALSE,
		     "enable-usbredir", FALSE, NULL);
	g_signal_connect(self->session, "channel-new", G_CALLBACK(on_channel_new), self);
	g_signal_connect(self->session, "channel-destroy", G_CALLBACK(on_channel_destroy), self);
	if (!spice_session_connect(self->session)) {
		/* A URI atolld made: not expected to be invalid; no picture. */
		g_warning("cannot open the thumbnail console %s", self->uri);
		stop(self);
		return;
	}
	self->timer_id = g_timeout_add(self->interval_ms, snapshot_tick, self);
#endif
}

static void atoll_manager_thumbnail_map(GtkWidget *widget)
{
	GTK_WIDGET_CLASS(atoll_manager_thumbnail_parent_class)->map(widget);
	start(ATOLL_MANAGER_THUMBNAIL(widget));
}

static void atoll_manager_thumbnail_unmap(GtkWidget *widget)
{
	stop(ATOLL_MANAGER_THUMBNAIL(widget));
	GTK_WIDGET_CLASS(atoll_manager_thumbnail_parent_class)->unmap(widget);
}

static void atoll_manager_thumbnail_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
	AtollManagerThumbnail *self = ATOLL_MANAGER_THUMBNAIL(widget);
	int w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
	if (!self->texture || !self->uri)
		return;
	int tw = gdk_texture_get_width(self->texture), th = gdk_texture_get_height(self->texture);
	double scale = MIN((double)w / tw, (double)h / th);
	graphene_rect_t r = GRAPHENE_RECT_INIT((float)((w - tw * scale) / 2),
					       (float)((h - th * scale) / 2),
					       (float)(tw * scale), (float)(th * scale));
	gtk_snapshot_append_texture(snapshot, self->texture, &r);
}

static void atoll_manager_thumbnail_measure(GtkWidget *widget, GtkOrientation orientation,
					    int for_size, int *min, int *nat,
					    int *min_baseline, int *nat_baseline)
{
	(void)widget;
	(void)for_size;
	*min = *nat = orientation == GTK_ORIENTATION_HORIZONTAL ?
		ATOLL_MANAGER_THUMBNAIL_WIDTH : ATOLL_MANAGER_THUMBNAIL_HEIGHT;
	*min_baseline = *nat_baseline = -1;
}

static void atoll_manager_thumbnail_dispose(GObject *object)
{
	stop(ATOLL_MANAGER_THUMBNAIL(object));
	G_OBJECT_CLASS(atoll_manager_thumbnail_parent_class)->dispose(object);
}

static void atoll_manager_thumbnail_finalize(GObject *object)
{
	AtollManagerThumbnail *self = ATOLL_MANAGER_THUMBNAIL(object);
	g_clear_object(&self->texture);
	g_free(self->uri);
	G_OBJECT_CLASS(atoll_manager_thumbnail_parent_class)->finalize(object);
}

static void atoll_manager_thumbnail_class_init(AtollManagerThumbnailClass *klass)
{
	GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
	G_OBJECT_CLASS(klass)->dispose = atoll_manager_thumbnail_dispose;
	G_OBJECT_CLASS(klass)->finalize = atoll_manager_thumbnail_finalize;
	wc->map = atoll_manager_thumbnail_map;
	wc->unmap = atoll_manager_thumbnail_unmap;
	wc->snapshot = atoll_manager_thumbnail_snapshot;
	wc->measure = atoll_manager_thumbnail_measure;
	gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_IMG);
	gtk_widget_class_set_css_name(wc, "thumbnail");
}

static void atoll_manager_thumbnail_init(AtollManagerThumbnail *self)
{
	self->interval_ms = DEFAULT_INTERVAL_MS;
	gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
				       _("Console thumbnail"), -1);
}

GtkWidget *atoll_manager_thumbnail_new(void)
{
	return g_object_new(ATOLL_TYPE_MANAGER_THUMBNAIL, NULL);
}

void atoll_manager_thumbnail_set_uri(AtollManagerThumbnail *self, const char *uri)
{
	if (g_strcmp0(uri, self->uri) == 0)
		return;
	g_free(self->uri);
	self->uri = g_strdup(uri);
	if (!uri)
		g_clear_object(&self->texture);
	gtk_widget_set_visible(GTK_WIDGET(self), uri != NULL);
	start(self);
	gtk_widget_queue_draw(GTK_WIDGET(self));
}

const char *atoll_manager_thumbnail_get_uri(AtollManagerThumbnail *self)
{
	return self->uri;
}

void atoll_manager_thumbnail_set_interval(AtollManagerThumbnail *self, guint ms)
{
	self->interval_ms = MAX(ms, 100);
	if (self->timer_id)
		start(self);
}

gboolean atoll_manager_thumbnail_is_connected(AtollManagerThumbnail *self)
{
#ifdef HAVE_ATOLL_CONSOLE
	return self->session != NULL;
#else
	(void)self;
	return FALSE;
#endif
}

GdkTexture *atoll_manager_thumbnail_get_texture(AtollManagerThumbnail *self)
{
	return self->texture;
}

guint atoll_manager_thumbnail_get_snapshots(AtollManagerThumbnail *self)
{
	return self->snapshots;
}

void atoll_manager_thumbnail_set_suspended(AtollManagerThumbnail *self, gboolean suspended)
{
	if (self->suspended == suspended)
		return;
	self->suspended = suspended;
	if (suspended)
		stop(self);
	else
		start(self);
}
