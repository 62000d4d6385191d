/* Guest physical memory: the one place that turns guest addresses into host
 * pointers.  Every device reaches guest RAM through guest_ptr(), which fails
 * instead of returning a pointer that would reach outside the guest. */
#ifndef ATOLL_MEMORY_H
#define ATOLL_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Physical address map (see docs/architecture.md, "Guest memory map"). */
#define GUEST_LOW_RAM_MAX     0xC0000000ULL  /* RAM below the 32-bit hole */
#define GUEST_HIGH_RAM_BASE   0x100000000ULL /* the rest of RAM above 4 GiB */
#define PCI_MMIO32_BASE       0xC0000000ULL  /* 32-bit BARs */
#define PCI_MMIO32_SIZE       0x20000000ULL
#define PCI_ECAM_BASE         0xE0000000ULL  /* PCIe config space, buses 0-255 */
#define PCI_ECAM_SIZE         0x10000000ULL
#define IOAPIC_BASE           0xFEC00000ULL
#define LAPIC_BASE            0xFEE00000ULL
#define FIRMWARE_FLASH_TOP    0x100000000ULL /* firmware flash ends at 4 GiB */
#define PCI_MMIO64_ALIGN      (32ULL << 30)  /* 64-bit window starts aligned */
#define PCI_MMIO64_SIZE       (64ULL << 30)  /* room for large GPU BARs */

struct guest_memory {
	uint8_t *host;      /* one mapping for all RAM: low part then high */
	uint64_t size;      /* total RAM bytes */
	uint64_t low_size;  /* RAM at GPA 0 .. low_size */
	uint64_t high_size; /* RAM at GUEST_HIGH_RAM_BASE .. + high_size */
	bool owned;         /* host mapping was mmapped by guest_memory_init */
};

/* Allocate `size` bytes of anonymous guest RAM and lay it out. */
int guest_memory_init(struct guest_memory *gm, uint64_t size);
/* The same with RAM below 4 GiB ending at low_max at the latest (UEFI:
 * the firmware's ECAM sits right above it). */
int guest_memory_init_split(struct guest_memory *gm, uint64_t size, uint64_t low_max);
/* Lay out an existing buffer as guest RAM (tests, fuzzers). */
void guest_memory_wrap(struct guest_memory *gm, void *buf, uint64_t size);
void guest_memory_free(struct guest_memory *gm);

/* Host pointer for [gpa, gpa+len) if that whole range is guest RAM in one
 * region, else NULL.  Overflow-safe; len 0 is treated as 1. */
void *guest_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len);

/* Copy helpers built on guest_ptr: 0 on success, -EFAULT otherwise. */
int guest_read(const struct guest_memory *gm, uint64_t gpa, void *dst, uint64_t len);
int guest_write(const struct guest_memory *gm, uint64_t gpa, const void *src, uint64_t len);

/* First GPA above RAM, used to place the 64-bit PCI window. */
uint64_t guest_memory_top(const struct guest_memory *gm);
uint64_t guest_mmio64_base(const struct guest_memory *gm);

#endif
