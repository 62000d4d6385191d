/* VFIO plumbing for PCI passthrough: container, IOMMU group and device
 * file descriptors, region and interrupt information, DMA mappings of
 * guest RAM, and the interrupt-eventfd ioctls.  The device model on top
 * (what the guest sees) is vfio_pci.c; see docs/vfio.md. */
#ifndef ATOLL_VFIO_H
#define ATOLL_VFIO_H

#include <linux/vfio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VFIO_MAX_AREAS 8

/* One VFIO region (a BAR, the ROM, config space). */
struct vfio_region {
	uint64_t offset;        /* in the device fd */
	uint64_t size;
	uint32_t flags;         /* VFIO_REGION_INFO_FLAG_* */
	/* Parts that may be mmapped (the whole region if it is mmappable
	 * and has no sparse-mmap capability). */
	unsigned n_areas;
	struct { uint64_t offset, size; } areas[VFIO_MAX_AREAS];
};

struct vfio_group;

struct vfio_device {
	char bdf[16];           /* DDDD:BB:DD.F */
	int fd;                 /* device fd, -1 if none */
	struct vfio_group *group;
	uint32_t flags;         /* VFIO_DEVICE_FLAGS_* */
	struct vfio_region regions[VFIO_PCI_NUM_REGIONS];
	uint32_t irq_count[VFIO_PCI_NUM_IRQS];
};

/* Check BDF's syntax ("0000:00:03.0"); false if it is not one. */
bool vfio_bdf_valid(const char *bdf);

/* Open host device `bdf` (bound to vfio-pci): its group, a container with
 * the type-1 IOMMU, the device fd, and its regions and interrupts.  A
 * group already opened for another device is shared.  On failure err says
 * what is wrong and how to fix it. */
int vfio_device_open(struct vfio_device *d, const char *bdf, char *err, size_t errlen);
/* Reset (where supported), close; the group and container go with their
 * last device. */
void vfio_device_close(struct vfio_device *d);
/* VFIO_DEVICE_RESET if the device has one; 0, -ENOTTY without. */
int vfio_device_reset(struct vfio_device *d);

/* Map [iova, iova+size) of the device's IOMMU domain to host memory. */
int vfio_dma_map(struct vfio_device *d, uint64_t iova, uint64_t size, void *host);
int vfio_dma_unmap(struct vfio_device *d, uint64_t iova, uint64_t size);
/* Map all of guest RAM (IOVA = guest physical address) into the device's
 * container, once per container. */
struct guest_memory;
int vfio_dma_map_guest(struct vfio_device *d, const struct guest_memory *gm);

/* Access region `idx` at `off` (bounds-checked against its size). */
int vfio_region_read(struct vfio_device *d, int idx, uint64_t off, void *buf, size_t len);
int vfio_region_write(struct vfio_device *d, int idx, uint64_t off, const void *buf,
		      size_t len);

/* VFIO_DEVICE_SET_IRQS: eventfds fds[0..count) as the triggers of vectors
 * 0..count-1 of irq `index`; count 0 disables the index. */
int vfio_irq_set_eventfds(struct vfio_device *d, uint32_t index, uint32_t count,
			  const int *fds);
/* For INTx: the eventfd whose signal unmasks the line (resample). */
int vfio_irq_set_unmask_eventfd(struct vfio_device *d, uint32_t index, int fd);

#endif
