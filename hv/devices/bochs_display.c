/* bochs-display: a 16 MiB framebuffer in BAR 0 and the DISPI registers in
 * BAR 2.  The framebuffer is host memory mapped into the guest as a KVM
 * memory slot (no exits on pixel writes); damage is found when the console
 * polls (display_source.refresh): pages KVM logged as dirty narrow down
 * which 64x64 tiles to compare against a shadow copy, and only tiles whose
 * pixels really changed are reported.  Without a memory slot (no KVM, or
 * KVM refused it) BAR 0 is trapped MMIO and every tile is compared. */
#include "bochs_display.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../display.h"
#include "../log.h"
#include "../pci/pci.h"
#include "../virtio/gpu.h"
#include "../vm.h"

#define FB_PAGES   (BOCHS_FB_SIZE / 4096)
#define BLANK_W    640
#define BLANK_H    480
#define QEXT_SIZE  8
#define EDID_AREA  0x400

struct bochs {
	struct pci_device pci;
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t *fb;                      /* BOCHS_FB_SIZE, mmapped */
	uint16_t regs[DISPI_NUM_REGS];
	uint32_t byteorder;               /* QEXT 0x604, as the guest wrote it */
	uint8_t edid[GPU_EDID_BYTES];
	int slot;                         /* KVM slot of BAR 0, -1 if none */
	bool slot_logged;                 /* slot has dirty logging */
	uint64_t dirty[FB_PAGES / 64];
	/* What the display hub was last given. */
	struct display_surface cur;
	bool cur_blank;
	uint8_t *shadow;                  /* cur.width * 4 per line, packed */
	uint8_t *blank;
};

/* ---- surface ------------------------------------------------------------ */

/* The surface the registers describe, or false for none (disabled, a
 * depth other than 32, or a mode that does not fit the framebuffer). */
static bool mode_surface(const struct bochs *b, struct display_surface *s)
{
	const uint16_t *r = b->regs;
	uint64_t vw = r[DISPI_INDEX_VIRT_WIDTH], start, need;

	if (!(r[DISPI_INDEX_ENABLE] & DISPI_ENABLED) || r[DISPI_INDEX_BPP] != 32 ||
	    r[DISPI_INDEX_XRES] == 0 || r[DISPI_INDEX_YRES] == 0)
		return false;
	if (vw < r[DISPI_INDEX_XRES])
		vw = r[DISPI_INDEX_XRES];
	start = ((uint64_t)r[DISPI_INDEX_Y_OFFSET] * vw + r[DISPI_INDEX_X_OFFSET]) * 4;
	need = start + ((uint64_t)r[DISPI_INDEX_YRES] - 1) * vw * 4 +
	       (uint64_t)r[DISPI_INDEX_XRES] * 4;
	if (need > BOCHS_FB_SIZE)
		return false;
	s->width = r[DISPI_INDEX_XRES];
	s->height = r[DISPI_INDEX_YRES];
	s->stride = (uint32_t)(vw * 4);
	s->pixels = b->fb + start;
	return true;
}

static void shadow_fill(struct bochs *b)
{
	for (uint32_t y = 0; y < b->cur.height; y++)
		memcpy(b->shadow + (size_t)y * b->cur.width * 4,
		       b->cur.pixels + (size_t)y * b->cur.stride, (size_t)b->cur.width * 4);
}

/* Give the hub the surface the registers describe if it changed.  A new
 * surface is drawn whole by the listener, so the shadow starts equal. */
static void sync_surface(struct bochs *b)
{
	struct display_surface s;
	bool blank = !mode_surface(b, &s);

	if (blank)
		s = (struct display_surface){ BLANK_W, BLANK_H, BLANK_W * 4, b->blank };
	if (blank == b->cur_blank && s.width == b->cur.width && s.height == b->cur.height &&
	    s.stride == b->cur.stride && s.pixels == b->cur.pixels)
		return;
	free(b->shadow);
	b->shadow = blank ? NULL : malloc((size_t)s.width * s.height * 4);
	if (!blank && !b->shadow) {
		log_warn("bochs-display: out of memory for a %ux%u shadow; showing a blank screen",
			 s.width, s.height);
		s = (struct display_surface){ BLANK_W, BLANK_H, BLANK_W * 4, b->blank };
		blank = true;
	}
	b->cur = s;
	b->cur_blank = blank;
	if (!blank)
		shadow_fill(b);
	if (b->slot_logged)   /* start a fresh dirty log for the new mode */
		vm_dirty_log(b->vm, b->slot, b->dirty);
	display_surface_changed(&b->vm->display, &b->cur);
}

