/* virtio-rng (virtio 1.x, 5.4): one queue of device-writable buffers,
 * filled from the host kernel's CSPRNG. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../log.h"
#include "../vm.h"
#include "virtio.h"

#define RNG_QUEUE_SIZE 64
/* Bound the work one request can make the event loop do. */
#define RNG_MAX_PER_REQUEST (64 * 1024)

struct virtio_rng {
	struct virtio_device vdev;
};

/* Fill one buffer; returns the bytes written. */
static size_t fill_random(uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = getrandom(p + done, len - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_warn("virtio-rng: getrandom failed: %s", strerror(errno));
			break;
		}
		done += (size_t)r;
	}
	return done;
}

/* Fill the element's writable buffers, up to RNG_MAX_PER_REQUEST bytes;
 * readable buffers carry nothing for this device and are ignored. */
static uint32_t rng_fill_elem(const struct virtq_elem *elem)
{
	size_t total = 0;

	for (unsigned i = elem->n_out; i < elem->n_out + elem->n_in; i++) {
		size_t want = elem->iov[i].iov_len;
		size_t got;

		if (want > RNG_MAX_PER_REQUEST - total)
			want = RNG_MAX_PER_REQUEST - total;
		got = fill_random(elem->iov[i].iov_base, want);
		total += got;
		if (got < want || total == RNG_MAX_PER_REQUEST)
			break;
	}
	return (uint32_t)total;
}

static void rng_queue_notify(struct virtio_device *dev, struct virtq *vq)
{
	struct virtq_elem elem;
	bool pushed = false;

	while (virtio_pop(dev, vq, &elem) == 1) {
		virtq_push(vq, elem.head, rng_fill_elem(&elem));
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(dev, vq);
}

static void rng_config_access(struct virtio_device *dev, uint32_t off,
			      uint8_t *data, uint32_t len, bool is_write)
{
	(void)dev;
	(void)off;
	/* virtio-rng has no device config. */
	if (!is_write)
		memset(data, 0, len);
}

static void rng_activate(struct virtio_device *dev) { (void)dev; }
static void rng_reset(struct virtio_device *dev) { (void)dev; }

static void rng_destroy(struct virtio_device *dev)
{
	free(dev->priv);
}

static const struct virtio_device_ops rng_ops = {
	.name = "rng",      /* the transport names it virtio-rng */
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0xff0000,   /* unclassified device */
	.config_access = rng_config_access,
	.queue_notify = rng_queue_notify,
	.activate = rng_activate,
	.reset = rng_reset,
	.destroy = rng_destroy,
};

int virtio_rng_create(struct vm *vm)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));

	if (!rng) {
		log_error("virtio-rng: out of memory");
		return -1;
	}
	if (virtio_pci_init(&rng->vdev, vm, &rng_ops, 0, 1, RNG_QUEUE_SIZE, rng) < 0) {
		log_error("virtio-rng: cannot add the device to the PCI bus");
		free(rng);
		return -1;
	}
	return 0;
}
