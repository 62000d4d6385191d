/* The xHCI controller as a PCI device: capability, operational, runtime
 * and doorbell registers in BAR 0 (with the MSI-X table), root-hub ports,
 * interrupter 0 and the event ring.
 *
 * vCPU threads only touch registers: doorbells and port resets are noted
 * and handed to the event loop through work_fd, so ring walking, guest
 * memory copies and every call into a USB device backend happen on the
 * event-loop thread. */
#include "xhci_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../evloop.h"
#include "../log.h"
#include "../memory.h"
#include "../vm.h"

#define XHCI_PCI_VENDOR  0x1b36   /* the ID QEMU's xHCI uses: generic drivers match the class */
#define XHCI_PCI_DEVICE  0x000d
#define XHCI_PCI_CLASS   0x0c0330

/* USBCMD / USBSTS (5.4.1, 5.4.2). */
#define CMD_RS     (1u << 0)
#define CMD_HCRST  (1u << 1)
#define CMD_INTE   (1u << 2)
#define CMD_HSEE   (1u << 3)
#define CMD_KEEP   (CMD_RS | CMD_INTE | CMD_HSEE | (1u << 7) | (1u << 10) | (1u << 11))
#define STS_HCH    (1u << 0)
#define STS_HSE    (1u << 2)
#define STS_EINT   (1u << 3)
#define STS_PCD    (1u << 4)
#define STS_W1C    (STS_HSE | STS_EINT | STS_PCD | (1u << 10))

/* CRCR */
#define CRCR_RCS   (1u << 0)
#define CRCR_CS    (1u << 1)
#define CRCR_CA    (1u << 2)
#define CRCR_CRR   (1u << 3)

/* PORTSC (5.4.8). */
#define PORT_CCS   (1u << 0)
#define PORT_PED   (1u << 1)
#define PORT_PR    (1u << 4)
#define PORT_PLS_SHIFT 5
#define PORT_PLS   (0xfu << PORT_PLS_SHIFT)
#define PORT_PP    (1u << 9)
#define PORT_SPEED_SHIFT 10
#define PORT_LWS   (1u << 16)
#define PORT_CSC   (1u << 17)
#define PORT_PEC   (1u << 18)
#define PORT_WRC   (1u << 19)
#define PORT_PRC   (1u << 21)
#define PORT_PLC   (1u << 22)
#define PORT_CHANGE (0x7fu << 17)
#define PORT_WAKE  (7u << 25)
#define PORT_PIC   (3u << 14)
#define PORT_WPR   (1u << 31)
enum { PLS_U0 = 0, PLS_U3 = 3, PLS_RXDETECT = 5, PLS_POLLING = 7, PLS_RESUME = 15 };

/* Interrupter registers (5.5.2). */
#define IMAN_IP    (1u << 0)
#define IMAN_IE    (1u << 1)
#define ERDP_EHB   (1u << 3)

