/* The virtio 1.x modern PCI transport (virtio spec 4.1): capabilities,
 * common configuration, ISR, device configuration and notifications in
 * BAR 0, MSI-X in BAR 1.  Queue kicks reach the event loop through one
 * ioeventfd per queue, so a vCPU never runs device work. */
#include "virtio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../evloop.h"
#include "../log.h"
#include "../vm.h"

#define VIRTIO_PCI_VENDOR   0x1af4
#define VIRTIO_PCI_DEVICE0  0x1040
#define VIRTIO_PCI_SUBSYS   0x1100

#define BAR0_SIZE      0x4000
#define COMMON_OFF     0x0000
#define COMMON_LEN     0x0040
#define ISR_OFF        0x1000
#define DEVICE_OFF     0x2000
#define DEVICE_LEN     0x1000
#define NOTIFY_OFF     0x3000
#define NOTIFY_MULT    4
#define MSIX_BAR       1
#define MSIX_BAR_SIZE  0x1000
#define MSIX_PBA_OFF   0x800

enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4 };

/* Common configuration register offsets. */
enum {
	CC_DFSELECT = 0x00, CC_DF = 0x04, CC_GFSELECT = 0x08, CC_GF = 0x0c,
	CC_MSIX_CONFIG = 0x10, CC_NUM_QUEUES = 0x12, CC_STATUS = 0x14,
	CC_CFG_GENERATION = 0x15, CC_Q_SELECT = 0x16, CC_Q_SIZE = 0x18,
	CC_Q_MSIX = 0x1a, CC_Q_ENABLE = 0x1c, CC_Q_NOFF = 0x1e,
	CC_Q_DESCLO = 0x20, CC_Q_DESCHI = 0x24, CC_Q_AVAILLO = 0x28,
	CC_Q_AVAILHI = 0x2c, CC_Q_USEDLO = 0x30, CC_Q_USEDHI = 0x34,
};

static uint64_t notify_addr(const struct virtio_device *dev, uint16_t q)
{
	return dev->pci.bars[0].addr + NOTIFY_OFF + (uint64_t)q * NOTIFY_MULT;
}

static void queue_ioeventfd_unregister(struct virtio_device *dev, uint16_t q)
{
	struct virtio_queue_io *io = &dev->qio[q];
	if (!io->registered_addr)
		return;
	vm_ioeventfd(dev->vm, io->registered_addr, 2, io->ioeventfd, false);
	io->registered_addr = 0;
}

static void queue_ioeventfd_register(struct virtio_device *dev, uint16_t q)
{
	struct virtio_queue_io *io = &dev->qio[q];
	queue_ioeventfd_unregister(dev, q);
	if (!dev->pci.bars[0].mapped)
		return;
	uint64_t addr = notify_addr(dev, q);
	/* Without the ioeventfd, kicks still work: they trap to
	 * notify_access, which signals the same eventfd. */
	if (vm_ioeventfd(dev->vm, addr, 2, io->ioeventfd, true) == 0)
		io->registered_addr = addr;
}

static void virtio_reset(struct virtio_device *dev)
{
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (uint16_t q = 0; q < dev->n_queues; q++) {
		queue_ioeventfd_unregister(dev, q);
		virtq_reset(&dev->vqs[q]);
		dev->vqs[q].msix_vector = MSIX_NO_VECTOR;
	}
	dev->driver_features = 0;
	dev->device_feature_sel = dev->driver_feature_sel = 0;
	dev->status = 0;
	dev->isr = 0;
	dev->queue_sel = 0;
	dev->msix_config = MSIX_NO_VECTOR;
	dev->broken = false;
}

