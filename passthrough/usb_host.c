/* USB passthrough through libusb.
 *
 * Threads: libusb's event handling runs on a thread of its own (one per
 * process, started with the first attach).  It only records completions
 * and wakes the VMM's event loop through a per-device eventfd; copying data
 * back into the controller's buffer and calling usb_packet.complete happen
 * on the event-loop thread.  A thread rather than libusb's pollfds on the
 * VMM's epoll because libusb's fd set changes under it (a device fd is
 * dropped on disconnect, the hot-plug monitor adds its own) and its
 * timeouts would need a timer kept in step; a blocking loop in
 * libusb_handle_events needs neither, and the eventfd hand-off is the same
 * one the vCPU threads use to wake the loop.
 *
 * Transfers never point at the controller's buffer: each has its own, so a
 * packet cancelled (and completed) early can be freed by the controller
 * while the kernel still finishes the URB. */
#include "usb_host.h"

#include <errno.h>
#include <libusb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "usb/xhci.h"

#define MAX_XFER_LEN (16u << 20)  /* usbfs' default memory limit */
#define MAX_IFACES 32

struct host_dev;

/* One submitted packet.  Lives on the device's in-flight list while libusb
 * has it, then on its done list until the event loop delivers it. */
struct host_xfer {
	struct host_dev *d;
	struct usb_packet *p;        /* NULL once cancelled */
	struct libusb_transfer *t;   /* NULL for requests done synchronously */
	enum usb_status status;      /* for those, and for cancellations */
	struct host_xfer *next;
};

struct host_dev {
	struct usb_device dev;       /* first: usb_device * <-> host_dev * */
	char id[16];
	char spec[40];
	libusb_device_handle *h;
	struct evloop *loop;
	struct evloop_watch *watch;
	int efd;

	pthread_mutex_t lock;        /* the lists and flags below */
	pthread_cond_t idle;         /* n_inflight dropped */
	struct host_xfer *inflight;
	unsigned n_inflight;
	struct host_xfer *done, *done_tail;
	bool gone;                   /* disconnected from the host */
	bool unplugged;              /* the controller has been told */

	uint32_t claimed;            /* interface bitmasks */
	uint32_t detached;           /* kernel drivers we took it from */
	bool isoc_warned;
	struct host_dev *next;       /* registry */
};

static inline struct host_dev *to_host(struct usb_device *d)
{
	return (struct host_dev *)d;
}

/* ---- pure logic (unit-tested) ---- */

static int parse_num(const char **s, int base, unsigned long max, unsigned long *out)
{
	char *end;
	if (!**s || **s == '-' || **s == '+' || **s == ' ')
		return -1;
	errno = 0;
	unsigned long v = strtoul(*s, &end, base);
	if (end == *s || errno || v > max)
		return -1;
	*s = end;
	*out = v;
	return 0;
}

int usb_host_parse_spec(const char *s, struct usb_host_spec *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *p = s;
	unsigned long a, b;
	if (strchr(s, ':')) {
		if (strlen(s) > 9 || parse_num(&p, 16, 0xffff, &a) || *p++ != ':' ||
		    parse_num(&p, 16, 0xffff, &b) || *p)
			goto bad;
		out->by_id = true;
		out->vid = (uint16_t)a;
		out->pid = (uint16_t)b;
		return 0;
	}
	if (parse_num(&p, 10, 255, &a) || a == 0 || *p++ != '-')
		goto bad;
	out->bus = (uint8_t)a;
	for (;;) {
		if (out->n_ports == USB_HOST_MAX_PORTS || parse_num(&p, 10, 255, &b) || b == 0)
			goto bad;
		out->ports[out->n_ports++] = (uint8_t)b;
		if (!*p)
			return 0;
		if (*p++ != '.')
			goto bad;
	}
bad:
	snprintf(err, errlen, "USB host device '%s': expected VENDOR:PRODUCT in hex "
		 "(46f4:0001) or BUS-PORT[.PORT...] (1-2.3, as in /sys/bus/usb/devices; "
		 "at most %d ports)", s, USB_HOST_MAX_PORTS);
	return -1;
}

