/* ACPI tables describing the platform: RSDP, XSDT, FADT (with FACS and
 * DSDT), MADT, MCFG.  The DSDT carries the PCI root bridge (PNP0A08 with
 * its resource windows), \_S5 for poweroff and the COM1 device; the power
 * button is FADT fixed hardware. */
#ifndef ATOLL_ACPI_H
#define ATOLL_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct acpi_platform {
	unsigned n_cpus;            /* APIC ids 0..n_cpus-1 */
	uint64_t ecam_base;         /* MCFG, bus 0..ecam_bus_end */
	uint8_t ecam_bus_end;
	uint64_t mmio32_base, mmio32_size;  /* root bridge windows (_CRS) */
	uint64_t mmio64_base, mmio64_size;
	uint32_t ioapic_addr;
	uint32_t lapic_addr;
};

/* Build all tables into buf, which the guest will see at guest address
 * `gpa`; pointers between tables are absolute guest addresses.  The RSDP
 * is placed first (16-byte aligned).  Returns the bytes used, or 0 if buf
 * is too small. */
size_t acpi_build(const struct acpi_platform *p, uint8_t *buf, size_t len,
		  uint64_t gpa);

/* Checksum byte such that the sum of buf[0..len) is 0 mod 256. */
uint8_t acpi_checksum(const uint8_t *buf, size_t len);

#endif
