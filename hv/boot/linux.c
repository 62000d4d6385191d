/* Linux x86-64 direct boot, following Documentation/arch/x86/boot.rst: we
 * act as the boot loader and hand the kernel's 64-bit entry point
 * (startup_64) a filled-in boot_params, skipping the real-mode setup code.
 *
 * The bzImage is untrusted input: every offset and size read from its header
 * is range-checked against the file length and guest RAM before use, with
 * 64-bit arithmetic so nothing can wrap. */
#include "linux.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Setup header fields, as offsets into the bzImage and the zero page. */
#define HDR_START            0x1f1
#define HDR_SETUP_SECTS      0x1f1
#define HDR_JUMP_OFF         0x201   /* 2nd byte of the jmp: header length */
#define HDR_MAGIC            0x202
#define HDR_VERSION          0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS        0x211
#define HDR_CODE32_START     0x214
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_HEAP_END_PTR     0x224
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE      0x234
#define HDR_XLOADFLAGS       0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_SETUP_DATA       0x250
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE        0x260
#define HDR_END_2_12         0x264   /* a 2.12 header reaches init_size */
#define HDR_LIMIT            0x290   /* boot_params.edd_mbr_sig_buffer */

/* boot_params ("zero page") fields outside the setup header. */
#define ZP_SIZE              4096
#define ZP_ACPI_RSDP_ADDR    0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE  0x0c4
#define ZP_EXT_CMD_LINE_PTR  0x0c8
#define ZP_E820_ENTRIES      0x1e8
#define ZP_E820_TABLE        0x2d0
#define E820_ENTRY_SIZE      20
#define E820_MAX_ENTRIES     128

#define LOADED_HIGH          0x01
#define CAN_USE_HEAP         0x80
#define XLF_KERNEL_64        0x01

#define BOOT_PROTO_MIN       0x020c  /* 2.12: xloadflags, 64-bit entry */
#define BOOT_PROTO_RSDP      0x020e  /* 2.14: boot_params.acpi_rsdp_addr */
#define LOADER_UNDEFINED     0xff    /* type_of_loader for unregistered loaders */
/* The setup heap ends where a real-mode loader would put the stack top; the
 * value only matters to setup code, which a 64-bit entry never runs. */
#define HEAP_END_PTR         (0xe000 - 0x200)
#define INITRD_ADDR_MAX_OLD  0x37ffffffULL  /* protocol default before 2.03 */

#define KERNEL_MIN_ADDR      0x100000ULL
#define STARTUP_64_OFFSET    0x200
#define PAGE_SIZE_4K         0x1000ULL
#define MIB                  (1024ULL * 1024)
#define GIB                  (1024ULL * MIB)

#define PTE_PRESENT 0x1ULL
#define PTE_RW      0x2ULL
#define PTE_PS      0x80ULL    /* 2 MiB page in a page directory */
#define PT_PAGES    6          /* PML4, PDPT, 4 page directories */

