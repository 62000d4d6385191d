/* Transfer rings (xHCI 4.11, 4.10): turning the guest's TDs into USB
 * packets for the device, and the device's results into transfer events.
 *
 * One transfer is in flight per endpoint.  The endpoint's ring position
 * stays at the start of that transfer until it succeeds, so a stop or a
 * halt leaves the dequeue pointer on the unfinished TD, where drivers
 * expect it (4.6.9, 4.10.2). */
#include "xhci_int.h"

#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../memory.h"

#define MAX_IMMEDIATE_PER_KICK 256

static struct xhci_ep *ep_of(struct xhci *x, unsigned slot, unsigned dci)
{
	if (slot < 1 || slot > XHCI_MAX_SLOTS || dci < 1 || dci >= XHCI_MAX_EP)
		return NULL;
	return &x->slots[slot].ep[dci];
}

int xhci_ep_ctx_sync(struct xhci *x, unsigned slot, unsigned dci)
{
	struct xhci_slot *s = &x->slots[slot];
	struct xhci_ep *ep = &s->ep[dci];
	uint32_t c[4];
	uint64_t addr = s->ctx + 32ULL * dci;

	if (!s->ctx)
		return 0;
	if (guest_read(x->mem, addr, c, sizeof(c)))
		goto bad;
	c[0] = (c[0] & ~7u) | ep->state;
	uint64_t deq = ep->ring.deq | (ep->ring.ccs ? 1 : 0);
	c[2] = (uint32_t)deq;
	c[3] = (uint32_t)(deq >> 32);
	if (guest_write(x->mem, addr, c, sizeof(c)))
		goto bad;
	return 0;
bad:
	xhci_host_error(x, "slot %u: device context outside guest memory", slot);
	return -1;
}

void xhci_transfer_event(struct xhci *x, unsigned slot, unsigned dci, uint64_t trb,
			 unsigned cc, uint32_t len, bool ed)
{
	struct xhci_trb ev = {
		.param = trb,
		.status = (uint32_t)cc << 24 | (len & 0xffffff),
		.control = TRB_EV_TRANSFER << 10 | dci << 16 | slot << 24 | (ed ? TRB_EV_ED : 0),
	};
	xhci_post_event(x, &ev);
}

void xhci_xfer_free(struct xhci *x, struct xhci_xfer *xf)
{
	if (xf->prev_all)
		xf->prev_all->next_all = xf->next_all;
	else
		x->xfers = xf->next_all;
	if (xf->next_all)
		xf->next_all->prev_all = xf->prev_all;
	struct xhci_ep *ep = ep_of(x, xf->slot, xf->dci);
	if (ep && ep->xfer == xf)
		ep->xfer = NULL;
	xhci_td_free(&xf->td);
	free(xf->pkt.buf);
	free(xf);
}

void xhci_ep_abort(struct xhci *x, unsigned slot, unsigned dci)
{
	struct xhci_ep *ep = ep_of(x, slot, dci);
	if (!ep || !ep->xfer)
		return;
	/* The backend is told on the event loop (xhci_cancel_orphans); the
	 * ring stays at the TD's start, so a restart runs it again. */
	ep->xfer->orphan = true;
	ep->xfer->cancel_pending = true;
	ep->xfer = NULL;
}

void xhci_cancel_orphans(struct xhci *x)
{
	for (struct xhci_xfer *xf = x->xfers; xf; xf = xf->next_all) {
		if (!xf->cancel_pending || xf->completed)
			continue;
		xf->cancel_pending = false;
		if (xf->dev && xf->dev->ops->cancel)
			xf->dev->ops->cancel(xf->dev, &xf->pkt);
	}
}

static bool is_data_trb(unsigned type)
{
	return type == TRB_NORMAL || type == TRB_DATA;
}

static uint32_t trb_len(const struct xhci_trb *t)
{
	return t->status & 0x1ffff;
}

static unsigned status_cc(enum usb_status st)
{
	switch (st) {
	case USB_STATUS_OK: return CC_SUCCESS;
	case USB_STATUS_STALL: return CC_STALL;
	case USB_STATUS_BABBLE: return CC_BABBLE;
	case USB_STATUS_NODEV:
	case USB_STATUS_IOERROR:
	case USB_STATUS_CANCELLED:
		break;
	}
	return CC_TRANSACTION;
}

