/* virtio 1.x devices on the modern PCI transport (virtio spec 4.1).
 *
 * Transport layout (BAR 0, 16 KiB, 32-bit memory):
 *   0x0000 common config   0x1000 ISR   0x2000 device config
 *   0x3000 notifications, queue i at 0x3000 + 4*i (one ioeventfd each)
 * MSI-X table and PBA live in BAR 1 (4 KiB).
 *
 * Queue notifications arrive through ioeventfds on the event loop thread;
 * a device's queue_notify runs there with dev->lock held, never on a vCPU. */
#ifndef ATOLL_VIRTIO_H
#define ATOLL_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../pci/msix.h"
#include "../pci/pci.h"
#include "virtqueue.h"

struct vm;
struct evloop_watch;

#define VIRTIO_F_VERSION_1        (1ULL << 32)
#define VIRTIO_F_ACCESS_PLATFORM  (1ULL << 33)
#define VIRTIO_RING_F_EVENT_IDX   (1ULL << 29)

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4
#define VIRTIO_ID_GPU     16
#define VIRTIO_ID_INPUT   18

#define VIRTIO_MAX_QUEUES 8

struct virtio_device;

/* I/O totals for stats: blk reads and net receives go to the guest, blk
 * writes and net sends come from it. */
struct virtio_stats {
	uint64_t to_guest_bytes, from_guest_bytes;
	uint64_t to_guest_ops, from_guest_ops;
};

struct virtio_device_ops {
	const char *name;
	uint16_t device_id;       /* VIRTIO_ID_* ; PCI id is 0x1040 + this */
	uint32_t pci_class;       /* class code, e.g. 0x010000 for storage */
	/* Device-specific config space (BAR0 + 0x2000). */
	void (*config_access)(struct virtio_device *dev, uint32_t off,
			      uint8_t *data, uint32_t len, bool is_write);
	/* The driver kicked queue `vq`.  Event loop thread, dev->lock held. */
	void (*queue_notify)(struct virtio_device *dev, struct virtq *vq);
	/* DRIVER_OK was set: queues are enabled, start backends. */
	void (*activate)(struct virtio_device *dev);
	/* The driver reset the device: drop in-flight state. */
	void (*reset)(struct virtio_device *dev);
	/* Optional: I/O totals, dev->lock held. */
	void (*stats)(struct virtio_device *dev, struct virtio_stats *out);
	/* Release the backend and free the model's state (which embeds dev). */
	void (*destroy)(struct virtio_device *dev);
};

struct virtio_queue_io {
	int ioeventfd;
	struct evloop_watch *watch;
	uint64_t registered_addr;    /* 0 when no ioeventfd is registered */
};

struct virtio_device {
	struct pci_device pci;
	struct msix msix;
	struct vm *vm;
	const struct virtio_device_ops *ops;
	void *priv;                 /* the device model's own state */
	pthread_mutex_t lock;

	uint64_t device_features, driver_features;
	uint32_t device_feature_sel, driver_feature_sel;
	uint8_t status;
	uint8_t isr;
	uint16_t queue_sel;
	uint16_t msix_config;
	uint8_t config_generation;
	bool broken;                /* the guest broke a ring; device stopped */

	uint16_t n_queues;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	struct virtio_queue_io qio[VIRTIO_MAX_QUEUES];
};

/* Set up the transport and plug the device into the VM's PCI bus.
 * VIRTIO_F_VERSION_1 is added to `features`. */
int virtio_pci_init(struct virtio_device *dev, struct vm *vm,
		    const struct virtio_device_ops *ops, uint64_t features,
		    uint16_t n_queues, uint16_t queue_size, void *priv);

/* Tear the device down: its eventfds, watches and vectors, then the
 * model's own state through ops->destroy.  The VM must be stopped. */
void virtio_pci_destroy(struct virtio_device *dev);

static inline bool virtio_has_feature(const struct virtio_device *dev, uint64_t f)
{
	return (dev->driver_features & f) != 0;
}

/* Interrupt the guest for used buffers on vq, if it wants one. */
void virtio_notify_used(struct virtio_device *dev, struct virtq *vq);
/* Tell the driver the device config changed. */
void virtio_notify_config(struct virtio_device *dev);
/* The guest broke the device: log once, set NEEDS_RESET, stop processing
 * until the driver resets it.  The VM and other devices keep running. */
void virtio_set_broken(struct virtio_device *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Pop with breakage handling: returns 1 with elem filled, 0 if the ring is
 * empty or the device is (now) broken. */
int virtio_pop(struct virtio_device *dev, struct virtq *vq,
	       struct virtq_elem *elem);

/* Devices (one file each). */
struct disk_config;
struct nic_config;
struct chardev_config;
int virtio_blk_create(struct vm *vm, const struct disk_config *cfg, unsigned index);
int virtio_net_create(struct vm *vm, const struct nic_config *cfg, unsigned index);
int virtio_console_create(struct vm *vm, const struct chardev_config *cfg);
int virtio_rng_create(struct vm *vm);
int virtio_gpu_create(struct vm *vm);          /* virtio/gpu.c */
/* Keyboard and tablet, registered as input sinks in that order. */
int virtio_input_create(struct vm *vm);        /* virtio/input.c */

#endif
