/* bochs-display on a test VM (no KVM, so the framebuffer BAR is trapped
 * MMIO and damage comes from the shadow comparison): registers as
 * bochs-drm uses them, mode set -> surface, pixel writes -> damage. */
#include <glib.h>
#include <string.h>

#include "devices/bochs_display.h"
#include "display.h"
#include "pci/pci.h"
#include "vm.h"
#include "testvm.h"

static struct vm vm;
static struct pci_device *pdev;
static uint64_t fb, regs;

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

static void setup(void)
{
	struct display_listener l = { on_surface, on_damage, NULL };

	testvm_init(&vm, 16 << 20);
	display_init(&vm.display);
	display_set_listener(&vm.display, &l);
	n_surface = n_damage = 0;
	g_assert_cmpint(bochs_display_create(&vm), ==, 0);
	pdev = NULL;
	for (unsigned i = 0; i < 256; i++)
		if (vm.pci->devs[i] && pci_cfg_get16(vm.pci->devs[i], PCI_VENDOR_ID) == 0x1234)
			pdev = vm.pci->devs[i];
	g_assert_nonnull(pdev);
	g_assert_cmphex(pci_cfg_get16(pdev, PCI_DEVICE_ID), ==, 0x1111);
	g_assert_cmphex(pci_cfg_read(pdev, 0x08, 4) >> 8, ==, 0x038000);
	g_assert_cmpuint(pci_cfg_read(pdev, 0x08, 1), ==, 2);        /* revision */
	g_assert_true(pdev->bars[0].mapped && pdev->bars[2].mapped);
	g_assert_cmphex(pci_cfg_read(pdev, PCI_BAR0, 4) & 0xf, ==, 0x8);   /* prefetchable */
	g_assert_cmpuint(pdev->bars[0].size, ==, 16 << 20);
	fb = pdev->bars[0].addr;
	regs = pdev->bars[2].addr;
}

static uint16_t dispi_rd(unsigned idx)
{
	return (uint16_t)testvm_mmio_read(&vm, regs + 0x500 + 2 * idx, 2);
}

static void dispi_wr(unsigned idx, uint16_t v)
{
	testvm_mmio_write(&vm, regs + 0x500 + 2 * idx, 2, v);
}

