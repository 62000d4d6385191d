/* virtio-gpu 2D (virtio 1.x, 5.7): one scanout, host-side resources the
 * guest fills from its own pages with TRANSFER_TO_HOST_2D and shows with
 * SET_SCANOUT + RESOURCE_FLUSH.
 *
 * Every resource keeps a host copy in XRGB8888 (B, G, R, X in memory), so
 * the scanned-out resource's pixels are handed to the display hub as they
 * are; A8R8G8B8/X8R8G8B8 resources are byte-swapped on transfer.  Guest
 * errors get a VIRTIO_GPU_RESP_ERR_* answer; only a chain without room for
 * a response header breaks the device. */
#include "gpu.h"

#include <byteswap.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../display.h"
#include "../log.h"
#include "../vm.h"
#include "virtio.h"

#define CTRL_Q   0
#define CURSOR_Q 1
#define GPU_QUEUE_SIZE 256
#define HDR_BYTES ((uint32_t)sizeof(struct virtio_gpu_ctrl_hdr))
/* Smallest and largest size we offer the guest as its preferred mode; the
 * EDID detailed timing holds 12-bit sizes. */
#define PREF_MIN_W 320
#define PREF_MIN_H 200
#define PREF_MAX   4095

/* ---- EDID ---------------------------------------------------------------- */

/* 10-bit CIE coordinate as the EDID stores it. */
static unsigned cie10(unsigned milli)
{
	return (milli * 1024 + 500) / 1000;
}

static void edid_chroma(uint8_t *e)
{
	/* sRGB primaries and D65 white, x then y, in thousandths */
	static const unsigned xy[8] = { 640, 330, 300, 600, 150, 60, 313, 329 };
	unsigned v[8];

	for (int i = 0; i < 8; i++)
		v[i] = cie10(xy[i]);
	e[25] = (uint8_t)((v[0] & 3) << 6 | (v[1] & 3) << 4 | (v[2] & 3) << 2 | (v[3] & 3));
	e[26] = (uint8_t)((v[4] & 3) << 6 | (v[5] & 3) << 4 | (v[6] & 3) << 2 | (v[7] & 3));
	for (int i = 0; i < 8; i++)
		e[27 + i] = (uint8_t)(v[i] >> 2);
}

/* Reduced-blanking style timing: fixed 160-pixel horizontal blanking and a
 * vertical blank of at least 460 us, 60 Hz unless the pixel clock would not
 * fit the descriptor's 16 bits of 10 kHz. */
static void edid_dtd(uint8_t *d, uint32_t w, uint32_t h)
{
	const uint32_t hfront = 48, hsync = 32, hblank = 160;
	const uint32_t vfront = 3, vsync = 6;
	uint32_t refresh = 60;
	/* lines in 460 us at 60 Hz: 460e-6 * 60 * h, rounded up, + sync/porch */
	uint32_t vblank = (uint32_t)(((uint64_t)h * 276 + 9999) / 10000) + 1;
	uint64_t htotal, vtotal, clock;
	uint32_t wmm = w * 254 / 960, hmm = h * 254 / 960;   /* 96 dpi */

	if (vblank < vfront + vsync + 6)
		vblank = vfront + vsync + 6;
	htotal = w + hblank;
	vtotal = h + vblank;
	clock = htotal * vtotal * refresh / 10000;
	if (clock > 65535) {
		refresh = (uint32_t)(655350000ULL / (htotal * vtotal));
		clock = htotal * vtotal * refresh / 10000;
	}
	d[0] = (uint8_t)clock;
	d[1] = (uint8_t)(clock >> 8);
	d[2] = (uint8_t)w;
	d[3] = (uint8_t)hblank;
	d[4] = (uint8_t)((w >> 8) << 4 | (hblank >> 8));
	d[5] = (uint8_t)h;
	d[6] = (uint8_t)vblank;
	d[7] = (uint8_t)((h >> 8) << 4 | (vblank >> 8));
	d[8] = (uint8_t)hfront;
	d[9] = (uint8_t)hsync;
	d[10] = (uint8_t)((vfront & 15) << 4 | (vsync & 15));
	d[11] = (uint8_t)((hfront >> 8) << 6 | (hsync >> 8) << 4 |
			  (vfront >> 4) << 2 | (vsync >> 4));
	d[12] = (uint8_t)wmm;
	d[13] = (uint8_t)hmm;
	d[14] = (uint8_t)((wmm >> 8) << 4 | ((hmm >> 8) & 15));
	d[17] = 0x1a;   /* digital separate sync, hsync +, vsync - */
}

