/* The xHCI controller driven the way a guest driver drives it: registers
 * through the MMIO bus, rings and contexts in guest memory, the event ring
 * read back like xhci_hcd reads it.  The USB device on the other side is a
 * small test device implementing usb_device_ops (the controller's peer),
 * completing its packets later on the event loop as a real backend does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testvm.h"
#include "usb/xhci.h"
#include "usb/xhci_int.h"

#define MEM        (16u << 20)
#define DCBAA      0x10000
#define CMD_RING   0x11000
#define CMD_TRBS   64
#define ERST       0x12000
#define EV_RING    0x13000
#define EV_TRBS    64
#define OUT_CTX    0x20000      /* + slot * 0x1000 */
#define IN_CTX     0x40000
#define EP_RING(dci) (0x50000 + (uint64_t)(dci) * 0x1000)
#define RING_TRBS  64
#define DATA       0x100000

#define PORT_CSC_BIT  (1u << 17)
#define PORT_PLS_MASK (0xfu << 5)
#define STS_HSE_BIT   (1u << 2)
#define STS_EINT_BIT  (1u << 3)

/* ---- the test USB device (the controller's peer) ---- */

static const uint8_t dev_desc[18] = {
	18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x34, 0x12, 0x78, 0x56, 0x00, 0x01, 1, 2, 3, 1,
};

struct tdev {
	struct usb_device dev;
	struct usb_packet *queue[64];   /* completed on the next settle() */
	unsigned nq;
	struct usb_packet *held;        /* interrupt IN: waits for data or cancel */
	uint8_t out_data[8192];
	size_t out_len;
	uint8_t ctl_out[64];            /* last control OUT data stage */
	size_t ctl_out_len;
	unsigned submits, resets, cancels, set_address_seen, config;
	bool stall_ep3, destroyed;
	size_t in_avail;                /* bytes bulk IN returns */
};

/* Devices whose queues settle() runs: completions come later, from the
 * event loop's turn, never from inside submit(). */
static struct tdev *tdevs[16];

static bool tdev_run_all(void)
{
	bool any = false;
	for (unsigned i = 0; i < G_N_ELEMENTS(tdevs); i++) {
		struct tdev *t = tdevs[i];
		if (!t || t->destroyed || !t->nq)
			continue;
		struct usb_packet *q[64];
		unsigned nq = t->nq;
		memcpy(q, t->queue, sizeof(q));
		t->nq = 0;
		for (unsigned k = 0; k < nq; k++)
			q[k]->complete(q[k]);
		any = true;
	}
	return any;
}

static void tdev_later(struct tdev *t, struct usb_packet *p)
{
	g_assert_cmpuint(t->nq, <, 64);
	t->queue[t->nq++] = p;
}

static void tdev_control(struct tdev *t, struct usb_packet *p)
{
	const uint8_t *s = p->setup;
	uint16_t wlength = (uint16_t)(s[6] | s[7] << 8);

	g_assert_cmpuint(p->len, ==, wlength);
	p->status = USB_STATUS_OK;
	p->actual = 0;
	if (s[1] == USB_REQ_SET_ADDRESS)
		t->set_address_seen++;
	if (s[0] == 0x80 && s[1] == USB_REQ_GET_DESCRIPTOR && s[3] == 1) {
		p->actual = p->len < sizeof(dev_desc) ? p->len : sizeof(dev_desc);
		memcpy(p->buf, dev_desc, p->actual);
	} else if (s[0] == 0 && s[1] == USB_REQ_SET_CONFIGURATION) {
		t->config = s[2];
	} else if (s[0] == 0x80 && s[1] == USB_REQ_GET_DESCRIPTOR) {
		p->status = USB_STATUS_STALL;   /* no other descriptors */
	} else if (s[0] == 0x40) {
		/* a vendor OUT request: keep its data */
		g_assert_cmpuint(p->len, <=, sizeof(t->ctl_out));
		memcpy(t->ctl_out, p->buf, p->len);
		t->ctl_out_len = p->len;
		p->actual = p->len;
	}
}

static int tdev_submit(struct usb_device *d, struct usb_packet *p)
{
	struct tdev *t = (struct tdev *)d;
	t->submits++;
	p->status = USB_STATUS_OK;
	p->actual = 0;
	if (p->type == USB_XFER_CONTROL) {
		g_assert_cmpuint(p->ep, ==, 0);
		tdev_control(t, p);
	} else if (p->ep == 1 && !p->in) {
		g_assert_cmpuint(p->type, ==, USB_XFER_BULK);
		g_assert_cmpuint(t->out_len + p->len, <=, sizeof(t->out_data));
		memcpy(t->out_data + t->out_len, p->buf, p->len);
		t->out_len += p->len;
		p->actual = p->len;
	} else if (p->ep == 2 && p->in) {
		p->actual = p->len < t->in_avail ? p->len : t->in_avail;
		for (size_t i = 0; i < p->actual; i++)
			p->buf[i] = (uint8_t)(i * 7 + 1);
	} else if (p->ep == 3 && p->in) {
		p->status = t->stall_ep3 ? USB_STATUS_STALL : USB_STATUS_OK;
	} else if (p->ep == 4 && p->in) {
		g_assert_cmpuint(p->type, ==, USB_XFER_INTERRUPT);
		g_assert_null(t->held);
		t->held = p;
		return 0;
	} else {
		return -1;
	}
	tdev_later(t, p);
	return 0;
}

static void tdev_cancel(struct usb_device *d, struct usb_packet *p)
{
	struct tdev *t = (struct tdev *)d;
	t->cancels++;
	if (t->held == p) {
		t->held = NULL;
		p->status = USB_STATUS_CANCELLED;
		tdev_later(t, p);
	}
}

static void tdev_reset(struct usb_device *d)
{
	((struct tdev *)d)->resets++;
}

static void tdev_destroy(struct usb_device *d)
{
	struct tdev *t = (struct tdev *)d;
	/* Packets still held are the controller's to free now. */
	t->held = NULL;
	t->nq = 0;
	t->destroyed = true;
}

static const struct usb_device_ops tdev_ops = {
	.submit = tdev_submit, .cancel = tdev_cancel, .reset = tdev_reset,
	.destroy = tdev_destroy,
};

static void tdev_init(struct tdev *t, struct vm *vm, enum usb_speed speed)
{
	(void)vm;
	memset(t, 0, sizeof(*t));
	t->dev.ops = &tdev_ops;
	t->dev.speed = speed;
	snprintf(t->dev.name, sizeof(t->dev.name), "test device");
	for (unsigned i = 0; i < G_N_ELEMENTS(tdevs); i++)
		if (tdevs[i] == t)
			return;
	for (unsigned i = 0; i < G_N_ELEMENTS(tdevs); i++) {
		if (!tdevs[i]) {
			tdevs[i] = t;
			return;
		}
	}
	g_assert_not_reached();
}

static void tdev_fini(struct tdev *t, struct vm *vm)
{
	(void)vm;
	for (unsigned i = 0; i < G_N_ELEMENTS(tdevs); i++)
		if (tdevs[i] == t)
			tdevs[i] = NULL;
}

/* ---- the guest driver ---- */

struct drv {
	struct vm vm;
	struct xhci *x;
	uint64_t bar, op, rt, db;
	uint64_t cmd_enq;
	bool cmd_cycle;
	uint64_t ev_deq;
	bool ev_cycle;
	struct { uint64_t enq; bool cycle; } ring[32];
};

static uint32_t rd(struct drv *d, uint64_t off)
{
	return testvm_mmio_read(&d->vm, d->bar + off, 4);
}

static void wr(struct drv *d, uint64_t off, uint32_t v)
{
	testvm_mmio_write(&d->vm, d->bar + off, 4, v);
}

static void wr64(struct drv *d, uint64_t off, uint64_t v)
{
	wr(d, off, (uint32_t)v);
	wr(d, off + 4, (uint32_t)(v >> 32));
}

