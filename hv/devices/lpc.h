/* The Q35 chipset pieces UEFI firmware programs: the MCH registers of the
 * host bridge (00:00.0, 8086:29c0) -- PCIEXBAR, PAM, SMRAM, ESMRAMC, TSEG --
 * and the ICH9 LPC bridge (00:1f.0, 8086:2918) with PMBASE and ACPI_CNTL,
 * which place the ACPI PM block.  SMM is not implemented: the SMRAM bits
 * read back what was written (until D_LCK) and never open anything. */
#ifndef ATOLL_LPC_H
#define ATOLL_LPC_H

#include <stdint.h>

struct vm;
struct pci_device;

/* MCH (host bridge) config registers. */
#define MCH_EXT_TSEG_MB   0x50   /* QEMU's extended TSEG size, 16 bits */
#define MCH_PCIEXBAR      0x60
#define MCH_PCIEXBAR_EN   0x1
#define MCH_PAM0          0x90
#define MCH_SMRAM         0x9d
#define MCH_SMRAM_D_LCK   0x10
#define MCH_ESMRAMC       0x9e
#define MCH_TOLUD         0xb0

/* ICH9 LPC config registers. */
#define LPC_DEVFN         (0x1f << 3)
#define LPC_PMBASE        0x40
#define LPC_ACPI_CNTL     0x44
#define LPC_ACPI_EN       0x80
#define LPC_PIRQA_ROUT    0x60
#define LPC_GEN_PMCON_1   0xa0
#define LPC_RCBA          0xf0

/* Make the host bridge a Q35 MCH for firmware: ECAM off until the
 * firmware programs PCIEXBAR, and the LPC bridge at 00:1f.0. */
int q35_create(struct vm *vm);
/* Frees what q35_create made (with the other devices, at VM teardown). */
void q35_destroy(struct vm *vm);
/* The MCH register write hook (exposed for tests). */
void q35_mch_cfg_write(struct pci_device *dev, uint32_t off, uint32_t len, uint32_t val);

#endif
