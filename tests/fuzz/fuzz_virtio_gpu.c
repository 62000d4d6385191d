/* libFuzzer target: a hostile guest's virtio-gpu control commands.
 *
 * The input is a sequence of records, each one request:
 *   0  u16 command length n (little-endian)
 *   2  u8  bits 0-2: response buffer size, one of resp_sizes[];
 *          bit 3: split the command across two readable buffers
 *   3  n bytes of command (header and body, attach entries included)
 * Guest RAM is a fixed 256 KiB heap buffer, so backing entries can point
 * into it or anywhere else; commands and responses live in exactly-sized
 * heap buffers, so AddressSanitizer catches any over-read or over-write.
 * A display listener reads every pixel a surface or damage rectangle
 * claims, which catches a stale or out-of-bounds surface pointer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "display.h"
#include "virtio/gpu.h"
#include "virtio/virtio.h"

#define RAM_SIZE (256u << 10)
#define REC_HDR  3

/* gpu.c's device half needs the transport; only the command engine is
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
void virtio_notify_config(struct virtio_device *dev)
{
	(void)dev;
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

static const uint32_t resp_sizes[8] = { 24, 0, 8, 408, 1056, 23, 64, 4096 };

static struct display_surface cur;
static volatile uint32_t sink;

static void on_surface(void *o, const struct display_surface *s)
{
	(void)o;
	if (s->stride < s->width * 4u)
		abort();
	cur = *s;
	sink += s->pixels[0];
	sink += s->pixels[(size_t)(s->height - 1) * s->stride + s->width * 4u - 1];
}

static void on_damage(void *o, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	(void)o;
	if ((uint64_t)x + w > cur.width || (uint64_t)y + h > cur.height)
		abort();
	for (uint32_t j = y; j < y + h; j++)
		for (uint32_t i = x; i < x + w; i++)
			sink += cur.pixels[(size_t)j * cur.stride + i * 4u];
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void run_one(struct gpu_core *g, const uint8_t *cmd, size_t n, uint8_t sel)
{
	static struct virtq_elem elem;
	uint32_t rlen = resp_sizes[sel & 7];
	uint8_t *a = malloc(n ? n : 1), *resp = malloc(rlen ? rlen : 1);
	const char *why = NULL;
	size_t half = (sel & 8) ? n / 2 : n;

	if (!a || !resp)
		abort();
	memcpy(a, cmd, n);
	memset(&elem, 0, sizeof(elem));
	elem.iov[elem.n_out++] = (struct iovec){ a, half };
	if (half < n)
		elem.iov[elem.n_out++] = (struct iovec){ a + half, n - half };
	elem.out_len = (uint32_t)n;
	if (rlen) {
		elem.iov[elem.n_out + elem.n_in++] = (struct iovec){ resp, rlen };
		elem.in_len = rlen;
	}
	int64_t w = gpu_handle_ctrl(g, &elem, &why);
	if (w > (int64_t)rlen || (w < 0 && (!why || rlen >= 24)))
		abort();
	free(a);
	free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	struct guest_memory gm;
	struct display d;
	struct display_listener l = { on_surface, on_damage, NULL };
	struct gpu_core g;

	if (!ram) {
		ram = malloc(RAM_SIZE);
		if (!ram)
			abort();
		for (uint32_t i = 0; i < RAM_SIZE; i++)
			ram[i] = (uint8_t)(i * 13);
	}
	guest_memory_wrap(&gm, ram, RAM_SIZE);
	display_init(&d);
	display_set_listener(&d, &l);
	if (gpu_core_init(&g, &gm, &d) < 0)
		abort();
	while (size >= REC_HDR) {
		size_t n = get16(data);
		uint8_t sel = data[2];
		data += REC_HDR;
		size -= REC_HDR;
		if (n > size)
			n = size;
		run_one(&g, data, n, sel);
		data += n;
		size -= n;
	}
	/* The odd preferred size now and then, as a console would ask. */
	gpu_core_set_preferred(&g, (uint32_t)size * 977, 77);
	gpu_core_free(&g);
	pthread_mutex_destroy(&d.lock);
	return 0;
}
