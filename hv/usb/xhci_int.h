/* xHCI model internals shared by xhci.c (registers, ports, interrupter),
 * xhci_ring.c (TRB rings), xhci_cmd.c (command ring) and xhci_xfer.c
 * (transfer rings).  Register and context layouts follow the xHCI 1.2
 * specification; section numbers in comments refer to it. */
#ifndef ATOLL_XHCI_INT_H
#define ATOLL_XHCI_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../pci/msix.h"
#include "../pci/pci.h"
#include "xhci.h"

struct vm;
struct guest_memory;
struct evloop_watch;

#define XHCI_MAX_SLOTS   32
#define XHCI_NUM_PORTS   (XHCI_USB2_PORTS + XHCI_USB3_PORTS)
#define XHCI_ERST_MAX_LOG2 4     /* up to 16 event ring segments */
#define XHCI_MAX_EP      32      /* DCI 1..31 */

/* BAR 0 layout. */
#define XHCI_BAR_SIZE    0x4000
#define XHCI_CAP_LEN     0x40
#define XHCI_OP_BASE     XHCI_CAP_LEN
#define XHCI_PORT_BASE   (XHCI_OP_BASE + 0x400)
#define XHCI_XECP        0x800
#define XHCI_RT_BASE     0x1000
#define XHCI_DB_BASE     0x2000
#define XHCI_MSIX_TABLE  0x3000
#define XHCI_MSIX_PBA    0x3800

/* TRB types (6.4.6). */
enum {
	TRB_NORMAL = 1, TRB_SETUP = 2, TRB_DATA = 3, TRB_STATUS = 4,
	TRB_ISOCH = 5, TRB_LINK = 6, TRB_EVENT_DATA = 7, TRB_NOOP = 8,
	TRB_ENABLE_SLOT = 9, TRB_DISABLE_SLOT = 10, TRB_ADDRESS_DEVICE = 11,
	TRB_CONFIGURE_EP = 12, TRB_EVALUATE_CTX = 13, TRB_RESET_EP = 14,
	TRB_STOP_EP = 15, TRB_SET_TR_DEQ = 16, TRB_RESET_DEVICE = 17,
	TRB_NOOP_CMD = 23,
	TRB_EV_TRANSFER = 32, TRB_EV_CMD_COMPLETION = 33, TRB_EV_PORT_STATUS = 34,
	TRB_EV_HOST_CONTROLLER = 37,
};

/* TRB control bits. */
#define TRB_C        (1u << 0)
#define TRB_TC       (1u << 1)   /* link: toggle cycle */
#define TRB_ENT      (1u << 1)   /* evaluate next TRB */
#define TRB_ISP      (1u << 2)
#define TRB_CH       (1u << 4)
#define TRB_IOC      (1u << 5)
#define TRB_IDT      (1u << 6)
#define TRB_BSR      (1u << 9)   /* address device: block SET_ADDRESS */
#define TRB_DC       (1u << 9)   /* configure endpoint: deconfigure */
#define TRB_DIR_IN   (1u << 16)  /* data/status stage direction */
#define TRB_EV_ED    (1u << 2)   /* transfer event: Event Data */
#define TRB_TYPE(c)  (((c) >> 10) & 0x3f)
#define TRB_SLOT(c)  (((c) >> 24) & 0xff)
#define TRB_EPID(c)  (((c) >> 16) & 0x1f)

/* Completion codes (6.4.5). */
enum {
	CC_SUCCESS = 1, CC_DATA_BUFFER = 2, CC_BABBLE = 3, CC_TRANSACTION = 4,
	CC_TRB = 5, CC_STALL = 6, CC_RESOURCE = 7, CC_NO_SLOTS = 9,
	CC_SLOT_NOT_ENABLED = 11, CC_EP_NOT_ENABLED = 12, CC_SHORT_PACKET = 13,
	CC_PARAMETER = 17, CC_CONTEXT_STATE = 19, CC_EVENT_RING_FULL = 21,
	CC_COMMAND_RING_STOPPED = 24, CC_COMMAND_ABORTED = 25, CC_STOPPED = 26,
};

