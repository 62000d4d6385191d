/* Interrupt delivery into the in-kernel irqchip: legacy lines (IOAPIC/PIC)
 * and MSI vectors routed through KVM GSI routing and irqfd. */
#ifndef ATOLL_IRQ_H
#define ATOLL_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* One MSI/MSI-X vector: a GSI routed to (addr, data) with an irqfd. */
struct msi_vector {
	uint32_t gsi;   /* allocated by msi_vector_init */
	int eventfd;    /* writing 1 injects the interrupt */
	uint64_t addr;
	uint32_t data;
	bool routed;    /* a route is installed for addr/data */
};

/* Install the default routes (GSI 0-23 to IOAPIC pins, 0-15 to the PIC)
 * after KVM_CREATE_IRQCHIP. */
int irq_init(struct vm *vm);

/* Assert (level 1) or deassert a legacy interrupt line (GSI 0-23). */
int irq_line(struct vm *vm, uint32_t gsi, int level);
/* Pulse an edge-triggered legacy line. */
int irq_pulse(struct vm *vm, uint32_t gsi);

int msi_vector_init(struct vm *vm, struct msi_vector *v);
void msi_vector_destroy(struct vm *vm, struct msi_vector *v);
/* Install (or change) the message the vector sends. */
int msi_vector_route(struct vm *vm, struct msi_vector *v, uint64_t addr,
		     uint32_t data);
/* Inject the vector now (from any thread). */
void msi_vector_fire(struct msi_vector *v);

#endif