/* Let the event loop run until nothing is left to do. */
static void settle(struct drv *d)
{
	d->vm.loop.stop = false;   /* testvm_pump leaves it set */
	for (int i = 0; i < 200; i++) {
		int n = evloop_run_once(&d->vm.loop, 2);
		if (!tdev_run_all() && n == 0)
			break;
	}
}

static void put_trb(struct drv *d, uint64_t addr, uint64_t param, uint32_t status,
		    uint32_t control)
{
	uint8_t b[16];
	memcpy(b, &param, 8);
	memcpy(b + 8, &status, 4);
	memcpy(b + 12, &control, 4);
	g_assert_cmpint(guest_write(&d->vm.mem, addr, b, 16), ==, 0);
}

static void get_trb(struct drv *d, uint64_t addr, struct xhci_trb *t)
{
	g_assert_cmpint(guest_read(&d->vm.mem, addr, &t->param, 8), ==, 0);
	g_assert_cmpint(guest_read(&d->vm.mem, addr + 8, &t->status, 4), ==, 0);
	g_assert_cmpint(guest_read(&d->vm.mem, addr + 12, &t->control, 4), ==, 0);
}

/* A ring of n TRBs whose last is a link back to the start (toggle cycle). */
static void ring_init(struct drv *d, uint64_t base, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		put_trb(d, base + 16ULL * i, 0, 0, 0);
	put_trb(d, base + 16ULL * (n - 1), base, 0, TRB_LINK << 10 | TRB_TC);
}

static void drv_start(struct drv *d)
{
	testvm_init(&d->vm, MEM);
	g_assert_cmpint(xhci_create(&d->vm, &d->x), ==, 0);
	d->bar = d->x->pci.bars[0].addr;
	g_assert_cmpuint(d->bar, !=, 0);
	d->op = rd(d, 0) & 0xff;
	d->rt = rd(d, 0x18);
	d->db = rd(d, 0x14);

	wr(d, d->op + 0x00, 2);                          /* HCRST */
	g_assert_cmpuint(rd(d, d->op + 0x04) & 1, ==, 1);  /* halted */
	wr(d, d->op + 0x38, XHCI_MAX_SLOTS);
	wr64(d, d->op + 0x30, DCBAA);
	ring_init(d, CMD_RING, CMD_TRBS);
	d->cmd_enq = CMD_RING;
	d->cmd_cycle = true;
	wr64(d, d->op + 0x18, CMD_RING | 1);
	/* event ring: one segment */
	uint64_t seg[2] = { EV_RING, EV_TRBS };
	g_assert_cmpint(guest_write(&d->vm.mem, ERST, seg, 16), ==, 0);
	g_assert_cmpint(guest_write(&d->vm.mem, EV_RING, (uint8_t[16 * EV_TRBS]){ 0 },
				    16 * EV_TRBS), ==, 0);
	wr(d, d->rt + 0x28, 1);
	wr64(d, d->rt + 0x30, ERST);
	wr64(d, d->rt + 0x38, EV_RING);
	d->ev_deq = EV_RING;
	d->ev_cycle = true;
	wr(d, d->rt + 0x20, 2);                          /* IMAN.IE */
	wr(d, d->op + 0x00, 1 | 4);                      /* RS | INTE */
	g_assert_cmpuint(rd(d, d->op + 0x04) & 1, ==, 0);
}

static void drv_stop(struct drv *d)
{
	xhci_destroy(d->x);
	testvm_destroy(&d->vm);
}

/* Next event, or false if the ring has none. */
static bool next_event(struct drv *d, struct xhci_trb *ev)
{
	get_trb(d, d->ev_deq, ev);
	if (!!(ev->control & TRB_C) != d->ev_cycle)
		return false;
	d->ev_deq += 16;
	if (d->ev_deq == EV_RING + 16 * EV_TRBS) {
		d->ev_deq = EV_RING;
		d->ev_cycle = !d->ev_cycle;
	}
	wr64(d, d->rt + 0x38, d->ev_deq | 8);   /* EHB */
	return true;
}

static void expect_event(struct drv *d, unsigned type, struct xhci_trb *ev)
{
	settle(d);
	g_assert_true(next_event(d, ev));
	g_assert_cmpuint(TRB_TYPE(ev->control), ==, type);
}

static void expect_no_event(struct drv *d)
{
	struct xhci_trb ev;
	settle(d);
	g_assert_false(next_event(d, &ev));
}

/* Queue a command, ring doorbell 0, return its completion. */
static unsigned command(struct drv *d, uint64_t param, uint32_t status, uint32_t control,
			unsigned *slot)
{
	uint64_t at = d->cmd_enq;
	struct xhci_trb ev;

	put_trb(d, at, param, status, control | (d->cmd_cycle ? TRB_C : 0));
	d->cmd_enq += 16;
	if (d->cmd_enq == CMD_RING + 16 * (CMD_TRBS - 1)) {
		/* hand the link over, then wrap */
		put_trb(d, d->cmd_enq, CMD_RING, 0,
			TRB_LINK << 10 | TRB_TC | (d->cmd_cycle ? TRB_C : 0));
		d->cmd_enq = CMD_RING;
		d->cmd_cycle = !d->cmd_cycle;
	}
	wr(d, d->db, 0);
	expect_event(d, TRB_EV_CMD_COMPLETION, &ev);
	g_assert_cmphex(ev.param, ==, at);
	if (slot)
		*slot = TRB_SLOT(ev.control);
	return ev.status >> 24;
}

static uint32_t portsc(struct drv *d, int port)
{
	return rd(d, d->op + 0x400 + 0x10 * (uint64_t)(port - 1));
}

static void portsc_write(struct drv *d, int port, uint32_t v)
{
	wr(d, d->op + 0x400 + 0x10 * (uint64_t)(port - 1), v);
}

static void expect_port_event(struct drv *d, int port)
{
	struct xhci_trb ev;
	expect_event(d, TRB_EV_PORT_STATUS, &ev);
	g_assert_cmpuint(ev.param >> 24, ==, (unsigned)port);
}

/* Transfer ring producer for endpoint dci of slot 1. */
static uint64_t xfer_trb(struct drv *d, unsigned dci, uint64_t param, uint32_t status,
			 uint32_t control)
{
	uint64_t at = d->ring[dci].enq;
	put_trb(d, at, param, status, control | (d->ring[dci].cycle ? TRB_C : 0));
	d->ring[dci].enq += 16;
	if (d->ring[dci].enq == EP_RING(dci) + 16 * (RING_TRBS - 1)) {
		put_trb(d, d->ring[dci].enq, EP_RING(dci), 0,
			TRB_LINK << 10 | TRB_TC | (d->ring[dci].cycle ? TRB_C : 0));
		d->ring[dci].enq = EP_RING(dci);
		d->ring[dci].cycle = !d->ring[dci].cycle;
	}
	return at;
}

static void ring_db(struct drv *d, unsigned slot, unsigned dci)
{
	wr(d, d->db + 4ULL * slot, dci);
}

static void ep_ring_setup(struct drv *d, unsigned dci)
{
	ring_init(d, EP_RING(dci), RING_TRBS);
	d->ring[dci].enq = EP_RING(dci);
	d->ring[dci].cycle = true;
}

static void in_ctx_clear(struct drv *d)
{
	static uint8_t zero[33 * 32];
	g_assert_cmpint(guest_write(&d->vm.mem, IN_CTX, zero, sizeof(zero)), ==, 0);
}

static void in_ctx_set(struct drv *d, unsigned idx, const uint32_t c[8])
{
	/* idx: 0 = input control, 1 = slot, 1 + dci = endpoint */
	g_assert_cmpint(guest_write(&d->vm.mem, IN_CTX + 32ULL * idx, c, 32), ==, 0);
}

