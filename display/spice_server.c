/* The SPICE console backend (spice_server.h).
 *
 * Display: there is no QXL device in the guest.  A QXLInstance whose
 * commands we make up ourselves carries the hub's framebuffer: the primary
 * surface lives in a buffer of ours (libspice renders into it and serves
 * new clients from it), and each damaged rectangle becomes a QXL_DRAW_COPY
 * drawable holding a private copy of its pixels.  One memslot spans the
 * whole address space, so QXL "physical" addresses are plain pointers.
 *
 * Threads: hub listener callbacks arrive on the display device's thread
 * with the hub lock held; get_command/release_resource on libspice's
 * worker thread; input, channel events and the client's monitor config on
 * the main (event loop) thread.  `lock` guards the queue of drawables not
 * yet handed to libspice and the surface size.  Lock order: hub lock, then
 * `lock`; nothing here calls into the hub while holding `lock`. */
#include "spice_server.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netdb.h>
#include <pthread.h>
#include <spice.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/input-event-codes.h>

#include "config.h"
#include "display.h"
#include "log.h"
#include "spice_agent.h"
#include "spice_core.h"
#include "vm.h"

#define MEMSLOT_GROUP 0
#define MAX_PENDING 64                /* queued drawables before merging */
#define MAX_SURFACE_DIM 16384
#define POLL_MS 33                    /* ~30 Hz for devices that need polling */
#define MAX_DISPLAY_CLIENTS 16

/* One damaged rectangle on its way to libspice. */
struct update {
	struct update *next;
	QXLCommandExt ext;
	QXLDrawable drawable;
	QXLImage image;
	uint32_t x, y, w, h;
	uint8_t pixels[];                 /* w * h * 4, top-down */
};

struct atoll_spice {
	struct vm *vm;
	SpiceServer *server;
	bool core_held;
	char uri[160];

	int listen_fd;
	struct evloop_watch *listen_watch;
	char *unix_path;
	bool skip_auth;

	QXLInstance qxl;
	bool qxl_added, kbd_added, tablet_added;
	SpiceKbdInstance kbd;
	SpiceTabletInstance tablet;
	struct spice_agent *agent;

	pthread_mutex_t lock;
	struct update *head, *tail;       /* not yet taken by get_command */
	unsigned n_pending;
	size_t pending_bytes;
	bool wakeup_wanted;               /* libspice waits for spice_qxl_wakeup */
	uint32_t width, height;           /* the primary surface, 0 if none */
	struct atoll_spice_stats stats;

	/* Only under the hub lock (listener callbacks) or after the listener
	 * is gone. */
	struct display_surface src;
	uint8_t *primary;
	uint32_t unique;

	/* Main thread only. */
	uint8_t kbd_prefix;               /* 0, 0xE0 or 0xE1 */
	uint8_t kbd_e1_len;
	uint32_t buttons;                 /* libspice's local button bits */
	int logical_w, logical_h;
	struct evloop_watch *poll_timer;
	const void *display_infos[MAX_DISPLAY_CLIENTS];
	unsigned n_display;
};

/* Spice's callbacks carry no context: the consoles of this process. */
#define MAX_CONSOLES 4
static pthread_mutex_t consoles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct atoll_spice *consoles[MAX_CONSOLES];

static struct atoll_spice *console_of(struct vm *vm)
{
	struct atoll_spice *s = NULL;

	pthread_mutex_lock(&consoles_lock);
	for (unsigned i = 0; i < MAX_CONSOLES && !s; i++)
		if (consoles[i] && consoles[i]->vm == vm)
			s = consoles[i];
	pthread_mutex_unlock(&consoles_lock);
	return s;
}

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* ---- keyboard: PC/XT set 1 -> Linux KEY_* ---------------------------- */

