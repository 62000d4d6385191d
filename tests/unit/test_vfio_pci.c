/* The VFIO-PCI device model's virtualisation, without a real device: the
 * "device" is a file laid out as VFIO lays out a device fd (config space,
 * BARs and ROM at region offsets), which is all the model reads and writes
 * through (pread/pwrite).  What is checked is what the guest sees through
 * ECAM and MMIO and what reaches the device: BAR sizing and moves, the
 * config write filter, MSI and MSI-X virtualisation, the ROM BAR, and a
 * device that stops answering.  Interrupt delivery needs KVM and VFIO
 * ioctls; it is covered by the hwsim scenario `vfio`. */
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <stdarg.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testvm.h"
#include "vfio_pci.h"

#define CFG_OFF   0x0
#define BAR0_OFF  0x10000
#define BAR0_SIZE 0x4000
#define BAR1_OFF  0x20000
#define BAR2_OFF  0x30000
#define BAR2_SIZE 0x10000
#define BAR4_OFF  0x50000
#define ROM_OFF   0x60000
#define ROM_SIZE  0x800
#define FILE_SIZE 0x70000
#define MSI_CAP   0x40
#define MSIX_CAP  0x60
#define VNDR_CAP  0x70

struct fx {
	struct vm vm;
	char *path;
	int fd;               /* our own view of the "device" */
	struct vfio_pci *vp;
	struct pci_device *pd;
	uint64_t ecam;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }

static void default_cfg(uint8_t *c)
{
	memset(c, 0, 256);
	put16(c + 0x00, 0x1234);
	put16(c + 0x02, 0x5678);
	put16(c + 0x06, 0x0010);              /* capability list */
	c[0x08] = 1;
	put32(c + 0x08, 0xff000001);
	c[0x0e] = 0x80;                       /* multi-function */
	put32(c + 0x10, 0x0);                 /* BAR0 mem32 */
	put32(c + 0x14, 0x1);                 /* BAR1 io */
	put32(c + 0x18, 0xc);                 /* BAR2 mem64 prefetchable */
	put32(c + 0x20, 0x0);                 /* BAR4 mem32, 256 bytes */
	put16(c + 0x2c, 0x1af4);
	put16(c + 0x2e, 0x0042);
	c[0x34] = MSI_CAP;
	c[0x3d] = 1;                          /* INTA */
	/* MSI: 64-bit, per-vector masking, 4 vectors */
	c[MSI_CAP] = 0x05;
	c[MSI_CAP + 1] = MSIX_CAP;
	put16(c + MSI_CAP + 2, 0x0180 | (2 << 1));
	/* MSI-X: 4 vectors, table BAR0+0x2000, PBA BAR0+0x3000 */
	c[MSIX_CAP] = 0x11;
	c[MSIX_CAP + 1] = VNDR_CAP;
	put16(c + MSIX_CAP + 2, 3);
	put32(c + MSIX_CAP + 4, 0x2000);
	put32(c + MSIX_CAP + 8, 0x3000);
	/* vendor-specific: passed through */
	c[VNDR_CAP] = 0x09;
	c[VNDR_CAP + 1] = 0;
	c[VNDR_CAP + 2] = 8;
}

static void region(struct vfio_device *d, int idx, uint64_t off, uint64_t size, bool mmap)
{
	d->regions[idx] = (struct vfio_region){
		.offset = off, .size = size,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			 (mmap ? VFIO_REGION_INFO_FLAG_MMAP : 0),
	};
	if (mmap) {
		d->regions[idx].n_areas = 1;
		d->regions[idx].areas[0].offset = 0;
		d->regions[idx].areas[0].size = size;
	}
}

static void file_write(struct fx *f, uint64_t off, const void *b, size_t n)
{
	g_assert_cmpint(pwrite(f->fd, b, n, (off_t)off), ==, (ssize_t)n);
}

static uint32_t file_read(struct fx *f, uint64_t off, size_t n)
{
	uint32_t v = 0;
	g_assert_cmpint(pread(f->fd, &v, n, (off_t)off), ==, (ssize_t)n);
	return v;
}

