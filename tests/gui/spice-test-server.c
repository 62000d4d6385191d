/* A minimal SPICE server used as the peer of the console widget's tests.
 *
 * It shows a known pattern on a QXL primary surface (four coloured
 * quadrants), prints every input event it receives on stdout (one line per
 * event, flushed), and accepts commands on stdin to repaint parts of the
 * screen so the tests can check damage-only updates:
 *
 *   box X Y W H RRGGBB      paint a rectangle
 *
 * Output lines: "ready", "channel-connected TYPE", "channel-disconnected TYPE",
 * "key 0xNN" (one per scancode byte), "tablet-position X Y BUTTONS",
 * "tablet-wheel DZ BUTTONS", "tablet-buttons BUTTONS", "monitors-config N WxH".
 *
 * Usage: spice-test-server (--port N | --unix PATH) [--password P] [--variant V]
 */
#include <glib.h>
#include <glib-unix.h>
#include <spice.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 640
#define HEIGHT 480

/* One drawable and the pixels it carries; freed in release_resource. */
typedef struct {
    QXLDrawable drawable;
    QXLImage image;
    QXLCommandExt ext;
    guint32 *pixels;
} Update;

static struct {
    SpiceServer *server;
    QXLInstance qxl;
    SpiceKbdInstance kbd;
    SpiceTabletInstance tablet;
    guint8 surface_mem[WIDTH * HEIGHT * 4];
    GMutex lock;     /* protects queue: get_command runs on spice's worker */
    GQueue queue;
    GMutex out_lock; /* channel_event may run on the worker thread */
    int variant;
} srv;

static void emit(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void emit(const char *fmt, ...)
{
    va_list ap;

    g_mutex_lock(&srv.out_lock);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    g_mutex_unlock(&srv.out_lock);
}

/* ---- SpiceCoreInterface on the GLib main loop ---- */

struct SpiceTimer {
    SpiceTimerFunc func;
    void *opaque;
    guint id;
};

static gboolean timer_fire(gpointer data)
{
    SpiceTimer *t = data;

    t->id = 0;
    t->func(t->opaque);
    return G_SOURCE_REMOVE;
}

static SpiceTimer *timer_add(SpiceTimerFunc func, void *opaque)
{
    SpiceTimer *t = g_new0(SpiceTimer, 1);

    t->func = func;
    t->opaque = opaque;
    return t;
}

static void timer_cancel(SpiceTimer *t)
{
    if (t->id)
        g_source_remove(t->id);
    t->id = 0;
}

static void timer_start(SpiceTimer *t, uint32_t ms)
{
    timer_cancel(t);
    t->id = g_timeout_add(ms, timer_fire, t);
}

static void timer_remove(SpiceTimer *t)
{
    timer_cancel(t);
    g_free(t);
}

struct SpiceWatch {
    int fd;
    SpiceWatchFunc func;
    void *opaque;
    guint id;
};

static gboolean watch_fire(gint fd, GIOCondition cond, gpointer data)
{
    SpiceWatch *w = data;
    int ev = 0;

    if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
        ev |= SPICE_WATCH_EVENT_READ;
    if (cond & G_IO_OUT)
        ev |= SPICE_WATCH_EVENT_WRITE;
    w->func(fd, ev, w->opaque);
    return G_SOURCE_CONTINUE;
}

static void watch_update_mask(SpiceWatch *w, int mask)
{
    GIOCondition cond = 0;

    if (w->id)
        g_source_remove(w->id);
    w->id = 0;
    if (mask & SPICE_WATCH_EVENT_READ)
        cond |= G_IO_IN | G_IO_HUP | G_IO_ERR;
    if (mask & SPICE_WATCH_EVENT_WRITE)
        cond |= G_IO_OUT;
    if (cond)
        w->id = g_unix_fd_add(w->fd, cond, watch_fire, w);
}

static SpiceWatch *watch_add(int fd, int mask, SpiceWatchFunc func, void *opaque)
{
    SpiceWatch *w = g_new0(SpiceWatch, 1);

    w->fd = fd;
    w->func = func;
    w->opaque = opaque;
    watch_update_mask(w, mask);
    return w;
}

static void watch_remove(SpiceWatch *w)
{
    if (w->id)
        g_source_remove(w->id);
    g_free(w);
}

static void channel_event(int event, SpiceChannelEventInfo *info)
{
    if (event == SPICE_CHANNEL_EVENT_INITIALIZED)
        emit("channel-connected %d", info->type);
    else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED)
        emit("channel-disconnected %d", info->type);
}