static const uint16_t xt_extended[128] = {
	[0x10] = KEY_PREVIOUSSONG, [0x19] = KEY_NEXTSONG, [0x1c] = KEY_KPENTER,
	[0x1d] = KEY_RIGHTCTRL, [0x20] = KEY_MUTE, [0x21] = KEY_CALC,
	[0x22] = KEY_PLAYPAUSE, [0x24] = KEY_STOPCD, [0x2e] = KEY_VOLUMEDOWN,
	[0x30] = KEY_VOLUMEUP, [0x32] = KEY_HOMEPAGE, [0x35] = KEY_KPSLASH,
	[0x37] = KEY_SYSRQ, [0x38] = KEY_RIGHTALT, [0x46] = KEY_PAUSE,
	[0x47] = KEY_HOME, [0x48] = KEY_UP, [0x49] = KEY_PAGEUP,
	[0x4b] = KEY_LEFT, [0x4d] = KEY_RIGHT, [0x4f] = KEY_END,
	[0x50] = KEY_DOWN, [0x51] = KEY_PAGEDOWN, [0x52] = KEY_INSERT,
	[0x53] = KEY_DELETE, [0x5b] = KEY_LEFTMETA, [0x5c] = KEY_RIGHTMETA,
	[0x5d] = KEY_COMPOSE, [0x5e] = KEY_POWER, [0x5f] = KEY_SLEEP,
	[0x63] = KEY_WAKEUP, [0x65] = KEY_SEARCH, [0x66] = KEY_BOOKMARKS,
	[0x67] = KEY_REFRESH, [0x68] = KEY_STOP, [0x69] = KEY_FORWARD,
	[0x6a] = KEY_BACK, [0x6b] = KEY_COMPUTER, [0x6c] = KEY_MAIL,
	[0x6d] = KEY_MEDIA,
};

static const uint16_t xt_plain_high[128] = {
	[0x54] = KEY_SYSRQ, [0x56] = KEY_102ND, [0x57] = KEY_F11, [0x58] = KEY_F12,
	[0x59] = KEY_KPEQUAL, [0x5d] = KEY_F13, [0x5e] = KEY_F14, [0x5f] = KEY_F15,
	[0x70] = KEY_KATAKANAHIRAGANA, [0x73] = KEY_RO, [0x79] = KEY_HENKAN,
	[0x7b] = KEY_MUHENKAN, [0x7d] = KEY_YEN, [0x7e] = KEY_KPCOMMA,
};

uint16_t atoll_spice_xt_to_linux(uint16_t xt)
{
	uint8_t code = xt & 0x7f;

	if ((xt & 0xff00) == 0xe000)
		return xt_extended[code];
	if (xt & 0xff00)
		return 0;
	/* Escape (1) to keypad dot (0x53): Linux numbers them like set 1. */
	if (code >= 0x01 && code <= 0x53)
		return code;
	return xt_plain_high[code];
}

static void key_event(struct atoll_spice *s, uint16_t xt, bool down)
{
	uint16_t key = atoll_spice_xt_to_linux(xt);

	if (!key) {
		log_debug("spice: no Linux key for scancode %#x; dropped", xt);
		return;
	}
	display_input_key(&s->vm->display, key, down);
}

/* Set-1 bytes one at a time: E0 xx is an extended key, E1 1D 45 / E1 9D C5
 * is Pause (press / release), E0 2A and E0 B6 are fake shifts some
 * keyboards send around PrtSc and are dropped. */
static void kbd_push(SpiceKbdInstance *sin, uint8_t b)
{
	struct atoll_spice *s = SPICE_CONTAINEROF(sin, struct atoll_spice, kbd);

	if (s->kbd_prefix == 0xe1) {
		if (++s->kbd_e1_len == 2) {
			s->kbd_prefix = 0;
			key_event(s, 0xe046, !(b & 0x80));
		}
		return;
	}
	if (b == 0xe0 || b == 0xe1) {
		s->kbd_prefix = b;
		s->kbd_e1_len = 0;
		return;
	}
	bool ext = s->kbd_prefix == 0xe0;
	s->kbd_prefix = 0;
	if (ext && ((b & 0x7f) == 0x2a || (b & 0x7f) == 0x36))
		return;
	key_event(s, (uint16_t)((ext ? 0xe000 : 0) | (b & 0x7f)), !(b & 0x80));
}

static uint8_t kbd_leds(SpiceKbdInstance *sin)
{
	(void)sin;
	return 0;
}

static const SpiceKbdInterface kbd_if = {
	.base = {
		.type = SPICE_INTERFACE_KEYBOARD,
		.description = "atoll keyboard",
		.major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
		.minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
	},
	.push_scan_freg = kbd_push,
	.get_leds = kbd_leds,
};

/* ---- pointer ---------------------------------------------------------- */

/* libspice's "local" button bits (its RED_MOUSE_STATE_TO_LOCAL). */
static const struct { uint32_t bit; uint16_t code; } button_map[] = {
	{ 1u << 0, BTN_LEFT }, { 1u << 1, BTN_RIGHT }, { 1u << 2, BTN_MIDDLE },
	{ 1u << 6, BTN_SIDE }, { 1u << 7, BTN_EXTRA },
};

static void set_buttons(struct atoll_spice *s, uint32_t state)
{
	uint32_t changed = state ^ s->buttons;

	s->buttons = state;
	for (size_t i = 0; i < sizeof(button_map) / sizeof(button_map[0]); i++)
		if (changed & button_map[i].bit)
			display_input_button(&s->vm->display, button_map[i].code,
					     state & button_map[i].bit);
}

