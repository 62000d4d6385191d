/* libFuzzer target: a hostile guest's view of a split virtqueue.
 *
 * Input (little-endian):
 *   0  u16 queue size (as the driver wrote it; may be invalid)
 *   2  u16 starting index for last_avail / used_idx (wraparound)
 *   4  u32 descriptor table GPA
 *   8  u32 avail ring GPA
 *  12  u32 used ring GPA
 *  16  u8  flags: bit 0 hand each chain to virtio-blk, bit 1 disk read-only
 *  17  ... guest RAM image (its length is the RAM size)
 *
 * Guest RAM is a heap copy of exactly that length, so AddressSanitizer
 * catches any access a bad guest_ptr check would let through.  Every byte
 * of every popped buffer is read and written; writes land in the same RAM
 * that holds the rings, like a guest changing them under the device. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define HDR_BYTES 17
#define FLAG_BLK 1
#define FLAG_RO  2
#define DISK_SECTORS 64

/* blk.c's device half needs the transport; only the request parser is
 * exercised here, so the transport entry points are inert. */
int virtio_pci_init(struct virtio_device *dev, struct vm *vm,
		    const struct virtio_device_ops *ops, uint64_t features,
		    uint16_t n_queues, uint16_t queue_size, void *priv)
{
	(void)dev; (void)vm; (void)ops; (void)features;
	(void)n_queues; (void)queue_size; (void)priv;
	return -1;
}
void virtio_notify_used(struct virtio_device *dev, struct virtq *vq)
{
	(void)dev; (void)vq;
}
void virtio_set_broken(struct virtio_device *dev, const char *fmt, ...)
{
	(void)dev; (void)fmt;
}
int virtio_pop(struct virtio_device *dev, struct virtq *vq, struct virtq_elem *elem)
{
	(void)dev; (void)vq; (void)elem;
	return 0;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }

static int disk_fd(void)
{
	static int fd = -1;

	if (fd < 0) {
		fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, DISK_SECTORS * 512) < 0)
			abort();
	}
	return fd;
}

/* Touch every byte the device was given: out-of-RAM pointers crash here. */
static uint32_t touch(const struct virtq_elem *e)
{
	uint32_t sum = 0;
	uint8_t scratch[64];

	for (unsigned i = 0; i < (unsigned)e->n_out + e->n_in; i++) {
		volatile uint8_t *p = e->iov[i].iov_base;
		for (size_t j = 0; j < e->iov[i].iov_len; j++)
			sum += p[j];
	}
	for (unsigned i = e->n_out; i < (unsigned)e->n_out + e->n_in; i++)
		memset(e->iov[i].iov_base, 0xA5, e->iov[i].iov_len);
	iov_to_buf(e->iov, e->n_out, sum % 7, scratch, sizeof(scratch));
	iov_from_buf(e->iov + e->n_out, e->n_in, sum % 5, scratch, sizeof(scratch));
	return sum;
}

static void check_elem(const struct virtq_elem *e, uint16_t size)
{
	uint64_t out = 0, in = 0;

	if (e->head >= size || e->n_out + e->n_in > size)
		abort();
	for (unsigned i = 0; i < e->n_out; i++)
		out += e->iov[i].iov_len;
	for (unsigned i = e->n_out; i < (unsigned)e->n_out + e->n_in; i++)
		in += e->iov[i].iov_len;
	if (out != e->out_len || in != e->in_len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_elem elem;
	struct guest_memory gm;
	struct virtq vq;
	struct blk_backend be = { .fd = -1 };
	const char *why = NULL;
	uint8_t *ram, flags;
	size_t ram_size;

	if (size <= HDR_BYTES)
		return 0;
	ram_size = size - HDR_BYTES;
	ram = malloc(ram_size);
	if (!ram)
		return 0;
	memcpy(ram, data + HDR_BYTES, ram_size);
	guest_memory_wrap(&gm, ram, ram_size);

	virtq_init(&vq, 0, VIRTQ_MAX_SIZE);
	vq.size = get16(data);
	vq.desc_addr = get32(data + 4);
	vq.avail_addr = get32(data + 8);
	vq.used_addr = get32(data + 12);
	flags = data[16];
	if (flags & FLAG_BLK) {
		be.fd = disk_fd();
		be.readonly = flags & FLAG_RO;
		be.capacity = DISK_SECTORS;
		memcpy(be.serial, "fuzz", 4);
		be.path = (char *)"memfd disk";
	}

	if (virtq_enable(&vq, &gm, &why) == 0) {
		vq.last_avail = vq.used_idx = get16(data + 2);
		/* Each pop consumes one avail entry and at most `size` are
		 * pending, so this bound is never the reason to stop. */
		for (unsigned n = 0; n < 2u * vq.size + 2; n++) {
			int r = virtq_pop(&vq, &gm, &elem, &why);
			uint32_t len;

			if (r < 0 && !why)
				abort();   /* errors must explain themselves */
			if (r <= 0)
				break;
			check_elem(&elem, vq.size);
			len = touch(&elem) % (elem.in_len + 1);
			if (be.fd >= 0) {
				uint8_t st;
				int64_t w = blk_handle_request(&be, &elem, &st, &why);
				if (w > (int64_t)elem.in_len)
					abort();
				len = w < 0 ? 0 : (uint32_t)w;
			}
			virtq_push(&vq, elem.head, len);
			(void)virtq_needs_interrupt(&vq);
		}
	}
	free(ram);
	return 0;
}
