/* MSI-X for emulated (and later passed-through) PCI devices: the capability,
 * the vector table and the pending bits, with each vector routed through
 * KVM GSI routing and an irqfd. */
#ifndef ATOLL_MSIX_H
#define ATOLL_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../irq.h"

struct pci_device;
struct vm;

#define MSIX_MAX_VECTORS 2048
#define MSIX_NO_VECTOR   0xffff

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;  /* ctrl bit 0 = masked */
};

struct msix {
	struct pci_device *dev;
	struct vm *vm;
	pthread_mutex_t lock;
	uint16_t nvec;
	int cap;                    /* capability offset in config space */
	int bar;
	uint32_t table_off, pba_off;  /* within the BAR */
	struct msix_entry *table;
	uint64_t *pba;
	struct msi_vector *vec;
};

/* Add the capability to dev (before pci_host_add) and allocate vectors. */
int msix_init(struct msix *m, struct pci_device *dev, struct vm *vm,
	      uint16_t nvec, int bar, uint32_t table_off, uint32_t pba_off);
void msix_destroy(struct msix *m);
/* Size in bytes the table and PBA need. */
uint32_t msix_table_size(uint16_t nvec);
uint32_t msix_pba_size(uint16_t nvec);

/* BAR handlers call these for accesses inside the table / PBA; `off` is
 * relative to the table (or PBA) start. */
void msix_table_access(struct msix *m, uint64_t off, uint8_t *data,
		       uint32_t len, bool is_write);
void msix_pba_access(struct msix *m, uint64_t off, uint8_t *data,
		     uint32_t len, bool is_write);
/* The device's cfg_write hook forwards here. */
void msix_cfg_write(struct msix *m, uint32_t off, uint32_t len, uint32_t val);

bool msix_enabled(struct msix *m);
/* Signal `vector` (sets its pending bit if masked).  Any thread. */
void msix_notify(struct msix *m, uint16_t vector);

#endif