static uint32_t scale(int v, int size)
{
	if (v <= 0 || size <= 1)
		return 0;
	if (v >= size - 1)
		return 0x7fff;
	return (uint32_t)((uint64_t)v * 0x7fff / (uint64_t)(size - 1));
}

static void tablet_logical_size(SpiceTabletInstance *sin, int w, int h)
{
	struct atoll_spice *s = SPICE_CONTAINEROF(sin, struct atoll_spice, tablet);
	s->logical_w = w;
	s->logical_h = h;
}

static void tablet_position(SpiceTabletInstance *sin, int x, int y, uint32_t buttons)
{
	struct atoll_spice *s = SPICE_CONTAINEROF(sin, struct atoll_spice, tablet);
	int w = s->logical_w, h = s->logical_h;

	if (w <= 0 || h <= 0) {
		pthread_mutex_lock(&s->lock);
		w = (int)s->width;
		h = (int)s->height;
		pthread_mutex_unlock(&s->lock);
	}
	display_input_pointer(&s->vm->display, scale(x, w), scale(y, h));
	set_buttons(s, buttons);
}

/* Spice sends wheel steps as +1 (towards the user) and, in client mouse
 * mode, ordinary clicks through here too with a zero step. */
static void tablet_wheel(SpiceTabletInstance *sin, int dz, uint32_t buttons)
{
	struct atoll_spice *s = SPICE_CONTAINEROF(sin, struct atoll_spice, tablet);

	set_buttons(s, buttons);
	if (dz)
		display_input_wheel(&s->vm->display, -dz);
}

static void tablet_buttons(SpiceTabletInstance *sin, uint32_t buttons)
{
	set_buttons(SPICE_CONTAINEROF(sin, struct atoll_spice, tablet), buttons);
}

static const SpiceTabletInterface tablet_if = {
	.base = {
		.type = SPICE_INTERFACE_TABLET,
		.description = "atoll tablet",
		.major_version = SPICE_INTERFACE_TABLET_MAJOR,
		.minor_version = SPICE_INTERFACE_TABLET_MINOR,
	},
	.set_logical_size = tablet_logical_size,
	.position = tablet_position,
	.wheel = tablet_wheel,
	.buttons = tablet_buttons,
};

/* ---- display: the queue of drawables ----------------------------------- */

static void free_list(struct update *u)
{
	while (u) {
		struct update *next = u->next;
		free(u);
		u = next;
	}
}

/* Detach the whole pending queue (caller holds lock). */
static struct update *take_pending(struct atoll_spice *s)
{
	struct update *u = s->head;

	s->head = s->tail = NULL;
	s->n_pending = 0;
	s->pending_bytes = 0;
	return u;
}

static bool covers(uint32_t x, uint32_t y, uint32_t w, uint32_t h, const struct update *u)
{
	return u->x >= x && u->y >= y && u->x + u->w <= x + w && u->y + u->h <= y + h;
}

/* A drawable copying the current pixels of the rectangle (hub lock held:
 * s->src is valid). */
static struct update *make_update(struct atoll_spice *s, uint32_t x, uint32_t y,
				  uint32_t w, uint32_t h)
{
	size_t line = (size_t)w * 4;
	struct update *u = malloc(sizeof(*u) + line * h);

	if (!u)
		return NULL;
	memset(u, 0, sizeof(*u));
	u->x = x, u->y = y, u->w = w, u->h = h;
	const uint8_t *from = s->src.pixels + (size_t)y * s->src.stride + (size_t)x * 4;
	for (uint32_t row = 0; row < h; row++)
		memcpy(u->pixels + row * line, from + (size_t)row * s->src.stride, line);

	QXLDrawable *d = &u->drawable;
	d->release_info.id = (uint64_t)(uintptr_t)u;
	d->surface_id = 0;
	d->effect = QXL_EFFECT_OPAQUE;
	d->type = QXL_DRAW_COPY;
	d->bbox.left = (int32_t)x;
	d->bbox.top = (int32_t)y;
	d->bbox.right = (int32_t)(x + w);
	d->bbox.bottom = (int32_t)(y + h);
	d->clip.type = SPICE_CLIP_TYPE_NONE;
	/* No other surfaces exist: nothing to depend on. */
	d->surfaces_dest[0] = d->surfaces_dest[1] = d->surfaces_dest[2] = -1;
	d->u.copy.src_bitmap = (QXLPHYSICAL)(uintptr_t)&u->image;
	d->u.copy.src_area.right = (int32_t)w;
	d->u.copy.src_area.bottom = (int32_t)h;
	d->u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;

	QXLImage *img = &u->image;
	QXL_SET_IMAGE_ID(img, QXL_IMAGE_GROUP_DEVICE, ++s->unique);
	img->descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
	img->descriptor.width = w;
	img->descriptor.height = h;
	img->bitmap.format = SPICE_BITMAP_FMT_32BIT;
	img->bitmap.flags = QXL_BITMAP_DIRECT | QXL_BITMAP_TOP_DOWN;
	img->bitmap.x = w;
	img->bitmap.y = h;
	img->bitmap.stride = (uint32_t)line;
	img->bitmap.data = (QXLPHYSICAL)(uintptr_t)u->pixels;

	u->ext.cmd.type = QXL_CMD_DRAW;
	u->ext.cmd.data = (QXLPHYSICAL)(uintptr_t)d;
	u->ext.group_id = MEMSLOT_GROUP;
	return u;
}

