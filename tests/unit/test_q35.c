/* The Q35 pieces UEFI firmware programs: PCIEXBAR moving ECAM, PMBASE and
 * ACPI_EN moving the ACPI PM block, SMRAM's lock, the 0xCF9 reset. */
#include <glib.h>

#include "boot/acpi.h"
#include "devices/lpc.h"
#include "devices/platform.h"
#include "testvm.h"

static uint32_t cfg_read(struct vm *vm, unsigned devfn, unsigned reg, unsigned len)
{
	uint8_t d[4];
	bus_data_set(d, 4, 0x80000000u | devfn << 8 | (reg & 0xfc));
	bus_access(&vm->io_bus, 0xcf8, d, 4, true);
	bus_access(&vm->io_bus, 0xcfc + (reg & 3), d, len, false);
	return (uint32_t)bus_data_get(d, len);
}

static void cfg_write(struct vm *vm, unsigned devfn, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t d[4];
	bus_data_set(d, 4, 0x80000000u | devfn << 8 | (reg & 0xfc));
	bus_access(&vm->io_bus, 0xcf8, d, 4, true);
	bus_data_set(d, len, v);
	bus_access(&vm->io_bus, 0xcfc + (reg & 3), d, len, true);
}

static uint32_t io_read(struct vm *vm, uint16_t port, unsigned len)
{
	uint8_t d[4] = { 0 };
	bus_access(&vm->io_bus, port, d, len, false);
	return (uint32_t)bus_data_get(d, len);
}

static void test_q35(void)
{
	struct vm vm;
	testvm_init(&vm, 64 << 20);
	g_assert_cmpint(acpi_pm_create(&vm), ==, 0);
	g_assert_cmpint(q35_create(&vm), ==, 0);

	g_assert_cmphex(cfg_read(&vm, 0, 0, 4), ==, 0x29c08086);
	g_assert_cmphex(cfg_read(&vm, LPC_DEVFN, 0, 4), ==, 0x29188086);
	/* ECAM is off until the firmware programs PCIEXBAR. */
	g_assert_cmphex(testvm_mmio_read(&vm, PCI_ECAM_BASE, 4), ==, 0xffffffff);
	cfg_write(&vm, 0, MCH_PCIEXBAR + 4, 4, 0);
	cfg_write(&vm, 0, MCH_PCIEXBAR, 4, 0xb0000000u | MCH_PCIEXBAR_EN);
	g_assert_cmphex(cfg_read(&vm, 0, MCH_PCIEXBAR, 4), ==, 0xb0000001);
	g_assert_cmphex(testvm_mmio_read(&vm, 0xb0000000, 4), ==, 0x29c08086);
	g_assert_cmphex(testvm_mmio_read(&vm, 0xb0000000 + (LPC_DEVFN << 12), 4), ==, 0x29188086);
	/* 64 buses (bits 2:1 = 2): the window shrinks. */
	cfg_write(&vm, 0, MCH_PCIEXBAR, 4, 0xb0000000u | 4 | MCH_PCIEXBAR_EN);
	g_assert_cmphex(testvm_mmio_read(&vm, 0xb0000000 + (64u << 20), 4), ==, 0xffffffff);
	g_assert_cmphex(testvm_mmio_read(&vm, 0xb0000000, 2), ==, 0x8086);
	/* Over RAM: refused, config space stays reachable through 0xCF8. */
	cfg_write(&vm, 0, MCH_PCIEXBAR, 4, 0x00000000u | MCH_PCIEXBAR_EN);
	g_assert_cmphex(testvm_mmio_read(&vm, 0xb0000000, 4), ==, 0xffffffff);
	g_assert_cmphex(cfg_read(&vm, 0, 0, 2), ==, 0x8086);
	/* Disabled again. */
	cfg_write(&vm, 0, MCH_PCIEXBAR, 4, 0xb0000000u);
	g_assert_cmphex(testvm_mmio_read(&vm, 0xb0000000, 4), ==, 0xffffffff);

	/* SMRAM: read back what is written, frozen by D_LCK. */
	cfg_write(&vm, 0, MCH_SMRAM, 1, 0x08);
	g_assert_cmphex(cfg_read(&vm, 0, MCH_SMRAM, 1), ==, 0x0a);
	cfg_write(&vm, 0, MCH_SMRAM, 1, 0x18);
	cfg_write(&vm, 0, MCH_SMRAM, 1, 0x00);
	g_assert_cmphex(cfg_read(&vm, 0, MCH_SMRAM, 1), ==, 0x1a);
	/* PAM registers keep their enables. */
	cfg_write(&vm, 0, MCH_PAM0 + 1, 1, 0xff);
	g_assert_cmphex(cfg_read(&vm, 0, MCH_PAM0 + 1, 1), ==, 0x33);

	/* PMBASE: bit 0 reads 1; the block moves only with ACPI_EN. */
	g_assert_cmphex(cfg_read(&vm, LPC_DEVFN, LPC_PMBASE, 4), ==, 0x1);
	cfg_write(&vm, LPC_DEVFN, LPC_PMBASE, 4, 0xb000 | 0x7f);
	g_assert_cmphex(cfg_read(&vm, LPC_DEVFN, LPC_PMBASE, 4), ==, 0xb001);
	g_assert_cmphex(io_read(&vm, 0xb004, 2), ==, 0xffff);        /* not yet */
	uint32_t before = io_read(&vm, ACPI_PM_TMR_PORT, 4);
	g_assert_cmphex(before, !=, 0xffffffff);
	cfg_write(&vm, LPC_DEVFN, LPC_ACPI_CNTL, 1, LPC_ACPI_EN);
	g_assert_cmphex(io_read(&vm, ACPI_PM_TMR_PORT, 4), ==, 0xffffffff);
	g_assert_cmphex(io_read(&vm, 0xb008, 4) & 0xff000000u, ==, 0);  /* 24-bit timer */
	/* Back where OVMF puts it. */
	cfg_write(&vm, LPC_DEVFN, LPC_PMBASE, 4, ACPI_PM_BASE);
	g_assert_cmphex(io_read(&vm, ACPI_PM_TMR_PORT, 4) & 0xff000000u, ==, 0);
	g_assert_cmphex(io_read(&vm, 0xb008, 4), ==, 0xffffffff);

	/* 0xCF9: SYS_RST kept, RST_CPU resets. */
	uint8_t d = 0x02;
	bus_access(&vm.io_bus, 0xcf9, &d, 1, true);
	g_assert_cmphex(io_read(&vm, 0xcf9, 1), ==, 0x02);
	g_assert_cmpint(atomic_load(&vm.exit_reason), ==, VM_RUNNING);
	d = 0x06;
	bus_access(&vm.io_bus, 0xcf9, &d, 1, true);
	g_assert_cmpint(atomic_load(&vm.exit_reason), ==, VM_EXIT_REBOOT);
	/* The CF8 address register still only takes dwords. */
	g_assert_cmphex(cfg_read(&vm, 0, 0, 4), ==, 0x29c08086);
	q35_destroy(&vm);
	acpi_pm_destroy(&vm);
	testvm_destroy(&vm);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/q35/registers", test_q35);
	return g_test_run();
}