void usb_host_spec_format(const struct usb_host_spec *s, char *buf, size_t n)
{
	if (s->by_id) {
		snprintf(buf, n, "%04x:%04x", s->vid, s->pid);
		return;
	}
	size_t off = (size_t)snprintf(buf, n, "%u-", s->bus);
	for (int i = 0; i < s->n_ports && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, i ? ".%u" : "%u", s->ports[i]);
}

void usb_host_classify_control(const uint8_t setup[8], struct usb_host_ctl *out)
{
	uint8_t type = setup[0], req = setup[1];
	uint16_t value = (uint16_t)(setup[2] | setup[3] << 8);
	uint16_t index = (uint16_t)(setup[4] | setup[5] << 8);
	*out = (struct usb_host_ctl){ .kind = USB_HOST_CTL_TRANSFER };
	/* Only standard host-to-device requests are special. */
	if (type & 0xe0)
		return;
	switch (type & 0x1f) {
	case 0: /* device */
		if (req == USB_REQ_SET_CONFIGURATION)
			*out = (struct usb_host_ctl){ USB_HOST_CTL_SET_CONFIG, value & 0xff, 0, 0 };
		else if (req == USB_REQ_SET_ADDRESS)
			/* The controller answers it; a real device must never
			 * get a second address behind the host kernel's back. */
			out->kind = USB_HOST_CTL_IGNORE;
		break;
	case 1: /* interface */
		if (req == USB_REQ_SET_INTERFACE)
			*out = (struct usb_host_ctl){ USB_HOST_CTL_SET_INTERFACE, value & 0xff,
						      index & 0xff, 0 };
		break;
	case 2: /* endpoint; feature 0 = ENDPOINT_HALT */
		if (req == USB_REQ_CLEAR_FEATURE && value == 0)
			*out = (struct usb_host_ctl){ USB_HOST_CTL_CLEAR_HALT, 0, 0,
						      (uint8_t)(index & 0x8f) };
		break;
	}
}

static enum usb_status ctl_status(int r)
{
	if (r == 0)
		return USB_STATUS_OK;
	/* The guest sees a failed request as a stall, which its drivers
	 * handle; a vanished device is reported as such. */
	return r == LIBUSB_ERROR_NO_DEVICE ? USB_STATUS_NODEV : USB_STATUS_STALL;
}

enum usb_status usb_host_do_control(const struct usb_host_ctl *c,
				    const struct usb_host_ctl_io *io, void *ctx)
{
	int r, cur = -1;
	switch (c->kind) {
	case USB_HOST_CTL_TRANSFER:
		return USB_STATUS_IOERROR; /* not a special request */
	case USB_HOST_CTL_IGNORE:
		return USB_STATUS_OK;
	case USB_HOST_CTL_SET_CONFIG:
		/* usbfs refuses a configuration change while any interface is
		 * claimed, and "changing" to the active one would reset it:
		 * keep it, just make sure its interfaces are ours. */
		if (io->active_config(ctx, &cur) == 0 && cur == c->value && cur != 0)
			return ctl_status(io->claim_all(ctx));
		r = io->release_all(ctx);
		if (!r)
			r = io->set_configuration(ctx, c->value);
		if (!r && c->value != 0)
			r = io->claim_all(ctx);
		return ctl_status(r);
	case USB_HOST_CTL_SET_INTERFACE:
		return ctl_status(io->set_alt(ctx, c->iface, c->value));
	case USB_HOST_CTL_CLEAR_HALT:
		return ctl_status(io->clear_halt(ctx, c->ep));
	}
	return USB_STATUS_IOERROR;
}

enum usb_status usb_host_map_status(int st)
{
	switch (st) {
	case LIBUSB_TRANSFER_COMPLETED: return USB_STATUS_OK;
	case LIBUSB_TRANSFER_STALL: return USB_STATUS_STALL;
	case LIBUSB_TRANSFER_NO_DEVICE: return USB_STATUS_NODEV;
	case LIBUSB_TRANSFER_OVERFLOW: return USB_STATUS_BABBLE;
	case LIBUSB_TRANSFER_CANCELLED: return USB_STATUS_CANCELLED;
	default: return USB_STATUS_IOERROR; /* ERROR, TIMED_OUT */
	}
}

/* ---- libusb context and its event thread ---- */