struct bzimage {
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	bool relocatable;
	size_t hdr_end;          /* end of the setup header copied to the zero page */
	size_t pm_offset;        /* protected-mode kernel in the file */
	size_t pm_size;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint32_t cmdline_size;
	uint64_t pref_address;
	uint32_t init_size;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static double to_mib(uint64_t v) { return (double)v / (double)MIB; }

static int parse_header(const uint8_t *k, size_t klen, struct bzimage *bz,
			char *err, size_t errlen)
{
	if (klen < HDR_MAGIC + 4 || memcmp(k + HDR_MAGIC, "HdrS", 4) != 0)
		return fail(err, errlen, "kernel: not a bzImage (no HdrS magic) — give an x86-64 bzImage such as /boot/vmlinuz-*");
	if (klen < HDR_END_2_12)
		return fail(err, errlen, "kernel: truncated bzImage (%zu bytes, the setup header alone needs %d) — the file is damaged; copy it again",
			    klen, HDR_END_2_12);

	memset(bz, 0, sizeof(*bz));
	bz->version = rd16(k + HDR_VERSION);
	if (bz->version < BOOT_PROTO_MIN)
		return fail(err, errlen, "kernel: boot protocol %u.%02u too old, 64-bit direct boot needs 2.12 (Linux 3.8 or newer) — use a newer kernel",
			    bz->version >> 8, bz->version & 0xff);

	bz->hdr_end = HDR_MAGIC + (size_t)k[HDR_JUMP_OFF];
	if (bz->hdr_end < HDR_END_2_12)
		return fail(err, errlen, "kernel: corrupt setup header (it claims to end at 0x%zx, before the 2.12 fields) — the file is damaged or not a Linux kernel",
			    bz->hdr_end);
	if (bz->hdr_end > HDR_LIMIT)
		bz->hdr_end = HDR_LIMIT; /* newer fields we do not know stay zero */
	if (bz->hdr_end > klen)
		return fail(err, errlen, "kernel: truncated bzImage (the setup header ends at 0x%zx, past the end of the %zu-byte file)",
			    bz->hdr_end, klen);

	unsigned sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
	bz->pm_offset = ((size_t)sects + 1) * 512;
	if (bz->pm_offset >= klen)
		return fail(err, errlen, "kernel: truncated bzImage (setup code claims %zu bytes, the file has %zu) — the file is damaged; copy it again",
			    bz->pm_offset, klen);
	bz->pm_size = klen - bz->pm_offset;

	bz->loadflags = k[HDR_LOADFLAGS];
	bz->xloadflags = rd16(k + HDR_XLOADFLAGS);
	bz->relocatable = k[HDR_RELOCATABLE] != 0;
	bz->initrd_addr_max = rd32(k + HDR_INITRD_ADDR_MAX);
	bz->kernel_alignment = rd32(k + HDR_KERNEL_ALIGNMENT);
	bz->cmdline_size = rd32(k + HDR_CMDLINE_SIZE);
	bz->pref_address = rd64(k + HDR_PREF_ADDRESS);
	bz->init_size = rd32(k + HDR_INIT_SIZE);

	if (!(bz->loadflags & LOADED_HIGH))
		return fail(err, errlen, "kernel: a zImage (loaded below 1 MiB) is not supported — give a bzImage");
	if (!(bz->xloadflags & XLF_KERNEL_64))
		return fail(err, errlen, "kernel: no 64-bit entry point (xloadflags lacks XLF_KERNEL_64) — give an x86-64 kernel, not a 32-bit one");
	return 0;
}

/* Choose where the protected-mode kernel goes; *end is the first byte above
 * everything the kernel may use while it decompresses (init_size). */
static int place_kernel(const struct guest_memory *gm, const struct bzimage *bz,
			uint64_t *addr, uint64_t *end, char *err, size_t errlen)
{
	uint64_t need = bz->init_size > bz->pm_size ? bz->init_size : bz->pm_size;
	uint64_t ram = gm->low_size;

	if (bz->relocatable) {
		uint64_t a = bz->kernel_alignment;
		if (a < PAGE_SIZE_4K || a > GIB || (a & (a - 1)))
			return fail(err, errlen, "kernel: corrupt setup header (kernel_alignment 0x%" PRIx64 " is not a power of two between 4 KiB and 1 GiB)",
				    a);
		uint64_t pref = bz->pref_address;
		if (pref >= KERNEL_MIN_ADDR && pref <= ram && !(pref & (a - 1)) &&
		    need <= ram - pref) {
			*addr = pref;
		} else {
			*addr = align_up(KERNEL_MIN_ADDR, a);
			if (*addr > ram || need > ram - *addr)
				return fail(err, errlen, "kernel: needs %.0f MiB of RAM from 0x%" PRIx64 " to start, the domain has %.0f MiB below 3 GiB — give the domain more memory",
					    to_mib(need), *addr, to_mib(ram));
		}
	} else {
		/* A non-relocatable kernel moves itself to pref_address, so that
		 * is the only place it can be loaded. */
		uint64_t pref = bz->pref_address;
		if (pref < KERNEL_MIN_ADDR || (pref & (PAGE_SIZE_4K - 1)))
			return fail(err, errlen, "kernel: corrupt setup header (non-relocatable kernel wants address 0x%" PRIx64 ")",
				    pref);
		if (pref > ram || need > ram - pref)
			return fail(err, errlen, "kernel: this non-relocatable kernel needs %.0f MiB of RAM at 0x%" PRIx64 ", the domain has %.0f MiB below 3 GiB — give the domain more memory or build the kernel with CONFIG_RELOCATABLE",
				    to_mib(need), pref, to_mib(ram));
		*addr = pref;
	}
	*end = align_up(*addr + need, PAGE_SIZE_4K);
	return 0;
}

static int place_initrd(const struct guest_memory *gm, const struct bzimage *bz,
			uint64_t kernel_end, uint64_t ilen, uint64_t *addr,
			char *err, size_t errlen)
{
	uint64_t max = bz->initrd_addr_max ? bz->initrd_addr_max : INITRD_ADDR_MAX_OLD;
	uint64_t top = max + 1;

	if (top > gm->low_size)
		top = gm->low_size;
	if (top > 4 * GIB)
		top = 4 * GIB;
	if (ilen > top || ((top - ilen) & ~(PAGE_SIZE_4K - 1)) < kernel_end)
		return fail(err, errlen, "initrd (%.0f MiB) does not fit below 0x%" PRIx64 " with %.0f MiB of RAM (the kernel uses up to 0x%" PRIx64 ") — give the domain more memory",
			    to_mib(ilen), top - 1, to_mib(gm->size), kernel_end);
	*addr = (top - ilen) & ~(PAGE_SIZE_4K - 1);
	return 0;
}

static void e820_add(uint8_t *zp, unsigned *n, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0 || *n >= E820_MAX_ENTRIES)
		return;
	uint8_t *e = zp + ZP_E820_TABLE + (size_t)*n * E820_ENTRY_SIZE;
	wr64(e, addr);
	wr64(e + 8, size);
	wr32(e + 16, type);
	(*n)++;
}

