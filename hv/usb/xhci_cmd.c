/* The command ring (xHCI 4.6): device slots, their contexts in guest
 * memory (DCBAA, input and output device contexts) and endpoint state.
 * Commands complete as they are read.  Context pointers come from the
 * guest: each one is checked, and one outside guest RAM is a Host System
 * Error; a well-formed command the state does not allow gets the
 * completion code the specification gives for it. */
#include "xhci_int.h"

#include <string.h>

#include "../memory.h"

#define CTX_BYTES  32
#define DEV_CTX_BYTES (CTX_BYTES * XHCI_MAX_EP)
#define IN_CTX_BYTES  (CTX_BYTES * (XHCI_MAX_EP + 1))
#define FATAL 0    /* a host error was raised: no completion event */

/* An input context: control context, slot context, 31 endpoints. */
struct in_ctx {
	uint32_t w[IN_CTX_BYTES / 4];
};

static uint32_t *in_slot(struct in_ctx *ic) { return &ic->w[8]; }
static uint32_t *in_ep(struct in_ctx *ic, unsigned dci) { return &ic->w[8 + 8 * dci]; }

static bool read_input(struct xhci *x, const struct xhci_trb *t, struct in_ctx *ic)
{
	uint64_t addr = t->param & ~0xfULL;
	if (guest_read(x->mem, addr, ic, sizeof(*ic))) {
		xhci_host_error(x, "input context at 0x%llx outside guest memory",
				(unsigned long long)addr);
		return false;
	}
	return true;
}

static bool ctx_write(struct xhci *x, unsigned slot, unsigned idx, const uint32_t *c)
{
	uint64_t addr = x->slots[slot].ctx + (uint64_t)CTX_BYTES * idx;
	if (guest_write(x->mem, addr, c, CTX_BYTES)) {
		xhci_host_error(x, "slot %u: device context outside guest memory", slot);
		return false;
	}
	return true;
}

static bool ctx_read(struct xhci *x, unsigned slot, unsigned idx, uint32_t *c)
{
	uint64_t addr = x->slots[slot].ctx + (uint64_t)CTX_BYTES * idx;
	if (guest_read(x->mem, addr, c, CTX_BYTES)) {
		xhci_host_error(x, "slot %u: device context outside guest memory", slot);
		return false;
	}
	return true;
}

/* Write the slot's state and address into its output slot context. */
static bool slot_ctx_sync(struct xhci *x, unsigned slot)
{
	struct xhci_slot *s = &x->slots[slot];
	uint32_t c[8];
	unsigned last = 1;

	if (!ctx_read(x, slot, 0, c))
		return false;
	for (unsigned d = 2; d < XHCI_MAX_EP; d++)
		if (s->ep[d].state != EP_DISABLED)
			last = d;
	c[0] = (c[0] & 0x07ffffffu) | last << 27;
	c[3] = (uint32_t)s->state << 27 | (s->state >= SLOT_ADDRESSED ? slot : 0);
	return ctx_write(x, slot, 0, c);
}

static struct xhci_slot *slot_get(struct xhci *x, unsigned id)
{
	if (id < 1 || id > XHCI_MAX_SLOTS || !x->slots[id].enabled)
		return NULL;
	return &x->slots[id];
}

/* An endpoint context the guest asks us to use: 0 or a completion code. */
static unsigned ep_ctx_check(struct xhci *x, const uint32_t *c, bool ep0)
{
	unsigned type = (c[1] >> 3) & 7;
	uint64_t deq = ((uint64_t)c[3] << 32 | c[2]) & ~0xfULL;

	if (type == EPT_INVALID || (ep0 && type != EPT_CONTROL))
		return CC_PARAMETER;
	if ((c[0] >> 10) & 0x1f)   /* streams: MaxPSASize is 0 */
		return CC_PARAMETER;
	if (!deq || !guest_ptr(x->mem, deq, 16))
		return CC_PARAMETER;
	return 0;
}

static void ep_load(struct xhci_ep *ep, const uint32_t *c)
{
	ep->state = EP_RUNNING;
	ep->type = (c[1] >> 3) & 7;
	ep->mps = (uint16_t)(c[1] >> 16);
	ep->ring.deq = ((uint64_t)c[3] << 32 | c[2]) & ~0xfULL;
	ep->ring.ccs = c[2] & 1;
	ep->xfer = NULL;
}

