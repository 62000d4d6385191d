/* ACPI tables describing the platform: RSDP, XSDT, FADT (with FACS and
 * DSDT), MADT, MCFG.  The DSDT carries the PCI root bridge (PNP0A08 with
 * its resource windows), \_S5 for poweroff and the COM1 device; the power
 * button is FADT fixed hardware. */
#ifndef ATOLL_ACPI_H
#define ATOLL_ACPI_H

#include <stdbool.h>
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
 * is placed first (16-byte aligned), so the RSDP address is `gpa`.
 * Returns the bytes used, or 0 (with the reason logged) if buf is too
 * small or the platform cannot be described: 1-254 vCPUs, the 32-bit
 * window and the whole buffer below 4 GiB, gpa 16-byte aligned. */
size_t acpi_build(const struct acpi_platform *p, uint8_t *buf, size_t len,
		  uint64_t gpa);

/* The same tables for firmware that places them itself (UEFI through
 * fw_cfg's table loader): built at offset 0 of buf without an RSDP;
 * `lay` lists every pointer between tables (an offset into buf, to be
 * relocated by buf's final address) and every checksum to recompute.
 * Returns the bytes used or 0 (logged). */
#define ACPI_LAYOUT_MAX 16
#define ACPI_RSDP_LEN   36
struct acpi_link { uint32_t offset; uint8_t size; };
struct acpi_sum { uint32_t start, len, result; };
struct acpi_layout {
	struct acpi_link ptrs[ACPI_LAYOUT_MAX];
	unsigned n_ptrs;
	struct acpi_sum sums[ACPI_LAYOUT_MAX];
	unsigned n_sums;
	uint32_t xsdt;          /* offset of the XSDT, for the RSDP */
};
size_t acpi_build_tables(const struct acpi_platform *p, uint8_t *buf, size_t len,
			 struct acpi_layout *lay);
/* An ACPI 2.0 RSDP naming `xsdt`, checksums filled in. */
void acpi_build_rsdp(uint8_t rsdp[ACPI_RSDP_LEN], uint64_t xsdt);

/* Checksum byte such that the sum of buf[0..len) is 0 mod 256. */
uint8_t acpi_checksum(const uint8_t *buf, size_t len);

/* ACPI fixed-hardware registers (the block at ACPI_PM_BASE that the FADT
 * describes, see devices/platform.h): the register state machine behind
 * devices/acpi_pm.c, kept free of any VM so it can be tested on its own.
 * Offsets are relative to ACPI_PM_BASE; accesses of any width and offset
 * are accepted, bytes outside the block read 0xff and are dropped. */
#define ACPI_PM1_TMR_STS     (1u << 0)
#define ACPI_PM1_GBL_STS     (1u << 5)
#define ACPI_PM1_PWRBTN_STS  (1u << 8)
#define ACPI_PM1_SLPBTN_STS  (1u << 9)
#define ACPI_PM1_RTC_STS     (1u << 10)
#define ACPI_PM1_WAK_STS     (1u << 15)
#define ACPI_PM1_PWRBTN_EN   (1u << 8)
#define ACPI_PM1_CNT_SCI_EN  (1u << 0)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP (7u << ACPI_PM1_CNT_SLP_TYP_SHIFT)
#define ACPI_PM1_CNT_SLP_EN  (1u << 13)
#define ACPI_PM_TIMER_HZ     3579545u

struct acpi_pm_regs {
	uint16_t sts;   /* PM1 status, write 1 to clear */
	uint16_t en;    /* PM1 enable */
	uint16_t cnt;   /* PM1 control, without the write-only SLP_EN */
	bool warned_slp_typ;
};

/* What a register write asks of the VM, as a bit set. */
enum acpi_pm_action {
	ACPI_PM_ACT_POWEROFF = 1u << 0,  /* SLP_EN with SLP_TYP = S5 */
	ACPI_PM_ACT_RESET    = 1u << 1,  /* ACPI_RESET_VALUE to RESET_REG */
};

void acpi_pm_regs_init(struct acpi_pm_regs *r);
/* `timer` is the current 24-bit PM timer value. */
void acpi_pm_regs_read(const struct acpi_pm_regs *r, uint32_t timer,
		       uint64_t offset, uint8_t *data, uint32_t len);
/* Returns a set of enum acpi_pm_action. */
unsigned acpi_pm_regs_write(struct acpi_pm_regs *r, uint64_t offset,
			    const uint8_t *data, uint32_t len);
void acpi_pm_regs_power_button(struct acpi_pm_regs *r);
/* Level of the SCI line: some enabled event is pending. */
bool acpi_pm_regs_sci(const struct acpi_pm_regs *r);
/* PM timer value (24 bits at ACPI_PM_TIMER_HZ) after `ns` nanoseconds. */
uint32_t acpi_pm_timer_ticks(uint64_t ns);

struct vm;
/* Back to power-on state (status and enables clear, SCI low), for a
 * reboot that keeps the VM.  Any thread, not from a signal handler. */
void acpi_pm_reset(struct vm *vm);
/* Unregister and free the device acpi_pm_create made (vm->acpi_pm). */
void acpi_pm_destroy(struct vm *vm);

#endif
