/* Split virtqueues (virtio 1.x, 2.7).
 *
 * The rings live in guest RAM and the guest may rewrite them while we read,
 * from another vCPU.  So every guest-written value (avail index, ring slot,
 * descriptor fields) is loaded exactly once into a local with a volatile or
 * atomic access, validated, and only the local copy is used afterwards.
 *
 * Zero-length descriptors are accepted and skipped: they carry no data, so
 * their address is not checked and they take no iovec slot, but they still
 * count towards the chain length (loop detection) and must respect the
 * readable-before-writable order. */
#include "virtqueue.h"

#include <string.h>

/* Offsets inside the rings, in bytes (spec 2.7.6 and 2.7.8). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX   2
#define AVAIL_RING  4
#define USED_FLAGS  0
#define USED_IDX    2
#define USED_RING   4

#define VIRTQ_NO_VECTOR 0xffff

static uint64_t desc_table_bytes(uint16_t size) { return 16ULL * size; }
/* flags, idx, ring[size], used_event */
static uint64_t avail_ring_bytes(uint16_t size) { return 6ULL + 2ULL * size; }
/* flags, idx, ring[size], avail_event */
static uint64_t used_ring_bytes(uint16_t size) { return 6ULL + 8ULL * size; }

void virtq_init(struct virtq *vq, uint16_t index, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	if (max_size == 0 || max_size > VIRTQ_MAX_SIZE)
		max_size = VIRTQ_MAX_SIZE;
	vq->index = index;
	vq->max_size = max_size;
	vq->size = max_size;
	vq->msix_vector = VIRTQ_NO_VECTOR;
}

void virtq_reset(struct virtq *vq)
{
	virtq_init(vq, vq->index, vq->max_size);
}

static bool is_power_of_two(uint16_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Resolve one ring: aligned and entirely inside one RAM region. */
static void *map_ring(const struct guest_memory *gm, uint64_t gpa,
		      uint64_t len, uint64_t align)
{
	if (gpa & (align - 1))
		return NULL;
	return guest_ptr(gm, gpa, len);
}

int virtq_enable(struct virtq *vq, const struct guest_memory *gm,
		 const char **why)
{
	void *desc, *avail, *used;

	if (!is_power_of_two(vq->size) || vq->size > vq->max_size) {
		*why = "queue size is zero, not a power of two or above the maximum";
		return -1;
	}
	desc = map_ring(gm, vq->desc_addr, desc_table_bytes(vq->size), 16);
	if (!desc) {
		*why = "descriptor table is misaligned or not in guest RAM";
		return -1;
	}
	avail = map_ring(gm, vq->avail_addr, avail_ring_bytes(vq->size), 2);
	if (!avail) {
		*why = "available ring is misaligned or not in guest RAM";
		return -1;
	}
	used = map_ring(gm, vq->used_addr, used_ring_bytes(vq->size), 4);
	if (!used) {
		*why = "used ring is misaligned or not in guest RAM";
		return -1;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	/* A queue starts at index 0 on both rings after reset (2.7.13). */
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->enabled = true;
	return 0;
}

static uint16_t load_u16(const volatile uint16_t *p)
{
	return *p;
}

/* One descriptor, each field fetched once. */
static void read_desc(const struct virtq *vq, uint16_t i, struct virtq_desc *out)
{
	const volatile uint8_t *base = (const volatile uint8_t *)vq->desc + 16u * i;

	/* The table is 16-byte aligned (checked at enable), so these are
	 * naturally aligned accesses. */
	out->addr = *(const volatile uint64_t *)(base + 0);
	out->len = *(const volatile uint32_t *)(base + 8);
	out->flags = *(const volatile uint16_t *)(base + 12);
	out->next = *(const volatile uint16_t *)(base + 14);
}

/* Validate one descriptor of a chain and append it to elem. */
static int add_desc(const struct guest_memory *gm, const struct virtq_desc *d,
		    struct virtq_elem *elem, const char **why)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	uint32_t *total = writable ? &elem->in_len : &elem->out_len;
	void *p;

	if (d->flags & VIRTQ_DESC_F_INDIRECT) {
		*why = "indirect descriptor used but VIRTIO_RING_F_INDIRECT_DESC was not offered";
		return -1;
	}
	if (!writable && elem->n_in) {
		*why = "device-readable descriptor after a device-writable one";
		return -1;
	}
	if (d->len > UINT32_MAX - *total) {
		*why = "descriptor chain is larger than 4 GiB";
		return -1;
	}
	if (d->len == 0)
		return 0;
	p = guest_ptr(gm, d->addr, d->len);
	if (!p) {
		*why = "descriptor buffer is not in guest RAM";
		return -1;
	}
	*total += d->len;
	elem->iov[elem->n_out + elem->n_in] = (struct iovec){ p, d->len };
	if (writable)
		elem->n_in++;
	else
		elem->n_out++;
	return 0;
}

static int walk_chain(const struct virtq *vq, const struct guest_memory *gm,
		      uint16_t head, struct virtq_elem *elem, const char **why)
{
	struct virtq_desc d;
	uint16_t i = head;
	unsigned count = 0;

	elem->head = head;
	elem->n_out = elem->n_in = 0;
	elem->out_len = elem->in_len = 0;
	for (;;) {
		if (i >= vq->size) {
			*why = "descriptor index out of range";
			return -1;
		}
		/* A chain can use each descriptor once at most, so more than
		 * `size` links means a loop. */
		if (++count > vq->size) {
			*why = "descriptor chain longer than the queue (loop?)";
			return -1;
		}
		read_desc(vq, i, &d);
		if (add_desc(gm, &d, elem, why) < 0)
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int virtq_pop(struct virtq *vq, const struct guest_memory *gm,
	      struct virtq_elem *elem, const char **why)
{
	uint16_t avail_idx, pending, head;

	if (!vq->enabled)
		return 0;
	/* Acquire: the ring slot and descriptors the driver wrote before
	 * bumping idx must be visible once we see the new idx. */
	avail_idx = __atomic_load_n(&vq->avail[AVAIL_IDX / 2], __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->size) {
		*why = "avail index jumped ahead by more than the queue size";
		return -1;
	}
	head = load_u16(&vq->avail[AVAIL_RING / 2 + (vq->last_avail & (vq->size - 1))]);
	if (walk_chain(vq, gm, head, elem, why) < 0)
		return -1;
	vq->last_avail++;
	return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	volatile uint8_t *slot;

	if (!vq->enabled)
		return;
	slot = (volatile uint8_t *)vq->used + USED_RING +
	       8u * (vq->used_idx & (vq->size - 1));
	*(volatile uint32_t *)(slot + 0) = head;
	*(volatile uint32_t *)(slot + 4) = len;
	vq->used_idx++;
	/* Release: the element must be visible before the new index. */
	__atomic_store_n(&vq->used[USED_IDX / 2], vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_needs_interrupt(const struct virtq *vq)
{
	if (!vq->enabled)
		return false;
	/* Order our used->idx store before the flags load, or we could miss
	 * a driver that just re-enabled interrupts and went to sleep. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !(load_u16(&vq->avail[AVAIL_FLAGS / 2]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip,
		  void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, l);
		done += l;
		skip = 0;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip,
		    const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, l);
		done += l;
		skip = 0;
	}
	return done;
}
