/* virtio-input (virtio 1.x, 5.8): a keyboard and an absolute tablet, fed
 * by the display hub's input sinks (display.h).
 *
 * Events are queued per device and written into the guest's eventq
 * buffers as they become available; each input becomes an event group
 * ended by EV_SYN/SYN_REPORT.  When the guest has not posted buffers the
 * queue holds EVQ_LEN events, then the oldest are dropped and counted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../display.h"
#include "../log.h"
#include "../vm.h"
#include "virtio.h"

#define EVENTQ  0
#define STATUSQ 1
#define INPUT_QUEUE_SIZE 64
#define EVQ_LEN 256

/* Config selectors (5.8.2) */
#define CFG_UNSET     0x00
#define CFG_ID_NAME   0x01
#define CFG_ID_SERIAL 0x02
#define CFG_ID_DEVIDS 0x03
#define CFG_PROP_BITS 0x10
#define CFG_EV_BITS   0x11
#define CFG_ABS_INFO  0x12

#define CFG_OFF_SELECT 0
#define CFG_OFF_SUBSEL 1
#define CFG_OFF_SIZE   2
#define CFG_OFF_U      8
#define CFG_BYTES      (CFG_OFF_U + 128)

/* Linux input event codes (linux/input-event-codes.h), the ABI both the
 * guest and the display contract speak. */
#define EV_SYN 0x00
#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define EV_LED 0x11
#define EV_REP 0x14
#define SYN_REPORT 0
#define REL_WHEEL 0x08
#define ABS_X 0x00
#define ABS_Y 0x01
#define BTN_LEFT   0x110
#define BTN_RIGHT  0x111
#define BTN_MIDDLE 0x112
/* Keys a keyboard reports: 1..KEY_LAST, the keyboard keys below the
 * button range (anything higher could make udev call it a joystick). */
#define KEY_LAST   0xff
#define BUS_VIRTUAL 0x06
#define ABS_MAX_POS 0x7fff

enum input_kind { INPUT_KBD, INPUT_TABLET };

struct virtio_input_event {
	uint16_t type;
	uint16_t code;
	uint32_t value;
};

struct virtio_input {
	struct virtio_device vdev;
	enum input_kind kind;
	uint8_t select, subsel;
	struct virtio_input_event q[EVQ_LEN];
	unsigned q_head, q_count;
	uint64_t dropped;
	uint8_t leds;             /* last LED state the guest sent */
};

/* ---- config space --------------------------------------------------------- */

