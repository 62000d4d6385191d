/* virtio-gpu on a test VM, driven like Linux's virtio_gpu: display info,
 * EDID, resources with scattered backing, transfers, scanout and flush as
 * seen by a display listener, and an error answer for each bad request. */
#include <glib.h>
#include <string.h>

#include "display.h"
#include "virtio/gpu.h"
#include "virtio/virtio.h"
#include "vm.h"
#include "testvm.h"

#define CTRL_DESC   0x10000
#define CTRL_AVAIL  0x11000
#define CTRL_USED   0x12000
#define CUR_DESC    0x13000
#define CUR_AVAIL   0x14000
#define CUR_USED    0x15000
#define CMD_BUF     0x20000
#define EXTRA_BUF   0x21000
#define RESP_BUF    0x30000
#define BACK0       0x100000   /* two non-adjacent backing pages */
#define BACK1       0x200000

static struct vm vm;
static struct virtio_device *dev;

/* What the display listener saw. */
static struct display_surface surf;
static unsigned n_surface, n_damage;
static uint32_t dmg[4];

static void on_surface(void *opaque, const struct display_surface *s)
{
	(void)opaque;
	surf = *s;
	n_surface++;
}

static void on_damage(void *opaque, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	(void)opaque;
	dmg[0] = x; dmg[1] = y; dmg[2] = w; dmg[3] = h;
	n_damage++;
}

static void *gpa(uint64_t a, uint64_t len)
{
	void *p = guest_ptr(&vm.mem, a, len);
	g_assert_nonnull(p);
	return p;
}

static void setup(void)
{
	struct display_listener l = { on_surface, on_damage, NULL };

	testvm_init(&vm, 64 << 20);
	display_init(&vm.display);
	display_set_listener(&vm.display, &l);
	g_assert_cmpint(virtio_gpu_create(&vm), ==, 0);
	g_assert_cmpuint(vm.n_virtio, ==, 1);
	dev = vm.virtio_devs[0];
	g_assert_cmphex(pci_cfg_get16(&dev->pci, PCI_DEVICE_ID), ==, 0x1050);

	uint64_t f;
	testvm_dev_write(&vm, dev, 0x00, 4, 0);
	f = testvm_dev_read(&vm, dev, 0x04, 4);
	g_assert_cmphex(f & VIRTIO_GPU_F_EDID, !=, 0);
	testvm_dev_write(&vm, dev, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	testvm_dev_write(&vm, dev, 0x08, 4, 0);
	testvm_dev_write(&vm, dev, 0x0c, 4, VIRTIO_GPU_F_EDID);
	testvm_dev_write(&vm, dev, 0x08, 4, 1);
	testvm_dev_write(&vm, dev, 0x0c, 4, 1);   /* VERSION_1 */
	testvm_dev_write(&vm, dev, 0x14, 1, 0xb);
	testvm_queue_setup(&vm, dev, 0, CTRL_DESC, CTRL_AVAIL, CTRL_USED);
	testvm_queue_setup(&vm, dev, 1, CUR_DESC, CUR_AVAIL, CUR_USED);
	testvm_dev_write(&vm, dev, 0x14, 1, 0xf);
	g_assert_cmphex(testvm_dev_read(&vm, dev, 0x14, 1), ==, 0xf);
}

static void teardown(void)
{
	testvm_destroy(&vm);
}

static void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };
	memcpy(gpa(table + 16u * i, 16), &d, sizeof(d));
}

static void offer(uint64_t avail, uint16_t head)
{
	uint16_t *a = gpa(avail, 4 + 2 * TESTVM_QSZ);
	a[2 + a[1] % TESTVM_QSZ] = head;
	a[1]++;
}

/* Send a control command (plus optional extra readable bytes) and return
 * the response type; the response is at RESP_BUF. */