static void out_ctx(struct drv *d, unsigned slot, unsigned idx, uint32_t c[8])
{
	g_assert_cmpint(guest_read(&d->vm.mem, OUT_CTX + 0x1000ULL * slot + 32ULL * idx, c, 32), ==, 0);
}

static unsigned ep_state(struct drv *d, unsigned slot, unsigned dci)
{
	uint32_t c[8];
	out_ctx(d, slot, dci, c);
	return c[0] & 7;
}

/* Connect, reset and address a device on `port`; returns the slot. */
static unsigned enumerate(struct drv *d, struct tdev *t, int port, bool usb3)
{
	unsigned slot, cc;

	g_assert_cmpint(xhci_attach(d->x, &t->dev), ==, port);
	expect_port_event(d, port);
	uint32_t sc = portsc(d, port);
	g_assert_cmphex(sc & 1, ==, 1);                 /* CCS */
	g_assert_cmphex(sc & PORT_CSC_BIT, ==, PORT_CSC_BIT);
	g_assert_cmpuint(!!(sc & 2), ==, usb3);         /* USB 3 comes up enabled */
	portsc_write(d, port, (sc & ~2u) | PORT_CSC_BIT);  /* clear CSC */
	g_assert_cmphex(portsc(d, port) & PORT_CSC_BIT, ==, 0);

	portsc_write(d, port, (portsc(d, port) & ~2u) | (1u << 4));   /* PR */
	expect_port_event(d, port);
	sc = portsc(d, port);
	g_assert_cmphex(sc & (1u << 21), !=, 0);        /* PRC */
	g_assert_cmphex(sc & 2, ==, 2);                 /* PED */
	g_assert_cmphex(sc & (1u << 4), ==, 0);         /* PR done */
	g_assert_cmpuint((sc >> 5) & 0xf, ==, 0);       /* U0 */
	g_assert_cmpuint(t->resets, ==, 1);
	portsc_write(d, port, (sc & ~2u) | (1u << 21));

	cc = command(d, 0, 0, TRB_ENABLE_SLOT << 10, &slot);
	g_assert_cmpuint(cc, ==, CC_SUCCESS);
	g_assert_cmpuint(slot, >=, 1);
	uint64_t ctx = OUT_CTX + 0x1000ULL * slot;
	g_assert_cmpint(guest_write(&d->vm.mem, DCBAA + 8ULL * slot, &ctx, 8), ==, 0);

	ep_ring_setup(d, 1);
	in_ctx_clear(d);
	uint32_t icc[8] = { 0, 3 };
	uint32_t slotc[8] = { 1u << 27, (uint32_t)port << 16 };
	uint32_t ep0[8] = { 0, 3u << 1 | EPT_CONTROL << 3 | 64u << 16,
			    (uint32_t)EP_RING(1) | 1, 0, 8 };
	in_ctx_set(d, 0, icc);
	in_ctx_set(d, 1, slotc);
	in_ctx_set(d, 2, ep0);
	cc = command(d, IN_CTX, 0, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL);
	g_assert_cmpuint(cc, ==, CC_SUCCESS);
	uint32_t c[8];
	out_ctx(d, slot, 0, c);
	g_assert_cmpuint(c[3] >> 27, ==, SLOT_ADDRESSED);
	g_assert_cmpuint(c[3] & 0xff, ==, slot);
	g_assert_cmpuint(ep_state(d, slot, 1), ==, EP_RUNNING);
	g_assert_cmpuint(t->set_address_seen, ==, 0);
	return slot;
}

/* A control transfer on EP0: setup, optional data stage, status. */
static struct xhci_trb control(struct drv *d, unsigned slot, uint8_t rt, uint8_t req,
			       uint16_t value, uint64_t buf, uint16_t len)
{
	uint64_t setup = rt | (uint64_t)req << 8 | (uint64_t)value << 16 | (uint64_t)len << 48;
	bool in = rt & 0x80;
	struct xhci_trb ev;

	uint32_t trt = len ? (in ? 3u : 2u) : 0;
	xfer_trb(d, 1, setup, 8, TRB_SETUP << 10 | TRB_IDT | trt << 16);
	if (len)
		xfer_trb(d, 1, buf, len, TRB_DATA << 10 | (in ? TRB_DIR_IN | TRB_ISP : 0));
	uint64_t st = xfer_trb(d, 1, 0, 0, TRB_STATUS << 10 | TRB_IOC |
			       (in && len ? 0 : TRB_DIR_IN));
	ring_db(d, slot, 1);
	expect_event(d, TRB_EV_TRANSFER, &ev);
	if ((ev.status >> 24) == CC_SUCCESS)
		g_assert_cmphex(ev.param, ==, st);
	g_assert_cmpuint(TRB_SLOT(ev.control), ==, slot);
	g_assert_cmpuint(TRB_EPID(ev.control), ==, 1);
	return ev;
}

/* Configure bulk OUT 1 (DCI 2), bulk IN 2 (DCI 5), bulk IN 3 (DCI 7) and
 * interrupt IN 4 (DCI 9). */
static void configure(struct drv *d, unsigned slot)
{
	static const struct { unsigned dci, type; } eps[] = {
		{ 2, EPT_BULK_OUT }, { 5, EPT_BULK_IN }, { 7, EPT_BULK_IN }, { 9, EPT_INTR_IN },
	};
	uint32_t icc[8] = { 0, 1 };

	in_ctx_clear(d);
	for (unsigned i = 0; i < 4; i++) {
		unsigned dci = eps[i].dci;
		ep_ring_setup(d, dci);
		uint32_t e[8] = { 0, 3u << 1 | eps[i].type << 3 | 512u << 16,
				  (uint32_t)EP_RING(dci) | 1, 0, 1024 };
		in_ctx_set(d, 1 + dci, e);
		icc[1] |= 1u << dci;
	}
	uint32_t slotc[8] = { 9u << 27, 0 };
	in_ctx_set(d, 0, icc);
	in_ctx_set(d, 1, slotc);
	g_assert_cmpuint(command(d, IN_CTX, 0, TRB_CONFIGURE_EP << 10 | slot << 24, NULL),
			 ==, CC_SUCCESS);
	uint32_t c[8];
	out_ctx(d, slot, 0, c);
	g_assert_cmpuint(c[3] >> 27, ==, SLOT_CONFIGURED);
	g_assert_cmpuint(c[0] >> 27, ==, 9);
	for (unsigned i = 0; i < 4; i++)
		g_assert_cmpuint(ep_state(d, slot, eps[i].dci), ==, EP_RUNNING);
}

/* ---- tests ---- */

