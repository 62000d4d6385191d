/* virtio-console (virtio 1.x, 5.3) with a single port: the guest's hvc0.
 *
 * No MULTIPORT, SIZE or EMERG_WRITE: config space reads as zeros.
 * receiveq 0 carries backend input to the guest, transmitq 1 the guest's
 * output to the backend.  Input is buffered (bounded, see console.h) while
 * the guest has no receive buffers; past the bound the backend stops
 * reading, so a guest that never reads cannot make us grow or spin.
 *
 * Threads: backend input and queue work run on the event loop thread;
 * activate/reset run with dev->lock held (transport contract). */
#include "console.h"

#include <stdlib.h>
#include <string.h>

#include "../backends/chardev.h"
#include "../log.h"
#include "../vm.h"
#include "virtio.h"

#define CONSOLE_RXQ        0
#define CONSOLE_TXQ        1
#define CONSOLE_QUEUE_SIZE 64

struct virtio_console {
	struct virtio_device vdev;
	struct chardev *ch;
	bool active;
	bool paused;                 /* backend told to stop reading */
	uint64_t dropped_logged;
	struct virtq_elem elem;
	struct console_inbuf in;
};

/* ---- buffer logic (unit-tested) ----------------------------------------- */

void console_inbuf_init(struct console_inbuf *b)
{
	b->head = 0;
	b->len = 0;
	b->dropped = 0;
}

size_t console_inbuf_put(struct console_inbuf *b, const uint8_t *p, size_t n)
{
	size_t room = CONSOLE_INBUF_SIZE - b->len;
	size_t take = n < room ? n : room;
	size_t tail = (b->head + b->len) % CONSOLE_INBUF_SIZE;
	size_t first = CONSOLE_INBUF_SIZE - tail;

	if (first > take)
		first = take;
	memcpy(b->data + tail, p, first);
	memcpy(b->data, p + first, take - first);
	b->len += take;
	b->dropped += n - take;
	return take;
}

/* Copy the oldest bytes into one guest buffer; returns bytes copied. */
static size_t inbuf_take(struct console_inbuf *b, uint8_t *dst, size_t n)
{
	size_t take = n < b->len ? n : b->len;
	size_t first = CONSOLE_INBUF_SIZE - b->head;

	if (first > take)
		first = take;
	memcpy(dst, b->data + b->head, first);
	memcpy(dst + first, b->data, take - first);
	b->head = (b->head + take) % CONSOLE_INBUF_SIZE;
	b->len -= take;
	return take;
}

size_t console_inbuf_to_elem(struct console_inbuf *b, const struct virtq_elem *elem)
{
	const struct iovec *in = elem->iov + elem->n_out;
	size_t done = 0;

	for (unsigned i = 0; i < elem->n_in && b->len; i++)
		done += inbuf_take(b, in[i].iov_base, in[i].iov_len);
	return done;
}

int console_tx_chain(const struct virtq_elem *elem, console_out_fn out,
		     void *opaque, const char **why)
{
	if (elem->n_in) {
		*why = "transmitq chain has device-writable buffers";
		return -1;
	}
	for (unsigned i = 0; i < elem->n_out; i++)
		if (elem->iov[i].iov_len)
			out(opaque, elem->iov[i].iov_base, elem->iov[i].iov_len);
	return 0;
}

/* ---- device ------------------------------------------------------------- */

static void console_flow(struct virtio_console *con)
{
	if (!con->paused && con->in.len >= CONSOLE_INBUF_PAUSE) {
		chardev_accept_input(con->ch, false);
		con->paused = true;
	} else if (con->paused && con->in.len <= CONSOLE_INBUF_RESUME) {
		chardev_accept_input(con->ch, true);
		con->paused = false;
	}
}