/* Queue the rectangle's pixels.  Older queued rectangles it covers are
 * dropped; past MAX_PENDING drawables or two frames of pixels, the queue
 * collapses into one drawable of the bounding box (the current pixels are
 * newer than anything queued), so a guest drawing faster than the client
 * takes frames costs bounded memory. */
static void queue_rect(struct atoll_spice *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	size_t frame = (size_t)s->src.width * s->src.height * 4;
	struct update *dropped = NULL, **pp;

	pthread_mutex_lock(&s->lock);
	for (pp = &s->head; *pp;) {
		struct update *u = *pp;
		if (!covers(x, y, w, h, u)) {
			s->tail = u;
			pp = &u->next;
			continue;
		}
		*pp = u->next;
		s->n_pending--;
		s->pending_bytes -= (size_t)u->w * u->h * 4;
		u->next = dropped;
		dropped = u;
	}
	if (!s->head)
		s->tail = NULL;
	if (s->n_pending >= MAX_PENDING ||
	    s->pending_bytes + (size_t)w * h * 4 > 2 * frame) {
		uint32_t x1 = x + w, y1 = y + h;
		for (struct update *u = s->head; u; u = u->next) {
			x = u->x < x ? u->x : x;
			y = u->y < y ? u->y : y;
			x1 = u->x + u->w > x1 ? u->x + u->w : x1;
			y1 = u->y + u->h > y1 ? u->y + u->h : y1;
		}
		w = x1 - x;
		h = y1 - y;
		struct update *all = take_pending(s);
		while (all) {
			struct update *next = all->next;
			all->next = dropped;
			dropped = all;
			all = next;
		}
		s->stats.updates_merged++;
	}
	pthread_mutex_unlock(&s->lock);
	free_list(dropped);

	struct update *u = make_update(s, x, y, w, h);
	if (!u) {
		log_warn("spice: out of memory for a %ux%u screen update; dropped", w, h);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = u;
	else
		s->head = u;
	s->tail = u;
	s->n_pending++;
	s->pending_bytes += (size_t)w * h * 4;
	s->stats.updates_queued++;
	s->stats.bytes_copied += (size_t)w * h * 4;
	bool wake = s->wakeup_wanted;
	s->wakeup_wanted = false;
	pthread_mutex_unlock(&s->lock);
	if (wake)
		spice_qxl_wakeup(&s->qxl);
}

/* ---- display: QXLInterface (libspice's worker thread) ------------------- */

static struct atoll_spice *of_qxl(QXLInstance *qin)
{
	return SPICE_CONTAINEROF(qin, struct atoll_spice, qxl);
}

static void qxl_attached(QXLInstance *qin)
{
	QXLDevMemSlot slot = {
		.slot_group_id = MEMSLOT_GROUP,
		.slot_id = 0,
		.generation = 0,
		.virt_start = 0,
		.virt_end = ~(uintptr_t)0,
		.addr_delta = 0,
		.qxl_ram_size = ~0u,
	};
	spice_qxl_add_memslot(qin, &slot);
}

static void qxl_set_compression_level(QXLInstance *qin, int level)
{
	(void)qin, (void)level;
}

static void qxl_get_init_info(QXLInstance *qin, QXLDevInitInfo *info)
{
	(void)qin;
	memset(info, 0, sizeof(*info));
	info->num_memslots_groups = 1;
	info->num_memslots = 1;
	/* Slot id and generation live in the top 16 bits of an address; with
	 * slot 0 generation 0 a user-space pointer is its own address. */
	info->memslot_gen_bits = 8;
	info->memslot_id_bits = 8;
	info->internal_groupslot_id = MEMSLOT_GROUP;
	info->n_surfaces = 1;
}

static int qxl_get_command(QXLInstance *qin, QXLCommandExt *ext)
{
	struct atoll_spice *s = of_qxl(qin);

	pthread_mutex_lock(&s->lock);
	struct update *u = s->head;
	if (u) {
		s->head = u->next;
		if (!s->head)
			s->tail = NULL;
		s->n_pending--;
		s->pending_bytes -= (size_t)u->w * u->h * 4;
	}
	pthread_mutex_unlock(&s->lock);
	if (!u)
		return 0;
	*ext = u->ext;
	return 1;
}

static int qxl_req_cmd_notification(QXLInstance *qin)
{
	struct atoll_spice *s = of_qxl(qin);

	pthread_mutex_lock(&s->lock);
	bool empty = !s->head;
	s->wakeup_wanted = empty;
	pthread_mutex_unlock(&s->lock);
	return empty;
}

static void qxl_release_resource(QXLInstance *qin, QXLReleaseInfoExt rel)
{
	struct atoll_spice *s = of_qxl(qin);

	/* Only our drawables are ever handed out, each freed exactly once. */
	free((void *)(uintptr_t)rel.info->id);
	pthread_mutex_lock(&s->lock);
	s->stats.updates_released++;
	pthread_mutex_unlock(&s->lock);
}

static int qxl_get_cursor_command(QXLInstance *qin, QXLCommandExt *ext)
{
	(void)qin, (void)ext;
	return 0;
}

static int qxl_req_cursor_notification(QXLInstance *qin)
{
	(void)qin;
	return 1;
}

static void qxl_notify_update(QXLInstance *qin, uint32_t update_id)
{
	(void)qin, (void)update_id;
}

static int qxl_flush_resources(QXLInstance *qin)
{
	(void)qin;
	return 0;
}

static void qxl_async_complete(QXLInstance *qin, uint64_t cookie)
{
	(void)qin, (void)cookie;
}

static void qxl_update_area_complete(QXLInstance *qin, uint32_t surface_id,
				     QXLRect *rects, uint32_t n)
{
	(void)qin, (void)surface_id, (void)rects, (void)n;
}

static void qxl_set_client_capabilities(QXLInstance *qin, uint8_t present,
					uint8_t caps[SPICE_CAPABILITIES_SIZE])
{
	(void)qin, (void)present, (void)caps;
}

/* The client's window size (main thread).  NULL asks whether we handle
 * these at all. */
static int qxl_client_monitors_config(QXLInstance *qin, VDAgentMonitorsConfig *mc)
{
	struct atoll_spice *s = of_qxl(qin);

	/* While the guest's agent is there, libspice gives it the monitor
	 * config instead (asked when a client starts talking to the agent). */
	if (!mc)
		return !spice_agent_guest_active(s->agent);
	/* One display: the first enabled monitor is ours. */
	for (uint32_t i = 0; i < mc->num_of_monitors; i++) {
		uint32_t w = mc->monitors[i].width, h = mc->monitors[i].height;
		if (!w || !h)
			continue;
		if (w > MAX_SURFACE_DIM || h > MAX_SURFACE_DIM)
			return 1;
		log_debug("spice: client asks for %ux%u", w, h);
		display_request_size(&s->vm->display, w, h);
		break;
	}
	return 1;
}

static const QXLInterface qxl_if = {
	.base = {
		.type = SPICE_INTERFACE_QXL,
		.description = "atoll framebuffer",
		.major_version = SPICE_INTERFACE_QXL_MAJOR,
		.minor_version = SPICE_INTERFACE_QXL_MINOR,
	},
	.attached_worker = qxl_attached,
	.set_compression_level = qxl_set_compression_level,
	.get_init_info = qxl_get_init_info,
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

/* ---- display: hub listener (device thread, hub lock held) --------------- */

static void destroy_primary(struct atoll_spice *s)
{
	if (!s->primary)
		return;
	pthread_mutex_lock(&s->lock);
	struct update *dropped = take_pending(s);
	s->width = s->height = 0;
	pthread_mutex_unlock(&s->lock);
	free_list(dropped);
	/* Synchronous: libspice releases the drawables in flight and stops
	 * using the buffer before this returns. */
	spice_qxl_destroy_primary_surface(&s->qxl, 0);
	free(s->primary);
	s->primary = NULL;
}

static void on_surface_changed(void *opaque, const struct display_surface *surf)
{
	struct atoll_spice *s = opaque;
	uint32_t w = surf->width, h = surf->height;

	if (!surf->pixels || !w || !h || w > MAX_SURFACE_DIM || h > MAX_SURFACE_DIM ||
	    surf->stride / 4 < w) {
		if (surf->pixels && w && h)
			log_warn("spice: unusable %ux%u surface (stride %u); not shown",
				 w, h, surf->stride);
		destroy_primary(s);
		memset(&s->src, 0, sizeof(s->src));
		return;
	}
	s->src = *surf;
	if (s->primary && s->width == w && s->height == h) {
		/* Same geometry, maybe a new buffer: repaint all of it. */
		queue_rect(s, 0, 0, w, h);
		return;
	}
	destroy_primary(s);
	s->primary = malloc((size_t)w * h * 4);
	if (!s->primary) {
		log_warn("spice: out of memory for a %ux%u surface; not shown", w, h);
		return;
	}
	for (uint32_t row = 0; row < h; row++)
		memcpy(s->primary + (size_t)row * w * 4,
		       surf->pixels + (size_t)row * surf->stride, (size_t)w * 4);
	QXLDevSurfaceCreate c = {
		.width = w, .height = h, .stride = (int32_t)(w * 4),
		.format = SPICE_SURFACE_FMT_32_xRGB,
		.mouse_mode = 1,      /* clients may use absolute (tablet) mode */
		.flags = QXL_SURF_FLAG_KEEP_DATA,   /* else libspice clears it */
		.mem = (uint64_t)(uintptr_t)s->primary,
		.group_id = MEMSLOT_GROUP,
	};
	spice_qxl_create_primary_surface(&s->qxl, 0, &c);
	pthread_mutex_lock(&s->lock);
	s->width = w;
	s->height = h;
	pthread_mutex_unlock(&s->lock);
}

static void on_damage(void *opaque, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct atoll_spice *s = opaque;

	/* The hub clipped the rectangle to the surface it gave us. */
	if (s->primary)
		queue_rect(s, x, y, w, h);
}

/* ---- clients ------------------------------------------------------------ */

static void poll_display(void *opaque, uint32_t events)
{
	(void)events;
	struct atoll_spice *s = opaque;
	display_refresh(&s->vm->display);
}

/* Devices without flushes are polled only while someone watches. */
static void track_display_client(struct atoll_spice *s, int event, const void *info)
{
	unsigned i;

	for (i = 0; i < s->n_display && s->display_infos[i] != info; i++)
		;
	if (event == SPICE_CHANNEL_EVENT_INITIALIZED && i == s->n_display &&
	    s->n_display < MAX_DISPLAY_CLIENTS)
		s->display_infos[s->n_display++] = info;
	else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED && i < s->n_display)
		s->display_infos[i] = s->display_infos[--s->n_display];
	if (s->n_display && !s->poll_timer) {
		s->poll_timer = evloop_timer(&s->vm->loop, POLL_MS, true, poll_display, s);
		if (!s->poll_timer)
			log_warn("spice: cannot start the display poll timer: %s", strerror(errno));
	} else if (!s->n_display && s->poll_timer) {
		evloop_remove(&s->vm->loop, s->poll_timer);
		s->poll_timer = NULL;
	}
	pthread_mutex_lock(&s->lock);
	s->stats.display_clients = s->n_display;
	pthread_mutex_unlock(&s->lock);
}

static void on_channel_event(int event, const SpiceChannelEventInfo *info)
{
	if (info->type == SPICE_CHANNEL_MAIN && event != SPICE_CHANNEL_EVENT_CONNECTED)
		log_info("spice: client %s", event == SPICE_CHANNEL_EVENT_INITIALIZED ?
			 "connected" : "disconnected");
	if (info->type != SPICE_CHANNEL_DISPLAY)
		return;
	/* Which server the event belongs to is not said; in practice there
	 * is one per process. */
	pthread_mutex_lock(&consoles_lock);
	for (unsigned i = 0; i < MAX_CONSOLES; i++)
		if (consoles[i])
			track_display_client(consoles[i], event, info);
	pthread_mutex_unlock(&consoles_lock);
}

static void add_client(struct atoll_spice *s, int fd)
{
	/* libspice owns fd from here, also on failure. */
	if (spice_server_add_client(s->server, fd, s->skip_auth) < 0)
		log_warn("spice: could not take a client connection");
}

static void accept_client(void *opaque, uint32_t events)
{
	(void)events;
	struct atoll_spice *s = opaque;
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("spice: accept: %s", strerror(errno));
		return;
	}
	add_client(s, fd);
}