static void edid_text(uint8_t *d, uint8_t tag, const char *s)
{
	size_t n = strlen(s);

	d[3] = tag;
	memset(d + 5, ' ', 13);
	memcpy(d + 5, s, n > 13 ? 13 : n);
	if (n < 13)
		d[5 + n] = '\n';
}

static void edid_range(uint8_t *d, uint32_t w, uint32_t h)
{
	uint64_t clock_mhz = (uint64_t)(w + 160) * (h + 60) * 60 / 1000000 + 10;

	d[3] = 0xfd;
	d[5] = 1;      /* vertical Hz min, max */
	d[6] = 75;
	d[7] = 1;      /* horizontal kHz min, max */
	d[8] = 255;
	d[9] = (uint8_t)(clock_mhz / 10 + 1 > 255 ? 255 : clock_mhz / 10 + 1);
	d[10] = 0;     /* default GTF */
	d[11] = 0x0a;
	memset(d + 12, ' ', 6);
}

void gpu_edid_build(uint8_t e[GPU_EDID_BYTES], uint32_t w, uint32_t h)
{
	static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	/* "ATL": three 5-bit letters, 'A' = 1, big-endian */
	uint16_t mfg = (uint16_t)(('A' - '@') << 10 | ('T' - '@') << 5 | ('L' - '@'));
	unsigned sum = 0;

	memset(e, 0, GPU_EDID_BYTES);
	memcpy(e, header, 8);
	e[8] = (uint8_t)(mfg >> 8);
	e[9] = (uint8_t)mfg;
	e[10] = 0x01;           /* product code */
	e[16] = 0;              /* week unknown */
	e[17] = 2024 - 1990;    /* model year */
	e[18] = 1;              /* EDID 1.4 */
	e[19] = 4;
	e[20] = 0xa0;           /* digital, 8 bits per colour */
	e[21] = (uint8_t)(w * 254 / 96000);    /* size in cm at 96 dpi */
	e[22] = (uint8_t)(h * 254 / 96000);
	e[23] = 120;            /* gamma 2.2 */
	e[24] = 0x06;           /* sRGB default, preferred timing is native */
	edid_chroma(e);
	memset(e + 38, 0x01, 16);   /* no standard timings */
	edid_dtd(e + 54, w, h);
	edid_range(e + 72, w, h);
	edid_text(e + 90, 0xfc, "Atoll");
	edid_text(e + 108, 0xff, "0001");
	for (int i = 0; i < GPU_EDID_BYTES - 1; i++)
		sum += e[i];
	e[127] = (uint8_t)(256 - (sum & 0xff));
}

/* ---- resources and the scanout --------------------------------------------- */

static void publish(struct gpu_core *g)
{
	struct display_surface s;

	if (!g->display)
		return;
	if (g->scanout_res) {
		const struct gpu_resource *r = g->scanout_res;
		s.width = g->scanout_rect.width;
		s.height = g->scanout_rect.height;
		s.stride = r->width * 4;
		s.pixels = r->data + (uint64_t)g->scanout_rect.y * s.stride +
			   (uint64_t)g->scanout_rect.x * 4;
	} else {
		s.width = g->blank_w;
		s.height = g->blank_h;
		s.stride = g->blank_w * 4;
		s.pixels = g->blank;
	}
	display_surface_changed(g->display, &s);
}

/* The blank surface follows the preferred size, so the console window is
 * the right size before the guest sets a mode. */
static int blank_resize(struct gpu_core *g)
{
	uint8_t *nb = calloc((size_t)g->pref_width * g->pref_height, 4);
	uint8_t *old = g->blank;

	if (!nb)
		return -ENOMEM;
	g->blank = nb;
	g->blank_w = g->pref_width;
	g->blank_h = g->pref_height;
	if (!g->scanout_res)
		publish(g);
	free(old);   /* only after the hub stopped pointing at it */
	return 0;
}

void gpu_core_set_preferred(struct gpu_core *g, uint32_t w, uint32_t h)
{
	g->pref_width = w < PREF_MIN_W ? PREF_MIN_W : w > PREF_MAX ? PREF_MAX : w;
	g->pref_height = h < PREF_MIN_H ? PREF_MIN_H : h > PREF_MAX ? PREF_MAX : h;
	if (!g->scanout_res && blank_resize(g) < 0)
		log_warn("virtio-gpu: out of memory for a %ux%u blank screen",
			 g->pref_width, g->pref_height);
}

