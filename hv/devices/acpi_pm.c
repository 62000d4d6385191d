/* ACPI fixed hardware: PM1 event/control registers, PM timer and the FADT
 * reset register, all in the I/O block at ACPI_PM_BASE.  The register
 * logic (acpi_pm_regs_*) knows nothing about the VM; the device glue below
 * turns its results into SCI levels, poweroff and reset. */
#include "platform.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../boot/acpi.h"
#include "../bus.h"
#include "../irq.h"
#include "../log.h"
#include "../vm.h"

#define PM_STS_OFF  (ACPI_PM1A_EVT_PORT - ACPI_PM_BASE)
#define PM_EN_OFF   (PM_STS_OFF + 2)
#define PM_CNT_OFF  (ACPI_PM1A_CNT_PORT - ACPI_PM_BASE)
#define PM_TMR_OFF  (ACPI_PM_TMR_PORT - ACPI_PM_BASE)
#define PM_RST_OFF  (ACPI_RESET_PORT - ACPI_PM_BASE)

_Static_assert(PM_EN_OFF + 2 <= ACPI_PM_LEN && PM_CNT_OFF + 2 <= ACPI_PM_LEN &&
	       PM_TMR_OFF + 4 <= ACPI_PM_LEN && PM_RST_OFF < ACPI_PM_LEN,
	       "ACPI PM registers must lie inside the PM block");

/* Status bits the hardware defines; the rest read 0. */
#define PM1_STS_MASK (ACPI_PM1_TMR_STS | ACPI_PM1_GBL_STS | ACPI_PM1_PWRBTN_STS | \
		      ACPI_PM1_SLPBTN_STS | ACPI_PM1_RTC_STS | ACPI_PM1_WAK_STS)
/* Enable bits are kept as written (TMR, GBL, PWRBTN, SLPBTN, RTC,
 * PCIEXP_WAKE_DIS) because ACPICA reads an enable back to decide whether
 * the event exists ("Could not enable ... event"); only the power button
 * ever raises status here. */
#define PM1_EN_MASK  0x4721u
/* BM_RLD and SLP_TYP keep their value; SCI_EN is hardwired to 1 (no SMI
 * command port, ACPI mode only), GBL_RLS and SLP_EN are write-only. */
#define PM1_CNT_KEEP ((1u << 1) | ACPI_PM1_CNT_SLP_TYP)

struct acpi_pm {
	struct vm *vm;
	pthread_mutex_t lock;
	struct acpi_pm_regs regs;
	bool sci_level;           /* last level given to irq_line */
	struct timespec t0;       /* PM timer epoch */
	uint16_t base;            /* I/O base (q35's PMBASE may move it) */
};

void acpi_pm_regs_init(struct acpi_pm_regs *r)
{
	memset(r, 0, sizeof(*r));
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

void acpi_pm_regs_read(const struct acpi_pm_regs *r, uint32_t timer,
		       uint64_t offset, uint8_t *data, uint32_t len)
{
	uint8_t img[ACPI_PM_LEN] = { 0 };

	put16(img + PM_STS_OFF, r->sts);
	put16(img + PM_EN_OFF, r->en);
	put16(img + PM_CNT_OFF, (uint16_t)(r->cnt | ACPI_PM1_CNT_SCI_EN));
	timer &= 0xffffff;
	put16(img + PM_TMR_OFF, (uint16_t)timer);
	put16(img + PM_TMR_OFF + 2, (uint16_t)(timer >> 16));
	for (uint32_t i = 0; i < len; i++)
		data[i] = offset < ACPI_PM_LEN && i < ACPI_PM_LEN - offset ?
			img[offset + i] : 0xff;
}

/* SLP_EN written: only S5 exists (the DSDT declares no other \_Sx).
 * Sleep type 0 is taken as S5 too: OVMF's ResetSystem(Shutdown) writes 0
 * without reading the DSDT (QEMU's q35 \_S5 value), and no OS asks for
 * sleep type 0 for anything else. */
static unsigned pm1_sleep(struct acpi_pm_regs *r, unsigned typ)
{
	if (typ == ACPI_SLP_TYP_S5 || typ == 0)
		return ACPI_PM_ACT_POWEROFF;
	if (!r->warned_slp_typ) {
		log_warn("guest requested ACPI sleep type %u, which this VM does "
			 "not offer (only S5 poweroff); ignoring it", typ);
		r->warned_slp_typ = true;
	}
	return 0;
}

unsigned acpi_pm_regs_write(struct acpi_pm_regs *r, uint64_t offset,
			    const uint8_t *data, uint32_t len)
{
	uint8_t val[ACPI_PM_LEN] = { 0 }, mask[ACPI_PM_LEN] = { 0 };
	unsigned act = 0;

	/* Scatter the access into a byte image so every register sees the
	 * bytes that hit it whatever the access width and alignment. */
	for (uint32_t i = 0; i < len; i++) {
		if (offset >= ACPI_PM_LEN || i >= ACPI_PM_LEN - offset)
			break;
		val[offset + i] = data[i];
		mask[offset + i] = 0xff;
	}

	uint16_t m = get16(mask + PM_STS_OFF);
	r->sts &= (uint16_t)~(get16(val + PM_STS_OFF) & m);

	m = get16(mask + PM_EN_OFF);
	r->en = (uint16_t)((r->en & ~m) | (get16(val + PM_EN_OFF) & m & PM1_EN_MASK));

	m = get16(mask + PM_CNT_OFF);
	if (m) {
		uint16_t v = get16(val + PM_CNT_OFF) & m;
		uint16_t cnt = (uint16_t)((r->cnt & ~m) | v);
		r->cnt = cnt & PM1_CNT_KEEP;
		if (v & ACPI_PM1_CNT_SLP_EN)
			act |= pm1_sleep(r, (cnt & ACPI_PM1_CNT_SLP_TYP) >>
					    ACPI_PM1_CNT_SLP_TYP_SHIFT);
	}

	if (mask[PM_RST_OFF] && val[PM_RST_OFF] == ACPI_RESET_VALUE)
		act |= ACPI_PM_ACT_RESET;
	return act;
}

void acpi_pm_regs_power_button(struct acpi_pm_regs *r)
{
	r->sts |= ACPI_PM1_PWRBTN_STS;
}

bool acpi_pm_regs_sci(const struct acpi_pm_regs *r)
{
	return (r->sts & r->en & PM1_STS_MASK) != 0;
}

uint32_t acpi_pm_timer_ticks(uint64_t ns)
{
	/* Split so the product cannot overflow for any uptime. */
	uint64_t t = ns / 1000000000u * ACPI_PM_TIMER_HZ +
		     ns % 1000000000u * ACPI_PM_TIMER_HZ / 1000000000u;
	return (uint32_t)(t & 0xffffff);
}

static uint32_t acpi_pm_timer_now(const struct acpi_pm *pm)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t ns = (uint64_t)(now.tv_sec - pm->t0.tv_sec) * 1000000000u +
		      (uint64_t)now.tv_nsec - (uint64_t)pm->t0.tv_nsec;
	return acpi_pm_timer_ticks(ns);
}