static libusb_context *usb_ctx;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;  /* registry */
static struct host_dev *registry;
static unsigned next_id;

static void mark_gone(struct host_dev *d)
{
	uint64_t one = 1;
	d->gone = true;
	if (write(d->efd, &one, sizeof(one)) < 0) {
		/* An eventfd write only fails when its counter would overflow:
		 * the loop has a wake-up pending anyway. */
	}
}

static int LIBUSB_CALL device_left(libusb_context *ctx, libusb_device *dev,
				   libusb_hotplug_event ev, void *opaque)
{
	(void)ctx, (void)ev, (void)opaque;
	pthread_mutex_lock(&reg_lock);
	for (struct host_dev *d = registry; d; d = d->next) {
		if (libusb_get_device(d->h) != dev)
			continue;
		pthread_mutex_lock(&d->lock);
		mark_gone(d);
		pthread_mutex_unlock(&d->lock);
	}
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

static void *event_thread(void *opaque)
{
	(void)opaque;
	for (;;) {
		struct timeval tv = { 1, 0 };
		libusb_handle_events_timeout_completed(usb_ctx, &tv, NULL);
	}
	return NULL;
}

static int context_init(char *err, size_t errlen)
{
	if (usb_ctx)
		return 0;
	int r = libusb_init(&usb_ctx);
	if (r) {
		usb_ctx = NULL;
		snprintf(err, errlen, "USB passthrough: libusb_init failed: %s", libusb_strerror(r));
		return -1;
	}
	/* Disconnects are also seen through LIBUSB_TRANSFER_NO_DEVICE; the
	 * callback catches a device unplugged while idle.  libusb raises it
	 * from the dead device's fd even without udevd. */
	if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG))
		libusb_hotplug_register_callback(usb_ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
						 LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
						 LIBUSB_HOTPLUG_MATCH_ANY, device_left, NULL, NULL);
	/* The thread takes no signals: the VMM's are handled through its
	 * signalfd and its vCPU kicks are aimed at vCPU threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t t;
	r = pthread_create(&t, NULL, event_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(err, errlen, "USB passthrough: cannot start libusb's thread: %s",
			 strerror(r));
		libusb_exit(usb_ctx);
		usb_ctx = NULL;
		return -1;
	}
	pthread_detach(t);
	return 0;
}

/* ---- interfaces ---- */

static int ifaces_of_active_config(struct host_dev *d, uint32_t *mask)
{
	struct libusb_config_descriptor *cd;
	*mask = 0;
	int r = libusb_get_active_config_descriptor(libusb_get_device(d->h), &cd);
	if (r == LIBUSB_ERROR_NOT_FOUND)
		return 0; /* unconfigured */
	if (r)
		return r;
	for (int i = 0; i < cd->bNumInterfaces; i++) {
		if (!cd->interface[i].num_altsetting)
			continue;
		int n = cd->interface[i].altsetting[0].bInterfaceNumber;
		if (n < MAX_IFACES)
			*mask |= 1u << n;
		else
			log_warn("usb %s: interface %d ignored (only 0..%d are passed through)",
				 d->id, n, MAX_IFACES - 1);
	}
	libusb_free_config_descriptor(cd);
	return 0;
}

static int io_active_config(void *ctx, int *config)
{
	return libusb_get_configuration(((struct host_dev *)ctx)->h, config);
}

static int io_release_all(void *ctx)
{
	struct host_dev *d = ctx;
	for (int i = 0; i < MAX_IFACES; i++)
		if (d->claimed & (1u << i))
			libusb_release_interface(d->h, i);
	d->claimed = 0;
	return 0;
}

static int io_set_configuration(void *ctx, int config)
{
	/* For usbfs 0 is a configuration number; -1 unconfigures. */
	return libusb_set_configuration(((struct host_dev *)ctx)->h, config ? config : -1);
}