/* Copy what an IN transfer received into the TD's buffers. */
static void scatter_in(struct xhci *x, struct xhci_xfer *xf)
{
	size_t off = 0;
	for (unsigned i = 0; i < xf->td.n && off < xf->pkt.actual; i++) {
		const struct xhci_trb *t = &xf->td.trbs[i].trb;
		if (!is_data_trb(TRB_TYPE(t->control)) || (t->control & TRB_IDT))
			continue;
		size_t n = trb_len(t);
		if (n > xf->pkt.actual - off)
			n = xf->pkt.actual - off;
		/* Checked when the TD was taken; guest RAM does not move. */
		if (n && guest_write(x->mem, t->param, xf->pkt.buf + off, n))
			log_debug("xhci: IN data buffer vanished");
		off += n;
	}
}

/* Transfer events for a finished TD (4.10.1): one per TRB with IOC, one
 * for the TRB where a short packet ended the data (if ISP or IOC asks),
 * Event Data TRBs with their accumulated length; an error is reported once,
 * on the TRB it happened in. */
static void report(struct xhci *x, struct xhci_xfer *xf, unsigned cc)
{
	size_t left = xf->pkt.actual;
	uint32_t edtla = 0;
	bool short_seen = false, short_reported = false;
	bool error = cc != CC_SUCCESS;

	for (unsigned i = 0; i < xf->td.n; i++) {
		const struct xhci_td_trb *tt = &xf->td.trbs[i];
		uint32_t c = tt->trb.control;
		unsigned type = TRB_TYPE(c);
		bool last = i + 1 == xf->td.n;

		if (is_data_trb(type)) {
			uint32_t tlen = trb_len(&tt->trb);
			uint32_t chunk = left < tlen ? (uint32_t)left : tlen;
			left -= chunk;
			edtla += chunk;
			if (short_seen) {
				if (!short_reported && !error && (c & TRB_IOC)) {
					xhci_transfer_event(x, xf->slot, xf->dci, tt->addr, CC_SHORT_PACKET,
							    (uint32_t)(xf->pkt.len - xf->pkt.actual), false);
					short_reported = true;
				}
				continue;
			}
			if (chunk < tlen) {
				short_seen = true;
				if (error) {
					xhci_transfer_event(x, xf->slot, xf->dci, tt->addr, cc,
							    tlen - chunk, false);
					return;
				}
				if (c & (TRB_ISP | TRB_IOC)) {
					xhci_transfer_event(x, xf->slot, xf->dci, tt->addr,
							    CC_SHORT_PACKET, tlen - chunk, false);
					short_reported = true;
				}
				continue;
			}
			if (c & TRB_IOC && !(error && last))
				xhci_transfer_event(x, xf->slot, xf->dci, tt->addr, CC_SUCCESS, 0, false);
		} else if (type == TRB_EVENT_DATA) {
			if ((c & TRB_IOC) && !error)
				xhci_transfer_event(x, xf->slot, xf->dci, tt->trb.param,
						    short_seen ? CC_SHORT_PACKET : CC_SUCCESS,
						    edtla, true);
			edtla = 0;
		} else if (!(error && last) && (c & TRB_IOC)) {
			/* setup, status, no-op */
			xhci_transfer_event(x, xf->slot, xf->dci, tt->addr, CC_SUCCESS, 0, false);
		}
		if (error && last)
			xhci_transfer_event(x, xf->slot, xf->dci, tt->addr, cc, 0, false);
	}
}

/* Deliver a transfer's result to the guest and move the ring on. */
static void finish(struct xhci *x, struct xhci_xfer *xf)
{
	struct xhci_ep *ep = ep_of(x, xf->slot, xf->dci);
	unsigned cc = status_cc(xf->pkt.status);

	if (xf->pkt.actual > xf->pkt.len)
		xf->pkt.actual = xf->pkt.len;   /* a backend's bug, not the guest's */
	if (xf->pkt.in && xf->pkt.actual)
		scatter_in(x, xf);
	if (ep->xfer == xf)
		ep->xfer = NULL;
	if (cc == CC_SUCCESS) {
		ep->ring = xf->td.next;
	} else {
		ep->state = EP_HALTED;
		ep->ring = xf->td.start;
		xhci_ep_ctx_sync(x, xf->slot, xf->dci);
	}
	report(x, xf, cc);
	xhci_xfer_free(x, xf);
}

void xhci_xfer_done(struct xhci *x, struct xhci_xfer *xf)
{
	unsigned slot = xf->slot, dci = xf->dci;
	finish(x, xf);
	xhci_ep_kick(x, slot, dci);
}

/* Check a TD's TRBs and size the data; false (host error raised) if the
 * guest wrote something no driver would. */