static void set_bit(uint8_t *bm, unsigned bit)
{
	bm[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* Bytes of the bitmap up to its last non-zero one. */
static uint8_t bitmap_size(const uint8_t *bm)
{
	uint8_t n = 128;

	while (n && bm[n - 1] == 0)
		n--;
	return n;
}

static uint8_t cfg_string(uint8_t *u, const char *s)
{
	size_t n = strlen(s);

	memcpy(u, s, n);
	return (uint8_t)n;
}

static uint8_t cfg_ev_bits(const struct virtio_input *in, uint8_t type, uint8_t *u)
{
	bool kbd = in->kind == INPUT_KBD;

	switch (type) {
	case EV_KEY:
		if (kbd) {
			for (unsigned k = 1; k <= KEY_LAST; k++)
				set_bit(u, k);
		} else {
			set_bit(u, BTN_LEFT);
			set_bit(u, BTN_RIGHT);
			set_bit(u, BTN_MIDDLE);
		}
		break;
	case EV_REL:
		if (!kbd)
			set_bit(u, REL_WHEEL);
		break;
	case EV_ABS:
		if (!kbd) {
			set_bit(u, ABS_X);
			set_bit(u, ABS_Y);
		}
		break;
	case EV_LED:
		if (kbd)
			u[0] = 0x07;   /* num, caps and scroll lock */
		break;
	case EV_REP:
		/* The driver only asks whether the type exists: it then lets
		 * the input core do software autorepeat. */
		return kbd ? 1 : 0;
	}
	return bitmap_size(u);
}

static uint8_t cfg_abs_info(const struct virtio_input *in, uint8_t axis, uint8_t *u)
{
	uint32_t info[5] = { 0, ABS_MAX_POS, 0, 0, 0 };   /* min max fuzz flat res */

	if (in->kind != INPUT_TABLET || (axis != ABS_X && axis != ABS_Y))
		return 0;
	memcpy(u, info, sizeof(info));
	return sizeof(info);
}

/* The union's contents for the current select/subsel; returns its size. */
static uint8_t cfg_fill(const struct virtio_input *in, uint8_t *u)
{
	bool kbd = in->kind == INPUT_KBD;

	switch (in->select) {
	case CFG_ID_NAME:
		return in->subsel ? 0 :
		       cfg_string(u, kbd ? "Atoll Virtio Keyboard" : "Atoll Virtio Tablet");
	case CFG_ID_SERIAL:
		return in->subsel ? 0 : cfg_string(u, kbd ? "atoll-kbd" : "atoll-tablet");
	case CFG_ID_DEVIDS: {
		uint16_t ids[4] = { BUS_VIRTUAL, 0x1af4, kbd ? 0x0001 : 0x0003, 0x0001 };
		if (in->subsel)
			return 0;
		memcpy(u, ids, sizeof(ids));
		return sizeof(ids);
	}
	case CFG_PROP_BITS:
		return 0;
	case CFG_EV_BITS:
		return cfg_ev_bits(in, in->subsel, u);
	case CFG_ABS_INFO:
		return cfg_abs_info(in, in->subsel, u);
	default:
		return 0;
	}
}

static void input_config_access(struct virtio_device *dev, uint32_t off,
				uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_input *in = dev->priv;
	uint8_t cfg[CFG_BYTES] = { 0 };

	if (is_write) {
		/* Only select and subsel are writable. */
		for (uint32_t i = 0; i < len; i++) {
			if (off + i == CFG_OFF_SELECT)
				in->select = data[i];
			else if (off + i == CFG_OFF_SUBSEL)
				in->subsel = data[i];
		}
		return;
	}
	cfg[CFG_OFF_SELECT] = in->select;
	cfg[CFG_OFF_SUBSEL] = in->subsel;
	cfg[CFG_OFF_SIZE] = cfg_fill(in, cfg + CFG_OFF_U);
	memset(data, 0, len);
	if (off >= CFG_BYTES)
		return;
	if (len > CFG_BYTES - off)
		len = CFG_BYTES - off;
	memcpy(data, cfg + off, len);
}

/* ---- events ------------------------------------------------------------------ */

static bool input_ready(const struct virtio_input *in)
{
	const struct virtio_device *dev = &in->vdev;

	return (dev->status & VIRTIO_STATUS_DRIVER_OK) && !dev->broken &&
	       dev->vqs[EVENTQ].enabled;
}

static void enqueue(struct virtio_input *in, uint16_t type, uint16_t code, uint32_t value)
{
	if (in->q_count == EVQ_LEN) {
		/* The guest stopped reading: old input is worth least. */
		in->q_head = (in->q_head + 1) % EVQ_LEN;
		in->q_count--;
		if (in->dropped++ == 0)
			log_warn("%s: the guest is not reading input events; dropping the oldest",
				 in->vdev.pci.name);
	}
	in->q[(in->q_head + in->q_count) % EVQ_LEN] =
		(struct virtio_input_event){ type, code, value };
	in->q_count++;
}

/* Move queued events into the guest's buffers.  dev->lock held. */
static void flush_events(struct virtio_input *in)
{
	struct virtio_device *dev = &in->vdev;
	struct virtq *vq = &dev->vqs[EVENTQ];
	struct virtq_elem elem;
	bool pushed = false;

	if (!input_ready(in))
		return;
	while (in->q_count && virtio_pop(dev, vq, &elem) == 1) {
		const struct virtio_input_event *ev = &in->q[in->q_head];
		if (elem.in_len < sizeof(*ev)) {
			virtio_set_broken(dev, "event buffer of %u bytes is smaller than an event",
					  elem.in_len);
			break;
		}
		iov_from_buf(elem.iov + elem.n_out, elem.n_in, 0, ev, sizeof(*ev));
		virtq_push(vq, elem.head, sizeof(*ev));
		in->q_head = (in->q_head + 1) % EVQ_LEN;
		in->q_count--;
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(dev, vq);
}

/* The guest tells us LED states on the status queue. */
static void status_notify(struct virtio_input *in, struct virtq *vq)
{
	struct virtq_elem elem;
	bool pushed = false;

	while (virtio_pop(&in->vdev, vq, &elem) == 1) {
		struct virtio_input_event ev;
		for (uint32_t off = 0; off + sizeof(ev) <= elem.out_len; off += sizeof(ev)) {
			iov_to_buf(elem.iov, elem.n_out, off, &ev, sizeof(ev));
			if (ev.type == EV_LED && ev.code < 8) {
				if (ev.value)
					in->leds |= (uint8_t)(1u << ev.code);
				else
					in->leds &= (uint8_t)~(1u << ev.code);
			}
		}
		virtq_push(vq, elem.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(&in->vdev, vq);
}

static void input_queue_notify(struct virtio_device *dev, struct virtq *vq)
{
	struct virtio_input *in = dev->priv;

	if (vq->index == EVENTQ)
		flush_events(in);
	else
		status_notify(in, vq);
}

static void input_activate(struct virtio_device *dev)
{
	flush_events(dev->priv);
}

static void input_reset(struct virtio_device *dev)
{
	struct virtio_input *in = dev->priv;

	in->q_head = in->q_count = 0;
	in->select = in->subsel = 0;
	in->leds = 0;
}

static void input_destroy(struct virtio_device *dev)
{
	free(dev->priv);
}

/* ---- input sinks (console threads) --------------------------------------------- */

static void send_group(struct virtio_input *in, const struct virtio_input_event *ev,
		       unsigned n)
{
	pthread_mutex_lock(&in->vdev.lock);
	for (unsigned i = 0; i < n; i++)
		enqueue(in, ev[i].type, ev[i].code, ev[i].value);
	enqueue(in, EV_SYN, SYN_REPORT, 0);
	flush_events(in);
	pthread_mutex_unlock(&in->vdev.lock);
}

static void sink_key(void *opaque, uint16_t code, bool down)
{
	struct virtio_input_event ev = { EV_KEY, code, down };
	send_group(opaque, &ev, 1);
}

static void sink_pointer(void *opaque, uint32_t x, uint32_t y)
{
	struct virtio_input_event ev[2] = { { EV_ABS, ABS_X, x }, { EV_ABS, ABS_Y, y } };
	send_group(opaque, ev, 2);
}

static void sink_wheel(void *opaque, int32_t steps)
{
	struct virtio_input_event ev = { EV_REL, REL_WHEEL, (uint32_t)steps };
	send_group(opaque, &ev, 1);
}

static bool sink_active(void *opaque)
{
	struct virtio_input *in = opaque;

	pthread_mutex_lock(&in->vdev.lock);
	bool r = input_ready(in);
	pthread_mutex_unlock(&in->vdev.lock);
	return r;
}

static const struct virtio_device_ops kbd_ops = {
	.name = "keyboard",
	.device_id = VIRTIO_ID_INPUT,
	.pci_class = 0x098000,   /* input device, other */
	.config_access = input_config_access,
	.queue_notify = input_queue_notify,
	.activate = input_activate,
	.reset = input_reset,
	.destroy = input_destroy,
};

static const struct virtio_device_ops tablet_ops = {
	.name = "tablet",
	.device_id = VIRTIO_ID_INPUT,
	.pci_class = 0x098000,
	.config_access = input_config_access,
	.queue_notify = input_queue_notify,
	.activate = input_activate,
	.reset = input_reset,
	.destroy = input_destroy,
};

static int create_one(struct vm *vm, enum input_kind kind)
{
	struct virtio_input *in = calloc(1, sizeof(*in));
	struct input_sink sink = { .active = sink_active };

	if (!in) {
		log_error("virtio-input: out of memory");
		return -1;
	}
	in->kind = kind;
	if (virtio_pci_init(&in->vdev, vm, kind == INPUT_KBD ? &kbd_ops : &tablet_ops,
			    0, 2, INPUT_QUEUE_SIZE, in) < 0) {
		free(in);
		return -1;
	}
	if (kind == INPUT_KBD) {
		sink.key = sink_key;
	} else {
		sink.pointer = sink_pointer;
		sink.button = sink_key;   /* buttons are EV_KEY codes too */
		sink.wheel = sink_wheel;
	}
	sink.opaque = in;
	display_add_input_sink(&vm->display, &sink);
	return 0;
}

int virtio_input_create(struct vm *vm)
{
	if (create_one(vm, INPUT_KBD) < 0 || create_one(vm, INPUT_TABLET) < 0)
		return -1;
	return 0;
}