/* Build the fixture; `cfg` may patch the config image first.  Returns
 * false (and err) if the model refused the device. */
static bool fx_setup_full(struct fx *f, void (*patch)(uint8_t *c), const char *rom_path,
			  char *err, size_t errlen)
{
	uint8_t c[256];
	struct vfio_device d;

	memset(f, 0, sizeof(*f));
	testvm_init(&f->vm, 64 << 20);
	GError *gerr = NULL;
	int tfd = g_file_open_tmp("vfio-dev-XXXXXX", &f->path, &gerr);
	g_assert_no_error(gerr);
	g_assert_cmpint(ftruncate(tfd, FILE_SIZE), ==, 0);
	f->fd = open(f->path, O_RDWR);
	g_assert_cmpint(f->fd, >=, 0);
	default_cfg(c);
	if (patch)
		patch(c);
	file_write(f, CFG_OFF, c, sizeof(c));
	uint8_t rom[ROM_SIZE];
	memset(rom, 0x11, sizeof(rom));
	rom[0] = 0x55;
	rom[1] = 0xaa;
	file_write(f, ROM_OFF, rom, sizeof(rom));
	uint32_t marker = 0xfeedbeef;
	file_write(f, BAR0_OFF + 0x10, &marker, 4);

	memset(&d, 0, sizeof(d));
	snprintf(d.bdf, sizeof(d.bdf), "0000:00:03.0");
	d.fd = tfd;
	region(&d, VFIO_PCI_CONFIG_REGION_INDEX, CFG_OFF, 256, false);
	region(&d, VFIO_PCI_BAR0_REGION_INDEX, BAR0_OFF, BAR0_SIZE, true);
	region(&d, VFIO_PCI_BAR1_REGION_INDEX, BAR1_OFF, 0x20, false);
	region(&d, VFIO_PCI_BAR2_REGION_INDEX, BAR2_OFF, BAR2_SIZE, true);
	region(&d, VFIO_PCI_BAR4_REGION_INDEX, BAR4_OFF, 0x100, false);
	region(&d, VFIO_PCI_ROM_REGION_INDEX, ROM_OFF, ROM_SIZE, false);
	d.irq_count[VFIO_PCI_INTX_IRQ_INDEX] = 1;
	d.irq_count[VFIO_PCI_MSI_IRQ_INDEX] = 1;
	d.irq_count[VFIO_PCI_MSIX_IRQ_INDEX] = 4;
	f->vp = vfio_pci_attach(&f->vm, &d, rom_path, err, errlen);
	if (!f->vp)
		return false;
	f->pd = vfio_pci_device(f->vp);
	f->ecam = PCI_ECAM_BASE + ((uint64_t)f->pd->devfn << 12);
	return true;
}

static void fx_setup(struct fx *f)
{
	char err[256] = "";
	g_assert_true(fx_setup_full(f, NULL, NULL, err, sizeof(err)));
}

static void fx_teardown(struct fx *f)
{
	vfio_pci_detach(f->vp);
	close(f->fd);
	g_unlink(f->path);
	g_free(f->path);
	testvm_destroy(&f->vm);
}

static uint32_t cfg_rd(struct fx *f, uint32_t off, uint32_t len)
{
	return testvm_mmio_read(&f->vm, f->ecam + off, len);
}

static void cfg_wr(struct fx *f, uint32_t off, uint32_t len, uint32_t v)
{
	testvm_mmio_write(&f->vm, f->ecam + off, len, v);
}