static uint32_t ctrl_ex(const void *cmd, uint32_t cmd_len, const void *extra,
			uint32_t extra_len, uint32_t resp_len)
{
	uint16_t before = testvm_used_idx(&vm, CTRL_USED);
	uint16_t d = 0;

	memcpy(gpa(CMD_BUF, cmd_len), cmd, cmd_len);
	memset(gpa(RESP_BUF, 4096), 0xee, 4096);
	put_desc(CTRL_DESC, d, CMD_BUF, cmd_len, VIRTQ_DESC_F_NEXT, 1);
	d = 1;
	if (extra_len) {
		memcpy(gpa(EXTRA_BUF, extra_len), extra, extra_len);
		put_desc(CTRL_DESC, d, EXTRA_BUF, extra_len, VIRTQ_DESC_F_NEXT, 2);
		d = 2;
	}
	put_desc(CTRL_DESC, d, RESP_BUF, resp_len, VIRTQ_DESC_F_WRITE, 0);
	offer(CTRL_AVAIL, 0);
	testvm_dev_write(&vm, dev, 0x3000, 2, 0);
	testvm_pump(&vm, 5);
	g_assert_cmpuint(testvm_used_idx(&vm, CTRL_USED), ==, (uint16_t)(before + 1));
	return ((struct virtio_gpu_ctrl_hdr *)gpa(RESP_BUF, 24))->type;
}

static uint32_t ctrl(const void *cmd, uint32_t cmd_len, uint32_t resp_len)
{
	return ctrl_ex(cmd, cmd_len, NULL, 0, resp_len);
}

#define HDR(t) { .type = (t) }

static uint32_t create_2d(uint32_t id, uint32_t fmt, uint32_t w, uint32_t h)
{
	struct virtio_gpu_resource_create_2d c = {
		HDR(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), id, fmt, w, h };
	return ctrl(&c, sizeof(c), 24);
}

static uint32_t attach(uint32_t id, const struct virtio_gpu_mem_entry *e, uint32_t n)
{
	struct virtio_gpu_resource_attach_backing c = {
		HDR(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING), id, n };
	return ctrl_ex(&c, sizeof(c), e, n * 16, 24);
}

static uint32_t transfer(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
			 uint64_t off)
{
	struct virtio_gpu_transfer_to_host_2d c = {
		HDR(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), { x, y, w, h }, off, id, 0 };
	return ctrl(&c, sizeof(c), 24);
}

static uint32_t set_scanout(uint32_t scanout, uint32_t id, uint32_t x, uint32_t y,
			    uint32_t w, uint32_t h)
{
	struct virtio_gpu_set_scanout c = {
		HDR(VIRTIO_GPU_CMD_SET_SCANOUT), { x, y, w, h }, scanout, id };
	return ctrl(&c, sizeof(c), 24);
}

static uint32_t flush(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct virtio_gpu_resource_flush c = {
		HDR(VIRTIO_GPU_CMD_RESOURCE_FLUSH), { x, y, w, h }, id, 0 };
	return ctrl(&c, sizeof(c), 24);
}