void xhci_schedule(struct xhci *x)
{
	uint64_t one = 1;
	if (write(x->work_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("xhci: work signal lost: %s", strerror(errno));
}

bool xhci_running(const struct xhci *x)
{
	return (x->usbcmd & CMD_RS) && !(x->usbsts & (STS_HCH | STS_HSE));
}

struct xhci_port *xhci_port(struct xhci *x, int port)
{
	return port >= 1 && port <= XHCI_NUM_PORTS ? &x->ports[port - 1] : NULL;
}

static void fire(struct xhci *x);

void xhci_host_error(struct xhci *x, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (x->usbsts & STS_HSE)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("xhci (PCI 00:%02x.%u): the guest driver broke the controller: %s; "
		  "Host System Error raised, USB stopped until the guest resets the controller",
		  x->pci.devfn >> 3, x->pci.devfn & 7, msg);
	x->usbsts |= STS_HSE | STS_HCH;
	x->crr = false;
	if (x->usbcmd & CMD_HSEE) {
		x->usbsts |= STS_EINT;
		fire(x);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void fire(struct xhci *x)
{
	x->irqs++;
	x->last_irq_ns = now_ns();
	msix_notify(&x->msix, 0);
}

/* Send the interrupt now, or when the moderation interval (IMODI, 250 ns
 * units) since the last one is over (5.5.2.2). */
static void fire_moderated(struct xhci *x)
{
	uint64_t interval = (uint64_t)(x->intr.imod & 0xffff) * 250;
	uint64_t now = now_ns();

	if (!interval || now - x->last_irq_ns >= interval) {
		fire(x);
		return;
	}
	if (x->irq_held)
		return;
	uint64_t wait = x->last_irq_ns + interval - now;
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(wait / 1000000000ULL),
						.tv_nsec = (long)(wait % 1000000000ULL) } };
	if (timerfd_settime(x->imod_fd, 0, &its, NULL) < 0) {
		fire(x);   /* no timer: better early than never */
		return;
	}
	x->irq_held = true;
}

static void imod_expired(void *opaque, uint32_t events)
{
	(void)events;
	struct xhci *x = opaque;
	uint64_t n;

	if (read(x->imod_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&x->lock);
	if (x->irq_held) {
		x->irq_held = false;
		if ((x->intr.iman & (IMAN_IP | IMAN_IE)) == (IMAN_IP | IMAN_IE) &&
		    (x->usbcmd & CMD_INTE))
			fire(x);
	}
	pthread_mutex_unlock(&x->lock);
}

static void raise_interrupt(struct xhci *x)
{
	struct xhci_intr *in = &x->intr;
	/* EHB holds off further interrupts until the guest has caught up
	 * with the ring (it clears EHB through ERDP). */
	if ((in->erdp & ERDP_EHB) || !xhci_event_pending(in))
		return;
	in->iman |= IMAN_IP;
	in->erdp |= ERDP_EHB;
	x->usbsts |= STS_EINT;
	if ((in->iman & IMAN_IE) && (x->usbcmd & CMD_INTE))
		fire_moderated(x);
}

/* Move queued events into the ring as far as it has room. */
static void flush_events(struct xhci *x)
{
	struct xhci_intr *in = &x->intr;
	while (in->evq_n) {
		int r = xhci_event_put(in, x->mem, &in->evq[in->evq_head]);
		if (r < 0) {
			xhci_host_error(x, "event ring segment outside guest memory");
			return;
		}
		if (r == 0)
			break;
		in->evq_head = (in->evq_head + 1) % XHCI_EVQ_MAX;
		in->evq_n--;
	}
}

void xhci_post_event(struct xhci *x, const struct xhci_trb *ev)
{
	struct xhci_intr *in = &x->intr;

	if (!xhci_running(x))
		return;
	if (!in->valid) {
		xhci_host_error(x, "running without a usable event ring");
		return;
	}
	if (in->evq_n == XHCI_EVQ_MAX) {
		xhci_host_error(x, "the event ring stayed full (guest not consuming events)");
		return;
	}
	in->evq[(in->evq_head + in->evq_n) % XHCI_EVQ_MAX] = *ev;
	in->evq_n++;
	flush_events(x);
	raise_interrupt(x);
}

/* Ports. */

static unsigned speed_id(enum usb_speed s)
{
	switch (s) {
	case USB_SPEED_FULL: return 1;
	case USB_SPEED_LOW: return 2;
	case USB_SPEED_HIGH: return 3;
	case USB_SPEED_SUPER: return 4;
	}
	return 0;
}

static unsigned port_pls(const struct xhci_port *p)
{
	return (p->portsc & PORT_PLS) >> PORT_PLS_SHIFT;
}

static void port_set_pls(struct xhci_port *p, unsigned pls)
{
	p->portsc = (p->portsc & ~PORT_PLS) | pls << PORT_PLS_SHIFT;
}

static void port_event(struct xhci *x, int port)
{
	struct xhci_trb ev = {
		.param = (uint64_t)port << 24,
		.status = (uint32_t)CC_SUCCESS << 24,
		.control = TRB_EV_PORT_STATUS << 10,
	};
	x->usbsts |= STS_PCD;
	xhci_post_event(x, &ev);
}

/* Set change bits; a bit going from 0 to 1 makes a port status change
 * event (4.19.2). */
static void port_change(struct xhci *x, int port, uint32_t bits)
{
	struct xhci_port *p = xhci_port(x, port);
	uint32_t new = bits & ~p->portsc & PORT_CHANGE;
	p->portsc |= bits;
	if (new)
		port_event(x, port);
}

/* The port as it looks right after a connect or a controller reset. */
static void port_connected_state(struct xhci_port *p)
{
	p->portsc = PORT_PP | PORT_CCS | speed_id(p->dev->speed) << PORT_SPEED_SHIFT;
	/* USB 3 links train by themselves and come up enabled; USB 2 ports
	 * wait for the driver's port reset (4.19.1). */
	if (p->usb3) {
		p->portsc |= PORT_PED;
		port_set_pls(p, PLS_U0);
	} else {
		port_set_pls(p, PLS_POLLING);
	}
}

static void port_empty_state(struct xhci_port *p)
{
	p->portsc = PORT_PP;
	port_set_pls(p, PLS_RXDETECT);
}

static void port_reset_done(struct xhci *x, int port)
{
	struct xhci_port *p = xhci_port(x, port);
	bool warm = p->warm;

	p->reset_pending = p->warm = false;
	p->portsc &= ~(PORT_PR | PORT_WPR);
	if (!p->dev)
		return;
	p->portsc |= PORT_PED;
	port_set_pls(p, PLS_U0);
	port_change(x, port, PORT_PRC | (warm ? PORT_WRC : 0));
}

static void port_write(struct xhci *x, int port, uint32_t v)
{
	struct xhci_port *p = xhci_port(x, port);

	p->portsc &= ~(v & PORT_CHANGE);
	if (v & PORT_PED)
		p->portsc &= ~PORT_PED;   /* the driver disables the port */
	p->portsc = (p->portsc & ~(PORT_WAKE | PORT_PIC)) | (v & (PORT_WAKE | PORT_PIC));
	if ((v & PORT_LWS) && p->dev) {
		unsigned pls = (v & PORT_PLS) >> PORT_PLS_SHIFT;
		unsigned old = port_pls(p);
		if (pls == PLS_U0 && old != PLS_U0) {
			port_set_pls(p, PLS_U0);
			port_change(x, port, PORT_PLC);
		} else if (pls == PLS_U3 || pls == PLS_RXDETECT ||
			   (pls == PLS_RESUME && !p->usb3)) {
			port_set_pls(p, pls);
		}
	}
	bool warm = p->usb3 && (v & PORT_WPR);
	if (((v & PORT_PR) || warm) && p->dev && !p->reset_pending) {
		/* The device's reset can take a while (a real device is
		 * re-enumerated on the host): done on the event loop. */
		p->portsc |= PORT_PR | (warm ? PORT_WPR : 0);
		p->portsc &= ~PORT_PED;
		p->reset_pending = true;
		p->warm = warm;
		xhci_schedule(x);
	}
}

/* Controller reset (USBCMD.HCRST and power-on). */
static void xhci_reset(struct xhci *x)
{
	for (unsigned s = 1; s <= XHCI_MAX_SLOTS; s++) {
		for (unsigned d = 1; d < XHCI_MAX_EP; d++)
			xhci_ep_abort(x, s, d);
		memset(&x->slots[s], 0, sizeof(x->slots[s]));
	}
	x->usbcmd = 0;
	x->usbsts = STS_HCH;
	x->dnctrl = x->config = 0;
	x->dcbaap = 0;
	x->crcr_lo = 0;
	x->cmd = (struct xhci_ring){ 0 };
	x->crr = false;
	memset(&x->intr, 0, sizeof(x->intr));
	x->intr.imod = 4000;   /* 1 ms, the reset value */
	x->irq_held = false;
	memset(x->db_pending, 0, sizeof(x->db_pending));
	for (int i = 0; i < XHCI_NUM_PORTS; i++) {
		struct xhci_port *p = &x->ports[i];
		p->pmsc = p->li = p->hlpmc = 0;
		p->reset_pending = p->warm = false;
		if (p->dev) {
			port_connected_state(p);
			p->portsc |= PORT_CSC;
		} else {
			port_empty_state(p);
		}
	}
	xhci_schedule(x);   /* cancels what the reset orphaned */
}

/* Register file. */

static uint32_t cap_read(uint32_t off)
{
	switch (off) {
	case 0x00: return 0x01000000 | XHCI_CAP_LEN;        /* HCIVERSION 1.0 */
	case 0x04: return XHCI_MAX_SLOTS | 1u << 8 | (uint32_t)XHCI_NUM_PORTS << 24;
	case 0x08: return XHCI_ERST_MAX_LOG2 << 4;
	case 0x0c: return 0;
	case 0x10: /* AC64, no secondary stream IDs, no streams, xECP */
		return 1u | 1u << 7 | (XHCI_XECP / 4) << 16;
	case 0x14: return XHCI_DB_BASE;
	case 0x18: return XHCI_RT_BASE;
	}
	return 0;
}

/* Supported Protocol capabilities (7.2): USB 2 ports, then USB 3 ports. */
static uint32_t xecp_read(uint32_t off)
{
	bool usb3 = off >= 0x10;
	switch (off & 0xf) {
	case 0x0: return 2u | (usb3 ? 0 : 4u << 8) | (usb3 ? 3u : 2u) << 24;
	case 0x4: return 0x20425355;   /* "USB " */
	case 0x8:
		return usb3 ? XHCI_USB3_FIRST | XHCI_USB3_PORTS << 8
			    : XHCI_USB2_FIRST | XHCI_USB2_PORTS << 8;
	}
	return 0;
}

static uint32_t op_read(struct xhci *x, uint32_t off)
{
	if (off >= 0x400) {
		uint32_t i = (off - 0x400) / 16;
		if (i >= XHCI_NUM_PORTS)
			return 0;
		struct xhci_port *p = &x->ports[i];
		switch (off & 0xf) {
		case 0x0: return p->portsc;
		case 0x4: return p->pmsc;
		case 0x8: return p->li;
		case 0xc: return p->hlpmc;
		}
	}
	switch (off) {
	case 0x00: return x->usbcmd;
	case 0x04: return x->usbsts;
	case 0x08: return 1;                       /* 4 KiB pages */
	case 0x14: return x->dnctrl;
	case 0x18: return x->crr ? CRCR_CRR : 0;   /* the pointer reads as 0 */
	case 0x30: return (uint32_t)x->dcbaap;
	case 0x34: return (uint32_t)(x->dcbaap >> 32);
	case 0x38: return x->config;
	}
	return 0;
}

static void usbcmd_write(struct xhci *x, uint32_t v)
{
	if (v & CMD_HCRST) {
		xhci_reset(x);
		return;
	}
	bool was = x->usbcmd & CMD_RS;
	x->usbcmd = v & CMD_KEEP;
	if ((v & CMD_RS) && !was && !(x->usbsts & STS_HSE)) {
		x->usbsts &= ~STS_HCH;
		/* Report connections made while halted. */
		for (int i = 0; i < XHCI_NUM_PORTS; i++)
			if (x->ports[i].portsc & PORT_CHANGE)
				port_event(x, i + 1);
		xhci_schedule(x);
	} else if (!(v & CMD_RS) && was) {
		x->usbsts |= STS_HCH;
		x->crr = false;
	}
}

static void command_ring_stop(struct xhci *x)
{
	struct xhci_trb ev = {
		.param = x->cmd.deq,
		.status = (uint32_t)CC_COMMAND_RING_STOPPED << 24,
		.control = TRB_EV_CMD_COMPLETION << 10,
	};
	/* Commands complete as soon as they are read, so there is never one
	 * to abort: just stop and say so (4.6.1.2). */
	x->crr = false;
	xhci_post_event(x, &ev);
}

static void op_write(struct xhci *x, uint32_t off, uint32_t v)
{
	if (off >= 0x400) {
		uint32_t i = (off - 0x400) / 16;
		if (i < XHCI_NUM_PORTS) {
			if ((off & 0xf) == 0)
				port_write(x, (int)i + 1, v);
			else if ((off & 0xf) == 4)
				x->ports[i].pmsc = v;
		}
		return;
	}
	switch (off) {
	case 0x00: usbcmd_write(x, v); break;
	case 0x04: x->usbsts &= ~(v & STS_W1C); break;
	case 0x14: x->dnctrl = v & 0xffff; break;
	case 0x18:
		if (x->crr) {
			if (v & (CRCR_CS | CRCR_CA))
				command_ring_stop(x);
			break;
		}
		x->crcr_lo = v;
		x->cmd.deq = (x->cmd.deq & ~0xffffffffULL) | (v & ~0x3fu);
		x->cmd.ccs = v & CRCR_RCS;
		break;
	case 0x1c:
		if (!x->crr)
			x->cmd.deq = (x->cmd.deq & 0xffffffffULL) | (uint64_t)v << 32;
		break;
	case 0x30: x->dcbaap = (x->dcbaap & ~0xffffffffULL) | (v & ~0x3fu); break;
	case 0x34: x->dcbaap = (x->dcbaap & 0xffffffffULL) | (uint64_t)v << 32; break;
	case 0x38: x->config = v & 0x3ff; break;
	}
}

static uint32_t rt_read(struct xhci *x, uint32_t off)
{
	struct xhci_intr *in = &x->intr;
	if (off == 0)
		return (uint32_t)(now_ns() / 125000) & 0x3fff;   /* microframes */
	switch (off) {
	case 0x20: return in->iman;
	case 0x24: return in->imod;
	case 0x28: return in->erstsz;
	case 0x30: return (uint32_t)in->erstba;
	case 0x34: return (uint32_t)(in->erstba >> 32);
	case 0x38: return (uint32_t)in->erdp;
	case 0x3c: return (uint32_t)(in->erdp >> 32);
	}
	return 0;   /* interrupters we do not have */
}

static void erdp_written(struct xhci *x)
{
	flush_events(x);
	raise_interrupt(x);
}

static void rt_write(struct xhci *x, uint32_t off, uint32_t v)
{
	struct xhci_intr *in = &x->intr;
	const char *why = NULL;

	switch (off) {
	case 0x20:
		in->iman = (in->iman & ~IMAN_IE & ~(v & IMAN_IP)) | (v & IMAN_IE);
		break;
	case 0x24: in->imod = v; break;
	case 0x28: in->erstsz = v & 0xffff; break;
	case 0x30: in->erstba = (in->erstba & ~0xffffffffULL) | (v & ~0x3fu); break;
	case 0x34:
		/* The high half completes the address: read the table now. */
		in->erstba = (in->erstba & 0xffffffffULL) | (uint64_t)v << 32;
		in->evq_n = in->evq_head = 0;
		in->valid = false;
		/* Drivers clear both when they tear the ring down (Linux on
		 * unbind): that is no error, just no event ring. */
		if ((in->erstsz || in->erstba) && !xhci_erst_load(in, x->mem, &why))
			xhci_host_error(x, "%s", why);
		break;
	case 0x38: {
		uint64_t ehb = (in->erdp & ERDP_EHB) & ~(uint64_t)(v & ERDP_EHB);
		in->erdp = (in->erdp & ~0xffffffffULL) | (v & ~0xfu & 0xffffffffu) | (v & 7) | ehb;
		break;
	}
	case 0x3c:
		in->erdp = (in->erdp & 0xffffffffULL) | (uint64_t)v << 32;
		erdp_written(x);
		break;
	}
}

static void db_write(struct xhci *x, uint32_t n, uint32_t v)
{
	unsigned target = v & 0xff;
	if (n > XHCI_MAX_SLOTS)
		return;
	if (n == 0 ? target != 0 : (target == 0 || target >= XHCI_MAX_EP))
		return;   /* reserved targets are ignored */
	x->db_pending[n] |= 1u << target;
	xhci_schedule(x);
}

static uint32_t reg_read(struct xhci *x, uint32_t off)
{
	if (off < XHCI_CAP_LEN)
		return cap_read(off);
	if (off >= XHCI_XECP && off < XHCI_XECP + 0x20)
		return xecp_read(off - XHCI_XECP);
	if (off >= XHCI_OP_BASE && off < XHCI_OP_BASE + 0x400 + 16 * XHCI_NUM_PORTS)
		return op_read(x, off - XHCI_OP_BASE);
	if (off >= XHCI_RT_BASE && off < XHCI_RT_BASE + 0x40)
		return rt_read(x, off - XHCI_RT_BASE);
	return 0;   /* doorbells read as 0 */
}

static void reg_write(struct xhci *x, uint32_t off, uint32_t v)
{
	if (off >= XHCI_OP_BASE && off < XHCI_OP_BASE + 0x400 + 16 * XHCI_NUM_PORTS)
		op_write(x, off - XHCI_OP_BASE, v);
	else if (off >= XHCI_RT_BASE && off < XHCI_RT_BASE + 0x40)
		rt_write(x, off - XHCI_RT_BASE, v);
	else if (off >= XHCI_DB_BASE && off < XHCI_DB_BASE + 4 * (XHCI_MAX_SLOTS + 1))
		db_write(x, (off - XHCI_DB_BASE) / 4, v);
}

static void bar_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct xhci *x = opaque;

	if (off >= XHCI_MSIX_PBA) {
		msix_pba_access(&x->msix, off - XHCI_MSIX_PBA, data, len, is_write);
		return;
	}
	if (off >= XHCI_MSIX_TABLE) {
		msix_table_access(&x->msix, off - XHCI_MSIX_TABLE, data, len, is_write);
		return;
	}
	pthread_mutex_lock(&x->lock);
	if (is_write) {
		/* Registers are dwords; a qword write is its two halves, low
		 * first, as drivers do; narrower writes are ignored. */
		if (len == 4 && !(off & 3)) {
			reg_write(x, (uint32_t)off, (uint32_t)bus_data_get(data, 4));
		} else if (len == 8 && !(off & 7)) {
			reg_write(x, (uint32_t)off, (uint32_t)bus_data_get(data, 4));
			reg_write(x, (uint32_t)off + 4, (uint32_t)bus_data_get(data + 4, 4));
		}
	} else {
		for (uint32_t i = 0; i < len; i++) {
			uint32_t o = (uint32_t)off + i;
			data[i] = (uint8_t)(reg_read(x, o & ~3u) >> (8 * (o & 3)));
		}
	}
	pthread_mutex_unlock(&x->lock);
}

static void cfg_write(struct pci_device *pci, uint32_t off, uint32_t len, uint32_t val)
{
	struct xhci *x = pci->opaque;
	msix_cfg_write(&x->msix, off, len, val);
}

/* Event-loop work. */

void xhci_packet_complete(struct usb_packet *p)
{
	struct xhci_xfer *xf = p->opaque;
	struct xhci *x = xf->x;

	pthread_mutex_lock(&x->done_lock);
	xf->completed = true;
	xf->next_done = NULL;
	*x->done_tail = xf;
	x->done_tail = &xf->next_done;
	pthread_mutex_unlock(&x->done_lock);
	xhci_schedule(x);
}

static struct xhci_xfer *take_done(struct xhci *x)
{
	pthread_mutex_lock(&x->done_lock);
	struct xhci_xfer *list = x->done;
	x->done = NULL;
	x->done_tail = &x->done;
	pthread_mutex_unlock(&x->done_lock);
	return list;
}

/* Put a list of results back in front of the done list, in order. */
static void put_back_done(struct xhci *x, struct xhci_xfer *head,
			  struct xhci_xfer **tail)
{
	pthread_mutex_lock(&x->done_lock);
	*tail = x->done;
	if (x->done_tail == &x->done)
		x->done_tail = tail;
	x->done = head;
	pthread_mutex_unlock(&x->done_lock);
}

void xhci_handle_done(struct xhci *x)
{
	struct xhci_xfer *keep = NULL, **keep_tail = &keep;
	struct xhci_xfer *xf = take_done(x);

	while (xf) {
		struct xhci_xfer *next = xf->next_done;
		if (xf->orphan) {
			xhci_xfer_free(x, xf);
		} else if (xhci_running(x)) {
			xhci_xfer_done(x, xf);
		} else {
			/* Halted: the result waits for the driver to run us. */
			xf->next_done = NULL;
			*keep_tail = xf;
			keep_tail = &xf->next_done;
		}
		xf = next;
	}
	if (keep)
		put_back_done(x, keep, keep_tail);
}

static void work(void *opaque, uint32_t events)
{
	(void)events;
	struct xhci *x = opaque;
	uint64_t n;

	if (read(x->work_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	xhci_kick(x);
}

void xhci_kick(struct xhci *x)
{
	pthread_mutex_lock(&x->lock);
	xhci_cancel_orphans(x);
	for (int i = 0; i < XHCI_NUM_PORTS; i++) {
		struct xhci_port *p = &x->ports[i];
		struct usb_device *dev = p->dev;
		if (!p->reset_pending)
			continue;
		if (dev && dev->ops->reset) {
			/* A real device's reset blocks (the host re-enumerates
			 * it): not with the lock vCPUs need for registers.
			 * Attach and detach only run on this thread, so dev
			 * stays; a controller reset meanwhile cancels this one. */
			pthread_mutex_unlock(&x->lock);
			dev->ops->reset(dev);
			pthread_mutex_lock(&x->lock);
			if (!p->reset_pending || p->dev != dev)
				continue;
		}
		port_reset_done(x, i + 1);
	}
	xhci_handle_done(x);
	if (xhci_running(x)) {
		if (x->db_pending[0]) {
			x->db_pending[0] = 0;
			x->crr = true;
			xhci_run_commands(x);
		}
		for (unsigned s = 1; s <= XHCI_MAX_SLOTS && xhci_running(x); s++) {
			uint32_t bits = x->db_pending[s];
			x->db_pending[s] = 0;
			for (unsigned d = 1; d < XHCI_MAX_EP && bits; d++)
				if (bits & (1u << d))
					xhci_ep_kick(x, s, d);
		}
	}
	/* Commands above may have stopped endpoints. */
	xhci_cancel_orphans(x);
	pthread_mutex_unlock(&x->lock);
}

/* Public API. */

int xhci_attach(struct xhci *x, struct usb_device *d)
{
	bool usb3 = d->speed == USB_SPEED_SUPER;
	int first = usb3 ? XHCI_USB3_FIRST : XHCI_USB2_FIRST;
	int count = usb3 ? XHCI_USB3_PORTS : XHCI_USB2_PORTS;
	int port = -1;

	pthread_mutex_lock(&x->lock);
	for (int i = first; i < first + count; i++) {
		if (!xhci_port(x, i)->dev) {
			port = i;
			break;
		}
	}
	if (port > 0) {
		struct xhci_port *p = xhci_port(x, port);
		p->dev = d;
		d->hcd = x;
		d->port = port;
		port_connected_state(p);
		port_change(x, port, PORT_CSC);
		log_info("xhci: %s (%s speed) connected to root port %d",
			 d->name, usb_speed_name(d->speed), port);
	}
	pthread_mutex_unlock(&x->lock);
	return port;
}

void xhci_detach(struct xhci *x, struct usb_device *d)
{
	int port = d->port;
	struct xhci_port *p = xhci_port(x, port);

	pthread_mutex_lock(&x->lock);
	if (!p || p->dev != d) {
		pthread_mutex_unlock(&x->lock);
		log_warn("xhci: %s is not attached; nothing to detach", d->name);
		return;
	}
	for (unsigned s = 1; s <= XHCI_MAX_SLOTS; s++) {
		if (x->slots[s].dev != d)
			continue;
		for (unsigned e = 1; e < XHCI_MAX_EP; e++)
			xhci_ep_abort(x, s, e);
		x->slots[s].dev = NULL;
	}
	xhci_cancel_orphans(x);
	p->dev = NULL;
	p->reset_pending = p->warm = false;
	port_empty_state(p);
	port_change(x, port, PORT_CSC);
	d->hcd = NULL;
	d->port = 0;
	log_info("xhci: %s disconnected from root port %d", d->name, port);
	/* destroy may wait for the host to hand transfers back: not with the
	 * lock vCPUs need.  Nothing reaches d any more (this thread owns
	 * attach, detach and submits). */
	pthread_mutex_unlock(&x->lock);
	if (d->ops->destroy)
		d->ops->destroy(d);
	pthread_mutex_lock(&x->lock);
	/* Packets the device never completed die with it. */
	for (struct xhci_xfer *xf = x->xfers, *next; xf; xf = next) {
		next = xf->next_all;
		if (xf->dev == d && !xf->completed)
			xhci_xfer_free(x, xf);
	}
	pthread_mutex_unlock(&x->lock);
}

int xhci_create(struct vm *vm, struct xhci **out)
{
	struct xhci *x = calloc(1, sizeof(*x));
	int ret;

	if (!x)
		return -ENOMEM;
	x->vm = vm;
	x->mem = &vm->mem;
	x->work_fd = x->imod_fd = -1;
	pthread_mutex_init(&x->lock, NULL);
	pthread_mutex_init(&x->done_lock, NULL);
	x->done_tail = &x->done;
	for (int i = 0; i < XHCI_NUM_PORTS; i++)
		x->ports[i].usb3 = i + 1 >= XHCI_USB3_FIRST;
	x->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->work_fd < 0) {
		ret = -errno;
		goto fail;
	}
	x->work_watch = evloop_add(&vm->loop, x->work_fd, EPOLLIN, work, x);
	if (!x->work_watch) {
		ret = -errno;
		goto fail;
	}
	x->imod_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (x->imod_fd < 0) {
		ret = -errno;
		goto fail;
	}
	x->imod_watch = evloop_add(&vm->loop, x->imod_fd, EPOLLIN, imod_expired, x);
	if (!x->imod_watch) {
		ret = -errno;
		goto fail;
	}

	struct pci_device *pci = &x->pci;
	pci_device_init(pci, "xhci", XHCI_PCI_VENDOR, XHCI_PCI_DEVICE, XHCI_PCI_CLASS,
			1, XHCI_PCI_VENDOR, 0x1100);
	pci->opaque = x;
	pci->cfg_write = cfg_write;
	ret = pci_device_set_bar(pci, 0, PCI_BAR_MEM32, XHCI_BAR_SIZE, false, bar_access, x);
	if (!ret)
		ret = msix_init(&x->msix, pci, vm, 1, 0, XHCI_MSIX_TABLE, XHCI_MSIX_PBA);
	if (ret)
		goto fail;
	/* Serial Bus Release Number 3.0 and the default frame length
	 * adjustment (xHCI 5.2.3, 5.2.4). */
	pci->cfg[0x60] = 0x30;
	pci->cfg[0x61] = 0x20;
	xhci_reset(x);
	ret = pci_host_add(vm->pci, pci, -1);
	if (ret < 0)
		goto fail;
	*out = x;
	log_debug("xhci: controller at PCI 00:%02x.0, %d USB 2 + %d USB 3 ports",
		  pci->devfn >> 3, XHCI_USB2_PORTS, XHCI_USB3_PORTS);
	return 0;
fail:
	log_error("xhci: cannot create the USB controller: %s", strerror(-ret));
	if (x->work_watch)
		evloop_remove(&vm->loop, x->work_watch);
	if (x->work_fd >= 0)
		close(x->work_fd);
	if (x->imod_watch)
		evloop_remove(&vm->loop, x->imod_watch);
	if (x->imod_fd >= 0)
		close(x->imod_fd);
	msix_destroy(&x->msix);
	free(x);
	return ret;
}

void xhci_destroy(struct xhci *x)
{
	if (!x)
		return;
	for (int i = 0; i < XHCI_NUM_PORTS; i++)
		if (x->ports[i].dev)
			xhci_detach(x, x->ports[i].dev);
	pthread_mutex_lock(&x->lock);
	for (unsigned s = 1; s <= XHCI_MAX_SLOTS; s++)
		for (unsigned e = 1; e < XHCI_MAX_EP; e++)
			xhci_ep_abort(x, s, e);
	while (x->xfers)
		xhci_xfer_free(x, x->xfers);
	pthread_mutex_unlock(&x->lock);
	evloop_remove(&x->vm->loop, x->work_watch);
	close(x->work_fd);
	evloop_remove(&x->vm->loop, x->imod_watch);
	close(x->imod_fd);
	msix_destroy(&x->msix);
	free(x);
}
