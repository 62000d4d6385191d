/* Linux direct boot: bzImage parsing, zero page, e820, command line, initrd
 * placement, page tables and GDT, with a synthetic bzImage and, when one is
 * available, a real kernel (ATOLL_TEST_KERNEL=/path/to/vmlinuz). */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/linux.h"
#include "memory.h"

#define MIB (1024ULL * 1024)
#define GIB (1024 * MIB)
#define PM_SIZE (64 * 1024)

static char err[512];

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

/* A minimal 2.15 bzImage: 4 setup sectors, then PM_SIZE bytes of "kernel"
 * whose bytes are a recognisable pattern. */
struct image {
	uint8_t *buf;
	size_t len;
};

static struct image make_image(void)
{
	struct image im;

	im.len = 5 * 512 + PM_SIZE;
	im.buf = g_malloc0(im.len);
	im.buf[0x1f1] = 4;                       /* setup_sects */
	wr16(im.buf + 0x1fe, 0xaa55);
	im.buf[0x200] = 0xeb;
	im.buf[0x201] = 0x6a;                    /* header ends at 0x26c */
	memcpy(im.buf + 0x202, "HdrS", 4);
	wr16(im.buf + 0x206, 0x020f);
	wr16(im.buf + 0x1fa, 0xffff);            /* vid_mode, must be copied */
	im.buf[0x211] = 0x01;                    /* LOADED_HIGH */
	wr32(im.buf + 0x22c, 0x7fffffff);        /* initrd_addr_max */
	wr32(im.buf + 0x230, 0x200000);          /* kernel_alignment */
	im.buf[0x234] = 1;                       /* relocatable */
	wr16(im.buf + 0x236, 0x3);               /* XLF_KERNEL_64 | above 4G */
	wr32(im.buf + 0x238, 2047);              /* cmdline_size */
	wr64(im.buf + 0x250, 0xdeadbeef);        /* setup_data garbage */
	wr64(im.buf + 0x258, 0x1000000);         /* pref_address */
	wr32(im.buf + 0x260, 0x800000);          /* init_size: 8 MiB */
	for (size_t i = 5 * 512; i < im.len; i++)
		im.buf[i] = (uint8_t)(i * 7 + 3);
	return im;
}

struct ram {
	struct guest_memory gm;
	void *buf;
};

static void ram_new(struct ram *r, uint64_t size)
{
	r->buf = g_malloc0(size);
	guest_memory_wrap(&r->gm, r->buf, size);
}

static void ram_free(struct ram *r)
{
	g_free(r->buf);
}

static uint8_t *gp(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_ptr(gm, gpa, len);
	g_assert_nonnull(p);
	return p;
}

static void check_e820(const uint8_t *zp, const uint64_t (*want)[3], unsigned n)
{
	g_assert_cmpuint(zp[0x1e8], ==, n);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = zp + 0x2d0 + i * 20;
		g_assert_cmphex(rd64(e), ==, want[i][0]);
		g_assert_cmphex(rd64(e + 8), ==, want[i][1]);
		g_assert_cmpuint(rd32(e + 16), ==, want[i][2]);
	}
}

static void check_page_tables(const struct guest_memory *gm)
{
	const uint8_t *pml4 = gp(gm, BOOT_PML4_ADDR, 4096);
	const uint8_t *pdpt = gp(gm, BOOT_PML4_ADDR + 0x1000, 4096);

	g_assert_cmphex(rd64(pml4), ==, (BOOT_PML4_ADDR + 0x1000) | 3);
	for (int i = 1; i < 512; i++)
		g_assert_cmphex(rd64(pml4 + i * 8), ==, 0);
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t pd_addr = BOOT_PML4_ADDR + 0x2000 + i * 0x1000;
		g_assert_cmphex(rd64(pdpt + i * 8), ==, pd_addr | 3);
		const uint8_t *pd = gp(gm, pd_addr, 4096);
		for (uint64_t j = 0; j < 512; j++)
			g_assert_cmphex(rd64(pd + j * 8), ==, ((i * 512 + j) << 21) | 0x83);
	}
	g_assert_cmphex(rd64(pdpt + 4 * 8), ==, 0);
}