int gpu_core_init(struct gpu_core *g, const struct guest_memory *mem,
		  struct display *display)
{
	memset(g, 0, sizeof(*g));
	g->mem = mem;
	g->display = display;
	g->pref_width = GPU_DEFAULT_WIDTH;
	g->pref_height = GPU_DEFAULT_HEIGHT;
	return blank_resize(g);
}

static struct gpu_resource *res_find(struct gpu_core *g, uint32_t id, unsigned *idx)
{
	for (unsigned i = 0; i < g->n_res; i++) {
		if (g->res[i]->id == id) {
			if (idx)
				*idx = i;
			return g->res[i];
		}
	}
	return NULL;
}

static void backing_free(struct gpu_resource *r)
{
	free(r->backing);
	r->backing = NULL;
	r->n_backing = 0;
	r->backing_len = 0;
}

static void res_destroy(struct gpu_core *g, unsigned idx)
{
	struct gpu_resource *r = g->res[idx];

	if (g->scanout_res == r) {
		g->scanout_res = NULL;
		publish(g);
	}
	g->res[idx] = g->res[--g->n_res];
	g->res_bytes -= r->bytes;
	backing_free(r);
	free(r->data);
	free(r);
}

void gpu_core_reset(struct gpu_core *g)
{
	if (g->scanout_res) {
		g->scanout_res = NULL;
		publish(g);
	}
	while (g->n_res)
		res_destroy(g, g->n_res - 1);
}

void gpu_core_free(struct gpu_core *g)
{
	g->display = NULL;
	gpu_core_reset(g);
	free(g->blank);
	g->blank = NULL;
}

static bool rect_inside(const struct virtio_gpu_rect *r, uint32_t w, uint32_t h)
{
	return (uint64_t)r->x + r->width <= w && (uint64_t)r->y + r->height <= h;
}

/* ---- commands -------------------------------------------------------------- */

/* The response being built; the largest one is the EDID. */
union gpu_resp {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resp_edid edid;
};

struct gpu_req {
	const struct virtq_elem *elem;
	union gpu_resp *resp;
	uint32_t resp_len;
};

/* Copy the whole command (the guest may rewrite it meanwhile); false when
 * the chain's readable part is shorter. */
static bool cmd_get(const struct gpu_req *q, void *buf, size_t len)
{
	if (q->elem->out_len < len)
		return false;
	return iov_to_buf(q->elem->iov, q->elem->n_out, 0, buf, len) == len;
}