static int io_claim_all(void *ctx)
{
	struct host_dev *d = ctx;
	uint32_t want;
	int r = ifaces_of_active_config(d, &want);
	for (int i = 0; !r && i < MAX_IFACES; i++) {
		if (!(want & (1u << i)) || (d->claimed & (1u << i)))
			continue;
		/* NOT_FOUND: no driver bound (or usbfs itself, i.e. someone's
		 * claim, which the claim below reports). */
		int k = libusb_detach_kernel_driver(d->h, i);
		if (k == 0)
			d->detached |= 1u << i;
		else if (k != LIBUSB_ERROR_NOT_FOUND && k != LIBUSB_ERROR_NOT_SUPPORTED)
			return k;
		r = libusb_claim_interface(d->h, i);
		if (!r)
			d->claimed |= 1u << i;
	}
	return r;
}

static int io_set_alt(void *ctx, int iface, int alt)
{
	return libusb_set_interface_alt_setting(((struct host_dev *)ctx)->h, iface, alt);
}

static int io_clear_halt(void *ctx, uint8_t ep)
{
	return libusb_clear_halt(((struct host_dev *)ctx)->h, ep);
}

static const struct usb_host_ctl_io libusb_io = {
	.active_config = io_active_config,
	.release_all = io_release_all,
	.set_configuration = io_set_configuration,
	.claim_all = io_claim_all,
	.set_alt = io_set_alt,
	.clear_halt = io_clear_halt,
};

/* Give the interfaces back to the host kernel's drivers. */
static void give_back(struct host_dev *d)
{
	io_release_all(d);
	for (int i = 0; i < MAX_IFACES; i++)
		if (d->detached & (1u << i))
			libusb_attach_kernel_driver(d->h, i);
	d->detached = 0;
}

/* ---- transfers ---- */

static void queue_done(struct host_dev *d, struct host_xfer *x)
{
	uint64_t one = 1;
	x->next = NULL;
	if (d->done_tail)
		d->done_tail->next = x;
	else
		d->done = x;
	d->done_tail = x;
	if (write(d->efd, &one, sizeof(one)) < 0) {
		/* counter overflow only: a wake-up is pending */
	}
}

static void unlink_inflight(struct host_dev *d, struct host_xfer *x)
{
	for (struct host_xfer **pp = &d->inflight; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			d->n_inflight--;
			return;
		}
	}
}

static void free_xfer(struct host_xfer *x)
{
	if (x->t) {
		free(x->t->buffer);
		libusb_free_transfer(x->t);
	}
	free(x);
}

/* On libusb's thread. */
static void LIBUSB_CALL xfer_done(struct libusb_transfer *t)
{
	struct host_xfer *x = t->user_data;
	struct host_dev *d = x->d;
	pthread_mutex_lock(&d->lock);
	unlink_inflight(d, x);
	if (t->status == LIBUSB_TRANSFER_NO_DEVICE)
		mark_gone(d);
	if (x->p)
		queue_done(d, x);
	else
		free_xfer(x);
	pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->lock);
}

/* On the event loop: the packet's results from its transfer. */
static void finish(struct host_xfer *x)
{
	struct usb_packet *p = x->p;
	struct libusb_transfer *t = x->t;
	p->actual = 0;
	if (!t) {
		p->status = x->status;
		return;
	}
	p->status = usb_host_map_status(t->status);
	size_t got = t->actual_length > 0 ? (size_t)t->actual_length : 0;
	if (got > p->len)
		got = p->len;
	if (p->in && got)
		memcpy(p->buf, t->type == LIBUSB_TRANSFER_TYPE_CONTROL ?
		       libusb_control_transfer_get_data(t) : t->buffer, got);
	p->actual = got;
}

static void unplug(struct host_dev *d)
{
	log_info("usb %s: host device %s disconnected; removing it from the guest",
		 d->id, d->spec);
	struct xhci *x = d->dev.hcd;
	if (x)
		xhci_detach(x, &d->dev); /* ends in host_destroy */
}