/* Put an endpoint into the output context as loaded (Running). */
static bool ep_store(struct xhci *x, unsigned slot, unsigned dci, const uint32_t *in)
{
	uint32_t c[8];
	memcpy(c, in, sizeof(c));
	c[0] = (c[0] & ~7u) | EP_RUNNING;
	return ctx_write(x, slot, dci, c);
}

static void ep_disable(struct xhci *x, unsigned slot, unsigned dci)
{
	xhci_ep_abort(x, slot, dci);
	memset(&x->slots[slot].ep[dci], 0, sizeof(struct xhci_ep));
}

static unsigned cmd_enable_slot(struct xhci *x, const struct xhci_trb *t, unsigned *slot_out)
{
	unsigned max = x->config & 0xff;
	if ((t->control >> 16) & 0x1f)
		return CC_TRB;    /* only slot type 0 is offered */
	if (max > XHCI_MAX_SLOTS)
		max = XHCI_MAX_SLOTS;
	for (unsigned s = 1; s <= max; s++) {
		if (x->slots[s].enabled)
			continue;
		memset(&x->slots[s], 0, sizeof(x->slots[s]));
		x->slots[s].enabled = true;
		x->slots[s].state = SLOT_ENABLED;
		*slot_out = s;
		return CC_SUCCESS;
	}
	return CC_NO_SLOTS;
}

static unsigned cmd_disable_slot(struct xhci *x, unsigned id)
{
	struct xhci_slot *s = slot_get(x, id);
	if (!s)
		return CC_SLOT_NOT_ENABLED;
	for (unsigned d = 1; d < XHCI_MAX_EP; d++)
		ep_disable(x, id, d);
	memset(s, 0, sizeof(*s));
	return CC_SUCCESS;
}

static unsigned cmd_address_device(struct xhci *x, const struct xhci_trb *t, unsigned id)
{
	struct xhci_slot *s = slot_get(x, id);
	bool bsr = t->control & TRB_BSR;
	struct in_ctx ic;
	uint64_t ctx;

	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (s->state != SLOT_ENABLED && (bsr || s->state != SLOT_DEFAULT))
		return CC_CONTEXT_STATE;
	if (!read_input(x, t, &ic))
		return FATAL;
	if ((ic.w[1] & 3) != 3)
		return CC_PARAMETER;   /* slot and EP0 contexts must both be added */
	uint32_t *sc = in_slot(&ic), *e0 = in_ep(&ic, 1);
	int port = (int)((sc[1] >> 16) & 0xff);
	struct xhci_port *p = xhci_port(x, port);
	if (!p || !p->dev || (sc[0] & 0xfffff))
		return CC_PARAMETER;   /* no such root port, nothing on it, or a hub route */
	if (ep_ctx_check(x, e0, true))
		return CC_PARAMETER;
	if (guest_read(x->mem, x->dcbaap + 8ULL * id, &ctx, 8) ||
	    (ctx & 0x3f) || !ctx || !guest_ptr(x->mem, ctx, DEV_CTX_BYTES)) {
		xhci_host_error(x, "slot %u: device context base address array or its entry invalid", id);
		return FATAL;
	}

	xhci_ep_abort(x, id, 1);
	s->ctx = ctx;
	s->port = port;
	s->dev = p->dev;
	s->state = bsr ? SLOT_DEFAULT : SLOT_ADDRESSED;
	ep_load(&s->ep[1], e0);

	/* A fresh output context: slot, EP0, every other endpoint disabled. */
	uint32_t zero[8] = { 0 };
	for (unsigned d = 2; d < XHCI_MAX_EP; d++)
		if (!ctx_write(x, id, d, zero))
			return FATAL;
	uint32_t c[8];
	memcpy(c, sc, sizeof(c));
	if (!ctx_write(x, id, 0, c) || !ep_store(x, id, 1, e0) || !slot_ctx_sync(x, id))
		return FATAL;
	return CC_SUCCESS;
}

