/* display-pattern: the domU side of the hwsim `display` scenario.
 *
 * Runs as a static program in the busybox domU.  It takes the first DRM
 * card (virtio_gpu), scans out a dumb buffer with a known test pattern at
 * the connector's preferred mode, and then, forever:
 *   - prints every key, button, wheel and pointer event from the evdev
 *     devices on its console ("ATOLL-KEY code=30 value=1 dev=...");
 *   - re-probes the connector and, when the preferred mode changes (the
 *     console client asked for another window size), switches to it,
 *     redraws the pattern and prints "ATOLL-MODE ...";
 *   - on F12 redraws the whole screen in changing colours for a few seconds
 *     (frames in flight while a client is killed), on F2 fills the screen
 *     with one flat colour, on F3 with noise, on F4 redraws the pattern
 *     (the scenario's timing figures).
 *
 * The DRM uapi structures are declared here because the build host has no
 * libdrm/kernel DRM headers; they are the kernel's stable ABI (sizes
 * checked below).  Output is line-buffered "ATOLL-..." lines that
 * tests/system/scenarios/display.sh parses. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- DRM uapi (include/uapi/drm/drm.h, drm_mode.h) ---- */
struct drm_modeinfo {
	uint32_t clock;
	uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew;
	uint16_t vdisplay, vsync_start, vsync_end, vtotal, vscan;
	uint32_t vrefresh, flags, type;
	char name[32];
};

struct drm_card_res {
	uint64_t fb_id_ptr, crtc_id_ptr, connector_id_ptr, encoder_id_ptr;
	uint32_t count_fbs, count_crtcs, count_connectors, count_encoders;
	uint32_t min_width, max_width, min_height, max_height;
};

struct drm_crtc {
	uint64_t set_connectors_ptr;
	uint32_t count_connectors, crtc_id, fb_id, x, y, gamma_size, mode_valid;
	struct drm_modeinfo mode;
};

struct drm_get_encoder {
	uint32_t encoder_id, encoder_type, crtc_id, possible_crtcs, possible_clones;
};

struct drm_get_connector {
	uint64_t encoders_ptr, modes_ptr, props_ptr, prop_values_ptr;
	uint32_t count_modes, count_props, count_encoders, encoder_id, connector_id;
	uint32_t connector_type, connector_type_id, connection, mm_width, mm_height;
	uint32_t subpixel, pad;
};

struct drm_fb_cmd {
	uint32_t fb_id, width, height, pitch, bpp, depth, handle;
};

struct drm_fb_dirty {
	uint32_t fb_id, flags, color, num_clips;
	uint64_t clips_ptr;
};

struct drm_create_dumb {
	uint32_t height, width, bpp, flags, handle, pitch;
	uint64_t size;
};

struct drm_map_dumb {
	uint32_t handle, pad;
	uint64_t offset;
};

_Static_assert(sizeof(struct drm_modeinfo) == 68, "drm_mode_modeinfo ABI");
_Static_assert(sizeof(struct drm_card_res) == 64, "drm_mode_card_res ABI");
_Static_assert(sizeof(struct drm_crtc) == 104, "drm_mode_crtc ABI");
_Static_assert(sizeof(struct drm_get_connector) == 80, "drm_mode_get_connector ABI");
_Static_assert(sizeof(struct drm_create_dumb) == 32, "drm_mode_create_dumb ABI");

#define DRM_IOCTL_SET_MASTER        _IO('d', 0x1e)
#define DRM_IOCTL_MODE_GETRESOURCES _IOWR('d', 0xA0, struct drm_card_res)
#define DRM_IOCTL_MODE_SETCRTC      _IOWR('d', 0xA2, struct drm_crtc)
#define DRM_IOCTL_MODE_GETENCODER   _IOWR('d', 0xA6, struct drm_get_encoder)
#define DRM_IOCTL_MODE_GETCONNECTOR _IOWR('d', 0xA7, struct drm_get_connector)
#define DRM_IOCTL_MODE_ADDFB        _IOWR('d', 0xAE, struct drm_fb_cmd)
#define DRM_IOCTL_MODE_RMFB         _IOWR('d', 0xAF, unsigned int)
#define DRM_IOCTL_MODE_DIRTYFB      _IOWR('d', 0xB1, struct drm_fb_dirty)
#define DRM_IOCTL_MODE_CREATE_DUMB  _IOWR('d', 0xB2, struct drm_create_dumb)
#define DRM_IOCTL_MODE_MAP_DUMB     _IOWR('d', 0xB3, struct drm_map_dumb)
#define DRM_IOCTL_MODE_DESTROY_DUMB _IOWR('d', 0xB4, uint32_t)
#define DRM_MODE_TYPE_PREFERRED (1 << 3)
#define DRM_MODE_CONNECTED 1

