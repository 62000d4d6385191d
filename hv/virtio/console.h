/* virtio-console internals shared with the unit tests: the bounded buffer
 * between the character backend and the guest's receive buffers, and the
 * transmit chain check. */
#ifndef ATOLL_VIRTIO_CONSOLE_H
#define ATOLL_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtqueue.h"

/* Input the guest has not taken yet.  At CONSOLE_INBUF_PAUSE bytes the
 * backend is told to stop reading; the rest of the capacity absorbs the
 * chunk that crossed the mark.  Bytes beyond capacity are dropped. */
#define CONSOLE_INBUF_SIZE   8192
#define CONSOLE_INBUF_PAUSE  4096
#define CONSOLE_INBUF_RESUME 2048

struct console_inbuf {
	uint8_t data[CONSOLE_INBUF_SIZE];
	size_t head;        /* oldest byte */
	size_t len;
	uint64_t dropped;
};

void console_inbuf_init(struct console_inbuf *b);
/* Append; returns how many bytes fitted (the rest are counted dropped). */
size_t console_inbuf_put(struct console_inbuf *b, const uint8_t *p, size_t n);
/* Move up to the chain's capacity into the element's device-writable
 * buffers; returns the bytes moved. */
size_t console_inbuf_to_elem(struct console_inbuf *b, const struct virtq_elem *elem);

/* Output sink for console_tx_chain (chardev_write in the device). */
typedef void (*console_out_fn)(void *opaque, const void *buf, size_t len);
/* Pass a transmitq chain's bytes to `out`.  -1 with *why set if the chain
 * is not a valid transmit chain (it has device-writable buffers). */
int console_tx_chain(const struct virtq_elem *elem, console_out_fn out,
		     void *opaque, const char **why);

#endif
