/* atoll-console.c - GTK 4 SPICE console widget on spice-client-glib-2.0.
 *
 * The widget owns one SpiceSession at a time.  The guest's primary surface
 * is mirrored into our own buffer one damaged rectangle at a time (with the
 * alpha byte forced to 0xff: the server leaves it 0 and GTK 4.8 has no
 * "ignore alpha" memory format), and shown as horizontal strips of
 * GdkMemoryTexture so that a small update only re-uploads the strips it
 * touches.
 */
#define G_LOG_DOMAIN "atoll-console"

#include "atoll-console.h"

#include <math.h>
#include <spice-client.h>
#include <string.h>
#include <unistd.h>

#include "keymap.h"

#define STRIP_ROWS 64
#define RESIZE_DEBOUNCE_MS 400
#define RECONNECT_FIRST_MS 250
#define RECONNECT_MAX_MS 4000
#define RECONNECT_MAX_ATTEMPTS 15
#define MAX_SCANCODE 0x200

/* PC/XT codes used by the widget itself. */
#define XT_LCTRL 0x1d
#define XT_LALT 0x38
#define XT_RCTRL (ATOLL_XT_EXTENDED | 0x1d)
#define XT_RALT (ATOLL_XT_EXTENDED | 0x38)
#define XT_DELETE (ATOLL_XT_EXTENDED | 0x53)

struct _AtollConsole {
    GtkWidget parent_instance;

    GtkWidget *status_label;

    /* Where to connect; kept for reconnects. */
    char *uri;
    char *password;
    AtollConsoleSocketFunc socket_func;
    gpointer socket_data;
    GDestroyNotify socket_destroy;
    int pending_fd;

    SpiceSession *session;
    SpiceMainChannel *main;
    SpiceDisplayChannel *display;
    SpiceInputsChannel *inputs;
    GPtrArray *channels; /* every channel we attached handlers to */

    AtollConsoleState state;
    char *error_message;
    gboolean auto_reconnect;
    gboolean was_connected; /* since the last explicit connect */
    guint reconnect_attempt;
    guint reconnect_id;

    /* The server's surface (owned by spice-client-glib) and our copy. */
    const guint8 *primary;
    int primary_format;
    int primary_stride;
    int guest_width;
    int guest_height;
    gboolean display_marked;
    guint8 *fb;
    GdkTexture **strips;
    gboolean *strip_dirty;
    guint n_strips;

    AtollConsoleScale scale_mode;
    gboolean resize_guest;
    guint resize_id;

    guint32 pressed[MAX_SCANCODE / 32];
    gboolean release_combo_armed;
    gboolean grabbed;
    int mouse_mode;
    int button_mask;
    double last_x, last_y;
    gboolean have_last;
    double scroll_acc;
};

G_DEFINE_FINAL_TYPE(AtollConsole, atoll_console, GTK_TYPE_WIDGET)

G_DEFINE_ENUM_TYPE(AtollConsoleState, atoll_console_state,
    G_DEFINE_ENUM_VALUE(ATOLL_CONSOLE_STATE_DISCONNECTED, "disconnected"),
    G_DEFINE_ENUM_VALUE(ATOLL_CONSOLE_STATE_CONNECTING, "connecting"),
    G_DEFINE_ENUM_VALUE(ATOLL_CONSOLE_STATE_CONNECTED, "connected"),
    G_DEFINE_ENUM_VALUE(ATOLL_CONSOLE_STATE_RECONNECTING, "reconnecting"),
    G_DEFINE_ENUM_VALUE(ATOLL_CONSOLE_STATE_ERROR, "error"))

G_DEFINE_ENUM_TYPE(AtollConsoleScale, atoll_console_scale,
    G_DEFINE_ENUM_VALUE(ATOLL_CONSOLE_SCALE_FIT, "fit"),
    G_DEFINE_ENUM_VALUE(ATOLL_CONSOLE_SCALE_ONE_TO_ONE, "1:1"))

enum {
    PROP_0,
    PROP_STATE,
    PROP_SCALE_MODE,
    PROP_RESIZE_GUEST,
    PROP_AUTO_RECONNECT,
    PROP_KEYBOARD_GRABBED,
    PROP_GUEST_WIDTH,
    PROP_GUEST_HEIGHT,
    N_PROPS
};

enum {
    SIGNAL_CONNECTED,
    SIGNAL_DISCONNECTED,
    SIGNAL_RECONNECTING,
    SIGNAL_ERROR,
    N_SIGNALS
};

static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

static void start_session(AtollConsole *self);
static void close_session(AtollConsole *self);
static void release_all_keys(AtollConsole *self);

/* ------------------------------------------------------------------ */
/* State                                                               */

static const char *state_text(AtollConsoleState state)
{
    switch (state) {
    case ATOLL_CONSOLE_STATE_CONNECTING:
        return "Connecting…";
    case ATOLL_CONSOLE_STATE_RECONNECTING:
        return "Connection lost — reconnecting…";
    case ATOLL_CONSOLE_STATE_DISCONNECTED:
        return "Disconnected";
    case ATOLL_CONSOLE_STATE_ERROR:
        return "Console unavailable";
    case ATOLL_CONSOLE_STATE_CONNECTED:
        break;
    }
    return NULL;
}