static uint32_t cmd_display_info(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_resp_display_info *d = &q->resp->info;

	d->pmodes[0].r.width = g->pref_width;
	d->pmodes[0].r.height = g->pref_height;
	d->pmodes[0].enabled = 1;
	q->resp_len = sizeof(*d);
	return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

static uint32_t cmd_get_edid(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_get_edid c;

	if (!cmd_get(q, &c, sizeof(c)))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (c.scanout != 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	gpu_edid_build(q->resp->edid.edid, g->pref_width, g->pref_height);
	q->resp->edid.size = GPU_EDID_BYTES;
	q->resp_len = sizeof(q->resp->edid);
	return VIRTIO_GPU_RESP_OK_EDID;
}

static bool format_ok(uint32_t f)
{
	return f == VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM || f == VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM ||
	       f == VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM || f == VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM;
}

static uint32_t cmd_create_2d(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_resource_create_2d c;
	struct gpu_resource *r;
	uint64_t bytes;

	if (!cmd_get(q, &c, sizeof(c)))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (c.resource_id == 0 || res_find(g, c.resource_id, NULL))
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!format_ok(c.format) || c.width == 0 || c.height == 0 ||
	    c.width > GPU_MAX_DIM || c.height > GPU_MAX_DIM)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	bytes = (uint64_t)c.width * c.height * 4;   /* < 2^30: no overflow */
	if (g->n_res == GPU_MAX_RESOURCES || bytes > GPU_MAX_RES_BYTES - g->res_bytes)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->data = calloc(1, bytes))) {
		free(r);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	r->id = c.resource_id;
	r->format = c.format;
	r->width = c.width;
	r->height = c.height;
	r->bytes = bytes;
	g->res[g->n_res++] = r;
	g->res_bytes += bytes;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_unref(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_resource_unref c;
	unsigned idx;

	if (!cmd_get(q, &c, sizeof(c)))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (!res_find(g, c.resource_id, &idx))
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	res_destroy(g, idx);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* A driver never needs more entries than the resource has pages (plus a
 * few for odd alignment); the bound keeps the host's list proportional to
 * memory already accounted for. */
static uint32_t max_entries(const struct gpu_resource *r)
{
	return (uint32_t)(r->bytes / 4096) + 16;
}

static uint32_t cmd_attach(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_resource_attach_backing c;
	struct gpu_backing *b;
	struct gpu_resource *r;
	uint64_t total = 0;

	if (!cmd_get(q, &c, sizeof(c)))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	r = res_find(g, c.resource_id, NULL);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (r->backing)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (c.nr_entries == 0 || c.nr_entries > max_entries(r) ||
	    q->elem->out_len < sizeof(c) + (uint64_t)c.nr_entries * 16)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	b = calloc(c.nr_entries, sizeof(*b));
	if (!b)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	for (uint32_t i = 0; i < c.nr_entries; i++) {
		struct virtio_gpu_mem_entry m;
		iov_to_buf(q->elem->iov, q->elem->n_out, sizeof(c) + (size_t)i * 16,
			   &m, sizeof(m));
		b[i].host = m.length ? guest_ptr(g->mem, m.addr, m.length) : NULL;
		if (!b[i].host) {
			free(b);
			return VIRTIO_GPU_RESP_ERR_UNSPEC;
		}
		b[i].len = m.length;
		total += m.length;
	}
	r->backing = b;
	r->n_backing = c.nr_entries;
	r->backing_len = total;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_detach(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_resource_detach_backing c;
	struct gpu_resource *r;

	if (!cmd_get(q, &c, sizeof(c)))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	r = res_find(g, c.resource_id, NULL);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!r->backing)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	backing_free(r);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_set_scanout(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_set_scanout c;
	struct gpu_resource *r;

	if (!cmd_get(q, &c, sizeof(c)))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (c.scanout_id != 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	if (c.resource_id == 0) {
		if (g->scanout_res) {
			g->scanout_res = NULL;
			publish(g);
		}
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	r = res_find(g, c.resource_id, NULL);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (c.r.width == 0 || c.r.height == 0 || !rect_inside(&c.r, r->width, r->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (g->scanout_res != r || memcmp(&g->scanout_rect, &c.r, sizeof(c.r))) {
		g->scanout_res = r;
		g->scanout_rect = c.r;
		publish(g);
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_flush(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_resource_flush c;
	struct gpu_resource *r;
	const struct virtio_gpu_rect *s = &g->scanout_rect;
	uint64_t x0, y0, x1, y1;

	if (!cmd_get(q, &c, sizeof(c)))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	r = res_find(g, c.resource_id, NULL);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!rect_inside(&c.r, r->width, r->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (g->scanout_res != r || !g->display)
		return VIRTIO_GPU_RESP_OK_NODATA;
	/* Intersect with the scanned-out part, in surface coordinates. */
	x0 = c.r.x > s->x ? c.r.x : s->x;
	y0 = c.r.y > s->y ? c.r.y : s->y;
	x1 = (uint64_t)c.r.x + c.r.width;
	if (x1 > (uint64_t)s->x + s->width)
		x1 = (uint64_t)s->x + s->width;
	y1 = (uint64_t)c.r.y + c.r.height;
	if (y1 > (uint64_t)s->y + s->height)
		y1 = (uint64_t)s->y + s->height;
	if (x0 < x1 && y0 < y1)
		display_damage(g->display, (uint32_t)(x0 - s->x), (uint32_t)(y0 - s->y),
			       (uint32_t)(x1 - x0), (uint32_t)(y1 - y0));
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Position in a backing list, moved forward row by row. */
struct bcursor {
	uint32_t idx;
	uint64_t base;   /* backing offset where entry idx starts */
};

static void backing_read(const struct gpu_resource *r, struct bcursor *c,
			 uint64_t off, uint8_t *dst, uint32_t len)
{
	while (len) {
		while (c->idx < r->n_backing && off >= c->base + r->backing[c->idx].len) {
			c->base += r->backing[c->idx].len;
			c->idx++;
		}
		if (c->idx == r->n_backing)
			return;   /* cannot happen: the caller checked the length */
		uint64_t in = off - c->base;
		uint32_t n = r->backing[c->idx].len - (uint32_t)in;
		if (n > len)
			n = len;
		memcpy(dst, r->backing[c->idx].host + in, n);
		dst += n;
		off += n;
		len -= n;
	}
}

/* A8R8G8B8 is A, R, G, B in memory: the reverse of our B, G, R, X. */
static void swap_row(uint8_t *p, uint32_t pixels)
{
	for (uint32_t i = 0; i < pixels; i++, p += 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		v = bswap_32(v);
		memcpy(p, &v, 4);
	}
}

static uint32_t cmd_transfer(struct gpu_core *g, struct gpu_req *q)
{
	struct virtio_gpu_transfer_to_host_2d c;
	struct bcursor cur = { 0, 0 };
	struct gpu_resource *r;
	uint64_t stride, row_bytes;
	bool swap;

	if (!cmd_get(q, &c, sizeof(c)))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	r = res_find(g, c.resource_id, NULL);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!r->backing)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (!rect_inside(&c.r, r->width, r->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (c.r.width == 0 || c.r.height == 0)
		return VIRTIO_GPU_RESP_OK_NODATA;
	/* The source is laid out like the resource: row i of the rectangle
	 * starts at offset + i * stride in the backing. */
	stride = (uint64_t)r->width * 4;
	row_bytes = (uint64_t)c.r.width * 4;
	if (c.offset > r->backing_len ||
	    (uint64_t)(c.r.height - 1) * stride + row_bytes > r->backing_len - c.offset)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	swap = r->format == VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM ||
	       r->format == VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM;
	for (uint32_t i = 0; i < c.r.height; i++) {
		uint8_t *dst = r->data + (uint64_t)(c.r.y + i) * stride + (uint64_t)c.r.x * 4;
		backing_read(r, &cur, c.offset + i * stride, dst, (uint32_t)row_bytes);
		if (swap)
			swap_row(dst, c.r.width);
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t dispatch(struct gpu_core *g, struct gpu_req *q, uint32_t type)
{
	switch (type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO: return cmd_display_info(g, q);
	case VIRTIO_GPU_CMD_GET_EDID: return cmd_get_edid(g, q);
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D: return cmd_create_2d(g, q);
	case VIRTIO_GPU_CMD_RESOURCE_UNREF: return cmd_unref(g, q);
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: return cmd_attach(g, q);
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING: return cmd_detach(g, q);
	case VIRTIO_GPU_CMD_SET_SCANOUT: return cmd_set_scanout(g, q);
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH: return cmd_flush(g, q);
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: return cmd_transfer(g, q);
	case VIRTIO_GPU_CMD_GET_CAPSET_INFO:
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;   /* no capsets */
	default:
		return VIRTIO_GPU_RESP_ERR_UNSPEC;   /* 3D, blobs, unknown */
	}
}

int64_t gpu_handle_ctrl(struct gpu_core *g, const struct virtq_elem *elem,
			const char **why)
{
	union gpu_resp resp;
	struct virtio_gpu_ctrl_hdr hdr = { 0 };
	struct gpu_req q = { .elem = elem, .resp = &resp, .resp_len = HDR_BYTES };
	uint32_t type;

	if (elem->in_len < HDR_BYTES) {
		*why = "control request has no room for a response header";
		return -1;
	}
	memset(&resp, 0, sizeof(resp));
	if (elem->out_len >= HDR_BYTES) {
		iov_to_buf(elem->iov, elem->n_out, 0, &hdr, sizeof(hdr));
		type = dispatch(g, &q, hdr.type);
	} else {
		type = VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	if (type >= VIRTIO_GPU_RESP_ERR_UNSPEC || q.resp_len > elem->in_len)
		q.resp_len = HDR_BYTES;
	if (q.resp_len == HDR_BYTES && type < VIRTIO_GPU_RESP_ERR_UNSPEC &&
	    type != VIRTIO_GPU_RESP_OK_NODATA)
		type = VIRTIO_GPU_RESP_ERR_UNSPEC;   /* data did not fit */
	resp.hdr.type = type;
	/* Commands complete before the response, so a fence is already done. */
	if (hdr.flags & VIRTIO_GPU_FLAG_FENCE) {
		resp.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
		resp.hdr.fence_id = hdr.fence_id;
		resp.hdr.ctx_id = hdr.ctx_id;
		resp.hdr.ring_idx = hdr.ring_idx;
	}
	return (int64_t)iov_from_buf(elem->iov + elem->n_out, elem->n_in, 0, &resp,
				     q.resp_len);
}

/* ---- the PCI device ---------------------------------------------------------- */

struct virtio_gpu {
	struct virtio_device vdev;
	struct gpu_core core;
	uint32_t events_read;
};

static void gpu_config_access(struct virtio_device *dev, uint32_t off,
			      uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_gpu *gpu = dev->priv;
	struct virtio_gpu_config cfg = {
		.events_read = gpu->events_read, .num_scanouts = 1, .num_capsets = 0,
	};

	if (is_write) {
		uint32_t v = 0;
		if (off == offsetof(struct virtio_gpu_config, events_clear) && len == 4) {
			memcpy(&v, data, 4);
			gpu->events_read &= ~v;
		}
		return;
	}
	memset(data, 0, len);
	if (off >= sizeof(cfg))
		return;
	if (len > sizeof(cfg) - off)
		len = (uint32_t)(sizeof(cfg) - off);
	memcpy(data, (uint8_t *)&cfg + off, len);
}

static void ctrl_notify(struct virtio_gpu *gpu, struct virtq *vq)
{
	struct virtio_device *dev = &gpu->vdev;
	struct virtq_elem elem;
	bool pushed = false;

	while (virtio_pop(dev, vq, &elem) == 1) {
		const char *why = NULL;
		int64_t n = gpu_handle_ctrl(&gpu->core, &elem, &why);
		if (n < 0) {
			virtio_set_broken(dev, "%s", why);
			break;
		}
		virtq_push(vq, elem.head, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(dev, vq);
}

/* The cursor is not drawn yet (the console shows the client's own); the
 * commands are accepted so the driver's cursor plane works. */
static void cursor_notify(struct virtio_gpu *gpu, struct virtq *vq)
{
	struct virtq_elem elem;
	bool pushed = false;

	while (virtio_pop(&gpu->vdev, vq, &elem) == 1) {
		virtq_push(vq, elem.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(&gpu->vdev, vq);
}

static void gpu_queue_notify(struct virtio_device *dev, struct virtq *vq)
{
	struct virtio_gpu *gpu = dev->priv;

	if (vq->index == CTRL_Q)
		ctrl_notify(gpu, vq);
	else
		cursor_notify(gpu, vq);
}

static void gpu_activate(struct virtio_device *dev) { (void)dev; }

static void gpu_reset(struct virtio_device *dev)
{
	struct virtio_gpu *gpu = dev->priv;

	gpu_core_reset(&gpu->core);
	gpu->events_read = 0;
}

static void gpu_destroy(struct virtio_device *dev)
{
	struct virtio_gpu *gpu = dev->priv;

	display_set_source(&dev->vm->display, NULL);
	gpu_core_free(&gpu->core);
	free(gpu);
}

static void gpu_request_size(void *opaque, uint32_t w, uint32_t h)
{
	struct virtio_gpu *gpu = opaque;
	struct virtio_device *dev = &gpu->vdev;

	pthread_mutex_lock(&dev->lock);
	gpu_core_set_preferred(&gpu->core, w, h);
	gpu->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
	if ((dev->status & VIRTIO_STATUS_DRIVER_OK) && !dev->broken)
		virtio_notify_config(dev);
	pthread_mutex_unlock(&dev->lock);
}

static const struct virtio_device_ops gpu_ops = {
	.name = "gpu",
	.device_id = VIRTIO_ID_GPU,
	.pci_class = 0x038000,   /* display controller, other */
	.config_access = gpu_config_access,
	.queue_notify = gpu_queue_notify,
	.activate = gpu_activate,
	.reset = gpu_reset,
	.destroy = gpu_destroy,
};

int virtio_gpu_create(struct vm *vm)
{
	struct virtio_gpu *gpu = calloc(1, sizeof(*gpu));
	struct display_source src = { .request_size = gpu_request_size };

	if (!gpu || gpu_core_init(&gpu->core, &vm->mem, &vm->display) < 0) {
		log_error("virtio-gpu: out of memory");
		free(gpu);
		return -1;
	}
	if (virtio_pci_init(&gpu->vdev, vm, &gpu_ops, VIRTIO_GPU_F_EDID, 2,
			    GPU_QUEUE_SIZE, gpu) < 0) {
		gpu_core_free(&gpu->core);
		free(gpu);
		return -1;
	}
	src.opaque = gpu;
	display_set_source(&vm->display, &src);
	return 0;
}