/* Called with pm->lock held, so line changes reach KVM in order. */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	bool level = acpi_pm_regs_sci(&pm->regs);

	if (level == pm->sci_level)
		return;
	int ret = irq_line(pm->vm, ACPI_SCI_IRQ, level);
	if (ret < 0) {
		log_warn("ACPI SCI (IRQ %d) could not be %s: %s", ACPI_SCI_IRQ,
			 level ? "raised" : "lowered", strerror(-ret));
		return;
	}
	pm->sci_level = level;
}

static void acpi_pm_access(void *opaque, uint64_t offset, uint8_t *data,
			   uint32_t len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	unsigned act = 0;

	pthread_mutex_lock(&pm->lock);
	if (is_write) {
		act = acpi_pm_regs_write(&pm->regs, offset, data, len);
		acpi_pm_update_sci(pm);
	} else {
		acpi_pm_regs_read(&pm->regs, acpi_pm_timer_now(pm), offset,
				  data, len);
	}
	pthread_mutex_unlock(&pm->lock);

	if (act & ACPI_PM_ACT_POWEROFF)
		vm_request_exit(pm->vm, VM_EXIT_POWEROFF);
	if (act & ACPI_PM_ACT_RESET)
		vm_request_reset(pm->vm);
}

int acpi_pm_create(struct vm *vm)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));

	if (!pm) {
		log_error("ACPI PM device: out of memory");
		return -ENOMEM;
	}
	pm->vm = vm;
	pthread_mutex_init(&pm->lock, NULL);
	acpi_pm_regs_init(&pm->regs);
	clock_gettime(CLOCK_MONOTONIC, &pm->t0);

	int ret = bus_register(&vm->io_bus, ACPI_PM_BASE, ACPI_PM_LEN,
			       acpi_pm_access, pm, "acpi-pm");
	if (ret < 0) {
		log_error("ACPI PM device: cannot claim I/O ports 0x%x-0x%x: %s",
			  ACPI_PM_BASE, ACPI_PM_BASE + ACPI_PM_LEN - 1,
			  strerror(-ret));
		pthread_mutex_destroy(&pm->lock);
		free(pm);
		return ret;
	}
	pm->base = ACPI_PM_BASE;
	vm->acpi_pm = pm;
	return 0;
}

int acpi_pm_move(struct vm *vm, uint16_t base)
{
	struct acpi_pm *pm = vm->acpi_pm;

	if (!pm || base == pm->base)
		return pm ? 0 : -ENODEV;
	int ret = bus_register(&vm->io_bus, base, ACPI_PM_LEN, acpi_pm_access, pm,
			       "acpi-pm");
	if (ret)
		return ret;
	bus_unregister(&vm->io_bus, pm->base);
	pm->base = base;
	return 0;
}

void acpi_pm_reset(struct vm *vm)
{
	struct acpi_pm *pm = vm->acpi_pm;

	if (!pm)
		return;
	pthread_mutex_lock(&pm->lock);
	acpi_pm_regs_init(&pm->regs);
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_destroy(struct vm *vm)
{
	struct acpi_pm *pm = vm->acpi_pm;

	if (!pm)
		return;
	bus_unregister(&vm->io_bus, pm->base);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
	vm->acpi_pm = NULL;
}

void acpi_pm_power_button(struct vm *vm)
{
	struct acpi_pm *pm = vm->acpi_pm;

	if (!pm) {
		log_warn("no ACPI PM device to press the power button on");
		return;
	}
	pthread_mutex_lock(&pm->lock);
	acpi_pm_regs_power_button(&pm->regs);
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}