static void build_e820(const struct guest_memory *gm, uint8_t *zp)
{
	unsigned n = 0;

	e820_add(zp, &n, 0, BOOT_EBDA_START, E820_RAM);
	/* EBDA, VGA hole and BIOS area, with the ACPI tables at 0xE0000. */
	e820_add(zp, &n, BOOT_EBDA_START, KERNEL_MIN_ADDR - BOOT_EBDA_START, E820_RESERVED);
	e820_add(zp, &n, KERNEL_MIN_ADDR, gm->low_size - KERNEL_MIN_ADDR, E820_RAM);
	/* Linux ignores an MCFG whose ECAM window is not reserved here. */
	e820_add(zp, &n, PCI_ECAM_BASE, PCI_ECAM_SIZE, E820_RESERVED);
	if (gm->high_size)
		e820_add(zp, &n, GUEST_HIGH_RAM_BASE, gm->high_size, E820_RAM);
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
}

static void build_zero_page(uint8_t *zp, const uint8_t *k, const struct bzimage *bz,
			    const struct guest_memory *gm, uint64_t kaddr,
			    uint64_t iaddr, uint64_t ilen, uint64_t rsdp_addr)
{
	memset(zp, 0, ZP_SIZE);
	memcpy(zp + HDR_START, k + HDR_START, bz->hdr_end - HDR_START);

	zp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	zp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	wr16(zp + HDR_HEAP_END_PTR, HEAP_END_PTR);
	wr32(zp + HDR_CODE32_START, (uint32_t)kaddr);
	wr32(zp + HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
	wr32(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)((uint64_t)BOOT_CMDLINE_ADDR >> 32));
	wr32(zp + HDR_RAMDISK_IMAGE, (uint32_t)iaddr);
	wr32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(iaddr >> 32));
	wr32(zp + HDR_RAMDISK_SIZE, (uint32_t)ilen);
	wr32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(ilen >> 32));
	/* We pass no setup_data chain; a value left in the file is garbage. */
	wr64(zp + HDR_SETUP_DATA, 0);
	if (bz->version >= BOOT_PROTO_RSDP)
		wr64(zp + ZP_ACPI_RSDP_ADDR, rsdp_addr);
	build_e820(gm, zp);
}

