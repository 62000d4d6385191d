/* Q35 as OVMF sees it (see lpc.h).  The firmware identifies the chipset by
 * the host bridge id, programs PCIEXBAR and then reaches config space only
 * through ECAM, enables the ICH9 ACPI block through PMBASE/ACPI_CNTL and
 * resets through 0xCF9 (pci/host.c).  Registers that only matter to SMM
 * keep their values so the firmware reads back what it wrote. */
#include "lpc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../memory.h"
#include "../pci/pci.h"
#include "../vm.h"
#include "platform.h"

struct lpc {
	struct pci_device pci;
	struct vm *vm;
	uint16_t pm_base;        /* where the ACPI PM block decodes now */
	bool warned;             /* PM block complaints: once */
};

static uint32_t cfg32(const struct pci_device *d, uint32_t off)
{
	return (uint32_t)d->cfg[off] | (uint32_t)d->cfg[off + 1] << 8 |
	       (uint32_t)d->cfg[off + 2] << 16 | (uint32_t)d->cfg[off + 3] << 24;
}

static bool touches(uint32_t off, uint32_t len, uint32_t reg, uint32_t rlen)
{
	return off < reg + rlen && off + len > reg;
}

/* PCIEXBAR: bits 2:1 pick 256/128/64 buses, the base is aligned to the
 * window's size. */
static void mch_update_ecam(struct pci_device *dev)
{
	uint64_t v = (uint64_t)cfg32(dev, MCH_PCIEXBAR + 4) << 32 | cfg32(dev, MCH_PCIEXBAR);
	uint64_t len = 0, base = 0;

	if (v & MCH_PCIEXBAR_EN) {
		switch ((v >> 1) & 3) {
		case 0: len = 256ULL << 20; break;
		case 1: len = 128ULL << 20; break;
		case 2: len = 64ULL << 20; break;
		default: len = 0; break;   /* reserved encoding: decode nothing */
		}
		base = v & ~(len - 1) & 0x7fffffffffULL;
	}
	int ret = pci_host_set_ecam(dev->host, base, len);
	static _Atomic bool warned;   /* one line, however often the guest tries */
	if (ret && !atomic_exchange(&warned, true))
		log_warn("q35: PCIEXBAR 0x%llx puts ECAM over RAM or a device (%s); "
			 "config space stays reachable through 0xCF8/0xCFC only",
			 (unsigned long long)v, strerror(-ret));
	else if (len)
		log_debug("q35: ECAM at 0x%llx, %llu buses", (unsigned long long)base,
			  (unsigned long long)(len >> 20));
}

void q35_mch_cfg_write(struct pci_device *dev, uint32_t off, uint32_t len, uint32_t val)
{
	(void)val;
	if (touches(off, len, MCH_PCIEXBAR, 8))
		mch_update_ecam(dev);
	/* D_LCK freezes SMRAM's writable bits, as on the real MCH. */
	if (touches(off, len, MCH_SMRAM, 1) && (dev->cfg[MCH_SMRAM] & MCH_SMRAM_D_LCK)) {
		pci_device_set_wmask(dev, MCH_SMRAM, 1, 0);
		pci_device_set_wmask(dev, MCH_ESMRAMC, 1, 0);
	}
}

static void mch_init(struct pci_device *mch, uint64_t low_ram)
{
	/* PCIEXBAR off at reset: firmware picks the base. */
	pci_device_set_wmask(mch, MCH_PCIEXBAR, 4, 0xfc000007);
	pci_device_set_wmask(mch, MCH_PCIEXBAR + 4, 4, 0x7f);
	pci_device_set_wmask(mch, MCH_EXT_TSEG_MB, 2, 0xffff);
	/* QEMU answers 0 here: no extended TSEG, the firmware then uses the
	 * ESMRAMC sizes it never gets to open anyway. */
	for (int i = 0; i < 7; i++)
		pci_device_set_wmask(mch, MCH_PAM0 + (uint32_t)i, 1, i ? 0x33 : 0x30);
	mch->cfg[MCH_SMRAM] = 0x02;         /* C_BASE_SEG: compatible SMRAM */
	pci_device_set_wmask(mch, MCH_SMRAM, 1, 0x78);
	mch->cfg[MCH_ESMRAMC] = 0x38;       /* caches on, TSEG off */
	pci_device_set_wmask(mch, MCH_ESMRAMC, 1, 0x07);
	/* TOLUD: top of low usable DRAM, 1 MiB granularity in bits 15:4. */
	uint16_t tolud = (uint16_t)((low_ram >> 20) << 4);
	mch->cfg[MCH_TOLUD] = (uint8_t)tolud;
	mch->cfg[MCH_TOLUD + 1] = (uint8_t)(tolud >> 8);
	mch->cfg_write = q35_mch_cfg_write;
}