static SpiceCoreInterface core = {
    .base = { .type = SPICE_INTERFACE_CORE, .description = "test core",
              .major_version = SPICE_INTERFACE_CORE_MAJOR,
              .minor_version = SPICE_INTERFACE_CORE_MINOR },
    .timer_add = timer_add, .timer_start = timer_start,
    .timer_cancel = timer_cancel, .timer_remove = timer_remove,
    .watch_add = watch_add, .watch_update_mask = watch_update_mask,
    .watch_remove = watch_remove, .channel_event = channel_event,
};

/* ---- display ---- */

static void queue_box(int x, int y, int w, int h, guint32 rgb)
{
    Update *u = g_new0(Update, 1);
    QXLDrawable *d = &u->drawable;

    u->pixels = g_new(guint32, (gsize)w * h);
    for (int i = 0; i < w * h; i++)
        u->pixels[i] = rgb;
    d->release_info.id = (uintptr_t)u;
    d->surface_id = 0;
    d->type = QXL_DRAW_COPY;
    d->effect = QXL_EFFECT_OPAQUE;
    d->bbox = (QXLRect){ .top = y, .left = x, .bottom = y + h, .right = x + w };
    d->clip.type = SPICE_CLIP_TYPE_NONE;
    for (int i = 0; i < 3; i++)
        d->surfaces_dest[i] = -1;
    d->u.copy.src_bitmap = (uintptr_t)&u->image;
    d->u.copy.src_area = (QXLRect){ .top = 0, .left = 0, .bottom = h, .right = w };
    d->u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;

    static guint32 unique;
    u->image.descriptor.id = ((guint64)++unique << 32) | QXL_IMAGE_GROUP_DEVICE;
    u->image.descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
    u->image.descriptor.width = w;
    u->image.descriptor.height = h;
    u->image.bitmap.format = SPICE_BITMAP_FMT_32BIT;
    u->image.bitmap.flags = QXL_BITMAP_TOP_DOWN | QXL_BITMAP_DIRECT;
    u->image.bitmap.x = w;
    u->image.bitmap.y = h;
    u->image.bitmap.stride = w * 4;
    u->image.bitmap.data = (uintptr_t)u->pixels;

    u->ext.cmd.type = QXL_CMD_DRAW;
    u->ext.cmd.data = (uintptr_t)d;
    u->ext.group_id = 0;

    g_mutex_lock(&srv.lock);
    g_queue_push_tail(&srv.queue, u);
    g_mutex_unlock(&srv.lock);
    spice_qxl_wakeup(&srv.qxl);
}

static void paint_pattern(void)
{
    static const guint32 colours[2][4] = {
        { 0xff0000, 0x00ff00, 0x0000ff, 0xffff00 },
        { 0x00ffff, 0xff00ff, 0xffffff, 0x808080 },
    };
    const guint32 *c = colours[srv.variant % 2];

    queue_box(0, 0, WIDTH / 2, HEIGHT / 2, c[0]);
    queue_box(WIDTH / 2, 0, WIDTH / 2, HEIGHT / 2, c[1]);
    queue_box(0, HEIGHT / 2, WIDTH / 2, HEIGHT / 2, c[2]);
    queue_box(WIDTH / 2, HEIGHT / 2, WIDTH / 2, HEIGHT / 2, c[3]);
}

static void qxl_attached(QXLInstance *qin)
{
    (void)qin;
}

static void qxl_init_info(QXLInstance *qin, QXLDevInitInfo *info)
{
    (void)qin;
    memset(info, 0, sizeof(*info));
    info->num_memslots_groups = 1;
    info->num_memslots = 1;
    info->memslot_gen_bits = 8;
    info->memslot_id_bits = 8;
    info->qxl_ram_size = 16 << 20;
    info->n_surfaces = 1;
}

static int qxl_get_command(QXLInstance *qin, QXLCommandExt *cmd)
{
    Update *u;

    (void)qin;
    g_mutex_lock(&srv.lock);
    u = g_queue_pop_head(&srv.queue);
    g_mutex_unlock(&srv.lock);
    if (!u)
        return 0;
    *cmd = u->ext;
    return 1;
}