static void test_registers(void)
{
	struct drv d;
	drv_start(&d);

	g_assert_cmphex(d.x->pci.cfg[0x0b], ==, 0x0c);     /* serial bus */
	g_assert_cmphex(d.x->pci.cfg[0x0a], ==, 0x03);     /* USB */
	g_assert_cmphex(d.x->pci.cfg[0x09], ==, 0x30);     /* xHCI */
	g_assert_cmphex(rd(&d, 0) >> 16, ==, 0x0100);
	uint32_t hcs1 = rd(&d, 4);
	g_assert_cmpuint(hcs1 & 0xff, ==, XHCI_MAX_SLOTS);
	g_assert_cmpuint(hcs1 >> 24, ==, XHCI_NUM_PORTS);

	/* Walk the extended capabilities: one USB 2 and one USB 3
	 * Supported Protocol capability covering all ports. */
	uint64_t off = (uint64_t)(rd(&d, 0x10) >> 16) * 4;
	unsigned seen2 = 0, seen3 = 0;
	for (int n = 0; off && n < 16; n++) {
		uint32_t w0 = rd(&d, off);
		if ((w0 & 0xff) == 2) {
			g_assert_cmphex(rd(&d, off + 4), ==, 0x20425355);
			uint32_t w2 = rd(&d, off + 8);
			if (w0 >> 24 == 2) {
				g_assert_cmpuint(w2 & 0xff, ==, XHCI_USB2_FIRST);
				seen2 = (w2 >> 8) & 0xff;
			} else {
				g_assert_cmpuint(w0 >> 24, ==, 3);
				g_assert_cmpuint(w2 & 0xff, ==, XHCI_USB3_FIRST);
				seen3 = (w2 >> 8) & 0xff;
			}
		}
		off = (w0 >> 8) & 0xff ? off + ((w0 >> 8) & 0xff) * 4 : 0;
	}
	g_assert_cmpuint(seen2, ==, XHCI_USB2_PORTS);
	g_assert_cmpuint(seen3, ==, XHCI_USB3_PORTS);

	/* Empty ports are powered with nothing connected. */
	for (int p = 1; p <= XHCI_NUM_PORTS; p++)
		g_assert_cmphex(portsc(&d, p) & 0x203, ==, 0x200);

	/* No-op command round trip, and an interrupt for it. */
	uint64_t irqs = d.x->irqs;
	g_assert_cmpuint(command(&d, 0, 0, TRB_NOOP_CMD << 10, NULL), ==, CC_SUCCESS);
	g_assert_cmpuint(d.x->irqs, >, irqs);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_EINT_BIT, !=, 0);
	/* Commands keep working across the command ring's link TRB. */
	for (int i = 0; i < 2 * CMD_TRBS; i++)
		g_assert_cmpuint(command(&d, 0, 0, TRB_NOOP_CMD << 10, NULL), ==, CC_SUCCESS);

	/* Bad slot ids and unknown commands get error completions. */
	g_assert_cmpuint(command(&d, 0, 0, TRB_DISABLE_SLOT << 10 | 7u << 24, NULL), ==,
			 CC_SLOT_NOT_ENABLED);
	g_assert_cmpuint(command(&d, 0, 0, TRB_ADDRESS_DEVICE << 10 | 200u << 24, NULL), ==,
			 CC_SLOT_NOT_ENABLED);
	g_assert_cmpuint(command(&d, 0, 0, TRB_STOP_EP << 10 | 0u << 24 | 1u << 16, NULL), ==,
			 CC_SLOT_NOT_ENABLED);
	g_assert_cmpuint(command(&d, 0, 0, 63u << 10, NULL), ==, CC_TRB);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, ==, 0);
	drv_stop(&d);
}

static void test_enumerate_and_control(void)
{
	struct drv d;
	struct tdev t;
	drv_start(&d);
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	unsigned slot = enumerate(&d, &t, XHCI_USB2_FIRST, false);

	/* GET_DESCRIPTOR(DEVICE, 18) through the device. */
	uint8_t buf[64];
	memset(buf, 0xee, sizeof(buf));
	g_assert_cmpint(guest_write(&d.vm.mem, DATA, buf, sizeof(buf)), ==, 0);
	struct xhci_trb ev = control(&d, slot, 0x80, USB_REQ_GET_DESCRIPTOR, 0x0100, DATA, 18);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
	g_assert_cmpint(guest_read(&d.vm.mem, DATA, buf, sizeof(buf)), ==, 0);
	g_assert_cmpmem(buf, 18, dev_desc, 18);
	g_assert_cmphex(buf[18], ==, 0xee);

	/* Asking for 64 gets 18: a short packet on the data stage, then the
	 * status stage's completion. */
	xfer_trb(&d, 1, 0x80 | (uint64_t)USB_REQ_GET_DESCRIPTOR << 8 | 0x0100ULL << 16 |
		 64ULL << 48, 8, TRB_SETUP << 10 | TRB_IDT | 3u << 16);
	uint64_t data_trb = xfer_trb(&d, 1, DATA, 64, TRB_DATA << 10 | TRB_DIR_IN | TRB_ISP);
	uint64_t st = xfer_trb(&d, 1, 0, 0, TRB_STATUS << 10 | TRB_IOC);
	ring_db(&d, slot, 1);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, data_trb);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SHORT_PACKET);
	g_assert_cmpuint(ev.status & 0xffffff, ==, 64 - 18);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, st);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);

	/* SET_ADDRESS is the controller's business: the device never sees it. */
	ev = control(&d, slot, 0x00, USB_REQ_SET_ADDRESS, 5, 0, 0);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
	g_assert_cmpuint(t.set_address_seen, ==, 0);

	/* A data stage longer than wLength: the device gets wLength bytes. */
	uint8_t pat[64];
	for (unsigned i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(0x30 + i);
	guest_write(&d.vm.mem, DATA + 0x800, pat, sizeof(pat));
	xfer_trb(&d, 1, 0x40 | 0x01ULL << 8 | 4ULL << 48, 8, TRB_SETUP << 10 | TRB_IDT | 2u << 16);
	xfer_trb(&d, 1, DATA + 0x800, 64, TRB_DATA << 10);
	st = xfer_trb(&d, 1, 0, 0, TRB_STATUS << 10 | TRB_IOC | TRB_DIR_IN);
	ring_db(&d, slot, 1);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, st);
	g_assert_cmpuint(t.ctl_out_len, ==, 4);
	g_assert_cmpmem(t.ctl_out, 4, pat, 4);

	/* SET_CONFIGURATION reaches it. */
	ev = control(&d, slot, 0x00, USB_REQ_SET_CONFIGURATION, 1, 0, 0);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
	g_assert_cmpuint(t.config, ==, 1);

	/* A stalled request halts EP0 until Reset Endpoint. */
	ev = control(&d, slot, 0x80, USB_REQ_GET_DESCRIPTOR, 0x0300, DATA, 4);
	g_assert_cmpuint(ev.status >> 24, ==, CC_STALL);
	g_assert_cmpuint(ep_state(&d, slot, 1), ==, EP_HALTED);
	g_assert_cmpuint(command(&d, 0, 0, TRB_RESET_EP << 10 | slot << 24 | 1u << 16, NULL),
			 ==, CC_SUCCESS);
	g_assert_cmpuint(ep_state(&d, slot, 1), ==, EP_STOPPED);
	/* Skip the failed transfer, as drivers do, and go on. */
	g_assert_cmpuint(command(&d, d.ring[1].enq | d.ring[1].cycle, 0,
				 TRB_SET_TR_DEQ << 10 | slot << 24 | 1u << 16, NULL), ==, CC_SUCCESS);
	ev = control(&d, slot, 0x80, USB_REQ_GET_DESCRIPTOR, 0x0100, DATA, 8);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
	g_assert_cmpuint(ep_state(&d, slot, 1), ==, EP_RUNNING);

	/* Evaluate Context updates EP0's max packet size. */
	in_ctx_clear(&d);
	uint32_t icc[8] = { 0, 2 };
	uint32_t ep0[8] = { 0, 3u << 1 | EPT_CONTROL << 3 | 512u << 16, 0, 0, 0 };
	in_ctx_set(&d, 0, icc);
	in_ctx_set(&d, 2, ep0);
	g_assert_cmpuint(command(&d, IN_CTX, 0, TRB_EVALUATE_CTX << 10 | slot << 24, NULL),
			 ==, CC_SUCCESS);
	uint32_t c[8];
	out_ctx(&d, slot, 1, c);
	g_assert_cmpuint(c[1] >> 16, ==, 512);

	configure(&d, slot);
	g_assert_cmpuint(command(&d, 0, 0, TRB_DISABLE_SLOT << 10 | slot << 24, NULL), ==,
			 CC_SUCCESS);
	g_assert_cmpuint(command(&d, 0, 0, TRB_DISABLE_SLOT << 10 | slot << 24, NULL), ==,
			 CC_SLOT_NOT_ENABLED);
	drv_stop(&d);
	g_assert_true(t.destroyed);
	tdev_fini(&t, &d.vm);
}