static void set_status(struct virtio_device *dev, uint8_t status)
{
	if (status == 0) {
		virtio_reset(dev);
		return;
	}
	if ((status & VIRTIO_STATUS_FEATURES_OK) &&
	    !(dev->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* Refuse features we never offered, and legacy drivers. */
		if ((dev->driver_features & ~dev->device_features) ||
		    !(dev->driver_features & VIRTIO_F_VERSION_1)) {
			log_warn("%s: refusing the driver's features 0x%llx (offered 0x%llx; "
				 "a driver without VERSION_1 is a legacy driver, which this "
				 "device does not support)", dev->pci.name,
				 (unsigned long long)dev->driver_features,
				 (unsigned long long)dev->device_features);
			status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	bool driver_ok = (status & VIRTIO_STATUS_DRIVER_OK) &&
			 !(dev->status & VIRTIO_STATUS_DRIVER_OK);
	dev->status = status | (dev->status & VIRTIO_STATUS_NEEDS_RESET);
	if (driver_ok && dev->ops->activate && !dev->broken)
		dev->ops->activate(dev);
}

static void queue_enable(struct virtio_device *dev, struct virtq *vq)
{
	const char *why = NULL;
	if (vq->enabled)
		return;
	if (virtq_enable(vq, &dev->vm->mem, &why) < 0) {
		virtio_set_broken(dev, "queue %u cannot be enabled: %s", vq->index, why);
		return;
	}
	queue_ioeventfd_register(dev, vq->index);
}

static uint64_t common_read(struct virtio_device *dev, uint32_t off)
{
	struct virtq *vq = dev->queue_sel < dev->n_queues ? &dev->vqs[dev->queue_sel] : NULL;

	switch (off) {
	case CC_DFSELECT: return dev->device_feature_sel;
	case CC_DF:
		return dev->device_feature_sel < 2 ?
		       (uint32_t)(dev->device_features >> (32 * dev->device_feature_sel)) : 0;
	case CC_GFSELECT: return dev->driver_feature_sel;
	case CC_GF:
		return dev->driver_feature_sel < 2 ?
		       (uint32_t)(dev->driver_features >> (32 * dev->driver_feature_sel)) : 0;
	case CC_MSIX_CONFIG: return dev->msix_config;
	case CC_NUM_QUEUES: return dev->n_queues;
	case CC_STATUS: return dev->status;
	case CC_CFG_GENERATION: return dev->config_generation;
	case CC_Q_SELECT: return dev->queue_sel;
	}
	if (!vq)
		return 0;   /* a queue that does not exist reads as size 0 */
	switch (off) {
	case CC_Q_SIZE: return vq->size;
	case CC_Q_MSIX: return vq->msix_vector;
	case CC_Q_ENABLE: return vq->enabled;
	case CC_Q_NOFF: return vq->index;
	case CC_Q_DESCLO: return (uint32_t)vq->desc_addr;
	case CC_Q_DESCHI: return (uint32_t)(vq->desc_addr >> 32);
	case CC_Q_AVAILLO: return (uint32_t)vq->avail_addr;
	case CC_Q_AVAILHI: return (uint32_t)(vq->avail_addr >> 32);
	case CC_Q_USEDLO: return (uint32_t)vq->used_addr;
	case CC_Q_USEDHI: return (uint32_t)(vq->used_addr >> 32);
	}
	return 0;
}

static void set_half(uint64_t *reg, bool high, uint32_t v)
{
	if (high)
		*reg = (*reg & 0xffffffffULL) | (uint64_t)v << 32;
	else
		*reg = (*reg & ~0xffffffffULL) | v;
}

static void queue_write(struct virtio_device *dev, struct virtq *vq,
			uint32_t off, uint32_t v)
{
	/* Queue layout is frozen once enabled (spec 4.1.4.3.2). */
	if (vq->enabled && off != CC_Q_MSIX)
		return;
	switch (off) {
	case CC_Q_SIZE:
		vq->size = (uint16_t)v;
		break;
	case CC_Q_MSIX:
		/* Report NO_VECTOR for vectors we don't have, as the spec asks. */
		vq->msix_vector = v < dev->msix.nvec ? (uint16_t)v : MSIX_NO_VECTOR;
		break;
	case CC_Q_ENABLE:
		if (v == 1)
			queue_enable(dev, vq);
		break;
	case CC_Q_DESCLO: case CC_Q_DESCHI:
		set_half(&vq->desc_addr, off == CC_Q_DESCHI, v);
		break;
	case CC_Q_AVAILLO: case CC_Q_AVAILHI:
		set_half(&vq->avail_addr, off == CC_Q_AVAILHI, v);
		break;
	case CC_Q_USEDLO: case CC_Q_USEDHI:
		set_half(&vq->used_addr, off == CC_Q_USEDHI, v);
		break;
	}
}

static void common_write(struct virtio_device *dev, uint32_t off, uint32_t v)
{
	switch (off) {
	case CC_DFSELECT: dev->device_feature_sel = v; return;
	case CC_GFSELECT: dev->driver_feature_sel = v; return;
	case CC_GF:
		if (dev->driver_feature_sel < 2 && !(dev->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&dev->driver_features, dev->driver_feature_sel == 1, v);
		return;
	case CC_MSIX_CONFIG:
		dev->msix_config = v < dev->msix.nvec ? (uint16_t)v : MSIX_NO_VECTOR;
		return;
	case CC_STATUS: set_status(dev, (uint8_t)v); return;
	case CC_Q_SELECT: dev->queue_sel = (uint16_t)v; return;
	}
	if (dev->queue_sel < dev->n_queues)
		queue_write(dev, &dev->vqs[dev->queue_sel], off, v);
}

/* Register widths from the spec; any other access is ignored. */
static uint32_t common_width(uint32_t off)
{
	if (off == CC_STATUS || off == CC_CFG_GENERATION)
		return 1;
	if (off >= CC_MSIX_CONFIG && off < CC_Q_DESCLO)
		return 2;
	return 4;
}

static void common_access(struct virtio_device *dev, uint32_t off, uint8_t *data,
			  uint32_t len, bool is_write)
{
	if (off >= COMMON_LEN || len != common_width(off) || (off & (len - 1))) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (is_write)
		common_write(dev, off, (uint32_t)bus_data_get(data, len));
	else
		bus_data_set(data, len, common_read(dev, off));
}

static void notify_access(struct virtio_device *dev, uint32_t off, uint8_t *data,
			  uint32_t len, bool is_write)
{
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	uint32_t q = off / NOTIFY_MULT;
	if (q < dev->n_queues) {
		uint64_t one = 1;
		if (write(dev->qio[q].ioeventfd, &one, sizeof(one)) < 0)
			log_debug("%s: kick lost: %s", dev->pci.name, strerror(errno));
	}
}

static void bar0_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct virtio_device *dev = opaque;

	if (off >= NOTIFY_OFF) {
		notify_access(dev, (uint32_t)(off - NOTIFY_OFF), data, len, is_write);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	if (off < COMMON_OFF + COMMON_LEN) {
		common_access(dev, (uint32_t)off, data, len, is_write);
	} else if (off >= ISR_OFF && off < ISR_OFF + 4) {
		if (!is_write) {
			memset(data, 0, len);
			data[0] = dev->isr;
			dev->isr = 0;   /* reading the ISR clears it */
		}
	} else if (off >= DEVICE_OFF && off < DEVICE_OFF + DEVICE_LEN) {
		if (dev->ops->config_access)
			dev->ops->config_access(dev, (uint32_t)(off - DEVICE_OFF),
						data, len, is_write);
		else if (!is_write)
			memset(data, 0, len);
	} else if (!is_write) {
		memset(data, 0, len);
	}
	pthread_mutex_unlock(&dev->lock);
}

static void msix_bar_access(void *opaque, uint64_t off, uint8_t *data,
			    uint32_t len, bool is_write)
{
	struct virtio_device *dev = opaque;
	if (off < MSIX_PBA_OFF)
		msix_table_access(&dev->msix, off, data, len, is_write);
	else
		msix_pba_access(&dev->msix, off - MSIX_PBA_OFF, data, len, is_write);
}

static void virtio_cfg_write(struct pci_device *pci, uint32_t off, uint32_t len,
			     uint32_t val)
{
	struct virtio_device *dev = pci->opaque;
	msix_cfg_write(&dev->msix, off, len, val);
}

static void virtio_bar_moved(struct pci_device *pci, int bar, uint64_t old_addr,
			     bool was_mapped)
{
	(void)old_addr;
	(void)was_mapped;
	struct virtio_device *dev = pci->opaque;
	if (bar != 0)
		return;
	pthread_mutex_lock(&dev->lock);
	for (uint16_t q = 0; q < dev->n_queues; q++)
		if (dev->vqs[q].enabled)
			queue_ioeventfd_register(dev, q);
	pthread_mutex_unlock(&dev->lock);
}

static void kick(void *opaque, uint32_t events)
{
	(void)events;
	struct virtq *vq = opaque;
	/* vqs[] sits inside the device: step back to it from the queue. */
	struct virtio_device *dev = (struct virtio_device *)
		((char *)(vq - vq->index) - offsetof(struct virtio_device, vqs));
	uint64_t n;

	if (read(dev->qio[vq->index].ioeventfd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&dev->lock);
	if ((dev->status & VIRTIO_STATUS_DRIVER_OK) && !dev->broken && vq->enabled)
		dev->ops->queue_notify(dev, vq);
	pthread_mutex_unlock(&dev->lock);
}

static int add_virtio_cap(struct pci_device *pci, uint8_t type, uint32_t off,
			  uint32_t len, bool notify)
{
	uint8_t body[18] = { 0 };
	uint32_t body_len = notify ? 18 : 14;
	body[0] = (uint8_t)(body_len + 2);   /* cap_len counts the header */
	body[1] = type;
	body[2] = 0;                         /* BAR 0 */
	memcpy(body + 6, &off, 4);
	memcpy(body + 10, &len, 4);
	if (notify) {
		uint32_t mult = NOTIFY_MULT;
		memcpy(body + 14, &mult, 4);
	}
	return pci_device_add_capability(pci, PCI_CAP_ID_VNDR, body, body_len) < 0 ?
	       -ENOSPC : 0;
}

static int add_caps(struct virtio_device *dev)
{
	struct pci_device *pci = &dev->pci;
	int ret = add_virtio_cap(pci, CAP_COMMON, COMMON_OFF, COMMON_LEN, false);
	if (!ret)
		ret = add_virtio_cap(pci, CAP_ISR, ISR_OFF, 4, false);
	if (!ret)
		ret = add_virtio_cap(pci, CAP_DEVICE, DEVICE_OFF, DEVICE_LEN, false);
	if (!ret)
		ret = add_virtio_cap(pci, CAP_NOTIFY, NOTIFY_OFF,
				     (uint32_t)dev->n_queues * NOTIFY_MULT, true);
	return ret;
}

static int setup_queues(struct virtio_device *dev, uint16_t queue_size)
{
	for (uint16_t q = 0; q < dev->n_queues; q++) {
		virtq_init(&dev->vqs[q], q, queue_size);
		dev->vqs[q].msix_vector = MSIX_NO_VECTOR;
		struct virtio_queue_io *io = &dev->qio[q];
		io->ioeventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (io->ioeventfd < 0)
			return -errno;
		io->watch = evloop_add(&dev->vm->loop, io->ioeventfd, EPOLLIN, kick,
				       &dev->vqs[q]);
		if (!io->watch)
			return -errno;
	}
	return 0;
}

int virtio_pci_init(struct virtio_device *dev, struct vm *vm,
		    const struct virtio_device_ops *ops, uint64_t features,
		    uint16_t n_queues, uint16_t queue_size, void *priv)
{
	if (n_queues == 0 || n_queues > VIRTIO_MAX_QUEUES || queue_size == 0 ||
	    queue_size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	dev->vm = vm;
	dev->ops = ops;
	dev->priv = priv;
	dev->n_queues = n_queues;
	dev->device_features = features | VIRTIO_F_VERSION_1;
	dev->msix_config = MSIX_NO_VECTOR;
	pthread_mutex_init(&dev->lock, NULL);

	struct pci_device *pci = &dev->pci;
	char name[32];
	snprintf(name, sizeof(name), "virtio-%s", ops->name);
	pci_device_init(pci, name, VIRTIO_PCI_VENDOR,
			(uint16_t)(VIRTIO_PCI_DEVICE0 + ops->device_id), ops->pci_class,
			1, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS);
	pci->opaque = dev;
	pci->cfg_write = virtio_cfg_write;
	pci->bar_moved = virtio_bar_moved;

	int ret = pci_device_set_bar(pci, 0, PCI_BAR_MEM32, BAR0_SIZE, false,
				     bar0_access, dev);
	if (!ret)
		ret = pci_device_set_bar(pci, MSIX_BAR, PCI_BAR_MEM32, MSIX_BAR_SIZE,
					 false, msix_bar_access, dev);
	if (!ret)
		ret = add_caps(dev);
	if (!ret)
		ret = msix_init(&dev->msix, pci, vm, (uint16_t)(n_queues + 1),
				MSIX_BAR, 0, MSIX_PBA_OFF);
	if (!ret)
		ret = setup_queues(dev, queue_size);
	if (!ret) {
		ret = pci_host_add(vm->pci, pci, -1);
		ret = ret < 0 ? ret : 0;
	}
	if (!ret && vm->n_virtio < sizeof(vm->virtio_devs) / sizeof(vm->virtio_devs[0]))
		vm->virtio_devs[vm->n_virtio++] = dev;
	if (ret)
		log_error("%s: cannot create the device: %s", name, strerror(-ret));
	return ret;
}

void virtio_pci_destroy(struct virtio_device *dev)
{
	for (uint16_t q = 0; q < dev->n_queues; q++) {
		struct virtio_queue_io *io = &dev->qio[q];
		queue_ioeventfd_unregister(dev, q);
		evloop_remove(&dev->vm->loop, io->watch);
		io->watch = NULL;
		if (io->ioeventfd >= 0)
			close(io->ioeventfd);
		io->ioeventfd = -1;
	}
	msix_destroy(&dev->msix);
	pthread_mutex_destroy(&dev->lock);
	if (dev->ops->destroy)
		dev->ops->destroy(dev);
}

void virtio_notify_used(struct virtio_device *dev, struct virtq *vq)
{
	if (!virtq_needs_interrupt(vq))
		return;
	dev->isr |= 1;
	if (vq->msix_vector != MSIX_NO_VECTOR)
		msix_notify(&dev->msix, vq->msix_vector);
}

void virtio_notify_config(struct virtio_device *dev)
{
	dev->config_generation++;
	dev->isr |= 2;
	if (dev->msix_config != MSIX_NO_VECTOR)
		msix_notify(&dev->msix, dev->msix_config);
}

void virtio_set_broken(struct virtio_device *dev, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (dev->broken)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s (PCI 00:%02x.%u): the guest driver broke the device: %s; "
		  "device stopped until the guest resets it",
		  dev->pci.name, dev->pci.devfn >> 3, dev->pci.devfn & 7, msg);
	dev->broken = true;
	dev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_notify_config(dev);
}

int virtio_pop(struct virtio_device *dev, struct virtq *vq, struct virtq_elem *elem)
{
	const char *why = NULL;
	if (dev->broken)
		return 0;
	int ret = virtq_pop(vq, &dev->vm->mem, elem, &why);
	if (ret < 0) {
		virtio_set_broken(dev, "queue %u: %s", vq->index, why ? why : "invalid ring");
		return 0;
	}
	return ret;
}