static void deliver(void *opaque, uint32_t events)
{
	(void)events;
	struct host_dev *d = opaque;
	uint64_t n;
	if (read(d->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a wake-up for work already taken */
	}
	pthread_mutex_lock(&d->lock);
	struct host_xfer *list = d->done;
	d->done = d->done_tail = NULL;
	bool gone = d->gone && !d->unplugged;
	d->unplugged |= gone;
	pthread_mutex_unlock(&d->lock);
	while (list) {
		struct host_xfer *x = list;
		list = x->next;
		finish(x);
		struct usb_packet *p = x->p;
		free_xfer(x);
		p->complete(p);
	}
	if (gone)
		unplug(d); /* d may be freed */
}

static struct host_xfer *new_xfer(struct host_dev *d, struct usb_packet *p)
{
	struct host_xfer *x = calloc(1, sizeof(*x));
	if (x) {
		x->d = d;
		x->p = p;
	}
	return x;
}

/* A packet finished without libusb (special request, failure to submit). */
static int complete_now(struct host_dev *d, struct usb_packet *p, enum usb_status st)
{
	struct host_xfer *x = new_xfer(d, p);
	if (!x)
		return -ENOMEM;
	x->status = st;
	pthread_mutex_lock(&d->lock);
	queue_done(d, x);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int fill_transfer(struct host_dev *d, struct usb_packet *p, struct libusb_transfer *t,
			 void *x)
{
	uint8_t epaddr = (uint8_t)(p->ep | (p->in ? LIBUSB_ENDPOINT_IN : 0));
	if (p->type == USB_XFER_CONTROL) {
		size_t wlen = (size_t)(p->setup[6] | p->setup[7] << 8);
		/* Zeroed: an OUT data stage shorter than wLength must not
		 * send the device stale heap contents. */
		uint8_t *buf = calloc(1, LIBUSB_CONTROL_SETUP_SIZE + wlen);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, p->setup, LIBUSB_CONTROL_SETUP_SIZE);
		if (!p->in && wlen)
			memcpy(buf + LIBUSB_CONTROL_SETUP_SIZE, p->buf, p->len < wlen ? p->len : wlen);
		libusb_fill_control_transfer(t, d->h, buf, xfer_done, x, 0);
		return 0;
	}
	uint8_t *buf = malloc(p->len ? p->len : 1);
	if (!buf)
		return -ENOMEM;
	if (!p->in)
		memcpy(buf, p->buf, p->len);
	if (p->type == USB_XFER_BULK)
		libusb_fill_bulk_transfer(t, d->h, epaddr, buf, (int)p->len, xfer_done, x, 0);
	else
		libusb_fill_interrupt_transfer(t, d->h, epaddr, buf, (int)p->len, xfer_done, x, 0);
	return 0;
}

static int host_submit(struct usb_device *ud, struct usb_packet *p)
{
	struct host_dev *d = to_host(ud);
	if (p->ep > 15 || p->len > MAX_XFER_LEN || (p->len && !p->buf) ||
	    (p->type == USB_XFER_CONTROL) != (p->ep == 0))
		return -EINVAL;
	if (p->type == USB_XFER_ISOC) {
		if (!d->isoc_warned)
			log_warn("usb %s: isochronous transfers are not passed through yet; "
				 "the guest's request fails", d->id);
		d->isoc_warned = true;
		return -ENOTSUP;
	}
	if (d->gone)
		return complete_now(d, p, USB_STATUS_NODEV);
	if (p->type == USB_XFER_CONTROL) {
		struct usb_host_ctl c;
		usb_host_classify_control(p->setup, &c);
		if (c.kind != USB_HOST_CTL_TRANSFER)
			return complete_now(d, p, usb_host_do_control(&c, &libusb_io, d));
	}
	struct host_xfer *x = new_xfer(d, p);
	struct libusb_transfer *t = x ? libusb_alloc_transfer(0) : NULL;
	if (!t || fill_transfer(d, p, t, x) < 0) {
		libusb_free_transfer(t);
		free(x);
		return -ENOMEM;
	}
	x->t = t;
	/* On the list before libusb can complete it on its thread. */
	pthread_mutex_lock(&d->lock);
	x->next = d->inflight;
	d->inflight = x;
	d->n_inflight++;
	pthread_mutex_unlock(&d->lock);
	int r = libusb_submit_transfer(t);
	if (r == 0)
		return 0;
	pthread_mutex_lock(&d->lock);
	unlink_inflight(d, x);
	if (r == LIBUSB_ERROR_NO_DEVICE)
		mark_gone(d);
	free(t->buffer);
	libusb_free_transfer(t);
	x->t = NULL;
	x->status = r == LIBUSB_ERROR_NO_DEVICE ? USB_STATUS_NODEV :
		    r == LIBUSB_ERROR_PIPE ? USB_STATUS_STALL : USB_STATUS_IOERROR;
	queue_done(d, x);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static void host_cancel(struct usb_device *ud, struct usb_packet *p)
{
	struct host_dev *d = to_host(ud);
	pthread_mutex_lock(&d->lock);
	for (struct host_xfer *x = d->inflight; x; x = x->next) {
		if (x->p != p)
			continue;
		/* libusb's thread frees the transfer when it comes back; the
		 * packet completes now (through the loop, never re-entrantly). */
		x->p = NULL;
		libusb_cancel_transfer(x->t);
		struct host_xfer *c = new_xfer(d, p);
		if (c) {
			c->status = USB_STATUS_CANCELLED;
			queue_done(d, c);
		} else {
			log_error("usb %s: out of memory cancelling a transfer", d->id);
		}
		break;
	}
	/* Not in flight: already on the done list (it completes with its
	 * real status) or not ours. */
	pthread_mutex_unlock(&d->lock);
}

static void host_reset(struct usb_device *ud)
{
	struct host_dev *d = to_host(ud);
	if (d->gone)
		return;
	int r = libusb_reset_device(d->h);
	if (r == LIBUSB_ERROR_NOT_FOUND || r == LIBUSB_ERROR_NO_DEVICE) {
		/* It came back as a different device (new descriptors) or
		 * not at all. */
		pthread_mutex_lock(&d->lock);
		mark_gone(d);
		pthread_mutex_unlock(&d->lock);
	} else if (r) {
		log_warn("usb %s: resetting host device %s: %s", d->id, d->spec,
			 libusb_strerror(r));
	}
}

static void registry_remove(struct host_dev *d)
{
	pthread_mutex_lock(&reg_lock);
	for (struct host_dev **pp = &registry; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
}

/* Waits (bounded) for libusb to hand back every cancelled transfer. */
static bool drain(struct host_dev *d)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&d->lock);
	for (struct host_xfer *x = d->inflight; x; x = x->next) {
		x->p = NULL;
		libusb_cancel_transfer(x->t);
	}
	while (d->n_inflight &&
	       pthread_cond_timedwait(&d->idle, &d->lock, &until) != ETIMEDOUT)
		;
	bool ok = d->n_inflight == 0;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

static void host_destroy(struct usb_device *ud)
{
	struct host_dev *d = to_host(ud);
	registry_remove(d);
	/* Completions still queued are dropped: the controller frees the
	 * packets of a destroyed device itself (hv/usb/xhci.h). */
	pthread_mutex_lock(&d->lock);
	struct host_xfer *list = d->done;
	d->done = d->done_tail = NULL;
	pthread_mutex_unlock(&d->lock);
	while (list) {
		struct host_xfer *x = list;
		list = x->next;
		free_xfer(x);
	}
	bool drained = drain(d);
	evloop_remove(d->loop, d->watch);
	if (!drained) {
		/* libusb's thread may still touch d: leak it rather than crash. */
		log_error("usb %s: host device %s did not finish its transfers; "
			  "leaving it open", d->id, d->spec);
		return;
	}
	close(d->efd);
	if (!d->gone)
		give_back(d);
	libusb_close(d->h);
	log_info("usb %s: host device %s released%s", d->id, d->spec,
		 d->gone ? "" : " to the host's drivers");
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->idle);
	free(d);
}

static const struct usb_device_ops host_ops = {
	.submit = host_submit,
	.cancel = host_cancel,
	.reset = host_reset,
	.destroy = host_destroy,
};

/* ---- opening ---- */

static bool matches(libusb_device *dev, const struct usb_host_spec *s)
{
	if (s->by_id) {
		struct libusb_device_descriptor dd;
		return libusb_get_device_descriptor(dev, &dd) == 0 &&
		       dd.idVendor == s->vid && dd.idProduct == s->pid;
	}
	uint8_t ports[USB_HOST_MAX_PORTS];
	int n = libusb_get_port_numbers(dev, ports, USB_HOST_MAX_PORTS);
	return libusb_get_bus_number(dev) == s->bus && n == s->n_ports &&
	       !memcmp(ports, s->ports, (size_t)n);
}

static void path_of(libusb_device *dev, char *buf, size_t n)
{
	struct usb_host_spec s = { .bus = libusb_get_bus_number(dev) };
	s.n_ports = libusb_get_port_numbers(dev, s.ports, USB_HOST_MAX_PORTS);
	if (s.n_ports < 0)
		s.n_ports = 0;
	usb_host_spec_format(&s, buf, n);
}

static libusb_device *find_device(const struct usb_host_spec *s, const char *text,
				  char *err, size_t errlen)
{
	libusb_device **list, *found = NULL;
	ssize_t n = libusb_get_device_list(usb_ctx, &list);
	if (n < 0) {
		snprintf(err, errlen, "USB host device %s: cannot list USB devices: %s",
			 text, libusb_strerror((int)n));
		return NULL;
	}
	char first[40] = "", second[40] = "";
	int hits = 0;
	for (ssize_t i = 0; i < n; i++) {
		if (!matches(list[i], s))
			continue;
		if (hits++ == 0) {
			found = list[i];
			path_of(list[i], first, sizeof(first));
		} else if (hits == 2) {
			path_of(list[i], second, sizeof(second));
		}
	}
	if (hits == 1)
		libusb_ref_device(found);
	else if (hits == 0)
		snprintf(err, errlen, "USB host device %s: no such device on this host "
			 "(`lsusb` lists them; give VENDOR:PRODUCT or BUS-PORT)", text);
	else
		snprintf(err, errlen, "USB host device %s: %d devices match (at %s and %s); "
			 "name one by its BUS-PORT path", text, hits, first, second);
	libusb_free_device_list(list, 1);
	return hits == 1 ? found : NULL;
}

static enum usb_speed speed_of(libusb_device *dev)
{
	switch (libusb_get_device_speed(dev)) {
	case LIBUSB_SPEED_LOW: return USB_SPEED_LOW;
	case LIBUSB_SPEED_HIGH: return USB_SPEED_HIGH;
	case LIBUSB_SPEED_SUPER:
	case LIBUSB_SPEED_SUPER_PLUS: return USB_SPEED_SUPER;
	default: return USB_SPEED_FULL;
	}
}

static void name_device(struct host_dev *d, libusb_device *dev)
{
	struct libusb_device_descriptor dd;
	unsigned char product[48] = "";
	if (libusb_get_device_descriptor(dev, &dd))
		return;
	if (dd.iProduct)
		libusb_get_string_descriptor_ascii(d->h, dd.iProduct, product, sizeof(product));
	snprintf(d->dev.name, sizeof(d->dev.name), "%04x:%04x%s%s", dd.idVendor,
		 dd.idProduct, product[0] ? " " : "", (char *)product);
}

static bool already_ours(libusb_device *dev)
{
	bool ours = false;
	pthread_mutex_lock(&reg_lock);
	for (struct host_dev *d = registry; d; d = d->next)
		ours |= libusb_get_device(d->h) == dev;
	pthread_mutex_unlock(&reg_lock);
	return ours;
}

static struct host_dev *host_open(struct evloop *loop, const char *text,
				  const struct usb_host_spec *s, char *err, size_t errlen)
{
	libusb_device *dev = find_device(s, text, err, errlen);
	if (!dev)
		return NULL;
	char path[40];
	path_of(dev, path, sizeof(path));
	struct host_dev *d = NULL;
	if (already_ours(dev)) {
		snprintf(err, errlen, "USB host device %s (at %s) is already attached to "
			 "this domain", text, path);
		goto out;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	d->dev.ops = &host_ops;
	d->dev.speed = speed_of(dev);
	d->loop = loop;
	d->efd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->idle, NULL);
	usb_host_spec_format(s, d->spec, sizeof(d->spec));
	int r = libusb_open(dev, &d->h);
	if (r) {
		snprintf(err, errlen, "USB host device %s (at %s): cannot open it: %s%s", text,
			 path, libusb_strerror(r), r == LIBUSB_ERROR_ACCESS ?
			 " — run the VMM as root or give it the device node in /dev/bus/usb" : "");
		goto fail;
	}
	r = io_claim_all(d);
	if (r) {
		snprintf(err, errlen, "USB host device %s (at %s): cannot take it from the "
			 "host: %s%s", text, path, libusb_strerror(r), r == LIBUSB_ERROR_BUSY ?
			 " — it is in use by another program, probably another domain; "
			 "detach it there first" : "");
		goto fail;
	}
	name_device(d, dev);
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0 || !(d->watch = evloop_add(loop, d->efd, EPOLLIN, deliver, d))) {
		snprintf(err, errlen, "USB host device %s: eventfd: %s", text, strerror(errno));
		goto fail;
	}
	goto out;
fail:
	if (d->efd >= 0)
		close(d->efd);
	if (d->h) {
		give_back(d);
		libusb_close(d->h);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->idle);
	free(d);
	d = NULL;
out:
	libusb_unref_device(dev);
	return d;
}