static void check_gdt(const struct guest_memory *gm, const struct linux_boot *lb)
{
	const uint8_t *gdt = gp(gm, BOOT_GDT_ADDR, 32);

	g_assert_cmphex(lb->gdt_base, ==, BOOT_GDT_ADDR);
	g_assert_cmpuint(lb->gdt_limit, ==, 31);
	g_assert_cmphex(rd64(gdt), ==, 0);
	g_assert_cmphex(rd64(gdt + 8), ==, 0);
	/* 64-bit code: present, DPL 0, code, L=1, D=0. */
	uint64_t cs = rd64(gdt + BOOT_CS);
	g_assert_cmphex(cs, ==, BOOT_GDT_CODE64);
	g_assert_cmphex((cs >> 47) & 1, ==, 1);
	g_assert_cmphex((cs >> 43) & 1, ==, 1);
	g_assert_cmphex((cs >> 53) & 1, ==, 1);
	g_assert_cmphex((cs >> 54) & 1, ==, 0);
	uint64_t ds = rd64(gdt + BOOT_DS);
	g_assert_cmphex(ds, ==, BOOT_GDT_DATA);
	g_assert_cmphex((ds >> 43) & 1, ==, 0);              /* data */
	g_assert_cmphex((ds >> 41) & 1, ==, 1);              /* writable */
}

static void test_synthetic_full(void)
{
	struct image im = make_image();
	struct ram r;
	struct linux_boot lb;
	uint8_t initrd[10000];
	const char *cmdline = "console=ttyS0 root=/dev/vda";

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	ram_new(&r, 64 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, initrd, sizeof(initrd), cmdline,
				   0xe0000, &lb, err, sizeof(err)), ==, 0);

	/* Kernel at pref_address, entry at startup_64. */
	g_assert_cmphex(lb.kernel_addr, ==, 0x1000000);
	g_assert_cmpuint(lb.kernel_size, ==, PM_SIZE);
	g_assert_cmphex(lb.entry, ==, 0x1000200);
	g_assert_cmphex(lb.boot_params, ==, BOOT_ZERO_PAGE_ADDR);
	g_assert_cmphex(lb.cr3, ==, BOOT_PML4_ADDR);
	g_assert_cmpmem(gp(&r.gm, 0x1000000, PM_SIZE), PM_SIZE, im.buf + 2560, PM_SIZE);

	/* Initrd page aligned at the top of RAM. */
	g_assert_cmpuint(lb.initrd_size, ==, sizeof(initrd));
	g_assert_cmphex(lb.initrd_addr, ==, (64 * MIB - sizeof(initrd)) & ~0xfffULL);
	g_assert_cmpmem(gp(&r.gm, lb.initrd_addr, sizeof(initrd)), sizeof(initrd), initrd, sizeof(initrd));

	/* Command line. */
	g_assert_cmpstr((const char *)gp(&r.gm, BOOT_CMDLINE_ADDR, 64), ==, cmdline);

	/* Zero page. */
	const uint8_t *zp = gp(&r.gm, BOOT_ZERO_PAGE_ADDR, 4096);
	g_assert_cmpmem(zp + 0x202, 4, "HdrS", 4);
	g_assert_cmphex(rd16(zp + 0x206), ==, 0x020f);
	g_assert_cmphex(rd16(zp + 0x1fe), ==, 0xaa55);
	g_assert_cmphex(rd16(zp + 0x1fa), ==, 0xffff);
	g_assert_cmphex(rd32(zp + 0x260), ==, 0x800000);
	g_assert_cmphex(zp[0x210], ==, 0xff);                   /* type_of_loader */
	g_assert_cmphex(zp[0x211], ==, 0x81);                   /* LOADED_HIGH|CAN_USE_HEAP */
	g_assert_cmphex(rd16(zp + 0x224), ==, 0xde00);          /* heap_end_ptr */
	g_assert_cmphex(rd32(zp + 0x228), ==, BOOT_CMDLINE_ADDR);
	g_assert_cmphex(rd32(zp + 0xc8), ==, 0);
	g_assert_cmphex(rd32(zp + 0x218), ==, lb.initrd_addr);
	g_assert_cmphex(rd32(zp + 0x21c), ==, sizeof(initrd));
	g_assert_cmphex(rd32(zp + 0xc0), ==, 0);
	g_assert_cmphex(rd32(zp + 0xc4), ==, 0);
	g_assert_cmphex(rd64(zp + 0x250), ==, 0);               /* setup_data cleared */
	g_assert_cmphex(rd64(zp + 0x70), ==, 0xe0000);          /* acpi_rsdp_addr */
	g_assert_cmphex(zp[0x1ef], ==, 0);                      /* sentinel */
	for (int i = 0x26c; i < 0x2d0; i++)                     /* nothing past the header */
		g_assert_cmphex(zp[i], ==, 0);

	const uint64_t want[][3] = {
		{ 0, BOOT_EBDA_START, E820_RAM },
		{ BOOT_EBDA_START, 0x100000 - BOOT_EBDA_START, E820_RESERVED },
		{ 0x100000, 63 * MIB, E820_RAM },
		{ PCI_ECAM_BASE, PCI_ECAM_SIZE, E820_RESERVED },
	};
	check_e820(zp, want, 4);
	/* The ACPI tables sit inside a reserved range. */
	g_assert_cmphex(BOOT_ACPI_ADDR, >=, BOOT_EBDA_START);
	g_assert_cmphex(BOOT_ACPI_ADDR + BOOT_ACPI_SIZE, <=, 0x100000);

	check_page_tables(&r.gm);
	check_gdt(&r.gm, &lb);
	ram_free(&r);
	g_free(im.buf);
}