static void test_bulk(void)
{
	struct drv d;
	struct tdev t;
	struct xhci_trb ev;
	drv_start(&d);
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	unsigned slot = enumerate(&d, &t, XHCI_USB2_FIRST, false);
	configure(&d, slot);

	/* OUT: a chain of three TRBs (one immediate) arrives as one packet. */
	uint8_t a[100], b[300];
	for (unsigned i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)i;
	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(255 - i);
	guest_write(&d.vm.mem, DATA, a, sizeof(a));
	guest_write(&d.vm.mem, DATA + 0x1000, b, sizeof(b));
	xfer_trb(&d, 2, DATA, sizeof(a), TRB_NORMAL << 10 | TRB_CH);
	xfer_trb(&d, 2, 0x0807060504030201ULL, 8, TRB_NORMAL << 10 | TRB_CH | TRB_IDT);
	uint64_t last = xfer_trb(&d, 2, DATA + 0x1000, sizeof(b), TRB_NORMAL << 10 | TRB_IOC);
	ring_db(&d, slot, 2);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, last);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
	g_assert_cmpuint(ev.status & 0xffffff, ==, 0);
	g_assert_cmpuint(TRB_EPID(ev.control), ==, 2);
	g_assert_cmpuint(t.out_len, ==, sizeof(a) + 8 + sizeof(b));
	g_assert_cmpmem(t.out_data, sizeof(a), a, sizeof(a));
	for (unsigned i = 0; i < 8; i++)
		g_assert_cmpuint(t.out_data[sizeof(a) + i], ==, i + 1);
	g_assert_cmpmem(t.out_data + sizeof(a) + 8, sizeof(b), b, sizeof(b));
	expect_no_event(&d);

	/* IN, short: 2 x 512 asked, 700 come back.  The event names the
	 * second TRB (where the data ended) with what it missed. */
	t.in_avail = 700;
	uint8_t zero[1024] = { 0 };
	guest_write(&d.vm.mem, DATA + 0x2000, zero, sizeof(zero));
	xfer_trb(&d, 5, DATA + 0x2000, 512, TRB_NORMAL << 10 | TRB_CH | TRB_ISP);
	uint64_t second = xfer_trb(&d, 5, DATA + 0x2200, 512, TRB_NORMAL << 10 | TRB_ISP | TRB_IOC);
	ring_db(&d, slot, 5);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, second);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SHORT_PACKET);
	g_assert_cmpuint(ev.status & 0xffffff, ==, 1024 - 700);
	expect_no_event(&d);
	uint8_t got[1024];
	guest_read(&d.vm.mem, DATA + 0x2000, got, sizeof(got));
	for (unsigned i = 0; i < 700; i++)
		g_assert_cmpuint(got[i], ==, (uint8_t)(i * 7 + 1));
	g_assert_cmpuint(got[700], ==, 0);

	/* IN, full, ending in an Event Data TRB: the event carries its value
	 * and the length transferred. */
	t.in_avail = 4096;
	xfer_trb(&d, 5, DATA + 0x2000, 256, TRB_NORMAL << 10 | TRB_CH | TRB_ISP);
	xfer_trb(&d, 5, 0xfeedf00dULL, 0, TRB_EVENT_DATA << 10 | TRB_IOC);
	ring_db(&d, slot, 5);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, 0xfeedf00dULL);
	g_assert_cmphex(ev.control & TRB_EV_ED, ==, TRB_EV_ED);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
	g_assert_cmpuint(ev.status & 0xffffff, ==, 256);

	/* Many TDs across the ring's link TRB, queued at once: all run, in
	 * order, one at a time. */
	t.out_len = 0;
	for (unsigned i = 0; i < 3 * RING_TRBS / 2; i++) {
		guest_write(&d.vm.mem, DATA + 0x4000 + 4 * i, &i, 4);
		xfer_trb(&d, 2, DATA + 0x4000 + 4 * i, 4, TRB_NORMAL << 10 | TRB_IOC);
		if (i % 40 == 39 || i + 1 == 3 * RING_TRBS / 2) {
			ring_db(&d, slot, 2);
			settle(&d);
			while (next_event(&d, &ev))
				g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
		}
	}
	g_assert_cmpuint(t.out_len, ==, 4 * 3 * RING_TRBS / 2);
	for (unsigned i = 0; i < 3 * RING_TRBS / 2; i++) {
		uint32_t v;
		memcpy(&v, t.out_data + 4 * i, 4);
		g_assert_cmpuint(v, ==, i);
	}

	/* A stall halts the endpoint and leaves the TD where it was. */
	t.stall_ep3 = true;
	uint64_t td = xfer_trb(&d, 7, DATA, 64, TRB_NORMAL << 10 | TRB_ISP | TRB_IOC);
	ring_db(&d, slot, 7);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, td);
	g_assert_cmpuint(ev.status >> 24, ==, CC_STALL);
	g_assert_cmpuint(ep_state(&d, slot, 7), ==, EP_HALTED);
	uint32_t c[8];
	out_ctx(&d, slot, 7, c);
	g_assert_cmphex(((uint64_t)c[3] << 32 | c[2]) & ~0xfULL, ==, td);
	/* Doorbells do nothing while halted. */
	unsigned submits = t.submits;
	ring_db(&d, slot, 7);
	expect_no_event(&d);
	g_assert_cmpuint(t.submits, ==, submits);
	/* Set TR Dequeue needs a stopped endpoint. */
	g_assert_cmpuint(command(&d, td, 0, TRB_SET_TR_DEQ << 10 | slot << 24 | 7u << 16, NULL),
			 ==, CC_CONTEXT_STATE);
	g_assert_cmpuint(command(&d, 0, 0, TRB_RESET_EP << 10 | slot << 24 | 7u << 16, NULL),
			 ==, CC_SUCCESS);
	/* Retry the same TD once the stall is gone. */
	t.stall_ep3 = false;
	ring_db(&d, slot, 7);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SHORT_PACKET);   /* ep 3 returns nothing */
	g_assert_cmpuint(ep_state(&d, slot, 7), ==, EP_RUNNING);

	drv_stop(&d);
	tdev_fini(&t, &d.vm);
}