/* Identity map of 0..4 GiB with 2 MiB pages: enough for the kernel, boot
 * data and initrd, all placed below 4 GiB; startup_64 builds its own. */
static int write_page_tables(const struct guest_memory *gm)
{
	uint8_t pt[PT_PAGES * PAGE_SIZE_4K];
	const uint64_t pml4 = BOOT_PML4_ADDR, pdpt = pml4 + PAGE_SIZE_4K;
	const uint64_t pd0 = pdpt + PAGE_SIZE_4K;

	memset(pt, 0, sizeof(pt));
	wr64(pt, pdpt | PTE_PRESENT | PTE_RW);
	for (uint64_t i = 0; i < 4; i++) {
		wr64(pt + PAGE_SIZE_4K + i * 8, (pd0 + i * PAGE_SIZE_4K) | PTE_PRESENT | PTE_RW);
		for (uint64_t j = 0; j < 512; j++) {
			uint64_t phys = (i * 512 + j) << 21;
			wr64(pt + (2 + i) * PAGE_SIZE_4K + j * 8,
			     phys | PTE_PRESENT | PTE_RW | PTE_PS);
		}
	}
	return guest_write(gm, BOOT_PML4_ADDR, pt, sizeof(pt));
}

static int write_gdt(const struct guest_memory *gm, struct linux_boot *out)
{
	uint8_t gdt[BOOT_GDT_ENTRIES * 8];

	memset(gdt, 0, sizeof(gdt));
	wr64(gdt + BOOT_CS, BOOT_GDT_CODE64);
	wr64(gdt + BOOT_DS, BOOT_GDT_DATA);
	out->gdt_base = BOOT_GDT_ADDR;
	out->gdt_limit = sizeof(gdt) - 1;
	return guest_write(gm, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

static int check_cmdline(const struct bzimage *bz, const char *cmdline, size_t *len,
			 char *err, size_t errlen)
{
	size_t max = bz->cmdline_size;

	if (max > BOOT_CMDLINE_MAX - 1)
		max = BOOT_CMDLINE_MAX - 1;
	*len = cmdline ? strnlen(cmdline, BOOT_CMDLINE_MAX) : 0;
	if (*len > max)
		return fail(err, errlen, "cmdline: %s%zu bytes long, this kernel accepts at most %zu — shorten the command line",
			    *len >= BOOT_CMDLINE_MAX ? "over " : "", *len, max);
	return 0;
}

static int write_boot_data(const struct guest_memory *gm, const uint8_t *zp,
			   const char *cmdline, size_t cmdlen,
			   struct linux_boot *out, char *err, size_t errlen)
{
	static const char empty[1] = "";

	if (guest_write(gm, BOOT_ZERO_PAGE_ADDR, zp, ZP_SIZE) < 0 ||
	    guest_write(gm, BOOT_CMDLINE_ADDR, cmdline ? cmdline : empty, cmdlen) < 0 ||
	    guest_write(gm, BOOT_CMDLINE_ADDR + cmdlen, empty, 1) < 0 ||
	    write_page_tables(gm) < 0 || write_gdt(gm, out) < 0)
		return fail(err, errlen, "boot: guest RAM too small for the boot structures below 1 MiB — give the domain more memory");
	return 0;
}

int linux_load(const struct guest_memory *gm, const uint8_t *kernel, size_t klen,
	       const uint8_t *initrd, size_t ilen, const char *cmdline,
	       uint64_t rsdp_addr, struct linux_boot *out,
	       char *err, size_t errlen)
{
	struct bzimage bz;
	uint64_t kaddr = 0, kend = 0, iaddr = 0;
	size_t cmdlen;
	uint8_t zp[ZP_SIZE];

	memset(out, 0, sizeof(*out));
	if (!kernel)
		klen = 0;
	if (!initrd)
		ilen = 0;
	if (gm->low_size <= KERNEL_MIN_ADDR)
		return fail(err, errlen, "boot: the domain has %.2f MiB of RAM below 4 GiB, a Linux kernel needs far more — give the domain more memory",
			    to_mib(gm->low_size));
	if (parse_header(kernel, klen, &bz, err, errlen) < 0 ||
	    check_cmdline(&bz, cmdline, &cmdlen, err, errlen) < 0 ||
	    place_kernel(gm, &bz, &kaddr, &kend, err, errlen) < 0)
		return -1;
	if (ilen && place_initrd(gm, &bz, kend, ilen, &iaddr, err, errlen) < 0)
		return -1;

	if (guest_write(gm, kaddr, kernel + bz.pm_offset, bz.pm_size) < 0 ||
	    (ilen && guest_write(gm, iaddr, initrd, ilen) < 0))
		return fail(err, errlen, "boot: kernel or initrd placement outside guest RAM (internal error)");

	build_zero_page(zp, kernel, &bz, gm, kaddr, iaddr, ilen, rsdp_addr);
	if (write_boot_data(gm, zp, cmdline, cmdlen, out, err, errlen) < 0)
		return -1;

	out->entry = kaddr + STARTUP_64_OFFSET;
	out->boot_params = BOOT_ZERO_PAGE_ADDR;
	out->cr3 = BOOT_PML4_ADDR;
	out->kernel_addr = kaddr;
	out->kernel_size = bz.pm_size;
	out->initrd_addr = iaddr;
	out->initrd_size = ilen;
	return 0;
}

/* ---- direct vmlinux entry ---------------------------------------------- */

#define ELF_HDR_SIZE   64
#define ELF_PHDR_SIZE  56
#define ELF_MAX_PHDRS  64
#define EM_X86_64      62
#define PT_LOAD        1

/* Load the PT_LOAD segments of a vmlinux at their physical addresses.
 * Every header field is checked against the image and guest RAM. */
static int load_elf(const struct guest_memory *gm, const uint8_t *e, size_t len,
		    uint64_t *lo, uint64_t *hi, uint64_t *entry,
		    char *err, size_t errlen)
{
	if (len < ELF_HDR_SIZE || memcmp(e, "\x7f" "ELF", 4) || e[4] != 2 || e[5] != 1 ||
	    rd16(e + 18) != EM_X86_64)
		return fail(err, errlen, "kernel: the decompressed payload is not an x86-64 ELF vmlinux");
	uint64_t phoff = rd64(e + 32);
	uint16_t phentsize = rd16(e + 54), phnum = rd16(e + 56);
	if (phentsize != ELF_PHDR_SIZE || phnum == 0 || phnum > ELF_MAX_PHDRS ||
	    phoff > len || (uint64_t)phnum * ELF_PHDR_SIZE > len - phoff)
		return fail(err, errlen, "kernel: vmlinux program headers are corrupt");
	*lo = UINT64_MAX;
	*hi = 0;
	for (uint16_t i = 0; i < phnum; i++) {
		const uint8_t *ph = e + phoff + (uint64_t)i * ELF_PHDR_SIZE;
		if (rd32(ph) != PT_LOAD)
			continue;
		uint64_t off = rd64(ph + 8), paddr = rd64(ph + 24);
		uint64_t filesz = rd64(ph + 32), memsz = rd64(ph + 40);
		if (off > len || filesz > len - off || filesz > memsz || paddr < KERNEL_MIN_ADDR)
			return fail(err, errlen, "kernel: vmlinux segment %u is corrupt", i);
		uint8_t *dst = guest_ptr(gm, paddr, memsz);
		if (!dst || paddr + memsz > gm->low_size)
			return fail(err, errlen, "kernel: vmlinux needs RAM up to 0x%" PRIx64 ", the domain has %.0f MiB below 3 GiB — give the domain more memory",
				    paddr + memsz, to_mib(gm->low_size));
		memcpy(dst, e + off, filesz);
		memset(dst + filesz, 0, memsz - filesz);
		if (paddr < *lo)
			*lo = paddr;
		if (paddr + memsz > *hi)
			*hi = paddr + memsz;
	}
	*entry = rd64(e + 24);
	if (*hi == 0 || *entry < *lo || *entry >= *hi)
		return fail(err, errlen, "kernel: vmlinux has no loadable segment holding its entry point");
	return 0;
}

int linux_load_vmlinux(const struct guest_memory *gm, const uint8_t *kernel, size_t klen,
		       const uint8_t *vmlinux, size_t vlen,
		       const uint8_t *initrd, size_t ilen, const char *cmdline,
		       uint64_t rsdp_addr, struct linux_boot *out,
		       char *err, size_t errlen)
{
	struct bzimage bz;
	uint64_t lo = 0, hi = 0, entry = 0, iaddr = 0;
	size_t cmdlen;
	uint8_t zp[ZP_SIZE];

	memset(out, 0, sizeof(*out));
	if (!initrd)
		ilen = 0;
	if (parse_header(kernel, kernel ? klen : 0, &bz, err, errlen) < 0 ||
	    check_cmdline(&bz, cmdline, &cmdlen, err, errlen) < 0 ||
	    load_elf(gm, vmlinux, vmlinux ? vlen : 0, &lo, &hi, &entry, err, errlen) < 0)
		return -1;
	/* The kernel's early code uses memory up to init_size past its start. */
	uint64_t kend = align_up(hi > lo + bz.init_size ? hi : lo + bz.init_size, PAGE_SIZE_4K);
	if (ilen && (place_initrd(gm, &bz, kend, ilen, &iaddr, err, errlen) < 0 ||
		     guest_write(gm, iaddr, initrd, ilen) < 0))
		return -1;
	build_zero_page(zp, kernel, &bz, gm, lo, iaddr, ilen, rsdp_addr);
	if (write_boot_data(gm, zp, cmdline, cmdlen, out, err, errlen) < 0)
		return -1;
	out->entry = entry;
	out->boot_params = BOOT_ZERO_PAGE_ADDR;
	out->cr3 = BOOT_PML4_ADDR;
	out->kernel_addr = lo;
	out->kernel_size = hi - lo;
	out->initrd_addr = iaddr;
	out->initrd_size = ilen;
	return 0;
}

/* A read-only mapping of a whole regular file. */
struct mapped_file {
	const uint8_t *data;
	size_t len;
};

static int map_file(const char *what, const char *path, struct mapped_file *mf,
		    char *err, size_t errlen)
{
	struct stat st;
	int fd;

	mf->data = NULL;
	mf->len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "%s: cannot open %s: %s — check the path given with --%s or \"%s\"",
			    what, path, strerror(errno), what, what);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "%s: %s is not a regular file — give the path of the %s file itself",
			    what, path, what);
	}
	if (st.st_size == 0) {
		close(fd);
		return fail(err, errlen, "%s: %s is empty — give a real %s file", what, path, what);
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return fail(err, errlen, "%s: %s is too large to load", what, path);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int saved = errno;
	close(fd);
	if (p == MAP_FAILED)
		return fail(err, errlen, "%s: cannot read %s: %s", what, path, strerror(saved));
	mf->data = p;
	mf->len = (size_t)st.st_size;
	return 0;
}

static void unmap_file(struct mapped_file *mf)
{
	if (mf->data)
		munmap((void *)mf->data, mf->len);
}

int linux_load_files(const struct guest_memory *gm, const char *kernel_path,
		     const char *initrd_path, const char *cmdline, uint64_t rsdp_addr,
		     struct linux_boot *out, char *err, size_t errlen)
{
	struct mapped_file k, i = { NULL, 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	if (map_file("kernel", kernel_path, &k, err, errlen) < 0)
		return -1;
	if (initrd_path && map_file("initrd", initrd_path, &i, err, errlen) < 0) {
		unmap_file(&k);
		return -1;
	}
	ret = linux_load(gm, k.data, k.len, i.data, i.len, cmdline, rsdp_addr,
			 out, err, errlen);
	unmap_file(&i);
	unmap_file(&k);
	return ret;
}