/* ---- the pattern (also in display.sh and display.py: keep in step) ----
 * Four quadrants red / green / blue / amber, a 1-pixel white frame on the
 * screen's edge, and a magenta 32x32 square centred on the screen. */
#define C_RED     0xff0000u
#define C_GREEN   0x00ff00u
#define C_BLUE    0x0000ffu
#define C_AMBER   0xffc000u
#define C_WHITE   0xffffffu
#define C_MAGENTA 0xff00ffu
#define C_FLAT    0x3060a0u   /* F2 */
#define C_NOISE0  0x010203u   /* F3: first and last pixel of the noise screen */

struct screen {
	int fd;
	uint32_t conn_id, crtc_id;
	struct drm_modeinfo mode;
	uint32_t fb_id, handle, pitch, width, height;
	uint32_t *pixels;
	size_t size;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* The preferred mode of the connector, probing it (we are DRM master, so a
 * GETCONNECTOR with count_modes 0 makes the driver re-read its EDID and
 * display info).  Returns 0 and fills *mode. */
static int preferred_mode(struct screen *s, struct drm_modeinfo *mode, uint32_t *encoder)
{
	struct drm_get_connector c = { .connector_id = s->conn_id };
	struct drm_modeinfo *modes = NULL;
	int ret = -1;

	if (ioctl(s->fd, DRM_IOCTL_MODE_GETCONNECTOR, &c) < 0 || c.count_modes == 0)
		return -1;
	modes = calloc(c.count_modes, sizeof(*modes));
	if (!modes)
		return -1;
	uint32_t n = c.count_modes;
	c = (struct drm_get_connector){ .connector_id = s->conn_id, .count_modes = n,
					.modes_ptr = (uintptr_t)modes };
	/* the mode count can grow between the two calls: then ask again */
	if (ioctl(s->fd, DRM_IOCTL_MODE_GETCONNECTOR, &c) == 0 && c.count_modes <= n &&
	    c.connection == DRM_MODE_CONNECTED) {
		*mode = modes[0];
		for (uint32_t i = 0; i < c.count_modes; i++)
			if (modes[i].type & DRM_MODE_TYPE_PREFERRED) {
				*mode = modes[i];
				break;
			}
		if (encoder)
			*encoder = c.encoder_id;
		ret = 0;
	}
	free(modes);
	return ret;
}

static int find_output(struct screen *s)
{
	uint32_t conns[8], crtcs[8], encoder = 0;
	struct drm_card_res r = { 0 };

	if (ioctl(s->fd, DRM_IOCTL_MODE_GETRESOURCES, &r) < 0)
		return -1;
	if (r.count_connectors == 0 || r.count_crtcs == 0)
		return -1;
	r.count_connectors = r.count_connectors > 8 ? 8 : r.count_connectors;
	r.count_crtcs = r.count_crtcs > 8 ? 8 : r.count_crtcs;
	r.count_fbs = r.count_encoders = 0;
	r.connector_id_ptr = (uintptr_t)conns;
	r.crtc_id_ptr = (uintptr_t)crtcs;
	if (ioctl(s->fd, DRM_IOCTL_MODE_GETRESOURCES, &r) < 0)
		return -1;
	for (uint32_t i = 0; i < r.count_connectors; i++) {
		s->conn_id = conns[i];
		if (preferred_mode(s, &s->mode, &encoder) == 0)
			break;
		s->conn_id = 0;
	}
	if (!s->conn_id)
		return -1;
	s->crtc_id = crtcs[0];
	struct drm_get_encoder e = { .encoder_id = encoder };
	if (encoder && ioctl(s->fd, DRM_IOCTL_MODE_GETENCODER, &e) == 0 && e.crtc_id)
		s->crtc_id = e.crtc_id;
	return 0;
}

static void fill(struct screen *s, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h, uint32_t c)
{
	for (uint32_t y = y0; y < y0 + h && y < s->height; y++) {
		uint32_t *row = s->pixels + (size_t)y * (s->pitch / 4);
		for (uint32_t x = x0; x < x0 + w && x < s->width; x++)
			row[x] = c;
	}
}

static void draw_pattern(struct screen *s)
{
	uint32_t w = s->width, h = s->height, hw = w / 2, hh = h / 2;

	fill(s, 0, 0, hw, hh, C_RED);
	fill(s, hw, 0, w - hw, hh, C_GREEN);
	fill(s, 0, hh, hw, h - hh, C_BLUE);
	fill(s, hw, hh, w - hw, h - hh, C_AMBER);
	fill(s, 0, 0, w, 1, C_WHITE);
	fill(s, 0, h - 1, w, 1, C_WHITE);
	fill(s, 0, 0, 1, h, C_WHITE);
	fill(s, w - 1, 0, 1, h, C_WHITE);
	fill(s, hw - 16, hh - 16, 32, 32, C_MAGENTA);
}

static void draw_noise(struct screen *s, uint32_t seed)
{
	for (uint32_t y = 0; y < s->height; y++) {
		uint32_t *row = s->pixels + (size_t)y * (s->pitch / 4);
		for (uint32_t x = 0; x < s->width; x++) {
			seed = seed * 1103515245u + 12345u;
			row[x] = (seed >> 8) & 0xffffff;
		}
	}
	/* known first and last pixels: the client waits for both */
	s->pixels[0] = C_NOISE0;
	s->pixels[(size_t)(s->height - 1) * (s->pitch / 4) + s->width - 1] = C_NOISE0;
}

static int flush_all(struct screen *s)
{
	struct drm_fb_dirty d = { .fb_id = s->fb_id };   /* no clips: the whole fb */
	return ioctl(s->fd, DRM_IOCTL_MODE_DIRTYFB, &d);
}

static void release_fb(struct screen *s)
{
	if (s->pixels)
		munmap(s->pixels, s->size);
	if (s->fb_id)
		ioctl(s->fd, DRM_IOCTL_MODE_RMFB, &s->fb_id);
	if (s->handle)
		ioctl(s->fd, DRM_IOCTL_MODE_DESTROY_DUMB, &s->handle);
	s->pixels = NULL;
	s->fb_id = s->handle = 0;
}

/* A new dumb buffer at the current mode, the pattern in it, scanned out. */
static int show_mode(struct screen *s)
{
	struct drm_create_dumb cd = { .width = s->mode.hdisplay, .height = s->mode.vdisplay,
				      .bpp = 32 };
	if (ioctl(s->fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd) < 0)
		return -1;
	struct screen old = *s;
	s->handle = cd.handle;
	s->pitch = cd.pitch;
	s->width = cd.width;
	s->height = cd.height;
	s->size = cd.size;
	struct drm_fb_cmd fb = { .width = cd.width, .height = cd.height, .pitch = cd.pitch,
				 .bpp = 32, .depth = 24, .handle = cd.handle };
	struct drm_map_dumb md = { .handle = cd.handle };
	if (ioctl(s->fd, DRM_IOCTL_MODE_ADDFB, &fb) < 0 ||
	    ioctl(s->fd, DRM_IOCTL_MODE_MAP_DUMB, &md) < 0)
		return -1;
	s->fb_id = fb.fb_id;
	s->pixels = mmap(NULL, cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd,
			 (off_t)md.offset);
	if (s->pixels == MAP_FAILED) {
		s->pixels = NULL;
		return -1;
	}
	draw_pattern(s);
	struct drm_crtc c = { .set_connectors_ptr = (uintptr_t)&s->conn_id,
			      .count_connectors = 1, .crtc_id = s->crtc_id,
			      .fb_id = s->fb_id, .mode_valid = 1, .mode = s->mode };
	if (ioctl(s->fd, DRM_IOCTL_MODE_SETCRTC, &c) < 0)
		return -1;
	if (old.fb_id)
		release_fb(&old);   /* after the switch: never scan out a freed buffer */
	return 0;
}

/* ---- input ---- */
#define MAX_INPUTS 16

struct input {
	int fd;
	char name[64];
	int x, y, moved;
};

static int open_inputs(struct input *in)
{
	int n = 0;
	for (int i = 0; i < 32 && n < MAX_INPUTS; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/dev/input/event%d", i);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		in[n] = (struct input){ .fd = fd };
		if (ioctl(fd, EVIOCGNAME(sizeof(in[n].name) - 1), in[n].name) < 0)
			strcpy(in[n].name, "?");
		for (char *p = in[n].name; *p; p++)
			if (*p == ' ')
				*p = '_';
		say("ATOLL-INPUT event%d name=%s", i, in[n].name);
		n++;
	}
	return n;
}

struct state {
	struct screen scr;
	uint64_t anim_until;
	unsigned frames;
};

static void on_key(struct state *st, int code)
{
	struct screen *s = &st->scr;
	switch (code) {
	case KEY_F12:
		st->anim_until = now_ms() + 4000;
		st->frames = 0;
		say("ATOLL-ANIM start");
		break;
	case KEY_F2:
		fill(s, 0, 0, s->width, s->height, C_FLAT);
		flush_all(s);
		say("ATOLL-FILL flat");
		break;
	case KEY_F3:
		draw_noise(s, (uint32_t)now_ms());
		flush_all(s);
		say("ATOLL-FILL noise");
		break;
	case KEY_F4:
		draw_pattern(s);
		flush_all(s);
		say("ATOLL-PATTERN %ux%u", s->width, s->height);
		break;
	}
}

static void read_input(struct state *st, struct input *in)
{
	struct input_event ev[32];
	ssize_t n;

	while ((n = read(in->fd, ev, sizeof(ev))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++) {
			struct input_event *e = &ev[i];
			if (e->type == EV_KEY && e->code >= BTN_MOUSE && e->code < BTN_JOYSTICK) {
				say("ATOLL-BTN code=%u value=%d x=%d y=%d dev=%s", e->code,
				    e->value, in->x, in->y, in->name);
			} else if (e->type == EV_KEY) {
				say("ATOLL-KEY code=%u value=%d dev=%s", e->code, e->value,
				    in->name);
				if (e->value == 1)
					on_key(st, e->code);
			} else if (e->type == EV_ABS && (e->code == ABS_X || e->code == ABS_Y)) {
				*(e->code == ABS_X ? &in->x : &in->y) = e->value;
				in->moved = 1;
			} else if (e->type == EV_REL && e->code == REL_WHEEL) {
				say("ATOLL-WHEEL value=%d dev=%s", e->value, in->name);
			} else if (e->type == EV_SYN && in->moved) {
				say("ATOLL-ABS x=%d y=%d dev=%s", in->x, in->y, in->name);
				in->moved = 0;
			}
		}
	}
}

static void sysfs_first_mode(char *out, size_t len)
{
	DIR *d = opendir("/sys/class/drm");
	struct dirent *de;

	snprintf(out, len, "none");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "card0-", 6))
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/sys/class/drm/%s/modes", de->d_name);
		FILE *f = fopen(path, "re");
		if (f && fgets(out, (int)len, f))
			out[strcspn(out, "\n")] = 0;
		if (f)
			fclose(f);
		break;
	}
	closedir(d);
}

