/* virtio-console: port 0 (the guest's hvc0, on a character backend) and,
 * with MULTIPORT, named ports ("virtio-serial") whose other end is a
 * backend inside the VMM, such as the SPICE agent channel.
 *
 * Also the internals shared with the unit tests: the bounded buffer
 * between a backend and the guest's receive buffers, and the transmit
 * chain check. */
#ifndef ATOLL_VIRTIO_CONSOLE_H
#define ATOLL_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtqueue.h"

struct vm;
struct chardev_config;

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

/* ---- named ports (MULTIPORT) ------------------------------------------- */

/* The SPICE agent's port; spice-vdagent in the guest opens this name. */
#define VIRTIO_CONSOLE_SPICE_PORT "com.redhat.spice.0"
/* Port 0 plus this many named ports: each port takes two queues and the
 * control channel two more, within VIRTIO_MAX_QUEUES. */
#define VIRTIO_CONSOLE_MAX_NAMED 2
#define VIRTIO_CONSOLE_NAME_MAX  63

struct virtio_console_port;

/* A named port's backend.  Called on the event loop thread WITHOUT the
 * device lock, so a callback may call virtio_console_port_read/_write. */
struct virtio_console_port_ops {
	/* The guest sent data: call virtio_console_port_read until it
	 * returns 0. */
	void (*readable)(void *opaque);
	/* After a short virtio_console_port_write: there is room again. */
	void (*writable)(void *opaque);
	/* The guest opened (true) or closed (false) the port; also called
	 * with false when the driver resets the device.  May repeat a state;
	 * a close and reopen between two deliveries still arrive as false,
	 * then true. */
	void (*guest_open)(void *opaque, bool open);
};

/* Create the device: port 0 on `console` (kind CHARDEV_NONE: no port 0)
 * and `n_names` named ports (at most VIRTIO_CONSOLE_MAX_NAMED).  Without
 * named ports the device is a plain single-port console. */
int virtio_console_create_ports(struct vm *vm, const struct chardev_config *console,
				const char *const *names, unsigned n_names);
/* The named port of vm's console device, or NULL. */
struct virtio_console_port *virtio_console_find_port(struct vm *vm, const char *name);
/* Connect a backend: the guest is told the host side is open.  Any
 * thread; fails (-1) if a backend is attached already. */
int virtio_console_port_attach(struct virtio_console_port *p,
			       const struct virtio_console_port_ops *ops, void *opaque);
/* Disconnect: no callbacks after this returns (event loop thread). */
void virtio_console_port_detach(struct virtio_console_port *p);
/* Bytes the guest sent, up to len; 0 when there are none. */
size_t virtio_console_port_read(struct virtio_console_port *p, void *buf, size_t len);
/* Queue bytes for the guest; returns how many were taken (fewer when the
 * guest is slow: wait for ops->writable).  While the guest has the port
 * closed, bytes are discarded (as the guest's driver would). */
size_t virtio_console_port_write(struct virtio_console_port *p, const void *buf, size_t len);
bool virtio_console_port_guest_open(struct virtio_console_port *p);

#endif