/* Slot and endpoint states as stored in the output device context. */
enum { SLOT_ENABLED = 0, SLOT_DEFAULT = 1, SLOT_ADDRESSED = 2, SLOT_CONFIGURED = 3 };
enum { EP_DISABLED = 0, EP_RUNNING = 1, EP_HALTED = 2, EP_STOPPED = 3, EP_ERROR = 4 };
/* Endpoint types (6.2.3, EP Type). */
enum {
	EPT_INVALID = 0, EPT_ISOCH_OUT = 1, EPT_BULK_OUT = 2, EPT_INTR_OUT = 3,
	EPT_CONTROL = 4, EPT_ISOCH_IN = 5, EPT_BULK_IN = 6, EPT_INTR_IN = 7,
};

struct xhci_trb {
	uint64_t param;
	uint32_t status;
	uint32_t control;
};

/* A producer/consumer position on a TRB ring in guest memory. */
struct xhci_ring {
	uint64_t deq;   /* next TRB to look at */
	bool ccs;       /* consumer cycle state */
};

/* Bounds for walking guest rings: a guest can build link-TRB loops or
 * endless chains, so every walk is capped. */
#define XHCI_MAX_LINKS      32     /* link TRBs in a row */
#define XHCI_MAX_TD_TRBS    1024   /* TRBs (not links) in one TD */
#define XHCI_MAX_TD_BYTES   (4u << 20)
#define XHCI_MAX_CMDS_PER_KICK 256

/* One TRB of a collected transfer. */
struct xhci_td_trb {
	uint64_t addr;
	struct xhci_trb trb;
};

/* The TRBs of one transfer (a TD; for a control endpoint the setup, data
 * and status stage TDs together), copied out of guest memory. */
struct xhci_td {
	struct xhci_td_trb *trbs;
	unsigned n, cap;
	struct xhci_ring start;     /* where the transfer begins */
	struct xhci_ring next;      /* ring position after it */
};

enum xhci_fetch { FETCH_ERROR = -1, FETCH_EMPTY = 0, FETCH_OK = 1 };

/* Ring parsing (xhci_ring.c).  On FETCH_ERROR *why says what was wrong. */
enum xhci_fetch xhci_ring_fetch(struct xhci_ring *r, const struct guest_memory *gm,
				struct xhci_trb *trb, uint64_t *addr, const char **why);
/* Collect the next transfer on a transfer ring (control: setup to status
 * stage).  FETCH_EMPTY also when the transfer is not completely there yet. */
enum xhci_fetch xhci_td_collect(struct xhci_td *td, const struct xhci_ring *r,
				const struct guest_memory *gm, bool control,
				const char **why);
void xhci_td_free(struct xhci_td *td);

/* Event ring producer state (4.9.4), from the ERST the guest gave. */
struct xhci_erst_seg {
	uint64_t base;
	uint32_t size;
};

#define XHCI_EVQ_MAX 2048

struct xhci_intr {
	uint32_t iman, imod, erstsz;
	uint64_t erstba, erdp;
	struct xhci_erst_seg seg[1u << XHCI_ERST_MAX_LOG2];
	unsigned nseg;
	bool valid;                 /* ERST read and usable */
	unsigned enq_seg, enq_idx;
	bool pcs;                   /* producer cycle state */
	/* Events waiting for room in a full event ring. */
	struct xhci_trb evq[XHCI_EVQ_MAX];
	unsigned evq_head, evq_n;
};

/* Set up the producer from the ERST; false with *why if it is unusable. */
bool xhci_erst_load(struct xhci_intr *in, const struct guest_memory *gm,
		    const char **why);
/* Write one event; 1 written, 0 ring full, -1 memory error. */
int xhci_event_put(struct xhci_intr *in, struct guest_memory *gm,
		   const struct xhci_trb *ev);
/* Whether the guest has events it has not consumed yet. */
bool xhci_event_pending(const struct xhci_intr *in);

struct xhci_xfer;

struct xhci_ep {
	uint8_t state, type;
	uint16_t mps;
	struct xhci_ring ring;
	struct xhci_xfer *xfer;     /* the transfer in flight, or NULL */
};