static void check_mode(struct state *st)
{
	struct drm_modeinfo m;
	struct screen *s = &st->scr;

	if (preferred_mode(s, &m, NULL) < 0)
		return;
	if (m.hdisplay == s->mode.hdisplay && m.vdisplay == s->mode.vdisplay)
		return;
	char sysfs[64];
	sysfs_first_mode(sysfs, sizeof(sysfs));
	s->mode = m;
	if (show_mode(s) < 0) {
		say("ATOLL-MODE-FAILED %ux%u: %s", m.hdisplay, m.vdisplay, strerror(errno));
		return;
	}
	say("ATOLL-MODE %ux%u sysfs=%s", m.hdisplay, m.vdisplay, sysfs);
}

static void anim_frame(struct state *st)
{
	static const uint32_t colours[] = { 0x800000, 0x008000, 0x000080, 0x808000 };
	struct screen *s = &st->scr;

	fill(s, 0, 0, s->width, s->height, colours[st->frames % 4]);
	flush_all(s);
	st->frames++;
	if (now_ms() >= st->anim_until) {
		st->anim_until = 0;
		draw_pattern(s);
		flush_all(s);
		say("ATOLL-ANIM done frames=%u", st->frames);
	}
}

int main(void)
{
	static struct state st;
	struct input in[MAX_INPUTS];
	struct pollfd pfd[MAX_INPUTS];

	setvbuf(stdout, NULL, _IOLBF, 0);
	st.scr.fd = -1;
	for (int i = 0; i < 50 && st.scr.fd < 0; i++) {   /* the driver may still probe */
		st.scr.fd = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
		if (st.scr.fd < 0)
			usleep(100000);
	}
	if (st.scr.fd < 0) {
		say("ATOLL-DISPLAY-ERROR no /dev/dri/card0: %s", strerror(errno));
		return 1;
	}
	ioctl(st.scr.fd, DRM_IOCTL_SET_MASTER, 0);   /* first opener is master already */
	if (find_output(&st.scr) < 0 || show_mode(&st.scr) < 0) {
		say("ATOLL-DISPLAY-ERROR no usable output: %s", strerror(errno));
		return 1;
	}
	say("ATOLL-PATTERN %ux%u", st.scr.width, st.scr.height);
	int n = open_inputs(in);
	for (int i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = in[i].fd, .events = POLLIN };
	say("ATOLL-DISPLAY-READY inputs=%d", n);

	uint64_t next_probe = now_ms() + 300;
	for (;;) {
		int timeout = st.anim_until ? 0 : 300;
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				read_input(&st, &in[i]);
		if (st.anim_until)
			anim_frame(&st);
		if (now_ms() >= next_probe) {
			check_mode(&st);
			next_probe = now_ms() + 300;
		}
	}
}