static bool td_check(struct xhci *x, struct xhci_xfer *xf, bool control, bool in)
{
	size_t total = 0;
	bool setup = false, data = false, status = false;

	for (unsigned i = 0; i < xf->td.n; i++) {
		const struct xhci_trb *t = &xf->td.trbs[i].trb;
		unsigned type = TRB_TYPE(t->control);
		uint32_t len = trb_len(t);
		const char *why = NULL;

		switch (type) {
		case TRB_SETUP:
			if (!control || i != 0)
				why = "setup stage TRB out of place";
			else if (!(t->control & TRB_IDT) || len != 8)
				why = "setup stage TRB without its 8 immediate bytes";
			setup = true;
			break;
		case TRB_DATA:
			if (!setup || data || status)
				why = "data stage TRB out of place";
			else if (!!(t->control & TRB_DIR_IN) != in)
				why = "data stage direction differs from the setup packet";
			data = true;
			break;
		case TRB_NORMAL:
			if (control && (!data || status))
				why = "normal TRB outside a data stage";
			break;
		case TRB_STATUS:
			if (!setup || status)
				why = "status stage TRB out of place";
			status = true;
			break;
		case TRB_EVENT_DATA:
		case TRB_NOOP:
			break;
		case TRB_ISOCH:
			why = "isoch TRB on a non-isochronous endpoint";
			break;
		default:
			why = "TRB type not allowed on a transfer ring";
		}
		if (!why && is_data_trb(type)) {
			if (t->control & TRB_IDT) {
				if (in || len > 8)
					why = "immediate data on an IN transfer or longer than 8 bytes";
			} else if (len && !guest_ptr(x->mem, t->param, len)) {
				why = "data buffer outside guest memory";
			}
			total += len;
			if (total > XHCI_MAX_TD_BYTES)
				why = "transfer larger than 4 MiB";
		}
		if (why) {
			xhci_host_error(x, "slot %u endpoint %u: TRB at 0x%llx: %s", xf->slot,
					xf->dci, (unsigned long long)xf->td.trbs[i].addr, why);
			return false;
		}
	}
	if (setup && !status) {
		xhci_host_error(x, "slot %u: control transfer without a status stage", xf->slot);
		return false;
	}
	xf->pkt.len = total;
	return true;
}

static void gather_out(struct xhci *x, struct xhci_xfer *xf)
{
	size_t off = 0;
	for (unsigned i = 0; i < xf->td.n && off < xf->pkt.len; i++) {
		const struct xhci_trb *t = &xf->td.trbs[i].trb;
		size_t len = trb_len(t);
		if (!is_data_trb(TRB_TYPE(t->control)) || !len)
			continue;
		/* A control data stage longer than wLength is cut to it. */
		if (len > xf->pkt.len - off)
			len = xf->pkt.len - off;
		if (t->control & TRB_IDT)
			memcpy(xf->pkt.buf + off, &t->param, len);
		else if (guest_read(x->mem, t->param, xf->pkt.buf + off, len))
			memset(xf->pkt.buf + off, 0, len);
		off += len;
	}
}

static bool ep_is_in(const struct xhci_ep *ep)
{
	return ep->type == EPT_BULK_IN || ep->type == EPT_INTR_IN || ep->type == EPT_ISOCH_IN;
}

static enum usb_xfer ep_xfer_type(const struct xhci_ep *ep)
{
	switch (ep->type) {
	case EPT_CONTROL: return USB_XFER_CONTROL;
	case EPT_ISOCH_IN: case EPT_ISOCH_OUT: return USB_XFER_ISOC;
	case EPT_INTR_IN: case EPT_INTR_OUT: return USB_XFER_INTERRUPT;
	}
	return USB_XFER_BULK;
}

/* Make the packet for a collected TD.  Returns the transfer, with
 * *immediate set if it is already complete (no device involved), or NULL
 * after a host error. */
static struct xhci_xfer *xfer_new(struct xhci *x, unsigned slot, unsigned dci,
				  struct xhci_td *td, bool *immediate)
{
	struct xhci_slot *s = &x->slots[slot];
	struct xhci_ep *ep = &s->ep[dci];
	struct xhci_xfer *xf = calloc(1, sizeof(*xf));
	bool control = ep->type == EPT_CONTROL;

	if (!xf) {
		xhci_host_error(x, "out of memory for a transfer");
		return NULL;
	}
	xf->x = x;
	xf->slot = slot;
	xf->dci = dci;
	xf->td = *td;
	*td = (struct xhci_td){ 0 };
	xf->next_all = x->xfers;
	if (x->xfers)
		x->xfers->prev_all = xf;
	x->xfers = xf;

