/* Linux x86-64 direct boot (Documentation/arch/x86/boot.rst): bzImage setup
 * header, boot_params ("zero page"), e820 map, command line, initrd, and
 * the page tables and GDT for a 64-bit entry. */
#ifndef ATOLL_LINUX_H
#define ATOLL_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "../memory.h"

/* Fixed low-memory layout used for the boot (all below 1 MiB). */
#define BOOT_GDT_ADDR        0x500
#define BOOT_ZERO_PAGE_ADDR  0x7000
#define BOOT_PML4_ADDR       0x9000   /* PML4, PDPT, 4 page directories */
#define BOOT_CMDLINE_ADDR    0x20000
#define BOOT_CMDLINE_MAX     0x10000
#define BOOT_ACPI_ADDR       0xE0000  /* RSDP + tables, reserved in e820 */
#define BOOT_ACPI_SIZE       0x20000
#define BOOT_EBDA_START      0x9FC00

#define BOOT_CS 0x10   /* __BOOT_CS */
#define BOOT_DS 0x18   /* __BOOT_DS */

/* The boot GDT: null, null, 64-bit code (BOOT_CS), flat data (BOOT_DS).
 * vcpu.c builds the hidden segment state to match these descriptors. */
#define BOOT_GDT_ENTRIES 4
#define BOOT_GDT_CODE64  0x00af9b000000ffffULL /* P, DPL0, exec/read, L, G */
#define BOOT_GDT_DATA    0x00cf93000000ffffULL /* P, DPL0, read/write, D/B, G */

/* e820 entry types written into boot_params. */
#define E820_RAM      1
#define E820_RESERVED 2

struct linux_boot {
	uint64_t entry;         /* 64-bit entry point (RIP) */
	uint64_t boot_params;   /* RSI */
	uint64_t cr3;           /* identity map of the first 4 GiB */
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t kernel_addr, kernel_size;
	uint64_t initrd_addr, initrd_size;
};

/* Parse the bzImage, place kernel, command line and initrd in guest RAM,
 * write boot_params (with the e820 map for gm and the RSDP address) and the
 * page tables.  Returns 0, or -1 with err naming what is wrong with the
 * image ("not a bzImage", "boot protocol 2.05 too old", "initrd does not
 * fit below ...", ...). */
int linux_load(const struct guest_memory *gm, const uint8_t *kernel, size_t klen,
	       const uint8_t *initrd, size_t ilen, const char *cmdline,
	       uint64_t rsdp_addr, struct linux_boot *out,
	       char *err, size_t errlen);

/* As linux_load(), but enter the kernel directly: `vmlinux` is the ELF
 * image decompressed from the bzImage's payload (boot/kernel_image.h),
 * loaded at its physical addresses; the bzImage still supplies the setup
 * header for the zero page.  The guest skips its own decompressor. */
int linux_load_vmlinux(const struct guest_memory *gm, const uint8_t *kernel, size_t klen,
		       const uint8_t *vmlinux, size_t vlen,
		       const uint8_t *initrd, size_t ilen, const char *cmdline,
		       uint64_t rsdp_addr, struct linux_boot *out,
		       char *err, size_t errlen);

/* linux_load() on files: maps kernel_path (and initrd_path unless NULL)
 * read-only and loads them; err also covers missing or unreadable files. */
int linux_load_files(const struct guest_memory *gm, const char *kernel_path,
		     const char *initrd_path, const char *cmdline, uint64_t rsdp_addr,
		     struct linux_boot *out, char *err, size_t errlen);

#endif