static unsigned cmd_configure_ep(struct xhci *x, const struct xhci_trb *t, unsigned id)
{
	struct xhci_slot *s = slot_get(x, id);
	struct in_ctx ic;

	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (s->state != SLOT_ADDRESSED && s->state != SLOT_CONFIGURED)
		return CC_CONTEXT_STATE;
	if (t->control & TRB_DC) {
		for (unsigned d = 2; d < XHCI_MAX_EP; d++)
			ep_disable(x, id, d);
		s->state = SLOT_ADDRESSED;
		return slot_ctx_sync(x, id) ? CC_SUCCESS : FATAL;
	}
	if (!read_input(x, t, &ic))
		return FATAL;
	uint32_t drop = ic.w[0] & ~3u, add = ic.w[1] & ~3u;
	for (unsigned d = 2; d < XHCI_MAX_EP; d++)
		if ((add & (1u << d)) && ep_ctx_check(x, in_ep(&ic, d), false))
			return CC_PARAMETER;   /* nothing changed yet */

	uint32_t zero[8] = { 0 };
	for (unsigned d = 2; d < XHCI_MAX_EP; d++) {
		if (!((drop | add) & (1u << d)))
			continue;
		ep_disable(x, id, d);
		if (add & (1u << d)) {
			ep_load(&s->ep[d], in_ep(&ic, d));
			if (!ep_store(x, id, d, in_ep(&ic, d)))
				return FATAL;
		} else if (!ctx_write(x, id, d, zero)) {
			return FATAL;
		}
	}
	s->state = SLOT_ADDRESSED;
	for (unsigned d = 2; d < XHCI_MAX_EP; d++)
		if (s->ep[d].state != EP_DISABLED)
			s->state = SLOT_CONFIGURED;
	return slot_ctx_sync(x, id) ? CC_SUCCESS : FATAL;
}

static unsigned cmd_evaluate_ctx(struct xhci *x, const struct xhci_trb *t, unsigned id)
{
	struct xhci_slot *s = slot_get(x, id);
	struct in_ctx ic;
	uint32_t c[8];

	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (s->state == SLOT_ENABLED)
		return CC_CONTEXT_STATE;
	if (!read_input(x, t, &ic))
		return FATAL;
	if (ic.w[1] & 1) {
		/* Max exit latency and interrupter target only (6.2.2.3). */
		if (!ctx_read(x, id, 0, c))
			return FATAL;
		c[1] = (c[1] & ~0xffffu) | (in_slot(&ic)[1] & 0xffff);
		c[2] = (c[2] & 0x003fffffu) | (in_slot(&ic)[2] & 0xffc00000u);
		if (!ctx_write(x, id, 0, c))
			return FATAL;
	}
	if (ic.w[1] & 2) {
		/* EP0's max packet size, learnt from the device descriptor. */
		uint16_t mps = (uint16_t)(in_ep(&ic, 1)[1] >> 16);
		if (!ctx_read(x, id, 1, c))
			return FATAL;
		c[1] = (c[1] & 0xffff) | (uint32_t)mps << 16;
		s->ep[1].mps = mps;
		if (!ctx_write(x, id, 1, c))
			return FATAL;
	}
	return CC_SUCCESS;
}

static struct xhci_ep *cmd_ep(struct xhci *x, const struct xhci_trb *t, unsigned *cc)
{
	unsigned id = TRB_SLOT(t->control), dci = TRB_EPID(t->control);
	struct xhci_slot *s = slot_get(x, id);
	if (!s) {
		*cc = CC_SLOT_NOT_ENABLED;
		return NULL;
	}
	if (dci < 1 || dci >= XHCI_MAX_EP || s->ep[dci].state == EP_DISABLED) {
		*cc = CC_EP_NOT_ENABLED;
		return NULL;
	}
	return &s->ep[dci];
}

static unsigned cmd_reset_ep(struct xhci *x, const struct xhci_trb *t)
{
	unsigned cc;
	struct xhci_ep *ep = cmd_ep(x, t, &cc);
	if (!ep)
		return cc;
	if (ep->state != EP_HALTED)
		return CC_CONTEXT_STATE;
	ep->state = EP_STOPPED;
	return xhci_ep_ctx_sync(x, TRB_SLOT(t->control), TRB_EPID(t->control)) ? FATAL : CC_SUCCESS;
}