static void test_header(void)
{
	struct fx f;
	fx_setup(&f);
	g_assert_cmphex(cfg_rd(&f, 0, 4), ==, 0x56781234);
	g_assert_cmphex(cfg_rd(&f, 0x2c, 4), ==, 0x00421af4);
	/* Placed alone in its slot: never multi-function. */
	g_assert_cmphex(cfg_rd(&f, 0x0e, 1), ==, 0x00);
	/* Identity is read-only and never reaches the device. */
	cfg_wr(&f, 0, 4, 0xdeadbeef);
	cfg_wr(&f, 0x08, 4, 0);
	g_assert_cmphex(cfg_rd(&f, 0, 4), ==, 0x56781234);
	g_assert_cmphex(cfg_rd(&f, 0x08, 4), ==, 0xff000001);
	g_assert_cmphex(file_read(&f, 0, 4), ==, 0x56781234);
	/* BIST is not started on the guest's say-so. */
	cfg_wr(&f, 0x0f, 1, 0x40);
	g_assert_cmphex(file_read(&f, 0x0f, 1), ==, 0);
	g_assert_cmphex(cfg_rd(&f, 0x0f, 1), ==, 0);
	/* Interrupt pin as the device has it; the line names the GSI of
	 * the DSDT's _PRT route for this slot. */
	g_assert_cmpuint(cfg_rd(&f, PCI_INTERRUPT_PIN, 1), ==, 1);
	g_assert_cmpuint(cfg_rd(&f, PCI_INTERRUPT_LINE, 1), ==,
			 pci_intx_gsi(f.pd->devfn >> 3, 1));
	cfg_wr(&f, PCI_INTERRUPT_LINE, 1, 0x0b);
	g_assert_cmpuint(cfg_rd(&f, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
	g_assert_cmphex(file_read(&f, PCI_INTERRUPT_LINE, 1), ==, 0);
	fx_teardown(&f);
}

static void test_bar_sizing(void)
{
	struct fx f;
	fx_setup(&f);
	/* BAR0: 16 KiB memory */
	cfg_wr(&f, 0x10, 4, 0xffffffff);
	g_assert_cmphex(cfg_rd(&f, 0x10, 4), ==, 0xffffc000);
	/* BAR1: 32 bytes of I/O */
	cfg_wr(&f, 0x14, 4, 0xffffffff);
	g_assert_cmphex(cfg_rd(&f, 0x14, 4), ==, 0xffffffe1);
	/* BAR2/3: 64 KiB, 64-bit prefetchable */
	cfg_wr(&f, 0x18, 4, 0xffffffff);
	cfg_wr(&f, 0x1c, 4, 0xffffffff);
	g_assert_cmphex(cfg_rd(&f, 0x18, 4), ==, 0xffff000c);
	g_assert_cmphex(cfg_rd(&f, 0x1c, 4), ==, 0xffffffff);
	/* BAR4: a 256-byte BAR is shown as its own 4 KiB page */
	cfg_wr(&f, 0x20, 4, 0xffffffff);
	g_assert_cmphex(cfg_rd(&f, 0x20, 4), ==, 0xfffff000);
	/* BAR5: absent */
	cfg_wr(&f, 0x24, 4, 0xffffffff);
	g_assert_cmphex(cfg_rd(&f, 0x24, 4), ==, 0);
	/* None of it reaches the device's own BAR registers. */
	g_assert_cmphex(file_read(&f, 0x10, 4), ==, 0);
	g_assert_cmphex(file_read(&f, 0x18, 4), ==, 0xc);
	g_assert_cmphex(file_read(&f, 0x1c, 4), ==, 0);
	fx_teardown(&f);
}

static void test_bar_access_and_move(void)
{
	struct fx f;
	fx_setup(&f);
	uint64_t a = f.pd->bars[0].addr;
	g_assert_true(f.pd->bars[0].mapped);
	/* Trapped access goes to the region at the right offset. */
	g_assert_cmphex(testvm_mmio_read(&f.vm, a + 0x10, 4), ==, 0xfeedbeef);
	testvm_mmio_write(&f.vm, a + 0x20, 4, 0x01020304);
	g_assert_cmphex(file_read(&f, BAR0_OFF + 0x20, 4), ==, 0x01020304);
	/* The guest moves the BAR: the old address stops decoding. */
	uint64_t b = PCI_MMIO32_BASE + 0x1000000;
	cfg_wr(&f, 0x10, 4, (uint32_t)b);
	g_assert_cmphex(testvm_mmio_read(&f.vm, b + 0x10, 4), ==, 0xfeedbeef);
	g_assert_cmphex(testvm_mmio_read(&f.vm, a + 0x10, 4), ==, 0xffffffff);
	/* Memory decoding off: nothing decodes. */
	uint16_t cmd = (uint16_t)cfg_rd(&f, PCI_COMMAND, 2);
	cfg_wr(&f, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
	g_assert_cmphex(testvm_mmio_read(&f.vm, b + 0x10, 4), ==, 0xffffffff);
	cfg_wr(&f, PCI_COMMAND, 2, cmd);
	g_assert_cmphex(testvm_mmio_read(&f.vm, b + 0x10, 4), ==, 0xfeedbeef);
	/* A BAR over guest RAM is refused (it would hide memory). */
	cfg_wr(&f, 0x10, 4, 0x100000);
	g_assert_false(f.pd->bars[0].mapped);
	/* The padding of a sub-page BAR reads as nothing, the rest is the
	 * device. */
	uint64_t c = f.pd->bars[4].addr;
	g_assert_true(f.pd->bars[4].mapped);
	uint32_t v = 0xa5a5a5a5;
	file_write(&f, BAR4_OFF + 0xfc, &v, 4);
	g_assert_cmphex(testvm_mmio_read(&f.vm, c + 0xfc, 4), ==, 0xa5a5a5a5);
	g_assert_cmphex(testvm_mmio_read(&f.vm, c + 0x100, 4), ==, 0xffffffff);
	testvm_mmio_write(&f.vm, c + 0x800, 4, 0x12345678);
	g_assert_cmphex(file_read(&f, BAR4_OFF + 0x100, 4), ==, 0);
	/* I/O BAR through the port bus. */
	uint8_t d[4];
	uint64_t io = f.pd->bars[1].addr;
	g_assert_true(f.pd->bars[1].mapped);
	bus_data_set(d, 2, 0xbeef);
	g_assert_true(bus_access(&f.vm.io_bus, io + 6, d, 2, true));
	g_assert_cmphex(file_read(&f, BAR1_OFF + 6, 2), ==, 0xbeef);
	fx_teardown(&f);
}

static void test_command_status(void)
{
	struct fx f;
	fx_setup(&f);
	/* Decoding was turned on at plug time, and the device was told. */
	g_assert_cmphex(file_read(&f, PCI_COMMAND, 2) & 3, ==, 3);
	cfg_wr(&f, PCI_COMMAND, 2, 0x0407 | 0x0008);
	/* Bits the VMM does not implement read as 0; the device sees the
	 * guest's write (vfio-pci filters it further). */
	g_assert_cmphex(cfg_rd(&f, PCI_COMMAND, 2), ==, 0x0407);
	g_assert_cmphex(file_read(&f, PCI_COMMAND, 2), ==, 0x040f);
	/* Status is the device's, live. */
	uint16_t st = 0x4018;
	file_write(&f, PCI_STATUS, &st, 2);
	g_assert_cmphex(cfg_rd(&f, PCI_STATUS, 2), ==, 0x4018);
	g_assert_cmphex(cfg_rd(&f, PCI_COMMAND, 4), ==, 0x40180407);
	cfg_wr(&f, PCI_STATUS, 2, 0x4000);   /* RW1C: the device decides */
	g_assert_cmphex(file_read(&f, PCI_STATUS, 2), ==, 0x4000);
	fx_teardown(&f);
}

static void test_capabilities_passthrough(void)
{
	struct fx f;
	fx_setup(&f);
	/* The chain is the device's. */
	g_assert_cmphex(cfg_rd(&f, PCI_CAPABILITY_LIST, 1), ==, MSI_CAP);
	g_assert_cmphex(cfg_rd(&f, MSI_CAP, 2), ==, 0x6005);
	g_assert_cmphex(cfg_rd(&f, MSIX_CAP, 2), ==, 0x7011);
	/* Other capabilities go to and come from the device. */
	cfg_wr(&f, VNDR_CAP + 4, 4, 0xcafef00d);
	g_assert_cmphex(file_read(&f, VNDR_CAP + 4, 4), ==, 0xcafef00d);
	uint32_t v = 0x11223344;
	file_write(&f, VNDR_CAP + 4, &v, 4);
	g_assert_cmphex(cfg_rd(&f, VNDR_CAP + 4, 4), ==, 0x11223344);
	/* No extended space on a 256-byte device: zeros, writes dropped. */
	cfg_wr(&f, 0x100, 4, 0xffffffff);
	g_assert_cmphex(cfg_rd(&f, 0x100, 4), ==, 0);
	fx_teardown(&f);
}

static void test_msi(void)
{
	struct fx f;
	fx_setup(&f);
	uint32_t c = MSI_CAP;
	/* 64-bit, per-vector mask, 4 vectors capable, disabled */
	g_assert_cmphex(cfg_rd(&f, c + 2, 2), ==, 0x0184);
	cfg_wr(&f, c + 4, 4, 0xfee01003);
	cfg_wr(&f, c + 8, 4, 0x1);
	cfg_wr(&f, c + 12, 2, 0x4041);
	cfg_wr(&f, c + 16, 4, 0xffffffff);
	cfg_wr(&f, c + 2, 2, 0x0071);        /* enable, MME 7 */
	g_assert_cmphex(cfg_rd(&f, c + 4, 4), ==, 0xfee01000);
	g_assert_cmphex(cfg_rd(&f, c + 8, 4), ==, 0x1);
	g_assert_cmphex(cfg_rd(&f, c + 12, 2), ==, 0x4041);
	g_assert_cmphex(cfg_rd(&f, c + 16, 4), ==, 0xf);   /* 4 vectors only */
	/* Capability bits stay the device's, enable and MME are the guest's. */
	g_assert_cmphex(cfg_rd(&f, c + 2, 2), ==, 0x01f5);
	cfg_wr(&f, c + 2, 2, 0);
	g_assert_cmphex(cfg_rd(&f, c + 2, 2), ==, 0x0184);
	/* The device's own MSI registers are never written by the guest:
	 * the host kernel programs them. */
	g_assert_cmphex(file_read(&f, c + 2, 2), ==, 0x0184);
	g_assert_cmphex(file_read(&f, c + 4, 4), ==, 0);
	g_assert_cmphex(file_read(&f, c + 12, 2), ==, 0);
	fx_teardown(&f);
}

static void test_msix(void)
{
	struct fx f;
	fx_setup(&f);
	uint32_t c = MSIX_CAP;
	uint64_t bar = f.pd->bars[0].addr;
	g_assert_cmphex(cfg_rd(&f, c + 2, 2), ==, 0x0003);
	g_assert_cmphex(cfg_rd(&f, c + 4, 4), ==, 0x2000);
	/* Table location is read-only. */
	cfg_wr(&f, c + 4, 4, 0x1000);
	g_assert_cmphex(cfg_rd(&f, c + 4, 4), ==, 0x2000);
	/* Every vector starts masked. */
	for (int v = 0; v < 4; v++)
		g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x2000 + 16 * v + 12, 4), ==, 1);
	/* Program vector 1. */
	testvm_mmio_write(&f.vm, bar + 0x2010, 4, 0xfee00000);
	testvm_mmio_write(&f.vm, bar + 0x2014, 4, 0);
	testvm_mmio_write(&f.vm, bar + 0x2018, 4, 0x4022);
	testvm_mmio_write(&f.vm, bar + 0x201c, 4, 0xfffffffe);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x2010, 4), ==, 0xfee00000);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x2018, 4), ==, 0x4022);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x201c, 4), ==, 0);
	testvm_mmio_write(&f.vm, bar + 0x201c, 4, 0xffffffff);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x201c, 4), ==, 1);
	/* 8-byte access, and hostile shapes: unaligned, 2-byte, past the end. */
	testvm_mmio_write(&f.vm, bar + 0x2020, 8, 0x00000001fee0100cULL);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x2024, 4), ==, 1);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x2020, 4), ==, 0xfee0100c);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x2012, 2), ==, 0xffff);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x2011, 4), ==, 0xffffffff);
	/* Past the table: the device's own registers again. */
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x2040, 4), ==, 0);
	/* The emulated table never reaches the device's. */
	g_assert_cmphex(file_read(&f, BAR0_OFF + 0x2010, 4), ==, 0);
	g_assert_cmphex(file_read(&f, BAR0_OFF + 0x2018, 4), ==, 0);
	/* PBA: read-only, nothing pending. */
	testvm_mmio_write(&f.vm, bar + 0x3000, 8, ~0ULL);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar + 0x3000, 4), ==, 0);
	g_assert_cmphex(file_read(&f, BAR0_OFF + 0x3000, 4), ==, 0);
	/* Enable and function mask are the guest's. */
	cfg_wr(&f, c + 2, 2, 0xffff);
	g_assert_cmphex(cfg_rd(&f, c + 2, 2), ==, 0xc003);
	g_assert_cmphex(file_read(&f, c + 2, 2), ==, 0x0003);
	cfg_wr(&f, c + 2, 2, 0);
	g_assert_cmphex(cfg_rd(&f, c + 2, 2), ==, 0x0003);
	fx_teardown(&f);
}