static void test_stop_and_detach(void)
{
	struct drv d;
	struct tdev t;
	struct xhci_trb ev;
	drv_start(&d);
	tdev_init(&t, &d.vm, USB_SPEED_FULL);
	unsigned slot = enumerate(&d, &t, XHCI_USB2_FIRST, false);
	configure(&d, slot);

	/* An interrupt IN waiting for data; Stop Endpoint cancels it, reports
	 * it stopped and leaves the dequeue pointer on it. */
	uint64_t td = xfer_trb(&d, 9, DATA, 8, TRB_NORMAL << 10 | TRB_ISP | TRB_IOC);
	ring_db(&d, slot, 9);
	expect_no_event(&d);
	g_assert_nonnull(t.held);
	uint64_t at = d.cmd_enq;
	put_trb(&d, at, 0, 0, TRB_STOP_EP << 10 | slot << 24 | 9u << 16 | TRB_C);
	d.cmd_enq += 16;
	wr(&d, d.db, 0);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, td);
	g_assert_cmpuint(ev.status >> 24, ==, CC_STOPPED);
	expect_event(&d, TRB_EV_CMD_COMPLETION, &ev);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
	g_assert_cmpuint(t.cancels, ==, 1);
	g_assert_null(t.held);
	g_assert_cmpuint(ep_state(&d, slot, 9), ==, EP_STOPPED);
	uint32_t c[8];
	out_ctx(&d, slot, 9, c);
	g_assert_cmphex(((uint64_t)c[3] << 32 | c[2]) & ~0xfULL, ==, td);
	/* The doorbell restarts it: the same TD goes out again. */
	ring_db(&d, slot, 9);
	expect_no_event(&d);
	g_assert_nonnull(t.held);
	g_assert_cmpuint(ep_state(&d, slot, 9), ==, EP_RUNNING);

	/* Unplug with that packet outstanding: disconnect seen, packet
	 * cancelled, device destroyed, the packet freed by the controller. */
	xhci_detach(d.x, &t.dev);
	g_assert_true(t.destroyed);
	g_assert_cmpuint(t.cancels, ==, 2);
	expect_port_event(&d, XHCI_USB2_FIRST);
	uint32_t sc = portsc(&d, XHCI_USB2_FIRST);
	g_assert_cmphex(sc & 3, ==, 0);
	g_assert_cmphex(sc & PORT_CSC_BIT, ==, PORT_CSC_BIT);
	g_assert_null(d.x->xfers);
	/* Transfers to the gone device fail instead of hanging. */
	uint64_t td2 = xfer_trb(&d, 2, DATA, 8, TRB_NORMAL << 10 | TRB_IOC);
	ring_db(&d, slot, 2);
	expect_event(&d, TRB_EV_TRANSFER, &ev);
	g_assert_cmphex(ev.param, ==, td2);
	g_assert_cmpuint(ev.status >> 24, ==, CC_TRANSACTION);
	g_assert_cmpuint(command(&d, 0, 0, TRB_DISABLE_SLOT << 10 | slot << 24, NULL), ==,
			 CC_SUCCESS);

	/* Re-plug: the port comes back. */
	struct tdev t2;
	tdev_init(&t2, &d.vm, USB_SPEED_HIGH);
	slot = enumerate(&d, &t2, XHCI_USB2_FIRST, false);
	struct xhci_trb e2 = control(&d, slot, 0x80, USB_REQ_GET_DESCRIPTOR, 0x0100, DATA, 18);
	g_assert_cmpuint(e2.status >> 24, ==, CC_SUCCESS);
	drv_stop(&d);
	g_assert_true(t2.destroyed);
	tdev_fini(&t, &d.vm);
	tdev_fini(&t2, &d.vm);
}

static void test_usb3_port(void)
{
	struct drv d;
	struct tdev t, t2[XHCI_USB3_PORTS];
	drv_start(&d);
	tdev_init(&t, &d.vm, USB_SPEED_SUPER);
	unsigned slot = enumerate(&d, &t, XHCI_USB3_FIRST, true);
	g_assert_cmpuint((portsc(&d, XHCI_USB3_FIRST) >> 10) & 0xf, ==, 4);   /* SuperSpeed */

	/* Warm reset: WRC and PRC. */
	uint32_t sc = portsc(&d, XHCI_USB3_FIRST);
	portsc_write(&d, XHCI_USB3_FIRST, (sc & ~2u) | (1u << 31));
	expect_port_event(&d, XHCI_USB3_FIRST);
	sc = portsc(&d, XHCI_USB3_FIRST);
	g_assert_cmphex(sc & (1u << 19 | 1u << 21), ==, 1u << 19 | 1u << 21);
	g_assert_cmpuint(t.resets, ==, 2);

	/* Suspend and resume the link: PLC on the way back to U0. */
	portsc_write(&d, XHCI_USB3_FIRST, (sc & ~(2u | 0x7fu << 17)) | 1u << 16 | 3u << 5);
	g_assert_cmpuint((portsc(&d, XHCI_USB3_FIRST) >> 5) & 0xf, ==, 3);
	sc = portsc(&d, XHCI_USB3_FIRST);
	portsc_write(&d, XHCI_USB3_FIRST, (sc & ~(2u | PORT_PLS_MASK)) | 1u << 16);
	expect_port_event(&d, XHCI_USB3_FIRST);
	g_assert_cmphex(portsc(&d, XHCI_USB3_FIRST) & (1u << 22), !=, 0);

	/* USB 3 ports run out; USB 2 devices do not take them. */
	for (int i = 1; i < XHCI_USB3_PORTS; i++) {
		tdev_init(&t2[i], &d.vm, USB_SPEED_SUPER);
		g_assert_cmpint(xhci_attach(d.x, &t2[i].dev), ==, XHCI_USB3_FIRST + i);
	}
	tdev_init(&t2[0], &d.vm, USB_SPEED_SUPER);
	g_assert_cmpint(xhci_attach(d.x, &t2[0].dev), ==, -1);
	(void)slot;
	drv_stop(&d);
	tdev_fini(&t, &d.vm);
	for (int i = 0; i < XHCI_USB3_PORTS; i++)
		tdev_fini(&t2[i], &d.vm);
}

/* USB 2 port states: the driver disables the port, suspends and resumes
 * the link (Resume then U0, PLC), resets an empty port (nothing happens). */
static void test_usb2_port_states(void)
{
	struct drv d;
	struct tdev t;
	drv_start(&d);
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	enumerate(&d, &t, 1, false);

	uint32_t sc = portsc(&d, 1);
	portsc_write(&d, 1, (sc & ~(0x7fu << 17)) | 2u);          /* PED: disable */
	g_assert_cmphex(portsc(&d, 1) & 3, ==, 1);
	expect_no_event(&d);
	portsc_write(&d, 1, portsc(&d, 1) | 1u << 4);            /* reset again */
	expect_port_event(&d, 1);
	sc = portsc(&d, 1);
	g_assert_cmphex(sc & 3, ==, 3);
	portsc_write(&d, 1, (sc & ~(2u | 0x7fu << 17)) | 1u << 21);

	sc = portsc(&d, 1) & ~(2u | PORT_PLS_MASK | 0x7fu << 17);
	portsc_write(&d, 1, sc | 1u << 16 | 3u << 5);             /* U3 */
	g_assert_cmpuint((portsc(&d, 1) >> 5) & 0xf, ==, 3);
	portsc_write(&d, 1, sc | 1u << 16 | 15u << 5);            /* Resume */
	g_assert_cmpuint((portsc(&d, 1) >> 5) & 0xf, ==, 15);
	expect_no_event(&d);
	portsc_write(&d, 1, sc | 1u << 16);                       /* U0 */
	expect_port_event(&d, 1);
	g_assert_cmphex(portsc(&d, 1) & (1u << 22), !=, 0);       /* PLC */
	g_assert_cmpuint((portsc(&d, 1) >> 5) & 0xf, ==, 0);

	/* Writing PLS without LWS changes nothing. */
	portsc_write(&d, 1, sc | 3u << 5);
	g_assert_cmpuint((portsc(&d, 1) >> 5) & 0xf, ==, 0);
	/* A reset of an empty port does nothing. */
	portsc_write(&d, 2, portsc(&d, 2) | 1u << 4);
	expect_no_event(&d);
	g_assert_cmphex(portsc(&d, 2) & (1u << 4 | 1u << 21 | 3u), ==, 0);
	drv_stop(&d);
	tdev_fini(&t, &d.vm);
}

/* A hostile driver: each of these raises Host System Error (one log line),
 * nothing crashes, and a controller reset brings the controller back. */
static void expect_hse_then_recover(struct drv *d)
{
	settle(d);
	g_assert_cmphex(rd(d, d->op + 4) & STS_HSE_BIT, !=, 0);
	g_assert_cmphex(rd(d, d->op + 4) & 1, ==, 1);     /* halted */
	drv_stop(d);
	drv_start(d);
	g_assert_cmpuint(command(d, 0, 0, TRB_NOOP_CMD << 10, NULL), ==, CC_SUCCESS);
}

