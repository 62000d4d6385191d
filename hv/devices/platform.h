/* Legacy platform devices: 16550A UART, CMOS RTC, i8042 (reset line and,
 * later, PS/2 keyboard), ACPI power management registers. */
#ifndef ATOLL_PLATFORM_H
#define ATOLL_PLATFORM_H

#include <stdint.h>

#include "../config.h"

struct vm;

#define COM1_PORT 0x3f8
#define COM1_IRQ  4

/* ACPI fixed hardware, one I/O region (mirrors OVMF's q35 PMBASE). */
#define ACPI_PM_BASE        0x600
#define ACPI_PM_LEN         0x10
#define ACPI_PM1A_EVT_PORT  (ACPI_PM_BASE + 0x0)  /* status(2) + enable(2) */
#define ACPI_PM1A_CNT_PORT  (ACPI_PM_BASE + 0x4)  /* control(2) */
#define ACPI_PM_TMR_PORT    (ACPI_PM_BASE + 0x8)  /* 24-bit timer(4) */
#define ACPI_RESET_PORT     (ACPI_PM_BASE + 0xc)  /* FADT RESET_REG (1) */
#define ACPI_RESET_VALUE    0x06
#define ACPI_SCI_IRQ        9
#define ACPI_SLP_TYP_S5     5   /* value in the DSDT's \_S5 package */

int serial_create(struct vm *vm, const struct chardev_config *cfg,
		  uint16_t port, uint32_t irq);
int rtc_create(struct vm *vm);
int i8042_create(struct vm *vm);
int acpi_pm_create(struct vm *vm);
/* Move the PM block to I/O `base` (q35 PMBASE); 0 or -errno. */
int acpi_pm_move(struct vm *vm, uint16_t base);
/* Press the power button (SIGTERM path): sets PWRBTN_STS, raises the SCI
 * if the guest enabled it.  Any thread. */
void acpi_pm_power_button(struct vm *vm);

#endif