/* More than 3 GiB: RAM continues above 4 GiB and e820 says so. */
static void test_high_memory_e820(void)
{
	struct image im = make_image();
	struct guest_memory gm;
	struct linux_boot lb;

	g_assert_cmpint(guest_memory_init(&gm, 4 * GIB + 512 * MIB), ==, 0);
	g_assert_cmpint(linux_load(&gm, im.buf, im.len, (const uint8_t *)"abc", 3, NULL,
				   0, &lb, err, sizeof(err)), ==, 0);
	const uint8_t *zp = gp(&gm, BOOT_ZERO_PAGE_ADDR, 4096);
	const uint64_t want[][3] = {
		{ 0, BOOT_EBDA_START, E820_RAM },
		{ BOOT_EBDA_START, 0x100000 - BOOT_EBDA_START, E820_RESERVED },
		{ 0x100000, GUEST_LOW_RAM_MAX - 0x100000, E820_RAM },
		{ PCI_ECAM_BASE, PCI_ECAM_SIZE, E820_RESERVED },
		{ GUEST_HIGH_RAM_BASE, 1536 * MIB, E820_RAM },
	};
	check_e820(zp, want, 5);
	/* initrd_addr_max 0x7fffffff caps the initrd below 2 GiB. */
	g_assert_cmphex(lb.initrd_addr, ==, 0x80000000ULL - 0x1000);
	g_assert_cmpuint(rd32(zp + 0x21c), ==, 3);
	/* An empty command line is still a terminated string. */
	g_assert_cmpuint(*gp(&gm, BOOT_CMDLINE_ADDR, 1), ==, 0);
	/* No RSDP given: field stays zero. */
	g_assert_cmphex(rd64(zp + 0x70), ==, 0);
	guest_memory_free(&gm);
	g_free(im.buf);
}

static void test_cmdline_limits(void)
{
	struct image im = make_image();
	struct ram r;
	struct linux_boot lb;
	char *cmd = g_malloc(70000);

	ram_new(&r, 64 * MIB);
	memset(cmd, 'a', 2047);
	cmd[2047] = 0;
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, cmd, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(strlen((char *)gp(&r.gm, BOOT_CMDLINE_ADDR, 2048)), ==, 2047);

	memset(cmd, 'a', 2048);
	cmd[2048] = 0;
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, cmd, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "2048 bytes long, this kernel accepts at most 2047"));
	g_assert_nonnull(strstr(err, "shorten"));

	/* A header claiming a huge cmdline_size is capped by our buffer. */
	wr32(im.buf + 0x238, 0xffffffff);
	memset(cmd, 'b', 69999);
	cmd[69999] = 0;
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, cmd, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "at most 65535"));
	cmd[65535] = 0;
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, cmd, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(strlen((char *)gp(&r.gm, BOOT_CMDLINE_ADDR, 65536)), ==, 65535);
	g_free(cmd);
	ram_free(&r);
	g_free(im.buf);
}

static void expect_load_error(struct image *im, size_t len, const char *needle)
{
	struct ram r;
	struct linux_boot lb;

	ram_new(&r, 64 * MIB);
	int ret = linux_load(&r.gm, im->buf, len, NULL, 0, "x", 0, &lb, err, sizeof(err));
	if (ret != -1 || !strstr(err, needle))
		g_error("expected error containing \"%s\", got %d \"%s\"", needle, ret, err);
	ram_free(&r);
}