static int qxl_req_cmd_notification(QXLInstance *qin)
{
    int empty;

    (void)qin;
    g_mutex_lock(&srv.lock);
    empty = g_queue_is_empty(&srv.queue);
    g_mutex_unlock(&srv.lock);
    return empty;
}

static void qxl_release_resource(QXLInstance *qin, QXLReleaseInfoExt ext)
{
    Update *u = (Update *)(uintptr_t)ext.info->id;

    (void)qin;
    g_free(u->pixels);
    g_free(u);
}

static int qxl_get_cursor_command(QXLInstance *qin, QXLCommandExt *cmd)
{
    (void)qin;
    (void)cmd;
    return 0;
}

static int qxl_req_cursor_notification(QXLInstance *qin)
{
    (void)qin;
    return 1;
}

static void qxl_notify_update(QXLInstance *qin, uint32_t id)
{
    (void)qin;
    (void)id;
}

static int qxl_flush_resources(QXLInstance *qin)
{
    (void)qin;
    return 0;
}

static void qxl_async_complete(QXLInstance *qin, uint64_t cookie)
{
    (void)qin;
    (void)cookie;
}

static void qxl_set_compression_level(QXLInstance *qin, int level)
{
    (void)qin;
    (void)level;
}

static void qxl_update_area_complete(QXLInstance *qin, uint32_t surface_id,
                                     QXLRect *rects, uint32_t n)
{
    (void)qin;
    (void)surface_id;
    (void)rects;
    (void)n;
}

static void qxl_set_client_capabilities(QXLInstance *qin, uint8_t present,
                                        uint8_t caps[SPICE_CAPABILITIES_SIZE])
{
    (void)qin;
    (void)present;
    (void)caps;
}

static int qxl_client_monitors_config(QXLInstance *qin, VDAgentMonitorsConfig *mc)
{
    (void)qin;
    if (mc && mc->num_of_monitors > 0)
        emit("monitors-config %u %ux%u", mc->num_of_monitors,
             mc->monitors[0].width, mc->monitors[0].height);
    return 1;
}

static const QXLInterface qxl_iface = {
    .base = { .type = SPICE_INTERFACE_QXL, .description = "test qxl",
              .major_version = SPICE_INTERFACE_QXL_MAJOR,
              .minor_version = SPICE_INTERFACE_QXL_MINOR },
    .attached_worker = qxl_attached,
    .set_compression_level = qxl_set_compression_level,
    .get_init_info = qxl_init_info,
    .get_command = qxl_get_command,
    .req_cmd_notification = qxl_req_cmd_notification,
    .release_resource = qxl_release_resource,
    .get_cursor_command = qxl_get_cursor_command,
    .req_cursor_notification = qxl_req_cursor_notification,
    .notify_update = qxl_notify_update,
    .flush_resources = qxl_flush_resources,
    .async_complete = qxl_async_complete,
    .update_area_complete = qxl_update_area_complete,
    .set_client_capabilities = qxl_set_client_capabilities,
    .client_monitors_config = qxl_client_monitors_config,
};

static void create_primary(void)
{
    QXLDevMemSlot slot = { .virt_start = 0, .virt_end = ~(uintptr_t)0 };
    QXLDevSurfaceCreate s = {
        .width = WIDTH, .height = HEIGHT, .stride = -WIDTH * 4,
        .format = SPICE_SURFACE_FMT_32_xRGB, .mouse_mode = 1,
        .type = QXL_SURF_TYPE_PRIMARY, .mem = (uintptr_t)srv.surface_mem,
    };

    spice_qxl_add_memslot(&srv.qxl, &slot);
    spice_qxl_create_primary_surface(&srv.qxl, 0, &s);
}

/* ---- input ---- */

static void kbd_push(SpiceKbdInstance *sin, uint8_t frag)
{
    (void)sin;
    emit("key 0x%02x", frag);
}

static uint8_t kbd_leds(SpiceKbdInstance *sin)
{
    (void)sin;
    return 0;
}

static const SpiceKbdInterface kbd_iface = {
    .base = { .type = SPICE_INTERFACE_KEYBOARD, .description = "test kbd",
              .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
              .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR },
    .push_scan_freg = kbd_push,
    .get_leds = kbd_leds,
};

