/* Split virtqueues (virtio 1.x, section 2.7).  Everything read from the
 * rings is guest-controlled: each element is validated before a device sees
 * it, and any violation is reported as an error that breaks the device. */
#ifndef ATOLL_VIRTQUEUE_H
#define ATOLL_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../memory.h"

#define VIRTQ_MAX_SIZE   256        /* largest queue size we offer */
#define VIRTQ_MAX_CHAIN  VIRTQ_MAX_SIZE  /* a chain never exceeds the queue */

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
} __attribute__((packed));

struct virtq {
	uint16_t index;
	uint16_t size;          /* negotiated queue size (power of two) */
	uint16_t max_size;
	bool enabled;
	uint64_t desc_addr, avail_addr, used_addr;  /* guest addresses */
	uint16_t msix_vector;
	uint16_t last_avail;    /* next avail index we will consume */
	uint16_t used_idx;      /* our copy of used->idx */
	/* Host pointers, resolved (and bounds-checked) by virtq_enable. */
	struct virtq_desc *desc;
	volatile uint16_t *avail;   /* flags, idx, ring[size], used_event */
	volatile uint16_t *used;    /* flags, idx, then used elems */
};

/* One request: the chain's buffers, device-readable ones first. */
struct virtq_elem {
	uint16_t head;
	uint16_t n_out, n_in;
	uint32_t out_len, in_len;   /* total bytes */
	struct iovec iov[VIRTQ_MAX_CHAIN]; /* out[0..n_out) then in[..n_in) */
};

void virtq_init(struct virtq *vq, uint16_t index, uint16_t max_size);
/* Forget everything (device reset). */
void virtq_reset(struct virtq *vq);
/* Check the ring addresses and size the driver wrote and resolve them to
 * host pointers.  Returns 0, or -1 with *why set to a message. */
int virtq_enable(struct virtq *vq, const struct guest_memory *gm,
		 const char **why);

/* Take the next available chain.  Returns 1 and fills elem, 0 if the ring
 * is empty, or -1 with *why set when the guest broke the ring (descriptor
 * loop, address outside RAM, over-long chain, bad index, write-only
 * descriptor before a read-only one, ...). */
int virtq_pop(struct virtq *vq, const struct guest_memory *gm,
	      struct virtq_elem *elem, const char **why);
/* Hand a chain back with `len` bytes written into its in-buffers. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt now (VIRTQ_AVAIL_F_NO_INTERRUPT). */
bool virtq_needs_interrupt(const struct virtq *vq);

/* Copy between an element's buffers and a flat buffer. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip,
		  void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip,
		    const void *buf, size_t len);

#endif