static void test_hostile(void)
{
	struct drv d;
	struct tdev t;
	drv_start(&d);

	/* A link TRB pointing at itself without toggling the cycle. */
	put_trb(&d, d.cmd_enq, d.cmd_enq, 0, TRB_LINK << 10 | TRB_C);
	wr(&d, d.db, 0);
	expect_hse_then_recover(&d);

	/* Two links pointing at each other. */
	put_trb(&d, d.cmd_enq, d.cmd_enq + 0x20, 0, TRB_LINK << 10 | TRB_C);
	put_trb(&d, d.cmd_enq + 0x20, d.cmd_enq, 0, TRB_LINK << 10 | TRB_C);
	wr(&d, d.db, 0);
	expect_hse_then_recover(&d);

	/* A link out of guest memory. */
	put_trb(&d, d.cmd_enq, 0xfffffffff000ULL, 0, TRB_LINK << 10 | TRB_C);
	wr(&d, d.db, 0);
	expect_hse_then_recover(&d);

	/* Tearing the event ring down as Linux does on unbind (halt, reset,
	 * ERSTSZ 0, ERSTBA 0) is no error. */
	wr(&d, d.op, 0);
	wr(&d, d.op, 2);
	wr(&d, d.rt + 0x28, 0);
	wr64(&d, d.rt + 0x30, 0);
	wr64(&d, d.rt + 0x38, 0);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, ==, 0);
	drv_stop(&d);
	drv_start(&d);

	/* An event ring segment table out of guest memory. */
	wr64(&d, d.rt + 0x30, (uint64_t)MEM - 0x40 + 0x100000);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, !=, 0);
	drv_stop(&d);
	drv_start(&d);

	/* An event ring segment that is too big for guest memory. */
	wr(&d, d.op, 0);
	uint64_t seg[2] = { MEM - 0x400, 4096 };
	guest_write(&d.vm.mem, ERST + 0x40, seg, 16);
	wr64(&d, d.rt + 0x30, ERST + 0x40);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, !=, 0);
	drv_stop(&d);
	drv_start(&d);

	/* Address Device with the input context out of memory. */
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	g_assert_cmpint(xhci_attach(d.x, &t.dev), ==, 1);
	expect_port_event(&d, 1);
	unsigned slot;
	g_assert_cmpuint(command(&d, 0, 0, TRB_ENABLE_SLOT << 10, &slot), ==, CC_SUCCESS);
	put_trb(&d, d.cmd_enq, 0x7ffffffff000ULL, 0, TRB_ADDRESS_DEVICE << 10 | slot << 24 | TRB_C);
	wr(&d, d.db, 0);
	settle(&d);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, !=, 0);
	drv_stop(&d);
	g_assert_true(t.destroyed);
	tdev_fini(&t, &d.vm);
	drv_start(&d);

	/* Address Device with a DCBAA entry out of memory. */
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	g_assert_cmpint(xhci_attach(d.x, &t.dev), ==, 1);
	expect_port_event(&d, 1);
	g_assert_cmpuint(command(&d, 0, 0, TRB_ENABLE_SLOT << 10, &slot), ==, CC_SUCCESS);
	uint64_t bad = 0x7ffffffff000ULL;
	guest_write(&d.vm.mem, DCBAA + 8ULL * slot, &bad, 8);
	ep_ring_setup(&d, 1);
	in_ctx_clear(&d);
	uint32_t icc[8] = { 0, 3 };
	uint32_t slotc[8] = { 1u << 27, 1u << 16 };
	uint32_t ep0[8] = { 0, EPT_CONTROL << 3 | 64u << 16, (uint32_t)EP_RING(1) | 1, 0 };
	in_ctx_set(&d, 0, icc);
	in_ctx_set(&d, 1, slotc);
	in_ctx_set(&d, 2, ep0);
	put_trb(&d, d.cmd_enq, IN_CTX, 0, TRB_ADDRESS_DEVICE << 10 | slot << 24 | TRB_C);
	wr(&d, d.db, 0);
	settle(&d);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, !=, 0);
	drv_stop(&d);
	tdev_fini(&t, &d.vm);
	drv_start(&d);

	/* Well-formed but wrong: errors, no HSE. */
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	slot = enumerate(&d, &t, 1, false);
	/* Address Device again without BSR on an addressed slot. */
	g_assert_cmpuint(command(&d, IN_CTX, 0, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 ==, CC_CONTEXT_STATE);
	/* Configure an endpoint whose ring is out of memory: refused. */
	in_ctx_clear(&d);
	uint32_t icc2[8] = { 0, 1u | 1u << 2 };
	uint32_t e[8] = { 0, EPT_BULK_OUT << 3 | 512u << 16, 0xfff00000u | 1, 0x7fff };
	in_ctx_set(&d, 0, icc2);
	in_ctx_set(&d, 3, e);
	g_assert_cmpuint(command(&d, IN_CTX, 0, TRB_CONFIGURE_EP << 10 | slot << 24, NULL),
			 ==, CC_PARAMETER);
	/* Endpoint commands on endpoints that are not there. */
	g_assert_cmpuint(command(&d, 0, 0, TRB_RESET_EP << 10 | slot << 24 | 4u << 16, NULL),
			 ==, CC_EP_NOT_ENABLED);
	g_assert_cmpuint(command(&d, 0, 0, TRB_STOP_EP << 10 | slot << 24 | 0u << 16, NULL),
			 ==, CC_EP_NOT_ENABLED);
	/* Doorbells for slots and targets that do not exist are ignored. */
	wr(&d, d.db + 4 * 40, 1);
	wr(&d, d.db + 4 * 5, 3);
	wr(&d, d.db + 4ULL * slot, 0);
	wr(&d, d.db + 4ULL * slot, 77);
	expect_no_event(&d);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, ==, 0);

	/* A data buffer outside guest memory. */
	xfer_trb(&d, 1, 0x80 | 0x0100ULL << 16 | 18ULL << 48, 8, TRB_SETUP << 10 | TRB_IDT | 3u << 16);
	xfer_trb(&d, 1, 0x7ffff0000000ULL, 18, TRB_DATA << 10 | TRB_DIR_IN);
	xfer_trb(&d, 1, 0, 0, TRB_STATUS << 10 | TRB_IOC);
	unsigned submits = t.submits;
	ring_db(&d, slot, 1);
	settle(&d);
	g_assert_cmpuint(t.submits, ==, submits);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, !=, 0);
	drv_stop(&d);
	tdev_fini(&t, &d.vm);

	/* A transfer ring whose TD never ends (chain bit everywhere). */
	drv_start(&d);
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	slot = enumerate(&d, &t, 1, false);
	configure(&d, slot);
	for (unsigned i = 0; i < RING_TRBS - 1; i++)
		put_trb(&d, EP_RING(2) + 16 * i, DATA, 4, TRB_NORMAL << 10 | TRB_CH | TRB_C);
	put_trb(&d, EP_RING(2) + 16 * (RING_TRBS - 1), EP_RING(2), 0, TRB_LINK << 10 | TRB_C);
	ring_db(&d, slot, 2);
	expect_hse_then_recover(&d);

	/* A setup stage on a bulk ring. */
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	slot = enumerate(&d, &t, 1, false);
	configure(&d, slot);
	xfer_trb(&d, 2, 0, 8, TRB_SETUP << 10 | TRB_IDT | TRB_IOC);
	ring_db(&d, slot, 2);
	expect_hse_then_recover(&d);
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);   /* the old one was destroyed with its VM */

	/* HCRST while a packet is outstanding: it is cancelled and freed. */
	slot = enumerate(&d, &t, 1, false);
	configure(&d, slot);
	xfer_trb(&d, 9, DATA, 8, TRB_NORMAL << 10 | TRB_IOC);
	ring_db(&d, slot, 9);
	settle(&d);
	g_assert_nonnull(t.held);
	wr(&d, d.op, 2);
	settle(&d);
	g_assert_null(t.held);
	g_assert_cmpuint(t.cancels, ==, 1);
	g_assert_null(d.x->xfers);
	/* the port still shows the device after the reset */
	g_assert_cmphex(portsc(&d, 1) & (1u | PORT_CSC_BIT), ==, 1u | PORT_CSC_BIT);
	drv_stop(&d);
	tdev_fini(&t, &d.vm);
}