static int listen_unix(struct atoll_spice *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return ERR("--spice unix:%s: path longer than %zu bytes; use a shorter one",
			   path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return ERR("spice socket: %s", strerror(errno));
	/* A socket left behind by a VMM that died is replaced. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	/* No password on unix sockets: only the owner may connect. */
	mode_t old = umask(0177);
	int ret = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0)
		return ERR("spice socket %s: %s", path, strerror(errno));
	s->unix_path = strdup(path);
	if (!s->unix_path)
		return ERR("out of memory");
	snprintf(s->uri, sizeof(s->uri), "spice+unix://%s", path);
	return 0;
}

static int listen_tcp(struct atoll_spice *s, const struct spice_config *cfg,
		      char *err, size_t errlen)
{
	const char *host = cfg->host && *cfg->host ? cfg->host : "127.0.0.1";
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[16];

	snprintf(port, sizeof(port), "%u", cfg->port);
	int ret = getaddrinfo(host, port, &hints, &ai);
	if (ret)
		return ERR("--spice tcp:%s:%u: %s", host, cfg->port, gai_strerror(ret));
	s->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (s->listen_fd < 0 ||
	    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s->listen_fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		ret = errno;
		freeaddrinfo(ai);
		return ERR("--spice tcp:%s:%u: %s%s", host, cfg->port, strerror(ret),
			   ret == EADDRINUSE ? " (pick another port)" : "");
	}
	freeaddrinfo(ai);
	snprintf(s->uri, sizeof(s->uri), strchr(host, ':') ? "spice://[%s]:%u" :
		 "spice://%s:%u", host, cfg->port);
	return 0;
}