static void set_state(AtollConsole *self, AtollConsoleState state)
{
    const char *text = state_text(state);

    if (self->state == state)
        return;
    self->state = state;
    gtk_label_set_text(GTK_LABEL(self->status_label), text ? text : "");
    gtk_widget_set_visible(self->status_label, text != NULL);
    gtk_accessible_update_property(GTK_ACCESSIBLE(self),
        GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
        text ? text : "Connected; keyboard and pointer go to the virtual machine",
        -1);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

static void fail(AtollConsole *self, const char *message)
{
    close_session(self);
    g_free(self->error_message);
    self->error_message = g_strdup(message);
    g_debug("error: %s", message);
    set_state(self, ATOLL_CONSOLE_STATE_ERROR);
    g_signal_emit(self, signals[SIGNAL_ERROR], 0, message);
}

static gboolean reconnect_timeout(gpointer data)
{
    AtollConsole *self = data;

    self->reconnect_id = 0;
    start_session(self);
    return G_SOURCE_REMOVE;
}

static void schedule_reconnect(AtollConsole *self)
{
    guint delay = RECONNECT_FIRST_MS;

    close_session(self);
    if (self->reconnect_attempt >= RECONNECT_MAX_ATTEMPTS) {
        fail(self, "The connection to the virtual machine's console was lost and "
                   "could not be re-established. Check that the domain is "
                   "running, then reconnect.");
        return;
    }
    for (guint i = 0; i < self->reconnect_attempt && delay < RECONNECT_MAX_MS; i++)
        delay *= 2;
    delay = MIN(delay, RECONNECT_MAX_MS);
    self->reconnect_attempt++;
    g_debug("reconnect attempt %u in %u ms", self->reconnect_attempt, delay);
    set_state(self, ATOLL_CONSOLE_STATE_RECONNECTING);
    g_signal_emit(self, signals[SIGNAL_RECONNECTING], 0, self->reconnect_attempt, delay);
    self->reconnect_id = g_timeout_add(delay, reconnect_timeout, self);
}

static void connection_lost(AtollConsole *self, const char *first_failure)
{
    if (self->was_connected && self->auto_reconnect) {
        schedule_reconnect(self);
        return;
    }
    if (self->was_connected) {
        close_session(self);
        set_state(self, ATOLL_CONSOLE_STATE_DISCONNECTED);
        g_signal_emit(self, signals[SIGNAL_DISCONNECTED], 0);
        return;
    }
    fail(self, first_failure);
}

/* ------------------------------------------------------------------ */
/* Framebuffer                                                         */

static void free_framebuffer(AtollConsole *self)
{
    for (guint i = 0; i < self->n_strips; i++)
        g_clear_object(&self->strips[i]);
    g_clear_pointer(&self->strips, g_free);
    g_clear_pointer(&self->strip_dirty, g_free);
    g_clear_pointer(&self->fb, g_free);
    self->n_strips = 0;
    self->primary = NULL;
}

static inline guint32 pixel_to_xrgb(const guint8 *src, int format, int x)
{
    guint16 p;

    switch (format) {
    case SPICE_SURFACE_FMT_16_565:
        memcpy(&p, src + 2 * x, 2);
        return ((p & 0xf800u) << 8) | ((p & 0x07e0u) << 5) | ((p & 0x001fu) << 3);
    case SPICE_SURFACE_FMT_16_555:
        memcpy(&p, src + 2 * x, 2);
        return ((p & 0x7c00u) << 9) | ((p & 0x03e0u) << 6) | ((p & 0x001fu) << 3);
    default: {
        guint32 v;

        memcpy(&v, src + 4 * x, 4);
        return v;
    }
    }
}

/* Copies a damaged rectangle of the server's surface into our buffer. */
static void copy_rect(AtollConsole *self, int x, int y, int w, int h)
{
    int x1 = CLAMP(x, 0, self->guest_width), y1 = CLAMP(y, 0, self->guest_height);
    int x2 = CLAMP(x + w, 0, self->guest_width), y2 = CLAMP(y + h, 0, self->guest_height);

    if (!self->primary || !self->fb || x1 >= x2 || y1 >= y2)
        return;
    for (int row = y1; row < y2; row++) {
        const guint8 *src = self->primary + (gsize)row * self->primary_stride;
        guint32 *dst = (guint32 *)(self->fb + (gsize)row * self->guest_width * 4);

        for (int col = x1; col < x2; col++)
            dst[col] = pixel_to_xrgb(src, self->primary_format, col) | 0xff000000u;
    }
    for (int s = y1 / STRIP_ROWS; s <= (y2 - 1) / STRIP_ROWS; s++)
        self->strip_dirty[s] = TRUE;
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

static void update_strips(AtollConsole *self)
{
    gsize stride = (gsize)self->guest_width * 4;

    for (guint s = 0; s < self->n_strips; s++) {
        int y0 = s * STRIP_ROWS;
        int rows = MIN(STRIP_ROWS, self->guest_height - y0);
        g_autoptr(GBytes) bytes = NULL;

        if (!self->strip_dirty[s] && self->strips[s])
            continue;
        bytes = g_bytes_new(self->fb + y0 * stride, rows * stride);
        g_clear_object(&self->strips[s]);
        self->strips[s] = gdk_memory_texture_new(self->guest_width, rows,
            GDK_MEMORY_B8G8R8A8_PREMULTIPLIED, bytes, stride);
        self->strip_dirty[s] = FALSE;
    }
}

static void on_primary_create(SpiceChannel *channel, int format, int width, int height,
                              int stride, int shmid, gpointer imgdata, gpointer data)
{
    AtollConsole *self = data;
    gboolean size_changed = width != self->guest_width || height != self->guest_height;

    (void)channel;
    (void)shmid;
    free_framebuffer(self);
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384 || !imgdata) {
        g_warning("ignoring a %dx%d guest screen", width, height);
        return;
    }
    self->primary = imgdata;
    self->primary_format = format;
    self->primary_stride = stride;
    self->guest_width = width;
    self->guest_height = height;
    self->fb = g_malloc0((gsize)width * height * 4);
    self->n_strips = (height + STRIP_ROWS - 1) / STRIP_ROWS;
    self->strips = g_new0(GdkTexture *, self->n_strips);
    self->strip_dirty = g_new0(gboolean, self->n_strips);
    copy_rect(self, 0, 0, width, height);
    if (size_changed) {
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_GUEST_WIDTH]);
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_GUEST_HEIGHT]);
        gtk_widget_queue_resize(GTK_WIDGET(self));
    }
}

static void on_primary_destroy(SpiceChannel *channel, gpointer data)
{
    AtollConsole *self = data;

    (void)channel;
    /* Keep showing our copy until the next surface: the pointer into the
     * server's buffer is what goes stale. */
    self->primary = NULL;
}

static void on_invalidate(SpiceChannel *channel, int x, int y, int w, int h, gpointer data)
{
    (void)channel;
    copy_rect(data, x, y, w, h);
}