static void lpc_update_pm(struct lpc *lpc)
{
	struct pci_device *d = &lpc->pci;
	uint16_t base = (uint16_t)(cfg32(d, LPC_PMBASE) & 0xff80);

	if (!(d->cfg[LPC_ACPI_CNTL] & LPC_ACPI_EN) || base == 0 || base == lpc->pm_base)
		return;
	if (acpi_pm_move(lpc->vm, base)) {
		if (lpc->warned)
			return;
		lpc->warned = true;
		log_warn("q35: PMBASE 0x%x overlaps other I/O ports; the ACPI PM block "
			 "stays at 0x%x", base, lpc->pm_base);
		return;
	}
	if (base != ACPI_PM_BASE && !lpc->warned) {
		lpc->warned = true;
		log_warn("q35: the guest moved the ACPI PM block to 0x%x; the FADT "
			 "still names 0x%x (not logged again)", base, ACPI_PM_BASE);
	}
	lpc->pm_base = base;
}

static void lpc_cfg_write(struct pci_device *dev, uint32_t off, uint32_t len, uint32_t val)
{
	(void)val;
	if (touches(off, len, LPC_PMBASE, 4) || touches(off, len, LPC_ACPI_CNTL, 1))
		lpc_update_pm(dev->opaque);
}

int q35_create(struct vm *vm)
{
	struct pci_host *host = vm->pci;

	mch_init(&host->bridge, vm->mem.low_size);
	/* Like the real MCH after reset: no ECAM until PCIEXBAR is set. */
	pci_host_set_ecam(host, 0, 0);

	struct lpc *lpc = calloc(1, sizeof(*lpc));
	if (!lpc)
		return -ENOMEM;
	lpc->vm = vm;
	lpc->pm_base = ACPI_PM_BASE;
	struct pci_device *d = &lpc->pci;
	pci_device_init(d, "ich9-lpc", 0x8086, 0x2918, 0x060100, 2, 0x1af4, 0x1100);
	d->opaque = lpc;
	d->cfg_write = lpc_cfg_write;
	d->cfg[LPC_PMBASE] = 0x01;            /* I/O space indicator, read-only */
	pci_device_set_wmask(d, LPC_PMBASE, 4, 0xff80);
	pci_device_set_wmask(d, LPC_ACPI_CNTL, 1, 0x87);
	pci_device_set_wmask(d, LPC_PIRQA_ROUT, 4, 0x8f8f8f8f);
	pci_device_set_wmask(d, LPC_PIRQA_ROUT + 8, 4, 0x8f8f8f8f);
	for (int i = 0; i < 4; i++) {
		d->cfg[LPC_PIRQA_ROUT + i] = 0x80;   /* routing disabled */
		d->cfg[LPC_PIRQA_ROUT + 8 + i] = 0x80;
	}
	pci_device_set_wmask(d, LPC_GEN_PMCON_1, 2, 0xffff);
	pci_device_set_wmask(d, LPC_RCBA, 4, 0xffffc001);
	int ret = pci_host_add(host, d, LPC_DEVFN);
	if (ret < 0) {
		free(lpc);
		return ret;
	}
	vm->lpc = lpc;
	return 0;
}

void q35_destroy(struct vm *vm)
{
	free(vm->lpc);
	vm->lpc = NULL;
}