struct xhci_slot {
	bool enabled;
	uint8_t state;
	int port;                   /* 1-based root port, 0 before Address Device */
	struct usb_device *dev;     /* the device addressed; NULL once unplugged */
	uint64_t ctx;               /* output device context */
	struct xhci_ep ep[XHCI_MAX_EP];
};

struct xhci_port {
	uint32_t portsc;
	uint32_t pmsc, li, hlpmc;
	bool usb3;
	struct usb_device *dev;
	bool reset_pending, warm;
};

/* A transfer handed to a device.  Freed when its completion has been
 * handled, or (orphaned: its endpoint or device went away) when it
 * completes or its device is destroyed. */
struct xhci_xfer {
	struct usb_packet pkt;
	struct xhci *x;
	struct usb_device *dev;
	unsigned slot, dci;
	struct xhci_td td;
	bool orphan, completed, cancel_pending;
	struct xhci_xfer *next_all, *prev_all;   /* x->xfers */
	struct xhci_xfer *next_done;             /* x->done */
};

struct xhci {
	struct pci_device pci;
	struct msix msix;
	struct vm *vm;
	struct guest_memory *mem;
	pthread_mutex_t lock;       /* registers and all state below */

	uint32_t usbcmd, usbsts, dnctrl, config;
	uint64_t dcbaap;
	uint32_t crcr_lo;
	struct xhci_ring cmd;
	bool crr;                   /* command ring running */
	struct xhci_intr intr;
	struct xhci_port ports[XHCI_NUM_PORTS];
	struct xhci_slot slots[XHCI_MAX_SLOTS + 1];   /* [0] unused */

	/* Work for the event loop: doorbells rung by vCPUs, completions. */
	int work_fd;
	struct evloop_watch *work_watch;
	uint32_t db_pending[XHCI_MAX_SLOTS + 1];      /* bit = DCI; [0] bit 0 = cmd */
	struct xhci_xfer *xfers;                      /* all outstanding */
	pthread_mutex_t done_lock;
	struct xhci_xfer *done, **done_tail;
	struct xhci_xfer *to_cancel;                  /* orphans to cancel */
	uint64_t irqs;              /* interrupts raised (tests) */
	/* Interrupt moderation (IMOD): at most one interrupt per interval;
	 * one held back fires from imod_fd. */
	int imod_fd;
	struct evloop_watch *imod_watch;
	uint64_t last_irq_ns;
	bool irq_held;
	bool isoch_warned;          /* said once that isochronous is missing */
};

/* xhci.c */
void xhci_post_event(struct xhci *x, const struct xhci_trb *ev);
void xhci_host_error(struct xhci *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void xhci_kick(struct xhci *x);
/* Have the event loop run xhci_kick soon (any thread). */
void xhci_schedule(struct xhci *x);
/* usb_packet.complete for every packet the controller submits. */
void xhci_packet_complete(struct usb_packet *p);
bool xhci_running(const struct xhci *x);
struct xhci_port *xhci_port(struct xhci *x, int port);

void xhci_handle_done(struct xhci *x);

/* xhci_cmd.c: run the command ring.  Lock held. */
void xhci_run_commands(struct xhci *x);

/* xhci_xfer.c.  Lock held. */
void xhci_ep_kick(struct xhci *x, unsigned slot, unsigned dci);
void xhci_xfer_done(struct xhci *x, struct xhci_xfer *xf);
/* Post a transfer event. */
void xhci_transfer_event(struct xhci *x, unsigned slot, unsigned dci, uint64_t trb,
			 unsigned cc, uint32_t len, bool ed);
/* Take the endpoint's transfer away from it (stop, disable, reset):
 * orphaned and queued for cancellation. */
void xhci_ep_abort(struct xhci *x, unsigned slot, unsigned dci);
void xhci_cancel_orphans(struct xhci *x);
void xhci_xfer_free(struct xhci *x, struct xhci_xfer *xf);
/* Write the endpoint's state and dequeue pointer to the output context. */
int xhci_ep_ctx_sync(struct xhci *x, unsigned slot, unsigned dci);

#endif