static void on_mark(SpiceChannel *channel, int mark, gpointer data)
{
    AtollConsole *self = data;

    (void)channel;
    self->display_marked = mark != 0;
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

/* ------------------------------------------------------------------ */
/* Geometry                                                            */

typedef struct {
    double scale, x, y, w, h;
} View;

static View compute_view(AtollConsole *self)
{
    double ww = gtk_widget_get_width(GTK_WIDGET(self));
    double wh = gtk_widget_get_height(GTK_WIDGET(self));
    View v = { 1.0, 0, 0, 0, 0 };

    if (self->guest_width <= 0 || self->guest_height <= 0)
        return v;
    if (self->scale_mode == ATOLL_CONSOLE_SCALE_FIT)
        v.scale = MIN(ww / self->guest_width, wh / self->guest_height);
    else
        v.scale = 1.0 / gtk_widget_get_scale_factor(GTK_WIDGET(self));
    if (v.scale <= 0)
        v.scale = 1.0;
    v.w = self->guest_width * v.scale;
    v.h = self->guest_height * v.scale;
    v.x = MAX(0, floor((ww - v.w) / 2));
    v.y = MAX(0, floor((wh - v.h) / 2));
    return v;
}

static gboolean widget_to_guest(AtollConsole *self, double x, double y, int *gx, int *gy)
{
    View v = compute_view(self);

    if (self->guest_width <= 0)
        return FALSE;
    *gx = CLAMP((int)floor((x - v.x) / v.scale), 0, self->guest_width - 1);
    *gy = CLAMP((int)floor((y - v.y) / v.scale), 0, self->guest_height - 1);
    return TRUE;
}

static void atoll_console_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
    AtollConsole *self = ATOLL_CONSOLE(widget);
    int w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
    View v = compute_view(self);

    gtk_snapshot_append_color(snapshot, &(GdkRGBA){ 0, 0, 0, 1 },
                              &GRAPHENE_RECT_INIT(0, 0, w, h));
    if (self->fb && self->display_marked) {
        update_strips(self);
        /* Strip edges on whole pixels: fractional edges would be
         * antialiased and show as faint lines between the strips. */
        double w = round(v.w);

        for (guint s = 0; s < self->n_strips; s++) {
            int y0 = s * STRIP_ROWS;
            int y1 = MIN(y0 + STRIP_ROWS, self->guest_height);
            double top = round(v.y + y0 * v.scale);
            double bottom = round(v.y + y1 * v.scale);

            gtk_snapshot_append_texture(snapshot, self->strips[s],
                &GRAPHENE_RECT_INIT(v.x, top, w, bottom - top));
        }
    }
    gtk_widget_snapshot_child(widget, self->status_label, snapshot);
}

static void atoll_console_measure(GtkWidget *widget, GtkOrientation orientation,
                                  int for_size, int *minimum, int *natural,
                                  int *min_baseline, int *nat_baseline)
{
    AtollConsole *self = ATOLL_CONSOLE(widget);
    int guest = orientation == GTK_ORIENTATION_HORIZONTAL ? self->guest_width
                                                          : self->guest_height;
    int scale = gtk_widget_get_scale_factor(widget);
    int lmin = 0, lnat = 0;

    (void)for_size;
    gtk_widget_measure(self->status_label, orientation, -1, &lmin, &lnat, NULL, NULL);
    if (guest <= 0)
        guest = orientation == GTK_ORIENTATION_HORIZONTAL ? 640 : 480;
    *natural = MAX(guest / scale, lnat);
    if (self->scale_mode == ATOLL_CONSOLE_SCALE_ONE_TO_ONE)
        *minimum = *natural;
    else
        *minimum = MAX(lmin, 32);
    *min_baseline = *nat_baseline = -1;
}

static gboolean resize_guest_timeout(gpointer data)
{
    AtollConsole *self = data;
    int scale = gtk_widget_get_scale_factor(GTK_WIDGET(self));
    int w = gtk_widget_get_width(GTK_WIDGET(self)) * scale;
    int h = gtk_widget_get_height(GTK_WIDGET(self)) * scale;

    gboolean agent = FALSE;

    self->resize_id = 0;
    if (!self->main || w <= 0 || h <= 0)
        return G_SOURCE_REMOVE;
    /* Monitor configs travel through the guest agent (vdagent); without one
     * the guest cannot follow.  on_agent_connected() retries. */
    g_object_get(self->main, "agent-connected", &agent, NULL);
    if (!agent) {
        g_debug("resize-guest: no guest agent yet");
        return G_SOURCE_REMOVE;
    }
    /* Many guests' drivers want widths in multiples of 8. */
    w &= ~7;
    spice_main_channel_update_display_enabled(self->main, 0, TRUE, FALSE);
    spice_main_channel_update_display(self->main, 0, 0, 0, w, h, FALSE);
    spice_main_channel_send_monitor_config(self->main);
    return G_SOURCE_REMOVE;
}

static void schedule_guest_resize(AtollConsole *self)
{
    if (!self->resize_guest || self->state != ATOLL_CONSOLE_STATE_CONNECTED)
        return;
    g_clear_handle_id(&self->resize_id, g_source_remove);
    self->resize_id = g_timeout_add(RESIZE_DEBOUNCE_MS, resize_guest_timeout, self);
}

static void atoll_console_size_allocate(GtkWidget *widget, int width, int height,
                                        int baseline)
{
    AtollConsole *self = ATOLL_CONSOLE(widget);

    gtk_widget_allocate(self->status_label, width, height, baseline, NULL);
    schedule_guest_resize(self);
}

/* ------------------------------------------------------------------ */
/* Keyboard                                                            */

static gboolean key_is_pressed(AtollConsole *self, guint xt)
{
    return xt < MAX_SCANCODE && (self->pressed[xt / 32] & (1u << (xt % 32)));
}

static void set_key_pressed(AtollConsole *self, guint xt, gboolean down)
{
    if (xt >= MAX_SCANCODE)
        return;
    if (down)
        self->pressed[xt / 32] |= 1u << (xt % 32);
    else
        self->pressed[xt / 32] &= ~(1u << (xt % 32));
}

static void send_key(AtollConsole *self, guint xt, gboolean down)
{
    if (!xt)
        return;
    set_key_pressed(self, xt, down);
    if (!self->inputs)
        return;
    if (down)
        spice_inputs_channel_key_press(self->inputs, xt);
    else
        spice_inputs_channel_key_release(self->inputs, xt);
}

static void release_all_keys(AtollConsole *self)
{
    for (guint xt = 0; xt < MAX_SCANCODE; xt++) {
        if (key_is_pressed(self, xt))
            send_key(self, xt, FALSE);
    }
    self->release_combo_armed = FALSE;
}

static gboolean is_ctrl(guint xt)
{
    return xt == XT_LCTRL || xt == XT_RCTRL;
}

static gboolean is_alt(guint xt)
{
    return xt == XT_LALT || xt == XT_RALT;
}

static gboolean ctrl_down(AtollConsole *self)
{
    return key_is_pressed(self, XT_LCTRL) || key_is_pressed(self, XT_RCTRL);
}

