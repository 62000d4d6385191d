/* libFuzzer target: a hostile guest driving the xHCI controller (hv/usb/)
 * through its registers and guest memory — command ring, event ring
 * segment table, device contexts, transfer rings and TRBs — with a USB
 * device on the other side that completes packets when and how the input
 * says.  No KVM: MSI-X routing fails and interrupts are only counted.
 *
 * Input: one header byte, then 12-byte operations.
 *   header bit 0: first bring the controller up as a driver does (rings at
 *   the fixed addresses below, running, a USB 2 device addressed and
 *   configured on slot 1 with bulk OUT 1, bulk IN 2, interrupt IN 3, and a
 *   USB 3 device connected), so short inputs reach the transfer paths.
 *   op byte 0 (mod 8):
 *     0 register write: u16 offset at 2, u32 value at 4
 *     1 register read:  u16 offset at 2
 *     2 guest RAM write: u16 at 2 = address / 8 (first 512 KiB), 8 bytes at 4
 *     3 doorbell: slot = byte 1 (mod 33), target = byte 2
 *     4 run the event loop once
 *     5 complete the oldest pending packet: status byte 1 (mod 6), u16
 *       actual at 2
 *     6 attach (byte 1 even) or detach (odd) device byte 2 (mod 2)
 *     7 write a TRB: ring byte 1 (mod 8: command ring or the ring of DCI
 *       n), slot index byte 2 (mod 64), type byte 3 (mod 64), u32 param
 *       low at 4 (plus the data area base if byte 11 bit 7), u16 length at
 *       8, control flags byte 10 (bit 0 cycle, then ENT/TC, ISP, -, CH,
 *       IOC, IDT, DIR), byte 11 bits 0-4 slot/target field */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/testvm.h"
#include "log.h"
#include "usb/xhci.h"
#include "usb/xhci_int.h"

#define OP_SIZE   12
#define RAM_BYTES (2u << 20)
#define DCBAA     0x10000
#define CMD_RING  0x11000
#define ERST      0x12000
#define EV_RING   0x13000
#define EV_TRBS   64
#define OUT_CTX   0x20000
#define IN_CTX    0x40000
#define EP_RING(dci) (0x50000 + (uint64_t)(dci) * 0x1000)
#define DATA      0x100000

struct fdev {
	struct usb_device dev;
	struct usb_packet *q[64];
	unsigned n;
	bool attached;
};

static int fdev_submit(struct usb_device *d, struct usb_packet *p)
{
	struct fdev *f = (struct fdev *)d;
	if (f->n == 64)
		return -1;
	f->q[f->n++] = p;
	return 0;
}

static void fdev_cancel(struct usb_device *d, struct usb_packet *p)
{
	(void)d;
	p->status = USB_STATUS_CANCELLED;  /* completed by a later op 5 */
}

static void fdev_reset(struct usb_device *d) { (void)d; }

static void fdev_destroy(struct usb_device *d)
{
	struct fdev *f = (struct fdev *)d;
	f->n = 0;            /* the controller frees what is left */
	f->attached = false;
}

static const struct usb_device_ops fdev_ops = {
	.submit = fdev_submit, .cancel = fdev_cancel, .reset = fdev_reset,
	.destroy = fdev_destroy,
};