/* ---- damage ---------------------------------------------------------------- */

static bool page_dirty(const struct bochs *b, uint64_t page)
{
	return b->dirty[page / 64] & (1ULL << (page % 64));
}

/* Whether any framebuffer page under the tile was written. */
static bool tile_maybe_dirty(const struct bochs *b, uint32_t x0, uint32_t y0,
			     uint32_t w, uint32_t h)
{
	uint64_t base = (uint64_t)(b->cur.pixels - b->fb);

	for (uint32_t y = y0; y < y0 + h; y++) {
		uint64_t a = base + (uint64_t)y * b->cur.stride + (uint64_t)x0 * 4;
		for (uint64_t p = a / 4096; p <= (a + (uint64_t)w * 4 - 1) / 4096; p++)
			if (page_dirty(b, p))
				return true;
	}
	return false;
}

/* Compare one tile with the shadow; copy it over when it changed. */
static bool tile_changed(struct bochs *b, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h)
{
	bool changed = false;

	for (uint32_t y = y0; y < y0 + h; y++) {
		const uint8_t *src = b->cur.pixels + (size_t)y * b->cur.stride + (size_t)x0 * 4;
		uint8_t *dst = b->shadow + ((size_t)y * b->cur.width + x0) * 4;
		if (memcmp(src, dst, (size_t)w * 4)) {
			memcpy(dst, src, (size_t)w * 4);
			changed = true;
		}
	}
	return changed;
}

/* Report changed tiles, one rectangle per horizontal run of them. */
static void find_damage(struct bochs *b, bool use_log)
{
	const uint32_t T = BOCHS_TILE;

	for (uint32_t ty = 0; ty < b->cur.height; ty += T) {
		uint32_t th = b->cur.height - ty < T ? b->cur.height - ty : T;
		uint32_t run = 0, run_x = 0;
		for (uint32_t tx = 0; tx < b->cur.width; tx += T) {
			uint32_t tw = b->cur.width - tx < T ? b->cur.width - tx : T;
			bool hit = (!use_log || tile_maybe_dirty(b, tx, ty, tw, th)) &&
				   tile_changed(b, tx, ty, tw, th);
			if (hit) {
				if (!run)
					run_x = tx;
				run += tw;
				continue;
			}
			if (run)
				display_damage(&b->vm->display, run_x, ty, run, th);
			run = 0;
		}
		if (run)
			display_damage(&b->vm->display, run_x, ty, run, th);
	}
}

static void bochs_refresh(void *opaque)
{
	struct bochs *b = opaque;
	bool use_log = false;

	pthread_mutex_lock(&b->lock);
	sync_surface(b);
	if (!b->cur_blank) {
		/* Fetch the log before comparing: a write racing with the
		 * comparison is then in the next log. */
		use_log = b->slot_logged && vm_dirty_log(b->vm, b->slot, b->dirty) == 0;
		find_damage(b, use_log);
	}
	pthread_mutex_unlock(&b->lock);
}

/* ---- registers ---------------------------------------------------------------- */

static uint16_t dispi_read(const struct bochs *b, unsigned idx)
{
	if (b->regs[DISPI_INDEX_ENABLE] & DISPI_GETCAPS) {
		switch (idx) {
		case DISPI_INDEX_XRES: return DISPI_MAX_XRES;
		case DISPI_INDEX_YRES: return DISPI_MAX_YRES;
		case DISPI_INDEX_BPP: return DISPI_MAX_BPP;
		}
	}
	if (idx == DISPI_INDEX_VIDEO_MEMORY_64K)
		return BOCHS_FB_SIZE / 65536;
	return idx < DISPI_NUM_REGS ? b->regs[idx] : 0;
}