static gboolean alt_down(AtollConsole *self)
{
    return key_is_pressed(self, XT_LALT) || key_is_pressed(self, XT_RALT);
}

static gboolean on_key_pressed(GtkEventControllerKey *controller, guint keyval,
                               guint keycode, GdkModifierType state, gpointer data)
{
    AtollConsole *self = data;
    guint xt = atoll_keymap_hardware_to_xt(keycode);

    (void)controller;
    (void)keyval;
    (void)state;
    if (!xt)
        return FALSE;
    send_key(self, xt, TRUE);
    /* Ctrl+Alt pressed together, nothing else: arm the grab-release combo;
     * any other key (Ctrl+Alt+Del, Ctrl+Alt+F2) disarms it. */
    self->release_combo_armed = (is_ctrl(xt) && alt_down(self)) ||
                                (is_alt(xt) && ctrl_down(self));
    return TRUE;
}

static void on_key_released(GtkEventControllerKey *controller, guint keyval,
                            guint keycode, GdkModifierType state, gpointer data)
{
    AtollConsole *self = data;
    guint xt = atoll_keymap_hardware_to_xt(keycode);

    (void)controller;
    (void)keyval;
    (void)state;
    if (!xt)
        return;
    send_key(self, xt, FALSE);
    if (self->release_combo_armed && (is_ctrl(xt) || is_alt(xt))) {
        self->release_combo_armed = FALSE;
        atoll_console_release_keyboard(self);
    }
}

static GdkToplevel *get_toplevel(AtollConsole *self)
{
    GtkNative *native = gtk_widget_get_native(GTK_WIDGET(self));
    GdkSurface *surface = native ? gtk_native_get_surface(native) : NULL;

    return surface && GDK_IS_TOPLEVEL(surface) ? GDK_TOPLEVEL(surface) : NULL;
}

static void on_focus_enter(GtkEventControllerFocus *controller, gpointer data)
{
    (void)controller;
    atoll_console_grab_keyboard(data);
}

static void on_focus_leave(GtkEventControllerFocus *controller, gpointer data)
{
    AtollConsole *self = data;

    (void)controller;
    /* Keys still held when focus goes elsewhere would otherwise stay down
     * in the guest forever (their release goes to another widget). */
    release_all_keys(self);
    atoll_console_release_keyboard(self);
}

/* ------------------------------------------------------------------ */
/* Pointer                                                             */

static int gdk_to_spice_button(guint button, int *mask)
{
    switch (button) {
    case GDK_BUTTON_PRIMARY:
        *mask = SPICE_MOUSE_BUTTON_MASK_LEFT;
        return SPICE_MOUSE_BUTTON_LEFT;
    case GDK_BUTTON_MIDDLE:
        *mask = SPICE_MOUSE_BUTTON_MASK_MIDDLE;
        return SPICE_MOUSE_BUTTON_MIDDLE;
    case GDK_BUTTON_SECONDARY:
        *mask = SPICE_MOUSE_BUTTON_MASK_RIGHT;
        return SPICE_MOUSE_BUTTON_RIGHT;
    case 8:
        *mask = SPICE_MOUSE_BUTTON_MASK_SIDE;
        return SPICE_MOUSE_BUTTON_SIDE;
    case 9:
        *mask = SPICE_MOUSE_BUTTON_MASK_EXTRA;
        return SPICE_MOUSE_BUTTON_EXTRA;
    default:
        *mask = 0;
        return 0;
    }
}

static void send_pointer(AtollConsole *self, double x, double y)
{
    int gx, gy;

    if (!self->inputs || !widget_to_guest(self, x, y, &gx, &gy))
        return;
    if (self->mouse_mode == SPICE_MOUSE_MODE_SERVER) {
        /* GTK 4 cannot grab or warp the pointer: relative mode follows the
         * host pointer while it is over the console, best effort. */
        if (self->have_last) {
            View v = compute_view(self);
            int dx = (int)((x - self->last_x) / v.scale);
            int dy = (int)((y - self->last_y) / v.scale);

            if (dx || dy)
                spice_inputs_channel_motion(self->inputs, dx, dy, self->button_mask);
        }
    } else {
        spice_inputs_channel_position(self->inputs, gx, gy, 0, self->button_mask);
    }
    self->last_x = x;
    self->last_y = y;
    self->have_last = TRUE;
}

static void on_motion(GtkEventControllerMotion *controller, double x, double y,
                      gpointer data)
{
    (void)controller;
    send_pointer(data, x, y);
}

static gboolean on_legacy_event(GtkEventControllerLegacy *controller, GdkEvent *event,
                                gpointer data)
{
    AtollConsole *self = data;
    GdkEventType type = gdk_event_get_event_type(event);
    int mask, button;
    double x, y;

    (void)controller;
    if (type != GDK_BUTTON_PRESS && type != GDK_BUTTON_RELEASE)
        return FALSE;
    button = gdk_to_spice_button(gdk_button_event_get_button(event), &mask);
    if (!button)
        return FALSE;
    if (type == GDK_BUTTON_PRESS) {
        /* A click into the console takes the keyboard back after Ctrl+Alt. */
        gtk_widget_grab_focus(GTK_WIDGET(self));
        atoll_console_grab_keyboard(self);
    }
    if (gdk_event_get_position(event, &x, &y)) {
        graphene_point_t p;
        GtkNative *native = gtk_widget_get_native(GTK_WIDGET(self));

        /* Legacy events carry surface coordinates. */
        if (native && gtk_widget_compute_point(GTK_WIDGET(native), GTK_WIDGET(self),
                                               &GRAPHENE_POINT_INIT(x, y), &p))
            send_pointer(self, p.x, p.y);
    }
    if (!self->inputs)
        return TRUE;
    if (type == GDK_BUTTON_PRESS) {
        self->button_mask |= mask;
        spice_inputs_channel_button_press(self->inputs, button, self->button_mask);
    } else {
        self->button_mask &= ~mask;
        spice_inputs_channel_button_release(self->inputs, button, self->button_mask);
    }
    return TRUE;
}

static void scroll_click(AtollConsole *self, int button)
{
    spice_inputs_channel_button_press(self->inputs, button, self->button_mask);
    spice_inputs_channel_button_release(self->inputs, button, self->button_mask);
}