/* What bochs-drm's bochs_hw_setmode writes. */
static void set_mode(uint16_t w, uint16_t h, uint16_t vh)
{
	dispi_wr(DISPI_INDEX_ENABLE, 0);
	dispi_wr(DISPI_INDEX_BPP, 32);
	dispi_wr(DISPI_INDEX_XRES, w);
	dispi_wr(DISPI_INDEX_YRES, h);
	dispi_wr(DISPI_INDEX_BANK, 0);
	dispi_wr(DISPI_INDEX_VIRT_WIDTH, w);
	dispi_wr(DISPI_INDEX_VIRT_HEIGHT, vh);
	dispi_wr(DISPI_INDEX_X_OFFSET, 0);
	dispi_wr(DISPI_INDEX_Y_OFFSET, 0);
	dispi_wr(DISPI_INDEX_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
}

static void test_registers(void)
{
	setup();
	g_assert_cmphex(dispi_rd(DISPI_INDEX_ID), ==, 0xb0c5);
	g_assert_cmpuint(dispi_rd(DISPI_INDEX_VIDEO_MEMORY_64K), ==, 256);
	g_assert_cmpuint(testvm_mmio_read(&vm, regs + 0x600, 4), ==, 8);   /* qext size */
	g_assert_cmphex(testvm_mmio_read(&vm, regs + 0x604, 4), ==, 0x1e1e1e1e);
	dispi_wr(DISPI_INDEX_ENABLE, DISPI_GETCAPS);
	g_assert_cmpuint(dispi_rd(DISPI_INDEX_XRES), ==, DISPI_MAX_XRES);
	g_assert_cmpuint(dispi_rd(DISPI_INDEX_BPP), ==, 32);
	dispi_wr(DISPI_INDEX_ENABLE, 0);
	dispi_wr(DISPI_INDEX_XRES, 1024);
	g_assert_cmpuint(dispi_rd(DISPI_INDEX_XRES), ==, 1024);
	dispi_wr(DISPI_INDEX_XRES, 20000);   /* beyond the maximum: ignored */
	g_assert_cmpuint(dispi_rd(DISPI_INDEX_XRES), ==, 1024);
	dispi_wr(DISPI_INDEX_ID, 0x1234);
	g_assert_cmphex(dispi_rd(DISPI_INDEX_ID), ==, 0xb0c5);
	/* the EDID blob bochs-drm reads byte by byte */
	uint8_t e[128];
	unsigned sum = 0;
	for (int i = 0; i < 128; i++) {
		e[i] = (uint8_t)testvm_mmio_read(&vm, regs + (uint64_t)i, 1);
		sum += e[i];
	}
	g_assert_cmphex(e[0], ==, 0);
	g_assert_cmphex(e[1], ==, 0xff);
	g_assert_cmphex(e[7], ==, 0);
	g_assert_cmpuint(sum % 256, ==, 0);
	g_assert_cmpuint(testvm_mmio_read(&vm, regs + 0x200, 4), ==, 0);
	/* odd-sized accesses are harmless */
	testvm_mmio_write(&vm, regs + 0x501, 1, 0xff);
	testvm_mmio_write(&vm, fb + (16 << 20) - 2, 4, 0);
	bochs_display_destroy(&vm);
	testvm_destroy(&vm);
}

static void put_pixel(uint32_t stride, uint32_t x, uint32_t y, uint32_t v)
{
	testvm_mmio_write(&vm, fb + (uint64_t)y * stride + x * 4, 4, v);
}

static void test_mode_damage(void)
{
	setup();
	g_assert_cmpuint(n_surface, ==, 1);   /* blank until a mode is set */
	g_assert_cmpuint(surf.width, ==, 640);

	set_mode(800, 600, 1200);
	g_assert_cmpuint(n_surface, ==, 2);
	g_assert_cmpuint(surf.width, ==, 800);
	g_assert_cmpuint(surf.height, ==, 600);
	g_assert_cmpuint(surf.stride, ==, 3200);
	const uint8_t *base = surf.pixels;

	display_refresh(&vm.display);
	g_assert_cmpuint(n_damage, ==, 0);   /* nothing drawn yet */

	put_pixel(3200, 100, 70, 0x00ff8040);
	g_assert_cmphex(((const uint32_t *)surf.pixels)[70 * 800 + 100], ==, 0x00ff8040);
	display_refresh(&vm.display);
	g_assert_cmpuint(n_damage, ==, 1);
	g_assert_cmpuint(dmg[0], ==, 64);
	g_assert_cmpuint(dmg[1], ==, 64);
	g_assert_cmpuint(dmg[2], ==, 64);
	g_assert_cmpuint(dmg[3], ==, 64);
	display_refresh(&vm.display);
	g_assert_cmpuint(n_damage, ==, 1);   /* reported once */

	/* The bottom-right tile is cut to the screen; neighbours merge. */
	put_pixel(3200, 799, 599, 1);
	put_pixel(3200, 760, 590, 1);
	display_refresh(&vm.display);
	g_assert_cmpuint(n_damage, ==, 2);
	g_assert_cmpuint(dmg[0], ==, 704);
	g_assert_cmpuint(dmg[1], ==, 576);
	g_assert_cmpuint(dmg[2], ==, 96);
	g_assert_cmpuint(dmg[3], ==, 24);

	/* A page flip (bochs_hw_setbase) shows up at the next refresh. */
	dispi_wr(DISPI_INDEX_Y_OFFSET, 600);
	display_refresh(&vm.display);
	g_assert_cmpuint(n_surface, ==, 3);
	g_assert_true(surf.pixels == base + 600 * 3200);

	/* A mode that does not fit the framebuffer, then disabled: blank. */
	set_mode(4000, 4000, 4000);
	g_assert_cmpuint(surf.width, ==, 640);
	set_mode(1024, 768, 768);
	g_assert_cmpuint(surf.width, ==, 1024);
	g_assert_cmphex(((const uint32_t *)surf.pixels)[70 * 1024 + 100], ==, 0);   /* cleared */
	dispi_wr(DISPI_INDEX_ENABLE, 0);
	display_refresh(&vm.display);
	g_assert_cmpuint(surf.width, ==, 640);
	bochs_display_destroy(&vm);
	testvm_destroy(&vm);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/bochs-display/registers", test_registers);
	g_test_add_func("/bochs-display/mode-damage", test_mode_damage);
	return g_test_run();
}
