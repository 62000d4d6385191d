/* TRB rings in guest memory (xHCI 4.9): the consumer side used for the
 * command ring and transfer rings, and the event ring producer.  Everything
 * here reads guest-written memory, so every pointer is checked through
 * guest_read/guest_write and every walk is bounded. */
#include "xhci_int.h"

#include <stdlib.h>
#include <string.h>

#include "../memory.h"

static int trb_read(const struct guest_memory *gm, uint64_t addr, struct xhci_trb *t)
{
	uint8_t b[16];
	if (guest_read(gm, addr, b, sizeof(b)))
		return -1;
	memcpy(&t->param, b, 8);
	memcpy(&t->status, b + 8, 4);
	memcpy(&t->control, b + 12, 4);
	return 0;
}

enum xhci_fetch xhci_ring_fetch(struct xhci_ring *r, const struct guest_memory *gm,
				struct xhci_trb *trb, uint64_t *addr, const char **why)
{
	for (unsigned links = 0; links <= XHCI_MAX_LINKS; links++) {
		if (r->deq & 0xf) {
			*why = "ring pointer not 16-byte aligned";
			return FETCH_ERROR;
		}
		if (trb_read(gm, r->deq, trb)) {
			*why = "ring pointer outside guest memory";
			return FETCH_ERROR;
		}
		if (!!(trb->control & TRB_C) != r->ccs)
			return FETCH_EMPTY;
		if (TRB_TYPE(trb->control) != TRB_LINK) {
			*addr = r->deq;
			r->deq += 16;
			return FETCH_OK;
		}
		/* Low 4 bits of the segment pointer are reserved. */
		r->deq = trb->param & ~0xfULL;
		if (trb->control & TRB_TC)
			r->ccs = !r->ccs;
	}
	*why = "link TRB loop";
	return FETCH_ERROR;
}

static int td_push(struct xhci_td *td, uint64_t addr, const struct xhci_trb *t)
{
	if (td->n == td->cap) {
		unsigned cap = td->cap ? td->cap * 2 : 8;
		struct xhci_td_trb *n = realloc(td->trbs, cap * sizeof(*n));
		if (!n)
			return -1;
		td->trbs = n;
		td->cap = cap;
	}
	td->trbs[td->n].addr = addr;
	td->trbs[td->n].trb = *t;
	td->n++;
	return 0;
}

/* Whether `t` ends the transfer.  A control transfer ends with the status
 * stage TD; anything else with the first TRB that does not chain. */
static bool td_ends(const struct xhci_trb *t, bool control, bool *in_status)
{
	unsigned type = TRB_TYPE(t->control);
	if (control) {
		if (type == TRB_STATUS)
			*in_status = true;
		return *in_status && !(t->control & TRB_CH);
	}
	return !(t->control & TRB_CH);
}

enum xhci_fetch xhci_td_collect(struct xhci_td *td, const struct xhci_ring *r,
				const struct guest_memory *gm, bool control,
				const char **why)
{
	struct xhci_ring pos = *r;
	bool in_status = false;

	td->n = 0;
	td->start = *r;
	for (;;) {
		struct xhci_trb t;
		uint64_t addr;
		enum xhci_fetch f = xhci_ring_fetch(&pos, gm, &t, &addr, why);
		if (f != FETCH_OK)
			return f;
		if (td->n == 0) {
			/* The start is the first real TRB, after any links. */
			td->start.deq = addr;
			td->start.ccs = pos.ccs;
			/* Only a setup stage opens a multi-TD control transfer. */
			control = control && TRB_TYPE(t.control) == TRB_SETUP;
		}
		if (td->n >= XHCI_MAX_TD_TRBS) {
			*why = "transfer descriptor longer than 1024 TRBs (unterminated chain?)";
			return FETCH_ERROR;
		}
		if (td_push(td, addr, &t)) {
			*why = "out of memory";
			return FETCH_ERROR;
		}
		if (td_ends(&t, control, &in_status))
			break;
	}
	td->next = pos;
	return FETCH_OK;
}

void xhci_td_free(struct xhci_td *td)
{
	free(td->trbs);
	td->trbs = NULL;
	td->n = td->cap = 0;
}

/* Event ring. */

bool xhci_erst_load(struct xhci_intr *in, const struct guest_memory *gm,
		    const char **why)
{
	unsigned n = in->erstsz & 0xffff;

	in->valid = false;
	if (n == 0 || n > (1u << XHCI_ERST_MAX_LOG2)) {
		*why = "event ring segment table size 0 or above the supported maximum";
		return false;
	}
	if (in->erstba & 0x3f) {
		*why = "event ring segment table not 64-byte aligned";
		return false;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t e[16];
		if (guest_read(gm, in->erstba + 16ULL * i, e, sizeof(e))) {
			*why = "event ring segment table outside guest memory";
			return false;
		}
		uint64_t base;
		uint32_t size;
		memcpy(&base, e, 8);
		memcpy(&size, e + 8, 4);
		size &= 0xffff;
		if ((base & 0x3f) || size < 16 || size > 4096 ||
		    !guest_ptr(gm, base, 16ULL * size)) {
			*why = "event ring segment unaligned, of a bad size or outside guest memory";
			return false;
		}
		in->seg[i].base = base;
		in->seg[i].size = size;
	}
	in->nseg = n;
	in->enq_seg = in->enq_idx = 0;
	in->pcs = true;
	in->valid = true;
	return true;
}

static uint64_t enq_addr(const struct xhci_intr *in, unsigned seg, unsigned idx)
{
	return in->seg[seg].base + 16ULL * idx;
}

static void enq_next(const struct xhci_intr *in, unsigned *seg, unsigned *idx, bool *pcs)
{
	if (++*idx < in->seg[*seg].size)
		return;
	*idx = 0;
	if (++*seg == in->nseg) {
		*seg = 0;
		if (pcs)
			*pcs = !*pcs;
	}
}

int xhci_event_put(struct xhci_intr *in, struct guest_memory *gm,
		   const struct xhci_trb *ev)
{
	unsigned seg = in->enq_seg, idx = in->enq_idx;

	if (!in->valid)
		return -1;
	/* Full when the slot after this one is the guest's dequeue pointer:
	 * one slot always stays empty so full and empty differ (4.9.4). */
	enq_next(in, &seg, &idx, NULL);
	if (enq_addr(in, seg, idx) == (in->erdp & ~0xfULL))
		return 0;

	uint8_t b[16];
	uint32_t control = (ev->control & ~TRB_C) | (in->pcs ? TRB_C : 0);
	memcpy(b, &ev->param, 8);
	memcpy(b + 8, &ev->status, 4);
	uint8_t *p = guest_ptr(gm, enq_addr(in, in->enq_seg, in->enq_idx), 16);
	if (!p)
		return -1;
	/* The cycle bit makes the event valid: it goes last. */
	memcpy(p, b, 12);
	__atomic_store_n((uint32_t *)(void *)(p + 12), control, __ATOMIC_RELEASE);
	enq_next(in, &in->enq_seg, &in->enq_idx, &in->pcs);
	return 1;
}

bool xhci_event_pending(const struct xhci_intr *in)
{
	return in->valid && enq_addr(in, in->enq_seg, in->enq_idx) != (in->erdp & ~0xfULL);
}