static gboolean on_scroll(GtkEventControllerScroll *controller, double dx, double dy,
                          gpointer data)
{
    AtollConsole *self = data;

    (void)controller;
    (void)dx;
    if (!self->inputs)
        return FALSE;
    /* Smooth (touchpad) deltas add up to whole wheel clicks. */
    self->scroll_acc += dy;
    while (self->scroll_acc <= -1.0) {
        scroll_click(self, SPICE_MOUSE_BUTTON_UP);
        self->scroll_acc += 1.0;
    }
    while (self->scroll_acc >= 1.0) {
        scroll_click(self, SPICE_MOUSE_BUTTON_DOWN);
        self->scroll_acc -= 1.0;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Cursor                                                              */

static void on_cursor_shape(GObject *cursor_channel, GParamSpec *pspec, gpointer data)
{
    AtollConsole *self = data;
    SpiceCursorShape *shape = NULL;

    (void)pspec;
    g_object_get(cursor_channel, "cursor", &shape, NULL);
    if (shape && shape->data && shape->width > 0 && shape->height > 0) {
        gsize stride = (gsize)shape->width * 4;
        g_autoptr(GBytes) bytes = g_bytes_new(shape->data, stride * shape->height);
        g_autoptr(GdkTexture) tex = gdk_memory_texture_new(shape->width, shape->height,
            GDK_MEMORY_B8G8R8A8, bytes, stride);
        g_autoptr(GdkCursor) cursor = gdk_cursor_new_from_texture(tex,
            shape->hot_spot_x, shape->hot_spot_y, NULL);

        gtk_widget_set_cursor(GTK_WIDGET(self), cursor);
    }
    if (shape)
        g_boxed_free(SPICE_TYPE_CURSOR_SHAPE, shape);
}

static void on_cursor_hide(SpiceChannel *channel, gpointer data)
{
    (void)channel;
    gtk_widget_set_cursor_from_name(GTK_WIDGET(data), "none");
}

static void on_cursor_reset(SpiceChannel *channel, gpointer data)
{
    (void)channel;
    gtk_widget_set_cursor(GTK_WIDGET(data), NULL);
}

/* ------------------------------------------------------------------ */
/* Session and channels                                                */

static void on_mouse_update(SpiceChannel *channel, gpointer data)
{
    AtollConsole *self = data;

    g_object_get(channel, "mouse-mode", &self->mouse_mode, NULL);
    self->have_last = FALSE;
}

static void on_agent_connected(GObject *main, GParamSpec *pspec, gpointer data)
{
    (void)main;
    (void)pspec;
    schedule_guest_resize(data);
}

static void on_main_event(SpiceChannel *channel, SpiceChannelEvent event, gpointer data)
{
    AtollConsole *self = data;
    const GError *err = spice_channel_get_error(channel);
    g_autofree char *msg = NULL;

    g_debug("main channel event %d (%s)", event, err ? err->message : "no error");
    switch (event) {
    case SPICE_CHANNEL_OPENED:
        self->was_connected = TRUE;
        self->reconnect_attempt = 0;
        g_clear_pointer(&self->error_message, g_free);
        set_state(self, ATOLL_CONSOLE_STATE_CONNECTED);
        g_signal_emit(self, signals[SIGNAL_CONNECTED], 0);
        schedule_guest_resize(self);
        break;
    case SPICE_CHANNEL_ERROR_AUTH:
        fail(self, "The console password was not accepted. Check the domain's "
                   "console password and connect again.");
        break;
    case SPICE_CHANNEL_ERROR_TLS:
        fail(self, "The secure (TLS) connection to the console failed. Check the "
                   "server's certificate and the CA file, then connect again.");
        break;
    case SPICE_CHANNEL_ERROR_LINK:
        msg = g_strdup_printf("The console server refused the connection (%s). "
                              "Check that the address points at a SPICE console.",
                              err ? err->message : "protocol error");
        connection_lost(self, msg);
        break;
    case SPICE_CHANNEL_ERROR_CONNECT:
    case SPICE_CHANNEL_ERROR_IO:
    case SPICE_CHANNEL_CLOSED:
        msg = g_strdup_printf("Could not connect to the console at %s%s%s. Check "
                              "that the domain is running and has a SPICE console, "
                              "then reconnect.",
                              self->uri ? self->uri : "the given socket",
                              err ? ": " : "", err ? err->message : "");
        connection_lost(self, msg);
        break;
    default:
        break;
    }
}

static void on_open_fd(SpiceChannel *channel, int with_tls, gpointer data)
{
    AtollConsole *self = data;
    g_autoptr(GError) error = NULL;
    int fd;

    (void)with_tls;
    if (!self->socket_func) {
        g_warning("SPICE channel needs a socket but no socket function was given");
        return;
    }
    fd = self->socket_func(self, self->socket_data, &error);
    if (fd < 0) {
        g_warning("cannot open a console socket: %s", error ? error->message : "?");
        return;
    }
    spice_channel_open_fd(channel, fd);
}

static void track_channel(AtollConsole *self, SpiceChannel *channel)
{
    g_ptr_array_add(self->channels, g_object_ref(channel));
    g_signal_connect(channel, "open-fd", G_CALLBACK(on_open_fd), self);
}

static void on_channel_new(SpiceSession *session, SpiceChannel *channel, gpointer data)
{
    AtollConsole *self = data;
    int id;

    (void)session;
    g_object_get(channel, "channel-id", &id, NULL);
    if (SPICE_IS_MAIN_CHANNEL(channel)) {
        track_channel(self, channel);
        self->main = SPICE_MAIN_CHANNEL(channel);
        g_signal_connect(channel, "channel-event", G_CALLBACK(on_main_event), self);
        g_signal_connect(channel, "main-mouse-update", G_CALLBACK(on_mouse_update), self);
        g_signal_connect(channel, "notify::agent-connected",
                         G_CALLBACK(on_agent_connected), self);
        on_mouse_update(channel, self);
    } else if (SPICE_IS_DISPLAY_CHANNEL(channel) && id == 0) {
        track_channel(self, channel);
        self->display = SPICE_DISPLAY_CHANNEL(channel);
        g_signal_connect(channel, "display-primary-create", G_CALLBACK(on_primary_create), self);
        g_signal_connect(channel, "display-primary-destroy", G_CALLBACK(on_primary_destroy), self);
        g_signal_connect(channel, "display-invalidate", G_CALLBACK(on_invalidate), self);
        g_signal_connect(channel, "display-mark", G_CALLBACK(on_mark), self);
        spice_channel_connect(channel);
    } else if (SPICE_IS_INPUTS_CHANNEL(channel)) {
        track_channel(self, channel);
        self->inputs = SPICE_INPUTS_CHANNEL(channel);
        spice_channel_connect(channel);
    } else if (SPICE_IS_CURSOR_CHANNEL(channel) && id == 0) {
        track_channel(self, channel);
        g_signal_connect(channel, "notify::cursor", G_CALLBACK(on_cursor_shape), self);
        g_signal_connect(channel, "cursor-hide", G_CALLBACK(on_cursor_hide), self);
        g_signal_connect(channel, "cursor-reset", G_CALLBACK(on_cursor_reset), self);
        spice_channel_connect(channel);
    }
}

static void on_channel_destroy(SpiceSession *session, SpiceChannel *channel, gpointer data)
{
    AtollConsole *self = data;

    (void)session;
    if ((gpointer)channel == (gpointer)self->main)
        self->main = NULL;
    else if ((gpointer)channel == (gpointer)self->display)
        self->display = NULL;
    else if ((gpointer)channel == (gpointer)self->inputs)
        self->inputs = NULL;
}

/* Drops the session without touching the state. */
static void close_session(AtollConsole *self)
{
    g_clear_handle_id(&self->reconnect_id, g_source_remove);
    g_clear_handle_id(&self->resize_id, g_source_remove);
    if (self->inputs)
        release_all_keys(self);
    memset(self->pressed, 0, sizeof(self->pressed));
    for (guint i = 0; i < self->channels->len; i++)
        g_signal_handlers_disconnect_by_data(self->channels->pdata[i], self);
    g_ptr_array_set_size(self->channels, 0);
    self->main = NULL;
    self->display = NULL;
    self->inputs = NULL;
    self->button_mask = 0;
    self->have_last = FALSE;
    if (self->session) {
        g_signal_handlers_disconnect_by_data(self->session, self);
        spice_session_disconnect(self->session);
        g_clear_object(&self->session);
    }
    /* The server's buffer goes away with the session; our copy stays on
     * screen (dimmed by the status overlay) until a new surface arrives. */
    self->primary = NULL;
}

static void start_session(AtollConsole *self)
{
    g_autoptr(GError) error = NULL;
    int fd = self->pending_fd;

    close_session(self);
    self->pending_fd = -1;
    self->session = spice_session_new();
    g_object_set(self->session, "enable-audio", FALSE, "enable-usbredir", FALSE, NULL);
    if (self->uri)
        g_object_set(self->session, "uri", self->uri, NULL);
    if (self->password)
        g_object_set(self->session, "password", self->password, NULL);
    g_signal_connect(self->session, "channel-new", G_CALLBACK(on_channel_new), self);
    g_signal_connect(self->session, "channel-destroy", G_CALLBACK(on_channel_destroy), self);
    if (self->state != ATOLL_CONSOLE_STATE_RECONNECTING)
        set_state(self, ATOLL_CONSOLE_STATE_CONNECTING);

    if (self->uri) {
        if (!spice_session_connect(self->session))
            fail(self, "The console address is not valid. Use spice://HOST:PORT or "
                       "spice+unix:///PATH.");
        return;
    }
    if (fd < 0 && self->socket_func)
        fd = self->socket_func(self, self->socket_data, &error);
    if (fd < 0 || !spice_session_open_fd(self->session, fd)) {
        g_autofree char *msg = g_strdup_printf(
            "Could not open a connection to the console%s%s. Check that the "
            "domain is running, then reconnect.",
            error ? ": " : "", error ? error->message : "");
        connection_lost(self, msg);
    }
}

static void clear_target(AtollConsole *self)
{
    g_clear_pointer(&self->uri, g_free);
    g_clear_pointer(&self->password, g_free);
    if (self->socket_destroy)
        self->socket_destroy(self->socket_data);
    self->socket_func = NULL;
    self->socket_data = NULL;
    self->socket_destroy = NULL;
    if (self->pending_fd >= 0)
        close(self->pending_fd);
    self->pending_fd = -1;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

GtkWidget *atoll_console_new(void)
{
    return g_object_new(ATOLL_TYPE_CONSOLE, NULL);
}

void atoll_console_connect_uri(AtollConsole *self, const char *uri, const char *password)
{
    g_return_if_fail(ATOLL_IS_CONSOLE(self));
    g_return_if_fail(uri != NULL);

    close_session(self);
    clear_target(self);
    self->uri = g_strdup(uri);
    self->password = g_strdup(password);
    atoll_console_reconnect(self);
}

void atoll_console_open_fd(AtollConsole *self, int fd, const char *password,
                           AtollConsoleSocketFunc socket_func,
                           gpointer user_data, GDestroyNotify destroy)
{
    g_return_if_fail(ATOLL_IS_CONSOLE(self));

    close_session(self);
    clear_target(self);
    self->password = g_strdup(password);
    self->socket_func = socket_func;
    self->socket_data = user_data;
    self->socket_destroy = destroy;
    self->pending_fd = fd;
    atoll_console_reconnect(self);
}

void atoll_console_reconnect(AtollConsole *self)
{
    g_return_if_fail(ATOLL_IS_CONSOLE(self));

    if (!self->uri && !self->socket_func && self->pending_fd < 0) {
        fail(self, "There is nothing to reconnect to: the console was never "
                   "given an address. Open the console from the domain again.");
        return;
    }
    self->was_connected = FALSE;
    self->reconnect_attempt = 0;
    set_state(self, ATOLL_CONSOLE_STATE_DISCONNECTED);
    start_session(self);
}

void atoll_console_disconnect(AtollConsole *self)
{
    g_return_if_fail(ATOLL_IS_CONSOLE(self));

    if (!self->session && self->state != ATOLL_CONSOLE_STATE_RECONNECTING)
        return;
    close_session(self);
    set_state(self, ATOLL_CONSOLE_STATE_DISCONNECTED);
    g_signal_emit(self, signals[SIGNAL_DISCONNECTED], 0);
}

AtollConsoleState atoll_console_get_state(AtollConsole *self)
{
    g_return_val_if_fail(ATOLL_IS_CONSOLE(self), ATOLL_CONSOLE_STATE_DISCONNECTED);
    return self->state;
}

const char *atoll_console_get_error_message(AtollConsole *self)
{
    g_return_val_if_fail(ATOLL_IS_CONSOLE(self), NULL);
    return self->error_message;
}

void atoll_console_get_guest_size(AtollConsole *self, int *width, int *height)
{
    g_return_if_fail(ATOLL_IS_CONSOLE(self));
    if (width)
        *width = self->fb ? self->guest_width : 0;
    if (height)
        *height = self->fb ? self->guest_height : 0;
}

void atoll_console_set_scale_mode(AtollConsole *self, AtollConsoleScale mode)
{
    g_return_if_fail(ATOLL_IS_CONSOLE(self));
    if (self->scale_mode == mode)
        return;
    self->scale_mode = mode;
    gtk_widget_queue_resize(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_SCALE_MODE]);
}

AtollConsoleScale atoll_console_get_scale_mode(AtollConsole *self)
{
    g_return_val_if_fail(ATOLL_IS_CONSOLE(self), ATOLL_CONSOLE_SCALE_FIT);
    return self->scale_mode;
}

void atoll_console_set_resize_guest(AtollConsole *self, gboolean resize)
{
    g_return_if_fail(ATOLL_IS_CONSOLE(self));
    resize = !!resize;
    if (self->resize_guest == resize)
        return;
    self->resize_guest = resize;
    schedule_guest_resize(self);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_RESIZE_GUEST]);
}