static uint32_t display_info(uint32_t *w, uint32_t *h)
{
	struct virtio_gpu_ctrl_hdr c = HDR(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	uint32_t t = ctrl(&c, sizeof(c), sizeof(struct virtio_gpu_resp_display_info));
	struct virtio_gpu_resp_display_info *r = gpa(RESP_BUF, sizeof(*r));

	g_assert_cmpuint(r->pmodes[0].enabled, ==, 1);
	g_assert_cmpuint(r->pmodes[1].enabled, ==, 0);
	*w = r->pmodes[0].r.width;
	*h = r->pmodes[0].r.height;
	return t;
}

static void test_info_edid(void)
{
	uint32_t w, h;

	setup();
	g_assert_cmpuint(n_surface, >=, 1);   /* a blank screen from the start */
	g_assert_cmpuint(surf.width, ==, 1280);
	g_assert_cmpuint(display_info(&w, &h), ==, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	g_assert_cmpuint(w, ==, 1280);
	g_assert_cmpuint(h, ==, 800);
	/* config: no events, one scanout, no capsets */
	g_assert_cmpuint(testvm_dev_read(&vm, dev, 0x2000, 4), ==, 0);
	g_assert_cmpuint(testvm_dev_read(&vm, dev, 0x2008, 4), ==, 1);
	g_assert_cmpuint(testvm_dev_read(&vm, dev, 0x200c, 4), ==, 0);

	struct virtio_gpu_get_edid e = { HDR(VIRTIO_GPU_CMD_GET_EDID), 0, 0 };
	g_assert_cmphex(ctrl(&e, sizeof(e), sizeof(struct virtio_gpu_resp_edid)), ==,
			VIRTIO_GPU_RESP_OK_EDID);
	struct virtio_gpu_resp_edid *r = gpa(RESP_BUF, sizeof(*r));
	static const uint8_t hdr[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	unsigned sum = 0;
	g_assert_cmpuint(r->size, ==, 128);
	g_assert_cmpmem(r->edid, 8, hdr, 8);
	for (int i = 0; i < 128; i++)
		sum += r->edid[i];
	g_assert_cmpuint(sum % 256, ==, 0);
	g_assert_cmpuint(r->edid[18], ==, 1);
	g_assert_cmpuint(r->edid[19], ==, 4);
	const uint8_t *d = r->edid + 54;     /* first detailed timing */
	g_assert_cmpuint(d[0] | d[1] << 8, !=, 0);
	g_assert_cmpuint(d[2] | (d[4] >> 4) << 8, ==, 1280);
	g_assert_cmpuint(d[5] | (d[7] >> 4) << 8, ==, 800);
	e.scanout = 3;
	g_assert_cmphex(ctrl(&e, sizeof(e), sizeof(struct virtio_gpu_resp_edid)), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);

	/* The console asks for another size: config event, new display info. */
	display_request_size(&vm.display, 1920, 1080);
	g_assert_cmpuint(testvm_dev_read(&vm, dev, 0x2000, 4), ==, VIRTIO_GPU_EVENT_DISPLAY);
	g_assert_cmphex(testvm_dev_read(&vm, dev, 0x1000, 1) & 2, ==, 2);   /* ISR config */
	g_assert_cmpuint(display_info(&w, &h), ==, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	g_assert_cmpuint(w, ==, 1920);
	g_assert_cmpuint(h, ==, 1080);
	testvm_dev_write(&vm, dev, 0x2004, 4, VIRTIO_GPU_EVENT_DISPLAY);
	g_assert_cmpuint(testvm_dev_read(&vm, dev, 0x2000, 4), ==, 0);
	g_assert_cmphex(ctrl(&e, 24, sizeof(struct virtio_gpu_resp_edid)), ==,
			VIRTIO_GPU_RESP_ERR_UNSPEC);   /* too short */
	e.scanout = 0;
	g_assert_cmphex(ctrl(&e, sizeof(e), sizeof(struct virtio_gpu_resp_edid)), ==,
			VIRTIO_GPU_RESP_OK_EDID);
	g_assert_cmpuint(r->edid[54 + 2] | (r->edid[54 + 4] >> 4) << 8, ==, 1920);
	teardown();
}

/* Pixel (x, y) of the guest's 64-pixel-wide image. */
static uint32_t pix(uint32_t x, uint32_t y)
{
	return 0xff000000u | (y << 16) | (x << 8) | ((x + y) & 0xff);
}

static void fill_backing(void)
{
	/* 64x32 at 256 bytes a line: rows 0-15 in BACK0, 16-31 in BACK1. */
	for (uint32_t y = 0; y < 32; y++)
		for (uint32_t x = 0; x < 64; x++) {
			uint32_t v = pix(x, y);
			uint64_t off = (uint64_t)y * 256 + x * 4;
			memcpy(gpa((off < 4096 ? BACK0 : BACK1 - 4096) + off, 4), &v, 4);
		}
}

static uint32_t surf_pix(uint32_t x, uint32_t y)
{
	uint32_t v;
	memcpy(&v, surf.pixels + (size_t)y * surf.stride + x * 4, 4);
	return v;
}

static const struct virtio_gpu_mem_entry two_pages[2] = {
	{ BACK0, 4096, 0 }, { BACK1, 4096, 0 } };

static void test_draw(void)
{
	setup();
	fill_backing();
	g_assert_cmphex(create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 32), ==,
			VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmphex(attach(1, two_pages, 2), ==, VIRTIO_GPU_RESP_OK_NODATA);
	unsigned ns = n_surface;
	g_assert_cmphex(set_scanout(0, 1, 0, 0, 64, 32), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmpuint(n_surface, ==, ns + 1);
	g_assert_cmpuint(surf.width, ==, 64);
	g_assert_cmpuint(surf.height, ==, 32);
	g_assert_cmpuint(surf.stride, ==, 256);

	/* A rectangle spanning both backing pages, as Linux computes offset. */
	g_assert_cmphex(transfer(1, 8, 12, 16, 8, 12 * 256 + 8 * 4), ==,
			VIRTIO_GPU_RESP_OK_NODATA);
	for (uint32_t y = 0; y < 32; y++)
		for (uint32_t x = 0; x < 64; x++) {
			bool in = x >= 8 && x < 24 && y >= 12 && y < 20;
			g_assert_cmphex(surf_pix(x, y), ==, in ? pix(x, y) : 0);
		}
	unsigned nd = n_damage;
	g_assert_cmphex(flush(1, 8, 12, 16, 8), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmpuint(n_damage, ==, nd + 1);
	g_assert_cmpuint(dmg[0], ==, 8);
	g_assert_cmpuint(dmg[1], ==, 12);
	g_assert_cmpuint(dmg[2], ==, 16);
	g_assert_cmpuint(dmg[3], ==, 8);

	/* Scanning out part of the resource: damage in surface coordinates,
	 * clipped to it. */
	g_assert_cmphex(set_scanout(0, 1, 16, 0, 48, 32), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmpuint(surf.width, ==, 48);
	g_assert_cmphex(surf_pix(0, 12), ==, pix(16, 12));
	g_assert_cmphex(transfer(1, 0, 0, 64, 32, 0), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmphex(surf_pix(47, 31), ==, pix(63, 31));
	g_assert_cmphex(flush(1, 8, 12, 16, 8), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmpuint(dmg[0], ==, 0);
	g_assert_cmpuint(dmg[2], ==, 8);
	nd = n_damage;
	g_assert_cmphex(flush(1, 0, 0, 8, 8), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmpuint(n_damage, ==, nd);   /* outside the scanout */

	/* X8R8G8B8 is stored byte-swapped into the host's B, G, R, X. */
	g_assert_cmphex(create_2d(2, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, 64, 32), ==,
			VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmphex(attach(2, two_pages, 2), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmphex(transfer(2, 0, 0, 64, 32, 0), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmphex(set_scanout(0, 2, 0, 0, 64, 32), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmphex(surf_pix(5, 7), ==, __builtin_bswap32(pix(5, 7)));

	/* Detach, and a transfer has nothing to read from. */
	struct virtio_gpu_resource_detach_backing det = {
		HDR(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING), 2, 0 };
	g_assert_cmphex(ctrl(&det, sizeof(det), 24), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmphex(ctrl(&det, sizeof(det), 24), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	g_assert_cmphex(transfer(2, 0, 0, 1, 1, 0), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);

	/* Unref of the scanned-out resource falls back to the blank screen. */
	struct virtio_gpu_resource_unref u = { HDR(VIRTIO_GPU_CMD_RESOURCE_UNREF), 2, 0 };
	ns = n_surface;
	g_assert_cmphex(ctrl(&u, sizeof(u), 24), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmpuint(n_surface, ==, ns + 1);
	g_assert_cmpuint(surf.width, ==, 1280);
	g_assert_cmphex(ctrl(&u, sizeof(u), 24), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);

	/* Fenced commands echo the fence. */
	struct virtio_gpu_ctrl_hdr fc = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
		.flags = VIRTIO_GPU_FLAG_FENCE, .fence_id = 42 };
	ctrl(&fc, sizeof(fc), sizeof(struct virtio_gpu_resp_display_info));
	struct virtio_gpu_ctrl_hdr *rh = gpa(RESP_BUF, 24);
	g_assert_cmpuint(rh->flags, ==, VIRTIO_GPU_FLAG_FENCE);
	g_assert_cmpuint(rh->fence_id, ==, 42);

	/* The cursor queue takes commands without a response buffer. */
	uint8_t cur[56] = { 0 };
	cur[0] = 0x01; cur[1] = 0x03;   /* MOVE_CURSOR */
	memcpy(gpa(CMD_BUF, sizeof(cur)), cur, sizeof(cur));
	put_desc(CUR_DESC, 0, CMD_BUF, sizeof(cur), 0, 0);
	offer(CUR_AVAIL, 0);
	testvm_dev_write(&vm, dev, 0x3004, 2, 1);
	testvm_pump(&vm, 5);
	g_assert_cmpuint(testvm_used_idx(&vm, CUR_USED), ==, 1);
	teardown();
}

static void test_errors(void)
{
	uint32_t w, h;

	setup();
	fill_backing();
	g_assert_cmphex(create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 32), ==,
			VIRTIO_GPU_RESP_OK_NODATA);
	/* create */
	g_assert_cmphex(create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 8, 8), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	g_assert_cmphex(create_2d(0, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 8, 8), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	g_assert_cmphex(create_2d(5, 99, 8, 8), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(create_2d(5, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 16385, 1), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(create_2d(5, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 0, 8), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(create_2d(5, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 16384, 16384), ==,
			VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	/* 4K works, and several of them hit the 256 MiB cap */
	g_assert_cmphex(create_2d(6, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 3840, 2160), ==,
			VIRTIO_GPU_RESP_OK_NODATA);
	uint32_t id = 7, t;
	while ((t = create_2d(id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 3840, 2160)) ==
	       VIRTIO_GPU_RESP_OK_NODATA)
		id++;
	g_assert_cmphex(t, ==, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	g_assert_cmpuint(id, ==, 14);   /* 8 x 31.6 MiB fit in 256 MiB */

	/* attach */
	struct virtio_gpu_mem_entry bad[2] = { { BACK0, 4096, 0 }, { 0xf0000000, 4096, 0 } };
	g_assert_cmphex(attach(1, bad, 2), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	bad[1] = (struct virtio_gpu_mem_entry){ (64 << 20) - 4096, 8192, 0 };
	g_assert_cmphex(attach(1, bad, 2), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	bad[1] = (struct virtio_gpu_mem_entry){ BACK1, 0, 0 };
	g_assert_cmphex(attach(1, bad, 2), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	g_assert_cmphex(attach(77, two_pages, 2), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	struct virtio_gpu_resource_attach_backing many = {
		HDR(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING), 1, 100000 };
	g_assert_cmphex(ctrl_ex(&many, sizeof(many), two_pages, 32, 24), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	many.nr_entries = 3;   /* more entries than the chain carries */
	g_assert_cmphex(ctrl_ex(&many, sizeof(many), two_pages, 32, 24), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* transfer without backing, then with */
	g_assert_cmphex(transfer(1, 0, 0, 8, 8, 0), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	g_assert_cmphex(attach(1, two_pages, 2), ==, VIRTIO_GPU_RESP_OK_NODATA);
	g_assert_cmphex(attach(1, two_pages, 2), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	g_assert_cmphex(transfer(77, 0, 0, 8, 8, 0), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	g_assert_cmphex(transfer(1, 60, 0, 8, 8, 0), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(transfer(1, 0, 30, 8, 8, 0), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(transfer(1, 0xffffffffu, 0, 2, 1, 0), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(transfer(1, 0, 0, 64, 32, 4), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(transfer(1, 0, 0, 1, 1, ~0ULL), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(transfer(1, 0, 0, 64, 32, 0), ==, VIRTIO_GPU_RESP_OK_NODATA);
	/* scanout and flush */
	g_assert_cmphex(set_scanout(1, 1, 0, 0, 64, 32), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	g_assert_cmphex(set_scanout(0, 77, 0, 0, 64, 32), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	g_assert_cmphex(set_scanout(0, 1, 1, 0, 64, 32), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(set_scanout(0, 1, 0, 0, 0, 32), ==,
			VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(flush(77, 0, 0, 8, 8), ==, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	g_assert_cmphex(flush(1, 0, 0, 65, 8), ==, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	g_assert_cmphex(set_scanout(0, 0, 0, 0, 0, 0), ==, VIRTIO_GPU_RESP_OK_NODATA);
	/* unknown, short, 3D and no-room-for-data requests */
	struct virtio_gpu_ctrl_hdr unk = HDR(0x0999);
	g_assert_cmphex(ctrl(&unk, sizeof(unk), 24), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	unk.type = 0x0200;   /* CTX_CREATE */
	g_assert_cmphex(ctrl(&unk, sizeof(unk), 24), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	struct virtio_gpu_resource_create_2d c = {
		HDR(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), 9, 2, 8, 8 };
	g_assert_cmphex(ctrl(&c, 28, 24), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	g_assert_cmphex(ctrl(&c, 10, 24), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);
	unk.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
	g_assert_cmphex(ctrl(&unk, sizeof(unk), 100), ==, VIRTIO_GPU_RESP_ERR_UNSPEC);

	/* None of it broke the device. */
	g_assert_cmphex(testvm_dev_read(&vm, dev, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, ==, 0);
	g_assert_cmpuint(display_info(&w, &h), ==, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);

	/* A chain without room for a response header does. */
	uint16_t before = testvm_used_idx(&vm, CTRL_USED);
	put_desc(CTRL_DESC, 0, CMD_BUF, 24, VIRTQ_DESC_F_NEXT, 1);
	put_desc(CTRL_DESC, 1, RESP_BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(CTRL_AVAIL, 0);
	testvm_dev_write(&vm, dev, 0x3000, 2, 0);
	testvm_pump(&vm, 5);
	g_assert_cmpuint(testvm_used_idx(&vm, CTRL_USED), ==, before);
	g_assert_cmphex(testvm_dev_read(&vm, dev, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, !=, 0);
	teardown();
}

static void test_edid_block(void)
{
	static const uint32_t sizes[][2] = { { 640, 480 }, { 1280, 800 }, { 1920, 1080 },
					     { 3840, 2160 }, { 4095, 4095 } };
	uint8_t e[GPU_EDID_BYTES];

	for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
		unsigned sum = 0;
		gpu_edid_build(e, sizes[i][0], sizes[i][1]);
		for (int j = 0; j < 128; j++)
			sum += e[j];
		g_assert_cmpuint(sum % 256, ==, 0);
		g_assert_cmpuint(e[56] | (e[58] >> 4) << 8, ==, sizes[i][0]);
		g_assert_cmpuint(e[59] | (e[61] >> 4) << 8, ==, sizes[i][1]);
		/* pixel clock / (htotal * vtotal) is a sane refresh rate */
		uint32_t clk = (e[54] | e[55] << 8) * 10000u;
		uint32_t ht = sizes[i][0] + (e[57] | (e[58] & 15) << 8);
		uint32_t vt = sizes[i][1] + (e[60] | (e[61] & 15) << 8);
		uint32_t hz = (uint32_t)((uint64_t)clk / ((uint64_t)ht * vt));
		g_assert_cmpuint(hz, >=, 20);
		g_assert_cmpuint(hz, <=, 61);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/virtio-gpu/info-edid", test_info_edid);
	g_test_add_func("/virtio-gpu/draw", test_draw);
	g_test_add_func("/virtio-gpu/errors", test_errors);
	g_test_add_func("/virtio-gpu/edid-block", test_edid_block);
	return g_test_run();
}