static void msix_outside(uint8_t *c)
{
	put32(c + MSIX_CAP + 4, 0x8000);      /* past the 16 KiB BAR0 */
}

static void test_msix_bad_table(void)
{
	struct fx f;
	char err[256] = "";
	g_assert_true(fx_setup_full(&f, msix_outside, NULL, err, sizeof(err)));
	/* The guest cannot turn on an MSI-X whose table is not there. */
	cfg_wr(&f, MSIX_CAP + 2, 2, 0xc000);
	g_assert_cmphex(cfg_rd(&f, MSIX_CAP + 2, 2) & 0xc000, ==, 0);
	fx_teardown(&f);
}

static void test_rom(void)
{
	struct fx f;
	fx_setup(&f);
	cfg_wr(&f, PCI_ROM_ADDRESS, 4, 0xffffffff);
	g_assert_cmphex(cfg_rd(&f, PCI_ROM_ADDRESS, 4), ==, 0xfffff801);
	uint64_t a = PCI_MMIO32_BASE + 0x8000000;
	cfg_wr(&f, PCI_ROM_ADDRESS, 4, (uint32_t)a | 1);
	g_assert_cmphex(testvm_mmio_read(&f.vm, a, 2), ==, 0xaa55);
	g_assert_cmphex(testvm_mmio_read(&f.vm, a + 0x10, 4), ==, 0x11111111);
	testvm_mmio_write(&f.vm, a, 4, 0);       /* ROM: writes ignored */
	g_assert_cmphex(testvm_mmio_read(&f.vm, a, 2), ==, 0xaa55);
	/* Disabled: gone. */
	cfg_wr(&f, PCI_ROM_ADDRESS, 4, (uint32_t)a);
	g_assert_cmphex(testvm_mmio_read(&f.vm, a, 2), ==, 0xffff);
	/* Over RAM: refused. */
	cfg_wr(&f, PCI_ROM_ADDRESS, 4, 0x100000 | 1);
	g_assert_cmphex(testvm_mmio_read(&f.vm, 0x100000, 2), !=, 0xaa55);
	g_assert_cmphex(file_read(&f, PCI_ROM_ADDRESS, 4), ==, 0);
	fx_teardown(&f);
}