static void test_truncated(void)
{
	struct image im = make_image();

	expect_load_error(&im, 0, "not a bzImage (no HdrS magic)");
	expect_load_error(&im, 0x205, "not a bzImage");
	expect_load_error(&im, 0x206, "truncated bzImage");
	expect_load_error(&im, 0x263, "truncated bzImage");
	expect_load_error(&im, 0x26b, "the setup header ends at 0x26c");
	expect_load_error(&im, 0x800, "setup code claims 2560 bytes, the file has 2048");
	expect_load_error(&im, 2560, "setup code claims 2560 bytes");
	im.buf[0x1f1] = 0xff;
	expect_load_error(&im, im.len, "setup code claims 131072 bytes");
	g_free(im.buf);
}

static void test_corrupt_headers(void)
{
	struct image im;

	im = make_image();
	im.buf[0x202] = 'X';
	expect_load_error(&im, im.len, "no HdrS magic");
	g_free(im.buf);

	im = make_image();
	wr16(im.buf + 0x206, 0x020b);
	expect_load_error(&im, im.len, "boot protocol 2.11 too old");
	g_free(im.buf);

	im = make_image();
	wr16(im.buf + 0x236, 0x2);
	expect_load_error(&im, im.len, "XLF_KERNEL_64");
	g_free(im.buf);

	im = make_image();
	im.buf[0x211] = 0;
	expect_load_error(&im, im.len, "zImage");
	g_free(im.buf);

	im = make_image();
	im.buf[0x201] = 0x10;
	expect_load_error(&im, im.len, "corrupt setup header");
	g_free(im.buf);

	im = make_image();
	wr32(im.buf + 0x230, 0x300000);
	expect_load_error(&im, im.len, "kernel_alignment 0x300000");
	g_free(im.buf);

	im = make_image();
	wr32(im.buf + 0x230, 0);
	expect_load_error(&im, im.len, "kernel_alignment");
	g_free(im.buf);

	im = make_image();
	im.buf[0x234] = 0;
	wr64(im.buf + 0x258, 0xfffffffffffff000ULL);
	expect_load_error(&im, im.len, "non-relocatable kernel needs");
	g_free(im.buf);

	im = make_image();
	im.buf[0x234] = 0;
	wr64(im.buf + 0x258, 0x1234);
	expect_load_error(&im, im.len, "non-relocatable kernel wants address 0x1234");
	g_free(im.buf);

	/* init_size near 4 GiB with a pref_address near 2^64: no wrap-around. */
	im = make_image();
	wr32(im.buf + 0x260, 0xffffffff);
	wr64(im.buf + 0x258, 0xffffffffffe00000ULL);
	expect_load_error(&im, im.len, "give the domain more memory");
	g_free(im.buf);

	/* A header longer than boot_params has room for is clipped, not
	 * copied over the e820 table. */
	im = make_image();
	im.buf[0x201] = 0xff;
	memset(im.buf + 0x26c, 0xcc, 0x301 - 0x26c);
	struct ram r;
	struct linux_boot lb;
	ram_new(&r, 64 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, NULL, 0, &lb, err, sizeof(err)), ==, 0);
	const uint8_t *zp = gp(&r.gm, BOOT_ZERO_PAGE_ADDR, 4096);
	g_assert_cmphex(zp[0x28f], ==, 0xcc);
	g_assert_cmphex(zp[0x290], ==, 0);
	g_assert_cmpuint(zp[0x1e8], ==, 4);
	g_assert_cmphex(rd64(zp + 0x2d0), ==, 0);
	ram_free(&r);
	g_free(im.buf);
}