static void tablet_size(SpiceTabletInstance *t, int w, int h)
{
    (void)t;
    emit("tablet-size %d %d", w, h);
}

static void tablet_position(SpiceTabletInstance *t, int x, int y, uint32_t b)
{
    (void)t;
    emit("tablet-position %d %d %u", x, y, b);
}

static void tablet_wheel(SpiceTabletInstance *t, int dz, uint32_t b)
{
    (void)t;
    emit("tablet-wheel %d %u", dz, b);
}

static void tablet_buttons(SpiceTabletInstance *t, uint32_t b)
{
    (void)t;
    emit("tablet-buttons %u", b);
}

static const SpiceTabletInterface tablet_iface = {
    .base = { .type = SPICE_INTERFACE_TABLET, .description = "test tablet",
              .major_version = SPICE_INTERFACE_TABLET_MAJOR,
              .minor_version = SPICE_INTERFACE_TABLET_MINOR },
    .set_logical_size = tablet_size,
    .position = tablet_position,
    .wheel = tablet_wheel,
    .buttons = tablet_buttons,
};

/* ---- stdin commands ---- */

static gboolean on_stdin(GIOChannel *ch, GIOCondition cond, gpointer data)
{
    g_autofree char *line = NULL;
    int x, y, w, h;
    unsigned rgb;

    (void)cond;
    if (g_io_channel_read_line(ch, &line, NULL, NULL, NULL) != G_IO_STATUS_NORMAL) {
        g_main_loop_quit(data);
        return G_SOURCE_REMOVE;
    }
    if (sscanf(line, "box %d %d %d %d %x", &x, &y, &w, &h, &rgb) == 5 &&
        x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= WIDTH && y + h <= HEIGHT)
        queue_box(x, y, w, h, rgb);
    else
        emit("bad-command %s", g_strstrip(line));
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
    int port = 0;
    g_autofree char *unix_path = NULL, *password = NULL;
    GOptionEntry entries[] = {
        { "port", 0, 0, G_OPTION_ARG_INT, &port, "TCP port on 127.0.0.1", "N" },
        { "unix", 0, 0, G_OPTION_ARG_FILENAME, &unix_path, "Unix socket path", "PATH" },
        { "password", 0, 0, G_OPTION_ARG_STRING, &password, "Ticket", "P" },
        { "variant", 0, 0, G_OPTION_ARG_INT, &srv.variant, "Pattern colours", "V" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- SPICE test peer");
    g_autoptr(GError) err = NULL;
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || (!port && !unix_path)) {
        fprintf(stderr, "spice-test-server: %s\n",
                err ? err->message : "give --port N or --unix PATH");
        return 2;
    }
    srv.server = spice_server_new();
    if (unix_path) {
        spice_server_set_addr(srv.server, unix_path, SPICE_ADDR_FLAG_UNIX_ONLY);
    } else {
        spice_server_set_addr(srv.server, "127.0.0.1", SPICE_ADDR_FLAG_IPV4_ONLY);
        spice_server_set_port(srv.server, port);
    }
    if (password)
        spice_server_set_ticket(srv.server, password, 0, 0, 0);
    else
        spice_server_set_noauth(srv.server);
    /* Uncompressed images keep the pixels the client sees exact. */
    spice_server_set_image_compression(srv.server, SPICE_IMAGE_COMPRESSION_OFF);
    if (spice_server_init(srv.server, &core) != 0) {
        fprintf(stderr, "spice-test-server: cannot listen (port in use?)\n");
        return 1;
    }
    srv.qxl.base.sif = &qxl_iface.base;
    srv.kbd.base.sif = &kbd_iface.base;
    srv.tablet.base.sif = &tablet_iface.base;
    spice_server_add_interface(srv.server, &srv.qxl.base);
    spice_server_add_interface(srv.server, &srv.kbd.base);
    spice_server_add_interface(srv.server, &srv.tablet.base);
    create_primary();
    spice_server_vm_start(srv.server);
    paint_pattern();

    GIOChannel *in = g_io_channel_unix_new(0);
    g_io_add_watch(in, G_IO_IN | G_IO_HUP, on_stdin, loop);
    emit("ready");
    g_main_loop_run(loop);
    spice_server_destroy(srv.server);
    return 0;
}