static void test_rom_file(void)
{
	struct fx f;
	char err[256] = "";
	char *rom_path = NULL;
	GError *gerr = NULL;
	int rfd = g_file_open_tmp("vfio-rom-XXXXXX", &rom_path, &gerr);
	g_assert_no_error(gerr);
	uint8_t img[3000];
	memset(img, 0x77, sizeof(img));
	img[0] = 0x55;
	img[1] = 0xaa;
	g_assert_cmpint(write(rfd, img, sizeof(img)), ==, sizeof(img));
	close(rfd);
	g_assert_true(fx_setup_full(&f, NULL, rom_path, err, sizeof(err)));
	/* 3000 bytes: a 4 KiB ROM BAR, the rest reading as 0xff. */
	cfg_wr(&f, PCI_ROM_ADDRESS, 4, 0xffffffff);
	g_assert_cmphex(cfg_rd(&f, PCI_ROM_ADDRESS, 4), ==, 0xfffff001);
	uint64_t a = PCI_MMIO32_BASE + 0x8000000;
	cfg_wr(&f, PCI_ROM_ADDRESS, 4, (uint32_t)a | 1);
	g_assert_cmphex(testvm_mmio_read(&f.vm, a, 4), ==, 0x7777aa55);
	g_assert_cmphex(testvm_mmio_read(&f.vm, a + 2996, 4), ==, 0x77777777);
	g_assert_cmphex(testvm_mmio_read(&f.vm, a + 3000, 4), ==, 0xffffffff);
	fx_teardown(&f);

	/* A missing ROM file is an error that names it. */
	g_unlink(rom_path);
	g_assert_false(fx_setup_full(&f, NULL, rom_path, err, sizeof(err)));
	g_assert_nonnull(strstr(err, rom_path));
	close(f.fd);
	g_unlink(f.path);
	g_free(f.path);
	testvm_destroy(&f.vm);
	g_free(rom_path);
}