/* ---- registry (control socket, --usb) ---- */

static struct xhci *controller;
static struct evloop *controller_loop;

void usb_host_set_controller(struct xhci *x, struct evloop *loop)
{
	controller = x;
	controller_loop = loop;
}

int usb_host_attach(const char *spec, char *id, size_t idlen, int *port,
		    char *err, size_t errlen)
{
	struct usb_host_spec s;
	struct xhci *x = controller;
	if (usb_host_parse_spec(spec, &s, err, errlen))
		return -1;
	if (!x) {
		snprintf(err, errlen, "this domain has no USB controller: start it with "
			 "--xhci (or --usb host=...) to attach USB devices");
		return -1;
	}
	if (context_init(err, errlen))
		return -1;
	struct host_dev *d = host_open(controller_loop, spec, &s, err, errlen);
	if (!d)
		return -1;
	snprintf(d->id, sizeof(d->id), "usb%u", next_id++);
	if (xhci_attach(x, &d->dev) < 0) {
		snprintf(err, errlen, "USB host device %s: no free %s port on the xHCI "
			 "controller — detach another device first", spec,
			 d->dev.speed == USB_SPEED_SUPER ? "USB 3" : "USB 2");
		host_destroy(&d->dev);
		return -1;
	}
	pthread_mutex_lock(&reg_lock);
	struct host_dev **pp = &registry;
	while (*pp)
		pp = &(*pp)->next;
	*pp = d;
	pthread_mutex_unlock(&reg_lock);
	snprintf(id, idlen, "%s", d->id);
	*port = d->dev.port;
	log_info("usb %s: host device %s (%s, %s speed) attached on port %d", d->id,
		 d->spec, d->dev.name, usb_speed_name(d->dev.speed), d->dev.port);
	return 0;
}