static unsigned cmd_stop_ep(struct xhci *x, const struct xhci_trb *t)
{
	unsigned cc, slot = TRB_SLOT(t->control), dci = TRB_EPID(t->control);
	struct xhci_ep *ep = cmd_ep(x, t, &cc);
	if (!ep)
		return cc;
	if (ep->state != EP_RUNNING)
		return CC_CONTEXT_STATE;
	if (ep->xfer) {
		/* The TD in progress is reported stopped and will run again
		 * from its start unless the driver moves the dequeue pointer. */
		struct xhci_xfer *xf = ep->xfer;
		const struct xhci_td_trb *tt = &xf->td.trbs[0];
		uint32_t len = TRB_TYPE(tt->trb.control) == TRB_SETUP ? 0 : tt->trb.status & 0x1ffff;
		xhci_ep_abort(x, slot, dci);
		xhci_transfer_event(x, slot, dci, tt->addr, CC_STOPPED, len, false);
	}
	ep->state = EP_STOPPED;
	return xhci_ep_ctx_sync(x, slot, dci) ? FATAL : CC_SUCCESS;
}

static unsigned cmd_set_tr_deq(struct xhci *x, const struct xhci_trb *t)
{
	unsigned cc;
	struct xhci_ep *ep = cmd_ep(x, t, &cc);
	uint64_t deq = t->param & ~0xfULL;
	if (!ep)
		return cc;
	if (ep->state != EP_STOPPED && ep->state != EP_ERROR)
		return CC_CONTEXT_STATE;
	if (!deq || !guest_ptr(x->mem, deq, 16))
		return CC_TRB;
	ep->ring.deq = deq;
	ep->ring.ccs = t->param & 1;
	return xhci_ep_ctx_sync(x, TRB_SLOT(t->control), TRB_EPID(t->control)) ? FATAL : CC_SUCCESS;
}

static unsigned cmd_reset_device(struct xhci *x, unsigned id)
{
	struct xhci_slot *s = slot_get(x, id);
	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (s->state != SLOT_ADDRESSED && s->state != SLOT_CONFIGURED)
		return CC_CONTEXT_STATE;
	for (unsigned d = 2; d < XHCI_MAX_EP; d++)
		ep_disable(x, id, d);
	xhci_ep_abort(x, id, 1);
	s->state = SLOT_DEFAULT;
	return slot_ctx_sync(x, id) ? CC_SUCCESS : FATAL;
}

static unsigned run_one(struct xhci *x, const struct xhci_trb *t, unsigned *slot)
{
	unsigned id = TRB_SLOT(t->control);

	*slot = id;
	switch (TRB_TYPE(t->control)) {
	case TRB_ENABLE_SLOT: *slot = 0; return cmd_enable_slot(x, t, slot);
	case TRB_DISABLE_SLOT: return cmd_disable_slot(x, id);
	case TRB_ADDRESS_DEVICE: return cmd_address_device(x, t, id);
	case TRB_CONFIGURE_EP: return cmd_configure_ep(x, t, id);
	case TRB_EVALUATE_CTX: return cmd_evaluate_ctx(x, t, id);
	case TRB_RESET_EP: return cmd_reset_ep(x, t);
	case TRB_STOP_EP: return cmd_stop_ep(x, t);
	case TRB_SET_TR_DEQ: return cmd_set_tr_deq(x, t);
	case TRB_RESET_DEVICE: return cmd_reset_device(x, id);
	case TRB_NOOP_CMD: *slot = 0; return CC_SUCCESS;
	}
	*slot = 0;
	return CC_TRB;
}

void xhci_run_commands(struct xhci *x)
{
	for (int n = 0; n < XHCI_MAX_CMDS_PER_KICK; n++) {
		struct xhci_trb t;
		uint64_t addr;
		const char *why = NULL;
		unsigned slot = 0;

		if (!xhci_running(x) || !x->crr)
			return;
		enum xhci_fetch f = xhci_ring_fetch(&x->cmd, x->mem, &t, &addr, &why);
		if (f == FETCH_EMPTY)
			return;
		if (f == FETCH_ERROR) {
			xhci_host_error(x, "command ring: %s", why);
			return;
		}
		unsigned cc = run_one(x, &t, &slot);
		if (cc == FATAL)
			return;
		struct xhci_trb ev = {
			.param = addr,
			.status = cc << 24,
			.control = TRB_EV_CMD_COMPLETION << 10 | slot << 24,
		};
		xhci_post_event(x, &ev);
	}
	/* A long batch: the rest after the event loop had a turn. */
	x->db_pending[0] |= 1;
	xhci_schedule(x);
}