static void test_broken_device(void)
{
	struct fx f;
	fx_setup(&f);
	uint64_t bar2 = f.pd->bars[2].addr;
	g_assert_true(f.pd->bars[2].mapped);
	/* The device disappears under the VMM (the region cannot be read). */
	g_assert_cmpint(ftruncate(f.fd, BAR2_OFF), ==, 0);
	g_assert_cmphex(testvm_mmio_read(&f.vm, bar2, 4), ==, 0xffffffff);
	/* Marked broken: reads of the device's registers are all-ones and
	 * nothing is written any more; the VMM's own registers still answer. */
	g_assert_cmphex(cfg_rd(&f, PCI_STATUS, 2), ==, 0xffff);
	cfg_wr(&f, VNDR_CAP + 4, 4, 0x12345678);
	g_assert_cmphex(file_read(&f, VNDR_CAP + 4, 4), ==, 0);
	g_assert_cmphex(cfg_rd(&f, 0, 4), ==, 0x56781234);
	fx_teardown(&f);
}

static void bridge(uint8_t *c)
{
	c[0x0e] = 0x01;
}

static void no_caps(uint8_t *c)
{
	put16(c + 0x06, 0);
	c[0x34] = 0;
}

static void test_refused_and_minimal(void)
{
	struct fx f;
	char err[256] = "";
	g_assert_false(fx_setup_full(&f, bridge, NULL, err, sizeof(err)));
	g_assert_nonnull(strstr(err, "bridge"));
	close(f.fd);
	g_unlink(f.path);
	g_free(f.path);
	testvm_destroy(&f.vm);

	/* Without capabilities nothing is virtualised beyond the header. */
	g_assert_true(fx_setup_full(&f, no_caps, NULL, err, sizeof(err)));
	cfg_wr(&f, MSI_CAP + 4, 4, 0xfee00000);
	g_assert_cmphex(file_read(&f, MSI_CAP + 4, 4), ==, 0xfee00000);
	fx_teardown(&f);
}