static void console_rx(struct virtio_console *con)
{
	struct virtio_device *dev = &con->vdev;
	struct virtq *vq = &dev->vqs[CONSOLE_RXQ];
	bool used = false;

	while (con->active && con->in.len && virtio_pop(dev, vq, &con->elem)) {
		size_t n;

		if (con->elem.n_out || !con->elem.n_in) {
			virtio_set_broken(dev, "virtio-console: receiveq chain "
					  "has device-readable buffers");
			break;
		}
		n = console_inbuf_to_elem(&con->in, &con->elem);
		virtq_push(vq, con->elem.head, (uint32_t)n);
		used = true;
	}
	if (used)
		virtio_notify_used(dev, vq);
	console_flow(con);
}

static void console_out(void *opaque, const void *buf, size_t len)
{
	chardev_write(opaque, buf, len);
}

static void console_tx(struct virtio_console *con)
{
	struct virtio_device *dev = &con->vdev;
	struct virtq *vq = &dev->vqs[CONSOLE_TXQ];
	bool used = false;
	const char *why;

	while (con->active && virtio_pop(dev, vq, &con->elem)) {
		if (console_tx_chain(&con->elem, console_out, con->ch, &why) < 0) {
			virtio_set_broken(dev, "virtio-console: %s", why);
			break;
		}
		virtq_push(vq, con->elem.head, 0);
		used = true;
	}
	if (used)
		virtio_notify_used(dev, vq);
}

static void console_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *con = opaque;

	pthread_mutex_lock(&con->vdev.lock);
	console_inbuf_put(&con->in, buf, len);
	if (con->in.dropped > con->dropped_logged) {
		log_warn("virtio-console: input buffer full, %llu bytes dropped",
			 (unsigned long long)(con->in.dropped - con->dropped_logged));
		con->dropped_logged = con->in.dropped;
	}
	console_rx(con);
	pthread_mutex_unlock(&con->vdev.lock);
}

static void console_queue_notify(struct virtio_device *dev, struct virtq *vq)
{
	struct virtio_console *con = dev->priv;

	if (vq->index == CONSOLE_RXQ)
		console_rx(con);
	else if (vq->index == CONSOLE_TXQ)
		console_tx(con);
}

static void console_config_access(struct virtio_device *dev, uint32_t off,
				  uint8_t *data, uint32_t len, bool is_write)
{
	(void)dev;
	(void)off;
	if (!is_write)
		memset(data, 0, len);
}

static void console_activate(struct virtio_device *dev)
{
	struct virtio_console *con = dev->priv;

	con->active = true;
	console_rx(con);
}

static void console_reset(struct virtio_device *dev)
{
	struct virtio_console *con = dev->priv;

	/* Typed-ahead input is kept for the next driver. */
	con->active = false;
}

static void console_destroy(struct virtio_device *dev)
{
	struct virtio_console *con = dev->priv;
	chardev_close(con->ch);
	free(con);
}

static const struct virtio_device_ops console_ops = {
	.name = "console",  /* the transport names it virtio-console */
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000,      /* simple communication controller, other */
	.config_access = console_config_access,
	.queue_notify = console_queue_notify,
	.activate = console_activate,
	.reset = console_reset,
	.destroy = console_destroy,
};

int virtio_console_create(struct vm *vm, const struct chardev_config *cfg)
{
	struct virtio_console *con;
	char err[512];

	if (cfg->kind == CHARDEV_NONE)
		return 0;
	con = calloc(1, sizeof(*con));
	if (!con) {
		log_error("virtio-console: out of memory");
		return -1;
	}
	console_inbuf_init(&con->in);
	con->ch = chardev_open(&vm->loop, cfg, "console", err, sizeof(err));
	if (!con->ch) {
		log_error("virtio-console: %s", err);
		free(con);
		return -1;
	}
	if (virtio_pci_init(&con->vdev, vm, &console_ops, 0, 2,
			    CONSOLE_QUEUE_SIZE, con) < 0) {
		log_error("virtio-console: cannot add the PCI device");
		chardev_close(con->ch);
		free(con);
		return -1;
	}
	/* After virtio_pci_init: input handling takes dev->lock.  The
	 * chardev logs its pty or socket path itself. */
	chardev_set_input(con->ch, console_input, con);
	return 0;
}