	struct usb_packet *p = &xf->pkt;
	const struct xhci_trb *first = &xf->td.trbs[0].trb;
	bool has_setup = control && TRB_TYPE(first->control) == TRB_SETUP;
	p->type = ep_xfer_type(ep);
	p->ep = (uint8_t)(control ? 0 : dci / 2);
	p->in = has_setup ? (first->param & USB_DIR_IN) != 0 : ep_is_in(ep);
	if (has_setup)
		memcpy(p->setup, &first->param, 8);
	p->complete = NULL;
	p->opaque = xf;
	if (!td_check(x, xf, control, p->in)) {
		xhci_xfer_free(x, xf);
		return NULL;
	}
	if (has_setup) {
		/* Keep wLength and the data stage in agreement, so a backend
		 * can trust either. */
		uint16_t wlength = (uint16_t)(p->setup[6] | p->setup[7] << 8);
		if (p->len > wlength)
			p->len = wlength;
		p->setup[6] = (uint8_t)p->len;
		p->setup[7] = (uint8_t)(p->len >> 8);
	}
	if (p->len) {
		p->buf = calloc(1, p->len);
		if (!p->buf) {
			xhci_host_error(x, "out of memory for a %zu-byte transfer", p->len);
			xhci_xfer_free(x, xf);
			return NULL;
		}
		if (!p->in)
			gather_out(x, xf);
	}

	bool has_data = false;
	for (unsigned i = 0; i < xf->td.n; i++)
		has_data |= is_data_trb(TRB_TYPE(xf->td.trbs[i].trb.control));
	*immediate = true;
	if (!has_setup && !has_data) {
		p->status = USB_STATUS_OK;       /* a lone no-op or event data TRB */
	} else if (has_setup && p->setup[0] == 0 && p->setup[1] == USB_REQ_SET_ADDRESS) {
		/* Address Device did that already (4.6.5). */
		p->status = USB_STATUS_OK;
	} else if (!s->dev) {
		p->status = USB_STATUS_NODEV;
	} else {
		xf->dev = s->dev;
		*immediate = false;
	}
	return xf;
}

void xhci_ep_kick(struct xhci *x, unsigned slot, unsigned dci)
{
	struct xhci_ep *ep = ep_of(x, slot, dci);
	const char *why = NULL;

	if (!ep || !x->slots[slot].enabled || ep->xfer)
		return;
	if (ep->type == EPT_ISOCH_IN || ep->type == EPT_ISOCH_OUT) {
		/* Not supported yet: the TDs stay queued, never completed, so
		 * the guest driver sees a silent stream rather than an error
		 * storm, and can still stop the endpoint and take them back. */
		if (!x->isoch_warned)
			log_warn("xhci: slot %u: isochronous transfers are not supported; "
				 "the device's isochronous endpoints (audio, video) stay silent",
				 slot);
		x->isoch_warned = true;
		return;
	}
	if (ep->state == EP_STOPPED) {
		/* A doorbell restarts a stopped endpoint (4.6.9). */
		ep->state = EP_RUNNING;
		xhci_ep_ctx_sync(x, slot, dci);
	}
	for (int n = 0; n < MAX_IMMEDIATE_PER_KICK; n++) {
		struct xhci_td td = { 0 };
		bool immediate;

		if (ep->state != EP_RUNNING || !xhci_running(x))
			return;
		enum xhci_fetch f = xhci_td_collect(&td, &ep->ring, x->mem,
						    ep->type == EPT_CONTROL, &why);
		if (f != FETCH_OK) {
			xhci_td_free(&td);
			if (f == FETCH_ERROR)
				xhci_host_error(x, "slot %u endpoint %u transfer ring: %s",
						slot, dci, why);
			return;
		}
		struct xhci_xfer *xf = xfer_new(x, slot, dci, &td, &immediate);
		xhci_td_free(&td);
		if (!xf)
			return;
		ep->xfer = xf;
		if (immediate) {
			finish(x, xf);
			continue;
		}
		xf->pkt.complete = xhci_packet_complete;
		if (xf->dev->ops->submit(xf->dev, &xf->pkt) < 0) {
			xf->dev = NULL;
			xf->pkt.status = USB_STATUS_IOERROR;
			xf->pkt.actual = 0;
			finish(x, xf);
			continue;
		}
		return;
	}
	/* Many instant TDs in a row: let the rest of the loop run first. */
	x->db_pending[slot] |= 1u << dci;
	xhci_schedule(x);
}