/* Isochronous endpoints configure, but their TDs are left alone (not
 * supported yet): no packet, no event, no error; Stop Endpoint and Set TR
 * Dequeue still work, and other endpoints carry on. */
static void test_isoch_silent(void)
{
	struct drv d;
	struct tdev t;
	drv_start(&d);
	tdev_init(&t, &d.vm, USB_SPEED_HIGH);
	unsigned slot = enumerate(&d, &t, 1, false);
	configure(&d, slot);

	in_ctx_clear(&d);
	uint32_t icc[8] = { 0, 1u | 1u << 3 };
	ep_ring_setup(&d, 3);
	uint32_t e[8] = { 0, EPT_ISOCH_IN << 3 | 192u << 16, (uint32_t)EP_RING(3) | 1, 0, 192 };
	uint32_t slotc[8] = { 9u << 27, 0 };
	in_ctx_set(&d, 0, icc);
	in_ctx_set(&d, 1, slotc);
	in_ctx_set(&d, 4, e);
	g_assert_cmpuint(command(&d, IN_CTX, 0, TRB_CONFIGURE_EP << 10 | slot << 24, NULL),
			 ==, CC_SUCCESS);
	unsigned submits = t.submits;
	xfer_trb(&d, 3, DATA, 192, TRB_ISOCH << 10 | TRB_ISP | TRB_IOC);
	ring_db(&d, slot, 3);
	expect_no_event(&d);
	g_assert_cmpuint(t.submits, ==, submits);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, ==, 0);
	/* the isoch endpoint was never started, so it is Running: Stop works */
	g_assert_cmpuint(ep_state(&d, slot, 3), ==, EP_RUNNING);
	g_assert_cmpuint(command(&d, 0, 0, TRB_STOP_EP << 10 | slot << 24 | 3u << 16, NULL),
			 ==, CC_SUCCESS);
	g_assert_cmpuint(command(&d, d.ring[3].enq | d.ring[3].cycle, 0,
				 TRB_SET_TR_DEQ << 10 | slot << 24 | 3u << 16, NULL), ==, CC_SUCCESS);
	struct xhci_trb ev = control(&d, slot, 0x80, USB_REQ_GET_DESCRIPTOR, 0x0100, DATA, 18);
	g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
	drv_stop(&d);
	tdev_fini(&t, &d.vm);
}

/* An event ring of two small segments: events go segment by segment, the
 * cycle bit flips on wrapping, and the ring never overtakes the guest's
 * dequeue pointer (events wait in the VMM and come once it moves on). */
static void test_event_ring_segments(void)
{
	struct drv d;
	const uint64_t seg_base[2] = { 0x14000, 0x15000 };
	const unsigned seg_trbs = 16;
	drv_start(&d);

	wr(&d, d.op, 0);                                   /* stop to change the ERST */
	uint64_t erst[4] = { seg_base[0], seg_trbs, seg_base[1], seg_trbs };
	guest_write(&d.vm.mem, ERST + 0x100, erst, sizeof(erst));
	static uint8_t zero[16 * 16];
	guest_write(&d.vm.mem, seg_base[0], zero, sizeof(zero));
	guest_write(&d.vm.mem, seg_base[1], zero, sizeof(zero));
	wr(&d, d.rt + 0x28, 2);
	wr64(&d, d.rt + 0x30, ERST + 0x100);
	wr64(&d, d.rt + 0x38, seg_base[0]);
	wr(&d, d.op, 1 | 4);

	unsigned seg = 0, idx = 0, seen = 0;
	bool cycle = true;
	uint64_t expect = 0;
	/* 40 no-ops per round without consuming: only 31 fit, the rest wait. */
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 40; i++) {
			put_trb(&d, d.cmd_enq, 0, 0, TRB_NOOP_CMD << 10 | (d.cmd_cycle ? TRB_C : 0));
			d.cmd_enq += 16;
			if (d.cmd_enq == CMD_RING + 16 * (CMD_TRBS - 1)) {
				put_trb(&d, d.cmd_enq, CMD_RING, 0,
					TRB_LINK << 10 | TRB_TC | (d.cmd_cycle ? TRB_C : 0));
				d.cmd_enq = CMD_RING;
				d.cmd_cycle = !d.cmd_cycle;
			}
		}
		wr(&d, d.db, 0);
		settle(&d);
		g_assert_cmpuint(d.x->intr.evq_n, ==, 40 - 31);
		/* consume whatever is there, moving ERDP each time */
		for (;;) {
			struct xhci_trb ev;
			uint64_t at = seg_base[seg] + 16ULL * idx;
			get_trb(&d, at, &ev);
			if (!!(ev.control & TRB_C) != cycle)
				break;
			g_assert_cmpuint(TRB_TYPE(ev.control), ==, TRB_EV_CMD_COMPLETION);
			g_assert_cmpuint(ev.status >> 24, ==, CC_SUCCESS);
			/* completions come in command order */
			if (expect)
				g_assert_cmphex(ev.param, ==, expect);
			expect = ev.param + 16;
			if (expect == CMD_RING + 16 * (CMD_TRBS - 1))
				expect = CMD_RING;
			seen++;
			if (++idx == seg_trbs) {
				idx = 0;
				if (++seg == 2) {
					seg = 0;
					cycle = !cycle;
				}
			}
			wr64(&d, d.rt + 0x38, (seg_base[seg] + 16ULL * idx) | 8);
			settle(&d);
		}
	}
	g_assert_cmpuint(seen, ==, 160);
	g_assert_cmphex(rd(&d, d.op + 4) & STS_HSE_BIT, ==, 0);
	drv_stop(&d);
}

/* IMOD: no second interrupt within the moderation interval; the one held
 * back comes when it is over. */
static void test_interrupt_moderation(void)
{
	struct drv d;
	drv_start(&d);
	wr(&d, d.rt + 0x24, 40000);                 /* 10 ms */
	uint64_t irqs = d.x->irqs;
	g_assert_cmpuint(command(&d, 0, 0, TRB_NOOP_CMD << 10, NULL), ==, CC_SUCCESS);
	g_assert_cmpuint(d.x->irqs, ==, irqs + 1);
	wr(&d, d.rt + 0x20, 3);                     /* the handler clears IP */
	g_assert_cmpuint(command(&d, 0, 0, TRB_NOOP_CMD << 10, NULL), ==, CC_SUCCESS);
	if (d.x->irqs == irqs + 1) {
		/* held back (unless this machine took 10 ms to get here) */
		g_assert_true(d.x->irq_held);
		testvm_pump(&d.vm, 30);
		g_assert_false(d.x->irq_held);
	}
	g_assert_cmpuint(d.x->irqs, ==, irqs + 2);
	/* IMODI 0: every batch interrupts at once. */
	wr(&d, d.rt + 0x24, 0);
	wr(&d, d.rt + 0x20, 3);
	g_assert_cmpuint(command(&d, 0, 0, TRB_NOOP_CMD << 10, NULL), ==, CC_SUCCESS);
	g_assert_cmpuint(d.x->irqs, ==, irqs + 3);
	drv_stop(&d);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/xhci/registers", test_registers);
	g_test_add_func("/xhci/enumerate-and-control", test_enumerate_and_control);
	g_test_add_func("/xhci/bulk", test_bulk);
	g_test_add_func("/xhci/stop-and-detach", test_stop_and_detach);
	g_test_add_func("/xhci/usb3-port", test_usb3_port);
	g_test_add_func("/xhci/usb2-port-states", test_usb2_port_states);
	g_test_add_func("/xhci/hostile", test_hostile);
	g_test_add_func("/xhci/isoch-silent", test_isoch_silent);
	g_test_add_func("/xhci/event-ring-segments", test_event_ring_segments);
	g_test_add_func("/xhci/interrupt-moderation", test_interrupt_moderation);
	return g_test_run();
}