int usb_host_attach_all(char *const *specs, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char id[16];
		int port;
		if (usb_host_attach(specs[i], id, sizeof(id), &port, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int usb_host_detach(const char *what, char *err, size_t errlen)
{
	struct usb_host_spec s;
	char canon[40] = "", e[8];
	if (usb_host_parse_spec(what, &s, e, sizeof(e)) == 0)
		usb_host_spec_format(&s, canon, sizeof(canon));
	struct host_dev *found = NULL;
	pthread_mutex_lock(&reg_lock);
	for (struct host_dev *d = registry; d && !found; d = d->next)
		if (!strcmp(d->id, what) || !strcmp(d->spec, canon))
			found = d;
	pthread_mutex_unlock(&reg_lock);
	if (!found) {
		snprintf(err, errlen, "no USB device '%s' is attached to this domain "
			 "(usb-list shows them)", what);
		return -1;
	}
	log_info("usb %s: detaching host device %s", found->id, found->spec);
	pthread_mutex_lock(&found->lock);
	found->unplugged = true;
	pthread_mutex_unlock(&found->lock);
	if (found->dev.hcd)
		xhci_detach(found->dev.hcd, &found->dev); /* ends in host_destroy */
	return 0;
}

void usb_host_list(void (*fn)(void *opaque, const struct usb_host_info *i), void *opaque)
{
	/* Only the event-loop thread changes the registry; the lock is for
	 * libusb's thread, which only reads it. */
	for (struct host_dev *d = registry; d; d = d->next) {
		struct usb_host_info i = { d->id, d->spec, d->dev.port, d->dev.speed,
					   d->dev.name };
		fn(opaque, &i);
	}
}