/* The domain description: --pci flags and the JSON "pci" list. */
static int parse(struct vm_config *cfg, char *err, size_t errlen, int argc, ...)
{
	char *argv[16] = { "atoll-vmm" };
	va_list ap;
	va_start(ap, argc);
	for (int i = 1; i < argc && i < 16; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	vm_config_init(cfg);
	optind = 0;
	int ret = vm_config_parse_args(cfg, argc, argv, err, errlen);
	if (!ret)
		ret = vm_config_validate(cfg, err, errlen);
	return ret;
}

static void test_config(void)
{
	struct vm_config cfg;
	char err[512];

	g_assert_cmpint(parse(&cfg, err, sizeof(err), 7, "--kernel", "/k",
			      "--pci", "host=0000:01:00.0", "--pci",
			      "host=0000:01:00.1,rom=/tmp/vbios.rom"), ==, 0);
	g_assert_cmpuint(cfg.n_pci, ==, 2);
	g_assert_cmpstr(cfg.pci[0].host, ==, "0000:01:00.0");
	g_assert_null(cfg.pci[0].rom);
	g_assert_cmpstr(cfg.pci[1].rom, ==, "/tmp/vbios.rom");
	vm_config_free(&cfg);

	g_assert_cmpint(parse(&cfg, err, sizeof(err), 5, "--kernel", "/k", "--pci",
			      "host=01:00.0"), ==, -1);
	g_assert_nonnull(strstr(err, "DDDD:BB:DD.F"));
	vm_config_free(&cfg);
	g_assert_cmpint(parse(&cfg, err, sizeof(err), 5, "--kernel", "/k", "--pci",
			      "host=0000:01:20.0"), ==, -1);
	vm_config_free(&cfg);
	g_assert_cmpint(parse(&cfg, err, sizeof(err), 5, "--kernel", "/k", "--pci",
			      "rom=/x"), ==, -1);
	g_assert_nonnull(strstr(err, "host"));
	vm_config_free(&cfg);
	g_assert_cmpint(parse(&cfg, err, sizeof(err), 5, "--kernel", "/k", "--pci",
			      "host=0000:01:00.0,bar=1"), ==, -1);
	g_assert_nonnull(strstr(err, "unknown key"));
	vm_config_free(&cfg);
	g_assert_cmpint(parse(&cfg, err, sizeof(err), 7, "--kernel", "/k", "--pci",
			      "host=0000:01:00.0", "--pci", "host=0000:01:00.0"), ==, -1);
	g_assert_nonnull(strstr(err, "already"));
	vm_config_free(&cfg);

	static const char json[] = "{\"kernel\": \"/k\", \"pci\": [{\"host\": "
		"\"0000:03:00.0\"}, {\"host\": \"0000:03:00.1\", \"rom\": \"/r.rom\"}]}";
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_load_json(&cfg, json, strlen(json), err, sizeof(err)), ==, 0);
	g_assert_cmpuint(cfg.n_pci, ==, 2);
	g_assert_cmpstr(cfg.pci[1].host, ==, "0000:03:00.1");
	g_assert_cmpstr(cfg.pci[1].rom, ==, "/r.rom");
	vm_config_free(&cfg);
	static const char bad[] = "{\"kernel\": \"/k\", \"pci\": [{\"rom\": \"/r\"}]}";
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_load_json(&cfg, bad, strlen(bad), err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "pci[0].host"));
	vm_config_free(&cfg);
}

