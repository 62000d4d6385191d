/* A VM for unit tests: buses, guest RAM, the event loop and the PCI host,
 * but no KVM (vm_fd -1), so ioeventfd/irqfd calls fail and the trapped
 * paths are used.  Device models run on it unchanged. */
#ifndef ATOLL_TESTVM_H
#define ATOLL_TESTVM_H

#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "pci/pci.h"
#include "virtio/virtio.h"
#include "vm.h"

static inline void testvm_init(struct vm *vm, uint64_t mem_bytes)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->exit_wake_fd = -1;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->io_bus, "io");
	bus_init(&vm->mmio_bus, "mmio");
	g_assert_cmpint(evloop_init(&vm->loop), ==, 0);
	g_assert_cmpint(guest_memory_init(&vm->mem, mem_bytes), ==, 0);
	vm->pci = g_new0(struct pci_host, 1);
	g_assert_cmpint(pci_host_init(vm->pci, vm), ==, 0);
}

static inline void testvm_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->n_virtio; i++)
		virtio_pci_destroy(vm->virtio_devs[i]);
	vm->n_virtio = 0;
	evloop_destroy(&vm->loop);
	bus_destroy(&vm->io_bus);
	bus_destroy(&vm->mmio_bus);
	guest_memory_free(&vm->mem);
	g_free(vm->pci);
	vm->pci = NULL;
}

static inline uint32_t testvm_mmio_read(struct vm *vm, uint64_t addr, uint32_t len)
{
	uint8_t d[8];
	bus_access(&vm->mmio_bus, addr, d, len, false);
	return (uint32_t)bus_data_get(d, len);
}

static inline void testvm_mmio_write(struct vm *vm, uint64_t addr, uint32_t len, uint64_t v)
{
	uint8_t d[8];
	bus_data_set(d, len, v);
	bus_access(&vm->mmio_bus, addr, d, len, true);
}

static inline void testvm_stop_loop(void *opaque, uint32_t events)
{
	(void)events;
	evloop_stop(opaque);
}

/* Run the event loop for `ms` milliseconds. */
static inline void testvm_pump(struct vm *vm, unsigned ms)
{
	struct evloop_watch *t = evloop_timer(&vm->loop, ms, false, testvm_stop_loop, &vm->loop);
	g_assert_nonnull(t);
	vm->loop.stop = false;
	evloop_run(&vm->loop);
	evloop_remove(&vm->loop, t);
}

/* A minimal guest driver for device tests: register access relative to a
 * virtio device's BAR 0, queue setup and buffer posting, as a driver does. */
#define TESTVM_QSZ 16

static inline void testvm_dev_write(struct vm *vm, struct virtio_device *dev,
				    uint64_t off, uint32_t len, uint64_t v)
{
	testvm_mmio_write(vm, dev->pci.bars[0].addr + off, len, v);
}

static inline uint64_t testvm_dev_read(struct vm *vm, struct virtio_device *dev,
				       uint64_t off, uint32_t len)
{
	return testvm_mmio_read(vm, dev->pci.bars[0].addr + off, len);
}

/* Select queue q, give it TESTVM_QSZ entries at the given rings, enable. */
static inline void testvm_queue_setup(struct vm *vm, struct virtio_device *dev, uint16_t q,
				      uint64_t desc, uint64_t avail, uint64_t used)
{
	testvm_dev_write(vm, dev, 0x16, 2, q);
	testvm_dev_write(vm, dev, 0x18, 2, TESTVM_QSZ);
	testvm_dev_write(vm, dev, 0x20, 4, desc);
	testvm_dev_write(vm, dev, 0x24, 4, desc >> 32);
	testvm_dev_write(vm, dev, 0x28, 4, avail);
	testvm_dev_write(vm, dev, 0x2c, 4, avail >> 32);
	testvm_dev_write(vm, dev, 0x30, 4, used);
	testvm_dev_write(vm, dev, 0x34, 4, used >> 32);
	testvm_dev_write(vm, dev, 0x1c, 2, 1);
}

/* Write descriptor `id` and make it available as a one-element chain. */
static inline void testvm_post(struct vm *vm, uint64_t desc, uint64_t avail, uint16_t id,
			       uint64_t addr, uint32_t len, uint16_t flags)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags };
	uint16_t idx;

	g_assert_cmpint(guest_write(&vm->mem, desc + 16u * id, &d, sizeof(d)), ==, 0);
	g_assert_cmpint(guest_read(&vm->mem, avail + 2, &idx, 2), ==, 0);
	g_assert_cmpint(guest_write(&vm->mem, avail + 4 + 2u * (idx % TESTVM_QSZ), &id, 2), ==, 0);
	idx++;
	g_assert_cmpint(guest_write(&vm->mem, avail + 2, &idx, 2), ==, 0);
}

static inline uint16_t testvm_used_idx(struct vm *vm, uint64_t used)
{
	uint16_t idx = 0;
	g_assert_cmpint(guest_read(&vm->mem, used + 2, &idx, 2), ==, 0);
	return idx;
}

/* Append a guest buffer to a hand-built chain (device-readable buffers
 * must all come before writable ones, as in a real ring). */
static inline void testvm_elem_add(const struct guest_memory *gm, struct virtq_elem *e,
				   uint64_t gpa, uint32_t len, bool writable)
{
	void *p = guest_ptr(gm, gpa, len);

	g_assert_nonnull(p);
	if (!writable)
		g_assert_cmpuint(e->n_in, ==, 0);
	e->iov[e->n_out + e->n_in].iov_base = p;
	e->iov[e->n_out + e->n_in].iov_len = len;
	if (writable) {
		e->n_in++;
		e->in_len += len;
	} else {
		e->n_out++;
		e->out_len += len;
	}
}

#endif