static void dispi_enable(struct bochs *b, uint16_t v)
{
	uint16_t *r = b->regs;
	bool was = r[DISPI_INDEX_ENABLE] & DISPI_ENABLED;

	r[DISPI_INDEX_ENABLE] = v & (DISPI_ENABLED | DISPI_GETCAPS | DISPI_8BIT_DAC |
				     DISPI_LFB_ENABLED | DISPI_NOCLEARMEM);
	if (!(v & DISPI_ENABLED) || was)
		return;
	if (r[DISPI_INDEX_VIRT_WIDTH] < r[DISPI_INDEX_XRES])
		r[DISPI_INDEX_VIRT_WIDTH] = r[DISPI_INDEX_XRES];
	if (r[DISPI_INDEX_VIRT_HEIGHT] < r[DISPI_INDEX_YRES])
		r[DISPI_INDEX_VIRT_HEIGHT] = r[DISPI_INDEX_YRES];
	if (!(v & DISPI_NOCLEARMEM)) {
		uint64_t bytes = (uint64_t)r[DISPI_INDEX_VIRT_WIDTH] *
				 r[DISPI_INDEX_VIRT_HEIGHT] * ((r[DISPI_INDEX_BPP] + 7) / 8);
		memset(b->fb, 0, bytes < BOCHS_FB_SIZE ? bytes : BOCHS_FB_SIZE);
	}
	sync_surface(b);
}

static void dispi_write(struct bochs *b, unsigned idx, uint16_t v)
{
	uint16_t *r = b->regs;

	switch (idx) {
	case DISPI_INDEX_ID:
		if (v >= 0xb0c0 && v <= DISPI_ID5)
			r[idx] = v;
		break;
	case DISPI_INDEX_XRES:
		if (v <= DISPI_MAX_XRES)
			r[idx] = v;
		break;
	case DISPI_INDEX_YRES:
		if (v <= DISPI_MAX_YRES)
			r[idx] = v;
		break;
	case DISPI_INDEX_BPP:
		if (v == 0)
			v = 8;
		if (v == 4 || v == 8 || v == 15 || v == 16 || v == 24 || v == 32)
			r[idx] = v;
		break;
	case DISPI_INDEX_ENABLE:
		dispi_enable(b, v);
		break;
	case DISPI_INDEX_BANK:
		r[idx] = 0;   /* banking is for VGA windows; the LFB covers all */
		break;
	case DISPI_INDEX_VIRT_WIDTH:
	case DISPI_INDEX_VIRT_HEIGHT:
	case DISPI_INDEX_X_OFFSET:
	case DISPI_INDEX_Y_OFFSET:
		/* Panning and page flips are picked up at the next refresh:
		 * a flip writes three registers, and only the end state
		 * matters. */
		r[idx] = v;
		break;
	}
}

static void mmio_read(struct bochs *b, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint8_t v = 0;
		if (o < EDID_AREA) {
			v = o < GPU_EDID_BYTES ? b->edid[o] : 0;
		} else if (o >= BOCHS_MMIO_DISPI && o < BOCHS_MMIO_DISPI + 2 * DISPI_NUM_REGS) {
			uint16_t r = dispi_read(b, (unsigned)(o - BOCHS_MMIO_DISPI) / 2);
			v = (uint8_t)(r >> (8 * ((o - BOCHS_MMIO_DISPI) & 1)));
		} else if (o >= BOCHS_MMIO_QEXT && o < BOCHS_MMIO_QEXT + 4) {
			v = (uint8_t)(QEXT_SIZE >> (8 * (o - BOCHS_MMIO_QEXT)));
		} else if (o >= BOCHS_MMIO_QEXT + 4 && o < BOCHS_MMIO_QEXT + 8) {
			v = (uint8_t)(b->byteorder >> (8 * (o - BOCHS_MMIO_QEXT - 4)));
		}
		data[i] = v;
	}
}

static void mmio_write(struct bochs *b, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint64_t v = bus_data_get(data, len);

	if (off >= BOCHS_MMIO_DISPI && off < BOCHS_MMIO_DISPI + 2 * DISPI_NUM_REGS &&
	    len == 2 && !(off & 1)) {
		dispi_write(b, (unsigned)(off - BOCHS_MMIO_DISPI) / 2, (uint16_t)v);
	} else if (off == BOCHS_MMIO_QEXT + 4 && len == 4) {
		/* Only little-endian pixels are shown; a big-endian request
		 * is kept so it reads back, as the driver checks. */
		b->byteorder = (uint32_t)v;
	}
}

static void bochs_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct bochs *b = opaque;

	pthread_mutex_lock(&b->lock);
	if (is_write)
		mmio_write(b, off, data, len);
	else
		mmio_read(b, off, data, len);
	pthread_mutex_unlock(&b->lock);
}