/* Opening a device that is not there says so and names it. */
static void test_open_missing(void)
{
	struct vfio_device d;
	char err[512];
	g_assert_cmpint(vfio_device_open(&d, "0000:7f:1f.7", err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "0000:7f:1f.7"));
	g_assert_nonnull(strstr(err, "no such PCI device"));
	g_assert_cmpint(vfio_device_open(&d, "garbage", err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "not a PCI address"));
	g_assert_true(vfio_bdf_valid("0000:00:1f.7"));
	g_assert_true(vfio_bdf_valid("ABCD:ef:01.0"));
	g_assert_false(vfio_bdf_valid("0000:00:20.0"));
	g_assert_false(vfio_bdf_valid("0000:00:1f.8"));
	g_assert_false(vfio_bdf_valid("0000:00:1f.0x"));
	g_assert_false(vfio_bdf_valid("00:1f.0"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vfio_pci/header", test_header);
	g_test_add_func("/vfio_pci/bar_sizing", test_bar_sizing);
	g_test_add_func("/vfio_pci/bar_access_and_move", test_bar_access_and_move);
	g_test_add_func("/vfio_pci/command_status", test_command_status);
	g_test_add_func("/vfio_pci/capabilities_passthrough", test_capabilities_passthrough);
	g_test_add_func("/vfio_pci/msi", test_msi);
	g_test_add_func("/vfio_pci/msix", test_msix);
	g_test_add_func("/vfio_pci/msix_bad_table", test_msix_bad_table);
	g_test_add_func("/vfio_pci/rom", test_rom);
	g_test_add_func("/vfio_pci/rom_file", test_rom_file);
	g_test_add_func("/vfio_pci/broken_device", test_broken_device);
	g_test_add_func("/vfio_pci/refused_and_minimal", test_refused_and_minimal);
	g_test_add_func("/vfio_pci/config", test_config);
	g_test_add_func("/vfio_pci/open_missing", test_open_missing);
	return g_test_run();
}