static int open_listener(struct atoll_spice *s, const struct spice_config *cfg,
			 char *err, size_t errlen)
{
	int ret = cfg->kind == SPICE_UNIX ? listen_unix(s, cfg->path, err, errlen) :
		  listen_tcp(s, cfg, err, errlen);

	if (ret)
		return ret;
	if (listen(s->listen_fd, 8) < 0 ||
	    !(s->listen_watch = evloop_add(&s->vm->loop, s->listen_fd, EPOLLIN,
					   accept_client, s)))
		return ERR("spice: listen: %s", strerror(errno));
	return 0;
}

/* A listening socket handed over (the manager made and placed it) is
 * served like our own; a connected one becomes the client's main channel.
 * SPICE opens one connection per channel, so with a connected socket the
 * display and input channels need further sockets, which nothing hands
 * over yet: prefer a listening socket. */
static int use_fd(struct atoll_spice *s, int fd, char *err, size_t errlen)
{
	int listening = 0;
	socklen_t len = sizeof(listening);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return ERR("--spice fd:%d: not a socket (%s)", fd, fd < 0 ? "negative" :
			   strerror(errno));
	s->skip_auth = true;
	snprintf(s->uri, sizeof(s->uri), "fd:%d", fd);
	if (!listening) {
		add_client(s, fd);
		return 0;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    !(s->listen_watch = evloop_add(&s->vm->loop, fd, EPOLLIN, accept_client, s)))
		return ERR("--spice fd:%d: %s", fd, strerror(errno));
	s->listen_fd = fd;
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int setup_server(struct atoll_spice *s, const struct spice_config *cfg,
			char *err, size_t errlen)
{
	SpiceCoreInterface *core = spice_core_get(&s->vm->loop, on_channel_event);

	if (!core)
		return ERR("spice: another event loop already runs a SPICE server here");
	s->core_held = true;
	s->server = spice_server_new();
	if (!s->server)
		return ERR("spice: cannot create the server");
	if (cfg->kind == SPICE_TCP) {
		if (spice_server_set_ticket(s->server, cfg->password, 0, 0, 0) < 0)
			return ERR("spice: cannot set the password");
	} else {
		spice_server_set_noauth(s->server);
	}
	/* The pointer is the absolute tablet, not the agent; the guest's
	 * agent gets the clipboard (unless agent=off) but no files
	 * (docs/spice.md). */
	spice_server_set_agent_mouse(s->server, 0);
	spice_server_set_agent_copypaste(s->server, !cfg->no_agent);
	spice_server_set_agent_file_xfer(s->server, 0);
	if (s->vm->cfg && s->vm->cfg->name)
		spice_server_set_name(s->server, s->vm->cfg->name);
	if (spice_server_init(s->server, core) < 0)
		return ERR("spice: cannot initialise the server");

	s->qxl.base.sif = &qxl_if.base;
	s->qxl.id = 0;
	s->kbd.base.sif = &kbd_if.base;
	s->tablet.base.sif = &tablet_if.base;
	if (spice_server_add_interface(s->server, &s->qxl.base) < 0)
		return ERR("spice: cannot add the display");
	s->qxl_added = true;
	if (spice_server_add_interface(s->server, &s->kbd.base) < 0)
		return ERR("spice: cannot add the keyboard");
	s->kbd_added = true;
	if (spice_server_add_interface(s->server, &s->tablet.base) < 0)
		return ERR("spice: cannot add the tablet");
	s->tablet_added = true;
	s->agent = spice_agent_start(s->server, s->vm, err, errlen);
	if (!s->agent)
		return -1;
	spice_server_vm_start(s->server);
	return 0;
}

static int register_console(struct atoll_spice *s)
{
	int ret = -1;

	pthread_mutex_lock(&consoles_lock);
	for (unsigned i = 0; i < MAX_CONSOLES && ret; i++)
		if (!consoles[i]) {
			consoles[i] = s;
			ret = 0;
		}
	pthread_mutex_unlock(&consoles_lock);
	return ret;
}

static void free_console(struct atoll_spice *s)
{
	pthread_mutex_lock(&consoles_lock);
	for (unsigned i = 0; i < MAX_CONSOLES; i++)
		if (consoles[i] == s)
			consoles[i] = NULL;
	pthread_mutex_unlock(&consoles_lock);

	display_set_listener(&s->vm->display, NULL);
	if (s->listen_watch)
		evloop_remove(&s->vm->loop, s->listen_watch);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->unix_path)
		unlink(s->unix_path);
	free(s->unix_path);
	if (s->poll_timer)
		evloop_remove(&s->vm->loop, s->poll_timer);
	if (s->server) {
		if (s->qxl_added)
			destroy_primary(s);
		/* spice_server_destroy leaves these instances' state behind. */
		spice_agent_stop(s->agent);
		s->agent = NULL;
		if (s->tablet_added)
			spice_server_remove_interface(&s->tablet.base);
		if (s->kbd_added)
			spice_server_remove_interface(&s->kbd.base);
		/* Destroying the server stops its worker thread and releases
		 * every drawable it still holds. */
		spice_server_destroy(s->server);
#if SPICE_SERVER_VERSION <= 0x000f01
		/* libspice up to 0.15.1 cannot remove a keyboard and never
		 * frees its state (g_new0'd when it was added). */
		if (s->kbd_added)
			g_free(s->kbd.st);
#endif
	}
	free(s->primary);
	free_list(s->head);
	if (s->core_held)
		spice_core_put();
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int atoll_spice_start(struct vm *vm, const struct spice_config *cfg,
		      char *err, size_t errlen)
{
	if (!cfg || cfg->kind == SPICE_NONE)
		return 0;
	if (cfg->kind == SPICE_TCP && (!cfg->password || !*cfg->password))
		return ERR("--spice tcp: needs password=SECRET (or use a unix socket)");
	if (console_of(vm))
		return ERR("spice: this VM already has a SPICE console");

	struct atoll_spice *s = calloc(1, sizeof(*s));
	if (!s)
		return ERR("out of memory");
	s->vm = vm;
	s->listen_fd = -1;
	s->wakeup_wanted = true;
	pthread_mutex_init(&s->lock, NULL);
	if (register_console(s)) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return ERR("spice: too many SPICE servers in one process");
	}
	int ret = setup_server(s, cfg, err, errlen);
	if (!ret && cfg->kind == SPICE_FD) {
		ret = use_fd(s, cfg->fd, err, errlen);
	} else if (!ret) {
		s->skip_auth = cfg->kind == SPICE_UNIX;
		ret = open_listener(s, cfg, err, errlen);
	}
	if (ret) {
		free_console(s);
		return -1;
	}
	struct display_listener l = {
		.surface_changed = on_surface_changed,
		.damage = on_damage,
		.opaque = s,
	};
	display_set_listener(&vm->display, &l);
	log_info("spice: console at %s", s->uri);
	return 0;
}

void atoll_spice_stop(struct vm *vm)
{
	struct atoll_spice *s = console_of(vm);

	if (s)
		free_console(s);
}

const char *atoll_spice_uri(struct vm *vm)
{
	struct atoll_spice *s = console_of(vm);
	return s ? s->uri : NULL;
}

int atoll_spice_get_stats(struct vm *vm, struct atoll_spice_stats *st)
{
	struct atoll_spice *s = console_of(vm);

	if (!s)
		return -1;
	pthread_mutex_lock(&s->lock);
	*st = s->stats;
	st->pending = s->n_pending;
	pthread_mutex_unlock(&s->lock);
	return 0;
}