static void fdev_complete(struct fdev *f, unsigned status, size_t actual)
{
	if (!f->n)
		return;
	struct usb_packet *p = f->q[0];
	memmove(f->q, f->q + 1, (f->n - 1) * sizeof(f->q[0]));
	f->n--;
	if (p->status != USB_STATUS_CANCELLED)
		p->status = (enum usb_status)(status % 6);
	p->actual = actual < p->len ? actual : p->len;
	if (p->in && p->actual)
		memset(p->buf, 0xa5, p->actual);
	p->complete(p);
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void reg_write(struct vm *vm, struct xhci *x, uint32_t off, uint32_t v)
{
	testvm_mmio_write(vm, x->pci.bars[0].addr + (off & 0x3ffc), 4, v);
}

static void put_trb(struct vm *vm, uint64_t a, uint64_t param, uint32_t status, uint32_t ctl)
{
	guest_write(&vm->mem, a, &param, 8);
	guest_write(&vm->mem, a + 8, &status, 4);
	guest_write(&vm->mem, a + 12, &ctl, 4);
}

static void run(struct vm *vm)
{
	for (int i = 0; i < 4; i++)
		if (evloop_run_once(&vm->loop, 0) <= 0)
			break;
}

static void cmd(struct vm *vm, struct xhci *x, unsigned *idx, uint64_t param, uint32_t ctl)
{
	put_trb(vm, CMD_RING + 16ULL * (*idx)++, param, 0, ctl | TRB_C);
	reg_write(vm, x, XHCI_DB_BASE, 0);
	run(vm);
}

static void ctx_set(struct vm *vm, unsigned idx, uint32_t w0, uint32_t w1, uint64_t deq)
{
	uint32_t c[8] = { w0, w1, (uint32_t)deq, (uint32_t)(deq >> 32), 8 };
	guest_write(&vm->mem, IN_CTX + 32ULL * idx, c, sizeof(c));
}

/* What xhci_hcd does from reset to a configured device. */
static void prologue(struct vm *vm, struct xhci *x, struct fdev *devs)
{
	unsigned ci = 0;
	reg_write(vm, x, XHCI_OP_BASE + 0x38, 8);
	reg_write(vm, x, XHCI_OP_BASE + 0x30, DCBAA);
	reg_write(vm, x, XHCI_OP_BASE + 0x34, 0);
	put_trb(vm, CMD_RING + 16 * 63, CMD_RING, 0, TRB_LINK << 10 | TRB_TC);
	reg_write(vm, x, XHCI_OP_BASE + 0x18, CMD_RING | 1);
	reg_write(vm, x, XHCI_OP_BASE + 0x1c, 0);
	uint64_t seg[2] = { EV_RING, EV_TRBS };
	guest_write(&vm->mem, ERST, seg, sizeof(seg));
	reg_write(vm, x, XHCI_RT_BASE + 0x28, 1);
	reg_write(vm, x, XHCI_RT_BASE + 0x30, ERST);
	reg_write(vm, x, XHCI_RT_BASE + 0x34, 0);
	reg_write(vm, x, XHCI_RT_BASE + 0x38, EV_RING);
	reg_write(vm, x, XHCI_RT_BASE + 0x3c, 0);
	reg_write(vm, x, XHCI_RT_BASE + 0x20, 2);
	reg_write(vm, x, XHCI_OP_BASE, 5);
	for (int i = 0; i < 2; i++)
		devs[i].attached = xhci_attach(x, &devs[i].dev) > 0;
	reg_write(vm, x, XHCI_PORT_BASE, 1u << 4);   /* reset port 1 */
	run(vm);
	cmd(vm, x, &ci, 0, TRB_ENABLE_SLOT << 10);
	uint64_t ctx = OUT_CTX;
	guest_write(&vm->mem, DCBAA + 8, &ctx, 8);
	uint32_t icc[8] = { 0, 3 };
	guest_write(&vm->mem, IN_CTX, icc, sizeof(icc));
	ctx_set(vm, 1, 1u << 27, 1u << 16, 0);
	ctx_set(vm, 2, 0, EPT_CONTROL << 3 | 64u << 16, EP_RING(1) | 1);
	cmd(vm, x, &ci, IN_CTX, TRB_ADDRESS_DEVICE << 10 | 1u << 24);
	icc[1] = 1 | 1u << 2 | 1u << 5 | 1u << 7;
	guest_write(&vm->mem, IN_CTX, icc, sizeof(icc));
	ctx_set(vm, 1, 7u << 27, 1u << 16, 0);
	ctx_set(vm, 3, 0, EPT_BULK_OUT << 3 | 512u << 16, EP_RING(2) | 1);
	ctx_set(vm, 6, 0, EPT_BULK_IN << 3 | 512u << 16, EP_RING(5) | 1);
	ctx_set(vm, 8, 0, EPT_INTR_IN << 3 | 8u << 16, EP_RING(7) | 1);
	cmd(vm, x, &ci, IN_CTX, TRB_CONFIGURE_EP << 10 | 1u << 24);
}

static const uint8_t ring_dci[8] = { 0, 1, 2, 5, 7, 3, 4, 31 };

static void op_trb(struct vm *vm, const uint8_t *o)
{
	unsigned sel = o[1] % 8;
	uint64_t base = sel == 0 ? CMD_RING : EP_RING(ring_dci[sel]);
	uint64_t param = rd32(o + 4) + ((o[11] & 0x80) ? DATA : 0);
	uint32_t f = o[10];
	/* flag byte -> TRB control bits: C, TC/ENT, ISP, CH, IOC, IDT, DIR */
	uint32_t ctl = (f & 1) | (f & 2) | (f & 4) | ((f & 8) ? TRB_CH : 0) |
		       ((f & 16) ? TRB_IOC : 0) | ((f & 32) ? TRB_IDT : 0) |
		       ((f & 64) ? TRB_DIR_IN : 0) | ((f & 128) ? TRB_BSR : 0);
	ctl |= (uint32_t)(o[3] % 64) << 10;
	ctl |= (uint32_t)(o[11] & 0x1f) << 16 | (uint32_t)(o[11] & 0x60) << 19;
	put_trb(vm, base + 16ULL * (o[2] % 64), param, rd16(o + 8), ctl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	struct vm vm;
	struct xhci *x = NULL;
	struct fdev devs[2];

	if (!quiet) {
		log_set_level(LOG_SILENT);
		quiet = true;
	}
	if (size < 1)
		return 0;
	testvm_init(&vm, RAM_BYTES);
	if (xhci_create(&vm, &x)) {
		testvm_destroy(&vm);
		return 0;
	}
	memset(devs, 0, sizeof(devs));
	for (int i = 0; i < 2; i++) {
		devs[i].dev.ops = &fdev_ops;
		devs[i].dev.speed = i ? USB_SPEED_SUPER : USB_SPEED_HIGH;
		snprintf(devs[i].dev.name, sizeof(devs[i].dev.name), "fuzz%d", i);
	}
	if (data[0] & 1)
		prologue(&vm, x, devs);

	for (size_t at = 1; at + OP_SIZE <= size; at += OP_SIZE) {
		const uint8_t *o = data + at;
		uint8_t buf[8];
		switch (o[0] % 8) {
		case 0:
			reg_write(&vm, x, rd16(o + 2), rd32(o + 4));
			break;
		case 1:
			bus_access(&vm.mmio_bus, x->pci.bars[0].addr + (rd16(o + 2) & 0x3fff),
				   buf, 4, false);
			break;
		case 2:
			guest_write(&vm.mem, (uint64_t)(rd16(o + 2)) * 8, o + 4, 8);
			break;
		case 3:
			reg_write(&vm, x, XHCI_DB_BASE + 4u * (o[1] % 33), o[2]);
			break;
		case 4:
			run(&vm);
			break;
		case 5:
			fdev_complete(&devs[0], o[1], rd16(o + 2));
			fdev_complete(&devs[1], o[1], rd16(o + 2));
			break;
		case 6: {
			struct fdev *f = &devs[o[2] % 2];
			if (!(o[1] & 1) && !f->attached)
				f->attached = xhci_attach(x, &f->dev) > 0;
			else if ((o[1] & 1) && f->attached)
				xhci_detach(x, &f->dev);
			break;
		}
		case 7:
			op_trb(&vm, o);
			break;
		}
	}
	run(&vm);
	xhci_destroy(x);
	testvm_destroy(&vm);
	return 0;
}