gboolean atoll_console_get_resize_guest(AtollConsole *self)
{
    g_return_val_if_fail(ATOLL_IS_CONSOLE(self), FALSE);
    return self->resize_guest;
}

void atoll_console_set_auto_reconnect(AtollConsole *self, gboolean reconnect)
{
    g_return_if_fail(ATOLL_IS_CONSOLE(self));
    reconnect = !!reconnect;
    if (self->auto_reconnect == reconnect)
        return;
    self->auto_reconnect = reconnect;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_AUTO_RECONNECT]);
}

gboolean atoll_console_get_auto_reconnect(AtollConsole *self)
{
    g_return_val_if_fail(ATOLL_IS_CONSOLE(self), FALSE);
    return self->auto_reconnect;
}

void atoll_console_send_ctrl_alt_del(AtollConsole *self)
{
    static const guint seq[] = { XT_LCTRL, XT_LALT, XT_DELETE };

    g_return_if_fail(ATOLL_IS_CONSOLE(self));
    if (!self->inputs)
        return;
    for (gsize i = 0; i < G_N_ELEMENTS(seq); i++)
        spice_inputs_channel_key_press(self->inputs, seq[i]);
    for (gsize i = G_N_ELEMENTS(seq); i > 0; i--)
        spice_inputs_channel_key_release(self->inputs, seq[i - 1]);
}

