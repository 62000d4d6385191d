#include "irq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "vm.h"

#define IOAPIC_PINS 24
#define PIC_PINS 16

static int routing_add(struct vm *vm, const struct kvm_irq_routing_entry *e)
{
	struct kvm_irq_routing *r = vm->routing;
	uint32_t n = r ? r->nr : 0;
	size_t sz = sizeof(*r) + (n + 1) * sizeof(r->entries[0]);
	r = realloc(r, sz);
	if (!r)
		return -ENOMEM;
	if (!vm->routing)
		r->nr = r->flags = 0;
	r->entries[r->nr++] = *e;
	vm->routing = r;
	return 0;
}

static int routing_commit(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, vm->routing) < 0)
		return -errno;
	return 0;
}

int irq_init(struct vm *vm)
{
	int ret = 0;
	pthread_mutex_lock(&vm->gsi_lock);
	for (uint32_t pin = 0; pin < IOAPIC_PINS && !ret; pin++) {
		struct kvm_irq_routing_entry e = {
			.gsi = pin, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = pin },
		};
		ret = routing_add(vm, &e);
		if (pin < PIC_PINS && pin != 2 && !ret) {
			e.u.irqchip.irqchip = pin < 8 ? KVM_IRQCHIP_PIC_MASTER
						      : KVM_IRQCHIP_PIC_SLAVE;
			e.u.irqchip.pin = pin % 8;
			ret = routing_add(vm, &e);
		}
	}
	vm->next_gsi = IOAPIC_PINS;
	if (!ret)
		ret = routing_commit(vm);
	pthread_mutex_unlock(&vm->gsi_lock);
	return ret;
}

int irq_line(struct vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int irq_pulse(struct vm *vm, uint32_t gsi)
{
	int ret = irq_line(vm, gsi, 1);
	return ret ? ret : irq_line(vm, gsi, 0);
}

int msi_vector_init(struct vm *vm, struct msi_vector *v)
{
	memset(v, 0, sizeof(*v));
	v->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->eventfd < 0)
		return -errno;
	pthread_mutex_lock(&vm->gsi_lock);
	v->gsi = vm->next_gsi++;
	pthread_mutex_unlock(&vm->gsi_lock);
	struct kvm_irqfd irqfd = { .fd = (uint32_t)v->eventfd, .gsi = v->gsi };
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		int e = errno;
		close(v->eventfd);
		v->eventfd = -1;
		return -e;
	}
	return 0;
}

void msi_vector_destroy(struct vm *vm, struct msi_vector *v)
{
	if (v->eventfd < 0)
		return;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)v->eventfd, .gsi = v->gsi,
				   .flags = KVM_IRQFD_FLAG_DEASSIGN };
	ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
	close(v->eventfd);
	v->eventfd = -1;
}

int msi_vector_route(struct vm *vm, struct msi_vector *v, uint64_t addr,
		     uint32_t data)
{
	int ret = 0;
	struct kvm_irq_routing_entry e = {
		.gsi = v->gsi, .type = KVM_IRQ_ROUTING_MSI,
		.u.msi = { .address_lo = (uint32_t)addr,
			   .address_hi = (uint32_t)(addr >> 32), .data = data },
	};

	if (v->routed && v->addr == addr && v->data == data)
		return 0;
	pthread_mutex_lock(&vm->gsi_lock);
	struct kvm_irq_routing *r = vm->routing;
	uint32_t i;
	for (i = 0; i < r->nr; i++)
		if (r->entries[i].gsi == v->gsi)
			break;
	if (i < r->nr)
		r->entries[i] = e;
	else
		ret = routing_add(vm, &e);
	if (!ret)
		ret = routing_commit(vm);
	pthread_mutex_unlock(&vm->gsi_lock);
	if (ret) {
		log_error("cannot route MSI vector (GSI %u): %s", v->gsi, strerror(-ret));
		return ret;
	}
	v->addr = addr;
	v->data = data;
	v->routed = true;
	return 0;
}

void msi_vector_fire(struct msi_vector *v)
{
	uint64_t one = 1;
	if (v->eventfd >= 0 && write(v->eventfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("MSI vector GSI %u: eventfd write failed: %s", v->gsi, strerror(errno));
}