static void test_placement(void)
{
	struct image im = make_image();
	struct ram r;
	struct linux_boot lb;

	/* 16 MiB of RAM: pref_address (16 MiB) does not fit, so the kernel goes
	 * to the first kernel_alignment boundary above 1 MiB. */
	ram_new(&r, 16 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, NULL, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmphex(lb.kernel_addr, ==, 0x200000);
	g_assert_cmphex(lb.entry, ==, 0x200200);
	g_assert_cmphex(rd32(gp(&r.gm, BOOT_ZERO_PAGE_ADDR, 4096) + 0x214), ==, 0x200000);

	/* Initrd must stay above init_size end (2 MiB + 8 MiB = 10 MiB). */
	uint8_t *big = g_malloc0(7 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, big, 6 * MIB, NULL, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmphex(lb.initrd_addr, ==, 10 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, big, 6 * MIB + 1, NULL, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "initrd (6 MiB) does not fit below 0xffffff with 16 MiB of RAM"));
	g_assert_nonnull(strstr(err, "give the domain more memory"));
	g_free(big);

	/* init_size larger than RAM. */
	wr32(im.buf + 0x260, 15 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, NULL, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "kernel: needs 15 MiB of RAM from 0x200000"));
	ram_free(&r);

	/* Too little RAM for anything. */
	ram_new(&r, 1 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, NULL, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "more memory"));
	ram_free(&r);

	/* Unaligned pref_address is not used for a relocatable kernel. */
	wr32(im.buf + 0x260, 0x800000);
	wr64(im.buf + 0x258, 0x1100000);
	ram_new(&r, 64 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, NULL, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmphex(lb.kernel_addr, ==, 0x200000);

	/* Non-relocatable: loaded exactly at pref_address. */
	im.buf[0x234] = 0;
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, NULL, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmphex(lb.kernel_addr, ==, 0x1100000);

	/* initrd_addr_max honoured. */
	im.buf[0x234] = 1;
	wr64(im.buf + 0x258, 0x1000000);
	wr32(im.buf + 0x22c, 0x1ffffff);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, (const uint8_t *)"12345", 5, NULL, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmphex(lb.initrd_addr, ==, 0x1fff000);
	ram_free(&r);

	/* setup_sects 0 means 4. */
	im.buf[0x1f1] = 0;
	ram_new(&r, 64 * MIB);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, NULL, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(lb.kernel_size, ==, PM_SIZE);
	g_assert_cmpmem(gp(&r.gm, lb.kernel_addr, 16), 16, im.buf + 2560, 16);

	/* Protocol 2.12 has no acpi_rsdp_addr. */
	wr16(im.buf + 0x206, 0x020c);
	g_assert_cmpint(linux_load(&r.gm, im.buf, im.len, NULL, 0, NULL, 0xe0000, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmphex(rd64(gp(&r.gm, BOOT_ZERO_PAGE_ADDR, 4096) + 0x70), ==, 0);
	ram_free(&r);
	g_free(im.buf);
}

static void test_load_files(void)
{
	struct image im = make_image();
	struct ram r;
	struct linux_boot lb;
	char *dir = g_dir_make_tmp("atoll-boot-XXXXXX", NULL);
	char *kpath = g_build_filename(dir, "vmlinuz", NULL);
	char *ipath = g_build_filename(dir, "initrd", NULL);
	char *epath = g_build_filename(dir, "empty", NULL);

	g_assert_nonnull(dir);
	g_assert_true(g_file_set_contents(kpath, (const char *)im.buf, (gssize)im.len, NULL));
	g_assert_true(g_file_set_contents(ipath, "INITRD", 6, NULL));
	g_assert_true(g_file_set_contents(epath, "", 0, NULL));
	ram_new(&r, 64 * MIB);

	g_assert_cmpint(linux_load_files(&r.gm, kpath, ipath, "quiet", 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmphex(lb.kernel_addr, ==, 0x1000000);
	g_assert_cmpuint(lb.initrd_size, ==, 6);
	g_assert_cmpmem(gp(&r.gm, lb.initrd_addr, 6), 6, "INITRD", 6);
	g_assert_cmpmem(gp(&r.gm, lb.kernel_addr, PM_SIZE), PM_SIZE, im.buf + 2560, PM_SIZE);

	g_assert_cmpint(linux_load_files(&r.gm, kpath, NULL, NULL, 0, &lb, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(lb.initrd_size, ==, 0);

	g_assert_cmpint(linux_load_files(&r.gm, "/nonexistent/vmlinuz", NULL, NULL, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "kernel: cannot open /nonexistent/vmlinuz: No such file"));
	g_assert_nonnull(strstr(err, "--kernel"));
	g_assert_cmpint(linux_load_files(&r.gm, kpath, "/nonexistent/initrd", NULL, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "initrd: cannot open /nonexistent/initrd"));
	g_assert_cmpint(linux_load_files(&r.gm, dir, NULL, NULL, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "is not a regular file"));
	g_assert_cmpint(linux_load_files(&r.gm, epath, NULL, NULL, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "kernel: "));
	g_assert_nonnull(strstr(err, "is empty"));
	g_assert_cmpint(linux_load_files(&r.gm, ipath, NULL, NULL, 0, &lb, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "not a bzImage"));

	g_unlink(kpath);
	g_unlink(ipath);
	g_unlink(epath);
	g_rmdir(dir);
	g_free(kpath);
	g_free(ipath);
	g_free(epath);
	g_free(dir);
	ram_free(&r);
	g_free(im.buf);
}

static char *find_real_kernel(void)
{
	const char *env = g_getenv("ATOLL_TEST_KERNEL");

	if (env && *env)
		return g_file_test(env, G_FILE_TEST_IS_REGULAR) ? g_strdup(env) : NULL;
	GDir *d = g_dir_open("/boot", 0, NULL);
	char *found = NULL;
	const char *n;
	while (d && !found && (n = g_dir_read_name(d)))
		if (g_str_has_prefix(n, "vmlinuz-"))
			found = g_build_filename("/boot", n, NULL);
	if (d)
		g_dir_close(d);
	return found;
}

static void test_real_kernel(void)
{
	char *path = find_real_kernel();
	gchar *k;
	gsize klen;
	struct guest_memory gm;
	struct linux_boot lb;

	if (!path) {
		g_test_skip("no kernel: set ATOLL_TEST_KERNEL=/path/to/vmlinuz");
		return;
	}
	if (!g_file_get_contents(path, &k, &klen, NULL)) {
		g_test_skip("kernel file not readable");
		g_free(path);
		return;
	}
	const uint8_t *kb = (const uint8_t *)k;
	uint32_t init_size = rd32(kb + 0x260);
	uint8_t initrd[3 * 4096 + 5];
	memset(initrd, 0x42, sizeof(initrd));

	g_assert_cmpint(guest_memory_init(&gm, 256 * MIB), ==, 0);
	g_assert_cmpint(linux_load(&gm, kb, klen, initrd, sizeof(initrd), "console=ttyS0",
				   0xe0000, &lb, err, sizeof(err)), ==, 0);
	size_t pm_off = ((size_t)(kb[0x1f1] ? kb[0x1f1] : 4) + 1) * 512;
	g_assert_cmpuint(lb.kernel_size, ==, klen - pm_off);
	g_assert_cmphex(lb.kernel_addr, ==, rd64(kb + 0x258));
	g_assert_cmphex(lb.entry, ==, lb.kernel_addr + 0x200);
	g_assert_cmpmem(gp(&gm, lb.kernel_addr, 4096), 4096, kb + pm_off, 4096);
	g_assert_cmphex(lb.initrd_addr, >=, lb.kernel_addr + init_size);
	g_assert_cmphex(lb.initrd_addr + sizeof(initrd), <=, 256 * MIB);
	g_assert_cmphex(lb.initrd_addr & 0xfff, ==, 0);
	const uint8_t *zp = gp(&gm, BOOT_ZERO_PAGE_ADDR, 4096);
	g_assert_cmphex(zp[0x210], ==, 0xff);
	/* The header is copied except for the fields a boot loader fills. */
	size_t hdr_end = 0x202 + kb[0x201];
	g_assert_cmpmem(zp + 0x1f1, 0x210 - 0x1f1, kb + 0x1f1, 0x210 - 0x1f1);
	g_assert_cmpmem(zp + 0x22c, 0x250 - 0x22c, kb + 0x22c, 0x250 - 0x22c);
	g_assert_cmpmem(zp + 0x258, hdr_end - 0x258, kb + 0x258, hdr_end - 0x258);
	g_assert_cmpstr((const char *)gp(&gm, BOOT_CMDLINE_ADDR, 16), ==, "console=ttyS0");
	check_page_tables(&gm);
	check_gdt(&gm, &lb);
	g_test_message("%s: loaded at 0x%" G_GINT64_MODIFIER "x, initrd at 0x%" G_GINT64_MODIFIER "x",
		       path, lb.kernel_addr, lb.initrd_addr);
	guest_memory_free(&gm);
	g_free(k);
	g_free(path);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/linux_boot/synthetic", test_synthetic_full);
	g_test_add_func("/linux_boot/high-memory-e820", test_high_memory_e820);
	g_test_add_func("/linux_boot/cmdline", test_cmdline_limits);
	g_test_add_func("/linux_boot/truncated", test_truncated);
	g_test_add_func("/linux_boot/corrupt", test_corrupt_headers);
	g_test_add_func("/linux_boot/placement", test_placement);
	g_test_add_func("/linux_boot/load-files", test_load_files);
	g_test_add_func("/linux_boot/real-kernel", test_real_kernel);
	return g_test_run();
}