void atoll_console_grab_keyboard(AtollConsole *self)
{
    GdkToplevel *toplevel;

    g_return_if_fail(ATOLL_IS_CONSOLE(self));
    toplevel = get_toplevel(self);
    if (self->grabbed || !toplevel || !gtk_widget_is_focus(GTK_WIDGET(self)))
        return;
    gdk_toplevel_inhibit_system_shortcuts(toplevel, NULL);
    self->grabbed = TRUE;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_KEYBOARD_GRABBED]);
}

void atoll_console_release_keyboard(AtollConsole *self)
{
    GdkToplevel *toplevel;

    g_return_if_fail(ATOLL_IS_CONSOLE(self));
    if (!self->grabbed)
        return;
    toplevel = get_toplevel(self);
    if (toplevel)
        gdk_toplevel_restore_system_shortcuts(toplevel);
    self->grabbed = FALSE;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_KEYBOARD_GRABBED]);
}

gboolean atoll_console_get_keyboard_grabbed(AtollConsole *self)
{
    g_return_val_if_fail(ATOLL_IS_CONSOLE(self), FALSE);
    return self->grabbed;
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void action_send_cad(GtkWidget *widget, const char *name, GVariant *param)
{
    (void)name;
    (void)param;
    atoll_console_send_ctrl_alt_del(ATOLL_CONSOLE(widget));
}

static void action_reconnect(GtkWidget *widget, const char *name, GVariant *param)
{
    (void)name;
    (void)param;
    atoll_console_reconnect(ATOLL_CONSOLE(widget));
}

static void action_release(GtkWidget *widget, const char *name, GVariant *param)
{
    (void)name;
    (void)param;
    atoll_console_release_keyboard(ATOLL_CONSOLE(widget));
}

static void atoll_console_unrealize(GtkWidget *widget)
{
    atoll_console_release_keyboard(ATOLL_CONSOLE(widget));
    GTK_WIDGET_CLASS(atoll_console_parent_class)->unrealize(widget);
}

static void atoll_console_dispose(GObject *object)
{
    AtollConsole *self = ATOLL_CONSOLE(object);

    close_session(self);
    clear_target(self);
    free_framebuffer(self);
    g_clear_pointer(&self->status_label, gtk_widget_unparent);
    G_OBJECT_CLASS(atoll_console_parent_class)->dispose(object);
}

static void atoll_console_finalize(GObject *object)
{
    AtollConsole *self = ATOLL_CONSOLE(object);

    g_ptr_array_unref(self->channels);
    g_free(self->error_message);
    G_OBJECT_CLASS(atoll_console_parent_class)->finalize(object);
}

static void atoll_console_get_property(GObject *object, guint id, GValue *value,
                                       GParamSpec *pspec)
{
    AtollConsole *self = ATOLL_CONSOLE(object);

    switch (id) {
    case PROP_STATE:
        g_value_set_enum(value, self->state);
        break;
    case PROP_SCALE_MODE:
        g_value_set_enum(value, self->scale_mode);
        break;
    case PROP_RESIZE_GUEST:
        g_value_set_boolean(value, self->resize_guest);
        break;
    case PROP_AUTO_RECONNECT:
        g_value_set_boolean(value, self->auto_reconnect);
        break;
    case PROP_KEYBOARD_GRABBED:
        g_value_set_boolean(value, self->grabbed);
        break;
    case PROP_GUEST_WIDTH:
        g_value_set_int(value, self->fb ? self->guest_width : 0);
        break;
    case PROP_GUEST_HEIGHT:
        g_value_set_int(value, self->fb ? self->guest_height : 0);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void atoll_console_set_property(GObject *object, guint id, const GValue *value,
                                       GParamSpec *pspec)
{
    AtollConsole *self = ATOLL_CONSOLE(object);

    switch (id) {
    case PROP_SCALE_MODE:
        atoll_console_set_scale_mode(self, g_value_get_enum(value));
        break;
    case PROP_RESIZE_GUEST:
        atoll_console_set_resize_guest(self, g_value_get_boolean(value));
        break;
    case PROP_AUTO_RECONNECT:
        atoll_console_set_auto_reconnect(self, g_value_get_boolean(value));
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void install_properties(GObjectClass *oclass)
{
    const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
    const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                           G_PARAM_EXPLICIT_NOTIFY;

    props[PROP_STATE] = g_param_spec_enum("state", NULL, NULL, ATOLL_TYPE_CONSOLE_STATE,
                                          ATOLL_CONSOLE_STATE_DISCONNECTED, ro);
    props[PROP_SCALE_MODE] = g_param_spec_enum("scale-mode", NULL, NULL,
        ATOLL_TYPE_CONSOLE_SCALE, ATOLL_CONSOLE_SCALE_FIT, rw);
    props[PROP_RESIZE_GUEST] = g_param_spec_boolean("resize-guest", NULL, NULL, FALSE, rw);
    props[PROP_AUTO_RECONNECT] = g_param_spec_boolean("auto-reconnect", NULL, NULL,
                                                      TRUE, rw);
    props[PROP_KEYBOARD_GRABBED] = g_param_spec_boolean("keyboard-grabbed", NULL, NULL,
                                                        FALSE, ro);
    props[PROP_GUEST_WIDTH] = g_param_spec_int("guest-width", NULL, NULL, 0, G_MAXINT,
                                               0, ro);
    props[PROP_GUEST_HEIGHT] = g_param_spec_int("guest-height", NULL, NULL, 0, G_MAXINT,
                                                0, ro);
    g_object_class_install_properties(oclass, N_PROPS, props);
}

static void install_signals(GObjectClass *oclass)
{
    GType type = G_TYPE_FROM_CLASS(oclass);

    signals[SIGNAL_CONNECTED] = g_signal_new("connected", type, G_SIGNAL_RUN_LAST, 0,
        NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIGNAL_DISCONNECTED] = g_signal_new("disconnected", type, G_SIGNAL_RUN_LAST,
        0, NULL, NULL, NULL, G_TYPE_NONE, 0);
    /* (attempt, delay_ms) */
    signals[SIGNAL_RECONNECTING] = g_signal_new("reconnecting", type, G_SIGNAL_RUN_LAST,
        0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_UINT);
    /* (message): what went wrong and what to do. */
    signals[SIGNAL_ERROR] = g_signal_new("error", type, G_SIGNAL_RUN_LAST, 0,
        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void atoll_console_class_init(AtollConsoleClass *klass)
{
    GObjectClass *oclass = G_OBJECT_CLASS(klass);
    GtkWidgetClass *wclass = GTK_WIDGET_CLASS(klass);

    oclass->dispose = atoll_console_dispose;
    oclass->finalize = atoll_console_finalize;
    oclass->get_property = atoll_console_get_property;
    oclass->set_property = atoll_console_set_property;
    wclass->snapshot = atoll_console_snapshot;
    wclass->measure = atoll_console_measure;
    wclass->size_allocate = atoll_console_size_allocate;
    wclass->unrealize = atoll_console_unrealize;
    install_properties(oclass);
    install_signals(oclass);

    gtk_widget_class_install_action(wclass, "console.send-ctrl-alt-del", NULL,
                                    action_send_cad);
    gtk_widget_class_install_action(wclass, "console.reconnect", NULL, action_reconnect);
    gtk_widget_class_install_action(wclass, "console.release-keyboard", NULL,
                                    action_release);
    gtk_widget_class_set_css_name(wclass, "atoll-console");
    gtk_widget_class_set_accessible_role(wclass, GTK_ACCESSIBLE_ROLE_WIDGET);
}

static void add_controllers(AtollConsole *self)
{
    GtkWidget *widget = GTK_WIDGET(self);
    GtkEventController *c;

    c = gtk_event_controller_key_new();
    g_signal_connect(c, "key-pressed", G_CALLBACK(on_key_pressed), self);
    g_signal_connect(c, "key-released", G_CALLBACK(on_key_released), self);
    gtk_widget_add_controller(widget, c);

    c = gtk_event_controller_focus_new();
    g_signal_connect(c, "enter", G_CALLBACK(on_focus_enter), self);
    g_signal_connect(c, "leave", G_CALLBACK(on_focus_leave), self);
    gtk_widget_add_controller(widget, c);

    c = gtk_event_controller_motion_new();
    g_signal_connect(c, "enter", G_CALLBACK(on_motion), self);
    g_signal_connect(c, "motion", G_CALLBACK(on_motion), self);
    gtk_widget_add_controller(widget, c);

    c = gtk_event_controller_legacy_new();
    g_signal_connect(c, "event", G_CALLBACK(on_legacy_event), self);
    gtk_widget_add_controller(widget, c);

    c = gtk_event_controller_scroll_new(GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
    g_signal_connect(c, "scroll", G_CALLBACK(on_scroll), self);
    gtk_widget_add_controller(widget, c);
}

static void atoll_console_init(AtollConsole *self)
{
    GtkWidget *widget = GTK_WIDGET(self);

    self->channels = g_ptr_array_new_with_free_func(g_object_unref);
    self->pending_fd = -1;
    self->auto_reconnect = TRUE;
    self->display_marked = TRUE;
    self->mouse_mode = SPICE_MOUSE_MODE_CLIENT;

    self->status_label = gtk_label_new(state_text(ATOLL_CONSOLE_STATE_DISCONNECTED));
    gtk_widget_add_css_class(self->status_label, "osd");
    gtk_widget_add_css_class(self->status_label, "title-2");
    gtk_widget_set_halign(self->status_label, GTK_ALIGN_CENTER);
    gtk_widget_set_valign(self->status_label, GTK_ALIGN_CENTER);
    gtk_widget_set_can_target(self->status_label, FALSE);
    gtk_widget_set_parent(self->status_label, widget);

    gtk_widget_set_focusable(widget, TRUE);
    gtk_widget_set_focus_on_click(widget, TRUE);
    gtk_widget_set_overflow(widget, GTK_OVERFLOW_HIDDEN);
    gtk_widget_set_hexpand(widget, TRUE);
    gtk_widget_set_vexpand(widget, TRUE);
    gtk_accessible_update_property(GTK_ACCESSIBLE(self),
        GTK_ACCESSIBLE_PROPERTY_LABEL, "Virtual machine console",
        GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, "Disconnected", -1);
    add_controllers(self);
}