/* BAR 0 accesses only trap here when the framebuffer has no memory slot. */
static void bochs_fb(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		     bool is_write)
{
	struct bochs *b = opaque;

	if (off >= BOCHS_FB_SIZE || len > BOCHS_FB_SIZE - off) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write)
		memcpy(b->fb + off, data, len);
	else
		memcpy(data, b->fb + off, len);
}

static void bochs_bar_moved(struct pci_device *pci, int bar, uint64_t old_addr,
			    bool was_mapped)
{
	struct bochs *b = pci->opaque;
	struct pci_bar *fb = &pci->bars[0];
	int r;

	(void)old_addr;
	(void)was_mapped;
	if (bar != 0)
		return;
	pthread_mutex_lock(&b->lock);
	if (b->slot >= 0)
		vm_unmap_ram(b->vm, b->slot);
	b->slot = -1;
	b->slot_logged = false;
	if (fb->mapped && b->vm->vm_fd >= 0) {
		r = vm_map_ram_logged(b->vm, fb->addr, BOCHS_FB_SIZE, b->fb, &b->slot);
		b->slot_logged = r == 0;
		if (r < 0)
			r = vm_map_ram(b->vm, fb->addr, BOCHS_FB_SIZE, b->fb, false, &b->slot);
		if (r < 0) {
			b->slot = -1;
			log_warn("bochs-display: cannot map the framebuffer into the guest (%s); "
				 "pixel writes will trap and be slow", strerror(-r));
		}
	}
	pthread_mutex_unlock(&b->lock);
}

int bochs_display_create(struct vm *vm)
{
	struct bochs *b = calloc(1, sizeof(*b));
	struct display_source src = { .refresh = bochs_refresh };
	int r;

	if (!b || !(b->blank = calloc(BLANK_W * BLANK_H, 4)))
		goto nomem;
	b->fb = mmap(NULL, BOCHS_FB_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->fb == MAP_FAILED) {
		b->fb = NULL;
		goto nomem;
	}
	b->vm = vm;
	b->slot = -1;
	b->regs[DISPI_INDEX_ID] = DISPI_ID5;
	b->regs[DISPI_INDEX_BPP] = 8;
	b->byteorder = 0x1e1e1e1e;   /* little-endian */
	pthread_mutex_init(&b->lock, NULL);
	gpu_edid_build(b->edid, GPU_DEFAULT_WIDTH, GPU_DEFAULT_HEIGHT);

	/* Revision 2 tells bochs-drm the QEMU extended registers exist. */
	pci_device_init(&b->pci, "bochs-display", BOCHS_VENDOR, BOCHS_DEVICE, 0x038000,
			2, 0x1af4, 0x1100);
	b->pci.opaque = b;
	b->pci.bar_moved = bochs_bar_moved;
	r = pci_device_set_bar(&b->pci, 0, PCI_BAR_MEM32, BOCHS_FB_SIZE, true, bochs_fb, b);
	if (!r)
		r = pci_device_set_bar(&b->pci, 2, PCI_BAR_MEM32, BOCHS_MMIO_SIZE, false,
				       bochs_mmio, b);
	if (!r)
		r = pci_host_add(vm->pci, &b->pci, -1);
	if (r < 0) {
		log_error("bochs-display: cannot add the device to the PCI bus: %s",
			  strerror(-r));
		return -1;   /* the bus may hold on to it: not freed */
	}
	pthread_mutex_lock(&b->lock);
	b->cur_blank = false;   /* force the first surface out */
	sync_surface(b);
	pthread_mutex_unlock(&b->lock);
	src.opaque = b;
	display_set_source(&vm->display, &src);
	return 0;
nomem:
	log_error("bochs-display: out of memory");
	if (b) {
		free(b->blank);
		free(b);
	}
	return -1;
}

void bochs_display_destroy(struct vm *vm)
{
	for (unsigned i = 0; vm->pci && i < 256; i++) {
		struct pci_device *pci = vm->pci->devs[i];
		if (!pci || pci->bar_moved != bochs_bar_moved)
			continue;
		struct bochs *b = pci->opaque;
		vm->pci->devs[i] = NULL;
		display_set_source(&vm->display, NULL);
		if (b->slot >= 0)
			vm_unmap_ram(vm, b->slot);
		munmap(b->fb, BOCHS_FB_SIZE);
		pthread_mutex_destroy(&b->lock);
		free(b->shadow);
		free(b->blank);
		free(b);
	}
}
